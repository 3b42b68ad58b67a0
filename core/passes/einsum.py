"""``Einsum`` as Transpose/Reshape/BatchMatMulV2/Sum: TF.js's own Einsum kernel is missing on wasm.

:func:`lower_einsum` is the one lowering, used by this pass (TF graphs: Keras ``MultiHeadAttention``,
``EinsumDense``) and by the ONNX frontend. It builds nodes through a small builder (``op``, ``ints``,
``make_const``), so each caller names and types them its own way (:func:`lower_einsum_chain`: three or more
operands, ONNX's, as a chain of two-operand steps). Supported: one or two operands,
an ellipsis (known ranks), labels summed away, repeated labels within an operand (the diagonal,
masked with an identity matrix) and batch labels (kept as BatchMatMulV2 batch dims). Unknown sizes
are fine (reshapes use ``-1``, or a shape computed at run time when another size is unknown or a
known one is 0: TF.js cannot infer ``-1`` over 0 elements) as long as a label shared by the operands has
the same size in both, or is unknown in both: a size against an unknown one may be a broadcast (size 1),
which the reshapes would silently get wrong. Anything else is left alone (None).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Shape, Value
from . import Pass, PassResult
from .batch_matmul_broadcast import mark_handled
from .graph_edit import attr_text, rewrite
from .half_rounding import mark_several_steps


class Builder(Protocol):
    """What :func:`lower_einsum` needs from its caller (the ONNX frontend's NodeContext is one)."""

    def op(self, op: str, inputs: Sequence[Value], attrs: dict[str, Any] | None = None, *,
           dtype: DType | None = None, label: str | None = None) -> Value: ...

    def ints(self, values: Sequence[int], *, label: str = "ints") -> Value: ...

    def make_const(self, value: Any, *, label: str = "const") -> Value: ...


class GraphBuilder:
    """A :class:`Builder` adding nodes named ``<name>/<label>`` to an IR graph."""

    def __init__(self, graph: Graph, name: str) -> None:
        self.graph, self.name = graph, name
        #: the ops added, for the caller to mark (a float16 einsum's)
        self.made: list[Value] = []

    def op(self, op: str, inputs: Sequence[Value], attrs: dict[str, Any] | None = None, *,
           dtype: DType | None = None, label: str | None = None) -> Value:
        value = self.graph.add_op(op, inputs, attrs, name=f"{self.name}/{label or op}",
                                  dtype=dtype or inputs[0].dtype)
        self.made.append(value)
        return value

    def ints(self, values: Sequence[int], *, label: str = "ints") -> Value:
        return self.graph.const(np.asarray(list(values), np.int32), name=f"{self.name}/{label}")

    def make_const(self, value: Any, *, label: str = "const") -> Value:
        return self.graph.const(np.asarray(value), name=f"{self.name}/{label}")


def parse_equation(equation: str, ranks: Sequence[int | None]) -> tuple[list[str], str] | None:
    """(input terms, output term) with an ellipsis spelled out as fresh upper-case labels, or None."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        return None
    fresh = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
    widest = 0
    spelled = []
    for term, rank in zip(terms, ranks):
        if "..." in term:
            if rank is None:
                return None
            n = rank - (len(term) - 3)
            if n < 0 or n > len(fresh):
                return None
            widest = max(widest, n)
            term = term.replace("...", "".join(fresh[len(fresh) - n:]) if n else "")
        if not term.isalpha() or (rank is not None and len(term) != rank):
            return None
        spelled.append(term)
    ellipsis = "".join(fresh[len(fresh) - widest:]) if widest else ""
    if not arrow:
        seen = "".join(t for t in spelled)
        out = ellipsis + "".join(sorted(c for c in set(seen) if seen.count(c) == 1 and c not in ellipsis))
    out = out.replace("...", ellipsis)
    if not out.isalpha() and out or len(set(out)) != len(out) or any(c not in "".join(spelled) for c in out):
        return None
    return spelled, out


class _Lowering:
    def __init__(self, b: Builder, dtype: DType | None) -> None:
        self.b = b
        self.t = {"T": dtype} if dtype is not None else {}
        self.size: dict[str, int | None] = {}
        #: label -> (value, axis) where its size can be read at run time
        self.source: dict[str, tuple[Value, int]] = {}

    def note(self, value: Value, term: str, shape: Shape) -> bool:
        for axis, c in enumerate(term):
            d = None if shape is None else shape[axis]
            known = self.size.get(c)
            if c in self.size and d != known:
                # a size against another (or an unknown one, which may be 1) can be a broadcast (numpy and
                # ONNX broadcast any label, TF the ellipsis ones), which the reshapes would get wrong: not handled
                return False
            if known is None:
                self.size[c] = d
            self.source.setdefault(c, (value, axis))
        return True

    def diagonal(self, value: Value, term: str, label: str) -> tuple[Value, str] | None:
        """Remove repeated labels: multiply by an identity mask, sum the second occurrence away."""
        while len(set(term)) != len(term):
            c = next(c for c in term if term.count(c) > 1)
            n = self.size.get(c)
            if n is None:
                return None
            p, q = term.index(c), term.index(c, term.index(c) + 1)
            shape = [1] * len(term)
            shape[p] = shape[q] = n
            dtype = self.t["T"].numpy if self.t else np.float32
            mask = self.b.make_const(np.eye(n, dtype=dtype).reshape(shape), label=f"{label}/eye_{c}")
            value = self.b.op("Mul", [value, mask], dict(self.t), label=f"{label}/diag_{c}")
            value = self.b.op("Sum", [value, self.b.ints([q], label=f"{label}/diag_axes_{c}")],
                              {**self.t, "keep_dims": False, "Tidx": DType.INT32}, label=f"{label}/diag_sum_{c}")
            term = term[:q] + term[q + 1:]
        return value, term

    def summed(self, value: Value, term: str, keep: set[str], label: str) -> tuple[Value, str]:
        drop = [i for i, c in enumerate(term) if c not in keep]
        if not drop:
            return value, term
        value = self.b.op("Sum", [value, self.b.ints(drop, label=f"{label}/axes")],
                          {**self.t, "keep_dims": False, "Tidx": DType.INT32}, label=label)
        return value, "".join(c for c in term if c in keep)

    def transposed(self, value: Value, term: str, order: str, label: str) -> Value:
        if term == order:
            return value
        return self.b.op("Transpose", [value, self.b.ints([term.index(c) for c in order], label=f"{label}/perm")],
                         {**self.t, "Tperm": DType.INT32}, label=label)

    def group_sizes(self, groups: list[list[str]]) -> list[int | None]:
        """The product of the sizes of each group (None: one of them is unknown here)."""
        sizes = [[self.size[c] for c in group] for group in groups]
        return [int(np.prod(s, dtype=np.int64)) if None not in s else None for s in sizes]

    def shape_value(self, groups: list[list[str]], label: str) -> Value:
        """A shape vector whose entry i is the product of the sizes of ``groups[i]``."""
        dims = self.group_sizes(groups)
        if None not in dims or (dims.count(None) == 1 and 0 not in dims):
            # -1 only where the known sizes hold elements: TF.js cannot infer it over 0 elements
            return self.b.ints([-1 if d is None else d for d in dims], label=label)
        pieces = []
        for i, (group, d) in enumerate(zip(groups, dims)):
            if d is not None:
                pieces.append(self.b.ints([d], label=f"{label}/{i}"))
                continue
            sizes = []
            for c in group:
                src, axis = self.source[c]
                shape = self.b.op("Shape", [src], {"T": src.dtype, "out_type": DType.INT32},
                                  dtype=DType.INT32, label=f"{label}/{i}{c}_shape")
                sizes.append(self.b.op("StridedSlice", [shape, self.b.ints([axis], label=f"{label}/{i}{c}_begin"),
                                                        self.b.ints([axis + 1], label=f"{label}/{i}{c}_end"),
                                                        self.b.ints([1], label=f"{label}/{i}{c}_strides")],
                                       {"T": DType.INT32, "Index": DType.INT32, "begin_mask": 0, "end_mask": 0,
                                        "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0},
                                       label=f"{label}/{i}{c}"))
            piece = sizes[0]
            for k, other in enumerate(sizes[1:]):
                piece = self.b.op("Mul", [piece, other], {"T": DType.INT32}, label=f"{label}/{i}_mul{k}")
            pieces.append(piece)
        return self.b.op("ConcatV2", [*pieces, self.b.ints([0], label=f"{label}/axis")],
                         {"T": DType.INT32, "N": len(pieces), "Tidx": DType.INT32}, label=label)

    def reshaped(self, value: Value, groups: list[list[str]], label: str, *, force: bool = False) -> Value:
        if not force and all(len(g) == 1 for g in groups):
            return value  # already this shape
        out = self.b.op("Reshape", [value, self.shape_value(groups, f"{label}/shape")],
                        {**self.t, "Tshape": DType.INT32}, label=label)
        if out.shape is None:  # a run-time shape: keep the known sizes (a known 0 tells empty_reductions)
            out.shape = tuple(self.group_sizes(groups))
        return out


def lower_einsum(b: Builder, equation: str, values: Sequence[Value], shapes: Sequence[Shape], *,
                 labels_match: bool = False) -> Value | None:
    """``einsum(equation, *values)`` built from TF.js ops through ``b``; None if it cannot be lowered.

    ``labels_match``: the caller's einsum requires a label to have one size in both operands (TF's: only
    ellipsis dims broadcast), so without an ellipsis the BatchMatMul's batch dims are equal at run time and
    ``batch_matmul_broadcast`` leaves it alone. ONNX's (numpy's) einsum broadcasts any label of size 1: not
    passed there, the matmul keeps that pass's exact criterion."""
    parsed = parse_equation(equation, [None if s is None else len(s) for s in shapes])
    if parsed is None or len(values) not in (1, 2):
        return None
    terms, out = parsed
    low = _Lowering(b, values[0].dtype)
    if not all(low.note(v, t, s) for v, t, s in zip(values, terms, shapes)):
        return None
    arranged = []
    for i, (value, term) in enumerate(zip(values, terms)):
        label = "ab"[i]
        diag = low.diagonal(value, term, label)
        if diag is None:
            return None
        others = set(out).union(*(set(t) for j, t in enumerate(terms) if j != i))
        arranged.append(low.summed(*diag, others, f"sum_{label}"))
    if len(arranged) == 1:
        value, term = arranged[0]
        return low.transposed(value, term, out, "transpose") if term != out else value
    (a, ta), (bv, tb) = arranged
    batch = [c for c in ta if c in tb and c in out]
    contract = [c for c in ta if c in tb and c not in out]
    a_free = [c for c in ta if c not in tb]
    b_free = [c for c in tb if c not in ta]
    a3 = low.reshaped(low.transposed(a, ta, "".join(batch + a_free + contract), "a"),
                      [[c] for c in batch] + [a_free, contract], "a_3d")
    b3 = low.reshaped(low.transposed(bv, tb, "".join(batch + contract + b_free), "b"),
                      [[c] for c in batch] + [contract, b_free], "b_3d")
    product = b.op("BatchMatMulV2", [a3, b3], {**low.t, "adj_x": False, "adj_y": False}, label="matmul")
    if labels_match and "..." not in equation:
        mark_handled(product)
    order = batch + a_free + b_free
    result = low.reshaped(product, [[c] for c in order], "unflatten", force=True) \
        if (len(a_free) != 1 or len(b_free) != 1) else product
    return low.transposed(result, "".join(order), out, "out_transpose")


