"""`tfjsconv verify` on Keras sources: the reference is what Keras computes when users run the model.

Users run a Keras model eagerly (``model(x)``); verify ran ``model.predict``, whose ``tf.function`` lets TensorFlow
rewrite the graph and refuses eager-only ops. The ways that went wrong, end to end through the CLI (convert, then
verify), for Keras 3 ``.keras``, tf_keras ``.h5`` and tf_keras SavedModel sources:

* a float16 divide by a constant ran as a multiply by the reciprocal in the traced run, one float16 step off
  Keras's eager divide on some elements, so a conversion matching Keras exactly FAILed ``verify --rtol 0``;
* ``keras.ops.isin`` cannot run in a graph (OperatorNotAllowedInGraphError): verify and ``verify --trace`` crashed;
* a channels_first Conv1D's bias, which TensorFlow's optimizer fuses onto the channels in the traced run while
  ``model(x)`` adds it on the last axis: verify FAILed a conversion matching ``model(x)`` by 1.5 of the range;
* Keras 3's CLAHE of uint8 images: ``model(x)`` casts the result back to uint8, the traced run does not;
* Keras 3's ``predict`` refused string arrays and a list for a model built on an unsorted dict: verify crashed.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")
tf = pytest.importorskip("tensorflow")

from test_keras_lowering import convert_poisoned  # noqa: E402

pytestmark = pytest.mark.node

#: Enough float16 elements that seed 0's random inputs hit some the reciprocal rounds otherwise (11 of 64).
WIDTH = 64


def _cli(*args: str) -> int:
    from tfjsconv.cli import main

    return main(list(args))


def _verify_json(capsys, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = _cli("verify", *args, "--rtol", "0", "--json")
    return code, json.loads(capsys.readouterr().out)


def keras3_divide() -> keras.Model:
    x = keras.Input((WIDTH,), dtype="float16", name="x")
    return keras.Model(x, keras.ops.divide(x, 0.3))


def tf_keras_divide() -> tf_keras.Model:
    x = tf_keras.Input((WIDTH,), dtype="float16", name="x")
    return tf_keras.Model(x, tf.math.divide(x, 0.3))


def _verify_inputs(model_dir: Path) -> dict[str, np.ndarray]:
    """The random inputs verify feeds (seed 0)."""
    from tfjsconv.verify.inputs import input_specs, random_inputs

    return random_inputs(input_specs(model_dir), seed=0)


def _assert_traced_run_differs(model, inputs: dict[str, np.ndarray]) -> None:
    """The case still tells the two references apart: the traced run differs from the eager one on these inputs."""
    (x,) = inputs.values()
    eager, traced = np.asarray(model(x, training=False)), model.predict(x, verbose=0)
    assert np.any(eager != traced), "TensorFlow no longer rewrites this graph: the case checks nothing"


@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_float16_divide_matching_keras_passes_at_rtol_0(tmp_path, capsys, tfjs_runtime, flavor):
    model = keras3_divide() if flavor.startswith("keras3") else tf_keras_divide()
    source = tmp_path / f"divide-{flavor}"
    model.save(source)
    convert_poisoned([source])  # lowered without TensorFlow into SOURCE.out
    model_dir = Path(f"{source}.out")
    _assert_traced_run_differs(model, _verify_inputs(model_dir))
    code, report = _verify_json(capsys, str(source), str(model_dir))
    assert code == 0 and report["passed"], json.dumps(report["comparisons"], indent=1)[:2000]
    assert all(c["max_abs_err"] == 0 for c in report["comparisons"]), report["comparisons"]


def test_float16_divide_keras_saved_model_passes_at_rtol_0(tmp_path, capsys, tfjs_runtime):
    """A tf_keras SavedModel verified as Keras (``--input_format keras_saved_model``): tf_keras revives the model from
    its config and runs it eagerly too."""
    model = tf_keras_divide()
    source, model_dir = tmp_path / "divide_saved_model", tmp_path / "out"
    model.save(source, save_format="tf")
    assert _cli("convert", str(source), str(model_dir), "--input_format", "keras_saved_model",
                "--output_format=tfjs_graph_model", "--quiet") == 0
    _assert_traced_run_differs(model, _verify_inputs(model_dir))
    code, report = _verify_json(capsys, str(source), str(model_dir), "--input_format", "keras_saved_model")
    assert code == 0 and report["passed"], json.dumps(report["comparisons"], indent=1)[:2000]


def keras3_isin() -> keras.Model:
    """``isin`` (eager only in Keras's TensorFlow backend) followed by a Dense layer, so --trace has a layer to pair."""
    x = keras.Input((6,), dtype="int32", name="x")
    found = keras.ops.isin(x, keras.ops.convert_to_tensor(np.array([1, 3, 5], "int32")))
    dense = keras.layers.Dense(3, name="d")
    model = keras.Model(x, [keras.ops.cast(found, "float32"), dense(keras.ops.cast(found, "float32"))])
    dense.set_weights([np.arange(18, dtype="float32").reshape(6, 3) - 8, np.array([0.5, -1, 2], "float32")])
    return model


def test_isin_is_verified_not_crashed(tmp_path, capsys, tfjs_runtime):
    source, model_dir = tmp_path / "isin.keras", tmp_path / "out"
    keras3_isin().save(source)
    assert _cli("convert", str(source), str(model_dir), "--output_format=tfjs_graph_model", "--keep_provenance",
                "--quiet") == 0
    code, report = _verify_json(capsys, str(source), str(model_dir))
    assert code == 0 and report["passed"], json.dumps(report["comparisons"], indent=1)[:2000]
    assert len({c["name"] for c in report["comparisons"] if c["status"] == "PASS"}) == 2
    capsys.readouterr()
    assert _cli("verify", str(source), str(model_dir), "--trace", "--rtol", "0") == 0  # layer by layer
    assert "PASS" in capsys.readouterr().out


def keras3_channels_first_conv() -> keras.Model:
    """A channels_first Conv1D whose output's last axis is as long as its filters: Keras 3 adds the bias on the last
    axis (``model(x)``, the graph itself, the lowering), while TensorFlow's optimizer, running ``predict``'s trace,
    fuses it onto the channels (docs/keras.md, Keras 3 biases): verify FAILed the conversion by 1.5 of the range."""
    x = keras.Input((3, 4), name="x")
    conv = keras.layers.Conv1D(2, 3, data_format="channels_first", name="c")
    model = keras.Model(x, conv(x))
    conv.set_weights([np.random.default_rng(1).standard_normal((3, 3, 2)).astype("float32"),
                      np.array([10, -20], "float32")])
    return model


def keras3_uint8_clahe() -> keras.Model:
    """Keras 3's CLAHE casts its result back to uint8 images' dtype in ``model(x)`` (truncated), but not in
    ``predict``'s trace (floats): verify FAILed the conversion by 0.99 (2.5% of the range)."""
    u8 = keras.Input((10, 13, 3), name="u8", dtype="uint8")
    return keras.Model(u8, keras.layers.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(3, 4))(u8))


