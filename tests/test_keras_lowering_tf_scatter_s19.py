"""tf_keras op layers the lowering reads since session 19: scatters, ``unique``, confusion matrices, histogram bins,
``shape_n``, ``broadcast_dynamic_shape``, ``realdiv``, and calls whose first argument holds constants.

tf_keras saves a TFOpLambda's first argument with its structure, each constant in it as
``["_CONSTANT_VALUE", -1, value, kwargs]`` (``tf.scatter_nd([[1], [3]], ...)``: a list of lists of them); the
config check once refused such files as corrupt, on both paths. Converted with TensorFlow, Keras and tf_keras
poisoned, run in TF.js cpu and wasm against tf_keras's own ``model(x)`` at two batch sizes.
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering_op_layers_more import _refused  # noqa: E402

FLAVOR = "tf_keras.h5"
SIZES = [(2,), (3,)]  # batch of each run


def constant_first(k: Any) -> Any:
    """First arguments holding constants: ``scatter_nd``'s nested index list, a list mixing a shape and a
    constant in either order, a stacked constant and a tensor, ``tile``/``reshape`` of constant lists and arrays."""
    x = k.Input((2,), name="x")
    ids = k.Input((3,), name="ids", dtype="int32")
    row = x[0]
    scattered = tf.scatter_nd([[1], [3]], row, [5])
    repeated = tf.scatter_nd([[1], [3], [1]], ids[0, :3], [4])  # a repeated index sums, int32
    grid = tf.scatter_nd([[0, 2], [1, 0]], row, [2, 3])
    shape_after = tf.concat([tf.shape(x), [2]], 0)
    shape_before = tf.concat([[7], tf.shape(ids)], 0)
    stacked = tf.stack([1.5, x[0, 1]])
    # a value-moving function of a constant: the result has the constant's dtype, not the sizes' (the walk once
    # tracked it as int32 from ``multiples`` and truncated the floats before ``abs``: silently off, numpy ones too)
    tiled = tf.math.abs(tf.tile([[1.5, -2.5]], [tf.shape(x)[0], 1]))
    tiled_array = tf.math.abs(tf.tile(np.array([[0.25, -7.75]], "float32"), [tf.shape(x)[0], 1]))
    tiled_ints = tf.math.multiply(tf.tile([[3, -4, 5]], [tf.shape(ids)[0], 1]), ids)
    reshaped = tf.math.abs(tf.reshape([1.5, -2.5, 3.25, -4.0], tf.shape(x) * 0 + 2))
    return k.Model([x, ids], [scattered, repeated, grid, shape_after, shape_before, stacked, tiled, tiled_array,
                              tiled_ints, reshaped])


def tensor_scatter(k: Any) -> Any:
    """``tensor_scatter_nd_update`` with constant and tensor updates, into known sizes and into the batch (checked
    at run time), on float32 and int32."""
    a = k.Input((3, 4), name="a")
    ids = k.Input((4,), name="ids", dtype="int32")
    plane = a[0]
    constant = tf.tensor_scatter_nd_update(plane, [[0, 1], [2, 3]], [5.0, -1.0])
    rows = tf.tensor_scatter_nd_update(plane, [[2], [0]], a[1, :2] * 2.0)
    batch = tf.tensor_scatter_nd_update(a, [[0, 1]], [[9.0, 8.0, 7.0, 6.0]])
    ints = tf.tensor_scatter_nd_update(ids, [[0, 2], [1, 3]], [7, -40000])
    return k.Model([a, ids], [constant, rows, batch, ints])


def counting(k: Any) -> Any:
    """``unique`` (values and positions), ``confusion_matrix`` (int32 and float32), ``histogram_fixed_width_bins``."""
    ids = k.Input((5,), name="ids", dtype="int32")
    a = k.Input((4,), name="labels", dtype="int32")
    b = k.Input((4,), name="predictions", dtype="int32")
    v = k.Input((3, 4), name="v")
    values, positions = tf.unique(tf.reshape(ids, [-1]))
    counts = tf.math.confusion_matrix(tf.reshape(a, [-1]), tf.reshape(b, [-1]), 3)
    shares = tf.math.confusion_matrix(tf.reshape(a, [-1]), tf.reshape(b, [-1]), num_classes=4, dtype=tf.float32)
    bins = tf.histogram_fixed_width_bins(v, [-5.0, 5.0], nbins=5)
    return k.Model([ids, a, b, v], [values, positions, counts, shares, bins])


def shapes(k: Any) -> Any:
    """``shape_n``, ``broadcast_dynamic_shape`` of two run-time shapes, ``realdiv``."""
    x = k.Input((3, 1), name="x")
    y = k.Input((1, 4), name="y")
    first, second = tf.shape_n([x, y])
    both = tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(y))
    return k.Model([x, y], [first, second, both, tf.realdiv(x, y)])


FAMILIES = {"constant_first": constant_first, "tensor_scatter": tensor_scatter, "counting": counting,
            "shapes": shapes}


def _inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """Normal floats (with ±Inf, NaN and the range's edges for the bins), ids with repeats, int32 extremes,
    class ids in [0, 3)."""
    out = {}
    for t in model.inputs:
        name, shape = t.name.split(":")[0], (batch, *tuple(t.shape)[1:])
        if name == "ids":
            out[name] = rng.integers(-3, 4, shape).astype("int32")
            out[name][0, 1] = 2**31 - 1
        elif name in ("labels", "predictions"):
            out[name] = rng.integers(0, 3, shape).astype("int32")
        else:
            out[name] = (rng.standard_normal(shape) * 4).astype("float32")
    if "v" in out:
        out["v"][0, 0] = [np.inf, -np.inf, np.nan, 5.0]
        out["v"][0, 1] = [-5.0, 4.999999, 1e30, -0.0]
    return out


CASES = [(family, FLAVOR) for family in FAMILIES]
converted = converted_fixture("tf_scatter", CASES, two_size_saver(FAMILIES, at_runs(_inputs, SIZES), seed=191))


@pytest.mark.node
@each_case(CASES)
def test_scatter_and_counting_op_layers_lower_and_match_tf_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_what_cannot_be_exact_is_refused_by_name(tmp_path):
    """Constant indices outside the tensor (TensorFlow raises), run-time indices (TF.js does not check them), an
    index updated twice (TensorFlow's order is unspecified), float ``unique`` (NaN), a ``confusion_matrix``
    without ``num_classes``: gaps naming the function."""
    import tf_keras as k

    x = k.Input((2,), name="x")
    ids = k.Input((3,), name="ids", dtype="int32")
    outs = [tf.scatter_nd([[1], [5]], x[0], [5]), tf.scatter_nd(tf.reshape(ids, [-1, 1]), ids[:, 0], [9]),
            tf.tensor_scatter_nd_update(x[0], [[1], [1]], [2.0, 3.0])]
    k.Model([x, ids], outs).save(tmp_path / "scatter.h5")
    k.Model([x, ids], [tf.unique(x[0])[0], tf.math.confusion_matrix(ids[0], ids[1])]).save(tmp_path / "counts.h5")
    message = _refused(tmp_path / "scatter.h5") + _refused(tmp_path / "counts.h5")
    for needle in (r"\(scatter_nd\): indices \[\[1\], \[5\]\] outside shape \[5\] \(TensorFlow raises\)",
                   r"\(scatter_nd\): indices known only at run time",
                   r"\(tensor_scatter_nd_update\): indices \[\[1\], \[1\]\] name an element twice",
                   r"\(unique\): a rank-1 float32 tensor", r"\(math\.confusion_matrix\): num_classes=None"):
        assert re.search(needle, message), (needle, message)


def _scatter_config(tmp_path) -> dict:
    import h5py
    import tf_keras as k

    x = k.Input((2,), name="x")
    k.Model(x, tf.scatter_nd([[1], [3]], x[0], [5])).save(tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5") as f:
        return json.loads(f.attrs["model_config"])


def test_constant_entries_pass_the_config_check_and_hostile_edits_do_not(tmp_path):
    """The check both paths share reads constant entries as constants, and still names dangling references in
    their kwargs and entries that disagree."""
    from tfjsconv.errors import InputError
    from tfjsconv.plugins.keras.model_graph import check_model_graph

    config = _scatter_config(tmp_path)
    check_model_graph(config, source="s.h5")
    node = next(e for e in config["config"]["layers"] if e["name"].startswith("tf.scatter_nd"))["inbound_nodes"][0]
    assert node[0][0][:3] == ["_CONSTANT_VALUE", -1, 1]

    dangling = copy.deepcopy(config)
    entry = next(e for e in dangling["config"]["layers"] if e["name"].startswith("tf.scatter_nd"))
    for leaf in (entry["inbound_nodes"][0][0][0], entry["inbound_nodes"][0][1][0]):
        leaf[3]["updates"] = ["nowhere", 0, 0]
    with pytest.raises(InputError, match="refers to layer 'nowhere'"):
        check_model_graph(dangling, source="s.h5")

    disagreeing = copy.deepcopy(config)
    entry = next(e for e in disagreeing["config"]["layers"] if e["name"].startswith("tf.scatter_nd"))
    entry["inbound_nodes"][0][1][0][3] = {**entry["inbound_nodes"][0][1][0][3], "shape": [9]}
    with pytest.raises(InputError, match="unreadable inbound node"):
        check_model_graph(disagreeing, source="s.h5")

    deep = copy.deepcopy(config)
    entry = next(e for e in deep["config"]["layers"] if e["name"].startswith("tf.scatter_nd"))
    nested: Any = ["_CONSTANT_VALUE", -1, 1, {}]
    for _ in range(40):
        nested = [nested]
    entry["inbound_nodes"] = [nested]
    with pytest.raises(InputError, match="unreadable inbound node"):
        check_model_graph(deep, source="s.h5")


@pytest.mark.node
def test_indices_outside_at_run_time_raise_in_tfjs_as_in_tensorflow(tmp_path, tfjs_runtime):
    """A constant index into the batch past a run's batch, and a class id past ``num_classes``: TensorFlow raises,
    and so does the converted model on TF.js cpu and wasm (the GatherV2 checks), instead of writing elsewhere."""
    import tf_keras as k

    import tfjsconv
    from tfjsconv.verify.run import run_model

    a = k.Input((3, 4), name="a")
    labels = k.Input((4,), name="labels", dtype="int32")
    cases = {"batch": (k.Model(a, tf.tensor_scatter_nd_update(a, [[2, 1]], [[9.0, 8.0, 7.0, 6.0]])),
                       {"a": np.ones((2, 3, 4), "float32")}, {"a": np.ones((3, 3, 4), "float32")}),
             "classes": (k.Model(labels, tf.math.confusion_matrix(tf.reshape(labels, [-1]), tf.reshape(labels, [-1]),
                                                                 3)),
                         {"labels": np.array([[0, 1, 3, 2]], "int32")}, {"labels": np.array([[0, 1, 2, 2]], "int32")})}
    for name, (model, outside, inside) in cases.items():
        with pytest.raises(tf.errors.InvalidArgumentError):
            model(next(iter(outside.values())))
        model.save(tmp_path / f"{name}.h5")
        tfjsconv.convert(tmp_path / f"{name}.h5", tmp_path / name, output_format="tfjs_graph_model")
        signature = json.loads((tmp_path / name / "model.json").read_text())["signature"]
        feed = dict(zip(signature["inputs"], outside.values()))
        run = run_model(tmp_path / name, feed, backends=["cpu", "wasm"], quiet=True)
        assert not run["cpu"].ok and not run["wasm"].ok, (name, run.to_json())
        good = run_model(tmp_path / name, dict(zip(signature["inputs"], inside.values())), backends=["cpu", "wasm"],
                         quiet=True)
        expected = np.asarray(model(next(iter(inside.values()))))
        for backend in ("cpu", "wasm"):
            (actual,) = good.outputs(backend).values()
            np.testing.assert_array_equal(actual, expected)


@pytest.mark.node
def test_constant_first_arguments_convert_through_tensorflow_too(tmp_path, tfjs_runtime):
    """The traced path shares the config check: a ``scatter_nd`` of constant indices converts with
    ``--loader=tensorflow`` as well, to tf_keras's numbers."""
    import tf_keras as k

    import tfjsconv
    from test_keras_lowering import _verify

    x = k.Input((2,), name="x")
    model = k.Model(x, tf.scatter_nd([[1], [3]], x[0] * 3.0, [5]))
    model.save(tmp_path / "s.h5")
    result = tfjsconv.convert(tmp_path / "s.h5", tmp_path / "out", output_format="tfjs_graph_model",
                              loader="tensorflow")
    assert result.details == ["keras: loaded with Keras and traced through TensorFlow: --loader=tensorflow"]
    inputs = {"x": np.array([[1.5, -2.0], [4.0, 5.0]], "float32")}
    _verify(tmp_path / "out", inputs, [np.asarray(model(inputs["x"]))])


def test_a_file_tf_keras_cannot_rebuild_is_refused_on_the_traced_path(tmp_path):
    """tf_keras saves ``tf.meshgrid(x, y)`` but raises IndexError rebuilding it: the traced path once crashed
    (exit 1, "a bug in tfjsconv"); now it refuses with tf_keras's reason, and so does the lowering (by name)."""
    import tf_keras as k

    import tfjsconv
    from tfjsconv.errors import InputError, TfjsconvError

    x, y = k.Input((3,), name="x"), k.Input((4,), name="y")
    k.Model([x, y], tf.meshgrid(x[0], y[0])).save(tmp_path / "m.h5")
    with pytest.raises(InputError, match="tf_keras could not load .*m.h5"):
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "traced", output_format="tfjs_graph_model",
                         loader="tensorflow")
    with pytest.raises(TfjsconvError):
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "lowered", output_format="tfjs_graph_model")
    assert not (tmp_path / "traced").exists() and not (tmp_path / "lowered").exists()
