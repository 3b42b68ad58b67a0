"""Property: the whole pass pipeline never changes what a graph computes.

Random small graphs of elementwise ops, MatMul(+BiasAdd), Reshape, Transpose (including inverse
pairs around an activation) and Identity; numpy interpreter before vs after (anchored to TF on every
tenth graph), and a few in TF.js against TF.
"""
from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

import tfjsconv
from random_graphs import optimize, random_graph
from tfjsconv.interpreter import run_graph
from tf_reference import reference


def assert_close(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    for key, want in expected.items():
        got = actual[key]
        assert got.shape == want.shape and got.dtype == want.dtype, key
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 + 1e-5 * scale, err_msg=key)


#: Every TF_EVERY-th graph is also run in TF (a Session costs ~80 ms, the interpreter ~0.3 ms).
TF_EVERY = 10
_examples = itertools.count()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graph())
def test_pipeline_preserves_outputs(case):
    graph, feeds = case
    expected = reference(graph, feeds) if next(_examples) % TF_EVERY == 0 else run_graph(graph, feeds)
    optimized, report = optimize(graph)
    assert_close(expected, run_graph(optimized, feeds))
    assert sum(report.ops_after.values()) <= sum(report.ops_before.values()) + 1
    assert set(optimized.outputs) == set(graph.outputs)
    again, second = optimize(optimized)  # a fixed point: nothing left to do
    assert second.sweeps == 1 and again.op_histogram() == optimized.op_histogram()


@pytest.mark.node
@settings(max_examples=5, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(random_graph())
def test_pipeline_output_runs_in_tfjs(tfjs_runtime, case):
    from tfjsconv.verify.compare import verify_model

    graph, feeds = case
    expected = reference(graph, feeds)
    with tempfile.TemporaryDirectory() as tmp:
        tfjsconv.convert(graph, Path(tmp) / "m")
        report = verify_model(Path(tmp) / "m", feeds, expected, backends=("cpu", "wasm"), rtol=1e-4, atol=1e-5,
                              quiet=True)
    assert report.passed, report.failures
