"""Inspecting a source model (any format a frontend reads) through that frontend.

The frontend loads the model exactly as ``convert`` would (so inspect never executes code a
conversion would refuse), then the IR graph or layers model is summarized. No weight bytes are
read: lazy weights report their shape and dtype.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..ir import Graph
from ..model import LayersModel
from ..options import ConvertOptions
from .tfjs_model import layer_histogram, layers_output_names, layouts_from_metadata
from .weights import WeightInfo, summarize


def _weight_info(name: str, array: Any) -> WeightInfo:
    dtype = np.dtype(getattr(array, "dtype", None))
    return WeightInfo(name, tuple(int(d) for d in array.shape), "string" if dtype.kind in "OSU" else dtype.name)


def _graph_signature(graph: Graph) -> dict[str, list[dict[str, Any]]]:
    layouts = layouts_from_metadata(graph.metadata)

    def entry(side: str, key: str, value: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": key, "dtype": value.dtype.short_name if value.dtype else None,
                               "shape": None if value.shape is None else list(value.shape)}
        if (side, key) in layouts:
            doc["layout"] = layouts[(side, key)]
        return doc

    return {"inputs": [entry("inputs", k, v) for k, v in graph.inputs.items()],
            "outputs": [entry("outputs", k, v) for k, v in graph.outputs.items()]}


def _layers_signature(model: LayersModel) -> dict[str, list[dict[str, Any]]]:
    from ..verify.inputs import _layers_inputs

    config = model.model_config
    inputs = [{"name": name, "dtype": dtype.short_name, "shape": None if shape is None else list(shape)}
              for name, (dtype, shape) in _layers_inputs(config).items()]
    return {"inputs": inputs,
            "outputs": [{"name": n, "dtype": None, "shape": None} for n in layers_output_names(config)]}


def _unsupported(graph: Graph, registry: Any) -> dict[str, list[str]]:
    from ..ops.registry import OpRegistry

    return OpRegistry.builtin().with_custom(registry.ops).unsupported(graph, strip_debug_ops=True)


def inspect_source(source: str | Path, *, input_format: str | None = None, depth: int = 1,
                   extra: dict[str, Any] | None = None, output_node_names: list[str] | None = None) -> dict[str, Any]:
    """The inspect document of a source model (schema: docs/inspect.md)."""
    from ..conversion import run_passes, select_frontend
    from ..plugin_manager import get_plugin_manager

    registry = get_plugin_manager().registry
    frontend = select_frontend(source, input_format, registry)
    options = ConvertOptions(input_format=frontend.name, extra=dict(extra or {}), registry=registry,
                             output_node_names=output_node_names)
    model = frontend.load(source, options)
    result: dict[str, Any] = {
        "path": str(source),
        "kind": "source",
        "format": frontend.name,
        "model_type": "layers-model" if isinstance(model, LayersModel) else "graph-model",
        "generated_by": model.generated_by,
        "converted_by": None,
    }
    if isinstance(model, Graph):
        run_passes(model, options, registry)  # the histogram shows the ops TF.js would get
        result["signature"] = _graph_signature(model)
        histogram = model.op_histogram()
        result["ops"] = {"nodes": sum(histogram.values()), "histogram": histogram,
                         "unsupported": _unsupported(model, registry)}
        from ..ops.backends import BackendContract

        result["backends"] = BackendContract.load().report(model)
        from ..ops.special_values import found_in, notice

        result["special_values"] = notice(found_in(model, BackendContract.load().backends), exact=False)
        weights = [_weight_info(name, array) for name, array in model.weights()]
    else:
        result["signature"] = _layers_signature(model)
        histogram = layer_histogram(model.model_config)
        result["layers"] = {"count": sum(histogram.values()), "histogram": histogram}
        weights = [_weight_info(name, array) for group in model.weight_groups for name, array in group]
        result["details_keras"] = {"keras_version": model.keras_version, "backend": model.backend}
    result["weights"] = summarize(weights, depth=depth)
    result["shards"] = []
    details = dict(frontend.describe(source, options) or {})
    details.update(result.pop("details_keras", {}))
    if isinstance(model, Graph) and model.metadata:
        details.setdefault("metadata", model.metadata)
    result["details"] = details
    return result
