"""complex64 ops TF.js has no complex kernel for → the same op on the real and the imaginary part, then ``Complex``.

TF.js 4.22's cpu backend throws on complex64 ``Pad`` ("pad does not support complex64 tensors in the CPU backend"),
``Slice``, ``StridedSlice``, ``Split``, ``Unpack``, ``Tile``, ``GatherV2``, ``ReverseV2``, ``BroadcastTo``, ``Neg``,
``Sum``, ``Cumsum``, ``AddN``, ``SelectV2``, ``Mean`` (session 28, h1's probe; webgl throws on them too). Every one of
them but ``Mean`` acts on the two parts independently (it moves, sums or negates values), so each is written as itself
twice, on ``Real(x)`` and ``Imag(x)`` (a constant input split at conversion time), joined by ``Complex``: exact.
``tf.signal`` pads complex bins with a ``Pad`` for an ``irfft`` longer than its bins.

TF's ``Complex`` broadcasts its parts; ``tf.complex`` in TF.js requires equal shapes ("real and imag shapes ... must
match": ``tf.signal.dct`` and ``mfccs_from_log_mel_spectrograms`` build a scalar real part beside a vector imaginary
one). Each part that may not have the common shape is multiplied by ``OnesLike`` of the other: the common shape, known
or not at conversion time, with every value kept bit for bit (``-0``, NaN, ±Inf; adding zeros would turn ``-0`` to
``0``). What stays complex and has no kernel (``MatMul``, ``RealDiv``, ``Prod`` ...) is refused by the backend contract.

``Exp``, ``Mul``, ``Square`` and ``Mean`` are written as TF's kernels compute them on the parts; what of them TF itself
answers differently by position in the tensor (Eigen's vector and scalar paths) is named by
:data:`~tfjsconv.ops.special_values.COMPLEX_PARTS_DEVIATIONS`.
"""
from __future__ import annotations

import weakref
from typing import Any, Sequence

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from ..ops.special_values import COMPLEX_EXP_SUFFIX, COMPLEX_MEAN_SUFFIX
from .graph_edit import const_array
from .shapes import infer_shapes

#: op -> the indices of its complex data inputs (``None``: every input); each op is linear part by part.
PARTWISE_INPUTS: dict[str, tuple[int, ...] | None] = {
    "Pad": (0,), "PadV2": (0, 2), "MirrorPad": (0,), "Slice": (0,), "StridedSlice": (0,), "Split": (1,),
    "SplitV": (0,), "Unpack": (0,), "Tile": (0,), "GatherV2": (0,), "GatherNd": (0,), "ReverseV2": (0,),
    "BroadcastTo": (0,), "Neg": (0,), "Sum": (0,), "Mean": (0,), "Cumsum": (0,), "AddN": None,
    "SelectV2": (1, 2), "Select": (1, 2), "Add": None, "AddV2": None, "Sub": None,
}
#: every op this pass writes on the parts (a complex ``Exp`` through ``exp(a) cos(b)``, ``exp(a) sin(b)``)
REWRITTEN_OPS = frozenset({*PARTWISE_INPUTS, "Exp", "Mul", "Square"})
COMPLEX_PARTS = {DType.COMPLEX64: DType.FLOAT32, DType.COMPLEX128: DType.FLOAT64}
#: the ``Complex`` nodes this pass joins parts of one shape with (never broadcast again on a later sweep)
_EQUAL_PARTS: weakref.WeakSet[Node] = weakref.WeakSet()


def _complex_dtype(node: Node) -> DType | None:
    """The complex dtype the node's type attr (``T``, ``Tparams``) names, None when its data is not complex."""
    for value in node.attrs.values():
        if isinstance(value, DType) and value in COMPLEX_PARTS:
            return value
    return None


def _join(graph: Graph, parts: Sequence[Value], dtype: DType, name: str, shape: tuple | None) -> Value:
    """``Complex(real, imag)`` of two parts of one shape, remembered as such."""
    joined = graph.add_op("Complex", list(parts), {"T": COMPLEX_PARTS[dtype], "Tout": dtype}, name=name,
                          dtype=dtype, shape=shape)
    _EQUAL_PARTS.add(joined.producer)
    return joined


