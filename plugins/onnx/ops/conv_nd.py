"""ConvTranspose (1-D and 2-D) and 3-D convolutions, channels-last inside."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext, Tensor
from ..mapping import onnx_op
from .common import SLICE_ATTRS
from .filters import Filter
from .nn import NHWC, NWC, conv_steps, onnx_pads, tf_padding
from .pad_low_rank import pad

NDHWC = layout.channels_last(5)


def conv3d(ctx: NodeContext) -> Laid:
    """Conv3D (NDHWC, DHWIO filter); pads TF's SAME/VALID cannot express become a Pad first.

    Groups: Split the channels, one Conv3D per group, ConcatV2 (TF.js's Conv3D has no groups)."""
    weight = Filter.from_input(ctx, 1)
    group = int(ctx.attr("group", 1))
    out_ch, per_group = weight.shape[:2]
    if group < 1 or out_ch % group:
        raise ctx.error(f"group={group} does not divide {out_ch} output channels")
    kernel = list(weight.shape[2:])
    strides, dilations = conv_steps(ctx, 3)
    sizes = list(ctx.shape(0)[2:]) if ctx.shape(0) is not None else [None] * 3
    begin, end = onnx_pads(ctx, sizes, kernel, strides, dilations)
    padding = tf_padding(sizes, kernel, strides, dilations, begin, end)
    x = ctx.input_as(0, NDHWC)
    if padding is None:
        shape = ctx.shape(0)
        x = pad(ctx, x, [None, *sizes, None if shape is None else shape[1]], [(0, 0), *zip(begin, end), (0, 0)])
        padding = "VALID"
    attrs = {"strides": [1, *strides, 1], "dilations": [1, *dilations, 1], "data_format": "NDHWC",
             "padding": padding}
    if group == 1:
        filt = weight.transpose([2, 3, 4, 1, 0], "filter").emit("filter")
        y = ctx.op("Conv3D", [x, filt], attrs, label="conv" if ctx.has_input(2) else None)
    else:
        if weight.is_const:
            weight = Filter(ctx, array=np.asarray(weight.array))  # read external weights once
        parts = ctx.multi_op("Split", [ctx.int32(4, label="split_axis"), x], {"num_split": group},
                             group, label="split")
        outs = [ctx.op("Conv3D", [part, weight.part(0, g, group, f"weight{g}").transpose([2, 3, 4, 1, 0], f"filter{g}")
                                  .emit(f"filter{g}")], attrs, label=f"group{g}") for g, part in enumerate(parts)]
        y = ctx.op("ConcatV2", [*outs, ctx.int32(4, label="concat_axis")],
                   {"N": group, "Tidx": DType.INT32}, label="conv" if ctx.has_input(2) else None)
    if ctx.has_input(2):
        y = ctx.op("BiasAdd", [y, ctx.input(2)], {"data_format": "NHWC"})
    return ctx.laid(y, NDHWC)


def _transpose_pads(ctx: NodeContext, sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int], out_pad: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
    """(begin pads, end pads, output sizes) of an ONNX ConvTranspose."""
    n = len(kernel)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    full = [s * (i - 1) + o + e for s, i, o, e in zip(strides, sizes, out_pad, eff)]
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    output_shape = ctx.attr("output_shape")
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = ([int(v) for v in output_shape][-n:] if output_shape is not None
                  else [i * s for i, s in zip(sizes, strides)])
        total = [f - w for f, w in zip(full, wanted)]
        if output_shape is None:  # onnxruntime's SAME pads max(0, total): a small kernel gives less than input * stride
            wanted = [w if t >= 0 else f for f, w, t in zip(full, wanted, total)]
            total = [max(t, 0) for t in total]
        if any(o - min(t, 0) >= s for t, s, o in zip(total, strides, out_pad)):  # TF grows the output by < a stride
            raise ctx.error(f"output_shape {wanted} is larger than the transposed convolution can produce")
        if any(t < 0 for t in total):  # an output larger by less than a stride: trailing zeros, as output_padding
            total = [max(t, 0) for t in total]
            begin = [t // 2 if auto_pad == "SAME_UPPER" else t - t // 2 for t in total]
            return begin, [t - b for t, b in zip(total, begin)], wanted
        if auto_pad == "SAME_UPPER":
            begin = [t // 2 for t in total]
        else:
            begin = [t - t // 2 for t in total]
        return begin, [t - b for t, b in zip(total, begin)], wanted
    if auto_pad == "VALID":
        pads = [0] * (2 * n)
    else:
        pads = [int(p) for p in ctx.attr("pads", [0] * (2 * n))]
    begin, end = pads[:n], pads[n:]
    return begin, end, [f - b - e for f, b, e in zip(full, begin, end)]


def _with_computed_shape(ctx: NodeContext, y: Laid, spatial: Sequence[int] | None, channels: int) -> Laid | Tensor:
    """``y`` with the ONNX shape the lowering computed (batch, channels, spatial sizes) when they are static.

    onnx's shape inference adds ``output_padding`` to a SAME ConvTranspose's ``input * stride`` (13 for 6 * 2 with
    output_padding 1), where onnxruntime, as the spec says, gives 12: the next node must not read the 13."""
    dims = ctx.shape(0)
    if spatial is None or dims is None:
        return y
    return Tensor(ctx.node.output[0], value=y.value, perm=y.perm, shape=(dims[0], channels, *spatial))


@onnx_op("ConvTranspose")
def conv_transpose(ctx: NodeContext) -> Laid | Tensor:
    """Conv2DBackpropInput per group (NHWC, HWOI filter); dilations become a zero-dilated filter.

    1-D runs as 2-D over a height of 1; 3-D as a Conv3D over the zero-upsampled input
    (:func:`conv_transpose_3d`), since TF.js graph models have no Conv3DBackpropInputV2.
    """
    rank = ctx.rank(0)
    if rank == 5:
        return conv_transpose_3d(ctx)
    if rank not in (3, 4):
        raise ctx.error(f"only 1-D, 2-D and 3-D transposed convolutions are supported, got rank {rank}")
    one_d = rank == 3
    n = rank - 2
    weight = Filter.from_input(ctx, 1)
    if weight.is_const:
        weight = Filter(ctx, array=np.asarray(weight.array))
    group = int(ctx.attr("group", 1))
    kernel = list(weight.shape[2:])
    strides = [int(s) for s in ctx.attr("strides", [1] * n)]
    dilations = [int(d) for d in ctx.attr("dilations", [1] * n)]
    out_pad = [int(p) for p in ctx.attr("output_padding", [0] * n)]
    dims = ctx.shape(0)
    if dims is None:
        raise ctx.error("transposed convolutions need the input's rank and channels")
    run_time = None in dims[2:]
    if run_time:  # sizes known at run time: explicit pads only, the output sizes computed in the graph
        begin, end, outs = _run_time_transpose_pads(ctx, n)
    else:
        begin, end, outs = _transpose_pads(ctx, [int(d) for d in dims[2:]], kernel, strides, dilations, out_pad)
    spatial = None if run_time else list(outs)
    if any(p < 0 for p in begin + end):
        raise ctx.error(f"negative pads {begin + end} are not supported")
    if one_d:
        weight = weight.reshape([*weight.shape[:2], 1, weight.shape[2]], "weight_2d")
        kernel, strides, dilations = [1, *kernel], [1, *strides], [1, *dilations]
        begin, end = [0, *begin], [0, *end]
        out_pad = [0, *out_pad]
        if not run_time:
            outs = [1, *outs]
    weight = weight.dilate([2, 3], dilations, "dilated")  # a dilated kernel is a sparse larger one
    c_in, per_group_out = weight.shape[:2]
    if c_in % group:
        raise ctx.error(f"group={group} does not divide {c_in} input channels")
    x = ctx.input_as(0, NWC) if one_d else ctx.input_as(0, NHWC)
    if one_d:
        x = ctx.expand_dims(x, 1, label="as_2d")
    batch = dims[0]
    if run_time:  # each output size: stride * (size - 1) + output_padding + dilated kernel - pads
        eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
        extra = [o + e - s - b - t for o, e, s, b, t in zip(out_pad, eff, strides, begin, end)]
        scaled = ctx.op("Mul", [ctx.run_time_dims(x, 1, 3, label="in_sizes"), ctx.ints(strides, label="out_strides")],
                        dtype=DType.INT32, label="strided_sizes")
        outs = ctx.op("AddV2", [scaled, ctx.ints(extra, label="out_extra")], dtype=DType.INT32, label="out_sizes")
    attrs = backprop_input_attrs(x, strides, begin, end)
    if group == 1:
        parts = [x]
    else:
        parts = ctx.multi_op("Split", [ctx.int32(3, label="split_axis"), x], {"num_split": group},
                             group, label="split")
    outputs = []
    for g, part in enumerate(parts):
        w = weight if group == 1 else weight.part(0, g, group, f"weight{g}")  # [I/g, O/g, kh, kw] -> [kh, kw, O/g, I/g]
        shape = _output_shape(ctx, part, batch, outs, per_group_out, g)
        name = f"filter{g}" if group > 1 else "filter"
        filt = w.transpose([2, 3, 1, 0], name).emit(name)
        last = group == 1 and not ctx.has_input(2) and not one_d
        outputs.append(ctx.op("Conv2DBackpropInput", [shape, filt, part], attrs,
                              label=None if last else f"deconv{g}" if group > 1 else "deconv", dtype=x.dtype))
    y = outputs[0] if group == 1 else ctx.op(
        "ConcatV2", [*outputs, ctx.int32(3, label="concat_axis")], {"N": group, "Tidx": DType.INT32},
        label="concat" if ctx.has_input(2) or one_d else None)
    if one_d:
        y = ctx.op("Squeeze", [y], {"squeeze_dims": [1]}, label="as_1d" if ctx.has_input(2) else None)
    if ctx.has_input(2):
        y = ctx.op("BiasAdd", [y, ctx.input(2)], {"data_format": "NHWC"})
    return _with_computed_shape(ctx, ctx.laid(y, NWC if one_d else NHWC), spatial, per_group_out * group)


def backprop_input_attrs(x: Value, strides: Sequence[int], begin: Sequence[int], end: Sequence[int]) -> dict:
    """Conv2DBackpropInput's attrs for an NHWC ``x`` (undilated: a dilated kernel is passed as a larger
    sparse one): the crop of the full output as EXPLICIT paddings, or VALID when there is none."""
    attrs = {"strides": [1, *strides, 1], "padding": "EXPLICIT", "data_format": "NHWC",
             "explicit_paddings": [0, 0, begin[0], end[0], begin[1], end[1], 0, 0], "dilations": [1, 1, 1, 1],
             "T": x.dtype}
    if not any(begin + end):
        attrs["padding"] = "VALID"
        del attrs["explicit_paddings"]
    return attrs


def _output_shape(ctx: NodeContext, x: Value, batch: int | None, outs: Sequence[int] | Value, channels: int,
                  g: int) -> Value:
    """Conv2DBackpropInput's input_sizes: constant, or [batch from the input, H, W, C] for a dynamic batch
    (``outs`` an int32 Value when the sizes are computed at run time)."""
    if batch is not None and not isinstance(outs, Value):
        return ctx.ints([batch, *outs, channels], label=f"output_shape{g}")
    n = [batch] if batch is not None else ctx.run_time_dims(x, 0, 1, label=f"batch{g}")
    if isinstance(outs, Value):
        return ctx.concat_shape([n, outs, [channels]], label=f"output_shape{g}")
    return ctx.concat_shape([n, [*outs, channels]], label=f"output_shape{g}")


def _run_time_transpose_pads(ctx: NodeContext, n: int) -> tuple[list[int], list[int], None]:
    """(begin pads, end pads, None) of a ConvTranspose over sizes known only at run time: only explicit pads
    (SAME and output_shape depend on the input size)."""
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if ctx.attr("output_shape") is not None or auto_pad not in ("NOTSET", "VALID"):
        raise ctx.error("transposed convolutions with auto_pad SAME or output_shape need static spatial dimensions")
    pads = [0] * (2 * n) if auto_pad == "VALID" else [int(p) for p in ctx.attr("pads", [0] * (2 * n))]
    return pads[:n], pads[n:], None


def conv_transpose_3d(ctx: NodeContext) -> Laid | Tensor:
    """A 3-D transposed convolution as the convolution it is the adjoint of.

    Insert ``stride - 1`` zeros between input elements along each spatial axis (ExpandDims, Pad,
    Reshape per strided axis), pad by the dilated kernel size minus one minus ONNX's pads (cropping
    where that is negative, adding ``output_padding`` at the end), then a VALID Conv3D with the
    kernel flipped in space and its channel axes swapped. Exact: the zeros add nothing.
    """
    weight = Filter.from_input(ctx, 1)
    group = int(ctx.attr("group", 1))
    if group < 1 or weight.shape[0] % group:
        raise ctx.error(f"group={group} does not divide {weight.shape[0]} input channels")
    dims = ctx.shape(0)
    if dims is None or None in dims[1:]:
        raise ctx.error("3-D transposed convolutions need static channels and spatial dimensions")
    channels, sizes = int(dims[1]), [int(d) for d in dims[2:]]
    kernel = list(weight.shape[2:])
    strides = [int(s) for s in ctx.attr("strides", [1, 1, 1])]
    dilations = [int(d) for d in ctx.attr("dilations", [1, 1, 1])]
    out_pad = [int(p) for p in ctx.attr("output_padding", [0, 0, 0])]
    begin, end, spatial = _transpose_pads(ctx, sizes, kernel, strides, dilations, out_pad)
    x = ctx.input_as(0, NDHWC)
    grown = list(sizes)
    for axis, stride in enumerate(strides):
        if stride == 1:
            continue
        x = _interleave_zeros(ctx, x, axis, stride, grown, channels)
        grown[axis] *= stride  # with stride - 1 trailing zeros, which the pads below take back
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    trail = [s - 1 for s in strides]  # zeros after the last element, still in x
    lo = [e - 1 - b for e, b in zip(eff, begin)]
    hi = [e - 1 - b_end + op - t for e, b_end, op, t in zip(eff, end, out_pad, trail)]
    if any(lo) or any(hi):
        pads = [(0, 0), *[(max(a, 0), max(b, 0)) for a, b in zip(lo, hi)], (0, 0)]
        x = pad(ctx, x, [None, *grown, channels], pads)
        if any(v < 0 for v in lo + hi):
            starts = [0, *[max(-a, 0) for a in lo], 0]
            stops = [0, *[n + max(a, 0) + b for n, a, b in zip(grown, lo, hi)], 0]
            x = ctx.op("StridedSlice", [x, ctx.ints(starts, label="crop_begin"), ctx.ints(stops, label="crop_end"),
                                        ctx.ints([1] * 5, label="crop_strides")],
                       {**SLICE_ATTRS, "begin_mask": 0b10001, "end_mask": 0b10001}, label="crop")
    # ONNX [C_in, C_out, kd, kh, kw] -> Conv3D [kd, kh, kw, C_in, C_out], flipped in space
    attrs = {"strides": [1, 1, 1, 1, 1], "dilations": [1, *dilations, 1], "data_format": "NDHWC", "padding": "VALID"}
    if group == 1:
        filt = weight.flip([2, 3, 4], "flipped").transpose([2, 3, 4, 0, 1], "filter").emit("filter")
        y = ctx.op("Conv3D", [x, filt], attrs, label="conv" if ctx.has_input(2) else None)
    else:  # one Conv3D per group of input channels, outputs concatenated
        if weight.is_const:
            weight = Filter(ctx, array=np.asarray(weight.array))
        parts = ctx.multi_op("Split", [ctx.int32(4, label="split_axis"), x], {"num_split": group},
                             group, label="split")
        outs = []
        for g, part in enumerate(parts):
            filt = (weight.part(0, g, group, f"weight{g}").flip([2, 3, 4], f"flipped{g}")
                    .transpose([2, 3, 4, 0, 1], f"filter{g}").emit(f"filter{g}"))
            outs.append(ctx.op("Conv3D", [part, filt], attrs, label=f"group{g}"))
        y = ctx.op("ConcatV2", [*outs, ctx.int32(4, label="concat_axis")],
                   {"N": group, "Tidx": DType.INT32}, label="conv" if ctx.has_input(2) else None)
    if ctx.has_input(2):
        y = ctx.op("BiasAdd", [y, ctx.input(2)], {"data_format": "NHWC"})
    return _with_computed_shape(ctx, ctx.laid(y, NDHWC), spatial, weight.shape[1] * group)


def _interleave_zeros(ctx: NodeContext, x: Value, axis: int, stride: int, sizes: list[int], channels: int) -> Value:
    """``stride - 1`` zeros after every element along spatial ``axis`` of an NDHWC tensor.

    As [N * (dims up to axis), 1, rest] padded to [.., stride, ..]: a rank-3 Pad (webgl's fails at rank 5+)."""
    rest = int(np.prod(sizes[axis + 1:])) * channels
    x = ctx.reshape(x, [-1, 1, rest], label=f"zeros{axis}_flat")
    pads = np.array([[0, 0], [0, stride - 1], [0, 0]], np.int32)
    x = ctx.pad(x, pads, label=f"zeros{axis}_pad")
    merged = list(sizes)
    merged[axis] *= stride
    return ctx.reshape(x, [-1, *merged, channels], label=f"zeros{axis}")
