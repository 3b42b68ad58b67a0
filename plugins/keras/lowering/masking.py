"""Keras masks in the lowering: which layers make one, pass it on, or read it; everything else refuses it.

A mask is a bool ``[batch, steps]`` tensor that Keras carries beside a layer's output. ``Masking`` and
``Embedding(mask_zero=True)`` make one; layers that compute the same with or without it pass it on
(Keras's ``supports_masking`` layers whose ``call`` takes no mask: Dense, activations, dropout, layer
norm); RNNs, Bidirectional and GlobalAveragePooling1D read it (``ctx.mask``; an RNN that returns
sequences passes it on). A mask reaching any other layer is a gap (``mask into X``): the model then
goes through TensorFlow, so no layer silently ignores a mask Keras would use. Nested models do not
take masks from outside (a gap too) but may make them inside.
"""
from __future__ import annotations

from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .registry import lowers

#: Layers that compute the same with or without a mask and hand it on unchanged (both Keras versions).
PASSES_MASK = frozenset({"Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Dropout", "SpatialDropout1D",
                         "GaussianNoise", "GaussianDropout", "AlphaDropout", "LayerNormalization"})
_RNN = frozenset({"SimpleRNN", "LSTM", "GRU"})


def makes_mask(class_name: str, config: dict[str, Any]) -> bool:
    return class_name == "Masking" or (class_name == "Embedding" and bool(config.get("mask_zero")))


def masked_outputs(class_name: str, config: dict[str, Any], masked_input: bool) -> set[int] | None:
    """The output indices that carry a mask after one call, or None when the layer cannot take the mask."""
    if makes_mask(class_name, config):
        return None if masked_input else {0}
    if not masked_input:
        return set()
    if class_name in PASSES_MASK:
        return {0}
    if class_name in _RNN:
        return {0} if config.get("return_sequences") else set()
    if class_name == "Bidirectional":
        inner = (config.get("layer") or {}).get("config") or {}
        if not inner.get("return_sequences"):
            return set()
        return {0, 1} if config.get("merge_mode", "concat") is None else {0}
    if class_name == "GlobalAveragePooling1D":
        return None if config.get("data_format", "channels_last") not in (None, "channels_last") else set()
    return None


#: Where a mask was made: ``(class, input ref, in a Sequential model)``, or ``("nested", model name)``.
MaskOrigin = tuple


def is_recorded_mask(plan: Any, recorded: list[Any], origin: MaskOrigin) -> bool:
    """Whether the mask Keras 3 recorded for a call is the one this walk tracks: Keras computes
    Embedding's as ``NotEqual(ids)`` and Masking's as ``Any(NotEqual(x))``, recorded as op layers."""
    from .model_plan import call_inputs

    if len(recorded) != 1 or origin[0] not in ("Embedding", "Masking") or origin[2]:
        return False

    def producer(ref: Any, op: str) -> Any:
        call = plan.producers.get((ref[0], ref[1]))
        return call if call is not None and call.class_name.rsplit(".", 1)[-1] == op and ref[2] == 0 else None

    compared = producer(recorded[0], "NotEqual" if origin[0] == "Embedding" else "Any")
    if compared is not None and origin[0] == "Masking":
        refs = call_inputs(compared.node)
        compared = producer(refs[0], "NotEqual") if len(refs) == 1 else None
    return compared is not None and call_inputs(compared.node) == [origin[1]]


def mask_gap(name: str, class_name: str) -> str:
    return f"{name!r} (mask into {class_name})"


def make_mask(ctx: LayerContext) -> Value:
    """The mask a Masking / Embedding(mask_zero) call makes of its input."""
    x = ctx.x
    if ctx.class_name == "Embedding":  # Keras: ids != 0, on the ids as given (int64 ids are int32 in TF.js)
        ids = x
        if ids.dtype not in (DType.INT32, DType.FLOAT32):
            ids = ctx.op("Cast", [ids], {"SrcT": ids.dtype, "DstT": DType.INT32, "Truncate": False},
                         dtype=DType.INT32, shape=ids.shape, label="mask_ids")
        zero = ctx.const(_zero(ids.dtype), "mask_zero")
        return ctx.op("NotEqual", [ids, zero], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                      shape=ids.shape, label="mask")
    return _any_not_equal(ctx, x, keep_dims=False, label="mask")


def _zero(dtype: DType) -> Any:
    import numpy as np

    return np.zeros((), dtype=np.int32 if dtype == DType.INT32 else np.float32)


def _any_not_equal(ctx: LayerContext, x: Value, *, keep_dims: bool, label: str) -> Value:
    value = float(ctx.config.get("mask_value", 0.0))
    differs = ctx.op("NotEqual", [x, ctx.floats(value, f"{label}_value")], {"incompatible_shape_error": True},
                     dtype=DType.BOOL, shape=x.shape, label=f"{label}_differs")
    shape = ctx.shape(x)
    out_shape = (*shape[:-1], 1) if keep_dims else shape[:-1]
    return ctx.op("Any", [differs, ctx.ints(-1, f"{label}_axis")], {"keep_dims": keep_dims, "Tidx": DType.INT32},
                  dtype=DType.BOOL, shape=out_shape, label=label)


def as_float(ctx: LayerContext, mask: Value, label: str) -> Value:
    return ctx.op("Cast", [mask], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False},
                  dtype=DType.FLOAT32, shape=mask.shape, label=label)


@lowers("Masking")
def masking(ctx: LayerContext) -> Value:
    """``x * any(x != mask_value, axis=-1, keepdims=True)``, as Keras computes it."""
    keep = _any_not_equal(ctx, ctx.x, keep_dims=True, label="keep")
    return ctx.binary("Mul", ctx.x, as_float(ctx, keep, "keep_float"), label="masked")


def masked_global_average_1d(ctx: LayerContext, mask: Value) -> Value:
    """Keras's masked mean over the steps: ``sum(x * m) / sum(m)`` (channels_last)."""
    shape = ctx.shape()
    weights = ctx.expand_dims(as_float(ctx, mask, "mask_float"), 2, "mask_steps")
    total = ctx.op("Sum", [ctx.binary("Mul", ctx.x, weights, label="masked"), ctx.ints(1, "steps_axis")],
                   {"keep_dims": bool(ctx.config.get("keepdims")), "Tidx": DType.INT32},
                   shape=(shape[0], 1, shape[2]) if ctx.config.get("keepdims") else (shape[0], shape[2]), label="sum")
    count = ctx.op("Sum", [weights, ctx.ints(1, "count_axis")],
                   {"keep_dims": bool(ctx.config.get("keepdims")), "Tidx": DType.INT32},
                   shape=(shape[0], 1, 1) if ctx.config.get("keepdims") else (shape[0], 1), label="count")
    return ctx.binary("RealDiv", total, count, label="mean")
