"""CRC-32C (Castagnoli), the checksum of TensorFlow checkpoints, in numpy (no C extension needed).

A byte-at-a-time table loop in Python runs at a few MB/s, too slow for a 100 MB variable. The CRC
register is linear over GF(2) in the bytes fed to it, so (from a zero register) a block's CRC is the
XOR of one table entry per byte, the table chosen by the byte's distance from the block's end:

1. 256-byte units: one gather from a (256 positions x 256 values) table and an XOR-reduce per unit;
2. groups of 64 units (then 64 groups, ...): each unit's value is shifted by the zero bytes after
   it in the group (a fixed linear map, applied as four 256-entry byte tables) and XOR-ed;
3. the starting register is shifted past the whole buffer (a 32x32 GF(2) matrix power) and XOR-ed in.

The tail (under 256 bytes) and short buffers use the plain table loop.
"""
from __future__ import annotations

import functools

import numpy as np

POLY = 0x82F63B78  # reflected Castagnoli polynomial
MASK_DELTA = 0xA282EAD8
UNIT = 256  # bytes per unit of step 1 (position and byte make a 16-bit table index)
GROUP = 64  # units (then groups) combined per step 2
#: Below this many bytes the plain table loop is faster.
SMALL = 4096
#: Bytes checksummed per step (bounds the temporaries: about 6 bytes per byte of window).
WINDOW = 1 << 22


def _table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(POLY), table >> 1).astype(np.uint32)
    return table


TABLE = _table()
_TABLE_LIST = [int(v) for v in TABLE]


def _register_small(register: int, data: bytes | memoryview) -> int:
    """The register after ``data``, one byte at a time."""
    table = _TABLE_LIST
    for byte in bytes(data):
        register = table[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


# A linear map of the 32-bit register is held as its 32 columns (the images of bits 0..31).
_ONE_ZERO_BYTE = tuple(_TABLE_LIST[(1 << j) & 0xFF] ^ ((1 << j) >> 8) for j in range(32))
_IDENTITY = tuple(1 << j for j in range(32))


def _apply(columns: tuple[int, ...] | list[int], value: int) -> int:
    out, bit = 0, 0
    while value:
        if value & 1:
            out ^= columns[bit]
        value >>= 1
        bit += 1
    return out


def _compose(outer: tuple[int, ...], inner: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(_apply(outer, column) for column in inner)


@functools.lru_cache(maxsize=64)
def _shift_columns(zero_bytes: int) -> tuple[int, ...]:
    """The map that feeds ``zero_bytes`` zero bytes to the register (binary powers of one byte)."""
    result, power = _IDENTITY, _ONE_ZERO_BYTE
    while zero_bytes:
        if zero_bytes & 1:
            result = _compose(power, result)
        zero_bytes >>= 1
        if zero_bytes:
            power = _compose(power, power)
    return result


_BITS = ((np.arange(256, dtype=np.uint32)[:, None] >> np.arange(8, dtype=np.uint32)) & 1).astype(bool)


def _byte_tables(columns: tuple[int, ...]) -> np.ndarray:
    """(4, 256) tables with ``map(r) = t[0][r & 255] ^ t[1][(r >> 8) & 255] ^ t[2][...] ^ t[3][r >> 24]``."""
    cols = np.asarray(columns, dtype=np.uint32)
    return np.stack([np.bitwise_xor.reduce(np.where(_BITS, cols[8 * k:8 * k + 8][None, :], np.uint32(0)), axis=1)
                     for k in range(4)])


def _position_table() -> np.ndarray:
    """Row ``i``: the register after byte value ``b`` at position ``i`` of a unit, then the rest of it as zeros."""
    rows = np.empty((UNIT, 256), dtype=np.uint32)
    rows[UNIT - 1] = TABLE
    for i in range(UNIT - 2, -1, -1):
        rows[i] = TABLE[rows[i + 1] & 0xFF] ^ (rows[i + 1] >> 8)
    return rows.reshape(-1)


_POSITIONS = _position_table()
_POSITION_HIGH = np.arange(UNIT, dtype=np.uint16) << 8


@functools.lru_cache(maxsize=16)
def _group_tables(unit: int) -> np.ndarray:
    """(GROUP, 4, 256): byte tables shifting a unit's value past the ``GROUP - 1 - i`` units after it."""
    step, columns, tables = _shift_columns(unit), _IDENTITY, []
    for _ in range(GROUP):
        tables.append(_byte_tables(columns))
        columns = _compose(step, columns)
    return np.stack(tables[::-1])


def _register_of_units(data: np.ndarray) -> int:
    """The register after ``data`` (uint8, a multiple of UNIT bytes) from a zero register."""
    index = np.bitwise_or(data.reshape(-1, UNIT), _POSITION_HIGH, dtype=np.uint16)
    values = np.bitwise_xor.reduce(np.take(_POSITIONS, index), axis=1)
    unit = UNIT
    position = np.arange(GROUP)[None, :]
    while values.size > 1:
        pad = (-values.size) % GROUP  # leading zero units leave a zero register unchanged
        if pad:
            values = np.concatenate([np.zeros(pad, np.uint32), values])
        group = values.reshape(-1, GROUP)
        tables = _group_tables(unit)
        shifted = (tables[position, 0, group & 0xFF] ^ tables[position, 1, (group >> 8) & 0xFF]
                   ^ tables[position, 2, (group >> 16) & 0xFF] ^ tables[position, 3, group >> 24])
        values = np.bitwise_xor.reduce(shifted, axis=1)
        unit *= GROUP
    return int(values[0]) if values.size else 0


def _native() -> object | None:
    """The optional ``google-crc32c`` wheel (hardware CRC, GB/s), when installed and compiled."""
    try:
        import google_crc32c
    except ImportError:
        return None
    return google_crc32c if getattr(google_crc32c, "implementation", "") == "c" else None


NATIVE = _native()


def extend(crc: int, data: bytes | bytearray | memoryview | np.ndarray) -> int:
    """The CRC-32C of what ``crc`` covered followed by ``data`` (``extend(0, b)`` is the CRC of ``b``).

    Uses ``google-crc32c`` when installed (``pip install tfjsconv[savedmodel]``), else numpy."""
    if NATIVE is not None:
        if isinstance(data, bytes):
            return NATIVE.extend(crc, data)
        array = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
        for start in range(0, array.size, WINDOW):  # it takes bytes only: copy a window at a time
            crc = NATIVE.extend(crc, array[start:start + WINDOW].tobytes())
        return crc
    return numpy_extend(crc, data)


def numpy_extend(crc: int, data: bytes | bytearray | memoryview | np.ndarray) -> int:
    """:func:`extend` in numpy alone (the fallback without ``google-crc32c``)."""
    array = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
    register = crc ^ 0xFFFFFFFF
    body = array.size - array.size % UNIT if array.size >= SMALL else 0
    for start in range(0, body, WINDOW):
        window = array[start:min(start + WINDOW, body)]
        register = _apply(_shift_columns(window.size), register) ^ _register_of_units(window)
    return _register_small(register, array[body:].tobytes()) ^ 0xFFFFFFFF


def value(data: bytes | bytearray | memoryview | np.ndarray) -> int:
    return extend(0, data)


def mask(crc: int) -> int:
    """LevelDB's masked CRC (stored beside data that may itself hold CRCs)."""
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    rotated = (masked - MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF
