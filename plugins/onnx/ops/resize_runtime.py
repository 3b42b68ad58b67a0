"""ONNX Resize whose ``scales`` or ``sizes`` are only known at run time, computed exactly in the graph.

TF.js's ResizeBilinear / ResizeNearestNeighbor take the output size as a tensor, but their three
coordinate rules match ONNX's only for some sizes (see :mod:`.resize`), which a conversion cannot
check when the sizes arrive at run time. So this builds ONNX's own arithmetic, one spatial axis
at a time, from TF.js ops that every backend has: the output length (``sizes``, or
``floor(in * scale)``), the scale (``scales``, or ``out / in``), the source coordinate of each
output index by ``coordinate_transformation_mode``, then the rounding of ``nearest_mode`` and a
GatherV2 (nearest), or the two neighbours and their weights (linear), all in float32 as
onnxruntime computes them.

Assumed, since it cannot be checked before run time: the batch and channel entries of the runtime
``scales``/``sizes`` leave those axes as they are (resizing them is not supported either way).
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType

from .. import layout
from ..context import Laid, NodeContext

NHWC = layout.channels_last(4)
#: Transforms built here (tf_crop_and_resize needs an roi and extrapolation: refused).
TRANSFORMS = frozenset({"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn",
                        "half_pixel_symmetric"})
F32, I32 = DType.FLOAT32, DType.INT32


class _Axis:
    """Builds one spatial axis's index arithmetic; ``k`` is 0 (H) or 1 (W)."""

    def __init__(self, ctx: NodeContext, k: int) -> None:
        self.ctx, self.k = ctx, k

    def op(self, op: str, inputs: list, attrs: dict | None = None, *, dtype: DType = F32, label: str) -> object:
        return self.ctx.op(op, inputs, attrs, dtype=dtype, label=f"{'hw'[self.k]}/{label}")

    def f32(self, value: float, label: str) -> object:
        return self.ctx.make_const(np.float32(value), label=f"{'hw'[self.k]}/{label}")

    def i32(self, value: int, label: str) -> object:
        return self.ctx.make_const(np.int32(value), label=f"{'hw'[self.k]}/{label}")

    def pick(self, vector: object, index: int, dtype: DType, label: str) -> object:
        """vector[index] as a scalar."""
        return self.op("GatherV2", [vector, self.i32(index, f"{label}_at"), self.i32(0, f"{label}_axis")],
                       {"batch_dims": 0, "Tindices": I32, "Tparams": dtype, "Taxis": I32}, dtype=dtype, label=label)

    def cast(self, value: object, src: DType, dst: DType, label: str) -> object:
        return self.op("Cast", [value], {"SrcT": src, "DstT": dst, "Truncate": False}, dtype=dst, label=label)


def _coordinates(a: _Axis, pos: object, in_f: object, out_f: object, scale: object, transform: str) -> object:
    """ONNX's source coordinate of each output index ``pos`` (float32 vector)."""
    half = a.f32(0.5, "half")
    if transform == "asymmetric":
        return a.op("RealDiv", [pos, scale], label="coord")
    shifted = a.op("RealDiv", [a.op("AddV2", [pos, half], label="pos_half"), scale], label="pos_half_scaled")
    if transform == "tf_half_pixel_for_nn":
        return shifted
    if transform in ("half_pixel", "pytorch_half_pixel"):
        coord = a.op("Sub", [shifted, half], label="coord")
        if transform == "half_pixel":
            return coord
        one = a.f32(1.0, "one")  # pytorch_half_pixel: coordinate 0 when the output length is 1
        more = a.op("Cast", [a.op("Greater", [out_f, one], dtype=DType.BOOL, label="out_gt_1")],
                    {"SrcT": DType.BOOL, "DstT": F32, "Truncate": False}, label="out_gt_1_f")
        return a.op("Mul", [coord, more], label="coord_pt")
    if transform == "align_corners":  # pos * (in - 1) / (out - 1), 0 when out == 1
        one = a.f32(1.0, "one")
        span = a.op("Maximum", [a.op("Sub", [out_f, one], label="out_m1"), one], label="out_span")
        return a.op("RealDiv", [a.op("Mul", [pos, a.op("Sub", [in_f, one], label="in_m1")], label="pos_in"), span],
                    label="coord")
    if transform == "half_pixel_symmetric":
        adjustment = a.op("RealDiv", [out_f, a.op("Mul", [in_f, scale], label="in_scaled")], label="adjust")
        center = a.op("Mul", [in_f, half], label="center")
        offset = a.op("Mul", [center, a.op("Sub", [a.f32(1.0, "one"), adjustment], label="one_m_adj")],
                      label="offset")
        return a.op("AddV2", [offset, a.op("Sub", [shifted, half], label="hp")], label="coord")
    raise ValueError(transform)


