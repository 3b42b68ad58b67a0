"""tf_keras nested models called with a dict (session 27, issue 16): tf_keras saves such a call's inbound node as the
dict itself (``{"b": ["y", 0, 0, {}], "a": ["x", 0, 0, {}]}``), which the lowering refused as a corrupt file (it
counted the node as a Keras 3 one). It is paired as ``Functional._flatten_to_reference_inputs`` pairs it: a model
built on a dict takes the value under each of its sorted keys, one built on a list the value under each Input's name
(other keys unread), and ``model.inputs`` is ``tf.nest.flatten`` of the structure, so a model built on a dict in
unsorted key order and called with a list pairs the list with its sorted keys (converted 9 off before: ``a - b``
gave ``b - a``). A nested model's dict outputs are counted in that sorted order too (Keras 3's as well: they
were swapped, silently). Checked in tf_keras ``.h5``
(Subtract on two inputs three apart: a swap gives other numbers), one converted model at two batch sizes, TF.js cpu
and wasm against ``model(x)``, TensorFlow and Keras poisoned; a tf_keras SavedModel too. A dict missing an Input's
name, on which tf_keras's ``model(x)`` raises, is refused naming the model. A nested model's dict outputs as the
outer model's outputs carry the names Keras's ``model.output_names`` gives them (made unique in sorted-key order; the
saved order put each name on the other tensor, R4 N1), compared with Keras's names directly, not only through verify.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def _outer(k: Any, inner: Any, call: Any, names: tuple[str, ...] = ("x", "y")) -> Any:
    """``inner`` called as ``call(x, y, ...)`` builds it, then a Dense: the outer model on a list of Inputs."""
    given = [k.Input((3,), name=name) for name in names]
    return k.Model(given, k.layers.Dense(2, name="after")(call(inner, *given)))


def dict_built(k: Any) -> Any:
    """Built on a dict, called with the dict in another key order."""
    a, b = k.Input((3,), name="a"), k.Input((3,), name="b")
    inner = k.Model({"a": a, "b": b}, k.layers.Subtract(name="sub")([a, b]), name="inner")
    return _outer(k, inner, lambda m, x, y: m({"b": y, "a": x}))


def list_built(k: Any) -> Any:
    """Built on a list of Inputs whose names are not in sorted order, called with a dict keyed by those names."""
    zz, aa = k.Input((3,), name="zz"), k.Input((3,), name="aa")
    inner = k.Model([zz, aa], k.layers.Subtract(name="sub")([zz, aa]), name="inner")
    return _outer(k, inner, lambda m, x, y: m({"aa": y, "zz": x}))


def keys_not_names(k: Any) -> Any:
    """Built on an unsorted dict whose keys are not its Inputs' names: the keys are read."""
    a, b = k.Input((3,), name="zz_in"), k.Input((3,), name="aa_in")
    inner = k.Model({"b": b, "a": a}, k.layers.Subtract(name="sub")([a, b]), name="inner")
    return _outer(k, inner, lambda m, x, y: m({"a": x, "b": y}))


def dict_model_list_call(k: Any) -> Any:
    """Built on an unsorted dict, called with a list: tf_keras pairs it with the sorted keys (a = x, b = y)."""
    a, b = k.Input((3,), name="a"), k.Input((3,), name="b")
    inner = k.Model({"b": b, "a": a}, k.layers.Subtract(name="sub")([a, b]), name="inner")
    return _outer(k, inner, lambda m, x, y: m([x, y]))


def dict_outputs(k: Any) -> Any:
    """Dict outputs in unsorted key order, both read outside (a caller counts them in sorted key order)."""
    a, b = k.Input((3,), name="a"), k.Input((3,), name="b")
    inner = k.Model([a, b], {"z_diff": k.layers.Subtract(name="sub")([a, b]),
                             "m_dense": k.layers.Dense(3, name="inner_dense")(a)}, name="inner")
    x, y = k.Input((3,), name="x"), k.Input((3,), name="y")
    out = inner({"b": y, "a": x})
    return k.Model([x, y], [k.layers.Dense(2, name="after")(out["z_diff"]), out["m_dense"]])


