"""The static shapes TensorFlow's trace of a Keras 3 model knows, followed over the lowered IR graph.

Keras 3's TensorFlow backend picks the axis of some biases from the sizes known as the graph is traced
(:func:`.core.keras3_traced_bias_axis`). Those are the lowering's own static sizes except where TensorFlow's shape
inference knows more (a broadcast or a concatenation merging a known size in from another input) or less (a dilated
2-D/3-D convolution over an unknown spatial size, run through ``space_to_batch``); :func:`traced_shape` follows both
op by op, as TensorFlow infers them, and says where it cannot.
"""
from __future__ import annotations

import dataclasses
import re
import weakref
from typing import Any

import numpy as np

from tfjsconv.ir import Value
from tfjsconv.passes.graph_edit import attr_text, const_array
from tfjsconv.passes.shapes import ELEMENTWISE_BINARY, ELEMENTWISE_UNARY, broadcast
from tfjsconv.passes.shapes import RULES as SHAPE_RULES

#: A two-operand Einsum of plain labels (what EinsumDense and attention lower to).
_EINSUM_EQUATION = re.compile(r"^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$")

Shape = tuple  # of int | None


@dataclasses.dataclass(frozen=True)
class Traced:
    """TensorFlow's trace-time static shape of a lowered value (None: rank unknown), with where it departs from
    the lowering's own (``origins``: ``("merged" | "lost", op)``, first of each kind) or the op the lowering cannot
    follow a departed shape through (``untold``; then ``shape`` means nothing)."""
    shape: Shape | None
    origins: tuple[tuple[str, str], ...] = ()
    untold: str | None = None


#: Ops whose TensorFlow shape function broadcasts its inputs' sizes (a size unknown in one, known in another, is known).
BROADCASTING_OPS = frozenset("""
AddV2 Add Sub Mul RealDiv Div DivNoNan FloorDiv FloorMod Maximum Minimum Pow SquaredDifference Atan2 Mod TruncateDiv
Less LessEqual Greater GreaterEqual Equal NotEqual LogicalAnd LogicalOr SelectV2
""".split())
#: Ops whose TensorFlow shape function merges the same axis of all inputs (ConcatV2: all but the joined one).
MERGING_OPS = frozenset(("ConcatV2", "Pack", "AddN", "Select"))
#: Convolutions whose dilated form TensorFlow runs through ``space_to_batch`` (:func:`_conv_shape`).
CONVOLUTIONS = frozenset(("Conv2D", "DepthwiseConv2dNative", "Conv3D"))

#: Per graph being lowered, the traced shape of each value looked at (values are not reshaped once made).
_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def traced_shape(value: Value) -> Traced:
    """The static shape TensorFlow's trace of the Keras 3 model knows for ``value``: the lowering's own, except that
    TensorFlow's shape inference merges sizes a broadcast or a concatenation brings in from another input (``[B, 3,
    None] + [B, 3, 4]`` is ``[B, 3, 4]``; the lowering leaves it unknown), and that a dilated 2-D/3-D convolution
    over an unknown spatial size runs through ``space_to_batch`` and knows none of its spatial sizes (the lowering
    knows those its input does); what follows is followed op by op as TensorFlow infers it."""
    memo = _TRACED.setdefault(value.producer.graph, {})
    stack = [value.producer]
    while stack:
        node = stack[-1]
        if node.outputs and node.outputs[0] in memo:
            stack.pop()
            continue
        missing = [v.producer for v in node.inputs if v not in memo]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        for out, traced in zip(node.outputs, _traced_outputs(node, [memo[v] for v in node.inputs])):
            memo[out] = traced
    return memo.get(value) or Traced(own_shape(value))


def own_shape(value: Value) -> Shape | None:
    """The lowering's own static shape of ``value`` (None: rank unknown)."""
    return None if value.shape is None else tuple(value.shape)


