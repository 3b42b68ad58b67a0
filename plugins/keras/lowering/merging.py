"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate.

Their output masks are :func:`.masking.merged_mask`. Keras 3's Multiply, Maximum and Minimum also read their
inputs' masks for the values (``_merge_function``): Multiply takes 1 at an input's masked steps and zeroes the
steps no input keeps (when every input is masked); Maximum / Minimum take, step by step, the inputs that keep it.
"""
from __future__ import annotations

from functools import reduce

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext, broadcast_shape
from .registry import Unsupported, lowers

_BINARY = {"Add": "AddV2", "Multiply": "Mul", "Maximum": "Maximum", "Minimum": "Minimum", "Average": "AddV2"}
#: The merges Keras computes in the integers' own dtype (Average too: it adds them before dividing).
_ARITHMETIC = frozenset({"Add", "Subtract", "Multiply", "Average"})
#: Integer dtypes whose sums and products wrap around within float32's exact range (and bools, which Keras does not
#: add as numbers).
_WRAPPING = (DType.UINT8, DType.INT8, DType.UINT16, DType.INT16, DType.BOOL)


def _refuse_wrapping_integers(ctx: LayerContext) -> None:
    """Keras (3 and tf_keras) adds, subtracts and multiplies integers in their promoted dtype, left to right: 8- and
    16-bit ones wrap around (uint8 200 + 100 is 44), which the lowering's float32 arithmetic does not. Refused when
    the first two inputs are such integers (after a float, Keras computes in floats)."""
    if ctx.class_name not in _ARITHMETIC:
        return
    first = [ctx.integer_dtype(i) for i in range(min(2, len(ctx.inputs)))]
    if any(d is None for d in first):
        return
    promoted = DType.from_any(np.result_type(*(d.numpy for d in first if d is not None)))
    if promoted in _WRAPPING:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on {promoted.numpy} inputs (Keras computes in "
                          "that dtype, wrapping around)")


def _inputs(ctx: LayerContext, at_least: int = 2) -> list[Value]:
    if len(ctx.inputs) < at_least:
        raise ctx.error(f"merges {len(ctx.inputs)} tensors")
    return ctx.inputs


def _same_rank(ctx: LayerContext, inputs: list[Value]) -> list[Value]:
    """Inputs of lower rank expanded at axis 1 until every rank is the highest, as Keras's ``Merge.call`` does
    (``[batch, 4]`` against ``[batch, 3, 4]`` is ``[batch, 1, 4]``), not aligned at the right as broadcasting would
    (which pairs the batch with the steps)."""
    top = max(len(ctx.shape(x)) for x in inputs)
    out = []
    for i, x in enumerate(inputs):
        for j in range(top - len(ctx.shape(x))):
            x = ctx.expand_dims(x, 1, f"rank_{i}_{j}")
        out.append(x)
    return out


@lowers(*_BINARY)
def elementwise(ctx: LayerContext) -> Value:
    inputs = _inputs(ctx)
    _refuse_wrapping_integers(ctx)
    op = _BINARY[ctx.class_name]
    if ctx.keras3 and any(m is not None for m in ctx.masks) and ctx.class_name in _MASK_READING:
        return _MASK_READING[ctx.class_name](ctx, _same_rank(ctx, inputs), _kept_masks(ctx, inputs), op)
    inputs = _same_rank(ctx, inputs)
    steps = iter(range(len(inputs)))
    y = reduce(lambda a, b: ctx.binary(op, a, b, label=f"{op}_{next(steps)}"), inputs)
    if ctx.class_name == "Average":
        y = ctx.scalar_op("RealDiv", y, float(len(inputs)), "mean")
    return y


@lowers("Subtract")
def subtract(ctx: LayerContext) -> Value:
    if len(ctx.inputs) != 2:
        raise ctx.error(f"subtracts {len(ctx.inputs)} tensors (it takes exactly 2)")
    _refuse_wrapping_integers(ctx)
    return ctx.binary("Sub", *_same_rank(ctx, ctx.inputs))


@lowers("Concatenate")
def concatenate(ctx: LayerContext) -> Value:
    inputs = _inputs(ctx, 1)
    shapes = [ctx.shape(v) for v in inputs]
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise ctx.error(f"concatenates tensors of ranks {[len(s) for s in shapes]}")
    axis = int(ctx.config.get("axis", -1))
    axis = axis + rank if axis < 0 else axis
    if not 1 <= axis < rank:
        raise Unsupported(f"layer {ctx.name!r} (Concatenate) on axis {axis}")
    sizes = [s[axis] for s in shapes]
    out = list(shapes[0])
    out[axis] = None if None in sizes else sum(sizes)
    return ctx.op("ConcatV2", [*inputs, ctx.ints(axis, "axis")], {"N": len(inputs), "Tidx": DType.INT32},
                  shape=tuple(out))


def _step_keep(ctx: LayerContext, mask: Value, label: str) -> Value:
    """A ``[batch, steps]`` mask as ``[batch, steps, 1]``, to select over a rank-3 input's features."""
    return ctx.expand_dims(mask, 2, label)


