"""A strided ``StridedSlice`` a target backend refuses (int32 with a stride ≠ 1 on wasm) → ``GatherV2`` per axis.

TF.js 4.22's wasm StridedSlice returns float32 for an int32 input once a stride is not 1 (the backend
contract's measured limit), so the int32 arithmetic after it breaks. ONNX exporters write such slices
on shape vectors: PyTorch's legacy exporter reverses ``F.pad``'s pad list with a step -1 ``Slice``
(HF Swin's ``maybe_pad``, whenever the batch is dynamic and the pads are computed from the shape).
With a static input shape and constant begin/end/strides, the elements a slice keeps along each axis
are a constant index list, and ``GatherV2`` with those indices reads exactly the same elements (any
dtype; only integer inputs are rewritten, the limit being theirs). Axes whose indices are all of them
are left alone; a slice with ellipsis/new-axis/shrink masks is left to ``strided_slice`` (which runs
first and writes plain slices) and to the backend check.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import const_array, rewrite
from .shapes import infer_shapes, is_static
from .strided_slice import MASKS, tf_index

PLAIN_MASKS = ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
INTEGERS = (DType.INT32, DType.INT64)


def kept_indices(shape: tuple[int, ...], begin: list[int], end: list[int], strides: list[int],
                 masks: dict[str, int]) -> list[np.ndarray] | None:
    """Per input axis, the indices a mask-free (begin/end masks only) StridedSlice keeps; None if not plain."""
    if any(masks[k] for k in PLAIN_MASKS) or len(begin) != len(shape):
        return None
    index = tf_index(begin, end, strides, masks)
    return [np.arange(n)[item] for n, item in zip(shape, index)]


class StridedSliceAsGather(BackendGatedPass):
    """A refused strided StridedSlice of static shape and constant spec → one GatherV2 per changed axis."""

    name = "strided_gather"
    level = 0
    after = ("batchnorm_global", "pad_rank")  # after every lowering that may write a StridedSlice

    def run(self, graph: Graph) -> PassResult:
        shapes, count = None, 0
        for node in list(graph.nodes):
            if node.op != "StridedSlice" or len(node.inputs) != 4 or not self.refused_on(node):
                continue
            if DType.from_any(node.attrs.get("T", node.inputs[0].dtype) or DType.FLOAT32) not in INTEGERS:
                continue  # the limit this answers is int32's; others (webgl's rank ≥ 5) stay refused by name
            shapes = shapes if shapes is not None else infer_shapes(graph)
            shape = shapes.get(node.inputs[0], node.inputs[0].shape)
            count += is_static(shape) and self._rewrite(graph, node, tuple(int(d) for d in shape))
        return PassResult(count)

    @staticmethod
    def _rewrite(graph: Graph, node: Node, shape: tuple[int, ...]) -> bool:
        arrays = [const_array(v) for v in node.inputs[1:4]]
        if any(a is None or a.ndim != 1 for a in arrays):
            return False
        masks = {k: int(node.attrs.get(k, 0) or 0) for k in MASKS}
        kept = kept_indices(shape, *(a.astype(np.int64).tolist() for a in arrays), masks)
        if kept is None or any(len(k) == 0 for k in kept):
            return False
        changed = [(axis, k) for axis, k in enumerate(kept) if not np.array_equal(k, np.arange(shape[axis]))]
        dtype = node.attrs.get("T", node.inputs[0].dtype)
        value, out_shape = node.inputs[0], list(shape)
        if not changed:
            rewrite(node, "Identity", [value], {"T": dtype})
            return True
        for step, (axis, indices) in enumerate(changed):
            out_shape[axis] = len(indices)
            inputs = [value, graph.const(indices.astype(np.int32), name=f"{node.name}/indices{axis}"),
                      graph.const(np.int32(axis), name=f"{node.name}/axis{axis}")]
            attrs = {"Tparams": dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0}
            if step == len(changed) - 1:
                rewrite(node, "GatherV2", inputs, attrs)
            else:
                value = graph.add_op("GatherV2", inputs, attrs, name=f"{node.name}/gather{axis}",
                                     dtype=node.output(0).dtype, shape=tuple(out_shape))
        return True
