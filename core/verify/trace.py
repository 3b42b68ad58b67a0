"""``verify --trace``: compare a converted model with its source node by node, and name the first node that parts ways.

Graph models: each TF.js node records its sources in ``provenance.json`` (``--keep_provenance``). A
source node's value is compared with the *last* TF.js node (in topological order) whose provenance
ends with it: the nodes a mapping or a rewrite emits for one source node all carry its name, and only
the last holds its value (a fused ``_FusedConv2D`` of Conv, BiasAdd and Relu ends with the Relu and
lists all three). ONNX values are transposed into the IR's layout first (``layouts`` in
provenance.json: the NHWC-inside translation). Layers models: each Keras layer against TF.js's
layer of the same name, through a sub-model on both sides.

Cost: at most ``limit`` tensors are fetched per run of each side; a model with more comparable nodes
is bisected (the boundaries first, then the ancestors of the first boundary that fails). Each side
holds at most one copy of a tensor: TF.js runs one backend at a time and its values are dropped once
compared.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from .compare import DEFAULT_ATOL, DEFAULT_ELEM_FLOOR, DEFAULT_ELEM_RTOL, DEFAULT_RTOL, OutputComparison, compare
from .run import DEFAULT_BACKENDS

#: Default largest number of tensors fetched in one run (every node of a graph up to this size).
DEFAULT_TRACE_LIMIT = 2000

#: Source node name -> its outputs (what :meth:`Frontend.trace_reference` returns).
SourceValues = dict[str, list[np.ndarray]]


@dataclass
class TraceRow:
    """One TF.js node (or layer) compared with the source node (or layer) it stands for."""

    node: str
    op: str
    #: Every source the TF.js node stands for (a fused node lists all of them); ``source`` is the last.
    sources: list[str]
    source: str
    position: int
    #: Backend -> comparison (None until fetched).
    comparisons: dict[str, OutputComparison] = field(default_factory=dict)
    #: The permutation applied to the source value (ONNX's NCHW -> NHWC), if any.
    layout: list[int] | None = None
    #: Why the row could not be compared (no source value, no shape that fits).
    problem: str | None = None
    #: Nearest compared TF.js nodes upstream.
    inputs: list[str] = field(default_factory=list)
    #: Source node -> the PyTorch module path the ONNX export recorded for it (torch conversions).
    modules: dict[str, str] = field(default_factory=dict)

    @property
    def compared(self) -> bool:
        return bool(self.comparisons)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons.values())

    @property
    def error(self) -> float:
        """The largest max-abs-error / max|reference| over backends (NaN/inf when those disagree)."""
        errs = [c.max_rel_err if c.max_rel_err is not None else (0.0 if c.passed else math.inf)
                for c in self.comparisons.values()]
        return max(errs, key=lambda e: math.inf if math.isnan(e) else e) if errs else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "op": self.op, "sources": list(self.sources), "source": self.source,
                "position": self.position, "compared": self.compared, "passed": self.passed if self.compared else None,
                "error": _json_float(self.error) if self.compared else None, "layout": self.layout,
                "inputs": list(self.inputs), "problem": self.problem, "modules": dict(self.modules),
                "backends": {b: c.to_json() for b, c in self.comparisons.items()}}


@dataclass
class TraceReport:
    model_dir: str
    source: str
    frontend: str
    kind: str  # "graph" or "layers"
    backends: list[str]
    rtol: float
    atol: float
    limit: int
    rows: list[TraceRow]
    rounds: int = 0
    fetched: int = 0
    seconds: float = 0.0
    tfjs_version: str | None = None

    @property
    def compared(self) -> list[TraceRow]:
        return [r for r in self.rows if r.compared]

    @property
    def first_failure(self) -> TraceRow | None:
        return next((r for r in self.rows if r.compared and not r.passed), None)

    @property
    def passed(self) -> bool:
        """No compared node differs, and at least one was compared (a trace that paired nothing proves nothing)."""
        return self.first_failure is None and bool(self.compared)

    def row(self, node: str) -> TraceRow:
        return next(r for r in self.rows if r.node == node)

    def path_to(self, row: TraceRow) -> list[TraceRow]:
        """Compared rows from an input to ``row``, each step the input with the largest error."""
        path, seen = [row], {row.node}
        while path[-1].inputs:
            worst = max((self.row(n) for n in path[-1].inputs), key=lambda r: _sortable(r.error))
            if worst.node in seen:
                break
            seen.add(worst.node)
            path.append(worst)
        return path[::-1]

    def to_json(self) -> dict[str, Any]:
        bad = self.first_failure
        return {"passed": self.passed, "status": "PASS" if self.passed else "FAIL", "model_dir": self.model_dir,
                "source": self.source, "frontend": self.frontend, "kind": self.kind, "backends": self.backends,
                "rtol": self.rtol, "atol": self.atol, "trace_limit": self.limit, "rounds": self.rounds,
                "fetched": self.fetched, "seconds": round(self.seconds, 3), "tfjs_version": self.tfjs_version,
                "first_failure": bad.node if bad else None,
                "path": [{"node": r.node, "error": _json_float(r.error)} for r in self.path_to(bad)] if bad else [],
                "rows": [r.to_json() for r in self.rows]}


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def _sortable(value: float) -> float:
    return math.inf if math.isnan(value) else value


# -- the TF.js model's structure --------------------------------------------------------------------------

@dataclass
class _Structure:
    """The comparable units of a model: graph nodes, or layers, in topological order."""

    order: list[str]
    ops: dict[str, str]
    producers: dict[str, list[str]]
    provenance: dict[str, list[str]]
    layouts: dict[str, list[list[int] | None]]
    modules: dict[str, str] = field(default_factory=dict)


def graph_structure(model_dir: Path) -> _Structure:
    from ..provenance import read_provenance
    from ..weights.reader import read_model_json

    doc = read_model_json(model_dir)
    nodes = (doc.get("modelTopology") or {}).get("node") or []
    prov = read_provenance(model_dir)
    if prov is None:
        raise UsageError(f"{model_dir} has no provenance.json, which --trace needs to pair TF.js nodes with source nodes",
                         hint="convert again with --keep_provenance")
    producers = {n["name"]: list(dict.fromkeys(i.lstrip("^").split(":")[0] for i in n.get("input", [])))
                 for n in nodes}
    return _Structure(_topological(producers), {n["name"]: n.get("op", "") for n in nodes}, producers,
                      {k: list(v) for k, v in (prov.get("nodes") or {}).items()}, dict(prov.get("layouts") or {}),
                      dict(prov.get("modules") or {}))


def layers_structure(model_dir: Path) -> _Structure:
    """Layers in model.json order; a layer's producers are the layers its inbound nodes name."""
    from ..weights.reader import read_model_json

    doc = read_model_json(model_dir)
    topology = doc.get("modelTopology") or {}
    config = topology.get("model_config", topology)
    layers = (config.get("config") or {}).get("layers") or []
    if isinstance(config.get("config"), list):  # old Sequential: the config is the list of layers
        layers = config["config"]
    sequential = config.get("class_name") == "Sequential"
    order, ops, producers = [], {}, {}
    previous: str | None = None
    for layer in layers:
        name = (layer.get("config") or {}).get("name") or layer.get("name")
        order.append(name)
        ops[name] = layer.get("class_name", "")
        if sequential:
            producers[name] = [previous] if previous else []
        else:
            producers[name] = list(dict.fromkeys(_inbound_names(layer.get("inbound_nodes") or [])))
        previous = name
    return _Structure(order, ops, producers, {n: [n] for n in order}, {})


