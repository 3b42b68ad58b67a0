"""Trilu and EyeLike: masks from column minus row index, compared with the diagonal offset ``k``.

The index difference is a constant when the matrix dims are static (else ``Range`` over the
run-time shape); ``k`` may be computed at run time. Done in ONNX's layout (the last two axes).
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from ..dtypes import ir_dtype, onnx_elem_to_numpy
from ..mapping import onnx_op


def _dim(ctx: NodeContext, x: Value, shape: tuple, axis: int, label: str) -> Value:
    """Dim ``axis`` (negative: from the end) of ``x`` as an int32 scalar: a Const when known."""
    if shape[axis] is not None:
        return ctx.int32(shape[axis], label=label)
    return ctx.run_time_dim(x, axis % len(shape), label=label)


def _column_minus_row(ctx: NodeContext, x: Value, shape: tuple) -> Value:
    """An int32 [N, M] matrix of j - i for the last two dims of ``x``."""
    rows, cols = shape[-2], shape[-1]
    if rows is not None and cols is not None:
        return ctx.make_const((np.arange(cols)[None, :] - np.arange(rows)[:, None]).astype(np.int32),
                              label="column_minus_row")
    zero, one = ctx.int32(0, label="zero"), ctx.int32(1, label="one")
    ranges = []
    for axis, name, expand in ((-2, "row", 1), (-1, "column", 0)):
        index = ctx.op("Range", [zero, _dim(ctx, x, shape, axis, f"{name}s"), one], {"Tidx": DType.INT32},
                       dtype=DType.INT32, label=f"{name}_index")
        ranges.append(ctx.op("ExpandDims", [index, ctx.int32(expand, label=f"{name}_axis")],
                             dtype=DType.INT32, label=f"{name}_index_2d"))
    return ctx.op("Sub", [ranges[1], ranges[0]], dtype=DType.INT32, label="column_minus_row")


def _offset(ctx: NodeContext, i: int) -> Value | int:
    """The diagonal offset ``k`` (input ``i``): an int when constant, else an int32 scalar Value."""
    if not ctx.has_input(i):
        return 0
    k = ctx.const(i)
    if k is not None:
        return int(np.asarray(k).reshape(-1)[0])
    value = ctx.input(i)
    return ctx.reshape(value, [], label="k")


@onnx_op("Trilu", since=14)
def trilu(ctx: NodeContext) -> Value:
    """Keep j - i >= k (upper) or j - i <= k (lower), zero elsewhere."""
    shape = ctx.shape(0)
    if shape is None or len(shape) < 2:
        raise ctx.error("Trilu needs an input of known rank >= 2")
    x = ctx.input(0)
    diff = _column_minus_row(ctx, x, shape)
    k = _offset(ctx, 1)
    if isinstance(k, int):
        k = ctx.int32(np.clip(k, -2**31, 2**31 - 1), label="k")
    keep = ctx.op("GreaterEqual" if ctx.attr("upper", 1) else "LessEqual", [diff, k], dtype=DType.BOOL, label="keep")
    if x.dtype == DType.BOOL:  # a causal mask from torch.triu on bools: wasm's SelectV2 on bools is wrong
        return ctx.op("LogicalAnd", [x, keep], dtype=DType.BOOL)
    zeros = ctx.op("ZerosLike", [x], label="zeros")
    return ctx.op("SelectV2", [keep, x, zeros], {"T": x.dtype}, dtype=x.dtype)


@onnx_op("EyeLike", since=9)
def eye_like(ctx: NodeContext) -> np.ndarray | Value:
    """Ones where j - i == k: a constant for a static shape."""
    shape = ctx.shape(0)
    if shape is None or len(shape) != 2:
        raise ctx.error("EyeLike needs a 2-D input")
    np_dtype = onnx_elem_to_numpy(int(ctx.attr("dtype"))) if ctx.attr("dtype") is not None else ctx.tensor(0).dtype
    dtype = ir_dtype(np_dtype)
    if dtype is None or dtype not in (DType.FLOAT32, DType.INT32, DType.BOOL):
        raise ctx.error(f"EyeLike to {np_dtype}, which TF.js does not have")
    k = int(ctx.attr("k", 0))
    if None not in shape:
        return np.eye(shape[0], shape[1], k, dtype=np_dtype)
    diff = _column_minus_row(ctx, ctx.input(0), shape)
    hit = ctx.op("Equal", [diff, ctx.int32(k, label="k")], dtype=DType.BOOL, label="diagonal")
    if dtype == DType.BOOL:
        return hit
    return ctx.op("Cast", [hit], {"SrcT": DType.BOOL, "DstT": dtype, "Truncate": False}, dtype=dtype)
