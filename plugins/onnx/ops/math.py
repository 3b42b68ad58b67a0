"""Elementwise arithmetic, comparisons, matrix products and reductions."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.ops.special_values import KEPT_SUFFIX
from tfjsconv.passes.batch_matmul_broadcast import mark_broadcast, needs_broadcast

from .. import layout
from ..context import Laid, NodeContext, Tensor
from ..dtypes import ir_dtype
from ..mapping import onnx_op
from . import run_time
from .common import binary, common_layout, norm_axis, reduce, unary
from .double_comparisons import compare_double

_BINARY = {"Add": "AddV2", "Sub": "Sub", "Mul": "Mul", "Div": "RealDiv"}
_COMPARE = {"Equal": "Equal", "Greater": "Greater", "Less": "Less", "GreaterOrEqual": "GreaterEqual",
            "LessOrEqual": "LessEqual", "And": "LogicalAnd", "Or": "LogicalOr", "Xor": "NotEqual"}
_ORDERINGS = frozenset({"Equal", "Greater", "Less", "GreaterEqual", "LessEqual"})
_UNARY = {"Sqrt": "Sqrt", "Exp": "Exp", "Log": "Log", "Neg": "Neg", "Abs": "Abs", "Erf": "Erf", "Floor": "Floor",
          "Ceil": "Ceil", "Reciprocal": "Reciprocal", "Sin": "Sin", "Cos": "Cos", "Sign": "Sign", "Round": "Round",
          "Not": "LogicalNot", "Tan": "Tan", "Asin": "Asin", "Acos": "Acos", "Atan": "Atan", "Sinh": "Sinh",
          "Cosh": "Cosh", "Asinh": "Asinh", "Acosh": "Acosh", "Atanh": "Atanh", "IsNaN": "IsNan"}
_VARIADIC = {"Sum": "AddV2", "Max": "Maximum", "Min": "Minimum", "Mean": "AddV2"}


@onnx_op(*_BINARY)
def arithmetic(ctx: NodeContext) -> Laid:
    """Broadcasting arithmetic. Integer Div becomes an integer RealDiv, which the core pass
    ``truncating_division`` makes truncate as ONNX does (TF.js alone would floor)."""
    return binary(ctx, _BINARY[ctx.op_type])


@onnx_op(*_COMPARE)
def compare(ctx: NodeContext) -> Laid:
    """Broadcasting comparisons; a double one with a constant float32 cannot hold on its float32 bounds."""
    tf_op = _COMPARE[ctx.op_type]
    if tf_op in _ORDERINGS:
        exact = compare_double(ctx, tf_op)
        if exact is not None:
            return exact
    return binary(ctx, tf_op, dtype=DType.BOOL)


@onnx_op(*_UNARY)
def unary_math(ctx: NodeContext) -> Laid:
    return unary(ctx, _UNARY[ctx.op_type])


@onnx_op(*_VARIADIC)
def variadic(ctx: NodeContext) -> Laid | Tensor:
    """Sum/Max/Min/Mean of any number of broadcasting inputs, as a chain of binary ops."""
    indices = [i for i in range(ctx.num_inputs) if ctx.has_input(i)]
    if len(indices) == 1:
        return ctx.tensor(indices[0])
    values, perm = common_layout(ctx, indices)
    tf_op = _VARIADIC[ctx.op_type]
    out = values[0]
    for k, value in enumerate(values[1:], 1):
        out = ctx.op(tf_op, [out, value], label=None if k == len(values) - 1 and ctx.op_type != "Mean" else f"step{k}")
    if ctx.op_type == "Mean":
        out = ctx.op("Mul", [out, ctx.scalar_like(1.0 / len(values), out, label="inv_count")])
    return ctx.laid(out, perm)


@onnx_op("Where", since=9)
def where(ctx: NodeContext) -> Laid:
    values, perm = common_layout(ctx, [0, 1, 2])
    return ctx.laid(ctx.op("SelectV2", values, dtype=values[1].dtype, attrs={"T": values[1].dtype}), perm)


@onnx_op("Pow")
def power(ctx: NodeContext) -> Laid:
    """Square/Identity for the exponents 2 and 1 (exact and fast), else Pow (0.5 too: see below)."""
    exponent = ctx.const(1)
    if ctx.dtype(0) == DType.INT32 and ctx.dtype(1) != DType.INT32:
        return _integer_power(ctx, exponent)
    if exponent is not None and exponent.size == 1:
        e = float(exponent.reshape(-1)[0])
        special = {2.0: "Square", 1.0: None}  # not 0.5 -> Sqrt: sqrt(-Inf) is NaN, onnxruntime's pow(-Inf, 0.5) Inf
        if e in special:
            x, perm = ctx.input_laid(0)
            if e == 2.0 and x.dtype != DType.FLOAT32:  # TF.js-cpu's int32 Square rounds through float32
                return ctx.laid(ctx.op("Mul", [x, x]), perm)
            return ctx.laid(x if special[e] is None else ctx.op(special[e], [x]), perm)
        if ctx.dtype(0) == DType.FLOAT32:
            x, perm = ctx.input_laid(0)
            # TF.js-cpu's Pow deviates only for pow(1, NaN) and pow(±1, ±Inf): never with a finite constant exponent,
            # so it is named as an op --exact_special_values keeps (no guard, no line; webgl's shader is still named)
            label = f"pow{KEPT_SUFFIX}" if np.isfinite(e) else None
            return ctx.laid(ctx.op("Pow", [x, ctx.scalar_like(e, x, label="exponent")], label=label), perm)
    return binary(ctx, "Pow")


def _integer_power(ctx: NodeContext, exponent: np.ndarray | None) -> Laid:
    """Pow(int, float) keeps the base's integer type in ONNX: onnxruntime truncates the power
    (5 ** 1.5 = 11). Computed in float32 and cast back (a truncation); with integral constant
    exponents the exact result is an integer, so it is rounded first against float32 error; 1 and 2
    stay in int32 (identity, x·x), exact beyond float32's 2**24."""
    if exponent is not None and exponent.size == 1 and float(exponent.reshape(-1)[0]) in (1.0, 2.0):
        x, perm = ctx.input_laid(0)
        return ctx.laid(x if float(exponent.reshape(-1)[0]) == 1.0 else ctx.op("Mul", [x, x]), perm)
    values, perm = common_layout(ctx, [0, 1])
    base = ctx.op("Cast", [values[0]], {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False},
                  dtype=DType.FLOAT32, label="base_float")
    out = ctx.op("Pow", [base, values[1]], label="power")
    if exponent is not None and np.all(np.asarray(exponent) == np.round(exponent)):
        out = ctx.op("Round", [out], label="rounded")
    return ctx.laid(ctx.op("Cast", [out], {"SrcT": DType.FLOAT32, "DstT": DType.INT32, "Truncate": False},
                           dtype=DType.INT32), perm)


