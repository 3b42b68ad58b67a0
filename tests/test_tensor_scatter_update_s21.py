"""``TensorScatterUpdate`` after session 21: an update of -0 stays -0, and a constant index outside the tensor is
refused on every path.

Session 20's constant-index rewrite scattered the updates themselves (``ScatterNd`` adds them to 0), so an update of
-0 came out +0 where TF writes -0; now the updates are gathered to their places, bit for bit. Its bounds check covered
float32/int32 tensors with cpu a target only: a bool tensor, a float16 one, or any tensor converted for wasm/webgl
alone kept a constant index outside the tensor (TF raises on it; wasm writes out of its buffer). Expected values from
``tf.raw_ops.TensorScatterUpdate``; TF.js cpu, wasm and webgl.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import raw_ops_graph  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

OUTPUTS = ["rows", "elements", "reader"]


def _feeds() -> dict[str, np.ndarray]:
    """Updates with -0, +0, NaN and ±Inf; a tensor with -0 and Inf where nothing is written."""
    x = np.arange(12, dtype=np.float32).reshape(4, 3) - 5
    x[0, 0], x[1, 2] = -0.0, np.inf
    u = np.array([[-0.0, 0.0, -1.5], [np.nan, -0.0, np.inf], [-np.inf, 2.0, -0.0], [-0.0, -0.0, -0.0]], np.float32)
    return {"x": x, "u": u}


def _build(tf) -> None:
    x = tf.compat.v1.placeholder(tf.float32, (4, 3), "x")
    u = tf.compat.v1.placeholder(tf.float32, (4, 3), "u")
    rows = tf.raw_ops.TensorScatterUpdate(tensor=x, indices=tf.constant([[2], [0], [3]]), updates=u[:3])
    elements = tf.raw_ops.TensorScatterUpdate(tensor=x, indices=tf.constant([[1, 1], [3, 0], [1, 1], [2, 2]]),
                                              updates=tf.reshape(u[1:], (9,))[::2][:4])
    tf.identity(rows, name="rows")
    tf.identity(elements, name="elements")
    tf.identity(x - rows, name="reader")


def _same_bits(got, want, label: str) -> None:
    got = np.asarray(got, np.float32).reshape(want.shape)
    np.testing.assert_array_equal(got, want, err_msg=label)
    zeros = want == 0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]), err_msg=f"{label}: sign of zero")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scatter_s21")
    source, expected = raw_ops_graph(folder / "m.pb", _build, _feeds(), OUTPUTS)
    assert np.signbit(expected["rows"][2, 0]) and expected["rows"][2, 0] == 0  # TF writes the update's -0
    tfjsconv.convert(source, folder / "out", output_node_names=OUTPUTS)
    return folder / "out", expected


def test_constant_indices_leave_no_scatter_of_the_updates(converted):
    """The updates reach the output through a GatherV2 (bits kept), never summed by a ScatterNd."""
    out, _ = converted
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    assert "TensorScatterUpdate" not in [n["op"] for n in nodes]
    for n in (n for n in nodes if n["op"] == "ScatterNd"):
        assert n["attr"]["T"]["type"] == "DT_INT32", n["name"]  # only the numbers of the updates are scattered


@pytest.mark.node
def test_minus_zero_updates_stay_minus_zero_on_cpu_and_wasm(converted):
    out, expected = converted
    runs = run_model(out, _feeds(), backends=["cpu", "wasm"], quiet=True).backends
    for backend, run in runs.items():
        assert run.ok, (backend, run.error)
        for name in OUTPUTS:
            _same_bits(run.outputs[name], expected[name], f"{backend} {name}")


@pytest.mark.node
def test_minus_zero_updates_stay_minus_zero_on_webgl(converted, browser):
    from tfjsconv.serve.browser import run_backends_in_browser

    out, expected = converted
    runs = run_backends_in_browser(out, _feeds(), backends=["webgl"], session=browser,
                                   flags={"WEBGL_CPU_FORWARD": False})[0]
    assert runs["webgl"].ok, runs["webgl"].error
    for name in ("rows", "elements"):  # "reader" subtracts Inf from Inf: NaN either way, checked on cpu/wasm
        _same_bits(runs["webgl"].outputs[name], expected[name], f"webgl {name}")


def _outside(tmp_path, dtype, indices, **options) -> str:
    from tfjsconv.errors import InputError

    graph = tf.Graph()
    with graph.as_default():  # TF would raise running it: the GraphDef is written without a run
        x = tf.compat.v1.placeholder(dtype, (4, 3), "x")
        updates = x[:2] if len(indices[0]) == 1 else x[0, :2]
        tf.identity(tf.raw_ops.TensorScatterUpdate(tensor=x, indices=tf.constant(indices), updates=updates), name="y")
    (tmp_path / "m.pb").write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(InputError) as error:
        tfjsconv.convert(tmp_path / "m.pb", tmp_path / "out", output_node_names=["y"], **options)
    assert not (tmp_path / "out").exists()
    return str(error.value)


@pytest.mark.parametrize("dtype,indices,options,axis", [
    ("bool", [[1], [4]], {}, "axis 0 of size 4"),
    ("float16", [[0], [7]], {}, "axis 0 of size 4"),
    ("float32", [[1], [4]], {"target_backends": ["wasm", "webgl"]}, "axis 0 of size 4"),
    ("int32", [[-1], [2]], {"target_backends": ["wasm"]}, "axis 0 of size 4"),
    ("bool", [[0, 3], [1, 1]], {"target_backends": ["webgl"]}, "axis 1 of size 3"),
], ids=["bool", "float16", "float32-without-cpu", "int32-negative-wasm", "bool-element-webgl"])
def test_a_constant_index_outside_the_tensor_is_refused_on_every_path(tmp_path, dtype, indices, options, axis):
    """TF raises on it for every input; session 20 refused it only for float32/int32 tensors with cpu a target."""
    message = _outside(tmp_path, getattr(tf, dtype), indices, **options)
    assert "TensorScatterUpdate 'TensorScatterUpdate'" in message and f"outside the tensor's {axis}" in message
