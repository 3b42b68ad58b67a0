"""Resize (and Upsample) as ResizeNearestNeighbor / ResizeBilinear, when TF.js computes exactly ONNX's result.

TF.js resizes with three coordinate rules (plain, ``align_corners``, ``half_pixel_centers``). For a
static size the frontend works out, per output pixel, the source index (nearest) or source
coordinate (linear) ONNX's attributes ask for, and uses the TF.js rule that gives the same; when
none does, it says so rather than converting approximately. Scales or sizes known only at run
time are computed in the graph instead (:mod:`.resize_runtime`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .resize_runtime import resize_at_run_time

NHWC = layout.channels_last(4)
#: TF.js options: (align_corners, half_pixel_centers).
_TF_RULES = ((False, False), (False, True), (True, False))


def _onnx_coords(out: int, size: int, scale: float, transform: str) -> np.ndarray:
    x = np.arange(out, dtype=np.float64)
    if transform == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if transform == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out > 1 else np.zeros(out)
    if transform == "align_corners":
        return x * (size - 1) / (out - 1) if out > 1 else np.zeros(out)
    if transform == "asymmetric":
        return x / scale
    if transform == "tf_half_pixel_for_nn":
        return (x + 0.5) / scale
    if transform == "half_pixel_symmetric":
        adjustment = out / (size * scale)
        center = size / 2
        return center * (1 - adjustment) + (x + 0.5) / scale - 0.5
    raise ValueError(transform)


def _round(coords: np.ndarray, mode: str) -> np.ndarray:
    if mode == "floor":
        return np.floor(coords)
    if mode == "ceil":
        return np.ceil(coords)
    frac = coords - np.floor(coords)
    tie = np.isclose(frac, 0.5, rtol=0, atol=1e-9)
    rounded = np.floor(coords + 0.5)
    if mode == "round_prefer_floor":
        return np.where(tie, np.floor(coords), rounded)
    if mode == "round_prefer_ceil":
        return np.where(tie, np.ceil(coords), rounded)
    raise ValueError(mode)


def _tf_coords(out: int, size: int, align: bool, half: bool) -> np.ndarray:
    x = np.arange(out, dtype=np.float64)
    ratio = (size - 1) / (out - 1) if align and out > 1 else size / out
    return ratio * (x + 0.5) if half else ratio * x


def _tf_nearest(out: int, size: int, align: bool, half: bool) -> np.ndarray:
    frac = _tf_coords(out, size, align, half)
    idx = np.minimum(size - 1, np.floor(frac + 0.5) if align else np.floor(frac))
    return np.maximum(0, idx) if half else idx


def _tf_linear(out: int, size: int, align: bool, half: bool) -> np.ndarray:
    frac = _tf_coords(out, size, align, half) - (0.5 if half else 0.0)
    return np.clip(frac, 0, size - 1)


def _matching_rule(mode: str, transform: str, nearest_mode: str, sizes: Sequence[int], outs: Sequence[int],
                   scales: Sequence[float]) -> tuple[bool, bool] | None:
    for align, half in _TF_RULES:
        ok = True
        for size, out, scale in zip(sizes, outs, scales):
            onnx = _onnx_coords(out, size, scale, transform)
            if mode == "nearest":
                want = np.clip(_round(onnx, nearest_mode), 0, size - 1)
                ok = ok and np.array_equal(want, _tf_nearest(out, size, align, half))
            else:
                ok = ok and np.allclose(np.clip(onnx, 0, size - 1), _tf_linear(out, size, align, half), atol=1e-6)
        if ok:
            return align, half
    return None


def resize_to(ctx: NodeContext, scales: Sequence[float] | None, sizes: Sequence[int] | None, *, mode: str,
              transform: str, nearest_mode: str) -> Laid:
    """Resize input 0 (rank 4, spatial axes only) by ``scales`` or to ``sizes`` (ONNX order, all axes)."""
    if ctx.rank(0) != 4:
        raise ctx.error(f"only 4-D (NCHW) resizes are supported, got rank {ctx.rank(0)}")
    dims = ctx.shape(0)
    if dims is None or None in dims[2:]:
        raise ctx.error("resizing needs static spatial dimensions")
    spatial = [int(d) for d in dims[2:]]
    if sizes is not None:
        if list(sizes[:2]) != [d if d is not None else s for d, s in zip(dims[:2], sizes[:2])]:
            raise ctx.error("only the spatial axes (H, W) can be resized")
        outs = [int(s) for s in sizes[2:]]
        spatial_scales = [o / s for o, s in zip(outs, spatial)]
    else:
        if [float(s) for s in scales[:2]] != [1.0, 1.0]:  # type: ignore[index]
            raise ctx.error(f"only the spatial axes (H, W) can be resized, got scales {list(scales)}")  # type: ignore[arg-type]
        spatial_scales = [float(s) for s in scales[2:]]  # type: ignore[index]
        outs = [int(np.floor(s * f)) for s, f in zip(spatial, spatial_scales)]
    if mode not in ("nearest", "linear", "bilinear"):
        raise ctx.error(f"mode={mode!r} is not supported (nearest and linear are)")
    mode = "linear" if mode == "bilinear" else mode
    rule = _matching_rule(mode, transform, nearest_mode, spatial, outs, spatial_scales)
    if rule is None:
        raise ctx.error(f"TF.js cannot resize {spatial} -> {outs} exactly like mode={mode!r}, "
                        f"coordinate_transformation_mode={transform!r}"
                        + (f", nearest_mode={nearest_mode!r}" if mode == "nearest" else ""),
                        hint="TF.js supports asymmetric, half_pixel and align_corners coordinates")
    align, half = rule
    x = ctx.input_as(0, NHWC)
    op = "ResizeNearestNeighbor" if mode == "nearest" else "ResizeBilinear"
    out = ctx.op(op, [x, ctx.ints(outs, label="size")], {"align_corners": align, "half_pixel_centers": half})
    return ctx.laid(out, NHWC)


def _runtime_input(ctx: NodeContext) -> int | None:
    """3 (sizes) or 2 (scales) when that input is computed at run time, else None."""
    if ctx.has_input(3) and ctx.const(3) is None:
        return 3
    if ctx.has_input(2) and ctx.const(2) is None and not (ctx.has_input(3) and ctx.const(3).size):
        return 2
    return None


@onnx_op("Resize", since=10)
def resize(ctx: NodeContext) -> Laid:
    if ctx.attr("antialias", 0):
        raise ctx.error("antialias=1 is not supported")
    if ctx.attr("axes") is not None or ctx.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise ctx.error("the axes and keep_aspect_ratio_policy attributes are not supported")
    mode = ctx.attr("mode", "nearest")
    if ctx.opset < 11:
        transform, nearest_mode = "asymmetric", "floor"
        if ctx.const(1) is None:
            return resize_at_run_time(ctx, scales_input=1, sizes_input=None, mode=mode, transform=transform,
                                      nearest_mode=nearest_mode)
        scales, sizes = ctx.require_const(1, "scales").reshape(-1).tolist(), None
    else:
        transform = ctx.attr("coordinate_transformation_mode", "half_pixel")
        nearest_mode = ctx.attr("nearest_mode", "round_prefer_floor")
        runtime = _runtime_input(ctx)
        if runtime is not None:  # never the output shape ONNX inferred or declared: it may not hold at run time
            if transform == "tf_crop_and_resize":
                raise ctx.error("coordinate_transformation_mode='tf_crop_and_resize' is not supported")
            return resize_at_run_time(ctx, scales_input=runtime if runtime == 2 else None,
                                      sizes_input=runtime if runtime == 3 else None, mode=mode,
                                      transform=transform, nearest_mode=nearest_mode)
        scales = ctx.const(2) if ctx.has_input(2) else None
        sizes = ctx.const(3) if ctx.has_input(3) else None
        if scales is not None and scales.size == 0:
            scales = None
        if scales is None and sizes is None:
            if ctx.output_shape(0) is not None and None not in ctx.output_shape(0):
                sizes = np.asarray(ctx.output_shape(0))
            else:
                raise ctx.error("the scales or sizes must be constants")
        scales = None if scales is None else scales.reshape(-1).tolist()
        sizes = None if sizes is None else [int(s) for s in sizes.reshape(-1)]
    if transform == "tf_crop_and_resize":
        raise ctx.error("coordinate_transformation_mode='tf_crop_and_resize' is not supported")
    return resize_to(ctx, scales, sizes if scales is None else None, mode=mode, transform=transform,
                     nearest_mode=nearest_mode)



