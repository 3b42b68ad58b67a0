"""ONNX opsets up to the installed onnx's newest, and the small ops of issue 14 (depth/space, bitwise, Trilu…).

Every model runs in real TF.js (cpu and wasm) against onnxruntime; refusals are checked by message.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402
from tfjsconv.errors import InputError, UnsupportedOpsError  # noqa: E402
from tfjsconv.plugins.onnx.reading import MAX_OPSET, MIN_OPSET  # noqa: E402

BACKENDS = ("cpu", "wasm")
ROOT = Path(__file__).resolve().parents[1]
F, I8, U8, I16, I32, I64 = (TensorProto.FLOAT, TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16,
                            TensorProto.INT32, TensorProto.INT64)


def _model(tmp_path: Path, nodes: list, inputs: dict, outputs: list[str], *, opset: int = 18,
           initializers: dict | None = None, extra_opsets: tuple = ()) -> Path:
    """A graph of ``nodes`` with typed inputs (name -> (elem type, shape)); output types left to inference."""
    return onnx_model(tmp_path / "model.onnx", nodes, inputs, outputs, opset=opset, initializers=initializers,
                      name="small_ops", extra_opsets=extra_opsets)


def _matches_onnxruntime(path: Path, feeds: dict[str, np.ndarray], tmp_path: Path, **options) -> dict:
    """Convert, run on cpu and wasm, compare with onnxruntime; returns onnxruntime's outputs."""
    return matches_onnxruntime(path, feeds, tmp_path / "out", **options)


# -- opsets ---------------------------------------------------------------------------------------
def test_max_opset_is_the_installed_onnx_newest():
    """MAX_OPSET is a constant (no onnx import to read it); it must follow the onnx the tests run with."""
    assert MAX_OPSET == onnx.defs.onnx_opset_version()


def test_newer_opset_is_refused_naming_it(tmp_path):
    path = _model(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], {"x": (F, [2])}, ["y"], opset=18)
    model = onnx.load(str(path))
    model.opset_import[0].version = MAX_OPSET + 1
    onnx.save(model, str(path))
    with pytest.raises(InputError, match=rf"opset {MAX_OPSET + 1}, which is newer .*\({MIN_OPSET}..{MAX_OPSET}\)"):
        tfjsconv.convert(path, tmp_path / "out")


def test_old_opset_is_read_when_its_ops_did_not_change(tmp_path):
    """Not is the same at opset 1 as at 7: converted. Add changed at 6 and 7 (broadcast attrs): refused by name."""
    path = _model(tmp_path, [helper.make_node("Not", ["x"], ["y"])], {"x": (TensorProto.BOOL, [3])}, ["y"], opset=1)
    tfjsconv.convert(path, tmp_path / "ok")
    path = _model(tmp_path, [helper.make_node("Not", ["x"], ["y"]), helper.make_node("Add", ["a", "a"], ["b"])],
                  {"x": (TensorProto.BOOL, [3]), "a": (F, [3])}, ["y", "b"], opset=5)
    with pytest.raises(InputError, match=r"opset 5, older .* meant something else then: Add\n"):
        tfjsconv.convert(path, tmp_path / "old")


def test_model_of_another_domain_only_lists_its_ops(tmp_path):
    """An ai.onnx.ml-only model is not "incomplete": its ops are reported as unmapped, by domain."""
    node = helper.make_node("Binarizer", ["x"], ["y"], domain="ai.onnx.ml", threshold=0.5)
    path = _model(tmp_path, [node], {"x": (F, [4])}, ["y"], opset=0, extra_opsets=(("ai.onnx.ml", 1),))
    with pytest.raises(UnsupportedOpsError, match=r"ai\.onnx\.ml:Binarizer"):
        tfjsconv.convert(path, tmp_path / "out")
    model = onnx.load(str(path))
    model.graph.node.append(helper.make_node("Relu", ["x"], ["r"]))  # an ai.onnx node with no ai.onnx import
    onnx.save(model, str(path))
    with pytest.raises(InputError, match=r"imports no ai\.onnx opset but has ai\.onnx nodes"):
        tfjsconv.convert(path, tmp_path / "out2")


