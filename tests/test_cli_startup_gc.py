"""The garbage collector is paused only while the ``tfjsconv`` command starts up, and never for a library user."""
from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest
from tfjsconv.cli import startup_gc

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo_cnn.keras"


@pytest.fixture
def fresh_gc():
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    startup_gc._paused = False
    (gc.enable if enabled else gc.disable)()


def test_pause_then_resume_freezes_and_collects_again(fresh_gc) -> None:
    gc.unfreeze()
    startup_gc.pause()
    assert not gc.isenabled()
    startup_gc.resume()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    startup_gc.resume()  # a second resume changes nothing
    assert gc.isenabled()


def test_a_collector_the_user_disabled_stays_disabled(fresh_gc) -> None:
    gc.unfreeze()
    gc.disable()
    startup_gc.pause()
    startup_gc.resume()
    assert not gc.isenabled() and gc.get_freeze_count() == 0


def test_main_as_a_library_call_leaves_the_collector_alone(fresh_gc) -> None:
    from tfjsconv.cli import main

    gc.unfreeze()
    assert main(["ops"]) == 0 and gc.isenabled() and gc.get_freeze_count() == 0


_PROBE = r"""
import gc, json, sys
import tfjsconv.conversion as conversion
seen = {}
real = conversion.convert
def convert(*args, **kwargs):
    seen["enabled"], seen["frozen"] = gc.isenabled(), gc.get_freeze_count()
    return real(*args, **kwargs)
conversion.convert = convert
gc_at_start = gc.isenabled()
import atexit
atexit.register(lambda: print(json.dumps({**seen, "at_start": gc_at_start})))
sys.argv = ["tfjsconv", *sys.argv[1:]]
from tfjsconv.cli import run
run()
"""


@pytest.mark.parametrize("command", ["convert", "ops"])
def test_the_command_collects_again_once_started(tmp_path: Path, command: str) -> None:
    """By the time the conversion starts, the collector runs again (with the start-up objects frozen)."""
    argv = ["convert", "--quiet", str(DEMO), str(tmp_path / "out")] if command == "convert" else ["ops"]
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["at_start"] is True
    if command == "convert":
        assert probe["enabled"] is True and probe["frozen"] > 1000, probe
        assert (tmp_path / "out" / "model.json").is_file()


def test_an_interrupt_during_the_commands_imports_is_an_interrupt(monkeypatch, capsys) -> None:
    """Ctrl-C while ``convert`` imports numpy (now imported inside the command, not at start-up): numpy
    re-raises it as an ImportError, which is an interruption, not a bug to report."""
    from tfjsconv import cli

    def interrupted_import(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:
            raise ImportError("IMPORTANT: PLEASE READ THIS FOR ADVICE ON HOW TO SOLVE THIS ISSUE!") from err

    monkeypatch.setattr(cli.convert_cmd, "run", interrupted_import)
    assert cli.main(["convert", "in.h5", "out"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted; nothing was written"


def test_an_interrupt_an_import_swallowed_is_still_an_interrupt(monkeypatch, capsys) -> None:
    """numpy's C import turns a Ctrl-C during ``import numpy`` into an ImportError that does not chain it."""
    import signal

    from tfjsconv import cli

    def swallowed(args):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
        raise ImportError('PyCapsule_Import could not import module "datetime"')

    monkeypatch.setattr(cli.convert_cmd, "run", swallowed)
    assert cli.main(["convert", "in.h5", "out"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted; nothing was written"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.setattr(cli.convert_cmd, "run", lambda args: 1 / 0)  # a later, real bug is reported as one
    assert cli.main(["convert", "in.h5", "out"]) == 1


def test_an_interrupt_during_the_swap_says_the_output_is_written(monkeypatch, capsys) -> None:
    from tfjsconv import cli
    from tfjsconv.writers.atomic import InterruptedAfterOutput

    def interrupted(args):
        raise InterruptedAfterOutput

    monkeypatch.setattr(cli.convert_cmd, "run", interrupted)
    assert cli.main(["convert", "in.h5", "out"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted after the output was written in full"
