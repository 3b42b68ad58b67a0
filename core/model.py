"""What frontends hand to writers: an IR :class:`~tfjsconv.ir.Graph`, or a Keras :class:`LayersModel`."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Union

import numpy as np

from .ir import Graph, LazyArray

WeightSource = Union[np.ndarray, LazyArray]
WeightGroup = Iterable[tuple[str, WeightSource]]


@dataclasses.dataclass
class LayersModel:
    """A Keras model in the Keras-2 style JSON that ``tf.loadLayersModel`` reads.

    ``weight_groups`` is a list of groups, each a list of ``(name, array)`` in the order TF.js
    expects them; one group unless ``--split_weights_by_layer``. Arrays may be lazy so that a
    frontend can stream them from the source file.
    """

    model_config: dict[str, Any]
    weight_groups: list[list[tuple[str, WeightSource]]]
    keras_version: str = "2.15.0"
    backend: str = "tensorflow"
    training_config: dict[str, Any] | None = None
    generated_by: str | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: One-line notices for the conversion report (the special-values line of a graph model's conversion).
    notices: list[str] = dataclasses.field(default_factory=list)

    @property
    def format(self) -> str:
        return "layers-model"


Model = Union[Graph, LayersModel]
