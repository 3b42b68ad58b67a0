"""tfjsconv: convert TensorFlow, Keras, ONNX and PyTorch models to TensorFlow.js, and verify them.

Importing this package is cheap: it pulls in no ML framework. Use :func:`convert`::

    import tfjsconv
    tfjsconv.convert("model.h5", "web_model/")
"""
from __future__ import annotations

from typing import Any

from .version import __version__

__all__ = ["__version__", "convert"]


def convert(source: Any, output_dir: Any, **kwargs: Any) -> Any:
    """Convert ``source`` into a TF.js model in ``output_dir``; see :func:`tfjsconv.conversion.convert`."""
    from .conversion import convert as _convert

    return _convert(source, output_dir, **kwargs)
