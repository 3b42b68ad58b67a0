"""MultiHeadAttention's ``attention_axes`` as the rank-3 ``[batch', steps, features]`` attention of the default.

Keras's einsums treat every query axis that is not an attention axis (and not the features) as a batch axis, and
normalise the scores over all key attention axes jointly (``Softmax(axis=norm_axes)``). So the non-attention axes
move next to the batch (one Transpose of the input, before the per-position projections) and fold into it, and the
attention axes, in Keras's order, flatten into one steps axis: the attention is then the default computation
``[batch', heads, T, S]`` (rank 4, which every backend runs), and Reshape + Transpose undo the folding on the
output. Keras's scores ``[batch, <other axes>, heads, <query attention axes>, <key attention axes>]`` are the same
elements as ``[batch', heads, T, S]``, so they come back by one Reshape; Keras's masks line up with those scores
(:mod:`.attention_masks`). Keras 3 reads a negative axis ``a`` as ``rank + a`` and tf_keras as ``rank + 1 + a``
(``-1`` and ``-2`` are then the heads axis of the projections: attention over it is :mod:`.attention_heads`).
Over sizes known only at run time (``keras.Input((None, None, 8))``) the same Transpose folds the input, and the
Reshapes read the sizes they need from ``tf.shape`` (:mod:`.runtime_fold`: the non-attention axes merge into the
batch, the attention axes into the steps), so one converted model serves every size; the output and the scores
take their sizes back from the call's query and key (over the heads axis too: :mod:`.attention_heads`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tfjsconv.ir import Value

from .context import LayerContext
from .dynamic_shape import I32, reshape_to, runtime_sizes
from .registry import Unsupported
from .runtime_fold import merge_axes


@dataclass(frozen=True)
class AttentionLayout:
    """Where the attention axes of a query ``[batch, *query_dims, features]`` and its key / value are."""

    #: The query's attention axes (1-based, as in the input), in Keras's order.
    axes: tuple[int, ...]
    #: The other non-feature axes, in order: Keras's extra batch axes.
    outer_axes: tuple[int, ...]
    query_dims: tuple[int | None, ...]
    key_dims: tuple[int | None, ...]
    #: Whether a length of the query, key or value is known only at run time (the sizes are read then).
    dynamic: bool = False

    @property
    def rank(self) -> int:
        return len(self.query_dims) + 2

    @property
    def heads_attended(self) -> bool:
        """Whether an attention axis is the heads axis of the projections (``rank - 1``: Keras attends over heads)."""
        return self.rank - 1 in self.axes

    @property
    def folded(self) -> bool:
        """Whether the input is not already ``[batch, steps, features]``."""
        return self.rank != 3

    @property
    def query_steps(self) -> int | None:
        return _steps([self.query_dims[a - 1] for a in self.axes])

    @property
    def key_steps(self) -> int | None:
        return _steps([self.key_dims[a - 1] for a in self.axes])

    @property
    def band_steps(self) -> tuple[int, int]:
        """The sizes Keras's causal and sliding-window masks take (axis 1 of query and value: ``[1, T0, S0]``)."""
        return self.query_dims[0], self.key_dims[0]

    @property
    def outer_dims(self) -> tuple[int, ...]:
        return tuple(self.query_dims[a - 1] for a in self.outer_axes)

    @property
    def query_attended(self) -> tuple[int, ...]:
        """The query's sizes along the attention axes, in Keras's order."""
        return tuple(self.query_dims[a - 1] for a in self.axes)

    @property
    def key_attended(self) -> tuple[int, ...]:
        return tuple(self.key_dims[a - 1] for a in self.axes)

    def _order(self) -> list[int]:
        return [0, *self.outer_axes, *self.axes, self.rank - 1]

    def _outer(self) -> list[int]:
        return [self.query_dims[a - 1] for a in self.outer_axes]

    def fold(self, ctx: LayerContext, x: Value, dims: tuple[int, ...], label: str) -> Value:
        """``[batch, *dims, features]`` as ``[batch', steps, features]`` (other axes into the batch)."""
        if not self.folded:
            return x
        order = self._order()
        if order != list(range(self.rank)):
            x = ctx.transpose(x, order, f"{label}/attention_axes_last")
        if self.dynamic:  # [batch, *outer, *attended, features]: the attended axes merged, then the outer ones
            outer = 1 + len(self.outer_axes)
            if len(self.axes) > 1:
                x = merge_axes(ctx, x, outer, self.rank - 1, f"{label}/steps")
            return merge_axes(ctx, x, 0, outer, f"{label}/folded") if outer > 1 else x
        steps = int(np.prod([dims[a - 1] for a in self.axes], dtype=np.int64))
        return ctx.reshape(x, [None, steps, int(ctx.shape(x)[-1])], f"{label}/folded")

    def on_query_batch(self, ctx: LayerContext, x: Value, rows: Value, label: str) -> Value:
        """A folded key or value ``[batch', S, size]`` reshaped to the folded query's ``batch'`` (``rows``) when other
        axes of sizes known only at run time merged into it: Keras's einsums raise on such an axis of another
        length, where TF.js's BatchMatMul would broadcast a 1 against it (a query of 3 rows beside a value of 1,
        batch 1); the Reshape fails then, as Keras does."""
        if not (self.dynamic and self.outer_axes):
            return x
        return reshape_to(ctx, x, [runtime_sizes(ctx, rows, 0, 1, f"{label}_query_batch"),
                                   runtime_sizes(ctx, x, 1, 3, f"{label}_own")], tuple(ctx.shape(x)), label)

    def unfold_output(self, ctx: LayerContext, flat: Value, out_dims: tuple[int, ...], query: Value) -> Value:
        """The output projection ``[batch'·T, width]`` as Keras's ``[batch, *query_dims, *out_dims]`` (``query``: the
        call's query, whose sizes are read when they are known only at run time)."""
        width = int(np.prod(out_dims, dtype=np.int64))
        if not self.folded or self.heads_attended:  # (over the heads, the rows are the query's positions)
            if self.dynamic:
                return reshape_to(ctx, flat, [runtime_sizes(ctx, query, 0, self.rank - 1, "output/query"),
                                              list(out_dims)], (None, *self.query_dims, *out_dims), "output")
            return ctx.reshape(flat, [None, *self.query_dims, *out_dims], "output")
        if self.dynamic:
            return self._unfold_output_at_run_time(ctx, flat, out_dims, query)
        attended = [self.query_dims[a - 1] for a in self.axes]
        y = ctx.reshape(flat, [None, *self._outer(), *attended, width], "output/unfolded")
        order = self._order()
        if order != list(range(self.rank)):
            y = ctx.transpose(y, [order.index(axis) for axis in range(self.rank)], "output/axes_back")
        return ctx.reshape(y, [None, *self.query_dims, *out_dims], "output")

    def _unfold_output_at_run_time(self, ctx: LayerContext, flat: Value, out_dims: tuple[int, ...],
                                   query: Value) -> Value:
        """:meth:`unfold_output` with the query's sizes read from ``tf.shape(query)``."""
        width = int(np.prod(out_dims, dtype=np.int64))
        order = self._order()
        arranged = (None, *(self.query_dims[a - 1] for a in order[1:-1]), width)
        y = reshape_to(ctx, flat, [sizes_at(ctx, query, order[:-1], "output/sizes"), [width]], arranged,
                       "output/unfolded")
        if order != list(range(self.rank)):
            y = ctx.transpose(y, [order.index(axis) for axis in range(self.rank)], "output/axes_back")
        if len(out_dims) == 1:
            return y
        return reshape_to(ctx, y, [runtime_sizes(ctx, query, 0, self.rank - 1, "output/query"), list(out_dims)],
                          (None, *self.query_dims, *out_dims), "output")

    def unfold_scores(self, ctx: LayerContext, probs: Value, heads: int, query: Value, key: Value) -> Value:
        """``[batch', heads, T, S]`` as Keras's ``[batch, <other axes>, heads, <query axes>, <key axes>]`` (over
        sizes known at run time only, those of the call's ``query`` and ``key``)."""
        if not self.folded:
            return probs
        if self.dynamic:
            shape = (None, *self._outer(), heads, *self.query_attended, *self.key_attended)
            return reshape_to(ctx, probs, [sizes_at(ctx, query, [0, *self.outer_axes], "attention_scores/outer"),
                                           [heads], sizes_at(ctx, query, self.axes, "attention_scores/query"),
                                           sizes_at(ctx, key, self.axes, "attention_scores/key")],
                              shape, "attention_scores")
        return ctx.reshape(probs, [None, *self._outer(), heads, *(self.query_dims[a - 1] for a in self.axes),
                                   *(self.key_dims[a - 1] for a in self.axes)], "attention_scores")


