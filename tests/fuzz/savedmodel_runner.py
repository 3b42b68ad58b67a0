"""Converting SavedModel folders in a child process, a batch per process, and judging each outcome.

TensorFlow's C++ code (protobuf parsing, the checkpoint reader, Grappler, graph import) can abort
the whole process on a bad ``saved_model.pb`` or variables file, so fuzzed SavedModels are never
converted inside pytest. A worker (this file run as a script) imports TensorFlow once and runs
``tfjsconv convert`` (``tfjsconv.cli.main``) on each folder of its batch, appending one JSON line per
example to a results file *before* (``start``) and after (the outcome) each conversion. When the
worker dies (a signal, an exit, a timeout), the example that started but never finished is the
culprit; the parent records it and starts a new worker on the rest of the batch.

The rule an outcome must follow (:func:`problem`): exit 2 with exactly one ``error:`` block, no
traceback and no output folder; or exit 0 with a model whose model.json and every weight read
back. Exit 1 (tfjsconv's bug report), any other code, a signal or a hang is a crash.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Address-space limit of a worker: huge declared shapes must fail cleanly, not swap the machine.
MEMORY_LIMIT = 4 << 30
#: Seconds a worker may take to start (import TensorFlow) plus seconds per example.
START_SECONDS, EXAMPLE_SECONDS = 60, 20


def problem(outcome: dict[str, Any]) -> str | None:
    """Why ``outcome`` (one worker result) breaks the rule, or None when it is clean."""
    if "signal" in outcome:
        return f"killed by {outcome['signal']}"
    if outcome.get("timeout"):
        return "timed out"
    if outcome.get("died"):
        return f"the process exited with {outcome['code']} mid-conversion: {outcome.get('stderr', '')[-300:]}"
    code = outcome.get("code")
    if code == 2:
        errors = outcome["error_lines"]
        if len(errors) != 1:
            return f"exit 2 with {len(errors)} 'error:' lines"
        if outcome["traceback"]:
            return f"exit 2 with a traceback: {outcome.get('stderr', '')[-600:]}"
        if outcome["left_behind"]:
            return f"exit 2 but left {outcome['left_behind']}"
        return None
    if code == 0:
        return None if outcome.get("loaded") else f"exit 0 but the model does not load: {outcome.get('load_error')}"
    report = [line for line in outcome.get("stderr", "").splitlines() if "unexpected error" in line]
    return f"exit {code}: {(report or [outcome.get('first_error') or outcome.get('stderr', '')[-300:]])[0]}"


def run_batch(folders: Sequence[Path], *, extra_args: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Convert every SavedModel folder in child processes; one outcome per folder, in order."""
    outcomes: list[dict[str, Any] | None] = [None] * len(folders)
    pending = list(range(len(folders)))
    with tempfile.TemporaryDirectory(prefix="tfjsconv-fuzz-sm-") as scratch:
        while pending:
            done = _run_worker([str(folders[i]) for i in pending], Path(scratch), extra_args)
            finished = 0
            for index, outcome in zip(pending, done):
                outcomes[index] = outcome
                finished += 1
                if "signal" in outcome or "timeout" in outcome or outcome.get("died"):
                    break
            pending = pending[finished:]
    return [o for o in outcomes if o is not None]


def _run_worker(folders: list[str], scratch: Path, extra_args: Sequence[str]) -> list[dict[str, Any]]:
    """One worker on ``folders``: the outcomes of those it finished, then the one that killed it (if any)."""
    manifest = scratch / "batch.json"
    results = scratch / "results.jsonl"
    manifest.write_text(json.dumps({"folders": folders, "scratch": str(scratch), "extra_args": list(extra_args)}))
    results.unlink(missing_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONFAULTHANDLER": "1"}
    timeout = START_SECONDS + EXAMPLE_SECONDS * len(folders)
    proc = subprocess.Popen([sys.executable, __file__, str(manifest), str(results)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    timed_out = False
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # our own child, by its handle
        _, stderr = proc.communicate()
        timed_out = True
    lines = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    outcomes = [line for line in lines if "code" in line]
    started = [line["folder"] for line in lines if line.get("start")]
    if len(started) > len(outcomes) or proc.returncode != 0 or timed_out:
        culprit = started[len(outcomes)] if len(started) > len(outcomes) else None
        if culprit is not None:
            death: dict[str, Any] = {"folder": culprit, "stderr": stderr[-2000:]}
            if timed_out:
                death["timeout"] = True
            elif proc.returncode < 0:
                death["signal"] = signal.Signals(-proc.returncode).name
            else:
                death["died"] = True
                death["code"] = proc.returncode
            outcomes.append(death)
        elif not outcomes or len(outcomes) < len(folders):
            raise RuntimeError(f"the fuzz worker failed before any example (exit {proc.returncode}):\n{stderr[-3000:]}")
    return outcomes


# -- the worker ---------------------------------------------------------------------------------------
def _worker(manifest_path: str, results_path: str) -> None:
    import contextlib
    import gc
    import io
    import resource
    import shutil

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    manifest = json.loads(Path(manifest_path).read_text())
    from tfjsconv.cli import main
    from tfjsconv.plugins.savedmodel.tfimport import import_tf
    from tfjsconv.weights import load_manifest_weights, read_model_json

    import_tf()  # once, before the first example, so its cost and noise are not an example's
    scratch = Path(manifest["scratch"])
    with open(results_path, "a", encoding="utf-8") as results:
        def record(doc: dict[str, Any]) -> None:
            results.write(json.dumps(doc) + "\n")
            results.flush()
            os.fsync(results.fileno())

        for number, folder in enumerate(manifest["folders"]):
            out_parent = scratch / f"out{number}"
            out_parent.mkdir(exist_ok=True)
            out = out_parent / "web"
            record({"folder": folder, "start": True})
            stderr, stdout = io.StringIO(), io.StringIO()
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
                code = main(["convert", folder, str(out), "--quiet", *manifest["extra_args"]])
            text = stderr.getvalue()
            outcome: dict[str, Any] = {
                "folder": folder, "code": code, "stderr": text[-3000:],
                "error_lines": [line for line in text.splitlines() if line.startswith("error:")],
                "traceback": "Traceback (most recent call last)" in text,
                "left_behind": sorted(p.name for p in out_parent.iterdir()) if code != 0 else [],
            }
            outcome["first_error"] = outcome["error_lines"][0] if outcome["error_lines"] else None
            if code == 0:
                try:
                    doc = read_model_json(out)
                    load_manifest_weights(doc.get("weightsManifest", []), out)
                    outcome["loaded"] = True
                except Exception as err:  # noqa: BLE001 -- reported as the crash it is
                    outcome["loaded"], outcome["load_error"] = False, f"{type(err).__name__}: {err}"
            shutil.rmtree(out_parent, ignore_errors=True)
            with contextlib.redirect_stderr(io.StringIO()):
                # Objects of this example die now, not in the next one: TF's finalizers complain when a
                # later model loaded functions of the same names, which only happens in a batch.
                gc.collect()
            record(outcome)


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
