"""The TF.js graph-model writer: ``model.json`` (GraphDef as protobuf JSON) plus weight shards."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..dtypes import TFJS_WEIGHT_DOWNCASTS, DType
from ..ir import Graph, LazyArray, Node, Value
from ..options import ConvertOptions
from ..passes.distinct_outputs import give_outputs_own_nodes
from ..passes.exact_constants import exact_constants
from ..passes.list_input_controls import move_list_input_controls
from ..tfjs_string_attrs import refuse_altered_strings
from ..version import CONVERTED_BY
from . import Writer, write_weights_then_json
from .protojson import attr_json, shape_json, tensor_meta_json
from .target_record import with_target_record
from .model_json import MODEL_JSON, write_model_json  # noqa: F401 - importable from here too



def stored_dtype(array: np.ndarray | LazyArray) -> DType:
    """The dtype a weight has once in the shards (TF.js stores only five)."""
    dtype = DType.from_any(array.dtype)
    return TFJS_WEIGHT_DOWNCASTS.get(dtype, dtype)


def node_json(node: Node) -> dict[str, Any]:
    """One NodeDef; a Const's tensor is reduced to dtype and shape (its bytes go to the shards)."""
    out: dict[str, Any] = {"name": node.name, "op": node.op}
    inputs = [v.name for v in node.inputs] + [f"^{dep.name}" for dep in node.control_inputs]
    if inputs:
        out["input"] = inputs
    attrs: dict[str, Any] = {}
    for key in sorted(node.attrs):
        value = node.attrs[key]
        if node.op == "Const" and key == "value":
            attrs[key] = {"tensor": tensor_meta_json(stored_dtype(value), value.shape)}
        elif node.op == "Const" and key == "dtype":
            attrs[key] = {"type": stored_dtype(node.attrs["value"]).tf_name}
        else:
            attrs[key] = attr_json(value, f"node {node.name} ({node.op}) attr {key}")
    if attrs:
        out["attr"] = attrs
    return out


def graph_def_json(graph: Graph) -> dict[str, Any]:
    topology: dict[str, Any] = {"node": [node_json(n) for n in graph.topological_order()]}
    if graph.library:
        topology["library"] = {"function": graph.library}
    # TF.js reads versions.producer unconditionally; protobuf JSON omits zero fields, hence {}.
    topology["versions"] = dict(graph.versions)
    return topology


def _tensor_info(value: Value, resource_id: int | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"name": value.tensor_name}
    if value.dtype is not None:
        info["dtype"] = value.dtype.tf_name
    if value.shape is not None:
        info["tensorShape"] = shape_json(value.shape)
    if resource_id is not None:
        info["resourceId"] = resource_id
    return info


def signature_json(graph: Graph) -> dict[str, Any]:
    ids = graph.resource_ids
    return {
        "inputs": {key: _tensor_info(v, ids.get(key)) for key, v in graph.inputs.items()},
        "outputs": {key: _tensor_info(v, ids.get(key)) for key, v in graph.outputs.items()},
    }


def all_weights(graph: Graph) -> Iterator[tuple[str, np.ndarray | LazyArray]]:
    """The graph's weights, then its library functions' and its initializer's (one group, as TF.js expects)."""
    yield from graph.weights()
    yield from graph.library_weights.items()
    if graph.initializer is not None:
        yield from graph.initializer.weights()


def model_json(graph: Graph, weights_manifest: list[dict[str, Any]], options: ConvertOptions) -> dict[str, Any]:
    """The whole model.json, keys in the order the official converter writes them."""
    doc: dict[str, Any] = {
        "format": "graph-model",
        "generatedBy": graph.generated_by or CONVERTED_BY,
        "convertedBy": CONVERTED_BY,
        "modelTopology": graph_def_json(graph),
        "weightsManifest": weights_manifest,
        "signature": signature_json(graph),
    }
    if graph.initializer is not None:  # resources (hash tables) TF.js creates once at load time
        doc["modelInitializer"] = graph_def_json(graph.initializer)
        doc["initializerSignature"] = {"outputs": signature_json(graph.initializer)["outputs"]}
    metadata = {**with_target_record(graph.metadata, options), **options.metadata}
    if metadata:
        doc["userDefinedMetadata"] = metadata
    return doc


class GraphModelWriter(Writer):
    name = "tfjs_graph_model"
    description = "TF.js graph model (tf.loadGraphModel)"

    def accepts(self, model: Any) -> bool:
        return isinstance(model, Graph)

    def write(self, model: Any, staging_dir: Path, options: ConvertOptions) -> dict[str, Any]:
        from .shared_weights import share_weights

        shared = share_weights(model)  # before the splits below, so a weight held twice is split once
        if shared.dropped:
            model.notes.append(f"{len(shared.dropped)} weight(s) held twice stored once ({shared.bytes_saved} bytes "
                               f"saved): {', '.join(list(shared.dropped)[:5])}{' …' if len(shared.dropped) > 5 else ''}")
        int8 = None
        if model.quantized_weights:  # first: --quantize_int8 must not re-quantize them from float
            from .quantized_weights import keep_quantized_weights

            int8 = keep_quantized_weights(model)
        if options.quantize_int8 not in (None, False, []):  # after every pass, so none folds the rescale back
            from .int8_kernels import check_int8_conflicts, rewrite_int8_kernels

            rewritten = rewrite_int8_kernels(model, options.quantize_int8, keep=int8.errors if int8 else ())
            check_int8_conflicts(list(rewritten.errors), options.quantization)
            int8 = rewritten.merged(int8)
        give_outputs_own_nodes(model)  # after every pass, so none can undo it
        for graph in (model, model.initializer):  # TF.js would read a ^control input of Pack/ConcatV2/... as data
            if graph is not None:
                move_list_input_controls(graph)
        model.validate()
        if model.initializer is not None:
            model.initializer.validate()
        refuse_altered_strings(model)  # constants TF.js decodes, attrs it lower-cases: every one named
        exact = exact_constants(name for name, _ in all_weights(model)) if options.quantization else frozenset()
        result = write_weights_then_json([all_weights(model)], staging_dir, options,
                                         lambda manifest: model_json(model, manifest, options), int8=int8,
                                         exact=exact)
        if options.keep_provenance:
            from ..provenance import write_provenance

            write_provenance(model, staging_dir, frontend=options.input_format)
        return result
