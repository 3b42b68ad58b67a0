"""Data layout messages: where a dataset's bytes are. Only contiguous storage is understood.

Compact, chunked and virtual layouts are Unsupported (h5py reads the first two; the h5py path
refuses virtual datasets), so every dataset the lite reader accepts is one run of bytes or none.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import Unsupported
from .file_bytes import UNDEFINED

_CONTIGUOUS = 1


class Contiguous(NamedTuple):
    address: int | None  # None: never written
    size: int  # bytes declared for the dataset


def read_layout(body: bytes) -> Contiguous:
    if len(body) < 18 or body[0] not in (3, 4) or body[1] != _CONTIGUOUS:
        raise Unsupported("layout other than contiguous (version 3 or 4)")
    address, size = struct.unpack_from("<QQ", body, 2)
    return Contiguous(None if address == UNDEFINED else address, size)
