"""Atomic output: a failed or interrupted conversion leaves the previous output untouched and no temp folder.

Three ways to fail in the middle of writing: an exception from a weight, a full disk (ENOSPC from
the shard writer or from model.json, simulated in-process), and SIGINT/SIGTERM delivered to a real
``tfjsconv convert`` process while it writes (a test plugin's weight blocks until signalled).
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from tfjsconv.cli import main
from tfjsconv.dtypes import DType
from tfjsconv.errors import OutputError
from tfjsconv.ir import Graph
from tfjsconv.writers.atomic import atomic_output_dir

from graphs import dense_relu


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".tfjsconv-"))


@pytest.fixture
def previous(tmp_path) -> tuple[Path, dict[str, bytes]]:
    """An existing, complete output folder that a failed run must not touch."""
    out = tmp_path / "web_model"
    tfjsconv.convert(dense_relu(seed=1), out)
    return out, snapshot(out)


class FailingWeight:
    """A lazy weight that raises when the writer loads it (after earlier weights were written)."""

    def __init__(self, shape: tuple[int, ...], error: BaseException) -> None:
        self.shape, self.dtype, self.error = shape, np.dtype("float32"), error

    def load(self) -> np.ndarray:
        raise self.error


def two_layer_graph(second: object) -> Graph:
    g = Graph("two_layers")
    x = g.placeholder("x", DType.FLOAT32, (None, 64))
    w1 = g.const(np.ones((64, 64), np.float32), name="w1")
    w2 = g.const(second, name="w2")
    attrs = {"T": DType.FLOAT32, "transpose_a": False, "transpose_b": False}
    h = g.add_op("MatMul", [x, w1], attrs, name="mm1", dtype=DType.FLOAT32, shape=(None, 64))
    g.set_output("y", g.add_op("MatMul", [h, w2], attrs, name="mm2", dtype=DType.FLOAT32, shape=(None, 64)))
    return g


def test_exception_mid_write_keeps_the_previous_output(previous):
    out, before = previous
    graph = two_layer_graph(FailingWeight((64, 64), RuntimeError("weight source went away")))
    with pytest.raises(RuntimeError, match="went away"):
        tfjsconv.convert(graph, out, overwrite=True, weight_shard_size_bytes=4096)
    assert snapshot(out) == before
    assert leftovers(out.parent) == []


def test_exception_mid_write_into_new_nested_folder_leaves_nothing(tmp_path):
    target = tmp_path / "a" / "b" / "web_model"
    with pytest.raises(RuntimeError):
        tfjsconv.convert(two_layer_graph(FailingWeight((64, 64), RuntimeError("boom"))), target)
    assert list(tmp_path.iterdir()) == []  # not even the parents it created


@pytest.mark.parametrize("where", ["shards", "model.json"])
def test_full_disk_is_a_clear_output_error(previous, monkeypatch, where):
    out, before = previous
    if where == "shards":
        from tfjsconv.weights import writer

        real = writer._GroupShards.write
        calls = {"n": 0}

        def write(self, data):
            calls["n"] += 1
            if calls["n"] > 1:  # the first weight lands, then the disk is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(self, data)

        monkeypatch.setattr(writer._GroupShards, "write", write)
    else:
        from tfjsconv.writers import model_json

        def full(doc, folder):
            (folder / "model.json").write_bytes(b'{"format": "gra')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(model_json, "write_model_json", full)
    graph = dense_relu(seed=2)
    with pytest.raises(OutputError, match="No space left on device") as err:
        tfjsconv.convert(graph, out, overwrite=True, weight_shard_size_bytes=64)
    assert "nothing was changed" in str(err.value)
    assert snapshot(out) == before and leftovers(out.parent) == []


def test_full_disk_via_the_cli_exits_2(tmp_path, monkeypatch, capsys):
    from tfjsconv.weights import writer

    onnx = pytest.importorskip("onnx")
    from fuzz import seeds

    model = seeds.save_onnx(seeds.onnx_mlp(), tmp_path / "mlp.onnx")
    out = tmp_path / "out"
    assert main(["convert", str(model), str(out), "--quiet"]) == 0
    before = snapshot(out)

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writer._GroupShards, "write", write)
    capsys.readouterr()
    assert main(["convert", str(model), str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "No space left on device" in err and "Traceback" not in err, err
    assert snapshot(out) == before and leftovers(tmp_path) == []
    del onnx


def _model_files(folder: Path, shard: str) -> None:
    (folder / shard).write_bytes(b"\0" * 8)
    (folder / "model.json").write_text(json.dumps({"weightsManifest": [{"paths": [shard], "weights": []}]}))


def test_atomic_output_dir_replaces_in_one_step(tmp_path):
    target = tmp_path / "model"
    with atomic_output_dir(target) as staging:
        _model_files(staging, "one.bin")
    with atomic_output_dir(target, overwrite=True) as staging:
        assert not (staging / "one.bin").exists()  # a fresh, empty folder; the old output is still in place
        assert (target / "one.bin").exists()
        _model_files(staging, "two.bin")
    assert sorted(p.name for p in target.iterdir()) == ["model.json", "two.bin"]
    assert oct(target.stat().st_mode & 0o777) == "0o755"
    assert leftovers(tmp_path) == []


def test_atomic_output_dir_refuses_existing_output_without_overwrite(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(OutputError, match="--overwrite"):
        with atomic_output_dir(target):
            pass
    assert (target / "keep.txt").read_text() == "x"


# -- signals delivered to a real process ------------------------------------------------------------
SLOW_PLUGIN = textwrap.dedent('''
    """A test plugin: a model whose second weight blocks while the first one is already on disk."""
    import sys
    import time
    from pathlib import Path

    import numpy as np

    from tfjsconv.cli import main
    from tfjsconv.dtypes import DType
    from tfjsconv.frontend import Frontend
    from tfjsconv.hookspecs import hookimpl
    from tfjsconv.ir import Graph
    from tfjsconv.plugin_manager import get_plugin_manager

    READY = Path(sys.argv[1])


    class SlowWeight:
        def __init__(self, shape, block):
            self.shape, self.dtype, self.block = shape, np.dtype("float32"), block

        def load(self):
            if self.block:
                READY.write_text("writing")
                time.sleep(120)
            return np.ones(self.shape, np.float32)


    class SlowFrontend(Frontend):
        name = "slow_test"
        output_formats = ("tfjs_graph_model",)

        def detect(self, source):
            return str(source).endswith(".slow")

        def load(self, source, options):
            g = Graph("slow")
            x = g.placeholder("x", DType.FLOAT32, (None, 256))
            attrs = {"T": DType.FLOAT32, "transpose_a": False, "transpose_b": False}
            h = g.add_op("MatMul", [x, g.const(SlowWeight((256, 256), False), name="w1")], attrs, name="mm1",
                         dtype=DType.FLOAT32, shape=(None, 256))
            y = g.add_op("MatMul", [h, g.const(SlowWeight((256, 256), True), name="w2")], attrs, name="mm2",
                         dtype=DType.FLOAT32, shape=(None, 256))
            g.set_output("y", y)
            return g


    class Plugin:
        @hookimpl
        def register_frontends(self, register):
            register(SlowFrontend())


    get_plugin_manager().register(Plugin(), name="slow-test")
    sys.exit(main(sys.argv[2:]))
''')


def _default_sigint() -> None:
    """In the child: SIGINT as an interactive shell leaves it, also when pytest runs as a background job
    (which ignores SIGINT, and Python then keeps ignoring it instead of raising KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 130)], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_write_keeps_the_previous_output(previous, tmp_path, sig, code):
    out, before = previous
    script = tmp_path / "slow_plugin.py"
    script.write_text(SLOW_PLUGIN)
    source = tmp_path / "model.slow"
    source.write_text("slow")
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, str(script), str(ready), "convert", str(source), str(out),
                             "--overwrite", "--weight_shard_size_bytes=65536"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the conversion never reached the slow weight"
            time.sleep(0.05)
        staging = [p for p in out.parent.iterdir() if p.name.startswith(".tfjsconv-staging-")]
        assert len(staging) == 1 and any(staging[0].iterdir()), "expected shards of w1 in the staging folder"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "interrupted; nothing was written" in err and "Traceback" not in err, err
    assert snapshot(out) == before
    assert leftovers(out.parent) == []


