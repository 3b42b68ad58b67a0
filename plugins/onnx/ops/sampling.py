"""GridSample, AffineGrid and CenterCropPad, composed exactly from gathers and arithmetic every backend runs.

GridSample follows onnxruntime's (and PyTorch's) rule per spatial axis: denormalize the grid
coordinate (``align_corners``), round it for ``nearest`` (half to even, as TF.js's Round), then read
the 1 (nearest), 2 (linear) or 4 (cubic, A = -0.75) neighbours per axis with a GatherNd on the
channels-last input, each neighbour's index fixed up by ``padding_mode`` (zeros: weight 0 outside;
border: clamped; reflection: folded into the borders). ONNX's reference also moves an out-of-range
coordinate first, which gives the same answer except for cubic with border padding, where
onnxruntime and PyTorch are followed. Any number of spatial axes (2-D images, 3-D volumes); spatial
sizes unknown at conversion time are read from the input's shape when the model runs.
"""
from __future__ import annotations

import itertools

import numpy as np

from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .common import norm_axis
from .composing import BOOL, F32, I32, Builder

_MODES = {"bilinear": "linear", "linear": "linear", "nearest": "nearest", "bicubic": "cubic", "cubic": "cubic"}
_CUBIC_A = -0.75


def _reflect(b: Builder, x: Value, low: float, high: float | Value) -> Value:
    """Fold ``x`` into [low, high] as ONNX's reflection does (a triangle wave of period 2·(high-low))."""
    if not isinstance(high, Value):
        span = high - low
        if span <= 0:
            return b.op("ZerosLike", [x], label="reflect_zero")
        m = b.op("FloorMod", [b.sub(x, b.f32(low)), b.f32(2 * span)], label="fold")
        return b.add(b.f32(low + span), b.op("Neg", [b.unary("Abs", b.sub(m, b.f32(span)))], label="neg"))
    # run-time size: a span of 0 (one pixel, align_corners) folds everything onto ``low``
    span = b.op("Maximum", [b.sub(high, b.f32(low)), b.f32(1e-6)], label="span")
    m = b.op("FloorMod", [b.sub(x, b.f32(low)), b.mul(span, b.f32(2.0))], label="fold")
    return b.add(b.add(b.f32(low), span), b.op("Neg", [b.unary("Abs", b.sub(m, span))], label="neg"))


def _cubic_weights(b: Builder, t: Value) -> list[Value]:
    """Keys' cubic convolution weights of the 4 neighbours at offsets -1, 0, 1, 2 for a fraction ``t``."""
    a = _CUBIC_A

    def near(d: Value) -> Value:  # |d| <= 1: (a+2)|d|^3 - (a+3)|d|^2 + 1
        poly = b.sub(b.mul(b.f32(a + 2), d), b.f32(a + 3))
        return b.add(b.mul(b.mul(poly, d), d), b.f32(1.0))

    def far(d: Value) -> Value:  # 1 < |d| < 2: ((a|d| - 5a)|d| + 8a)|d| - 4a
        poly = b.add(b.mul(b.sub(b.mul(b.f32(a), d), b.f32(5 * a)), d), b.f32(8 * a))
        return b.sub(b.mul(poly, d), b.f32(4 * a))

    one = b.f32(1.0)
    return [far(b.add(t, one)), near(t), near(b.sub(one, t)), far(b.sub(b.f32(2.0), t))]


def _axis_taps(b: Builder, coord: Value, size: int | Value, mode: str, padding: str, align: bool
               ) -> list[tuple[Value, Value]]:
    """(int32 index, float32 weight) per neighbour read along one axis, the padding applied to each
    neighbour's index (as onnxruntime and PyTorch do; the coordinate itself is not moved). ``size`` is
    the axis length, or a float32 scalar computed at run time."""
    if isinstance(size, Value):
        last = b.sub(size, b.f32(1.0))
        low, high = (0.0, last) if align else (-0.5, b.sub(size, b.f32(0.5)))
    else:
        last = b.f32(size - 1.0)
        low, high = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
    x = coord
    if mode == "nearest":
        taps = [(b.unary("Round", x), None)]
    else:
        base = b.unary("Floor", x)
        t = b.sub(x, base)
        if mode == "linear":
            offsets, weights = [0, 1], [b.sub(b.f32(1.0), t), t]
        else:
            offsets, weights = [-1, 0, 1, 2], _cubic_weights(b, t)
        taps = [(b.add(base, b.f32(float(o))) if o else base, w) for o, w in zip(offsets, weights)]
    out = []
    for pos, weight in taps:
        if padding == "zeros":
            inside = b.op("LogicalAnd", [b.compare("GreaterEqual", pos, b.f32(0.0)),
                                         b.compare("LessEqual", pos, last)],
                          dtype=BOOL, label="inside")
            mask = b.cast(inside, F32)
            weight = mask if weight is None else b.mul(weight, mask)
            index = b.clip(pos, b.f32(0.0), last)
        elif padding == "border":
            index = b.clip(pos, b.f32(0.0), last)
        else:  # reflect the index, then truncate toward zero (it is >= low >= -0.5: floor of max(x, 0))
            index = b.clip(b.unary("Floor", b.op("Maximum", [_reflect(b, pos, low, high), b.f32(0.0)],
                                                 label="nonneg")), b.f32(0.0), last)
        out.append((b.cast(index, I32), weight))
    return out


