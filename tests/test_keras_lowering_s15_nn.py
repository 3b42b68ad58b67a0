"""Op layers of the nn family lowered with h5py (issue 16, session 15): Keras 3 ``keras.ops.nn`` activations (celu,
glu, hard_shrink, hard_tanh, soft_shrink, sparse_plus, sparse_sigmoid, sparsemax, squareplus, tanh_shrink,
threshold), normalizations (batch_normalization, layer_normalization, rms_normalization, moments, normalize),
binary_/categorical_crossentropy, psnr and multi_hot, and tf_keras's ``tf.nn.crelu``, ``tf.compat.v1.nn.softmax``/``log_softmax``
(``dim``), ``sigmoid_cross_entropy_with_logits``, ``local_response_normalization``/``lrn``, ``sufficient_statistics``,
``weighted_moments`` and ``compute_average_loss``.

As in ``test_keras_lowering_op_layers_more.py``: functional models converted where TensorFlow, Keras and tf_keras
cannot be imported, run in real TF.js (cpu, wasm and webgl) and compared with Keras's own ``model(x)``. The
activations' input holds the values at each threshold (±0.5, ±1, the options' own), 0, NaN and ±Inf, where Keras's
``tf.where`` chains decide (``hard_shrink(NaN)`` is 0); ``moments(synchronized=True)`` is fed whole numbers near 1000,
where its ``E[x²] - mean²`` is off the two-pass variance by ~1e-3; ``normalize`` a row of zeros (the capped inverse
norm); ``multi_hot`` indices outside ``[0, num_classes)``.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402
from test_keras_lowering_op_layers_more import CLI_POISONED  # noqa: E402

NAN, INF = np.nan, np.inf
#: Thresholds of the activations (±0.5, ±1, 2), 0, -0.0 and the special values, then ordinary ones.
EDGES = np.array([0.5, -0.5, 1.0, -1.0, 0.0, -0.0, 2.0, -2.0, NAN, INF, -INF, 0.25, -0.75, 1.5, -3.0, 0.9999],
                 np.float32)


def _edges() -> np.ndarray:
    rng = np.random.default_rng(15)
    return np.stack([EDGES, rng.standard_normal(16).astype(np.float32) * 2]).reshape(2, 2, 8)


def _inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32) * 2
    x[0, 1] = 0.0  # normalize: a zero row
    x[1, 2] = [1.0, 1.0, 1.0, -2.0]  # sparsemax/softmax: ties
    # whole numbers near 1000: every sum exact in float32 (below 2^24) in any order, so that the synchronized
    # moments' E[x²] - mean² (rounded as Keras rounds it, off the two-pass variance by ~1e-3) is the same everywhere
    near = rng.integers(990, 1010, (2, 3, 4)).astype(np.float32)
    img = rng.standard_normal((2, 3, 3, 6)).astype(np.float32) * 3
    ids = np.array([[[0, 3, 3, -1, 7], [5, 5, 2, 1, 0]], [[-6, 9, 4, 4, 4], [1, 2, 3, 0, 6]]], np.int32)  # outside too
    return {"edge": _edges(), "x": x, "near": near, "img": img, "ids": ids}


def keras3_nn_model():
    """The keras.ops.nn functions, every option they record."""
    o = keras.ops
    edge, x, near = keras.Input((2, 8), name="edge"), keras.Input((3, 4), name="x"), keras.Input((3, 4), name="near")
    mean, var = o.mean(x, axis=(0, 1)), o.var(x, axis=(0, 1))  # tensors of shape (4,), the batch's
    gamma = np.linspace(0.5, 2.0, 12, dtype=np.float32).reshape(3, 4)
    activations = [
        o.celu(edge), o.celu(edge, alpha=0.7), o.hard_shrink(edge), o.hard_shrink(edge, 2.0), o.hard_tanh(edge),
        o.soft_shrink(edge), o.soft_shrink(edge, 1.0), o.sparse_plus(edge), o.sparse_sigmoid(edge),
        o.squareplus(edge), o.squareplus(edge, 2), o.tanh_shrink(edge), o.threshold(edge, 0.5, -2.0),
        o.threshold(edge, -1.0, 7),
    ]
    tensors = [
        o.glu(x), o.glu(o.concatenate([x, x * 0.5], axis=1), axis=1), o.sparsemax(x), o.sparsemax(x * 3.0, axis=1),
        o.batch_normalization(x, mean, var, axis=-1, offset=o.ones((4,)) * 0.25, scale=o.ones((4,)) * 1.5),
        o.batch_normalization(x, np.array([0.5, -1.0, 2.0], np.float32), np.array([1.0, 4.0, 0.25], np.float32),
                              axis=1, offset=np.array([0.0, 1.0, -1.0], np.float32),
                              scale=np.array([2.0, 1.0, -1.0], np.float32), epsilon=0.1),
        o.batch_normalization(x, mean, var, axis=2),  # Keras takes an offset and a scale both or neither
        o.layer_normalization(x), o.layer_normalization(x, gamma, np.float32(0.5) - gamma, axis=[1, 2], epsilon=1e-3),
        o.layer_normalization(x, o.ones((3,)) * 2.0, axis=1), o.layer_normalization(x, gamma, rms_scaling=True,
                                                                                       axis=(-2, -1)),
        o.rms_normalization(x), o.rms_normalization(x, o.ones((4,)) * 2.0, axis=-1, epsilon=1e-5),
        o.rms_normalization(x, gamma, axis=[1, 2], epsilon=0.5),
        o.rms_normalization(x, np.linspace(0.5, 2.0, 4) + 1e-9, axis=2),  # float64: Keras computes in float32
        *o.moments(x, axes=[1], keepdims=True), *o.moments(x, axes=[0, 2]), *o.moments(near, axes=[1, 2]),
        *o.moments(near, axes=[1, 2], synchronized=True), *o.moments(x, axes=-1, keepdims=True, synchronized=True),
        o.normalize(x), o.normalize(x, axis=1, order=1), o.normalize(x, axis=-1, order=3, epsilon=0.5),
        o.normalize(x, axis=[1, 2], order=1), o.normalize(x, axis=[2, 1], order=1, epsilon=10.0),
        o.normalize(x, axis=(1, 2), epsilon=1.0),
        o.psnr(o.sigmoid(x), o.sigmoid(near * 0.001 - 1.0), 1.0), o.psnr(x, x * 0.5, 255),
    ]
    gate = keras.layers.Activation("sigmoid", name="gate")(x * 10.0)
    targets = o.sigmoid(x[:, ::-1])
    losses = [  # an output made by a sigmoid is read through its logits (saturated here: clipping would differ)
        o.binary_crossentropy(targets, o.sigmoid(x * 30.0)), o.binary_crossentropy(targets, gate, from_logits=True),
        o.binary_crossentropy(targets, gate),
        o.binary_crossentropy(targets, o.clip(x, -0.5, 1.5)),
        o.binary_crossentropy(targets, x * 30.0, from_logits=True),
        o.binary_crossentropy(o.sigmoid(edge), o.sigmoid(edge)),
        o.categorical_crossentropy(o.softmax(x[:, ::-1]), o.abs(x) + 0.01),
        o.categorical_crossentropy(o.softmax(x[:, ::-1], axis=1), x * 0.5, from_logits=True, axis=1),
        o.categorical_crossentropy(o.softmax(x[:, ::-1]), o.softmax(x * 30.0)),  # read through its logits
        o.categorical_crossentropy(targets, keras.layers.Activation("softmax", name="probs")(x * 30.0)),
    ]
    ids = keras.Input((2, 5), name="ids", dtype="int32")
    hots = [o.multi_hot(ids, 6), o.multi_hot(ids, 4, dtype="int32"), o.multi_hot(ids, 5, axis=1, dtype="bool")]
    return keras.Model([edge, x, near, ids], activations + tensors + losses + hots)


def tf_nn_model():
    """The tf.nn functions on tf_keras tensors (each a TFOpLambda)."""
    pytest.importorskip("tf_keras")
    tf = pytest.importorskip("tensorflow")
    import tf_keras as k

    edge, x, img = k.Input((2, 8), name="edge"), k.Input((3, 4), name="x"), k.Input((3, 3, 6), name="img")
    outs = [
        tf.nn.crelu(x), tf.nn.crelu(x, axis=1), tf.compat.v1.nn.crelu(img, axis=-2),  # no NaN: wasm's Relu of -NaN is 0
        tf.compat.v1.nn.softmax(x), tf.compat.v1.nn.softmax(x, dim=1), tf.compat.v1.nn.softmax(x, axis=-2),
        tf.compat.v1.nn.log_softmax(x, dim=1), tf.compat.v1.math.log_softmax(x),
        tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.sigmoid(x * 2.0), logits=x),
        tf.compat.v1.nn.sigmoid_cross_entropy_with_logits(labels=tf.abs(edge[:, ::-1]) * 0.0 + 0.5, logits=edge),
        tf.nn.local_response_normalization(img), tf.nn.lrn(img, 1, 0.5, 0.3, 0.75),
        tf.nn.local_response_normalization(img, depth_radius=0, bias=2.0, alpha=1e-3, beta=1.0),
        *tf.nn.sufficient_statistics(x, axes=[1])[:3], *tf.nn.sufficient_statistics(x, [0, -1], x[0, 0], keepdims=True),
        *tf.compat.v1.nn.sufficient_statistics(img, [1, 2], None, True)[:3],
        *tf.nn.weighted_moments(x, [1], tf.math.round(tf.sigmoid(x * 3.0))),  # rows of zero weights: 0 (div_no_nan)
        *tf.nn.weighted_moments(img, [1, 2], tf.sigmoid(img[:, :, :, :1]), keepdims=True),
        tf.nn.compute_average_loss(tf.reduce_sum(x, [1, 2])), tf.nn.compute_average_loss(x, global_batch_size=8),
    ]
    return k.Model([edge, x, img], outs)


MODELS = {"keras3_nn": (keras3_nn_model, ".keras"), "keras3_nn_h5": (keras3_nn_model, ".h5"),
          "tf_nn": (tf_nn_model, ".h5")}


def _save(case: str, folder: Path):
    build, suffix = MODELS[case]
    model = build()
    data = _inputs()
    names = [t.name.split(":")[0] for t in model.inputs]
    return save_with_outputs(model, {name: data[name] for name in names}, folder / f"{case}{suffix}")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s15_nn")
    saved = {case: _save(case, folder) for case in MODELS}
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", list(MODELS))
def test_nn_op_layers_lower_and_match_keras(converted, tfjs_runtime, case):
    path, inputs, outputs = converted[case]
    _verify(Path(f"{path}.out"), inputs, outputs)


@pytest.mark.node
@pytest.mark.parametrize("case", ["keras3_nn", "tf_nn"])
def test_nn_op_layers_match_keras_on_webgl(converted, browser, case):
    """The same on webgl (headless Chromium): every output, the special values included."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs = converted[case]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    expected = dict(zip(names, outputs, strict=True))
    report = verify_model(out, inputs, expected, backends=("webgl",), rtol=1e-5, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)




