"""Gaps of the random-model bench closed (issue 16): TimeDistributed over unknown sizes, more op layers (Keras 3's
``swapaxes``, ``moveaxis``, ``flip``, ``repeat``, ``cumsum``, ``where``, softmax over any axis; tf_keras's
``tf.reverse``, ``tf.repeat``, ``tf.where`` ...), Keras 3's masked merges of inputs of different ranks, and
EinsumDense over unknown sizes.

As in ``test_keras_lowering_dynamic_sizes.py``: each model is saved by Keras with its outputs for inputs of two
sizes (the unknown sizes and the batch differ; one run has batch = steps, so that a lower-rank merge input
broadcast from the right would pair the batch with the steps and run, silently wrong), converted once in a process
where TensorFlow, Keras and tf_keras cannot be imported, and the one converted model matches Keras at both sizes on
TF.js cpu and wasm.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def _is_keras3(k) -> bool:
    return k.__name__ == "keras"


def time_distributed_unknown(k):
    """TimeDistributed over inputs whose steps (and image sizes) are unknown, with and without a mask."""
    L = k.layers
    seq = k.Input((None, 2), name="seq")
    frames = k.Input((None, None, None, 3), name="frames")
    masked = k.Input((None, 4), name="masked_seq")
    masked_grid = k.Input((None, 3, 2), name="masked_grid")
    a = L.TimeDistributed(L.Dense(3, activation="tanh"), name="td_dense")(seq)
    b = L.TimeDistributed(L.Conv2D(2, 3, padding="same"), name="td_conv")(frames)
    b = L.TimeDistributed(L.GlobalAveragePooling2D(), name="td_pool")(b)
    c = L.TimeDistributed(L.Dense(3), name="td_masked_dense")(L.Masking(name="masking")(masked))
    c = L.GlobalAveragePooling1D(name="masked_mean")(c)
    d = L.TimeDistributed(L.GRU(3), name="td_gru")(L.Masking(name="masking_grid")(masked_grid))
    return k.Model([seq, frames, masked, masked_grid], [a, b, c, d])


def keras3_ops(k):
    """Keras 3 operations on symbolic tensors (each saved as an operation with its arguments)."""
    o = k.ops
    seq = k.Input((3, 4), name="seq")
    grid = k.Input((2, 3, 4), name="grid")
    return k.Model([seq, grid], [
        o.swapaxes(seq, 1, 2), o.swapaxes(grid, -1, 1), o.moveaxis(grid, 1, -1), o.moveaxis(grid, [1, 2], [3, 1]),
        o.flip(seq, axis=1), o.flip(grid, axis=[1, -1]), o.repeat(seq, 2, axis=1), o.repeat(grid, 3, axis=-1),
        o.cumsum(seq, axis=1), o.cumprod(o.sigmoid(grid), axis=-2), o.expm1(seq),
        o.where(o.greater(seq, 0.2), seq, o.negative(seq)), o.where(seq, 0.5, seq), o.where(grid > 0, grid, -1.0),
        o.softmax(grid, axis=1), o.log_softmax(seq, axis=1), o.softmax(grid, axis=-2),
        o.var(grid, axis=1), o.std(seq, axis=[1, 2], keepdims=True), o.log2(o.abs(seq)), o.log10(o.square(grid)),
        o.round(seq * 3.0), o.round(o.floor(seq * 4.0) * 0.5), o.zeros_like(seq) + o.ones_like(seq),
        o.einsum("abc,adc->abd", seq, o.tanh(seq)), o.einsum("abcd,acd->abc", grid, seq),
        o.einsum("abcd->adcb", grid), o.einsum("...c,abc->...ab", grid, seq),
        o.einsum("bca", seq), o.einsum("dcab", grid)])  # implicit output: sorted after Keras's relabelling


def tf_ops(k):
    """The same through TF functions on tf_keras tensors (TFOpLambda layers)."""
    import tensorflow as tf

    seq = k.Input((3, 4), name="seq")
    grid = k.Input((2, 3, 4), name="grid")
    return k.Model([seq, grid], [
        tf.reverse(seq, axis=[1]), tf.reverse(grid, [1, -1]), tf.repeat(seq, 2, axis=1), tf.repeat(grid, 3, axis=-1),
        tf.math.cumsum(seq, axis=1), tf.math.cumprod(tf.math.sigmoid(grid), axis=-2), tf.math.expm1(seq),
        tf.where(seq > 0.2, seq, -seq), tf.where(grid > 0, grid, -1.0), tf.nn.softmax(grid, axis=1),
        tf.nn.log_softmax(seq, axis=1), tf.linalg.matrix_transpose(grid),
        tf.math.reduce_variance(grid, axis=1), tf.math.reduce_std(seq, axis=[1, 2], keepdims=True),
        tf.math.round(seq * 3.0), tf.math.round(tf.math.floor(seq * 4.0) * 0.5), tf.zeros_like(seq) + tf.ones_like(seq), tf.math.l2_normalize(seq, axis=-1),
        tf.nn.l2_normalize(grid, axis=[1, 2], epsilon=1e-3),
        tf.math.cumsum(seq), tf.math.cumprod(grid)])  # TF's default axis is 0 (the batch), not the flattened tensor


def merge_masks_ranks(k):
    """Masked merges of a rank-3 and a rank-2 input: Keras 3's Maximum/Minimum/Multiply read the masks of the
    inputs of the highest rank only (the others reach them expanded at axis 1, which drops their masks); the
    output carries no mask in Keras 3 (not every input is masked) and the masked input's in tf_keras."""
    L = k.layers
    seq, vec = k.Input((None, 4), name="masked_seq"), k.Input((4,), name="vec")
    plain_seq, masked_vec = k.Input((3, 4), name="seq"), k.Input((4,), name="masked_vec")
    m = L.Masking(name="masking")(seq)
    mv = L.Masking(name="masking_vec")(masked_vec)
    top = L.Maximum(name="max")([m, vec])
    return k.Model([seq, vec, plain_seq, masked_vec], [
        top, L.Minimum(name="min")([vec, m, m]), L.Multiply(name="mul")([vec, m]),
        L.Add(name="add")([m, vec]), L.Maximum(name="max_vec_masked")([plain_seq, mv]),
        L.Multiply(name="mul_vec_masked")([mv, plain_seq]),
        L.GlobalAveragePooling1D(name="mean_after_merge")(top)])  # tf_keras: the merge keeps m's mask


