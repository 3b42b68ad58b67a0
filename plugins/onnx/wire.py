"""An ``.onnx`` file's bytes with its large raw initializers left in the file, so weights are never held twice.

Parsing a ModelProto copies every ``raw_data`` into the message, and reading it as numpy copies it
again. Instead, the protobuf wire format is walked (ModelProto.graph = 7, GraphProto.initializer = 5,
TensorProto.raw_data = 9; a few hundred fields, not the weights) and each initializer whose raw data
is at least :data:`MIN_BYTES` is rewritten as ONNX external data pointing into the model file itself
(``location`` = the file, ``offset``/``length`` of the bytes, plus :data:`IN_MODEL_KEY`). The message
parsed from the result is small, and those initializers become memory-mapped
:class:`~.external.ExternalArray` views, read when the writer streams them. Anything the walk does not
understand leaves the bytes unchanged: the protobuf parser then decides (and reports) as before.
"""
from __future__ import annotations

import mmap
import os
from pathlib import Path

from tfjsconv.varint import read_varint

#: Raw initializers smaller than this stay in the message as numpy arrays (shapes, axes, scales).
MIN_BYTES = 64 * 1024
#: external_data key marking data that is the tensor's own raw_data inside the model file; its value is
#: this process's :data:`IN_MODEL_TOKEN`, which a file cannot know, so no file can claim the mark itself.
IN_MODEL_KEY = "tfjsconv.raw_data_in_model"
IN_MODEL_TOKEN = os.urandom(8).hex()

_GRAPH, _INITIALIZER, _RAW_DATA, _EXTERNAL_DATA, _DATA_LOCATION = 7, 5, 9, 13, 14
_LEN = 2


class WireError(ValueError):
    """The bytes are not the protobuf wire format this walk expects."""


def model_bytes(path: Path) -> bytes:
    """The serialized ModelProto at ``path``, with large raw initializers turned into in-file references."""
    with open(path, "rb") as f:
        if path.stat().st_size == 0:
            return b""
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            try:
                return _model(data, path.name.encode("utf-8"))
            except (WireError, UnicodeEncodeError):
                return data[:]


def _varint(data: mmap.mmap | bytes, pos: int, end: int) -> tuple[int, int]:
    return read_varint(data, pos, end, error=WireError)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(data: mmap.mmap | bytes, start: int, end: int):
    """(number, wire type, field start, value start, value end) of each field in ``data[start:end]``."""
    pos = start
    while pos < end:
        key, value_start = _varint(data, pos, end)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, value_end = _varint(data, value_start, end)
        elif wire_type == 1:
            value_end = value_start + 8
        elif wire_type == _LEN:
            length, value_start = _varint(data, value_start, end)
            value_end = value_start + length
        elif wire_type == 5:
            value_end = value_start + 4
        else:  # groups: not in ONNX
            raise WireError(f"wire type {wire_type}")
        if number == 0 or value_end > end:
            raise WireError("field runs past its message")
        yield number, wire_type, pos, value_start, value_end
        pos = value_end


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _LEN) + _encode_varint(len(payload)) + payload


def _model(data: mmap.mmap, file_name: bytes) -> bytes:
    out, changed = bytearray(), False
    for number, wire_type, start, value_start, value_end in _fields(data, 0, len(data)):
        graph = _graph(data, value_start, value_end, file_name) if (number, wire_type) == (_GRAPH, _LEN) else None
        if graph is None:
            out += data[start:value_end]
        else:
            out += _length_delimited(_GRAPH, graph)
            changed = True
    return bytes(out) if changed else data[:]


def _graph(data: mmap.mmap, begin: int, end: int, file_name: bytes) -> bytes | None:
    out, changed = bytearray(), False
    for number, wire_type, start, value_start, value_end in _fields(data, begin, end):
        tensor = (_tensor(data, value_start, value_end, file_name)
                  if (number, wire_type) == (_INITIALIZER, _LEN) else None)
        if tensor is None:
            out += data[start:value_end]
        else:
            out += _length_delimited(_INITIALIZER, tensor)
            changed = True
    return bytes(out) if changed else None


def _tensor(data: mmap.mmap, begin: int, end: int, file_name: bytes) -> bytes | None:
    """The TensorProto with its raw_data replaced by an in-file reference, or None to keep it as is."""
    fields = list(_fields(data, begin, end))
    raw = [f for f in fields if f[:2] == (_RAW_DATA, _LEN)]
    if not raw or any(f[0] in (_EXTERNAL_DATA, _DATA_LOCATION) for f in fields):
        return None
    _, _, _, offset, stop = raw[-1]  # protobuf: the last occurrence wins
    if stop - offset < MIN_BYTES:
        return None
    out = bytearray()
    for number, _, start, _, value_end in fields:
        if number != _RAW_DATA:
            out += data[start:value_end]
    for key, value in ((b"location", file_name), (b"offset", b"%d" % offset), (b"length", b"%d" % (stop - offset)),
                       (IN_MODEL_KEY.encode(), IN_MODEL_TOKEN.encode())):
        entry = _length_delimited(1, key) + _length_delimited(2, value)
        out += _length_delimited(_EXTERNAL_DATA, entry)
    out += _encode_varint(_DATA_LOCATION << 3) + _encode_varint(1)
    return bytes(out)
