"""float16 steps of onnxruntime's CPU the ONNX frontend follows (session 31 h3): QuantizeLinear from opset 23
quantizes in float16 by its ``precision`` or scale type. Expected values from onnxruntime 1.32, run in TF.js
cpu and wasm."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402

F, HALF = TensorProto.FLOAT, TensorProto.FLOAT16
SCALE = np.float16(0.0123)


def _near_midpoints(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Values within 0.3% of a scale step of the quantization midpoints, where float16 rounding moves the code."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(-300, 300, shape) + np.float32(0.5) + rng.uniform(-3e-3, 3e-3, shape)
    return (np.float32(SCALE) * steps).astype(np.float32)


def _in_half(v: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # past 65504: inf, as onnxruntime rounds
        return np.asarray(v, np.float32).astype(np.float16).astype(np.float32)


def _codes(quotient: np.ndarray, zero_point: int) -> np.ndarray:
    return np.clip(np.rint(quotient) + zero_point, -128, 127)


def _quantize(x: str, scale: str, out: str, **attrs: int) -> onnx.NodeProto:
    return helper.make_node("QuantizeLinear", [x, scale, "zp"], [out], **attrs)


@pytest.mark.node
def test_quantize_linear_of_float16_divides_in_float16_from_opset_23(tmp_path, tfjs_runtime):
    """x -> Cast(float16) -> QuantizeLinear(float16 scale): from opset 23 onnxruntime rounds x / scale to float16
    before rounding to the code (HEAD divided in float32: about 1900 of 10000 int8 codes one off, silently);
    at opset 21 it divides in float32. A float16 graph input quantizes the same way."""
    nodes = [helper.make_node("Cast", ["x"], ["h"], to=HALF), _quantize("h", "s", "q"), _quantize("xh", "s", "qh")]
    init = {"s": np.array(SCALE, np.float16), "zp": np.array(3, np.int8)}
    x = _near_midpoints((50, 200), 1)
    quotient = _in_half(x) / np.float32(SCALE)
    in_half, in_float = _codes(_in_half(quotient), 3), _codes(quotient, 3)
    assert (in_half != in_float).sum() > 1000
    for opset in (23, 21):
        path = onnx_model(tmp_path / f"model{opset}.onnx", nodes, {"x": (F, [50, 200]), "xh": (HALF, [50, 200])},
                          ["q", "qh"], opset=opset, initializers=init)
        expected = matches_onnxruntime(path, {"x": x, "xh": x.astype(np.float16)}, tmp_path / f"out{opset}")
        assert np.array_equal(expected["q"], in_half if opset >= 23 else in_float)
        assert np.array_equal(expected["qh"], expected["q"])


@pytest.mark.node
def test_quantize_linear_precision_attribute_chooses_the_width(tmp_path, tfjs_runtime):
    """Opset 23's ``precision``: 0 quantizes in the scale's type (a float16 scale rounds a float32 x to float16
    first), FLOAT16 rounds x, a float32 scale and x / scale to float16, FLOAT divides in float32 even for float16
    operands. HEAD read neither the attribute nor the scale's type (every code computed in float32)."""
    scale32 = np.float32(0.0123)  # not a float16 value: rounded under FLOAT16 precision
    init = {"s16": np.array(SCALE, np.float16), "s32": np.array(scale32, np.float32), "zp": np.array(3, np.int8)}
    nodes = [helper.make_node("Cast", ["x"], ["h"], to=HALF),
             _quantize("x", "s16", "x32_s16"), _quantize("x", "s32", "x32_s32_p16", precision=HALF),
             _quantize("h", "s32", "x16_s32"), _quantize("h", "s16", "x16_s16_p32", precision=F),
             _quantize("x", "s32", "x32_s32")]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, [50, 200])},
                      ["x32_s16", "x32_s32_p16", "x16_s32", "x16_s16_p32", "x32_s32"], opset=23, initializers=init)
    x = _near_midpoints((50, 200), 2)
    expected = matches_onnxruntime(path, {"x": x}, tmp_path / "out")
    half_codes = _codes(_in_half(_in_half(x) / _in_half(scale32)), 3)
    assert np.array_equal(expected["x32_s16"], _codes(_in_half(_in_half(x) / np.float32(SCALE)), 3))
    assert np.array_equal(expected["x32_s32_p16"], half_codes)
    assert np.array_equal(expected["x16_s32"], _codes(_in_half(x) / scale32, 3))
    assert np.array_equal(expected["x16_s16_p32"], _codes(_in_half(x) / np.float32(SCALE), 3))
    assert np.array_equal(expected["x32_s32"], _codes(x / scale32, 3))
    assert (half_codes != _codes(x / scale32, 3)).sum() > 1000


