"""Find and check a SavedModel on disk before TensorFlow loads it, so bad input gets a clear message.

Reads ``saved_model.pb`` with our own protobuf schema (:mod:`.schema`, no TensorFlow import, no
graph built): the tag-sets and signatures it offers, and whether the variables it needs are present.
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
    proto: Any  # schema.SavedModel (field-compatible with TF's saved_model_pb2.SavedModel)

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
    from .schema import SavedModel

    if not path.exists():
        raise InputError(f"input {path} does not exist")
    if not path.is_dir():
        raise InputError(f"{path} is not a folder: a SavedModel is a folder with saved_model.pb and variables/",
                         hint="for a frozen GraphDef .pb use --input_format=tf_frozen_model")
    proto = SavedModel()
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


def check_loadable(info: SavedModelInfo, tags: list[str], signature_name: str | None, *,
                   tf_checks: bool = True) -> None:
    """Refuse what TF would fail on later with a long traceback: bad tags/signature, missing variables.

    ``tf_checks``: also check every node's attrs against TF's op registry (imports TensorFlow; only
    needed before TensorFlow's own loader or Grappler sees the graph)."""
    meta_graph = info.meta_graph(tags)
    if tf_checks:  # TF's classes: its loader also reads the fields our schema leaves undeclared
        from tensorflow.core.protobuf import meta_graph_pb2

        meta_graph = meta_graph_pb2.MetaGraphDef.FromString(meta_graph.SerializeToString())
    check_graph_values(info.path, meta_graph)
    if tf_checks:
        check_node_attrs(info.path, meta_graph)
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


#: TensorFlow's own limit on dimensions (``TensorShape::MaxDimensions``).
MAX_RANK = 254
#: Elements a constant may declare beyond what it stores (TF repeats its last value to fill it).
MAX_UNSTORED_ELEMENTS = 1 << 28


def _messages(message: Any, owner: str) -> Any:
    """Every message under ``message`` with the node (or part) it belongs to, for the error message.

    An explicit stack, not nested generators: a ResNet50 MetaGraph holds ~100,000 messages, and
    each level of ``yield from`` would re-yield every one of them."""
    stack = [(message, owner)]
    while stack:
        message, owner = stack.pop()
        if message.DESCRIPTOR.full_name == "tensorflow.NodeDef":
            owner = f"node {message.name!r} ({message.op})"
        yield message, owner
        for field, value in message.ListFields():
            if field.type != field.TYPE_MESSAGE:
                continue
            if field.message_type.GetOptions().map_entry:
                if field.message_type.fields_by_name["value"].type == field.TYPE_MESSAGE:
                    stack.extend((value[key], owner) for key in value)
            elif getattr(field, "is_repeated", None) or getattr(field, "label", 0) == 3:
                stack.extend((item, owner) for item in value)
            else:
                stack.append((value, owner))


def check_graph_values(path: Path, meta_graph: Any) -> None:
    """Refuse dtypes and shapes that TensorFlow's C++ code aborts the process on (CHECK failures).

    Invalid DataType numbers, ranks above 254, dimensions below -1, element counts that overflow
    int64, and constants declaring far more elements than they store are checked in every node,
    function, signature and object of the MetaGraph before TensorFlow sees it.
    """
    from .schema import DATA_TYPES

    valid_dtypes = set(DATA_TYPES.values())
    for message, owner in _messages(meta_graph, "the MetaGraph"):
        for field, value in message.ListFields():
            if field.type == field.TYPE_ENUM and field.enum_type.full_name == "tensorflow.DataType":
                bad = [v for v in (value if not isinstance(value, int) else [value]) if v not in valid_dtypes]
                if bad:
                    raise InputError(f"{path / 'saved_model.pb'}: {owner} has an invalid dtype number {bad[0]}",
                                     hint="the file is corrupt or was not written by TensorFlow")
        name = message.DESCRIPTOR.full_name
        if name == "tensorflow.TensorShapeProto":
            _check_shape(path, owner, [d.size for d in message.dim])
        elif name == "tensorflow.TensorProto":
            dims = [d.size for d in message.tensor_shape.dim]
            elements = _check_shape(path, owner, dims)
            if any(d < 0 for d in dims):
                raise InputError(f"{path / 'saved_model.pb'}: {owner} holds a constant of unknown shape {dims}")
            if not message.tensor_content and elements > MAX_UNSTORED_ELEMENTS:
                raise InputError(f"{path / 'saved_model.pb'}: {owner} declares a constant of {elements} elements "
                                 "without storing them", hint="the file is corrupt or hostile")


#: AttrValue field for each OpDef attr type (``list(...)`` types use ``list``).
_ATTR_KINDS = {"string": "s", "int": "i", "float": "f", "bool": "b", "type": "type", "shape": "shape",
               "tensor": "tensor", "func": "func"}


def check_node_attrs(path: Path, meta_graph: Any) -> None:
    """Every node of a registered op has the attrs its OpDef requires, each of the right kind.

    Grappler reads attrs with ``at()``, which aborts the process when one is missing (a ``Const``
    without ``value``); function bodies may also use ``placeholder`` attrs, which are allowed.
    """
    from tensorflow.python.framework import op_def_registry

    graph = meta_graph.graph_def
    nodes = [*graph.node, *(node for function in graph.library.function for node in function.node_def)]
    for node in nodes:
        op_def = op_def_registry.get(node.op)
        if op_def is None:  # a function call, or an op TensorFlow refuses itself
            continue
        for attr in op_def.attr:
            value = node.attr.get(attr.name)
            if value is None:
                if not attr.HasField("default_value"):
                    raise InputError(f"{path / 'saved_model.pb'}: node {node.name!r} ({node.op}) lacks "
                                     f"its {attr.name!r} attr", hint="the file is corrupt or was edited")
                continue
            kind = value.WhichOneof("value")
            wanted = "list" if attr.type.startswith("list(") else _ATTR_KINDS.get(attr.type)
            if kind not in (None, "placeholder", wanted) and wanted is not None:
                raise InputError(f"{path / 'saved_model.pb'}: node {node.name!r} ({node.op}) has a {kind!r} "
                                 f"value for its {attr.name!r} attr, which must be a {attr.type}",
                                 hint="the file is corrupt or was edited")


def _check_shape(path: Path, owner: str, dims: list[int]) -> int:
    """The element count of ``dims`` (unknown dimensions skipped); an InputError for impossible shapes."""
    where = f"{path / 'saved_model.pb'}: {owner}"
    if len(dims) > MAX_RANK:
        raise InputError(f"{where} has a shape of rank {len(dims)} (TensorFlow allows {MAX_RANK})")
    elements = 1
    for size in dims:
        if size < -1:
            raise InputError(f"{where} has a negative dimension {size}")
        elements *= max(size, 0) if size != -1 else 1
        if elements >= 1 << 63:
            raise InputError(f"{where} has a shape whose element count overflows int64: {dims[:8]}")
    return elements


def describe_tensor_info(info: Any) -> dict[str, Any]:
    """A TensorInfo as JSON: tensor name, dtype, shape (None for unknown dims)."""
    from .translate import dtype_from_enum, shape_from_proto

    dtype = dtype_from_enum(info.dtype)
    shape = shape_from_proto(info.tensor_shape)
    return {"name": info.name, "dtype": dtype.short_name if dtype is not None else str(info.dtype),
            "shape": None if shape is None else list(shape)}


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
