"""Fill value messages: never used (a lite dataset is written or refused), but HDF5 refuses a dataset
whose fill value message does not parse, so this reader checks the same."""
from __future__ import annotations

import struct

from .errors import Unsupported


def check_fill_value(body: bytes, *, old: bool) -> None:
    """Raise Unsupported unless ``body`` is a well-formed fill value message (``old``: type 0x0004)."""
    if old:
        if len(body) < 4 or 4 + struct.unpack_from("<I", body)[0] > len(body):
            raise Unsupported("old fill value message")
        return
    if not body or body[0] not in (1, 2, 3):
        raise Unsupported("fill value message version")
    if body[0] in (1, 2):
        if len(body) < 4 or body[1] not in (1, 2, 3) or body[2] not in (0, 1, 2) or body[3] not in (0, 1):
            raise Unsupported("fill value message")
        has_value, pos = body[0] == 1 or body[3] == 1, 4
    else:
        flags = body[1] if len(body) > 1 else 0xFF
        if flags & 0b1100_0000 or (flags & 0b10_0000 and flags & 0b1_0000):  # unknown; "undefined" with a value
            raise Unsupported("fill value message flags")
        has_value, pos = bool(flags & 0b10_0000), 2
    if has_value:
        if pos + 4 > len(body) or pos + 4 + struct.unpack_from("<I", body, pos)[0] > len(body):
            raise Unsupported("fill value past its message")