@onnx_op("GridSample", since=16)
def grid_sample(ctx: NodeContext) -> Laid:
    mode = _MODES.get(ctx.attr("mode", "bilinear" if ctx.opset < 20 else "linear"))
    padding = ctx.attr("padding_mode", "zeros")
    align = bool(ctx.attr("align_corners", 0))
    if mode is None:
        raise ctx.error(f"mode={ctx.attr('mode')!r} is not supported")
    if padding not in ("zeros", "border", "reflection"):
        raise ctx.error(f"padding_mode={padding!r} is not supported")
    rank = ctx.rank(0)
    dims = ctx.shape(0)
    if rank < 3:
        raise ctx.error(f"GridSample needs spatial axes, got rank {rank}")
    if ctx.dtype(0) != F32:
        raise ctx.error(f"GridSample of {ctx.dtype(0)} data is not supported (float32 is)")
    k = rank - 2
    perm = layout.channels_last(rank)
    b = Builder(ctx)
    x = ctx.input_as(0, perm)  # [N, *spatial, C]
    shape = None
    sizes: list[int | Value] = []
    for axis in range(k):
        if dims is not None and dims[2 + axis] is not None:
            sizes.append(int(dims[2 + axis]))
            continue
        shape = shape if shape is not None else b.shape(x)  # sizes read when the model runs
        sizes.append(b.cast(b.take(shape, 1 + axis, 0), F32))
    grid = b.cast(ctx.input(1), F32)  # [N, *out, k], coordinates in (x, y, z) order: last axis first
    coords = []
    for axis, size in enumerate(sizes):
        n = b.take(grid, k - 1 - axis, rank - 1)
        if isinstance(size, Value):
            extent = b.sub(size, b.f32(1.0)) if align else size
        else:
            extent = b.f32(size - 1.0 if align else size)
        coords.append(b.mul(b.sub(b.mul(b.add(n, b.f32(1.0)), extent), b.f32(0.0 if align else 1.0)),
                            b.f32(0.5)))
    ones = b.op("OnesLike", [coords[0]], label="ones")
    batch = b.cast(b.op("Cumsum", [ones, b.i32(0, "batch_axis")], {"exclusive": True, "reverse": False,
                                                                     "Tidx": I32}, label="batch_f"), I32)
    taps = [_axis_taps(b, c, s, mode, padding, align) for c, s in zip(coords, sizes)]
    total = None
    for combo in itertools.product(*taps):
        index = b.pack([batch, *(i for i, _ in combo)], -1)
        weights = [w for _, w in combo if w is not None]
        value = b.gather_nd(x, index)  # [N, *out, C]
        if weights:
            weight = weights[0]
            for w in weights[1:]:
                weight = b.mul(weight, w)
            value = b.mul(value, b.expand_dims(weight, -1))
        total = value if total is None else b.add(total, value)
    return ctx.laid(total, perm)


def _size_entries(b: Builder, ctx: NodeContext, i: int, count: int) -> list[Value]:
    """Entries of the int64 size vector input ``i`` as int32 scalars (constants when known)."""
    known = ctx.const(i)
    if known is not None:
        return [b.i32(int(v), "size") for v in np.asarray(known).reshape(-1)[:count]]
    size = b.cast(ctx.input(i), I32)
    return [b.take(size, j, 0) for j in range(count)]


