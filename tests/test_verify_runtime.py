"""tfjsconv.verify: the Node/TF.js runtime, the runner, and comparing outputs.

Tests marked ``node`` run hand-written TF.js models in real @tensorflow/tfjs 4.22.0 (cpu and wasm
backends); they install the runtime into the user cache on first use. The rest (comparison,
reports, input conversion, install mechanics with a fake npm) need no Node.js.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tfjsconv.errors import InputError, RuntimeMissingError, UsageError, VerificationError, WeightsError
from tfjsconv.verify import (
    BackendRun,
    OutputComparison,
    TfjsRunError,
    VerifyReport,
    compare,
    format_report,
    run_model,
    to_tfjs_array,
    unmatched_outputs,
    verify_model,
)
from tfjsconv.verify import runtime as rt

NODE_DIR = Path(rt.__file__).parent / "node"

W = (np.arange(6, dtype=np.float32).reshape(3, 2) - 2.5) / 7
B = np.array([0.5, -0.25], dtype=np.float32)


# -------------------------------------------------------------------------------------------------
# Hand-written TF.js models


def _shape(*dims: int) -> dict:
    return {"dim": [{"size": str(d)} for d in dims]}


def write_graph_model(folder: Path) -> Path:
    """x[-1, 3] @ w[3, 2] -> y, as a graph model with a signature and one weight shard."""
    folder.mkdir(parents=True, exist_ok=True)
    model = {
        "format": "graph-model",
        "generatedBy": "hand-written",
        "convertedBy": "tests/test_verify_runtime.py",
        "modelTopology": {
            "node": [
                {"name": "x", "op": "Placeholder",
                 "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": _shape(-1, 3)}}},
                {"name": "w", "op": "Const",
                 "attr": {"dtype": {"type": "DT_FLOAT"},
                          "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": _shape(3, 2)}}}},
                {"name": "MatMul", "op": "MatMul", "input": ["x", "w"],
                 "attr": {"T": {"type": "DT_FLOAT"}, "transpose_a": {"b": False}, "transpose_b": {"b": False}}},
            ],
            "library": {},
            "versions": {"producer": 1}},
        "signature": {
            "inputs": {"x": {"name": "x:0", "dtype": "DT_FLOAT", "tensorShape": _shape(-1, 3)}},
            "outputs": {"y": {"name": "MatMul:0", "dtype": "DT_FLOAT", "tensorShape": _shape(-1, 2)}},
        },
        "weightsManifest": [{"paths": ["group1-shard1of1.bin"],
                             "weights": [{"name": "w", "shape": [3, 2], "dtype": "float32"}]}],
    }
    (folder / "model.json").write_text(json.dumps(model), encoding="utf-8")
    (folder / "group1-shard1of1.bin").write_bytes(W.astype("<f4").tobytes())
    return folder


def write_multi_dtype_graph_model(folder: Path, *, shard_bytes: int = 12) -> Path:
    """Four inputs/outputs of float32, int32, bool and string; weights cut into ``shard_bytes`` shards.

    y = x @ w (float32), m = n * k (int32), pos = x > 0 (bool), t = s (string). No signature, so the
    outputs are named after their nodes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    f, i32 = {"type": "DT_FLOAT"}, {"type": "DT_INT32"}
    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": f, "shape": {"shape": _shape(-1, 3)}}},
        {"name": "n", "op": "Placeholder", "attr": {"dtype": i32, "shape": {"shape": _shape(-1)}}},
        {"name": "s", "op": "Placeholder", "attr": {"dtype": {"type": "DT_STRING"}, "shape": {"shape": _shape(-1)}}},
        {"name": "w", "op": "Const",
         "attr": {"dtype": f, "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": _shape(3, 2)}}}},
        {"name": "k", "op": "Const",
         "attr": {"dtype": i32, "value": {"tensor": {"dtype": "DT_INT32", "tensorShape": {}}}}},
        {"name": "zero", "op": "Const",
         "attr": {"dtype": f, "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": {}}}}},
        {"name": "y", "op": "MatMul", "input": ["x", "w"],
         "attr": {"T": f, "transpose_a": {"b": False}, "transpose_b": {"b": False}}},
        {"name": "m", "op": "Mul", "input": ["n", "k"], "attr": {"T": i32}},
        {"name": "pos", "op": "Greater", "input": ["x", "zero"], "attr": {"T": f}},
        {"name": "t", "op": "Identity", "input": ["s"], "attr": {"T": {"type": "DT_STRING"}}},
    ]
    data = W.astype("<f4").tobytes() + np.int32(-3).astype("<i4").tobytes() + np.float32(0).astype("<f4").tobytes()
    # fixed-size shards, the last one shorter, weights straddling boundaries: as the official writer does
    chunks = [data[i:i + shard_bytes] for i in range(0, len(data), shard_bytes)]
    paths = [f"group1-shard{i + 1}of{len(chunks)}.bin" for i in range(len(chunks))]
    model = {
        "format": "graph-model",
        "modelTopology": {"node": nodes, "versions": {"producer": 1}},
        "weightsManifest": [{"paths": paths, "weights": [
            {"name": "w", "shape": [3, 2], "dtype": "float32"},
            {"name": "k", "shape": [], "dtype": "int32"},
            {"name": "zero", "shape": [], "dtype": "float32"},
        ]}],
    }
    (folder / "model.json").write_text(json.dumps(model), encoding="utf-8")
    for path, chunk in zip(paths, chunks):
        (folder / path).write_bytes(chunk)
    return folder


