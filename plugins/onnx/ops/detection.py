"""NonMaxSuppression (TF.js NonMaxSuppressionV3 per batch and class) and RoiAlign (gathers + pooling).

ONNX's NonMaxSuppression selects per (batch, class) and returns ``[batch, class, box]`` rows in that
order; TF.js's op handles one score vector, so the mapping unrolls the (static) batch × class pairs
and concatenates the rows. TF.js's NMS is asynchronous: such a model runs with ``executeAsync``.
TF.js reads boxes as [y1, x1, y2, x2] in either corner order, as ONNX's ``center_point_box=0``;
``center_point_box=1`` boxes are converted first. Thresholds and the per-class limit may be computed
at run time (TF.js reads them when the op runs).

RoiAlign follows onnxruntime's sampling exactly: ``sampling_ratio`` points per bin and axis, each a
bilinear read (GatherNd on the channels-last input) with its out-of-map rules, then an average
(AvgPool) or a max (MaxPool) over each bin. ``sampling_ratio=0`` (a count that depends on each
box's size) is refused.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .composing import BOOL, F32, I32, Builder

#: Unrolled (batch, class) pairs beyond which a NonMaxSuppression is refused (one TF.js op each).
MAX_NMS_PAIRS = 4096
_LOWEST = float(np.finfo(np.float32).min)
_TINY = np.float32(np.finfo(np.float32).tiny)


def _scalar(b: Builder, ctx: NodeContext, i: int, dtype, default: float) -> Value:
    if not ctx.has_input(i):
        return b.cast(b.f32(default) if dtype == F32 else b.i32(int(default)), dtype)
    known = ctx.const(i)
    if known is not None:
        value = np.asarray(known).reshape(-1)[0]
        return b.f32(float(value)) if dtype == F32 else b.i32(int(min(value, np.iinfo(np.int32).max)))
    return b.cast(b.reshape(ctx.input(i), []), dtype)


def _strictly_above(b: Builder, ctx: NodeContext) -> Value:
    """The IoU threshold for TF.js, which suppresses when ``iou >= threshold`` where ONNX needs ``iou > threshold``:
    the next float32 up (at least the smallest normal float, so that threshold 0 keeps disjoint boxes)."""
    known = ctx.const(3) if ctx.has_input(3) else np.zeros(1, np.float32)
    if known is not None:
        value = np.float32(np.asarray(known).reshape(-1)[0])
        return b.f32(max(np.nextafter(value, np.float32(np.inf)), _TINY))
    thr = _scalar(b, ctx, 3, F32, 0.0)  # + 0.75 ulp rounds to the next float32 for a positive normal value
    return b.op("Maximum", [b.add(thr, b.mul(thr, b.f32(0.75 * 2.0 ** -23))), b.f32(_TINY)], label="iou_above")


@onnx_op("NonMaxSuppression", since=10)
def non_max_suppression(ctx: NodeContext) -> Value:
    boxes_shape, scores_shape = ctx.shape(0), ctx.shape(1)
    if boxes_shape is None or scores_shape is None or None in (boxes_shape[0], scores_shape[0], scores_shape[1]):
        raise ctx.error("NonMaxSuppression needs static batch and class counts (one TF.js op per pair)")
    batches, classes = int(scores_shape[0]), int(scores_shape[1])
    if batches * classes > MAX_NMS_PAIRS:
        raise ctx.error(f"{batches} x {classes} (batch, class) pairs exceed the {MAX_NMS_PAIRS} unrolled here")
    b = Builder(ctx)
    boxes = b.cast(ctx.input(0), F32)
    if int(ctx.attr("center_point_box", 0)):  # [xc, yc, w, h] -> [y1, x1, y2, x2]
        xc, yc, w, h = (b.take(boxes, k, 2) for k in range(4))
        half_w, half_h = b.mul(w, b.f32(0.5)), b.mul(h, b.f32(0.5))
        boxes = b.pack([b.sub(yc, half_h), b.sub(xc, half_w), b.add(yc, half_h), b.add(xc, half_w)], 2)
    scores = b.cast(ctx.input(1), F32)
    limit = _scalar(b, ctx, 2, I32, 0)
    iou = _strictly_above(b, ctx)
    floor = _scalar(b, ctx, 4, F32, _LOWEST)
    rows = []
    for n in range(batches):
        per_batch = b.take(boxes, n, 0)
        batch_scores = b.take(scores, n, 0)
        for c in range(classes):
            picked = b.op("NonMaxSuppressionV3", [per_batch, b.take(batch_scores, c, 0), limit, iou, floor],
                          dtype=I32, label=f"nms_{n}_{c}")
            zero = b.op("Mul", [picked, b.i32(0, "zero")], dtype=I32, label="zeros")
            rows.append(b.pack([b.op("AddV2", [zero, b.i32(n, "batch")], dtype=I32, label="batch_col"),
                                b.op("AddV2", [zero, b.i32(c, "class")], dtype=I32, label="class_col"), picked], 1))
    return rows[0] if len(rows) == 1 else ctx.op("ConcatV2", [*rows, ctx.int32(0, label="axis")],
                                                 {"N": len(rows), "Tidx": I32}, dtype=I32)


def _roi_axis(b: Builder, start: Value, extent: Value, bins: int, ratio: int, size: int | Value
              ) -> tuple[Value, Value, Value, Value, Value]:
    """Sample positions along one axis of every roi ([R, bins·ratio]): (valid, low, high, w_low, w_high).
    ``size`` is the map's length, or a float32 scalar read at run time."""
    bin_size = b.div(extent, b.f32(float(bins)))  # [R, 1]
    offsets = (np.arange(bins)[:, None] + (np.arange(ratio)[None, :] + 0.5) / ratio).reshape(1, -1)
    pos = b.add(start, b.mul(bin_size, b.f32(offsets.astype(np.float32), "offsets")))
    valid = b.op("LogicalAnd", [b.compare("GreaterEqual", pos, b.f32(-1.0)),
                                b.compare("LessEqual", pos, size if isinstance(size, Value) else b.f32(float(size)))],
                 dtype=BOOL, label="valid")
    pos = b.op("Maximum", [pos, b.f32(0.0)], label="at_least_0")
    low = b.unary("Floor", pos)
    last = b.sub(size, b.f32(1.0)) if isinstance(size, Value) else b.f32(size - 1.0)
    at_edge = b.compare("GreaterEqual", low, last)
    low = b.op("Minimum", [low, last], label="low")
    pos = b.select(at_edge, low, pos)
    high = b.op("Minimum", [b.add(low, b.f32(1.0)), last], label="high")
    frac = b.sub(pos, low)
    weight = b.cast(valid, F32)
    return weight, b.cast(low, I32), b.cast(high, I32), b.sub(b.f32(1.0), frac), frac


