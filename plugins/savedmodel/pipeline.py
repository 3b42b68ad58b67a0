"""Concrete function -> frozen graph -> IR graph, shared by every TensorFlow entry point."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tfjsconv.ir import Graph
from tfjsconv.options import ConvertOptions

from .freeze import FrozenFunction, freeze
from .library import attach_library
from .rewrites import rewrite_for_tfjs
from .tables import attach_hash_tables
from .translate import graph_from_tf_graph


def graph_from_frozen(frozen: FrozenFunction, options: ConvertOptions, *, name: str = "graph") -> Graph:
    """The IR of a frozen function: ops rewritten for TF.js, tables in the initializer, library attached."""
    import tensorflow as tf

    graph = graph_from_tf_graph(frozen.graph, frozen.inputs, frozen.outputs, name=name)
    graph.generated_by = tf.__version__
    versions = frozen.graph.graph_def_versions
    graph.versions = {"producer": int(versions.producer)}
    if versions.min_consumer:
        graph.versions["minConsumer"] = int(versions.min_consumer)
    rewrite_for_tfjs(graph)
    attach_hash_tables(graph, frozen.resources)
    if options.control_flow_v2:
        attach_library(graph, frozen.library)
    if options.use_structured_outputs_names and frozen.structured_output_keys:
        graph.metadata["structuredOutputKeys"] = list(frozen.structured_output_keys)
    return graph


def graph_from_function(fn: Any, options: ConvertOptions, *, input_names: Sequence[str] | None = None,
                        output_names: Sequence[str] | None = None, name: str = "graph") -> Graph:
    frozen = freeze(fn, control_flow_v2=options.control_flow_v2, input_names=input_names,
                    output_names=output_names)
    return graph_from_frozen(frozen, options, name=name)
