"""HDF5 access for the Keras frontends: one open file per model, weights read lazily from it.

A file is first read by the lite reader (:mod:`.h5lite`: pure Python, metadata only, the subset h5py
writes for Keras); a file it does not fully understand is opened with h5py instead, imported only
then, never at plugin import. The lite reader accepts no link or storage that leaves the file; on the
h5py path, a file that points outside itself (external links, virtual datasets) is refused when it is
opened (:mod:`.h5_links`), so no reader ever follows such a link. Every h5py failure becomes an
:class:`~tfjsconv.errors.InputError` that names the file, including failures while the writer
streams the weights out (so a truncated file never surfaces as a confusing output error).

Weights are read without a copy where the file allows it: a contiguous, unfiltered dataset is a
run of bytes at a known offset, so :meth:`H5Source.map` maps it (``mmap``, copy-on-write, one
mapping per weight, gone with its array) and the shard writer streams straight from the page cache.
The writer may instead ask :meth:`H5Source.file_range` where the bytes lie and copy them itself.
Chunked or compressed datasets are read through h5py.
"""
from __future__ import annotations

import math
import mmap
import os
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from tfjsconv.errors import InputError
from tfjsconv.weights.file_ranges import FileRange

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


def _close(file: Any, raw: Any, cleanup: Callable[[], None] | None) -> None:
    try:
        if raw is not None:
            raw.close()
        if file is not None:
            file.close()
    finally:
        if cleanup is not None:
            cleanup()


