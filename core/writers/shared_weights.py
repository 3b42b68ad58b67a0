"""A weight the graph holds twice is stored once: equal copies, and a matrix next to its transpose.

Models repeat big weights: torch's TorchScript ONNX exporter writes a tied embedding's output head as a
transposed copy of the embedding (``onnx::MatMul_…`` = ``emb.weight``ᵀ), and two initializers may hold the
same values. Constant folding cannot see it, and TF.js does not fold constants at run time, so deriving one
layout with a ``Transpose`` node would cost a full transpose per run. Instead:

- an equal copy (same dtype, shape and bytes) is dropped and its readers read the kept one;
- a transposed copy read only by ``MatMul``/``BatchMatMulV2`` (as either operand) is dropped and each reader
  flips its ``transpose_a/b`` (``adj_x/y``) flag: no new node, the same arithmetic (a plain matmul with a
  transposed operand runs on every backend). A ``_FusedMatMul`` keeps its own copy: the wasm fused kernel
  mis-computes transposed operands (``passes.backend_support``), so ``fuse_ops`` pre-transposes it on
  purpose. A transposed copy read by anything else (a conv, a Gather …) stays as it is.

Runs in the graph-model writer after every pass (no pass can split the weight again) and before quantized
weights are split, so a kept weight is split once. Exactness (bit for bit) decides, never a guess.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import Graph, Node, materialize
from ..passes.graph_edit import Uses

#: Smaller constants are left to ``cse`` (which merges them by value); only big weights matter for size.
MIN_ELEMENTS = 1024
#: op -> (attribute flipped when input 0 is the transposed copy, ... when input 1 is).
_MATMULS = {"MatMul": ("transpose_a", "transpose_b"), "BatchMatMulV2": ("adj_x", "adj_y"),
            "BatchMatMulV3": ("adj_x", "adj_y")}


@dataclasses.dataclass
class SharedWeights:
    """What was merged: ``dropped`` weight name -> the kept one's; and the bytes saved."""

    dropped: dict[str, str] = dataclasses.field(default_factory=dict)
    bytes_saved: int = 0


def share_weights(graph: Graph) -> SharedWeights:
    """Drop ``graph``'s equal and (for matmul readers) transposed copies of big constant weights."""
    result = SharedWeights()
    uses = Uses(graph)
    by_kind: dict[tuple, list[Node]] = {}
    for node in graph.nodes:
        if node.op == "Const" and _candidate(node, uses):
            value = node.attrs["value"]
            by_kind.setdefault((str(value.dtype), tuple(sorted(value.shape))), []).append(node)
    for group in by_kind.values():
        if len(group) > 1:
            _merge_group(graph, uses, group, result)
    return result


def _candidate(node: Node, uses: Uses) -> bool:
    value = node.attrs.get("value")
    if value is None or getattr(value, "dtype", None) is None or np.dtype(value.dtype).kind not in "fiuc":
        return False
    return (int(np.prod(value.shape, dtype=np.int64)) >= MIN_ELEMENTS and not node.control_inputs
            and node not in uses.control_anchors)


def _merge_group(graph: Graph, uses: Uses, group: list[Node], result: SharedWeights) -> None:
    """Within weights of one dtype and one multiset of dims: equal copies first (any reader), then transposed
    ones (matmul readers only). Arrays are read one at a time for a small key and again only to confirm a
    match; a lazy weight (read from its source by the writer) is read only when it may be a transposed copy
    (a non-square matrix)."""
    def array(node: Node) -> np.ndarray:
        return np.asarray(materialize(node.attrs["value"]))

    kept: dict[tuple, list[Node]] = {}
    alive: list[Node] = []
    for node in group:
        value = node.attrs["value"]
        if not isinstance(value, np.ndarray):
            alive.append(node)
            continue
        key = (value.shape, _sample(value))
        twin = next((k for k in kept.get(key, ()) if _same_bits(array(k), value)), None)
        if twin is not None and not (uses.outputs & set(node.outputs)):
            _drop(graph, uses, node, twin, result, value.nbytes)
            continue
        kept.setdefault(key, []).append(node)
        alive.append(node)
    matrices = [n for n in alive if _transposable(n.attrs["value"])]
    copies = [(n, r) for n in matrices for r in [_matmul_readers(n, uses)] if r]
    if not copies:
        return
    by_edges: dict[tuple, list[Node]] = {}
    for node in matrices:  # a matrix is found by its first row and first column
        a = array(node)
        by_edges.setdefault((a.shape, a[0].tobytes(), a[:, 0].tobytes()), []).append(node)
    dropped: set[int] = set()
    kept_twins: set[int] = set()  # their reader lists grew: never dropped in turn (readers listed up front)
    for node, readers in copies:
        if id(node) in kept_twins:
            continue
        b = array(node)
        key = (b.shape[::-1], b[:, 0].tobytes(), b[0].tobytes())  # bᵀ's first row and column
        twin = next((k for k in by_edges.get(key, ()) if k is not node and id(k) not in dropped
                     and _same_bits(np.transpose(array(k)), b)), None)
        if twin is None:
            continue
        for reader, index in readers:
            flag = _MATMULS[reader.op][index]
            reader.attrs[flag] = not bool(reader.attrs.get(flag, False))
        dropped.add(id(node))
        kept_twins.add(id(twin))
        _drop(graph, uses, node, twin, result, b.nbytes)


def _transposable(value) -> bool:
    """A matrix that may be another's transposed copy. A lazy square one is left out: every ``[d, d]`` weight of
    a transformer would be read once more to look, and a tied table is not square."""
    shape = tuple(value.shape)
    return len(shape) == 2 and (isinstance(value, np.ndarray) or shape[0] != shape[1])


def _matmul_readers(node: Node, uses: Uses) -> list[tuple[Node, int]] | None:
    """``(reader, input index)`` for every reader of ``node``'s weight when all are matmuls reading it once."""
    out = node.output(0)
    if out in uses.outputs:
        return None
    found = []
    for reader in dict.fromkeys(uses.readers.get(out, ())):
        indices = [i for i, v in enumerate(reader.inputs) if v is out]
        if reader.op not in _MATMULS or len(indices) != 1 or indices[0] > 1:
            return None
        found.append((reader, indices[0]))
    return found or None


def _drop(graph: Graph, uses: Uses, node: Node, twin: Node, result: SharedWeights, size: int) -> None:
    uses.replace(graph, node.output(0), twin.output(0))
    graph.remove_node(node)
    result.dropped[node.name] = twin.name
    result.bytes_saved += size


def _sample(array: np.ndarray) -> bytes:
    """A few elements spread over the array: equal arrays have equal samples (a cheap first filter)."""
    flat = array.reshape(-1)
    return flat[np.linspace(0, flat.size - 1, min(64, flat.size)).astype(np.int64)].tobytes()


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes and bytes (NaN payloads and -0.0 included), whatever the memory order."""
    return a.shape == b.shape and a.dtype == b.dtype and np.ascontiguousarray(a).tobytes() == \
        np.ascontiguousarray(b).tobytes()
