"""Integer images through the layers that keep their dtype in Keras, into the layers whose result depends on it.

Keras (3 and tf_keras) keeps integers integers through Cropping, ZeroPadding, Reshape, Permute, Flatten,
UpSampling (nearest), Concatenate, Maximum, MaxPooling...; the walk hands them on as float32 and tracks the dtype
Keras gives them, so Keras 3's Resizing still rounds its result back to it, and Add / Subtract / Multiply / Average of
8- and 16-bit integers (which wrap around in Keras) are refused by name. Expected values from eager Keras, run in
TF.js (cpu, wasm).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import batched, verify_runs  # noqa: E402
from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402

SHAPE = (6, 8, 2)


def into_resizing(k):
    """uint8 images through each dtype-keeping layer into a Resizing (nearest in Keras 3, which rounds its result back
    to uint8; bilinear too in tf_keras, which returns floats), and into the float layers (Rescaling, Normalization,
    CenterCrop); a float joined to the integers makes floats (a bilinear Resizing of them is not rounded)."""
    L = k.layers
    images = k.Input(SHAPE, name="images", dtype="uint8")
    method = "nearest" if k is keras else "bilinear"

    def resize(x, name, interpolation=method):
        return L.Resizing(3, 4, interpolation=interpolation, name=name)(x)

    crop = L.Cropping2D(1, name="crop")(images)
    padded = L.ZeroPadding2D(1, name="pad")(images)
    reshaped = L.Reshape((8, 6, 2), name="reshape_layer")(images)
    permuted = L.Permute((2, 1, 3), name="permute_layer")(images)
    upsampled = L.UpSampling2D(2, name="upsample")(images)
    joined = L.Concatenate(name="join")([crop, L.Cropping2D(((2, 0), (0, 2)), name="crop_corner")(images)])
    largest = L.Maximum(name="largest")([crop, L.Cropping2D(((0, 2), (2, 0)), name="crop_other")(images)])
    pooled = L.ReLU(name="relu")(L.MaxPooling2D(1, name="pool")(L.Dropout(0.3, name="drop")(images)))
    flat = L.Reshape((6, 8, 2), name="unflatten")(L.Flatten(name="flatten")(images))
    scaled = L.Rescaling(1 / 255, name="scale")(crop)
    outs = [resize(crop, "r_crop"), resize(padded, "r_pad"), resize(reshaped, "r_reshape"),
            resize(permuted, "r_permute"), resize(upsampled, "r_upsample"), resize(joined, "r_join"),
            resize(largest, "r_largest"), resize(pooled, "r_pooled"), resize(flat, "r_flat"),
            scaled, L.Normalization(mean=100.0, variance=900.0, name="norm")(padded),
            L.CenterCrop(3, 5, name="center")(permuted)]
    if k is keras:  # a float among them makes floats: not rounded (tf_keras refuses to join uint8 and float32)
        outs.append(resize(L.Concatenate(name="mixed")([crop, scaled]), "r_mixed", "bilinear"))
        moved = keras.ops.reshape(keras.ops.transpose(crop, (0, 2, 1, 3))[:, 1:], (-1, 5, 4, 2))  # op layers too
        outs.append(resize(moved, "r_ops"))
        same = L.CenterCrop(4, 6, name="same_crop")(crop)  # floats in Keras 3, though the lowering crops nothing
        outs.append(resize(same, "r_same_crop", "bilinear"))
    return k.Model(images, outs)


def int32_into_resizing(k):
    """int32 images through Cropping2D / Reshape into a bilinear Resizing: tf_keras returns floats (Keras 3 rounds
    back to int32: tests/test_keras_lowering_s14_int32_bilinear.py); Add of int32 is computed exactly in float32 for
    these values."""
    L = k.layers
    images = k.Input(SHAPE, name="images", dtype="int32")
    crop = L.Cropping2D(1, name="crop")(images)
    summed = L.Add(name="sum")([crop, crop])
    return k.Model(images, [L.Resizing(3, 4, name="r_crop")(crop), L.Resizing(3, 4, name="r_sum")(summed)])


FAMILIES = {"into_resizing": into_resizing, "int32_into_resizing": int32_into_resizing}
CASES = [("into_resizing", flavor) for flavor in ("keras3.keras", "keras3.h5", "tf_keras.h5")] + [
    ("int32_into_resizing", "tf_keras.h5")]


def _integer_inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for t in model.inputs:
        dtype = str(getattr(t.dtype, "name", t.dtype))
        out[t.name.split(":")[0]] = rng.integers(0, 256 if dtype == "uint8" else 3000, (2, *SHAPE)).astype(dtype)
    return out


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return batched(saved_and_converted(tmp_path_factory, "k24", CASES, family_saver(FAMILIES, _integer_inputs, 24)))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_integers_through_dtype_keeping_layers_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    if flavor.startswith("keras3"):  # the reference rounds back to uint8 where the integers reached the Resizing
        assert {str(o.dtype) for o in outputs} == {"uint8", "float32"}
    verify_runs(path, [(inputs, outputs)])


def _refusal(tmp_path, model, flavor: str = "keras3.keras") -> str:
    import tfjsconv
    from tfjsconv.errors import UsageError

    path = tmp_path / f"m.{flavor.split('.')[-1]}"
    model.save(path)
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    return str(err.value)


@pytest.mark.parametrize("dtype,interpolation", [("int32", "nearest"), ("bool", "nearest")])  # int32 bilinear: S14
@pytest.mark.parametrize("layer", ["Cropping2D", "Reshape", "Flatten"])
def test_keras3_resizing_of_integers_after_a_shape_layer_is_refused_by_name(tmp_path, dtype, interpolation, layer):
    L = keras.layers
    images = keras.Input(SHAPE, name="images", dtype=dtype)
    x = {"Cropping2D": lambda: L.Cropping2D(1, name="shape")(images),
         "Reshape": lambda: L.Reshape((8, 6, 2), name="shape")(images),
         "Flatten": lambda: L.Reshape((6, 8, 2), name="back")(L.Flatten(name="shape")(images))}[layer]()
    model = keras.Model(images, L.Resizing(3, 4, interpolation=interpolation, name="resize")(x))
    refusal = _refusal(tmp_path, model)
    assert f"'resize' (Resizing) on {dtype} images (Keras 3 casts its result back" in refusal or \
        dtype == "int32" and "'resize' (Resizing) on int32 integers (Keras keeps them exact" in refusal, refusal


@pytest.mark.parametrize("merge", ["Add", "Multiply", "Average"])
def test_arithmetic_merges_of_small_integers_are_refused_by_name(tmp_path, merge):
    """uint8 200 + 100 is 44 in Keras; then a float joins (Keras 3 promotes, tf_keras refuses to build it). Merges of
    8/16-bit integers alone wrap exactly since K28 (tests/test_keras_lowering_k28_narrow_ints.py)."""
    images = keras.Input(SHAPE, name="images", dtype="uint8")
    crop = keras.layers.Cropping2D(1, name="crop")(images)
    floats = keras.layers.Rescaling(1.0, name="floats")(crop)
    model = keras.Model(images, getattr(keras.layers, merge)(name="merged")([crop, crop, floats]))
    assert f"'merged' ({merge}) on uint8 inputs (Keras computes in that dtype, wrapping around)" in \
        _refusal(tmp_path, model)


def test_integers_tracked_through_time_distributed_of_a_shape_layer(tmp_path):
    """A TimeDistributed keeps what the layer it wraps keeps: the uint8 sum then float after it is refused, as
    without it."""
    clips = keras.Input((3, 6, 8, 2), name="clips", dtype="uint8")
    crop = keras.layers.TimeDistributed(keras.layers.Cropping2D(1, name="crop"), name="frames")(clips)
    floats = keras.layers.Rescaling(1.0, name="floats")(crop)
    model = keras.Model(clips, keras.layers.Add(name="merged")([crop, crop, floats]))
    assert "'merged' (Add) on uint8 inputs (Keras computes in that dtype, wrapping around)" in _refusal(tmp_path, model)


def test_keras3_bilinear_upsampling_of_integers_is_refused_by_name(tmp_path):
    """int32 ones over sizes unknown in the config (uint8 / int16 lower exactly since K28:
    tests/test_keras_lowering_k28_integer_resize.py, int32 / int64 of static sizes since S14:
    tests/test_keras_lowering_s14_int32_bilinear.py)."""
    images = keras.Input((None, *SHAPE[1:]), name="images", dtype="int32")
    x = keras.layers.Permute((2, 1, 3), name="permute")(images)
    model = keras.Model(images, keras.layers.UpSampling2D(2, interpolation="bilinear", name="up")(x))
    assert "'up' (UpSampling2D) bilinear on int32 images (Keras 3 casts its result back" in _refusal(tmp_path, model)


def test_keras3_resizing_after_an_untracked_integer_layer_is_refused_by_name(tmp_path):
    """An AveragePooling2D of integers: the walk does not follow the dtype Keras gives it."""
    images = keras.Input(SHAPE, name="images", dtype="uint8")
    x = keras.layers.AveragePooling2D(1, name="avg")(keras.layers.Cropping2D(1, name="crop")(images))
    model = keras.Model(images, keras.layers.Resizing(3, 4, interpolation="nearest", name="resize")(x))
    assert "'resize' (Resizing) on integers that went through a layer whose Keras result dtype" in \
        _refusal(tmp_path, model)


def test_keras3_time_distributed_resizing_of_tracked_integers_is_refused_by_name(tmp_path):
    """int32 ones, nearest (the wrapped Resizing sees the dtype since K28: 8/16-bit ones lower; bilinear int32 ones
    since S14)."""
    clips = keras.Input((3, 6, 8, 2), name="clips", dtype="int32")
    x = keras.layers.Reshape((3, 6, 8, 2), name="same")(clips)
    resize = keras.layers.Resizing(3, 4, interpolation="nearest", name="frame")
    model = keras.Model(clips, keras.layers.TimeDistributed(resize, name="frames")(x))
    assert "'frames' (TimeDistributed) on int32 integers (Keras keeps them exact" in _refusal(tmp_path, model)


def test_keras3_op_on_tracked_integers_is_refused_by_name(tmp_path):
    images = keras.Input(SHAPE, name="images", dtype="uint8")
    crop = keras.layers.Cropping2D(1, name="crop")(images)
    model = keras.Model(images, keras.ops.exp(crop))
    assert "on integers the lowering holds as float32 (Keras computes the operation in their integer dtype)" in \
        _refusal(tmp_path, model)


@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_cast_of_tracked_integers_lowers(tmp_path, tfjs_runtime, flavor):
    """``ops.cast`` / ``tf.cast`` compute the same on the float32 Values: the float32 result then resizes bilinear,
    not rounded."""
    import tfjsconv

    k = keras if flavor.startswith("keras3") else pytest.importorskip("tf_keras")
    images = k.Input(SHAPE, name="images", dtype="uint8")
    crop = k.layers.Cropping2D(1, name="crop")(images)
    if k is keras:
        x = keras.ops.cast(crop, "float32")
    else:
        import tensorflow as tf

        x = tf.cast(crop, tf.float32)
    model = k.Model(images, k.layers.Resizing(3, 5, name="resize")(x))
    inputs = _integer_inputs(model, 5)
    expected = [np.asarray(model(next(iter(inputs.values()))))]
    path = tmp_path / f"m.{flavor.split('.')[-1]}"
    model.save(path)
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    _verify(tmp_path / "out", inputs, expected)


@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_ops_on_int32_ids_after_a_shape_layer_lower(tmp_path, tfjs_runtime, flavor):
    """Ids through a Reshape (held as float32 by the walk) into op layers (not_equal, equal, where, add; Keras 3's
    mean and divide): converted before the dtype tracking, so they must still lower; comparisons and Keras 3's float
    ops read the float32 Values, the others get the ids back in int32, as Keras computes."""
    import tfjsconv

    k = keras if flavor.startswith("keras3") else pytest.importorskip("tf_keras")
    ids = k.Input((2, 5), name="ids", dtype="int32")
    flat = k.layers.Reshape((10,), name="flat")(ids)
    if k is keras:
        ops = keras.ops
        mask = ops.cast(ops.not_equal(flat, 0), "float32")
        out = ops.cast(ops.where(ops.equal(flat, 1), flat + 7, flat * 3), "float32") * mask
        out = out + ops.mean(flat, axis=-1, keepdims=True) + ops.divide(flat, 4)  # floats of the ids in Keras 3
    else:
        import tensorflow as tf

        mask = tf.cast(tf.math.not_equal(flat, 0), tf.float32)
        out = tf.cast(tf.where(tf.equal(flat, 1), flat + 7, flat * 3), tf.float32) * mask
    model = k.Model(ids, out)
    x = np.random.default_rng(3).integers(0, 3, (2, 2, 5)).astype("int32")
    path = tmp_path / f"m.{flavor.split('.')[-1]}"
    model.save(path)
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    _verify(tmp_path / "out", {"ids": x}, [np.asarray(model(x))])


def test_keras3_mean_and_divide_of_an_int32_input_are_floats(tmp_path, tfjs_runtime):
    """Keras 3's ops.mean / ops.divide cast integers to float32 first: the lowering once took an integer mean."""
    import tfjsconv

    ids = keras.Input((5,), name="ids", dtype="int32")
    model = keras.Model(ids, keras.ops.mean(ids, axis=-1, keepdims=True) + keras.ops.divide(ids, 4))
    x = np.random.default_rng(4).integers(0, 9, (2, 5)).astype("int32")
    model.save(tmp_path / "m.keras")
    tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    _verify(tmp_path / "out", {"ids": x}, [np.asarray(model(x))])
