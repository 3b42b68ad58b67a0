"""Refuse, with one message naming every problem, models a TF.js layers model cannot represent.

Two kinds of problems, reported separately because the user's remedy differs:

1. **Code** (:class:`~tfjsconv.errors.UnsafeInputError`): Lambda layers (marshalled Python
   bytecode) and custom classes (a ``module`` outside ``keras``/``tf_keras``, a ``package>Name`` registered
   name, or - in legacy ``.h5`` files that record no module - a class name Keras does not have),
   found at any depth of the config: Keras deserializes nested values too (tf_keras imports the
   ``module`` of an object inside an Embedding's ``input_dim``, a Constant initializer's ``value``...).
   Nothing from such a file is ever unmarshalled, imported or run.
2. **TF.js gaps** (:class:`~tfjsconv.errors.InputError`): Keras built-in layers TF.js 4.22 lacks,
   and options it would ignore or compute differently (see :mod:`.tfjs_support`).
"""
from __future__ import annotations

import logging
from typing import Any

from tfjsconv.errors import InputError, UnsafeInputError

from .call_tensors import tensor_kwarg_problems
from .configs import MODEL_CLASSES, LayerEntry, child_name, is_model, iter_layers, top_level_layers
from .mask_flow import ignored_masks, operation_class_problems, operation_mask_problems
from .mask_leaks import leaked_mask_problems
from .narrow_ints import narrow_int_problems
from .rnn_states import initial_state_problems
from .shape_flow import layer_input_shapes
from .tfjs_support import (
    CLASS_RENAMES,
    GRAPH_MODEL_HINT,
    KERAS_LAYERS_MISSING_IN_TFJS,
    RANK_DEPENDENT_CLASSES,
    TF_KERAS_ONLY_CLASSES,
    TFJS_LAYER_CLASSES,
    option_problems,
)
from .tfjs_unknown_sizes import unknown_size_problems
from .vocabulary_files import special_vocabulary_files, vocabulary_files

log = logging.getLogger(__name__)

#: Top-level packages whose classes are Keras built-ins (tf_keras writes its own name in .keras files).
KERAS_MODULES = frozenset({"keras", "tf_keras"})
#: Config key suffixes of objects that only matter for training (dropped when custom, see translate).
TRAINING_ONLY_SUFFIXES = ("_initializer", "_regularizer", "_constraint")
#: A layer entry's own keys, judged by :func:`_layer_code_problem` (``config`` is walked on its own).
_ENTRY_OWN_KEYS = frozenset({"class_name", "config", "module", "registered_name", "name"})
#: Root keys Keras never reads on our paths (``load_model(compile=False)`` drops the root's compile_config).
_UNREAD_ROOT_KEYS = frozenset({"compile_config"})
#: TensorFlow's own initializer modules: tf_keras saves ``tf.constant_initializer(...)`` (Keras applications'
#: EfficientNetV2 does) under these; Keras resolves the class name among its own initializers.
_TF_INITIALIZER_MODULES = frozenset({"tensorflow.python.ops.init_ops_v2", "tensorflow.python.ops.init_ops"})
#: tf_keras marks marshaled functions with ``function_type``/``output_shape_type``/... ``"lambda"``.
_FUNCTION_TYPE_KEYS = ("_type",)


def is_custom_object(obj: dict[str, Any]) -> bool:
    """Whether a serialized Keras object names code outside Keras itself."""
    module = obj.get("module")
    if isinstance(module, str) and module and module.split(".")[0] not in KERAS_MODULES:
        return True
    registered = obj.get("registered_name")
    return isinstance(registered, str) and ">" in registered


def _describe_custom(obj: dict[str, Any]) -> str:
    parts = [f"class {obj.get('class_name')!r}"]
    if obj.get("module"):
        parts.append(f"module {obj['module']!r}")
    if obj.get("registered_name"):
        parts.append(f"registered as {obj['registered_name']!r}")
    return ", ".join(parts)


def _is_keras_layer_class(cls: str) -> bool:
    """Whether Keras (3 or tf_keras) has a layer class of that name: TF.js's classes, its gaps, and the built-ins
    neither lists (tf_keras's RandomHeight, the base Layer...; ``lowering.keras_names`` keeps them all)."""
    from .lowering.keras_names import is_keras_layer_class

    return (cls in TFJS_LAYER_CLASSES or cls in CLASS_RENAMES or cls in KERAS_LAYERS_MISSING_IN_TFJS
            or is_keras_layer_class(cls, {}))


def _layer_code_problem(layer: LayerEntry, keras3_style: bool, keras3: bool = False) -> str | None:
    cls = layer.class_name
    if cls == "Lambda":
        return "a Lambda layer (its function is stored as Python bytecode)"
    if is_custom_object(layer.entry):
        return f"a custom layer ({_describe_custom(layer.entry)})"
    if keras3 and cls in TF_KERAS_ONLY_CLASSES:
        return f"a layer class {cls!r} that Keras 3 does not have (a custom layer?)"
    if not keras3_style and not _is_keras_layer_class(cls):
        return f"a layer class {cls!r} that Keras does not have (a custom layer?)"
    return None