class _Prefixed:
    """A :class:`Builder` whose labels start with ``prefix``: the steps of a chain name their nodes apart."""

    def __init__(self, b: Builder, prefix: str) -> None:
        self.b, self.prefix = b, prefix

    def op(self, op: str, inputs: Sequence[Value], attrs: dict[str, Any] | None = None, *,
           dtype: DType | None = None, label: str | None = None) -> Value:
        return self.b.op(op, inputs, attrs, dtype=dtype, label=f"{self.prefix}/{label or op}")

    def ints(self, values: Sequence[int], *, label: str = "ints") -> Value:
        return self.b.ints(values, label=f"{self.prefix}/{label}")

    def make_const(self, value: Any, *, label: str = "const") -> Value:
        return self.b.make_const(value, label=f"{self.prefix}/{label}")


def _elements(term: str, size: dict[str, int | None]) -> float:
    """How many elements a tensor of ``term`` holds (an unknown size counts as large: 2**16)."""
    return float(np.prod([2.0 ** 16 if size[c] is None else float(size[c]) for c in term]))


def _cheapest_pair(terms: Sequence[str], out: str, size: dict[str, int | None]) -> tuple[int, int, str]:
    """The two operands to contract next and the labels their product keeps: the pair whose product is the
    smallest (then the fewest multiplications); a label no other operand nor the output uses is summed there."""
    best: tuple[tuple[float, float, int, int], int, int, str] | None = None
    for i in range(len(terms)):
        for j in range(i + 1, len(terms)):
            needed = set(out).union(*(set(t) for k, t in enumerate(terms) if k not in (i, j)))
            kept = "".join(c for c in dict.fromkeys(terms[i] + terms[j]) if c in needed)
            work = _elements("".join(dict.fromkeys(terms[i] + terms[j])), size)
            key = (_elements(kept, size), work, i, j)
            if best is None or key < best[0]:
                best = (key, i, j, kept)
    assert best is not None
    return best[1], best[2], best[3]


