"""Convolutions, pooling and batch normalization: NHWC inside, as TF.js requires."""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Node, Value, materialize
from tfjsconv.provenance import merge

from .. import layout
from ..context import Laid, NodeContext, Tensor
from ..mapping import onnx_op
from .common import SLICE_ATTRS, reduce
from .filters import Filter
from .pool_windows import floor_max_pool, max_pool_padding, out_sizes as pool_out_sizes, pads_below_lowest

NHWC = layout.channels_last(4)
NWC = layout.channels_last(3)


# -- padding ----------------------------------------------------------------------------------------
def _effective(kernel: int, dilation: int) -> int:
    return (kernel - 1) * dilation + 1


def conv_steps(ctx: NodeContext, n: int, *, both: bool = False) -> tuple[list[int], list[int]]:
    """A convolution's ``strides`` and ``dilations`` over ``n`` spatial axes; refused when both exceed 1
    (TF.js's convolutions need one of them to be 1) unless the caller subsamples itself (``both``)."""
    strides = [int(s) for s in ctx.attr("strides", [1] * n)]
    dilations = [int(d) for d in ctx.attr("dilations", [1] * n)]
    if not both and any(s > 1 for s in strides) and any(d > 1 for d in dilations):
        raise ctx.error(f"strides {strides} together with dilations {dilations}: TF.js needs one of them to be 1")
    return strides, dilations


def onnx_pads(ctx: NodeContext, sizes: Sequence[int | None], kernel: Sequence[int], strides: Sequence[int],
              dilations: Sequence[int]) -> tuple[list[int], list[int]]:
    """(begin, end) padding per spatial dim, resolving ``auto_pad``."""
    n = len(kernel)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if any(s is None for s in sizes):
            if auto_pad == "SAME_UPPER":
                return [-1] * n, [-1] * n  # TF's SAME, whatever the size (resolved by tf_padding)
            raise ctx.error("auto_pad=SAME_LOWER needs static spatial dimensions")
        _refuse_shifted_same_conv(ctx, sizes, kernel, strides, dilations)  # type: ignore[arg-type]
        begin, end = [], []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + _effective(k, d) - size, 0)
            small = total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else total - small)
            end.append(total - begin[-1])
        return begin, end
    if auto_pad == "VALID":
        return [0] * n, [0] * n
    if auto_pad not in ("NOTSET", ""):
        raise ctx.error(f"unknown auto_pad {auto_pad!r}")
    pads = [int(p) for p in ctx.attr("pads", [0] * (2 * n))]
    if any(p < 0 for p in pads):
        raise ctx.error(f"negative pads {pads} are not supported")
    return pads[:n], pads[n:]


#: Ops whose auto_pad SAME with a negative pad total is cropped as onnxruntime's pools do (:func:`same_pool_crops`).
_POOLS_CROPPING_SAME = frozenset({"MaxPool", "AveragePool", "LpPool"})


def _refuse_shifted_same_conv(ctx: NodeContext, sizes: Sequence[int], kernel: Sequence[int],
                              strides: Sequence[int], dilations: Sequence[int]) -> None:
    """A convolution whose auto_pad SAME pad total is negative: onnxruntime's windows then start ``-head`` in, the
    head being C++'s truncated half of ``total + 1``, not of ``total`` as its pools' (measured on onnxruntime's 1-D
    Conv: every size 1-15, kernel 1-3, stride 2-7 with a negative total; probe33/h7b/conv_heads2.py). Where that
    head is not 0 the clamped pads would shift every window: refused (not built for the conv kernels)."""
    if ctx.node.op_type in _POOLS_CROPPING_SAME:
        return
    upper = ctx.attr("auto_pad", "NOTSET") == "SAME_UPPER"
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        total = (math.ceil(size / s) - 1) * s + _effective(k, d) - size
        head = math.trunc((total + 1) / 2) if upper else math.trunc((total + 2) / 2)
        if total < 0 and head != 0:
            raise ctx.error(f"auto_pad={ctx.attr('auto_pad')} with stride {s} over {size} elements: the pad total "
                            f"is negative ({total}) and onnxruntime starts its windows {-head} element(s) in, "
                            "which is not built", hint="give explicit pads (0) and Slice the input")


def same_pool_crops(ctx: NodeContext, sizes: Sequence[int | None], kernel: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int]) -> list[tuple[int, int]] | None:
    """(head, tail) elements a pool's auto_pad SAME cuts off per spatial dim where its pad total is negative
    (stride >= kernel + 2: k1 s3 on 6 gives -2), else None. onnxruntime (and the ONNX reference) apply such pads:
    the windows start ``-head`` elements in, the head pad being C++'s truncated ``total / 2`` (SAME_UPPER) or
    ``(total + 1) / 2`` (SAME_LOWER), measured against onnxruntime (probe33/h7b/same_heads.py). :func:`onnx_pads`
    clamps them to 0, which Conv keeps (onnxruntime's Conv clamps too)."""
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER") or any(s is None for s in sizes):
        return None
    crops = []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        total = min((math.ceil(size / s) - 1) * s + _effective(k, d) - size, 0)  # type: ignore[operator]
        head = math.trunc(total / 2) if auto_pad == "SAME_UPPER" else math.trunc((total + 1) / 2)
        crops.append((-head, head - total))
    return crops if any(h or t for h, t in crops) else None


