"""Keras 3 layers saved with an integer dtype (``Identity(dtype="int32")``): what Keras computes, lowered.

Keras 3's ``Layer.__call__`` converts each input to the layer's compute dtype with ``DTypePolicy.convert_input``,
which casts floats only: a layer whose dtype is int32 or int64 gets its float inputs truncated toward zero as TF's
CPU cast gives them (NaN, infinities and magnitudes past the dtype's range: its minimum), its integer inputs as they
are. It then computes as on integers of that dtype, which the walk already follows: the moving layers and merges keep
them (merges add and multiply in int32, wrapping), Activation relu/linear keeps them and others take floats again;
Rescaling also casts its integer inputs, scale and offset to the dtype (:func:`integer_rescaling`). int64 is held as
its low 32 bits, as TF.js holds every int64, so only layers whose results depend on those alone lower with it. tf_keras autocasts floats to float dtypes only: its integer-dtype layers
stay gaps, and so do the other integer dtypes (bool, 8/16-bit).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Value
from tfjsconv.narrow_ints import int32_product

from ..configs import dtype_name
from .context import UNTRACKED, LayerContext, broadcast_shape
from .integer_dtypes import KERAS3_RAW_AT_INFERENCE, WIDE_INTEGER_MERGES, WIDE_INTEGER_MOVING_LAYERS
from .registry import Unsupported

#: The layer dtypes lowered, and the DType each computes in.
INTEGER_LAYER_DTYPES = {"int32": DType.INT32, "int64": DType.INT64}
#: Layers lowered with an integer dtype: after Keras's cast of their float inputs, the walk's lowering of them on
#: integers is Keras's (not the image layers Keras 3 returns as given: some of them cast to the compute dtype).
INTEGER_DTYPE_LAYERS = frozenset({*(WIDE_INTEGER_MOVING_LAYERS - set(KERAS3_RAW_AT_INFERENCE)), *WIDE_INTEGER_MERGES,
                                  "Activation", "Rescaling"})
#: Of those, the ones lowered with dtype int64 too: their results depend only on the low 32 bits TF.js holds of each
#: int64 (moves, sums, products, Rescaling). Comparisons (Maximum, Minimum, GlobalMaxPooling, relu) and floats made of
#: int64 values past int32's range would differ from Keras's: those stay gaps with dtype int64.
INT64_DTYPE_LAYERS = INTEGER_DTYPE_LAYERS - {"Maximum", "Minimum", "Activation", "GlobalMaxPooling1D",
                                             "GlobalMaxPooling2D", "GlobalMaxPooling3D"}
#: The activations Keras 3 computes on int32 (others fail in TensorFlow) whose lowering on int32 gives Keras's values
#: and dtype: relu and linear keep int32, tanh, leaky_relu and exponential give float32 (relu6 keeps int32 in Keras,
#: float32 in the lowering: a gap).
INTEGER_ACTIVATIONS = frozenset({"linear", "relu", "tanh", "leaky_relu", "exponential"})
#: Layers whose lowering itself produces an integer-dtype output (``_convert_input_args = False``: no autocast).
INTEGER_RESULT_LAYERS = frozenset({"CategoryEncoding"})


def integer_layer_dtype(cls: str, config: dict[str, Any], keras3: bool | None) -> DType | None:
    """The integer dtype a Keras 3 layer of :data:`INTEGER_DTYPE_LAYERS` or :data:`INTEGER_RESULT_LAYERS` computes in
    (its saved dtype, int32 or int64), else None."""
    if keras3 is not True or cls not in INTEGER_DTYPE_LAYERS | INTEGER_RESULT_LAYERS:
        return None
    if cls == "Activation" and config.get("activation") not in INTEGER_ACTIVATIONS:
        return None
    dtype = INTEGER_LAYER_DTYPES.get(dtype_name(config.get("dtype")))
    return None if dtype == DType.INT64 and cls in INTEGER_DTYPE_LAYERS - INT64_DTYPE_LAYERS else dtype


def autocast_inputs(graph: Graph, layer: str, cls: str, source: str, inputs: list[Value],
                    keras_dtypes: list[DType | str | None], dtype: DType) -> list[tuple[Value, DType | None]]:
    """Each input as Keras hands it to an integer-``dtype`` layer, with the Keras dtype to track for a new Value: a
    float truncated as TF's cast gives it, an integer as it is. A tensor whose Keras dtype the walk does not follow
    (float or integer) is refused by name."""
    from .core import warn_once
    from .op_layers import float_to_int32, float_to_int64_low_bits

    ctx = LayerContext(graph, f"{layer}/autocast", cls, {}, inputs, [], source, keras3=True)
    out: list[tuple[Value, DType | None]] = []
    for i, (value, held) in enumerate(zip(inputs, keras_dtypes)):
        if held == UNTRACKED:
            raise Unsupported(f"layer {layer!r} ({cls}: dtype {dtype.value}) on a tensor whose Keras dtype the "
                              "lowering does not follow (Keras casts it to the layer's dtype only if it is a float)")
        if held is not None:
            out.append((value, None))
        elif value.dtype != DType.FLOAT32:
            raise Unsupported(f"layer {layer!r} ({cls}: dtype {dtype.value}) on a {value.dtype.value} tensor")
        elif dtype == DType.INT32:
            out.append((float_to_int32(ctx, value, f"to_int32_{i}"), None))
        else:  # int64: its low 32 bits, tracked as int64
            warn_once(ctx, INT64_AUTOCAST_NOTE)
            out.append((float_to_int64_low_bits(ctx, value, f"to_int64_{i}"), DType.INT64))
    return out


#: The conversion's note for a float cast to an int64 layer's dtype.
INT64_AUTOCAST_NOTE = (
    "Keras 3 layers of dtype int64 cast their float inputs to int64: TF.js holds int64 as int32, so a value from 2^31 "
    "on is its low 32 bits there (as any int64 in TF.js), and a float layer after it reads those")


def tf_integer_constant(values: np.ndarray, dtype: DType) -> np.ndarray:
    """float32 ``values`` cast as TF's CPU kernel casts them to ``dtype`` (truncated toward zero; NaN, infinities and
    magnitudes past the range: the dtype's minimum), as the int32 TF.js holds (int64: its low 32 bits)."""
    values = np.asarray(values, np.float32).astype(np.float64)
    limit = 2.0**31 if dtype == DType.INT32 else 2.0**63
    inside = np.isfinite(values) & (np.abs(values) < limit)
    whole = np.where(inside, np.trunc(np.where(inside, values, 0.0)), 0.0)
    if dtype == DType.INT32:
        return np.where(inside, whole, -2.0**31).astype(np.int64).astype(np.int32)
    # int64: INT64_MIN's low 32 bits are 0; other values wrap into int32 as their low bits
    low = np.array([int(w) & 0xFFFFFFFF for w in whole.reshape(-1)], np.uint64).reshape(whole.shape)
    return np.where(inside, low.astype(np.uint32).view(np.int32), 0).astype(np.int32)


