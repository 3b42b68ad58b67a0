"""Writing weight groups as TF.js shard files, streamed so memory stays near the largest tensor.

Each group's bytes are concatenated in order and cut into shards of exactly ``shard_size`` bytes
(the last one smaller; weights may straddle shards), named ``group{g}-shard{i}of{n}.bin``. ``n`` is
only known at the end of a group, so bytes go to numbered hidden part files as they arrive and are
renamed at the end. LazyArrays are materialized one at a time and dropped once written. On any
error every file this call created is removed again.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import UsageError, WeightsError
from ..ir import LazyArray, materialize
from ..model import WeightGroup, WeightSource
from ..options import DEFAULT_SHARD_SIZE
from ..progress import current as current_progress
from .encoding import CHUNK_BYTES, STORAGE_DTYPES, check_conversion, dtype_name, iter_encoded, tfjs_dtype
from .file_ranges import BUFFER_BYTES, copy_range, file_range_of
from .finite import FiniteWeight, nan_count_note, nan_note
from .fs_allocation import allocates_natively
from .manifest import weight_entry
from .quantize import QuantizationPlan, Quantizer
from .report import WeightsReport

log = logging.getLogger(__name__)


def shard_file_name(group: int, shard: int, count: int) -> str:
    """``group{g}-shard{i}of{n}.bin``; all numbers 1-based."""
    return f"group{group}-shard{shard}of{count}.bin"


class _GroupShards:
    """Cuts one group's byte stream into shard files of exactly ``shard_size`` bytes as it arrives."""

    def __init__(self, out_dir: Path, group: int, shard_size: int, created: list[Path]) -> None:
        self._out_dir = out_dir
        self._group = group
        self._shard_size = shard_size
        self._created = created
        self._parts: list[Path] = []
        self._file: BinaryIO | None = None
        self._room = 0
        self._reserved = 0
        self._may_reserve = allocates_natively(str(out_dir))
        self.nbytes = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        while len(view):
            if self._room == 0:
                self._next_part()
            assert self._file is not None
            take = min(self._room, len(view))
            self._file.write(view[:take])
            self._room -= take
            self.nbytes += take
            view = view[take:]

    @property
    def shard_count(self) -> int:
        return len(self._parts)

    def _next_part(self) -> None:
        self.close()
        path = self._out_dir / f".group{self._group}-part{len(self._parts) + 1}.tmp"
        self._created.append(path)
        self._parts.append(path)
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._room = self._shard_size
        self._reserved = _reserve(self._file.fileno(), self._shard_size) if self._may_reserve else 0

    def close(self) -> None:
        """Close the open part, cut to the bytes written into it (never left at its reserved size)."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                if self._reserved:  # the last part holds less than it reserved; a refusal may have grown it too
                    file.truncate(self._shard_size - self._room)
            finally:  # closed even if the cut fails
                file.close()

    def finish(self) -> list[str]:
        """Close and rename the parts to their final names; return those names in order."""
        self.close()
        names = [shard_file_name(self._group, i, len(self._parts)) for i in range(1, len(self._parts) + 1)]
        for part, name in zip(self._parts, names):
            final = self._out_dir / name
            os.replace(part, final)
            self._created[self._created.index(part)] = final
        return names


#: The most a shard file reserves up front (a user's huge ``--weight_shard_size_bytes`` reserves no more).
_RESERVE_CAP = 64 << 20


def _reserve(fd: int, nbytes: int) -> int:
    """Allocate the first ``nbytes`` (at most :data:`_RESERVE_CAP`) of a new, empty shard file up front and
    return how many; 0 where that fails and the file is empty again.

    Why: on ext4 (and other delayed-allocation filesystems) writing into allocated blocks costs the kernel
    less CPU than reserving blocks page by page: ResNet50's 100 MB of shards took 50 instead of 69 ms
    (``bench/results/issue17_speed.md``). Only an optimization: any refusal (a filesystem without it, a
    nearly full disk) leaves the file empty, and the writes then succeed or fail as they would have. The
    part that holds fewer bytes than it reserved is cut to its size when closed. A refusal may leave part of
    the reservation in the file (glibc's fallback writes it block by block): it is cut off here or, should
    that fail too, when the part is closed (the non-zero return asks for that cut).
    """
    if not hasattr(os, "posix_fallocate"):  # Windows, macOS
        return 0
    nbytes = min(nbytes, _RESERVE_CAP)
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError:
        try:
            os.ftruncate(fd, 0)
        except OSError:
            return nbytes  # the close cuts the part to what was written
        return 0
    return nbytes


def _load(name: str, source: WeightSource | Any) -> np.ndarray:
    """Materialize one weight and check a LazyArray delivered the shape it promised."""
    if isinstance(source, np.ndarray):
        return source
    if isinstance(source, LazyArray):
        array = materialize(source)
        declared = tuple(int(d) for d in source.shape)
        if tuple(array.shape) != declared:
            raise WeightsError(f"weight {name!r} was declared with shape {list(declared)} "
                               f"but loaded with shape {list(array.shape)}")
        return array
    return np.asarray(source)


def _copy_plain(name: str, source: WeightSource, shards: _GroupShards, plan: QuantizationPlan | None,
                report: WeightsReport, buffer: bytearray) -> dict[str, Any] | None:
    """Copy a weight whose file bytes are already what TF.js stores (see :mod:`.file_ranges`) and return its
    manifest entry; ``None`` when it must be loaded and encoded instead."""
    if isinstance(source, np.ndarray) or not hasattr(source, "shape"):
        return None
    dtype = np.dtype(source.dtype)  # type: ignore[union-attr]
    stored = tfjs_dtype(dtype, name=name)
    if STORAGE_DTYPES.get(stored) != dtype or (plan is not None and plan.dtype_for(name) is not None):
        return None
    where = file_range_of(source)
    if where is None:
        return None
    shape = tuple(int(d) for d in source.shape)  # type: ignore[union-attr]
    if where.nbytes != math.prod(shape) * dtype.itemsize:
        raise WeightsError(f"weight {name!r} was declared with shape {list(shape)} but its file holds "
                           f"{where.nbytes} bytes for it")
    nan, inf = copy_range(name, where, dtype, shards.write, buffer)
    if isinstance(source, FiniteWeight):
        source.refuse(nan, inf)
    elif note := nan_count_note(name, nan):
        report.notes.append(note)
        log.warning("%s", note)
    return weight_entry(name, shape, stored)


def _write_weight(name: str, source: WeightSource, shards: _GroupShards, plan: QuantizationPlan | None,
                  report: WeightsReport, chunk_bytes: int, buffer: bytearray) -> dict[str, Any]:
    """Encode one weight into ``shards`` and return its manifest entry; its array dies with this frame."""
    copied = _copy_plain(name, source, shards, plan, report, buffer)
    if copied is not None:
        return copied
    array = _load(name, source)
    nan = None if isinstance(source, FiniteWeight) else nan_note(name, array)  # its load refused NaN already
    if nan:
        report.notes.append(nan)
        log.warning("%s", nan)
    dtype = tfjs_dtype(array.dtype, name=name)
    source_dtype = dtype_name(array.dtype)
    if source_dtype != dtype:
        note = check_conversion(name, array, dtype)
        report.add_conversion(name, source_dtype, dtype)
        log.info("weight %s: stored as %s instead of %s", name, dtype, source_dtype)
        if note:
            report.notes.append(note)
            log.warning("%s", note)
    quantize_to = plan.dtype_for(name) if plan else None
    if quantize_to is not None and dtype == "float32":
        offset = plan.int8_offsets.get(name, -128.0) if plan is not None else -128.0
        quantizer = Quantizer(name, array, quantize_to, int8_offset=offset)
        for chunk in quantizer.chunks():
            shards.write(chunk)
        abs_error, rel_error = quantizer.max_abs_error, quantizer.max_rel_error
        if plan is not None and name in plan.int8:  # the int8 values are exact; the loss was the rounding
            abs_error, rel_error = plan.int8[name]
        report.add_quantized(name, quantize_to, abs_error, rel_error, quantizer.bytes_before, quantizer.bytes_after)
        if quantizer.max_abs_error == float("inf"):
            report.notes.append(f"weight {name!r}: values outside the {quantize_to} range became ±inf")
        return weight_entry(name, array.shape, dtype, quantizer.quantization)
    for chunk in iter_encoded(array, dtype, chunk_bytes=chunk_bytes, name=name):
        shards.write(chunk)
    return weight_entry(name, array.shape, dtype)


def _unpack(item: object, group: int) -> tuple[str, WeightSource]:
    try:
        name, source = item  # type: ignore[misc]
    except (TypeError, ValueError):
        raise WeightsError(f"group {group}: expected (name, array) pairs, got {type(item).__name__}") from None
    if not isinstance(name, str) or not name:
        raise WeightsError(f"group {group}: weight names must be non-empty strings, got {name!r}")
    return name, source


def write_weights(groups: Iterable[WeightGroup], out_dir: str | os.PathLike[str], *,
                  shard_size: int = DEFAULT_SHARD_SIZE, plan: QuantizationPlan | None = None,
                  report: WeightsReport | None = None) -> list[dict[str, Any]]:
    """Write ``groups`` of ``(name, array_or_LazyArray)`` as shard files in ``out_dir``.

    Returns the ``weightsManifest`` list. Conversions, quantization errors and sizes are added to
    ``report`` when given. Raises :class:`WeightsError` for duplicate names, unstorable dtypes and
    integers outside int32, and :class:`UsageError` for a bad ``shard_size`` or conflicting
    quantization patterns; in every error case the files written so far are removed.
    """
    if not isinstance(shard_size, int) or isinstance(shard_size, bool) or shard_size <= 0:
        raise UsageError(f"shard size must be a positive number of bytes, got {shard_size!r}")
    report = report if report is not None else WeightsReport()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chunk_bytes = min(CHUNK_BYTES, max(shard_size, 64 * 1024))
    buffer = bytearray(BUFFER_BYTES)
    created: list[Path] = []
    manifest: list[dict[str, Any]] = []
    seen: set[str] = set()
    shards: _GroupShards | None = None
    progress = current_progress()
    try:
        for group_index, group in enumerate(groups, start=1):
            shards = _GroupShards(out, group_index, shard_size, created)
            entries = []
            for item in group:
                name, source = _unpack(item, group_index)
                if name in seen:
                    raise WeightsError(f"weight name {name!r} appears twice; TF.js needs unique names")
                seen.add(name)
                entries.append(_write_weight(name, source, shards, plan, report, chunk_bytes, buffer))
                del item, source
                progress.advance(report.total_bytes + shards.nbytes,
                                 detail=f"{report.weight_count + len(entries)} tensors, shard {shards.shard_count}")
            paths = shards.finish()
            report.weight_count += len(entries)
            report.total_bytes += shards.nbytes
            report.shard_count += len(paths)
            manifest.append({"paths": paths, "weights": entries})
    except BaseException:
        if shards is not None:
            with contextlib.suppress(OSError):  # the files are removed below all the same
                shards.close()
        for path in created:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        raise
    return manifest
