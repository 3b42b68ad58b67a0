"""Walking Keras model configs: every layer entry, however deeply nested, with the path that leads to it.

Keras nests layers in three ways: models list them under ``config.layers``, wrappers
(Bidirectional, TimeDistributed) hold one under ``layer`` / ``forward_layer`` / ``backward_layer``,
and RNN layers hold their cell(s) under ``cell`` / ``cells``. Checks and translations all need the
same walk, so it lives here once.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})
#: Config keys under which a layer holds other layers (not as part of a model's layer list).
NESTED_LAYER_KEYS = ("layer", "forward_layer", "backward_layer", "cell", "cells")


@dataclass(frozen=True)
class LayerEntry:
    """One layer config found in a model config; ``path`` names it for error messages (``model/lstm/cell``)."""

    entry: dict[str, Any]
    path: str

    @property
    def class_name(self) -> str:
        return str(self.entry.get("class_name", ""))

    @property
    def config(self) -> dict[str, Any]:
        config = self.entry.get("config")
        return config if isinstance(config, dict) else {}

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.entry.get("name") or self.class_name)


def is_layer_entry(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and "config" in value


def iter_layers(model_config: dict[str, Any], path: str = "") -> Iterator[LayerEntry]:
    """Every layer entry in ``model_config`` (itself included), parents before children."""
    entry = LayerEntry(model_config, path)
    yield entry
    here = f"{path}/{entry.name}" if path else entry.name
    config = entry.config
    if entry.class_name in MODEL_CLASSES or isinstance(config.get("layers"), list):
        for child in config.get("layers") or []:
            if is_layer_entry(child):
                yield from iter_layers(child, here)
    for key in NESTED_LAYER_KEYS:
        value = config.get(key)
        children = value if isinstance(value, list) else [value]
        for child in children:
            if is_layer_entry(child):
                yield from iter_layers(child, here)


def top_level_layers(model_config: dict[str, Any]) -> list[dict[str, Any]]:
    """The layer entries a model lists directly (empty for a plain layer)."""
    layers = (model_config.get("config") or {}).get("layers")
    return [entry for entry in layers or [] if is_layer_entry(entry)]


def keras_major(version: str | None) -> int:
    """The major version of a ``keras_version`` string (2 when missing or unreadable)."""
    try:
        return int(str(version).split(".")[0])
    except (TypeError, ValueError):
        return 2
