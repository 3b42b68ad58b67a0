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