def _part_of(graph: Graph, node: Node, x: Value, op: str, dtype: DType, shape: tuple | None) -> Value:
    """``Real(x)`` or ``Imag(x)``; a constant's part computed here."""
    real = COMPLEX_PARTS[dtype]
    array = const_array(x)
    if array is not None:
        part = np.real(array) if op == "Real" else np.imag(array)
        return graph.const(np.ascontiguousarray(part).astype(real.numpy), name=f"{node.name}/{op.lower()}")
    return graph.add_op(op, [x], {"T": dtype, "Tout": real}, name=f"{node.name}/{op.lower()}", dtype=real,
                        shape=shape)


def _part_node(graph: Graph, node: Node, parts: dict[int, Value], label: str, dtype: DType) -> Node:
    """A copy of ``node`` reading ``parts`` in place of its complex inputs, its type attrs the part dtype."""
    real = COMPLEX_PARTS[dtype]
    attrs = {key: real if value == dtype else value for key, value in node.attrs.items()}
    inputs = [parts.get(index, value) for index, value in enumerate(node.inputs)]
    copy = graph.add_node(node.op, inputs, attrs, name=f"{node.name}/{label}", num_outputs=len(node.outputs),
                          control_inputs=node.control_inputs)
    for value in copy.outputs:
        value.dtype = real
    return copy


def split_partwise(graph: Graph, node: Node, dtype: DType, shapes: dict) -> None:
    """``node`` as itself on the real and on the imaginary parts, each output joined again by ``Complex``."""
    chosen = PARTWISE_INPUTS[node.op]
    indices = range(len(node.inputs)) if chosen is None else [i for i in chosen if i < len(node.inputs)]
    halves = []
    for op in ("Real", "Imag"):
        parts = {i: _part_of(graph, node, node.inputs[i], op, dtype, shapes.get(node.inputs[i])) for i in indices}
        halves.append(_part_node(graph, node, parts, op.lower(), dtype))
    for value in list(node.outputs):
        shape = shapes.get(value) or value.shape
        for half in halves:
            half.outputs[value.index].shape = shape
        parts = [half.outputs[value.index] for half in halves]
        graph.replace_all_uses(value, _join(graph, parts, dtype, f"{node.name}/complex_{value.index}", shape))


def _covers(shape: Sequence | None, other: Sequence | None) -> bool:
    """Whether ``shape`` is known to be the broadcast of itself and ``other`` (no part of it grows)."""
    if shape is None or other is None or len(other) > len(shape):
        return False
    for size, against in zip(reversed(shape), reversed(other)):
        if against == 1 or (size is not None and size >= 0 and size == against):
            continue
        return False
    return True


def _twins(a: Value, b: Value, depth: int = 8) -> bool:
    """Whether ``a`` and ``b`` have one shape by construction: the same op over the same inputs, or over the two parts
    of one value (``Real(z)``/``Imag(z)``, a constant's two parts), as :func:`split_partwise` makes them."""
    if a is b:
        return True
    x, y = a.producer, b.producer
    if {x.op, y.op} <= {"Real", "Imag"}:
        return x.inputs == y.inputs
    if depth == 0 or a.index != b.index or x.op != y.op or len(x.inputs) != len(y.inputs):
        return False
    if x.op == "Const":
        first, second = const_array(a), const_array(b)
        if first is None or second is None or first.shape != second.shape:
            return False  # a float constant's shape is what counts, an integer one (sizes, axes) its values too
        return (first.dtype.kind == "f" and second.dtype.kind == "f") or bool(np.array_equal(first, second))
    return all(_twins(p, q, depth - 1) for p, q in zip(x.inputs, y.inputs))


def _broadcast_already(part: Value) -> bool:
    """Whether ``part`` is this pass's ``Mul(part, OnesLike(other))`` (a second run must not grow it again)."""
    producer = part.producer
    return producer.op == "Mul" and len(producer.inputs) == 2 and producer.inputs[1].producer.op == "OnesLike"


