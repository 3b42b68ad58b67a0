"""How many outputs a TF node has, their dtypes, and where each named output arg starts.

A FunctionDef body refers to a node's output as ``node:out_arg:i`` (the ``i``-th tensor of output
arg ``out_arg``); the IR, like a GraphDef, numbers outputs flat. For that we need each op's output
args in order and how many tensors each holds. Most ops have one output arg: its ``i`` is the flat
index. The table below lists the ops with several output args or list outputs sized by attrs,
written from TensorFlow's documented op signatures. An op that is not listed and whose
``_output_shapes`` attr says it has several outputs cannot be laid out: the caller leaves the
TF-free path (feature ``op_output_layout``) rather than guess.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tfjsconv.dtypes import DType

#: An output arg: (name, count, dtype). ``count`` is 1, an int attr name (``num_split``) or
#: ``"len:<attr>"`` (the length of a list-of-types attr, whose entries are then the dtypes); ``dtype``
#: is a type attr name or a fixed DType.
ArgSpec = tuple[str, Any, Any]

_U = "U"
MULTI_OUTPUT_OPS: dict[str, list[ArgSpec]] = {
    "Split": [("output", "num_split", "T")],
    "SplitV": [("output", "num_split", "T")],
    "Unpack": [("output", "num", "T")],
    "DynamicPartition": [("outputs", "num_partitions", "T")],
    "ShapeN": [("output", "N", "out_type")],
    "IdentityN": [("output", "len:T", "T")],
    "PartitionedCall": [("output", "len:Tout", "Tout")],
    "StatefulPartitionedCall": [("output", "len:Tout", "Tout")],
    # functional control flow: one list output arg (``while:output:3`` is flat output 3)
    "While": [("output", "len:T", "T")],
    "StatelessWhile": [("output", "len:T", "T")],
    "If": [("output", "len:Tout", "Tout")],
    "StatelessIf": [("output", "len:Tout", "Tout")],
    "Case": [("output", "len:Tout", "Tout")],
    "StatelessCase": [("output", "len:Tout", "Tout")],
    "FusedBatchNorm": [("y", 1, "T"), ("batch_mean", 1, "T"), ("batch_variance", 1, "T"),
                       ("reserve_space_1", 1, "T"), ("reserve_space_2", 1, "T")],
    "FusedBatchNormV2": [("y", 1, "T"), ("batch_mean", 1, _U), ("batch_variance", 1, _U),
                         ("reserve_space_1", 1, _U), ("reserve_space_2", 1, _U)],
    "FusedBatchNormV3": [("y", 1, "T"), ("batch_mean", 1, _U), ("batch_variance", 1, _U),
                         ("reserve_space_1", 1, _U), ("reserve_space_2", 1, _U), ("reserve_space_3", 1, _U)],
    "TopKV2": [("values", 1, "T"), ("indices", 1, "index_type")],
    "TopK": [("values", 1, "T"), ("indices", 1, DType.INT32)],
    "Unique": [("y", 1, "T"), ("idx", 1, "out_idx")],
    "UniqueV2": [("y", 1, "T"), ("idx", 1, "out_idx")],
    "UniqueWithCounts": [("y", 1, "T"), ("idx", 1, "out_idx"), ("count", 1, "out_idx")],
    "ListDiff": [("out", 1, "T"), ("idx", 1, "out_idx")],
    # TF.js registry ops the TF-free reader refused ("op output layout") until session 32 (the conformance harness)
    "SparseFillEmptyRows": [("output_indices", 1, DType.INT64), ("output_values", 1, "T"),
                            ("empty_row_indicator", 1, DType.BOOL), ("reverse_index_map", 1, DType.INT64)],
    "SparseReshape": [("output_indices", 1, DType.INT64), ("output_shape", 1, DType.INT64)],
    "RaggedRange": [("rt_nested_splits", 1, "Tsplits"), ("rt_dense_values", 1, "T")],
    "RaggedGather": [("output_nested_splits", "OUTPUT_RAGGED_RANK", "Tsplits"), ("output_dense_values", 1, "Tvalues")],
    "Switch": [("output_false", 1, "T"), ("output_true", 1, "T")],
    "Merge": [("output", 1, "T"), ("value_index", 1, DType.INT32)],
    "BroadcastGradientArgs": [("r0", 1, "T"), ("r1", 1, "T")],
    "MaxPoolWithArgmax": [("output", 1, "T"), ("argmax", 1, "Targmax")],
    "NonMaxSuppressionV4": [("selected_indices", 1, DType.INT32), ("valid_outputs", 1, DType.INT32)],
    "NonMaxSuppressionV5": [("selected_indices", 1, DType.INT32), ("selected_scores", 1, "T"),
                            ("valid_outputs", 1, DType.INT32)],
    "LSTMBlockCell": [(name, 1, "T") for name in ("i", "cs", "f", "o", "ci", "co", "h")],
    # TF1 TensorArrays (``tf.compat.v1.nn.dynamic_rnn``'s loops): a handle and the float flow
    "TensorArrayV3": [("handle", 1, DType.RESOURCE), ("flow", 1, DType.FLOAT32)],
    "TensorArrayGradV3": [("grad_handle", 1, DType.RESOURCE), ("flow_out", 1, DType.FLOAT32)],
    # string ops (``tf.strings.ngrams``, ``tf.strings.split``): a ragged or sparse result
    "StringNGrams": [("ngrams", 1, DType.STRING), ("ngrams_splits", 1, "Tsplits")],
    "StringSplitV2": [("indices", 1, DType.INT64), ("values", 1, DType.STRING), ("shape", 1, DType.INT64)],
    "StringSplit": [("indices", 1, DType.INT64), ("values", 1, DType.STRING), ("shape", 1, DType.INT64)],
}

#: Single-output ops whose output type is fixed (their ``T`` is the input's).
FIXED_OUTPUT_DTYPES = {
    **{op: DType.BOOL for op in ("Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd",
                                 "LogicalOr", "LogicalNot", "IsNan", "IsInf", "IsFinite", "ApproximateEqual",
                                 "InTopKV2", "IsVariableInitialized")},
    "Rank": DType.INT32, "Where": DType.INT64, "VarHandleOp": DType.RESOURCE, "StringLength": DType.INT32,
    "StaticRegexFullMatch": DType.BOOL, "RegexFullMatch": DType.BOOL, "StringJoin": DType.STRING,
    "ShardedFilename": DType.STRING, "StringFormat": DType.STRING, "AsString": DType.STRING,
    **dict.fromkeys(("StaticRegexReplace", "RegexReplace", "StringUpper", "StringLower", "StringStrip", "Substr",
                     "ReduceJoin"), DType.STRING),
    **dict.fromkeys(("StringToHashBucketFast", "StringToHashBucket", "StringToHashBucketStrong"), DType.INT64),
    **{op: DType.VARIANT for op in ("TensorListReserve", "TensorListSetItem", "TensorListPushBack",
                                    "TensorListFromTensor", "EmptyTensorList", "TensorListSplit")},
}
#: Ops with exactly one output (one output arg, one tensor), from TensorFlow's op signatures: their
#: ``node:arg:0`` is flat output 0 even without ``_output_shapes`` (a frozen ``.pb``'s function bodies).
SINGLE_OUTPUT_OPS = frozenset({
    "Identity", "Snapshot", "StopGradient", "Const", "Placeholder", "Cast", "Reshape", "Transpose", "ExpandDims",
    "Squeeze", "ConcatV2", "Pack", "Tile", "Fill", "Slice", "StridedSlice", "GatherV2", "Select", "SelectV2",
    "Shape", "Size", "Rank", "Range", "ZerosLike", "OnesLike", "BiasAdd", "MatMul", "BatchMatMulV2",
    "BatchMatMulV3", "Conv2D", "DepthwiseConv2dNative", "MaxPool", "AvgPool", "Softmax", "LogSoftmax",
    "Sum", "Mean", "Max", "Min", "Prod", "All", "Any", "ArgMax", "ArgMin", "Cumsum",
    "Add", "AddV2", "AddN", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "FloorDiv", "FloorMod", "Mod",
    "Maximum", "Minimum", "Pow", "SquaredDifference", "Less", "LessEqual", "Greater", "GreaterEqual", "Equal",
    "NotEqual", "LogicalAnd", "LogicalOr", "LogicalNot", "Neg", "Abs", "Exp", "Log", "Log1p", "Sqrt", "Rsqrt",
    "Square", "Tanh", "Sigmoid", "Sin", "Cos", "Floor", "Ceil", "Round", "Sign", "Reciprocal", "Erf",
    "Relu", "Relu6", "Elu", "Selu", "Softplus", "LeakyRelu", "IsNan", "IsFinite", "ClipByValue",
    "TensorListReserve", "TensorListSetItem", "TensorListGetItem", "TensorListStack", "TensorListFromTensor",
})
#: For other single-output ops, the first of these attrs present names the output type.
OUTPUT_TYPE_ATTRS = ("out_type", "output_type", "DstT", "Tout", "dtype", "T", "Tparams", "Tidx")


class UnknownLayout(Exception):
    """The op's output args cannot be laid out from the table (see the module doc)."""