def _value_code_problems(entry: dict[str, Any], layer_ids: set[int], keras_loads: bool, root: bool) -> list[str]:
    """Code markers anywhere in one layer entry (every depth, lists and dicts), each with its path.

    Keras deserializes nested values too (tf_keras imports any ``module`` named inside, e.g., an
    Embedding's ``input_dim`` or a Constant initializer's ``value``), so nothing below the layer is
    trusted. Nested layers that :func:`iter_layers` yields (``layer_ids``) are judged on their own turn.
    Without Keras (the h5py layers path) training-only objects are dropped, so custom ones pass there.
    """
    problems = []
    config = entry.get("config")
    stack: list[tuple[str, Any]] = [(f"({k})", v) for k, v in entry.items()
                                    if k not in _ENTRY_OWN_KEYS and not (root and k in _UNREAD_ROOT_KEYS)]
    if isinstance(config, dict):
        stack += [(str(k), v) for k, v in reversed(list(config.items()))]
    while stack:
        path, value = stack.pop()
        if isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(value))))
            continue
        if not isinstance(value, dict) or id(value) in layer_ids:
            continue
        if not keras_loads and "." not in path and "[" not in path and path.endswith(TRAINING_ONLY_SUFFIXES):
            continue  # never affects predictions; translate drops custom ones with a warning
        marker = _code_marker(value)
        if marker and value.get("module") in _TF_INITIALIZER_MODULES and path.endswith("_initializer") \
                and "." not in path and "[" not in path and ">" not in str(value.get("registered_name") or ""):
            marker = None  # TensorFlow's initializer as a layer's initializer: data, not code
        if marker:
            problems.append(f"{path} is {marker}")
            continue
        stack.extend((f"{path}.{k}", v) for k, v in reversed(list(value.items())))
    return problems


def _code_marker(obj: dict[str, Any]) -> str | None:
    """What makes ``obj`` code Keras would unmarshal, import or run, or None."""
    cls = obj.get("class_name")
    if cls == "__lambda__":
        return "a marshaled Python lambda"
    if cls == "Lambda" and "config" in obj:
        return "a Lambda layer (its function is stored as Python bytecode)"
    if is_custom_object(obj):
        return f"custom code ({_describe_custom(obj)})"
    lambdas = [k for k, v in obj.items() if v == "lambda" and isinstance(k, str) and k.endswith(_FUNCTION_TYPE_KEYS)]
    if lambdas:
        return f"a marshaled Python function ({lambdas[0]} 'lambda')"
    return None


def check_model_config(model_config: dict[str, Any], *, source: str, keras3: bool,
                       allow_unsafe: bool = False, output_format: str = "tfjs_layers_model",
                       keras_loads: bool | None = None) -> None:
    """Raise UnsafeInputError for code, else InputError for TF.js gaps, each naming every offender.

    For a graph model (``output_format="tfjs_graph_model"``) only code matters (the model's own ops
    run, not TF.js's layer classes), and ``allow_unsafe`` lets it through: Keras then loads the file.
    ``keras_loads`` (default: for graph models) says Keras will deserialize the config, so custom
    training-only objects (initializers...) count as code too.
    """
    layers_model = output_format != "tfjs_graph_model"
    keras_loads = not layers_model if keras_loads is None else keras_loads
    layer_ids = {id(layer.entry) for layer in iter_layers(model_config)}
    keras3_style = keras3 or "module" in model_config
    code: list[str] = []
    gaps: list[str] = []
    input_shapes: dict[int, Any] | None = None  # propagated lazily, for files that record no build_config
    for layer in iter_layers(model_config):
        where = f"layer {layer.qualified_name!r} ({layer.class_name})"
        _check_input_shapes(layer.config, where, source)
        problem = _layer_code_problem(layer, keras3_style, keras3)
        if problem:
            code.append(f"{where}: {problem}")
            continue
        code += [f"{where}: {p}" for p in
                 _value_code_problems(layer.entry, layer_ids, keras_loads, root=layer.entry is model_config)]
        cls = CLASS_RENAMES.get(layer.class_name, layer.class_name)
        if cls not in TFJS_LAYER_CLASSES and cls not in MODEL_CLASSES:
            gaps.append(f"{where}: TF.js 4.22 has no {cls} layer")
            continue
        config = layer.config  # build_config (the input shape) sits beside the config in .keras files
        if isinstance(layer.entry.get("build_config"), dict):
            config = {**config, "build_config": layer.entry["build_config"]}
        elif cls in RANK_DEPENDENT_CLASSES:  # legacy .h5 / SavedModel metadata: carry shapes from the inputs
            if input_shapes is None:
                input_shapes = layer_input_shapes(model_config)
            shape = input_shapes.get(id(layer.entry))
            config = {**config, "build_config": {"input_shape": list(shape) if shape is not None else None}}
        gaps += [f"{where}: {p}" for p in option_problems(cls, config, keras3=keras3)]
    if layers_model and not code:
        gaps += ignored_masks(model_config, keras3) + operation_mask_problems(model_config, keras3) + \
            operation_class_problems(model_config, keras3) + \
            initial_state_problems(model_config) + \
            tensor_kwarg_problems(model_config) + leaked_mask_problems(model_config) + \
            narrow_int_problems(model_config) + unknown_size_problems(model_config)
        gaps += [] if keras3 else training_call_problems(model_config)
    if code and (layers_model or not allow_unsafe):
        _raise_code(code, source, allow_unsafe, layers_model)
    files = vocabulary_files(model_config)
    if files and not allow_unsafe:
        raise UnsafeInputError(f"{source} names {_count(files, 'file')} on this machine that Keras would read into "
                               "the model (a path saved in the file, not data inside it):\n" + _bullets(files),
                               hint="only for a file you trust, and paths you mean to publish: "
                                    "--allow_unsafe_deserialization lets the conversion read them")
    special = special_vocabulary_files(model_config) if files else []
    if special:  # TensorFlow would block on a FIFO or read a device forever, flag or not
        raise InputError(f"{source} names {_count(special, 'path')} Keras would read as a vocabulary file:\n"
                         + _bullets(special), hint="point the layers at regular files")
    if gaps and layers_model:
        raise InputError(f"{source} uses {_count(gaps, 'layer feature')} that TF.js 4.22's layers API lacks:\n"
                         + _bullets(gaps), hint=GRAPH_MODEL_HINT)


