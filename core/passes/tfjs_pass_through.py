"""TF ops whose TF.js mapping cannot run, replaced by what they compute at inference.

Measured in TF.js 4.22 (TF op conformance run): TF.js's ``EnsureShape`` reads its shape from a
second input TF's op does not have (it throws), ``PreventGradient`` has no TF.js op, and TF.js's
``NonMaxSuppressionV5`` returns only the selected indices and scores, so its ``valid_outputs``
(output 2) cannot be computed. At inference ``EnsureShape`` and ``PreventGradient`` pass their input
through (an ``Identity``, which ``remove_identity`` drops from level 1; the shape check is lost),
and ``valid_outputs`` is the number of selected indices, ``Size(indices)``, when the indices are not
padded (``pad_to_max_output_size`` false; padded ones are left to the backend check).
"""
from __future__ import annotations

from ..dtypes import DType
from ..ir import Graph, Node
from . import Pass, PassResult
from .graph_edit import Uses, rewrite

PASS_THROUGH = frozenset({"EnsureShape", "PreventGradient"})


def valid_outputs_as_size(graph: Graph, node: Node, uses: Uses) -> bool:
    if len(node.outputs) < 3 or node.attrs.get("pad_to_max_output_size") or not uses.count(node.output(2)):
        return False
    size = graph.add_op("Size", [node.output(0)], {"T": DType.INT32, "out_type": DType.INT32},
                        name=f"{node.name}/valid_outputs", dtype=DType.INT32, shape=())
    uses.replace(graph, node.output(2), size)
    return True


class TfjsPassThrough(Pass):
    """``EnsureShape``/``PreventGradient`` → ``Identity``; NMS V5's ``valid_outputs`` → ``Size(indices)``."""

    name = "tfjs_pass_through"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        to_identity = valid_outputs = 0
        uses: Uses | None = None
        for node in list(graph.nodes):
            if node.op in PASS_THROUGH and node.inputs:
                x = node.inputs[0]
                rewrite(node, "Identity", [x], {"T": node.attrs.get("T", x.dtype)})
                to_identity += 1
            elif node.op == "NonMaxSuppressionV5":
                uses = uses if uses is not None else Uses(graph)
                valid_outputs += valid_outputs_as_size(graph, node, uses)
        return PassResult.from_counts(to_identity=to_identity, nms_valid_outputs=valid_outputs)
