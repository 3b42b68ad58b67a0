"""Scatter indices known only at run time: one outside the tensor makes the TF.js run fail, as TF raises.

Without the ``scatter_index_guard`` pass TF.js's wasm kernels check nothing (``ScatterNd`` and ``TensorScatterUpdate``
with row 4, -1 or 400 of 4 return as if the update were absent: the write went elsewhere in wasm's memory) and cpu
checks only the flattened index (``[0, 5]`` into ``[4, 3]`` writes ``[1, 2]``). Expected values from ``tf.raw_ops``
(and onnxruntime for ONNX ``ScatterND``); TF.js cpu and wasm, webgl for one model.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

X = np.arange(12, dtype=np.float32).reshape(4, 3) - 5.5
ROWS = np.array([[-0.0, 7.25, np.inf], [1.5, np.nan, -2.0]], np.float32)
ELEMENTS = np.array([-0.0, 9.5], np.float32)


def _tsu_rows(tf):
    x = tf.compat.v1.placeholder(tf.float32, (None, 3), "x")  # rows known only at run time: sizes from Shape
    i = tf.compat.v1.placeholder(tf.int32, (2, 1), "i")
    u = tf.compat.v1.placeholder(tf.float32, (2, 3), "u")
    return tf.raw_ops.TensorScatterUpdate(tensor=x, indices=i, updates=u)


def _tsu_elements(tf):
    x = tf.compat.v1.placeholder(tf.float32, (4, 3), "x")
    i = tf.compat.v1.placeholder(tf.int32, (2, 2), "i")
    u = tf.compat.v1.placeholder(tf.float32, (2,), "u")
    return tf.raw_ops.TensorScatterUpdate(tensor=x, indices=i, updates=u)


def _scatter_nd(tf):
    i = tf.compat.v1.placeholder(tf.int32, (2, 2), "i")
    u = tf.compat.v1.placeholder(tf.float32, (2,), "u")
    return tf.raw_ops.ScatterNd(indices=i, updates=u, shape=tf.constant([4, 3]))


def _scatter_nd_unknown_depth(tf):
    i = tf.compat.v1.placeholder(tf.int32, (None, None), "i")  # the index depth read at run time
    u = tf.compat.v1.placeholder(tf.float32, (None,), "u")
    return tf.raw_ops.ScatterNd(indices=i, updates=u, shape=tf.constant([4, 3]))


def _scatter_nd_run_time_shape(tf):
    i = tf.compat.v1.placeholder(tf.int32, (2, 1), "i")
    u = tf.compat.v1.placeholder(tf.float32, (2, 3), "u")
    s = tf.compat.v1.placeholder(tf.int32, (2,), "s")
    return tf.raw_ops.ScatterNd(indices=i, updates=u, shape=s)


#: model → (builder, feeds but the indices, valid indices, invalid indices by case)
MODELS = {
    "tsu_rows": (_tsu_rows, {"x": X, "u": ROWS}, [[3], [0]],
                 {"row_4": [[1], [4]], "minus_1": [[-1], [2]], "row_400": [[0], [400]]}),
    "tsu_elements": (_tsu_elements, {"x": X, "u": ELEMENTS}, [[3, 2], [0, 0]],
                     {"row_4": [[4, 0], [1, 1]], "minus_1": [[1, -1], [1, 1]], "col_5": [[0, 5], [1, 1]],
                      "row_400": [[400, 0], [1, 1]]}),
    "scatter_nd": (_scatter_nd, {"u": ELEMENTS}, [[3, 2], [0, 1]],
                   {"row_4": [[1, 0], [4, 0]], "minus_1": [[-1, 0], [0, 0]], "col_5": [[0, 5], [1, 1]],
                    "row_400": [[1, 0], [400, 0]]}),
    "scatter_nd_depth": (_scatter_nd_unknown_depth, {"u": ELEMENTS}, [[3, 2], [0, 1]],
                         {"row_4": [[1, 0], [4, 0]], "minus_1": [[0, 0], [0, -1]], "col_5": [[0, 5], [1, 1]]}),
    "scatter_nd_shape": (_scatter_nd_run_time_shape, {"u": ROWS, "s": np.array([4, 3], np.int32)}, [[2], [0]],
                         {"row_4": [[1], [4]], "minus_1": [[-1], [0]], "row_400": [[400], [0]]}),
}


def _feeds(model: str, indices) -> dict[str, np.ndarray]:
    return {**MODELS[model][1], "i": np.array(indices, np.int32)}


def _convert(folder: Path, model: str, **options) -> tuple[Path, dict[str, np.ndarray] | None]:
    """The model as a GraphDef, converted; TF's output for the valid indices."""
    graph = tf.Graph()
    with graph.as_default():
        tf.identity(MODELS[model][0](tf), name="y")
    with tf.compat.v1.Session(graph=graph) as session:
        want = session.run("y:0", {f"{k}:0": v for k, v in _feeds(model, MODELS[model][2]).items()})
    (folder / "m.pb").write_bytes(graph.as_graph_def().SerializeToString())
    tfjsconv.convert(folder / "m.pb", folder / "out", output_node_names=["y"], **options)
    return folder / "out", want


