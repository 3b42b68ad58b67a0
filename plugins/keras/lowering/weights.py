"""Each top-level layer's weights in Keras's order (trainable, then non-trainable), as lazy HDF5 arrays.

Whole-model ``.h5`` files (tf_keras and Keras 3) list them in ``model_weights/<layer>/weight_names``;
``.keras`` archives number them under the layer's group (found as :mod:`..v3_weights` finds it).
The lowerings check counts and shapes against the layer's config, so a file whose weights do not fit
its config is refused with the layer's name.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfjsconv.errors import InputError

from ..configs import entry_name, top_level_layers
from ..h5source import H5Array, H5Source, attr_list
from ..v3_weights import _CONTAINERS, _WRAPPER_SUBGROUPS, _count_vars, _layer_keys, _owned_vars

LayerWeights = Callable[[str], list[H5Array]]


def h5_layer_weights(h5: H5Source) -> LayerWeights:
    """Weights of a layer of a whole-model ``.h5`` file, by layer name."""
    root = h5.file
    if "model_weights" not in root:
        raise InputError(f"{h5.display} has a model config but no model_weights group",
                         hint="save the model again with model.save('model.h5')")
    weights = root["model_weights"]

    def of(layer: str) -> list[H5Array]:
        if layer not in weights:
            return []
        names = attr_list(weights[layer], "weight_names") or []
        return [h5.dataset(f"model_weights/{layer}/{name}") for name in names]
    return of


def v3_layer_weights(h5: H5Source | None, model_config: dict[str, Any]) -> LayerWeights:
    """Weights of a layer of a ``.keras`` archive's ``model.weights.h5``, by layer name."""
    if h5 is None:
        return lambda layer: []
    container = next((c for c in _CONTAINERS if c in h5.file), None)
    if container is None:
        return lambda layer: []
    layers = top_level_layers(model_config)
    keys = _layer_keys(h5, container, layers, sequential=model_config.get("class_name") == "Sequential")
    paths = {entry_name(entry): f"{container}/{key}" for entry, key in zip(layers, keys, strict=True) if key}
    classes = {entry_name(entry): entry.get("class_name") for entry in layers}

    def of(layer: str) -> list[H5Array]:
        path = paths.get(layer)
        if path is None:
            return []
        arrays = _owned_vars(h5, path)
        for sub in _WRAPPER_SUBGROUPS.get(classes.get(layer), ()):  # Bidirectional: forward, then backward
            if f"{path}/{sub}" in h5.file:
                arrays += _owned_vars(h5, f"{path}/{sub}")
        if _count_vars(h5.file[path]) != len(arrays):
            raise InputError(f"{h5.display}: layer {layer!r} keeps weights in places the lowering does not read")
        return arrays
    return of
