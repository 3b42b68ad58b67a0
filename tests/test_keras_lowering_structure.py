"""Keras model structure in the lowering: nested models, shared layers and calls, masks, hostile configs.

As in ``test_keras_lowering.py``: small models with random weights, saved by Keras (``.keras``, Keras 3
``.h5``, tf_keras ``.h5``), converted through the lowering (no TensorFlow) and run in real TF.js (cpu
and wasm); expected values are Keras's own ``model(x, training=False)``. Hostile configs are edited
copies of real files; each must be one clear InputError, with nothing written.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfjsconv

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import LOWERED, POISONED, _module, _verify  # noqa: E402


# -- models ------------------------------------------------------------------------------------------
def nested(k):
    """A functional model called twice, a Sequential inside, two levels of nesting, a shared layer."""
    L = k.layers
    inner_in = k.Input((4,), name="inner_in")
    inner = k.Model(inner_in, L.Dense(3, activation="tanh", name="inner_dense")(inner_in), name="inner")
    core_in = k.Input((4,), name="core_in")
    core = k.Model(core_in, L.Dense(3, activation="sigmoid", name="core_dense")(core_in), name="core")
    head = k.Sequential([k.Input((3,)), L.Dense(5, name="head_dense"), L.ReLU(name="head_relu")], name="head")
    mid_in = k.Input((4,), name="mid_in")
    mid = k.Model(mid_in, [head(core(mid_in)), core(mid_in)], name="mid")  # two levels: outer > mid > core
    a, b = k.Input((4,), name="a"), k.Input((4,), name="b")
    shared = L.Dense(4, name="shared")
    x, y = inner(a), inner(b)  # the same nested model (same weights) on two inputs
    s = shared(a)
    t = shared(L.Add(name="sum_ab")([a, b]))  # node 1 of a shared layer
    z, w = mid(L.Subtract(name="diff")([s, t]))
    post = k.Sequential([L.Dense(2, name="post_dense")], name="post")  # no InputLayer: built by its call
    return k.Model([a, b], [L.Add(name="out")([x, y]), z, post(L.Multiply(name="gate")([w, x])), y, x])


def masked(k):
    """Masks from Embedding(mask_zero) and Masking through Dropout / rank-3 Dense into RNNs and a pool."""
    L = k.layers
    ids = k.Input((6,), dtype="int32", name="ids")
    feats = k.Input((6, 3), name="feats")
    e = L.Dense(4, activation="relu", name="dense3d")(L.Dropout(0.3, name="drop")(L.Embedding(9, 4, mask_zero=True,
                                                                                               name="emb")(ids)))
    seq = L.LSTM(3, return_sequences=True, name="lstm_seq")(e)
    back = L.GRU(3, return_sequences=True, go_backwards=True, name="gru_back")(seq)
    last, h = L.GRU(2, return_state=True, name="gru_state")(back)
    m = L.Masking(0.0, name="masking")(feats)
    bi_seq = L.Bidirectional(L.LSTM(2, return_sequences=True), name="bi_seq")(m)
    bi_last = L.Bidirectional(L.GRU(2), merge_mode="sum", name="bi_last")(m)
    pooled = L.GlobalAveragePooling1D(name="gap")(L.LayerNormalization(name="ln")(bi_seq))
    return k.Model([ids, feats], [seq, L.Concatenate(name="last")([last, h, bi_last]), pooled])


def masked_sequential(k):
    L = k.layers
    return k.Sequential([k.Input((5,), dtype="int32"), L.Embedding(7, 3, mask_zero=True, name="emb"),
                         L.SimpleRNN(3, return_sequences=True, name="rnn"), L.GlobalAveragePooling1D(name="gap")],
                        name="seq")


FAMILIES = {"nested": nested, "masked": masked, "masked_sequential": masked_sequential}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")] + [("nested", "keras3.h5")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    """Ids with zeros (masked steps, leading and trailing; never a whole row) and features with zero steps."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for t in model.inputs:
        shape = (3, *tuple(t.shape)[1:])
        dtype = str(getattr(t.dtype, "name", t.dtype))
        if "int" in dtype:
            value = rng.integers(1, 7, shape)
            value[0, :2] = 0
            value[1, -1] = 0
            value[2, 1::2] = 0
            inputs[t.name.split(":")[0]] = value.astype(dtype)
        else:
            value = rng.standard_normal(shape).astype("float32")
            if len(shape) == 3:
                value[0, 0] = 0.0
                value[1, 2:4] = 0.0
                value[2, -1] = 0.0
            inputs[t.name.split(":")[0]] = value
    return inputs