def broadcast_parts(graph: Graph, node: Node, shapes: dict) -> bool:
    """A ``Complex`` whose parts may differ in shape: each part that may not have the common one multiplied by
    ``OnesLike`` of the other (TF broadcasts them; TF.js's ``tf.complex`` requires equal shapes)."""
    real, imag = node.inputs[:2]
    real_shape, imag_shape = shapes.get(real) or real.shape, shapes.get(imag) or imag.shape
    if node in _EQUAL_PARTS or _twins(real, imag):
        return False
    grow = [(0, real, imag) if not _covers(real_shape, imag_shape) and not _broadcast_already(real) else None,
            (1, imag, real) if not _covers(imag_shape, real_shape) and not _broadcast_already(imag) else None]
    part_dtype = node.attrs.get("T", DType.FLOAT32)
    for index, part, other in filter(None, grow):
        ones = graph.add_op("OnesLike", [other], {"T": part_dtype}, name=f"{node.name}/ones_{index}",
                            dtype=part_dtype)
        node.inputs[index] = graph.add_op("Mul", [part, ones], {"T": part_dtype}, name=f"{node.name}/broadcast_{index}",
                                          dtype=part_dtype)
    return any(grow)


def _binary(graph: Graph, op: str, x: Value, y: Value, dtype: DType, name: str) -> Value:
    return graph.add_op(op, [x, y], {"T": dtype}, name=name, dtype=dtype)


def _unary(graph: Graph, op: str, x: Value, dtype: DType, name: str, out: DType | None = None) -> Value:
    return graph.add_op(op, [x], {"T": dtype}, name=name, dtype=out or dtype)


def _infinite_corner(graph: Graph, a: Value, b: Value, real: DType, name: str) -> tuple[Value, Value, Value]:
    """Where ``a`` is ±Inf and ``b`` is not finite, TF's ``(inf, NaN)`` for +Inf and ``(0, 0)`` for -Inf (C's cexp
    table up to signs: the signs TF gives there depend on the element's position, the notice names them)."""
    zeros = _unary(graph, "ZerosLike", a, real, f"{name}/zeros")
    turned_nowhere = _binary(graph, "Mul", b, zeros, real, f"{name}/b_times_0")  # NaN where b is ±Inf or NaN
    corner = graph.add_op("LogicalAnd", [_unary(graph, "IsInf", a, real, f"{name}/a_inf", DType.BOOL),
                                         _unary(graph, "IsNan", turned_nowhere, real, f"{name}/b_not_finite",
                                                DType.BOOL)], {}, name=f"{name}/corner", dtype=DType.BOOL)
    growing = _binary(graph, "Greater", a, zeros, real, f"{name}/a_positive")
    growing.dtype = DType.BOOL
    real_corner = graph.add_op("SelectV2", [growing, a, zeros], {"T": real}, name=f"{name}/corner_real", dtype=real)
    return corner, real_corner, _binary(graph, "Mul", real_corner, zeros, real, f"{name}/corner_imag")


def exp_of_parts(graph: Graph, node: Node, dtype: DType, shapes: dict) -> None:
    """A complex ``Exp``: ``exp(a + ib) = exp(a) cos(b) + i exp(a) sin(b)``, and ``b`` itself as the imaginary part
    where ``b`` is ±0 (TF's kernel: ``exp(a + 0i)`` is ``(inf, 0)`` past float overflow, not ``inf·0 = NaN``), and
    TF's answers for an infinite ``a`` beside a non-finite ``b``."""
    real = COMPLEX_PARTS[dtype]
    x, out, name = node.inputs[0], node.outputs[0], node.name
    a, b = (_part_of(graph, node, x, op, dtype, shapes.get(x)) for op in ("Real", "Imag"))
    scale = graph.add_op("Exp", [a], {"T": real}, name=f"{name}{COMPLEX_EXP_SUFFIX}", dtype=real)
    rotated_real, rotated = (_binary(graph, "Mul", scale, _unary(graph, op, b, real, f"{name}/{op.lower()}"), real,
                                     f"{name}/{label}") for op, label in (("Cos", "rotated_real"), ("Sin", "rotated")))
    zero = graph.const(np.zeros((), real.numpy), name=f"{name}/zero")
    unturned = _binary(graph, "Equal", b, zero, real, f"{name}/unturned")
    unturned.dtype = DType.BOOL
    imag = graph.add_op("SelectV2", [unturned, b, rotated], {"T": real}, name=f"{name}/imag", dtype=real)
    corner, real_corner, imag_corner = _infinite_corner(graph, a, b, real, name)
    parts = [graph.add_op("SelectV2", [corner, edge, value], {"T": real}, name=f"{name}/{label}", dtype=real)
             for edge, value, label in ((real_corner, rotated_real, "real_part"), (imag_corner, imag, "imag_part"))]
    graph.replace_all_uses(out, _join(graph, parts, dtype, f"{name}/complex", out.shape))