def sizes_at(ctx: LayerContext, x: Value, axes: list[int] | tuple[int, ...], label: str) -> Value:
    """``tf.gather(tf.shape(x), axes)``: the run-time sizes of some axes of ``x``, int32, in the order given."""
    rank = len(ctx.shape(x))
    shape = ctx.op("Shape", [x], {"out_type": I32}, dtype=I32, shape=(rank,), label=f"{label}_input_shape")
    return ctx.op("GatherV2", [shape, ctx.ints(list(axes), f"{label}_axes"), ctx.ints(0, f"{label}_axis")],
                  {"Tparams": I32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=I32, shape=(len(axes),),
                  label=label)


def _steps(sizes: list[int | None]) -> int | None:
    return None if None in sizes else int(np.prod(sizes, dtype=np.int64))


def _dims(ctx: LayerContext, value: Value, what: str) -> tuple[int | None, ...]:
    shape = ctx.shape(value)
    if len(shape) < 3 or shape[-1] is None:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) needs a {what} of rank 3 or more with a known "
                          f"last axis (got {list(shape)})")
    return tuple(None if d is None else int(d) for d in shape[1:-1])


def _fit(a: tuple[int | None, ...], b: tuple[int | None, ...]) -> bool:
    """Whether two partial shapes can be the same (an unknown size fits any)."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def attention_layout(ctx: LayerContext, query: Value, value: Value, key: Value, *,
                     default: bool = False) -> AttentionLayout:
    """The layout of the call, checked as Keras's einsums need it (the same other axes for query and value, the
    same non-feature axes for key and value); what Keras would read differently is refused by name. ``default``:
    the default axes whatever the config says (Keras 3's fused rank-3 attention)."""
    query_dims = _dims(ctx, query, "query")
    value_dims, key_dims = _dims(ctx, value, "value"), _dims(ctx, key, "key")
    rank = len(query_dims) + 2
    if len(value_dims) != len(query_dims) or not _fit(key_dims, value_dims):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): query {list(ctx.shape(query))}, value "
                          f"{list(ctx.shape(value))} and key {list(ctx.shape(key))} of different layouts")
    axes = _axes(ctx, None if default else ctx.config.get("attention_axes"), rank)
    unknown = None in query_dims + value_dims + key_dims
    outer = tuple(a for a in range(1, rank - 1) if a not in axes)
    if any(query_dims[a - 1] != value_dims[a - 1] for a in outer):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): query {list(ctx.shape(query))} and value "
                          f"{list(ctx.shape(value))} differ outside attention_axes={list(axes)}")
    return AttentionLayout(axes, outer, query_dims, value_dims if None not in value_dims else key_dims, unknown)


def _axes(ctx: LayerContext, config_axes: Any, rank: int) -> tuple[int, ...]:
    """The attention axes as Keras reads them on a rank-``rank`` query: a negative axis ``a`` is ``rank + a`` in
    Keras 3 and, on the projected ``[batch, .., heads, size]``, ``rank + 1 + a`` in tf_keras (its einsum indexes
    from the right: ``-2`` is the heads axis there)."""
    if config_axes is None:
        return tuple(range(1, rank - 1))
    listed = tuple(config_axes) if isinstance(config_axes, (list, tuple)) else (config_axes,)
    axes = tuple(int(a) + rank + (0 if ctx.keras3 else 1) if a < 0 else int(a) for a in listed)
    if not axes or len(set(axes)) != len(axes) or any(not 1 <= a <= rank - 1 for a in axes):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): attention_axes={list(listed)} on a rank-{rank} "
                          f"query (Keras attends over the axes between the batch and the features, or the heads)")
    return axes
