"""What we emit runs on TF.js's webgl backend too (issue 3 point 7, issue 5 point 4).

Node has no WebGL context, so these run in one headless Chromium (WebGL2 on SwiftShader, float32
render targets) through :class:`tfjsconv.serve.browser.BrowserSession`:

- every fusion tfjsconv.passes.backend_support allows (the same graphs as tests/test_passes_backend.py,
  which runs them on cpu and wasm), against the numpy interpreter;
- the table's webgl-only claim: a ``_FusedMatMul`` with transposes computes right on webgl;
- one small model per graph frontend, against the source framework: a SavedModel CNN with BatchNorm
  and a depthwise conv, a Keras GRU converted as a graph, a tiny BERT and a GPT-2 from PyTorch via
  ONNX, and a bidirectional LSTM unrolled from ONNX;
- the float16-texture mode of GPUs without float32 render targets, and ``tfjsconv verify --browser``;
- the TF-graph rewrites and silent-wrong cases (multi-output nodes, runtime ONNX Resize, lowered
  Einsum, nested v1 loops), against TF, Keras and onnxruntime.

SwiftShader's WebGL renders to float32 textures with 23-bit-mantissa shaders, and measured errors are
float32 rounding (<= 3.2e-7 x max|reference|), so webgl is held to the project's float32 bar, 1e-5,
like cpu and wasm (docs/verify.md). Each test prints the report with the error it measured.
Without Chromium these tests skip, saying why; with TFJSCONV_REQUIRE_BROWSER=1 (CI) they fail instead.
"""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from test_passes_backend import fusion_graph
from tfjsconv.interpreter import run_graph
from tf_reference import reference as tf_reference
from tfjsconv.passes.backend_support import FUSED_OPS
from tfjsconv.verify.compare import WEBGL_F16_RTOL, format_report, verify_model

pytestmark = pytest.mark.node
RTOL = 1e-5  # max abs err <= 1e-5 x max|reference|: issue 3's float32 bar, met on webgl too


def _on_webgl(browser, model_dir: Path, inputs: dict, expected: dict, **options) -> None:
    report = verify_model(model_dir, inputs, expected, backends=("webgl",), rtol=RTOL, atol=1e-6,
                          browser_session=browser, **options)
    text = format_report(report)
    print("\n" + text)
    assert report.passed, text
    info = report.runs["webgl"].info
    if not options:  # the facts the tolerance rests on: float32 render targets, 23-bit mantissa shaders
        assert info["render_float32"] is True and info["highp_mantissa_bits"] == 23, info
        assert report.backend_rtol == {}  # held to rtol itself


def _signature(model_dir: Path) -> dict:
    return json.loads((model_dir / "model.json").read_text())["signature"]


# -------------------------------------------------------------------------------------------------
# (a) every allowed fusion


@pytest.mark.parametrize("base", sorted(FUSED_OPS))
def test_every_allowed_fusion_runs_on_webgl(base, browser, tmp_path):
    b, expected = fusion_graph(base, seed=3)
    feeds = b.feeds()
    reference = tf_reference(b.g, feeds)
    tfjsconv.convert(b.g, tmp_path / "m")
    nodes = json.loads((tmp_path / "m" / "model.json").read_text())["modelTopology"]["node"]
    fused = [n for n in nodes if n["op"] == FUSED_OPS[base].graph_op]
    assert len(fused) == len(expected)  # one fused node per allowed activation (and bias only)
    _on_webgl(browser, tmp_path / "m", feeds, reference)


