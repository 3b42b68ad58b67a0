"""MultiHeadAttention, Attention and AdditiveAttention, built from MatMul/BatchMatMulV2 and Softmax (never Einsum).

MultiHeadAttention's query/key/value/output projections are EinsumDense layers whose kernels
(``[dim, heads, key_dim]``, output ``[heads, value_dim, out]``) are the same bytes as the 2-D kernels
``[dim, heads·key_dim]`` / ``[heads·value_dim, out]``, so each projection is one MatMul over
``[batch·T, dim]``; heads are split with Reshape + Transpose and attended with BatchMatMulV2. Other
``attention_axes`` fold into this rank-3 layout first (:mod:`.attention_layout`).

Masks follow the Keras flavour that saved the file (Keras 3 or tf_keras), which decides what a fully masked
query row gives. Keras 3's fused path (no dropout, no returned scores) uses ``where(mask, logits,
-0.7·3.38953e38)`` (a uniform row: the mean of the values); its explicit path goes through the Softmax
layer (``where(mask, logits, -1e9)``, then masked probabilities zeroed: a zero row); tf_keras's Softmax
layer adds ``(1 - mask)·-1e9`` (a near-uniform row: large logits survive the rounding), or with
``softmax_robust_masking`` uses ``where(mask, logits, -1e9)`` (an exactly uniform row). Keras masks
(``Masking``, ``mask_zero``, see :mod:`.masking`) reaching MultiHeadAttention join its attention mask as Keras
computes it (query ``[B, T, 1]`` AND value / key ``[B, 1, S]``), and with them the causal mask and ``sliding_window``'s band (``|i - j| < window``, a constant
``[T, S]``). ``use_gate`` multiplies the attended heads by ``sigmoid`` of one more projection of the query (Keras's
``gate`` EinsumDense, saved between the key and value projections) before the output projection. Attention / AdditiveAttention read ``mask=[query_mask, value_mask]`` (given, or the inputs'
Keras masks): ``scores - 1e9`` at dropped value steps (a fully masked row is uniform), zeros at masked query steps.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .attention_layout import AttentionLayout, attention_layout
from .context import LayerContext, broadcast_shape, check_call_kwargs  # noqa: F401 (also imported from here)
from .lazy import ReshapedArray
from .registry import Unsupported, lowers

#: Keras's large negative number for float32 masked logits in the Softmax layer and Attention's causal mask
#: (``_large_negative_number``, tf_keras's too).
LARGE_NEGATIVE = -1e9
#: Keras 3's fused ``dot_product_attention`` fill for masked logits (TF backend ``_get_large_negative``).
FUSED_LARGE_NEGATIVE = float(np.float32(3.38953e38 * -0.7))

def _static(ctx: LayerContext, value: Value, rank: int, what: str) -> tuple[int | None, ...]:
    shape = ctx.shape(value)
    if len(shape) != rank or any(d is None for d in shape[1:]):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) needs a rank-{rank} {what} of static sizes "
                          f"(got {list(shape)})")
    return shape


def causal_keep(rows: int, cols: int) -> np.ndarray:
    """Keras's causal mask: query step ``i`` sees key steps ``j <= i`` (``band_part(ones, -1, 0)``)."""
    return np.tril(np.ones((rows, cols), dtype=bool))


def as_bool(ctx: LayerContext, mask: Value, *, label: str) -> Value:
    """A mask tensor as bool, nonzero kept (``cast(mask, bool)``)."""
    if mask.dtype == DType.BOOL:
        return mask
    zero = ctx.const(np.asarray(0, dtype=mask.dtype.numpy), f"{label}_zero")
    return ctx.op("NotEqual", [mask, zero], {"incompatible_shape_error": True}, shape=mask.shape, dtype=DType.BOOL,
                  label=label)


