"""ONNX parameters that arrive at run time (axes, starts/ends/steps, pads, split sizes, K, indices).

TF.js reads most of them from tensors while it runs, so these models feed them as graph inputs (as
ONNX's node tests do), convert, run in real TF.js on cpu and wasm and compare with onnxruntime. A
Conv in front keeps some data NHWC inside the converter, so axes and pads must be moved to that
layout in the graph.
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
F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(tmp_path: Path, nodes: list, inputs: dict, outputs: list[str], *, opset: int = 18,
           initializers: dict | None = None) -> Path:
    """A graph of ``nodes`` with typed inputs (name -> (elem type, shape)); output types left to inference."""
    return onnx_model(tmp_path / "model.onnx", nodes, inputs, outputs, opset=opset, initializers=initializers,
                      name="run_time_params")


def _matches_onnxruntime(path: Path, feeds: dict[str, np.ndarray], tmp_path: Path, **options) -> dict:
    """Convert, run on cpu and wasm (on webgl instead while :data:`WEBGL` holds a browser session),
    compare with onnxruntime; returns onnxruntime's outputs."""
    where = {"backends": ("webgl",), "browser_session": WEBGL[0]} if WEBGL else {"backends": BACKENDS}
    return matches_onnxruntime(path, feeds, tmp_path / "out", rtol=1e-5, atol=1e-6, **where, **options)


#: A browser session while the webgl pass runs (see ``test_every_case_on_webgl``).
WEBGL: list = []


def _conv() -> tuple[helper.NodeProto, dict]:
    """A 1x1 Conv x[1,2,5,6] -> y[1,3,5,6]: y is NHWC inside the converter."""
    weight = np.random.default_rng(1).standard_normal((3, 2, 1, 1)).astype(np.float32)
    return helper.make_node("Conv", ["x", "w"], ["y"]), {"w": weight}


