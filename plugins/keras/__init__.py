"""Keras frontend: ``.h5`` and Keras 3 ``.keras`` files to TF.js layers models, with h5py alone.

Importing this plugin is cheap: h5py is imported when a file is opened, and TensorFlow/Keras never
(the conversion reads the files directly). See ``docs/keras.md``.
"""
from __future__ import annotations

from collections.abc import Callable

from tfjsconv.hookspecs import hookimpl


@hookimpl
def register_frontends(register: Callable) -> None:
    from .frontends import KerasH5Frontend, KerasV3Frontend

    register(KerasH5Frontend())
    register(KerasV3Frontend())
