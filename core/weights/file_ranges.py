"""Weights whose bytes lie in a file exactly as TF.js stores them, copied to the shards through one buffer.

A lazy weight may offer ``file_range()``: the open file, offset and length of its bytes when they are
stored plainly (contiguous, unfiltered, little-endian, the shard's dtype). The writer then reads them
with ``pread`` into one reused buffer, counts NaN and ±Inf there and writes the buffer out. Mapping the
file instead costs a page fault every few pages and a mapping per weight; on a 100 MB model that was
about twice the CPU time, and far less steady (``bench/results/issue17_speed.md``, 2026-12-04).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import numpy as np

from ..errors import WeightsError
from .finite import count_nonfinite

#: Bytes read per ``pread``: large enough that calls are few, small enough to stay in the CPU's cache.
BUFFER_BYTES = 1 << 20


class FileRange(NamedTuple):
    """``nbytes`` bytes at ``offset`` of the open file ``fd`` (kept open by the weight's source)."""

    fd: int
    offset: int
    nbytes: int


class PlainInFile(Protocol):
    """A lazy weight that can say where its bytes lie; ``None`` when they must be decoded."""

    def file_range(self) -> FileRange | None: ...


def file_range_of(source: object) -> FileRange | None:
    """The plain byte range of ``source`` (or of the weight a wrapper such as ``FiniteWeight`` holds).
    Looked up by name: a runtime-checked Protocol's ``isinstance`` costs more than the copy of a small weight."""
    inner = getattr(source, "plain_source", source)
    get = getattr(inner, "file_range", None)
    return get() if callable(get) else None


def copy_range(name: str, where: FileRange, dtype: np.dtype, write: Callable[[memoryview], None],
               buffer: bytearray) -> tuple[int, int]:
    """Copy ``where`` to ``write`` in buffer-sized pieces; return the ``(NaN, ±Inf)`` counts of the values.

    A file that ends early (truncated while converting) raises :class:`WeightsError` naming the weight.
    """
    view = memoryview(buffer)
    step = len(buffer) - len(buffer) % dtype.itemsize
    counts_values = dtype.kind in "fc"
    nan = inf = done = 0
    while done < where.nbytes:
        want = min(step, where.nbytes - done)
        got = 0
        while got < want:
            n = os.preadv(where.fd, [view[got:want]], where.offset + done + got)
            if n == 0:
                raise WeightsError(f"weight {name!r}: its file ended {where.nbytes - done - got} bytes early "
                                   "(was it changed while converting?)")
            got += n
        piece = view[:want]
        if counts_values:
            more_nan, more_inf = count_nonfinite(np.frombuffer(piece, dtype=dtype))
            nan += more_nan
            inf += more_inf
        write(piece)
        done += want
    return nan, inf


def count_nonfinite_of(name: str, source: Any) -> tuple[int, int]:
    """``(NaN, ±Inf)`` counts of an eager or lazy weight, keeping no copy: plain bytes in a file go through one
    buffer (as the writer copies them); any other lazy weight raises :class:`WeightsError` (the contract selector
    then answers "maybe": loading it would read it a second time, the writer's)."""
    where = file_range_of(source)
    if where is None:
        if not isinstance(source, np.ndarray) and not np.isscalar(source):
            # a lazy weight held elsewhere (ONNX external data, ...): loading it here would read it twice, as the
            # writer reads it again (tests/test_onnx_external.py): the caller answers "maybe" instead
            raise WeightsError(f"{name}: not read before the writer reads it")
        return count_nonfinite(np.asarray(source))
    return copy_range(name, where, np.dtype(source.dtype), lambda piece: None, bytearray(BUFFER_BYTES))
