"""Keras 3's ``Pipeline``: a plain layer that calls its ``layers`` one after the other.

The model walk lowers a Pipeline call as it lowers a nested Sequential model (``model_walk._runs_layers``): each
inner layer by its own lowering, a Pipeline or a Functional/Sequential model inside it by the walk, with their weights
read by their paths (:mod:`.weights`: ``<pipeline>/layers/<key>`` in ``.keras`` archives, the innermost layer named in
a weight's name in ``.h5`` files). That matches Keras:

- Keras does not convert a Pipeline's input (``_convert_input_args = False``): each inner layer casts it as it would
  alone, so integer inputs reach Embedding / Hashing / StringLookup unchanged and float layers see float32; the walk
  does the same for every layer of a nested model.
- Keras runs the inner layers eagerly, and each output tensor carries the mask its layer left on it: a mask made
  inside (``Masking``, ``Embedding(mask_zero=True)``, an inner model's) reaches the next inner layers and leaves the
  Pipeline, and a mask on the Pipeline's input reaches its first layer, though the saved graph records none of this.
  The walk's masks follow the same path.

This module registers the class (so the walk knows it) and checks what a Pipeline cannot be walked with.
"""
from __future__ import annotations

from typing import Any

from tfjsconv.ir import Value

from ..configs import LAYER_LISTS, is_model
from .context import STATE_KEYWORD, LayerContext
from .registry import LOWERINGS, Unsupported, lowers


def _inner_entries(config: dict[str, Any]) -> list[dict[str, Any]]:
    layers = config.get("layers")
    return [e for e in layers if isinstance(e, dict)] if isinstance(layers, list) else []


def _pipeline_check(config: dict[str, Any]) -> str | None:
    """No layers, or an inner layer that reads keyword tensors (a Pipeline passes one tensor on); the walk checks
    each inner layer's own options as it checks any layer's."""
    entries = _inner_entries(config)
    if not entries:
        return "no layers"
    for entry in entries:
        cls = str(entry.get("class_name"))
        lowering = LOWERINGS.get(cls)
        if is_model(entry) or cls in LAYER_LISTS or lowering is None:
            continue
        # an RNN's initial_state is never given inside a Pipeline; other keyword tensors are not passed through
        if set(lowering.keywords) - {STATE_KEYWORD}:
            return f"the inner layer {str((entry.get('config') or {}).get('name') or cls)!r} ({cls})"
    return None


@lowers("Pipeline", check=_pipeline_check)
def pipeline(ctx: LayerContext) -> Value:
    """Reached only from outside a model walk (a wrapper around a Pipeline): the walk lowers Pipelines itself."""
    raise Unsupported(f"layer {ctx.name!r} (Pipeline) wrapped in another layer")
