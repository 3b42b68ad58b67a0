"""Remove nodes no output depends on."""
from __future__ import annotations

from ..ir import Graph
from . import Pass, PassResult


class RemoveDeadNodes(Pass):
    """Drop every node that neither feeds an output nor is an input."""

    name = "dead_code"
    level = 0

    def run(self, graph: Graph) -> PassResult:
        return PassResult(len(graph.remove_dead_nodes()))
