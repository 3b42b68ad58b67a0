"""MultiHeadAttention, Attention and AdditiveAttention, built from MatMul/BatchMatMulV2 and Softmax (never Einsum).

MultiHeadAttention's query/key/value/output projections are EinsumDense layers whose kernels
(``[dim, heads, key_dim]``, output ``[heads, value_dim, out]``) are the same bytes as the 2-D kernels
``[dim, heads·key_dim]`` / ``[heads·value_dim, out]``, so each projection is one MatMul over
``[batch·T, dim]``; heads are split with Reshape + Transpose and attended with BatchMatMulV2. Other
``attention_axes`` fold into this rank-3 layout first (:mod:`.attention_layout`), their masks lined up with the
scores as Keras lines them up (:mod:`.attention_masks`); attention over the heads axis is :mod:`.attention_heads`.
Keras 3 fuses a rank-3 query (no dropout, no returned scores) whatever its ``attention_axes``: the default then.
Over lengths known only at run time (``keras.Input((None, 8))``; query, key and value lengths each unknown, the
batch too) the rank-3 default attention, GroupedQueryAttention and Attention / AdditiveAttention (whose query's last
axis may be unknown too: no weight depends on it) read the sizes of their head reshapes from ``tf.shape``
(:mod:`.dynamic_shape`) and build the causal and sliding-window bands from ``tf.range`` of the lengths
(:func:`.attention_masks.runtime_bands`); other ``attention_axes`` and rank-4+ queries fold with run-time sizes
(:mod:`.attention_layout`), their bands lined up as Keras lines them up (:func:`.attention_masks.folded_runtime_keep`);
an ``attention_mask`` or Keras masks there (or beside a per-head mask, or expanded by Keras 3's fused path for other
configured axes) reach the scores as Keras's broadcasting lines them up at run time
(:func:`.attention_masks.runtime_keras_keep`).

Masks follow the Keras flavour that saved the file (Keras 3 or tf_keras), which decides what a fully masked
query row gives. Keras 3's fused path (no dropout, no returned scores) uses ``where(mask, logits,
-0.7·3.38953e38)`` (a uniform row: the mean of the values; filled with 0 instead, as webgl's ``Max`` stops at
-1e20); its explicit path goes through the Softmax layer (``where(mask, logits, -1e9)``, then masked
probabilities zeroed: a zero row); tf_keras's Softmax layer adds ``(1 - mask)·-1e9`` (a near-uniform row: large
logits survive the rounding; a non-bool ``attention_mask`` alone is added as it is, 2 adding +1e9, on every layout:
:func:`.attention_masks.attention_mask_value`), or with ``softmax_robust_masking`` uses ``where(mask, logits, -1e9)`` (an exactly
uniform row); over several attention axes tf_keras's Softmax is ``exp(x - logsumexp(x))`` (a fully masked row of
small logits gives ones). Keras masks (``Masking``, ``mask_zero``, see :mod:`.masking`) reaching
MultiHeadAttention join its attention mask as Keras computes it (query ``[B, T, 1]`` AND value / key
``[B, 1, S]``), and with them the causal mask and ``sliding_window``'s band (``|i - j| < window``), lined up with
the scores as Keras lines them up (:mod:`.attention_masks`). ``use_gate`` multiplies the attended heads by
``sigmoid`` of one more projection of the query (Keras's ``gate`` EinsumDense, saved between the key and value
projections) before the output projection. Attention / AdditiveAttention read ``mask=[query_mask, value_mask]``
(given, or the inputs' Keras masks): ``scores - 1e9`` at dropped value steps (a fully masked row is uniform),
zeros at masked query steps. In a float64 layer a row masked entirely is the softmax of its unmasked logits, as
Keras's float64 ``logit - 1e9`` keeps their differences (:func:`float64_kept_rows`). A MultiHeadAttention of a
float16 policy rounds to float16 where Keras's float16 ops round (:func:`half_step`: projections, the scaled query
with its float16 scale, logits, tf_keras's mask adder with float16's ``-32752``, each step of TF's float16
Softmax, the attended values, the output projection; Keras 3's fused attention normalizes in float32), its einsums
summed in float32.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .attention_layout import AttentionLayout, attention_layout
from .attention_masks import (ScoresGroups, all_kept, as_bool, attention_mask_value, causal_keep, keras_keep,
                              mha_mask_pieces, runtime_bands, runtime_keep, sliding_window_keep)
from ..configs import dtype_name
from .context import LayerContext, broadcast_shape, check_call_kwargs  # noqa: F401 (also imported from here)
from .dynamic_shape import reshape_to, runtime_sizes
from .lazy import ReshapedArray
from .registry import Unsupported, lowers

#: Keras's large negative number for float32 masked logits in the Softmax layer and Attention's causal mask
#: (``_large_negative_number``, tf_keras's too).
LARGE_NEGATIVE = -1e9
#: Keras 3's fused ``dot_product_attention`` fill for masked logits (TF backend ``_get_large_negative``).
FUSED_LARGE_NEGATIVE = float(np.float32(3.38953e38 * -0.7))
#: The float16 fills of masked logits: tf_keras's Softmax ``float16.min / 2`` (``_large_compatible_negative``),
#: Keras 3's Softmax layer ``-3e4`` (``_large_negative_number``); -1e9 would be -inf in float16.
HALF_LARGE_NEGATIVE = {"adder": -32752.0, "where_uniform": -32752.0, "where_zero": -30000.0}


def in_half(ctx: LayerContext) -> bool:
    """Whether ``ctx`` is a MultiHeadAttention Keras computes in float16 (its policy): its lowering then rounds to
    float16 where Keras's float16 ops round (:func:`half_step`), its other ops computed in float32."""
    return ctx.class_name == "MultiHeadAttention" and dtype_name(ctx.config.get("dtype")) in ("float16",
                                                                                                "mixed_float16")