def test_what_stays_refused_is_named(tmp_path):
    """``normalize`` over every axis (the batch too), a matrix norm of order 3, ``moments`` of integers and a
    ``binary_crossentropy`` of a sigmoid behind a cast (an Identity: Keras reads the logits through a cast, not through
    ``stop_gradient``) or of a Dense layer's sigmoid (its label is a recurrent step's too, whose output Keras makes
    anew) stay gaps naming the operation and why."""
    o = keras.ops
    x, ids = keras.Input((3, 4), name="x"), keras.Input((3, 4), name="ids", dtype="int32")
    keras.Model([x, ids], [o.normalize(x, axis=None), o.normalize(x, axis=[1, 2], order=3),
                           o.moments(ids, axes=[1])[0], o.binary_crossentropy(x, o.cast(o.sigmoid(x), "float32")),
                           o.binary_crossentropy(x, keras.layers.Dense(4, activation="sigmoid")(x)),
                           o.categorical_crossentropy(x, o.softmax(x, axis=1), axis=1)]
                ).save(tmp_path / "k3.keras")
    out = subprocess.run([sys.executable, "-c", CLI_POISONED, "convert", str(tmp_path / "k3.keras"),
                          str(tmp_path / "out"), "--output_format=tfjs_graph_model"], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr[-2000:]
    message = " ".join(out.stderr.split())
    assert "--loader=tensorflow" in message
    assert re.search(r"does not cover 6 layers: 'normalize\w*' \(Normalize\): axis=None \(normalizes over the batch "
                     r"too\), 'normalize\w*' \(Normalize\): order=3 over axes \[1, 2\] \(a matrix norm\), "
                     r"'moments\w*' \(Moments\): a tensor of dtype int32 \(lowered for float32\), "
                     r"'binary_crossentropy\w*' \(BinaryCrossentropy\): a sigmoid's output Keras may read the logits "
                     r"of \(lowered for its sigmoid op and Activation layer\), 'binary_crossentropy\w*' "
                     r"\(BinaryCrossentropy\): a sigmoid's output", message), message
    assert "(and 1 more)" in message  # categorical_crossentropy: a softmax over axis 1, transposed and back


@pytest.mark.parametrize("op,key,value", [
    ("glu", "axis", 5), ("glu", "axis", 1), ("sparsemax", "axis", "a"), ("hard_shrink", "threshold", "x"),
    ("moments", "axes", [1, 1]), ("normalize", "order", 0), ("batch_norm", "axis", 7),
    ("binary_crossentropy", "from_logits", 2),
])
def test_hostile_arguments_are_refused_by_name(tmp_path, op, key, value):
    """Edited operation configs (axes out of range or of odd size, wrong types, orders Keras refuses) are gaps naming
    the operation: never a crash or a model computing something else."""
    import tfjsconv
    from keras_models import edit_layer_config
    from tfjsconv.errors import InputError, UsageError

    o = keras.ops
    x = keras.Input((3, 4), name="x")
    outs = {"glu": o.glu(x), "sparsemax": o.sparsemax(x), "hard_shrink": o.hard_shrink(x),
            "moments": o.moments(x, axes=[1])[0], "normalize": o.normalize(x),
            "batch_norm": o.batch_normalization(x, o.ones((4,)), o.ones((4,)), axis=-1),
            "binary_crossentropy": o.binary_crossentropy(x, x)}
    keras.Model(x, outs[op]).save(tmp_path / "op.h5")
    edit_layer_config(tmp_path / "op.h5", op, key, value)
    with pytest.raises((UsageError, InputError)) as err:
        tfjsconv.convert(tmp_path / "op.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert re.search(rf"does not cover 1 layer: '{op}\w*' \(\w+\): \S", str(err.value)), err.value
