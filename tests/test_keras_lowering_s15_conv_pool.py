"""Convolution, pooling and attention op layers lowered with h5py (issue 16, session 15): Keras 3's
``keras.ops.{max,average}_pool`` (1-D, 2-D, 3-D, int32 max pools exact), ``conv`` (1/2/3-D, dilation, a kernel from a
constant or a Keras tensor), ``depthwise_conv`` and ``separable_conv`` (strides with dilation too, as Keras's
TensorFlow backend decomposes them), ``depth_to_space``, ``space_to_depth``, ``image.extract_patches`` (2-D and 3-D)
and ``dot_product_attention`` (bias, mask, scale, is_causal, grouped key/value heads, rows masked whole), channels_first
where the op has it; and tf_keras's ``tf.nn`` pools (``avg_pool2d``, ``max_pool2d`` — ``tf.nn.max_pool`` records it —,
``avg_pool``, ``max_pool``, the 1-D and 3-D ones, ``pool``, ``compat.v1.nn.max_pool``/``avg_pool``), ``conv2d``,
``conv1d``, ``conv3d``, ``convolution`` (and TF 1's), ``depthwise_conv2d`` (and ``depthwise_conv2d_native``),
``separable_conv2d``, ``conv{1,2,3}d_transpose`` and ``space_to_depth``.

As in ``test_keras_lowering_op_layers_more.py``: functional models with many outputs, converted where TensorFlow, Keras
and tf_keras cannot be imported, run in TF.js (cpu and wasm) against Keras's own ``model(x)``. Inputs hold ties (values
on a 0.5 grid), zeros and negatives; int32 pools get INT32_MIN/MAX. What stays refused (Keras 3's ConvTranspose, whose
call cannot run in Keras 3.15; strides with dilation in a convolution, which TensorFlow raises on; averages of
integers; ``tf.nn.dilation2d``, which TF.js's wasm computes otherwise) is named.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402

I32 = np.iinfo(np.int32)
_RNG = np.random.default_rng(15)
#: Constant kernels: ``(kh, kw, in, out)`` and the like, as saved in the files.
KERNELS = {shape: (_RNG.standard_normal(shape) * 0.4).astype("float32") for shape in [
    (3, 3, 3, 2), (3, 3, 4, 2), (3, 3, 4, 1), (2, 3, 2), (2, 2, 2, 3, 2), (1, 1, 6, 4), (1, 6, 4), (3, 3, 2, 3),
    (2, 2, 3), (2, 2, 2, 2, 3)]}


def _k(*shape: int) -> np.ndarray:
    return KERNELS[shape]


#: Input shapes (batch left out): images, channels_first images ``[C=4, H=6, W=8]``, sequences, volumes, int32
#: images, a flat kernel, attention query/key-value ``[T|S, heads, depth]``, a bias, masks.
SHAPES = {"img": (8, 8, 3), "img4": (4, 6, 8), "seq": (9, 3), "vol": (4, 5, 4, 3), "ids": (6, 6, 3), "kt": (54,),
          "q": (5, 2, 4), "kv": (6, 2, 4), "q4": (5, 4, 4), "bias": (2, 5, 6), "mask": (2, 5, 6), "mask1": (1, 5, 6),
          "imgd": (7, 9, 3), "qd": (3, 2, 4)}
#: Inputs whose sizes the model leaves unknown (the data's are in :data:`SHAPES`).
UNKNOWN = {"imgd": (None, None, 3), "qd": (None, 2, 4)}


def _inputs(names: list[str]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(16)
    out = {}
    for name in names:
        shape = (2, *SHAPES[name])
        if name == "ids":
            ids = rng.integers(-3, 3, shape).astype("int32")  # ties
            ids.flat[::5], ids.flat[2::7], ids.flat[3::11] = I32.min, I32.max, I32.max - 1
            out[name] = ids
        elif name.startswith("mask"):
            mask = rng.random(shape) > 0.4
            mask[0, 0, 1] = False  # a row masked whole
            mask[1, -1, 0] = False
            out[name] = mask
        else:
            value = np.round(rng.standard_normal(shape) * 4) / 2  # ties on a 0.5 grid, zeros
            if name in ("img", "seq", "imgd"):
                value.flat[::9] = 0.0
                value.flat[1::13] = -7.5
            out[name] = value.astype("float32")
    return out


def keras3_model():
    """The lowered ``keras.ops`` on Keras 3 symbolic tensors."""
    o = keras.ops
    t = {name: keras.Input(UNKNOWN.get(name, shape), name=name, dtype="int32" if name == "ids" else
                           "bool" if name.startswith("mask") else "float32") for name, shape in SHAPES.items()}
    img, img4, seq, vol, ids = t["img"], t["img4"], t["seq"], t["vol"], t["ids"]
    cf = {"data_format": "channels_first"}
    pools = [
        o.max_pool(img, 2, 1, "same"), o.max_pool(img, (3, 2), (2, 1), "valid"), o.average_pool(img, 3, 2, "same"),
        o.average_pool(img, 2), o.max_pool(img4, 2, 2, "same", **cf), o.average_pool(img4, (2, 3), 1, "valid", **cf),
        o.max_pool(seq, 3, 2, "same"), o.average_pool(seq, 2, 1, "valid"), o.max_pool(vol, 2, (1, 2, 2), "same"),
        o.average_pool(vol, (2, 2, 1), 1, "valid"), o.average_pool(o.transpose(vol, (0, 4, 1, 2, 3)), 2, 1, "same", **cf),
    ]
    convs = [
        o.conv(img, _k(3, 3, 3, 2), 2, "same"), o.conv(img, _k(3, 3, 3, 2), 1, "valid", dilation_rate=2),
        o.conv(img4, _k(3, 3, 4, 2), (1, 2), "same", **cf), o.conv(seq, _k(2, 3, 2), 1, "same", dilation_rate=2),
        o.conv(vol, _k(2, 2, 2, 3, 2), (1, 2, 1), "same"), o.conv(img, o.reshape(t["kt"][0], (3, 3, 3, 2)), 1, "valid"),
        o.conv(img, o.ones((1, 1, 3, 2)) * 0.5),
        o.depthwise_conv(img, _k(3, 3, 3, 2), 1, "same"), o.depthwise_conv(img, _k(3, 3, 3, 2), 2, "same", dilation_rate=2),
        o.depthwise_conv(img4, _k(3, 3, 4, 1), (2, 1), "valid", dilation_rate=(1, 2), **cf),
        o.depthwise_conv(seq, _k(2, 3, 2), 2, "valid"),
        o.separable_conv(img, _k(3, 3, 3, 2), _k(1, 1, 6, 4), 2, "same"),
        o.separable_conv(img, _k(3, 3, 3, 2), _k(1, 1, 6, 4), 2, "valid", dilation_rate=2),
        o.separable_conv(seq, _k(2, 3, 2), _k(1, 6, 4), 1, "same", dilation_rate=2),
    ]
    moves = [
        o.depth_to_space(img4, 2), o.depth_to_space(img4, 2, **cf), o.space_to_depth(img, 2),
        o.space_to_depth(img4, 2, **cf), o.image.extract_patches(img, 2),
        o.image.extract_patches(img, (3, 2), strides=(2, 1), padding="same"),
        o.image.extract_patches(img, 2, strides=1, dilation_rate=2), o.image.extract_patches(img4, 2, **cf),
        o.image.extract_patches(vol, (2, 2, 2)),
    ]
    q, kv = t["q"], t["kv"]
    attention = [
        o.dot_product_attention(q, q, q), o.dot_product_attention(q, kv, kv, is_causal=True, scale=2),
        o.dot_product_attention(q, kv, kv, bias=t["bias"], mask=t["mask"], scale=0.3, is_causal=True),
        o.dot_product_attention(t["q4"], kv, kv, mask=t["mask1"]),
    ]
    imgd, qd = t["imgd"], t["qd"]
    unknown_sizes = [  # sizes unknown in the config
        o.max_pool(imgd, 3, 2, "same"), o.average_pool(imgd, 2, 1, "valid"), o.conv(imgd, _k(3, 3, 3, 2), 2, "same"),
        o.depthwise_conv(imgd, _k(3, 3, 3, 2), 1, "valid", dilation_rate=2), o.image.extract_patches(imgd, 2),
        o.dot_product_attention(qd, qd, qd, bias=np.float32([[[0.5]], [[-1.0]]]), mask=np.array([[True, False, True]])),
    ]
    integers = [o.max_pool(ids, 2, 1, "same"), o.max_pool(ids, 3, 2, "valid"), o.max_pool(ids[:, 0], 2, 1, "same"),
                o.space_to_depth(ids, 3), o.depth_to_space(o.concatenate([ids, ids[..., :1]], axis=-1), 2)]
    return keras.Model(list(t.values()), pools + convs + moves + attention + unknown_sizes + integers)


def tf_model():
    """The lowered ``tf.nn`` functions on tf_keras tensors (each a TFOpLambda)."""
    pytest.importorskip("tf_keras")
    tf = pytest.importorskip("tensorflow")
    import tf_keras as k

    names = ("img", "seq", "vol", "ids", "kt")
    t = {name: k.Input(SHAPES[name], name=name, dtype="int32" if name == "ids" else "float32") for name in names}
    img, seq, vol = t["img"], t["seq"], t["vol"]
    pools = [
        tf.nn.avg_pool2d(img, 2, 2, "SAME"), tf.nn.max_pool2d(img, 3, 2, "VALID"),
        tf.nn.max_pool(img, [1, 2, 2, 1], [1, 1, 1, 1], "SAME"), tf.nn.avg_pool(img, (3, 2), (2, 1), "VALID"),
        tf.nn.avg_pool(seq, 2, 1, "SAME"), tf.nn.max_pool1d(seq, 3, 2, "SAME"), tf.nn.avg_pool1d(seq, 3, 1, "VALID"),
        tf.nn.max_pool3d(vol, 2, 1, "SAME"), tf.nn.avg_pool3d(vol, 2, (1, 2, 2), "VALID"),
        tf.nn.max_pool(vol, 2, 2, "SAME"), tf.nn.pool(img, (2, 2), "AVG", strides=(2, 2), padding="SAME"),
        tf.nn.pool(seq, (3,), "MAX", padding="VALID"),
    ]
    convs = [
        tf.nn.conv2d(img, _k(3, 3, 3, 2), 2, "SAME"), tf.nn.conv2d(img, _k(3, 3, 3, 2), 1, "VALID", dilations=2),
        tf.nn.conv2d(img, tf.reshape(t["kt"][0], (3, 3, 3, 2)), [1, 1, 1, 1], "SAME"),
        tf.nn.conv1d(seq, _k(2, 3, 2), 1, "SAME"), tf.nn.conv1d(seq, _k(2, 3, 2), 2, "VALID"),
        tf.nn.convolution(img, _k(3, 3, 3, 2), strides=2, padding="SAME"),
        tf.nn.convolution(vol, _k(2, 2, 2, 3, 2), padding="VALID"),
        tf.nn.depthwise_conv2d(img, _k(3, 3, 3, 2), [1, 2, 2, 1], "SAME"),
        tf.nn.depthwise_conv2d(img, _k(3, 3, 3, 2), [1, 1, 1, 1], "VALID", dilations=[2, 2]),
        tf.nn.separable_conv2d(img, _k(3, 3, 3, 2), _k(1, 1, 6, 4), [1, 1, 1, 1], "SAME", dilations=(2, 2)),
        tf.nn.separable_conv2d(img, _k(3, 3, 3, 2), _k(1, 1, 6, 4), [1, 2, 2, 1], "VALID"),
        tf.nn.conv2d_transpose(img, _k(3, 3, 2, 3), [2, 16, 16, 2], 2, "SAME"),
        tf.nn.conv2d_transpose(img, _k(3, 3, 2, 3), [2, 17, 17, 2], 2, "VALID"),
        tf.nn.conv2d_transpose(img, _k(3, 3, 2, 3), [2, 12, 12, 2], 1, "VALID", dilations=2),
        tf.nn.conv1d_transpose(seq, _k(2, 2, 3), [2, 18, 2], 2, "SAME"),
        tf.nn.conv3d_transpose(vol, _k(2, 2, 2, 2, 3), [2, 8, 10, 8, 2], 2, "SAME"),
        tf.nn.conv3d(vol, _k(2, 2, 2, 3, 2), [1, 1, 2, 1, 1], "SAME"),
        tf.compat.v1.nn.convolution(img, _k(3, 3, 3, 2), "SAME", dilation_rate=[2, 2]),
        tf.compat.v1.nn.depthwise_conv2d_native(img, _k(3, 3, 3, 2), [1, 1, 1, 1], "SAME"),
        tf.compat.v1.nn.max_pool(img, [1, 2, 2, 1], [1, 2, 2, 1], "SAME"),
        tf.compat.v1.nn.avg_pool(img, [1, 3, 3, 1], [1, 1, 2, 1], "VALID"),
        tf.nn.space_to_depth(img, 2),
    ]
    integers = [tf.nn.max_pool2d(t["ids"], 2, 1, "SAME"), tf.nn.max_pool(t["ids"], 3, 2, "VALID")]
    return k.Model(list(t.values()), pools + convs + integers)


MODELS = {"keras3": (keras3_model, ".keras"), "keras3_h5": (keras3_model, ".h5"), "tf": (tf_model, ".h5")}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s15_conv_pool")
    saved = {}
    for case, (build, suffix) in MODELS.items():
        model = build()
        inputs = _inputs([t.name.split(":")[0] for t in model.inputs])
        saved[case] = save_with_outputs(model, inputs, folder / f"{case}{suffix}")
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", list(MODELS))
def test_conv_pool_op_layers_lower_and_match_keras(converted, tfjs_runtime, case):
    path, inputs, outputs = converted[case]
    _verify(Path(f"{path}.out"), inputs, outputs)


def _gap(path: Path) -> str:
    import tfjsconv
    from tfjsconv.errors import InputError, UsageError

    with pytest.raises((UsageError, InputError)) as err:
        tfjsconv.convert(path, path.parent / "out", output_format="tfjs_graph_model")
    return " ".join(str(err.value).split())


def test_what_stays_refused_is_named(tmp_path):
    """Keras 3's ConvTranspose (its call hands ``output_padding`` over as the padding: no Keras 3.15 model with it
    runs), a convolution with strides and dilation (TensorFlow raises), an average pool of integers (TensorFlow's
    AvgPool takes floats) and ``tf.nn.dilation2d`` stay gaps, each named."""
    o = keras.ops
    img, ids = keras.Input((8, 8, 3), name="img"), keras.Input((6, 6, 3), name="ids", dtype="int32")
    keras.Model([img, ids], [o.conv_transpose(img, _k(3, 3, 2, 3), 2, padding="same"),
                             o.conv(img, _k(3, 3, 3, 2), 2, "same", dilation_rate=2),
                             o.average_pool(ids, 2)]).save(tmp_path / "k3.keras")
    message = _gap(tmp_path / "k3.keras")
    assert re.search(r"does not cover 3 layers: 'conv_transpose\w*' \(keras\.ops\.ConvTranspose\), 'conv\w*' \(Conv\): "
                     r"strides \[2, 2\] together with dilation \[2, 2\] \(TensorFlow's convolution raises\), "
                     r"'average_pool\w*' \(AveragePool\): an average pool of integers", message), message

    tf = pytest.importorskip("tensorflow")
    k = pytest.importorskip("tf_keras")
    x = k.Input((8, 8, 3), name="x")
    k.Model(x, tf.nn.dilation2d(x, _k(3, 3, 3, 2)[..., 0], [1, 1, 1, 1], "SAME", "NHWC", [1, 1, 1, 1])).save(
        tmp_path / "tf.h5")
    message = _gap(tmp_path / "tf.h5")
    assert "does not cover 1 layer: 'tf.nn.dilation2d' (TFOpLambda: function 'nn.dilation2d')" in message, message


@pytest.mark.parametrize("op,key,value,why", [
    ("max_pool", "pool_size", 0, "pool_size=0 for 2 spatial"), ("max_pool", "data_format", "NCHW", "data_format='NCHW'"),
    ("conv", "padding", "causal", "padding='causal'"), ("conv", "strides", [1, 2, 3], r"strides=\[1, 2, 3\]"),
    ("depth_to_space", "block_size", 3, "block_size=3 for 8 channels"),
    ("space_to_depth", "block_size", 3, r"block_size=3 for sizes \[8, 8\]"),
    ("dot_product_attention", "flash_attention", True, "flash_attention=True"),
    ("dot_product_attention", "attn_logits_soft_cap", 2.0, "attn_logits_soft_cap=2.0"),
    ("dot_product_attention", "is_causal", "yes", "is_causal='yes'"),
])
def test_hostile_options_are_refused_by_name(tmp_path, op, key, value, why):
    """Edited operation configs (sizes no model has, formats Keras has not, options TensorFlow raises on) are gaps
    naming the operation and the option: never a crash or a model computing something else."""
    from keras_models import edit_layer_config

    o = keras.ops
    img, q = keras.Input((8, 8, 8), name="img"), keras.Input((5, 2, 4), name="q")
    outs = {"max_pool": o.max_pool(img, 2), "conv": o.conv(img, np.ones((1, 1, 8, 2), "float32")),
            "depth_to_space": o.depth_to_space(img, 2), "space_to_depth": o.space_to_depth(img, 2),
            "dot_product_attention": o.dot_product_attention(q, q, q)}
    keras.Model([img, q], outs[op]).save(tmp_path / "op.h5")
    edit_layer_config(tmp_path / "op.h5", op, key, value)
    message = _gap(tmp_path / "op.h5")
    assert re.search(rf"does not cover 1 layer: '{op}\w*' \(\w+\): {why}", message), message


@pytest.mark.node
@pytest.mark.parametrize("case", ["keras3"])
def test_conv_pool_op_layers_match_keras_on_webgl(converted, browser, case):
    """The same on webgl (headless Chromium): its pools, convolutions (dilated, decomposed), rearrangements and the
    attention with rows masked whole (the fused fill of :func:`.attention._fused_fill`, since webgl's Max would
    read a row of -2.37e38 fills as -1e20). Not the int32 outputs: webgl holds int32 in float32 textures, so
    INT32_MIN/MAX come back rounded whatever the op (a Reshape too), as docs/backends.md says."""
    import json

    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs = converted[case]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    expected = {n: o for n, o in zip(names, outputs, strict=True) if o.dtype.kind == "f"}
    assert len(expected) == len(names) - 5
    report = verify_model(out, inputs, expected, backends=("webgl",), rtol=1e-5, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)
