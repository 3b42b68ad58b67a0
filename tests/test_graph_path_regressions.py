"""Wrong outputs once found on the Keras -> SavedModel -> TF.js graph-model path, each pinned down.

1. Bidirectional LSTM/GRU: ``cse`` merged the forward and backward ``TensorListReserve`` (equal
   inputs and attrs), but a TF.js TensorList is a mutable object (``TensorListSetItem`` writes in
   place), so both loops wrote into one list. ``cse`` now never merges TensorList/TensorArray/
   hash-table ops, nor loop-frame ``Enter``/``Exit``.
2. tf_keras ``LayerNormalization`` (hence ``Conv1D -> LayerNormalization -> SimpleRNN``): it is a
   ``FusedBatchNormV3`` with ``is_training=True`` and empty mean/variance inputs; TF.js ignores
   ``is_training`` and normalised with the empty statistics (NaN). The SavedModel rewrites lower
   a training-mode batch norm to batch moments (``Mean``/``SquaredDifference``/``Rsqrt``).
3. Keras 3 EfficientNetB0: the converter was right. A Keras 3 ``Normalization`` layer that was
   never adapted keeps computing with the statistics it had when built, even after its weights are
   assigned; the saved file holds the assigned ones. A reference taken from the in-memory model
   therefore differs from the file in every element. The reference must be the reloaded file, which
   the graph model matches; the EfficientNet pattern (Rescaling, Normalization, swish, depthwise
   conv after a pad, squeeze-and-excitation) is checked that way here.

Models are small; each runs in real TF.js on cpu and wasm against Keras/TF at 1e-5 x max|reference|.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from random_graphs import Builder, optimize
from tfjsconv.dtypes import DType
from tfjsconv.interpreter import run_graph
from tf_reference import reference as tf_reference

RTOL = 1e-5
F, I = DType.FLOAT32, DType.INT32
GRAPH = {"output_format": "tfjs_graph_model"}


# -- helpers -------------------------------------------------------------------------------------
def _keras(flavor: str):
    pytest.importorskip("tensorflow")
    return pytest.importorskip("tf_keras" if flavor.startswith("tf_keras") else "keras")


def _randomize(model, seed: int) -> None:
    """Random weights; every variance (BatchNorm, Normalization) positive, counts left alone."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        name, shape, dtype = getattr(w, "path", None) or w.name, tuple(w.shape), np.asarray(w).dtype
        if "variance" in name:
            values.append(rng.uniform(0.5, 2.0, shape))
        elif not np.issubdtype(dtype, np.floating):
            values.append(np.asarray(w))
        else:
            values.append(0.5 * rng.standard_normal(shape))
        values[-1] = np.asarray(values[-1]).astype(dtype)
    model.set_weights(values)


def _save_and_reload(k, model, path: Path, inputs: np.ndarray) -> np.ndarray:
    """Save ``model``; the reference is what the *saved file* computes (see 3. above)."""
    model.save(path)
    reloaded = k.models.load_model(path, compile=False)
    return np.asarray(reloaded.predict(inputs, verbose=0))


def _convert_and_verify(path: Path, out: Path, inputs: np.ndarray, expected: np.ndarray, **options) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    tfjsconv.convert(path, out, **GRAPH, **options)
    names = list(json.loads((out / "model.json").read_text())["signature"]["inputs"])
    assert np.all(np.isfinite(expected))
    report = verify_model(out, {names[0]: inputs}, {"output": expected}, backends=("cpu", "wasm"), rtol=RTOL,
                          atol=0.0, quiet=True)
    assert report.passed, format_report(report)


# -- 1. Bidirectional RNNs: cse must not merge TensorLists -----------------------------------------
@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras.h5", "keras3.keras"])
@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_bidirectional_rnn_graph_model_matches_keras(tmp_path, tfjs_runtime, flavor, cell):
    k = _keras(flavor)
    inp = k.Input((5, 3))
    x = k.layers.Bidirectional(getattr(k.layers, cell)(4, return_sequences=True))(inp)
    model = k.Model(inp, k.layers.Bidirectional(getattr(k.layers, cell)(3))(x))
    _randomize(model, 1)
    inputs = np.random.default_rng(2).standard_normal((3, 5, 3)).astype(np.float32)
    path = tmp_path / f"bidi{flavor[flavor.index('.'):]}"
    expected = _save_and_reload(k, model, path, inputs)
    _convert_and_verify(path, tmp_path / "out", inputs, expected)


