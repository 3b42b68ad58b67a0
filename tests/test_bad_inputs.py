"""The bad-input table: broken and hostile files of every format, through the real CLI.

Every row builds its bad input in ``tmp_path`` from a small valid model (built here, random
weights), runs ``tfjsconv.cli.main`` and checks the contract: exit code 2, one ``error:`` block
that contains the expected phrase, no traceback, no output folder, no file under ``tmp_path``
changed or deleted (hashed before and after: inputs stay intact even when the output path points
at them), and - for inputs that carry code (Keras Lambda bytecode, pickles) - a canary file
proving nothing from the file ran.
TF.js model folders are inputs of ``tfjsconv verify``, which checks them before Node reads a byte.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from canary import Canary
from fuzz import seeds
from hostile_models import tree_digest

h5py = pytest.importorskip("h5py")
onnx = pytest.importorskip("onnx")


@dataclass
class Ctx:
    tmp: Path
    keras: dict[str, Path]
    canary: Canary

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def convert(self, path: Path) -> list[str]:
        return ["convert", str(path), str(self.out)]

    def verify(self, model_dir: Path) -> list[str]:
        np.savez(self.tmp / "x.npz", image=np.zeros((1, 8, 8, 3), np.float32))
        np.savez(self.tmp / "y.npz", probs=np.zeros((1, 64), np.float32))
        return ["verify", str(model_dir), "--inputs", str(self.tmp / "x.npz"), "--expected", str(self.tmp / "y.npz")]

    def file(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def copy(self, key: str, name: str | None = None) -> Path:
        return Path(shutil.copy(self.keras[key], self.tmp / (name or self.keras[key].name)))


@dataclass
class Row:
    id: str
    make: Callable[[Ctx], list[str]]
    phrase: str
    xfail_unless_frontend: str | None = None  # e.g. the PyTorch plugin, being written


ROWS: list[Row] = []


def row(phrase: str, *, needs_frontend: str | None = None) -> Callable:
    def register(fn: Callable[[Ctx], list[str]]) -> Callable[[Ctx], list[str]]:
        ROWS.append(Row(fn.__name__, fn, phrase, needs_frontend))
        return fn
    return register


def _random(n: int = 4096, seed: int = 7) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _truncate(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def _onnx_bytes(**kwargs) -> bytes:
    return seeds.onnx_mlp(**kwargs).SerializeToString()


def _h5_edit(c: Ctx, key: str, name: str, edit: Callable) -> Path:
    path = c.copy(key, name)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _rezip(c: Ctx, key: str, name: str, *, drop: tuple[str, ...] = (), add: dict[str, bytes] | None = None,
           replace: dict[str, bytes] | None = None) -> Path:
    path = c.tmp / name
    with zipfile.ZipFile(c.keras[key]) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            zout.writestr(info.filename, (replace or {}).get(info.filename, zin.read(info)))
        for member, data in (add or {}).items():
            zout.writestr(member, data)
    return path


def _keras_config(c: Ctx, key: str) -> dict:
    with zipfile.ZipFile(c.keras[key]) as z:
        return json.loads(z.read("config.json"))


# -- missing, empty, random, wrong extension -------------------------------------------------------
@row("does not exist")
def missing_path(c): return c.convert(c.tmp / "nope.h5")
@row("not a readable HDF5 file")
def empty_h5(c): return c.convert(c.file("m.h5", b""))
@row("not a readable .keras file")
def empty_keras(c): return c.convert(c.file("m.keras", b""))
@row("not an ONNX model")
def empty_onnx(c): return c.convert(c.file("m.onnx", b""))
@row("cannot tell what kind of model")
def empty_folder(c): (c.tmp / "empty").mkdir(); return c.convert(c.tmp / "empty")
@row("cannot tell what kind of model")
def empty_file_without_extension(c): return c.convert(c.file("model", b""))
@row("not a readable HDF5 file")
def random_h5(c): return c.convert(c.file("m.h5", _random()))
@row("not a readable .keras file")
def random_keras(c): return c.convert(c.file("m.keras", _random()))
@row("onnx")
def random_onnx(c): return c.convert(c.file("m.onnx", _random()))
@row("cannot tell what kind of model")
def random_without_extension(c): return c.convert(c.file("blob", _random()))
@row("could be any of: keras, onnx")  # the ONNX magic and the .h5 suffix disagree
def onnx_named_h5(c): return c.convert(c.file("m.h5", _onnx_bytes()))
@row("onnx")
def h5_named_onnx(c): return c.convert(c.file("m.onnx", c.keras["tk.h5"].read_bytes()))
@row("not a readable HDF5 file")
def keras_zip_named_h5(c): return c.convert(c.file("m.h5", c.keras["k3.keras"].read_bytes()))
@row("could be any of: keras, keras_keras")  # HDF5 magic, .keras suffix
def h5_named_keras(c): return c.convert(c.file("m.keras", c.keras["tk.h5"].read_bytes()))


# -- truncated --------------------------------------------------------------------------------------
@row("not a readable HDF5 file")
def truncated_h5_half(c): return c.convert(c.file("m.h5", _truncate(c.keras["tk.h5"].read_bytes(), 0.5)))
@row("truncated")
def truncated_h5_in_weights(c):
    data = c.keras["tk.h5"].read_bytes()
    with h5py.File(c.keras["tk.h5"], "r") as f:  # cut in the middle of the last weight's bytes
        ends = []
        f.visititems(lambda n, o: ends.append(o.id.get_offset() + o.id.get_storage_size() // 2)
                     if isinstance(o, h5py.Dataset) and o.id.get_offset() else None)
    return c.convert(c.file("m.h5", data[: max(ends)]))
@row("not a readable .keras file")
def truncated_keras(c): return c.convert(c.file("m.keras", _truncate(c.keras["k3.keras"].read_bytes(), 0.6)))
@row("onnx")
def truncated_onnx(c): return c.convert(c.file("m.onnx", _truncate(_onnx_bytes(), 0.5)))


# -- Keras configs ------------------------------------------------------------------------------------
@row("model_config")
def h5_without_model_config(c): return c.convert(_h5_edit(c, "tk.h5", "m.h5", lambda f: f.attrs.__delitem__("model_config")))
@row("not valid JSON")
def h5_config_not_json(c): return c.convert(_h5_edit(c, "tk.h5", "m.h5", lambda f: f.attrs.__setitem__("model_config", "{not json")))
@row("not valid JSON")
def h5_config_nested_too_deep(c):
    return c.convert(_h5_edit(c, "tk.h5", "m.h5", lambda f: f.attrs.__setitem__("model_config", "[" * 200_000)))
@row("not a Keras model config")
def h5_config_not_a_model(c): return c.convert(_h5_edit(c, "tk.h5", "m.h5", lambda f: f.attrs.__setitem__("model_config", "[1, 2]")))
@row("not valid JSON")
def keras_config_nested_too_deep(c):
    return c.convert(_rezip(c, "k3.keras", "m.keras", replace={"config.json": b"[" * 200_000}))
@row("not valid JSON")
def keras_config_not_json(c): return c.convert(_rezip(c, "k3.keras", "m.keras", replace={"config.json": b"{oops"}))
@row("has no config.json")
def keras_without_config(c): return c.convert(_rezip(c, "k3.keras", "m.keras", drop=("config.json",)))
@row("several members named")
def keras_duplicate_members(c):
    with pytest.warns(UserWarning):  # zipfile warns about the duplicate it is told to write
        return c.convert(_rezip(c, "k3.keras", "m.keras", add={"config.json": b"{}"}))
@row("shape")
def keras_negative_shape(c):
    config = _keras_config(c, "k3.keras")
    config["config"]["layers"][0]["config"]["batch_shape"] = [None, -4]
    return c.convert(_rezip(c, "k3.keras", "m.keras", replace={"config.json": json.dumps(config).encode()}))
@row("holds fewer bytes")
def h5_huge_dims(c):
    def edit(f):  # the first kernel becomes a 10^5 x 10^5 dataset whose chunks were never written
        name = next(n for n in _datasets(f) if n.endswith("kernel:0"))
        del f[name]
        f.create_dataset(name, shape=(100_000, 100_000), dtype="float32", chunks=(1000, 1000))
    return c.convert(_h5_edit(c, "tk.h5", "m.h5", edit))


def _datasets(f) -> list[str]:
    names: list[str] = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return names


# -- zip attacks ------------------------------------------------------------------------------------
@row("zip-slip")
def keras_zip_slip_dotdot(c): return c.convert(_rezip(c, "k3.keras", "m.keras", add={"../../evil.txt": b"x"}))
@row("zip-slip")
def keras_zip_slip_absolute(c): return c.convert(_rezip(c, "k3.keras", "m.keras", add={"/tmp/tfjsconv-evil.txt": b"x"}))
@row("zip bomb")
def keras_zip_bomb(c):  # config.json unpacks to 65 MB of spaces from ~64 KB
    return c.convert(_rezip(c, "k3.keras", "m.keras", replace={"config.json": b" " * (65 * 1024 * 1024)}))


# -- code in the file ----------------------------------------------------------------------------------
@row("--allow_unsafe_deserialization")
def keras3_lambda_keras(c): return c.convert(c.copy("k3_lambda.keras"))
@row("--allow_unsafe_deserialization")
def keras3_lambda_h5(c): return c.convert(c.copy("k3_lambda.h5"))
@row("--allow_unsafe_deserialization")
def tf_keras_lambda_h5(c): return c.convert(c.copy("tk_lambda.h5"))
@row("--allow_unsafe_deserialization")
def tf_keras_lambda_h5_with_flag(c): return c.convert(c.copy("tk_lambda.h5")) + ["--allow_unsafe_deserialization"]
@row("custom layer")
def keras3_custom_layer(c): return c.convert(c.copy("k3_custom.keras"))
@row("custom layer")
def h5_legacy_unknown_class(c):
    def edit(f):
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"][-1]["class_name"] = "EvilDense"
        f.attrs["model_config"] = json.dumps(config)
    return c.convert(_h5_edit(c, "tk.h5", "m.h5", edit))


def _torch_pickle(c: Ctx, name: str) -> Path:
    torch = pytest.importorskip("torch")
    path = c.tmp / name
    torch.save({"weight": torch.zeros(2), "payload": c.canary.pickle_payload()}, path)
    return path


@row("--allow_unsafe_deserialization", needs_frontend="pytorch")
def torch_pt_pickle(c): return c.convert(_torch_pickle(c, "model.pt"))
@row("--allow_unsafe_deserialization", needs_frontend="pytorch")
def torch_pth_pickle(c): return c.convert(_torch_pickle(c, "model.pth"))
@row("--allow_unsafe_deserialization", needs_frontend="pytorch")
def plain_pickle_pth(c):
    path = c.tmp / "legacy.pth"
    path.write_bytes(pickle.dumps({"payload": c.canary.pickle_payload()}))
    return c.convert(path)


# -- NaN / Inf weights (layers models: an error; see docs/reliability.md) --------------------------
@row("NaN")
def keras3_nan_weights(c): return c.convert(c.copy("k3_nan.keras"))
@row("NaN")
def tf_keras_nan_weights(c): return c.convert(c.copy("tk_nan.h5"))
@row("infinite")
def keras3_inf_weights(c): return c.convert(c.copy("k3_inf.keras"))
@row("infinite")
def tf_keras_inf_weights(c): return c.convert(c.copy("tk_inf.h5"))


# -- ONNX graphs ---------------------------------------------------------------------------------------
def _onnx_file(c: Ctx, model, name: str = "m.onnx") -> Path:
    return seeds.save_onnx(model, c.tmp / name)


def _with_initializer(edit: Callable) -> object:
    model = seeds.onnx_mlp()
    edit(model.graph.initializer[0])
    return model


@row("not in topological order")
def onnx_cycle(c): return c.convert(_onnx_file(c, seeds.onnx_cycle()))
@row("opset 99")
def onnx_opset_too_new(c): return c.convert(_onnx_file(c, seeds.onnx_mlp(opset=99)))
@row("w1")
def onnx_huge_dims(c):
    def edit(t):
        t.ClearField("dims")
        t.dims.extend([1 << 20, 1 << 20])
    return c.convert(_onnx_file(c, _with_initializer(edit)))
@row("w1")
def onnx_negative_dims(c):
    def edit(t):
        t.ClearField("dims")
        t.dims.extend([-8, 16])
    return c.convert(_onnx_file(c, _with_initializer(edit)))
@row("dimension")
def onnx_negative_input_dim(c):
    model = seeds.onnx_mlp()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -5
    return c.convert(_onnx_file(c, model))


def _external(c: Ctx, location: str) -> Path:
    path = seeds.onnx_with_external_data(c.tmp / "ext")
    model = onnx.load(str(path), load_external_data=False)
    for t in model.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = location
    return seeds.save_onnx(model, path)


@row("outside the model folder")
def onnx_external_traversal(c): (c.tmp / "secret.bin").write_bytes(b"\0" * 4096); return c.convert(_external(c, "../secret.bin"))
@row("outside the model folder")
def onnx_external_absolute(c): return c.convert(_external(c, str(Path("/etc/hostname").resolve())))
@row("outside the model folder")
def onnx_external_symlink_out(c):
    (c.tmp / "secret.bin").write_bytes(b"\0" * 4096)
    path = _external(c, "link.bin")
    os.symlink(c.tmp / "secret.bin", c.tmp / "ext" / "link.bin")
    return c.convert(path)
@row("does not exist")
def onnx_external_missing(c): return c.convert(_external(c, "missing.bin"))
@row("shorter than")
def onnx_external_truncated(c):
    path = seeds.onnx_with_external_data(c.tmp / "ext")
    data = (c.tmp / "ext" / "weights.bin").read_bytes()
    (c.tmp / "ext" / "weights.bin").write_bytes(data[: len(data) // 2])
    return c.convert(path)


# -- TF.js model folders (inputs of `tfjsconv verify`) ---------------------------------------------
def _tfjs(c: Ctx, edit: Callable[[dict, Path], None] | None = None) -> Path:
    folder = seeds.tfjs_model(c.tmp / "web")
    if edit:
        doc = json.loads((folder / "model.json").read_text())
        edit(doc, folder)
        (folder / "model.json").write_text(json.dumps(doc))
    return folder


def _first_path(value: str) -> Callable[[dict, Path], None]:
    def edit(doc, folder):
        doc["weightsManifest"][0]["paths"][0] = value
    return edit


def _first_weight(**changes) -> Callable[[dict, Path], None]:
    def edit(doc, folder):
        doc["weightsManifest"][0]["weights"][0].update(changes)
    return edit


def _tfjs_layers(c: Ctx, edit: Callable[[dict, Path], None] | None = None) -> Path:
    import tfjsconv

    folder = c.tmp / "layers"
    tfjsconv.convert(c.keras["k3.keras"], folder)
    if edit:
        doc = json.loads((folder / "model.json").read_text())
        edit(doc, folder)
        (folder / "model.json").write_text(json.dumps(doc))
    return folder


@row("'..' is not allowed")
def tfjs_layers_manifest_traversal(c): return c.convert(_tfjs_layers(c, _first_path("../k3.keras")))
@row("is absolute")
def tfjs_layers_manifest_absolute(c): return c.convert(_tfjs_layers(c, _first_path("/etc/hostname")))
@row("not a readable model.json")
def tfjs_layers_nested_too_deep(c):
    folder = _tfjs_layers(c)
    (folder / "model.json").write_text('{"modelTopology": ' + "[" * 200_000)
    return c.convert(folder) + ["--input_format", "tfjs_layers_model"]
@row("NaN")
def tfjs_layers_nan_weights(c):
    folder = _tfjs_layers(c)
    shard = folder / json.loads((folder / "model.json").read_text())["weightsManifest"][0]["paths"][0]
    data = bytearray(shard.read_bytes())
    data[0:4] = np.float32(np.nan).tobytes()
    shard.write_bytes(bytes(data))
    return c.convert(folder)


@row("has no model.json")
def tfjs_folder_without_model_json(c): (c.tmp / "web").mkdir(); return c.verify(c.tmp / "web")
@row("not valid JSON")
def tfjs_model_json_truncated(c):
    folder = _tfjs(c)
    text = (folder / "model.json").read_bytes()
    (folder / "model.json").write_bytes(text[: len(text) // 2])
    return c.verify(folder)
@row("'..' is not allowed")
def tfjs_manifest_traversal(c): return c.verify(_tfjs(c, _first_path("../../etc/passwd")))
@row("is absolute")
def tfjs_manifest_absolute(c): return c.verify(_tfjs(c, _first_path("/etc/passwd")))
@row("symbolic link")
def tfjs_manifest_symlink_out(c):
    (c.tmp / "secret.bin").write_bytes(b"\0" * 1024)
    folder = _tfjs(c)
    shard = json.loads((folder / "model.json").read_text())["weightsManifest"][0]["paths"][0]
    (folder / shard).unlink()
    os.symlink(c.tmp / "secret.bin", folder / shard)
    return c.verify(folder)
@row("is missing")
def tfjs_missing_shard(c):
    folder = _tfjs(c)
    (folder / json.loads((folder / "model.json").read_text())["weightsManifest"][0]["paths"][-1]).unlink()
    return c.verify(folder)
@row("bytes but the shard files")
def tfjs_short_shard(c):
    folder = _tfjs(c)
    shard = folder / json.loads((folder / "model.json").read_text())["weightsManifest"][0]["paths"][-1]
    shard.write_bytes(shard.read_bytes()[:-4])
    return c.verify(folder)
@row("invalid \"shape\"")
def tfjs_negative_shape(c): return c.verify(_tfjs(c, _first_weight(shape=[-3, 3])))
@row("bytes but the shard files")
def tfjs_huge_dims(c): return c.verify(_tfjs(c, _first_weight(shape=[1 << 30, 1 << 30])))
@row("unsupported dtype")
def tfjs_unknown_dtype(c): return c.verify(_tfjs(c, _first_weight(dtype="float128")))


# -- Keras: HDF5 links out of the file, weights that contradict the config, broken graphs, huge zips --
def _hostile():
    import keras_hostile
    return keras_hostile


def _h5_pointing_out(c: Ctx, kind: str) -> list[str]:
    h = _hostile()
    return c.convert(h.edit_h5(c.keras["tk.h5"], c.tmp / "m.h5", h.replace_with(kind, h.secret_h5(c.tmp))))


def _h5_config(c: Ctx, key: str, edit: Callable[[dict], None]) -> list[str]:
    return c.convert(_hostile().edit_h5_config(c.keras[key], c.tmp / "m.h5", edit))


def _weight(path_suffix: str, value: Callable[[np.ndarray], np.ndarray]) -> Callable:
    def edit(f):
        name = sorted(n for n in _datasets(f) if n.endswith(path_suffix))[0]
        data = value(f[name][()])
        del f[name]
        f[name] = data
    return edit


def _set_units(units: int) -> Callable[[dict], None]:
    def edit(config):
        config["config"]["layers"][-1]["config"]["units"] = units
    return edit


@row("external link to")
def h5_external_link_to_secret(c): return _h5_pointing_out(c, "external_link")
@row("not in the file")
def h5_soft_link_out_of_file(c): return _h5_pointing_out(c, "soft_link")
@row("virtual dataset")
def h5_virtual_dataset(c): return _h5_pointing_out(c, "virtual")
@row("external files")
def h5_external_storage(c): return _h5_pointing_out(c, "external_storage")
@row("external link to")
def keras_weights_external_link(c):
    h = _hostile()
    return c.convert(h.edit_keras_weights(c.keras["k3.keras"], c.tmp / "m.keras", h.replace_with("external_link", h.secret_h5(c.tmp))))
@row("virtual dataset")
def keras_weights_virtual_dataset_graph_model(c):  # Keras itself would read it: checked before Keras loads the file
    h = _hostile()
    path = h.edit_keras_weights(c.keras["k3.keras"], c.tmp / "m.keras", h.replace_with("virtual", h.secret_h5(c.tmp)))
    return c.convert(path) + ["--output_format", "tfjs_graph_model"]
@row("config implies [4, 3]")
def h5_kernel_transposed(c): return c.convert(_h5_edit(c, "tk.h5", "m.h5", _weight("kernel:0", np.transpose)))
@row("config implies [3]")
def h5_bias_wrong_length(c): return c.convert(_h5_edit(c, "tk.h5", "m.h5", _weight("bias:0", lambda b: np.zeros(5, b.dtype))))
@row("config implies [3, 1000000000]")
def h5_units_billion(c): return _h5_config(c, "tk.h5", _set_units(10**9))
@row("config implies [3, 1000000000]")
def keras3_h5_units_billion(c): return _h5_config(c, "k3.h5", _set_units(10**9))
@row("form a cycle")
def h5_inbound_nodes_cycle(c): return _h5_config(c, "tk.h5", _hostile().make_cycle)
@row("form a cycle")
def h5_inbound_nodes_cycle_graph_model(c): return _h5_config(c, "tk.h5", _hostile().make_cycle) + ["--output_format", "tfjs_graph_model"]
@row("which the model does not have")
def h5_inbound_missing_layer(c): return _h5_config(c, "tk.h5", _hostile().make_missing_ref)
@row("form a cycle")
def tfjs_layers_inbound_nodes_cycle(c):
    return c.convert(_tfjs_layers(c, lambda doc, folder: _hostile().make_cycle(doc["modelTopology"]["model_config"])))
@row("config implies")
def tfjs_layers_kernel_transposed(c):
    def edit(doc, folder):
        spec = next(w for w in doc["weightsManifest"][0]["weights"] if w["name"].endswith("kernel"))
        spec["shape"] = spec["shape"][::-1]
    return c.convert(_tfjs_layers(c, edit))
@row("--max_archive_members")
def keras_200k_members(c): return c.convert(_hostile().many_member_zip(c.tmp / "m.keras", 200_000))


# -- hostile inputs, round two: code in .pt2 archives, outputs over inputs, bounded work (issue 21) -------
def _h():
    import hostile_models
    return hostile_models


@row("--allow_unsafe_deserialization", needs_frontend="pytorch")
def torch_pt2_pickled_sample_input(c):
    return c.convert(_h().pt2_with_pickled_sample_input(c.tmp / "m.pt2", c.canary.pickle_payload()))
@row("--allow_unsafe_deserialization", needs_frontend="pytorch")
def torch_pt2_pickled_weight(c):
    return c.convert(_h().pt2_with_pickled_weight(c.tmp / "m.pt2", c.canary.pickle_payload()))
@row("is the input")
def overwrite_output_is_the_saved_model(c): return c.convert(_h().saved_model(c.out))[:2] + [str(c.out), "--overwrite"]
@row("contains the input")
def overwrite_output_holds_the_h5(c):
    c.out.mkdir()
    return c.convert(c.copy("tk.h5", "out/m.h5"))[:2] + [str(c.out), "--overwrite"]
@row("not part of the model")
def overwrite_symlink_to_unrelated_files(c):
    (c.tmp / "elsewhere").mkdir()
    (c.tmp / "elsewhere" / "notes.txt").write_text("not a model")
    (c.tmp / "elsewhere" / "model.json").write_text('{"weightsManifest": []}')
    os.symlink(c.tmp / "elsewhere", c.out)
    return c.convert(_onnx_file(c, seeds.onnx_mlp())) + ["--overwrite"]
@row("calls itself")
def saved_model_recursive_function(c): return c.convert(_h().recursive_saved_model(c.tmp / "sm"))
@row("too few inputs, the graph is corrupt: mul (Mul: 1 of 2)")
def saved_model_node_short_of_inputs(c): return c.convert(_h().saved_model_with_short_node(c.tmp / "sm"))
@row("has a control input '^nope', which is not in the graph")
def saved_model_dangling_control_input(c): return c.convert(_h().saved_model_with_dangling_control(c.tmp / "sm"))
@row("not of their integer Tidx, the graph is corrupt")
def saved_model_string_reduction_axis(c): return c.convert(_h().saved_model_with_string_axis(c.tmp / "sm"))
@row("(Conv2D) has strides=1, where TF's Conv2D takes a list of 4: the graph is corrupt")
def saved_model_attrs_of_the_wrong_kind(c): return c.convert(_h().saved_model_with_bad_attrs(c.tmp / "sm"))
@row("too few inputs, the graph is corrupt")
def tfjs_graph_model_node_short_of_inputs(c):
    def edit(doc, folder):
        node = next(n for n in doc["modelTopology"]["node"] if len(n.get("input", [])) >= 2)
        node["input"] = node["input"][:1]
    return c.convert(_tfjs(c, edit))
@row("--max_nodes")
def saved_model_500k_nodes(c): return c.convert(_h().huge_saved_model(c.tmp / "sm", 500_000))
@row("--max_graph_depth")  # a 40,000-node chain: Grappler recursed along it and crashed (SIGSEGV)
def saved_model_40k_deep_chain(c): return c.convert(_h().huge_saved_model(c.tmp / "sm", 40_000))
@row("--max_nodes")
def frozen_graph_500k_nodes(c):
    return c.convert(_h().huge_frozen_graph(c.tmp / "g.pb", 500_000)) + ["--output_node_names=chain_499999"]
@row("--max_nodes")
def onnx_500k_identity_nodes(c): return c.convert(_h().huge_onnx(c.tmp / "m.onnx", 500_000))
@row("--max_weights")
def tfjs_layers_million_weights(c):
    return c.convert(_h().tfjs_layers_with_many_weights(_tfjs_layers(c), 1_000_000))


# -- the table -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras_seed_files(tmp_path_factory) -> tuple[dict[str, Path], Canary]:
    pytest.importorskip("keras")
    pytest.importorskip("tf_keras")
    folder = tmp_path_factory.mktemp("keras_seeds")
    canary = Canary(folder / "canary.txt")
    return seeds.keras_files(folder, canary), canary


def test_the_table_is_big_enough():
    assert len(ROWS) >= 40
    assert len({r.id for r in ROWS}) == len(ROWS)


@pytest.mark.parametrize("bad", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_is_refused_cleanly(bad: Row, tmp_path, keras_seed_files, capsys, request):
    from tfjsconv.cli import main
    from tfjsconv.plugin_manager import get_plugin_manager

    files, canary = keras_seed_files
    if bad.xfail_unless_frontend and not any(bad.xfail_unless_frontend in name or "torch" in name
                                             for name in get_plugin_manager().registry.frontends):
        request.applymarker(pytest.mark.xfail(reason=f"the {bad.xfail_unless_frontend} frontend is not there yet",
                                              strict=True))
    c = Ctx(tmp_path, files, canary.arm())
    argv = bad.make(c)
    output_was_there = c.out.exists() or c.out.is_symlink()  # rows where the output is (or holds) the input
    inputs_before = tree_digest(tmp_path)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    canary.assert_not_run()
    assert tree_digest(tmp_path) == inputs_before, "a failed conversion changed or deleted files"
    assert output_was_there or not c.out.exists(), "a failed conversion left an output folder"
    assert not list(tmp_path.glob(".tfjsconv-*")), "a failed conversion left a temporary folder"
    assert "Traceback" not in err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("error: ") == 1, err
    assert bad.phrase.lower() in err.lower(), err
