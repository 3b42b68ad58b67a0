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
        functions = _functions(library, folder / MODEL_JSON)
        if unsupported:
            raise InputError(f"{folder / MODEL_JSON}: reading graph models with {', '.join(unsupported)} is not "
                             "supported yet", hint="convert the original model instead")
        manifest = doc.get("weightsManifest", [])
        check_weight_count(manifest, limits_of(options), str(folder / MODEL_JSON))
        specs = [spec for group in parse_manifest(manifest) for spec in group.weights if spec.quantization]
        quantized = sorted({_scheme(spec.quantization) for spec in specs})
        weights = load_manifest_weights(manifest, folder)
        graph = _graph(doc, weights, folder.name)
        if functions:
            _keep_library(graph, functions, weights, folder / MODEL_JSON)
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


#: Integer storage (scale 1): the manifest dtype -> the range of its stored values.
_INTEGER_RANGES = {"uint8": (0, 255), "uint16": (0, 65535)}


def _is_integer_storage(quantization: dict[str, Any]) -> bool:
    """uint8/uint16 with scale 1 and an integer min: each value decodes to an exact integer
    (``--quantize_int8``'s kernels, a quantized source's 8- or 16-bit ``q - zero_point``), which the writer
    can keep at one (two) bytes."""
    scale, low = quantization.get("scale"), quantization.get("min")
    bounds = _INTEGER_RANGES.get(quantization.get("dtype"))
    return (bounds is not None and scale == 1 and isinstance(low, (int, float))
            and float(low).is_integer() and -bounds[1] <= low <= bounds[1])


def _scheme(quantization: dict[str, Any]) -> str:
    """The scheme's name for messages: int8 storage is uint8 with scale 1 and min -128."""
    if _is_integer_storage(quantization):
        if quantization.get("dtype") == "uint16":
            return "16-bit integers"
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
                             np.array([-int(spec.quantization["min"])], np.int64),
                             _INTEGER_RANGES[spec.quantization["dtype"]])
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
                                             np.array([-int(spec.quantization["min"])], np.int64),
                                             _INTEGER_RANGES[spec.quantization["dtype"]]))
    return hints + _blocked_hints(graph, integer)


def _const(value) -> np.ndarray | None:
    from tfjsconv.ir import materialize

    producer = value.producer
    return np.asarray(materialize(producer.attrs["value"])) if producer.op == "Const" else None


def _blocked_hints(graph: Graph, integer: dict) -> list:
    """Blocked hints for the writer's blocked dequantization (``core/writers/quantized_weights.py``): integers
    ``Reshape``d to ``[outer · blocks, block, inner]``, maybe minus a zero point, times a scale
    ``[outer · blocks, 1, inner]``, ``Reshape``d back and maybe ``Slice``d. Constant folding merges the chain
    into one float32 weight; with these hints the writer splits it back to 1 (2) byte(s) per value instead
    of keeping it float32. One hint per axis that fits the shapes (exactness decides)."""
    from tfjsconv.weights.int8 import QuantizedWeight

    readers = graph.consumers()
    hints = []
    for node in graph.nodes:
        if node.op != "Mul" or len(node.inputs) != 2:
            continue
        blocks, scale = node.inputs
        factor, zero_point = _const(scale), None
        if factor is None or factor.dtype != np.float32 or factor.ndim != 3 or factor.shape[1] != 1:
            continue
        if blocks.producer.op == "Sub" and len(blocks.producer.inputs) == 2:
            zero_point = _const(blocks.producer.inputs[1])
            blocks = blocks.producer.inputs[0]
            if (zero_point is None or zero_point.shape != factor.shape or not np.all(np.isfinite(zero_point))
                    or np.any(zero_point != np.rint(zero_point))):
                continue
        if blocks.producer.op != "Reshape" or len(blocks.producer.inputs) != 2:
            continue
        ints = blocks.producer.inputs[0]
        spec = integer.get(ints.producer.name) if ints.producer.op == "Const" else None
        split = _const(blocks.producer.inputs[1])
        if spec is None or split is None or split.shape != (3,):
            continue
        padded = tuple(int(d) for d in ints.producer.attrs["value"].shape)
        outer, block, inner = (int(d) for d in split)
        if (outer, inner) != (factor.shape[0], factor.shape[2]) or block <= 0:
            continue
        shape = _unpadded(readers, node.output(0), padded)
        low = int(spec.quantization["min"])
        for axis in range(len(padded)):
            if (padded[axis] % block or int(np.prod(padded[:axis], dtype=np.int64)) * (padded[axis] // block) != outer
                    or int(np.prod(padded[axis + 1:], dtype=np.int64)) != inner or padded[axis] - shape[axis] >= block
                    or any(shape[a] != padded[a] for a in range(len(padded)) if a != axis)):
                continue  # a Slice that cuts another axis (or more than a block) is not the writer's
            blocked = padded[:axis] + (padded[axis] // block,) + padded[axis + 1:]
            zp = (np.zeros(blocked, np.int64) if zero_point is None else zero_point.astype(np.int64).reshape(blocked))
            hints.append(QuantizedWeight(spec.name, int(np.prod(shape, dtype=np.int64)), factor.reshape(blocked),
                                         zp - low, _INTEGER_RANGES[spec.quantization["dtype"]], block=(axis, block),
                                         shape=shape))
    return hints


def _unpadded(readers: dict, product, padded: tuple[int, ...]) -> tuple[int, ...]:
    """The weight's shape after ``Reshape`` back to ``padded`` and the ``Slice`` that drops a short last block's
    padding (``padded`` when there is none)."""
    back = readers.get(product, [])
    if len(back) != 1 or back[0].op != "Reshape":
        return padded
    sliced = readers.get(back[0].output(0), [])
    if len(sliced) == 1 and sliced[0].op == "Slice" and len(sliced[0].inputs) == 3:
        size = _const(sliced[0].inputs[2])
        if size is not None and size.shape == (len(padded),) and np.all(size >= 0) and np.all(size <= padded):
            return tuple(int(d) for d in size)
    return padded


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
        nodes = add_nodes(graph, graph_def.node, {}, tf_signatures=False)  # TF.js's attrs are not TF's
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


def _functions(library: dict[str, Any], where: Path) -> list[dict[str, Any]]:
    """``library.function``: a list of FunctionDef objects (control flow v2 bodies), each with a name."""
    functions = library.get("function") or []
    if not isinstance(functions, list) or not all(
            isinstance(f, dict) and isinstance(f.get("signature"), dict) and isinstance(f["signature"].get("name"), str)
            and isinstance(f.get("nodeDef", []), list) and all(isinstance(n, dict) for n in f.get("nodeDef", []))
            for f in functions):
        raise InputError(f"{where}: modelTopology.library.function must be a list of FunctionDef objects, each "
                         "with a signature name and a nodeDef list")
    return functions


def _keep_library(graph: Graph, functions: list[dict[str, Any]], weights: dict[str, Any], where: Path) -> None:
    """Pass the control-flow functions through as they are (the passes leave a function they have no IR body
    of alone), with the weights of their Const nodes, which TF.js looks up by the node's name."""
    consts = [node.get("name") for f in functions for node in f.get("nodeDef", []) if node.get("op") == "Const"]
    missing = [name for name in consts if not isinstance(name, str) or name not in weights]
    if missing:
        raise InputError(f"{where}: the weights manifest has no weight for the library's Const node(s) "
                         f"{', '.join(map(str, missing[:10]))}")
    graph.library = functions
    graph.library_weights = {name: weights[name] for name in consts}


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
