"""Keras 3 model configs -> the Keras 2 form that TF.js 4.22's ``tf.loadLayersModel`` reads.

Keras 2 configs pass through almost unchanged (idempotent unless item 12 renumbers a call). What changes:

1. ``InputLayer``: ``batch_shape`` becomes ``batch_input_shape``; ``optional`` goes.
2. Inbound nodes: Keras 3's ``{"args": [<__keras_tensor__ ...>], "kwargs": {...}}`` becomes the
   Keras 2 list ``[["layer", node_index, tensor_index, {kwargs}], ...]``.
3. ``input_layers`` / ``output_layers``: a single flat ``["x", 0, 0]`` or a dict becomes a list of refs.
4. Dtype policies (``{"class_name": "DTypePolicy", "config": {"name": "float32"}}``) become dtype
   names; mixed-precision policies become ``float32`` (their variables are float32, TF.js computes in float32;
   float16 ones the checks refuse first: Keras rounds their values, ``tfjs_support.half_dtype_problem``).
5. Serialized objects lose ``module``, ``registered_name`` and ``shared_object_id``; ``__tuple__`` becomes a list.
6. Activations Keras 3 saves under another name (``silu``) get the TF.js name (``swish``).
7. Initializers, regularizers and constraints TF.js lacks (or custom ones) are dropped: they never
   affect predictions, and TF.js would refuse to load the model over them. ``L1``/``L2`` become ``L1L2``.
8. A Sequential model built without an ``InputLayer`` gets ``batch_input_shape`` on its first layer
   (one never built at all is refused). Inbound references to a nested model count that model's
   own building node, as Keras 2 and TF.js do (see ``_Scope.ref``).
9. Renamed classes (``BatchNormalizationV1`` ...) get their current names, and renamed options
   their TF.js names (Keras 3 ``LeakyReLU(negative_slope)`` is TF.js ``alpha``).
10. SeparableConv2D loses the ``kernel_*`` options tf_keras writes: Keras ignores them, TF.js refuses them.
11. Bidirectional: Keras 3 saves the forward copy (``forward_lstm``) and a ``backward_layer``; TF.js
    wants the plain wrapped layer (``lstm``) and builds both copies itself.
12. Node references are renumbered in the order TF.js's loader makes a shared layer's calls (``tfjs_node_order``).
13. A ``Reshape``'s ``-1`` that Keras solves from known sizes gets the solved size (TF.js leaves it null over its
    unknown batch and the next layer fails to build: ``tfjs_unknown_sizes.write_solved_reshapes``).
"""
from __future__ import annotations

import logging
from typing import Any

from tfjsconv.errors import InputError

from .checks import TRAINING_ONLY_SUFFIXES, is_custom_object
from .configs import (
    BOOKKEEPING_KEYS,
    NESTED_LAYER_KEYS,
    bidirectional_base_name,
    entry_name,
    is_layer_entry,
    is_model,
    iter_layers,
    plain,
)
from .tfjs_node_order import renumber_nodes_in_tfjs_order
from .tfjs_support import (
    ACTIVATION_KEYS,
    CLASS_RENAMES,
    DTYPE_POLICY_CLASSES,
    GRAPH_MODEL_HINT,
    TFJS_CONSTRAINTS,
    TFJS_INITIALIZERS,
    activation_name,
    tfjs_activation,
)
from .tfjs_unknown_sizes import unknown_size_problems, write_solved_reshapes

log = logging.getLogger(__name__)


