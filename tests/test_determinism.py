"""Determinism: the same input converted twice gives byte-identical output folders.

Each conversion runs in its own interpreter with a different ``PYTHONHASHSEED``, so set and dict
order that depends on string hashing would show up as a difference. Every file is compared: names,
bytes, and model.json must not mention the input's location or any temporary folder.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from canary import Canary
from fuzz import seeds

pytest.importorskip("onnx")
pytest.importorskip("h5py")

#: name -> (source file, extra CLI flags); IR graphs (built in the child) take convert() keyword arguments
CASES = {
    "onnx": ("mlp.onnx", []),
    "onnx_uint8": ("mlp.onnx", ["--quantize_uint8"]),
    "onnx_external_data": ("ext/model.onnx", ["--weight_shard_size_bytes=256"]),
    "ir_graph_float16": ("graph.ir", {"quantize_float16": True}),
    "ir_graph": ("graph.ir", {"weight_shard_size_bytes": 100}),
    "keras_h5": ("tk.h5", []),
    "keras_h5_split_uint16": ("tk.h5", ["--split_weights_by_layer", "--quantize_uint16"]),
    "keras3_keras": ("k3.keras", []),
    "keras3_h5_float16": ("k3.h5", ["--quantize_float16"]),
    "tfjs_layers_model": ("layers_model", ["--quantize_uint8"]),
}

#: Converts every case into OUT/<name>; IR graphs are rebuilt from the same seed in each process.
_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[3])
from tfjsconv.cli import main
import tfjsconv
cases, src, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[4]
for name, (key, flags) in cases.items():
    if key == "graph.ir":
        from fuzz.seeds import ir_graph
        tfjsconv.convert(ir_graph(3), f"{out}/{name}", **flags)
        continue
    code = main(["convert", f"{src}/{key}", f"{out}/{name}", "--quiet", *flags])
    assert code == 0, (name, code)
"""


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    pytest.importorskip("keras")
    pytest.importorskip("tf_keras")
    import tfjsconv

    folder = tmp_path_factory.mktemp("determinism_sources")
    seeds.keras_files(folder, Canary(folder / "canary.txt"))
    seeds.save_onnx(seeds.onnx_mlp(seed=5), folder / "mlp.onnx")
    seeds.onnx_with_external_data(folder / "ext", seed=6)
    tfjsconv.convert(folder / "k3.keras", folder / "layers_model")
    return folder


def _convert_all(sources: Path, out: Path, hash_seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "TF_CPP_MIN_LOG_LEVEL": "2"}
    tests_dir = str(Path(__file__).parent)
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(CASES), str(sources), tests_dir, str(out)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two_runs(sources, tmp_path_factory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("run1"), tmp_path_factory.mktemp("run2")
    _convert_all(sources, first, "1")
    _convert_all(sources, second, "2")
    return first, second


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_conversions_are_byte_identical(two_runs, sources, case):
    first, second = (run / case for run in two_runs)
    a, b = _files(first), _files(second)
    assert sorted(a) == sorted(b), "different file names"
    assert "model.json" in a and any(name.endswith(".bin") for name in a)
    for name in a:
        assert a[name] == b[name], f"{case}/{name} differs between two conversions"
    text = a["model.json"].decode("utf-8")
    for leak in (str(sources), str(first), "tfjsconv-keras-", ".tfjsconv-staging", "/tmp/"):
        assert leak not in text, f"model.json mentions {leak!r}"
