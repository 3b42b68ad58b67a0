"""Running the serve page in headless Chromium (system Chromium, driven by playwright-core in Node).

``bench --browser`` and the browser tests both go through :func:`run_in_browser`: start a
:class:`~tfjsconv.serve.ModelServer` on a free port, launch Chromium with a fresh profile, call the
page's ``tfjsconv.run()``, optionally save a screenshot. No browser is ever downloaded.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RuntimeMissingError, TfjsconvError

DRIVER_SCRIPT = Path(__file__).resolve().parent / "browser.mjs"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEFAULT_TIMEOUT_S = 300.0


class BrowserRunError(TfjsconvError):
    """Chromium or the page failed as a whole (not one backend)."""


def find_chromium() -> str:
    """``$TFJSCONV_CHROMIUM``, else the first Chromium/Chrome on PATH; :class:`RuntimeMissingError` if none."""
    explicit = os.environ.get("TFJSCONV_CHROMIUM")
    if explicit:
        if not Path(explicit).is_file():
            raise RuntimeMissingError(f"TFJSCONV_CHROMIUM={explicit} does not exist")
        return explicit
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeMissingError("no Chromium found (looked for " + ", ".join(CHROMIUM_NAMES) + " on PATH)",
                              hint="install it, e.g. `apt-get install chromium`, or set TFJSCONV_CHROMIUM")


def run_in_browser(model_dir: str | Path, *, backends: Sequence[str] = ("wasm", "webgl"), runs: int = 10,
                   warmup: int = 2, inputs: Mapping[str, np.ndarray] | None = None,
                   screenshot: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Open the serve page for ``model_dir`` in headless Chromium and run it on ``backends``.

    Returns the page's result: ``{"browser_version", "tfjs_version", "user_agent", "results":
    {backend: {"ok", "error", "load_ms", "first_ms", "times_ms", "median_ms", "min_ms", "p90_ms",
    "outputs": {name: {"dtype", "shape", "values"}}, "info"}}, "console_errors"}``.
    """
    from ..verify.runtime import ensure_runtime, find_node
    from .server import ModelServer

    executable = find_chromium()
    node = find_node()
    runtime = ensure_runtime(quiet=True)
    if not (runtime / "node_modules" / "playwright-core" / "package.json").is_file():
        raise RuntimeMissingError(f"the TF.js runtime in {runtime} has no playwright-core",
                                  hint="delete that folder; tfjsconv reinstalls it")
    workdir = Path(tempfile.mkdtemp(prefix="tfjsconv-browser-"))
    try:
        with ModelServer(model_dir, port=0, runtime_dir=runtime,
                         inputs=dict(inputs) if inputs is not None else None) as server:
            request = {"runtime_dir": str(runtime), "url": server.url, "executable": executable,
                       "user_data_dir": str(workdir / "profile"), "backends": list(backends), "runs": int(runs),
                       "warmup": int(warmup), "screenshot": str(screenshot) if screenshot else None,
                       "timeout_ms": int(timeout * 1000)}
            request_file = workdir / "request.json"
            request_file.write_text(json.dumps(request), encoding="utf-8")
            try:
                proc = subprocess.run([node, str(DRIVER_SCRIPT), str(request_file)], capture_output=True, text=True,
                                      errors="replace", timeout=timeout + 60, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise BrowserRunError(f"Chromium did not finish within {timeout + 60:g} s") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    try:
        doc = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        tail = "\n".join("    " + line for line in proc.stderr.strip().splitlines()[-10:])
        raise BrowserRunError(f"the browser driver exited with code {proc.returncode} without a result"
                              + (f"; its stderr ends with:\n{tail}" if tail else ""))
    if "error" in doc:
        if doc.get("kind") in ("runtime", "browser"):
            raise RuntimeMissingError(doc["error"], hint="check that Chromium starts: chromium --headless --version")
        raise BrowserRunError(f"the page failed in Chromium: {doc['error']}")
    return doc


def bench_browser(model_dir: str | Path, *, backends: Sequence[str] = ("cpu", "wasm", "webgl"), runs: int = 10,
                  warmup: int = 2, inputs: Mapping[str, np.ndarray] | None = None) -> Any:
    """``tfjsconv bench --browser``: the same report as in Node, timed in headless Chromium."""
    from ..verify.bench import BackendBench, BenchReport, _check_counts, bench_inputs, describe_inputs

    _check_counts(runs, warmup)
    inputs = dict(inputs) if inputs is not None else bench_inputs(model_dir)
    doc = run_in_browser(model_dir, backends=backends, runs=runs, warmup=warmup, inputs=inputs)
    benches = {}
    for name in backends:
        r = doc["results"].get(name) or {"ok": False, "error": "the page reported nothing for this backend"}
        benches[name] = BackendBench(name, bool(r.get("ok")), r.get("error"), r.get("load_ms"), r.get("first_ms"),
                                     list(r.get("times_ms") or []), None,
                                     {k: v for k, v in (r.get("info") or {}).items() if v is not None})
    environment = {"browser": f"Chromium {doc.get('browser_version')}" if doc.get("browser_version") else None,
                   "user_agent": doc.get("user_agent")}
    return BenchReport(str(model_dir), "browser", runs, warmup, benches, describe_inputs(inputs),
                       tfjs_version=doc.get("tfjs_version"),
                       environment={k: v for k, v in environment.items() if v})