@pytest.mark.parametrize("build", [keras3_channels_first_conv, keras3_uint8_clahe])
def test_a_trace_that_computes_otherwise_is_not_the_reference(tmp_path, capsys, tfjs_runtime, build):
    model = build()
    source = tmp_path / f"{build.__name__}.keras"
    model.save(source)
    convert_poisoned([source])
    model_dir = Path(f"{source}.out")
    _assert_traced_run_differs(model, _verify_inputs(model_dir))
    code, report = _verify_json(capsys, str(source), str(model_dir))
    assert code == 0 and report["passed"], json.dumps(report["comparisons"], indent=1)[:2000]


def keras3_string_lookup() -> keras.Model:
    s = keras.Input((3,), dtype="string", name="s")
    return keras.Model(s, keras.layers.StringLookup(vocabulary=["a", "b", "tf.js"], name="look")(s))


def keras3_unsorted_dict_inputs() -> keras.Model:
    """Built on a dict whose keys are not sorted: Keras 3 refuses a list for it (``predict`` was fed one)."""
    a, b = keras.Input((2,), name="b_in"), keras.Input((2,), name="a_in")
    dense = keras.layers.Dense(2, name="d")
    model = keras.Model({"zz": a, "aa": b}, {"out2": keras.layers.Subtract(name="sub")([a, b]), "out1": dense(a)})
    dense.set_weights([np.array([[1, -2], [3, 0.5]], "float32"), np.array([0.25, -1], "float32")])
    return model


@pytest.mark.parametrize("build", [keras3_string_lookup, keras3_unsorted_dict_inputs])
def test_keras3_inputs_predict_refused_are_verified(tmp_path, capsys, tfjs_runtime, build):
    """Inputs ``predict`` could not take (Keras 3's data adapter: string arrays, 'Invalid dtype: object'; a list for a
    model built on an unsorted dict) crashed verify; the eager call takes them as users give them."""
    source = tmp_path / f"{build.__name__}.keras"
    build().save(source)
    convert_poisoned([source])
    code, report = _verify_json(capsys, str(source), f"{source}.out")
    assert code == 0 and report["passed"], json.dumps(report["comparisons"], indent=1)[:2000]
    assert not any(report["unchecked"].values()), report["unchecked"]
