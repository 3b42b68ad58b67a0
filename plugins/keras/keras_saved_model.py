"""The ``keras_saved_model`` frontend: a tf_keras SavedModel folder (``model.save(dir, save_format="tf")``).

The folder's ``keras_metadata.pb`` holds the model config (decoded without TensorFlow); it is checked
for code (Lambda layers, custom classes) *before* anything is loaded, exactly like a ``.h5`` file. A
graph model whose every layer has a lowering is lowered from that config, with the weights read from
the checkpoint by the SavedModel plugin's TF-free ``tensor_bundle.BundleReader`` (its only import from
that plugin on this path); each top-level layer's variables are those the checkpoint's object graph lists
under it (names repeat across nested models). A graph model the lowering does not cover is refused naming every
such layer, as a ``.h5`` file is (issue 16), with the way out: ``--loader=tensorflow``, where tf_keras loads the
folder and the SavedModel plugin traces it. A layers model is always loaded by tf_keras, and reuses the config
translation of the file frontends with the loaded weights (both need TensorFlow and tf_keras). Not
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
from .frontends import (GRAPH_MODEL, SAVED_MODEL_READER, KerasFileInfo, _missing_tracer_packages,
                        build_layers_model, lowering_refusal)
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
    """The graph model lowered from the metadata's config and the checkpoint (no TensorFlow). A model the lowering
    does not cover is refused naming every gap, with the ``--loader=tensorflow`` hint, as a ``.h5`` file is (issue
    16: the tracer runs only under that flag); None (tf_keras loads and traces it) only where
    ``frontends.LOWERING_ONLY`` is off and TensorFlow and tf_keras are installed."""
    from . import frontends
    from .lowering import Unsupported, layer_gaps, lower_model
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
        gaps = layer_gaps(config, source)
    fallback = not frontends.LOWERING_ONLY and not _missing_tracer_packages(keras3=False)
    if gaps and fallback:
        return None
    try:
        weights = _checkpoint_weights(path, config)
        with malformed_config(source):
            graph = lower_model(config, weights, keras3=False, source=source, walk_past_gaps=bool(gaps),
                                target_backends=options.target_backends)
    except Unsupported as err:
        if fallback:
            return None
        gaps = list(dict.fromkeys([*gaps, *(getattr(err, "gaps", None) or [str(err)])]))
    except Exception:
        if not gaps:
            raise
        # the walk past the gaps only adds names: the refusal stands on the config's gaps
    if gaps:
        raise lowering_refusal(path, gaps, keras3=False, reader=SAVED_MODEL_READER, what="folder")
    graph.notes.append(SAVED_MODEL_LOWERED)
    return graph


def _checkpoint_weights(path: Path, config: dict[str, Any]) -> Any:
    """The lowering's weights, read from ``variables/`` by the SavedModel plugin's TF-free bundle reader."""
    from tfjsconv.plugins.savedmodel.api import BundleReader

    from .keras_metadata import OBJECT_GRAPH_KEY, WireError
    from .lowering.weights import bundle_layer_weights

    reader = BundleReader(path / "variables" / "variables")
    if not reader.has_tensor(OBJECT_GRAPH_KEY):
        raise InputError(f"{path}/variables holds no object graph; it is not a Keras SavedModel's checkpoint")
    try:
        owned = variables_by_layer(reader.get_tensor(OBJECT_GRAPH_KEY).item(), (path / METADATA_FILE).read_bytes(),
                                   str(path))
    except (WireError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}/variables: the checkpoint's object graph is unreadable ({err})") from None
    return bundle_layer_weights(reader, owned, config, str(path))


def variables_by_layer(object_graph: bytes, metadata: bytes, source: str) -> dict[str, list[tuple[str, str]]]:
    """Each top-level layer's variables ``(full name, checkpoint key)``, in its own order: the ``variables`` list
    of the object the root reaches by the edge ``layer-N`` (tf_keras's ``model.layers[N]``), named by the
    metadata entry whose node path leads to that object. Variables are told apart by the object graph, not by
    name, which repeats across nested models (``member_a/dense`` and ``member_b/dense`` both hold
    ``dense/kernel``). Every variable of the root's ``variables`` list (``model.variables``) must be owned."""
    from .keras_metadata import checkpoint_variables, metadata_nodes

    nodes = _object_nodes(object_graph)
    root = _children(nodes, 0)
    names: dict[int, str] = {}
    for entry in metadata_nodes(metadata):  # node paths of top-level layers are ``root.<edge>``
        parts = entry.get("node_path", "").split(".")
        if len(parts) == 2 and parts[0] == "root" and parts[1] in root and entry.get("metadata"):
            name = json.loads(entry["metadata"]).get("name")
            if isinstance(name, str):
                names.setdefault(root[parts[1]], name)
    owned: dict[str, list[tuple[str, str]]] = {}
    for edge, node in root.items():
        if edge.startswith("layer-") and edge[6:].isdigit() and node in names:
            owned.setdefault(names[node], [_variable(nodes, n) for n in _listed(nodes, node)])
    keys = {key for pairs in owned.values() for _, key in pairs}
    stray = next((name for name, key in checkpoint_variables(object_graph) if key not in keys), None)
    if stray is not None:
        raise InputError(f"{source}: variable {stray!r} belongs to no layer of the model config",
                         hint="the file is corrupt or was edited")
    return owned


def _object_nodes(object_graph: bytes) -> list[list[tuple[int, Any]]]:
    from .keras_metadata import fields

    return [list(fields(node)) for number, node in fields(object_graph) if number == 1]


def _children(nodes: list[list[tuple[int, Any]]], index: int) -> dict[str, int]:
    """An object's children by local name (``TrackableObject.children``: node_id 1, local_name 2)."""
    from .keras_metadata import WireError, fields

    if not 0 <= index < len(nodes):
        raise WireError(f"a reference to object {index}")
    found: dict[str, int] = {}
    for number, value in nodes[index]:
        if number == 1:
            ref = dict(fields(value))
            found.setdefault(bytes(ref.get(2, b"")).decode("utf-8"), int(ref.get(1, 0)))
    return found


def _listed(nodes: list[list[tuple[int, Any]]], index: int) -> list[int]:
    """The objects an object's ``variables`` list holds, in order (none for a layer without one: InputLayer)."""
    listed = _children(nodes, index).get("variables")
    if listed is None:
        return []
    return [node for _, node in sorted((int(k), n) for k, n in _children(nodes, listed).items() if k.isdigit())]


def _variable(nodes: list[list[tuple[int, Any]]], index: int) -> tuple[str, str]:
    """``(full name, checkpoint key)`` of a variable object (its ``VARIABLE_VALUE`` attribute)."""
    from .keras_metadata import WireError, fields

    if not 0 <= index < len(nodes):
        raise WireError(f"a reference to object {index}")
    for number, value in nodes[index]:
        attribute = dict(fields(value)) if number == 2 else {}
        if attribute.get(1) == b"VARIABLE_VALUE":
            return bytes(attribute.get(2, b"")).decode("utf-8"), bytes(attribute.get(3, b"")).decode("utf-8")
    raise WireError(f"object {index} of a layer's variables list is not a variable")


class KerasSavedModelFrontend(Frontend):
    """tf_keras SavedModel folders -> layers models (the default) or graph models."""

    name = "keras_saved_model"
    description = ("tf_keras SavedModel folder (keras_metadata.pb): graph model lowered without TensorFlow; "
                   "layers models and --loader=tensorflow need TensorFlow and tf_keras")
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
