"""Conversions that used to load and run in TF.js but compute something else (issue 12).

Each test builds a small real model, converts it, runs it in real TF.js (cpu and wasm in Node) and
compares with the source framework (TensorFlow, onnxruntime, Keras), or checks that the converter
refuses what it cannot convert exactly.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from tfjsconv.verify.compare import compare, format_report, verify_model
from tfjsconv.verify.run import CALL_STYLES, run_model

BACKENDS = ("cpu", "wasm")


def _ops(out: Path) -> list[str]:
    return [n["op"] for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]]


def _check_every_call_style(out: Path, inputs: dict, expected: dict) -> None:
    """predict / execute / executeAsync, each as an app calls it (no output names), on cpu and wasm."""
    for style in CALL_STYLES:
        result = run_model(out, inputs, backends=BACKENDS, call_style=style, quiet=True)
        for backend, run in result.backends.items():
            assert run.ok, (style, backend, run.error)
            assert run.mode == style
            failed = [c for c in compare(run.outputs, expected, backend=backend) if not c.passed]
            assert not failed, (style, [(c.name, c.problem) for c in failed])


# -------------------------------------------------------------------------------------------------
# 1. Outputs taken from a node with several outputs


@pytest.fixture(scope="module")
def split_topk_saved_model(tmp_path_factory) -> Path:
    tf = pytest.importorskip("tensorflow")

    class SplitTopK(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([2, 6], tf.float32, name="x")])
        def __call__(self, x):
            a, b, c = tf.split(x * 2.0, 3, axis=1)
            values, indices = tf.math.top_k(x, k=3)
            return {"a": a, "b": b, "c": c, "values": values, "indices": indices}

    path = tmp_path_factory.mktemp("split_topk") / "saved_model"
    module = SplitTopK()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


@pytest.mark.node
def test_tf_split_and_top_k_outputs_are_each_their_own(split_topk_saved_model, tmp_path, tfjs_runtime):
    import tensorflow as tf

    out = tmp_path / "tfjs"
    tfjsconv.convert(split_topk_saved_model, out)
    x = np.random.default_rng(0).permutation(12).astype(np.float32).reshape(2, 6)
    a, b, c = (t.numpy() for t in tf.split(tf.constant(x) * 2.0, 3, axis=1))
    values, indices = (t.numpy() for t in tf.math.top_k(tf.constant(x), k=3))
    expected = {"a": a, "b": b, "c": c, "values": values, "indices": indices}
    assert {"Split", "TopKV2"} <= set(_ops(out))
    _check_every_call_style(out, {"x": x}, expected)


def _onnx_split_topk(path: Path) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Mul", ["x", "two"], ["x2"]),
        helper.make_node("Split", ["x2", "parts"], ["a", "b", "c"], axis=1),
        helper.make_node("TopK", ["x", "k"], ["values", "indices"], axis=-1),
        helper.make_node("Cast", ["indices"], ["indices32"], to=TensorProto.INT32),
    ]
    inits = [numpy_helper.from_array(np.array(2, np.float32), "two"),
             numpy_helper.from_array(np.array([1, 2, 3], np.int64), "parts"),
             numpy_helper.from_array(np.array([3], np.int64), "k")]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("a", "b", "c", "values")]
    outputs.append(helper.make_tensor_value_info("indices32", TensorProto.INT32, None))
    graph = helper.make_graph(nodes, "split_topk", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                              outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.save(onnx.shape_inference.infer_shapes(model), str(path))
    return path


@pytest.mark.node
def test_onnx_split_and_topk_outputs_are_each_their_own(tmp_path, tfjs_runtime):
    ort = pytest.importorskip("onnxruntime")
    path = _onnx_split_topk(tmp_path / "split_topk.onnx")
    out = tmp_path / "tfjs"
    tfjsconv.convert(path, out)
    x = np.random.default_rng(1).permutation(12).astype(np.float32).reshape(2, 6)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    expected = dict(zip(names, session.run(None, {"x": x})))
    assert {"SplitV", "TopKV2"} <= set(_ops(out))
    _check_every_call_style(out, {"x": x}, expected)


def test_no_pass_undoes_the_distinct_outputs(tmp_path):
    """Identity removal and CSE run before the writer; every output still has a node of its own."""
    from tfjsconv.ir import Graph

    g = Graph()
    x = g.placeholder("x", "DT_FLOAT", (2, 6))
    dim = g.const(np.array(1, np.int32), name="dim")
    split = g.add_node("Split", [dim, x], {"num_split": 2, "T": x.dtype}, name="split", num_outputs=2)
    for i in range(2):
        split.output(i).dtype, split.output(i).shape = x.dtype, (2, 3)
    ident = g.add_node("Identity", [split.output(1)], {"T": x.dtype}, name="second").output(0)
    g.set_output("first", split.output(0))
    g.set_output("second", ident)
    g.set_output("again", split.output(1))
    for level in (0, 2):
        out = tmp_path / f"level{level}"
        tfjsconv.convert(g, out, optimization_level=level)
        doc = json.loads((out / "model.json").read_text())
        names = [v["name"] for v in doc["signature"]["outputs"].values()]
        assert len(set(n.split(":")[0] for n in names)) == 3 and all(n.endswith(":0") for n in names), names
        producers = {n["name"]: n for n in doc["modelTopology"]["node"]}
        assert all(producers[n.split(":")[0]]["op"] == "Identity" for n in names)


# -------------------------------------------------------------------------------------------------
# 3. ONNX Resize with scales or sizes known only at run time

#: (mode, coordinate_transformation_mode, nearest_mode) — one Resize output each.
RESIZE_VARIANTS = [
    ("linear", "half_pixel", "round_prefer_floor"),
    ("linear", "pytorch_half_pixel", "round_prefer_floor"),
    ("linear", "align_corners", "round_prefer_floor"),
    ("linear", "asymmetric", "round_prefer_floor"),
    ("linear", "half_pixel_symmetric", "round_prefer_floor"),
    ("nearest", "half_pixel", "round_prefer_floor"),
    ("nearest", "half_pixel", "round_prefer_ceil"),
    ("nearest", "asymmetric", "floor"),
    ("nearest", "align_corners", "round_prefer_ceil"),
    ("nearest", "tf_half_pixel_for_nn", "ceil"),
    ("nearest", "pytorch_half_pixel", "round_prefer_floor"),
]


def _runtime_resize_model(path: Path, source: str, variants=RESIZE_VARIANTS) -> Path:
    """x (NCHW, dynamic H and W) resized by every variant; ``source`` says where scales/sizes come from:
    ``scales`` (a model input), ``sizes`` (a model input), ``shape`` (sizes = N, C of x and H, W of ``ref``)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as T
    from onnx import helper, numpy_helper

    inputs = [helper.make_tensor_value_info("x", T.FLOAT, [1, 3, "h", "w"])]
    inits = [numpy_helper.from_array(np.array([], np.float32), "no_scales")]
    nodes = []
    if source == "scales":
        inputs.append(helper.make_tensor_value_info("scales", T.FLOAT, [4]))
        operands = ["x", "", "scales"]
    elif source == "sizes":
        inputs.append(helper.make_tensor_value_info("sizes", T.INT64, [4]))
        operands = ["x", "", "no_scales", "sizes"]
    else:
        inputs.append(helper.make_tensor_value_info("ref", T.FLOAT, [1, 2, "H", "W"]))
        inits += [numpy_helper.from_array(np.array([v], np.int64), n) for v, n in ((0, "i0"), (2, "i2"), (4, "i4"))]
        nodes += [helper.make_node("Shape", ["x"], ["x_shape"]), helper.make_node("Shape", ["ref"], ["ref_shape"]),
                  helper.make_node("Slice", ["x_shape", "i0", "i2"], ["nc"]),
                  helper.make_node("Slice", ["ref_shape", "i2", "i4"], ["hw"]),
                  helper.make_node("Concat", ["nc", "hw"], ["sizes"], axis=0)]
        operands = ["x", "", "no_scales", "sizes"]
    outputs = []
    for i, (mode, transform, nearest) in enumerate(variants):
        nodes.append(helper.make_node("Resize", operands, [f"y{i}"], mode=mode,
                                      coordinate_transformation_mode=transform, nearest_mode=nearest))
        outputs.append(helper.make_tensor_value_info(f"y{i}", T.FLOAT, None))
    graph = helper.make_graph(nodes, "runtime_resize", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=9)
    onnx.save(onnx.shape_inference.infer_shapes(model, data_prop=True), str(path))
    return path