def to_tfjs_model_config(model_config: dict[str, Any], *, keras3: bool = False) -> dict[str, Any]:
    """A translated copy of a Keras 2 or 3 model config (the input is not modified)."""
    refuse_dict_structures(model_config)
    out = _layer(model_config, _Scope(keras3, frozenset()))
    renumber_nodes_in_tfjs_order(out)  # TF.js makes a shared layer's calls in another order than Keras
    write_solved_reshapes(out)  # TF.js leaves a Reshape's -1 null over its unknown batch; Keras solves it
    _refuse_unbuildable(out)
    layers = out["config"].get("layers") or []
    if out["class_name"] == "Sequential" and layers and layers[0]["class_name"] != "InputLayer":
        first = layers[0].get("config") or {}
        if not any(key in first for key in ("batch_input_shape", "input_shape", "input_dim")):
            raise InputError("the Sequential model has no input shape (it was saved before it was built), "
                             "so TF.js cannot build it", hint="start the model with keras.Input(shape=...) "
                                                               "or call model.build(input_shape) before saving")
    return out


def _refuse_unbuildable(out: dict[str, Any]) -> None:
    """The written config's walk must agree with the checks' (they ran on the saved config): else refuse."""
    problems = unknown_size_problems(out)
    if problems:
        raise InputError("TF.js 4.22 cannot build these layers over the sizes it leaves unknown:\n  - "
                         + "\n  - ".join(problems), hint=GRAPH_MODEL_HINT)


def refuse_dict_structures(model_config: dict[str, Any]) -> None:
    """Refuse, naming every such nested model, dicts TF.js layers models cannot pair as Keras does.

    TF.js feeds a nested model's inputs by position in its saved ``input_layers`` and reads its outputs by position.
    Keras pairs a dict call with the model's sorted keys or its Inputs' names, a list call on a dict-built model with
    the sorted keys (tf_keras), and counts dict outputs in sorted-key order. Written as lists, such models loaded
    with an empty input list in TF.js or silently computed on swapped inputs (2.8e-2 .. 0.43 off, session 27);
    the graph-model lowering pairs them as Keras does."""
    found: list[str] = []
    for layer in iter_layers(model_config):
        if layer.entry is model_config or not is_model(layer.entry) or layer.class_name == "Sequential":
            continue
        config = layer.entry.get("config") or {}
        why = [what for what, holds in (
            ("is called with a dict", any(_dict_call(n) for n in layer.entry.get("inbound_nodes") or [])),
            ("is built on a dict of inputs", _many_keys(config.get("input_layers"))),
            ("returns a dict", _many_keys(config.get("output_layers")))) if holds]
        if why:
            found.append(f"nested model {layer.qualified_name!r} {' and '.join(why)}")
    if found:
        raise InputError(f"{len(found)} nested model{'s' if len(found) > 1 else ''} use dicts, which TF.js 4.22 "
                         "layers models pair by position, not by key as Keras does:\n" + "\n".join(f"  - {item}" for item in found),
                         hint=GRAPH_MODEL_HINT)


def _many_keys(refs: Any) -> bool:
    """A dict of more than one input or output (one key has no order to get wrong)."""
    return isinstance(refs, dict) and len(refs) > 1


def _dict_call(node: Any) -> bool:
    """A call on a dict: tf_keras saves the dict itself as the node, Keras 3 a dict among ``args``."""
    if not isinstance(node, dict):
        return False
    args = node.get("args")
    if not isinstance(args, list) or not isinstance(node.get("kwargs", {}), dict):
        return bool(node)  # tf_keras: {key: [layer, node, tensor, kwargs]}
    return any(isinstance(a, dict) and a.get("class_name") not in ("__keras_tensor__", "__tuple__") for a in args)


class _Scope:
    """What translating a reference to another layer needs to know about its model."""

    def __init__(self, keras3: bool, nested_models: frozenset[str]) -> None:
        self.keras3 = keras3
        #: Names of the layers in this model's layer list that are models themselves.
        self.nested_models = nested_models

    def ref(self, name: str, node_index: int, tensor_index: int) -> list[Any]:
        """An inbound ``[layer, node_index, tensor_index]`` reference in Keras 2 / TF.js numbering.

        A model used as a layer has a node of its own in Keras 2 and TF.js (node 0, from building
        it), which Keras 3's inbound nodes do not count (they only count the outer model's own
        calls): Keras 3's call ``k`` of a nested model is TF.js node ``k + 1``. Keras 3's
        ``output_layers`` count it for a nested functional model, not for a Sequential (``_sequential_refs_shifted``).
        """
        shift = 1 if self.keras3 and name in self.nested_models else 0
        return [name, node_index + shift, tensor_index]


