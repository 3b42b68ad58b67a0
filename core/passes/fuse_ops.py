"""Fuse ``Conv2D``/``DepthwiseConv2dNative``/``MatMul`` → ``BiasAdd`` [→ activation] into one TF.js op.

Two steps, each a local rewrite so the fixed point composes them:

1. ``BiasAdd(P(x, w), b)`` → ``_FusedConv2D``/``FusedDepthwiseConv2dNative``/``_FusedMatMul`` with
   ``fused_ops=["BiasAdd"]``;
2. ``Act(F)`` with ``F`` fused with only a bias → ``fused_ops=["BiasAdd", Act]`` (``Prelu`` adds its
   alpha as the second argument, ``LeakyRelu`` its ``leakyrelu_alpha``);
3. a fused op left with only an all-zero bias goes back to the plain op (``x + 0`` is ``x``).

What may be fused comes from :mod:`.backend_support` (all of cpu, wasm and webgl must run it):
never ``Tanh``, never LeakyRelu into the depthwise op, only rank-1 biases with one value per
channel, no transposed ``_FusedMatMul`` (a constant ``b`` is pre-transposed instead). The fused
node takes the name of the last node it absorbs, so output names are kept.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..interpreter.registry import attr_strings
from ..ir import Graph, Node
from ..ops.special_values import GUARD_INPUT_SUFFIX, for_op
from . import Pass, PassResult
from .backend_support import FUSED_OPS, can_fuse
from .graph_edit import Uses, attr_text, channel_vector, const_array, float_dtype, make_const, rewrite
from .shapes import infer_shapes

FUSED_TO_BASE = {support.graph_op: base for base, support in FUSED_OPS.items()}


class FuseOps(Pass):
    name = "fuse_ops"
    level = 2
    after = ("pad_into_conv",)  # pads folded into convs first; bias_add precedes it by registration

    def __init__(self, unfused: frozenset[tuple[str, str]] = frozenset()) -> None:
        #: (fused op, ``"BIASADD,ACT"``) pairs left unfused: their fused kernel mishandles special values on a
        #: targeted backend where the unfused activation does not (``--exact_special_values``).
        self.unfused = unfused

    def configured(self, options: object) -> Pass:
        if not getattr(options, "exact_special_values", False):
            return self
        backends = getattr(options, "target_backends", None) or ("cpu", "wasm", "webgl")
        return FuseOps(exactly_fixable_fusions(backends))

    def run(self, graph: Graph) -> PassResult:
        uses = Uses(graph)
        shapes = None
        fused = 0
        for node in graph.topological_order():
            if node.control_inputs or not node.inputs:
                continue
            if node.op == "BiasAdd":
                if shapes is None:
                    shapes = infer_shapes(graph)
                fused += self._fuse_bias(graph, node, uses, shapes)
            elif node.inputs[0].producer.op in FUSED_TO_BASE:
                fused += self._fuse_activation(graph, node, uses)
        return PassResult(fused + self._drop_zero_biases(graph))

    @staticmethod
    def _drop_zero_biases(graph: Graph) -> int:
        """A fused op whose only extra is an all-zero bias (Keras initializes biases to zeros) goes back to the
        plain op, one Const fewer, as Grappler drops the zero ``BiasAdd`` in the traced path. ``x + 0`` is
        ``x`` except that -0 becomes +0. Run after the activation fusion of the sweep, which a bias enables."""
        dropped = 0
        for node in list(graph.nodes):
            if node.op not in FUSED_TO_BASE or attr_strings(node, "fused_ops") != ["BiasAdd"] or len(node.inputs) != 3:
                continue
            bias = const_array(node.inputs[2])
            if bias is None or bias.size == 0 or np.any(bias):
                continue
            attrs = {k: v for k, v in node.attrs.items()
                     if k not in ("fused_ops", "num_args", "epsilon", "leakyrelu_alpha")}
            rewrite(node, FUSED_TO_BASE[node.op], node.inputs[:2], attrs)
            dropped += 1
        return dropped

    def _fuse_bias(self, graph: Graph, node: Node, uses: Uses, shapes: dict) -> int:
        x, b = node.inputs
        base = x.producer
        bias = const_array(b)
        if (base.op not in FUSED_OPS or x.index != 0 or uses.only_reader(x) is not node or base.control_inputs
                or base in uses.control_anchors or bias is None or bias.ndim != 1 or bias.dtype != np.float32):
            return 0
        if attr_text(node, "data_format", "NHWC") != "NHWC" or attr_text(base, "data_format", "NHWC") != "NHWC":
            return 0
        if not all(float_dtype(v) for v in base.inputs):
            return 0
        out_shape = shapes.get(x)
        if out_shape is None or not out_shape or out_shape[-1] != bias.shape[0]:
            return 0
        attrs = dict(base.attrs)
        weight = base.inputs[1]
        if base.op == "MatMul" and attrs.get("transpose_b") and not can_fuse(base.op, None, 1, transposed=True):
            array = const_array(weight)
            if array is None or array.ndim != 2:
                return 0
            weight = make_const(graph, array.T, f"{base.name}/weight_t")  # wasm mis-computes transpose_b
            attrs["transpose_b"] = False
        if not can_fuse(base.op, None, 1, transposed=bool(attrs.get("transpose_a") or attrs.get("transpose_b"))):
            return 0
        attrs.update({"fused_ops": ["BiasAdd"], "num_args": 1})
        if base.op != "DepthwiseConv2dNative":
            attrs.setdefault("epsilon", 0.0)
            attrs.setdefault("leakyrelu_alpha", 0.2)
        rewrite(node, FUSED_OPS[base.op].graph_op, [base.inputs[0], weight, b], attrs)
        return 1

    def _fuse_activation(self, graph: Graph, node: Node, uses: Uses) -> int:
        fused_value = node.inputs[0]
        fused = fused_value.producer
        base_op = FUSED_TO_BASE[fused.op]
        if (attr_strings(fused, "fused_ops") != ["BiasAdd"] or uses.only_reader(fused_value) is not node
                or fused in uses.control_anchors or fused.control_inputs):
            return 0
        if fused.name.endswith(GUARD_INPUT_SUFFIX):  # split off by exact_special_values: the fused form mishandles NaN
            return 0
        if not can_fuse(base_op, node.op, 1) or (fused.op, f"BIASADD,{node.op.upper()}") in self.unfused:
            return 0
        attrs = dict(fused.attrs)
        inputs = list(fused.inputs)
        if node.op == "Prelu":
            alpha = const_array(node.inputs[1])
            channels = const_array(fused.inputs[2]).shape[0]
            vector = channel_vector(alpha, channels, 4 if base_op != "MatMul" else 2) if alpha is not None else None
            if vector is None or vector.dtype != np.float32:
                return 0
            inputs.append(make_const(graph, vector, f"{node.name}/alpha"))
            attrs["num_args"] = 2
        elif len(node.inputs) != 1:
            return 0
        if node.op == "LeakyRelu":
            attrs["leakyrelu_alpha"] = float(node.attrs.get("alpha", 0.2))
        attrs["fused_ops"] = ["BiasAdd", node.op]
        rewrite(node, fused.op, inputs, attrs)
        return 1


def exactly_fixable_fusions(backends: Sequence[str]) -> frozenset[tuple[str, str]]:
    """The fused forms whose special-value deviation on ``backends`` the contract marks exact: left unfused, the op
    and its activation give TF's results there (``special_values`` splits those a source graph brings)."""
    pairs = set()
    for fused_op in FUSED_TO_BASE:
        for deviation in for_op(fused_op, backends):
            if deviation.exact:
                pairs.update((fused_op, value) for selector, values in deviation.when if selector == "attr:fused_ops"
                             for value in values)
    return frozenset(pairs)
