"""``--loader=tensorflow`` over unknown sizes: the traced graph computes what Keras computes at every size.

Keras 3.14+ traces ``TimeDistributed`` over an unknown time axis wrongly (its ``vectorized_map`` steps
over the batch axis, keras-team/keras#22039): a ``[4, 11, ...]`` input gave ``[4, 4, ...]`` in TF and so
in TF.js. The tracer corrects it (``plugins/savedmodel/keras_time_distributed.py``). Each model here is
saved by Keras (Keras 3 ``.keras`` and ``.h5``, tf_keras ``.h5``), converted once through the tracer,
and run in real TF.js (cpu and wasm; the Keras 3 ``.keras`` ones on webgl too) at two sizes, batch below and above the time steps; expected
values are Keras's own eager outputs at those sizes.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import tfjsconv

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from keras_models import randomize  # noqa: E402
from test_keras_lowering import _module, _verify, case_file  # noqa: E402

TRACED = "keras: loaded with Keras and traced through TensorFlow: --loader=tensorflow"
#: (batch, time steps): fewer and more samples than steps, so a step count read from the wrong axis shows
SIZES = [(4, 11), (5, 2)]


def td_layer_norm(k):
    """The reported case: every axis but the channels unknown."""
    inp = k.Input((None, None, 1), name="frames")
    return k.Model(inp, k.layers.TimeDistributed(k.layers.LayerNormalization(), name="td_ln")(inp))


def td_conv_dense(k):
    L = k.layers
    inp = k.Input((None, 6, 3), name="frames")
    x = L.TimeDistributed(L.Conv1D(4, 3, activation="tanh"), name="td_conv")(inp)
    return k.Model(inp, L.TimeDistributed(L.Dense(2), name="td_dense")(x))


def td_masked(k):
    """A mask sliced per time step into the wrapped layer."""
    L = k.layers
    inp = k.Input((None, 5, 3), name="frames")
    x = L.TimeDistributed(L.GlobalAveragePooling1D(), name="td_pool")(L.Masking(0.0, name="masking")(inp))
    return k.Model(inp, L.Dense(2, name="head")(x))


FAMILIES = {"td_layer_norm": td_layer_norm, "td_conv_dense": td_conv_dense, "td_masked": td_masked}
CASES = [(family, "keras3.keras") for family in FAMILIES] + [
    ("td_layer_norm", "keras3.h5"), ("td_conv_dense", "keras3.h5"),
    ("td_layer_norm", "tf_keras.h5"), ("td_conv_dense", "tf_keras.h5")]


def _inputs(model, seed: int) -> list[np.ndarray]:
    """One input per :data:`SIZES`, unknown inner sizes 7; masked models get zero rows (never a whole step)."""
    rng = np.random.default_rng(seed)
    batch = []
    for b, t in SIZES:
        shape = [b, t, *(7 if d is None else d for d in tuple(model.inputs[0].shape)[2:])]
        x = rng.standard_normal(shape).astype("float32")
        x[:, :, -2:] = 0.0  # masked rows of each step (Masking skips them)
        batch.append(x)
    return batch


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Each case saved by Keras with its outputs at both sizes, then converted through the tracer."""
    folder = tmp_path_factory.mktemp("tf_loader_dynamic")
    saved = {}
    for family, flavor in CASES:
        model = FAMILIES[family](_module(flavor))
        randomize(model, 5)
        xs = _inputs(model, 6)
        expected = [np.asarray(model(x, training=False)) for x in xs]
        path = case_file(folder, family, flavor)
        model.save(path)
        out = folder / f"{path.name}.out"
        # every default backend: the ranks through pfor's TensorList loop are known (wasm/webgl rank limits)
        result = tfjsconv.convert(path, out, output_format="tfjs_graph_model", loader="tensorflow")
        saved[family, flavor] = (out, xs, expected, result.details)
    return saved


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_traced_time_distributed_matches_keras_at_every_size(converted, tfjs_runtime, family, flavor):
    out, xs, expected, details = converted[family, flavor]
    assert details == [TRACED]
    for x, y in zip(xs, expected, strict=True):
        assert y.shape[:2] == x.shape[:2]  # Keras itself keeps (batch, time)
        _verify(out, {"frames": x}, [y])


