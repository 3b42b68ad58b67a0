"""Regressions found converting realistic PyTorch/transformers exports (task X1), each run in real TF.js.

Every model is converted, run on cpu and wasm under Node and compared with onnxruntime on the same
inputs (never with tfjsconv's own interpreter). The graphs are small ``onnx.helper`` reproductions of
what the exporters wrote for the real models.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _slice_ops(out: Path) -> list[str]:
    """The TF.js ops the ONNX ``Slice`` nodes became (they keep their names)."""
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    return [n["op"] for n in nodes if n["name"].startswith("Slice") and n["op"] != "Const"]


def _swin_maybe_pad(tmp_path: Path) -> Path:
    """HF Swin's ``maybe_pad`` as torch's legacy exporter writes it with a dynamic batch: the pad amounts
    come from ``Shape(x)``, and ``F.pad``'s list is reversed pairwise by a step -1 ``Slice`` on int64 —
    plus a step -2 slice of the shape itself, as an output."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "three"], ["width"], axis=0),
        helper.make_node("Mod", ["width", "window"], ["rem"]),
        helper.make_node("Sub", ["window", "rem"], ["short"]),
        helper.make_node("Mod", ["short", "window"], ["pad_w"]),
        helper.make_node("Unsqueeze", ["pad_w", "zero_axis"], ["pad_w1"]),
        helper.make_node("Concat", ["zero1", "pad_w1", "zeros6"], ["torch_pads"], axis=0),
        helper.make_node("Reshape", ["torch_pads", "pairs"], ["pad_pairs"]),
        helper.make_node("Slice", ["pad_pairs", "minus1", "very_negative", "zero_axis", "minus1"], ["reversed"]),
        helper.make_node("Transpose", ["reversed"], ["by_side"], perm=[1, 0]),
        helper.make_node("Reshape", ["by_side", "flat"], ["onnx_pads"]),
        helper.make_node("Pad", ["x", "onnx_pads"], ["padded"]),
        helper.make_node("Slice", ["shape", "minus1", "very_negative", "zero_axis", "minus2"], ["every_other"]),
    ]
    inits = {"three": np.array(3, np.int64), "window": np.array(4, np.int64),
             "zero_axis": np.array([0], np.int64), "zero1": np.zeros(1, np.int64), "zeros6": np.zeros(6, np.int64),
             "pairs": np.array([-1, 2], np.int64), "flat": np.array([-1], np.int64),
             "minus1": np.array([-1], np.int64), "minus2": np.array([-2], np.int64),
             "very_negative": np.array([-(2 ** 63) + 1], np.int64)}
    return onnx_model(tmp_path / "swin_pad.onnx", nodes, {"x": (F, ["N", 3, 5, 7])}, ["padded", "every_other"],
                      opset=17, initializers=inits, name="swin_maybe_pad")


@pytest.mark.node
def test_strided_int_slice_becomes_a_gather_that_wasm_runs(tmp_path, tfjs_runtime):
    """wasm's StridedSlice returns float32 for int32 once a stride is not 1: the conversion used to refuse
    HF Swin (legacy export, dynamic batch) for wasm; a GatherV2 with the kept indices is exact."""
    path = _swin_maybe_pad(tmp_path)
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 3, 5, 7)).astype(np.float32)}
    expected = matches_onnxruntime(path, feeds, tmp_path / "out", backends=("cpu", "wasm"))
    assert expected["padded"].shape == (2, 3, 5, 8) and expected["every_other"].tolist() == [7, 3]
    assert _slice_ops(tmp_path / "out") == ["GatherV2", "GatherV2"]
    tfjsconv.convert(path, tmp_path / "cpu_only", target_backends=["cpu"])  # cpu runs it: left alone
    assert _slice_ops(tmp_path / "cpu_only") == ["StridedSlice", "StridedSlice"]


@pytest.mark.node
def test_gather_elements_with_run_time_shaped_indices(tmp_path, tfjs_runtime):
    """BERT/RoBERTa exported with a dynamic batch and sequence gather ``token_type_ids`` by position with
    ``GatherElements`` whose indices' shape is known only at run time: it used to be refused. Checked at
    two run-time shapes, along the last and the first axis, with negative indices."""
    nodes = [helper.make_node("GatherElements", ["data", "idx"], ["along_last"], axis=1),
             helper.make_node("GatherElements", ["cube", "idx3"], ["along_first"], axis=0)]
    path = onnx_model(tmp_path / "gather_elements.onnx", nodes,
                      {"data": (F, ["N", "T"]), "idx": (I64, ["N", "S"]), "cube": (F, [4, "H", 3]),
                       "idx3": (I64, ["M", "H", 2])},
                      ["along_last", "along_first"], opset=18, name="dynamic_gather_elements")
    rng = np.random.default_rng(1)
    for k, (n, t, s, h, m) in enumerate([(2, 7, 5, 3, 2), (3, 4, 6, 5, 1)]):
        feeds = {"data": rng.standard_normal((n, t)).astype(np.float32),
                 "idx": rng.integers(-t, t, (n, s)).astype(np.int64),
                 "cube": rng.standard_normal((4, h, 3)).astype(np.float32),
                 "idx3": rng.integers(-4, 4, (m, h, 2)).astype(np.int64)}
        matches_onnxruntime(path, feeds, tmp_path / "out", convert=k == 0, backends=("cpu", "wasm"),
                            narrow_int64_feeds=True)


