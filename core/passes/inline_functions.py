"""Expand function calls (``PartitionedCall``, ``StatefulPartitionedCall``, a function used as an op).

TF.js has no call op. Frontends put the callees' IR bodies in ``graph.functions`` (see
``tfjsconv.plugins.savedmodel.functions``); each call becomes a copy of its body wired to the call's
inputs, and the call's readers read the copy's outputs. A body's own calls are expanded on the next
sweep. Recursion (a function reaching itself through calls) cannot be expanded: it is refused.
"""
from __future__ import annotations

from collections.abc import Mapping

from ..errors import InputError
from ..ir import FuncAttr, Graph, Node
from . import Pass, PassResult
from .graph_edit import Uses

CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})


def callee(node: Node, functions: Mapping[str, object]) -> str | None:
    """The function ``node`` calls, if it is a call to one of ``functions``."""
    f = node.attrs.get("f") if node.op in CALL_OPS else None
    name = f.name if isinstance(f, FuncAttr) else node.op
    return name if name in functions else None


def called_functions(graph: Graph, functions: Mapping[str, object]) -> list[str]:
    """Names of the ``functions`` that ``graph``'s nodes call, each once, in node order."""
    return list(dict.fromkeys(name for node in graph if (name := callee(node, functions))))


def check_no_recursion(graph: Graph) -> None:
    """Raise one InputError naming a call cycle among the functions ``graph`` reaches."""
    functions = graph.functions
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + [name]
            raise InputError(f"function {name} is recursive ({' -> '.join(cycle)}); TF.js cannot run function "
                             "calls and a recursive one cannot be inlined",
                             hint="rewrite the recursion as a tf.while_loop")
        state[name] = 1
        for inner in called_functions(functions[name], functions):
            visit(inner, path + [name])
        state[name] = 2

    for name in called_functions(graph, functions):
        visit(name, [])


def inline_call(graph: Graph, call: Node, body: Graph, uses: Uses) -> None:
    """Copy ``body`` into ``graph`` in place of ``call``; the call is left dead."""
    placeholders = list(body.inputs.values())
    if len(placeholders) != len(call.inputs):
        raise InputError(f"call {call.name} passes {len(call.inputs)} argument(s) to {body.name}, "
                         f"which takes {len(placeholders)}")
    mapped = {p: arg for p, arg in zip(placeholders, call.inputs)}
    copies: dict[Node, Node] = {}
    for node in body.topological_order():
        if node.outputs and all(v in mapped for v in node.outputs):
            continue  # an argument
        copy = graph.add_node(node.op, (), dict(node.attrs), name=f"{call.name}/{node.name}",
                              num_outputs=len(node.outputs))
        for value, new in zip(node.outputs, copy.outputs):
            new.dtype, new.shape = value.dtype, value.shape
            mapped[value] = new
        # Its source is the body node, named as inlining names it (TF's own inliner does the same).
        copy.provenance = tuple(f"{call.name}/{source}" for source in (node.provenance or (node.name,)))
        copies[node] = copy
    for node, copy in copies.items():
        copy.inputs = [mapped[v] for v in node.inputs]
        copy.control_inputs = [copies[d] for d in node.control_inputs if d in copies]
        for value in copy.inputs:
            uses.readers.setdefault(value, []).append(copy)
    for index, value in enumerate(body.outputs.values()):
        if index < len(call.outputs):
            uses.replace(graph, call.outputs[index], mapped[value])


class InlineFunctions(Pass):
    """Every call to a function of ``graph.functions`` → a copy of the function's body."""

    name = "inline_functions"
    level = 0
    after = ("lower_control_flow",)

    def run(self, graph: Graph) -> PassResult:
        if not graph.functions:
            return PassResult(0)
        calls = [n for n in graph.nodes if callee(n, graph.functions)]
        if not calls:
            return PassResult(0)
        check_no_recursion(graph)
        uses = Uses(graph)
        for call in calls:
            inline_call(graph, call, graph.functions[callee(call, graph.functions)], uses)
        return PassResult(len(calls))
