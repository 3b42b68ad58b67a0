"""The lite HDF5 reader gives exactly h5py's answers on every kind of file Keras writes, or steps aside.

Each file is read both ways into one snapshot (tree in listing order, attributes with their Python
types, dataset shapes, dtypes, offsets and stored sizes); the lite snapshot must equal h5py's, or
the lite reader must raise ``Unsupported`` (then ``H5Source`` reads the file with h5py).
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from keras_models import saved_model
from tfjsconv.errors import InputError
from tfjsconv.plugins.keras.h5_weights import h5_weight_groups
from tfjsconv.plugins.keras.h5lite import LiteGroup, Unsupported, read_tree
from tfjsconv.plugins.keras.h5source import H5Source, attr_list, attr_text

MAX_DEPTH = 80


def _value(value: Any) -> Any:
    """An attribute value with its exact Python and numpy types, comparable with ``==``."""
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, [_value(v) for v in value.reshape(-1).tolist()])
    if isinstance(value, np.generic):
        return (type(value).__name__, value.dtype.str, value.tobytes())
    return (type(value).__name__, value)


def _snapshot(obj: Any, is_group: Any, storage: Any, depth: int = 0) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise RecursionError("deeper than any Keras file")
    attrs = [(name, _value(obj.attrs[name])) for name in obj.attrs.keys()]  # in h5py's listing order
    if is_group(obj):
        keys = list(obj.keys())
        return {"attrs": attrs, "keys": keys,
                "members": {k: _snapshot(obj[k], is_group, storage, depth + 1) for k in keys}}
    return {"attrs": attrs, "shape": tuple(obj.shape), "dtype": np.dtype(obj.dtype).str, "storage": storage(obj)}


def h5py_snapshot(path: Path) -> dict[str, Any]:
    def storage(ds: Any) -> tuple[int | None, int]:
        offset = ds.id.get_offset()
        return (None if offset is None else int(offset)), int(ds.id.get_storage_size())

    with h5py.File(path, "r") as f:
        return _snapshot(f, lambda o: isinstance(o, h5py.Group), storage)


def lite_snapshot(path: Path) -> dict[str, Any]:
    fd = os.open(path, os.O_RDONLY)
    try:
        root = read_tree(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    return _snapshot(root, lambda o: isinstance(o, LiteGroup),
                     lambda ds: (ds.address, ds.size if ds.address is not None else 0))


def lite_or_unsupported(path: Path) -> dict[str, Any] | None:
    try:
        return lite_snapshot(path)
    except Unsupported:
        return None


KERAS_FILES = [(builder, flavor) for builder in ("misc", "wrappers", "nested")
               for flavor in ("keras3.keras", "keras3.h5", "tf_keras.h5", "tf_keras.keras")]


def hdf5_of(path: Path, tmp_path: Path) -> Path:
    if path.suffix != ".keras":
        return path
    target = tmp_path / "model.weights.h5"
    with zipfile.ZipFile(path) as archive:
        target.write_bytes(archive.read("model.weights.h5"))
    return target


@pytest.mark.parametrize(("builder", "flavor"), KERAS_FILES)
def test_every_keras_file_is_read_as_h5py_reads_it(builder, flavor, tmp_path):
    path = hdf5_of(saved_model(builder, flavor).path, tmp_path)
    assert lite_snapshot(path) == h5py_snapshot(path)  # Keras files are all in the lite subset


NAMES = [f"layer_{i}/kernel:0" for i in range(3000)]  # over 64 KB: Keras splits the attribute


def _write(path: Path, kind: str) -> None:
    with h5py.File(path, "w") as f:
        if kind == "strings":
            f.attrs["fixed"] = np.array([b"dense/kernel:0", b"b", "ü".encode()])
            f.attrs["fixed_scalar"] = np.bytes_(b'{"a": 1}')
            f.attrs["vlen"] = ["dense", "ünïcode", ""]
            f.attrs["vlen_scalar"] = "tensorflow"
            f.attrs["utf8_fixed"] = np.array(["é".encode()], dtype=h5py.string_dtype("utf-8", 4))
            f.attrs["embedded_null"] = np.array([b"a\0b"])
        elif kind == "chunked_attributes":
            for i, part in enumerate((NAMES[:1500], NAMES[1500:])):
                f.attrs[f"weight_names{i}"] = np.array([n.encode() for n in part])
        elif kind == "numbers":
            for dtype in ("<i1", "<u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8",
                          ">i4", ">f4", ">f8"):
                f.create_dataset(f"d_{dtype}", data=np.arange(6).reshape(2, 3).astype(dtype))
                f.attrs[f"a_{dtype}"] = np.arange(3).astype(dtype)
                f.attrs[f"s_{dtype}"] = np.array(2, dtype=dtype)
            f.attrs["empty"] = np.asarray([])
            f.create_dataset("scalar", data=np.float32(1.5))
            f.create_dataset("int_scalar", data=np.int64(7))
            f.create_dataset("empty", shape=(0, 3), dtype="f4")
            f.create_dataset("unwritten", shape=(4,), dtype="f4")
            f["deep/er/still"] = np.ones(2, np.float32)
        elif kind == "many_links":  # a B-tree of more than one level
            group = f.create_group("many")
            for i in range(400):
                group.create_dataset(f"w{i:04d}", data=np.full(2, i, np.float32))
        elif kind == "bool":
            f.create_dataset("flag", data=np.array([True, False]))
        elif kind == "bool_attribute":
            f.attrs["flag"] = True
        elif kind == "chunked":
            f.create_dataset("c", data=np.ones((8, 8), np.float32), chunks=(4, 4))
        elif kind == "gzip":
            f.create_dataset("z", data=np.ones((8, 8), np.float32), compression="gzip")
        elif kind == "compact":
            f.create_dataset("k", data=np.ones(4, np.float32),
                             dcpl=_compact_plist())
        elif kind == "string_dataset":
            f.create_dataset("s", data=np.array([b"a", b"bc"]))
        elif kind == "soft_link":
            f["g/x"] = np.ones(3, np.float32)
            f["alias"] = h5py.SoftLink("/g/x")
        elif kind == "hard_link_twice":
            f["g/x"] = np.ones(3, np.float32)
            f["y"] = f["g/x"]
        elif kind == "cycle":
            f["g/x"] = np.ones(3, np.float32)
            f["g/loop"] = f["g"]
        elif kind == "deep":
            f["/".join(["g"] * 100) + "/x"] = np.ones(3, np.float32)
        elif kind == "empty_attribute":
            f.attrs["nothing"] = h5py.Empty("f4")
        elif kind == "latest":
            pass
        else:
            raise AssertionError(kind)


def _compact_plist() -> Any:
    plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    plist.set_layout(h5py.h5d.COMPACT)
    return plist


UNDERSTOOD = ["strings", "chunked_attributes", "numbers", "many_links"]
#: Read by h5py instead: h5py's bool (an enum), chunked or filtered storage, compact storage, strings as
#: data, links that are not plain hard links (a group in itself too), groups nested deeper than any Keras
#: file, and an empty (null dataspace) attribute.
STEPPED_ASIDE = ["bool", "bool_attribute", "chunked", "gzip", "compact", "string_dataset", "soft_link",
                 "hard_link_twice", "cycle", "deep", "empty_attribute"]


@pytest.mark.parametrize("kind", UNDERSTOOD)
def test_files_in_the_subset_are_read_exactly_as_h5py_reads_them(kind, tmp_path):
    path = tmp_path / "f.h5"
    _write(path, kind)
    assert lite_snapshot(path) == h5py_snapshot(path)


@pytest.mark.parametrize("kind", STEPPED_ASIDE)
def test_files_outside_the_subset_are_left_to_h5py(kind, tmp_path):
    path = tmp_path / "f.h5"
    _write(path, kind)
    with pytest.raises(Unsupported):
        lite_snapshot(path)
    source = H5Source(path)
    try:
        assert not source.lite
    finally:
        source.close()


def test_new_style_files_are_left_to_h5py(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w", libver="latest") as f:
        f["g/x"] = np.ones(3, np.float32)
    with pytest.raises(Unsupported):
        lite_snapshot(path)


def test_a_source_reads_the_same_weights_and_attributes_both_ways(tmp_path):
    path = tmp_path / "f.h5"
    _write(path, "numbers")
    with h5py.File(path, "a") as f:
        f.attrs["weight_names"] = np.array([b"d_<f4", b"d_>i4", b"scalar", b"empty"])
        f.attrs["model_config"] = '{"a": "é"}'
    lite, slow = H5Source(path), H5Source(path, lite=False)
    try:
        assert lite.lite and not slow.lite
        for name in ("weight_names", "model_config", "missing", "a_<f4", "s_>i4"):
            assert _value(attr_list(lite.file, name)) == _value(attr_list(slow.file, name))
            assert _value(attr_text(lite.file, name)) == _value(attr_text(slow.file, name))
        for name in attr_list(lite.file, "weight_names") + ["deep/er/still", "int_scalar"]:
            a, b = lite.dataset(name), slow.dataset(name)
            assert (a.shape, a.dtype, a.offset) == (b.shape, b.dtype, b.offset)
            x, y = a.load(), b.load()
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        for bad in ("unwritten", "deep", "missing/x"):
            with pytest.raises(InputError) as lite_error:
                lite.dataset(bad)
            with pytest.raises(InputError) as slow_error:
                slow.dataset(bad)
            assert type(lite_error.value) is type(slow_error.value)
        assert ("deep/er" in lite.file, "deep/er/still/x" in lite.file, len(lite.file["deep"])) == \
               ("deep/er" in slow.file, "deep/er/still/x" in slow.file, len(slow.file["deep"]))
        seen_lite, seen_slow = [], []
        lite.file.visititems(lambda name, obj: seen_lite.append((name, hasattr(obj, "shape"))))
        slow.file.visititems(lambda name, obj: seen_slow.append((name, hasattr(obj, "shape"))))
        assert seen_lite == seen_slow
    finally:
        lite.close()
        slow.close()


def test_weight_groups_of_a_keras_file_are_the_same_both_ways():
    saved = saved_model("nested", "tf_keras.h5")
    import json

    lite, slow = H5Source(saved.path), H5Source(saved.path, lite=False)
    try:
        assert lite.lite
        config = json.loads(attr_text(lite.file, "model_config"))
        groups = [[(n, a.shape, a.dtype, a.offset, a.path) for n, a in g]
                  for g in h5_weight_groups(lite, config, keras3=False)]
        assert groups == [[(n, a.shape, a.dtype, a.offset, a.path) for n, a in g]
                          for g in h5_weight_groups(slow, config, keras3=False)]
    finally:
        lite.close()
        slow.close()
