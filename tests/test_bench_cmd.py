"""`tfjsconv bench` in Node.js: timings per backend with the warm-up discarded, text and --json."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tfjsconv
from graphs import conv_pool_softmax
from tfjsconv.verify.bench import BackendBench, percentile

pytestmark = pytest.mark.node


def bench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", "bench", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench") / "small cnn"
    tfjsconv.convert(conv_pool_softmax(), folder)
    return folder


def test_json_report_discards_the_warmup(model, tfjs_runtime):
    out = bench(str(model), "--runs", "4", "--warmup", "3", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "tfjsconv.bench/1" and doc["where"] == "node" and doc["tfjs_version"] == "4.22.0"
    assert doc["inputs"] == {"image": {"dtype": "float32", "shape": [1, 8, 8, 3]}}
    assert list(doc["backends"]) == ["cpu", "wasm"]
    for b in doc["backends"].values():
        assert b["ok"] and b["runs"] == 4 and len(b["times_ms"]) == 4
        assert b["load_ms"] > 0 and b["first_ms"] > 0
        # 3 warm-up executions ran, the first of them is first_ms, and none is in the statistics
        assert len(b["warmup_ms"]) == 3 and b["warmup_ms"][0] == b["first_ms"]
        assert b["first_ms"] not in b["times_ms"]
        assert b["min_ms"] == min(b["times_ms"]) and b["median_ms"] == pytest.approx(np.median(b["times_ms"]))
        assert b["min_ms"] <= b["median_ms"] <= b["p90_ms"]
    assert doc["backends"]["wasm"]["info"]["simd"] in (True, False)
    assert doc["environment"]["node"].startswith("v")


def test_text_report(model, tfjs_runtime):
    out = bench(str(model), "--backend", "wasm", "--runs", "3", "--warmup", "1")
    assert out.returncode == 0, out.stderr
    assert "1 warm-up run(s) discarded, then 3 timed run(s)" in out.stdout
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("wasm ")]
    assert len(rows) == 1 and len(rows[0]) == 6
    assert "fastest: wasm" in out.stdout


def test_stats():
    b = BackendBench("cpu", True, times_ms=[5.0, 1.0, 3.0, 2.0, 4.0])
    assert b.stats["median_ms"] == 3.0 and b.stats["min_ms"] == 1.0
    assert b.stats["p90_ms"] == pytest.approx(4.6) == percentile([1, 2, 3, 4, 5], 90)


@pytest.mark.parametrize("args, message", [
    (["--runs", "0"], "--runs: expected a whole number >= 1"),
    (["--backend", "webgl"], "needs a browser"),
])
def test_bad_flags(model, args, message):
    out = bench(str(model), *args)
    assert out.returncode == 2 and message in out.stderr


def test_bad_models(tmp_path, model):
    import shutil

    out = bench(str(tmp_path / "nope"))
    assert out.returncode == 2 and "does not exist" in out.stderr
    out = bench(str(tmp_path))
    assert out.returncode == 2 and "no model.json" in out.stderr
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    (broken / "group1-shard1of1.bin").unlink()
    out = bench(str(broken))
    assert out.returncode == 2 and "is missing" in out.stderr and "Traceback" not in out.stderr


def test_missing_node_is_one_message(model, tmp_path):
    out = bench(str(model), env={"PATH": str(tmp_path)})
    assert out.returncode == 2 and "Node.js" in out.stderr and "Traceback" not in out.stderr
