"""Keras frontend refusals and guarantees: bad files, code in files, zip attacks, no TensorFlow import.

None of these run TF.js. Models that need Keras are built here with Keras 3 or tf_keras; the
conversions themselves never import either (one test proves it in a fresh interpreter).
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

import tfjsconv
from tfjsconv.errors import InputError, UnsafeInputError
from tfjsconv.options import ConvertOptions
from tfjsconv.plugins.keras.checks import check_model_config
from tfjsconv.plugins.keras.frontends import KerasH5Frontend, KerasV3Frontend
from tfjsconv.plugins.keras.keras_archive import read_keras_archive, unsafe_member_names
from tfjsconv.plugins.keras.translate import to_tfjs_model_config

h5py = pytest.importorskip("h5py")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _keras3():
    return pytest.importorskip("keras")


def _tf_keras():
    return pytest.importorskip("tf_keras")


def _small_model(k):
    return k.Sequential([k.Input((4,)), k.layers.Dense(3, activation="relu"), k.layers.Dense(2)])


@pytest.fixture(scope="module")
def small_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("small")
    files = {}
    k3 = _keras3()
    _small_model(k3).save(folder / "k3.keras")
    _small_model(k3).save(folder / "k3.h5")
    tk = _tf_keras()
    model = _small_model(tk)
    model.save(folder / "tk.h5")
    model.save_weights(folder / "tk.weights.h5")
    _small_model(k3).save_weights(folder / "k3.weights.h5")
    for name in ("k3.keras", "k3.h5", "tk.h5", "tk.weights.h5", "k3.weights.h5"):
        files[name] = folder / name
    return files


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfjsconv", *args], check=False, capture_output=True, text=True,
                          timeout=300)


# --- bad files --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tk.weights.h5", "k3.weights.h5"])
def test_weights_only_h5_explains_what_is_missing(small_files, tmp_path, name):
    with pytest.raises(InputError) as err:
        tfjsconv.convert(small_files[name], tmp_path / "out")
    assert "weights only" in str(err.value) and "model.save(" in str(err.value)
    assert not (tmp_path / "out").exists()


def _corrupt_files(small_files, folder: Path) -> dict[str, Path]:
    good = small_files["tk.h5"].read_bytes()
    files = {
        "random.h5": os.urandom(5000),
        "text.h5": b"this is not a model\n",
        "empty.h5": b"",
        "truncated.h5": good[: len(good) // 2],
        "magic_only.h5": b"\x89HDF\r\n\x1a\n" + b"\x00" * 100,
        "truncated.keras": small_files["k3.keras"].read_bytes()[:300],
        "text.keras": b"PK but not really",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


def test_corrupt_files_give_one_clear_input_error(small_files, tmp_path):
    for name, path in _corrupt_files(small_files, tmp_path).items():
        with pytest.raises(InputError) as err:
            tfjsconv.convert(path, tmp_path / f"out_{name}")
        message = str(err.value)
        assert str(path) in message, message
        assert "corrupt" in message or "truncated" in message or "not a" in message, message
        assert not (tmp_path / f"out_{name}").exists()


def test_corrupt_files_exit_2_via_the_cli(small_files, tmp_path):
    paths = _corrupt_files(small_files, tmp_path)
    for name in ("random.h5", "truncated.h5", "truncated.keras"):
        out = tmp_path / f"cli_{name}"
        proc = _cli("convert", str(paths[name]), str(out))
        assert proc.returncode == 2, proc.stderr
        assert str(paths[name]) in proc.stderr and "Traceback" not in proc.stderr
        assert not out.exists()


def test_file_cut_inside_the_weight_data_is_refused_before_any_output(small_files, tmp_path):
    good = small_files["tk.h5"]
    offsets = []
    with h5py.File(good) as f:
        f.visititems(lambda _, o: offsets.append(o.id.get_offset()) if isinstance(o, h5py.Dataset) else None)
    path = tmp_path / "cut.h5"
    path.write_bytes(good.read_bytes()[: max(o for o in offsets if o is not None) + 4])
    with pytest.raises(InputError, match="truncated"):
        tfjsconv.convert(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- code in files ----------------------------------------------------------------------------------


def _lambda_model(k, canary: Path):
    target = str(canary)  # tf_keras stores closure values as JSON: keep it a string

    def body(x):
        with open(target, "w") as f:
            f.write("executed")
        return x * 2.0

    inp = k.Input((4,))
    x = k.layers.Dense(3)(inp)
    x = k.layers.Lambda(body, name="canary_lambda")(x)
    return k.Model(inp, k.layers.Dense(2)(x))


@pytest.mark.parametrize("flavor", ["keras3.keras", "keras3.h5", "tf_keras.h5", "tf_keras.keras"])
def test_lambda_layers_are_refused_and_never_run(tmp_path, flavor):
    k = _keras3() if flavor.startswith("keras3") else _tf_keras()
    canary = tmp_path / "canary.txt"
    path = tmp_path / f"lambda{flavor[flavor.index('.'):]}"
    _lambda_model(k, canary).save(path)
    canary.unlink(missing_ok=True)  # building and saving ran the function; conversion must not
    for allow in (False, True):
        with pytest.raises(UnsafeInputError) as err:
            tfjsconv.convert(path, tmp_path / "out", allow_unsafe_deserialization=allow)
        message = str(err.value)
        assert "'canary_lambda' (Lambda)" in message and "--allow_unsafe_deserialization" in message
        assert "--output_format=tfjs_graph_model" in message and ("cannot run Python" in message) == allow
    frontend = KerasV3Frontend() if flavor.endswith(".keras") else KerasH5Frontend()
    with pytest.raises(UnsafeInputError):  # verify's reference path refuses before Keras sees the file
        frontend.reference(path, {"x": np.zeros((1, 4), "float32")}, ConvertOptions())
    assert not canary.exists()
    assert not (tmp_path / "out").exists()


def test_custom_layers_are_refused(tmp_path):
    k3 = _keras3()

    @k3.saving.register_keras_serializable(package="tfjsconv_test")
    class Twice(k3.layers.Layer):
        def call(self, x):
            return 2 * x

    inp = k3.Input((4,))
    k3.Model(inp, Twice(name="twice")(k3.layers.Dense(2)(inp))).save(tmp_path / "custom.keras")
    with pytest.raises(UnsafeInputError) as err:
        tfjsconv.convert(tmp_path / "custom.keras", tmp_path / "out")
    assert "'twice' (Twice)" in str(err.value) and "tfjsconv_test>Twice" in str(err.value)


def test_unknown_classes_in_legacy_h5_count_as_custom():
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "in"}},
        {"class_name": "MyFancyLayer", "config": {"name": "fancy"}}]}}
    with pytest.raises(UnsafeInputError, match="'fancy' \\(MyFancyLayer\\)"):
        check_model_config(config, source="m.h5", keras3=False)


# --- TF.js gaps -------------------------------------------------------------------------------------


def test_every_tfjs_gap_is_named_in_one_message(tmp_path):
    k3 = _keras3()
    L = k3.layers
    inp = k3.Input((6, 4))
    x = L.Normalization(mean=0.0, variance=1.0, name="norm")(inp)
    x = L.GRU(3, name="gru_default", return_sequences=True)(x)
    y = L.Conv1D(4, 3, groups=2, padding="same", name="grouped")(inp)
    z = L.Subtract(name="sub")([L.Dense(4, activation="hard_sigmoid", name="hard")(x), y])
    k3.Model(inp, z).save(tmp_path / "gaps.keras")
    with pytest.raises(InputError) as err:
        tfjsconv.convert(tmp_path / "gaps.keras", tmp_path / "out")
    message = str(err.value)
    for needle in ("'norm' (Normalization): TF.js 4.22 has no Normalization layer",
                   "'gru_default' (GRU): reset_after=True",
                   "'grouped' (Conv1D): groups=2",
                   "'sub' (Subtract)",
                   "'hard' (Dense): activation: activation 'hard_sigmoid'",
                   "--output_format=tfjs_graph_model"):
        assert needle in message, message


def test_hard_sigmoid_is_fine_in_keras2_files():
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "d", "units": 2, "activation": "hard_sigmoid",
                                           "batch_input_shape": [None, 3]}}]}}
    check_model_config(config, source="m.h5", keras3=False)
    with pytest.raises(InputError, match="relu6"):
        check_model_config(config, source="m.h5", keras3=True)


# --- .keras archive safety --------------------------------------------------------------------------


def _rezip(src: Path, dst: Path, extra: dict[str, bytes]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        for name, data in extra.items():
            zout.writestr(name, data)


@pytest.mark.parametrize("evil", ["../../evil.txt", "/tmp/evil.txt", "C:\\evil.txt", "assets/../../evil.txt"])
def test_zip_slip_archives_are_refused(small_files, tmp_path, evil):
    path = tmp_path / "slip.keras"
    _rezip(small_files["k3.keras"], path, {evil: b"pwned"})
    with pytest.raises(InputError, match="zip-slip"):
        tfjsconv.convert(path, tmp_path / "sub" / "out")
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()
    assert not (tmp_path / "sub").exists()


def test_unsafe_member_names():
    assert unsafe_member_names(["config.json", "assets/a/b.txt", "a..b"]) == []
    evil = ["../x", "/x", "C:/x", "a/../../x", "x\x00y"]
    assert unsafe_member_names(evil) == evil


def test_oversized_weights_are_refused_before_unpacking(small_files):
    with pytest.raises(InputError, match="zip bomb"):
        read_keras_archive(small_files["k3.keras"], max_weights_bytes=1000)


def test_archive_without_config_is_not_a_model(small_files, tmp_path):
    path = tmp_path / "noconfig.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("model.weights.h5", small_files["k3.weights.h5"].read_bytes())
    with pytest.raises(InputError, match="no config.json"):
        tfjsconv.convert(path, tmp_path / "out")


def test_temporary_weights_copy_is_removed(small_files, tmp_path):
    archive = read_keras_archive(small_files["k3.keras"])
    folder = archive.weights.path.parent
    assert folder.exists() and not folder.is_relative_to(small_files["k3.keras"].parent)
    archive.weights.close()
    assert not folder.exists()


# --- no TensorFlow ----------------------------------------------------------------------------------


def test_conversion_never_imports_tensorflow_or_keras(small_files, tmp_path):
    script = """
