"""Inspecting a converted TF.js model folder: model.json and its weight shards, never executed.

The manifest is untrusted (the folder may come from anywhere), so shard paths go through
:func:`~tfjsconv.weights.reader.resolve_shard_path` and a folder whose shards are missing or of the
wrong size is refused with one message, as TF.js itself would fail to load it.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..dtypes import DType
from ..errors import InputError, WeightsError
from ..verify.inputs import _shape, input_specs
from ..weights.manifest import parse_manifest
from ..weights.reader import resolve_shard_path
from .weights import WeightInfo, summarize

MODEL_JSON = "model.json"


def is_tfjs_model(path: Path) -> bool:
    """A folder holding model.json, or a model.json file."""
    return (path.is_dir() and (path / MODEL_JSON).is_file()) or (path.is_file() and path.name == MODEL_JSON)


def read_model_json(path: Path) -> tuple[Path, dict[str, Any]]:
    """``(model folder, parsed model.json)``; a clear :class:`InputError` for anything that is not one."""
    if path.is_file() and path.name != MODEL_JSON:
        raise InputError(f"{path} is a file, not a TF.js model folder (model.json + weight shards)",
                         hint="convert it first: tfjsconv convert SOURCE OUT_DIR, then pass OUT_DIR")
    folder = path if path.is_dir() else path.parent
    model_json = folder / MODEL_JSON
    if not model_json.is_file():
        raise InputError(f"{folder} has no model.json; it is not a TF.js model folder")
    try:
        doc = json.loads(model_json.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{model_json} is not a readable JSON file: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("modelTopology"), dict):
        raise InputError(f"{model_json} has no modelTopology; it is not a TF.js model.json")
    return folder, doc


def model_kind(doc: dict[str, Any]) -> str:
    topology = doc["modelTopology"]
    fmt = doc.get("format")
    if fmt == "layers-model" or (fmt is None and "model_config" in topology):
        return "layers-model"
    if fmt == "graph-model" or (fmt is None and "node" in topology):
        return "graph-model"
    raise InputError(f"model.json has an unknown format {fmt!r} (expected graph-model or layers-model)")


def shard_list(folder: Path, manifest: Any) -> tuple[list[dict[str, Any]], list[WeightInfo]]:
    """Every shard file with its size, and every weight; checks the shards hold what the manifest needs."""
    try:
        groups = parse_manifest(manifest)
    except WeightsError as err:
        raise InputError(f"{folder / MODEL_JSON}: {err.message}") from None
    shards: list[dict[str, Any]] = []
    weights: list[WeightInfo] = []
    for group in groups:
        total = 0
        for relative in group.paths:
            try:
                file = resolve_shard_path(folder, relative)
            except WeightsError as err:
                raise InputError(f"{folder / MODEL_JSON}: {err.message}") from None
            if not file.is_file():
                raise InputError(f"weight shard {relative!r} listed in {folder / MODEL_JSON} is missing",
                                 hint="copy every group*-shard*.bin file next to model.json")
            size = file.stat().st_size
            total += size
            shards.append({"group": group.index + 1, "path": relative, "bytes": size})
        needed = group.min_nbytes
        if total < needed or (total != needed and not group.has_strings):
            raise InputError(f"{group.label}: the weights need {needed} bytes but the shard files "
                             f"({', '.join(group.paths) or 'none'}) hold {total}",
                             hint="the shards do not belong to this model.json, or were truncated")
        for spec in group.weights:
            quantized = spec.quantization["dtype"] if spec.quantization else None
            weights.append(WeightInfo(spec.name, spec.shape, spec.dtype, quantized,
                                      dict(spec.quantization) if spec.quantization else None))
    return shards, weights


def _signature(doc: dict[str, Any], folder: Path, kind: str) -> dict[str, list[dict[str, Any]]]:
    layouts = layouts_from_metadata(doc.get("userDefinedMetadata"))
    inputs = [_entry(name, dtype.short_name, shape, layouts.get(("inputs", name)))
              for name, (dtype, shape) in input_specs(folder).items()]
    outputs: list[dict[str, Any]] = []
    if kind == "graph-model":
        for name, info in ((doc.get("signature") or {}).get("outputs") or {}).items():
            dtype = DType(info["dtype"]).short_name if info.get("dtype") else None
            outputs.append(_entry(name, dtype, _shape(info.get("tensorShape")), layouts.get(("outputs", name))))
    else:
        outputs = [_entry(name, None, None, None) for name in layers_output_names(doc["modelTopology"]["model_config"])]
    return {"inputs": inputs, "outputs": outputs}


def layers_output_names(config: dict[str, Any]) -> list[str]:
    """Output layer names of a Keras-2 style topology: the last layer of a Sequential, else ``output_layers``."""
    layers = config.get("config", {}).get("layers", [])
    if config.get("class_name") == "Sequential":
        return [layers[-1]["config"].get("name")] if layers else []
    return [entry[0] for entry in config.get("config", {}).get("output_layers", [])]


def _entry(name: str, dtype: str | None, shape: Any, layout: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "dtype": dtype, "shape": None if shape is None else list(shape)}
    if layout:
        entry["layout"] = layout
    return entry


def layouts_from_metadata(metadata: Any) -> dict[tuple[str, str], str]:
    """``{("inputs"|"outputs", name): "NHWC"|…}`` from any ``<frontend>.layout`` entry frontends record."""
    found: dict[tuple[str, str], str] = {}
    if not isinstance(metadata, dict):
        return found
    for entry in metadata.values():
        layout = entry.get("layout") if isinstance(entry, dict) else None
        if not isinstance(layout, dict):
            continue
        for side in ("inputs", "outputs"):
            for name, value in (layout.get(side) or {}).items():
                found[(side, name)] = str(value)
    return found


def _graph_ops(topology: dict[str, Any]) -> tuple[Counter[str], list[tuple[str, str]]]:
    counts: Counter[str] = Counter()
    nodes: list[tuple[str, str]] = []
    for node in topology.get("node", []):
        counts[node.get("op", "?")] += 1
        nodes.append((node.get("name", "?"), node.get("op", "?")))
    for function in (topology.get("library") or {}).get("function", []):
        fname = function.get("signature", {}).get("name", "function")
        for node in function.get("nodeDef", []):
            counts[node.get("op", "?")] += 1
            nodes.append((f"{fname}/{node.get('name', '?')}", node.get("op", "?")))
    return counts, nodes


def _unsupported(nodes: list[tuple[str, str]]) -> dict[str, list[str]]:
    from ..ops.registry import OpRegistry
    from ..plugin_manager import get_plugin_manager

    registry = OpRegistry.builtin().with_custom(get_plugin_manager().registry.ops)
    found: dict[str, list[str]] = {}
    for name, op in nodes:
        if not registry.is_supported(op):
            found.setdefault(op, []).append(name)
    return {op: sorted(names) for op, names in sorted(found.items())}


def layer_histogram(model_config: dict[str, Any]) -> dict[str, int]:
    """Keras layer class -> count, nested models included."""
    counts: Counter[str] = Counter()

    def walk(config: dict[str, Any]) -> None:
        for layer in config.get("config", {}).get("layers", []) if isinstance(config.get("config"), dict) else []:
            counts[layer.get("class_name", "?")] += 1
            if isinstance(layer.get("config"), dict) and "layers" in layer["config"]:
                walk(layer)

    walk(model_config)
    return dict(sorted(counts.items()))


def inspect_tfjs(path: Path, *, depth: int = 1) -> dict[str, Any]:
    """The inspect document of a TF.js model folder (schema: docs/inspect.md)."""
    folder, doc = read_model_json(path)
    kind = model_kind(doc)
    shards, weights = shard_list(folder, doc.get("weightsManifest") or [])
    topology = doc["modelTopology"]
    result: dict[str, Any] = {
        "path": str(folder),
        "kind": "tfjs",
        "format": f"tfjs_{kind.replace('-', '_')}",
        "model_type": kind,
        "generated_by": doc.get("generatedBy"),
        "converted_by": doc.get("convertedBy"),
        "signature": _signature(doc, folder, kind),
    }
    if kind == "graph-model":
        counts, nodes = _graph_ops(topology)
        result["ops"] = {"nodes": sum(counts.values()), "histogram": dict(sorted(counts.items())),
                         "unsupported": _unsupported(nodes)}
        from ..ops.backends import BackendContract

        result["backends"] = BackendContract.load().report(topology)
        from ..ops.special_values import found_in, notice

        result["special_values"] = notice(found_in(topology, BackendContract.load().backends), exact=False)
    else:
        histogram = layer_histogram(topology["model_config"])
        result["layers"] = {"count": sum(histogram.values()), "histogram": histogram}
    result["weights"] = summarize(weights, depth=depth)
    result["shards"] = shards
    result["details"] = {"userDefinedMetadata": doc["userDefinedMetadata"]} if doc.get("userDefinedMetadata") else {}
    from ..provenance import read_provenance

    provenance = read_provenance(folder)
    if provenance is not None:  # written by --keep_provenance (docs/provenance.md)
        result["provenance"] = {k: provenance.get(k) for k in ("frontend", "nodes", "modules") if k in provenance}
    return result