def _layer(entry: dict[str, Any], scope: _Scope) -> dict[str, Any]:
    out = {k: v for k, v in entry.items() if k not in BOOKKEEPING_KEYS and k not in ("config", "inbound_nodes")}
    out["class_name"] = cls = CLASS_RENAMES.get(entry["class_name"], entry["class_name"])
    name = str(entry.get("name") or (entry.get("config") or {}).get("name") or cls)
    out["config"] = _layer_config(cls, entry.get("config") or {}, name, scope)
    if "inbound_nodes" in entry:
        out["inbound_nodes"] = [_inbound_node(node, name, scope) for node in entry["inbound_nodes"] or []]
    return out


def _layer_config(cls: str, config: dict[str, Any], name: str, outer: _Scope) -> dict[str, Any]:
    layers = config.get("layers") if isinstance(config.get("layers"), list) else []
    scope = _Scope(outer.keras3, frozenset(entry_name(v) for v in layers if is_layer_entry(v) and is_model(v)))
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in BOOKKEEPING_KEYS:
            continue
        if key == "layers" and isinstance(value, list):
            out[key] = [_layer(v, scope) if is_layer_entry(v) else plain(v) for v in value]
        elif key in NESTED_LAYER_KEYS and (is_layer_entry(value) or isinstance(value, list)):
            out[key] = [_layer(v, scope) for v in value] if isinstance(value, list) else _layer(value, scope)
        elif key == "dtype":
            out[key] = _dtype(value)
        elif key in ACTIVATION_KEYS and value is not None:
            out[key] = tfjs_activation(activation_name(value) or "", keras3=False)[0] or value
        elif key.endswith(TRAINING_ONLY_SUFFIXES):
            out[key] = _training_object(key, value, name)
        elif key == "output_layers" and outer.keras3:
            out[key] = _sequential_refs_shifted(_layer_refs(value), layers)
        elif key in ("input_layers", "output_layers"):
            out[key] = _layer_refs(value)  # Keras 3 numbers these like Keras 2 already
        else:
            out[key] = plain(value)
    if cls == "InputLayer":
        if "batch_shape" in out:
            out.setdefault("batch_input_shape", out.pop("batch_shape"))
        out.pop("optional", None)
    if cls == "Sequential":
        _give_sequential_an_input(out)
    if cls == "SeparableConv2D":  # Keras ignores these here, TF.js refuses them
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            out.pop(key, None)
    if cls == "LeakyReLU" and "negative_slope" in out:
        out["alpha"] = out.pop("negative_slope")
    if cls == "Bidirectional" and isinstance(out.get("layer"), dict):
        out["layer"]["config"]["name"] = bidirectional_base_name(config)
        out.pop("backward_layer", None)  # TF.js mirrors the forward layer (checks refused other ones)
    return out


def _give_sequential_an_input(config: dict[str, Any]) -> None:
    layers = config.get("layers") or []
    shape = config.get("build_input_shape")
    if not layers or shape is None or layers[0].get("class_name") == "InputLayer":
        return
    first = layers[0].setdefault("config", {})
    if "batch_input_shape" not in first and "input_shape" not in first:
        first["batch_input_shape"] = plain(shape)


def _dtype(value: Any) -> Any:
    if isinstance(value, dict) and value.get("class_name") in DTYPE_POLICY_CLASSES:
        value = (value.get("config") or {}).get("name")
    if isinstance(value, str):
        if value.startswith("mixed_") or value in ("float16", "bfloat16", "float64"):
            return "float32"
        if value.startswith(("int", "uint")):
            return "int32"  # the only integer dtype TF.js has
    return plain(value)


