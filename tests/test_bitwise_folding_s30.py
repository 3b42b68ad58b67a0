"""Session 30 (h6): constant bitwise and shift sub-graphs fold with TF's semantics.

TF.js 4.22 has no BitwiseOr/BitwiseXor/LeftShift/RightShift/Invert kernels (and its BitwiseAnd throws on int32), and
the numpy interpreter had no kernels for them either, so a SavedModel whose constants go through such a chain (a
hash, a mask built from a constant) was refused although nothing of it runs at run time. The interpreter now has
kernels that follow TF: shift amounts clamped to [0, bits - 1] (a shift by >= the width or by a negative amount is
not numpy's), left shifts wrapping on the unsigned bits, arithmetic right shifts for signed types. Expected values
come from ``tf.raw_ops``; the folded model runs in TF.js cpu and wasm against the SavedModel.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.interpreter import evaluate_node  # noqa: E402
from tfjsconv.ir import Graph  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

INT_TYPES = (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64)
BINARY_OPS = ("BitwiseAnd", "BitwiseOr", "BitwiseXor", "LeftShift", "RightShift")
BIT_OPS = {*BINARY_OPS, "Invert"}


def _edge_values(dtype) -> np.ndarray:
    """Both extremes, small values, and shift amounts at, past and below the type's width."""
    info = np.iinfo(dtype)
    values = [0, 1, 2, 5, 7, 8, 15, 16, 31, 32, 33, 63, 64, 100, info.max, info.min, info.max - 1]
    if info.min < 0:
        values += [-1, -3, -8, -100, info.min + 1]
    return np.array(values, dtype=dtype)


def _evaluate(op: str, inputs: list[np.ndarray]) -> np.ndarray:
    graph = Graph()
    values = [graph.const(a, name=f"in{i}") for i, a in enumerate(inputs)]
    return evaluate_node(graph.add_node(op, values, {}, name=op.lower()), inputs)[0]


def _assert_same(have: np.ndarray, want: np.ndarray) -> None:
    assert have.dtype == want.dtype and have.shape == want.shape, (have.dtype, want.dtype, have.shape, want.shape)
    np.testing.assert_array_equal(have, want)