def _two_tensor_lists() -> Builder:
    """Two lists reserved with equal inputs, each written with a different value, then stacked."""
    b = Builder("lists")
    x = b.input("x", (2, 3))
    element_shape, count = b.const(np.array([2, 3], np.int32), "element_shape"), b.const(np.int32(1), "count")
    index = b.const(np.int32(0), "index")
    stacked = {}
    for name, value in (("a", x), ("b", b.op("Neg", [x], name="neg", shape=(2, 3)))):
        reserved = b.g.add_op("TensorListReserve", [element_shape, count], {"element_dtype": F, "shape_type": I},
                              name=f"reserve_{name}", dtype=DType.VARIANT)
        written = b.g.add_op("TensorListSetItem", [reserved, index, value], {"element_dtype": F},
                             name=f"set_{name}", dtype=DType.VARIANT)
        stacked[name] = b.g.add_op("TensorListStack", [written, element_shape], {"element_dtype": F,
                                                                               "num_elements": 1},
                                   name=f"stack_{name}", dtype=F, shape=(1, 2, 3))
        b.g.set_output(name, stacked[name])
    return b


def test_cse_keeps_tensor_lists_and_loop_entries_apart():
    g, _ = optimize(_two_tensor_lists().g, only=("cse",))
    assert g.op_histogram()["TensorListReserve"] == 2
    assert g.op_histogram()["TensorListSetItem"] == 2

    b = Builder("frames")
    x = b.input("x", (2,))
    for name in ("h", "c"):  # two loop variables entering one frame with the same initial value
        entered = b.g.add_op("Enter", [x], {"T": F, "frame_name": "loop", "is_constant": False,
                                            "parallel_iterations": 10}, name=f"enter_{name}", dtype=F)
        b.g.set_output(name, b.g.add_op("Exit", [entered], {"T": F}, name=f"exit_{name}", dtype=F))
    g, _ = optimize(b.g, only=("cse",))
    assert g.op_histogram()["Enter"] == 2 and g.op_histogram()["Exit"] == 2

    b = Builder("pure")  # ordinary duplicates are still merged, outputs unchanged
    x = b.input("x", (2,))
    b.output("y", b.op("AddV2", [b.op("Relu", [x], name="r1"), b.op("Relu", [x], name="r2")], name="sum"))
    feed = {"x": np.array([-1.0, 2.0], np.float32)}
    before = tf_reference(b.g, feed)
    g, _ = optimize(b.g, only=("cse",))
    assert g.op_histogram()["Relu"] == 1
    assert np.array_equal(run_graph(g, feed)["y"], before["y"])


@pytest.mark.node
def test_two_equal_tensor_lists_stay_two_in_tfjs(tmp_path, tfjs_runtime):
    """The IR graph itself through the whole pipeline: each list keeps its own element in TF.js."""
    from tfjsconv.verify.compare import format_report, verify_model

    out = tmp_path / "lists"
    tfjsconv.convert(_two_tensor_lists().g, out)
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    report = verify_model(out, {"x": x}, {"a": x[None], "b": -x[None]}, backends=("cpu", "wasm"), rtol=RTOL,
                          quiet=True)
    assert report.passed, format_report(report)


# -- 2. training-mode FusedBatchNorm (tf_keras LayerNormalization) ----------------------------------
@pytest.mark.node
def test_tf_keras_conv1d_layernorm_simplernn_graph_model_matches_keras(tmp_path, tfjs_runtime):
    k = _keras("tf_keras.h5")
    inp = k.Input((6, 3))
    x = k.layers.Conv1D(4, 3, padding="same")(inp)
    x = k.layers.LayerNormalization()(x)
    model = k.Model(inp, k.layers.SimpleRNN(5)(x))
    _randomize(model, 3)
    inputs = np.random.default_rng(4).standard_normal((3, 6, 3)).astype(np.float32)
    path = tmp_path / "ln_rnn.h5"
    expected = _save_and_reload(k, model, path, inputs)
    _convert_and_verify(path, tmp_path / "o0", inputs, expected, optimization_level=0)
    _convert_and_verify(path, tmp_path / "o2", inputs, expected)


@pytest.mark.parametrize("layout, shape", [("NCHW", (1, 6, 4, 1)), ("NHWC", (2, 3, 4, 5)),
                                           ("NDHWC", (2, 2, 3, 2, 4))])