def _training_object(key: str, value: Any, layer: str) -> Any:
    """An initializer/regularizer/constraint TF.js can deserialize, or None (TF.js then uses its default)."""
    if not isinstance(value, dict):
        return None if isinstance(value, str) else plain(value)
    cls = value.get("class_name")
    config = plain(value.get("config") or {})
    if is_custom_object(value):
        log.warning("layer %r: dropping custom %s %r (it only matters for training)", layer, key, cls)
        return None
    if key.endswith("_initializer"):
        if cls in TFJS_INITIALIZERS:
            return {"class_name": TFJS_INITIALIZERS[cls], "config": config}
    elif key.endswith("_regularizer"):
        if cls == "L1L2":
            return {"class_name": "L1L2", "config": config}
        if cls in ("L1", "L2"):
            rate = float(config.get(cls.lower(), 0.0))
            return {"class_name": "L1L2", "config": {"l1": rate if cls == "L1" else 0.0,
                                                     "l2": rate if cls == "L2" else 0.0}}
    elif cls in TFJS_CONSTRAINTS:
        return {"class_name": cls, "config": config}
    log.info("layer %r: dropping %s %r, which TF.js lacks (it only matters for training)", layer, key, cls)
    return None


def _sequential_refs_shifted(refs: list[list[Any]], layers: list[Any]) -> list[list[Any]]:
    """Keras 3 ``output_layers`` in TF.js numbering: they count a nested *functional* model's building node as
    Keras 2 and TF.js do, but not a nested ``Sequential``'s (its call ``k`` is TF.js node ``k + 1``; unshifted,
    TF.js failed to load the model: "Graph disconnected", measured session 31)."""
    sequentials = {entry_name(v) for v in layers if is_layer_entry(v) and v.get("class_name") == "Sequential"}
    return [[ref[0], ref[1] + 1, *ref[2:]] if ref[0] in sequentials and isinstance(ref[1], int) else ref
            for ref in refs]


def _layer_refs(value: Any) -> list[list[Any]]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [list(value)]
    refs = plain(value)
    if not (isinstance(refs, list) and all(isinstance(r, list) and len(r) >= 3 for r in refs)):
        raise InputError(f"the model's input/output layers are not in a form tfjsconv knows: {value!r:.200}")
    return refs


def _inbound_node(node: Any, layer: str, scope: _Scope) -> Any:
    if isinstance(node, list):
        return plain(node)
    if not isinstance(node, dict):
        raise InputError(f"layer {layer!r} has an inbound node tfjsconv cannot read: {node!r:.200}")
    refs: list[list[Any]] = []
    for arg in node.get("args") or []:
        _collect_tensors(arg, refs, layer, "a positional argument")
    refs = [scope.ref(*ref) for ref in refs]
    kwargs = {}
    for key, value in (node.get("kwargs") or {}).items():
        if value is None:
            continue
        found: list[list[Any]] = []
        _collect_tensors(value, found, layer, None)
        if found:
            raise InputError(f"layer {layer!r} is called with a tensor as keyword argument {key!r}, "
                             "which TF.js layers models cannot express", hint=GRAPH_MODEL_HINT)
        kwargs[key] = plain(value)
    return [[*ref, dict(kwargs)] for ref in refs]


def _collect_tensors(value: Any, refs: list[list[Any]], layer: str, what: str | None) -> None:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = (value.get("config") or {}).get("keras_history")
        if not (isinstance(history, list) and len(history) == 3):
            raise InputError(f"layer {layer!r}: an input tensor has no readable keras_history")
        refs.append([str(history[0]), int(history[1]), int(history[2])])
    elif isinstance(value, dict) and value.get("class_name") == "__tuple__":
        _collect_tensors((value.get("config") or {}).get("value") or [], refs, layer, what)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect_tensors(item, refs, layer, what)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_tensors(item, refs, layer, what)
    elif what is not None and value is not None:
        raise InputError(f"layer {layer!r} is called with {what} that is not a tensor ({value!r:.80}), "
                         "which TF.js layers models cannot express")
