"""Running the serve page in headless Chromium (system Chromium, driven by playwright-core in Node).

One :class:`BrowserSession` is one Chromium and one ``node browser.mjs`` driver; each
:meth:`BrowserSession.run` starts a :class:`~tfjsconv.serve.ModelServer` on a free port for one
model folder, opens the page, calls its ``tfjsconv.run()`` and optionally saves a screenshot. So
many models run in one browser (the webgl tests do), and :func:`run_in_browser` is a session of one
run (``bench --browser``). :func:`run_backends_in_browser` returns the outputs as numpy arrays in
:class:`~tfjsconv.verify.run.BackendRun` form (``verify --browser``). No browser is ever downloaded.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RuntimeMissingError, TfjsconvError

DRIVER_SCRIPT = Path(__file__).resolve().parent / "browser.mjs"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEFAULT_TIMEOUT_S = 300.0
#: Backends only the browser has (Node's pure TF.js has no WebGL context).
BROWSER_ONLY_BACKENDS = ("webgl",)


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


class BrowserSession:
    """One headless Chromium for many page runs; use as a context manager (closing ends Chromium)."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        from ..verify.runtime import ensure_runtime, find_node

        self.timeout = timeout
        executable = find_chromium()
        node = find_node()
        self.runtime = ensure_runtime(quiet=True)
        if not (self.runtime / "node_modules" / "playwright-core" / "package.json").is_file():
            raise RuntimeMissingError(f"the TF.js runtime in {self.runtime} has no playwright-core",
                                      hint="delete that folder; tfjsconv reinstalls it")
        self._workdir = Path(tempfile.mkdtemp(prefix="tfjsconv-browser-"))
        self._stderr = open(self._workdir / "driver.log", "w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._proc = subprocess.Popen([node, str(DRIVER_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._stderr, text=True, errors="replace", bufsize=1)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, name="tfjsconv-browser-driver", daemon=True).start()
        try:
            doc = self._request({"runtime_dir": str(self.runtime), "executable": executable,
                                 "user_data_dir": str(self._workdir / "profile"), "timeout_ms": int(timeout * 1000)},
                                timeout + 60)
        except BaseException:
            self.close()
            raise
        self.browser_version = doc.get("browser_version")

    def _read_stdout(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.strip():
                self._lines.put(line)
        self._lines.put(None)

    def _request(self, request: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        if self._proc.poll() is not None or self._proc.stdin is None:
            raise BrowserRunError("the browser session has ended")
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except OSError:
            pass  # the driver died; reported below from its exit and stderr
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise BrowserRunError(f"Chromium did not finish within {timeout:g} s") from None
        try:
            doc = json.loads(line) if line is not None else None
        except json.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            code = self._proc.wait(timeout=10) if line is None else None
            raise BrowserRunError(f"the browser driver {'exited with code ' + str(code) if line is None else 'wrote'}"
                                  f" without a result{self._stderr_tail()}")
        if "error" in doc:
            if doc.get("kind") in ("runtime", "browser"):
                raise RuntimeMissingError(doc["error"], hint="check that Chromium starts: chromium --headless --version")
            raise BrowserRunError(f"the page failed in Chromium: {doc['error']}")
        return doc

    def _stderr_tail(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        tail = "\n".join("    " + line for line in self._stderr.read().strip().splitlines()[-10:])
        return f"; its stderr ends with:\n{tail}" if tail else ""

    def run(self, model_dir: str | Path, *, backends: Sequence[str] = ("wasm", "webgl"), runs: int = 10,
            warmup: int = 2, inputs: Mapping[str, np.ndarray] | None = None,
            screenshot: str | Path | None = None, flags: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Open the serve page for ``model_dir`` and run it on ``backends`` (see :func:`run_in_browser`).

        ``flags``: TF.js environment flags set before the backends start, e.g.
        ``{"WEBGL_FORCE_F16_TEXTURES": True}`` to run webgl as a GPU without float32 render targets does.
        """
        from .server import ModelServer

        with ModelServer(model_dir, port=0, runtime_dir=self.runtime,
                         inputs=dict(inputs) if inputs is not None else None) as server:
            return self._request({"url": server.url, "backends": list(backends), "runs": int(runs),
                                  "warmup": int(warmup), "screenshot": str(screenshot) if screenshot else None,
                                  "flags": dict(flags or {})},
                                 self.timeout + 60)

    def close(self) -> None:
        """End the driver (closing its stdin makes it close Chromium) and remove the profile."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> BrowserSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_in_browser(model_dir: str | Path, *, backends: Sequence[str] = ("wasm", "webgl"), runs: int = 10,
                   warmup: int = 2, inputs: Mapping[str, np.ndarray] | None = None,
                   screenshot: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Open the serve page for ``model_dir`` in headless Chromium and run it on ``backends``.

    Returns the page's result: ``{"browser_version", "tfjs_version", "user_agent", "results":
    {backend: {"ok", "error", "load_ms", "first_ms", "times_ms", "median_ms", "min_ms", "p90_ms",
    "outputs": {name: {"dtype", "shape", "values"}}, "info"}}, "console_errors"}``.
    """
    with BrowserSession(timeout=timeout) as session:
        return session.run(model_dir, backends=backends, runs=runs, warmup=warmup, inputs=inputs,
                           screenshot=screenshot)


def run_backends_in_browser(model_dir: str | Path, inputs: Mapping[str, Any], *,
                            backends: Sequence[str] = BROWSER_ONLY_BACKENDS,
                            session: BrowserSession | None = None,
                            flags: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``model_dir`` on ``inputs`` in Chromium; ``({backend: BackendRun}, facts)``.

    ``facts``: ``browser_version``, ``tfjs_version``. Uses ``session`` when given (many models, one
    Chromium), else a session of its own. ``flags``: TF.js environment flags (see :meth:`BrowserSession.run`).
    """
    from ..verify.run import to_tfjs_array

    arrays = {str(name): to_tfjs_array(name, value) for name, value in inputs.items()}
    if session is None:
        with BrowserSession() as own:
            doc = own.run(model_dir, backends=backends, runs=1, warmup=0, inputs=arrays, flags=flags)
    else:
        doc = session.run(model_dir, backends=backends, runs=1, warmup=0, inputs=arrays, flags=flags)
    return ({name: _backend_run(name, doc["results"].get(name)) for name in backends},
            {"browser_version": doc.get("browser_version"), "tfjs_version": doc.get("tfjs_version")})


_PAGE_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}


def _backend_run(backend: str, entry: Mapping[str, Any] | None) -> Any:
    from ..verify.run import BackendRun

    if entry is None:
        return BackendRun(backend, ok=False, error="the page reported nothing for this backend")
    run = BackendRun(backend, ok=bool(entry.get("ok")), error=entry.get("error"), load_ms=entry.get("load_ms"),
                     first_ms=entry.get("first_ms"), times_ms=list(entry.get("times_ms") or []), mode="in Chromium",
                     info={k: v for k, v in (entry.get("info") or {}).items() if v is not None})
    for name, out in (entry.get("outputs") or {}).items() if run.ok else ():
        values, dtype = out["values"], out["dtype"]
        if dtype == "string":
            array = np.array(values, dtype=object)
        elif dtype in _PAGE_DTYPES:  # non-finite floats arrive as the strings "NaN", "Infinity", "-Infinity"
            array = np.array([float(v) for v in values], dtype=np.float64).astype(_PAGE_DTYPES[dtype])
        else:
            run.ok, run.error = False, f"output {name!r} has dtype {dtype}, which the page cannot return"
            break
        run.outputs[name] = array.reshape(out["shape"])
    return run


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
        benches[name] = BackendBench(name, bool(r.get("ok")), r.get("error"), load_ms=r.get("load_ms"),
                                     first_ms=r.get("first_ms"), times_ms=list(r.get("times_ms") or []),
                                     info={k: v for k, v in (r.get("info") or {}).items() if v is not None})
    environment = {"browser": f"Chromium {doc.get('browser_version')}" if doc.get("browser_version") else None,
                   "user_agent": doc.get("user_agent")}
    return BenchReport(str(model_dir), "browser", runs, warmup, benches, describe_inputs(inputs),
                       tfjs_version=doc.get("tfjs_version"),
                       environment={k: v for k, v in environment.items() if v})