class H5Source:
    """An open, read-only HDF5 file; closed (and ``cleanup`` run) once nothing references it.

    The file is read by the lite reader (:mod:`.h5lite`, no h5py import) when it understands all of it,
    else by h5py (``lite=False`` forces h5py). ``file`` is the root group either way, with the same
    small surface (``in``, ``[path]``, ``get``, ``keys``, ``len``, ``attrs``, ``visititems``).
    """

    def __init__(self, path: Path, *, display: str | None = None, cleanup: Callable[[], None] | None = None,
                 lite: bool = True) -> None:
        self.path = Path(path)
        self.display = display or str(path)
        self.lite = lite and self._open_lite()
        if self.lite:
            self._opened: dict[str, tuple[Any, Any]] = {}
            self._finalizer = weakref.finalize(self, _close, None, self._raw, cleanup)
            return
        h5py = import_h5py()
        try:
            self.file = h5py.File(self.path, "r")
        except Exception as err:  # h5py raises OSError, ValueError or its own errors for bad files
            if cleanup is not None:
                cleanup()
            raise InputError(f"{self.display} is not a readable HDF5 file: {_reason(err)}",
                             hint=CORRUPT_HINT + "; save the model again with model.save()") from None
        self._size = os.path.getsize(self.path)
        try:
            self._raw = open(self.path, "rb", buffering=0)  # noqa: SIM115 - plain datasets are mapped from it
        except OSError as err:
            _close(self.file, None, cleanup)
            raise InputError(f"{self.display} cannot be opened: {_reason(err)}") from None
        self._finalizer = weakref.finalize(self, _close, self.file, self._raw, cleanup)
        try:  # before anything is read: h5py would follow links out of the file
            self._opened = check_self_contained(self.file, self.display)  # reused: opening costs per weight
        except InputError:
            self.close()
            raise
        except Exception as err:  # a damaged object h5py cannot open during the walk
            self.close()
            raise InputError(f"{self.display} is not a readable HDF5 file: {_reason(err)}",
                             hint=CORRUPT_HINT + "; save the model again with model.save()") from None
        except BaseException:
            self.close()
            raise

    def _open_lite(self) -> bool:
        """Read the whole tree with :mod:`.h5lite`; False (nothing left open) when it is not fully understood.
        A lite file is self-contained by construction: links out, external and virtual storage are Unsupported."""
        from .h5lite import read_tree

        try:
            raw = open(self.path, "rb", buffering=0)  # noqa: SIM115 - kept for mapping plain datasets
        except OSError:
            return False  # h5py's opening reports it as it always did
        try:
            self._size = os.fstat(raw.fileno()).st_size
            self.file: Any = read_tree(raw.fileno(), self._size)
        except Exception:  # Unsupported, or anything unexpected: h5py's reading stays the reference
            raw.close()
            return False
        except BaseException:
            raw.close()
            raise
        self._raw = raw
        return True

    def close(self) -> None:
        self._finalizer()

    def dataset(self, path: str) -> H5Array:
        """A lazy array for the dataset at ``path``, checked to lie within the file."""
        try:
            if self.lite:
                info = _lite_layout(self.file[path])
            else:
                opened = self._opened.get(path)
                info = _layout_of(*opened) if opened is not None else _layout(self.file[path])
        except Exception as err:
            raise InputError(f"{self.display}: cannot read weight {path!r}: {_reason(err)}") from None
        shape, dtype, stored, compressed, plain = info.shape, info.dtype, info.stored, info.filtered, info.plain
        end = None if info.offset is None else info.offset + stored
        needed = math.prod(shape) * dtype.itemsize
        if not compressed and stored < needed:  # unwritten chunks would be invented (fill value), maybe terabytes
            raise InputError(f"{self.display}: weight {path!r} has shape {list(shape)} ({needed} bytes) but the file "
                             f"holds fewer bytes for it ({stored})", hint=CORRUPT_HINT)
        if end is not None and end > self._size:
            raise InputError(f"{self.display} is truncated: weight {path!r} ends at byte {end}, "
                             f"but the file has {self._size} bytes", hint="copy or save the file again")
        return H5Array(self, path, shape, dtype, plain)

    def read(self, path: str) -> np.ndarray:
        """The dataset's values: a mapped view of the file when stored plainly, else read by h5py."""
        try:
            ds = self.file[path]
            if self.lite:
                return self._read_lite(path, _lite_layout(ds))
            offset = plain_offset(ds)
            if offset is not None:
                return self.map(path, offset, tuple(int(d) for d in ds.shape), np.dtype(ds.dtype))
            return np.asarray(ds[()])
        except InputError:
            raise
        except Exception as err:
            raise InputError(f"{self.display}: cannot read weight {path!r}: {_reason(err)}",
                             hint=CORRUPT_HINT) from None

    def _read_lite(self, path: str, info: _Layout) -> np.ndarray:
        """A lite dataset is contiguous: mapped, empty, or never written (refused, as :meth:`dataset` does)."""
        if info.plain is not None:
            return self.map(path, info.plain, info.shape, info.dtype)
        if math.prod(info.shape) == 0:
            return np.empty(info.shape, dtype=info.dtype)
        raise InputError(f"{self.display}: weight {path!r} has shape {list(info.shape)} but the file holds "
                         "no bytes for it", hint=CORRUPT_HINT)

    def map(self, path: str, offset: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A copy-on-write view of the ``shape`` x ``dtype`` bytes at ``offset`` (unmapped when the array
        dies). The range is checked against the file's current size first: mapping past the end would
        crash with SIGBUS on first access instead of raising."""
        where = self.file_range(path, offset, shape, dtype)
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        try:
            view = mmap.mmap(where.fd, offset + where.nbytes - start, access=mmap.ACCESS_COPY, offset=start)
        except (OSError, ValueError) as err:
            raise InputError(f"{self.display}: cannot read weight {path!r}: {_reason(err)}",
                             hint=CORRUPT_HINT) from None
        return np.frombuffer(view, dtype=dtype, count=math.prod(shape), offset=offset - start).reshape(shape)

    def file_range(self, path: str, offset: int, shape: tuple[int, ...], dtype: np.dtype) -> FileRange:
        """Where a plain weight's bytes lie, for the writer to copy them with ``pread``; checked against the
        file's current size first (a file shrunk since opening is an error naming the weight)."""
        nbytes = math.prod(shape) * dtype.itemsize
        try:
            size = os.fstat(self._raw.fileno()).st_size
        except (OSError, ValueError) as err:
            raise InputError(f"{self.display}: cannot read weight {path!r}: {_reason(err)}",
                             hint=CORRUPT_HINT) from None
        if offset + nbytes > size:
            raise InputError(f"{self.display} is truncated: weight {path!r} ends at byte {offset + nbytes}, "
                             f"but the file has {size} bytes", hint="copy or save the file again")
        return FileRange(self._raw.fileno(), offset, nbytes)


class H5Array:
    """A weight that stays in the HDF5 file until the writer asks for it (``tfjsconv.ir.LazyArray``)."""

    def __init__(self, source: H5Source, path: str, shape: tuple[int, ...], dtype: np.dtype,
                 offset: int | None = None) -> None:
        self.source = source
        self.path = path
        self.shape = shape
        self.dtype = dtype
        self.offset = offset  # where the bytes lie plainly in the file (mapped on load), else None

    def load(self) -> np.ndarray:
        if self.offset is not None:
            return self.source.map(self.path, self.offset, self.shape, self.dtype)
        return self.source.read(self.path)

    def file_range(self) -> FileRange | None:
        """Where the bytes lie plainly in the file, for a writer that copies them (``None``: load them)."""
        if self.offset is None:
            return None
        return self.source.file_range(self.path, self.offset, self.shape, self.dtype)

    def __repr__(self) -> str:
        return f"<H5Array {self.path} {self.dtype} {list(self.shape)}>"


class _Layout(NamedTuple):
    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int | None  # where the stored bytes start (None: nothing written, or not in one piece)
    stored: int  # bytes the file holds for the dataset
    filtered: bool  # compressed or otherwise filtered
    plain: int | None  # ``offset`` when the bytes can be mapped as they are, else None


def _layout(ds: Any) -> _Layout:
    """A dataset's storage, read through h5py's low-level API with one property list (the high-level
    properties re-open it for each question: this is per weight on every conversion)."""
    return _layout_of(ds.id, ds.id.get_create_plist())


def _layout_of(dsid: Any, dcpl: Any) -> _Layout:
    """:func:`_layout` from an open dataset id and its creation property list."""
    from h5py import h5d  # already imported: ``dsid`` is an h5py object

    shape, dtype = tuple(int(d) for d in dsid.shape), np.dtype(dsid.dtype)
    offset = dsid.get_offset()  # None when the dataset was never written (fill value only)
    filtered = dcpl.get_nfilters() > 0
    plain = (offset is not None and not filtered and dcpl.get_layout() == h5d.CONTIGUOUS
             and dcpl.get_external_count() == 0 and math.prod(shape) > 0
             and dtype.kind in "iufc" and dtype.fields is None and dtype.subdtype is None)
    return _Layout(shape, dtype, None if offset is None else int(offset), int(dsid.get_storage_size()), filtered,
                   int(offset) if plain else None)


def _lite_layout(ds: Any) -> _Layout:
    """:func:`_layout` of a lite dataset (always contiguous, unfiltered, of plain numbers)."""
    from .h5lite import LiteDataset

    if not isinstance(ds, LiteDataset):
        raise TypeError(f"{ds.name} is a group, not a dataset")
    written = ds.address is not None
    plain = ds.address if written and math.prod(ds.shape) > 0 else None
    return _Layout(ds.shape, ds.dtype, ds.address, ds.size if written else 0, False, plain)


def plain_offset(ds: Any) -> int | None:
    """Where a dataset's bytes start in the file, if they lie there plainly (contiguous, no filter,
    not external, fixed-size numbers, not empty); ``None`` means h5py must read it."""
    from .h5lite import LiteObject

    return _lite_layout(ds).plain if isinstance(ds, LiteObject) else _layout(ds).plain


def _attr(obj: Any, name: str) -> Any:
    """Attribute ``name`` of an h5py object, or None. Fixed-length byte strings (what Keras writes for
    layer and weight names) are read through the low-level API: h5py's ``attrs[...]`` costs several
    times more, and a conversion reads one per layer. Lite objects decoded theirs when the file opened."""
    from .h5lite import LiteObject

    if isinstance(obj, LiteObject):
        return obj.attrs.get(name)
    from h5py import h5a

    key = name.encode("utf-8")
    if not h5a.exists(obj.id, key):
        return None
    attr = h5a.open(obj.id, key)
    dtype = attr.dtype
    if dtype.kind != "S" or dtype.metadata or attr.shape is None:
        return obj.attrs[name]  # variable-length strings, empty ones, anything else: h5py's own reading
    value = np.empty(attr.shape, dtype=dtype)
    attr.read(value)
    return value


def attr_text(obj: Any, name: str) -> str | None:
    """A string attribute, decoded whether h5py returns str or bytes."""
    value = _attr(obj, name)
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def attr_list(obj: Any, name: str) -> list[str] | None:
    """A list-of-strings attribute; Keras splits big ones into ``name0``, ``name1``, ... chunks."""
    whole = _attr(obj, name)
    if whole is not None:
        chunks = [whole]
    else:
        chunks, i = [], 0
        while (chunk := _attr(obj, f"{name}{i}")) is not None:
            chunks.append(chunk)
            i += 1
        if not chunks:
            return None
    return [v.decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v)
            for chunk in chunks for v in np.asarray(chunk).reshape(-1).tolist()]


def _reason(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:300]
