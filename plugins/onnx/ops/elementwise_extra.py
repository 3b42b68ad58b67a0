"""Small elementwise and scan ops: CastLike, IsInf, CumProd (one TF.js op or a short composition
each), and Range's opset-27 ``stash_type`` check."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext
from ..dtypes import ir_dtype
from ..mapping import onnx_op
from .common import norm_axis


@onnx_op("CastLike", since=15)
def cast_like(ctx: NodeContext) -> Laid:
    """Cast to the TF.js dtype of input 1 (types TF.js lacks are refused, like Cast's).

    An 8/16-bit integer target is held as int32 in TF.js, so values outside its range are wrapped
    into it afterwards (int32 -1 to uint8 is 255; a float is truncated first), as onnxruntime does."""
    from .bitwise import wrap_to_width

    source, like = ctx.tensor(0).dtype, ctx.tensor(1).dtype
    target = ir_dtype(like)
    if target is None:
        raise ctx.error(f"cannot cast to {like}, which TF.js does not have")
    x, perm = ctx.input_laid(0)
    if target == DType.BOOL and x.dtype != DType.BOOL:  # x != 0: TF.js-wasm's Cast to bool keeps values other than 0 and 1
        return ctx.laid(ctx.op("NotEqual", [x, ctx.scalar_like(0, x, label="zero")], dtype=DType.BOOL), perm)
    x = ctx.cast(x, target, label="cast" if target == DType.INT32 else None)
    if target == DType.INT32 and source is not None and like is not None \
            and not np.can_cast(np.dtype(source), np.dtype(like), "safe"):
        x = wrap_to_width(ctx, x, np.dtype(like))
    return ctx.laid(x, perm)


@onnx_op("IsInf", since=10)
def is_inf(ctx: NodeContext) -> Laid:
    """x == +inf and/or x == -inf, as ``detect_positive``/``detect_negative`` ask (exact on every backend)."""
    x, perm = ctx.input_laid(0)
    wanted = [sign for sign, attr in ((1.0, "detect_positive"), (-1.0, "detect_negative")) if ctx.attr(attr, 1)]
    if not wanted:  # nothing detected: all false (x < -inf never holds, NaN included)
        return ctx.laid(ctx.op("Less", [x, ctx.scalar_like(-np.inf, x, label="minus_inf")], dtype=DType.BOOL), perm)
    hits = [ctx.op("Equal", [x, ctx.scalar_like(sign * np.inf, x, label=f"inf{int(sign)}")], dtype=DType.BOOL,
                   label=None if len(wanted) == 1 else f"is_inf{int(sign)}") for sign in wanted]
    out = hits[0] if len(hits) == 1 else ctx.op("LogicalOr", hits, dtype=DType.BOOL)
    return ctx.laid(out, perm)


@onnx_op("CumProd", since=26)
def cumprod(ctx: NodeContext) -> Laid:
    """TF.js's Cumprod: in the input's layout for a constant axis; an axis computed at run time is
    wrapped into [0, rank) in the graph (TF.js reads it then) and applies to ONNX's layout."""
    rank = ctx.rank(0)
    attrs = {"exclusive": bool(ctx.attr("exclusive", 0)), "reverse": bool(ctx.attr("reverse", 0)),
             "Tidx": DType.INT32}
    if ctx.const(1) is None:
        x = ctx.input(0)
        axis = ctx.reshape(ctx.input(1), [], label="axis_scalar")
        axis = ctx.op("FloorMod", [axis, ctx.int32(rank, label="rank")], label="axis")
        return ctx.laid(ctx.op("Cumprod", [x, axis], attrs), None)
    axis = norm_axis(ctx, int(ctx.const(1).reshape(-1)[0]), rank)
    x, perm = ctx.input_laid(0)
    out = ctx.op("Cumprod", [x, ctx.int32(layout.ir_axis(perm, axis), label="axis")], attrs)
    return ctx.laid(out, perm)


@onnx_op("Range", since=27)
def range_v27(ctx: NodeContext) -> Value:
    """Opset 27 adds ``stash_type`` for float16/bfloat16 ranges. TF.js computes them in float32, which is
    the default ``stash_type=1``; accumulating in 16 bits (``stash_type=0``) drifts, so it is refused."""
    from .slicing import range_

    narrow = ctx.tensor(0).dtype is not None and np.dtype(ctx.tensor(0).dtype).kind in "fV" \
        and np.dtype(ctx.tensor(0).dtype).itemsize == 2
    if narrow and int(ctx.attr("stash_type", 1)) == 0:
        raise ctx.error("stash_type=0 (accumulating a 16-bit float range in 16 bits) is not supported: "
                        "TF.js computes the range in float32", hint="export with stash_type=1 (the default)")
    return range_(ctx)