@dataclasses.dataclass
class Layout:
    """A node's outputs: each output arg's first flat index and count, and every output's dtype."""

    starts: dict[str, int]
    counts: dict[str, int]
    dtypes: list[DType | None]
    #: One output assumed (an unlisted op without ``_output_shapes``): its arg names cannot be checked.
    assumed: bool = False

    @property
    def total(self) -> int:
        return len(self.dtypes)

    def flat_index(self, arg: str, index: int) -> int:
        if self.assumed:
            raise UnknownLayout("the op is not in the output-arg table and has no _output_shapes")
        if arg not in self.starts:
            if len(self.starts) == 1:  # one output arg: its name does not matter
                return index
            raise UnknownLayout(f"no output arg {arg!r}")
        if not 0 <= index < self.counts[arg]:
            raise UnknownLayout(f"output arg {arg!r} has {self.counts[arg]} tensor(s), not {index + 1}")
        return self.starts[arg] + index


def _resolve_dtype(spec: Any, attrs: Mapping[str, Any]) -> DType | None:
    if isinstance(spec, DType):
        return spec
    value = attrs.get(spec)
    return value if isinstance(value, DType) else None


def _signature_dtype(op: str, attrs: Mapping[str, Any]) -> DType | None:
    """The dtype TF's OpDef gives the one output of ``op``: a fixed one (``ResizeBilinear``'s float32 of any image
    type, which the attr guess below read as its ``T``) or the value of its type attr; None when the table does
    not say."""
    from tfjsconv.ops.tf_signatures import signature

    spec = signature(op)
    if spec is None or len(spec.outputs) != 1 or not spec.simple_outputs:
        return None
    out = spec.outputs[0]
    value = out.fixed if out.fixed is not None else attrs.get(out.type_attr) if out.type_attr else None
    return value if isinstance(value, DType) else None


