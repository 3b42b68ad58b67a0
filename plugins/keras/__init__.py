"""Keras frontends: ``.h5``/``.keras`` files, Keras SavedModels and TF.js layers models as input.

``.h5``/``.keras`` -> TF.js layers models needs h5py alone; graph models and Keras SavedModels need
TensorFlow and Keras. Importing this plugin is cheap: h5py, TensorFlow and Keras are imported only
when a conversion needs them. See ``docs/keras.md``.
"""
from __future__ import annotations

from collections.abc import Callable

from tfjsconv.hookspecs import hookimpl


@hookimpl
def register_frontends(register: Callable) -> None:
    from .frontends import KerasH5Frontend, KerasV3Frontend
    from .keras_saved_model import KerasSavedModelFrontend
    from .tfjs_layers import TfjsLayersFrontend

    register(KerasH5Frontend())
    register(KerasV3Frontend())
    register(TfjsLayersFrontend())
    register(KerasSavedModelFrontend())
