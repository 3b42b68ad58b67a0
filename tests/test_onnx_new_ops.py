"""ONNX ops added for issue 14 (sampling, signal, detection, sets, exact Resize), each checked in real TF.js.

Every model is converted, run on cpu and wasm under Node and compared with onnxruntime on the same
inputs; refusals assert their message. Models are small graphs built with ``onnx.helper`` (and one
torch export of ``F.affine_grid`` + ``F.grid_sample``).
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
from tfjsconv.errors import InputError  # noqa: E402

BACKENDS = ("cpu", "wasm")
F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(tmp_path: Path, nodes: list, inputs: dict, outputs: list[str], *, opset: int = 18,
           initializers: dict | None = None, name: str = "model") -> Path:
    """A graph of ``nodes`` with typed inputs (name -> (elem type, shape)); output types left to inference."""
    return onnx_model(tmp_path / f"{name}.onnx", nodes, inputs, outputs, opset=opset, initializers=initializers,
                      name="new_ops")


def _matches_onnxruntime(path: Path, feeds: dict[str, np.ndarray], tmp_path: Path, *, out: str = "out",
                         convert: bool = True, backends: tuple[str, ...] = BACKENDS, browser=None,
                         rtol: float = 1e-4) -> dict:
    """Convert, run on cpu and wasm (or ``backends``), compare with onnxruntime; returns onnxruntime's outputs."""
    return matches_onnxruntime(path, feeds, tmp_path / out, convert=convert, backends=backends,
                               browser_session=browser, rtol=rtol, narrow_int64_feeds=True)


def _ops(out: Path) -> set[str]:
    import json

    return {n["op"] for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]}


@pytest.mark.node
def test_new_ops_after_a_conv_keep_the_nhwc_layout_right(tmp_path, tfjs_runtime):
    """Conv output (NHWC inside) into CenterCropPad, GridSample, a nearest Resize along C and H, a cubic one,
    RoiAlign and Compress along the channels: each reads the layout it is given."""
    w = np.random.default_rng(7).standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("CenterCropPad", ["c", "crop"], ["cc"], axes=[2, 3]),
             helper.make_node("GridSample", ["cc", "grid"], ["gs"], mode="bicubic", padding_mode="border"),
             helper.make_node("Resize", ["c", "", "scales"], ["rs"], mode="nearest", nearest_mode="ceil"),
             helper.make_node("Resize", ["c", "", "scales_hw"], ["rc"], mode="cubic", exclude_outside=1),
             helper.make_node("RoiAlign", ["c", "rois", "idx"], ["ra"], output_height=2, output_width=3,
                              sampling_ratio=2),
             helper.make_node("Compress", ["c", "keep"], ["cp"], axis=1)]
    inits = {"w": w, "crop": np.array([5, 9], np.int64), "scales": np.array([1, 0.5, 1.5, 1], np.float32),
             "scales_hw": np.array([1, 1, 0.6, 1.3], np.float32),
             "rois": np.array([[0.5, 1, 5, 6], [2, 0, 7, 4]], np.float32), "idx": np.array([1, 0], np.int64),
             "keep": np.array([True, False, True, True])}
    path = _model(tmp_path, nodes, {"x": (F, [2, 3, 7, 8]), "grid": (F, [2, 3, 4, 2])}, ["gs", "rs", "rc", "ra", "cp"],
                  opset=18, initializers=inits)
    rng = np.random.default_rng(8)
    feeds = {"x": rng.standard_normal((2, 3, 7, 8)).astype(np.float32),
             "grid": rng.uniform(-1.2, 1.2, (2, 3, 4, 2)).astype(np.float32)}
    _matches_onnxruntime(path, feeds, tmp_path)