def einsum_unknown(k):
    """EinsumDense equations of Keras's docs and MultiHeadAttention over unknown steps and sizes."""
    L = k.layers
    seq, image = k.Input((None, 4), name="seq"), k.Input((None, None, 4), name="image")
    heads, vec = k.Input((None, 2, 3), name="heads"), k.Input((4,), name="vec")
    columns = k.Input((4, None), name="columns")
    return k.Model([seq, image, heads, vec, columns], [
        L.EinsumDense("abc,cd->abd", (None, 3), bias_axes="d", name="seq_dense")(seq),
        L.EinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="de", name="to_heads")(seq),
        L.EinsumDense("abcd,de->abce", (None, None, 3), bias_axes="e", name="image_dense")(image),
        L.EinsumDense("abcd,cde->abe", (None, 5), bias_axes="e", name="from_heads")(heads),
        L.EinsumDense("abcd,de->abce", (None, 2, 5), name="heads_no_bias")(heads),
        L.EinsumDense("ab,bc->ac", 3, bias_axes="c", activation="relu", name="vec_dense")(vec),
        L.EinsumDense("...b,bc->...c", 3, bias_axes="c", name="left_ellipsis")(image),
        L.EinsumDense("ab...,bc->ac...", (3, None), name="right_ellipsis")(columns)])


FAMILIES = {"time_distributed_unknown": time_distributed_unknown, "keras3_ops": keras3_ops, "tf_ops": tf_ops,
            "merge_masks_ranks": merge_masks_ranks, "einsum_unknown": einsum_unknown}
CASES = [("time_distributed_unknown", "keras3.keras"), ("time_distributed_unknown", "tf_keras.h5"),
         ("keras3_ops", "keras3.keras"), ("keras3_ops", "keras3.h5"), ("tf_ops", "tf_keras.h5"),
         ("merge_masks_ranks", "keras3.keras"), ("merge_masks_ranks", "tf_keras.h5"),
         ("einsum_unknown", "keras3.keras"), ("einsum_unknown", "tf_keras.h5")]
#: (batch, every size the config leaves unknown) of the two runs.
RUNS = [(3, 3), (2, 5)]


def _inputs(model, rng: np.random.Generator, batch: int, size: int) -> dict[str, np.ndarray]:
    """Inputs of ``batch`` items with ``size`` for each unknown size; ``masked*`` inputs get all-zero steps (in the
    middle, at the end, a whole item) for their Masking."""
    inputs = {}
    for t in model.inputs:
        name = t.name.split(":")[0]
        shape = (batch, *(size if d is None else d for d in tuple(t.shape)[1:]))
        value = rng.standard_normal(shape).astype("float32")
        if name.startswith("masked"):
            value[0, 1] = 0.0
            if len(shape) > 2:
                value[1, -1] = value[-1] = 0.0
        inputs[name] = value
    return inputs


