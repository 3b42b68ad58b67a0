"""Broadcasting binary ops of rank ≥ 7 that a target backend refuses → the same op at lower rank.

TF.js 4.22's wasm backend answers float32 ``Add``/``Sub``/``Mul``/``Div``/``SquaredDifference`` of rank 7
and up with garbage, and no error; webgl throws "GPU for rank 7 is not yet supported" (the contract's
``maxrank:7`` limits, found by ``scripts/probe_backends.py``). Adjacent axes that broadcast alike merge exactly: where both operands
span an axis, or one of them is 1 on each of the axes, the run of axes indexes the operands the same
way as one axis of their product does (output axes of size 1 join any run). So ``[2,3,2,1,2,2,3] +
[3]`` becomes ``[24,3] + [1,3]``, and ``x[2,3,2,3,2,2,3] * y[2,1,2,1,2,1,3]`` becomes rank 7 still:
only patterns that merge to rank ≤ 6 are rewritten; the rest stay, and are refused for wasm. At most
one unknown size, and only against a 1 in the other operand (two unknowns may or may not broadcast at
run time). Reshape, op, Reshape back: the same elements in the same order.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import rewrite
from .shapes import broadcast, infer_shapes

OPS = frozenset({"Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "FloorDiv", "SquaredDifference",
                 "Maximum", "Minimum", "Pow"})
#: The wasm limit starts at rank 7.
MAX_RANK = 6


def _axis(da: int | None, db: int | None) -> tuple[int | None, tuple[bool, bool] | None] | None:
    """One output axis: its size and which operands span it (None: size 1, joins any run), or None if unsure.

    An unknown size is fine only against a 1 (that operand spans the axis whatever its size); two
    unknowns, or an unknown against a size, may or may not broadcast at run time.
    """
    if da is None or db is None:
        if (da, db).count(None) == 2 or (db if da is None else da) != 1:
            return None
        return None, (da is None, db is None)
    if da != db and 1 not in (da, db):
        return None
    size = max(da, db)
    return size, None if size == 1 else (da == size, db == size)


def merged_shapes(a: tuple, b: tuple) -> tuple[list, list, list] | None:
    """(a, b, output) with adjacent alike-broadcasting axes merged (an unknown product is None), or None when
    that leaves rank > 6, a broadcast is unsure, or more than one size is unknown."""
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(b)) + tuple(b)
    axes = [_axis(da, db) for da, db in zip(a, b)]
    if None in axes or [size for size, _ in axes].count(None) > 1:
        return None
    out = tuple(size for size, _ in axes)
    groups: list[tuple[tuple[bool, bool] | None, list[int]]] = []
    for axis, (_, pattern) in enumerate(axes):
        if groups and (pattern is None or groups[-1][0] in (None, pattern)):
            groups[-1] = (groups[-1][0] if pattern is None else pattern, groups[-1][1] + [axis])
        else:
            groups.append((pattern, [axis]))
    if len(groups) > MAX_RANK:
        return None

    def product(shape: tuple, axes: list[int]) -> int | None:
        sizes = [shape[axis] for axis in axes]
        return None if None in sizes else int(np.prod(sizes, dtype=np.int64))

    return ([product(a, axes) for _, axes in groups], [product(b, axes) for _, axes in groups],
            [product(out, axes) for _, axes in groups])


class LowerBinaryRank(BackendGatedPass):
    """A rank ≥ 7 binary op some target backend refuses → Reshapes, the op at rank ≤ 6, Reshape."""

    name = "binary_rank"
    level = 0
    after = ("batchnorm_global", "pad_rank")

    def run(self, graph: Graph) -> PassResult:
        nodes = [n for n in graph.nodes if n.op in OPS and len(n.inputs) == 2]
        if not nodes:
            return PassResult(0)
        shapes, count = infer_shapes(graph), 0
        for node in nodes:
            a, b = (shapes.get(v, v.shape) for v in node.inputs)
            if a is None or b is None or max(len(a), len(b)) <= MAX_RANK:
                continue
            merged = merged_shapes(tuple(a), tuple(b))
            if merged is not None and self._refused(node, len(a), len(b)):
                self._rewrite(graph, node, *merged, list(broadcast(tuple(a), tuple(b))))
                count += 1
        return PassResult(count)

    def _refused(self, node: Node, rank_a: int, rank_b: int) -> bool:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, BackendContract, NodeFacts, tfjs_dtype

        contract = BackendContract.load()
        dtype = tfjs_dtype(node.attrs.get("T", node.inputs[0].dtype))
        facts = NodeFacts(node.op, node.attrs, [dtype, dtype], input_ranks=[rank_a, rank_b],
                          output_ranks=[max(rank_a, rank_b)])
        return any(b in contract.backends and contract.reasons(facts, b) for b in self.targets or DEFAULT_TARGET_BACKENDS)

    @staticmethod
    def _rewrite(graph: Graph, node: Node, a: list[int], b: list[int], out: list[int], shape: list[int]) -> None:
        dtype = node.attrs.get("T", DType.FLOAT32)
        name = node.name

        def ints(dims: list, label: str) -> Value:  # an unknown size is Reshape's -1
            return graph.const(np.asarray([-1 if d is None else d for d in dims], np.int32), name=f"{name}/{label}")

        def reshaped(value: Value, dims: list, label: str) -> Value:
            return graph.add_op("Reshape", [value, ints(dims, f"{label}_shape")], {"T": dtype, "Tshape": DType.INT32},
                                name=f"{name}/{label}", dtype=dtype, shape=tuple(dims))

        x, y = reshaped(node.inputs[0], a, "merged_x"), reshaped(node.inputs[1], b, "merged_y")
        merged = graph.add_op(node.op, [x, y], dict(node.attrs), name=f"{name}/merged", dtype=dtype, shape=tuple(out))
        rewrite(node, "Reshape", [merged, ints(shape, "shape")], {"T": dtype, "Tshape": DType.INT32})
