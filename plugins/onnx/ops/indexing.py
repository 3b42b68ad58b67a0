"""Gathers, scatters, top-k, arg-max/min and cumulative sums."""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.ops.special_values import GUARDED_SUFFIX, KEPT_SUFFIX

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import onnx_op
from . import run_time
from .common import SLICE_ATTRS, axis_last, norm_axis

log = logging.getLogger(__name__)

_GATHER_ATTRS = {"Tindices": DType.INT32}


def _const_indices(ctx: NodeContext, i: int, sizes: np.ndarray | int | None) -> np.ndarray | None:
    """Constant indices (input ``i``) with negative ones wrapped by the axis' ``sizes``; None when they are
    computed, or negative into an axis of unknown size (the caller then wraps them at run time)."""
    idx = ctx.const(i)
    if idx is None:
        return None
    idx = np.asarray(idx).astype(np.int64)
    if (idx < 0).any():
        if sizes is None:
            return None
        idx = np.where(idx < 0, idx + sizes, idx)
    return idx.astype(np.int32)


@onnx_op("GatherElements", since=11)
def gather_elements(ctx: NodeContext) -> Value:
    """GatherNd with full coordinates: ``indices`` along ``axis``, the element's own position elsewhere."""
    rank, axis, ishape, size = _elements_axis(ctx, static=False)
    t = ctx.tensor(0)
    perm = t.perm if t.value is not None else None
    data = t.value if perm is not None else ctx.input(0)
    coords = _element_coords(ctx, data, ishape, axis, size, layout.full(perm, rank))
    return ctx.op("GatherNd", [data, coords], {"Tparams": data.dtype, **_GATHER_ATTRS}, dtype=data.dtype)


def _elements_axis(ctx: NodeContext, static: bool = True) -> tuple[int, int, tuple[int | None, ...], int | None]:
    """GatherElements/ScatterElements: data's rank, the axis, the indices shape (static unless ``static`` is
    false: then only its rank is needed), the axis' size."""
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", 0)), rank)
    ishape = ctx.shape(1)
    if ishape is None or (static and None in ishape):
        raise ctx.error(f"{ctx.op_type} needs indices of a {'static shape' if static else 'known rank'}")
    dims = ctx.shape(0)
    return (rank, axis, tuple(None if d is None else int(d) for d in ishape),
            dims[axis] if dims is not None else None)


def _element_coords(ctx: NodeContext, data: Value, ishape: tuple[int, ...], axis: int, size: int | None,
                    order: Sequence[int]) -> Value:
    """Full coordinates into ``data`` of each element of ``indices`` (input 1): its index along ONNX
    ``axis`` (negative ones wrapped), its own position elsewhere; listed as data's IR axes hold ONNX's
    (``order[k]`` is the ONNX axis at IR axis k)."""
    if None in ishape:  # a dynamic batch or sequence (BERT's token_type_ids gathered by position ids)
        return _run_time_coords(ctx, data, len(ishape), axis, size, order)
    grids = np.indices(ishape, dtype=np.int32)
    idx = _const_indices(ctx, 1, size)
    if idx is not None:
        grids[axis] = idx
        return ctx.make_const(np.stack([grids[a] for a in order], axis=-1), label="coords")
    axis_size = run_time.axis_size(ctx, data, list(order).index(axis), size)
    computed = run_time.wrap(ctx, ctx.cast(ctx.input(1), DType.INT32, label="indices_int"), axis_size, "indices")
    parts = [computed if a == axis else ctx.make_const(grids[a], label=f"grid{a}") for a in order]
    return ctx.op("Pack", parts, {"N": len(parts), "axis": -1, "T": DType.INT32}, dtype=DType.INT32, label="coords")


def _run_time_coords(ctx: NodeContext, data: Value, rank: int, axis: int, size: int | None,
                     order: Sequence[int]) -> Value:
    """:func:`_element_coords` for indices whose shape is known only at run time: each other axis' position
    is ``Range(dim)`` shaped to broadcast along that axis, added to zeros shaped like the indices."""
    axis_size = run_time.axis_size(ctx, data, list(order).index(axis), size)
    indices = run_time.wrap(ctx, ctx.cast(ctx.input(1), DType.INT32, label="indices_int"), axis_size, "indices")
    zeros = ctx.op("ZerosLike", [indices], {"T": DType.INT32}, dtype=DType.INT32, label="zeros")
    parts = []
    for a in order:
        if a == axis:
            parts.append(indices)
            continue
        positions = ctx.op("Range", [ctx.int32(0, label=f"pos{a}_start"), ctx.run_time_dim(indices, a, label=f"dim{a}"),
                                     ctx.int32(1, label=f"pos{a}_step")], {"Tidx": DType.INT32}, dtype=DType.INT32,
                           label=f"pos{a}")
        along = ctx.reshape(positions, [-1 if k == a else 1 for k in range(rank)], label=f"pos{a}_along")
        parts.append(ctx.op("AddV2", [zeros, along], dtype=DType.INT32, label=f"grid{a}"))
    return ctx.op("Pack", parts, {"N": len(parts), "axis": -1, "T": DType.INT32}, dtype=DType.INT32, label="coords")


@onnx_op("GatherND", since=11)
def gather_nd(ctx: NodeContext) -> Value:
    """GatherNd; ``batch_dims`` > 0 prepends each index row's batch position to it (static index shape)."""
    batch = int(ctx.attr("batch_dims", 0))
    data = ctx.input(0)
    indices = _nd_indices(ctx, data, batch)
    if batch:
        ishape = ctx.shape(1)
        if ishape is None or None in ishape[:-1]:
            raise ctx.error("batch_dims > 0 needs indices of a static shape")
        grids = np.indices(tuple(ishape[:-1]), dtype=np.int32)[:batch]
        positions = ctx.make_const(np.stack(list(grids), axis=-1), label="batch_positions")
        indices = ctx.op("ConcatV2", [positions, indices, ctx.int32(-1, label="rows_axis")],
                         {"N": 2, "Tidx": DType.INT32}, dtype=DType.INT32, label="full_indices")
    return ctx.op("GatherNd", [data, indices], {"Tparams": data.dtype, **_GATHER_ATTRS}, dtype=data.dtype)


