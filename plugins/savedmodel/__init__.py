"""TensorFlow frontends: SavedModel, frozen GraphDef and TF Hub module folders (needs TensorFlow).

This module only declares hooks; TensorFlow is imported when one of these formats is loaded, so
``tfjsconv --help`` and the ONNX/Keras paths stay light. The Python API for live TF objects
(concrete functions, Keras models) is :mod:`tfjsconv.plugins.savedmodel.api`.
"""
from __future__ import annotations

from typing import Callable

from tfjsconv.hookspecs import hookimpl


@hookimpl
def register_frontends(register: Callable) -> None:
    from .frontends import FrozenModelFrontend, SavedModelFrontend, TfHubFrontend

    register(SavedModelFrontend())
    register(FrozenModelFrontend())
    register(TfHubFrontend())
