"""Narrow integers and the dtypes TF.js's graph loader does not know, as TensorFlow computes them.

TF.js parses only some dtype names in a graph model (``operation_mapper.ts`` ``parseDtypeParam``):
int8/uint8/int64 become int32, half/double float32; int16, uint16, uint32, uint64 and bfloat16 become
``null``, so a ``Cast`` to int16 fails to run and an op's ``T`` of such a dtype is lost. Every dtype attr is
rewritten here to the dtype TF.js holds (``TFJS_WEIGHT_DOWNCASTS``: the narrow and unsigned integers int32,
bfloat16 float32). bfloat16 values pass through as float32 (inputs, weights, reshapes, gathers…), but a node
that computes a bfloat16 result (a ``Cast`` to it, arithmetic) is refused by name: TF rounds every such result
to bfloat16's 8 significant bits, which TF.js's float32 does not.

TF.js holds 8- and 16-bit integers in int32 where TensorFlow wraps them around (uint8 ``200 + 100`` is 44).
Where a value may leave its dtype's range, it is reduced into it (``FloorMod(x − lowest, 2^bits) + lowest``,
exact in int32 since int32 sums and products wrap modulo 2^32 on cpu and wasm and 2^bits divides 2^32;
webgl holds int32 as float32, so there a 16-bit product past 2^24 loses low bits first, as any int32 does):
after a ``Cast`` to a narrow integer and after the ops that can overflow (:data:`WRAPPING_OPS`; not ``Mean``,
whose sum TF does not wrap: the pass runs before ``truncating_division`` lowers it to a ``Sum``, and before the
later rewrites, which then see int32 dtypes). A ``Cast``
from a float truncates toward zero in TF.js as in TF for values within the destination's range; beyond it TF's
result depends on the tensor's size (x86 CPU: saturated in the vectorized blocks of 32 elements, wrapped in the
tail, both in one 33-element tensor), so such a cast is refused by name unless the interval analysis proves the
float within the range (``tf.clip_by_value``, ``tf.saturate_cast``, a sigmoid times 255…). NaN is left to
TF.js's cast (0), which TF gives for unsigned destinations. Ops that keep values in range (:data:`RANGE_KEEPING_OPS`) are left
as they are, and no node is added where the interval of the operands proves the result in range (a ``Cast``
of a uint8 input to int32 or float stays one node).

uint32/uint64 values of 2^31 or more cannot be held in TF.js's int32 at all: a node that may produce one
(a ``Cast`` of a possibly negative integer, a sum…) is refused by name. Any other op with a narrow or unsigned
integer result is refused by name too rather than guessed. int64 → int32 is TF.js's documented lossy downcast
and is left alone. Casts to float16, and the results of arithmetic TF computes in float16, are rounded as TF
rounds them (:mod:`.half_rounding`). Functions kept as functions (``--control_flow_v2``) are written as they are: one that names
a dtype TF.js cannot, or casts or computes 8/16-bit integers, is refused by name.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import TFJS_WEIGHT_DOWNCASTS, DType
from ..errors import OpProblemsError
from ..ir import Graph, Node, Value
from ..narrow_ints import NARROW_INTS, wrapped
from . import Pass, PassResult
from .graph_edit import const_array
from .half_rounding import (computes_in_half, half_sum_problem, is_cast_to_half, round_cast_to_half, round_half_result,
                            rounds_once, value_readers, warn_half_arithmetic)

Interval = tuple[float, float]
_UNBOUNDED: Interval = (-np.inf, np.inf)

#: The 8- and 16-bit integers: (lowest value, bits).
WRAPPED_INTS: dict[DType, tuple[int, int]] = NARROW_INTS
#: Unsigned integers TF.js's int32 holds only below 2^31.
WIDE_UNSIGNED = frozenset({DType.UINT32, DType.UINT64})
#: The dtypes TF.js's graph loader reads as null, and those whose values need TF's wrap-around.
RETYPED = frozenset({DType.INT16, DType.UINT16, DType.UINT32, DType.UINT64, DType.BFLOAT16})
NARROW = frozenset(WRAPPED_INTS) | WIDE_UNSIGNED
INT32_LIMIT = 2 ** 31
_INTEGERS = NARROW | {DType.INT32, DType.INT64}

#: Ops whose integer result can leave its operands' range (TF wraps it around).
WRAPPING_OPS = frozenset({
    "Add", "AddV2", "AddN", "Sub", "Mul", "Neg", "Abs", "Square", "Sum", "Prod", "Cumsum", "Cumprod",
    "Div", "FloorDiv", "TruncateDiv", "LeftShift", "Invert", "ScatterNd", "TensorScatterAdd",
    "TensorScatterSub", "UnsortedSegmentSum", "SegmentSum", "UnsortedSegmentProd", "SegmentProd"})
#: TF's shifts, whose count it clamps to the operands' bit width.
SHIFTS = frozenset({"LeftShift", "RightShift"})
#: Ops whose integer results are among their data operands' values (or between them).
RANGE_KEEPING_OPS = frozenset({
    "Placeholder", "PlaceholderWithDefault", "Const", "Identity", "IdentityN", "Snapshot", "StopGradient",
    "EnsureShape", "Reshape", "Squeeze", "ExpandDims", "Transpose", "ConcatV2", "Concat", "Pack", "Unpack",
    "Split", "SplitV", "Slice", "StridedSlice", "GatherV2", "Gather", "GatherNd", "Tile", "Pad", "PadV2",
    "MirrorPad", "Select", "SelectV2", "Maximum", "Minimum", "Max", "Min", "Relu", "Relu6", "ClipByValue",
    "Fill", "ZerosLike", "OnesLike", "BroadcastTo", "Reverse", "ReverseV2", "Sign", "OneHot", "Roll",
    "FloorMod", "Mod", "TruncateMod", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "RightShift", "TopKV2",
    "Unique", "DepthToSpace", "SpaceToDepth", "BatchToSpaceND", "SpaceToBatchND", "TensorScatterUpdate",
    "ResizeNearestNeighbor", "MaxPool", "Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond",
    "Round", "Floor", "Ceil", "Sort", "Mean"})
#: Ops that move float16 values without computing any (lists, arrays, control flow and function calls, whose
#: bodies are rounded where inlined or refused where kept: ``_refuse_in_library``), or compute no float16 result.
_HALF_MOVING_OPS = frozenset({
    "TensorListGetItem", "TensorListSetItem", "TensorListStack", "TensorListFromTensor", "TensorListReserve",
    "TensorListGather", "TensorListScatter", "TensorListScatterV2", "TensorListScatterIntoExistingList",
    "TensorListConcat", "TensorListConcatV2", "TensorListSplit", "TensorListPushBack", "TensorListPopBack",
    "TensorListResize", "TensorListLength", "TensorListElementShape", "TensorArrayV3", "TensorArrayReadV3",
    "TensorArrayWriteV3", "TensorArrayGatherV3", "TensorArrayScatterV3", "TensorArrayConcatV3",
    "TensorArraySplitV3", "TensorArraySizeV3", "If", "StatelessIf", "While", "StatelessWhile", "Case",
    "StatelessCase", "PartitionedCall", "StatefulPartitionedCall", "MaxPoolV2", "ReverseSequence", "NoOp",
    "Shape", "ShapeN", "Size", "Rank", "Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "NotEqual",
    "IsNan", "IsInf", "IsFinite", "ArgMax", "ArgMin"})
#: Ops whose float16 results are values of their operands (no rounding): the range-keeping ones but Mean.
_HALF_EXACT = (RANGE_KEEPING_OPS - {"Mean"}) | _HALF_MOVING_OPS
#: Range-keeping ops whose results lie within the union of their operands' intervals (shape and index
#: operands included: a superset).
#: Of those, the ones that add zeros (implicit padding).
_ZERO_FILLING_OPS = frozenset({"Pad", "SpaceToBatchND"})
_UNION_OPS = RANGE_KEEPING_OPS - {
    "Placeholder", "PlaceholderWithDefault", "Sign", "OneHot", "FloorMod", "Mod", "TruncateMod", "BitwiseAnd",
    "BitwiseOr", "BitwiseXor", "RightShift", "Round", "Floor", "Ceil", "Maximum", "Minimum", "Relu", "Relu6",
    "ClipByValue", "ZerosLike", "OnesLike"}
#: Ops whose result interval does not depend on their operands' (NaN aside).
_FIXED_RANGES: dict[str, Interval] = {"ZerosLike": (0.0, 0.0), "OnesLike": (1.0, 1.0), "Sigmoid": (0.0, 1.0),
                                      "Softmax": (0.0, 1.0), "Tanh": (-1.0, 1.0)}


class NarrowIntegerError(OpProblemsError):
    """Nodes whose narrow/unsigned integer values TF.js cannot hold or compute as TF does."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        super().__init__(problems, "dtypes TF.js cannot compute as TensorFlow does",
                         hint="TF.js holds every integer as int32 and every float as float32: cast to "
                              "int32 or float32 in the model before these nodes")


