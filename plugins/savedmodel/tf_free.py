"""The common SavedModel and frozen GraphDef straight into the IR, with no TensorFlow at all.

The common case: a TF2 SavedModel written by ``tf.saved_model.save`` (a ``tf.Module`` with
``tf.function``s, Keras 3 ``model.export()``, tf_keras ``model.save(..., save_format="tf")``) with
resource variables and static hash tables (:mod:`.tf_free_tables`; ``While``/``If``/``Case`` included:
their bodies are lowered to v1 frames by :mod:`.tf_free_control_flow`); and a frozen ``.pb``. The files are read
with our own protobuf schema (:mod:`.schema`) and checkpoint reader (:mod:`.tensor_bundle`):

1. the signature's part of the MetaGraph (Placeholders, one ``VarHandleOp`` per variable, the call
   of the signature function) and every function it calls become IR graphs (:mod:`.graphdef_ir`);
2. the core pass ``inline_functions`` expands the calls;
3. each ``VarHandleOp`` becomes a Const read lazily from the checkpoint (``direct.bind_variables``).

Anything else raises :class:`NotTfFree` naming the feature (``control_flow``, ``hash_table``, ...);
the caller refuses in one line that names it and suggests ``--loader=tensorflow`` (never automatic).
"""
from __future__ import annotations

import logging
from pathlib import Path
from collections.abc import Callable, Iterable
from typing import Any

from tfjsconv.errors import InputError
from tfjsconv.ir import Graph
from tfjsconv.options import ConvertOptions

from .direct import NotDirect, bind_variables, signature_closure, variable_keys, walk_functions
from .graphdef_ir import NotTfFree, add_nodes, function_body

log = logging.getLogger(__name__)

#: Functional control flow: its bodies stay in ``graph.functions`` and are lowered to v1 frames
#: (:mod:`.tf_free_control_flow`).
FUNCTIONAL_CONTROL_FLOW = frozenset({"While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase"})
#: Ops in a function body that take the model off the TF-free path, by feature name.
FEATURES = {
    **dict.fromkeys(("Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond"), "control_flow"),
    **dict.fromkeys(("HashTableV2", "MutableHashTableV2", "MutableHashTableOfTensorsV2", "MutableDenseHashTableV2",
                     "InitializeTableV2", "InitializeTableFromTextFileV2"), "hash_table"),  # in a body: not
    # the MetaGraph's tables, which :mod:`.tf_free_tables` reads (their lookups are plain ops here)
    **dict.fromkeys(("AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "ResourceScatterUpdate",
                     "ResourceScatterAdd", "DestroyResourceOp", "VarHandleOp", "VariableV2"), "variable_write"),
}
#: Call ops the inliner expands.
CALLS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})


def reachable_functions(roots: list[Any], functions: dict[str, Any], *,
                        skip: frozenset[str] = frozenset()) -> list[str]:
    """Names of the functions ``roots`` call, transitively. The features we lack (but those in ``skip``,
    already refused elsewhere) raise one NotTfFree naming every use (:class:`.refusals.RefusedFeatures`
    when there are several)."""
    from .refusals import RefusedFeatures

    seen: list[str] = []
    found: dict[str, list[str]] = {}
    for name, fdef in walk_functions(roots, functions):
        seen.append(name)
        for node in fdef.node_def:
            feature = FEATURES.get(node.op)
            if feature and feature not in skip:
                found.setdefault(feature, []).append(f"function {name} uses {node.op} ({node.name})")
    if len(found) == 1 and len(next(iter(found.values()))) == 1:
        (feature, (detail,)), = found.items()
        raise NotTfFree(feature, detail)
    if found:
        raise RefusedFeatures(found, tf_can=True)
    return seen


def _refusal(what: str, op: str, message: str) -> Exception:
    if what == "missing":
        return InputError(message)
    return NotTfFree(FEATURES.get(op, "outer_op") if what == "op" else "unrestored_variable", message)


def signature_nodes(graph_def: Any, tensors: list[str], keys: dict[str, str],
                    refusals: Any = None) -> list[Any]:
    """The MetaGraph nodes the signature's tensors depend on, in file order; with ``refusals``
    (:class:`.refusals.Refusals`) the outer nodes the reader refuses are kept there, not raised."""
    problems: list[Exception] | None = None if refusals is None else []
    needed = signature_closure(graph_def, tensors, keys, _refusal, problems)
    for problem in problems or []:
        refusals.keep(problem)
    return [n for n in graph_def.node if n.name in needed]


def _expand_calls(graph: Graph) -> None:
    """Expand every call of ``graph`` (the core pass, to a fixed point) with ``graph.functions``."""
    from tfjsconv.passes.inline_functions import InlineFunctions

    inliner = InlineFunctions()
    for _ in range(len(graph.functions) + 2):  # each sweep expands one level of nesting
        if not inliner.run(graph):
            break
        graph.remove_dead_nodes()
    left = sorted({n.op for n in graph if n.op in CALLS or n.op in graph.functions})
    if left:
        raise NotTfFree("nested_calls", f"calls left after inlining: {', '.join(left)}")