@pytest.mark.node
def test_opset_28_ops_and_new_activations(tmp_path, tfjs_runtime):
    """Ops whose schema changed at 26-28 (Celu, ReduceLogSumExp, Cast, Range) at opset 28, and the new
    CumProd (run-time axis), with Shrink, Hardmax, IsInf and CastLike."""
    nodes = [helper.make_node("Celu", ["x"], ["celu"], alpha=0.7),
             helper.make_node("ReduceLogSumExp", ["x", "axes"], ["lse"], keepdims=0),
             helper.make_node("Cast", ["x"], ["as_int"], to=I32),
             helper.make_node("Range", ["start", "limit", "delta"], ["range"]),
             helper.make_node("CumProd", ["x", "axis"], ["cumprod"], reverse=1),
             helper.make_node("CumProd", ["x", "one"], ["cumprod_excl"], exclusive=1),
             helper.make_node("Shrink", ["x"], ["shrink"], lambd=0.6, bias=0.2),
             helper.make_node("Shrink", ["ints"], ["shrink_int"], lambd=1.5, bias=1.0),
             helper.make_node("Hardmax", ["ties"], ["hardmax"], axis=1),
             helper.make_node("IsInf", ["special"], ["isinf"]),
             helper.make_node("IsInf", ["special"], ["isneginf"], detect_positive=0),
             helper.make_node("CastLike", ["x", "ints"], ["castlike"])]
    inputs = {"x": (F, [2, 3, 4]), "axis": (I64, []), "start": (F, []), "limit": (F, []),
              "ints": (I32, [6]), "ties": (F, [2, 3, 2]), "special": (F, [5])}
    path = _model(tmp_path, nodes, inputs, [n.output[0] for n in nodes], opset=28,
                  initializers={"axes": np.array([1], np.int64), "delta": np.array(0.5, np.float32),
                                "one": np.array(-1, np.int64)})
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((2, 3, 4)).astype(np.float32),
             "axis": np.array(-2, np.int64), "start": np.array(1.0, np.float32), "limit": np.array(4.2, np.float32),
             "ints": np.array([-3, -2, -1, 0, 2, 5], np.int32),
             "ties": np.array([[[1, 5], [3, 5], [3, 0]], [[2, 2], [2, 2], [-1, 2]]], np.float32),
             "special": np.array([np.inf, -np.inf, 0.0, np.nan, 3.0], np.float32)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["hardmax"][0, :, 1].tolist() == [1, 0, 0]  # the first of tied maxima only