def _nd_indices(ctx: NodeContext, data: Value, skip: int = 0) -> Value:
    """GatherND/ScatterND's index rows (input 1) with negative entries counted from the end of the
    axes they index (data axes ``skip`` .. ``skip + depth``): in numpy when constant, else in the graph."""
    dims = ctx.shape(0)
    ishape = ctx.shape(1)
    idx = ctx.const(1)
    if idx is not None:
        idx = np.asarray(idx).astype(np.int64)
        depth = idx.shape[-1]
        if (idx < 0).any():
            if dims is None or None in dims[skip:skip + depth]:  # wrapped by the axes' sizes at run time
                sizes = ctx.run_time_dims(data, skip, skip + depth, label="index_sizes")
                return run_time.wrap(ctx, ctx.make_const(idx.astype(np.int32), label="indices_int"), sizes, "indices")
            idx = np.where(idx < 0, idx + np.asarray(dims[skip:skip + depth], dtype=np.int64), idx)
        return ctx.make_const(idx.astype(np.int32), label="indices")
    if ishape is None or ishape[-1] is None:
        raise ctx.error("computed indices need a static index depth (last dimension)")
    depth = int(ishape[-1])
    if dims is not None and None not in dims[skip:skip + depth]:
        sizes: Value = ctx.ints(list(dims[skip:skip + depth]), label="index_sizes")
    else:
        sizes = ctx.run_time_dims(data, skip, skip + depth, label="index_sizes")
    return run_time.wrap(ctx, ctx.cast(ctx.input(1), DType.INT32, label="indices_int"), sizes, "indices")


#: ScatterND/ScatterElements reductions that combine each update with the element it lands on.
_COMBINE = {"mul": "Mul", "max": "Maximum", "min": "Minimum"}
#: Index rows a combining scatter is spelled out for (one ScatterNd pair per row).
MAX_COMBINED_ROWS = 256


def _scatter(ctx: NodeContext, data: Value, indices: Value, updates: Value, reduction: str, rows: int | None,
             depth: int, kept: Value | None = None, last_rows: Value | None = None) -> Value:
    """ONNX's scatter of index rows ``indices`` (``[..., depth]``) into ``data``, by ``reduction``.

    Not TensorScatterUpdate: TF.js-cpu's kernel writes into its input tensor, corrupting other readers
    of ``data``. A mask of the elements hit scatters into a fresh tensor and a select picks, elsewhere
    ``data`` as it is; ``none`` gathers each element's update (:func:`_gathered_updates`: bit for bit);
    ``add`` adds the scattered sum (ScatterNd sums rows that hit one element); ``mul``/``max``/
    ``min`` apply one gathered row at a time, in order, as ONNX does (rows known statically, at most
    :data:`MAX_COMBINED_ROWS`). ``kept`` (bool, like the updates): for ``none``, the rows that land last on
    their element; the others are left out, since ScatterNd would sum them. ``last_rows`` (bool, one per index
    row): the same for ScatterND's whole rows (only the update numbering needs it: the mask counts any hit)."""
    if reduction not in ("none", "add", *_COMBINE):
        raise ctx.error(f"reduction={reduction!r} is not supported")
    if data.dtype == DType.BOOL and reduction != "none":
        raise ctx.error(f"reduction={reduction!r} on bool data is not supported")
    dims = ctx.shape(0)
    if dims is not None and None not in dims:
        shape = ctx.ints(list(dims), label="shape")
    else:
        shape = ctx.shape_of(data, label="shape")
    attrs = {"Tindices": DType.INT32, "T": updates.dtype}

    def scatter(idx: Value, values: Value, label: str) -> Value:
        return ctx.op("ScatterNd", [idx, values, shape], attrs, dtype=updates.dtype, label=label)

    def hit(idx: Value, values: Value, label: str, ones: Value | None = None) -> Value:
        ones = ones if ones is not None else ctx.op("OnesLike", [values], label=f"{label}_ones")
        hits = scatter(idx, ones, f"{label}_count")
        return ctx.op("NotEqual", [hits, ctx.scalar_like(0, hits, label=f"{label}_zero")], dtype=DType.BOOL, label=label)

    if reduction == "add":  # the elements no row lands on kept as they are (-0 + 0 would be +0)
        summed = ctx.op("AddV2", [data, scatter(indices, updates, "scattered")], label="summed")
        return ctx.op("SelectV2", [hit(indices, updates, "mask"), summed, data], {"T": data.dtype}, dtype=data.dtype)
    if reduction == "none":
        ones = None
        if kept is not None:  # duplicates: only the last row per element is scattered (ONNX applies them in order)
            if updates.dtype == DType.BOOL:
                updates, ones = ctx.op("LogicalAnd", [updates, kept], dtype=DType.BOOL, label="kept_updates"), kept
            else:
                ones = ctx.cast(kept, updates.dtype, label="kept_ones")  # a select, not a Mul: inf * 0 is NaN
                updates = ctx.op("SelectV2", [kept, updates, ctx.op("ZerosLike", [updates], label="dropped")],
                                 {"T": updates.dtype}, dtype=updates.dtype, label="kept_updates")
        written = scatter(indices, updates, "scattered") if updates.dtype == DType.BOOL else \
            _gathered_updates(ctx, data, indices, updates, depth, shape, kept if kept is not None else last_rows)
        return ctx.op("SelectV2", [hit(indices, updates, "mask", ones), written, data], {"T": data.dtype},
                      dtype=data.dtype)
    if rows is None or rows > MAX_COMBINED_ROWS:
        raise ctx.error(f"reduction={reduction!r} needs a static number of index rows (at most {MAX_COMBINED_ROWS}); "
                        f"this one has {'an unknown number' if rows is None else rows}")
    flat_idx = ctx.op("Reshape", [indices, ctx.ints([rows, depth], label="rows_shape")], {"Tshape": DType.INT32},
                      dtype=DType.INT32, label="rows")
    slice_dims = ctx.run_time_dims(data, depth, label="slice_dims")
    target = ctx.concat_shape([[rows], slice_dims], label="updates_shape")
    flat_upd = ctx.reshape(updates, target, label="update_rows")
    out = data
    for i in range(rows):
        idx_i = ctx.op("StridedSlice", [flat_idx, ctx.ints([i], label=f"r{i}/b"), ctx.ints([i + 1], label=f"r{i}/e"),
                                        ctx.ints([1], label=f"r{i}/s")], SLICE_ATTRS, dtype=DType.INT32,
                       label=f"r{i}/index")
        upd_i = ctx.op("StridedSlice", [flat_upd, ctx.ints([i], label=f"r{i}/ub"), ctx.ints([i + 1], label=f"r{i}/ue"),
                                        ctx.ints([1], label=f"r{i}/us")], SLICE_ATTRS, label=f"r{i}/update")
        written = _gathered_updates(ctx, data, idx_i, upd_i, depth, shape, None, f"r{i}/")
        combined = ctx.op(_COMBINE[reduction], [out, written], label=f"r{i}/combined")
        out = ctx.op("SelectV2", [hit(idx_i, upd_i, f"r{i}/mask"), combined, out], {"T": data.dtype}, dtype=data.dtype,
                     label=None if i == rows - 1 else f"r{i}/out")
    return out


