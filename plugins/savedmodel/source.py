"""Find and check a SavedModel on disk before TensorFlow loads it, so bad input gets a clear message.

Reads ``saved_model.pb`` with TF's protobuf classes only (no graph is built): the tag-sets and
signatures it offers, and whether the variables it needs are present.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tfjsconv.errors import InputError

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
HUB_MODULE_FILE = "tfhub_module.pb"
DEFAULT_SIGNATURE = "serving_default"
HUB_DEFAULT_SIGNATURE = "default"


def is_saved_model_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in SAVED_MODEL_FILES)


def is_hub_module_dir(path: Path) -> bool:
    """A TF1 hub module (``tfhub_module.pb`` beside a SavedModel)."""
    return path.is_dir() and (path / HUB_MODULE_FILE).is_file()


@dataclasses.dataclass
class SavedModelInfo:
    """What a SavedModel offers: one entry per MetaGraph (tag-set) with its signatures."""

    path: Path
    proto: Any  # saved_model_pb2.SavedModel

    @property
    def tag_sets(self) -> list[list[str]]:
        return [sorted(mg.meta_info_def.tags) for mg in self.proto.meta_graphs]

    def meta_graph(self, tags: list[str]) -> Any:
        """The MetaGraph whose tag-set is exactly ``tags``; an InputError lists the ones that exist."""
        wanted = set(tags)
        for mg in self.proto.meta_graphs:
            if set(mg.meta_info_def.tags) == wanted:
                return mg
        offered = "; ".join(",".join(t) or "(no tags)" for t in self.tag_sets) or "none"
        raise InputError(f"{self.path} has no MetaGraph tagged {','.join(sorted(wanted)) or '(no tags)'!r}",
                         hint=f"tag-sets in this SavedModel: {offered}; pass --saved_model_tags")

    def signature(self, tags: list[str], name: str) -> Any:
        """The SignatureDef ``name``; an InputError lists the signatures that exist."""
        signatures = self.meta_graph(tags).signature_def
        if name not in signatures:
            offered = ", ".join(sorted(k for k in signatures if not k.startswith("__"))) or "none"
            raise InputError(f"{self.path} has no signature {name!r} under tags {','.join(tags)!r}",
                             hint=f"signatures: {offered}; pass --signature_name")
        return signatures[name]

    def needs_variables(self, tags: list[str]) -> bool:
        mg = self.meta_graph(tags)
        if any(node.WhichOneof("kind") == "variable" for node in mg.object_graph_def.nodes):
            return True
        return any(node.op in ("VariableV2", "VarHandleOp") for node in mg.graph_def.node)


def read_saved_model(path: Path) -> SavedModelInfo:
    """Parse ``saved_model.pb``/``.pbtxt``; a missing, truncated or corrupt file is an InputError."""
    from tensorflow.core.protobuf import saved_model_pb2

    if not path.exists():
        raise InputError(f"input {path} does not exist")
    if not path.is_dir():
        raise InputError(f"{path} is not a folder: a SavedModel is a folder with saved_model.pb and variables/",
                         hint="for a frozen GraphDef .pb use --input_format=tf_frozen_model")
    proto = saved_model_pb2.SavedModel()
    if (path / "saved_model.pb").is_file():
        data = (path / "saved_model.pb").read_bytes()
        try:
            proto.ParseFromString(data)
        except Exception as err:  # google.protobuf.message.DecodeError and friends
            raise InputError(f"{path / 'saved_model.pb'} is not a readable SavedModel "
                             f"(truncated or corrupt: {err})") from None
        if not proto.meta_graphs:
            raise InputError(f"{path / 'saved_model.pb'} holds no MetaGraph (empty or not a SavedModel)")
    elif (path / "saved_model.pbtxt").is_file():
        from google.protobuf import text_format

        try:
            text_format.Parse((path / "saved_model.pbtxt").read_text(encoding="utf-8"), proto)
        except Exception as err:
            raise InputError(f"{path / 'saved_model.pbtxt'} is not a readable SavedModel: {err}") from None
    else:
        present = ", ".join(sorted(p.name for p in path.iterdir())[:8]) or "nothing"
        raise InputError(f"{path} is not a SavedModel: it has no saved_model.pb (it holds: {present})",
                         hint="export one with tf.saved_model.save(...) or Keras model.export(...)")
    return SavedModelInfo(path, proto)


def check_loadable(info: SavedModelInfo, tags: list[str], signature_name: str | None) -> None:
    """Refuse what TF would fail on later with a long traceback: bad tags/signature, missing variables."""
    info.meta_graph(tags)
    if signature_name is not None:
        info.signature(tags, signature_name)
    if info.needs_variables(tags):
        index = info.path / "variables" / "variables.index"
        if not index.is_file():
            raise InputError(f"{info.path} is missing its variables ({index.relative_to(info.path)} not found)",
                             hint="copy the whole SavedModel folder, including variables/")
        shards = list((info.path / "variables").glob("variables.data-*"))
        if not shards:
            raise InputError(f"{info.path} is missing its variable data (variables/variables.data-* not found)",
                             hint="copy the whole SavedModel folder, including variables/")


def describe_tensor_info(info: Any) -> dict[str, Any]:
    """A TensorInfo as JSON: tensor name, dtype, shape (None for unknown dims)."""
    from tfjsconv.dtypes import DType

    try:
        dtype = DType(_DT_NAMES.get(info.dtype, "")).short_name
    except ValueError:
        dtype = str(info.dtype)
    shape = None if info.tensor_shape.unknown_rank else [
        None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim]
    return {"name": info.name, "dtype": dtype, "shape": shape}


def describe(info: SavedModelInfo) -> dict[str, Any]:
    """Tags and signatures (inputs/outputs with names, dtypes, shapes) of every MetaGraph."""
    meta_graphs = []
    for mg in info.proto.meta_graphs:
        signatures = {}
        for key in sorted(mg.signature_def):
            if key.startswith("__"):
                continue
            sig = mg.signature_def[key]
            signatures[key] = {
                "method_name": sig.method_name,
                "inputs": {k: describe_tensor_info(v) for k, v in sorted(sig.inputs.items())},
                "outputs": {k: describe_tensor_info(v) for k, v in sorted(sig.outputs.items())},
            }
        meta_graphs.append({"tags": sorted(mg.meta_info_def.tags),
                            "tensorflow_version": mg.meta_info_def.tensorflow_version or None,
                            "signatures": signatures})
    return {"format": "SavedModel", "meta_graphs": meta_graphs}


_DT_NAMES = {1: "DT_FLOAT", 2: "DT_DOUBLE", 3: "DT_INT32", 4: "DT_UINT8", 5: "DT_INT16", 6: "DT_INT8",
             7: "DT_STRING", 9: "DT_INT64", 10: "DT_BOOL", 14: "DT_BFLOAT16", 17: "DT_UINT16",
             19: "DT_HALF", 20: "DT_RESOURCE", 21: "DT_VARIANT", 22: "DT_UINT32", 23: "DT_UINT64",
             8: "DT_COMPLEX64", 18: "DT_COMPLEX128"}
