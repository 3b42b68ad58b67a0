"""`tfjsconv verify`: one row per output and backend, a verdict, and exit codes a script can use."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tfjsconv
from graphs import dense_relu, example_inputs
from tfjsconv.interpreter import run_graph

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify cli")
    graph = dense_relu()
    inputs = example_inputs(graph)
    tfjsconv.convert(graph, folder / "model dir")
    np.savez(folder / "inputs.npz", **inputs)
    np.savez(folder / "expected.npz", **run_graph(graph, inputs))
    return folder


def verify(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", "verify", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_matching_outputs_pass_on_both_backends(converted, tfjs_runtime):
    out = verify(str(converted / "model dir"), "--inputs", str(converted / "inputs.npz"),
                 "--expected", str(converted / "expected.npz"))
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("y ")]
    assert [(r[0], r[1], r[-1]) for r in rows] == [("y", "cpu", "PASS"), ("y", "wasm", "PASS")]
    assert out.stdout.strip().splitlines()[-1].startswith("PASS")


def test_a_mismatch_fails_with_exit_code_3(converted, tmp_path, tfjs_runtime):
    expected = dict(np.load(converted / "expected.npz"))
    expected["y"] = expected["y"] + 0.01
    np.savez(tmp_path / "wrong.npz", **expected)
    out = verify(str(converted / "model dir"), "--inputs", str(converted / "inputs.npz"),
                 "--expected", str(tmp_path / "wrong.npz"), "--backend", "wasm")
    assert out.returncode == 3
    assert "FAIL" in out.stdout and "wasm" in out.stdout and "cpu" not in out.stdout
    assert "differ from the reference" in out.stderr


def test_json_report(converted, tfjs_runtime):
    out = verify(str(converted / "model dir"), "--inputs", str(converted / "inputs.npz"),
                 "--expected", str(converted / "expected.npz"), "--json", "--backend", "cpu")
    doc = json.loads(out.stdout)
    assert doc["passed"] is True and doc["tfjs_version"] == "4.22.0"
    assert [(c["name"], c["backend"]) for c in doc["comparisons"]] == [("y", "cpu")]


def test_missing_node_says_what_to_install(converted, tmp_path):
    out = verify(str(converted / "model dir"), "--inputs", str(converted / "inputs.npz"),
                 "--expected", str(converted / "expected.npz"), env={"PATH": str(tmp_path)})
    assert out.returncode == 2
    assert "Node.js" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("args, message", [
    ([], "needs --expected"),
    (["--expected", "x.npz"], "also needs --inputs"),
    (["--inputs", "nope.npz", "--expected", "nope.npz"], "does not exist"),
])
def test_bad_calls_are_explained(converted, args, message):
    out = verify(str(converted / "model dir"), *args)
    assert out.returncode == 2 and message in out.stderr


def test_not_a_model_folder(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"")
    np.savez(tmp_path / "x.npz", x=np.zeros(2))
    out = verify(str(tmp_path), "--inputs", str(tmp_path / "x.npz"), "--expected", str(tmp_path / "x.npz"))
    assert out.returncode == 2 and "model.json" in out.stderr
