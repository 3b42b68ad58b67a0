"""The webgl column of the conformance sweeps: batch-runner jobs run in ONE headless Chromium page.

``webgl_batch.mjs`` takes the request of ``batch_runner.mjs`` (jobs written by ``onnx_backend.write_job``)
and answers with its events, so ``onnx_backend.read_outputs`` reads the results. Chromium is the
system's (``tfjsconv.serve.browser.find_chromium``; WebGL2 on SwiftShader with float32 render targets,
as in ``tests/test_browser_backends.py``); nothing is downloaded.
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WEBGL_BATCH = Path(__file__).resolve().parent / "webgl_batch.mjs"
JOB_TIMEOUT_S = 60.0


def webgl_available() -> str | None:
    """None when Chromium and the TF.js runtime are there, else why not."""
    from tfjsconv.errors import TfjsconvError
    from tfjsconv.serve.browser import find_chromium

    try:
        find_chromium()
    except TfjsconvError as err:
        return err.message
    return None


def run_webgl_jobs(jobs: Sequence[Any], work: Path, *,
                   job_timeout: float = JOB_TIMEOUT_S) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Run ``jobs`` on webgl in one Chromium: ``({job id: done event}, {renderer facts})``."""
    from tfjsconv.serve.browser import find_chromium
    from tfjsconv.verify.runtime import ensure_runtime, find_node

    if not jobs:
        return {}, {}
    request = {"runtime_dir": str(ensure_runtime(quiet=True)), "executable": find_chromium(),
               "backends": ["webgl"], "job_timeout_ms": int(job_timeout * 1000),
               "jobs": [{"id": j.id, "model_dir": str(j.model_dir), "output_dir": str(j.output_dir),
                         "inputs": j.inputs} for j in jobs]}
    request_file = work / "request-webgl.json"
    request_file.write_text(json.dumps(request), encoding="utf-8")
    stderr_file = work / "stderr-webgl.log"
    with open(stderr_file, "wb") as err:
        proc = subprocess.run([find_node(), str(WEBGL_BATCH), str(request_file)], stdout=subprocess.PIPE,
                              stderr=err, text=True, timeout=len(jobs) * job_timeout + 180)
    results: dict[str, dict[str, Any]] = {}
    info: dict[str, Any] = {}
    fatal = None
    for line in proc.stdout.splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if doc.get("event") == "done":
            results[doc["id"]] = doc
        elif doc.get("event") == "info":
            info = {k: v for k, v in doc.items() if k not in ("event", "backend")}
        elif doc.get("event") in ("backend", "fatal"):
            fatal = str(doc.get("error", "?")).splitlines()[0][:200]
    if fatal is None and proc.returncode != 0:
        tail = " | ".join(stderr_file.read_text(errors="replace").strip().splitlines()[-3:])
        fatal = f"the webgl batch runner exited with code {proc.returncode}: {tail[:200]}"
    for job in jobs:
        results.setdefault(job.id, {"ok": False, "stage": "init", "error": fatal or "no result"})
    return results, info
