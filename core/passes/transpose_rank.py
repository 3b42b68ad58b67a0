"""Transposes of rank ≥ 7 that a target backend refuses → the same transpose at lower rank, between Reshapes.

TF.js 4.22's webgl throws "Packed transpose for rank 7 is not yet supported" (the contract's ``maxrank:7``
limit, found by ``scripts/probe_backends.py --webgl``). Input axes that stay next to each other, in
order, in the permutation move as one block, so they merge into one axis; axes of size 1 carry no
elements and are dropped. ``[2,3,2,1,2,2,3]`` by ``[1,0,2,3,4,5,6]`` is ``[2,3,24]`` by ``[1,0,2]``.
Exact (Reshape, the smaller transpose, Reshape back to the full output shape). Needs a constant
permutation and at most one unknown size; what still has rank ≥ 7 stays, and is refused.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import PassResult
from .backend_gated import BackendGatedPass
from .dilated_transposed_conv import _constant
from .graph_edit import rewrite
from .shapes import infer_shapes

MAX_RANK = 6


def merged_transpose(shape: tuple, perm: list[int]) -> tuple[list, list[int]] | None:
    """(merged input shape, its permutation), unknown products None; None when that leaves rank > 6."""
    kept = [axis for axis in perm if shape[axis] != 1]
    if [shape[axis] for axis in kept].count(None) > 1:
        return None
    order = sorted(kept)
    after = dict(zip(order, order[1:]))  # the next input axis that holds elements
    blocks: list[list[int]] = []  # in output order
    for axis in kept:
        if blocks and after.get(blocks[-1][-1]) == axis:
            blocks[-1].append(axis)
        else:
            blocks.append([axis])
    if not blocks or len(blocks) > MAX_RANK:
        return None
    by_input = sorted(range(len(blocks)), key=lambda b: blocks[b][0])
    sizes = []
    for b in by_input:
        dims = [shape[axis] for axis in blocks[b]]
        sizes.append(None if None in dims else int(np.prod(dims, dtype=np.int64)))
    return sizes, [by_input.index(b) for b in range(len(blocks))]


class LowerTransposeRank(BackendGatedPass):
    """A rank ≥ 7 Transpose some target backend refuses → Reshape, a rank ≤ 6 Transpose, Reshape."""

    name = "transpose_rank"
    level = 0
    after = ("batchnorm_global", "pad_rank")

    def run(self, graph: Graph) -> PassResult:
        nodes = [n for n in graph.nodes if n.op == "Transpose" and len(n.inputs) == 2]
        if not nodes:
            return PassResult(0)
        shapes, count = infer_shapes(graph), 0
        for node in nodes:
            shape, perm = shapes.get(node.inputs[0], node.inputs[0].shape), _constant(node.inputs[1])
            if shape is None or perm is None or len(shape) <= MAX_RANK or len(perm) != len(shape):
                continue
            perm = [int(p) % len(shape) for p in np.asarray(perm).reshape(-1)]
            merged = merged_transpose(tuple(shape), perm)
            if merged is not None and self._refused(node, len(shape)):
                self._rewrite(graph, node, *merged, [shape[p] for p in perm])
                count += 1
        return PassResult(count)

    def _refused(self, node: Node, rank: int) -> bool:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, BackendContract, NodeFacts, tfjs_dtype

        contract = BackendContract.load()
        dtype = tfjs_dtype(node.attrs.get("T", node.inputs[0].dtype))
        facts = NodeFacts(node.op, node.attrs, [dtype, "int32"], input_ranks=[rank, 1], output_ranks=[rank])
        return any(b in contract.backends and contract.reasons(facts, b) for b in self.targets or DEFAULT_TARGET_BACKENDS)

    @staticmethod
    def _rewrite(graph: Graph, node: Node, sizes: list, perm: list[int], out_shape: list) -> None:
        dtype = node.attrs.get("T", DType.FLOAT32)
        name = node.name

        def ints(values: list, label: str) -> Value:  # an unknown size is Reshape's -1
            return graph.const(np.asarray([-1 if v is None else v for v in values], np.int32), name=f"{name}/{label}")

        x = graph.add_op("Reshape", [node.inputs[0], ints(sizes, "merged_shape")], {"T": dtype, "Tshape": DType.INT32},
                         name=f"{name}/merged", dtype=dtype, shape=tuple(sizes))
        moved = graph.add_op("Transpose", [x, ints(perm, "merged_perm")], {"T": dtype, "Tperm": DType.INT32},
                             name=f"{name}/merged_transpose", dtype=dtype, shape=tuple(sizes[p] for p in perm))
        rewrite(node, "Reshape", [moved, ints(out_shape, "shape")], {"T": dtype, "Tshape": DType.INT32})
