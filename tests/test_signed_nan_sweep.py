"""NaN in the ops the TF op conformance table never fed one: deviations the contract did not name (session 16, H1).

The sweep (/work/notes/probe16/h1_signed_nan*.py) ran every conformance case holding a NaN again with the NaN's sign
bit set (-NaN, as ``-x`` of a NaN and x86's Inf - Inf give): on cpu, wasm and webgl no op but wasm's Relu (named since
session 15, ``tests/test_relu_signed_nan.py``) answers -NaN otherwise than NaN. It then put NaN into every case that
held none, and found these ops giving other results than TF for NaN (or ±Inf), named by no conversion:

* ``ResizeBilinear``: wasm weighs every neighbour, so a NaN or ±Inf pixel makes NaN of outputs that give it weight 0
  (0·Inf); on cpu and webgl a resize to the input's own size turns ±Inf into NaN (TF copies the input).
* ``LRN``: TF's CPU kernel sums squares through a band matrix, so a NaN or ±Inf makes NaN of the channels outside
  its window too (0·Inf); TF.js sums the window only (cpu, wasm, webgl).
* ``NonMaxSuppressionV2..V5``: TF.js never selects a box with a NaN coordinate, TF may (cpu, wasm, webgl).
* ``UpperBound``: a NaN value gives 0 on cpu and webgl; TF gives the row length.
* ``MaxPoolWithArgmax`` (cpu): TF's window max starts at the window's first value, so a NaN there stays (with its
  index); TF.js skips it.
* ``RFFT`` (cpu): TF's FFT of a row holding NaN leaves some real parts finite; TF.js makes every bin NaN.
* ``TensorScatterUpdate`` (webgl): a NaN or ±Inf the update overwrites gives NaN (the shader mixes by 0·x).

Each is a contract deviation row now (none exactly rewritable), with a conformance case (``ResizeBilinear/
nan_inf_same_size``, ``LRN/nan_inf``, ``NonMaxSuppressionV3/nan_boxes``, ``UpperBound/nan_values``,
``MaxPoolWithArgmax/nan_first_in_window``, ``RFFT/nan``, ``TensorScatterUpdate/inf_overwritten``): the conversion names
them in its notice.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

NAN, INF = np.float32(np.nan), np.float32(np.inf)
_rng = np.random.default_rng(16)
IMAGE = _rng.standard_normal((1, 3, 4, 2)).astype(np.float32)
IMAGE[0, 1, 1, 0], IMAGE[0, 2, 2, 1] = NAN, -INF
CHANNELS = _rng.standard_normal((1, 2, 2, 8)).astype(np.float32)
CHANNELS[0, 0, 0, 7] = INF
BOXES = np.float32([[0, NAN, 1, 1], [0, 0.1, NAN, 1.1], [0, -0.1, 1, 0.9], [0, 10, 1, 11], [NAN, 10.1, 1, 11.1],
                    [0, 100, 1, 101]])
SCORES = np.float32([0.9, 0.75, 0.6, 0.95, 0.5, 0.3])
VALUES = np.float32([[0, NAN, 6]])
TENSOR = np.float32([[1, 2, 3], [4, 5, 6], [7, 8, 9], [NAN, 1, -INF]])
FEEDS = {"image": IMAGE, "channels": CHANNELS, "boxes": BOXES, "scores": SCORES, "values": VALUES, "tensor": TENSOR}
OUTPUTS = ["resize", "lrn", "nms", "upper", "scatter"]
#: Graph B: ops wasm and webgl refuse (no kernel, or a wrong one), so converted for cpu alone.
POOLED = _rng.standard_normal((1, 4, 4, 1)).astype(np.float32)
POOLED[0, 0, 0, 0], POOLED[0, 2, 2, 0] = NAN, NAN  # each first in its 2×2 window
ROWS = _rng.standard_normal((2, 8)).astype(np.float32)
ROWS[0, 1], ROWS[1, 6] = NAN, NAN
CPU_FEEDS = {"pooled": POOLED, "rows": ROWS}
CPU_OUTPUTS = ["pool", "rfft"]


def _placeholder(name: str, feeds: dict[str, np.ndarray]):
    return tf.compat.v1.placeholder(tf.float32, feeds[name].shape, name=name)


def _build(tf) -> None:
    raw = tf.raw_ops
    x = {name: _placeholder(name, FEEDS) for name in FEEDS}
    raw.ResizeBilinear(images=x["image"], size=tf.constant([3, 4]), half_pixel_centers=True, name="resize")
    raw.LRN(input=x["channels"], depth_radius=2, bias=1.0, alpha=0.5, beta=0.75, name="lrn")
    raw.NonMaxSuppressionV3(boxes=x["boxes"], scores=x["scores"], max_output_size=tf.constant(3),
                            iou_threshold=tf.constant(0.5), score_threshold=tf.constant(0.1), name="nms")
    raw.UpperBound(sorted_inputs=tf.constant([[1.0, 3, 5, 7]]), values=x["values"], out_type=tf.int32, name="upper")
    raw.TensorScatterUpdate(tensor=x["tensor"], indices=tf.constant([[3], [0]]),
                            updates=tf.constant([[10.0, 11, 12], [13, 14, 15]]), name="scatter")


def _build_cpu(tf) -> None:
    x = {name: _placeholder(name, CPU_FEEDS) for name in CPU_FEEDS}
    tf.raw_ops.MaxPoolWithArgmax(input=x["pooled"], ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID",
                                 Targmax=tf.int32, name="pool")
    tf.raw_ops.RFFT(input=x["rows"], fft_length=tf.constant([8]), name="rfft")


def _frozen(path, build, feeds: dict[str, np.ndarray], outputs: list[str]):
    """``raw_ops_graph``, rewritten with TF's ``_output_shapes``: tfjsconv infers no shape for UpperBound, and the
    contract refuses an op of unknown rank (never probed at rank 7); a real frozen graph carries the shapes."""
    source, expected = raw_ops_graph(path, build, feeds, outputs)
    graph = tf.Graph()
    with graph.as_default():
        build(tf)
    source.write_bytes(graph.as_graph_def(add_shapes=True).SerializeToString())
    return source, expected


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return _frozen(tmp_path_factory.mktemp("nan") / "nan.pb", _build, FEEDS, OUTPUTS)


@pytest.fixture(scope="module")
def frozen_cpu(tmp_path_factory):
    return _frozen(tmp_path_factory.mktemp("nan_cpu") / "nan_cpu.pb", _build_cpu, CPU_FEEDS, CPU_OUTPUTS)


def _named(source, folder, backend: str, outputs: list[str]) -> str:
    """The conversion's special-values notice for one target backend ("" when there is none)."""
    result = tfjsconv.convert(source, folder, output_node_names=outputs, target_backends=[backend])
    return " ".join(n for n in result.notices if n.startswith("special values"))


