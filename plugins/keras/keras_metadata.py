"""A tf_keras SavedModel read without TensorFlow: the model config from ``keras_metadata.pb``, the weights
from the checkpoint in ``variables/`` (the TF-free TensorBundle reader of the SavedModel plugin).

Both are small protobufs, decoded here from the wire format (field numbers checked against tf_keras's
and TensorFlow's own classes in ``tests/test_keras_lowering_structure.py``):

- ``SavedMetadata { repeated SavedObject nodes = 1 }``, ``SavedObject { int32 node_id = 2; string
  node_path = 3; string identifier = 4; string metadata = 5 (JSON); VersionDef version = 6 }`` (as read
  from files tf_keras writes: ``node_path`` is 3, not 2);
- the checkpoint's ``_CHECKPOINTABLE_OBJECT_GRAPH``: ``TrackableObjectGraph { repeated TrackableObject
  nodes = 1 }``, ``TrackableObject { repeated ObjectReference children = 1 {int32 node_id = 1; string
  local_name = 2}; repeated SerializedTensor attributes = 2 {string name = 1; string full_name = 2;
  string checkpoint_key = 3} }``.

The root object's ``variables`` list holds ``model.variables`` in order: each layer's variables, layer
after layer, in Keras's order, named like a tf_keras ``.h5`` file's ``weight_names``.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tfjsconv.errors import InputError

METADATA_FILE = "keras_metadata.pb"
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


class WireError(ValueError):
    """Bytes that are not a protobuf message."""


def fields(data: bytes) -> Iterator[tuple[int, Any]]:
    """``(field number, value)`` of each field: ints for varints, bytes for length-delimited fields."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > end:
                raise WireError("a field runs past the end")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise WireError("a field runs past the end")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise WireError(f"wire type {wire}")
        yield number, value


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("a truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def _text(value: Any) -> str:
    if not isinstance(value, bytes):
        raise WireError("a string field holds a number")
    return value.decode("utf-8")


def metadata_nodes(data: bytes) -> list[dict[str, str]]:
    """Each ``SavedObject`` of a ``keras_metadata.pb`` as ``{node_path, identifier, metadata}``."""
    names = {3: "node_path", 4: "identifier", 5: "metadata"}
    nodes = []
    for number, value in fields(data):
        if number == 1:
            node = {names[n]: _text(v) for n, v in fields(value) if n in names}
            nodes.append(node)
    return nodes


def read_root_metadata(folder: Path) -> str:
    """The JSON metadata of the root object (``node_path == "root"``)."""
    path = folder / METADATA_FILE
    try:
        nodes = metadata_nodes(path.read_bytes())
    except (WireError, UnicodeDecodeError, OSError) as err:
        raise InputError(f"{path} is not readable Keras metadata: {err}") from None
    root = next((node for node in nodes if node.get("node_path") == "root"), None)
    if root is None or "metadata" not in root:
        raise InputError(f"{path} has no metadata for the root object")
    return root["metadata"]


def checkpoint_variables(object_graph: bytes) -> list[tuple[str, str]]:
    """``(full name, checkpoint key)`` of the root's ``variables`` list, in its order."""
    nodes = [list(fields(node)) for number, node in fields(object_graph) if number == 1]
    if not nodes:
        raise WireError("no objects")

    def children(index: int) -> dict[str, int]:
        found = {}
        for number, value in nodes[index]:
            if number == 1:
                ref = dict(fields(value))
                found[_text(ref.get(2, b""))] = int(ref.get(1, 0))
        return found

    listed = children(0).get("variables")
    if listed is None or not 0 <= listed < len(nodes):
        raise WireError("the root has no variables list")
    entries = sorted((int(name), node) for name, node in children(listed).items() if name.isdigit())
    found = []
    for _, node in entries:
        if not 0 <= node < len(nodes):
            raise WireError(f"a reference to object {node}")
        attributes = [dict(fields(v)) for n, v in nodes[node] if n == 2]
        value = next((a for a in attributes if a.get(1) == b"VARIABLE_VALUE"), None)
        if value is None:
            raise WireError(f"object {node} of the variables list is not a variable")
        found.append((_text(value.get(2, b"")), _text(value.get(3, b""))))
    return found
