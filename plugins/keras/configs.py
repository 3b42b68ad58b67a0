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
#: Layers that list other layers under ``layers`` without being a model (Keras 3's ``Pipeline`` chains
#: preprocessing layers): walked like nested layers, never read as a functional graph.
LAYER_LISTS = frozenset({"Pipeline"})


@dataclass(frozen=True)
class LayerEntry:
    """One layer config found in a model config; ``path`` names the layers around it (``inner/bidi``)."""

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

    @property
    def qualified_name(self) -> str:
        """The name, prefixed with the enclosing layers' for nested layers (the root model left out)."""
        return f"{self.path}/{self.name}" if self.path else self.name


def is_layer_entry(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and "config" in value


def iter_layers(model_config: dict[str, Any], path: str | None = None) -> Iterator[LayerEntry]:
    """Every layer entry in ``model_config`` (itself included), parents before children."""
    entry = LayerEntry(model_config, path or "")
    yield entry
    here = "" if path is None else entry.qualified_name
    config = entry.config
    children = list(top_level_layers(model_config)) if is_model(model_config) else []
    for key in (*NESTED_LAYER_KEYS, "layers") if model_config.get("class_name") in LAYER_LISTS else NESTED_LAYER_KEYS:
        value = config.get(key)
        children += [v for v in (value if isinstance(value, list) else [value]) if is_layer_entry(v)]
    for child in children:
        yield from iter_layers(child, here)


def top_level_layers(model_config: dict[str, Any]) -> list[dict[str, Any]]:
    """The layer entries a model lists directly (empty for a plain layer)."""
    layers = (model_config.get("config") or {}).get("layers")
    return [entry for entry in layers or [] if is_layer_entry(entry)]


def is_model(entry: dict[str, Any]) -> bool:
    if entry.get("class_name") in LAYER_LISTS:
        return False
    return entry.get("class_name") in MODEL_CLASSES or isinstance((entry.get("config") or {}).get("layers"), list)


def leaf_layers(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-model layers of a (possibly nested) model, in order; ``[entry]`` for a plain layer.

    TF.js names the weights of a nested model's layers like top-level ones (``inner_dense/kernel``).
    """
    if not is_model(entry):
        return [entry]
    return [leaf for child in top_level_layers(entry) for leaf in leaf_layers(child)]


def entry_name(entry: dict[str, Any]) -> str:
    """A layer entry's name (Functional entries repeat it outside ``config``; Sequential ones do not)."""
    return str(entry.get("name") or (entry.get("config") or {}).get("name") or "")


def child_name(model_config: dict[str, Any], parent: LayerEntry, child: dict[str, Any]) -> str:
    """``outer/inner/layer``: the name of ``child``, a layer that ``parent`` (a model from
    ``iter_layers(model_config)``) lists, qualified as :attr:`LayerEntry.qualified_name` is, so that layers of
    one name in two nested models are told apart."""
    name = entry_name(child)
    return name if parent.entry is model_config else f"{parent.qualified_name}/{name}"


#: Serialization bookkeeping Keras 3 adds to objects; meaningless to TF.js.
BOOKKEEPING_KEYS = frozenset({"module", "registered_name", "shared_object_id", "build_config", "compile_config"})


def plain(value: Any) -> Any:
    """JSON data without Keras 3's bookkeeping keys, and with ``__tuple__`` wrappers as lists."""
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__":
            return [plain(v) for v in (value.get("config") or {}).get("value") or []]
        return {k: plain(v) for k, v in value.items() if k not in BOOKKEEPING_KEYS}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def dtype_name(dtype: Any) -> str | None:
    """A layer's dtype as saved: a name, or a Keras 3 ``DTypePolicy`` dict. A quantized policy, which Keras 3.15 saves
    as ``{"mode": "int8", "source_name": "float32"}`` without a name, reads as ``int8_from_float32``: no float dtype,
    so every check that wants float32 refuses it by that name."""
    if isinstance(dtype, dict):
        config = dtype.get("config") or {}
        if config.get("mode") is not None:
            return f"{config['mode']}_from_{config.get('source_name')}"
        return dtype_name(config.get("name"))
    return dtype if isinstance(dtype, str) or dtype is None else str(dtype)


def bidirectional_base_name(config: dict[str, Any]) -> str:
    """The wrapped layer's name as TF.js wants it: TF.js prefixes ``forward_``/``backward_`` itself.

    Keras 3 saves the already-prefixed forward layer (``forward_lstm``) as ``layer``.
    """
    inner = config.get("layer") or {}
    name = str((inner.get("config") or {}).get("name") or "")
    return name[len("forward_"):] if name.startswith("forward_") and "backward_layer" in config else name


def keras_major(version: str | None) -> int:
    """The major version of a ``keras_version`` string (2 when missing or unreadable)."""
    try:
        return int(str(version).split(".")[0])
    except (TypeError, ValueError):
        return 2
