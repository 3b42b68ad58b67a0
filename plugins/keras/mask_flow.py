"""Find Keras masks that reach a layer whose TF.js version ignores them (a silently wrong layers model).

Keras carries a mask from ``Masking`` / ``Embedding(mask_zero=True)`` along the layers that follow, and
some layers use it (``GlobalAveragePooling1D`` averages over the unmasked steps only). TF.js 4.22 passes
masks to its RNN layers, but its ``GlobalAveragePooling1D`` ignores them. The walk is conservative: a mask
goes on through every layer except those known to drop it, so an unknown layer never hides a problem.
"""
from __future__ import annotations

from typing import Any

from .configs import entry_name, is_model, iter_layers, top_level_layers
from .model_graph import _node_refs

#: Layers that use the mask in Keras but whose TF.js 4.22 implementation ignores it.
TFJS_IGNORES_MASK = {
    "GlobalAveragePooling1D": "TF.js averages over every time step, Keras over the unmasked ones only",
}
#: Layers after which Keras carries no mask (a sequence reduced to one step, or flattened).
_RECURRENT = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "ConvLSTM2D"})
_DROPS_MASK = frozenset({"GlobalMaxPooling1D", "GlobalAveragePooling1D", "Flatten", *TFJS_IGNORES_MASK})


def _makes_mask(entry: dict[str, Any]) -> bool:
    cls, config = entry.get("class_name"), entry.get("config") or {}
    if cls == "Masking" or (cls == "Embedding" and config.get("mask_zero")):
        return True
    return is_model(entry) and any(_makes_mask(child) for child in top_level_layers(entry))


def _passes_mask(entry: dict[str, Any]) -> bool:
    cls, config = entry.get("class_name"), entry.get("config") or {}
    if cls in _DROPS_MASK:
        return False
    if cls in _RECURRENT:
        inner = config.get("layer") if cls == "Bidirectional" else None
        inner_config = (inner or {}).get("config") or {} if isinstance(inner, dict) else config
        return bool(inner_config.get("return_sequences"))
    return True


def _consumers(model: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Layer name -> the layers of ``model`` called on its outputs (Sequential: the next layer)."""
    layers = top_level_layers(model)
    consumers: dict[str, list[dict[str, Any]]] = {}
    if not any("inbound_nodes" in entry for entry in layers):
        for before, after in zip(layers, layers[1:]):
            consumers.setdefault(entry_name(before), []).append(after)
        return consumers
    for entry in layers:
        for node in entry.get("inbound_nodes") or []:
            for ref in _node_refs(node) or []:
                consumers.setdefault(ref[0], []).append(entry)
    return consumers


def ignored_masks(model_config: dict[str, Any]) -> list[str]:
    """``"layer 'x' (Class): why"`` for every layer that a Keras mask reaches but TF.js ignores it in."""
    problems: list[str] = []
    for layer in iter_layers(model_config):
        if not is_model(layer.entry):
            continue
        for after in _reached(layer.entry):
            cls = after.get("class_name")
            if cls in TFJS_IGNORES_MASK:
                problems.append(f"layer {entry_name(after)!r} ({cls}): receives the mask of a Masking/Embedding "
                                f"layer, which TF.js ignores ({TFJS_IGNORES_MASK[cls]})")
    return list(dict.fromkeys(problems))


def masked_layers(model: dict[str, Any]) -> set[str]:
    """Names of the layers of ``model`` (one level) whose outputs may carry a Keras mask (conservative)."""
    return {entry_name(e) for e in top_level_layers(model) if _makes_mask(e)} | \
        {entry_name(e) for e in _reached(model) if _passes_mask(e)}


def _reached(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The layers of ``model`` that a mask made in it reaches, in the order the walk meets them."""
    consumers = _consumers(model)
    masked = [e for e in top_level_layers(model) if _makes_mask(e)]
    seen: set[int] = set()
    reached: list[dict[str, Any]] = []
    while masked:
        entry = masked.pop()
        for after in consumers.get(entry_name(entry), []):
            if id(after) in seen:
                continue
            seen.add(id(after))
            reached.append(after)
            if _passes_mask(after):
                masked.append(after)
    return reached
