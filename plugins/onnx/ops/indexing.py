"""Gathers, scatters, top-k, arg-max/min and cumulative sums."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .common import axis_last, norm_axis

_GATHER_ATTRS = {"Tindices": DType.INT32}


def _wrap_negative(ctx: NodeContext, idx: Value, size: int | None) -> Value:
    """``idx + size`` where ``idx < 0`` (ONNX allows negative indices, TF's gathers do not)."""
    if size is None:
        raise ctx.error("computed indices into an axis of unknown size are not supported")
    zero = ctx.make_const(np.int32(0), label="zero")
    negative = ctx.op("Less", [idx, zero], dtype=DType.BOOL, label="negative")
    shifted = ctx.op("AddV2", [idx, ctx.make_const(np.int32(size), label="size")], label="wrapped")
    return ctx.op("SelectV2", [negative, shifted, idx], {"T": DType.INT32}, dtype=DType.INT32, label="indices")


def _const_indices(ctx: NodeContext, i: int, sizes: np.ndarray | int | None) -> np.ndarray | None:
    idx = ctx.const(i)
    if idx is None:
        return None
    idx = np.asarray(idx).astype(np.int64)
    if (idx < 0).any():
        if sizes is None:
            raise ctx.error("negative indices into an axis of unknown size are not supported")
        idx = np.where(idx < 0, idx + sizes, idx)
    return idx.astype(np.int32)


@onnx_op("GatherElements", since=11)
def gather_elements(ctx: NodeContext) -> Value:
    """GatherNd with full coordinates: ``indices`` along ``axis``, the element's own position elsewhere."""
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", 0)), rank)
    ishape = ctx.shape(1)
    if ishape is None or None in ishape:
        raise ctx.error("GatherElements needs indices of a static shape")
    dims = ctx.shape(0)
    size = dims[axis] if dims is not None else None
    t = ctx.tensor(0)
    perm = t.perm if t.value is not None else None
    order = layout.full(perm, rank)  # IR axis k holds ONNX axis order[k]
    grids = np.indices(ishape, dtype=np.int32)
    idx = _const_indices(ctx, 1, size)
    data = t.value if perm is not None else ctx.input(0)
    if idx is not None:
        grids[axis] = idx
        coords = np.stack([grids[a] for a in order], axis=-1)
        return ctx.op("GatherNd", [data, ctx.make_const(coords, label="coords")], {"Tparams": data.dtype, **_GATHER_ATTRS},
                      dtype=data.dtype)
    computed = _wrap_negative(ctx, ctx.input(1), size)
    parts = [computed if a == axis else ctx.make_const(grids[a], label=f"grid{a}") for a in order]
    coords = ctx.op("Pack", parts, {"N": rank, "axis": -1, "T": DType.INT32}, dtype=DType.INT32, label="coords")
    return ctx.op("GatherNd", [data, coords], {"Tparams": data.dtype, **_GATHER_ATTRS}, dtype=data.dtype)


@onnx_op("GatherND", since=11)
def gather_nd(ctx: NodeContext) -> Value:
    if int(ctx.attr("batch_dims", 0)):
        raise ctx.error("batch_dims > 0 is not supported")
    data = ctx.input(0)
    dims = ctx.shape(0)
    idx = ctx.const(1)
    if idx is not None:
        idx = np.asarray(idx).astype(np.int64)
        depth = idx.shape[-1]
        if (idx < 0).any():
            if dims is None or None in dims[:depth]:
                raise ctx.error("negative indices into axes of unknown size are not supported")
            idx = np.where(idx < 0, idx + np.asarray(dims[:depth], dtype=np.int64), idx)
        indices = ctx.make_const(idx.astype(np.int32), label="indices")
    else:
        indices = ctx.input(1)  # computed indices are taken as non-negative
    return ctx.op("GatherNd", [data, indices], {"Tparams": data.dtype, **_GATHER_ATTRS}, dtype=data.dtype)


@onnx_op("ScatterND", since=11)
def scatter_nd(ctx: NodeContext) -> Value:
    if ctx.attr("reduction", "none") != "none":
        raise ctx.error(f"reduction={ctx.attr('reduction')!r} is not supported (TF.js scatters replace only)")
    data = ctx.input(0)
    idx = ctx.const(1)
    indices = ctx.make_const(np.asarray(idx).astype(np.int32), label="indices") if idx is not None else ctx.input(1)
    updates = ctx.input(2)
    # Not TensorScatterUpdate: TF.js-cpu's kernel writes into its input tensor, corrupting other
    # readers of ``data``. Scatter the updates and a mask into fresh tensors and select instead.
    dims = ctx.shape(0)
    if dims is not None and None not in dims:
        shape = ctx.ints(list(dims), label="shape")
    else:
        shape = ctx.op("Shape", [data], {"out_type": DType.INT32}, dtype=DType.INT32, label="shape")
    attrs = {"Tindices": DType.INT32}
    scattered = ctx.op("ScatterNd", [indices, updates, shape], {**attrs, "T": updates.dtype}, dtype=updates.dtype,
                       label="scattered")
    ones = ctx.op("OnesLike", [updates], label="ones")
    hits = ctx.op("ScatterNd", [indices, ones, shape], {**attrs, "T": updates.dtype}, dtype=updates.dtype,
                  label="hits")
    mask = ctx.op("NotEqual", [hits, ctx.scalar_like(0, hits, label="zero")], dtype=DType.BOOL, label="mask")
    return ctx.op("SelectV2", [mask, scattered, data], {"T": data.dtype}, dtype=data.dtype)


@onnx_op("TopK", since=1)
def top_k(ctx: NodeContext) -> list[Laid]:
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", -1)), rank)
    k = int(ctx.attr("k")) if ctx.opset < 10 else int(ctx.require_const(1, "K").reshape(-1)[0])
    largest = bool(ctx.attr("largest", 1))
    x, perm = axis_last(ctx, axis)
    if not largest:
        x = ctx.op("Neg", [x], label="negate")
    values, indices = ctx.multi_op("TopKV2", [x, ctx.make_const(np.int32(k), label="k")], {"sorted": True}, 2,
                                   dtypes=[x.dtype, DType.INT32])
    if not largest:
        values = ctx.op("Neg", [values], label="values")
    return [ctx.laid(values, perm), ctx.laid(indices, perm)]


@onnx_op("ArgMax", "ArgMin", since=1)
def arg_extreme(ctx: NodeContext) -> Laid:
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", 0)), rank)
    keepdims = bool(ctx.attr("keepdims", 1))
    x, perm = ctx.input_laid(0)
    ir_axis = layout.ir_axis(perm, axis)
    last = bool(ctx.attr("select_last_index", 0))
    if last:
        x = ctx.op("ReverseV2", [x, ctx.ints([ir_axis], label="reverse_axis")], {"Tidx": DType.INT32}, label="reversed")
    out = ctx.op(ctx.op_type, [x, ctx.make_const(np.int32(ir_axis), label="axis")],
                 {"output_type": DType.INT32, "Tidx": DType.INT32}, dtype=DType.INT32,
                 label="arg" if keepdims or last else None)
    if last:
        dims = ctx.shape(0)
        if dims is None or dims[axis] is None:
            raise ctx.error("select_last_index=1 needs the axis size")
        out = ctx.op("Sub", [ctx.make_const(np.int32(dims[axis] - 1), label="last"), out], dtype=DType.INT32,
                     label="from_end" if keepdims else None)
    if keepdims:
        out = ctx.op("ExpandDims", [out, ctx.make_const(np.int32(ir_axis), label="keep_axis")], dtype=DType.INT32)
        return ctx.laid(out, perm)
    return ctx.laid(out, layout.after_removing(perm, rank, [axis]))


@onnx_op("CumSum", since=11)
def cumsum(ctx: NodeContext) -> Laid:
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.require_const(1, "axis").reshape(-1)[0]), rank)
    x, perm = ctx.input_laid(0)
    out = ctx.op("Cumsum", [x, ctx.make_const(np.int32(layout.ir_axis(perm, axis)), label="axis")],
                 {"exclusive": bool(ctx.attr("exclusive", 0)), "reverse": bool(ctx.attr("reverse", 0)),
                  "Tidx": DType.INT32})
    return ctx.laid(out, perm)
