"""Casts to float16 rounded as TensorFlow rounds them, in the float32 TF.js holds float16 values in.

TF.js's graph loader reads DT_HALF as float32, so ``Cast(x, float16)`` kept every bit of ``x``, where TF rounds
to float16 (11 significant bits, round to nearest even, ±inf from 65520 on, subnormals below 2^-14): mixed
precision Keras models (``mixed_float16``) cast every layer's input so. The rounding is done in float32 ops,
exact in IEEE float32 (cpu, wasm): normal values by Veltkamp's split (``c = 8193·x`` as ``8192·x + x``, whose
power-of-two product stays exact even if a later pass folds it; ``(x - c) + c``), subnormal ones by adding and
removing 0.75 (whose float32 ulp is float16's smallest subnormal, 2^-24), overflow by a product past float32's
range, and zeros keep ``x``'s sign.

Arithmetic TF computes in float16 (``T=half``: a ``mixed_float16`` model's traced graph) is computed in float32 by
TF.js; each such node's result is rounded the same way (:func:`round_half_result`). TF's CPU kernels compute an
elementwise op, a MatMul/BatchMatMul and a FusedBatchNorm (:data:`ONE_ROUNDING_OPS`) in float32 and round its
result once, so there TF.js gives TF's values; the others (sums, Einsum, Softmax, convolutions, reductions, Sigmoid,
Softplus, Softsign) round in several float16 steps in TF (Eigen's float16 arithmetic; TF's CPU Einsum, Softmax,
DepthwiseConv2D, Sigmoid, Softplus and Softsign measured so, its Conv2D for 0.2% of results), which TF.js's one
rounding does not reproduce: they are named in a warning and in the graph's notes, with the error that can grow from them (:data:`HALF_STEPS_NOTICE`).
"""
from __future__ import annotations

import itertools
import logging
import math
import weakref

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from .graph_edit import const_array

log = logging.getLogger(__name__)

_F32 = DType.FLOAT32
#: float16's largest value is 65504; from 65520 (the tie with 65536) on TF rounds to inf.
HALF_OVERFLOW = 65520.0
HALF_SMALLEST_NORMAL = 2.0 ** -14


def is_cast_to_half(node: Node) -> bool:
    """A ``Cast`` whose result is float16 from another dtype (which TF rounds to float16)."""
    if node.op != "Cast" or not node.outputs or not node.inputs:
        return False
    destination = node.attrs.get("DstT", node.outputs[0].dtype)
    source = node.inputs[0].dtype or node.attrs.get("SrcT")
    return destination == DType.FLOAT16 and source != DType.FLOAT16


