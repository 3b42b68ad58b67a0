"""tf_keras's ``layers.experimental.SyncBatchNormalization`` (session 25, helper h5b).

The deprecated class is saved as ``SyncBatchNormalization`` with BatchNormalization's config keys (no
``synchronized`` key: its constructor sets it) and weights (gamma, beta, moving_mean, moving_variance). The safety
scan called it "a layer class Keras does not have" and both paths refused it; the lowering refused it even with
``--allow_unsafe_deserialization`` (the traced path converted and matched). At inference it computes
BatchNormalization's ``x·γ/√(var+ε) + β − mean·γ/√(var+ε)`` from the moving statistics: now lowered as that, and
written as BatchNormalization in layers models. In training (a call site's ``training=True``, kept by tf_keras's
``model(x, training=False)``) its variance is ``E[x²] − mean²``: refused by name on both paths. Converted with
TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm at two sizes against tf_keras's
``model(x, training=False)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tk = pytest.importorskip("tf_keras")

from keras_models import randomize  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def sync_bn(k: Any) -> Any:
    """SyncBatchNormalization on the last axis of a sequence, on axis 1 of a channels-first image, and without
    center and scale (each of the four combinations' weight lists differs)."""
    S = k.layers.experimental.SyncBatchNormalization
    seq, img = k.Input((None, 4), name="seq"), k.Input((3, None, None), name="img")
    return k.Model([seq, img], [
        S(name="sbn_last")(seq), S(axis=1, epsilon=0.01, name="sbn_first")(img),
        S(center=False, name="sbn_no_center")(seq), S(scale=False, name="sbn_no_scale")(seq),
        S(center=False, scale=False, axis=1, name="sbn_bare")(img)])


def _inputs(model: Any, rng: np.random.Generator, batch: int, size: int) -> dict[str, np.ndarray]:
    """Values far from zero (mean 30): the moving statistics, not the batch's, must be read."""
    return {"seq": (rng.standard_normal((batch, size, 4)) * 2 + 30).astype("float32"),
            "img": (rng.standard_normal((batch, 3, size, size + 1)) * 2 + 30).astype("float32")}


CASES = [("sync_bn", "tf_keras.h5")]
RUNS = [(5, 4), (2, 3)]
converted = converted_fixture("sync_bn_k25", CASES, two_size_saver({"sync_bn": sync_bn}, at_runs(_inputs, RUNS), 261))


@pytest.mark.node
@each_case(CASES)
def test_sync_batch_norm_lowers_at_inference_without_the_unsafe_flag(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_the_saved_class_and_weights_are_batch_normalizations():
    """What the lowering relies on: the class name, no ``synchronized`` key, BatchNormalization's weight order."""
    model = sync_bn(tk)
    entry = next(e for e in model.get_config()["layers"] if e["config"]["name"] == "sbn_no_center")
    assert entry["class_name"] == "SyncBatchNormalization"
    assert "synchronized" not in entry["config"] and entry["config"]["scale"] and not entry["config"]["center"]
    names = [w.name.split("/")[-1].split(":")[0] for w in model.get_layer("sbn_no_center").weights]
    assert names == ["gamma", "moving_mean", "moving_variance"]


def _layers_model(k: Any) -> Any:
    S = k.layers.experimental.SyncBatchNormalization
    seq = k.Input((None, 4), name="seq")
    return k.Model(seq, [S(name="sbn_last")(seq), S(center=False, scale=False, epsilon=0.1, name="sbn_bare")(seq)])


@pytest.mark.node
@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_a_layers_model_writes_it_as_batch_normalization(tmp_path, tfjs_runtime, suffix):
    """TF.js has no SyncBatchNormalization: written as BatchNormalization, exact at inference; from tf_keras's
    ``.keras`` format too (review R5's F3: its weight names were looked up under the raw class name, refused "from
    Keras 3 files")."""
    import json

    import tfjsconv
    from tfjsconv.verify.compare import format_report, verify_model

    model = _layers_model(tk)
    randomize(model, 262)
    inputs = _inputs(model, np.random.default_rng(263), 5, 4)
    outputs = [np.asarray(o) for o in model(inputs["seq"], training=False)]
    model.save(tmp_path / f"m{suffix}")
    tfjsconv.convert(tmp_path / f"m{suffix}", tmp_path / "out", output_format="tfjs_layers_model")
    topology = json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]
    classes = {e["config"]["name"]: e["class_name"] for e in topology["model_config"]["config"]["layers"]}
    assert classes["sbn_last"] == classes["sbn_bare"] == "BatchNormalization", classes
    expected = dict(zip(["sbn_last", "sbn_bare"], outputs, strict=True))
    report = verify_model(tmp_path / "out", {"seq": inputs["seq"]}, expected, backends=("cpu", "wasm"), rtol=1e-5,
                          quiet=True)
    assert report.passed, format_report(report)


def test_a_layers_model_refuses_it_off_the_last_axis(tmp_path):
    import tfjsconv
    from tfjsconv.errors import InputError

    img = tk.Input((3, 5, 5), name="img")
    tk.Model(img, tk.layers.experimental.SyncBatchNormalization(axis=1, name="sbn_first")(img)).save(tmp_path / "m.h5")
    with pytest.raises(InputError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_layers_model")
    message = str(info.value)
    assert "layer 'sbn_first' (SyncBatchNormalization): axis=" in message and "tfjs_graph_model" in message, message


def _training_model(k: Any) -> Any:
    """A call site's ``training=True``, and a trainable one inside a nested model called with ``training=True``."""
    S = k.layers.experimental.SyncBatchNormalization
    seq, inner_in = k.Input((None, 4), name="seq"), k.Input((None, 4), name="inner_in")
    inner = k.Model(inner_in, S(name="inner_sbn")(inner_in), name="inner")
    return k.Model(seq, [S(name="sbn_train")(seq, training=True), inner(seq, training=True)])


@pytest.mark.parametrize("output_format", ["tfjs_graph_model", "tfjs_layers_model"])
def test_training_is_refused_by_name(tmp_path, output_format):
    """Its batch variance is ``E[x²] − mean²`` (not lowered); TF.js layers would compute inference (measured:
    every value off). Both named, on both paths."""
    import tfjsconv
    from tfjsconv.errors import InputError, UsageError

    _training_model(tk).save(tmp_path / "m.h5")
    with pytest.raises((UsageError, InputError)) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format=output_format)
    message = str(info.value)
    if output_format == "tfjs_graph_model":
        assert "'sbn_train' (SyncBatchNormalization) called with training=True and synchronized=True" in message, \
            message
        assert "'inner' (Functional) called with training=True, which tf_keras hands to its layer " \
               "'inner/inner_sbn' (SyncBatchNormalization)" in message, message
    else:
        assert "layer 'sbn_train' (SyncBatchNormalization): called with training=True" in message, message
        assert "layer 'inner' (Functional): called with training=True" in message, message
        assert "tfjs_graph_model" in message, message


def test_a_layers_model_refuses_batch_normalization_called_with_training_true(tmp_path):
    """The same gap for BatchNormalization itself (measured: TF.js used the moving statistics, every value off)."""
    import tfjsconv
    from tfjsconv.errors import InputError

    seq = tk.Input((None, 4), name="seq")
    frozen = tk.layers.BatchNormalization(trainable=False, name="bn_frozen")
    tk.Model(seq, [tk.layers.BatchNormalization(name="bn_train")(seq, training=True),
                   frozen(seq, training=True)]).save(tmp_path / "m.h5")
    with pytest.raises(InputError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_layers_model")
    message = str(info.value)
    assert "layer 'bn_train' (BatchNormalization): called with training=True" in message, message
    assert "bn_frozen" not in message, message  # frozen: tf_keras computes inference, as TF.js does


@pytest.mark.parametrize("output_format", ["tfjs_graph_model", "tfjs_layers_model"])
def test_a_keras3_file_naming_it_is_refused(tmp_path, output_format):
    """Review R5's F4: Keras 3 has no SyncBatchNormalization (it refuses to load a file naming one), so a Keras 3 file
    saying so was edited by hand: refused by name, not converted as a BatchNormalization."""
    import json
    import zipfile

    import tfjsconv
    from tfjsconv.errors import UnsafeInputError

    keras = pytest.importorskip("keras")
    seq = keras.Input((None, 4), name="seq")
    keras.Model(seq, keras.layers.BatchNormalization(name="bn_edited")(seq)).save(tmp_path / "k3.keras")
    with zipfile.ZipFile(tmp_path / "k3.keras") as src, zipfile.ZipFile(tmp_path / "m.keras", "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                entry = next(e for e in config["config"]["layers"] if e["config"]["name"] == "bn_edited")
                entry["class_name"] = "SyncBatchNormalization"
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    with pytest.raises(UnsafeInputError) as info:
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format=output_format)
    message = str(info.value)
    assert "layer 'bn_edited' (SyncBatchNormalization): a layer class 'SyncBatchNormalization' that Keras 3 does " \
        "not have" in message, message
