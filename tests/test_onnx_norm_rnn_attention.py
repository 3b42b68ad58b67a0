"""ONNX normalizations, losses, rotary embeddings, recurrent layers and attention with parameters
computed at run time: each converted model runs in real TF.js (cpu and wasm) against onnxruntime.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402

BACKENDS = ("cpu", "wasm")
F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(tmp_path: Path, nodes: list, inputs: dict, outputs: list[str], *, opset: int = 18,
           initializers: dict | None = None, name: str = "model") -> Path:
    """A graph of ``nodes`` with typed inputs (name -> (elem type, shape)); output types left to inference."""
    return onnx_model(tmp_path / f"{name}.onnx", nodes, inputs, outputs, opset=opset, initializers=initializers,
                      name="norms")


def _matches_onnxruntime(path: Path, feeds: dict[str, np.ndarray], tmp_path: Path, **options) -> dict:
    """Convert, run on cpu and wasm, compare with onnxruntime; returns onnxruntime's outputs."""
    return matches_onnxruntime(path, feeds, tmp_path / f"{path.stem}_tfjs", **options)


def _ops(folder: Path) -> Counter:
    topology = json.loads((folder / "model.json").read_text())["modelTopology"]
    return Counter(node["op"] for node in topology["node"])


def _rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# -- losses -----------------------------------------------------------------------------------------
@pytest.mark.node
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_losses_with_weights_ignore_index_and_log_prob(tmp_path, tfjs_runtime, reduction):
    """SoftmaxCrossEntropyLoss (both outputs) and NegativeLogLikelihoodLoss over [N, C, d1, d2] with class
    weights and an ignore_index that occurs in the labels (and is not a class number), plus 2-D scores
    without weights."""
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("SoftmaxCrossEntropyLoss", ["x", "labels", "w"], ["sce", "log_prob"], reduction=reduction,
                         ignore_index=-1),
        helper.make_node("NegativeLogLikelihoodLoss", ["log_prob", "labels", "w"], ["nll"], reduction=reduction,
                         ignore_index=-1),
        helper.make_node("SoftmaxCrossEntropyLoss", ["x2", "labels2"], ["sce2"], reduction=reduction),
    ]
    labels = rng.integers(0, 5, (2, 3, 4))
    labels[0, 1, :2] = -1
    feeds = {"x": _rand(rng, 2, 5, 3, 4), "labels": labels, "w": rng.uniform(0.2, 2, 5).astype(np.float32),
             "x2": _rand(rng, 6, 4), "labels2": rng.integers(0, 4, 6)}
    path = _model(tmp_path, nodes, {"x": (F, [2, 5, 3, 4]), "labels": (I64, [2, 3, 4]), "w": (F, [5]),
                                    "x2": (F, [6, 4]), "labels2": (I64, [6])}, ["sce", "log_prob", "nll", "sce2"],
                  opset=13)
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["log_prob"].shape == (2, 5, 3, 4)


# -- normalizations ---------------------------------------------------------------------------------
@pytest.mark.node
def test_layer_norm_statistics_rms_lp_mvn_lrn(tmp_path, tfjs_runtime):
    """LayerNormalization's Mean and InvStdDev outputs (axis 1 of a 3-D input, scale given at run time),
    RMSNormalization (opset 23), LpNormalization p=1 and 2, MeanVarianceNormalization and LRN (onnxruntime only takes odd windows)."""
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("LayerNormalization", ["x", "scale", "bias"], ["ln", "mean", "inv_std"], axis=1,
                         epsilon=1e-3),
        helper.make_node("RMSNormalization", ["x", "rms_scale"], ["rms"], axis=-1),
        helper.make_node("LpNormalization", ["img"], ["l1"], p=1, axis=1),
        helper.make_node("LpNormalization", ["img"], ["l2"], p=2, axis=-1),
        helper.make_node("MeanVarianceNormalization", ["img"], ["mvn"]),
        helper.make_node("LRN", ["img"], ["lrn"], size=5, alpha=0.01, beta=0.6, bias=1.5),
    ]
    feeds = {"x": _rand(rng, 2, 3, 4), "scale": _rand(rng, 3, 4), "bias": _rand(rng, 3, 4),
             "rms_scale": _rand(rng, 4), "img": _rand(rng, 2, 6, 3, 5)}
    feeds["img"][0, :, 1, :] = 0.0  # all-zero vectors along both Lp axes: onnxruntime gives 0, not 0/0
    feeds["img"][1, 2, 2, :] = 0.0
    path = _model(tmp_path, nodes, {"x": (F, [2, 3, 4]), "scale": (F, [3, 4]), "bias": (F, [3, 4]),
                                    "rms_scale": (F, [4]), "img": (F, [2, 6, 3, 5])},
                  ["ln", "mean", "inv_std", "rms", "l1", "l2", "mvn", "lrn"], opset=23)
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["mean"].shape == (2, 1, 1)