#: (input H, W, runtime feed): up- and downsampling, non-integer ratios, an output of length 1.
RESIZE_FEEDS = {
    "scales": [((4, 5), {"scales": np.array([1, 1, 1.5, 0.6], np.float32)}),
               ((5, 3), {"scales": np.array([1, 1, 0.5, 2.5], np.float32)}),
               ((3, 4), {"scales": np.array([1, 1, 0.4, 3.0], np.float32)})],
    "sizes": [((4, 5), {"sizes": np.array([1, 3, 7, 2], np.int64)}),
              ((6, 6), {"sizes": np.array([1, 3, 1, 4], np.int64)})],
    "shape": [((4, 5), {"ref": np.zeros((1, 2, 9, 3), np.float32)}),
              ((6, 2), {"ref": np.zeros((1, 2, 3, 5), np.float32)})],
}


@pytest.mark.node
@pytest.mark.parametrize("source", list(RESIZE_FEEDS))
def test_onnx_resize_with_runtime_scales_or_sizes_matches_onnxruntime(source, tmp_path, tfjs_runtime):
    ort = pytest.importorskip("onnxruntime")
    path = _runtime_resize_model(tmp_path / f"resize_{source}.onnx", source)
    out = tmp_path / "tfjs"
    tfjsconv.convert(path, out)
    ops = set(_ops(out))
    assert not {"ResizeBilinear", "ResizeNearestNeighbor"} & ops  # no fixed size was baked in
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    for (h, w), feed in RESIZE_FEEDS[source]:
        inputs = {"x": rng.standard_normal((1, 3, h, w)).astype(np.float32), **feed}
        expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))
        tfjs_inputs = {k: (v.astype(np.int32) if v.dtype == np.int64 else v) for k, v in inputs.items()}
        report = verify_model(out, tfjs_inputs, expected, backends=BACKENDS, rtol=1e-5, quiet=True)
        assert report.passed, (h, w, feed, format_report(report))


