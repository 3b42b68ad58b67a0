"""ONNX Resize whose ``scales`` or ``sizes`` are only known at run time, computed exactly in the graph.

TF.js's ResizeBilinear / ResizeNearestNeighbor take the output size as a tensor, but their three
coordinate rules match ONNX's only for some sizes (see :mod:`.resize`), which a conversion cannot
check when the sizes arrive at run time. So this builds ONNX's own arithmetic, one spatial axis
at a time, from TF.js ops that every backend has: the output length (``sizes``, or
``floor(in * scale)``), the scale (``scales``, or ``out / in``), the source coordinate of each
output index by ``coordinate_transformation_mode``, then the rounding of ``nearest_mode`` and a
GatherV2 (nearest), the two neighbours and their weights (linear) or four (cubic, with
``cubic_coeff_a`` and ``exclude_outside``), all in float32 as onnxruntime computes them.
``tf_crop_and_resize`` reads the roi at run time and masks outputs from outside it with
``extrapolation_value``; ``antialias`` (static input sizes) builds the [out, in] filter matrix in the
graph and applies it with a BatchMatMulV2; the ``axes`` attribute and ``keep_aspect_ratio_policy``
pick and combine the per-axis entries.

Assumed, since it cannot be checked before run time: the batch and channel entries of the runtime
``scales``/``sizes`` leave those axes as they are (resizing them is not supported either way).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType

from .. import layout
from ..context import Laid, NodeContext

NHWC = layout.channels_last(4)
#: Transforms built here.
TRANSFORMS = frozenset({"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn",
                        "half_pixel_symmetric", "tf_crop_and_resize"})
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
        return self.ctx.int32(value, label=f"{'hw'[self.k]}/{label}")

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


def _cubic_taps(a: _Axis, coord: object, in_i: object, last_f: object, gather: dict, y: object, axis_v: object,
                coeff_a: float, exclude_outside: bool, k: int) -> object:
    """Keys' cubic convolution of the 4 neighbours (edge-clamped; or dropped and renormalized with
    ``exclude_outside``), as onnxruntime computes it."""
    base = a.op("Floor", [coord], label="cubic_base")
    t = a.op("Sub", [coord, base], label="cubic_t")
    zero, one = a.f32(0.0, "cubic_zero"), a.f32(1.0, "cubic_one")

    def near(d: object, tag: str) -> object:  # (A+2)d^3 - (A+3)d^2 + 1
        poly = a.op("Sub", [a.op("Mul", [a.f32(coeff_a + 2, f"{tag}_a2"), d], label=f"{tag}_p1"),
                            a.f32(coeff_a + 3, f"{tag}_a3")], label=f"{tag}_p2")
        return a.op("AddV2", [a.op("Mul", [a.op("Mul", [poly, d], label=f"{tag}_p3"), d], label=f"{tag}_p4"), one],
                    label=f"{tag}_w")

    def far(d: object, tag: str) -> object:  # ((A d - 5A) d + 8A) d - 4A
        poly = a.op("Sub", [a.op("Mul", [a.f32(coeff_a, f"{tag}_a"), d], label=f"{tag}_p1"),
                            a.f32(5 * coeff_a, f"{tag}_a5")], label=f"{tag}_p2")
        poly = a.op("AddV2", [a.op("Mul", [poly, d], label=f"{tag}_p3"), a.f32(8 * coeff_a, f"{tag}_a8")],
                    label=f"{tag}_p4")
        return a.op("Sub", [a.op("Mul", [poly, d], label=f"{tag}_p5"), a.f32(4 * coeff_a, f"{tag}_a4")],
                    label=f"{tag}_w")

    one_m_t = a.op("Sub", [one, t], label="one_m_t")
    weights = [far(a.op("AddV2", [t, one], label="t_p1"), "w0"), near(t, "w1"), near(one_m_t, "w2"),
               far(a.op("AddV2", [one_m_t, one], label="two_m_t"), "w3")]
    positions = [a.op("AddV2", [base, a.f32(float(o), f"off{o + 1}")], label=f"pos{o + 1}") for o in (-1, 0, 1, 2)]
    if exclude_outside:
        kept = []
        for j, (w, p) in enumerate(zip(weights, positions)):
            inside = a.op("LogicalAnd", [a.op("GreaterEqual", [p, zero], dtype=DType.BOOL, label=f"ge{j}"),
                                         a.op("LessEqual", [p, last_f], dtype=DType.BOOL, label=f"le{j}")],
                          dtype=DType.BOOL, label=f"inside{j}")
            kept.append(a.op("Mul", [w, a.cast(inside, DType.BOOL, F32, f"inside{j}_f")], label=f"kept{j}"))
        total = a.op("AddV2", [a.op("AddV2", [kept[0], kept[1]], label="sum01"),
                               a.op("AddV2", [kept[2], kept[3]], label="sum23")], label="sum")
        weights = [a.op("RealDiv", [w, total], label=f"norm{j}") for j, w in enumerate(kept)]
    shape = [-1, 1, 1] if k == 0 else [-1, 1]
    out = None
    for j, (w, p) in enumerate(zip(weights, positions)):
        index = a.cast(a.op("Minimum", [a.op("Maximum", [p, zero], label=f"clamp_lo{j}"), last_f],
                            label=f"clamp_hi{j}"), F32, I32, f"index{j}")
        picked = a.op("GatherV2", [y, index, axis_v], gather, label=f"tap{j}")
        w = a.op("Reshape", [w, a.ctx.ints(shape, label=f"{'hw'[k]}/w{j}_shape")], {"Tshape": I32}, label=f"w{j}_b")
        term = a.op("Mul", [picked, w], label=f"term{j}")
        out = term if out is None else a.op("AddV2", [out, term], label=f"acc{j}")
    return out


def resize_at_run_time(ctx: NodeContext, *, scales_input: int | None, sizes_input: int | None, mode: str,
                       transform: str, nearest_mode: str, cubic_a: float = -0.75,
                       exclude_outside: bool = False, axes: Sequence[int] | None = None,
                       policy: str = "stretch", roi_input: int | None = None, extrapolation: float = 0.0,
                       antialias: bool = False, unit_axes_checked: bool = False) -> Laid:
    """Resize input 0 (NCHW, spatial axes) by the runtime ``scales`` or to the runtime ``sizes`` input.
    ``unit_axes_checked``: the caller made sure (constant scales or sizes) that ``axes`` 0 and 1 stay as they are."""
    if ctx.rank(0) != 4:
        raise ctx.error(f"only 4-D (NCHW) resizes are supported, got rank {ctx.rank(0)}")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    if mode not in ("nearest", "linear", "cubic"):
        raise ctx.error(f"mode={mode!r} with scales or sizes computed at run time is not supported "
                        "(nearest, linear and cubic are)")
    if transform not in TRANSFORMS:
        raise ctx.error(f"coordinate_transformation_mode={transform!r} with scales or sizes computed at run time "
                        "is not supported")
    if mode == "nearest" and nearest_mode not in ("floor", "ceil", "round_prefer_floor", "round_prefer_ceil"):
        raise ctx.error(f"nearest_mode={nearest_mode!r} is not supported")
    y = ctx.input_as(0, NHWC)
    dtype = y.dtype or F32
    if mode != "nearest" and dtype != F32:
        raise ctx.error(f"{mode} resizing of {dtype.tf_name} tensors is not supported (float32 is)")
    shape = ctx.shape_of(y, label="in_shape")
    sizes = ctx.input(sizes_input) if sizes_input is not None else None
    scales = ctx.input(scales_input) if scales_input is not None else None
    if sizes is not None and sizes.dtype != I32:
        sizes = ctx.op("Cast", [sizes], {"SrcT": sizes.dtype, "DstT": I32, "Truncate": False}, dtype=I32,
                       label="sizes_i32")
    if axes is not None and any(a not in (2, 3) for a in axes) and not unit_axes_checked:
        raise ctx.error(f"with scales or sizes computed at run time only the spatial axes can be resized, "
                        f"got axes {list(axes)}")
    plans = {}  # k -> (in_i, in_f, out_i, out_f, scale) of each resized spatial axis
    for k in (0, 1):
        at = 2 + k if axes is None else (list(axes).index(2 + k) if 2 + k in axes else None)
        if at is None:
            continue
        a = _Axis(ctx, k)
        in_i = a.pick(shape, 1 + k, I32, "in")
        in_f = a.cast(in_i, I32, F32, "in_f")
        if sizes is not None:
            out_i = a.pick(sizes, at, I32, "out")
            out_f = a.cast(out_i, I32, F32, "out_f")
            scale = a.op("RealDiv", [out_f, in_f], label="scale")
        else:
            scale = a.pick(scales, at, F32, "scale")
            out_f = a.op("Floor", [a.op("Mul", [in_f, scale], label="in_times_scale")], label="out_f")
            out_i = a.cast(out_f, F32, I32, "out")
        plans[k] = [in_i, in_f, out_i, out_f, scale]
    if policy != "stretch":  # one scale for every resized axis: the smallest/largest; lengths round half up
        if sizes is None or policy not in ("not_larger", "not_smaller"):
            raise ctx.error(f"keep_aspect_ratio_policy={policy!r} is not supported here")
        common = None
        for k, plan in plans.items():
            common = plan[4] if common is None else ctx.op("Minimum" if policy == "not_larger" else "Maximum",
                                                           [common, plan[4]], label="common_scale")
        if common is not None and (axes is None or any(a in (0, 1) for a in axes)):
            # N and C listed too: their ratio (1, as they stay) joins the common scale, as in onnxruntime and the
            # spec (session 31, r7: sizes [1, 2, 10, 8] of [1, 2, 5, 5] not_larger gave 8x8, onnxruntime 5x5)
            common = ctx.op("Minimum" if policy == "not_larger" else "Maximum",
                            [common, ctx.make_const(np.float32(1.0), label="unit_ratio")], dtype=F32,
                            label="common_scale_unit")
        for k, plan in plans.items():
            a = _Axis(ctx, k)
            out_f = a.op("Floor", [a.op("AddV2", [a.op("Mul", [plan[1], common], label="kept_ratio"),
                                                  a.f32(0.5, "round_half")], label="plus_half")], label="out_f_kept")
            plan[2:] = [a.cast(out_f, F32, I32, "out_kept"), out_f, common]
    static_sizes = {}
    if antialias:
        dims = ctx.shape(0)
        for k in plans:
            if dims is None or dims[2 + k] is None:
                raise ctx.error("antialias=1 with scales or sizes computed at run time needs static input sizes")
            static_sizes[k] = int(dims[2 + k])
    roi_entries = {}
    if transform == "tf_crop_and_resize":  # roi: starts then ends of the listed (or all) axes
        if roi_input is None:
            raise ctx.error("tf_crop_and_resize needs the roi input")
        roi = ctx.input(roi_input)
        roi = _Axis(ctx, 0).cast(roi, roi.dtype or F32, F32, "roi_f") if roi.dtype != F32 else roi
        listed = list(axes) if axes is not None else list(range(4))
        for k in plans:
            at = listed.index(2 + k)
            first = _Axis(ctx, k)
            roi_entries[k] = (first.pick(roi, at, F32, "roi_start"), first.pick(roi, len(listed) + at, F32, "roi_end"))
    mask = None
    for k, (in_i, in_f, out_i, out_f, scale) in plans.items():
        a = _Axis(ctx, k)
        axis = 1 + k  # NHWC axis of ONNX axis 2 + k
        pos = a.cast(a.op("Range", [a.i32(0, "start"), out_i, a.i32(1, "delta")], {"Tidx": I32}, dtype=I32,
                          label="range"), I32, F32, "pos")
        last_f = a.op("Sub", [in_f, a.f32(1.0, "one_last")], label="last_f")
        if transform == "tf_crop_and_resize":
            coord = _crop_coordinates(a, pos, last_f, out_f, roi_entries[k])
            outside = a.op("LogicalOr", [a.op("Less", [coord, a.f32(0.0, "zero_c")], dtype=DType.BOOL, label="below"),
                                         a.op("Greater", [coord, last_f], dtype=DType.BOOL, label="above")],
                           dtype=DType.BOOL, label="outside")
            outside = a.op("Reshape", [a.cast(outside, DType.BOOL, F32, "outside_f"),
                                       ctx.ints([-1, 1, 1] if k == 0 else [-1, 1], label=f"{'hw'[k]}/o_shape")],
                           {"Tshape": I32}, label="outside_b")
            mask = outside if mask is None else ctx.op("Maximum", [mask, outside], label="outside_any")
        else:
            coord = _coordinates(a, pos, in_f, out_f, scale, transform)
        axis_v = a.i32(axis, "gather_axis")
        gather = {"batch_dims": 0, "Tindices": I32, "Tparams": dtype, "Taxis": I32}
        if antialias and mode != "nearest":
            y = _antialias_axis(a, y, coord, scale, mode, cubic_a, exclude_outside, static_sizes[k], k)
            continue
        if mode == "nearest":
            index_f = a.op("Minimum", [a.op("Maximum", [_round(a, coord, nearest_mode), a.f32(0.0, "zero")],
                                            label="at_least_0"), last_f], label="index_f")
            index = a.cast(index_f, F32, I32, "index")
            y = a.op("GatherV2", [y, index, axis_v], gather, dtype=dtype, label="gathered")
            continue
        if mode == "cubic":
            y = _cubic_taps(a, coord, in_i, last_f, gather, y, axis_v, cubic_a, exclude_outside, k)
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
    if mask is not None:  # tf_crop_and_resize: outputs whose source lies outside take extrapolation_value
        keep = ctx.op("Sub", [ctx.make_const(np.float32(1.0), label="one"), mask], label="inside")
        fill = ctx.op("Mul", [mask, ctx.make_const(np.float32(extrapolation), label="extrapolation")], label="fill")
        y = ctx.op("AddV2", [ctx.op("Mul", [y, keep], label="kept"), fill], label="extrapolated")
    return ctx.laid(y, NHWC)


def _antialias_axis(a: _Axis, y: object, coord: object, scale: object, mode: str, coeff_a: float,
                    exclude_outside: bool, size: int, k: int) -> object:
    """An antialiased (filter widened by 1/scale when downsampling) resize of NHWC axis 1 + k, as the [out, in]
    matrix ONNX's taps make: kernel weights of every source position in a static range that covers any
    window (scale >= 1/in, else the output is empty), normalized per output, edge positions clamped."""
    ctx = a.ctx
    support = 2 if mode == "cubic" else 1
    positions = np.arange(-(support * size + 3), (support + 1) * size + 4)
    s = a.op("Minimum", [scale, a.f32(1.0, "aa_one")], label="aa_scale")
    d = a.op("Mul", [a.op("Sub", [a.f32(positions.astype(np.float32)[None, :], "aa_positions"),
                                  a.op("Reshape", [coord, ctx.ints([-1, 1], label=f"{'hw'[k]}/aa_col")],
                                       {"Tshape": I32}, label="aa_coord")], label="aa_offset"), s], label="aa_d")
    d = a.op("Abs", [d], label="aa_abs")
    if mode == "cubic":
        near = a.op("AddV2", [a.op("Mul", [a.op("Mul", [a.op("Sub", [a.op("Mul", [a.f32(coeff_a + 2, "aa_a2"), d],
                                                                            label="aa_n1"),
                                                                     a.f32(coeff_a + 3, "aa_a3")], label="aa_n2"), d],
                                                  label="aa_n3"), d], label="aa_n4"), a.f32(1.0, "aa_n_one")],
                    label="aa_near")
        far = a.op("Sub", [a.op("Mul", [a.op("AddV2", [a.op("Mul", [a.op("Sub", [a.op("Mul", [a.f32(coeff_a, "aa_a"), d],
                                                                                      label="aa_f1"),
                                                                               a.f32(5 * coeff_a, "aa_a5")],
                                                                         label="aa_f2"), d], label="aa_f3"),
                                                       a.f32(8 * coeff_a, "aa_a8")], label="aa_f4"), d], label="aa_f5"),
                           a.f32(4 * coeff_a, "aa_a4")], label="aa_far")
        zero = a.op("ZerosLike", [d], label="aa_zero")
        weight = a.op("SelectV2", [a.op("LessEqual", [d, a.f32(1.0, "aa_le1")], dtype=DType.BOOL, label="aa_is_near"),
                                   near, a.op("SelectV2", [a.op("Less", [d, a.f32(2.0, "aa_lt2")], dtype=DType.BOOL,
                                                                label="aa_is_far"), far, zero], {"T": F32},
                                              label="aa_far_or_0")], {"T": F32}, label="aa_w")
    else:
        weight = a.op("Maximum", [a.op("Sub", [a.f32(1.0, "aa_l1"), d], label="aa_tri"), a.f32(0.0, "aa_l0")],
                      label="aa_w")
    clamp = np.zeros((positions.size, size), np.float32)
    clamp[np.arange(positions.size), np.clip(positions, 0, size - 1)] = 1.0
    if exclude_outside:
        clamp[(positions < 0) | (positions >= size)] = 0.0
    matrix = a.op("MatMul", [weight, a.f32(clamp, "aa_clamp")], {"transpose_a": False, "transpose_b": False},
                  label="aa_matrix")  # [out, in], not yet normalized
    total = a.op("Sum", [matrix, ctx.ints([1], label=f"{'hw'[k]}/aa_sum_axis")], {"keep_dims": True, "Tidx": I32},
                 label="aa_total")
    matrix = a.op("RealDiv", [matrix, total], label="aa_normalized")
    # apply along NHWC axis 1 + k: [B, in, R] -> [B, out, R] with the matrix broadcast over B
    shape = ctx.shape_of(y, label=f"{'hw'[k]}/aa_in_shape")
    lead = 1 + k
    flat = a.op("Reshape", [y, _flat_target(a, shape, lead)], {"Tshape": I32}, label="aa_flat")
    mixed = a.op("BatchMatMulV2", [a.op("ExpandDims", [matrix, a.i32(0, "aa_batch")], label="aa_matrix_b"), flat],
                 {"adj_x": False, "adj_y": False}, label="aa_mixed")
    out_len = a.op("Shape", [matrix], {"out_type": I32}, dtype=I32, label="aa_out_len_v")
    out_len = a.op("StridedSlice", [out_len, a.i32([0], "aa_b0"), a.i32([1], "aa_e1"), a.i32([1], "aa_s1")],
                   {"Index": I32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                    "shrink_axis_mask": 0}, dtype=I32, label="aa_out_len")
    pieces = [a.op("StridedSlice", [shape, a.i32([0], "aa_sb"), a.i32([1 + k], "aa_se"), a.i32([1], "aa_ss")],
                   {"Index": I32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                    "shrink_axis_mask": 0}, dtype=I32, label="aa_before"), out_len,
              a.op("StridedSlice", [shape, a.i32([2 + k], "aa_ab"), a.i32([4], "aa_ae"), a.i32([1], "aa_as")],
                   {"Index": I32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                    "shrink_axis_mask": 0}, dtype=I32, label="aa_after")]
    target = a.op("ConcatV2", [*pieces, a.i32(0, "aa_cat_axis")], {"N": 3, "Tidx": I32}, dtype=I32, label="aa_target")
    return a.op("Reshape", [mixed, target], {"Tshape": I32}, label="aa_out")


def _flat_target(a: _Axis, shape: object, lead: int) -> object:
    """[prod(dims before the axis), in, -1] for NHWC axis ``lead``, from the run-time shape."""
    before = a.op("StridedSlice", [shape, a.i32([0], "ft_b"), a.i32([lead], "ft_e"), a.i32([1], "ft_s")],
                  {"Index": I32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                   "shrink_axis_mask": 0}, dtype=I32, label="ft_before")
    count = a.op("Prod", [before, a.i32([0], "ft_axis")], {"keep_dims": True, "Tidx": I32}, dtype=I32,
                 label="ft_count")
    size = a.op("StridedSlice", [shape, a.i32([lead], "ft_sb"), a.i32([lead + 1], "ft_se"), a.i32([1], "ft_ss")],
                {"Index": I32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                 "shrink_axis_mask": 0}, dtype=I32, label="ft_size")
    return a.op("ConcatV2", [count, size, a.i32([-1], "ft_rest"), a.i32(0, "ft_cat_axis")], {"N": 3, "Tidx": I32},
                dtype=I32, label="ft_target")


def _crop_coordinates(a: _Axis, pos: object, last_f: object, out_f: object, roi: tuple) -> object:
    """tf_crop_and_resize: pos·(end-start)·(in-1)/(out-1) + start·(in-1); the roi's centre for one output."""
    start, end = roi
    extent = a.op("Sub", [end, start], label="roi_extent")
    offset = a.op("Mul", [start, last_f], label="roi_offset")
    span = a.op("Maximum", [a.op("Sub", [out_f, a.f32(1.0, "one_span")], label="out_m1"), a.f32(1.0, "one_min")],
                label="out_span")
    many = a.op("AddV2", [a.op("RealDiv", [a.op("Mul", [a.op("Mul", [pos, extent], label="pos_extent"), last_f],
                                                label="pos_scaled"), span], label="pos_frac"), offset], label="coord_n")
    one = a.op("AddV2", [a.op("Mul", [a.op("Mul", [extent, last_f], label="ext_in"), a.f32(0.5, "half_c")],
                              label="centre"), offset], label="coord_1")
    several = a.op("Greater", [out_f, a.f32(1.0, "one_out")], dtype=DType.BOOL, label="several")
    return a.op("SelectV2", [several, many, a.op("AddV2", [a.op("Mul", [pos, a.f32(0.0, "zero_p")], label="zeros"),
                                                           one], label="coord_1b")], {"T": F32}, label="coord")
