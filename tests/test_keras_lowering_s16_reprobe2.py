"""Session 16 H6: the integer-mean gaps H3 left (issue 16; probes in /work/notes/probe16/h6_*.py).

- tf_keras's TimeDistributed(GlobalAveragePooling1D/2D) of integers: each step's exact mean truncated toward zero,
  as the unwrapped pool (:func:`tfjsconv.plugins.keras.lowering.pooling.integer_mean`), was refused on int32; it
  now lowers (over run-time and large counts too), its result tracked in the input's dtype so that a merge after
  it computes in that dtype (int32 wrapping; int16 wrapping in int16). With a mask tf_keras divides the masked sums
  into floats: lowered on int32 as the unwrapped masked mean, refused by name on int64 and 8/16-bit integers (Keras
  sums those in their dtype, wrapping).
- tf_keras's masked GlobalAveragePooling1D of 8/16-bit integers (int8, int16, uint8, uint16; per step too): tf_keras
  sums ``x · mask`` and the mask in their dtype, both wrapping (128 kept int8 steps count -128, 256 count 0: ``sum /
  0``, ±Inf or NaN), then divides in float32; refused by name before (uint8), or converted with float32 sums
  (inside a TimeDistributed). Now the int32 sums wrapped into the dtype (``integer_means.narrow_masked_mean``).
- tf_keras's ``tf.reduce_mean`` of int32 over counts of 2^14 values or more, or known only at run time (the batch
  among the axes), was refused; it now lowers exactly through the byte sums of
  :func:`tfjsconv.plugins.keras.lowering.integer_means.byte_mean` (up to 4 202 512 values; a known count past that is
  refused by name). The traced path (``--loader=tensorflow``) runs TF.js's Mean there: right for small counts only.

Expected values from tf_keras's own ``model(x)``, converted with TensorFlow, Keras and tf_keras poisoned, run in
TF.js (cpu and wasm), exactly; one converted model at two input sizes.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
tf_keras = pytest.importorskip("tf_keras")

from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402

#: int32 values float32 does not hold, the extremes, negatives and small ones.
EDGES = [2**31 - 1, -2**31, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 46341, -3, 0, 1]


def _ids(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Random ids over the dtype's range with the int32 edges first; for int32, the first channel of the first and
    last row all at 2^31 - 1 and -2^31 (sums far past int32) and the last channel of the last row -1 with one 0 (a
    mean just below zero, truncated to 0)."""
    info = np.iinfo(dtype)
    out = rng.integers(info.min, info.max, shape, endpoint=True, dtype=np.int64).reshape(-1)
    if dtype == "int32":
        out[:len(EDGES)] = EDGES[:out.size]
        out = out.reshape(shape)
        out[0, ..., 0], out[-1, ..., 0] = 2**31 - 1, -2**31
        out[-1, ..., -1] = -1
        out[-1].reshape(-1, shape[-1])[0, -1] = 0
    return out.reshape(shape).astype(dtype)


