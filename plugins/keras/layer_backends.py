"""Refuse layers models whose layers run a TF.js kernel that a target backend computes wrongly or lacks.

A TF.js layers model runs TF.js's own kernels (``MaxPooling3D`` calls ``maxPool3d``...), so the backend
contract of :mod:`tfjsconv.ops.backends` applies to it as to a graph model. Each layer class is mapped to
the graph op it dispatches to, with the attributes its config implies (TF.js layers run channels-last
kernels and transpose channels-first data around them), and the contract is asked. Kernels the graph
converter does not know (so the contract holds no limits for them) carry curated limits, each found by
the Keras conformance run (``bench/conformance/keras_layers.py``).

Special values (NaN/±Inf, int32 past 2^24) are no reason to refuse, but a layers model runs the same TF.js
kernels as a graph model, so :func:`layer_special_value_notice` names the layers whose kernels have a
recorded deviation (:mod:`tfjsconv.ops.special_values`) on a target backend, as graph conversions do.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from tfjsconv.errors import BackendUnsupportedError
from tfjsconv.ops.backends import BackendContract, NodeFacts, Problem

from .configs import iter_layers

log = logging.getLogger(__name__)


def _spatial(config: dict[str, Any], key: str, rank: int, default: Any) -> list[int]:
    value = config.get(key, default)
    if value is None:
        value = default
    if isinstance(value, int):
        value = [value] * rank
    return [int(v) for v in value]


def _window_facts(op: str, rank: int, size_key: str, default_size: Any) -> Callable[[dict[str, Any]], NodeFacts]:
    """Facts of a pooling layer: ksize and strides (strides default to the pool size, as in Keras)."""
    def facts(config: dict[str, Any]) -> NodeFacts:
        size = _spatial(config, size_key, rank, default_size)
        strides = _spatial(config, "strides", rank, size)
        attrs = {"ksize": [1, *size, 1], "strides": [1, *strides, 1],
                 "padding": str(config.get("padding", "valid")).upper(),
                 "data_format": "NDHWC" if rank == 3 else "NHWC"}
        return NodeFacts(op, attrs, ["float32"])
    return facts


def _conv_facts(op: str, rank: int) -> Callable[[dict[str, Any]], NodeFacts]:
    def facts(config: dict[str, Any]) -> NodeFacts:
        attrs = {"strides": [1, *_spatial(config, "strides", rank, 1), 1],
                 "dilations": [1, *_spatial(config, "dilation_rate", rank, 1), 1],
                 "padding": str(config.get("padding", "valid")).upper(),
                 "data_format": "NDHWC" if rank == 3 else "NHWC"}
        return NodeFacts(op, attrs, ["float32", "float32"])
    return facts


def _prelu_facts(config: dict[str, Any]) -> NodeFacts:
    """tfjs-layers' PReLU runs ``prelu(x, alpha)`` with alpha of the input's shape but the batch, 1 on the shared
    axes; wasm reads such an alpha wrongly unless it tiles x's trailing axes (contract ``tiles:1,0``). The config
    gives the shared axes, not the sizes: every other size stands for one that is not 1, so an alpha with a shared
    axis after an unshared one (``shared_axes=[2]`` of a sequence) does not tile (it does only if x's size there is
    1)."""
    shared = config.get("shared_axes") or []
    shared = {int(a) for a in ([shared] if isinstance(shared, int) else shared)}
    rank = max([*shared, 1]) + 1  # x's rank at least; unshared trailing axes tile either way
    alpha = tuple(1 if axis in shared else 2 for axis in range(1, rank))
    return NodeFacts("Prelu", {}, ["float32", "float32"], input_shapes=[(1, *(2,) * (rank - 1)), alpha])


#: Layer class -> the facts of the graph op its TF.js implementation dispatches to (float32 data).
LAYER_KERNEL_FACTS: dict[str, Callable[[dict[str, Any]], NodeFacts]] = {
    "MaxPooling3D": _window_facts("MaxPool3D", 3, "pool_size", 2),
    "AveragePooling3D": _window_facts("AvgPool3D", 3, "pool_size", 2),
    "MaxPooling2D": _window_facts("MaxPool", 2, "pool_size", 2),
    "AveragePooling2D": _window_facts("AvgPool", 2, "pool_size", 2),
    "Conv3D": _conv_facts("Conv3D", 3),
    "Conv3DTranspose": _conv_facts("Conv3DBackpropInputV2", 3),
    "PReLU": _prelu_facts,
}

#: Limits of kernels the backend contract does not cover (ops the graph converter never emits):
#: (graph op, backend) -> reason.
CURATED_LIMITS: dict[tuple[str, str], str] = {
    ("Conv3DBackpropInputV2", "wasm"): "the wasm conv3dTranspose kernel gives a wrong answer "
                                       "(848/864 values differ for strides=2, padding='same')",
}


#: Keras activation name -> the graph op of the TF.js kernel it runs (those with a possible deviation).
ACTIVATION_OPS = {"relu": "Relu", "relu6": "Relu6", "elu": "Elu", "selu": "Selu", "softplus": "Softplus",
                  "softmax": "Softmax", "leaky_relu": "LeakyRelu", "sin": "Sin", "cos": "Cos"}
#: Layer class -> the graph op its TF.js implementation runs on float32 data (besides its activation). The
#: reductions are tfjs-layers 4.22's: LayerNormalization's ``moments`` and GlobalAveragePooling1D/2D's ``mean``
#: run ``Mean``, AveragePooling1D/2D ``avgPool`` (AveragePooling3D ``avgPool3d``, which has no recorded deviation),
#: PReLU ``prelu`` (the graph model's ops for these layers are the same: Mean, AvgPool, Prelu).
LAYER_OPS = {"Softmax": "Softmax", "ELU": "Elu", "LeakyReLU": "LeakyRelu", "MaxPooling1D": "MaxPool",
             "MaxPooling2D": "MaxPool", "Maximum": "Maximum", "Minimum": "Minimum", "LayerNormalization": "Mean",
             "GlobalAveragePooling1D": "Mean", "GlobalAveragePooling2D": "Mean", "AveragePooling1D": "AvgPool",
             "AveragePooling2D": "AvgPool", "AveragePooling3D": "AvgPool3D", "PReLU": "Prelu"}
#: Layers whose TF.js implementation runs bias and activation in one fused kernel for the activations TF.js
#: fuses (tfjs-layers ``mapActivationToFusedKernel``: relu, elu), so the fused kernel's deviations apply.
FUSED_LAYERS = {"Dense": "_FusedMatMul", "Conv2D": "_FusedConv2D"}
FUSED_ACTIVATIONS = {"relu": "Relu", "elu": "Elu"}


def _activation(config: dict[str, Any]) -> str | None:
    value = config.get("activation")
    if isinstance(value, dict):  # Keras 3: {"module": "keras.activations", "class_name": ..., "config": ...}
        value = value.get("config") if isinstance(value.get("config"), str) else value.get("class_name")
    return str(value).lower() if isinstance(value, str) else None


def layer_kernel_facts(class_name: str, config: dict[str, Any]) -> list[NodeFacts]:
    """The graph ops (as contract facts, float32) a layer's TF.js implementation runs, as far as known."""
    ops = [LAYER_OPS[class_name]] if class_name in LAYER_OPS else []
    if class_name == "ReLU":
        max_value, slope = config.get("max_value"), config.get("negative_slope") or 0
        ops.append("LeakyRelu" if slope else "Relu6" if max_value == 6 else "Relu")
    facts = [NodeFacts(op, {}, ["float32"]) for op in ops]
    facts += _one_channel_conv_facts(class_name, config) + _depthwise_facts(class_name, config)
    if class_name == "Dot":  # tfjs-layers' batchDot of two matrices and l2Normalize (normalize=True) sum with Sum
        facts.append(NodeFacts("Sum", {}, ["float32", "int32"]))
    activation = _activation(config)
    if class_name in FUSED_LAYERS and activation in FUSED_ACTIVATIONS:
        fused = (["BiasAdd"] if config.get("use_bias", True) else []) + [FUSED_ACTIVATIONS[activation]]
        facts.append(NodeFacts(FUSED_LAYERS[class_name], {"fused_ops": fused}, ["float32", "float32"]))
    elif activation in ACTIVATION_OPS:
        facts.append(NodeFacts(ACTIVATION_OPS[activation], {}, ["float32"]))
    return facts