def masked_softmax(ctx: LayerContext, scores: Value, keep: Value | None, *, style: str) -> Value:
    """Softmax over the last axis of ``scores`` with ``keep`` (bool, broadcastable) applied Keras's way.

    ``style``: ``"where"`` (Keras 3 fused attention), ``"where_zero"`` (Keras 3's Softmax layer, which also
    zeroes fully masked rows), ``"adder"`` (tf_keras's Softmax layer) or ``"where_uniform"`` (tf_keras's Softmax
    with ``robust_masking``: ``where(mask, x, -1e9)``, a fully masked row exactly uniform whatever its logits).
    """
    if keep is not None:
        if style == "adder":
            keep_f = ctx.op("Cast", [keep], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False},
                            dtype=DType.FLOAT32, shape=keep.shape, label="mask_float")
            dropped = ctx.op("Sub", [ctx.floats(1.0, "one"), keep_f], shape=keep.shape, label="mask_dropped")
            scores = ctx.binary("AddV2", scores, ctx.scalar_op("Mul", dropped, LARGE_NEGATIVE, "mask_adder"),
                                label="masked_scores")
        else:
            assert style in ("where", "where_zero", "where_uniform"), style
            fill = FUSED_LARGE_NEGATIVE if style == "where" else LARGE_NEGATIVE
            scores = ctx.op("SelectV2", [keep, scores, ctx.floats(fill, "large_negative")],
                            {"T": DType.FLOAT32}, shape=scores.shape, dtype=DType.FLOAT32, label="masked_scores")
    probs = ctx.unary("Softmax", scores, label="softmax")
    if keep is not None and style == "where_zero":
        probs = ctx.op("SelectV2", [keep, probs, ctx.floats(0.0, "zero")], {"T": DType.FLOAT32},
                       shape=probs.shape, dtype=DType.FLOAT32,
                       label="masked_probs")
    return probs


def batch_matmul(ctx: LayerContext, a: Value, b: Value, shape: tuple, *, adj_y: bool = False,
                 label: str = "BatchMatMulV2") -> Value:
    return ctx.op("BatchMatMulV2", [a, b], {"adj_x": False, "adj_y": adj_y}, shape=shape, label=label)


# -- MultiHeadAttention --------------------------------------------------------------------------------------
def _mha_check(config: dict[str, Any]) -> str | None:
    axes = config.get("attention_axes")  # which axes fit is checked at the call (attention_layout)
    listed = axes if isinstance(axes, (list, tuple)) else [axes]
    if axes is not None and (not listed or any(isinstance(a, bool) or not isinstance(a, int) for a in listed)):
        return f"attention_axes={axes!r}"
    window = config.get("sliding_window")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
        return f"sliding_window={window!r}"
    if config.get("flash_attention"):
        return "flash_attention=True"
    return None


def _project(ctx: LayerContext, x: Value, kernel: Any, bias: Any, heads: int, size: int, steps: int,
             label: str) -> Value:
    """An EinsumDense ``abc,cde->abde`` projection as ``[batch, heads, steps, size]``."""
    features = int(ctx.shape(x)[-1])
    ctx.check_shape(kernel, [features, heads, size], f"{label} kernel")
    flat = ctx.reshape(x, [None, features], f"{label}/flat")
    y = ctx.op("MatMul", [flat, ctx.weight(ReshapedArray(kernel, (features, heads * size)), f"{label}/kernel")],
               {"transpose_a": False, "transpose_b": False}, shape=(None, heads * size), label=f"{label}/MatMul")
    if bias is not None:
        ctx.check_shape(bias, [heads, size], f"{label} bias")
        y = ctx.op("BiasAdd", [y, ctx.weight(ReshapedArray(bias, (heads * size,)), f"{label}/bias")],
                   {"data_format": "NHWC"}, shape=y.shape, label=f"{label}/BiasAdd")
    y = ctx.reshape(y, [None, steps, heads, size], f"{label}/heads")
    return ctx.transpose(y, [0, 2, 1, 3], f"{label}/heads_first")


