"""Op-layer arguments and structure the lowering refused where ``--loader=tensorflow`` converts (session 28, issue 16).

- Axes known only at run time: tf_keras records ``tf.reduce_sum(x, axis=tf.shape(x)[1] % 3)``, an axis TF reads when
  the model runs ("argument 'axis' is a tensor whose value is known only at run time"). The reductions,
  ``count_nonzero``, ``argmax``/``argmin``, ``cumsum``/``cumprod``, ``l2_normalize`` (TF 1's ``dim`` too),
  ``reverse``, ``concat``, ``gather``, ``expand_dims`` and ``split`` now move that axis last with a permutation picked
  at run time (one row of a table of ``rank`` rows), lower along ``-1`` as for a constant axis and move the result
  back (``op_layers_tensor_args.lower_at_run_time_axis``). Keras 3's ops take no symbolic axis (they raise when the
  model is built), so these are tf_keras ``.h5`` models. An axis outside the rank fails in TF.js, as TF raises.
- Other keys the graph fixes: a ``tf.range`` ``perm`` and band_part's ``num_lower``/``num_upper`` ("is a tensor").
- Masks through ops that return their input itself: Keras 3's ``rot90`` by whole turns, ``diff(n=0)``,
  ``moveaxis``/``swapaxes`` that move nothing (lowered unmasked before, silently off).
- One masked tensor given twice inside a nested list of a Keras 3 nested model's inputs, whose attention deletes it.

Each family converted once (TensorFlow, Keras and tf_keras poisoned) and run at two or three sizes against Keras's
``model(x)`` in TF.js cpu and wasm. Every family was refused by name or off before session 28
(``/work/notes/probe28/h5/p1.py``, ``p5.py``, ``p7.py``, ``p10.py``, ``p12.py``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

import tfjsconv  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

RUNS = [(2, 3), (3, 4), (2, 5)]  # (batch, length): the length picks the axis (length % 3)


def _axis(x: Any) -> Any:
    """0, 1 or 2 by the run's length: known only at run time."""
    return tf.shape(x)[1] % 3


def reductions(k: Any) -> Any:
    """Every reduction along a run-time axis, positive and negative, a one-item list, keepdims."""
    x = k.Input((None, 4), name="x")
    a = _axis(x)
    return k.Model(x, [
        tf.reduce_sum(x, axis=a), tf.reduce_max(x, axis=a - 3, keepdims=True), tf.reduce_min(x, axis=[a]),
        tf.reduce_mean(x, axis=a, keepdims=True), tf.reduce_prod(x, axis=a), tf.math.reduce_logsumexp(x, axis=a),
        tf.math.reduce_std(x, axis=a - 3), tf.math.reduce_variance(x, axis=a, keepdims=True),
    ])


def moves(k: Any) -> Any:
    """argmax/argmin, cumulative ops, l2_normalize, concat and gather (indices of rank 0, 1 and 2)."""
    x = k.Input((None, 4), name="x")
    a = _axis(x)
    return k.Model(x, [
        tf.math.argmax(x, axis=a, output_type=tf.int32), tf.math.argmin(x, axis=a - 3),
        tf.math.cumsum(x, axis=a, exclusive=True, reverse=True), tf.math.cumprod(x, axis=a - 3),
        tf.math.l2_normalize(x, axis=a), tf.concat([x, 2 * x], axis=a), tf.gather(x, 1, axis=a),
        tf.gather(x, [1, 0, 1], axis=a - 3), tf.gather(x, [[0], [1]], axis=a),
    ])


def integers(k: Any) -> Any:
    """int32 and bool operands: exact max, truncated mean, argmax, any/all, concat of ints."""
    i = k.Input((None, 4), dtype="int32", name="i")
    a = _axis(i)
    return k.Model(i, [
        tf.reduce_max(i, axis=a), tf.reduce_mean(i, axis=a - 3), tf.math.argmax(i, axis=a, output_type=tf.int32),
        tf.reduce_any(i > 0, axis=a), tf.reduce_all(i > -500, axis=a, keepdims=True), tf.concat([i, -i], axis=a),
    ])


