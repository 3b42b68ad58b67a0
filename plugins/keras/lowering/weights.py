"""Each top-level layer's weights in Keras's order (trainable, then non-trainable), as lazy HDF5 arrays.

Whole-model ``.h5`` files (tf_keras and Keras 3) list them in ``model_weights/<layer>/weight_names``;
``.keras`` archives number them under the layer's group (found as :mod:`..v3_weights` finds it).
The lowerings check counts and shapes against the layer's config, so a file whose weights do not fit
its config is refused with the layer's name. A layer that chains layers (Keras 3's ``Pipeline``,
``configs.LAYER_LISTS``) gets one list per inner layer, in its config's order.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from tfjsconv.errors import InputError

from ..configs import LAYER_LISTS, entry_name, is_model, plain, top_level_layers
from ..h5source import H5Array, H5Source, attr_list, attr_text
from .lora import merged_lora_weights
from .registry import Unsupported
from ..v3_weights import _CONTAINERS, _WRAPPER_SUBGROUPS, _count_vars, _layer_keys, _owned_vars, to_snake_case

#: Sub-layers whose variables repeat the layer's own, counted but not read (Keras 3's TextVectorization saves its
#: idf weights in its ``vars`` and again in its StringLookup's).
_REPEATED_SUBGROUPS = {"TextVectorization": ("_lookup_layer",)}
#: A layer's arrays by its path: ``("dense",)``, or ``("inner_model", "dense")`` for a nested model's layer.
LayerWeights = Callable[[tuple[str, ...]], list[H5Array]]


def h5_layer_weights(h5: H5Source) -> LayerWeights:
    """Weights of a layer of a whole-model ``.h5`` file, by layer path.

    A nested model's group lists the weights of all its layers (tf_keras: ``dense/kernel:0``; Keras 3:
    ``inner/dense/kernel``): a weight belongs to the innermost path component that names one of the
    nested model's layers.
    """
    root = h5.file
    if "model_weights" not in root:
        raise InputError(f"{h5.display} has a model config but no model_weights group",
                         hint="save the model again with model.save('model.h5')")
    weights = root["model_weights"]
    nested: dict[str, dict[str, list[str]]] = {}

    def names_of(top: str) -> list[str]:
        return list(attr_list(weights[top], "weight_names") or []) if top in weights else []

    lists: list[dict[str, Any] | None] = []  # the model config, parsed only when it has a layer list or LoRA

    def of(path: str | tuple[str, ...]) -> list[H5Array]:
        path = (path,) if isinstance(path, str) else tuple(path)
        names = names_of(path[0])
        if len(path) > 1:
            if path[0] not in nested:
                nested[path[0]] = _by_owner(h5, path[0], names)
            names = nested[path[0]].get(path[-1], [])
        if not lists:
            text = attr_text(h5.file, "model_config") or "{}"
            lists.append(plain(json.loads(text)) if any(f'"{c}"' in text for c in (*LAYER_LISTS, "lora_rank")) else
                         None)
        entry = entry_at(lists[0], path) if lists[0] is not None else None
        if entry is not None and entry.get("class_name") in LAYER_LISTS:  # names like ``pipe/inner_dense/kernel``
            return _per_inner_layer(entry, path, of)
        arrays = [h5.dataset(f"model_weights/{path[0]}/{name}") for name in names]
        # a Keras 3 LoRA layer's kernel and factors, merged (lora.py)
        return merged_lora_weights(lists[0], path, arrays, h5.display) if lists[0] is not None else arrays

    # every top-level group keeps a copy of the weights of the layers under it, shared ones too: each listing of a
    # shared layer reads its own (``model_plan.shared_paths`` needs no guess by name)
    of.holds = lambda path: True  # type: ignore[attr-defined]
    return of


def _per_inner_layer(entry: dict[str, Any], path: tuple[str, ...], of: LayerWeights) -> list[Any]:
    """A Pipeline's weights: one list per inner layer (nested lists for a Pipeline inside it; none for a model
    inside it, whose layers the walk reads by their own paths)."""
    return [[] if is_model(e) else of((*path, entry_name(e))) for e in top_level_layers(entry)]


def _weight_owners(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The layers that own weights in a (possibly nested) model or Pipeline, or a model a TimeDistributed wraps,
    in order (nesting is bounded by ``layer_gaps.check_nesting``)."""
    entry = wrapped_model(entry) or entry
    if not is_model(entry) and entry.get("class_name") not in LAYER_LISTS:
        return [entry]
    return [leaf for child in top_level_layers(entry) for leaf in _weight_owners(child)]