def _inbound_names(inbound: Any) -> list[str]:
    """Layer names in a Keras ``inbound_nodes`` entry (``[[["conv", 0, 0, {}], ...]]`` or Keras 3's dicts)."""
    found: list[str] = []
    if isinstance(inbound, list):
        if len(inbound) >= 3 and isinstance(inbound[0], str) and isinstance(inbound[1], int):
            return [inbound[0]]
        for item in inbound:
            found.extend(_inbound_names(item))
    elif isinstance(inbound, dict):
        history = inbound.get("keras_history")
        if isinstance(history, list) and history and isinstance(history[0], str):
            return [history[0]]
        for item in inbound.values():
            found.extend(_inbound_names(item))
    return found


def _topological(producers: Mapping[str, list[str]]) -> list[str]:
    """Nodes in an order where every node follows its producers (model.json order among ready nodes)."""
    order, state = [], {}
    for start in producers:
        stack = [(start, False)]
        while stack:
            name, done = stack.pop()
            if done:
                state[name] = 2
                order.append(name)
                continue
            if state.get(name) or name not in producers:
                continue
            state[name] = 1
            stack.append((name, True))
            stack.extend((p, False) for p in reversed(producers[name]) if not state.get(p))
    return order


def representatives(structure: _Structure, skip_ops: frozenset[str]) -> list[TraceRow]:
    """One row per source node: the last TF.js node (topologically) whose provenance names it, when
    that node's provenance ends with it (else the source was absorbed into a fused node: no row)."""
    last: dict[str, str] = {}
    for name in structure.order:
        if structure.ops.get(name) in skip_ops:
            continue
        for source in structure.provenance.get(name) or []:
            last[source] = name
    last = {source: node for source, node in last.items() if structure.provenance[node][-1] == source}
    position = {name: i for i, name in enumerate(structure.order)}
    rows = [TraceRow(node, structure.ops.get(node, ""), list(structure.provenance[node]), source, position[node],
                     modules={s: structure.modules[s] for s in structure.provenance[node] if s in structure.modules})
            for source, node in last.items()]
    return sorted(rows, key=lambda r: r.position)


