"""Silent-wrong ONNX mappings the node-test conformance sweep found, each now exact or refused.

Every model runs in real TF.js (cpu and wasm) against onnxruntime (``bench/conformance`` has the sweep;
these are its cases built small, with shapes the sweep did not try).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402

BACKENDS = ("cpu", "wasm")


def _model(tmp_path: Path, nodes: list, inputs: dict, outputs: list[str], *, opset: int = 18,
           initializers: dict | None = None) -> Path:
    """A graph of ``nodes`` with typed inputs (name -> (elem type, shape)); output types left to inference."""
    return onnx_model(tmp_path / "model.onnx", nodes, inputs, outputs, opset=opset, initializers=initializers,
                      name="fixes")


def _matches_onnxruntime(path: Path, feeds: dict[str, np.ndarray], tmp_path: Path, **options) -> dict:
    """Convert, run on cpu and wasm, compare with onnxruntime; returns onnxruntime's outputs."""
    return matches_onnxruntime(path, feeds, tmp_path / "out", **options)


@pytest.mark.node
def test_matmul_broadcasting_batch_dims_both_ways(tmp_path, tfjs_runtime):
    """TF.js's BatchMatMul indexes each operand modulo its flattened batch size: [3,1]x[1,2] batches (and
    [2,1]x[2,3]) came out wrong. The operand that needs it is broadcast first, statically or at run time."""
    f = TensorProto.FLOAT
    shapes = {"a": [3, 1, 3, 4], "b": [1, 2, 4, 3], "c": [2, 1, 3, 4], "d": [2, 3, 4, 3], "h": [1, 2, 3, 4],
              "v": [4]}
    inputs = {k: (f, s) for k, s in shapes.items()} | {"e": (f, ["n", 1, 3, 4])}
    nodes = [helper.make_node("MatMul", ["a", "b"], ["ab"]), helper.make_node("MatMul", ["c", "d"], ["cd"]),
             helper.make_node("MatMul", ["e", "b"], ["eb"]),  # a dynamic batch: broadcast at run time
             helper.make_node("Transpose", ["h"], ["ht"], perm=[0, 1, 3, 2]),  # may feed MatMul's adj_y
             helper.make_node("MatMul", ["a", "ht"], ["aht"]), helper.make_node("MatMul", ["v", "d"], ["vd"])]
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    feeds["e"] = rng.standard_normal((3, 1, 3, 4)).astype(np.float32)
    path = _model(tmp_path, nodes, inputs, ["ab", "cd", "eb", "aht", "vd"], opset=13)
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["ab"].shape == (3, 2, 3, 3) and expected["cd"].shape == (2, 3, 3, 3)


