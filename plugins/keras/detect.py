"""Cheap recognition of the Keras plugin's inputs (suffixes and magic bytes; no numpy, no h5py).

The plugin's hooks declare its frontends with these (``tfjsconv.lazy.LazyFrontend``), so telling
what an input is never imports a frontend that will not convert it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tfjsconv.frontend import as_path

H5_SUFFIXES = (".h5", ".hdf5")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MODEL_JSON = "model.json"


def has_hdf5_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(HDF5_MAGIC)) == HDF5_MAGIC
    except OSError:
        return False


def is_keras_h5(source: Any) -> bool:
    """An ``.h5``/``.hdf5`` file, or any file that starts with the HDF5 signature."""
    path = as_path(source)
    return path is not None and path.is_file() and (path.suffix.lower() in H5_SUFFIXES or has_hdf5_magic(path))


def is_keras_archive(source: Any) -> bool:
    """A Keras 3 ``.keras`` archive."""
    path = as_path(source)
    return path is not None and path.is_file() and path.suffix.lower() == ".keras"


def is_tfjs_layers_model(source: Any) -> bool:
    """A model.json (or a folder holding one) whose content is a layers model; only such files load the frontend."""
    path = as_path(source)
    if path is None:
        return False
    if path.is_dir():
        path = path / MODEL_JSON
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    from .tfjs_layers import TfjsLayersFrontend

    return TfjsLayersFrontend().detect(source)
