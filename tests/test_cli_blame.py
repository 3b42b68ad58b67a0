"""Errors blame the right party: the input, the user's flags, the machine, or tfjsconv (a bug, exit 1)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tfjsconv.cli import main
from tfjsconv.hookspecs import hookimpl


def _loader_plugin(load):
    """A plugin whose frontend claims ``*.blame`` files and runs ``load(path)``."""
    from tfjsconv.frontend import Frontend, as_path

    class BlameFrontend(Frontend):
        name = "blame_test"
        output_formats = ("tfjs_graph_model",)

        def detect(self, source):
            path = as_path(source)
            return path is not None and path.suffix == ".blame"

        def load(self, source, options):
            return load(as_path(source))

    class Plugin:
        @hookimpl
        def register_frontends(self, register):
            register(BlameFrontend())

    return Plugin()


@pytest.fixture
def blame_file(tmp_path):
    path = tmp_path / "model.blame"
    path.write_text("{not json")
    return path


def test_a_bug_of_ours_inside_a_loader_is_a_bug_report(blame_file, tmp_path, capsys):
    """json.dumps failing on our own data raises inside json, but it is not the file's fault."""
    from tfjsconv.plugin_manager import get_plugin_manager

    get_plugin_manager().register(_loader_plugin(lambda path: json.dumps({"x": object()})), name="buggy")
    assert main(["convert", str(blame_file), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "unexpected error: TypeError" in err and "corrupt" not in err
    assert not (tmp_path / "out").exists()


def test_a_parser_rejecting_the_file_is_the_files_fault(blame_file, tmp_path, capsys):
    from tfjsconv.plugin_manager import get_plugin_manager

    get_plugin_manager().register(_loader_plugin(lambda path: json.loads(path.read_text())), name="parsing")
    assert main(["convert", str(blame_file), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot be read as blame_test: json failed with JSONDecodeError" in err


@pytest.mark.parametrize("decode, library", [
    (lambda: __import__("struct").unpack("<Q", b"short"), "struct"),
    (lambda: __import__("zlib").decompress(b"not deflate data"), "zlib"),
])
def test_c_decoders_rejecting_bytes_are_the_inputs_fault(decode, library):
    from tfjsconv.input_guard import blamed_library

    with pytest.raises(Exception) as err:
        decode()
    assert blamed_library(err.value) == library


def test_our_own_struct_pack_failing_stays_a_bug():
    import struct

    from tfjsconv.input_guard import blamed_library

    with pytest.raises(struct.error) as err:
        struct.pack("<B", 300)
    assert blamed_library(err.value) is None


def test_a_broken_pipe_exits_quietly():
    """`tfjsconv ops | head`: the reader stopped reading; no 'cannot access: Broken pipe'."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "tfjsconv", "ops", "--json"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_bad_tolerance_is_a_usage_error_before_any_framework_loads(tmp_path):
    code = ("import sys; from tfjsconv.cli import main; "
            f"rc = main(['verify', '--rtol', '-1', 'model.h5', {str(tmp_path)!r}]); "
            "print(rc, sorted(m for m in ('tensorflow', 'keras', 'onnx', 'torch', 'h5py') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split("\n")[0] == "2 []", done.stdout + done.stderr
    assert "--rtol: expected a finite number >= 0, got '-1'" in done.stderr


@pytest.mark.parametrize("skip, message", [("cse,no_such_pass", "--skip_passes names unknown pass(es): no_such_pass"),
                                           ("tf_op_rewrites", "cannot skip required pass(es): tf_op_rewrites")])
def test_bad_skip_passes_is_a_usage_error_before_any_framework_loads(tmp_path, skip, message):
    model = tmp_path / "saved_model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"")  # never read: the flag is refused first
    code = ("import sys; from tfjsconv.cli import main; "
            f"rc = main(['convert', {str(model)!r}, {str(tmp_path / 'out')!r}, '--skip_passes', {skip!r}]); "
            "print(rc, sorted(m for m in ('tensorflow', 'keras', 'onnx', 'torch', 'h5py') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split("\n")[0] == "2 []", done.stdout + done.stderr
    assert message in done.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["bench", "--runs", "0", "x"], "--runs: expected a whole number >= 1"),
    (["verify", "--atol", "nan", "x"], "--atol: expected a finite number >= 0"),
    (["verify", "--trace_limit", "0", "a", "b"], "--trace_limit: expected a whole number >= 1"),
])
def test_flag_values_are_checked_while_parsing(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_misspelt_command_is_named_with_the_closest_one(tmp_path, capsys):
    assert main(["covert", str(tmp_path / "a.keras"), str(tmp_path / "out")]) == 2
    assert "unknown command 'covert'; did you mean 'convert'?" in capsys.readouterr().err


def test_bench_of_a_model_file_says_it_is_not_a_model_folder(tmp_path, capsys):
    source = tmp_path / "model.keras"
    source.write_bytes(b"PK")
    assert main(["bench", str(source)]) == 2
    err = capsys.readouterr().err
    assert f"{source} is a file, not a TF.js model folder" in err and "`.`" not in err


def test_os_errors_other_than_files_are_not_called_file_errors():
    import errno

    from tfjsconv.cli import _os_error_message

    assert "cannot access /x/y" in _os_error_message(FileNotFoundError(errno.ENOENT, "No such file", "/x/y"))
    assert "disk is full" in _os_error_message(OSError(errno.ENOSPC, "No space left on device"))
    assert "cannot access" not in _os_error_message(OSError(errno.ECONNRESET, "Connection reset"))


def test_tensorflow_start_up_lines_stay_quiet_and_a_crash_still_reports():
    """TF 2.21 logs oneDNN/cudart/cuInit lines to fd 2 whatever TF_CPP_MIN_LOG_LEVEL says: the CLI filters
    them in a forked process, which still forwards what a crashing run wrote last."""
    code = ("import os, sys; from tfjsconv.cli.quiet_stderr import filtered_stderr\n"
            "with filtered_stderr():\n"
            "    import tensorflow as tf; tf.constant(1.0) + 1\n"
            "    print('a real warning', file=sys.stderr); sys.stderr.write('50%\\r'); sys.stderr.flush()\n"
            "    os.write(2, b'F0000 a fatal check\\n'); os.abort()\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=300)
    assert done.returncode != 0
    assert done.stderr == b"a real warning\n50%\rF0000 a fatal check\n"


def test_the_stderr_filter_holds_back_only_lines_that_can_be_noise():
    from tfjsconv.cli.quiet_stderr import NOISE, _maybe_noise

    assert NOISE.match(b"I0000 00:00:1796307310.751205   21281 port.cc:153] oneDNN custom operations are on.")
    assert NOISE.match(b"E0000 00:00:1796307324.130471   21281 cuda_platform.cc:52] failed call to cuInit: x")
    assert not NOISE.match(b"error: model.h5 cannot be read")
    assert _maybe_noise(b"I00") and not _maybe_noise(b"converting [===")


def test_verify_of_two_models_with_other_inputs_says_so(tmp_path, capsys):
    """`verify net.onnx other_dir`: not "no value given for ONNX input(s) x", but that the inputs differ."""
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    from onnx_models import onnx_model

    def relu(name, input_name):
        return onnx_model(tmp_path / f"{name}.onnx", [helper.make_node("Relu", [input_name], ["out"])],
                          {input_name: (TensorProto.FLOAT, [2, 3])}, ["out"])

    source, other = relu("source", "x"), relu("other", "features")
    assert main(["convert", str(other), str(tmp_path / "other_tfjs")]) == 0
    capsys.readouterr()
    assert main(["verify", str(source), str(tmp_path / "other_tfjs")]) == 2
    err = capsys.readouterr().err
    assert "do not take the same inputs: the source takes x, the TF.js model takes features" in err
