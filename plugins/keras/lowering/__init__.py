"""Keras model configs lowered to IR graphs of TF.js ops, with h5py alone (no TensorFlow, no Keras).

:func:`layer_gaps` says (from the config alone) whether every layer has a lowering;
:func:`lower_model` builds the graph, streaming weights from the HDF5 file. A model with a gap goes
through the TensorFlow tracer instead (``keras_graph``). One module per layer family registers its
lowerings in :mod:`.registry`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tfjsconv.ir import Graph

from ..op_calls import with_plain_op_nodes
from .model_walk import ModelLowering
from .layer_gaps import layer_gaps as _layer_gaps
from .registry import Unsupported
from .requested_backends import lowering_for
from .weights import LayerWeights, h5_layer_weights, v3_layer_weights

__all__ = ["Unsupported", "layer_gaps", "lower_model", "h5_layer_weights", "v3_layer_weights"]


def lower_model(model_config: dict[str, Any], weights: LayerWeights, *, keras3: bool, source: str,
                walk_past_gaps: bool = False, target_backends: Iterable[str] | None = None) -> Graph:
    """The IR graph of a Functional or Sequential config; raises :class:`Unsupported` on a gap.

    ``walk_past_gaps``: walk the model even where :func:`layer_gaps` finds gaps (skipping those calls), so that
    the :class:`.registry.UncoveredLayers` raised names the walk's gaps too (always raised then).
    ``target_backends``: the ``--target_backends`` (None: every backend); refusals made only for one backend's
    limits are made only when it is requested (:mod:`.requested_backends`)."""
    with lowering_for(target_backends):
        return ModelLowering(with_plain_op_nodes(model_config), weights, keras3=keras3, source=source,
                             walk_past_gaps=walk_past_gaps).lower()


def layer_gaps(model_config: dict[str, Any], source: str | None = None, *, keras3: bool | None = None) -> list[str]:
    """Every layer (as ``'name' (Class: why)``) the lowering does not cover; empty when it covers the model.

    Op layers (``TFOpLambda``, Keras 3 operations) are read through :func:`with_plain_op_nodes`, as
    :func:`lower_model` reads them. ``keras3`` is the flavour that saved the file (masks merge differently);
    None reads it from the config where it can."""
    return _layer_gaps(with_plain_op_nodes(model_config), source, keras3=keras3)
