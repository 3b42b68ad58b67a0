"""PyTorch to TF.js: real torch and transformers models (random weights), from the dynamo export, the
legacy export and the module itself, run in TF.js (cpu and wasm) and compared with torch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("transformers")

import tfjsconv  # noqa: E402
import torch_models  # noqa: E402
from tfjsconv.errors import InputError, UnsupportedOpsError  # noqa: E402

RTOL = 1e-5  # max abs err <= 1e-5 x max|reference|, per output and backend
SOURCES = ("dynamo", "legacy", "module")


class Built:
    """One test model: the module, its example inputs, its torch outputs and its two ONNX exports."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.module, self.args = torch_models.BUILDERS[name]()
        self.input_names = torch_models.INPUT_NAMES.get(name) or [f"input_{i}" for i in range(len(self.args))]
        with torch.no_grad():
            out = self.module(*self.args)
        self.expected = [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]
        self.folder = folder
        self._files: dict[str, Path] = {}

    def onnx_file(self, exporter: str) -> Path:
        """The model exported the way a user would, with static shapes (each once per session)."""
        if exporter not in self._files:
            path = self.folder / f"{self.name}_{exporter}.onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if exporter == "dynamo":
                    program = torch.onnx.export(self.module, self.args, dynamo=True, input_names=self.input_names,
                                                verbose=False)
                    program.save(str(path))
                else:
                    torch.onnx.export(self.module, self.args, str(path), dynamo=False, opset_version=17,
                                      input_names=self.input_names)
            self._files[exporter] = path
        return self._files[exporter]

    def feeds(self) -> dict[str, np.ndarray]:
        """The example inputs as TF.js gets them (int64 ids as int32)."""
        return {n: (a.numpy().astype(np.int32) if a.dtype == torch.int64 else a.numpy())
                for n, a in zip(self.input_names, self.args)}


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    cache: dict[str, Built] = {}
    folder = tmp_path_factory.mktemp("torch_exports")

    def get(name: str) -> Built:
        if name not in cache:
            cache[name] = Built(name, folder)
        return cache[name]

    return get


def convert(model: Built, source: str, out: Path, **options) -> dict:
    if source == "module":
        tfjsconv.convert(model.module, out, example_inputs=model.args, input_names=model.input_names, **options)
    else:
        tfjsconv.convert(model.onnx_file(source), out, **options)
    return json.loads((out / "model.json").read_text())


def check_in_tfjs(model: Built, out: Path, doc: dict, *, nhwc: bool = False) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    feeds = model.feeds()
    if nhwc:
        feeds = {k: v.transpose(0, 2, 3, 1) if v.ndim == 4 else v for k, v in feeds.items()}
    inputs = dict(zip(doc["signature"]["inputs"], feeds.values()))
    expected = {}
    for key, array in zip(doc["signature"]["outputs"], model.expected):
        expected[key] = array.transpose(0, 2, 3, 1) if nhwc and array.ndim == 4 else array
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=0.0, quiet=True)
    assert report.passed, format_report(report)


def four_d(doc: dict, side: str) -> int:
    return sum(len(t["tensorShape"].get("dim", [])) == 4 for t in doc["signature"][side].values())


@pytest.mark.node
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("name", list(torch_models.BUILDERS))
def test_model_matches_torch_in_tfjs(name, source, built, tmp_path, tfjs_runtime):
    model = built(name)
    doc = convert(model, source, tmp_path / "out")
    check_in_tfjs(model, tmp_path / "out", doc)
    ops = [n["op"] for n in doc["modelTopology"]["node"]]
    assert "While" not in ops and "Enter" not in ops  # RNNs are unrolled: plain execute(), any backend
    if name in ("lstm", "gru"):  # batch-first around the RNN is a layout, not a Transpose, and so is the
        # Reshape of each layer's output to a target computed from its shape (a dynamic batch, "module")
        assert ops.count("Transpose") == 0, ops
    if name in torch_models.CNNS:
        limit = four_d(doc, "inputs") + four_d(doc, "outputs")
        assert ops.count("Transpose") <= limit, (ops.count("Transpose"), limit)
        layouts = doc["userDefinedMetadata"]["onnx"]["layout"]
        assert set(layouts["inputs"].values()) == {"NCHW"}


