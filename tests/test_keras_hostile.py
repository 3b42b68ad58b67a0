"""Hostile Keras inputs beyond the bad-input table's contract: no byte of a linked file leaks, big zips fail
fast, and the new config/weight checks refuse no real model.

The table (``tests/test_bad_inputs.py``) proves each hostile file ends in one clean error; here the
extra promises are measured: the secret's bytes appear in no file the run wrote, a 200,000-member
``.keras`` is refused in well under 10 s, and real Keras models of every layer family with weights
(Keras 3 and tf_keras) pass the weight-shape and layer-graph checks.
"""
from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import keras_hostile as hostile

h5py = pytest.importorskip("h5py")
SECRET_BYTES = hostile.SECRET.tobytes()


def _run(argv: list[str], capsys) -> tuple[int, str]:
    from tfjsconv.cli import main

    capsys.readouterr()
    code = main(argv)
    return code, capsys.readouterr().err


def _small(k):
    return k.Sequential([k.Input((4,)), k.layers.Dense(3, name="d1"), k.layers.Dense(2, name="d2")])


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory) -> dict[str, Path]:
    keras = pytest.importorskip("keras")
    tf_keras = pytest.importorskip("tf_keras")
    folder = tmp_path_factory.mktemp("hostile_seeds")
    files = {"tk.h5": folder / "tk.h5", "k3.keras": folder / "k3.keras"}
    _small(tf_keras).save(files["tk.h5"])
    _small(keras).save(files["k3.keras"])
    return files


def _written_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name not in ("secret.h5", "secret.bin")]


@pytest.mark.parametrize("kind", ["external_link", "virtual", "external_storage"])
@pytest.mark.parametrize("seed", ["tk.h5", "k3.keras"])
def test_linked_secret_never_reaches_any_written_file(seed, kind, seed_files, tmp_path, capsys):
    secret = hostile.secret_h5(tmp_path)
    edit = hostile.replace_with(kind, secret)
    if seed.endswith(".h5"):
        path = hostile.edit_h5(seed_files[seed], tmp_path / "m.h5", edit)
    else:
        path = hostile.edit_keras_weights(seed_files[seed], tmp_path / "m.keras", edit)
    # Sanity: h5py really does serve the secret through this file (so the refusal is what protects it).
    if seed.endswith(".h5"):
        weights = path
    else:
        weights = tmp_path / "extracted.weights.h5"  # a real file: HDF5 resolves links against its path
        with zipfile.ZipFile(path) as z:
            weights.write_bytes(z.read("model.weights.h5"))
    with h5py.File(weights, "r") as f:
        assert SECRET_BYTES[:12] in np.asarray(f[hostile.first_kernel(f)][()]).tobytes()
    for extra in ([], ["--output_format", "tfjs_graph_model"]):
        code, err = _run(["convert", str(path), str(tmp_path / "out"), *extra], capsys)
        assert code == 2, err
        assert err.startswith("error: ") and err.count("\n") <= 2 and "Traceback" not in err, err
        assert "refused" in err and "hint:" in err
        assert not (tmp_path / "out").exists()
    for written in _written_files(tmp_path):
        assert SECRET_BYTES[:12] not in written.read_bytes(), f"secret bytes leaked into {written}"


def test_200k_member_keras_zip_is_refused_fast(tmp_path, capsys):
    path = hostile.many_member_zip(tmp_path / "m.keras", 200_000)
    start = time.perf_counter()
    code, err = _run(["convert", str(path), str(tmp_path / "out")], capsys)
    elapsed = time.perf_counter() - start
    assert code == 2 and "--max_archive_members" in err and "200,001" in err, err
    assert elapsed < 10, f"took {elapsed:.1f} s"


def test_zip_that_understates_its_member_count_is_still_refused(tmp_path, capsys):
    path = hostile.many_member_zip(tmp_path / "m.keras", 2_000, declared=3)
    code, err = _run(["convert", str(path), str(tmp_path / "out"), "--max_archive_members", "1000"], capsys)
    assert code == 2 and "2,001 exceeds the limit of 1,000" in err, err
    code, err = _run(["convert", str(path), str(tmp_path / "out"), "--max_archive_members", "5000"], capsys)
    assert code == 2 and "max_archive_members" not in err, err  # the flag raises the limit (then: not a model)


