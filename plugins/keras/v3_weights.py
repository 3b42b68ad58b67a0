"""Weights of a Keras 3 ``model.weights.h5`` (inside ``.keras`` archives), one lazy group per layer.

Keras 3 stores a layer's variables as numbered datasets ``layers/<key>/vars/0, 1, ...`` (RNN
layers keep theirs under ``layers/<key>/cell/vars``, wrappers under ``layer`` or
``forward_layer``/``backward_layer``). ``<key>`` is not the layer name: it is the
snake-cased class name plus a counter in ``model.layers`` order (``dense``, ``dense_1``; Sequential
models leave out their InputLayer); recent Keras versions also record the layer name in a ``name``
attribute of the ``vars`` group, which is preferred. Nested models keep their layers the same way
under ``layers/<key>/layers``. Files written by Keras 2.13-2.15 use
``_layer_checkpoint_dependencies/<layer name>`` instead.
"""
from __future__ import annotations

import re
from typing import Any

from tfjsconv.errors import InputError

from .configs import entry_name, is_model, leaf_layers, top_level_layers
from .h5source import H5Array, H5Source, attr_text
from .tfjs_support import GRAPH_MODEL_HINT
from .weight_names import layer_weight_names, stacked_cells, tfjs_weight_names

WeightGroup = list[tuple[str, H5Array]]
_CONTAINERS = ("layers", "_layer_checkpoint_dependencies")
#: Sub-groups (besides the layer's own ``vars``) whose variables belong to the layer itself.
_OWNED_SUBGROUPS = ("cell",)
#: Where wrappers keep the wrapped layer(s), in the order TF.js lists their weights.
_WRAPPER_SUBGROUPS = {"TimeDistributed": ("layer",), "SpectralNormalization": ("layer",), "Bidirectional": ("forward_layer", "backward_layer"),
                      # query, key, [gate,] value, output projections (Keras 3.0-3.3 kept the underscored attribute
                      # names; ``use_gate``'s projection comes between key and value, as in ``layer.weights``)
                      "MultiHeadAttention": ("query_dense", "_query_dense", "key_dense", "_key_dense", "_gate_dense",
                                             "value_dense", "_value_dense", "output_dense", "_output_dense"),
                      "GroupQueryAttention": ("_query_dense", "_key_dense", "_gate_dense", "_value_dense",
                                              "_output_dense"),
                      "GroupedQueryAttention": ("_query_dense", "_key_dense", "_gate_dense", "_value_dense",
                                                "_output_dense")}


def to_snake_case(name: str) -> str:
    """Keras's class-name-to-key rule (``BatchNormalization`` -> ``batch_normalization``)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def v3_weight_groups(h5: H5Source, model_config: dict[str, Any]) -> list[WeightGroup]:
    """One group of ``(TF.js name, lazy array)`` per layer that has variables (nested models included)."""
    root = h5.file
    container = next((c for c in _CONTAINERS if c in root), None)
    if container is None:
        if any(tfjs_weight_names(e["class_name"], e.get("config") or {}) for e in leaf_layers(model_config)):
            raise InputError(f"{h5.display} has no 'layers' group; it does not hold this model's weights")
        return []
    return _model_groups(h5, container, model_config)


def _model_groups(h5: H5Source, container: str, model: dict[str, Any]) -> list[WeightGroup]:
    layers = top_level_layers(model)
    keys = _layer_keys(h5, container, layers, sequential=model.get("class_name") == "Sequential")
    groups = []
    for entry, key in zip(layers, keys, strict=True):
        path = f"{container}/{key}" if key else None
        if is_model(entry):
            nested = f"{path}/layers" if path else None
            if nested and nested in h5.file:
                groups += _model_groups(h5, nested, entry)
            elif any(tfjs_weight_names(e["class_name"], e.get("config") or {}) for e in leaf_layers(entry)):
                raise InputError(f"{h5.display}: the weights of nested model {entry_name(entry)!r} are missing")
            continue
        group = _layer_group(h5, entry, path)
        if group:
            groups.append(group)
    return groups


def _layer_keys(h5: H5Source, container: str, layers: list[dict[str, Any]], *, sequential: bool) -> list[str | None]:
    """The group key of each layer: by recorded name, else by Keras's class counter, else by layer name."""
    children = list(h5.file[container].keys()) if container in h5.file else []
    by_name = {}
    for child in children:
        vars_group = h5.file[container][child].get("vars")
        recorded = attr_text(vars_group, "name") if vars_group is not None else None
        if recorded:
            by_name[recorded] = child
    counters: dict[str, int] = {}
    keys: list[str | None] = []
    for entry in layers:
        name = entry_name(entry)
        counted = None
        if not (sequential and entry["class_name"] == "InputLayer"):
            base = to_snake_case(entry["class_name"])
            n = counters.get(base, -1) + 1
            counters[base] = n
            counted = base if n == 0 else f"{base}_{n}"
        if by_name:
            keys.append(by_name.get(name))
        elif counted in children:
            keys.append(counted)
        else:
            keys.append(name if name in children else None)
    return keys