def wrapped_model(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The Sequential or Functional model a TimeDistributed wraps, directly or through TimeDistributed wrappers
    (:func:`wrapper_depth`; its layers are walked as a nested model's, their weights found by layer path through
    the wrappers), else None."""
    return wrapper_depth(entry)[1]


def wrapper_depth(entry: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """How many TimeDistributed wrappers lead from ``entry`` to the model they wrap (``TimeDistributed(
    TimeDistributed(model))``: 2, session 26), and that model; ``(0, None)`` for anything else. Iterative and
    bounded: the nesting is untrusted."""
    depth = 0
    while depth < 32 and isinstance(entry, dict) and entry.get("class_name") == "TimeDistributed":
        entry, depth = (entry.get("config") or {}).get("layer"), depth + 1
        if isinstance(entry, dict) and is_model(entry):
            return depth, entry
    return 0, None


def entry_at(model_config: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The layer entry at ``path`` (layer names, through nested models and layer lists), or None."""
    entry, model = None, model_config
    for name in path:
        if entry is not None:
            model = wrapped_model(entry) or entry
        entry = next((e for e in top_level_layers(model) if entry_name(e) == name), None)
        if entry is None:
            return None
    return entry


def _by_owner(h5: H5Source, top: str, names: list[str]) -> dict[str, list[str]]:
    """The weight names of nested model ``top``, by the layer that owns each (in the file's order)."""
    return names_by_owner(names, _nested_leaf_names(h5, top), f"{h5.display}: nested model {top!r}")


def names_by_owner(names: list[str], leaves: list[str], where: str) -> dict[str, list[str]]:
    """Weight names (``inner_dense/kernel``, ``m/bidi/forward_lstm/lstm_cell/kernel``) by owning layer: the
    innermost path component that names one of ``leaves``."""
    if len(set(leaves)) != len(leaves):
        raise Unsupported(f"{where} has several layers of one name")
    owned: dict[str, list[str]] = {}
    for name in names:
        owner = next((p for p in reversed(name.split("/")[:-1]) if p in leaves), None)
        if owner is None:
            raise InputError(f"{where}: cannot tell which layer weight {name!r} belongs to")
        owned.setdefault(owner, []).append(name)
    return owned


def _nested_leaf_names(h5: H5Source, top: str) -> list[str]:
    import json

    config = plain(json.loads(attr_text(h5.file, "model_config") or "{}"))
    entry = next((e for e in top_level_layers(config) if entry_name(e) == top), None)
    return [entry_name(leaf) for leaf in _weight_owners(entry)] if entry is not None else []


def v3_layer_weights(h5: H5Source | None, model_config: dict[str, Any]) -> LayerWeights:
    """Weights of a layer of a ``.keras`` archive's ``model.weights.h5``, by layer path.

    Nested models keep their layers' groups under ``<model key>/layers``, keyed as at the top level.
    """
    if h5 is None:
        return lambda path: []
    container = next((c for c in _CONTAINERS if c in h5.file), None)
    if container is None:
        return lambda path: []
    config = plain(model_config)
    # each layer asks; scanning a container's groups once per model keeps that linear in the layers
    keys_in: dict[tuple[str, int], list[str | None]] = {}

    def layer_keys(where: str, model: dict[str, Any], layers: list[dict[str, Any]]) -> list[str | None]:
        if (where, id(model)) not in keys_in:
            keys_in[where, id(model)] = _layer_keys(h5, where, layers,
                                                    sequential=model.get("class_name") == "Sequential")
        return keys_in[where, id(model)]

    def group_of(path: tuple[str, ...]) -> tuple[str | None, dict[str, Any] | None]:
        model, where, entry = config, container, None
        for depth, name in enumerate(path):
            if entry is not None:  # Keras 3 keeps a wrapped model's layers under ``<wrapper>/layer/layers``
                depth, inner = wrapper_depth(entry)  # (``/layer`` per wrapper)
                model, where = (inner, f"{where}{'/layer' * depth}/layers") if inner is not None else \
                    (entry, f"{where}/layers")
            layers = top_level_layers(model)
            if where not in h5.file:
                return None, None
            keys = layer_keys(where, model, layers)
            found = [(e, k) for e, k in zip(layers, keys, strict=True) if entry_name(e) == name]
            if not found or not found[0][1]:
                return None, found[0][0] if found else None
            entry, key = found[0]
            where = f"{where}/{key}"
        return where, entry

    def of(path: str | tuple[str, ...]) -> list[H5Array]:
        path = (path,) if isinstance(path, str) else tuple(path)
        where, entry = group_of(path)
        if entry is not None and entry.get("class_name") in LAYER_LISTS:  # ``<pipeline>/layers/<key>`` each
            return _per_inner_layer(entry, path, of)
        if where is None:
            return []
        arrays = _owned_vars(h5, where) + _wrapped_vars(h5, where, entry or {})
        arrays += _stacked_cell_vars(h5, where, entry or {})
        repeated = [f"{where}/{sub}" for sub in _REPEATED_SUBGROUPS.get((entry or {}).get("class_name"), ())]
        if _count_vars(h5.file[where]) != len(arrays) + sum(_count_vars(h5.file[g]) for g in repeated if g in h5.file):
            raise InputError(f"{h5.display}: layer {'/'.join(path)!r} keeps weights in places the lowering does "
                             "not read")
        for group in repeated:  # Keras loads the sub-layer's copy last: the lowering reads the layer's, the same
            if group in h5.file and not _same_arrays(_owned_vars(h5, where), _owned_vars(h5, group)):
                raise InputError(f"{h5.display}: layer {'/'.join(path)!r} keeps two different copies of its "
                                 f"weights (Keras loads the one under {group.rsplit('/', 1)[-1]})")
        return arrays

    def holds(path: tuple[str, ...]) -> bool:
        """Whether weights are saved under ``path``: Keras saves a layer listed twice once, under its first
        listing (``model_plan.shared_paths`` reads this where the config does not say which listing that is)."""
        where, _ = group_of(tuple(path))
        return where is not None and where in h5.file and _count_vars(h5.file[where]) > 0

    of.holds = holds  # type: ignore[attr-defined]
    return of


def _same_arrays(first: list[H5Array], second: list[H5Array]) -> bool:
    """Byte for byte (a NaN equals its copy)."""
    return len(first) == len(second) and all(
        a.shape == b.shape and np.asarray(a.load()).astype(a.dtype).tobytes() == np.asarray(b.load()).astype(a.dtype)
        .tobytes() for a, b in zip(first, second, strict=True))


def _wrapped_vars(h5: H5Source, where: str, entry: dict[str, Any]) -> list[H5Array]:
    """A wrapper's wrapped layers' own variables (Bidirectional: forward, backward), through nested wrappers
    (TimeDistributed(Bidirectional) keeps them under ``layer/forward_layer``, ``layer/backward_layer``)."""
    arrays = []
    for sub in _WRAPPER_SUBGROUPS.get(entry.get("class_name"), ()):
        if f"{where}/{sub}" in h5.file:
            arrays += _owned_vars(h5, f"{where}/{sub}")
            if sub == "layer":
                arrays += _wrapped_vars(h5, f"{where}/{sub}", (entry.get("config") or {}).get("layer") or {})
    return arrays


def _stacked_cell_vars(h5: H5Source, where: str, entry: dict[str, Any]) -> list[H5Array]:
    """An ``RNN(StackedRNNCells)``'s cell weights, cell by cell in the config's order.

    Keras 3 keeps them under ``cell/cells/<key>``, keyed like layers (by the class counter, ``gru_cell_1``, or
    by the ``name`` recorded on the ``vars`` group), so the group order (alphabetical) is not the cells' order.
    """
    if entry.get("class_name") == "TimeDistributed":  # Keras 3 keeps the wrapped RNN under ``layer``
        entry, where = (entry.get("config") or {}).get("layer") or {}, f"{where}/layer"
    if entry.get("class_name") == "Bidirectional":  # each direction's RNN under ``forward_layer``/``backward_layer``
        config = entry.get("config") or {}
        return [*_stacked_cell_vars(h5, f"{where}/forward_layer", config.get("layer") or {}),
                *_stacked_cell_vars(h5, f"{where}/backward_layer", config.get("backward_layer") or
                                    config.get("layer") or {})]
    cell = (entry.get("config") or {}).get("cell") if entry.get("class_name") == "RNN" else None
    if not isinstance(cell, dict) or cell.get("class_name") != "StackedRNNCells" or f"{where}/cell/cells" not in h5.file:
        return []
    cells = [c for c in (cell.get("config") or {}).get("cells") or [] if isinstance(c, dict)]
    keys = _layer_keys(h5, f"{where}/cell/cells", cells, sequential=False)
    if len(set(keys)) < len(keys) and len(h5.file[f"{where}/cell/cells"]) == len(cells):
        # cells of one recorded name saved each (Bidirectional's copies of RNN([cell, cell])): by class counter
        counters: dict[str, int] = {}
        counted = []
        for c in cells:
            base = to_snake_case(c["class_name"])
            counters[base] = counters.get(base, -1) + 1
            counted.append(base if counters[base] == 0 else f"{base}_{counters[base]}")
        if all(key in h5.file[f"{where}/cell/cells"] for key in counted):
            keys = counted
    arrays, seen = [], set()
    for key in keys:
        if key is not None and key not in seen:  # one cell object listed twice is saved once
            seen.add(key)
            arrays += _owned_vars(h5, f"{where}/cell/cells/{key}")
    return arrays


class _BundleArray:
    """One checkpoint variable, read (and CRC-checked) by the bundle reader when written."""

    def __init__(self, reader: Any, key: str) -> None:
        self.reader, self.key = reader, key
        self.shape = tuple(int(d) for d in reader.shape(key))
        self.dtype = np.dtype(reader.dtype(key) or "float32")

    def load(self) -> np.ndarray:
        return self.reader.get_tensor(self.key)


def bundle_layer_weights(reader: Any, owned: dict[str, list[tuple[str, str]]], model_config: dict[str, Any],
                         source: str) -> LayerWeights:
    """Weights of a layer of a tf_keras SavedModel, by layer path, from its checkpoint.

    ``owned``: each top-level layer's variables ``(full name, checkpoint key)`` in its own order, as the checkpoint's
    object graph lists them under that layer (the name alone cannot tell: two nested models' inner layers both hold
    ``dense/kernel``). Inside a nested model a weight belongs to the innermost path component naming one of its
    layers (full names as a tf_keras ``.h5`` file's ``weight_names``)."""
    config = plain(model_config)
    tops = {entry_name(e): e for e in top_level_layers(config)}
    stray = next((name for name, pairs in owned.items() if pairs and name not in tops), None)
    if stray is not None:
        raise InputError(f"{source}: the checkpoint holds variables of layer {stray!r}, which the model config "
                         "does not name", hint="the file is corrupt or was edited")
    nested: dict[str, dict[str, list[str]]] = {}

    def keys_by_owner(top: str) -> dict[str, list[str]]:
        pairs = owned.get(top, [])
        leaves = [entry_name(leaf) for leaf in _weight_owners(tops[top])]
        by_name = names_by_owner([name for name, _ in pairs], leaves, f"{source}: nested model {top!r}")
        owner_of = {name: owner for owner, names in by_name.items() for name in names}
        keys: dict[str, list[str]] = {}
        for name, key in pairs:  # a full name repeated inside one top goes to its one owner (the count check sees it)
            keys.setdefault(owner_of[name], []).append(key)
        return keys

    def of(path: str | tuple[str, ...]) -> list[Any]:
        path = (path,) if isinstance(path, str) else tuple(path)
        keys = [key for _, key in owned.get(path[0], [])]
        if len(path) > 1:
            if path[0] not in nested:
                nested[path[0]] = keys_by_owner(path[0])
            keys = nested[path[0]].get(path[-1], [])
        return [_BundleArray(reader, key) for key in keys]
    return of
