"""End to end in a real browser: the `tfjsconv serve` page in headless Chromium (driven by playwright-core).

A converted model is opened in the page, run on the wasm and webgl backends (WebGL on SwiftShader:
no GPU needed), and its outputs are compared with the reference. The screenshot is kept in
tests/artifacts/ (git-ignored) and shows the model name, the signature and the timing chart.

Without Chromium these tests skip, saying why; CI sets TFJSCONV_REQUIRE_BROWSER=1 so a missing
browser fails instead.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from graphs import conv_pool_softmax
from tf_reference import reference as tf_reference
from tfjsconv.verify.compare import compare
from tfjsconv.verify.inputs import input_specs, random_inputs

pytestmark = pytest.mark.node

ARTIFACTS = Path(__file__).parent / "artifacts"
#: SwiftShader's WebGL 2 renders float32 textures with 23-bit mantissas (docs/verify.md): measured
#: errors are below 4e-7 x max|reference|, so webgl is held to the same tolerance as wasm.
RTOL = {"wasm": 1e-5, "webgl": 1e-5}


def _chromium() -> str | None:
    from tfjsconv.errors import RuntimeMissingError
    from tfjsconv.serve.browser import find_chromium

    try:
        return find_chromium()
    except RuntimeMissingError:
        return None


@pytest.fixture(scope="module")
def chromium() -> str:
    found = _chromium()
    if found is None:
        reason = "no Chromium on this machine (apt-get install chromium); the browser tests need one"
        if os.environ.get("TFJSCONV_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " and TFJSCONV_REQUIRE_BROWSER=1 requires them to run")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser") / "small cnn"
    graph = conv_pool_softmax()
    tfjsconv.convert(graph, folder)
    inputs = random_inputs(input_specs(folder), seed=0)  # what the page's "random (seed 0)" holds
    return folder, inputs, tf_reference(graph, inputs)


def test_page_runs_the_model_on_wasm_and_webgl_and_matches_the_reference(chromium, cnn, tfjs_runtime):
    from tfjsconv.serve.browser import run_in_browser

    folder, inputs, expected = cnn
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-small-cnn.png"
    shot.unlink(missing_ok=True)
    doc = run_in_browser(folder, backends=("wasm", "webgl"), runs=5, warmup=1, screenshot=shot)
    print(f"\nscreenshot: {shot}")
    assert doc["tfjs_version"] == "4.22.0"
    assert "HeadlessChrome" in doc["user_agent"]
    for backend in ("wasm", "webgl"):
        result = doc["results"][backend]
        assert result["ok"], result.get("error")
        outputs = {name: np.array(o["values"], dtype=np.float32).reshape(o["shape"])
                   for name, o in result["outputs"].items()}
        [check] = compare(outputs, expected, rtol=RTOL[backend], backend=backend)
        assert check.passed, check.problem
        assert len(result["times_ms"]) == 5 and result["first_ms"] > 0 and result["load_ms"] > 0
        assert result["min_ms"] <= result["median_ms"] <= result["p90_ms"]
    assert doc["results"]["webgl"]["info"]["gl_renderer"]  # which GL implementation ran (SwiftShader here)
    assert doc["console_errors"] == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_bench_browser_reports_all_three_backends(chromium, cnn, tfjs_runtime):
    folder, _, _ = cnn
    out = subprocess.run([sys.executable, "-m", "tfjsconv", "bench", str(folder), "--browser", "--runs", "3",
                          "--warmup", "1", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["where"] == "browser" and list(doc["backends"]) == ["cpu", "wasm", "webgl"]
    assert all(b["ok"] and b["runs"] == 3 for b in doc["backends"].values())
    assert doc["backends"]["webgl"]["info"]["gl_renderer"]


def test_a_missing_chromium_is_one_clear_message(cnn, tmp_path, tfjs_runtime):
    folder, _, _ = cnn
    env = {**os.environ, "TFJSCONV_CHROMIUM": str(tmp_path / "no-such-chromium")}
    out = subprocess.run([sys.executable, "-m", "tfjsconv", "bench", str(folder), "--browser"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "no-such-chromium" in out.stderr and "Traceback" not in out.stderr
