"""Keras files and Keras SavedModels -> IR graphs, through the SavedModel plugin's tracer.

A graph model runs the model's own TF ops, so every layer Keras can run converts (GRU with
``reset_after=True``, ``Normalization``, attention ...), and on the wasm backend it is faster than a
layers model. It needs TensorFlow and Keras; the caller has already refused code in the file unless
``--allow_unsafe_deserialization`` was given.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tfjsconv.errors import UsageError
from tfjsconv.ir import Graph
from tfjsconv.options import ConvertOptions


def graph_from_keras_model(model: Any, options: ConvertOptions) -> Graph:
    """Trace a live Keras model (tf_keras or Keras 3) and freeze it into an IR graph."""
    try:
        from tfjsconv.plugins.savedmodel.api import graph_from_keras_model as trace
    except ImportError as err:
        raise UsageError(f"graph models from Keras need the TensorFlow frontend ({err})",
                         hint="pip install 'tfjsconv[tensorflow]'") from None
    return trace(model, options)


def graph_from_keras_file(path: Path, *, keras3: bool, options: ConvertOptions) -> Graph:
    """Load ``path`` with Keras (safe mode unless the user allowed otherwise) and trace it."""
    from .reference import load_keras_model

    model = load_keras_model(path, keras3=keras3, allow_unsafe=options.allow_unsafe_deserialization)
    return graph_from_keras_model(model, options)