def round_cast_to_half(graph: Graph, node: Node, readers: list[tuple[Node, int]], outputs: list[str]) -> Value:
    """Make ``node`` (a Cast to float16) a Cast to float32 followed by TF's rounding to float16; its readers
    (``(node, input index)``) and graph ``outputs`` (keys) read the rounded value instead."""
    cast = node.outputs[0]
    node.attrs["DstT"] = _F32
    cast.dtype = _F32
    prefix = f"{node.name}/half"
    # webgl runs no SelectV2 of rank 5 or more: such values (or of unknown rank) are rounded flat
    flat = cast.shape is None or len(cast.shape) > 4
    x = cast
    if flat:
        minus_one = graph.const(np.asarray([-1], np.int32), name=f"{prefix}/flat_shape")
        x = graph.add_op("Reshape", [cast, minus_one], {"T": _F32, "Tshape": DType.INT32}, name=f"{prefix}/flat",
                         dtype=_F32, shape=(None,))

    def scalar(number: float, label: str) -> Value:
        return graph.const(np.asarray(number, np.float32), name=f"{prefix}/{label}")

    def op(kind: str, inputs: list[Value], label: str, dtype: DType = _F32) -> Value:
        return graph.add_op(kind, inputs, {"T": _F32}, name=f"{prefix}/{label}", dtype=dtype, shape=x.shape)

    # normal float16 values: x rounded to 11 significant bits (Veltkamp's split with 2^13 + 1)
    c = op("AddV2", [op("Mul", [x, scalar(8192.0, "split_scale")], "scaled"), x], "split")
    normal = op("AddV2", [c, op("Sub", [x, c], "split_rest")], "normal")
    # subnormal float16 values: x rounded to a multiple of 2^-24
    offset = scalar(0.75, "subnormal_offset")
    subnormal = op("Sub", [op("AddV2", [x, offset], "subnormal_shifted"), offset], "subnormal")
    magnitude = op("Abs", [x], "abs")
    small = op("Less", [magnitude, scalar(HALF_SMALLEST_NORMAL, "smallest_normal")], "is_subnormal", DType.BOOL)
    rounded = op("SelectV2", [small, subnormal, normal], "rounded")
    huge = op("GreaterEqual", [magnitude, scalar(HALF_OVERFLOW, "overflow")], "overflows", DType.BOOL)
    infinite = op("Mul", [x, scalar(2.0 ** 127, "to_infinity")], "infinite")  # ±inf, keeping the sign
    rounded = op("SelectV2", [huge, infinite, rounded], "in_range")
    zero = op("Equal", [rounded, scalar(0.0, "zero")], "is_zero", DType.BOOL)
    signed_zero = op("Mul", [x, scalar(0.0, "signed_zero_scale")], "signed_zero")  # -0 for a negative x
    result = op("SelectV2", [zero, signed_zero, rounded], "rounded_to_half")
    if flat:
        dims = graph.add_op("Shape", [cast], {"T": _F32, "out_type": DType.INT32}, name=f"{prefix}/dims",
                            dtype=DType.INT32, shape=None if cast.shape is None else (len(cast.shape),))
        result = graph.add_op("Reshape", [result, dims], {"T": _F32, "Tshape": DType.INT32},
                              name=f"{prefix}/unflat", dtype=_F32, shape=cast.shape)
    for reader, i in readers:
        reader.inputs[i] = result
    for key in outputs:
        graph.outputs[key] = result
    return result


#: float16 ops TF's CPU kernels compute in float32 and round once (Eigen's float16 scalar ops convert each
#: operand to float, compute, round the result): TF.js's float32 result rounded once gives TF's value (but where the
#: float32 functions of TF.js and Eigen (exp, tanh...) land on either side of a float16 rounding point).
ONE_ROUNDING_OPS = frozenset({
    "Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "MulNoNan", "BiasAdd", "Neg", "Abs", "Square",
    "Sqrt", "Rsqrt", "Reciprocal", "Inv", "Exp", "Expm1", "Log", "Log1p", "Tanh", "Erf", "Sin", "Cos",
    "Pow",
    # not Sigmoid, Softplus, Softsign: TF computes them in several float16 steps (session 25 h8c, all 63488 finite
    # float16 inputs against TF's float32 kernel rounded once: 14%, 14%, 18% of results 1 to 2 float16 steps off;
    # the ops above 0), so they are named
    # matrix products TF's CPU sums in float32 and rounds once, and its inference batch normalization (float32
    # inside): measured, session 25 h8b, bit for bit the exact result rounded (MatMul K up to 8192); its Einsum sums
    # in float16 steps, so it stays named
    "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "FusedBatchNorm", "FusedBatchNormV2",
    "FusedBatchNormV3"})
