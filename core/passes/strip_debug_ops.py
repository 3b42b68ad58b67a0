"""Remove Assert, CheckNumerics and Print (``--strip_debug_ops``, on by default).

Cases:
1. ``CheckNumerics(x)``, ``Print(x, …)``: pass-through ops; readers of their output read ``x``.
2. ``Assert``, ``PrintV2``: no data output; they are only reached through control edges, which are dropped.
"""
from __future__ import annotations

from ..errors import InputError
from ..ir import Graph, Node
from . import Pass, PassResult
from .graph_edit import Uses

PASS_THROUGH = ("CheckNumerics", "Print")
NO_OUTPUT = ("Assert", "PrintV2")


class StripDebugOps(Pass):
    name = "strip_debug_ops"
    level = 0
    before = ("lower_control_flow",)

    def enabled(self, options: object) -> bool:
        return bool(getattr(options, "strip_debug_ops", True))

    def run(self, graph: Graph) -> PassResult:
        doomed = [n for n in graph if n.op in PASS_THROUGH + NO_OUTPUT]
        if not doomed:
            return PassResult(0)
        doomed_set = set(doomed)
        _refuse_reads_of_no_output(graph)
        uses = Uses(graph)  # per-reader rewiring: linear, where graph.replace_all_uses per node is quadratic
        for node in doomed:
            if node.op in PASS_THROUGH and node.inputs:
                uses.replace(graph, node.output(0), node.inputs[0])
        for node in graph:
            if any(d in doomed_set for d in node.control_inputs):
                kept = [d for d in node.control_inputs if d not in doomed_set]
                node.control_inputs = kept
        dead = graph.remove_dead_nodes()
        graph.remove_nodes(doomed)
        return PassResult.from_counts(removed_debug_ops=len(doomed), removed_dead=len(dead))


def _refuse_reads_of_no_output(graph: Graph) -> None:
    """Refuse a node (or a graph output) that reads a data output of an Assert or PrintV2: TF gives those ops
    none, and its importer refuses such a graph. Without this check the removal below failed on it with an
    invariant message ("cannot remove ...") that did not say the input is corrupt (found by the fuzzer: a
    Relu renamed to Assert)."""
    readers: list[tuple[str, Node]] = [(node.name, v.producer) for node in graph for v in node.inputs]
    readers += [(f"the output {key}", v.producer) for key, v in graph.outputs.items()]
    for reader, producer in readers:
        if producer.op in NO_OUTPUT:
            raise InputError(f"{reader} reads an output of {producer.name} ({producer.op}), which has none: "
                             "the graph is corrupt")
