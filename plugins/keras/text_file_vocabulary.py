"""The tokens of a lookup's vocabulary file as TensorFlow's ``TextFileInitializer`` reads them (no TensorFlow).

Keras (3 and tf_keras) builds a lookup whose ``vocabulary`` is a path with ``TextFileInitializer``
(``WHOLE_LINE`` keys, ``LINE_NUMBER`` values offset past the special tokens). Checked against TF 2.21:
lines end at ``\\n`` (a final ``\\n`` ends the last line), one trailing ``\\r`` per line is dropped (``a\\r\\r\\n``
is ``a\\r``), every other byte stays (a UTF-8 BOM too, which TF.js would drop: refused), nothing is stripped
(a leading ``[UNK]`` line is an ordinary token); an empty line, an empty file or a repeated token make
TensorFlow fail, so Keras cannot build the layer. Integer keys are parsed as ``int64``: ASCII space around
an optional sign and decimal digits. Anything this cannot read exactly raises :class:`VocabularyFileGap`
with the reason.
"""
from __future__ import annotations

import re
from pathlib import Path

#: A vocabulary file larger than this is left to TensorFlow (and never read whole into memory here).
MAX_VOCABULARY_BYTES = 64 << 20
_INT64 = (-(1 << 63), (1 << 63) - 1)
_INTEGER_LINE = re.compile(rb"[ \t\v\f\r]*[+-]?[0-9]+[ \t\v\f\r]*")


class VocabularyFileGap(Exception):
    """Why a vocabulary file cannot be read exactly as TensorFlow does (the message completes "the file ...")."""


def read_vocabulary_file(path: str, *, strings: bool) -> list[str] | list[int]:
    """The file's tokens in line order: strings (UTF-8) for StringLookup, integers for IntegerLookup."""
    lines = _lines(_read(path))
    if strings:
        try:
            tokens: list = [line.decode("utf-8") for line in lines]
        except UnicodeDecodeError as err:
            raise VocabularyFileGap("is not UTF-8 (TF.js strings are)") from err
        for number, token in enumerate(tokens):
            if token.startswith("\ufeff"):  # core/tfjs_strings.py: TextDecoder drops it
                raise VocabularyFileGap(f"has line {number + 1} starting with a byte-order mark (TF.js drops it)")
    else:
        tokens = [_integer(line, number) for number, line in enumerate(lines)]
    seen: set = set()
    for token in tokens:
        if token in seen:
            raise VocabularyFileGap(f"repeats the token {token!r} (TensorFlow's table fails on it)")
        seen.add(token)
    return tokens


def _read(path: str) -> bytes:
    """At most the size cap, from a regular file (a FIFO or a device could block or never end)."""
    file = Path(path)  # as TensorFlow opens it: relative to the working directory, no ~ expansion
    try:
        if not file.is_file():
            raise VocabularyFileGap("is not a readable file")
        with file.open("rb") as stream:
            data = stream.read(MAX_VOCABULARY_BYTES + 1)
    except OSError as err:
        raise VocabularyFileGap(f"cannot be read ({err.strerror or err})") from err
    if len(data) > MAX_VOCABULARY_BYTES:
        raise VocabularyFileGap(f"is larger than {MAX_VOCABULARY_BYTES >> 20} MB")
    return data


def _lines(data: bytes) -> list[bytes]:
    if not data:
        raise VocabularyFileGap("is empty (TensorFlow's table fails on it)")
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the final newline ends the last line
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    for number, line in enumerate(lines):
        if not line:
            raise VocabularyFileGap(f"has an empty line {number + 1} (TensorFlow's table fails on it)")
    return lines


def _integer(line: bytes, number: int) -> int:
    if not _INTEGER_LINE.fullmatch(line):
        raise VocabularyFileGap(f"has line {number + 1} {line[:40]!r}, not an integer as TensorFlow parses it")
    value = int(line.strip(b" \t\v\f\r"))
    if not _INT64[0] <= value <= _INT64[1]:
        raise VocabularyFileGap(f"has line {number + 1} {line[:40]!r}, outside int64 (TensorFlow fails on it)")
    return value
