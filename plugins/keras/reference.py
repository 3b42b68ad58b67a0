"""Reference outputs from Keras itself, for ``tfjsconv verify model.h5 web_model/``.

This is the one place the plugin imports Keras (Keras 3 for Keras 3 files, tf_keras for Keras 2
files), and only after the file passed the same checks as a conversion: no Lambda layer or custom
class reaches Keras's loader, and Keras 3 loads with ``safe_mode=True`` besides.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tfjsconv.errors import InputError


def _import_keras(keras3: bool) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    name = "keras" if keras3 else "tf_keras"
    try:
        return __import__(name)
    except ImportError:
        package = "keras (Keras 3) with a backend such as tensorflow" if keras3 else "tf_keras (Keras 2)"
        raise InputError(f"computing reference outputs for this file needs {package}",
                         hint="pip install " + ("keras tensorflow" if keras3 else "tf_keras")) from None


def keras_reference(path: Path, inputs: Mapping[str, np.ndarray], *, keras3: bool) -> dict[str, np.ndarray]:
    """Run the model in ``path`` with Keras on ``inputs`` (keyed by input layer name)."""
    keras = _import_keras(keras3)
    extra = {"safe_mode": True} if keras3 else {}
    model = keras.models.load_model(path, compile=False, **extra)
    names = [str(getattr(t, "name", "")).split(":")[0] for t in model.inputs]
    if len(names) == 1 and len(inputs) == 1:
        arrays = list(inputs.values())
    else:
        missing = [n for n in names if n not in inputs]
        if missing:
            raise InputError(f"the model takes inputs {names}; got {sorted(inputs)}")
        arrays = [inputs[n] for n in names]
    outputs = model.predict(arrays if len(arrays) > 1 else arrays[0], verbose=0)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    out_names = [str(n) for n in getattr(model, "output_names", [])] or [f"output_{i}" for i in range(len(outputs))]
    return {name: np.asarray(value) for name, value in zip(out_names, outputs, strict=True)}