def _kept_masks(ctx: LayerContext, inputs: list[Value]) -> list[Value | None]:
    """The masks Keras 3's ``_merge_function`` sees: those of the inputs of the highest rank only, since the others
    reach it through ``ops.expand_dims``, whose result carries no mask. A ``[batch, steps]`` mask on a rank-3 input
    is the one form read (each step's features kept or not); when every input is masked and the ranks differ,
    the merged output mask Keras would OR from masks of different shapes is left a gap."""
    ranks = [len(ctx.shape(x)) for x in inputs]
    kept = [m if rank == max(ranks) else None for m, rank in zip(ctx.masks, ranks)]
    masked = [m for m in kept if m is not None]
    if max(ranks) != 3 or any(len(ctx.shape(m)) != 2 for m in masked) or \
            (len(set(ranks)) > 1 and all(m is not None for m in ctx.masks)):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): masks on inputs of ranks {ranks}")
    return kept


def _select(ctx: LayerContext, keep: Value, a: Value, b: Value, label: str) -> Value:
    return ctx.op("SelectV2", [keep, a, b], {"T": DType.FLOAT32}, dtype=DType.FLOAT32,
                  shape=broadcast_shape(broadcast_shape(keep.shape, a.shape), b.shape), label=label)


def _masked_multiply(ctx: LayerContext, inputs: list[Value], masks: list[Value | None], op: str) -> Value:
    """Keras 3's ``Multiply``: ``where(mask, x, 1)`` per input, then ``where(any mask, product, 0)`` if all are masked."""
    every = all(m is not None for m in masks)
    out, out_keep = None, None
    for i, (x, mask) in enumerate(zip(inputs, masks)):
        if mask is not None:
            keep = _step_keep(ctx, mask, f"keep_{i}")
            x = _select(ctx, keep, x, ctx.floats(1.0, f"one_{i}"), f"ones_outside_{i}")
            if every:
                out_keep = keep if out_keep is None else ctx.op("LogicalOr", [out_keep, keep], dtype=DType.BOOL,
                                                               shape=keep.shape, label=f"kept_{i}")
        out = x if out is None else ctx.binary(op, out, x, label=f"{op}_{i}")
    if every:
        out = _select(ctx, out_keep, out, ctx.floats(0.0, "zero"), "zeros_outside")
    return out


def _masked_extremum(ctx: LayerContext, inputs: list[Value], masks: list[Value | None], op: str) -> Value:
    """Keras 3's ``_apply_merge_op_and_or_mask`` (Maximum, Minimum), step by step as Keras loops."""
    out, out_keep = inputs[0], None
    if masks[0] is not None:
        out_keep = _step_keep(ctx, masks[0], "keep_0")
    for i, (x, mask) in enumerate(zip(inputs[1:], masks[1:]), start=1):
        keep = _step_keep(ctx, mask, f"keep_{i}") if mask is not None else None
        if keep is not None:
            x = _select(ctx, keep, x, out, f"input_{i}_kept")
        if out_keep is not None:
            out = _select(ctx, out_keep, out, x, f"output_{i}_kept")
        out_keep = ctx.op("LogicalOr", [out_keep, keep], dtype=DType.BOOL, shape=keep.shape, label=f"kept_{i}") \
            if keep is not None and out_keep is not None else None
        out = ctx.binary(op, out, x, label=f"{op}_{i}")
    return out


_MASK_READING = {"Multiply": _masked_multiply, "Maximum": _masked_extremum, "Minimum": _masked_extremum}