def lower_einsum_chain(b: Builder, equation: str, values: Sequence[Value], shapes: Sequence[Shape]) -> Value | None:
    """``einsum(equation, *values)`` of any number of operands (ONNX's, numpy's); None if it cannot be lowered.

    Three or more operands become a chain of two-operand :func:`lower_einsum` steps, the cheapest pair first
    (:func:`_cheapest_pair`), each summing the labels no later operand nor the output needs. Every label must have
    one size across all operands (or be unknown in all), as :func:`lower_einsum` asks of two."""
    if len(values) <= 2:
        return lower_einsum(b, equation, values, shapes)
    parsed = parse_equation(equation, [None if s is None else len(s) for s in shapes])
    if parsed is None:
        return None
    terms, out = parsed
    sizes = _Lowering(b, values[0].dtype)
    if not all(sizes.note(v, t, s) for v, t, s in zip(values, terms, shapes)):
        return None
    operands: list[tuple[Value, str, Shape]] = list(zip(values, terms, shapes))
    for step in range(len(values) - 1):
        last = len(operands) == 2
        i, j, kept = (0, 1, out) if last else _cheapest_pair([t for _, t, _ in operands], out, sizes.size)
        (va, ta, sa), (vb, tb, sb) = operands[i], operands[j]
        value = lower_einsum(_Prefixed(b, f"step{step}"), f"{ta},{tb}->{kept}", [va, vb], [sa, sb])
        if value is None:
            return None
        shape = tuple(sizes.size[c] for c in kept)
        operands = [o for k, o in enumerate(operands) if k not in (i, j)] + [(value, kept, shape)]
    return operands[0][0]


