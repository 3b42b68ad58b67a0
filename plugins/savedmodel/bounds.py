"""The size of a GraphDef and its function library, measured on the protobuf before TensorFlow sees it.

TensorFlow's loader and Grappler inline function calls recursively: a function that calls itself,
or calls nested a few hundred deep, or a library that multiplies into millions of nodes when
inlined, makes them run out of memory or stack; Grappler also recurses along chains of dependent
nodes and crashes on ~35,000. This walks the call graph and every body without recursion (linear
in the nodes and edges) and refuses such inputs with :mod:`tfjsconv.limits`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tfjsconv.errors import InputError
from tfjsconv.limits import Limits, check_limit

_CAP = 1 << 62


def called_functions(node: Any, functions: dict[str, Any]) -> list[str]:
    """Library functions a NodeDef calls: as its op, or through ``func``/``list(func)`` attrs."""
    names = [node.op] if node.op in functions else []
    for value in node.attr.values():
        kind = value.WhichOneof("value")
        if kind == "func":
            names.append(value.func.name)
        elif kind == "list":
            names.extend(f.name for f in value.list.func)
    return [n for n in names if n in functions]


def check_graph_def(graph_def: Any, limits: Limits, where: str, *, roots: Iterable[Any] | None = None) -> None:
    """Refuse recursion, nesting deeper than ``max_function_depth``, more than ``max_nodes`` nodes
    (stored, or after inlining what ``roots`` - default every graph node - call) and dependency
    chains longer than ``max_graph_depth`` (TensorFlow's C++ walks them recursively)."""
    functions = {f.signature.name: f for f in graph_def.library.function}
    stored = len(graph_def.node) + sum(len(f.node_def) for f in functions.values())
    check_limit("max_nodes", stored, limits, f"{where} stores too many graph nodes (graph and functions)")
    calls = {name: [c for node in fdef.node_def for c in called_functions(node, functions)]
             for name, fdef in functions.items()}
    size, depth = _inlined_sizes(functions, calls, where)
    roots = list(graph_def.node) if roots is None else list(roots)
    callees = [c for node in roots for c in called_functions(node, functions)]
    deepest = max((depth[c] for c in callees), default=0)
    check_limit("max_function_depth", deepest, limits, f"{where} nests function calls too deeply")
    inlined = len(roots) + sum(size[c] for c in callees)
    check_limit("max_nodes", inlined, limits, f"{where} has too many nodes once its function calls are inlined")
    chains: dict[str, int] = {}
    for name in _callees_first(functions, calls):
        chains[name] = min(_longest_chain(functions[name].node_def, functions, chains), _CAP)
    check_limit("max_graph_depth", _longest_chain(roots, functions, chains), limits,
                f"{where} has a chain of dependent nodes (function calls inlined) too long for TensorFlow to walk")


def _inlined_sizes(functions: dict[str, Any], calls: dict[str, list[str]], where: str
                   ) -> tuple[dict[str, int], dict[str, int]]:
    """(nodes of each function with its calls inlined, its call depth); a cycle is an InputError."""
    size: dict[str, int] = {}
    depth: dict[str, int] = {}
    for start in functions:
        if start in size:
            continue
        path, stack, on_path = [start], [iter(calls[start])], {start}
        while stack:
            callee = next(stack[-1], None)
            if callee is None:
                name = path.pop()
                stack.pop()
                on_path.discard(name)
                # capped: a crafted library can multiply into numbers with thousands of digits
                size[name] = min(len(functions[name].node_def) + sum(size[c] for c in calls[name]), _CAP)
                depth[name] = 1 + max((depth[c] for c in calls[name]), default=0)
            elif callee in on_path:
                cycle = " -> ".join([*path[path.index(callee):], callee])
                raise InputError(f"{where}: function {callee} calls itself ({cycle}); inlining it would never end",
                                 hint="the file is corrupt or crafted: TensorFlow functions cannot be recursive")
            elif callee not in size:
                path.append(callee)
                on_path.add(callee)
                stack.append(iter(calls[callee]))
    return size, depth


def _callees_first(functions: dict[str, Any], calls: dict[str, list[str]]) -> list[str]:
    """Function names, each after every function it calls (the library is known to be acyclic)."""
    order: list[str] = []
    done: set[str] = set()
    for start in functions:
        stack = [(start, iter(calls[start]))]
        while stack:
            name, pending = stack[-1]
            callee = next(pending, None)
            if callee is None:
                stack.pop()
                if name not in done:
                    done.add(name)
                    order.append(name)
            elif callee not in done:
                stack.append((callee, iter(calls[callee])))
    return order


def _longest_chain(nodes: Iterable[Any], functions: dict[str, Any], chains: dict[str, int]) -> int:
    """Nodes on the longest dependency path (a call counts its callee's chain), by Kahn's algorithm.

    Loop back edges (``NextIteration`` -> ``Merge``) are ignored, as the IR does.
    """
    nodes = list(nodes)
    by_name = {node.name: node for node in nodes}
    waiting = {}
    readers: dict[str, list[str]] = {}
    for node in nodes:
        deps = {ref.lstrip("^").split(":")[0] for ref in node.input}
        deps = {d for d in deps if d in by_name and d != node.name and by_name[d].op != "NextIteration"}
        waiting[node.name] = len(deps)
        for dep in deps:
            readers.setdefault(dep, []).append(node.name)
    longest = {name: 0 for name in by_name}
    ready = [name for name, count in waiting.items() if count == 0]
    best = 0
    while ready:
        name = ready.pop()
        weight = max((chains.get(c, 1) for c in called_functions(by_name[name], functions)), default=0) + 1
        length = longest[name] + weight
        best = max(best, length)
        for reader in readers.get(name, ()):
            longest[reader] = max(longest[reader], length)
            waiting[reader] -= 1
            if not waiting[reader]:
                ready.append(reader)
    return best


def signature_roots(graph_def: Any, tensor_names: Iterable[str]) -> list[Any]:
    """The graph nodes a signature reads (its tensors and what they depend on), found without recursion."""
    nodes = {n.name: n for n in graph_def.node}
    wanted = [name.lstrip("^").split(":")[0] for name in tensor_names]
    seen: dict[str, Any] = {}
    while wanted:
        name = wanted.pop()
        if name in seen or name not in nodes:
            continue
        seen[name] = nodes[name]
        wanted.extend(ref.lstrip("^").split(":")[0] for ref in nodes[name].input)
    return list(seen.values())
