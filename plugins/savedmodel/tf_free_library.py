"""``--control_flow_v2`` on the TF-free path: the ``While``/``If`` bodies (IR graphs) as model.json's ``library``.

The TF path serialises the FunctionDefs TensorFlow froze (:mod:`.library`); here the bodies are the IR
graphs :mod:`.tf_free_control_flow` prepared (calls expanded, variables passed in as values, rewritten
like the main graph), written back as FunctionDef JSON in the form TF.js 4.22 reads:

- arguments are ``signature.inputArg`` (named after the body's Placeholders), results ``outputArg`` and
  ``ret``; a node's output is ``node`` or ``node:i`` (flat index; TF.js reads the last number, and only
  remaps a ``node:arg:i`` name for the few string ops whose mapper names their outputs);
- TF.js keeps one output per node for a function's results (``defaultOutput``), so each of several results
  read from one node gets an ``Identity`` of its own (as :func:`.library.split_shared_returns` on the TF path);
- Const values go to ``graph.library_weights`` as ``<function>/<node>`` and the Const nodes are renamed to
  match: TF.js looks every Const up by name in the model's one weight map.

TF.js has no ``Case``: one in the main graph is lowered to Switch/Merge as without the flag (what Grappler
does on the TF path); one inside a kept body is refused, naming it, as the TF path refuses (``_SwitchN``).
"""
from __future__ import annotations

from typing import Any

from tfjsconv.errors import UnsupportedOpsError
from tfjsconv.ir import Graph, Node
from tfjsconv.passes.identity import RemoveIdentities
from tfjsconv.writers.graph_model import node_json
from tfjsconv.writers.protojson import shape_json

from .graphdef_ir import NotTfFree
from .library import _rename_input

CASE_OPS = frozenset({"Case", "StatelessCase"})
#: Attrs of the functional nodes that list their arguments' types (resource arguments retyped to values).
_ARG_TYPE_ATTRS = {"While": "T", "StatelessWhile": "T", "If": "Tin", "StatelessIf": "Tin",
                   "Case": "Tin", "StatelessCase": "Tin"}


def sync_argument_types(graph: Graph) -> int:
    """Set each functional node's ``T``/``Tin`` to its inputs' dtypes (a variable handle became its value);
    returns how many attrs changed."""
    changed = 0
    for g in [graph, *graph.functions.values()]:
        for node in g:
            key = _ARG_TYPE_ATTRS.get(node.op)
            if key is None or not isinstance(node.attrs.get(key), list):
                continue
            arguments = node.inputs if key == "T" else node.inputs[1:]
            types = [v.dtype for v in arguments]
            if None not in types and types != node.attrs[key]:
                node.attrs[key] = types
                changed += 1
    return changed


def return_identity_sources(body: Graph) -> int:
    """A result read through an ``Identity`` returns what the Identity reads (as Grappler leaves TF's bodies; the
    reading node keeps its name); not past a ``Switch`` or a control input. Returns how many."""
    bypassed = 0
    for key, value in list(body.outputs.items()):
        node = value.producer
        while node.op == "Identity" and not node.control_inputs and node.inputs and node.inputs[0].producer.op != "Switch":
            value = body.outputs[key] = node.inputs[0]
            node = value.producer
            bypassed += 1
    if bypassed:
        body.remove_dead_nodes()
    return bypassed


def split_shared_results(body: Graph) -> int:
    """An ``Identity`` for each result of a node that gives the body several distinct results (TF.js keeps one
    ``defaultOutput`` per node); returns how many were added."""
    by_node: dict[Node, set] = {}
    for value in body.outputs.values():
        by_node.setdefault(value.producer, set()).add(value)
    added = 0
    for key, value in list(body.outputs.items()):
        if len(by_node[value.producer]) > 1:
            node = body.add_node("Identity", [value], {"T": value.dtype}, name=f"{value.producer.name}/result_{key}")
            node.outputs[0].dtype, node.outputs[0].shape = value.dtype, value.shape
            body.outputs[key] = node.outputs[0]
            added += 1
    return added


