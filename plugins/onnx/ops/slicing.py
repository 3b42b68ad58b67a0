"""Slicing, splitting, broadcasting and creation ops; axes follow the input's layout where they can."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext
from ..dtypes import ir_dtype
from ..mapping import onnx_op
from . import run_time
from .common import SLICE_ATTRS, norm_axis

_INT32 = np.iinfo(np.int32)


def _clamp32(values: list[int]) -> list[int]:
    """ONNX uses INT64_MAX for "to the end": clamped to int32, TF's StridedSlice clamps the rest like ONNX."""
    return [int(min(max(v, _INT32.min + 1), _INT32.max)) for v in values]


def _slice_params(ctx: NodeContext) -> tuple[list[int], list[int], list[int], list[int]]:
    rank = ctx.rank(0)
    if ctx.opset < 10:
        starts, ends = list(ctx.attr("starts")), list(ctx.attr("ends"))
        axes = list(ctx.attr("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts = ctx.require_const(1, "starts").reshape(-1).tolist()
        ends = ctx.require_const(2, "ends").reshape(-1).tolist()
        axes = ctx.require_const(3, "axes").reshape(-1).tolist() if ctx.has_input(3) else list(range(len(starts)))
        steps = ctx.require_const(4, "steps").reshape(-1).tolist() if ctx.has_input(4) else [1] * len(starts)
    axes = [norm_axis(ctx, int(a), rank) for a in axes]
    if 0 in steps:
        raise ctx.error("a slice step of 0 is invalid")
    return [int(s) for s in starts], [int(e) for e in ends], axes, [int(s) for s in steps]


@onnx_op("Slice")
def slice_(ctx: NodeContext) -> Laid:
    """StridedSlice over every axis of the input's own layout (python slicing semantics, as ONNX's)."""
    if ctx.opset >= 10 and any(ctx.has_input(i) and ctx.const(i) is None for i in range(1, 5)):
        return _slice_run_time(ctx)
    starts, ends, axes, steps = _slice_params(ctx)
    rank = ctx.rank(0)
    x, perm = ctx.input_laid(0)
    full = layout.full(perm, rank)
    begin, end, stride = [0] * rank, [0] * rank, [1] * rank
    mask = 0
    sliced = dict(zip(axes, zip(starts, ends, steps)))
    for k, a in enumerate(full):
        if a in sliced:
            begin[k], end[k], stride[k] = sliced[a]
        else:
            mask |= 1 << k  # whole axis
    out = ctx.op("StridedSlice", [x, ctx.ints(_clamp32(begin), label="begin"), ctx.ints(_clamp32(end), label="end"),
                                  ctx.ints(stride, label="strides")],
                 {**SLICE_ATTRS, "begin_mask": mask, "end_mask": mask})
    return ctx.laid(out, perm)


def _slice_run_time(ctx: NodeContext) -> Laid:
    """Slice with starts/ends/axes/steps known only at run time: per sliced axis, ONNX's clamping of
    start and end (python's ``slice.indices``) computed in the graph, then a GatherV2 of
    ``Range(start, end, step)`` along that axis (TF.js's GatherV2 reads the axis at run time, so the
    axes may be computed too). Exact for every in-int32 value, including empty and reversed slices."""
    rank = ctx.rank(0)
    count = run_time.length(ctx, 1)
    if count is None:
        raise ctx.error("starts computed at run time need a static length")
    x, perm = ctx.input_laid(0)

    def vector(i: int, default: list[int], label: str) -> Value:
        if not ctx.has_input(i):
            return ctx.ints(default, label=label)
        value = ctx.const(i)
        if value is not None:
            return ctx.ints(_clamp32([int(v) for v in np.asarray(value).reshape(-1)]), label=label)
        return run_time.input_int32(ctx, i, label)

    starts, ends = vector(1, [], "starts"), vector(2, [], "ends")
    axes = run_time.to_ir_axes(ctx, run_time.wrap(ctx, vector(3, list(range(count)), "axes_given"), rank, "axes"),
                               perm, rank)
    steps = vector(4, [1] * count, "steps")
    dims = ctx.shape_of(x, label="input_shape")
    zero, one = ctx.int32(0, label="zero"), ctx.int32(1, label="one")
    sizes = dims
    for k in range(count):
        def op(name: str, inputs: list, label: str, dtype: DType = DType.INT32) -> Value:
            return ctx.op(name, inputs, dtype=dtype, label=f"s{k}/{label}")

        axis = run_time.scalar(ctx, axes, k, label=f"s{k}/axis")
        size = ctx.gather(dims, axis, label=f"s{k}/size")
        step = run_time.scalar(ctx, steps, k, label=f"s{k}/step")
        backwards = op("Less", [step, zero], "backwards", DType.BOOL)
        lower = ctx.op("SelectV2", [backwards, ctx.int32(-1, label=f"s{k}/minus_one"), zero], {"T": DType.INT32},
                       dtype=DType.INT32, label=f"s{k}/lower")
        upper = ctx.op("SelectV2", [backwards, op("Sub", [size, one], "last"), size], {"T": DType.INT32},
                       dtype=DType.INT32, label=f"s{k}/upper")

        def bound(vec: Value, name: str) -> Value:
            value = run_time.wrap(ctx, run_time.scalar(ctx, vec, k, label=f"s{k}/{name}_given"), size, f"s{k}/{name}")
            return op("Minimum", [op("Maximum", [value, lower], f"{name}_low"), upper], f"{name}_clamped")

        start, end = bound(starts, "start"), bound(ends, "end")
        end = ctx.op("SelectV2", [backwards, op("Minimum", [end, start], "end_back"),
                                  op("Maximum", [end, start], "end_fwd")], {"T": DType.INT32}, dtype=DType.INT32,
                     label=f"s{k}/end_ordered")
        index = ctx.op("Range", [start, end, step], {"Tidx": DType.INT32}, dtype=DType.INT32, label=f"s{k}/index")
        # TF.js-wasm's GatherV2 gives a wrongly shaped result for an empty input: never gather an empty
        # index vector (take [0] instead) and cut the result to its true sizes at the end
        taken = ctx.op("Size", [index], {"out_type": DType.INT32}, dtype=DType.INT32, label=f"s{k}/taken")
        padded = ctx.op("ConcatV2", [index, ctx.ints([0], label=f"s{k}/filler"), zero], {"N": 2, "Tidx": DType.INT32},
                        dtype=DType.INT32, label=f"s{k}/padded")
        nonempty = ctx.op("Reshape", [op("Maximum", [taken, one], "nonempty_count"), ctx.ints([1], label=f"s{k}/vec")],
                          {"Tshape": DType.INT32}, dtype=DType.INT32, label=f"s{k}/nonempty_end")
        index = ctx.op("StridedSlice", [padded, ctx.ints([0], label=f"s{k}/b"), nonempty, ctx.ints([1], label=f"s{k}/s")],
                       SLICE_ATTRS, dtype=DType.INT32, label=f"s{k}/nonempty")
        x = ctx.gather(x, index, axis, label=f"s{k}/sliced")
        sizes = ctx.op("SelectV2", [op("Equal", [ctx.ints(list(range(rank)), label=f"s{k}/positions"), axis],
                                       "is_axis", DType.BOOL), taken, sizes], {"T": DType.INT32}, dtype=DType.INT32,
                       label=f"s{k}/sizes")
    out = ctx.op("Slice", [x, ctx.ints([0] * rank, label="origin"), sizes], {"Index": DType.INT32})
    return ctx.laid(out, perm)


def _split_sizes(ctx: NodeContext, axis: int) -> list[int]:
    dims = ctx.shape(0)
    size = dims[axis] if dims is not None else None
    outputs = len(ctx.node.output)
    if ctx.opset < 13 and ctx.attr("split") is not None:
        return [int(s) for s in ctx.attr("split")]
    if ctx.opset >= 13 and ctx.has_input(1):
        return [int(s) for s in ctx.require_const(1, "split").reshape(-1)]
    count = int(ctx.attr("num_outputs", outputs))
    if size is None:
        raise ctx.error("splitting an axis of unknown size into equal parts is not supported")
    chunk = -(-size // count)  # opset 18: the last chunk may be smaller
    sizes = [chunk] * (size // chunk) + ([size % chunk] if size % chunk else [])
    if len(sizes) != count:
        raise ctx.error(f"cannot split {size} into {count} parts")
    return sizes


def _equal_parts_of_unknown_axis(ctx: NodeContext, axis: int) -> bool:
    dims = ctx.shape(0)
    no_sizes = ctx.attr("split") is None if ctx.opset < 13 else not ctx.has_input(1)
    return no_sizes and (dims is None or dims[axis] is None)


def _equal_sizes_at_run_time(ctx: NodeContext, x: Value, ir_axis: int, count: int) -> Value:
    """``count`` parts of an axis whose size is known at run time: ``ceil(size / count)`` each, the
    last one what is left (ONNX 18's rule; earlier opsets require the size to divide evenly)."""
    size = ctx.run_time_dim(x, ir_axis, label="axis_size")
    chunk = ctx.op("FloorDiv", [ctx.op("AddV2", [size, ctx.int32(count - 1, label="round_up")], dtype=DType.INT32,
                                       label="size_up"), ctx.int32(count, label="count")], dtype=DType.INT32,
                   label="chunk")
    rest = ctx.op("Sub", [size, ctx.op("Mul", [chunk, ctx.int32(count - 1, label="others")], dtype=DType.INT32,
                                       label="taken")], dtype=DType.INT32, label="last")
    parts = ctx.op("Fill", [ctx.ints([count - 1], label="first_count"), chunk], {"index_type": DType.INT32,
                                                                                  "T": DType.INT32},
                   dtype=DType.INT32, label="firsts")
    last = ctx.op("Reshape", [rest, ctx.ints([1], label="last_vec")], {"Tshape": DType.INT32}, dtype=DType.INT32,
                  label="last_part")
    return ctx.concat_shape([parts, last], label="sizes")


@onnx_op("Split")
def split(ctx: NodeContext) -> list[Laid]:
    """SplitV; sizes computed at run time feed it as they are (TF.js reads them while it runs), and
    equal parts of an axis of unknown size are sized in the graph."""
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", 0)), rank)
    x, perm = ctx.input_laid(0)
    ir_axis = layout.ir_axis(perm, axis)
    if ctx.opset >= 13 and ctx.has_input(1) and ctx.const(1) is None:
        count = len(ctx.node.output)
        sizes_value = run_time.input_int32(ctx, 1, "sizes")
    elif _equal_parts_of_unknown_axis(ctx, axis):
        count = int(ctx.attr("num_outputs", len(ctx.node.output)))
        sizes_value = _equal_sizes_at_run_time(ctx, x, ir_axis, count)
    else:
        sizes = _split_sizes(ctx, axis)
        count, sizes_value = len(sizes), ctx.ints(sizes, label="sizes")
    outs = ctx.multi_op("SplitV", [x, sizes_value, ctx.int32(ir_axis, label="axis")],
                        {"num_split": count, "Tlen": DType.INT32}, count)
    return [ctx.laid(o, perm) for o in outs]


def _ones_like_shape(ctx: NodeContext, shape: Value, dtype: DType) -> Value:
    one = ctx.make_const(np.ones((), dtype=dtype.numpy if dtype != DType.BOOL else np.bool_), label="one")
    return ctx.op("Fill", [shape, one], {"index_type": DType.INT32, "T": dtype}, dtype=dtype, label="ones")


@onnx_op("Expand", since=8)
def expand(ctx: NodeContext) -> Laid | Value:
    """BroadcastTo the static result shape (in the input's layout); a computed shape multiplies by ones."""
    out_shape = ctx.output_shape(0)
    target = ctx.const(1)
    in_shape = ctx.shape(0)
    if target is not None and in_shape is not None and (out_shape is None or None in out_shape):
        padded = (1,) * (len(target) - len(in_shape)) + tuple(in_shape)
        dims = []
        for a, b in zip(padded, (1,) * (len(in_shape) - len(target)) + tuple(int(d) for d in target.reshape(-1))):
            dims.append(b if a == 1 else a)  # None stays None (unknown input size, target 1)
        out_shape = tuple(dims)
    if out_shape is not None and all(d is not None for d in out_shape):
        t = ctx.tensor(0)
        if t.value is not None and t.perm is not None and t.rank == len(out_shape):
            return ctx.laid(ctx.op("BroadcastTo", [t.value, ctx.ints(layout.permute(out_shape, t.perm), label="shape")],
                                   {"Tidx": DType.INT32}), t.perm)
        return ctx.op("BroadcastTo", [ctx.input(0), ctx.ints(list(out_shape), label="shape")], {"Tidx": DType.INT32})
    x = ctx.input(0)
    ones = _ones_like_shape(ctx, ctx.input(1), x.dtype)
    return ctx.op("LogicalAnd" if x.dtype == DType.BOOL else "Mul", [x, ones])


@onnx_op("Tile", since=6)
def tile(ctx: NodeContext) -> Laid | Value:
    repeats = ctx.const(1)
    if repeats is None:
        return ctx.op("Tile", [ctx.input(0), ctx.input(1)], {"Tmultiples": DType.INT32})
    x, perm = ctx.input_laid(0)
    reps = [int(r) for r in repeats.reshape(-1)]
    return ctx.laid(ctx.op("Tile", [x, ctx.ints(layout.permute(reps, perm), label="multiples")],
                           {"Tmultiples": DType.INT32}), perm)


@onnx_op("ConstantOfShape", since=9)
def constant_of_shape(ctx: NodeContext) -> Value:
    """Fill of a computed shape (a constant shape is folded before any mapping runs)."""
    from ..tensors import tensor_to_array

    value = ctx.attr("value")
    array = tensor_to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    dtype = ir_dtype(array.dtype)
    fill = ctx.make_const(array.reshape(()), label="value")
    return ctx.op("Fill", [ctx.input(0), fill], {"index_type": DType.INT32, "T": dtype}, dtype=dtype)


@onnx_op("Range", since=11)
def range_(ctx: NodeContext) -> Value:
    """TF.js's Range counts ``|ceil((limit - start) / delta)|`` values even when a ``delta`` in (0, 1] runs away
    from a lower limit (its empty-range test is ``delta > 1``): ``Range(2, 1, 1)`` gave ``[2]`` where ONNX's
    ``max(ceil(...), 0)`` is empty. So a positive delta's limit is first raised to ``start`` (an empty range);
    a negative delta's runaway case TF.js already empties."""
    start, limit, delta = ctx.input(0), ctx.input(1), ctx.input(2)
    step = ctx.const(2)
    if step is None or float(np.asarray(step).reshape(-1)[0]) > 0:
        reachable = ctx.op("Maximum", [limit, start], dtype=start.dtype, label="reachable_limit")
        if step is None:  # the delta's sign is known only at run time
            rising = ctx.op("Greater", [delta, ctx.scalar_like(0, delta, label="zero")], dtype=DType.BOOL,
                            label="rising")
            reachable = ctx.op("SelectV2", [rising, reachable, limit], {"T": start.dtype}, dtype=start.dtype,
                               label="limit")
        limit = reachable
    return ctx.op("Range", [start, limit, delta], {"Tidx": start.dtype}, dtype=start.dtype)


@onnx_op("Size")
def size(ctx: NodeContext) -> np.ndarray | Value:
    dims = ctx.shape(0)
    if dims is not None and all(d is not None for d in dims):
        return np.asarray(int(np.prod(dims, dtype=np.int64)), dtype=np.int64)
    x, _ = ctx.input_laid(0)
    return ctx.op("Size", [x], {"out_type": DType.INT32}, dtype=DType.INT32)


@onnx_op("Upsample", since=7)
def upsample(ctx: NodeContext) -> Laid:
    """The deprecated Resize: scales as attribute (opset 7-8) or input (9), asymmetric coordinates."""
    from .resize import resize_to
    from .resize_runtime import resize_at_run_time

    mode = ctx.attr("mode", "nearest")
    if ctx.opset >= 9 and ctx.const(1) is None:  # scales computed at run time
        return resize_at_run_time(ctx, scales_input=1, sizes_input=None, mode=mode, transform="asymmetric",
                                  nearest_mode="floor")
    scales = ctx.attr("scales") if ctx.opset < 9 else ctx.require_const(1, "scales").reshape(-1).tolist()
    return resize_to(ctx, [float(s) for s in scales], None, mode=mode, transform="asymmetric", nearest_mode="floor")
