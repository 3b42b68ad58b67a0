"""Which run-time sizes an axis of a value is empty with: proof that a size of 0 in one operand makes another's 0
too (``select_shape``: tfjs-core's ``where`` keeps a 1 meeting a 0).

``DimSources.of(value, axis)`` is a set of *atoms*, each a size fixed for one run of the graph (an axis of a value
no rule below looks through: an input, a concatenation's sum; or a static size), such that the axis has size 0
exactly when one of its atoms is 0, for every input the graph accepts. So when ``of(b) ⊆ of(a)``, ``b`` being 0
makes ``a`` 0, and ``a`` cannot be 1 where ``b`` is 0. Elementwise ops keep their input's atoms, broadcasting ops
take the union of their operands' (a static 1 adds none), ops that move axes (Transpose, ExpandDims, reductions,
gathers, matmul rows and columns, Split, Pack) follow them, slices from 0 (``x[:1]``: empty only when ``x`` is) and
tiles keep them, a shape built from ``Shape(x)`` entries (Reshape, Fill, BroadcastTo; through ``BroadcastArgs``) takes
``x``'s, a concatenation the first piece's along the other axes (TF requires them equal). A v1 loop's ``Merge`` takes
its initial value's atoms when the next iteration's value has the same atoms given those (induction over the
iterations); a ``cond``'s ``Merge`` its inputs' when they agree. Anything else is an atom of its own.
"""
from __future__ import annotations

import sys

from collections.abc import Callable

import numpy as np

from ..dtypes import DType
from ..ir import Node, Value
from .empty_broadcast import shape_entries
from .graph_edit import attr_text, const_array
from .shapes import ELEMENTWISE_BINARY, ELEMENTWISE_UNARY

Atom = tuple
Atoms = frozenset

#: Ops whose output 0 has input 0's shape.
SAME_SHAPE = ELEMENTWISE_UNARY | frozenset({
    "BiasAdd", "Enter", "Exit", "Switch", "IsInf", "IsFinite", "Inv", "Invert", "Relu6", "Softsign", "Cumsum",
    "Cumprod", "ReverseV2", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "ClipByValue", "LRN",
    "MatrixBandPart"})
#: Ops whose output is their operands' broadcast.
BROADCASTING = ELEMENTWISE_BINARY | frozenset({"AddN", "SelectV2", "Mod", "TruncateDiv", "TruncateMod",
                                               "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Xdivy", "Xlogy"})
#: Ops with a batch axis 0 that is their input 0's (NHWC).
BATCH_FIRST = frozenset({"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "MaxPool",
                         "AvgPool", "Conv3D", "MaxPool3D", "AvgPool3D", "ResizeBilinear", "ResizeNearestNeighbor"})
REDUCTIONS = frozenset({"Sum", "Mean", "Max", "Min", "Prod", "All", "Any", "EuclideanNorm"})


def _ints(value: Value) -> list[int] | None:
    array = const_array(value)
    return None if array is None else [int(v) for v in np.asarray(array).reshape(-1)]


#: The recursion limit while the walk runs (about 5 frames per op: graphs of some 4000 ops in a chain).
_DEEP_RECURSION = 20000


