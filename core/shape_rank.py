"""Ranks (not sizes) for the values of a graph, including those no frontend or pass annotated.

The backend contract refuses nodes by rank ("float32 AddV2 of rank >= 7 is wrong on wasm"); a value
created without a shape (a pass's new Pad, a control-flow body) would otherwise slip through with an
unknown rank. ``infer_ranks`` propagates ranks by simple per-op rules. It returns a side map and never
writes ``Value.shape``: writers put shapes into model.json's signature, and a guessed rank must not
change the model. An op without a rule leaves its unannotated outputs unknown.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .ir import Graph, Node, Value

Ranks = Sequence["int | None"]
RankRule = Callable[["Node", Ranks, "RankContext"], "list[int | None] | int | None"]
RANK_RULES: dict[str, RankRule] = {}

#: Ops whose every output has the rank of input 0.
SAME_AS_FIRST = frozenset({
    "Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "LeakyRelu", "Exp", "Expm1", "Log", "Log1p", "Neg", "Abs",
    "Sqrt", "Rsqrt", "Square", "Reciprocal", "Floor", "Ceil", "Round", "Rint", "Sign", "Sin", "Cos", "Tan", "Asin",
    "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Erf", "Softplus", "Softsign", "LogicalNot", "IsNan",
    "IsInf", "IsFinite", "Cast", "Identity", "StopGradient", "Snapshot", "PreventGradient", "Softmax", "LogSoftmax",
    "ZerosLike", "OnesLike", "CheckNumerics", "EnsureShape", "Enter", "Exit", "NextIteration", "LoopCond",
    "Switch", "BiasAdd", "ClipByValue", "LRN", "Cumsum", "Cumprod", "Transpose", "Pad", "PadV2", "MirrorPad",
    "ReverseV2", "Slice", "Tile", "Conv2D", "Conv3D", "_FusedConv2D", "DepthwiseConv2dNative",
    "FusedDepthwiseConv2dNative", "MaxPool", "AvgPool", "MaxPool3D", "AvgPool3D", "MaxPoolV2", "Dilation2D",
    "ResizeBilinear", "ResizeNearestNeighbor", "SpaceToDepth", "DepthToSpace", "SpaceToBatchND", "BatchToSpaceND",
    "MatrixBandPart", "MatrixDiag", "TensorScatterUpdate", "TensorScatterAdd", "Relu1", "Mish", "Swish",
    "FakeQuantWithMinMaxArgs", "Bitcast", "QuantizeAndDequantizeV2", "QuantizeAndDequantizeV3",
    "QuantizeAndDequantizeV4", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "TopKV2", "Split",
    "SplitV", "ImageProjectiveTransformV3", "CropAndResize", "StringToHashBucketFast", "Bucketize", "StringLower",
    "StringUpper", "StaticRegexReplace", "AsString", "StringStrip", "Complex", "Real", "Imag", "ComplexAbs",
})
#: Ops whose output has the broadcast rank of their inputs (the largest input rank).
BROADCASTING = frozenset({
    "Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "FloorDiv", "FloorMod", "Mod", "TruncateDiv",
    "TruncateMod", "Maximum", "Minimum", "Pow", "SquaredDifference", "Equal", "NotEqual", "Greater",
    "GreaterEqual", "Less", "LessEqual", "LogicalAnd", "LogicalOr", "Prelu", "Atan2", "AddN", "Select", "SelectV2",
    "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "_FusedBatchMatMul", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    "LeftShift", "RightShift", "Xdivy", "Xlogy",
})
#: Ops whose output is a scalar or a vector whatever their inputs.
FIXED_RANK = {"Shape": 1, "ShapeN": 1, "Size": 0, "Rank": 0, "Range": 1, "Where": 2, "NonMaxSuppressionV3": 1,
              "NonMaxSuppressionV4": 1, "NonMaxSuppressionV5": 1, "MatMul": 2, "_FusedMatMul": 2, "Unique": 1,
              "LinSpace": 1, "BroadcastArgs": 1, "BroadcastGradientArgs": 1, "Multinomial": 2, "Conv3DBackpropInputV2": 5, "Conv2DBackpropInput": 4}
#: Reductions: input rank, minus the reduced axes unless ``keep_dims``.
REDUCTIONS = frozenset({"Sum", "Mean", "Max", "Min", "Prod", "All", "Any", "EuclideanNorm"})
#: Ops whose output rank is the length of a shape-like input (index).
SHAPE_INPUT = {"Reshape": 1, "Fill": 0, "BroadcastTo": 1, "ScatterNd": 2, "RandomUniform": 0,
               "RandomStandardNormal": 0, "TruncatedNormal": 0, "RandomUniformInt": 0, "Zeros": 0}
#: Small constants (axes, masks, shapes) are read; a larger Const only contributes its rank.
_SMALL = 64


class RankContext:
    """What rules may ask beyond the input ranks: a small constant input's values, a vector input's length."""

    def __init__(self, ranks: dict[Value, int | None]) -> None:
        self.ranks = ranks
        #: TensorList creation -> the elements written into it, found on first use
        self.list_writes: dict[Node, list[Value]] | None = None

    def const_ints(self, node: Node, index: int) -> list[int] | None:
        """The values of Const input ``index`` when it is small, else None."""
        if index >= len(node.inputs):
            return None
        value = node.inputs[index]
        producer = value.producer
        array = producer.attrs.get("value") if producer.op == "Const" and value.index == 0 else None
        if array is None or int(np.prod(array.shape)) > _SMALL:
            return None
        return [int(v) for v in np.asarray(array if isinstance(array, np.ndarray) else array.load()).reshape(-1)]

    def vector_length(self, value: Value) -> int | None:
        """How many entries a 1-D ``value`` (a shape or an axes list) holds, when that is known."""
        producer = value.producer
        if producer.op == "Const" and value.index == 0:
            shape = producer.attrs["value"].shape
            return int(shape[0]) if len(shape) == 1 else (1 if len(shape) == 0 else None)
        if value.shape is not None and len(value.shape) == 1 and isinstance(value.shape[0], int) \
                and value.shape[0] >= 0:
            return value.shape[0]
        if producer.op == "Shape" and producer.inputs:
            return self.ranks.get(producer.inputs[0])
        if producer.op == "Pack":
            return len(producer.inputs)
        if producer.op == "ExpandDims" and self.ranks.get(producer.inputs[0], annotated_rank(producer.inputs[0])) == 0:
            return 1  # a scalar made a 1-vector (a batch size joined into a shape)
        if producer.op in ("ConcatV2", "Concat"):
            parts = producer.inputs[:-1] if producer.op == "ConcatV2" else producer.inputs[1:]
            lengths = [self.vector_length(p) for p in parts]
            return None if None in lengths else sum(lengths)
        if producer.op in ("Identity", "Cast", "StopGradient"):
            return self.vector_length(producer.inputs[0])
        if producer.op == "TopKV2" and self.ranks.get(producer.inputs[0], annotated_rank(producer.inputs[0])) == 1:
            k = self.const_ints(producer, 1)
            return k[0] if k is not None and len(k) == 1 else None  # the top k of a vector: k long
        if producer.op in REDUCTIONS and (producer.attrs.get("keep_dims") or producer.attrs.get("keepdims")) \
                and self.ranks.get(producer.inputs[0], annotated_rank(producer.inputs[0])) == 1:
            return 1  # e.g. Prod of a shape vector, kept as [1]: a total size
        if producer.op == "Reshape":
            target, source = self.const_ints(producer, 1), producer.inputs[0].shape
            if target is None or len(target) != 1:
                return None
            if target[0] >= 0:
                return target[0]
            static = source is not None and all(isinstance(d, int) and d >= 0 for d in source)
            return int(np.prod(source, dtype=np.int64)) if static else None
        if producer.op in ("Slice", "StridedSlice", "GatherV2", "BroadcastArgs") or producer.op in BROADCASTING:
            return self._derived_length(producer)
        return None

    def _derived_length(self, producer: Node) -> int | None:
        """The length of a 1-D value computed from other 1-D values (a slice of a shape, a broadcast shape)."""
        op = producer.op
        if op == "GatherV2":
            if self.ranks.get(producer.inputs[1], annotated_rank(producer.inputs[1])) != 1:
                return None
            indices = self.const_ints(producer, 1)
            return len(indices) if indices is not None else self.vector_length(producer.inputs[1])
        if op in ("BroadcastArgs",) or op in BROADCASTING:
            lengths = [self.vector_length(v) for v in producer.inputs]
            longer = set(lengths) - {1, None}
            if op != "BroadcastArgs" and len(longer) == 1:
                # element-wise over vectors: every operand is 1 long or as long as the result, or the op fails
                return longer.pop()
            if None in lengths or not lengths:
                return None
            return max(lengths) if op == "BroadcastArgs" or len(set(lengths) - {1}) <= 1 else None
        if op == "StridedSlice" and self._is_row_of_matrix(producer):
            return self.last_size(producer.inputs[0])
        length = self.vector_length(producer.inputs[0])
        if length is None:
            return None
        if op == "Slice":
            begin, size = self.const_ints(producer, 1), self.const_ints(producer, 2)
            if begin is None or size is None or len(size) != 1:
                return None
            return length - begin[0] if size[0] == -1 else size[0]
        begin, end, strides = (self.const_ints(producer, i) for i in (1, 2, 3))
        attrs = producer.attrs
        if begin is None or end is None or strides is None or len(begin) != 1 or any(
                int(attrs.get(mask, 0) or 0) for mask in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask")):
            return None
        start = None if int(attrs.get("begin_mask", 0) or 0) & 1 else begin[0]
        stop = None if int(attrs.get("end_mask", 0) or 0) & 1 else end[0]
        return len(range(length)[slice(start, stop, strides[0])])


    def _is_row_of_matrix(self, node: Node) -> bool:
        """Whether a StridedSlice reads one row of a matrix: ``m[i]`` or ``m[i, ...]`` (a pfor loop's index row)."""
        attrs = node.attrs
        masks = {mask: int(attrs.get(mask, 0) or 0) for mask in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask")}
        spec = self.vector_length(node.inputs[1]) if len(node.inputs) > 1 else None
        if self.ranks.get(node.inputs[0], annotated_rank(node.inputs[0])) != 2 or masks["new_axis_mask"] \
                or masks["shrink_axis_mask"] != 1:
            return False
        return (spec == 1 and masks["ellipsis_mask"] == 0) or (spec == 2 and masks["ellipsis_mask"] == 2)

    def last_size(self, value: Value) -> int | None:
        """The size of ``value``'s last axis (GatherNd's index depth), when annotations or producers tell."""
        if value.shape:
            last = value.shape[-1]
            return last if isinstance(last, int) and last >= 0 else None
        producer, rank = value.producer, self.ranks.get(value)
        if producer.op == "Const" and value.index == 0:
            shape = producer.attrs["value"].shape
            return int(shape[-1]) if len(shape) else None
        if producer.op == "Pack" and rank is not None and int(producer.attrs.get("axis", 0)) in (-1, rank - 1):
            return len(producer.inputs)
        if producer.op == "ConcatV2" and rank:
            axis = producer.inputs[-1].producer.attrs.get("value") if producer.inputs[-1].producer.op == "Const" \
                else None
            if axis is not None and int(np.asarray(axis)) in (-1, rank - 1):
                sizes = [self.last_size(part) for part in producer.inputs[:-1]]
                return None if None in sizes else sum(sizes)
        if producer.op in ("Identity", "Cast", "StopGradient") and producer.inputs:
            return self.last_size(producer.inputs[0])
        if producer.op == "ExpandDims" and rank is not None:
            axis = self.const_ints(producer, 1)
            return 1 if axis is not None and len(axis) == 1 and axis[0] in (-1, rank - 1) else None
        if producer.op in ("Enter", "RefEnter", "Exit", "NextIteration") or (
                producer.op == "Switch" and value.index in (0, 1)):
            return self.last_size(producer.inputs[0]) if producer.inputs else None
        if producer.op == "Merge" and value.index == 0:
            return self._merged_last_size(producer)
        return None

    def _merged_last_size(self, merge: Node) -> int | None:
        """A Merge's last size: its inputs' one size, a loop's back edge that only carries the Merge's own value
        around (``NextIteration(Switch(Merge))``, through Identities) adding nothing."""
        sizes = set()
        for value in merge.inputs:
            carried = value
            while carried.producer.op in ("NextIteration", "Identity", "Switch") and carried.producer.inputs \
                    and carried.producer is not merge:
                carried = carried.producer.inputs[0]
            if value.producer.op == "NextIteration" and carried.producer is merge:
                continue  # the loop passes this value on unchanged
            if value.producer.op == "NextIteration":
                return None  # a value the body computes: its size may change from one iteration to the next
            sizes.add(self.last_size(value))
        return sizes.pop() if len(sizes) == 1 else None


def rank_rule(*ops: str) -> Callable[[RankRule], RankRule]:
    def wrap(fn: RankRule) -> RankRule:
        for op in ops:
            RANK_RULES[op] = fn
        return fn
    return wrap


def annotated_rank(value: Value) -> int | None:
    return len(value.shape) if value.shape is not None else None


class RankMap(dict):
    """Value -> rank (None: unknown), and which values descend from a model input of unknown rank.

    An unknown rank there is the user's to choose (a TF1 ``placeholder`` without a shape), not a gap in
    the rules; the contract does not refuse for it (docs/backends.md).
    """

    def __init__(self) -> None:
        super().__init__()
        self.input_dependent: set[Value] = set()
        #: Value of unknown rank -> a bound its rank cannot exceed (a reduction over axes fed at run time
        #: keeps at most its input's rank): enough to rule out a "rank at least N" limit.
        self.bounds: dict[Value, int] = {}

    def bound(self, value: Value) -> int | None:
        """``value``'s rank if known, else its upper bound, else None."""
        rank = self.get(value, annotated_rank(value))
        return rank if rank is not None else self.bounds.get(value)

    def unknown_by_rules(self, value: Value) -> bool:
        """Whether ``value``'s rank is unknown though no unknown-rank model input decides it."""
        return self.get(value, annotated_rank(value)) is None and value not in self.input_dependent


def infer_ranks(graph: Graph) -> RankMap:
    """The rank of every value of ``graph`` (its annotation, else the rules' answer; None when unknown).

    Never raises on an op or attr it does not understand: that value stays unknown. A TensorList read can
    come before the loop body that writes the list in topological order; when one stays unknown, a second
    sweep reads it again and passes on only what that makes known (a known rank never changes, and a loop's
    back edge does not count as a change).
    """
    from .ir import is_loop_back_edge

    ranks = RankMap()
    context = RankContext(ranks)
    order = graph.topological_order()
    for node in order:
        _infer_node(node, ranks, context)
    if not any(node.op in TENSOR_LIST_READS and ranks.get(node.outputs[0]) is None for node in order):
        return ranks
    changed: set[Value] = set()
    for node in order:
        if node.op not in TENSOR_LIST_READS and not any(
                v in changed for v in node.inputs if not is_loop_back_edge(node, v)):
            continue
        unknown = [value for value in node.outputs if ranks.get(value) is None]
        _infer_node(node, ranks, context, keep_known=True)
        changed.update(value for value in unknown if ranks.get(value) is not None)
    return ranks


def _infer_node(node: Node, ranks: RankMap, context: RankContext, keep_known: bool = False) -> None:
    """Set the ranks of ``node``'s outputs (with ``keep_known``, only those still unknown)."""
    inferred: list[int | None] = []
    if any(v.shape is None for v in node.outputs):
        inputs = [ranks.get(v, annotated_rank(v)) for v in node.inputs]
        try:
            inferred = _outputs(node, inputs, context)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError):
            inferred = []
    for value in node.outputs:
        if keep_known and ranks.get(value) is not None:
            continue
        rank = annotated_rank(value)
        if rank is None and value.index < len(inferred):
            rank = inferred[value.index]
        ranks[value] = rank if rank is None or rank >= 0 else None
        if ranks[value] is None:
            bound = _upper_bound(node, ranks)
            if bound is not None:
                ranks.bounds[value] = bound
        dependent = (node.op in ("Placeholder", "PlaceholderWithDefault") and ranks[value] is None) \
            or any(v in ranks.input_dependent for v in node.inputs)
        if dependent:
            ranks.input_dependent.add(value)


def _upper_bound(node: Node, ranks: RankMap) -> int | None:
    """A bound on the rank of ``node``'s outputs when the rules cannot tell it exactly."""
    if node.op in REDUCTIONS or node.op in ("Squeeze", "ArgMax", "ArgMin"):
        return ranks.bound(node.inputs[0]) if node.inputs else None
    if node.op in BROADCASTING or node.op in SAME_AS_FIRST:
        bounds = [ranks.bound(v) for v in node.inputs]
        return None if not bounds or None in bounds else max(bounds)
    return None


def _outputs(node: Node, inputs: Ranks, context: RankContext) -> list[int | None]:
    count = max(len(node.outputs), 1)
    op = node.op
    if op in FIXED_RANK:
        return [FIXED_RANK[op]] * count
    if op in SAME_AS_FIRST:
        first = inputs[0] if inputs else None
        if op.startswith("FusedBatchNorm"):
            return [first] + [1] * (count - 1)
        if op == "TopKV2" or op == "Switch" or op.startswith("Split"):
            data = inputs[1] if op == "Split" and len(inputs) > 1 else first
            return [data] * count
        return [first] * count
    if op in BROADCASTING:
        if op in ("Select",) and len(inputs) == 3:  # v1 Select: the condition may be a rank-1 row mask
            inputs = inputs[1:]
        return [None if not inputs or None in inputs else max(inputs)]
    if op in SHAPE_INPUT:
        index = SHAPE_INPUT[op]
        length = context.vector_length(node.inputs[index]) if index < len(node.inputs) else None
        if op == "BroadcastTo" and length is not None and inputs and inputs[0] is not None:
            length = max(length, inputs[0])
        return [length]
    if op in REDUCTIONS:
        return [_reduction(node, inputs, context)]
    fn = RANK_RULES.get(op)
    if fn is None:
        return _declared_output_ranks(node)
    result = fn(node, inputs, context)
    return result if isinstance(result, list) else [result] * count


def _declared_output_ranks(node: Node) -> list[int | None]:
    """Ranks from an ``output_shapes``/``_output_shapes`` attr (If/While, TF's own annotation), if any."""
    for attr in ("_output_shapes", "output_shapes"):
        shapes = node.attrs.get(attr)
        if isinstance(shapes, (list, tuple)) and len(shapes) == len(node.outputs):
            dims = [getattr(shape, "dims", shape) for shape in shapes]
            return [len(d) if isinstance(d, (list, tuple)) else None for d in dims]
    return []


@rank_rule("UniqueV2", "UniqueWithCountsV2")
def _unique_v2(node: Node, inputs: Ranks, context: RankContext) -> list[int | None]:
    return [inputs[0]] + [1] * (len(node.outputs) - 1)


@rank_rule("LookupTableFind", "LookupTableFindV2")
def _lookup(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    return inputs[1] if len(inputs) > 1 else None  # one value per key


def _reduction(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    rank = inputs[0]
    if rank is None:
        return None
    if node.attrs.get("keep_dims") or node.attrs.get("keepdims"):
        return rank
    axes = context.const_ints(node, 1)
    if axes is None:  # axes read at run time: TF rejects duplicates, so each of them drops one dimension
        length = context.vector_length(node.inputs[1]) if len(node.inputs) > 1 else None
        return None if length is None or length > rank else rank - length
    return rank - len({a % rank for a in axes}) if rank else 0


@rank_rule("Const")
def _const(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    value = node.attrs.get("value")
    return len(value.shape) if value is not None and hasattr(value, "shape") else None


@rank_rule("Placeholder", "PlaceholderWithDefault")
def _placeholder(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    dims = getattr(node.attrs.get("shape"), "dims", None)
    if dims is not None:
        return len(dims)
    return inputs[0] if inputs else None


@rank_rule("ArgMax", "ArgMin")
def _arg_reduce(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    return None if inputs[0] is None else max(inputs[0] - 1, 0)


@rank_rule("ExpandDims")
def _expand_dims(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    return None if inputs[0] is None else inputs[0] + 1


@rank_rule("Squeeze")
def _squeeze(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    rank = inputs[0]
    axes = list(node.attrs.get("squeeze_dims", []) or node.attrs.get("axis", []) or [])
    if rank is None:
        return None
    if axes:
        return rank - len({int(a) % rank for a in axes})
    shape = node.inputs[0].shape  # squeeze every size-1 axis: needs the sizes
    if shape is not None and all(isinstance(d, int) for d in shape):
        return sum(1 for d in shape if d != 1)
    return None


@rank_rule("StridedSlice")
def _strided_slice(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    """Input rank, plus one per new axis, minus one per shrunk axis (bits past the spec are ignored)."""
    rank = inputs[0]
    if rank is None:
        return None
    spec = context.vector_length(node.inputs[1]) if len(node.inputs) > 1 else None
    if spec is None:
        return None
    bits = range(spec)
    ellipsis = int(node.attrs.get("ellipsis_mask", 0) or 0)
    new_axis = int(node.attrs.get("new_axis_mask", 0) or 0)
    shrink = int(node.attrs.get("shrink_axis_mask", 0) or 0)
    added = sum(1 for i in bits if new_axis >> i & 1 and not ellipsis >> i & 1)
    removed = sum(1 for i in bits if shrink >> i & 1 and not new_axis >> i & 1 and not ellipsis >> i & 1)
    return rank + added - removed


@rank_rule("ConcatV2", "Concat")
def _concat(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    parts = inputs[:-1] if node.op == "ConcatV2" else inputs[1:]
    known = [r for r in parts if r is not None]
    return max(known) if known else None


@rank_rule("Pack")
def _pack(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    known = [r for r in inputs if r is not None]
    return max(known) + 1 if known else None


@rank_rule("Unpack")
def _unpack(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    return None if inputs[0] is None else inputs[0] - 1


@rank_rule("GatherV2", "Gather", "ResourceGather")
def _gather(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    params, indices = inputs[0], inputs[1]
    if params is None or indices is None:
        return None
    batch_dims = int(node.attrs.get("batch_dims", 0) or 0)
    if batch_dims < 0:
        batch_dims += indices
    return params + indices - 1 - batch_dims


@rank_rule("GatherNd")
def _gather_nd(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    params, indices = inputs[0], inputs[1]
    depth = context.last_size(node.inputs[1])
    if params is None or indices is None or depth is None:
        return None
    return indices - 1 + params - depth


@rank_rule("OneHot")
def _one_hot(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    return None if inputs[0] is None else inputs[0] + 1


@rank_rule("Merge")
def _merge(node: Node, inputs: Ranks, context: RankContext) -> list[int | None]:
    known = {r for r in inputs if r is not None}
    return [known.pop() if len(known) == 1 else None, 0]


def _tensor_array_element_rank(handle: Value, context: RankContext) -> int | None:
    """The rank of a TF1 TensorArray's elements, found through the ``Enter``/``Identity`` a loop body reads the
    handle through: its ``TensorArrayV3``'s ``element_shape`` (which every write must match), else, when its
    elements must all have one shape (``identical_element_shapes``), one less than a ``TensorArrayScatterV3``'s
    value (``dynamic_rnn`` unstacks its input so)."""
    node = handle.producer
    for _ in range(64):
        if node.op not in ("Enter", "RefEnter", "Identity") or not node.inputs:
            break
        node = node.inputs[0].producer
    if node.op != "TensorArrayV3":
        return None
    dims = getattr(node.attrs.get("element_shape"), "dims", None)
    if dims is not None:
        return len(dims)
    if not node.attrs.get("identical_element_shapes"):
        return None
    scattered = {context.ranks.get(user.inputs[2]) for user in node.graph
                 if user.op == "TensorArrayScatterV3" and len(user.inputs) == 4 and user.inputs[0] is node.outputs[0]}
    scattered.discard(None)
    return scattered.pop() - 1 if len(scattered) == 1 else None


@rank_rule("TensorArrayReadV3", "TensorArrayGatherV3")
def _tensor_array_read(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    dims = getattr(node.attrs.get("element_shape"), "dims", None)  # a gather's own (often unknown) shape
    rank = len(dims) if dims is not None else _tensor_array_element_rank(node.inputs[0], context)
    if rank is None:
        return None
    return rank + (node.op == "TensorArrayGatherV3")


#: TensorList reads whose output 0 is one element (``+0``) or the stacked elements (``+1``).
TENSOR_LIST_READS = {"TensorListStack": 1, "TensorListGather": 1, "TensorListGetItem": 0, "TensorListConcatV2": 0}
#: TensorList creations: the index of their ``element_shape`` input.
_TENSOR_LIST_CREATIONS = {"TensorListReserve": 0, "EmptyTensorList": 0}
#: TensorList writes: the index of the element they write.
_TENSOR_LIST_WRITES = {"TensorListSetItem": 2, "TensorListPushBack": 1}
#: Ops a list handle passes through unchanged (a loop variable; a Merge's first input enters the loop).
_HANDLE_CARRIERS = frozenset({"Enter", "Exit", "Identity", "Switch", "Merge", "NextIteration", "RefEnter"})


def _tensor_list_source(handle: Value) -> Node | None:
    """The node that created the list ``handle`` carries, through loop frames and the list ops that return it."""
    node = handle.producer
    for _ in range(256):
        if node.op in _HANDLE_CARRIERS or node.op in _TENSOR_LIST_WRITES:
            if not node.inputs:
                return None
            node = node.inputs[0].producer
        else:
            return node
    return None


def _tensor_list_element_rank(handle: Value, context: RankContext) -> int | None:
    """The rank of a TensorList's elements: its ``element_shape`` when that has a rank (a vector, -1 sizes
    allowed), else the one rank every write into the same list agrees on (TF's stack requires one shape)."""
    source = _tensor_list_source(handle)
    if source is None:
        return None
    if source.op == "TensorListFromTensor":
        rank = context.ranks.get(source.inputs[0], annotated_rank(source.inputs[0]))
        return None if rank is None or rank < 1 else rank - 1
    if source.op not in _TENSOR_LIST_CREATIONS:
        return None
    shape_input = source.inputs[_TENSOR_LIST_CREATIONS[source.op]]
    producer = shape_input.producer
    if producer.op == "Const" and shape_input.index == 0 and len(producer.attrs["value"].shape) == 1:
        return int(producer.attrs["value"].shape[0])
    items = _tensor_list_writes(context, source.graph).get(source, [])
    written = {context.ranks.get(item, annotated_rank(item)) for item in items}
    return written.pop() if len(written) == 1 else None  # no write, a write of unknown rank, or disagreeing ranks


def _tensor_list_writes(context: RankContext, graph: Graph) -> dict[Node, list[Value]]:
    """Each TensorList creation -> the elements written into it (built once per rank inference)."""
    if context.list_writes is None:
        context.list_writes = {}
        for node in graph:
            index = _TENSOR_LIST_WRITES.get(node.op)
            if index is not None and len(node.inputs) > index:
                source = _tensor_list_source(node.inputs[0])
                if source is not None:
                    context.list_writes.setdefault(source, []).append(node.inputs[index])
    return context.list_writes


@rank_rule(*TENSOR_LIST_READS)
def _tensor_list_read(node: Node, inputs: Ranks, context: RankContext) -> list[int | None]:
    rank = _tensor_list_element_rank(node.inputs[0], context)
    return [None if rank is None else rank + TENSOR_LIST_READS[node.op]]


@rank_rule("IdentityN")
def _identity_n(node: Node, inputs: Ranks, context: RankContext) -> list[int | None]:
    return list(inputs)


@rank_rule("Einsum")
def _einsum(node: Node, inputs: Ranks, context: RankContext) -> int | None:
    equation = node.attrs.get("equation")
    if isinstance(equation, bytes):
        equation = equation.decode()
    if not isinstance(equation, str) or "->" not in equation or "." in equation:
        return None
    return len(equation.split("->")[1].strip())


def value_ranks(node: Node, ranks: Mapping[Value, int | None] | None) -> tuple[list[Any], list[Any]]:
    """(input ranks, output ranks) of ``node``: annotations first, then ``ranks`` (from :func:`infer_ranks`)."""
    def rank(value: Value) -> int | None:
        known = annotated_rank(value)
        return known if known is not None or ranks is None else ranks.get(value)
    return [rank(v) for v in node.inputs], [rank(v) for v in node.outputs]