# -- pairing values ------------------------------------------------------------------------------------------

def laid_out(value: np.ndarray, shape: tuple[int, ...], perm: list[int] | None) -> tuple[np.ndarray, list[int] | None] | None:
    """The source ``value`` in the TF.js tensor's layout, as a view: the recorded permutation first,
    then as is, then channels-last; None when no layout gives ``shape``."""
    rank = value.ndim
    tried: list[list[int] | None] = []
    if perm is not None and len(perm) == rank:
        tried.append(list(perm))
    tried.append(None)
    if rank >= 3:
        tried.append([0, *range(2, rank), 1])
    for p in tried:
        view = value if p is None else np.transpose(value, p)
        if tuple(view.shape) == tuple(shape):
            return view, p
    return None


# -- the trace -----------------------------------------------------------------------------------------------

SourceFetch = Callable[[list[str]], SourceValues]
TfjsFetch = Callable[[list[str], str], dict[str, np.ndarray]]


def run_trace(rows: list[TraceRow], structure: _Structure, fetch_source: SourceFetch, fetch_tfjs: TfjsFetch, *,
              backends: Sequence[str], limit: int, rtol: float, atol: float, elem_rtol: float | None,
              elem_floor: float) -> int:
    """Fetch and compare rows, all at once or by bisection; returns the number of rounds."""
    if limit < 1:
        raise UsageError("--trace_limit must be at least 1")
    by_node = {r.node: r for r in rows}
    candidates = list(rows)
    rounds = 0
    while candidates:
        rounds += 1
        chosen = _spread(candidates, limit)
        _fetch_round(chosen, structure, fetch_source, fetch_tfjs, backends=backends, rtol=rtol, atol=atol,
                     elem_rtol=elem_rtol, elem_floor=elem_floor)
        _link_inputs(rows, structure)
        bad = next((r for r in rows if r.compared and not r.passed), None)
        if bad is None:
            break
        upstream = _ancestors(bad.node, structure)
        candidates = [by_node[n] for n in structure.order
                      if n in upstream and n in by_node and not by_node[n].compared and by_node[n].problem is None]
    return rounds


def _spread(rows: list[TraceRow], limit: int) -> list[TraceRow]:
    """All rows when they fit, else ``limit`` evenly spaced ones (the last always: it bounds the interval)."""
    if len(rows) <= limit:
        return list(rows)
    step = len(rows) / limit
    picked = {min(len(rows) - 1, int(round((k + 1) * step)) - 1) for k in range(limit)}
    return [rows[i] for i in sorted(picked)]


def _fetch_round(chosen: list[TraceRow], structure: _Structure, fetch_source: SourceFetch, fetch_tfjs: TfjsFetch, *,
                 backends: Sequence[str], rtol: float, atol: float, elem_rtol: float | None, elem_floor: float) -> None:
    source_values = fetch_source([r.source for r in chosen])
    for row in chosen:
        if row.source not in source_values or not source_values[row.source]:
            row.problem = "the source framework has no value for this node"
    live = [r for r in chosen if r.problem is None]
    for backend in backends:
        live = [r for r in live if r.problem is None]
        values = fetch_tfjs([r.node for r in live], backend)
        for row in live:
            actual = values.pop(row.node, None)
            if actual is None:
                row.problem = f"TF.js returned no value on {backend}"
                continue
            pair = _pair(row, actual, source_values[row.source], structure)
            if pair is None:
                shapes = ", ".join(str(list(v.shape)) for v in source_values[row.source])
                row.problem = f"no source output fits TF.js's shape {list(actual.shape)} (source: {shapes})"
                row.comparisons.clear()
                continue
            expected, row.layout = pair
            (result,) = compare({row.node: actual}, {row.node: expected}, rtol=rtol, atol=atol, backend=backend,
                                elem_rtol=elem_rtol, elem_floor=elem_floor)
            row.comparisons[backend] = result
        del values  # one copy per side: this backend's tensors go before the next backend's come
    for row in chosen:
        if row.problem is not None:
            row.comparisons.clear()
    source_values.clear()


def _pair(row: TraceRow, actual: np.ndarray, outputs: list[np.ndarray], structure: _Structure
          ) -> tuple[np.ndarray, list[int] | None] | None:
    perms = structure.layouts.get(row.source) or []
    for j, value in enumerate(outputs):
        value = np.asarray(value)
        if _kind(value.dtype) != _kind(actual.dtype):  # TopK's values and indices share a shape, not a dtype
            continue
        found = laid_out(value, tuple(actual.shape), perms[j] if j < len(perms) else None)
        if found is not None:
            return found
    return None


