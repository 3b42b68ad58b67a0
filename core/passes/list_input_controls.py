"""Move control inputs off the ops whose TF.js mapping reads a run of inputs: onto an Identity of their first input.

tfjs-converter strips the ``^`` of a control input and keeps it in the node's input names
(``operation_mapper.js``), so an op whose mapping reads its inputs "from N to the end" takes a control
input as one more tensor: ``Pack(a, b, ^c)`` stacks three tensors, ``ConcatV2(a, b, axis, ^c)`` reads ``c``
as its axis. Ops that read inputs by position ignore the extra name. ``lower_control_flow`` already anchors
such ops this way; this is the format rule for every graph, applied by the graph-model writer after every
pass (like ``distinct_outputs``), so no frontend or pass can leave one behind.
"""
from __future__ import annotations

from ..ir import Graph

#: The ops whose tfjs-converter 4.22 op mapping (``dist/operations/op_list/*.js``) has an input with an
#: ``end`` (a run of inputs): ``AddN:0..0``, ``ConcatV2:0..-1``, ``_FusedConv2D:2..0`` ...
LIST_INPUT_OPS = frozenset({"AddN", "Concat", "ConcatV2", "Einsum", "FusedDepthwiseConv2dNative", "IdentityN", "If",
                            "Merge", "Pack", "Print", "RaggedGather", "RaggedTensorToTensor", "ShapeN", "StatelessIf",
                            "StatelessWhile", "While", "_FusedConv2D", "_FusedMatMul"})


def move_list_input_controls(graph: Graph) -> int:
    """Give each list-input op's control inputs to an ``Identity`` of its first input; returns how many moved."""
    moved = 0
    for node in list(graph.nodes):
        if node.op not in LIST_INPUT_OPS or not node.control_inputs or not node.inputs:
            continue
        first = node.inputs[0]
        attrs = {"T": first.dtype} if first.dtype is not None else {}
        carrier = graph.add_node("Identity", [first], attrs, name=f"{node.name}/anchored_input",
                                 control_inputs=list(node.control_inputs))
        out = carrier.output(0)
        out.dtype, out.shape = first.dtype, first.shape
        carrier.provenance = node.provenance
        node.inputs = [out, *node.inputs[1:]]
        node.control_inputs = []
        moved += 1
    return moved