@onnx_op("RoiAlign", since=10)
def roi_align(ctx: NodeContext) -> Laid:
    dims = ctx.shape(0)
    if dims is None or len(dims) != 4:
        raise ctx.error("RoiAlign needs a 4-D input")
    if ctx.dtype(0) != F32:
        raise ctx.error(f"RoiAlign of {ctx.dtype(0)} data is not supported (float32 is)")
    mode = ctx.attr("mode", "avg")
    if mode not in ("avg", "max"):
        raise ctx.error(f"mode={mode!r} is not supported")
    ratio = int(ctx.attr("sampling_ratio", 0))
    if ratio <= 0:
        raise ctx.error("sampling_ratio=0 (adaptive, per box) is not supported; a fixed sampling_ratio is")
    transform = ctx.attr("coordinate_transformation_mode", "half_pixel" if ctx.opset >= 16 else "output_half_pixel")
    if transform not in ("half_pixel", "output_half_pixel"):
        raise ctx.error(f"coordinate_transformation_mode={transform!r} is not supported")
    half_pixel = transform == "half_pixel"
    out_h, out_w = int(ctx.attr("output_height", 1)), int(ctx.attr("output_width", 1))
    scale = float(ctx.attr("spatial_scale", 1.0))
    b = Builder(ctx)
    x = ctx.input_as(0, layout.channels_last(4))  # [N, H, W, C]
    shape = b.shape(x) if None in dims[2:] else None  # unknown map sizes are read when the model runs
    height, width = (int(d) if d is not None else b.cast(b.take(shape, 1 + j, 0), F32)
                     for j, d in enumerate(dims[2:]))
    rois = b.cast(ctx.input(1), F32)  # [R, 4]: x1, y1, x2, y2
    corner = [b.sub(b.mul(b.slice_axis(rois, 2, 1, k, k + 1), b.f32(scale)), b.f32(0.5 if half_pixel else 0.0))
              for k in range(4)]  # each [R, 1]
    extent_w, extent_h = b.sub(corner[2], corner[0]), b.sub(corner[3], corner[1])
    if not half_pixel:
        extent_w = b.op("Maximum", [extent_w, b.f32(1.0)], label="min_w")
        extent_h = b.op("Maximum", [extent_h, b.f32(1.0)], label="min_h")
    vy, y_low, y_high, wy_low, wy_high = _roi_axis(b, corner[1], extent_h, out_h, ratio, height)
    vx, x_low, x_high, wx_low, wx_high = _roi_axis(b, corner[0], extent_w, out_w, ratio, width)
    batch = b.reshape(b.cast(ctx.input(2), I32), [-1, 1, 1])
    zeros = b.op("AddV2", [b.mul(b.expand_dims(y_low, 2), b.i32(0, "z")), b.mul(b.expand_dims(x_low, 1),
                                                                                 b.i32(0, "z"))],
                 dtype=I32, label="grid_zeros")  # [R, Sy, Sx]
    batch_grid = b.op("AddV2", [zeros, batch], dtype=I32, label="batch_grid")
    valid = b.mul(b.expand_dims(vy, 2), b.expand_dims(vx, 1))
    reads = []
    for yi, wy in ((y_low, wy_low), (y_high, wy_high)):
        for xi, wx in ((x_low, wx_low), (x_high, wx_high)):
            coords = b.pack([batch_grid, b.op("AddV2", [zeros, b.expand_dims(yi, 2)], dtype=I32, label="yi"),
                             b.op("AddV2", [zeros, b.expand_dims(xi, 1)], dtype=I32, label="xi")], -1)
            weight = b.mul(b.mul(b.expand_dims(wy, 2), b.expand_dims(wx, 1)), valid)
            reads.append(b.mul(b.gather_nd(x, coords), b.expand_dims(weight, -1)))  # [R, Sy, Sx, C]
    if mode == "avg":
        samples = b.add(b.add(reads[0], reads[1]), b.add(reads[2], reads[3]))
        pool = "AvgPool"
    else:
        samples = b.op("Maximum", [b.op("Maximum", [reads[0], reads[1]], label="max01"),
                                   b.op("Maximum", [reads[2], reads[3]], label="max23")], label="max_corner")
        pool = "MaxPool"
    window = [1, ratio, ratio, 1]
    out = ctx.op(pool, [samples], {"ksize": window, "strides": window, "padding": "VALID", "data_format": "NHWC"},
                 dtype=F32)
    return ctx.laid(out, layout.channels_last(4))
