"""Keras 3's ``Pipeline``: a plain layer that calls its ``layers`` one after the other.

The model walk lowers a Pipeline call as it lowers a nested Sequential model (``call_facts.runs_layers``): each
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

from ..configs import LAYER_LISTS, entry_name, is_model
from .context import OPTIONAL_KEYWORDS, LayerContext
from .masking import GIVEN_MASK_READERS, drops_mask, passes_mask
from .registry import LOWERINGS, Unsupported, lowers

#: How many Pipelines, each the first layer of the one around it, :func:`first_layer_reads_given_mask` looks into.
MAX_PIPELINE_DEPTH = 32
#: Keras 3 layers besides the mask readers whose ``call`` takes ``mask`` (BatchNormalization hands it on).
_CALL_TAKES_MASK = frozenset({"BatchNormalization"})


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
        # an RNN's initial_state (CategoryEncoding's count_weights) is never given inside a Pipeline; other keyword
        # tensors are not passed through
        if set(lowering.keywords) - OPTIONAL_KEYWORDS:
            return f"the inner layer {str((entry.get('config') or {}).get('name') or cls)!r} ({cls})"
    return None


def first_layer_reads_given_mask(config: dict[str, Any]) -> bool | str:
    """How Keras 3 runs a Pipeline called with ``mask=m``: ``Pipeline.call`` passes ``m`` to its first layer only
    when that layer's ``call`` takes a mask (then as ``layer(x, mask=m)``; a nested model sets it on its inputs, a
    nested Pipeline hands it to its own first layer by the same rule), and the layers after it get the mask each
    output carries. True: the first layer reads ``m`` (an RNN, Bidirectional, GlobalAveragePooling1D, Softmax,
    ConvLSTM, BatchNormalization, a nested model); False: its call takes no mask, so ``m`` is dropped (the layers the
    mask tables know: Dense, Masking, Embedding, convolutions...); otherwise why it is neither (a gap)."""
    for _ in range(MAX_PIPELINE_DEPTH):  # Pipelines first in Pipelines: iterative, the nesting is untrusted
        entries = _inner_entries(config)
        if not entries:
            return "a mask argument for a Pipeline without layers"
        first = entries[0]
        cls = str(first.get("class_name"))
        if cls in LAYER_LISTS:
            config = first.get("config") or {}
            continue
        if is_model(first) or cls in GIVEN_MASK_READERS or cls in _CALL_TAKES_MASK:
            return True
        if cls in ("Masking", "Embedding") or passes_mask(cls, True) or drops_mask(cls, True):
            return False
        return f"a mask argument for its first layer {entry_name(first)!r} ({cls})"
    return "a mask argument for Pipelines nested too deeply"


@lowers("Pipeline", check=_pipeline_check)
def pipeline(ctx: LayerContext) -> Value:
    """Reached only from outside a model walk (a wrapper around a Pipeline): the walk lowers Pipelines itself."""
    raise Unsupported(f"layer {ctx.name!r} (Pipeline) wrapped in another layer")
