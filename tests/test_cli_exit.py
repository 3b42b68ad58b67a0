"""The ``tfjsconv`` command exits without the interpreter's teardown (``cli.exit_now``), and loses nothing.

Skipping the teardown saves tens of milliseconds per run, but a careless quick exit would drop buffered
output, leave temporary folders behind or swallow the exit code. Each is checked on the real command in a
subprocess.
"""
from __future__ import annotations

import json
import os
import signal
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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the stderr filter is a forked process")
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_interrupt_to_the_whole_group_keeps_the_message(signame):
    """Ctrl-C in a terminal (and ``kill -TERM -PGID``) reaches every process of the group, the forked stderr
    filter too: it used to die of it, so "interrupted; nothing was written" went into a pipe nobody read."""
    code = ("import os, signal, sys, time; from tfjsconv.cli import _raise_interrupt; "
            "from tfjsconv.cli.quiet_stderr import _Filter; "
            "signal.signal(signal.SIGTERM, _raise_interrupt); f = _Filter(); f.start(); time.sleep(0.2)\n"
            "try:\n"
            f"    os.killpg(0, signal.{signame}); time.sleep(2)\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted; nothing was written', file=sys.stderr)\n"
            "f.stop()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), timeout=60)
    assert result.stderr == "interrupted; nothing was written\n"


def test_output_lost_at_the_final_flush_is_not_success():
    """Python's own exit gives 120 when its last flush of stdout fails (a full disk); the quick exit used to
    swallow the error and report success for output that never arrived. The full disk is injected."""
    code = ("import io, sys; from tfjsconv.cli import exit_now\n"
            "class Full(io.RawIOBase):\n"
            "    def writable(self): return True\n"
            "    def write(self, data): raise OSError(28, 'No space left on device')\n"
            "sys.stdout = io.TextIOWrapper(io.BufferedWriter(Full(), 1 << 16)); sys.stdout.write('report'); exit_now(0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 120


def test_exit_now_stops_idle_thread_pools():
    """An idle ``ThreadPoolExecutor`` (libraries keep one) has non-daemon workers that stop only when
    threading's exit hook tells them to; joining them without it, the quick exit hung for ever."""
    code = ("from concurrent.futures import ThreadPoolExecutor; from tfjsconv.cli import exit_now; "
            "pool = ThreadPoolExecutor(2); print(pool.submit(lambda: 41 + 1).result()); exit_now(4)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (4, "42\n")