def test_fused_matmul_with_transposes_is_right_on_webgl(browser, tmp_path):
    """The table lets webgl (and cpu) fuse transposed matmuls; only wasm's bug keeps us from emitting them."""
    from random_graphs import Builder
    from tfjsconv.passes.backend_support import BACKENDS

    assert "webgl" in FUSED_OPS["MatMul"].transposes_ok and set(BACKENDS) - FUSED_OPS["MatMul"].transposes_ok
    plain, fused = Builder("plain", 4), Builder("fused", 4)
    for b in (plain, fused):
        a, w, bias = b.input("a", (5, 3)), b.weight((4, 5), "w"), b.weight((4,), "b")
        if b is plain:
            product = b.op("MatMul", [a, w], {"transpose_a": True, "transpose_b": True})
            y = b.op("Relu", [b.op("BiasAdd", [product, bias], {"data_format": "NHWC"})])
        else:
            y = b.op("_FusedMatMul", [a, w, bias], {"transpose_a": True, "transpose_b": True, "num_args": 1,
                                                    "fused_ops": ["BiasAdd", "Relu"], "epsilon": 0.0,
                                                    "leakyrelu_alpha": 0.2}, shape=(3, 4))
        b.output("y", y)
    feeds = plain.feeds()
    # the backend contract refuses it for wasm (the same bug), so target the backends that run it
    tfjsconv.convert(fused.g, tmp_path / "m", optimization_level=0, target_backends=["cpu", "webgl"])
    [node] = [n for n in json.loads((tmp_path / "m" / "model.json").read_text())["modelTopology"]["node"]
              if n["op"] == "_FusedMatMul"]
    assert node["attr"]["transpose_a"] == {"b": True} and node["attr"]["transpose_b"] == {"b": True}, node["attr"]
    _on_webgl(browser, tmp_path / "m", feeds, tf_reference(plain.g, feeds))


def test_float16_textures_get_their_own_tolerance(browser, tmp_path):
    """A GPU without float32 render targets: the webgl tolerance follows WEBGL_RENDER_FLOAT32_ENABLED."""
    b, _ = fusion_graph("Conv2D", seed=3)
    feeds = b.feeds()
    reference = tf_reference(b.g, feeds)
    tfjsconv.convert(b.g, tmp_path / "m")
    report = verify_model(tmp_path / "m", feeds, reference, backends=("webgl",), rtol=RTOL, browser_session=browser,
                          browser_flags={"WEBGL_FORCE_F16_TEXTURES": True})
    print("\n" + format_report(report))
    assert report.runs["webgl"].info["render_float32"] is False
    assert report.backend_rtol == {"webgl": WEBGL_F16_RTOL} and report.passed, format_report(report)
    worst = max(c.max_rel_err for c in report.comparisons)
    assert 1e-4 < worst < WEBGL_F16_RTOL  # float16 rounding is visible (measured ~9e-4), and bounded


# -------------------------------------------------------------------------------------------------
# (b) one small model per graph frontend, against its source framework


def test_savedmodel_cnn_with_batchnorm_and_depthwise_conv(browser, tmp_path):
    pytest.importorskip("tensorflow")
    import tf_models
    from tfjsconv.verify.source_check import source_reference

    source = tf_models.cnn(tmp_path / "cnn_saved_model", "tf_keras")
    tfjsconv.convert(source, tmp_path / "m")
    ops = {n["op"] for n in json.loads((tmp_path / "m" / "model.json").read_text())["modelTopology"]["node"]}
    assert {"_FusedConv2D", "FusedDepthwiseConv2dNative"} <= ops, ops  # BatchNorm folded, then fused
    rng = np.random.default_rng(0)
    inputs = {"image": rng.standard_normal((2, 12, 12, 3)).astype(np.float32)}
    expected = source_reference(source, tmp_path / "m", inputs, None)
    _on_webgl(browser, tmp_path / "m", inputs, expected)


