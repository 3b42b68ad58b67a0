"""The ``tfjsconv`` command exits without the interpreter's teardown (``cli.exit_now``), and loses nothing.

Skipping the teardown saves tens of milliseconds per run, but a careless quick exit would drop buffered
output, leave temporary folders behind or swallow the exit code. Each is checked on the real command in a
subprocess.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from keras_models import saved_model


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", *argv], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_exit_code_and_message_pass_through():
    result = _run("convert", "/nonexistent/model.h5", "/nonexistent/out")
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "does not exist" in result.stderr


def test_piped_output_is_complete(capsys):
    """Block-buffered output to a pipe arrives whole: the command prints what ``main`` prints in-process."""
    from tfjsconv.cli import main

    assert main(["ops"]) == 0
    assert capsys.readouterr().out == _run("ops").stdout


def test_exit_now_joins_threads_flushes_and_runs_atexit(tmp_path):
    marker = tmp_path / "thread-done"
    code = ("import atexit, sys, threading, time; from tfjsconv.cli import exit_now; "
            "atexit.register(lambda: print('atexit ran', flush=False)); "
            f"threading.Thread(target=lambda: (time.sleep(0.3), open({str(marker)!r}, 'w').close())).start(); "
            "sys.stdout.write('buffered'); exit_now(3)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 3
    assert result.stdout == "bufferedatexit ran\n"
    assert marker.exists()


def test_temporary_folders_are_removed_and_outputs_are_whole(tmp_path):
    """A deflated ``model.weights.h5`` is extracted to a temporary folder that a ``weakref.finalize``
    removes; with the quick exit it must be gone too, and the converted model must be complete."""
    pytest.importorskip("keras")
    pytest.importorskip("h5py")
    source = saved_model("mlp", "keras3.keras").path
    deflated = tmp_path / "deflated.keras"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "out"
    result = _run("convert", str(deflated), str(out), env={"TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stderr
    assert list(scratch.iterdir()) == []
    manifest = json.loads((out / "model.json").read_text())["weightsManifest"]
    sizes = {p: (out / p).stat().st_size for group in manifest for p in group["paths"]}
    assert sum(sizes.values()) > 0 and all(sizes.values())


def test_library_callers_of_main_are_not_exited():
    """`main()` returns its code to a caller (tests, scripts); only the console entry exits quickly."""
    code = ("import sys; from tfjsconv.cli import main; "
            "code = main(['convert', '/nonexistent/m.h5', '/nonexistent/o']); print('returned', code)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "returned 2" in result.stdout


@pytest.mark.parametrize(("argv", "code", "stream", "text"), [
    (["--help"], 0, "stdout", "is short for"),
    (["--version"], 0, "stdout", "tfjsconv "),
    (["convert", "--bogus", "a", "b"], 2, "stderr", "unrecognized arguments: --bogus"),
])
def test_argparse_exits_keep_their_code_and_text(argv, code, stream, text):
    """argparse ends ``--help``, ``--version`` and flag errors with SystemExit; the command still exits quickly
    with argparse's code and complete output."""
    result = _run(*argv)
    assert result.returncode == code
    assert text in getattr(result, stream)


def test_a_profiler_still_writes_its_results(tmp_path):
    """``python -m cProfile -m tfjsconv ...`` writes its stats after the command returns: no quick exit then."""
    stats = tmp_path / "stats.out"
    result = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "tfjsconv", "--version"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert stats.stat().st_size > 0