#: What the notice claims where TF rounds in several float16 steps: each result a few float16 steps off, and an
#: attention's as the Keras lowering's MultiHeadAttention notice claims (``float_widths.MHA_HALF_BOUNDS``; the
#: traced graph rounds where Keras's ops round and sums its einsums in float32 as the lowering does). Measured
#: (session 25, h8) on H2's tf_keras mixed_float16 attention models with padding masks: 0.027 to 0.11 of the range
#: before the roundings (TF's padded rows: equal weights), 1.1e-4 to 1.2e-3 after (8.7e-3 on one with 32 features);
#: a random-weight mixed_float16 MobileNetV2 (96x96, alpha 0.35): 0.21 of the range before, 0.18 after, the same
#: 0.18 as the Keras lowering (TF's float16 convolutions here run Eigen's, oneDNN's needing AVX-512). Why (session 25,
#: h8b, /work/notes/probe25/h8b): per layer TF's Conv2D gives the exact sum rounded once for 99.8% of results, its
#: DepthwiseConv2D rounds each tap (a few float16 steps); Keras's own mixed_float16 output moves 0.18 of its range
#: for a one-float16-step change of its input (float32 vs float64: 4e-3), and with BatchNormalization statistics
#: from a forward pass both paths land 0.021 off (Keras's own one-step sensitivity 0.022).
HALF_STEPS_NOTICE = (
    "{count} node(s) TF computes in float16 in several rounded steps (its CPU kernels' float16 sums: einsums, "
    "convolutions, softmax, reductions; sigmoid, softplus, softsign) are computed in float32 by TF.js and their results rounded to float16 once: "
    "each lands up to a few float16 steps from TF's (about 1e-3 of its largest value; a float16 Sum, Mean, AvgPool, Cumsum or Prod "
    "as stated for it after this list), and "
    "later ops can amplify that: a softmax over logits of magnitude L changes its weights by about L·1e-3 (an "
    "attention whose logits stay within ±10 gives results within 5e-3 + 3e-4·√n of their largest value, n its "
    "longest float16 sum, as the Keras lowering's float16 notice states), a deep stack compounds them as float16 "
    "itself does (a mixed_float16 MobileNetV2, here as lowered from its Keras config: 0.02 of its output range "
    "with BatchNormalization statistics from data, 0.18 with random weights, as far as Keras's own output moves "
    "when its input moves one float16 step), and past 65504 TF gives ±inf where TF.js may stay finite: {names}")


#: Nodes of an op in :data:`ONE_ROUNDING_OPS` standing for one TF computes in several float16 steps (the
#: BatchMatMulV2 ``lower_einsum`` makes of a float16 ``Einsum``, which TF sums in float16 steps): named all the same.
_SEVERAL_STEPS: weakref.WeakSet[Node] = weakref.WeakSet()


def mark_several_steps(node: Node) -> Node:
    """``node``, made from a float16 op TF computes in several rounded steps: named in the notice whatever its op."""
    _SEVERAL_STEPS.add(node)
    return node


def rounds_once(node: Node) -> bool:
    """Whether TF computes ``node``'s float16 result as its float32 result rounded once (nothing to name)."""
    return node.op in ONE_ROUNDING_OPS and node not in _SEVERAL_STEPS


def computes_in_half(node: Node, dtype: DType | None, exact_ops: frozenset[str]) -> bool:
    """Whether TF computes ``node``'s result in float16 (rounding it), which TF.js computes in float32."""
    return dtype == DType.FLOAT16 and node.op not in exact_ops and node.op != "Cast"


def round_half_result(graph: Graph, node: Node, readers: dict[int, list[tuple[Node, int]]]) -> int:
    """Round ``node``'s float16 results (which TF.js computes in float32) to float16 as TF rounds them; ``readers``:
    the (node, input index) pairs reading each Value (by ``id``), taken before any rounding. The number of results
    rounded (0 where a previous run of the pass rounded them already)."""
    count = 0
    for value in node.outputs:
        if value.dtype != DType.FLOAT16 and not (value.dtype is None and value.index == 0):
            continue
        label = f"{node.name}/to_float16" + (f"{value.index}" if value.index else "")
        uses = [(r, i) for r, i in readers.get(id(value), []) if r.inputs[i] is value]
        if any(r.name == label for r, _ in uses):
            continue  # rounded by an earlier run of the pass
        cast = graph.add_op("Cast", [value], {"SrcT": _F32, "DstT": DType.FLOAT16, "Truncate": False}, name=label,
                            dtype=DType.FLOAT16, shape=value.shape)
        round_cast_to_half(graph, cast.producer, uses, [k for k, v in graph.outputs.items() if v is value])
        count += 1
    return count


