"""The whole object tree of a file, read once when it is opened, behind the small h5py-like surface
the Keras frontends use (``in``, ``[path]``, ``get``, ``keys``, ``len``, ``attrs``, ``visititems``;
datasets' ``shape``, ``dtype`` and where their bytes lie).

Everything is read and checked up front, so a file is either fully understood when it opens, or
:class:`Unsupported` before any reader saw it. Objects are reached once each: an object linked
twice, or a group containing itself, is Unsupported (Keras never writes either).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .attribute import read_attribute
from .datatype import read_datatype
from .dataspace import read_dataspace
from .errors import Unsupported
from .file_bytes import FileBytes
from .fill_value import check_fill_value
from .global_heap import GlobalHeap
from .layout import read_layout
from .object_header import read_object_header
from .superblock import Superblock, read_superblock
from .symbol_table import read_links

#: Objects (groups and datasets) in one file at most, and how deep groups may nest.
MAX_OBJECTS = 1_000_000
MAX_DEPTH = 64

_DATASPACE, _DATATYPE, _FILL_OLD, _FILL, _LAYOUT = 0x01, 0x03, 0x04, 0x05, 0x08
_ATTRIBUTE, _CONTINUATION, _STAB, _NIL, _COMMENT, _MTIME_OLD, _MTIME = 0x0C, 0x10, 0x11, 0x00, 0x0D, 0x0E, 0x12
#: Messages that change nothing the Keras readers ask about.
_IGNORED = {_NIL, _FILL_OLD, _FILL, _COMMENT, _MTIME_OLD, _MTIME, _CONTINUATION}


class LiteAttributes:
    """An object's attributes, decoded as h5py's ``attrs[name]`` returns them."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def keys(self) -> list[str]:
        return list(self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class LiteObject:
    def __init__(self, name: str, attrs: LiteAttributes) -> None:
        self.name = name  # the absolute path, as h5py's ``obj.name``
        self.attrs = attrs


class LiteDataset(LiteObject):
    """A dataset stored contiguously (or not yet written), of a plain numeric type."""

    def __init__(self, name: str, attrs: LiteAttributes, shape: tuple[int, ...], dtype: np.dtype,
                 address: int | None, size: int) -> None:
        super().__init__(name, attrs)
        self.shape = shape
        self.dtype = dtype
        self.address = address  # where the bytes start; None when never written
        self.size = size  # the declared bytes (= shape x itemsize)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<LiteDataset {self.name} {self.dtype} {list(self.shape)}>"


class LiteGroup(LiteObject):
    def __init__(self, name: str, attrs: LiteAttributes, root: LiteGroup | None) -> None:
        super().__init__(name, attrs)
        self.links: dict[str, LiteObject] = {}  # in HDF5's (name) order
        self._root = root or self

    def _resolve(self, path: str) -> LiteObject | None:
        obj: LiteObject = self._root if path.startswith("/") else self
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if not isinstance(obj, LiteGroup):
                return None
            found = obj.links.get(part)
            if found is None:
                return None
            obj = found
        return obj

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and path != "" and self._resolve(path) is not None

    def __getitem__(self, path: str) -> Any:
        found = self._resolve(path) if isinstance(path, str) and path else None
        if found is None:
            raise KeyError(f"Unable to open object (object '{path}' doesn't exist)")
        return found

    def get(self, path: str, default: Any = None) -> Any:
        found = self._resolve(path) if isinstance(path, str) and path else None
        return default if found is None else found

    def keys(self) -> list[str]:
        return list(self.links)

    def values(self) -> list[LiteObject]:
        return list(self.links.values())

    def items(self) -> list[tuple[str, LiteObject]]:
        return list(self.links.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self.links)

    def __len__(self) -> int:
        return len(self.links)

    def visititems(self, func: Callable[[str, Any], Any]) -> Any:
        """As h5py's: every object below, depth first in name order, until ``func`` returns something."""
        stack: list[tuple[str, LiteObject]] = [(name, obj) for name, obj in reversed(self.links.items())]
        while stack:
            name, obj = stack.pop()
            result = func(name, obj)
            if result is not None:
                return result
            if isinstance(obj, LiteGroup):
                stack += [(f"{name}/{child}", sub) for child, sub in reversed(obj.links.items())]
        return None

    def __repr__(self) -> str:
        return f"<LiteGroup {self.name} ({len(self.links)} members)>"


def read_tree(fd: int, size: int) -> LiteGroup:
    """The root group of the HDF5 file open as ``fd`` (``size`` bytes), or Unsupported."""
    return _TreeReader(FileBytes(fd, size)).read()


class _TreeReader:
    def __init__(self, data: FileBytes) -> None:
        self.data = data
        self.sb: Superblock = read_superblock(data)
        self.heap = GlobalHeap(data, self.sb.end)
        self.objects = 0

    def read(self) -> LiteGroup:
        root = self._object(self.sb.root_header, "/", None, self.sb.root_cache, 0)
        if not isinstance(root, LiteGroup):
            raise Unsupported("the root is not a group")
        return root

    def _object(self, address: int, name: str, root: LiteGroup | None, cache: tuple[int, int] | None,
                depth: int) -> LiteObject:
        self.objects += 1
        if self.objects > MAX_OBJECTS or depth > MAX_DEPTH:
            raise Unsupported("too many objects or too deep")
        header = read_object_header(self.data, address, self.sb.end)
        if header.refcount != 1:
            raise Unsupported("object with several hard links")
        by_type: dict[int, list[bytes]] = {}
        for message in header.messages:
            by_type.setdefault(message.type, []).append(message.data)
        unknown = set(by_type) - _IGNORED - {_DATASPACE, _DATATYPE, _LAYOUT, _ATTRIBUTE, _STAB}
        if unknown:
            raise Unsupported(f"object header messages {sorted(unknown)}")  # filters, links, external files...
        for body in by_type.get(_FILL, []):
            check_fill_value(body, old=False)
        for body in by_type.get(_FILL_OLD, []):
            check_fill_value(body, old=True)
        attrs = self._attributes(by_type.get(_ATTRIBUTE, []))
        if _STAB in by_type:
            if len(by_type[_STAB]) != 1 or set(by_type) & {_DATASPACE, _DATATYPE, _LAYOUT}:
                raise Unsupported("group messages")
            return self._group(by_type[_STAB][0], name, attrs, root, cache, depth)
        if cache is not None:
            raise Unsupported("cached group addresses on a non-group")
        return self._dataset(by_type, name, attrs)

    def _attributes(self, bodies: list[bytes]) -> LiteAttributes:
        values: dict[str, Any] = {}
        for body in bodies:
            raw_name, value = read_attribute(body, self.heap)
            try:
                name = raw_name.decode("utf-8")
            except UnicodeDecodeError:
                raise Unsupported("attribute name not UTF-8") from None
            if name in values:
                raise Unsupported("duplicate attribute")
            values[name] = value
        # h5py lists attributes by name (byte order), not in the order of their messages
        return LiteAttributes(dict(sorted(values.items(), key=lambda item: item[0].encode("utf-8"))))

    def _group(self, stab: bytes, name: str, attrs: LiteAttributes, root: LiteGroup | None,
               cache: tuple[int, int] | None, depth: int) -> LiteGroup:
        if len(stab) < 16:
            raise Unsupported("symbol table message")
        btree, heap = int.from_bytes(stab[:8], "little"), int.from_bytes(stab[8:16], "little")
        if cache is not None and cache != (btree, heap):
            raise Unsupported("cached group addresses disagree with the group")
        group = LiteGroup(name, attrs, root)
        sb = self.sb
        for link in read_links(self.data, btree, heap, leaf_k=sb.leaf_k, internal_k=sb.internal_k, end=sb.end):
            try:
                key = link.name.decode("utf-8")
            except UnicodeDecodeError:
                raise Unsupported("link name not UTF-8") from None
            if "/" in key or key == ".":  # a name no path can reach
                raise Unsupported("link name")
            path = f"{name.rstrip('/')}/{key}"
            group.links[key] = self._object(link.header, path, group._root, link.cache, depth + 1)
        return group

    def _dataset(self, by_type: dict[int, list[bytes]], name: str, attrs: LiteAttributes) -> LiteDataset:
        if any(len(by_type.get(kind, ())) != 1 for kind in (_DATASPACE, _DATATYPE, _LAYOUT)):
            raise Unsupported("neither a plain dataset nor a group")
        shape = read_dataspace(by_type[_DATASPACE][0])
        datatype = read_datatype(by_type[_DATATYPE][0])
        if datatype.kind != "number":
            raise Unsupported("dataset of strings")
        layout = read_layout(by_type[_LAYOUT][0])
        if layout.size != math.prod(shape) * datatype.size:
            raise Unsupported("layout size disagrees with the shape")
        if layout.address is not None and layout.address + layout.size > self.sb.end:
            raise Unsupported("dataset past the end of the file")
        return LiteDataset(name, attrs, shape, datatype.dtype, layout.address, layout.size)
