"""Keras 3's GroupedQueryAttention (``GroupQueryAttention``), from :mod:`.attention`'s pieces.

Keras projects the query to ``num_query_heads`` heads and key/value to ``num_key_value_heads``, repeats
each key/value head ``num_query_heads / num_key_value_heads`` times in place (``ops.repeat`` on the
heads axis: head ``j`` serves query heads ``j·r … j·r + r - 1``), then attends per head as
MultiHeadAttention does and projects ``[heads, head_dim]`` back to the query's features. The repeat is
``ExpandDims`` + ``Tile`` + ``Reshape``. Masks (``attention_mask``, ``use_causal_mask``, the inputs' Keras masks)
are MultiHeadAttention's (Keras 3's fused path fills masked logits with its large negative; with dropout or returned
scores the Softmax layer zeroes fully masked rows), with ``sliding_window``'s band ANDed in; ``use_gate`` multiplies the
attended query heads by ``sigmoid`` of a ``gate`` projection of the query before the output projection.
"""
from __future__ import annotations

import math
from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .attention import (_mha_check, _mha_keep, _project, _static, batch_matmul, check_call_kwargs, gate_of,
                        masked_softmax, projection_weights, query_value_key, query_value_key_masks)
from .context import LayerContext
from .lazy import ReshapedArray
from .registry import lowers


def _gqa_check(config: dict[str, Any]) -> str | None:
    return _mha_check({"sliding_window": config.get("sliding_window")})


def _repeat_heads(ctx: LayerContext, x: Value, heads: int, repeats: int, steps: int, size: int, label: str) -> Value:
    """``[batch, heads, steps, size]`` to ``[batch, heads·repeats, steps, size]``, each head ``repeats`` times."""
    if repeats == 1:
        return x
    expanded = ctx.expand_dims(x, 2, f"{label}/expanded")
    tiled = ctx.op("Tile", [expanded, ctx.ints([1, 1, repeats, 1, 1], f"{label}/multiples")],
                   {"Tmultiples": DType.INT32}, shape=(None, heads, repeats, steps, size), label=f"{label}/tiled")
    return ctx.reshape(tiled, [None, heads * repeats, steps, size], f"{label}/repeated")


@lowers("GroupedQueryAttention", "GroupQueryAttention", check=_gqa_check,
        keywords=("query", "value", "key", "attention_mask"))
def grouped_query_attention(ctx: LayerContext) -> Value | list[Value]:
    """``softmax(q·kᵀ/√head_dim [masked])·v`` per query head, key/value heads shared by groups, then the output
    projection."""
    check_call_kwargs(ctx, ("query", "value", "key", "attention_mask", "use_causal_mask", "return_attention_scores"))
    kwargs = ctx.call_kwargs
    query, value, key = query_value_key(ctx)
    q_shape, v_shape, k_shape = (_static(ctx, t, 3, what) for t, what in ((query, "query"), (value, "value"),
                                                                         (key, "key")))
    if k_shape[1] != v_shape[1]:
        raise ctx.error(f"has key and value of different lengths ({k_shape[1]} and {v_shape[1]})")
    config = ctx.config
    size, q_heads, kv_heads = int(config["head_dim"]), int(config["num_query_heads"]), int(config["num_key_value_heads"])
    if kv_heads < 1 or q_heads % kv_heads:
        raise ctx.error(f"has {q_heads} query heads for {kv_heads} key/value heads")
    repeats = q_heads // kv_heads
    use_bias, use_gate = config.get("use_bias", True), bool(config.get("use_gate"))
    weights = projection_weights(ctx, use_bias, use_gate)
    t_q, t_k, features = int(q_shape[1]), int(v_shape[1]), int(q_shape[-1])
    q = _project(ctx, query, weights["query_kernel"], weights.get("query_bias"), q_heads, size, t_q, "query")
    k = _project(ctx, key, weights["key_kernel"], weights.get("key_bias"), kv_heads, size, t_k, "key")
    v = _project(ctx, value, weights["value_kernel"], weights.get("value_bias"), kv_heads, size, t_k, "value")
    k = _repeat_heads(ctx, k, kv_heads, repeats, t_k, size, "key")
    v = _repeat_heads(ctx, v, kv_heads, repeats, t_k, size, "value")
    scale = 1.0 / math.sqrt(float(size))
    return_scores = bool(kwargs.get("return_attention_scores"))
    fused = not return_scores and not float(config.get("dropout") or 0.0) > 0.0
    if fused:  # Keras's dot_product_attention scales the logits
        scores = ctx.scalar_op("Mul", batch_matmul(ctx, q, k, (None, q_heads, t_q, t_k), adj_y=True, label="logits"),
                               scale, "scaled_logits")
    else:  # its explicit path scales the query, then runs the Softmax layer
        scores = batch_matmul(ctx, ctx.scalar_op("Mul", q, scale, "scaled_query"), k, (None, q_heads, t_q, t_k),
                              adj_y=True, label="logits")
    keep = _mha_keep(ctx, kwargs.get("attention_mask"), bool(kwargs.get("use_causal_mask")), t_q, t_k,
                     query_value_key_masks(ctx), window=config.get("sliding_window"))
    probs = masked_softmax(ctx, scores, keep, style="where" if fused else "where_zero")
    attended = ctx.transpose(batch_matmul(ctx, probs, v, (None, q_heads, t_q, size), label="attended"),
                             [0, 2, 1, 3], "steps_first")
    flat = ctx.reshape(attended, [None, q_heads * size], "output/flat")
    if use_gate:
        flat = ctx.binary("Mul", flat, gate_of(ctx, query, weights["gate_kernel"], weights.get("gate_bias"), q_heads,
                                               size), label="gated")
    ctx.check_shape(weights["output_kernel"], [q_heads, size, features], "output kernel")
    y = ctx.op("MatMul", [flat, ctx.weight(ReshapedArray(weights["output_kernel"], (q_heads * size, features)),
                                           "output/kernel")],
               {"transpose_a": False, "transpose_b": False}, shape=(None, features), label="output/MatMul")
    if use_bias:
        ctx.check_shape(weights["output_bias"], [features], "output bias")
        y = ctx.op("BiasAdd", [y, ctx.weight(weights["output_bias"], "output/bias")], {"data_format": "NHWC"},
                   shape=y.shape, label="output/BiasAdd")
    y = ctx.reshape(y, [None, t_q, features], "output")
    return [y, probs] if return_scores else y
