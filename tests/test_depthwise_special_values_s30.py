"""wasm's depthwise convolutions (and fused convolutions and matmuls) on NaN/±Inf, against TF (session 30, h2).

Measured: wasm's ``DepthwiseConv2dNative`` and ``FusedDepthwiseConv2dNative`` give -Inf for NaN only with a 1×1
filter of one output per channel at stride 1 (a NaN input, a NaN weight, Inf·0); wider windows, strides and channel
multipliers keep NaN, Inf·0 and Inf - Inf. Their fused Relu/Relu6 drop NaN as ``_FusedConv2D``'s do. The rows named
every depthwise convolution and ``--exact_special_values`` rewrote none, though the notice recommended the flag:
now the 1×1 one is ``x · w`` (a Mul by the per-channel weights), and the fused activations are left unfused.

Each convolution or matmul, with a bias and each activation (none, Relu, Relu6, Elu, LeakyRelu, Sigmoid), of inputs
holding NaN, -NaN and ±Inf, with finite weights and with a NaN weight (a zero one too, for Inf·0). Expected values
are TF's ``tf.nn.depthwise_conv2d``/``conv2d``/``matmul`` + bias + activation, run eagerly (a TF graph's optimizer
fuses them and loses NaN itself). Sums past ±FLT_MAX are left out: their order differs on cpu too.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tf_models = pytest.importorskip("tf_models")

import tfjsconv  # noqa: E402
from tfjsconv.errors import InputError  # noqa: E402
from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

NEG_NAN = np.uint32(0xFFC00000).view(np.float32)
CHANNELS = 3
ACTIVATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "none": lambda tf, v: v, "relu": lambda tf, v: tf.nn.relu(v), "relu6": lambda tf, v: tf.nn.relu6(v),
    "elu": lambda tf, v: tf.nn.elu(v), "leaky": lambda tf, v: tf.nn.leaky_relu(v, 0.2),
    "sigmoid": lambda tf, v: tf.math.sigmoid(v)}
#: name -> (filter height, width, channel multiplier, stride, padding); explicit paddings abort TF 2.21's graph
#: session (tensor_format.h "Invalid index from the dimension"), so none here
DEPTHWISE = {"pointwise": (1, 1, 1, 1, "SAME"), "pointwise_valid": (1, 1, 1, 1, "VALID"),
             "multiplier": (1, 1, 2, 1, "SAME"), "strided": (1, 1, 1, 2, "VALID"), "window": (3, 3, 1, 1, "SAME"),
             "window_multiplier": (2, 2, 2, 1, "VALID")}


def _inputs() -> np.ndarray:
    x = (np.arange(2 * 4 * 5 * CHANNELS, dtype=np.float32).reshape(2, 4, 5, CHANNELS) % 11 - 5) / 4
    flat = x.reshape(-1)
    flat[[0, 4, 20, 41, 77, 100, 101]] = [np.nan, np.nan, np.inf, -np.inf, NEG_NAN, np.inf, -np.inf]
    x[1, 1, 1, :], x[1, 1, 2, :] = np.inf, -np.inf  # Inf - Inf inside a window
    x[1, 3, 3:, :] = np.nan
    return x


def _weights(shape: tuple[int, ...], seed: int, nan: bool) -> np.ndarray:
    w = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    w.reshape(-1)[0] = 0.0  # Inf·0
    if nan:
        w.reshape(-1)[-1] = np.nan
    return w


def _build(tf: Any, x: Any) -> dict[str, Any]:
    """Every (op, weights, activation) output by name."""
    out = {}
    bias = np.linspace(-0.5, 0.5, 2 * CHANNELS).astype(np.float32)
    for seed, (name, (h, w, multiplier, stride, padding)) in enumerate(DEPTHWISE.items()):
        for nan in (False, True):
            kernel = tf.constant(_weights((h, w, CHANNELS, multiplier), seed, nan))
            conv = tf.nn.depthwise_conv2d(x, kernel, [1, stride, stride, 1], padding)
            biased = tf.nn.bias_add(conv, bias[:CHANNELS * multiplier])
            for act, apply in ACTIVATIONS.items():
                out[f"dw_{name}_{'nan' if nan else 'finite'}_{act}"] = apply(tf, biased)
    flat = tf.reshape(x, [-1, CHANNELS])
    for nan in (False, True):
        conv = tf.nn.bias_add(tf.nn.conv2d(x, _weights((1, 1, CHANNELS, 2), 11, nan), 1, "SAME"), bias[:2])
        dense = tf.nn.bias_add(tf.matmul(flat, _weights((CHANNELS, 2), 12, nan)), bias[:2])
        for act, apply in ACTIVATIONS.items():
            out[f"conv_{'nan' if nan else 'finite'}_{act}"] = apply(tf, conv)
            out[f"mm_{'nan' if nan else 'finite'}_{act}"] = apply(tf, dense)
    return {name: tf.identity(value, name=name) for name, value in out.items()}


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    tf = pytest.importorskip("tensorflow")
    x = _inputs()
    folder = tmp_path_factory.mktemp("depthwise_s30")
    names = list(_build(tf, tf.constant(x)))
    source, _ = raw_ops_graph(folder / "graph.pb", lambda tf: _build(
        tf, tf.compat.v1.placeholder(tf.float32, x.shape, name="x")), {"x": x}, names)
    expected = {name: np.asarray(v) for name, v in _build(tf, tf.constant(x)).items()}
    return source, x, names, expected


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    got = np.asarray(got).reshape(want.shape)
    finite = np.isfinite(want)
    return bool(np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(got[np.isinf(want)],
                                                                                 want[np.isinf(want)])
                and np.allclose(got[finite], want[finite], rtol=1e-5, atol=1e-5))


def _wrong(outputs: dict, expected: dict) -> list[str]:
    return sorted(name for name, want in expected.items() if not _same(outputs[name], want))


def test_the_inputs_show_nan_where_wasm_loses_it(graph):
    _, _, names, expected = graph
    assert all(np.isnan(expected[n]).any() for n in names)


@pytest.mark.node
def test_wasm_pointwise_depthwise_is_exact_with_the_flag(graph, tmp_path, tfjs_runtime):
    """Before: every ``dw_pointwise*`` output (and the fused depthwise Relu/Relu6) stayed wrong on wasm with the flag,
    which the notice recommended for them."""
    source, x, names, expected = graph
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "plain", {"x": x}, names)
    assert _wrong(cpu, expected) == []
    plain = _wrong(wasm, expected)
    for weights in ("finite", "nan"):
        for act in ACTIVATIONS:
            for name in ("pointwise", "pointwise_valid"):
                assert f"dw_{name}_{weights}_{act}" in plain, plain
    assert not [n for n in plain if n.startswith(("dw_multiplier", "dw_strided")) and n.endswith("_none")], plain
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "exact", {"x": x}, names, exact_special_values=True)
    assert _wrong(cpu, expected) == []
    # a NaN weight in a SAME window: wasm multiplies the padding by it, TF skips padded taps (named, not rewritten)
    assert _wrong(wasm, expected) == [f"dw_window_nan_{act}" for act in sorted(ACTIVATIONS)]


def _padded_nan_weights(name: str) -> bool:
    """NaN weights of a SAME depthwise op the flag keeps: named (the 1×1 multiplier one reads no padding, but its
    padding attr is SAME: named all the same)."""
    return name.startswith(("dw_window_nan_", "dw_multiplier_nan_"))


def test_the_flag_leaves_only_padded_nan_weights_named(graph, tmp_path):
    """Without the flag the wasm rows name the depthwise ops as ones the flag rewrites; with it only the NaN weight
    in a padded window is left, named as such (before: every depthwise op was named as left by the flag)."""
    source, _, names, _ = graph
    rest = [n for n in names if not _padded_nan_weights(n)]
    result = tfjsconv.convert(source, tmp_path / "plain", output_node_names=rest, target_backends=["wasm"])
    assert len(result.notices) == 1, result.notices
    assert "FusedDepthwiseConv2dNative" in result.notices[0].split("--exact_special_values rewrites")[1], \
        result.notices
    result = tfjsconv.convert(source, tmp_path / "exact", output_node_names=rest, target_backends=["wasm"],
                              exact_special_values=True)
    assert not any("Depthwise" in notice for notice in result.notices), result.notices
    padded = [n for n in names if _padded_nan_weights(n)]
    result = tfjsconv.convert(source, tmp_path / "padded", output_node_names=padded, target_backends=["wasm"],
                              exact_special_values=True)
    assert len(result.notices) == 1 and "left as they are: FusedDepthwiseConv2dNative (wasm)" in result.notices[0], \
        result.notices


@pytest.mark.node
def test_layers_model_names_only_the_depthwise_layers_wasm_gets_wrong(tmp_path, tfjs_runtime):
    """tfjs-layers runs DepthwiseConv2D as ``DepthwiseConv2dNative``: the 1×1 one gives -Inf for NaN on wasm and is
    named; a VALID 3×3 one keeps NaN and is not (before: every depthwise layer was named, as a kernel no rewrite
    fixes); a SAME one is not: the weight wasm would get wrong there (NaN, Inf) is refused in a layers model."""
    keras = pytest.importorskip("keras")
    from tfjsconv.verify.run import run_model

    x = keras.Input((4, 5, CHANNELS), name="x")
    model = keras.Model(x, [keras.layers.DepthwiseConv2D(1, name="pointwise")(x),
                            keras.layers.DepthwiseConv2D(3, name="window")(x)])
    values = _inputs()[:1]
    expected = [np.asarray(o) for o in model(values)]
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_layers_model",
                              target_backends=["cpu", "wasm"])
    assert len(result.notices) == 1 and "(layers pointwise)" in result.notices[0], result.notices
    runs = run_model(tmp_path / "out", {"x": values}, backends=["cpu", "wasm"], quiet=True)
    for backend, right in (("cpu", [True, True]), ("wasm", [False, True])):
        outputs = list(runs.backends[backend].outputs.values())
        assert [_same(got, want) for got, want in zip(outputs, expected)] == right, backend
    # a SAME one is not named: a NaN or Inf weight would meet the padding on wasm, but the layers format refuses such
    # weights (core/weights/finite.py), so no layers model can hold one (named until session 30's review)
    same_layer = keras.layers.DepthwiseConv2D(3, padding="same", name="same")
    same = keras.Model(x, same_layer(x))
    same.save(tmp_path / "same.keras")
    result = tfjsconv.convert(tmp_path / "same.keras", tmp_path / "same_out", output_format="tfjs_layers_model",
                              target_backends=["wasm"])
    assert result.notices == [], result.notices
    kernel, bias = same_layer.get_weights()
    kernel.reshape(-1)[-1] = np.inf
    same_layer.set_weights([kernel, bias])
    same.save(tmp_path / "same_inf.keras")
    with pytest.raises(InputError, match="holds 1 infinite value"):
        tfjsconv.convert(tmp_path / "same_inf.keras", tmp_path / "same_inf_out", output_format="tfjs_layers_model",
                         target_backends=["wasm"])


#: (layer name, builder, the weight made non-finite): a 3×3 SAME depthwise and Conv2D (wasm: 0·w at the padding),
#: a VALID Conv2D (reads no padding: right on wasm too). Names sort in the model's output order.
PADDED_LAYERS = {"a_dw_same": (lambda L: L.DepthwiseConv2D(3, padding="same", name="a_dw_same"), np.inf),
                 "b_conv_same": (lambda L: L.Conv2D(2, 3, padding="same", name="b_conv_same"), np.nan),
                 "c_conv_valid": (lambda L: L.Conv2D(2, 3, name="c_conv_valid"), np.nan)}


def _padded_source(folder: Path, flavor: str) -> tuple[Path, np.ndarray, list[np.ndarray]]:
    """A Keras model of :data:`PADDED_LAYERS`, one weight each NaN or +Inf, saved as ``flavor`` (a Keras 3 ``.keras``,
    a tf_keras ``.h5`` or a tf_keras SavedModel: lazy weights all), its input and Keras's outputs."""
    k = pytest.importorskip("tf_keras") if flavor.startswith("tf_keras") else pytest.importorskip("keras")
    rng = np.random.default_rng(5)
    x = k.Input((4, 5, CHANNELS), name="x")
    layers = [make(k.layers) for make, _ in PADDED_LAYERS.values()]
    model = k.Model(x, [layer(x) for layer in layers])
    for layer, (_, bad) in zip(layers, PADDED_LAYERS.values()):
        weights = [rng.standard_normal(w.shape).astype(np.float32) for w in layer.get_weights()]
        weights[0].reshape(-1)[-1] = bad
        layer.set_weights(weights)
    values = rng.standard_normal((1, 4, 5, CHANNELS)).astype(np.float32)
    expected = [np.asarray(o) for o in model(values)]
    if flavor == "tf_keras_savedmodel":
        import tensorflow as tf

        tf.saved_model.save(model, str(folder / "sm"))
        return folder / "sm", values, expected
    path = folder / ("m.keras" if flavor == "keras3" else "m.h5")
    model.save(path)
    return path, values, expected


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3", "tf_keras_h5", "tf_keras_savedmodel"])
def test_lazy_nonfinite_weights_at_same_padding_are_named(tmp_path, tfjs_runtime, flavor):
    """A NaN or Inf weight of a SAME depthwise or Conv2D layer makes NaN at the borders on wasm (TF skips padded taps).
    Keras and SavedModel weights stay lazy until written: ``nonfinite:1`` did not read them, so nothing was named, with
    the flag or without (the depthwise was named for every filter until h2's rows; Conv2D never). The VALID conv is
    right on wasm and not named."""
    from tfjsconv.verify.run import run_model

    source, values, expected = _padded_source(tmp_path, flavor)
    result = tfjsconv.convert(source, tmp_path / "out", output_format="tfjs_graph_model",
                              target_backends=["cpu", "wasm"], exact_special_values=True)
    assert result.notices == ['special values: --exact_special_values cannot make these exact in TF.js, left as they '
                              'are: FusedDepthwiseConv2dNative, _FusedConv2D (wasm); see docs/backends.md, "Special '
                              'values"'], result.notices
    runs = run_model(tmp_path / "out", {"x": values}, backends=["cpu", "wasm"], quiet=True)
    for backend, right in (("cpu", [True, True, True]), ("wasm", [False, False, True])):
        outputs = [np.asarray(v) for _, v in sorted(runs.backends[backend].outputs.items())]
        assert [_same(got, want) for got, want in zip(outputs, expected, strict=True)] == right, backend