def _layer_group(h5: H5Source, entry: dict[str, Any], path: str | None) -> WeightGroup:
    cls, name = entry["class_name"], entry_name(entry)
    subgroups = _WRAPPER_SUBGROUPS.get(cls, ("",))
    arrays = [a for sub in subgroups for a in _owned_vars(h5, f"{path}/{sub}" if sub else path, _sub_entry(entry, sub))
              ] if path else []
    total = _count_vars(h5.file[path]) if path else 0
    if total != len(arrays):
        raise InputError(f"{h5.display}: layer {name!r} ({cls}) keeps weights in places tfjsconv does not "
                         "know how to map from Keras 3 files yet")
    expected = layer_weight_names(entry)
    if not arrays:
        if expected:
            raise InputError(f"{h5.display}: layer {name!r} ({cls}) should have weights {expected}, "
                             "but the file has none for it")
        return []
    if expected is None:
        raise InputError(f"{h5.display}: layer {name!r} ({cls}) has {len(arrays)} weights; tfjsconv does not "
                         f"know how TF.js names the weights of {cls} layers from Keras 3 files yet",
                         hint=GRAPH_MODEL_HINT)
    if len(expected) != len(arrays):
        raise InputError(f"{h5.display}: layer {name!r} ({cls}) has {len(arrays)} weights, "
                         f"but TF.js expects {len(expected)}: {expected}")
    return [(f"{name}/{weight}", array) for weight, array in zip(expected, arrays, strict=True)]


def _sub_entry(entry: dict[str, Any], sub: str) -> dict[str, Any] | None:
    """The layer whose variables a wrapper keeps in ``sub`` (the layer itself for ``""``)."""
    config = entry.get("config") or {}
    if not sub:
        return entry
    if sub in ("layer", "forward_layer") or (sub == "backward_layer" and "backward_layer" not in config):
        return config.get("layer") if isinstance(config.get("layer"), dict) else None
    return config.get(sub) if isinstance(config.get(sub), dict) else None


def _owned_vars(h5: H5Source, path: str, entry: dict[str, Any] | None = None) -> list[H5Array]:
    arrays = []
    for sub in ("", *_OWNED_SUBGROUPS):
        arrays += _numbered_vars(h5, f"{path}/{sub}/vars" if sub else f"{path}/vars")
    cells = stacked_cells(entry) if entry else None
    if cells:  # RNN(StackedRNNCells): ``cell/cells/<key>/vars``, keyed like a model's layers, in the cells' order
        container = f"{path}/cell/cells"
        for key in _layer_keys(h5, container, cells, sequential=False):
            arrays += _numbered_vars(h5, f"{container}/{key}/vars") if key else []
    return arrays


def _numbered_vars(h5: H5Source, vars_path: str) -> list[H5Array]:
    if vars_path not in h5.file:
        return []
    numbered = sorted(h5.file[vars_path].keys(), key=lambda k: int(k) if k.isdigit() else -1)
    return [h5.dataset(f"{vars_path}/{k}") for k in numbered]


def _count_vars(group: Any) -> int:
    """Datasets anywhere below ``group`` that sit in a ``vars`` group."""
    count = 0

    def visit(name: str, obj: Any) -> None:
        nonlocal count
        if name.rsplit("/", 2)[-2:-1] == ["vars"] and hasattr(obj, "shape"):
            count += 1

    group.visititems(visit)
    return count
