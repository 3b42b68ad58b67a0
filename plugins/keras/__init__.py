"""Keras frontends: ``.h5``/``.keras`` files, Keras SavedModels and TF.js layers models as input.

``.h5``/``.keras`` -> TF.js layers models needs h5py alone, and so does a graph model the Keras lowering
covers (from a Keras SavedModel folder too, with no TensorFlow). The TensorFlow tracer (``--loader=tensorflow``)
and Keras SavedModels -> layers models need TensorFlow and Keras. Importing this plugin is cheap: h5py,
TensorFlow and Keras are imported only when a conversion needs them. See ``docs/keras.md``.
"""
from __future__ import annotations

from collections.abc import Callable

from tfjsconv.hookspecs import hookimpl
from tfjsconv.lazy import LazyFrontend

from .detect import is_keras_archive, is_keras_h5, is_tfjs_layers_model

_LAYERS_OR_GRAPH = ("tfjs_layers_model", "tfjs_graph_model")


@hookimpl
def register_frontends(register: Callable) -> None:
    # Declared lazily (docs/plugins.md): a frontend's module loads only when it converts something.
    register(LazyFrontend("keras", f"{__name__}.frontends:KerasH5Frontend", output_formats=_LAYERS_OR_GRAPH,
                          description="Keras .h5 model (Keras 2 or 3): layers model with h5py alone, or graph model",
                          detect=is_keras_h5))
    register(LazyFrontend("keras_keras", f"{__name__}.frontends:KerasV3Frontend", output_formats=_LAYERS_OR_GRAPH,
                          description="Keras 3 .keras archive: layers model with zipfile and h5py alone, or graph model",
                          detect=is_keras_archive))
    register(LazyFrontend("tfjs_layers_model", f"{__name__}.tfjs_layers:TfjsLayersFrontend",
                          output_formats=("tfjs_layers_model",),
                          description="TF.js layers model (model.json + shards): re-shard / re-quantize",
                          detect=is_tfjs_layers_model))
    register(LazyFrontend("keras_saved_model", f"{__name__}.keras_saved_model:KerasSavedModelFrontend",
                          output_formats=_LAYERS_OR_GRAPH, detect=_never,
                          description=("tf_keras SavedModel folder (keras_metadata.pb): graph model lowered "
                                       "without TensorFlow; layers models and --loader=tensorflow need TensorFlow "
                                       "and tf_keras")))


# ``--loader`` (auto | tensorflow) is shared with the TensorFlow frontends and registered once, by
# tfjsconv.plugins.savedmodel; this plugin reads it from ``options.extra["loader"]``.


def _never(source: object) -> bool:
    """keras_saved_model is chosen with --input_format only (every Keras SavedModel is also a tf_saved_model)."""
    return False