def _single_output(op: str) -> bool:
    """Whether TensorFlow's signature of ``op`` has exactly one output: an ``_output_shapes`` listing another
    count is corrupt, and believed it would leave the node no output where its readers expect one."""
    return op in SINGLE_OUTPUT_OPS or op in FIXED_OUTPUT_DTYPES or op == "PlaceholderWithDefault"


def layout(op: str, attrs: Mapping[str, Any], functions: Mapping[str, Any], declared: int | None) -> Layout:
    """The outputs of an ``op`` node with IR ``attrs``; ``functions`` maps library names to FunctionDefs
    (an op may be a function); ``declared`` is the node's ``_output_shapes`` length, if it has one."""
    if declared is not None and declared != 1 and op not in functions and _single_output(op):
        declared = 1  # the op's signature decides, as in TF, which does not read ``_output_shapes``
    if op in functions:
        fdef = functions[op]
        from .graphdef_ir import dtype_from_enum

        args = [(arg.name, 1, dtype_from_enum(arg.type)) for arg in fdef.signature.output_arg]
    elif op in MULTI_OUTPUT_OPS:
        args = MULTI_OUTPUT_OPS[op]
    elif declared is not None and declared > 1:
        raise UnknownLayout(f"{op} has {declared} outputs and is not in the output-arg table")
    elif declared == 0:
        return Layout({}, {}, [])
    else:
        fixed = FIXED_OUTPUT_DTYPES.get(op) or _signature_dtype(op, attrs)
        dtype = fixed or next((attrs[a] for a in OUTPUT_TYPE_ATTRS if isinstance(attrs.get(a), DType)), None)
        return Layout({"output": 0}, {"output": 1}, [dtype], assumed=declared is None and op not in SINGLE_OUTPUT_OPS)
    starts: dict[str, int] = {}
    counts: dict[str, int] = {}
    dtypes: list[DType | None] = []
    for name, count, dtype in args:
        starts[name] = len(dtypes)
        if isinstance(count, str) and count.startswith("len:"):
            types = attrs.get(count[4:]) or []
            types = types if isinstance(types, list) else [types]
            counts[name] = len(types)
            dtypes.extend(t if isinstance(t, DType) else None for t in types)
            continue
        n = count if isinstance(count, int) else attrs.get(count)
        if not isinstance(n, int) or n < 0:
            raise UnknownLayout(f"{op} lacks its {count!r} attr")
        counts[name] = n
        dtypes.extend([_resolve_dtype(dtype, attrs)] * n)
    if declared is not None and declared != len(dtypes):
        raise UnknownLayout(f"{op} declares {declared} outputs, its signature gives {len(dtypes)}")
    return Layout(starts, counts, dtypes)