@pytest.mark.node
@pytest.mark.parametrize("family", list(FAMILIES))
def test_traced_time_distributed_matches_keras_on_webgl(converted, browser, family):
    from tfjsconv.verify.compare import format_report, verify_model

    out, xs, expected, _ = converted[family, "keras3.keras"]
    name = next(iter(json.loads((out / "model.json").read_text())["signature"]["outputs"]))
    for x, y in zip(xs, expected, strict=True):
        report = verify_model(out, {"frames": x}, {name: y}, backends=("webgl",), rtol=1e-5, atol=1e-6,
                              browser_session=browser, quiet=True)
        assert report.passed, format_report(report)


def test_the_correction_is_active_only_while_tracing():
    """Keras's own class is left as it was, and the probe finds the installed Keras corrected."""
    pytest.importorskip("tensorflow")
    from keras.src.layers.rnn.time_distributed import TimeDistributed

    from tfjsconv.plugins.savedmodel.keras_time_distributed import _fault_and_fix, time_distributed_layers
    from tfjsconv.plugins.savedmodel.keras_trace import trace_keras_model

    original = TimeDistributed.__dict__["call"]
    model = td_conv_dense(keras)
    assert [layer.name for layer in time_distributed_layers(model)] == ["td_conv", "td_dense"]
    fn, _, _ = trace_keras_model(model)
    import tensorflow as tf

    assert TimeDistributed.__dict__["call"] is original
    _faulty, fixed = _fault_and_fix(TimeDistributed)
    assert fixed
    x = _inputs(model, 1)[0]
    np.testing.assert_allclose(np.asarray(fn(tf.constant(x))), np.asarray(model(x)), rtol=1e-5, atol=1e-6)


def test_a_known_time_axis_needs_no_correction():
    L = keras.layers
    inp = keras.Input((3, None, 2))
    model = keras.Model(inp, L.TimeDistributed(L.Dense(2))(inp))
    from tfjsconv.plugins.savedmodel.keras_time_distributed import time_distributed_layers

    assert time_distributed_layers(model) == []



def test_a_correction_that_does_not_hold_is_refused_by_name(converted, tmp_path, monkeypatch):
    """Should the installed Keras defeat the correction, the model is refused naming its layers, never traced wrong."""
    from tfjsconv.errors import InputError
    from tfjsconv.plugins.savedmodel import keras_time_distributed

    monkeypatch.setattr(keras_time_distributed, "_fault_and_fix", lambda cls: (True, False))
    out = converted["td_conv_dense", "keras3.keras"][0]
    source = out.with_name(out.name.removesuffix(".out"))
    with pytest.raises(InputError, match=r"TimeDistributed over an unknown time axis.*'td_conv', 'td_dense'") as err:
        tfjsconv.convert(source, tmp_path / "refused", output_format="tfjs_graph_model", loader="tensorflow",
                         target_backends="cpu")
    assert "without --loader=tensorflow" in str(err.value.hint)
    assert not (tmp_path / "refused").exists()