class DimSources:
    """The atoms of each (value, axis) asked for, remembered over one graph (shapes: ``infer_shapes``'s)."""

    def __init__(self, shapes: dict) -> None:
        self.shapes = shapes
        self._memo: dict[tuple[Value, int], Atoms] = {}
        self._busy: set[tuple[Value, int]] = set()

    def covers(self, own: tuple[Value, int], other: tuple[Value, int]) -> bool:
        """Whether ``other``'s size 0 makes ``own``'s 0 (so ``own`` is not 1 where ``other`` is 0). The walk recurses
        once per op up the graph: the recursion limit is raised for it (Python 3.11's Python-to-Python calls take no
        C stack), and a graph deeper still is "not proven" (the select is then rewritten: safe), with everything
        remembered forgotten, since a loop's trial may have been cut short under its assumption."""
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, _DEEP_RECURSION))
        try:
            return self.of(*other) <= self.of(*own)
        except RecursionError:
            self._memo.clear()
            self._busy.clear()
            return False
        finally:
            sys.setrecursionlimit(limit)

    def walked(self, value: Value, axis: int) -> Atoms | None:
        """``of`` under ``covers``'s raised recursion limit; None where the graph is too deep to walk (a kept body's
        arguments are seeded with their caller's operands so: ``kept_selects``)."""
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, _DEEP_RECURSION))
        try:
            return self.of(value, axis)
        except RecursionError:
            self._memo.clear()
            self._busy.clear()
            return None
        finally:
            sys.setrecursionlimit(limit)

    def of(self, value: Value, axis: int) -> Atoms:
        key = (value, axis)
        if key in self._memo:
            return self._memo[key]
        if key in self._busy:
            return frozenset({("cycle", object())})  # a cycle no loop rule resolved: a size of its own
        self._busy.add(key)
        try:
            atoms = self._atoms(value, axis)
        finally:
            self._busy.discard(key)
        self._memo[key] = atoms
        return atoms

    def _shape(self, value: Value) -> tuple | None:
        shape = self.shapes.get(value)
        return shape if shape is not None else value.shape

    def _rank(self, value: Value) -> int | None:
        shape = self._shape(value)
        return None if shape is None else len(shape)

    def _atoms(self, value: Value, axis: int) -> Atoms:
        # a TensorList handle's axes are its tensor's (``_list_item``), not the shape a frontend may give the handle
        shape = self._shape(value) if value.dtype not in (DType.VARIANT, DType.RESOURCE) else None
        if shape is not None and axis < len(shape) and isinstance(shape[axis], (int, np.integer)):
            return frozenset({("size", int(shape[axis]))})
        node = value.producer
        rule = _RULES.get(node.op) if node is not None else None
        found = rule(self, node, value, axis) if rule is not None else None
        return found if found is not None else frozenset({(value, axis)})

    def broadcast(self, operands: list[Value], axis: int, rank: int) -> Atoms | None:
        """The union over ``operands`` aligned to ``rank`` (a missing axis or a static 1 adds nothing)."""
        atoms: set = set()
        for operand in operands:
            own = self._rank(operand)
            if own is None:
                return None
            at = axis - (rank - own)
            if at >= 0:
                atoms |= {a for a in self.of(operand, at) if a != ("size", 1)}
        return frozenset(atoms) or frozenset({("size", 1)})

    def merge(self, node: Node, axis: int) -> Atoms | None:
        """A loop's ``Merge(Enter(init), NextIteration(next))``: init's atoms when next's are the same given those
        (what the trial found under that assumption is forgotten when it fails); a cond's: its inputs' when equal."""
        producers = [v.producer.op if v.producer is not None else None for v in node.inputs]
        if sorted(producers) == ["Enter", "NextIteration"]:
            init = node.inputs[producers.index("Enter")]
            step = node.inputs[producers.index("NextIteration")].producer.inputs[0]
            start = self.of(init, axis)
            before, outer = set(self._memo), self._busy
            # the body's values the caller is computing are computed again here, under the assumption: a fresh
            # busy set (every cycle passes a Merge, whose assumption is remembered first)
            self._memo[(node.output(0), axis)], self._busy = start, set()
            try:
                if self.of(step, axis) == start:
                    return start
            finally:
                self._busy = outer
            for key in set(self._memo) - before:
                del self._memo[key]
            return None
        found = {self.of(v, axis) for v in node.inputs}
        return found.pop() if len(found) == 1 else None


Rule = Callable[[DimSources, Node, Value, int], "Atoms | None"]