def _grid_sample_case(tmp_path: Path) -> tuple[Path, dict]:
    """Every mode × padding (× align_corners) of 2-D GridSample, and a 3-D (volumetric) one, with grid
    points well outside [-1, 1] so the zeros/border/reflection rules all matter."""
    nodes, outs = [], []
    for i, (mode, pad, align) in enumerate([("linear", "zeros", 0), ("nearest", "border", 1),
                                            ("cubic", "reflection", 0), ("linear", "reflection", 1),
                                            ("cubic", "border", 1), ("nearest", "zeros", 0)]):
        nodes.append(helper.make_node("GridSample", ["x", "grid"], [f"y{i}"], mode=mode, padding_mode=pad,
                                      align_corners=align))
        outs.append(f"y{i}")
    nodes.append(helper.make_node("GridSample", ["v", "vgrid"], ["vol"], mode="linear", padding_mode="border"))
    path = _model(tmp_path, nodes, {"x": (F, [2, 3, 5, 6]), "grid": (F, [2, 4, 7, 2]), "v": (F, [1, 2, 3, 4, 5]),
                                    "vgrid": (F, [1, 2, 3, 4, 3])}, outs + ["vol"], opset=20)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((2, 3, 5, 6)).astype(np.float32),
             "grid": rng.uniform(-1.8, 1.8, (2, 4, 7, 2)).astype(np.float32),
             "v": rng.standard_normal((1, 2, 3, 4, 5)).astype(np.float32),
             "vgrid": rng.uniform(-1.3, 1.3, (1, 2, 3, 4, 3)).astype(np.float32)}
    return path, feeds


@pytest.mark.node
def test_grid_sample_modes_paddings_and_volumes(tmp_path, tfjs_runtime):
    path, feeds = _grid_sample_case(tmp_path)
    _matches_onnxruntime(path, feeds, tmp_path)
    assert "GatherNd" in _ops(tmp_path / "out")


@pytest.mark.node
def test_grid_sample_and_roi_align_of_sizes_known_only_at_run_time(tmp_path, tfjs_runtime):
    """H and W read from the input's shape when the model runs: GridSample in every padding mode, including a
    one-pixel-wide input with align_corners (reflection over an empty span), and RoiAlign, with two input sizes."""
    nodes = [helper.make_node("GridSample", ["x", "grid"], [f"y{i}"], mode=mode, padding_mode=pad,
                              align_corners=align)
             for i, (mode, pad, align) in enumerate([("bilinear", "zeros", 0), ("bicubic", "border", 0),
                                                     ("nearest", "reflection", 1), ("bilinear", "reflection", 0)])]
    nodes.append(helper.make_node("RoiAlign", ["x", "rois", "idx"], ["roi"], output_height=2, output_width=2,
                                  sampling_ratio=2, spatial_scale=0.5))
    path = _model(tmp_path, nodes, {"x": (F, [1, 2, "h", "w"]), "grid": (F, [1, 3, 5, 2])},
                  [f"y{i}" for i in range(4)] + ["roi"], opset=16,
                  initializers={"rois": np.array([[0, 1, 9, 7], [3, -2, 6, 4]], np.float32),
                                "idx": np.array([0, 0], np.int64)})
    tfjsconv.convert(path, tmp_path / "out")
    rng = np.random.default_rng(9)
    for h, w in [(4, 6), (3, 1)]:
        feeds = {"x": rng.standard_normal((1, 2, h, w)).astype(np.float32),
                 "grid": rng.uniform(-1.6, 1.6, (1, 3, 5, 2)).astype(np.float32)}
        _matches_onnxruntime(path, feeds, tmp_path, convert=False)


@pytest.mark.node
def test_torch_affine_grid_and_grid_sample_export(tmp_path, tfjs_runtime):
    """A spatial-transformer block as PyTorch exports it (AffineGrid is expanded by the exporter)."""
    torch = pytest.importorskip("torch")

    class Warp(torch.nn.Module):
        def forward(self, x, theta):
            grid = torch.nn.functional.affine_grid(theta, [2, 3, 6, 5], align_corners=False)
            return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                                   align_corners=False)

    path = tmp_path / "warp.onnx"
    x, theta = torch.randn(2, 3, 8, 7), torch.randn(2, 2, 3) * 0.5
    torch.onnx.export(Warp(), (x, theta), str(path), dynamo=False, opset_version=20, input_names=["x", "theta"],
                      output_names=["y"])
    _matches_onnxruntime(path, {"x": x.numpy(), "theta": theta.numpy()}, tmp_path)