def _save(family: str, flavor: str, folder: Path, seed: int = 5):
    model = FAMILIES[family](_module(flavor))
    randomize(model, seed)
    inputs = _inputs(model, seed + 1)
    folder.mkdir(parents=True, exist_ok=True)
    return (*save_with_outputs(model, inputs, folder / f"{family}{flavor[flavor.index('.'):]}"), model)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``_save`` once per model and flavor for the whole module (saving tf_keras RNNs is slow)."""
    folder, cache = tmp_path_factory.mktemp("structure"), {}

    def get(family: str, flavor: str):
        if (family, flavor) not in cache:
            cache[family, flavor] = _save(family, flavor, folder / f"{family}-{flavor}")
        return cache[family, flavor]
    return get


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_structure_lowers_and_matches_keras(tmp_path, tfjs_runtime, saved, family, flavor):
    path, inputs, outputs, model = saved(family, flavor)
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert result.details == [LOWERED]
    signature = json.loads((tmp_path / "out" / "model.json").read_text())["signature"]
    names = list(getattr(model, "output_names", None) or [model.layers[-1].name])  # Keras 3 Sequential: none
    if flavor.startswith("keras3"):  # Keras 3 repeats a name (two calls of 'inner'); tf_keras adds _1, as here
        names = [n if names.index(n) == i else f"{n}_{names[:i].count(n)}" for i, n in enumerate(names)]
    assert list(signature["outputs"]) == names  # Keras's output names, in order
    _verify(tmp_path / "out", {k: v.astype("int32") if "int" in str(v.dtype) else v for k, v in inputs.items()},
            outputs)
    if family == "nested":  # a nested model called twice keeps one copy of its weights
        manifest = json.loads((tmp_path / "out" / "model.json").read_text())["weightsManifest"]
        shapes = sorted(tuple(w["shape"]) for group in manifest for w in group["weights"] if len(w["shape"]) == 2)
        assert shapes == [(3, 2), (3, 5), (4, 3), (4, 3), (4, 4)], shapes


def test_layers_that_ignore_a_mask_are_gaps_named_with_the_layer():
    """Keras drops a mask reaching a layer without mask support (Conv1D, GlobalMaxPooling1D) and hands one to a
    nested model; the lowering does the same. A mask given beside the tracked one replaces it (session 22: lowered,
    its numbers in ``test_keras_lowering_mask_override_s22.py``), so none of these is a gap."""
    from tfjsconv.plugins.keras.lowering import layer_gaps

    L = keras.layers
    ids = keras.Input((5,), dtype="int32", name="ids")
    x = L.Embedding(6, 4, mask_zero=True, name="emb")(ids)
    inner_in = keras.Input((5, 4), name="inner_in")
    inner = keras.Model(inner_in, L.Dense(2, name="inner_dense")(inner_in), name="inner")
    other = keras.Input((5,), dtype="int32", name="other")
    outputs = [L.Conv1D(2, 3, name="conv")(x), inner(x), L.GlobalMaxPooling1D(name="gmp")(x),
               L.GlobalAveragePooling1D(name="gap")(L.LSTM(2, return_sequences=True, name="lstm")(x)),
               L.GRU(2, name="own_mask")(x, mask=keras.ops.not_equal(other, 3))]  # not the mask Keras made
    config = json.loads(keras.Model([ids, other], outputs).to_json())
    assert layer_gaps(config) == []


def test_keras_names_cover_the_installed_keras_versions():
    """The lists that tell a corrupt name from an uncovered one know every built-in of Keras 3 and tf_keras."""
    import inspect

    from tfjsconv.plugins.keras.lowering.keras_names import KERAS_ACTIVATIONS, is_keras_layer_class
    from tfjsconv.plugins.keras.lowering.registry import loaded_lowerings

    for k in (keras, pytest.importorskip("tf_keras")):
        functions = {n for n, f in vars(k.activations).items() if inspect.isfunction(f)} - {"get", "serialize",
                                                                                             "deserialize"}
        assert functions <= KERAS_ACTIVATIONS, functions - KERAS_ACTIVATIONS
        classes = [n for n, c in vars(k.layers).items() if inspect.isclass(c) and issubclass(c, k.layers.Layer)]
        assert [n for n in classes if not is_keras_layer_class(n, loaded_lowerings())] == []


# -- hostile configs: hand-written files -------------------------------------------------------------
def _input(name, shape=(4,)):
    return {"class_name": "InputLayer", "name": name, "inbound_nodes": [],
            "config": {"name": name, "batch_input_shape": [None, *shape], "dtype": "float32"}}


def _layer(name, cls, inputs, **config):
    return {"class_name": cls, "name": name, "config": {"name": name, **config},
            "inbound_nodes": [[[i[0], i[1], 0, {}] if isinstance(i, tuple) else [i, 0, 0, {}] for i in inputs]]}


def _functional(name, layers, inputs, outputs):
    return {"class_name": "Functional", "config": {"name": name, "layers": layers,
                                                   "input_layers": [[i, 0, 0] for i in inputs],
                                                   "output_layers": [list(o) if isinstance(o, tuple) else [o, 0, 0]
                                                                     for o in outputs]}}


def _h5_model(path: Path, config: dict | str, weights: dict | None = None) -> Path:
    """A whole-model .h5 file as Keras writes it (list-form nodes, ``model_weights/<layer>/weight_names``)."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = config if isinstance(config, str) else json.dumps(config)
        f.attrs["keras_version"], f.attrs["backend"] = "3.5.0", "tensorflow"
        group = f.create_group("model_weights")
        names = [] if isinstance(config, str) else [layer["name"] for layer in config["config"]["layers"]]
        group.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name in names:
            arrays = (weights or {}).get(name, {})
            group.create_group(name).attrs["weight_names"] = np.array([k.encode() for k in arrays], dtype="S")
            for key, value in arrays.items():
                group[f"{name}/{key}"] = value
    return path


