"""The public Python API of the TensorFlow frontends: SavedModels, concrete functions, Keras models.

Each returns a :class:`tfjsconv.ir.Graph` in TF ops, frozen and ready for the core passes and the
graph-model writer (``tfjsconv.convert(graph, out_dir)`` writes it)::

    from tfjsconv.plugins.savedmodel.api import graph_from_keras_model
    graph = graph_from_keras_model(model, ConvertOptions())
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfjsconv.ir import Graph
from tfjsconv.options import ConvertOptions

# What another plugin reads of a SavedModel without converting it (the Keras plugin's tf_keras
# SavedModel frontend: its config lives in keras_metadata.pb, its weights in the same checkpoint).
from .loading import check_saved_model_bounds
from .source import describe, read_saved_model
from .tensor_bundle import BundleReader

# TF.js's table format (a HashTable filled by ``modelInitializer``), which the Keras lowering's lookup
# layers write too.
from .tables import bind_table


def graph_from_saved_model(path: str | Path, options: ConvertOptions | None = None) -> Graph:
    """Load the SavedModel at ``path`` (``options.saved_model_tags``, ``options.signature_name``) and freeze it."""
    from .pipeline import graph_from_saved_model_dir

    return graph_from_saved_model_dir(Path(path), options or ConvertOptions())


def graph_from_concrete_function(concrete_fn: Any, options: ConvertOptions | None = None, *,
                                 input_names: Sequence[str] | None = None,
                                 output_names: Sequence[str] | None = None) -> Graph:
    """Freeze a ``tf.function``'s ConcreteFunction; the names override the signature keys it would get."""
    from .pipeline import graph_from_function
    from .tfimport import import_tf

    import_tf()
    return graph_from_function(concrete_fn, options or ConvertOptions(), input_names=input_names,
                               output_names=output_names, name=getattr(concrete_fn, "name", "function"))


def graph_from_keras_model(model: Any, options: ConvertOptions | None = None) -> Graph:
    """Trace a tf_keras or Keras 3 model (inference mode, batch size unknown) and freeze it.

    Input keys are the model's input names; output keys its output names.
    """
    from .keras_trace import trace_keras_model
    from .pipeline import graph_from_function

    fn, input_names, output_names = trace_keras_model(model)
    return graph_from_function(fn, options or ConvertOptions(), input_names=input_names,
                               output_names=output_names, name=getattr(model, "name", "keras_model"))


__all__ = ["BundleReader", "bind_table", "check_saved_model_bounds", "describe", "graph_from_concrete_function",
           "graph_from_keras_model", "graph_from_saved_model", "read_saved_model"]