def test_keras_gru_as_graph_model(browser, tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    from keras_models import build_gru, keras_module, make_inputs, randomize

    model = build_gru(keras_module("keras3.keras"), reset_after=True)  # only a graph model can hold it
    randomize(model, 5)
    inputs = make_inputs(model, 6)
    expected = np.asarray(model.predict(next(iter(inputs.values())), verbose=0))
    model.save(tmp_path / "gru.keras")
    tfjsconv.convert(tmp_path / "gru.keras", tmp_path / "m", output_format="tfjs_graph_model")
    signature = _signature(tmp_path / "m")
    _on_webgl(browser, tmp_path / "m", dict(zip(signature["inputs"], inputs.values())),
              {next(iter(signature["outputs"])): expected})


def _torch_via_onnx(name: str, tmp_path: Path) -> tuple[Path, dict, dict]:
    """Export ``torch_models.<name>`` to ONNX (the legacy exporter: fast), convert it, run torch."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import torch_models

    module, args = torch_models.BUILDERS[name]()
    names = torch_models.INPUT_NAMES.get(name) or [f"input_{i}" for i in range(len(args))]
    with torch.no_grad():
        out = module(*args)
    outs = [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(tmp_path / f"{name}.onnx"), dynamo=False, opset_version=17,
                          input_names=names)
    tfjsconv.convert(tmp_path / f"{name}.onnx", tmp_path / "m")
    signature = _signature(tmp_path / "m")
    feeds = [a.numpy().astype(np.int32) if a.dtype == torch.int64 else a.numpy() for a in args]
    return (tmp_path / "m", dict(zip(signature["inputs"], feeds, strict=True)),
            dict(zip(signature["outputs"], outs, strict=True)))


@pytest.mark.parametrize("name", ["hf_bert", "hf_gpt2"])
def test_pytorch_transformer_via_onnx(name, browser, tmp_path):
    pytest.importorskip("transformers")
    model_dir, inputs, expected = _torch_via_onnx(name, tmp_path)
    _on_webgl(browser, model_dir, inputs, expected)


def test_onnx_lstm_unrolled(browser, tmp_path):
    model_dir, inputs, expected = _torch_via_onnx("lstm", tmp_path)
    ops = [n["op"] for n in json.loads((model_dir / "model.json").read_text())["modelTopology"]["node"]]
    assert "While" not in ops and "Enter" not in ops  # unrolled: plain execute(), which webgl runs
    _on_webgl(browser, model_dir, inputs, expected)


def test_verify_cli_adds_webgl_with_browser(browser, tmp_path):
    """``tfjsconv verify MODEL_DIR ... --browser``: cpu and wasm in Node plus webgl in Chromium, one report."""
    b, _ = fusion_graph("MatMul", seed=5)
    tfjsconv.convert(b.g, tmp_path / "m")
    np.savez(tmp_path / "x.npz", **b.feeds())
    np.savez(tmp_path / "y.npz", **run_graph(b.g, b.feeds()))
    out = subprocess.run([sys.executable, "-m", "tfjsconv", "verify", str(tmp_path / "m"), "--inputs",
                          str(tmp_path / "x.npz"), "--expected", str(tmp_path / "y.npz"), "--browser", "--json"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert list(doc["backends"]) == ["cpu", "wasm", "webgl"] and doc["passed"]
    assert {c["backend"] for c in doc["comparisons"]} == {"cpu", "wasm", "webgl"}
    assert doc["backends"]["webgl"]["info"]["render_float32"] is True and doc["backend_rtol"] == {}


def test_non_finite_values_round_trip_through_the_page(browser, tmp_path):
    """±Inf, NaN and -0 in an input reach webgl and come back bit for bit (JSON has no such numbers)."""
    from random_graphs import Builder
    from tf_reference import tf_outputs
    from tfjsconv.serve.browser import run_backends_in_browser

    b = Builder("non_finite")
    x = b.input("x", (2, 4))
    b.output("doubled", b.op("Mul", [x, b.const(np.float32(2.0), "two")]))
    b.output("same", b.op("Identity", [x]))
    feeds = {"x": np.array([[np.inf, -np.inf, np.nan, -0.0], [1.5, -2.25, 3e38, 0.0]], np.float32)}
    tfjsconv.convert(b.g, tmp_path / "m", optimization_level=0)
    runs, _ = run_backends_in_browser(tmp_path / "m", feeds, session=browser)
    assert runs["webgl"].ok, runs["webgl"].error  # was "no value for input x": the page's JSON.parse failed
    for name, want in tf_outputs(b.g, feeds).items():
        got = runs["webgl"].outputs[name]
        assert got.dtype == np.float32 and got.tobytes() == want.astype(np.float32).tobytes(), (name, got, want)


# -------------------------------------------------------------------------------------------------
# (c) the TF-graph rewrites (tests/test_tf_rewrites.py runs them on cpu and wasm)


@pytest.mark.parametrize("case", ["nchw", "truncating_division"])
def test_tf_rewrites_on_webgl(case, browser, tmp_path):
    tf = pytest.importorskip("tensorflow")
    import test_tf_rewrites as rw

    if case == "nchw":
        graph = tf.Graph()
        with graph.as_default():
            rw.nchw_graph("NCHW", tf.compat.v1.placeholder(tf.float32, [1, 4, 9, 9], name="images"))
        (tmp_path / "nchw.pb").write_bytes(graph.as_graph_def().SerializeToString())
        inputs = {"images": rw.randn(1, 4, 9, 9)}
        nhwc = rw.nchw_graph("NHWC", tf.constant(inputs["images"].transpose(0, 2, 3, 1)))
        expected = {k: v.numpy().transpose(0, 3, 1, 2) for k, v in nhwc.items()}
        tfjsconv.convert(tmp_path / "nchw.pb", tmp_path / "m", output_node_names=list(expected))
    else:
        tf.saved_model.save(rw.Arithmetic(), str(tmp_path / "arith"))
        inputs = rw.arithmetic_inputs()
        tfjsconv.convert(tmp_path / "arith", tmp_path / "m")
        outputs = rw.Arithmetic()(**{k: tf.constant(v) for k, v in inputs.items()})
        expected = {k: v.numpy() for k, v in outputs.items()}
    _on_webgl(browser, tmp_path / "m", inputs, expected)


# -------------------------------------------------------------------------------------------------
# (d) the silent-wrong cases of tests/test_silent_wrong.py (cpu and wasm there), on webgl


def test_outputs_of_one_multi_output_node_on_webgl(browser, tmp_path):
    """Split and TopK outputs, each returned as itself (not output 0) by the webgl backend too."""
    tf = pytest.importorskip("tensorflow")

    class SplitTopK(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([2, 6], tf.float32, name="x")])
        def __call__(self, x):
            a, b, c = tf.split(x * 2.0, 3, axis=1)
            values, indices = tf.math.top_k(x, k=3)
            return {"a": a, "b": b, "c": c, "values": values, "indices": indices}

    module = SplitTopK()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.__call__})
    tfjsconv.convert(tmp_path / "sm", tmp_path / "m")
    x = np.random.default_rng(0).permutation(12).astype(np.float32).reshape(2, 6)
    expected = {k: v.numpy() for k, v in module(tf.constant(x)).items()}
    _on_webgl(browser, tmp_path / "m", {"x": x}, expected)


def test_onnx_resize_with_runtime_scales_on_webgl(browser, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    import test_silent_wrong as sw

    path = sw._runtime_resize_model(tmp_path / "resize.onnx", "scales")
    tfjsconv.convert(path, tmp_path / "m")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {"x": np.random.default_rng(3).standard_normal((1, 3, 4, 5)).astype(np.float32),
              "scales": np.array([1, 1, 1.5, 0.6], np.float32)}
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))
    _on_webgl(browser, tmp_path / "m", inputs, expected)


def test_keras_multi_head_attention_einsum_lowered_on_webgl(browser, tmp_path):
    """Keras 3 MultiHeadAttention (Einsum in TF, lowered to MatMul by the einsum pass) against Keras."""
    keras = pytest.importorskip("keras")
    inp = keras.Input((5, 8), name="tokens")
    out = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(inp, inp)
    model = keras.Model(inp, out)
    model.save(tmp_path / "mha.keras")
    tfjsconv.convert(tmp_path / "mha.keras", tmp_path / "m", output_format="tfjs_graph_model")
    ops = {n["op"] for n in json.loads((tmp_path / "m" / "model.json").read_text())["modelTopology"]["node"]}
    assert "Einsum" not in ops
    x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)
    signature = _signature(tmp_path / "m")
    (input_name,) = signature["inputs"]
    (output_name,) = signature["outputs"]
    _on_webgl(browser, tmp_path / "m", {input_name: x}, {output_name: np.asarray(model(x))})


def test_nested_while_loops_on_webgl(browser, tmp_path):
    """Nested v1 loops (frames anchored to their bodies' pivots) against TF, on webgl."""
    pytest.importorskip("tensorflow")
    import test_savedmodel_control_flow as cf
    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugin_manager import get_plugin_manager

    source = cf.nested_loops(tmp_path / "nested")
    tfjsconv.convert(source, tmp_path / "m")
    x = np.random.default_rng(5).normal(size=(2, 3)).astype(np.float32)
    options = ConvertOptions.from_kwargs()
    options.extra["model_dir"] = str(tmp_path / "m")
    expected = get_plugin_manager().registry.frontends["tf_saved_model"].reference(source, {"x": x}, options)
    _on_webgl(browser, tmp_path / "m", {"x": x}, expected)