def integer_rescaling(ctx: LayerContext, dtype: DType, scale: np.ndarray, offset: np.ndarray) -> Value:
    """Keras 3's ``Rescaling.call`` in an integer dtype: ``cast(x, dtype) · cast(scale, dtype) + cast(offset, dtype)``,
    wrapping as TF's int32 Mul and Add (int64 in its low 32 bits, which wrap alike). The walk hands the input as int32
    (floats cast by the autocast, int64 as its low bits) or as float32 holding small integers or bools exactly."""
    x = ctx.x
    if x.dtype == DType.FLOAT32:
        x = ctx.exact_cast(x, DType.INT32, "integers")
    if x.dtype != DType.INT32:
        raise Unsupported(f"layer {ctx.name!r} (Rescaling: dtype {dtype.value}) on a {x.dtype.value} tensor")
    factor, shift = tf_integer_constant(scale, dtype), tf_integer_constant(offset, dtype)
    y = x if factor.size == 1 and factor.item() == 1 else int32_product(
        ctx.graph, x, ctx.ints(factor, "scale"), f"{ctx.name}/scaled", broadcast_shape(x.shape, factor.shape))
    y = ctx.binary("AddV2", y, ctx.ints(shift, "offset"), label="shifted")
    if dtype == DType.INT64:
        ctx.output_keras_dtype = DType.INT64
    return y
