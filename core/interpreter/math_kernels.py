"""Elementwise math, activations, matmul, reductions and casts (TensorFlow semantics)."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..dtypes import DType
from ..ir import Node
from .registry import KERNELS, attr_str, ints, kernel, unsupported


def _keep_dtype(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """numpy may upcast (int / int -> float64); TF keeps the operand dtype except for predicates."""
    out = np.asarray(out)
    if out.dtype != like.dtype and out.dtype != np.bool_:
        out = out.astype(like.dtype)
    return out


def _truncate_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Division rounded toward zero (C semantics): TF's ``TruncateDiv``, and ``Div`` on integers."""
    if np.issubdtype(a.dtype, np.integer):
        floor = np.floor_divide(a, b)
        return floor + ((np.mod(a, b) != 0) & ((a < 0) != (b < 0))).astype(floor.dtype)
    return np.trunc(np.divide(a, b))


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        return _truncate_div(a, b)  # TF Div on integers truncates (-7 / 2 = -3), unlike FloorDiv
    return np.divide(a, b)


def _floor_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TF's FloorDiv: floor(a / b) for floats (so inf // 1 is inf, where numpy's floor_divide gives NaN)."""
    if np.issubdtype(a.dtype, np.integer):
        return np.floor_divide(a, b)
    return np.floor(np.divide(a, b))


def _div_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, np.zeros_like(a), np.divide(a, b))


BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add, "AddV2": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "RealDiv": np.divide, "Div": _div, "DivNoNan": _div_no_nan, "FloorDiv": _floor_div,
    "TruncateDiv": _truncate_div,
    # Mod and TruncateMod take the sign of the dividend (C's fmod); FloorMod that of the divisor
    "FloorMod": np.mod, "Mod": np.fmod, "TruncateMod": np.fmod,
    "Maximum": np.maximum, "Minimum": np.minimum, "Pow": np.power,
    "SquaredDifference": lambda a, b: np.square(a - b), "Atan2": np.arctan2,
    "LogicalAnd": np.logical_and, "LogicalOr": np.logical_or,
    "Equal": np.equal, "NotEqual": np.not_equal, "Greater": np.greater, "GreaterEqual": np.greater_equal,
    "Less": np.less, "LessEqual": np.less_equal,
}


def _binary(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    a, b = xs
    with np.errstate(all="ignore"):
        return [_keep_dtype(BINARY[node.op](a, b), a)]


for _op in BINARY:
    KERNELS[_op] = _binary


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805
_erf = np.vectorize(math.erf, otypes=[np.float64])

UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Relu": lambda x: np.maximum(x, 0), "Relu6": lambda x: np.clip(x, 0, 6),
    "Sigmoid": _sigmoid, "Tanh": np.tanh, "Exp": np.exp, "Expm1": np.expm1, "Log": np.log, "Log1p": np.log1p,
    "Neg": np.negative, "Abs": np.abs, "Sqrt": np.sqrt, "Rsqrt": lambda x: 1.0 / np.sqrt(x),
    "Square": np.square, "Reciprocal": lambda x: 1.0 / x, "Inv": lambda x: 1.0 / x,
    "Floor": np.floor, "Ceil": np.ceil, "Round": np.round, "Rint": np.rint, "Sign": np.sign,
    "Sin": np.sin, "Cos": np.cos, "Tan": np.tan, "Asin": np.arcsin, "Acos": np.arccos, "Atan": np.arctan,
    "Sinh": np.sinh, "Cosh": np.cosh, "Asinh": np.arcsinh, "Acosh": np.arccosh, "Atanh": np.arctanh,
    "Erf": lambda x: _erf(x), "Softplus": lambda x: np.logaddexp(0, x), "Softsign": lambda x: x / (1 + np.abs(x)),
    "Elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "Selu": lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "LogicalNot": np.logical_not, "IsNan": np.isnan, "IsInf": np.isinf, "IsFinite": np.isfinite,
    "Real": np.real, "Imag": np.imag, "ZerosLike": np.zeros_like, "OnesLike": np.ones_like,
}


def _unary(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    with np.errstate(all="ignore"):
        out = np.asarray(UNARY[node.op](x))
    if node.op in ("Real", "Imag") or out.dtype == np.bool_:
        return [out]
    return [_keep_dtype(out, x)]


for _op in UNARY:
    KERNELS[_op] = _unary


@kernel("LeakyRelu")
def _leaky_relu(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    alpha = float(node.attrs.get("alpha", 0.2))
    return [np.where(x >= 0, x, x * np.asarray(alpha, x.dtype)).astype(x.dtype)]


def prelu(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, x, x * alpha).astype(x.dtype)


@kernel("Prelu")
def _prelu(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [prelu(xs[0], xs[1])]


def _clamped_shift(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TF's shift amount: clamped to [0, bits - 1] of x's type (a shift by >= the width keeps the top bit)."""
    x, y = np.broadcast_arrays(x, y)
    top = x.dtype.itemsize * 8 - 1
    return x, np.clip(y, 0, top).astype(x.dtype)


