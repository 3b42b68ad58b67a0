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
        split_shared_returns(doc)
    return doc


def split_shared_returns(doc: dict[str, Any]) -> int:
    """Give each function output read from a multi-output node its own ``Identity``.

    TF.js keeps one output index per node for a function's outputs (``defaultOutput``), so two
    outputs of one node (a nested ``While`` returning a loop's accumulator and its counter) both
    came back as the last one. Returns how many Identities were added.
    """
    by_node: dict[str, set[str]] = {}
    for ref in doc["ret"].values():
        parts = ref.split(":")
        if len(parts) == 3:
            by_node.setdefault(parts[0], set()).add(ref)
    shared = {node for node, refs in by_node.items() if len(refs) > 1}
    if not shared:
        return 0
    types = {arg["name"]: arg.get("type") for arg in doc.get("signature", {}).get("outputArg", [])}
    taken = {node["name"] for node in doc.get("nodeDef", [])}
    added = 0
    for key, ref in sorted(doc["ret"].items()):
        node = ref.split(":")[0]
        if node not in shared or not types.get(key):
            continue
        name, i = f"{node}/ret_{key}", 0
        while name in taken:
            i += 1
            name = f"{node}/ret_{key}_{i}"
        taken.add(name)
        doc.setdefault("nodeDef", []).append({"name": name, "op": "Identity", "input": [ref],
                                              "attr": {"T": {"type": types[key]}}})
        doc["ret"][key] = f"{name}:output:0"
        added += 1
    return added


def attach_library(graph: Graph, library: Any) -> None:
    """Serialise the functions of ``library`` (a FunctionDefLibrary) into ``graph``."""
    from .loop_writes import keep_loop_writes_alive

    for fdef in library.function:
        graph.library.append(function_json(fdef, graph.library_weights))
    keep_loop_writes_alive(graph)  # TF.js would dispose values a While body writes into a TensorList