def crop_spatial(ctx: NodeContext, x: Value, sizes: Sequence[int], crops: Sequence[tuple[int, int]]) -> Value:
    """A channels-last ``x`` ([N, *sizes, C]) without ``crops``' (head, tail) elements per spatial dim."""
    n = len(sizes)
    starts = [h for h, _ in crops]
    stops = [size - t for size, (_, t) in zip(sizes, crops)]
    mask = 1 | 1 << (n + 1)
    return ctx.op("StridedSlice", [x, ctx.ints([0, *starts, 0], label="same_crop_begin"),
                                   ctx.ints([0, *stops, 0], label="same_crop_end"),
                                   ctx.ints([1] * (n + 2), label="same_crop_strides")],
                  {**SLICE_ATTRS, "begin_mask": mask, "end_mask": mask}, label="same_crop")


def tf_padding(sizes: Sequence[int | None], kernel: Sequence[int], strides: Sequence[int],
               dilations: Sequence[int], begin: Sequence[int], end: Sequence[int]) -> str | None:
    """"VALID" or "SAME" when TF's rule gives exactly these pads, else None (explicit padding needed)."""
    if all(p == -1 for p in begin):
        return "SAME"
    if not any(begin) and not any(end):
        return "VALID"
    if any(s is None for s in sizes):
        return None
    for size, k, s, d, b, e in zip(sizes, kernel, strides, dilations, begin, end):
        total = max((math.ceil(size / s) - 1) * s + _effective(k, d) - size, 0)
        if (b, e) != (total // 2, total - total // 2):
            return None
    return "SAME"


def _spatial(ctx: NodeContext) -> list[int | None]:
    shape = ctx.shape(0)
    return [None] * (ctx.rank(0) - 2) if shape is None else list(shape[2:])


# -- convolution ------------------------------------------------------------------------------------
@onnx_op("Conv")
def conv(ctx: NodeContext) -> Laid:
    """Conv2D / DepthwiseConv2dNative (NHWC, HWIO / HWCM filters); other groups as Split + Conv2D + Concat.

    1-D convolutions run as 2-D ones over a height of 1 (NWC inside); 3-D ones as Conv3D (NDHWC).
    """
    rank = ctx.rank(0)
    if rank == 5:
        from .conv_nd import conv3d

        return conv3d(ctx)
    if rank not in (3, 4):
        raise ctx.error(f"only 1-D, 2-D and 3-D convolutions are supported, got rank {rank}")
    weight = Filter.from_input(ctx, 1)
    one_d = rank == 3
    n = rank - 2
    group = int(ctx.attr("group", 1))
    kernel = list(weight.shape[2:])
    strides, dilations = conv_steps(ctx, n, both=True)
    sizes = _spatial(ctx)
    begin, end = onnx_pads(ctx, sizes, kernel, strides, dilations)
    subsample = _subsampling(ctx, strides, dilations, begin)
    if subsample:
        strides = [1] * n  # a dilated convolution at stride 1 with the same pads, every stride-th output kept
    if one_d:  # [N, C, W] as [N, 1, W, C]: a 2-D convolution over a height of 1
        weight = weight.reshape([*weight.shape[:2], 1, weight.shape[2]], "filter_2d")  # external weights stay unread
        kernel, strides, dilations, sizes = [1, *kernel], [1, *strides], [1, *dilations], [1, *sizes]
        begin, end = [0 if begin[0] != -1 else -1, *begin], [0 if end[0] != -1 else -1, *end]
        x = ctx.expand_dims(ctx.input_as(0, NWC), 1, label="as_2d")
    else:
        x = ctx.input_as(0, NHWC)
    y = conv2d_nhwc(ctx, x, weight, group, strides, dilations, begin, end, sizes,
                    label="conv" if ctx.has_input(2) or one_d or subsample else None)
    if subsample:
        steps = [1, 1, *subsample, 1] if one_d else [1, *subsample, 1]
        y = ctx.op("StridedSlice", [y, ctx.ints([0] * 4, label="subsample_begin"),
                                    ctx.ints([0] * 4, label="subsample_end"), ctx.ints(steps, label="subsample_steps")],
                   {**SLICE_ATTRS, "begin_mask": 0b1111, "end_mask": 0b1111},
                   label="subsampled" if ctx.has_input(2) or one_d else None)
    if one_d:
        y = ctx.op("Squeeze", [y], {"squeeze_dims": [1]}, label="as_1d" if ctx.has_input(2) else None)
    if ctx.has_input(2):
        y = ctx.op("BiasAdd", [y, ctx.input(2)], {"data_format": "NHWC"})
    return ctx.laid(y, NWC if one_d else NHWC)


def _subsampling(ctx: NodeContext, strides: list[int], dilations: list[int], begin: Sequence[int]) -> list[int]:
    """The strides to take by slicing a stride-1 output when both strides and dilations exceed 1 (TF.js's
    convolutions take one or the other), else []. The pads must be explicit: TF's SAME (unknown sizes) would
    pad for stride 1."""
    if not (any(s > 1 for s in strides) and any(d > 1 for d in dilations)):
        return []
    if any(b == -1 for b in begin):
        raise ctx.error(f"strides {strides} together with dilations {dilations} need static spatial sizes "
                        "under auto_pad=SAME_UPPER")
    return strides


def conv2d_nhwc(ctx: NodeContext, x: Value, weight: Filter, group: int, strides: Sequence[int],
                dilations: Sequence[int], begin: Sequence[int], end: Sequence[int], sizes: Sequence[int | None],
                *, label: str | None) -> Value:
    """An ONNX OIHW 2-D convolution of an NHWC value (no bias)."""
    out_ch, in_per_group, kh, kw = weight.shape
    padding = tf_padding(sizes, [kh, kw], strides, dilations, begin, end)
    attrs = {"strides": [1, *strides, 1], "dilations": [1, *dilations, 1], "data_format": "NHWC",
             "padding": padding or "EXPLICIT"}
    if padding is None:
        attrs["explicit_paddings"] = [0, 0, begin[0], end[0], begin[1], end[1], 0, 0]
    channels = in_per_group * group
    if group == 1:
        filt = weight.transpose([2, 3, 1, 0], "filter").emit("filter")
        return ctx.op("Conv2D", [x, filt], {**attrs, "use_cudnn_on_gpu": True}, label=label)
    if in_per_group == 1 and out_ch % group == 0:
        mult = out_ch // group
        filt = weight.reshape([group, mult, kh, kw], "filter_groups").transpose([2, 3, 0, 1], "filter").emit("filter")
        return ctx.op("DepthwiseConv2dNative", [x, filt], attrs, label=label)
    return _grouped_conv(ctx, x, weight, group, channels, attrs, label)


def _grouped_conv(ctx: NodeContext, x: Value, weight: Filter, group: int, channels: int,
                  attrs: dict, label: str | None) -> Value:
    """Split the channels into ``group`` parts, convolve each, concatenate."""
    if weight.is_const:
        weight = Filter(ctx, array=materialize(weight.array))  # read external weights once, not once per group
    out_ch = weight.shape[0]
    if channels % group or out_ch % group:
        raise ctx.error(f"group={group} does not divide {channels} input / {out_ch} output channels")
    split = ctx.graph.add_node("Split", [ctx.int32(3, label="split_axis"), x],
                               {"num_split": group, "T": x.dtype}, name=ctx.graph.unique_name(f"{ctx.name}/split"),
                               num_outputs=group)
    parts = []
    for g in range(group):
        part = split.output(g)
        part.dtype = x.dtype
        filt = weight.part(0, g, group, f"weight{g}").transpose([2, 3, 1, 0], f"filter{g}").emit(f"filter{g}")
        parts.append(ctx.op("Conv2D", [part, filt], {**attrs, "use_cudnn_on_gpu": True}, label=f"group{g}"))
    axis = ctx.int32(3, label="concat_axis")
    return ctx.op("ConcatV2", [*parts, axis], {"N": group, "Tidx": DType.INT32}, label=label)


# -- pooling ------------------------------------------------------------------------------------------
_POOL_LAYOUT = {3: NWC, 4: NHWC, 5: layout.channels_last(5)}


def _pool(ctx: NodeContext, kind: str, prepare: Callable[[Value], Value] | None = None) -> Laid:
    """MaxPool/AveragePool (``kind`` max/avg) or the window sums of LpPool (``sum``), channels-last.

    2-D is MaxPool/AvgPool, 3-D MaxPool3D/AvgPool3D, 1-D a 2-D pool over a height of 1. Pads TF's
    SAME/VALID cannot express become a Pad/PadV2 and a VALID pool; an average's divisor is then
    fixed by one constant Mul (a sum's undone by the kernel area). ``prepare`` maps the
    channels-last input first (LpPool pools |x|^p).
    """
    rank = ctx.rank(0)
    if rank not in _POOL_LAYOUT:
        raise ctx.error(f"only 1-D, 2-D and 3-D pooling (rank 3-5 inputs) is supported, got rank {rank}")
    n = rank - 2
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    strides = [int(s) for s in ctx.attr("strides", [1] * n)]
    dilations = [int(d) for d in ctx.attr("dilations", [1] * n)]
    ceil_mode = bool(ctx.attr("ceil_mode", 0))
    count_include_pad = bool(ctx.attr("count_include_pad", 0)) or kind == "sum"
    sizes = _spatial(ctx)
    begin, end = onnx_pads(ctx, sizes, kernel, strides, dilations)
    crops = same_pool_crops(ctx, sizes, kernel, strides, dilations)
    full_sizes = sizes
    if crops is not None:  # pads 0 on what is left: the same windows as onnxruntime's negative pads
        sizes = [size - h - t for size, (h, t) in zip(sizes, crops)]  # type: ignore[operator]
    with_indices = kind == "max" and len(ctx.node.output) > 1 and ctx.node.output[1] != ""
    if _needs_run_time_pool(ctx, kind, sizes, dilations, begin, end, ceil_mode, count_include_pad, with_indices):
        return _pool_run_time(ctx, kind, prepare, kernel, strides, dilations, begin, end, ceil_mode,
                              count_include_pad)
    if any(d != 1 for d in dilations) or with_indices:
        return _tap_pool(ctx, kind, prepare, sizes, kernel, strides, dilations, begin, end, ceil_mode,
                         count_include_pad, with_indices, crops)
    padding = tf_padding(sizes, kernel, strides, dilations, begin, end)
    out_sizes = None
    divisor_end = end  # count_include_pad counts ONNX's pads, not the overflow of a ceil_mode window
    if ceil_mode:
        out_sizes = _ceil_out_sizes(ctx, sizes, kernel, strides, begin, end)
        extra = [max((o - 1) * s + k - (size + b + e), 0)
                 for o, s, k, size, b, e in zip(out_sizes, strides, kernel, sizes, begin, end)]  # type: ignore[operator]
        if any(extra):
            end = [e + x for e, x in zip(end, extra)]
            padding = None
    if padding == "SAME" and kind != "max" and count_include_pad:
        padding = None
    perm = _POOL_LAYOUT[rank]
    x = ctx.input_as(0, perm)
    if crops is not None:
        x = crop_spatial(ctx, x, full_sizes, crops)  # type: ignore[arg-type]
    if prepare is not None:
        x = prepare(x)
    x, int_dtype = _small_ints_as_float(ctx, x)
    if n == 1:  # [N, W, C] as [N, 1, W, C]
        x = ctx.expand_dims(x, 1, label="as_2d")
        kernel, strides, sizes = [1, *kernel], [1, *strides], [1, *sizes]
        begin, end = [0 if begin[0] != -1 else -1, *begin], [0 if end[0] != -1 else -1, *end]
        out_sizes = None if out_sizes is None else [1, *out_sizes]
        divisor_end = [0, *divisor_end]
    y = _pool_nhwc(ctx, kind, x, kernel, strides, sizes, begin, end, divisor_end, padding, out_sizes,
                   count_include_pad, last=n != 1)
    if n == 1:
        y = ctx.op("Squeeze", [y], {"squeeze_dims": [1]})
    if int_dtype is not None:
        y = ctx.cast(y, int_dtype, label="as_int")
    return ctx.laid(y, perm)


def _needs_run_time_pool(ctx: NodeContext, kind: str, sizes: list[int | None], dilations: list[int],
                         begin: list[int], end: list[int], ceil_mode: bool, count_include_pad: bool,
                         with_indices: bool) -> bool:
    """Whether a 1-D/2-D pool over unknown spatial sizes with explicit pads needs :func:`_pool_run_time`: ceil_mode,
    dilations, or an average over real elements only next to pads (the static paths need the sizes for these)."""
    if None not in sizes or ctx.rank(0) == 5 or with_indices or -1 in begin:
        return False
    if str(ctx.attr("auto_pad", "NOTSET")).startswith("SAME"):
        return False
    padded_average = kind == "avg" and not count_include_pad and (any(begin) or any(end))
    return ceil_mode or any(d != 1 for d in dilations) or padded_average


def _pool_run_time(ctx: NodeContext, kind: str, prepare: Callable[[Value], Value] | None, kernel: list[int],
                   strides: list[int], dilations: list[int], begin: list[int], end: list[int], ceil_mode: bool,
                   count_include_pad: bool) -> Laid:
    """A pool over spatial axes of unknown size (1-D or 2-D, explicit pads) with ceil_mode, dilations, or an
    average over real elements only: what needs the sizes is computed at run time, exactly.

    The input is padded by ONNX's pads (the lowest value for max, zeros for sums), and with ceil_mode by
    ``stride - 1`` more at the end, so the VALID windows number ONNX's rounded count ``ceil(span / s) + 1``;
    with ceil_mode only those starting before the end padding are then kept, ``ceil((n + b) / s)`` of them,
    counted at run time. A max is a VALID MaxPool or, dilated, the Maximum of one strided slice per kernel tap;
    sums add the taps, and an average divides by the same window sums of a mask of the counted elements
    (real ones, or with count_include_pad also ONNX's pads, never ceil_mode's overflow)."""
    rank = ctx.rank(0)
    perm = _POOL_LAYOUT[rank]
    x = ctx.input_as(0, perm)
    if prepare is not None:
        x = prepare(x)
    x, int_dtype = _small_ints_as_float(ctx, x)
    if rank == 3:  # [N, W, C] as [N, 1, W, C]
        x = ctx.expand_dims(x, 1, label="as_2d")
        kernel, strides, dilations = [1, *kernel], [1, *strides], [1, *dilations]
        begin, end = [0, *begin], [0, *end]
    extra = [s - 1 if ceil_mode else 0 for s in strides]
    pads = [(0, 0), *[(b, e + more) for b, e, more in zip(begin, end, extra)], (0, 0)]
    if kind == "max":
        padded = ctx.pad(x, pads, value=max_pool_padding(ctx, x), label="run_time_pad")
        if all(d == 1 for d in dilations):
            y = _window_op(ctx, "max", padded, kernel, strides, [None, None], "VALID", label="windows_pool")
        else:
            y = _window_taps(ctx, "max", padded, kernel, strides, dilations, "tap")
        y = floor_max_pool(ctx, y)
    else:
        y = _window_taps(ctx, "sum", ctx.pad(x, pads, label="run_time_pad"), kernel, strides, dilations, "tap")
    if kind == "avg":
        y = ctx.op("RealDiv", [y, _window_counts(ctx, x, kernel, strides, dilations, begin, end, extra,
                                                 count_include_pad)], label="average")
    if ceil_mode:
        y = _windows_starting_inside(ctx, x, y, strides, begin)
    if rank == 3:
        y = ctx.op("Squeeze", [y], {"squeeze_dims": [1]}, label=None if int_dtype is None else "as_1d")
    if int_dtype is not None:
        y = ctx.cast(y, int_dtype, label="as_int")
    return ctx.laid(y, perm)


def _window_counts(ctx: NodeContext, x: Value, kernel: list[int], strides: list[int], dilations: list[int],
                   begin: list[int], end: list[int], extra: list[int], count_include_pad: bool) -> Value:
    """ONNX's average divisor of every window (at least 1, as onnxruntime's never reaches 0 for a kept window):
    the window sums of ones over the counted elements, zeros over the rest of the padding."""
    ones = ctx.op("OnesLike", [x], label="counted")
    if count_include_pad:
        ones = ctx.pad(ones, [(0, 0), *zip(begin, end), (0, 0)], value=ctx.scalar_like(1.0, x, label="one"),
                       label="counted_pads")
        tail = [(0, 0), *[(0, more) for more in extra], (0, 0)]
    else:
        tail = [(0, 0), *[(b, e + more) for b, e, more in zip(begin, end, extra)], (0, 0)]
    counts = _window_taps(ctx, "sum", ctx.pad(ones, tail, label="counted_pad"), kernel, strides, dilations, "count")
    return ctx.op("Maximum", [counts, ctx.scalar_like(1.0, x, label="at_least_one")], label="divisor")


def _window_taps(ctx: NodeContext, kind: str, padded: Value, kernel: list[int], strides: list[int],
                 dilations: list[int], label: str) -> Value:
    """The VALID (dilated) max or sum pool of a channels-last [N, H, W, C] of any size: tap ``j`` of every window
    is ``padded[j·d : L - (k-1-j)·d : s]`` (its end counted from the axis end), combined by Maximum or AddN."""
    from .pool_windows import MAX_TAPS

    if int(np.prod(kernel)) > MAX_TAPS:
        raise ctx.error(f"a kernel of {int(np.prod(kernel))} taps is too large to spell out (pooling over sizes "
                        "known only at run time)")
    parts = []
    for t, tap in enumerate(itertools.product(*[range(k) for k in kernel])):
        starts = [j * d for j, d in zip(tap, dilations)]
        stops = [-(k - 1 - j) * d for j, k, d in zip(tap, kernel, dilations)]
        end_mask = 1 | 8 | sum(1 << (1 + a) for a, stop in enumerate(stops) if stop == 0)
        parts.append(ctx.op("StridedSlice", [padded, ctx.ints([0, *starts, 0], label=f"{label}{t}_begin"),
                                             ctx.ints([0, *stops, 0], label=f"{label}{t}_end"),
                                             ctx.ints([1, *strides, 1], label=f"{label}{t}_strides")],
                            {**SLICE_ATTRS, "begin_mask": 1 | 8, "end_mask": end_mask}, label=f"{label}{t}"))
    if kind == "sum":
        return parts[0] if len(parts) == 1 else ctx.op("AddN", parts, {"N": len(parts)}, label=f"{label}_sum")
    y = parts[0]
    for t, part in enumerate(parts[1:], 1):
        y = ctx.op("Maximum", [y, part], label=f"{label}_max{t}")
    return y


def _windows_starting_inside(ctx: NodeContext, x: Value, pooled: Value, strides: list[int],
                             begin: list[int]) -> Value:
    """ceil_mode's rule: of the windows, those that start before the end padding, ``ceil((n + b) / s)``
    (at most all of them), counted from ``x``'s run-time [N, H, W, C] shape."""
    i32 = DType.INT32
    sizes = ctx.run_time_dims(x, 1, 3, label="in_sizes")
    starts = ctx.op("AddV2", [sizes, ctx.ints([b + s - 1 for b, s in zip(begin, strides)], label="start_room")],
                    dtype=i32, label="start_span")
    starting = ctx.op("FloorDiv", [starts, ctx.ints(strides, label="ceil_strides")], dtype=i32, label="starting")
    windows = ctx.run_time_dims(pooled, 1, 3, label="windows")
    kept = ctx.op("Minimum", [starting, windows], dtype=i32, label="kept")
    size = ctx.concat_shape([[-1], kept, [-1]], label="kept_size")
    return ctx.op("Slice", [pooled, ctx.ints([0, 0, 0, 0], label="origin"), size], {"Index": i32},
                  label="kept_windows")


def _small_ints_as_float(ctx: NodeContext, x: Value) -> tuple[Value, DType | None]:
    """An 8/16-bit integer input as float32 when wasm is a target (its MaxPool and strided slices
    take no int32); exact, since float32 holds every such integer. Returns the dtype to cast back to."""
    onnx_dtype = ctx.tensor(0).dtype
    if onnx_dtype is None or np.dtype(onnx_dtype).kind not in "iu" or np.dtype(onnx_dtype).itemsize > 2:
        return x, None
    if "wasm" not in (getattr(ctx.options, "target_backends", None) or ["wasm"]):
        return x, None
    return ctx.cast(x, DType.FLOAT32, label="as_float"), x.dtype


def _tap_pool(ctx: NodeContext, kind: str, prepare: Callable[[Value], Value] | None, sizes: list[int | None],
              kernel: list[int], strides: list[int], dilations: list[int], begin: list[int], end: list[int],
              ceil_mode: bool, count_include_pad: bool, with_indices: bool,
              crops: list[tuple[int, int]] | None) -> Laid | list[Laid]:
    """A pool with dilations or MaxPool's Indices, built from its window taps (:mod:`.pool_windows`), over the
    input without ``crops`` (:func:`same_pool_crops`; sizes are the cropped ones)."""
    from .pool_windows import tap_pool

    if any(s is None for s in sizes) or -1 in begin:
        raise ctx.error("dilated pooling and MaxPool's Indices need static spatial dimensions")
    if any(d != 1 for d in dilations) and ctx.attr("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        raise ctx.error(f"auto_pad={ctx.attr('auto_pad')} with dilations {dilations}: onnxruntime pads such a pool "
                        "differently from the ONNX spec (other output size), so the result would be ambiguous",
                        hint="give explicit pads")
    perm = _POOL_LAYOUT[ctx.rank(0)]
    x = ctx.input_as(0, perm)
    if crops is not None:
        x = crop_spatial(ctx, x, [size + h + t for size, (h, t) in zip(sizes, crops)], crops)  # type: ignore[operator]
    if prepare is not None:
        x = prepare(x)
    x, int_dtype = _small_ints_as_float(ctx, x)
    shape = ctx.shape(0) or [None] * ctx.rank(0)
    y, indices = tap_pool(ctx, kind, x, sizes, kernel, strides, dilations, begin, end,  # type: ignore[arg-type]
                          ceil_mode, count_include_pad, indices=with_indices,
                          storage_order=int(ctx.attr("storage_order", 0)), batch=shape[0], channels=shape[1],
                          crops=crops)
    if int_dtype is not None:
        y = ctx.cast(y, int_dtype, label="as_int")
    if indices is None:
        return ctx.laid(y, perm)
    return [ctx.laid(y, perm), ctx.laid(indices, perm)]


def _pool_nhwc(ctx: NodeContext, kind: str, x: Value, kernel: list[int], strides: list[int],
               sizes: list[int | None], begin: list[int], end: list[int], divisor_end: list[int],
               padding: str | None, out_sizes: list[int] | None, count_include_pad: bool, *, last: bool) -> Value:
    """One 2-D or 3-D channels-last pool (see :func:`_pool`)."""
    area = float(np.prod(kernel))
    if padding is not None:
        y = _window_op(ctx, kind, x, kernel, strides, sizes, padding, label=None if last and kind != "sum" else "pool")
        if kind == "sum":
            y = ctx.op("Mul", [y, ctx.scalar_like(area, y, label="area")], label=None if last else "sum")
        return y
    static = all(s is not None for s in sizes)
    if -1 in begin or (kind == "avg" and not count_include_pad and not static):
        raise ctx.error("these pooling pads need static spatial dimensions")
    from .pad_low_rank import pad

    lowest = max_pool_padding(ctx, x) if kind == "max" else None
    shape = ctx.shape(0)
    padded = pad(ctx, x, [None, *sizes, None if shape is None else shape[1]], [(0, 0), *zip(begin, end), (0, 0)],
                 value=lowest, label="pad")
    correction = None
    if kind == "sum":
        correction = np.float32(area)
    elif kind == "avg" and static:  # dynamic: all ones (checked above)
        correction = _avg_correction(sizes, kernel, strides, begin, divisor_end, out_sizes, count_include_pad)
    padded_sizes = [None if n is None else n + b + e for n, b, e in zip(sizes, begin, end)]
    floored = kind == "max" and pads_below_lowest(ctx)
    y = _window_op(ctx, kind, padded, kernel, strides, padded_sizes, "VALID",
                   label="pool" if correction is not None or floored or not last else None)
    if floored:
        y = floor_max_pool(ctx, y, label=None if last else "at_least_lowest")
    if correction is not None:
        y = ctx.op("Mul", [y, ctx.make_const(correction, label="divisor_fix")], label=None if last else "fix")
    return y


def _window_op(ctx: NodeContext, kind: str, x: Value, kernel: list[int], strides: list[int],
               sizes: list[int | None], padding: str, *, label: str | None) -> Value:
    """MaxPool/AvgPool (2-D) or AvgPool3D, and 3-D max pooling as two 2-D MaxPools.

    TF.js-wasm's MaxPool3D starts its maximum at FLT_MIN (the smallest positive float), so a window
    of negative values comes out as 1.2e-38. A max over a box is the max over depth of the max over
    height and width: a MaxPool over [N*D, H, W, C], then one over [N, D, OH*OW, C].
    """
    three_d = len(kernel) == 3
    if three_d and kind == "max":
        return _max_pool_3d(ctx, x, kernel, strides, sizes, padding, label=label)
    tf_op = ("MaxPool" if kind == "max" else "AvgPool") + ("3D" if three_d else "")
    attrs = {"ksize": [1, *kernel, 1], "strides": [1, *strides, 1], "data_format": "NDHWC" if three_d else "NHWC",
             "padding": padding}
    return ctx.op(tf_op, [x], attrs, label=label)


def _max_pool_3d(ctx: NodeContext, x: Value, kernel: list[int], strides: list[int], sizes: list[int | None],
                 padding: str, *, label: str | None) -> Value:
    channels = ctx.shape(0)[1] if ctx.shape(0) is not None else None
    if any(s is None for s in [*sizes, channels]):
        raise ctx.error("3-D max pooling needs static spatial dimensions and channels")
    depth, height, width = sizes
    if padding == "SAME":
        outs = [math.ceil(n / s) for n, s in zip(sizes, strides)]  # type: ignore[operator]
    else:
        outs = [(n - k) // s + 1 for n, k, s in zip(sizes, kernel, strides)]  # type: ignore[operator]

    def pool(v: Value, k: list[int], st: list[int], name: str | None) -> Value:
        return ctx.op("MaxPool", [v], {"ksize": [1, *k, 1], "strides": [1, *st, 1], "data_format": "NHWC",
                                       "padding": padding}, label=name)

    planes = ctx.reshape(x, [-1, height, width, channels], label="planes")
    y = pool(planes, kernel[1:], strides[1:], "pool_hw")
    y = ctx.reshape(y, [-1, depth, outs[1] * outs[2], channels], label="columns")
    y = pool(y, [kernel[0], 1], [strides[0], 1], "pool_d")
    return ctx.reshape(y, [-1, *outs, channels], label=label or "pool")


def _ceil_out_sizes(ctx: NodeContext, sizes: Sequence[int | None], kernel: Sequence[int], strides: Sequence[int],
                    begin: Sequence[int], end: Sequence[int]) -> list[int]:
    """ONNX's ceil_mode output sizes; a last window starting in the end padding is dropped."""
    if any(s is None for s in sizes) or -1 in begin:
        raise ctx.error("ceil_mode=1 needs static spatial dimensions")
    out = []
    for n, k, s, b, e in zip(sizes, kernel, strides, begin, end):
        o = math.ceil((n + b + e - k) / s) + 1  # type: ignore[operator]
        if (o - 1) * s >= n + b:  # type: ignore[operator]
            o -= 1
        out.append(o)
    return out


def _avg_correction(sizes: Sequence[int | None], kernel: Sequence[int], strides: Sequence[int],
                    begin: Sequence[int], end: Sequence[int], out_sizes: Sequence[int] | None,
                    count_include_pad: bool) -> np.ndarray | None:
    """kernel area / ONNX divisor for each output pixel, shaped [(OD,) OH, OW, 1]; None when all ones.

    A VALID AvgPool over the zero-padded input divides by the kernel area everywhere; ONNX divides
    by the number of real elements (or, with count_include_pad, of real and explicitly padded ones).
    """
    factors = []
    for axis, (n, k, s, b, e) in enumerate(zip(sizes, kernel, strides, begin, end)):
        o = out_sizes[axis] if out_sizes else (n + b + e - k) // s + 1  # type: ignore[operator]
        starts = np.arange(o) * s - b
        lo, hi = (-b, n + e) if count_include_pad else (0, n)  # type: ignore[operator]
        counts = np.minimum(starts + k, hi) - np.maximum(starts, lo)
        factors.append(k / counts.astype(np.float64))
    fix = factors[0]
    for factor in factors[1:]:
        fix = np.multiply.outer(fix, factor)
    if np.allclose(fix, 1.0, rtol=0, atol=0):
        return None
    return fix.astype(np.float32)[..., None]


def _with_pool_shape(ctx: NodeContext, result: Laid | list[Laid]) -> Laid | Tensor | list:
    """The pool's outputs with the ONNX shape the lowering computes when the input's sizes are static: onnx 1.23's
    shape inference keeps ceil_mode's last window when it starts in the end padding (MaxPool [1, 2, 4] kernel 1
    stride 2 ceil_mode: 3, onnxruntime 2), and a reader that reshaped to its 3 crashed in TF.js."""
    dims = ctx.shape(0)
    if dims is None or any(d is None for d in dims[2:]):
        return result
    n = len(dims) - 2
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    strides = [int(s) for s in ctx.attr("strides", [1] * n)]
    dilations = [int(d) for d in ctx.attr("dilations", [1] * n)]
    begin, end = onnx_pads(ctx, dims[2:], kernel, strides, dilations)
    if -1 in begin:
        return result
    shape = (dims[0], dims[1], *pool_out_sizes(dims[2:], kernel, strides, dilations, begin, end,
                                                bool(ctx.attr("ceil_mode", 0))))
    items = result if isinstance(result, list) else [result]
    own = [Tensor(name, value=item.value, perm=item.perm, shape=shape) for item, name in zip(items, ctx.node.output)]
    return own if isinstance(result, list) else own[0]


@onnx_op("MaxPool")
def max_pool(ctx: NodeContext) -> Laid | Tensor | list:
    return _with_pool_shape(ctx, _pool(ctx, "max"))


@onnx_op("AveragePool")
def average_pool(ctx: NodeContext) -> Laid | Tensor | list:
    return _with_pool_shape(ctx, _pool(ctx, "avg"))


def _powered(ctx: NodeContext, x: Value, p: float) -> Value:
    """|x|^p (Square for p=2, Abs for p=1)."""
    if p == 2:
        return ctx.op("Square", [x], label="pow_p")
    magnitude = ctx.op("Abs", [x], label="abs")
    if p == 1:
        return magnitude
    return ctx.op("Pow", [magnitude, ctx.scalar_like(p, magnitude, label="p")], label="pow_p")


def _root(ctx: NodeContext, y: Value, p: float) -> Value:
    if p == 2:
        return ctx.op("Sqrt", [y])
    if p == 1:
        return ctx.op("Identity", [y])
    return ctx.op("Pow", [y, ctx.scalar_like(1.0 / p, y, label="inv_p")])


@onnx_op("LpPool")
def lp_pool(ctx: NodeContext) -> Laid | Tensor | list:
    """(sum over the window of |x|^p)^(1/p): the window sum is a (padded) average times the area."""
    p = float(ctx.attr("p", 2))
    if p <= 0:
        raise ctx.error(f"p={p} must be positive")
    summed = _pool(ctx, "sum", prepare=lambda x: _powered(ctx, x, p))
    return _with_pool_shape(ctx, ctx.laid(_root(ctx, summed.value, p), summed.perm))


@onnx_op("GlobalLpPool")
def global_lp_pool(ctx: NodeContext) -> Laid:
    p = float(ctx.attr("p", 2))
    x, perm = ctx.input_laid(0)
    x = _powered(ctx, x, p)
    axes = sorted(layout.ir_axis(perm, a) for a in range(2, ctx.rank(0)))
    y = ctx.op("Sum", [x, ctx.ints(axes, label="axes")], {"keep_dims": True, "Tidx": DType.INT32}, label="sum")
    return ctx.laid(_root(ctx, y, p), perm)


@onnx_op("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx: NodeContext) -> Laid:
    """Mean/Max over the spatial axes, keeping dims, in whatever layout the input has."""
    tf_op = "Mean" if ctx.op_type == "GlobalAveragePool" else "Max"
    return reduce(ctx, tf_op, list(range(2, ctx.rank(0))), keepdims=True)


# -- normalization ------------------------------------------------------------------------------------
def _names_the_norm(ctx: NodeContext, folded: list[Node]) -> None:
    """The conv (and BiasAdd) a batch norm folds into compute the norm's value: they name the norm last, so
    ``verify --trace`` pairs the norm with them and no longer compares the scaled conv with the source's conv."""
    for node in folded:
        node.provenance = merge(node.provenance, ctx.graph.provenance_scope)


@onnx_op("BatchNormalization")
def batch_norm(ctx: NodeContext) -> Laid:
    """Inference batch norm folded into one multiply and one add over the channel axis (any layout).

    Parameters computed at run time, and training mode, are composed (:mod:`.batch_norm_runtime`).
    """
    if ctx.attr("training_mode", 0) or any(ctx.const(i) is None for i in range(1, 5)):
        from .batch_norm_runtime import batch_norm_composed

        return batch_norm_composed(ctx)
    eps = float(ctx.attr("epsilon", 1e-5))
    scale, bias, mean, var = (ctx.require_const(i, name).astype(np.float64)
                              for i, name in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var")))
    mult = scale / np.sqrt(var + eps)
    shift = bias - mean * mult
    rank = ctx.rank(0)
    x, perm = ctx.input_laid(0)
    folded = _fold_into_conv(ctx, x, perm, mult, shift)
    if folded is not None:
        return ctx.laid(folded, perm)
    axis = layout.ir_axis(perm, 1) if rank > 1 else 0
    shape = (-1,) + (1,) * (rank - 1 - axis)
    dtype = x.dtype.numpy if x.dtype is not None else np.float32
    y = ctx.op("Mul", [x, ctx.make_const(mult.reshape(shape).astype(dtype), label="scale")], label="scale_mul")
    y = ctx.op("AddV2", [y, ctx.make_const(shift.reshape(shape).astype(dtype), label="shift")])
    return ctx.laid(y, perm)


def _fold_into_conv(ctx: NodeContext, x: Value, perm: layout.Perm, mult: np.ndarray, shift: np.ndarray
                    ) -> Value | None:
    """Fold the batch norm into the convolution that feeds only it: scaled filter, adjusted bias.

    Saves a Mul and an AddV2 per conv; onnxruntime makes the same fusion, so results stay as close.
    """
    if perm != NHWC or not ctx.single_use(0):
        return None
    conv_node, bias_node = x.producer, None
    if conv_node.op == "BiasAdd":
        bias_node, conv_node = conv_node, conv_node.inputs[0].producer
    if conv_node.op not in ("Conv2D", "DepthwiseConv2dNative") or conv_node.inputs[1].producer.op != "Const":
        return None
    if bias_node is not None and bias_node.inputs[1].producer.op != "Const":
        return None
    readers = ctx.graph.consumers()
    chain = [conv_node.output(0)] + ([bias_node.output(0)] if bias_node else [])
    if any(len(readers.get(v, [])) > (1 if v is not x else 0) for v in chain):
        return None
    weight = materialize(conv_node.inputs[1].producer.value).astype(np.float64)
    if conv_node.op == "Conv2D":
        weight = weight * mult
    else:  # HWCM: output channel c * M + m
        weight = weight * mult.reshape(weight.shape[2], weight.shape[3])
    bias = materialize(bias_node.inputs[1].producer.value).astype(np.float64) if bias_node else 0.0
    dtype = x.dtype.numpy if x.dtype is not None else np.float32
    _names_the_norm(ctx, [conv_node] + ([bias_node] if bias_node else []))
    conv_node.inputs[1] = ctx.make_const(weight.astype(dtype), label="folded_filter")
    new_bias = ctx.make_const((bias * mult + shift).astype(dtype), label="folded_bias")
    if bias_node is not None:
        bias_node.inputs[1] = new_bias
        return x
    return ctx.op("BiasAdd", [x, new_bias], {"data_format": "NHWC"})
