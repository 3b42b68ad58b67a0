"""Common-subexpression elimination: two nodes with the same op, inputs and attrs become one.

Small constants with equal dtype, shape and bytes are merged too (shape vectors, axes, scalars
repeat a lot); big weights are not hashed, to keep the pass cheap. Nodes with control edges,
placeholders and random/stateful ops are never merged. When one of the duplicates is a graph
output, that one is kept, so output names do not change.

Nor are ops whose output is a fresh object or a frame entry, even when TF calls them pure: TF.js's
TensorLists, TensorArrays and hash tables are mutable objects (``TensorListSetItem`` writes into
the list in place), so two equal ``TensorListReserve`` of a Bidirectional RNN merged into one made
the forward and backward loops write into the same list. ``Enter``/``Exit`` are kept apart like
Grappler does (each one is a loop variable's own way into or out of a frame). Nor is the producer of a
``TensorScatterUpdate``'s tensor: TF.js's cpu kernel writes into that tensor, so it must stay private
(:mod:`.tensor_scatter_update` gives each update its own copy).
"""
from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from ..dtypes import DType
from ..ir import Graph, LazyArray, Node, TensorShapeAttr
from . import Pass, PassResult
from .constant_folding import NOT_FOLDABLE
from .graph_edit import Uses

#: Constants up to this many bytes are compared by value.
MAX_CONST_BYTES = 1 << 12
#: Loop-frame ops, never merged (as in Grappler's common subgraph elimination).
FRAME_OPS = frozenset({"Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration"})
#: Op families that create or touch a mutable TF.js object (a TensorList, TensorArray, hash table).
MUTABLE_OBJECT_PREFIXES = ("TensorList", "EmptyTensorList", "TensorArray", "HashTable", "MutableHashTable",
                           "MutableDenseHashTable", "InitializeTable", "LookupTable", "VarHandleOp",
                           "ReadVariableOp", "AssignVariableOp")


def never_merged(op: str) -> bool:
    """Ops that must stay distinct even when their inputs and attrs are equal."""
    return op in FRAME_OPS or op.startswith(MUTABLE_OBJECT_PREFIXES)


def _freeze(value: Any) -> Hashable:
    if isinstance(value, (str, bytes, int, float, bool, DType)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, np.ndarray):
        if value.nbytes > MAX_CONST_BYTES or value.dtype == object:
            raise TypeError("too big to compare")
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, LazyArray):
        raise TypeError("lazy weights are not compared")
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, TensorShapeAttr):
        return ("shape", value.dims)
    hash(value)
    return value


def node_key(node: Node) -> Hashable | None:
    """What makes two nodes compute the same thing, or None when the node must not be merged."""
    if node.control_inputs or (node.op in NOT_FOLDABLE and node.op != "Const") or never_merged(node.op):
        return None
    if node.op == "Const":
        value = node.attrs.get("value")
        if not isinstance(value, np.ndarray) or value.nbytes > MAX_CONST_BYTES:
            return None  # lazy or big weights are not compared
    try:
        attrs = _freeze(node.attrs)
    except TypeError:
        return None
    inputs = tuple((id(v.producer), v.index) for v in node.inputs)
    return node.op, inputs, attrs, len(node.outputs)


class EliminateCommonSubexpressions(Pass):
    name = "cse"
    level = 1

    def run(self, graph: Graph) -> PassResult:
        uses = Uses(graph)
        seen: dict[Hashable, Node] = {}
        merged = 0
        written = {n.inputs[0].producer for n in graph if n.op == "TensorScatterUpdate" and n.inputs}
        for node in graph.topological_order():
            if node in uses.control_anchors or node in written:
                continue
            key = node_key(node)
            if key is None:
                continue
            kept = seen.get(key)
            if kept is None:
                seen[key] = node
                continue
            node_is_output = any(v in uses.outputs for v in node.outputs)
            if node_is_output:
                if any(v in uses.outputs for v in kept.outputs):
                    continue  # both are outputs: merging would rename one
                seen[key], kept, node = node, node, kept
            for value in list(node.outputs):
                uses.replace(graph, value, kept.output(value.index))
            for value in node.inputs:
                uses.drop_reader(value, node)
            merged += 1
        return PassResult(merged)