def _affine_grid_and_crop_case(tmp_path: Path) -> tuple[Path, dict]:
    """AffineGrid (2-D, 3-D; both align_corners) with a size computed at run time, and CenterCropPad
    cropping one axis while padding another (odd differences: ONNX's rounding)."""
    nodes = [helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=0),
             helper.make_node("AffineGrid", ["theta3", "size3"], ["grid3"], align_corners=1),
             helper.make_node("CenterCropPad", ["img", "crop"], ["cropped"], axes=[1, -1]),
             helper.make_node("CenterCropPad", ["img", "crop_all"], ["cropped_all"])]
    path = _model(tmp_path, nodes, {"theta": (F, [2, 2, 3]), "size": (I64, [4]), "theta3": (F, [1, 3, 4]),
                                    "size3": (I64, [5]), "img": (F, [2, 7, 4, 5])},
                  ["grid", "grid3", "cropped", "cropped_all"], opset=20,
                  initializers={"crop": np.array([4, 8], np.int64), "crop_all": np.array([3, 2, 9, 2], np.int64)})
    rng = np.random.default_rng(1)
    feeds = {"theta": rng.standard_normal((2, 2, 3)).astype(np.float32), "size": np.array([2, 3, 5, 4], np.int64),
             "theta3": rng.standard_normal((1, 3, 4)).astype(np.float32),
             "size3": np.array([1, 1, 3, 2, 4], np.int64), "img": rng.standard_normal((2, 7, 4, 5)).astype(np.float32)}
    return path, feeds


@pytest.mark.node
def test_affine_grid_and_center_crop_pad(tmp_path, tfjs_runtime):
    path, feeds = _affine_grid_and_crop_case(tmp_path)
    _matches_onnxruntime(path, feeds, tmp_path)


