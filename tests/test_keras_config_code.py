"""Code hidden deep in a Keras config is refused before Keras sees the file.

Keras deserializes nested values too: tf_keras imports the ``module`` of an object found inside an
Embedding's ``input_dim``, a Constant initializer's ``value`` or a TextVectorization's ``split``, and
calls its class's ``from_config``. The end-to-end tests put such an object, naming a canary module
that writes a file when imported or called, into real tf_keras files edited like an attacker would,
and check that neither the graph-model path (``--loader=tensorflow``) nor verify's reference runs it.
"""
from __future__ import annotations

import copy
import json
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import UnsafeInputError
from tfjsconv.options import ConvertOptions
from tfjsconv.plugins.keras.checks import check_model_config
from tfjsconv.plugins.keras.frontends import KerasV3Frontend

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
GRAPH = "tfjs_graph_model"


def _custom(module: str = "evil_pkg", name: str = "Payload") -> dict[str, Any]:
    return {"module": module, "class_name": name, "config": {}, "registered_name": name}


def _layer(cls: str, name: str, **config: Any) -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": cls, "registered_name": None, "name": name,
            "config": {"name": name, **config}}


def _model(*layers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "s", "layers": [_layer("InputLayer", "x", batch_shape=[None, 4]), *layers]}, **extra}


def _refusal(config: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(UnsafeInputError) as err:
        check_model_config(config, source="m.keras", keras3=True, **kwargs)
    return str(err.value)


NESTED = {
    "embedding input_dim, in a list in a dict": (
        _layer("Embedding", "emb", input_dim={"wrapped": [_custom()]}, output_dim=2),
        "layer 'emb' (Embedding): input_dim.wrapped[0] is custom code"),
    "text vectorization split, a builtins function": (
        _layer("TextVectorization", "tv", split={"f": {"module": "builtins", "class_name": "function",
                                                       "config": "eval", "registered_name": "eval"}}),
        "layer 'tv' (TextVectorization): split.f is custom code"),
    "marshaled lambda deep inside an activation": (
        _layer("Dense", "d", units=2, activation={"class_name": "X", "config": {
            "inner": [{"class_name": "__lambda__", "config": {"value": "AAAA"}}]}}),
        "layer 'd' (Dense): activation.config.inner[0] is a marshaled Python lambda"),
    "tf_keras func_dump in a cell-wrapper-like config": (
        _layer("Dense", "d", units=2, extra={"fn": ["4wAAAA==", None, None], "fn_type": "lambda"}),
        "layer 'd' (Dense): extra is a marshaled Python function (fn_type 'lambda')"),
    "a Lambda layer as a value, not as a nested layer": (
        _layer("Embedding", "emb", input_dim={"module": "keras.layers", "class_name": "Lambda",
                                              "config": {"function": ["4wAAAA==", None, None]}}, output_dim=2),
        "layer 'emb' (Embedding): input_dim is a Lambda layer"),
    "feature column normalizer_fn": (
        _layer("DenseFeatures", "df", feature_columns=[{"class_name": "NumericColumn", "config": {
            "key": "a", "normalizer_fn": _custom("os", "system")}}]),
        "layer 'df' (DenseFeatures): feature_columns[0].config.normalizer_fn is custom code"),
    "a registered custom object (package>Name) in a layer wrapped by TimeDistributed": (
        _layer("TimeDistributed", "td", layer=_layer("Dense", "inner", units=2, activation={
            "module": "keras.activations", "class_name": "Fn", "config": {"seed": _custom("keras", "p>Fn")}})),
        "layer 'td/inner' (Dense): activation.config.seed is custom code"),
    "a nested model's compile_config (Keras compiles nested models)": (
        dict(_layer("Sequential", "sub", layers=[_layer("Dense", "d2", units=2)]),
             compile_config={"loss": {"fn": _custom("evil_pkg", "loss")}}),
        "layer 'sub' (Sequential): (compile_config).loss.fn is custom code"),
}


@pytest.mark.parametrize("case", list(NESTED), ids=list(NESTED))
@pytest.mark.parametrize("output_format", ["tfjs_layers_model", GRAPH])
def test_code_at_any_depth_is_refused(case, output_format):
    layer, expected = NESTED[case]
    message = _refusal(_model(copy.deepcopy(layer)), output_format=output_format, allow_unsafe=False)
    assert expected in message and "--allow_unsafe_deserialization" in message


def test_one_refusal_names_every_nested_offender():
    layers = [copy.deepcopy(layer) for layer, _ in NESTED.values()]
    for i, layer in enumerate(layers):  # names must stay unique for the message to tell them apart
        layer["config"]["name"] = layer["name"] = f"{layer['name']}{i}"
    message = _refusal(_model(*layers))
    assert message.count("\n  - ") == len(NESTED), message


def test_custom_training_only_objects_count_as_code_where_keras_loads_the_file():
    init = {"module": "keras.initializers", "class_name": "Constant", "config": {"value": {"v": _custom()}}}
    config = _model(_layer("Dense", "d", units=2, kernel_initializer=init, bias_initializer=_custom()))
    check_model_config(config, source="m.keras", keras3=True)  # h5py layers path: translate drops them
    message = _refusal(config, output_format=GRAPH)
    assert "kernel_initializer.config.value.v is custom code" in message and "bias_initializer is custom" in message
    assert "kernel_initializer" in _refusal(config, keras_loads=True)  # the keras_saved_model layers path


def test_the_roots_compile_config_is_not_read():
    """``load_model(compile=False)`` drops it; a custom loss there is the common, harmless case."""
    check_model_config(_model(compile_config={"loss": _custom("my_pkg", "focal_loss")}), source="m.keras",
                       keras3=True, output_format=GRAPH)


def test_a_real_resnet50_config_passes_quickly():
    keras = pytest.importorskip("keras")
    import time

    config = json.loads(json.dumps(keras.saving.serialize_keras_object(
        keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3)))))
    start = time.perf_counter()
    check_model_config(config, source="resnet50.keras", keras3=True, output_format=GRAPH)
    assert time.perf_counter() - start < 1.0