def half_step(ctx: LayerContext, value: Value, label: str, within: str = "any") -> Value:
    """``value`` rounded to float16 as TF's float16 op that gives it in Keras rounds it (:func:`in_half`), else as it
    is; ``within``: what is known of its range, sparing the rounding's other branches
    (:data:`.float_widths.HALF_RANGES`). TF's float16 einsums and sums accumulate in their own order (on CPU, in
    float16 step by step), the lowering in float32: a result can land one float16 step away, which a large logit
    turns into a large change of its weight."""
    if not in_half(ctx):
        return value
    from .float_widths import rounded_to_half

    return rounded_to_half(ctx.graph, value, f"{ctx.name}/{label}/to_float16", within)

def sequence_shape(ctx: LayerContext, value: Value, what: str, *, known_features: bool = True
                   ) -> tuple[int | None, ...]:
    """The shape of a ``[batch, steps, features]`` input: the steps may be unknown (read at run time), the
    features too unless ``known_features`` (the projections' weights need them)."""
    shape = ctx.shape(value)
    if len(shape) != 3 or (known_features and shape[-1] is None):
        known = " with a known last axis" if known_features else ""
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) needs a rank-3 {what}{known} (got {list(shape)})")
    return shape


def fits(a: int | None, b: int | None) -> bool:
    """Whether two sizes can be equal (an unknown size fits any)."""
    return a is None or b is None or a == b


def unflatten_steps(ctx: LayerContext, flat: Value, like: Value, dims: tuple[int, ...], label: str) -> Value:
    """``[batch·steps, prod(dims)]`` as ``[batch, steps, *dims]``, ``batch`` and ``steps`` those of the rank-3
    ``like``: read at run time when the steps are unknown."""
    steps = ctx.shape(like)[1]
    if steps is not None:
        return ctx.reshape(flat, [None, steps, *dims], label)
    return reshape_to(ctx, flat, [runtime_sizes(ctx, like, 0, 2, label), list(dims)], (None, None, *dims), label)


def masked_softmax(ctx: LayerContext, scores: Value, keep: Value | None, *, style: str,
                   logsumexp: bool = False) -> Value:
    """Softmax over the last axis of ``scores`` with ``keep`` (bool, broadcastable) applied Keras's way.

    ``style``: ``"where"`` (Keras 3 fused attention), ``"where_zero"`` (Keras 3's Softmax layer, which also
    zeroes fully masked rows), ``"adder"`` (tf_keras's Softmax layer) or ``"where_uniform"`` (tf_keras's Softmax
    with ``robust_masking``: ``where(mask, x, -1e9)``, a fully masked row exactly uniform whatever its logits).
    ``logsumexp``: tf_keras's Softmax over several axes, ``exp(x - reduce_logsumexp(x))``: a fully masked row
    (logits all about -1e9) gives ones, not ``1/n``, as ``log(n)`` is lost in rounding beside -1e9.
    """
    half = in_half(ctx) and style != "where"  # (Keras 3's fused attention masks and normalizes in float32)
    large_negative = HALF_LARGE_NEGATIVE[style] if half else LARGE_NEGATIVE
    if keep is not None:
        if style == "adder":  # a float32 ``keep``: tf_keras's non-bool mask, weighed as it is (attention_mask_value)
            keep = float64_kept_rows(ctx, keep)
            keep_f = keep if keep.dtype == DType.FLOAT32 else ctx.op(
                "Cast", [keep], {"SrcT": keep.dtype, "DstT": DType.FLOAT32, "Truncate": False},
                dtype=DType.FLOAT32, shape=keep.shape, label="mask_float")
            if keep.dtype == DType.BOOL:  # 0 or 1, then 1 or 0, then 0 or -32752: float16 values, nothing to round
                dropped = ctx.op("Sub", [ctx.floats(1.0, "one"), keep_f], shape=keep.shape, label="mask_dropped")
                adder = ctx.scalar_op("Mul", dropped, large_negative, "mask_adder")
            else:
                keep_f = half_step(ctx, keep_f, "mask_float")  # (``tf.cast(mask, float16)``: 1.0001 is 1)
                dropped = half_step(ctx, ctx.op("Sub", [ctx.floats(1.0, "one"), keep_f], shape=keep.shape,
                                                 label="mask_dropped"), "mask_dropped")
                adder = half_step(ctx, ctx.scalar_op("Mul", dropped, large_negative, "mask_adder"), "mask_adder")
            scores = half_step(ctx, ctx.binary("AddV2", scores, adder, label="masked_scores"), "masked_scores")
        else:
            assert style in ("where", "where_zero", "where_uniform"), style
            fill = ctx.floats(FUSED_LARGE_NEGATIVE if style == "where" else large_negative, "large_negative")
            if style == "where":
                fill = _fused_fill(ctx, keep, fill)
            scores = ctx.op("SelectV2", [keep, scores, fill], {"T": DType.FLOAT32}, shape=scores.shape,
                            dtype=DType.FLOAT32, label="masked_scores")
    if half:
        probs = _half_exp_minus_logsumexp(ctx, scores) if logsumexp else _half_softmax(ctx, scores)
    else:
        probs = _exp_minus_logsumexp(ctx, scores) if logsumexp else ctx.unary("Softmax", scores, label="softmax")
        if in_half(ctx):  # Keras 3's fused attention: a float32 softmax cast to float16
            probs = half_step(ctx, probs, "softmax", "unit")
    if keep is not None and style == "where_zero":
        probs = ctx.op("SelectV2", [keep, probs, ctx.floats(0.0, "zero")], {"T": DType.FLOAT32},
                       shape=probs.shape, dtype=DType.FLOAT32,
                       label="masked_probs")
    return probs


