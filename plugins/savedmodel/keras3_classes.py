"""Keras 3 classes the tracer looks for, found only when Keras 3 is already imported.

A tf_keras model never imports Keras 3, so the tracer's Keras 3 fixes must not import it either: each lookup
asks whether Keras 3 is loaded first, then tries the class's homes across Keras 3 releases in order.
"""
from __future__ import annotations

import importlib
import sys
from typing import Any


def keras3_loaded() -> bool:
    """Whether Keras 3 is already imported: a tf_keras model never imports it, so its fixes are not needed."""
    keras = sys.modules.get("keras")
    return keras is not None and str(getattr(keras, "__version__", "")).startswith("3.")


def keras3_class(*homes: str) -> Any | None:
    """The first of ``homes`` (``"module:Class"``) that imports, when Keras 3 is loaded; None otherwise."""
    if not keras3_loaded():
        return None
    for home in homes:
        module_name, _, class_name = home.partition(":")
        try:
            return getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue
    return None
