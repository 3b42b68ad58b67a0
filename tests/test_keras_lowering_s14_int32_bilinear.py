"""Keras 3's bilinear resize of int32/int64 images (UpSampling2D, Resizing), exact as Keras (S14 H3).

Keras 3 casts the integers to float32 (rounded half to even past 2^24), resizes with ``tf.image.resize``, rounds and
saturate-casts back: clipped to [-2^31, 2^31] in float32 (numpy 2), and TF's CPU cast of 2^31 to int32 is INT32_MIN
on x86 (aarch64 saturates; int64 keeps 2^31, INT32_MIN in TF.js's int32). Both were refused by name (the float32 the walk handed over holds integers
only up to 2^24); the lowering now gets the ids as int32, rounds them to float32 from two exact halves (TF.js's cpu
Cast alone keeps them unrounded) and rebuilds TF's kernel (``integer_resize``). Expected values from eager Keras 3,
converted with TensorFlow poisoned, run in TF.js (cpu, wasm), compared exactly, ids over the whole int32 range.
"""
from __future__ import annotations

import platform

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import graph_model_refusal as _refusal  # noqa: E402
from keras_models import save_with_outputs  # noqa: E402
from keras_two_sizes import batched, verify_runs  # noqa: E402
from test_keras_lowering import _module, case_file, saved_and_converted  # noqa: E402

#: int32 values float32 does not hold (ties of its rounding too), the extremes, negatives and small ones.
EDGES = [2**31 - 1, -2**31, 2**31 - 65, 2**31 - 64, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 16777219, 46341, -3]


def _ids(rng: np.random.Generator, shape: tuple[int, ...], dtype: str = "int32") -> np.ndarray:
    """Ids over the whole int32 range (:data:`EDGES` first), a third of them small (halves and quarters: ties)."""
    wide = rng.integers(-2**31, 2**31, shape).reshape(-1)
    small = rng.integers(-4, 5, shape).reshape(-1)
    out = np.where(rng.random(wide.size) < 0.35, small, wide)
    out[:len(EDGES)] = EDGES[:out.size]
    return out.reshape(shape).astype(dtype)


def upsampling(k):
    """Bilinear UpSampling2D of int32 ids (square and uneven factors, channels_first), after a Permute (the walk hands
    the ids on), of int64 ids, inside a TimeDistributed, and an Add after it (the int32 dtype goes on, wrapping)."""
    L = k.layers
    a = k.Input((2, 3, 1), name="a", dtype="int32")
    c = k.Input((3, 2, 2), name="c", dtype="int64")
    clips = k.Input((2, 2, 3, 1), name="clips", dtype="int32")
    up = L.UpSampling2D(2, interpolation="bilinear", name="up2")(a)
    moved = L.Permute((2, 1, 3), name="moved")(a)
    return k.Model([a, c, clips], [
        up, L.UpSampling2D((3, 2), interpolation="bilinear", name="up32")(moved),
        L.UpSampling2D((2, 3), interpolation="bilinear", name="up23_c")(c),
        L.TimeDistributed(L.UpSampling2D((2, 1), interpolation="bilinear"), name="td_up")(clips),
        L.UpSampling2D((1, 3), data_format="channels_first", interpolation="bilinear", name="first")(a),
        L.Add(name="after")([up, up])])


def resizing(k):
    """Bilinear Resizing of int32 ids up, down, unevenly, to their own size (Keras casts them to float32 all the
    same), with an aspect crop and pad, after a Cropping2D, of int64 ids, and inside a TimeDistributed."""
    L = k.layers
    a = k.Input((5, 7, 2), name="a", dtype="int32")
    c = k.Input((4, 3, 1), name="c", dtype="int64")
    clips = k.Input((2, 3, 4, 1), name="clips", dtype="int32")
    cropped = L.Cropping2D(((1, 0), (0, 2)), name="cropped")(a)
    return k.Model([a, c, clips], [
        L.Resizing(3, 4, name="down")(a), L.Resizing(9, 13, name="up")(a), L.Resizing(2, 11, name="uneven")(cropped),
        L.Resizing(4, 4, crop_to_aspect_ratio=True, name="crop")(a),
        L.Resizing(6, 3, pad_to_aspect_ratio=True, fill_value=7, name="pad")(a), L.Resizing(7, 5, name="int64")(c),
        L.Resizing(5, 7, name="same_size")(a),
        L.TimeDistributed(L.Resizing(5, 3), name="td_resize")(clips)])


FAMILIES = {"upsampling": upsampling, "resizing": resizing}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "keras3.h5")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t.name.split(":")[0]: _ids(rng, (2, *tuple(t.shape)[1:]), str(getattr(t.dtype, "name", t.dtype)))
            for t in model.inputs}


def _save(family: str, flavor: str, folder):
    model = FAMILIES[family](_module(flavor))
    return save_with_outputs(model, _inputs(model, 14), case_file(folder, family, flavor))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return batched(saved_and_converted(tmp_path_factory, "s14_int32_bilinear", CASES, _save))


@pytest.mark.node
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="TF's cast of 2^31 to int32 is x86's")
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_bilinear_resize_of_wide_ids_matches_keras3_exactly(converted, tfjs_runtime, family, flavor):
    """cpu and wasm alike, every id (TF.js's cpu Cast of int32 to float32 alone would keep 16777217)."""
    path, inputs, outputs = converted[(family, flavor)]
    assert all(o.dtype.kind == "i" for o in outputs), [o.dtype for o in outputs]
    assert all(np.abs(o.astype(np.int64)).max() > 2**24 for o in outputs)  # every output beyond float32's integers
    assert any((o == -2**31).any() for o in outputs if o.dtype == np.int32)  # Keras's cast of 2^31
    # int64's 2^31 (from ids past 2^31 - 64) is INT32_MIN in TF.js's int32, as int64 sums past int32's range are
    wrapped = [o.astype(np.int32) for o in outputs]
    assert any(o.dtype == np.int64 and (o == 2**31).any() for o in outputs)
    verify_runs(path, [(inputs, wrapped)])


@pytest.mark.parametrize("layer", ["Resizing", "UpSampling2D"])
def test_unknown_sizes_stay_refused_by_name(tmp_path, layer):
    """The kernel's weights depend on the input's size: over sizes known only at run time it stays a gap."""
    x = keras.Input((None, None, 1), name="x", dtype="int32")
    resize = keras.layers.Resizing(4, 5, name="resize") if layer == "Resizing" else \
        keras.layers.UpSampling2D(2, interpolation="bilinear", name="resize")
    refusal = _refusal(tmp_path, keras.Model(x, resize(x)))
    assert f"'resize' ({layer})" in refusal and "on int32 images (Keras 3 casts its result back" in refusal, refusal

