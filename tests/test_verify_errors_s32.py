"""`tfjsconv verify` never ends in a traceback (session 32, h5): a source its own framework cannot run on the inputs
fed, and hostile or odd ``--inputs`` (missing, extra, misnamed, wrong dtype or rank, 0-d, text, complex, pickled,
a huge declared shape) or model folders (no shards, a truncated shard, a malformed model.json) each end in one line
``error: ...`` and exit 2, before any framework or TF.js runs where the TF.js model's own signature tells."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.node


def _verify(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", "verify", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def _clean_refusal(out: subprocess.CompletedProcess, *phrases: str) -> None:
    """Exit 2, one ``error:`` line naming each phrase, no traceback and no bug report."""
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "unexpected error" not in out.stderr, out.stderr
    error = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, out.stderr
    for phrase in phrases:
        assert phrase in error[0], error[0]


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory) -> Path:
    """A Keras 3 model of a float input ``x`` (None, 4) and an int32 input ``ids`` (None, 3), saved as ``.keras``
    and converted (graph model), with good inputs and Keras's own outputs on them."""
    keras = pytest.importorskip("keras")
    import tfjsconv

    folder = tmp_path_factory.mktemp("verify errors")
    x = keras.Input((4,), name="x")
    ids = keras.Input((3,), name="ids", dtype="int32")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(10, 2, name="emb")(ids))
    model = keras.Model([x, ids], keras.layers.Dense(2, name="d")(keras.layers.Concatenate()([x, embedded])))
    model.save(folder / "m.keras")
    tfjsconv.convert(folder / "m.keras", folder / "web", output_format="tfjs_graph_model")
    rng = np.random.default_rng(0)
    good = {"x": rng.standard_normal((2, 4)).astype(np.float32), "ids": rng.integers(0, 10, (2, 3)).astype(np.int32)}
    np.savez(folder / "good.npz", **good)
    np.savez(folder / "expected.npz", d=np.asarray(model([good["x"], good["ids"]])))
    return folder


def _feed(folder: Path, name: str, **arrays: np.ndarray) -> Path:
    path = folder / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def _good(folder: Path) -> dict[str, np.ndarray]:
    return dict(np.load(folder / "good.npz"))