def sliding_window_keep(rows: int, cols: int, window: int) -> np.ndarray:
    """Keras's sliding-window band: query step ``i`` sees key steps ``j`` with ``|i - j| < window``."""
    return np.abs(np.arange(rows)[:, None] - np.arange(cols)[None, :]) < window


def gate_of(ctx: LayerContext, query: Value, kernel: Any, bias: Any, heads: int, size: int) -> Value:
    """``use_gate``'s ``sigmoid(query·gate_kernel + gate_bias)`` as ``[batch·T, heads·size]`` (EinsumDense
    ``abc,cde->abde`` with a sigmoid activation)."""
    features = int(ctx.shape(query)[-1])
    ctx.check_shape(kernel, [features, heads, size], "gate kernel")
    flat = ctx.reshape(query, [None, features], "gate/flat")
    y = ctx.op("MatMul", [flat, ctx.weight(ReshapedArray(kernel, (features, heads * size)), "gate/kernel")],
               {"transpose_a": False, "transpose_b": False}, shape=(None, heads * size), label="gate/MatMul")
    if bias is not None:
        ctx.check_shape(bias, [heads, size], "gate bias")
        y = ctx.op("BiasAdd", [y, ctx.weight(ReshapedArray(bias, (heads * size,)), "gate/bias")],
                   {"data_format": "NHWC"}, shape=y.shape, label="gate/BiasAdd")
    return ctx.unary("Sigmoid", y, label="gate/Sigmoid")


def projection_weights(ctx: LayerContext, use_bias: bool, use_gate: bool) -> dict[str, Any]:
    """The projections' weights by name, in Keras's order (query, key, [gate,] value, output; kernel, bias)."""
    parts = ("query", "key", *(("gate",) if use_gate else ()), "value", "output")
    names = [f"{part}_{w}" for part in parts for w in (("kernel", "bias") if use_bias else ("kernel",))]
    return dict(zip(names, ctx.expect_weights(*names)))


def _output_dims(ctx: LayerContext, query_features: int) -> tuple[int, ...]:
    out = ctx.config.get("output_shape")
    if out is None:
        return (query_features,)
    dims = tuple(int(d) for d in (out if isinstance(out, (list, tuple)) else [out]))
    if not dims or any(d <= 0 for d in dims):
        raise ctx.error(f"has output_shape={out!r}")
    return dims


def query_value_key(ctx: LayerContext) -> tuple[Value, Value, Value]:
    """The call's query, value and key (key defaults to value), given by position or by keyword (tf_keras)."""
    kwargs = ctx.call_kwargs
    inputs = list(ctx.inputs)
    if isinstance(kwargs.get("query"), Value):
        inputs.insert(0, kwargs["query"])
    for name in ("value", "key"):
        if isinstance(kwargs.get(name), Value):
            inputs.append(kwargs[name])
    if len(inputs) not in (2, 3):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with {len(inputs)} tensors")
    return inputs[0], inputs[1], inputs[2] if len(inputs) == 3 else inputs[1]


