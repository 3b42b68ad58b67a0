"""Lookup layers whose ``vocabulary`` names a file on the machine rather than holding the tokens.

tf_keras (and Keras 3) read such a path while *building* the layer from its config, before any asset in the
file is consulted; a hostile model could name ``/etc/passwd`` or a private key and the converted model would
carry its lines. So these paths are never opened unless the user vouches for the file with
``--allow_unsafe_deserialization``, on every path (the h5py lowering and Keras + TensorFlow alike).
"""
from __future__ import annotations

import copy
import os
import stat
from collections.abc import Callable
from typing import Any

from .configs import LayerEntry, iter_layers

#: Layers whose ``vocabulary`` (or ``idf_weights``) may be a path Keras opens at construction.
VOCABULARY_LAYERS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})
#: Keys naming a file Keras or TensorFlow opens, at any depth of a layer's config: the lookups' own, and the
#: feature columns a tf_keras ``DenseFeatures`` nests (``categorical_column_with_vocabulary_file``, an
#: ``embedding_column`` initialised from a checkpoint), whose tables TensorFlow fills from the file.
_PATH_KEYS = frozenset({"vocabulary", "idf_weights", "vocabulary_file", "ckpt_to_load_from"})
#: The lookups whose vocabulary file the lowering reads.
FILE_LOOKUPS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})
#: Of those, the ones whose file holds strings (TextVectorization's StringLookup).
STRING_FILE_LOOKUPS = frozenset({"StringLookup", "TextVectorization"})
#: Set beside a ``vocabulary`` path the lowering could not read exactly: why, for the refusal.
FILE_GAP_KEY = "tfjsconv_vocabulary_file_gap"
#: Set on a config whose vocabulary list was read from a file: Keras checks a list for the mask token but not a
#: file, whose mask-token line keeps its number while ``where(x == mask_token)`` maps the token to the mask value.
FILE_READ_KEY = "tfjsconv_vocabulary_from_file"


class ReadFromFile:
    """:data:`FILE_READ_KEY`'s value: no JSON config can hold it (a file setting the key itself gains nothing), and
    deep copies keep it (a class copies as itself)."""


def vocabulary_files(model_config: dict[str, Any]) -> list[str]:
    """``layer 'name' (Class): reads the file '<path>' (vocabulary)`` for each path a layer names.

    Any class, not only :data:`VOCABULARY_LAYERS`: tf_keras builds a ``.keras`` archive's root from its
    ``module`` (``tf_keras.src.layers.preprocessing.index_lookup``, class ``IndexLookup``), and that reads
    the path too. Each path is named once, by the innermost layer holding it.
    """
    return [f"layer {layer.qualified_name!r} ({layer.class_name}): reads the file {path!r} ({key})"
            for layer, key, path in _layer_paths(model_config)]


def special_vocabulary_files(model_config: dict[str, Any]) -> list[str]:
    """The :func:`vocabulary_files` that exist but are no regular file (a FIFO, a device, a folder): even
    with ``--allow_unsafe_deserialization`` TensorFlow must not open them (a FIFO blocks, ``/dev/zero`` never
    ends). ``os.stat`` follows symlinks and never blocks."""
    found = []
    for layer, key, path in _layer_paths(model_config):
        try:
            mode = os.stat(path).st_mode
        except (OSError, ValueError):
            continue  # missing (or not a local path): Keras's own error
        if not stat.S_ISREG(mode):
            found.append(f"layer {layer.qualified_name!r} ({layer.class_name}): {path!r} ({key}) is not a "
                         "regular file")
    return found


def _layer_paths(model_config: dict[str, Any]) -> list[tuple[LayerEntry, str, str]]:
    """``(layer, key, path)`` in config order, each path named by the innermost layer holding it."""
    found = []
    seen: set[int] = set()  # the dicts whose paths are named already (by a nested layer)
    for layer in reversed(list(iter_layers(model_config))):
        found += [(layer, key, path) for key, path in reversed(_named_paths(layer.config, seen))]
    return found[::-1]


