"""Lookup layers whose ``vocabulary`` names a file on the machine rather than holding the tokens.

tf_keras (and Keras 3) read such a path while *building* the layer from its config, before any asset in the
file is consulted; a hostile model could name ``/etc/passwd`` or a private key and the converted model would
carry its lines. So these paths are never opened unless the user vouches for the file with
``--allow_unsafe_deserialization``, on every path (the h5py lowering and Keras + TensorFlow alike).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .configs import iter_layers

#: Layers whose ``vocabulary`` (or ``idf_weights``) may be a path Keras opens at construction.
VOCABULARY_LAYERS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})
_PATH_KEYS = ("vocabulary", "idf_weights")
#: A vocabulary file larger than this is left to TensorFlow (and never read whole into memory here).
MAX_VOCABULARY_BYTES = 64 << 20


def vocabulary_files(model_config: dict[str, Any]) -> list[str]:
    """``layer 'name' (Class): reads the file '<path>' (vocabulary)`` for each path a lookup layer names."""
    found = []
    for layer in iter_layers(model_config):
        if layer.class_name not in VOCABULARY_LAYERS or not isinstance(layer.config, dict):
            continue
        for key in _PATH_KEYS:
            path = layer.config.get(key)
            if isinstance(path, str) and path:
                found.append(f"layer {layer.qualified_name!r} ({layer.class_name}): reads the file {path!r} "
                             f"({key})")
    return found


def with_file_vocabularies(model_config: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``model_config`` in which each StringLookup whose vocabulary names a file holds its tokens.

    Only with ``--allow_unsafe_deserialization``. tf_keras builds the table with TensorFlow's
    ``TextFileInitializer``: every line, without its ``\\n``, is a token, numbered after the special tokens
    (none stripped). A file whose lines this could read otherwise (not UTF-8, a ``\\r``, an empty or repeated
    line, a leading mask or OOV token, which the inline path would strip) keeps its path: a gap.
    """
    config = copy.deepcopy(model_config)
    for layer in iter_layers(config):
        options = layer.config
        if layer.class_name == "StringLookup" and isinstance(options.get("vocabulary"), str) \
                and options.get("encoding", "utf-8") in ("utf-8", "UTF-8"):
            tokens = _file_tokens(options["vocabulary"])
            special = {options.get("mask_token"), options.get("oov_token")} - {None}
            if tokens and tokens[0] not in special:
                options["vocabulary"] = tokens
    return config


def _file_tokens(path: str) -> list[str] | None:
    """The file's lines as TensorFlow's text-file table reads them, or None when this cannot be sure."""
    file = Path(path)  # as TensorFlow opens it: no ~ expansion
    try:
        if not file.is_file() or file.stat().st_size > MAX_VOCABULARY_BYTES:
            return None
        text = file.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line
    if "\r" in text or any(line == "" for line in lines) or len(set(lines)) != len(lines):
        return None
    return lines