@lowers("MultiHeadAttention", check=_mha_check, keywords=("query", "value", "key", "attention_mask"))
def multi_head_attention(ctx: LayerContext) -> Value | list[Value]:
    """``softmax(q·kᵀ/√key_dim [masked])·v`` per head, then the output projection."""
    check_call_kwargs(ctx, ("query", "value", "key", "attention_mask", "use_causal_mask", "return_attention_scores"))
    kwargs = ctx.call_kwargs
    query, value, key = query_value_key(ctx)
    if len(ctx.shape(query)) == 3 and len(ctx.shape(key)) == 3 and ctx.shape(key)[1] != ctx.shape(value)[1]:
        raise ctx.error(f"has key and value of different lengths ({ctx.shape(key)[1]} and {ctx.shape(value)[1]})")
    layout = attention_layout(ctx, query, value, key)
    query_features = int(ctx.shape(query)[-1])
    query = layout.fold(ctx, query, layout.query_dims, "query_in")
    value = layout.fold(ctx, value, layout.key_dims, "value_in")
    key = layout.fold(ctx, key, layout.key_dims, "key_in")
    heads, key_dim = int(ctx.config["num_heads"]), int(ctx.config["key_dim"])
    value_dim = int(ctx.config.get("value_dim") or key_dim)
    use_bias, use_gate = ctx.config.get("use_bias", True), bool(ctx.config.get("use_gate"))
    weights = projection_weights(ctx, use_bias, use_gate)
    (qk, qb), (kk, kb), (vk, vb), (ok, ob) = [(weights[f"{part}_kernel"], weights.get(f"{part}_bias"))
                                              for part in ("query", "key", "value", "output")]
    t_q, t_k = layout.query_steps, layout.key_steps
    q = _project(ctx, query, qk, qb, heads, key_dim, t_q, "query")
    k = _project(ctx, key, kk, kb, heads, key_dim, t_k, "key")
    v = _project(ctx, value, vk, vb, heads, value_dim, t_k, "value")

    return_scores = bool(kwargs.get("return_attention_scores"))
    fused = ctx.keras3 and not return_scores and not float(ctx.config.get("dropout") or 0.0) > 0.0 \
        and not layout.folded  # Keras 3 fuses only rank-3 queries
    scale = 1.0 / math.sqrt(float(key_dim))
    scores_shape = (None, heads, t_q, t_k)
    if fused:  # Keras 3's dot_product_attention scales the logits
        scores = ctx.scalar_op("Mul", batch_matmul(ctx, q, k, scores_shape, adj_y=True, label="logits"), scale,
                               "scaled_logits")
    else:  # Keras 3's explicit path and tf_keras scale the query
        scores = batch_matmul(ctx, ctx.scalar_op("Mul", q, scale, "scaled_query"), k, scores_shape, adj_y=True,
                              label="logits")

    mask, causal, input_masks = _folded_masks(ctx, layout)
    keep = _mha_keep(ctx, mask, causal, t_q, t_k, input_masks, window=ctx.config.get("sliding_window"),
                     band_steps=layout.band_steps)
    style = "where" if fused else "where_zero" if ctx.keras3 else \
        "where_uniform" if ctx.config.get("softmax_robust_masking") else "adder"  # tf_keras >= 2.13's option
    probs = masked_softmax(ctx, scores, keep, style=style)
    attended = batch_matmul(ctx, probs, v, (None, heads, t_q, value_dim), label="attended")
    attended = ctx.transpose(attended, [0, 2, 1, 3], "steps_first")
    flat = ctx.reshape(attended, [None, heads * value_dim], "output/flat")
    if use_gate:
        flat = ctx.binary("Mul", flat, gate_of(ctx, query, weights["gate_kernel"], weights.get("gate_bias"), heads,
                                               value_dim), label="gated")
    dims = _output_dims(ctx, query_features)
    width = int(np.prod(dims))
    ctx.check_shape(ok, [heads, value_dim, *dims], "output kernel")
    y = ctx.op("MatMul", [flat, ctx.weight(ReshapedArray(ok, (heads * value_dim, width)), "output/kernel")],
               {"transpose_a": False, "transpose_b": False}, shape=(None, width), label="output/MatMul")
    if ob is not None:
        ctx.check_shape(ob, list(dims), "output bias")
        y = ctx.op("BiasAdd", [y, ctx.weight(ReshapedArray(ob, (width,)), "output/bias")], {"data_format": "NHWC"},
                   shape=y.shape, label="output/BiasAdd")
    y = layout.unfold_output(ctx, y, dims)
    return [y, layout.unfold_scores(ctx, probs, heads)] if return_scores else y