def _signal_case(tmp_path: Path) -> tuple[Path, dict]:
    """Windows of a run-time length (periodic and symmetric), DFTs as MatMuls (real and complex input,
    inverse, one-sided, irfft, a cut and a padded dft_length; also with the axis and length fed at run
    time), STFTs with a window and run-time hop and frame length, and a MelWeightMatrix of run-time
    parameters. No complex64 tensor: runs on wasm too."""
    nodes = [helper.make_node("HannWindow", ["n"], ["hann"]),
             helper.make_node("HammingWindow", ["n"], ["hamming"], periodic=0),
             helper.make_node("BlackmanWindow", ["n"], ["blackman"], periodic=0),
             helper.make_node("DFT", ["sig", "", "axis1"], ["spec"]),
             helper.make_node("DFT", ["csig", "", "axis2"], ["ispec"], inverse=1),
             helper.make_node("DFT", ["sig", "", "axis1"], ["rfft"], onesided=1),
             helper.make_node("DFT", ["half", "len10", "axis1"], ["irfft"], inverse=1, onesided=1),
             helper.make_node("DFT", ["csig", "len5", "axis1"], ["cut"]),
             helper.make_node("DFT", ["sig", "len12", "axis1"], ["padded"]),
             helper.make_node("DFT", ["csig", "len_rt", "axis_rt"], ["rt_inverse"], inverse=1),
             helper.make_node("DFT", ["half", "", "axis_rt"], ["rt_irfft"], inverse=1, onesided=1),
             helper.make_node("DFT", ["sig", "len_rt", "axis_rt"], ["rt_rfft"], onesided=1),
             helper.make_node("STFT", ["audio", "hop", "win"], ["stft"]),
             helper.make_node("STFT", ["audio", "hop", "", "frame_len"], ["stft_rt"], onesided=0),
             helper.make_node("MelWeightMatrix", ["mels", "dftlen", "rate", "low", "high"], ["mel"])]
    inits = {"axis1": np.array(1, np.int64), "axis2": np.array(2, np.int64), "len10": np.array(10, np.int64),
             "len5": np.array(5, np.int64), "len12": np.array(12, np.int64)}
    i64 = lambda: (I64, [])  # noqa: E731
    path = _model(tmp_path, nodes, {"n": i64(), "sig": (F, [2, 9, 3, 1]), "csig": (F, [2, 8, 3, 2]),
                                    "half": (F, [2, 6, 3, 2]), "audio": (F, [2, 64, 1]), "hop": i64(),
                                    "win": (F, [16]), "mels": i64(), "dftlen": i64(), "rate": i64(),
                                    "low": (F, []), "high": (F, []), "axis_rt": i64(), "len_rt": i64(),
                                    "frame_len": i64()},
                  ["hann", "hamming", "blackman", "spec", "ispec", "rfft", "irfft", "cut", "padded", "rt_inverse",
                   "rt_irfft", "rt_rfft", "stft", "stft_rt", "mel"],
                  opset=20, initializers=inits)
    rng = np.random.default_rng(2)
    feeds = {"n": np.array(10, np.int64), "sig": rng.standard_normal((2, 9, 3, 1)).astype(np.float32),
             "csig": rng.standard_normal((2, 8, 3, 2)).astype(np.float32),
             "half": rng.standard_normal((2, 6, 3, 2)).astype(np.float32),
             "audio": rng.standard_normal((2, 64, 1)).astype(np.float32), "hop": np.array(8, np.int64),
             "win": np.hanning(16).astype(np.float32), "mels": np.array(8, np.int64),
             "dftlen": np.array(32, np.int64), "rate": np.array(8000, np.int64),
             "low": np.array(20.0, np.float32), "high": np.array(3500.0, np.float32),
             "axis_rt": np.array(-3, np.int64), "len_rt": np.array(7, np.int64), "frame_len": np.array(12, np.int64)}
    return path, feeds


@pytest.mark.node
def test_windows_dft_stft_and_mel_weights(tmp_path, tfjs_runtime):
    path, feeds = _signal_case(tmp_path)
    _matches_onnxruntime(path, feeds, tmp_path)
    ops = _ops(tmp_path / "out")
    assert "MatMul" in ops and not {"FFT", "RFFT", "IRFFT", "Complex"} & ops


def _non_max_suppression_case(tmp_path: Path) -> tuple[Path, dict]:
    """[batch, class, box] rows in ONNX's order, corner boxes in either diagonal and center boxes,
    run-time limit and thresholds, and a node without thresholds."""
    nodes = [helper.make_node("NonMaxSuppression", ["boxes", "scores", "limit", "iou", "floor"], ["sel"]),
             helper.make_node("NonMaxSuppression", ["cboxes", "scores", "limit", "iou"], ["sel_center"],
                              center_point_box=1),
             helper.make_node("NonMaxSuppression", ["boxes", "scores", "limit"], ["sel_no_iou"])]
    path = _model(tmp_path, nodes, {"boxes": (F, [2, 8, 4]), "cboxes": (F, [2, 8, 4]), "scores": (F, [2, 3, 8]),
                                    "limit": (I64, [1]), "iou": (F, [1]), "floor": (F, [1])},
                  ["sel", "sel_center", "sel_no_iou"], opset=11)
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 10, (2, 8, 2, 2)).astype(np.float32)
    boxes = np.concatenate([corners[:, :, 0], corners[:, :, 0] + rng.uniform(1, 5, (2, 8, 2))], -1)
    boxes[:, ::2] = boxes[:, ::2][..., [2, 3, 0, 1]]  # some boxes given by the other diagonal
    centers = np.concatenate([corners[:, :, 1], rng.uniform(1, 5, (2, 8, 2))], -1).astype(np.float32)
    feeds = {"boxes": boxes.astype(np.float32), "cboxes": centers, "limit": np.array([3], np.int64),
             "scores": rng.permutation(np.linspace(0.05, 0.95, 48)).reshape(2, 3, 8).astype(np.float32),
             "iou": np.array([0.2], np.float32), "floor": np.array([0.3], np.float32)}
    return path, feeds