def _gathered_updates(ctx: NodeContext, data: Value, indices: Value, updates: Value, depth: int, shape: Value,
                      kept: Value | None, prefix: str = "") -> Value:
    """Each element's update (anything where none lands), for ``none`` and for each row of ``mul``/``max``/``min``:
    *gathered* from the updates by the number of the index row written there (``ScatterNd`` of 1…R, 0 for none,
    behind a row of zeros), so every bit is kept: a ``ScatterNd`` of the updates adds them to 0, which turned -0
    into +0 (onnxruntime keeps -0; measured session 22). ``kept``: the rows that land last on their element, the
    others numbered 0 (never summed with them)."""
    i32 = DType.INT32
    rows = ctx.reshape(indices, [-1, depth], label=f"{prefix}row_indices")
    slice_dims = ctx.run_time_dims(data, depth, label=f"{prefix}row_slice_dims")
    flat = ctx.reshape(updates, ctx.concat_shape([[-1], slice_dims], label=f"{prefix}row_updates_shape"),
                       label=f"{prefix}row_updates")
    count = ctx.run_time_dim(rows, 0, label=f"{prefix}row_count")
    one = ctx.int32(1, label=f"{prefix}row_one")
    end = ctx.op("AddV2", [count, one], dtype=i32, label=f"{prefix}row_end")
    numbers = ctx.op("Range", [one, end, one], {"Tidx": i32}, dtype=i32, label=f"{prefix}row_numbers")
    if kept is not None:
        flat_kept = ctx.reshape(kept, [-1], label=f"{prefix}row_kept")
        dropped = ctx.op("ZerosLike", [numbers], label=f"{prefix}row_dropped")
        numbers = ctx.op("SelectV2", [flat_kept, numbers, dropped], {"T": i32}, dtype=i32,
                         label=f"{prefix}row_kept_numbers")
    target = ctx.shape_slice(shape, 0, depth, label=f"{prefix}row_target")
    at = ctx.op("ScatterNd", [rows, numbers, target], {"Tindices": i32, "T": i32}, dtype=i32, label=f"{prefix}row_at")
    rank = ctx.rank(0)
    padded = ctx.pad(flat, [[1, 0]] + [[0, 0]] * (rank - depth), label=f"{prefix}rows_behind_zeros")
    return ctx.op("GatherV2", [padded, at, ctx.int32(0, label=f"{prefix}row_axis")],
                  {"Tparams": updates.dtype, "Tindices": i32, "Taxis": i32, "batch_dims": 0}, dtype=updates.dtype,
                  label=f"{prefix}written")


def _row_count(shape: tuple | None) -> int | None:
    if shape is None or None in shape:
        return None
    return int(np.prod(shape, dtype=np.int64))


#: Index rows ScatterND's ``none`` compares pairwise at run time to keep the last of duplicate rows.
MAX_PAIRED_ROWS = 1024


@onnx_op("ScatterND", since=11)
def scatter_nd(ctx: NodeContext) -> Value:
    data = ctx.input(0)
    indices = _nd_indices(ctx, data)
    ishape = ctx.shape(1)
    depth = int(ishape[-1]) if ishape is not None and ishape[-1] is not None else 0
    rows = _row_count(ishape[:-1]) if ishape is not None else None
    reduction = str(ctx.attr("reduction", "none"))
    last_rows = _last_nd_rows(ctx, indices, rows, depth) if reduction == "none" else None
    return _scatter(ctx, data, indices, ctx.input(2), reduction, rows, depth, last_rows=last_rows)


