"""String tensors and the backend contract: ops TF.js cannot run on strings are refused, per backend.

Most tfjs-core ops check their tensors as numeric and throw "must be numeric tensor, but got string
tensor" at predict time (ReverseV2, Transpose, GatherV2, SelectV2 ...): the contract derives them from
tfjs-core (``source: derived``). wasm's kernels for some ops tfjs-core lets strings through abort or
compare heap bytes (Tile, Equal ...): probed against TF by ``scripts/probe_backends.py``. TensorFlow
(SavedModels, converted by the TF-free reader) and onnxruntime give the expected outputs; the models
run in real TF.js.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from test_savedmodel_tf_free import convert_without_tf  # noqa: E402

from tfjsconv.ops.backends import BackendContract, NodeFacts  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402

pytestmark = pytest.mark.node

TEXT = np.array([[b"a", b"bb", b"c"], [b"dd", b"e", b"ff"]], dtype=object)


def _save(module, path: Path) -> Path:
    import tensorflow as tf

    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def _string_model(path: Path, body) -> Path:
    import tensorflow as tf

    class Strings(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([2, 3], tf.string, name="text")])
        def __call__(self, text):
            return body(tf, text)

    return _save(Strings(), path)


def _refused(tf, text):  # ReverseV2 and Transpose: tfjs-core's reverse/transpose take numeric tensors only
    return {"reversed": tf.reverse(text, [1]), "transposed": tf.transpose(text)}


def _accepted(tf, text):  # Reshape, ConcatV2, Pack, Unpack, unit-stride StridedSlice, ExpandDims, Squeeze
    rows = tf.unstack(text)
    stacked = tf.stack([rows[1], rows[0]], axis=1)
    joined = tf.concat([tf.reshape(text, [3, 2]), stacked], axis=0)
    return {"joined": joined, "tail": tf.squeeze(tf.expand_dims(text[:, 1:], 0), 0)}


def _wasm_only(tf, text):  # Tile throws on wasm, Equal on strings answers heap bytes there; cpu and webgl run both
    return {"tiled": tf.tile(text, [1, 2]), "same": tf.equal(text, tf.constant("e"))}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("string_contract")
    return {name: _string_model(root / name, body)
            for name, body in (("refused", _refused), ("accepted", _accepted), ("wasm_only", _wasm_only))}


def _matches_tf(source: Path, out: Path, backends: tuple[str, ...]) -> None:
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import verify_model

    options = ConvertOptions()
    options.extra["model_dir"] = str(out)
    inputs = {"text": TEXT}
    expected = get_plugin_manager().registry.frontends["tf_saved_model"].reference(source, inputs, options)
    report = verify_model(out, inputs, expected, backends=backends, rtol=0.0, atol=0.0)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == set(backends)


def test_reverse_and_transpose_of_strings_are_refused_naming_node_and_backends(models, tmp_path):
    run = convert_without_tf(str(models["refused"]), str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr
    error = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, run.stderr
    assert "2 node(s) cannot run on target backend(s) cpu, wasm, webgl" in error[0]
    # the nodes carry the names of the outputs they feed (PartitionedCall/Identity, PartitionedCall/Identity_1)
    assert re.search(r"ReverseV2 on cpu/wasm/webgl \(anyinput:string=true throws\): [\w/]+Identity;", error[0])
    assert re.search(r"Transpose on cpu/wasm/webgl \(anyinput:string=true throws\): [\w/]+Identity_1$", error[0])
    assert not (tmp_path / "out" / "model.json").exists()


def test_string_ops_tfjs_runs_convert_and_match_tf(models, tmp_path, tfjs_runtime):
    out = tmp_path / "out"
    run = convert_without_tf(str(models["accepted"]), str(out))
    assert run.returncode == 0, run.stderr
    _matches_tf(models["accepted"], out, ("cpu", "wasm"))


def test_tile_and_equal_of_strings_are_refused_on_wasm_only(models, tmp_path, tfjs_runtime):
    run = convert_without_tf(str(models["wasm_only"]), str(tmp_path / "all"))
    assert run.returncode == 2, run.stderr
    assert "cannot run on target backend(s) wasm of" in run.stderr
    assert re.search(r"Equal on wasm \(input:0=string gives a wrong answer\): \S+;", run.stderr)
    assert re.search(r"Tile on wasm \(input:0=string throws\): \S+", run.stderr)
    out = tmp_path / "cpu"
    run = convert_without_tf(str(models["wasm_only"]), str(out), "--target_backends=cpu,webgl")
    assert run.returncode == 0, run.stderr
    _matches_tf(models["wasm_only"], out, ("cpu",))


def test_an_unknown_input_dtype_never_refuses():
    contract = BackendContract.load()
    assert contract.reasons(NodeFacts("ReverseV2", {}, ["string", "int32"]), "cpu")
    assert not contract.reasons(NodeFacts("ReverseV2", {}, ["float32", "int32"]), "cpu")
    assert not contract.reasons(NodeFacts("ReverseV2", {}, [None, "int32"]), "cpu")
    # a control-flow library function's node has only attrs: its T types the data inputs
    assert contract.reasons(NodeFacts("ReverseV2", {"T": "DT_STRING"}, []), "webgl")
    assert not contract.reasons(NodeFacts("ReverseV2", {"T": "DT_FLOAT"}, []), "webgl")
    assert not contract.reasons(NodeFacts("ConcatV2", {}, ["string", "string", "int32"]), "wasm")
    assert not contract.reasons(NodeFacts("StridedSlice", {}, ["string", "int32", "int32", "int32"],
                                          {3: np.array([1, 1])}), "wasm")
    assert contract.reasons(NodeFacts("StridedSlice", {}, ["string", "int32", "int32", "int32"],
                                      {3: np.array([1, 2])}), "wasm")


def test_the_probe_reproduces_the_committed_wasm_string_limits(tfjs_runtime):
    """scripts/probe_backends.py's string cases, against TF on cpu and wasm: wasm throws where the data says."""
    import importlib.util
    import json
    import sys

    repo = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("probe_backends", repo / "scripts" / "probe_backends.py")
    probe = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = probe
    spec.loader.exec_module(probe)
    cases = [c for c in probe.cases() if "string" in json.dumps(c.when) and c.op not in ("Equal", "NotEqual")]
    assert {c.op for c in cases} == {"Tile", "GatherNd", "StridedSlice", "Fill", "SparseToDense"}
    found = probe.to_limits([(case, probe.run_case(case, ["cpu", "wasm"])) for case in cases])
    committed = json.loads((repo / "core" / "ops" / "data" / "tfjs_backend_probe.json").read_text())["limits"]
    key = lambda l: (l["op"], l["backend"], json.dumps(l["when"], sort_keys=True), l["outcome"])  # noqa: E731
    classes = {(c.op, json.dumps(c.when, sort_keys=True)) for c in cases}
    expected = {key(l) for l in committed if (l["op"], json.dumps(l["when"], sort_keys=True)) in classes
                and l["backend"] in ("cpu", "wasm")}
    assert {key(l) for l in found} == expected
    assert {(l["op"], l["backend"]) for l in found} == {(op, "wasm") for op in
                                                        ("Tile", "GatherNd", "StridedSlice", "Fill", "SparseToDense")}


