"""Attention heads known through a legacy ``torch.onnx.export`` with dynamic axes (task X3).

The TorchScript exporter computes ``Reshape(q, [B, T, -1, d])`` targets from ``Shape`` of another tensor
(the layer's input, the key of the same ``Split``). ``plugins/onnx/dim_classes.py`` proves those ``B, T``
equal to ``q``'s own, so the ``-1`` (the heads) is static and the attention matmuls need no run-time
broadcast. Checked against torch in TF.js cpu and wasm at the traced size and another batch and length;
a target read from an unrelated tensor must keep the heads unknown (onnxruntime at sizes where they differ).
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).parent))

import tfjsconv  # noqa: E402
import torch_models  # noqa: E402

MODELS = ("hf_bert", "hf_gpt2", "hf_vit")


def _inputs(name: str, args: tuple, batch: int, seq: int) -> tuple:
    """Inputs of another batch (and sequence length, for text) than the traced ones."""
    g = torch.Generator().manual_seed(batch * 10 + seq)
    if name == "hf_vit":
        return (torch.randn(batch, *args[0].shape[1:], generator=g),)
    ids = torch.randint(0, 100, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.int64)
    mask[-1, seq - 2:] = 0
    return ids, mask


@pytest.fixture(scope="module", params=MODELS)
def legacy_dynamic(request, tmp_path_factory):
    name = request.param
    module, args = torch_models.BUILDERS[name]()
    names = torch_models.INPUT_NAMES.get(name) or [f"input_{i}" for i in range(len(args))]
    folder = tmp_path_factory.mktemp(name)
    axes = {n: ({0: "batch", 1: "seq"} if a.ndim == 2 else {0: "batch"}) for n, a in zip(names, args)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(folder / "m.onnx"), dynamo=False, opset_version=17, input_names=names,
                          dynamic_axes=axes)
    result = tfjsconv.convert(folder / "m.onnx", folder / "web")
    return name, module, args, names, folder / "web", result


@pytest.mark.node
def test_legacy_attention_needs_no_broadcast_and_matches_torch(legacy_dynamic, tfjs_runtime):
    from tfjsconv.verify.compare import format_report, verify_model

    name, module, args, names, out, result = legacy_dynamic
    doc = json.loads((out / "model.json").read_text())
    nodes = doc["modelTopology"]["node"]
    assert not [n["name"] for n in nodes if n["name"].endswith("_broadcast")]
    assert {s.name: s.changes for s in result.pass_report.stats}["batch_matmul_broadcast"] == 0
    batch, seq = (args[0].shape[0], args[0].shape[1]) if args[0].ndim == 2 else (args[0].shape[0], 0)
    for size in ((batch, seq), (batch + 1, max(seq - 3, 3))):
        feeds = _inputs(name, args, *size)
        with torch.no_grad():
            expected = module(*feeds).numpy()
        inputs = {key: (t.numpy().astype(np.int32) if t.dtype == torch.int64 else t.numpy())
                  for key, t in zip(doc["signature"]["inputs"], feeds)}
        report = verify_model(out, inputs, {next(iter(doc["signature"]["outputs"])): expected},
                              backends=("cpu", "wasm"), rtol=1e-5, atol=0.0, quiet=True)
        assert report.passed, format_report(report)


@pytest.mark.node
def test_target_from_an_unrelated_tensor_keeps_heads_unknown(tmp_path, tfjs_runtime):
    """``Reshape(x, Shape(y)[:2] + [-1, 32])`` with ``y`` another input: its heads are ``x0·x1 / (y0·y1)``,
    not provably 1. Taken for equal dims, ``q``'s and ``k``'s heads would both look static 1 and the matmul
    would get no broadcast; at ``q`` heads 2 against ``k`` heads 1 TF.js would then misread the batch."""
    from onnx import TensorProto, helper
    from onnx_models import matches_onnxruntime, onnx_model

    ints = {"begin": np.array([0], np.int64), "end": np.array([2], np.int64), "rest": np.array([-1, 32], np.int64)}
    nodes = [
        helper.make_node("Shape", ["y"], ["ys"]),
        helper.make_node("Slice", ["ys", "begin", "end"], ["bt"]),
        helper.make_node("Concat", ["bt", "rest"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["q"]),
        helper.make_node("Transpose", ["q"], ["qt"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["x2", "target"], ["k"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 3, 1]),
        helper.make_node("MatMul", ["qt", "kt"], ["scores"]),
    ]
    inputs = {"x": (TensorProto.FLOAT, ["b", "t", 32]), "x2": (TensorProto.FLOAT, ["e", "f", 32]),
              "y": (TensorProto.FLOAT, ["c", "u", 32])}
    path = onnx_model(tmp_path / "m.onnx", nodes, inputs, ["scores"], opset=17, initializers=ints)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((4, 3, 32)).astype(np.float32),  # q heads 2
             "x2": rng.standard_normal((2, 3, 32)).astype(np.float32),  # k heads 1
             "y": rng.standard_normal((2, 3, 32)).astype(np.float32)}
    tfjsconv.convert(path, tmp_path / "web")
    nodes = json.loads((tmp_path / "web" / "model.json").read_text())["modelTopology"]["node"]
    assert [n for n in nodes if n["name"].endswith("_broadcast")]
    matches_onnxruntime(path, feeds, tmp_path / "web", convert=False, backends=("cpu", "wasm"))