@pytest.mark.node
def test_non_max_suppression_per_batch_and_class(tmp_path, tfjs_runtime):
    path, feeds = _non_max_suppression_case(tmp_path)
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["sel"].shape[1] == 3 and len({tuple(r[:2]) for r in expected["sel"]}) > 2


def _roi_align_case(tmp_path: Path) -> tuple[Path, dict]:
    """RoiAlign avg and max, half_pixel and output_half_pixel, boxes partly outside the map."""
    nodes = [helper.make_node("RoiAlign", ["x", "rois", "idx"], ["avg"], output_height=3, output_width=4,
                              sampling_ratio=2, spatial_scale=0.5, coordinate_transformation_mode="half_pixel"),
             helper.make_node("RoiAlign", ["x", "rois", "idx"], ["avg_out"], output_height=2, output_width=2,
                              sampling_ratio=3, coordinate_transformation_mode="output_half_pixel"),
             helper.make_node("RoiAlign", ["x", "rois", "idx"], ["max"], mode="max", output_height=3,
                              output_width=3, sampling_ratio=2, spatial_scale=0.5)]
    path = _model(tmp_path, nodes, {"x": (F, [2, 3, 8, 9]), "rois": (F, [4, 4]), "idx": (I64, [4])},
                  ["avg", "avg_out", "max"], opset=16)
    rng = np.random.default_rng(4)
    rois = np.array([[0, 0, 8, 8], [2.5, 1.5, 14, 12], [-3, -2, 5, 20], [10, 3, 11, 4]], np.float32)
    feeds = {"x": rng.standard_normal((2, 3, 8, 9)).astype(np.float32), "rois": rois,
             "idx": np.array([0, 1, 1, 0], np.int64)}
    return path, feeds


@pytest.mark.node
def test_roi_align_modes(tmp_path, tfjs_runtime):
    path, feeds = _roi_align_case(tmp_path)
    _matches_onnxruntime(path, feeds, tmp_path)


def _sets_case(tmp_path: Path) -> tuple[Path, dict]:
    """Unique (sorted and not, flat and along an axis: values, first indices, inverse, counts),
    Compress (an axis, flattened, a short condition) and NonZero."""
    nodes = [helper.make_node("Unique", ["x"], ["u", "u_first", "u_inv", "u_count"]),
             helper.make_node("Unique", ["x"], ["n", "n_first", "n_inv", "n_count"], sorted=0),
             helper.make_node("Unique", ["m"], ["a", "a_first", "a_inv", "a_count"], axis=1),
             helper.make_node("Compress", ["m", "keep"], ["kept"], axis=1),
             helper.make_node("Compress", ["m", "keep"], ["kept_flat"]),
             helper.make_node("NonZero", ["m"], ["nz"])]
    path = _model(tmp_path, nodes, {"x": (F, [12]), "m": (F, [2, 6, 2]), "keep": (TensorProto.BOOL, [4])},
                  ["u", "u_first", "u_inv", "u_count", "n", "n_first", "n_inv", "n_count", "a", "a_first", "a_inv",
                   "a_count", "kept", "kept_flat", "nz"], opset=11)
    m = np.array([[[1, 0], [2, 3], [1, 0], [0, 0], [2, 3], [-1, 4]], [[2, 1], [0, 1], [2, 1], [0, 0], [0, 1], [5, 5]]],
                 np.float32)
    feeds = {"x": np.array([3, 1, -2, 3, 0, 1, 7, -2, 3, 5, 0, 0], np.float32), "m": m,
             "keep": np.array([True, False, True, True])}
    return path, feeds


