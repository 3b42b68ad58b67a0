"""MaxUnpool: scatter the pooled values back to the positions MaxPool's Indices name."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from ..mapping import onnx_op


@onnx_op("MaxUnpool", since=9)
def max_unpool(ctx: NodeContext) -> Value:
    """ScatterNd of the values at their flat NCHW indices into zeros, then Reshape.

    TF.js's ScatterNd adds values that share an index, where onnxruntime writes one of them; with
    overlapping windows a repeated index carries the same input element, so the sum is divided by
    how many times each index occurs (a second ScatterNd of ones).
    """
    rank = ctx.rank(0)
    n = rank - 2
    if n < 1:
        raise ctx.error(f"MaxUnpool needs an [N, C, ...] input, got rank {rank}")
    out_shape = _output_shape(ctx, n)
    dtype = ctx.dtype(0) or DType.FLOAT32
    values = ctx.reshape(ctx.input(0), [-1], label="flat_values")
    index = ctx.input(1)
    index = ctx.cast(index, DType.INT32, label="index_int32")
    index = ctx.reshape(index, [-1, 1], label="flat_index")
    if isinstance(out_shape, list):
        total: Value = ctx.ints([int(np.prod(out_shape))], label="total")
        target: Value = ctx.ints(out_shape, label="output_shape")
    else:
        target = out_shape
        total = ctx.op("Prod", [target, ctx.ints([0], label="total_axis")], {"keep_dims": True, "Tidx": DType.INT32},
                       dtype=DType.INT32, label="total")
    summed = ctx.op("ScatterNd", [index, values, total], {"T": dtype, "Tindices": DType.INT32}, dtype=dtype,
                    label="scatter")
    ones = ctx.op("OnesLike", [values], label="ones")
    counts = ctx.op("ScatterNd", [index, ones, total], {"T": dtype, "Tindices": DType.INT32}, dtype=dtype,
                    label="counts")
    safe = ctx.op("Maximum", [counts, ctx.make_const(np.asarray(1, dtype.numpy), label="one")], label="safe_counts")
    flat = ctx.op("RealDiv", [summed, safe], label="unpooled")
    return ctx.reshape(flat, target, label=None)


def _output_shape(ctx: NodeContext, n: int) -> list[int] | Value:
    """The output shape: the ``output_shape`` input (constant or run time), else from the pooling attrs."""
    if ctx.has_input(2):
        const = ctx.const(2)
        if const is not None:
            return [int(v) for v in const]
        value = ctx.input(2)
        return ctx.cast(value, DType.INT32, label="output_shape_int32")
    shape = ctx.shape(0)
    if shape is None or any(d is None for d in shape):
        raise ctx.error("MaxUnpool without output_shape needs a static input shape")
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    strides = [int(s) for s in ctx.attr("strides", [1] * n)]
    pads = [int(p) for p in ctx.attr("pads", [0] * (2 * n))]
    spatial = [(i - 1) * s + k - pads[a] - pads[a + n]
               for a, (i, k, s) in enumerate(zip(shape[2:], kernel, strides))]  # type: ignore[operator]
    return [int(shape[0]), int(shape[1]), *spatial]  # type: ignore[arg-type]