def _last_nd_rows(ctx: NodeContext, indices: Value, rows: int | None, depth: int) -> Value | None:
    """Which of ScatterND's index rows land last on their slice (onnxruntime applies duplicate rows in order:
    the last one wins; ScatterNd's sum of row numbers went past the rows, a GatherV2 crash). None when no two
    rows can be equal: constant rows on known axes all distinct. Else every pair of rows is compared at run time
    (aliases such as -1 and n-1 on an axis of unknown size, computed rows): quadratic in the rows, refused by
    name above :data:`MAX_PAIRED_ROWS` known rows (a run-time count is not bounded)."""
    if rows is not None and rows < 2:
        return None
    const = ctx.const(1)
    known = ctx.shape(0) is not None and None not in ctx.shape(0)[:depth]
    if const is not None and (known or not (np.asarray(const) < 0).any()):
        flat = np.asarray(const, np.int64).reshape(-1, depth)
        if known:
            flat = np.where(flat < 0, flat + np.asarray(ctx.shape(0)[:depth], np.int64), flat)
        if len(np.unique(flat, axis=0)) == len(flat):
            return None
    if rows is not None and rows > MAX_PAIRED_ROWS:
        raise ctx.error(f"reduction='none' with index rows that may repeat is compared pairwise to keep the last "
                        f"of equal rows as onnxruntime does, for at most {MAX_PAIRED_ROWS} rows; this one has {rows}")
    i32 = DType.INT32
    flat_rows = ctx.reshape(indices, [-1, depth], label="last/rows")
    mine = ctx.expand_dims(flat_rows, 1, label="last/mine")  # [R, 1, depth]
    others = ctx.expand_dims(flat_rows, 0, label="last/others")  # [1, R, depth]
    equal = ctx.op("Equal", [mine, others], dtype=DType.BOOL, label="last/equal")
    same = ctx.op("All", [equal, ctx.int32(2, label="last/depth_axis")], {"keep_dims": False, "Tidx": i32},
                  dtype=DType.BOOL, label="last/same")
    if rows is not None:
        steps: Value = ctx.make_const(np.arange(rows, dtype=np.int32), label="last/steps")
    else:
        count = ctx.run_time_dim(flat_rows, 0, label="last/count")
        steps = ctx.op("Range", [ctx.int32(0, label="last/start"), count, ctx.int32(1, label="last/step")],
                       {"Tidx": i32}, dtype=i32, label="last/steps")
    later = ctx.op("Greater", [ctx.expand_dims(steps, 0, label="last/columns"),  # [i, j]: row j after row i
                               ctx.expand_dims(steps, 1, label="last/rows_at")], dtype=DType.BOOL, label="last/later")
    hidden = ctx.op("LogicalAnd", [same, later], dtype=DType.BOOL, label="last/hidden_by_later")
    superseded = ctx.op("Any", [hidden, ctx.int32(1, label="last/axis")], {"keep_dims": False, "Tidx": i32},
                        dtype=DType.BOOL, label="last/superseded")
    return ctx.op("LogicalNot", [superseded], dtype=DType.BOOL, label="last/kept")


@onnx_op("ScatterElements", since=11)
@onnx_op("Scatter", since=9)
def scatter_elements(ctx: NodeContext) -> Value:
    """ScatterND with full coordinates: ``indices`` along ``axis``, each element's own position elsewhere
    (computed at run time when the indices' shape is known only then: torch's scatter under a dynamic batch)."""
    rank, axis, ishape, size = _elements_axis(ctx, static=False)
    data = ctx.input(0)
    coords = _element_coords(ctx, data, ishape, axis, size, range(rank))
    reduction = str(ctx.attr("reduction", "none"))
    kept = _last_of_duplicates(ctx, data, ishape, axis, size) if reduction == "none" else None
    return _scatter(ctx, data, coords, ctx.input(2), reduction, _row_count(ishape), rank, kept)


#: Sort keys ``index * S + position`` stay below this: wasm's and webgl's TopKV2 compare int32 as float32.
EXACT_SORT_KEYS = 1 << 24


def _last_of_duplicates(ctx: NodeContext, data: Value, ishape: tuple, axis: int, size: int | None) -> Value | None:
    """Which ``indices`` (input 1) elements ScatterElements' ``none`` keeps: the last along ``axis`` of those
    holding one index (two elements can only collide along that axis). None when no two can collide. torch's
    ``scatter`` of repeated indices (a multi-hot from token ids) must give one update, never ScatterNd's sum.
    For computed indices: each line sorted (:func:`_last_in_lines`) when its keys are provably exact in float32
    (static sizes), else an ``[..., S, S, ...]`` comparison of each line's indices (:func:`_last_by_pairs`)."""
    if ishape[axis] in (0, 1):
        return None
    idx = _const_indices(ctx, 1, size)
    if idx is not None:
        lines = np.moveaxis(idx, axis, -1)
        flat = lines.reshape(-1, lines.shape[-1]).astype(np.int64) if lines.size else lines.reshape(0, 0)
        keys = (np.arange(flat.shape[0], dtype=np.int64)[:, None] * (int(flat.max(initial=0)) + 1) + flat).ravel()
        _, first_from_end = np.unique(keys[::-1], return_index=True)  # each key's last occurrence
        kept = np.zeros(keys.size, bool)
        kept[keys.size - 1 - first_from_end] = True
        if kept.all():
            return None
        return ctx.make_const(np.moveaxis(kept.reshape(lines.shape), -1, axis), label="kept")
    axis_size = run_time.axis_size(ctx, data, axis, size)
    wrapped = run_time.wrap(ctx, ctx.cast(ctx.input(1), DType.INT32, label="kept/indices_int"), axis_size,
                            "kept/indices")
    if isinstance(axis_size, int) and ishape[axis] is not None and axis_size * ishape[axis] < EXACT_SORT_KEYS:
        return _last_in_lines(ctx, wrapped, len(ishape), axis, ishape[axis])
    return _last_by_pairs(ctx, wrapped, len(ishape), axis, ishape[axis])


def _last_by_pairs(ctx: NodeContext, wrapped: Value, rank: int, axis: int, count: int | None) -> Value:
    """:func:`_last_in_lines` by comparing every pair of a line's indices: quadratic in memory, but exact for
    any sizes (RX3: the sort's keys outgrow float32's integers, which wasm's TopKV2 compares, at 2**24)."""
    i32 = DType.INT32
    mine = ctx.expand_dims(wrapped, axis + 1, label="kept/mine")  # [..., S, 1, ...]
    others = ctx.expand_dims(wrapped, axis, label="kept/others")  # [..., 1, S, ...]
    same = ctx.op("Equal", [mine, others], dtype=DType.BOOL, label="kept/same")
    length = ctx.int32(count, label="kept/count") if count is not None else \
        ctx.run_time_dim(wrapped, axis, label="kept/count")
    steps = ctx.op("Range", [ctx.int32(0, label="kept/start"), length, ctx.int32(1, label="kept/step")],
                   {"Tidx": i32}, dtype=i32, label="kept/steps")
    later = ctx.op("Greater", [ctx.expand_dims(steps, 0, label="kept/columns"),
                               ctx.expand_dims(steps, 1, label="kept/rows")], dtype=DType.BOOL, label="kept/later")
    for k in range(rank - 1 - axis):  # [S, S] -> [S, S, 1, ...] against the axes after ``axis``
        later = ctx.expand_dims(later, -1, label=f"kept/later{k}")
    hidden = ctx.op("LogicalAnd", [same, later], dtype=DType.BOOL, label="kept/hidden_by_later")
    superseded = ctx.op("Any", [hidden, ctx.int32(axis + 1, label="kept/axis")], {"keep_dims": False, "Tidx": i32},
                        dtype=DType.BOOL, label="kept/superseded")
    return ctx.op("LogicalNot", [superseded], dtype=DType.BOOL, label="kept")


