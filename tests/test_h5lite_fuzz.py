"""Damaged Keras files: the lite HDF5 reader refuses them (Unsupported) or agrees with h5py exactly.

Bytes of a small Keras ``.h5`` are flipped at seeded random positions of its metadata (the weights'
own bytes change values, not structure) and the file is cut at many lengths. Whatever the damage,
the lite reader never crashes, hangs or answers differently from h5py: it steps aside instead.
"""
from __future__ import annotations

import random
import struct
from pathlib import Path

import h5py
import pytest

from keras_models import saved_model
from test_h5lite import hdf5_of, h5py_snapshot, lite_or_unsupported
from tfjsconv.errors import InputError
from tfjsconv.plugins.keras.h5source import H5Source

FLIPS = 300  # per file
HEADER_FLIPS = 150  # per file, within object headers only (where the structure a reader trusts lies)
CUTS = 40


def _metadata_positions(path: Path) -> list[int]:
    """Every byte position outside the datasets' stored values."""
    data: list[tuple[int, int]] = []
    with h5py.File(path, "r") as f:
        def visit(_name, obj):
            if isinstance(obj, h5py.Dataset) and obj.id.get_offset() is not None:
                data.append((int(obj.id.get_offset()), int(obj.id.get_storage_size())))
        f.visititems(visit)
    inside = set()
    for start, size in data:
        inside.update(range(start, start + size))
    return [i for i in range(path.stat().st_size) if i not in inside]


def _header_positions(path: Path) -> list[int]:
    """Every byte position of the objects' (first) object header blocks."""
    data = path.read_bytes()
    with h5py.File(path, "r") as f:
        addresses = [h5py.h5o.get_info(f.id).addr]
        f.visititems(lambda _name, obj: addresses.append(h5py.h5o.get_info(obj.id).addr))
    return [i for address in addresses for i in range(address, address + 16 + struct.unpack_from("<I", data, address + 8)[0])]


def _h5py_or_error(path: Path):
    try:
        return h5py_snapshot(path)
    except Exception:  # noqa: BLE001 - any refusal by h5py
        return None


def _check(path: Path) -> None:
    lite = lite_or_unsupported(path)
    if lite is not None:
        assert lite == _h5py_or_error(path)
    try:  # the source itself: read either way, or a clear error
        H5Source(path).close()
    except InputError:
        pass


@pytest.fixture(scope="module", params=["tf_keras.h5", "keras3.keras"])
def keras_file(request, tmp_path_factory) -> bytes:
    """A small Keras file with nested groups, string attributes and a global heap (the weights
    file of a ``.keras`` archive for Keras 3)."""
    path = hdf5_of(saved_model("nested", request.param).path, tmp_path_factory.mktemp("keras"))
    return path.read_bytes()


def test_flipped_bytes_are_refused_or_read_as_h5py_reads_them(keras_file, tmp_path):
    source = tmp_path / "source.h5"
    source.write_bytes(keras_file)
    positions = _metadata_positions(source)
    rng = random.Random(17)
    path = tmp_path / "m.h5"
    for _ in range(FLIPS):
        damaged = bytearray(keras_file)
        position = rng.choice(positions)
        damaged[position] ^= rng.choice([0x01, 0x80, 0xFF, rng.randrange(1, 256)])
        path.write_bytes(damaged)
        _check(path)


def test_flipped_header_bytes_are_refused_or_read_as_h5py_reads_them(keras_file, tmp_path):
    """Flips in object headers only, where what a reader trusts lies (message types, datatypes, shapes,
    layouts): random flips anywhere mostly land in free space and padding."""
    source = tmp_path / "source.h5"
    source.write_bytes(keras_file)
    positions = _header_positions(source)
    rng = random.Random(19)
    path = tmp_path / "m.h5"
    for _ in range(HEADER_FLIPS):
        damaged = bytearray(keras_file)
        for _flip in range(rng.choice([1, 1, 2])):
            damaged[rng.choice(positions)] ^= rng.choice([0x01, 0x02, 0x08, 0x10, 0x80, 0xFF, rng.randrange(1, 256)])
        path.write_bytes(damaged)
        _check(path)


def test_cut_files_are_refused_or_read_as_h5py_reads_them(keras_file, tmp_path):
    rng = random.Random(18)
    path = tmp_path / "m.h5"
    for length in sorted(rng.sample(range(len(keras_file)), CUTS)):
        path.write_bytes(keras_file[:length])
        _check(path)
