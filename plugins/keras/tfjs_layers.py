"""The ``tfjs_layers_model`` frontend: a TF.js layers model in, a layers model out (re-shard, re-quantize).

The topology is passed through untouched (TF.js wrote or can read it, custom JS classes included);
only the weights are re-written: read back with the core's reader (which confines manifest paths to
the model folder and dequantizes), re-grouped (one group, or one per layer) and re-encoded with
the current ``--weight_shard_size_bytes`` and quantization flags. Nothing is imported but numpy.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tfjsconv.errors import InputError, TfjsconvError, UsageError
from tfjsconv.frontend import Frontend, as_path
from tfjsconv.model import LayersModel
from tfjsconv.options import ConvertOptions

MODEL_JSON = "model.json"
#: model.json files larger than this are not parsed by ``detect`` (real ones are far smaller).
_DETECT_LIMIT = 64 * 1024 * 1024


def model_json_path(source: Any) -> Path | None:
    """The model.json a source names: the file itself, or ``<folder>/model.json``."""
    path = as_path(source)
    if path is None:
        return None
    return path / MODEL_JSON if path.is_dir() else path


def read_model_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path.parent} has no {MODEL_JSON}; expected a TF.js layers model folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:  # Recursion: nested too deeply
        raise InputError(f"{path} is not a readable model.json: {str(err)[:200]}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path} does not hold a JSON object, so it is not a TF.js model.json")
    return doc


def topology_config(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The Keras model config of a layers model.json (``modelTopology.model_config`` or the bare config)."""
    topology = doc.get("modelTopology")
    if not isinstance(topology, dict):
        return None
    config = topology.get("model_config", topology)
    return config if isinstance(config, dict) and isinstance(config.get("class_name"), str) else None


def is_layers_model(doc: dict[str, Any]) -> bool:
    return doc.get("format") in (None, "layers-model") and topology_config(doc) is not None


class ManifestWeights:
    """The weights of one manifest, loaded lazily and streamed in manifest order.

    The writer asks for the weights in the order the groups list them, which is the manifest's own
    order (also after splitting by layer), so one pass of the reader serves every request; a weight
    asked for out of order is read on its own.
    """

    def __init__(self, manifest: Any, model_dir: Path) -> None:
        self.manifest = manifest
        self.model_dir = model_dir
        self._stream: Iterator[tuple[str, np.ndarray]] | None = None

    def get(self, name: str) -> np.ndarray:
        from tfjsconv.weights import reader

        if self._stream is None:
            self._stream = reader.read_weights(self.manifest, self.model_dir)
        for found, array in self._stream:
            if found == name:
                return array
        self._stream = None  # out of order: start over next time, read this one alone
        return reader.load_manifest_weights(self.manifest, self.model_dir, names=[name])[name]


class ManifestArray:
    """One weight of a manifest (a ``tfjsconv.ir.LazyArray``), in its original (dequantized) dtype."""

    def __init__(self, weights: ManifestWeights, name: str, shape: tuple[int, ...], dtype: str) -> None:
        self.weights, self.name, self.shape = weights, name, shape
        self.dtype = np.dtype(object if dtype == "string" else dtype)

    def load(self) -> np.ndarray:
        return self.weights.get(self.name)

    def __repr__(self) -> str:
        return f"<ManifestArray {self.name} {self.dtype} {list(self.shape)}>"


def layer_weight_groups(entries: list[tuple[str, Any]]) -> list[list[tuple[str, Any]]]:
    """``(name, array)`` pairs grouped by layer (the name's first component), in first-seen order.

    This is ``--split_weights_by_layer``'s grouping; without it the writer joins the groups again.
    """
    groups: dict[str, list[tuple[str, Any]]] = {}
    for name, array in entries:
        groups.setdefault(name.split("/", 1)[0], []).append((name, array))
    return list(groups.values())


class TfjsLayersFrontend(Frontend):
    """A TF.js layers model folder (or its model.json) written by tfjsconv, tensorflowjs or TF.js itself."""

    name = "tfjs_layers_model"
    description = "TF.js layers model (model.json + shards): re-shard / re-quantize"
    output_formats = ("tfjs_layers_model",)

    def detect(self, source: Any) -> bool:
        path = model_json_path(source)
        if path is None or not path.is_file() or path.suffix.lower() != ".json":
            return False
        try:
            if path.stat().st_size > _DETECT_LIMIT:
                return False
            return is_layers_model(read_model_json(path))
        except (OSError, TfjsconvError):
            return False

    def load(self, source: Any, options: ConvertOptions) -> LayersModel:
        from tfjsconv.weights.manifest import parse_manifest
        from tfjsconv.weights.reader import resolve_shard_path

        path = model_json_path(source)
        if path is None:
            raise UsageError(f"the {self.name} frontend reads model folders; got a {type(source).__name__}")
        if not path.exists():
            folder = path.parent
            raise InputError(f"{folder} has no {MODEL_JSON}; expected a TF.js layers model folder"
                             if folder.is_dir() else f"{path} does not exist")
        doc = read_model_json(path)
        if doc.get("format") == "graph-model" or (topology_config(doc) is None and isinstance(doc.get("modelTopology"), dict)
                                                and "node" in doc["modelTopology"]):
            raise InputError(f"{path} is a TF.js graph model, not a layers model",
                             hint="read it with --input_format=tfjs_graph_model (the default for graph models)")
        config = topology_config(doc)
        if config is None or not is_layers_model(doc):
            raise InputError(f"{path} is not a TF.js layers model (no modelTopology with a Keras model config)")
        from .model_graph import check_model_graph

        check_model_graph(config, source=str(path))
        manifest = doc.get("weightsManifest", [])
        from tfjsconv.limits import limits_of
        from tfjsconv.weights.manifest import check_weight_count

        check_weight_count(manifest, limits_of(options), str(path))
        groups = parse_manifest(manifest)
        model_dir = path.parent
        for group in groups:
            for relative in group.paths:
                if not resolve_shard_path(model_dir, relative).is_file():
                    raise InputError(f"{path}: weight shard {relative!r} is missing from {model_dir}")
        weights = ManifestWeights(manifest, model_dir)
        entries = [(spec.name, ManifestArray(weights, spec.name, spec.shape, spec.dtype))
                   for group in groups for spec in group.weights]
        from .weight_shapes import check_weight_shapes

        check_weight_shapes(config, layer_weight_groups(entries), source=str(path))
        topology = doc["modelTopology"]
        return LayersModel(
            model_config=config,
            weight_groups=layer_weight_groups(entries),
            keras_version=str(topology.get("keras_version") or "2.15.0"),
            backend=str(topology.get("backend") or "tensorflow"),
            training_config=topology.get("training_config"),
            generated_by=doc.get("generatedBy"),
            metadata=dict(doc.get("userDefinedMetadata") or {}),
        )

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray],
                  options: ConvertOptions) -> dict[str, np.ndarray]:
        """The source model's own outputs in TF.js (cpu), so a re-quantized copy can be checked against it."""
        from tfjsconv.verify.run import run_model

        path = model_json_path(source)
        return dict(run_model(path.parent if path else source, inputs, backends=("cpu",), quiet=True).outputs())
