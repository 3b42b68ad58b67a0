"""Weights of a whole-model ``.h5`` file (``model.save("m.h5")``), one lazy group per layer.

The layout is the same for Keras 2 and Keras 3: ``model_weights`` lists ``layer_names``, and each
layer group lists ``weight_names`` (datasets under that group, in Keras's order). Keras 2 names
are TF variable names, which TF.js expects minus the ``:0`` suffix (``dense/kernel:0`` ->
``dense/kernel``; ``lstm/lstm_cell/kernel`` is fine, TF.js drops the cell name itself). Keras 3
names are variable paths (``sequential/dense/kernel``, ``depthwise_conv2d/kernel``) that TF.js
cannot match, so those are rebuilt as ``<layer>/<TF.js weight name>``: the owning layer is the
path component naming one of the group's (possibly nested) layers, and each layer's weights are
checked against the names TF.js expects for its class.
"""
from __future__ import annotations

import re
from typing import Any

from tfjsconv.errors import InputError

from .configs import entry_name, leaf_layers, top_level_layers
from .h5source import H5Array, H5Source, attr_list
from .tfjs_support import GRAPH_MODEL_HINT
from .tfjs_layers import layer_weight_groups
from .weight_names import (holds_stacked_cells, innermost_class, keras3_basename, layer_weight_names,
                           rename_stacked_cells)

WeightGroup = list[tuple[str, H5Array]]
_TF_SUFFIX = re.compile(r":\d+$")


def h5_weight_groups(h5: H5Source, model_config: dict[str, Any], *, keras3: bool) -> list[WeightGroup]:
    """Groups of ``(TF.js name, lazy array)``: one per layer with weights, in ``layer_names`` order."""
    root = h5.file
    if "model_weights" not in root:
        raise InputError(f"{h5.display} has a model config but no model_weights group",
                         hint="save the model again with model.save('model.h5')")
    weights = root["model_weights"]
    layer_names = attr_list(weights, "layer_names")
    if layer_names is None:
        raise InputError(f"{h5.display}: model_weights has no layer_names attribute; the file is not a Keras model")
    layers = {entry_name(entry): entry for entry in top_level_layers(model_config)}
    groups: list[WeightGroup] = []
    for layer in layer_names:
        try:
            group = weights[layer]
        except KeyError:
            raise InputError(f"{h5.display}: model_weights lists layer {layer!r} but has no group for it") from None
        names = attr_list(group, "weight_names") or []
        if not names:
            continue
        arrays = [h5.dataset(f"model_weights/{layer}/{name}") for name in names]
        if keras3:
            tfjs_names = _keras3_names(h5, layer, layers.get(layer), names)
        else:
            tfjs_names = _tf_keras_names(h5, layers.get(layer), [_TF_SUFFIX.sub("", name) for name in names])
        groups += layer_weight_groups(list(zip(tfjs_names, arrays, strict=True)))  # nested models: per inner layer
    extra = "top_level_model_weights"
    if extra in weights and attr_list(weights[extra], "weight_names"):
        raise InputError(f"{h5.display}: the model holds weights outside its layers ({extra}), "
                         "which TF.js layers models cannot represent")
    return groups


def _tf_keras_names(h5: H5Source, entry: dict[str, Any] | None, names: list[str]) -> list[str]:
    """Keras 2 variable names as TF.js matches them: stacked RNN cells renamed ``<rnn>/RNNCell_<i>/<weight>``."""
    stacked = [leaf for leaf in leaf_layers(entry) if holds_stacked_cells(leaf)] if entry else []
    names = list(names)
    for leaf in stacked:
        owner = entry_name(leaf)
        mine = [i for i, name in enumerate(names) if name.split("/", 1)[0] == owner]
        renamed = rename_stacked_cells([names[i] for i in mine])
        _check_stacked(h5, leaf, [name.split("/", 1)[-1] for name in renamed])
        for i, name in zip(mine, renamed, strict=True):
            names[i] = name
    return names


def _check_stacked(h5: H5Source, leaf: dict[str, Any], found: list[str]) -> None:
    """The renamed stacked cells' weights are the ones TF.js builds (else the file and config disagree)."""
    expected = layer_weight_names(leaf)
    if expected is None:
        raise InputError(f"{h5.display}: layer {entry_name(leaf)!r} stacks RNN cells whose weights tfjsconv cannot "
                         "name as TF.js does", hint=GRAPH_MODEL_HINT)
    if sorted(found) != sorted(expected):
        raise InputError(f"{h5.display}: layer {entry_name(leaf)!r} ({leaf['class_name']}) has stacked cell weights "
                         f"{found}, but TF.js expects {expected}", hint=GRAPH_MODEL_HINT)


def _keras3_names(h5: H5Source, layer: str, entry: dict[str, Any] | None, names: list[str]) -> list[str]:
    if entry is None:
        raise InputError(f"{h5.display}: weights for layer {layer!r}, which the model config does not list")
    leaves = {entry_name(leaf): leaf for leaf in leaf_layers(entry)}
    owners = []
    for name in names:
        parts = name.split("/")
        owner = next((p for p in reversed(parts[:-1]) if p in leaves), None)
        if owner is None and len(leaves) == 1:
            owner = next(iter(leaves))
        if owner is None:
            raise InputError(f"{h5.display}: cannot tell which layer of {layer!r} weight {name!r} belongs to")
        leaf = leaves[owner]
        base = keras3_basename(innermost_class(leaf), parts[-1])
        if holds_stacked_cells(leaf) and owner in parts[:-1]:  # .../rnn/stacked_rnn_cells/lstm_cell_1/kernel
            base = "/".join(parts[parts.index(owner) + 1:])  # renamed below, once the owner's cells are all seen
        elif leaf["class_name"] == "Bidirectional":  # .../bidi/forward_lstm/lstm_cell/kernel
            below = parts[parts.index(owner) + 1:-1] if owner in parts[:-1] else []
            base = f"{below[0]}/{base}" if below else base
        owners.append((owner, base))
    owners = _renamed_stacked_cells(owners, leaves)
    for owner in dict.fromkeys(o for o, _ in owners):
        cls = leaves[owner]["class_name"]
        found = [base for o, base in owners if o == owner]
        expected = layer_weight_names(leaves[owner])
        if expected is None:
            raise InputError(f"{h5.display}: layer {owner!r} ({cls}) has weights {found}; tfjsconv does not know "
                             f"how TF.js names the weights of {cls} layers from Keras 3 files yet",
                             hint=GRAPH_MODEL_HINT)
        if sorted(found) != sorted(expected):
            raise InputError(f"{h5.display}: layer {owner!r} ({cls}) has weights {found}, but TF.js expects {expected}")
    return [f"{owner}/{base}" for owner, base in owners]


def _renamed_stacked_cells(owners: list[tuple[str, str]], leaves: dict[str, Any]) -> list[tuple[str, str]]:
    """Each stacked-cells RNN's ``(owner, <stacked>/<cell>/<weight>)`` as ``(owner, RNNCell_<i>/<weight>)``."""
    renamed = list(owners)
    for owner in dict.fromkeys(o for o, _ in owners):
        if not holds_stacked_cells(leaves[owner]):
            continue
        mine = [i for i, (o, _) in enumerate(owners) if o == owner]
        wrapped = leaves[owner]["class_name"] == "TimeDistributed"  # TF.js adds no level for it: drop the inner name
        for i, base in zip(mine, rename_stacked_cells([owners[i][1] for i in mine]), strict=True):
            renamed[i] = (owner, "/".join(base.split("/")[-2:]) if wrapped else base)
    return renamed
