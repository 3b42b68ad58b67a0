"""Three ways a model used to come out wrong or unrunnable without a word, now refused or fixed.

1. Legacy Keras ``.h5`` files record no layer input shapes, so rank-dependent refusals
   (channels-first ``BatchNormalization``, ``Flatten`` of a rank-2 input) slipped through; the
   shapes are now carried through the config (``plugins/keras/shape_flow.py``).
2. A scalar (shape ``()``) input reached TF.js as shape ``[1]`` and failed verification.
3. A ``--control_flow_v2`` ``While`` body writing an intermediate into a TensorArray failed in TF.js
   (the value was disposed); it is now kept alive as an extra loop variable, or refused where that
   rewrite does not apply.
Expected values come from Keras / TensorFlow; converted models run in real TF.js (cpu and wasm).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", *args], check=False, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


# -- 1. legacy .h5 files: input ranks carried through the config -------------------------------------
H5_FLAVORS = ("keras", "tf_keras")


def _keras(name: str):
    return pytest.importorskip(name)


def _channels_first_bn(k):
    inp = k.Input((3, 4, 5))
    x = k.layers.Conv2D(3, 1, name="conv")(inp)  # channels-last conv, then BN over axis 1
    return k.Model(inp, k.layers.BatchNormalization(axis=1, name="bn_first")(x))


def _flatten_rank2_sequential(k):
    return k.Sequential([k.Input((6,)), k.layers.Dense(3, name="dense"), k.layers.Flatten(name="flat2")])


def _nested_channels_first_bn(k):
    inner = k.Sequential([k.Input((4, 5)), k.layers.BatchNormalization(axis=1, name="inner_bn")], name="inner")
    inp = k.Input((4, 5))
    return k.Model(inp, k.layers.Dense(2)(inner(k.layers.Activation("relu")(inp))))


def _time_distributed_bn(k):
    inp = k.Input((2, 3, 4, 5))
    return k.Model(inp, k.layers.TimeDistributed(k.layers.BatchNormalization(axis=1, name="td_bn"),
                                                 name="td")(inp))


REFUSED = {"bn_channels_first": (_channels_first_bn, "bn_first"),
           "flatten_rank2": (_flatten_rank2_sequential, "flat2"),
           "nested_bn": (_nested_channels_first_bn, "inner_bn"),
           "time_distributed_bn": (_time_distributed_bn, "td_bn")}


@pytest.mark.parametrize("flavor", H5_FLAVORS)
@pytest.mark.parametrize("case", list(REFUSED))
def test_h5_rank_dependent_layers_are_refused(case, flavor, tmp_path):
    k = _keras(flavor)
    build, layer = REFUSED[case]
    path = tmp_path / f"{case}.h5"
    build(k).save(path)
    out = _cli("convert", str(path), str(tmp_path / "out"))
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if f"{layer}' (" in line]
    assert len(lines) == 1 and ("axis=" in lines[0] or "rank-2 input" in lines[0]), out.stderr
    assert "--output_format=tfjs_graph_model" in out.stderr
    assert not (tmp_path / "out").exists()


def _legacy_sequential(first_layer_config: dict, bn_axis) -> dict:
    """A Keras 2 Sequential config without an InputLayer, as older Keras wrote it."""
    return {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": 4, **first_layer_config}},
        {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": bn_axis}}]}}


@pytest.mark.parametrize("first, axis, refused", [
    ({"batch_input_shape": [None, 3, 6]}, [1], True),   # rank 3: axis 1 is not the last
    ({"batch_input_shape": [None, 3, 6]}, [2], False),  # the last axis, written as tf_keras does
    ({"input_dim": 6}, [1], False),                     # rank 2 from Dense(input_dim=...)
    ({}, [1], True),                                    # rank unknown: cannot be shown to be the last axis
    ({}, -1, False),
])
def test_sequential_without_input_layer_carries_the_first_layers_shape(first, axis, refused):
    from tfjsconv.errors import InputError
    from tfjsconv.plugins.keras.checks import check_model_config

    config = _legacy_sequential(first, axis)
    if refused:
        with pytest.raises(InputError, match="layer 'bn'"):
            check_model_config(config, source="m.h5", keras3=False)
    else:
        check_model_config(config, source="m.h5", keras3=False)


@pytest.mark.parametrize("flavor", ["keras3", "tf_keras"])
def test_h5_propagated_ranks_match_what_keras_records(flavor):
    """Every layer of the ordinary test models: the rank carried through the .h5 config is the one
    Keras itself records in the .keras file of the same model (``build_config``)."""
    import h5py
    from keras_models import BUILDERS, saved_model
    from tfjsconv.plugins.keras.configs import iter_layers
    from tfjsconv.plugins.keras.shape_flow import layer_input_shapes

    _keras("keras" if flavor == "keras3" else "tf_keras")
    compared = 0
    for builder in BUILDERS:
        with h5py.File(saved_model(builder, f"{flavor}.h5").path, "r") as f:
            raw = f.attrs["model_config"]
        h5_config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        shapes = layer_input_shapes(h5_config)
        h5_ranks = {layer.qualified_name: shapes.get(id(layer.entry)) for layer in iter_layers(h5_config)}
        with zipfile.ZipFile(saved_model(builder, f"{flavor}.keras").path) as archive:
            keras_config = json.loads(archive.read("config.json"))
        for layer in iter_layers(keras_config):
            recorded = (layer.entry.get("build_config") or {}).get("input_shape")
            if not isinstance(recorded, list) or any(isinstance(d, list) for d in recorded):
                continue
            if layer.entry.get("class_name") in ("Sequential", "Functional", "Model"):
                continue
            found = h5_ranks.get(layer.qualified_name)
            assert found is not None and len(found) == len(recorded), (builder, layer.qualified_name, found, recorded)
            compared += 1
    assert compared > 40


# -- 2. scalar inputs in verification -----------------------------------------------------------------
def test_to_tfjs_array_keeps_scalar_shapes():
    from tfjsconv.verify.run import to_tfjs_array

    for value in (np.float32(1.5), np.array(2, np.int64), np.array(True), 3.0):
        assert to_tfjs_array("s", value).shape == ()
    assert to_tfjs_array("x", np.zeros((2, 0, 3), np.float64)).shape == (2, 0, 3)


@pytest.fixture(scope="module")
def scalar_input_saved_model(tmp_path_factory) -> Path:
    tf = pytest.importorskip("tensorflow")
    path = tmp_path_factory.mktemp("scalar") / "saved_model"

    class ScaleAndShift(tf.Module):
        def __init__(self):
            self.w = tf.Variable(np.random.default_rng(0).standard_normal((3, 2)).astype("float32"))

        @tf.function(input_signature=[tf.TensorSpec([], tf.float32, name="scale"),
                                      tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, scale, x):
            return {"y": tf.matmul(x, self.w) * scale + scale, "doubled": scale * 2.0}

    module = ScaleAndShift()
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


@pytest.mark.node
def test_scalar_input_model_verifies_from_the_cli(scalar_input_saved_model, tmp_path, tfjs_runtime):
    import tfjsconv

    model_dir = tmp_path / "web"
    tfjsconv.convert(scalar_input_saved_model, model_dir)
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "inputs.npz", scale=np.float32(1.7), x=rng.standard_normal((4, 3)).astype(np.float32))
    out = _cli("verify", str(scalar_input_saved_model), str(model_dir), "--inputs", str(tmp_path / "inputs.npz"))
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {(r[0], r[1], r[2], r[-1]) for line in out.stdout.splitlines() if len(r := line.split()) > 3}
    assert {("doubled", "cpu", "[]", "PASS"), ("doubled", "wasm", "[]", "PASS"),
            ("y", "cpu", "[4,", "PASS"), ("y", "wasm", "[4,", "PASS")} <= rows, out.stdout


# -- 3. TensorArray writes inside --control_flow_v2 While bodies --------------------------------------
@pytest.fixture(scope="module")
def loop_models(tmp_path_factory) -> dict[str, Path]:
    """``flat``: a loop writing a value it computes into a TensorArray; ``nested``: the same in an inner loop."""
    tf = pytest.importorskip("tensorflow")
    folder = tmp_path_factory.mktemp("loops")

    class Flat(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([4, 3], tf.float32, name="x")])
        def __call__(self, x):
            ta = tf.TensorArray(tf.float32, size=4)

            def body(i, acc, ta):
                written = tf.sin(x[i]) * 2.0 + acc  # neither a body input nor a body output
                return i + 1, acc + 1.0, ta.write(i, written)

            _, _, ta = tf.while_loop(lambda i, a, t: i < 4, body, (0, tf.zeros([3]), ta))
            return {"y": ta.stack()}

    class Nested(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([3, 2], tf.float32, name="x")])
        def __call__(self, x):
            def outer(i, acc):
                ta = tf.TensorArray(tf.float32, size=2)

                def inner(j, ta):
                    return j + 1, ta.write(j, tf.exp(x[i, j]) + acc)

                _, ta = tf.while_loop(lambda j, t: j < 2, inner, (0, ta))
                return i + 1, acc + tf.reduce_sum(ta.stack())

            _, acc = tf.while_loop(lambda i, a: i < 3, outer, (0, tf.constant(0.0)))
            return {"y": acc}

    paths = {}
    for name, cls in (("flat", Flat), ("nested", Nested)):
        module = cls()
        paths[name] = folder / name
        tf.saved_model.save(module, str(paths[name]), signatures=module.__call__)
    return paths


def _matches_tf(source: Path, model_dir: Path):
    """TensorFlow's own outputs of ``source`` against the converted model in TF.js, on cpu and wasm."""
    from tfjsconv.verify.compare import format_report
    from tfjsconv.verify.source_check import verify_against_source

    report = verify_against_source(source, model_dir, backends=("cpu", "wasm"), quiet=True)
    return report.passed and {c.backend for c in report.comparisons} == {"cpu", "wasm"}, format_report(report)