def _empty_input(graph: Graph, part: Value, zeros: Value, real: DType, name: str) -> Value:
    """Whether ``part`` holds no value, as a bool tensor of the shape of ``zeros`` (TF.js 4.22's ``where`` of a scalar
    condition and an empty branch answers shape [1], so the condition takes the branch's shape)."""
    size = graph.add_op("Size", [part], {"T": real, "out_type": DType.INT32}, name=f"{name}/size", dtype=DType.INT32,
                        shape=())
    count = graph.add_op("Cast", [size], {"SrcT": DType.INT32, "DstT": real, "Truncate": False}, name=f"{name}/count",
                         dtype=real, shape=())
    counts = _binary(graph, "AddV2", zeros, count, real, f"{name}/counts")
    empty = _binary(graph, "Equal", counts, graph.const(np.zeros((), real.numpy), name=f"{name}/none"), real,
                    f"{name}{COMPLEX_MEAN_SUFFIX}")
    empty.dtype = DType.BOOL
    return empty


def mean_of_parts(graph: Graph, node: Node, dtype: DType, shapes: dict) -> None:
    """A complex ``Mean`` as TF's kernel: the sum divided by ``complex(n, 0)`` gives ``((a + b·0)/n, (b - a·0)/n)``
    (an Inf or NaN in one part makes the other NaN), the input itself where nothing is reduced (TF copies it), and
    ``0 + 0i`` over an empty axis (TF fills an empty reduction with the complex identity; the float ``Mean`` of a
    part gives NaN)."""
    real = COMPLEX_PARTS[dtype]
    x, out, name = node.inputs[0], node.outputs[0], node.name
    parts = [_part_of(graph, node, x, op, dtype, shapes.get(x)) for op in ("Real", "Imag")]
    means = []
    for op, part in zip(("Real", "Imag"), parts):
        half = _part_node(graph, node, {0: part}, op.lower(), dtype)
        half.outputs[0].shape = shapes.get(out) or out.shape
        means.append(half.outputs[0])
    zero = graph.const(np.zeros((), real.numpy), name=f"{name}/zero")
    zeros = graph.add_op("ZerosLike", [means[0]], {"T": real}, name=f"{name}/zeros", dtype=real)
    empty = _empty_input(graph, parts[0], zeros, real, name)
    ma, mb = means
    poisoned = [_binary(graph, "AddV2", ma, _binary(graph, "Mul", mb, zero, real, f"{name}/b0"), real, f"{name}/re"),
                _binary(graph, "Sub", mb, _binary(graph, "Mul", ma, zero, real, f"{name}/a0"), real, f"{name}/im")]
    copied = _nothing_reduced(graph, parts[0], ma, zeros, real, name)
    shape = shapes.get(out) or out.shape
    joined = [graph.add_op("SelectV2", [empty, zeros, graph.add_op(
        "SelectV2", [copied, _copied_part(graph, node, part, label, dtype, shape), value], {"T": real},
        name=f"{name}/{label}_or_copied", dtype=real, shape=shape)], {"T": real}, name=f"{name}/{label}", dtype=real,
        shape=shape) for part, value, label in zip(parts, poisoned, ("real_part", "imag_part"))]
    graph.replace_all_uses(out, _join(graph, joined, dtype, f"{name}/complex", shape))


