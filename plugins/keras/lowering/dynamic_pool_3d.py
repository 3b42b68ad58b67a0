"""Max/AveragePooling3D over spatial sizes the config leaves unknown, as two 2-D pools (H×W, then D).

TF.js-wasm's ``MaxPool3D`` is wrong for every float32 input and every backend's 3-D pools are wrong with SAME
padding and a window smaller than its stride; the ``pool_3d`` pass splits such pools in two 2-D ones, but needs
static sizes. A box window is separable (the max of a box is the max over depth of the max over each plane; an
average's divisor, the count of non-padding inputs, is the product of the per-axis counts), so over unknown sizes
the lowering builds the pass's form itself, its reshapes read at run time: ``[N·D, H, W, C]``, a 2-D pool over
H×W, ``[N, D, H'·W', C]``, a 2-D pool with window ``(kd, 1)`` over D, ``[N, D', H', W', C]``. Exact, and every
backend runs it.
"""
from __future__ import annotations

from collections.abc import Sequence

from tfjsconv.ir import Value

from .context import LayerContext
from .dynamic_shape import reshape_to, runtime_sizes


def split_pool_3d(ctx: LayerContext, op: str, kernel: Sequence[int], strides: Sequence[int], padding: str,
                  out: tuple) -> Value:
    """``ctx.x`` (NDHWC) pooled by the 2-D ``op`` (``MaxPool``/``AvgPool``) over H×W, then over D; ``out`` is the
    static shape the 3-D pool has."""
    x = ctx.x
    shape = ctx.shape()
    channels = shape[-1]
    planes = reshape_to(ctx, x, [[-1], runtime_sizes(ctx, x, 2, 5, "plane")], (None, *shape[2:]), "planes")
    attrs = {"padding": padding.upper(), "data_format": "NHWC"}
    pooled = ctx.op(op, [planes], {**attrs, "ksize": [1, kernel[1], kernel[2], 1], "strides": [1, strides[1], strides[2], 1]},
                    shape=(None, *out[2:4], channels), label="plane_pool")
    columns = reshape_to(ctx, pooled, [runtime_sizes(ctx, x, 0, 2, "depth"), [-1, channels]],
                         (shape[0], shape[1], None, channels), "columns")
    deep = ctx.op(op, [columns], {**attrs, "ksize": [1, kernel[0], 1, 1], "strides": [1, strides[0], 1, 1]},
                  shape=(shape[0], out[1], None, channels), label="depth_pool")
    return reshape_to(ctx, deep, [runtime_sizes(ctx, deep, 0, 2, "pooled_depth"),
                                  runtime_sizes(ctx, pooled, 1, 3, "pooled_plane"), [channels]], out, "pooled")
