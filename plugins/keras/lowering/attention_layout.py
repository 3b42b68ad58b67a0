"""MultiHeadAttention's ``attention_axes`` as the rank-3 ``[batch', steps, features]`` attention of the default.

Keras's einsums treat every query axis that is not an attention axis (and not the features) as a batch axis, and
normalise the scores over all key attention axes jointly (``Softmax(axis=norm_axes)``). So the non-attention axes
move next to the batch (one Transpose of the input, before the per-position projections) and fold into it, and the
attention axes, in Keras's order, flatten into one steps axis: the attention is then the default computation
``[batch', heads, T, S]`` (rank 4, which every backend runs), and Reshape + Transpose undo the folding on the
output. Keras's scores ``[batch, <other axes>, heads, <query attention axes>, <key attention axes>]`` are the same
elements as ``[batch', heads, T, S]``, so they come back by one Reshape. Keras 3 reads a negative axis ``a`` as
``rank + a`` (``-1`` is then the heads axis); tf_keras does not normalise it (its einsum would attend over the
heads), so both stay refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tfjsconv.ir import Value

from .context import LayerContext
from .registry import Unsupported


@dataclass(frozen=True)
class AttentionLayout:
    """Where the attention axes of a query ``[batch, *query_dims, features]`` and its key / value are."""

    #: The query's attention axes (1-based, as in the input), in Keras's order.
    axes: tuple[int, ...]
    #: The other non-feature axes, in order: Keras's extra batch axes.
    outer_axes: tuple[int, ...]
    query_dims: tuple[int, ...]
    key_dims: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.query_dims) + 2

    @property
    def folded(self) -> bool:
        """Whether the input is not already ``[batch, steps, features]``."""
        return self.rank != 3

    @property
    def query_steps(self) -> int:
        return int(np.prod([self.query_dims[a - 1] for a in self.axes], dtype=np.int64))

    @property
    def key_steps(self) -> int:
        return int(np.prod([self.key_dims[a - 1] for a in self.axes], dtype=np.int64))

    @property
    def band_steps(self) -> tuple[int, int]:
        """The sizes Keras's causal and sliding-window masks take (axis 1 of query and value: ``[1, T0, S0]``)."""
        return self.query_dims[0], self.key_dims[0]

    @property
    def last_axis_only(self) -> bool:
        """Whether the only attention axis is the last before the features (where Keras's ``[B, .., T, 1]`` and
        ``[B, .., 1, S]`` input masks line up with the scores)."""
        return self.axes == (self.rank - 2,)

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
        steps = int(np.prod([dims[a - 1] for a in self.axes], dtype=np.int64))
        return ctx.reshape(x, [None, steps, int(ctx.shape(x)[-1])], f"{label}/folded")

    def unfold_output(self, ctx: LayerContext, flat: Value, out_dims: tuple[int, ...]) -> Value:
        """The output projection ``[batch'·T, width]`` as Keras's ``[batch, *query_dims, *out_dims]``."""
        width = int(np.prod(out_dims, dtype=np.int64))
        if not self.folded:
            return ctx.reshape(flat, [None, self.query_dims[0], *out_dims], "output")
        attended = [self.query_dims[a - 1] for a in self.axes]
        y = ctx.reshape(flat, [None, *self._outer(), *attended, width], "output/unfolded")
        order = self._order()
        if order != list(range(self.rank)):
            y = ctx.transpose(y, [order.index(axis) for axis in range(self.rank)], "output/axes_back")
        return ctx.reshape(y, [None, *self.query_dims, *out_dims], "output")

    def unfold_scores(self, ctx: LayerContext, probs: Value, heads: int) -> Value:
        """``[batch', heads, T, S]`` as Keras's ``[batch, <other axes>, heads, <query axes>, <key axes>]``."""
        if not self.folded:
            return probs
        return ctx.reshape(probs, [None, *self._outer(), heads, *(self.query_dims[a - 1] for a in self.axes),
                                   *(self.key_dims[a - 1] for a in self.axes)], "attention_scores")

    def fold_attention_mask(self, ctx: LayerContext, mask: Value) -> Value:
        """An ``attention_mask`` of Keras's full shape ``[batch, <other axes>, <query axes>, <key axes>]`` as
        ``[batch', T, S]``; any other shape is refused (Keras would broadcast it)."""
        if not self.folded:
            return mask
        full = (None, *self._outer(), *(self.query_dims[a - 1] for a in self.axes),
                *(self.key_dims[a - 1] for a in self.axes))
        if tuple(ctx.shape(mask)) != full:
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): attention_mask of shape "
                              f"{list(ctx.shape(mask))} with attention_axes={self.axes} (only the full shape "
                              f"{list(full)} is lowered)")
        return ctx.reshape(mask, [None, self.query_steps, self.key_steps], "attention_mask/folded")

    def fold_input_mask(self, ctx: LayerContext, mask: Value, dims: tuple[int, ...], label: str) -> Value:
        """A Keras mask ``[batch, *dims]`` as ``[batch', steps]`` (only where it lines up, see ``last_axis_only``)."""
        if not self.folded:
            return mask
        if tuple(ctx.shape(mask)) != (None, *dims):
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): a {label} of shape {list(ctx.shape(mask))}")
        return ctx.reshape(mask, [None, dims[-1]], f"{label}/folded")


def _static_dims(ctx: LayerContext, value: Value, what: str) -> tuple[int, ...]:
    shape = ctx.shape(value)
    if len(shape) < 3 or any(d is None for d in shape[1:]):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) needs a {what} of rank 3 or more with static "
                          f"sizes (got {list(shape)})")
    return tuple(int(d) for d in shape[1:-1])


def attention_layout(ctx: LayerContext, query: Value, value: Value, key: Value) -> AttentionLayout:
    """The layout of the call, checked as Keras's einsums need it (the same other axes for query and value, the
    same non-feature axes for key and value); what Keras would read differently is refused by name."""
    query_dims = _static_dims(ctx, query, "query")
    value_dims, key_dims = _static_dims(ctx, value, "value"), _static_dims(ctx, key, "key")
    rank = len(query_dims) + 2
    if len(value_dims) != len(query_dims) or key_dims != value_dims:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): query {list(ctx.shape(query))}, value "
                          f"{list(ctx.shape(value))} and key {list(ctx.shape(key))} of different layouts")
    axes = _axes(ctx, ctx.config.get("attention_axes"), rank)
    outer = tuple(a for a in range(1, rank - 1) if a not in axes)
    if any(query_dims[a - 1] != value_dims[a - 1] for a in outer):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): query {list(ctx.shape(query))} and value "
                          f"{list(ctx.shape(value))} differ outside attention_axes={list(axes)}")
    return AttentionLayout(axes, outer, query_dims, value_dims)


def _axes(ctx: LayerContext, config_axes: Any, rank: int) -> tuple[int, ...]:
    if config_axes is None:
        return tuple(range(1, rank - 1))
    listed = tuple(config_axes) if isinstance(config_axes, (list, tuple)) else (config_axes,)
    if any(a < 0 for a in listed) and not ctx.keras3:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): negative attention_axes={list(listed)} in "
                          f"tf_keras (its einsum attends over the heads axis)")
    axes = tuple(int(a) + rank if a < 0 else int(a) for a in listed)
    if not axes or len(set(axes)) != len(axes) or any(not 1 <= a <= rank - 2 for a in axes):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): attention_axes={list(listed)} on a rank-{rank} "
                          f"query (only axes between the batch and the features are lowered)")
    return axes
