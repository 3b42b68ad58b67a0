"""The one error handler: expected failures are one block and exit 2, bugs are a short report and exit 1.

A test plugin's frontend raises on demand, so every branch of ``tfjsconv.cli.main`` is reached
through a real ``convert`` call.
"""
from __future__ import annotations

import errno
import subprocess
import sys

import numpy as np
import pytest

from tfjsconv.cli import main
from tfjsconv.errors import InputError
from tfjsconv.frontend import Frontend, as_path
from tfjsconv.hookspecs import hookimpl
from tfjsconv.plugin_manager import get_plugin_manager

RAISES = {
    "input": lambda: InputError("model.boom is broken at byte 12", hint="export it again"),
    "bug": lambda: ZeroDivisionError("division by zero"),
    "oserror": lambda: PermissionError(errno.EACCES, "Permission denied", "/data/model.boom"),
    "interrupt": lambda: KeyboardInterrupt(),
}


class BoomFrontend(Frontend):
    name = "boom"

    def detect(self, source):
        path = as_path(source)
        return path is not None and path.suffix == ".boom"

    def load(self, source, options):
        raise RAISES[as_path(source).read_text().strip()]()


class BoomPlugin:
    @hookimpl
    def register_frontends(self, register):
        register(BoomFrontend())


@pytest.fixture
def boom(tmp_path):
    get_plugin_manager().register(BoomPlugin(), name="boom-test")

    def make(kind: str):
        path = tmp_path / f"{kind}.boom"
        path.write_text(kind)
        return path
    return make


def _run(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_expected_failure_is_one_block_and_exit_2(boom, tmp_path, capsys):
    code, err = _run(capsys, "convert", str(boom("input")), str(tmp_path / "out"))
    assert code == 2
    assert err == "error: model.boom is broken at byte 12\n  hint: export it again\n"
    assert not (tmp_path / "out").exists()


def test_debug_adds_the_traceback(boom, tmp_path, capsys):
    code, err = _run(capsys, "--debug", "convert", str(boom("input")), str(tmp_path / "out"))
    assert code == 2
    assert "Traceback (most recent call last)" in err and "InputError" in err
    assert err.rstrip().endswith("hint: export it again")


def test_unexpected_exception_is_a_short_report_with_versions_and_exit_1(boom, tmp_path, capsys):
    code, err = _run(capsys, "convert", str(boom("bug")), str(tmp_path / "out"))
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 4, err
    assert lines[0].startswith("tfjsconv ") and "unexpected error: ZeroDivisionError: division by zero" in lines[0]
    assert "(at test_reliability_cli.py:" in lines[0]  # where it was raised
    assert f"python {sys.version_info.major}.{sys.version_info.minor}" in lines[1]
    assert lines[2].startswith("  libraries: ") and f"numpy {np.__version__}" in lines[2]
    assert "--debug" in lines[3] and "report" in lines[3]
    code, err = _run(capsys, "convert", str(boom("bug")), str(tmp_path / "out"), "--debug")
    assert code == 1 and "Traceback (most recent call last)" in err and "ZeroDivisionError" in err


def test_os_errors_name_the_file_and_exit_2(boom, tmp_path, capsys):
    code, err = _run(capsys, "convert", str(boom("oserror")), str(tmp_path / "out"))
    assert code == 2
    assert err.startswith("error: cannot access /data/model.boom: Permission denied")
    assert "Traceback" not in err


def test_interrupt_exits_130_and_says_nothing_was_written(boom, tmp_path, capsys):
    code, err = _run(capsys, "convert", str(boom("interrupt")), str(tmp_path / "out"))
    assert code == 130 and err.strip() == "interrupted; nothing was written"
    assert not (tmp_path / "out").exists()


def test_the_installed_command_uses_the_same_handler(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    proc = subprocess.run([sys.executable, "-m", "tfjsconv", "convert", str(bad), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
