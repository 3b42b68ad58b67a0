"""Cheap recognition of ONNX files (suffix, or the first bytes of a ModelProto); imports neither numpy nor onnx."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tfjsconv.frontend import as_path

#: ModelProto field tags that may follow ``ir_version`` (field 1) in a serialized model.
_MODEL_FIELD_TAGS = {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42}


def looks_like_onnx(path: Path) -> bool:
    """A cheap sniff of a file without the .onnx suffix: ModelProto starts with a small ir_version varint."""
    if path.suffix in (".pb", ".pbtxt") or not path.is_file():  # TF's protobufs start the same way
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(3)
    except OSError:
        return False
    return len(head) == 3 and head[0] == 0x08 and 3 <= head[1] <= 15 and head[2] in _MODEL_FIELD_TAGS


def is_onnx_model(source: Any) -> bool:
    path = as_path(source)
    if path is None:
        return False
    return path.suffix.lower() == ".onnx" or looks_like_onnx(path)
