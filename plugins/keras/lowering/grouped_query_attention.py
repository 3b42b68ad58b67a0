"""Keras 3's GroupedQueryAttention (``GroupQueryAttention``), from :mod:`.attention`'s pieces.

Keras projects the query to ``num_query_heads`` heads and key/value to ``num_key_value_heads``, repeats
each key/value head ``num_query_heads / num_key_value_heads`` times in place (``ops.repeat`` on the
heads axis: head ``j`` serves query heads ``j·r … j·r + r - 1``), then attends per head as
MultiHeadAttention does and projects ``[heads, head_dim]`` back to the query's features. The repeat is
``ExpandDims`` + ``Tile`` + ``Reshape`` (over unknown lengths one ``GatherV2`` of the heads, which needs no sizes). Masks (``attention_mask``, ``use_causal_mask``, the inputs' Keras masks)
are MultiHeadAttention's (Keras 3's fused path fills masked logits with its large negative; with dropout or returned
scores the Softmax layer zeroes fully masked rows), with ``sliding_window``'s band ANDed in; ``use_gate`` multiplies the
attended query heads by ``sigmoid`` of a ``gate`` projection of the query before the output projection.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .attention import (MASK_KEYWORDS, _mha_check, _mha_keep, _project, batch_matmul, check_call_kwargs, fits, gate_of,
                        masked_softmax, probs_shaped_as_scores, projection_weights, query_value_key,
                        query_value_key_masks, sequence_shape, unflatten_steps)
from .attention_masks import runtime_bands, runtime_keep
from .context import LayerContext
from .lazy import ReshapedArray
from .registry import lowers


def _gqa_check(config: dict[str, Any]) -> str | None:
    return _mha_check({"sliding_window": config.get("sliding_window")})


def _repeat_heads(ctx: LayerContext, x: Value, heads: int, repeats: int, steps: int | None, size: int,
                  label: str) -> Value:
    """``[batch, heads, steps, size]`` to ``[batch, heads·repeats, steps, size]``, each head ``repeats`` times
    (over unknown steps one GatherV2 of the heads ``[0, .., 0, 1, ..]``, which needs no sizes)."""
    if repeats == 1:
        return x
    if steps is None:
        index = np.repeat(np.arange(heads, dtype=np.int32), repeats)
        return ctx.op("GatherV2", [x, ctx.ints(index, f"{label}/repeat_indices"), ctx.ints(1, f"{label}/heads_axis")],
                      {"Tparams": DType.FLOAT32, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                      dtype=DType.FLOAT32, shape=(None, heads * repeats, None, size), label=f"{label}/repeated")
    expanded = ctx.expand_dims(x, 2, f"{label}/expanded")
    tiled = ctx.op("Tile", [expanded, ctx.ints([1, 1, repeats, 1, 1], f"{label}/multiples")],
                   {"Tmultiples": DType.INT32}, shape=(None, heads, repeats, steps, size), label=f"{label}/tiled")
    return ctx.reshape(tiled, [None, heads * repeats, steps, size], f"{label}/repeated")


def _softmax_layer_mask(ctx: LayerContext, mask: Value | None) -> Value | None:
    """A lone ``attention_mask`` as Keras 3's explicit path reads it. GroupedQueryAttention bool-casts it (nonzero
    kept) only when it joins another mask (and its fused path casts it too), so alone a non-bool mask reaches the
    Softmax layer, which keeps ``mask > 0.5`` (``0.5`` cast to the mask's dtype: ``> 0`` for integers)."""
    if mask is None or mask.dtype == DType.BOOL:
        return mask
    threshold = ctx.const(np.asarray(0.5).astype(mask.dtype.numpy), "attention_mask_threshold")
    return ctx.op("Greater", [mask, threshold], dtype=DType.BOOL, shape=mask.shape, label="attention_mask_kept")


@lowers("GroupedQueryAttention", "GroupQueryAttention", check=_gqa_check,
        keywords=("query", "value", "key", "attention_mask", *MASK_KEYWORDS))
def grouped_query_attention(ctx: LayerContext) -> Value | list[Value]:
    """``softmax(q·kᵀ/√head_dim [masked])·v`` per query head, key/value heads shared by groups, then the output
    projection."""
    check_call_kwargs(ctx, ("query", "value", "key", "attention_mask", "use_causal_mask", "return_attention_scores",
                            *MASK_KEYWORDS))
    kwargs = ctx.call_kwargs
    query, value, key = query_value_key(ctx)
    q_shape, v_shape, k_shape = (sequence_shape(ctx, t, what) for t, what in ((query, "query"), (value, "value"),
                                                                             (key, "key")))
    if not fits(k_shape[1], v_shape[1]):
        raise ctx.error(f"has key and value of different lengths ({k_shape[1]} and {v_shape[1]})")
    config = ctx.config
    size, q_heads, kv_heads = int(config["head_dim"]), int(config["num_query_heads"]), int(config["num_key_value_heads"])
    if kv_heads < 1 or q_heads % kv_heads:
        raise ctx.error(f"has {q_heads} query heads for {kv_heads} key/value heads")
    repeats = q_heads // kv_heads
    use_bias, use_gate = config.get("use_bias", True), bool(config.get("use_gate"))
    weights = projection_weights(ctx, use_bias, use_gate)
    t_q, t_k, features = q_shape[1], v_shape[1] if v_shape[1] is not None else k_shape[1], int(q_shape[-1])
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
    causal, window = bool(kwargs.get("use_causal_mask")), config.get("sliding_window")
    input_masks = query_value_key_masks(ctx)
    attention_mask = kwargs.get("attention_mask")
    if not fused and not causal and window is None and not any(m is not None for m in input_masks):
        attention_mask = _softmax_layer_mask(ctx, attention_mask)
    if t_q is None or t_k is None:  # the bands from the run-time lengths
        keep = runtime_keep(ctx, attention_mask, input_masks,
                            runtime_bands(ctx, query, value, causal=causal, window=window))
    else:
        keep = _mha_keep(ctx, attention_mask, causal, t_q, t_k, input_masks, window=window)
    probs = masked_softmax(ctx, scores, keep, style="where" if fused else "where_zero")
    if t_q is None or t_k is None:  # a mask of run-time sizes must not grow them (Keras raises)
        probs = probs_shaped_as_scores(ctx, probs, scores, keep)
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
    y = unflatten_steps(ctx, y, query, (features,), "output")
    return [y, probs] if return_scores else y