@onnx_op("Cast")
def cast(ctx: NodeContext) -> Laid:
    from ..dtypes import onnx_elem_to_numpy

    from .bitwise import wrap_to_width

    wanted = onnx_elem_to_numpy(int(ctx.attr("to")))
    target = ir_dtype(wanted)
    if target is None:
        raise ctx.error(f"cannot cast to ONNX type {ctx.attr('to')}, which TF.js does not have")
    source = ctx.tensor(0).dtype
    x, perm = ctx.input_laid(0)
    if target == DType.BOOL and x.dtype != DType.BOOL:  # x != 0: TF.js-wasm's Cast to bool keeps values other than 0 and 1
        return ctx.laid(ctx.op("NotEqual", [x, ctx.scalar_like(0, x, label="zero")], dtype=DType.BOOL), perm)
    if x.dtype != target:
        x = ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": target, "Truncate": False}, dtype=target)
    if np.dtype(wanted) == np.float16 and source is not None and np.dtype(source) != np.float16 \
            and not ctx.half_rounding_dropped():
        # RT6: float16 is held as float32: a Cast to it and back, which the core narrow_ints pass rounds as
        # onnxruntime rounds to float16 (core/passes/half_rounding.py), instead of keeping every float32 bit
        x = ctx.rounded_to_half(x, label="half")
    # An 8/16-bit integer target is held as int32: wrap values outside its range as onnxruntime does
    # (int32 300 -> uint8 44, float 200.0 -> int8 -56).
    if target == DType.INT32 and source is not None and not np.can_cast(np.dtype(source), np.dtype(wanted), "safe"):
        x = wrap_to_width(ctx, x, np.dtype(wanted), label="wrapped")
    return ctx.laid(x, perm)