def _nested(depth: int) -> str:
    """Functional models nested ``depth`` levels deep around one Activation, as JSON text (written without
    recursion: ``json.dumps`` itself cannot nest thousands of levels)."""
    body = json.dumps(_functional("m0", [_input("in0"), _layer("act", "Activation", ["in0"], activation="relu")],
                                  ["in0"], ["act"])["config"])[1:-1]
    opening = [f'"name": "m{level}", "input_layers": [["in{level}", 0, 0]], "output_layers": [["m{level - 1}", 1, 0]], '
               f'"layers": [{json.dumps(_input(f"in{level}"))}, {{"name": "m{level - 1}", "inbound_nodes": '
               f'[[["in{level}", 0, 0, {{}}]]], "class_name": "Functional", "config": {{'
               for level in range(depth, 0, -1)]
    return '{"class_name": "Functional", "config": {' + "".join(opening) + body + "}}]" * depth + "}}"


def _cycle() -> dict:
    return _functional("cyclic", [_input("x"), _layer("a", "Activation", ["x", "b"], activation="relu"),
                                  _layer("b", "ReLU", ["a"]), _layer("out", "ReLU", ["b"])], ["x"], ["out"])


def _nested_weights_mismatch() -> tuple[dict, dict]:
    inner = _functional("inner", [_input("inner_in"), _layer("d", "Dense", ["inner_in"], units=5)],
                        ["inner_in"], ["d"])
    inner.update(name="inner", inbound_nodes=[[["x", 0, 0, {}]]])
    rng = np.random.default_rng(0)
    weights = {"inner": {"d/kernel:0": rng.standard_normal((4, 3)).astype("float32"),
                         "d/bias:0": np.zeros(3, "float32")}}
    return _functional("outer", [_input("x"), inner], ["x"], [("inner", 1, 0)]), weights