def test_quantize_linear_precision_onnxruntime_refuses_is_refused_by_name(tmp_path):
    """precision BFLOAT16: onnxruntime's CPU refuses the model; the converter names the node (it divided in
    float32 before, a model no runtime computes that way)."""
    import tfjsconv
    from tfjsconv.errors import TfjsconvError

    init = {"s": np.array(SCALE, np.float16), "zp": np.array(3, np.int8)}
    nodes = [_quantize("x", "s", "q", precision=TensorProto.BFLOAT16)]
    nodes[0].name = "bf16_quant"
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, [2, 8])}, ["q"], opset=23, initializers=init)
    with pytest.raises(TfjsconvError, match=r"bf16_quant.*precision 16"):
        tfjsconv.convert(path, tmp_path / "out")


@pytest.mark.node
def test_quantize_linear_of_constant_float32_with_float16_scale_is_not_folded_by_onnxs_reference(tmp_path,
                                                                                                 tfjs_runtime):
    """A constant float32 x with a float16 scale (opset 23, precision 0): onnx's reference divides in float32,
    onnxruntime rounds x to float16 first (1985 of 10000 codes apart); HEAD folded it with the reference."""
    x = _near_midpoints((50, 200), 3)
    init = {"c": x, "s": np.array(SCALE, np.float16), "zp": np.array(3, np.int8)}
    nodes = [_quantize("c", "s", "q"), helper.make_node("Add", ["q", "d"], ["codes"])]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"d": (TensorProto.INT8, [1])}, ["codes"], opset=23,
                      initializers=init)
    expected = matches_onnxruntime(path, {"d": np.zeros(1, np.int8)}, tmp_path / "out")
    assert np.array_equal(expected["codes"], _codes(_in_half(_in_half(x) / np.float32(SCALE)), 3))


def _cast(src: str, dst: str, to: int) -> onnx.NodeProto:
    return helper.make_node("Cast", [src], [dst], to=to)


@pytest.mark.node
def test_cast_float16_to_float16_is_removed_before_the_cast_pairs(tmp_path, tfjs_runtime):
    """onnxruntime removes a Cast float16 -> float16, then drops the pair around it: ``x -> Cast(half) ->
    Cast(half) -> Exp -> Cast(float)`` is exp(x) and ``x -> Cast(half) -> Tanh -> Cast(half) -> Cast(float)``
    is tanh(x), unrounded (HEAD rounded both: 1.3e-4 off for tanh, 1.26 of exp's 2018)."""
    x = np.array([[1.2554005, 0.1234567, 3.3333333, 7.61, 2.5002, -5.4725628, 0.0153851, -0.0399901]], np.float32)
    nodes = [_cast("x", "h", HALF), _cast("h", "h2", HALF), helper.make_node("Exp", ["h2"], ["e"]),
             _cast("e", "exp", F), _cast("x", "g", HALF), helper.make_node("Tanh", ["g"], ["t"]),
             _cast("t", "t2", HALF), _cast("t2", "t3", HALF), _cast("t3", "tanh", F)]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, [1, 8])}, ["exp", "tanh"], opset=17)
    expected = matches_onnxruntime(path, {"x": x}, tmp_path / "out")
    np.testing.assert_allclose(expected["exp"], np.exp(x), rtol=1e-6)
    np.testing.assert_allclose(expected["tanh"], np.tanh(x), rtol=1e-6, atol=1e-7)
    assert np.abs(expected["exp"] - np.exp(_in_half(x))).max() > 1

    # the removed Cast giving a graph output: its float32 readers still see x and tanh(x) unrounded
    nodes = [_cast("x", "h", HALF), _cast("h", "h_out", HALF), helper.make_node("Tanh", ["h"], ["t"]),
             _cast("t", "tanh", F), _cast("t", "t_out", HALF), _cast("t", "tanh_up", F)]
    path = onnx_model(tmp_path / "outputs.onnx", nodes, {"x": (F, [1, 8])}, ["tanh", "h_out", "tanh_up", "t_out"],
                      opset=17)
    expected = matches_onnxruntime(path, {"x": x}, tmp_path / "outputs")
    np.testing.assert_allclose(expected["tanh_up"], np.tanh(x), rtol=1e-6, atol=1e-7)


