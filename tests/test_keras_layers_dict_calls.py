"""Nested models and dicts on the layers-model path (``--output_format=tfjs_layers_model``), session 27.

TF.js layers models feed a nested model's inputs by position in its saved ``input_layers`` and read its outputs by
position, where Keras pairs by key: a dict call by the model's sorted keys or its Inputs' names, a list call on a
dict-built model (tf_keras) by the sorted keys, dict outputs counted in sorted-key order. Before, tf_keras dict calls
were written as an empty input list (TF.js: "reading 'outputTensors'"), a tf_keras dict-built model called with a
list was 2.8e-2 off, Keras 3 dict calls 0.41..0.43 off (silently), nested dict outputs refused as a corrupt file.
Each such nested model is now refused by name, all at once, with the graph-model hint (the lowering pairs them as
Keras does: tests/test_keras_lowering_k27_tf_dict_calls.py).
"""
from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")

from test_keras_lowering import _module, case_file  # noqa: E402


def _concat_inner(k: Any, build: str) -> Any:
    """``Dense(Concatenate([a, b]))`` built on a dict in unsorted key order, or on a list of Inputs ``zz``, ``aa``."""
    a, b = k.Input((3,), name="a" if build == "dict" else "zz"), k.Input((3,), name="b" if build == "dict" else "aa")
    given = {"b": b, "a": a} if build == "dict" else [a, b]
    return k.Model(given, k.layers.Dense(2, name="d")(k.layers.Concatenate(name="cat")([a, b])), name="inner")


def _outer(k: Any, call: Any) -> Any:
    x, y = k.Input((3,), name="x"), k.Input((3,), name="y")
    return k.Model([x, y], call(x, y))


def dict_built_dict_call(k: Any) -> Any:
    inner = _concat_inner(k, "dict")
    return _outer(k, lambda x, y: inner({"a": x, "b": y}))


def list_built_dict_call(k: Any) -> Any:
    inner = _concat_inner(k, "list")
    return _outer(k, lambda x, y: inner({"aa": y, "zz": x}))


def dict_built_list_call(k: Any) -> Any:
    """tf_keras pairs the list with the sorted keys (a = x), TF.js with the saved order (b = x)."""
    inner = _concat_inner(k, "dict")
    return _outer(k, lambda x, y: inner([x, y]))


def dict_outputs(k: Any) -> Any:
    a, b = k.Input((3,), name="a"), k.Input((3,), name="b")
    inner = k.Model([a, b], {"z": k.layers.Dense(2, name="dz")(a), "m": k.layers.Dense(4, name="dm")(b)},
                    name="inner")
    x, y = k.Input((3,), name="x"), k.Input((3,), name="y")
    out = inner([x, y])
    return k.Model([x, y], [k.layers.Dense(3, name="after")(out["z"]), out["m"]])


FAMILIES = {f.__name__: f for f in (dict_built_dict_call, list_built_dict_call, dict_built_list_call, dict_outputs)}
WHY = {"dict_built_dict_call": "is called with a dict", "list_built_dict_call": "is called with a dict",
       "dict_built_list_call": "is built on a dict of inputs", "dict_outputs": "returns a dict"}
#: Keras 3 refuses a dict-built model called with a list (``model(x)``: the structure does not match).
CASES = [(f, "tf_keras.h5") for f in FAMILIES] + [(f, v) for f in FAMILIES if f != "dict_built_list_call"
                                                  for v in ("keras3.keras", "keras3.h5")]


@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_a_nested_model_paired_by_key_is_refused_by_name(tmp_path, family, flavor):
    import tfjsconv
    from tfjsconv.errors import InputError

    path = case_file(tmp_path, family, flavor)
    FAMILIES[family](_module(flavor)).save(path)
    with pytest.raises(InputError) as err:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_layers_model")
    assert f"nested model 'inner' {WHY[family]}" in str(err.value), str(err.value)
    assert "tfjs_graph_model" in (err.value.hint or ""), err.value.hint
    assert not (tmp_path / "out" / "model.json").exists()


def test_every_such_nested_model_is_named_at_once_and_the_cli_exits_2(tmp_path):
    """Two nested models (one of them inside another, dict-called there): both named in one error, exit code 2."""
    k = _module("keras3.keras")
    a, b = k.Input((3,), name="a"), k.Input((3,), name="b")
    deep = k.Model({"b": b, "a": a}, k.layers.Concatenate(name="cat")([a, b]), name="deep")
    p, q = k.Input((3,), name="p"), k.Input((3,), name="q")
    mid = k.Model([p, q], deep({"a": p, "b": q}), name="mid")
    outer = _concat_inner(k, "list")
    x, y = k.Input((3,), name="x"), k.Input((3,), name="y")
    model = k.Model([x, y], [mid([x, y]), outer({"zz": x, "aa": y})])
    model.save(tmp_path / "m.keras")
    done = subprocess.run([sys.executable, "-m", "tfjsconv", "convert", str(tmp_path / "m.keras"),
                           str(tmp_path / "out"), "--output_format=tfjs_layers_model"], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "2 nested models use dicts" in done.stderr, done.stderr
    assert "nested model 'mid/deep' is called with a dict and is built on a dict of inputs" in done.stderr
    assert "nested model 'inner' is called with a dict" in done.stderr