def _folded_masks(ctx: LayerContext, layout: AttentionLayout) -> tuple[Value | None, bool, tuple[Value | None, ...]]:
    """The call's attention mask, causal flag and query / value / key Keras masks, as ``[batch', T, S]`` and
    ``[batch', steps]`` for the folded attention. Keras lines its masks up with the scores from the right
    (``[B, .., T, 1]``, ``[B, .., 1, S]``, ``[1, T0, S0]`` causal), which is the attention's layout only when a single
    attention axis is given; other combinations are refused by name."""
    mask, causal = ctx.call_kwargs.get("attention_mask"), bool(ctx.call_kwargs.get("use_causal_mask"))
    input_masks = query_value_key_masks(ctx)
    if not layout.folded:
        return mask, causal, input_masks
    if len(layout.axes) > 1 and (causal or ctx.config.get("sliding_window") is not None
                                 or any(m is not None for m in input_masks)):
        what = "use_causal_mask" if causal else "sliding_window" if ctx.config.get("sliding_window") is not None \
            else "Keras masks"
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): {what} with attention_axes={list(layout.axes)} "
                          f"(Keras applies its [T, S] masks to the last axes only)")
    if any(m is not None for m in input_masks) and not (layout.last_axis_only and ctx.keras3):
        # tf_keras expands them at axis 2 and 1 (``mask[:, :, None]``), Keras 3 at -1 and -2
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): Keras masks with attention_axes="
                          f"{list(layout.axes)}{'' if ctx.keras3 else ' in tf_keras'} (Keras lines them up with "
                          f"other axes of the scores)")
    if mask is not None:
        mask = layout.fold_attention_mask(ctx, mask)
    dims = (layout.query_dims, layout.key_dims, layout.key_dims)
    folded = tuple(None if m is None else layout.fold_input_mask(ctx, m, d, label)
                   for m, d, label in zip(input_masks, dims, ("query_mask", "value_mask", "key_mask")))
    return mask, causal, folded


def _mha_keep(ctx: LayerContext, mask: Value | None, causal: bool, t_q: int, t_k: int,
              input_masks: tuple[Value | None, ...] = (), *, window: int | None = None,
              band_steps: tuple[int, int] | None = None) -> Value | None:
    """The bool mask of kept logits, broadcastable to ``[batch, heads, T, S]``, or None: ``attention_mask``, the
    query's / value's / key's Keras masks (``[B, T, 1]``, ``[B, 1, S]``), the causal mask and the sliding window's
    band, ANDed as Keras does. ``band_steps``: the ``[T0, S0]`` Keras builds the causal and window bands over
    (axis 1 of query and value; broadcast onto ``[T, S]`` as Keras does, else refused), by default ``(T, S)``."""
    rows, cols = band_steps or (t_q, t_k)
    parts: list[Value] = []
    if mask is not None:
        shape = ctx.shape(mask)
        if len(shape) != 3 or tuple(shape[1:]) != (t_q, t_k):
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): attention_mask of shape {list(shape)}")
        # Keras 3 and tf_keras (with a causal or Keras mask) read a non-bool mask as ``cast(mask, bool)``
        if not ctx.keras3 and mask.dtype != DType.BOOL and not causal and not any(m is not None for m in input_masks):
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): a non-bool attention_mask in tf_keras")
        parts.append(as_bool(ctx, mask, label="attention_mask"))
    for m, axis, label in zip(input_masks, (2, 1, 1), ("query_mask", "value_mask", "key_mask")):
        if m is not None:
            parts.append(ctx.expand_dims(as_bool(ctx, m, label=f"{label}_bool"), axis, f"{label}_steps"))
    if causal:
        parts.append(ctx.const(_band(ctx, causal_keep(rows, cols), t_q, t_k), "causal_mask"))
    if window is not None:
        parts.append(ctx.const(_band(ctx, sliding_window_keep(rows, cols, int(window)), t_q, t_k),
                               "sliding_window_mask"))
    if not parts:
        return None
    keep = parts[0]
    for i, part in enumerate(parts[1:]):
        keep = ctx.op("LogicalAnd", [keep, part], shape=broadcast_shape(keep.shape, part.shape), dtype=DType.BOOL,
                      label=f"mask_and_{i}")
    return ctx.expand_dims(keep, 1, "mask_heads") if len(ctx.shape(keep)) == 3 else keep


