"""BatchMatMul operands whose batch dims TF.js would broadcast wrongly, broadcast explicitly first.

TF.js 4.22's BatchMatMul (cpu and wasm) flattens each operand's batch dims and indexes it modulo its
own batch size, which is right only when the operand's batch dims, past its leading 1s, equal the
result's: ``(2,1,3,4)×(3,4,5)`` and ``(2,1,2,3,4)×(1,3,1,4,2)`` return too few elements (TF op
conformance run). Such an operand gets a ``BroadcastTo`` to ``batch + its own matrix dims``: a
constant target when the batch shape is static, else ``BroadcastArgs`` of both operands' run-time
batch shapes. The criterion is the one the ONNX frontend's MatMul applies, so after it this pass
finds nothing left to do.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .shapes import infer_shapes

OPS = frozenset({"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"})


def needs_broadcast(batch: list, full: list) -> bool:
    """Past its leading 1s, the operand has a static 1 where the result does not (unknowns match all)."""
    k = 0
    while k < len(batch) and batch[k] == 1:
        k += 1
    return any(d == 1 and f != 1 for d, f in zip(batch[k:], full[k:]))


def result_batch(ba: list, bb: list) -> list:
    return [x if y == 1 else y if x == 1 else (x if x is not None else y) for x, y in zip(ba, bb)]


class _Builder:
    def __init__(self, graph: Graph, node: Node) -> None:
        self.graph, self.node = graph, node

    def ints(self, values: list[int], label: str) -> Value:
        return self.graph.const(np.asarray(values, np.int32), name=f"{self.node.name}/{label}")

    def op(self, op: str, inputs: list[Value], attrs: dict, label: str, dtype: DType = DType.INT32) -> Value:
        return self.graph.add_op(op, inputs, attrs, name=f"{self.node.name}/{label}", dtype=dtype)

    def shape_part(self, value: Value, begin: int, size: int, label: str) -> Value:
        """``Shape(value)[begin:begin+size]`` at run time."""
        shape = self.op("Shape", [value], {"T": value.dtype, "out_type": DType.INT32}, f"{label}_shape")
        return self.op("Slice", [shape, self.ints([begin], f"{label}_begin"), self.ints([size], f"{label}_size")],
                       {"T": DType.INT32, "Index": DType.INT32}, f"{label}_part")


def broadcast_operands(graph: Graph, node: Node, shapes: dict) -> bool:
    a, b = node.inputs[:2]
    sa, sb = shapes.get(a), shapes.get(b)
    if sa is None or sb is None or len(sa) < 2 or len(sb) < 2:
        return False
    n = max(len(sa), len(sb)) - 2
    ba = [1] * (n - len(sa) + 2) + list(sa[:-2])
    bb = [1] * (n - len(sb) + 2) + list(sb[:-2])
    full = result_batch(ba, bb)
    build = _Builder(graph, node)
    changed = False
    for i, (value, batch, shape) in enumerate(((a, ba, sa), (b, bb, sb))):
        if not needs_broadcast(batch, full):
            continue
        name = "ab"[i]
        if None not in full:
            batch_shape = build.ints(full, f"{name}_batch")
        else:
            batch_shape = build.op("BroadcastArgs", [build.shape_part(a, 0, len(sa) - 2, "a"),
                                                     build.shape_part(b, 0, len(sb) - 2, "b")],
                                   {"T": DType.INT32}, f"{name}_batch")
        matrix = list(shape[-2:])
        matrix_shape = build.ints(matrix, f"{name}_matrix") if None not in matrix else \
            build.shape_part(value, len(shape) - 2, 2, name)
        target = build.op("ConcatV2", [batch_shape, matrix_shape, build.ints(0, f"{name}_axis")],
                          {"N": 2, "T": DType.INT32, "Tidx": DType.INT32}, f"{name}_target")
        broadcast = build.op("BroadcastTo", [value, target], {"T": value.dtype, "Tidx": DType.INT32},
                             f"{name}_broadcast", dtype=value.dtype)
        broadcast.shape = tuple(full) + tuple(matrix)
        node.inputs[i] = broadcast
        changed = True
    return changed


class BroadcastBatchMatMul(Pass):
    """BatchMatMul{,V2,V3} whose batch dims TF.js would mis-broadcast → BroadcastTo first."""

    name = "batch_matmul_broadcast"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        shapes = None
        count = 0
        for node in list(graph.nodes):
            if node.op not in OPS or len(node.inputs) < 2:
                continue
            shapes = shapes if shapes is not None else infer_shapes(graph)
            if broadcast_operands(graph, node, shapes):
                count += 1
        return PassResult(count)
