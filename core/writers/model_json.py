"""Writing model.json, the last file of every output folder (its own module: a layers model's path
need not import the graph-model writer and its passes)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MODEL_JSON = "model.json"


def write_model_json(doc: dict[str, Any], folder: Path) -> Path:
    path = folder / MODEL_JSON
    try:
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as err:  # NaN/Infinity in a config taken from the input: not representable in JSON
        from ..errors import InputError

        raise InputError(f"the model's configuration holds a value JSON cannot represent ({err})",
                         hint="TF.js reads model.json as strict JSON; fix the value in the source model") from None
    try:  # before the file opens: text read from bytes that are not UTF-8 (h5py's surrogate escapes) cannot be written
        data = text.encode("utf-8")
    except UnicodeEncodeError as err:
        from ..errors import InputError

        raise InputError(f"the model's configuration holds text that is not valid UTF-8 ({err.reason} at "
                         f"{text[max(err.start - 30, 0):err.start]!r})") from None
    path.write_bytes(data)
    return path