def two_deep(k: Any) -> Any:
    """A dict-built model calling a dict-built model with a dict, called with a dict."""
    a, b = k.Input((3,), name="a"), k.Input((3,), name="b")
    inner = k.Model({"a": a, "b": b}, k.layers.Subtract(name="sub")([a, b]), name="inner")
    p, q = k.Input((3,), name="p"), k.Input((3,), name="q")
    mid = k.Model({"q": q, "p": p}, k.layers.Dense(3, name="mid_dense")(inner({"b": p, "a": q})), name="mid")
    return _outer(k, mid, lambda m, x, y: m({"p": y, "q": x}))


def extra_key(k: Any) -> Any:
    """A key naming no Input, which tf_keras ignores (with a warning)."""
    a, b = k.Input((3,), name="a"), k.Input((3,), name="b")
    inner = k.Model([a, b], k.layers.Subtract(name="sub")([a, b]), name="inner")
    return _outer(k, inner, lambda m, x, y, w: m({"b": y, "zzz": w, "a": x}), ("x", "y", "w"))


def _inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    return {t.name.split(":")[0]: (rng.standard_normal((batch, t.shape[-1])) + 3 * i).astype("float32")
            for i, t in enumerate(model.inputs)}


FAMILIES = {f.__name__: f for f in (dict_built, list_built, keys_not_names, dict_model_list_call, dict_outputs,
                                    two_deep, extra_key)}
#: Keras 3 counts a nested model's dict outputs in sorted key order too (saved order was 10..15 off before).
CASES = [(family, "tf_keras.h5") for family in FAMILIES] + [("dict_outputs", "keras3.keras"), ("dict_outputs", "keras3.h5")]
converted = converted_fixture("k27_tf_dict_calls", CASES, two_size_saver(FAMILIES, at_runs(_inputs, [(2,), (3,)]),
                                                                         seed=272))


@pytest.mark.node
@each_case(CASES)
def test_tf_keras_nested_model_called_with_a_dict_matches_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
def test_tf_keras_saved_model_with_dict_calls_and_dict_outputs_matches_keras(tmp_path, tfjs_runtime):
    """A tf_keras SavedModel (``keras_metadata.pb`` holds the same config) built on a dict, dict outputs at the top
    (fed and compared by name) and in the nested model."""
    import subprocess
    import sys

    tf_keras = pytest.importorskip("tf_keras")
    from test_keras_lowering import POISONED
    from tfjsconv.verify.compare import format_report, verify_model

    k, L = tf_keras, tf_keras.layers
    a, b = k.Input((3,), name="a"), k.Input((3,), name="b")
    inner = k.Model({"b": b, "a": a}, {"z_diff": L.Subtract(name="sub")([a, b]), "m_dense": L.Dense(3, name="dd")(a)},
                    name="inner")
    x, y = k.Input((3,), name="x"), k.Input((3,), name="y")
    out = inner({"b": y, "a": x})
    model = k.Model({"y": y, "x": x}, {"zz": L.Dense(2, name="after")(out["z_diff"]),
                                       "aa": L.Activation("linear", name="lin")(out["m_dense"])})
    path = tmp_path / "saved"
    model.save(path, save_format="tf")
    inputs = {"x": np.arange(6, dtype="float32").reshape(2, 3), "y": np.full((2, 3), 10.0, "float32")}
    expected = {layer: np.asarray(model(inputs)[key]) for key, layer in (("zz", "after"), ("aa", "lin"))}
    code = POISONED.replace('output_format="tfjs_graph_model"',
                            'output_format="tfjs_graph_model", input_format="keras_saved_model"')
    assert code != POISONED
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "without TensorFlow" in done.stdout and done.stdout.rstrip().endswith("LOADED:"), done.stdout
    out_dir = Path(f"{path}.out")
    signature = json.loads((out_dir / "model.json").read_text())["signature"]
    assert sorted(n.split(":")[0] for n in signature["outputs"]) == sorted(model.output_names) == ["after", "lin"]
    named = {next(s for s in signature["inputs"] if s.split(":")[0] == n): v for n, v in inputs.items()}
    report = verify_model(out_dir, named, {next(s for s in signature["outputs"] if s.split(":")[0] == n): v
                                           for n, v in expected.items()}, backends=("cpu", "wasm"), quiet=True)
    assert report.passed, format_report(report)


