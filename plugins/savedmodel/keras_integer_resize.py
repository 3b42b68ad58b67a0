"""Keras 3's bilinear ``Resizing`` of integer images over unknown sizes, which TF.js would round otherwise than Keras.

Keras 3 rounds a bilinear resize of integer images half to even and casts it back. The trace gives
``Round(ResizeBilinear)``; :mod:`tfjsconv.passes.rounded_bilinear` spells out TensorFlow's kernel for it only where
the input's height and width are static (its weights are computed at conversion). Over unknown sizes TF.js's own
bilinear is a rounding error away from TF's, so ties (x.5, common when resizing integers) round to the other
integer: 8-12 of 891 uint8 pixels per batch (session 22, R2). The graph-model lowering refuses the same layer; so
does the tracer, by name, before tracing.
"""
from __future__ import annotations

from typing import Any

from tfjsconv.errors import InputError

from .keras_center_crop import layer_names, spatial_unknown
from .keras3_classes import keras3_class


def _integer_images(layer: Any) -> bool:
    """Whether the layer is given integer images (False where Keras does not say)."""
    try:
        dtype = str(getattr(layer.input.dtype, "name", layer.input.dtype))
    except (AttributeError, ValueError, TypeError):
        return False
    return dtype.startswith(("int", "uint"))


def refuse_integer_resize_of_unknown_sizes(model: Any) -> None:
    """Raise :class:`InputError` naming every Keras 3 bilinear ``Resizing`` of integer images over unknown sizes."""
    names = layer_names(model, keras3_class("keras.layers:Resizing"),
                        lambda layer: getattr(layer, "interpolation", "bilinear") == "bilinear"
                        and _integer_images(layer) and spatial_unknown(layer))
    if names:
        listed = ", ".join(repr(name) for name in names)
        raise InputError(f"a bilinear Resizing of integer images over an unknown height or width rounds ties to "
                         f"other integers in TF.js than in Keras (TensorFlow's kernel is rebuilt only for static "
                         f"sizes): layer(s) {listed}",
                         hint="give the model's inputs a fixed height and width, or resize float32 images")
