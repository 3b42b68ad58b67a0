"""ONNX's own backend node tests through tfjsconv and real TF.js (cpu, wasm): a sampled subset.

The full sweep (``bench/conformance/onnx_ops.py``, about a minute) records every case's class in
``bench/results/onnx_ops_conformance.json`` and ``docs/conformance/onnx_ops.md``. This test re-runs,
against the expected outputs ONNX ships with each test (its reference implementation), one passing case
per op type plus every case known to give wrong numbers, and checks that

* the sampled cases still pass on cpu and wasm,
* no case gives wrong numbers unless it is in ``KNOWN_MISMATCHES`` with a reason, and every listed
  case is still wrong (a fixed one must leave the list), and
* the recorded sweep agrees with that list.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from conformance.onnx_known_mismatches import KNOWN_MISMATCHES  # noqa: E402

RECORDED = ROOT / "bench" / "results" / "onnx_ops_conformance.json"
BACKENDS = ("cpu", "wasm")
VARIANTS = {"cases": False, "constant_cases": True}  # recorded key -> parameters baked in as constants


def _recorded() -> dict:
    return json.loads(RECORDED.read_text(encoding="utf-8"))


def _wrong(case: dict) -> bool:
    return any((case.get("tfjs_raw") or case["tfjs"]).get(b) == "wrong" for b in BACKENDS)


def _passes(case: dict) -> bool:
    return all(case["tfjs"].get(b) == "pass" for b in BACKENDS)


def _sample(recorded: dict) -> dict[str, list[str]]:
    """Per variant: the first passing case of each op type (ops passing only with constants use that
    run), and every case that was wrong in it."""
    chosen: dict[str, list[str]] = {key: [] for key in VARIANTS}
    covered: set[str] = set()
    for key in VARIANTS:
        for case in sorted(recorded[key], key=lambda c: c["name"]):
            if _passes(case) and case["op_type"] not in covered:
                covered.add(case["op_type"])
                chosen[key].append(case["name"])
        chosen[key] += [c["name"] for c in recorded[key] if _wrong(c)]
    return chosen


def test_recorded_sweep_lists_every_wrong_case() -> None:
    recorded = _recorded()
    wrong = {c["name"] for key in (*VARIANTS, "expanded_cases") for c in recorded.get(key, []) if _wrong(c)}
    assert sorted(wrong - KNOWN_MISMATCHES.keys()) == [], "wrong numbers not in KNOWN_MISMATCHES"
    assert sorted(KNOWN_MISMATCHES.keys() - wrong) == [], "listed but not wrong in the recorded sweep"
    assert all(len(reason) > 20 for reason in KNOWN_MISMATCHES.values())


@pytest.fixture(scope="module")
def swept(tfjs_runtime) -> dict[str, dict]:
    from conformance.onnx_node_cases import list_cases
    from conformance.onnx_backend import evaluate_cases

    import onnx

    recorded_with = _recorded()["meta"]["onnx"]
    assert onnx.__version__ == recorded_with, (
        f"the recorded sweep used onnx {recorded_with}, this is {onnx.__version__}: "
        "re-run python bench/conformance/onnx_ops.py and review bench/conformance/onnx_known_mismatches.py")
    results = {}
    for key, constants in VARIANTS.items():
        names = sorted(set(_sample(_recorded())[key]))
        cases = list_cases("^(" + "|".join(map(re.escape, names)) + ")$")
        assert sorted(c.name for c in cases) == names
        results[key] = {r.name: r for r in evaluate_cases(cases, BACKENDS, with_ort=False, constants=constants)}
    return results


def test_sampled_cases_pass(swept) -> None:
    sample = _sample(_recorded())
    failing = [f"{name} [{key}]: {swept[key][name].tfjs} {swept[key][name].tfjs_reason}"
               for key in VARIANTS for name in sample[key]
               if name not in KNOWN_MISMATCHES and not all(swept[key][name].tfjs.get(b) == "pass" for b in BACKENDS)]
    assert len(sample["cases"]) + len(sample["constant_cases"]) > 100
    assert failing == []


def test_wrong_numbers_are_exactly_the_known_ones(swept) -> None:
    new, fixed = [], []
    for key in VARIANTS:
        for name, result in swept[key].items():
            wrong = [b for b in BACKENDS if result.tfjs_raw.get(b) == "wrong"]
            if wrong and name not in KNOWN_MISMATCHES:
                new.append(f"{name} [{key}] on {wrong}: {result.tfjs_reason[wrong[0]]}")
        for name in _sample(_recorded())[key]:
            if name in KNOWN_MISMATCHES and "wrong" not in swept[key][name].tfjs_raw.values():
                fixed.append(f"{name} [{key}]: now {swept[key][name].tfjs_raw} — remove it from KNOWN_MISMATCHES")
    assert new == [], "silently wrong outputs not in KNOWN_MISMATCHES"
    assert fixed == []


def test_onnx_backend_api_converts_and_runs_in_tfjs(tfjs_runtime) -> None:
    """``TfjsBackend`` (onnx.backend.base.Backend): prepare converts, run executes in TF.js on each backend."""
    import onnx
    from conformance.onnx_node_cases import list_cases, read_data_set
    from conformance.onnx_backend import TfjsBackend, compare_outputs

    from tfjsconv.errors import TfjsconvError

    [case] = list_cases(r"^test_softmax_axis_0$")
    inputs, expected = read_data_set(case)
    model = onnx.load(str(case.model_path))
    for backend in BACKENDS:
        rep = TfjsBackend.prepare(model, tfjs_backend=backend)
        outputs = rep.run([value for _, value in inputs])
        assert compare_outputs(dict(zip(rep.output_names, outputs)), expected) is None
    # A wrong-looking input changes the result: the comparison is not vacuous.
    shifted = rep.run([inputs[0][1][::-1].copy()])
    assert compare_outputs(dict(zip(rep.output_names, shifted)), expected) is not None
    [refused] = list_cases(r"^test_scan_sum$")  # opset 8's Scan (a batch axis); Loop converts since session 32
    with pytest.raises(TfjsconvError, match="Scan"):
        TfjsBackend.prepare(str(refused.model_path))
    assert TfjsBackend.supports_device("CPU") and not TfjsBackend.supports_device("CUDA")


def test_cast_to_float8_is_refused_not_emitted_as_identity(tmp_path) -> None:
    """Found by the sweep (test_castlike_FLOAT_to_FLOAT8E5M2_expanded): float8_e5m2, the one 1-byte float
    ml_dtypes reports as kind "f", was taken for float32, so Cast(to=FLOAT8E5M2) became an identity."""
    import onnx
    from onnx import TensorProto, helper

    import tfjsconv
    from tfjsconv.errors import TfjsconvError

    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT8E5M2),
         helper.make_node("Cast", ["y"], ["z"], to=TensorProto.FLOAT)], "cast_f8",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4])])
    path = tmp_path / "cast_f8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), str(path))
    with pytest.raises(TfjsconvError, match="Cast"):
        tfjsconv.convert(str(path), tmp_path / "out", input_format="onnx")
    assert not (tmp_path / "out").exists()


def test_dropout_with_run_time_training_mode_is_refused(tmp_path) -> None:
    """Found by the sweep (test_training_dropout*): a Dropout whose training_mode is a graph input was
    emitted as an identity, wrong whenever training_mode is true."""
    import onnx
    from onnx import TensorProto, helper

    import tfjsconv
    from tfjsconv.errors import TfjsconvError

    graph = helper.make_graph(
        [helper.make_node("Dropout", ["x", "ratio", "training"], ["y"])], "dropout_training",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("training", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor("ratio", TensorProto.FLOAT, [], [0.5])])
    path = tmp_path / "dropout.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(TfjsconvError, match="training_mode"):
        tfjsconv.convert(str(path), tmp_path / "out", input_format="onnx")