@pytest.mark.node
def test_swiglu_matches_torch(tmp_path, tfjs_runtime):
    """SwiGLU (opset 28; onnxruntime 1.32 has no kernel for it): torch's silu-style gate is the reference."""
    torch = pytest.importorskip("torch")
    from tfjsconv.verify.compare import format_report, verify_model

    nodes = [helper.make_node("SwiGLU", ["a", "b"], ["y"], alpha=1.5), helper.make_node("SwiGLU", ["c", "d"], ["z"])]
    weight = np.random.default_rng(5).standard_normal((4, 3, 1, 1)).astype(np.float32)
    nodes.insert(0, helper.make_node("Conv", ["x", "w"], ["c"]))  # an NHWC operand next to an NCHW one
    path = _model(tmp_path, nodes, {"a": (F, [2, 5]), "b": (F, [2, 5]), "x": (F, [1, 3, 4, 4]), "d": (F, [1, 4, 4, 4])},
                  ["y", "z"], opset=28, initializers={"w": weight})
    rng = np.random.default_rng(6)
    feeds = {"a": rng.standard_normal((2, 5)).astype(np.float32), "b": rng.standard_normal((2, 5)).astype(np.float32),
             "x": rng.standard_normal((1, 3, 4, 4)).astype(np.float32),
             "d": rng.standard_normal((1, 4, 4, 4)).astype(np.float32)}
    t = {k: torch.from_numpy(v) for k, v in feeds.items()}
    conv = torch.nn.functional.conv2d(t["x"], torch.from_numpy(weight))
    expected = {"y": (t["a"] * torch.sigmoid(1.5 * t["a"]) * t["b"]).numpy(),
                "z": (torch.nn.functional.silu(conv) * t["d"]).numpy()}
    tfjsconv.convert(path, tmp_path / "out")
    report = verify_model(tmp_path / "out", feeds, expected, backends=BACKENDS, rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
def test_opset_27_causal_conv_and_linear_attention(tmp_path, tfjs_runtime):
    """CausalConvWithState (past state, bias, silu; and zero state with a dynamic batch) and LinearAttention
    (gated_delta with grouped query heads, per-key decay and a past state; plain linear without one)."""
    b, t, c, k, hq, hkv, dk, dv = 2, 3, 4, 3, 4, 2, 3, 2
    nodes = [helper.make_node("CausalConvWithState", ["x", "w", "bias", "past"], ["conv", "conv_state"],
                              activation="silu"),
             helper.make_node("CausalConvWithState", ["xd", "w"], ["conv0", "conv0_state"]),
             helper.make_node("LinearAttention", ["q", "kk", "v", "s", "g", "beta"], ["att", "att_state"],
                              q_num_heads=hq, kv_num_heads=hkv, update_rule="gated_delta"),
             helper.make_node("LinearAttention", ["q", "kk", "v"], ["lin", "lin_state"], q_num_heads=hq,
                              kv_num_heads=hkv, update_rule="linear", scale=0.5)]
    inputs = {"x": (F, [b, c, 5]), "w": (F, [c, 1, k]), "bias": (F, [c]), "past": (F, [b, c, k - 1]),
              "xd": (F, ["n", c, 5]), "q": (F, [b, t, hq * dk]), "kk": (F, [b, t, hkv * dk]),
              "v": (F, [b, t, hkv * dv]), "s": (F, [b, hkv, dk, dv]), "g": (F, [b, t, hkv * dk]),
              "beta": (F, [b, t, hkv])}
    outputs = [o for n in nodes for o in n.output]
    path = _model(tmp_path, nodes, inputs, outputs, opset=27)
    rng = np.random.default_rng(7)
    shapes = {"xd": [3, c, 5], **{n: s for n, (_, s) in inputs.items() if n != "xd"}}
    feeds = {n: (rng.standard_normal(s) * 0.5).astype(np.float32) for n, s in shapes.items()}
    feeds["g"] = -np.abs(feeds["g"])  # log-space decays
    feeds["beta"] = 1 / (1 + np.exp(-feeds["beta"]))
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["att_state"].shape == (b, hkv, dk, dv) and expected["conv0_state"].shape == (3, c, k - 1)


# -- layout-sensitive ops -------------------------------------------------------------------------
@pytest.mark.node
def test_depth_to_space_and_space_to_depth_in_both_modes(tmp_path, tfjs_runtime):
    """DCR and CRD, float32 (TF.js's DepthToSpace) and int32 (Reshape/Transpose), after a conv (NHWC inside)."""
    weight = np.random.default_rng(1).standard_normal((8, 8, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["conv"]),
             helper.make_node("DepthToSpace", ["conv"], ["d2s_dcr"], blocksize=2, mode="DCR"),
             helper.make_node("DepthToSpace", ["conv"], ["d2s_crd"], blocksize=2, mode="CRD"),
             helper.make_node("DepthToSpace", ["ints"], ["d2s_int"], blocksize=2, mode="CRD"),
             helper.make_node("SpaceToDepth", ["conv"], ["s2d_dcr"], blocksize=2),
             helper.make_node("SpaceToDepth", ["conv"], ["s2d_crd"], blocksize=2, mode="CRD"),
             helper.make_node("SpaceToDepth", ["ints"], ["s2d_int"], blocksize=2, mode="DCR")]
    path = _model(tmp_path, nodes, {"x": (F, ["n", 8, 4, 6]), "ints": (I32, [1, 8, 2, 4])},
                  [n.output[0] for n in nodes[1:]], opset=28, initializers={"w": weight})
    rng = np.random.default_rng(2)
    feeds = {"x": rng.standard_normal((2, 8, 4, 6)).astype(np.float32),
             "ints": rng.integers(-50, 50, (1, 8, 2, 4)).astype(np.int32)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["d2s_crd"].shape == (2, 2, 8, 12) and expected["s2d_crd"].shape == (2, 32, 2, 3)


@pytest.mark.node
def test_torch_pixel_shuffle_and_unshuffle(tmp_path, tfjs_runtime):
    """torch exports nn.PixelShuffle as DepthToSpace(CRD); PixelUnshuffle's export matches torch in TF.js."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 12, 3, padding=1)
            self.shuffle = torch.nn.PixelShuffle(2)
            self.unshuffle = torch.nn.PixelUnshuffle(2)

        def forward(self, x):
            return self.unshuffle(self.shuffle(self.conv(x)) * 2.0)

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(1, 3, 6, 4)
    path = tmp_path / "pixel.onnx"
    torch.onnx.export(net, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"], output_names=["y"])
    op_types = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "DepthToSpace" in op_types
    with torch.no_grad():
        reference = net(x).numpy()
    expected = _matches_onnxruntime(path, {"x": x.numpy()}, tmp_path)
    np.testing.assert_allclose(expected["y"], reference, rtol=1e-5, atol=1e-5)


# -- matrices -------------------------------------------------------------------------------------
@pytest.mark.node
def test_trilu_eyelike_and_det(tmp_path, tfjs_runtime):
    """Trilu with k computed at run time (and constant, and a dynamic row count), EyeLike, Det of 2x2/3x3, Swish."""
    nodes = [helper.make_node("Trilu", ["m", "k"], ["upper"]),
             helper.make_node("Trilu", ["m", "k"], ["lower"], upper=0),
             helper.make_node("Trilu", ["dyn", "minus_one"], ["lower_const"], upper=0),
             helper.make_node("Trilu", ["ints"], ["upper_int"]),
             helper.make_node("EyeLike", ["m2"], ["eye"], k=1, dtype=I32),
             helper.make_node("EyeLike", ["dyn"], ["eye_dyn"], k=-1),
             helper.make_node("Det", ["a2"], ["det2"]),
             helper.make_node("Det", ["a3"], ["det3"]),
             helper.make_node("Swish", ["m"], ["swish"], alpha=0.5)]
    inputs = {"m": (F, [2, 3, 5]), "k": (I64, []), "dyn": (F, ["r", 4]), "ints": (I32, [4, 3]), "m2": (F, [3, 4]),
              "a2": (F, [2, 2]), "a3": (F, [4, 3, 3])}
    path = _model(tmp_path, nodes, inputs, [n.output[0] for n in nodes], opset=24,
                  initializers={"minus_one": np.array(-1, np.int64)})
    rng = np.random.default_rng(3)
    feeds = {"m": rng.standard_normal((2, 3, 5)).astype(np.float32), "k": np.array(1, np.int64),
             "dyn": rng.standard_normal((3, 4)).astype(np.float32), "ints": rng.integers(-9, 9, (4, 3)).astype(np.int32),
             "m2": rng.standard_normal((3, 4)).astype(np.float32), "a2": rng.standard_normal((2, 2)).astype(np.float32),
             "a3": rng.standard_normal((4, 3, 3)).astype(np.float32)}
    _matches_onnxruntime(path, feeds, tmp_path)


def test_range_accumulating_in_float16_is_refused(tmp_path):
    """Range 27's stash_type=0 adds in float16; TF.js would give the float32 range."""
    h = TensorProto.FLOAT16
    node = helper.make_node("Range", ["a", "b", "c"], ["r"], stash_type=0)
    path = _model(tmp_path, [node], {"a": (h, []), "b": (h, []), "c": (h, [])}, ["r"], opset=27)
    with pytest.raises(InputError, match=r"stash_type=0 .* not supported"):
        tfjsconv.convert(path, tmp_path / "out")


def test_det_of_large_matrices_is_refused(tmp_path):
    path = _model(tmp_path, [helper.make_node("Det", ["a"], ["d"])], {"a": (F, [4, 4])}, ["d"], opset=22)
    with pytest.raises(InputError, match=r"Det of 4x4 matrices is not supported"):
        tfjsconv.convert(path, tmp_path / "out")


# -- Clip -----------------------------------------------------------------------------------------
@pytest.mark.node
def test_clip_with_run_time_bounds_and_min_above_max(tmp_path, tfjs_runtime):
    """Bounds as graph inputs, one-sided, and a constant min above max (every value becomes max)."""
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["both"]),
             helper.make_node("Clip", ["x", "", "hi"], ["upper_only"]),
             helper.make_node("Clip", ["x", "lo_const", "hi"], ["mixed"]),
             helper.make_node("Clip", ["x", "three", "minus_one"], ["inverted"]),
             helper.make_node("Clip", ["ints", "int_lo", "int_hi"], ["ints_clipped"])]
    path = _model(tmp_path, nodes, {"x": (F, [3, 4]), "lo": (F, []), "hi": (F, []), "ints": (I8, [5]),
                                    "int_lo": (I8, []), "int_hi": (I8, [])},
                  [n.output[0] for n in nodes], opset=13,
                  initializers={"lo_const": np.array(-0.5, np.float32), "three": np.array(3.0, np.float32),
                                "minus_one": np.array(-1.0, np.float32)})
    rng = np.random.default_rng(4)
    feeds = {"x": rng.standard_normal((3, 4)).astype(np.float32) * 3, "lo": np.array(0.8, np.float32),
             "hi": np.array(0.2, np.float32), "ints": np.array([-100, -3, 0, 7, 120], np.int8),
             "int_lo": np.array(-5, np.int8), "int_hi": np.array(50, np.int8)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert np.all(expected["inverted"] == -1.0) and np.all(expected["both"] == np.float32(0.2))


@pytest.mark.node
def test_narrow_integer_results_wrap_like_onnxruntime(tmp_path, tfjs_runtime):
    """8/16-bit integers are int32 in TF.js: Shrink's, Cast's and CastLike's out-of-range results must wrap into
    the ONNX type (uint8 2 - 3 is 255, int32 300 as uint8 is 44, float 200 as int8 is -56)."""
    nodes = [helper.make_node("Shrink", ["u8"], ["shrink_u8"], lambd=1.5, bias=3.0),
             helper.make_node("Shrink", ["i8"], ["shrink_i8"], lambd=0.5, bias=-20.0),
             helper.make_node("CastLike", ["i32", "like_u8"], ["i32_as_u8"]),
             helper.make_node("CastLike", ["f", "like_i8"], ["f_as_i8"]),
             helper.make_node("CastLike", ["i32", "like_i16"], ["i32_as_i16"]),
             helper.make_node("CastLike", ["u8", "like_i16"], ["u8_as_i16"]),
             helper.make_node("Cast", ["i32"], ["cast_i32_u8"], to=U8),
             helper.make_node("Cast", ["f"], ["cast_f_i8"], to=I8),
             helper.make_node("Cast", ["i32"], ["cast_i32_i16"], to=I16)]
    inputs = {"u8": (U8, [6]), "i8": (I8, [6]), "i32": (I32, [5]), "f": (F, [5]), "like_u8": (U8, [1]),
              "like_i8": (I8, [1]), "like_i16": (I16, [1])}
    path = _model(tmp_path, nodes, inputs, [n.output[0] for n in nodes])
    feeds = {"u8": np.array([0, 1, 2, 3, 4, 200], np.uint8), "i8": np.array([-128, -100, 0, 100, 110, 127], np.int8),
             "i32": np.array([-1, 256, 300, 40000, -40000], np.int32),
             "f": np.array([200.0, 300.7, -200.2, 255.0, -3.9], np.float32),
             "like_u8": np.array([1], np.uint8), "like_i8": np.array([1], np.int8), "like_i16": np.array([1], np.int16)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["shrink_u8"][2] == 255 and expected["i32_as_u8"].tolist() == [255, 0, 44, 64, 192]
    assert expected["cast_i32_u8"].tolist() == [255, 0, 44, 64, 192] and expected["cast_f_i8"][0] == -56


# -- bitwise --------------------------------------------------------------------------------------
@pytest.mark.node
def test_bitwise_ops_and_shifts_on_small_integers(tmp_path, tfjs_runtime):
    """And/Or/Xor (broadcasting), Not, BitShift (incl. negative and too-wide shifts) and BitCast on 8/16-bit ints."""
    nodes = [helper.make_node("BitwiseAnd", ["a8", "b8"], ["and8"]),
             helper.make_node("BitwiseOr", ["a8", "b8"], ["or8"]),
             helper.make_node("BitwiseXor", ["u8", "v8"], ["xor_u8"]),
             helper.make_node("BitwiseXor", ["a16", "b16"], ["xor16"]),
             helper.make_node("BitwiseNot", ["u8"], ["not_u8"]),
             helper.make_node("BitwiseNot", ["i32"], ["not_i32"]),
             helper.make_node("BitShift", ["a8", "s8"], ["left8"], direction="LEFT"),
             helper.make_node("BitShift", ["a8", "s8"], ["right8"], direction="RIGHT"),
             helper.make_node("BitShift", ["u8", "t8"], ["left_u8"], direction="LEFT"),
             helper.make_node("BitShift", ["a16", "s16"], ["right16"], direction="RIGHT"),
             helper.make_node("BitCast", ["a8"], ["a8_as_u8"], to=U8),
             helper.make_node("BitCast", ["a16"], ["a16_as_u16"], to=TensorProto.UINT16),
             helper.make_node("BitCast", ["u8"], ["u8_as_i8"], to=I8)]
    inputs = {"a8": (I8, [2, 6]), "b8": (I8, [6]), "u8": (U8, [6]), "v8": (U8, [6]), "a16": (I16, [6]),
              "b16": (I16, [6]), "i32": (I32, [4]), "s8": (I8, [2, 6]), "t8": (U8, [6]), "s16": (I16, [6])}
    path = _model(tmp_path, nodes, inputs, [n.output[0] for n in nodes], opset=28)
    feeds = {"a8": np.array([[-128, -77, -1, 0, 45, 127], [3, -3, 64, -64, 100, -100]], np.int8),
             "b8": np.array([-1, 85, -86, 12, 99, 0], np.int8),
             "u8": np.array([0, 1, 77, 128, 200, 255], np.uint8), "v8": np.array([255, 3, 77, 1, 99, 128], np.uint8),
             "a16": np.array([-32768, -1234, -1, 0, 4321, 32767], np.int16),
             "b16": np.array([1, -1, 255, 32767, -4096, 85], np.int16),
             "i32": np.array([-2**31, -5, 0, 2**31 - 1], np.int32),
             "s8": np.array([[0, 1, 3, 7, 8, -1], [2, 9, 6, 1, 127, -128]], np.int8),
             "t8": np.array([0, 1, 7, 8, 3, 255], np.uint8), "s16": np.array([0, 3, 15, 16, -2, 9], np.int16)}
    _matches_onnxruntime(path, feeds, tmp_path)


def test_wide_bitwise_ops_are_refused_together(tmp_path):
    nodes = [helper.make_node("BitwiseAnd", ["a", "a"], ["x"]),
             helper.make_node("BitShift", ["b", "b"], ["y"], direction="LEFT"),
             helper.make_node("BitCast", ["f"], ["z"], to=I32)]
    path = _model(tmp_path, nodes, {"a": (I32, [3]), "b": (I64, [3]), "f": (F, [3])}, ["x", "y", "z"], opset=28)
    with pytest.raises(InputError, match=r"(?s)BitwiseAnd on int32 is not supported.*BitShift on int64.*"
                                         r"BitCast from float32 to int32 is not supported"):
        tfjsconv.convert(path, tmp_path / "out")


# -- generated docs -------------------------------------------------------------------------------
def test_docs_list_every_mapped_op_and_the_opsets():
    """docs/onnx.md's generated section is current (rerun scripts/generate_onnx_support.py after adding a mapping)."""
    spec = importlib.util.spec_from_file_location("generate_onnx_support", ROOT / "scripts" / "generate_onnx_support.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    section = gen.render()
    assert "`DepthToSpace` | 1+" in section and f"opsets **{MIN_OPSET} to {MAX_OPSET}**" in section
    assert gen.main(["--check"]) == 0, "run scripts/generate_onnx_support.py"