converted = converted_fixture("k20_gaps", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=31))


@pytest.mark.node
@each_case(CASES)
def test_closed_gaps_lower_and_match_keras_at_two_sizes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def _refused(tmp_path: Path, model, needle: str) -> None:
    import tfjsconv
    from tfjsconv.errors import UsageError

    model.save(tmp_path / "model.keras")
    with pytest.raises(UsageError, match=needle) as err:
        tfjsconv.convert(tmp_path / "model.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value.hint)


def test_repeat_without_axis_stays_refused_by_name(tmp_path):
    """``repeat`` without an axis flattens the batch into the steps: refused by name."""
    seq = keras.Input((3, 4), name="seq")
    _refused(tmp_path, keras.Model(seq, keras.ops.repeat(seq, 2)), r"'repeat\w*' \(Repeat\): repeats=2 along axis=None")


def test_masked_merge_of_every_input_over_ranks_stays_refused_by_name(tmp_path):
    """Every input masked and ranks that differ: Keras 3 would OR masks of different shapes for the output."""
    L = keras.layers
    seq, vec = keras.Input((3, 4), name="seq"), keras.Input((4,), name="vec")
    out = L.Maximum(name="max")([L.Masking(name="m1")(seq), L.Masking(name="m2")(vec)])
    _refused(tmp_path, keras.Model([seq, vec], out), r"'max' \(Maximum\): masks on inputs of ranks \[3, 2\]")


def test_keras3_softmax_over_every_axis_stays_refused_by_name(tmp_path):
    """Keras 3's ``softmax(x, axis=None)`` normalizes over the flattened tensor, batch included (tf_keras's
    ``tf.nn.softmax`` takes None for the last axis): refused by name, not lowered over the last axis."""
    seq = keras.Input((3, 4), name="seq")
    _refused(tmp_path, keras.Model(seq, keras.ops.log_softmax(seq, axis=None)),
             r"'log_softmax\w*' \(LogSoftmax\): axis=None")


def test_einsum_over_ellipsis_axes_of_unknown_sizes_stays_refused_by_name(tmp_path):
    """An ellipsis axis both operands share, unknown in both beyond the batch, may broadcast 1 against n at run time
    as TF's einsum does (``[B, 1, 3, 4]`` with ``[B, 5, 4, 2]``): refused by name."""
    a, b = keras.Input((None, 3, 4), name="a"), keras.Input((None, 4, 2), name="b")
    _refused(tmp_path, keras.Model([a, b], keras.ops.einsum("...ij,...jk->...ik", a, b)),
             r"'einsum\w*' \(Einsum\): subscripts '\.\.\.ij,\.\.\.jk->\.\.\.ik' on shapes")


@pytest.mark.parametrize("op,key,value", [
    ("swapaxes", "axis1", "a"), ("swapaxes", "axis2", 99), ("repeat", "repeats", [1, 2]), ("repeat", "repeats", -3),
    ("moveaxis", "source", [1, 1]), ("moveaxis", "destination", "x"), ("cumsum", "axis", True),
    ("einsum", "subscripts", "ab,,->"), ("einsum", "subscripts", 5), ("einsum", "subscripts", "aab,ab->b"),
    ("einsum", "subscripts", "\u00e4bc,\u00e4bc->\u00e4b"), ("repeat", "repeats", 2**40), ("flip", "axis", [1, -2]),
])
def test_hostile_op_arguments_are_refused_by_name(tmp_path, op, key, value):
    """Edited operation configs (wrong types, axes out of range, repeated axes, broken subscripts) are gaps naming
    the operation, or input errors; never a crash or a model computing something else."""
    import tfjsconv
    from keras_models import edit_layer_config
    from tfjsconv.errors import InputError, UsageError

    o = keras.ops
    seq = keras.Input((3, 4), name="seq")
    outs = {"swapaxes": o.swapaxes(seq, 1, 2), "repeat": o.repeat(seq, 2, axis=1),
            "moveaxis": o.moveaxis(seq, 1, 2), "cumsum": o.cumsum(seq, axis=1), "einsum": o.einsum("abc,abc->ab", seq, seq),
            "flip": o.flip(seq, axis=1)}
    keras.Model(seq, outs[op]).save(tmp_path / "op.h5")
    edit_layer_config(tmp_path / "op.h5", op, key, value)
    with pytest.raises((UsageError, InputError)) as err:
        tfjsconv.convert(tmp_path / "op.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert op in str(err.value), err.value
