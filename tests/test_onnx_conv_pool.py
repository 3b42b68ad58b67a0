"""ONNX convolutions, pooling and batch norm beyond the constant-weight forms, run in real TF.js.

Weights computed at run time (graph inputs), ConvTranspose's output_shape, batch norm with run-time
parameters and in training mode, dilated pools, MaxPool's Indices, 8-bit MaxPool on wasm,
MaxUnpool and Col2Im: each model runs on cpu and wasm and is compared with onnxruntime.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402
from tfjsconv.errors import TfjsconvError  # noqa: E402

BACKENDS = ("cpu", "wasm")
F = TensorProto.FLOAT


def _model(tmp_path: Path, nodes: list, inputs: dict, outputs: list[str], *, opset: int = 18,
           initializers: dict | None = None) -> Path:
    """A graph of ``nodes`` with typed inputs (name -> (elem type, shape)); output types left to inference."""
    return onnx_model(tmp_path / "model.onnx", nodes, inputs, outputs, opset=opset, initializers=initializers,
                      name="conv_pool")


def _matches_onnxruntime(path: Path, feeds: dict[str, np.ndarray], tmp_path: Path, **options) -> dict:
    """Convert, run on cpu and wasm, compare with onnxruntime; returns onnxruntime's outputs."""
    return matches_onnxruntime(path, feeds, tmp_path / "out", **options)


def _feeds(inputs: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal([2 if d == "n" else d for d in s]).astype(np.float32)
            for k, (_, s) in inputs.items()}


@pytest.mark.node
def test_conv_with_weights_computed_at_run_time(tmp_path, tfjs_runtime):
    """Dense, depthwise, grouped, 1-D, 3-D and grouped 3-D Conv whose weight and bias are graph inputs:
    the weight is permuted (and split per group) in the graph."""
    inputs = {"x": (F, ["n", 4, 7, 6]), "w": (F, [6, 4, 3, 3]), "b": (F, [6]), "wd": (F, [8, 1, 3, 3]),
              "wg": (F, [6, 2, 2, 3]), "x1": (F, [1, 3, 9]), "w1": (F, [5, 3, 3]),
              "x3": (F, [1, 2, 5, 4, 4]), "w3": (F, [3, 2, 2, 3, 2]), "w3g": (F, [4, 1, 2, 2, 2])}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["dense"], pads=[1, 0, 2, 1], strides=[2, 1]),
             helper.make_node("Conv", ["x", "wd"], ["depthwise"], group=4, dilations=[2, 1]),
             helper.make_node("Conv", ["x", "wg", "b"], ["grouped"], group=2, auto_pad="SAME_UPPER"),
             helper.make_node("Conv", ["x1", "w1"], ["one_d"], pads=[1, 1], strides=[2]),
             helper.make_node("Conv", ["x3", "w3"], ["three_d"], pads=[0, 1, 0, 1, 0, 1]),
             helper.make_node("Conv", ["x3", "w3g", "b3"], ["three_d_grouped"], group=2, strides=[2, 1, 1])]
    path = _model(tmp_path, nodes, inputs, ["dense", "depthwise", "grouped", "one_d", "three_d", "three_d_grouped"],
                  initializers={"b3": np.arange(4, dtype=np.float32)})
    expected = _matches_onnxruntime(path, _feeds(inputs), tmp_path)
    assert expected["depthwise"].shape == (2, 8, 3, 4)


@pytest.mark.node
def test_conv_transpose_with_weights_computed_at_run_time(tmp_path, tfjs_runtime):
    """ConvTranspose with a run-time weight: grouped + dilated (the filter zero-dilated in the graph),
    1-D, 3-D (flipped with ReverseV2) also grouped, and an output_shape one larger than the natural size."""
    inputs = {"x": (F, ["n", 4, 3, 4]), "w": (F, [4, 3, 2, 3]), "b": (F, [6]), "x1": (F, [1, 2, 5]),
              "w1": (F, [2, 3, 3]), "x3": (F, [1, 2, 3, 2, 3]), "w3": (F, [2, 2, 2, 2, 3]),
              "ws": (F, [4, 2, 3, 3]), "w3g": (F, [2, 2, 2, 1, 2])}
    nodes = [helper.make_node("ConvTranspose", ["x", "w", "b"], ["grouped"], group=2, dilations=[2, 1],
                              strides=[2, 2], pads=[1, 0, 0, 1]),
             helper.make_node("ConvTranspose", ["x1", "w1"], ["one_d"], strides=[2], output_padding=[1]),
             helper.make_node("ConvTranspose", ["x3", "w3"], ["three_d"], strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1]),
             helper.make_node("ConvTranspose", ["x", "ws"], ["shaped"], strides=[3, 2], output_shape=[10, 10]),
             helper.make_node("ConvTranspose", ["x3", "w3g"], ["three_d_grouped"], group=2, strides=[1, 2, 2],
                              pads=[0, 1, 0, 0, 0, 1])]
    path = _model(tmp_path, nodes, inputs, ["grouped", "one_d", "three_d", "shaped", "three_d_grouped"])
    expected = _matches_onnxruntime(path, _feeds(inputs, 1), tmp_path)
    assert expected["shaped"].shape == (2, 2, 10, 10)


