"""Merging and splitting adjacent axes whose sizes may be unknown until run time (TimeDistributed's fold of batch
and time, ``repeat``'s merge of an axis with its copies): the static sizes go in as constants, an unknown one as
``-1`` when it is the only one, and otherwise the input's own sizes are read with ``tf.shape`` (as Keras's
``ops.reshape(x, ops.shape(...))`` does), so one converted model serves every input size."""
from __future__ import annotations

from collections.abc import Sequence

from tfjsconv.ir import Value

from .context import LayerContext
from .dynamic_shape import reshape_to, runtime_sizes


def _product(sizes: Sequence[int | None]) -> int | None:
    total = 1
    for size in sizes:
        if size is None:
            return None
        total *= size
    return total


def merge_axes(ctx: LayerContext, x: Value, start: int, stop: int, label: str) -> Value:
    """``x`` with its axes ``start .. stop-1`` merged into one (row-major, as ``reshape`` does)."""
    shape = ctx.shape(x)
    rank = len(shape)
    merged = _product(shape[start:stop])
    out = (*shape[:start], merged, *shape[stop:])
    if sum(d is None for d in out) <= 1:
        return ctx.reshape(x, out, label)
    parts: list[Value | Sequence[int]] = []
    if start:
        parts.append(runtime_sizes(ctx, x, 0, start, f"{label}_head"))
    parts.append([-1])
    if stop < rank:
        parts.append(runtime_sizes(ctx, x, stop, rank, f"{label}_tail"))
    return reshape_to(ctx, x, parts, out, label)


def split_first_axis(ctx: LayerContext, y: Value, like: Value, count: int, label: str) -> Value:
    """``y`` with its axis 0 split into ``like``'s first ``count`` axes (undoing :func:`merge_axes` of
    ``like``'s leading axes, after a layer that kept axis 0 as it was)."""
    lead = ctx.shape(like)[:count]
    rest = ctx.shape(y)[1:]
    out = (*lead, *rest)
    if sum(d is None for d in out) <= 1:
        return ctx.reshape(y, out, label)
    parts: list[Value | Sequence[int]] = [runtime_sizes(ctx, like, 0, count, f"{label}_head")]
    if rest:
        known = None not in rest
        parts.append(list(rest) if known else runtime_sizes(ctx, y, 1, len(rest) + 1, f"{label}_tail"))
    return reshape_to(ctx, y, parts, out, label)
