"""``--quantize_int8``: per-channel int8 conv/depthwise/matmul kernels, run in real TF.js (cpu + wasm).

Oracles: the Keras model itself (float weights), and the same Keras model with each kernel replaced
by ``q * s`` computed here from the float kernel — TF.js must match the latter to float32 rounding,
which checks the graph rescale, and the former within the documented bound (docs/quantization.md).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("tf_keras")

import tfjsconv  # noqa: E402
from tfjsconv.errors import UsageError  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402
from tfjsconv.weights import read_weights  # noqa: E402

KERNELS = {"conv/kernel": (0, 1, 2), "dw/depthwise_kernel": (0, 1), "dense/kernel": (0,), "head/kernel": (0,)}
#: Documented bound (docs/quantization.md): max |TF.js int8 - Keras float32| <= 3% of max |Keras float32|
#: for these 4-layer nets; the int8-rounded Keras twin is matched to 1e-4 of max|y|.
FLOAT_REL_BOUND = 3e-2
TWIN_REL_BOUND = 1e-4


def _model(seed: int = 0):
    rng = np.random.default_rng(seed)
    inp = keras.Input((9, 9, 3), name="x")
    h = keras.layers.Conv2D(6, 3, activation="relu6", name="conv")(inp)  # fused, split-out activation
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(h)  # fused depthwise, bias only
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(7, activation="relu", name="dense")(h)  # fused matmul, homogeneous activation
    out = keras.layers.Dense(4, name="head")(h)
    model = keras.Model(inp, out)
    for w in model.weights:  # per-channel spread: channel c scaled by 2**c so per-tensor ranges are poor
        values = rng.standard_normal(w.shape) * 0.5
        if len(w.shape) > 1:
            values *= 2.0 ** (np.arange(w.shape[-1]) % 4)
        w.assign(values.astype("float32"))
    return model


def _int8(kernel: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Independent reference of the scheme: s = max|w|/127 per output channel, q = round(w/s)."""
    s = (np.abs(kernel).max(axis=axes, keepdims=True) / 127).astype(np.float32)
    return np.round(kernel / s), s


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8")
    model = _model()
    model.save(folder / "m.h5")
    x = np.random.default_rng(1).standard_normal((2, 9, 9, 3)).astype("float32")
    expected = model(x).numpy()
    floats = {w.name.split(":")[0]: w.numpy() for w in model.weights}
    for w in model.weights:
        name = w.name.split(":")[0]
        if name in KERNELS:
            q, s = _int8(w.numpy(), KERNELS[name])
            w.assign((q * s).astype("float32"))
    twin = model(x).numpy()
    result = tfjsconv.convert(folder / "m.h5", folder / "out", output_format="tfjs_graph_model", quantize_int8=True)
    return {"dir": folder / "out", "x": x, "expected": expected, "twin": twin, "floats": floats, "result": result,
            "h5": folder / "m.h5"}


def test_outputs_match_keras_in_tfjs_cpu_and_wasm(converted, tfjs_runtime):
    run = run_model(converted["dir"], {"x": converted["x"]}, backends=("cpu", "wasm"), quiet=True)
    peak = np.abs(converted["expected"]).max()
    for backend in ("cpu", "wasm"):
        got = next(iter(run.outputs(backend).values()))
        assert np.abs(got - converted["twin"]).max() <= TWIN_REL_BOUND * peak, backend
        error = np.abs(got - converted["expected"]).max()
        assert 0 < error <= FLOAT_REL_BOUND * peak, (backend, error / peak)


def test_manifest_decodes_to_the_int8_values_one_byte_each(converted):
    doc = json.loads((converted["dir"] / "model.json").read_text())
    entries = {w["name"]: w for w in doc["weightsManifest"][0]["weights"]}
    decoded = dict(read_weights(doc["weightsManifest"], converted["dir"]))
    stored = 0
    for name, entry in entries.items():
        size = int(np.prod(entry["shape"], dtype=np.int64))
        if name in KERNELS:
            assert entry["quantization"] == {"dtype": "uint8", "min": -128.0, "scale": 1.0, "original_dtype": "float32"}
            q, _ = _int8(converted["floats"][name], KERNELS[name])
            assert np.array_equal(decoded[name], q.astype(np.float32)), name
            stored += size
        else:
            assert "quantization" not in entry, name
            stored += 4 * size
    shards = [converted["dir"] / p for g in doc["weightsManifest"] for p in g["paths"]]
    assert sum(p.stat().st_size for p in shards) == stored


