"""Matmuls over an inner dimension that is known to be 0 give TF's zeros (session 21, ``empty_reductions``).

A ``MatMul`` whose inner size is a known 0 is a sum of nothing: TF gives zeros. TF.js's wasm kernel returns
uninitialised memory for it (3.6e-41 in the first element; webgl throws), and with the batch unknown the pass
rewrote nothing before: a Keras ``Input((0,)) -> Dense`` gave garbage on wasm where Keras gives the bias, through
the lowering and the traced path alike. Such a matmul (``MatMul``, ``BatchMatMulV2``, an ``Einsum`` after its
lowering, whose reshape also used ``-1`` over 0 elements, which TF.js cannot infer) now becomes a ``Fill`` of zeros
of the output shape read from the operands at run time. Expected values: TF (``tf.raw_ops`` GraphDef through the
TF-free reader) and Keras ``model(x)`` (the lowering with TensorFlow, Keras and tf_keras poisoned; the traced path);
the converted models run in TF.js cpu and wasm.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keras_two_sizes import converted_fixture, each_case, normal_inputs_at, two_size_saver, verify_runs
from tf_models import cpu_and_wasm_outputs, raw_ops_graph

W = np.random.default_rng(21).standard_normal((0, 3)).astype(np.float32)
RAW_OUTPUTS = ["matmul", "matmul_t", "matmul_int", "batch_matmul", "batch_matmul_both", "einsum"]


def _build(tf: Any) -> None:
    v1 = tf.compat.v1
    a = v1.placeholder(tf.float32, [None, 0], name="a")
    at = v1.placeholder(tf.float32, [0, None], name="at")
    n = v1.placeholder(tf.int32, [None, 0], name="n")
    x = v1.placeholder(tf.float32, [None, 2, 0], name="x")
    y = v1.placeholder(tf.float32, [None, 0, 3], name="y")
    raw = tf.raw_ops
    raw.MatMul(a=a, b=W, name="matmul")
    raw.MatMul(a=at, b=W, transpose_a=True, name="matmul_t")
    raw.MatMul(a=n, b=tf.zeros((0, 4), tf.int32), name="matmul_int")
    raw.BatchMatMulV2(x=x, y=W, name="batch_matmul")
    raw.BatchMatMulV2(x=x[:, None], y=y, name="batch_matmul_both")  # both batches unknown: broadcast at run time
    raw.Einsum(inputs=[x, W], equation="bij,jk->bik", name="einsum")


def _feeds(batch: int) -> dict[str, np.ndarray]:
    return {"a": np.zeros((batch, 0), np.float32), "at": np.zeros((0, batch), np.float32),
            "n": np.zeros((batch, 0), np.int32), "x": np.zeros((batch, 2, 0), np.float32),
            "y": np.zeros((batch + 1, 0, 3), np.float32)}


@pytest.mark.node
@pytest.mark.parametrize("batch", [3, 1])
def test_raw_matmuls_over_a_known_empty_inner_dimension_give_zeros(tmp_path: Path, tfjs_runtime: Path,
                                                                   batch: int) -> None:
    feeds = _feeds(batch)
    source, want = raw_ops_graph(tmp_path / "empty.pb", _build, feeds, RAW_OUTPUTS)
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", feeds, RAW_OUTPUTS)
    for name in RAW_OUTPUTS:
        for backend, got in (("cpu", cpu), ("wasm", wasm)):
            assert got[name].shape == want[name].shape, (name, backend, got[name].shape)
            assert np.array_equal(got[name], want[name]), (name, backend, got[name].reshape(-1)[:4])
    ops = {n["name"]: n["op"] for n in json.loads((tmp_path / "out" / "model.json").read_text())
           ["modelTopology"]["node"]}
    assert not {"MatMul", "BatchMatMulV2", "_FusedMatMul", "Einsum"} & set(ops.values()), ops


def _dense(k: Any) -> Any:
    x = k.Input((0,), name="x")
    return k.Model(x, k.layers.Dense(3)(x))


def _einsum_dense(k: Any) -> Any:
    x = k.Input((0,), name="x")
    return k.Model(x, k.layers.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="c")(x))


def _dense_over(shape: tuple[int, ...]) -> Any:
    """A Dense over a rank-3+ input with a static 0 axis (C1: the lowering flattened around its MatMul and
    reshaped back with ``-1`` for the batch, which TF.js cannot infer over 0 elements)."""
    def build(k: Any) -> Any:
        x = k.Input(shape, name="x")
        return k.Model(x, k.layers.Dense(3)(x))

    return build


def _einsum_dense_3d(k: Any) -> Any:
    x = k.Input((0, 4), name="x")
    return k.Model(x, k.layers.EinsumDense("abc,cd->abd", output_shape=(None, 3), bias_axes="d")(x))


FAMILIES = {"dense": _dense, "einsum_dense": _einsum_dense, "dense_3x0": _dense_over((3, 0)),
            "dense_0x4": _dense_over((0, 4)), "dense_2x0x4": _dense_over((2, 0, 4)),
            "einsum_dense_0x4": _einsum_dense_3d}
#: Families whose output holds elements (the bias): zeros there would also match uninitialised memory that is 0.
BIASED = ("dense", "einsum_dense", "dense_3x0")
CASES = [("dense", "keras3.keras"), ("dense", "tf_keras.h5"), ("einsum_dense", "keras3.keras"),
         ("einsum_dense", "keras3.h5"), ("dense_3x0", "keras3.keras"), ("dense_3x0", "tf_keras.h5"),
         ("dense_0x4", "keras3.keras"), ("dense_0x4", "tf_keras.h5"), ("dense_2x0x4", "keras3.h5"),
         ("einsum_dense_0x4", "keras3.keras")]
SIZES = {"dense": [[(2, 0)], [(5, 0)]], "einsum_dense": [[(2, 0)], [(5, 0)]], "dense_3x0": [[(2, 3, 0)], [(5, 3, 0)]],
         "dense_0x4": [[(2, 0, 4)], [(5, 0, 4)]], "dense_2x0x4": [[(2, 2, 0, 4)], [(5, 2, 0, 4)]],
         "einsum_dense_0x4": [[(2, 0, 4)], [(5, 0, 4)]]}

converted = converted_fixture("empty_contraction", CASES, two_size_saver(FAMILIES, normal_inputs_at(SIZES), seed=21))


@pytest.mark.node
@each_case(CASES)
def test_keras_layer_over_a_static_empty_axis_matches_keras(converted: dict, tfjs_runtime: Path, family: str,
                                                               flavor: str) -> None:
    path, runs, _ = converted[(family, flavor)]
    if family in BIASED:
        assert all(np.any(outputs[0] != 0) for _, outputs in runs)  # the bias, not zeros garbage could match
    verify_runs(path, runs)


@pytest.mark.node
def test_traced_dense_over_an_empty_feature_axis_gives_its_bias(converted: dict, tfjs_runtime: Path) -> None:
    import tfjsconv
    from test_keras_lowering import _verify

    path, runs, _ = converted[("dense", "keras3.keras")]
    out = path.parent / "traced"
    tfjsconv.convert(path, out, output_format="tfjs_graph_model", loader="tensorflow")
    for inputs, outputs in runs:
        _verify(out, inputs, outputs)


@pytest.mark.node
def test_onnx_gemm_and_matmul_over_a_known_empty_inner_dimension(tmp_path: Path, tfjs_runtime: Path) -> None:
    """The ONNX frontend's matmuls get the same rewrite: ``Gemm`` gives its bias, ``MatMul`` zeros."""
    from onnx import TensorProto, helper

    from onnx_models import matches_onnxruntime, onnx_model

    bias = np.float32([-0.66, 0.25, 1.5])
    path = onnx_model(tmp_path / "empty.onnx", [
        helper.make_node("Gemm", ["a", "w"], ["gemm"], name="gemm"),
        helper.make_node("Add", ["gemm", "bias"], ["gemm_bias"], name="add"),
        helper.make_node("MatMul", ["x", "w"], ["matmul"], name="matmul"),
    ], {"a": (TensorProto.FLOAT, ["n", 0]), "x": (TensorProto.FLOAT, ["n", 2, 0])}, ["gemm_bias", "matmul"],
        initializers={"w": W, "bias": bias})
    for batch in (3, 1):
        feeds = {"a": np.zeros((batch, 0), np.float32), "x": np.zeros((batch, 2, 0), np.float32)}
        expected = matches_onnxruntime(path, feeds, tmp_path / f"out{batch}")
        assert np.array_equal(expected["gemm_bias"], np.broadcast_to(bias, (batch, 3)))


def test_a_reshape_over_an_axis_of_size_0_is_refused_by_name(tmp_path: Path) -> None:
    """Layers that flatten through a reshape with the batch as -1 (Flatten, LSTM's projection, MultiHeadAttention)
    over an axis of size 0: TF.js cannot infer the -1 over 0 elements ("Cannot infer the missing size"), so the
    lowering refuses them by name rather than emit a model that throws."""
    import keras

    import tfjsconv
    from tfjsconv.errors import UsageError

    x = keras.Input((0, 3), name="x")
    keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten(name="flatten")(x))).save(tmp_path / "m.keras")
    with pytest.raises(UsageError, match=r"'flatten' \(Flatten\): reshape to \[None, 0\] over an axis of size 0"):
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