def tfjs_dtype(dtype: DType) -> DType:
    """The dtype TF.js holds ``dtype``'s values in, for the dtypes its graph loader cannot name."""
    return TFJS_WEIGHT_DOWNCASTS[dtype] if dtype in RETYPED else dtype


def _retyped(value: Any) -> Any:
    if isinstance(value, DType):
        return tfjs_dtype(value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, DType) for v in value):
        return type(value)(_retyped(v) for v in value)
    return value


def type_range(dtype: DType | None) -> tuple[int, int] | None:
    if dtype in WRAPPED_INTS:
        lowest, bits = WRAPPED_INTS[dtype]
        return lowest, lowest + (1 << bits) - 1
    if dtype in WIDE_UNSIGNED:  # what a TF.js int32 input can hold
        return 0, INT32_LIMIT - 1
    if dtype == DType.BOOL:
        return 0, 1
    return None




#: Constants of more elements than this are bounded by their dtype alone: reading a weight here would load it
#: (weights stream from the source to the shards: nothing reads them before the writer).
_SMALL_CONSTANT = 4096


def _small(value: Value) -> bool:
    shape = getattr(value.producer.attrs.get("value"), "shape", None)
    return shape is not None and int(np.prod(shape, dtype=np.int64)) <= _SMALL_CONSTANT


