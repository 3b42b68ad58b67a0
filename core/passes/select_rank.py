"""``SelectV2`` (and same-shape v1 ``Select``) a target backend refuses at its rank → the same select at rank ≤ 4.

TF.js 4.22's webgl throws "Where for rank 5 is not yet supported" from rank 5 (its select shader stops at rank 4),
and wasm selects bool branches wrongly (the contract's ``SelectV2`` limits, ``scripts/probe_backends.py``): Keras 3's
``logsumexp`` over a rank-5 tensor, ONNX ``Where`` in 3-D conv and attention models. A select only copies elements,
so it commutes with reshaping all three operands alike. Two forms, both exact (NaN, ±Inf and -0 copied untouched):

* **merged**: adjacent axes that broadcast alike merge (binary_rank's rule, for three operands). An axis whose size
  is unknown in more than one operand, or unknown against a size other than 1, stays an axis of its own, so the
  run-time broadcast there is the original one. ``(None, 1, 4, 4, 8)`` three times becomes ``(-1, 128)``. Reshape,
  select, Reshape back (to the run-time output shape when it has more than one unknown size).
* **flat**, where merging leaves rank > 4 or an operand with two unknown sizes (``(N, C, D, H, W)``, all unknown but
  C): each operand ``BroadcastTo`` the run-time output shape (``BroadcastArgs`` of their ``Shape``s), flattened,
  selected at rank 1, Reshaped back. tfjs-core's ``where`` broadcasts all three with the same ``broadcastTo``
  (``Tile``) itself, so this costs what the op costs.

Bool branches go through the select as int32 (``Cast`` and back, exact) when a target (wasm) computes the bool select
wrongly at the new rank too; the rewrite is made only when the contract accepts the new select on every target.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import rewrite
from .shapes import infer_shapes

OPS = ("SelectV2", "Select")
#: webgl's select shader stops at rank 4.
MAX_RANK = 4
#: An axis that merges with no other: a size unknown where the broadcast cannot be told at conversion time.
ALONE = "alone"

Dims = tuple


def operand_dims(graph: Graph, nodes: Sequence[Node], shapes: dict) -> Iterator[tuple[Node, list[Dims]]]:
    """Each node with its operands' dims (an unknown size None; a shape unknown but for its rank all None), skipping
    nodes with an operand of unknown rank; ranks are inferred once, when first needed. Shared with ``select_shape``."""
    ranks = None
    for node in nodes:
        dims = [shapes.get(v, v.shape) for v in node.inputs]
        if any(d is None for d in dims):
            if ranks is None:
                from ..shape_rank import infer_ranks
                ranks = infer_ranks(graph)
            dims = [d if d is not None else _unknown(ranks.get(v)) for d, v in zip(dims, node.inputs)]
        if all(d is not None for d in dims):
            yield node, dims


def _unknown(rank: int | None) -> Dims | None:
    return None if rank is None else (None,) * rank


def _axis(sizes: Sequence[int | None]) -> tuple[object, int | None] | None:
    """One axis of the three operands: (its broadcast pattern, the output size), or None when they cannot broadcast.

    The pattern says which operands span the axis (None: every size is 1, the axis joins any run); an unknown
    size spans it only when the others are 1, else the axis is ``ALONE``."""
    known = [d for d in sizes if d is not None]
    big = {d for d in known if d != 1}  # a 0 is a size like any other: 1 broadcasts to it
    if len(big) > 1:
        return None
    if len(known) < len(sizes):
        if len(known) == len(sizes) - 1 and not big:
            return tuple(d is None for d in sizes), None
        return ALONE, (big.pop() if big else None)
    out = big.pop() if big else 1
    return (None if out == 1 else tuple(d == out for d in known)), out


def _groups(patterns: list[object]) -> list[list[int]]:
    """Runs of adjacent axes with one pattern (all-1 axes join any run; an ``ALONE`` axis only all-1 ones)."""
    groups: list[tuple[object, list[int]]] = []
    for axis, pattern in enumerate(patterns):
        last = groups[-1][0] if groups else ALONE
        if groups and (pattern is None or last is None or (pattern == last and pattern != ALONE)):
            groups[-1] = (last if pattern is None else pattern, groups[-1][1] + [axis])
        else:
            groups.append((pattern, [axis]))
    return [axes for _, axes in groups]


def _product(dims: Dims, axes: list[int]) -> int | None:
    sizes = [dims[a] for a in axes]
    return None if None in sizes else int(np.prod(sizes, dtype=np.int64))


def reshape_target(dims: Sequence[int | None]) -> list[int] | None:
    """``dims`` as a Reshape's constant shape (an unknown size as -1), or None when that is not one: two unknown
    sizes, or one beside a 0 (``-1`` cannot be inferred from an empty tensor's other sizes)."""
    unknown = [d for d in dims if d is None]
    if len(unknown) > 1 or (unknown and 0 in dims):
        return None
    return [-1 if d is None else int(d) for d in dims]


def merged_shapes(shapes: Sequence[Dims]) -> tuple[list[list[int]], Dims] | None:
    """Each operand's merged shape (as Reshape targets) and the output's full shape, or None when the operands
    cannot broadcast, merging leaves rank > 4, or an operand's merged shape has two unknown sizes."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    axes = [_axis(sizes) for sizes in zip(*padded)]
    if None in axes:
        return None
    groups = _groups([pattern for pattern, _ in axes])
    if len(groups) > MAX_RANK:
        return None
    targets = [reshape_target([_product(dims, g) for g in groups]) for dims in padded]
    if any(t is None for t in targets):
        return None
    return targets, tuple(size for _, size in axes)


def broadcast_dims(shapes: Sequence[Dims]) -> Dims | None:
    """The output shape of three operands (None sizes unknown), or None when they cannot broadcast."""
    rank = max(len(s) for s in shapes)
    axes = [_axis(sizes) for sizes in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes])]
    return None if None in axes else tuple(size for _, size in axes)



def _branch_dtype(node: Node) -> DType | None:
    """The branches' dtype: the first branch's own where the IR knows it (a rewrite may have set ``T`` from the
    condition: float FloorMod's select did, and bool branches made its floats round through int32), else ``T``."""
    dtype = node.inputs[1].dtype if len(node.inputs) > 1 else None
    return dtype if isinstance(dtype, DType) else node.attrs.get("T")

class LowerSelectRank(BackendGatedPass):
    """A select some target refuses at its rank (or for its bool branches) → the select at rank ≤ 4 between Reshapes."""

    name = "select_rank"
    level = 0
    # after exact_special_values, whose rewrites select at the rank of the op they replace
    after = ("batchnorm_global", "pad_rank", "binary_rank", "exact_special_values")

    def run(self, graph: Graph) -> PassResult:
        nodes = [n for n in graph.nodes if n.op in OPS and len(n.inputs) == 3 and self._candidate(n)]
        if not nodes:
            return PassResult(0)
        shapes, count = infer_shapes(graph), 0
        for node, dims in operand_dims(graph, nodes, shapes):
            if not self._selects_alike(node, dims):
                continue
            count += self._lower(graph, node, [tuple(d) for d in dims])
        return PassResult(count)

    @staticmethod
    def _candidate(node: Node) -> bool:
        """Not a select every backend runs for sure (annotated rank ≤ 4, branches not bool): spares shape inference."""
        dtype = _branch_dtype(node)
        return dtype in (None, DType.BOOL) or any(v.shape is None or len(v.shape) > MAX_RANK for v in node.inputs)

    @staticmethod
    def _selects_alike(node: Node, dims: list[Dims]) -> bool:
        """A v1 ``Select`` is a ``SelectV2`` when its condition has the branches' rank or is a scalar (a vector
        condition choosing rows is ``select_rows``'s); its branches have one shape."""
        return node.op == "SelectV2" or len(dims[0]) in (0, len(dims[1]))

    def _lower(self, graph: Graph, node: Node, dims: list[Dims]) -> int:
        dtype = _branch_dtype(node) or DType.FLOAT32
        rank = max(len(d) for d in dims)
        if not self._refused(node.op, dtype, [len(d) for d in dims], rank):
            return 0
        out = broadcast_dims(dims)
        if out is None:
            return 0
        merged = merged_shapes(dims)
        new_rank = len(merged[0][0]) if merged is not None else 1
        as_int = None
        for via in (dtype, DType.INT32) if dtype == DType.BOOL else (dtype,):
            if not self._refused("SelectV2", via, [new_rank] * 3, new_rank):
                as_int = via != dtype
                break
        if as_int is None:
            return 0
        if merged is not None:
            self._merged(graph, node, dtype, merged[0], out, as_int)
        else:
            self._flat(graph, node, dtype, dims, out, as_int)
        return 1

    def _refused(self, op: str, dtype: DType, input_ranks: list[int], rank: int) -> bool:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, BackendContract, NodeFacts, tfjs_dtype

        contract = BackendContract.load()
        branch = tfjs_dtype(dtype)
        facts = NodeFacts(op, {"T": dtype}, ["bool", branch, branch], input_ranks=input_ranks, output_ranks=[rank])
        return any(b in contract.backends and contract.reasons(facts, b) for b in self.targets or DEFAULT_TARGET_BACKENDS)

    def _merged(self, graph: Graph, node: Node, dtype: DType, targets: list[list[int]], out: Dims,
                as_int: bool) -> None:
        """Reshape each operand to its merged shape, select, Reshape to the output shape."""
        edit = _Edit(graph, node, dtype, as_int)
        merged = [edit.reshape(value, edit.ints(target, f"{label}_shape"), label,
                               tuple(None if d == -1 else d for d in target))
                  for value, target, label in zip(node.inputs, targets, ("merged_condition", "merged_t", "merged_e"))]
        target = reshape_target(out)
        shape = edit.ints(target, "shape") if target is not None else edit.output_shape()
        edit.finish(merged, shape)

    def _flat(self, graph: Graph, node: Node, dtype: DType, dims: list[Dims], out: Dims, as_int: bool) -> None:
        """Broadcast each operand to the output shape (read at run time unless known), flatten, select, Reshape
        to that shape. An operand known to have the output's shape needs no broadcast."""
        edit = _Edit(graph, node, dtype, as_int)
        known = None not in out
        shape = edit.ints(list(out), "shape") if known else edit.output_shape()
        minus_one = edit.ints([-1], "flat_shape")
        flat = []
        for value, shape_of, label in zip(node.inputs, dims, ("condition", "t", "e")):
            if not (known and tuple(shape_of) == out):
                value = graph.add_op("BroadcastTo", [value, shape], {"T": edit.dtype_of(value), "Tidx": DType.INT32},
                                     name=f"{node.name}/{label}_broadcast", dtype=edit.dtype_of(value),
                                     shape=out)
            flat.append(edit.reshape(value, minus_one, f"flat_{label}", (None,)))
        edit.finish(flat, shape)


class _Edit:
    """The nodes one select's rewrite adds, named under the select's name."""

    def __init__(self, graph: Graph, node: Node, dtype: DType, as_int: bool) -> None:
        self.graph, self.node, self.dtype, self.as_int = graph, node, dtype, as_int
        self.name = node.name

    def dtype_of(self, value: Value) -> DType:
        return DType.BOOL if value is self.node.inputs[0] else self.dtype

    def ints(self, values: list[int], label: str) -> Value:
        return self.graph.const(np.asarray(values, np.int32), name=f"{self.name}/{label}")

    def reshape(self, value: Value, shape: Value, label: str, dims: Dims) -> Value:
        dtype = self.dtype_of(value)
        return self.graph.add_op("Reshape", [value, shape], {"T": dtype, "Tshape": DType.INT32},
                                 name=f"{self.name}/{label}", dtype=dtype, shape=dims)

    def output_shape(self) -> Value:
        """``BroadcastArgs`` of the three operands' run-time shapes."""
        shapes = [self.graph.add_op("Shape", [value], {"T": self.dtype_of(value), "out_type": DType.INT32},
                                    name=f"{self.name}/{label}_shape", dtype=DType.INT32)
                  for value, label in zip(self.node.inputs, ("condition", "t", "e"))]
        both = self.graph.add_op("BroadcastArgs", shapes[:2], {"T": DType.INT32}, name=f"{self.name}/branch_shape",
                                 dtype=DType.INT32)
        return self.graph.add_op("BroadcastArgs", [both, shapes[2]], {"T": DType.INT32},
                                 name=f"{self.name}/output_shape", dtype=DType.INT32)

    def cast(self, value: Value, dtype: DType, label: str) -> Value:
        return self.graph.add_op("Cast", [value], {"SrcT": value.dtype, "DstT": dtype, "Truncate": False},
                                 name=f"{self.name}/{label}", dtype=dtype, shape=value.shape)

    def finish(self, operands: list[Value], shape: Value) -> None:
        """Select the (reshaped) operands, as int32 for bool branches if asked, and turn the node into the
        Reshape back: it keeps the select's name and output."""
        condition, t, e = operands
        dtype = self.dtype
        if self.as_int:
            t, e, dtype = self.cast(t, DType.INT32, "t_int32"), self.cast(e, DType.INT32, "e_int32"), DType.INT32
        selected = self.graph.add_op("SelectV2", [condition, t, e], {"T": dtype}, name=f"{self.name}/selected",
                                     dtype=dtype)
        if self.as_int:
            selected = self.cast(selected, DType.BOOL, "selected_bool")
        rewrite(self.node, "Reshape", [selected, shape], {"T": self.dtype, "Tshape": DType.INT32})