@pytest.mark.node
@pytest.mark.parametrize("v2", [False, True], ids=["v1_lowering", "control_flow_v2"])
def test_loop_writing_an_intermediate_into_a_tensor_array_matches_tf(loop_models, v2, tmp_path, tfjs_runtime):
    import tfjsconv

    tfjsconv.convert(loop_models["flat"], tmp_path / "web", control_flow_v2=v2)
    library = json.loads((tmp_path / "web" / "model.json").read_text())["modelTopology"].get("library")
    assert bool(library) == v2
    passed, report = _matches_tf(loop_models["flat"], tmp_path / "web")
    assert passed, report


@pytest.mark.node
def test_without_the_extra_loop_variable_tfjs_fails(loop_models, tmp_path, tfjs_runtime, monkeypatch):
    """Why the rewrite exists (fault injection: it is switched off, and TF.js reads a disposed tensor)."""
    import tfjsconv
    from tfjsconv.plugins.savedmodel import loop_writes

    monkeypatch.setattr(loop_writes, "_add_loop_variables", lambda *args: None)
    tfjsconv.convert(loop_models["flat"], tmp_path / "web", control_flow_v2=True)
    passed, report = _matches_tf(loop_models["flat"], tmp_path / "web")
    assert not passed and "reading 'backend'" in report


@pytest.mark.node
def test_nested_loop_writing_an_intermediate_is_refused_under_control_flow_v2(loop_models, tmp_path, tfjs_runtime):
    import tfjsconv
    from tfjsconv.errors import UnsupportedOpsError

    with pytest.raises(UnsupportedOpsError) as err:
        tfjsconv.convert(loop_models["nested"], tmp_path / "v2", control_flow_v2=True)
    message = err.value.message
    assert err.value.exit_code == 2 and "\n" not in message and not (tmp_path / "v2").exists()
    # function names: __inference_... on the TF path, the SavedModel's own on the TF-free one (the default)
    assert "TensorListSetItem at " in message and "body" in message and "/TensorListSetItem" in message
    assert "drop --control_flow_v2" in err.value.hint
    tfjsconv.convert(loop_models["nested"], tmp_path / "v1")
    passed, report = _matches_tf(loop_models["nested"], tmp_path / "v1")
    assert passed, report
