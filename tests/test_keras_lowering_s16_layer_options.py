"""Layer options probed exhaustively (session 16, /work/notes/probe16/h4_probe.py): the combinations the lowering
refused while TensorFlow's path converted them, and what stays refused.

GroupNormalization over another axis than the last (``axis=1`` of channels_first images, ``axis=2``, ``axis=-3``):
Keras splits that axis into groups and reduces every other non-batch axis; the lowering moves the axis last, runs the
channels-last lowering and moves it back, over sizes known or unknown in the config. Grouped Conv3D (``groups > 1``,
which TF.js's conv3d cannot take: the traced graph gives other numbers): one Conv3D per group of input channels with
its filters, concatenated in group order, as TensorFlow pairs them. A "same" Conv2D whose padding is negative along
one axis and positive along the other (kernel (1, 3), strides (2, 1) on an even height), which TF.js's wasm Conv2D
computes wrongly as "SAME" (DepthwiseConv2D too): TensorFlow's pads spelled out as EXPLICIT ones (cpu, wasm and
webgl). Keras 3 ``.keras`` and tf_keras ``.h5``, converted in a process where TensorFlow, Keras and tf_keras cannot
be imported, run in TF.js (cpu and wasm) and compared with Keras's own ``model(x)``. The inputs hold negative
values, zeros and a group of equal values (its variance 0: only epsilon). What neither path computes (UpSampling2D's
bicubic, area, Lanczos, Gaussian and Mitchell resizes: TF.js has no ResizeBicubic, ResizeArea or ScaleAndTranslate)
stays a gap named by layer.
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


def _module(flavor: str):
    if flavor == "keras3":
        return keras
    return pytest.importorskip("tf_keras")


def group_norm_model(k):
    """GroupNormalization on axes other than the last, every center/scale pair, beside the channels-last one."""
    x = k.Input((6, 7, 4), name="x")
    first = k.layers.Permute((3, 1, 2), name="to_channels_first")(x)  # (4, 6, 7)
    outs = [
        k.layers.GroupNormalization(groups=2, axis=1, name="gn_cf_2")(first),
        k.layers.GroupNormalization(groups=4, axis=1, center=False, name="gn_cf_4_nocenter")(first),
        k.layers.GroupNormalization(groups=1, axis=1, scale=False, name="gn_cf_1_noscale")(first),
        k.layers.GroupNormalization(groups=3, axis=1, center=False, scale=False, name="gn_axis1_3_bare")(x),
        k.layers.GroupNormalization(groups=7, axis=2, name="gn_axis2_7")(x),
        k.layers.GroupNormalization(groups=2, axis=-3, name="gn_axis_m3_2")(x),
        k.layers.GroupNormalization(groups=2, axis=-1, name="gn_last_2")(x),
    ]
    return k.Model(x, outs)


def group_norm_unknown_model(k):
    """channels_first images of sizes unknown in the config: the run-time grouped view after the transpose."""
    x = k.Input((4, None, None), name="x")
    return k.Model(x, [k.layers.GroupNormalization(groups=2, axis=1, name="gn_cf_unknown")(x),
                       k.layers.GroupNormalization(groups=4, axis=1, scale=False, name="gn_cf_unknown_4")(x)])


def grouped_conv3d_model(k):
    """Grouped Conv3D (TF.js's conv3d takes no groups; TensorFlow's traced graph gives other numbers in TF.js):
    channels_last and channels_first, same/valid, strides, dilation, with and without bias, over known sizes."""
    x = k.Input((4, 5, 6, 4), name="x")
    first = k.layers.Permute((4, 1, 2, 3), name="to_channels_first")(x)  # (4, 4, 5, 6)
    outs = [
        k.layers.Conv3D(6, 2, groups=2, name="c3_g2")(x),
        k.layers.Conv3D(4, 3, groups=4, padding="same", strides=2, use_bias=False, name="c3_g4_same_s2")(x),
        k.layers.Conv3D(2, 2, groups=2, dilation_rate=2, padding="same", name="c3_g2_dilated")(x),
        k.layers.Conv3D(4, 2, groups=2, data_format="channels_first", name="c3_g2_cf")(first),
        k.layers.Conv3D(6, (1, 2, 3), groups=2, padding="same", data_format="channels_first", use_bias=False,
                        name="c3_g2_cf_same")(first),
    ]
    return k.Model(x, outs)


def grouped_conv3d_unknown_model(k):
    """The same over depth, height and width unknown in the config (each group a Slice of the run-time tensor)."""
    x = k.Input((None, None, None, 4), name="x")
    return k.Model(x, [k.layers.Conv3D(4, 2, groups=2, name="c3_g2_unknown")(x),
                       k.layers.Conv3D(2, 3, groups=2, padding="same", strides=2, name="c3_g2_unknown_same")(x)])


def negative_same_pad_conv_model(k):
    """Conv2D "same" whose padding is negative along one axis and positive along the other (kernel (1, 3), strides
    (2, 1) on an even height): TF.js's wasm Conv2D computes these wrongly with padding "SAME" (the traced graph's
    numbers are wrong there too); spelled out as EXPLICIT pads, with bias, fused relu and groups (TensorFlow's CPU
    runs no channels_first Conv2D of these)."""
    x = k.Input((6, 7, 4), name="x")
    outs = [
        k.layers.Conv2D(3, (1, 3), strides=(2, 1), padding="same", name="k13_s21")(x),
        k.layers.Conv2D(3, (1, 3), strides=(2, 1), padding="same", use_bias=False, name="k13_s21_nobias")(x),
        k.layers.Conv2D(3, (1, 3), strides=(2, 2), padding="same", activation="relu", name="k13_s22_relu")(x),
        k.layers.Conv2D(2, (1, 3), strides=(3, 1), padding="same", name="k13_s31")(x),
        k.layers.Conv2D(4, (1, 3), strides=(2, 1), padding="same", groups=2, name="k13_s21_groups")(x),
        k.layers.Conv2D(3, (1, 2), strides=(2, 1), dilation_rate=1, padding="same", name="k12_s21")(x),
        k.layers.SeparableConv2D(3, (1, 3), strides=2, padding="same", name="sep_k13_s22")(x),  # depthwise: right
    ]
    return k.Model(x, outs)


MODELS = {"group_norm": (group_norm_model, (2, 6, 7, 4)),
          "negative_same_pad_conv": (negative_same_pad_conv_model, (3, 6, 7, 4)),
          "group_norm_unknown": (group_norm_unknown_model, (3, 4, 5, 3)),
          "grouped_conv3d": (grouped_conv3d_model, (2, 4, 5, 6, 4)),
          "grouped_conv3d_unknown": (grouped_conv3d_unknown_model, (2, 3, 5, 4, 4))}
CASES = [(name, flavor) for name in MODELS for flavor in ("keras3", "tf_keras")]


def _inputs(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Normal values with zeros, negatives and one row where every value is equal (a group of variance 0)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3.0).astype("float32")
    x.reshape(-1)[:5] = 0.0
    x[-1] = 1.25  # every group of the last sample is flat: only epsilon keeps rsqrt finite
    return x


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s16_layer_options")
    saved = {}
    for name, flavor in CASES:
        build, shape = MODELS[name]
        model = build(_module(flavor))
        randomize(model, 16)
        suffix = ".keras" if flavor == "keras3" else ".h5"
        saved[(name, flavor)] = save_with_outputs(model, {"x": _inputs(shape, 17)}, folder / f"{name}-{flavor}{suffix}")
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("name,flavor", CASES, ids=[f"{n}-{f}" for n, f in CASES])
def test_layer_options_lower_and_match_keras(converted, tfjs_runtime, name, flavor):
    path, inputs, outputs = converted[(name, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3", "tf_keras"])
def test_explicit_same_pads_match_keras_on_webgl(converted, browser, flavor):
    """The EXPLICIT pads of :func:`negative_same_pad_conv_model` run right on webgl too."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs = converted[("negative_same_pad_conv", flavor)]
    report = verify_model(Path(f"{path}.out"), inputs, dict(zip(_output_names(path), outputs, strict=True)),
                          backends=("webgl",), rtol=1e-5, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


def _output_names(path: Path) -> list[str]:
    import json

    return list(json.loads((Path(f"{path}.out") / "model.json").read_text())["signature"]["outputs"])


@pytest.mark.parametrize("flavor,methods", [("keras3", ("bicubic", "area", "lanczos3", "lanczos5")),
                                            ("tf_keras", ("bicubic", "area", "gaussian", "mitchellcubic"))])
def test_upsampling_resizes_tf_js_lacks_stay_refused_by_name(tmp_path, flavor, methods):
    """UpSampling2D's other interpolations (the traced graph's ResizeBicubic, ResizeArea and ScaleAndTranslate do
    not run in TF.js either) are gaps naming each layer and its interpolation."""
    k = _module(flavor)
    x = k.Input((3, 4, 2), name="x")
    outs = [k.layers.UpSampling2D(2, interpolation=m, name=f"up_{m}")(x) for m in methods]
    suffix = ".keras" if flavor == "keras3" else ".h5"
    k.Model(x, outs).save(tmp_path / f"m{suffix}")
    message = _refused(tmp_path / f"m{suffix}")
    assert f"does not cover {len(methods)} layers" in message, message
    for m in methods:
        assert re.search(rf"'up_{m}' \(UpSampling2D: interpolation='{m}'\)", message), message


@pytest.mark.node
def test_keras3_lora_layers_lower_from_a_keras_archive(tmp_path, tfjs_runtime):
    """Keras 3 saves a LoRA layer's kernel merged (``kernel + (alpha/rank)·a@b``) in a ``.keras`` archive, so it
    lowers as the plain layer (Dense, EinsumDense, Conv1D with lora_alpha, Embedding; the factors random, not zero);
    a Keras 3 ``.h5`` holds the factors apart, merged as Keras merges them when read."""
    rng = np.random.default_rng(16)
    x, ids = keras.Input((6, 4), name="x"), keras.Input((5,), name="ids", dtype="int32")
    layers = [keras.layers.Dense(3, lora_rank=2, name="dense"),
              keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 5), bias_axes="d", lora_rank=2,
                                       name="einsum"),
              keras.layers.Conv1D(4, 3, lora_rank=1, lora_alpha=3.0, name="conv"),
              keras.layers.Embedding(10, 4, lora_rank=2, name="emb")]
    model = keras.Model([x, ids], [layers[0](x), layers[1](x), layers[2](x), layers[3](ids)])
    for layer in layers:
        for weight in layer.weights:
            weight.assign(rng.standard_normal(weight.shape).astype("float32"))
    feeds = {"x": rng.standard_normal((2, 6, 4)).astype(np.float32), "ids": rng.integers(0, 10, (2, 5)).astype(np.int32)}
    expected = [np.asarray(o) for o in model([feeds["x"], feeds["ids"]])]
    model.save(tmp_path / "lora.keras")
    convert_poisoned([tmp_path / "lora.keras"])
    _verify(Path(f"{tmp_path / 'lora.keras'}.out"), feeds, expected)

    model.save(tmp_path / "lora.h5")  # the factors apart, merged when read (session 17)
    convert_poisoned([tmp_path / "lora.h5"])
    _verify(Path(f"{tmp_path / 'lora.h5'}.out"), feeds, expected)