def float64_kept_rows(ctx: LayerContext, keep: Value) -> Value:
    """``keep`` with the rows it drops entirely kept, in a layer Keras computes in float64: there ``logit - 1e9``
    (tf_keras's mask adder, Attention's dropped scores) keeps the logits' differences (to 1.2e-7), so such a row is
    the softmax of its logits as if unmasked, where float32 rounds them all to -1e9, a uniform row (session 28, H11:
    10.8 off). A partly dropped row's dropped steps weigh 0 in both widths. A non-bool mask, weighed as it is, keeps
    its fractions of 1e9 in float64: refused by name there."""
    if dtype_name(ctx.config.get("dtype")) != "float64":
        return keep
    if keep.dtype != DType.BOOL:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): a float64 attention with a non-bool mask, added "
                          f"as (1 - mask)·-1e9 in float64, keeps differences float32 loses")
    shape = ctx.shape(keep)
    reduced = (*shape[:-1], 1)
    any_kept = ctx.op("Any", [keep, ctx.ints([-1], "row_axis")], {"keep_dims": True, "Tidx": DType.INT32},
                      dtype=DType.BOOL, shape=reduced, label="row_kept")
    dropped_rows = ctx.op("LogicalNot", [any_kept], dtype=DType.BOOL, shape=reduced, label="row_dropped")
    return ctx.op("LogicalOr", [keep, dropped_rows], dtype=DType.BOOL, shape=shape, label="float64_keep")


def _fused_fill(ctx: LayerContext, keep: Value, fill: Value) -> Value:
    """Keras 3's fused fill, 0 in fully masked rows: their softmax is uniform either way, and webgl's ``Max`` (which
    pads its windows with -1e20) would give -1e20 for a row of -2.37e38 fills, so ``exp(fill - max)`` all zeros."""
    shape = (*ctx.shape(keep)[:-1], 1)
    any_kept = ctx.op("Any", [keep, ctx.ints([-1], "row_axes")], {"keep_dims": True, "Tidx": DType.INT32},
                      dtype=DType.BOOL, shape=shape, label="row_kept")
    return ctx.op("SelectV2", [any_kept, fill, ctx.floats(0.0, "zero")], {"T": DType.FLOAT32}, shape=shape,
                  dtype=DType.FLOAT32, label="row_fill")


def _half_softmax(ctx: LayerContext, x: Value) -> Value:
    """TF's float16 Softmax kernel (Eigen): ``e = exp(x - max)``, then ``e · (1 / sum(e))``, each step rounded to
    float16 (the sum accumulated in float32 here, in float16 step by step on TF's CPU: one float16 step apart at
    most)."""
    attrs = {"keep_dims": True, "Tidx": DType.INT32}
    reduced = (*ctx.shape(x)[:-1], 1)
    peak = ctx.op("Max", [x, ctx.ints([-1], "softmax_axes")], attrs, shape=reduced, label="softmax_max")
    shifted = half_step(ctx, ctx.binary("Sub", x, peak, label="softmax_shifted"), "softmax_shifted")
    exps = half_step(ctx, ctx.unary("Exp", shifted, label="softmax_exp"), "softmax_exp", "unit")  # (shifted <= 0)
    total = half_step(ctx, ctx.op("Sum", [exps, ctx.ints([-1], "softmax_sum_axes")], attrs, shape=reduced,
                                  label="softmax_sum"), "softmax_sum", _row_sum_range(ctx, x))
    inverse = half_step(ctx, ctx.unary("Reciprocal", total, label="softmax_inverse"), "softmax_inverse", "unit")
    return half_step(ctx, ctx.binary("Mul", exps, inverse, label="softmax"), "softmax", "unit")


def _row_sum_range(ctx: LayerContext, x: Value) -> str:
    """What is known of the float16 sum of a row of ``exp(x - max(x))``: at least 1 (its max's exp) and at most its
    length, a normal float16 value where that length is known below 65504 (:data:`.float_widths.HALF_RANGES`)."""
    length = ctx.shape(x)[-1]
    return "normal" if isinstance(length, int) and length <= 65504 else "any"


def _half_exp_minus_logsumexp(ctx: LayerContext, x: Value) -> Value:
    """:func:`_exp_minus_logsumexp` with each float16 op of TF's ``reduce_logsumexp`` and the ``exp`` rounded."""
    attrs = {"keep_dims": True, "Tidx": DType.INT32}
    reduced = (*ctx.shape(x)[:-1], 1)
    peak = ctx.op("Max", [x, ctx.ints([-1], "softmax_axes")], attrs, shape=reduced, label="softmax_max")
    shifted = half_step(ctx, ctx.binary("Sub", x, peak, label="softmax_shifted"), "softmax_shifted")
    exps = half_step(ctx, ctx.unary("Exp", shifted, label="softmax_shifted_exp"), "softmax_shifted_exp", "unit")
    total = half_step(ctx, ctx.op("Sum", [exps, ctx.ints([-1], "softmax_sum_axes")], attrs, shape=reduced,
                                  label="softmax_sum"), "softmax_sum", _row_sum_range(ctx, x))
    log = half_step(ctx, ctx.unary("Log", total, label="softmax_log"), "softmax_log")
    lse = half_step(ctx, ctx.binary("AddV2", log, peak, label="softmax_logsumexp"), "softmax_logsumexp")
    centered = half_step(ctx, ctx.binary("Sub", x, lse, label="softmax_centered"), "softmax_centered")
    # (logsumexp >= max, both float16: centered <= 0)
    return half_step(ctx, ctx.unary("Exp", centered, label="softmax"), "softmax", "unit")


def _exp_minus_logsumexp(ctx: LayerContext, x: Value) -> Value:
    """TensorFlow's ``exp(x - reduce_logsumexp(x, -1, keepdims=True))``: ``log(sum(exp(x - max))) + max``."""
    attrs = {"keep_dims": True, "Tidx": DType.INT32}
    reduced = (*ctx.shape(x)[:-1], 1)
    peak = ctx.op("Max", [x, ctx.ints([-1], "softmax_axes")], attrs, shape=reduced, label="softmax_max")
    shifted = ctx.unary("Exp", ctx.binary("Sub", x, peak, label="softmax_shifted"), label="softmax_shifted_exp")
    total = ctx.op("Sum", [shifted, ctx.ints([-1], "softmax_sum_axes")], attrs, shape=reduced, label="softmax_sum")
    lse = ctx.binary("AddV2", ctx.unary("Log", total, label="softmax_log"), peak, label="softmax_logsumexp")
    return ctx.unary("Exp", ctx.binary("Sub", x, lse, label="softmax_centered"), label="softmax")


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


