"""Provenance: which source nodes (TF node, ONNX node, Keras layer) each IR node came from.

Frontends set :attr:`Graph.provenance_scope` while they translate one source node, so every IR node
created meanwhile records it. Passes keep it through the shared edit helpers: a node built to
replace another takes that node's sources (:func:`adopt`), a node rewritten to absorb its producers
lists theirs too (:func:`absorb`), and :func:`fill_missing` covers the few nodes a pass built
without either (constants made for a reader take the reader's sources). Kept in the IR, written
only with ``--keep_provenance``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ir import Graph, Node, Value

#: Ops whose sources are their own (a weight or an input), never absorbed into a reader's provenance.
_LEAF_OPS = frozenset({"Const", "Placeholder", "PlaceholderWithDefault"})


def merge(*groups: Iterable[str]) -> tuple[str, ...]:
    """The sources of several nodes as one ordered tuple without repeats."""
    return tuple(dict.fromkeys(name for group in groups for name in group))


@contextmanager
def scope(graph: Graph, *sources: str) -> Iterator[None]:
    """While the block runs, every node added to ``graph`` records ``sources``."""
    previous = graph.provenance_scope
    graph.provenance_scope = merge(sources)
    try:
        yield
    finally:
        graph.provenance_scope = previous


def _claim_fresh(start: Iterable[Node], sources: tuple[str, ...]) -> None:
    """Give ``sources`` to the nodes without provenance reachable upstream from ``start``."""
    stack, seen = list(start), set()
    while stack:
        node = stack.pop()
        if node in seen or node.provenance:
            continue
        seen.add(node)
        node.provenance = sources
        stack.extend(v.producer for v in node.inputs)


def adopt(new: Value, old: Value) -> None:
    """``new`` replaces ``old``: the nodes a pass built for it (no provenance yet) take ``old``'s sources."""
    sources = old.producer.provenance
    if sources and new.producer is not old.producer:
        _claim_fresh([new.producer], sources)


def _read_through_fresh(start: Iterable[Node]) -> set[Node]:
    """The nodes ``start`` reads, directly or through fresh nodes (no provenance yet: a pass just built them)."""
    stack, seen, read = list(start), set(), set()
    while stack:
        node = stack.pop()
        read.add(node)
        if node in seen or node.provenance:
            continue
        seen.add(node)
        stack.extend(v.producer for v in node.inputs)
    return read


def absorb(node: Node, old_inputs: Iterable[Value]) -> None:
    """``node`` was rewritten in place: it now also stands for the computing producers it no longer reads
    (a fused Conv+BiasAdd+Relu lists all three), and fresh nodes feeding it take its sources. A producer the fresh
    nodes still read keeps its own value in the graph (``mean_as_sum``'s ``Sum(x · 2^-k)`` reads ``x``): not absorbed,
    else ``verify --trace`` would find no node for it."""
    kept = _read_through_fresh(v.producer for v in node.inputs)
    dropped = [v.producer for v in old_inputs if v.producer not in kept and v.producer.op not in _LEAF_OPS]
    if dropped:
        node.provenance = merge(*(d.provenance for d in dropped), node.provenance)
    if node.provenance:
        _claim_fresh([v.producer for v in node.inputs], node.provenance)


def missing(graph: Graph) -> list[Node]:
    """Nodes that record no source."""
    return [node for node in graph if not node.provenance]


def fill_missing(graph: Graph) -> int:
    """Nodes without provenance take their readers' sources (else their producers'); returns how many
    were filled. Does nothing on a graph whose frontend recorded no provenance at all."""
    if not any(node.provenance for node in graph):
        return 0
    order = graph.topological_order()
    readers: dict[Node, list[Node]] = {}
    for node in order:
        for value in node.inputs:
            readers.setdefault(value.producer, []).append(node)
    filled, before = 0, -1
    while filled != before:  # an output's perm Const waits for the output node to be filled from its producer
        before = filled
        for node in reversed(order):
            if not node.provenance:
                node.provenance = merge(*(r.provenance for r in readers.get(node, ())))
                filled += bool(node.provenance)
        for node in order:
            if not node.provenance:
                node.provenance = merge(*(v.producer.provenance for v in node.inputs))
                filled += bool(node.provenance)
    return filled


def provenance_map(graph: Graph) -> dict[str, list[str]]:
    """IR node name -> its sources, in topological order (what ``--keep_provenance`` writes)."""
    return {node.name: list(node.provenance) for node in graph.topological_order()}


#: The side file ``--keep_provenance`` writes next to model.json.
PROVENANCE_JSON = "provenance.json"
FORMAT = "tfjsconv-provenance"


def torch_module_paths(onnx_nodes: Iterable[object]) -> dict[str, str]:
    """ONNX node name -> the PyTorch module path that torch.onnx.export recorded for it, when it did.

    The dynamo exporter stores ``pkg.torch.onnx.name_scopes`` (``['', 'layers', '0', 'linear']``: the
    module attributes, then the op); the legacy exporter names nodes ``/layers.0/linear/Gemm``.
    """
    import ast

    paths: dict[str, str] = {}
    for node in onnx_nodes:
        name = getattr(node, "name", "")
        props = {p.key: p.value for p in getattr(node, "metadata_props", ())}
        scopes = props.get("pkg.torch.onnx.name_scopes")
        path = ""
        if scopes:
            try:
                parts = ast.literal_eval(scopes)
            except (ValueError, SyntaxError):
                parts = []
            path = ".".join(str(p) for p in parts[:-1] if p)
        elif name.startswith("/") and name.count("/") >= 2:
            path = ".".join(p for p in name.split("/")[1:-1] if p)
        if name and path:
            paths[name] = path
    return paths


def provenance_doc(graph: Graph, *, frontend: str | None) -> dict[str, object]:
    """The provenance.json document of ``graph`` (filling the few nodes a pass left without sources)."""
    fill_missing(graph)
    nodes = provenance_map(graph)
    used = {source for sources in nodes.values() for source in sources}
    modules = {k: v for k, v in sorted(graph.source_modules.items()) if k in used}
    doc: dict[str, object] = {"format": FORMAT, "version": 1, "frontend": frontend, "nodes": nodes}
    if modules:
        doc["modules"] = modules
    layouts = {k: v for k, v in sorted(graph.source_layouts.items()) if k in used}
    if layouts:
        doc["layouts"] = layouts
    return doc


def write_provenance(graph: Graph, folder: object, *, frontend: str | None) -> None:
    """Write ``provenance.json`` into ``folder`` (the model's staging directory)."""
    import json
    from pathlib import Path

    text = json.dumps(provenance_doc(graph, frontend=frontend), separators=(",", ":"), ensure_ascii=False)
    (Path(folder) / PROVENANCE_JSON).write_text(text, encoding="utf-8")


def read_provenance(folder: object) -> dict[str, object] | None:
    """The provenance.json of a converted model folder, or None when it was converted without it."""
    import json
    from pathlib import Path

    path = Path(folder) / PROVENANCE_JSON
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else None
