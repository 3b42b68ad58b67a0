"""The ``tfjs_graph_model`` frontend: a TF.js graph model in, a graph model out (re-shard, re-quantize, passes).

``modelTopology`` is a GraphDef in protobuf JSON, so it parses into our own GraphDef schema
(:mod:`.schema`) and enters the IR through the same TF-free reader as a frozen graph
(:mod:`.graphdef_ir`); each Const gets its weight (by node name) from the manifest, read with the
core's reader, which confines shard paths to the model folder and dequantizes. Weights that were
quantized are dequantized once here, and a warning says that quantizing them again compounds the
error; integer-stored ones (uint8, scale 1, integer min: int8 kernels, a quantized source's integers)
are recorded as quantized weights, so that the writer keeps them one byte each. Works for tfjsconv's output and the official converter's layout alike.
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
        library = doc["modelTopology"].get("library")
        library = {} if library is None else library
        if not isinstance(library, dict):
            raise InputError(f"{folder / MODEL_JSON}: modelTopology.library must be an object, got "
                             f"{type(library).__name__}")
        if library.get("function"):
            unsupported.append("modelTopology.library (control flow functions)")
        if unsupported:
            raise InputError(f"{folder / MODEL_JSON}: reading graph models with {', '.join(unsupported)} is not "
                             "supported yet", hint="convert the original model instead")
        manifest = doc.get("weightsManifest", [])
        check_weight_count(manifest, limits_of(options), str(folder / MODEL_JSON))
        specs = [spec for group in parse_manifest(manifest) for spec in group.weights if spec.quantization]
        quantized = sorted({_scheme(spec.quantization) for spec in specs})
        weights = load_manifest_weights(manifest, folder)
        graph = _graph(doc, weights, folder.name)
        graph.quantized_weights = _integer_hints(graph, specs)
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

        folder = _model_dir(source)
        if folder is None:
            raise UsageError(f"the {TfjsGraphModelFrontend.name} frontend reads a model folder or its model.json, "
                             f"got {source!r}")
        return dict(run_model(folder, inputs, backends=("cpu",), quiet=True).outputs())


def _is_integer_storage(quantization: dict[str, Any]) -> bool:
    """uint8 with scale 1 and an integer min: each byte decodes to an exact integer (``--quantize_int8``'s
    kernels, a quantized source's ``q - zero_point``), which the writer can keep at one byte."""
    scale, low = quantization.get("scale"), quantization.get("min")
    return (quantization.get("dtype") == "uint8" and scale == 1 and isinstance(low, (int, float))
            and float(low).is_integer() and -255 <= low <= 255)


def _scheme(quantization: dict[str, Any]) -> str:
    """The scheme's name for messages: int8 storage is uint8 with scale 1 and min -128."""
    if _is_integer_storage(quantization):
        return "int8" if quantization.get("min") == -128 else "uint8 integers"
    return str(quantization.get("dtype"))


def _integer_hints(graph: Graph, specs: list) -> list:
    """:class:`QuantizedWeight` hints for the integer-stored weights, so that re-sharding keeps them one byte
    (byte ``b`` decodes to ``b + min``: ``q = b`` in 0..255 with zero point ``-min``).

    A weight a ``Mul`` by a constant scale reads (a quantized source's ``…/dequantized``) gets a second hint
    with that scale, under the same source name: constant folding merges the two into one float32 weight,
    which the writer then splits back exactly.
    """
    from tfjsconv.ir import materialize
    from tfjsconv.weights.int8 import QuantizedWeight

    integer = {spec.name: spec for spec in specs if _is_integer_storage(spec.quantization)}
    hints = [QuantizedWeight(name, spec.size, np.ones(1, np.float32),
                             np.array([-int(spec.quantization["min"])], np.int64), (0, 255))
             for name, spec in integer.items()]
    for node in graph.nodes:
        if node.op != "Mul" or len(node.inputs) != 2:
            continue
        for weight, scale in (node.inputs, node.inputs[::-1]):
            spec = integer.get(weight.producer.name) if weight.producer.op == "Const" else None
            if spec is None or scale.producer.op != "Const":
                continue
            factor = np.asarray(materialize(scale.producer.attrs["value"]))
            if factor.dtype == np.float32 and sum(d != 1 for d in factor.shape) <= 1:
                hints.append(QuantizedWeight(spec.name, spec.size, factor.reshape(-1),
                                             np.array([-int(spec.quantization["min"])], np.int64), (0, 255)))
    return hints


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
    _signature(graph, _object(doc, "signature"), nodes)
    graph.metadata = dict(_object(doc, "userDefinedMetadata"))
    graph.generated_by = doc.get("generatedBy")
    if graph_def.versions.producer:
        graph.versions = {"producer": int(graph_def.versions.producer)}
    return graph


def _object(doc: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    """``doc[key]`` when it is a JSON object ({} when absent): a hostile list or string is an InputError."""
    value = doc.get(key)
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise InputError(f"the graph model's {where}{key} must be an object, got {type(value).__name__}")
    return value


def _signature(graph: Graph, signature: dict[str, Any], nodes: dict[str, Any]) -> None:
    """Inputs and outputs by the signature's keys; without one (frozen-graph models), the Placeholders and
    the nodes nothing reads."""
    def value(tensor: str):
        node_name, _, index = tensor.partition(":")
        if node_name not in nodes or not (index or "0").isdigit():
            raise InputError(f"the signature names {tensor!r}, which is not a node of the graph")
        return nodes[node_name].output(int(index or 0))

    inputs, outputs = _object(signature, "inputs", "signature."), _object(signature, "outputs", "signature.")
    if inputs and outputs:
        for key, info in inputs.items():
            graph.inputs[key] = value(_tensor_name(key, info))
        for key, info in outputs.items():
            graph.set_output(key, value(_tensor_name(key, info)))
        return
    read = {v.producer.name for n in nodes.values() for v in n.inputs} | {d.name for n in nodes.values()
                                                                          for d in n.control_inputs}
    for node in nodes.values():
        if node.op == "Placeholder":
            graph.inputs[node.name] = node.output(0)
        elif node.name not in read and node.op not in ("Const", "NoOp") and node.outputs:
            graph.set_output(node.name, node.output(0))


def _tensor_name(key: str, info: Any) -> str:
    """The tensor a signature entry names (its ``name``, else its key); anything but an object is refused."""
    if not isinstance(info, dict) or not isinstance(info.get("name", key), str):
        raise InputError(f"the graph model's signature entry {key!r} must be an object with a string name, "
                         f"got {str(info)[:80]!r}")
    return info.get("name", key)
