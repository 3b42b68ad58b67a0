"""Conv1D/2D/3DTranspose over spatial sizes the config leaves unknown (``keras.Input((None, None, 3))``).

Keras sizes the output at run time from ``tf.shape(x)`` with ``deconv_output_length``, which is affine in the
input size: ``size · stride + offset`` with the offset fixed by the kernel, padding, dilation and
``output_padding``. So the output size is ``Shape(x) · [1, strides…, 0] + [0, offsets…, filters]``, passed to
``Conv2DBackpropInput`` as a run-time shape. TF.js has no 3-D transposed conv and the ``conv3d_transpose`` pass
needs static sizes, so the 3-D layer is built here as that pass builds it: the input zero-stuffed (``stride - 1``
zeros after each element, the target shape read at run time), padded by constants (they depend on the offset
only, not the size) and convolved with the spatially flipped kernel.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import LazyArray, Value, materialize

from .context import LayerContext
from .dynamic_shape import reshape_to, runtime_sizes
from .registry import Unsupported

I32 = DType.INT32


def _out_shape(ctx: LayerContext, strides: Sequence[int], offsets: Sequence[int], filters: int) -> tuple:
    spatial = ctx.shape()[1:-1]
    return (None, *(None if s is None else s * st + off for s, st, off in zip(spatial, strides, offsets)), filters)


def transposed_conv_over_unknown_sizes(ctx: LayerContext, kernel: np.ndarray | LazyArray, strides: Sequence[int],
                                       dilations: Sequence[int], padding: str, offsets: Sequence[int],
                                       filters: int) -> Value:
    """``ctx.x`` (NHWC or NDHWC) through the transposed conv whose output is ``size · stride + offset`` per axis;
    ``kernel`` is Keras's ``(*spatial, filters, channels)`` array. The bias and activation are the caller's."""
    n = len(strides)
    if n == 3:
        return _conv3d_transpose(ctx, kernel, strides, dilations, padding, offsets, filters)
    x = ctx.x
    scaled = ctx.binary("Mul", runtime_sizes(ctx, x, 0, n + 2, "input"), ctx.ints([1, *strides, 0], "strides_scale"),
                        label="scaled_sizes")
    sizes = ctx.binary("AddV2", scaled, ctx.ints([0, *offsets, filters], "size_offsets"), label="output_size")
    attrs = {"T": DType.FLOAT32, "strides": [1, *strides, 1], "dilations": [1, *dilations, 1],
             "padding": padding.upper(), "data_format": "NHWC", "explicit_paddings": [], "use_cudnn_on_gpu": True}
    # dilations > 1 are undone by the ``dilated_transposed_conv`` pass, as for static sizes
    return ctx.op("Conv2DBackpropInput", [sizes, ctx.weight(kernel, "kernel"), x], attrs, dtype=DType.FLOAT32,
                  shape=_out_shape(ctx, strides, offsets, filters))


def _conv3d_transpose(ctx: LayerContext, kernel: np.ndarray | LazyArray, strides: Sequence[int],
                      dilations: Sequence[int], padding: str, offsets: Sequence[int], filters: int) -> Value:
    """The adjoint of a stride-1 VALID ``Conv3D``: zero-stuff, pad, convolve with the flipped kernel. Every pad
    runs on a rank ≤ 4 view (webgl pads no rank 5)."""
    x = ctx.x
    if ctx.shape()[-1] is None:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on an input of unknown channels")
    effective = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:3], dilations)]
    # TF's SAME pads ``max((i-1)·s + k - o, 0) // 2`` in front, and ``o = i·s + offset``: no size left in it
    before = [max(k - s - off, 0) // 2 if padding == "same" else 0 for k, s, off in zip(effective, strides, offsets)]
    for axis, stride in enumerate(strides, start=1):
        if stride > 1:
            x = _zero_stuffed(ctx, x, axis, stride)
    lo = [k - 1 - b for k, b in zip(effective, before)]
    hi = [off + b for off, b in zip(offsets, before)]
    x = _padded(ctx, x, list(zip(lo, hi)))
    flipped = np.ascontiguousarray(materialize(kernel)[::-1, ::-1, ::-1].transpose(0, 1, 2, 4, 3))
    return ctx.op("Conv3D", [x, ctx.const(flipped, "flipped_kernel")],
                  {"strides": [1] * 5, "dilations": [1, *dilations, 1], "padding": "VALID", "data_format": "NDHWC"},
                  shape=_out_shape(ctx, strides, offsets, filters), label="Conv3D")


def _zero_stuffed(ctx: LayerContext, x: Value, axis: int, stride: int) -> Value:
    """``stride - 1`` zeros after every element along ``axis``: a ``[-1, 1, inner]`` view (``inner`` the run-time
    product of the sizes after ``axis``) padded to ``[-1, stride, inner]``, then the shape with ``axis`` scaled."""
    shape = list(ctx.shape(x))
    label = f"stuff{axis}"
    inner = ctx.op("Prod", [runtime_sizes(ctx, x, axis + 1, len(shape), f"{label}_inner"), ctx.ints([0], f"{label}_axis")],
                   {"keep_dims": True, "Tidx": I32}, dtype=I32, shape=(1,), label=f"{label}_inner")
    rows = reshape_to(ctx, x, [[-1, 1], inner], (None, 1, None), f"{label}_rows")
    padded = ctx.op("Pad", [rows, ctx.ints([[0, 0], [0, stride - 1], [0, 0]], f"{label}_pads")], {"Tpaddings": I32},
                    shape=(None, stride, None), label=f"{label}_pad")
    scale = [1] * len(shape)
    scale[axis] = stride
    target = ctx.binary("Mul", runtime_sizes(ctx, x, 0, len(shape), label), ctx.ints(scale, f"{label}_scale"),
                        label=f"{label}_target")
    shape[axis] = None if shape[axis] is None else shape[axis] * stride
    return ctx.op("Reshape", [padded, target], {"Tshape": I32}, shape=tuple(shape), label=label)


def _padded(ctx: LayerContext, x: Value, pads: list[tuple[int, int]]) -> Value:
    """``x`` (NDHWC) padded by ``pads`` on its spatial axes, cropped where a pad is negative; on the rank-4 view
    ``[N, D, H, W·C]``, where W's pads scale by the static channel count."""
    if not any(a or b for a, b in pads):
        return x
    shape = ctx.shape(x)
    channels = int(shape[-1])
    view = reshape_to(ctx, x, [runtime_sizes(ctx, x, 0, 3, "view"), [-1]],
                      (*shape[:3], None if shape[3] is None else shape[3] * channels), "view")
    scaled = [pads[0], pads[1], (pads[2][0] * channels, pads[2][1] * channels)]
    grown = [(max(a, 0), max(b, 0)) for a, b in scaled]
    y = view
    if any(a or b for a, b in grown):
        y = ctx.op("Pad", [y, ctx.ints([[0, 0], *grown], "pads")], {"Tpaddings": I32},
                   shape=(shape[0], *(None if s is None else s + a + b for s, (a, b) in zip(ctx.shape(y)[1:], grown))),
                   label="pad")
    cut = [(max(-a, 0), max(-b, 0)) for a, b in scaled]
    if any(a or b for a, b in cut):  # ends counted from the end
        end_mask = 1 | sum(1 << (i + 1) for i, (_, b) in enumerate(cut) if b == 0)
        y = ctx.op("StridedSlice", [y, ctx.ints([0, *(a for a, _ in cut)], "crop_begin"),
                                    ctx.ints([0, *(-b for _, b in cut)], "crop_end"), ctx.ints([1] * 4, "crop_strides")],
                   {"Index": I32, "begin_mask": 1, "end_mask": end_mask, "ellipsis_mask": 0, "new_axis_mask": 0,
                    "shrink_axis_mask": 0},
                   shape=(shape[0], *(None if s is None else s - a - b for s, (a, b) in zip(ctx.shape(y)[1:], cut))),
                   label="crop")
    spatial = [None if s is None else s + a + b for s, (a, b) in zip(shape[1:4], pads)]
    return reshape_to(ctx, y, [runtime_sizes(ctx, y, 0, 3, "unview"), [-1, channels]],
                      (shape[0], *spatial, channels), "unview")
