"""Reading TF.js weights back: shard files -> dequantized numpy arrays, one group at a time.

Used to verify our own output and to take TF.js models as input, so the manifest is untrusted:
shard paths must stay inside the model folder (no absolute paths, no ``..``, no symlinks out),
and the shards must hold exactly the bytes the weights need.
"""
from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, Literal

import numpy as np

from ..errors import WeightsError
from .encoding import STRING_LENGTH_DTYPE, decode_array, decode_string_element, object_array
from .manifest import GroupSpec, WeightSpec, parse_manifest
from .quantize import dequantize

_PREFIX = STRING_LENGTH_DTYPE.itemsize


def resolve_shard_path(model_dir: Path, relative: str) -> Path:
    """The file a manifest path names, refusing anything that leads outside ``model_dir``."""
    if not relative or "\x00" in relative:
        raise WeightsError(f"invalid shard path {relative!r} in the weights manifest")
    posix, windows = PurePosixPath(relative), PureWindowsPath(relative)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or windows.root:
        raise WeightsError(f"shard path {relative!r} is absolute; manifest paths must be relative to the model folder")
    if ".." in posix.parts or ".." in windows.parts:
        raise WeightsError(f"shard path {relative!r} leaves the model folder ('..' is not allowed)")
    root = model_dir.resolve()
    resolved = (root / relative).resolve()
    if not resolved.is_relative_to(root):
        raise WeightsError(f"shard path {relative!r} resolves to {resolved}, outside the model folder {root} "
                           "(through a symbolic link)")
    return resolved


class _ShardStream:
    """The concatenated bytes of a group's shard files, read front to back."""

    def __init__(self, group: GroupSpec, files: list[Path], sizes: list[int]) -> None:
        self._group = group
        self._files = files
        self._sizes = sizes
        self.total = sum(sizes)
        self.position = 0
        self._next = 0
        self._file: BinaryIO | None = None

    def read(self, count: int, what: str) -> bytearray:
        buffer = bytearray(count)
        view = memoryview(buffer)
        got = 0
        try:
            while got < count:
                if self._file is None:
                    if self._next >= len(self._files):
                        raise WeightsError(
                            f"{self._group.label}: the shard files ({', '.join(self._group.paths) or 'none'}) hold "
                            f"{self.position + got} bytes, but {what} needs {count} bytes at offset {self.position}")
                    self._file = open(self._files[self._next], "rb")  # noqa: SIM115 - closed in close()
                    self._next += 1
                n = self._file.readinto(view[got:])
                if not n:
                    self._file.close()
                    self._file = None
                    continue
                got += n
        finally:
            view.release()
        self.position += count
        return buffer

    def skip(self, count: int, what: str) -> None:
        """Move past ``count`` bytes without reading them (sizes were checked when the group was opened)."""
        if self.position + count > self.total:
            self.read(count, what)  # raises the usual message
        target = self.position + count
        self.close()
        start = 0
        for index, size in enumerate(self._sizes):
            if target < start + size or index == len(self._sizes) - 1:
                self._file = open(self._files[index], "rb")  # noqa: SIM115 - closed in close()
                self._file.seek(target - start)
                self._next = index + 1
                break
            start += size
        self.position = target

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _read_strings(stream: _ShardStream, spec: WeightSpec, strings: Literal["str", "bytes"]) -> np.ndarray:
    elements = []
    for index in range(spec.size):
        prefix = stream.read(_PREFIX, f"the length of element {index} of string weight {spec.name!r}")
        length = int.from_bytes(prefix, "little")
        data = stream.read(length, f"element {index} of string weight {spec.name!r}")
        elements.append(decode_string_element(data, strings))
    return object_array(elements, spec.shape)


def _open_group(group: GroupSpec, root: Path) -> _ShardStream:
    files = [resolve_shard_path(root, p) for p in group.paths]
    sizes = []
    for relative, path in zip(group.paths, files):
        if not path.is_file():
            raise WeightsError(f"{group.label}: shard file {relative!r} is missing from {root}")
        sizes.append(path.stat().st_size)
    total, needed = sum(sizes), group.min_nbytes
    if total < needed or (total != needed and not group.has_strings):
        at_least = "at least " if group.has_strings else ""
        raise WeightsError(f"{group.label}: the weights need {at_least}{needed} bytes but the shard files "
                           f"({', '.join(group.paths) or 'none'}) hold {total}")
    return _ShardStream(group, files, sizes)