@pytest.mark.node
@pytest.mark.parametrize("name", torch_models.CNNS)
def test_cnn_with_nhwc_interface_has_no_transposes(name, built, tmp_path, tfjs_runtime):
    model = built(name)
    doc = convert(model, "module", tmp_path / "out", input_layout="nhwc")
    assert [n["op"] for n in doc["modelTopology"]["node"]].count("Transpose") == 0
    assert set(doc["userDefinedMetadata"]["onnx"]["layout"]["inputs"].values()) == {"NHWC"}
    check_in_tfjs(model, tmp_path / "out", doc, nhwc=True)


def test_module_export_records_how_it_was_exported(built, tmp_path):
    model = built("plain_cnn")
    doc = convert(model, "module", tmp_path / "out")
    torch_facts = doc["userDefinedMetadata"]["onnx"]["torch"]
    assert torch_facts["version"] == torch.__version__
    assert "exported with the dynamo exporter, dynamic batch" in torch_facts["export"]
    dims = doc["signature"]["inputs"]["input_0"]["tensorShape"]["dim"]
    assert dims[0]["size"] == "-1"  # dynamic batch
    assert not list(tmp_path.glob("*.onnx")) and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_legacy_exporter_by_choice(built, tmp_path):
    model = built("mobilenet")
    tfjsconv.convert(model.module, tmp_path / "out", example_inputs=model.args, exporter="legacy",
                     dynamic_batch=False)
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    assert doc["userDefinedMetadata"]["onnx"]["torch"]["export"] == ["exported with the legacy exporter, static shapes"]


# -- files: .pt2 and pickles ------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", *args], capture_output=True, text=True,
                          env={**os.environ})


@pytest.mark.node
def test_pt2_file_converts_and_verifies_against_torch(built, tmp_path, tfjs_runtime):
    model = built("plain_cnn")
    path = tmp_path / "cnn.pt2"
    program = torch.export.export(model.module, model.args)
    program.example_inputs = None  # a pickle-free archive: nothing for torch.export.load to unpickle
    torch.export.save(program, str(path))
    out = cli("convert", str(path), str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    out = cli("verify", str(path), str(tmp_path / "out"), "--rtol", str(RTOL))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS" in out.stdout


@pytest.mark.node
def test_pt2_verified_on_inputs_of_other_shapes_is_a_usage_error(built, tmp_path, tfjs_runtime):
    """A static program run on inputs of another batch: torch's shape check was "unexpected error: RuntimeError ...
    This is a bug in tfjsconv" (session 27 probe H10); now a usage error naming the shape (exit 2)."""
    model = built("plain_cnn")
    path = tmp_path / "cnn.pt2"
    program = torch.export.export(model.module, model.args)
    program.example_inputs = None
    torch.export.save(program, str(path))
    assert cli("convert", str(path), str(tmp_path / "out")).returncode == 0
    signature = json.loads((tmp_path / "out" / "model.json").read_text())["signature"]["inputs"]
    name = next(iter(signature))
    shape = [int(d["size"]) for d in signature[name]["tensorShape"]["dim"]]
    np.savez(tmp_path / "in.npz", **{name.split(":")[0]: np.zeros([shape[0] + 1, *shape[1:]], np.float32)})
    out = cli("verify", str(path), str(tmp_path / "out"), "--inputs", str(tmp_path / "in.npz"))
    assert out.returncode == 2, out.stdout + out.stderr
    # verify checks the feed against the TF.js model's static signature first (session 32, check_fed_inputs)
    assert f"has shape {[shape[0] + 1, *shape[1:]]}; the model takes {shape}".replace("'", "") in out.stderr, out.stderr
    assert "bug in tfjsconv" not in out.stderr


def test_pt2_with_pickled_sample_inputs_needs_the_flag(built, tmp_path):
    """torch.export.save pickles the example inputs, and torch.export.load may unpickle them fully."""
    model = built("plain_cnn")
    path = tmp_path / "cnn.pt2"
    torch.export.save(torch.export.export(model.module, model.args), str(path))
    out = cli("convert", str(path), str(tmp_path / "out"))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "data/sample_inputs/model.pt" in out.stderr and "--allow_unsafe_deserialization" in out.stderr
    assert "in memory" in out.stderr and not (tmp_path / "out").exists()
    tfjsconv.convert(path, tmp_path / "out", allow_unsafe_deserialization=True)
    assert (tmp_path / "out" / "model.json").is_file()


@pytest.mark.node
def test_trusted_pt2_converts_and_verifies_with_the_flag(built, tmp_path, tfjs_runtime):
    """The flag reaches the reference run of ``convert --verify`` too (torch loads the program again)."""
    model = built("plain_cnn")
    path = tmp_path / "cnn.pt2"
    torch.export.save(torch.export.export(model.module, model.args), str(path))
    out = cli("convert", str(path), str(tmp_path / "out"), "--allow_unsafe_deserialization", "--verify",
              "--quiet")
    assert out.returncode == 0, out.stdout + out.stderr


def test_pickles_are_refused_without_the_flag(built, tmp_path):
    model = built("plain_cnn")
    path = tmp_path / "model.pt"
    torch.save(model.module, str(path))
    out = cli("convert", str(path), str(tmp_path / "out"))
    assert out.returncode == 2, out.stderr
    assert "pickle" in out.stderr and "--allow_unsafe_deserialization" in out.stderr and "weights_only" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "out").exists()
    weights = tmp_path / "weights.pth"
    torch.save(model.module.state_dict(), str(weights))
    with pytest.raises(InputError, match="no architecture"):
        tfjsconv.convert(weights, tmp_path / "out2", allow_unsafe_deserialization=True)
    assert not (tmp_path / "out2").exists()


