"""A numpy interpreter for IR graphs: the reference for tests, constant folding and pass checks.

It covers a growing subset of the TF.js ops; :func:`run_graph` names the ops it cannot evaluate.
Kernels follow TensorFlow semantics (NHWC convolutions, ``SAME``/``VALID`` padding).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .errors import GraphError
from .ir import Graph, Node, materialize

Kernel = Callable[[Node, list[np.ndarray]], list[np.ndarray]]
KERNELS: dict[str, Kernel] = {}


def kernel(*ops: str) -> Callable[[Kernel], Kernel]:
    """Register a numpy implementation for ``ops``."""

    def wrap(fn: Kernel) -> Kernel:
        for op in ops:
            KERNELS[op] = fn
        return fn

    return wrap


def can_evaluate(node: Node) -> bool:
    return node.op in KERNELS


def run_graph(graph: Graph, feeds: Mapping[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
    """Evaluate ``graph`` on ``feeds`` (keyed by signature input names) and return the outputs."""
    missing_ops = sorted({n.op for n in graph if n.op not in KERNELS})
    if missing_ops:
        raise GraphError(f"the numpy interpreter cannot evaluate: {', '.join(missing_ops)}")
    values: dict[Any, np.ndarray] = {}
    for key, value in graph.inputs.items():
        if key not in feeds:
            raise GraphError(f"no value fed for input {key!r}")
        values[value] = np.asarray(feeds[key])
    for node in graph.topological_order():
        if node.outputs and all(v in values for v in node.outputs):
            continue
        results = KERNELS[node.op](node, [values[v] for v in node.inputs])
        for index, result in enumerate(results):
            values[node.output(index)] = result
    wanted = outputs or list(graph.outputs)
    return {key: values[graph.outputs[key]] for key in wanted}


# -- graph ---------------------------------------------------------------------------------------
@kernel("Const")
def _const(node: Node, _: list[np.ndarray]) -> list[np.ndarray]:
    return [materialize(node.attrs["value"])]


@kernel("Identity", "StopGradient", "Snapshot", "CheckNumerics", "Print")
def _identity(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [xs[0]]


@kernel("IdentityN")
def _identity_n(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return list(xs)


@kernel("Placeholder")
def _placeholder(node: Node, _: list[np.ndarray]) -> list[np.ndarray]:
    raise GraphError(f"placeholder {node.name} was not fed")


# -- arithmetic and activations -----------------------------------------------------------------
_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add, "AddV2": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "RealDiv": np.divide, "Maximum": np.maximum, "Minimum": np.minimum, "Pow": np.power,
    "SquaredDifference": lambda a, b: np.square(a - b),
    "LogicalAnd": np.logical_and, "LogicalOr": np.logical_or,
    "Equal": np.equal, "NotEqual": np.not_equal, "Greater": np.greater, "GreaterEqual": np.greater_equal,
    "Less": np.less, "LessEqual": np.less_equal,
}


def _binary(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    a, b = xs
    out = _BINARY[node.op](a, b)
    if out.dtype != a.dtype and out.dtype != np.bool_:
        out = out.astype(a.dtype)
    return [out]


for _op in _BINARY:
    KERNELS[_op] = _binary


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)


_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Relu": lambda x: np.maximum(x, 0).astype(x.dtype),
    "Relu6": lambda x: np.clip(x, 0, 6).astype(x.dtype),
    "Sigmoid": _sigmoid,
    "Tanh": np.tanh, "Exp": np.exp, "Neg": np.negative, "Abs": np.abs, "Sqrt": np.sqrt,
    "Rsqrt": lambda x: (1.0 / np.sqrt(x)).astype(x.dtype), "Square": np.square,
    "LogicalNot": np.logical_not,
    "Elu": lambda x: np.where(x > 0, x, np.expm1(x)).astype(x.dtype),
    "Real": np.real, "Imag": np.imag,
}


def _unary(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(_UNARY[node.op](xs[0]))]


for _op in _UNARY:
    KERNELS[_op] = _unary


@kernel("BiasAdd")
def _bias_add(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, bias = xs
    if node.attrs.get("data_format", "NHWC") in ("NCHW", b"NCHW"):
        return [x + bias.reshape((1, -1) + (1,) * (x.ndim - 2))]
    return [x + bias]


@kernel("MatMul")
def _matmul(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    a, b = xs
    if node.attrs.get("transpose_a"):
        a = a.T
    if node.attrs.get("transpose_b"):
        b = b.T
    return [a @ b]


@kernel("Softmax")
def _softmax(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return [(e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)]


# -- shapes -------------------------------------------------------------------------------------
@kernel("Reshape")
def _reshape(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [xs[0].reshape(tuple(int(d) for d in xs[1]))]


@kernel("Transpose")
def _transpose(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.transpose(xs[0], tuple(int(d) for d in xs[1]))]


@kernel("Shape")
def _shape(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.array(xs[0].shape, dtype=np.int32)]


# -- convolution and pooling (NHWC) -------------------------------------------------------------
def _attr_str(node: Node, key: str, default: str) -> str:
    value = node.attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else value


def _pad_amounts(size: int, window: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """(pad_before, pad_after, output size) for TF's SAME/VALID rules."""
    effective = (window - 1) * dilation + 1
    if padding == "VALID":
        out = (size - effective) // stride + 1
        return 0, 0, out
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2, out


