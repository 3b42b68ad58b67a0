"""Shape and data-movement ops: Reshape/Flatten need ONNX's memory order; Transpose costs nothing."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext, Tensor
from ..mapping import onnx_op
from .common import SLICE_ATTRS, choose_layout, norm_axis, reshape_laid, static_target


@onnx_op("Identity")
def identity(ctx: NodeContext) -> Tensor:
    return ctx.tensor(0)


@onnx_op("Dropout")
def dropout(ctx: NodeContext) -> list[Tensor | None]:
    """Inference: the input passes through; the mask output is not supported.

    A ``training_mode`` computed at run time is refused: passing the input through is only right when it is false.
    """
    training = ctx.require_const(2, "training_mode") if ctx.opset >= 12 and ctx.has_input(2) else None
    if (training is not None and bool(np.asarray(training).reshape(-1)[0])) or (
            ctx.opset < 7 and not ctx.attr("is_test", 0)):
        raise ctx.error("training mode is not supported (convert the model for inference)")
    return [ctx.tensor(0), None]


@onnx_op("Constant")
def constant(ctx: NodeContext) -> np.ndarray:
    from onnx import numpy_helper

    attrs = ctx.attrs
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    if "value_float" in attrs:
        return np.asarray(attrs["value_float"], dtype=np.float32)
    if "value_floats" in attrs:
        return np.asarray(attrs["value_floats"], dtype=np.float32)
    if "value_int" in attrs:
        return np.asarray(attrs["value_int"], dtype=np.int64)
    if "value_ints" in attrs:
        return np.asarray(attrs["value_ints"], dtype=np.int64)
    raise ctx.error(f"Constant with {', '.join(attrs) or 'no value'} is not supported")


def _target_shape(ctx: NodeContext, requested: list) -> tuple[list[int | None], dict[int, int]]:
    """ONNX Reshape's target with 0 (copy a dim, unless allowzero) and -1 resolved where shapes are known.

    ``requested`` entries are numbers or ``("copy", axis)`` (a dim of the input read at run time).
    Also returns which target dims copy which input dims, for targets with several unknown dims.
    """
    inferred = ctx.output_shape(0)
    in_shape = ctx.shape(0)
    allowzero = bool(ctx.attr("allowzero", 0))
    copies = {i: i for i, d in enumerate(requested) if isinstance(d, int) and d == 0 and not allowzero}
    copies.update({i: d[1] for i, d in enumerate(requested) if isinstance(d, tuple)})
    copies = {i: a for i, a in copies.items() if in_shape is not None and a < len(in_shape)}
    if inferred is not None and len(inferred) == len(requested) and static_target(inferred) is not None:
        return list(inferred), copies
    dims: list[int | None] = []
    for i, d in enumerate(requested):
        if i in copies:
            dims.append(in_shape[copies[i]])
        else:
            dims.append(None if d == -1 else d)
    if -1 in requested and in_shape is not None:
        # the -1: what is left of the input once the copied dims cancel out, which works even when
        # the copied dims are unknown (a dynamic batch and sequence length)
        rest = [d for a, d in enumerate(in_shape) if a not in copies.values()]
        others = [d for i, d in enumerate(dims) if i not in copies and requested[i] != -1]
        if all(d is not None for d in rest + others):
            known = int(np.prod(others, dtype=np.int64))
            if known:
                dims[requested.index(-1)] = int(np.prod(rest, dtype=np.int64)) // known
    return dims, copies


@onnx_op("Reshape", since=5)
def reshape(ctx: NodeContext) -> Laid | Value:
    """A constant target resolves 0/-1 here; a computed one (dynamic batch: Shape -> Gather ->
    Concat) is used as is, which is right unless it contains 0 (copy-a-dim), which TF lacks."""
    requested = ctx.const(1)
    if requested is None:
        target = ctx.output_shape(0)
        if target is not None and static_target(target) is not None:
            return reshape_laid(ctx, 0, target)
        entries = _symbolic_target(ctx)
        if entries is None:
            return ctx.op("Reshape", [ctx.input_for_reshape(0), ctx.input(1)], {"Tshape": DType.INT32})
        return reshape_laid(ctx, 0, *_target_shape(ctx, entries))
    return reshape_laid(ctx, 0, *_target_shape(ctx, [int(d) for d in requested.reshape(-1)]))


def _symbolic_target(ctx: NodeContext) -> list[int | tuple[str, int]] | None:
    """A computed target whose elements are all numbers or dims of the reshaped tensor (which the
    exporter read with Shape): those dims become copies, ``("copy", axis)``. None otherwise."""
    from ..symbolic import Dim, elements_of

    elements = elements_of(ctx.tensor(1))
    if elements is None:
        return None
    entries: list[int | tuple[str, int]] = []
    for e in elements:
        if isinstance(e, Dim) and e.tensor == ctx.node.input[0]:
            entries.append(("copy", e.axis))
        elif isinstance(e, int) and (e > 0 or e == -1):
            entries.append(e)
        else:
            return None
    return entries


@onnx_op("Flatten")
def flatten(ctx: NodeContext) -> Laid:
    rank = ctx.rank(0)
    axis = int(ctx.attr("axis", 1))
    axis = axis + rank if axis < 0 else axis
    shape = ctx.shape(0)

    def product(dims: tuple) -> int | None:
        return None if any(d is None for d in dims) else int(np.prod(dims, dtype=np.int64))

    target = [product(shape[:axis]), product(shape[axis:])] if shape is not None else [None, None]
    return reshape_laid(ctx, 0, target)


@onnx_op("Transpose")
def transpose(ctx: NodeContext) -> Laid:
    """No op at all: the output is the same IR value with a different recorded layout."""
    rank = ctx.rank(0)
    perm = [int(p) for p in ctx.attr("perm", list(reversed(range(rank))))]
    x, current = ctx.input_laid(0)
    inv = layout.inverse(perm)
    return ctx.laid(x, [inv[a] for a in layout.full(current, rank)])


@onnx_op("Concat")
def concat(ctx: NodeContext) -> Laid | Tensor:
    """ConcatV2 in the layout of the first input that has one; the axis follows it."""
    indices = [i for i in range(ctx.num_inputs) if ctx.has_input(i)]
    if len(indices) == 1:
        return ctx.tensor(indices[0])
    rank = ctx.rank(indices[0])
    axis = norm_axis(ctx, int(ctx.attr("axis")), rank)
    target = choose_layout(ctx, indices)
    values = [ctx.input_as(i, target) for i in indices]
    axis_value = ctx.make_const(np.int32(layout.ir_axis(target, axis)), label="axis")
    out = ctx.op("ConcatV2", [*values, axis_value], {"N": len(values), "Tidx": DType.INT32})
    return ctx.laid(out, target)


@onnx_op("Shape")
def shape(ctx: NodeContext) -> np.ndarray | Value:
    """Folded to a constant when the input's shape is static; else a Shape op (int32 in TF.js)."""
    dims = ctx.shape(0)
    rank = ctx.rank(0)
    start = int(ctx.attr("start", 0))
    end = ctx.attr("end")
    sl = slice(start, None if end is None else int(end))
    if dims is not None and all(d is not None for d in dims[sl]):
        return np.asarray(dims[sl], dtype=np.int64)
    x, perm = ctx.input_laid(0)
    out = ctx.op("Shape", [x], {"out_type": DType.INT32}, dtype=DType.INT32, label="shape")
    if perm is not None:
        out = ctx.op("GatherV2", [out, ctx.ints(layout.inverse(perm), label="order"),
                                  ctx.make_const(np.int32(0), label="gather_axis")],
                     {"batch_dims": 0, "Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32},
                     dtype=DType.INT32, label="onnx_order")
    begin, stop = range(rank)[sl].start, range(rank)[sl].stop
    if (begin, stop) == (0, rank):
        return out
    return ctx.op("StridedSlice", [out, ctx.ints([begin]), ctx.ints([stop]), ctx.ints([1])], SLICE_ATTRS,
                  dtype=DType.INT32)


@onnx_op("Gather")
def gather(ctx: NodeContext) -> Laid:
    """GatherV2; with a scalar or 1-D index the input keeps its layout (the axis is remapped)."""
    rank = ctx.rank(0)
    axis = norm_axis(ctx, int(ctx.attr("axis", 0)), rank)
    dims = ctx.shape(0)
    idx = ctx.const(1)
    q = np.ndim(idx) if idx is not None else ctx.rank(1)
    t = ctx.tensor(0)
    if t.value is not None and t.perm is not None and q <= 1:
        x, perm = t.value, t.perm
        out_perm = perm if q == 1 else layout.after_removing(perm, rank, [axis])
    else:
        x, perm, out_perm = ctx.input(0), None, None
    ir_axis = layout.ir_axis(perm, axis)
    if idx is not None:
        idx = np.asarray(idx).astype(np.int64)
        indices = None
        if (idx < 0).any():
            size = dims[axis] if dims is not None else None
            # The exporter's value_info can pin a dimension the graph computes at run time (a dynamic
            # sequence length): then count from the end of the actual axis, at run time.
            if size is None or (x.shape is not None and x.shape[ir_axis] is None):
                indices = _wrap_at_run_time(ctx, x, ir_axis, idx)
            else:
                idx = np.where(idx < 0, idx + size, idx)
        if indices is None:
            indices = ctx.make_const(idx.astype(np.int32), label="indices")
    else:
        indices = ctx.input(1)
    out = ctx.op("GatherV2", [x, indices, ctx.make_const(np.int32(ir_axis), label="axis")],
                 {"batch_dims": 0, "Tparams": x.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32})
    return ctx.laid(out, out_perm)


def _wrap_at_run_time(ctx: NodeContext, x: Value, axis: int, idx: np.ndarray) -> Value:
    """``idx`` with the axis' run-time size added to its negative entries."""
    shape = ctx.op("Shape", [x], {"out_type": DType.INT32}, dtype=DType.INT32, label="data_shape")
    size = ctx.op("StridedSlice", [shape, ctx.ints([axis], label="size_begin"), ctx.ints([axis + 1], label="size_end"),
                                   ctx.ints([1], label="size_stride")],
                  {**SLICE_ATTRS, "shrink_axis_mask": 1}, dtype=DType.INT32, label="axis_size")
    negative = (idx < 0).astype(np.int32)
    offset = size if negative.all() else ctx.op("Mul", [size, ctx.make_const(negative, label="negative")],
                                                 label="offsets")
    return ctx.op("AddV2", [ctx.make_const(idx.astype(np.int32), label="indices"), offset], label="wrapped_indices")


def _axes(ctx: NodeContext, since_input: int) -> list[int] | None:
    if ctx.opset < since_input:
        axes = ctx.attr("axes")
        return None if axes is None else [int(a) for a in axes]
    if not ctx.has_input(1):
        return None
    return [int(a) for a in ctx.require_const(1, "axes").reshape(-1)]


@onnx_op("Unsqueeze")
def unsqueeze(ctx: NodeContext) -> Laid | Value:
    axes = _axes(ctx, 13)
    if not axes:
        raise ctx.error("Unsqueeze needs axes")
    out_rank = ctx.rank(0) + len(axes)
    axes = sorted(norm_axis(ctx, a, out_rank) for a in axes)
    target = ctx.output_shape(0)
    if target is not None and static_target(target) is not None:
        return reshape_laid(ctx, 0, target)
    out = ctx.input(0)
    for k, axis in enumerate(axes):
        out = ctx.op("ExpandDims", [out, ctx.make_const(np.int32(axis), label=f"axis{k}")],
                     label=None if k == len(axes) - 1 else f"expand{k}")
    return out


@onnx_op("Squeeze")
def squeeze(ctx: NodeContext) -> Laid:
    rank = ctx.rank(0)
    axes = _axes(ctx, 13)
    dims = ctx.shape(0)
    if axes is None:
        if dims is None or any(d is None for d in dims):
            raise ctx.error("Squeeze without axes needs a static input shape")
        axes = [i for i, d in enumerate(dims) if d == 1]
    axes = sorted(norm_axis(ctx, a, rank) for a in axes)
    x, perm = ctx.input_laid(0)
    ir_axes = sorted(layout.ir_axis(perm, a) for a in axes)
    out = ctx.op("Squeeze", [x], {"squeeze_dims": ir_axes})
    return ctx.laid(out, layout.after_removing(perm, rank, axes))


@onnx_op("Pad")
def pad(ctx: NodeContext) -> Laid:
    """Pad/PadV2 (constant) or MirrorPad (reflect), with the pads remapped to the input's layout."""
    mode = ctx.attr("mode", "constant")
    rank = ctx.rank(0)
    if ctx.opset < 11:
        pads = [int(p) for p in ctx.attr("pads")]
        value = float(ctx.attr("value", 0.0))
        axes = list(range(rank))
    else:
        pads = [int(p) for p in ctx.require_const(1, "pads").reshape(-1)]
        value_array = ctx.const(2) if ctx.has_input(2) else np.zeros(())
        if value_array is None:
            raise ctx.error("the padding value must be a constant")
        value = np.asarray(value_array).reshape(-1)[0].item() if np.asarray(value_array).size else 0
        axes = ([norm_axis(ctx, int(a), rank) for a in ctx.require_const(3, "axes").reshape(-1)]
                if ctx.has_input(3) else list(range(rank)))
    n = len(axes)
    if len(pads) != 2 * n:
        raise ctx.error(f"{len(pads)} pads for {n} axes")
    if any(p < 0 for p in pads):
        raise ctx.error(f"negative pads (cropping) {pads} are not supported yet")
    begin, end = [0] * rank, [0] * rank
    for k, a in enumerate(axes):
        begin[a], end[a] = pads[k], pads[n + k]
    x, perm = ctx.input_laid(0)
    full = layout.full(perm, rank)
    paddings = ctx.make_const(np.array([[begin[a], end[a]] for a in full], dtype=np.int32), label="paddings")
    if mode == "constant":
        if value == 0:
            out = ctx.op("Pad", [x, paddings], {"Tpaddings": DType.INT32})
        else:
            out = ctx.op("PadV2", [x, paddings, ctx.scalar_like(value, x, label="value")], {"Tpaddings": DType.INT32})
    elif mode == "reflect":
        out = ctx.op("MirrorPad", [x, paddings], {"mode": "REFLECT", "Tpaddings": DType.INT32})
    elif mode == "edge":
        out = _edge_pad(ctx, x, perm, rank, begin, end)
    else:
        raise ctx.error(f"pad mode {mode!r} is not supported (constant, reflect and edge are)")
    return ctx.laid(out, perm)


def _edge_pad(ctx: NodeContext, x: Value, perm: layout.Perm, rank: int, begin: list[int], end: list[int]) -> Value:
    """Edge padding as one GatherV2 per padded axis, with indices that repeat the first and last element."""
    dims = ctx.shape(0)
    padded = [a for a in range(rank) if begin[a] or end[a]]
    if dims is None or any(dims[a] is None for a in padded):
        raise ctx.error("edge padding needs the padded axes' sizes")
    for k, a in enumerate(padded):
        n = int(dims[a])
        index = np.concatenate([np.zeros(begin[a], np.int32), np.arange(n, dtype=np.int32),
                                np.full(end[a], n - 1, np.int32)])
        x = ctx.op("GatherV2", [x, ctx.make_const(index, label=f"edge{a}"),
                                ctx.make_const(np.int32(layout.ir_axis(perm, a)), label=f"edge_axis{a}")],
                   {"batch_dims": 0, "Tparams": x.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32},
                   label=None if k == len(padded) - 1 else f"edge_pad{a}")
    return x
