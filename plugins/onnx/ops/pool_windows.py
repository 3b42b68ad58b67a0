"""Pooling spelled out window tap by window tap: dilated pools and MaxPool's Indices output.

TF.js's MaxPool/AvgPool take no dilations and return no argmax that every backend runs, so a
pool that needs either is built from its taps: the (padded) channels-last input is cut into one
strided slice per kernel offset (each slice holds that tap of every window), and the slices are
combined: Maximum for max, AddN for sums, and for averages a constant 1/count per output pixel.
MaxPool's Indices follow onnxruntime: each window's first real element (in kernel order) is taken whatever
it is, later ones only when strictly greater, padding never; indices count in the NCHW input without padding
(row- or column-major spatially), and a window of padding only gets onnxruntime's untouched running index.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from .common import SLICE_ATTRS

#: Above this many taps the graph gets too large to be worth it.
MAX_TAPS = 343


def out_sizes(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
              begin: Sequence[int], end: Sequence[int], ceil_mode: bool) -> list[int]:
    """ONNX's output sizes; with ceil_mode a last window that starts in the end padding is dropped."""
    outs = []
    for n, k, s, d, b, e in zip(sizes, kernel, strides, dilations, begin, end):
        span = n + b + e - ((k - 1) * d + 1)
        o = (math.ceil(span / s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + b:
            o -= 1
        outs.append(o)
    return outs


def tap_pool(ctx: NodeContext, kind: str, x: Value, sizes: Sequence[int], kernel: Sequence[int],
             strides: Sequence[int], dilations: Sequence[int], begin: Sequence[int], end: Sequence[int],
             ceil_mode: bool, count_include_pad: bool, *, indices: bool = False, storage_order: int = 0,
             batch: int | None = None, channels: int | None = None,
             crops: Sequence[tuple[int, int]] | None = None) -> tuple[Value, Value | None]:
    """Pool a channels-last ``x`` ([N, *sizes, C]); ``kind`` is max, avg or sum. Returns (y, indices or None).
    ``x`` is the input without ``crops``' (head, tail) elements per spatial dim (a SAME pool's negative pads):
    Indices count in the whole input."""
    n = len(kernel)
    outs = out_sizes(sizes, kernel, strides, dilations, begin, end, ceil_mode)
    if any(o <= 0 for o in outs):
        raise ctx.error(f"the pooling output would be empty (output sizes {outs})")
    taps = list(itertools.product(*[range(k) for k in kernel]))
    if len(taps) > MAX_TAPS:
        raise ctx.error(f"a kernel of {len(taps)} taps is too large to spell out (dilated pooling / Indices)")
    reach = [(o - 1) * s + (k - 1) * d + 1 for o, s, k, d in zip(outs, strides, kernel, dilations)]
    tail = [max(r - (sz + b), 0) for r, sz, b in zip(reach, sizes, begin)]  # end pads the windows reach
    padded = _pad(ctx, kind, x, [batch, *sizes, channels], begin, tail)
    padded_sizes = [sz + b + t for sz, b, t in zip(sizes, begin, tail)]
    if n == 3:
        if channels is None:
            raise ctx.error("3-D dilated pooling needs a static channel count")
        slices = _taps_3d(ctx, padded, padded_sizes, channels, taps, kernel, outs, strides, dilations)
    else:
        slices = [_strided(ctx, padded, [i * d for i, d in zip(tap, dilations)], outs, strides, f"tap{t}")
                  for t, tap in enumerate(taps)]

    def finish(v: Value, label: str) -> Value:  # 3-D taps are [N * OD, OH, OW, C]
        if n != 3:
            return v
        return ctx.reshape(v, [-1, *outs, channels], label=label)

    if kind == "max" and indices:
        if batch is None or channels is None:
            raise ctx.error("MaxPool's Indices output needs a static batch size and channel count")
        if batch * channels * int(np.prod(sizes)) > np.iinfo(np.int32).max:
            raise ctx.error("MaxPool's Indices would not fit in int32")
        grid = _index_grid(batch, channels, sizes, begin, tail, storage_order, crops)
        pad_only = _pad_only_index(batch, channels, [sz + h + t for sz, (h, t) in
                                                      zip(sizes, crops or [(0, 0)] * n)], storage_order, grid.shape)
        best, where = _argmax(ctx, slices, taps, grid, pad_only, outs, strides, dilations)
        return floor_max_pool(ctx, finish(best, "max_5d")), finish(where, "argmax_5d")
    if kind == "max":
        y = slices[0]
        for t, s in enumerate(slices[1:], 1):
            y = ctx.op("Maximum", [y, s], label=f"max{t}")
        return floor_max_pool(ctx, finish(y, "max_5d")), None
    y = slices[0] if len(slices) == 1 else ctx.op("AddN", slices, {"N": len(slices)}, label="window_sum")
    y = finish(y, "sum_5d")
    if kind == "avg":
        lo_hi = [(-b, sz + e) if count_include_pad else (0, sz) for sz, b, e in zip(sizes, begin, end)]
        factor = np.ones((), np.float64)
        for (lo, hi), o, s, k, d, b in zip(lo_hi, outs, strides, kernel, dilations, begin):
            positions = (np.arange(o) * s - b)[:, None] + np.arange(k)[None, :] * d
            counts = ((positions >= lo) & (positions < hi)).sum(axis=1)
            factor = np.multiply.outer(factor, 1.0 / np.maximum(counts, 1))
        dtype = x.dtype.numpy if x.dtype is not None else np.float32
        y = ctx.op("Mul", [y, ctx.make_const(factor.astype(dtype)[..., None], label="divisor")], label="average")
    return y, None


def _strided(ctx: NodeContext, x: Value, starts: Sequence[int], outs: Sequence[int], strides: Sequence[int],
             label: str) -> Value:
    """x[:, starts[0] :: strides[0] (outs[0] of them), ..., :] for a channels-last x."""
    n = len(starts)
    stops = [st + (o - 1) * s + 1 for st, o, s in zip(starts, outs, strides)]
    mask = 1 | 1 << (n + 1)
    return ctx.op("StridedSlice", [x, ctx.ints([0, *starts, 0], label=f"{label}_begin"),
                                   ctx.ints([0, *stops, 0], label=f"{label}_end"),
                                   ctx.ints([1, *strides, 1], label=f"{label}_strides")],
                  {**SLICE_ATTRS, "begin_mask": mask, "end_mask": mask}, label=label)


def _taps_3d(ctx: NodeContext, padded: Value, sizes: Sequence[int], channels: int, taps: list[tuple[int, ...]],
             kernel: Sequence[int], outs: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
             ) -> list[Value]:
    """3-D taps as [N * OD, OH, OW, C]: the depth taps are strided slices of [N, D, H * W * C], the
    others of [N * OD, H, W, C] (webgl's strided slice fails to compile at rank 5 with strides)."""
    depth, height, width = sizes
    flat = ctx.reshape(padded, [-1, depth, height * width * channels], label="depth_major")
    planes = {}
    for a in range(kernel[0]):
        sliced = _strided(ctx, flat, [a * dilations[0]], outs[:1], strides[:1], f"depth{a}")
        planes[a] = ctx.reshape(sliced, [-1, height, width, channels], label=f"planes{a}")
    return [_strided(ctx, planes[tap[0]], [tap[1] * dilations[1], tap[2] * dilations[2]], outs[1:], strides[1:],
                     f"tap{t}") for t, tap in enumerate(taps)]


def _pad(ctx: NodeContext, kind: str, x: Value, shape: Sequence[int | None], begin: Sequence[int],
         end: Sequence[int]) -> Value:
    from .pad_low_rank import pad

    value = max_pool_padding(ctx, x) if kind == "max" else None
    return pad(ctx, x, shape, [(0, 0), *zip(begin, end), (0, 0)], value=value, label="pad")


def max_pool_padding(ctx: NodeContext, x: Value) -> Value:
    """A max pool's padding value in ``x``'s dtype. An 8/16-bit integer (pooled as float32 for wasm, or held as
    int32) is padded one below its ONNX dtype's lowest: padding must lose to a real element that equals the lowest
    (onnxruntime never picks a pad, so MaxPool's Indices name the element), and float32's or int32's lowest would
    wrap in the Cast back (int8: 0, not -128); :func:`floor_max_pool` lifts a window of padding only to the lowest.
    Floats and wider integers pad with the lowest of the dtype the pool runs in (``x``'s): for double that is
    float32's (TF.js holds double as float32), so a window of padding only gives -3.4e38 where onnxruntime gives
    double's -1.8e308. Without Indices, float32's lowest beats a real -inf next to padding (onnxruntime: -inf,
    review r4 N3) and int32's lowest ties a real INT_MIN; with Indices padding never wins (:func:`_argmax`)."""
    dtype = np.dtype(x.dtype.numpy if x.dtype is not None else np.float32)
    small = _small_int_lowest(ctx)
    if small is not None:
        low = small - 1  # fits the float32 or int32 the pool runs in, exactly
    else:
        low = np.finfo(dtype).min if dtype.kind == "f" else np.iinfo(dtype).min
    return ctx.make_const(np.asarray(low, dtype), label="lowest")


def floor_max_pool(ctx: NodeContext, y: Value, *, label: str | None = "at_least_lowest") -> Value:
    """Lift a max pool's window of padding only (one below the lowest, :func:`max_pool_padding`) to the ONNX
    dtype's lowest, as onnxruntime gives; other dtypes pass through."""
    small = _small_int_lowest(ctx)
    if small is None:
        return y
    dtype = np.dtype(y.dtype.numpy if y.dtype is not None else np.float32)
    return ctx.op("Maximum", [y, ctx.make_const(np.asarray(small, dtype), label="dtype_lowest")], label=label)


def pads_below_lowest(ctx: NodeContext) -> bool:
    """Whether :func:`max_pool_padding` pads one below the dtype's lowest (then :func:`floor_max_pool` adds a node)."""
    return _small_int_lowest(ctx) is not None


def _small_int_lowest(ctx: NodeContext) -> int | None:
    """The lowest value of the ONNX input's dtype when it is an 8/16-bit integer, else None."""
    onnx_dtype = ctx.tensor(0).dtype
    if onnx_dtype is None or np.dtype(onnx_dtype).kind not in "iu" or np.dtype(onnx_dtype).itemsize > 2:
        return None
    return int(np.iinfo(onnx_dtype).min)


def _index_grid(batch: int, channels: int, sizes: Sequence[int], begin: Sequence[int], end: Sequence[int],
                storage_order: int, crops: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
    """ONNX's flat NCHW index of every element of the padded channels-last input (pads: -1), ``sizes`` being
    what is left of the input without ``crops``' (head, tail) elements."""
    crops = crops or [(0, 0)] * len(sizes)
    kept = sizes
    sizes = [size + h + t for size, (h, t) in zip(sizes, crops)]
    spatial = int(np.prod(sizes))
    grids = np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij")
    if storage_order:  # column-major: the first spatial axis varies fastest
        weights = np.cumprod([1, *sizes[:-1]])
    else:
        weights = np.cumprod([1, *sizes[::-1][:-1]])[::-1]
    flat = sum(g * w for g, w in zip(grids, weights))
    index = (np.arange(batch)[:, None, None] * channels * spatial + np.arange(channels)[None, :, None] * spatial
             + flat.reshape(1, 1, -1)).reshape(batch, channels, *sizes)
    index = np.moveaxis(index, 1, -1)
    index = index[(slice(None), *[slice(h, h + k) for k, (h, _) in zip(kept, crops)], slice(None))]
    return np.pad(index, [(0, 0), *zip(begin, end), (0, 0)], constant_values=-1).astype(np.int32)


def _pad_only_index(batch: int, channels: int, sizes: Sequence[int], storage_order: int,
                    shape: Sequence[int]) -> np.ndarray:
    """onnxruntime's Indices for a window holding padding only (dilation can make one with pads < kernel: review
    r7 M1): its running index starts at -1 on every spatial axis and is never replaced, so it gives channel
    ``n * C + c``'s base minus the spatial weights' sum (e.g. ``c * H * W - W - 1``), naming an element of
    another channel (or a negative number). Deterministic, so it is matched. ``shape``: the padded grid's."""
    if storage_order:
        weights = np.cumprod([1, *sizes[:-1]])
    else:
        weights = np.cumprod([1, *sizes[::-1][:-1]])[::-1]
    base = (np.arange(batch)[:, None] * channels + np.arange(channels)[None, :]) * int(np.prod(sizes))
    value = (base - int(np.sum(weights))).astype(np.int32)
    return np.broadcast_to(value.reshape(batch, *[1] * len(sizes), channels), tuple(shape))


def _argmax(ctx: NodeContext, slices: list[Value], taps: list[tuple[int, ...]], grid: np.ndarray,
            pad_only: np.ndarray, outs: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
            ) -> tuple[Value, Value]:
    """Running max and the index of its first occurrence (Greater + two Selects per tap), as onnxruntime's
    MaxPool with Indices: a window's first real element (in kernel order) is taken whatever it is, later ones only
    when greater, padding never. So a NaN first in its window sticks, a later NaN never wins, and a real -inf beats
    the padding (review r4 N3, N4). Which taps are padding, and which is a window's first real one, is static."""
    def grid_tap(tap: tuple[int, ...], source: np.ndarray = grid) -> np.ndarray:
        index = tuple(slice(i * d, i * d + (o - 1) * s + 1, s) for i, d, o, s in zip(tap, dilations, outs, strides))
        sliced = source[(slice(None), *index, slice(None))]
        if len(tap) == 3:  # laid out like the 3-D taps: [N * OD, OH, OW, C]
            sliced = sliced.reshape(-1, *sliced.shape[2:])
        return np.ascontiguousarray(sliced)

    best = slices[0]  # a window of padding only keeps tap 0's index: onnxruntime's (:func:`_pad_only_index`)
    where = ctx.make_const(np.where(grid_tap(taps[0]) >= 0, grid_tap(taps[0]), grid_tap(taps[0], pad_only)),
                           label="index0")
    taken = grid_tap(taps[0]) >= 0  # windows whose first real element is already taken
    for t, (value, tap) in enumerate(zip(slices[1:], taps[1:]), 1):
        take = ctx.op("Greater", [value, best], dtype=DType.BOOL, label=f"greater{t}")
        take, taken = _or_first_real(ctx, take, grid_tap(tap) >= 0, taken, t)
        best = ctx.op("SelectV2", [take, value, best], {"T": value.dtype}, dtype=value.dtype, label=f"max{t}")
        where = ctx.op("SelectV2", [take, ctx.make_const(grid_tap(tap), label=f"index{t}"), where],
                       {"T": DType.INT32}, dtype=DType.INT32, label=f"argmax{t}")
    return best, where


def _or_first_real(ctx: NodeContext, take: Value, real: np.ndarray, taken: np.ndarray, t: int
                   ) -> tuple[Value, np.ndarray]:
    """``take`` never where this tap is padding, and always where it is its window's first real element (constant
    masks; no node where one is empty)."""
    if not real.all():
        take = ctx.op("LogicalAnd", [take, ctx.make_const(_broadcast_mask(real), label=f"real{t}")],
                      dtype=DType.BOOL, label=f"greater_real{t}")
    first = real & ~taken
    if first.any():
        take = ctx.op("LogicalOr", [take, ctx.make_const(_broadcast_mask(first), label=f"first_real{t}")],
                      dtype=DType.BOOL, label=f"take{t}")
    return take, taken | real


def _broadcast_mask(mask: np.ndarray) -> np.ndarray:
    """``mask`` ([N, *out, C], 3-D: [N * OD, OH, OW, C]) as the smallest slice that broadcasts back to it: padding
    depends on the spatial position only, so [1, *out, 1] (3-D: [N * OD, OH, OW, 1]; review r7 M3)."""
    for smaller in (mask[:1, ..., :1], mask[..., :1]):
        if (smaller == mask).all():
            return np.ascontiguousarray(smaller)
    return mask