@onnx_op("AffineGrid", since=20)
def affine_grid(ctx: NodeContext) -> Value:
    """``grid[n, ..., :] = theta[n] @ (x, y[, z], 1)`` over the normalized output coordinates."""
    theta_shape = ctx.shape(0)
    if theta_shape is None or len(theta_shape) != 3 or theta_shape[1] not in (2, 3):
        raise ctx.error("theta must be [N, 2, 3] or [N, 3, 4]")
    k = int(theta_shape[1])
    align = bool(ctx.attr("align_corners", 0))
    b = Builder(ctx)
    theta = b.cast(ctx.input(0), F32)
    sizes = _size_entries(b, ctx, 1, 2 + k)[2:]  # spatial sizes, ONNX order (D,) H, W
    axes = []  # normalized coordinate vectors along each spatial axis, shaped to broadcast over [*spatial]
    for j, size in enumerate(sizes):
        size_f = b.cast(size, F32)
        pos = b.range_f32(size)
        if align:  # -1 + 2 i / (L - 1); a single position is -1 … as ONNX's linspace gives
            step = b.div(b.f32(2.0), b.op("Maximum", [b.sub(size_f, b.f32(1.0)), b.f32(1.0)], label="span"))
            vec = b.sub(b.mul(pos, step), b.f32(1.0))
        else:  # (2 i + 1) / L - 1
            vec = b.sub(b.div(b.add(b.mul(pos, b.f32(2.0)), b.f32(1.0)), size_f), b.f32(1.0))
        shape = [1] * (k + 1)
        shape[1 + j] = -1
        axes.append(b.reshape(vec, shape))  # [1, ..., L, ..., 1]
    components = list(reversed(axes))  # x (W), y (H)[, z (D)]
    outputs = []
    for row in range(k):
        acc = b.reshape(b.take(b.take(theta, row, 1), k, 1), [-1] + [1] * k)  # translation, [N, 1, ...]
        for col, comp in enumerate(components):
            coef = b.reshape(b.take(b.take(theta, row, 1), col, 1), [-1] + [1] * k)
            acc = b.add(acc, b.mul(coef, comp))
        outputs.append(acc)
    # every output broadcast to [N, *spatial]: add zeros of the full shape
    zeros = None
    for comp in components:
        zeros = b.mul(comp, b.f32(0.0)) if zeros is None else b.add(zeros, b.mul(comp, b.f32(0.0)))
    return b.pack([b.add(o, zeros) for o in outputs], -1)


@onnx_op("CenterCropPad", since=18)
def center_crop_pad(ctx: NodeContext) -> Laid:
    """Crop (Slice) then zero-pad (Pad) each listed axis to its target length, centred as ONNX rounds."""
    rank = ctx.rank(0)
    axes = ctx.attr("axes")
    axes = list(range(rank)) if axes is None else [norm_axis(ctx, int(a), rank) for a in axes]
    x, perm = ctx.input_laid(0)
    order = layout.full(perm, rank)
    b = Builder(ctx)
    in_shape = b.shape(x)
    target = _size_entries(b, ctx, 1, len(axes))
    begins, sizes, pads_lo, pads_hi = [], [], [], []
    zero = b.i32(0, "zero")
    for ir_axis, a in enumerate(order):
        have = b.take(in_shape, ir_axis, 0)
        if a not in axes:
            begins.append(zero), sizes.append(b.i32(-1, "all")), pads_lo.append(zero), pads_hi.append(zero)
            continue
        want = target[axes.index(a)]
        extra = b.op("Sub", [have, want], dtype=I32, label="extra")
        two = b.i32(2, "two")
        crop = b.op("Maximum", [extra, zero], dtype=I32, label="crop")
        pad = b.op("Maximum", [b.op("Neg", [extra], dtype=I32, label="missing"), zero], dtype=I32, label="pad")
        begins.append(b.op("FloorDiv", [crop, two], dtype=I32, label="crop_begin"))
        sizes.append(b.op("Minimum", [have, want], dtype=I32, label="kept"))
        lo = b.op("FloorDiv", [pad, two], dtype=I32, label="pad_begin")
        pads_lo.append(lo)
        pads_hi.append(b.op("Sub", [pad, lo], dtype=I32, label="pad_end"))
    cropped = b.op("Slice", [x, b.pack(begins, 0), b.pack(sizes, 0)], {"Index": I32}, dtype=x.dtype, label="crop")
    paddings = b.pack([b.pack(pads_lo, 0), b.pack(pads_hi, 0)], 1)  # [rank, 2]
    out = ctx.op("Pad", [cropped, paddings], {"Tpaddings": I32}, dtype=x.dtype)
    return ctx.laid(out, perm)
