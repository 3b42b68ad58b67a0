"""Keras 3's ContrastLimitedAdaptiveHistogramEqualization (CLAHE), computed step by step as its TensorFlow backend
computes it, from ops every TF.js backend runs.

Keras (``keras/src/layers/preprocessing/image_preprocessing/clahe.py``) maps the images to [0, 255] (float32), pads
them symmetrically to whole tiles, counts each tile's pixels per channel into 256 bins (``cast`` to int32, clipped to
[0, 255]), clips each histogram at ``clip_limit · tile_h · tile_w / 256`` and spreads the excess evenly, takes the
normalised cumulative sums, and looks every pixel up (``cast(clip(x, 0, 255), int32)``) in the four nearest tiles'
tables, interpolated bilinearly by the pixel's position; then maps back to the value range. Here:

- a pixel's bin is ``floor(min(max(x, 0), 255))``, and 0 where TensorFlow's cast gives INT_MIN (x at or past 2^31,
  +Inf, NaN): those land in bin 0 of the histogram while their lookup reads entry 255 (NaN fails in Keras's gather);
- the histograms are ``DenseBincount`` rows, one per tile and channel (float32 counts, exact);
- the edge-replicated table Keras pads around the tiles is read through tile indices clipped to the grid instead;
- the tables are ``[B, gh·gw·C·256]``, read by ``GatherNd`` at ``(image, entry)`` pairs: no index grows with the batch
  (session 20's flat index ``b·S + entry`` passed 2^24, where webgl's float32 int32 reads neighbours, from 22 images of
  32x32 tiles, and int32 from ~43,700 of 8x8 RGB ones), and the table ends in an (unpacked) ``SelectV2`` because webgl
  gathers from a packed table past 2^24 entries pick the wrong texel channel;
- the interpolation weights are Keras's own float32 arithmetic: numpy constants of static sizes, the same ops at run
  time over unknown ones (Keras runs eagerly, so its sizes are the image's);
- integer images give Keras's integer result (its float32 result cast back, truncated): 8/16-bit ones with a value
  range inside their dtype, int32/int64 ones with the default range (clipped to [0, 255] as they are).

Refused by name: a rank other than 4, unknown channels, a static image smaller than the symmetric padding its grid
needs (TensorFlow's MirrorPad raises), a clip_limit that is not a float32 over unknown sizes (Keras's float64 limit),
other integer images, a table of 2^31 entries per image (named past 2^24: webgl). Exact on cpu and wasm (bit for bit
in session 20's measurements), and on webgl within 1e-5 (session 21: at 24 images of 32x32 RGB tiles too).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import NARROW_INTS, exact_floor_div
from tfjsconv.ops.special_values import GUARDED_SUFFIX
from tfjsconv.passes.scatter_index_guard import IN_RANGE_ATTR

from .context import LayerContext
from .dynamic_shape import reshape_to, runtime_size
from .registry import Unsupported, lowers

F32, I32 = DType.FLOAT32, DType.INT32
#: Keras's histograms have 256 bins (its images in [0, 255]).
BINS = 256
#: The first float32 TensorFlow's cast to int32 turns into INT_MIN (bin 0 after Keras's clip).
INT32_LIMIT = 2.0 ** 31
CLASS = "ContrastLimitedAdaptiveHistogramEqualization"


def _pair(value: Any) -> tuple[Any, Any] | None:
    return tuple(value) if isinstance(value, (list, tuple)) and len(value) == 2 else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check(config: dict[str, Any]) -> str | None:
    """Config options outside what Keras itself computes (it would fail on them too)."""
    grid = _pair(config.get("tile_grid_size", (8, 8)))
    if grid is None or not all(isinstance(g, int) and not isinstance(g, bool) and 0 < g < 2 ** 15 for g in grid):
        return f"tile_grid_size={config.get('tile_grid_size')!r}"
    bounds = _pair(config.get("value_range", (0, 255)))
    if bounds is None or not all(_is_number(b) for b in bounds):
        return f"value_range={config.get('value_range')!r}"
    if not _is_number(config.get("clip_limit", 4.0)):
        return f"clip_limit={config.get('clip_limit')!r}"
    return None


@dataclass
class _Sizes:
    """The image and tile sizes: Python ints when the config knows them, int32 scalars computed at run time else."""
    height: int | Value
    width: int | Value
    tile_h: int | Value
    tile_w: int | Value
    channels: int
    grid: tuple[int, int]

    @property
    def static(self) -> bool:
        return isinstance(self.height, int) and isinstance(self.width, int)


@lowers(CLASS, check=_check, channels_first=True)
def clahe(ctx: LayerContext) -> Value:
    shape = ctx.shape()
    if len(shape) != 4:
        raise Unsupported(f"layer {ctx.name!r} ({CLASS}) on a rank-{len(shape)} input")
    if shape[3] is None:
        raise Unsupported(f"layer {ctx.name!r} ({CLASS}) over an unknown number of channels")
    config = ctx.config
    value_range = tuple(config.get("value_range", (0, 255)))
    integer = _integer_images(ctx, value_range)
    sizes = _sizes(ctx, ctx.x)
    clip_limit = config.get("clip_limit", 4.0)
    if not sizes.static and clip_limit > 0 and float(np.float32(clip_limit)) != clip_limit:
        raise Unsupported(f"layer {ctx.name!r} ({CLASS}) with clip_limit={clip_limit!r} (not a float32) over unknown "
                          "image sizes (Keras's float64 limit is not computed exactly at run time)")
    _check_table_size(ctx, sizes)
    images = _value_range(ctx, ctx.x, value_range, (0, 255), "to_255")
    pixels, bins = _pixels_and_bins(ctx, images)
    table = _tables(ctx, _padded(ctx, bins, sizes), sizes, clip_limit)
    result = _value_range(ctx, _interpolated(ctx, table, pixels, sizes), (0, 255), value_range, "from_255")
    if integer is None:
        return result
    if integer in NARROW_INTS:
        ctx.output_keras_dtype = integer  # the walk tracks the 8/16-bit dtype of this int32 result
    return _truncated(ctx, result)


def _check_table_size(ctx: LayerContext, sizes: _Sizes) -> None:
    """One image's table is indexed in int32: refused from 2^31 entries; past 2^24 webgl (int32 held in float32) may
    read neighbouring entries, which the conversion's notes say. The batch never enters the index."""
    from .core import warn_once

    size = _table_size(sizes)
    gh, gw = sizes.grid
    what = f"layer {ctx.name!r} ({CLASS}): {gh}x{gw} tiles of {sizes.channels} channels make a {size}-entry table"
    if size >= 2 ** 31:
        raise Unsupported(f"{what} per image, past int32's indices")
    if size > 2 ** 24:
        warn_once(ctx, f"{what} per image: on webgl, which holds int32 in float32, its indices past 2^24 may read "
                       "neighbouring entries (exact on cpu and wasm)")