def test_duplicate_member_check_is_linear():
    from tfjsconv.plugins.keras.keras_archive import duplicate_member_names

    names = [f"m{i}" for i in range(200_000)] + ["m7", "m99999"]
    start = time.perf_counter()
    assert duplicate_member_names(names) == ["m7", "m99999"]
    assert time.perf_counter() - start < 1.0


# -- real models pass the new checks -------------------------------------------------------------------
def _real_models(k, *, tfjs_layers_only: bool = False) -> dict[str, object]:
    """Every layer family with weights; ``tfjs_layers_only`` leaves out the options TF.js layers lack."""
    L = k.layers
    groups, reset_after = (1, False) if tfjs_layers_only else (2, True)
    models = {}
    inp = k.Input((12, 12, 4))
    x = L.Conv2D(6, 3, groups=groups, name="grouped")(inp)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)
    x = L.SeparableConv2D(5, 3, depth_multiplier=3, name="sep")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Conv2DTranspose(3, 3, name="tconv")(x)
    x = L.LayerNormalization(name="ln")(x)
    x = L.PReLU(name="prelu")(x)
    models["conv2d"] = k.Model(inp, L.Dense(2, name="head")(L.GlobalAveragePooling2D()(x)))
    inp = k.Input((6, 5, 5, 2))
    models["conv3d_convlstm"] = k.Model(inp, [L.Conv3D(3, 2, name="c3")(inp),
                                              L.ConvLSTM2D(4, 3, name="clstm")(inp)])
    inp = k.Input((7,), dtype="int32")
    e = L.Embedding(30, 6, name="emb")(inp)
    a = L.Bidirectional(L.GRU(4, reset_after=reset_after, return_sequences=True), name="bgru")(e)
    b = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum", name="blstm")(e)
    c = L.SimpleRNN(5, return_sequences=True, name="srnn")(e)
    d = L.GRU(2, reset_after=False, return_sequences=True, name="gru_v1")(e)
    x = L.Concatenate(name="cat")([a, b, c, d])
    x = L.TimeDistributed(L.Dense(3), name="td")(x)
    x = L.Conv1D(4, 3, name="c1")(x)
    models["sequence"] = k.Model(inp, L.LSTM(2, name="last")(x))
    inp = k.Input((5, 3))  # a returned state (tensor 1, size 4) feeds a Dense: not the layer's output size (8)
    out, h, *_ = L.Bidirectional(L.LSTM(4, return_state=True), name="bstate")(inp)
    models["states"] = k.Model(inp, [L.Dense(2, name="from_out")(out), L.Dense(3, name="from_state")(h)])
    inner = k.Sequential([k.Input((5,)), L.Dense(4, name="inner_d"), L.BatchNormalization(name="inner_bn")],
                         name="inner")
    inp = k.Input((5,))
    models["nested"] = k.Model(inp, L.Dense(1, name="outer_d")(inner(inp)))
    return models


def _randomize(model) -> None:
    rng = np.random.default_rng(0)
    model.set_weights([rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])


def _tfjs_name(weight, library: str) -> str:
    """The name TF.js gives a live variable (what the file frontends compute from the saved files)."""
    from tfjsconv.plugins.keras.weight_names import KERAS3_ALIASES

    if library == "tf_keras":
        return weight.name.split(":")[0]
    parts = weight.path.split("/")
    parts = parts[1:] if parts[0] == "inner" else parts  # a nested model's layers are named like top-level ones
    if parts[0] == "dw":
        parts[-1] = KERAS3_ALIASES["DepthwiseConv2D"].get(parts[-1], parts[-1])
    return "/".join(parts)


