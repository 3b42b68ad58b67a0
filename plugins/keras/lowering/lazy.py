"""Weights that stay in the HDF5 file until written, in the layout an op wants (``tfjsconv.ir.LazyArray``)."""
from __future__ import annotations

import numpy as np

from tfjsconv.ir import LazyArray, materialize


class ReshapedArray:
    """``source`` reshaped (same element order): a Conv1D kernel ``(k, in, out)`` as ``(1, k, in, out)``."""

    def __init__(self, source: np.ndarray | LazyArray, shape: tuple[int, ...]) -> None:
        if int(np.prod(shape)) != int(np.prod(source.shape)):
            raise ValueError(f"cannot reshape {tuple(source.shape)} to {shape}")
        self.source = source
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(source.dtype)

    def load(self) -> np.ndarray:
        return materialize(self.source).reshape(self.shape)


class Float32Array:
    """``source`` as float32 (mixed-precision or float64 files), converted when written."""

    def __init__(self, source: np.ndarray | LazyArray) -> None:
        self.source = source
        self.shape = tuple(int(d) for d in source.shape)
        self.dtype = np.dtype("float32")

    def load(self) -> np.ndarray:
        return materialize(self.source).astype(np.float32)