def test_rescale_follows_each_kernel_op(converted):
    doc = json.loads((converted["dir"] / "model.json").read_text())
    nodes = {n["name"]: n for n in doc["modelTopology"]["node"]}
    rescales = [n for n in nodes.values() if n["op"] == "Mul" and n["name"].endswith("/int8_rescale")]
    assert sorted(nodes[r["input"][0]]["op"] for r in rescales) == sorted(
        ["_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul", "_FusedMatMul"])


def test_error_report_lists_every_int8_kernel(converted):
    report = converted["result"].facts["weights"]
    by_name = {q.name: q for q in report.quantized}
    assert set(by_name) == set(KERNELS)
    for name, axes in KERNELS.items():
        q, s = _int8(converted["floats"][name], axes)
        error = np.abs(q * s - converted["floats"][name]).max()
        assert by_name[name].dtype == "int8"
        assert by_name[name].max_abs_error == pytest.approx(error, rel=1e-5)
        assert by_name[name].bytes_after * 4 == by_name[name].bytes_before
    assert "int8" in report.summary()


def test_patterns_choose_kernels_and_mix_with_uint8(converted, tmp_path):
    result = tfjsconv.convert(converted["h5"], tmp_path / "p", output_format="tfjs_graph_model",
                              quantize_int8=["dense/*", "conv/*"], quantize_uint8=["head/*"])
    chosen = {q.name: q.dtype for q in result.facts["weights"].quantized}
    assert chosen == {"dense/kernel": "int8", "conv/kernel": "int8", "head/kernel": "uint8", "head/bias": "uint8"}
    doc = json.loads((tmp_path / "p" / "model.json").read_text())
    entries = {w["name"]: w for w in doc["weightsManifest"][0]["weights"]}
    assert "quantization" not in entries["dw/depthwise_kernel"]


def test_conflicting_patterns_are_refused(converted, tmp_path):
    with pytest.raises(UsageError, match="dense/kernel.*--quantize_int8 and --quantize_uint8"):
        tfjsconv.convert(converted["h5"], tmp_path / "c", output_format="tfjs_graph_model",
                         quantize_int8=["dense/*"], quantize_uint8=["dense/kernel"])
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("output_format", ["tfjs_layers_model", None])
def test_layers_models_are_refused(converted, tmp_path, output_format):
    with pytest.raises(UsageError, match="--quantize_int8 applies to graph models only"):
        tfjsconv.convert(converted["h5"], tmp_path / "l", output_format=output_format, quantize_int8=True)
    assert not (tmp_path / "l").exists()


def test_cli_flag_takes_patterns(converted, tmp_path, capsys):
    from tfjsconv.cli import main

    code = main(["convert", str(converted["h5"]), str(tmp_path / "cli"), "--output_format=tfjs_graph_model",
                 "--quantize_int8=dense/*"])
    assert code == 0
    assert "worst relative error" in capsys.readouterr().out
    doc = json.loads((tmp_path / "cli" / "model.json").read_text())
    quantized = [w["name"] for w in doc["weightsManifest"][0]["weights"] if "quantization" in w]
    assert quantized == ["dense/kernel"]