def inline_all(graph: Graph) -> None:
    """Expand every call, then drop the called bodies and dead nodes; the bodies of ``While``/``If``/
    ``Case`` nodes stay in ``graph.functions``, their own calls expanded (:mod:`.tf_free_control_flow`)."""
    from .tf_free_control_flow import keep_bodies

    _expand_calls(graph)
    keep_bodies(graph, _expand_calls)
    graph.remove_dead_nodes()


def signature_graph(name: str, node_defs: list[Any], functions: dict[str, Any], inputs: dict[str, str],
                    outputs: dict[str, str], called: Callable[[], Iterable[str]], *, keep_control: bool,
                    placeholders: tuple[str, ...] = ("Placeholder",)) -> Graph:
    """A signature's nodes as an IR graph: the bodies ``called()`` names, the inputs (each must be one of
    ``placeholders``) and outputs bound, then every call expanded (``While``/``If``/``Case`` bodies kept
    for lowering). The TF2 reader and the TF1 one (:mod:`.tf_free_tf1`) differ only in the arguments."""
    graph = Graph(name)
    nodes = add_nodes(graph, node_defs, functions, keep_control=keep_control)
    for function in called():
        graph.functions[function] = function_body(functions[function], functions)
    for key, tensor in inputs.items():
        value = _tensor(nodes, tensor)
        if value.producer.op not in placeholders:
            raise InputError(f"input {key!r} ({tensor}) is produced by a {value.producer.op}, not a Placeholder")
        graph.inputs[key] = value
    for key, tensor in outputs.items():
        graph.set_output(key, _tensor(nodes, tensor))
    inline_all(graph)
    return graph


def graph_from_saved_model_files(path: Path, meta_graph: Any, signature: Any, options: ConvertOptions, *,
                                 name: str) -> Graph:
    """The IR of one SavedModel signature, read from the files (see the module doc)."""
    from .direct import checkpoint_values_tf_free
    from .refusals import Refusals
    from .tf_free_control_flow import pass_variable_values, refuse_variable_writes
    from .tf_free_tables import TableSource

    try:
        keys = variable_keys(meta_graph)
    except NotDirect as why:
        from .tf_free_tf1 import graph_from_tf1_meta_graph, is_tf1

        if is_tf1(meta_graph):  # a TF1 saver (tf.compat.v1 builder, simple_save, TF1 hub module)
            return graph_from_tf1_meta_graph(path, meta_graph, signature, options, name=name)
        raise NotTfFree("tf1_saver", str(why)) from None
    graph_def = meta_graph.graph_def
    functions = {f.signature.name: f for f in graph_def.library.function}
    inputs = {key: signature.inputs[key].name for key in sorted(signature.inputs)}
    outputs = {key: signature.outputs[key].name for key in sorted(signature.outputs)}
    tables = TableSource(path, meta_graph)  # its HashTableV2 nodes as resource Placeholders
    refusals = Refusals()  # every refused feature named in one error, not the first one met
    roots = signature_nodes(tables.graph_def, [*inputs.values(), *outputs.values()], keys, refusals)
    refusals.check(refuse_variable_writes, roots, functions)  # TF.js has no variables to write
    written = frozenset({"variable_write"}) if "variable_write" in refusals.found else frozenset()
    called = refusals.check(reachable_functions, roots, functions, skip=written)
    tables.check(roots, refusals)  # the tables the signature reads, each filled by what the reader can read
    refusals.raise_if_any()
    graph = signature_graph(name, roots, functions, inputs, outputs, lambda: called, keep_control=False)
    used = {n.name for n in graph if n.op == "VarHandleOp"}
    try:
        values = checkpoint_values_tf_free(path, {k: v for k, v in keys.items() if k in used})
    except NotDirect as why:
        raise NotTfFree("checkpoint", str(why)) from None
    pass_variable_values(graph, values)  # loops and branches take the values of the variables they read
    try:
        bind_variables(graph, values)
    except NotDirect as why:
        raise NotTfFree("resource_use", str(why)) from None
    _record_versions(graph, graph_def, meta_graph.meta_info_def.tensorflow_version)
    return finish_signature_graph(graph, options, tables, list(outputs), "the TF-free SavedModel reader")


