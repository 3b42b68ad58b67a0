"""A tf_keras lookup whose ``vocabulary`` is a path on the machine: never read unless the user vouches for it.

Keras reads such a path while building the layer, so a hostile ``.h5`` naming ``/etc/passwd`` would leak its
lines into model.json. Both paths (the h5py lowering and ``--loader=tensorflow``) refuse it by default without
opening the file (an audit hook in the converting process watches every ``open``); with
``--allow_unsafe_deserialization`` the lowering reads the file as Keras does, and TF.js (cpu, wasm) matches
Keras's own ``model(x)``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
tf_keras = pytest.importorskip("tf_keras")

from test_keras_lowering import RTOL  # noqa: E402

CANARY = "canary-secret-4711"
WORDS = np.array([["alpha", CANARY, "zulu", "\u00e9t\u00e9"], ["beta", "nope", "alpha", ""]], dtype=object)

#: Converts argv[2] (options as JSON in argv[3]) with TensorFlow, Keras and tf_keras poisoned unless the
#: options name the TensorFlow loader; prints whether argv[1] was ever opened, then the outcome.
CONVERT = """
import json, sys
vocab, model, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
opened = []
sys.addaudithook(lambda event, args: opened.append(1) if event == "open" and str(args[0]) == vocab else None)
if options.get("loader") != "tensorflow":
    for name in ("tensorflow", "keras", "tf_keras"):
        sys.modules[name] = None
import tfjsconv, tfjsconv.errors
try:
    tfjsconv.convert(model, model + ".out", output_format="tfjs_graph_model", **options)
    outcome = "converted"
except tfjsconv.errors.TfjsconvError as err:
    outcome = type(err).__name__ + ": " + str(err) + " | " + str(err.hint)
print(json.dumps({"opened": bool(opened), "outcome": outcome}))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vocab_files")
    vocab = folder / "vocab.txt"
    vocab.write_text(f"alpha\nbeta\n{CANARY}\n\u00e9t\u00e9\n", encoding="utf-8")
    L = tf_keras.layers
    words = tf_keras.Input((4,), dtype="string", name="words")
    ids = L.StringLookup(vocabulary=str(vocab), name="from_file")(words)
    hot = L.StringLookup(vocabulary=str(vocab), output_mode="multi_hot", name="hot_from_file")(words)
    model = tf_keras.Model(words, [ids, hot])
    outputs = [np.asarray(o) for o in model(WORDS)]
    path = folder / "lookup.h5"
    model.save(path)
    return vocab, path, outputs


def _convert(vocab: Path, path: Path, **options) -> dict:
    out = subprocess.run([sys.executable, "-c", CONVERT, str(vocab), str(path), json.dumps(options)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("loader", ["auto", "tensorflow"])
def test_a_vocabulary_path_is_refused_by_default_without_opening_it(saved, loader):
    vocab, path, _ = saved
    result = _convert(vocab, path, loader=loader)
    assert not result["opened"], result
    outcome = result["outcome"]
    assert outcome.startswith("UnsafeInputError: "), outcome
    for name in ("'from_file' (StringLookup)", "'hot_from_file' (StringLookup)", repr(str(vocab)),
                 "--allow_unsafe_deserialization"):
        assert name in outcome, outcome
    assert not Path(f"{path}.out").exists()


@pytest.mark.node
def test_with_permission_the_lowering_reads_it_as_keras_does(saved, tfjs_runtime):
    vocab, path, outputs = saved
    result = _convert(vocab, path, allow_unsafe_deserialization=True)  # TensorFlow and Keras poisoned
    assert result == {"opened": True, "outcome": "converted"}, result
    from tfjsconv.verify.compare import format_report, verify_model

    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    report = verify_model(out, {"words": WORDS}, dict(zip(names, outputs, strict=True)), backends=("cpu", "wasm"),
                          rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)


def test_files_the_lowering_cannot_read_exactly_stay_gaps(tmp_path):
    from tfjsconv.plugins.keras.vocabulary_files import with_file_vocabularies

    layers = []
    for name, text in (("crlf", b"a\r\nb\n"), ("repeat", b"a\nb\na\n"), ("blank", b"a\n\nb\n"),
                       ("latin1", b"caf\xe9\n"), ("oov_first", b"[UNK]\na\n"), ("fine", b"a\nb")):
        (tmp_path / name).write_bytes(text)
        layers.append({"class_name": "StringLookup", "config": {"name": name, "vocabulary": str(tmp_path / name),
                                                                 "oov_token": "[UNK]", "mask_token": None}})
    layers.append({"class_name": "StringLookup", "config": {"name": "gone", "vocabulary": str(tmp_path / "gone")}})
    config = {"class_name": "Functional", "config": {"name": "m", "layers": layers}}
    read = {layer["config"]["name"]: layer["config"]["vocabulary"]
            for layer in with_file_vocabularies(config)["config"]["layers"]}
    assert read.pop("fine") == ["a", "b"]
    assert all(isinstance(v, str) for v in read.values()), read  # paths kept: the lowering names them as gaps
