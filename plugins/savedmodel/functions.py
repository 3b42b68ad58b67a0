"""IR bodies of the library functions that call nodes left in a frozen graph still reference.

Freezing inlines most calls, but not all: tf_keras compiles a grouped ``Conv2D`` with
``jit_compile=True`` and TF keeps such a function as a ``PartitionedCall``. TF.js has no call op,
so the core pass ``inline_functions`` expands the calls; this module gives it each callee as an
IR graph (arguments as Placeholders, outputs in the signature's order) in ``graph.functions``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfjsconv.ir import Graph
from tfjsconv.passes.frontend import run_frontend_passes
from tfjsconv.passes.inline_functions import called_functions


def function_body(fdef: Any, library: Any) -> Graph:
    """One FunctionDef as an IR graph, rewritten for TF.js like the main graph (the same frontend passes)."""
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def

    from .freeze import import_graph_def
    from .translate import graph_from_tf_graph

    graph_def, flat_names = function_def_to_graph_def(fdef)
    graph_def.library.CopyFrom(library)
    inputs = {arg.name: f"{arg.name}:0" for arg in fdef.signature.input_arg}
    outputs = {}
    for arg in fdef.signature.output_arg:
        ref = fdef.ret[arg.name]
        outputs[arg.name] = flat_names.get(ref, ref if ":" in ref else f"{ref}:0")
    body = graph_from_tf_graph(import_graph_def(graph_def), inputs, outputs, name=fdef.signature.name)
    body.remove_dead_nodes()
    run_frontend_passes(body)
    return body


def attach_function_bodies(graph: Graph, library: Any) -> None:
    """Fill ``graph.functions`` with every function its call nodes reach, transitively.

    A function that calls itself is converted once; ``inline_functions`` refuses the cycle.
    """
    _attach_bodies(graph, library, called_functions)


def _attach_bodies(graph: Graph, library: Any, referenced: Callable[[Graph, dict], list[str]]) -> int:
    """Convert every function ``referenced(graph, fdefs)`` names, transitively, into ``graph.functions``
    (each once, so self-calls end); returns how many bodies were added."""
    fdefs = {f.signature.name: f for f in library.function}
    pending, added = referenced(graph, fdefs), 0
    while pending:
        name = pending.pop()
        if name in graph.functions:
            continue
        body = function_body(fdefs[name], library)
        graph.functions[name] = body
        added += 1
        pending.extend(n for n in referenced(body, fdefs) if n not in graph.functions)
    return added


def attach_control_flow_bodies(graph: Graph, library: Any) -> int:
    """Also give ``graph.functions`` the IR bodies of the functions its ``While``/``If``/``Case`` nodes
    run (transitively), so the core ``lower_control_flow`` can lower a ``--control_flow_v2`` graph
    without Grappler (how the TF-free reader will). Returns how many bodies were added."""
    from tfjsconv.passes.lower_control_flow import referenced_functions

    return _attach_bodies(graph, library, referenced_functions)