# -- ONNX ---------------------------------------------------------------------------------------------
def test_onnx_string_ops(tmp_path, tfjs_runtime):
    """ONNX Transpose of strings is refused (TF.js transpose is numeric-only); Concat/Reshape/Unsqueeze run."""
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper
    from onnx_models import matches_onnxruntime, onnx_model

    import tfjsconv
    from tfjsconv.errors import BackendUnsupportedError

    S = TensorProto.STRING
    shape = {"shape": np.array([3, 2], dtype=np.int64), "axes": np.array([0], dtype=np.int64)}
    refused = onnx_model(tmp_path / "t.onnx", [helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0])],
                         {"x": (S, [2, 3])}, ["y"])
    with pytest.raises(BackendUnsupportedError, match=r"Transpose on cpu/wasm/webgl \(anyinput:string=true throws\)"):
        tfjsconv.convert(refused, tmp_path / "refused")
    accepted = onnx_model(tmp_path / "c.onnx", [
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Concat", ["r", "r"], ["c"], axis=1),
        helper.make_node("Unsqueeze", ["c", "axes"], ["y"])], {"x": (S, [2, 3])}, ["y"], initializers=shape)
    feeds = {"x": np.array([["a", "bb", "c"], ["dd", "e", "ff"]], dtype=object)}
    expected = matches_onnxruntime(accepted, feeds, tmp_path / "accepted", backends=("cpu", "wasm"))
    assert expected["y"].shape == (1, 3, 4)