def test_training_batch_norm_lowered_to_batch_moments(layout, shape):
    """The rewrite, in the numpy interpreter, against TF's own training-mode batch norm."""
    tf = pytest.importorskip("tensorflow")
    from tfjsconv.plugins.savedmodel.op_rewrites import RewriteTfOps

    channels = shape[layout.index("C")]
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    scale, offset = (rng.standard_normal(channels).astype(np.float32) for _ in range(2))
    b = Builder("bn")
    xv = b.input("x", shape)
    empty = b.const(np.zeros(0, np.float32), "empty")
    node = b.g.add_node("FusedBatchNormV3", [xv, b.const(scale, "scale"), b.const(offset, "offset"), empty, empty],
                        {"T": F, "U": F, "data_format": layout, "epsilon": 1e-3, "exponential_avg_factor": 1.0,
                         "is_training": True}, name="bn", num_outputs=6)
    node.output(0).dtype, node.output(0).shape = F, shape
    b.g.set_output("y", node.output(0))
    result = RewriteTfOps().run(b.g)
    assert result.counts.get("FusedBatchNormV3") == 1 and "FusedBatchNormV3" not in b.g.op_histogram()
    got = run_graph(b.g, {"x": x})["y"]
    want = tf.raw_ops.FusedBatchNormV3(x=x, scale=scale, offset=offset, mean=np.zeros(0, np.float32),
                                       variance=np.zeros(0, np.float32), epsilon=1e-3, data_format=layout,
                                       is_training=True).y.numpy()
    assert np.max(np.abs(got - want)) <= RTOL * np.max(np.abs(want))


def test_training_batch_norm_with_statistics_read_gives_them():
    """TF.js's FusedBatchNorm has one output: a read batch_mean must become TF's batch moment, not stay a FusedBatchNorm
    (which crashed TF.js, "reading 'kept'"; the numbers are in test_s26_trust_faults.py)."""
    pytest.importorskip("tensorflow")
    from tfjsconv.plugins.savedmodel.op_rewrites import RewriteTfOps

    b = Builder("bn_stats")
    x = b.input("x", (2, 2, 2, 3))
    node = b.g.add_node("FusedBatchNormV3", [x, b.weight((3,), "s"), b.weight((3,), "o"),
                                            b.const(np.zeros(0, np.float32), "m"), b.const(np.zeros(0, np.float32), "v")],
                        {"T": F, "U": F, "data_format": "NHWC", "epsilon": 1e-3, "is_training": True},
                        name="bn", num_outputs=6)
    b.g.set_output("y", node.output(0))
    b.g.set_output("batch_mean", node.output(1))
    assert RewriteTfOps().run(b.g)
    assert b.g.node("bn").op == "AddV2"
    assert b.g.outputs["batch_mean"].producer.name == "bn/moments/mean"


# -- 3. Keras 3 EfficientNet pattern, against what the saved file computes -------------------------
def _efficientnet_pattern(k):
    """EfficientNet's stem and one MBConv block with squeeze-and-excitation, at toy size."""
    L = k.layers
    inp = k.Input((9, 9, 3))
    x = L.Rescaling(1.0 / 255.0)(inp)
    x = L.Normalization(axis=-1)(x)
    x = L.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = L.Conv2D(8, 3, strides=2, padding="valid", use_bias=False)(x)
    x = L.Activation("swish")(L.BatchNormalization()(x))
    y = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    y = L.Activation("swish")(L.BatchNormalization()(y))
    se = L.Reshape((1, 1, 8))(L.GlobalAveragePooling2D()(y))
    se = L.Conv2D(2, 1, activation="swish")(se)
    se = L.Conv2D(8, 1, activation="sigmoid")(se)
    y = L.Multiply()([y, se])
    y = L.BatchNormalization()(L.Conv2D(8, 1, use_bias=False)(y))
    x = L.Add()([L.Dropout(0.2)(y), x])
    x = L.GlobalAveragePooling2D()(x)
    return k.Model(inp, L.Dense(5, activation="softmax")(x))


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3.keras", "keras3.h5"])
def test_keras3_efficientnet_pattern_matches_the_saved_file(tmp_path, tfjs_runtime, flavor):
    k = _keras(flavor)
    model = _efficientnet_pattern(k)
    _randomize(model, 6)  # assigns Normalization's mean/variance: the file differs from the live model
    inputs = np.random.default_rng(7).uniform(0, 255, (3, 9, 9, 3)).astype(np.float32)
    path = tmp_path / f"effnet{flavor[flavor.index('.'):]}"
    expected = _save_and_reload(k, model, path, inputs)
    _convert_and_verify(path, tmp_path / "out", inputs, expected)
