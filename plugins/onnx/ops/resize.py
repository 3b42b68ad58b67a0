"""Resize (and Upsample): ResizeNearestNeighbor / ResizeBilinear when TF.js computes exactly ONNX's result,
else an exact composition.

TF.js resizes with three coordinate rules (plain, ``align_corners``, ``half_pixel_centers``). For a
static size the frontend works out, per output pixel, the source index (nearest) or source
coordinate (linear) ONNX's attributes ask for, and uses the TF.js rule that gives the same; when
none does (or for cubic, antialias, tf_crop_and_resize, the ``axes`` attribute, other ranks) each
axis becomes gathers with weights computed at conversion time (:mod:`.resize_taps`). Scales or
sizes known only at run time are computed in the graph instead (:mod:`.resize_runtime`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import layout
from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .common import norm_axis
from .resize_runtime import resize_at_run_time
from .resize_taps import Interpolation, resize_by_taps, round_nearest, source_coords

NHWC = layout.channels_last(4)
#: TF.js options: (align_corners, half_pixel_centers).
_TF_RULES = ((False, False), (False, True), (True, False))
_TRANSFORMS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn",
               "half_pixel_symmetric", "tf_crop_and_resize")


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
    """The TF.js rule (align_corners, half_pixel_centers) giving ONNX's answer on every axis, else None. ONNX's
    source coordinates and nearest rounding are onnxruntime's float32 ones (:func:`.resize_taps.source_coords`): a
    near-tie (2.5000002 in float64, 2.5 in float32) rounds as onnxruntime rounds it (review r7 F2)."""
    for align, half in _TF_RULES:
        ok = True
        for size, out, scale in zip(sizes, outs, scales):
            onnx = source_coords(out, size, scale, transform, None)
            if mode == "nearest":
                want = np.clip(round_nearest(onnx, nearest_mode), 0, size - 1)
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


def _interpolation(ctx: NodeContext, mode: str, transform: str, nearest_mode: str) -> Interpolation:
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    if mode not in ("nearest", "linear", "cubic"):
        raise ctx.error(f"mode={mode!r} is not supported (nearest, linear and cubic are)")
    if transform not in _TRANSFORMS:
        raise ctx.error(f"coordinate_transformation_mode={transform!r} is not supported")
    if mode == "nearest" and nearest_mode not in ("floor", "ceil", "round_prefer_floor", "round_prefer_ceil"):
        raise ctx.error(f"nearest_mode={nearest_mode!r} is not supported")
    return Interpolation(mode, transform, nearest_mode, float(ctx.attr("cubic_coeff_a", -0.75)),
                         bool(ctx.attr("exclude_outside", 0)), bool(ctx.attr("antialias", 0)) and mode != "nearest",
                         float(ctx.attr("extrapolation_value", 0.0)))


def _static_plan(ctx: NodeContext, axes: list[int], scales: list[float] | None, sizes: list[int] | None
                 ) -> tuple[list[int], list[float]]:
    """Output lengths and per-axis scales of the resized ``axes``, as ONNX derives them."""
    dims = ctx.shape(0)
    if dims is None or any(dims[a] is None for a in axes):
        raise ctx.error("resizing needs the resized axes' sizes at conversion time")
    have = [int(dims[a]) for a in axes]
    if sizes is not None:
        if len(sizes) != len(axes):
            raise ctx.error(f"{len(sizes)} sizes for {len(axes)} axes")
        policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
        ratios = [np.float32(o) / np.float32(h) for o, h in zip(sizes, have)]
        if policy == "stretch":
            return [int(o) for o in sizes], [float(r) for r in ratios]
        if policy not in ("not_larger", "not_smaller"):
            raise ctx.error(f"keep_aspect_ratio_policy={policy!r} is not supported")
        common = min(ratios) if policy == "not_larger" else max(ratios)
        return [int(np.floor(float(common) * h + 0.5)) for h in have], [float(common)] * len(axes)
    if len(scales) != len(axes):  # type: ignore[arg-type]
        raise ctx.error(f"{len(scales)} scales for {len(axes)} axes")  # type: ignore[arg-type]
    return [int(np.floor(h * float(np.float32(f)))) for h, f in zip(have, scales)], \
        [float(f) for f in scales]  # type: ignore[union-attr]


def _native(ctx: NodeContext, axes: list[int], outs: list[int], scales: list[float], how: Interpolation) -> Laid | None:
    """ResizeNearestNeighbor / ResizeBilinear when one of TF.js's rules gives exactly ONNX's answer, else None."""
    if ctx.rank(0) != 4 or how.mode == "cubic" or how.antialias or how.transform == "tf_crop_and_resize":
        return None
    dims = ctx.shape(0)
    if dims is None or None in dims[2:]:
        return None
    full_out = [int(d) if d is not None else None for d in dims]
    full_scale = [1.0] * 4
    for a, o, f in zip(axes, outs, scales):
        full_out[a], full_scale[a] = o, f
    if full_out[:2] != list(dims[:2]) or full_scale[:2] != [1.0, 1.0]:
        return None
    spatial = [int(d) for d in dims[2:]]
    rule = _matching_rule(how.mode, how.transform, how.nearest_mode, spatial, full_out[2:], full_scale[2:])
    if rule is None:
        return None
    align, half = rule
    x = ctx.input_as(0, NHWC)
    op = "ResizeNearestNeighbor" if how.mode == "nearest" else "ResizeBilinear"
    out = ctx.op(op, [x, ctx.ints(full_out[2:], label="size")], {"align_corners": align, "half_pixel_centers": half})
    return ctx.laid(out, NHWC)


def _half_input(ctx: NodeContext) -> bool:
    """Whether input 0 is float16 in the ONNX model (computed in float32, its result rounded to float16)."""
    dtype = ctx.tensor(0).dtype
    return dtype is not None and np.dtype(dtype) == np.float16


def _const_vector(ctx: NodeContext, i: int) -> np.ndarray | None:
    """Input ``i`` as a flat array when it is given, known and not empty."""
    if not ctx.has_input(i):
        return None
    value = ctx.const(i)
    return None if value is None or value.size == 0 else value.reshape(-1)


def _unknown_unscaled_axes_dropped(ctx: NodeContext, axes: list[int], scales: list[float], how: Interpolation
                                   ) -> tuple[list[int], list[float]]:
    """The resized axes without those of scale 1 whose size is unknown (a dynamic batch): with scale 1 every
    coordinate rule but tf_crop_and_resize and tf_half_pixel_for_nn maps each output index to the same input
    index, so those axes are left as they are."""
    if how.transform in ("tf_crop_and_resize", "tf_half_pixel_for_nn"):
        return axes, scales
    dims = ctx.shape(0)
    if dims is None:
        return axes, scales
    kept = [(a, f) for a, f in zip(axes, scales) if not (dims[a] is None and float(f) == 1.0)]
    return [a for a, _ in kept], [f for _, f in kept]


def _resized_size_unknown(ctx: NodeContext, axes: list[int], scales: list[float] | None,
                          sizes: list[int] | None) -> bool:
    """Whether a resized axis has no size at conversion time (a symbolic H or W), so the static plan cannot
    compute the output lengths or coordinates."""
    dims = ctx.shape(0)
    return (scales is not None or sizes is not None) and dims is not None and any(dims[a] is None for a in axes)


def _unit_scale_is_identity(how: Interpolation, roi: tuple[float, float] | None) -> bool:
    """Whether an axis of scale 1 comes out as it is: at scale 1 tf_half_pixel_for_nn samples ``x + 0.5`` (kept
    only by nearest's floor and round_prefer_floor), tf_crop_and_resize ``x`` only over the roi [0, 1]."""
    if how.transform == "tf_half_pixel_for_nn":
        return how.mode == "nearest" and how.nearest_mode in ("floor", "round_prefer_floor")
    if how.transform == "tf_crop_and_resize":
        return roi is not None and (float(roi[0]), float(roi[1])) == (0.0, 1.0)
    return True


def _constants_at_run_time(ctx: NodeContext, how: Interpolation, scales: list[float] | None,
                           axes: list[int] | None, rois: list | None) -> Laid:
    """Constant scales or sizes over axes of unknown size: onnxruntime's arithmetic built in the graph
    (:mod:`.resize_runtime`, which reads the constant input as it would a computed one). Batch and channel
    entries must leave their axes alone; that module only resizes H and W."""
    listed = axes if axes is not None else list(range(ctx.rank(0)))
    scales_input = None if scales is None else (1 if ctx.opset < 11 else 2)
    sizes_input = None if scales is not None else 3
    given = _const_vector(ctx, scales_input if scales_input is not None else 3)
    if given is None:
        raise ctx.error("resizing to the inferred output shape needs the resized axes' sizes at conversion time")
    for at, a in enumerate(listed):
        if a < 2 and not _unit_scale_is_identity(how, None if rois is None else rois[at]):
            raise ctx.error(f"coordinate_transformation_mode={how.transform!r} moves or crops axis {a} even at scale "
                            "1, and with H or W of unknown size only H and W are resized",
                            hint="list only H and W in axes")
    dims = ctx.shape(0) or [None] * len(listed)
    for a, v in zip(listed, given.tolist()):
        keeps = float(v) == 1.0 if scales is not None else dims[a] is not None and int(v) == dims[a]
        if a < 2 and not keeps:
            raise ctx.error(f"only the spatial axes (H, W) can be resized when a resized axis has no size at "
                            f"conversion time: {'scales' if scales is not None else 'sizes'} {given.tolist()} may "
                            f"resize axis {a} (its size: {dims[a] if dims[a] is not None else 'unknown'})")
    return resize_at_run_time(ctx, scales_input=scales_input, sizes_input=sizes_input, mode=how.mode,
                              transform=how.transform, nearest_mode=how.nearest_mode, cubic_a=how.cubic_a,
                              exclude_outside=how.exclude_outside, axes=axes,
                              policy=ctx.attr("keep_aspect_ratio_policy", "stretch"),
                              roi_input=1 if rois is not None else None, extrapolation=how.extrapolation,
                              antialias=how.antialias, unit_axes_checked=True)


@onnx_op("Resize", since=10)
def resize(ctx: NodeContext) -> Laid:
    mode = ctx.attr("mode", "nearest")
    rank = ctx.rank(0)
    axes_attr = ctx.attr("axes")
    axes = list(range(rank)) if axes_attr is None else [norm_axis(ctx, int(a), rank) for a in axes_attr]
    if ctx.opset < 11:
        how = _interpolation(ctx, mode, "asymmetric", "floor")
        if ctx.const(1) is None:
            return resize_at_run_time(ctx, scales_input=1, sizes_input=None, mode=how.mode, transform=how.transform,
                                      nearest_mode=how.nearest_mode)
        scales, sizes = ctx.require_const(1, "scales").reshape(-1).tolist(), None
        rois = None
    else:
        transform = ctx.attr("coordinate_transformation_mode", "half_pixel")
        how = _interpolation(ctx, mode, transform, ctx.attr("nearest_mode", "round_prefer_floor"))
        runtime = _runtime_input(ctx)
        if runtime is not None:  # never the output shape ONNX inferred or declared: it may not hold at run time
            if how.transform == "tf_crop_and_resize" and (not ctx.has_input(1) or (
                    ctx.const(1) is not None and ctx.const(1).size == 0)):
                raise ctx.error("coordinate_transformation_mode='tf_crop_and_resize' needs the roi (input 1)")
            return resize_at_run_time(ctx, scales_input=runtime if runtime == 2 else None,
                                      sizes_input=runtime if runtime == 3 else None, mode=how.mode,
                                      transform=how.transform, nearest_mode=how.nearest_mode,
                                      cubic_a=how.cubic_a, exclude_outside=how.exclude_outside,
                                      axes=None if axes_attr is None else axes,
                                      policy=ctx.attr("keep_aspect_ratio_policy", "stretch"),
                                      roi_input=1 if how.transform == "tf_crop_and_resize" else None,
                                      extrapolation=how.extrapolation, antialias=how.antialias)
        scale_values, size_values = _const_vector(ctx, 2), _const_vector(ctx, 3)
        scales = None if scale_values is None else scale_values.tolist()
        sizes = None if size_values is None else [int(v) for v in size_values]
        if scales is None and sizes is None:
            shape = ctx.output_shape(0)
            if shape is None or None in shape or axes_attr is not None:
                raise ctx.error("the scales or sizes must be constants")
            sizes = [int(d) for d in shape]
        rois = None
        if how.transform == "tf_crop_and_resize":
            roi = _const_vector(ctx, 1)
            if roi is None:
                raise ctx.error("tf_crop_and_resize needs the roi (input 1) as a constant")
            if roi.size != 2 * len(axes):
                raise ctx.error(f"roi has {roi.size} values for {len(axes)} axes")
            rois = [(float(roi[k]), float(roi[len(axes) + k])) for k in range(len(axes))]
    if scales is not None and rois is None and len(scales) == len(axes):
        axes, scales = _unknown_unscaled_axes_dropped(ctx, axes, scales, how)
    if _resized_size_unknown(ctx, axes, scales, sizes):
        listed = None if axes_attr is None else [norm_axis(ctx, int(a), rank) for a in axes_attr]  # all, in order
        return _constants_at_run_time(ctx, how, scales, listed, rois)
    outs, axis_scales = _static_plan(ctx, axes, scales, sizes if scales is None else None)
    # TF.js's ResizeBilinear lerps (a + (b - a)·t): next to ±Inf it gives NaN where onnxruntime's weighted taps give
    # ±Inf, and a weight-0 NaN neighbour is left out; --exact_special_values takes onnxruntime's taps instead. So
    # does a float16 input: the lerp is a float32 ulp off onnxruntime's sum at times, a float16 step once rounded
    half = _half_input(ctx)
    exact = how.mode == "linear" and (bool(getattr(ctx.options, "exact_special_values", False)) or half)
    native = None if exact else _native(ctx, axes, outs, axis_scales, how)
    if native is not None:
        return native
    return resize_by_taps(ctx, axes, outs, axis_scales, how, rois)