def _ints(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


@pytest.mark.node
def test_reductions_over_axes_fed_at_run_time(tmp_path, tfjs_runtime):
    """Every reduction kind, negative axes, keepdims on an NHWC tensor, and an axes tensor of unknown
    length fed empty: all axes without noop_with_empty_axes, the data itself with it."""
    conv, weights = _conv()
    nodes = [conv, helper.make_node("ReduceSum", ["y", "axes"], ["sum_nhwc"], keepdims=1),
             helper.make_node("ReduceMean", ["y", "axes"], ["mean_flat"], keepdims=0),
             helper.make_node("ReduceMax", ["v", "axes"], ["max"], keepdims=1),
             helper.make_node("ReduceL2", ["v", "axes"], ["l2"], keepdims=0),
             helper.make_node("ReduceLogSumExp", ["v", "axes"], ["lse"], keepdims=0),
             helper.make_node("ReduceSumSquare", ["v", "axes"], ["sq"], keepdims=1),
             helper.make_node("ReduceProd", ["v", "axes"], ["prod"], keepdims=0),
             helper.make_node("ReduceSum", ["v", "none"], ["sum_all"], keepdims=0),
             helper.make_node("ReduceMin", ["v", "none"], ["min_noop"], keepdims=1, noop_with_empty_axes=1)]
    path = _model(tmp_path, nodes, {"x": (F, [1, 2, 5, 6]), "v": (F, [1, 3, 4, 2]), "axes": (I64, [2]),
                                    "none": (I64, ["n"])},
                  ["sum_nhwc", "mean_flat", "max", "l2", "lse", "sq", "prod", "sum_all", "min_noop"],
                  initializers=weights)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((1, 2, 5, 6)).astype(np.float32),
             "v": rng.uniform(0.5, 1.5, (1, 3, 4, 2)).astype(np.float32), "axes": _ints(-1, 1),
             "none": np.zeros((0,), np.int64)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["sum_nhwc"].shape == (1, 1, 5, 1) and expected["sum_all"].shape == ()
    assert expected["min_noop"].shape == (1, 3, 4, 2)


@pytest.mark.node
def test_reductions_over_an_empty_input_with_axes_at_run_time(tmp_path, tfjs_runtime):
    """Over zero elements the result is the identity (TF.js's Max gives NaN, wasm's Prod 0)."""
    nodes = [helper.make_node(op, ["e", "axes"], [op.lower()], keepdims=1)
             for op in ("ReduceMax", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceLogSum")]
    nodes.append(helper.make_node("ReduceMin", ["e", "axes"], ["min_flat"], keepdims=0))
    outputs = [op.lower() for op in ("ReduceMax", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceLogSum")] + ["min_flat"]
    path = _model(tmp_path, nodes, {"e": (F, [2, 0, 3]), "axes": (I64, [1])}, outputs)
    expected = _matches_onnxruntime(path, {"e": np.zeros((2, 0, 3), np.float32), "axes": _ints(1)}, tmp_path)
    assert np.all(expected["reducemax"] == -np.inf) and np.all(expected["reduceprod"] == 1)
    assert expected["min_flat"].shape == (2, 3) and np.all(expected["min_flat"] == np.inf)


@pytest.mark.node
def test_a_composite_reduction_with_noop_axes_of_unknown_length_is_refused(tmp_path):
    nodes = [helper.make_node("ReduceL2", ["v", "none"], ["l2"], keepdims=1, noop_with_empty_axes=1)]
    path = _model(tmp_path, nodes, {"v": (F, [2, 3]), "none": (I64, ["n"])}, ["l2"])
    with pytest.raises(TfjsconvError, match="noop_with_empty_axes=1 with axes computed at run time"):
        tfjsconv.convert(path, tmp_path / "out")


@pytest.mark.node
def test_slices_with_every_parameter_at_run_time(tmp_path, tfjs_runtime):
    """Negative and out-of-range starts/ends, negative steps, an empty result, and an NHWC input."""
    conv, weights = _conv()
    nodes = [conv, helper.make_node("Slice", ["v", "s1", "e1", "a1", "t1"], ["backwards"]),
             helper.make_node("Slice", ["v", "s2", "e2", "a2", "t2"], ["forwards"]),
             helper.make_node("Slice", ["v", "s3", "e3"], ["empty"]),
             helper.make_node("Slice", ["y", "s2", "e2", "a2", "t2"], ["nhwc"])]
    inputs = {"x": (F, [1, 2, 5, 6]), "v": (F, [3, 4, 5, 6])}
    inputs.update({name: (I64, [2]) for name in ("s1", "e1", "a1", "t1", "s2", "e2", "a2", "t2", "s3", "e3")})
    path = _model(tmp_path, nodes, inputs, ["backwards", "forwards", "empty", "nhwc"], initializers=weights)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((1, 2, 5, 6)).astype(np.float32),
             "v": rng.standard_normal((3, 4, 5, 6)).astype(np.float32),
             "s1": _ints(4, -1), "e1": _ints(-100, 1), "a1": _ints(2, -3), "t1": _ints(-2, -1),
             "s2": _ints(1, -4), "e2": _ints(1000, -1), "a2": _ints(-1, 1), "t2": _ints(2, 1),
             "s3": _ints(2, 3), "e3": _ints(1, 4)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["backwards"].shape == (3, 2, 3, 6) and expected["empty"].shape == (0, 1, 5, 6)


@pytest.mark.node
def test_split_unsqueeze_squeeze_topk_cumsum_at_run_time(tmp_path, tfjs_runtime):
    """SplitV's sizes, TopKV2's k and Cumsum's (negative) axis feed TF.js as tensors; Unsqueeze and
    Squeeze reshape to a shape built in the graph."""
    conv, weights = _conv()
    nodes = [conv, helper.make_node("Split", ["v", "sizes"], ["p0", "p1", "p2"], axis=1),
             helper.make_node("Unsqueeze", ["v", "new_axes"], ["unsqueezed"]),
             helper.make_node("Squeeze", ["ones", "drop_axes"], ["squeezed"]),
             helper.make_node("TopK", ["v", "k"], ["top_values", "top_indices"], axis=1, largest=0),
             helper.make_node("CumSum", ["y", "cum_axis"], ["cum_nhwc"], reverse=1),
             helper.make_node("Split", ["dyn"], ["q0", "q1", "q2"], axis=0, num_outputs=3)]
    inputs = {"x": (F, [1, 2, 5, 6]), "v": (F, [2, 6, 3]), "ones": (F, [2, 1, 3, 1]), "sizes": (I64, [3]),
              "new_axes": (I64, [2]), "drop_axes": (I64, [2]), "k": (I64, [1]), "cum_axis": (I64, []),
              "dyn": (F, ["n", 2])}
    path = _model(tmp_path, nodes, inputs, ["p0", "p1", "p2", "unsqueezed", "squeezed", "top_values", "top_indices",
                                            "cum_nhwc", "q0", "q1", "q2"], initializers=weights)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((1, 2, 5, 6)).astype(np.float32),
             "v": rng.standard_normal((2, 6, 3)).astype(np.float32),
             "ones": rng.standard_normal((2, 1, 3, 1)).astype(np.float32),
             "sizes": _ints(1, 0, 5), "new_axes": _ints(-1, 1), "drop_axes": _ints(-1, 1), "k": _ints(4),
             "cum_axis": np.asarray(-3, np.int64), "dyn": rng.standard_normal((7, 2)).astype(np.float32)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["q2"].shape == (1, 2)  # ceil(7 / 3) = 3, 3, and the 1 left
    assert expected["unsqueezed"].shape == (2, 1, 6, 3, 1) and expected["squeezed"].shape == (2, 3)
    assert expected["p1"].shape == (2, 0, 3)


@pytest.mark.node
def test_pads_at_run_time_in_every_mode(tmp_path, tfjs_runtime):
    """Constant (with a fed value and negative pads that crop), reflect, edge and wrap, on an NHWC
    input and with axes fed at run time."""
    conv, weights = _conv()
    nodes = [conv, helper.make_node("Pad", ["y", "pads4", "value"], ["constant_nhwc"]),
             helper.make_node("Pad", ["v", "pads2", "", "axes"], ["reflect"], mode="reflect"),
             helper.make_node("Pad", ["v", "pads2", "", "axes"], ["edge"], mode="edge"),
             helper.make_node("Pad", ["y", "pads2", "", "axes"], ["wrap_nhwc"], mode="wrap")]
    nodes += [helper.make_node("Pad", ["v", "mixed", "", "axes"], [f"{mode}_mixed"], mode=mode)
              for mode in ("reflect", "edge", "wrap")]  # one side crops: onnxruntime crops, then pads
    nodes.append(helper.make_node("Pad", ["v", "fixed_crop"], ["constant_crop"]))  # constant negative pads too
    inputs = {"x": (F, [1, 2, 5, 6]), "v": (F, [3, 4, 5]), "pads4": (I64, [8]), "pads2": (I64, [4]),
              "value": (F, []), "axes": (I64, [2]), "mixed": (I64, [4])}
    path = _model(tmp_path, nodes, inputs, ["constant_nhwc", "reflect", "edge", "wrap_nhwc", "reflect_mixed",
                                            "edge_mixed", "wrap_mixed", "constant_crop"], opset=19,
                  initializers={**weights, "fixed_crop": _ints(-1, 2, 0, 0, -1, -2)})
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((1, 2, 5, 6)).astype(np.float32),
             "v": rng.standard_normal((3, 4, 5)).astype(np.float32),
             "pads4": _ints(0, 1, -1, 2, 1, 0, 3, -2), "pads2": _ints(2, 1, 0, 3), "value": np.asarray(7.5, np.float32),
             "axes": _ints(-1, 1), "mixed": _ints(2, -1, -2, 1)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["constant_nhwc"].shape == (2, 4, 7, 6)


@pytest.mark.node
def test_negative_indices_fed_at_run_time(tmp_path, tfjs_runtime):
    """ONNX counts negative indices from the end; TF.js's gathers and scatters reject them."""
    nodes = [helper.make_node("Gather", ["data", "idx"], ["gathered"], axis=1),
             helper.make_node("GatherElements", ["data", "elem_idx"], ["elements"], axis=0),
             helper.make_node("GatherND", ["data", "nd_idx"], ["nd"], batch_dims=1),
             helper.make_node("ScatterND", ["data", "row_idx", "rows"], ["scattered"]),
             helper.make_node("ScatterElements", ["data", "elem_idx", "elem_upd"], ["scattered_elements"], axis=0)]
    inputs = {"data": (F, [3, 4]), "idx": (I64, [2]), "elem_idx": (I64, [2, 4]), "nd_idx": (I64, [3, 1]),
              "row_idx": (I64, [2, 1]), "rows": (F, [2, 4]), "elem_upd": (F, [2, 4])}
    path = _model(tmp_path, nodes, inputs, ["gathered", "elements", "nd", "scattered", "scattered_elements"])
    rng = np.random.default_rng(0)
    feeds = {"data": rng.standard_normal((3, 4)).astype(np.float32), "idx": _ints(-1, 2),
             "elem_idx": np.asarray([[-1, 0, 2, -3], [1, -2, 0, 2]], np.int64), "nd_idx": _ints(-1, 3, -4).reshape(3, 1),
             "row_idx": _ints(-1, 0).reshape(2, 1), "rows": rng.standard_normal((2, 4)).astype(np.float32),
             "elem_upd": rng.standard_normal((2, 4)).astype(np.float32)}
    _matches_onnxruntime(path, feeds, tmp_path)


@pytest.mark.node
def test_scatter_reductions_apply_every_update(tmp_path, tfjs_runtime):
    """add/mul/max/min with indices that repeat: each update lands in order, as onnxruntime applies them."""
    nodes = [helper.make_node("ScatterND", ["data", "row_idx", "rows"], [f"nd_{r}"], reduction=r)
             for r in ("add", "mul", "max", "min")]
    nodes += [helper.make_node("ScatterElements", ["data", "elem_idx", "elem_upd"], [f"el_{r}"], axis=1, reduction=r)
              for r in ("add", "mul", "max", "min")]
    inputs = {"data": (F, [3, 4]), "row_idx": (I64, [3, 1]), "rows": (F, [3, 4]), "elem_idx": (I64, [3, 2]),
              "elem_upd": (F, [3, 2])}
    outputs = [f"{kind}_{r}" for kind in ("nd", "el") for r in ("add", "mul", "max", "min")]
    path = _model(tmp_path, nodes, inputs, outputs)
    rng = np.random.default_rng(0)
    feeds = {"data": rng.standard_normal((3, 4)).astype(np.float32), "row_idx": _ints(2, 0, 2).reshape(3, 1),
             "rows": rng.standard_normal((3, 4)).astype(np.float32),
             "elem_idx": np.asarray([[1, 1], [0, -1], [3, 3]], np.int64),
             "elem_upd": rng.standard_normal((3, 2)).astype(np.float32)}
    _matches_onnxruntime(path, feeds, tmp_path)


@pytest.mark.node
def test_tensor_scatter_writes_the_cache_window(tmp_path, tfjs_runtime):
    """Opset 24's KV-cache write, linear and circular, with write indices fed at run time."""
    nodes = [helper.make_node("TensorScatter", ["cache", "update", "starts"], ["linear"], axis=2),
             helper.make_node("TensorScatter", ["cache", "update", "wrapping"], ["circular"], axis=2, mode="circular")]
    inputs = {"cache": (F, [2, 3, 5, 4]), "update": (F, [2, 3, 2, 4]), "starts": (I64, [2]), "wrapping": (I64, [2])}
    path = _model(tmp_path, nodes, inputs, ["linear", "circular"], opset=24)
    rng = np.random.default_rng(0)
    feeds = {"cache": rng.standard_normal((2, 3, 5, 4)).astype(np.float32),
             "update": rng.standard_normal((2, 3, 2, 4)).astype(np.float32), "starts": _ints(1, 3),
             "wrapping": _ints(0, 4)}  # the second sample's window wraps round to position 0
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert np.array_equal(expected["circular"][1, :, 0], feeds["update"][1, :, 1])


@pytest.mark.node
def test_dropout_mask_and_training_mode(tmp_path, tfjs_runtime):
    """At inference the mask is all true; training with ratio 0 is the identity too. A training_mode
    fed at run time (with a non-zero ratio) cannot be decided before running: refused."""
    conv, weights = _conv()
    nodes = [conv, helper.make_node("Dropout", ["y"], ["out", "mask"]),
             helper.make_node("Dropout", ["v", "zero", "yes"], ["kept", "kept_mask"])]
    path = _model(tmp_path, nodes, {"x": (F, [1, 2, 5, 6]), "v": (F, [3, 4])}, ["out", "mask", "kept", "kept_mask"],
                  initializers={**weights, "zero": np.asarray(0.0, np.float32), "yes": np.asarray(True)})
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((1, 2, 5, 6)).astype(np.float32),
             "v": rng.standard_normal((3, 4)).astype(np.float32)}
    expected = _matches_onnxruntime(path, feeds, tmp_path)
    assert expected["mask"].all() and expected["mask"].shape == (1, 3, 5, 6)
    refused = _model(tmp_path, [helper.make_node("Dropout", ["v", "ratio", "training"], ["d"])],
                     {"v": (F, [3, 4]), "ratio": (F, []), "training": (TensorProto.BOOL, [])}, ["d"])
    with pytest.raises(TfjsconvError, match="training_mode computed at run time is not supported"):
        tfjsconv.convert(refused, tmp_path / "refused")
    # before opset 10 the mask has the input's type and onnxruntime fills it with zeros: not given
    old_mask = _model(tmp_path, [helper.make_node("Dropout", ["v"], ["d", "m"])], {"v": (F, [3, 4])}, ["d", "m"],
                      opset=9)
    with pytest.raises(TfjsconvError, match=r"output 1 \('m'\) is not supported"):
        tfjsconv.convert(old_mask, tmp_path / "old_mask")


#: The cases with the most int32 index arithmetic, and the one webgl crashed on (a reduction of an
#: empty input); every case passed on webgl when this was written, the rest are left out for time.
_CASES = [test_reductions_over_an_empty_input_with_axes_at_run_time, test_slices_with_every_parameter_at_run_time,
          test_pads_at_run_time_in_every_mode, test_scatter_reductions_apply_every_update]


@pytest.mark.node
@pytest.mark.parametrize("case", _CASES, ids=lambda f: f.__name__.removeprefix("test_"))
def test_every_case_on_webgl(case, browser, tmp_path, tfjs_runtime):
    """The same models on TF.js's webgl backend (headless Chromium), against onnxruntime too."""
    WEBGL.append(browser)
    try:
        case(tmp_path, tfjs_runtime)
    finally:
        WEBGL.clear()
