"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""
from __future__ import annotations

from functools import reduce

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .registry import Unsupported, lowers

_BINARY = {"Add": "AddV2", "Multiply": "Mul", "Maximum": "Maximum", "Minimum": "Minimum", "Average": "AddV2"}


def _inputs(ctx: LayerContext, at_least: int = 2) -> list[Value]:
    if len(ctx.inputs) < at_least:
        raise ctx.error(f"merges {len(ctx.inputs)} tensors")
    return ctx.inputs


@lowers(*_BINARY)
def elementwise(ctx: LayerContext) -> Value:
    inputs = _inputs(ctx)
    op = _BINARY[ctx.class_name]
    steps = iter(range(len(inputs)))
    y = reduce(lambda a, b: ctx.binary(op, a, b, label=f"{op}_{next(steps)}"), inputs)
    if ctx.class_name == "Average":
        y = ctx.scalar_op("RealDiv", y, float(len(inputs)), "mean")
    return y


@lowers("Subtract")
def subtract(ctx: LayerContext) -> Value:
    if len(ctx.inputs) != 2:
        raise ctx.error(f"subtracts {len(ctx.inputs)} tensors (it takes exactly 2)")
    return ctx.binary("Sub", *ctx.inputs)


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
