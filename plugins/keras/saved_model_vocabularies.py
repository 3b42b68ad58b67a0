"""Where a tf_keras SavedModel's file-vocabulary lookups get their tokens: the SavedModel's own copy of the file.

tf_keras copies a lookup's vocabulary file into the SavedModel (``assets/``) and, reloading it, restores the
table from that copy: the path in ``keras_metadata.pb``'s model config is never opened (the file may have
changed or be gone since). So the lowering reads the copy, found through the object graph (the layer's
``lookup_table`` -> ``_initializer`` -> ``_filename``, an asset), never the path; a layer whose copy cannot
be found for sure is a gap.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from .configs import LayerEntry
from .keras_metadata import METADATA_FILE, WireError, fields
from .text_file_vocabulary import VocabularyFileGap
from .vocabulary_files import FILE_LOOKUPS

#: The object-graph children from a tf_keras lookup layer to the asset its table is initialised from.
_TABLE_TO_ASSET = ("lookup_table", "_initializer", "_filename")
#: Layers that keep that lookup one child further down (TextVectorization's StringLookup).
_LOOKUP_CHILD = {"TextVectorization": ("_lookup_layer",)}


def asset_locator(folder: Path) -> Callable[[LayerEntry, str], str]:
    """For :func:`.vocabulary_files.with_file_vocabularies`: the SavedModel copy of a lookup's vocabulary file."""
    found: dict[tuple[str, str], set[str | None]] | None = None

    def locate(layer: LayerEntry, path: str) -> str:
        nonlocal found
        if found is None:
            found = _asset_files(folder)
        files = found.get((layer.class_name, layer.name), set())
        if len(files) != 1 or None in files:
            raise VocabularyFileGap("has no single copy in the SavedModel's assets/ (tf_keras reads the copy, "
                                    "not the path)")
        return _inside_assets(folder, next(iter(files)))

    return locate


def _asset_files(folder: Path) -> dict[tuple[str, str], set[str | None]]:
    """``(class, layer name) -> {asset file name}`` over the metadata's lookup layers (None: no asset)."""
    from tfjsconv.plugins.savedmodel.api import read_saved_model

    meta_graphs = read_saved_model(folder).proto.meta_graphs
    if len(meta_graphs) != 1:
        return {}
    meta_graph = meta_graphs[0]
    nodes, assets = meta_graph.object_graph_def.nodes, meta_graph.asset_file_def
    found: dict[tuple[str, str], set[str | None]] = {}
    for node_id, metadata in _layer_metadata(folder):
        cls, name = metadata.get("class_name"), metadata.get("name")
        if cls in FILE_LOOKUPS and isinstance(name, str):
            index = _asset_index(nodes, node_id, _LOOKUP_CHILD.get(cls, ()) + _TABLE_TO_ASSET)
            found.setdefault((cls, name), set()).add(
                assets[index].filename if index is not None and 0 <= index < len(assets) else None)
    return found


def _layer_metadata(folder: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(object-graph node id, metadata JSON)`` of each object in ``keras_metadata.pb``."""
    try:
        for number, value in fields((folder / METADATA_FILE).read_bytes()):
            if number != 1:
                continue
            node = dict(fields(value))
            metadata = json.loads(node.get(5) or b"{}")
            if isinstance(node.get(2, 0), int) and isinstance(metadata, dict):
                yield node.get(2, 0), metadata
    except (OSError, WireError, ValueError, RecursionError) as err:
        raise VocabularyFileGap(f"has no readable copy ({METADATA_FILE}: {err})") from err


def _asset_index(nodes: Any, node_id: int, children: tuple[str, ...]) -> int | None:
    for name in children:
        if not 0 <= node_id < len(nodes):
            return None
        child = next((ref.node_id for ref in nodes[node_id].children if ref.local_name == name), None)
        if child is None:
            return None
        node_id = child
    if not 0 <= node_id < len(nodes) or nodes[node_id].WhichOneof("kind") != "asset":
        return None
    return nodes[node_id].asset.asset_file_def_index


def _inside_assets(folder: Path, filename: str) -> str:
    """``assets/<filename>``, which must stay inside the SavedModel's ``assets/`` (no ``..``, absolute path or
    symlink out); :func:`.text_file_vocabulary.read_vocabulary_file` then reads regular files only."""
    relative = PurePosixPath(filename)
    assets = folder / "assets"
    if filename and not relative.is_absolute() and ".." not in relative.parts and not Path(filename).is_absolute():
        resolved, root = (assets / filename).resolve(), assets.resolve()
        if resolved.is_relative_to(root) and root.is_relative_to(folder.resolve()):
            return str(resolved)
    raise VocabularyFileGap(f"has its SavedModel copy at {filename!r}, outside the SavedModel's assets/")
