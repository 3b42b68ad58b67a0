"""``--quantize_int8``: rewrite conv/matmul kernels to int8 values plus a per-output-channel rescale.

A conv or matmul is linear in its kernel along the output channel, so ``op(x, q * s) == op(x, q) * s``
with ``s`` broadcast over the output's channel axis. Each selected kernel Const becomes the int8
values ``q`` (stored as 1 byte each, see :mod:`tfjsconv.weights.int8`) and one ``Mul`` by ``s`` follows
the op. For fused ops (``_FusedConv2D`` …) the bias is divided by ``s`` and the rescale goes after
the fused op when the activation is positively homogeneous (Relu, LeakyRelu, Prelu: ``f(s*z) ==
s*f(z)`` for ``s > 0``); other activations are split out after the ``Mul``.

Runs in the graph-model writer, after every pass, so no pass can fold the rescale back into the kernel.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Collection
from fnmatch import fnmatchcase

import numpy as np

from ..dtypes import DType
from ..errors import UsageError
from ..interpreter.registry import attr_str, attr_strings
from ..ir import Graph, Node, materialize
from ..passes.graph_edit import Uses
from ..weights.int8 import quantize_per_channel

#: op -> index of its kernel input.
KERNEL_OPS = {"Conv2D": 1, "_FusedConv2D": 1, "DepthwiseConv2dNative": 1, "FusedDepthwiseConv2dNative": 1,
              "MatMul": 1, "_FusedMatMul": 1, "BatchMatMulV2": 1, "BatchMatMul": 1}
_HOMOGENEOUS = {"Relu", "LeakyRelu", "Prelu"}
_SPLITTABLE = {"Relu6", "Elu", "Sigmoid", "Tanh"}


@dataclasses.dataclass
class Int8Result:
    """What the rewrite did: quantized kernels with their errors, and kernels it had to leave float."""

    errors: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    skipped: list[str] = dataclasses.field(default_factory=list)
    #: The rescale constants' names; they stay float32 whatever the other --quantize_* flags say.
    scales: list[str] = dataclasses.field(default_factory=list)
    #: Weight -> the manifest ``min`` its bytes decode with (scale 1); -128 (int8 values) when absent.
    offsets: dict[str, float] = dataclasses.field(default_factory=dict)
    #: Report lines, as they are (``skipped`` are prefixed with the --quantize_int8 flag).
    notes: list[str] = dataclasses.field(default_factory=list)
    #: Weights holding 16-bit integers (a source's int16/uint16): stored as uint16, 2 bytes each.
    wide: list[str] = dataclasses.field(default_factory=list)

    def merged(self, other: "Int8Result | None") -> "Int8Result":
        """Both results in one (``other`` may be None)."""
        if other is None:
            return self
        return Int8Result({**self.errors, **other.errors}, self.skipped + other.skipped, self.scales + other.scales,
                          {**self.offsets, **other.offsets}, self.notes + other.notes, self.wide + other.wide)


def _selected(name: str, spec: bool | list[str]) -> bool:
    return spec is True or (isinstance(spec, list) and any(fnmatchcase(name, p) for p in spec))


def _layout(node: Node, kernel: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]] | str:
    """``(reduce_axes, scale_shape)`` of the kernel for ``node``, or why it cannot be done."""
    op = node.op
    if op in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
        if kernel.ndim != 4:
            return "kernel is not 4-D"
        channels = kernel.shape[3] if "Depthwise" not in op else kernel.shape[2] * kernel.shape[3]
        nchw = attr_str(node, "data_format", "NHWC") == "NCHW"
        reduce_axes = (0, 1, 2) if "Depthwise" not in op else (0, 1)
        return reduce_axes, ((channels, 1, 1) if nchw else (channels,))
    if kernel.ndim != 2:
        return "matmul kernel is not 2-D"
    transposed = bool(node.attrs.get("transpose_b", node.attrs.get("adj_y", False)))
    if op in ("BatchMatMulV2", "BatchMatMul") and node.attrs.get("adj_x"):
        return "adj_x"
    return ((1,) if transposed else (0,)), (kernel.shape[0] if transposed else kernel.shape[1],)


def rewrite_int8_kernels(graph: Graph, spec: bool | list[str], keep: Collection[str] = ()) -> Int8Result:
    """Quantize the kernels of ``graph`` selected by ``spec`` (``True``: all; else fnmatch patterns);
    ``keep``: weights already integers (a quantized source's), never quantized again."""
    result = Int8Result()
    uses = Uses(graph)
    for node in list(graph.topological_order()):
        index = KERNEL_OPS.get(node.op)
        if index is None or len(node.inputs) <= index:
            continue
        kernel_value = node.inputs[index]
        const = kernel_value.producer
        if const.op != "Const" or kernel_value.index != 0 or const.name in keep or not _selected(const.name, spec):
            continue
        if uses.only_reader(kernel_value) is not node:
            result.skipped.append(f"{const.name} (read by more than one node)")
            continue
        kernel = materialize(const.attrs["value"])
        if kernel.dtype != np.float32:
            continue
        layout = _layout(node, kernel)
        if isinstance(layout, str):
            result.skipped.append(f"{const.name} ({node.op} {node.name}: {layout})")
            continue
        reduce_axes, scale_shape = layout
        fused = attr_strings(node, "fused_ops") if node.op.startswith(("_Fused", "Fused")) else []
        if fused and (fused[0] != "BiasAdd" or len(fused) > 2
                      or (len(fused) == 2 and fused[1] not in _HOMOGENEOUS | _SPLITTABLE)):
            result.skipped.append(f"{const.name} ({node.op} {node.name} fuses {'+'.join(fused)})")
            continue
        quantized = quantize_per_channel(const.name, kernel, reduce_axes)
        scale = quantized.scale.reshape(scale_shape)
        const.attrs["value"] = quantized.values
        if fused:
            bias_node = node.inputs[2].producer
            bias = materialize(bias_node.attrs["value"]) if bias_node.op == "Const" else None
            if bias is None or uses.only_reader(node.inputs[2]) is not node:
                const.attrs["value"] = kernel
                result.skipped.append(f"{const.name} ({node.op} {node.name}: bias is not its own constant)")
                continue
            bias_node.attrs["value"] = (bias.astype(np.float64) / quantized.scale.reshape(bias.shape)).astype(np.float32)
        result.scales.append(_rescale_after(graph, uses, node, scale, fused))
        result.errors[const.name] = (quantized.max_abs_error, quantized.max_rel_error)
    return result


def _rescale_after(graph: Graph, uses: Uses, node: Node, scale: np.ndarray, fused: list[str]) -> str:
    """Insert ``Mul(node, scale)`` (then a split-out activation), point ``node``'s readers at it; the scale's name."""
    out = node.output(0)
    activation = fused[1] if len(fused) == 2 else None
    if activation in _SPLITTABLE:
        node.attrs["fused_ops"] = ["BiasAdd"]
    dtype = out.dtype or DType.FLOAT32
    scale_value = graph.const(scale, name=f"{node.name}/int8_scale")
    tail = graph.add_op("Mul", [out, scale_value], {"T": dtype}, name=f"{node.name}/int8_rescale",
                        dtype=dtype, shape=out.shape)
    if activation in _SPLITTABLE:
        tail = graph.add_op(activation, [tail], {"T": dtype}, name=f"{node.name}/{activation}",
                            dtype=dtype, shape=out.shape)
    uses.replace(graph, out, tail)  # ``uses`` predates the Mul, so the Mul keeps reading ``out``
    return scale_value.producer.name


def check_int8_conflicts(names: list[str], quantization: dict[str, bool | list[str]]) -> None:
    """A kernel picked by ``--quantize_int8`` must not also match another dtype's explicit pattern."""
    problems = []
    for name in names:
        for dtype, spec in quantization.items():
            if isinstance(spec, list):
                hit = next((p for p in spec if fnmatchcase(name, p)), None)
                if hit is not None:
                    problems.append(f"weight {name!r} is matched by --quantize_int8 and --quantize_{dtype} pattern {hit!r}")
    if problems:
        raise UsageError("conflicting quantization patterns:\n  " + "\n  ".join(problems),
                         hint="make the patterns disjoint so each weight gets one quantization dtype")
