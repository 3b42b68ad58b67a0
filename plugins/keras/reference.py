"""Loading a Keras file with Keras itself: for reference outputs (``tfjsconv verify``) and graph models.

This is the one place the plugin imports Keras (Keras 3 for Keras 3 files, tf_keras for Keras 2
files), and only after the file passed the code checks of :mod:`.checks`: no Lambda layer or custom
class reaches Keras's loader unless the user passed ``--allow_unsafe_deserialization``. Keras
loads in its safe mode besides (Keras 3 for every file, tf_keras for ``.keras`` archives).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tfjsconv.errors import InputError


def import_keras(keras3: bool) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TensorFlow turns oneDNN on by itself only on some Intel CPUs; without it (an AMD machine) its CPU kernels
    # refuse channels_first convolutions and pools and dilated transposed convolutions, so Keras could not
    # compute such a model's reference outputs at all. Asked for before TensorFlow loads; a user's value wins.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
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
    except (OSError, ValueError, TypeError, LookupError, AttributeError, ImportError, NotImplementedError,
            RuntimeError) as err:  # Keras's own failure to rebuild the file (tf_keras: IndexError for tf.meshgrid)
        text = (str(err).strip() or type(err).__name__).splitlines()[0][:400]
        raise InputError(f"{'Keras 3' if keras3 else 'tf_keras'} could not load {path}: {text}",
                         hint="custom classes must be importable and registered with Keras") from None


def input_names(model: Any) -> list[str]:
    return [_tensor_name(t) for t in model.inputs]


def keras_reference(model: Any, inputs: Mapping[str, np.ndarray], model_config: Mapping[str, Any] | None = None,
                    converted_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Run ``model`` on ``inputs`` (keyed by input layer name; any name for a single input).

    The outputs are named as the converter named them: the lowering's names (from ``model_config``, the saved
    config it read), or the TensorFlow tracer's when those are the converted model's (``converted_names``:
    the graph signature's). Where Keras's own ``output_names`` (made unique: Keras 3 gives every output of one
    layer the layer's name) name the same outputs as the lowering, Keras's pairing of names and tensors wins, so a
    lowering that puts a name on the wrong tensor fails verify.
    """
    structure = _run_eagerly(model, inputs)
    flat = [np.asarray(v) for v in _flatten(structure)]
    lowered = _lowered_names(model_config, len(flat))
    own = _unique([str(n) for n in getattr(model, "output_names", None) or []])
    candidates = [names for names in (own if lowered and set(own) == set(lowered) else None, lowered,
                                      _traced_names(model, structure))
                  if names is not None and len(names) == len(flat)]
    if converted_names is not None:
        wanted = set(converted_names)
        candidates = [n for n in candidates if set(n) == wanted] + candidates
    names = candidates[0] if candidates else _unique([str(n) for n in getattr(model, "output_names", [])]
                                                     or [f"output_{i}" for i in range(len(flat))])
    return dict(zip(names, flat, strict=True))


def _flatten(structure: Any) -> list[Any]:
    """Leaves in Keras's order (``keras.tree.flatten``: dict keys sorted; nested lists and tuples in order)."""
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _flatten(item)]
    return [structure]


def _unique(names: list[str]) -> list[str]:
    """Repeats made unique as tf_keras and the lowering do (``b``, ``b_1``, ``b_2``)."""
    from .lowering.model_plan import unique_names

    return unique_names(names)


def _lowered_names(model_config: Mapping[str, Any] | None, count: int) -> list[str] | None:
    """The lowering's output names (:meth:`ModelPlan.output_names`), in Keras's flatten order.

    Keras flattens a dict of outputs by sorted key and makes repeated names unique in that order, as the
    lowering does: the layer names are put in that order, then made unique."""
    if not model_config:
        return None
    from .configs import plain
    from .lowering.model_plan import is_functional, layer_refs

    config = plain(dict(model_config))
    if not is_functional(config):
        return None if count != 1 else _unique([_last_layer_name(config)]) if _last_layer_name(config) else None
    saved = (config.get("config") or {}).get("output_layers")
    layers = [ref[0] for ref in layer_refs(saved)]
    order = _keras_order(saved, iter(range(len(layers))))
    if sorted(order) != list(range(len(layers))):
        return None
    return _unique([layers[i] for i in order])


def _last_layer_name(config: Mapping[str, Any]) -> str | None:
    from .configs import entry_name, top_level_layers

    layers = top_level_layers(config)
    return entry_name(layers[-1]) if layers else None


def _keras_order(saved: Any, counter: Iterator[int]) -> list[int]:
    """For each output in Keras's flatten order, its index in :func:`layer_refs`'s order (dicts as saved)."""
    if isinstance(saved, dict):
        indexed = {key: _keras_order(value, counter) for key, value in saved.items()}  # numbered as saved
        return [i for key in sorted(indexed) for i in indexed[key]]
    if not isinstance(saved, list) or not saved:
        return []
    if isinstance(saved[0], str):
        return [next(counter)]
    return [i for item in saved for i in _keras_order(item, counter)]


