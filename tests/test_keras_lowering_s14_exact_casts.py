"""The special-values line names a Cast only where TF.js's cast can differ from TensorFlow's.

The contract names "Cast (cpu, wasm)" for a float → int32 cast (outside int32's range, NaN/±Inf: TF gives INT32_MIN,
TF.js wraps) and "Cast (cpu)" for int32 → float32 (cpu keeps the integer unrounded). The lowering's own casts of
whole numbers it knows in range (int32 images split into halves float32 holds, the resized result cast back, a
cast guarded by a SelectV2) are exact on every backend and marked so (``LayerContext.exact_cast``); a cast of arbitrary values (float ids into an Embedding, Keras 3's
int32 Dot in float32) stays named.
"""
from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

import tfjsconv  # noqa: E402


def _notices(tmp_path, model, name: str) -> list[str]:
    model.save(tmp_path / f"{name}.keras")
    return tfjsconv.convert(tmp_path / f"{name}.keras", tmp_path / name, output_format="tfjs_graph_model").notices


def test_exact_casts_of_the_lowering_are_not_named(tmp_path):
    L = keras.layers
    images = keras.Input((4, 4, 1), name="images", dtype="int32")
    floats = keras.Input((3,), name="floats")
    model = keras.Model([images, floats], [L.UpSampling2D(2, interpolation="bilinear", name="resized")(images),
                                           keras.ops.cast(floats, "int32")])
    notices = _notices(tmp_path, model, "exact")
    assert not any("Cast" in n for n in notices), notices


def test_casts_of_arbitrary_values_stay_named(tmp_path):
    ids = keras.Input((5,), name="ids")  # float32 ids, cast to int32 by the Embedding
    notices = _notices(tmp_path, keras.Model(ids, keras.layers.Embedding(10, 2)(ids)), "embedding")
    assert len(notices) == 1 and "Cast (cpu, wasm)" in notices[0], notices
