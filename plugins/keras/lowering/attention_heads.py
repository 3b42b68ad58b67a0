"""MultiHeadAttention whose ``attention_axes`` include the heads axis of the projections.

Keras's einsums run on the projections ``[batch, *dims, heads, size]`` and attend over whichever of their axes
``attention_axes`` names: Keras 3's ``rank - 1`` or ``-1`` and tf_keras's ``rank - 1`` or ``-2`` name the heads, so a
query head attends over the key heads (with any other attention axes, jointly), and the other axes, the heads
excepted, are batch axes. So every position is projected first, the projections move to ``[batch, <other axes>,
<attention axes>, size]`` (one Transpose) and fold into ``[batch', T, size]``; the attention is a single
``[batch', T, S]`` one (masked as Keras lines its masks up, :mod:`.attention_masks`) and the attended values go back
to ``[batch·positions, heads·value_dim]`` for the output projection. Keras's scores ``[batch, <other axes>, <query
attention axes>, <key attention axes>]`` are the same elements as ``[batch', T, S]``. Over sizes known only at run
time the same Reshapes read them from ``tf.shape`` (the heads, a constant, excepted).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.ir import Value

from .attention import batch_matmul, half_step, keras_masked_probs, projected_flat, scaled_query
from .attention_layout import AttentionLayout, sizes_at
from .attention_masks import ScoresGroups
from .context import LayerContext
from .dynamic_shape import reshape_to, runtime_sizes
from .runtime_fold import merge_axes


def attend_over_heads(ctx: LayerContext, layout: AttentionLayout, qvk: tuple[Value, Value, Value],
                      weights: dict[str, Any], sizes: tuple[int, int, int], style: str,
                      return_scores: bool) -> tuple[Value, Value | None]:
    """The attended values as ``[batch·positions, heads·value_dim]`` (the query's order) and (``return_scores``)
    Keras's scores."""
    (query, value, key), (heads, key_dim, value_dim) = qvk, sizes
    rank = layout.rank
    order = [0, *layout.outer_axes, *layout.axes, rank]  # axes of the projections [batch, *dims, heads, size]
    query_sizes, key_sizes = (*layout.query_dims, heads), (*layout.key_dims, heads)
    outer = [query_sizes[a - 1] for a in layout.outer_axes]
    query_attended = tuple(query_sizes[a - 1] for a in layout.axes)
    key_attended = tuple(key_sizes[a - 1] for a in layout.axes)
    t_q, t_k = (None, None) if layout.dynamic else (int(np.prod(query_attended, dtype=np.int64)),
                                                    int(np.prod(key_attended, dtype=np.int64)))

    def arranged(x: Value, dims: tuple[int, ...], part: str, size: int, steps: int | None) -> Value:
        flat = projected_flat(ctx, x, weights[f"{part}_kernel"], weights.get(f"{part}_bias"), heads, size, part)
        if layout.dynamic:
            y = reshape_to(ctx, flat, [runtime_sizes(ctx, x, 0, rank - 1, f"{part}/sizes"), [heads, size]],
                           (None, *dims, heads, size), f"{part}/positions")
        else:
            y = ctx.reshape(flat, [None, *dims, heads, size], f"{part}/positions")
        if order != list(range(rank + 1)):
            y = ctx.transpose(y, order, f"{part}/attention_axes_last")
        if not layout.dynamic:
            return ctx.reshape(y, [None, steps, size], f"{part}/folded")
        outer_count = 1 + len(layout.outer_axes)  # [batch, *outer, *attended, size]: attended merged, then outer
        if len(layout.axes) > 1:
            y = merge_axes(ctx, y, outer_count, rank, f"{part}/steps")
        return merge_axes(ctx, y, 0, outer_count, f"{part}/folded") if outer_count > 1 else y

    def sizes_of(x: Value, axes: list[int], label: str) -> list[Value | list[int]]:
        """The run-time sizes of the projections' ``axes`` (the heads: a constant) as Reshape parts."""
        return [[heads] if a == rank - 1 else sizes_at(ctx, x, [a], f"{label}_{a}") for a in axes]

    q = arranged(query, layout.query_dims, "query", key_dim, t_q)
    k = layout.on_query_batch(ctx, arranged(key, layout.key_dims, "key", key_dim, t_k), q, "key/query_batch")
    v = layout.on_query_batch(ctx, arranged(value, layout.key_dims, "value", value_dim, t_k), q, "value/query_batch")
    scores = half_step(ctx, batch_matmul(ctx, scaled_query(ctx, q, key_dim), k, (None, t_q, t_k), adj_y=True,
                                         label="logits"), "logits")  # Keras's explicit path scales the query
    probs = keras_masked_probs(ctx, scores, ScoresGroups(tuple(outer), query_attended, key_attended), layout, style)
    attended = half_step(ctx, batch_matmul(ctx, probs, v, (None, t_q, value_dim), label="attended"), "attended")
    if layout.dynamic:
        y = reshape_to(ctx, attended, [*sizes_of(query, [0, *layout.outer_axes, *layout.axes], "attended/sizes"),
                                       [value_dim]], (None, *outer, *query_attended, value_dim), "attended/unfolded")
    else:
        y = ctx.reshape(attended, [None, *outer, *query_attended, value_dim], "attended/unfolded")
    if order != list(range(rank + 1)):
        y = ctx.transpose(y, [order.index(axis) for axis in range(rank + 1)], "attended/axes_back")
    flat = ctx.reshape(y, [None, heads * value_dim], "output/flat")
    if not return_scores:
        return flat, None
    scores_shape = (None, *outer, *query_attended, *key_attended)
    if layout.dynamic:
        return flat, reshape_to(ctx, probs, [*sizes_of(query, [0, *layout.outer_axes, *layout.axes], "scores/query"),
                                             *sizes_of(key, list(layout.axes), "scores/key")], scores_shape,
                                "attention_scores")
    return flat, ctx.reshape(probs, list(scores_shape), "attention_scores")
