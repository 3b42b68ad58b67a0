"""Helpers the rewriting passes share: reading constants, counting uses, rewriting a node in place.

Rewrites keep the *last* node of a matched chain (its name and its output Value) and turn it into
the replacement op, so graph outputs and downstream readers keep their names; the nodes it absorbed
become dead and ``dead_code`` removes them.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import DType
from ..interpreter.registry import attr_str
from ..ir import Graph, Node, Value, materialize
from ..provenance import absorb, adopt


class Uses:
    """Who reads each Value (nodes and graph outputs), computed once per pass run."""

    def __init__(self, graph: Graph) -> None:
        self.readers = graph.consumers()
        self.outputs = {v for v in graph.outputs.values()}
        self.control_anchors = {d for n in graph for d in n.control_inputs}

    def count(self, value: Value) -> int:
        return len(self.readers.get(value, ())) + (1 if value in self.outputs else 0)

    def only_reader(self, value: Value) -> Node | None:
        """The single node reading ``value``, if nothing else (not even a graph output) does."""
        readers = self.readers.get(value, ())
        if len(readers) == 1 and value not in self.outputs:
            return readers[0]
        return None

    def replace(self, graph: Graph, old: Value, new: Value) -> None:
        """Point every reader of ``old`` (nodes and graph outputs) at ``new``, keeping the counts right.

        Touches only the readers, unlike ``Graph.replace_all_uses``, so passes stay linear.
        """
        adopt(new, old)
        moved = self.readers.pop(old, [])
        for reader in dict.fromkeys(moved):
            reader.inputs = [new if v is old else v for v in reader.inputs]
        if moved:
            self.readers.setdefault(new, []).extend(moved)
        if old in self.outputs:
            for key, value in graph.outputs.items():
                if value is old:
                    graph.outputs[key] = new
            self.outputs.discard(old)
            self.outputs.add(new)

    def drop_reader(self, value: Value, node: Node) -> None:
        """Forget that ``node`` reads ``value`` (``node`` is about to die or be rewritten)."""
        readers = self.readers.get(value)
        if readers and node in readers:
            readers.remove(node)

    def is_internal(self, node: Node) -> bool:
        """Output 0 feeds exactly one node, the node has no other used output and anchors no control edge."""
        if node in self.control_anchors or node.control_inputs:
            return False
        return all(self.count(v) == (1 if v.index == 0 else 0) for v in node.outputs) and bool(node.outputs)


def const_array(value: Value) -> np.ndarray | None:
    """The array of a Const-produced value (None for anything else)."""
    node = value.producer
    if node.op != "Const" or value.index != 0:
        return None
    return materialize(node.attrs["value"])


def is_const(value: Value) -> bool:
    return value.producer.op == "Const" and value.index == 0


def make_const(graph: Graph, array: np.ndarray, name: str) -> Value:
    return graph.const(np.ascontiguousarray(array), name=name)  # add_node makes the name unique


def become_const(node: Node, array: np.ndarray, dtype: DType) -> None:
    """Turn ``node`` into a Const holding ``array``, keeping its name and output Value."""
    node.op, node.inputs, node.control_inputs = "Const", [], []
    node.attrs = {"dtype": dtype, "value": array}
    out = node.output(0)
    out.dtype, out.shape = dtype, tuple(array.shape)


def rewrite(node: Node, op: str, inputs: list[Value], attrs: dict[str, Any]) -> None:
    """Turn ``node`` into ``op(inputs)`` keeping its name, output Values and sources (plus those of the
    producers it absorbs)."""
    old_inputs = node.inputs
    node.op = op
    node.inputs = list(inputs)
    node.attrs = dict(attrs)
    absorb(node, old_inputs)


def float_dtype(value: Value) -> bool:
    return value.dtype in (None, DType.FLOAT32)


def channel_vector(array: np.ndarray, channels: int, rank: int) -> np.ndarray | None:
    """``array`` as a length-``channels`` vector if it broadcasts along the last axis only.

    (``(C,)``, ``(1, 1, 1, C)``, a scalar or ``(1,)``), provided it does not add dimensions to a
    rank-``rank`` operand; else None.
    """
    if array.ndim > rank or any(d != 1 for d in array.shape[:-1]):
        return None
    if array.ndim and array.shape[-1] not in (1, channels):
        return None
    return np.broadcast_to(array.reshape(-1), (channels,)).copy()


#: A string attr as ``str`` (bytes decoded); the interpreter's helper under the passes' name.
attr_text = attr_str
