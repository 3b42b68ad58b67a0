"""Static shape inference for the ops that matter for shape folding and the fusion passes.

``infer_shapes(graph)`` returns a shape for every value it can tell (a tuple whose entries may be
None for unknown sizes); frontends' own annotations (``Value.shape``) are used where inference has
no rule. It never raises on an op it does not know: that value is simply unknown.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ir import Graph, Node, Value
from .graph_edit import attr_text, const_array

Shape = tuple
Rule = Callable[[Node, list], "list[Shape | None] | None"]
RULES: dict[str, Rule] = {}

ELEMENTWISE_UNARY = frozenset({
    "Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "LeakyRelu", "Exp", "Expm1", "Log", "Log1p", "Neg", "Abs",
    "Sqrt", "Rsqrt", "Square", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Tan", "Erf",
    "Softplus", "Softsign", "LogicalNot", "IsNan", "Cast", "Identity", "StopGradient", "Snapshot",
    "Softmax", "LogSoftmax", "ZerosLike", "OnesLike", "CheckNumerics", "EnsureShape", "Real", "Imag", "ComplexAbs",
})
ELEMENTWISE_BINARY = frozenset({
    "Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "FloorDiv", "FloorMod", "Maximum", "Minimum",
    "Pow", "SquaredDifference", "Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual",
    "LogicalAnd", "LogicalOr", "Prelu", "Atan2", "Complex",
})


def rule(*ops: str) -> Callable[[Rule], Rule]:
    def wrap(fn: Rule) -> Rule:
        for op in ops:
            RULES[op] = fn
        return fn
    return wrap


def is_static(shape: Shape | None) -> bool:
    return shape is not None and all(isinstance(d, int) and d >= 0 for d in shape)


def broadcast(a: Shape | None, b: Shape | None) -> Shape | None:
    if a is None or b is None:
        return None
    out = []
    for da, db in zip(((1,) * (len(b) - len(a)) + tuple(a)), ((1,) * (len(a) - len(b)) + tuple(b))):
        if da == 1:
            out.append(db)
        elif db == 1 or da == db:
            out.append(da)
        elif da is None or db is None:
            out.append(da if db is None else db)
        else:
            return None
    return tuple(out)


def _merge(inferred: Shape | None, annotated: Shape | None) -> Shape | None:
    """Inferred sizes, filled in from the frontend's annotation where inference left a None."""
    if inferred is None:
        return tuple(annotated) if annotated is not None else None
    if annotated is None or len(annotated) != len(inferred):
        return inferred
    return tuple(i if i is not None else a for i, a in zip(inferred, annotated))


def infer_shapes(graph: Graph) -> dict[Value, Shape | None]:
    shapes: dict[Value, Shape | None] = {}
    for node in graph.topological_order():
        inputs = [shapes.get(v) for v in node.inputs]
        outs: list[Shape | None] | None = None
        fn = RULES.get(node.op)
        if node.op in ELEMENTWISE_UNARY:
            outs = [inputs[0]] if inputs else None
        elif node.op in ELEMENTWISE_BINARY and len(inputs) == 2:
            outs = [broadcast(inputs[0], inputs[1])]
        elif fn is not None:
            try:
                outs = fn(node, inputs)
            except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError):
                outs = None
        for value in node.outputs:
            inferred = outs[value.index] if outs is not None and value.index < len(outs) else None
            shapes[value] = _merge(inferred, value.shape)
    return shapes


@rule("Const")
def _const(node: Node, _: list) -> list:
    return [tuple(int(d) for d in node.attrs["value"].shape)]


@rule("Placeholder")
def _placeholder(node: Node, _: list) -> list:
    return [node.outputs[0].shape]