def _tf_raises(model: str, indices) -> bool:
    graph = tf.Graph()
    with graph.as_default():
        tf.identity(MODELS[model][0](tf), name="y")
    with tf.compat.v1.Session(graph=graph) as session:
        try:
            session.run("y:0", {f"{k}:0": v for k, v in _feeds(model, indices).items()})
        except tf.errors.InvalidArgumentError:
            return True
    return False


def _same_bits(got, want, label: str) -> None:
    got = np.asarray(got, np.float32).reshape(want.shape)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32)) or (
        np.array_equal(np.isnan(got), np.isnan(want))
        and np.array_equal(got[~np.isnan(want)].view(np.uint32), want[~np.isnan(want)].view(np.uint32))), label


@pytest.fixture(scope="module", params=list(MODELS))
def converted(request, tmp_path_factory):
    return request.param, *_convert(tmp_path_factory.mktemp(request.param), request.param)


@pytest.mark.node
def test_valid_indices_give_tf_exactly(converted):
    model, out, want = converted
    runs = run_model(out, _feeds(model, MODELS[model][2]), backends=["cpu", "wasm"], quiet=True).backends
    for backend, run in runs.items():
        assert run.ok, (model, backend, run.error)
        _same_bits(run.outputs["y"], want, f"{model} {backend}")


@pytest.mark.node
def test_an_index_outside_the_tensor_fails_the_run(converted):
    """TF raises for each case; TF.js's cpu and wasm runs fail on the guard's GatherV2."""
    model, out, _ = converted
    for case, indices in MODELS[model][3].items():
        assert _tf_raises(model, indices), (model, case)
        runs = run_model(out, _feeds(model, indices), backends=["cpu", "wasm"], quiet=True).backends
        seen = {backend: "ok" if run.ok else str(run.error)[:80] for backend, run in runs.items()}
        assert all("GatherV2" in error for error in seen.values()), (model, case, seen)


def test_the_guard_is_six_ops_on_the_indices(converted):
    """Minimum, Maximum, Sub, AddV2, GatherV2 and the AddV2 that feeds the scatter; a constant ``upper`` when the
    sizes are known, ``Shape``/``StridedSlice``/``Sub`` of them at run time."""
    model, out, _ = converted
    ops = [n["op"] for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]]
    for op in ("Minimum", "Maximum", "GatherV2"):
        assert ops.count(op) == 1, (model, ops)
    assert ops.count("Sub") == (2 if model in ("tsu_rows", "scatter_nd_shape", "scatter_nd_depth") else 1), (model, ops)


@pytest.mark.node
def test_without_the_guard_wasm_returns_and_cpu_misses_a_column(tmp_path):
    """What the guard fixes (``--skip_passes scatter_index_guard``): wasm returns for a row past the tensor, and
    cpu writes ``[0, 5]`` of a ``[4, 3]`` tensor at ``[1, 2]``; TF raises on both."""
    out, _ = _convert(tmp_path, "scatter_nd", skip_passes=["scatter_index_guard"])
    row = run_model(out, _feeds("scatter_nd", MODELS["scatter_nd"][3]["row_4"]), backends=["wasm"], quiet=True)
    assert row.backends["wasm"].ok
    feeds = {"i": np.array(MODELS["scatter_nd"][3]["col_5"], np.int32), "u": np.array([2.5, 9.5], np.float32)}
    column = run_model(out, feeds, backends=["cpu"], quiet=True)
    assert column.backends["cpu"].ok
    assert np.asarray(column.backends["cpu"].outputs["y"]).reshape(4, 3)[1, 2] == 2.5  # [0, 5] landed on [1, 2]


