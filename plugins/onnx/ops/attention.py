"""ONNX ``Attention`` (opset 23+): scaled dot-product attention as BatchMatMulV2 + Softmax.

``torch.onnx.export(..., dynamo=True, opset_version=23)`` emits one ``Attention`` node per
``F.scaled_dot_product_attention`` call (transformers' "sdpa" attention). TF.js has no fused kernel,
so it is spelled out: ``softmax(Q·Kᵀ·scale [softcap] [+ mask]) · V``, with Kᵀ through the
product's ``adj_y`` flag, a boolean or causal mask as ``SelectV2`` against the lowest float (a
masked score then has probability exactly 0; a row with every key masked is zeroed, as the spec
says), grouped-query heads repeated by ``BroadcastTo``.
"""
from __future__ import annotations

import math

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from ..mapping import onnx_op
from .common import SLICE_ATTRS

_LOWEST = float(np.finfo(np.float32).min)


def _static(ctx: NodeContext, dims: tuple | None, what: str) -> tuple[int, ...]:
    if dims is None or any(d is None for d in dims):
        raise ctx.error(f"{what} must have a static shape here, got {list(dims) if dims else '?'}")
    return tuple(int(d) for d in dims)


def _heads_first(ctx: NodeContext, i: int, heads: int | None, name: str) -> Value:
    """Input ``i`` as [batch, heads, seq, head_size]: 4-D as is, 3-D [batch, seq, heads * size] split."""
    if ctx.rank(i) == 4:
        return ctx.input(i)
    if not heads:
        raise ctx.error("3-D Q/K/V need the q_num_heads and kv_num_heads attributes")
    _, seq, hidden = ctx.shape(i)
    if seq is None or hidden is None:
        raise ctx.error("3-D Q/K/V need a static sequence length and hidden size")
    split = ctx.op("Reshape", [ctx.input(i), ctx.ints([-1, seq, heads, hidden // heads], label=f"{name}_heads_shape")],
                   {"Tshape": DType.INT32}, label=f"{name}_heads")
    return ctx.op("Transpose", [split, ctx.ints([0, 2, 1, 3], label=f"{name}_perm")], {"Tperm": DType.INT32},
                  label=f"{name}_heads_first")


def _repeat_heads(ctx: NodeContext, x: Value, reps: int, name: str) -> Value:
    """Grouped-query attention: each KV head repeated ``reps`` times in place ([h0, h0, h1, h1, ...])."""
    b, h, s, d = x.shape if x.shape is not None else (None,) * 4
    if None in (h, s, d):
        raise ctx.error("grouped-query attention needs static head, sequence and head sizes")
    grown = ctx.op("ExpandDims", [x, ctx.make_const(np.int32(2), label=f"{name}_axis")], label=f"{name}_expand")
    batch = ctx.op("StridedSlice", [ctx.op("Shape", [x], {"out_type": DType.INT32}, dtype=DType.INT32,
                                           label=f"{name}_shape"),
                                    ctx.ints([0], label=f"{name}_b0"), ctx.ints([1], label=f"{name}_b1"),
                                    ctx.ints([1], label=f"{name}_b2")],
                   SLICE_ATTRS, dtype=DType.INT32, label=f"{name}_batch")
    target = ctx.op("ConcatV2", [batch, ctx.ints([h, reps, s, d], label=f"{name}_rest"),
                                 ctx.make_const(np.int32(0), label=f"{name}_cat_axis")],
                    {"N": 2, "Tidx": DType.INT32}, dtype=DType.INT32, label=f"{name}_target")
    tiled = ctx.op("BroadcastTo", [grown, target], {"Tidx": DType.INT32}, label=f"{name}_tiled")
    return ctx.op("Reshape", [tiled, ctx.ints([-1, h * reps, s, d], label=f"{name}_merged_shape")],
                  {"Tshape": DType.INT32}, label=f"{name}_repeated")


def _mask(ctx: NodeContext, scores: Value, q_len: int | None, kv_len: int | None, past: int) -> Value:
    """Apply attn_mask (bool: keep where True; float: added) and is_causal to the scores."""
    lowest = ctx.scalar_like(_LOWEST, scores, label="lowest")
    if int(ctx.attr("is_causal", 0)):
        if q_len is None or kv_len is None:
            raise ctx.error("is_causal needs static query and key lengths")
        allowed = np.arange(kv_len)[None, :] <= np.arange(q_len)[:, None] + past  # bottom-right with a cache
        scores = ctx.op("SelectV2", [ctx.make_const(allowed, label="causal"), scores, lowest], {"T": scores.dtype},
                        dtype=scores.dtype, label="causal_mask")
    if not ctx.has_input(3):
        return scores
    mask = ctx.input(3)
    shape = ctx.shape(3)
    if shape is not None and shape[-1] not in (None, 1) and kv_len is not None and shape[-1] != kv_len:
        raise ctx.error(f"an attn_mask over {shape[-1]} keys for {kv_len} keys is not supported")
    if mask.dtype == DType.BOOL:
        return ctx.op("SelectV2", [mask, scores, lowest], {"T": scores.dtype}, dtype=scores.dtype, label="masked")
    return ctx.op("AddV2", [scores, mask], label="masked")


def _zero_dead_rows(ctx: NodeContext, probs: Value, q_len: int | None, kv_len: int | None, past: int) -> Value:
    """ONNX gives a query row whose keys are all masked zero probabilities (so Y = 0); a softmax over
    scores that are all the lowest float gives a uniform row (Y = mean of V), over all -inf NaN.

    A key is masked when the causal mask, a bool mask (False) or a float mask (-inf) says so; rows with
    every key masked are zeroed. Skipped where no row can be (no mask, a causal mask alone, a
    constant mask that leaves every row a key), so the common paths are unchanged.
    """
    masked: list[Value] = []
    allowed = None
    if int(ctx.attr("is_causal", 0)) and q_len is not None and kv_len is not None:
        allowed = np.arange(kv_len)[None, :] <= np.arange(q_len)[:, None] + past
    if ctx.has_input(3):
        const = ctx.const(3)
        if const is not None:
            blocked = ~const.astype(bool) if const.dtype == np.bool_ else np.isneginf(const)
            if allowed is not None:
                blocked = blocked | ~allowed
            if not blocked.all(axis=-1).any():
                return probs
        mask = ctx.input(3)
        if mask.dtype == DType.BOOL:
            masked.append(ctx.op("LogicalNot", [mask], dtype=DType.BOOL, label="blocked"))
        else:
            masked.append(ctx.op("Equal", [mask, ctx.scalar_like(-np.inf, mask, label="neg_inf")], dtype=DType.BOOL,
                                 label="blocked"))
    if not masked:
        return probs
    if allowed is not None:
        masked.append(ctx.make_const(~allowed, label="causal_blocked"))
    blocked = masked[0] if len(masked) == 1 else ctx.op("LogicalOr", masked, dtype=DType.BOOL, label="all_blocked")
    dead = ctx.op("All", [blocked, ctx.ints([-1], label="dead_axis")], {"keep_dims": True, "Tidx": DType.INT32},
                  dtype=DType.BOOL, label="dead_rows")
    zero = ctx.scalar_like(0.0, probs, label="dead_zero")
    return ctx.op("SelectV2", [dead, zero, probs], {"T": probs.dtype}, dtype=probs.dtype, label="probs_live")


@onnx_op("Attention", since=23)
def attention(ctx: NodeContext) -> list:
    if ctx.has_input(6):
        raise ctx.error("nonpad_kv_seqlen is not supported")
    if ctx.attr("left_window_size", -1) != -1 or ctx.attr("right_window_size", -1) != -1:
        raise ctx.error("sliding-window attention is not supported")
    if ctx.has_input(4) != ctx.has_input(5):
        raise ctx.error("past_key and past_value must be given together")
    three_d = ctx.rank(0) == 3
    q_heads, kv_heads = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
    q = _heads_first(ctx, 0, q_heads, "q")
    k = _heads_first(ctx, 1, kv_heads, "k")
    v = _heads_first(ctx, 2, kv_heads, "v")
    past = 0
    present_k, present_v = k, v
    if ctx.has_input(4):
        past_shape = ctx.shape(4)
        past = None if past_shape is None else past_shape[2]
        axis = ctx.make_const(np.int32(2), label="cache_axis")
        present_k = ctx.op("ConcatV2", [ctx.input(4), k, axis], {"N": 2, "Tidx": DType.INT32}, label="present_key")
        present_v = ctx.op("ConcatV2", [ctx.input(5), v, axis], {"N": 2, "Tidx": DType.INT32}, label="present_value")
    q_shape = ctx.shape(0)
    head_size = q_shape[-1] // q_heads if three_d else q_shape[-1]
    q_len = q_shape[1] if three_d else q_shape[2]
    kv_shape = ctx.shape(1)
    kv_len = kv_shape[1] if three_d else kv_shape[2]
    if kv_len is not None and ctx.has_input(4):
        kv_len = None if past is None else kv_len + past
    scale = ctx.attr("scale")
    if scale is None:
        if head_size is None:
            raise ctx.error("the head size must be static (or give the scale attribute)")
        scale = 1.0 / math.sqrt(head_size)
    num_q, num_kv = (q_heads, kv_heads) if three_d else (q_shape[1], kv_shape[1])
    keys, values = present_k, present_v
    if num_q and num_kv and num_q != num_kv:
        if num_q % num_kv:
            raise ctx.error(f"{num_q} query heads are not a multiple of {num_kv} key/value heads")
        keys = _repeat_heads(ctx, keys, num_q // num_kv, "k_rep")
        values = _repeat_heads(ctx, values, num_q // num_kv, "v_rep")
    scores = ctx.op("BatchMatMulV2", [q, keys], {"adj_x": False, "adj_y": True}, label="scores")
    scores = ctx.op("Mul", [scores, ctx.scalar_like(float(scale), scores, label="scale")], label="scaled")
    softcap = float(ctx.attr("softcap", 0.0) or 0.0)
    if softcap > 0:
        capped = ctx.op("Tanh", [ctx.op("Mul", [scores, ctx.scalar_like(1.0 / softcap, scores, label="inv_cap")],
                                        label="capped_in")], label="capped")
        scores = ctx.op("Mul", [capped, ctx.scalar_like(softcap, scores, label="cap")], label="softcapped")
    raw = scores
    biased = _mask(ctx, scores, q_len, kv_len, past or 0)
    probs = _zero_dead_rows(ctx, ctx.op("Softmax", [biased], label="probs"), q_len, kv_len, past or 0)
    y = ctx.op("BatchMatMulV2", [probs, values], {"adj_x": False, "adj_y": False}, label="attend")
    if three_d:
        y = ctx.op("Transpose", [y, ctx.ints([0, 2, 1, 3], label="out_perm")], {"Tperm": DType.INT32},
                   label="seq_first")
        y = ctx.op("Reshape", [y, ctx.ints([-1, q_len, num_q * (ctx.shape(2)[-1] // num_kv)], label="out_shape")],
                   {"Tshape": DType.INT32})
    mode = int(ctx.attr("qk_matmul_output_mode", 0))
    qk = {0: raw, 1: raw, 2: biased, 3: probs}.get(mode)
    if qk is None:
        raise ctx.error(f"qk_matmul_output_mode={mode} is not supported")
    return [y, present_k if ctx.has_input(4) else k, present_v if ctx.has_input(4) else v, qk]
