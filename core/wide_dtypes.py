"""Name the float64 and int64 arithmetic of a TensorFlow graph, which TF.js computes in float32 and int32.

TF.js has neither float64 nor int64: its graph loader reads ``DT_DOUBLE`` as float32 and ``DT_INT64`` as int32
(docs/backends.md, "Integer dtypes"), so a ``tf.function`` over float64 keeps about 7 significant digits, overflows
past 3.4e38 (``exp(100)``) and loses small differences (``(x + x·1e-12) - x`` is 0), and an int64 product past 2^31
wraps modulo 2^32 on cpu and wasm (webgl, which holds int32 as float32, loses low bits past 2^24 before that).
The writer names float64 *weights* it narrows; a graph with none (float64 inputs, a cast to float64) said nothing
(session-27 probe). This module names such graphs once per kind, before the passes rewrite the dtype attrs.

Only graphs read from a TensorFlow GraphDef are scanned (a SavedModel, a frozen GraphDef, a Keras model traced with
``--loader=tensorflow``): the Keras lowering names its float64 layers itself (``plugins/keras/lowering``), the ONNX
frontend holds doubles as float32 from the start and names them itself (``plugins/onnx/float64_note.py``),
and a TF.js graph model already computes in float32/int32.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

from .dtypes import DType
from .ir import Graph, Node

log = logging.getLogger(__name__)

#: Ops whose float64 results are their operands' values moved (or a constant): nothing computed in float64.
FLOAT64_MOVING_OPS = frozenset({
    "Const", "Placeholder", "PlaceholderWithDefault", "Identity", "IdentityN", "Snapshot", "StopGradient",
    "EnsureShape", "Reshape", "Squeeze", "ExpandDims", "Transpose", "ConcatV2", "Concat", "Pack", "Unpack",
    "Split", "SplitV", "Slice", "StridedSlice", "GatherV2", "Gather", "GatherNd", "Tile", "BroadcastTo",
    "Enter", "Exit", "Merge", "Switch", "NextIteration", "NoOp"})
#: Ops whose int64 results can pass ±2^31 where the operands do not (sums, products, shifts...).
INT64_ARITHMETIC_OPS = frozenset({
    "Add", "AddV2", "AddN", "Sub", "Mul", "Neg", "Abs", "Square", "Pow", "SquaredDifference", "Sum", "Prod",
    "Cumsum", "Cumprod", "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Div", "FloorDiv",
    "TruncateDiv", "LeftShift", "Invert", "ScatterNd", "TensorScatterAdd", "TensorScatterSub", "UnsortedSegmentSum",
    "SegmentSum", "UnsortedSegmentProd", "SegmentProd"})

FLOAT64_NOTICE = ("float64: TF.js has no float64, so {count} float64 op(s) of this graph ({names}) compute in "
                  "float32 (about 7 significant digits: results overflow past 3.4e38, and small differences of "
                  "large values keep only float32 rounding noise, which what follows can amplify, where "
                  "{reference} computes them in float64)")
#: float64 ops whose result moves by a whole period as their argument moves by 2π: one float32 rounding of a large
#: argument leaves none of their digits (session 32: ``sin(3·x)`` of x = -1e10 was 0.9933 in TF.js, 0.9991 in TF).
FLOAT64_PERIODIC_OPS = frozenset({"Sin", "Cos", "Tan"})
FLOAT64_PERIODIC_NOTICE = ("; of these, {names} take float64 arguments TF.js holds in float32: an argument x rounded "
                           "to float32 once (a cast of float64 data) moves by up to |x|·6e-8 radians, so sin/cos can "
                           "be 6e-3 off at |x| = 1e5 and keep no digit past 1e8 (tan more, near its poles); one "
                           "computed in float32 by ops above can be further off after a cancellation")
FLOAT64_INPUTS_NOTICE = ("float64: TF.js has no float64, so the float64 input(s) {names} are fed as float32 "
                         "(about 7 significant digits)")
INT64_NOTICE = ("int64: TF.js holds int64 as int32, so {count} int64 arithmetic op(s) of this graph ({names}) "
                "compute in int32: results past ±2^31 wrap modulo 2^32 on every backend (cpu, wasm; webgl loses "
                "low bits past 2^24 already) where TensorFlow keeps them")

_SHOWN = 5


def is_tensorflow_graph(graph: Graph, input_format: str | None) -> bool:
    """Whether ``graph`` was read from a TensorFlow GraphDef (its producer version is set) and is not a TF.js
    graph model read back (which already computes in float32/int32)."""
    return bool(graph.versions.get("producer")) and input_format != "tfjs_graph_model"


def _all_nodes(graph: Graph) -> Iterator[Node]:
    """The nodes of ``graph`` and of the functions it calls (control flow kept as functions)."""
    yield from graph.nodes
    for function in graph.functions.values():
        yield from function.nodes


def _output_dtypes(node: Node) -> set[DType]:
    return {value.dtype for value in node.outputs if value.dtype is not None}


def float64_ops(graph: Graph) -> list[str]:
    """Nodes that compute a float64 result (not a constant, input or a move of one)."""
    return [f"{n.op} {n.name}" for n in _all_nodes(graph)
            if n.op not in FLOAT64_MOVING_OPS and DType.FLOAT64 in _output_dtypes(n)]


def int64_arithmetic_ops(graph: Graph) -> list[str]:
    """Nodes whose int64 result may pass ±2^31 where TF keeps it (casts, shapes and index moves are left out)."""
    return [f"{n.op} {n.name}" for n in _all_nodes(graph)
            if n.op in INT64_ARITHMETIC_OPS and DType.INT64 in _output_dtypes(n)]


def shown_names(names: list[str]) -> str:
    """The first names and how many more (the ONNX frontend's float64 line shows them the same way)."""
    return ", ".join(names[:_SHOWN]) + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def wide_dtype_notices(graph: Graph) -> list[str]:
    """At most one line per kind: the float64 ops (or inputs) and the int64 arithmetic TF.js computes narrower."""
    lines = []
    floats = float64_ops(graph)
    inputs = [name for name, value in graph.inputs.items() if value.dtype == DType.FLOAT64]
    if floats:
        line = FLOAT64_NOTICE.format(count=len(floats), names=shown_names(floats), reference="TensorFlow")
        periodic = [name for name in floats if name.split(" ", 1)[0] in FLOAT64_PERIODIC_OPS]
        lines.append(line + (FLOAT64_PERIODIC_NOTICE.format(names=shown_names(periodic)) if periodic else ""))
    elif inputs:
        lines.append(FLOAT64_INPUTS_NOTICE.format(names=shown_names(inputs)))
    ints = int64_arithmetic_ops(graph)
    if ints:
        lines.append(INT64_NOTICE.format(count=len(ints), names=shown_names(ints)))
    return lines


def note_wide_dtypes(graph: Graph, input_format: str | None) -> None:
    """Log and add to ``graph.notes`` (the result's details) the lines of :func:`wide_dtype_notices`."""
    if not is_tensorflow_graph(graph, input_format):
        return
    for line in wide_dtype_notices(graph):
        log.warning("%s", line)
        graph.notes.append(line)
