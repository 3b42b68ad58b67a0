"""HDF5 access for the Keras frontends: one open file per model, weights read lazily from it.

h5py is imported here, when a file is opened, never at plugin import. Every h5py failure becomes an
:class:`~tfjsconv.errors.InputError` that names the file, including failures while the writer
streams the weights out (so a truncated file never surfaces as a confusing output error). A file
that points outside itself (external links, virtual datasets) is refused when it is opened
(:mod:`.h5_links`), so no reader ever follows such a link.
"""
from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tfjsconv.errors import InputError

from .h5_links import check_self_contained

from .detect import HDF5_MAGIC, has_hdf5_magic  # noqa: F401 - the cheap check lives with the other detectors
CORRUPT_HINT = "the file may be truncated or corrupt"


def import_h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise InputError("reading Keras files needs the h5py package",
                         hint="pip install 'tfjsconv[keras]' (h5py only; no TensorFlow needed)") from None
    return h5py


def _close(file: Any, cleanup: Callable[[], None] | None) -> None:
    try:
        file.close()
    finally:
        if cleanup is not None:
            cleanup()


class H5Source:
    """An open, read-only HDF5 file; closed (and ``cleanup`` run) once nothing references it."""

    def __init__(self, path: Path, *, display: str | None = None, cleanup: Callable[[], None] | None = None) -> None:
        h5py = import_h5py()
        self.path = Path(path)
        self.display = display or str(path)
        try:
            self.file = h5py.File(self.path, "r")
        except Exception as err:  # h5py raises OSError, ValueError or its own errors for bad files
            if cleanup is not None:
                cleanup()
            raise InputError(f"{self.display} is not a readable HDF5 file: {_reason(err)}",
                             hint=CORRUPT_HINT + "; save the model again with model.save()") from None
        self._size = os.path.getsize(self.path)
        self._finalizer = weakref.finalize(self, _close, self.file, cleanup)
        try:  # before anything is read: h5py would follow links out of the file
            check_self_contained(self.file, self.display)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._finalizer()

    def dataset(self, path: str) -> H5Array:
        """A lazy array for the dataset at ``path``, checked to lie within the file."""
        try:
            ds = self.file[path]
            shape, dtype = tuple(int(d) for d in ds.shape), np.dtype(ds.dtype)
            offset = ds.id.get_offset()
            stored = ds.id.get_storage_size()
            end = None if offset is None else offset + stored
            compressed = bool(ds.compression) or ds.id.get_create_plist().get_nfilters() > 0
        except Exception as err:
            raise InputError(f"{self.display}: cannot read weight {path!r}: {_reason(err)}") from None
        needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if not compressed and stored < needed:  # unwritten chunks would be invented (fill value), maybe terabytes
            raise InputError(f"{self.display}: weight {path!r} has shape {list(shape)} ({needed} bytes) but the file "
                             f"holds fewer bytes for it ({stored})", hint=CORRUPT_HINT)
        if end is not None and end > self._size:
            raise InputError(f"{self.display} is truncated: weight {path!r} ends at byte {end}, "
                             f"but the file has {self._size} bytes", hint="copy or save the file again")
        return H5Array(self, path, shape, dtype)

    def read(self, path: str) -> np.ndarray:
        try:
            return np.asarray(self.file[path][()])
        except Exception as err:
            raise InputError(f"{self.display}: cannot read weight {path!r}: {_reason(err)}",
                             hint=CORRUPT_HINT) from None


class H5Array:
    """A weight that stays in the HDF5 file until the writer asks for it (``tfjsconv.ir.LazyArray``)."""

    def __init__(self, source: H5Source, path: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.source = source
        self.path = path
        self.shape = shape
        self.dtype = dtype

    def load(self) -> np.ndarray:
        return self.source.read(self.path)

    def __repr__(self) -> str:
        return f"<H5Array {self.path} {self.dtype} {list(self.shape)}>"


def attr_text(obj: Any, name: str) -> str | None:
    """A string attribute, decoded whether h5py returns str or bytes."""
    value = obj.attrs.get(name)
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def attr_list(obj: Any, name: str) -> list[str] | None:
    """A list-of-strings attribute; Keras splits big ones into ``name0``, ``name1``, ... chunks."""
    if name in obj.attrs:
        chunks = [obj.attrs[name]]
    elif f"{name}0" in obj.attrs:
        chunks, i = [], 0
        while f"{name}{i}" in obj.attrs:
            chunks.append(obj.attrs[f"{name}{i}"])
            i += 1
    else:
        return None
    return [v.decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v)
            for chunk in chunks for v in np.asarray(chunk).reshape(-1).tolist()]


def _reason(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:300]