class _Ranges:
    """Bounds of the values, known from constants, dtypes and the ops between them (None: unknown)."""

    def __init__(self) -> None:
        self.known: dict[Value, Interval] = {}

    def of(self, value: Value) -> Interval | None:
        if value in self.known:
            return self.known[value]
        array = const_array(value) if value.producer.op == "Const" and _small(value) else None
        if array is not None and array.size and array.dtype.kind in "iufb":
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                return None
            return float(array.min()), float(array.max())
        return type_range(value.dtype)

    def result(self, node: Node) -> Interval | None:
        """The interval of ``node``'s first output computed from its operands' (None when not derived)."""
        op, ins = node.op, [self.of(v) for v in node.inputs]
        if op == "Const" and node.outputs:
            return self.of(node.outputs[0])
        if op in _FIXED_RANGES:
            return _FIXED_RANGES[op]
        if op in ("Maximum", "Minimum", "Relu", "Relu6", "ClipByValue"):  # bounded on one side by a constant
            ins = [r if r is not None else _UNBOUNDED for r in ins]
        if op in ("AddV2", "Add", "Sub", "Mul", "Maximum", "Minimum") and len(ins) == 2 and None not in ins:
            (a, b), (c, d) = ins
            if op in ("AddV2", "Add"):
                return a + c, b + d
            if op == "Sub":
                return a - d, b - c
            if op == "Maximum":
                return max(a, c), max(b, d)
            if op == "Minimum":
                return min(a, c), min(b, d)
            corners = (a * c, a * d, b * c, b * d)
            return (min(corners), max(corners)) if np.isfinite(corners).all() else None
        if op == "Neg" and ins and ins[0] is not None:
            return -ins[0][1], -ins[0][0]
        if op == "Abs" and ins and ins[0] is not None:
            lo, hi = ins[0]
            return (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))), max(abs(lo), abs(hi))
        if op in ("Relu", "Relu6") and ins and ins[0] is not None:
            lo, hi = ins[0]
            return max(lo, 0.0), (max(hi, 0.0) if op == "Relu" else min(max(hi, 0.0), 6.0))
        if op == "ClipByValue" and len(ins) == 3:
            (x_lo, x_hi), (a_lo, a_hi), (b_lo, b_hi) = ins  # min(max(x, a), b)
            return min(max(x_lo, a_lo), b_lo), min(max(x_hi, a_hi), b_hi)
        if op == "Cast" and ins and ins[0] is not None:
            lo, hi = ins[0]
            destination = node.attrs.get("DstT", node.outputs[0].dtype if node.outputs else None)
            if destination == DType.BOOL:  # 0.5 is True
                return 0.0, 1.0
            if destination in _INTEGERS:
                return float(np.trunc(lo)), float(np.trunc(hi))
            return (lo, hi) if destination in (DType.FLOAT32, DType.FLOAT64) else None  # float16 rounds
        if op == "FloorMod" and len(ins) == 2 and ins[1] is not None and (ins[1][0] > 0 or ins[1][1] < 0):
            lo, hi = ins[1]
            dtype = node.outputs[0].dtype if node.outputs else None
            step = 1 if dtype in _INTEGERS else 0  # a float's FloorMod lies in [0, hi)
            return (0.0, hi - step) if lo > 0 else (lo + step, 0.0)
        if op in ("Round", "Floor", "Ceil") and ins and ins[0] is not None:
            return float(np.floor(ins[0][0])), float(np.ceil(ins[0][1]))
        if op in _UNION_OPS:
            data = [r for r in ins if r is not None]
            if data and len(data) == len(ins):
                zero = 0.0 if op in _ZERO_FILLING_OPS else np.inf  # their padding is 0
                return min(min(r[0] for r in data), zero), max(max(r[1] for r in data), -zero)
        return None