def _kind(dtype: np.dtype) -> str:
    """float, integer (TF.js has int32 where the source has int64 or uint8) or bool: what must agree to pair."""
    kind = np.dtype(dtype).kind
    return {"u": "i", "c": "f"}.get(kind, kind)


def _ancestors(node: str, structure: _Structure) -> set[str]:
    seen, stack = set(), list(structure.producers.get(node, []))
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(structure.producers.get(name, []))
    return seen


def _link_inputs(rows: list[TraceRow], structure: _Structure) -> None:
    """Each compared row's nearest compared TF.js nodes upstream."""
    compared = {r.node for r in rows if r.compared}
    position = {n: i for i, n in enumerate(structure.order)}
    for row in rows:
        if not row.compared:
            continue
        found, seen, stack = [], set(), list(structure.producers.get(row.node, []))
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in compared:
                found.append(name)
            else:
                stack.extend(structure.producers.get(name, []))
        row.inputs = sorted(found, key=lambda n: position.get(n, 0))


# -- entry point ---------------------------------------------------------------------------------------------

def trace_model(source: str | Path, model_dir: str | Path, *, inputs: Mapping[str, np.ndarray] | None = None,
                seed: int = 0, input_format: str | None = None, backends: Sequence[str] = DEFAULT_BACKENDS,
                limit: int = DEFAULT_TRACE_LIMIT, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                elem_rtol: float | None = DEFAULT_ELEM_RTOL, elem_floor: float = DEFAULT_ELEM_FLOOR,
                quiet: bool = False, convert_options: Mapping[str, Any] | None = None) -> TraceReport:
    """Trace ``model_dir`` (converted from ``source``) against ``source``, node by node on each backend.

    ``convert_options``: frontend options the conversion was given that the source side needs too
    (a torch module's ``example_inputs``, ``input_layout``, ``allow_unsafe_deserialization``, a SavedModel's
    ``signature_name``).
    """
    from ..conversion import select_frontend
    from ..options import ConvertOptions
    from ..plugin_manager import get_plugin_manager
    from ..weights.reader import read_model_json
    from .inputs import input_specs, random_inputs
    from .run import run_model
    from .tfjs_trace import NOT_TRACED, nodes_in_loops, tfjs_intermediates

    started = time.perf_counter()
    model_dir = Path(model_dir)
    doc = read_model_json(model_dir)
    kind = "graph" if (doc.get("modelTopology") or {}).get("node") is not None else "layers"
    structure = graph_structure(model_dir) if kind == "graph" else layers_structure(model_dir)
    rows = representatives(structure, NOT_TRACED | {"InputLayer"})
    if kind == "graph":
        looped = nodes_in_loops(doc["modelTopology"]["node"])
        rows = [row for row in rows if row.node not in looped]
    inputs = dict(inputs) if inputs is not None else random_inputs(input_specs(model_dir), seed=seed)

    registry = get_plugin_manager().registry
    frontend = select_frontend(source, input_format, registry)
    given = dict(convert_options or {})
    unsafe = bool(given.pop("allow_unsafe_deserialization", False))
    signature = given.pop("signature_name", None)  # None: the one model_dir records
    options = ConvertOptions(input_format=frontend.name, extra={**given, "model_dir": str(model_dir)},
                             registry=registry, allow_unsafe_deserialization=unsafe, signature_name=signature)
    version: list[str | None] = [None]

    def fetch_source(names: list[str]) -> SourceValues:
        try:
            return frontend.trace_reference(source, inputs, names, options)
        except NotImplementedError as err:
            raise UsageError(str(err)) from None

    def fetch_tfjs(names: list[str], backend: str) -> dict[str, np.ndarray]:
        if not names:
            return {}
        if kind == "graph":
            return tfjs_intermediates(model_dir, inputs, names, backends=(backend,))[backend]
        result = run_model(model_dir, inputs, backends=(backend,), layer_outputs=names, quiet=quiet)
        version[0] = result.tfjs_version
        return dict(result.outputs(backend))

    rounds = run_trace(rows, structure, fetch_source, fetch_tfjs, backends=backends, limit=limit, rtol=rtol,
                       atol=atol, elem_rtol=elem_rtol, elem_floor=elem_floor)
    shown = str(source) if isinstance(source, (str, Path)) else f"a {type(source).__name__} object"
    report = TraceReport(str(model_dir), shown, frontend.name, kind, list(backends), rtol, atol, limit, rows,
                         rounds=rounds, fetched=sum(r.compared or r.problem is not None for r in rows),
                         seconds=time.perf_counter() - started, tfjs_version=version[0])
    return report
