"""Remove Identity, IdentityN, StopGradient, Snapshot (and friends): they compute nothing in inference.

Safe when: the node has no control inputs and anchors no control edge (TF uses Identity as a
dependency anchor). A graph output keeps its tensor name: if the removed node *is* an output, its
producer takes over its name (when that producer is an internal node used only here, and its name carries no
special-values marker, ``ops.special_values.carries_marker``: the line reads it); otherwise the node stays.
"""
from __future__ import annotations

from ..ir import Graph
from ..ops.special_values import carries_marker
from . import Pass, PassResult
from .graph_edit import Uses

PASS_THROUGH = frozenset({"Identity", "StopGradient", "Snapshot", "PreventGradient"})


class RemoveIdentities(Pass):
    name = "remove_identity"
    level = 1

    def run(self, graph: Graph) -> PassResult:
        uses = Uses(graph)
        graph_inputs = {v.producer for v in graph.inputs.values()}
        removed = 0
        for node in graph.topological_order():
            if node.op not in PASS_THROUGH and node.op != "IdentityN":
                continue
            if node.control_inputs or node in uses.control_anchors:
                continue
            outputs_here = [v for v in node.outputs if v in uses.outputs]
            if node.op == "IdentityN":
                if outputs_here:
                    continue
                for value in list(node.outputs):
                    uses.replace(graph, value, node.inputs[value.index])
                    uses.drop_reader(node.inputs[value.index], node)
                removed += 1
                continue
            source = node.inputs[0]
            if outputs_here:
                producer = source.producer
                if (producer in graph_inputs or producer.op == "Const" or source.index != 0
                        or uses.count(source) != 1 or len(producer.outputs) != 1 or carries_marker(producer.name)):
                    continue
                name = node.name
                graph.replace_all_uses(node.output(0), source)
                graph.remove_node(node)
                graph.rename_node(producer, name)
                uses = Uses(graph)
            else:
                uses.replace(graph, node.output(0), source)
                uses.drop_reader(source, node)
            removed += 1
        return PassResult(removed)
