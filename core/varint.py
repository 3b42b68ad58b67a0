"""Little-endian base-128 varints: the protobuf wire format, snappy's length preamble, and LevelDB
table block handles all use them, so the readers share one checked decoder."""
from __future__ import annotations


def read_varint(data: bytes, pos: int, limit: int | None = None, *, max_shift: int = 63,
                error: type[ValueError] = ValueError, message: str = "bad varint") -> tuple[int, int]:
    """The varint at ``pos`` (before ``limit``) and the position after it; ``error(message)`` if it
    runs past ``limit`` or is longer than ``max_shift`` allows."""
    limit = len(data) if limit is None else limit
    result = shift = 0
    while True:
        if pos >= limit or shift > max_shift:
            raise error(message)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