@pytest.mark.node
def test_pow_of_an_integer_base_keeps_its_integer_type(tmp_path, tfjs_runtime):
    """Pow(int, float) is an int in ONNX, truncated as onnxruntime does (5 ** 1.5 = 11), not a float."""
    i32, i64, f = TensorProto.INT32, TensorProto.INT64, TensorProto.FLOAT
    nodes = [helper.make_node("Pow", ["x", "y"], ["p32"]), helper.make_node("Pow", ["w", "y"], ["p64"]),
             helper.make_node("Pow", ["x", "k"], ["pk"]), helper.make_node("Pow", ["w", "half"], ["ph"]),
             helper.make_node("Pow", ["big", "two"], ["p2"]),  # x·x: TF.js-cpu's int32 Square rounds via float32
             helper.make_node("Pow", ["big", "two_int"], ["p2i"])]
    path = _model(tmp_path, nodes, {"x": (i32, [8]), "w": (i64, [8]), "y": (f, [8]), "big": (i32, [3])},
                  ["p32", "p64", "pk", "ph", "p2", "p2i"],
                  opset=15, initializers={"k": np.array([3, 4, 5, 6, 7, 0, -1, 2], np.float32),
                                          "half": np.array(0.5, np.float32), "two": np.array(2.0, np.float32),
                                          "two_int": np.array(2, np.int32)})
    feeds = {"x": np.array([2, 3, 5, -4, 9, 2, 7, -3], np.int32), "w": np.array([2, 3, 5, 4, 9, 2, 7, 6], np.int64),
             "y": np.array([0.5, 4, 1.5, 2, 0.5, -1, 2.2, 3], np.float32), "big": np.array([46001, -40961, 3], np.int32)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["p32"].dtype == np.int32 and expected["p32"][2] == 11


@pytest.mark.node
def test_reductions_over_an_empty_axis_give_the_identity(tmp_path, tfjs_runtime):
    """Max/Min over nothing are -inf/+inf (TF.js: NaN), Prod is 1 (TF.js-wasm: 0); bool Max/Min are Any/All
    (TF.js-wasm's bool Max is wrong); a dynamic other dim fills the identity at run time."""
    f, i32, b = TensorProto.FLOAT, TensorProto.INT32, TensorProto.BOOL
    ops = ["ReduceMax", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceL2", "ReduceLogSumExp"]
    nodes = [helper.make_node(op, ["x", "axes"], [op], keepdims=int(k % 2 == 0)) for k, op in enumerate(ops)]
    nodes += [helper.make_node("ReduceMax", ["n", "axes"], ["int_max"], keepdims=0),
              helper.make_node("ReduceMin", ["n", "axes"], ["int_min"], keepdims=1),
              helper.make_node("ReduceMax", ["flags", "axes"], ["any"], keepdims=0),
              helper.make_node("ReduceMin", ["flags", "axes"], ["all"], keepdims=1)]
    path = _model(tmp_path, nodes, {"x": (f, [2, 0, 4]), "n": (i32, ["batch", 0, 3]), "flags": (b, [3, 5, 4])},
                  [*ops, "int_max", "int_min", "any", "all"], opset=20,
                  initializers={"axes": np.array([1], np.int64)})
    flags = np.random.default_rng(1).random((3, 5, 4)) > 0.8
    feeds = {"x": np.zeros((2, 0, 4), np.float32), "n": np.zeros((3, 0, 3), np.int32), "flags": flags}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert np.isneginf(expected["ReduceMax"]).all() and (expected["ReduceProd"] == 1).all()


@pytest.mark.node
def test_bool_max_over_an_empty_axis_is_false(tmp_path, tfjs_runtime):
    """onnxruntime has no bool ReduceMax over an empty axis; ONNX's reference implementation is the oracle."""
    from onnx.reference import ReferenceEvaluator

    from tfjsconv.verify.compare import format_report, verify_model

    nodes = [helper.make_node("ReduceMax", ["flags", "axes"], ["any"], keepdims=1),
             helper.make_node("ReduceMin", ["flags", "axes"], ["all"], keepdims=0)]
    path = _model(tmp_path, nodes, {"flags": (TensorProto.BOOL, [2, 0, 4])}, ["any", "all"], opset=20,
                  initializers={"axes": np.array([1], np.int64)})
    feeds = {"flags": np.zeros((2, 0, 4), bool)}
    expected = dict(zip(["any", "all"], ReferenceEvaluator(str(path)).run(None, feeds)))
    assert not expected["any"].any() and expected["all"].all()
    tfjsconv.convert(path, tmp_path / "out")
    report = verify_model(tmp_path / "out", feeds, expected, backends=BACKENDS, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
def test_attention_rows_with_every_key_masked_are_zero(tmp_path, tfjs_runtime):
    """A query whose keys are all masked gets zero probabilities and Y = 0 in ONNX; TF.js's softmax over
    equal lowest-float scores gave mean(V). Bool masks (given at run time), causal + bool, and qk mode 3."""
    f, b = TensorProto.FLOAT, TensorProto.BOOL
    nodes = [helper.make_node("Attention", ["q", "k", "v", "keep"], ["y", "", "", "probs"], qk_matmul_output_mode=3),
             helper.make_node("Attention", ["q", "k", "v", "keep"], ["yc"], is_causal=1),
             helper.make_node("Attention", ["q", "k", "v", "bias"], ["yf"])]
    keep = np.random.default_rng(2).random((2, 1, 4, 6)) > 0.4
    keep[0, 0, 1] = False  # a fully masked row
    keep[1, 0, 3] = False
    keep[1, 0, 0, 1:] = False  # with causal, row 0 may see only key 0: now nothing
    keep[1, 0, 0, 0] = False
    keep[0, 0, 2, :3] = False  # with causal, row 2 sees keys 0..2 only: nothing left
    bias = np.zeros((4, 6), np.float32)
    bias[2] = -np.inf
    bias[1, ::2] = -np.inf
    path = _model(tmp_path, nodes, {"q": (f, [2, 3, 4, 8]), "k": (f, [2, 3, 6, 8]), "v": (f, [2, 3, 6, 8]),
                                    "keep": (b, [2, 1, 4, 6])}, ["y", "probs", "yc", "yf"], opset=23,
                  initializers={"bias": bias})
    rng = np.random.default_rng(3)
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in
             (("q", (2, 3, 4, 8)), ("k", (2, 3, 6, 8)), ("v", (2, 3, 6, 8)))}
    feeds["keep"] = keep
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert not expected["y"][0, :, 1].any() and not expected["probs"][1, :, 3].any()
    assert not expected["yc"][0, :, 2].any()


def test_string_equal_is_refused_on_wasm_only(tmp_path):
    """TF.js-wasm compares strings wrongly (probed: tfjs_backend_probe.json); cpu is right."""
    from tfjsconv.errors import BackendUnsupportedError

    s = TensorProto.STRING
    path = _model(tmp_path, [helper.make_node("Equal", ["a", "b"], ["eq"]),
                             helper.make_node("Not", ["eq"], ["ne"])], {"a": (s, [4]), "b": (s, [4])}, ["ne"],
                  opset=19)
    with pytest.raises(BackendUnsupportedError, match=r"Equal .*wasm"):
        tfjsconv.convert(path, tmp_path / "refused", target_backends=["cpu", "wasm"])
    assert not (tmp_path / "refused").exists()
    tfjsconv.convert(path, tmp_path / "cpu", target_backends=["cpu"])
    assert (tmp_path / "cpu" / "model.json").is_file()