# -- the output never touches the input or files tfjsconv did not write (issue 21) -------------------
def test_overwrite_through_a_symlink_replaces_a_previous_output_only(previous, tmp_path):
    out, _ = previous
    link = tmp_path / "link"
    os.symlink(out, link)
    tfjsconv.convert(dense_relu(seed=3), link, overwrite=True)
    assert link.is_symlink() and (out / "model.json").is_file() and leftovers(tmp_path) == []
    (out / "notes.txt").write_text("mine")  # now the folder holds a file tfjsconv did not write
    before = snapshot(out)
    with pytest.raises(OutputError, match="not part of the model: notes.txt"):
        tfjsconv.convert(dense_relu(seed=4), link, overwrite=True)
    assert snapshot(out) == before


def test_overwrite_refuses_a_model_json_listing_paths_outside(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.json").write_text(json.dumps({"weightsManifest": [{"paths": ["../secret.bin"], "weights": []}]}))
    with pytest.raises(OutputError, match="outside the folder"):
        tfjsconv.convert(dense_relu(seed=1), out, overwrite=True)


def test_dangling_symlink_output_is_refused(tmp_path):
    os.symlink(tmp_path / "nowhere" / "model", tmp_path / "out")
    with pytest.raises(OutputError, match="does not exist"):
        tfjsconv.convert(dense_relu(seed=1), tmp_path / "out")
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("layout", ["same", "output_holds_input", "output_inside_input", "symlink_to_input"])
def test_output_overlapping_the_input_is_refused_before_loading(tmp_path, layout):
    onnx = pytest.importorskip("onnx")
    from fuzz import seeds

    folder = tmp_path / "models"
    model = seeds.save_onnx(seeds.onnx_mlp(), (folder.mkdir() or folder) / "mlp.onnx")
    out = {"same": model, "output_holds_input": folder, "output_inside_input": model / "web",
           "symlink_to_input": tmp_path / "link"}[layout]
    if layout == "symlink_to_input":
        os.symlink(folder, out)
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match="input"):
        tfjsconv.convert(model, out, overwrite=True)
    assert snapshot(tmp_path) == before and model.is_file()
    del onnx
