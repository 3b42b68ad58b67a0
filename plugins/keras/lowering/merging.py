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
from tfjsconv.narrow_ints import int32_product, is_narrow, wrapped

from .context import LayerContext, broadcast_shape
from .registry import Unsupported, lowers

_BINARY = {"Add": "AddV2", "Multiply": "Mul", "Maximum": "Maximum", "Minimum": "Minimum", "Average": "AddV2"}
#: The merges Keras computes in the integers' own dtype (Average too: it adds them before dividing).
_ARITHMETIC = frozenset({"Add", "Subtract", "Multiply", "Average"})
#: Integer dtypes whose sums and products wrap around within float32's exact range (and bools, which Keras does not
#: add as numbers).
_WRAPPING = (DType.UINT8, DType.INT8, DType.UINT16, DType.INT16, DType.BOOL)


def _wrapping_integers(ctx: LayerContext) -> bool:
    """Whether Keras (3 and tf_keras) computes this merge in 8- or 16-bit integers, which wrap around (uint8 200 + 100
    is 44): it adds, subtracts and multiplies integers in their promoted dtype, left to right (after a float, in
    floats). Lowered exactly in int32 (:func:`_wrapped_arithmetic`) when every input is such an integer (Average
    divides the wrapped sum in float32, as TF's ``truediv`` of them does), masked ones too (Keras 3's Multiply reads
    the masks: :func:`_wrapped_arithmetic`); bools and floats after wrapped integers are refused by name."""
    if ctx.class_name not in _ARITHMETIC:
        return False
    dtypes = [ctx.integer_dtype(i) for i in range(len(ctx.inputs))]
    if any(d is None for d in dtypes[:2]):
        return False
    promoted = DType.from_any(np.result_type(*(d.numpy for d in dtypes[:2] if d is not None)))
    if promoted not in _WRAPPING:
        return False
    if promoted == DType.BOOL or None in dtypes:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on {promoted.numpy} inputs (Keras computes in "
                          "that dtype, wrapping around)")
    return True


def _wrapped_arithmetic(ctx: LayerContext, inputs: list[Value], op: str,
                        masks: list[Value | None] | None = None) -> Value:
    """The merge of 8/16-bit integers as Keras computes it: in int32 (exact: int16 products fit), wrapped into the
    promoted dtype after each step, then float32 again (the walk holds the integers of float layers as float32). Where
    an int32/int64 input joins later (``[int8, int8, int32]``: the walk hands every input as int32), the steps from it
    on are int32 ones, wrapping as TF's (products from 16-bit halves), and the result stays int32. ``masks``: those
    Keras 3's Multiply reads (:func:`_masked_multiply`), its ones and zeros selected in int32 around the wrapped
    product."""
    dtypes = [ctx.integer_dtype(i) for i in range(len(inputs))]
    as_int = [x if x.dtype == DType.INT32 else ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": DType.INT32,
                                                                     "Truncate": False},
                                                       dtype=DType.INT32, shape=x.shape, label=f"to_int32_{i}")
              for i, x in enumerate(inputs)]
    out_keep = None
    if masks is not None:
        as_int, out_keep = _ones_outside(ctx, as_int, masks)
    out, dtype = as_int[0], dtypes[0]
    for i, (x, d) in enumerate(zip(as_int[1:], dtypes[1:]), start=1):
        dtype = DType.from_any(np.result_type(dtype.numpy, d.numpy))
        if op == "Mul" and not is_narrow(dtype):
            out = int32_product(ctx.graph, out, x, f"{ctx.name}/{op}_{i}", broadcast_shape(out.shape, x.shape))
        else:
            out = ctx.binary(op, out, x, label=f"{op}_{i}")
        if is_narrow(dtype):
            out = wrapped(ctx.graph, out, dtype, f"{ctx.name}/wrap_{i}")
    out = _zeros_outside(ctx, out, out_keep)
    if not is_narrow(dtype):
        return out
    return ctx.op("Cast", [out], {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False}, dtype=DType.FLOAT32,
                  shape=out.shape, label="to_float")


