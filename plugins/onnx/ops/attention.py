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

from ..context import NodeContext, Tensor
from ..mapping import onnx_op

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
    split = ctx.reshape(ctx.input(i), [-1, seq, heads, hidden // heads], label=f"{name}_heads")
    return ctx.op("Transpose", [split, ctx.ints([0, 2, 1, 3], label=f"{name}_perm")], {"Tperm": DType.INT32},
                  label=f"{name}_heads_first")


def _repeat_heads(ctx: NodeContext, x: Value, heads: int, reps: int, name: str) -> Value:
    """Grouped-query attention: each of the ``heads`` KV heads repeated ``reps`` times in place
    ([h0, h0, h1, h1, ...]); the batch, sequence and head sizes are read at run time."""
    dims = ctx.shape_of(x, label=f"{name}_shape")
    batch = ctx.shape_slice(dims, 0, 1, label=f"{name}_batch")
    rest = ctx.shape_slice(dims, 2, 4, label=f"{name}_rest")
    grown = ctx.expand_dims(x, 2, label=f"{name}_expand")
    target = ctx.concat_shape([batch, [heads, reps], rest], label=f"{name}_target")
    tiled = ctx.op("BroadcastTo", [grown, target], {"Tidx": DType.INT32}, label=f"{name}_tiled")
    merged = ctx.concat_shape([batch, [heads * reps], rest], label=f"{name}_merged_shape")
    return ctx.reshape(tiled, merged, label=f"{name}_repeated")


def _positional(ctx: NodeContext, q_len: int | None, kv_len: int | None, past: int) -> np.ndarray | Value | None:
    """Which keys each query may attend by position alone: ``is_causal`` (bottom-right aligned with a
    cache), the sliding window (``left_window_size``/``right_window_size``) and, with
    ``nonpad_kv_seqlen``, only each batch's first keys (the causal/window offset then being that
    length minus the query length). A [q, kv] numpy array when static, a bool [batch, 1, q|1, kv]
    value with ``nonpad_kv_seqlen``, None when nothing restricts."""
    causal = bool(int(ctx.attr("is_causal", 0)))
    left, right = int(ctx.attr("left_window_size", -1)), int(ctx.attr("right_window_size", -1))
    nonpad = ctx.has_input(6)
    if not (causal or left >= 0 or right >= 0 or nonpad):
        return None
    if q_len is None or kv_len is None:
        raise ctx.error("is_causal, sliding windows and nonpad_kv_seqlen need static query and key lengths")
    diff = np.arange(q_len)[:, None] - np.arange(kv_len)[None, :]  # query position - key position
    if not nonpad:
        diff = diff + past
        allowed = np.ones((q_len, kv_len), bool)
        if causal:
            allowed &= diff >= 0
        if left >= 0:
            allowed &= diff <= left
        if right >= 0:
            allowed &= -diff <= right
        return allowed
    if ctx.has_input(4):
        raise ctx.error("nonpad_kv_seqlen cannot be combined with past_key/past_value")
    lens = ctx.input(6)
    lens = ctx.cast(lens, DType.INT32, label="nonpad_int")
    lens = ctx.op("Reshape", [lens, ctx.ints([-1, 1, 1, 1], label="nonpad_shape")], {"Tshape": DType.INT32},
                  dtype=DType.INT32, label="nonpad_lens")
    keys = ctx.make_const(np.arange(kv_len, dtype=np.int32).reshape(1, 1, 1, kv_len), label="key_positions")
    conds = [ctx.op("Less", [keys, lens], dtype=DType.BOOL, label="not_padding")]
    if causal or left >= 0 or right >= 0:
        offset = ctx.op("Sub", [lens, ctx.int32(q_len, label="q_len")], dtype=DType.INT32,
                        label="offset")
        rel = ctx.op("AddV2", [ctx.make_const(diff.astype(np.int32)[None, None], label="relative"), offset],
                     dtype=DType.INT32, label="distance")
        bounds = []
        if causal:
            bounds.append(("GreaterEqual", 0, "causal"))
        if left >= 0:
            bounds.append(("LessEqual", left, "left_window"))
        if right >= 0:
            bounds.append(("GreaterEqual", -right, "right_window"))
        for op, bound, label in bounds:
            conds.append(ctx.op(op, [rel, ctx.int32(bound, label=f"{label}_bound")],
                                dtype=DType.BOOL, label=label))
    allowed = conds[0]
    for k, cond in enumerate(conds[1:]):
        allowed = ctx.op("LogicalAnd", [allowed, cond], dtype=DType.BOOL, label=f"allowed{k}")
    return allowed


def _mask(ctx: NodeContext, scores: Value, kv_len: int | None, allowed: np.ndarray | Value | None) -> Value:
    """Apply the positional restrictions and attn_mask (bool: keep where True; float: added) to the scores."""
    lowest = ctx.scalar_like(_LOWEST, scores, label="lowest")
    if allowed is not None:
        keep = ctx.make_const(allowed, label="positional") if isinstance(allowed, np.ndarray) else allowed
        scores = ctx.op("SelectV2", [keep, scores, lowest], {"T": scores.dtype}, dtype=scores.dtype,
                        label="positional_mask")
    if not ctx.has_input(3):
        return scores
    mask = ctx.input(3)
    shape = ctx.shape(3)
    if shape is not None and shape[-1] not in (None, 1) and kv_len is not None and shape[-1] != kv_len:
        raise ctx.error(f"an attn_mask over {shape[-1]} keys for {kv_len} keys is not supported")
    if mask.dtype == DType.BOOL:
        return ctx.op("SelectV2", [mask, scores, lowest], {"T": scores.dtype}, dtype=scores.dtype, label="masked")
    return ctx.op("AddV2", [scores, mask], label="masked")


def _zero_dead_rows(ctx: NodeContext, probs: Value, allowed: np.ndarray | Value | None) -> Value:
    """ONNX gives a query row whose keys are all masked zero probabilities (so Y = 0); a softmax over
    scores that are all the lowest float gives a uniform row (Y = mean of V), over all -inf NaN.

    A key is masked when the positional restrictions, a bool mask (False) or a float mask (-inf) say
    so; rows with every key masked are zeroed. Skipped where no row can be (no mask, a causal mask
    alone, constant masks that leave every row a key), so the common paths are unchanged.
    """
    const = ctx.const(3) if ctx.has_input(3) else None
    if isinstance(allowed, np.ndarray) or allowed is None:
        static = np.ones((1, 1), bool) if allowed is None else allowed
        if not ctx.has_input(3):
            if static.any(axis=-1).all():
                return probs
        elif const is not None:
            keeps = const.astype(bool) if const.dtype == np.bool_ else ~np.isneginf(const)
            if (static & keeps).any(axis=-1).all():
                return probs
    live: list[Value] = []
    if allowed is not None:
        live.append(ctx.make_const(allowed, label="positional_live") if isinstance(allowed, np.ndarray) else allowed)
    if ctx.has_input(3):
        mask = ctx.input(3)
        if mask.dtype == DType.BOOL:
            live.append(mask)
        else:
            live.append(ctx.op("NotEqual", [mask, ctx.scalar_like(-np.inf, mask, label="neg_inf")], dtype=DType.BOOL,
                               label="mask_live"))
    keep = live[0] if len(live) == 1 else ctx.op("LogicalAnd", live, dtype=DType.BOOL, label="all_live")
    any_live = ctx.op("Any", [keep, ctx.ints([-1], label="live_axis")], {"keep_dims": True, "Tidx": DType.INT32},
                      dtype=DType.BOOL, label="live_rows")
    zero = ctx.scalar_like(0.0, probs, label="dead_zero")
    return ctx.op("SelectV2", [any_live, probs, zero], {"T": probs.dtype}, dtype=probs.dtype, label="probs_live")


def _same(a: int | None, b: int | None) -> int | None:
    """A dim two inputs share: known only when both say the same."""
    return a if a is not None and a == b else None


def _with_own_shapes(ctx: NodeContext, y: Value, qk: Value, q_len: int | None, kv_len: int | None,
                     num_q: int | None, num_kv: int | None, three_d: bool) -> tuple[Tensor, Tensor]:
    """Y and qk_matmul_output with the shapes the lowering computes (None where a size is dynamic): with symbolic
    key and value sizes onnx 1.23's shape inference gives their last dim as 0, which a core pass took for an empty
    product (Y all zeros)."""
    q_shape, kv_shape, v_shape = ctx.shape(0), ctx.shape(1), ctx.shape(2)
    batch = _same(q_shape[0], kv_shape[0])
    v_head = v_shape[-1] if v_shape is not None else None
    if three_d:
        width = None if v_head is None or not num_kv else num_q * (v_head // num_kv)
        y_shape: tuple = (batch, q_len, width)
    else:
        y_shape = (batch, num_q, q_len, v_head)
    outputs = ctx.node.output
    return (Tensor(outputs[0], value=y, shape=y_shape),
            Tensor(outputs[3] if len(outputs) > 3 else "", value=qk, shape=(batch, num_q, q_len, kv_len)))


@onnx_op("Attention", since=23)
def attention(ctx: NodeContext) -> list:
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
        axis = ctx.int32(2, label="cache_axis")
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
        keys = _repeat_heads(ctx, keys, num_kv, num_q // num_kv, "k_rep")
        values = _repeat_heads(ctx, values, num_kv, num_q // num_kv, "v_rep")
    scores = ctx.op("BatchMatMulV2", [q, keys], {"adj_x": False, "adj_y": True}, label="scores")
    scores = ctx.op("Mul", [scores, ctx.scalar_like(float(scale), scores, label="scale")], label="scaled")
    scaled = scores  # qk_matmul_output_mode=0 gives the scores before the softcap (as onnxruntime does)
    softcap = float(ctx.attr("softcap", 0.0) or 0.0)
    if softcap > 0:
        capped = ctx.op("Tanh", [ctx.op("Mul", [scores, ctx.scalar_like(1.0 / softcap, scores, label="inv_cap")],
                                        label="capped_in")], label="capped")
        scores = ctx.op("Mul", [capped, ctx.scalar_like(softcap, scores, label="cap")], label="softcapped")
    raw = scores
    allowed = _positional(ctx, q_len, kv_len, past or 0)
    biased = _mask(ctx, scores, kv_len, allowed)
    probs = _zero_dead_rows(ctx, ctx.op("Softmax", [biased], label="probs"), allowed)
    y = ctx.op("BatchMatMulV2", [probs, values], {"adj_x": False, "adj_y": False}, label="attend")
    if three_d:
        y = ctx.op("Transpose", [y, ctx.ints([0, 2, 1, 3], label="out_perm")], {"Tperm": DType.INT32},
                   label="seq_first")
        y = ctx.reshape(y, [-1, q_len, num_q * (ctx.shape(2)[-1] // num_kv)], label=None)
    mode = int(ctx.attr("qk_matmul_output_mode", 0))
    qk = {0: scaled, 1: raw, 2: biased, 3: probs}.get(mode)  # onnxruntime's: 1 softcapped, 2 then masked
    if qk is None:
        raise ctx.error(f"qk_matmul_output_mode={mode} is not supported")
    y_out, qk_out = _with_own_shapes(ctx, y, qk, q_len, kv_len, num_q, num_kv, three_d)
    return [y_out, present_k if ctx.has_input(4) else k, present_v if ctx.has_input(4) else v, qk_out]