# -- matrix products ------------------------------------------------------------------------------
def _operand(ctx: NodeContext, i: int, rank: int) -> tuple[Value, bool]:
    """Input ``i`` of a matrix product, and whether it is held with its last two axes swapped.

    A tensor laid out that way (e.g. after an absorbed ONNX Transpose) feeds MatMul's transpose
    flag instead of a Transpose node.
    """
    t = ctx.tensor(i)
    swapped = (*range(rank - 2), rank - 1, rank - 2)
    if rank >= 2 and t.value is not None and t.perm == swapped and ctx.transposes_needed(i, None):
        return t.value, True
    return ctx.input(i), False


@onnx_op("MatMul")
def matmul(ctx: NodeContext) -> Value:
    """MatMul for rank 2 (TF.js's MatMul is 2-D only), BatchMatMulV2 (broadcasting batch dims) above."""
    ra, rb = ctx.rank(0), ctx.rank(1)
    a, adj_a = _operand(ctx, 0, ra)
    b, adj_b = _operand(ctx, 1, rb)
    if ra == 1:
        a = ctx.op("ExpandDims", [a, ctx.int32(0, label="a_axis")], label="a_2d", dtype=a.dtype)
    if rb == 1:
        b = ctx.op("ExpandDims", [b, ctx.int32(-1, label="b_axis")], label="b_2d", dtype=b.dtype)
    label = "matmul" if 1 in (ra, rb) else None
    if max(ra, rb) > 2:
        a, b = _batch_broadcast(ctx, a, b, adj_a, adj_b)
    if max(ra, rb) <= 2:
        out = ctx.op("MatMul", [a, b], {"transpose_a": adj_a, "transpose_b": adj_b}, label=label)
    else:
        out = ctx.op("BatchMatMulV2", [a, b], {"adj_x": adj_a, "adj_y": adj_b}, label=label)
    squeeze = ([-2] if ra == 1 else []) + ([-1] if rb == 1 else [])
    if squeeze:
        out = ctx.op("Squeeze", [out], {"squeeze_dims": squeeze})
    return out


def _batch_broadcast(ctx: NodeContext, a: Value, b: Value, adj_a: bool, adj_b: bool) -> tuple[Value, Value]:
    """Broadcast an operand's batch dims to the result's where TF.js's BatchMatMul would not."""
    sa, sb = ctx.shape(0), ctx.shape(1)
    if sa is None or sb is None:
        return a, b
    sa = list(sa) if len(sa) > 1 else [1, *sa]  # a rank-1 operand is already a [1, k] row here
    sb = list(sb) if len(sb) > 1 else [*sb, 1]
    n = max(len(sa), len(sb)) - 2
    ba, bb = [1] * (n - len(sa) + 2) + sa[:-2], [1] * (n - len(sb) + 2) + sb[:-2]
    full = [x if y == 1 else y if x == 1 else (x if x is not None else y) for x, y in zip(ba, bb)]
    out = []
    for i, (value, batch, other, shape, adj) in enumerate(((a, ba, bb, sa, adj_a), (b, bb, ba, sb, adj_b))):
        if not needs_broadcast(batch, other):  # the core pass's criterion (batch_matmul_broadcast)
            out.append(value)
            continue
        name = "ab"[i]
        if None not in full:
            batch_shape = ctx.ints(full, label=f"{name}_batch")
        else:
            batch_shape = ctx.op("BroadcastArgs", [ctx.run_time_dims(a, 0, -2, label="a_batch_dims"),
                                                   ctx.run_time_dims(b, 0, -2, label="b_batch_dims")],
                                 {"T": DType.INT32}, dtype=DType.INT32, label=f"{name}_batch")
        matrix = shape[-2:][::-1] if adj else shape[-2:]  # as held: a swapped operand is [.., k, m]
        matrix = ctx.ints(list(matrix), label=f"{name}_matrix") if None not in matrix else \
            ctx.run_time_dims(value, -2, label=f"{name}_matrix_dims")
        target = ctx.concat_shape([batch_shape, matrix], label=f"{name}_target")
        if None not in full and 0 not in full:
            out.append(ctx.op("BroadcastTo", [value, target], {"Tidx": DType.INT32}, label=f"{name}_broadcast"))
            continue
        # TF.js's broadcastTo leaves a 1 that should become 0 as it is: add zeros (as batch_matmul_broadcast does)
        zeros = ctx.op("Fill", [target, ctx.scalar_like(0, value, label=f"{name}_zero")],
                       {"T": value.dtype, "index_type": DType.INT32}, dtype=value.dtype, label=f"{name}_zeros")
        out.append(mark_broadcast(ctx.op("AddV2", [value, zeros], label=f"{name}_broadcast")))
    return out[0], out[1]


