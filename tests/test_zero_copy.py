"""Zero-copy weight reading: plainly stored weights are mapped, not copied, and written byte for byte.

Expected bytes come from the source libraries (h5py's own read, tf_keras ``get_weights``, onnx's
``numpy_helper`` with external data loaded); the mapped path must write exactly those bytes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from tfjsconv.plugins.keras.h5source import H5Source, plain_offset  # noqa: E402
from tfjsconv.weights import write_weights  # noqa: E402
from tfjsconv.weights.reader import read_weights  # noqa: E402

RNG = np.random.default_rng(17)


def _shard_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob("*.bin")))


def _write(weights: list[tuple[str, object]], folder: Path) -> bytes:
    folder.mkdir()
    write_weights([weights], folder)
    return _shard_bytes(folder)


def _maps_a_file(array: np.ndarray) -> bool:
    """Whether ``array``'s memory belongs to an mmap (a view of the file), not to numpy."""
    base = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            return True
        base = base.base
    import mmap

    if isinstance(base, memoryview):
        base = base.obj
    return isinstance(base, mmap.mmap)


@pytest.fixture
def h5_file(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    values = {
        "contiguous": RNG.standard_normal((64, 33)).astype("<f4"),
        "chunked": RNG.standard_normal((40, 50)).astype("<f4"),
        "compressed": RNG.standard_normal((40, 50)).astype("<f4"),
        "big_endian": RNG.standard_normal((17, 9)).astype(">f4"),
        "big_endian_int": RNG.integers(-1000, 1000, (5, 7)).astype(">i4"),
        "scalar": np.asarray(3.5, dtype="<f4"),
        "empty": np.zeros((0, 4), dtype="<f4"),
    }
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        for name, value in values.items():
            kwargs = {"chunks": (8, 10)} if name == "chunked" else {}
            if name == "compressed":
                kwargs = {"compression": "gzip", "shuffle": True}
            f.create_dataset(name, data=value, **kwargs)
    return path, values


def test_h5_contiguous_datasets_are_mapped_others_read_by_h5py(h5_file) -> None:
    path, values = h5_file
    source = H5Source(path)
    with h5py.File(path, "r") as f:
        mapped = {name for name in values if plain_offset(f[name]) is not None}
    assert mapped == {"contiguous", "big_endian", "big_endian_int", "scalar"}
    for name in values:
        array = source.dataset(name).load()
        assert _maps_a_file(array) == (name in mapped), name
        assert array.dtype == values[name].dtype and array.shape == values[name].shape, name


def test_h5_written_bytes_equal_h5py_reads(h5_file, tmp_path: Path) -> None:
    """Contiguous, chunked, compressed and big-endian datasets: the shards hold what h5py reads."""
    path, values = h5_file
    source = H5Source(path)
    with h5py.File(path, "r") as f:
        expected = [(name, np.asarray(f[name][()])) for name in values]
    ours = _write([(name, source.dataset(name)) for name in values], tmp_path / "ours")
    theirs = _write(expected, tmp_path / "theirs")
    assert ours == theirs
    for name, value in read_weights(_manifest(source, values, tmp_path / "again"), tmp_path / "again"):
        np.testing.assert_array_equal(value, values[name].astype(values[name].dtype.newbyteorder("=")))


def _manifest(source: H5Source, values: dict[str, np.ndarray], folder: Path) -> list:
    folder.mkdir()
    return write_weights([[(name, source.dataset(name)) for name in values]], folder)


def test_mapped_h5_weight_is_writable_without_touching_the_file(h5_file) -> None:
    """Copy-on-write: a lowering that edits a weight in place gets private pages, the input stays."""
    path, values = h5_file
    before = path.read_bytes()
    array = H5Source(path).dataset("contiguous").load()
    array *= 2
    np.testing.assert_array_equal(array, values["contiguous"] * 2)
    assert path.read_bytes() == before


_TRUNCATE_AFTER_OPEN = """
import os, sys
import h5py, numpy as np
from tfjsconv.errors import InputError
from tfjsconv.plugins.keras.h5source import H5Source
path = sys.argv[1]
with h5py.File(path, "w") as f:
    f.create_dataset("w", data=np.ones((256, 256), np.float32))
source = H5Source(path)
lazy = source.dataset("w")               # checked against the file size here
os.truncate(path, os.path.getsize(path) - 4096)   # then the file shrinks (replaced while converting)
try:
    lazy.load()
except InputError as err:
    print("InputError:", err.message)
"""


def test_h5_offset_past_the_end_is_an_input_error_not_a_crash(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", _TRUNCATE_AFTER_OPEN, str(tmp_path / "t.h5")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]  # SIGBUS would be a negative return code
    assert "InputError:" in proc.stdout and "truncated" in proc.stdout and "'w'" in proc.stdout


@pytest.fixture(scope="module")
def keras_h5(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path_factory.mktemp("keras") / "m.h5"
    return path, _keras_h5(path)


def test_truncated_h5_through_the_cli_is_exit_2(tmp_path: Path, keras_h5) -> None:
    """A file cut inside its weights: a one-line error naming the file, exit 2."""
    path = tmp_path / "cut.h5"
    data = keras_h5[0].read_bytes()
    path.write_bytes(data)
    with h5py.File(path, "r") as f:
        ds = f["model_weights/dense/dense/kernel:0"]
        cut = int(ds.id.get_offset()) + ds.nbytes // 2
    path.write_bytes(data[:cut])
    proc = subprocess.run([sys.executable, "-m", "tfjsconv", "convert", "--quiet", str(path), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert str(path.name) in proc.stderr and "Traceback" not in proc.stderr


def _keras_h5(path: Path) -> list[np.ndarray]:
    """A small tf_keras model with random weights saved as .h5; its weights as Keras reports them."""
    code = textwrap.dedent(f"""
        import json, sys, numpy as np, tf_keras as k
        m = k.Sequential([k.layers.Input((12,)), k.layers.Dense(24, name="dense"),
                          k.layers.BatchNormalization(name="bn"), k.layers.Dense(5, name="out")])
        rng = np.random.default_rng(5)
        m.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in m.get_weights()])
        m.save({str(path)!r})
        np.savez({str(path) + ".npz"!r}, *m.get_weights())
    """)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    with np.load(str(path) + ".npz") as npz:
        return [npz[f"arr_{i}"] for i in range(len(npz.files))]


def test_keras_h5_to_layers_writes_keras_weights_exactly(tmp_path: Path, keras_h5) -> None:
    path, expected = keras_h5
    with h5py.File(path, "r") as f:  # tf_keras stores these contiguously: the mapped path is the one tested
        plain = []
        f.visititems(lambda n, o: plain.append(plain_offset(o) is not None) if isinstance(o, h5py.Dataset) else None)
    assert plain and all(plain)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "tfjsconv", "convert", "--quiet", str(path), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((out / "model.json").read_text())
    written = [value for _, value in read_weights(doc["weightsManifest"], out)]
    assert len(written) == len(expected)
    for got, want in zip(written, expected, strict=True):
        assert got.tobytes() == want.astype("<f4").tobytes()


_PEAK_H5 = """
import sys, tempfile, tracemalloc
import h5py, numpy as np
from tfjsconv.plugins.keras.h5source import H5Source
from tfjsconv.weights import write_weights
from tfjsconv.weights.finite import FiniteWeight
path = sys.argv[1]
with h5py.File(path, "w") as f:
    f.create_dataset("big", data=np.ones((4096, 4096), np.float32))   # 64 MiB, contiguous
source = H5Source(path)
weight = FiniteWeight("big", source.dataset("big"))    # as the layers writer wraps it
tracemalloc.start()
with tempfile.TemporaryDirectory() as out:
    write_weights([[("big", weight)]], out)
print(tracemalloc.get_traced_memory()[1])
"""

_PEAK_ONNX = """
import sys, tempfile, tracemalloc
from pathlib import Path
import numpy as np
from tfjsconv.plugins.onnx.external import ExternalArray
from tfjsconv.weights import write_weights
data = Path(sys.argv[1])
with open(data, "wb") as f:
    f.write(b"x" * 128)
    np.ones((4096, 4096), np.float32).tofile(f)
tracemalloc.start()
with tempfile.TemporaryDirectory() as out:
    write_weights([[("big", ExternalArray(data, 128, np.dtype(np.float32), (4096, 4096)))]], out)
print(tracemalloc.get_traced_memory()[1])
"""


@pytest.mark.parametrize("script", [_PEAK_H5, _PEAK_ONNX], ids=["h5", "onnx_external"])
def test_large_plain_weight_is_not_copied(tmp_path: Path, script: str) -> None:
    """Writing a 64 MiB weight allocates a few MiB of Python/numpy memory at most (chunks), not 64."""
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "big.bin")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak = int(proc.stdout.strip().splitlines()[-1])
    assert peak < 8 * 2**20, f"peak traced allocations {peak / 2**20:.1f} MiB for a 64 MiB weight"


# -- ONNX --------------------------------------------------------------------------------------------

onnx = pytest.importorskip("onnx")


def _onnx_model(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    from onnx import helper, numpy_helper

    values = {
        "raw_f32": RNG.standard_normal((32, 16)).astype(np.float32),
        "raw_i64": RNG.integers(-50, 50, (7,)).astype(np.int64),
        "ext_f32": RNG.standard_normal((64, 32)).astype(np.float32),
        "ext_f16": RNG.standard_normal((16, 8)).astype(np.float16),
        "ext_i32": RNG.integers(-9, 9, (33,)).astype(np.int32),
    }
    inits = [numpy_helper.from_array(v, name) for name, v in values.items()]
    with open(folder / "data.bin", "wb") as data:
        data.write(b"pad")  # unaligned offsets too
        for tensor in inits:
            if tensor.name.startswith("ext_"):
                offset = data.tell()
                data.write(tensor.raw_data)
                tensor.ClearField("raw_data")
                tensor.data_location = onnx.TensorProto.EXTERNAL
                for key, value in (("location", "data.bin"), ("offset", str(offset)),
                                   ("length", str(values[tensor.name].nbytes))):
                    entry = tensor.external_data.add()
                    entry.key, entry.value = key, value
    nodes = [helper.make_node("Identity", [name], [f"out_{name}"]) for name in values]
    outputs = [helper.make_tensor_value_info(f"out_{name}", helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
               for name, v in values.items()]
    graph = helper.make_graph(nodes, "g", [], outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    path = folder / "m.onnx"
    onnx.save_model(model, str(path))
    return path, values


def test_onnx_raw_and_external_initializers_are_views_and_written_exactly(tmp_path: Path) -> None:
    from onnx import numpy_helper

    from tfjsconv.plugins.onnx.external import ExternalArray
    from tfjsconv.plugins.onnx.reading import initializer_array

    path, values = _onnx_model(tmp_path)
    light = onnx.load(str(path), load_external_data=False)
    full = onnx.load(str(path), load_external_data=True)
    kinds = {}
    ours = []
    for tensor in light.graph.initializer:
        array = initializer_array(tensor, tmp_path)
        kinds[tensor.name] = type(array).__name__
        if isinstance(array, ExternalArray):
            assert _maps_a_file(array.load()), tensor.name
        else:
            assert not array.flags.owndata, f"{tensor.name}: raw initializer copied"
        ours.append((tensor.name, array))
    assert kinds == {"raw_f32": "ndarray", "raw_i64": "ndarray", "ext_f32": "ExternalArray",
                     "ext_f16": "ExternalArray", "ext_i32": "ExternalArray"}
    theirs = [(t.name, numpy_helper.to_array(t)) for t in full.graph.initializer]
    for name, array in theirs:
        np.testing.assert_array_equal(array, values[name])
    assert _write(ours, tmp_path / "ours") == _write(theirs, tmp_path / "theirs")


def test_onnx_external_data_shrunk_after_reading_is_an_error_not_a_crash(tmp_path: Path) -> None:
    from tfjsconv.plugins.onnx.external import ExternalArray

    data = tmp_path / "d.bin"
    np.ones(1024, np.float32).tofile(data)
    lazy = ExternalArray(data, 0, np.dtype(np.float32), (1024,))
    os.truncate(data, 1000)
    with pytest.raises(OSError, match="ended early"):
        lazy.load()


# -- plain byte ranges copied through one buffer (tfjsconv.weights.file_ranges) -------------------------

def _spread_nonfinite(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 2.8 MB weight (three of the writer's 1 MiB pieces) with NaN and Inf in different pieces."""
    values = RNG.standard_normal(700_000).astype("<f4")
    values[[5, 300_000, 699_999]] = np.nan
    values[400_000] = np.inf
    path = tmp_path / "spread.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("w", data=values)
    return path, values


def test_plain_weight_is_copied_exactly_and_its_nan_counted_across_pieces(tmp_path: Path) -> None:
    from tfjsconv.weights.file_ranges import BUFFER_BYTES, file_range_of
    from tfjsconv.weights.report import WeightsReport

    path, values = _spread_nonfinite(tmp_path)
    lazy = H5Source(path).dataset("w")
    assert file_range_of(lazy) is not None and values.nbytes > 2 * BUFFER_BYTES
    report = WeightsReport()
    out = tmp_path / "graph"
    out.mkdir()
    write_weights([[("w", lazy)]], out, shard_size=1_000_000, report=report)  # pieces straddle shards
    assert _shard_bytes(out) == values.tobytes()
    assert report.notes == ["weight 'w' holds 3 NaN values; the model's outputs may be NaN"]


def test_layers_weight_with_nonfinite_values_is_refused_with_every_count(tmp_path: Path) -> None:
    from tfjsconv.errors import InputError
    from tfjsconv.weights.finite import FiniteWeight

    path, _ = _spread_nonfinite(tmp_path)
    out = tmp_path / "layers"
    out.mkdir()
    with pytest.raises(InputError, match=r"'w' holds 3 NaN values and 1 infinite value"):
        write_weights([[("w", FiniteWeight("w", H5Source(path).dataset("w")))]], out)
    assert list(out.iterdir()) == []  # the shards written before the last piece are gone


def test_big_endian_and_converted_weights_are_not_copied_as_they_are(h5_file, tmp_path: Path) -> None:
    """A range is only copied when the file's bytes are TF.js's bytes; others are decoded (and still exact)."""
    path, values = h5_file
    source = H5Source(path)
    out = tmp_path / "out"
    written = _write([(name, source.dataset(name)) for name in ("big_endian", "big_endian_int")], out)
    assert written == values["big_endian"].astype("<f4").tobytes() + values["big_endian_int"].astype("<i4").tobytes()


def test_a_range_that_ends_early_is_an_error_naming_the_weight(tmp_path: Path) -> None:
    """Fault injection: the file shrinks between the size check and the read."""
    from tfjsconv.errors import WeightsError
    from tfjsconv.weights.file_ranges import FileRange

    data = tmp_path / "short.bin"
    data.write_bytes(np.arange(10, dtype="<f4").tobytes())

    class Shrunk:
        shape, dtype = (100,), np.dtype("<f4")

        def __init__(self) -> None:
            self.file = open(data, "rb", buffering=0)  # noqa: SIM115 - closed below

        def file_range(self) -> FileRange:
            return FileRange(self.file.fileno(), 0, 400)

    shrunk = Shrunk()
    out = tmp_path / "out"
    out.mkdir()
    try:
        with pytest.raises(WeightsError, match=r"weight 'x': its file ended 360 bytes early"):
            write_weights([[("x", shrunk)]], out)
    finally:
        shrunk.file.close()
    assert list(out.iterdir()) == []