def _named_paths(config: dict[str, Any], seen: set[int]) -> list[tuple[str, str]]:
    """``(key, path)`` for each :data:`_PATH_KEYS` string anywhere in ``config`` (no recursion: depth is free)."""
    paths, stack = [], [config]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
        elif isinstance(value, dict) and id(value) not in seen:
            seen.add(id(value))
            for key, item in value.items():
                if key in _PATH_KEYS and isinstance(item, str) and item:
                    paths.append((key, item))
                elif isinstance(item, (dict, list)):
                    stack.append(item)
    return paths


def with_file_vocabularies(model_config: dict[str, Any],
                           locate: Callable[[LayerEntry, str], str] | None = None) -> dict[str, Any]:
    """A copy of ``model_config`` in which each StringLookup / IntegerLookup whose vocabulary names a file holds
    its tokens, as TensorFlow's text-file table reads them (:mod:`.text_file_vocabulary`).

    Only with ``--allow_unsafe_deserialization``. The file numbers every line after the special tokens and
    strips none, while a config list loses a leading ``[mask, OOV]`` prefix (``set_vocabulary``): a file that
    starts with that prefix gets it once more in front, so the lookups number its lines as the file does.
    A file this cannot read exactly keeps its path, and :data:`FILE_GAP_KEY` says why (the lookups' checks
    name it). ``locate(layer, path)`` names the file Keras really reads instead of the path (a tf_keras
    SavedModel's own copy, :mod:`.saved_model_vocabularies`), or raises ``VocabularyFileGap``.
    """
    from .text_file_vocabulary import VocabularyFileGap, read_vocabulary_file

    config = copy.deepcopy(model_config)
    for layer in iter_layers(config):
        options = layer.config
        path = options.get("vocabulary") if layer.class_name in FILE_LOOKUPS and isinstance(options, dict) else None
        if not isinstance(path, str) or not path:
            continue
        try:
            _check_options(options)
            file = locate(layer, path) if locate is not None else path
            tokens = read_vocabulary_file(file, strings=layer.class_name in STRING_FILE_LOOKUPS)
        except VocabularyFileGap as gap:
            options[FILE_GAP_KEY] = str(gap)
            continue
        special = _special_tokens(_as_lookup(layer.class_name, options))
        options["vocabulary"] = special + tokens if tokens[:len(special)] == special else tokens
        options[FILE_READ_KEY] = ReadFromFile
    return config


def file_vocabulary_gap(config: dict[str, Any]) -> str | None:
    """For a lookup config whose vocabulary is still a path: the refusal, naming the path and why."""
    path = config.get("vocabulary")
    if not isinstance(path, str):
        return None
    why = config.get(FILE_GAP_KEY)
    return f"the vocabulary file {path!r} " + (why if isinstance(why, str) else "(read only with "
                                                 "--allow_unsafe_deserialization)")


def _check_options(options: dict[str, Any]) -> None:
    from .text_file_vocabulary import VocabularyFileGap

    if options.get("output_mode") == "tf_idf":
        raise VocabularyFileGap("with output_mode='tf_idf' (Keras refuses a vocabulary file for it)")
    if str(options.get("encoding", "utf-8")).lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise VocabularyFileGap(f"with encoding={options.get('encoding')!r} (TF.js strings are UTF-8)")


def _as_lookup(class_name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options of the lookup holding the vocabulary: a TextVectorization's StringLookup has ``mask_token=""``."""
    if class_name != "TextVectorization":
        return options
    from .lowering.text_vectorization import lookup_config

    return lookup_config(options)


def _special_tokens(options: dict[str, Any]) -> list[Any]:
    """The prefix Keras's ``set_vocabulary`` strips from a vocabulary list (its ``_Spec`` layout)."""
    mode = options.get("output_mode", "int")
    mask = options.get("mask_token")
    oov_start = 1 if mask is not None and mode == "int" else 0
    num_oov = options.get("num_oov_indices", 1)
    return [mask] * oov_start + [options.get("oov_token", -1)] * (num_oov if isinstance(num_oov, int) else 1)
