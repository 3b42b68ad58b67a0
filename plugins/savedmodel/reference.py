"""Run a SavedModel signature in TensorFlow, so ``tfjsconv verify SAVED_MODEL_DIR MODEL_DIR`` has a reference."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.errors import InputError, UsageError
from tfjsconv.options import ConvertOptions


def _feed(tf: Any, spec: Any, value: Any) -> Any:
    if spec.dtype == tf.string:
        array = np.asarray(value, dtype=object)
        return tf.constant(array.astype(bytes) if array.size else array, dtype=tf.string)
    return tf.constant(np.asarray(value).astype(spec.dtype.as_numpy_dtype))


def run_signature(path: Path, inputs: Mapping[str, np.ndarray], options: ConvertOptions, *,
                  hub: bool = False) -> dict[str, np.ndarray]:
    """Outputs of the signature, keyed like the converted model's signature outputs."""
    from .freeze import output_keys
    from .loading import load_signature
    from .tfimport import import_tf

    tf = import_tf()
    with load_signature(path, options, hub=hub) as fn:
        _, specs = fn.structured_input_signature
        missing = sorted(set(specs) - set(inputs))
        if missing:
            raise UsageError(f"no value given for signature input(s) {', '.join(missing)}")
        try:
            result = fn(**{key: _feed(tf, spec, inputs[key]) for key, spec in specs.items()})
        except Exception as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InputError(f"TensorFlow cannot run the signature on these inputs: {first}") from None
        keys, _ = output_keys(fn, None)
        flat = tf.nest.flatten(result)
    return {key: _numpy(t) for key, t in zip(keys, flat)}


def _numpy(tensor: Any) -> np.ndarray:
    array = tensor.numpy()
    return np.asarray(array)