def _left_shift(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """TF's LeftShift: on the unsigned bits, so it wraps (-3 << 7 in int8 is -128) and never overflows."""
    x, shift = _clamped_shift(x, y)
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    return np.left_shift(x.view(unsigned), shift.view(unsigned)).view(x.dtype)


def _right_shift(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """TF's RightShift: arithmetic for signed types (-128 >> 31 is -1), logical for unsigned."""
    x, shift = _clamped_shift(x, y)
    return np.right_shift(x, shift)


BITWISE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or, "BitwiseXor": np.bitwise_xor,
    "LeftShift": _left_shift, "RightShift": _right_shift,
}


@kernel(*BITWISE)
def _bitwise(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    a, b = (np.asarray(v) for v in xs)
    if a.dtype.kind not in "iu" or b.dtype != a.dtype:
        raise unsupported(node, f"bitwise ops take one integer type, not {a.dtype} and {b.dtype}")
    return [np.ascontiguousarray(BITWISE[node.op](a, b)).astype(a.dtype)]


@kernel("Invert")
def _invert(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x = np.asarray(xs[0])
    if x.dtype.kind not in "iu":
        raise unsupported(node, f"Invert takes an integer type, not {x.dtype}")
    return [np.invert(x)]


@kernel("ClipByValue")
def _clip(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    """TF's ``min(max(x, lo), hi)`` with ``max(x, lo) = x < lo ? lo : x``: NaN stays, a NaN bound is ignored."""
    x, lo, hi = xs
    raised = np.where(x < lo, lo, x)
    return [np.where(hi < raised, hi, raised).astype(x.dtype)]


@kernel("AddN")
def _add_n(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return [_keep_dtype(out, xs[0])]


@kernel("Select", "SelectV2")
def _select(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    cond, t, e = xs
    if node.op == "Select" and cond.ndim == 1 and t.ndim > 1:
        cond = cond.reshape((-1,) + (1,) * (t.ndim - 1))  # v1 Select picks whole rows
    return [np.where(cond, t, e)]


@kernel("Cast")
def _cast(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    target = DType.from_any(node.attrs["DstT"]).numpy
    return [np.asarray(xs[0]).astype(target)]


@kernel("BiasAdd")
def _bias_add(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, bias = xs
    if attr_str(node, "data_format", "NHWC") == "NCHW":
        return [x + bias.reshape((1, -1) + (1,) * (x.ndim - 2))]
    return [x + bias]


def matmul(a: np.ndarray, b: np.ndarray, transpose_a: bool, transpose_b: bool) -> np.ndarray:
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    out = np.matmul(a.astype(np.float64), b.astype(np.float64)) if a.dtype.kind == "f" else np.matmul(a, b)
    return out.astype(a.dtype)


@kernel("MatMul")
def _matmul(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [matmul(xs[0], xs[1], bool(node.attrs.get("transpose_a")), bool(node.attrs.get("transpose_b")))]


@kernel("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def _batch_matmul(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [matmul(xs[0], xs[1], bool(node.attrs.get("adj_x")), bool(node.attrs.get("adj_y")))]


@kernel("Softmax")
def _softmax(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    with np.errstate(invalid="ignore"):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        # TF gives 0 where exp underflows to 0 even when the row's sum is NaN (a +inf logit)
        return [np.where(e == 0, 0, e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)]


@kernel("LogSoftmax")
def _log_softmax(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x = xs[0].astype(np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return [(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))).astype(xs[0].dtype)]


REDUCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "Sum": np.sum, "Mean": np.mean, "Max": np.max, "Min": np.min, "Prod": np.prod,
    "All": np.all, "Any": np.any,
}


def _reduce(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, axes = xs
    axis = tuple(a % max(x.ndim, 1) for a in ints(axes))
    keep = bool(node.attrs.get("keep_dims", node.attrs.get("keepDims", False)))
    extra = {}
    if x.size == 0 and node.op in ("Max", "Min"):  # TF reduces an empty axis to the identity (-inf, INT_MAX …)
        if x.dtype.kind not in "fi":
            raise unsupported(node, "reduction of an empty tensor")
        high = np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).max
        low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        extra["initial"] = low if node.op == "Max" else high
    work = x.astype(np.float64) if x.dtype.kind == "f" and node.op in ("Sum", "Mean", "Prod") else x
    out = np.asarray(REDUCTIONS[node.op](work, axis=axis, keepdims=keep, **extra))
    return [out if out.dtype == np.bool_ else out.astype(x.dtype)]


for _op in REDUCTIONS:
    KERNELS[_op] = _reduce


@kernel("ArgMax", "ArgMin")
def _arg(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, axis = xs
    fn = np.argmax if node.op == "ArgMax" else np.argmin
    if x.dtype.kind == "f":  # TF never picks a NaN (unless nothing else is there): it compares with > / <
        x = np.where(np.isnan(x), -np.inf if node.op == "ArgMax" else np.inf, x)
    out_type = DType.from_any(node.attrs.get("output_type", DType.INT64)).numpy
    return [fn(x, axis=ints(axis)[0]).astype(out_type)]
