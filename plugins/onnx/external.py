"""Initializers stored in external data files, as LazyArrays: read once, when the writer needs them.

A model over 2 GB keeps its weights beside the ``.onnx`` file. An :class:`ExternalArray` maps its
bytes (``numpy.memmap``, copy-on-write) only in :meth:`~ExternalArray.load`, so the writer streams
them from the page cache without a copy, and the mapping dies with the array once it is in a shard
(no page stays mapped until the conversion ends). Mappings may transpose, reshape or cast it without
reading (the operations are recorded and replayed on load); anything else (``np.asarray``, maths)
reads it then.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: How many times any ExternalArray has been read (tests check that nothing is read twice).
READS: dict[tuple[str, int], int] = {}


class ExternalArray:
    """``shape``/``dtype`` of an external tensor, and :meth:`load` to read it (then apply recorded ops)."""

    def __init__(self, path: Path, offset: int, dtype: np.dtype, shape: Sequence[int],
                 ops: tuple[Callable[[np.ndarray], np.ndarray], ...] = (), *, base_shape: Sequence[int] | None = None,
                 base_dtype: np.dtype | None = None, in_model: bool = False) -> None:
        self.path = Path(path)
        #: The bytes are a raw initializer inside the .onnx file (see :mod:`.wire`), not an external
        #: file: such a weight was in memory before, so folding may read it.
        self.in_model = in_model
        self.offset = int(offset)
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(d) for d in shape)
        self._ops = ops
        self._base_shape = tuple(base_shape) if base_shape is not None else self.shape
        self._base_dtype = np.dtype(base_dtype) if base_dtype is not None else self.dtype

    # -- numpy-like surface -------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def _derive(self, op: Callable[[np.ndarray], np.ndarray], shape: Sequence[int], dtype: Any) -> ExternalArray:
        return ExternalArray(self.path, self.offset, dtype, shape, (*self._ops, op),
                             base_shape=self._base_shape, base_dtype=self._base_dtype, in_model=self.in_model)

    def transpose(self, *axes: Any) -> ExternalArray:
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        order = tuple(reversed(range(self.ndim))) if not axes else tuple(int(a) for a in axes)
        return self._derive(lambda a: np.transpose(a, order), [self.shape[a] for a in order], self.dtype)

    def reshape(self, *shape: Any) -> ExternalArray:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        target = _resolve(self.shape, [int(d) for d in shape])
        return self._derive(lambda a: a.reshape(target), target, self.dtype)

    def astype(self, dtype: Any, copy: bool = True) -> ExternalArray | np.ndarray:
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        return self._derive(lambda a: a.astype(dtype), self.shape, dtype)

    def __getitem__(self, index: Any) -> np.ndarray:
        return self.load()[index]

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """Maths reads the data: the mapping wants numbers, not a file reference."""
        inputs = tuple(x.load() if isinstance(x, ExternalArray) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.load()
        return array if dtype is None else array.astype(dtype)

    # -- LazyArray -----------------------------------------------------------------------------
    def load(self) -> np.ndarray:
        """Map the bytes (a view, no copy) and apply the recorded operations (which may copy)."""
        key = (str(self.path), self.offset)
        READS[key] = READS.get(key, 0) + 1
        count = int(np.prod(self._base_shape, dtype=np.int64))
        dtype = self._base_dtype.newbyteorder("<")
        end = self.offset + count * dtype.itemsize
        size = os.path.getsize(self.path)
        if end > size:  # mapping past the end would crash (SIGBUS) on first access, not raise
            raise OSError(f"{self.path} ended early (weight ends at byte {end}, the file has {size})")
        if count == 0:
            array = np.zeros(self._base_shape, dtype=dtype)
        else:
            array = np.asarray(np.memmap(self.path, dtype=dtype, mode="c", offset=self.offset,
                                         shape=self._base_shape))
        if not dtype.isnative:
            array = array.astype(dtype.newbyteorder("="))
        for op in self._ops:
            array = op(array)
        return np.ascontiguousarray(array)

    def _maths(name: str) -> Callable[..., Any]:  # type: ignore[misc]
        def apply(self: ExternalArray, *others: Any) -> Any:
            return getattr(np.ndarray, name)(self.load(), *others)

        return apply

    for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
                  "__rtruediv__", "__pow__", "__neg__", "__lt__", "__gt__", "__le__", "__ge__"):
        locals()[_name] = _maths(_name)
    del _name, _maths

    def __repr__(self) -> str:
        return f"ExternalArray({self.path.name}@{self.offset}, {self.dtype}, {list(self.shape)})"


def _resolve(shape: Sequence[int], target: list[int]) -> tuple[int, ...]:
    total = int(np.prod(shape, dtype=np.int64))
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1], dtype=np.int64)) or 1
        target = [total // known if d == -1 else d for d in target]
    if int(np.prod(target, dtype=np.int64)) != total:
        raise ValueError(f"cannot reshape {list(shape)} to {target}")
    return tuple(target)
