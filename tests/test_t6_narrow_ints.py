"""8/16-bit and unsigned integers in graph models compute what TensorFlow / onnxruntime compute.

TF.js's graph loader reads int16/uint16/uint32/uint64/bfloat16 dtype attrs as null (a Cast to int16 failed
to run) and holds every integer as int32, where TF and onnxruntime wrap 8/16-bit results around (uint8
200 + 100 is 44, int8 -(-128) is -128, int32 300 as uint8 is 44). Each model here is built with TF
(SavedModel) or the onnx helper, converted, run in TF.js cpu and wasm, and compared exactly with TF /
onnxruntime (``core/passes/narrow_ints.py``; ONNX: ``plugins/onnx/translate.py`` ``_wrap_narrow_overflow``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.errors import UnsupportedOpsError  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

BACKENDS = ("cpu", "wasm")
S = tf.TensorSpec


def _tfjs_feeds(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """TF.js takes integer inputs as int32."""
    return {k: v.astype(np.int32) if v.dtype.kind in "iu" else v for k, v in feeds.items()}


def assert_exact(model_dir: Path, feeds: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    """Every output equal to the reference on every backend, integers as int32 (TF.js's only integer)."""
    result = run_model(model_dir, _tfjs_feeds(feeds), backends=BACKENDS, quiet=True)
    for backend in BACKENDS:
        outputs = result.outputs(backend)
        for key, want in expected.items():
            got = outputs[key]
            assert got.shape == want.shape, (backend, key, got.shape, want.shape)
            assert got.dtype.kind == ("i" if want.dtype.kind in "iu" else want.dtype.kind), (backend, key, got.dtype)
            assert np.array_equal(got.astype(np.float64), want.astype(np.float64), equal_nan=True), \
                (backend, key, want.tolist(), got.tolist())


def nodes_of(model_dir: Path) -> list[dict]:
    return json.loads((model_dir / "model.json").read_text())["modelTopology"]["node"]


def saved(tmp_path_factory, name: str, fn, signature) -> Path:
    module = tf.Module()
    module.f = tf.function(fn, input_signature=signature)
    path = tmp_path_factory.mktemp(name) / "model"
    tf.saved_model.save(module, str(path), signatures=module.f)
    return path


def reference(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    loaded = tf.saved_model.load(str(path))
    outputs = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in feeds.items()})
    return {k: v.numpy() for k, v in outputs.items()}


# -- SavedModel: casts, arithmetic, reductions, comparisons, gathers and outputs on narrow ints ---------------
def narrow_ops(f, i, s, u, b):
    return {
        # floats beyond the range are refused (test_rt6_narrow_int_ranges): these are clipped, then truncated
        "f_i8": tf.cast(tf.clip_by_value(f, -128.0, 127.0), tf.int8), "f_u8": tf.saturate_cast(f, tf.uint8),
        "f_i16": tf.saturate_cast(f, tf.int16), "f_u16": tf.cast(tf.clip_by_value(f, 0.0, 65535.0), tf.uint16),
        "i_u8": tf.cast(i, tf.uint8), "i_i8": tf.cast(i, tf.int8), "i_i16": tf.cast(i, tf.int16),
        "i_u16": tf.cast(i, tf.uint16),
        "s_add": s + s, "s_mul": s * s, "s_sub": s - tf.constant(30000, tf.int16), "s_neg": -s,
        "s_abs": tf.abs(s), "s_f": tf.cast(s, tf.float32), "s_gt": s > 3, "s_gather": tf.gather(s, [1, 0, 4]),
        "s_max": tf.reduce_max(s), "s_cumsum": tf.cumsum(s), "s_floordiv": tf.math.floordiv(s, -1),
        "s_out": s, "s_i8": tf.cast(s, tf.int8), "s_u16": tf.cast(s, tf.uint16),
        "u_add": u + u, "u_sub": u - tf.constant(1, tf.uint8), "u_f": tf.cast(u, tf.float32),
        "u_sum": tf.reduce_sum(u), "u_prod": tf.reduce_prod(u[3:5]), "u_i32": tf.cast(u, tf.int32),
        "u_mean": tf.reduce_mean(u), "u_u32": tf.cast(u, tf.uint32) * 3 + 7,
        "b_i16": tf.cast(b, tf.int16),
    }


NARROW_SIGNATURE = [S([6], tf.float32, name="f"), S([6], tf.int32, name="i"), S([6], tf.int16, name="s"),
                    S([6], tf.uint8, name="u"), S([6], tf.bool, name="b")]