def _mean(ctx: LayerContext, total: Value, count: int) -> Value:
    """Average's sum divided by the count as a float (of int32 ids: their wrapped int32 sum, as TF's ``truediv``)."""
    if total.dtype != DType.FLOAT32:
        total = ctx.op("Cast", [total], {"SrcT": total.dtype, "DstT": DType.FLOAT32, "Truncate": False},
                       dtype=DType.FLOAT32, shape=total.shape, label="sum_float")
    return ctx.scalar_op("RealDiv", total, float(count), "mean")


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
    op = _BINARY[ctx.class_name]
    if _wrapping_integers(ctx):
        inputs = _same_rank(ctx, inputs)
        y = _wrapped_arithmetic(ctx, inputs, op, _read_masks(ctx, inputs))
        return _mean(ctx, y, len(inputs)) if ctx.class_name == "Average" else y
    if ctx.keras3 and any(m is not None for m in ctx.masks) and ctx.class_name in _MASK_READING:
        return _MASK_READING[ctx.class_name](ctx, _same_rank(ctx, inputs), _kept_masks(ctx, inputs), op)
    inputs = _same_rank(ctx, inputs)
    steps = iter(range(len(inputs)))

    def step(a: Value, b: Value) -> Value:
        label = f"{op}_{next(steps)}"
        if op == "Mul" and a.dtype == b.dtype == DType.INT32:  # int32 ids kept (.model_walk): TF's wrapped product
            return int32_product(ctx.graph, a, b, f"{ctx.name}/{label}", broadcast_shape(a.shape, b.shape))
        return ctx.binary(op, a, b, label=label)

    y = reduce(step, inputs)
    return _mean(ctx, y, len(inputs)) if ctx.class_name == "Average" else y


@lowers("Subtract")
def subtract(ctx: LayerContext) -> Value:
    if len(ctx.inputs) != 2:
        raise ctx.error(f"subtracts {len(ctx.inputs)} tensors (it takes exactly 2)")
    if _wrapping_integers(ctx):
        return _wrapped_arithmetic(ctx, _same_rank(ctx, ctx.inputs), "Sub")
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
    if not 0 <= axis < rank:  # axis 0: the batches one after the other (a mask there is a gap: masking.py)
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
    """``where(keep, a, b)`` in the inputs' dtype (float32, or int32 ids: .model_walk)."""
    return ctx.op("SelectV2", [keep, a, b], {"T": a.dtype}, dtype=a.dtype,
                  shape=broadcast_shape(broadcast_shape(keep.shape, a.shape), b.shape), label=label)


def _scalar(ctx: LayerContext, value: float, like: Value, label: str) -> Value:
    """A constant of ``like``'s dtype: int32 for int32 ids, else float32."""
    return ctx.const(np.asarray(value, np.int32 if like.dtype == DType.INT32 else np.float32), label)


def _read_masks(ctx: LayerContext, inputs: list[Value]) -> list[Value | None] | None:
    """The masks Keras 3's Multiply reads for its values (:func:`_kept_masks`), None where the merge does not read
    any (Add, Subtract, Average, tf_keras's merges: their masks only make the output's)."""
    if ctx.keras3 and ctx.class_name == "Multiply" and any(m is not None for m in ctx.masks):
        return _kept_masks(ctx, inputs)
    return None


def _ones_outside(ctx: LayerContext, inputs: list[Value],
                  masks: list[Value | None]) -> tuple[list[Value], Value | None]:
    """Keras 3's Multiply's factors: ``where(mask, x, 1)`` per masked input (1 leaves the product as it is), and the
    OR of the masks when every input is masked (the steps it keeps, :func:`_zeros_outside`; else None)."""
    every = all(m is not None for m in masks)
    factors, out_keep = [], None
    for i, (x, mask) in enumerate(zip(inputs, masks)):
        if mask is not None:
            keep = _step_keep(ctx, mask, f"keep_{i}")
            x = _select(ctx, keep, x, _scalar(ctx, 1, x, f"one_{i}"), f"ones_outside_{i}")
            if every:
                out_keep = keep if out_keep is None else ctx.op("LogicalOr", [out_keep, keep], dtype=DType.BOOL,
                                                               shape=keep.shape, label=f"kept_{i}")
        factors.append(x)
    return factors, out_keep


def _zeros_outside(ctx: LayerContext, out: Value, out_keep: Value | None) -> Value:
    """Keras 3's Multiply's ``where(any mask, product, 0)`` when every input is masked (``out_keep`` not None)."""
    return out if out_keep is None else _select(ctx, out_keep, out, _scalar(ctx, 0, out, "zero"), "zeros_outside")


def _masked_multiply(ctx: LayerContext, inputs: list[Value], masks: list[Value | None], op: str) -> Value:
    """Keras 3's ``Multiply``: ``where(mask, x, 1)`` per input, then ``where(any mask, product, 0)`` if all are masked
    (of int32 ids in int32, the products wrapped as TF's)."""
    factors, out_keep = _ones_outside(ctx, inputs, masks)
    out = factors[0]
    for i, x in enumerate(factors[1:], start=1):
        if out.dtype == x.dtype == DType.INT32:
            out = int32_product(ctx.graph, out, x, f"{ctx.name}/{op}_{i}", broadcast_shape(out.shape, x.shape))
        else:
            out = ctx.binary(op, out, x, label=f"{op}_{i}")
    return _zeros_outside(ctx, out, out_keep)


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