def _round(a: _Axis, coord: object, nearest_mode: str) -> object:
    half = a.f32(0.5, "round_half")
    if nearest_mode == "floor":
        return a.op("Floor", [coord], label="rounded")
    if nearest_mode == "ceil":
        return a.op("Ceil", [coord], label="rounded")
    if nearest_mode == "round_prefer_floor":  # ties go down: ceil(v - 0.5)
        return a.op("Ceil", [a.op("Sub", [coord, half], label="minus_half")], label="rounded")
    if nearest_mode == "round_prefer_ceil":  # ties go up: floor(v + 0.5)
        return a.op("Floor", [a.op("AddV2", [coord, half], label="plus_half")], label="rounded")
    raise ValueError(nearest_mode)


def resize_at_run_time(ctx: NodeContext, *, scales_input: int | None, sizes_input: int | None, mode: str,
                       transform: str, nearest_mode: str) -> Laid:
    """Resize input 0 (NCHW, spatial axes) by the runtime ``scales`` or to the runtime ``sizes`` input."""
    if ctx.rank(0) != 4:
        raise ctx.error(f"only 4-D (NCHW) resizes are supported, got rank {ctx.rank(0)}")
    mode = "linear" if mode == "bilinear" else mode
    if mode not in ("nearest", "linear"):
        raise ctx.error(f"mode={mode!r} with scales or sizes computed at run time is not supported "
                        "(nearest and linear are)")
    if transform not in TRANSFORMS:
        raise ctx.error(f"coordinate_transformation_mode={transform!r} with scales or sizes computed at run time "
                        "is not supported")
    if mode == "nearest" and nearest_mode not in ("floor", "ceil", "round_prefer_floor", "round_prefer_ceil"):
        raise ctx.error(f"nearest_mode={nearest_mode!r} is not supported")
    y = ctx.input_as(0, NHWC)
    dtype = y.dtype or F32
    if mode == "linear" and dtype != F32:
        raise ctx.error(f"linear resizing of {dtype.tf_name} tensors is not supported (float32 is)")
    shape = ctx.op("Shape", [y], {"out_type": I32}, dtype=I32, label="in_shape")
    sizes = ctx.input(sizes_input) if sizes_input is not None else None
    scales = ctx.input(scales_input) if scales_input is not None else None
    if sizes is not None and sizes.dtype != I32:
        sizes = ctx.op("Cast", [sizes], {"SrcT": sizes.dtype, "DstT": I32, "Truncate": False}, dtype=I32,
                       label="sizes_i32")
    for k in (0, 1):
        a = _Axis(ctx, k)
        axis = 1 + k  # NHWC axis of ONNX axis 2 + k
        in_i = a.pick(shape, axis, I32, "in")
        in_f = a.cast(in_i, I32, F32, "in_f")
        if sizes is not None:
            out_i = a.pick(sizes, 2 + k, I32, "out")
            out_f = a.cast(out_i, I32, F32, "out_f")
            scale = a.op("RealDiv", [out_f, in_f], label="scale")
        else:
            scale = a.pick(scales, 2 + k, F32, "scale")
            out_f = a.op("Floor", [a.op("Mul", [in_f, scale], label="in_times_scale")], label="out_f")
            out_i = a.cast(out_f, F32, I32, "out")
        pos = a.cast(a.op("Range", [a.i32(0, "start"), out_i, a.i32(1, "delta")], {"Tidx": I32}, dtype=I32,
                          label="range"), I32, F32, "pos")
        coord = _coordinates(a, pos, in_f, out_f, scale, transform)
        last_f = a.op("Sub", [in_f, a.f32(1.0, "one_last")], label="last_f")
        axis_v = a.i32(axis, "gather_axis")
        gather = {"batch_dims": 0, "Tindices": I32, "Tparams": dtype, "Taxis": I32}
        if mode == "nearest":
            index_f = a.op("Minimum", [a.op("Maximum", [_round(a, coord, nearest_mode), a.f32(0.0, "zero")],
                                            label="at_least_0"), last_f], label="index_f")
            index = a.cast(index_f, F32, I32, "index")
            y = a.op("GatherV2", [y, index, axis_v], gather, dtype=dtype, label="gathered")
            continue
        coord = a.op("Minimum", [a.op("Maximum", [coord, a.f32(0.0, "zero")], label="at_least_0"), last_f],
                     label="clamped")
        low_f = a.op("Floor", [coord], label="low_f")
        low = a.cast(low_f, F32, I32, "low")
        last_i = a.op("Sub", [in_i, a.i32(1, "one_i")], dtype=I32, label="last_i")
        high = a.op("Minimum", [a.op("AddV2", [low, a.i32(1, "next")], dtype=I32, label="low_p1"), last_i],
                    dtype=I32, label="high")
        weight = a.op("Sub", [coord, low_f], label="weight")
        weight = a.op("Reshape", [weight, ctx.ints([-1, 1, 1] if k == 0 else [-1, 1], label=f"{'hw'[k]}/w_shape")],
                      {"Tshape": I32}, label="weight_b")
        y0 = a.op("GatherV2", [y, low, axis_v], gather, label="y_low")
        y1 = a.op("GatherV2", [y, high, axis_v], gather, label="y_high")
        y = a.op("AddV2", [y0, a.op("Mul", [a.op("Sub", [y1, y0], label="dy"), weight], label="dy_w")], label="lerp")
    return ctx.laid(y, NHWC)
