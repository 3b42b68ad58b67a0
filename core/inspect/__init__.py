"""``tfjsconv inspect``: what is inside a model, for any input format and for converted TF.js models.

:func:`inspect_model` returns one JSON-able document (schema in docs/inspect.md, version
:data:`SCHEMA`); :func:`format_inspection` renders it as text.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from .text import format_inspection
from .tfjs_model import inspect_tfjs, is_tfjs_model

#: Bumped when a key changes meaning or disappears (new keys may appear without a bump).
SCHEMA = "tfjsconv.inspect/1"


def inspect_model(path: str | Path, *, input_format: str | None = None, depth: int = 1,
                  output_node_names: list[str] | None = None) -> dict[str, Any]:
    """Inspect a TF.js model folder (or its model.json) or any source model a frontend reads.

    ``output_node_names``: the outputs of a frozen GraphDef (``tf_frozen_model`` needs them).
    """
    target = Path(path)
    if not target.exists():
        raise InputError(f"{target} does not exist")
    if input_format in (None, "tfjs", "tfjs_graph_model", "tfjs_layers_model") and is_tfjs_model(target):
        doc = inspect_tfjs(target, depth=depth)
    else:
        from .source_model import inspect_source

        doc = inspect_source(target, input_format=input_format, depth=depth, output_node_names=output_node_names)
    return {"schema": SCHEMA, **doc}


__all__ = ["SCHEMA", "format_inspection", "inspect_model"]
