"""Per-channel symmetric int8 for conv/matmul kernels, stored in a manifest that knows only per-tensor uint8.

TF.js decodes a uint8 weight as ``q * scale + min``; with ``scale=1, min=-128`` (:data:`INT8_STORAGE`)
the stored byte ``b`` decodes exactly to the integer ``b - 128``. So a kernel's int8 values ride in the
shards at one byte each, and the per-output-channel scale is applied in the graph (see
:mod:`tfjsconv.writers.int8_kernels`). Symmetric: ``q = round(w / s)`` with ``s = max|w| / 127`` per
channel, so ``q`` is in -127..127 and 0.0 stays exact.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..errors import WeightsError
from .quantize import AffineParams

#: The manifest quantization that decodes a stored byte to the int8 value ``byte - 128``.
INT8_STORAGE = AffineParams("uint8", -128.0, 127.0, 1.0)
INT8_QMAX = 127


@dataclasses.dataclass(frozen=True)
class Int8Kernel:
    """A kernel quantized per output channel: ``values * scale`` (broadcast along the channel) approximates it."""

    values: np.ndarray  # float32 holding integers in -127..127, the kernel's shape
    scale: np.ndarray  # float32, one per output channel, > 0
    max_abs_error: float
    max_rel_error: float


def quantize_per_channel(name: str, kernel: np.ndarray, reduce_axes: Sequence[int]) -> Int8Kernel:
    """Quantize ``kernel``; ``reduce_axes`` are the axes *not* indexing the output channel.

    ``scale`` keeps the kernel's remaining axes in order (flatten it for depthwise kernels).
    All-zero channels get scale 1. Raises :class:`WeightsError` for NaN/inf.
    """
    w = np.asarray(kernel, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise WeightsError(f"cannot quantize weight {name!r} to int8: it contains NaN or infinity",
                           hint="exclude it from --quantize_int8 with a narrower pattern")
    axes = tuple(reduce_axes)
    peak = np.max(np.abs(w), axis=axes, keepdims=True) if w.size else np.ones([1] * w.ndim)
    scale = np.where(peak > 0, peak / INT8_QMAX, 1.0).astype(np.float32).astype(np.float64)
    q = np.clip(np.round(w / scale), -INT8_QMAX, INT8_QMAX)
    # What TF.js computes: float32 integers times a float32 scale.
    restored = (q.astype(np.float32) * scale.astype(np.float32)).astype(np.float64)
    error = np.abs(restored - w)
    max_abs = float(error.max()) if error.size else 0.0
    top = float(np.abs(w).max()) if w.size else 0.0
    max_rel = max_abs / top if top > 0 else 0.0
    return Int8Kernel(q.astype(np.float32), np.squeeze(scale, axis=axes).astype(np.float32), max_abs, max_rel)


@dataclasses.dataclass(frozen=True, eq=False)  # compared by identity: its fields are arrays
class QuantizedWeight:
    """A weight the source model stores quantized: ``(q - zero_point) * scale`` with 4-, 8- or 16-bit ``q``
    (4-bit integers are stored one byte each: TF.js has no 4-bit type).

    Recorded by a frontend (e.g. ONNX ``DequantizeLinear`` of an int8 initializer) so that the writer can
    store ``q - zero_point`` at one byte each instead of the dequantized float32 values. ``scale`` and
    ``zero_point`` are 1-D: one value (per tensor) or one per channel along some axis; integer products
    (``MatMulInteger`` …) record ``scale == [1]``: their float32 weight already is ``q - zero_point``.
    """

    source: str  # the source node, for messages
    size: int  # number of elements of the weight
    scale: np.ndarray  # float32, 1-D (blocked: the source's scale, shaped like the weight but ``blocks`` on the axis)
    zero_point: np.ndarray  # int64, 1-D (one value, or one per channel like ``scale``; blocked: like ``scale``)
    bounds: tuple[int, int]  # the range of q (-8..7, 0..15, -128..127, 0..255, or 16-bit: stored 2 bytes each)
    #: Blocked quantization (ONNX ``block_size``): ``(axis, block_size)`` in the source's layout; else None.
    block: tuple[int, int] | None = None
    #: The weight's shape in the source (needed for blocked weights, which passes may transpose).
    shape: tuple[int, ...] | None = None


@dataclasses.dataclass(frozen=True)
class RecoveredWeight:
    """A float32 weight split exactly into integers and a scale: ``float32(values * scale) == weight``."""

    values: np.ndarray  # float32 integers ``q - zero_point``, the weight's shape
    scale: np.ndarray  # float32, broadcasting against ``values`` (all ones: nothing to multiply)
    offset: float  # the manifest ``min`` (scale 1) under which one byte per value decodes to ``values``
    hint: QuantizedWeight
    #: Blocked: ``(axis, block_size)`` in ``values``' layout; ``scale`` then has ``ceil(size / block_size)`` along
    #: that axis and ``values`` is padded (edge values) to whole blocks. None: ``scale`` broadcasts as is.
    block: tuple[int, int] | None = None
    #: Blocked only, when ``q - zp`` spans more than the storage holds: ``values`` are ``q`` itself and this
    #: (float32, shaped like ``scale``) is subtracted in the graph before the scale.
    zero_point: np.ndarray | None = None

    @property
    def wide(self) -> bool:
        """16-bit source integers: stored as the manifest's uint16 (2 bytes each), else uint8."""
        lo, hi = self.hint.bounds
        return hi - lo > 255

    @property
    def integer(self) -> bool:
        return self.block is None and bool(np.all(self.scale == 1))


