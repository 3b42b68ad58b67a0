"""The version 0 superblock (what h5py writes by default): where the root group's object header is.

Only the plainest form is read: signature at byte 0 (no user block), 8-byte offsets and lengths, base
address 0, no driver information block, and an end-of-file address the file really reaches.
"""
from __future__ import annotations

from typing import NamedTuple

from .errors import Unsupported
from .file_bytes import UNDEFINED, FileBytes

SIGNATURE = b"\x89HDF\r\n\x1a\n"


class Superblock(NamedTuple):
    root_header: int  # address of the root group's object header
    root_cache: tuple[int, int] | None  # the root entry's cached (B-tree, local heap) addresses, if any
    leaf_k: int  # symbol table nodes hold up to 2 * leaf_k entries
    internal_k: int  # group B-tree nodes hold up to 2 * internal_k children
    end: int  # end-of-file address: no structure lies beyond it


def read_superblock(data: FileBytes) -> Superblock:
    head = data.get(0, 24)
    if head[:8] != SIGNATURE:
        raise Unsupported("no HDF5 signature at byte 0")
    version, free_space_version, root_entry_version, _, shared_version, size_offsets, size_lengths = head[8:15]
    if version or free_space_version or root_entry_version or shared_version or (size_offsets, size_lengths) != (8, 8):
        raise Unsupported("superblock version or sizes")
    leaf_k, internal_k = data.u16(16), data.u16(18)
    if not leaf_k or not internal_k or data.u32(20) != 0:  # consistency flags: set while a writer has it open
        raise Unsupported("superblock K values or flags")
    base, free_space, end, driver = data.u64(24), data.u64(32), data.u64(40), data.u64(48)
    if base != 0 or free_space != UNDEFINED or driver != UNDEFINED or end > data.size or end < 96:
        raise Unsupported("superblock addresses")
    _name_offset, header, cache_type = data.u64(56), data.u64(64), data.u32(72)
    if cache_type == 1:
        cache = (data.u64(80), data.u64(88))
    elif cache_type == 0:
        cache = None
    else:
        raise Unsupported("root entry cache type")
    return Superblock(header, cache, leaf_k, internal_k, end)