def test_unsupported_ops_name_the_torch_module(tmp_path):
    class Block(torch.nn.Module):
        def forward(self, x):
            return torch.bernoulli(x.sigmoid())

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = Block()

        def forward(self, x):
            return self.head(x.relu())

    with pytest.raises(UnsupportedOpsError) as info:
        tfjsconv.convert(Net().eval(), tmp_path / "out", example_inputs=(torch.randn(2, 3, 3),),
                         dynamic_batch=False, exporter="dynamo")
    message = str(info.value)
    assert "Bernoulli" in message and "torch module head" in message, message
    assert not (tmp_path / "out").exists()


def test_module_without_example_inputs_is_a_usage_error(built, tmp_path):
    from tfjsconv.errors import UsageError

    with pytest.raises(UsageError, match="example_inputs"):
        tfjsconv.convert(built("plain_cnn").module, tmp_path / "out")


# -- light imports --------------------------------------------------------------------------------
def test_onnx_and_pytorch_paths_never_import_tensorflow(tmp_path):
    code = f"""
import sys, torch
sys.path.insert(0, {str(Path(__file__).parent)!r})
import tfjsconv, torch_models
module, args = torch_models.plain_cnn()
tfjsconv.convert(module, {str(tmp_path / 'a')!r}, example_inputs=args)
torch.onnx.export(module, args, {str(tmp_path / 'm.onnx')!r}, dynamo=False)
tfjsconv.convert({str(tmp_path / 'm.onnx')!r}, {str(tmp_path / 'b')!r})
print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_detecting_a_module_does_not_import_torch(tmp_path):
    code = ("import sys, tfjsconv; from tfjsconv.conversion import select_frontend; "
            "from tfjsconv.plugin_manager import get_plugin_manager; r = get_plugin_manager().registry; "
            "assert r.frontends['pytorch'].detect(object()) is False; "
            "assert r.frontends['torch_export'].detect('m.pt2'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.node
@pytest.mark.parametrize("name", ["hf_bert", "hf_gpt2"])
def test_attention_mask_with_values_other_than_0_and_1(name, built, tmp_path, tfjs_runtime):
    """transformers reads the mask as bool (x != 0): a cast to bool is NotEqual(x, 0) in TF.js, since
    TF.js-wasm's bool Cast would keep a 2 as 2 and break the masking arithmetic after it."""
    from tfjsconv.verify.compare import format_report, verify_model

    model = built(name)
    doc = convert(model, "dynamo", tmp_path / "out")
    ids, mask = model.args
    mask = mask.clone()
    mask[0, 1], mask[0, 3], mask[1, 0] = 2, 7, 3
    with torch.no_grad():
        expected = model.module(ids, mask).numpy()
    feeds = {"input_ids": ids.numpy().astype(np.int32), "attention_mask": mask.numpy().astype(np.int32)}
    key = next(iter(doc["signature"]["outputs"]))
    report = verify_model(tmp_path / "out", feeds, {key: expected}, backends=("cpu", "wasm"), rtol=RTOL, atol=0.0,
                          quiet=True)
    assert report.passed, format_report(report)
    assert "Cast" not in [n["op"] for n in doc["modelTopology"]["node"]
                          if n.get("attr", {}).get("DstT", {}).get("type") == "DT_BOOL"]


