"""``SparseSegmentSum``/``SparseSegmentMean`` over data that may have no rows at run time: give wasm one row then.

Measured in TF.js 4.22 (``tests/test_runtime_empty_sizes_s33.py``): wasm's sparse segment reduction throws "divide
by zero" when ``data`` has 0 rows (its kernel divides ``data``'s size by its row count), where TF returns an empty
result; cpu runs it, and wasm runs data with rows but no indices. The TF frontend builds every sorted segment op
(``SegmentSum``/``Mean``/``Max``/``Min``, ``SparseSegment*``) on these two, so each of them threw for an empty batch.
Data with no rows can only be read by no index (TF raises otherwise): one row appended exactly then
(``reduction_padding.pad_axes``: a block of ``1 - min(rows, 1)`` zero rows, empty and copy-free otherwise) changes no
result; the indices become ``indices · keep + keep - 1`` (``keep = min(rows, 1)``): themselves when there are rows,
and -1 when not, so that an index into no rows still fails the run ("out of range") as it does in TF, instead of
reading the padding row.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from .reduction_padding import is_padded, pad_axes

#: Backends whose sparse segment reduction throws over data without rows (webgpu: not probed, assumed so).
THROWS_WITHOUT_ROWS = frozenset({"wasm", "webgpu"})
SEGMENT_OPS = ("SparseSegmentSum", "SparseSegmentMean", "SparseSegmentSqrtN")


def pad_empty_segment_data(graph: Graph, node: Node, shapes: dict, targets: tuple[str, ...]) -> bool:
    """Pad ``node``'s data with a row when it may have none at run time and a target backend would throw there;
    False when its rows are known, its rank is unknown (left loud) or it is padded already."""
    if node.op not in SEGMENT_OPS or len(node.inputs) != 3 or not THROWS_WITHOUT_ROWS & set(targets) or \
            is_padded(node):
        return False
    shape = shapes.get(node.inputs[0])
    dtype = node.attrs.get("T") or node.inputs[0].dtype
    index_type = node.attrs.get("Tidx") or node.inputs[1].dtype or DType.INT32
    if not shape or shape[0] not in (None, 0) or not isinstance(dtype, DType) or index_type != DType.INT32:
        return False  # int64 indices: TF.js holds them as int32, the frontends emit int32 ones
    rows = pad_axes(graph, node, tuple(shape), [0], np.zeros((), dtype.numpy), dtype)
    node.inputs = [node.inputs[0], _indices_failing_without_rows(graph, node, rows), node.inputs[2]]
    return True


def _indices_failing_without_rows(graph: Graph, node: Node, rows: Value) -> Value:
    """``indices · keep + keep - 1`` with ``keep = min(rows, 1)``: the indices when ``data`` has rows, else -1."""
    indices, name, t = node.inputs[1], node.name, {"T": DType.INT32}

    def op(kind: str, inputs: list[Value], label: str, shape: tuple | None = ()) -> Value:
        return graph.add_op(kind, inputs, t, name=f"{name}/rows_or_fail/{label}", dtype=DType.INT32, shape=shape)

    one = graph.const(np.int32(1), name=f"{name}/rows_or_fail/one")
    keep = op("Minimum", [rows, one], "keep")
    kept = op("Mul", [indices, keep], "kept", indices.shape)
    return op("AddV2", [kept, op("Sub", [keep, one], "fail_when_empty")], "indices", indices.shape)