def test_conv_transpose_output_shape_beyond_a_stride_is_refused(tmp_path):
    inputs = {"x": (F, [1, 2, 3, 3]), "w": (F, [2, 1, 3, 3])}
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], output_shape=[9, 9])]
    path = _model(tmp_path, nodes, inputs, ["y"])
    with pytest.raises(TfjsconvError, match="output_shape .* larger than the transposed convolution can produce"):
        tfjsconv.convert(path, tmp_path / "out")


@pytest.mark.node
def test_batch_norm_with_run_time_parameters_and_training_mode(tmp_path, tfjs_runtime):
    """Run-time scale/B/mean/var (after a Conv, so NHWC inside, and on a 3-D input), and
    training_mode=1 with the running mean and variance outputs."""
    inputs = {"x": (F, [2, 3, 5, 4]), "w": (F, [4, 3, 1, 1]), "s": (F, [4]), "bias": (F, [4]), "m": (F, [4]),
              "x3": (F, [2, 4, 6]), "xt": (F, [3, 4, 2, 5])}
    var = np.random.default_rng(2).uniform(0.5, 2.0, 4).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "s", "bias", "m", "v"], ["y"], epsilon=1e-3),
             helper.make_node("BatchNormalization", ["x3", "s", "bias", "m", "v"], ["y3"]),
             helper.make_node("BatchNormalization", ["xt", "s", "bias", "m", "v"], ["yt", "rm", "rv"],
                              training_mode=1, momentum=0.8)]
    path = _model(tmp_path, nodes, inputs, ["y", "y3", "yt", "rm", "rv"], opset=15, initializers={"v": var})
    feeds = _feeds(inputs, 2)
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["rm"].shape == (4,)


@pytest.mark.node
def test_dilated_pools(tmp_path, tfjs_runtime):
    """MaxPool/AveragePool/LpPool with dilations (1-D, 2-D, 3-D), with pads, ceil_mode and count_include_pad."""
    inputs = {"x": (F, [1, 3, 9, 8]), "x1": (F, [2, 2, 11]), "x3": (F, [1, 2, 6, 5, 7])}
    nodes = [helper.make_node("MaxPool", ["x"], ["max2"], kernel_shape=[3, 2], dilations=[2, 3], pads=[1, 1, 0, 1],
                              strides=[2, 1], ceil_mode=1),
             helper.make_node("AveragePool", ["x"], ["avg2"], kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 1, 1, 1],
                              strides=[2, 2]),
             helper.make_node("AveragePool", ["x3"], ["avg3"], kernel_shape=[2, 2, 2], dilations=[2, 1, 2],
                              pads=[1, 0, 1, 0, 1, 1], count_include_pad=1, ceil_mode=1, strides=[2, 2, 2]),
             helper.make_node("MaxPool", ["x3"], ["max3"], kernel_shape=[2, 2, 2], dilations=[2, 2, 2]),
             helper.make_node("LpPool", ["x1"], ["lp1"], kernel_shape=[3], dilations=[3], p=3, pads=[2, 1]),
             helper.make_node("MaxPool", ["x1"], ["max1"], kernel_shape=[2], dilations=[4], pads=[0, 1])]
    path = _model(tmp_path, nodes, inputs, ["max2", "avg2", "avg3", "max3", "lp1", "max1"], opset=19)
    _matches_onnxruntime(path, _feeds(inputs, 3), tmp_path)


def test_dilated_pool_with_same_auto_pad_is_refused(tmp_path):
    """onnxruntime sizes a dilated SAME pool unlike the ONNX spec (11 -> 8, not 11): refused, not guessed."""
    inputs = {"x": (F, [1, 1, 11])}
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2], dilations=[4], auto_pad="SAME_UPPER")]
    path = _model(tmp_path, nodes, inputs, ["y"], opset=19)
    with pytest.raises(TfjsconvError, match="auto_pad=SAME_UPPER with dilations"):
        tfjsconv.convert(path, tmp_path / "out")