#: What a float16 sum TF adds in float16 steps is claimed to be off, where TF.js adds in float32 and rounds once
#: (measured, session 26 h5, /work/notes/probe26/h5/raw.py; err of the largest result, positive rows): TF's CPU
#: reduction helper (size-1 axes dropped, neighbours alike merged) adds the values one by one, bit for bit a float16
#: running sum, where the reduced and kept blocks are [r, k], [k, r, k] or [r, k, r] (a 1 then 0.99 half-steps of
#: it: 0.11 at n = 256, 0.33 at 1024, 0.66 at 4096; 4096 ones sum to 2048), and AvgPool over its window; over the
#: innermost block (and four blocks or more, transposed so) in Eigen's tree, within 0.0144 at any n measured (256 to
#: 32768). Each step rounds by up to 2⁻¹¹ of the partial sum: one by one within e^((n-1)/2048) - 1 of the values'
#: summed magnitude, beside :data:`HALF_SUM_ROUNDING` for the roundings after it. Past :data:`HALF_SUM_RUNNING`
#: values one by one known when converting the sum is refused by name; a count known only at run time is stated so.
HALF_SUM_RUNNING = 2048
HALF_SUM_TREE = 0.02
HALF_SUM_ROUNDING = 1e-3
#: The reductions TF computes in float16 steps whose n and order :func:`half_sum_length` reads. Cumsum is a running
#: sum along its axis, Prod a running product whose rounding compounds the same way (of the product's magnitude):
#: measured 0.495 (cumsum) and 0.213 (prod) off at n = 1024 (session 26 r4, /work/notes/probe26/r4/h4_ops.py).
HALF_REDUCTIONS = frozenset({"Sum", "Mean", "AvgPool", "AvgPool3D", "Cumsum", "Prod"})


def tf_sums_one_by_one(shape: tuple[int | None, ...], axes: list[int]) -> bool:
    """Whether TF's CPU reduction of ``axes`` of ``shape`` may add the values one by one (not in Eigen's tree): its
    helper drops size-1 axes and merges neighbours alike, then reduces [r, k], [k, r, k] and [r, k, r] so and
    transposes four blocks or more to reduce the innermost one. An unknown size may be 1 or more: either counts."""
    unknown = [i for i, d in enumerate(shape) if d is None]
    for ones in itertools.product((False, True), repeat=min(len(unknown), 8)):
        one = {i for i, o in zip(unknown, ones) if o}
        blocks: list[bool] = []
        for i, d in enumerate(shape):
            if d != 1 and i not in one and (not blocks or blocks[-1] != (i in axes)):
                blocks.append(i in axes)
        if blocks in ([True, False], [False, True, False], [True, False, True]):
            return True
    return False


def half_sum_bound(summed: int | None, one_by_one: bool) -> float:
    """The bound claimed on a float16 sum of ``summed`` values in TF's steps against TF.js's float32 one, of the
    values' summed magnitude (``inf`` for a count known at run time, one by one: :func:`half_sum_claim` states it)."""
    running = math.inf if summed is None else HALF_SUM_ROUNDING + math.expm1((summed - 1) / 2048)
    return running if one_by_one else min(running, HALF_SUM_TREE)


def half_sum_refused(summed: int | None, one_by_one: bool) -> bool:
    """Whether no bound is claimed: past :data:`HALF_SUM_RUNNING` values one by one, known when converting."""
    return one_by_one and summed is not None and summed > HALF_SUM_RUNNING


def half_sum_claim(name: str, summed: int | None, one_by_one: bool) -> str:
    """``name`` with its n and bound, as the notices show it; a count known at run time with the bound's formula."""
    if summed is None and one_by_one:
        return (f"{name} (n at run time, one by one: {HALF_SUM_ROUNDING:g} + e^((n-1)/2048) - 1, "
                f"{half_sum_bound(256, True):.2g} at n = 256, {half_sum_bound(1024, True):.2g} at 1024)")
    return f"{name} (n = {'?' if summed is None else summed}{' one by one' if one_by_one else ''}: " \
        f"{half_sum_bound(summed, one_by_one):.2g})"


#: How the notices explain :func:`half_sum_claim`'s figures (after "each result within").
HALF_SUM_TERMS = (
    f"one by one (a window, an axis before the innermost) each result within {HALF_SUM_ROUNDING:g} + "
    "e^((n-1)/2048) - 1 of the summed (averaged) magnitude of its values (measured 0.11 at n = 256, 0.33 at 1024, 0.66 "
    f"at 4096), refused past n = {HALF_SUM_RUNNING} known when converting, stated with n where the count is known only "
    f"at run time; over the innermost axes (Eigen's tree) within {HALF_SUM_TREE:g}")