def _copied_part(graph: Graph, node: Node, part: Value, label: str, dtype: DType, shape: Any) -> Value:
    """``part`` as the ``Mean`` shapes it where it reduces nothing: a ``Max`` over the same axes (over one value it is
    that value, ``-0`` and NaN kept, where TF.js's float ``Mean`` sums from +0 and gives +0 for ``-0``)."""
    real = COMPLEX_PARTS[dtype]
    attrs = {key: real if value == dtype else value for key, value in node.attrs.items()}
    copy = graph.add_node("Max", [part, *node.inputs[1:]], attrs, name=f"{node.name}/{label}_copied", num_outputs=1)
    copy.outputs[0].dtype, copy.outputs[0].shape = real, shape
    return copy.outputs[0]


def _nothing_reduced(graph: Graph, part: Value, mean: Value, zeros: Value, real: DType, name: str) -> Value:
    """Whether the ``Mean`` reduced nothing (axes of size 1, no axes: as many values out as in), as a bool tensor of
    the shape of ``zeros``: TF copies its input there, dividing by nothing (R9: ``inf + 1i`` stays so, not
    ``inf + NaN i``)."""
    sizes = [graph.add_op("Size", [v], {"T": real, "out_type": DType.INT32}, name=f"{name}/{label}_size",
                          dtype=DType.INT32, shape=()) for v, label in ((part, "input"), (mean, "output"))]
    gap = graph.add_op("Cast", [_binary(graph, "Sub", *sizes, DType.INT32, f"{name}/size_gap")],
                       {"SrcT": DType.INT32, "DstT": real, "Truncate": False}, name=f"{name}/gap", dtype=real, shape=())
    copied = _binary(graph, "Equal", _binary(graph, "AddV2", zeros, gap, real, f"{name}/gaps"),
                     graph.const(np.zeros((), real.numpy), name=f"{name}/no_gap"), real, f"{name}/copied")
    copied.dtype = DType.BOOL
    return copied


def product_of_parts(graph: Graph, node: Node, dtype: DType, shapes: dict) -> None:
    """A complex ``Mul`` (``Square``: ``x·x``): ``(a + ib)(c + id) = (ac - bd) + i(ad + bc)`` on float parts, which
    broadcast as TF's complex product does (TF.js's cpu complex ``Mul``/``Add``/``Sub`` answer NaN past the first row
    of a broadcast operand, silently)."""
    real = COMPLEX_PARTS[dtype]
    x = node.inputs[0]
    y = x if node.op == "Square" else node.inputs[1]
    a, b = (_part_of(graph, node, x, op, dtype, shapes.get(x)) for op in ("Real", "Imag"))
    c, d = (a, b) if y is x else (_part_of(graph, node, y, op, dtype, shapes.get(y)) for op in ("Real", "Imag"))
    name = node.name
    real_part = _binary(graph, "Sub", _binary(graph, "Mul", a, c, real, f"{name}/ac"),
                        _binary(graph, "Mul", b, d, real, f"{name}/bd"), real, f"{name}/real_part")
    imag_part = _binary(graph, "AddV2", _binary(graph, "Mul", a, d, real, f"{name}/ad"),
                        _binary(graph, "Mul", b, c, real, f"{name}/bc"), real, f"{name}/imag_part")
    out = node.outputs[0]
    graph.replace_all_uses(out, _join(graph, [real_part, imag_part], dtype, f"{name}/complex", out.shape))


#: ops written as TF's complex kernel computes them, not as themselves on each part
_KERNEL_REWRITES = {"Exp": exp_of_parts, "Mean": mean_of_parts, "Mul": product_of_parts, "Square": product_of_parts}


class ComplexParts(Pass):
    """complex64 ops TF.js runs only on float parts, and ``Complex`` of parts of different shapes, made runnable."""

    name = "complex_parts"
    level = 0
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        splits = [(n, d) for n in graph.nodes if n.op in REWRITTEN_OPS and (d := _complex_dtype(n))]
        complexes = [n for n in graph.nodes if n.op == "Complex" and len(n.inputs) >= 2]
        if not splits and not complexes:
            return PassResult(0)
        shapes = infer_shapes(graph)
        for node, dtype in splits:
            _KERNEL_REWRITES.get(node.op, split_partwise)(graph, node, dtype, shapes)
            graph.remove_node(node)
        count = len(splits) + sum(broadcast_parts(graph, node, shapes) for node in complexes)
        return PassResult(count)
