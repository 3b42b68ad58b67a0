"""The ``--target_backends`` a model was converted for, recorded in model.json's ``userDefinedMetadata``.

TF.js hands ``userDefinedMetadata`` back untouched (``GraphModel.metadata``, ``LayersModel.getUserDefinedMetadata``),
so the record costs apps nothing; ``tfjsconv verify`` reads it to run only the backends the model was checked for
(a model converted for cpu alone may hold ops wasm lacks). Only targets narrower or other than the default are
written, so a default conversion's model.json is unchanged; a missing record means the default targets.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..options import ConvertOptions

#: The ``userDefinedMetadata`` key (beside the frontends' ``signatureName`` and ``savedModelTags``).
TARGET_BACKENDS_KEY = "targetBackends"
KNOWN_BACKENDS = ("cpu", "wasm", "webgl", "webgpu")


def default_targets() -> tuple[str, ...]:
    """``--target_backends`` when not given (what a model without a record was converted for)."""
    return tuple(ConvertOptions().target_backends)


def with_target_record(metadata: Mapping[str, Any], options: ConvertOptions) -> dict[str, Any]:
    """``metadata`` with this conversion's targets recorded when they are not the default, and any record
    carried over from a TF.js model input dropped (this conversion's contract check is the one that holds)."""
    out = {k: v for k, v in metadata.items() if k != TARGET_BACKENDS_KEY}
    targets = list(dict.fromkeys(options.target_backends))
    if set(targets) != set(default_targets()):
        out[TARGET_BACKENDS_KEY] = targets
    return out


def recorded_targets(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The targets a model.json records (the default ones when it records none, or records something unreadable)."""
    metadata = doc.get("userDefinedMetadata")
    value = metadata.get(TARGET_BACKENDS_KEY) if isinstance(metadata, dict) else None
    if isinstance(value, list) and value and all(isinstance(b, str) and b in KNOWN_BACKENDS for b in value):
        return tuple(value)
    return default_targets()
