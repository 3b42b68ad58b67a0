"""``verify SOURCE MODEL_DIR`` says which size it fed the unknown axes past the batch.

Without ``--inputs`` such an axis gets 3 steps (``DEFAULT_INNER_DIM``); a source that cannot run size 3 (an ONNX
``Reshape`` to a fixed ``[1, 1]`` over an input declared ``[N, T]``) is checked at size 1 instead, which leaves a
recurrence or a window unchecked: the report names the size used and why, instead of falling back silently.
Expected values are onnxruntime's (the ONNX frontend's reference).
"""
from __future__ import annotations

import json

import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import numpy as np  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

pytestmark = pytest.mark.node


def _model(path, *, fixed_shape: bool):
    """``y = reshape(x, [1, 1]) * 2`` (runs only where T is 1) or ``y = x * 2`` (runs for any T)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    nodes = [helper.make_node("Mul", ["r" if fixed_shape else "x", "two"], ["y"])]
    inits = [two]
    if fixed_shape:
        inits.append(helper.make_tensor("shape", TensorProto.INT64, [2], [1, 1]))
        nodes.insert(0, helper.make_node("Reshape", ["x", "shape"], ["r"]))
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory, tfjs_runtime):
    import tfjsconv

    base = tmp_path_factory.mktemp("sizes")
    out = {}
    for name, fixed in (("fixed", True), ("free", False)):
        source = _model(base / f"{name}.onnx", fixed_shape=fixed)
        tfjsconv.convert(source, base / name)
        out[name] = (source, base / name)
    return out


def test_a_source_that_cannot_run_size_3_is_checked_at_size_1_and_the_report_says_so(converted):
    from tfjsconv.verify.compare import format_report
    from tfjsconv.verify.source_check import verify_against_source

    source, model_dir = converted["fixed"]
    report = verify_against_source(source, model_dir, backends=("cpu",), quiet=True)
    assert report.passed, format_report(report)
    assert [c.shape for c in report.comparisons] == [(1, 1)]  # checked at size 1 indeed
    text = format_report(report)
    assert "x axis 1" in text and "fed size 1, not 3" in text and "cannot run size 3" in text, text
    assert report.to_json()["input_notes"] == report.input_notes


def test_a_source_that_runs_size_3_is_checked_at_size_3_and_the_report_says_so(converted):
    from tfjsconv.verify.compare import format_report
    from tfjsconv.verify.source_check import verify_against_source

    source, model_dir = converted["free"]
    report = verify_against_source(source, model_dir, backends=("cpu",), quiet=True)
    assert report.passed, format_report(report)
    assert [c.shape for c in report.comparisons] == [(1, 3)]
    assert report.input_notes == ["random inputs: unknown axes past the first (x axis 1) fed size 3 (an unknown first "
                                  "axis: 1)"]
    assert "fed size 3" in format_report(report)


def test_given_inputs_get_no_size_note(converted):
    from tfjsconv.verify.source_check import verify_against_source

    source, model_dir = converted["free"]
    report = verify_against_source(source, model_dir, inputs={"x": np.ones((2, 5), np.float32)}, backends=("cpu",),
                                   quiet=True)
    assert report.passed and report.input_notes == []
    assert "input_notes" in json.dumps(report.to_json())