def _within(interval: Interval | None, bounds: tuple[int, int] | None) -> bool:
    return interval is not None and bounds is not None and bounds[0] <= interval[0] and interval[1] <= bounds[1]


def _out_dtype(node: Node) -> DType | None:
    dtype = node.outputs[0].dtype if node.outputs else None
    if dtype is None and node.op == "Cast":
        dtype = node.attrs.get("DstT")
    elif dtype is None and node.op in WRAPPING_OPS | RANGE_KEEPING_OPS:
        dtype = node.attrs.get("T", node.attrs.get("dtype"))
    return dtype if isinstance(dtype, DType) else None


class _Builder:
    """Adds the int32 helper nodes ``<node>/narrow/<label>``."""

    def __init__(self, graph: Graph, value: Value) -> None:
        self.graph, self.value = graph, value
        self.prefix = f"{value.producer.name}/narrow" + (f"{value.index}" if value.index else "")

    def scalar(self, number: float, dtype: DType, label: str) -> Value:
        return self.graph.const(np.asarray(number, dtype.numpy), name=f"{self.prefix}/{label}")

    def op(self, kind: str, inputs: list[Value], label: str, dtype: DType = DType.INT32,
           attrs: dict | None = None) -> Value:
        return self.graph.add_op(kind, inputs, {"T": tfjs_dtype(inputs[-1].dtype), **(attrs or {})},
                                 name=f"{self.prefix}/{label}", dtype=dtype, shape=self.value.shape)


def _wrap(graph: Graph, value: Value, dtype: DType) -> Value:
    """``value`` (int32) reduced into ``dtype``'s range as TF wraps it (the Keras lowering's helper, one formula)."""
    return wrapped(graph, value, dtype, _Builder(graph, value).prefix)


