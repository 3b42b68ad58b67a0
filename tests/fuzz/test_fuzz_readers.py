"""Fuzzing every reader: mutated Keras .h5 / .keras files, ONNX protobufs and TF.js model folders.

Each harness mutates a small valid model (bytes, or structure-aware JSON/protobuf fields), converts
it, and accepts only success or a TfjsconvError with no output folder (see ``harness.py``).
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tfjsconv
from canary import Canary

from . import seeds
from .harness import expect_clean, fuzz_settings, mutated_bytes, mutated_json, scratch

h5py = pytest.importorskip("h5py")
onnx = pytest.importorskip("onnx")

EXAMPLES = 80


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("keras")
    pytest.importorskip("tf_keras")
    folder = tmp_path_factory.mktemp("fuzz_seeds")
    files = seeds.keras_files(folder, Canary(folder / "canary.txt"))
    files["mlp.onnx"] = seeds.save_onnx(seeds.onnx_mlp(), folder / "mlp.onnx")
    files["graph_model"] = seeds.tfjs_model(folder / "graph_model", shard_size=200)
    files["layers_model"] = folder / "layers_model"
    tfjsconv.convert(files["k3.keras"], files["layers_model"], weight_shard_size_bytes=40)
    return files


def _converter(input_format: str):
    def run(source: Path, out: Path) -> None:
        tfjsconv.convert(source, out, input_format=input_format)
    return run


def _folder_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- Keras .h5 ----------------------------------------------------------------------------------------
def test_h5_bytes(seed_files):
    seed = seed_files["tk.h5"].read_bytes()

    @fuzz_settings(EXAMPLES)
    @given(mutated_bytes(seed))
    def run(data):
        expect_clean("h5", {"model.h5": data}, _converter("keras"))
    run()


def test_h5_model_config(seed_files):
    with h5py.File(seed_files["tk.h5"], "r") as f:
        config = json.loads(f.attrs["model_config"])
    seed = seed_files["tk.h5"].read_bytes()

    @fuzz_settings(EXAMPLES)
    @given(mutated_json(config))
    def run(doc):
        with scratch() as folder:  # the mutated file is built first, so a crash saves the file itself
            path = folder / "model.h5"
            path.write_bytes(seed)
            with h5py.File(path, "r+") as f:
                f.attrs["model_config"] = json.dumps(doc)
            data = path.read_bytes()
        expect_clean("h5", {"model.h5": data}, _converter("keras"))
    run()


# -- Keras 3 .keras ------------------------------------------------------------------------------------
def test_keras_zip_bytes(seed_files):
    seed = seed_files["k3.keras"].read_bytes()

    @fuzz_settings(EXAMPLES)
    @given(mutated_bytes(seed))
    def run(data):
        expect_clean("keras", {"model.keras": data}, _converter("keras_keras"))
    run()


def test_keras_config_json(seed_files):
    with zipfile.ZipFile(seed_files["k3.keras"]) as z:
        members = {info.filename: z.read(info) for info in z.infolist()}
    config = json.loads(members["config.json"])

    @fuzz_settings(EXAMPLES)
    @given(mutated_json(config), st.booleans())
    def run(doc, with_metadata):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            for name, data in members.items():
                if name == "metadata.json" and not with_metadata:
                    continue
                z.writestr(name, json.dumps(doc) if name == "config.json" else data)
        expect_clean("keras", {"model.keras": buffer.getvalue()}, _converter("keras_keras"))
    run()


# -- ONNX ---------------------------------------------------------------------------------------------
def test_onnx_bytes(seed_files):
    seed = seed_files["mlp.onnx"].read_bytes()

    @fuzz_settings(EXAMPLES)
    @given(mutated_bytes(seed))
    def run(data):
        expect_clean("onnx", {"model.onnx": data}, _converter("onnx"))
    run()


def test_onnx_fields(seed_files):
    """Structure-aware: the ModelProto as JSON, fields mutated, parsed back (what the parser accepts)."""
    from google.protobuf import json_format

    model = onnx.load(str(seed_files["mlp.onnx"]))
    doc = json_format.MessageToDict(model)

    @fuzz_settings(EXAMPLES)
    @given(mutated_json(doc))
    def run(mutated):
        try:
            proto = json_format.ParseDict(mutated, onnx.ModelProto())
        except (json_format.ParseError, ValueError, TypeError, AttributeError):
            return  # not a ModelProto any more; byte mutations cover unparsable files
        expect_clean("onnx", {"model.onnx": proto.SerializeToString()}, _converter("onnx"))
    run()


# -- TF.js model folders ------------------------------------------------------------------------------
def _read_tfjs(source: Path, out: Path) -> None:
    from tfjsconv.weights import load_manifest_weights, read_model_json

    doc = read_model_json(source.parent)
    load_manifest_weights(doc.get("weightsManifest", []), source.parent)


def test_tfjs_graph_model_json(seed_files):
    files = _folder_files(seed_files["graph_model"])
    doc = json.loads(files["model.json"])

    @fuzz_settings(EXAMPLES)
    @given(mutated_json(doc))
    def run(mutated):
        expect_clean("tfjs", {**files, "model.json": json.dumps(mutated).encode()}, _read_tfjs, entry="model.json")
    run()


def test_tfjs_layers_model_json(seed_files):
    files = _folder_files(seed_files["layers_model"])
    doc = json.loads(files["model.json"])

    @fuzz_settings(EXAMPLES)
    @given(mutated_json(doc))
    def run(mutated):
        expect_clean("tfjs", {**files, "model.json": json.dumps(mutated).encode()},
                     _converter("tfjs_layers_model"), entry="model.json")
    run()


def test_tfjs_model_bytes(seed_files):
    files = _folder_files(seed_files["layers_model"])
    names = sorted(files)

    @fuzz_settings(EXAMPLES)
    @given(st.sampled_from(names), st.data())
    def run(name, data):
        mutated = {**files, name: data.draw(mutated_bytes(files[name]))}
        expect_clean("tfjs", mutated, _converter("tfjs_layers_model"), entry="model.json")
    run()