@pytest.mark.node
def test_maxpool_indices_and_max_unpool(tmp_path, tfjs_runtime):
    """MaxPool's Indices (row- and column-major, padded, ties: the first maximum wins) and MaxUnpool of
    them, with overlapping windows so one index can come back more than once."""
    inputs = {"x": (F, [2, 3, 5, 6])}
    nodes = [helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 3], pads=[1, 1, 0, 1], strides=[2, 2]),
             helper.make_node("MaxPool", ["x"], ["y_col", "i_col"], kernel_shape=[3, 2], strides=[1, 2],
                              storage_order=1),
             helper.make_node("MaxPool", ["x"], ["y_o", "i_o"], kernel_shape=[2, 2], strides=[1, 1]),
             helper.make_node("MaxUnpool", ["y_o", "i_o"], ["unpooled"], kernel_shape=[2, 2], strides=[1, 1])]
    path = _model(tmp_path, nodes, inputs, ["y", "i", "i_col", "unpooled"])
    feeds = {"x": np.round(np.random.default_rng(4).standard_normal((2, 3, 5, 6)) * 2).astype(np.float32)}  # ties
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["i"].dtype == np.int64 and len(np.unique(feeds["x"])) < feeds["x"].size


def test_maxpool_indices_need_a_static_batch(tmp_path):
    inputs = {"x": (F, ["n", 3, 4, 4])}
    nodes = [helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2])]
    path = _model(tmp_path, nodes, inputs, ["y", "i"])
    with pytest.raises(TfjsconvError, match="Indices output needs a static batch size"):
        tfjsconv.convert(path, tmp_path / "out")


@pytest.mark.node
def test_uint8_and_int8_maxpool_run_on_wasm(tmp_path, tfjs_runtime):
    """wasm's MaxPool takes float32 only: 8-bit integers go through float32 and back (exact)."""
    inputs = {"u": (TensorProto.UINT8, [1, 2, 5, 5]), "s": (TensorProto.INT8, [1, 1, 6])}
    nodes = [helper.make_node("MaxPool", ["u"], ["yu"], kernel_shape=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["s"], ["ys"], kernel_shape=[3], dilations=[2])]
    path = _model(tmp_path, nodes, inputs, ["yu", "ys"], opset=12)
    rng = np.random.default_rng(5)
    feeds = {"u": rng.integers(0, 256, (1, 2, 5, 5)).astype(np.uint8),
             "s": rng.integers(-128, 128, (1, 1, 6)).astype(np.int8)}
    _matches_onnxruntime(path, feeds, tmp_path)


@pytest.mark.node
def test_col2im(tmp_path, tfjs_runtime):
    """Col2Im: non-overlapping tiles (a Reshape + Transpose), overlapping blocks with strides, pads and
    dilations (a transposed convolution with a one-hot filter), 1-D, and 3-D tiles."""
    inputs = {"t": (F, [2, 3 * 4, 6]), "o": (F, [1, 2 * 6, 15]), "d": (F, [1, 2 * 4, 12]), "l": (F, [1, 2 * 3, 4]),
              "v": (F, [1, 2 * 4, 3 * 2])}
    consts = {"img_t": np.array([4, 6]), "blk_t": np.array([2, 2]), "img_o": np.array([5, 6]),
              "blk_o": np.array([2, 3]), "img_d": np.array([5, 5]), "blk_d": np.array([2, 2]),
              "img_l": np.array([6]), "blk_l": np.array([3]), "img_v": np.array([3, 4, 2]),
              "blk_v": np.array([1, 2, 2])}
    nodes = [helper.make_node("Col2Im", ["t", "img_t", "blk_t"], ["tiles"], strides=[2, 2]),
             helper.make_node("Col2Im", ["o", "img_o", "blk_o"], ["overlap"], strides=[1, 2], pads=[1, 1, 0, 1]),
             helper.make_node("Col2Im", ["d", "img_d", "blk_d"], ["dilated"], dilations=[2, 2], pads=[0, 1, 0, 0]),
             helper.make_node("Col2Im", ["l", "img_l", "blk_l"], ["one_d"]),
             helper.make_node("Col2Im", ["v", "img_v", "blk_v"], ["three_d"], strides=[1, 2, 2])]
    path = _model(tmp_path, nodes, inputs, ["tiles", "overlap", "dilated", "one_d", "three_d"],
                  initializers={k: v.astype(np.int64) for k, v in consts.items()})
    expected = _matches_onnxruntime(path, _feeds(inputs, 6), tmp_path)
    assert expected["overlap"].shape == (1, 2, 5, 6)


