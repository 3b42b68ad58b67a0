"""Keras attributes read through the fast path match h5py's own reading, whatever their storage."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from tfjsconv.errors import InputError
from tfjsconv.plugins.keras.h5_weights import h5_weight_groups
from tfjsconv.plugins.keras.h5source import H5Source, attr_list, attr_text

NAMES = ["dense/kernel:0", "dense/bias:0", "ünïcode/kernel:0"]


@pytest.mark.parametrize("store", ["fixed", "vlen", "chunked_fixed", "chunked_vlen", "scalar"])
def test_attr_list_reads_every_storage_keras_uses(tmp_path, store):
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        if store == "fixed":
            f.attrs["weight_names"] = np.array([n.encode() for n in NAMES])
        elif store == "vlen":
            f.attrs["weight_names"] = NAMES
        elif store == "scalar":
            f.attrs["weight_names"] = NAMES[0]
        else:  # Keras splits attributes over 64 KB into name0, name1, ...
            for i, part in enumerate((NAMES[:2], NAMES[2:])):
                f.attrs[f"weight_names{i}"] = (np.array([n.encode() for n in part]) if store == "chunked_fixed"
                                               else part)
        f.attrs["model_config"] = np.bytes_('{"a": "é"}'.encode())
        f.attrs["backend"] = "tensorflow"
    with h5py.File(path, "r") as f:
        expected = NAMES[:1] if store == "scalar" else NAMES
        assert attr_list(f, "weight_names") == expected
        assert attr_list(f, "missing") is None
        assert attr_text(f, "model_config") == '{"a": "é"}'
        assert attr_text(f, "backend") == "tensorflow"
        assert attr_text(f, "missing") is None


def test_a_listed_layer_without_its_group_is_a_clear_error(tmp_path):
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = np.array([b"dense", b"gone"])
        dense = weights.create_group("dense")
        dense.attrs["weight_names"] = np.array([b"dense/kernel:0"])
        dense.create_dataset("dense/kernel:0", data=np.ones((2, 3), np.float32))
    h5 = H5Source(path)
    try:
        with pytest.raises(InputError, match="lists layer 'gone' but has no group for it"):
            h5_weight_groups(h5, {"class_name": "Sequential", "config": {"layers": []}}, keras3=False)
    finally:
        h5.close()
