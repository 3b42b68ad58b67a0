"""StridedSlices TF.js reads differently from TF, rewritten as a mask-free slice and a Reshape.

Measured against ``tf.raw_ops`` on TF.js 4.22 cpu and wasm (tests/test_tf_rewrites.py, the TF op
conformance run): ``new_axis_mask`` together with ``shrink_axis_mask`` (``x[None, 1, ::2]``) reads
the wrong elements, ``shrink_axis_mask`` with a negative stride and ``end_mask`` reads out of range
(cpu throws, wasm returns garbage), and an empty result with begin > end makes ``slice()`` throw.

When the input shape and begin/end/strides are static, the slice is resolved here exactly as TF
(numpy) resolves it: every input axis gets an explicit in-range begin/end/stride (an empty axis is
``0:0:1``, a shrunk index ``i:i+1:1``, a negative stride that runs to index 0 uses its ``end_mask``
bit), so TF.js sees a plain StridedSlice, and a Reshape adds the new axes and drops the shrunk ones.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node
from . import Pass
from .graph_edit import const_array, rewrite
from .shapes import infer_shapes, is_static

MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


def _bit(mask: int, i: int) -> bool:
    return bool((mask >> i) & 1)


def tf_index(begin, end, strides, masks: dict[str, int]) -> tuple:
    """The numpy index tuple TF's StridedSlice spec stands for (TF follows numpy's semantics)."""
    index: list = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        if _bit(masks["ellipsis_mask"], i):
            index.append(Ellipsis)
        elif _bit(masks["new_axis_mask"], i):
            index.append(None)
        elif _bit(masks["shrink_axis_mask"], i):
            index.append(int(b))
        else:
            index.append(slice(None if _bit(masks["begin_mask"], i) else int(b),
                               None if _bit(masks["end_mask"], i) else int(e), int(s)))
    return tuple(index)


def axis_ranges(shape: tuple[int, ...], index: tuple) -> list[tuple[int, int, int, bool]] | None:
    """(begin, end, stride, end_mask) per input axis, all in range; None if the index is invalid."""
    dense = [i for i in index if i is not None and i is not Ellipsis]
    fill = len(shape) - len(dense)
    if fill < 0:
        return None
    expanded: list = []
    for item in index:
        if item is Ellipsis:
            expanded.extend([slice(None)] * fill)
            fill = 0
        elif item is not None:
            expanded.append(item)
    expanded.extend([slice(None)] * fill)
    ranges = []
    for dim, item in zip(shape, expanded):
        if isinstance(item, int):
            i = item + dim if item < 0 else item
            if not 0 <= i < dim:
                return None
            ranges.append((i, i + 1, 1, False))
            continue
        picked = range(*item.indices(dim))
        if len(picked) == 0:
            ranges.append((0, 0, 1, False))
        elif picked.step > 0:
            ranges.append((picked.start, picked[-1] + 1, picked.step, False))
        else:
            end = picked[-1] - 1
            ranges.append((picked.start, max(end, 0), picked.step, end < 0))
    return ranges


def needs_rewrite(masks: dict[str, int], ranges: list[tuple[int, int, int, bool]], strides) -> bool:
    """The configurations TF.js gets wrong (see the module docstring)."""
    both = masks["new_axis_mask"] and masks["shrink_axis_mask"]
    shrink_reversed = masks["shrink_axis_mask"] and any(s < 0 for s in strides)
    empty = any(b == e and not m for b, e, _, m in ranges)
    return bool(both or shrink_reversed or empty)


def normalize(graph: Graph, node: Node, shape: tuple[int, ...]) -> bool:
    arrays = [const_array(v) for v in node.inputs[1:4]]
    if any(a is None or a.ndim != 1 for a in arrays):
        return False
    begin, end, strides = (a.tolist() for a in arrays)
    if any(s == 0 for s in strides):
        return False
    masks = {k: int(node.attrs.get(k, 0) or 0) for k in MASKS}
    index = tf_index(begin, end, strides, masks)
    ranges = axis_ranges(shape, index)
    if ranges is None or not needs_rewrite(masks, ranges, strides):
        return False
    canonical = ([list(r[:3]) for r in ranges] == [list(t) for t in zip(begin, end, strides)]
                 and masks == {**{k: 0 for k in MASKS}, "end_mask": sum(1 << i for i, r in enumerate(ranges) if r[3])})
    if canonical:  # already what this pass writes
        return False
    try:
        out_shape = np.broadcast_to(np.zeros((), np.int8), shape)[index].shape
    except IndexError:
        return False
    index_dtype = node.attrs.get("Index") if isinstance(node.attrs.get("Index"), DType) else DType.INT32
    x = node.inputs[0]

    def const(values: list[int], label: str):
        return graph.const(np.asarray(values, index_dtype.numpy), name=f"{node.name}/{label}")

    end_mask = sum(1 << i for i, r in enumerate(ranges) if r[3])
    attrs = {**{k: 0 for k in MASKS}, "end_mask": end_mask, "T": node.attrs.get("T", x.dtype),
             "Index": index_dtype}
    sliced_shape = tuple(len(range(b, -1 if m else e, s)) for b, e, s, m in ranges)
    sliced = graph.add_op("StridedSlice", [x, const([r[0] for r in ranges], "begin"),
                                           const([r[1] for r in ranges], "end"),
                                           const([r[2] for r in ranges], "strides")],
                          attrs, name=f"{node.name}/plain", dtype=node.output(0).dtype, shape=sliced_shape)
    target = graph.const(np.asarray(out_shape, np.int32), name=f"{node.name}/shape")
    rewrite(node, "Reshape", [sliced, target], {"T": attrs["T"], "Tshape": DType.INT32})
    return True


class NormalizeStridedSlice(Pass):
    """StridedSlice with new_axis + shrink, shrink + negative stride, or an empty axis → plain slice + Reshape."""

    name = "strided_slice"
    level = 0
    order = 4

    def run(self, graph: Graph) -> int:
        shapes = None
        count = 0
        for node in list(graph.nodes):
            if node.op != "StridedSlice" or len(node.inputs) != 4:
                continue
            shapes = shapes if shapes is not None else infer_shapes(graph)
            shape = shapes.get(node.inputs[0])
            if is_static(shape) and normalize(graph, node, tuple(shape)):
                count += 1
        return count