def _same(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    return dims.of(node.inputs[0], axis) if value.index == 0 or node.op == "Switch" else None


def _broadcasting(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    rank = dims._rank(value)
    return None if rank is None else dims.broadcast(list(node.inputs), axis, rank)


def _select_v1(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    condition, branches = dims._rank(node.inputs[0]), dims._rank(node.inputs[1])
    if condition not in (0, branches):
        return dims.broadcast(list(node.inputs[1:]), axis, branches) if branches is not None else None
    return _broadcasting(dims, node, value, axis)


def _merge(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    return dims.merge(node, axis) if value.index == 0 else None


def _matmul(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    a, b = node.inputs[:2]
    if axis == 0:
        return dims.of(a, 1 if node.attrs.get("transpose_a") else 0)
    return dims.of(b, 0 if node.attrs.get("transpose_b") else 1)


def _batch_matmul(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    rank, ranks = dims._rank(value), [dims._rank(v) for v in node.inputs[:2]]
    if rank is None or None in ranks:
        return None
    a, b = node.inputs[:2]
    if axis == rank - 2:
        return dims.of(a, ranks[0] - (1 if node.attrs.get("adj_x") else 2))
    if axis == rank - 1:
        return dims.of(b, ranks[1] - (2 if node.attrs.get("adj_y") else 1))
    atoms: set = set()
    for operand, own in zip((a, b), ranks):
        at = axis - (rank - own)
        if at >= 0:
            atoms |= {x for x in dims.of(operand, at) if x != ("size", 1)}
    return frozenset(atoms) or frozenset({("size", 1)})


def _expand_dims(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    where, rank = _ints(node.inputs[1]), dims._rank(value)
    if where is None or len(where) != 1 or rank is None:
        return None
    at = where[0] + rank if where[0] < 0 else where[0]
    return None if axis == at else dims.of(node.inputs[0], axis if axis < at else axis - 1)


def _kept_axes(rank: int, dropped: list[int]) -> list[int]:
    dropped = {d + rank if d < 0 else d for d in dropped}
    return [a for a in range(rank) if a not in dropped]


def _squeeze(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    squeezed = list(node.attrs.get("squeeze_dims", []) or node.attrs.get("axis", []) or [])
    rank = dims._rank(node.inputs[0])
    if not squeezed or rank is None:
        return None
    kept = _kept_axes(rank, [int(a) for a in squeezed])
    return dims.of(node.inputs[0], kept[axis]) if axis < len(kept) else None


def _reduction(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    reduced, rank = _ints(node.inputs[1]), dims._rank(node.inputs[0])
    if reduced is None or rank is None:
        return None
    if node.attrs.get("keep_dims"):
        kept = _kept_axes(rank, reduced)
        return dims.of(node.inputs[0], axis) if axis in kept else frozenset({("size", 1)})
    kept = _kept_axes(rank, reduced)
    return dims.of(node.inputs[0], kept[axis]) if axis < len(kept) else None


def _transpose(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    perm = _ints(node.inputs[1])
    return dims.of(node.inputs[0], perm[axis]) if perm is not None and axis < len(perm) else None


def _shaped(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    """Reshape, BroadcastTo (the target, input 1) and Fill (input 0): their target's entry ``axis``."""
    rank = dims._rank(value)
    return None if rank is None else _entry(dims, node.inputs[0 if node.op == "Fill" else 1], axis, rank)


def _entry(dims: DimSources, vector: Value, position: int, length: int) -> Atoms | None:
    """The atoms of entry ``position`` of a shape vector of ``length`` entries: a size read from ``Shape(x)`` is x's,
    a ``BroadcastArgs`` entry the union of its operands' (aligned at the end)."""
    node = vector.producer
    if node is not None and node.op == "BroadcastArgs":
        atoms: set = set()
        for part in node.inputs:
            shape = dims._shape(part)
            if shape is None or len(shape) != 1 or not isinstance(shape[0], int):
                return None
            at = position - (length - shape[0])
            found = _entry(dims, part, at, shape[0]) if at >= 0 else frozenset()
            if found is None:
                return None
            atoms |= found - {("size", 1)}
        return frozenset(atoms) or frozenset({("size", 1)})
    entries = shape_entries(vector, dims.shapes)
    if entries is None or len(entries) != length:
        return None
    entry = entries[position]
    if isinstance(entry, tuple):
        return dims.of(entry[0], entry[1])
    if isinstance(entry, (int, np.integer)) and entry >= 0:
        return frozenset({("size", int(entry))})
    return None


def _concat(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    along = _ints(node.inputs[-1])
    rank = dims._rank(value)
    if along is None or rank is None or (along[0] + rank if along[0] < 0 else along[0]) == axis:
        return None
    return dims.of(node.inputs[0], axis)


def _pack(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    rank = dims._rank(value)
    if rank is None:
        return None
    at = int(node.attrs.get("axis", 0) or 0)
    at = at + rank if at < 0 else at
    return None if axis == at else dims.of(node.inputs[0], axis if axis < at else axis - 1)


def _gather(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    params, indices = node.inputs[:2]
    along = _ints(node.inputs[2]) if len(node.inputs) > 2 else [0]
    index_rank, params_rank = dims._rank(indices), dims._rank(params)
    if along is None or index_rank is None or params_rank is None or node.attrs.get("batch_dims"):
        return None
    at = along[0] + params_rank if along[0] < 0 else along[0]
    if axis < at:
        return dims.of(params, axis)
    if axis < at + index_rank:
        return dims.of(indices, axis - at)
    return dims.of(params, axis - index_rank + 1)


def _whole_axis(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    """Tile by a positive multiple, Pad by 0, a Slice from 0 of size -1 or > 0 along the axis: empty exactly when
    the input is."""
    argument = _ints(node.inputs[1])
    if argument is None:
        return None
    if node.op == "Tile":
        keeps = axis < len(argument) and argument[axis] > 0
    elif node.op == "Slice":
        sizes = _ints(node.inputs[2])
        keeps = axis < len(argument) and argument[axis] == 0 and sizes is not None and sizes[axis] != 0
    else:
        keeps = 2 * axis + 1 < len(argument) and argument[2 * axis] == argument[2 * axis + 1] == 0
    return dims.of(node.inputs[0], axis) if keeps else None


def _strided_slice(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    """A slice with no ellipsis or new axes that starts at 0 and ends past 0 (or at the end) with a positive stride
    along the axis: ``ceil(min(end, n) / stride)`` elements, none exactly when the input has none."""
    masks = {k: int(node.attrs.get(k, 0) or 0) for k in ("begin_mask", "end_mask", "ellipsis_mask",
                                                          "new_axis_mask", "shrink_axis_mask")}
    strides, rank = _ints(node.inputs[3]) if len(node.inputs) > 3 else None, dims._rank(node.inputs[0])
    if strides is None or rank is None or masks["ellipsis_mask"] or masks["new_axis_mask"]:
        return None
    kept = [a for a in range(rank) if not (a < len(strides) and masks["shrink_axis_mask"] >> a & 1)]
    if axis >= len(kept):
        return None
    at = kept[axis]
    if at >= len(strides):
        return dims.of(node.inputs[0], at)
    begin, end = _ints(node.inputs[1]), _ints(node.inputs[2])
    from_zero = masks["begin_mask"] >> at & 1 or (begin is not None and begin[at] == 0)
    past_zero = masks["end_mask"] >> at & 1 or (end is not None and end[at] > 0)
    return dims.of(node.inputs[0], at) if from_zero and past_zero and strides[at] > 0 else None


def _split(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    """Every piece of a Split/SplitV keeps the other axes of the value it splits."""
    data, along = (node.inputs[1], node.inputs[0]) if node.op == "Split" else (node.inputs[0], node.inputs[2])
    at, rank = _ints(along), dims._rank(data)
    if at is None or rank is None or (at[0] + rank if at[0] < 0 else at[0]) == axis:
        return None
    return dims.of(data, axis)


def _list_item(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    """A TensorList made from a tensor: its handle carries the tensor's axes (axis 0: the items), an item read
    from it the axes after the first (Merge, Enter and Switch carry the handle on as they carry a tensor)."""
    if node.op == "TensorListFromTensor":
        return dims.of(node.inputs[0], axis)
    return dims.of(node.inputs[0], axis + 1)


def _batch_first(dims: DimSources, node: Node, value: Value, axis: int) -> Atoms | None:
    nchw = attr_text(node, "data_format", "NHWC").startswith("NC")
    return dims.of(node.inputs[0], 0) if axis == 0 and value.index == 0 and not nchw else None


_RULES: dict[str, Rule] = {
    **{op: _same for op in SAME_SHAPE}, **{op: _broadcasting for op in BROADCASTING},
    **{op: _batch_first for op in BATCH_FIRST}, **{op: _reduction for op in REDUCTIONS},
    "Select": _select_v1, "Merge": _merge, "MatMul": _matmul, "_FusedMatMul": _matmul,
    "BatchMatMul": _batch_matmul, "BatchMatMulV2": _batch_matmul, "BatchMatMulV3": _batch_matmul,
    "ExpandDims": _expand_dims, "Squeeze": _squeeze, "Transpose": _transpose, "Reshape": _shaped,
    "BroadcastTo": _shaped, "Fill": _shaped, "ConcatV2": _concat, "Pack": _pack, "GatherV2": _gather,
    "Tile": _whole_axis, "Pad": _whole_axis, "PadV2": _whole_axis, "MirrorPad": _whole_axis, "Slice": _whole_axis,
    "StridedSlice": _strided_slice, "Split": _split, "SplitV": _split, "TensorListFromTensor": _list_item,
    "TensorListGetItem": _list_item,
}
