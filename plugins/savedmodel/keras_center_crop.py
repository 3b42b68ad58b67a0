"""Keras 3's ``CenterCrop`` over unknown sizes, which a trace computes otherwise than Keras.

Eagerly, Keras 3's ``CenterCrop`` resizes an input smaller than the crop (``crop_to_aspect_ratio``) and
crops a larger one; traced over a height or width the model leaves unknown, it always slices, so a small
input gives a smaller image than Keras returns ([2, 3, 7, 3] cropped to 4x5 traces to [2, 1, 5, 3]). The
traced graph would be frozen and converted faithfully: a model that is wrong for small inputs, with no
warning. Such layers are refused by name before tracing.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfjsconv.errors import InputError

from .keras3_classes import keras3_class


def spatial_unknown(layer: Any) -> bool:
    """True when the layer's input height or width is unknown (or Keras does not say)."""
    try:
        shape = tuple(layer.input.shape)
    except (AttributeError, ValueError, TypeError):
        return True
    if len(shape) < 3:
        return True
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    height, width = (shape[-2], shape[-1]) if channels_first else (shape[-3], shape[-2])
    return height is None or width is None


def layer_names(model: Any, cls: type | None, chosen: Callable[[Any], bool]) -> list[str]:
    """The names of ``model``'s layers of class ``cls`` (nested models' too) that ``chosen`` picks; none without the
    class (another Keras) or a model that cannot list its layers."""
    flatten = getattr(model, "_flatten_layers", None)
    if cls is None or flatten is None:
        return []
    return [layer.name for layer in flatten(include_self=True, recursive=True) if isinstance(layer, cls) and
            chosen(layer)]


def refuse_center_crop_of_unknown_sizes(model: Any) -> None:
    """Raise :class:`InputError` naming every Keras 3 ``CenterCrop`` of ``model`` over unknown sizes."""
    names = layer_names(model, keras3_class("keras.src.layers.preprocessing.image_preprocessing.center_crop:CenterCrop",
                                             "keras.layers:CenterCrop"), spatial_unknown)
    if names:
        import keras

        listed = ", ".join(repr(name) for name in names)
        raise InputError(f"Keras {keras.__version__} traces CenterCrop over an unknown height or width as a plain "
                         f"crop, while Keras resizes an input smaller than the crop: layer(s) {listed}",
                         hint="give the model's inputs a fixed height and width")