def read_weights(manifest: Any, model_dir: str | os.PathLike[str], *, names: Collection[str] | None = None,
                 strings: Literal["str", "bytes"] = "str") -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(name, array)`` for every weight of a ``weightsManifest``, dequantized, in manifest order.

    Shards are read group by group, so only one weight's bytes are held at a time. With ``names``,
    groups without any of those weights are not read at all and other weights are skipped. String
    weights come back as object arrays (see :func:`~tfjsconv.weights.encoding.decode_array`).
    Raises :class:`WeightsError` for malformed manifests, unsafe or missing shard paths, and shards
    that do not hold exactly the bytes the weights need.
    """
    groups = parse_manifest(manifest)
    root = Path(model_dir)
    if not root.is_dir():
        raise WeightsError(f"model folder {str(root)!r} does not exist")
    wanted = set(names) if names is not None else None
    for group in groups:
        if wanted is not None and not any(w.name in wanted for w in group.weights):
            continue
        stream = _open_group(group, root)
        try:
            for spec in group.weights:
                keep = wanted is None or spec.name in wanted
                if spec.nbytes is None:
                    array = _read_strings(stream, spec, strings)
                elif not keep:
                    stream.skip(spec.nbytes, f"weight {spec.name!r}")
                    continue
                else:
                    data = stream.read(spec.nbytes, f"weight {spec.name!r}")
                    array = decode_array(data, spec.stored_dtype, spec.shape)
                    del data
                    if spec.quantization:
                        array = dequantize(array, spec.quantization)
                if keep:
                    yield spec.name, array
                del array
            if stream.position != stream.total:
                raise WeightsError(f"{group.label}: the shard files ({', '.join(group.paths)}) hold {stream.total} "
                                   f"bytes but the weights need only {stream.position}")
        finally:
            stream.close()


def load_manifest_weights(manifest: Any, model_dir: str | os.PathLike[str], *,
                          names: Collection[str] | None = None,
                          strings: Literal["str", "bytes"] = "str") -> dict[str, np.ndarray]:
    """All (or the ``names``d) weights of a manifest as ``{name: array}``; unknown names raise."""
    result = dict(read_weights(manifest, model_dir, names=names, strings=strings))
    if names is not None:
        missing = sorted(set(names) - set(result))
        if missing:
            raise WeightsError(f"the weights manifest has no weight(s) named {', '.join(map(repr, missing))}")
    return result


#: Largest model.json read into memory (topologies are kilobytes to a few megabytes).
MAX_MODEL_JSON_BYTES = 256 * 1024 * 1024


def read_model_json(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked ``model.json`` of a TF.js model folder that came from elsewhere.

    Checked before anything else touches the folder: valid UTF-8 JSON holding an object with a
    ``modelTopology``, a well-formed ``weightsManifest`` whose shard paths stay inside the folder,
    exist, and hold the bytes the weights need (sizes only; no shard is read here).
    """
    from ..errors import InputError

    root = Path(model_dir)
    path = root / "model.json"
    if not path.is_file():
        what = "does not exist" if not root.exists() else "has no model.json"
        raise InputError(f"{root} {what}; expected a TF.js model folder (model.json + weight shards)")
    if path.stat().st_size > MAX_MODEL_JSON_BYTES:
        raise InputError(f"{path} is larger than {MAX_MODEL_JSON_BYTES} bytes; refusing to read it")
    try:
        import json

        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InputError(f"{path} is not valid JSON: {str(err)[:200]}",
                         hint="the file may be truncated; copy or convert the model again") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("modelTopology"), dict):
        raise InputError(f"{path} is not a TF.js model.json (no modelTopology object)")
    from ..limits import DEFAULT_LIMITS
    from .manifest import check_weight_count

    check_weight_count(doc.get("weightsManifest", []), DEFAULT_LIMITS, str(path))
    for group in parse_manifest(doc.get("weightsManifest", [])):
        _open_group(group, root).close()
    return doc
