"""tf_keras calls given a tensor as a keyword argument (``mask=``, ``value=``), which TF.js layers models drop.

tf_keras saves such a tensor in the inbound node's kwargs as ``[layer, node, tensor]``. TF.js 4.22 hands a
node's kwargs to the layer as they are, never resolving them to tensors: an RNN called with ``mask=keep`` then
runs unmasked (measured: silently different numbers). Each such call is a gap for the layers path (the graph
model's lowering reads the tensor). Keras 3's keyword tensors are refused by the translation already.
"""
from __future__ import annotations

from typing import Any

from .configs import child_name, entry_name, is_model, iter_layers, top_level_layers


def tensor_kwarg_problems(model_config: dict[str, Any]) -> list[str]:
    """``"layer 'x' (Class): called with a tensor as keyword argument 'k'..."`` for every such tf_keras call."""
    problems: list[str] = []
    for layer in iter_layers(model_config):
        if not is_model(layer.entry):
            continue
        entries = top_level_layers(layer.entry)
        names = {entry_name(e) for e in entries}
        for entry in entries:
            for key in sorted({k for node in entry.get("inbound_nodes") or [] for k in _tensor_keys(node, names)}):
                problems.append(f"layer {child_name(model_config, layer, entry)!r} ({entry.get('class_name')}): "
                                f"called with a tensor as "
                                f"keyword argument {key!r}, which TF.js layers models ignore")
    return list(dict.fromkeys(problems))


def _tensor_keys(node: Any, names: set[str]) -> list[str]:
    """The kwargs of a tf_keras (list) inbound node that hold a reference to a layer's output."""
    if not isinstance(node, list):
        return []
    keys = []
    for item in node:
        kwargs = item[3] if isinstance(item, list) and len(item) > 3 and isinstance(item[3], dict) else {}
        keys += [key for key, value in kwargs.items() if _holds_ref(value, names)]
    return keys


def _holds_ref(value: Any, names: set[str]) -> bool:
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and value[0] in names and \
            all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:]):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_ref(v, names) for v in value)
    if isinstance(value, dict):
        return any(_holds_ref(v, names) for v in value.values())
    return False
