"""``MaxPool3D``/``AvgPool3D`` a target backend gets wrong → two 2-D pools (H×W, then D).

TF.js-wasm's MaxPool3D starts its running maximum at FLT_MIN, so an all-negative window gives
1.2e-38, and it is also wrong for windows whose height ≠ width and with SAME padding; every backend's
3-D pools are wrong with SAME padding and a window smaller than its stride (docs/backends.md). The
2-D pools are right in all these cases, and a 3-D window is separable: the max of a box is the max
over depth of the max over each H×W plane, and an average's divisor (the count of the window's
non-padding inputs) is the product of the per-axis counts, so average-of-averages is exact too.
The rewrite (what the ONNX frontend does for 3-D max pooling): ``Reshape`` to ``[N·D, H, W, C]``,
2-D pool over H×W, ``Reshape`` to ``[N, D, H'·W', C]``, 2-D pool with window ``(kd, 1)`` over D,
``Reshape`` to ``[N, D', H', W', C]``. It needs static D, H, W, C (N may be unknown) and runs only
on float32 nodes the contract says a ``--target_backends`` backend refuses; others stay as they are
(and the backend check refuses what is still refused).
"""
from __future__ import annotations

import math

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import attr_text, rewrite
from .shapes import infer_shapes

POOLS_2D = {"MaxPool3D": "MaxPool", "AvgPool3D": "AvgPool"}


def _window(node: Node, name: str) -> list[int] | None:
    value = node.attrs.get(name)
    if not isinstance(value, (list, tuple)) or len(value) != 5 or value[0] != 1 or value[4] != 1:
        return None
    return [int(v) for v in value[1:4]]


def pooled_sizes(sizes: list[int], kernel: list[int], strides: list[int], padding: str) -> list[int]:
    """TF's output sizes of a SAME/VALID pool."""
    if padding == "SAME":
        return [math.ceil(n / s) for n, s in zip(sizes, strides)]
    return [(n - k) // s + 1 for n, k, s in zip(sizes, kernel, strides)]


def split_pool_3d(graph: Graph, node: Node, dims: tuple[int, int, int, int]) -> bool:
    """Rewrite ``node`` (NDHWC, static D/H/W/C ``dims``) as two 2-D pools; False if it cannot."""
    kernel, strides = _window(node, "ksize"), _window(node, "strides")
    padding = attr_text(node, "padding", "VALID")
    if kernel is None or strides is None or padding not in ("SAME", "VALID"):
        return False
    *sizes, channels = dims
    outs = pooled_sizes(sizes, kernel, strides, padding)
    if min(outs) < 1:
        return False
    x, dtype, op = node.inputs[0], node.attrs.get("T", DType.FLOAT32), POOLS_2D[node.op]

    def reshape(value: Value, shape: list[int], label: str) -> Value:
        target = graph.const(np.asarray(shape, np.int32), name=f"{node.name}/{label}_shape")
        return graph.add_op("Reshape", [value, target], {"T": dtype, "Tshape": DType.INT32},
                            name=f"{node.name}/{label}", dtype=dtype)

    def pool(value: Value, k: list[int], s: list[int], label: str) -> Value:
        attrs = {"T": dtype, "ksize": [1, *k, 1], "strides": [1, *s, 1], "padding": padding, "data_format": "NHWC"}
        return graph.add_op(op, [value], attrs, name=f"{node.name}/{label}", dtype=dtype)

    planes = reshape(x, [-1, sizes[1], sizes[2], channels], "planes")
    pooled = pool(planes, kernel[1:], strides[1:], "pool_hw")
    columns = reshape(pooled, [-1, sizes[0], outs[1] * outs[2], channels], "columns")
    pooled = pool(columns, [kernel[0], 1], [strides[0], 1], "pool_d")
    target = graph.const(np.asarray([-1, *outs, channels], np.int32), name=f"{node.name}/shape")
    rewrite(node, "Reshape", [pooled, target], {"T": dtype, "Tshape": DType.INT32})
    return True


class SplitPool3D(BackendGatedPass):
    """A float32 MaxPool3D/AvgPool3D some target backend refuses → 2-D pool over H×W, then over D."""

    name = "pool_3d"
    level = 0
    after = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        from ..ops.backends import tfjs_dtype

        pools = [n for n in graph.nodes if n.op in POOLS_2D and attr_text(n, "data_format", "NDHWC") == "NDHWC"
                 and tfjs_dtype(n.attrs.get("T", n.inputs[0].dtype if n.inputs else None)) == "float32"]
        pools = [n for n in pools if self.refused_on(n)]
        if not pools:
            return PassResult(0)
        shapes, count = infer_shapes(graph), 0
        for node in pools:
            shape = shapes.get(node.inputs[0], node.inputs[0].shape)
            if shape is None or len(shape) != 5 or any(d is None for d in shape[1:]):
                continue
            count += split_pool_3d(graph, node, tuple(int(d) for d in shape[1:]))
        return PassResult(count)
