"""Snappy block decompression (the raw format, not the framed one), for compressed SSTable blocks.

TensorFlow's table writer may snappy-compress the blocks of ``variables.index``; this pure-Python
decoder follows the public format description: a varint of the uncompressed length, then
literals and back-references (copies) with 1-, 2- or 4-byte offsets. Index blocks are small, so
speed matters little; every length and offset is checked, and a bad stream is a ValueError.
"""
from __future__ import annotations

from tfjsconv.varint import read_varint


def decompress(data: bytes) -> bytes:
    """The bytes that ``data`` (one raw snappy block) encodes."""
    data = bytes(data)
    size, pos = read_varint(data, 0, max_shift=28, message="snappy: bad length preamble")
    out = bytearray()
    end = len(data)
    while pos < end:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                if pos + extra > end:
                    raise ValueError("snappy: truncated literal length")
                length = int.from_bytes(data[pos:pos + extra], "little")
                pos += extra
            length += 1
            if pos + length > end:
                raise ValueError("snappy: literal runs past the end of the block")
            out += data[pos:pos + length]
            pos += length
            continue
        if kind == 1:
            if pos + 1 > end:
                raise ValueError("snappy: truncated copy")
            length = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        else:
            width = 2 if kind == 2 else 4
            if pos + width > end:
                raise ValueError("snappy: truncated copy")
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[pos:pos + width], "little")
            pos += width
        if offset == 0 or offset > len(out):
            raise ValueError(f"snappy: copy offset {offset} outside the {len(out)} bytes decoded so far")
        start = len(out) - offset
        if offset >= length:
            out += out[start:start + length]
        else:  # overlapping copy: the pattern repeats
            pattern = bytes(out[start:])
            out += (pattern * (length // offset + 1))[:length]
        if len(out) > size:
            raise ValueError("snappy: more bytes than the declared length")
    if len(out) != size:
        raise ValueError(f"snappy: decoded {len(out)} bytes, the block declares {size}")
    return bytes(out)