@onnx_op("Gemm")
def gemm(ctx: NodeContext) -> Value:
    """alpha * A' @ B' + beta * C, with alpha/beta folded into constant B/C and a 1-D C as BiasAdd."""
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    trans_a, trans_b = bool(ctx.attr("transA", 0)), bool(ctx.attr("transB", 0))
    a = ctx.input(0)
    b_const = ctx.const(1)
    if b_const is not None and (alpha != 1.0 or trans_b):  # scale and transpose a constant B in numpy
        if alpha != 1.0:
            b_const = (np.asarray(b_const) * alpha).astype(b_const.dtype)
        if trans_b:
            b_const = b_const.transpose()
        b = ctx.make_const(b_const, label="B")
        alpha, trans_b = 1.0, False
    else:
        b = ctx.input(1)
    has_c = ctx.has_input(2)
    out = ctx.op("MatMul", [a, b], {"transpose_a": trans_a, "transpose_b": trans_b},
                 label="matmul" if has_c or alpha != 1.0 else None)
    if alpha != 1.0:
        out = ctx.op("Mul", [out, ctx.scalar_like(alpha, out, label="alpha")], label="alpha_mul" if has_c else None)
    if not has_c:
        return out
    c = ctx.const(2)
    if c is not None:
        c = (c * beta).astype(c.dtype) if beta != 1.0 else c
        n = ctx.output_shape(0)[1] if ctx.output_shape(0) else None
        if c.ndim <= 2 and c.size > 1 and c.shape[-1] == c.size and (n is None or c.size == n):
            return ctx.op("BiasAdd", [out, ctx.make_const(c.reshape(-1), label="bias")], {"data_format": "NHWC"})
        return ctx.op("AddV2", [out, ctx.make_const(c, label="C")])
    c_value = ctx.input(2)
    if beta != 1.0:
        c_value = ctx.op("Mul", [c_value, ctx.scalar_like(beta, c_value, label="beta")], label="beta_mul")
    return ctx.op("AddV2", [out, c_value])


# -- reductions -----------------------------------------------------------------------------------
_REDUCE = {"ReduceMean": "Mean", "ReduceSum": "Sum", "ReduceMax": "Max", "ReduceMin": "Min", "ReduceProd": "Prod",
           "ReduceL1": "Sum", "ReduceL2": "Sum", "ReduceSumSquare": "Sum", "ReduceLogSum": "Sum",
           "ReduceLogSumExp": "Sum"}
#: What a reduction does to its input first, and to the reduced result.
_BEFORE = {"ReduceL1": "Abs", "ReduceL2": "Square", "ReduceSumSquare": "Square"}
_AFTER = {"ReduceL2": "Sqrt", "ReduceLogSum": "Log"}