def test_onnx_resize_modes_not_computable_at_run_time_are_refused(tmp_path):
    from tfjsconv.errors import InputError

    # (cubic is computed at run time since issue 14: tests/test_onnx_new_ops.py checks it against onnxruntime)
    path = _runtime_resize_model(tmp_path / "crop.onnx", "sizes", [("linear", "tf_crop_and_resize", "floor")])
    with pytest.raises(InputError, match="tf_crop_and_resize"):
        tfjsconv.convert(path, tmp_path / "out2")


# -------------------------------------------------------------------------------------------------
# 2. Layers models compute what Keras computes: refused where TF.js's layer differs (measured in
#    TF.js 4.22 against Keras 3 and tf_keras), and the options that do match kept under test.

KERAS_FLAVORS = ("keras3", "tf_keras")


def _keras(flavor: str):
    import importlib

    return importlib.import_module("keras" if flavor == "keras3" else "tf_keras")


def _saved_keras(flavor: str, folder: Path, name: str, build) -> tuple[Path, object]:
    """Build with random weights, save (.keras for Keras 3, legacy .h5 for tf_keras), return (path, model)."""
    from keras_models import randomize

    k = _keras(flavor)
    k.utils.set_random_seed(1)
    model = build(k)
    randomize(model, 5)
    path = folder / f"{name}_{flavor}{'.keras' if flavor == 'keras3' else '.h5'}"
    model.save(path)
    return path, model


def _seq(k, shape, *layers):
    inp = k.Input(shape)
    x = inp
    for layer in layers:
        x = layer(x)
    return k.Model(inp, x)