def _last_in_lines(ctx: NodeContext, indices: Value, rank: int, axis: int, count: int) -> Value:
    """Which elements of ``indices`` (int32, ``>= 0``) no later element of their line along ``axis`` repeats,
    in O(n log S) (S = ``count`` the line length; an [S, S] comparison per line is quadratic in memory).

    Each line sorted descending by ``index * S + position`` (TopKV2) puts an index's last position first
    among its equals: an element is kept when the one before it in that order holds another index. A
    second TopKV2 (of the negated order) inverts the permutation to bring the flags back in place. Both
    gathers go through all lines flattened (wasm's GatherV2 with batch_dims is wrong). The caller keeps the
    keys below :data:`EXACT_SORT_KEYS` (wasm's and webgl's TopKV2 compare in float32)."""
    i32 = DType.INT32
    perm = [a for a in range(rank) if a != axis] + [axis]
    moved = indices if axis == rank - 1 else ctx.op("Transpose", [indices, ctx.ints(perm, label="kept/perm")],
                                                     {"Tperm": i32}, dtype=i32, label="kept/axis_last")
    moved_shape = ctx.shape_of(moved, label="kept/moved_shape")
    length = ctx.int32(count, label="kept/length")
    flat = ctx.reshape(moved, [-1, count], label="kept/flat")
    steps = ctx.op("Range", [ctx.int32(0, label="kept/start"), length, ctx.int32(1, label="kept/step")],
                   {"Tidx": i32}, dtype=i32, label="kept/steps")
    keys = ctx.op("AddV2", [ctx.op("Mul", [flat, length], dtype=i32, label="kept/scaled"), steps], dtype=i32,
                  label="kept/keys")
    _, order = ctx.multi_op("TopKV2", [keys, length], {"sorted": True}, 2, dtypes=[i32, i32], label="kept/sorted")
    lines = ctx.op("Prod", [ctx.shape_slice(moved_shape, 0, rank - 1, label="kept/line_dims"),
                            ctx.int32(0, label="kept/prod_axis")], {"keep_dims": False, "Tidx": i32},
                   dtype=i32, label="kept/lines")
    starts = ctx.op("Mul", [ctx.op("Range", [ctx.int32(0, label="kept/line0"), lines,
                                             ctx.int32(1, label="kept/line_step")], {"Tidx": i32}, dtype=i32,
                                   label="kept/line_numbers"), length], dtype=i32, label="kept/line_starts")
    starts = ctx.expand_dims(starts, 1, label="kept/line_starts_column")
    # the indices in sorted order, gathered (a FloorDiv of the keys rounds on webgl)
    held = ctx.gather(ctx.reshape(flat, [-1], label="kept/all_indices"),
                      ctx.op("AddV2", [order, starts], dtype=i32, label="kept/sorted_positions"), 0, label="kept/held")

    def columns(begin: list[int], end: list[int], label: str) -> Value:
        attrs = {**SLICE_ATTRS, "begin_mask": 1 | (2 if begin[1] == 0 else 0), "end_mask": 1 | (2 if end[1] == 0 else 0)}
        return ctx.op("StridedSlice", [held, ctx.ints(begin, label=f"{label}/b"), ctx.ints(end, label=f"{label}/e"),
                                       ctx.ints([1, 1], label=f"{label}/s")], attrs, dtype=i32, label=label)

    first, later, earlier = columns([0, 0], [0, 1], "kept/first"), columns([0, 1], [0, 0], "kept/later"), \
        columns([0, 0], [0, -1], "kept/earlier")
    new_index = ctx.op("NotEqual", [later, earlier], dtype=DType.BOOL, label="kept/new_index")
    leading = ctx.op("Equal", [first, first], dtype=DType.BOOL, label="kept/leading")
    kept_sorted = ctx.op("ConcatV2", [leading, new_index, ctx.int32(1, label="kept/concat_axis")],
                         {"N": 2, "Tidx": i32}, dtype=DType.BOOL, label="kept/kept_sorted")
    _, inverse = ctx.multi_op("TopKV2", [ctx.op("Neg", [order], dtype=i32, label="kept/negated_order"), length],
                              {"sorted": True}, 2, dtypes=[i32, i32], label="kept/inverse")
    where = ctx.op("AddV2", [inverse, starts], dtype=i32, label="kept/flat_positions")
    kept = ctx.gather(ctx.reshape(kept_sorted, [-1], label="kept/all"), where, 0, label="kept/in_place")
    kept = ctx.reshape(kept, moved_shape, label="kept/lines_back")
    if axis == rank - 1:
        return kept
    back = [perm.index(a) for a in range(rank)]
    return ctx.op("Transpose", [kept, ctx.ints(back, label="kept/back_perm")], {"Tperm": i32}, dtype=DType.BOOL,
                  label="kept")


