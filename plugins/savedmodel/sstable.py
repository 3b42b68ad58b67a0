"""Read an SSTable (TensorFlow's ``lib/io/table`` format, LevelDB's layout): the ``variables.index`` file.

Layout, from the end: a 48-byte footer (varint handles of the metaindex and index blocks, padding,
then the magic number 0xdb4775248b80fb57 as a little-endian fixed64); the index block maps the
last key of each data block to that block's handle (varint64 offset, varint64 size). Every block
is followed by a 5-byte trailer: a compression byte (0 none, 1 snappy) and the masked CRC-32C of
the block and that byte. A block holds entries (varint shared key length, varint unshared length,
varint value length, the unshared key bytes, the value), then restart offsets (fixed32 each) and
their count (fixed32); keys are prefix-compressed against the previous entry.

Index files are small (names and a few protobuf fields per variable), so the whole table is read
in one pass; every length is checked and any inconsistency is a :class:`TableError`.
"""
from __future__ import annotations

from collections.abc import Iterator

from tfjsconv.varint import read_varint

from . import crc32c, snappy

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
TRAILER_SIZE = 5
NO_COMPRESSION, SNAPPY = 0, 1


class TableError(ValueError):
    """The file is not a well-formed SSTable (truncated, corrupt, or something else entirely)."""


def _varint(data: bytes, pos: int, limit: int) -> tuple[int, int]:
    return read_varint(data, pos, limit, error=TableError, message="a varint runs past the end of its block")


def block_handle(data: bytes, pos: int, limit: int) -> tuple[tuple[int, int], int]:
    """(offset, size) of a block, and the position after its encoding."""
    offset, pos = _varint(data, pos, limit)
    size, pos = _varint(data, pos, limit)
    return (offset, size), pos


def read_block(data: bytes, handle: tuple[int, int], what: str) -> bytes:
    """A block's contents, checked against its trailer's CRC and decompressed."""
    offset, size = handle
    if offset + size + TRAILER_SIZE > len(data):
        raise TableError(f"the {what} block ({offset}+{size}) runs past the end of the file ({len(data)} bytes)")
    contents = data[offset:offset + size]
    kind = data[offset + size]
    stored = int.from_bytes(data[offset + size + 1:offset + size + TRAILER_SIZE], "little")
    actual = crc32c.extend(crc32c.value(contents), bytes([kind]))
    if crc32c.unmask(stored) != actual:
        raise TableError(f"the {what} block at offset {offset} fails its checksum")
    if kind == NO_COMPRESSION:
        return contents
    if kind == SNAPPY:
        try:
            return snappy.decompress(contents)
        except ValueError as err:
            raise TableError(f"the {what} block at offset {offset} is not valid snappy data ({err})") from None
    raise TableError(f"the {what} block at offset {offset} has an unknown compression type {kind}")


def block_entries(block: bytes, what: str) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of every entry in a block, keys expanded from their shared prefixes."""
    if len(block) < 4:
        raise TableError(f"the {what} block is too short to hold its restart count")
    restarts = int.from_bytes(block[-4:], "little")
    limit = len(block) - 4 * (restarts + 1)
    if restarts == 0 and len(block) > 4 or limit < 0:
        raise TableError(f"the {what} block has a bad restart count {restarts}")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos, limit)
        unshared, pos = _varint(block, pos, limit)
        value_size, pos = _varint(block, pos, limit)
        if shared > len(key) or pos + unshared + value_size > limit:
            raise TableError(f"an entry of the {what} block runs past the block's end")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + value_size]
        pos += value_size


def read_table(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of every entry of the table held in ``data``, in key order."""
    if len(data) < FOOTER_SIZE:
        raise TableError(f"the file is {len(data)} bytes, shorter than an SSTable footer ({FOOTER_SIZE})")
    footer = data[-FOOTER_SIZE:]
    magic = int.from_bytes(footer[-8:], "little")
    if magic != MAGIC:
        raise TableError(f"bad footer magic {magic:#018x} (an SSTable ends with {MAGIC:#018x}); "
                         "the file is truncated or not an index")
    _, pos = block_handle(footer, 0, FOOTER_SIZE - 8)
    index_handle, _ = block_handle(footer, pos, FOOTER_SIZE - 8)
    index = read_block(data, index_handle, "index")
    for _, handle_bytes in block_entries(index, "index"):
        handle, _ = block_handle(handle_bytes, 0, len(handle_bytes))
        yield from block_entries(read_block(data, handle, "data"), "data")