class NarrowIntegers(Pass):
    """Dtype attrs TF.js cannot name → the dtype it holds; 8/16-bit overflow wrapped as TF wraps it."""

    name = "narrow_ints"
    level = 0
    after = ("lower_einsum",)
    #: the TF-semantics normalizations (tfjsconv.builtin._NORMALIZATIONS): truncating_division turns Mean into a Sum
    before = ("batch_matmul_broadcast", "empty_reductions", "float_floor_division", "one_hot", "select_rows",
              "shape_n", "strided_slice", "switch_n", "tensor_scatter_update", "tfjs_pass_through", "truncating_division")

    def run(self, graph: Graph) -> PassResult:
        _refuse_in_library(graph)
        ranges, problems = _Ranges(), {}
        wraps = retypes = rounded = 0
        half_arithmetic: list[str] = []
        half_sums: dict[str, tuple[int | None, bool]] = {}  # float16 Sum/Mean/AvgPool: (values summed, one by one)
        readers = None
        for node in graph.topological_order():
            dtype = _out_dtype(node)
            if is_cast_to_half(node):
                round_cast_to_half(graph, node, *_uses(graph, node.outputs[0]))
                rounded += 1
            elif computes_in_half(node, dtype, _HALF_EXACT):
                readers = value_readers(graph) if readers is None else readers
                if (why := half_sum_problem(node, half_sums)) is not None:
                    problems.setdefault(node.op, []).append(f"{node.name} ({why})")
                rounded += round_half_result(graph, node, readers)
                if not rounds_once(node):
                    half_arithmetic.append(node.name)
            if dtype in WRAPPED_INTS and node.op in SHIFTS and len(node.inputs) == 2:
                _clamp_shift_count(graph, node, dtype)
            if dtype in NARROW and node.outputs:
                why = self._make_exact(graph, node, dtype, ranges)
                if why:
                    problems.setdefault(node.op, []).append(f"{node.name} ({why})")
                elif why is not None:
                    wraps += 1
            elif dtype == DType.BFLOAT16 and node.op not in RANGE_KEEPING_OPS \
                    and not (node.op == "Cast" and node.inputs and node.inputs[0].dtype == DType.BFLOAT16):
                problems.setdefault(node.op, []).append(
                    f"{node.name} (computes in bfloat16, which TF rounds to 8 significant bits and TF.js "
                    "computes in float32)")
            elif node.outputs:
                derived = ranges.result(node)
                if derived is not None:
                    ranges.known[node.outputs[0]] = derived
            retypes += _retype(node)
        if problems:
            raise NarrowIntegerError(problems)
        warn_half_arithmetic(graph, half_arithmetic, half_sums)
        return PassResult(wraps + retypes + rounded, {"wrapped": wraps, "retyped": retypes, "rounded_to_half": rounded})

    @staticmethod
    def _make_exact(graph: Graph, node: Node, dtype: DType, ranges: _Ranges) -> str | None:
        """Wrap ``node``'s result into ``dtype`` where it may leave it: None if nothing was needed, "" if
        wrapped, else why it cannot be made exact."""
        out, bounds = node.outputs[0], type_range(dtype)
        keeps = node.op in RANGE_KEEPING_OPS
        if not keeps and node.op not in WRAPPING_OPS and node.op != "Cast":
            return f"{dtype.short_name} result of an op not checked for TF's {dtype.short_name} semantics"
        if node.op == "Const" and dtype in WIDE_UNSIGNED:
            array = const_array(out)
            if array is not None and array.size and int(array.max()) >= INT32_LIMIT:
                return f"{dtype.short_name} constant of 2^31 or more, which TF.js's int32 cannot hold"
        derived = ranges.result(node)
        source = node.inputs[0] if node.op == "Cast" and node.inputs else None
        source_dtype = (source.dtype or node.attrs.get("SrcT")) if source is not None else None
        if keeps or _within(derived, bounds):
            ranges.known[out] = derived if _within(derived, bounds) else bounds
            return None
        ranges.known[out] = bounds
        if dtype in WIDE_UNSIGNED:
            return f"may reach 2^31 or more, or wrap below 0, which TF.js's int32 cannot hold as {dtype.short_name}"
        if source is not None and source_dtype is not None and source_dtype not in NARROW \
                and source_dtype not in (DType.INT32, DType.INT64, DType.BOOL):
            if source_dtype not in (DType.FLOAT32, DType.FLOAT64, DType.FLOAT16, DType.BFLOAT16):
                return f"cast from {source_dtype.short_name}"
            # TF's cast of a float beyond the range (or NaN) saturates in vectorized blocks of the tensor and
            # wraps in the rest (measured on x86: a 33-element tensor gets both): no one answer to copy
            return (f"cast of a float not proven within {dtype.short_name}'s range, whose result TF leaves to the "
                    "CPU's vector code: clip it first (tf.clip_by_value or tf.saturate_cast)")
        readers, outputs = _uses(graph, out)
        out.dtype = DType.INT32
        wrapped = _wrap(graph, out, dtype)
        ranges.known[wrapped] = bounds
        for reader, i in readers:
            reader.inputs[i] = wrapped
        for key in outputs:
            graph.outputs[key] = wrapped
        return ""


