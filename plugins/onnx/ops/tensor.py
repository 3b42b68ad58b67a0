"""Shape and data-movement ops: Reshape/Flatten need ONNX's memory order; Transpose costs nothing."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext, Tensor
from ..mapping import onnx_op
from . import run_time
from .common import SLICE_ATTRS, choose_layout, norm_axis, reshape_laid, static_target
from .reshape_to_shape_of import reshape_to_shape_of


@onnx_op("Identity")
def identity(ctx: NodeContext) -> Tensor:
    return ctx.tensor(0)


@onnx_op("Dropout")
def dropout(ctx: NodeContext) -> list[Tensor | Laid | None]:
    """Inference: the input passes through, and the (bool, opset 10+) mask output is all true.

    Training mode drops at random, which a conversion cannot reproduce: refused unless the ratio is a
    constant 0 (then training is the identity too). A ``training_mode`` computed at run time is refused
    for the same reason, as passing the input through is only right when it turns out false.
    """
    if ctx.opset >= 12 and ctx.has_input(2):
        training = ctx.const(2)
        ratio = ctx.const(1) if ctx.has_input(1) else np.asarray(0.5)
        no_drop = ratio is not None and float(np.asarray(ratio).reshape(-1)[0]) == 0.0
        if training is None and not no_drop:
            raise ctx.error("training_mode computed at run time is not supported: the input passes through only when "
                            "it is false, which cannot be known before running (a constant false converts)")
        if training is not None and bool(np.asarray(training).reshape(-1)[0]) and not no_drop:
            raise ctx.error("training mode is not supported (convert the model for inference)")
    elif ctx.opset < 7 and not ctx.attr("is_test", 0):
        raise ctx.error("training mode is not supported (convert the model for inference)")
    if len(ctx.node.output) < 2 or not ctx.node.output[1] or ctx.opset < 10:
        # before opset 10 the mask has the input's type, and onnxruntime fills it with zeros: not given
        return [ctx.tensor(0), None]
    x, perm = ctx.input_laid(0)
    mask = ctx.op("Fill", [ctx.shape_of(x, label="mask_shape"), ctx.make_const(np.asarray(True), label="true")],
                  {"index_type": DType.INT32, "T": DType.BOOL}, dtype=DType.BOOL, label="mask")
    return [ctx.tensor(0), ctx.laid(mask, perm)]


@onnx_op("Constant")
def constant(ctx: NodeContext) -> np.ndarray:
    from ..tensors import tensor_to_array, uses_external_data

    attrs = ctx.attrs
    if "value" in attrs:
        if uses_external_data(attrs["value"]):
            raise ctx.error("a Constant whose value is in an external data file is not supported",
                            hint="store the value in the model, or make it an initializer")
        try:
            return tensor_to_array(attrs["value"])
        except (ValueError, TypeError, OverflowError) as err:
            raise ctx.error(f"its value is corrupt: the data does not fit the shape ({str(err)[:200]})") from None
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
    if -1 in requested and in_shape is not None and len(set(copies.values())) == len(copies):
        # the -1: what is left of the input once the copied dims cancel out, which works even when
        # the copied dims are unknown (a dynamic batch and sequence length); not when a dim is copied
        # twice ([t, t, -1] of [4, t, 16]: the -1 is 64 / t, not 64)
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
            same = reshape_to_shape_of(ctx)  # torch's GroupNorm export: back to Shape(input)
            if same is not None:
                return same
            return _with_known_dims(ctx)
        dims, copies = _target_shape(ctx, entries)
        return _shaped(reshape_laid(ctx, 0, dims, copies), dims)
    return reshape_laid(ctx, 0, *_target_shape(ctx, [int(d) for d in requested.reshape(-1)]))


def _with_known_dims(ctx: NodeContext) -> Value:
    """The Reshape to a computed target as computed, with the dims that target fixes recorded when its
    sizes read from another tensor are known to be the input's own (:mod:`..dim_classes`): its ``-1``
    is then known (attention's heads axis in a legacy export). Rebuilding the target from the input's
    own shape instead costs as many nodes as it saves (BERT, GPT-2, ViT)."""
    out = ctx.reshape(ctx.input_for_reshape(0), ctx.input(1), label=None)
    entries = _symbolic_target(ctx, equal_dims=True)
    copied = [e[1] for e in entries or () if isinstance(e, tuple)]
    if entries is not None and len(set(copied)) == len(copied) and out.shape is None:  # -1: each dim once
        dims = _target_shape(ctx, entries)[0]
        if len(dims) == len(ctx.output_shape(0) or dims):  # a 0 might be ONNX's copy-a-dim: left unknown
            out.shape = tuple(d if isinstance(d, int) and d > 0 else None for d in dims)
    return out


def _shaped(out: Laid, dims: list[int | None]) -> Laid:
    """``out`` with the dims its target fixes recorded (a run-time target leaves them unset); a 0 might
    be ONNX's copy-a-dim: left unknown."""
    if out.value.shape is None and out.value.producer is not None and out.value.producer.op == "Reshape":
        out.value.shape = layout.permute(tuple(d if isinstance(d, int) and d > 0 else None for d in dims), out.perm)
    return out


def _symbolic_target(ctx: NodeContext, *, equal_dims: bool = False) -> list[int | tuple[str, int]] | None:
    """A computed target whose elements are all numbers or dims of the reshaped tensor (which the
    exporter read with Shape, from it or from a tensor whose dim at that position is provably the
    same, with ``equal_dims``): those dims become copies, ``("copy", axis)``. None otherwise."""
    from ..symbolic import Dim, elements_of

    elements = elements_of(ctx.tensor(1))
    if elements is None:
        return None
    entries: list[int | tuple[str, int]] = []
    x, rank = ctx.node.input[0], len(ctx.shape(0) or ())
    for p, e in enumerate(elements):
        if isinstance(e, Dim) and e.tensor == x:
            entries.append(("copy", e.axis))
        elif isinstance(e, Dim) and equal_dims and p < rank and ctx.same_dim((e.tensor, e.axis), (x, p)):
            entries.append(("copy", p))  # another tensor's dim, equal to the input's own (dim_classes)
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
    if sorted(perm) != list(range(rank)):
        raise ctx.error(f"perm {perm} is not a permutation of the {rank} axes")
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
    axis_value = ctx.int32(layout.ir_axis(target, axis), label="axis")
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
    out = ctx.shape_of(x, label="shape")
    if perm is not None:
        out = ctx.gather(out, ctx.ints(layout.inverse(perm), label="order"), 0, label="onnx_order")
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
    else:  # ONNX counts negative indices from the end; TF.js's GatherV2 rejects them
        size = dims[axis] if dims is not None else None
        indices = run_time.wrap(ctx, ctx.cast(ctx.input(1), DType.INT32, label="indices_int"),
                                run_time.axis_size(ctx, x, ir_axis, size), "indices")
    out = ctx.gather(x, indices, ir_axis, label=None)
    return ctx.laid(out, out_perm)


def _wrap_at_run_time(ctx: NodeContext, x: Value, axis: int, idx: np.ndarray) -> Value:
    """``idx`` with the axis' run-time size added to its negative entries."""
    size = ctx.run_time_dim(x, axis, label="axis_size")
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
    if _run_time_axes(ctx, 13):
        return _unsqueeze_run_time(ctx)
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
        out = ctx.expand_dims(out, axis, label=None if k == len(axes) - 1 else f"expand{k}")
    return out


@onnx_op("Squeeze")
def squeeze(ctx: NodeContext) -> Laid:
    rank = ctx.rank(0)
    if _run_time_axes(ctx, 13):
        return _squeeze_run_time(ctx, rank)
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


def _run_time_axes(ctx: NodeContext, since_input: int) -> bool:
    return ctx.opset >= since_input and ctx.has_input(1) and ctx.const(1) is None


def _count_axes(ctx: NodeContext) -> int:
    count = run_time.length(ctx, 1)
    if count is None:
        raise ctx.error("axes computed at run time need a static length (the output rank depends on it)")
    return count


def _unsqueeze_run_time(ctx: NodeContext) -> Laid:
    """Unsqueeze by axes known at run time: a Reshape to a shape built in the graph (the input's dims
    with 1s at the new positions), or to the static output shape ONNX inference gives."""
    out_rank = ctx.rank(0) + _count_axes(ctx)
    target = ctx.output_shape(0)
    if target is not None and len(target) == out_rank and None not in target:
        return reshape_laid(ctx, 0, target)
    rank = ctx.rank(0)
    new = run_time.member_mask(ctx, run_time.axes(ctx, 1, out_rank), out_rank, "new_axes")
    new_int = ctx.op("Cast", [new], {"SrcT": DType.BOOL, "DstT": DType.INT32, "Truncate": False}, dtype=DType.INT32,
                     label="new_axes_int")
    before = ctx.op("Cumsum", [new_int, ctx.int32(0, label="count_axis")],
                    {"exclusive": False, "reverse": False, "Tidx": DType.INT32}, dtype=DType.INT32, label="new_before")
    source = ctx.op("Sub", [ctx.ints(list(range(out_rank)), label="positions"), before], dtype=DType.INT32,
                    label="source_axis")
    source = ctx.op("Minimum", [ctx.op("Maximum", [source, ctx.int32(0, label="lowest")], dtype=DType.INT32,
                                       label="source_low"), ctx.int32(rank, label="highest")],
                    dtype=DType.INT32, label="source_clamped")
    x = ctx.input_for_reshape(0)
    dims = ctx.concat_shape([ctx.shape_of(x), [1]], label="dims_and_one")
    kept = ctx.gather(dims, source, label="kept_dims")
    shape = ctx.op("SelectV2", [new, ctx.ints([1] * out_rank, label="ones"), kept], {"T": DType.INT32},
                   dtype=DType.INT32, label="target_shape")
    return ctx.laid(ctx.reshape(x, shape, label=None), None)


def _squeeze_run_time(ctx: NodeContext, rank: int) -> Laid:
    """Squeeze by axes known at run time (TF.js's Squeeze takes them as an attribute): a Reshape to the
    input's dims with those axes left out, picked in order by a TopKV2 on ``rank - position`` over the
    kept positions; or to the static output shape ONNX inference gives."""
    out_rank = rank - _count_axes(ctx)
    target = ctx.output_shape(0)
    if target is not None and len(target) == out_rank and None not in target:
        return reshape_laid(ctx, 0, target)
    removed = run_time.member_mask(ctx, run_time.axes(ctx, 1, rank), rank, "removed")
    scores = ctx.op("SelectV2", [removed, ctx.make_const(np.zeros(rank, np.float32), label="gone"),
                                 ctx.make_const(np.arange(rank, 0, -1, dtype=np.float32), label="order")],
                    {"T": DType.FLOAT32}, dtype=DType.FLOAT32, label="scores")
    _, kept = ctx.multi_op("TopKV2", [scores, ctx.int32(out_rank, label="kept_count")], {"sorted": True}, 2,
                           dtypes=[DType.FLOAT32, DType.INT32], label="kept")
    x = ctx.input_for_reshape(0)
    shape = ctx.gather(ctx.shape_of(x), kept, label="target_shape")
    return ctx.laid(ctx.reshape(x, shape, label=None), None)


@onnx_op("Pad")
def pad(ctx: NodeContext) -> Laid:
    """Pad/PadV2 (constant) or MirrorPad (reflect), with the pads remapped to the input's layout."""
    mode = ctx.attr("mode", "constant")
    rank = ctx.rank(0)
    computed = any(ctx.has_input(i) and ctx.const(i) is None for i in (1, 2, 3))
    cropping = ctx.const(1) is not None and bool((np.asarray(ctx.const(1)) < 0).any())
    if ctx.opset >= 11 and (mode == "wrap" or computed or cropping):
        return _pad_run_time(ctx, mode, rank)
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
    """Edge padding as one GatherV2 per padded axis, with indices that repeat the first and last element
    (for a size known only at run time: ``Range(-begin, size + end)`` clamped to ``[0, size - 1]``)."""
    dims = ctx.shape(0) or (None,) * rank
    padded = [a for a in range(rank) if begin[a] or end[a]]
    for k, a in enumerate(padded):
        if dims[a] is not None:
            n = int(dims[a])
            index = ctx.make_const(np.concatenate([np.zeros(begin[a], np.int32), np.arange(n, dtype=np.int32),
                                                   np.full(end[a], n - 1, np.int32)]), label=f"edge{a}")
        else:
            index = _edge_indices_at_run_time(ctx, x, layout.ir_axis(perm, a), begin[a], end[a], f"edge{a}")
        x = ctx.gather(x, index, layout.ir_axis(perm, a), label=None if k == len(padded) - 1 else f"edge_pad{a}")
    return x


def _edge_indices_at_run_time(ctx: NodeContext, x: Value, axis: int, begin: int, end: int, label: str) -> Value:
    """int32 indices into ``x``'s IR ``axis`` that edge-pad it by ``begin``/``end``: clamped ``Range``."""
    i32 = DType.INT32
    size = ctx.run_time_dim(x, axis, label=f"{label}/size")
    limit = ctx.op("AddV2", [size, ctx.int32(end, label=f"{label}/end")], dtype=i32, label=f"{label}/limit")
    steps = ctx.op("Range", [ctx.int32(-begin, label=f"{label}/start"), limit, ctx.int32(1, label=f"{label}/step")],
                   {"Tidx": i32}, dtype=i32, label=f"{label}/range")
    last = ctx.op("Sub", [size, ctx.int32(1, label=f"{label}/one")], dtype=i32, label=f"{label}/last")
    low = ctx.op("Maximum", [steps, ctx.int32(0, label=f"{label}/zero")], dtype=i32, label=f"{label}/at_least_0")
    return ctx.op("Minimum", [low, last], dtype=i32, label=label)


def _pad_run_time(ctx: NodeContext, mode: str, rank: int) -> Laid:
    """Pad whose pads, value or axes are computed (or whose mode is wrap): TF.js's Pad/PadV2/MirrorPad
    read their paddings tensor at run time, so the ONNX pads become a ``[rank, 2]`` paddings tensor in
    the input's layout (a ScatterNd of the per-axis pairs). Negative pads crop: the positive part is
    padded, then a Slice removes the rest. Edge and wrap gather each axis with clamped / wrapped
    indices of ``Range(-begin, size + end)``, which crops by itself."""
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise ctx.error(f"pad mode {mode!r} is not supported (constant, reflect, edge and wrap are)")
    i32 = DType.INT32
    count = run_time.length(ctx, 3) if ctx.has_input(3) else rank
    if count is None:
        raise ctx.error("axes computed at run time need a static length")
    x, perm = ctx.input_laid(0)

    def ints_input(i: int, label: str) -> Value:
        value = ctx.const(i)
        if value is not None:
            return ctx.ints([int(v) for v in np.asarray(value).reshape(-1)], label=label)
        return run_time.input_int32(ctx, i, label)

    onnx_axes = (run_time.wrap(ctx, ints_input(3, "axes_given"), rank, "axes") if ctx.has_input(3)
                 else ctx.ints(list(range(rank)), label="axes"))
    ir_axes = run_time.to_ir_axes(ctx, onnx_axes, perm, rank)
    pairs = ctx.op("Transpose", [ctx.op("Reshape", [ints_input(1, "pads"), ctx.ints([2, count], label="pads_2n")],
                                        {"Tshape": i32}, dtype=i32, label="pads_by_side"),
                                 ctx.ints([1, 0], label="pairs_perm")], {"Tperm": i32}, dtype=i32, label="pairs")
    where = ctx.op("Reshape", [ir_axes, ctx.ints([count, 1], label="where_shape")], {"Tshape": i32}, dtype=i32,
                   label="where")
    paddings = ctx.op("ScatterNd", [where, pairs, ctx.ints([rank, 2], label="paddings_shape")],
                      {"Tindices": i32, "T": i32}, dtype=i32, label="paddings")
    if mode in ("edge", "wrap"):
        return ctx.laid(_gather_pad(ctx, x, paddings, rank, mode), perm)
    zero = ctx.int32(0, label="zero")
    grow = ctx.op("Maximum", [paddings, zero], dtype=i32, label="grow")
    if mode == "reflect":
        out = ctx.op("MirrorPad", [x, grow], {"mode": "REFLECT", "Tpaddings": i32}, label="padded")
    elif ctx.has_input(2):
        value = ctx.reshape(ctx.input(2), [], label="value")
        if value.dtype != x.dtype:
            value = ctx.op("Cast", [value], {"SrcT": value.dtype, "DstT": x.dtype, "Truncate": False}, dtype=x.dtype,
                           label="value_cast")
        out = ctx.op("PadV2", [x, grow, value], {"Tpaddings": i32}, label="padded")
    else:
        out = ctx.op("Pad", [x, grow], {"Tpaddings": i32}, label="padded")
    crop = ctx.op("Maximum", [ctx.op("Neg", [paddings], dtype=i32, label="negated"), zero], dtype=i32, label="crop")
    begin = ctx.op("StridedSlice", [crop, ctx.ints([0, 0], label="crop_b0"), ctx.ints([0, 1], label="crop_b1"),
                                    ctx.ints([1, 1], label="crop_b2")],
                   {**SLICE_ATTRS, "begin_mask": 1, "end_mask": 1, "shrink_axis_mask": 2}, dtype=i32, label="begin")
    removed = ctx.op("Sum", [crop, ctx.int32(1, label="crop_axis")], {"keep_dims": False, "Tidx": i32}, dtype=i32,
                     label="removed")
    size = ctx.op("Sub", [ctx.shape_of(out, label="padded_shape"), removed], dtype=i32, label="size")
    return ctx.laid(ctx.op("Slice", [out, begin, size], {"Index": i32}), perm)


def _gather_pad(ctx: NodeContext, x: Value, paddings: Value, rank: int, mode: str) -> Value:
    """Edge (clamped) or wrap (modulo) padding, one GatherV2 per axis of the IR layout."""
    i32 = DType.INT32
    flat = ctx.op("Reshape", [paddings, ctx.ints([-1], label="flat_shape")], {"Tshape": i32}, dtype=i32, label="flat")
    dims = ctx.shape_of(x, label="input_shape")
    for k in range(rank):
        begin = run_time.scalar(ctx, flat, 2 * k, label=f"a{k}/begin")
        end = run_time.scalar(ctx, flat, 2 * k + 1, label=f"a{k}/end")
        size = run_time.scalar(ctx, dims, k, label=f"a{k}/size")
        if mode == "edge":  # Range(-begin, size + end), clamped: negative pads crop by themselves
            first = ctx.op("Neg", [begin], dtype=i32, label=f"a{k}/first")
            stop = ctx.op("AddV2", [size, end], dtype=i32, label=f"a{k}/stop")
            stop = ctx.op("Maximum", [stop, first], dtype=i32, label=f"a{k}/stop_ordered")
            index = ctx.op("Range", [first, stop, ctx.int32(1, label=f"a{k}/step")], {"Tidx": i32}, dtype=i32,
                           label=f"a{k}/positions")
            last = ctx.op("Sub", [size, ctx.int32(1, label=f"a{k}/one")], dtype=i32, label=f"a{k}/last")
            index = ctx.op("Minimum", [ctx.op("Maximum", [index, ctx.int32(0, label=f"a{k}/zero")], dtype=i32,
                                              label=f"a{k}/low"), last], dtype=i32, label=f"a{k}/index")
        else:  # crop first, then wrap round what is left (as onnxruntime does with negative pads)
            index = _wrapped_index(ctx, begin, end, size, f"a{k}")
        x = ctx.gather(x, index, k, label=None if k == rank - 1 else f"a{k}/padded")
    return x


def _wrapped_index(ctx: NodeContext, begin: Value, end: Value, size: Value, label: str) -> Value:
    """Wrap padding's source positions along one axis: ``begin``/``end`` may be negative (a crop)."""
    i32 = DType.INT32
    zero = ctx.int32(0, label=f"{label}/w_zero")

    def part(value: Value, negate: bool, name: str) -> Value:
        if negate:
            value = ctx.op("Neg", [value], dtype=i32, label=f"{label}/{name}_neg")
        return ctx.op("Maximum", [value, zero], dtype=i32, label=f"{label}/{name}")

    cut_begin, cut_end = part(begin, True, "cut_begin"), part(end, True, "cut_end")
    grow_begin, grow_end = part(begin, False, "grow_begin"), part(end, False, "grow_end")
    inner = ctx.op("Sub", [ctx.op("Sub", [size, cut_begin], dtype=i32, label=f"{label}/inner_begin"), cut_end],
                   dtype=i32, label=f"{label}/inner")
    positions = ctx.op("Range", [ctx.op("Neg", [grow_begin], dtype=i32, label=f"{label}/w_first"),
                                 ctx.op("AddV2", [inner, grow_end], dtype=i32, label=f"{label}/w_stop"),
                                 ctx.int32(1, label=f"{label}/w_step")], {"Tidx": i32}, dtype=i32,
                       label=f"{label}/w_positions")
    return ctx.op("AddV2", [ctx.op("FloorMod", [positions, inner], dtype=i32, label=f"{label}/wrapped"), cut_begin],
                  dtype=i32, label=f"{label}/index")