@pytest.mark.node
def test_unique_compress_and_nonzero(tmp_path, tfjs_runtime):
    path, feeds = _sets_case(tmp_path)
    _matches_onnxruntime(path, feeds, tmp_path)


def _static_resize_case(tmp_path: Path) -> tuple[Path, dict]:
    """Static Resizes no TF.js resize op computes: cubic (A, exclude_outside), antialias (linear and
    cubic), the axes attribute (including the channel axis), keep_aspect_ratio_policy, tf_crop_and_resize
    with an extrapolation value, half_pixel_symmetric and a 5-D input."""
    def resize(inp, out, roi="", scales="", sizes="", **attrs):
        return helper.make_node("Resize", [inp, roi, scales, sizes], [out], **attrs)

    nodes = [resize("x", "cubic", scales="s_down", mode="cubic"),
             resize("x", "cubic_ex", sizes="z_up", mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1,
                    coordinate_transformation_mode="asymmetric"),
             resize("x", "aa_lin", scales="s_down", mode="linear", antialias=1),
             resize("x", "aa_cub", sizes="z_down", mode="cubic", antialias=1),
             resize("x", "axes", scales="s_axes", mode="nearest", axes=[3, 1], nearest_mode="ceil"),
             resize("x", "aspect", sizes="z_aspect", mode="linear", axes=[2, 3], keep_aspect_ratio_policy="not_larger"),
             resize("x", "aspect2", sizes="z_aspect", mode="nearest", axes=[2, 3],
                    keep_aspect_ratio_policy="not_smaller"),
             resize("x", "crop", roi="roi", sizes="z_crop", mode="linear", axes=[2, 3],
                    coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-7.0),
             resize("x", "sym", scales="s_sym", mode="linear", coordinate_transformation_mode="half_pixel_symmetric"),
             resize("v", "vol", scales="s_vol", mode="linear")]
    inits = {"s_down": np.array([1, 1, 0.6, 0.45], np.float32), "z_up": np.array([2, 3, 11, 9], np.int64),
             "z_down": np.array([2, 3, 4, 5], np.int64), "s_axes": np.array([1.5, 2.0], np.float32),
             "z_aspect": np.array([9, 7], np.int64), "roi": np.array([0.2, -0.1, 0.9, 1.2], np.float32),
             "z_crop": np.array([5, 6], np.int64), "s_sym": np.array([1, 1, 1.7, 0.8], np.float32),
             "s_vol": np.array([1, 1, 2, 1.5, 0.5], np.float32)}
    outs = ["cubic", "cubic_ex", "aa_lin", "aa_cub", "axes", "aspect", "aspect2", "crop", "sym", "vol"]
    path = _model(tmp_path, nodes, {"x": (F, [2, 3, 7, 10]), "v": (F, [1, 2, 3, 4, 6])}, outs, opset=19,
                  initializers=inits)
    rng = np.random.default_rng(5)
    feeds = {"x": rng.standard_normal((2, 3, 7, 10)).astype(np.float32),
             "v": rng.standard_normal((1, 2, 3, 4, 6)).astype(np.float32)}
    return path, feeds


@pytest.mark.node
def test_resize_modes_tfjs_lacks_are_composed_exactly(tmp_path, tfjs_runtime):
    path, feeds = _static_resize_case(tmp_path)
    _matches_onnxruntime(path, feeds, tmp_path)


