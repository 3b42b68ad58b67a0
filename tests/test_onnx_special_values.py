"""ONNX models fed NaN, -NaN, ±Inf, ±0 and ±FLT_MAX, against onnxruntime (session 17's sweep:
/work/notes/probe17/h5_sweep.py, every mapped elementwise/reduction/pooling op).

Two kinds of case:

* mappings whose TF ops compute something else than onnxruntime on these values, now exact: a Clip with a
  missing bound clamps ±Inf to ±FLT_MAX (ONNX's default bounds are the type's lowest/highest), HardSwish of
  huge values stays finite, ``Pow(x, 0.5)`` of -Inf is +Inf (no Sqrt), and ``--exact_special_values``
  leaves Softmax and ArgMax/ArgMin alone (TF.js already gives onnxruntime's answer; the flag's rewrites
  give TF's, which differs);
* TF.js kernel deviations the backend contract names (wasm's Relu(-NaN), Maximum, ClipByValue, AvgPool
  and 1×1 Conv of NaN, Sign(NaN), Cast of NaN to int32): the conversion's special-values line names them for
  an ONNX model too, and ``--exact_special_values`` gives onnxruntime's answer.

Every model runs in real TF.js (cpu and wasm) against onnxruntime on the same inputs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import onnx_model, onnxruntime_outputs  # noqa: E402

F = TensorProto.FLOAT
BACKENDS = ("cpu", "wasm")
FMAX = float(np.finfo(np.float32).max)
NAN = np.float32(np.nan)
#: Values a one-sided or bound-less Clip, HardSwish and Pow(x, 0.5) get wrong without the fixes (no NaN: the
#: named ClipByValue/Relu6 NaN deviations are the second test's).
EDGES = np.array([np.inf, -np.inf, FMAX, -FMAX, 3e38, -3e38, 0.0, -0.0, 1.0, -1.0, 7.0, -7.0, 2.5, -2.5, 1e-40, 100.0],
                 np.float32)
#: Rows for Softmax and ArgMax/ArgMin: NaN first, in the middle and last, -NaN, +Inf, all -Inf, ties.
ROWS = np.array([[1, 2, 3, 4], [NAN, 1, 2, 3], [1, NAN, 5, -1], [-np.inf] * 4, [np.inf, 1, 2, 3],
                 [np.inf, -np.inf, 0, 1], [NAN] * 4, [-NAN, 1, 2, 3], [0, 0, 0, 0], [FMAX, FMAX, 1, 0],
                 [-np.inf, 1, 2, 3], [np.inf, np.inf, 1, 1], [1, 2, np.inf, NAN], [-np.inf, NAN, -np.inf, 1],
                 [-np.inf, NAN, -np.inf, NAN], [np.inf, NAN, np.inf, 2]],
                np.float32)
#: Values for the contract's named deviations: NaN and -NaN (a NaN with its sign bit set) among the rest.
SPECIAL = np.array([NAN, -NAN, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3e9, -3e9, 1e-40, 100.0], np.float32)
IMAGE = np.array([[[[1, 2, NAN, 4], [5, 6, 7, 8], [np.inf, -np.inf, 1, 2], [-np.inf, -np.inf, -NAN, 3]]]],
                 np.float32)
#: Two channels for Resize: NaN, ±Inf and ±FLT_MAX in corners and inside, finite regions beside them.
PLANES = np.array([[[[1, 2, NAN, 4], [5, 6, 7, 8], [np.inf, -np.inf, 1, 2], [-np.inf, -np.inf, -NAN, 3]],
                    [[NAN, NAN, 1, 1], [NAN, NAN, 1, 1], [-FMAX, -np.inf, np.inf, np.inf], [-FMAX, -FMAX, 1, 2]]]],
                  np.float32)


def _mismatches(got: np.ndarray, want: np.ndarray) -> list[str]:
    """Each element on its own (verify's tolerance scales with max|expected|, which FLT_MAX makes useless here):
    NaN where onnxruntime has NaN, the same infinities, finite values within 1e-5 relative; ints exact."""
    if got.shape != want.shape:
        return [f"shape {got.shape} != {want.shape}"]
    g, w = got.reshape(-1).astype(np.float64), want.reshape(-1).astype(np.float64)
    if want.dtype.kind != "f":
        bad = g != w
    else:
        with np.errstate(invalid="ignore"):
            bad = (np.isnan(g) != np.isnan(w)) | ((np.isinf(g) | np.isinf(w)) & (g != w) & ~np.isnan(w))
            bad |= np.isfinite(g) & np.isfinite(w) & (np.abs(g - w) > 1e-5 * np.abs(w) + 1e-6)
    return [f"[{i}] {g[i]:.7g} != {w[i]:.7g}" for i in np.flatnonzero(bad)]


def _matches_onnxruntime(path: Path, feeds: dict[str, np.ndarray], out: Path, **options) -> dict[str, np.ndarray]:
    """Convert ``path`` (with ``options``), run it in TF.js cpu and wasm, and assert every element is
    onnxruntime's; returns onnxruntime's outputs."""
    from tfjsconv.verify import run_model

    expected = onnxruntime_outputs(path, feeds)
    tfjsconv.convert(path, out, target_backends=list(BACKENDS), **options)
    run = run_model(out, feeds, backends=BACKENDS, quiet=True)
    wrong = []
    for backend in BACKENDS:
        assert run[backend].ok, run[backend].error
        for name, want in expected.items():
            wrong += [f"{name} [{backend}] {m}" for m in _mismatches(run[backend].outputs[name], want)]
    assert not wrong, "TF.js differs from onnxruntime:\n" + "\n".join(wrong)
    return expected


def _const(name: str, value: np.ndarray | float) -> onnx.NodeProto:
    """A Constant node (initializers would do too; a Constant keeps the model self-describing)."""
    return helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(np.asarray(value, np.float32)))


@pytest.mark.node
def test_clip_bounds_hardswish_and_square_root_match_onnxruntime_on_infinities(tmp_path, tfjs_runtime):
    """A Clip with a missing bound clipped nothing, but onnxruntime clamps to ONNX's default bounds (the type's
    lowest/highest): Inf -> FLT_MAX, for Clip(min=0) (which was a Relu) too. HardSwish multiplied x by relu6(x + 3)
    before dividing by 6, so x past FLT_MAX / 6 overflowed to Inf. Pow(x, 0.5) was a Sqrt: sqrt(-Inf) is NaN, pow's
    is +Inf."""
    nodes = [_const("zero", 0.0), _const("six", 6.0), _const("half", 0.5), _const("lo", -1.0), _const("hi", 1.0),
             helper.make_node("Clip", ["x", "zero"], ["clip_min0"]),
             helper.make_node("Clip", ["x", "", "six"], ["clip_max6"]),
             helper.make_node("Clip", ["x"], ["clip_none"]),
             helper.make_node("Clip", ["x", "lo", "hi"], ["clip_both"]),
             helper.make_node("Clip", ["x", "r"], ["clip_run_time_min"]),
             helper.make_node("HardSwish", ["x"], ["hard_swish"]),
             helper.make_node("Pow", ["x", "half"], ["pow_half"])]
    outputs = ["clip_min0", "clip_max6", "clip_none", "clip_both", "clip_run_time_min", "hard_swish", "pow_half"]
    path = onnx_model(tmp_path / "edges.onnx", nodes, {"x": (F, [16]), "r": (F, [])}, outputs, opset=14)
    feeds = {"x": EDGES, "r": np.array(-5.0, np.float32)}
    expected = _matches_onnxruntime(path, feeds, tmp_path / "out")
    assert expected["clip_min0"][0] == np.float32(FMAX) and expected["clip_none"][1] == -np.float32(FMAX)
    assert expected["hard_swish"][2] == np.float32(FMAX) and expected["pow_half"][1] == np.inf

    old = onnx_model(tmp_path / "clip6.onnx", [helper.make_node("Clip", ["x"], ["none"]),
                                              helper.make_node("Clip", ["x"], ["above"], min=-2.0)],
                     {"x": (F, [16])}, ["none", "above"], opset=6)
    _matches_onnxruntime(old, {"x": EDGES}, tmp_path / "out6")


def _named_model(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Softmax and ArgMax/ArgMin (TF.js already onnxruntime's) beside the ops whose wasm/cpu kernels the contract
    names: Relu(-NaN), Max, Clip, Sign, Cast to int32 of NaN/Inf, AveragePool and a 1×1 Conv of NaN; and a linear
    Resize, whose ResizeBilinear lerps (NaN next to ±Inf where onnxruntime's weighted taps give ±Inf)."""
    nodes = [_const("lo", -1.0), _const("hi", 1.0), _const("w", np.full((1, 1, 1, 1), 2.0)),
             helper.make_node("Softmax", ["rows"], ["softmax"]),
             helper.make_node("ArgMax", ["rows"], ["argmax"], axis=1),
             helper.make_node("ArgMin", ["rows"], ["argmin"], axis=1, keepdims=0),
             helper.make_node("Relu", ["x"], ["relu"]),
             helper.make_node("Max", ["x", "y"], ["max"]),
             helper.make_node("Clip", ["x", "lo", "hi"], ["clip"]),
             helper.make_node("Sign", ["x"], ["sign"]),
             helper.make_node("Cast", ["x"], ["to_int"], to=TensorProto.INT32),
             helper.make_node("AveragePool", ["image"], ["avg_pool"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["image", "w"], ["conv"]),
             _const("roi", np.zeros(0)), _const("double", np.array([1, 1, 2, 2])), _const("wide", np.array([1, 1, 1, 2])),
             helper.make_node("Resize", ["image", "roi", "double"], ["bilinear"], mode="linear"),
             helper.make_node("Resize", ["image", "roi", "wide"], ["linear_width"], mode="linear")]
    outputs = ["softmax", "argmax", "argmin", "relu", "max", "clip", "sign", "to_int", "avg_pool", "conv", "bilinear",
               "linear_width"]
    inputs = {"rows": (F, list(ROWS.shape)), "x": (F, [14]), "y": (F, [14]), "image": (F, list(IMAGE.shape))}
    path = onnx_model(tmp_path / "named.onnx", nodes, inputs, outputs, opset=18)
    return path, {"rows": ROWS, "x": SPECIAL, "y": SPECIAL[::-1].copy(), "image": IMAGE}


@pytest.mark.node
def test_contract_deviations_are_named_for_onnx_and_the_flag_gives_onnxruntimes_values(tmp_path, tfjs_runtime):
    """The default conversion names the wasm/cpu kernels that mishandle NaN (they do for onnxruntime as for TF) and
    not Softmax/ArgMax/ArgMin on cpu and wasm, whose TF.js answers are onnxruntime's (a row holding NaN or +Inf is
    all NaN; a NaN first in a row is its arg max). With --exact_special_values every output is onnxruntime's: the
    flag rewrote Softmax and ArgMax into TF's answers (NaN only at the +Inf, a NaN never picked), which were wrong
    for an ONNX model; and the flag takes onnxruntime's taps for a linear Resize instead of TF.js's ResizeBilinear,
    and computes onnxruntime's rule for ArgMax/ArgMin with select_last_index."""
    path, feeds = _named_model(tmp_path)
    result = tfjsconv.convert(path, tmp_path / "default", target_backends=["cpu", "wasm"])
    (line,) = result.notices
    # (Sign: with wasm a target the required sign_comparisons pass computes it by comparisons, session 30)
    for op in ("Relu", "Maximum", "ClipByValue", "Cast", "AvgPool", "Conv2D", "ResizeBilinear"):
        assert op in line, (op, line)
    for op in ("Softmax", "ArgMax", "ArgMin"):
        assert op not in line, (op, line)
    expected = _matches_onnxruntime(path, feeds, tmp_path / "exact", exact_special_values=True)
    assert np.isnan(expected["softmax"][4]).all() and expected["argmax"][1, 0] == 0  # what the flag got wrong

    # select_last_index reverses the row: a NaN last in it then sticks where onnxruntime's does not (nor TF's),
    # so the line still names ArgMax there; the flag computes onnxruntime's rule instead (a NaN first in the row
    # gives 0, other NaNs are never taken)
    last = onnx_model(tmp_path / "last.onnx", [
        helper.make_node("ArgMax", ["rows"], ["last_max"], axis=1, select_last_index=1),
        helper.make_node("ArgMin", ["rows"], ["last_min"], axis=1, select_last_index=1, keepdims=0)],
        {"rows": (F, list(ROWS.shape))}, ["last_max", "last_min"], opset=13)
    result = tfjsconv.convert(last, tmp_path / "last", target_backends=["cpu", "wasm"])
    assert any("ArgMax" in line and "ArgMin" in line for line in result.notices), result.notices
    expected = _matches_onnxruntime(last, {"rows": ROWS}, tmp_path / "last_exact", exact_special_values=True)
    assert expected["last_max"][1, 0] == 0 and expected["last_max"][12, 0] == 2  # NaN first: 0; NaN last: skipped



@pytest.mark.node
def test_cubic_resize_multiplies_every_tap_as_onnxruntime_does(tmp_path, tfjs_runtime):
    """Composed from per-axis taps, a cubic Resize merged its edge-clamped taps and dropped those of weight 0, and
    padded short rows with column 0 at weight 0: a NaN there leaked into outputs that never read it (0 · NaN), while
    onnxruntime's zero-weight taps (integer source coordinates: align_corners, asymmetric) do make NaN of a NaN or
    ±Inf neighbour. The taps are now onnxruntime's own, four per output, so NaN and ±Inf spread as they do there;
    and an axis of scale 1 is interpolated too (onnxruntime's bicubic covers both spatial axes: its (0, 1, 0, 0)
    taps make NaN of a value beside a NaN or ±Inf)."""
    nodes = [helper.make_node("Constant", [], ["roi"], value=onnx.numpy_helper.from_array(np.zeros(0, np.float32))),
             helper.make_node("Constant", [], ["scales"],
                              value=onnx.numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32))),
             helper.make_node("Constant", [], ["sizes"],
                              value=onnx.numpy_helper.from_array(np.array([1, 2, 7, 5], np.int64))),
             helper.make_node("Constant", [], ["width_only"],
                              value=onnx.numpy_helper.from_array(np.array([1, 1, 1, 2], np.float32))),
             helper.make_node("Resize", ["image", "roi", "width_only"], ["kept_height"], mode="cubic")]
    outputs = ["kept_height"]
    for transform in ("half_pixel", "asymmetric", "align_corners"):
        nodes.append(helper.make_node("Resize", ["image", "roi", "scales"], [f"scaled_{transform}"], mode="cubic",
                                      coordinate_transformation_mode=transform))
        nodes.append(helper.make_node("Resize", ["image", "roi", "", "sizes"], [f"sized_{transform}"], mode="cubic",
                                      coordinate_transformation_mode=transform))
        outputs += [f"scaled_{transform}", f"sized_{transform}"]
    path = onnx_model(tmp_path / "resize.onnx", nodes, {"image": (F, list(PLANES.shape))}, outputs, opset=13)
    expected = _matches_onnxruntime(path, {"image": PLANES}, tmp_path / "out")
    assert np.isfinite(expected["scaled_half_pixel"][0, 1, 0, 7])  # the output the padded tap made NaN
    assert np.isnan(expected["kept_height"][0, 0, 1, 0])  # 0 · NaN from the row above, along the kept axis