#: name -> (builder, what the refusal says). Each loaded in TF.js and then computed something else
#: (bilinear UpSampling2D, BatchNormalization off the last axis, transposed convs with output_padding
#: or dilation: wrong values or shapes) or failed only at run time (the rest).
REFUSED_LAYERS = {
    "upsampling_bilinear": (lambda k: _seq(k, (5, 6, 3), k.layers.UpSampling2D((2, 3), interpolation="bilinear")),
                            "interpolation='bilinear': Keras resizes with half-pixel centers"),
    "batchnorm_channels_first": (lambda k: _seq(k, (3, 4, 5), k.layers.BatchNormalization(axis=1)),
                                 "axis="),
    "conv_transpose_output_padding": (lambda k: _seq(k, (4, 5, 3), k.layers.Conv2DTranspose(2, 3, strides=2,
                                                                                             output_padding=1)),
                                      "ignore output_padding"),
    "conv_transpose_dilation": (lambda k: _seq(k, (4, 5, 3), k.layers.Conv2DTranspose(2, 3, dilation_rate=2)),
                                "ignore dilation_rate"),
    "conv1d_causal": (lambda k: _seq(k, (9, 3), k.layers.Conv1D(4, 3, padding="causal")), "padding='causal'"),
    "softmax_axis1": (lambda k: _seq(k, (4, 6), k.layers.Softmax(axis=1)), "Softmax layer fails at run time"),
    "elu_alpha": (lambda k: _seq(k, (6,), k.layers.ELU(alpha=0.5)), "alpha=0.5"),
    "depthwise_dilation": (lambda k: _seq(k, (9, 9, 3), k.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same")),
                           "DepthwiseConv2D layer computes it wrongly"),
    "conv1d_channels_first": (lambda k: _seq(k, (3, 9), k.layers.Conv1D(2, 3, data_format="channels_first")),
                              "data_format='channels_first'"),
    "separable_channels_first": (lambda k: _seq(k, (3, 6, 6), k.layers.SeparableConv2D(2, 3,
                                                                                        data_format="channels_first")),
                                 "SeparableConv2D fails at run time"),
    "flatten_rank2": (lambda k: _seq(k, (6,), k.layers.Dense(3), k.layers.Flatten()), "Flatten refuses inputs"),
    "resizing": (lambda k: _seq(k, (5, 6, 3), k.layers.Resizing(8, 9)), "Resizing layer fails at run time"),
    "center_crop": (lambda k: _seq(k, (6, 7, 3), k.layers.CenterCrop(3, 4)), "CenterCrop layer rejects"),
}


@pytest.mark.parametrize("flavor", KERAS_FLAVORS)
@pytest.mark.parametrize("name", list(REFUSED_LAYERS))
def test_keras_layers_tfjs_computes_differently_are_refused(name, flavor, tmp_path):
    from tfjsconv.errors import InputError

    pytest.importorskip("keras" if flavor == "keras3" else "tf_keras")
    build, says = REFUSED_LAYERS[name]
    path, _ = _saved_keras(flavor, tmp_path, name, build)  # tf_keras: a legacy .h5 (input ranks carried, not recorded)
    with pytest.raises(InputError) as err:
        tfjsconv.convert(path, tmp_path / "out")
    assert says in str(err.value) and "--output_format=tfjs_graph_model" in (err.value.hint or "")


@pytest.mark.node
def test_tfjs_upsampling2d_bilinear_really_differs_from_keras(tmp_path, tfjs_runtime, monkeypatch):
    """Why bilinear UpSampling2D is refused: let it through (fault injection) and TF.js is far off."""
    from tfjsconv.plugins.keras import tfjs_support

    build, _ = REFUSED_LAYERS["upsampling_bilinear"]
    path, model = _saved_keras("keras3", tmp_path, "up", build)
    monkeypatch.setitem(tfjs_support.OPTION_CHECKS, "UpSampling2D", [])
    tfjsconv.convert(path, tmp_path / "out")
    x = np.random.default_rng(0).standard_normal((2, 5, 6, 3)).astype(np.float32)
    report = verify_model(tmp_path / "out", {"x": x}, {"y": np.asarray(model.predict(x, verbose=0))},
                          backends=("cpu",), quiet=True)
    assert not report.passed and report.comparisons[0].max_rel_err > 0.1


def _audited_options_model(k):
    """Keras layer options TF.js's layers compute exactly as Keras does (each checked in TF.js)."""
    L = k.layers
    image, seq = k.Input((9, 9, 3), name="image"), k.Input((7, 3), name="seq")
    flat = lambda t: L.Flatten()(t)  # noqa: E731
    outs = [
        L.Conv2D(2, 3, strides=2, padding="same")(image), L.Conv2D(2, 4, strides=2, padding="same")(image),
        L.Conv2D(2, 3, dilation_rate=2, padding="same")(image),
        L.MaxPooling2D(3, strides=2, padding="same")(image), L.AveragePooling2D(3, strides=2, padding="same")(image),
        L.SeparableConv2D(2, 3, strides=2, padding="same", depth_multiplier=2)(image),
        L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(image),
        L.Conv2DTranspose(2, 3, strides=2, padding="same")(image),
        L.Cropping2D(((1, 2), (0, 3)))(image), L.ZeroPadding2D(((1, 2), (3, 0)))(image),
        L.UpSampling2D((2, 3))(image), L.PReLU(shared_axes=[1, 2])(image),
        L.SeparableConv2D(2, 3, dilation_rate=2, padding="same")(image), L.Conv2D(2, 3, dilation_rate=(2, 1))(image),
        L.AveragePooling2D(3, strides=1)(image), L.MaxPooling2D(2, strides=3)(image),
        L.MaxPooling2D(2, data_format="channels_first")(image),
        L.DepthwiseConv2D(3, data_format="channels_first")(image),
        L.Conv2DTranspose(2, 3, data_format="channels_first")(image),
        L.Bidirectional(L.GRU(3, reset_after=False), merge_mode="ave")(seq),
        L.LSTM(3, use_bias=False, recurrent_activation="sigmoid")(seq),
        L.Conv1D(2, 3, strides=2, padding="same")(seq), L.AveragePooling1D(3, strides=2, padding="same")(seq),
        L.LayerNormalization(epsilon=0.5)(seq), L.LayerNormalization(axis=1)(seq), L.Dense(3)(seq),
        L.LSTM(3, go_backwards=True, unit_forget_bias=False, return_sequences=True)(seq),
        L.GRU(3, reset_after=False, go_backwards=True)(seq), L.SimpleRNN(3, activation="relu")(seq),
        L.Softmax()(seq), L.LeakyReLU()(seq),
    ]
    outs += [L.Dense(4, activation=a)(flat(seq)) for a in ("gelu", "swish", "softplus", "mish", "selu",
                                                            "softsign", "log_softmax", "relu6")]
    return k.Model([image, seq], L.Concatenate()([flat(t) if len(t.shape) > 2 else t for t in outs]))


@pytest.mark.node
@pytest.mark.parametrize("flavor", KERAS_FLAVORS)
def test_keras_layer_options_tfjs_supports_match_keras(flavor, tmp_path, tfjs_runtime):
    pytest.importorskip("keras" if flavor == "keras3" else "tf_keras")
    path, model = _saved_keras(flavor, tmp_path, "audited", _audited_options_model)
    tfjsconv.convert(path, tmp_path / "out")
    rng = np.random.default_rng(4)
    inputs = {"image": rng.standard_normal((2, 9, 9, 3)).astype(np.float32),
              "seq": rng.standard_normal((2, 7, 3)).astype(np.float32)}
    expected = {"y": np.asarray(model.predict([inputs["image"], inputs["seq"]], verbose=0))}
    report = verify_model(tmp_path / "out", inputs, expected, backends=BACKENDS, rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
def test_onnx_upsample_with_runtime_scales_matches_onnxruntime(tmp_path, tfjs_runtime):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto as T
    from onnx import helper

    nodes = [helper.make_node("Upsample", ["x", "scales"], [f"y_{mode}"], mode=mode) for mode in ("nearest", "linear")]
    graph = helper.make_graph(nodes, "upsample9", [helper.make_tensor_value_info("x", T.FLOAT, [1, 2, "h", "w"]),
                                                   helper.make_tensor_value_info("scales", T.FLOAT, [4])],
                              [helper.make_tensor_value_info(f"y_{m}", T.FLOAT, None) for m in ("nearest", "linear")])
    path = tmp_path / "upsample9.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=4), str(path))
    tfjsconv.convert(path, tmp_path / "tfjs")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {"x": np.random.default_rng(5).standard_normal((1, 2, 3, 4)).astype(np.float32),
              "scales": np.array([1, 1, 2.5, 1.5], np.float32)}
    expected = dict(zip(["y_nearest", "y_linear"], session.run(None, inputs)))
    report = verify_model(tmp_path / "tfjs", inputs, expected, backends=BACKENDS, rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)
