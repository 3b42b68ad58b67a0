"""ONNX ``ReverseSequence`` as one ``GatherV2`` of precomputed row numbers.

The tensor is laid out [batch, time, rest] and flattened to [batch·time, rest]; row ``i·T + j``
of the output is row ``i·T + src`` of the input, ``src = len_i − 1 − j`` for ``j < len_i`` and ``j``
after it (the lengths are read at run time). A plain axis-0 gather: wasm's batched GatherV2 is wrong.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from ..mapping import onnx_op

I32 = DType.INT32


@onnx_op("ReverseSequence", since=10)
def reverse_sequence(ctx: NodeContext) -> Value:
    rank = ctx.rank(0)
    batch_axis, time_axis = int(ctx.attr("batch_axis", 1)), int(ctx.attr("time_axis", 0))
    if {batch_axis, time_axis} != {0, 1}:
        raise ctx.error(f"batch_axis {batch_axis} and time_axis {time_axis} must be 0 and 1 (the spec's rule)")
    if rank < 2:
        raise ctx.error(f"the input must have rank 2 or more, got {rank}")
    shape = ctx.shape(0)
    if any(d is None for d in shape):
        raise ctx.error(f"the input shape {list(shape)} must be static")
    b, t, rest = shape[batch_axis], shape[time_axis], list(shape[2:])
    x = ctx.input(0)
    swap = [1, 0, *range(2, rank)]
    if batch_axis == 1:
        x = ctx.op("Transpose", [x, ctx.ints(swap, label="batch_first_perm")], {"Tperm": I32}, label="batch_first")
    rows = ctx.reshape(x, [b * t, *rest], label="rows")
    lengths = ctx.reshape(ctx.cast(ctx.input(1), I32, label="lengths_int"), [b, 1], label="lengths")
    steps = ctx.make_const(np.arange(t, dtype=np.int32).reshape(1, t), label="steps")
    inside = ctx.op("Less", [steps, lengths], {"T": I32}, dtype=DType.BOOL, label="inside")
    mirrored = ctx.op("Sub", [ctx.op("Sub", [lengths, ctx.int32(1, label="one")], label="last"), steps],
                      label="mirrored")
    source = ctx.op("SelectV2", [inside, mirrored, steps], {"T": I32}, dtype=I32, label="source_step")
    offsets = ctx.make_const((np.arange(b, dtype=np.int32) * t).reshape(b, 1), label="row_offsets")
    index = ctx.reshape(ctx.op("AddV2", [source, offsets], label="source_rows_2d"), [b * t], label="source_rows")
    gathered = ctx.gather(rows, index, 0, label="gathered")
    y = ctx.reshape(gathered, [b, t, *rest], label="unrows")
    if batch_axis == 1:
        y = ctx.op("Transpose", [y, ctx.ints(swap, label="back_perm")], {"Tperm": I32})
    return y
