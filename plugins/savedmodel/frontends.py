"""The three TensorFlow input formats: ``tf_saved_model``, ``tf_frozen_model`` and ``tf_hub``."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.errors import InputError
from tfjsconv.frontend import Frontend, as_path
from tfjsconv.ir import Graph
from tfjsconv.options import ConvertOptions

from .detect import is_frozen_graph, is_hub_address, is_hub_module, is_saved_model


def _path(source: Any, frontend: str) -> Path:
    from .loading import reject_urls

    reject_urls(source)
    path = as_path(source)
    if path is None:
        raise InputError(f"the {frontend} frontend reads folders and files, not {type(source).__name__} objects",
                         hint="for a live tf.function or Keras model use tfjsconv.plugins.savedmodel.api")
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    return path


class SavedModelFrontend(Frontend):
    name = "tf_saved_model"
    description = "TensorFlow SavedModel folder (saved_model.pb + variables/)"
    output_formats = ("tfjs_graph_model",)
    hub = False

    def detect(self, source: Any) -> bool:
        return is_saved_model(source)

    def load(self, source: Any, options: ConvertOptions) -> Graph:
        from .pipeline import graph_from_saved_model_dir

        return graph_from_saved_model_dir(_path(source, self.name), options, hub=self.hub)

    def describe(self, source: Any, options: ConvertOptions) -> dict[str, Any]:
        from .source import describe, read_saved_model

        return describe(read_saved_model(_path(source, self.name)))

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray], options: ConvertOptions) -> dict[str, np.ndarray]:
        from .reference import run_signature

        options = with_recorded_signature(options, options.extra.get("model_dir"))
        return run_signature(_path(source, self.name), inputs, options, hub=self.hub)

    def trace_reference(self, source: Any, inputs: Mapping[str, np.ndarray], sources: Sequence[str],
                        options: ConvertOptions) -> dict[str, list[np.ndarray]]:
        from .reference import trace_signature

        options = with_recorded_signature(options, options.extra.get("model_dir"))
        return trace_signature(_path(source, self.name), inputs, list(sources), options, hub=self.hub)


class TfHubFrontend(SavedModelFrontend):
    name = "tf_hub"
    description = "TensorFlow Hub module, downloaded to a local folder (TF2 SavedModel or TF1 hub format)"
    hub = True

    def detect(self, source: Any) -> bool:
        return is_hub_module(source)

    def claims_remote(self, source: Any) -> bool:
        return is_hub_address(source)


class FrozenModelFrontend(Frontend):
    name = "tf_frozen_model"
    description = "frozen TensorFlow GraphDef (.pb), with --output_node_names"
    output_formats = ("tfjs_graph_model",)

    def detect(self, source: Any) -> bool:
        return is_frozen_graph(source)

    def load(self, source: Any, options: ConvertOptions) -> Graph:
        from .frozen_model import graph_from_frozen_model

        return graph_from_frozen_model(_path(source, self.name), options)

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray], options: ConvertOptions) -> dict[str, np.ndarray]:
        from .frozen_model import run_frozen_model

        names = list(options.output_node_names or _outputs_from_model_dir(options.extra.get("model_dir")))
        if not names:
            raise InputError("the frozen-model reference needs the output node names",
                             hint="pass the converted model folder, whose signature lists them")
        return run_frozen_model(_path(source, self.name), dict(inputs), names)

    def trace_reference(self, source: Any, inputs: Mapping[str, np.ndarray], sources: Sequence[str],
                        options: ConvertOptions) -> dict[str, list[np.ndarray]]:
        from .frozen_model import import_graph_def, read_graph_def
        from .reference import run_graph_tensors

        path = _path(source, self.name)
        return run_graph_tensors(import_graph_def(read_graph_def(path), path), dict(inputs), list(sources))


def _model_json(model_dir: Any) -> dict[str, Any]:
    if not model_dir:
        return {}
    try:
        doc = json.loads((Path(model_dir) / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _outputs_from_model_dir(model_dir: Any) -> list[str]:
    return list((_model_json(model_dir).get("signature") or {}).get("outputs", {}))


def with_recorded_signature(options: ConvertOptions, model_dir: Any) -> ConvertOptions:
    """``options`` with the tag-set and signature the converted model records in its model.json.

    The converter writes them to ``userDefinedMetadata`` (``savedModelTags``, ``signatureName``),
    so ``tfjsconv verify SAVED_MODEL_DIR MODEL_DIR`` runs the same signature without being told; a signature
    named in ``options`` (``verify --signature_name``) wins over the record.
    """
    import dataclasses

    metadata = _model_json(model_dir).get("userDefinedMetadata") or {}
    tags, signature = metadata.get("savedModelTags"), metadata.get("signatureName")
    changes: dict[str, Any] = {}
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        changes["saved_model_tags"] = list(tags)
    if isinstance(signature, str) and signature and not options.signature_name:
        changes["signature_name"] = signature
    return dataclasses.replace(options, **changes) if changes else options
