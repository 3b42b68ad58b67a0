"""Global heap collections: where variable-length strings (h5py's ``str`` attributes) keep their bytes."""
from __future__ import annotations

import struct

from .errors import Unsupported
from .file_bytes import FileBytes

_MIN_COLLECTION = 4096  # HDF5 collections are at least this big
#: Bytes of global heap collections parsed from one file at most (all collections together).
MAX_COLLECTION = 64 << 20


class GlobalHeap:
    """Objects of the global heap collections of one file, each collection parsed once when first used."""

    def __init__(self, data: FileBytes, end: int) -> None:
        self._data = data
        self._end = end
        self._collections: dict[int, dict[int, bytes]] = {}
        self._parsed = 0

    def object(self, address: int, index: int) -> bytes:
        """The bytes of one object, counted as decoded (a string repeated many times is work each time)."""
        collection = self._collections.get(address)
        if collection is None:
            collection = self._collections[address] = self._parse(address)
        try:
            found = collection[index]
        except KeyError:
            raise Unsupported("no such global heap object") from None
        self._data.spend(len(found))
        return found

    def _parse(self, address: int) -> dict[int, bytes]:
        head = self._data.get(address, 16) if address + 16 <= self._end else b""
        if head[:4] != b"GCOL" or head[4] != 1:
            raise Unsupported("global heap collection")
        size = struct.unpack_from("<Q", head, 8)[0]
        self._parsed += size
        if size < _MIN_COLLECTION or self._parsed > MAX_COLLECTION or address + size > self._end:
            raise Unsupported("global heap collection size")
        self._data.claim(address)
        block = self._data.get(address, size)
        objects: dict[int, bytes] = {}
        pos = 16
        while pos + 16 <= size:
            index, _refs, length = struct.unpack_from("<HH4xQ", block, pos)
            if index == 0:  # free space: the rest of the collection, its own header included
                if pos + length != size:
                    raise Unsupported("global heap free space")
                break
            start = pos + 16
            if start + (length + 7) // 8 * 8 > size or index in objects:
                raise Unsupported("global heap object")
            objects[index] = block[start:start + length]
            pos = start + (length + 7) // 8 * 8
        return objects
