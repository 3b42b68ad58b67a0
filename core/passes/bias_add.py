"""``Add``/``AddV2`` of a per-channel constant after a conv or matmul becomes ``BiasAdd``.

An ``Add`` is rewritten only where the conv/matmul feeds nothing else (so ``fuse_ops`` can fold the
``BiasAdd`` into it). Then a ``BiasAdd`` (or such an ``Add``) on top of another ``BiasAdd`` is merged into one, so
``Conv → BiasAdd → Add(shift)`` (what BatchNorm folding leaves behind) ends as ``Conv → BiasAdd``,
ready for fusion. The constant must broadcast along the channel (last) axis only and not add
dimensions: ``(C,)``, ``(1, 1, 1, C)`` or a scalar, which becomes a length-C vector.
"""
from __future__ import annotations

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import Uses, attr_text, channel_vector, const_array, float_dtype, is_const, make_const, rewrite

#: Ops whose last output axis is the channel axis, with where to read the channel count.
LINEAR_OPS = frozenset({"Conv2D", "DepthwiseConv2dNative", "MatMul"})


def output_channels(node: Node) -> int | None:
    """Channel count of a conv/matmul with a constant weight (None when unknown)."""
    if len(node.inputs) < 2 or not is_const(node.inputs[1]):
        return None
    shape = tuple(node.inputs[1].producer.attrs["value"].shape)  # the shape only: never load the weight
    if node.op == "Conv2D" and len(shape) == 4:
        return int(shape[3])
    if node.op == "DepthwiseConv2dNative" and len(shape) == 4:
        return int(shape[2] * shape[3])
    if node.op == "MatMul" and len(shape) == 2:
        return int(shape[0] if node.attrs.get("transpose_b") else shape[1])
    return None


def producer_channels(value: Value) -> tuple[int, int] | None:
    """(channels, rank) when ``value`` comes from a conv/matmul or a BiasAdd over one (NHWC)."""
    node = value.producer
    if value.index != 0:
        return None
    if node.op == "BiasAdd":
        if attr_text(node, "data_format", "NHWC") != "NHWC":
            return None
        inner = producer_channels(node.inputs[0])
        if not is_const(node.inputs[1]) or inner is None:
            return None
        return inner
    if node.op in LINEAR_OPS:
        if attr_text(node, "data_format", "NHWC") != "NHWC":
            return None
        channels = output_channels(node)
        return None if channels is None else (channels, 2 if node.op == "MatMul" else 4)
    return None


class AddToBiasAdd(Pass):
    name = "bias_add"
    level = 1

    def run(self, graph: Graph) -> PassResult:
        uses = Uses(graph)
        merged_biases = adds = 0
        for node in graph.topological_order():
            if node.op not in ("Add", "AddV2", "BiasAdd") or len(node.inputs) != 2 or node.control_inputs:
                continue
            if node.op == "BiasAdd" and attr_text(node, "data_format", "NHWC") != "NHWC":
                continue
            x, c = node.inputs
            if node.op != "BiasAdd" and is_const(x) and not is_const(c):
                x, c = c, x
            constant = const_array(c)
            found = producer_channels(x)
            if constant is None or found is None or not float_dtype(x):
                continue
            channels, rank = found
            vector = channel_vector(constant, channels, rank)
            if vector is None or vector.dtype.kind != "f":
                continue
            vector = vector.astype(x.dtype.numpy if x.dtype else constant.dtype)
            inner = x.producer
            if inner.op == "BiasAdd" and uses.only_reader(x) is node and not inner.control_inputs:
                merged = const_array(inner.inputs[1]) + vector  # (x + b1) + b2 == x + (b1 + b2) up to rounding
                bias = make_const(graph, merged.astype(vector.dtype), f"{node.name}/bias")
                uses.drop_reader(x, node)
                rewrite(node, "BiasAdd", [inner.inputs[0], bias],
                        {"T": DType.FLOAT32, "data_format": "NHWC"})
                merged_biases += 1
            elif node.op != "BiasAdd" and inner.op in LINEAR_OPS and uses.only_reader(x) is node:
                # only where fuse_ops can then fold it into the conv/matmul: elsewhere a BiasAdd is the
                # same one node as the Add, with a per-channel constant in place of a (shared) scalar one
                bias = make_const(graph, vector, f"{node.name}/bias")
                rewrite(node, "BiasAdd", [x, bias], {"T": DType.FLOAT32, "data_format": "NHWC"})
                adds += 1
        return PassResult.from_counts(merged_biases=merged_biases, adds_to_bias_add=adds)
