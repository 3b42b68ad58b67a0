"""The recorded calls of op layers: tf_keras ``TFOpLambda``/``SlicingOpLambda`` and Keras 3 op nodes.

These layers stand for a TF function or ``keras.ops`` call made on symbolic tensors; the config keeps
the function's name and its arguments, with tensors as references. Their inbound nodes differ from a
plain layer's:

- tf_keras: a node is the first argument's structure (one ``[layer, node, tensor, kwargs]``, a list of
  them, or ``["_CONSTANT_VALUE", -1, value, kwargs]``) and every other argument is in ``kwargs``, where
  a tensor is a ``[layer, node, tensor]`` list;
- Keras 3: ``{"args": [...], "kwargs": {...}}`` with ``__keras_tensor__``, ``__slice__`` and
  ``__ellipsis__`` objects; the operation's class (``keras.src.ops.numpy.Add``) sits in ``module``.

Parsing only: nothing is ever executed. The graph checks and the lowering share it.
"""
from __future__ import annotations

import dataclasses
from typing import Any

#: tf_keras layers that record a TF function call.
TF_OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda"})
#: Where Keras 3 keeps its operations (a functional config lists them as layers with this module).
KERAS_OPS_MODULE = "keras.src.ops"
#: The class-name prefix the lowering gives Keras 3 operations, so ``Add`` (op) is not ``Add`` (layer).
KERAS_OP_PREFIX = "keras.ops."
_CONSTANT_VALUE = "_CONSTANT_VALUE"

Ref = tuple[str, int, int]
#: Keras 3 layers whose ``get_config`` skips the base config, so their configs lack ``trainable`` as an
#: operation's do; no Keras 3 operation has these class names.
LAYERS_WITHOUT_TRAINABLE = frozenset({"SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Discretization",
                                      "HashedCrossing", "Pipeline"})

#: The config keys of Keras 3's ``keras.activations.relu`` operation (``keras.src.activations.activations.ReLU``).
RELU_OPERATION_KEYS = frozenset({"name", "negative_slope", "max_value", "threshold"})


@dataclasses.dataclass(frozen=True)
class TensorArg:
    """A tensor argument: the ``index``-th input of the call (in :func:`call_refs` order)."""

    ref: Ref
    index: int


def is_keras_op_entry(entry: dict[str, Any]) -> bool:
    """A Keras 3 operation listed among a functional model's layers.

    ``.keras`` configs name the module; Keras 3 ``.h5`` configs drop it, and there an operation is the
    entry whose calls are Keras 3 dict nodes but whose config lacks ``trainable``, which every Keras 3
    layer saves (Keras itself cannot reload such ``.h5`` files).
    """
    module = entry.get("module")
    if isinstance(module, str):
        return module == KERAS_OPS_MODULE or module.startswith(KERAS_OPS_MODULE + ".")
    if entry.get("class_name") in LAYERS_WITHOUT_TRAINABLE or is_saved_relu_operation(entry):
        return False
    nodes = entry.get("inbound_nodes")
    config = entry.get("config")
    return (isinstance(config, dict) and "trainable" not in config and isinstance(nodes, list) and bool(nodes)
            and all(isinstance(node, dict) for node in nodes))


def is_saved_relu_operation(entry: dict[str, Any]) -> bool:
    """A Keras 3 ``.h5`` entry of ``keras.activations.relu`` called on a tensor: its ``ReLU`` operation (module
    ``keras.src.activations.activations``, the one Keras 3 operation a model records outside ``keras.src.ops``), saved
    without its module, known by its config: the function's options alone. ``keras.saving.load_model`` builds the
    ``keras.layers.ReLU`` layer of it (which passes the mask on, autocasts to float32 and refuses negative options):
    :func:`tag_keras_ops` makes it that layer, what the file's user runs and ``tfjsconv verify`` compares with (the
    ``.keras`` entry, whose module is no ``keras.src.ops`` one, Keras rebuilds as the operation:
    :func:`is_relu_operation`)."""
    config = entry.get("config")
    return (entry.get("class_name") == "ReLU" and "module" not in entry and isinstance(config, dict)
            and "name" in config and set(config) <= RELU_OPERATION_KEYS)