def _reduce(ctx: NodeContext, axes: list | None, keepdims: bool) -> Laid:
    """Sum/Mean/Max/… and the composite reductions (L1, L2, sum of squares, log-sum, log-sum-exp)."""
    op = ctx.op_type
    empty = _empty_reduction(ctx, axes, keepdims)
    if empty is not None:
        return empty
    if op in ("ReduceMax", "ReduceMin") and ctx.dtype(0) == DType.BOOL:  # TF.js-wasm's bool Max is wrong
        return reduce(ctx, "Any" if op == "ReduceMax" else "All", axes, keepdims)
    _refuse_integer_float_reduction(ctx)
    if op == "ReduceMean":
        mean = reduce(ctx, "Mean", axes, keepdims)
        return ctx.laid(_mean_of_nothing_is_zero(ctx, mean.value), mean.perm) if _may_reduce_nothing(ctx, axes) else mean
    if op not in _BEFORE and op not in _AFTER and op != "ReduceLogSumExp":
        return reduce(ctx, _REDUCE[op], axes, keepdims)
    rank = ctx.rank(0)
    full_axes = list(range(rank)) if axes is None else sorted({norm_axis(ctx, int(a), rank) for a in axes})
    x, perm = ctx.input_laid(0)
    ir_axes = sorted(layout.ir_axis(perm, a) for a in full_axes)
    out_perm = perm if keepdims else layout.after_removing(perm, rank, full_axes)

    def reduced(value: Value, tf_op: str, keep: bool, label: str) -> Value:
        return ctx.op(tf_op, [value, ctx.ints(ir_axes, label=f"{label}/axes")],
                      {"keep_dims": keep, "Tidx": DType.INT32}, label=label)

    if op == "ReduceLogSumExp":  # max-shifted for stability: m + log(sum(exp(x - m)))
        peak = reduced(x, "Max", True, "peak")  # added back unclipped: see _finite_peak
        shift = _finite_peak(ctx, peak, "peak")
        total = reduced(ctx.op("Exp", [ctx.op("Sub", [x, shift], label="shifted")], label="exp"), "Sum", keepdims, "sum")
        if not keepdims:
            peak = ctx.op("Squeeze", [peak], {"squeeze_dims": ir_axes}, label="peak_flat")
        return ctx.laid(ctx.op("AddV2", [ctx.op("Log", [total], label="log"), peak]), out_perm)
    if op in _BEFORE:
        x = ctx.op(_BEFORE[op], [x], label="before")
    out = reduced(x, "Sum", keepdims, "sum")
    if op in _AFTER:
        out = ctx.op(_AFTER[op], [out])
    return ctx.laid(out, out_perm)


#: Reductions through Sqrt, Log or Exp: TF.js's kernels take float32 only (an int32 input threw at run time).
_FLOAT_ONLY_REDUCTIONS = frozenset({"ReduceL2", "ReduceLogSum", "ReduceLogSumExp"})


def _refuse_integer_float_reduction(ctx: NodeContext) -> None:
    """An integer ReduceL2/LogSum/LogSumExp over values (not over nothing, which gives its identity): TF.js's
    Sqrt/Log/Exp refuse int32, so such a model converted and then threw on every backend (LogSumExp crashed the
    conversion); onnxruntime truncates a float result, which float32 would match only away from whole numbers."""
    dtype = ctx.dtype(0)
    if ctx.op_type in _FLOAT_ONLY_REDUCTIONS and dtype is not None and dtype != DType.BOOL and \
            np.issubdtype(dtype.numpy, np.integer):
        name = np.dtype(dtype.numpy).name
        raise ctx.error(f"{ctx.op_type} of {name} values is not supported: TF.js's Sqrt, Log and Exp take float32 "
                        "only (cast the input to float first)")


def _finite_peak(ctx: NodeContext, peak: Value, label: str) -> Value:
    """The log-sum-exp shift clipped to the finite range: shifting by an infinite max makes ``x - m`` NaN, so
    a row of all -inf (a fully masked one) gave NaN instead of ONNX's -inf. Shifted by ∓max-float, exp gives
    0 resp. inf; NaN rows stay NaN. The unclipped max is what is added back (±inf rows stay ±inf): webgl's
    Log of a summed 0 is about -88, not -inf, so only ``-88 + -inf`` gives a masked row's -inf there.
    Minimum/Maximum, not a SelectV2, which webgl cannot run from rank 5."""
    dtype = peak.dtype.numpy if peak.dtype is not None else np.float32
    top = float(np.finfo(dtype).max) if np.issubdtype(dtype, np.floating) else float(np.finfo(np.float32).max)
    floor = ctx.op("Maximum", [peak, ctx.scalar_like(-top, peak, label=f"{label}_lowest")], label=f"{label}_floor")
    return ctx.op("Minimum", [floor, ctx.scalar_like(top, peak, label=f"{label}_highest")], label=f"{label}_safe")


