"""The ``keras_saved_model`` frontend: a tf_keras SavedModel folder (``model.save(dir, save_format="tf")``).

The folder's ``keras_metadata.pb`` holds the model config (decoded without TensorFlow); it is checked
for code (Lambda layers, custom classes) *before* anything is loaded, exactly like a ``.h5`` file. A
graph model whose every layer has a lowering is lowered from that config, with the weights read from
the checkpoint by the SavedModel plugin's TF-free ``tensor_bundle.BundleReader`` (its only import from
that plugin on this path). Otherwise tf_keras loads the folder: a layers model reuses the config
translation of the file frontends with the loaded weights, a graph model is traced by the SavedModel
plugin (those need TensorFlow and tf_keras). Not
detected automatically: every Keras SavedModel is also a SavedModel (``tf_saved_model``), so pass
``--input_format=keras_saved_model``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tfjsconv.errors import InputError, UsageError
from tfjsconv.frontend import Frontend, as_path
from tfjsconv.ir import Graph
from tfjsconv.model import Model
from tfjsconv.options import ConvertOptions

from .checks import check_model_config
from .frontends import GRAPH_MODEL, KerasFileInfo, build_layers_model
from .tfjs_layers import layer_weight_groups
from .weight_shapes import check_weight_shapes

METADATA_FILE = "keras_metadata.pb"
SAVED_MODEL_LOWERED = "keras: lowered the model config to TF.js ops without TensorFlow (keras_metadata.pb, checkpoint)"


def _folder(source: Any) -> Path:
    path = as_path(source)
    if path is None:
        raise UsageError(f"the keras_saved_model frontend reads folders; got a {type(source).__name__}")
    if not (path / "saved_model.pb").is_file():
        raise InputError(f"{path} is not a SavedModel folder (no saved_model.pb)")
    if not (path / METADATA_FILE).is_file():
        raise InputError(f"{path} is a SavedModel but not a Keras one (no {METADATA_FILE})",
                         hint="convert it with --input_format=tf_saved_model")
    return path


def _tuples_as_lists(value: Any) -> Any:
    """The metadata's ``{"class_name": "__tuple__", "items": [...]}`` as plain lists."""
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__" and "items" in value:
            return [_tuples_as_lists(v) for v in value["items"]]
        return {k: _tuples_as_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tuples_as_lists(v) for v in value]
    return value