def write_layers_model(folder: Path, *, wrapped: bool = True) -> Path:
    """A Keras 2 Sequential model with one Dense(2) layer on [None, 3] inputs."""
    folder.mkdir(parents=True, exist_ok=True)
    model_config = {
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": [{
            "class_name": "Dense",
            "config": {
                "name": "dense", "trainable": True, "batch_input_shape": [None, 3], "dtype": "float32",
                "units": 2, "activation": "linear", "use_bias": True,
                "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                "bias_initializer": {"class_name": "Zeros", "config": {}},
                "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
                "kernel_constraint": None, "bias_constraint": None,
            },
        }]},
    }
    if wrapped:  # what the official converter writes
        topology = {"keras_version": "2.15.0", "backend": "tensorflow", "model_config": model_config}
    else:
        topology = {**model_config, "keras_version": "2.15.0", "backend": "tensorflow"}
    model = {
        "format": "layers-model",
        "generatedBy": "keras v2.15.0",
        "convertedBy": "tests/test_verify_runtime.py",
        "modelTopology": topology,
        "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": [
            {"name": "dense/kernel", "shape": [3, 2], "dtype": "float32"},
            {"name": "dense/bias", "shape": [2], "dtype": "float32"},
        ]}],
    }
    (folder / "model.json").write_text(json.dumps(model), encoding="utf-8")
    (folder / "group1-shard1of1.bin").write_bytes(W.astype("<f4").tobytes() + B.astype("<f4").tobytes())
    return folder


X = np.array([[1.0, 2.0, 3.0], [-4.0, 5.5, 0.25]], dtype=np.float64)


# -------------------------------------------------------------------------------------------------
# Running in TF.js (needs node)