def function_json(name: str, body: Graph, weights: dict[str, Any]) -> dict[str, Any]:
    """One IR body as FunctionDef JSON (see the module doc); its Const values go into ``weights``."""
    return_identity_sources(body)
    RemoveIdentities().run(body)  # those inside the body
    split_shared_results(body)
    arguments = set(body.inputs.values())
    nodes = [n for n in body.topological_order() if not (n.op == "Placeholder" and n.outputs[0] in arguments)]
    renames = {n.name: f"{name}/{n.name}" for n in nodes if n.op == "Const"}
    docs = []
    for node in nodes:
        doc = node_json(node)
        doc["name"] = renames.get(node.name, node.name)
        if "input" in doc:
            doc["input"] = [_rename_input(ref, renames) for ref in doc["input"]]
        if node.op == "Const":
            weights[doc["name"]] = node.attrs["value"]
        docs.append(doc)
    signature = {"name": name, "inputArg": [_arg(name, key, value) for key, value in body.inputs.items()],
                 "outputArg": [_arg(name, key, value) for key, value in body.outputs.items()]}
    ret = {key: _rename_input(value.name, renames) for key, value in body.outputs.items()}
    # the argument shapes, as TF's FunctionDefs record them: the backend contract reads them (a matmul's inner size)
    shaped = {str(i): {"attr": {"_output_shapes": {"list": {"shape": [shape_json(tuple(value.shape))]}}}}
              for i, value in enumerate(body.inputs.values()) if value.shape is not None}
    return {"signature": signature, "nodeDef": docs, "ret": ret, **({"argAttr": shaped} if shaped else {})}


def _arg(function: str, key: str, value: Any) -> dict[str, str]:
    if value.dtype is None:
        raise NotTfFree("control_flow_v2", f"{function} argument or result {key} has no known dtype")
    return {"name": key, "type": value.dtype.tf_name}


def _cases_in_bodies(graph: Graph, names: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name in names:
        for node in graph.functions[name]:
            if node.op in CASE_OPS:
                found.setdefault(node.op, []).append(f"{name}/{node.name}")
    return found


def lower_main_graph_cases(graph: Graph, max_nodes: int | None) -> int:
    """Lower the main graph's ``Case`` nodes (TF.js has none) and only those; returns how many."""
    from .tf_free_control_flow import lower

    if not any(n.op in CASE_OPS for n in graph):
        return 0
    hidden: list[tuple[Node, str]] = [(n, n.op) for n in graph if n.op in _ARG_TYPE_ATTRS and n.op not in CASE_OPS]
    functions = dict(graph.functions)
    for node, _ in hidden:  # out of the lowering's sight: only the Cases (and what their branches run) go
        node.op = f"tfjsconv_kept_{node.op}"
    try:
        return lower(graph, max_nodes)
    finally:
        for node, op in hidden:
            node.op = op
        graph.functions = functions


def keep_functional(graph: Graph, max_nodes: int | None) -> int:
    """``--control_flow_v2``: the bodies of ``graph.functions`` into ``graph.library`` (the main graph's Cases
    lowered first); returns how many functions were written. Refuses a ``Case`` inside a body."""
    from .loop_writes import keep_loop_writes_alive

    lower_main_graph_cases(graph, max_nodes)
    used = _reachable(graph)
    nested = _cases_in_bodies(graph, used)
    if nested:
        raise UnsupportedOpsError(nested, hint="TF.js has no Case op, and v1 frames cannot run inside a "
                                               "--control_flow_v2 function: drop --control_flow_v2")
    sync_argument_types(graph)
    for name in used:
        graph.library.append(function_json(name, graph.functions[name], graph.library_weights))
    graph.functions = {}
    keep_loop_writes_alive(graph)  # TF.js would dispose values a While body writes into a TensorList
    return len(used)


def _reachable(graph: Graph) -> list[str]:
    from tfjsconv.passes.lower_control_flow import referenced_functions

    found: list[str] = []
    pending = referenced_functions(graph, graph.functions)
    while pending:
        name = pending.pop(0)
        if name not in found:
            found.append(name)
            pending.extend(referenced_functions(graph.functions[name], graph.functions))
    return found
