"""Fold inference batch norms and per-channel scales into the weights of the conv/matmul before them.

Patterns (P = ``Conv2D``, ``DepthwiseConv2dNative`` or ``MatMul`` with a constant weight, read only
by the next node):

- ``FusedBatchNorm{,V2,V3}(P [→ BiasAdd])`` in inference mode → ``P(W·m) → BiasAdd(b·m + s)`` with
  ``m = scale / sqrt(var + eps)`` and ``s = offset − mean·m``;
- ``Mul(P [→ BiasAdd], c)`` with a per-channel constant ``c`` (what ``batchnorm_to_mul_add`` and the
  ONNX frontend emit) → ``P(W·c) [→ BiasAdd(b·c)]``.

Factors are computed in float64; outputs change only by float32 rounding.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from ..provenance import merge
from . import Pass, PassResult
from .bias_add import LINEAR_OPS, output_channels
from .exact_constants import is_exact_constant
from .graph_edit import Uses, attr_text, channel_vector, const_array, is_const, make_const, rewrite

BATCH_NORMS = frozenset({"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"})


def batchnorm_affine(node: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """(multiplier, shift) of an inference-mode batch norm with constant statistics, else None."""
    if node.attrs.get("is_training", False) or len(node.inputs) < 5:
        return None
    arrays = [const_array(v) for v in node.inputs[1:5]]
    if any(a is None for a in arrays):
        return None
    scale, offset, mean, variance = (a.astype(np.float64).reshape(-1) for a in arrays)
    if not (scale.shape == offset.shape == mean.shape == variance.shape):
        return None
    mult = scale / np.sqrt(variance + float(node.attrs.get("epsilon", 1e-3)))
    return mult, offset - mean * mult


def only_main_output_used(node: Node, uses: Uses) -> bool:
    return all(uses.count(v) == 0 for v in node.outputs if v.index > 0)


def scaled_weight(linear: Node, mult: np.ndarray) -> np.ndarray | None:
    weight = const_array(linear.inputs[1])
    if weight is None or weight.dtype != np.float32:
        return None
    m = mult.astype(np.float32)  # float32 products: within one rounding of the float64 ones, and fast
    if linear.op == "DepthwiseConv2dNative":
        return weight * m.reshape(weight.shape[2], weight.shape[3])
    if linear.op == "MatMul" and linear.attrs.get("transpose_b"):
        return weight * m[:, None]
    return weight * m


def linear_chain(value: Value, reader: Node, uses: Uses) -> tuple[Node, Node | None] | None:
    """(linear op, its BiasAdd or None) when ``value`` is P or BiasAdd(P) read only along the chain."""
    node = value.producer
    if value.index != 0 or uses.only_reader(value) is not reader or node.control_inputs:
        return None
    bias_node = None
    if node.op == "BiasAdd":
        if attr_text(node, "data_format", "NHWC") != "NHWC" or not is_const(node.inputs[1]):
            return None
        bias_node, inner = node, node.inputs[0]
        if inner.index != 0 or uses.only_reader(inner) is not node:
            return None
        node = inner.producer
    if node.op not in LINEAR_OPS or node.control_inputs or attr_text(node, "data_format", "NHWC") != "NHWC":
        return None
    if node in uses.control_anchors or (bias_node is not None and bias_node in uses.control_anchors):
        return None
    if output_channels(node) is None:
        return None
    return node, bias_node


def fold_into(graph: Graph, target: Node, linear: Node, bias_node: Node | None,
              mult: np.ndarray, shift: np.ndarray | None) -> bool:
    """Rewrite ``target`` (the node being folded away) as ``linear'`` [→ BiasAdd]."""
    weight = scaled_weight(linear, mult)
    if weight is None:
        return False
    old_bias = const_array(bias_node.inputs[1]).astype(np.float64).reshape(-1) if bias_node is not None else None
    bias = None
    if old_bias is not None or shift is not None:
        bias = (old_bias * mult if old_bias is not None else 0.0) + (shift if shift is not None else 0.0)
        bias = np.broadcast_to(bias, mult.shape).astype(np.float32)
    new_weight = make_const(graph, weight, f"{linear.name}/folded_weight")
    linear_inputs = [linear.inputs[0], new_weight]
    if bias is None:
        rewrite(target, linear.op, linear_inputs, linear.attrs)
        return True
    linear.inputs = linear_inputs  # the linear op is read only by this chain: safe to update in place
    if linear.provenance or target.provenance:  # it now computes the scaled value: the norm's source too, so
        linear.provenance = merge(linear.provenance, target.provenance)  # --trace no longer pairs it with the
        # linear source alone (review r2, session 31: a correct conv+BN model traced as 0.45 off at the conv)
    del target.outputs[1:]  # a batch norm's statistics outputs are unused (checked by the caller)
    rewrite(target, "BiasAdd", [linear.output(0), make_const(graph, bias, f"{target.name}/bias")],
            {"T": DType.FLOAT32, "data_format": "NHWC"})
    return True


class FoldBatchNorm(Pass):
    name = "fold_batchnorm"
    level = 1

    def run(self, graph: Graph) -> PassResult:
        uses = Uses(graph)
        folded = 0
        for node in graph.topological_order():
            if node.control_inputs or node in uses.control_anchors:
                continue
            if node.op in BATCH_NORMS:
                if attr_text(node, "data_format", "NHWC") != "NHWC" or not only_main_output_used(node, uses):
                    continue
                affine = batchnorm_affine(node)
                chain = linear_chain(node.inputs[0], node, uses)
                if affine is None or chain is None or output_channels(chain[0]) != affine[0].size:
                    continue
                if fold_into(graph, node, *chain, *affine):
                    folded += 1
                    uses = Uses(graph)
            elif node.op == "Mul" and len(node.inputs) == 2:
                for x, c in (node.inputs, node.inputs[::-1]):
                    if is_exact_constant(c.producer.name if c.producer is not None else ""):
                        continue  # a pass's exact share (mean_as_sum's 2^-k): folded, --quantize_* would round it
                    constant = const_array(c)
                    chain = linear_chain(x, node, uses) if constant is not None else None
                    if chain is None or constant.dtype.kind != "f":
                        continue
                    rank = 2 if chain[0].op == "MatMul" else 4
                    mult = channel_vector(constant.astype(np.float64), output_channels(chain[0]), rank)
                    if mult is not None and fold_into(graph, node, *chain, mult, None):
                        folded += 1
                        uses = Uses(graph)
                        break
        return PassResult(folded)