NARROW_FEEDS = {"f": np.array([2.7, -2.7, 300.5, 70000.9, -40000.5, 0.5], np.float32),
                "i": np.array([300, -1, 255, 70000, -129, 128], np.int32),
                "s": np.array([200, -300, 32767, 181, -32768, 4], np.int16),
                "u": np.array([200, 100, 255, 3, 2, 128], np.uint8),
                "b": np.array([True, False, True, True, False, False])}


@pytest.fixture(scope="module")
def narrow_saved_model(tmp_path_factory):
    return saved(tmp_path_factory, "narrow", narrow_ops, NARROW_SIGNATURE)


@pytest.fixture(scope="module", params=["auto", "tensorflow"])
def narrow_model(request, narrow_saved_model, tmp_path_factory):
    """Converted TF-free and through TF's own loader (Grappler): the pass sees both graphs."""
    out = tmp_path_factory.mktemp(f"narrow_out_{request.param}") / "web"
    tfjsconv.convert(narrow_saved_model, out, loader=request.param)
    return narrow_saved_model, out


@pytest.mark.node
def test_narrow_int_casts_and_arithmetic_match_tf(narrow_model, tfjs_runtime):
    path, out = narrow_model
    expected = reference(path, NARROW_FEEDS)
    assert expected["i_u8"][0] == 44 and expected["s_add"][2] == -2 and expected["s_neg"][4] == -32768
    assert_exact(out, NARROW_FEEDS, expected)


def test_dtype_attrs_are_ones_tfjs_reads(narrow_model):
    """TF.js's parseDtypeParam reads int16/uint16/uint32/uint64/bfloat16 as null: none may remain."""
    _, out = narrow_model
    unknown = {"DT_INT16", "DT_UINT16", "DT_UINT32", "DT_UINT64", "DT_BFLOAT16"}
    text = (out / "model.json").read_text()
    assert not [name for name in unknown if name in text]


# -- what needs no rewrite stays as it was -------------------------------------------------------------------
def image_ops(x, f):
    scaled = tf.cast(x, tf.float32) / 255.0
    ids = tf.cast(x, tf.int32) + 1
    clipped = tf.cast(tf.clip_by_value(f, 0.0, 255.0), tf.uint8)
    return {"scaled": scaled, "ids": ids, "clipped": clipped, "widened": tf.cast(x, tf.int16) * 2}


@pytest.mark.node
def test_uint8_images_and_in_range_casts_add_no_nodes(tmp_path_factory, tfjs_runtime):
    """uint8 → float/int32, uint8 → int16 × 2 (at most 510) and a cast of a clipped float stay as TF built them."""
    path = saved(tmp_path_factory, "image", image_ops, [S([1, 2, 2, 3], tf.uint8, name="x"), S([4], tf.float32,
                                                                                                 name="f")])
    out = tmp_path_factory.mktemp("image_out") / "web"
    tfjsconv.convert(path, out)
    ops = [n["op"] for n in nodes_of(out)]
    assert "FloorMod" not in ops and not [n for n in nodes_of(out) if "/narrow" in n["name"]], ops
    feeds = {"x": np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3) * 21,
             "f": np.array([-3.5, 0.9, 254.99, 300.0], np.float32)}
    assert_exact(out, feeds, reference(path, feeds))


# -- refusals ----------------------------------------------------------------------------------------------------
def _refused(tmp_path_factory, name: str, fn, signature) -> str:
    path = saved(tmp_path_factory, name, fn, signature)
    with pytest.raises(UnsupportedOpsError) as caught:
        tfjsconv.convert(path, tmp_path_factory.mktemp(f"{name}_out") / "web")
    return str(caught.value)


def test_values_tfjs_int32_cannot_hold_are_refused_by_name(tmp_path_factory):
    """A possibly negative int32 cast to uint32 (4294967295 in TF) and uint32 sums are refused, naming the nodes."""
    message = _refused(tmp_path_factory, "wide_unsigned",
                       lambda i, u: {"a": tf.cast(i, tf.uint32, name="to_u32"), "b": tf.add(u, u, name="u32_sum")},
                       [S([3], tf.int32, name="i"), S([3], tf.uint32, name="u")])
    assert "dtypes TF.js cannot compute as TensorFlow does" in message
    assert "to_u32" in message and "u32_sum" in message and "2^31" in message
    assert len(message.splitlines()) == 2  # the problems on one line, then the hint


