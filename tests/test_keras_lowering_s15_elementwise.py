"""Elementwise op layers lowered with h5py (issue 16, session 15): Keras 3's amax/amin/ptp, angle, cbrt, conj/real/
imag/isreal, copy, convert_to_tensor, deg2rad/rad2deg, exp2, fabs, fmax/fmin, fmod, heaviside, hypot, isclose,
isneginf/isposinf, ldexp, logaddexp/logaddexp2, nan_to_num, sinc, trunc, erfc, saturate_cast; tf_keras's
``tf.math.erfc``/``rint``/``conj``/``real``/``imag``/``angle``/``scalar_mul``/``add_n``/``polyval`` and
``tf.dtypes.saturate_cast``.

Small functional models, saved by Keras (tf_keras ``.h5``, Keras 3 ``.keras`` and ``.h5``), converted in a process
where TensorFlow, Keras and tf_keras cannot be imported, run in real TF.js (cpu and wasm) and compared with Keras's
own ``model(x)``: integers and bools exactly, floats within 1e-5 of each output's range. The inputs hold the special
cases each function defines: NaN, ±Inf, ±0.0 and ±FLT_MAX paired with each other (a row and its mirror), ties for
rint, int32 extremes (INT32_MIN's wrapping ``|x|`` in fmod, ptp over the whole int32 range, wrapped products in
scalar_mul/polyval/add_n), integers Keras 3 turns into float32 first (exp2, hypot, sinc...). What stays refused (a
saturating cast of floats to int8/int16, whose NaN TF casts by its place in the tensor; int64 targets) is named.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402
from test_keras_lowering_op_layers_more import _refused  # noqa: E402

NAN, INF, BIG = np.nan, np.inf, float(np.finfo(np.float32).max)
#: Special values; each model also pairs the row with its mirror (NaN with 0.5, Inf with -FLT_MAX...).
SPECIAL = np.array([NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 1e30, -BIG, 0.5], np.float32)
#: Moderate values for sinc (TF.js's and TF's sin of huge arguments differ: the contract names it), and tiny ones
#: (wasm's Sin is off by 1.75e-7 near 0, which sin(pi·x) / (pi·x) would blow up), both sides of |pi·x| = 1/4.
MODERATE = np.array([[NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 0.25, 7.5, -0.5],
                     [-5.6e-15, 1e-15, -1e-7, 3e-4, -0.01, 0.07, -0.08, 1e-30, -1e-38, 0.03, -0.079, 0.0795]],
                    np.float32)
#: int32 extremes and small values (no zero: fmod of integers by zero raises in TF).
IDS = np.array([[2**31 - 1, -2**31, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 46341, -3, 7, 1, -1, 5],
                [-2**31, 2**31 - 1, -7, 3, -5, 9, 12, -2**31 + 5, 100, -100, 2, 1]], np.int32)
#: Exponents for ldexp/exp2: small, and past float32's range both ways.
EXPONENTS = np.array([[0, 1, -1, 5, -5, 200, -200, 3, 2, -2, 10, -10], [7, -7, 127, -126, 1, 0, 4, -4, 20, -20, 1, 2]],
                     np.int32)


def _tf():
    pytest.importorskip("tf_keras")
    return pytest.importorskip("tensorflow")


def tf_elementwise_model():
    """The TF functions on tf_keras tensors (each a TFOpLambda)."""
    tf = _tf()
    import tf_keras as k

    x, special, ids = k.Input((4, 6), name="x"), k.Input((12,), name="special"), \
        k.Input((12,), name="ids", dtype="int32")
    h = k.layers.Dense(6, name="dense")(x)
    mirror = tf.reverse(special, axis=[1])
    floats = [
        tf.math.erfc(h * 3.0), tf.math.erfc(special), tf.math.erfc(x * 6.0), tf.math.rint(h * 4.0),
        tf.math.rint(special), tf.math.rint(x * 0.0 + 0.5) + tf.math.rint(x * 0.0 - 2.5), tf.math.conj(h),
        tf.math.real(h), tf.math.imag(special), tf.math.angle(special), tf.math.angle(h),
        tf.math.scalar_mul(2.5, h), tf.math.scalar_mul(-3.0, special), tf.math.add_n([h, x, h]),
        tf.math.add_n([special, mirror]), tf.math.polyval([1.0, -2.0, 3.0], h), tf.math.polyval([h, 0.5, x], h),
        tf.dtypes.saturate_cast(special, tf.float32), tf.dtypes.saturate_cast(ids, tf.float32),
    ]
    integers = [
        tf.math.conj(ids), tf.math.real(ids), tf.math.imag(ids), tf.math.scalar_mul(3, ids),
        tf.math.add_n([ids, ids, ids]), tf.math.polyval([3, -2, 7], ids),
        tf.dtypes.saturate_cast(x * 200.0, tf.uint8), tf.dtypes.saturate_cast(special * 1e5, tf.uint16),
        tf.dtypes.saturate_cast(special, tf.int32), tf.dtypes.saturate_cast(x * 1e9, tf.int32),
        tf.dtypes.saturate_cast(ids, tf.int8), tf.dtypes.saturate_cast(ids, tf.uint16),
    ]
    return k.Model([x, special, ids], floats + integers)


def keras3_elementwise_model():
    """The ``keras.ops`` functions on Keras 3 symbolic tensors (each saved as an operation)."""
    o = keras.ops
    x, special, moderate = keras.Input((4, 6), name="x"), keras.Input((12,), name="special"), \
        keras.Input((12,), name="moderate")
    ids, exponents = keras.Input((12,), name="ids", dtype="int32"), keras.Input((12,), name="exponents", dtype="int32")
    h = keras.layers.Dense(6, name="dense")(x)
    mirror, ids_mirror = o.flip(special, axis=1), o.flip(ids, axis=1)
    floats = [
        o.amax(h, axis=1), o.amin(special, axis=-1, keepdims=True), o.amax(h), o.ptp(h, axis=1), o.ptp(h),
        o.angle(special), o.cbrt(special), o.cbrt(h), o.conj(h), o.real(h), o.imag(special), o.copy(h),
        o.convert_to_tensor(h), o.deg2rad(special), o.rad2deg(h), o.exp2(h * 3.0), o.exp2(special), o.fabs(special),
        o.fmax(special, mirror), o.fmin(special, mirror), o.fmax(h, 0.25), o.fmod(special, mirror),
        o.fmod(h * 5.0, o.round(x)), o.heaviside(o.round(h), x), o.heaviside(special, mirror),
        o.hypot(special, mirror), o.hypot(h, x), o.ldexp(h, o.expand_dims(exponents[:, :6], 1)),
        o.ldexp(special, exponents), o.logaddexp(special, mirror), o.logaddexp(h, x),
        o.logaddexp2(special, mirror), o.logaddexp2(h * 4.0, x), o.nan_to_num(special),
        o.nan_to_num(special, nan=1.5, posinf=7.0, neginf=-9.0), o.sinc(moderate), o.sinc(h * 2.0),
        o.trunc(special), o.trunc(h * 3.0), o.erfc(h * 3.0), o.erfc(special),
        o.convert_to_tensor(ids, dtype="float32"), o.saturate_cast(special, "float32"),
        # integers Keras 3 computes in float32
        o.angle(ids), o.cbrt(ids), o.deg2rad(ids), o.rad2deg(ids), o.exp2(exponents), o.fabs(ids),
        o.heaviside(ids, o.flip(exponents, axis=1)), o.hypot(ids, ids_mirror), o.ldexp(ids, exponents),
        o.logaddexp(exponents, 2),
        o.logaddexp2(ids, ids_mirror), o.sinc(exponents), o.fmax(ids, 2.5), o.fmod(ids, 2.5),
    ]
    integers = [
        o.amax(ids, axis=1), o.amin(ids, axis=-1, keepdims=True), o.ptp(ids, axis=1), o.ptp(ids),
        o.fmax(ids, ids_mirror), o.fmin(ids, 3), o.fmod(ids, ids_mirror), o.fmod(ids, -3), o.trunc(ids),
        o.nan_to_num(ids), o.conj(ids), o.real(ids), o.imag(ids), o.copy(ids), o.convert_to_tensor(ids),
        o.saturate_cast(x * 200.0, "uint8"), o.saturate_cast(special * 1e5, "uint16"),
        o.saturate_cast(special, "int32"), o.saturate_cast(x * 1e9, "int32"), o.saturate_cast(ids, "int8"),
        o.saturate_cast(ids, "uint8"), o.saturate_cast(ids, "int16"),
    ]
    bools = [
        o.isclose(h, o.round(h * 1e3) / 1e3), o.isclose(special, mirror), o.isclose(special, mirror, equal_nan=True),
        o.isclose(h, x, rtol=0.5, atol=0.1), o.isclose(ids, ids_mirror), o.isclose(ids, 2.5), o.isneginf(special),
        o.isposinf(special), o.isneginf(ids), o.isreal(special), o.isreal(ids), o.saturate_cast(special, "bool"),
        o.amax(o.isposinf(special), axis=1), o.amin(o.isreal(special), axis=1),
    ]
    return keras.Model([x, special, moderate, ids, exponents], floats + integers + bools)


MODELS = {"tf_elementwise": (tf_elementwise_model, ".h5"), "keras3_elementwise": (keras3_elementwise_model, ".keras"),
          "keras3_elementwise_h5": (keras3_elementwise_model, ".h5")}


def _inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 4, 6)).astype("float32")
    x[0, 0, :3] = 0.0  # fmod by round(x) == 0, heaviside at 0
    return {"x": x, "special": np.stack([SPECIAL, -SPECIAL[::-1]]), "moderate": MODERATE,
            "ids": IDS, "exponents": EXPONENTS}


def _save(case: str, folder: Path):
    build, suffix = MODELS[case]
    model = build()
    randomize(model, 15)
    names = [t.name.split(":")[0] for t in model.inputs]
    inputs = {name: value for name, value in _inputs(16).items() if name in names}
    return save_with_outputs(model, inputs, folder / f"{case}{suffix}")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s15_elementwise")
    saved = {case: _save(case, folder) for case in MODELS}
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", list(MODELS))
def test_elementwise_op_layers_lower_and_match_keras(converted, tfjs_runtime, case):
    path, inputs, outputs = converted[case]
    _verify(Path(f"{path}.out"), inputs, outputs)





def test_saturating_casts_that_stay_refused_are_named(tmp_path):
    """Floats to int8/int16 (TF casts NaN to 0 or to the lowest value by its place in the tensor), targets TF.js
    cannot hold (int64) and Keras 3's int32 to float32 (its clip bound, float32(2^31) cast back to int32 by numpy, is
    platform-dependent: INT32_MIN on x86, which clips every value to it) stay gaps naming the operation and why."""
    o = keras.ops
    x, ids = keras.Input((6,), name="x"), keras.Input((6,), name="ids", dtype="int32")
    keras.Model([x, ids], [o.saturate_cast(x, "int8"), o.saturate_cast(x, "int64"), o.saturate_cast(ids, "float32")]
                ).save(tmp_path / "k3.keras")
    message = _refused(tmp_path / "k3.keras")
    assert re.search(r"does not cover 3 layers: 'saturate_cast\w*' \(SaturateCast\): a float32 tensor to int8 "
                     r"\(TensorFlow casts NaN to 0 or to int8's lowest by its place in the tensor\), "
                     r"'saturate_cast\w*' \(SaturateCast\): dtype='int64'.*, 'saturate_cast\w*' \(SaturateCast\): "
                     r"an int32 tensor to float32 \(the clip bound Keras computes overflows numpy's cast back to "
                     r"int32: a platform-dependent value\)", message), message

    tf = _tf()
    import tf_keras as k

    y = k.Input((6,), name="y")
    k.Model(y, tf.dtypes.saturate_cast(y, tf.int16)).save(tmp_path / "tf.h5")
    message = _refused(tmp_path / "tf.h5")
    assert re.search(r"does not cover 1 layer: 'tf\.dtypes\.saturate_cast\w*' \(dtypes\.saturate_cast\): a float32 "
                     r"tensor to int16", message), message


@pytest.mark.node
def randomized(model):
    randomize(model, 3)
    return model


def test_functions_that_hand_back_a_masked_input(tmp_path, tfjs_runtime):
    """``conj`` and ``real`` (both flavours) return TF's input tensor itself, so the mask Keras set on it reaches the
    pooling at run time although the saved graph drops it: the lowering hands the mask on, and the pooled averages
    match Keras's (found by bench/keras_random_models.py: they were refused). tf_keras's ``add_n`` of one tensor does
    too (a gap until session 17; Keras 3's ``convert_to_tensor`` since session 16:
    ``test_keras_lowering_s16_unknown_axes.py``). ``copy`` (a new tensor) and ``imag`` drop the mask, as Keras's do."""
    import tfjsconv

    o = keras.ops
    ids = np.array([[1, 2, 0, 0, 3], [4, 0, 0, 0, 0]], np.int32)

    def pooled(k, *fns):
        x = k.Input((5,), name="ids", dtype="int32")
        e = k.layers.Embedding(10, 3, mask_zero=True, name="embedding")(x)
        return k.Model(x, [k.layers.GlobalAveragePooling1D(name=f"pool_{i}")(fn(e)) for i, fn in enumerate(fns)])

    tf = _tf()
    import tf_keras as k

    saved = [save_with_outputs(randomized(pooled(keras, o.copy, o.imag, o.conj, o.real)), {"ids": ids},
                               tmp_path / "k3_kept.keras"),
             save_with_outputs(randomized(pooled(k, tf.math.conj, tf.math.real, lambda e: tf.math.add_n([e]))), {"ids": ids},
                               tmp_path / "tf_kept.h5")]
    for path, inputs, outputs in saved:
        tfjsconv.convert(path, tmp_path / path.stem, output_format="tfjs_graph_model")
        _verify(tmp_path / path.stem, inputs, outputs)
