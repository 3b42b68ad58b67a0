"""BatchMatMul operands whose batch dims TF.js would broadcast wrongly, broadcast explicitly first.

TF.js 4.22's BatchMatMul (cpu, wasm and webgl alike) flattens each operand's batch dims, makes
``max`` of the two flat sizes result batches and reads batch ``i`` of an operand at ``i mod`` its own
flat size. That is right only when the operand's batch dims, past its leading 1s, equal the result's:
``(2,1,3,4)×(3,4,5)`` and ``(2,1,2,3,4)×(1,3,1,4,2)`` return too few elements (TF op conformance run).
Such an operand is broadcast to ``batch + its own matrix dims``: a ``BroadcastTo`` to a constant target
when the batch shape is static, else, to ``BroadcastArgs`` of both operands' run-time batch shapes, an
``AddV2`` of zeros (TF.js's ``broadcastTo`` leaves a 1 that should become 0 unchanged; the sum is
right for zero-size dims too). Unknown sizes count as whatever makes the operand wrong (``needs_broadcast``), so
``[None]*5`` operands are broadcast while ``[B, H, T, D]`` with a static ``H`` and rank-3 operands
need nothing. The ONNX frontend's MatMul applies the same criterion, so after it this pass finds
nothing left to do.
"""
from __future__ import annotations

import weakref

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .shapes import infer_shapes

OPS = frozenset({"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"})


def _known(d: object) -> bool:
    return d is not None and not isinstance(d, str)  # a frontend may keep a symbolic dim's name


def needs_broadcast(batch: list, other: list) -> bool:
    """Whether TF.js could read this operand's batch wrongly at run time, ``batch`` and ``other`` being
    both operands' batch dims aligned to the result's rank (``None`` unknown).

    Wrong exactly when a dim of the operand is 1 where the result's is not (the other operand's is
    not 1: larger or 0) after a dim of the operand larger than 1: flat indexing modulo its size then
    walks the wrong axis, or (against a 0) yields batches of an empty result. Its leading run of 1s
    and its first dim that may be larger than 1 are read right (their batch is a suffix of the
    result's). An operand with a static 0 has no batch to misread. Not covered: a leading 1 against a
    0 of the other operand (``(1, m, k)×(0, k, n)``), which TF.js's cpu answers with the right
    (empty) shape but ``m·n`` stray values, wasm and webgl with an error; fixing it would broadcast
    every rank-3 attention operand and every weight of a rank-3 MatMul at run time.
    """
    if 0 in batch:
        return False
    seen_large = False
    for d, e in zip(batch, other):
        if seen_large and (not _known(d) or d == 1) and e != 1:
            return True
        seen_large = seen_large or not _known(d) or d > 1
    return False


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


#: Matmuls already given their broadcasts: the criterion, blind to run-time sizes, would flag them
#: again and the pass loop would stack broadcasts up.
_HANDLED: weakref.WeakSet[Node] = weakref.WeakSet()
#: Producers of operands already broadcast to their matmul's result batch (this pass's, and a frontend's:
#: ``mark_broadcast``). Kept apart from ``_HANDLED``: a handled matmul's output is no broadcast operand.
_BROADCAST: weakref.WeakSet[Node] = weakref.WeakSet()


def mark_broadcast(value: Value) -> Value:
    """``value``, an operand a frontend broadcast to its matmul's result batch: this pass leaves it alone."""
    _BROADCAST.add(value.producer)
    return value


def mark_handled(product: Value) -> Value:
    """``product``, a matmul's output whose operands' batch dims are equal at run time (a TF einsum's labels):
    this pass leaves the matmul alone."""
    if product.producer is not None and product.producer.op in OPS:
        _HANDLED.add(product.producer)
    return product


def broadcast_operands(graph: Graph, node: Node, shapes: dict) -> bool:
    if node in _HANDLED:
        return False
    a, b = node.inputs[:2]
    sa, sb = shapes.get(a), shapes.get(b)
    if sa is None or sb is None or len(sa) < 2 or len(sb) < 2:
        return False
    n = max(len(sa), len(sb)) - 2
    ba = [1] * (n - len(sa) + 2) + list(sa[:-2])
    bb = [1] * (n - len(sb) + 2) + list(sb[:-2])
    full = result_batch(ba, bb)
    build = _Builder(graph, node)
    batch_shape = None
    changed = False
    for i, (value, batch, other, shape) in enumerate(((a, ba, bb, sa), (b, bb, ba, sb))):
        if value.producer in _BROADCAST:
            _HANDLED.add(node)
            continue
        if not needs_broadcast(batch, other):
            continue
        name = "ab"[i]
        if batch_shape is None:  # one result batch shape for both operands
            batch_shape = build.ints(full, "batch") if None not in full else build.op(
                "BroadcastArgs", [build.shape_part(a, 0, len(sa) - 2, "a"), build.shape_part(b, 0, len(sb) - 2, "b")],
                {"T": DType.INT32}, "batch")
        matrix = list(shape[-2:])
        matrix_shape = build.ints(matrix, f"{name}_matrix") if None not in matrix else \
            build.shape_part(value, len(shape) - 2, 2, name)
        target = build.op("ConcatV2", [batch_shape, matrix_shape, build.ints(0, f"{name}_axis")],
                          {"N": 2, "T": DType.INT32, "Tidx": DType.INT32}, f"{name}_target")
        if None in full or 0 in full:
            broadcast = _broadcast_by_adding_zeros(build, value, target, name)
        else:
            broadcast = build.op("BroadcastTo", [value, target], {"T": value.dtype, "Tidx": DType.INT32},
                                 f"{name}_broadcast", dtype=value.dtype)
        broadcast.shape = tuple(full) + tuple(matrix)
        node.inputs[i] = mark_broadcast(broadcast)
        changed = True
    if changed:
        _HANDLED.add(node)
    return changed


def _broadcast_by_adding_zeros(build: _Builder, value: Value, target: Value, name: str) -> Value:
    """``value + zeros(target)``: TF.js's ``broadcastTo`` returns its input unchanged when the target only
    turns dims of 1 into 0 (no dim grows past 1, so it skips its Tile), and a batch that may be empty at
    run time needs that. The sum gives ``value`` itself (``-0 + 0`` is ``+0``, which no matmul sum tells
    apart: TF.js starts every dot product at ``+0``)."""
    zero = build.graph.const(np.zeros((), value.dtype.numpy), name=f"{build.node.name}/{name}_zero")
    zeros = build.op("Fill", [target, zero], {"T": value.dtype, "index_type": DType.INT32}, f"{name}_zeros",
                     dtype=value.dtype)
    return build.op("AddV2", [value, zeros], {"T": value.dtype}, f"{name}_broadcast", dtype=value.dtype)


class BroadcastBatchMatMul(Pass):
    """BatchMatMul{,V2,V3} whose batch dims TF.js would mis-broadcast → operands broadcast first."""

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