@rule("BiasAdd", "ClipByValue", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def _first(node: Node, inputs: list) -> list:
    return [inputs[0]]


def _conv_like(node: Node, x: Shape | None, window: tuple, out_channels: int | None) -> list:
    if x is None or len(x) != 4 or attr_text(node, "data_format", "NHWC") != "NHWC":
        return [None]
    strides = list(node.attrs.get("strides", [1, 1, 1, 1]))
    dilations = list(node.attrs.get("dilations", [1, 1, 1, 1])) or [1, 1, 1, 1]
    padding = attr_text(node, "padding", "VALID").upper()
    explicit = list(node.attrs.get("explicit_paddings", [])) or [0] * 8
    dims = []
    for i in range(2):
        size, k, s, d = x[1 + i], window[i], int(strides[1 + i]), int(dilations[1 + i])
        if size is None:
            dims.append(None)
            continue
        if padding == "SAME":
            dims.append(-(-size // s))
            continue
        pad = explicit[2 + 2 * i] + explicit[3 + 2 * i] if padding == "EXPLICIT" else 0
        dims.append((size + pad - (k - 1) * d - 1) // s + 1)
    return [(x[0], dims[0], dims[1], out_channels)]


@rule("Conv2D", "_FusedConv2D")
def _conv(node: Node, inputs: list) -> list:
    w = inputs[1]
    if w is None or len(w) != 4:
        return [None]
    return _conv_like(node, inputs[0], (w[0], w[1]), w[3])


@rule("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")
def _depthwise(node: Node, inputs: list) -> list:
    w = inputs[1]
    if w is None or len(w) != 4:
        return [None]
    channels = w[2] * w[3] if w[2] is not None and w[3] is not None else None
    return _conv_like(node, inputs[0], (w[0], w[1]), channels)


@rule("MaxPool", "AvgPool")
def _pool(node: Node, inputs: list) -> list:
    x = inputs[0]
    ksize = list(node.attrs.get("ksize", [1, 1, 1, 1]))
    return _conv_like(node, x, (int(ksize[1]), int(ksize[2])), x[3] if x is not None and len(x) == 4 else None)


@rule("MatMul", "_FusedMatMul")
def _matmul(node: Node, inputs: list) -> list:
    a, b = inputs[0], inputs[1]
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return [None]
    rows = a[1] if node.attrs.get("transpose_a") else a[0]
    cols = b[0] if node.attrs.get("transpose_b") else b[1]
    return [(rows, cols)]


def _const_ints(node: Node, index: int) -> list[int] | None:
    array = const_array(node.inputs[index]) if index < len(node.inputs) else None
    return None if array is None else [int(v) for v in np.asarray(array).reshape(-1)]


@rule("Reshape")
def _reshape(node: Node, inputs: list) -> list:
    target = _const_ints(node, 1)
    if target is None:
        return [None]
    x = inputs[0]
    if -1 in target:
        if is_static(x):
            known = int(np.prod([d for d in target if d != -1]))
            total = int(np.prod(x))
            target = [total // known if d == -1 and known else d for d in target]
        else:
            target = [None if d == -1 else d for d in target]
    return [tuple(target)]


@rule("Transpose")
def _transpose(node: Node, inputs: list) -> list:
    perm, x = _const_ints(node, 1), inputs[0]
    if perm is None or x is None or len(perm) != len(x):
        return [None]
    return [tuple(x[p] for p in perm)]


@rule("Shape")
def _shape(node: Node, inputs: list) -> list:
    return [(len(inputs[0]),) if inputs[0] is not None else None]


@rule("Size", "Rank")
def _scalar(node: Node, inputs: list) -> list:
    return [()]


@rule("Mean", "Sum", "Max", "Min", "Prod", "All", "Any")
def _reduce(node: Node, inputs: list) -> list:
    axes, x = _const_ints(node, 1), inputs[0]
    if axes is None or x is None:
        return [None]
    axes = {a % len(x) for a in axes} if x else set()
    keep = bool(node.attrs.get("keep_dims", False))
    return [tuple(1 if i in axes else d for i, d in enumerate(x) if keep or i not in axes)]


@rule("ExpandDims")
def _expand_dims(node: Node, inputs: list) -> list:
    axis, x = _const_ints(node, 1), inputs[0]
    if axis is None or x is None:
        return [None]
    a = axis[0] if axis[0] >= 0 else axis[0] + len(x) + 1
    return [tuple(x[:a]) + (1,) + tuple(x[a:])]


@rule("Squeeze")
def _squeeze(node: Node, inputs: list) -> list:
    x = inputs[0]
    if x is None:
        return [None]
    axes = list(node.attrs.get("squeeze_dims", [])) or list(node.attrs.get("axis", []))
    if not axes:
        return [None] if None in x else [tuple(d for d in x if d != 1)]
    drop = {int(a) % len(x) for a in axes}
    return [tuple(d for i, d in enumerate(x) if i not in drop)]


@rule("ConcatV2")
def _concat(node: Node, inputs: list) -> list:
    axis = _const_ints(node, len(node.inputs) - 1)
    parts = inputs[:-1]
    if axis is None or any(p is None for p in parts) or len({len(p) for p in parts}) != 1:
        return [None]
    a = axis[0] % len(parts[0])
    sizes = [p[a] for p in parts]
    out = list(parts[0])
    out[a] = None if None in sizes else sum(sizes)
    return [tuple(out)]


@rule("Pad", "PadV2", "MirrorPad")
def _pad(node: Node, inputs: list) -> list:
    pads, x = _const_ints(node, 1), inputs[0]
    if pads is None or x is None or len(pads) != 2 * len(x):
        return [None]
    return [tuple(None if d is None else d + pads[2 * i] + pads[2 * i + 1] for i, d in enumerate(x))]


def _known_rows(value: Value, rows: int) -> list[tuple[int, int] | None]:
    """The rows of a ``[rows, 2]`` int tensor known here: all of a constant, or the constant pieces of a
    ``ConcatV2`` along axis 0 (TF's dilated convolution over unknown sizes pads a channels-first input's channel
    axis by a constant ``[[0, 0]]`` and its spatial axes by sizes computed at run time)."""
    array = const_array(value)
    if array is not None:
        return [(int(a), int(b)) for a, b in np.asarray(array).reshape(rows, 2)]
    node = value.producer
    if node.op != "ConcatV2" or _const_ints(node, len(node.inputs) - 1) != [0]:
        return [None] * rows
    pieces: list[list | None] = []  # a piece's rows, None for a piece of run-time values
    for piece in node.inputs[:-1]:
        part = const_array(piece)
        pieces.append(None if part is None else [(int(a), int(b)) for a, b in np.asarray(part).reshape(-1, 2)])
    unknown = rows - sum(len(p) for p in pieces if p is not None)
    if pieces.count(None) > 1 or unknown < 0 or (unknown and None not in pieces):
        return [None] * rows  # the run-time pieces' lengths are not known here
    return [row for p in pieces for row in (p if p is not None else [None] * unknown)]


@rule("SpaceToBatchND", "BatchToSpaceND")
def _space_batch(node: Node, inputs: list) -> list:
    """``[B, s…, rest…]`` → ``[B·∏block, (s + pads) / block…, rest…]`` (BatchToSpaceND: the inverse, minus crops),
    each size known where its block, its paddings/crops row and the input size are."""
    block, x = _const_ints(node, 1), inputs[0]
    if block is None or x is None or len(x) <= len(block):
        return [None]
    rows, total = _known_rows(node.inputs[2], len(block)), int(np.prod(block))
    out = list(x)
    if node.op == "SpaceToBatchND":
        out[0] = None if x[0] is None else x[0] * total
    else:
        out[0] = None if x[0] is None or total == 0 or x[0] % total else x[0] // total
    for i, (size, step, row) in enumerate(zip(x[1:], block, rows), start=1):
        if size is None or row is None:
            out[i] = None
        elif node.op == "SpaceToBatchND":
            out[i] = (size + row[0] + row[1]) // step if step else None
        else:
            out[i] = size * step - row[0] - row[1]
    return [tuple(out)]