HOSTILE = {
    "cycle": (lambda: (_cycle(), None), "form a cycle"),
    "nested_40_levels": (lambda: (_nested(40), None), "nests models more than 32 levels deep"),
    "nested_3000_levels": (lambda: (_nested(3000), None), "is not valid JSON"),
    "weights_do_not_fit": (_nested_weights_mismatch,
                           "layer 'inner/d' (Dense) has a kernel of shape [4, 3], expected [4, 5]"),
    "unknown_class": (lambda: (_functional("m", [_input("x"), _layer("y", "FooLayer", ["x"])], ["x"], ["y"]), None),
                      "layer 'y' has class 'FooLayer', which Keras does not have"),
    "unknown_activation": (lambda: (_functional("m", [_input("x"), _layer("y", "Activation", ["x"],
                                                                          activation="no_such_fn")], ["x"], ["y"]),
                                    None),
                           "layer 'y' (Activation) has activation 'no_such_fn', which is no Keras activation function"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_configs_are_one_clear_error(tmp_path, capsys, case):
    from tfjsconv.cli import main

    build, needle = HOSTILE[case]
    path = _h5_model(tmp_path / f"{case}.h5", *build())
    code = main(["convert", str(path), str(tmp_path / "out"), "--output_format=tfjs_graph_model"])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err and "RecursionError" not in err
    assert not (tmp_path / "out").exists()


def test_the_plan_refuses_a_cycle_by_its_layers():
    """The walk's own order refuses cycles too (``lower_model`` may be called without the graph check)."""
    from tfjsconv.errors import InputError
    from tfjsconv.plugins.keras.lowering.model_plan import model_plan

    with pytest.raises(InputError, match=r"m.h5: the model's layer calls form a cycle \('a' -> 'b' -> 'a'\)"):
        model_plan(_cycle(), source="m.h5")


def test_a_long_chain_lowers_without_recursion(tmp_path):
    layers = [_input("x")] + [_layer(f"relu_{i}", "ReLU", [f"relu_{i - 1}" if i else "x"]) for i in range(1200)]
    path = _h5_model(tmp_path / "chain.h5", _functional("chain", layers, ["x"], ["relu_1199"]))
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert result.details == [LOWERED]
    assert list(json.loads((tmp_path / "out" / "model.json").read_text())["signature"]["outputs"]) == ["relu_1199"]


def test_nested_and_masked_files_convert_without_tensorflow_or_keras(saved):
    paths = [saved(family, flavor)[0] for family, flavor in
             (("nested", "keras3.keras"), ("masked", "tf_keras.h5"))]
    out = subprocess.run([sys.executable, "-c", POISONED, *map(str, paths)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count(LOWERED) == 2, out.stdout
    assert out.stdout.rstrip().endswith("LOADED:"), out.stdout


# -- tf_keras SavedModel (keras_metadata.pb + checkpoint), without TensorFlow -------------------------
SAVED_MODEL_POISONED = POISONED.split("for path")[0] + """
result = tfjsconv.convert(sys.argv[1], sys.argv[2], input_format="keras_saved_model",
                          output_format="tfjs_graph_model")
print(result.details)
print("LOADED:" + ",".join(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")
                            and sys.modules[m] is not None))
"""


@pytest.mark.node
def test_keras_saved_model_lowers_from_its_metadata_without_tensorflow(tmp_path, tfjs_runtime):
    from tfjsconv.plugins.keras.keras_metadata import OBJECT_GRAPH_KEY, checkpoint_variables, metadata_nodes
    from tfjsconv.plugins.keras.keras_saved_model import SAVED_MODEL_LOWERED
    from tfjsconv.plugins.savedmodel.tensor_bundle import BundleReader

    tk = pytest.importorskip("tf_keras")
    L = tk.layers
    inner_in = tk.Input((4,), name="inner_in")
    inner = tk.Model(inner_in, L.Dense(3, activation="tanh", name="inner_dense")(inner_in), name="inner")
    inp = tk.Input((5, 3), name="seq")
    x = L.BatchNormalization(name="bn")(L.Dense(4, name="d")(inp))
    x = L.Bidirectional(L.GRU(2, return_sequences=True), name="bi")(x)
    model = tk.Model(inp, inner(L.GlobalAveragePooling1D(name="gap")(x)))
    randomize(model, 9)
    x = np.random.default_rng(10).standard_normal((2, 5, 3)).astype("float32")
    expected = np.asarray(model(x, training=False))
    model.save(tmp_path / "sm", save_format="tf")

    # the field numbers the TF-free decoder reads are those of tf_keras's and TensorFlow's own classes
    from tensorflow.core.protobuf import trackable_object_graph_pb2
    from tf_keras.protobuf import saved_metadata_pb2

    data = (tmp_path / "sm" / "keras_metadata.pb").read_bytes()
    metadata = saved_metadata_pb2.SavedMetadata.FromString(data)
    assert metadata_nodes(data) == [{"node_path": n.node_path, "identifier": n.identifier, "metadata": n.metadata}
                                    for n in metadata.nodes]
    reader = BundleReader(tmp_path / "sm" / "variables" / "variables")
    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(reader.get_tensor(OBJECT_GRAPH_KEY).item())
    assert [name for name, _ in checkpoint_variables(graph.SerializeToString())] == \
        [v.name.split(":")[0] for v in model.variables]

    out = subprocess.run([sys.executable, "-c", SAVED_MODEL_POISONED, str(tmp_path / "sm"), str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == [str([SAVED_MODEL_LOWERED]), "LOADED:"], out.stdout
    _verify(tmp_path / "out", {"seq": x}, [expected])
