"""``_SwitchN`` (how TF lowers ``Case`` / ``tf.switch_case``) → a chain of ``Switch`` nodes.

Grappler lowers a functional ``Case`` into v1 control flow with ``_SwitchN(data, output_index)``:
output ``k`` carries ``data`` when ``output_index == k`` and is dead otherwise, and an index out of
range takes the last output. TF.js has no ``_SwitchN``, so every ``tf.switch_case`` was refused. A
chain says the same with ops TF.js runs: ``Switch(data, index == 0)`` gives output 0 on its true
side, its false side goes on to ``Switch(·, index == 1)``, and the last false side is the last
output, which is exactly where an out-of-range index ends up.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph
from . import Pass, PassResult
from .graph_edit import Uses


class SwitchNToSwitches(Pass):
    """``_SwitchN(data, index)`` with ``num_outs = n`` → ``n - 1`` chained ``Switch(·, Equal(index, k))``."""

    name = "switch_n"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        uses = None
        count = 0
        for node in list(graph.nodes):
            if node.op != "_SwitchN" or len(node.inputs) < 2:
                continue
            uses = uses or Uses(graph)
            data, index = node.inputs[:2]
            branches = int(node.attrs.get("num_outs", len(node.outputs)) or len(node.outputs))
            dtype = node.attrs.get("T", data.dtype)
            remaining, outputs = data, []
            for k in range(branches - 1):
                branch = graph.const(np.asarray(k, np.int32), name=f"{node.name}/branch_{k}")
                taken = graph.add_op("Equal", [index, branch], {"T": DType.INT32}, name=f"{node.name}/is_{k}",
                                     dtype=DType.BOOL, shape=())
                switch = graph.add_node("Switch", [remaining, taken], {"T": dtype}, name=f"{node.name}/switch_{k}",
                                        num_outputs=2, control_inputs=node.control_inputs)
                for made in (branch.producer, taken.producer, switch):
                    made.provenance = node.provenance
                outputs.append(switch.output(1))
                remaining = switch.output(0)
            outputs.append(remaining)
            for k, value in enumerate(outputs):
                old = node.output(k)
                value.dtype, value.shape = old.dtype or data.dtype, old.shape
                uses.replace(graph, old, value)
            switches = [v.producer for v in outputs if v.producer is not None and v.producer.op == "Switch"]
            for other in graph.nodes:  # a control edge on the _SwitchN waits for the chain instead
                if node in other.control_inputs:
                    other.control_inputs = [c for c in other.control_inputs if c is not node] + switches
            for source in node.inputs:
                uses.drop_reader(source, node)
            graph.remove_node(node)
            count += 1
        return PassResult(count)