class LowerEinsum(Pass):
    """``Einsum`` → Transpose/Reshape/BatchMatMulV2/Sum (see :func:`lower_einsum`)."""

    name = "lower_einsum"
    level = 0
    after = ("inline_functions",)

    def run(self, graph: Graph) -> PassResult:
        from .shapes import infer_shapes

        einsums = [n for n in graph.nodes if n.op == "Einsum"]
        if not einsums:
            return PassResult(0)
        shapes, lowered = infer_shapes(graph), 0
        for node in einsums:
            equation = attr_text(node, "equation", "")
            builder = GraphBuilder(graph, node.name + "/einsum")
            # TF's einsum (and the Keras lowering's, which spells an ellipsis out only where it cannot
            # broadcast past a leading dim) requires equal sizes for a label: see ``labels_match``
            result = lower_einsum(builder, equation, node.inputs, [shapes.get(v, v.shape) for v in node.inputs],
                                  labels_match=True)
            if result is None:
                continue
            if node.attrs.get("T") == DType.FLOAT16:
                # TF sums a float16 Einsum in float16 steps, unlike the BatchMatMulV2 it becomes: keep it named
                for value in builder.made:
                    mark_several_steps(value.producer)
            # the Einsum becomes an Identity of the result: its name (a graph output's, maybe) lives on
            # until remove_identity hands it to the result's producer
            rewrite(node, "Identity", [result], {"T": node.attrs["T"]} if "T" in node.attrs else {})
            lowered += 1
        return PassResult(lowered)
