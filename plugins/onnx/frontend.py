"""The ``onnx`` input format: detection, loading (via the translator) and the onnxruntime reference."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfjsconv.errors import InputError, TfjsconvError
from tfjsconv.frontend import Frontend, as_path
from tfjsconv.ir import Graph
from tfjsconv.options import ConvertOptions

from .detect import is_onnx_model, looks_like_onnx  # noqa: F401 - looks_like_onnx: kept importable from here


class OnnxFrontend(Frontend):
    name = "onnx"
    description = "ONNX model (.onnx), translated NHWC-inside (no TensorFlow needed)"
    output_formats = ("tfjs_graph_model",)

    def detect(self, source: Any) -> bool:
        return is_onnx_model(source)

    def load(self, source: Any, options: ConvertOptions) -> Graph:
        from .reading import read_model

        path = _path(source)
        return translate_model(read_model(path, options), options, base_dir=path.parent)

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray], options: ConvertOptions) -> dict[str, np.ndarray]:
        from .reference import layout_from_model_dir, run_onnxruntime

        layout = options.extra.get("input_layout") or layout_from_model_dir(options.extra.get("model_dir"))
        return run_onnxruntime(_path(source), inputs, input_layout=str(layout).lower() if layout else None)

    def trace_reference(self, source: Any, inputs: Mapping[str, np.ndarray], sources: Sequence[str],
                        options: ConvertOptions) -> dict[str, list[np.ndarray]]:
        from .reference import layout_from_model_dir, onnx_intermediates

        layout = options.extra.get("input_layout") or layout_from_model_dir(options.extra.get("model_dir"))
        return onnx_intermediates(_path(source), inputs, sources, input_layout=str(layout).lower() if layout else None)


def translate_model(model: Any, options: ConvertOptions, *, base_dir: Path) -> Graph:
    """An already-read (and version-checked) ModelProto as an IR graph; the PyTorch frontend uses this too."""
    from tfjsconv.plugin_manager import get_plugin_manager

    from .translate import Translator

    check_node_count(model, options)
    from .ops.quantized import scan_quantized_weights

    # Mappings are looked up now, not at import: plugins registered since (even in-process) count.
    registry = options.registry or get_plugin_manager().registry

    def translator() -> Any:
        return Translator(model, options, registry.op_mappings, base_dir=base_dir,
                          input_layout=str(options.extra.get("input_layout") or "nchw").lower())

    try:
        quantized_weights = scan_quantized_weights(model, base_dir)  # refuses bad scales/zero points/axes up front
    except TfjsconvError as bad_parameters:
        raise _with_unmapped_ops(bad_parameters, translator) from None
    graph = translator().run()
    graph.quantized_weights = quantized_weights  # kept 1 byte by the graph-model writer
    return graph


def _with_unmapped_ops(error: TfjsconvError, translator: Callable[[], Any]) -> TfjsconvError:
    """``error`` (bad quantization parameters, found before translating) joined with the op types that have no
    mapping, so that one refusal names every problem at once; the translation is only run to list them."""
    from .translate import UnsupportedOnnxOpsError

    try:
        translator().run()
    except UnsupportedOnnxOpsError as unmapped:
        named = set(re.findall(r"'([^']+)'", error.message))  # the translation fails on those nodes again
        others = [e for e in unmapped.also if not named & set(re.findall(r"'([^']+)'", e.message))]
        return UnsupportedOnnxOpsError(unmapped.ops, also=[error, *others])
    except Exception:  # noqa: BLE001 - the parameters' error is the one to report
        pass
    return error


def check_node_count(model: Any, options: ConvertOptions) -> None:
    """Refuse more than ``--max_nodes`` nodes (subgraphs of If/Loop/Scan included) before translating."""
    from tfjsconv.limits import check_limit, limits_of

    limits = limits_of(options)
    what = "the ONNX model has too many nodes"
    check_limit("max_nodes", len(model.graph.node), limits, what)
    count, graphs = 0, [model.graph]
    while graphs:  # iterative: subgraphs nest
        graph = graphs.pop()
        count += len(graph.node)
        check_limit("max_nodes", count, limits, what)
        for node in graph.node:
            for attr in node.attribute:
                if attr.HasField("g"):
                    graphs.append(attr.g)
                graphs.extend(attr.graphs)


def _path(source: Any) -> Path:
    path = as_path(source)
    if path is None:
        raise InputError(f"the onnx frontend reads .onnx files, not {type(source).__name__} objects")
    return path