def test_bfloat16_arithmetic_is_refused_by_name(tmp_path_factory):
    """TF rounds every bfloat16 result to 8 significant bits; TF.js computes float32: refused, not approximated."""
    message = _refused(tmp_path_factory, "bf16", lambda f: {"y": tf.cast(tf.cast(f, tf.bfloat16, name="to_bf16"),
                                                                          tf.float32)},
                       [S([3], tf.float32, name="f")])
    assert "to_bf16" in message and "bfloat16" in message


# -- ONNX ------------------------------------------------------------------------------------------------------
@pytest.mark.node
def test_onnx_narrow_int_arithmetic_matches_onnxruntime(tmp_path, tfjs_runtime):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto as TP
    from onnx import helper

    from onnx_models import onnx_model

    N = helper.make_node
    nodes = [N("Add", ["u8", "u8"], ["u8_add"]), N("Mul", ["i8", "i8"], ["i8_mul"]), N("Sub", ["u8", "v8"], ["u8_sub"]),
             N("Neg", ["i8"], ["i8_neg"]), N("Abs", ["i8"], ["i8_abs"]), N("Add", ["s16", "s16"], ["s16_add"]),
             N("Cast", ["f"], ["f_i16"], to=TP.INT16), N("Cast", ["i32"], ["i32_u16"], to=TP.UINT16),
             N("Gather", ["s16", "idx"], ["s16_gather"]), N("Less", ["s16", "s16b"], ["s16_less"]),
             N("Cast", ["u8"], ["u8_f"], to=TP.FLOAT)]
    inputs = {"u8": (TP.UINT8, [6]), "v8": (TP.UINT8, [6]), "i8": (TP.INT8, [6]), "f": (TP.FLOAT, [6]),
              "i32": (TP.INT32, [6]), "s16": (TP.INT16, [6]), "s16b": (TP.INT16, [6]), "idx": (TP.INT64, [2])}
    path = onnx_model(tmp_path / "m.onnx", nodes, inputs, [n.output[0] for n in nodes], opset=18, name="t6")
    feeds = {"u8": np.array([200, 100, 255, 3, 0, 128], np.uint8), "v8": np.array([201, 1, 0, 4, 1, 128], np.uint8),
             "i8": np.array([-128, 100, 127, -3, 0, 12], np.int8),
             "f": np.array([2.7, -2.7, 70000.5, 32767.9, -40000.2, 0.5], np.float32),
             "i32": np.array([300, -1, 65535, 70000, -129, 128], np.int32),
             "s16": np.array([200, -300, 32767, 181, -32768, 4], np.int16),
             "s16b": np.array([0, 0, 0, 200, 0, 5], np.int16), "idx": np.array([2, 4], np.int64)}
    assert onnx.checker.check_model(onnx.load(str(path))) is None
    names = [n.output[0] for n in nodes]
    expected = dict(zip(names, ort.InferenceSession(str(path)).run(None, feeds)))
    assert expected["u8_add"][0] == 144 and expected["i8_neg"][0] == -128
    tfjsconv.convert(path, tmp_path / "out")
    assert_exact(tmp_path / "out", {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in feeds.items()},
                 expected)


# -- loops ------------------------------------------------------------------------------------------------------
def int8_loop(x, n):
    def body(i, acc):
        return i + 1, acc * tf.constant(3, tf.int8) + x
    _, acc = tf.while_loop(lambda i, acc: i < n, body, [tf.constant(0), tf.zeros([3], tf.int8)])
    return {"acc": acc, "s16": tf.cast(acc, tf.int16) * 300}


@pytest.mark.node
def test_int8_arithmetic_in_a_loop_wraps_or_is_refused_in_kept_functions(tmp_path_factory, tfjs_runtime):
    """Lowered to v1 frames the loop body is rewritten like the rest; kept as a function (--control_flow_v2) it
    would be written as it is, so its 8/16-bit arithmetic is refused by name instead of losing the wrap-around."""
    path = saved(tmp_path_factory, "loop", int8_loop, [S([3], tf.int8, name="x"), S([], tf.int32, name="n")])
    out = tmp_path_factory.mktemp("loop_out") / "web"
    tfjsconv.convert(path, out)
    feeds = {"x": np.array([5, -7, 100], np.int8), "n": np.array(6, np.int32)}
    expected = reference(path, feeds)
    assert expected["acc"].tolist() != (feeds["x"].astype(np.int64) * 364).tolist()  # it did wrap in TF
    assert_exact(out, feeds, expected)
    with pytest.raises(UnsupportedOpsError, match=r"while_body\w* \(8/16-bit Mul .* wrap-around would be lost"):
        tfjsconv.convert(path, tmp_path_factory.mktemp("loop_v2") / "web", control_flow_v2=True)
