"""Remove Assert, CheckNumerics and Print (``--strip_debug_ops``, on by default).

Cases:
1. ``CheckNumerics(x)``, ``Print(x, …)``: pass-through ops; readers of their output read ``x``.
2. ``Assert``, ``PrintV2``: no data output; they are only reached through control edges, which are dropped.
"""
from __future__ import annotations

from ..ir import Graph
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
