"""Concrete function -> frozen graph -> IR graph, shared by every TensorFlow entry point."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfjsconv.ir import Graph
from tfjsconv.options import ConvertOptions
from tfjsconv.passes.frontend import run_frontend_passes

from .freeze import FrozenFunction, freeze
from .functions import attach_function_bodies
from .library import attach_library
from .tables import attach_hash_tables
from .translate import graph_from_tf_graph

log = logging.getLogger(__name__)


def graph_from_frozen(frozen: FrozenFunction, options: ConvertOptions, *, name: str = "graph",
                      graph_run: bool = False) -> Graph:
    """The IR of a frozen function: ops rewritten for TF.js, tables in the initializer, library attached.
    ``graph_run``: the reference is TF's graph run of a SavedModel (not eager Keras), whose Grappler swaps
    max/min reductions and monotonic functions (:mod:`.grappler_monotonic`)."""
    import tensorflow as tf

    graph = graph_from_tf_graph(frozen.graph, frozen.inputs, frozen.outputs, name=name)
    drop_unread_placeholders(graph)
    if frozen.variables:
        from .direct import bind_variables

        bind_variables(graph, frozen.variables)
    graph.generated_by = tf.__version__
    versions = frozen.graph.graph_def_versions
    graph.versions = {"producer": int(versions.producer)}
    if versions.min_consumer:
        graph.versions["minConsumer"] = int(versions.min_consumer)
    if graph_run:
        from .grappler_monotonic import match_grappler_monotonic, refuse_library_swaps

        match_grappler_monotonic(graph)
        if options.control_flow_v2:
            refuse_library_swaps(frozen.library)
    run_frontend_passes(graph)
    attach_hash_tables(graph, frozen.resources)
    attach_function_bodies(graph, frozen.library)
    if options.control_flow_v2:
        attach_library(graph, frozen.library)
    if options.use_structured_outputs_names and frozen.structured_output_keys:
        graph.metadata["structuredOutputKeys"] = list(frozen.structured_output_keys)
    return graph


def drop_unread_placeholders(graph: Graph) -> list[str]:
    """Remove the Placeholders no node reads and no signature input names; return their names.

    TensorFlow's loader of a TF1 SavedModel (``lift_to_graph``, when v1 control flow is on in the process)
    leaves one ``unused_control_flow_input`` Placeholder per v1 loop edge it had to patch; a resource one
    would look like a table no initializer fills."""
    read = {value.producer for node in graph for value in node.inputs}
    read |= {dep for node in graph for dep in node.control_inputs}
    inputs = {value.producer for value in graph.inputs.values()}
    outputs = {value.producer for value in graph.outputs.values()}
    unread = [n for n in graph if n.op == "Placeholder" and n not in read | inputs | outputs]
    graph.remove_nodes(unread)
    return sorted(n.name for n in unread)


def graph_from_function(fn: Any, options: ConvertOptions, *, input_names: Sequence[str] | None = None,
                        output_names: Sequence[str] | None = None, name: str = "graph") -> Graph:
    frozen = freeze(fn, control_flow_v2=options.control_flow_v2, input_names=input_names,
                    output_names=output_names)
    return graph_from_frozen(frozen, options, name=name)


def graph_from_saved_model_dir(path: Path, options: ConvertOptions, *, hub: bool = False,
                               direct: bool = True) -> Graph:
    """The IR of a SavedModel signature, read with no TensorFlow at all (:mod:`.tf_free`); what that reader
    does not cover is refused, naming the feature and ``--loader=tensorflow``. With that flag, TensorFlow
    loads and freezes it (the files read directly where possible, :mod:`.direct`). ``model.json``
    records the tags and signature used."""
    if direct and options.extra.get("loader") != "tensorflow":
        from .graphdef_ir import NotTfFree
        from .tf_free import saved_model_graph

        try:
            return saved_model_graph(path, options, hub=hub)
        except NotTfFree as why:  # TensorFlow only when asked for: the refusal names the flag
            raise why.refusal(path) from None
    from .direct import NotDirect

    frozen, tags, signature_name = freeze_saved_model_dir(path, options, hub=hub, direct=direct)
    try:
        graph = graph_from_frozen(frozen, options, name=path.name or "saved_model", graph_run=True)
    except NotDirect as why:  # a variable without a checkpoint value: TensorFlow loads it instead
        log.info("loading %s with TensorFlow: %s", path, why)
        frozen, tags, signature_name = freeze_saved_model_dir(path, options, hub=hub, direct=False)
        graph = graph_from_frozen(frozen, options, name=path.name or "saved_model", graph_run=True)
    graph.metadata["savedModelTags"] = list(tags)
    graph.metadata["signatureName"] = signature_name
    return graph


def freeze_saved_model_dir(path: Path, options: ConvertOptions, *, hub: bool = False,
                           direct: bool = True) -> tuple[FrozenFunction, list[str], str]:
    """The frozen signature the conversion translates (its node names are the provenance), its tags
    and signature name; ``verify --trace`` runs the same frozen graph."""
    from .loading import load_resolved_signature, resolve_signature

    info, tags, signature_name = resolve_signature(path, options, hub=hub)
    refuse_signature_writes(info.meta_graph(tags), info.signature(tags, signature_name))
    if direct:
        from .direct import NotDirect, freeze_from_files
        from .tfimport import import_tf

        import_tf()
        try:
            return (freeze_from_files(path, info.meta_graph(tags), info.signature(tags, signature_name),
                                      control_flow_v2=options.control_flow_v2), tags, signature_name)
        except NotDirect as why:
            log.info("loading %s with TensorFlow: %s", path, why)
    from .freeze_v1 import freeze_tf1_session, is_tf1_with_tables

    if is_tf1_with_tables(info.meta_graph(tags)):  # TF2's loader cannot freeze TF1 tables
        log.info("freezing %s in a TF1 session: a TF1 SavedModel with hash tables", path)
        return freeze_tf1_session(path, tags, signature_name), tags, signature_name
    with load_resolved_signature(path, tags, signature_name) as fn:
        return freeze(fn, control_flow_v2=options.control_flow_v2), tags, signature_name


def refuse_signature_writes(meta_graph: Any, signature: Any) -> None:
    """Refuse a signature that writes variables before TensorFlow freezes it: its freezing fails on the
    first write in its own words ("Input 0 of node .../AssignAddVariableOp was passed float"); this names
    every write (:class:`.tf_free_control_flow.VariableWriteError`, exit 2), as the TF-free reader does."""
    from .bounds import signature_roots
    from .tf_free_control_flow import refuse_variable_writes

    graph_def = meta_graph.graph_def
    tensors = [t.name for t in (*signature.inputs.values(), *signature.outputs.values())]
    refuse_variable_writes(signature_roots(graph_def, tensors), {f.signature.name: f for f in graph_def.library.function})