def _integer_images(ctx: LayerContext, value_range: tuple) -> DType | None:
    """The 8/16-bit integer dtype of the images (None: floats), whose float32 Values here are exact. Keras casts its
    float32 result back to it: truncated, within the dtype for a value range inside it. Other integers are refused."""
    integer = ctx.integer_dtype()
    if integer is None:
        return None
    if integer in (DType.INT32, DType.INT64) and value_range[0] == 0 and value_range[1] == 255:
        return integer  # Keras clips them to [0, 255] as they are; so do their float32 Values, rounded or not
    low, bits = NARROW_INTS.get(integer, (None, 0))
    if low is None or not low <= min(value_range) <= max(value_range) <= low + 2 ** bits - 1:
        raise Unsupported(f"layer {ctx.name!r} ({CLASS}) on {integer.numpy} images with value_range="
                          f"{list(value_range)!r} (Keras casts the result back to their dtype; lowered for 8/16-bit "
                          "integers and a value range inside their range, and for int32/int64 ones in [0, 255])")
    return integer


def _truncated(ctx: LayerContext, x: Value) -> Value:
    """TensorFlow's float32 to integer cast of values inside the dtype: truncated toward zero."""
    negative = ctx.op("Less", [x, ctx.floats(0.0, "result_zero")], dtype=DType.BOOL, shape=x.shape,
                      label="result_negative")
    whole = ctx.op("SelectV2", [negative, ctx.unary("Ceil", x, label="result_ceil"),
                                ctx.unary("Floor", x, label="result_floor")], {"T": F32}, dtype=F32, shape=x.shape,
                   label="result_truncated")
    return ctx.exact_cast(whole, I32, "to_integer")