def _one_channel_conv_facts(class_name: str, config: dict[str, Any]) -> list[NodeFacts]:
    """A 1×1 stride-1 Conv2D/Conv1D of one filter runs wasm's one-channel kernel (-Inf for NaN) when its input has
    one channel, which the config does not tell: named for any input (tfjs-layers' Conv2D runs ``_FusedConv2D``,
    its Conv1D a ``Conv2D``)."""
    op = {"Conv2D": "_FusedConv2D", "Conv1D": "Conv2D"}.get(class_name)
    rank = 2 if class_name == "Conv2D" else 1
    if op is None or config.get("filters") != 1 or int(config.get("groups", 1) or 1) != 1:
        return []
    if _spatial(config, "kernel_size", rank, 1) != [1] * rank or _spatial(config, "strides", rank, 1) != [1] * rank:
        return []
    return [NodeFacts(op, {"strides": [1, 1, 1, 1]}, ["float32", "float32"], input_shapes=[None, (1, 1, 1, 1)])]


#: Layers whose TF.js implementation runs ``DepthwiseConv2dNative`` (their spatial rank).
DEPTHWISE_LAYERS = {"DepthwiseConv2D": 2, "SeparableConv2D": 2, "SeparableConv1D": 1, "DepthwiseConv1D": 1}