@pytest.mark.node
def test_resize_with_runtime_scales_cubic_axes_and_aspect(tmp_path, tfjs_runtime):
    """Scales/sizes fed at run time: cubic (with exclude_outside), the axes attribute in reversed order,
    keep_aspect_ratio_policy, tf_crop_and_resize with a run-time roi (partly outside: extrapolated) and
    antialias (a filter as wide as the run-time scale asks), each computed in the graph; two different
    feeds through one model."""
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["cubic"], mode="cubic"),
             helper.make_node("Resize", ["x", "", "scales"], ["cubic_ex"], mode="cubic", exclude_outside=1,
                              cubic_coeff_a=-0.5, coordinate_transformation_mode="align_corners"),
             helper.make_node("Resize", ["x", "", "", "hw"], ["axes"], mode="nearest", axes=[3, 2]),
             helper.make_node("Resize", ["x", "", "", "hw"], ["aspect"], mode="linear", axes=[2, 3],
                              keep_aspect_ratio_policy="not_larger"),
             helper.make_node("Resize", ["x", "roi", "", "hw"], ["crop"], mode="linear", axes=[3, 2],
                              coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=3.5),
             helper.make_node("Resize", ["s", "", "scales"], ["aa_lin"], mode="linear", antialias=1),
             helper.make_node("Resize", ["s", "", "", "size4"], ["aa_cub"], mode="cubic", antialias=1,
                              exclude_outside=1)]
    path = _model(tmp_path, nodes, {"x": (F, [1, 2, "h", "w"]), "scales": (F, [4]), "hw": (I64, [2]),
                                    "roi": (F, [4]), "s": (F, [2, 3, 9, 8]), "size4": (I64, [4])},
                  ["cubic", "cubic_ex", "axes", "aspect", "crop", "aa_lin", "aa_cub"], opset=19)
    rng = np.random.default_rng(6)
    tfjsconv.convert(path, tmp_path / "out")
    for (h, w), scales, hw in [((5, 6), [1, 1, 1.5, 0.5], [4, 9]), ((7, 4), [1, 1, 0.6, 2.25], [10, 3])]:
        feeds = {"x": rng.standard_normal((1, 2, h, w)).astype(np.float32),
                 "scales": np.array(scales, np.float32), "hw": np.array(hw, np.int64),
                 "roi": np.array([-0.2, 0.1, 0.8, 1.3], np.float32), "size4": np.array([2, 3, *hw], np.int64),
                 "s": rng.standard_normal((2, 3, 9, 8)).astype(np.float32)}
        _matches_onnxruntime(path, feeds, tmp_path, convert=False)


def test_what_cannot_be_composed_is_refused_clearly(tmp_path):
    """A DFT over the real/imaginary axis, antialias with run-time scales over dynamic sizes, adaptive RoiAlign
    sampling."""
    cases = [
        (helper.make_node("DFT", ["x"], ["y"], axis=2), {"x": (F, [1, 8, 1])}, 19,
         "the DFT axis cannot be the last"),
        (helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear", antialias=1),
         {"x": (F, [1, 1, "h", 4]), "scales": (F, [4])}, 19, "antialias=1 with scales or sizes computed at run "
                                                              "time needs static input sizes"),
        (helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"]),
         {"x": (F, [1, 1, 4, 4]), "rois": (F, [1, 4]), "idx": (I64, [1])}, 16, "sampling_ratio=0"),
    ]
    for k, (node, inputs, opset, message) in enumerate(cases):
        path = _model(tmp_path, [node], inputs, ["y"], opset=opset, name=f"refused{k}")
        with pytest.raises(InputError, match=message):
            tfjsconv.convert(path, tmp_path / f"out{k}")


@pytest.mark.node
@pytest.mark.parametrize("case", [_grid_sample_case, _sets_case], ids=lambda f: f.__name__[1:-5])
def test_new_ops_on_webgl(case, browser, tmp_path):
    """The gather-heavy and the asynchronous (Where, Unique) models on TF.js's webgl backend, which the contract
    lets them through for. The NMS, RoiAlign and static resize models also passed there, and the signal one
    within 1e-3 (its run-time DFT matrices and windows use Cos/Sin, which webgl on SwiftShader approximates to
    ~3e-4, docs/backends.md); checked once, left out to keep this file fast."""
    path, feeds = case(tmp_path)
    _matches_onnxruntime(path, feeds, tmp_path, backends=("webgl",), browser=browser)
