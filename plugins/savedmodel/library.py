"""Control flow v2: the function library (While/If bodies) in the form TF.js reads.

FunctionDefs go into ``graph.library`` as protobuf JSON. Their Const tensors are moved out into
``graph.library_weights`` under ``<function>/<node>``, and the Const nodes renamed to match, since
TF.js resolves every Const, in a function or not, by name in the model's one weight map.
"""
from __future__ import annotations

from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph
from tfjsconv.writers.graph_model import stored_dtype
from tfjsconv.writers.protojson import tensor_meta_json

from .translate import tensor_from_proto


def _rename_input(ref: str, renames: dict[str, str]) -> str:
    control = ref.startswith("^")
    body = ref[1:] if control else ref
    node, sep, rest = body.partition(":")
    if node in renames:
        body = renames[node] + sep + rest
    return ("^" if control else "") + body


def function_json(fdef: Any, weights: dict[str, Any]) -> dict[str, Any]:
    """One FunctionDef as JSON, its Const values moved into ``weights``."""
    from google.protobuf import json_format

    fname = fdef.signature.name
    renames = {n.name: f"{fname}/{n.name}" for n in fdef.node_def if n.op == "Const"}
    doc = json_format.MessageToDict(fdef)
    for node in doc.get("nodeDef", []):
        node.pop("device", None)
        for key in [k for k in node.get("attr", {}) if k.startswith("_")]:
            del node["attr"][key]
        if "input" in node:
            node["input"] = [_rename_input(ref, renames) for ref in node["input"]]
    for proto, node in zip(fdef.node_def, doc.get("nodeDef", [])):
        if proto.op != "Const":
            continue
        array = tensor_from_proto(proto.attr["value"].tensor)
        if array.dtype == object:
            array = array.astype(object)
        dtype = stored_dtype(array) if array.dtype != object else DType.STRING
        node["name"] = renames[proto.name]
        node["attr"]["value"] = {"tensor": tensor_meta_json(dtype, array.shape)}
        node["attr"]["dtype"] = {"type": dtype.tf_name}
        weights[node["name"]] = array
    if "ret" in doc:
        doc["ret"] = {k: _rename_input(v, renames) for k, v in doc["ret"].items()}
    return doc


def attach_library(graph: Graph, library: Any) -> None:
    """Serialise the functions of ``library`` (a FunctionDefLibrary) into ``graph``."""
    for fdef in library.function:
        graph.library.append(function_json(fdef, graph.library_weights))
