"""Adapted vocabularies of a ``.keras`` archive, put back into the lookup layers' configs.

An adapted StringLookup / IntegerLookup / TextVectorization saves ``vocabulary: null`` in its config and its vocabulary as
``assets/<layer path>/vocabulary.txt`` (one token per line, special tokens first), where the layer path
is the one its weights have in ``model.weights.h5`` (``layers/string_lookup``, nested models'
``layers/<model key>/layers/<key>``; keys by Keras's class counter). Keras's ``load_assets`` reads the
lines into ``set_vocabulary``; the lookup lowerings read the same list from the config, so these configs
need nothing else. The two Kerases split the lines differently: Keras 3 with ``str.splitlines`` (also at
``\x0c``, ``\x85``, ``\u2028``, ...) and drops trailing empty lines; tf_keras (``.keras`` files it wrote)
splits the newline-translated text at ``\n`` only and keeps them.
"""
from __future__ import annotations

import copy
from typing import Any

from ..configs import is_model, top_level_layers
from ..v3_weights import to_snake_case

LOOKUP_CLASSES = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})
STRING_CLASSES = frozenset({"StringLookup", "TextVectorization"})
VOCABULARY_FILE = "vocabulary.txt"
#: Where a TextVectorization's inner StringLookup saves its own copy of the asset.
LOOKUP_CHILD = "_lookup_layer"


def with_asset_vocabularies(model_config: dict[str, Any], assets: dict[str, bytes], *,
                            keras3: bool = True) -> dict[str, Any]:
    """A copy of ``model_config`` in which each lookup layer without a vocabulary gets its asset's, if any,
    split into lines as the Keras that loads the archive (``keras3``, else tf_keras) splits them."""
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
            if cls not in LOOKUP_CLASSES or not isinstance(layer, dict) or text is None:
                continue
            # a TextVectorization's StringLookup saves the asset again, and Keras loads that copy last
            text = assets.get(f"{key}/{LOOKUP_CHILD}/{VOCABULARY_FILE}", text) if cls == "TextVectorization" else text
            # Keras 3 reloads the asset over a path too (it keeps neither as ``input_vocabulary``)
            if layer.get("vocabulary") is None or keras3 and isinstance(layer.get("vocabulary"), str):
                layer["vocabulary"] = _tokens(text, strings=cls in STRING_CLASSES, keras3=keras3)
    return config


def _tokens(text: bytes, *, strings: bool, keras3: bool) -> list[Any] | None:
    """The file's lines as Keras's ``load_assets`` reads them; None (left to TensorFlow) if unreadable."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if keras3:  # open(..., "r").read().splitlines(), trailing empty lines dropped
        lines = decoded.splitlines()
        while lines and lines[-1] == "":
            lines.pop()
    else:  # tf_keras: open(..., "r").read().split("\n"), universal newlines
        lines = decoded.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if strings:
        return lines
    try:
        return [int(line) for line in lines]
    except ValueError:
        return None