def projected_flat(ctx: LayerContext, x: Value, kernel: Any, bias: Any, heads: int, size: int, label: str,
                   layout: AttentionLayout | None = None) -> Value:
    """An EinsumDense ``abc,cde->abde`` projection of every position as ``[batch·positions, heads·size]`` (``x``: the
    layer's input, or that input folded by ``layout``)."""
    features = int(ctx.shape(x)[-1])
    ctx.check_shape(kernel, [features, heads, size], f"{label} kernel")
    flat = ctx.reshape(x, [None, features], f"{label}/flat")
    y = ctx.op("MatMul", [flat, ctx.weight(ReshapedArray(kernel, (features, heads * size)), f"{label}/kernel")],
               {"transpose_a": False, "transpose_b": False}, shape=(None, heads * size), label=f"{label}/MatMul")
    y = half_step(ctx, y, f"{label}/MatMul")  # (EinsumDense: a float16 einsum, then a float16 bias add)
    if bias is not None:
        ctx.check_shape(bias, [heads, size], f"{label} bias")
        source = _keras3_heads_bias_on_steps(ctx, heads, size, label)
        if source is not None:
            return half_step(ctx, _bias_on_axis_1(ctx, y, bias, heads, (source, x), layout, label), f"{label}/bias")
        y = ctx.op("BiasAdd", [y, ctx.weight(ReshapedArray(bias, (heads * size,)), f"{label}/bias")],
                   {"data_format": "NHWC"}, shape=y.shape, label=f"{label}/BiasAdd")
        y = half_step(ctx, y, f"{label}/BiasAdd")
    return y


def _keras3_heads_bias_on_steps(ctx: LayerContext, heads: int, size: int, part: str) -> Value | None:
    """The layer input (``part``'s: the query for the gate) whose axis 1 Keras 3's TensorFlow backend's traced graph
    adds the ``[heads, 1]`` bias (``key_dim`` or ``value_dim`` 1, squeezed to ``[heads]``) of ``part``'s projection
    ``[batch, *positions, heads, 1]`` on: its axis 1 (the first positions axis of the layer's own input, known at
    trace time to be ``heads`` long) rather than the heads (:func:`.core.keras3_traced_bias_axis`, which also warns
    over unknown lengths); None when the bias goes on the heads."""
    if not (ctx.keras3 and size == 1 and heads > 1):
        return None
    from .core import keras3_traced_bias_axis

    query, value, key = query_value_key(ctx)
    source = {"query": query, "gate": query, "value": value, "key": key}[part]
    shape = ctx.shape(source)
    if keras3_traced_bias_axis(ctx, (*shape[:-1], heads, 1), len(shape) - 1, heads, value=source,
                               layout=lambda s: (*s[:-1], heads, 1)) != 1:
        return None
    return source


def _bias_on_axis_1(ctx: LayerContext, flat: Value, bias: Any, heads: int, inputs: tuple[Value, Value],
                    layout: AttentionLayout | None, label: str) -> Value:
    """``[rows, heads]`` + ``bias[i]`` at the rows of positions ``i`` along axis 1 of the layer's input: Keras 3's
    TensorFlow backend's ``bias_add`` on axis 1 (``heads`` long) of the projection ``[batch, *positions, heads, 1]``.
    ``inputs``: that input and ``x``, the tensor projected (the input, or the input folded by ``layout`` for other
    ``attention_axes`` or a rank-4+ query); the bias is laid out over the input's positions and folded as it was."""
    source, x = inputs
    shape = ctx.shape(source)
    if x is source and len(shape) == 3:  # [batch·steps, heads] as [batch, steps, heads]
        y = ctx.reshape(flat, [None, heads, heads], f"{label}/steps")
        y = ctx.binary("AddV2", y, ctx.weight(ReshapedArray(bias, (heads, 1)), f"{label}/bias_on_steps"),
                       label=f"{label}/bias")
        return ctx.reshape(y, [None, heads], f"{label}/flat_again")
    if x is not source and layout is None:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): Keras 3's TensorFlow backend adds its {label} "
                          f"bias (shape [{heads}, 1]) on the projection's axis 1 (the input's axis 1, {heads} long), "
                          "not on the heads as other backends do; lowered where the positions keep their order")
    # [batch, heads (axis 1), *other positions, heads]: bias[i] along axis 1, zeros of the input's sizes beside
    zeros = ctx.unary("ZerosLike", source, label=f"{label}/zeros")
    zeros = ctx.op("Sum", [zeros, ctx.ints([-1], f"{label}/zeros_axis")], {"keep_dims": True, "Tidx": DType.INT32},
                   shape=(*shape[:-1], 1), label=f"{label}/zeros_sum")
    along = np.repeat(np.asarray(ctx.small(bias), np.float32).reshape(heads, *[1] * (len(shape) - 2)), heads, axis=-1)
    laid = ctx.binary("AddV2", zeros, ctx.const(along, f"{label}/bias_on_axis_1"), label=f"{label}/bias_laid_out")
    if x is not source:
        dims = layout.query_dims if label in ("query", "gate") else layout.key_dims
        laid = layout.fold(ctx, laid, dims, f"{label}/bias")
    rows = ctx.reshape(laid, [None, heads], f"{label}/bias_rows")
    return ctx.binary("AddV2", flat, rows, label=f"{label}/bias")


def _project(ctx: LayerContext, x: Value, kernel: Any, bias: Any, heads: int, size: int, steps: int | None,
             label: str, layout: AttentionLayout | None = None) -> Value:
    """An EinsumDense ``abc,cde->abde`` projection as ``[batch, heads, steps, size]`` (unknown ``steps``: read
    from ``x`` at run time; ``layout``: what folded the layer's input into ``x``)."""
    flat = projected_flat(ctx, x, kernel, bias, heads, size, label, layout)
    y = ctx.reshape(flat, [None, steps, heads, size], f"{label}/heads") if steps is not None \
        else unflatten_steps(ctx, flat, x, (heads, size), f"{label}/heads")
    return ctx.transpose(y, [0, 2, 1, 3], f"{label}/heads_first")


