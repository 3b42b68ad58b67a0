"""Weight statistics for ``tfjsconv inspect``: totals by dtype and by layer (name prefix).

Works from shapes and dtypes only, so inspecting a model never reads its weight bytes.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

#: Bytes per element of the dtypes weights are stored in (strings have no fixed size).
ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int16": 2,
            "int8": 1, "uint64": 8, "uint32": 4, "uint16": 2, "uint8": 1, "bool": 1, "complex64": 8,
            "complex128": 16}


@dataclasses.dataclass(frozen=True)
class WeightInfo:
    """One weight as inspect sees it: no values, just what it costs."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    #: The dtype of the stored bytes when quantized (``uint8``, ``uint16``, ``float16``), else None.
    quantized_as: str | None = None
    #: The manifest's ``quantization`` entry (``dtype``, ``scale``, ``min`` …) when quantized.
    quantization: dict[str, Any] | None = dataclasses.field(default=None, compare=False)

    @property
    def parameters(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int | None:
        size = ITEMSIZE.get(self.quantized_as or self.dtype)
        return None if size is None else self.parameters * size


def quantization_scheme(quantization: dict[str, Any]) -> str:
    """How a quantized weight's bytes decode, in words: ``integers: byte − 128, scale in the graph`` for
    ``--quantize_int8`` kernels and a source's int8/uint8 weights (scale 1, integer min: exact integers, any
    scale is a separate op), ``uint8 affine: q × scale + min``, ``float16``."""
    dtype = str(quantization.get("dtype"))
    if dtype == "float16":
        return "float16"
    scale, low = quantization.get("scale"), quantization.get("min")
    if scale == 1 and isinstance(low, (int, float)) and float(low).is_integer():
        unit = "byte" if dtype == "uint8" else f"{dtype} value"  # a 16-bit source's integers: 2 bytes each
        return f"integers: {unit} {'+' if low >= 0 else '−'} {abs(int(low))}, scale in the graph"
    return f"{dtype} affine: q × {scale:.6g} + {low:.6g}" if scale is not None and low is not None else dtype


def layer_prefix(name: str, depth: int = 1) -> str:
    """The layer a weight belongs to: its first ``depth`` ``/``-separated parts (``dense/kernel`` ->
    ``dense``), or for dotted names (PyTorch: ``features.0.weight``) everything before the last dot."""
    if "/" in name:
        parts = name.split("/")
        return "/".join(parts[:min(depth, len(parts) - 1)])
    if "." in name:
        return name.rsplit(".", 1)[0]
    return name


def summarize(weights: Iterable[WeightInfo], *, depth: int = 1) -> dict[str, Any]:
    """The ``weights`` section of the inspect document (see docs/inspect.md for the schema)."""
    by_dtype: dict[tuple[str, str | None], dict[str, Any]] = {}
    by_prefix: dict[str, dict[str, Any]] = {}
    count = parameters = nbytes = 0
    unknown_size = 0
    weights_seen = list(weights)
    for w in weights_seen:
        count += 1
        parameters += w.parameters
        size = w.nbytes
        if size is None:
            unknown_size += 1
        else:
            nbytes += size
        row = by_dtype.setdefault((w.dtype, w.quantized_as), {
            "dtype": w.dtype, "stored_as": w.quantized_as or w.dtype, "count": 0, "parameters": 0, "bytes": 0})
        row["count"] += 1
        row["parameters"] += w.parameters
        row["bytes"] += size or 0
        prefix = layer_prefix(w.name, depth)
        group = by_prefix.setdefault(prefix, {"prefix": prefix, "count": 0, "parameters": 0, "bytes": 0,
                                              "dtypes": [], "quantized_as": []})
        group["count"] += 1
        group["parameters"] += w.parameters
        group["bytes"] += size or 0
        if w.dtype not in group["dtypes"]:
            group["dtypes"].append(w.dtype)
        if w.quantized_as and w.quantized_as not in group["quantized_as"]:
            group["quantized_as"].append(w.quantized_as)
    quantized = [{"name": w.name, "shape": list(w.shape), "dtype": w.dtype, "stored_as": w.quantized_as,
                  "scheme": quantization_scheme(w.quantization or {"dtype": w.quantized_as}),
                  "quantization": w.quantization, "bytes": w.nbytes,
                  "unquantized_bytes": w.parameters * ITEMSIZE.get(w.dtype, 4)}
                 for w in weights_seen if w.quantized_as]
    return {
        "quantized": quantized,
        "count": count,
        "parameters": parameters,
        "bytes": nbytes,
        "unsized": unknown_size,
        "by_dtype": sorted(by_dtype.values(), key=lambda r: -r["bytes"]),
        "by_prefix": sorted(by_prefix.values(), key=lambda r: (-r["bytes"], r["prefix"])),
    }