def test_a_dict_missing_an_input_name_is_refused_naming_the_model(tmp_path):
    """tf_keras builds such a call (pairing by position) but its ``model(x)`` raises ``Missing data for input``."""
    tf_keras = pytest.importorskip("tf_keras")
    import tfjsconv
    from tfjsconv.errors import InputError

    zz, aa = tf_keras.Input((3,), name="zz"), tf_keras.Input((3,), name="aa")
    inner = tf_keras.Model([zz, aa], tf_keras.layers.Subtract(name="sub")([zz, aa]), name="inner_m")
    x, y = tf_keras.Input((3,), name="x"), tf_keras.Input((3,), name="y")
    model = tf_keras.Model([x, y], inner({"zz": x, "q": y}))
    with pytest.raises(ValueError, match="Missing data for input"):
        model([np.ones((1, 3), "float32"), np.ones((1, 3), "float32")])
    model.save(tmp_path / "m.h5")
    with pytest.raises(InputError) as err:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert "model 'inner_m' is called with a dict of keys ['q', 'zz'], which do not match its inputs ['zz', 'aa']: " \
           "tf_keras's model(x) raises (Missing data for input 'aa')" in str(err.value), str(err.value)


def nested_dict_at_the_top(k: Any) -> Any:
    """A nested model's dict outputs (keys unsorted, widths 3 and 4) as the outer model's outputs: both are named
    after the nested model, made unique in Keras's order (sorted keys), which saved order names the other way."""
    a, b = k.Input((3,), name="a"), k.Input((3,), name="b")
    inner = k.Model([a, b], {"zz": k.layers.Subtract(name="sub")([a, b]), "aa": k.layers.Dense(4, name="da")(a)},
                    name="inner")
    x, y = k.Input((3,), name="x"), k.Input((3,), name="y")
    return k.Model([x, y], inner([x, y]))


def _made_unique(names: list[str]) -> list[str]:
    """Keras 3's ``output_names`` repeat a layer's name per output; tf_keras's rule makes them unique (``x_1``)."""
    unique: list[str] = []
    for name in names:
        proposal, count = name, 1
        while proposal in unique:
            proposal, count = f"{name}_{count}", count + 1
        unique.append(proposal)
    return unique


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras.h5", "keras3.keras", "keras3.h5"])
def test_nested_dict_outputs_at_the_top_carry_keras_output_names(tmp_path, tfjs_runtime, flavor):
    """The signature's names sit on the tensors Keras's ``model.output_names`` gives them (``inner`` on width 4,
    ``inner_1`` on width 3; the other way round before), checked by shape and by value in TF.js cpu and wasm."""
    from keras_models import randomize
    from test_keras_lowering import _module, case_file, convert_poisoned
    from tfjsconv.verify.compare import format_report, verify_model

    model = nested_dict_at_the_top(_module(flavor))
    randomize(model, 273)
    names = _made_unique([str(n) for n in model.output_names])
    assert names == ["inner", "inner_1"], model.output_names
    rng = np.random.default_rng(274)
    inputs = {"x": rng.standard_normal((2, 3)).astype("float32"),
              "y": (rng.standard_normal((2, 3)) + 3).astype("float32")}
    result = model([inputs["x"], inputs["y"]])
    flat = [np.asarray(result[key]) for key in sorted(result)]  # model.outputs: the dict flattened, keys sorted
    assert [int(t.shape[-1]) for t in model.outputs] == [v.shape[-1] for v in flat] == [4, 3]
    path = case_file(tmp_path, "nested_dict_at_the_top", flavor)
    model.save(path)
    convert_poisoned([path])
    out = Path(f"{path}.out")
    signature = json.loads((out / "model.json").read_text())["signature"]["outputs"]
    widths = {name.split(":")[0]: int(spec["tensorShape"]["dim"][-1]["size"]) for name, spec in signature.items()}
    assert widths == {name: value.shape[-1] for name, value in zip(names, flat, strict=True)}, widths
    expected = {next(s for s in signature if s.split(":")[0] == name): value
                for name, value in zip(names, flat, strict=True)}
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), quiet=True)
    assert report.passed, format_report(report)