def _depthwise_facts(class_name: str, config: dict[str, Any]) -> list[NodeFacts]:
    """The layer's ``DepthwiseConv2dNative``: its strides, padding and filter shape (wasm's 1×1 stride-1 kernel of one
    output per channel gives -Inf for NaN). No ``nonfinite`` fact: a layers model with a NaN or ±Inf weight is refused
    (``core/weights/finite.py``), so wasm's padding fault (0·NaN at SAME borders) cannot reach one."""
    rank = DEPTHWISE_LAYERS.get(class_name)
    if rank is None:
        return []
    size = [1] * (2 - rank) + _spatial(config, "kernel_size", rank, 1)
    strides = [1] * (2 - rank) + _spatial(config, "strides", rank, 1)
    padding = str(config.get("padding", "valid")).upper()
    return [NodeFacts("DepthwiseConv2dNative", {"strides": [1, *strides, 1], "padding": padding},
                      ["float32", "float32"], input_shapes=[None, (*size, None, int(config.get("depth_multiplier", 1)))])]


def layer_special_value_notice(model_config: dict[str, Any], backends: Iterable[str]) -> str | None:
    """One line naming the layers whose TF.js kernels give other results than TF on special values, or None.

    A layers model cannot be rewritten, so the hint is the graph model, where ``--exact_special_values`` can."""
    from tfjsconv.ops.special_values import for_op, layers_notice

    backends = tuple(backends)
    found, layers = set(), []
    for layer in iter_layers(model_config):
        hits = {d for facts in layer_kernel_facts(layer.class_name, layer.config)
                for d in for_op(facts.op, backends) if d.matches(facts)}
        if hits:
            found |= hits
            layers.append(layer.qualified_name)
    return layers_notice(found, layers)


