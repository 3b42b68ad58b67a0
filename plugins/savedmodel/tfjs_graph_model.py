"""The ``tfjs_graph_model`` frontend: a TF.js graph model in, a graph model out (re-shard, re-quantize, passes).

``modelTopology`` is a GraphDef in protobuf JSON, so it parses into our own GraphDef schema
(:mod:`.schema`) and enters the IR through the same TF-free reader as a frozen graph
(:mod:`.graphdef_ir`); each Const gets its weight (by node name) from the manifest, read with the
core's reader, which confines shard paths to the model folder and dequantizes. Weights that were
quantized are dequantized once here, and a warning says that quantizing them again compounds the
error. Works for tfjsconv's output and the official converter's layout alike.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.errors import InputError, TfjsconvError, UsageError
from tfjsconv.frontend import Frontend, as_path
from tfjsconv.ir import Graph
from tfjsconv.options import ConvertOptions

from .detect import is_graph_model_doc, is_tfjs_graph_model

log = logging.getLogger(__name__)

MODEL_JSON = "model.json"


def _model_dir(source: Any) -> Path | None:
    path = as_path(source)
    if path is None:
        return None
    return path if path.is_dir() else path.parent if path.name == MODEL_JSON else None


class TfjsGraphModelFrontend(Frontend):
    """A TF.js graph model folder (or its model.json) written by tfjsconv or tensorflowjs_converter."""

    name = "tfjs_graph_model"
    description = "TF.js graph model (model.json + shards): re-shard / re-quantize / optimize again"
    output_formats = ("tfjs_graph_model",)

    def detect(self, source: Any) -> bool:
        return is_tfjs_graph_model(source)

    def load(self, source: Any, options: ConvertOptions) -> Graph:
        from tfjsconv.limits import limits_of
        from tfjsconv.weights.manifest import check_weight_count, parse_manifest
        from tfjsconv.weights.reader import load_manifest_weights, read_model_json

        folder = _model_dir(source)
        if folder is None:
            raise UsageError(f"the {self.name} frontend reads a model folder or its model.json, got {source!r}")
        doc = read_model_json(folder)  # checks JSON, manifest paths (confined to the folder) and shard sizes
        if not is_graph_model_doc(doc):
            raise InputError(f"{folder / MODEL_JSON} is not a TF.js graph model (no modelTopology.node)")
        unsupported = [key for key in ("modelInitializer",) if doc.get(key)]
        if doc["modelTopology"].get("library", {}).get("function"):
            unsupported.append("modelTopology.library (control flow functions)")
        if unsupported:
            raise InputError(f"{folder / MODEL_JSON}: reading graph models with {', '.join(unsupported)} is not "
                             "supported yet", hint="convert the original model instead")
        manifest = doc.get("weightsManifest", [])
        check_weight_count(manifest, limits_of(options), str(folder / MODEL_JSON))
        quantized = sorted({str(spec.quantization.get("dtype")) for group in parse_manifest(manifest)
                            for spec in group.weights if spec.quantization})
        weights = load_manifest_weights(manifest, folder)
        graph = _graph(doc, weights, folder.name)
        if quantized:
            note = (f"the input's weights were quantized ({', '.join(quantized)}) and are dequantized once when "
                    "read; quantizing them again compounds the error")
            log.warning("%s", note)
            graph.notes.append(note)
        return graph

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray],
                  options: ConvertOptions) -> dict[str, np.ndarray]:
        """The source model's own outputs in TF.js (cpu), so a re-quantized copy can be checked against it."""
        from tfjsconv.verify.run import run_model

        return dict(run_model(_model_dir(source), inputs, backends=("cpu",), quiet=True).outputs())


def _graph(doc: dict[str, Any], weights: dict[str, np.ndarray], name: str) -> Graph:
    from google.protobuf import json_format

    from tfjsconv.dtypes import DType

    from . import schema
    from .graphdef_ir import NotTfFree, add_nodes

    try:
        graph_def = json_format.ParseDict(doc["modelTopology"], schema.GraphDef(), ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as err:
        raise InputError(f"the graph model's modelTopology is not a valid GraphDef: {str(err)[:200]}") from None
    graph = Graph(name)
    try:
        nodes = add_nodes(graph, graph_def.node, {})
    except NotTfFree as why:
        raise InputError(f"cannot read the graph model: {why.detail}") from None
    except TfjsconvError:
        raise
    missing = [n.name for n in nodes.values() if n.op == "Const" and n.name not in weights]
    if missing:
        raise InputError(f"the weights manifest has no weight for Const node(s) {', '.join(missing[:10])}")
    for node in nodes.values():
        if node.op == "Const":
            array = weights[node.name]
            node.attrs["value"] = array
            node.attrs["dtype"] = DType.from_any(array.dtype) if array.dtype != object else DType.STRING
            node.outputs[0].dtype, node.outputs[0].shape = node.attrs["dtype"], tuple(array.shape)
    _signature(graph, doc.get("signature") or {}, nodes)
    graph.metadata = dict(doc.get("userDefinedMetadata") or {})
    graph.generated_by = doc.get("generatedBy")
    if graph_def.versions.producer:
        graph.versions = {"producer": int(graph_def.versions.producer)}
    return graph


def _signature(graph: Graph, signature: dict[str, Any], nodes: dict[str, Any]) -> None:
    """Inputs and outputs by the signature's keys; without one (frozen-graph models), the Placeholders and
    the nodes nothing reads."""
    def value(tensor: str):
        node_name, _, index = tensor.partition(":")
        if node_name not in nodes:
            raise InputError(f"the signature names {tensor!r}, which is not a node of the graph")
        return nodes[node_name].output(int(index or 0))

    inputs, outputs = signature.get("inputs") or {}, signature.get("outputs") or {}
    if inputs and outputs:
        for key, info in inputs.items():
            graph.inputs[key] = value(info.get("name", key))
        for key, info in outputs.items():
            graph.set_output(key, value(info.get("name", key)))
        return
    read = {v.producer.name for n in nodes.values() for v in n.inputs} | {d.name for n in nodes.values()
                                                                          for d in n.control_inputs}
    for node in nodes.values():
        if node.op == "Placeholder":
            graph.inputs[node.name] = node.output(0)
        elif node.name not in read and node.op not in ("Const", "NoOp") and node.outputs:
            graph.set_output(node.name, node.output(0))