@onnx_op("TopK", since=1)
def top_k(ctx: NodeContext) -> list[Laid]:
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", -1)), rank)
    if ctx.opset >= 10 and ctx.const(1) is None:  # TF.js's TopKV2 reads k from a tensor at run time
        k_value = run_time.scalar(ctx, ctx.op("Reshape", [run_time.input_int32(ctx, 1, "k_int"),
                                                          ctx.ints([-1], label="k_flat")],
                                              {"Tshape": DType.INT32}, dtype=DType.INT32, label="k_vector"), label="k")
    else:
        k = int(ctx.attr("k")) if ctx.opset < 10 else int(ctx.const(1).reshape(-1)[0])
        k_value = ctx.int32(k, label="k")
    largest = bool(ctx.attr("largest", 1))
    if ctx.opset >= 11 and not int(ctx.attr("sorted", 1)):
        _note_unsorted_top_k(ctx)
    x, perm = axis_last(ctx, axis)
    if x.dtype == DType.FLOAT32 and getattr(ctx.options, "exact_special_values", False):
        values, indices = _top_k_nan_as_onnxruntime(ctx, x, k_value, largest, axis)
        return [ctx.laid(values, perm), ctx.laid(indices, perm)]
    if not largest:
        x = _reverse_order(ctx, x, "negate")
    values, indices = ctx.multi_op("TopKV2", [x, k_value], {"sorted": True}, 2,
                                   dtypes=[x.dtype, DType.INT32])
    if not largest:
        values = _reverse_order(ctx, values, "values")
    return [ctx.laid(values, perm), ctx.laid(indices, perm)]


def _note_unsorted_top_k(ctx: NodeContext) -> None:
    """TopK with sorted=0: ONNX leaves the order of the k results undefined; onnxruntime returns them in its heap's
    order, TF.js's TopKV2 sorted. The same k elements (onnxruntime 1.32, measured with NaN, ±Inf and ties: review
    r4 M2, probe33/h7/tk.py), in another order, so an element-wise comparison (tfjsconv verify) differs: said once
    per node in the conversion's details rather than left for the user to find."""
    note = (f"ONNX TopK {ctx.name!r} has sorted=0, whose order the ONNX spec leaves undefined: the converted model "
            "returns the k values sorted (with their indices), onnxruntime in another order; compare them as sets")
    log.warning("%s", note)
    ctx.translator.graph.notes.append(note)


def _reverse_order(ctx: NodeContext, x: Value, label: str) -> Value:
    """A map that reverses the order and is its own inverse, so TopK's largest=0 is a largest TopK between two of
    them. Floats negate. Integers take ``-1 - x``: Neg wraps int32's lowest onto itself (INT_MIN came last, not
    first), while ``-1 - x`` maps [INT_MIN, INT_MAX] onto [INT_MAX, INT_MIN] exactly (unsigned: ``max - x``)."""
    dtype = np.dtype(x.dtype.numpy) if x.dtype is not None else np.dtype(np.float32)
    if dtype.kind not in "iu":
        return ctx.op("Neg", [x], label=label)
    pivot = np.iinfo(dtype).max if dtype.kind == "u" else -1
    return ctx.op("Sub", [ctx.make_const(np.asarray(pivot, dtype), label=f"{label}_pivot"), x], label=label)


def _top_k_nan_as_onnxruntime(ctx: NodeContext, x: Value, k: Value, largest: bool, axis: int
                              ) -> tuple[Value, Value]:
    """TopK over the last axis as onnxruntime orders NaN (--exact_special_values): NaN ranks above +Inf (largest:
    first; smallest: last, after +Inf), NaNs and equal values in index order. TF.js's TopKV2 ranks NaN below +Inf, but
    breaks ties by the lower index: a first TopKV2 over the 0/1 NaN flags moves each row's NaNs to its front
    (largest) or back, the rest in index order; a second over the moved row with NaN as +Inf (largest; smallest:
    the negated row, NaN as -Inf) then ranks each NaN before (after) every +Inf by position, and the picked positions
    are mapped back through the first order. Rows are flattened to gather both by flat position."""
    i32 = DType.INT32
    # exact by construction on cpu and wasm; webgl's TopKV2 shader special-cases ±Inf its own way: still named there
    marker = KEPT_SUFFIX if "webgl" in (getattr(ctx.options, "target_backends", None) or ["webgl"]) else GUARDED_SUFFIX
    shape = ctx.shape_of(x, label="exact_shape")
    last = ctx.shape_slice(shape, ctx.rank(0) - 1, None, label="exact_length")
    lead = _leading_size(ctx, shape, axis)
    flat = ctx.reshape(x, ctx.concat_shape([lead, last], label="exact_rows_shape"), label="exact_rows")
    length = ctx.op("Reshape", [last, ctx.ints([], label="exact_scalar")], {"Tshape": i32}, dtype=i32,
                    label="exact_n")
    nan = ctx.op("IsNan", [flat], dtype=DType.BOOL, label="exact_nan")
    ahead = nan if largest else ctx.op("LogicalNot", [nan], dtype=DType.BOOL, label="exact_not_nan")
    _, order = ctx.multi_op("TopKV2", [ctx.cast(ahead, DType.FLOAT32, label="exact_ahead"), length], {"sorted": True},
                            2, dtypes=[DType.FLOAT32, i32], label=f"exact_partition{marker}")  # 0/1 keys
    rows = ctx.int32(lead[0], label="exact_rows_count") if isinstance(lead, list) else ctx.op(
        "Reshape", [lead, ctx.ints([], label="exact_rows_scalar")], {"Tshape": i32}, dtype=i32, label="exact_rows_count")
    row_numbers = ctx.op("Range", [ctx.int32(0, label="exact_start"), rows, ctx.int32(1, label="exact_one")],
                         {"Tidx": i32}, dtype=i32, label="exact_row_numbers")  # as many as rows, even of length 0
    starts = ctx.op("Mul", [row_numbers, length], dtype=i32, label="exact_row_starts")
    starts = ctx.expand_dims(starts, 1, label="exact_row_starts_column")

    def by_row(values: Value, positions: Value, label: str) -> Value:
        flat_values = ctx.reshape(values, [-1], label=f"{label}_all")
        at = ctx.op("AddV2", [positions, starts], dtype=i32, label=f"{label}_at")
        return ctx.gather(flat_values, at, 0, label=label)

    moved = by_row(flat, order, "exact_moved")
    moved_nan = ctx.op("IsNan", [moved], dtype=DType.BOOL, label="exact_moved_nan")
    key = moved if largest else ctx.op("Neg", [moved], label="exact_negated")
    key = ctx.op("SelectV2", [moved_nan, ctx.scalar_like(np.inf if largest else -np.inf, x, label="exact_fill"), key],
                 {"T": DType.FLOAT32}, label="exact_key")
    # all n ranked, then the first k kept: TF.js cpu's partial selection (k < n) compares Inf - Inf = NaN and
    # misplaces tied infinities, where its full sort (a stable sort, NaN read as a tie) keeps them in row order
    _, ranked = ctx.multi_op("TopKV2", [key, length], {"sorted": True}, 2, dtypes=[DType.FLOAT32, i32],
                             label=f"exact_top{marker}")  # no NaN left in the key
    k_vector = ctx.op("Reshape", [k, ctx.ints([1], label="exact_k_vector")], {"Tshape": i32}, dtype=i32,
                      label="exact_k")
    picked = ctx.op("Slice", [ranked, ctx.ints([0, 0], label="exact_origin"),
                              ctx.concat_shape([[-1], k_vector], label="exact_top_size")], {"Index": i32},
                    dtype=i32, label="exact_picked")
    out_shape = ctx.concat_shape([ctx.shape_slice(shape, 0, ctx.rank(0) - 1, label="exact_lead"), k_vector],
                                 label="exact_out_shape")
    values = ctx.reshape(by_row(moved, picked, "exact_values"), out_shape, label="exact_values_shaped")
    indices = ctx.reshape(by_row(order, picked, "exact_indices"), out_shape, label="exact_indices_shaped")
    return values, indices