def _identity(op: str, dtype: DType) -> object | None:
    """What a reduction over nothing gives in ONNX (its identity element), None where left to TF.js."""
    np_dtype = dtype.numpy
    if op in ("ReduceMax", "ReduceMin"):
        high = op == "ReduceMin"
        if dtype == DType.BOOL:
            return high
        if np.issubdtype(np_dtype, np.integer):
            info = np.iinfo(np_dtype)
            return info.max if high else info.min
        return np.inf if high else -np.inf
    if op in ("ReduceLogSum", "ReduceLogSumExp"):  # an integer -inf: onnxruntime 1.32 gives the lowest value
        return np.iinfo(np_dtype).min if np.issubdtype(np_dtype, np.integer) else -np.inf
    # ReduceMean: the spec leaves it undefined, onnxruntime 1.32 gives 0 (float and int), TF NaN
    return {"ReduceProd": 1, "ReduceSum": 0, "ReduceMean": 0, "ReduceL1": 0, "ReduceL2": 0,
            "ReduceSumSquare": 0}.get(op)


def _may_reduce_nothing(ctx: NodeContext, axes: list | None) -> bool:
    """Whether a reduced axis's size is unknown here (so may be 0 at run time), or the input's rank is."""
    shape = ctx.shape(0)
    if shape is None:
        return True
    reduced = range(len(shape)) if axes is None else (norm_axis(ctx, int(a), len(shape)) for a in axes)
    return any(shape[a] is None for a in reduced)


def _mean_of_nothing_is_zero(ctx: NodeContext, mean: Value) -> Value:
    """onnxruntime's mean over an input empty at run time is 0 where TF's (and the core's guard) is NaN:
    selected on the input's element count (an empty input with a non-empty result means an empty reduced axis)."""
    if mean.dtype is None or not np.issubdtype(mean.dtype.numpy, np.floating):
        return mean
    count = ctx.op("Size", [ctx.input(0)], {"out_type": DType.INT32}, dtype=DType.INT32, label="mean_count")
    empty = ctx.op("Equal", [count, ctx.int32(0, label="no_elements")], dtype=DType.BOOL, label="mean_of_nothing")
    return ctx.op("SelectV2", [empty, ctx.scalar_like(0.0, mean, label="mean_zero"), mean], label="onnx_mean")


def _empty_reduction(ctx: NodeContext, axes: list | None, keepdims: bool) -> Laid | Value | None:
    """A reduction over an axis statically of size 0 is its identity element everywhere: TF.js's Max/Min
    give NaN there and wasm's Prod 0. A Const (a Fill of the reduced shape when other dims are unknown)."""
    shape, dtype = ctx.shape(0), ctx.dtype(0)
    if shape is None or dtype is None:
        return None
    rank = len(shape)
    full_axes = list(range(rank)) if axes is None else sorted({norm_axis(ctx, int(a), rank) for a in axes})
    ident = _identity(ctx.op_type, dtype)
    if ident is None or not any(shape[a] == 0 for a in full_axes):
        return None
    out_shape = [1 if a in full_axes else d for a, d in enumerate(shape)] if keepdims else \
        [d for a, d in enumerate(shape) if a not in full_axes]
    value = np.asarray(ident, dtype=dtype.numpy)
    if None not in out_shape:
        return ctx.make_const(np.full(out_shape, value), label="empty_reduction")
    reduced = reduce(ctx, "Sum" if dtype != DType.BOOL else "Any", axes, keepdims)
    dims = ctx.shape_of(reduced.value, label="reduced_shape")
    return ctx.laid(ctx.op("Fill", [dims, ctx.make_const(value, label="identity")],
                           {"index_type": DType.INT32, "T": dtype}, dtype=dtype), reduced.perm)