def training_call_problems(model_config: dict[str, Any]) -> list[str]:
    """tf_keras keeps a call site's ``training=True`` (or a nonzero int) under ``predict()``, where TF.js layers
    models compute inference (measured, session 25: BatchNormalization's batch statistics silently replaced by the
    moving ones). Each such call of a layer that computes otherwise in training is a gap for the layers path."""
    from .lowering.context import differs_in_training

    problems: list[str] = []
    for layer in iter_layers(model_config):
        if not is_model(layer.entry):
            continue
        for entry in top_level_layers(layer.entry):
            values = [item[3].get("training") for node in entry.get("inbound_nodes") or [] if isinstance(node, list)
                      for item in node if isinstance(item, list) and len(item) > 3 and isinstance(item[3], dict)]
            training = next((v for v in values if v not in (None, False, 0)), None)
            if training is not None and differs_in_training(str(entry.get("class_name")), entry.get("config") or {}):
                problems.append(f"layer {child_name(model_config, layer, entry)!r} ({entry.get('class_name')}): "
                                f"called with training={training!r}, which tf_keras keeps at inference and TF.js "
                                "layers models ignore")
    return list(dict.fromkeys(problems))


def _check_input_shapes(config: dict[str, Any], where: str, source: str) -> None:
    """Declared input shapes hold None or non-negative integers (a corrupt or hand-edited config otherwise)."""
    for key in ("batch_shape", "batch_input_shape", "input_shape"):
        shape = config.get(key)
        if shape is None:
            continue
        if not _valid_shape(shape):
            raise InputError(f"{source}: {where} has an invalid {key} {shape!r}; expected a list of "
                             "non-negative integers or null", hint="the file is corrupt or was edited by hand")


def _valid_shape(shape: Any) -> bool:
    """A list of None / non-negative ints, or a list of such lists (layers with several inputs)."""
    if not isinstance(shape, list):
        return False
    return all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)
               or (isinstance(d, list) and _valid_shape(d)) for d in shape)


def _raise_code(code: list[str], source: str, allow_unsafe: bool, layers_model: bool) -> None:
    message = (f"{source} contains {_count(code, 'piece')} of Python code or custom classes, "
               f"which tfjsconv does not load or run unless told to:\n" + _bullets(code))
    graph_flags = "--output_format=tfjs_graph_model --allow_unsafe_deserialization"
    if layers_model and allow_unsafe:
        hint = ("a layers model cannot hold Python code (TF.js cannot run Python); for a file you trust, "
                f"{graph_flags} lets Keras load it and traces the code into TF ops")
    elif layers_model:
        hint = ("rebuild these parts from built-in Keras layers; or, only for a file you trust, "
                f"{graph_flags} lets Keras load it (running its code) and traces it into TF ops")
    else:
        hint = ("only for a file you trust: --allow_unsafe_deserialization lets Keras load it (running its code; "
                "custom classes must be importable and registered with Keras)")
    raise UnsafeInputError(message, hint=hint)


def _count(items: list[str], noun: str) -> str:
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"


def _bullets(items: list[str]) -> str:
    return "\n".join(f"  - {item}" for item in items)