def _leading_size(ctx: NodeContext, shape: Value, axis: int) -> Sequence[int] | Value:
    """The number of rows of ``shape`` (the input with ``axis`` moved last) before its last axis, as a [1] shape
    piece: not -1, which TF.js cannot infer when the last axis is empty (x [5, 0])."""
    dims = ctx.shape(0) or [None] * ctx.rank(0)
    lead = [d for a, d in enumerate(dims) if a != axis]
    if all(isinstance(d, int) for d in lead):
        return [int(np.prod(lead, dtype=np.int64))]
    return ctx.op("Prod", [ctx.shape_slice(shape, 0, ctx.rank(0) - 1, label="exact_lead_dims"),
                           ctx.int32(0, label="exact_lead_axis")], {"keep_dims": True, "Tidx": DType.INT32},
                  dtype=DType.INT32, label="exact_lead_size")


@onnx_op("ArgMax", "ArgMin", since=1)
def arg_extreme(ctx: NodeContext) -> Laid:
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", 0)), rank)
    keepdims = bool(ctx.attr("keepdims", 1))
    x, perm = ctx.input_laid(0)
    ir_axis = layout.ir_axis(perm, axis)
    last = bool(ctx.attr("select_last_index", 0))
    if last and x.dtype == DType.FLOAT32 and getattr(ctx.options, "exact_special_values", False):
        out = _last_extreme_as_onnxruntime(ctx, x, ir_axis, _last_position(ctx, x, ir_axis, axis, "exact_last"))
        if keepdims:
            return ctx.laid(ctx.op("ExpandDims", [out, ctx.int32(ir_axis, label="keep_axis")], dtype=DType.INT32), perm)
        return ctx.laid(out, layout.after_removing(perm, rank, [axis]))
    if last:
        x = ctx.op("ReverseV2", [x, ctx.ints([ir_axis], label="reverse_axis")], {"Tidx": DType.INT32}, label="reversed")
    # TF.js's ArgMax/ArgMin are onnxruntime's (a NaN first in the row sticks, later ones are never taken; TF
    # never takes one): named as an op --exact_special_values keeps, so that flag does not give TF's answer
    # instead. Reversed for select_last_index, a NaN last in the row sticks where onnxruntime's does not: named by
    # the special-values line, and the flag computes onnxruntime's rule above (tests/test_onnx_special_values.py)
    out = ctx.op(ctx.op_type, [x, ctx.int32(ir_axis, label="axis")],
                 {"output_type": DType.INT32, "Tidx": DType.INT32}, dtype=DType.INT32,
                 label="arg" if last else f"arg{KEPT_SUFFIX}")
    if last:
        out = ctx.op("Sub", [_last_position(ctx, x, ir_axis, axis, "last"), out], dtype=DType.INT32,
                     label="from_end" if keepdims else None)
    if keepdims:
        out = ctx.op("ExpandDims", [out, ctx.int32(ir_axis, label="keep_axis")], dtype=DType.INT32)
        return ctx.laid(out, perm)
    return ctx.laid(out, layout.after_removing(perm, rank, [axis]))


def _last_position(ctx: NodeContext, x: Value, ir_axis: int, axis: int, label: str) -> Value:
    """``size - 1`` of ``axis`` as an int32 scalar (select_last_index counts from the end): a constant when the
    size is known, else read from ``Shape(x)`` at run time (an axis of unknown size)."""
    dims = ctx.shape(0)
    size = run_time.axis_size(ctx, x, ir_axis, None if dims is None else dims[axis])
    if isinstance(size, int):
        return ctx.int32(size - 1, label=label)
    return ctx.op("Sub", [size, ctx.int32(1, label=f"{label}_one")], dtype=DType.INT32, label=label)