def _clamp_shift_count(graph: Graph, node: Node, dtype: DType) -> None:
    """TF clamps a shift count to ``[0, bits - 1]`` of the operands' type (``int8(1) << 10`` is -128): once the shift
    computes in int32 (retyped, its result wrapped), that bound would be 31, so the count is clamped here, in its own
    type, first (session 30, r6: an 8-bit shift by 10 folded to 0)."""
    count, bits = node.inputs[1], WRAPPED_INTS[dtype][1]
    prefix = f"{node.name}/narrow/shift_count"
    given = const_array(count)
    if given is not None:  # in its own dtype, as folding reads a constant shift (a folded clamp would be int32)
        node.inputs[1] = graph.const(np.clip(given, 0, bits - 1).astype(given.dtype), name=f"{prefix}/clamped",
                                     dtype=count.dtype)
        return
    held = tfjs_dtype(count.dtype or dtype)
    attrs = {"T": held}
    low = graph.add_op("Maximum", [count, graph.const(np.asarray(0, held.numpy), name=f"{prefix}/zero", dtype=held)],
                       attrs, name=f"{prefix}/at_least_zero", dtype=held, shape=count.shape)
    node.inputs[1] = graph.add_op("Minimum", [low, graph.const(np.asarray(bits - 1, held.numpy),
                                                                name=f"{prefix}/width", dtype=held)],
                                  attrs, name=f"{prefix}/clamped", dtype=held, shape=count.shape)


def _uses(graph: Graph, value: Value) -> tuple[list[tuple[Node, int]], list[str]]:
    """The (node, input index) pairs and the graph output keys that read ``value``."""
    readers = [(reader, i) for reader in graph.nodes for i, v in enumerate(reader.inputs) if v is value]
    return readers, [key for key, v in graph.outputs.items() if v is value]


def _retype(node: Node) -> int:
    """Rewrite ``node``'s dtype attrs and output dtypes to those TF.js holds; the number of changes."""
    changes = 0
    for key, value in node.attrs.items():
        if node.op == "Const" and key == "value":
            continue
        new = _retyped(value)
        if new is not value and new != value:  # `is`: a tensor attr (a HostConst's, an unknown op's) is an array
            node.attrs[key] = new
            changes += 1
    for out in node.outputs:
        if out.dtype in RETYPED:
            out.dtype = tfjs_dtype(out.dtype)
            changes += 1
    return changes


def _refuse_in_library(graph: Graph) -> None:
    """Functions kept as functions (``--control_flow_v2``) are written as they are, not rewritten: refuse those
    with dtypes TF.js cannot name, with 8/16-bit casts or arithmetic whose wrap-around would be lost, or with
    casts to float16 or float16 arithmetic whose rounding would be lost (data movement passes)."""
    unnamed = {d.tf_name for d in RETYPED | WIDE_UNSIGNED}
    wrapped = {d.tf_name for d in WRAPPED_INTS}

    def types(item: Any) -> set[str]:
        if isinstance(item, dict):
            return set().union(*(types(v) for v in item.values())) if item else set()
        if isinstance(item, list):
            return set().union(*(types(v) for v in item)) if item else set()
        return {item} if isinstance(item, str) and item.startswith("DT_") else set()

    found: list[str] = []
    for function in graph.library or []:
        if not isinstance(function, dict):
            continue
        name = str(function.get("signature", {}).get("name", "?"))
        if types(function) & unnamed:
            found.append(f"{name} (int16/uint16/uint32/uint64/bfloat16 inside a kept function)")
            continue
        for node in function.get("nodeDef", []) or []:
            op = node.get("op") if isinstance(node, dict) else None
            if op == "Cast" and types(node.get("attr", {}).get("DstT", {})) == {DType.FLOAT16.tf_name}:
                found.append(f"{name} (Cast {node.get('name', '?')} to float16 inside a kept function: TF's "
                             "rounding would be lost)")
            elif op != "Cast" and op not in _HALF_EXACT and DType.FLOAT16.tf_name in types(node.get("attr", {})):
                found.append(f"{name} (float16 {op} {node.get('name', '?')} inside a kept function: TF rounds "
                             "its result to float16, which TF.js's float32 does not; convert without "
                             "--control_flow_v2 to have it rounded)")
            elif (op == "Cast" or op in WRAPPING_OPS) and types(node.get("attr", {})) & wrapped:
                found.append(f"{name} (8/16-bit {op} {node.get('name', '?')} inside a kept function: its "
                             "wrap-around would be lost)")
    if found:
        raise NarrowIntegerError({"function": found})
