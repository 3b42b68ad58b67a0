"""Remove Assert, CheckNumerics and Print (``--strip_debug_ops``, on by default).

Cases:
1. ``CheckNumerics(x)``, ``Print(x, …)``: pass-through ops; readers of their output read ``x``.
2. ``Assert``, ``PrintV2``: no data output; they are only reached through control edges, which are dropped.
3. The same inside the FunctionDefs ``--control_flow_v2`` keeps (``graph.library``): TF.js has no kernel for them
   there either ("Unknown op 'Assert'", session 24 R5 F4). A function where one is read as data is left alone.
"""
from __future__ import annotations

import copy
from typing import Any

from ..errors import InputError
from ..ir import Graph, Node
from . import Pass, PassResult
from .graph_edit import Uses

PASS_THROUGH = ("CheckNumerics", "Print")
NO_OUTPUT = ("Assert", "PrintV2")


class StripDebugOps(Pass):
    name = "strip_debug_ops"
    level = 0
    before = ("lower_control_flow",)

    def enabled(self, options: object) -> bool:
        return bool(getattr(options, "strip_debug_ops", True))

    def run(self, graph: Graph) -> PassResult:
        in_library = 0
        for index, function in enumerate(graph.library):
            if isinstance(function, dict) and _strippable(function):
                graph.library[index] = function = copy.deepcopy(function)  # the caller's dicts stay as they were
                in_library += _strip_function(function)
        doomed = [n for n in graph if n.op in PASS_THROUGH + NO_OUTPUT]
        if not doomed:
            return PassResult.from_counts(removed_debug_ops=in_library) if in_library else PassResult(0)
        doomed_set = set(doomed)
        _refuse_reads_of_no_output(graph)
        uses = Uses(graph)  # per-reader rewiring: linear, where graph.replace_all_uses per node is quadratic
        for node in doomed:
            if node.op in PASS_THROUGH and node.inputs:
                uses.replace(graph, node.output(0), node.inputs[0])
        for node in graph:
            if any(d in doomed_set for d in node.control_inputs):
                kept = [d for d in node.control_inputs if d not in doomed_set]
                node.control_inputs = kept
        dead = graph.remove_dead_nodes()
        graph.remove_nodes(doomed)
        return PassResult.from_counts(removed_debug_ops=len(doomed) + in_library, removed_dead=len(dead))


def _refuse_reads_of_no_output(graph: Graph) -> None:
    """Refuse a node (or a graph output) that reads a data output of an Assert or PrintV2: TF gives those ops
    none, and its importer refuses such a graph. Without this check the removal below failed on it with an
    invariant message ("cannot remove ...") that did not say the input is corrupt (found by the fuzzer: a
    Relu renamed to Assert)."""
    readers: list[tuple[str, Node]] = [(node.name, v.producer) for node in graph for v in node.inputs]
    readers += [(f"the output {key}", v.producer) for key, v in graph.outputs.items()]
    for reader, producer in readers:
        if producer.op in NO_OUTPUT:
            raise InputError(f"{reader} reads an output of {producer.name} ({producer.op}), which has none: "
                             "the graph is corrupt")


def _strippable(function: dict[str, Any]) -> bool:
    """Whether a library function holds a debug op that no node reads as data (a corrupt function is left as is:
    the op check then names it)."""
    nodes = function.get("nodeDef") or []
    doomed = {n.get("name") for n in nodes if isinstance(n, dict) and n.get("op") in PASS_THROUGH + NO_OUTPUT}
    silent = {n.get("name") for n in nodes if isinstance(n, dict) and n.get("op") in NO_OUTPUT}
    reads = [ref for n in nodes if isinstance(n, dict) for ref in n.get("input", []) if not ref.startswith("^")]
    reads += list((function.get("ret") or {}).values())
    return bool(doomed) and not any(ref.split(":")[0] in silent for ref in reads)


def _strip_function(function: dict[str, Any]) -> int:
    """Remove the debug ops of one FunctionDef (GraphDef JSON): readers of a pass-through op read its input,
    control edges to any of them (inputs, ``controlRet``, the signature's ``controlOutput``) are dropped."""
    nodes = [n for n in function.get("nodeDef") or [] if isinstance(n, dict)]
    doomed = {n.get("name"): n for n in nodes if n.get("op") in PASS_THROUGH + NO_OUTPUT}

    def source(ref: str) -> str:
        seen = set()
        while ref.split(":")[0] in doomed and ref not in seen:
            seen.add(ref)
            data = [r for r in doomed[ref.split(":")[0]].get("input", []) if not r.startswith("^")]
            ref = data[0] if data else ref
        return ref

    kept = [n for n in function.get("nodeDef") or [] if not (isinstance(n, dict) and n.get("name") in doomed)]
    for node in kept:
        if isinstance(node, dict) and "input" in node:
            node["input"] = [ref for ref in (source(r) if not r.startswith("^") else r for r in node["input"])
                             if not (ref.startswith("^") and ref[1:] in doomed)]
    function["nodeDef"] = kept
    if "ret" in function:
        function["ret"] = {key: source(ref) for key, ref in function["ret"].items()}
    dropped = {key for key, ref in (function.get("controlRet") or {}).items() if ref in doomed}
    if dropped:
        function["controlRet"] = {k: v for k, v in function["controlRet"].items() if k not in dropped}
    signature = function.get("signature") or {}
    if dropped and "controlOutput" in signature:
        signature["controlOutput"] = [name for name in signature["controlOutput"] if name not in dropped]
    return len(doomed)
