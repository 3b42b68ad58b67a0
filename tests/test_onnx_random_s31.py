"""ONNX refusals the random graph hunter (``bench/onnx_random_graphs.py``, sessions 30-31) met, now exact in TF.js
(cpu and wasm) against onnxruntime at two run-time sizes, or still refused by name."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402

F = TensorProto.FLOAT


@pytest.mark.node
def test_arg_extremes_select_last_index_over_an_axis_of_unknown_size(tmp_path, tfjs_runtime):
    """ArgMax/ArgMin with select_last_index=1 over an axis of unknown size was refused (it counts from the end):
    the last position is read from the input's run-time shape (graph 3121/3 of the hunter). Ties are drawn so the
    last index differs from the first."""
    nodes = [helper.make_node("ArgMax", ["x"], ["max_last"], axis=1, select_last_index=1),
             helper.make_node("ArgMin", ["x"], ["min_last"], axis=-1, select_last_index=1, keepdims=0),
             helper.make_node("ArgMax", ["x"], ["max_first"], axis=1)]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, [2, "n", "m"])}, ["max_last", "min_last", "max_first"],
                      opset=13)
    tfjsconv.convert(path, tmp_path / "out")
    rng = np.random.default_rng(31)
    for n, m in ((5, 3), (7, 6)):
        x = rng.integers(-2, 3, (2, n, m)).astype(np.float32)
        expected = matches_onnxruntime(path, {"x": x}, tmp_path / "out", convert=False)
        assert not np.array_equal(expected["max_last"], expected["max_first"])


@pytest.mark.node
@pytest.mark.parametrize("mode,transform,nearest", [
    ("nearest", "asymmetric", "floor"), ("nearest", "half_pixel", "round_prefer_ceil"),
    ("linear", "half_pixel", "round_prefer_floor"), ("linear", "align_corners", "round_prefer_floor"),
    ("cubic", "pytorch_half_pixel", "round_prefer_floor")])
def test_resize_by_constant_scales_over_spatial_axes_of_unknown_size(tmp_path, tfjs_runtime, mode, transform,
                                                                      nearest):
    """Resize by constant scales (and to constant sizes through ``axes``) where H and W are symbolic was refused
    ("needs the resized axes' sizes at conversion time", graphs 3005/12, 3005/24, 3121/5): onnxruntime's output
    lengths floor(in * scale) and coordinates are computed in the graph at run time."""
    init = {"scales": np.array([1.0, 1.0, 1.5, 0.75], np.float32), "roi": np.zeros(0, np.float32),
            "sizes": np.array([5, 3], np.int64)}
    attrs = {"mode": mode, "coordinate_transformation_mode": transform, "nearest_mode": nearest}
    nodes = [helper.make_node("Resize", ["x", "roi", "scales"], ["scaled"], **attrs),
             helper.make_node("Resize", ["x", "roi", "", "sizes"], ["sized"], axes=[2, 3], **attrs)]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, ["b", 2, "h", "w"])}, ["scaled", "sized"], opset=18,
                      initializers=init)
    tfjsconv.convert(path, tmp_path / "out")
    rng = np.random.default_rng(32)
    for shape in ((1, 2, 4, 6), (2, 2, 7, 5)):
        feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
        expected = matches_onnxruntime(path, feeds, tmp_path / "out", convert=False)
        assert expected["scaled"].shape[2:] == (int(shape[2] * 1.5), int(shape[3] * 0.75))



@pytest.mark.node
def test_resize_of_unknown_spatial_axes_with_axes_roi_and_shifted_nearest(tmp_path, tfjs_runtime):
    """The run-time build over unknown H/W keeps each scale at its place in ``axes`` (a batch of unknown size and
    scale 1 listed first), reads a constant roi whose batch and channel entries are [0, 1] (tf_crop_and_resize
    leaves such an axis as it is; graph 3122/38 of the hunter), and tf_half_pixel_for_nn's floor nearest
    (index x at scale 1)."""
    init = {"axes_scales": np.array([1.0, 0.5, 1.75], np.float32), "roi": np.zeros(0, np.float32),
            "crop_roi": np.array([0, 0, 0.1, 0.25, 1, 1, 0.8, 1.0], np.float32),
            "all_scales": np.array([1.0, 1.0, 2.0, 1.5], np.float32)}
    nodes = [helper.make_node("Resize", ["x", "roi", "axes_scales"], ["listed"], axes=[0, 2, 3], mode="linear"),
             helper.make_node("Resize", ["x", "crop_roi", "all_scales"], ["cropped"], mode="linear",
                              coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-3.0),
             helper.make_node("Resize", ["x", "roi", "all_scales"], ["shifted"], mode="nearest",
                              coordinate_transformation_mode="tf_half_pixel_for_nn", nearest_mode="floor")]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, ["b", 3, "h", "w"])}, ["listed", "cropped", "shifted"],
                      opset=18, initializers=init)
    tfjsconv.convert(path, tmp_path / "out")
    rng = np.random.default_rng(36)
    for shape in ((1, 3, 6, 4), (2, 3, 5, 7)):
        feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
        matches_onnxruntime(path, feeds, tmp_path / "out", convert=False)


@pytest.mark.node
@pytest.mark.parametrize("policy,sizes,axes", [("not_larger", [1, 2, 10, 8], None), ("not_smaller", [1, 2, 2, 3], None),
                                               ("not_larger", [2, 9], [1, 3]), ("not_larger", [10, 8], [2, 3])])
def test_resize_sizes_keeping_the_aspect_ratio_count_listed_batch_and_channel_axes(tmp_path, tfjs_runtime, policy,
                                                                                     sizes, axes):
    """keep_aspect_ratio_policy takes the smallest (largest) ratio over every listed axis: N and C listed add their
    ratio 1 (review r7: [1, 2, 10, 8] of [1, 2, 5, 5] not_larger gave 8x8 over unknown H/W, onnxruntime 5x5)."""
    init = {"sizes": np.array(sizes, np.int64), "roi": np.zeros(0, np.float32), "scales": np.zeros(0, np.float32)}
    extra = {} if axes is None else {"axes": axes}
    nodes = [helper.make_node("Resize", ["x", "roi", "scales", "sizes"], ["y"], mode="linear",
                              keep_aspect_ratio_policy=policy, **extra)]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, [1, 2, "h", "w"])}, ["y"], opset=18,
                      initializers=init)
    tfjsconv.convert(path, tmp_path / "out")
    rng = np.random.default_rng(37)
    for shape in ((1, 2, 5, 5), (1, 2, 3, 7)):
        feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
        matches_onnxruntime(path, feeds, tmp_path / "out", convert=False)


def test_resize_of_unknown_spatial_axes_that_also_scales_channels_is_refused_by_name(tmp_path):
    """The run-time build resizes H and W only: a channel scale other than 1 stays refused, naming the node."""
    init = {"scales": np.array([1.0, 2.0, 2.0, 2.0], np.float32), "roi": np.zeros(0, np.float32)}
    nodes = [helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="nearest")]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, [1, 2, "h", "w"])}, ["y"], opset=18,
                      initializers=init)
    with pytest.raises(Exception, match=r"Resize.*only the spatial axes \(H, W\) can be resized"):
        tfjsconv.convert(path, tmp_path / "out")


@pytest.mark.node
def test_max_pool_ceil_mode_over_spatial_axes_of_unknown_size(tmp_path, tfjs_runtime):
    """MaxPool with ceil_mode=1 over H/W of unknown size was refused ("needs static spatial dimensions"): a
    VALID pool over the input padded by stride - 1 more, keeping the windows that start before the end padding
    (counted at run time). Covers a dropped last window (1-D), pads on both sides and stride 1 (nothing extra)."""
    nodes = [helper.make_node("MaxPool", ["x"], ["strided"], kernel_shape=[3, 2], strides=[2, 3],
                              pads=[1, 0, 1, 1], ceil_mode=1),
             helper.make_node("MaxPool", ["x"], ["stride_one"], kernel_shape=[3, 3], ceil_mode=1),
             helper.make_node("Reshape", ["x", "flat_shape"], ["x1"]),
             helper.make_node("MaxPool", ["x1"], ["one_d"], kernel_shape=[2], strides=[3], pads=[0, 1], ceil_mode=1)]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, ["n", 2, "h", "w"])}, ["strided", "stride_one", "one_d"],
                      opset=13, initializers={"flat_shape": np.array([0, 0, -1], np.int64)})
    tfjsconv.convert(path, tmp_path / "out")
    rng = np.random.default_rng(33)
    for shape in ((1, 2, 5, 7), (2, 2, 8, 4), (1, 2, 6, 3)):
        feeds = {"x": -np.abs(rng.standard_normal(shape)).astype(np.float32)}
        matches_onnxruntime(path, feeds, tmp_path / "out", convert=False)



@pytest.mark.node
def test_dilated_max_pool_over_spatial_axes_of_unknown_size(tmp_path, tfjs_runtime):
    """A dilated MaxPool over H/W of unknown size was refused ("dilated pooling ... needs static spatial
    dimensions"): the Maximum of one strided slice per kernel tap, each ending a fixed distance before the padded
    end, so no size is needed; with ceil_mode the windows that start before the end padding are kept."""
    nodes = [helper.make_node("MaxPool", ["x"], ["dilated"], kernel_shape=[2, 3], dilations=[2, 1], strides=[1, 2],
                              pads=[1, 0, 0, 2]),
             helper.make_node("MaxPool", ["x"], ["dilated_ceil"], kernel_shape=[2, 2], dilations=[2, 3],
                              strides=[2, 2], pads=[0, 1, 1, 0], ceil_mode=1),
             helper.make_node("Reshape", ["x", "flat_shape"], ["x1"]),
             helper.make_node("MaxPool", ["x1"], ["one_d"], kernel_shape=[3], dilations=[2], strides=[2], pads=[2, 1],
                              ceil_mode=1)]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, ["n", 2, "h", "w"])},
                      ["dilated", "dilated_ceil", "one_d"], opset=13,
                      initializers={"flat_shape": np.array([0, 0, -1], np.int64)})
    tfjsconv.convert(path, tmp_path / "out")
    rng = np.random.default_rng(34)
    for shape in ((1, 2, 5, 7), (2, 2, 8, 6), (1, 2, 4, 9)):
        feeds = {"x": -np.abs(rng.standard_normal(shape)).astype(np.float32)}
        matches_onnxruntime(path, feeds, tmp_path / "out", convert=False)


@pytest.mark.node
def test_average_and_lp_pools_over_spatial_axes_of_unknown_size(tmp_path, tfjs_runtime):
    """AveragePool over H/W of unknown size with pads not counted, ceil_mode or dilations, and a dilated LpPool,
    were refused ("these pooling pads need static spatial dimensions", "ceil_mode=1 needs ...", "dilated pooling
    ..."): window sums of strided taps divided by the same sums of a mask of the counted elements (onnxruntime's
    divisor: real elements, or with count_include_pad also ONNX's pads but never ceil_mode's overflow)."""
    nodes = [helper.make_node("AveragePool", ["x"], ["real_only"], kernel_shape=[3, 2], strides=[2, 1],
                              pads=[1, 1, 2, 0]),
             helper.make_node("AveragePool", ["x"], ["ceil_with_pads"], kernel_shape=[2, 3], strides=[2, 2],
                              pads=[1, 0, 1, 2], ceil_mode=1, count_include_pad=1),
             helper.make_node("AveragePool", ["x"], ["dilated_ceil"], kernel_shape=[2, 2], strides=[2, 3],
                              dilations=[2, 1], pads=[0, 1, 1, 1], ceil_mode=1),
             helper.make_node("LpPool", ["x"], ["lp"], kernel_shape=[2, 2], dilations=[1, 2], pads=[1, 0, 0, 1], p=2),
             helper.make_node("Reshape", ["x", "flat_shape"], ["x1"]),
             helper.make_node("AveragePool", ["x1"], ["one_d"], kernel_shape=[3], strides=[2], pads=[1, 2], ceil_mode=1)]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, ["n", 2, "h", "w"])},
                      ["real_only", "ceil_with_pads", "dilated_ceil", "lp", "one_d"], opset=19,
                      initializers={"flat_shape": np.array([0, 0, -1], np.int64)})
    tfjsconv.convert(path, tmp_path / "out")
    rng = np.random.default_rng(35)
    for shape in ((1, 2, 5, 7), (2, 2, 8, 6), (1, 2, 4, 9)):
        feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
        matches_onnxruntime(path, feeds, tmp_path / "out", convert=False)


@pytest.mark.node
def test_range_with_a_positive_delta_up_to_1_and_a_limit_below_start_is_empty(tmp_path, tfjs_runtime):
    """TF.js's Range empties a range running away from its limit only for ``delta > 1``: Range(2, n, 1) with a
    run-time n < 2 gave [2] where onnxruntime's is empty (graph 3123/30 of the hunter, WRONG: shape [1] for [0]).
    Constant deltas 1 and 0.5, and a delta read at run time (either sign)."""
    f32 = {"two": np.array(2.0, np.float32), "one": np.array(1.0, np.float32), "half": np.array(0.5, np.float32),
           "first": np.array([0], np.int64), "i_two": np.array(2, np.int64), "i_one": np.array(1, np.int64)}
    nodes = [helper.make_node("Shape", ["x"], ["shape"]), helper.make_node("Gather", ["shape", "first"], ["n_vec"]),
             helper.make_node("Squeeze", ["n_vec"], ["n"]), helper.make_node("Cast", ["n"], ["n_f"], to=F),
             helper.make_node("Range", ["two", "n_f", "one"], ["by_one"]),
             helper.make_node("Range", ["two", "n_f", "half"], ["by_half"]),
             helper.make_node("Range", ["i_two", "n", "i_one"], ["ints"]),
             helper.make_node("Range", ["two", "n_f", "step"], ["by_step"])]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, ["n"]), "step": (F, [])},
                      ["by_one", "by_half", "ints", "by_step"], opset=13, initializers=f32)
    tfjsconv.convert(path, tmp_path / "out")
    for n, step in ((1, 1.0), (0, 0.5), (5, 1.0), (1, -0.5), (4, -1.0)):
        feeds = {"x": np.zeros(n, np.float32), "step": np.array(step, np.float32)}
        expected = matches_onnxruntime(path, feeds, tmp_path / "out", convert=False)
        assert (expected["by_one"].size == 0) == (n <= 2)
