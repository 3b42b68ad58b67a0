"""The contents of a table initialised from a text file, read exactly as TensorFlow reads it.

``InitializeTableFromTextFileV2`` reads the file line by line: ``\\n`` ends a line and one ``\\r``
before it is dropped; a last line without ``\\n`` counts unless it is empty; an empty line, a
missing column or an unparsable number makes TF refuse to load the model. Each line gives one
key and one value: index -2 is the whole line, -1 the line number (plus ``offset``), ``>= 0``
a column split on the one-byte ``delimiter``. ``vocab_size`` (-1: all) reads only that many lines
and needs at least that many. ``int32`` fields get ``offset`` added too, as TF's kernel does.
A key given twice with different values is TF's "different value for same key" error.
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.errors import InputError

WHOLE_LINE, LINE_NUMBER = -2, -1
_INT = re.compile(rb"[ \t\n\v\f\r]*([+-]?[0-9]+)[ \t\n\v\f\r]*\Z")
_FLOAT = re.compile(rb"[ \t\n\v\f\r]*([+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan))"
                    rb"[ \t\n\v\f\r]*\Z", re.IGNORECASE)
_RANGES = {DType.INT32: (-2**31, 2**31 - 1), DType.INT64: (-2**63, 2**63 - 1)}


def read_lines(data: bytes) -> list[bytes]:
    """The lines of ``data`` as TF's ``InputBuffer::ReadLine`` returns them."""
    lines = data.split(b"\n")
    last = lines.pop()  # after the final "\n" (b"" when the file ends with one)
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    last = last[:-1] if last.endswith(b"\r") else last
    return lines + [last] if last else lines


def _field(token: bytes, dtype: DType, offset: int, where: str) -> object:
    if dtype is DType.STRING:
        return token
    if dtype in _RANGES:
        match = _INT.match(token)
        low, high = _RANGES[dtype]
        if match is None or not low <= int(match.group(1)) <= high:
            raise InputError(f"{where}: field {token[:40]!r} is not a valid {dtype.name.lower()}")
        value = int(match.group(1))
        return (value + offset + 2**31) % 2**32 - 2**31 if dtype is DType.INT32 else value
    if dtype in (DType.FLOAT32, DType.FLOAT64):
        match = _FLOAT.match(token)
        if match is None:
            raise InputError(f"{where}: field {token[:40]!r} is not a valid {dtype.name.lower()}")
        number = match.group(1).decode()
        return nearest_float32(number) if dtype is DType.FLOAT32 else float(number)
    raise InputError(f"{where}: tables of {dtype.name.lower()} cannot be initialised from a text file")


def nearest_float32(number: str) -> float:
    """The float32 nearest to the decimal ``number`` (ties to even), as TF's ``strtof`` gives it. Rounding
    to float64 first and then to float32 may land 1 ulp off, or on ``inf`` instead of the largest float."""
    wide = float(number)
    if not np.isfinite(wide):
        return wide
    with np.errstate(over="ignore"):  # beyond the largest float32: inf is a candidate
        narrow = np.float32(wide)
    exact = Fraction(number)
    candidates = {narrow, np.nextafter(narrow, np.float32(np.inf)), np.nextafter(narrow, np.float32(-np.inf))}

    def distance(c: np.float32) -> tuple[Fraction, int]:
        value = Fraction(float(c)) if np.isfinite(c) else Fraction(2**128) * (1 if c > 0 else -1)
        return abs(value - exact), int(np.array(c, np.float32).view(np.uint32)) & 1  # ties: the even one

    return float(min(candidates, key=distance))


def _check_indices(key_index: int, value_index: int, key_dtype: DType, value_dtype: DType, where: str) -> None:
    """TF's own checks before it reads the file."""
    for role, index, dtype in (("key", key_index, key_dtype), ("value", value_index, value_dtype)):
        if index < WHOLE_LINE:
            raise InputError(f"{where}: {role} index {index} is invalid")
        if index == LINE_NUMBER and dtype is not DType.INT64:
            raise InputError(f"{where}: a {role} from the line number needs int64, the table has {dtype.name.lower()}")
        if index == WHOLE_LINE and dtype not in (DType.STRING, *_RANGES):
            raise InputError(f"{where}: a {role} from the whole line needs a string or integer table, "
                             f"the table has {dtype.name.lower()}")


def text_file_contents(file: Path, *, key_dtype: DType, value_dtype: DType, key_index: int, value_index: int,
                       vocab_size: int = -1, delimiter: bytes = b"\t", offset: int = 0,
                       where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(keys, values) of the table, unique keys in file order."""
    where = where or str(file)
    _check_indices(key_index, value_index, key_dtype, value_dtype, where)
    if len(delimiter) != 1:
        raise InputError(f"{where}: the delimiter {delimiter!r} is not one byte")
    try:
        lines = read_lines(file.read_bytes())
    except OSError as err:
        raise InputError(f"{where}: cannot read {file.name}: {err.strerror or err}") from None
    if vocab_size != -1:
        if len(lines) < vocab_size:
            raise InputError(f"{where}: invalid vocab_size: expected {vocab_size} lines but got {len(lines)}")
        lines = lines[:vocab_size]
    split = max(key_index, value_index) >= 0
    table: dict[object, object] = {}
    for number, line in enumerate(lines):
        if not line:
            raise InputError(f"{where}: empty line {number + 1} (TensorFlow refuses it too)")
        tokens = line.split(delimiter) if split else []
        if split and len(tokens) <= max(key_index, value_index):
            raise InputError(f"{where}: line {number + 1} has {len(tokens)} column(s), "
                             f"expected at least {max(key_index, value_index) + 1}")
        pair = []
        for index, dtype in ((key_index, key_dtype), (value_index, value_dtype)):
            if index == LINE_NUMBER:
                pair.append(number + offset)
            else:
                pair.append(_field(line if index == WHOLE_LINE else tokens[index], dtype, offset,
                                   f"{where} line {number + 1}"))
        key, value = pair
        if table.setdefault(key, value) is not value and table[key] != value:  # NaN: a first NaN is fine
            raise InputError(f"{where}: key {key!r} has two values ({table[key]!r} and {value!r}); "
                             "TensorFlow refuses to load such a table")
    return as_arrays(list(table), list(table.values()), key_dtype, value_dtype)


def as_arrays(keys: list, values: list, key_dtype: DType, value_dtype: DType) -> tuple[np.ndarray, np.ndarray]:
    """Keys and values as 1-D arrays of the table's dtypes (strings as object arrays of bytes)."""
    def array(items: list, dtype: DType) -> np.ndarray:
        if dtype is DType.STRING:
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out
        return np.asarray(items, dtype=dtype.numpy).reshape(-1)

    return array(keys, key_dtype), array(values, value_dtype)