def is_relu_operation(class_name: Any, config: Any, keras3: bool | None) -> bool:
    """Keras 3's ``keras.activations.relu(x)`` operation, saved as ``ReLU`` like the layer but without the
    ``trainable`` every Keras 3 layer saves: it keeps its input's dtype, takes any options (a negative threshold or
    max_value, which the layer refuses) and, an operation, drops the input's mask."""
    return keras3 is True and class_name == "ReLU" and isinstance(config, dict) and "trainable" not in config


def is_op_layer(class_name: Any) -> bool:
    """A class name (after :func:`tag_keras_ops`) whose calls are recorded function calls."""
    return isinstance(class_name, str) and (class_name in TF_OP_LAYERS or class_name.startswith(KERAS_OP_PREFIX))


def tag_keras_ops(value: Any) -> Any:
    """A copy of a model config in which Keras 3 operations are named ``keras.ops.<Class>``.

    Needed because configs lose ``module`` once Keras's bookkeeping keys are dropped, and op classes
    share names with layers (``Add``, ``Concatenate``, ``Reshape``).
    """
    if isinstance(value, dict):
        tagged = {k: tag_keras_ops(v) for k, v in value.items()}
        if is_saved_relu_operation(value):  # Keras 3 loads the .h5 entry as the ReLU layer: lowered as that one
            tagged["config"] = {**tagged["config"], "trainable": True}
        if is_keras_op_entry(value) and isinstance(value.get("class_name"), str):
            tagged["class_name"] = KERAS_OP_PREFIX + value["class_name"]
        return tagged
    if isinstance(value, list):
        return [tag_keras_ops(v) for v in value]
    return value


#: Config key under which :func:`with_plain_op_nodes` keeps an op layer's recorded calls (one per node).
CALLS_KEY = "__recorded_calls__"
#: ... and a Keras 3 operation's own config, which holds arguments of the call (``Cast``'s ``dtype``), not
#: layer settings the walk reads.
OP_ARGUMENTS_KEY = "__operation_arguments__"