@pytest.fixture(scope="module")
def runtime(request) -> Path:
    """The shared TF.js runtime (conftest's session fixture); skips when Node.js is absent."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js/npm are not installed")
    return request.getfixturevalue("tfjs_runtime")


@pytest.mark.node
def test_graph_model_runs_on_cpu_and_wasm(runtime, tmp_path):
    model = write_graph_model(tmp_path / "graph")
    result = run_model(model, {"x": X}, runs=3, warmup=1)
    assert result.tfjs_version == "4.22.0"
    assert list(result.backends) == ["cpu", "wasm"] and result.ok
    reference = X @ W.astype(np.float64)
    for backend in ("cpu", "wasm"):
        run = result[backend]
        assert list(run.outputs) == ["y"]
        y = run.outputs["y"]
        assert y.dtype == np.float32 and y.shape == (2, 2)
        np.testing.assert_allclose(y, reference, rtol=0, atol=1e-6)
        assert len(run.times_ms) == 3 and run.first_ms > 0 and run.load_ms > 0
        assert run.mode == "execute"


@pytest.mark.node
def test_verify_model_passes_and_reports(runtime, tmp_path):
    model = write_graph_model(tmp_path / "graph")
    report = verify_model(model, {"x": X}, {"y": X @ W.astype(np.float64)})
    assert report.passed, format_report(report)
    text = format_report(report)
    assert "PASS: 1 output × 2 backends within rtol=0.0001 atol=1e-06" in text
    assert [(c.name, c.backend) for c in report.comparisons] == [("y", "cpu"), ("y", "wasm")]
    assert all(c.max_abs_err <= 1e-6 for c in report.comparisons)
    doc = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert doc["passed"] is True and doc["tfjs_version"] == "4.22.0"
    report.raise_if_failed()

    wrong = verify_model(model, {"x": X}, {"y": X @ W.astype(np.float64) + 0.01})
    assert not wrong.passed
    assert format_report(wrong).splitlines()[-1].startswith("FAIL: 2 of 2 checks failed")
    with pytest.raises(VerificationError) as err:
        wrong.raise_if_failed()
    assert err.value.exit_code == 3


@pytest.mark.node
def test_path_with_spaces(runtime, tmp_path):
    model = write_graph_model(tmp_path / "a folder with spaces" / "my model")
    result = run_model(model, {"x": X}, backends=("cpu",))
    np.testing.assert_allclose(result.outputs("cpu")["y"], X @ W, rtol=0, atol=1e-6)


@pytest.mark.node
@pytest.mark.parametrize("wrapped", [True, False], ids=["model_config", "bare_config"])
def test_layers_model_predict(runtime, tmp_path, wrapped):
    model = write_layers_model(tmp_path / "layers", wrapped=wrapped)
    # a single-input layers model accepts any input name
    result = run_model(model, {"whatever": X})
    assert result.ok, result.to_json()
    for backend in ("cpu", "wasm"):
        run = result[backend]
        assert run.mode == "predict"
        assert list(run.outputs) == ["dense"]
        np.testing.assert_allclose(run.outputs["dense"], X @ W + B, rtol=0, atol=1e-6)


@pytest.mark.node
def test_multi_dtype_io_and_straddling_shards(runtime, tmp_path):
    model = write_multi_dtype_graph_model(tmp_path / "multi")
    n = np.array([1, -2, 70000], dtype=np.int64)
    s = np.array(["a", "", "tf.js ✓"], dtype=object)
    result = run_model(model, {"x": X, "n": n, "s": s})
    assert result.ok, result.to_json()
    for run in result.backends.values():
        out = run.outputs
        assert list(out) == ["y", "m", "pos", "t"]  # model.json output order (no signature)
        assert out["y"].dtype == np.float32
        assert out["m"].dtype == np.int32 and out["m"].tolist() == [-3, 6, -210000]
        assert out["pos"].dtype == np.bool_ and out["pos"].tolist() == (X > 0).tolist()
        assert out["t"].dtype == object and out["t"].tolist() == ["a", "", "tf.js ✓"]
        np.testing.assert_allclose(out["y"], X @ W, rtol=0, atol=1e-6)
    expected = {"y": X @ W, "m": n * -3, "pos": X > 0,
                "t": np.array([b"a", b"", "tf.js ✓".encode()], dtype=object)}  # bytes compare equal to str
    report = verify_model(model, {"x": X, "n": n, "s": s}, expected)
    assert report.passed, format_report(report)


@pytest.mark.node
def test_shards_are_read_like_the_browser_does(runtime, tmp_path):
    """TF.js 4.22 locates bytes assuming equal-size shards (all but the last); the runner hands it
    one buffer per shard exactly like ``tf.io.http``, so a layout browsers mis-read fails here too."""
    model = write_multi_dtype_graph_model(tmp_path / "odd", shard_bytes=1000)
    data = (model / "group1-shard1of1.bin").read_bytes()
    (model / "group1-shard1of1.bin").unlink()
    (model / "a.bin").write_bytes(data[:10])
    (model / "b.bin").write_bytes(data[10:])  # the last shard is larger than the first
    doc = json.loads((model / "model.json").read_text())
    doc["weightsManifest"][0]["paths"] = ["a.bin", "b.bin"]
    (model / "model.json").write_text(json.dumps(doc))
    inputs = {"x": X, "n": np.ones(1, np.int32), "s": np.array(["q"])}
    result = run_model(model, inputs, backends=("cpu",))
    assert result["cpu"].outputs["m"].tolist() != [-3]  # k (bytes 24-28) is not found by TF.js
    (model / "a.bin").write_bytes(data[:16])
    (model / "b.bin").write_bytes(data[16:])  # equal or shorter last shard: fine
    assert run_model(model, inputs, backends=("cpu",))["cpu"].outputs["m"].tolist() == [-3]


@pytest.mark.node
def test_output_names_override(runtime, tmp_path):
    model = write_multi_dtype_graph_model(tmp_path / "multi")
    result = run_model(model, {"x": X, "n": np.zeros(1, np.int32), "s": np.array(["q"])},
                       backends=("cpu",), output_names=["pos"])
    assert list(result["cpu"].outputs) == ["pos"]


@pytest.mark.node
def test_dynamic_model_uses_execute_async(runtime, tmp_path):
    folder = tmp_path / "dynamic"
    folder.mkdir()
    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": _shape(-1)}}},
        {"name": "zero", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"},
                                                 "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": {}}}}},
        {"name": "g", "op": "Greater", "input": ["x", "zero"], "attr": {"T": {"type": "DT_FLOAT"}}},
        {"name": "where", "op": "Where", "input": ["g"], "attr": {"T": {"type": "DT_BOOL"}}},
    ]
    (folder / "model.json").write_text(json.dumps({
        "format": "graph-model", "modelTopology": {"node": nodes, "versions": {"producer": 1}},
        "weightsManifest": [{"paths": ["w.bin"], "weights": [{"name": "zero", "shape": [], "dtype": "float32"}]}],
    }))
    (folder / "w.bin").write_bytes(np.float32(0).tobytes())
    x = np.array([1.0, -2.0, 3.0, 0.0, 5.0])
    report = verify_model(folder, {"x": x}, {"where": np.argwhere(x > 0)})  # int64 reference vs int32
    assert report.passed, format_report(report)
    assert {run.mode for run in report.runs.values()} == {"executeAsync"}


@pytest.mark.node
def test_backend_failure_is_reported_per_backend(runtime, tmp_path):
    model = write_graph_model(tmp_path / "graph")
    result = run_model(model, {"x": X}, backends=("cpu", "no-such-backend", "wasm"))
    assert not result.ok
    assert result["cpu"].ok and result["wasm"].ok
    bad = result["no-such-backend"]
    assert not bad.ok and "no-such-backend" in bad.error and bad.outputs == {}
    with pytest.raises(TfjsRunError):
        result.outputs("no-such-backend")

    report = verify_model(model, {"x": X}, {"y": X @ W}, backends=("cpu", "no-such-backend"))
    assert [c.passed for c in report.comparisons] == [True, False]
    text = format_report(report)
    assert "the no-such-backend backend failed to start" in text
    assert [c.status for c in report.comparisons] == ["PASS", "CRASH"] and report.status == "CRASH"
    assert text.splitlines()[-1].startswith("CRASH: the no-such-backend backend failed to start")


@pytest.mark.node
def test_wrong_input_name_fails_that_run_not_the_process(runtime, tmp_path):
    model = write_graph_model(tmp_path / "graph")
    result = run_model(model, {"nope": X}, backends=("cpu",))
    assert not result["cpu"].ok and result["cpu"].error


@pytest.mark.node
def test_missing_weight_shard_is_a_clear_error_before_node_runs(runtime, tmp_path):
    model = write_graph_model(tmp_path / "graph")
    (model / "group1-shard1of1.bin").unlink()
    with pytest.raises(WeightsError, match="group1-shard1of1.bin"):
        run_model(model, {"x": X})


@pytest.mark.node
def test_timeout_raises(runtime, tmp_path):
    model = write_graph_model(tmp_path / "graph")
    with pytest.raises(TfjsRunError, match="within"):
        run_model(model, {"x": X}, timeout=0.001)


@pytest.mark.node
def test_fresh_install_into_empty_cache(tmp_path, monkeypatch):
    """The real first-use path: npm ci into an empty cache folder (whose path has a space)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js/npm are not installed")
    cache = tmp_path / "fresh cache"
    monkeypatch.setenv("TFJSCONV_CACHE_DIR", str(cache))
    folder = rt.ensure_runtime(quiet=True)
    assert folder == cache / f"node-runtime-{rt.runtime_key()}"
    assert (folder / "node_modules" / "@tensorflow" / "tfjs-backend-wasm" / "dist" / "tfjs-backend-wasm.wasm").is_file()
    assert rt.is_installed(folder)
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no temp leftovers
    assert rt.ensure_runtime() == folder  # second call: no install
    model = write_graph_model(tmp_path / "graph")
    np.testing.assert_allclose(run_model(model, {"x": X}).outputs("wasm")["y"], X @ W, rtol=0, atol=1e-6)


