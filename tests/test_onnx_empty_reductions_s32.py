"""ONNX reductions over empty axes as onnxruntime 1.32 computes them (session 32, h11).

onnxruntime's ReduceMean over nothing is 0 (the ONNX spec leaves it undefined; TF's is NaN, 0/0): the converted
model gave NaN, statically empty or empty only at run time, with no notice. An integer ReduceLogSum(Exp) over a
statically empty axis crashed the conversion (an integer -inf); onnxruntime gives the dtype's lowest value.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402

F, I32, I64 = TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64


def _reduction(path, op: str, elem: int, shape: list, axes: list[int] | None, keepdims: int):
    """One reduction, axes given as an initializer (opset 18) or not at all (every axis)."""
    inputs = ["x"] if axes is None else ["x", "axes"]
    init = {} if axes is None else {"axes": np.asarray(axes, np.int64)}
    node = helper.make_node(op, inputs, ["y"], keepdims=keepdims)
    return onnx_model(path, [node], {"x": (elem, shape)}, ["y"], opset=18, initializers=init)


@pytest.mark.node
@pytest.mark.parametrize("shape", [[2, 0], ["a", "b"]], ids=["static", "run_time"])
@pytest.mark.parametrize("axes,keepdims", [([1], 0), ([1], 1), (None, 0), (None, 1)])
def test_float_mean_over_nothing_is_zero_as_onnxruntime(tmp_path, tfjs_runtime, shape, axes, keepdims):
    """0 where the converter gave NaN; data of a non-empty size still averages (the select keeps the mean)."""
    path = _reduction(tmp_path / "m.onnx", "ReduceMean", F, shape, axes, keepdims)
    expected = matches_onnxruntime(path, {"x": np.zeros((2, 0), np.float32)}, tmp_path / "out")
    assert not np.isnan(expected["y"]).any()
    if shape[1] != 0:
        feed = {"x": np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5}
        matches_onnxruntime(path, feed, tmp_path / "out", convert=False)


@pytest.mark.node
def test_mean_over_axes_fed_at_run_time(tmp_path, tfjs_runtime):
    """Axes as a graph input: an empty run-time input averages to 0 over the fed axis, a full one to its mean."""
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1)
    path = onnx_model(tmp_path / "m.onnx", [node], {"x": (F, ["a", "b"]), "axes": (I64, [1])}, ["y"], opset=18)
    out = tmp_path / "out"
    matches_onnxruntime(path, {"x": np.zeros((3, 0), np.float32), "axes": np.array([1])}, out, narrow_int64_feeds=True)
    feed = {"x": np.linspace(-1, 2, 12, dtype=np.float32).reshape(3, 4), "axes": np.array([-1])}
    matches_onnxruntime(path, feed, out, convert=False, narrow_int64_feeds=True)


@pytest.mark.node
@pytest.mark.parametrize("op", ["ReduceLogSum", "ReduceLogSumExp"])
def test_integer_log_sum_over_nothing_is_the_lowest_int(tmp_path, tfjs_runtime, op):
    """Converted (it crashed: an integer -inf), giving onnxruntime's lowest int32."""
    path = _reduction(tmp_path / "m.onnx", op, I32, [2, 0], [1], 0)
    expected = matches_onnxruntime(path, {"x": np.zeros((2, 0), np.int32)}, tmp_path / "out")
    assert expected["y"].tolist() == [np.iinfo(np.int32).min] * 2


@pytest.mark.node
def test_loop_body_mean_of_an_outer_input_empty_at_run_time(tmp_path, tfjs_runtime):
    """A Loop adding the mean of an outer input of run-time length to its carried value: 0.5 + 3·0 (it was NaN)."""
    body = helper.make_graph(
        [helper.make_node("ReduceMean", ["xd"], ["m"], keepdims=0), helper.make_node("Add", ["v", "m"], ["v2"]),
         helper.make_node("Identity", ["cond"], ["cond2"])], "body",
        [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v", F, [])],
        [helper.make_tensor_value_info("cond2", TensorProto.BOOL, []), helper.make_tensor_value_info("v2", F, [])])
    loop = helper.make_node("Loop", ["n", "", "v0"], ["y"], body=body)
    path = onnx_model(tmp_path / "m.onnx", [loop], {"n": (I64, []), "xd": (F, ["N"]), "v0": (F, [])}, ["y"], opset=17)
    out = tmp_path / "out"
    for index, (count, x) in enumerate([(3, np.zeros(0, np.float32)), (2, np.array([1.0, 2.5], np.float32))]):
        feed = {"n": np.array(count, np.int64), "xd": x, "v0": np.array(0.5, np.float32)}
        matches_onnxruntime(path, feed, out, convert=index == 0, narrow_int64_feeds=True)


@pytest.mark.parametrize("op", ["ReduceL2", "ReduceLogSum", "ReduceLogSumExp"])
@pytest.mark.parametrize("shape", [[2, 3], ["a", "b"]])
def test_integer_reductions_through_sqrt_log_exp_are_refused_by_name(tmp_path, op, shape):
    """Session 32 (lead): int32 ReduceL2/ReduceLogSum converted and then threw on every backend (TF.js's Sqrt/Log take
    float32 only), int32 ReduceLogSumExp crashed the conversion with a Python error: refused by name, exit 2."""
    import subprocess
    import sys

    import onnx

    node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=0)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.INT32, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
                              [helper.make_tensor("axes", TensorProto.INT64, [1], [1])])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    run = subprocess.run([sys.executable, "-m", "tfjsconv", "convert", str(path), str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{op} of int32 values is not supported" in run.stderr, run.stderr
