"""`inspect`, `convert --verify`/`verify` and `bench` on a small model from every landed frontend.

Issue 7's acceptance: the three commands work on models from every frontend. Each source kind gets
one small model (built once for the module, random weights), which goes through the real CLI
(``tfjsconv.cli.main``, in-process so TensorFlow, Keras and torch are imported once):

* ``inspect`` in text and ``--json``: the frontend is named, the signature and weights are there,
  and a SavedModel shows its tags and signatures (``Frontend.describe``);
* ``convert --verify`` and ``verify SOURCE MODEL_DIR``: TF.js (cpu, wasm) against the source
  framework's own run. In-memory sources (a ``torch.nn.Module``, an IR ``Graph``) cannot be named
  on a command line: they are converted from Python, checked with ``verify_against_source``, and
  the CLI's ``verify MODEL_DIR --inputs --expected`` gets the source's outputs as files;
* ``bench MODEL_DIR --runs 2 --warmup 1`` (text and ``--json``): both Node backends ran.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tfjsconv  # noqa: E402
from tfjsconv.cli import main  # noqa: E402

pytestmark = pytest.mark.node


@dataclasses.dataclass
class Source:
    """One model of one source kind, and what inspect should call it."""

    source: Any  # a path, or an in-memory object (torch Module, IR Graph)
    format: str  # the frontend name inspect reports
    model_type: str  # "graph-model" | "layers-model"
    flags: tuple[str, ...] = ()  # extra CLI flags the source needs (e.g. --input_format)
    convert_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)  # in-memory sources only
    reference: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None  # in-memory sources only

    @property
    def on_disk(self) -> bool:
        return isinstance(self.source, Path)


# -- the models -------------------------------------------------------------------------------------
def _keras3(root: Path, suffix: str) -> Source:
    pytest.importorskip("keras")
    from keras_models import saved_model

    saved = saved_model("mlp", f"keras3{suffix}")
    return Source(saved.path, "keras" if suffix == ".h5" else "keras_keras", "layers-model")


def _keras_saved_model(root: Path) -> Source:
    pytest.importorskip("tf_keras")
    from keras_models import keras_module, saved_model

    saved = saved_model("mlp", "tf_keras.h5")
    folder = root / "keras_saved_model"
    keras_module("tf_keras.h5").models.load_model(saved.path, compile=False).save(folder, save_format="tf")
    return Source(folder, "keras_saved_model", "layers-model", ("--input_format", "keras_saved_model"))


def _tfjs_layers(root: Path) -> Source:
    keras_h5 = _keras3(root, ".h5").source
    folder = root / "tfjs_layers"
    tfjsconv.convert(keras_h5, folder)
    return Source(folder, "tfjs_layers_model", "layers-model", ("--input_format", "tfjs_layers_model"))


def _tf_saved_model(root: Path) -> Source:
    pytest.importorskip("tensorflow")
    import tf_models

    return Source(tf_models.multi_io(root / "tf_saved_model", "tf_keras"), "tf_saved_model", "graph-model")


def _tf_frozen(root: Path) -> Source:
    pytest.importorskip("tensorflow")
    import tf_models

    return Source(tf_models.frozen_graph(root / "frozen.pb"), "tf_frozen_model", "graph-model",
                  ("--output_node_names", "probs"))


def _tf_hub(root: Path) -> Source:
    pytest.importorskip("tensorflow")
    import tf_models

    return Source(tf_models.hub_v1(root / "hub_v1"), "tf_hub", "graph-model")


def _onnx(root: Path) -> Source:
    pytest.importorskip("onnx")
    from graphs import save_tiny_onnx_cnn

    path = root / "tiny.onnx"
    save_tiny_onnx_cnn(path)
    return Source(path, "onnx", "graph-model")


def _torch_cnn() -> tuple[Any, tuple]:
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    from torch_models import plain_cnn

    return plain_cnn()


def _pytorch_module(root: Path) -> Source:
    import torch

    module, args = _torch_cnn()

    def reference(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        (array,) = inputs.values()  # NCHW, as the ONNX export recorded
        with torch.no_grad():
            return {"logits": module(torch.from_numpy(array)).numpy()}

    return Source(module, "pytorch", "graph-model",
                  convert_kwargs={"example_inputs": args, "input_names": ["x"], "output_names": ["logits"]},
                  reference=reference)


def _torch_export(root: Path) -> Source:
    import torch

    module, args = _torch_cnn()
    path = root / "cnn.pt2"
    program = torch.export.export(module, args)
    program.example_inputs = None  # pickle-free, so it converts without --allow_unsafe_deserialization
    torch.export.save(program, str(path))
    return Source(path, "torch_export", "graph-model")


def _ir(root: Path) -> Source:
    from graphs import conv_pool_softmax
    from tf_reference import reference as tf_reference

    graph = conv_pool_softmax()
    return Source(graph, "ir", "graph-model", reference=lambda inputs: tf_reference(graph, inputs))


BUILDERS: dict[str, Callable[[Path], Source]] = {
    "keras_h5": lambda root: _keras3(root, ".h5"),
    "keras_keras": lambda root: _keras3(root, ".keras"),
    "keras_saved_model": _keras_saved_model,
    "tfjs_layers_model": _tfjs_layers,
    "tf_saved_model": _tf_saved_model,
    "tf_frozen_model": _tf_frozen,
    "tf_hub": _tf_hub,
    "onnx": _onnx,
    "pytorch": _pytorch_module,
    "torch_export": _torch_export,
    "ir": _ir,
}
KINDS = list(BUILDERS)
SAVED_MODELS = ("keras_saved_model", "tf_saved_model", "tf_hub")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Callable[[str], tuple[Source, Path]]:
    """kind -> (its source, the converted TF.js folder); each built and converted once, on first use."""
    root = tmp_path_factory.mktemp("frontends")
    cache: dict[str, tuple[Source, Path]] = {}

    def get(kind: str) -> tuple[Source, Path]:
        if kind not in cache:
            source = BUILDERS[kind](root)
            out = root / f"{kind}_tfjs"
            if source.on_disk:
                assert main(["convert", str(source.source), str(out), "--quiet", *source.flags]) == 0
            else:
                tfjsconv.convert(source.source, out, **source.convert_kwargs)
            cache[kind] = (source, out)
        return cache[kind]

    return get


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- inspect ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_inspect(kind, built, capsys):
    source, out = built(kind)
    target = str(source.source) if source.on_disk else str(out)
    code, text, err = run_cli(capsys, "inspect", target, *source.flags)
    assert code == 0, err
    code, js, err = run_cli(capsys, "inspect", target, "--json", *source.flags)
    assert code == 0, err
    doc = json.loads(js)
    assert doc["schema"] == "tfjsconv.inspect/1"
    if kind == "tfjs_layers_model":  # a TF.js folder is inspected as one, with its shards
        assert (doc["kind"], doc["format"], doc["model_type"]) == ("tfjs", "tfjs_layers_model", "layers-model")
        assert doc["shards"] and doc["converted_by"].startswith("tfjsconv")
    elif source.on_disk:
        assert (doc["kind"], doc["format"], doc["model_type"]) == ("source", source.format, source.model_type)
    else:  # in-memory sources are inspected as what they became
        assert (doc["kind"], doc["format"]) == ("tfjs", "tfjs_graph_model")
        assert doc["shards"] and doc["shards"][0]["bytes"] > 0
    assert text.startswith(f"{target}: {doc['format']} ({doc['model_type']})")
    inputs = doc["signature"]["inputs"]
    assert inputs and all(e["name"] for e in inputs), doc["signature"]
    assert doc["signature"]["outputs"], doc["signature"]
    for entry in inputs:
        assert f"  {entry['name']} " in text
    assert doc["weights"]["count"] > 0 and doc["weights"]["bytes"] > 0
    assert f"weights: {doc['weights']['count']} tensors" in text
    histogram = doc["ops"]["histogram"] if doc["model_type"] == "graph-model" else doc["layers"]["histogram"]
    assert histogram and all(count > 0 for count in histogram.values())
    if doc["model_type"] == "graph-model":
        assert doc["ops"]["unsupported"] == {} and "all ops are supported by TF.js" in text
    if kind in SAVED_MODELS:
        _check_saved_model_details(kind, doc, text)


def _check_saved_model_details(kind: str, doc: dict, text: str) -> None:
    (meta_graph,) = doc["details"]["meta_graphs"]
    expected_tags, expected_signature = ([], "default") if kind == "tf_hub" else (["serve"], "serving_default")
    assert meta_graph["tags"] == expected_tags
    signature = meta_graph["signatures"][expected_signature]
    assert signature["inputs"] and signature["outputs"]
    for entry in signature["inputs"].values():
        assert entry["dtype"] == "float32" and entry["shape"][0] is None
    assert "SavedModel meta graphs (1):" in text and f"signature {expected_signature} " in text
    assert f"  tags: {','.join(expected_tags) or '(none)'} (TensorFlow " in text
    for key, entry in signature["inputs"].items():  # one table row per tensor: side, key, dtype, shape, tensor
        assert re.search(rf"input\s+{key}\s+float32\s+\[\?, \d+\]\s+{re.escape(entry['name'])}", text), text


# -- convert --verify and verify --------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_verify(kind, built, capsys, tmp_path, tfjs_runtime):
    source, out = built(kind)
    if source.on_disk:
        code, text, err = run_cli(capsys, "convert", str(source.source), str(tmp_path / "web"), "--verify",
                                  *source.flags)
        assert code == 0, text + err
        assert "\nPASS: " in text and "cpu" in text and "wasm" in text, text
        flags = source.flags if source.flags[:1] == ("--input_format",) else ()  # verify reads outputs from MODEL_DIR
        code, js, err = run_cli(capsys, "verify", str(source.source), str(out), "--json", *flags)
        assert code == 0, js + err
        report = json.loads(js)
    else:
        from tfjsconv.verify.inputs import input_specs, random_inputs
        from tfjsconv.verify.source_check import verify_against_source

        inputs = random_inputs(input_specs(out), seed=3)
        report = verify_against_source(source.source, out, inputs=inputs, quiet=True).to_json()
        assert report["passed"], report
        np.savez(tmp_path / "x.npz", **inputs)
        np.savez(tmp_path / "y.npz", **source.reference(inputs))
        code, js, err = run_cli(capsys, "verify", str(out), "--inputs", str(tmp_path / "x.npz"),
                                "--expected", str(tmp_path / "y.npz"), "--json")
        assert code == 0, js + err
        report = json.loads(js)
    assert report["passed"] and {c["backend"] for c in report["comparisons"]} == {"cpu", "wasm"}
    assert all(c["passed"] and c["max_abs_err"] is not None for c in report["comparisons"])


# -- bench ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_bench(kind, built, capsys, tfjs_runtime):
    _, out = built(kind)
    code, js, err = run_cli(capsys, "bench", str(out), "--runs", "2", "--warmup", "1", "--json")
    assert code == 0, js + err
    report = json.loads(js)
    assert (report["runs"], report["warmup"]) == (2, 1)
    for backend in ("cpu", "wasm"):
        result = report["backends"][backend]
        assert result["ok"], result
        assert result["runs"] == 2 and len(result["times_ms"]) == 2
        assert result["load_ms"] > 0 and result["first_ms"] > 0 and result["min_ms"] <= result["median_ms"]
    if kind in ("keras_h5", "onnx"):  # the text report, for one layers and one graph model
        code, text, err = run_cli(capsys, "bench", str(out), "--runs", "2", "--warmup", "1")
        assert code == 0, text + err
        assert "1 warm-up run(s) discarded, then 2 timed run(s)" in text and "\nfastest: " in text, text
        assert re.search(r"^cpu\s+[\d.]+\s+[\d.]+\s+[\d.]+", text, re.M) and re.search(r"^wasm\s+[\d.]+", text, re.M), text