@pytest.mark.node
def test_deform_conv(tmp_path, tfjs_runtime):
    """DeformConv with offsets that reach outside the image, a mask, a bias, strides, pads, dilations,
    two offset groups and (with a constant weight) two convolution groups."""
    inputs = {"x": (F, [2, 4, 6, 5]), "w": (F, [3, 4, 2, 2]), "off": (F, [2, 2 * 4 * 2, 4, 2]),
              "mask": (F, [2, 2 * 4, 4, 2]), "b": (F, [3]), "off1": (F, [2, 9 * 2, 2, 2])}
    rng = np.random.default_rng(7)
    wg = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("DeformConv", ["x", "w", "off", "b", "mask"], ["y"], kernel_shape=[2, 2],
                              strides=[2, 2], pads=[1, 0, 1, 1], dilations=[1, 2], offset_group=2),
             helper.make_node("DeformConv", ["x", "wg", "off1"], ["yg"], group=2, strides=[2, 2], pads=[0, 0, 0, 0])]
    path = _model(tmp_path, nodes, inputs, ["y", "yg"], opset=19, initializers={"wg": wg})
    feeds = _feeds(inputs, 7)
    feeds["off"] *= 2.5
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["y"].shape == (2, 3, 4, 2) and expected["yg"].shape == (2, 4, 2, 2)


@pytest.mark.node
def test_conv_integer(tmp_path, tfjs_runtime):
    """ConvInteger in float32 is exact while the sums stay below 2^24: uint8 and int8 operands, zero points
    as constants and as graph inputs, a run-time and a constant (grouped) weight."""
    u8, i8 = TensorProto.UINT8, TensorProto.INT8
    inputs = {"x": (u8, [2, 4, 6, 5]), "w": (u8, [3, 4, 3, 3]), "xz": (u8, []), "s": (i8, [1, 4, 5, 5])}
    rng = np.random.default_rng(8)
    consts = {"wz": np.array(7, np.uint8), "wg": rng.integers(-128, 128, (4, 2, 2, 2)).astype(np.int8),
              "sz": np.array(-3, np.int8)}
    nodes = [helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], pads=[1, 1, 0, 1], strides=[2, 1]),
             helper.make_node("ConvInteger", ["s", "wg", "sz"], ["yg"], group=2, dilations=[2, 1])]
    path = _model(tmp_path, nodes, inputs, ["y", "yg"], opset=10, initializers=consts)
    feeds = {"x": rng.integers(0, 256, (2, 4, 6, 5)).astype(np.uint8), "w": rng.integers(0, 256, (3, 4, 3, 3)).astype(np.uint8),
             "xz": np.array(128, np.uint8), "s": rng.integers(-128, 128, (1, 4, 5, 5)).astype(np.int8)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert np.abs(expected["y"]).max() > 1 << 16  # large integers, still exact


def test_conv_integer_beyond_float32_exact_integers_is_refused(tmp_path):
    inputs = {"x": (TensorProto.UINT8, [1, 300, 3, 3]), "w": (TensorProto.UINT8, [1, 300, 1, 1])}
    path = _model(tmp_path, [helper.make_node("ConvInteger", ["x", "w"], ["y"])], inputs, ["y"], opset=10)
    with pytest.raises(TfjsconvError, match="could exceed 2\\^24"):
        tfjsconv.convert(path, tmp_path / "out")


def test_conv_integer_with_a_misshapen_weight_zero_point_is_refused(tmp_path):
    """w_zero_point holds one value or one per output channel; two for four channels is a clear refusal."""
    inputs = {"x": (TensorProto.UINT8, [1, 2, 3, 3])}
    consts = {"w": np.ones((4, 2, 1, 1), np.uint8), "wz": np.array([1, 2], np.uint8)}
    path = _model(tmp_path, [helper.make_node("ConvInteger", ["x", "w", "", "wz"], ["y"])], inputs, ["y"], opset=10,
                  initializers=consts)
    with pytest.raises(TfjsconvError, match="w_zero_point has 2 values; it needs 1 or one per output channel"):
        tfjsconv.convert(path, tmp_path / "out")
