"""Post-training weight quantization the way ``tensorflowjs_converter --quantize_*`` does it.

Which weights: :class:`QuantizationPlan` maps weight names to a quantized dtype with the official
flags' semantics (fnmatch patterns per dtype, at most one catch-all). How: float16 is a plain cast;
uint8/uint16 are affine per tensor, with the range nudged so that 0.0 is exactly representable
(TF-Lite's NudgeQuantizationRange, but only when 0 lies in the range). TF.js decodes ``q * scale + min``.

Unlike the official converter, each quantized weight's error is measured while its bytes are
produced (:class:`Quantizer`), so users see what quantization cost them.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fnmatch import fnmatchcase

import numpy as np

from ..errors import UsageError, WeightsError
from .encoding import STORAGE_DTYPES, iter_flat_chunks

#: The dtypes weights can be quantized to, in flag order.
QUANTIZED_DTYPES = ("float16", "uint8", "uint16")
_QMAX = {"uint8": 255, "uint16": 65535}
#: ``--quantize_int8``: per-channel int8 kernels (weights.int8); not a manifest dtype, stored as uint8.
INT8_DTYPE = "int8"
#: A quantized source's 16-bit integers: not a manifest dtype, stored as uint16 with scale 1 (exact).
INT16_DTYPE = "int16"

#: Elements per step while quantizing: keeps the float64 temporaries to a few MB.
QUANTIZE_CHUNK_ELEMENTS = 1 << 16


@dataclasses.dataclass(frozen=True)
class QuantizationPlan:
    """Which weight gets which quantized dtype.

    ``patterns`` maps a dtype to fnmatch patterns over weight names (matched case-sensitively on
    every platform); ``fallthrough`` is the dtype for weights no pattern claims (a ``True`` flag).
    """

    patterns: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fallthrough: str | None = None
    #: Kernels already quantized to int8 values (``--quantize_int8``): name -> (max abs, max rel) error
    #: against the float kernel, measured when they were quantized; they win over every other dtype.
    int8: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict, compare=False)
    #: Weights no flag may quantize (the int8 kernels' per-channel scales: a per-tensor range would undo them).
    exempt: frozenset[str] = frozenset()
    #: int8 weights whose bytes decode with another ``min`` than -128 (a source's uint8 weights: ``-zero_point``).
    int8_offsets: Mapping[str, float] = dataclasses.field(default_factory=dict, compare=False)
    #: The ``int8`` weights that hold 16-bit integers (a source's int16/uint16): stored 2 bytes each.
    int16: frozenset[str] = frozenset()

    @classmethod
    def from_spec(cls, spec: Mapping[str, bool | Sequence[str] | None] | None) -> QuantizationPlan:
        """Build from ``{"float16": True | [patterns], "uint8": ..., "uint16": ...}``.

        ``None``, ``False`` and ``[]`` switch a dtype off. Raises :class:`UsageError` for unknown
        dtypes, malformed values, or more than one catch-all dtype.
        """
        if not spec:
            return cls()
        patterns: list[tuple[str, tuple[str, ...]]] = []
        catch_all: list[str] = []
        for dtype, value in spec.items():
            if dtype not in QUANTIZED_DTYPES:
                raise UsageError(f"cannot quantize to {dtype!r}; choose from {', '.join(QUANTIZED_DTYPES)}")
            if value is None or value is False:
                continue
            if value is True:
                catch_all.append(dtype)
                continue
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise UsageError(f"--quantize_{dtype} takes True or a list of name patterns, got {value!r}")
            values = tuple(value)
            if not all(isinstance(p, str) and p for p in values):
                raise UsageError(f"--quantize_{dtype} patterns must be non-empty strings, got {list(values)!r}")
            if values:
                patterns.append((dtype, values))
        if len(catch_all) > 1:
            raise UsageError("only one of " + ", ".join(f"--quantize_{d}" for d in catch_all)
                             + " may be given without patterns",
                             hint="give the others fnmatch patterns of the weights they should apply to")
        return cls(tuple(patterns), catch_all[0] if catch_all else None)

    def __bool__(self) -> bool:
        return bool(self.patterns) or self.fallthrough is not None or bool(self.int8)

    def dtype_for(self, name: str) -> str | None:
        """The quantized dtype for weight ``name``, or ``None`` to leave it alone.

        Raises :class:`UsageError` when patterns of two different dtypes match the name.
        """
        if name in self.int8:
            return INT16_DTYPE if name in self.int16 else INT8_DTYPE
        if name in self.exempt:
            return None
        matches = {}
        for dtype, patterns in self.patterns:
            hit = next((p for p in patterns if fnmatchcase(name, p)), None)
            if hit is not None:
                matches[dtype] = hit
        if len(matches) > 1:
            claims = " and ".join(f"--quantize_{d} pattern {p!r}" for d, p in matches.items())
            raise UsageError(f"weight {name!r} is matched by {claims}",
                             hint="make the patterns disjoint so each weight gets one quantization dtype")
        if matches:
            return next(iter(matches))
        return self.fallthrough

    def resolve(self, names: Iterable[str]) -> dict[str, str]:
        """``{name: dtype}`` for the quantized ones among ``names``; one error lists every conflict."""
        result: dict[str, str] = {}
        problems: list[str] = []
        for name in names:
            try:
                dtype = self.dtype_for(name)
            except UsageError as err:
                problems.append(err.message)
                continue
            if dtype is not None:
                result[name] = dtype
        if problems:
            raise UsageError("conflicting quantization patterns:\n  " + "\n  ".join(problems))
        return result


@dataclasses.dataclass(frozen=True)
class AffineParams:
    """The range of one uint8/uint16 weight: dequantized value = ``q * scale + min``."""

    dtype: str
    min: float
    max: float
    scale: float

    @classmethod
    def for_range(cls, dtype: str, low: float, high: float) -> AffineParams:
        """Scale and (nudged) range for values in ``[low, high]``, computed in float64."""
        qmax = _QMAX[dtype]
        low, high = float(low), float(high)
        if low == high:
            return cls(dtype, low, high, 1.0)
        scale = (high - low) / qmax
        if low <= 0.0 <= high:
            zero_point = round(-low / scale)
            nudged_min = -zero_point * scale + 0.0  # + 0.0 turns -0.0 into 0.0
            return cls(dtype, nudged_min, qmax * scale + nudged_min, scale)
        return cls(dtype, low, high, scale)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """``round((clip(x, min, max) - min) / scale)`` as the stored unsigned ints."""
        x = np.asarray(values, dtype=np.float64)
        q = np.round((np.clip(x, self.min, self.max) - self.min) / self.scale)
        return np.clip(q, 0, _QMAX[self.dtype]).astype(STORAGE_DTYPES[self.dtype])

    def manifest_entry(self) -> dict[str, object]:
        return {"dtype": self.dtype, "min": self.min, "scale": self.scale, "original_dtype": "float32"}


def dequantize(values: np.ndarray, quantization: Mapping[str, object]) -> np.ndarray:
    """What TF.js makes of quantized ``values``: float32 (int32 if ``original_dtype`` says so)."""
    dtype = quantization["dtype"]
    original = quantization.get("original_dtype", "float32")
    if dtype == "float16":
        result = np.asarray(values).astype(np.float32)
    elif dtype in _QMAX:
        scale, low = float(quantization["scale"]), float(quantization["min"])  # type: ignore[arg-type]
        values = np.asarray(values)
        result = np.empty(values.shape, dtype=np.float32)
        out = result.reshape(-1)
        position = 0
        for piece in iter_flat_chunks(values, QUANTIZE_CHUNK_ELEMENTS):
            out[position:position + piece.size] = piece.astype(np.float64) * scale + low
            position += piece.size
    else:
        raise WeightsError(f"unknown quantization dtype {dtype!r}")
    if original == "int32":
        return np.round(result).astype(np.int32)
    return result


#: Integer weights' storage dtype (scale 1): ``--quantize_int8`` kernels and a source's 8-bit integers, 16-bit ones.
_INTEGER_STORAGE = {INT8_DTYPE: "uint8", INT16_DTYPE: "uint16"}


class Quantizer:
    """Quantizes one float weight chunk by chunk, measuring the error as the bytes go by.

    Errors are against the float32 value that would have been written unquantized; after
    :meth:`chunks` is exhausted, :attr:`max_abs_error` and :attr:`max_rel_error` hold the result.
    """

    def __init__(self, name: str, array: np.ndarray, dtype: str, *, int8_offset: float = -128.0) -> None:
        if dtype in _INTEGER_STORAGE:  # integer values (weights.int8): stored as uint8/uint16 decoding to offset + q
            self.name, self.dtype, self.array = name, dtype, array
            storage = _INTEGER_STORAGE[dtype]
            self.params = AffineParams(storage, int8_offset, int8_offset + float(_QMAX[storage]), 1.0)
            self.max_abs_error = 0.0
            self._max_abs_value = 0.0
            return
        if dtype not in QUANTIZED_DTYPES:
            raise UsageError(f"cannot quantize to {dtype!r}; choose from {', '.join(QUANTIZED_DTYPES)}")
        self.name = name
        self.dtype = dtype
        self.array = array
        self.params: AffineParams | None = None
        self.max_abs_error = 0.0
        self._max_abs_value = 0.0
        if dtype in _QMAX:
            self.params = self._params()

    def _params(self) -> AffineParams:
        if self.array.size == 0:
            return AffineParams.for_range(self.dtype, 0.0, 0.0)
        # float32 rounding is monotonic, so the float32 extremes are the rounded source extremes.
        low = float(np.float32(np.min(self.array)))
        high = float(np.float32(np.max(self.array)))
        if not (math.isfinite(low) and math.isfinite(high)):
            raise WeightsError(f"cannot quantize weight {self.name!r} to {self.dtype}: it contains NaN or infinity",
                               hint=f"exclude it from --quantize_{self.dtype} with a narrower pattern")
        return AffineParams.for_range(self.dtype, low, high)

    @property
    def quantization(self) -> dict[str, object]:
        """The manifest entry's ``quantization`` value."""
        if self.params is None:
            return {"dtype": "float16", "original_dtype": "float32"}
        return self.params.manifest_entry()

    @property
    def bytes_before(self) -> int:
        return self.array.size * STORAGE_DTYPES["float32"].itemsize

    @property
    def bytes_after(self) -> int:
        return self.array.size * STORAGE_DTYPES[_INTEGER_STORAGE.get(self.dtype, self.dtype)].itemsize

    @property
    def max_rel_error(self) -> float:
        """``max_abs_error / max|x|`` over finite x (0 when the weight is all zeros)."""
        if self._max_abs_value == 0.0:
            return 0.0 if self.max_abs_error == 0.0 else math.inf
        return self.max_abs_error / self._max_abs_value

    def chunks(self) -> Iterator[memoryview]:
        """The quantized bytes, little-endian, a few MB at a time."""
        for piece in iter_flat_chunks(self.array, QUANTIZE_CHUNK_ELEMENTS):
            with np.errstate(over="ignore", invalid="ignore"):
                original = piece.astype(np.float32, copy=False)
                if self.params is None:
                    stored = original.astype(STORAGE_DTYPES["float16"])
                    restored = stored.astype(np.float32)
                else:
                    stored = self.params.quantize(original)
                    restored = (stored.astype(np.float64) * self.params.scale + self.params.min).astype(np.float32)
                self._measure(original, restored)
            yield memoryview(np.ascontiguousarray(stored).view(np.uint8))

    def _measure(self, original: np.ndarray, restored: np.ndarray) -> None:
        x = original.astype(np.float64)
        y = restored.astype(np.float64)
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        error = np.where(same, 0.0, np.abs(y - x))
        error = np.where(np.isnan(error), math.inf, error)  # inf vs finite etc.
        if error.size:
            self.max_abs_error = max(self.max_abs_error, float(error.max()))
            finite = np.abs(x[np.isfinite(x)])
            if finite.size:
                self._max_abs_value = max(self._max_abs_value, float(finite.max()))
