"""float64 and int64 arithmetic of TensorFlow graphs, which TF.js computes in float32 and int32, is named once.

Session-27 probe (h9): a float64 ``exp(x) / (exp(x) + 1)`` at x=100 gave NaN in TF.js (TF 1.0) and an int64
``a * b`` past 2^31 wrapped (``[9000000000, 4294967296]`` -> ``[410065408, 0]``) with no line naming either.
"""
from __future__ import annotations

import pytest

import tfjsconv

tf = pytest.importorskip("tensorflow")


def _float64_chain(x):
    return {"sig": tf.exp(x) / (tf.exp(x) + 1.0), "tiny": (x + x * 1e-12) - x}


def _int64_product(a, b):
    return {"mul": a * b}


def _int64_indices(x, ids):
    """int64 only as gather indices and a shape: nothing computed in int64."""
    picked = tf.gather(x, ids)
    return {"y": tf.reshape(picked, tf.cast(tf.shape(picked, out_type=tf.int64), tf.int32)) * 2.0}


def _float32_model(x):
    return {"y": tf.exp(x) / (tf.exp(x) + 1.0)}


CASES = {
    "float64_chain": (_float64_chain, [tf.TensorSpec([None], tf.float64, name="x")]),
    "int64_product": (_int64_product, [tf.TensorSpec([None], tf.int64, name="a"),
                                       tf.TensorSpec([None], tf.int64, name="b")]),
    "int64_indices": (_int64_indices, [tf.TensorSpec([None, 3], tf.float32, name="x"),
                                       tf.TensorSpec([None], tf.int64, name="ids")]),
    "float32": (_float32_model, [tf.TensorSpec([None], tf.float32, name="x")]),
}


def _saved_model(folder, name: str):
    function, signature = CASES[name]
    module = tf.Module()
    module.f = tf.function(function, input_signature=signature)
    path = folder / name
    tf.saved_model.save(module, str(path), signatures=module.f)
    return path


@pytest.fixture(scope="module")
def details(tmp_path_factory):
    """The details of each case converted from its SavedModel, and of the int64 product as a frozen GraphDef."""
    folder = tmp_path_factory.mktemp("wide_dtypes")
    found = {}
    for name in CASES:
        result = tfjsconv.convert(_saved_model(folder, name), folder / f"{name}.out", output_format="tfjs_graph_model")
        found[name] = result.details
    return found


def _lines(details: list[str], kind: str) -> list[str]:
    return [line for line in details if line.startswith(f"{kind}:")]


def test_float64_arithmetic_is_named_once(details):
    lines = _lines(details["float64_chain"], "float64")
    assert len(lines) == 1
    assert "compute in float32" in lines[0] and "7 significant digits" in lines[0]
    assert "Exp " in lines[0] and "RealDiv " in lines[0]
    assert not _lines(details["float64_chain"], "int64")


def test_int64_product_is_named_with_every_backend(details):
    lines = _lines(details["int64_product"], "int64")
    assert len(lines) == 1
    assert "1 int64 arithmetic op(s)" in lines[0] and "Mul " in lines[0]
    assert "wrap" in lines[0] and "wasm" in lines[0] and "cpu" in lines[0]


def test_int64_only_as_indices_and_shapes_is_not_named(details):
    assert not _lines(details["int64_indices"], "int64")
    assert not _lines(details["int64_indices"], "float64")


def test_float32_model_gets_no_notice(details):
    assert not _lines(details["float32"], "int64") and not _lines(details["float32"], "float64")


def test_frozen_graphdef_int64_product_is_named(tmp_path):
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function, signature = CASES["int64_product"]
    frozen = convert_variables_to_constants_v2(tf.function(function).get_concrete_function(*signature))
    tf.io.write_graph(frozen.graph.as_graph_def(), str(tmp_path), "int64.pb", as_text=False)
    outputs = ",".join(t.name.split(":")[0] for t in frozen.outputs)
    result = tfjsconv.convert(tmp_path / "int64.pb", tmp_path / "out", output_format="tfjs_graph_model",
                              output_node_names=outputs)
    assert len(_lines(result.details, "int64")) == 1


def _float64_keras_file(folder):
    keras = pytest.importorskip("keras")
    inputs = keras.Input((3,), dtype="float64", name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid", dtype="float64")(inputs))
    path = folder / "float64.keras"
    model.save(path)
    return path


def test_keras_traced_float64_is_named_and_lowering_stays_silent(tmp_path):
    """--loader=tensorflow traces a TF graph (named here); the lowering has its own float64 notices."""
    path = _float64_keras_file(tmp_path)
    traced = tfjsconv.convert(path, tmp_path / "traced", output_format="tfjs_graph_model", loader="tensorflow")
    lowered = tfjsconv.convert(path, tmp_path / "lowered", output_format="tfjs_graph_model")
    assert len(_lines(traced.details, "float64")) == 1
    assert not _lines(lowered.details, "float64") and not _lines(lowered.details, "int64")
