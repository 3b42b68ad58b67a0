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
