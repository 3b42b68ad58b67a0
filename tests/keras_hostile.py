"""Hostile Keras inputs, made from valid seed files: HDF5 links out of the file, edited configs, huge zips.

Shared by the bad-input table (``tests/test_bad_inputs.py``) and ``tests/test_keras_hostile.py``.
"""
from __future__ import annotations

import io
import json
import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Bytes no real weight holds: if they show up in any written file, a link was followed.
SECRET = np.frombuffer(b"TFJSCONV-SECRET-" * 4, dtype=np.float32).reshape(4, 4)


def secret_h5(folder: Path) -> Path:
    """An HDF5 file holding a 'secret' dataset ``/s`` (4 x 4 float32) and an external-storage twin."""
    import h5py

    path = folder / "secret.h5"
    with h5py.File(path, "w") as f:
        f["s"] = SECRET
    (folder / "secret.bin").write_bytes(SECRET.tobytes())
    return path


def first_kernel(f) -> str:
    """The path of the first Dense kernel in a Keras .h5 or model.weights.h5 file."""
    names: list[str] = []
    f.visit_links(lambda n: names.append(n) if n.endswith(("kernel:0", "kernel", "vars/0")) else None)
    return sorted(names)[0]


def replace_with(kind: str, secret: Path) -> Callable:
    """An edit that replaces the first kernel with a link / dataset reading ``secret``'s data."""
    import h5py

    def edit(f) -> None:
        name = first_kernel(f)
        shape, dtype = f[name].shape, f[name].dtype
        del f[name]
        if kind == "external_link":
            f[name] = h5py.ExternalLink(str(secret), "/s")
        elif kind == "soft_link":
            f[name] = h5py.SoftLink("/not/in/this/file")
        elif kind == "virtual":
            layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
            layout[:] = h5py.VirtualSource(str(secret), "s", shape=(4, 4), dtype="float32")[: shape[0], : shape[1]]
            f.create_virtual_dataset(name, layout)
        elif kind == "external_storage":
            size = int(np.prod(shape)) * 4
            f.create_dataset(name, shape=shape, dtype=dtype, external=[(str(secret.parent / "secret.bin"), 0, size)])
        else:
            raise ValueError(kind)
    return edit


def edit_h5(src: Path, dst: Path, edit: Callable) -> Path:
    import h5py

    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def edit_keras_weights(src: Path, dst: Path, edit: Callable) -> Path:
    """A copy of a .keras archive whose model.weights.h5 went through ``edit``."""
    import h5py

    with zipfile.ZipFile(src) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as f:
        edit(f)
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(dst, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return dst


def edit_h5_config(src: Path, dst: Path, edit: Callable[[dict], None]) -> Path:
    def apply(f) -> None:
        config = json.loads(f.attrs["model_config"])
        edit(config)
        f.attrs["model_config"] = json.dumps(config)
    return edit_h5(src, dst, apply)


def as_functional(config: dict) -> None:
    """Turn a Sequential model config (Keras 2 form, first layer an InputLayer) into the same Functional one."""
    layers = config["config"]["layers"]
    previous = None
    for layer in layers:
        layer["name"] = layer["config"]["name"]
        layer["inbound_nodes"] = [] if previous is None else [[[previous, 0, 0, {}]]]
        previous = layer["name"]
    config["class_name"] = "Functional"
    config["config"]["input_layers"] = [[layers[0]["name"], 0, 0]]
    config["config"]["output_layers"] = [[layers[-1]["name"], 0, 0]]


def make_cycle(config: dict) -> None:
    """The first layer after the input reads the last layer's output (after :func:`as_functional`)."""
    as_functional(config)
    layers = config["config"]["layers"]
    layers[1]["inbound_nodes"] = [[[layers[-1]["name"], 0, 0, {}]]]


def make_missing_ref(config: dict) -> None:
    as_functional(config)
    config["config"]["layers"][-1]["inbound_nodes"] = [[["no_such_layer", 0, 0, {}]]]


def many_member_zip(path: Path, count: int, *, declared: int | None = None) -> Path:
    """A zip of ``count`` empty stored members plus config.json, written directly (zipfile is ~20x slower).

    ``declared`` overrides the member count in the end records (a zip that lies about it).
    """
    names = [b"config.json"] + [b"m%d" % i for i in range(count)]
    local_head = struct.Struct("<4s5H3L2H").pack
    central_head = struct.Struct("<4s6H3L5H2L").pack
    local_parts, central_parts, offset = [], [], 0
    for name in names:
        local_parts.append(local_head(b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name)
        central_parts.append(central_head(b"PK\x01\x02", 45, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0,
                                          offset) + name)
        offset += 30 + len(name)
    local, central = b"".join(local_parts), b"".join(central_parts)
    total = len(names) if declared is None else declared
    zip64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, total, total, len(central), len(local))
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(local) + len(central), 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(total, 0xFFFF), min(total, 0xFFFF), 0xFFFFFFFF,
                      0xFFFFFFFF, 0)
    path.write_bytes(local + central + zip64 + locator + end)
    return path