@kernel("Conv2D")
def _conv2d(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, w = xs  # x: NHWC, w: HWIO
    if _attr_str(node, "data_format", "NHWC") != "NHWC":
        raise GraphError(f"{node.name}: the interpreter only evaluates NHWC convolutions")
    strides = node.attrs.get("strides", [1, 1, 1, 1])
    dilations = node.attrs.get("dilations", [1, 1, 1, 1])
    padding = _attr_str(node, "padding", "VALID")
    kh, kw, _, cout = w.shape
    top, bottom, oh = _pad_amounts(x.shape[1], kh, strides[1], dilations[1], padding)
    left, right, ow = _pad_amounts(x.shape[2], kw, strides[2], dilations[2], padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out = np.zeros((x.shape[0], oh, ow, cout), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dilations[1], j * dilations[2]
            patch = xp[:, r0:r0 + strides[1] * (oh - 1) + 1:strides[1], c0:c0 + strides[2] * (ow - 1) + 1:strides[2], :]
            out += np.einsum("nhwc,co->nhwo", patch.astype(np.float64), w[i, j].astype(np.float64))
    return [out.astype(x.dtype)]


def _pool(node: Node, x: np.ndarray, reduce: Callable[..., np.ndarray]) -> np.ndarray:
    """Window reduction; padding is NaN so that SAME windows reduce over real elements only, as TF does."""
    ksize = node.attrs.get("ksize", [1, 1, 1, 1])
    strides = node.attrs.get("strides", [1, 1, 1, 1])
    padding = _attr_str(node, "padding", "VALID")
    top, bottom, oh = _pad_amounts(x.shape[1], ksize[1], strides[1], 1, padding)
    left, right, ow = _pad_amounts(x.shape[2], ksize[2], strides[2], 1, padding)
    xp = np.pad(x.astype(np.float64), ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=np.nan)
    windows = np.stack([
        xp[:, i:i + strides[1] * (oh - 1) + 1:strides[1], j:j + strides[2] * (ow - 1) + 1:strides[2], :]
        for i in range(ksize[1]) for j in range(ksize[2])
    ])
    return reduce(windows, axis=0).astype(x.dtype)


@kernel("MaxPool")
def _max_pool(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [_pool(node, xs[0], np.nanmax)]


@kernel("AvgPool")
def _avg_pool(node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [_pool(node, xs[0], np.nanmean)]
