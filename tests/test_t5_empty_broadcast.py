"""``BroadcastTo`` to a run-time target that turns a 1 into 0 (``core/passes/empty_broadcast.py``).

TF.js 4.22's ``broadcastTo`` returns its input unchanged when no dim grows past 1, so ``(1, 3)`` broadcast to
``[0, 3]`` stays ``(1, 3)`` on cpu, wasm and webgl (TF: ``(0, 3)``). Expected values and shapes are TensorFlow's
(ONNX ``Expand``: onnxruntime's); the converted models run in real TF.js.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402
from tfjsconv.passes import empty_broadcast  # noqa: E402
from tfjsconv.plugin_manager import get_plugin_manager  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402

pytestmark = pytest.mark.node


class Broadcasts(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x"),
                                  tf.TensorSpec([3], tf.float32, name="v"),
                                  tf.TensorSpec([None, 3], tf.int32, name="i"),
                                  tf.TensorSpec([None, 3], tf.bool, name="b"),
                                  tf.TensorSpec([2, 3], tf.float32, name="w"),
                                  tf.TensorSpec([2], tf.int32, name="s")])
    def __call__(self, x, v, i, b, w, s):
        s3 = tf.concat([s[:1], [1], s[1:]], axis=0)
        return {"float": tf.broadcast_to(x, s), "leading": tf.broadcast_to(v, s3),
                "int": tf.broadcast_to(i, s) + 1, "bool": tf.logical_not(tf.broadcast_to(b, s)),
                # static dims other than 1 where the target may be 0: left alone
                "static": tf.broadcast_to(w, tf.shape(w) + s * 0),
                # broadcast to x's own shape and multiplied with x: a kept 1 meets x's 0 there, left alone
                "masked": x * tf.broadcast_to(tf.constant([[1.0, 2.0, 3.0]]), tf.shape(x))}


def _feeds(rows: int, target_rows: int) -> dict:
    rng = np.random.default_rng(rows * 10 + target_rows)
    x = rng.standard_normal((rows, 3)).astype(np.float32)
    x.flat[:1] = -0.0  # kept as -0 (x + 0 would give +0)
    return {"x": x, "v": rng.standard_normal(3).astype(np.float32),
            "i": rng.integers(-5, 5, (rows, 3)).astype(np.int32), "b": rng.random((rows, 3)) > 0.5,
            "w": rng.standard_normal((2, 3)).astype(np.float32), "s": np.array([target_rows, 3], np.int32)}


CASES = {"one_to_zero": (1, 0), "one_to_two": (1, 2), "zero_to_zero": (0, 0), "one_to_one": (1, 1),
         "two_to_two": (2, 2)}


def _convert(folder, backends=("cpu", "wasm")):
    saved = folder / "saved"
    tf.saved_model.save(Broadcasts(), str(saved))
    out = folder / "web"
    return saved, tfjsconv.convert(saved, out, target_backends=list(backends)), out


@pytest.fixture(scope="module")
def converted(tmp_path_factory, tfjs_runtime):
    return _convert(tmp_path_factory.mktemp("broadcasts"), ("cpu", "wasm", "webgl"))


def _check(converted, feeds: dict, backends=("cpu", "wasm"), **kwargs) -> dict:
    saved, result, out = converted
    options = ConvertOptions.from_kwargs()
    options.extra["model_dir"] = str(out)
    expected = get_plugin_manager().registry.frontends[result.input_format].reference(saved, feeds, options)
    report = verify_model(out, feeds, expected, backends=backends, rtol=1e-5, atol=0.0, **kwargs)
    assert report.passed, format_report(report)
    return expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_run_time_broadcasts_match_tf(case, converted):
    expected = _check(converted, _feeds(*CASES[case]))
    if case == "one_to_zero":  # the case is what it claims: TF's result is empty
        assert expected["float"].shape == (0, 3) and expected["leading"].shape == (0, 1, 3)


def test_run_time_broadcasts_on_webgl(converted, browser):
    for case in ("one_to_zero", "one_to_two"):
        _check(converted, _feeds(*CASES[case]), backends=("webgl",), browser_session=browser)


def test_only_broadcasts_that_may_keep_a_one_are_rewritten(converted):
    _, result, out = converted
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    assert sum(n["op"] == "BroadcastTo" for n in nodes) == 2  # "static" and "masked"
    assert {n["op"] for n in nodes if n["name"].endswith("/units")} == {"Fill"}
    assert sum(n["name"].endswith("/units") for n in nodes) == 4


def test_without_the_rewrite_tfjs_keeps_the_one(tmp_path, tfjs_runtime, monkeypatch):
    """TF.js's own broadcastTo gives (1, 3) for (0, 3): the tests above can fail."""
    monkeypatch.setattr(empty_broadcast, "may_keep_a_one", lambda node, shapes: False)
    monkeypatch.setattr("tfjsconv.passes.empty_reductions.may_keep_a_one", lambda node, shapes: False)
    converted = _convert(tmp_path, ("cpu",))
    with pytest.raises(AssertionError) as failed:
        _check(converted, _feeds(1, 0), backends=("cpu",))
    assert "got [1, 3], expected [0, 3]" in str(failed.value)


