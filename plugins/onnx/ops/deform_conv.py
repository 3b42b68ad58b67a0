"""DeformConv (2-D): bilinear samples at offset kernel taps, then one MatMul with the weight, NHWC inside."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value, materialize

from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .composing import F32, I32, Builder
from .nn import NHWC


@onnx_op("DeformConv", since=19)
def deform_conv(ctx: NodeContext) -> Laid:
    """Each tap (a, b) of output pixel (i, j) reads X at ``(-pad + stride * (i, j) + dilation * (a, b)
    + offset)``, bilinearly with zeros outside (ONNX's GridSample, align_corners=1), times ``mask``.

    The four corners of every sample are ``GatherV2`` rows of the flattened [N * G * H * W, C / G]
    input (G = offset_group), weighted by the bilinear factors (zero for a corner outside the image);
    the samples [N * OH * OW, K * C] then meet the weight as one [K * C, OC] MatMul (block-diagonal
    for groups), plus the bias. Static shapes (the batch too) are needed for the index offsets.
    """
    if ctx.rank(0) != 4:
        raise ctx.error(f"only 2-D DeformConv (rank-4 input) is supported, got rank {ctx.rank(0)}")
    x_shape, off_shape = ctx.shape(0), ctx.shape(2)
    if x_shape is None or None in x_shape or off_shape is None or None in off_shape:
        raise ctx.error("DeformConv needs static input and offset shapes (batch included)")
    n, c, h, w = (int(d) for d in x_shape)
    oh, ow = int(off_shape[2]), int(off_shape[3])
    w_shape = ctx.shape(1)
    if w_shape is None or None in w_shape:
        raise ctx.error("DeformConv needs a static weight shape")
    oc, c_per_group, kh, kw = (int(d) for d in w_shape)
    group, offset_group = int(ctx.attr("group", 1)), int(ctx.attr("offset_group", 1))
    strides = [int(s) for s in ctx.attr("strides", [1, 1])]
    dilations = [int(d) for d in ctx.attr("dilations", [1, 1])]
    pads = [int(p) for p in ctx.attr("pads", [0, 0, 0, 0])]
    k = kh * kw
    if c != c_per_group * group or oc % group or c % offset_group:
        raise ctx.error(f"channels {c} / weight {list(w_shape)} do not fit group={group}, offset_group={offset_group}")
    if int(off_shape[1]) != offset_group * k * 2:
        raise ctx.error(f"offset has {off_shape[1]} channels, expected {offset_group * k * 2}")
    matrix = _weight_matrix(ctx, group, oc, c, k)
    b = Builder(ctx)
    g, cg = offset_group, c // offset_group

    # sampling coordinates [N, OH, OW, G, K] (K = a * kw + b)
    offsets = b.reshape(ctx.input_as(2, NHWC), [n, oh, ow, g, k, 2])
    taps_h = np.repeat(np.arange(kh) * dilations[0], kw)
    taps_w = np.tile(np.arange(kw) * dilations[1], kh)
    base_h = (np.arange(oh) * strides[0] - pads[0])[:, None, None, None] + taps_h[None, None, None, :]
    base_w = (np.arange(ow) * strides[1] - pads[1])[None, :, None, None] + taps_w[None, None, None, :]
    if n * offset_group * h * w > 1 << 24:
        raise ctx.error("the input is too large for DeformConv's float32 row indices (2^24 positions)")
    ys = b.add(b.f32(base_h.astype(np.float32), "base_h"), b.reshape(b.slice_axis(offsets, 6, 5, 0, 1), [n, oh, ow, g, k]))
    xs = b.add(b.f32(base_w.astype(np.float32), "base_w"), b.reshape(b.slice_axis(offsets, 6, 5, 1, 2), [n, oh, ow, g, k]))
    y0, x0 = b.unary("Floor", ys), b.unary("Floor", xs)
    fy, fx = b.sub(ys, y0), b.sub(xs, x0)
    one = b.f32(1.0, "one")
    weights_y = [b.sub(one, fy), fy]
    weights_x = [b.sub(one, fx), fx]
    if ctx.has_input(4):
        mask = b.reshape(ctx.input_as(4, NHWC), [n, oh, ow, g, k])
        weights_y = [b.mul(wy, mask) for wy in weights_y]

    # rows of the flattened input: [N, G, H, W, Cg] -> [N*G*H*W, Cg]; a sample's row is ((n*G + g)*H + y)*W + x
    x = b.reshape(ctx.input_as(0, NHWC), [n, h, w, g, cg])
    rows = b.reshape(b.op("Transpose", [x, b.i32([0, 3, 1, 2, 4], "perm")], {"Tperm": I32}, dtype=x.dtype,
                          label="group_major"), [n * g * h * w, cg])
    plane = (np.arange(n)[:, None, None, None, None] * g + np.arange(g)[None, None, None, :, None]) * (h * w)
    plane_const = b.f32(plane.astype(np.float32), "plane")
    sampled = None
    for dy in (0, 1):
        for dx in (0, 1):
            cy = y0 if dy == 0 else b.add(y0, one)
            cx = x0 if dx == 0 else b.add(x0, one)
            inside = b.cast(b.op("LogicalAnd", [
                b.op("LogicalAnd", [b.compare("GreaterEqual", cy, b.f32(0.0, "zero")),
                                    b.compare("LessEqual", cy, b.f32(h - 1.0, "h_max"))], dtype=DType.BOOL,
                     label="inside_y"),
                b.op("LogicalAnd", [b.compare("GreaterEqual", cx, b.f32(0.0, "zero")),
                                    b.compare("LessEqual", cx, b.f32(w - 1.0, "w_max"))], dtype=DType.BOOL,
                     label="inside_x")], dtype=DType.BOOL, label="inside"), F32)
            weight = b.mul(b.mul(weights_y[dy], weights_x[dx]), inside)
            cy = b.clip(cy, b.f32(0.0, "zero"), b.f32(h - 1.0, "h_max"))
            cx = b.clip(cx, b.f32(0.0, "zero"), b.f32(w - 1.0, "w_max"))
            row = b.add(b.add(b.mul(cy, b.f32(float(w), "width")), cx), plane_const)
            index = b.reshape(b.cast(row, I32), [-1])
            values = b.take(rows, index, 0)  # [N*OH*OW*G*K, Cg]
            term = b.mul(values, b.reshape(weight, [-1, 1]))
            sampled = term if sampled is None else b.add(sampled, term)
    # [N, OH, OW, G, K, Cg] -> [N, OH, OW, K, G, Cg] -> [N*OH*OW, K*C]
    sampled = b.reshape(sampled, [n, oh, ow, g, k, cg])
    sampled = b.op("Transpose", [sampled, b.i32([0, 1, 2, 4, 3, 5], "perm")], {"Tperm": I32}, dtype=sampled.dtype,
                   label="tap_major")
    columns = b.reshape(sampled, [n * oh * ow, k * c])
    y = ctx.op("MatMul", [columns, matrix], {"transpose_a": False, "transpose_b": False}, label="conv")
    if ctx.has_input(3):
        y = ctx.op("BiasAdd", [y, ctx.input(3)], {"data_format": "NHWC"}, label="bias")
    return ctx.laid(ctx.reshape(y, [n, oh, ow, oc], label=None), NHWC)


def _weight_matrix(ctx: NodeContext, group: int, oc: int, c: int, k: int) -> Value:
    """The weight as [K * C, OC]: row k * C + c, column o (zero where c and o are in different groups)."""
    const = ctx.const(1)
    if group == 1:
        if const is not None:
            w = materialize(const).astype(np.float32)
            return ctx.make_const(np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(k * c, oc)), label="matrix")
        t = ctx.op("Transpose", [ctx.input(1), ctx.ints([2, 3, 1, 0], label="w_perm")], {"Tperm": I32}, label="w_hwio")
        return ctx.reshape(t, [k * c, oc], label="matrix")
    if const is None:
        raise ctx.error("a grouped DeformConv needs a constant weight")
    w = materialize(const).astype(np.float32)  # [OC, C/g, kh, kw]
    cin, cout = c // group, oc // group
    dense = np.zeros((k, c, oc), np.float32)
    taps = w.reshape(oc, cin, k).transpose(2, 1, 0)  # [K, C/g, OC]
    for gi in range(group):
        dense[:, gi * cin:(gi + 1) * cin, gi * cout:(gi + 1) * cout] = taps[:, :, gi * cout:(gi + 1) * cout]
    return ctx.make_const(dense.reshape(k * c, oc), label="matrix")