def gate_of(ctx: LayerContext, query: Value, kernel: Any, bias: Any, heads: int, size: int,
            layout: AttentionLayout | None = None) -> Value:
    """``use_gate``'s ``sigmoid(query·gate_kernel + gate_bias)`` as ``[batch·T, heads·size]`` (EinsumDense
    ``abc,cde->abde`` with a sigmoid activation; ``query``: the layer's, or folded by ``layout``)."""
    features = int(ctx.shape(query)[-1])
    ctx.check_shape(kernel, [features, heads, size], "gate kernel")
    flat = ctx.reshape(query, [None, features], "gate/flat")
    y = ctx.op("MatMul", [flat, ctx.weight(ReshapedArray(kernel, (features, heads * size)), "gate/kernel")],
               {"transpose_a": False, "transpose_b": False}, shape=(None, heads * size), label="gate/MatMul")
    y = half_step(ctx, y, "gate/MatMul")
    if bias is not None:
        ctx.check_shape(bias, [heads, size], "gate bias")
        source = _keras3_heads_bias_on_steps(ctx, heads, size, "gate")
        if source is not None:
            y = _bias_on_axis_1(ctx, y, bias, heads, (source, query), layout, "gate")
        else:
            y = ctx.op("BiasAdd", [y, ctx.weight(ReshapedArray(bias, (heads * size,)), "gate/bias")],
                       {"data_format": "NHWC"}, shape=y.shape, label="gate/BiasAdd")
        y = half_step(ctx, y, "gate/bias")
    return half_step(ctx, ctx.unary("Sigmoid", y, label="gate/Sigmoid"), "gate/Sigmoid", "unit")


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


#: Keras 3's MultiHeadAttention call keywords for the masks (see :func:`query_value_key_masks`).
MASK_KEYWORDS = ("query_mask", "value_mask", "key_mask")


@lowers("MultiHeadAttention", check=_mha_check, keywords=("query", "value", "key", "attention_mask", *MASK_KEYWORDS))
def multi_head_attention(ctx: LayerContext) -> Value | list[Value]:
    """``softmax(q·kᵀ/√key_dim [masked])·v`` per head, then the output projection."""
    check_call_kwargs(ctx, ("query", "value", "key", "attention_mask", "use_causal_mask", "return_attention_scores",
                            *MASK_KEYWORDS))
    kwargs = ctx.call_kwargs
    query, value, key = query_value_key(ctx)
    if len(ctx.shape(query)) == 3 and len(ctx.shape(key)) == 3 and not fits(ctx.shape(key)[1], ctx.shape(value)[1]):
        raise ctx.error(f"has key and value of different lengths ({ctx.shape(key)[1]} and {ctx.shape(value)[1]})")
    return_scores = bool(kwargs.get("return_attention_scores"))
    # Keras 3 fuses a rank-3 query (no dropout, no returned scores): its dot_product_attention reads axis 1 as the
    # steps and axis 2 as the heads, whatever attention_axes says
    fused = ctx.keras3 and not return_scores and not float(ctx.config.get("dropout") or 0.0) > 0.0 \
        and len(ctx.shape(query)) == 3
    layout = attention_layout(ctx, query, value, key, default=fused)
    query_features = int(ctx.shape(query)[-1])
    heads, key_dim = int(ctx.config["num_heads"]), int(ctx.config["key_dim"])
    value_dim = int(ctx.config.get("value_dim") or key_dim)
    use_bias, use_gate = ctx.config.get("use_bias", True), bool(ctx.config.get("use_gate"))
    weights = projection_weights(ctx, use_bias, use_gate)
    if in_half(ctx):
        _note_half_sums(ctx, layout, (query, value, key), (heads, key_dim, value_dim))
    style = "where" if fused else "where_zero" if ctx.keras3 else \
        "where_uniform" if ctx.config.get("softmax_robust_masking") else "adder"  # tf_keras >= 2.13's option
    rows = query  # the query as the rows of the attended values (folded below unless attending over the heads)
    if layout.heads_attended:
        from .attention_heads import attend_over_heads

        flat, scores_out = attend_over_heads(ctx, layout, (query, value, key), weights, (heads, key_dim, value_dim),
                                             style, return_scores)
    else:
        rows = layout.fold(ctx, query, layout.query_dims, "query_in")  # the gate's rows too (in the folded order)
        value_in, key_in = (layout.on_query_batch(ctx, layout.fold(ctx, x, layout.key_dims, f"{part}_in"), rows,
                                                  f"{part}_in/query_batch") for x, part in ((value, "value"), (key, "key")))
        flat, scores_out = _attend_folded(ctx, layout, (rows, value_in, key_in), weights, (heads, key_dim, value_dim),
                                          style, fused, return_scores)
        if scores_out is not None:
            scores_out = layout.unfold_scores(ctx, scores_out, heads, query, key)
    if use_gate:
        flat = half_step(ctx, ctx.binary("Mul", flat, gate_of(ctx, rows, weights["gate_kernel"], weights.get("gate_bias"),
                                                              heads, value_dim, layout), label="gated"), "gated")
    dims = _output_dims(ctx, query_features)
    width = int(np.prod(dims))
    ok, ob = weights["output_kernel"], weights.get("output_bias")
    ctx.check_shape(ok, [heads, value_dim, *dims], "output kernel")
    y = ctx.op("MatMul", [flat, ctx.weight(ReshapedArray(ok, (heads * value_dim, width)), "output/kernel")],
               {"transpose_a": False, "transpose_b": False}, shape=(None, width), label="output/MatMul")
    y = half_step(ctx, y, "output/MatMul")
    if ob is not None:
        ctx.check_shape(ob, list(dims), "output bias")
        y = half_step(ctx, ctx.op("BiasAdd", [y, ctx.weight(ReshapedArray(ob, (width,)), "output/bias")],
                                  {"data_format": "NHWC"}, shape=y.shape, label="output/BiasAdd"), "output/BiasAdd")
    y = unflatten_steps(ctx, y, query, dims, "output") if layout.dynamic and not layout.folded \
        else layout.unfold_output(ctx, y, dims, query)
    return [y, scores_out] if return_scores else y


