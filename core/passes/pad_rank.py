"""``Pad``/``PadV2`` of rank 5 and up that a target backend refuses → the same pad at rank ≤ 4, between Reshapes.

TF.js webgl's pad shader does not compile for rank 5 and up (the backend contract's limit, measured by
``bench/conformance/keras_layers.py --webgl``): Keras's ``ZeroPadding3D`` pads a 5-D tensor, and the
``conv3d_transpose`` rewrite zero-stuffs through a 6-D one. Constant padding commutes with merging an
axis with the unpadded axes inside it: padding axis ``a`` by ``(p, q)`` in a group ``[a, b, …]`` whose
inner axes hold ``m`` elements pads the merged axis by ``(p·m, q·m)``. So each padded axis starts a
group, the unpadded axes after it of known size join it, and leading unpadded axes form one group:
``[N, D, H, W, C]`` padded on D, H, W becomes ``[N, D, H, W·C]``, a pad of the last axis of ``[N, D, H, W,
C, 1]`` becomes ``[N·D·H·W·C, 1]``. An unpadded axis of unknown size after a padded one stands alone
(``[N, C, D, H, W]`` padded on D and W with H unknown: ``[N·C, D, H, W]``). Exact (the same elements, in
the same order). Needs constant paddings; with more than one size unknown (a Keras ``ZeroPadding3D``
over unknown batch and spatial sizes) both Reshapes read their shapes from the input at run time.
``MirrorPad`` is left alone: a reflection does not commute with merging.
"""
from __future__ import annotations

from collections.abc import Sequence

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


def merged_groups(pads: np.ndarray, shape: Sequence[int | None]) -> list[list[int]] | None:
    """Axes grouped so that only each group's first axis may be padded, or None when that leaves rank > 4. A padded
    axis starts a group; an unpadded one joins the group before it when that group is unpadded, or when its own size
    is known (a padded group's merged pad is its padding times the sizes inside it), and starts its own otherwise."""
    groups: list[list[int]] = []
    for axis, (before, after) in enumerate(pads.tolist()):
        if groups and not (before or after) and (not pads[groups[-1][0]].any() or shape[axis] is not None):
            groups[-1].append(axis)
        else:
            groups.append([axis])
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
        if pads.shape != (len(shape), 2):
            return False
        groups = merged_groups(pads, shape)
        if groups is None:
            return False
        # a padded group holds known sizes inside its first axis (merged_groups); an unpadded one pads nothing
        inner = [int(np.prod([shape[a] for a in g[1:]])) if pads[g[0]].any() else 0 for g in groups]
        dtype = node.attrs.get("T", DType.FLOAT32)
        name = node.name

        def ints(values: list, label: str) -> Value:
            return graph.const(np.asarray(values, np.int32), name=f"{name}/{label}")

        if sum(d is None for d in shape) > 1:
            merged_shape, out_shape = _run_time_shapes(graph, node, groups, pads)
        else:
            merged_shape = ints([-1 if any(shape[a] is None for a in g) else int(np.prod([shape[a] for a in g]))
                                 for g in groups], "merged_shape")
            out_shape = ints([-1 if d is None else int(d + pads[a].sum()) for a, d in enumerate(shape)], "shape")
        x = graph.add_op("Reshape", [node.inputs[0], merged_shape],
                         {"T": dtype, "Tshape": DType.INT32}, name=f"{name}/merged", dtype=dtype)
        merged_pads = [[int(pads[g[0], 0]) * m, int(pads[g[0], 1]) * m] for g, m in zip(groups, inner)]
        padded = graph.add_op(node.op, [x, ints(merged_pads, "merged_pads"), *node.inputs[2:]],
                              {**node.attrs, "Tpaddings": DType.INT32}, name=f"{name}/merged_pad", dtype=dtype)
        rewrite(node, "Reshape", [padded, out_shape], {"T": dtype, "Tshape": DType.INT32})
        return True


def _run_time_shapes(graph: Graph, node: Node, groups: list[list[int]], pads: np.ndarray) -> tuple[Value, Value]:
    """The merged shape and the padded one, read from the pad's input at run time (a Reshape has one ``-1``, and more
    than one size is unknown here): each group's size is the product of its sizes, taken column by column (the
    ``j``-th axis of every group, or a 1 appended to the sizes for a group without one); the padded shape is the
    input's sizes plus the paddings."""
    x, name, i32, rank = node.inputs[0], node.name, DType.INT32, len(pads)

    def ints(values: list | int, label: str) -> Value:
        return graph.const(np.asarray(values, np.int32), name=f"{name}/{label}")

    def op(kind: str, inputs: list[Value], attrs: dict, label: str, size: int) -> Value:
        return graph.add_op(kind, inputs, attrs, name=f"{name}/{label}", dtype=i32, shape=(size,))

    dims = op("Shape", [x], {"T": node.attrs.get("T", x.dtype or DType.FLOAT32), "out_type": i32}, "input_dims", rank)
    with_one = op("ConcatV2", [dims, ints([1], "one"), ints(0, "concat_axis")], {"T": i32, "N": 2, "Tidx": i32},
                  "input_dims_and_one", rank + 1)
    merged = None
    for j in range(max(len(g) for g in groups)):
        axes = ints([g[j] if j < len(g) else rank for g in groups], f"group_axes_{j}")
        column = op("GatherV2", [with_one, axes, ints(0, f"gather_axis_{j}")],
                    {"Tparams": i32, "Tindices": i32, "Taxis": i32, "batch_dims": 0}, f"group_dims_{j}", len(groups))
        merged = column if merged is None else op("Mul", [merged, column], {"T": i32}, f"group_sizes_{j}",
                                                  len(groups))
    padded = op("AddV2", [dims, ints(pads.sum(axis=1).tolist(), "pad_sizes")], {"T": i32}, "shape", rank)
    return merged, padded
