"""Loading a Keras file with Keras itself: for reference outputs (``tfjsconv verify``) and graph models.

This is the one place the plugin imports Keras (Keras 3 for Keras 3 files, tf_keras for Keras 2
files), and only after the file passed the code checks of :mod:`.checks`: no Lambda layer or custom
class reaches Keras's loader unless the user passed ``--allow_unsafe_deserialization``. Keras
loads in its safe mode besides (Keras 3 for every file, tf_keras for ``.keras`` archives).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tfjsconv.errors import InputError


def import_keras(keras3: bool) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    name = "keras" if keras3 else "tf_keras"
    try:
        return __import__(name)
    except ImportError:
        package = "keras (Keras 3) with a backend such as tensorflow" if keras3 else "tf_keras (Keras 2)"
        raise InputError(f"loading this file with Keras needs {package}",
                         hint="pip install " + ("keras tensorflow" if keras3 else "tf_keras")) from None


@contextlib.contextmanager
def _keras3_safe_mode(safe: bool) -> Iterator[None]:
    """Keras 3's safe mode for every loader it has (its legacy .h5 loader ignores ``safe_mode=``)."""
    try:
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # pragma: no cover - older Keras 3
        yield
        return
    with SafeModeScope(safe):
        yield


def load_keras_model(path: Path, *, keras3: bool, allow_unsafe: bool = False) -> Any:
    """The Keras model in ``path``, uncompiled; Keras errors become one :class:`InputError`."""
    keras = import_keras(keras3)
    safe = not allow_unsafe
    try:
        if keras3:
            with _keras3_safe_mode(safe):
                return keras.models.load_model(path, compile=False, safe_mode=safe)
        extra = {"safe_mode": safe} if path.suffix.lower() == ".keras" else {}
        return keras.models.load_model(path, compile=False, **extra)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ImportError, NotImplementedError) as err:
        text = (str(err).strip() or type(err).__name__).splitlines()[0][:400]
        raise InputError(f"{'Keras 3' if keras3 else 'tf_keras'} could not load {path}: {text}",
                         hint="custom classes must be importable and registered with Keras") from None


def input_names(model: Any) -> list[str]:
    return [str(getattr(t, "name", "")).split(":")[0] for t in model.inputs]


def keras_reference(model: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run ``model`` on ``inputs`` (keyed by input layer name; any name for a single input)."""
    outputs = _predict(model, inputs)
    out_names = [str(n) for n in getattr(model, "output_names", [])] or [f"output_{i}" for i in range(len(outputs))]
    return {name: np.asarray(value) for name, value in zip(out_names, outputs, strict=True)}


def _predict(model: Any, inputs: Mapping[str, np.ndarray]) -> list[Any]:
    """The model's outputs, as a list, on ``inputs`` ordered as its input layers."""
    names = input_names(model)
    if len(names) == 1 and len(inputs) == 1:
        arrays = list(inputs.values())
    else:
        missing = [n for n in names if n not in inputs]
        if missing:
            raise InputError(f"the model takes inputs {names}; got {sorted(inputs)}")
        arrays = [inputs[n] for n in names]
    outputs = model.predict(arrays if len(arrays) > 1 else arrays[0], verbose=0)
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def keras_layer_outputs(model: Any, inputs: Mapping[str, np.ndarray], layer_names: list[str]
                        ) -> dict[str, list[np.ndarray]]:
    """Layer name -> its outputs, from one sub-model whose outputs are the chosen layers' (``verify --trace``).

    Layers Keras cannot give one symbolic output for (shared layers, nested models' inner layers,
    unknown names) are left out; input layers are the inputs themselves.
    """
    keras = import_keras(keras3=type(model).__module__.split(".")[0] == "keras")
    by_name = {layer.name: layer for layer in model.layers}
    chosen, tensors = [], []
    for name in dict.fromkeys(layer_names):
        layer = by_name.get(name)
        if layer is None or type(layer).__name__ == "InputLayer":
            continue
        try:
            output = layer.output
        except (AttributeError, ValueError, RuntimeError):  # a shared layer has no single output
            continue
        outs = list(output) if isinstance(output, (list, tuple)) else [output]
        chosen.append((name, len(outs)))
        tensors.extend(outs)
    if not tensors:
        return {}
    sub = keras.Model(model.inputs, tensors)
    flat = [np.asarray(v) for v in _predict(sub, inputs)]
    result, k = {}, 0
    for name, count in chosen:
        result[name] = flat[k:k + count]
        k += count
    return result