class _UnreadableWeight:
    """A lazy filter whose file broke after loading (fault injection): its values cannot be known."""

    shape, dtype = (3, 3, CHANNELS, 1), np.dtype("float32")

    def load(self) -> np.ndarray:
        raise InputError("weight 'k' cannot be read: the file is truncated")


def test_an_unreadable_lazy_filter_at_same_padding_is_named_maybe():
    """``nonfinite:1`` of a lazy weight it cannot read is ``maybe``, which the padding row names (a number it cannot
    check is not taken for finite); a lazy one held elsewhere than a file range is not loaded either (the writer reads
    it: no second read, tests/test_onnx_external.py), so it is ``maybe`` too (before: every lazy weight was None,
    never named)."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph
    from tfjsconv.ops.backends import NodeFacts
    from tfjsconv.ops.special_values import for_op

    class _Lazy(_UnreadableWeight):
        def load(self) -> np.ndarray:
            return np.full(self.shape, np.inf, np.float32)

    for weight, expected in ((_UnreadableWeight(), "maybe"), (_Lazy(), "maybe")):
        graph = Graph()
        x = graph.add_node("Placeholder", attrs={"dtype": DType.FLOAT32}, name="x").outputs[0]
        w = graph.add_node("Const", attrs={"value": weight, "dtype": DType.FLOAT32}, name="w").outputs[0]
        node = graph.add_node("DepthwiseConv2dNative", [x, w], {"padding": "SAME", "strides": [1, 1, 1, 1],
                                                                "T": DType.FLOAT32}, name="dw")
        facts = NodeFacts.of(node)
        assert facts.select("nonfinite:1") == expected
        assert any("padding" in d.reason for d in for_op("DepthwiseConv2dNative", ["wasm"]) if d.matches(facts))