@pytest.mark.node
def test_rank_5_computed_gather_nd_indices_run_on_webgl(tmp_path, tfjs_runtime, browser):
    """transformers' vmapped attention masks, exported by the dynamo exporter with a dynamic batch and
    sequence, gather with computed rank-5 ``GatherND`` indices. Counting their negative entries from the
    end used a SelectV2 of rank 5, which webgl cannot run, so every such model (DistilBERT, GPT-2, Llama,
    Mistral, T5) was refused for the default targets; it is now exact integer arithmetic."""
    nodes = [helper.make_node("GatherND", ["mask", "idx"], ["picked"])]
    path = onnx_model(tmp_path / "mask_gather.onnx", nodes,
                      {"mask": (F, ["B", "T"]), "idx": (I64, ["B", 1, "Q", "K", 2])}, ["picked"], opset=18,
                      name="vmapped_mask")
    rng = np.random.default_rng(2)
    b, t, q, k = 2, 6, 3, 4
    rows = np.broadcast_to(np.arange(b).reshape(b, 1, 1, 1), (b, 1, q, k))
    cols = rng.integers(-t, t, (b, 1, q, k))
    feeds = {"mask": rng.standard_normal((b, t)).astype(np.float32),
             "idx": np.stack([rows - b * (rows % 2), cols], axis=-1).astype(np.int64)}  # negatives on both axes
    out = tmp_path / "out"
    matches_onnxruntime(path, feeds, out, backends=("cpu", "wasm"), narrow_int64_feeds=True)  # default targets
    matches_onnxruntime(path, feeds, out, convert=False, backends=("webgl",), browser_session=browser,
                        narrow_int64_feeds=True)


@pytest.mark.node
def test_log_sum_exp_of_a_fully_masked_row_is_minus_inf(tmp_path, tfjs_runtime):
    """``torch.logsumexp`` over logits masked with -inf (a fully padded row) is -inf in torch and
    onnxruntime; the max-shifted ReduceLogSumExp computed -inf - -inf and gave NaN in TF.js, silently.
    Rows of all -inf, one +inf, a NaN and ordinary values; constant axes (keepdims 0/1) and axes fed at
    run time."""
    nodes = [helper.make_node("ReduceLogSumExp", ["x", "last"], ["flat"], keepdims=0),
             helper.make_node("ReduceLogSumExp", ["x", "last"], ["kept"], keepdims=1),
             helper.make_node("ReduceLogSumExp", ["x", "axes"], ["fed"], keepdims=0)]
    path = onnx_model(tmp_path / "logsumexp.onnx", nodes, {"x": (F, [4, 3, 5]), "axes": (I64, [1])},
                      ["flat", "kept", "fed"], opset=18, initializers={"last": np.array([-1], np.int64)},
                      name="masked_logsumexp")
    x = np.random.default_rng(3).standard_normal((4, 3, 5)).astype(np.float32)
    x[0, 1, :] = -np.inf
    x[1, 2, 3] = np.inf
    x[2, 0, 1] = np.nan
    x[3, :, 2] = -np.inf
    expected = matches_onnxruntime(path, {"x": x, "axes": np.array([2], np.int64)}, tmp_path / "out",
                                   backends=("cpu", "wasm"), narrow_int64_feeds=True)
    assert expected["flat"][0, 1] == -np.inf and expected["flat"][1, 2] == np.inf


@pytest.mark.node
def test_log_sum_exp_of_rank_5_masked_rows_runs_on_webgl(tmp_path, tfjs_runtime, browser):
    """The -inf-safe shift of ReduceLogSumExp must not refuse what converted before: a SelectV2 of the
    peak (rank 5 here, as in vmapped attention scores) is one webgl cannot run, so the default targets
    refused the model; clipping the peak to the finite range is exact on every backend."""
    nodes = [helper.make_node("ReduceLogSumExp", ["x", "last"], ["flat"], keepdims=0),
             helper.make_node("ReduceLogSumExp", ["x", "last"], ["kept"], keepdims=1)]
    path = onnx_model(tmp_path / "logsumexp5.onnx", nodes, {"x": (F, ["B", 2, 3, 2, 5])}, ["flat", "kept"],
                      opset=18, initializers={"last": np.array([-1], np.int64)}, name="masked_logsumexp_rank5")
    x = np.random.default_rng(4).standard_normal((2, 2, 3, 2, 5)).astype(np.float32)
    x[0, 1, 2, 0, :] = -np.inf
    x[1, 0, 1, 1, 3] = np.inf
    x[1, 1, 0, 0, :2] = -np.inf
    out = tmp_path / "out"
    expected = matches_onnxruntime(path, {"x": x}, out)  # default targets: webgl included
    assert expected["flat"][0, 1, 2, 0] == -np.inf and expected["flat"][1, 0, 1, 1] == np.inf
    matches_onnxruntime(path, {"x": x}, out, convert=False, backends=("webgl",), browser_session=browser)
