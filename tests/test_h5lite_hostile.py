"""Hostile HDF5 files, written byte by byte, that h5py reads (or refuses) but that would make the lite
reader answer differently or do far more work than the file's size suggests: it must step aside
(``Unsupported``; ``H5Source`` then reads the file with h5py) instead.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest

from test_h5lite import h5py_snapshot, lite_snapshot
from tfjsconv.plugins.keras.h5lite import Unsupported, read_tree

UNDEFINED = 0xFFFF_FFFF_FFFF_FFFF
LEAF_K = INTERNAL_K = 16


class _File:
    """A superblock 0 file with 8-byte offsets, its structures appended one after another."""

    def __init__(self) -> None:
        self.buf = bytearray(96)  # the superblock, written last

    def add(self, data: bytes) -> int:
        self.buf += bytes(-len(self.buf) % 8)
        address = len(self.buf)
        self.buf += data
        return address

    def save(self, path: Path, root: int, *, leaf_k: int = LEAF_K) -> Path:
        head = b"\x89HDF\r\n\x1a\n" + bytes([0, 0, 0, 0, 0, 8, 8, 0]) + struct.pack("<HHI", leaf_k, INTERNAL_K, 0)
        head += struct.pack("<QQQQ", 0, UNDEFINED, len(self.buf), UNDEFINED)
        head += struct.pack("<QQI4x16x", 0, root, 0)
        self.buf[:96] = head
        path.write_bytes(self.buf)
        return path


def _message(kind: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 8)
    return struct.pack("<HHB3x", kind, len(body), 0) + body


def _header(messages: list[bytes], count: int | None = None) -> bytes:
    blob = b"".join(messages)
    return struct.pack("<BBHII4x", 1, 0, len(messages) if count is None else count, 1, len(blob)) + blob


def _dataset(f: _File, *, extra: tuple[bytes, ...] = (), count: int | None = None) -> int:
    """A float32 dataset of shape (1,) holding 1.5, its own bytes included."""
    data = f.add(struct.pack("<f4x", 1.5))
    space = _message(0x01, bytes([1, 1, 0, 0, 0, 0, 0, 0]) + struct.pack("<Q", 1))
    dtype = _message(0x03, bytes([0x11, 0x20, 0x1F, 0]) + struct.pack("<IHHBBBBI", 4, 0, 32, 23, 8, 0, 23, 127))
    layout = _message(0x08, bytes([3, 1]) + struct.pack("<QQ", data, 4))
    messages = [space, dtype, layout, *extra]
    return f.add(_header(messages, len(messages) if count is None else count))


def _int_attribute(name: bytes) -> bytes:
    """A version 1 attribute message: a scalar int32 7 named ``name``."""
    name += b"\0"
    return _message(0x0C, struct.pack("<BBHHH", 1, 0, len(name), 12, 8) + name + bytes(-len(name) % 8)
                    + bytes([0x10, 0x08, 0, 0]) + struct.pack("<IHH4x", 4, 0, 32)
                    + bytes([1, 0, 0, 0, 0, 0, 0, 0]) + struct.pack("<i4x", 7))


def _group(f: _File, heap: bytes, entries: list[tuple[int, int]], *, leaf_k: int = LEAF_K,
           heap_at: int | None = None) -> int:
    """A symbol-table group: local heap ``heap`` (names), one symbol node of ``(name offset, header)``."""
    if heap_at is None:
        heap += bytes(-len(heap) % 8)
        segment = f.add(heap)
        heap_at = f.add(b"HEAP" + bytes(4) + struct.pack("<QQQ", len(heap), 1, segment))
    body = b"".join(struct.pack("<QQI4x16x", name, header, 0) for name, header in entries)
    node = f.add(b"SNOD\x01\x00" + struct.pack("<H", len(entries)) + body + bytes(40 * 2 * leaf_k - len(body)))
    keys_children = struct.pack("<QQQ", 0, node, entries[-1][0]) + bytes(16 * 2 * INTERNAL_K - 16)
    tree = f.add(b"TREE\x00\x00" + struct.pack("<HQQ", 1, UNDEFINED, UNDEFINED) + keys_children)
    return f.add(_header([_message(0x11, struct.pack("<QQ", tree, heap_at))]))


def _names(count: int) -> tuple[bytes, list[int]]:
    heap, offsets = b"\0", []
    for i in range(count):
        offsets.append(len(heap))
        heap += b"d%05d\0" % i
    return heap, offsets


def _read(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        read_tree(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def test_the_hand_written_files_are_read_as_h5py_reads_them(tmp_path):
    """The writer above makes files both readers agree on: the refusals below are the hostile parts."""
    f = _File()
    heap, offsets = _names(3)
    root = _group(f, heap, [(offset, _dataset(f)) for offset in offsets])
    path = f.save(tmp_path / "plain.h5", root)
    assert lite_snapshot(path) == h5py_snapshot(path)
    with h5py.File(path, "r") as h5:
        assert h5["d00001"][()].tolist() == [1.5]


def test_names_that_overlap_in_the_local_heap_are_bounded(tmp_path):
    """Every name is a suffix of one long run of bytes: a 1.5 MB file would decode 72 MB of names
    (hundreds of MB with more entries); the names decoded from one file are budgeted."""
    count = 12_000
    heap = b"\0" + b"a" * count + b"b\0"  # the name at 1 + i is a^(count - i) b: increasing with i
    f = _File()
    entries = [(1 + i, _dataset(f)) for i in range(count)]
    root = _group(f, heap, entries, leaf_k=count // 2 + 1)
    path = f.save(tmp_path / "names.h5", root, leaf_k=count // 2 + 1)
    with pytest.raises(Unsupported, match="names and strings"):
        _read(path)


def test_a_continuation_block_shared_by_headers_is_refused(tmp_path):
    """Each header would read (and decode) the shared block again: N headers, N times the work. And
    HDF5 gives the block to the first header only (h5py lists no attribute on the second dataset),
    so reading it for both was also a different answer (a layout message there: a different dataset)."""
    f = _File()
    attribute = _int_attribute(b"a")
    block = f.add(attribute)
    continuation = _message(0x10, struct.pack("<QQ", block, len(attribute)))
    heap, offsets = _names(2)
    root = _group(f, heap, [(offset, _dataset(f, extra=(continuation,), count=5)) for offset in offsets])
    path = f.save(tmp_path / "shared.h5", root)
    assert h5py_snapshot(path)["members"]["d00000"]["attrs"] == [("a", ("int32", "<i4", b"\7\0\0\0"))]
    with pytest.raises(Unsupported, match="reached twice"):
        _read(path)


def test_continuation_blocks_overlapping_each_other_are_bounded(tmp_path):
    """Header k continues 8 bytes further into one run of empty NIL messages then 1200 attributes: no
    block shares an address, yet each header decodes nearly the whole run (300 headers: 360 000
    attributes from a 160 KB file). The metadata read is budgeted to a few times the file's size."""
    headers, attributes = 300, 1200
    f = _File()
    run = _message(0x00, b"") * headers + b"".join(_int_attribute(b"a%05d" % i) for i in range(attributes))
    start = f.add(run)
    heap, offsets = _names(headers)
    entries = []
    for k, offset in enumerate(offsets):
        continuation = _message(0x10, struct.pack("<QQ", start + 8 * k, len(run) - 8 * k))
        entries.append((offset, _dataset(f, extra=(continuation,), count=4 + headers - k + attributes)))
    root = _group(f, heap, entries, leaf_k=headers // 2 + 1)
    path = f.save(tmp_path / "overlap.h5", root, leaf_k=headers // 2 + 1)
    with h5py.File(path, "r") as h5:
        assert len(h5["d00299"].attrs) == attributes
    with pytest.raises(Unsupported, match="too much metadata"):
        _read(path)


def test_a_continuation_into_the_superblock_is_refused_as_hdf5_refuses_it(tmp_path):
    """Found by fuzzing a Keras file: a NIL message turned into a continuation to address 0, length 0
    (HDF5: "ring type mismatch", the superblock is there)."""
    f = _File()
    heap, offsets = _names(1)
    empty = _message(0x10, struct.pack("<QQ", 0, 0))
    root = _group(f, heap, [(offsets[0], _dataset(f, extra=(empty,)))])
    path = f.save(tmp_path / "empty.h5", root)
    with pytest.raises(Exception):  # noqa: B017 - HDF5's own refusal, whatever its type
        h5py_snapshot(path)
    with pytest.raises(Unsupported):
        _read(path)


def test_a_local_heap_shared_by_groups_is_refused(tmp_path):
    """Each group would read the whole heap again (two groups of one heap are no file HDF5 writes)."""
    f = _File()
    heap, offsets = _names(1)
    heap += bytes(-len(heap) % 8)
    heap_at = f.add(b"HEAP" + bytes(4) + struct.pack("<QQQ", len(heap), 1, f.add(heap)))
    inner = [_group(f, b"", [(offsets[0], _dataset(f))], heap_at=heap_at) for _ in range(2)]
    outer_heap = b"\0g1\0g2\0"
    root = _group(f, outer_heap, [(1, inner[0]), (4, inner[1])])
    path = f.save(tmp_path / "heap.h5", root)
    assert h5py_snapshot(path)["keys"] == ["g1", "g2"]
    with pytest.raises(Unsupported, match="reached twice"):
        _read(path)


def test_one_string_repeated_in_an_attribute_is_bounded(tmp_path):
    """100 variable-length strings all naming one 1 MB global heap object: 100 MB from a 1 MB file."""
    f = _File()
    text = b"x" * (1 << 20)
    collection = b"GCOL\x01" + bytes(3) + struct.pack("<Q", 16 + 16 + len(text) + 16 * 2)
    collection += struct.pack("<HH4xQ", 1, 1, len(text)) + text + struct.pack("<HH4xQ", 0, 0, 16 * 2) + bytes(16)
    heap_at = f.add(collection)
    vlen = bytes([0x19, 0x01, 0x01, 0]) + struct.pack("<I", 16) + bytes([0x10, 0, 0, 0]) + struct.pack("<IHH", 1, 0, 8)
    refs = struct.pack("<IQI", len(text), heap_at, 1) * 100
    space = bytes([1, 1, 0, 0, 0, 0, 0, 0]) + struct.pack("<Q", 100)
    attribute = _message(0x0C, struct.pack("<BBHHH", 1, 0, 2, len(vlen), len(space)) + b"s\0" + bytes(6)
                         + vlen + bytes(-len(vlen) % 8) + space + refs)
    heap, offsets = _names(1)
    root = _group(f, heap, [(offsets[0], _dataset(f, extra=(attribute,)))])
    path = f.save(tmp_path / "strings.h5", root)
    with h5py.File(path, "r") as h5:
        assert h5["d00000"].attrs["s"].shape == (100,)
    with pytest.raises(Unsupported, match="names and strings"):
        _read(path)


def test_attributes_are_listed_in_h5py_order(tmp_path):
    """h5py lists attributes by name, not in the order they were written (their messages' order)."""
    path = tmp_path / "order.h5"
    with h5py.File(path, "w") as h5:
        for name in ("zeta", "alpha", "Mid", "b10", "b2"):
            h5.attrs[name] = np.int32(len(name))
    with h5py.File(path, "r") as h5:
        expected = list(h5.attrs.keys())
    fd = os.open(path, os.O_RDONLY)
    try:
        assert list(read_tree(fd, os.fstat(fd).st_size).attrs.keys()) == expected
    finally:
        os.close(fd)