def test_transposed_and_batch_matmul_kernels_from_a_tf_graph(tmp_path, tfjs_runtime):
    tf = pytest.importorskip("tensorflow")
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph

    rng = np.random.default_rng(3)
    w1 = (rng.standard_normal((5, 8)) * 2.0 ** np.arange(5)[:, None]).astype(np.float32)  # [out, in]: transpose_b
    w2 = rng.standard_normal((5, 3)).astype(np.float32)
    g = Graph("mm")
    x = g.placeholder("x", DType.FLOAT32, (None, 8))
    h = g.add_op("MatMul", [x, g.const(w1, name="w1")], {"T": DType.FLOAT32, "transpose_a": False,
                                                          "transpose_b": True}, name="mm1", dtype=DType.FLOAT32)
    h = g.add_op("Tanh", [h], {"T": DType.FLOAT32}, name="tanh", dtype=DType.FLOAT32)
    y = g.add_op("BatchMatMulV2", [h, g.const(w2, name="w2")], {"T": DType.FLOAT32, "adj_x": False, "adj_y": False},
                 name="mm2", dtype=DType.FLOAT32)
    g.set_output("y", y)
    result = tfjsconv.convert(g, tmp_path / "mm", quantize_int8=True)
    assert {q.name: q.dtype for q in result.facts["weights"].quantized} == {"w1": "int8", "w2": "int8"}

    xs = rng.standard_normal((3, 8)).astype(np.float32)
    q1, s1 = _int8(w1, (1,))
    q2, s2 = _int8(w2, (0,))
    expected = tf.linalg.matmul(tf.tanh(tf.linalg.matmul(xs, w1, transpose_b=True)), w2).numpy()
    twin = tf.linalg.matmul(tf.tanh(tf.linalg.matmul(xs, q1 * s1, transpose_b=True)), q2 * s2).numpy()
    run = run_model(tmp_path / "mm", {"x": xs}, backends=("cpu", "wasm"), quiet=True)
    peak = np.abs(expected).max()
    for backend in ("cpu", "wasm"):
        got = run.outputs(backend)["y"]
        assert np.abs(got - twin).max() <= TWIN_REL_BOUND * peak, backend
        assert np.abs(got - expected).max() <= FLOAT_REL_BOUND * peak, backend


def test_uint8_catch_all_quantizes_the_rest_but_never_the_scales(converted, tmp_path):
    from tfjsconv.verify.source_check import quantized_dtypes

    result = tfjsconv.convert(converted["h5"], tmp_path / "all", output_format="tfjs_graph_model",
                              quantize_int8=True, quantize_uint8=True)
    chosen = {q.name: q.dtype for q in result.facts["weights"].quantized}
    assert {n for n, d in chosen.items() if d == "int8"} == set(KERNELS)
    assert chosen["conv/bias"] == "uint8"
    doc = json.loads((tmp_path / "all" / "model.json").read_text())
    scales = [w for w in doc["weightsManifest"][0]["weights"] if w["name"].endswith("/int8_scale")]
    assert len(scales) == 4 and not any("quantization" in w for w in scales)
    assert quantized_dtypes(tmp_path / "all") == ["int8", "uint8"]  # what `verify` reports per output


def test_transformer_block_kernels_are_all_int8(tmp_path, tfjs_runtime):
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 16), name="x")
    attended = keras.layers.MultiHeadAttention(2, 8, name="mha")(inp, inp)
    h = keras.layers.LayerNormalization(name="ln")(keras.layers.Add()([inp, attended]))
    f = keras.layers.Dense(16, name="ff2")(keras.layers.Dense(32, activation="gelu", name="ff1")(h))
    model = keras.Model(inp, keras.layers.Add()([h, f]))
    model.save(tmp_path / "t.h5")
    x = np.random.default_rng(0).standard_normal((2, 6, 16)).astype("float32")
    expected = model(x).numpy()
    result = tfjsconv.convert(tmp_path / "t.h5", tmp_path / "t", output_format="tfjs_graph_model", quantize_int8=True)
    report = result.facts["weights"]
    assert [q.dtype for q in report.quantized] == ["int8"] * 6 and not report.notes  # q, k, v, out, ff1, ff2
    run = run_model(tmp_path / "t", {"x": x}, backends=("cpu", "wasm"), quiet=True)
    for backend in ("cpu", "wasm"):
        got = next(iter(run.outputs(backend).values()))
        assert np.abs(got - expected).max() <= FLOAT_REL_BOUND * np.abs(expected).max(), backend