@onnx_op(*_REDUCE, since=1)
def reduce_axes_attr(ctx: NodeContext) -> Laid:
    axes = ctx.attr("axes")
    return _reduce(ctx, None if axes is None else list(axes), bool(ctx.attr("keepdims", 1)))


@onnx_op("ReduceSum", since=13)
@onnx_op("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
         "ReduceLogSum", "ReduceLogSumExp", since=18)
def reduce_axes_input(ctx: NodeContext) -> Laid | Tensor:
    if ctx.has_input(1) and ctx.const(1) is None and run_time.length(ctx, 1) != 0:
        return _reduce_run_time(ctx, bool(ctx.attr("keepdims", 1)), bool(ctx.attr("noop_with_empty_axes", 0)))
    axes = ctx.const(1).reshape(-1).tolist() if ctx.const(1) is not None else []  # none, or an empty run-time tensor
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            return ctx.tensor(0)
        axes = None
    return _reduce(ctx, axes, bool(ctx.attr("keepdims", 1)))


def _reduce_run_time(ctx: NodeContext, keepdims: bool, noop: bool) -> Laid:
    """A reduction over axes computed at run time: TF.js's reductions read their axes tensor while running.

    Negative axes are wrapped in the graph and, with ``keepdims``, moved to the input's layout (without it
    the result's layout would depend on the axes, so the input is reduced in ONNX's layout). An axes
    tensor of unknown length that turns out empty means every axis (ONNX's default) unless
    ``noop_with_empty_axes``; then TF.js, reducing over no axis, passes the data through, which is ONNX's
    no-op only for the plain reductions (the composite ones would still square/abs/log it: refused).
    Over a statically empty input the result is the reduction's identity, a Fill of the reduced shape.
    """
    op = ctx.op_type
    rank = ctx.rank(0)
    known_length = run_time.length(ctx, 1)
    if noop and known_length is None and op not in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"):
        raise ctx.error("noop_with_empty_axes=1 with axes computed at run time (of unknown length) is not supported "
                        f"for {op}: an empty axes tensor would have to leave the data untouched")
    axes = run_time.axes(ctx, 1, rank)
    if not noop and known_length is None:  # an empty axes tensor: append every axis
        count = ctx.op("Size", [axes], {"out_type": DType.INT32}, dtype=DType.INT32, label="axes_count")
        empty = ctx.op("Cast", [ctx.op("Equal", [count, ctx.int32(0, label="no_axes")], dtype=DType.BOOL,
                                       label="axes_empty")],
                       {"SrcT": DType.BOOL, "DstT": DType.INT32, "Truncate": False}, dtype=DType.INT32,
                       label="axes_empty_int")
        limit = ctx.op("Mul", [empty, ctx.int32(rank, label="rank")], dtype=DType.INT32, label="all_limit")
        every = ctx.op("Range", [ctx.int32(0, label="all_start"), limit, ctx.int32(1, label="all_delta")],
                       {"Tidx": DType.INT32}, dtype=DType.INT32, label="all_axes")
        axes = ctx.concat_shape([axes, every], label="axes_or_all")
    x, perm = ctx.input_laid(0)
    if perm is not None and not keepdims:
        x, perm = ctx.input(0), None
    ir_axes = run_time.to_ir_axes(ctx, axes, perm, rank)

    def reduced(value: Value, tf_op: str, keep: bool, label: str | None) -> Value:
        return ctx.op(tf_op, [value, ir_axes], {"keep_dims": keep, "Tidx": DType.INT32}, label=label)

    dtype = ctx.dtype(0)
    shape = ctx.shape(0)
    if shape is not None and 0 in shape and dtype is not None:
        ident = _identity(op, dtype)
        if ident is not None:  # the reduced shape built from the input's (webgl's reductions crash on empty inputs)
            dims = _reduced_shape(ctx, x, ir_axes, rank, keepdims, known_length)
            value = ctx.make_const(np.asarray(ident, dtype=dtype.numpy), label="identity")
            return ctx.laid(ctx.op("Fill", [dims, value], {"index_type": DType.INT32, "T": dtype}, dtype=dtype), perm)
    if op in ("ReduceMax", "ReduceMin") and dtype == DType.BOOL:
        return ctx.laid(reduced(x, "Any" if op == "ReduceMax" else "All", keepdims, None), perm)
    _refuse_integer_float_reduction(ctx)
    if op == "ReduceLogSumExp":  # max-shifted for stability: m + log(sum(exp(x - m)))
        peak = reduced(x, "Max", True, "peak")  # added back unclipped: see _finite_peak
        shift = _finite_peak(ctx, peak, "peak")
        total = reduced(ctx.op("Exp", [ctx.op("Sub", [x, shift], label="shifted")], label="exp"), "Sum", keepdims, "sum")
        if not keepdims:
            peak = reduced(x, "Max", False, "peak_flat")
        return ctx.laid(ctx.op("AddV2", [ctx.op("Log", [total], label="log"), peak]), perm)
    if op == "ReduceMean":  # the axes are not known here: any of them may be empty at run time
        return ctx.laid(_mean_of_nothing_is_zero(ctx, reduced(x, "Mean", keepdims, None)), perm)
    if op not in _BEFORE and op not in _AFTER:
        return ctx.laid(reduced(x, _REDUCE[op], keepdims, None), perm)
    if op in _BEFORE:
        x = ctx.op(_BEFORE[op], [x], label="before")
    out = reduced(x, "Sum", keepdims, "sum" if op in _AFTER else None)
    if op in _AFTER:
        out = ctx.op(_AFTER[op], [out])
    return ctx.laid(out, perm)