#: Where those bounds end (session 32, as the Keras lowering's UnitNormalization notice says): near float16's overflow
#: TF's running sum and TF.js's float32 one fall on either side of 65520 (a float16 UnitNormalization over a run-time
#: count of 256 values near 16: Keras 0 where TF.js gives 0.0626, its whole output range).
HALF_SUM_OVERFLOW = ("; these bounds hold while a sum stays below 32768: nearer float16's overflow (65520) either sum "
                     "may be ±inf where the other is finite (an L2 normalization by it then 0 where the other's is up "
                     "to 1)")


def half_sum_length(node: Node) -> tuple[int | None, bool] | None:
    """A Sum/Mean/AvgPool node's values per result (``None``: known at run time) and whether TF adds them one by
    one (:func:`tf_sums_one_by_one`); ``None`` for other ops."""
    if node.op not in HALF_REDUCTIONS or not node.inputs:
        return None
    if node.op.startswith("AvgPool"):
        return int(np.prod(node.attrs.get("ksize", [1]))), True
    x = node.inputs[0]
    if node.op == "Cumsum":  # a scan: one by one along its axis
        axis = const_array(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1].producer is not None else None
        if x.shape is None or axis is None or not x.shape:
            return None, True
        return x.shape[int(np.asarray(axis).reshape(-1)[0]) % len(x.shape)], True
    given = const_array(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1].producer is not None else None
    if x.shape is None or given is None:
        return None, True
    rank = len(x.shape)
    axes = sorted({int(a) % rank for a in np.asarray(given).reshape(-1)}) if rank else []
    sizes = [x.shape[a] for a in axes]
    summed = None if None in sizes else int(np.prod(sizes, dtype=np.int64))
    return summed, node.op == "Prod" or tf_sums_one_by_one(tuple(x.shape), axes)  # (a product's tree: not measured)


def value_readers(graph: Graph) -> dict[int, list[tuple[Node, int]]]:
    """Each Value's (by ``id``) readers as (node, input index) pairs, for :func:`round_half_result`."""
    readers: dict[int, list[tuple[Node, int]]] = {}
    for reader in graph.nodes:
        for i, v in enumerate(reader.inputs):
            readers.setdefault(id(v), []).append((reader, i))
    return readers


def half_sum_problem(node: Node, sums: dict[str, tuple[int | None, bool]]) -> str | None:
    """Why a float16 Sum/Mean/AvgPool ``node`` TF adds one by one cannot be converted (past
    :data:`HALF_SUM_RUNNING` values known when converting), else None, its n noted in ``sums`` for the notice."""
    length = half_sum_length(node)
    if length is None:
        return None
    if half_sum_refused(*length):
        what = "product: TF multiplies" if node.op == "Prod" else "sum: TF adds"
        return (f"float16 {what} {length[0]} float16 values one by one in float16, with no bound on the result "
                f"past {HALF_SUM_RUNNING} of them")
    sums[node.name] = length
    return None


def warn_half_arithmetic(graph: Graph, names: list[str], sums: dict[str, tuple[int | None, bool]] | None = None) -> None:
    """One warning and note per graph (the pass runs again after later rewrites), naming the float16 nodes TF
    computes in several rounded steps (``names``), which TF.js rounds once, and the sums among them with their n
    and bound (``sums``: :func:`half_sum_problem`)."""
    if names and not getattr(graph, "_half_arithmetic_warned", False):
        try:
            graph._half_arithmetic_warned = True  # type: ignore[attr-defined]
        except AttributeError:  # a graph class with slots: warn again rather than never
            pass
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        text = HALF_STEPS_NOTICE.format(count=len(names), names=shown)
        if sums:
            claims = [half_sum_claim(name, *length) for name, length in
                      sorted(sums.items(), key=lambda item: -half_sum_bound(*item[1]))]  # every one, largest first
            text += (f". {len(sums)} of them add up n float16 values where TF rounds each partial sum to float16 and "
                     f"TF.js adds them in float32 and rounds once: {HALF_SUM_TERMS}: "
                     + ", ".join(claims) + HALF_SUM_OVERFLOW)
        log.warning("%s", text)
        graph.notes.append(text)