def more_moves(k: Any) -> Any:
    """TF 1's ``dim`` of l2_normalize, count_nonzero, euclidean norm, ``reverse(x, [a])``, ``expand_dims`` (its
    axis counts the new one: -4..3 for rank 3), ``split`` into two pieces."""
    x = k.Input((None, 4), name="x")
    a = _axis(x)
    return k.Model(x, [
        tf.compat.v1.nn.l2_normalize(x, dim=a), tf.math.count_nonzero(tf.nn.relu(x), axis=a),
        tf.math.reduce_euclidean_norm(x, axis=a - 3, keepdims=True), tf.reverse(x, axis=[a]),
        tf.expand_dims(x, axis=a), tf.expand_dims(x, axis=a - 4) * 3, tf.expand_dims(x, axis=a + 1) - 1,
        *tf.split(x, 2, axis=a),  # batch 2, length 4, 4 channels: two equal pieces
    ])


def known_keys(k: Any) -> Any:
    """Other keys than ``axis`` the graph fixes when it is built: a ``tf.range`` permutation, band_part's bounds."""
    x = k.Input((None, 4), name="x")
    r = tf.rank(x)
    return k.Model(x, [tf.transpose(x, perm=tf.range(r - 1, -1, -1)), tf.linalg.band_part(x, r - 3, r - 2)])


def vector_axes(k: Any) -> Any:
    """``expand_dims`` along a one-item list or vector axis (TF takes shape ``[1]`` there; refused before: ``/work/
    notes/probe28/h5b/q6.py``), beside a vector-axis sum."""
    x = k.Input((None, 4), name="x")
    a = _axis(x)
    vector = tf.reshape(a, [1])
    return k.Model(x, [tf.expand_dims(x, axis=vector), tf.expand_dims(x, [a - 3]) * 2, tf.reduce_sum(x, axis=vector)])


FAMILIES = {"reductions": reductions, "moves": moves, "integers": integers, "more_moves": more_moves,
            "known_keys": known_keys, "vector_axes": vector_axes}