def _last_extreme_as_onnxruntime(ctx: NodeContext, x: Value, ir_axis: int, last: Value) -> Value:
    """ArgMax/ArgMin with select_last_index as onnxruntime computes it, NaN included (--exact_special_values):
    it starts at the first element and moves on ``>=`` (``<=``), so a NaN first in the row gives 0 and any other
    NaN is never taken; else the last index of the extreme of the other values. The reversed ArgMax of the
    mapping picks a NaN last in the row instead. Here: 0 where the first element is NaN, else the last position
    equal to the extreme of the row with its NaNs set to ∓Inf (found by an ArgMax of the reversed 0/1 hits)."""
    high = ctx.op_type == "ArgMax"
    axis = ctx.ints([ir_axis], label="exact_axes")
    nan = ctx.op("IsNan", [x], dtype=DType.BOOL, label="exact_nan")
    clean = ctx.op("SelectV2", [nan, ctx.scalar_like(-np.inf if high else np.inf, x, label="exact_fill"), x],
                   {"T": DType.FLOAT32}, label="exact_clean")
    peak = ctx.op("Max" if high else "Min", [clean, axis], {"keep_dims": True, "Tidx": DType.INT32},
                  label="exact_peak")
    hits = ctx.cast(ctx.op("Equal", [x, peak], dtype=DType.BOOL, label="exact_is_peak"), DType.FLOAT32,
                    label="exact_hits")
    reversed_hits = ctx.op("ReverseV2", [hits, axis], {"Tidx": DType.INT32}, label="exact_reversed")
    first = ctx.op("ArgMax", [reversed_hits, ctx.int32(ir_axis, label="exact_axis")],
                   {"output_type": DType.INT32, "Tidx": DType.INT32}, dtype=DType.INT32,
                   label=f"exact_arg{KEPT_SUFFIX}")  # of 0s and 1s: no NaN to mishandle
    index = ctx.op("Sub", [last, first], dtype=DType.INT32, label="exact_index")
    head = ctx.gather(x, ctx.int32(0, label="exact_first"), ir_axis, label="exact_head")
    head_nan = ctx.op("IsNan", [head], dtype=DType.BOOL, label="exact_head_nan")
    return ctx.op("SelectV2", [head_nan, ctx.int32(0, label="exact_zero"), index], {"T": DType.INT32},
                  dtype=DType.INT32, label="exact_arg_last")


@onnx_op("CumSum", since=11)
def cumsum(ctx: NodeContext) -> Laid:
    rank = ctx.rank(0)
    x, perm = ctx.input_laid(0)
    if ctx.const(1) is None:  # read at run time by TF.js; wrapped here (its kernel does not wrap a negative axis)
        flat = ctx.op("Reshape", [run_time.input_int32(ctx, 1, "axis_int"), ctx.ints([-1], label="axis_flat")],
                      {"Tshape": DType.INT32}, dtype=DType.INT32, label="axis_vector")
        axis_value = run_time.scalar(ctx, run_time.to_ir_axes(ctx, run_time.wrap(ctx, flat, rank, "axis_wrapped"), perm,
                                                              rank), label="axis")
    else:
        axis = norm_axis(ctx, int(ctx.const(1).reshape(-1)[0]), rank)
        axis_value = ctx.int32(layout.ir_axis(perm, axis), label="axis")
    out = ctx.op("Cumsum", [x, axis_value],
                 {"exclusive": bool(ctx.attr("exclusive", 0)), "reverse": bool(ctx.attr("reverse", 0)),
                  "Tidx": DType.INT32})
    return ctx.laid(out, perm)


@onnx_op("TensorScatter", since=24)
def tensor_scatter(ctx: NodeContext) -> Value:
    """The KV-cache write: each cache position ``p`` along ``axis`` of sample ``b`` takes
    ``update[b, .., p - write_indices[b], ..]`` (modulo the cache length when circular) where that is
    in range, else keeps the cache. A GatherNd of the update (its axis moved next to the batch) at
    ``(b, clamped offset)``, and a select; shapes must be static."""
    mode = str(ctx.attr("mode", "linear"))
    if mode not in ("linear", "circular"):
        raise ctx.error(f"mode {mode!r} is not supported")
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", -2)), rank)
    dims, udims = ctx.shape(0), ctx.shape(1)
    if axis == 0 or dims is None or udims is None or None in dims or None in udims:
        raise ctx.error("TensorScatter needs static cache and update shapes and a sequence axis after the batch")
    batch, length, seq = int(dims[0]), int(dims[axis]), int(udims[axis])
    i32 = DType.INT32
    cache, update = ctx.input(0), ctx.input(1)
    if ctx.has_input(2):
        starts = ctx.op("Reshape", [run_time.input_int32(ctx, 2, "starts_int"), ctx.ints([batch, 1], label="starts_col")],
                        {"Tshape": i32}, dtype=i32, label="starts")
    else:
        starts = ctx.ints(np.zeros((batch, 1), np.int64), label="starts")
    offset = ctx.op("Sub", [ctx.ints(list(range(length)), label="positions"), starts], dtype=i32, label="offset")
    if mode == "circular":
        offset = ctx.op("FloorMod", [offset, ctx.int32(length, label="length")], dtype=i32, label="offset_wrapped")
    valid = ctx.op("LogicalAnd", [
        ctx.op("GreaterEqual", [offset, ctx.int32(0, label="zero")], dtype=DType.BOOL, label="from_start"),
        ctx.op("Less", [offset, ctx.int32(seq, label="seq")], dtype=DType.BOOL, label="before_end")],
        dtype=DType.BOOL, label="written")
    clamped = ctx.op("Minimum", [ctx.op("Maximum", [offset, ctx.int32(0, label="low")], dtype=i32, label="off_low"),
                                 ctx.int32(seq - 1, label="high")], dtype=i32, label="source")
    rows = ctx.make_const(np.broadcast_to(np.arange(batch, dtype=np.int32)[:, None], (batch, length)).copy(),
                          label="samples")
    coords = ctx.op("Pack", [rows, clamped], {"N": 2, "axis": -1, "T": i32}, dtype=i32, label="coords")
    order = [0, axis, *[a for a in range(1, rank) if a != axis]]  # update as [batch, seq, rest...]
    moved = ctx.op("Transpose", [update, ctx.ints(order, label="to_rows")], {"Tperm": i32}, label="update_rows")
    picked = ctx.op("GatherNd", [moved, coords], {"Tparams": update.dtype, **_GATHER_ATTRS}, dtype=update.dtype,
                    label="picked")
    back = ctx.op("Transpose", [picked, ctx.ints(layout.inverse(order), label="from_rows")], {"Tperm": i32},
                  label="written_values")
    mask_shape = [batch if a == 0 else length if a == axis else 1 for a in range(rank)]
    mask = ctx.op("Reshape", [valid, ctx.ints(mask_shape, label="mask_shape")], {"Tshape": i32}, dtype=DType.BOOL,
                  label="mask")
    return ctx.op("SelectV2", [mask, back, cache], {"T": cache.dtype}, dtype=cache.dtype)