# -------------------------------------------------------------------------------------------------
# Runtime discovery and installation (no real node/npm needed)


def test_missing_node_raises_runtime_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(rt.shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(RuntimeMissingError, match="Node.js") as err:
        rt.find_node()
    assert "nodejs.org" in str(err.value) and "apt-get install nodejs npm" in str(err.value)
    model = write_graph_model(tmp_path / "graph")
    with pytest.raises(RuntimeMissingError):
        run_model(model, {"x": X})
    monkeypatch.setenv("TFJSCONV_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(RuntimeMissingError):
        rt.ensure_runtime(quiet=True)


def test_missing_node_via_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RuntimeMissingError):
        rt.find_node()


def test_missing_model_json_is_input_error(tmp_path):
    with pytest.raises(InputError, match="model.json"):
        run_model(tmp_path, {"x": X})
    with pytest.raises(InputError, match="does not exist"):
        run_model(tmp_path / "nope", {"x": X})


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("TFJSCONV_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert rt.cache_root() == tmp_path / "home" / ".cache" / "tfjsconv"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert rt.cache_root() == tmp_path / "xdg" / "tfjsconv"
    monkeypatch.setenv("TFJSCONV_CACHE_DIR", str(tmp_path / "mine"))
    assert rt.cache_root() == tmp_path / "mine"
    assert rt.runtime_dir().parent == tmp_path / "mine"
    assert rt.runtime_dir().name.startswith("node-runtime-") and len(rt.runtime_key()) == 12


def test_package_json_and_lock_are_pinned_and_portable():
    package = json.loads((NODE_DIR / "package.json").read_text())
    assert package["private"] is True
    # exact pins: TF.js for the runner, playwright-core for `bench --browser` and `serve` tests
    assert package["dependencies"] == {"@tensorflow/tfjs": "4.22.0", "@tensorflow/tfjs-backend-wasm": "4.22.0",
                                       "playwright-core": "1.61.1"}
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    packages = {k: v for k, v in lock["packages"].items() if k}
    assert packages["node_modules/@tensorflow/tfjs"]["version"] == "4.22.0"
    assert packages["node_modules/@tensorflow/tfjs-backend-wasm"]["version"] == "4.22.0"
    for name, entry in packages.items():
        assert entry["resolved"].startswith("https://registry.npmjs.org/"), name
        assert entry["integrity"].startswith("sha512-"), name
        assert not entry.get("link"), name
    assert (NODE_DIR / "runner.mjs").is_file()


def _fake_tools(bin_dir: Path, *, npm_body: str) -> None:
    """A fake ``node`` (prints a version) and a fake ``npm`` (a Python script running ``npm_body``)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    node = bin_dir / "node"
    node.write_text("#!/bin/sh\necho v20.11.0\n")
    npm = bin_dir / "npm"
    npm.write_text(f"#!{sys.executable}\nimport os, sys, time, pathlib\n" + textwrap.dedent(npm_body))
    for tool in (node, npm):
        tool.chmod(0o755)


FAKE_NPM_OK = """
    assert sys.argv[1] == "ci", sys.argv
    assert os.path.isfile("package-lock.json")
    counter = os.environ.get("FAKE_NPM_COUNTER")
    if counter:
        with open(counter, "a") as f:
            f.write("x")
    time.sleep(float(os.environ.get("FAKE_NPM_SLEEP", "0")))
    pkg = pathlib.Path("node_modules/@tensorflow/tfjs")
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text("{}")
"""


def test_install_is_atomic_and_cleans_leftovers(monkeypatch, tmp_path, capsys):
    _fake_tools(tmp_path / "bin", npm_body=FAKE_NPM_OK)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    cache = tmp_path / "cache"
    monkeypatch.setenv("TFJSCONV_CACHE_DIR", str(cache))
    rt._node_major_version.cache_clear()
    target = rt.runtime_dir()
    leftover = cache / f".{target.name}.tmp-interrupted"
    (leftover / "node_modules").mkdir(parents=True)

    assert rt.ensure_runtime() == target
    err = capsys.readouterr().err
    assert f"Installing the TF.js runtime (@tensorflow/tfjs 4.22.0) into {target} (one time)…" in err
    assert rt.is_installed(target)
    assert json.loads((target / rt.MARKER_NAME).read_text())["tfjs"] == "4.22.0"
    assert (target / "package-lock.json").read_bytes() == (NODE_DIR / "package-lock.json").read_bytes()
    assert not leftover.exists()
    assert sorted(p.name for p in cache.iterdir()) == [target.name, f"{target.name}.lock"]

    assert rt.ensure_runtime() == target  # already there: nothing printed
    assert capsys.readouterr().err == ""


def test_npm_failure_raises_with_output_and_leaves_nothing(monkeypatch, tmp_path):
    _fake_tools(tmp_path / "bin", npm_body="""
        print("npm error code E404")
        print("npm error 404 Not Found - GET https://registry.npmjs.org/@tensorflow%2ftfjs")
        sys.exit(1)
    """)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("TFJSCONV_CACHE_DIR", str(tmp_path / "cache"))
    rt._node_major_version.cache_clear()
    with pytest.raises(RuntimeMissingError) as err:
        rt.ensure_runtime(quiet=True)
    assert "npm ci` failed (exit code 1)" in str(err.value)
    assert "404 Not Found" in str(err.value)
    assert not rt.runtime_dir().exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{rt.runtime_dir().name}.lock"]


def test_missing_npm(monkeypatch, tmp_path):
    _fake_tools(tmp_path / "bin", npm_body="")
    (tmp_path / "bin" / "npm").unlink()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("TFJSCONV_CACHE_DIR", str(tmp_path / "cache"))
    rt._node_major_version.cache_clear()
    with pytest.raises(RuntimeMissingError, match="npm was not found"):
        rt.ensure_runtime(quiet=True)


def test_old_node_is_rejected(monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "node").write_text("#!/bin/sh\necho v16.20.0\n")
    (bin_dir / "node").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    rt._node_major_version.cache_clear()
    with pytest.raises(RuntimeMissingError, match="Node.js 16"):
        rt.find_node()
    rt._node_major_version.cache_clear()


def test_concurrent_installs_run_npm_once(tmp_path):
    _fake_tools(tmp_path / "bin", npm_body=FAKE_NPM_OK)
    counter = tmp_path / "npm-calls"
    env = dict(os.environ, PATH=str(tmp_path / "bin"), TFJSCONV_CACHE_DIR=str(tmp_path / "cache"),
               FAKE_NPM_COUNTER=str(counter), FAKE_NPM_SLEEP="1")
    code = "from tfjsconv.verify.runtime import ensure_runtime; print(ensure_runtime(quiet=True))"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len({out.strip() for out, _ in outs}) == 1
    assert counter.read_text() == "x"


# -------------------------------------------------------------------------------------------------
# Input conversion


def test_to_tfjs_array_conversions():
    assert to_tfjs_array("a", np.arange(3, dtype=np.float64)).dtype == np.float32
    assert to_tfjs_array("a", np.ones(2, np.float16)).dtype == np.float32
    assert to_tfjs_array("a", np.arange(3, dtype=np.int64)).dtype == np.int32
    assert to_tfjs_array("a", np.arange(3, dtype=np.uint8)).dtype == np.int32
    assert to_tfjs_array("a", [True, False]).dtype == np.bool_
    assert to_tfjs_array("a", np.ones(2, np.complex128)).dtype == np.complex64
    assert to_tfjs_array("a", [[1.5, 2]]).shape == (1, 2)
    strings = to_tfjs_array("a", np.array([[b"x", "y"]], dtype=object))
    assert strings.dtype == object and strings.tolist() == [["x", "y"]]
    assert to_tfjs_array("a", np.array(["p", "q"])).tolist() == ["p", "q"]
    with pytest.raises(UsageError, match="int32 range"):
        to_tfjs_array("big", np.array([2**31], dtype=np.int64))
    with pytest.raises(UsageError, match="UTF-8"):
        to_tfjs_array("bytes", np.array([b"\xff"], dtype=object))
    with pytest.raises(UsageError):
        to_tfjs_array("dates", np.array(["2020-01-01"], dtype="datetime64[D]"))


# -------------------------------------------------------------------------------------------------
# compare / format_report (no node)


def test_compare_float_tolerance_is_relative_to_max_reference():
    ref = np.array([1000.0, 0.001, 0.0])
    got = np.array([1000.05, 0.002, 0.0], dtype=np.float32)  # err 0.05 <= 1e-4 * 1000
    [c] = compare({"y": got}, {"y": ref})
    assert c.passed and c.mismatches == 0 and c.problem is None
    assert c.max_abs_err == pytest.approx(0.05, rel=1e-3)
    assert c.max_rel_err == pytest.approx(0.05 / 1000, rel=1e-3)
    assert c.max_elem_rel_err == pytest.approx(1.0, rel=1e-3)  # 0.001 -> 0.002, informational only
    assert c.allowed_abs_err == pytest.approx(1e-6 + 0.1)
    [c] = compare({"y": got}, {"y": ref}, rtol=1e-6)
    assert not c.passed and c.mismatches == 1 and "1 of 3 elements differ" in c.problem


def test_compare_zero_reference_uses_atol():
    [c] = compare({"y": np.full(3, 5e-7, np.float32)}, {"y": np.zeros(3)})
    assert c.passed and c.max_rel_err == math.inf
    [c] = compare({"y": np.full(3, 5e-6, np.float32)}, {"y": np.zeros(3)})
    assert not c.passed


def test_compare_shape_dtype_and_missing():
    [c] = compare({"y": np.zeros((2, 3), np.float32)}, {"y": np.zeros((3, 2))})
    assert not c.passed and "shape mismatch: got [2, 3], expected [3, 2]" in c.problem and c.max_abs_err is None
    [c] = compare({"y": np.zeros(3, np.float32)}, {"y": np.zeros(3, np.int64)})
    assert not c.passed and "dtype mismatch: got float32, expected int64 (int32 in TF.js)" in c.problem
    [c] = compare({"y": np.arange(3, dtype=np.int32)}, {"y": np.arange(3, dtype=np.int64)})
    assert c.passed and c.exact
    [c] = compare({"y": np.arange(3, dtype=np.int32) + [0, 0, 1]}, {"y": np.arange(3, dtype=np.int64)}, rtol=1)
    assert not c.passed and c.max_abs_err == 1  # integers are exact whatever the tolerance
    a, b = compare({"a": np.zeros(1, np.float32)}, {"a": np.zeros(1), "b": np.zeros(1)})
    assert a.passed and not b.passed and "no output 'b'" in b.problem


def test_compare_name_matching():
    [c] = compare({"Identity:0": np.ones(2, np.float32)}, {"Identity": np.ones(2)})
    assert c.passed and c.actual_name == "Identity:0"
    [c] = compare({"y": np.ones(2, np.float32)}, {"output_0": np.ones(2)})  # single output: paired
    assert c.passed and c.actual_name == "y" and c.name == "output_0"
    outputs = {"y": np.ones(2, np.float32), "z": np.ones(2, np.float32)}
    assert unmatched_outputs(outputs, {"y": np.ones(2)}) == ["z"]


def test_compare_nan_inf_exact_types():
    nan, inf = math.nan, math.inf
    [c] = compare({"y": np.array([1, nan, inf, -inf], np.float32)}, {"y": np.array([1, nan, inf, -inf])})
    assert c.passed and c.max_abs_err == 0
    [c] = compare({"y": np.array([1, 2, nan], np.float32)}, {"y": np.array([1, 2, 3.0])})
    assert not c.passed and c.mismatches == 1 and math.isnan(c.max_abs_err)
    [c] = compare({"y": np.array([1, inf], np.float32)}, {"y": np.array([1, -inf])})
    assert not c.passed and c.max_abs_err == inf
    [c] = compare({"b": np.array([True, False])}, {"b": np.array([True, True])})
    assert not c.passed and c.exact and c.mismatches == 1
    [c] = compare({"s": np.array(["a", "b"], dtype=object)}, {"s": np.array([b"a", b"b"], dtype=object)})
    assert c.passed and c.exact and c.max_abs_err is None
    [c] = compare({"s": np.array(["a", "b"], dtype=object)}, {"s": np.array(["a", "c"])})
    assert not c.passed and c.mismatches == 1
    [c] = compare({"c": np.array([1 + 1j], np.complex64)}, {"c": np.array([1 + 1.00001j])})
    assert c.passed and c.max_abs_err == pytest.approx(1e-5, rel=1e-2)


def test_compare_element_rule_catches_a_wrong_small_class():
    """A softmax whose 1e-5 class is 100% wrong passes the scale rule alone, not the element rule."""
    ref = np.array([0.97, 0.02, 0.00999, 1e-5, 0.0], np.float64)
    got = ref.astype(np.float32).copy()
    got[3] = 2e-5  # the small class 100% wrong; abs err 1e-5 < atol + rtol * 0.97
    [c] = compare({"p": got}, {"p": ref}, elem_rtol=None)
    assert c.passed  # what the old rule said
    [c] = compare({"p": got}, {"p": ref})
    assert not c.passed and c.mismatches == c.elem_mismatches == 1
    assert c.elem_floor_abs == pytest.approx(0.97e-5)
    assert "1 by more than 0.25 x |expected| where |expected| >= 9.7e-06" in c.problem
    assert c.to_json()["status"] == "FAIL"
    # float32 accumulation noise (~1e-6 of max|e|) passes everywhere, even on near-zero elements
    rng = np.random.default_rng(0)
    ref = rng.normal(size=4096) * np.abs(rng.normal(size=4096)) ** 4
    noisy = ref + rng.normal(size=ref.size) * 1e-6 * np.abs(ref).max() / 3
    [c] = compare({"y": noisy.astype(np.float32)}, {"y": ref})
    assert c.passed, c.problem
    # a 30% error on an element above the floor fails; below the floor it is the scale rule's
    ref = np.array([1.0, 1e-4, 1e-6])
    [c] = compare({"y": np.array([1.0, 1.3e-4, 1.3e-6], np.float32)}, {"y": ref})
    assert not c.passed and c.elem_mismatches == 1
    [c] = compare({"y": np.array([1.0, 1.2e-4, 2e-6], np.float32)}, {"y": ref})
    assert c.passed
    [c] = compare({"y": np.array([1.0, 1.3e-4], np.float32)}, {"y": ref[:2]}, elem_rtol=0.5)
    assert c.passed
    # the floor follows the reference's resolution: float16 references are held above 8 eps(float16)
    [c] = compare({"y": np.array([1.0, 1.3e-4], np.float32)}, {"y": ref[:2].astype(np.float16)})
    assert c.passed and c.elem_floor_abs == pytest.approx(8 * float(np.finfo(np.float16).eps))


def test_the_op_a_tfjs_error_names_is_read():
    from tfjsconv.verify.crash import op_named_in

    assert op_named_in("Kernel 'Einsum' not registered for backend 'wasm'") == "Einsum"
    assert op_named_in("'Einsum' not yet implemented or not found in the registry. This kernel may not be "
                       "supported by the tfjs backend you have chosen") == "Einsum"
    assert op_named_in("Tensorflow Op is not supported: FancyOp") == "FancyOp"
    assert op_named_in("Error in resizeBilinear: x must be rank 3 or 4, but got rank 1.") == "resizeBilinear"
    assert op_named_in("the layers model takes inputs [\"a\"], got [\"b\"]") is None


def test_format_report_crash_is_not_a_mismatch():
    comparisons = compare({"y": np.ones(2, np.float32)}, {"y": np.ones(2)}, backend="cpu")
    comparisons.append(OutputComparison("y", "wasm", passed=False, crashed=True, problem="boom"))
    runs = {"cpu": BackendRun("cpu", ok=True),
            "wasm": BackendRun("wasm", ok=False, stage="run",
                               error="Kernel 'Einsum' not registered for backend 'wasm'")}
    report = VerifyReport("/models/m", 1e-4, 1e-6, comparisons, runs, tfjs_version="4.22.0")
    text = format_report(report)
    assert [line.split()[-1] for line in text.splitlines()[3:5]] == ["PASS", "CRASH"]
    assert text.splitlines()[-1] == ("CRASH: the wasm backend failed to run the model (op Einsum): "
                                     "Kernel 'Einsum' not registered for backend 'wasm'")
    doc = report.to_json()
    assert doc["status"] == "CRASH" and doc["passed"] is False
    assert doc["crashes"] == {"wasm": {"stage": "run", "op": "Einsum",
                                       "error": "Kernel 'Einsum' not registered for backend 'wasm'"}}
    assert [c["status"] for c in doc["comparisons"]] == ["PASS", "CRASH"]
    assert doc["backends"]["wasm"]["failed_op"] == "Einsum"


def _report(comparisons, backends=("cpu", "wasm")):
    runs = {b: BackendRun(b, ok=True, load_ms=12.5, first_ms=3.25, times_ms=[1.0, 2.0, 3.0], mode="execute")
            for b in backends}
    return VerifyReport("/models/m", 1e-4, 1e-6, comparisons, runs, tfjs_version="4.22.0")


def test_format_report_pass():
    comparisons = []
    for backend in ("cpu", "wasm"):
        comparisons += compare({"y": np.ones((1, 2), np.float32), "z": np.zeros(3, np.int32)},
                               {"y": np.ones((1, 2)) + 1e-7, "z": np.zeros(3, np.int64)}, backend=backend)
    report = _report(comparisons)
    text = format_report(report)
    lines = text.splitlines()
    assert lines[0] == "TF.js 4.22.0 verification of /models/m"
    assert lines[1].split() == ["output", "backend", "shape", "max", "abs", "err", "max", "rel", "err", "result"]
    rows = [line.split() for line in lines[3:7]]
    assert [(r[0], r[1], r[-1]) for r in rows] == [("y", "cpu", "PASS"), ("y", "wasm", "PASS"),
                                                   ("z", "cpu", "PASS"), ("z", "wasm", "PASS")]
    assert "1.00e-07" in lines[3] and "[1, 2]" in lines[3]
    assert "cpu: load 12.5 ms, first run 3.2 ms, median 2.0 ms over 3 runs (execute)" in text
    assert lines[-1] == ("PASS: 2 outputs × 2 backends within rtol=0.0001 atol=1e-06 "
                         "(max abs err <= atol + rtol x max|reference|), "
                         "elem_rtol=0.25 where |reference| >= 1e-05 x max|reference|")
    assert report.passed
    json.dumps(report.to_json(), allow_nan=False)


def test_format_report_fail():
    comparisons = compare({"y": np.array([1, math.nan], np.float32)}, {"y": np.array([1.0, 2.0])}, backend="cpu")
    comparisons.append(OutputComparison("y", "wasm", passed=False, problem="the wasm backend failed: boom"))
    report = _report(comparisons)
    text = format_report(report)
    assert "y [cpu]: 1 of 2 elements differ" in text
    assert "y [wasm]: the wasm backend failed: boom" in text
    assert text.splitlines()[-1].startswith("FAIL: 2 of 2 checks failed (y [cpu], y [wasm]); tolerance rtol=0.0001")
    doc = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert doc["passed"] is False and doc["comparisons"][0]["max_abs_err"] == "nan"
    with pytest.raises(VerificationError, match="FAIL"):
        report.raise_if_failed()
