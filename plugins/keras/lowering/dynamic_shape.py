"""Reshapes around sizes the config leaves unknown (``keras.Input((None, None, 3))``): the target shape is built
at run time from ``tf.shape(x)``, as Keras itself computes it, so one converted model serves every input size."""
from __future__ import annotations

from collections.abc import Sequence

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext

I32 = DType.INT32


def runtime_sizes(ctx: LayerContext, x: Value, begin: int, end: int, label: str) -> Value:
    """``tf.shape(x)[begin:end]`` (``end`` counted from the end when negative) as an int32 vector."""
    rank = len(ctx.shape(x))
    stop = end if end > 0 else rank + end
    shape = ctx.op("Shape", [x], {"out_type": I32}, dtype=I32, shape=(rank,), label=f"{label}_input_shape")
    return ctx.op("StridedSlice", [shape, ctx.ints([begin], f"{label}_begin"), ctx.ints([end], f"{label}_end"),
                                   ctx.ints([1], f"{label}_strides")],
                  {"Index": I32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                   "shrink_axis_mask": 0}, dtype=I32, shape=(stop - begin,), label=f"{label}_sizes")


def reshape_to(ctx: LayerContext, x: Value, parts: Sequence[Value | Sequence[int]], shape: tuple[int | None, ...],
               label: str, *, zeros_count: bool = True) -> Value:
    """Reshape ``x`` to the concatenation of ``parts`` (run-time size vectors and constant sizes); ``shape`` is
    the static shape the result is known to have. A -1 counts ``x``'s zero sizes (``zeros_count``: Keras 3's and
    the lowering's own rule) or, as ``tf.reshape`` does, leaves them out when a run-time size is 0."""
    values = [p if isinstance(p, Value) else ctx.ints(list(p), f"{label}_part{i}") for i, p in enumerate(parts)]
    target = ctx.op("ConcatV2", [*values, ctx.ints(0, f"{label}_axis")], {"N": len(values), "Tidx": I32},
                    dtype=I32, shape=(len(shape),), label=f"{label}_target")
    from tfjsconv.passes.reshape_missing_size import ZEROS_COUNT_ATTR  # not at import: h5 -> layers loads no pass

    rule = {ZEROS_COUNT_ATTR: True} if zeros_count and any(not isinstance(p, Value) and -1 in p for p in parts) \
        else {}
    return ctx.op("Reshape", [x, target], {"Tshape": I32, **rule}, shape=shape, label=label)


def runtime_size(ctx: LayerContext, x: Value, axis: int, label: str) -> Value:
    """``tf.shape(x)[axis]`` as an int32 scalar."""
    rank = len(ctx.shape(x))
    shape = ctx.op("Shape", [x], {"out_type": I32}, dtype=I32, shape=(rank,), label=f"{label}_input_shape")
    return ctx.op("StridedSlice", [shape, ctx.ints([axis], f"{label}_begin"), ctx.ints([axis + 1], f"{label}_end"),
                                   ctx.ints([1], f"{label}_strides")],
                  {"Index": I32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                   "shrink_axis_mask": 1}, dtype=I32, shape=(), label=f"{label}_size")


def runtime_range(ctx: LayerContext, x: Value, axis: int, label: str) -> Value:
    """``tf.range(tf.shape(x)[axis])``: the positions along one axis of unknown length, int32."""
    return ctx.op("Range", [ctx.ints(0, f"{label}_start"), runtime_size(ctx, x, axis, label),
                            ctx.ints(1, f"{label}_delta")], {"Tidx": I32}, dtype=I32,
                  shape=(ctx.shape(x)[axis],), label=label)
