"""Import TensorFlow on first use, quietly, with one clear error when it is missing."""
from __future__ import annotations

import os
from types import ModuleType

from tfjsconv.errors import UsageError


def import_tf() -> ModuleType:
    """The ``tensorflow`` module; TensorFlow's C++ info logs are silenced unless the user set a level."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as err:
        raise UsageError(f"the TensorFlow frontends need TensorFlow ({err})",
                         hint="pip install 'tfjsconv[tensorflow]'") from None
    return tf
