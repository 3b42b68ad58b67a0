"""``--exact_special_values``: rewrite ops whose TF.js kernels mishandle NaN/±Inf into ops that give TF's result.

Only for the target backends the contract's ``deviations`` name (``tfjsconv.ops.special_values``) and
only float nodes. Each rewrite keeps TF's exact rule, measured with ``tf.raw_ops`` (TF 2.21, CPU):

* ``Maximum``/``Minimum``: NaN if either side is NaN → ``SelectV2(IsNan(a) ∨ IsNan(b), a + b, op(a, b))``.
* ``Relu6``: NaN stays NaN → ``SelectV2(IsNan(x), x, Relu6(x))``.
* ``Sign``: NaN stays NaN, and wasm's kernel also gives 0 for tiny values (1e-30) → no Sign kernel:
  ``SelectV2(x > 0, 1, SelectV2(x < 0, -1, x - x))`` (``x - x``: 0 for ±0, NaN for NaN).
* ``ClipByValue``: TF computes ``min(max(x, lo), hi)`` with ``max(x, lo) = x < lo ? lo : x`` (so NaN
  stays, a NaN bound is ignored) → two ``SelectV2(Less)``; no clip kernel left.
* ``Pow``: C's ``pow(1, y) = pow(x, ±0) = pow(±1, ±Inf) = 1`` even for NaN, where TF.js cpu (JS
  ``Math.pow``) gives NaN → ``SelectV2(x == 1 ∨ y == 0 ∨ (|x| == 1 ∧ |y| == Inf), 1, Pow)``.
* ``ArgMax``/``ArgMin``: TF's reduction starts at (index 0, lowest/highest float) and takes an element
  only when strictly greater/less: NaN is never taken, nor -Inf/-FLT_MAX (ArgMax), and a row with
  nothing better gives 0 → the op on ``SelectV2(x > lowest, x, -Inf)`` (ArgMin: ``x < highest``, +Inf),
  whose ties TF.js resolves to the first index as TF does.
* ``MaxPool``: TF's window max starts at -FLT_MAX and skips NaN (an all-NaN or all -Inf window is
  -FLT_MAX) → ``MaxPool(SelectV2(x > lowest, x, lowest))``.
* ``Softmax``: a row holding +Inf (or NaN) is NaN there and 0 elsewhere in TF; TF.js makes the whole row
  NaN → ``SelectV2(any(bad, -1), SelectV2(bad, NaN, 0), Softmax(x))``. (TF's own result for a NaN row
  depends on oneDNN's vector lanes; +Inf is exact.)
* ``Where``: NaN is true → ``Where(x != 0)``.
* ``Round`` (cpu, webgl: ``round(-0.5)`` is +0): TF's half to even keeps the sign →
  ``SelectV2(x < 0, -Abs(Round(x)), Round(x))`` (rank ≥ 5 or unknown: over the flattened tensors, for webgl).
* ``Log`` (webgl: its shader's ``log(±0)`` is -88.03 on SwiftShader): ``log(±0) = -Inf`` →
  ``SelectV2(x == 0, -Inf, Log(x))`` (NaN, negatives and the rest keep the kernel's own, right, answer).
* ``Cast`` float → int32: TF (x86-64) gives INT32_MIN for NaN, ±Inf and values outside [-2^31, 2^31), TF.js
  wraps them modulo 2^32 (NaN, ±Inf: 0) → ``SelectV2(-2^31 <= x < 2^31, Cast(x), INT32_MIN)``.
* ``Conv2D``/``_FusedConv2D`` 1×1, stride 1, one channel into one (wasm gives -Inf for NaN): ``x · w`` as a
  ``Mul`` by the scalar weight, then the bias and the activation unfused.
* ``DepthwiseConv2dNative``/``FusedDepthwiseConv2dNative`` with a ``[1, 1, C, 1]`` filter, stride 1 (wasm gives -Inf
  for NaN): ``x · w`` as a ``Mul`` by the per-channel weights, then the bias and the activation unfused (session 30;
  wider windows, strides and multipliers keep NaN on wasm).
* ``_FusedConv2D``, ``_FusedMatMul``, ``FusedDepthwiseConv2dNative`` [BiasAdd, Relu or Relu6] (wasm's fused
  activations turn NaN into 0),
  and the three fused ops [BiasAdd, Sigmoid] (webgl's fused Sigmoid gives 0 for NaN): split into the op with its
  bias only and the activation unfused; ``fuse_ops`` leaves them unfused under the flag
  (``fuse_ops.exactly_fixable_fusions``).

The op kept inside a rewrite is named ``<node>/exact_special_values_kept`` (the guard before an op kept in
place ``<node>/exact_special_values_input``), so it is neither rewritten again nor reported for the deviations
the rewrite fixes (those no rewrite fixes, such as webgl's relu6(-Inf) inside wasm's NaN guard, still are); nodes
the lowerings build exact by construction end in ``/exact_special_values`` and are not reported at all.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..dtypes import DType
from ..interpreter.registry import attr_strings
from ..ir import Graph, Node, Value
from ..ops.backends import NodeFacts
from ..ops.special_values import GUARD_INPUT_SUFFIX, GUARDED_SUFFIX, KEPT_SUFFIX, for_op, sign_blind_rounds
from . import Pass, PassResult
from .flat_form import sign_choices
from .graph_edit import rewrite

FLOATS = frozenset({DType.FLOAT32, DType.FLOAT16, DType.FLOAT64})
LOWEST, HIGHEST = float(np.finfo(np.float32).min), float(np.finfo(np.float32).max)


def _float(node: Node) -> DType | None:
    dtype = node.attrs.get("T") or (node.inputs[0].dtype if node.inputs else None)
    return dtype if dtype in FLOATS else None


class _Builder:
    """Adds the helper nodes of one rewrite, named ``<node>/<label>``."""

    def __init__(self, graph: Graph, node: Node, dtype: DType) -> None:
        self.graph, self.node, self.dtype = graph, node, dtype

    def op(self, op: str, inputs: Sequence[Value], label: str, *, out: DType | None = None,
           attrs: dict[str, Any] | None = None) -> Value:
        attrs = {"T": self.dtype} if attrs is None else attrs
        return self.graph.add_op(op, list(inputs), attrs, name=f"{self.node.name}/{label}", dtype=out or self.dtype)

    def const(self, value: float, label: str) -> Value:
        return self.graph.const(np.asarray(value, self.dtype.numpy), name=f"{self.node.name}/{label}", dtype=self.dtype)

    def is_nan(self, x: Value, label: str) -> Value:
        return self.op("IsNan", [x], label, out=DType.BOOL)

    def either(self, a: Value, b: Value, label: str) -> Value:
        return self.op("LogicalOr", [a, b], label, out=DType.BOOL, attrs={})

    def kept(self) -> Value:
        """The original op on the original inputs, marked as guarded."""
        return self.op(self.node.op, self.node.inputs, KEPT_SUFFIX.lstrip("/"), attrs=dict(self.node.attrs))

    def select(self, cond: Value, then: Value, other: Value) -> None:
        rewrite(self.node, "SelectV2", [cond, then, other], {"T": self.dtype})


def _nan_propagating_pair(b: _Builder) -> None:  # Maximum, Minimum
    x, y = b.node.inputs[:2]
    kept = b.kept()
    b.select(b.either(b.is_nan(x, "x_is_nan"), b.is_nan(y, "y_is_nan"), "any_nan"),
             b.op("AddV2", [x, y], "nan_sum"), kept)


def _nan_kept(b: _Builder) -> None:  # Relu6, and Relu (of a NaN with its sign bit set)
    x = b.node.inputs[0]
    kept = b.kept()
    b.select(b.is_nan(x, "is_nan"), x, kept)


def _sign(b: _Builder) -> None:
    b.select(*sign_choices(b, b.node.inputs[0]))


def _clip(b: _Builder) -> None:
    x, lo, hi = b.node.inputs[:3]
    raised = b.op("SelectV2", [b.op("Less", [x, lo], "below", out=DType.BOOL), lo, x], "raised")
    b.select(b.op("Less", [hi, raised], "above", out=DType.BOOL), hi, raised)


def _pow(b: _Builder) -> None:
    x, y = b.node.inputs[:2]
    kept = b.kept()
    one, inf = b.const(1.0, "one"), b.const(np.inf, "inf")
    unit_to_inf = b.op("LogicalAnd", [b.op("Equal", [b.op("Abs", [x], "abs_base"), one], "unit_base", out=DType.BOOL),
                                      b.op("Equal", [b.op("Abs", [y], "abs_exponent"), inf], "infinite_exponent",
                                           out=DType.BOOL)], "unit_to_inf", out=DType.BOOL, attrs={})
    trivial = b.either(b.op("Equal", [x, one], "base_is_one", out=DType.BOOL),
                       b.op("Equal", [y, b.const(0.0, "zero")], "exponent_is_zero", out=DType.BOOL), "trivial")
    b.select(b.either(trivial, unit_to_inf, "is_one"), one, kept)


def _clean_input(b: _Builder, compare: str, bound: float, replacement: float) -> None:
    """Keep the op in place, on ``SelectV2(compare(x, bound), x, replacement)``."""
    x = b.node.inputs[0]
    ok = b.op(compare, [x, b.const(bound, "bound")], "in_range", out=DType.BOOL)
    b.node.inputs[0] = b.op("SelectV2", [ok, x, b.const(replacement, "replacement")], GUARD_INPUT_SUFFIX.lstrip("/"))


def _argmax(b: _Builder) -> None:
    _clean_input(b, "Greater", LOWEST, -np.inf)


def _argmin(b: _Builder) -> None:
    _clean_input(b, "Less", HIGHEST, np.inf)


def _max_pool(b: _Builder) -> None:
    _clean_input(b, "Greater", LOWEST, LOWEST)


def _softmax(b: _Builder) -> None:
    x = b.node.inputs[0]
    kept = b.kept()
    bad = b.either(b.is_nan(x, "is_nan"), b.op("Equal", [x, b.const(np.inf, "inf")], "is_inf", out=DType.BOOL),
                   "nan_or_inf")
    axis = b.graph.const(np.int32(-1), name=f"{b.node.name}/last_axis", dtype=DType.INT32)
    row_bad = b.op("Any", [bad, axis], "row_has_inf", out=DType.BOOL, attrs={"keep_dims": True, "Tidx": DType.INT32})
    nan = b.op("Sub", [x, x], "nan")  # NaN where bad (Inf - Inf, NaN - NaN): no NaN weight to warn about
    special = b.op("SelectV2", [bad, nan, b.const(0.0, "zero")], "inf_row")
    b.select(row_bad, special, kept)


def _log(b: _Builder) -> None:
    x = b.node.inputs[0]
    kept = b.kept()
    b.select(b.op("Equal", [x, b.const(0.0, "zero")], "is_zero", out=DType.BOOL), b.const(-np.inf, "minus_inf"), kept)


def _one_channel_conv(b: _Builder) -> None:
    """A 1×1 stride-1 convolution of one channel into one is ``x · w`` (one product per element, as in TF); wasm's
    kernel gives -Inf for NaN there. Explicit paddings become a ``Pad`` of zeros first (``0 · w`` is TF's border)."""
    node = b.node
    x, weights = _explicitly_padded(b), node.inputs[1]
    scale = b.op("Reshape", [weights, b.graph.const(np.zeros(0, np.int32), name=f"{node.name}/scalar_shape",
                                                      dtype=DType.INT32)], "scalar_weight",
                 attrs={"T": b.dtype, "Tshape": DType.INT32})
    if node.op == "Conv2D":
        rewrite(node, "Mul", [x, scale], {"T": b.dtype})
        return
    product = b.op("Mul", [x, scale], GUARD_INPUT_SUFFIX.lstrip("/"))
    biased = b.op("AddV2", [product, node.inputs[2]], "biased")
    _activate(b, biased, attr_strings(node, "fused_ops")[1:])


def _fused_depthwise(b: _Builder) -> None:
    """``FusedDepthwiseConv2dNative``: wasm's 1×1 one-output-per-channel kernel, else its fused Relu/Relu6."""
    if _pointwise(b.node):
        _pointwise_depthwise(b)
    else:
        _split_fused_activation(b)


def _pointwise(node: Node) -> bool:
    facts = NodeFacts.of(node)
    return facts.select("pointwise:1") == "true" and facts.select("nonunit:strides") == "false"


def _pointwise_depthwise(b: _Builder) -> None:
    """A 1×1 stride-1 depthwise convolution with one output per channel is ``x · w[0, 0, :, 0]`` (one product per
    element, as in TF); wasm's kernel gives -Inf for NaN there. Then the bias and the activation unfused (fused op)."""
    node = b.node
    if node.attrs.get("data_format", b"NHWC") not in (b"NHWC", "NHWC"):
        return
    x, weights = _explicitly_padded(b), node.inputs[1]
    per_channel = b.op("Reshape", [weights, b.graph.const(np.int32([-1]), name=f"{node.name}/channels_shape",
                                                          dtype=DType.INT32)], "channel_weights",
                       attrs={"T": b.dtype, "Tshape": DType.INT32})
    if node.op == "DepthwiseConv2dNative":
        rewrite(node, "Mul", [x, per_channel], {"T": b.dtype})
        return
    product = b.op("Mul", [x, per_channel], GUARD_INPUT_SUFFIX.lstrip("/"))
    biased = b.op("AddV2", [product, node.inputs[2]], "biased")
    _activate(b, biased, attr_strings(node, "fused_ops")[1:])


def _explicitly_padded(b: _Builder) -> Value:
    """The node's input, with its explicit paddings as a ``Pad`` of zeros (``0 · w`` is TF's border)."""
    node, x = b.node, b.node.inputs[0]
    if not _explicit_padding(node):
        return x
    pads = np.asarray([int(p) for p in node.attrs["explicit_paddings"]], np.int32).reshape(-1, 2)
    return b.op("Pad", [x, b.graph.const(pads, name=f"{node.name}/explicit_paddings", dtype=DType.INT32)],
                "padded", attrs={"T": b.dtype, "Tpaddings": DType.INT32})


def _explicit_padding(node: Node) -> bool:
    padding = node.attrs.get("padding", b"SAME")
    padding = padding.decode() if isinstance(padding, bytes) else str(padding)
    return padding == "EXPLICIT" and any(int(p) for p in node.attrs.get("explicit_paddings", []) or [])


def _fused_conv(b: _Builder) -> None:
    """``_FusedConv2D``: wasm's 1×1 one-channel kernel, else its fused Relu/Relu6 (see the two functions)."""
    facts = NodeFacts.of(b.node)
    if facts.select("shape:1") == "1,1,1,1" and facts.select("nonunit:strides") == "false":
        _one_channel_conv(b)
    else:
        _split_fused_activation(b)


def _split_fused_activation(b: _Builder) -> None:
    """``_FusedConv2D``/``_FusedMatMul``/``FusedDepthwiseConv2dNative`` [BiasAdd, activation] → the op with the bias
    only, then the activation unfused (Relu/Relu6 guarded as above; Prelu keeps its alpha, LeakyRelu its slope);
    ``fuse_ops`` leaves the split op alone (its name is the guard's) and, under the flag, fuses none of these."""
    node = b.node
    attrs = dict(node.attrs, fused_ops=["BiasAdd"], num_args=1)
    biased = b.graph.add_op(node.op, list(node.inputs[:3]), attrs, name=f"{node.name}{GUARD_INPUT_SUFFIX}",
                            dtype=b.dtype)
    _activate(b, biased, attr_strings(node, "fused_ops")[1:])


def _activate(b: _Builder, biased: Value, activations: list[str]) -> None:
    """The node becomes its fused activation (if any) applied unfused to ``biased``."""
    node = b.node
    activation = activations[-1] if activations else "Identity"
    if activation in ("Relu", "Relu6"):  # wasm's unfused ones drop a (-)NaN too
        kept = b.op(activation, [biased], KEPT_SUFFIX.lstrip("/"))
        b.select(b.is_nan(biased, "is_nan"), biased, kept)
    elif activation == "Prelu":
        rewrite(node, "Prelu", [biased, node.inputs[3]], {"T": b.dtype})
    elif activation == "LeakyRelu":
        rewrite(node, "LeakyRelu", [biased], {"T": b.dtype, "alpha": float(node.attrs.get("leakyrelu_alpha", 0.2))})
    else:
        rewrite(node, activation, [biased], {"T": b.dtype})


def _cast_to_int32(b: _Builder) -> None:
    """TF's float → int32 cast gives INT32_MIN for NaN, ±Inf and anything outside [-2^31, 2^31) (x86-64's
    conversion); TF.js wraps modulo 2^32 and gives 0 for NaN/±Inf."""
    node = b.node
    x = node.inputs[0]
    kept = b.graph.add_op("Cast", [x], dict(node.attrs), name=f"{node.name}{KEPT_SUFFIX}", dtype=DType.INT32)
    low = b.op("GreaterEqual", [x, b.const(-2.0**31, "int32_min")], "not_below", out=DType.BOOL)
    high = b.op("Less", [x, b.const(2.0**31, "two_to_31")], "below_two_to_31", out=DType.BOOL)
    in_range = b.op("LogicalAnd", [low, high], "in_range", out=DType.BOOL, attrs={})  # NaN: false
    int32_min = b.graph.const(np.int32(-2**31), name=f"{node.name}/int32_min_result", dtype=DType.INT32)
    rewrite(node, "SelectV2", [in_range, kept, int32_min], {"T": DType.INT32})


def _avg_pool(b: _Builder) -> None:
    """TF's window mean is NaN for a window holding NaN or +Inf beside -Inf, ±Inf for one holding a single kind of
    infinity; wasm's gives a number or another infinity there. The pool runs on the finite values (the others as 0,
    marked guarded), and three pools of 0/1 masks say which windows hold NaN, +Inf or -Inf."""
    node = b.node
    x, attrs = node.inputs[0], dict(node.attrs)
    zero, inf = b.const(0.0, "zero"), b.const(np.inf, "inf")
    finite = b.op("Equal", [b.op("Sub", [x, x], "x_minus_x"), zero], "is_finite", out=DType.BOOL)
    kept = b.op("AvgPool", [b.op("SelectV2", [finite, x, zero], GUARD_INPUT_SUFFIX.lstrip("/"))],
                KEPT_SUFFIX.lstrip("/"), attrs=attrs)

    def held(mask: Value, label: str) -> Value:
        flag = b.op("Cast", [mask], f"{label}{GUARD_INPUT_SUFFIX}",
                    attrs={"SrcT": DType.BOOL, "DstT": b.dtype, "Truncate": False})
        share = b.op("AvgPool", [flag], f"{label}_share", attrs=attrs)
        return b.op("Greater", [share, zero], f"{label}_in_window", out=DType.BOOL)

    nan = held(b.is_nan(x, "is_nan"), "nan")
    positive = held(b.op("Equal", [x, inf], "is_pos_inf", out=DType.BOOL), "pos_inf")
    negative = held(b.op("Equal", [x, b.const(-np.inf, "minus_inf")], "is_neg_inf", out=DType.BOOL), "neg_inf")
    both = b.op("LogicalAnd", [positive, negative], "both_inf", out=DType.BOOL, attrs={})
    infinite = b.op("SelectV2", [positive, inf, b.op("SelectV2", [negative, b.const(-np.inf, "minus_inf_result"), kept],
                                                     "neg_inf_or_mean")], "inf_or_mean")
    b.select(b.either(nan, both, "undefined"), b.const(np.nan, "nan_result"), infinite)


def _round(b: _Builder) -> None:
    """TF's ``Round`` keeps the sign (``round(-0.5)`` is -0), TF.js's cpu and webgl give +0 there. A negative ``x``
    rounds to a value <= 0, so ``-|Round(x)|`` is ``Round(x)`` with -0 for 0; of rank 5 or more, or an unknown rank,
    the select runs over the flattened tensors (webgl's select stops at rank 4), reshaped back."""
    x = b.node.inputs[0]
    kept = b.kept()
    signed = b.op("Neg", [b.op("Abs", [kept], "magnitude")], "negative_rounded")
    zero = b.const(0.0, "zero")
    if x.shape is not None and len(x.shape) <= 4:
        b.select(b.op("Less", [x, zero], "negative", out=DType.BOOL), signed, kept)
        return
    to_flat = b.graph.const(np.int32([-1]), name=f"{b.node.name}/flat", dtype=DType.INT32)
    dims = b.op("Shape", [x], "x_shape", out=DType.INT32, attrs={"T": b.dtype, "out_type": DType.INT32})

    def flat(value: Value, label: str) -> Value:
        return b.op("Reshape", [value, to_flat], f"{label}_flat", attrs={"T": b.dtype, "Tshape": DType.INT32})

    x_flat = flat(x, "x")
    negative = b.op("Less", [x_flat, zero], "negative", out=DType.BOOL)
    selected = b.op("SelectV2", [negative, flat(signed, "negative_rounded"), flat(kept, "rounded")], "selected")
    rewrite(b.node, "Reshape", [selected, dims], {"T": b.dtype, "Tshape": DType.INT32})


def _where(b: _Builder) -> None:
    x = b.node.inputs[0]
    b.node.inputs[0] = b.op("NotEqual", [x, b.const(0.0, "zero")], "non_zero", out=DType.BOOL)
    b.node.attrs["T"] = DType.BOOL


REWRITES = {"Maximum": _nan_propagating_pair, "Minimum": _nan_propagating_pair, "Relu6": _nan_kept, "Relu": _nan_kept,
            "Sign": _sign, "ClipByValue": _clip, "Pow": _pow, "ArgMax": _argmax, "ArgMin": _argmin,
            "MaxPool": _max_pool, "AvgPool": _avg_pool, "Softmax": _softmax, "Where": _where, "Log": _log,
            "_FusedConv2D": _fused_conv, "_FusedMatMul": _split_fused_activation, "Conv2D": _one_channel_conv,
            "FusedDepthwiseConv2dNative": _fused_depthwise, "DepthwiseConv2dNative": _pointwise_depthwise,
            "Cast": _cast_to_int32, "Round": _round}


def _guarded(node: Node) -> bool:
    return node.name.endswith((GUARDED_SUFFIX, KEPT_SUFFIX)) or (
        bool(node.inputs) and node.inputs[0].producer.name.endswith(GUARD_INPUT_SUFFIX))


class ExactSpecialValues(Pass):
    """Ops the contract's ``deviations`` mark exact, on the targeted backends that deviate, rewritten."""

    name = "exact_special_values"
    level = 0
    # after the TF rewrites (NCHW pools are NHWC by now), before fusion and PReLU matching
    after = ("batchnorm_global", "pad_rank")

    def __init__(self, backends: Sequence[str] = ()) -> None:
        self.backends = tuple(backends)

    def enabled(self, options: object) -> bool:
        return bool(getattr(options, "exact_special_values", False))

    def configured(self, options: object) -> Pass:
        return ExactSpecialValues(getattr(options, "target_backends", None) or ("cpu", "wasm", "webgl"))

    def run(self, graph: Graph) -> PassResult:
        count = 0
        blind = sign_blind_rounds(graph) if any(n.op == "Round" for n in graph.nodes) else set()
        for node in list(graph.nodes):
            rewrite_ = REWRITES.get(node.op)
            if rewrite_ is None or _guarded(node) or node.name in blind:  # blind: no consumer shows its -0
                continue
            dtype = _float(node)
            if dtype is None or not any(d.exact and d.matches(NodeFacts.of(node)) for d in for_op(node.op, self.backends)):
                continue
            if node.op in ("MaxPool", "AvgPool") and node.attrs.get("data_format", b"NHWC") not in (b"NHWC", "NHWC"):
                continue
            rewrite_(_Builder(graph, node, dtype))
            count += 1
        return PassResult(count)