def _traced_names(model: Any, structure: Any) -> list[str] | None:
    """The names ``--loader=tensorflow`` gives (``plugins/savedmodel/keras_trace.py`` then ``freeze.output_keys``):
    ``output_names`` when unique, a dict's sorted keys, else ``output_<path>``."""
    flat = _flatten(structure)
    names = sorted(structure) if isinstance(structure, dict) else [str(n) for n in getattr(model, "output_names", [])]
    if len(names) == len(flat) and len(set(names)) == len(names):
        return names
    paths = _leaf_paths(structure)
    if isinstance(structure, dict) and all("/" not in p for p in paths):
        return paths
    if len(paths) == 1 and not isinstance(structure, dict):
        return ["output_0"]
    return [f"output_{p.replace('/', '_')}" if p.isdigit() or "/" in p else p for p in paths]


def _leaf_paths(structure: Any, prefix: str = "") -> list[str]:
    if isinstance(structure, dict):
        return [p for key in sorted(structure) for p in _leaf_paths(structure[key], f"{prefix}{key}/")]
    if isinstance(structure, (list, tuple)):
        return [p for i, item in enumerate(structure) for p in _leaf_paths(item, f"{prefix}{i}/")]
    return [prefix.rstrip("/")]


def _run_eagerly(model: Any, inputs: Mapping[str, np.ndarray]) -> Any:
    """The model's outputs (numpy leaves, structured as the model returns them) on ``inputs`` ordered as its input
    layers, computed as users run the model: an eager ``model(x, training=False)``, op by op.

    Not ``model.predict``, whose trace computes otherwise: TensorFlow's optimizer rewrites it (a float16 divide by a
    constant as a multiply by the reciprocal; a channels_first Conv1D's bias fused onto the channels), Keras 3's image
    layers skip casting integer images back (CLAHE, bilinear Resizing), ops needing eager values fail
    (``keras.ops.isin``), and Keras 3's data adapter refuses string arrays and casts float64 inputs to float32."""
    call_inputs = _call_inputs(model, _ordered_arrays(model, inputs))
    try:
        outputs = model(call_inputs, training=False)
    except Exception as err:  # Keras's own refusal (an input spec, a shape): the source cannot run these inputs
        raise InputError(f"{_framework(model)} cannot run the model on these inputs: {keras_message(err)}",
                         hint="feed inputs the source model itself accepts (--inputs X.npz)") from None
    return _numpy_leaves(outputs, _to_numpy(model))


def _framework(model: Any) -> str:
    """Which Keras built ``model``, as a report names it."""
    return "Keras 3" if type(model).__module__.split(".")[0] == "keras" else "tf_keras"


def keras_message(err: BaseException) -> str:
    """The line of a Keras error that says what went wrong: Keras 3 wraps it as ``Exception encountered when
    calling X.`` then the cause in bold (ANSI codes), then the arguments it received."""
    import re

    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(err).splitlines()]
    useful = [line for line in lines if line and not line.startswith("Exception encountered when calling")]
    return (useful[0] if useful else type(err).__name__)[:400]


def _call_inputs(model: Any, arrays: list[np.ndarray]) -> Any:
    """``arrays`` (in :func:`input_names` order) as the model takes them: keyed as the dict it was built on, else a
    list (one array alone). Keras 3 refuses a list for a model built on a dict whose keys are not sorted."""
    try:
        built_on = model.input
    except (AttributeError, ValueError):  # a Sequential model Keras 3 never called has no ``input``
        built_on = None
    if isinstance(built_on, dict) and len(built_on) == len(arrays):
        by_name = dict(zip(input_names(model), arrays, strict=True))
        keyed = {key: by_name.get(_tensor_name(tensor)) for key, tensor in built_on.items()}
        if all(value is not None for value in keyed.values()):
            return keyed
    return arrays if len(arrays) > 1 else arrays[0]


def _tensor_name(tensor: Any) -> str:
    return str(getattr(tensor, "name", "")).split(":")[0]


def _ordered_arrays(model: Any, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """``inputs`` in the order of the model's input layers (any name for a single input)."""
    names = input_names(model)
    if len(names) == 1 and len(inputs) == 1:
        return list(inputs.values())
    missing = [n for n in names if n not in inputs]
    if missing:
        raise InputError(f"the model takes inputs {names}; got {sorted(inputs)}")
    return [inputs[n] for n in names]


def _to_numpy(model: Any) -> Any:
    """How to read one output tensor as numpy: Keras 3's own converter (any backend), numpy's for tf_keras."""
    if type(model).__module__.split(".")[0] != "keras":
        return np.asarray
    return import_keras(keras3=True).ops.convert_to_numpy


def _numpy_leaves(structure: Any, to_numpy: Any) -> Any:
    """``structure`` with each tensor read as numpy; dicts, lists and tuples kept, as ``predict`` returned them."""
    if isinstance(structure, dict):
        return {key: _numpy_leaves(value, to_numpy) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        items = [_numpy_leaves(item, to_numpy) for item in structure]
        return tuple(items) if isinstance(structure, tuple) else items
    return to_numpy(structure)


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
    flat = [np.asarray(v) for v in _flatten(_run_eagerly(sub, inputs))]
    result, k = {}, 0
    for name, count in chosen:
        result[name] = flat[k:k + count]
        k += count
    return result
