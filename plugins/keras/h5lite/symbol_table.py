"""Old-style groups (what h5py writes by default): a version 1 B-tree of symbol table nodes, names in a local heap.

The links are listed in B-tree order, and that order is checked: names strictly increasing and each
child within its keys' bounds. HDF5 finds a name by binary search over the keys, so a file whose
tree does not hold this order could answer a lookup differently from a listing; such a file is
Unsupported (h5py then reads it its own way).
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import Unsupported
from .file_bytes import UNDEFINED, FileBytes

#: Depth of a group B-tree at most (a Keras group has a few hundred links: depth 1 or 2).
MAX_BTREE_LEVEL = 16
#: Bytes of one link name at most (Keras names are short; HDF5 has no limit, h5py reads longer ones).
MAX_NAME = 1 << 16
_FREE_NULL = 1  # the end of a local heap's free list
_ENTRY = struct.Struct("<QQI4xQQ")  # name offset, object header address, cache type, scratch pad


class Link(NamedTuple):
    name: bytes
    header: int  # object header address
    cache: tuple[int, int] | None  # cached (B-tree, heap) addresses of a group, if the entry has them


class _Heap(NamedTuple):
    data: bytes
    file: FileBytes  # counts the names decoded: a hostile heap can make every name megabytes long

    def name(self, offset: int) -> bytes:
        stop = self.data.find(b"\0", offset, offset + MAX_NAME + 1)
        if offset >= len(self.data) or stop < 0:
            raise Unsupported("name outside the local heap, or too long")
        self.file.spend(stop - offset)
        return self.data[offset:stop]


def read_local_heap(data: FileBytes, address: int, end: int) -> _Heap:
    head = data.get(address, 32) if address + 32 <= end else b""
    if head[:4] != b"HEAP" or head[4] != 0:
        raise Unsupported("local heap")
    size, free, start = struct.unpack_from("<QQQ", head, 8)
    if start + size > end:
        raise Unsupported("local heap data")
    data.claim(address)  # one heap per group
    heap = _Heap(data.get(start, size), data)
    _check_free_list(heap.data, free)
    return heap


def _check_free_list(block: bytes, free: int) -> None:
    """HDF5 refuses a heap whose free list leaves the heap: so does this reader."""
    seen = set()
    while free != _FREE_NULL:
        if free in seen or free + 16 > len(block):
            raise Unsupported("local heap free list")
        seen.add(free)
        next_free, size = struct.unpack_from("<QQ", block, free)
        if free + size > len(block) or size < 16:
            raise Unsupported("local heap free block")
        free = next_free


def read_links(data: FileBytes, btree: int, heap_address: int, *, leaf_k: int, internal_k: int,
               end: int) -> list[Link]:
    """The links of the group whose B-tree and local heap are at ``btree`` and ``heap_address``.

    Every tree node and symbol node is claimed in ``data``: a node reached twice (a cycle, or two
    groups sharing nodes) is Unsupported.
    """
    heap = read_local_heap(data, heap_address, end)
    links: list[Link] = []
    _walk(data, heap, btree, None, None, None, links, leaf_k, internal_k, end)
    for before, after in zip(links, links[1:]):
        if before.name >= after.name:
            raise Unsupported("group names out of order")
    return links


def _walk(data: FileBytes, heap: _Heap, address: int, level: int | None, low: bytes | None, high: bytes | None,
          links: list[Link], leaf_k: int, internal_k: int, end: int) -> None:
    if address == UNDEFINED or address + 24 + 16 * (2 * internal_k) + 8 > end:
        raise Unsupported("B-tree node address")  # HDF5 reads the node's full size, used or not
    data.claim(address)
    head = data.get(address, 24)
    if head[:4] != b"TREE" or head[4] != 0:
        raise Unsupported("group B-tree node")
    node_level, used = head[5], struct.unpack_from("<H", head, 6)[0]
    if (level is not None and node_level != level) or node_level > MAX_BTREE_LEVEL or used > 2 * internal_k:
        raise Unsupported("B-tree node level or size")
    body = data.get(address + 24, 8 + 16 * used) if address + 32 + 16 * used <= end else None
    if body is None:
        raise Unsupported("B-tree node past the end")
    keys = [heap.name(struct.unpack_from("<Q", body, 16 * i)[0]) for i in range(used + 1)]
    if any(a > b for a, b in zip(keys, keys[1:])):
        raise Unsupported("B-tree keys out of order")
    for i in range(used):
        child = struct.unpack_from("<Q", body, 16 * i + 8)[0]
        lo, hi = keys[i], keys[i + 1]
        if (low is not None and lo < low) or (high is not None and hi > high):
            raise Unsupported("B-tree keys outside their parent's")
        if node_level:
            _walk(data, heap, child, node_level - 1, lo, hi, links, leaf_k, internal_k, end)
        else:
            _read_symbol_node(data, heap, child, lo, hi, links, leaf_k, end)


def _read_symbol_node(data: FileBytes, heap: _Heap, address: int, low: bytes, high: bytes, links: list[Link],
                      leaf_k: int, end: int) -> None:
    if address + 8 + 40 * (2 * leaf_k) > end:
        raise Unsupported("symbol node address")  # HDF5 reads the node's full size, used or not
    data.claim(address)
    head = data.get(address, 8)
    count = struct.unpack_from("<H", head, 6)[0]
    if head[:4] != b"SNOD" or head[4] != 1 or count > 2 * leaf_k or address + 8 + 40 * count > end:
        raise Unsupported("symbol node")
    body = data.get(address + 8, 40 * count)
    for i in range(count):
        name_offset, header, cache_type, scratch1, scratch2 = _ENTRY.unpack_from(body, 40 * i)
        name = heap.name(name_offset)
        if not low < name <= high:  # where HDF5's binary search over the keys would look for it
            raise Unsupported("name outside its B-tree keys")
        if cache_type == 0:
            cache = None
        elif cache_type == 1:
            cache = (scratch1, scratch2)
        else:  # 2: a soft link (the h5py path checks where it points)
            raise Unsupported("soft link or unknown cache type")
        if header == UNDEFINED:
            raise Unsupported("link without an object")
        links.append(Link(name, header, cache))
