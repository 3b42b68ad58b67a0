"""More Keras layers lowered to TF.js ops with h5py: ids and Embedding, image preprocessing, 3-D layers,
Group/UnitNormalization, RepeatVector, dilated transposed convs and EinsumDense.

As in ``test_keras_lowering.py``: small models with random weights, saved by Keras, converted through
the lowering (no TensorFlow) and run in real TF.js (cpu and wasm); expected values are Keras's own
``model(x, training=False)``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfjsconv

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import LOWERED, POISONED, _module, _verify  # noqa: E402


def ids_embedding(k):
    L = k.layers
    ids = k.Input((5,), dtype="int32", name="ids")
    wide = k.Input((3,), dtype="int64", name="wide_ids")
    features = k.Input((4,), name="features")
    table = L.Embedding(12, 3, name="table")
    x = L.Concatenate(axis=1, name="tokens")([table(ids), table(wide)])
    numeric = L.Dense(3, name="ids_as_floats")(ids)  # an int input into a float layer: Keras casts it
    x = L.Flatten(name="flat")(L.UnitNormalization(name="unit")(x))
    return k.Model([ids, wide, features], [x, L.Add(name="sum")([numeric, L.Dense(3, name="d")(features)])])


def image_preprocessing(k):
    L = k.layers
    inp = k.Input((9, 12, 3), name="image")
    parts = [L.Resizing(5, 7, name="down_bilinear")(inp),
             L.Resizing(5, 7, interpolation="nearest", name="down_nearest")(inp),
             L.Resizing(5, 7, crop_to_aspect_ratio=True, name="aspect")(inp),
             L.CenterCrop(5, 7, name="center")(inp),
             L.CenterCrop(5, 7, name="small_center")(L.Resizing(4, 9, interpolation="nearest", name="up_n")(inp)),
             L.Resizing(5, 7, name="up_bilinear")(L.CenterCrop(3, 4, name="tiny")(inp))]
    x = L.Concatenate(name="all")(parts)
    x = L.RandomFlip(name="flip")(L.RandomRotation(0.2, name="rotate")(L.RandomZoom(0.1, name="zoom")(x)))
    x = L.GroupNormalization(3, name="group")(L.Conv2D(6, 1, name="mix")(x))
    x = L.GroupNormalization(2, center=False, epsilon=1e-5, name="group2")(x)
    return k.Model(inp, L.RMSNormalization(axis=[2, 3], name="rms")(x) if k is keras else x)


def volumes(k):
    L = k.layers
    inp = k.Input((6, 5, 7, 2), name="volume")
    x = L.Conv3D(3, 3, padding="same", activation="relu", name="conv3d_same")(inp)
    x = L.Conv3D(4, (2, 3, 2), strides=(1, 2, 1), name="conv3d_valid")(x)
    a = L.MaxPooling3D(2, name="max3d")(x)
    b = L.AveragePooling3D((2, 1, 2), strides=1, padding="same", name="avg3d")(x)
    y = L.Conv3DTranspose(3, 2, strides=2, name="up3d")(a)
    y = L.ZeroPadding3D(((1, 0), (0, 1), (1, 1)), name="pad3d")(y)
    y = L.Cropping3D(((0, 1), (1, 0), (1, 1)), name="crop3d")(y)
    y = L.UpSampling3D((1, 2, 1), name="ups3d")(y)
    pools = [L.GlobalAveragePooling3D(name="gap3d")(b), L.GlobalMaxPooling3D(name="gmp3d")(y)]
    return k.Model(inp, L.Concatenate(name="out")(pools))


def sequences(k):
    L = k.layers
    inp = k.Input((6,), name="vector")
    x = L.RepeatVector(4, name="repeat")(inp)
    x = L.UpSampling1D(3, name="ups1d")(x)
    x = L.ZeroPadding1D((2, 1), name="pad1d")(x)
    x = L.Cropping1D((1, 3), name="crop1d")(x)
    x = L.SpatialDropout1D(0.3, name="sdrop")(x)
    x = L.EinsumDense("abc,cd->abd", output_shape=(None, 5), bias_axes="d", activation="gelu", name="ed_seq")(x)
    y = L.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de", name="ed_heads")(x)
    z = L.EinsumDense("ab,bc->ac", output_shape=4, name="ed_plain")(inp)
    return k.Model(inp, [L.Flatten(name="flat")(y), z])


def transposed(k):
    L = k.layers
    inp = k.Input((6, 5, 3), name="image")
    x = L.Conv2DTranspose(4, 3, dilation_rate=2, name="dilated_valid")(inp)
    return k.Model(inp, L.Conv2DTranspose(2, (2, 3), dilation_rate=(2, 1), padding="same", name="dilated_same")(x))


def channels_first(k):
    L = k.layers
    inp = k.Input((3, 8, 7), name="nchw")
    cf = {"data_format": "channels_first"}
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv", **cf)(inp)
    x = L.BatchNormalization(axis=1, name="bn")(x)
    x = L.DepthwiseConv2D(3, name="depthwise", **cf)(x)
    x = L.SeparableConv2D(5, 2, name="separable", **cf)(x)
    x = L.ZeroPadding2D(1, name="pad", **cf)(x)
    x = L.MaxPooling2D(2, name="max", **cf)(x)
    x = L.UpSampling2D(2, interpolation="bilinear", name="up", **cf)(x)
    x = L.Conv2DTranspose(3, 3, strides=2, name="deconv", **cf)(x)
    x = L.Cropping2D(((1, 0), (0, 2)), name="crop", **cf)(x)
    x = L.AveragePooling2D(2, padding="same", name="avg", **cf)(x)
    rows = L.Reshape((3, -1), name="rows")(x)
    y = L.Conv1D(4, 3, padding="same", name="conv1d", **cf)(rows)
    y = L.MaxPooling1D(2, name="max1d", **cf)(y)
    pooled = [L.GlobalAveragePooling2D(name="gap", **cf)(x), L.GlobalMaxPooling1D(name="gmp1d", **cf)(y),
              L.Flatten(name="flat", **cf)(L.GlobalMaxPooling2D(keepdims=True, name="gmp_keep", **cf)(x))]
    return k.Model(inp, [L.Concatenate(name="pools")(pooled), L.Flatten(name="flat_cf", **cf)(x)])


def volumes_channels_first(k):
    L = k.layers
    inp = k.Input((2, 5, 4, 6), name="ncdhw")
    cf = {"data_format": "channels_first"}
    x = L.Conv3D(3, 2, padding="same", name="conv3d", **cf)(inp)
    x = L.MaxPooling3D(2, padding="same", name="max3d", **cf)(x)
    return k.Model(inp, L.Flatten(name="flat", **cf)(L.UpSampling3D(2, name="up3d", **cf)(x)))


def recurrent(k):
    L = k.layers
    inp = k.Input((5, 3), name="seq")
    seq = L.SimpleRNN(4, return_sequences=True, name="simple")(inp)
    seq = L.LSTM(3, return_sequences=True, go_backwards=True, name="lstm_back")(seq)
    seq = L.GRU(4, return_sequences=True, name="gru_after")(seq)
    seq = L.GRU(3, reset_after=False, return_sequences=True, go_backwards=True, name="gru_before")(seq)
    last, h, c = L.LSTM(2, return_state=True, recurrent_activation="hard_sigmoid", name="lstm_state")(seq)
    g_out, g_h = L.GRU(2, return_state=True, use_bias=False, activation="relu", name="gru_state")(inp)
    s_out = L.SimpleRNN(3, go_backwards=True, name="simple_back")(inp)
    return k.Model(inp, [seq, L.Concatenate(name="states")([last, h, c, g_out, g_h, s_out])])


def state_outputs(k):
    """return_state without return_sequences: the output and the state are one tensor, yet two model
    outputs (TF.js returns a tensor named twice only once: the writer gives each its own node)."""
    L = k.layers
    inp = k.Input((5, 3), name="seq")
    g_out, g_h = L.GRU(4, return_state=True, name="gru_state")(inp)
    s_out, s_h = L.SimpleRNN(3, return_state=True, name="simple_state")(inp)
    return k.Model(inp, [g_out, g_h, s_out, s_h])


def bidirectional(k):
    L = k.layers
    inp = k.Input((4, 3), name="seq")
    x = L.Bidirectional(L.LSTM(3, return_sequences=True), name="bi_concat")(inp)
    x = L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode="sum", name="bi_sum")(x)
    a = L.Bidirectional(L.SimpleRNN(2), merge_mode="ave", name="bi_ave")(x)
    b = L.Bidirectional(L.GRU(2, reset_after=False), merge_mode="mul", name="bi_mul")(x)
    out, fh, fc, bh, bc = L.Bidirectional(L.LSTM(2, return_state=True), name="bi_state")(x)
    return k.Model(inp, L.Concatenate(name="out")([a, b, out, fh, fc, bh, bc]))


def convs_1d(k):
    L = k.layers
    inp = k.Input((9, 3), name="seq")
    x = L.SeparableConv1D(4, 3, depth_multiplier=2, padding="same", activation="relu", name="separable1d")(inp)
    x = L.DepthwiseConv1D(3, depth_multiplier=2, dilation_rate=2, name="depthwise1d")(x)
    x = L.Conv1DTranspose(3, 3, strides=2, name="transposed1d")(x)
    y = L.Conv1DTranspose(2, 2, strides=2, padding="same", data_format="channels_first", name="transposed1d_cf")(x)
    return k.Model(inp, [x, y])


FAMILIES = {"ids_embedding": ids_embedding, "image_preprocessing": image_preprocessing, "volumes": volumes,
            "sequences": sequences, "transposed": transposed, "channels_first": channels_first,
            "volumes_channels_first": volumes_channels_first, "recurrent": recurrent, "state_outputs": state_outputs,
            "bidirectional": bidirectional,
            "convs_1d": convs_1d}
CASES = [(family, "keras3.keras") for family in FAMILIES] + [
    ("ids_embedding", "tf_keras.h5"), ("sequences", "tf_keras.h5"), ("volumes", "keras3.h5"), ("channels_first", "tf_keras.h5"),
    ("recurrent", "tf_keras.h5"), ("bidirectional", "tf_keras.h5"), ("recurrent", "keras3.h5"), ("convs_1d", "tf_keras.h5"), ("state_outputs", "tf_keras.h5")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for t in model.inputs:
        shape = (2, *tuple(t.shape)[1:])
        dtype = str(getattr(t.dtype, "name", t.dtype))
        inputs[t.name.split(":")[0]] = rng.integers(0, 12, shape).astype(dtype) if "int" in dtype \
            else rng.standard_normal(shape).astype("float32")
    return inputs


def _save(family: str, flavor: str, folder: Path, seed: int = 11):
    model = FAMILIES[family](_module(flavor))
    randomize(model, seed)
    inputs = _inputs(model, seed + 1)
    return save_with_outputs(model, inputs, folder / f"{family}{flavor[flavor.index('.'):]}")


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_more_layers_lower_and_match_keras(tmp_path, tfjs_runtime, family, flavor):
    path, inputs, outputs = _save(family, flavor, tmp_path)
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    # Keras 3 saves training=True for its Random* layers (their call's default): named in a warning before this line
    assert result.details[-1] == LOWERED
    _verify(tmp_path / "out", {k: v.astype("int32") if "int" in str(v.dtype) else v for k, v in inputs.items()},
            outputs)


def test_int_inputs_keep_their_dtype_in_the_signature(tmp_path):
    """Keras's input dtypes, as TF's converter writes them (TF.js feeds an int64 input as int32)."""
    path = _save("ids_embedding", "keras3.keras", tmp_path)[0]
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    signature = json.loads((tmp_path / "out" / "model.json").read_text())["signature"]["inputs"]
    assert {name: spec["dtype"] for name, spec in signature.items()} == \
        {"ids": "DT_INT32", "wide_ids": "DT_INT64", "features": "DT_FLOAT"}


def test_options_the_lowering_does_not_cover_are_named():
    from tfjsconv.plugins.keras.lowering import layer_gaps

    L = keras.layers
    ids = keras.Input((4,), dtype="int32", name="ids")
    x = L.Embedding(5, 3, mask_zero=True, name="masked_ids")(ids)
    x = L.GRU(2, activation="glu", return_sequences=True, name="glu_gru")(x)
    x = L.Resizing(3, 3, antialias=True, name="smooth")(L.Reshape((4, 2, 1), name="image")(x))
    config = json.loads(keras.Model(ids, L.EinsumDense("...b,bc->...c", output_shape=2, name="ellipsis")(x)).to_json())
    gaps = layer_gaps(config)  # the mask is lowered; Reshape drops it, as Keras does; the ellipsis equation lowers
    assert gaps == ["'smooth' (Resizing: antialias=True)"]


def test_new_layers_convert_without_tensorflow_or_keras(tmp_path):
    paths = [_save(family, flavor, tmp_path)[0] for family, flavor in
             (("bidirectional", "keras3.keras"), ("channels_first", "tf_keras.h5"), ("ids_embedding", "keras3.keras"))]
    out = subprocess.run([sys.executable, "-c", POISONED, *map(str, paths)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count(LOWERED) == 3, out.stdout
    assert out.stdout.rstrip().endswith("LOADED:"), out.stdout


def test_outputs_of_one_tensor_get_nodes_of_their_own(tmp_path):
    """TF.js's execute() returns a tensor named by two outputs once (one output short): each gets its node."""
    import json

    path = _save("state_outputs", "keras3.keras", tmp_path)[0]
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    outputs = json.loads((tmp_path / "out" / "model.json").read_text())["signature"]["outputs"]
    names = [o["name"] for o in outputs.values()]
    assert len(names) == 4 and len(set(names)) == 4, names