def test_constant_indices_are_not_guarded(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        u = tf.compat.v1.placeholder(tf.float32, (2,), "u")
        tf.identity(tf.raw_ops.ScatterNd(indices=tf.constant([[3, 2], [0, 1]]), updates=u, shape=[4, 3]), name="y")
    (tmp_path / "m.pb").write_bytes(graph.as_graph_def().SerializeToString())
    tfjsconv.convert(tmp_path / "m.pb", tmp_path / "out", output_node_names=["y"])
    ops = [n["op"] for n in json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]["node"]]
    assert "GatherV2" not in ops and "Minimum" not in ops, ops


def test_tensor_scatter_add_is_refused_by_name(tmp_path):
    """TF.js has no TensorScatterAdd/Sub/Max/Min: the conversion refuses them rather than run them unchecked."""
    from tfjsconv.errors import TfjsconvError

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (4, 3), "x")
        i = tf.compat.v1.placeholder(tf.int32, (2, 1), "i")
        u = tf.compat.v1.placeholder(tf.float32, (2, 3), "u")
        tf.identity(tf.raw_ops.TensorScatterAdd(tensor=x, indices=i, updates=u), name="y")
    (tmp_path / "m.pb").write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(TfjsconvError, match="TensorScatterAdd"):
        tfjsconv.convert(tmp_path / "m.pb", tmp_path / "out", output_node_names=["y"])


@pytest.mark.node
def test_onnx_scatter_nd_with_run_time_indices(tmp_path):
    """ONNX ``ScatterND`` (indices wrapped from the end by the frontend): valid ones match onnxruntime; 3 and -4 into
    3 rows make onnxruntime raise, and the TF.js run fail on cpu and wasm."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    from onnx_models import onnx_model

    F, I64 = TensorProto.FLOAT, TensorProto.INT64
    path = onnx_model(tmp_path / "m.onnx", [helper.make_node("ScatterND", ["data", "idx", "rows"], ["y"])],
                      {"data": (F, [3, 4]), "idx": (I64, [2, 1]), "rows": (F, [2, 4])}, ["y"], name="scatter_guard")
    tfjsconv.convert(path, tmp_path / "out")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    data, rows = np.arange(12, dtype=np.float32).reshape(3, 4), np.full((2, 4), -1.5, np.float32)  # not -0: the ONNX mapping adds updates to 0
    for idx, valid in (([[-1], [0]], True), ([[3], [0]], False), ([[-4], [1]], False)):
        feeds = {"data": data, "idx": np.array(idx, np.int64), "rows": rows}
        runs = run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True).backends
        if valid:
            want = session.run(None, feeds)[0]
            for backend, run in runs.items():
                assert run.ok, (backend, run.error)
                _same_bits(run.outputs["y"], want, f"onnx {backend}")
            continue
        with pytest.raises(Exception):
            session.run(None, feeds)
        for backend, run in runs.items():
            assert not run.ok and "GatherV2" in str(run.error), (idx, backend, run.outputs)


@pytest.mark.node
def test_webgl_matches_and_drops_an_update_outside(tmp_path, browser):
    """webgl's GatherV2 checks indices only with TF.js's DEBUG flag (it reads 0 outside): the guard does not raise
    there, and webgl's scatter drops the update outside (its shader writes only into its output), as without it."""
    from tfjsconv.serve.browser import run_backends_in_browser

    out, want = _convert(tmp_path, "tsu_rows")

    def webgl(indices) -> np.ndarray:
        run = run_backends_in_browser(out, _feeds("tsu_rows", indices), backends=["webgl"], session=browser,
                                      flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]
        assert run.ok, run.error
        return np.asarray(run.outputs["y"], np.float32).reshape(X.shape)

    # values, not bits: webgl's own TensorScatterUpdate kernel writes an update of -0 as +0 (guard or not)
    np.testing.assert_array_equal(webgl(MODELS["tsu_rows"][2]), want)
    for case, indices in MODELS["tsu_rows"][3].items():
        kept = X.copy()
        for row, (index,) in zip(ROWS, indices):
            if 0 <= index < len(X):
                kept[index] = row
        np.testing.assert_array_equal(webgl(indices), kept, err_msg=case)
