"""LinearAttention (opset 27): the linear / gated / delta / gated-delta recurrences, unrolled over a static T.

Per token t, on [B, H_kv, d_k, d_v] states: S <- exp(g_t)·S (gated), v_t <- β_t·(v_t − Sᵀk_t) (delta),
S <- S + k_t ⊗ v_t, o_t = scale · q_tᵀ S. Grouped query heads read their KV head's state: q_t is
viewed as [B, H_kv, group, d_k] and multiplied with S by one BatchMatMulV2. Without a past state
the first step starts from S = 0, so its terms are left out. Everything is float32, as ONNX's own
definition accumulates.
"""
from __future__ import annotations

import math

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from ..mapping import onnx_op

RULES = ("linear", "gated", "delta", "gated_delta")


class _Builder:
    """Shorthands for the ops of one LinearAttention node."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    def heads(self, x: Value, t: int, heads: int, dim: int, label: str) -> list[Value]:
        """[B, T, H*D] -> T values [B, H, D] (one per token)."""
        x = self.ctx.reshape(x, [-1, t, heads, dim], label=f"{label}_4d")
        return self.ctx.multi_op("Unpack", [x], {"num": t, "axis": 1}, t, label=f"{label}_tokens")

    def op(self, op: str, inputs: list[Value], label: str, attrs: dict | None = None) -> Value:
        return self.ctx.op(op, inputs, attrs, label=label)


def _dims(ctx: NodeContext, i: int, what: str) -> tuple:
    shape = ctx.shape(i)
    if shape is None or len(shape) != 3 or shape[1] is None or shape[2] is None:
        raise ctx.error(f"{what} must be [B, T, H*D] with static T and H*D (T is unrolled), got "
                        f"{list(shape) if shape is not None else '?'}")
    return shape


@onnx_op("LinearAttention", since=27)
def linear_attention(ctx: NodeContext) -> list[Value]:
    rule = str(ctx.attr("update_rule", "gated_delta"))
    if rule not in RULES:
        raise ctx.error(f"update_rule {rule!r} is not one of {', '.join(RULES)}")
    hq, hkv = int(ctx.attr("q_num_heads", 0)), int(ctx.attr("kv_num_heads", 0))
    if hq <= 0 or hkv <= 0 or hq % hkv:
        raise ctx.error(f"q_num_heads ({hq}) must be a positive multiple of kv_num_heads ({hkv})")
    gated, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gated != ctx.has_input(4) or delta != ctx.has_input(5):
        raise ctx.error(f"update_rule {rule!r} {'needs' if gated else 'forbids'} decay and "
                        f"{'needs' if delta else 'forbids'} beta")
    qs, ks, vs = _dims(ctx, 0, "query"), _dims(ctx, 1, "key"), _dims(ctx, 2, "value")
    t, dk, dv, group = int(qs[1]), int(qs[2]) // hq, int(vs[2]) // hkv, hq // hkv
    if qs[2] % hq or vs[2] % hkv or ks[2] != hkv * dk or ks[1] != t or vs[1] != t:
        raise ctx.error(f"query {list(qs)}, key {list(ks)} and value {list(vs)} do not split into "
                        f"{hq} query / {hkv} key-value heads of one sequence length")
    scale = float(ctx.attr("scale", 0.0)) or 1.0 / math.sqrt(dk)
    b = _Builder(ctx)
    q = b.heads(ctx.input(0), t, hq, dk, "q")
    k = b.heads(ctx.input(1), t, hkv, dk, "k")
    v = b.heads(ctx.input(2), t, hkv, dv, "v")
    decay = beta = None
    if gated:  # [B, T, H_kv] (per head) or [B, T, H_kv*d_k] (per key dim) -> T x [B, H_kv, 1 or d_k, 1]
        last = int(_dims(ctx, 4, "decay")[2])
        per = 1 if last == hkv else dk
        if last not in (hkv, hkv * dk):
            raise ctx.error(f"decay's last dim {last} is not kv_num_heads ({hkv}) or kv_num_heads*d_k ({hkv * dk})")
        decay = [ctx.expand_dims(b.op("Exp", [g], f"decay{i}"), 3, label=f"decay{i}_col")
                 for i, g in enumerate(b.heads(ctx.input(4), t, hkv, per, "g"))]
    if delta:  # [B, T, H_kv or 1] -> T x [B, H_kv or 1, 1]
        last = int(_dims(ctx, 5, "beta")[2])
        if last not in (hkv, 1):
            raise ctx.error(f"beta's last dim {last} is not kv_num_heads ({hkv}) or 1")
        beta = b.heads(ctx.input(5), t, last, 1, "beta")
    state = ctx.input(3) if ctx.has_input(3) else None
    scale_const = ctx.make_const(np.float32(scale), label="scale")
    outputs = []
    for i in range(t):
        v_t = v[i]
        if state is not None and decay is not None:
            state = b.op("Mul", [state, decay[i]], f"step{i}/decayed")
        if delta:
            if state is not None:
                kept = b.op("Mul", [state, ctx.expand_dims(k[i], 3, label=f"step{i}/k_col")], f"step{i}/weighted")
                retrieved = b.op("Sum", [kept, ctx.ints([2], label=f"step{i}/dk_axis")], f"step{i}/retrieved",
                                 {"keep_dims": False, "Tidx": DType.INT32})
                v_t = b.op("Sub", [v_t, retrieved], f"step{i}/residual")
            v_t = b.op("Mul", [beta[i], v_t], f"step{i}/update")  # type: ignore[index]
        outer = b.op("Mul", [ctx.expand_dims(k[i], 3, label=f"step{i}/k_outer"),
                             ctx.expand_dims(v_t, 2, label=f"step{i}/v_outer")], f"step{i}/outer")
        state = outer if state is None else b.op("AddV2", [state, outer], f"step{i}/state")
        q_t = ctx.reshape(q[i], [-1, hkv, group, dk], label=f"step{i}/q_groups")
        read = b.op("BatchMatMulV2", [q_t, state], f"step{i}/read", {"adj_x": False, "adj_y": False})
        outputs.append(b.op("Mul", [ctx.reshape(read, [-1, hq, dv], label=f"step{i}/read_heads"), scale_const],
                            f"step{i}/output"))
    packed = ctx.op("Pack", outputs, {"N": t, "axis": 1}, label="tokens")
    return [ctx.reshape(packed, [-1, t, hq * dv], label="output"), state]