@pytest.mark.parametrize("library", ["keras", "tf_keras"])
def test_real_models_pass_the_graph_and_weight_shape_checks(library):
    """Config and weights (named as TF.js names them) straight from live models, every layer family."""
    from tfjsconv.plugins.keras.model_graph import check_model_graph
    from tfjsconv.plugins.keras.tfjs_layers import layer_weight_groups
    from tfjsconv.plugins.keras.translate import to_tfjs_model_config
    from tfjsconv.plugins.keras.weight_shapes import check_weight_shapes

    k = pytest.importorskip(library)
    for label, model in _real_models(k).items():
        saved = json.loads(model.to_json())
        config = {"class_name": saved["class_name"], "config": saved["config"]}
        check_model_graph(config, source=label)
        tfjs_config = to_tfjs_model_config(config, keras3=library == "keras")
        check_model_graph(tfjs_config, source=label)
        names = [_tfjs_name(w, library) for w in model.weights]
        groups = layer_weight_groups([(n, w) for n, w in zip(names, model.weights, strict=True)])
        check_weight_shapes(tfjs_config, groups, source=label)
        # ... and the checks are not vacuous: a transposed kernel in the same model is refused.
        kernel = next(i for i, w in enumerate(model.weights) if tuple(w.shape) != tuple(w.shape)[::-1])
        flat = [(n, np.zeros(model.weights[i].shape[::-1]) if i == kernel else w)
                for i, (n, w) in enumerate(zip(names, model.weights, strict=True))]
        with pytest.raises(Exception, match="config implies"):
            check_weight_shapes(tfjs_config, layer_weight_groups(flat), source=label)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_real_files_still_load_as_layers_models(suffix, tmp_path):
    """Files saved by Keras 3 (and tf_keras for .h5) go through the frontends with all checks on."""
    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugins.keras.frontends import KerasH5Frontend, KerasV3Frontend

    libraries = ["keras", "tf_keras"] if suffix == ".h5" else ["keras"]
    for library in libraries:
        k = pytest.importorskip(library)
        for label, model in _real_models(k, tfjs_layers_only=True).items():
            _randomize(model)
            path = tmp_path / f"{library}_{label}{suffix}"
            model.save(path)
            frontend = KerasV3Frontend() if suffix == ".keras" else KerasH5Frontend()
            loaded = frontend.load(path, ConvertOptions())
            assert sum(len(g) for g in loaded.weight_groups) == len(model.weights), label


# -- link shapes a plain "replace the kernel" edit does not produce --------------------------------------
def _hard_linked_external_storage(f, folder: Path) -> None:
    """External raw storage reached only through a second hard link under a Keras weight name."""
    f.create_dataset("hidden/x", shape=(4, 4), dtype="f4", external=[(str(folder / "secret.bin"), 0, 64)])
    f["model_weights/d1/d1/kernel:0"] = f["hidden/x"]
    del f["hidden"]


def _root_group_external_link(f, folder: Path) -> None:
    f["model_weights"] = h5py.ExternalLink(str(folder / "secret.h5"), "/")


def _soft_link_chain_to_nowhere(f, folder: Path) -> None:
    f["a"] = h5py.SoftLink("/b")  # '/b' exists as a link, but only leads to a missing object
    f["b"] = h5py.SoftLink("/missing")


def _soft_link_loop(f, folder: Path) -> None:
    f["a"] = h5py.SoftLink("/b")
    f["b"] = h5py.SoftLink("/a")


@pytest.mark.parametrize("build, phrase", [(_hard_linked_external_storage, "external files"),
                                           (_root_group_external_link, "'model_weights' is an external link"),
                                           (_soft_link_chain_to_nowhere, "soft link to '/b'"),
                                           (_soft_link_loop, "soft link to")])
def test_link_check_catches_indirect_links(build, phrase, tmp_path):
    from tfjsconv.errors import InputError
    from tfjsconv.plugins.keras.h5_links import check_self_contained

    hostile.secret_h5(tmp_path)
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        build(f, tmp_path)
    with h5py.File(path, "r") as f, pytest.raises(InputError, match=phrase):
        check_self_contained(f, "m.h5")


def test_link_check_accepts_in_file_soft_links_and_references(tmp_path):
    from tfjsconv.plugins.keras.h5_links import check_self_contained

    with h5py.File(tmp_path / "m.h5", "w") as f:
        f["g/x"] = np.ones(3, np.float32)
        f["alias"] = h5py.SoftLink("/g/x")
        f.attrs["ref"] = f["g/x"].ref
    with h5py.File(tmp_path / "m.h5", "r") as f:
        check_self_contained(f, "m.h5")