# -- ranks through a TensorList loop (what the backend contract's rank limits read) -------------------
def _tensor_list_loop(grow: bool):
    """A v1 loop writing row ``i`` of ``x`` (rank 4, given as ``x[i, ...]`` with a computed index row, as pfor
    does) into a TensorList whose ``element_shape`` is -1, then stacked. With ``grow`` the loop also carries a
    vector that grows each iteration, read as the begin of the slice: its length is then unknown."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph

    f32, i32 = DType.FLOAT32, DType.INT32
    graph = Graph()
    x = graph.placeholder("x", f32, (None, None, None, 1))
    frame = {"frame_name": "loop"}

    def loop_var(initial, name):
        enter = graph.add_op("Enter", [initial], frame, name=f"{name}_enter")
        merge = graph.add_node("Merge", [enter, enter], name=f"{name}_merge", num_outputs=2)
        return merge

    indices = graph.add_op("ExpandDims", [graph.add_op("Range", [graph.const(np.int32(0)), graph.const(np.int32(3)),
                                                                graph.const(np.int32(1))]),
                                          graph.const(np.int32(1), name="axis")], name="index_rows")
    lists = loop_var(graph.add_op("TensorListReserve", [graph.const(np.int32(-1), name="shape"),
                                                        graph.const(np.int32(3), name="n")],
                                  {"element_dtype": f32, "shape_type": i32}, name="reserve"), "list")
    counter = loop_var(graph.const(np.int32(0), name="zero"), "i")
    data = loop_var(x, "x")
    rows = loop_var(indices, "rows")
    cond = graph.add_op("LoopCond", [graph.add_op("Less", [counter.output(0), graph.const(np.int32(3), name="m")])])
    switches = {}
    for name, merge in (("list", lists), ("i", counter), ("x", data), ("rows", rows)):
        switches[name] = graph.add_node("Switch", [merge.output(0), cond], name=f"{name}_switch", num_outputs=2)
    i = switches["i"].output(1)
    begin = graph.add_op("StridedSlice", [switches["rows"].output(1), graph.add_op("Pack", [i, graph.const(
        np.int32(0), name="z2")], {"N": 2, "axis": 0}), graph.add_op("Pack", [i, graph.const(np.int32(0), name="z3")],
        {"N": 2, "axis": 0}), graph.const(np.int32([1, 1]), name="ones")],
        {"ellipsis_mask": 2, "shrink_axis_mask": 1, "begin_mask": 0, "end_mask": 0, "new_axis_mask": 0}, name="begin")
    item = graph.add_op("StridedSlice", [switches["x"].output(1), begin, begin, graph.const(np.int32([1]), name="s")],
                        {"shrink_axis_mask": 1, "ellipsis_mask": 0, "begin_mask": 0, "end_mask": 0,
                         "new_axis_mask": 0}, name="item")
    written = graph.add_op("TensorListSetItem", [switches["list"].output(1), i, item], {"element_dtype": f32},
                           name="write")
    next_rows = switches["rows"].output(1)
    if grow:
        next_rows = graph.add_op("ConcatV2", [next_rows, next_rows, graph.const(np.int32(1), name="cat_axis")],
                                 name="grown")
    for name, value in (("list", written), ("i", graph.add_op("AddV2", [i, graph.const(np.int32(1), name="one")])),
                        ("x", switches["x"].output(1)), ("rows", next_rows)):
        merge = {"list": lists, "i": counter, "x": data, "rows": rows}[name]
        merge.inputs[1] = graph.add_op("NextIteration", [value], name=f"{name}_next")
    stacked = graph.add_op("TensorListStack", [graph.add_op("Exit", [switches["list"].output(0)]),
                                               graph.const(np.int32(-1), name="shape2")],
                           {"element_dtype": f32}, name="stacked")
    graph.set_output("y", graph.add_op("Neg", [stacked], name="neg"))
    return graph


@pytest.mark.parametrize("grow,rank", [(False, 4), (True, None)])
def test_tensor_list_stack_rank_comes_from_its_writes(grow, rank):
    """``element_shape`` -1 leaves the rank to the writes: row ``i`` of a loop-invariant index matrix is a
    1-vector, so ``x[begin]`` with ``shrink_axis_mask=1`` drops one axis; a begin that grows stays unknown."""
    from tfjsconv.shape_rank import infer_ranks

    graph = _tensor_list_loop(grow)
    ranks = infer_ranks(graph)
    assert ranks[graph.node("item").outputs[0]] == (3 if not grow else None)
    assert ranks[graph.node("stacked").outputs[0]] == rank
    assert ranks[graph.node("neg").outputs[0]] == rank


# -- Keras 3 CenterCrop: traced as a plain crop over unknown sizes ---------------------------------------------------
def test_center_crop_over_unknown_sizes_is_refused_by_name(tmp_path):
    """Eager Keras 3 resizes an input smaller than the crop; its trace slices it ([2, 3, 7, 3] -> [2, 1, 5, 3])."""
    from tfjsconv.errors import InputError

    k = pytest.importorskip("keras")
    inp = k.Input((None, None, 3), name="image")
    model = k.Model(inp, k.layers.CenterCrop(4, 5, name="crop")(inp))
    model.save(tmp_path / "crop.keras")
    with pytest.raises(InputError, match=r"CenterCrop over an unknown height or width.*'crop'"):
        tfjsconv.convert(tmp_path / "crop.keras", tmp_path / "out", output_format="tfjs_graph_model",
                         loader="tensorflow")
    assert not (tmp_path / "out").exists()


def test_center_crop_of_known_sizes_still_traces(tmp_path):
    k = pytest.importorskip("keras")
    inp = k.Input((3, 7, 3), name="image")
    model = k.Model(inp, k.layers.CenterCrop(4, 5, name="crop")(inp))
    model.save(tmp_path / "crop.keras")
    tfjsconv.convert(tmp_path / "crop.keras", tmp_path / "out", output_format="tfjs_graph_model", loader="tensorflow")
    assert (tmp_path / "out" / "model.json").exists()