def _masked_ids(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Ids below 2^20 in magnitude (Keras sums the kept ones in int32 and divides into float64: exact in float32
    for these), whole masked steps (all zero), and one step with every value masked (0/0: NaN in Keras)."""
    out = rng.integers(-2**20, 2**20, shape)
    out[0, 0, :2] = 0
    out[-1, -1] = 0
    return out.astype("int32")


def _narrow(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """8/16-bit values for a Masking(0): the first row every step kept, its first channel at the dtype's max (the
    sum wraps; 256 steps of int8/uint8 make the count wrap to 0), the second row's first three steps masked (all
    channels 0), the last row all masked (0 / 0: NaN)."""
    info = np.iinfo(dtype)
    out = rng.integers(info.min, info.max, shape, endpoint=True)
    out[0][out[0] == 0] = 1
    out[0, :, 0] = info.max
    out[1, :3] = 0
    out[-1] = 0
    return out.astype(dtype)


def model():
    """tf_keras TimeDistributed global average pools of integers (run-time steps and per-step sizes, a known
    20 000-value count, int16 with an Add after it, int32 with an Add after it, masked int32) and ``tf.reduce_mean``
    of int32 over a run-time axis, over every axis (the batch among them), over the batch and steps with keepdims,
    and over a known 20 000 steps."""
    import tensorflow as tf

    k, L = tf_keras, tf_keras.layers
    t = k.Input((None, None, 2), name="t", dtype="int32")
    u = k.Input((3, 4, 5, 2), name="u", dtype="int32")
    w = k.Input((2, 20000, 1), name="w", dtype="int32")
    h = k.Input((None, 6, 2), name="h", dtype="int16")
    m = k.Input((None, 6, 2), name="m", dtype="int32")
    a = k.Input((None, 3), name="a", dtype="int32")
    big = k.Input((20000, 2), name="big", dtype="int32")
    narrow = {name: k.Input(shape, name=name, dtype=name.split("_")[0]) for name, shape in (
        ("int8_300", (300, 2)), ("int8_256", (256, 3)), ("int16_steps", (None, 3)), ("uint8_260", (260, 2)),
        ("uint16_steps", (None, 2)), ("int16_frames", (None, 6, 2)))}
    masked = {name: L.Masking(0)(x) for name, x in narrow.items()}
    per_step = L.TimeDistributed(L.GlobalAveragePooling1D(), name="td_gap1")(t)
    short = L.TimeDistributed(L.GlobalAveragePooling1D(), name="td_gap_i16")(h)
    outs = [per_step, L.TimeDistributed(L.GlobalAveragePooling2D(keepdims=True), name="td_gap2")(u),
            L.TimeDistributed(L.GlobalAvgPool1D(), name="td_big")(w), short,
            L.Add(name="after_i16")([short, short]), L.Add(name="after")([per_step, per_step]),
            L.TimeDistributed(L.GlobalAveragePooling1D(), name="td_masked")(L.Masking(0)(m)),
            tf.reduce_mean(a, axis=1), tf.reduce_mean(a), tf.reduce_mean(a, axis=[0, 1], keepdims=True),
            tf.math.reduce_mean(big, axis=-2),
            *(L.GlobalAveragePooling1D(keepdims=name == "int16_steps", name=f"masked_{name}")(x)
              for name, x in masked.items() if name != "int16_frames"),
            L.TimeDistributed(L.GlobalAveragePooling1D(), name="td_masked_i16")(masked["int16_frames"])]
    return k.Model([t, u, w, h, m, a, big, *narrow.values()], outs)


def _inputs(net, seed: int, steps: int) -> dict[str, np.ndarray]:
    """Ids for each input, its unknown sizes ``steps``, ``steps + 1``... (the masked one: :func:`_masked_ids`)."""
    rng = np.random.default_rng(seed)
    out = {}
    for tensor in net.inputs:
        sizes = iter(range(steps, steps + 4))
        shape = (2, *(next(sizes) if d is None else d for d in tuple(tensor.shape)[1:]))
        name = tensor.name.split(":")[0]
        dtype = tensor.dtype.name
        out[name] = _masked_ids(rng, shape) if name == "m" else _ids(rng, shape, dtype) if dtype == "int32" else \
            _narrow(rng, shape, dtype)
    return out


@pytest.mark.node
def test_tf_keras_per_step_and_reduce_means_of_integers_match_keras_exactly(tmp_path, tfjs_runtime):
    net = model()
    path, inputs, outputs = save_with_outputs(net, _inputs(net, 3, 5), tmp_path / "means.h5")
    other = _inputs(net, 4, 9)
    other_outputs = [np.asarray(o) for o in net([*other.values()], training=False)]
    assert np.isnan(outputs[6][-1, -1]).all()  # a step with every value masked: 0/0
    assert np.isinf(outputs[12][0]).any() and np.isnan(outputs[12][-1]).all()  # int8 count 256 wraps to 0; 0/0
    convert_poisoned([path])
    for x, y in ((inputs, outputs), (other, other_outputs)):  # one converted model at two sizes
        _verify(path.parent / (path.name + ".out"), x, y)


@pytest.mark.parametrize("case", ["masked int64", "reduce_mean past the limit"])
def test_tf_keras_integer_means_that_stay_refused_are_named(tmp_path, case):
    """A masked per-step mean of int64 (Keras sums in int64, where TF.js's int32 wraps) and ``tf.reduce_mean`` over a
    known count past 4 202 512 values: refused by name, beside a per-step mean of int32 over run-time steps and a
    masked mean of int16 that lower."""
    import tensorflow as tf

    import tfjsconv
    from tfjsconv.errors import UsageError

    k, L = tf_keras, tf_keras.layers
    a = k.Input((None, 4, 1), name="a", dtype="int32")
    b = k.Input((None, 2), name="b", dtype="int16")
    lowered = [L.TimeDistributed(L.GlobalAveragePooling1D())(a), L.GlobalAveragePooling1D()(L.Masking(0)(b))]
    if case == "reduce_mean past the limit":
        x = k.Input((4202513, 1), name="x", dtype="int32")
        refused = tf.reduce_mean(x, axis=1, name="layer")
        expected = "on int32 integers over sizes [4202513] (TF's exact integer mean is lowered for 1 to 4202512 values)"
    else:
        dtype = case.split()[1]
        x = k.Input((None, 4, 2), name="x", dtype=dtype)
        refused = L.TimeDistributed(L.GlobalAveragePooling1D(), name="layer")(L.Masking(0)(x))
        expected = f"'layer' (TimeDistributed) with a mask on {dtype} integers (Keras sums them in {dtype}, wrapping"
    k.Model([a, b, x], [*lowered, refused]).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert "does not cover 1 layer: 'layer'" in str(err.value) or "does not cover 1 layer: 'tf.math.reduce_mean" in \
        str(err.value), str(err.value)
    assert expected in str(err.value), str(err.value)
    assert "--loader=tensorflow" in str(err.value), str(err.value)


@pytest.mark.node
def test_keras3_masked_per_step_mean_of_int32_matches_keras(tmp_path, tfjs_runtime):
    """Keras 3's TimeDistributed(GlobalAveragePooling1D) over masked int32 ids sums each step's kept ids in int32,
    wrapping, and divides (float64), as the unwrapped masked mean the lowering computes in int32; the walk handed the
    wrapped one float32 before S16 (other numbers past 2^24, silently). Over run-time frames and steps, at two sizes,
    ids over the whole int32 range (the sums wrap), masked steps and a fully masked frame (NaN)."""
    keras = pytest.importorskip("keras")
    L = keras.layers
    t = keras.Input((None, None, 2), name="t", dtype="int32")
    net = keras.Model(t, L.TimeDistributed(L.GlobalAveragePooling1D(), name="td")(L.Masking(0)(t)))
    runs = []
    for seed, (frames, steps) in ((3, (3, 5)), (4, (2, 9))):
        x = _ids(np.random.default_rng(seed), (2, frames, steps, 2), "int32")
        x[0, 0, :2] = 0
        x[-1, -1] = 0
        runs.append(({"t": x}, [np.asarray(net(x))]))
    path, _, _ = save_with_outputs(net, runs[0][0], tmp_path / "m.keras")
    assert np.isnan(runs[0][1][0][-1, -1]).all() and np.nanmax(np.abs(runs[0][1][0])) > 2**24
    convert_poisoned([path])
    for x, y in runs:
        _verify(path.parent / (path.name + ".out"), x, y)


def test_keras3_masked_per_step_mean_of_int64_is_refused_by_name(tmp_path):
    """Keras 3 sums int64 ids in int64 (no wrap at 2^32, where TF.js's int32 does), per step as unwrapped: refused by
    name (handed float32 before S16), beside a masked per-step mean of int32 that lowers."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    keras = pytest.importorskip("keras")
    L = keras.layers
    a = keras.Input((None, 4, 2), name="a", dtype="int32")
    x = keras.Input((None, 4, 2), name="x", dtype="int64")
    keras.Model([a, x], [L.TimeDistributed(L.GlobalAveragePooling1D())(L.Masking(0)(a)),
                         L.TimeDistributed(L.GlobalAveragePooling1D(), name="layer")(L.Masking(0)(x))]).save(
        tmp_path / "m.keras")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "does not cover 1 layer: 'layer' (TimeDistributed) with a mask on int64 integers" in str(err.value), \
        str(err.value)
    assert "--loader=tensorflow" in str(err.value), str(err.value)
