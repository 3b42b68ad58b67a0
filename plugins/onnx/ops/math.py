"""Elementwise arithmetic, comparisons, matrix products and reductions."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext, Tensor
from ..dtypes import ir_dtype
from ..mapping import onnx_op
from .common import binary, common_layout, norm_axis, reduce, unary

_BINARY = {"Add": "AddV2", "Sub": "Sub", "Mul": "Mul", "Div": "RealDiv"}
_COMPARE = {"Equal": "Equal", "Greater": "Greater", "Less": "Less", "GreaterOrEqual": "GreaterEqual",
            "LessOrEqual": "LessEqual", "And": "LogicalAnd", "Or": "LogicalOr", "Xor": "NotEqual"}
_UNARY = {"Sqrt": "Sqrt", "Exp": "Exp", "Log": "Log", "Neg": "Neg", "Abs": "Abs", "Erf": "Erf", "Floor": "Floor",
          "Ceil": "Ceil", "Reciprocal": "Reciprocal", "Sin": "Sin", "Cos": "Cos", "Sign": "Sign", "Round": "Round",
          "Not": "LogicalNot", "Tan": "Tan", "Asin": "Asin", "Acos": "Acos", "Atan": "Atan", "Sinh": "Sinh",
          "Cosh": "Cosh", "Asinh": "Asinh", "Acosh": "Acosh", "Atanh": "Atanh", "IsNaN": "IsNan"}
_VARIADIC = {"Sum": "AddV2", "Max": "Maximum", "Min": "Minimum", "Mean": "AddV2"}


@onnx_op(*_BINARY)
def arithmetic(ctx: NodeContext) -> Laid:
    """Broadcasting arithmetic. Integer Div floors in TF.js (ONNX truncates): equal for non-negative values."""
    return binary(ctx, _BINARY[ctx.op_type])


@onnx_op(*_COMPARE)
def compare(ctx: NodeContext) -> Laid:
    return binary(ctx, _COMPARE[ctx.op_type], dtype=DType.BOOL)


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
    """Square/Sqrt/Identity for the exponents 2, 0.5 and 1 (exact and fast), else Pow."""
    exponent = ctx.const(1)
    if exponent is not None and exponent.size == 1:
        e = float(exponent.reshape(-1)[0])
        special = {2.0: "Square", 0.5: "Sqrt", 1.0: None}
        if e in special:
            x, perm = ctx.input_laid(0)
            return ctx.laid(x if special[e] is None else ctx.op(special[e], [x]), perm)
        if ctx.dtype(0) == DType.FLOAT32:
            x, perm = ctx.input_laid(0)
            return ctx.laid(ctx.op("Pow", [x, ctx.scalar_like(e, x, label="exponent")]), perm)
    return binary(ctx, "Pow")


@onnx_op("Cast")
def cast(ctx: NodeContext) -> Laid:
    from ..dtypes import onnx_elem_to_numpy

    target = ir_dtype(onnx_elem_to_numpy(int(ctx.attr("to"))))
    if target is None:
        raise ctx.error(f"cannot cast to ONNX type {ctx.attr('to')}, which TF.js does not have")
    x, perm = ctx.input_laid(0)
    if x.dtype == target:
        return ctx.laid(x, perm)
    if target == DType.BOOL:  # x != 0: TF.js-wasm's Cast to bool keeps values other than 0 and 1
        return ctx.laid(ctx.op("NotEqual", [x, ctx.scalar_like(0, x, label="zero")], dtype=DType.BOOL), perm)
    return ctx.laid(ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": target, "Truncate": False}, dtype=target), perm)


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
        a = ctx.op("ExpandDims", [a, ctx.make_const(np.int32(0), label="a_axis")], label="a_2d", dtype=a.dtype)
    if rb == 1:
        b = ctx.op("ExpandDims", [b, ctx.make_const(np.int32(-1), label="b_axis")], label="b_2d", dtype=b.dtype)
    label = "matmul" if 1 in (ra, rb) else None
    if max(ra, rb) <= 2:
        out = ctx.op("MatMul", [a, b], {"transpose_a": adj_a, "transpose_b": adj_b}, label=label)
    else:
        out = ctx.op("BatchMatMulV2", [a, b], {"adj_x": adj_a, "adj_y": adj_b}, label=label)
    squeeze = ([-2] if ra == 1 else []) + ([-1] if rb == 1 else [])
    if squeeze:
        out = ctx.op("Squeeze", [out], {"squeeze_dims": squeeze})
    return out


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
        peak = reduced(x, "Max", True, "peak")
        total = reduced(ctx.op("Exp", [ctx.op("Sub", [x, peak], label="shifted")], label="exp"), "Sum", keepdims, "sum")
        if not keepdims:
            peak = ctx.op("Squeeze", [peak], {"squeeze_dims": ir_axes}, label="peak_flat")
        return ctx.laid(ctx.op("AddV2", [ctx.op("Log", [total], label="log"), peak]), out_perm)
    if op in _BEFORE:
        x = ctx.op(_BEFORE[op], [x], label="before")
    out = reduced(x, "Sum", keepdims, "sum")
    if op in _AFTER:
        out = ctx.op(_AFTER[op], [out])
    return ctx.laid(out, out_perm)


@onnx_op(*_REDUCE, since=1)
def reduce_axes_attr(ctx: NodeContext) -> Laid:
    axes = ctx.attr("axes")
    return _reduce(ctx, None if axes is None else list(axes), bool(ctx.attr("keepdims", 1)))


@onnx_op("ReduceSum", since=13)
@onnx_op("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
         "ReduceLogSum", "ReduceLogSumExp", since=18)
def reduce_axes_input(ctx: NodeContext) -> Laid | Tensor:
    axes = ctx.require_const(1, "axes").reshape(-1).tolist() if ctx.has_input(1) else []
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            return ctx.tensor(0)
        axes = None
    return _reduce(ctx, axes, bool(ctx.attr("keepdims", 1)))


# -- einsum -----------------------------------------------------------------------------------------
def _parse_einsum(ctx: NodeContext, equation: str, count: int) -> tuple[list[str], str]:
    eq = equation.replace(" ", "")
    if "..." in eq:
        raise ctx.error(f"einsum with an ellipsis ({equation!r}) is not supported")
    lhs, _, out = eq.partition("->")
    terms = lhs.split(",")
    if not _:
        seen = "".join(terms)
        out = "".join(sorted(c for c in set(seen) if seen.count(c) == 1))
    if len(terms) != count or any(len(set(t)) != len(t) for t in terms):
        raise ctx.error(f"einsum {equation!r}: only one or two operands without repeated labels are supported")
    return terms, out


@onnx_op("Einsum", since=12)
def einsum(ctx: NodeContext) -> Value:
    """One or two operands as Transpose/Reshape/BatchMatMulV2/Sum (TF.js's own Einsum has no wasm kernel)."""
    terms, out = _parse_einsum(ctx, str(ctx.attr("equation")), ctx.num_inputs)
    values = [ctx.input(i) for i in range(len(terms))]
    shapes = [ctx.shape(i) for i in range(len(terms))]
    if any(s is None or None in s for s in shapes):
        raise ctx.error("einsum needs static input shapes")
    size = {c: int(d) for t, s in zip(terms, shapes) for c, d in zip(t, s)}

    def summed(value: Value, term: str, keep: set[str], label: str) -> tuple[Value, str]:
        drop = [i for i, c in enumerate(term) if c not in keep]
        if not drop:
            return value, term
        value = ctx.op("Sum", [value, ctx.ints(drop, label=f"{label}/axes")], {"keep_dims": False, "Tidx": DType.INT32},
                       label=label)
        return value, "".join(c for c in term if c in keep)

    def arranged(value: Value, term: str, order: str, shape: list[int], label: str) -> Value:
        if term != order:
            value = ctx.op("Transpose", [value, ctx.ints([term.index(c) for c in order], label=f"{label}/perm")],
                           {"Tperm": DType.INT32}, label=label)
        return ctx.op("Reshape", [value, ctx.ints(shape, label=f"{label}/shape")], {"Tshape": DType.INT32},
                      label=f"{label}_3d")

    if len(terms) == 1:
        value, term = summed(values[0], terms[0], set(out), "sum")
        if term == out:
            return value
        return ctx.op("Transpose", [value, ctx.ints([term.index(c) for c in out], label="perm")], {"Tperm": DType.INT32})
    (a, ta), (b, tb) = (summed(values[0], terms[0], set(terms[1]) | set(out), "sum_a"),
                        summed(values[1], terms[1], set(terms[0]) | set(out), "sum_b"))
    batch = [c for c in ta if c in tb and c in out]
    contract = [c for c in ta if c in tb and c not in out]
    a_free = [c for c in ta if c not in tb]
    b_free = [c for c in tb if c not in ta]

    def prod(labels: list[str]) -> int:
        return int(np.prod([size[c] for c in labels], dtype=np.int64))

    a3 = arranged(a, ta, "".join(batch + a_free + contract), [prod(batch), prod(a_free), prod(contract)], "a")
    b3 = arranged(b, tb, "".join(batch + contract + b_free), [prod(batch), prod(contract), prod(b_free)], "b")
    product = ctx.op("BatchMatMulV2", [a3, b3], {"adj_x": False, "adj_y": False}, label="matmul")
    order = batch + a_free + b_free
    result = ctx.op("Reshape", [product, ctx.ints([size[c] for c in order], label="out_shape")], {"Tshape": DType.INT32},
                    label="unflatten" if "".join(order) != out else None)
    if "".join(order) == out:
        return result
    return ctx.op("Transpose", [result, ctx.ints([order.index(c) for c in out], label="out_perm")],
                  {"Tperm": DType.INT32})