def with_plain_op_nodes(model_config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a model config (nested models too) that any layer walker reads: Keras 3 operations
    tagged (:func:`tag_keras_ops`), and each op layer's inbound node replaced by the plain list of the
    tensors it reads (``[[layer, node, tensor], ...]``), the recorded call kept in its config under
    :data:`CALLS_KEY`. A node this cannot read is left as is (the walk then reports it)."""
    return _plain_nodes(tag_keras_ops(model_config))


def _plain_nodes(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain_nodes(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _plain_nodes(v) for k, v in value.items()}
    nodes = value.get("inbound_nodes")
    if is_op_layer(value.get("class_name")) and isinstance(nodes, list) and isinstance(out.get("config"), dict):
        try:
            out["inbound_nodes"] = [[list(ref) for ref in call_refs(node)] for node in nodes]
        except ValueError:
            return out
        config = out["config"]
        if str(value.get("class_name")).startswith(KERAS_OP_PREFIX):  # its config holds call arguments
            config = {"name": config.get("name"), OP_ARGUMENTS_KEY: {k: v for k, v in config.items() if k != "name"}}
        out["config"] = {**config, CALLS_KEY: nodes}
    return out


def first_argument_is_constant(config: dict[str, Any]) -> bool:
    """An op layer's one recorded call (kept under :data:`CALLS_KEY`) was made on a constant first argument beside
    tensor arguments (``tf.tile([[1.5, -2.5]], [n, 1])``): the result's dtype is the constant's, not the first
    tensor's."""
    nodes = config.get(CALLS_KEY)
    if not isinstance(nodes, list) or len(nodes) != 1:
        return False
    try:
        args, kwargs = parse_call(nodes[0])
    except ValueError:
        return False
    found: list[TensorArg] = []
    _tensor_args(args[:1], found)
    if found or not args:
        return False
    _tensor_args([args, kwargs], found)
    return bool(found)


def _is_ref(item: Any) -> bool:
    """tf_keras's test for a serialized tensor: ``[str, int, int]`` with an optional kwargs dict."""
    return (isinstance(item, list) and len(item) in (3, 4) and isinstance(item[0], str)
            and all(isinstance(i, int) and not isinstance(i, bool) for i in item[1:3])
            and (len(item) == 3 or isinstance(item[3], dict)))


def parse_call(node: Any) -> tuple[list[Any], dict[str, Any]]:
    """``(args, kwargs)`` of one recorded call, tensors as :class:`TensorArg`; ValueError if unreadable."""
    refs: list[Ref] = []
    if isinstance(node, dict):
        args = _keras3_value(node.get("args") or [], refs)
        kwargs = _keras3_value(node.get("kwargs") or {}, refs)
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ValueError(f"unreadable call {str(node)[:80]}")
        return args, kwargs
    if not isinstance(node, list) or not node:
        raise ValueError(f"unreadable call {str(node)[:80]}")
    kwargs_seen: list[Any] = []
    first = _first_arg(node, refs, kwargs_seen, 0)
    if any(k != kwargs_seen[0] for k in kwargs_seen[1:]):  # tf_keras writes the same kwargs into every entry
        raise ValueError(f"unreadable call {str(node)[:80]} (its entries disagree on the other arguments)")
    kwargs = _tf_value(kwargs_seen[0] if kwargs_seen else {}, refs)
    return [first], kwargs


#: How deeply a tf_keras first argument's lists may nest (``tf.scatter_nd([[1], [3]], ...)`` is 2 deep).
_MAX_FIRST_ARG_DEPTH = 32


def _first_arg(item: Any, refs: list[Ref], kwargs_seen: list[Any], depth: int) -> Any:
    """The first argument as tf_keras saved it: its structure (lists) kept, each leaf a tensor reference or
    ``["_CONSTANT_VALUE", -1, value, kwargs]`` (a constant, read back as its value, as tf_keras reads it)."""
    if depth > _MAX_FIRST_ARG_DEPTH or not isinstance(item, list):
        raise ValueError(f"unreadable call argument {str(item)[:80]}")
    if not item or not isinstance(item[0], str):  # a list in the argument's structure
        return [_first_arg(v, refs, kwargs_seen, depth + 1) for v in item]
    if len(item) == 4:
        if not isinstance(item[3], dict):
            raise ValueError(f"unreadable call argument {str(item)[:80]}")
        kwargs_seen.append(item[3])
    if len(item) in (3, 4) and item[0] == _CONSTANT_VALUE and item[1] == -1:
        return item[2]
    if not _is_ref(item):
        raise ValueError(f"unreadable call argument {str(item)[:80]}")
    refs.append((item[0], item[1], item[2]))
    return TensorArg(refs[-1], len(refs) - 1)


def _tf_value(value: Any, refs: list[Ref]) -> Any:
    if _is_ref(value) and len(value) == 3:
        refs.append((value[0], value[1], value[2]))
        return TensorArg(refs[-1], len(refs) - 1)
    if isinstance(value, dict):
        if value.get("class_name") == "__ellipsis__":
            return Ellipsis
        if set(value) == {"start", "stop", "step"}:
            return slice(*(_tf_value(value[k], refs) for k in ("start", "stop", "step")))
        return {k: _tf_value(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_tf_value(v, refs) for v in value]
    return value


def _keras3_value(value: Any, refs: list[Ref]) -> Any:
    if isinstance(value, dict):
        kind = value.get("class_name")
        config = value.get("config") or {}
        if kind == "__keras_tensor__":
            history = config.get("keras_history")
            if not _is_ref(history):
                raise ValueError(f"unreadable tensor {str(value)[:80]}")
            refs.append((history[0], history[1], history[2]))
            return TensorArg(refs[-1], len(refs) - 1)
        if kind == "__ellipsis__":
            return Ellipsis
        if kind == "__slice__":
            return slice(*(_keras3_value(config.get(k), refs) for k in ("start", "stop", "step")))
        if kind == "__tuple__":
            return [_keras3_value(v, refs) for v in config.get("value") or []]
        return {k: _keras3_value(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_keras3_value(v, refs) for v in value]
    return value


def call_refs(node: Any) -> list[Ref]:
    """Every tensor the call reads, in :class:`TensorArg` index order."""
    args, kwargs = parse_call(node)
    found: list[TensorArg] = []
    _tensor_args([args, kwargs], found)
    return [t.ref for t in sorted(found, key=lambda t: t.index)]


def _tensor_args(value: Any, found: list[TensorArg]) -> None:
    if isinstance(value, TensorArg):
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _tensor_args(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _tensor_args(item, found)
    elif isinstance(value, slice):
        _tensor_args([value.start, value.stop, value.step], found)