def _note_half_sums(ctx: LayerContext, layout: AttentionLayout, qvk: tuple[Value, Value, Value],
                    sizes: tuple[int, int, int]) -> None:
    """Note the lengths of the sums a float16 MultiHeadAttention's TF einsums take, which TF's CPU kernels sum in
    float16 steps, for the bound the float16 notice states (:func:`.float_widths.mha_half_bound`): ``key_dim`` (the
    logits) and the attended key length (the attended values) always; the features and ``heads·value_dim`` (the
    projections) unless Keras 3's rank-3 EinsumDense projections, which Keras 3 computes as matmuls."""
    from .float_widths import note_mha_sums

    heads, key_dim, value_dim = sizes
    key_sizes = (*layout.key_dims, heads)  # (the attention axes may name the heads axis: :mod:`.attention_heads`)
    attended = [key_sizes[a - 1] for a in layout.axes]
    sums: dict[str, int | None] = {"key_dim": key_dim,
                                   "attended": None if None in attended else int(np.prod(attended, dtype=np.int64))}
    if not ctx.keras3 or layout.folded or layout.heads_attended:
        sums["features"] = max(int(ctx.shape(x)[-1]) for x in qvk)
        sums["heads_values"] = heads * value_dim
    note_mha_sums(ctx.graph, ctx.name, sums)


def _attend_folded(ctx: LayerContext, layout: AttentionLayout, qvk: tuple[Value, Value, Value],
                   weights: dict[str, Any], sizes: tuple[int, int, int], style: str, fused: bool,
                   return_scores: bool) -> tuple[Value, Value | None]:
    """The attention of folded ``[batch', steps, features]`` inputs, heads split: the attended heads as
    ``[batch'·T, heads·value_dim]`` and (``return_scores``) the scores ``[batch', heads, T, S]``."""
    (query, value, key), (heads, key_dim, value_dim) = qvk, sizes
    t_q, t_k = layout.query_steps, layout.key_steps
    q = _project(ctx, query, weights["query_kernel"], weights.get("query_bias"), heads, key_dim, t_q, "query", layout)
    k = _project(ctx, key, weights["key_kernel"], weights.get("key_bias"), heads, key_dim, t_k, "key", layout)
    v = _project(ctx, value, weights["value_kernel"], weights.get("value_bias"), heads, value_dim, t_k, "value",
                 layout)
    scale = 1.0 / math.sqrt(float(key_dim))
    scores_shape = (None, heads, t_q, t_k)
    if fused:  # Keras 3's dot_product_attention scales the float16 logits in float32
        logits = half_step(ctx, batch_matmul(ctx, q, k, scores_shape, adj_y=True, label="logits"), "logits")
        scores = ctx.scalar_op("Mul", logits, scale, "scaled_logits")
    else:  # Keras 3's explicit path and tf_keras scale the query (in float16: the scale too)
        scores = half_step(ctx, batch_matmul(ctx, scaled_query(ctx, q, key_dim), k, scores_shape, adj_y=True,
                                             label="logits"), "logits")
    # Keras's masks line up with its scores [B, <other axes>, heads, <query axes>, <key axes>]
    groups = ScoresGroups((*layout.outer_dims, heads), layout.query_attended, layout.key_attended)
    probs = keras_masked_probs(ctx, scores, groups, layout, style)
    attended = half_step(ctx, batch_matmul(ctx, probs, v, (None, heads, t_q, value_dim), label="attended"), "attended")
    attended = ctx.transpose(attended, [0, 2, 1, 3], "steps_first")
    flat = ctx.reshape(attended, [None, heads * value_dim], "output/flat")
    return flat, probs if return_scores else None


def scaled_query(ctx: LayerContext, q: Value, key_dim: int) -> Value:
    """``q · 1/√key_dim`` as Keras's explicit path scales the query: in float16 the scale is a float16 constant
    (tf_keras's ``tf.multiply`` with a Python float, Keras 3's ``ops.cast(..., query.dtype)``)."""
    scale = 1.0 / math.sqrt(float(key_dim))
    if in_half(ctx):
        scale = float(np.float16(scale))
    return half_step(ctx, ctx.scalar_op("Mul", q, scale, "scaled_query"), "scaled_query")


def keras_masked_probs(ctx: LayerContext, scores: Value, groups: ScoresGroups, layout: AttentionLayout,
                       style: str) -> Value:
    """Softmax of ``scores`` (``[.., T, S]``, the elements of Keras's ``[B, *groups.batch, <query axes>, <key
    axes>]``) with Keras's masks lined up as Keras lines them up (:mod:`.attention_masks`)."""
    kwargs = ctx.call_kwargs
    causal = bool(kwargs.get("use_causal_mask"))
    if layout.dynamic and (layout.folded or layout.heads_attended):
        from .attention_masks import folded_runtime_keep

        query, value, _ = query_value_key(ctx)
        if kwargs.get("attention_mask") is not None or any(m is not None for m in query_value_key_masks(ctx)):
            keep = _runtime_keras_keep(ctx, layout, len(layout.axes), causal)
        else:
            keep = folded_runtime_keep(ctx, kwargs.get("attention_mask"), query_value_key_masks(ctx), layout,
                                       (query, value), causal=causal, window=ctx.config.get("sliding_window"))
        return probs_shaped_as_scores(ctx, masked_softmax(ctx, scores, keep, style=style, logsumexp=keep is not None
                                                     and not ctx.keras3 and len(layout.axes) > 1), scores, keep)
    if layout.dynamic:
        keep = _runtime_mha_keep(ctx, layout, style, causal)
        return probs_shaped_as_scores(ctx, masked_softmax(ctx, scores, keep, style=style), scores, keep)
    pieces = mha_mask_pieces(ctx, kwargs.get("attention_mask"), query_value_key_masks(ctx), causal,
                             ctx.config.get("sliding_window"), layout.band_steps)
    keep = keras_keep(ctx, pieces, groups, _expansion_axes(ctx, layout, style, causal_only=causal and len(pieces) == 1))
    if keep is None:  # (several axes: Keras's Softmax is exp(x - logsumexp(x)) here too, see below)
        return masked_softmax(ctx, scores, None, style=style)
    shape = ctx.shape(scores)
    grouped = (None, int(np.prod(groups.batch, dtype=np.int64)), *shape[-2:])
    if shape != grouped:  # the same elements as [B, G, T, S]
        scores = ctx.reshape(scores, list(grouped), "scores/grouped")
    # tf_keras's Softmax over several axes is exp(x - logsumexp(x)) (a fully masked row gives ones). Keras 3's, and
    # tf_keras's without a mask, are that formula too, lowered as a softmax: the same in float32 but where a row is
    # fully masked; in float16 they differ per element (TF: 3.9e-3 at logits of 10, 0.1 at 600), which session 24's
    # review (R2, F3) measured gains nothing end to end (the float16 einsums' error dominates), so kept as it is
    probs = masked_softmax(ctx, scores, keep, style=style, logsumexp=not ctx.keras3 and len(layout.axes) > 1)
    return ctx.reshape(probs, list(shape), "probs/folded") if shape != grouped else probs


