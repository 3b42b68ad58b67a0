"""Index guards of session 22: ``GatherNd`` with run-time indices, constant scatter/gather indices into axes whose
size is known only at run time, and ONNX ``ScatterND`` keeping an update's -0.

Measured without the guard (``--skip_passes scatter_index_guard``): TF.js 4.22's cpu ``GatherNd`` checks only the
flattened index (``[0, 5]`` of ``[4, 3]`` reads ``[1, 2]``), wasm checks nothing (``[4, 0]`` reads 7.8e-44), webgl
reads 0; TF raises on all of them. Expected values from ``tf.raw_ops`` and onnxruntime; TF.js cpu and wasm (webgl in
Chromium for one model).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

P = (np.arange(12, dtype=np.float32).reshape(4, 3) - 5.5) * np.float32(1.25)
P[1, 2] = -0.0


def _placeholder(tf, shape, name, dtype=None):
    return tf.compat.v1.placeholder(dtype or tf.float32, shape, name)


def _gnd(params_shape, index_shape):
    def build(tf):
        i = _placeholder(tf, index_shape, "i", tf.int32)
        return tf.raw_ops.GatherNd(params=_placeholder(tf, params_shape, "p"), indices=i)
    return build


def _gnd_const(tf):
    """Constant indices into rows known only at run time: row 3 needs 4 rows."""
    return tf.raw_ops.GatherNd(params=_placeholder(tf, (None, 3), "p"), indices=tf.constant([[3, 2], [0, 1]]))


def _tsu_const(tf):
    """Constant rows of a tensor whose rows are known only at run time."""
    u = _placeholder(tf, (2, 3), "u")
    return tf.raw_ops.TensorScatterUpdate(tensor=_placeholder(tf, (None, 3), "p"), indices=tf.constant([[3], [0]]),
                                          updates=u)


def _scatter_nd_const(tf):
    """Constant indices, the shape fed at run time."""
    s = _placeholder(tf, (2,), "s", tf.int32)
    return tf.raw_ops.ScatterNd(indices=tf.constant([[3, 2], [0, 1]]), updates=tf.constant([-0.0, 9.5]), shape=s)


ROWS_U = np.array([[-0.0, 7.25, np.inf], [1.5, np.nan, -2.0]], np.float32)

#: model → (builder, feeds when valid, bad feeds by case)
MODELS = {
    "gnd_elements": (_gnd((4, 3), (2, 2)), {"p": P, "i": [[1, 2], [3, 0]]},
                     {"row_4": {"i": [[1, 0], [4, 0]]}, "minus_1": {"i": [[1, 0], [-1, 0]]},
                      "col_5": {"i": [[0, 5], [1, 1]]}, "col_minus_1": {"i": [[0, -1], [0, 0]]},
                      "row_400": {"i": [[400, 0], [0, 0]]}}),
    "gnd_rows_run_time": (_gnd((None, 3), (2, 1)), {"p": P, "i": [[1], [3]]},
                          {"row_4": {"i": [[1], [4]]}, "minus_1": {"i": [[-1], [0]]}, "row_400": {"i": [[0], [400]]}}),
    "gnd_depth_run_time": (_gnd((4, 3), (None, None)), {"p": P, "i": [[1, 2], [3, 0]]},
                           {"col_3": {"i": [[1, 3]]}, "minus_1": {"i": [[-1]]}, "row_4": {"i": [[4]]}}),
    "gnd_const": (_gnd_const, {"p": P}, {"three_rows": {"p": P[:3]}}),
    "tsu_const": (_tsu_const, {"p": P, "u": ROWS_U}, {"three_rows": {"p": P[:3]}, "one_row": {"p": P[:1]}}),
    "scatter_nd_const": (_scatter_nd_const, {"s": [4, 3]}, {"three_rows": {"s": [3, 3]}, "two_cols": {"s": [4, 2]}}),
}


def _feeds(model: str, case: str | None = None) -> dict[str, np.ndarray]:
    feeds = {**MODELS[model][1], **(MODELS[model][2][case] if case else {})}
    return {k: np.asarray(v, np.int32 if k in ("i", "s") else np.float32) for k, v in feeds.items()}


def _graph(model: str):
    graph = tf.Graph()
    with graph.as_default():
        tf.identity(MODELS[model][0](tf), name="y")
    return graph


def _tf(model: str, feeds: dict):
    with tf.compat.v1.Session(graph=_graph(model)) as session:
        return session.run("y:0", {f"{k}:0": v for k, v in feeds.items()})


def _convert(folder: Path, model: str, **options) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.pb").write_bytes(_graph(model).as_graph_def().SerializeToString())
    tfjsconv.convert(folder / "m.pb", folder / "out", output_node_names=["y"], **options)
    return folder / "out"


def _ops(out: Path) -> list[str]:
    return [n["op"] for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]]


def _same_bits(got, want, label: str) -> None:
    want = np.asarray(want, np.float32)
    got = np.asarray(got, np.float32).reshape(want.shape)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), label
    assert np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32)), (label, got, want)


@pytest.fixture(scope="module", params=list(MODELS))
def converted(request, tmp_path_factory):
    return request.param, _convert(tmp_path_factory.mktemp(request.param), request.param)


@pytest.mark.node
def test_valid_indices_give_tf_exactly(converted):
    model, out = converted
    want = _tf(model, _feeds(model))
    runs = run_model(out, _feeds(model), backends=["cpu", "wasm"], quiet=True).backends
    for backend, run in runs.items():
        assert run.ok, (model, backend, run.error)
        _same_bits(run.outputs["y"], want, f"{model} {backend}")


@pytest.mark.node
def test_an_index_outside_fails_the_run_as_tf_raises(converted):
    model, out = converted
    for case in MODELS[model][2]:
        feeds = _feeds(model, case)
        with pytest.raises(tf.errors.InvalidArgumentError):
            _tf(model, feeds)
        runs = run_model(out, feeds, backends=["cpu", "wasm"], quiet=True).backends
        seen = {backend: "ok" if run.ok else str(run.error)[:90] for backend, run in runs.items()}
        assert all("GatherV2" in error for error in seen.values()), (model, case, seen)


def test_constant_indices_stay_constant(converted):
    """The guard of constant indices checks the sizes: the indices reach the op as a Const (TensorScatterUpdate's
    exact select rewrite needs them so)."""
    model, out = converted
    if not model.endswith("_const"):
        return
    topology = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    nodes = {n["name"]: n for n in topology}
    scatters = [n for n in topology if n["op"] in ("ScatterNd", "GatherNd")]
    assert scatters, _ops(out)
    for node in scatters:
        indices = nodes[node["input"][1 if node["op"] == "GatherNd" else 0].split(":")[0]]
        assert indices["op"] == "Const", (model, node["name"], indices["op"])


@pytest.mark.node
def test_without_the_guard_gather_nd_reads_silently(tmp_path):
    """What the guard fixes: wasm returns for a row past the params, cpu reads ``[0, 5]`` of ``[4, 3]`` at
    ``[1, 2]``; TF raises on both."""
    out = _convert(tmp_path, "gnd_elements", skip_passes=["scatter_index_guard"])
    row = run_model(out, _feeds("gnd_elements", "row_4"), backends=["wasm"], quiet=True).backends["wasm"]
    assert row.ok, row.error
    column = run_model(out, _feeds("gnd_elements", "col_5"), backends=["cpu"], quiet=True).backends["cpu"]
    assert column.ok, column.error
    assert np.asarray(column.outputs["y"])[0] == P[1, 2]


@pytest.mark.node
def test_without_the_guard_constant_indices_pass_a_short_run_time_axis(tmp_path):
    """Session 21 left constant indices alone: wasm's ScatterNd of row 3 into a fed shape of 3 rows returns (the
    write lands outside its output), and its TensorScatterUpdate of row 3 into 3 rows ends in "memory access out
    of bounds"."""
    out = _convert(tmp_path, "scatter_nd_const", skip_passes=["scatter_index_guard"])
    run = run_model(out, _feeds("scatter_nd_const", "three_rows"), backends=["wasm"], quiet=True).backends["wasm"]
    assert run.ok, run.error
    out = _convert(tmp_path / "tsu", "tsu_const", skip_passes=["scatter_index_guard"], target_backends=["wasm"])
    run = run_model(out, _feeds("tsu_const", "three_rows"), backends=["wasm"], quiet=True).backends["wasm"]
    assert not run.ok and "GatherV2" not in str(run.error), run.error