def _traced_outputs(node: Any, ins: list[Traced]) -> list[Traced]:
    """Each output's :class:`Traced` from its inputs'."""
    own = [own_shape(v) for v in node.outputs]
    data = [(t, v) for t, v in zip(ins, node.inputs) if not _is_vector(v)]
    untold = next((t for t, _ in data if t.untold), None)
    if untold is not None:
        return [untold] * len(own)
    origins: dict[str, str] = {}
    for t, _ in data:
        for kind, op in t.origins:
            origins.setdefault(kind, op)
    ins = [t if t.untold is None else Traced(own_shape(v)) for t, v in zip(ins, node.inputs)]
    departed = any(t.shape != own_shape(v) for t, v in data)
    gained_only = all(_knows_at_least(t.shape, own_shape(v)) for t, v in data)
    named = f"{node.op} {node.name!r}"
    try:
        shapes = _tf_shapes(node, [t.shape for t in ins], own, departed)
    except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, AttributeError):
        shapes = None
    forgets = node.op in CONVOLUTIONS and bool(ins) and _forgets(node, ins[0].shape)
    if node.op in BROADCASTING_OPS | MERGING_OPS:
        origins.setdefault("merged", named)  # kept only if its sizes depart from the lowering's (or are untold)
    elif forgets:
        origins.setdefault("lost", named)
        gained_only = False  # what the lowering knows of its output, TensorFlow does not
    if shapes is None or len(shapes) != len(own):
        return [Traced(None, tuple(origins.items()), named)] * len(own)
    result = []
    for shape, mine in zip(shapes, own):
        if gained_only and shape is not None and mine is not None and len(shape) == len(mine):
            shape = tuple(s if s is not None else m for s, m in zip(shape, mine))
        if (shape is None) != (mine is None) or (shape is not None and len(shape) != len(mine)):
            result.append(Traced(None, tuple(origins.items()), named))
            continue
        kinds = dict(t for t in origins.items() if departed or shape != mine)
        result.append(Traced(shape, tuple(kinds.items())))
    return result


def _is_vector(value: Value) -> bool:
    """A scalar or vector (a shape, an axis, a bias): its own sizes tell nothing of the data tensors whose sizes the
    traced shapes follow (a runtime shape the lowering builds reshapes to the sizes it annotates)."""
    return value.shape is not None and len(value.shape) <= 1


def _knows_at_least(a: Shape | None, b: Shape | None) -> bool:
    """Whether shape ``a`` knows every size ``b`` knows (and the same)."""
    if b is None:
        return True
    return a is not None and len(a) == len(b) and all(y is None or x == y for x, y in zip(a, b))


def _tf_shapes(node: Any, ins: list[Shape | None], own: list[Shape | None], departed: bool) -> list | None:
    """TensorFlow's shape inference of ``node`` over its inputs' traced shapes (None: not followed)."""
    if node.op in CONVOLUTIONS and (departed or _forgets(node, ins[0])):
        return [_conv_shape(node, ins, own[0])]
    if node.op in BROADCASTING_OPS or node.op in ELEMENTWISE_BINARY or node.op in MERGING_OPS:
        shape = _merged(node, ins) if node.op in MERGING_OPS else _broadcast_all(ins)
        return [shape] if shape is not None or departed else own  # inputs of unknown rank: the lowering's
    if not departed:
        return own
    if node.op in ELEMENTWISE_UNARY:
        return [ins[0]]
    rule = MORE_RULES.get(node.op) or SHAPE_RULES.get(node.op)
    return rule(node, ins) if rule is not None and node.op not in ("Const", "Placeholder") else None


def _ints_of(value: Value) -> list[int]:
    return [int(v) for v in np.asarray(_const_array(value)).reshape(-1)]