def probs_shaped_as_scores(ctx: LayerContext, probs: Value, scores: Value, keep: Value | None) -> Value:
    """``probs`` reshaped to the run-time shape of ``scores`` when a mask sized at run time met them: a mask axis
    longer than the scores' (where the scores have 1) makes Keras 3's Softmax raise, but ``SelectV2`` and the
    two-way broadcast the run-time mask goes through would grow the probabilities instead. The Reshape (same
    element count, so free) fails there rather than hand on probabilities of another shape (returned scores, or
    an output fetched alone, would otherwise come out silently)."""
    if keep is None:
        return probs
    i32 = DType.INT32
    shape = ctx.op("Shape", [scores], {"out_type": i32}, dtype=i32, shape=(len(ctx.shape(scores)),),
                   label="scores_shape")
    return ctx.op("Reshape", [probs, shape], {"Tshape": i32}, shape=ctx.shape(scores), label="probs_as_scores")


def _runtime_mha_keep(ctx: LayerContext, layout: AttentionLayout, style: str, causal: bool) -> Value | None:
    """Keras's mask of a rank-3 attention over lengths known at run time only (:func:`.attention_masks.runtime_keep`),
    the causal and sliding-window bands built from the lengths of the call's query and value."""
    kwargs, window = ctx.call_kwargs, ctx.config.get("sliding_window")
    attention_mask, input_masks = kwargs.get("attention_mask"), query_value_key_masks(ctx)
    pieces = attention_mask is not None or any(m is not None for m in input_masks) or window is not None
    expansion = _expansion_axes(ctx, layout, style, causal_only=False)
    per_head_beside = attention_mask is not None and len(ctx.shape(attention_mask)) == 4 \
        and any(m is not None for m in input_masks)  # (Keras lines the Keras mask's batch up with the heads)
    if pieces and (expansion != 1 or per_head_beside):  # lined up with the scores as Keras lines it up
        return _runtime_keras_keep(ctx, layout, expansion, causal)
    query, value, _ = query_value_key(ctx)
    return runtime_keep(ctx, attention_mask, input_masks,
                        runtime_bands(ctx, query, value, causal=causal, window=window))


def _runtime_keras_keep(ctx: LayerContext, layout: AttentionLayout, expansion: int, causal: bool) -> Value | None:
    """Keras's whole attention mask over sizes known only at run time, lined up with the scores as Keras's
    broadcasting lines it up (:func:`.attention_masks.runtime_keras_keep`), laid out as the folded scores."""
    from .attention_masks import keras_scores_axes, runtime_keras_keep, runtime_mask_pieces

    kwargs, window = ctx.call_kwargs, ctx.config.get("sliding_window")
    query, value, key = query_value_key(ctx)
    bands = runtime_bands(ctx, query, value, causal=causal, window=window)
    pieces = runtime_mask_pieces(ctx, kwargs.get("attention_mask"), query_value_key_masks(ctx), bands)
    return runtime_keras_keep(ctx, pieces, keras_scores_axes(layout, int(ctx.config["num_heads"]), query, key),
                              expansion)


def _expansion_axes(ctx: LayerContext, layout: AttentionLayout, style: str, *, causal_only: bool) -> int:
    """How many attention axes Keras's mask expansion (``-2·n - 1``) counts: Keras 3's fused rank-3 attention
    attends over the default axis but expands a mask by the *configured* ``attention_axes`` (two of them: it raises
    on a rank-3 mask); a causal mask alone goes to its kernel as ``is_causal``, never expanded."""
    axes = ctx.config.get("attention_axes")
    if style != "where" or causal_only or axes is None:
        return len(layout.axes)
    return len(axes) if isinstance(axes, (list, tuple)) else 1


def _mha_keep(ctx: LayerContext, mask: Value | None, causal: bool, t_q: int, t_k: int,
              input_masks: tuple[Value | None, ...] = (), *, window: int | None = None) -> Value | None:
    """The bool mask of kept logits of a rank-3 attention, broadcastable to ``[batch, heads, T, S]``, or None:
    ``attention_mask``, the query's / value's / key's Keras masks (``[B, T, 1]``, ``[B, 1, S]``), the causal mask
    and the sliding window's band, ANDed as Keras does (other ``attention_axes``: :mod:`.attention_masks`)."""
    parts: list[Value] = []
    if mask is not None:
        shape = ctx.shape(mask)
        if len(shape) != 3 or tuple(shape[1:]) != (t_q, t_k):
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): attention_mask of shape {list(shape)}")
        parts.append(attention_mask_value(ctx, mask, input_masks, causal or window is not None))
    for m, axis, label in zip(input_masks, (2, 1, 1), ("query_mask", "value_mask", "key_mask")):
        if m is not None:
            parts.append(ctx.expand_dims(as_bool(ctx, m, label=f"{label}_bool"), axis, f"{label}_steps"))
    if causal:
        parts.append(ctx.const(causal_keep(t_q, t_k), "causal_mask"))
    if window is not None:
        parts.append(ctx.const(sliding_window_keep(t_q, t_k, int(window)), "sliding_window_mask"))
    return all_kept(ctx, parts)


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
    # Keras 3 (``Layer.__call__``) fills ``<name>_mask`` in from the tensor's mask only when the call gives none: a given
    # ``value_mask``/``key_mask`` replaces it (a key_mask counts without a key too). A given ``query_mask`` does so for
    # GroupQueryAttention; MultiHeadAttention.call drops it for the query's own mask (``get_keras_mask(query)``)
    overrides = ((1, "value_mask"), (2, "key_mask"), *(() if ctx.class_name == "MultiHeadAttention" else
                                                       ((0, "query_mask"),)))
    for index, name in overrides:
        if isinstance(kwargs.get(name), Value):
            masks[index] = kwargs.get(name)
    query = query_value_key(ctx)[0]
    if masks[0] is not None and ctx.class_name == "MultiHeadAttention" and tf_keras_casts_query(ctx, query):
        masks[0] = None
    return masks[0], masks[1], masks[2]


