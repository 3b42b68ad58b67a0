"""``Pad``/``PadV2`` of rank 5 and up that a target backend refuses → the same pad at rank ≤ 4, between Reshapes.

TF.js webgl's pad shader does not compile for rank 5 and up (the backend contract's limit, measured by
``bench/conformance/keras_layers.py --webgl``): Keras's ``ZeroPadding3D`` pads a 5-D tensor, and the
``conv3d_transpose`` rewrite zero-stuffs through a 6-D one. Constant padding commutes with merging an
axis with the unpadded axes inside it: padding axis ``a`` by ``(p, q)`` in a group ``[a, b, …]`` whose
inner axes hold ``m`` elements pads the merged axis by ``(p·m, q·m)``. So each padded axis starts a
group, the unpadded axes after it join it, and leading unpadded axes form one group: ``[N, D, H, W, C]``
padded on D, H, W becomes ``[N, D, H, W·C]``, a pad of the last axis of ``[N, D, H, W, C, 1]`` becomes
``[N·D·H·W·C, 1]``. Exact (the same elements, in the same order). Needs constant paddings and at most
one unknown dimension (a Reshape's ``-1``). ``MirrorPad`` is left alone: a reflection does not commute
with merging.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import PassResult
from .backend_gated import BackendGatedPass
from .dilated_transposed_conv import _constant
from .graph_edit import rewrite
from .shapes import infer_shapes

OPS = ("Pad", "PadV2")
MAX_RANK = 4


def merged_groups(pads: np.ndarray) -> list[list[int]] | None:
    """Axes grouped so that only each group's first axis is padded, or None when that leaves rank > 4."""
    groups: list[list[int]] = []
    for axis, (before, after) in enumerate(pads.tolist()):
        if before or after or not groups:
            groups.append([axis])
        else:
            groups[-1].append(axis)
    return groups if len(groups) <= MAX_RANK else None


class LowerPadRank(BackendGatedPass):
    """A constant Pad of rank ≥ 5 some target backend refuses → Reshape, a rank ≤ 4 Pad, Reshape."""

    name = "pad_rank"
    level = 0
    # after conv3d_transpose, whose zero-stuffing pads are rank 6
    after = ("conv3d_transpose", "cumulative_axis", "dilated_transposed_conv", "grouped_conv", "lookup_shape",
             "pool_3d")

    def run(self, graph: Graph) -> PassResult:
        pads = [n for n in graph.nodes if n.op in OPS and len(n.inputs) >= 2 and _constant(n.inputs[1]) is not None]
        if not pads:
            return PassResult(0)
        shapes, count = infer_shapes(graph), 0
        for node in pads:
            shape = shapes.get(node.inputs[0], node.inputs[0].shape)
            if shape is None or len(shape) <= MAX_RANK or not self._refused(node, len(shape)):
                continue
            count += self._rewrite(graph, node, list(shape))
        return PassResult(count)

    def _refused(self, node: Node, rank: int) -> bool:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, BackendContract, NodeFacts, tfjs_dtype

        contract = BackendContract.load()
        dtype = tfjs_dtype(node.attrs.get("T", node.inputs[0].dtype))
        facts = NodeFacts(node.op, node.attrs, [dtype, "int32"], input_ranks=[rank, 2])
        return any(b in contract.backends and contract.reasons(facts, b) for b in self.targets or DEFAULT_TARGET_BACKENDS)

    @staticmethod
    def _rewrite(graph: Graph, node: Node, shape: list[int | None]) -> bool:
        pads = np.asarray(_constant(node.inputs[1])).astype(np.int64)
        if pads.shape != (len(shape), 2) or sum(d is None for d in shape) > 1:
            return False
        groups = merged_groups(pads)
        if groups is None:
            return False

        def size(axes: list[int]) -> int:
            return -1 if any(shape[a] is None for a in axes) else int(np.prod([shape[a] for a in axes]))

        inner = [int(np.prod([shape[a] for a in group[1:]])) if all(shape[a] is not None for a in group[1:]) else None
                 for group in groups]
        if any(m is None for m in inner):
            return False
        dtype = node.attrs.get("T", DType.FLOAT32)
        name = node.name

        def ints(values: list, label: str) -> Value:
            return graph.const(np.asarray(values, np.int32), name=f"{name}/{label}")

        x = graph.add_op("Reshape", [node.inputs[0], ints([size(g) for g in groups], "merged_shape")],
                         {"T": dtype, "Tshape": DType.INT32}, name=f"{name}/merged", dtype=dtype)
        merged_pads = [[int(pads[g[0], 0]) * m, int(pads[g[0], 1]) * m] for g, m in zip(groups, inner)]
        padded = graph.add_op(node.op, [x, ints(merged_pads, "merged_pads"), *node.inputs[2:]],
                              {**node.attrs, "Tpaddings": DType.INT32}, name=f"{name}/merged_pad", dtype=dtype)
        out_shape = [-1 if d is None else int(d + pads[a].sum()) for a, d in enumerate(shape)]
        rewrite(node, "Reshape", [padded, ints(out_shape, "shape")], {"T": dtype, "Tshape": DType.INT32})
        return True