def layer_backend_problems(model_config: dict[str, Any], backends: Iterable[str],
                           contract: BackendContract | None = None) -> list[Problem]:
    """Every (layer, backend) whose TF.js kernel cannot run correctly, as contract :class:`Problem` s."""
    contract = contract or BackendContract.load()
    backends = contract.check_backends(backends)
    problems: list[Problem] = []
    for layer in iter_layers(model_config):
        same = _wasm_same_padding_problem(layer.class_name, layer.config)
        if same is not None and "wasm" in backends:
            problems.append(Problem(f"{layer.class_name} ({same[0]})", layer.qualified_name, "wasm", same[1]))
        if "wasm" in backends and _runs_channels_first_conv(layer.class_name, layer.config):
            problems.append(Problem(f"{layer.class_name} (Conv2D)", layer.qualified_name, "wasm",
                                    "wasm's Conv2D has no dataFormat 'channelsFirst' (it throws at run time)"))
        facts_of = LAYER_KERNEL_FACTS.get(layer.class_name)
        if facts_of is None:
            continue
        facts = facts_of(layer.config)
        for backend in backends:
            reasons = contract.reasons(facts, backend)
            curated = CURATED_LIMITS.get((facts.op, backend))
            reasons += [curated] if curated else []
            if reasons:  # the first reason is enough to tell the user; the message stays short
                problems.append(Problem(f"{layer.class_name} ({facts.op})", layer.qualified_name, backend, reasons[0]))
    return sorted(set(problems))


#: Layers tfjs-layers runs as a ``conv2d`` in the layer's own data format (measured session 31: a channels-first
#: ConvLSTM2D throws on wasm, cpu matches; its other conv layers transpose channels-first data around the kernel).
CHANNELS_FIRST_CONV_LAYERS = frozenset({"ConvLSTM2D"})


def _runs_channels_first_conv(class_name: str, config: dict[str, Any]) -> bool:
    return class_name in CHANNELS_FIRST_CONV_LAYERS and config.get("data_format") == "channels_first"


#: Layers tfjs-layers runs as a SAME Conv2D (Conv1D through conv1d's [1, k] filter) or DepthwiseConv2dNative.
SAME_PADDED_CONVS = {"Conv1D": ("Conv2D", 1), "Conv2D": ("Conv2D", 2), "DepthwiseConv2D": ("DepthwiseConv2dNative", 2),
                     "SeparableConv2D": ("DepthwiseConv2dNative", 2), "SeparableConv1D": ("DepthwiseConv2dNative", 1),
                     "DepthwiseConv1D": ("DepthwiseConv2dNative", 1)}


def _wasm_same_padding_problem(class_name: str, config: dict[str, Any]) -> tuple[str, str] | None:
    """wasm computes a SAME convolution wrongly where its window is smaller than its stride on an axis and the size
    makes TF's raw pad negative (docs/backends.md; the graph path's ``same_padding`` pass writes the pads out, a
    layers model cannot): refused on wasm for such a window (not 1×1), whatever the size."""
    if class_name not in SAME_PADDED_CONVS or str(config.get("padding", "valid")).lower() != "same":
        return None
    op, rank = SAME_PADDED_CONVS[class_name]
    kernels = _spatial(config, "kernel_size", rank, 1)
    strides = _spatial(config, "strides", rank, 1)
    dilations = _spatial(config, "dilation_rate", rank, 1)
    effective = [(k - 1) * d + 1 for k, d in zip(kernels, dilations)]
    if all(e == 1 for e in effective) or not any(e < s for e, s in zip(effective, strides)):
        return None
    return op, (f"padding='same' with a window {tuple(kernels)} smaller than its strides {tuple(strides)}: TF.js's "
                "wasm computes it wrongly for sizes where TF pads nothing on that axis")


def check_layer_backends(model_config: dict[str, Any], backends: Iterable[str], *, source: str,
                         skip_op_check: bool = False) -> None:
    """Raise :class:`BackendUnsupportedError` (one line, every layer and backend) for a layers model."""
    backends = tuple(backends)
    problems = layer_backend_problems(model_config, backends)
    if not problems:
        return
    if skip_op_check:
        log.warning(
            "--skip_op_check: the layers model will be wrong or fail on some target backends: %s",
            "; ".join(f"layer {p.node} {p.op} on {p.backend} ({p.reason})" for p in problems))
        return
    error = BackendUnsupportedError(problems, backends=backends)
    error.message = f"{source}: layers model: {error.message}".replace(" node(s) ", " layer(s) ", 1)
    error.args = (error.message,)
    raise error