def tf_keras_casts_query(ctx: LayerContext, query: Value) -> bool:
    """Whether tf_keras's ``Layer.__call__`` casts the query (its first argument, alone: the value and key are cast
    later, by the projections) to the layer's compute dtype, a new tensor without ``_keras_mask``: MultiHeadAttention
    then reads no query mask, only the value's and key's (session 28, the random bench's ``--policies``: a float32
    MHA on a mixed_float16 RNN's masked result was 0.06..0.46 of the range off, a float64 MHA on a float32 Masking's
    0.47, the padded query rows masked where Keras attends from them)."""
    if ctx.keras3:
        return False
    from .float64_compare import computed_in_float32, holds_float64_exactly
    from .float_widths import is_float64_input, is_half, rounded_from

    query = rounded_from(ctx.graph, query)  # before the walk rounded it to a float16 layer's dtype
    policy = dtype_name(ctx.config.get("dtype")) or "float32"
    computes = "float16" if policy in ("float16", "mixed_float16") else "float64" if policy == "float64" else "float32"
    wide = query.dtype == DType.FLOAT64 or is_float64_input(ctx.graph, query) or \
        computed_in_float32(ctx.graph, query) or holds_float64_exactly(ctx.graph, query)
    held = "float16" if is_half(ctx.graph, query) else "float64" if wide else "float32"
    return held != computes


# -- Attention / AdditiveAttention ---------------------------------------------------------------------------
def _attention_check(config: dict[str, Any]) -> str | None:
    if config.get("score_mode", "dot") not in ("dot", "concat"):
        return f"score_mode={config.get('score_mode')!r}"
    return None


def _qvk(ctx: LayerContext) -> tuple[Value, Value, Value, int | None, int | None]:
    """Query, value and key (the value when not given) and the query's and value's steps (None: unknown)."""
    if len(ctx.inputs) not in (2, 3):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with {len(ctx.inputs)} tensors")
    query, value = ctx.inputs[0], ctx.inputs[1]
    key = ctx.inputs[2] if len(ctx.inputs) == 3 else value
    # no weight depends on the features (AdditiveAttention's scale excepted, checked below): they may be unknown
    q_shape, v_shape, k_shape = (sequence_shape(ctx, t, what, known_features=False)
                                 for t, what in ((query, "query"), (value, "value"), (key, "key")))
    if not fits(q_shape[-1], k_shape[-1]) or not fits(k_shape[1], v_shape[1]):
        raise ctx.error(f"has query {list(q_shape)}, value {list(v_shape)} and key {list(k_shape)} that do not fit")
    return query, value, key, q_shape[1], v_shape[1] if v_shape[1] is not None else k_shape[1]


def _pairwise_tanh_sum(ctx: LayerContext, query: Value, key: Value, t_q: int | None, t_k: int | None,
                       scale: Value | None,
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


#: What Attention and AdditiveAttention subtract from dropped float16 scores (both flavours: float16's largest).
HALF_DROPPED = 65504.0


def _dropped_scores(ctx: LayerContext, scores: Value) -> Value:
    """``scores - 1e9``, or in a float16 layer ``scores - 65504`` rounded to float16 (-inf past -65520): a fully
    masked row's softmax then weighs the steps as Keras's float16 one does (scores differing by 32 or more: not
    uniform; all past -16: NaN), which ``- 1e9`` in float32 (steps of 64) does not. (Partly masked rows: 0 either
    way.)"""
    from .float_widths import computes_in_half, rounded_to_half

    if not computes_in_half(ctx.class_name, ctx.config):
        return ctx.scalar_op("Sub", scores, -LARGE_NEGATIVE, "dropped_scores")
    dropped = ctx.scalar_op("Sub", scores, HALF_DROPPED, "dropped_scores")
    return rounded_to_half(ctx.graph, dropped, f"{ctx.name}/dropped_scores/to_float16")


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
        features = ctx.shape(query)[-1] if ctx.shape(query)[-1] is not None else ctx.shape(key)[-1]
        if additive and features is None:  # (Keras sizes the scale by the features: it cannot build it either)
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): a scale over features of unknown length "
                              f"(query {list(ctx.shape(query))}, key {list(ctx.shape(key))})")
        ctx.check_shape(scale, [int(features)] if additive else [], "scale")
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
    band = None  # the causal mask, when it joins a value mask or the lengths are known at run time only
    if causal and (t_q is None or t_k is None):
        band = runtime_bands(ctx, query, value, causal=True, window=None)[0]
    elif causal and value_mask is not None:
        band = ctx.const(causal_keep(t_q, t_k), "causal_mask")
    if value_mask is not None or band is not None:  # Keras: ``scores - 1e9`` where the value step or causal drops it
        keep = band
        if value_mask is not None:
            keep = ctx.expand_dims(as_bool(ctx, value_mask, label="value_mask_bool"), 1, "value_mask_steps")
            if band is not None:
                keep = ctx.op("LogicalAnd", [keep, band], dtype=DType.BOOL, shape=(None, t_q, t_k),
                              label="mask_and_causal")
        keep = float64_kept_rows(ctx, keep)
        dropped = _dropped_scores(ctx, scores)
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