@pytest.mark.parametrize("op", ["ScatterNd", "GatherNd"])
def test_a_constant_index_outside_a_known_axis_is_refused(tmp_path, op):
    from tfjsconv.errors import InputError

    graph = tf.Graph()
    with graph.as_default():
        indices = tf.constant([[1, 0], [4, 0]])
        if op == "ScatterNd":
            y = tf.raw_ops.ScatterNd(indices=indices, updates=_placeholder(tf, (2,), "u"), shape=tf.constant([4, 3]))
        else:
            y = tf.raw_ops.GatherNd(params=_placeholder(tf, (4, 3), "p"), indices=indices)
        tf.identity(y, name="y")
    (tmp_path / "m.pb").write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(InputError, match=f"{op} .*constant index 4 .*axis 0 of size 4"):
        tfjsconv.convert(tmp_path / "m.pb", tmp_path / "out", output_node_names=["y"])


def test_gather_nd_of_static_indices_in_range_is_untouched(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        tf.identity(tf.raw_ops.GatherNd(params=_placeholder(tf, (4, 3), "p"), indices=tf.constant([[3, 2]])), name="y")
    (tmp_path / "m.pb").write_bytes(graph.as_graph_def().SerializeToString())
    tfjsconv.convert(tmp_path / "m.pb", tmp_path / "out", output_node_names=["y"])
    ops = _ops(tmp_path / "out")
    assert "GatherV2" not in ops and "Maximum" not in ops, ops


@pytest.mark.node
@pytest.mark.parametrize("batch_dims", [0, 1])
def test_gather_v2_raises_by_itself(tmp_path, batch_dims):
    """Not guarded: TF.js's GatherV2 asserts each index (negative ones too) on cpu and wasm, ``batch_dims`` 1 too
    (cpu; wasm's batch_dims is refused by the backend contract)."""
    def build(tf):
        p = _placeholder(tf, (2, 4, 3) if batch_dims else (4, 3), "p")
        i = _placeholder(tf, (2, 2) if batch_dims else (2,), "i", tf.int32)
        return tf.raw_ops.GatherV2(params=p, indices=i, axis=tf.constant(batch_dims), batch_dims=batch_dims)

    graph = tf.Graph()
    with graph.as_default():
        tf.identity(build(tf), name="y")
    (tmp_path / "m.pb").write_bytes(graph.as_graph_def().SerializeToString())
    backends = ["cpu"] if batch_dims else ["cpu", "wasm"]
    tfjsconv.convert(tmp_path / "m.pb", tmp_path / "out", output_node_names=["y"],
                     **({"target_backends": ["cpu", "webgl"]} if batch_dims else {}))
    params = np.arange(24 if batch_dims else 12, dtype=np.float32).reshape((2, 4, 3) if batch_dims else (4, 3))
    good = [[1, 3], [0, 2]] if batch_dims else [3, 0]
    with tf.compat.v1.Session(graph=graph) as session:
        want = session.run("y:0", {"p:0": params, "i:0": good})
    runs = run_model(tmp_path / "out", {"p": params, "i": np.array(good, np.int32)}, backends=backends,
                     quiet=True).backends
    for backend, run in runs.items():
        assert run.ok, (backend, run.error)
        _same_bits(run.outputs["y"], want, backend)
    for bad in ([[1, 4], [0, 0]], [[0, 0], [-1, 0]]) if batch_dims else ([1, 4], [-1, 0]):
        runs = run_model(tmp_path / "out", {"p": params, "i": np.array(bad, np.int32)}, backends=backends,
                         quiet=True).backends
        assert all(not run.ok and "GatherV2" in str(run.error) for run in runs.values()), (bad, runs)


def _onnx_scatter(tmp_path: Path, reduction: str, data_shape, index_shape, update_shape, opset: int = 18):
    from onnx import TensorProto, helper

    from onnx_models import onnx_model

    F, I64 = TensorProto.FLOAT, TensorProto.INT64
    node = helper.make_node("ScatterND", ["data", "idx", "rows"], ["y"],
                            **({"reduction": reduction} if reduction != "none" else {}))
    return onnx_model(tmp_path / f"{reduction}.onnx", [node],
                      {"data": (F, data_shape), "idx": (I64, index_shape), "rows": (F, update_shape)}, ["y"],
                      opset=opset, name=f"scatter_{reduction}")


@pytest.mark.node
@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("rows", ["whole_rows", "elements"])
def test_onnx_scatter_nd_keeps_every_bit(tmp_path, reduction, rows):
    """An update of -0 (and NaN, ±Inf) lands as onnxruntime writes it, and an element of -0 no row lands on stays
    -0: session 21 added the updates to 0 (+0), and ``add`` added 0 to every element. (Not covered: ``add`` of only
    -0 updates onto a -0 element: onnxruntime -0, here +0, as ScatterNd sums from +0.)"""
    ort = pytest.importorskip("onnxruntime")
    data = np.arange(12, dtype=np.float32).reshape(3, 4) - 4.5
    data[1, 0] = data[2, 1] = -0.0  # kept by every reduction where no row lands (session 21's add: +0)
    if rows == "whole_rows":
        idx, upd = np.array([[2], [0]], np.int64), np.array([[-0.0, 1.5, np.inf, -2.0], [3.0, -0.0, 0.0, -7.0]],
                                                            np.float32)
        path = _onnx_scatter(tmp_path, reduction, [3, 4], [2, 1], [2, 4])
    else:
        idx, upd = np.array([[2, 2], [0, 3], [1, 1]], np.int64), np.array([-0.0, -0.0, 2.5], np.float32)
        path = _onnx_scatter(tmp_path, reduction, [3, 4], [3, 2], [3])
    tfjsconv.convert(path, tmp_path / "out")
    feeds = {"data": data, "idx": idx, "rows": upd}
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    runs = run_model(tmp_path / "out", feeds, backends=["cpu", "wasm"], quiet=True).backends
    for backend, run in runs.items():
        assert run.ok, (backend, run.error)
        _same_bits(run.outputs["y"], want, f"{reduction} {rows} {backend}")


@pytest.mark.node
def test_webgl_gather_nd_matches_and_reads_zero_outside(tmp_path, browser):
    """webgl's GatherV2 checks indices only under TF.js's DEBUG flag: the guard does not raise there, and webgl's
    GatherNd reads 0 for an index outside, as without the guard."""
    from tfjsconv.serve.browser import run_backends_in_browser

    out = _convert(tmp_path, "gnd_elements")

    def webgl(feeds) -> np.ndarray:
        run = run_backends_in_browser(out, feeds, backends=["webgl"], session=browser,
                                      flags={"WEBGL_CPU_FORWARD": False})[0]["webgl"]
        assert run.ok, run.error
        return np.asarray(run.outputs["y"], np.float32)

    np.testing.assert_array_equal(webgl(_feeds("gnd_elements")), _tf("gnd_elements", _feeds("gnd_elements")))
    np.testing.assert_array_equal(webgl(_feeds("gnd_elements", "row_4")), [P[1, 0], 0.0])
    np.testing.assert_array_equal(webgl(_feeds("gnd_elements", "col_5")), [0.0, P[1, 1]])


@pytest.mark.parametrize("trusted", [False, True])
def test_a_gather_nd_marked_in_range_is_left_alone(trusted):
    """A lowering whose run-time indices are in range by construction (CLAHE's tables) sets ``_indices_in_range``."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph
    from tfjsconv.passes.scatter_index_guard import IN_RANGE_ATTR, ScatterIndexGuard

    graph = Graph()
    params = graph.placeholder("p", DType.FLOAT32, (4, 3))
    indices = graph.placeholder("i", DType.INT32, (2, 2))
    attrs = {"Tparams": DType.FLOAT32, "Tindices": DType.INT32, **({IN_RANGE_ATTR: True} if trusted else {})}
    graph.set_output("y", graph.add_op("GatherNd", [params, indices], attrs, name="gather"))
    assert ScatterIndexGuard().run(graph).rewrites == (0 if trusted else 1)
    assert (graph.node("gather").inputs[1] is indices) == trusted