import json, sys
import tfjsconv.plugins.keras
assert "h5py" not in sys.modules, "the plugin imported h5py at import time"
import tfjsconv
for name, path in json.loads(sys.argv[1]).items():
    tfjsconv.convert(path, sys.argv[2] + "/" + name)
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "tf_keras", "jax", "torch"})
print(json.dumps(heavy))
"""
    files = {name: str(small_files[name]) for name in ("k3.keras", "k3.h5", "tk.h5")}
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(files), str(tmp_path)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    assert all((tmp_path / name / "model.json").is_file() for name in files)


# --- detection and translation ----------------------------------------------------------------------


def test_detection(small_files, tmp_path):
    h5, v3 = KerasH5Frontend(), KerasV3Frontend()
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(small_files["tk.h5"].read_bytes())
    assert h5.detect(small_files["tk.h5"]) and h5.detect(renamed) and not h5.detect(small_files["k3.keras"])
    assert v3.detect(small_files["k3.keras"]) and not v3.detect(small_files["tk.h5"])
    assert not h5.detect(tmp_path) and not v3.detect(tmp_path / "missing.keras")
    result = tfjsconv.convert(renamed, tmp_path / "out")
    assert result.input_format == "keras"


def test_in_memory_sources_are_a_usage_error():
    from tfjsconv.errors import UsageError

    with pytest.raises(UsageError):
        KerasH5Frontend().load(object(), ConvertOptions())


KERAS3_CONFIG = {
    "module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
    "config": {
        "name": "functional", "trainable": True,
        "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": "x",
             "config": {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "ragged": False,
                        "name": "x", "optional": False}, "inbound_nodes": []},
            {"module": "keras.layers", "class_name": "Dense", "registered_name": None, "name": "d",
             "build_config": {"input_shape": [None, 4]},
             "config": {"name": "d", "units": 2, "activation": "silu",
                        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"},
                                  "registered_name": None, "shared_object_id": 1},
                        "kernel_initializer": {"module": "keras.initializers", "class_name": "LecunNormal",
                                               "config": {"seed": None}, "registered_name": None},
                        "kernel_regularizer": {"module": "keras.regularizers", "class_name": "L2",
                                               "config": {"l2": 0.01}, "registered_name": None},
                        "bias_initializer": {"module": "my_pkg", "class_name": "Fancy", "config": {},
                                             "registered_name": "my_pkg>Fancy"},
                        "kernel_size": {"class_name": "__tuple__", "config": {"value": [3, 3]}}},
             "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                          "config": {"shape": [None, 4], "dtype": "float32",
                                                     "keras_history": ["x", 0, 0]}}],
                                "kwargs": {"training": False, "mask": None}}]},
            {"module": "keras.layers", "class_name": "Concatenate", "registered_name": None, "name": "c",
             "config": {"name": "c", "axis": -1},
             "inbound_nodes": [{"args": [[
                 {"class_name": "__keras_tensor__", "config": {"keras_history": ["d", 0, 0]}},
                 {"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}]], "kwargs": {}}]},
        ],
        "input_layers": ["x", 0, 0],
        "output_layers": {"out": ["c", 0, 0]},
    },
}


def test_translation_of_a_keras3_functional_config():
    out = to_tfjs_model_config(KERAS3_CONFIG)
    assert out["class_name"] == "Functional" and "module" not in json.dumps(out)
    inp, dense, concat = out["config"]["layers"]
    assert inp["config"] == {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False,
                             "ragged": False, "name": "x"}
    assert dense["inbound_nodes"] == [[["x", 0, 0, {"training": False}]]]
    assert concat["inbound_nodes"] == [[["d", 0, 0, {}], ["x", 0, 0, {}]]]
    cfg = dense["config"]
    assert cfg["dtype"] == "float32" and cfg["activation"] == "swish" and cfg["kernel_size"] == [3, 3]
    assert cfg["kernel_initializer"] == {"class_name": "LeCunNormal", "config": {"seed": None}}
    assert cfg["kernel_regularizer"] == {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}}
    assert cfg["bias_initializer"] is None  # custom, training-only: dropped
    assert "build_config" not in dense
    assert out["config"]["input_layers"] == [["x", 0, 0]] and out["config"]["output_layers"] == [["c", 0, 0]]
    assert to_tfjs_model_config(out) == out  # idempotent: Keras 2 configs pass through
    with pytest.raises(InputError, match="dtype 'mixed_float16'") as refused:  # a float16 layer (session 30) ...
        check_model_config(KERAS3_CONFIG, source="m.keras", keras3=True)
    assert not isinstance(refused.value, UnsafeInputError)  # ... but a custom initializer is not code we run


def test_translation_gives_an_implicit_sequential_input_its_shape():
    config = {"class_name": "Sequential", "config": {"name": "s", "build_input_shape": [None, 10], "layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2}}]}}
    out = to_tfjs_model_config(config)
    assert out["config"]["layers"][0]["config"]["batch_input_shape"] == [None, 10]


def test_tensor_keyword_arguments_are_refused():
    config = json.loads(json.dumps(KERAS3_CONFIG))
    node = config["config"]["layers"][1]["inbound_nodes"][0]
    node["kwargs"]["mask"] = {"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}
    with pytest.raises(InputError, match="keyword argument 'mask'"):
        to_tfjs_model_config(config)


def test_unbuilt_sequential_is_refused_clearly():
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2}}]}}
    with pytest.raises(InputError, match="no input shape"):
        to_tfjs_model_config(config)