@pytest.mark.node
@pytest.mark.parametrize("opset", [18, 21])
def test_group_and_instance_norm_with_run_time_parameters(tmp_path, tfjs_runtime, opset):
    """GroupNormalization: opset 18 scales per group, opset 21 per channel; InstanceNormalization's scale
    and B as graph inputs; both after a convolution (NHWC inside) and fed from a graph input."""
    rng = np.random.default_rng(3)
    per = 2 if opset == 18 else 6
    nodes = [
        helper.make_node("Conv", ["img", "k"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("GroupNormalization", ["conv", "gs", "gb"], ["gn"], num_groups=2, epsilon=1e-3),
        helper.make_node("GroupNormalization", ["img", "gs", "gb"], ["gn_in"], num_groups=2),
        helper.make_node("InstanceNormalization", ["conv", "s", "b"], ["inorm"]),
    ]
    feeds = {"img": _rand(rng, 2, 6, 5, 4), "gs": _rand(rng, per), "gb": _rand(rng, per), "s": _rand(rng, 6),
             "b": _rand(rng, 6)}
    inputs = {"img": (F, [2, 6, 5, 4]), "gs": (F, [per]), "gb": (F, [per]), "s": (F, [6]), "b": (F, [6])}
    init = {"k": _rand(rng, 6, 6, 3, 3)}
    path = _model(tmp_path, nodes, inputs, ["gn", "gn_in", "inorm"], opset=opset, initializers=init)
    _matches_onnxruntime(path, feeds, tmp_path)


class _PoolFormerBlock:
    """A PoolFormer block: GroupNorm(1) → pool mixer → residual, GroupNorm(1) → 1×1 MLP → residual."""

    @staticmethod
    def build(torch, channels: int):
        nn = torch.nn

        class Block(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.norm1, self.norm2 = nn.GroupNorm(1, channels), nn.GroupNorm(1, channels)
                self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
                self.fc1, self.fc2 = nn.Conv2d(channels, 2 * channels, 1), nn.Conv2d(2 * channels, channels, 1)

            def forward(self, x):
                y = self.norm1(x)
                x = x + (self.pool(y) - y)
                return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))

        return Block()


@pytest.mark.node
@pytest.mark.parametrize("dynamic_batch", [False, True])
def test_poolformer_group_norms_need_no_transposes(tmp_path, tfjs_runtime, dynamic_batch):
    """torch exports nn.GroupNorm as Reshape → InstanceNormalization → Reshape → Mul → Add; computed
    channels-last, a PoolFormer-like model keeps one Transpose per 4-D input and output (10 before).
    With a dynamic batch the Reshape back reads ``Shape(x)`` at run time (10 Transposes before too);
    run with another batch size than the export's."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), _PoolFormerBlock.build(torch, 8), _PoolFormerBlock.build(torch, 8),
                          nn.GroupNorm(2, 8)).eval()
    for p in model.parameters():  # non-trivial affine parameters
        p.data.uniform_(-1, 1)
    x = torch.randn(1, 3, 16, 16)
    path = tmp_path / "poolformer.onnx"
    dynamic = {"dynamic_axes": {"x": {0: "n"}, "y": {0: "n"}}} if dynamic_batch else {}
    torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                      output_names=["y"], **dynamic)
    feed = torch.randn(3, 3, 16, 16) if dynamic_batch else x
    _matches_onnxruntime(path, {"x": feed.numpy()}, tmp_path)
    ops = _ops(tmp_path / "poolformer_tfjs")
    assert ops["Transpose"] == 2, ops
    nhwc = tmp_path / "nhwc"
    tfjsconv.convert(path, nhwc, input_layout="nhwc")
    assert _ops(nhwc)["Transpose"] == 0


@pytest.mark.node
@pytest.mark.parametrize("dynamic", ["hw", "nhw"])
def test_group_norms_with_a_dynamic_image_size_need_no_transposes(tmp_path, tfjs_runtime, dynamic):
    """torch's GroupNorm export with an unknown image size (and batch): the grouped Reshape reads
    its sizes at run time, the Reshape back ``Shape(x)``; still one Transpose per 4-D input/output."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.GroupNorm(4, 8), nn.GELU(), nn.Conv2d(8, 8, 1),
                          nn.GroupNorm(1, 8)).eval()
    for p in model.parameters():
        p.data.uniform_(-1, 1)
    axes = {2: "h", 3: "w", **({0: "n"} if dynamic == "nhw" else {})}
    path = tmp_path / "group_norms.onnx"
    torch.onnx.export(model, (torch.randn(2, 3, 8, 8),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": axes, "y": dict(axes)})
    batch = 3 if dynamic == "nhw" else 2
    _matches_onnxruntime(path, {"x": torch.randn(batch, 3, 6, 10).numpy()}, tmp_path)
    assert _ops(tmp_path / "group_norms_tfjs")["Transpose"] == 2


# -- rotary embeddings ------------------------------------------------------------------------------
@pytest.mark.node
@pytest.mark.parametrize("interleaved", [0, 1])
def test_rotary_embedding(tmp_path, tfjs_runtime, interleaved):
    """4-D with position ids and a partial rotary dim, 3-D with num_heads and per-batch caches."""
    rng = np.random.default_rng(4)
    nodes = [
        helper.make_node("RotaryEmbedding", ["x4", "cos", "sin", "pos"], ["y4"], interleaved=interleaved,
                         rotary_embedding_dim=4),
        helper.make_node("RotaryEmbedding", ["x3", "cos3", "sin3"], ["y3"], interleaved=interleaved, num_heads=2),
    ]
    feeds = {"x4": _rand(rng, 2, 3, 5, 8), "cos": _rand(rng, 10, 2), "sin": _rand(rng, 10, 2),
             "pos": rng.integers(0, 10, (2, 5)), "x3": _rand(rng, 2, 5, 12), "cos3": _rand(rng, 2, 5, 3),
             "sin3": _rand(rng, 2, 5, 3)}
    inputs = {"x4": (F, [2, 3, 5, 8]), "cos": (F, [10, 2]), "sin": (F, [10, 2]), "pos": (I64, [2, 5]),
              "x3": (F, [2, 5, 12]), "cos3": (F, [2, 5, 3]), "sin3": (F, [2, 5, 3])}
    path = _model(tmp_path, nodes, inputs, ["y4", "y3"], opset=23)
    _matches_onnxruntime(path, feeds, tmp_path)


# -- recurrent layers -------------------------------------------------------------------------------
@pytest.mark.node
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_recurrent_weights_and_sequence_lens_at_run_time(tmp_path, tfjs_runtime, kind):
    """W, R, B (and LSTM's peepholes P), the initial state and sequence_lens are graph inputs: the weights
    are sliced and multiplied in the graph; sequences shorter than the input (lengths 4, 2, 0) freeze
    their state and output zeros from their length on, in the forward, reverse and bidirectional layers."""
    rng = np.random.default_rng(5)
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    seq, batch, size, hidden = 4, 3, 5, 3
    nodes, inputs, feeds, outputs = [], {"x": (F, [seq, batch, size]), "lens": (TensorProto.INT32, [batch])}, {}, []
    feeds["x"], feeds["lens"] = _rand(rng, seq, batch, size), np.array([4, 2, 0], np.int32)
    for direction, dirs in (("forward", 1), ("reverse", 1), ("bidirectional", 2)):
        tag = direction[0]
        names = [f"w{tag}", f"r{tag}", f"b{tag}", "lens", f"h{tag}"]
        shapes = [[dirs, gates * hidden, size], [dirs, gates * hidden, hidden], [dirs, 2 * gates * hidden],
                  None, [dirs, batch, hidden]]
        if kind == "LSTM":
            names += [f"c{tag}", f"p{tag}"]
            shapes += [[dirs, batch, hidden], [dirs, 3 * hidden]]
        for name, shape in zip(names, shapes):
            if shape is not None:
                inputs[name] = (F, shape)
                feeds[name] = _rand(rng, *shape) * 0.5
        outs = [f"y{tag}", f"yh{tag}"] + ([f"yc{tag}"] if kind == "LSTM" else [])
        attrs = {"linear_before_reset": 1} if kind == "GRU" and direction != "reverse" else {}
        nodes.append(helper.make_node(kind, ["x", *names], outs, hidden_size=hidden, direction=direction, **attrs))
        outputs += outs
    path = _model(tmp_path, nodes, inputs, outputs, opset=14)
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert not expected["yf"][2:, :, 1].any() and np.abs(expected["yf"][:2, :, 1]).min() > 0


@pytest.mark.node
def test_recurrent_weights_at_run_time_in_a_while_loop(tmp_path, tfjs_runtime):
    """A dynamic sequence length (a While loop, run with executeAsync) with W, R and B as graph inputs."""
    rng = np.random.default_rng(7)
    nodes = [helper.make_node("GRU", ["x", "w", "r", "b"], ["y", "yh"], hidden_size=3, direction="bidirectional",
                              linear_before_reset=1)]
    shapes = {"w": [2, 9, 4], "r": [2, 9, 3], "b": [2, 18]}
    inputs = {"x": (F, ["seq", 2, 4]), **{k: (F, v) for k, v in shapes.items()}}
    feeds = {"x": _rand(rng, 5, 2, 4), **{k: _rand(rng, *v) for k, v in shapes.items()}}
    path = _model(tmp_path, nodes, inputs, ["y", "yh"], opset=14)
    _matches_onnxruntime(path, feeds, tmp_path)
    assert _ops(tmp_path / "model_tfjs")["LoopCond"] == 2


# -- attention --------------------------------------------------------------------------------------
@pytest.mark.node
def test_attention_gqa_nonpad_and_sliding_windows(tmp_path, tfjs_runtime):
    """Grouped-query heads repeated at run time (3-D inputs, a dynamic batch), nonpad_kv_seqlen with
    causal and windowed offsets (a length of 1 leaves early queries no key: Y = 0), and a two-sided
    sliding window over a cache."""
    rng = np.random.default_rng(6)
    i64 = I64
    nodes = [
        helper.make_node("Attention", ["q3", "k3", "v3"], ["gqa"], q_num_heads=4, kv_num_heads=2, is_causal=1),
        helper.make_node("Attention", ["q", "k", "v", "", "", "", "lens"], ["padded", "", "", "probs"], is_causal=1,
                         qk_matmul_output_mode=3),
        helper.make_node("Attention", ["q", "k", "v", "keep", "", "", "lens"], ["padded_window"],
                         left_window_size=2),
        helper.make_node("Attention", ["q", "k", "v", "", "past_k", "past_v"], ["window", "present_k", "present_v"],
                         left_window_size=1, right_window_size=1),
    ]
    inputs = {"q3": (F, ["n", 5, 16]), "k3": (F, ["n", 6, 8]), "v3": (F, ["n", 6, 8]),
              "q": (F, [2, 4, 3, 4]), "k": (F, [2, 2, 6, 4]), "v": (F, [2, 2, 6, 4]), "lens": (i64, [2]),
              "keep": (TensorProto.BOOL, [3, 6]), "past_k": (F, [2, 2, 2, 4]), "past_v": (F, [2, 2, 2, 4])}
    feeds = {"q3": _rand(rng, 2, 5, 16), "k3": _rand(rng, 2, 6, 8), "v3": _rand(rng, 2, 6, 8),
             "q": _rand(rng, 2, 4, 3, 4), "k": _rand(rng, 2, 2, 6, 4), "v": _rand(rng, 2, 2, 6, 4),
             "lens": np.array([5, 1], np.int64), "keep": rng.random((3, 6)) > 0.3,
             "past_k": _rand(rng, 2, 2, 2, 4), "past_v": _rand(rng, 2, 2, 2, 4)}
    path = _model(tmp_path, nodes, inputs, ["gqa", "padded", "probs", "padded_window", "window", "present_k"],
                  opset=25)
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert not expected["padded"][1, :, :2].any() and expected["padded"][0].all()


@pytest.mark.node
def test_attention_qk_outputs_with_softcap_and_float_mask(tmp_path, tfjs_runtime):
    """qk_matmul_output_mode 0-3 next to a softcap and a float mask: mode 0 is the scaled Q·Kᵀ before
    the softcap (onnxruntime; 1 is softcapped, 2 also masked, 3 the probabilities)."""
    rng = np.random.default_rng(7)
    nodes = [helper.make_node("Attention", ["q", "k", "v", "mask"], ["y", "", "", f"qk{mode}"], softcap=2.0,
                              qk_matmul_output_mode=mode) for mode in range(4)]
    for n, node in enumerate(nodes):
        node.output[0] = f"y{n}"
    inputs = {"q": (F, [1, 2, 3, 4]), "k": (F, [1, 2, 5, 4]), "v": (F, [1, 2, 5, 4]), "mask": (F, [3, 5])}
    feeds = {"q": _rand(rng, 1, 2, 3, 4) * 3, "k": _rand(rng, 1, 2, 5, 4) * 3, "v": _rand(rng, 1, 2, 5, 4),
             "mask": _rand(rng, 3, 5)}
    path = _model(tmp_path, nodes, inputs, ["y0", "qk0", "qk1", "qk2", "qk3"], opset=23)
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert np.abs(expected["qk0"]).max() > 2.0 >= np.abs(expected["qk1"]).max()  # the softcap bounds mode 1 only