def _strided_slice(node: Any, ins: list[Shape | None]) -> list:
    """TensorFlow's StridedSlice over constant begin/end/strides: a known size sliced as Python slices it, an unknown
    one unknown, a shrunk axis dropped, a new axis 1, the ellipsis standing for the axes no other entry takes."""
    x = ins[0]
    begin, end, strides = (_ints_of(v) for v in node.inputs[1:4])
    masks = {k: int(node.attrs.get(f"{k}_mask", 0) or 0) for k in ("begin", "end", "ellipsis", "new_axis",
                                                                    "shrink_axis")}
    taking = sum(1 for i in range(len(begin)) if not (masks["new_axis"] >> i) & 1 and not (masks["ellipsis"] >> i) & 1)
    out: list[int | None] = []
    dim = 0
    for i, (b, e, st) in enumerate(zip(begin, end, strides)):
        if (masks["ellipsis"] >> i) & 1:
            skipped = len(x) - taking
            out += x[dim:dim + skipped]
            dim += skipped
        elif (masks["new_axis"] >> i) & 1:
            out.append(1)
        elif (masks["shrink_axis"] >> i) & 1:
            dim += 1
        else:
            size = x[dim]
            start = None if (masks["begin"] >> i) & 1 else b
            stop = None if (masks["end"] >> i) & 1 else e
            out.append(None if size is None else len(range(*slice(start, stop, st).indices(size))))
            dim += 1
    return [tuple(out) + tuple(x[dim:])]


def _slice(node: Any, ins: list[Shape | None]) -> list:
    x, begin, size = ins[0], _ints_of(node.inputs[1]), _ints_of(node.inputs[2])
    return [tuple(d - b if n == -1 and d is not None else None if n == -1 else n
                  for d, b, n in zip(x, begin, size))]


def _einsum(node: Any, ins: list[Shape | None]) -> list:
    """An Einsum of plain labels: each label's size merged over the operands (TensorFlow's shape inference)."""
    match = _EINSUM_EQUATION.match(attr_text(node, "equation", "").replace(" ", ""))
    if match is None or len(ins) != 2:
        return [None]
    sizes: dict[str, int | None] = {}
    for labels, shape in zip(match.groups()[:2], ins):
        for label, d in zip(labels, shape, strict=True):
            sizes[label] = _merge_dims(sizes.get(label), d)
    return [tuple(sizes[label] for label in match.group(3))]


def _gather(node: Any, ins: list[Shape | None]) -> list:
    params, indices = ins[0], ins[1]
    if int(node.attrs.get("batch_dims", 0) or 0):
        return [None]
    axis = _ints_of(node.inputs[2])[0] % len(params)
    return [(*params[:axis], *indices, *params[axis + 1:])]


def _batch_matmul(node: Any, ins: list[Shape | None]) -> list:
    a, b = ins[0], ins[1]
    rows = a[-1] if node.attrs.get("adj_x") else a[-2]
    cols = b[-2] if node.attrs.get("adj_y") else b[-1]
    return [(*_broadcast_all([a[:-2], b[:-2]]), rows, cols)]


def _same(node: Any, ins: list[Shape | None]) -> list:
    return [ins[0]]


def _tile(node: Any, ins: list[Shape | None]) -> list:
    return [tuple(None if d is None else d * m for d, m in zip(ins[0], _ints_of(node.inputs[1]), strict=True))]


def _top_k(node: Any, ins: list[Shape | None]) -> list:
    """TopKV2's values and indices: the input's sizes with ``k`` last. ``tf.sort``/``top_k`` read ``k`` as
    ``tf.shape(x)[axis]``, which TensorFlow's shape inference evaluates where that size is known to it (a merged one
    included), as :func:`_shape_element` follows."""
    k = _shape_element(node.inputs[1])
    return [(*ins[0][:-1], k)] * 2


def _shape_element(value: Value) -> int | None:
    """An int32 scalar the trace knows: a constant, or ``Shape(y)[a]`` (a one-element StridedSlice that shrinks
    it) of a size ``y``'s traced shape knows; else None (unknown)."""
    array = const_array(value)
    if array is not None:
        return int(np.asarray(array).reshape(-1)[0])
    node = value.producer
    if node.op != "StridedSlice" or node.inputs[0].producer.op != "Shape" or \
            int(node.attrs.get("shrink_axis_mask", 0) or 0) != 1:
        return None
    axis = _ints_of(node.inputs[1])[0]
    shape = traced_shape(node.inputs[0].producer.inputs[0]).shape
    return None if shape is None or not -len(shape) <= axis < len(shape) else shape[axis]