@pytest.mark.parametrize("backend, named, unnamed", [
    ("cpu", ["ResizeBilinear", "LRN", "NonMaxSuppressionV3", "UpperBound"], ["TensorScatterUpdate"]),
    ("wasm", ["ResizeBilinear", "LRN", "NonMaxSuppressionV3"], ["UpperBound", "TensorScatterUpdate"]),
    ("webgl", ["ResizeBilinear", "LRN", "NonMaxSuppressionV3", "UpperBound", "TensorScatterUpdate"], []),
])
def test_the_notice_names_each_deviating_op_for_its_backends(frozen, tmp_path, backend, named, unnamed):
    text = _named(frozen[0], tmp_path / backend, backend, OUTPUTS)
    assert all(f"{op}" in text for op in named) and not any(op in text for op in unnamed), text


def test_the_notice_names_the_cpu_only_ops(frozen_cpu, tmp_path):
    text = _named(frozen_cpu[0], tmp_path / "cpu", "cpu", CPU_OUTPUTS)
    assert "MaxPoolWithArgmax" in text and "RFFT" in text, text


def _same(want: np.ndarray, got: np.ndarray) -> bool:
    want, got = np.asarray(want), np.asarray(got)
    if want.dtype.kind == "c":
        want = np.stack([want.real, want.imag], -1)
        got = got if got.shape == want.shape else np.stack([got.real, got.imag], -1)
    return want.shape == got.shape and bool(np.allclose(want, got, rtol=1e-4, atol=1e-5, equal_nan=True))


@pytest.mark.node
def test_the_named_ops_really_deviate_on_cpu_and_wasm(frozen, tmp_path, tfjs_runtime):
    """What the rows say, measured: fails (and the row is to drop) once a TF.js update answers as TF."""
    source, expected = frozen
    notice = _named(source, tmp_path / "named", "wasm", OUTPUTS)  # the deviations below are the ones it names
    assert all(op in notice for op in ("ResizeBilinear", "LRN", "NonMaxSuppressionV3")), notice
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", FEEDS, OUTPUTS)
    assert np.isneginf(expected["resize"][0, 2, 2, 1]) and np.isnan(cpu["resize"][0, 2, 2, 1])  # -Inf became NaN
    assert np.isnan(wasm["resize"]).sum() > np.isnan(expected["resize"]).sum()  # the NaN spread to its neighbours
    assert np.isnan(expected["lrn"][0, 0, 0, :5]).all()  # TF: channels outside the Inf's window are NaN
    assert np.isfinite(cpu["lrn"][0, 0, 0, :5]).all() and np.isfinite(wasm["lrn"][0, 0, 0, :5]).all()
    assert expected["nms"].tolist() == [3, 1, 2] and cpu["nms"].tolist() == wasm["nms"].tolist() == [3, 2, 5]
    assert expected["upper"].tolist() == [[0, 4, 3]] and cpu["upper"].tolist() == [[0, 0, 3]]
    assert _same(expected["upper"], wasm["upper"])
    assert _same(expected["scatter"], cpu["scatter"]) and _same(expected["scatter"], wasm["scatter"])


@pytest.mark.node
def test_the_cpu_only_ops_really_deviate_on_cpu(frozen_cpu, tmp_path, tfjs_runtime):
    from tfjsconv.verify.run import run_model

    source, expected = frozen_cpu
    notice = _named(source, tmp_path / "cpu", "cpu", CPU_OUTPUTS)
    assert "MaxPoolWithArgmax" in notice and "RFFT" in notice, notice
    run = run_model(tmp_path / "cpu", CPU_FEEDS, backends=["cpu"], quiet=True)["cpu"]
    assert run.ok, run.error
    got = {name: np.asarray(value) for name, value in run.outputs.items()}
    assert np.isnan(expected["pool"]).sum() == 2 and not np.isnan(got["pool"]).any()  # TF keeps the NaN; TF.js skips
    assert got["rfft"].dtype.kind == "c" and got["rfft"].shape == expected["rfft"].shape
    assert np.isfinite(expected["rfft"].real).any() and np.isnan(got["rfft"].real).all()  # TF leaves some finite
