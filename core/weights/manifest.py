"""The ``weightsManifest`` structure: building entries and checking manifests read from disk.

A manifest is ``[{"paths": [shard files], "weights": [{"name", "shape", "dtype", "quantization"?}]}]``;
the bytes of a group's weights are concatenated in order and split across its ``paths``. The reader
trusts nothing in it until :func:`parse_manifest` has checked names, shapes and dtypes, so that a
bad model.json gives a message naming the entry instead of a numpy traceback.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import WeightsError
from .encoding import MANIFEST_DTYPES, STORAGE_DTYPES, STRING_LENGTH_DTYPE
from .quantize import QUANTIZED_DTYPES


def weight_entry(name: str, shape: Sequence[int], dtype: str,
                 quantization: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One ``weights`` item, keys in the official converter's order; shape as python ints."""
    entry: dict[str, Any] = {"name": name, "shape": [int(d) for d in shape], "dtype": dtype}
    if quantization is not None:
        entry["quantization"] = dict(quantization)
    return entry


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    """A checked manifest weight entry."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: dict[str, Any] | None = None

    @property
    def stored_dtype(self) -> str:
        """The dtype of the bytes on disk (the quantized one, if any)."""
        return self.quantization["dtype"] if self.quantization else self.dtype

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int | None:
        """Bytes on disk, or ``None`` for strings (found only by walking their length prefixes)."""
        if self.stored_dtype == "string":
            return None
        return self.size * STORAGE_DTYPES[self.stored_dtype].itemsize


@dataclasses.dataclass(frozen=True)
class GroupSpec:
    """A checked manifest group."""

    index: int
    paths: tuple[str, ...]
    weights: tuple[WeightSpec, ...]

    @property
    def min_nbytes(self) -> int:
        """Bytes the group's weights need: exact without strings, else a lower bound (4 per string element)."""
        return sum(w.size * STRING_LENGTH_DTYPE.itemsize if w.nbytes is None else w.nbytes for w in self.weights)

    @property
    def has_strings(self) -> bool:
        return any(w.nbytes is None for w in self.weights)

    @property
    def label(self) -> str:
        return f"weightsManifest[{self.index}]"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_weight(where: str, raw: object) -> WeightSpec:
    if not isinstance(raw, Mapping):
        raise WeightsError(f"{where} must be an object, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise WeightsError(f"{where} has no valid \"name\" (got {name!r})")
    where = f"{where} ({name!r})"
    shape = raw.get("shape")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise WeightsError(f"{where} has an invalid \"shape\" {shape!r}; expected a list of non-negative integers")
    dtype = raw.get("dtype")
    if dtype not in MANIFEST_DTYPES:
        raise WeightsError(f"{where} has unsupported dtype {dtype!r}; expected one of {', '.join(MANIFEST_DTYPES)}")
    quantization = raw.get("quantization")
    if quantization is not None:
        if not isinstance(quantization, Mapping):
            raise WeightsError(f"{where} has an invalid \"quantization\" {quantization!r}")
        qdtype = quantization.get("dtype")
        if qdtype not in QUANTIZED_DTYPES:
            raise WeightsError(f"{where} is quantized to unsupported dtype {qdtype!r}; "
                               f"expected one of {', '.join(QUANTIZED_DTYPES)}")
        if dtype not in ("float32", "int32"):
            raise WeightsError(f"{where} is a quantized {dtype} weight; only float32 and int32 can be quantized")
        if qdtype != "float16":
            for key in ("min", "scale"):
                if not _is_number(quantization.get(key)):
                    raise WeightsError(f"{where} is quantized to {qdtype} but its \"{key}\" is "
                                       f"{quantization.get(key)!r}, not a finite number")
        quantization = dict(quantization)
        quantization.setdefault("original_dtype", dtype)
    return WeightSpec(name, tuple(shape), dtype, quantization)


def weight_count(manifest: object) -> int:
    """How many weight entries a (possibly malformed) manifest lists, without checking them."""
    if not isinstance(manifest, Sequence) or isinstance(manifest, (str, bytes)):
        return 0
    return sum(len(group["weights"]) for group in manifest
               if isinstance(group, Mapping) and isinstance(group.get("weights"), list))


def check_weight_count(manifest: object, limits: Any, where: str) -> None:
    """Refuse more than ``--max_weights`` entries: TF.js 4.22 fails to load such a model
    ("Maximum call stack size exceeded" from about 10^5 weights in Node; browsers have smaller stacks)."""
    from ..limits import check_limit

    check_limit("max_weights", weight_count(manifest), limits, f"{where} lists too many weights")


def parse_manifest(manifest: object) -> list[GroupSpec]:
    """Check a ``weightsManifest`` list and return it as :class:`GroupSpec` objects.

    Raises :class:`WeightsError` for malformed groups/entries and for weight names that appear twice.
    """
    if not isinstance(manifest, Sequence) or isinstance(manifest, (str, bytes)):
        raise WeightsError(f"weightsManifest must be a list of groups, got {type(manifest).__name__}")
    groups: list[GroupSpec] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(manifest):
        where = f"weightsManifest[{index}]"
        if not isinstance(raw, Mapping):
            raise WeightsError(f"{where} must be an object with \"paths\" and \"weights\"")
        paths, weights = raw.get("paths"), raw.get("weights")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise WeightsError(f"{where}.paths must be a list of file names, got {paths!r}")
        if not isinstance(weights, list):
            raise WeightsError(f"{where}.weights must be a list, got {type(weights).__name__}")
        specs = []
        for position, entry in enumerate(weights):
            spec = _parse_weight(f"{where}.weights[{position}]", entry)
            if spec.name in seen:
                raise WeightsError(f"weight name {spec.name!r} appears twice in the manifest "
                                   f"(groups {seen[spec.name]} and {index})")
            seen[spec.name] = index
            specs.append(spec)
        groups.append(GroupSpec(index, tuple(paths), tuple(specs)))
    return groups