@pytest.mark.node
@pytest.mark.parametrize("source", [TensorProto.INT64, TensorProto.INT16, TensorProto.UINT16])
def test_cast_pairs_of_integer_sources_stay_unrounded(tmp_path, tfjs_runtime, source):
    """An integer -> Cast(half) -> Neg -> Cast(float) is -i in float32 for every integer type (onnxruntime drops
    the pair; HEAD modelled it for int32 only: int64 70000 gave -inf, 4097 gave -4096), also through a Cast
    float16 -> float16; a Cast straight back up still rounds (4097 -> 4096)."""
    nodes = [_cast("i", "h", HALF), helper.make_node("Neg", ["h"], ["n"]), _cast("n", "neg", F),
             _cast("j", "g", HALF), _cast("g", "g2", HALF), helper.make_node("Neg", ["g2"], ["m"]),
             _cast("m", "neg_through", F), _cast("k", "kh", HALF), _cast("kh", "back", F)]
    # three inputs: onnxruntime merges identical Casts of one tensor (their readers pooled: the Cast back up
    # would keep all three rounded)
    path = onnx_model(tmp_path / "model.onnx", nodes, {name: (source, [1, 8]) for name in "ijk"},
                      ["neg", "neg_through", "back"], opset=17)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(source)
    values = np.array([[4097, 2049, 30001, 32767, 0, 3, -4097, 7]], np.int64)
    values[0, 6] = {TensorProto.INT64: 70000, TensorProto.UINT16: 65519}.get(source, values[0, 6])
    values = values.astype(dtype)
    expected = matches_onnxruntime(path, dict.fromkeys("ijk", values), tmp_path / "out", narrow_int64_feeds=True)
    assert np.array_equal(expected["neg"], -values.astype(np.float32))
    assert np.array_equal(expected["neg_through"], -values.astype(np.float32))
    assert np.array_equal(expected["back"], _in_half(values))


@pytest.mark.node
def test_float16_reduce_l2_and_log_sum_exp_at_opset_18_are_rounded_for_cast_up_readers(tmp_path, tfjs_runtime):
    """At opset 18 onnxruntime runs float16 ReduceL2 and ReduceLogSumExp as their ONNX functions, which cast the
    result back to float16 (ReduceLogSumExp also first casts x to double, keeping the Cast to float16 it reads
    rounded); HEAD read both results unrounded (one float16 step off: 6.4e-3 of 32.4). A Tanh before it is read
    unrounded (the Cast pair around the float32 Tanh is dropped)."""
    nodes = [_cast("x", "h", HALF), helper.make_node("ReduceL2", ["h", "ax"], ["l2"], keepdims=0),
             _cast("l2", "norm", F), _cast("y", "g", HALF),
             helper.make_node("ReduceLogSumExp", ["g", "ax"], ["s"], keepdims=0),
             _cast("s", "lse", F), _cast("z", "k", HALF), helper.make_node("Tanh", ["k"], ["t"]),
             helper.make_node("ReduceLogSumExp", ["t", "ax"], ["st"]), _cast("st", "lse_tanh", F)]
    shapes = {name: (F, [200, 6]) for name in "xyz"}
    path = onnx_model(tmp_path / "model.onnx", nodes, shapes, ["norm", "lse", "lse_tanh"], opset=18,
                      initializers={"ax": np.array([1], np.int64)})
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((200, 6)) * 3).astype(np.float32)
    expected = matches_onnxruntime(path, dict.fromkeys("xyz", x), tmp_path / "out")
    x64 = x.astype(np.float64)
    assert np.array_equal(expected["norm"], _in_half(np.sqrt((x64 * x64).sum(-1))))
    rounded = _in_half(x).astype(np.float64)
    assert np.array_equal(expected["lse"], _in_half(np.log(np.exp(rounded).sum(-1))))
    assert not np.array_equal(expected["lse"], _in_half(np.log(np.exp(x64).sum(-1))))


