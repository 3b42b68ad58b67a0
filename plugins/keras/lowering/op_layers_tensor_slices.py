"""Slices whose bounds are tensors: tf_keras ``x[:, :tf.shape(y)[1]]``, ``const[:, :n, :]`` (recorded as
``tf.strided_slice`` with an ``end`` tensor: the TF Transformer tutorial's positional encoding), ``x[i]`` with ``i`` a
scalar tensor, ``tf.strided_slice(x, begin, end_tensor)``.

The bounds are known only at run time, so the NormalizeStridedSlice pass cannot resolve them, and TF.js reads some
configurations differently from TF (new axis with shrink, an empty axis with begin past end, negative strides with
masks; ``core/passes/strided_slice.py``). So the lowering resolves each input axis as TF does, at run time, with a
few int32 ops on ``tf.shape(x)``: a negative bound counts from the end, bounds are clamped to the axis, an end before
the begin makes the axis empty, a masked bound runs to the axis' edge, a negative stride reads a reversed axis (a
ReverseV2) forwards. TF.js then sees a StridedSlice without masks and in-range bounds only, a GatherV2 per indexed axis
(it raises on an index outside the axis, as TF does, where a clamped slice would read another row) and ExpandDims
of the new axes. A tensor step (``x[:, ::s]``) picks the clamping and the direction by its sign at run time: that
axis is read whole by the StridedSlice, then gathered at ``range(begin, end, s)``, its bounds resolved as TF resolves
them for that sign (:func:`_stepped`); a step of 0 raises in TF.js's Range as in TF.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..op_calls import TensorArg
from .known_values import known_ints
from .op_layers import OpCall, _cast_int64

I32 = DType.INT32
#: Stands for a masked bound before clamping: past every axis size TF.js can hold, far from int32's edges.
_FAR = 2**30
_SLICEABLE = (DType.FLOAT32, DType.INT32, DType.INT64, DType.BOOL)

Bound = int | Value | None  # None: masked (runs to the axis' edge)


@dataclasses.dataclass
class Entry:
    """One entry of a slice spec: ``kind`` is ``slice``, ``index``, ``new`` or ``ellipsis``."""

    kind: str
    begin: Bound = None
    end: Bound = None
    stride: int | Value = 1  # a Value: a step known at run time (getitem only)


def getitem_entries(c: OpCall, spec: list[Any]) -> list[Entry]:
    """The entries of ``x[spec]`` (a tf_keras ``slice_spec``) whose bounds may be tensors."""
    entries = []
    for item in spec:
        if item is Ellipsis:
            entries.append(Entry("ellipsis"))
        elif item is None:
            entries.append(Entry("new"))
        elif isinstance(item, TensorArg) or (isinstance(item, int) and not isinstance(item, bool)):
            entries.append(Entry("index", _bound(c, item)))
        elif isinstance(item, slice):
            if item.step is not None and not isinstance(item.step, TensorArg) and \
                    (isinstance(item.step, bool) or not isinstance(item.step, int)):
                raise c.gap(f"a slice step {item.step!r}")
            if item.step == 0:
                raise c.gap("a slice step of 0")
            step = _bound(c, item.step) if isinstance(item.step, TensorArg) else item.step or 1
            entries.append(Entry("slice", _bound(c, item.start), _bound(c, item.stop), step))
        else:
            raise c.gap(f"index {item!r}")
    return entries


def strided_slice_entries(c: OpCall, masks: dict[str, int]) -> list[Entry]:
    """The entries ``tf.strided_slice(x, begin, end, strides, *masks)`` stands for, begin/end lists or vectors."""
    begin, end = _bounds(c, "begin"), _bounds(c, "end")
    strides = [1] * len(begin) if c.arguments.get("strides") is None else _steps(c)
    if not all(isinstance(s, Value) or isinstance(s, int) and not isinstance(s, bool) and s != 0 for s in strides) \
            or not len(begin) == len(end) == len(strides):
        raise c.gap(f"strides {strides!r} for {len(begin)} begin and {len(end)} end values")
    entries = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        def bit(name: str) -> bool:
            return bool(masks[name] >> i & 1)
        if bit("ellipsis_mask"):
            entries.append(Entry("ellipsis"))
        elif bit("new_axis_mask"):
            entries.append(Entry("new"))
        elif bit("shrink_axis_mask"):
            if isinstance(s, Value):
                raise c.gap("a tensor stride on a shrunk axis (TensorFlow raises where it is negative)")
            if s < 0:
                raise c.gap(f"stride {s} on a shrunk axis (TensorFlow raises)")
            entries.append(Entry("index", b))
        else:
            entries.append(Entry("slice", None if bit("begin_mask") else b, None if bit("end_mask") else e, s))
    return entries


def _steps(c: OpCall) -> list[int | Value]:
    """``strides`` of ``tf.strided_slice`` holding tensors (``[1, tf.shape(x)[1] // 3]``): each an int where the
    graph fixes it when it is built (:mod:`.known_values`), else a scalar int32 tensor read at run time
    (:func:`_stepped`; a step of 0 raises in TF.js's Range, as TF raises)."""
    steps = _bounds(c, "strides")
    if any(s is None for s in steps):
        raise c.gap("a stride of None")
    return [_fixed(s) for s in steps]


def _fixed(step: int | Value) -> int | Value:
    if isinstance(step, Value):
        known = known_ints(step)
        if known is not None and known[0] != 0:
            return known[0]
    return step


def _bounds(c: OpCall, name: str) -> list[Bound]:
    """``begin``/``end`` of ``tf.strided_slice``: a list of ints and scalar tensors, or an int vector tensor of a
    known length (each entry sliced out)."""
    value = c.arguments.get(name)
    if isinstance(value, TensorArg):
        vector = _cast_int64(c, c.ctx.inputs[value.index], f"{name}_int32")
        shape = c.ctx.shape(vector)
        if vector.dtype != I32 or len(shape) != 1 or shape[0] is None:
            raise c.gap(f"argument {name!r} is a {vector.dtype.value} tensor of shape {list(shape)} (an int vector "
                        "of a known length is lowered)")
        return [_element(c, vector, i, f"{name}{i}") for i in range(shape[0])]
    items = value if isinstance(value, list) else [value]
    return [_bound(c, v) for v in items]


def _bound(c: OpCall, item: Any) -> Bound:
    if item is None:
        return None
    if isinstance(item, TensorArg):
        value = _cast_int64(c, c.ctx.inputs[item.index], "bound_int32")
        if value.dtype != I32 or c.ctx.shape(value) != ():
            raise c.gap(f"a slice bound that is a {value.dtype.value} tensor of shape {list(c.ctx.shape(value))} "
                        "(TensorFlow takes int scalars)")
        return value
    if isinstance(item, bool) or not isinstance(item, (int, np.integer)) or not -2**31 <= int(item) < 2**31:
        raise c.gap(f"a slice bound {item!r}")
    return int(item)


def _element(c: OpCall, vector: Value, i: int, label: str) -> Value:
    return c.ctx.op("StridedSlice", [vector, c.ctx.ints([i], f"{label}_begin"), c.ctx.ints([i + 1], f"{label}_end"),
                                     c.ctx.ints([1], f"{label}_strides")],
                    {"Index": I32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                     "shrink_axis_mask": 1}, dtype=I32, shape=(), label=label)


def _per_axis(c: OpCall, entries: list[Entry], rank: int) -> tuple[list[Entry], list[int]]:
    """One ``slice``/``index`` entry per input axis (the ellipsis and missing trailing entries full slices), and
    the output positions of the new axes."""
    if sum(e.kind == "ellipsis" for e in entries) > 1:
        raise c.gap("several ellipses")
    consumed = sum(e.kind in ("slice", "index") for e in entries)
    if consumed > rank:
        raise c.gap(f"{consumed} indices for a rank-{rank} tensor")
    axes: list[Entry] = []
    new_at: list[int] = []
    out = 0
    for entry in entries:
        if entry.kind == "ellipsis":
            axes += [Entry("slice") for _ in range(rank - consumed)]
            out += rank - consumed
            consumed = rank
        elif entry.kind == "new":
            new_at.append(out)
            out += 1
        else:
            axes.append(entry)
            out += entry.kind == "slice"
    axes += [Entry("slice") for _ in range(rank - len(axes))]
    return axes, new_at


def tensor_strided_slice(c: OpCall, x: Value, entries: list[Entry]) -> Value:
    """``x`` sliced by ``entries`` (bounds ints, scalar int32 tensors or masked), resolved as TF resolves them."""
    ctx = c.ctx
    shape = ctx.shape(x)
    if x.dtype not in _SLICEABLE:
        raise c.gap(f"slicing a {x.dtype.value} tensor")
    axes, new_at = _per_axis(c, entries, len(shape))
    if x.dtype == DType.BOOL and any(isinstance(a.stride, Value) or a.stride != 1 for a in axes):
        raise c.gap("strides other than 1 on bools (TF.js's wasm reads them wrongly)")
    stepped = {d: a for d, a in enumerate(axes) if isinstance(a.stride, Value)}
    axes = [Entry("slice") if d in stepped else a for d, a in enumerate(axes)]  # read whole, gathered after
    reversed_axes = [d for d, a in enumerate(axes) if a.stride < 0]
    if reversed_axes:
        x = ctx.op("ReverseV2", [x, ctx.ints(reversed_axes, "reversed_axes")], {"Tidx": I32}, shape=shape,
                   label="reversed")
    ranges = [Entry("slice") if a.kind == "index" else a for a in axes]  # an indexed axis: gathered after
    begin, end = _resolved_bounds(c, x, ranges)
    strides = ctx.ints([abs(a.stride) for a in ranges], "strides")
    sliced = ctx.op("StridedSlice", [x, begin, end, strides],
                    {"Index": I32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                     "shrink_axis_mask": 0}, shape=tuple(_static_size(a, d) for a, d in zip(ranges, shape)),
                    label="StridedSlice")
    for d, entry in stepped.items():
        sliced = _stepped(c, sliced, d, entry)
    sliced = _indexed(c, sliced, {d: a.begin for d, a in enumerate(axes) if a.kind == "index"})
    for k, position in enumerate(new_at):
        sliced = ctx.expand_dims(sliced, position, f"new_axis{k}")
    return sliced


def _stepped(c: OpCall, x: Value, axis: int, entry: Entry) -> Value:
    """``x`` read along ``axis`` from ``entry.begin`` to ``entry.end`` by the run-time step ``entry.stride``, as TF
    resolves it by the step's sign: a masked begin is 0 or ``size - 1``, a masked end ``size`` or before the front,
    a negative bound counts from the end, bounds clamp to ``[0, size]`` or ``[-1, size - 1]``, an end past the begin
    the wrong way empties the axis. Gathered at ``range(begin, end, step)``."""
    ctx = c.ctx
    step = entry.stride
    label = f"step{axis}"
    size = _element(c, ctx.op("Shape", [x], {"out_type": I32}, dtype=I32, shape=(len(x.shape),),
                              label=f"{label}_sizes"), axis, f"{label}_size")
    forward = ctx.op("Greater", [step, ctx.ints(0, f"{label}_zero")], dtype=DType.BOOL, shape=(),
                     label=f"{label}_forward")

    def pick(a: Value, b: Value, name: str) -> Value:
        return ctx.op("SelectV2", [forward, a, b], {"T": I32}, dtype=I32, shape=(), label=f"{label}_{name}")

    last = ctx.binary("Sub", size, ctx.ints(1, f"{label}_one"), label=f"{label}_last")
    low = pick(ctx.ints(0, f"{label}_front"), ctx.ints(-1, f"{label}_before_front"), "low")
    high = pick(size, last, "high")

    def resolved(bound: int | Value | None, masked: Value, name: str) -> Value:
        if bound is None:
            return masked
        value = bound if isinstance(bound, Value) else ctx.ints(bound, f"{label}_{name}_value")
        return _clamped(c, _from_end(c, value, size, f"{label}_{name}"), low, high, f"{label}_{name}")

    begin = resolved(entry.begin, pick(ctx.ints(0, f"{label}_masked_begin"), last, "begin_masked"), "begin")
    end = resolved(entry.end, pick(size, ctx.ints(-1, f"{label}_masked_end"), "end_masked"), "end")
    end = pick(ctx.binary("Maximum", end, begin, label=f"{label}_forward_end"),
               ctx.binary("Minimum", end, begin, label=f"{label}_backward_end"), "reachable_end")
    indices = ctx.op("Range", [begin, end, step], {"Tidx": I32}, dtype=I32, shape=(None,), label=f"{label}_indices")
    shape = (*x.shape[:axis], None, *x.shape[axis + 1:])
    return ctx.op("GatherV2", [x, indices, ctx.ints(axis, f"{label}_axis")],
                  {"Tparams": x.dtype, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=x.dtype, shape=shape,
                  label=f"{label}_gathered")


def _indexed(c: OpCall, x: Value, indices: dict[int, int | Value]) -> Value:
    """``x`` indexed along each axis of ``indices`` (that axis dropped): a negative index counts from the end, then
    a GatherV2, which raises in TF.js on an index outside the axis where TensorFlow raises (a clamped slice would
    read a wrong row). The last axis first, so the earlier ones keep their numbers."""
    if not indices:
        return x
    ctx = c.ctx
    axes = sorted(indices)
    sizes = ctx.op("GatherV2", [ctx.op("Shape", [x], {"out_type": I32}, dtype=I32, shape=(len(x.shape),),
                                       label="indexed_sizes"), ctx.ints(axes, "indexed_axes"), ctx.ints(0, "zero")],
                   {"Tparams": I32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=I32, shape=(len(axes),),
                   label="indexed_axis_sizes")
    wrapped = _from_end(c, _packed(c, [indices[d] for d in axes], "index"), sizes, "index")
    for k in reversed(range(len(axes))):
        shape = x.shape[:axes[k]] + x.shape[axes[k] + 1:]
        x = ctx.op("GatherV2", [x, _element(c, wrapped, k, f"index{k}"), ctx.ints(axes[k], f"index{k}_axis")],
                   {"Tparams": x.dtype, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=x.dtype, shape=shape,
                   label=f"indexed{k}")
    return x


def _static_size(entry: Entry, size: int | None) -> int | None:
    if size is None or isinstance(entry.begin, Value) or isinstance(entry.end, Value):
        return None
    return len(range(*slice(entry.begin, entry.end, entry.stride).indices(size)))


def _resolved_bounds(c: OpCall, x: Value, axes: list[Entry]) -> tuple[Value, Value]:
    """In-range begin and end vectors, one entry per axis of ``x`` (already reversed where the stride is negative),
    as TF resolves the spec: negative bounds count from the end, bounds clamp to ``[0, size]`` (``[-1, size - 1]``
    with a negative stride), an end before the begin empties the axis, an index reads ``i:i+1``."""
    ctx = c.ctx
    rank = len(axes)
    forward = np.array([a.stride > 0 for a in axes])
    index = np.array([a.kind == "index" for a in axes])
    sizes = ctx.op("Shape", [x], {"out_type": I32}, dtype=I32, shape=(rank,), label="sizes")
    raw_begin = _packed(c, [a.begin if a.begin is not None else (0 if a.stride > 0 else _FAR) for a in axes], "begin")
    raw_end = _packed(c, [a.end if a.end is not None else (_FAR if a.stride > 0 else -_FAR) for a in axes], "end")
    low = ctx.ints(np.where(forward, 0, -1), "low")
    high = ctx.binary("AddV2", sizes, ctx.ints(np.where(forward, 0, -1), "high_offset"), label="high")
    begin = _clamped(c, _from_end(c, raw_begin, sizes, "begin"), low, high, "begin")
    end = _clamped(c, _from_end(c, raw_end, sizes, "end"), low, high, "end")
    if forward.all():
        end = ctx.binary("Maximum", end, begin, label="end_not_before_begin")
    else:
        end = _select(c, forward, ctx.binary("Maximum", end, begin, label="forward_end"),
                      ctx.binary("Minimum", end, begin, label="backward_end"), "end_not_before_begin")
    if index.any():
        end = _select(c, index, ctx.binary("AddV2", begin, ctx.ints(np.ones(rank, np.int32), "one"),
                                           label="index_end"), end, "index_or_end")
    if not forward.all():  # position p of an axis is position size - 1 - p of the reversed axis
        last = ctx.binary("Sub", sizes, ctx.ints(np.ones(rank, np.int32), "last_offset"), label="last")
        begin, end = (_select(c, forward, v, ctx.binary("Sub", last, v, label=f"reversed_{label}"), f"{label}_read")
                      for v, label in ((begin, "begin"), (end, "end")))
    return begin, end


def _packed(c: OpCall, bounds: list[int | Value], label: str) -> Value:
    if not any(isinstance(b, Value) for b in bounds):
        return c.ctx.ints(bounds, label)
    values = [b if isinstance(b, Value) else c.ctx.ints(b, f"{label}{i}") for i, b in enumerate(bounds)]
    return c.ctx.op("Pack", values, {"N": len(values), "axis": 0}, dtype=I32, shape=(len(values),),
                    label=f"{label}_raw")


def _from_end(c: OpCall, bound: Value, sizes: Value, label: str) -> Value:
    """``bound + size`` where it is negative (added to 0 elsewhere, so no sum leaves int32)."""
    ctx = c.ctx
    negative = ctx.op("Less", [bound, ctx.ints(0, f"{label}_zero")], dtype=DType.BOOL, shape=bound.shape,
                      label=f"{label}_negative")
    shift = ctx.op("SelectV2", [negative, sizes, ctx.op("ZerosLike", [sizes], shape=sizes.shape,
                                                         label=f"{label}_no_shift")],
                   {"T": I32}, dtype=I32, shape=sizes.shape, label=f"{label}_shift")
    return ctx.binary("AddV2", bound, shift, label=f"{label}_from_end")


def _clamped(c: OpCall, bound: Value, low: Value, high: Value, label: str) -> Value:
    return c.ctx.binary("Minimum", c.ctx.binary("Maximum", bound, low, label=f"{label}_low"), high,
                        label=f"{label}_clamped")


def _select(c: OpCall, where: np.ndarray, a: Value, b: Value, label: str) -> Value:
    condition = c.ctx.const(np.asarray(where, bool), f"{label}_where")
    return c.ctx.op("SelectV2", [condition, a, b], {"T": I32}, dtype=I32, shape=a.shape, label=label)
