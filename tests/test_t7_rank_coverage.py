"""Ranks the backend probe never tried are refused, not passed (helper K25's rank-7 graph).

A bool ``BroadcastTo`` to rank-7 attention scores (Keras's ``[B, D, heads, H, W, H', W']`` for a rank-5 query over
axes (2, 3)) is rewritten by the empty_broadcast pass into ``LogicalOr(mask, Fill(target, False))``; webgl cannot
run those at rank 7 ("GPU for rank 7 is not yet supported"), yet the contract passed them: the probe had never run
``Fill``/``LogicalOr`` at rank 7, and an op without a recorded limit passed. Now ``scripts/probe_backends.py`` runs
them (``rank_coverage_cases``) and records the highest rank each op ran at (``coverage``); the generator refuses
rank >= 7 wherever an op was never run there (``source: unprobed``). Expected values come from TensorFlow.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from tfjsconv.dtypes import DType
from tfjsconv.errors import BackendUnsupportedError
from tfjsconv.ir import Graph
from tfjsconv.ops.backends import BackendContract, NodeFacts

REPO = Path(__file__).resolve().parent.parent
PROBE = REPO / "core" / "ops" / "data" / "tfjs_backend_probe.json"
F32, BOOL, I32 = DType.FLOAT32, DType.BOOL, DType.INT32
#: Keras's scores for a rank-5 query over axes (2, 3) with 2 heads (K25's ``_per_head_volume_mask``), and the
#: per-head mask that reaches them, 1 where the scores' query axes are.
SCORES_7 = (2, 3, 2, 4, 3, 4, 3)
MASK_7 = (2, 3, 2, 1, 1, 4, 3)


@pytest.fixture(scope="module")
def contract() -> BackendContract:
    return BackendContract.load()


def _ops_graph(rank: int) -> Graph:
    """A bool mask broadcast by ``LogicalOr`` with a ``Fill``, and a float ``Minimum``, all of rank ``rank``."""
    shape = SCORES_7[:rank]
    g = Graph("t7")
    mask = g.placeholder("mask", BOOL, MASK_7[:rank])
    x = g.placeholder("x", F32, shape)
    dims = g.const(np.array(shape, np.int32), name="dims")
    units = g.add_op("Fill", [dims, g.const(np.asarray(False), name="false")], {"T": BOOL, "index_type": I32},
                     name="units", dtype=BOOL, shape=shape)
    kept = g.add_op("LogicalOr", [mask, units], {}, name="kept", dtype=BOOL, shape=shape)
    low = g.add_op("Minimum", [x, g.const(np.full(shape[-1:], 0.5, np.float32), name="cap")], {"T": F32},
                   name="capped", dtype=F32, shape=shape)
    g.set_output("kept", kept)
    g.set_output("capped", low)
    return g


def _broadcast_graph(rank: int) -> Graph:
    """K25's shape: a bool mask ``BroadcastTo`` a target fed at run time (the empty_broadcast pass rewrites it)."""
    g = Graph("t7_broadcast")
    mask = g.placeholder("mask", BOOL, MASK_7[:rank])
    target = g.placeholder("target", I32, (rank,))
    out = g.add_op("BroadcastTo", [mask, target], {"T": BOOL, "Tidx": I32}, name="scores_mask", dtype=BOOL,
                   shape=(None,) * rank)
    g.set_output("y", out)
    return g


