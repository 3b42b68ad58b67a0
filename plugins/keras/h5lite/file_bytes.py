"""Bounds-checked little-endian reads of a file's metadata, one cached page at a time.

Metadata is read with ``os.pread`` into a small page cache rather than mapped: a file that shrinks
while it is read then gives a short read (:class:`Unsupported`), never a SIGBUS.

A hostile file can make a reader do far more work than its size suggests (structures pointing at the
same bytes from many places, names or strings reused many times): every structure is claimed once
(:meth:`FileBytes.claim`), and the bytes read and decoded are budgeted, so the work stays bounded.
"""
from __future__ import annotations

import os
import struct

from .errors import Unsupported

UNDEFINED = 0xFFFF_FFFF_FFFF_FFFF  # the "undefined address" of 8-byte offsets
_PAGE = 1 << 14
#: Metadata bytes handed out for one file at most (a Keras file's metadata is a few MB at most:
#: ResNet50's is 0.3 MB), and at most a few times the file's size: the structures of a valid file do
#: not overlap, so each byte is read about once (twice for the heads read before their bodies); a
#: hostile file whose structures overlap (object header blocks starting 8 bytes apart, each re-read
#: by its own header) stops here after work proportional to its size.
MAX_METADATA_BYTES = 256 << 20
_READS_PER_FILE_BYTE = 4
_READS_SLACK = 1 << 20
#: Bytes of names and strings decoded from one file at most (a Keras config is a few MB at most).
MAX_DECODED_BYTES = 64 << 20
#: The version 0 superblock (8-byte offsets): no other structure lies in it.
SUPERBLOCK_BYTES = 96

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class FileBytes:
    """Reads ranges of an open file, refusing any range outside it."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self._pages: dict[int, bytes] = {}
        self._read = 0
        self._read_limit = min(MAX_METADATA_BYTES, _READS_PER_FILE_BYTE * size + _READS_SLACK)
        self._decoded = 0
        self._claimed: set[int] = set()

    def claim(self, address: int) -> None:
        """Mark the structure at ``address`` as read: HDF5 refuses a file whose structures share an
        address (its cache holds one object per address), and so does this reader."""
        if address < SUPERBLOCK_BYTES or address in self._claimed:
            raise Unsupported(f"structure at {address} reached twice or inside the superblock")
        self._claimed.add(address)

    def spend(self, length: int) -> None:
        """Count ``length`` bytes of names or strings decoded from the file."""
        self._decoded += length
        if self._decoded > MAX_DECODED_BYTES:
            raise Unsupported("too many names and strings")

    def get(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (Unsupported when the range leaves the file)."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise Unsupported(f"range {offset}+{length} outside the file")
        self._read += length  # every byte handed out, cached or not: repeated reads are work too
        if self._read > self._read_limit:
            raise Unsupported("too much metadata")
        first, last = offset // _PAGE, (offset + length - 1) // _PAGE if length else offset // _PAGE
        if first == last:
            page = self._page(first)
            start = offset - first * _PAGE
            return page[start:start + length]
        if length > _PAGE * 4:  # a big block (a long attribute): read it once, uncached
            return self._pread(offset, length)
        joined = b"".join(self._page(i) for i in range(first, last + 1))
        start = offset - first * _PAGE
        return joined[start:start + length]

    def u16(self, offset: int) -> int:
        return _U16.unpack(self.get(offset, 2))[0]

    def u32(self, offset: int) -> int:
        return _U32.unpack(self.get(offset, 4))[0]

    def u64(self, offset: int) -> int:
        return _U64.unpack(self.get(offset, 8))[0]

    def _page(self, index: int) -> bytes:
        page = self._pages.get(index)
        if page is None:
            start = index * _PAGE
            page = self._pread(start, min(_PAGE, self.size - start))
            self._pages[index] = page
        return page

    def _pread(self, offset: int, length: int) -> bytes:
        try:
            data = os.pread(self.fd, length, offset)
        except OSError as err:
            raise Unsupported(str(err)) from None
        if len(data) != length:
            raise Unsupported("short read (the file changed?)")
        return data
