"""Reading Keras 3 ``.keras`` archives without unpacking them next to the input.

A ``.keras`` file is a zip of ``config.json``, ``metadata.json`` and ``model.weights.h5``. The JSON
members are read into memory; the weights are copied to a private temporary folder (mode 0700) so
h5py can open them, and that folder is removed once the weights are no longer referenced. Only
these three members (and adapted lookups' ``assets/.../vocabulary.txt``, into memory) are ever read,
under names we choose, but an archive whose member names
would escape a folder (``../x``, ``/etc/x``, ``C:\\x``) is refused outright: nobody writes such a
file by accident. Sizes are limited before and while reading (a zip's declared sizes can lie),
so a zip bomb cannot fill memory or disk, and so is the member count (``--max_archive_members``),
so a zip of millions of empty members cannot stall the reader.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tfjsconv.errors import InputError
from tfjsconv.limits import DEFAULT_LIMITS, check_limit

from .h5source import CORRUPT_HINT, H5Source

ZIP_MAGIC = b"PK\x03\x04"
CONFIG_NAME, METADATA_NAME, WEIGHTS_NAME = "config.json", "metadata.json", "model.weights.h5"
#: The one kind of asset read (an adapted StringLookup / IntegerLookup's vocabulary, one token a line).
ASSET_VOCABULARY = "vocabulary.txt"
#: Largest config.json / metadata.json read into memory.
MAX_JSON_BYTES = 64 * 1024 * 1024
#: Largest model.weights.h5 copied out of the archive (far above any model TF.js could run).
MAX_WEIGHTS_BYTES = 64 * 1024 ** 3
#: The member count (``--max_archive_members``, see ``tfjsconv.limits``; Keras writes 3) is checked
#: from the end record before the central directory is parsed (zipfile spends ~8 us per member),
#: and again after, since the end record can understate it.
_EOCD, _EOCD64_LOCATOR = b"PK\x05\x06", b"PK\x06\x07"
_EOCD_SIZE, _MAX_COMMENT = 22, 0xFFFF
_COPY_CHUNK = 1024 * 1024


@dataclass
class KerasArchive:
    config: dict[str, Any]
    metadata: dict[str, Any]
    #: None when the archive holds no weights file (a model without weights).
    weights: H5Source | None
    #: Adapted lookup vocabularies (``assets/<layer path>/vocabulary.txt`` -> bytes), read like the JSON members.
    assets: dict[str, bytes] = dataclasses.field(default_factory=dict)


def has_zip_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    except OSError:
        return False


def declared_member_count(path: Path) -> int | None:
    """The member count the zip's end-of-central-directory record declares (zip64 too); None if not found."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - _EOCD_SIZE - _MAX_COMMENT)
            f.seek(start)
            tail = f.read()
            at = tail.rfind(_EOCD)
            if at < 0 or len(tail) - at < _EOCD_SIZE:
                return None
            count = struct.unpack_from("<H", tail, at + 10)[0]
            locator = at - 20
            if count == 0xFFFF and locator >= 0 and tail[locator:locator + 4] == _EOCD64_LOCATOR:
                record = struct.unpack_from("<Q", tail, locator + 8)[0]
                f.seek(record)
                head = f.read(56)
                if len(head) == 56 and head[:4] == b"PK\x06\x06":
                    count = struct.unpack_from("<Q", head, 32)[0]
            return int(count)
    except OSError:
        return None


def _check_member_count(count: int | None, display: str, max_members: int) -> None:
    if count is not None:
        check_limit("max_archive_members", count, dataclasses.replace(DEFAULT_LIMITS, max_archive_members=max_members),
                    f"{display} holds too many members for a .keras archive (Keras writes 3)")


def duplicate_member_names(names: list[str]) -> list[str]:
    """Names that occur more than once, sorted (linear: a set, not a count per name)."""
    seen: set[str] = set()
    duplicates: set[str] = set()
    for name in names:
        (duplicates if name in seen else seen).add(name)
    return sorted(duplicates)


def unsafe_member_names(names: list[str]) -> list[str]:
    """Member names that would land outside the extraction folder (zip-slip)."""
    bad = []
    for name in names:
        normalized = name.replace("\\", "/")
        parts = PurePosixPath(normalized).parts
        if (normalized.startswith("/") or ".." in parts or "\x00" in name
                or (len(normalized) > 1 and normalized[1] == ":")):
            bad.append(name)
    return bad


