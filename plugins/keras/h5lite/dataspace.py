"""Dataspace messages: an object's shape (scalar or simple; the null dataspace is Unsupported)."""
from __future__ import annotations

import struct

from .errors import Unsupported

MAX_RANK = 32  # HDF5's own limit


def read_dataspace(body: bytes) -> tuple[int, ...]:
    """The current dimensions (``()`` for a scalar)."""
    if len(body) < 8:
        raise Unsupported("dataspace too short")
    version, rank, flags = body[0], body[1], body[2]
    if version == 1:
        start, kind = 8, (1 if rank else 0)
    elif version == 2:
        start, kind = 4, body[3]
    else:
        raise Unsupported("dataspace version")
    if flags & ~1 or rank > MAX_RANK or kind not in (0, 1) or (kind == 0) != (rank == 0):
        raise Unsupported("dataspace flags or kind")  # permutations, null dataspaces
    end = start + 8 * rank * (2 if flags & 1 else 1)
    if end > len(body):
        raise Unsupported("dataspace past its message")
    dims = struct.unpack_from(f"<{rank}Q", body, start)
    if flags & 1:
        maxdims = struct.unpack_from(f"<{rank}Q", body, start + 8 * rank)
        if any(m < d for m, d in zip(maxdims, dims, strict=True)):
            raise Unsupported("dimension past its maximum")
    if any(d >= 1 << 62 for d in dims):
        raise Unsupported("dimension too big")
    return tuple(int(d) for d in dims)
