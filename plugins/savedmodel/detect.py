"""Cheap recognition of TensorFlow inputs (folder layout and file names); imports neither numpy nor TensorFlow."""
from __future__ import annotations

from typing import Any

from tfjsconv.frontend import as_path

from .source import HUB_MODULE_FILE, is_hub_module_dir, is_saved_model_dir


def is_saved_model(source: Any) -> bool:
    path = as_path(source)
    return path is not None and is_saved_model_dir(path) and not is_hub_module_dir(path)


def is_hub_module(source: Any) -> bool:
    path = as_path(source)
    return path is not None and is_hub_module_dir(path)


def is_hub_address(source: Any) -> bool:
    """A TF Hub / Kaggle URL or handle (claimed so that loading it can say "download it first")."""
    from .loading import is_hub_url

    return is_hub_url(source)


def is_frozen_graph(source: Any) -> bool:
    path = as_path(source)
    return (path is not None and path.is_file() and path.suffix == ".pb"
            and path.name not in ("saved_model.pb", HUB_MODULE_FILE))


#: model.json files larger than this are not parsed by detection: the reader's own limit
#: (``tfjsconv.weights.reader.MAX_MODEL_JSON_BYTES``, not imported: it brings numpy), so a file detection
#: passes over is one the reader would refuse anyway.
_MODEL_JSON_DETECT_LIMIT = 256 * 1024 * 1024


def is_graph_model_doc(doc: Any) -> bool:
    """A graph model.json: ``format: graph-model``, or (older files) a topology with a ``node`` list."""
    topology = doc.get("modelTopology") if isinstance(doc, dict) else None
    return isinstance(topology, dict) and (doc.get("format") == "graph-model"
                                           or (doc.get("format") is None and "node" in topology))


def is_tfjs_graph_model(source: Any) -> bool:
    """A TF.js graph model folder or its ``model.json`` (read as JSON only when the name fits)."""
    import json

    path = as_path(source)
    if path is None:
        return False
    path = path / "model.json" if path.is_dir() else path
    try:
        if path.name != "model.json" or not path.is_file() or path.stat().st_size > _MODEL_JSON_DETECT_LIMIT:
            return False
        return is_graph_model_doc(json.loads(path.read_bytes().decode("utf-8")))
    except (OSError, ValueError, RecursionError):
        return False
