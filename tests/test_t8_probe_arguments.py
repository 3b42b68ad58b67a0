"""The backend probe calls every ``tf.raw_ops`` op with the op's own argument names.

``scripts/probe_backends.py`` takes TensorFlow's answer as the reference and counts a case TF cannot run as "skipped"
(a dtype TF's CPU kernels refuse). Its rank-2/3 cases once passed ``x`` to Relu/Relu6/Elu/Selu/Softplus/LeakyRelu
(``features``) and Identity (``input``), ``input`` to Cumsum/Cumprod (``x``), ``dim`` to ExpandDims (``axis``) and
a 1-element ``dimension`` to ArgMax/ArgMin (a scalar): TF raised, the cases were counted as skipped, and those ops'
low-rank dtype limits were never measured. These tests read the signatures from TensorFlow itself
(``inspect.signature(tf.raw_ops.X)``), and check that such a mistake now stops the probe instead of hiding.
"""
from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def probe():
    spec = importlib.util.spec_from_file_location("t8_probe_backends", REPO / "scripts" / "probe_backends.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def all_cases(probe):
    return probe.cases()


def _called_cases(probe, cases):
    """Every case whose reference calls ``tf.raw_ops`` directly: the case, or its NHWC reference case."""
    for case in cases:
        if case.tf_equivalent is not None:
            continue
        yield case.reference[0] if case.reference is not None else case


def test_every_case_uses_the_raw_ops_argument_names(probe, all_cases) -> None:
    wrong = []
    for case in _called_cases(probe, all_cases):
        function = getattr(tf.raw_ops, probe.TF_OP_NAMES.get(case.op, case.op), None)
        assert function is not None, f"tf.raw_ops has no {case.op} ({case.label})"
        parameters = inspect.signature(function).parameters
        given = probe.tf_arguments(case)
        wrong += [f"{case.label}: {name!r} not in {list(parameters)}" for name in given if name not in parameters]
        wrong += [f"{case.label}: {name!r} missing" for name, p in parameters.items()
                  if p.default is inspect.Parameter.empty and name not in given]
    assert not wrong, "\n".join(wrong[:20])


@pytest.mark.parametrize("op, argument", [
    *[(op, "features") for op in ("Relu", "Relu6", "Elu", "Selu", "Softplus", "LeakyRelu")],
    ("Identity", "input"), ("Cumsum", "x"), ("Cumprod", "x"), ("ExpandDims", "axis")])
def test_the_ops_that_hid_are_probed_at_low_rank(all_cases, op: str, argument: str) -> None:
    """The float32 rank-2/3 case of each op exists and names its input as TF does."""
    low = [c for c in all_cases if c.op == op and "maxrank:5" not in c.when and c.when.get("input:0") == ["float32"]]
    assert low, f"no low-rank float32 case of {op}"
    assert any(argument in (name for name, _, _ in c.inputs) for c in low)
    assert argument in inspect.signature(getattr(tf.raw_ops, op)).parameters


def test_a_wrong_keyword_stops_the_probe(probe) -> None:
    """A keyword ``tf.raw_ops`` lacks is a probe bug (``ProbeCaseError``), never "TF cannot run it" (``LookupError``)."""
    case = probe.Case("Relu", [("x", np.ones((2, 3), np.float32), True)], when={"input:0": ["float32"]})
    assert probe.argument_errors(case)
    with pytest.raises(probe.ProbeCaseError, match="features"):
        probe.run_case(case, ["cpu"])
    assert not issubclass(probe.ProbeCaseError, LookupError)


def test_a_dtype_tf_refuses_is_still_a_skip(probe) -> None:
    """The distinction holds the other way: a bool Elu (TF has no such kernel) is skipped, as before."""
    case = probe.Case("Elu", [("features", np.ones((2, 3), bool), True)], when={"input:0": ["bool"]})
    assert not probe.argument_errors(case)
    with pytest.raises(LookupError, match="TF cannot run"):
        probe.run_case(case, ["cpu"])


#: What the re-probe (cpu, wasm, webgl; rank 2-3 shapes) found running right, for the dtypes TF itself has.
MEASURED_RUNNING = [("Relu", "float32"), ("Relu", "int32"), ("Relu6", "float32"), ("Relu6", "int32"),
                    ("Elu", "float32"), ("Selu", "float32"), ("Softplus", "float32"), ("LeakyRelu", "float32"),
                    ("Identity", "int32"), ("Identity", "bool"), ("Cumsum", "int32"), ("Cumprod", "int32"),
                    ("ArgMax", "bool"), ("ArgMin", "int32"), ("ExpandDims", "bool")]


@pytest.mark.parametrize("op, dtype", MEASURED_RUNNING)
def test_the_contract_follows_the_low_rank_measurements(op: str, dtype: str) -> None:
    """A rank-2 node of these ops and dtypes has no refusal on any default backend (no limit was measured)."""
    from tfjsconv.ops.backends import BackendContract, NodeFacts

    contract = BackendContract.load()
    facts = NodeFacts(op, {}, [dtype, "int32"], input_ranks=[2, 0], output_ranks=[2])
    for backend in ("cpu", "wasm", "webgl"):
        assert not contract.reasons(facts, backend), (op, dtype, backend, contract.reasons(facts, backend))
