"""`tfjsconv serve`: the local server serves the page, the model and pinned TF.js, and nothing else."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest

import tfjsconv
from graphs import conv_pool_softmax
from tfjsconv.serve import ModelServer
from tfjsconv.verify.inputs import input_specs, random_inputs

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve") / "small cnn"
    tfjsconv.convert(conv_pool_softmax(), folder)
    return folder


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), ""


def test_serves_page_model_and_local_tfjs(model, tfjs_runtime):
    with ModelServer(model, port=0) as server:
        assert server.host == "127.0.0.1"
        status, body, ctype = get(server.url)
        assert status == 200 and b"/tfjs/tf.min.js" in body and "text/html" in ctype
        assert b"cdn" not in body.lower() and b"https://" not in body
        status, body, _ = get(server.url + "tfjs/tf.min.js")
        assert status == 200 and len(body) > 500_000
        status, body, ctype = get(server.url + "tfjs/tfjs-backend-wasm-simd.wasm")
        assert status == 200 and body[:4] == b"\0asm" and ctype == "application/wasm"
        status, body, _ = get(server.url + "model/model.json")
        assert status == 200 and json.loads(body)["format"] == "graph-model"
        status, body, _ = get(server.url + "model/group1-shard1of1.bin")
        assert status == 200 and body == (model / "group1-shard1of1.bin").read_bytes()
        info = json.loads(get(server.url + "api/info")[1])
        assert info["name"] == "small cnn" and info["tfjs_version"] == "4.22.0"
        assert info["signature"]["inputs"][0]["shape"] == [1, 8, 8, 3]
        doc = json.loads(get(server.url + "api/random?seed=3")[1])
        expected = random_inputs(input_specs(model), seed=3)["image"]
        assert np.array_equal(np.array(doc["image"]["values"], np.float32).reshape(doc["image"]["shape"]), expected)


@pytest.mark.parametrize("path", ["model/../model.json", "model/%2e%2e/%2e%2e/etc/passwd", "static/../server.py",
                                  "static/%2e%2e/server.py", "model/other.bin", "tfjs/package.json",
                                  "static/__init__.py/x", "../../../etc/passwd"])
def test_nothing_else_is_served(model, path, tfjs_runtime):
    with ModelServer(model, port=0) as server:
        status, body, _ = get(server.url + path)
        assert status == 404, (path, body[:80])


def test_cli_serves_until_interrupted(model, tfjs_runtime):
    proc = subprocess.Popen([sys.executable, "-m", "tfjsconv", "serve", str(model), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal has it
    try:
        line = proc.stdout.readline()
        assert line.startswith("Serving small cnn at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        assert get(url + "api/info")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_bad_input_is_one_clear_message(model, tmp_path):
    run = lambda *a, **kw: subprocess.run([sys.executable, "-m", "tfjsconv", "serve", *a], capture_output=True,  # noqa: E731
                                          text=True, timeout=60, **kw)
    out = run(str(tmp_path))
    assert out.returncode == 2 and "not a TF.js model folder" in out.stderr
    out = run(str(tmp_path / "missing"))
    assert out.returncode == 2 and "does not exist" in out.stderr
    with ModelServer(model, port=0) as server:
        out = run(str(model), "--port", str(server.port))
        assert out.returncode == 2 and "in use" in out.stderr and "--port 0" in out.stderr
    out = run(str(model), env={**os.environ, "PATH": str(tmp_path), "TFJSCONV_CACHE_DIR": str(tmp_path / "c")})
    assert out.returncode == 2 and "Node.js" in out.stderr and "Traceback" not in out.stderr