class StringBroadcasts(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.string, name="x"), tf.TensorSpec([2], tf.int32, name="s"),
                                  tf.TensorSpec([3], tf.string, name="v")])
    def __call__(self, x, s, v):
        return {"strings": tf.broadcast_to(x, s), "leading": tf.broadcast_to(v, s)}


@pytest.fixture(scope="module")
def strings(tmp_path_factory, tfjs_runtime):
    folder = tmp_path_factory.mktemp("strings")
    tf.saved_model.save(StringBroadcasts(), str(folder / "saved"))
    return folder / "saved", tfjsconv.convert(folder / "saved", folder / "web", target_backends=["cpu"]), folder / "web"


@pytest.mark.parametrize("case", sorted(CASES))
def test_string_broadcasts_become_a_tile_on_cpu(case, strings):
    """tfjs-core's broadcastTo takes no strings (refused by the contract on every backend); a Tile of run-time
    repetitions does on cpu (wasm's Tile throws for strings: still refused by name)."""
    rows, target = CASES[case]
    feeds = {"x": np.array([["a", "bc", ""]] * rows, dtype=object).reshape(rows, 3),
             "s": np.array([target, 3], np.int32), "v": np.array(["p", "q", "r"], dtype=object)}
    nodes = json.loads((strings[2] / "model.json").read_text())["modelTopology"]["node"]
    assert {n["op"] for n in nodes} >= {"Tile"} and "BroadcastTo" not in {n["op"] for n in nodes}
    _check(strings, feeds, backends=("cpu",))


def test_string_broadcasts_stay_refused_on_wasm(tmp_path, tfjs_runtime):
    from tfjsconv.errors import BackendUnsupportedError

    tf.saved_model.save(StringBroadcasts(), str(tmp_path / "saved"))
    with pytest.raises(BackendUnsupportedError, match="Tile on wasm"):
        tfjsconv.convert(tmp_path / "saved", tmp_path / "web", target_backends=["wasm"])


@pytest.mark.parametrize(("in_shape", "target", "expected"), [
    ((None, 3), (None, 3), True), ((1, 3), (0, 3), True), ((2, 3), (None, 3), False), ((3,), (None, 3), True),
    ((2, 3), (2, 3), False), ((None, 3), (2, 3), False), ((4, 1), (4, None), True), (None, (None, 3), True)])
def test_criterion(in_shape, target, expected):
    from tfjsconv.ir import Graph

    graph = Graph()
    x = graph.placeholder("x", "float32", in_shape)
    s = graph.placeholder("s", "int32", (len(target),))
    node = graph.add_node("BroadcastTo", [x, s], {}, name="b")
    node.output(0).shape = target
    assert empty_broadcast.may_keep_a_one(node, {x: in_shape, s: (len(target),), node.output(0): target}) is expected


def test_a_target_reading_the_inputs_own_dims_is_left_alone():
    """Grouped-query attention's head repeat (ONNX frontend): ``BroadcastTo(ExpandDims(x, 2), [B, h, r, T, D])``
    with B, T, D read from ``Shape(x)``: those cannot differ from the input's, the 1 grows to a static r."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph
    from tfjsconv.passes.shapes import infer_shapes

    graph = Graph()
    x = graph.placeholder("x", "float32", (None, 2, None, 4))
    grown = graph.add_op("ExpandDims", [x, graph.const(np.int32(2), name="where")], {"Tdim": DType.INT32},
                         name="grown", dtype=DType.FLOAT32, shape=(None, 2, 1, None, 4))
    dims = graph.add_op("Shape", [x], {"out_type": DType.INT32}, name="dims", dtype=DType.INT32, shape=(4,))

    def part(begin: int, end: int, name: str):
        return graph.add_op("StridedSlice", [dims, graph.const(np.asarray([begin], np.int32), name=f"{name}_b"),
                                             graph.const(np.asarray([end], np.int32), name=f"{name}_e"),
                                             graph.const(np.asarray([1], np.int32), name=f"{name}_s")],
                            {"Index": DType.INT32}, name=name, dtype=DType.INT32, shape=(end - begin,))

    def broadcast(reps: int, name: str):
        target = graph.add_op("ConcatV2", [part(0, 1, f"{name}_batch"), graph.const(np.asarray([2, reps], np.int32),
                                           name=f"{name}_heads"), part(2, 4, f"{name}_rest"),
                                           graph.const(np.int32(0), name=f"{name}_axis")],
                              {"N": 3, "Tidx": DType.INT32}, name=f"{name}_target", dtype=DType.INT32, shape=(5,))
        return graph.add_node("BroadcastTo", [grown, target], {"Tidx": DType.INT32}, name=name)

    kept, zero = broadcast(3, "repeat"), broadcast(0, "none")
    shapes = infer_shapes(graph)
    assert not empty_broadcast.may_keep_a_one(kept, shapes)
    assert empty_broadcast.may_keep_a_one(zero, shapes)  # a static 0 where the input holds a 1