def _band(ctx: LayerContext, keep: np.ndarray, t_q: int, t_k: int) -> np.ndarray:
    """Keras's ``[T0, S0]`` band broadcast onto the scores' ``[T, S]`` (what Keras cannot broadcast is refused)."""
    try:
        return np.ascontiguousarray(np.broadcast_to(keep, (t_q, t_k)))
    except ValueError:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): a causal or sliding-window mask of "
                          f"{list(keep.shape)} for attention of {[t_q, t_k]} steps") from None


def query_value_key_masks(ctx: LayerContext) -> tuple[Value | None, Value | None, Value | None]:
    """The Keras masks of the call's query, value and key (in :func:`query_value_key`'s order); the key's only
    when the key is given (Keras reads the value's for a missing key: ANDing it twice changes nothing)."""
    kwargs, masks = ctx.call_kwargs, list(ctx.masks)
    if isinstance(kwargs.get("query"), Value):
        masks.insert(0, ctx.keyword_masks.get("query"))
    for name in ("value", "key"):
        if isinstance(kwargs.get(name), Value):
            masks.append(ctx.keyword_masks.get(name))
    masks += [None] * (3 - len(masks))
    return masks[0], masks[1], masks[2]


# -- Attention / AdditiveAttention ---------------------------------------------------------------------------
def _attention_check(config: dict[str, Any]) -> str | None:
    if config.get("score_mode", "dot") not in ("dot", "concat"):
        return f"score_mode={config.get('score_mode')!r}"
    return None


def _qvk(ctx: LayerContext) -> tuple[Value, Value, Value, int, int]:
    if len(ctx.inputs) not in (2, 3):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with {len(ctx.inputs)} tensors")
    query, value = ctx.inputs[0], ctx.inputs[1]
    key = ctx.inputs[2] if len(ctx.inputs) == 3 else value
    q_shape, v_shape, k_shape = (_static(ctx, t, 3, what) for t, what in ((query, "query"), (value, "value"),
                                                                         (key, "key")))
    if q_shape[-1] != k_shape[-1] or k_shape[1] != v_shape[1]:
        raise ctx.error(f"has query {list(q_shape)}, value {list(v_shape)} and key {list(k_shape)} that do not fit")
    return query, value, key, int(q_shape[1]), int(v_shape[1])


def _pairwise_tanh_sum(ctx: LayerContext, query: Value, key: Value, t_q: int, t_k: int, scale: Value | None,
                       scale_inside: bool) -> Value:
    """``sum(tanh(scale·(q + k)), -1)`` (``scale_inside``) or ``sum(scale·tanh(q + k), -1)`` over all pairs."""
    pairs = ctx.binary("AddV2", ctx.expand_dims(query, 2, "query_pairs"), ctx.expand_dims(key, 1, "key_pairs"),
                       label="pairs")
    if scale is not None and scale_inside:
        pairs = ctx.binary("Mul", scale, pairs, label="scaled_pairs")
    y = ctx.unary("Tanh", pairs, label="tanh")
    if scale is not None and not scale_inside:
        y = ctx.binary("Mul", scale, y, label="scaled_tanh")
    return ctx.op("Sum", [y, ctx.ints(-1, "sum_axis")], {"keep_dims": False, "Tidx": DType.INT32},
                  shape=(None, t_q, t_k), label="scores")


