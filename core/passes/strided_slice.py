"""StridedSlices TF.js reads differently from TF, rewritten as a mask-free slice and a Reshape.

Measured against ``tf.raw_ops`` on TF.js 4.22 cpu and wasm (tests/test_tf_rewrites.py, the TF op
conformance run): ``new_axis_mask`` together with ``shrink_axis_mask`` (``x[None, 1, ::2]``) reads
the wrong elements, ``shrink_axis_mask`` with a negative stride and ``end_mask`` reads out of range
(cpu throws, wasm returns garbage), and an empty result with begin > end makes ``slice()`` throw.

When the input shape and begin/end/strides are static, the slice is resolved here exactly as TF
(numpy) resolves it: every input axis gets an explicit in-range begin/end/stride (an empty axis is
``0:0:1``, a shrunk index ``i:i+1:1``, a negative stride that runs to index 0 uses its ``end_mask``
bit), so TF.js sees a plain StridedSlice, and a Reshape adds the new axes and drops the shrunk ones.
When the input's shape is not static, new_axis + shrink (and shrink with a stride ≠ 1, which TF.js
also misreads: ``x[1, ::2]`` throws "Requested out of range element") becomes a slice without either,
``Squeeze`` and ``ExpandDims`` (:func:`unknown_shape_slice`); with computed begin/end/strides it stays
and the backend contract refuses new_axis + shrink.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
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
    shrink_strided = masks["shrink_axis_mask"] and any(s != 1 for s in strides)  # x[1, ::-1], x[1, ::2]
    empty = any(b == e and not m for b, e, _, m in ranges)
    return bool(both or shrink_strided or empty)


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


def unknown_shape_slice(graph: Graph, node: Node) -> bool:
    """new_axis + shrink, or shrink with a stride ≠ 1, on an input of unknown shape → a slice without either
    (a shrunk index ``i`` read as ``i:i+1``), ``Squeeze`` of the shrunk axes, ``ExpandDims`` of the new ones.

    TF.js reads both wrongly (``x[None, 1, ::2]``: wrong elements; ``x[1, ::2]``: "Requested out of range
    element"). Needs constant begin/end/strides (masks are attrs); otherwise the node stays and the backend
    contract refuses new_axis + shrink (``nonzero:`` masks).
    """
    masks = {k: int(node.attrs.get(k, 0) or 0) for k in MASKS}
    arrays = [const_array(v) for v in node.inputs[1:4]]
    if any(a is None or a.ndim != 1 for a in arrays) or len({len(a) for a in arrays}) != 1:
        return False
    begin, end, strides = (a.tolist() for a in arrays)
    n = len(begin)
    ellipsis_at = [i for i in range(n) if _bit(masks["ellipsis_mask"], i)]
    ellipsis = ellipsis_at[0] if ellipsis_at else None
    is_new = [_bit(masks["new_axis_mask"], i) and i != ellipsis for i in range(n)]
    shrunk = [_bit(masks["shrink_axis_mask"], i) and not is_new[i] and i != ellipsis for i in range(n)]
    strided = any(s != 1 for i, s in enumerate(strides) if i != ellipsis and not is_new[i])
    if not any(shrunk) or not (any(is_new) or strided) or len(ellipsis_at) > 1:
        return False
    kept = [i for i in range(n) if not is_new[i]]
    new_begin, new_end, new_strides = [], [], []
    packed = {k: 0 for k in MASKS}
    for j, i in enumerate(kept):
        if shrunk[i]:
            if begin[i] == -1:  # -1:0 would be empty: run to the end instead
                packed["end_mask"] |= 1 << j
            new_begin.append(begin[i]), new_end.append(begin[i] + 1), new_strides.append(1)
            continue
        for mask in ("begin_mask", "end_mask", "ellipsis_mask"):
            packed[mask] |= int(_bit(masks[mask], i)) << j
        new_begin.append(begin[i]), new_end.append(end[i]), new_strides.append(strides[i])
    index_dtype = node.attrs.get("Index") if isinstance(node.attrs.get("Index"), DType) else DType.INT32
    dtype, out_dtype = node.attrs.get("T", node.inputs[0].dtype), node.output(0).dtype
    consts = [graph.const(np.asarray(values, index_dtype.numpy), name=f"{node.name}/{label}")
              for values, label in ((new_begin, "begin"), (new_end, "end"), (new_strides, "strides"))]
    value = graph.add_op("StridedSlice", [node.inputs[0], *consts], {**node.attrs, **packed},
                         name=f"{node.name}/unshrunk", dtype=out_dtype)
    kept_ellipsis = kept.index(ellipsis) if ellipsis is not None else None
    squeeze = _spec_positions([j for j, i in enumerate(kept) if shrunk[i]], kept_ellipsis,
                              [j != kept_ellipsis for j in range(len(kept))])
    steps: list[tuple[str, list[Value], dict]] = [("Squeeze", [], {"T": dtype, "squeeze_dims": squeeze})]
    adds_dim = [i != ellipsis and (is_new[i] or not shrunk[i]) for i in range(n)]
    for k, axis in enumerate(_spec_positions([i for i in range(n) if is_new[i]], ellipsis, adds_dim)):
        steps.append(("ExpandDims", [graph.const(np.int32(axis), name=f"{node.name}/new_axis{k}")],
                      {"T": dtype, "Tdim": DType.INT32}))
    for k, (op, extra, attrs) in enumerate(steps):  # extra: the inputs after the tensor (ExpandDims' axis)
        if k == len(steps) - 1:
            rewrite(node, op, [value, *extra], attrs)
        else:
            value = graph.add_op(op, [value, *extra], attrs, name=f"{node.name}/{op.lower()}{k}", dtype=out_dtype)
    return True


def _spec_positions(entries: list[int], ellipsis: int | None, adds_dim: list[bool]) -> list[int]:
    """Axes of ``entries`` in a tensor with one dim per spec entry where ``adds_dim`` (the ellipsis: any number):
    from the front before an ellipsis (and without one), negative from the back after it. Front ones in
    increasing order, then back ones right to left, so inserting them one by one puts each in place."""
    front = [sum(adds_dim[:i]) for i in entries if ellipsis is None or i < ellipsis]
    back = [-(sum(adds_dim[i + 1:]) + 1) for i in entries if ellipsis is not None and i > ellipsis]
    return front + sorted(back, reverse=True)


class NormalizeStridedSlice(Pass):
    """StridedSlice with new_axis + shrink, shrink + negative stride, or an empty axis → plain slice + Reshape."""

    name = "strided_slice"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        shapes = None
        static = dynamic = 0
        for node in list(graph.nodes):
            if node.op != "StridedSlice" or len(node.inputs) != 4:
                continue
            shapes = shapes if shapes is not None else infer_shapes(graph)
            shape = shapes.get(node.inputs[0])
            if is_static(shape) and normalize(graph, node, tuple(shape)):
                static += 1
            elif not is_static(shape) and unknown_shape_slice(graph, node):
                dynamic += 1
        return PassResult.from_counts(static_shape=static, run_time_shape=dynamic)