def read_keras_archive(path: Path, *, display: str | None = None, max_weights_bytes: int = MAX_WEIGHTS_BYTES,
                       with_weights: bool = True,
                       max_members: int = DEFAULT_LIMITS.max_archive_members) -> KerasArchive:
    """The archive's config and metadata, and (``with_weights``) its weights file, opened from a private copy."""
    display = display or str(path)
    _check_member_count(declared_member_count(path), display, max_members)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise InputError(f"{display} is not a readable .keras file (a zip archive): {err}",
                         hint=CORRUPT_HINT + "; save the model again with model.save('m.keras')") from None
    with archive:
        infos = archive.infolist()
        _check_member_count(len(infos), display, max_members)  # the end record can understate the count
        names = [info.filename for info in infos]
        bad = unsafe_member_names(names)
        if bad:
            raise InputError(f"{display} is refused: its member name(s) {', '.join(map(repr, bad[:5]))} point "
                             "outside the archive folder (a zip-slip attack); Keras never writes such files")
        duplicates = duplicate_member_names(names)
        if duplicates:
            raise InputError(f"{display} is refused: it holds several members named "
                             f"{', '.join(map(repr, duplicates[:5]))}{' ...' if len(duplicates) > 5 else ''}")
        members = {info.filename: info for info in infos}
        if CONFIG_NAME not in members:
            raise InputError(f"{display} has no {CONFIG_NAME}; it is not a Keras 3 .keras model",
                             hint="if it holds weights only, load them into the model and save it with "
                                  "model.save('m.keras')")
        config = _read_json(archive, members[CONFIG_NAME], display)
        metadata = _read_json(archive, members[METADATA_NAME], display) if METADATA_NAME in members else {}
        assets = _read_vocabularies(archive, members, display)
        weights = None
        if with_weights and WEIGHTS_NAME in members:
            weights = _extract_weights(archive, members[WEIGHTS_NAME], display, max_weights_bytes)
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise InputError(f"{display}: {CONFIG_NAME} and {METADATA_NAME} must hold JSON objects")
    return KerasArchive(config, metadata, weights, assets)


def _read_vocabularies(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], display: str) -> dict[str, bytes]:
    """Every ``assets/.../vocabulary.txt``, together at most :data:`MAX_JSON_BYTES`."""
    assets: dict[str, bytes] = {}
    left = MAX_JSON_BYTES
    for name, info in members.items():
        if name.startswith("assets/") and name.endswith("/" + ASSET_VOCABULARY):
            assets[name] = _read_limited(archive, info, display, left)
            left -= len(assets[name])
    return assets


def _read_json(archive: zipfile.ZipFile, info: zipfile.ZipInfo, display: str) -> Any:
    data = _read_limited(archive, info, display, MAX_JSON_BYTES)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:  # RecursionError: nested too deeply
        raise InputError(f"{display}: {info.filename} is not valid JSON: {str(err)[:200]}") from None


def _read_limited(archive: zipfile.ZipFile, info: zipfile.ZipInfo, display: str, limit: int) -> bytes:
    _check_declared(info, display, limit)
    chunks, total = [], 0
    try:
        with archive.open(info) as f:
            while chunk := f.read(_COPY_CHUNK):
                total += len(chunk)
                _check_running(info, display, total, limit)
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise InputError(f"{display}: cannot read {info.filename}: {err}", hint=CORRUPT_HINT) from None
    return b"".join(chunks)


def _extract_weights(archive: zipfile.ZipFile, info: zipfile.ZipInfo, display: str, limit: int) -> H5Source:
    _check_declared(info, display, limit)
    folder = Path(tempfile.mkdtemp(prefix="tfjsconv-keras-"))
    target = folder / WEIGHTS_NAME

    def cleanup() -> None:
        shutil.rmtree(folder, ignore_errors=True)

    try:
        total = 0
        with archive.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(_COPY_CHUNK):
                total += len(chunk)
                _check_running(info, display, total, limit)
                dst.write(chunk)
    except InputError:
        cleanup()
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        cleanup()
        raise InputError(f"{display}: cannot read {info.filename}: {err}", hint=CORRUPT_HINT) from None
    except BaseException:
        cleanup()
        raise
    return H5Source(target, display=f"{display} ({WEIGHTS_NAME})", cleanup=cleanup)


def _check_declared(info: zipfile.ZipInfo, display: str, limit: int) -> None:
    if info.file_size > limit:
        raise InputError(f"{display}: {info.filename} would unpack to {info.file_size} bytes, "
                         f"more than the {limit}-byte limit; refusing (a zip bomb?)")


def _check_running(info: zipfile.ZipInfo, display: str, total: int, limit: int) -> None:
    if total > limit or total > info.file_size:
        raise InputError(f"{display}: {info.filename} unpacks to more bytes than its header declares "
                         f"({info.file_size}) or than the {limit}-byte limit; refusing (a zip bomb?)")