def _feeds(rank: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(rank)
    return {"mask": rng.random(MASK_7[:rank]) > 0.5, "target": np.array(SCORES_7[:rank], np.int32)}


def test_rank7_fill_minimum_logical_or_refused_for_webgl_by_name(contract):
    problems = contract.unsupported(_ops_graph(7), ["cpu", "wasm", "webgl"])
    webgl = {(p.op, p.node) for p in problems if p.backend == "webgl"}
    assert {("Fill", "units"), ("LogicalOr", "kept"), ("Minimum", "capped")} <= webgl, problems
    assert not [p for p in problems if p.backend == "cpu"], problems
    with pytest.raises(BackendUnsupportedError) as caught:
        contract.check(_ops_graph(7), ["webgl"])
    text = str(caught.value)
    assert "units" in text and "kept" in text and "capped" in text


def test_rank7_ops_on_wasm_follow_the_probe(contract):
    """wasm: what the probe measured at rank 7 for these ops (it ran them; nothing is left unprobed)."""
    coverage = json.loads(PROBE.read_text(encoding="utf-8"))["coverage"]
    for op in ("Fill", "LogicalOr", "Minimum"):
        assert coverage[op]["wasm"] >= 7 and coverage[op]["webgl"] >= 7 and coverage[op]["cpu"] >= 7, op
    reasons = {p.op: p.reason for p in contract.unsupported(_ops_graph(7), ["wasm"])}
    assert all("never probed" not in reason for reason in reasons.values()), reasons


def test_rank6_ops_pass_where_they_run(contract):
    problems = contract.unsupported(_ops_graph(6), ["cpu", "wasm", "webgl"])
    assert not problems, problems


def test_no_op_passes_rank7_on_a_backend_it_never_ran_at_rank7(contract):
    """Every op of the contract either ran at rank >= 7 on a backend (``coverage``) or is refused there at rank 7."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("t7_gen", REPO / "scripts" / "generate_backend_contract.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    coverage = json.loads(PROBE.read_text(encoding="utf-8"))["coverage"]
    unchecked = []
    for op in contract.ops:
        if op in gen.RANK_FREE_OPS or op.startswith(gen.RANK_FREE_PREFIXES):
            continue
        for backend in ("cpu", "wasm", "webgl"):
            facts = NodeFacts(op, {}, [None], input_ranks=[7], output_ranks=[7])
            if coverage.get(op, {}).get(backend, 0) < 7 and not contract.reasons(facts, backend):
                unchecked.append((op, backend))
    assert not unchecked


@pytest.mark.node
def test_k25_broadcast_refused_for_webgl_and_runs_on_cpu_like_tf(tmp_path, tfjs_runtime):
    import tensorflow as tf

    from tfjsconv.verify.run import run_model

    with pytest.raises(BackendUnsupportedError) as caught:
        tfjsconv.convert(_broadcast_graph(7), tmp_path / "all")
    refused = {(p.op, p.backend) for p in caught.value.problems}
    assert {("Fill", "webgl"), ("LogicalOr", "webgl")} <= refused, refused
    assert not {b for _, b in refused} & {"cpu"}, refused
    assert not (tmp_path / "all" / "model.json").exists()
    runs_on = ["cpu"] + (["wasm"] if not {b for _, b in refused} & {"wasm"} else [])
    feeds = _feeds(7)
    expected = tf.broadcast_to(feeds["mask"], feeds["target"]).numpy()
    tfjsconv.convert(_broadcast_graph(7), tmp_path / "out", target_backends=runs_on)
    ops = {n["op"] for n in json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]["node"]}
    assert {"Fill", "LogicalOr"} <= ops, ops
    run = run_model(tmp_path / "out", feeds, backends=runs_on, quiet=True)
    for backend in runs_on:
        (actual,) = run.outputs(backend).values()
        assert actual.shape == expected.shape and actual.astype(bool).tolist() == expected.tolist(), backend


@pytest.mark.node
def test_k25_broadcast_of_rank6_converts_for_every_backend_and_matches_tf(tmp_path, tfjs_runtime):
    import tensorflow as tf

    from tfjsconv.verify.run import run_model

    feeds = _feeds(6)
    expected = tf.broadcast_to(feeds["mask"], feeds["target"]).numpy()
    tfjsconv.convert(_broadcast_graph(6), tmp_path / "out")
    run = run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True)
    for backend in ("cpu", "wasm"):
        (actual,) = run.outputs(backend).values()
        assert actual.astype(bool).tolist() == expected.tolist(), backend
