"""ONNX ``RotaryEmbedding`` (opset 23) as plain TF.js ops: strided slices, four products, a concat.

The rotated part of each head is split into (x1, x2) — halves, or even/odd elements when
``interleaved`` — and becomes (cos·x1 − sin·x2, sin·x1 + cos·x2), put back in the same arrangement.
A 4-D input [batch, heads, seq, head] is used as is (cos/sin broadcast over the heads axis); a 3-D
[batch, seq, hidden] input is viewed as [batch, seq, heads, head] and reshaped back.
"""
from __future__ import annotations


from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from ..mapping import onnx_op
from .common import SLICE_ATTRS

_LEADING = 7  # begin/end mask bits of the first three axes: take them whole


def _last_axis(ctx: NodeContext, x: Value, begin: int, end: int, stride: int, label: str) -> Value:
    """x[..., begin:end:stride] of a 4-D tensor."""
    attrs = {**SLICE_ATTRS, "begin_mask": _LEADING, "end_mask": _LEADING}
    return ctx.op("StridedSlice", [x, ctx.ints([0, 0, 0, begin], label=f"{label}_begin"),
                                   ctx.ints([0, 0, 0, end], label=f"{label}_end"),
                                   ctx.ints([1, 1, 1, stride], label=f"{label}_stride")], attrs, label=label)


def _cache(ctx: NodeContext, i: int, heads_axis: int, name: str) -> Value:
    """cos/sin as [batch, seq, rotary/2] (looked up by position_ids when given), with a size-1 heads axis."""
    cache = ctx.input(i)
    if ctx.has_input(3):
        positions = ctx.input(3)
        cache = ctx.gather(cache, positions, 0, label=f"{name}_at_positions")
    return ctx.expand_dims(cache, heads_axis, label=f"{name}_per_head")


@onnx_op("RotaryEmbedding", since=23)
def rotary_embedding(ctx: NodeContext) -> Value:
    rank = ctx.rank(0)
    if rank not in (3, 4):
        raise ctx.error(f"the input must be 3-D or 4-D, got rank {rank}")
    x = ctx.input(0)
    shape = ctx.shape(0)
    if rank == 3:
        heads = int(ctx.attr("num_heads", 0) or 0)
        if not heads or shape[2] is None or shape[2] % heads:
            raise ctx.error("a 3-D input needs num_heads and a static hidden size that it divides")
        head = shape[2] // heads
        lead = ctx.run_time_dims(x, 0, 2, label="batch_seq")
        target = ctx.concat_shape([lead, [heads, head]], label="split_shape")
        x = ctx.reshape(x, target, label="heads")
        heads_axis = 2
    else:
        head = shape[3]
        if head is None:
            raise ctx.error("the head size must be static")
        heads_axis = 1
    rotary = int(ctx.attr("rotary_embedding_dim", 0) or 0) or head
    if rotary > head or rotary % 2:
        raise ctx.error(f"rotary_embedding_dim {rotary} does not fit a head of {head}")
    half = rotary // 2
    cos, sin = _cache(ctx, 1, heads_axis, "cos"), _cache(ctx, 2, heads_axis, "sin")
    rotate = x if rotary == head else _last_axis(ctx, x, 0, rotary, 1, "rotate")
    if int(ctx.attr("interleaved", 0)):
        x1, x2 = _last_axis(ctx, rotate, 0, rotary, 2, "even"), _last_axis(ctx, rotate, 1, rotary, 2, "odd")
    else:
        x1, x2 = _last_axis(ctx, rotate, 0, half, 1, "first"), _last_axis(ctx, rotate, half, rotary, 1, "second")
    real = ctx.op("Sub", [ctx.op("Mul", [cos, x1], label="cos_x1"), ctx.op("Mul", [sin, x2], label="sin_x2")],
                  label="real")
    imag = ctx.op("AddV2", [ctx.op("Mul", [sin, x1], label="sin_x1"), ctx.op("Mul", [cos, x2], label="cos_x2")],
                  label="imag")
    last = ctx.int32(3, label="last_axis")
    if int(ctx.attr("interleaved", 0)):
        pairs = ctx.op("Pack", [real, imag], {"N": 2, "axis": 4}, label="pairs")
        rotated = ctx.reshape(pairs, ctx.shape_of(rotate, label="rotate_shape"), label="rotated")
    else:
        rotated = ctx.op("ConcatV2", [real, imag, last], {"N": 2, "Tidx": DType.INT32}, label="rotated")
    if rotary < head:
        rest = _last_axis(ctx, x, rotary, head, 1, "pass_through")
        rotated = ctx.op("ConcatV2", [rotated, rest, last], {"N": 2, "Tidx": DType.INT32}, label="joined")
    if rank == 3:
        rotated = ctx.reshape(rotated, ctx.shape_of(ctx.input(0), label="output_shape"), label="merged")
    return rotated