def read_metadata_config(path: Path) -> dict[str, Any]:
    """The root model's config from ``keras_metadata.pb`` (decoded without TensorFlow, :mod:`.keras_metadata`)."""
    from .keras_metadata import read_root_metadata

    try:
        doc = json.loads(read_root_metadata(path))
    except (ValueError, RecursionError) as err:
        raise InputError(f"{path / METADATA_FILE} is not readable Keras metadata: {str(err)[:200]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict) or \
            not isinstance(doc.get("class_name"), str):
        raise InputError(f"{path} holds a subclassed Keras model without a config; TF.js layers models need one",
                         hint="convert it with --output_format=tfjs_graph_model")
    return _tuples_as_lists({"class_name": doc["class_name"], "config": doc["config"]})


def load_keras_saved_model(path: Path, *, allow_unsafe: bool) -> Any:
    from .reference import load_keras_model

    return load_keras_model(path, keras3=False, allow_unsafe=allow_unsafe)


def lowered_graph(path: Path, config: dict[str, Any], options: ConvertOptions) -> Graph | None:
    """The graph model lowered from the metadata's config and the checkpoint (no TensorFlow), or None when
    the lowering does not cover the model (then tf_keras loads it)."""
    from tfjsconv.plugins.savedmodel.api import BundleReader

    from .keras_metadata import OBJECT_GRAPH_KEY, WireError, checkpoint_variables
    from .lowering import Unsupported, layer_gaps, lower_model
    from .lowering.weights import bundle_layer_weights
    from .model_graph import check_model_graph, malformed_config

    source = str(path)
    check_model_graph(config, source=source)
    check_model_config(config, source=source, keras3=False, allow_unsafe=options.allow_unsafe_deserialization,
                       output_format=GRAPH_MODEL)
    if options.allow_unsafe_deserialization:  # the user vouched for the vocabulary files the config names
        from .saved_model_vocabularies import asset_locator
        from .vocabulary_files import with_file_vocabularies

        config = with_file_vocabularies(config, asset_locator(path))  # tf_keras reads its assets/ copy
    with malformed_config(source):
        if layer_gaps(config, source):
            return None
    reader = BundleReader(path / "variables" / "variables")
    if not reader.has_tensor(OBJECT_GRAPH_KEY):
        raise InputError(f"{path}/variables holds no object graph; it is not a Keras SavedModel's checkpoint")
    try:
        variables = checkpoint_variables(reader.get_tensor(OBJECT_GRAPH_KEY).item())
    except (WireError, UnicodeDecodeError) as err:
        raise InputError(f"{path}/variables: the checkpoint's object graph is unreadable ({err})") from None
    try:
        with malformed_config(source):
            graph = lower_model(config, bundle_layer_weights(reader, variables, config, source), keras3=False,
                                source=source)
    except Unsupported:
        return None
    graph.notes.append(SAVED_MODEL_LOWERED)
    return graph


class KerasSavedModelFrontend(Frontend):
    """tf_keras SavedModel folders -> layers models (the default) or graph models."""

    name = "keras_saved_model"
    description = "tf_keras SavedModel folder (with keras_metadata.pb); needs TensorFlow and tf_keras"
    output_formats = ("tfjs_layers_model", GRAPH_MODEL)

    def load(self, source: Any, options: ConvertOptions) -> Model:
        path = _folder(source)
        config = read_metadata_config(path)
        if options.output_format == GRAPH_MODEL and options.extra.get("loader") != "tensorflow":
            graph = lowered_graph(path, config, options)
            if graph is not None:
                return graph
        from tfjsconv.plugins.savedmodel.api import check_saved_model_bounds

        check_saved_model_bounds(path, options)  # tf_keras revives every function: no recursion, bounded size
        allow_unsafe = options.allow_unsafe_deserialization
        if options.output_format == GRAPH_MODEL:
            check_model_config(config, source=str(path), keras3=False, allow_unsafe=allow_unsafe,
                               output_format=GRAPH_MODEL)
            return self._graph(path, options)
        check_model_config(config, source=str(path), keras3=False, allow_unsafe=allow_unsafe, keras_loads=True)
        model = load_keras_saved_model(path, allow_unsafe=allow_unsafe)
        import tf_keras

        saved = json.loads(model.to_json())
        info = KerasFileInfo(model_config={"class_name": saved["class_name"], "config": saved["config"]},
                             keras_version=str(saved.get("keras_version") or tf_keras.__version__))
        layers = build_layers_model(info, source=str(path), options=options)
        entries = [(w.name.split(":")[0], np.asarray(w.numpy())) for w in model.weights]
        layers.weight_groups = layer_weight_groups(entries)
        check_weight_shapes(layers.model_config, layers.weight_groups, source=str(path))
        return layers

    def describe(self, source: Any, options: ConvertOptions) -> dict[str, Any]:
        """The SavedModel's tags and signatures (read from saved_model.pb, nothing loaded)."""
        from tfjsconv.plugins.savedmodel.api import describe, read_saved_model

        return describe(read_saved_model(_folder(source)))

    @staticmethod
    def _graph(path: Path, options: ConvertOptions) -> Graph:
        from .keras_graph import graph_from_keras_model

        return graph_from_keras_model(load_keras_saved_model(path, allow_unsafe=options.allow_unsafe_deserialization),
                                      options)

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray],
                  options: ConvertOptions) -> dict[str, np.ndarray]:
        from .reference import keras_reference

        path = _folder(source)
        check_model_config(read_metadata_config(path), source=str(path), keras3=False, output_format=GRAPH_MODEL)
        return keras_reference(load_keras_saved_model(path, allow_unsafe=False), inputs)
