"""The TF.js side of ``verify --trace``: a graph model's intermediate tensors, fetched by node name.

TF.js returns any node's value when its name is passed to ``model.execute(inputs, names)``; this asks
the existing Node runner (:func:`tfjsconv.verify.run.run_model`) for them, on each backend. The
source side and the pairing through ``provenance.json`` are in :mod:`.trace`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from .run import DEFAULT_TIMEOUT_S, TfjsRunError, run_model

#: Nodes whose values are known without running the model: not worth fetching.
NOT_TRACED = frozenset({"Const", "Placeholder", "PlaceholderWithDefault", "NoOp"})


def nodes_in_loops(nodes: Sequence[Mapping[str, Any]]) -> set[str]:
    """Graph-model nodes inside a v1 while frame (reachable from an ``Enter`` without passing its ``Exit``):
    TF.js keeps no value of theirs to return, so a trace leaves them out."""
    readers: dict[str, list[str]] = {}
    ops = {}
    for node in nodes:
        ops[node["name"]] = node.get("op")
        for ref in node.get("input") or []:
            readers.setdefault(ref.lstrip("^").split(":")[0], []).append(node["name"])
    inside: set[str] = set()
    stack = [name for name, op in ops.items() if op in ("Enter", "RefEnter")]
    while stack:
        name = stack.pop()
        if name in inside or ops.get(name) in ("Exit", "RefExit"):
            continue
        inside.add(name)
        stack.extend(readers.get(name, ()))
    return inside


def traceable_nodes(model_dir: str | Path) -> list[str]:
    """The names of a graph model's computing nodes (no Const, Placeholder, NoOp), in model.json order."""
    from ..weights.reader import read_model_json

    doc = read_model_json(Path(model_dir))
    nodes = (doc.get("modelTopology") or {}).get("node")
    if not isinstance(nodes, list):
        raise UsageError(f"{model_dir} is not a TF.js graph model; tracing needs one")
    return [n["name"] for n in nodes if n.get("op") not in NOT_TRACED]


def tfjs_intermediates(model_dir: str | Path, inputs: Mapping[str, Any], names: Sequence[str] | None = None, *,
                       backends: Sequence[str] = ("cpu", "wasm"),
                       timeout: float | None = DEFAULT_TIMEOUT_S) -> dict[str, dict[str, np.ndarray]]:
    """Backend -> {tensor name -> value} for ``names`` (``node`` is output 0, ``node:i`` output i;
    default: every computing node). Unknown names are refused together; a backend that fails raises
    :class:`TfjsRunError` naming it."""
    from ..weights.reader import read_model_json

    traceable = traceable_nodes(model_dir)
    all_nodes = {n["name"] for n in read_model_json(Path(model_dir))["modelTopology"]["node"]}
    names = list(names) if names is not None else traceable
    if not names:
        raise UsageError("no node names to trace")
    unknown = [n for n in names if n.split(":", 1)[0] not in all_nodes]
    if unknown:
        raise UsageError(f"the model has no node(s) {', '.join(unknown)}")
    # execute() when the model allows it; with control flow TF.js needs executeAsync (the runner falls back)
    result = run_model(model_dir, inputs, backends=backends, output_names=names, timeout=timeout)
    failed = [f"{b}: {run.error}" for b, run in result.backends.items() if not run.ok]
    if failed:
        raise TfjsRunError("TF.js could not fetch the intermediate tensors on " + "; ".join(failed))
    return {backend: dict(run.outputs) for backend, run in result.backends.items()}
