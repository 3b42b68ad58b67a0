"""Fused activations and wasm's one-channel 1×1 convolution on NaN/±Inf, against Keras and TF (found in session 16).

The contract named wasm's fused Relu/Relu6 only. Measured since, on values where TF gives NaN or ±Inf:

- wasm: a 1×1 stride-1 ``Conv2D``/``_FusedConv2D`` of one channel into one gives -Inf for NaN (so its fused Relu,
  Elu, Sigmoid... show 0, -1, 0); the fused Relu of a wider ``_FusedConv2D`` drops a -NaN. Exact with
  ``--exact_special_values``: ``x · w`` as a Mul, and the activations left unfused.
- webgl: the fused shaders' Relu/Relu6 give NaN for -Inf, Elu +Inf for NaN, LeakyRelu/Prelu NaN for ±Inf (as the
  unfused kernels, so not exact), and a fused Sigmoid 0 for NaN (exact: left unfused); webgl's unfused ``Prelu``
  gives NaN for ±Inf.
- A rewrite's guarded op still counts for the deviations no rewrite fixes (webgl's relu6(-Inf) inside wasm's NaN
  guard was unnamed under the flag).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import tfjsconv  # noqa: E402
from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

NEG_NAN = np.uint32(0xFFC00000).view(np.float32)  # a NaN with its sign bit set, as x86 makes of Inf - Inf
VALUES = np.float32([np.nan, NEG_NAN, np.inf, -np.inf, 1.0, -1.0, 0.0, 100.0])
FEED = np.concatenate([VALUES, -VALUES]).reshape(16, 1)
ACTIVATIONS = {"relu": lambda: keras.layers.ReLU(), "relu6": lambda: keras.layers.ReLU(max_value=6.0),
               "elu": lambda: keras.layers.ELU(), "leaky": lambda: keras.layers.LeakyReLU(negative_slope=0.3),
               "sigmoid": lambda: keras.layers.Activation("sigmoid"), "prelu": lambda: keras.layers.PReLU()}


def _build() -> keras.Model:
    """Each activation after a Dense, a Conv2D and a DepthwiseConv2D of one and of two output channels (each output
    element reads one input value, so NaN stays where it is), and a PReLU alone."""
    x = keras.Input((1,), name="x")
    image = keras.layers.Reshape((1, 1, 1))(x)
    outputs = [keras.layers.Identity(name="prelu_alone")(keras.layers.PReLU()(x))]
    for name, make in ACTIVATIONS.items():
        for units in (1, 2):
            outputs.append(keras.layers.Identity(name=f"mm_{name}_{units}")(
                make()(keras.layers.Dense(units, name=f"mm_{name}_{units}_weights")(x))))
            conv = keras.layers.Conv2D(units, 1, name=f"conv_{name}_{units}_weights")(image)
            outputs.append(keras.layers.Identity(name=f"conv_{name}_{units}")(
                keras.layers.Reshape((units,))(make()(conv))))
            if name != "leaky":  # never fused into the depthwise op
                depthwise = keras.layers.DepthwiseConv2D(1, depth_multiplier=units, name=f"dw_{name}_{units}_weights")
                outputs.append(keras.layers.Identity(name=f"dw_{name}_{units}")(
                    keras.layers.Reshape((units,))(make()(depthwise(image)))))
    model = keras.Model(x, outputs)
    for layer in model.layers:
        if layer.name.endswith("_weights"):
            kernel, bias = layer.get_weights()
            layer.set_weights([np.full_like(kernel, 1.5), np.full_like(bias, 0.25)])
        elif isinstance(layer, keras.layers.PReLU):
            layer.set_weights([np.full_like(layer.get_weights()[0], 0.1)])
    return model


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    model = _build()
    path = tmp_path_factory.mktemp("fused") / "fused.keras"
    model.save(path)
    names = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Identity)]
    expected = dict(zip(names, (np.asarray(o) for o in model(FEED))))
    assert all(np.isnan(expected[n]).any() for n in names)
    return path, expected


def _convert(source, folder, **options):
    result = tfjsconv.convert(source, folder, output_format="tfjs_graph_model", **options)
    topology = json.loads((folder / "model.json").read_text())["modelTopology"]["node"]
    return result.notices, topology


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    got, want = np.asarray(got).reshape(want.shape), want
    return bool(np.array_equal(np.isnan(got), np.isnan(want))
                and np.allclose(np.nan_to_num(got, nan=0), np.nan_to_num(want, nan=0), rtol=1e-6, atol=0))


def _wrong(outputs: dict, expected: dict) -> list[str]:
    return sorted(name for name, want in expected.items() if not _same(outputs[name], want))


def test_the_notice_names_the_fused_ops_on_wasm_and_webgl(keras_model, tmp_path):
    source, _ = keras_model
    notices, nodes = _convert(source, tmp_path / "plain")
    fused = {n["name"].split("/")[0] for n in nodes if "fused_ops" in n.get("attr", {})}
    assert any(op in {n["op"] for n in nodes} for op in ("_FusedConv2D", "_FusedMatMul")), fused
    assert len(notices) == 1
    assert "FusedDepthwiseConv2dNative, _FusedConv2D, _FusedMatMul (wasm, webgl)" in notices[0], notices
    assert "Prelu (webgl)" in notices[0], notices
    # the 1×1 depthwise convs of one output per channel are Muls under the flag (session 30): nothing left on wasm
    notices, _ = _convert(source, tmp_path / "exact", exact_special_values=True, target_backends=["cpu", "wasm"])
    assert notices == [], notices
    notices, _ = _convert(source, tmp_path / "webgl", exact_special_values=True, target_backends=["webgl"])
    assert "left as they are: FusedDepthwiseConv2dNative, Prelu, _FusedConv2D, _FusedMatMul (webgl)" in notices[0]
    # wasm's NaN guard around Relu/Relu6 keeps the guarded op, whose webgl -Inf deviation stays: still named
    notices, _ = _convert(source, tmp_path / "both", exact_special_values=True, target_backends=["wasm", "webgl"])
    assert "Relu, Relu6" in notices[0] and "(webgl)" in notices[0], notices


@pytest.mark.node
def test_wasm_deviates_unnamed_before_and_the_flag_gives_keras(keras_model, tmp_path, tfjs_runtime):
    from tfjsconv.verify.run import run_model

    source, expected = keras_model
    runs = {}
    for exact in (False, True):
        _convert(source, tmp_path / str(exact), exact_special_values=exact, target_backends=["cpu", "wasm"])
        run = run_model(tmp_path / str(exact), {"x": FEED}, backends=["cpu", "wasm"], quiet=True)
        assert run.backends["cpu"].ok and run.backends["wasm"].ok
        runs[exact] = {b: run.backends[b].outputs for b in ("cpu", "wasm")}
    assert _wrong(runs[False]["cpu"], expected) == [] and _wrong(runs[True]["cpu"], expected) == []
    plain = _wrong(runs[False]["wasm"], expected)
    # one channel: -Inf for NaN whatever the activation; two: the fused Relu6, and Relu of -NaN
    for name in ("conv_elu_1", "conv_sigmoid_1", "conv_prelu_1", "conv_leaky_1", "conv_relu_2", "conv_relu6_2",
                 "mm_relu_1", "mm_relu6_2"):
        assert name in plain, plain
    assert _wrong(runs[True]["wasm"], expected) == []  # the depthwise ones too since session 30


@pytest.mark.node
def test_webgl_fused_sigmoid_is_left_unfused_by_the_flag(keras_model, tmp_path, browser):
    from tfjsconv.verify.compare import verify_model

    source, expected = keras_model
    outputs = {}
    for exact in (False, True):
        folder = tmp_path / str(exact)
        _convert(source, folder, exact_special_values=exact, target_backends=["webgl"])
        report = verify_model(folder, {"x": FEED}, expected, backends=("webgl",), browser_session=browser)
        outputs[exact] = report.runs["webgl"].outputs
    plain = _wrong(outputs[False], expected)
    for name in ("mm_sigmoid_2", "conv_sigmoid_2", "dw_sigmoid_2", "mm_elu_2", "conv_leaky_2", "conv_relu_2",
                 "prelu_alone"):
        assert name in plain, plain
    exact = _wrong(outputs[True], expected)
    assert not any("sigmoid" in name for name in exact), exact
    assert "conv_relu_2" in exact  # webgl's relu(-Inf) is NaN fused or not: named, not rewritten


def _one_channel_convs(tf, x) -> dict:
    w = tf.constant(np.float32([[[[1.5]]]]))
    return {
        "same": tf.raw_ops.Conv2D(input=x, filter=w, strides=[1, 1, 1, 1], padding="SAME", name="same"),
        "explicit": tf.raw_ops.Conv2D(input=x, filter=w, strides=[1, 1, 1, 1], padding="EXPLICIT",
                                      explicit_paddings=[0, 0, 1, 0, 0, 2, 0, 0], name="explicit"),
        "strided": tf.raw_ops.Conv2D(input=x, filter=w, strides=[1, 2, 2, 1], padding="VALID", name="strided"),
        "relu": tf.raw_ops.Relu(features=tf.raw_ops.BiasAdd(value=tf.raw_ops.Conv2D(
            input=x, filter=w * 2, strides=[1, 1, 1, 1], padding="VALID"), bias=tf.constant(np.float32([0.5]))),
            name="relu")}


@pytest.mark.node
def test_tf_one_channel_conv(tmp_path, tfjs_runtime):
    """Against TF's own Conv2D, run eagerly (a TF graph's optimizer fuses Conv2D+BiasAdd+Relu and loses NaN too):
    named for wasm (not the strided one, which computes NaN right), exact with the flag, explicit paddings included."""
    tf = pytest.importorskip("tensorflow")
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4, 1) - 12
    values.reshape(-1)[[1, 7, 18]] = [np.nan, NEG_NAN, np.inf]
    names = ["same", "explicit", "strided", "relu"]
    source, _ = raw_ops_graph(tmp_path / "conv.pb", lambda tf: _one_channel_convs(
        tf, tf.compat.v1.placeholder(tf.float32, [2, 3, 4, 1], name="x")), {"x": values}, names)
    expected = {name: np.asarray(v) for name, v in _one_channel_convs(tf, tf.constant(values)).items()}
    assert np.isnan(expected["relu"]).sum() == 2
    result = tfjsconv.convert(source, tmp_path / "named", output_node_names=names, target_backends=["wasm"])
    assert len(result.notices) == 1 and "Conv2D, _FusedConv2D (wasm)" in result.notices[0], result.notices
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "plain", {"x": values}, names)
    assert _wrong(cpu, expected) == []
    assert _wrong(wasm, expected) == ["relu", "same"]  # the explicit padding's kernel keeps NaN (named all the same)
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "exact", {"x": values}, names, exact_special_values=True)
    assert _wrong(cpu, expected) == [] and _wrong(wasm, expected) == []


@pytest.mark.node
def test_layers_model_one_channel_convs_are_named(tmp_path, tfjs_runtime):
    """tfjs-layers runs Conv2D as ``_FusedConv2D`` and Conv1D as ``Conv2D``: a 1×1 one-filter layer on a one-channel
    input gives -Inf for NaN on wasm, so the layers model's line names both layers (no graph to rewrite)."""
    from tfjsconv.verify.run import run_model

    x = keras.Input((2, 4, 1), name="x")
    model = keras.Model(x, [keras.layers.Conv2D(1, 1, name="c2")(x),
                            keras.layers.Conv1D(1, 1, name="c1")(keras.layers.Reshape((8, 1))(x))])
    values = np.float32([np.nan, 1, 2, np.inf, -np.inf, 0, 3, NEG_NAN]).reshape(1, 2, 4, 1)
    expected = [np.asarray(o).ravel() for o in model(values)]
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_layers_model",
                              target_backends=["cpu", "wasm"])
    assert len(result.notices) == 1 and "Conv2D, _FusedConv2D (wasm) (layers c2, c1)" in result.notices[0], \
        result.notices
    runs = run_model(tmp_path / "out", {"x": values}, backends=["cpu", "wasm"], quiet=True)
    for backend, nan_kept in (("cpu", True), ("wasm", False)):
        outputs = [np.asarray(o).ravel() for o in runs.backends[backend].outputs.values()]
        assert all(_same(got, want) == nan_kept for got, want in zip(outputs, expected)), (backend, outputs)