def _sizes(ctx: LayerContext, x: Value) -> _Sizes:
    _, height, width, channels = ctx.shape(x)
    gh, gw = (int(g) for g in ctx.config.get("tile_grid_size", (8, 8)))
    if height is not None and width is not None:
        tile_h, tile_w = -(-height // gh), -(-width // gw)
        if tile_h * gh - height > height or tile_w * gw - width > width:  # TensorFlow's symmetric pad fails
            raise Unsupported(f"layer {ctx.name!r} ({CLASS}): a {height}x{width} image in a {gh}x{gw} grid needs "
                              "more symmetric padding than the image has (Keras fails on it too)")
        return _Sizes(height, width, tile_h, tile_w, channels, (gh, gw))
    runtime = [runtime_size(ctx, x, axis, label) for axis, label in ((1, "height"), (2, "width"))]
    sizes = [s if s is not None else r for s, r in zip((height, width), runtime)]
    sizes = [ctx.ints(s, f"{label}_static") if isinstance(s, int) else s for s, label in zip(sizes, ("h", "w"))]
    tiles = [_ceil_div(ctx, s, g, label) for s, g, label in zip(sizes, (gh, gw), ("tile_h", "tile_w"))]
    return _Sizes(sizes[0], sizes[1], tiles[0], tiles[1], channels, (gh, gw))


def _ceil_div(ctx: LayerContext, size: Value, parts: int, label: str) -> Value:
    """``(size + parts - 1) // parts`` in int32, exact on every backend."""
    top = ctx.binary("AddV2", size, ctx.ints(parts - 1, f"{label}_round_up"), label=f"{label}_numerator")
    return exact_floor_div(ctx.graph, top, ctx.ints(parts, f"{label}_grid"), f"{ctx.name}/{label}")


def _value_range(ctx: LayerContext, x: Value, source: tuple, target: tuple, label: str) -> Value:
    """Keras's ``_transform_value_range``: nothing when the ranges are equal (as Python compares them), else
    ``(x - a) / (b - a) · (d - c) + c`` in float32, each bound cast to float32 first (the spans are float32
    differences)."""
    if source[0] == target[0] and source[1] == target[1]:
        return x
    a, b, c, d = (np.float32(v) for v in (*source, *target))
    x = ctx.binary("Sub", x, ctx.floats(a, f"{label}_from_low"), label=f"{label}_shifted")
    x = ctx.binary("RealDiv", x, ctx.floats(b - a, f"{label}_from_span"), label=f"{label}_unit")
    x = ctx.binary("Mul", x, ctx.floats(d - c, f"{label}_to_span"), label=f"{label}_scaled")
    return ctx.binary("AddV2", x, ctx.floats(c, f"{label}_to_low"), label=label)


def _pixels_and_bins(ctx: LayerContext, x: Value) -> tuple[Value, Value]:
    """Keras's lookup entry ``cast(clip(x, 0, 255), int32)`` (int32) and histogram bin ``clip(cast(x, int32), 0,
    255)`` (float32): equal but where TensorFlow's cast gives INT_MIN (x ≥ 2^31, NaN), whose bin is 0. A NaN pixel
    (Keras's gather fails on it) reads entry 0, never an index out of the table."""
    low = ctx.binary("Maximum", x, ctx.floats(0.0, "pixel_low"), label=f"pixel_at_least_0{GUARDED_SUFFIX}")
    clipped = ctx.binary("Minimum", low, ctx.floats(255.0, "pixel_high"), label=f"pixel_clipped{GUARDED_SUFFIX}")
    whole = ctx.unary("Floor", clipped, label="pixel_floor")
    in_table = ctx.op("Less", [whole, ctx.floats(float(BINS), "bins")], dtype=DType.BOOL, shape=whole.shape,
                      label="pixel_not_nan")
    zeros = ctx.floats(0.0, "zero")
    entry = ctx.op("SelectV2", [in_table, whole, zeros], {"T": F32}, dtype=F32, shape=whole.shape, label="entry")
    castable = ctx.op("Less", [x, ctx.floats(INT32_LIMIT, "int32_limit")], dtype=DType.BOOL, shape=x.shape,
                      label="castable")
    bins = ctx.op("SelectV2", [castable, entry, zeros], {"T": F32}, dtype=F32, shape=x.shape, label="bins")
    return ctx.exact_cast(entry, I32, "pixels"), bins


def _padded(ctx: LayerContext, bins: Value, sizes: _Sizes) -> Value:
    """The bins padded symmetrically to whole tiles (Keras pads the images; the bins are elementwise of them)."""
    gh, gw = sizes.grid
    if sizes.static:
        pad_h, pad_w = sizes.tile_h * gh - sizes.height, sizes.tile_w * gw - sizes.width
        if pad_h == pad_w == 0:
            return bins
        paddings = ctx.ints([[0, 0], [0, pad_h], [0, pad_w], [0, 0]], "paddings")
        shape = (ctx.shape(bins)[0], sizes.height + pad_h, sizes.width + pad_w, sizes.channels)
    else:
        pads = [ctx.binary("Sub", ctx.binary("Mul", t, ctx.ints(g, f"{label}_grid"), label=f"{label}_whole"), s,
                           label=label)
                for t, g, s, label in ((sizes.tile_h, gh, sizes.height, "pad_h"), (sizes.tile_w, gw, sizes.width,
                                                                                   "pad_w"))]
        zero = ctx.ints(0, "pad_zero")
        rows = [ctx.op("Pack", [a, b], {"N": 2, "axis": 0}, dtype=I32, shape=(2,), label=f"pad_row{i}")
                for i, (a, b) in enumerate(((zero, zero), (zero, pads[0]), (zero, pads[1]), (zero, zero)))]
        paddings = ctx.op("Pack", rows, {"N": 4, "axis": 0}, dtype=I32, shape=(4, 2), label="paddings")
        shape = (ctx.shape(bins)[0], None, None, sizes.channels)
    return ctx.op("MirrorPad", [bins, paddings], {"Tpaddings": I32, "mode": "SYMMETRIC"}, shape=shape,
                  label="padded_bins")


def _product(ctx: LayerContext, a: int | Value, b: int | Value, label: str) -> int | Value:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    values = [v if isinstance(v, Value) else ctx.ints(v, f"{label}_factor{i}") for i, v in enumerate((a, b))]
    return ctx.binary("Mul", *values, label=label)


def _vector(ctx: LayerContext, value: int | Value, label: str) -> Value | list[int]:
    """A size as a part of a run-time shape: ``[n]``, or the int32 scalar as a 1-vector."""
    return [value] if isinstance(value, int) else ctx.reshape(value, [1], label)


def _tile_rows(ctx: LayerContext, padded: Value, sizes: _Sizes) -> Value:
    """``[B·gh·gw·C, tile_h·tile_w]`` int32: one row per tile and channel (b, i, j, c), its pixels' bins in any
    order (only their counts matter). Ranks stay at 4 or less for webgl."""
    gh, gw = sizes.grid
    c = sizes.channels
    bins = ctx.exact_cast(padded, I32, "bin_ints")
    tile_wc = _product(ctx, sizes.tile_w, c, "tile_wc")
    area = _product(ctx, sizes.tile_h, sizes.tile_w, "tile_area")

    def reshape(x: Value, parts: list, shape: tuple, label: str) -> Value:
        if all(isinstance(p, int) for p in parts):
            return ctx.reshape(x, [None if p == -1 else p for p in parts], label)
        return reshape_to(ctx, x, [_vector(ctx, p, f"{label}_{i}") for i, p in enumerate(parts)], shape, label)

    def static(v: int | Value) -> int | None:
        return v if isinstance(v, int) else None

    rows = reshape(bins, [-1, sizes.tile_h, gw, tile_wc], (None, static(sizes.tile_h), gw, static(tile_wc)),
                   "tile_rows")
    rows = ctx.transpose(rows, [0, 2, 1, 3], "tiles_together")  # [B·gh, gw, tile_h, tile_w·C]
    rows = reshape(rows, [-1, area, c], (None, static(area), c), "tile_pixels")
    rows = ctx.transpose(rows, [0, 2, 1], "channels_apart")  # [B·gh·gw, C, tile_h·tile_w]
    return reshape(rows, [-1, area], (None, static(area)), "tile_channel_rows")


def _tables(ctx: LayerContext, padded: Value, sizes: _Sizes, clip_limit: Any) -> Value:
    """Each tile's and channel's normalised CDF, as Keras computes it: ``[B, gh·gw·C·256]``, one row per image
    (the lookup indexes within a row, so its indices stay below one image's table whatever the batch)."""
    rows = _tile_rows(ctx, padded, sizes)
    hist = ctx.op("DenseBincount", [rows, ctx.ints(BINS, "bin_count"), ctx.const(np.zeros((0,), np.float32),
                                                                                 "no_weights")],
                  {"Tidx": I32, "T": F32, "binary_output": False}, dtype=F32, shape=(None, BINS), label="histograms")
    area = _product(ctx, sizes.tile_h, sizes.tile_w, "pixels_per_tile")
    if clip_limit > 0:
        hist = _clipped(ctx, hist, area, clip_limit)
    cdf = ctx.op("Cumsum", [hist, ctx.ints(1, "cdf_axis")], {"Tidx": I32, "exclusive": False, "reverse": False},
                 shape=hist.shape, label="cdf")
    cdf_min = ctx.op("Min", [cdf, ctx.ints([1], "cdf_min_axis")], {"keep_dims": True, "Tidx": I32},
                     shape=(None, 1), label="cdf_min")
    numerator = ctx.binary("Mul", ctx.binary("Sub", cdf, cdf_min, label="cdf_shifted"), ctx.floats(255.0, "full"),
                           label="cdf_numerator")
    if isinstance(area, int):
        total = ctx.floats(np.float32(area), "area_float")
    else:
        total = ctx.op("Cast", [area], {"SrcT": I32, "DstT": F32, "Truncate": False}, dtype=F32, shape=(),
                       label="area_float")
    denominator = ctx.binary("Sub", total, cdf_min, label="cdf_denominator")
    empty = ctx.op("Equal", [denominator, ctx.floats(0.0, "no_spread")], dtype=DType.BOOL, shape=denominator.shape,
                   label="flat_tile")
    denominator = ctx.op("SelectV2", [empty, ctx.floats(1.0, "one"), denominator], {"T": F32}, dtype=F32,
                         shape=denominator.shape, label="cdf_divisor")
    norm = ctx.binary("RealDiv", numerator, denominator, label="cdf_ratio")
    norm = ctx.binary("Maximum", norm, ctx.floats(0.0, "cdf_low"), label=f"cdf_at_least_0{GUARDED_SUFFIX}")
    # Keras's clip at 255 (of finite ratios) as a select: webgl runs SelectV2 unpacked, and its gathers read a packed
    # table past 2^24 entries wrongly (the texel's channel picked in float32), an unpacked one exactly
    high = ctx.floats(255.0, "cdf_high")
    below = ctx.op("Less", [norm, high], dtype=DType.BOOL, shape=norm.shape, label="cdf_below_255")
    norm = ctx.op("SelectV2", [below, norm, high], {"T": F32}, dtype=F32, shape=norm.shape, label="cdf_norm")
    return ctx.reshape(norm, [None, _table_size(sizes)], "table")


def _clipped(ctx: LayerContext, hist: Value, area: int | Value, clip_limit: Any) -> Value:
    """``clip(hist, 0, limit)`` plus the excess spread over the 256 bins; ``limit = clip_limit · area / 256.0`` in
    Python floats cast to float32 (of static sizes; at run time a float32 product, equal for a float32 clip_limit)."""
    if isinstance(area, int):
        limit = ctx.floats(np.float32(clip_limit * area / 256.0), "clip_value")
    else:
        count = ctx.op("Cast", [area], {"SrcT": I32, "DstT": F32, "Truncate": False}, dtype=F32, shape=(),
                       label="area_count")
        limit = ctx.binary("Mul", count, ctx.floats(np.float32(clip_limit) / np.float32(256.0), "clip_per_pixel"),
                           label="clip_value")
    low = ctx.binary("Maximum", hist, ctx.floats(0.0, "hist_low"), label=f"hist_at_least_0{GUARDED_SUFFIX}")
    clipped = ctx.binary("Minimum", low, limit, label=f"hist_clipped{GUARDED_SUFFIX}")
    excess = ctx.op("Sum", [ctx.binary("Sub", hist, clipped, label="hist_excess"), ctx.ints([1], "excess_axis")],
                    {"keep_dims": True, "Tidx": I32}, shape=(None, 1), label="excess")
    spread = ctx.binary("RealDiv", excess, ctx.floats(256.0, "bins_float"), label="spread")
    return ctx.binary("AddV2", clipped, spread, label="hist_redistributed")


def _axis_static(size: int, tile: int, grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keras's float32 ``(arange - tile / 2.0) / tile + 1.0``, floored: the first and second tile (as indices of the
    unpadded grid: Keras's edge copies are its first and last tiles) and the second's weight, per position."""
    grid_pos = (np.arange(size, dtype=np.float32) - np.float32(tile / 2.0)) / np.float32(tile) + np.float32(1.0)
    low = np.floor(grid_pos)
    weight = (grid_pos - low).astype(np.float32)
    first = np.clip(np.clip(low, 0, grid + 1) - 1, 0, grid - 1).astype(np.int32)
    second = np.clip(np.clip(low + 1, 0, grid + 1) - 1, 0, grid - 1).astype(np.int32)
    return first, second, weight


def _axis_runtime(ctx: LayerContext, size: Value, tile: Value, grid: int, label: str) -> tuple[Value, Value, Value]:
    """:func:`_axis_static` computed at run time with the same float32 ops (sizes below 2^24 are exact floats)."""
    def cast(x: Value, dtype: DType, name: str) -> Value:
        return ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": dtype, "Truncate": False}, dtype=dtype, shape=x.shape,
                      label=name)

    positions = ctx.op("Range", [ctx.ints(0, f"{label}_start"), size, ctx.ints(1, f"{label}_delta")], {"Tidx": I32},
                       dtype=I32, shape=(None,), label=f"{label}_positions")
    tile_f = cast(tile, F32, f"{label}_tile_float")
    half = ctx.binary("Mul", tile_f, ctx.floats(0.5, f"{label}_half"), label=f"{label}_half_tile")
    grid_pos = ctx.binary("RealDiv", ctx.binary("Sub", cast(positions, F32, f"{label}_range"), half,
                                                label=f"{label}_centred"), tile_f, label=f"{label}_scaled")
    grid_pos = ctx.binary("AddV2", grid_pos, ctx.floats(1.0, f"{label}_one"), label=f"{label}_grid")
    low = ctx.unary("Floor", grid_pos, label=f"{label}_floor")
    weight = ctx.binary("Sub", grid_pos, low, label=f"{label}_weight")

    def tile_index(shift: float, name: str) -> Value:
        index = ctx.binary("AddV2", low, ctx.floats(shift, f"{name}_shift"), label=f"{name}_shifted")
        index = ctx.binary("Maximum", index, ctx.floats(0.0, f"{name}_low"),
                           label=f"{name}_at_least_0{GUARDED_SUFFIX}")
        index = ctx.binary("Minimum", index, ctx.floats(float(grid - 1), f"{name}_high"),
                           label=f"{name}_clipped{GUARDED_SUFFIX}")
        return ctx.exact_cast(index, I32, name)

    return tile_index(-1.0, f"{label}_first"), tile_index(0.0, f"{label}_second"), weight


def _table_size(sizes: _Sizes) -> int:
    """The entries of one image's table (gh·gw tiles, C channels, 256 bins each)."""
    gh, gw = sizes.grid
    return gh * gw * sizes.channels * BINS


def _axes(ctx: LayerContext, sizes: _Sizes) -> list[tuple[Value, Value, Value]]:
    """Per image axis (rows, columns): the first and second tile's offsets in an image's table as ``(0, offset)``
    pairs (int32, shaped to broadcast over ``[B, H, W, C, 2]``) and the second's weight (over ``[B, H, W, C]``)."""
    gh, gw = sizes.grid
    c = sizes.channels
    out = []
    for axis, (size, tile, grid, stride, label) in enumerate(((sizes.height, sizes.tile_h, gh, gw * c * BINS, "rows"),
                                                                (sizes.width, sizes.tile_w, gw, c * BINS, "cols"))):
        dims = [1, 1, 1, 1]
        dims[axis + 1] = size if isinstance(size, int) else None
        pair = np.array([0, stride], np.int32)
        if isinstance(size, int) and isinstance(tile, int):
            first, second, weight = _axis_static(size, tile, grid)
            out.append((ctx.ints(first.reshape(*dims, 1) * pair, f"{label}_first_offsets"),
                        ctx.ints(second.reshape(*dims, 1) * pair, f"{label}_second_offsets"),
                        ctx.floats(weight.reshape(dims), f"{label}_weights")))
            continue
        size_v = size if isinstance(size, Value) else ctx.ints(size, f"{label}_size")
        tile_v = tile if isinstance(tile, Value) else ctx.ints(tile, f"{label}_tile")
        first, second, weight = _axis_runtime(ctx, size_v, tile_v, grid, label)
        target = [-1 if d is None else d for d in dims]
        columns = [ctx.op("Reshape", [t, ctx.ints([*target, 1], f"{label}_{n}_shape")], {"Tshape": I32},
                          shape=(*dims, 1), label=f"{label}_{n}") for t, n in ((first, "first"), (second, "second"))]
        offsets = [ctx.binary("Mul", t, ctx.ints(pair, f"{label}_{n}_stride"), label=f"{label}_{n}_offsets")
                   for t, n in zip(columns, ("first", "second"))]
        weights = ctx.op("Reshape", [weight, ctx.ints(target, f"{label}_weights_shape")], {"Tshape": I32},
                         shape=tuple(dims), label=f"{label}_weights")
        out.append((offsets[0], offsets[1], weights))
    return out


def _bases(ctx: LayerContext, pixels: Value, sizes: _Sizes) -> Value:
    """Each pixel's ``(image, entry)`` pair, ``entry = c·256 + pixel`` in its image's table: ``[B, H, W, C, 2]``
    int32. Both parts stay below one image's table (and the batch), so no index grows with the batch (webgl holds
    int32 in float32, exact below 2^24; a flat index over the batch passed it from ~342 8x8-tile RGB images)."""
    c = sizes.channels
    batch = ctx.shape(pixels)[0]
    if batch is not None:
        images = ctx.ints(np.arange(batch, dtype=np.int32).reshape(-1, 1, 1, 1), "image_ids")
    else:
        count = runtime_size(ctx, pixels, 0, "batch")
        positions = ctx.op("Range", [ctx.ints(0, "batch_start"), count, ctx.ints(1, "batch_delta")], {"Tidx": I32},
                           dtype=I32, shape=(None,), label="batch_positions")
        images = ctx.reshape(positions, [None, 1, 1, 1], "image_ids")
    zeros = ctx.unary("ZerosLike", pixels, label="pixel_zeros")
    image_ids = ctx.binary("AddV2", zeros, images, label="pixel_images")
    channels = ctx.ints((np.arange(c, dtype=np.int32) * BINS).reshape(1, 1, 1, c), "channel_offsets")
    entries = ctx.binary("AddV2", pixels, channels, label="entries")
    return ctx.op("Pack", [image_ids, entries], {"N": 2, "axis": 4}, dtype=I32, shape=(*ctx.shape(pixels), 2),
                  label="image_entries")


def _interpolated(ctx: LayerContext, table: Value, pixels: Value, sizes: _Sizes) -> Value:
    """Keras's bilinear blend of the four nearest tiles' table entries for each pixel, in its float32 order."""
    (top, bottom, wy), (left, right, wx) = _axes(ctx, sizes)
    base = _bases(ctx, pixels, sizes)
    rows = {name: ctx.binary("AddV2", base, offsets, label=f"{name}_entries") for name, offsets in
            (("top", top), ("bottom", bottom))}

    def read(row: str, col: str, offsets: Value) -> Value:
        index = ctx.binary("AddV2", rows[row], offsets, label=f"{row}_{col}_index")
        return ctx.op("GatherNd", [table, index], {"Tparams": F32, "Tindices": I32, IN_RANGE_ATTR: True}, dtype=F32,
                      shape=ctx.shape(index)[:-1], label=f"{row}_{col}")

    one = ctx.floats(1.0, "one_weight")
    ux = ctx.binary("Sub", one, wx, label="left_weights")
    uy = ctx.binary("Sub", one, wy, label="top_weights")

    def blend(a: Value, b: Value, wa: Value, wb: Value, label: str) -> Value:
        return ctx.binary("AddV2", ctx.binary("Mul", a, wa, label=f"{label}_a"), ctx.binary("Mul", b, wb,
                                                                                           label=f"{label}_b"),
                          label=label)

    upper = blend(read("top", "left", left), read("top", "right", right), ux, wx, "upper")
    lower = blend(read("bottom", "left", left), read("bottom", "right", right), ux, wx, "lower")
    return blend(upper, lower, uy, wy, "blended")
