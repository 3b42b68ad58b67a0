"""The TF.js layers-model writer: Keras-2 style topology JSON plus weight shards."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..model import LayersModel
from ..options import ConvertOptions
from ..version import CONVERTED_BY
from . import Writer, write_weights_then_json
from .target_record import with_target_record


def layers_model_json(model: LayersModel, weights_manifest: list[dict[str, Any]], options: ConvertOptions) -> dict[str, Any]:
    topology: dict[str, Any] = {
        "keras_version": model.keras_version,
        "backend": model.backend,
        "model_config": model.model_config,
    }
    if model.training_config is not None:
        topology["training_config"] = model.training_config
    doc: dict[str, Any] = {
        "format": "layers-model",
        "generatedBy": model.generated_by or f"keras v{model.keras_version}",
        "convertedBy": CONVERTED_BY,
        "modelTopology": topology,
        "weightsManifest": weights_manifest,
    }
    metadata = {**with_target_record(model.metadata, options), **options.metadata}
    if metadata:
        doc["userDefinedMetadata"] = metadata
    return doc


class LayersModelWriter(Writer):
    name = "tfjs_layers_model"
    description = "TF.js layers model (tf.loadLayersModel)"

    def accepts(self, model: Any) -> bool:
        return isinstance(model, LayersModel)

    def write(self, model: Any, staging_dir: Path, options: ConvertOptions) -> dict[str, Any]:
        from ..errors import UsageError
        from ..options import INT8_LAYERS_MESSAGE
        from ..weights.finite import FiniteWeight

        if options.quantize_int8 not in (None, False, []):  # the output format was inferred, not given
            raise UsageError(INT8_LAYERS_MESSAGE)

        # NaN/Inf in a layers model's weights is refused when each weight is loaded (docs/reliability.md).
        groups = [[(name, FiniteWeight(name, source)) for name, source in group] for group in model.weight_groups]
        if not options.split_weights_by_layer:
            groups = [[entry for group in groups for entry in group]]
        return write_weights_then_json(groups, staging_dir, options,
                                       lambda manifest: layers_model_json(model, manifest, options))