BAD_FEEDS = {
    "missing": (lambda g: {"x": g["x"]}, ["lacks ids"]),
    "extra": (lambda g: {**g, "z": g["x"]}, ["the feed has z, which it does not take"]),
    "misnamed": (lambda g: {"x": g["x"], "idz": g["ids"]}, ["has idz", "lacks ids"]),
    "float_into_int": (lambda g: {"x": g["x"], "ids": g["ids"] + np.float32(0.5)},
                       ["input 'ids' is float", "the model takes int32"]),
    "rank_up": (lambda g: {"x": g["x"][None], "ids": g["ids"]}, ["input 'x' has shape [1, 2, 4]", "[-1, 4]"]),
    "rank_down": (lambda g: {"x": g["x"][0], "ids": g["ids"]}, ["input 'x' has shape [4]"]),
    "zero_d": (lambda g: {"x": np.float32(1.0), "ids": g["ids"]}, ["input 'x' has shape []"]),
    "fixed_size": (lambda g: {"x": np.ones((2, 5), np.float32), "ids": g["ids"]}, ["has shape [2, 5]"]),
    "text": (lambda g: {"x": np.array([["a"] * 4] * 2), "ids": g["ids"]}, ["text into a numeric input"]),
    "complex": (lambda g: {"x": g["x"].astype(np.complex64), "ids": g["ids"]}, ["complex values into a real input"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FEEDS))
def test_a_bad_feed_is_one_line_against_expected(two_inputs, case):
    make, phrases = BAD_FEEDS[case]
    feed = _feed(two_inputs, case, **make(_good(two_inputs)))
    _clean_refusal(_verify(two_inputs / "web", "--inputs", feed, "--expected", two_inputs / "expected.npz"), *phrases)


@pytest.mark.parametrize("case", ["extra", "float_into_int", "rank_up", "zero_d", "text", "complex"])
def test_a_bad_feed_is_one_line_against_the_source(two_inputs, case):
    """Checked before Keras runs: Keras would fail in its own words (a bug report), cast a fraction silently, or
    discard an imaginary part while TF.js refuses complex."""
    make, phrases = BAD_FEEDS[case]
    feed = _feed(two_inputs, case, **make(_good(two_inputs)))
    _clean_refusal(_verify(two_inputs / "m.keras", two_inputs / "web", "--inputs", feed), *phrases)


def test_keras3_that_cannot_run_the_inputs_is_named(two_inputs):
    """Sizes only Keras can check (the two batches differ): Keras 3's own message, one line, exit 2."""
    feed = _feed(two_inputs, "batches", x=np.ones((3, 4), np.float32), ids=_good(two_inputs)["ids"])
    _clean_refusal(_verify(two_inputs / "m.keras", two_inputs / "web", "--inputs", feed),
                   "Keras 3 cannot run the model on these inputs", "ConcatOp")


def test_tf_keras_that_cannot_run_the_inputs_is_named(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    x = tf_keras.Input((4,), name="x")
    y = tf_keras.Input((3,), name="y")
    model = tf_keras.Model([x, y], tf_keras.layers.Concatenate(name="c")([x, y]))
    model.save(tmp_path / "m.h5")
    import tfjsconv

    tfjsconv.convert(tmp_path / "m.h5", tmp_path / "web", output_format="tfjs_graph_model")
    feed = _feed(tmp_path, "batches", x=np.ones((3, 4), np.float32), y=np.ones((2, 3), np.float32))
    _clean_refusal(_verify(tmp_path / "m.h5", tmp_path / "web", "--inputs", feed),
                   "tf_keras cannot run the model on these inputs", "ConcatOp")


def test_torch_that_cannot_run_the_inputs_is_named(tmp_path):
    """An index past the embedding table: torch raises IndexError, named as torch's refusal."""
    torch = pytest.importorskip("torch")
    import tfjsconv

    class Embed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = torch.nn.Embedding(10, 2)

        def forward(self, ids):
            return self.table(ids).sum(1)

    program = torch.export.export(Embed().eval(), (torch.zeros((2, 3), dtype=torch.int64),))
    program.example_inputs = None  # no pickled sample inputs: the .pt2 loads without --allow_unsafe_deserialization
    torch.export.save(program, tmp_path / "m.pt2")
    tfjsconv.convert(tmp_path / "m.pt2", tmp_path / "web")
    name = next(iter(json.loads((tmp_path / "web" / "model.json").read_text())["signature"]["inputs"]))
    feed = _feed(tmp_path, "ids", **{name.split(":")[0]: np.full((2, 3), 15, np.int32)})
    _clean_refusal(_verify(tmp_path / "m.pt2", tmp_path / "web", "--inputs", feed),
                   "torch cannot run the model on these inputs", "index out of range")


def test_a_pickled_npz_is_never_unpickled(two_inputs, tmp_path):
    marker = tmp_path / "unpickled"
    np.savez(tmp_path / "pickled.npz", x=np.array([_Touch(str(marker))], dtype=object))
    _clean_refusal(_verify(two_inputs / "web", "--inputs", tmp_path / "pickled.npz", "--expected",
                           two_inputs / "expected.npz"), "allow_pickle=False")
    assert not marker.exists()


class _Touch:
    """Unpickling it writes a file: proof that something was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path(self.path).touch, ())


def test_a_huge_declared_shape_is_refused_before_loading(two_inputs, tmp_path):
    """A header declaring 16 TiB: refused from the header (numpy would raise MemoryError, a bug report)."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 4), }" % 2**40
    header += " " * (118 - len(header)) + "\n"
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        archive.writestr("x.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    _clean_refusal(_verify(two_inputs / "web", "--inputs", tmp_path / "huge.npz", "--expected",
                           two_inputs / "expected.npz"), "declares 17592186044416 bytes")


def _copy_model(two_inputs: Path, tmp_path: Path) -> Path:
    web = tmp_path / "web"
    shutil.copytree(two_inputs / "web", web)
    return web


def test_a_model_without_shards(two_inputs, tmp_path):
    web = _copy_model(two_inputs, tmp_path)
    for shard in web.glob("*.bin"):
        shard.unlink()
    _clean_refusal(_verify(web, "--inputs", two_inputs / "good.npz", "--expected", two_inputs / "expected.npz"),
                   "is missing from")


def test_a_truncated_shard(two_inputs, tmp_path):
    web = _copy_model(two_inputs, tmp_path)
    shard = next(web.glob("*.bin"))
    shard.write_bytes(shard.read_bytes()[:50])
    _clean_refusal(_verify(web, "--inputs", two_inputs / "good.npz", "--expected", two_inputs / "expected.npz"),
                   "hold 50")


@pytest.mark.parametrize("text", ["[]", '{"format": "graph-model", "modelTopology": {}, "signature": '
                                        '{"inputs": {"x": {"dtype": "DT_FLOAT", "tensorShape": {"dim": "oops"}}}}}'])
def test_a_malformed_model_json(two_inputs, tmp_path, text):
    web = _copy_model(two_inputs, tmp_path)
    (web / "model.json").write_text(text)
    _clean_refusal(_verify(web, "--inputs", two_inputs / "good.npz", "--expected", two_inputs / "expected.npz"),
                   "does not describe its inputs")


def test_a_cpu_fault_on_an_empty_batch_is_named(tmp_path):
    """tf_keras stacked GRU fed a batch of 0: TF.js 4.22's cpu backend throws "vals.subarray is not a function" (its
    empty Pack result is a plain array, then Unpack slices it); wasm gives TF's empty output. verify names the cpu
    fault (docs/backends.md, "Empty tensors") instead of leaving a bare JavaScript message."""
    tf_keras = pytest.importorskip("tf_keras")
    import tfjsconv

    x = tf_keras.Input((None, 3), name="x")
    layers = tf_keras.layers
    tf_keras.Model(x, layers.GRU(4)(layers.GRU(5, return_sequences=True)(x))).save(tmp_path / "gru.h5")
    tfjsconv.convert(tmp_path / "gru.h5", tmp_path / "web", output_format="tfjs_graph_model")
    feed = _feed(tmp_path, "empty", x=np.zeros((0, 3, 3), np.float32))
    out = _verify(tmp_path / "gru.h5", tmp_path / "web", "--inputs", feed)
    assert out.returncode == 3 and "Traceback" not in out.stderr, out.stdout + out.stderr
    crash = [line for line in out.stdout.splitlines() if line.startswith("CRASH:")]
    assert len(crash) == 1 and "vals.subarray is not a function" in crash[0], out.stdout
    assert "a TF.js cpu fault, not a wrong conversion" in crash[0] and "wasm" not in crash[0].split("(")[0]
    rows = [cells for cells in map(str.split, out.stdout.splitlines()) if len(cells) > 2 and cells[1] == "wasm"
            and cells[-1] in ("PASS", "FAIL", "CRASH")]
    assert [row[-1] for row in rows] == ["PASS"], out.stdout
