"""Give every graph output taken from a node with several outputs a node of its own (an Identity).

TF.js 4.22 resolves the model's own outputs (``predict(x)``, ``execute(x)`` and ``executeAsync(x)``
without output names) by node name, so when outputs are ``split:0``, ``split:1``, ``split:2`` (or
``TopKV2:0``/``TopKV2:1``, ``Unique``, an ONNX Split/TopK) every one of them comes back as the
same tensor. An Identity per such output makes each output the sole output of its node. The same
holds for two outputs that are one tensor (a Keras RNN's last output and its state): TF.js returns
it once.

This is not an optimisation but a fix for the format, so the graph-model writer applies it after
every pass has run: nothing (identity removal, CSE) can undo it, and ``--optimization_level 0``
gets it too.
"""
from __future__ import annotations

from ..ir import Graph


def give_outputs_own_nodes(graph: Graph) -> int:
    """Route each output of a multi-output node through its own Identity; returns how many were added."""
    added = 0
    seen: set = set()
    for key, value in list(graph.outputs.items()):
        producer = value.producer
        repeated = value in seen  # two outputs of one tensor (a Keras RNN's output and its state)
        seen.add(value)
        if ((len(producer.outputs) <= 1 and value.index == 0) and not repeated) or key in graph.resource_ids:
            continue
        attrs = {"T": value.dtype} if value.dtype is not None else {}
        node = graph.add_node("Identity", [value], attrs, name=f"{producer.name}/output{value.index}")
        out = node.output(0)
        out.dtype, out.shape = value.dtype, value.shape
        graph.outputs[key] = out
        added += 1
    return added
