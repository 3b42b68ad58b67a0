"""Conversions read plain Keras files without importing h5py, and others through h5py to the same bytes."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import tfjsconv
from keras_models import saved_model
from test_h5lite import lite_or_unsupported
from tfjsconv.plugins.keras.h5source import H5Source

_CONVERT = """
import sys
import tfjsconv
tfjsconv.convert(sys.argv[1], sys.argv[2])
print("h5py imported:", "h5py" in sys.modules)
"""


@pytest.mark.parametrize("flavor", ["tf_keras.h5", "keras3.h5", "keras3.keras"])
def test_a_plain_keras_file_converts_without_importing_h5py(flavor, tmp_path):
    saved = saved_model("cnn", flavor)
    proc = subprocess.run([sys.executable, "-c", _CONVERT, str(saved.path), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "h5py imported: False" in proc.stdout
    assert (tmp_path / "out" / "model.json").exists()


@pytest.fixture
def readers(monkeypatch) -> list[bool]:
    """Whether each H5Source opened during the test read its file with the lite reader."""
    opened: list[bool] = []
    init = H5Source.__init__

    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        opened.append(self.lite)

    monkeypatch.setattr(H5Source, "__init__", spy)
    monkeypatch.setattr(H5Source, "original_init", init, raising=False)
    return opened


def _force_h5py(monkeypatch) -> None:
    monkeypatch.setitem(H5Source.original_init.__kwdefaults__, "lite", False)


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _chunked_copy(path: Path, target: Path) -> None:
    """``path`` with its first weight stored in chunks (which only h5py reads)."""
    shutil.copy(path, target)
    with h5py.File(target, "a") as f:
        names: list[str] = []
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) and obj.ndim else None)
        name = names[0]
        data, attrs = f[name][()], dict(f[name].attrs)
        del f[name]
        f.create_dataset(name, data=data, chunks=tuple(max(1, d // 2) for d in data.shape))
        f[name].attrs.update(attrs)


@pytest.mark.parametrize("flavor", ["tf_keras.h5", "keras3.h5"])
def test_lite_and_h5py_readings_convert_to_the_same_bytes(flavor, tmp_path, monkeypatch, readers):
    saved = saved_model("cnn", flavor)
    tfjsconv.convert(saved.path, tmp_path / "lite")
    chunked = tmp_path / f"chunked{saved.path.suffix}"
    _chunked_copy(saved.path, chunked)
    assert lite_or_unsupported(chunked) is None  # the lite reader steps aside: h5py reads it
    tfjsconv.convert(chunked, tmp_path / "fallback")
    _force_h5py(monkeypatch)
    tfjsconv.convert(saved.path, tmp_path / "h5py")
    assert set(readers[:1]) == {True} and set(readers[-1:]) == {False} and False in readers
    lite = _outputs(tmp_path / "lite")
    assert lite == _outputs(tmp_path / "h5py")
    assert lite == _outputs(tmp_path / "fallback")
    assert any(np.frombuffer(v, np.uint8).any() for k, v in lite.items() if k.endswith(".bin"))


@pytest.mark.parametrize(("builder", "flavor", "output_format"),
                         [("nested", "tf_keras.h5", "tfjs_layers_model"), ("wrappers", "keras3.keras", "tfjs_layers_model"),
                          ("cnn", "keras3.keras", "tfjs_graph_model"), ("cnn", "tf_keras.h5", "tfjs_graph_model")])
def test_layers_and_graph_models_are_the_same_bytes_read_either_way(builder, flavor, output_format, tmp_path,
                                                                     monkeypatch, readers):
    saved = saved_model(builder, flavor)
    tfjsconv.convert(saved.path, tmp_path / "lite", output_format=output_format)
    lite_opened = len(readers)
    _force_h5py(monkeypatch)
    tfjsconv.convert(saved.path, tmp_path / "h5py", output_format=output_format)
    assert lite_opened and set(readers[:lite_opened]) == {True} and set(readers[lite_opened:]) == {False}
    assert _outputs(tmp_path / "lite") == _outputs(tmp_path / "h5py")
