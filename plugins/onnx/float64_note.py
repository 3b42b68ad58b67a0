"""Name the double (float64) arithmetic of an ONNX model, which TF.js computes in float32.

TF.js has no float64: the frontend holds every double tensor as float32, so a chain onnxruntime computes in double
keeps about 7 significant digits and overflows past 3.4e38 (``Cast(1e30 -> double)``, ``Pow 2``, ``Sqrt`` gives
1e30 in onnxruntime and Inf in TF.js: graph 3101/27 of ``bench/onnx_random_graphs.py``, session 31, said nothing).
The line reuses the TensorFlow frontend's wording (:mod:`tfjsconv.wide_dtypes`) with onnxruntime as the reference.
int64 is not named here: ONNX shape arithmetic is int64 in nearly every model (and range-checked where constant).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tfjsconv.wide_dtypes import FLOAT64_INPUTS_NOTICE, FLOAT64_NOTICE, shown_names

from .tensors import attribute_value

#: ONNX ops whose double results are their operands' values moved, picked or a constant: nothing computed.
MOVING_OPS = frozenset({
    "Identity", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Flatten", "Concat", "Split", "Slice", "Gather",
    "GatherElements", "GatherND", "Tile", "Expand", "Constant", "ConstantOfShape", "Dropout", "SpaceToDepth",
    "DepthToSpace", "Compress", "ReverseSequence", "Optional", "OptionalGetElement", "SequenceAt", "If", "Loop",
    "Scan", "Where", "Pad", "MaxPool", "ReduceMax", "ReduceMin", "Max", "Min", "TopK", "Relu", "Neg", "Abs"})
#: dtypes whose every value float32 holds exactly: a Cast from them up to double computes nothing.
EXACT_IN_FLOAT32 = frozenset(np.dtype(t) for t in (np.float16, np.float32, np.bool_, np.int8, np.uint8, np.int16,
                                                    np.uint16))

DtypeOf = Callable[[str], "np.dtype | None"]
IsFolded = Callable[[str], bool]


def _subgraphs(node: Any) -> Iterator[Any]:
    """The graphs held by ``node``'s attributes (If's branches, Loop's and Scan's bodies)."""
    for attr in node.attribute:
        value = attribute_value(attr)
        for item in value if isinstance(value, list) else [value]:
            if hasattr(item, "node"):
                yield item


def _nodes(graph: Any) -> Iterator[Any]:
    """``graph``'s nodes and those of the graphs its nodes hold."""
    for node in graph.node:
        yield node
        for sub in _subgraphs(node):
            yield from _nodes(sub)


def _live_nodes(graph: Any) -> list[Any]:
    """``graph``'s nodes some output depends on (dead ones are dropped: they change no result), and every node of
    the graphs a live node holds; in graph order."""
    needed = {vi.name for vi in graph.output}
    live = []
    for node in reversed(graph.node):
        if not any(o in needed for o in node.output):
            continue
        inner = [n for sub in _subgraphs(node) for n in _nodes(sub)]
        needed.update(name for n in (node, *inner) for name in n.input)  # a body reads outer names too
        live[:0] = [node, *inner]
    return live


def _computes_double(node: Any, dtype_of: DtypeOf, folded: IsFolded) -> bool:
    """Whether ``node`` computes a double result onnxruntime keeps in double (not a move, nor an exact Cast up) at
    run time (a node folded at conversion was computed in double by onnx's reference evaluator, then stored)."""
    outputs = [o for o in node.output if o]
    if node.op_type in MOVING_OPS or not any(dtype_of(o) == np.float64 for o in outputs):
        return False
    if outputs and all(folded(o) for o in outputs):
        return False
    if node.op_type == "Cast":
        source = dtype_of(node.input[0])
        return source is None or np.dtype(source) not in EXACT_IN_FLOAT32
    return True


def float64_nodes(graph: Any, dtype_of: DtypeOf, folded: IsFolded) -> list[str]:
    """``Op name`` of each live node (subgraphs too) computing in double, in graph order."""
    return [f"{node.op_type} {node.name or node.output[0]}" for node in _live_nodes(graph)
            if _computes_double(node, dtype_of, folded)]


def float64_note(graph: Any, dtype_of: DtypeOf, folded: IsFolded) -> str | None:
    """The line for a model computing in double (else one naming its double inputs, fed as float32), or None."""
    nodes = float64_nodes(graph, dtype_of, folded)
    if nodes:
        return FLOAT64_NOTICE.format(count=len(nodes), names=shown_names(nodes), reference="onnxruntime")
    weights = {init.name for init in graph.initializer}
    inputs = [vi.name for vi in graph.input if vi.name not in weights and dtype_of(vi.name) == np.float64]
    if inputs:
        return FLOAT64_INPUTS_NOTICE.format(names=shown_names(inputs))
    return None