@pytest.mark.node
@pytest.mark.parametrize("name", ["hf_bert", "hf_vit", "hf_gpt2"])
def test_sdpa_attention_exported_at_opset_23(name, tmp_path, tfjs_runtime):
    """With sdpa attention and opset 23 the dynamo exporter writes ONNX ``Attention`` nodes."""
    import onnx

    module, args = torch_models.BUILDERS[name]()
    module = torch_models.with_sdpa(module)
    names = torch_models.INPUT_NAMES.get(name) or [f"input_{i}" for i in range(len(args))]
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, dynamo=True, opset_version=23, input_names=names, verbose=False).save(str(path))
    assert "Attention" in {n.op_type for n in onnx.load(str(path)).graph.node}
    tfjsconv.convert(path, tmp_path / "out")
    from tfjsconv.verify.compare import format_report, verify_model

    with torch.no_grad():
        expected = module(*args).numpy()
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    feeds = {n: (a.numpy().astype(np.int32) if a.dtype == torch.int64 else a.numpy()) for n, a in zip(names, args)}
    report = verify_model(tmp_path / "out", feeds, {next(iter(doc["signature"]["outputs"])): expected},
                          backends=("cpu", "wasm"), rtol=RTOL, atol=0.0, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
@pytest.mark.parametrize("exporter", ["dynamo", "legacy"])
@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_dynamic_sequence_length_runs_a_while_loop(name, exporter, tmp_path, tfjs_runtime):
    """A dynamic batch and sequence length: each RNN layer is one While loop, run with executeAsync."""
    from tfjsconv.verify.compare import format_report, verify_model

    module, (x,) = torch_models.BUILDERS[name]()
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            dims = {0: torch.export.Dim("batch", max=64), 1: torch.export.Dim("time", min=2, max=256)}
            torch.onnx.export(module, (x,), dynamo=True, input_names=["x"], dynamic_shapes=(dims,),
                              verbose=False).save(str(path))
        else:
            torch.onnx.export(module, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                              dynamic_axes={"x": {0: "batch", 1: "time"}})
    tfjsconv.convert(path, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    ops = [n["op"] for n in doc["modelTopology"]["node"]]
    # a loop gathers its outputs time-major: one Transpose to the batch-first output, none between layers
    assert ops.count("LoopCond") == {"lstm": 2, "gru": 1}[name] and ops.count("Transpose") == {"lstm": 1, "gru": 0}[name]
    for batch, length in ((3, 11), (1, 1)):
        feed = torch.randn(batch, length, x.shape[2])
        with torch.no_grad():
            out = module(feed)
        expected = dict(zip(doc["signature"]["outputs"], [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]))
        report = verify_model(tmp_path / "out", {"x": feed.numpy()}, expected, backends=("cpu", "wasm"), rtol=RTOL,
                              atol=0.0, quiet=True)
        assert report.passed, format_report(report)