@lowers("Attention", "AdditiveAttention", check=_attention_check)
def attention(ctx: LayerContext) -> Value | list[Value]:
    """Luong (``dot``/``concat``) and Bahdanau attention: ``softmax(scores [- 1e9 where causal])·value``."""
    check_call_kwargs(ctx, ("use_causal_mask", "return_attention_scores", "mask"))
    query, value, key, t_q, t_k = _qvk(ctx)
    masks = list(ctx.call_kwargs["mask"] if "mask" in ctx.call_kwargs else ctx.masks) + [None, None]
    query_mask, value_mask = masks[0], masks[1]  # a key's mask is not read (Keras's ``mask=[q, v]``)
    additive = ctx.class_name == "AdditiveAttention"
    use_scale = bool(ctx.config.get("use_scale", additive))
    mode = "additive" if additive else ctx.config.get("score_mode", "dot")
    names = (["scale"] if use_scale else []) + (["concat_score_weight"] if mode == "concat" else [])
    weights = ctx.expect_weights(*names)
    scale = weights[0] if use_scale else None
    if scale is not None:
        ctx.check_shape(scale, [int(ctx.shape(query)[-1])] if additive else [], "scale")
    if mode == "dot":
        scores = batch_matmul(ctx, query, key, (None, t_q, t_k), adj_y=True, label="scores")
        if scale is not None:
            scores = ctx.binary("Mul", scores, ctx.weight(scale, "scale"), label="scaled_scores")
    else:
        scale_value = None if scale is None else ctx.weight(scale, "scale")
        scores = _pairwise_tanh_sum(ctx, query, key, t_q, t_k, scale_value, scale_inside=not additive)
        if mode == "concat":
            ctx.check_shape(weights[-1], [], "concat_score_weight")
            scores = ctx.binary("Mul", ctx.weight(weights[-1], "concat_score_weight"), scores, label="weighted_scores")
    causal = bool(ctx.call_kwargs.get("use_causal_mask") or ctx.config.get("causal"))
    if value_mask is not None:  # Keras: ``scores - 1e9`` where the value step (or the causal mask) drops it
        keep = ctx.expand_dims(as_bool(ctx, value_mask, label="value_mask_bool"), 1, "value_mask_steps")
        if causal:
            keep = ctx.op("LogicalAnd", [keep, ctx.const(causal_keep(t_q, t_k), "causal_mask")], dtype=DType.BOOL,
                          shape=(None, t_q, t_k), label="mask_and_causal")
        dropped = ctx.scalar_op("Sub", scores, -LARGE_NEGATIVE, "dropped_scores")
        scores = ctx.op("SelectV2", [keep, scores, dropped], {"T": DType.FLOAT32}, shape=scores.shape,
                        dtype=DType.FLOAT32, label="masked_scores")
    elif causal:
        padding = (~causal_keep(t_q, t_k)).astype(np.float32) * np.float32(-LARGE_NEGATIVE)
        scores = ctx.binary("Sub", scores, ctx.floats(padding, "causal_padding"), label="causal_scores")
    probs = ctx.unary("Softmax", scores, label="softmax")
    out = batch_matmul(ctx, probs, value, (None, t_q, ctx.shape(value)[-1]), label="attended")
    if query_mask is not None:  # masked query steps give zeros (Keras 3: ``where``; tf_keras: ``* cast(mask)``)
        keep_query = ctx.expand_dims(as_bool(ctx, query_mask, label="query_mask_bool"), 2, "query_mask_steps")
        if ctx.keras3:
            out = ctx.op("SelectV2", [keep_query, out, ctx.floats(0.0, "zero")], {"T": DType.FLOAT32},
                         shape=out.shape, dtype=DType.FLOAT32, label="masked_output")
        else:
            out = ctx.binary("Mul", out, ctx.op("Cast", [keep_query], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32,
                                                                       "Truncate": False},
                                                dtype=DType.FLOAT32, shape=keep_query.shape, label="query_mask_float"),
                             label="masked_output")
    return [out, probs] if ctx.call_kwargs.get("return_attention_scores") else out
