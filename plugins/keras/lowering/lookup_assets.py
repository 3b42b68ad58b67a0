"""Adapted vocabularies of a ``.keras`` archive, put back into the lookup layers' configs.

An adapted StringLookup / IntegerLookup saves ``vocabulary: null`` in its config and its vocabulary as
``assets/<layer path>/vocabulary.txt`` (one token per line, special tokens first), where the layer path
is the one its weights have in ``model.weights.h5`` (``layers/string_lookup``, nested models'
``layers/<model key>/layers/<key>``; keys by Keras's class counter). Keras's ``load_assets`` reads the
lines (dropping trailing empty ones) into ``set_vocabulary``; the lookup lowerings read the same list
from the config, so these configs need nothing else.
"""
from __future__ import annotations

import copy
from typing import Any

from ..configs import is_model, top_level_layers
from ..v3_weights import to_snake_case

LOOKUP_CLASSES = frozenset({"StringLookup", "IntegerLookup"})
VOCABULARY_FILE = "vocabulary.txt"


def with_asset_vocabularies(model_config: dict[str, Any], assets: dict[str, bytes]) -> dict[str, Any]:
    """A copy of ``model_config`` in which each lookup layer without a vocabulary gets its asset's, if any."""
    if not assets:
        return model_config
    config = copy.deepcopy(model_config)
    stack = [(config, "assets/layers")]
    while stack:  # no recursion: nesting depth is checked elsewhere, but a deep file must not crash here
        model, where = stack.pop()
        counters: dict[str, int] = {}
        sequential = model.get("class_name") == "Sequential"
        for entry in top_level_layers(model):
            cls = entry.get("class_name")
            if sequential and cls == "InputLayer" or not isinstance(cls, str):
                continue
            base = to_snake_case(cls)
            counters[base] = counters.get(base, -1) + 1
            key = f"{where}/{base if counters[base] == 0 else f'{base}_{counters[base]}'}"
            if is_model(entry):
                stack.append((entry, f"{key}/layers"))
                continue
            layer = entry.get("config")
            text = assets.get(f"{key}/{VOCABULARY_FILE}")
            if cls in LOOKUP_CLASSES and isinstance(layer, dict) and layer.get("vocabulary") is None and text is not None:
                layer["vocabulary"] = _tokens(text, strings=cls == "StringLookup")
    return config


def _tokens(text: bytes, *, strings: bool) -> list[Any] | None:
    """The file's lines as Keras's ``load_assets`` reads them; None (left to TensorFlow) if unreadable."""
    try:
        lines = text.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None
    while lines and lines[-1] == "":
        lines.pop()
    if strings:
        return lines
    try:
        return [int(line) for line in lines]
    except ValueError:
        return None