def _reduce(op: str, x: str, out: str) -> onnx.NodeProto:
    return helper.make_node(op, [x, "ax"], [out], keepdims=0)


@pytest.mark.node
@pytest.mark.parametrize("op", ["ReduceL2", "ReduceLogSumExp"])
def test_float16_reduce_l2_and_log_sum_exp_at_opset_18_are_read_unrounded_by_float32_nodes(tmp_path, tfjs_runtime,
                                                                                            op):
    """The function's last Cast to float16 and the Cast up before a float32 reader (Neg, Sqrt) drop as a pair:
    onnxruntime's Neg reads the float32 result (ReduceL2 -16.476974, not -16.484375); h3's commit rounded it for
    every reader (one float16 step off). A graph output of the result keeps ReduceL2's float32 readers unrounded,
    but ReduceLogSumExp's rounded; a Cast up among the readers rounds them all, as for other Cast pairs."""
    nodes = [_reduce(op, "x", "r"), helper.make_node("Neg", ["r"], ["n"]), _cast("n", "neg", F),
             helper.make_node("Sqrt", ["r"], ["sqrt"]), _reduce(op, "xo", "ro"), helper.make_node("Neg", ["ro"], ["no"]),
             _cast("no", "neg_of_output", F), _reduce(op, "xu", "ru"), helper.make_node("Neg", ["ru"], ["nu"]),
             _cast("nu", "neg_beside_up", F), _cast("ru", "up", F), _cast("c", "h", HALF), _reduce(op, "h", "rc"),
             helper.make_node("Sqrt", ["rc"], ["sc"]), _cast("sc", "chain", F)]
    # one input each: onnxruntime merges identical nodes of one tensor (their readers pooled)
    shapes = {"x": (HALF, [6, 50, 7]), "xo": (HALF, [6, 50, 7]), "xu": (HALF, [6, 50, 7]), "c": (F, [6, 50, 7])}
    path = onnx_model(tmp_path / "model.onnx", nodes, shapes,
                      ["neg", "sqrt", "ro", "neg_of_output", "neg_beside_up", "up", "chain"], opset=18,
                      initializers={"ax": np.array([1], np.int64)})
    x = np.random.default_rng(5).uniform(-4, 4, (6, 50, 7)).astype(np.float32)
    expected = matches_onnxruntime(path, {**dict.fromkeys(("x", "xo", "xu"), x.astype(np.float16)), "c": x},
                                   tmp_path / "out")
    rounded = _in_half(expected["up"])
    assert np.array_equal(expected["neg_beside_up"], _in_half(-rounded))
    assert not np.array_equal(expected["neg"], _in_half(-rounded))
    assert np.array_equal(expected["neg_of_output"], _in_half(-rounded)) == (op == "ReduceLogSumExp")


@pytest.mark.node
def test_cast_float16_to_float16_giving_a_graph_output_keeps_its_cast_up_reader_rounded(tmp_path, tfjs_runtime):
    """``x -> Cast(half) -> Exp -> Cast(half)=e2 [graph output] -> Cast(float)=y``: onnxruntime keeps e2 (an output
    name) and y reads it rounded, f16(exp(x)) (h3's commit gave exp(x): 16.850964 for 16.84375). The same from a
    float16 graph input and through two Casts float16 -> float16 whose last one is the output."""
    nodes = [_cast("x", "a", HALF), helper.make_node("Exp", ["a"], ["e"]), _cast("e", "e2", HALF),
             _cast("e2", "y", F), helper.make_node("Exp", ["xh"], ["f"]), _cast("f", "f2", HALF),
             _cast("f2", "y_half_input", F), _cast("x", "b", HALF), helper.make_node("Exp", ["b"], ["g"]),
             _cast("g", "g2", HALF), _cast("g2", "g3", HALF), _cast("g3", "y_two_casts", F)]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, [8, 64]), "xh": (HALF, [8, 64])},
                      ["y", "e2", "y_half_input", "f2", "y_two_casts", "g3"], opset=18)
    x = np.random.default_rng(3).uniform(-3, 3, (8, 64)).astype(np.float32)
    expected = matches_onnxruntime(path, {"x": x, "xh": x.astype(np.float16)}, tmp_path / "out")
    for name in ("y", "y_half_input", "y_two_casts"):
        assert np.array_equal(expected[name], _in_half(expected[name]))