@pytest.mark.parametrize("dtype", INT_TYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", BINARY_OPS)
def test_bitwise_kernels_match_tf_raw_ops(op, dtype):
    """Every pairing of edge values (x by every y), and a scalar y broadcast over x."""
    edges = _edge_values(dtype)
    x, y = edges.reshape(-1, 1), edges.reshape(1, -1)
    _assert_same(_evaluate(op, [x, y]), getattr(tf.raw_ops, op)(x=x, y=y).numpy())
    scalar = np.asarray(edges[9])  # 32: the width of int32, past that of int8/int16
    _assert_same(_evaluate(op, [edges, scalar]), getattr(tf.raw_ops, op)(x=edges, y=scalar).numpy())


@pytest.mark.parametrize("dtype", INT_TYPES, ids=lambda d: np.dtype(d).name)
def test_invert_matches_tf_raw_ops(dtype):
    edges = _edge_values(dtype)
    _assert_same(_evaluate("Invert", [edges]), tf.raw_ops.Invert(x=edges).numpy())


CONSTANTS = np.int32([0, 1, -1, 7, -8, 30000, -100, 2**31 - 1, -2**31])
SHIFTS = np.int32([0, 1, 3, 31, 32, 40, -1, 5, 30])
FEED = np.arange(-4, 14, dtype=np.int32).reshape(2, 9)


def _chains(x):
    """x plus constant-only bit chains: all of them fold, none reaches TF.js."""
    c = tf.constant(CONSTANTS)
    shifts = tf.constant(SHIFTS)
    mixed = tf.bitwise.bitwise_xor(tf.bitwise.bitwise_or(c, tf.constant(5)), tf.constant(-3))
    return {"xor_or": x + mixed,
            "left": x + tf.bitwise.left_shift(c, shifts),
            "right": x + tf.bitwise.right_shift(c, shifts),
            "invert_and": x * tf.bitwise.bitwise_and(tf.bitwise.invert(c), tf.constant(0x0F0F)),
            "shift_chain": x + tf.bitwise.right_shift(tf.bitwise.left_shift(c, tf.constant(3)), shifts)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bit_chains")
    module = tf.Module()
    module.f = tf.function(_chains, input_signature=[tf.TensorSpec((None, 9), tf.int32, name="x")])
    tf.saved_model.save(module, str(folder / "sm"), signatures=module.f)
    loaded = tf.saved_model.load(str(folder / "sm")).signatures["serving_default"]
    expected = {k: v.numpy() for k, v in loaded(x=tf.constant(FEED)).items()}
    return folder, expected


@pytest.mark.node
def test_constant_bit_chains_fold_and_run_like_tf(saved, tfjs_runtime):
    """Refused before (BitwiseXor/LeftShift/... have no TF.js kernel and the chain did not fold)."""
    folder, expected = saved
    tfjsconv.convert(folder / "sm", folder / "out", output_format="tfjs_graph_model")
    nodes = json.loads((folder / "out" / "model.json").read_text())["modelTopology"]["node"]
    assert not [n["name"] for n in nodes if n["op"] in BIT_OPS]
    runs = run_model(folder / "out", {"x": FEED}, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            np.testing.assert_array_equal(np.asarray(run.outputs[key]), want, err_msg=f"{backend} {key}")


def _narrow_shifts(x):
    """8/16-bit shifts by counts at and past the width, of constants and of chains that fold only later (``narrow_ints``
    computes 8/16-bit arithmetic in int32 first, where the count would clamp at 31)."""
    bits = tf.bitwise
    out = {}
    for dtype, counts in ((tf.int8, [10, 8, 7, 9]), (tf.uint8, [10, 8, 7, 1]), (tf.int16, [20, 16, 15, 3]),
                          (tf.uint16, [20, 16, 15, 31])):
        name, signed = dtype.name, dtype.min < 0
        values, shifts = tf.constant([1, 3, -1 if signed else 255, 100], dtype), tf.constant(counts, dtype)
        chained = bits.bitwise_or(values, tf.constant(0, dtype))
        counted = bits.bitwise_or(shifts, tf.constant(0, dtype))
        high = tf.constant([-100 if signed else 200, 127, -128 if signed else 128, 7], dtype)
        out[f"{name}_left"] = x + tf.cast(bits.left_shift(values, shifts), tf.int32)
        out[f"{name}_left_chain"] = x + tf.cast(bits.left_shift(chained, counted), tf.int32)
        out[f"{name}_right_chain"] = x + tf.cast(bits.right_shift(bits.bitwise_or(high, tf.constant(0, dtype)),
                                                                  counted), tf.int32)
    return out


@pytest.mark.node
def test_narrow_shifts_by_the_width_fold_like_tf(tmp_path, tfjs_runtime):
    """Session 30 (r6): ``int8(1) << 10`` is -128 in TF (the count clamps at 7); the chain folded to 0 (its shift
    retyped to int32 by ``narrow_ints`` clamped at 31)."""
    module = tf.Module()
    module.f = tf.function(_narrow_shifts, input_signature=[tf.TensorSpec((None, 4), tf.int32, name="x")])
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.f)
    feed = np.zeros((2, 4), np.int32)
    expected = {k: v.numpy() for k, v in
                tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"](x=tf.constant(feed)).items()}
    tfjsconv.convert(tmp_path / "sm", tmp_path / "out", output_format="tfjs_graph_model")
    runs = run_model(tmp_path / "out", {"x": feed}, backends=["cpu", "wasm"], quiet=True)
    for backend, run in runs.backends.items():
        assert run.ok, (backend, run.error)
        for key, want in expected.items():
            np.testing.assert_array_equal(np.asarray(run.outputs[key]), want, err_msg=f"{backend} {key}")