#: Shape rules :mod:`tfjsconv.passes.shapes` lacks, for ops the lowering makes between a merge and a bias.
MORE_RULES = {"StridedSlice": _strided_slice, "Slice": _slice, "Einsum": _einsum, "GatherV2": _gather,
              "BatchMatMulV2": _batch_matmul, "BatchMatMul": _batch_matmul, "Tile": _tile, "TopKV2": _top_k,
              **dict.fromkeys(("ReverseV2", "Cumsum", "Cumprod", "ClipByValue", "LeakyRelu", "Selu"), _same)}


def _broadcast_all(shapes: list[Shape | None]) -> Shape | None:
    """NumPy broadcasting as TensorFlow's shape inference does it: an unknown size beside a known one above 1 is that
    one (beside 1 or unknown: unknown)."""
    out: Shape | None = shapes[0]
    for shape in shapes[1:]:
        out = broadcast(out, shape)
    return out


def _merge_dims(a: int | None, b: int | None) -> int | None:
    if a is not None and b is not None and a != b:
        raise ValueError(f"sizes {a} and {b} do not merge")
    return a if a is not None else b


def _merged(node: Any, ins: list[Shape | None]) -> Shape | None:
    """ConcatV2 (the joined axis summed, the others merged), Pack (all merged, the count inserted), AddN / Select
    (all merged)."""
    parts = ins[:-1] if node.op == "ConcatV2" else ins
    if any(p is None for p in parts) or len({len(p) for p in parts}) != 1:
        return None
    rank = len(parts[0])
    joined = None
    if node.op == "ConcatV2":
        joined = int(np.asarray(_const_array(node.inputs[-1])).reshape(-1)[0]) % rank
    out = []
    for i in range(rank):
        sizes = [p[i] for p in parts]
        if i == joined:
            out.append(None if None in sizes else sum(sizes))
            continue
        merged = sizes[0]
        for d in sizes[1:]:
            merged = _merge_dims(merged, d)
        out.append(merged)
    if node.op == "Pack":
        out.insert(int(node.attrs.get("axis", 0)) % (rank + 1), len(parts))
    return tuple(out)


def _const_array(value: Value) -> Any:
    """The array of a Const (a ValueError for anything else: the axis is not known)."""
    array = const_array(value)
    if array is None:
        raise ValueError(f"{value.name} is not a constant")
    return array


def _dilated(node: Any) -> bool:
    return any(int(d) > 1 for d in node.attrs.get("dilations") or [])


def _forgets(node: Any, x: Shape | None) -> bool:
    """A dilated convolution over an input with an unknown spatial size (or rank): TensorFlow's trace knows none
    of its output's spatial sizes (:func:`_conv_shape`)."""
    return _dilated(node) and (x is None or None in tuple(x)[1:-1])


def _conv_shape(node: Any, ins: list[Shape | None], own: Shape | None) -> Shape | None:
    """A channels_last Conv2D / DepthwiseConv2dNative / Conv3D's output: dilated over an input with an unknown
    spatial size, TensorFlow's ``tf.nn.convolution`` (and ``depthwise_conv2d``) runs it through
    ``space_to_batch`` with paddings read at run time, so its trace knows none of the spatial sizes (a Conv1D lowered
    as a 2-D one forgets its height of 1 too, which the Squeeze that follows drops); else the sizes follow from the
    input's as the lowering computes them."""
    x, kernel = ins[0], ins[1]
    if x is None or kernel is None or own is None or len(x) != len(own):
        return None
    spatial = range(1, len(x) - 1)
    if _forgets(node, x):
        return (x[0], *[None] * len(spatial), own[-1])
    padding = attr_text(node, "padding", "VALID").upper()
    if padding not in ("SAME", "VALID"):
        return None
    dilations = [int(d) for d in node.attrs.get("dilations") or [1] * len(x)]
    strides = [int(s) for s in node.attrs.get("strides") or [1] * len(x)]
    same = padding == "SAME"
    sizes = []
    for i in spatial:
        if x[i] is None:
            sizes.append(None)
        elif same:
            sizes.append(-(-x[i] // strides[i]))
        else:
            sizes.append((x[i] - (int(kernel[i - 1]) - 1) * dilations[i] - 1) // strides[i] + 1)
    return (x[0], *sizes, own[-1])