def storage_span(bounds: tuple[int, int]) -> int:
    """The span of integers one stored value holds for a source range: a byte (255) for 4- and 8-bit sources,
    two (65535) for 16-bit ones. Wider than a 4-bit range, so ``q - zp`` with per-channel zero points fits."""
    return 255 if bounds[1] - bounds[0] <= 255 else 65535


#: Elements checked before the full, float64 check of a (weight, hint, axis) triple.
_SAMPLE = 64


def _splits(weight: np.ndarray, scale: np.ndarray) -> bool:
    """Whether every element of ``weight`` is ``float32(integer * scale)`` (same shapes)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        values = np.rint(weight.astype(np.float64) / scale.astype(np.float64))
        return bool(np.all(np.isfinite(values)) and np.array_equal(values.astype(np.float32) * scale, weight))


def recover_quantized(weight: np.ndarray, hint: QuantizedWeight) -> RecoveredWeight | None:
    """Split ``weight`` by ``hint`` if it is exactly ``float32((q - zp) * scale)`` (per tensor, or per
    channel along any axis of the right length, whatever layout the passes gave the weight); else None.

    Exactness (bit for bit) is the test, so a weight a pass changed, or that is not this hint's, is
    never mistaken for it.
    """
    if weight.dtype != np.float32 or weight.size != hint.size or weight.size == 0:
        return None
    if hint.block is not None:
        from .blocked import recover_blocked

        return recover_blocked(weight, hint)
    channels = max(hint.scale.size, hint.zero_point.size)
    if any(size not in (1, channels) for size in (hint.scale.size, hint.zero_point.size)):
        return None
    axes: list[int | None] = [None] if channels == 1 else [a for a in range(weight.ndim) if weight.shape[a] == channels]
    lo, hi = hint.bounds
    picks = np.linspace(0, weight.size - 1, min(_SAMPLE, weight.size)).astype(np.int64)
    sample = np.unravel_index(picks, weight.shape) if weight.ndim else ...
    for axis in axes:
        shape = [1] * weight.ndim
        if axis is not None:
            shape[axis] = channels
        scale = np.broadcast_to(hint.scale.astype(np.float32).reshape(-1), (channels,)).reshape(shape)
        if not _splits(np.asarray(weight[sample]), np.asarray(np.broadcast_to(scale, weight.shape)[sample])):
            continue  # cheap: most (weight, hint, axis) triples that fail, fail on a few elements
        zero_point = hint.zero_point.astype(np.int64)
        zero_point = zero_point.reshape(()) if zero_point.size == 1 else zero_point.reshape(shape)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            values = np.rint(weight.astype(np.float64) / scale.astype(np.float64))
            if not np.all(np.isfinite(values)) or not np.array_equal(values.astype(np.float32) * scale, weight):
                continue
        q = values + zero_point
        if q.min() < lo or q.max() > hi:
            continue
        if np.unique(hint.zero_point).size == 1:  # the stored byte is q - lo, as in the source
            offset = float(lo - int(hint.zero_point.reshape(-1)[0]))
        elif values.max() - values.min() <= storage_span(hint.bounds):
            offset = float(values.min())
        else:
            continue
        return RecoveredWeight(values.astype(np.float32), scale, offset, hint)
    return None