# --- end to end: real tf_keras files, a canary module, Keras must never reach it ----------------------


@pytest.fixture
def canary_module(tmp_path, monkeypatch):
    """A fresh importable module whose import, functions and ``from_config`` write ``fired.txt``."""
    name = f"tfjsconv_canary_{uuid.uuid4().hex[:8]}"
    fired = tmp_path / "fired.txt"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / f"{name}.py").write_text(
        f"open({str(fired)!r}, 'a').write('imported')\n"
        "class Payload:\n"
        "    @classmethod\n"
        "    def from_config(cls, config):\n"
        f"        open({str(fired)!r}, 'a').write('from_config')\n"
        "        return 2\n")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    return name, fired


def _tf_keras_archive(tmp_path: Path, build, edit) -> Path:
    """A real tf_keras ``.keras`` file whose config.json ``edit`` changed."""
    path = tmp_path / "edited.keras"
    build().save(path)
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config["config"]["layers"][-1]["config"])
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def _embedding(k):
    return k.Sequential([k.Input((3,), dtype="int32"), k.layers.Embedding(10, 2)])


def _dense(k):
    return k.Sequential([k.Input((4,)), k.layers.Dense(2)])


def _nested_input_dim(module):
    return lambda config: config.update(input_dim={"wrapped": [_custom(module)]})


def _constant_init_value(module):
    return lambda config: config.update(kernel_initializer={
        "module": "tf_keras.initializers", "class_name": "Constant", "config": {"value": _custom(module)},
        "registered_name": None})


@pytest.mark.parametrize("build,edit", [(_embedding, _nested_input_dim), (_dense, _constant_init_value)],
                         ids=["embedding_input_dim", "constant_initializer_value"])
def test_tf_keras_never_imports_a_module_named_deep_in_a_keras_file(tmp_path, canary_module, build, edit):
    k = pytest.importorskip("tf_keras")
    module, fired = canary_module
    path = _tf_keras_archive(tmp_path, lambda: build(k), edit(module))
    with pytest.raises(UnsafeInputError) as err:
        tfjsconv.convert(path, tmp_path / "out", output_format=GRAPH, loader="tensorflow")
    assert module in str(err.value) and "--allow_unsafe_deserialization" in str(err.value)
    with pytest.raises(UnsafeInputError):  # verify's reference
        KerasV3Frontend().reference(path, {"x": np.zeros((1, 4), "float32")}, ConvertOptions())
    assert not fired.exists(), "Keras imported or ran the canary module named in the file"
    assert not (tmp_path / "out").exists()


def test_the_canary_fires_when_keras_loads_such_a_file(tmp_path, canary_module):
    """The premise of the test above: tf_keras (safe mode and all) really runs the nested object."""
    k = pytest.importorskip("tf_keras")
    module, fired = canary_module
    path = _tf_keras_archive(tmp_path, lambda: _embedding(k), _nested_input_dim(module))
    with pytest.raises(Exception):  # noqa: B017 - the payload returns junk; what matters is that it ran
        k.models.load_model(path, compile=False, safe_mode=True)
    assert fired.read_text() == "importedfrom_config"


def test_tensorflow_initializers_are_data_but_only_as_initializers():
    """tf_keras's EfficientNetV2 saves ``tf.constant_initializer`` with a ``tensorflow.python`` module."""
    tf_init = {"module": "tensorflow.python.ops.init_ops_v2", "class_name": "Constant",
               "config": {"value": -0.2}, "registered_name": "Constant"}
    check_model_config(_model(_layer("Dense", "d", units=2, bias_initializer=tf_init)), source="m.keras",
                       keras3=True, output_format=GRAPH)
    assert "activation is custom code" in _refusal(_model(_layer("Dense", "d", units=2, activation=tf_init)),
                                                   output_format=GRAPH)
