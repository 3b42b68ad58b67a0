"""Keras 3's ``Pipeline``: a plain layer that calls its ``layers`` one after the other, lowered as that chain.

Each inner layer is lowered by its own lowering, with its own weights (:mod:`.weights` gives a Pipeline one list
per inner layer, read where Keras saves them: ``<pipeline>/layers/<key>`` in ``.keras`` archives,
``<pipeline>/<inner>/<weight>`` in ``.h5`` files). Keras does not convert a Pipeline's input
(``_convert_input_args = False``): each inner layer casts it as it would alone, so integer inputs reach
Embedding / Hashing / StringLookup unchanged and float layers see float32. Masks do not cross a Pipeline here: one
made inside it (``Masking``, ``Embedding(mask_zero=True)``) would leave it in Keras, so such a Pipeline is a gap.
"""
from __future__ import annotations

from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..configs import LAYER_LISTS, is_model
from .context import STATE_KEYWORD, LayerContext, check_call_kwargs
from .masking import makes_mask
from .model_walk import INTEGER_INPUT_LAYERS, INTEGER_OUTPUT_LAYERS, _dtype_name
from .registry import LOWERINGS, Unsupported, lowers


def _inner_entries(config: dict[str, Any]) -> list[dict[str, Any]]:
    layers = config.get("layers")
    return [e for e in layers if isinstance(e, dict)] if isinstance(layers, list) else []


def _pipeline_check(config: dict[str, Any]) -> str | None:
    entries = _inner_entries(config)
    if not entries:
        return "no layers"
    for entry in entries:
        cls, inner = str(entry.get("class_name")), dict(entry.get("config") or {})
        name = str(inner.get("name") or cls)
        lowering = LOWERINGS.get(cls)
        # an RNN's initial_state is never given inside a Pipeline; other keyword tensors are not passed through
        if lowering is None or is_model(entry) or cls in LAYER_LISTS or set(lowering.keywords) - {STATE_KEYWORD}:
            return f"the inner layer {name!r} ({cls})"
        if makes_mask(cls, inner):
            return f"the inner layer {name!r} ({cls}) makes a mask"
        dtype = _dtype_name(inner.get("dtype"))  # as the walk checks a layer (model_walk._Gaps._layer)
        if dtype not in (None, "float32") and not (cls in INTEGER_OUTPUT_LAYERS and dtype in ("int32", "int64")):
            return f"the inner layer {name!r} ({cls}: dtype {dtype})"
        if inner.get("lora_rank"):
            return f"the inner layer {name!r} ({cls}: lora_rank)"
        gap = lowering.check(inner) if lowering.check else None
        if gap:
            return f"the inner layer {name!r} ({cls}: {gap})"
    return None


@lowers("Pipeline", check=_pipeline_check)
def pipeline(ctx: LayerContext) -> Value:
    """``x = layer(x)`` for each inner layer, in order."""
    check_call_kwargs(ctx, ("training",) if ctx.keras3 else ())  # Keras 3's model(x, training=False) overrides it
    entries = _inner_entries(ctx.config)
    if len(ctx.weights) != len(entries) or not all(isinstance(w, list) for w in ctx.weights):
        raise ctx.error(f"has weights that do not fit its {len(entries)} inner layers")
    if len(ctx.inputs) != 1:
        raise Unsupported(f"layer {ctx.name!r} (Pipeline) called with {len(ctx.inputs)} tensors")
    x = ctx.inputs[0]
    for entry, arrays in zip(entries, ctx.weights):
        cls, config = str(entry["class_name"]), dict(entry.get("config") or {})
        name = str(config.get("name") or cls)
        if cls not in INTEGER_INPUT_LAYERS and x.dtype != DType.FLOAT32:  # Keras: float layers cast to float32
            if x.dtype == DType.STRING:
                raise Unsupported(f"layer {ctx.name!r} (Pipeline): {name!r} ({cls}) on a string input")
            x = ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": DType.FLOAT32, "Truncate": False}, dtype=DType.FLOAT32,
                       shape=x.shape, label=f"{name}/to_float")
        inner = LayerContext(ctx.graph, f"{ctx.name}/{name}", cls, config, [x], arrays, ctx.source,
                             keras3=ctx.keras3, weight_consts=ctx.weight_consts)
        y = LOWERINGS[cls].lower(inner)
        if isinstance(y, list):
            raise Unsupported(f"layer {ctx.name!r} (Pipeline): {name!r} ({cls}) returns several tensors")
        x = y
    return x