def _reduced_shape(ctx: NodeContext, x: Value, ir_axes: Value, rank: int, keepdims: bool,
                   count: int | None) -> Value:
    """The shape a reduction of ``x`` over run-time ``ir_axes`` gives: the reduced dims become 1s, or are
    left out without ``keepdims`` (picked in order by a TopKV2 on ``rank - position``, which needs the
    number of axes)."""
    reduced_here = run_time.member_mask(ctx, ir_axes, rank, "reduced_axes")
    dims = ctx.shape_of(x, label="input_shape")
    if keepdims:
        return ctx.op("SelectV2", [reduced_here, ctx.ints([1] * rank, label="ones"), dims], {"T": DType.INT32},
                      dtype=DType.INT32, label="reduced_shape")
    if count is None:
        raise ctx.error("a reduction of an empty input without keepdims needs axes of a static length")
    scores = ctx.op("SelectV2", [reduced_here, ctx.make_const(np.zeros(rank, np.float32), label="gone"),
                                 ctx.make_const(np.arange(rank, 0, -1, dtype=np.float32), label="order")],
                    {"T": DType.FLOAT32}, dtype=DType.FLOAT32, label="kept_scores")
    _, kept = ctx.multi_op("TopKV2", [scores, ctx.int32(rank - count, label="kept_count")], {"sorted": True}, 2,
                           dtypes=[DType.FLOAT32, DType.INT32], label="kept")
    return ctx.gather(dims, kept, label="reduced_shape")


# -- einsum -----------------------------------------------------------------------------------------
@onnx_op("Einsum", since=12)
def einsum(ctx: NodeContext) -> Value:
    """Transpose/Reshape/BatchMatMulV2/Sum, by the core's lowering (TF.js's own Einsum has no wasm kernel); three
    or more operands as a chain of two-operand contractions."""
    from tfjsconv.passes.einsum import lower_einsum_chain

    equation = str(ctx.attr("equation"))
    values = [ctx.input(i) for i in range(ctx.num_inputs)]
    result = lower_einsum_chain(ctx, equation, values, [ctx.shape(i) for i in range(ctx.num_inputs)])
    if result is None:
        raise ctx.error(f"einsum {equation!r} cannot be lowered: only operands of known ranks whose repeated "
                        "labels have known sizes and whose shared labels have one size (no broadcast) are supported")
    return result
