"""Simplify transposes: drop identity permutations, merge consecutive ones (inverse pairs cancel),
and push a transpose below the elementwise op that reads it, so that it can meet its inverse.

- ``Transpose(x, identity)`` → ``x``;
- ``Transpose(Transpose(x, p), q)`` → ``Transpose(x, p∘q)`` (→ ``x`` when that is the identity);
- ``U(Transpose(x, p))`` → ``Transpose(U(x), p)`` for unary elementwise ``U``;
- ``B(Transpose(x, p), Transpose(y, p))`` → ``Transpose(B(x, y), p)``;
- ``B(Transpose(x, p), c)`` with a constant ``c`` → ``Transpose(B(x, c'), p)``, ``c'`` = ``c`` permuted back.

Pushing only happens when the transpose has no other reader, so no work is duplicated; it only
moves transposes toward the outputs, so the fixed point terminates.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from ..ops.special_values import carries_marker
from . import Pass, PassResult
from .graph_edit import Uses, const_array, make_const, rewrite

UNARY = frozenset({
    "Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "LeakyRelu", "Exp", "Log", "Neg", "Abs", "Sqrt",
    "Rsqrt", "Square", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Erf", "Softplus",
    "Cast", "LogicalNot",
})
BINARY = frozenset({
    "Add", "AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "Pow", "SquaredDifference",
    "Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual", "LogicalAnd", "LogicalOr",
})


def perm_of(node: Node) -> list[int] | None:
    if node.op != "Transpose" or len(node.inputs) != 2:
        return None
    perm = const_array(node.inputs[1])
    return None if perm is None else [int(p) for p in perm.reshape(-1)]


def _perm_const(graph: Graph, perm: list[int], name: str) -> Value:
    return make_const(graph, np.array(perm, np.int32), f"{name}/perm")


class SimplifyTransposes(Pass):
    name = "transpose_chains"
    level = 1

    def run(self, graph: Graph) -> PassResult:
        uses = Uses(graph)
        simplified = pushed_through_unary = pushed_through_binary = 0
        for node in graph.topological_order():
            if node.control_inputs or node in uses.control_anchors:
                continue
            if node.op == "Transpose":
                simplified += self._simplify(graph, node, uses)
            elif node.op in UNARY and node.inputs:
                pushed_through_unary += self._push_unary(graph, node, uses)
            elif node.op in BINARY and len(node.inputs) == 2:
                pushed_through_binary += self._push_binary(graph, node, uses)
        return PassResult.from_counts(simplified=simplified, pushed_through_unary=pushed_through_unary,
                                      pushed_through_binary=pushed_through_binary)

    def _simplify(self, graph: Graph, node: Node, uses: Uses) -> int:
        perm = perm_of(node)
        if perm is None:
            return 0
        source = node.inputs[0]
        inner = perm_of(source.producer)
        if inner is not None and len(inner) == len(perm) and not source.producer.control_inputs:
            perm = [inner[p] for p in perm]
            uses.drop_reader(source, node)
            source = source.producer.inputs[0]
            node.inputs = [source, _perm_const(graph, perm, node.name)]
            uses.readers.setdefault(source, []).append(node)
            if perm != list(range(len(perm))):
                return 1
        if perm != list(range(len(perm))):
            return 0
        if node.output(0) in uses.outputs and (source.producer.op in ("Placeholder", "Const")
                                               or uses.count(source) != 1 or source.index != 0
                                               or carries_marker(source.producer.name)):
            return 0  # keep an output's name: nothing to rename onto
        if node.output(0) in uses.outputs:
            producer = source.producer
            name = node.name
            uses.replace(graph, node.output(0), source)
            uses.drop_reader(source, node)
            graph.remove_node(node)
            graph.rename_node(producer, name)
            return 1
        uses.replace(graph, node.output(0), source)
        uses.drop_reader(source, node)
        return 1

    def _movable(self, value: Value, reader: Node, uses: Uses) -> list[int] | None:
        node = value.producer
        perm = perm_of(node)
        if perm is None or value.index != 0 or node.control_inputs or uses.only_reader(value) is not reader:
            return None
        return perm

    def _push_unary(self, graph: Graph, node: Node, uses: Uses) -> int:
        perm = self._movable(node.inputs[0], node, uses)
        if perm is None:
            return 0
        transpose = node.inputs[0].producer
        x = transpose.inputs[0]
        out = node.output(0)
        moved = graph.add_op(node.op, [x] + node.inputs[1:], node.attrs, name=f"{node.name}/pre_transpose",
                             dtype=out.dtype, shape=None)
        rewrite(node, "Transpose", [moved, _perm_const(graph, perm, node.name)], {"T": out.dtype, "Tperm": DType.INT32}
                if out.dtype else {"Tperm": DType.INT32})
        uses.drop_reader(transpose.output(0), node)
        return 1

    def _push_binary(self, graph: Graph, node: Node, uses: Uses) -> int:
        a, b = node.inputs
        perm_a = self._movable(a, node, uses)
        perm_b = self._movable(b, node, uses) if a is not b else None
        out = node.output(0)
        if perm_a is not None and perm_b is not None and perm_a == perm_b:
            perm, new_inputs = perm_a, [a.producer.inputs[0], b.producer.inputs[0]]
        else:
            side = 0 if perm_a is not None else 1 if perm_b is not None else None
            if side is None:
                return 0
            perm = perm_a if side == 0 else perm_b
            constant = const_array(node.inputs[1 - side])
            if constant is None or constant.ndim > len(perm):
                return 0
            full = constant.reshape((1,) * (len(perm) - constant.ndim) + constant.shape)
            inverse = list(np.argsort(perm))
            moved_const = make_const(graph, np.transpose(full, inverse), f"{node.name}/operand")
            new_inputs = [node.inputs[side].producer.inputs[0], moved_const]
            if side == 1:
                new_inputs.reverse()
        moved = graph.add_op(node.op, new_inputs, node.attrs, name=f"{node.name}/pre_transpose", dtype=out.dtype)
        rewrite(node, "Transpose", [moved, _perm_const(graph, perm, node.name)],
                {"T": out.dtype, "Tperm": DType.INT32} if out.dtype else {"Tperm": DType.INT32})
        return 1
