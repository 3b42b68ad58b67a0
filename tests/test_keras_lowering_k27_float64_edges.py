"""float64 values held in float32 at the jumps of discontinuous functions (session 27).

- A floor division or modulo of a float64 model input by a constant float32 cannot hold (``x // 0.1``, ``x % 0.1``;
  Keras 3's ``floor_divide``, ``mod``) and Keras 3's ``round(x, decimals=1)`` were computed in float32 with the
  float64 notice, silently on the other side of a jump: tf_keras ``float32(0.7) // 0.1`` is 6, TF.js gave 7
  (6 of 24 values off); Keras 3 rounds ``float32(0.35)`` to 0.3, float32 to 0.4. Refused by name now; a divisor that
  is a power of two no larger than 1 (exact in float32) still converts.
- Keras 3's ``hard_shrink(x, 0.1)`` and ``threshold(x, 0.1, d)`` of a float64 input compare in float64: float32(0.1)
  exceeds 0.1 and is kept (TF.js dropped it, 2-3 of 24 values off); compared now with float32's rounding down of the
  threshold, exact for values float32 holds.
- A tf_keras ``dtype="float64"`` Masking(mask_value=0.1) of a float64 input compares in float64: no float32 value
  equals 0.1, so no step is masked, where TF.js masked the steps of float32(0.1) (a pooled mean 2 of 3 rows off).

Converted once (TensorFlow, Keras and tf_keras poisoned), TF.js cpu and wasm against Keras's ``model(x)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering_k25_float64 import _refused  # noqa: E402  (saved, refused by pattern, nothing written)

_F32 = np.float32
#: float32 values at the jumps: float32(0.1) (above 0.1), float32(0.7) (below 0.7, its float32 quotient by 0.1 is 7),
#: float32(0.35) (below 0.35), the float32 neighbours of 0.1, halves and negatives.
_EDGES = np.array([0.1, 0.7, 0.35, np.nextafter(_F32(0.1), _F32(0)), np.nextafter(_F32(0.1), _F32(1)), -0.75, 2.3,
                   -0.1], _F32)


def tf_masking(k: Any) -> Any:
    """A tf_keras float64 Masking(0.1) pooled, beside floor divisions and modulos by powers of two (exact)."""
    w = k.Input((None, 4), name="w", dtype=tf.float64)
    pooled = k.layers.GlobalAveragePooling1D(dtype="float64")(k.layers.Masking(mask_value=0.1, dtype="float64")(w))
    return k.Model(w, [pooled, tf.math.floordiv(w, 0.5), tf.math.floormod(w, 1.0), w // 0.25], name="tf_masking")


def k3_shrink(k: Any) -> Any:
    """Keras 3's ``hard_shrink`` and ``threshold`` of a float64 input compare it with the float64 threshold 0.1:
    float32(0.1) (and -float32(0.1) for ``|x|``) is kept, where a float32 comparison dropped it."""
    w = k.Input((None, 4), name="w", dtype="float64")
    return k.Model(w, [k.ops.hard_shrink(w, 0.1), k.ops.threshold(w, 0.1, -5.0), k.ops.threshold(w, 0.7, 0.0)],
                   name="k3_shrink")


def _inputs(model: Any, family: str, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Steps of float32(0.1) in every feature (masked by float32, kept by float64), then steps of edge values and
    normal draws; two batch sizes and lengths."""
    runs = []
    for batch, length in ((2, 5), (3, 3)):
        values = rng.standard_normal((batch, length, 4)).astype(_F32)
        values[:, 0, :] = _F32(0.1)
        values[0, 1, :] = _EDGES[:4]
        values[-1, -1, :] = _EDGES[4:]
        runs.append({"w": values.astype(np.float64)})
    return runs


FAMILIES = {"tf_masking": tf_masking, "k3_shrink": k3_shrink}
CASES = [("tf_masking", "tf_keras.h5"), ("k3_shrink", "keras3.keras")]
converted = converted_fixture("k27_float64_edges", CASES, two_size_saver(FAMILIES, _inputs, seed=271))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_float64_masking_shrinks_and_exact_divisions_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


_JUMP = r"a floor division or modulo of a float64 model input"


@pytest.mark.parametrize("how", ["floordiv", "operator", "floormod"])
def test_tf_keras_floor_division_of_a_float64_input_by_a_tenth_is_refused_by_name(tmp_path, how):
    """``float32(0.7) // 0.1`` is 6 in tf_keras's float64, 7 in float32 (converted silently before)."""
    import tf_keras as k

    w = k.Input((8,), name="w", dtype=tf.float64)
    out = {"floordiv": lambda: tf.math.floordiv(w, 0.1), "operator": lambda: w // 0.1,
           "floormod": lambda: tf.math.floormod(w, 0.1)}[how]()
    assert float(np.asarray(k.Model(w, out)(_EDGES[None].astype(np.float64)))[0, 1]) != \
        float(np.floor(_EDGES[1] / _F32(0.1))) or how == "floormod"  # the jump float32 crosses
    _refused(tmp_path, k.Model(w, out), ".h5", r"'tf\.(compat\.v1\.floor_div|math\.floormod).*" + _JUMP)


@pytest.mark.parametrize("how", ["floor_divide", "operator", "mod"])
def test_keras3_floor_division_of_a_float64_input_is_refused_by_name(tmp_path, how):
    w = keras.Input((8,), name="w", dtype="float64")
    out = {"floor_divide": lambda: keras.ops.floor_divide(w, 0.1), "operator": lambda: w // 0.1,
           "mod": lambda: keras.ops.mod(w, 0.1)}[how]()
    _refused(tmp_path, keras.Model(w, out), ".keras", r"'(floor_divide|mod)(_\d+)?'.*" + _JUMP)


def test_keras3_round_to_decimals_of_a_float64_input_is_refused_by_name(tmp_path):
    """Keras 3 rounds float32(0.35) to one decimal as 0.3 (float64 3.4999999), float32 as 0.4."""
    w = keras.Input((8,), name="w", dtype="float64")
    model = keras.Model(w, keras.ops.round(w, decimals=1))
    assert float(np.asarray(model(_EDGES[None].astype(np.float64)))[0, 2]) == pytest.approx(0.3)
    _refused(tmp_path, model, ".keras", r"'round(_\d+)?'.*a float64 model input rounded to decimals")


def test_tf_keras_float64_masking_of_computed_values_is_refused_by_name(tmp_path):
    """A float64 Masking(0.1) after a float64 Dense: the float32-computed values may stand for 0.1 itself (an identity
    kernel and a 0.1 bias on a zero step is 0.1 in Keras, masked) or for a neighbour; "masks nothing" gave 0.087 off
    (review R2, F1), so it is refused by name; on the model input itself it is exact (above)."""
    import tf_keras as k

    w = k.Input((4, 3), dtype="float64", name="w")
    h = k.layers.Dense(3, dtype="float64", kernel_initializer="identity", bias_initializer=k.initializers.Constant(0.1),
                       name="shifted")(w)
    pooled = k.layers.GlobalAveragePooling1D(dtype="float64")(k.layers.Masking(0.1, dtype="float64", name="pad")(h))
    _refused(tmp_path, k.Model(w, pooled), ".h5", r"'pad' \(Masking\): a float64 mask_value 0.1 that float32 does not")