def finish_signature_graph(graph: Graph, options: ConvertOptions, tables: Any, output_keys: list[str], reader: str,
                           *, grappler_steps: tuple[Callable[[Graph], Any], ...] = ()) -> Graph:
    """The steps after the variables are bound, shared by the TF2 and TF1 readers: what the TF path's
    Grappler does for the same graph (constant folding, then ``grappler_steps``), the frontend passes on
    the bodies and the graph, control flow lowered (or kept with ``--control_flow_v2``), the tables
    into ``modelInitializer``."""
    from tfjsconv.passes.frontend import run_frontend_passes

    from .grappler_monotonic import match_grappler_monotonic
    from .grappler_parity import match_grappler_constfold
    from .tf_free_control_flow import lower_or_keep_control_flow, rewrite_bodies

    match_grappler_constfold(graph)
    match_grappler_monotonic(graph)  # as TF's graph run of the signature does (arithmetic optimizer)
    for step in grappler_steps:
        step(graph)
    rewrite_bodies(graph)
    run_frontend_passes(graph)
    if graph.functions:  # after the frontend passes, whose drop_control_edges would remove the lowering's anchors
        lower_or_keep_control_flow(graph, options)  # --control_flow_v2 keeps While/If as library functions
    tables.attach(graph)  # the tables it reads into modelInitializer, as the TF path does
    if options.use_structured_outputs_names:
        graph.metadata["structuredOutputKeys"] = output_keys
    graph.notes.append(f"read from the files without TensorFlow ({reader})")
    return graph


def graph_from_graph_def(graph_def: Any, output_names: list[str], *, name: str,
                         options: ConvertOptions | None = None) -> Graph:
    """A frozen GraphDef's IR: its Placeholders are the inputs, ``output_names`` (``node[:i]``) the outputs."""
    from tfjsconv.passes.frontend import run_frontend_passes

    from .refusals import Refusals

    functions = {f.signature.name: f for f in graph_def.library.function}
    refusals = Refusals()  # every refused feature of the graph and its functions named at once
    uses: dict[str, list[str]] = {}
    for node in graph_def.node:
        feature = FEATURES.get(node.op) if node.op not in ("Switch", "Merge", "Enter", "Exit", "NextIteration",
                                                           "LoopCond") else None
        if feature and feature != "variable_write":
            uses.setdefault(feature, []).append(f"{node.op} ({node.name})")
    for feature, found in uses.items():
        more = f" ... and {len(found) - 8} more" if len(found) > 8 else ""
        refusals.keep(NotTfFree(feature, f"the graph uses {', '.join(found[:8])}{more}"))
    called = refusals.check(reachable_functions, list(graph_def.node), functions)
    refusals.raise_if_any()
    graph = Graph(name)
    nodes = add_nodes(graph, list(graph_def.node), functions)
    for function in called or []:
        graph.functions[function] = function_body(functions[function], functions)
    for out in output_names:
        graph.set_output(out, _tensor(nodes, out))
    graph.remove_dead_nodes()
    for node in graph.topological_order():
        if node.op == "Placeholder":
            graph.inputs[node.name] = node.output(0)
    _record_versions(graph, graph_def, None)
    from .grappler_monotonic import match_grappler_monotonic

    match_grappler_monotonic(graph, fetches_kept=True)  # as a session's run does (Grappler's arithmetic optimizer)
    functional = any(n.op in FUNCTIONAL_CONTROL_FLOW for n in graph)  # lowered as for SavedModels
    if functional:
        from .tf_free_control_flow import lower_or_keep_control_flow, rewrite_bodies

        inline_all(graph)
        rewrite_bodies(graph)
    run_frontend_passes(graph)
    if functional:
        lower_or_keep_control_flow(graph, options or ConvertOptions())
    return graph


def _tensor(nodes: dict, tensor: str):
    node_name, _, index = tensor.partition(":")
    node = nodes.get(node_name)
    position = int(index) if index.isdigit() else 0
    if node is None or not 0 <= position < len(node.outputs):
        raise InputError(f"the graph has no tensor {tensor!r}")
    return node.output(position)


def _record_versions(graph: Graph, graph_def: Any, tf_version: str | None) -> None:
    graph.generated_by = tf_version or None
    versions = graph_def.versions
    graph.versions = {"producer": int(versions.producer)} if versions.producer else {}
    if versions.min_consumer:
        graph.versions["minConsumer"] = int(versions.min_consumer)


def saved_model_graph(path: Path, options: ConvertOptions, *, hub: bool = False) -> Graph:
    """The signature's IR read without TensorFlow, tags and signature recorded; :class:`NotTfFree`,
    naming the feature that is missing, when only ``--loader=tensorflow`` can read it."""
    from .loading import resolve_signature

    info, tags, signature_name = resolve_signature(path, options, hub=hub, tf_checks=False)
    graph = graph_from_saved_model_files(path, info.meta_graph(tags), info.signature(tags, signature_name),
                                         options, name=path.name or "saved_model")
    graph.metadata["savedModelTags"] = list(tags)
    graph.metadata["signatureName"] = signature_name
    return graph