def _inputs(model: Any, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    """Normal floats (ties broken by chance), int32 in [-1000, 1000] with ties."""
    t = model.inputs[0]
    shape = (batch, length, 4)
    if "int32" in str(t.dtype):
        return {t.name.split(":")[0]: rng.integers(-1000, 1001, shape).astype(np.int32)}
    return {t.name.split(":")[0]: rng.standard_normal(shape).astype(np.float32)}




def rot90_masks(k: Any) -> Any:
    """A masked tensor rotated by whole turns (``k % 4 == 0``): the tensor itself in Keras 3 (its backend's ``return
    array``, eagerly and traced alike), so GlobalAveragePooling1D reads its mask. Lowered unmasked before session 28
    (0.51 where Keras gives 0.31, silently). (tf_keras's ``tf.image.rot90`` by whole turns keeps the mask only
    eagerly: ``model(x)`` and ``predict`` disagree, so it stays refused by name: tests/test_keras_lowering_masks_s18.py.)"""
    x = k.Input((None, 3), name="x")
    m = k.layers.Masking(0.0)(x)
    pool = k.layers.GlobalAveragePooling1D
    return k.Model(x, [pool(name="four")(k.ops.rot90(m, k=4, axes=(1, 2))),
                       pool(name="none")(k.ops.rot90(m, k=-8, axes=(0, 2)))])


def moves_nothing(k: Any) -> Any:
    """Keras 3 ops its TensorFlow backend answers with the masked tensor itself (``moveaxis``/``swapaxes`` that move
    nothing once the axes are canonical, ``diff(n=0)``): GlobalAveragePooling1D reads the mask, as in Keras's
    ``model(x)`` (lowered unmasked before session 28, 0.31 where Keras gives 0.51, silently)."""
    x = k.Input((None, 3), name="x")
    m = k.layers.Masking(0.0)(x)
    pool = k.layers.GlobalAveragePooling1D
    return k.Model(x, [pool(name="moved")(k.ops.moveaxis(m, 1, -2)), pool(name="swapped")(k.ops.swapaxes(m, -1, 2)),
                       pool(name="diffed")(k.ops.diff(m, n=0)), pool(name="moved_twice")(k.ops.moveaxis(m, [1, 2], [1, -1]))])


def nested_twice(k: Any) -> Any:
    """Keras 3: a masked tensor given twice inside a nested model's input structure (``inner([[m, m], m])``,
    ``inner([[m, x], m])``), whose MultiHeadAttention deletes the masks of its query ``b`` and value ``c``, the
    caller's tensor itself: Keras's ``tree.flatten`` pairs the Inputs depth first, so the pooling of ``a``, which
    runs after the attention (shallower), reads ``a`` unmasked where it is that tensor too (refused by name before
    session 28: "which it is given as another input too")."""
    def inner(name: str) -> Any:
        a, b, c = (k.Input((None, 4), name=n) for n in "abc")
        attended = k.layers.MultiHeadAttention(2, 2, name=f"{name}_attention")(b, c)
        pool = k.layers.GlobalAveragePooling1D
        return k.Model([[a, b], c], k.layers.Add()([pool()(a), pool()(attended)]), name=name)

    x = k.Input((None, 4), name="x")
    m = k.layers.Masking(0.0)(x)
    pool = k.layers.GlobalAveragePooling1D
    return k.Model(x, [inner("inner")([[m, m], m]), inner("other")([[m, m], x]), pool(name="after")(m)])


def attended_through_itself(k: Any) -> Any:
    """Keras 3: a MultiHeadAttention reads ``rot90(m, k=4)``, ``moveaxis(m, 1, 1)`` or ``cast(m, "float32")``, the
    masked tensor ``m`` itself, and deletes its mask on that object; the pooling of ``Add([..., m])``, which runs
    after the attention (shallower), reads ``m`` unmasked as in Keras's ``model(x)``. Converted with ``m`` masked
    before (0.29 off, silently: review R5 session 28, ``/work/notes/probe28/r5/p9.py``)."""
    x = k.Input((None, 4), name="x")
    ops = {"turned": lambda m: k.ops.rot90(m, k=4, axes=(0, 1)), "moved": lambda m: k.ops.moveaxis(m, 1, 1),
           "cast": lambda m: k.ops.cast(m, "float32")}
    outputs = []
    for name, op in ops.items():
        m = k.layers.Masking(0.0, name=f"{name}_mask")(x)
        attended = k.layers.MultiHeadAttention(2, 2, name=f"{name}_attention")(op(m), op(m))
        deep = k.layers.Dense(4, name=f"{name}_late")(k.layers.Dense(4, name=f"{name}_deep")(attended))
        outputs.append(k.layers.GlobalAveragePooling1D(name=f"{name}_pool")(k.layers.Add()([deep, m])))
    return k.Model(x, outputs)


def empty_axes(k: Any) -> Any:
    """Keras 3's ``nanmean``/``nanmedian`` over ``axis=()``: the masked tensor itself (``if axis == () or axis == []:
    return x``), so GlobalAveragePooling1D reads its mask and a MultiHeadAttention reading it deletes the mask of
    ``m`` too. Lowered unmasked before (0.32 where Keras gives 0.79, silently: ``/work/notes/probe28/h5b/q1.py``)."""
    x = k.Input((None, 4), name="x")
    m = k.layers.Masking(0.0, name="kept_mask")(x)
    pool = k.layers.GlobalAveragePooling1D
    deleted = k.layers.Masking(0.0, name="deleted_mask")(x)
    same = k.ops.nanmedian(deleted, axis=())
    attended = k.layers.MultiHeadAttention(2, 2, name="attention")(same, same)
    deep = k.layers.Dense(4, name="late")(k.layers.Dense(4, name="deep")(attended))
    return k.Model(x, [pool(name="mean_pool")(k.ops.nanmean(m, axis=())),
                       pool(name="median_pool")(k.ops.nanmedian(m, axis=())),
                       pool(name="after_attention")(k.layers.Add()([deep, deleted]))])


def absolute_of_bools(k: Any) -> Any:
    """Keras 3's ``absolute`` of bools is the tensor itself; TF.js wasm's Abs read the bool bytes as numbers (48, 100
    where Keras gives 1: ``/work/notes/probe28/h5b/q5.py``), so it is lowered as Identity."""
    x = k.Input((None, 4), name="x", dtype="bool")
    return k.Model(x, [k.ops.cast(k.ops.absolute(x), "float32"), k.ops.cast(k.ops.absolute(x), "int32")])


def _bools(model: Any, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    """Random bools."""
    return {model.inputs[0].name.split(":")[0]: rng.random((batch, length, 4)) < 0.5}


def _padded(model: Any, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    """Normal floats, each row padded with zero steps after a random length of at least 1."""
    x = rng.standard_normal((batch, length, model.inputs[0].shape[-1])).astype(np.float32)
    for row, kept in enumerate(rng.integers(1, length, batch)):
        x[row, kept:] = 0
    return {model.inputs[0].name.split(":")[0]: x}


def _inputs_of(model: Any, family: str, rng: np.random.Generator) -> Any:
    """Each run's inputs: padded steps for the masked family, plain draws for the others."""
    if family == "absolute_of_bools":
        return at_runs(_bools, [(2, 5), (3, 4)])(model, family, rng)
    if family in PADDED:
        return at_runs(_padded, [(2, 5), (3, 4)])(model, family, rng)
    return at_runs(_inputs, RUNS)(model, family, rng)


AXIS_CASES = [(family, "tf_keras.h5") for family in FAMILIES]
ROT90_CASES = [("rot90_masks", flavor) for flavor in ("keras3.keras", "keras3.h5")]
NESTED_CASES = [("nested_twice", flavor) for flavor in ("keras3.keras", "keras3.h5")]
IDENTITY_CASES = [("moves_nothing", flavor) for flavor in ("keras3.keras", "keras3.h5")]
DELETED_CASES = [(family, flavor) for family in ("attended_through_itself", "empty_axes", "absolute_of_bools")
                 for flavor in ("keras3.keras", "keras3.h5")]
PADDED = {"rot90_masks": rot90_masks, "nested_twice": nested_twice, "moves_nothing": moves_nothing,
          "attended_through_itself": attended_through_itself, "empty_axes": empty_axes,
          "absolute_of_bools": absolute_of_bools}
converted = converted_fixture("k28_op_args", AXIS_CASES + ROT90_CASES + NESTED_CASES + IDENTITY_CASES + DELETED_CASES,
                              two_size_saver({**FAMILIES, **PADDED}, _inputs_of, seed=281))


@pytest.mark.node
@each_case(AXIS_CASES)
def test_run_time_axes_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(ROT90_CASES + IDENTITY_CASES)
def test_whole_turns_of_masked_tensors_keep_the_mask_as_model_x(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(NESTED_CASES)
def test_one_tensor_twice_in_a_nested_structure_follows_the_deleted_mask(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(DELETED_CASES)
def test_an_attention_deletes_the_mask_of_the_tensor_an_op_returns_itself(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_absolute_of_a_masked_unsigned_tensor_is_refused_by_name(tmp_path):
    """Keras 3's ``absolute`` of a masked uint8 tensor (Masking keeps uint8) is that tensor itself, so the pooling
    after it reads the mask (2.5 where the lowering gave 1.0 before, silently): refused by name, TF poisoned (a cast
    to another dtype after it lowers since session 29: ``test_keras_lowering_masks_s29``)."""
    import re
    import subprocess
    import sys

    import keras
    from test_keras_lowering import POISONED

    x = keras.Input((None, 4), name="x", dtype="uint8")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.ops.absolute(keras.layers.Masking(0)(x)))
    keras.Model(x, pooled).save(tmp_path / "model.keras")
    code = POISONED.split("for path")[0] + "tfjsconv.convert(sys.argv[1], sys.argv[1] + '.out', " \
                                            "output_format='tfjs_graph_model')\n"
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.keras")], capture_output=True, text=True)
    assert out.returncode != 0
    assert re.search(r"'global_average_pooling1d\w*' \(GlobalAveragePooling1D: reads the absolute of a masked uint8 "
                     "tensor, which Keras 3 returns as that tensor itself", out.stderr), out.stderr[-1500:]


@pytest.mark.node
def test_an_axis_outside_the_rank_fails_in_tfjs_as_tensorflow_raises(tmp_path, tfjs_runtime):
    """``axis = length - 5`` of a rank-3 tensor: TF raises for lengths 1 (-4) and 8 (3), TF.js fails on cpu and
    wasm (its GatherV2 of the permutation table checks the row); length 5 (axis 0) runs and matches."""
    import tf_keras as k

    from tfjsconv.verify.run import run_model

    x = k.Input((None, 4), name="x")
    a = tf.shape(x)[1] - 5
    model = k.Model(x, [tf.reduce_sum(x, axis=a), tf.concat([x, x], axis=a), tf.math.argmax(x, axis=a)])
    model.save(tmp_path / "m.h5")
    tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    rng = np.random.default_rng(5)
    for length in (1, 5, 8):
        inputs = {"x": rng.standard_normal((2, length, 4)).astype(np.float32)}
        result = run_model(str(tmp_path / "out"), inputs, backends=("cpu", "wasm"), quiet=True)
        if length == 5:
            want = [np.asarray(o) for o in model(inputs["x"])]
            for backend in ("cpu", "wasm"):
                got = list(result[backend].outputs.values())
                assert all(np.allclose(g, w, atol=1e-5) for g, w in zip(got, want, strict=True)), backend
            continue
        with pytest.raises(tf.errors.InvalidArgumentError):
            model(inputs["x"])
        assert not result["cpu"].ok and not result["wasm"].ok, length
