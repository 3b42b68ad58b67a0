"""Keras 3 nested models called with a dict (session 26, R3's N1): the lowering paired the dict's values with the
nested model's Inputs in the order the dict was saved, so ``inner({"b": z, "a": x})`` on ``Subtract()([a, b])`` gave
``z - x`` where Keras gives ``x - z``. Keras pairs by name (``Functional._standardize_inputs``): a model built on a
list of Inputs takes the value under each Input's name (a key naming no Input is not read), one built on a dict the
value under each of its keys. Checked in Keras 3 ``.keras`` and ``.h5``: Input names not in sorted order, an extra
key (refused before), a dict-built model called in another key order (a Dense on one of its inputs: a swap gives
other numbers of the same shape), and a top model built on a dict; one converted model at two batch sizes, TF.js cpu and
wasm against ``model(x)``, TensorFlow and Keras poisoned. tf_keras's dict calls: test_keras_lowering_k27_tf_dict_calls.py; a
dict whose keys name no Input (an edited file) is refused naming the model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def nested_dicts(k: Any) -> Any:
    """Two nested models called with dicts in another order than their Inputs: ``zz - aa`` and ``[p, Dense(q)]``."""
    L = k.layers
    zz, aa = k.Input((4,), name="zz_l"), k.Input((4,), name="aa_l")
    by_list = k.Model([zz, aa], L.Subtract(name="sub_l")([zz, aa]), name="inner_l")
    p, q = k.Input((4,), name="p_d"), k.Input((4,), name="q_d")
    by_dict = k.Model({"q_d": q, "p_d": p}, L.Concatenate(name="cat_d")([p, L.Dense(2, name="dense_d")(q)]),
                      name="inner_d")
    x, z, w = k.Input((4,), name="x"), k.Input((4,), name="z"), k.Input((4,), name="w")
    return k.Model([x, z, w], [by_list({"aa_l": x, "zz_l": z}), by_dict({"p_d": z, "q_d": w})])


def extra_key(k: Any) -> Any:
    """A key naming no Input, which Keras's ``model(x)`` does not read (refused before as three tensors for two
    Inputs). Keras's symbolic call pairs the dict's values sorted by key with the Inputs by position: the extra
    value has the Inputs' width so that the model builds."""
    L = k.layers
    zz, aa = k.Input((4,), name="zz_e"), k.Input((4,), name="aa_e")
    inner = k.Model([zz, aa], L.Subtract(name="sub_e")([zz, aa]), name="inner_e")
    x, z = k.Input((4,), name="x"), k.Input((4,), name="z")
    return k.Model([x, z], inner({"aa_e": x, "extra": L.Dense(4, name="dense_e")(z), "zz_e": z}))


def _inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    return {t.name.split(":")[0]: (rng.standard_normal((batch, t.shape[-1])) + 3 * i).astype("float32")
            for i, t in enumerate(model.inputs)}


FAMILIES = {"nested_dicts": nested_dicts, "extra_key": extra_key}
CASES = [("nested_dicts", "keras3.keras"), ("nested_dicts", "keras3.h5"), ("extra_key", "keras3.keras")]
converted = converted_fixture("k26_dict_inputs", CASES, two_size_saver(FAMILIES, at_runs(_inputs, [(2,), (3,)]),
                                                                       seed=262))


@pytest.mark.node
@each_case(CASES)
def test_nested_model_called_with_a_dict_matches_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
def test_top_model_built_on_a_dict_matches_keras(tmp_path, tfjs_runtime):
    """A top model built on a dict in unsorted key order: the converted signature names its inputs, fed by name."""
    import keras
    from test_keras_lowering import _verify, convert_poisoned

    b, a = keras.Input((4,), name="b_t"), keras.Input((4,), name="a_t")
    model = keras.Model({"b_t": b, "a_t": a}, keras.layers.Subtract(name="sub_t")([b, a]))
    inputs = {"b_t": np.arange(8, dtype="float32").reshape(2, 4), "a_t": np.full((2, 4), 10.0, "float32")}
    path = tmp_path / "top.keras"
    model.save(path)
    convert_poisoned([path])
    _verify(Path(f"{path}.out"), inputs, [np.asarray(model(inputs))])


def test_a_dict_whose_keys_name_no_input_is_refused_naming_the_model(tmp_path):
    """Keras raises on such a call, so only an edited file has one: refused, not paired by position."""
    import h5py
    import keras

    import tfjsconv
    from tfjsconv.errors import InputError

    a, b = keras.Input((4,), name="a_x"), keras.Input((4,), name="b_x")
    inner = keras.Model([a, b], keras.layers.Subtract(name="sub_x")([a, b]), name="inner_x")
    x, z = keras.Input((4,), name="x"), keras.Input((4,), name="z")
    path = tmp_path / "m.h5"
    keras.Model([x, z], inner({"b_x": z, "a_x": x})).save(path)
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = f.attrs["model_config"].replace('"a_x": {"class_name"', '"c_x": {"class_name"')
        assert '"c_x"' in f.attrs["model_config"]
    with pytest.raises(InputError) as err:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert "model 'inner_x' is called with a dict of keys ['b_x', 'c_x'], which do not match its inputs " \
           "['a_x', 'b_x']" in str(err.value), str(err.value)
