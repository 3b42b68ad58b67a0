"""Dot (batch_dot over given axes, optionally L2-normalized) and TimeDistributed (any lowered layer per step).

TimeDistributed folds time into the batch (``[batch·T, ...]``; sizes unknown in the config are read at run time,
as Keras's reshapes do), runs the wrapped layer's own lowering
on that (its weights are the wrapper's: Keras 3 keeps them under ``layer``, ``.h5`` files list them
under the wrapper), and unfolds the result, as Keras does for layers without a time-aware call. A mask passes
by (see :func:`.masking._time_distributed_masked`); wrapped RNNs (``RNN(cell)``, Bidirectional and ConvLSTMs too) and
GlobalAveragePooling1D read it folded like the input (:func:`_folded_mask`), after which tf_keras reduces it
(:func:`time_distributed_out_mask`); tf_keras's TimeDistributed(Masking) and TimeDistributed(Embedding(mask_zero=True))
make their own (:func:`time_distributed_mask`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import int32_halves, int32_product, is_narrow

from ..configs import dtype_name, is_model
from .context import OPTIONAL_KEYWORDS, LayerContext, broadcast_shape, check_call_kwargs
from .dynamic_shape import reshape_to, runtime_sizes
from .float_widths import wrapped_width_gap
from .registry import LOWERINGS, Unsupported, lowers
from .runtime_fold import merge_axes, split_first_axis

#: ``keras.backend.epsilon()``; Keras 3 caps ``1/‖x‖`` at ``1/epsilon``.
EPSILON = 1e-7
#: The most terms an int32 dot sums exactly with TF.js's int32 Sum: cpu adds them in a float64 (exact while the
#: running sum stays within 2^53: 2^22 terms below 2^31), then stores it modulo 2^32; wasm adds in int32, wrapping.
EXACT_INT32_TERMS = 2**22


# -- Dot ------------------------------------------------------------------------------------------------------
def _axes(ctx: LayerContext, ranks: list[int]) -> list[int]:
    axes = ctx.config.get("axes")
    pair = list(axes) if isinstance(axes, (list, tuple)) else [axes, axes]
    if len(pair) != 2 or not all(isinstance(a, int) for a in pair):
        raise ctx.error(f"has axes={axes!r}")
    out = [a % rank if a < 0 else a for a, rank in zip(pair, ranks)]
    if any(not 1 <= a < rank for a, rank in zip(out, ranks)):
        raise ctx.error(f"has axes={axes!r} for inputs of ranks {ranks}")
    return out


def _l2_normalize(ctx: LayerContext, x: Value, axis: int, label: str) -> Value:
    """Keras 3: ``x · min(rsqrt(Σx²), 1/ε)``; tf_keras (``tf.linalg.l2_normalize``): ``x · rsqrt(max(Σx², 1e-12))``."""
    shape = ctx.shape(x)
    square_sum = ctx.op("Sum", [ctx.unary("Square", x, label=f"{label}/squared"), ctx.ints([axis], f"{label}/axis")],
                        {"keep_dims": True, "Tidx": DType.INT32},
                        shape=tuple(1 if i == axis else d for i, d in enumerate(shape)), label=f"{label}/square_sum")
    if ctx.keras3:
        inverse = ctx.scalar_op("Minimum", ctx.unary("Rsqrt", square_sum, label=f"{label}/rsqrt"), 1.0 / EPSILON,
                                f"{label}/capped")
    else:
        inverse = ctx.unary("Rsqrt", ctx.scalar_op("Maximum", square_sum, 1e-12, f"{label}/floored"),
                            label=f"{label}/rsqrt")
    return ctx.binary("Mul", x, inverse, label=label)


@lowers("Dot")
def dot(ctx: LayerContext) -> Value:
    """``batch_dot`` of two rank-2 (``Σ x·y`` kept as ``[batch, 1]``), two rank-3 tensors (BatchMatMulV2) or any
    other pair of ranks (:func:`_batch_dot`, Keras's own reshapes around one BatchMatMulV2)."""
    check_call_kwargs(ctx, ())
    if len(ctx.inputs) != 2:
        raise ctx.error(f"takes exactly 2 tensors, got {len(ctx.inputs)}")
    x, y = ctx.inputs
    shapes = [ctx.shape(x), ctx.shape(y)]
    ranks = [len(s) for s in shapes]
    a, b = _axes(ctx, ranks)
    if shapes[0][a] is not None and shapes[1][b] is not None and shapes[0][a] != shapes[1][b]:
        raise ctx.error(f"contracts sizes {shapes[0][a]} and {shapes[1][b]}")
    if _int32_dot(ctx):
        return _exact_int32_dot(ctx, x, y, shapes, a, b)
    if ctx.keras3 and any(v.dtype == DType.INT32 for v in ctx.inputs):
        return _keras3_integer_dot(ctx, x, y, a, b)
    if ctx.keras3 and None not in ctx.keras_dtypes:  # 8/16-bit integers or bools, held as float32
        return _keras3_small_integer_dot(ctx, x, y, shapes, a, b)
    if ctx.config.get("normalize"):
        x, y = _l2_normalize(ctx, x, a, "normalized_0"), _l2_normalize(ctx, y, b, "normalized_1")
    if ranks == [2, 2]:
        product = ctx.binary("Mul", x, y, label="products")
        return ctx.op("Sum", [product, ctx.ints([1], "sum_axis")], {"keep_dims": True, "Tidx": DType.INT32},
                      shape=(None, 1), label="dot")
    if ranks == [3, 3]:
        rows = shapes[0][2 if a == 1 else 1]
        cols = shapes[1][2 if b == 1 else 1]
        return ctx.op("BatchMatMulV2", [x, y], {"adj_x": a == 1, "adj_y": b == 2}, shape=(None, rows, cols),
                      label="dot")
    return _batch_dot(ctx, x, y, a, b)


def _batch_dot(ctx: LayerContext, x: Value, y: Value, a: int, b: int,
               after_matmul: Callable[[Value], Value] | None = None) -> Value:
    """``batch_dot`` as both Keras flavours compute it, for any ranks: a rank-2 ``x`` becomes ``[B, 1, K]`` and a
    rank-2 ``y`` ``[B, K, 1]``; ``x``'s contracted axis moves last and ``y``'s to 1 (the others keep their order);
    ``x``'s middle axes and ``y``'s trailing ones are merged (rank > 3) around one BatchMatMulV2, split back after it,
    and the axis a rank-2 input added is squeezed (``x``'s first). ``after_matmul`` sees the BatchMatMulV2's result
    (Keras 3's matmul casts integers back there)."""
    x_rank, y_rank = len(ctx.shape(x)), len(ctx.shape(y))
    if x_rank == 2:
        x, a = ctx.expand_dims(x, 1, "rows_expanded"), 2
    if y_rank == 2:
        y = ctx.expand_dims(y, 2, "cols_expanded")
    x, y = _move_axis(ctx, x, a, len(ctx.shape(x)) - 1, "rows_last"), _move_axis(ctx, y, b, 1, "cols_first")
    xs, ys = ctx.shape(x), ctx.shape(y)
    rows = merge_axes(ctx, x, 1, len(xs) - 1, "rows_merged") if len(xs) > 3 else x  # [B, M, K]
    cols = merge_axes(ctx, y, 2, len(ys), "cols_merged") if len(ys) > 3 else y  # [B, K, N]
    batch = xs[0] if xs[0] is not None else ys[0]
    out = ctx.op("BatchMatMulV2", [rows, cols], {"adj_x": False, "adj_y": False},
                 shape=(batch, ctx.shape(rows)[1], ctx.shape(cols)[2]), label="dot")
    if after_matmul is not None:
        out = after_matmul(out)
    if len(xs) > 3 or len(ys) > 3:
        out = _split_dot(ctx, out, x, y)
    if x_rank == 2:
        return ctx.squeeze(out, 1, "squeezed")
    return ctx.squeeze(out, len(ctx.shape(out)) - 1, "squeezed") if y_rank == 2 else out


def _move_axis(ctx: LayerContext, x: Value, axis: int, to: int, label: str) -> Value:
    """``x`` with ``axis`` moved to position ``to``, the other axes in their order (``batch_dot``'s transposes)."""
    if axis == to:
        return x
    perm = [i for i in range(len(ctx.shape(x))) if i != axis]
    perm.insert(to, axis)
    return ctx.transpose(x, perm, label)


def _split_dot(ctx: LayerContext, out: Value, x: Value, y: Value) -> Value:
    """The ``[B, M, N]`` product reshaped to ``[B, *x's middle sizes, *y's trailing sizes]``, as Keras reshapes it to
    ``shape(x)[:-1] + shape(y)[2:]``; sizes unknown in the config are read from ``x`` and ``y`` at run time."""
    xs, ys = ctx.shape(x), ctx.shape(y)
    batch = xs[0] if xs[0] is not None else ys[0]
    target = (batch, *xs[1:-1], *ys[2:])
    if sum(d is None for d in target) <= 1:
        return ctx.reshape(out, target, "split")
    head = list(xs[:-1]) if None not in xs[:-1] else runtime_sizes(ctx, x, 0, len(xs) - 1, "split_head")
    tail = list(ys[2:]) if None not in ys[2:] else runtime_sizes(ctx, y, 2, len(ys), "split_tail")
    return reshape_to(ctx, out, [head, tail], target, "split")


def _int32_dot(ctx: LayerContext) -> bool:
    """Whether tf_keras's Dot computes on int32 tensors here: its ``batch_dot`` multiplies and sums them in int32,
    wrapping modulo 2^32 (the walk hands them over as they are). Its other integers are refused by name: int64 sums
    that do not wrap at 2^32 (TF.js holds int64 as int32), 8/16-bit ones wrapping in their dtype. Keras 3's Dot of
    integers is a float32 matmul (the walk refuses it on int32/int64)."""
    dtypes = [d for d in ctx.keras_dtypes if isinstance(d, DType)]
    if ctx.keras3 or not dtypes:
        return False
    if len(dtypes) != len(ctx.inputs) or any(d != DType.INT32 for d in dtypes) or \
            any(v.dtype != DType.INT32 for v in ctx.inputs):
        raise Unsupported(f"layer {ctx.name!r} (Dot) on {'/'.join(sorted({d.numpy.name for d in dtypes}))} "
                          "integers (tf_keras computes the dot in their dtype, wrapping there; lowered for int32)")
    return True


def _exact_int32_dot(ctx: LayerContext, x: Value, y: Value, shapes: list[tuple[int | None, ...]], a: int, b: int
                     ) -> Value:
    """tf_keras's int32 ``batch_dot`` exactly: each product wrapped as TF's int32 Mul (:func:`int32_product`; TF.js's
    cpu Mul is a float64 one), summed modulo 2^32 (:func:`_int32_sum`; wrapping is associative, so the order does
    not matter). Rank 3: ``[B, M, K, 1] · [B, 1, K, N]`` summed over K (TF.js's BatchMatMul computes in float32)."""
    if [len(s) for s in shapes] not in ([2, 2], [3, 3]):
        raise Unsupported(f"layer {ctx.name!r} (Dot) on inputs of ranks {[len(s) for s in shapes]}")
    if ctx.config.get("normalize"):  # tf_keras fails on it (l2_normalize of integers)
        raise Unsupported(f"layer {ctx.name!r} (Dot) normalizing int32 integers")
    size = shapes[0][a] if shapes[0][a] is not None else shapes[1][b]
    if len(shapes[0]) == 2:
        products = int32_product(ctx.graph, x, y, f"{ctx.name}/products", broadcast_shape(x.shape, y.shape))
        return _int32_sum(ctx, products, 1, size, (None, 1))
    rows = x if a == 2 else ctx.transpose(x, [0, 2, 1], "rows")  # [B, M, K]
    cols = y if b == 1 else ctx.transpose(y, [0, 2, 1], "cols")  # [B, K, N]
    left, right = ctx.expand_dims(rows, 3, "rows_expanded"), ctx.expand_dims(cols, 1, "cols_expanded")
    products = int32_product(ctx.graph, left, right, f"{ctx.name}/products", broadcast_shape(left.shape, right.shape))
    return _int32_sum(ctx, products, 2, size, (None, ctx.shape(rows)[1], ctx.shape(cols)[2]))


def _keras3_integer_dot(ctx: LayerContext, x: Value, y: Value, a: int, b: int) -> Value:
    """Keras 3's Dot of int32 tensors (any ranks), as its TF backend computes it: both cast to float32, ``x``'s
    contracted axis moved last and ``y``'s to 1 (rank 2: ``[B, 1, K] · [B, K, 1]``), a float32 BatchMatMulV2 between
    :func:`_batch_dot`'s reshapes, and the matmul's result cast back
    to int32 as TF casts (INT_MIN from 2^31 on: :func:`.op_layers.float_to_int32`), or kept float32 beside a float.
    Exact while the sums stay below 2^24; beyond, Keras's result is a float32 sum rounded in the order of TF's matmul
    kernel, which TF.js matches within float32's rounding (TF.js's cpu, whose Cast of int32 does not round, sums the
    products in float64: the contract's "Cast (cpu)")."""
    from .op_layers import float_to_int32

    integer = _keras3_dot_gives_int32(ctx)
    x, y = _as_float32(ctx, x, "to_float_0"), _as_float32(ctx, y, "to_float_1")
    return _batch_dot(ctx, x, y, a, b, (lambda out: float_to_int32(ctx, out, "to_int32")) if integer else None)


def _keras3_dot_gives_int32(ctx: LayerContext) -> bool:
    """Whether Keras 3's Dot of an int32 tensor casts its float32 result back to int32 (its other input int32 or an
    8/16-bit integer; beside a float it returns float32). Refused by name: a result of int64 (beyond TF.js's int32),
    normalized integers, integers whose dtype the walk does not follow."""
    dtypes = list(ctx.keras_dtypes)
    if DType.INT64 in dtypes and None not in dtypes:
        raise Unsupported(f"layer {ctx.name!r} (Dot) on int64 integers (Keras 3 casts the float32 dot back to int64, "
                          "beyond TF.js's int32)")
    if ctx.config.get("normalize") or len(dtypes) != 2 or \
            not all(d is None or d in (DType.INT32, DType.INT64) or is_narrow(d) for d in dtypes):
        names = ", ".join("float" if d is None else d.numpy.name if isinstance(d, DType) else str(d) for d in dtypes)
        raise Unsupported(f"layer {ctx.name!r} (Dot) {'normalizing ' if ctx.config.get('normalize') else 'on '}"
                          f"integers ({names}; lowered for int32 with int32, 8/16-bit integers or floats)")
    return None not in dtypes


#: The most terms of int8 products (each at most 2^14) a float32 matmul sums exactly (every partial sum below 2^24).
EXACT_INT8_TERMS = 2**10


def _keras3_small_integer_dot(ctx: LayerContext, x: Value, y: Value, shapes: list[tuple[int | None, ...]], a: int,
                              b: int) -> Value:
    """Keras 3's Dot of two 8/16-bit integer or bool tensors (the walk holds them as float32, exactly). int8 with
    int8: TF's int8 matmul with an int32 result (exact: a float32 matmul over up to :data:`EXACT_INT8_TERMS` terms,
    else :func:`_exact_int32_dot`'s int32 sums). bool with bool: the float32 matmul cast back to bool (``!= 0``:
    sums of 0/1 products, exact). Any other pair is refused by name: Keras casts the float32 dot back to their
    promoted dtype (uint8 with uint8 to uint8...), and TensorFlow's cast of floats outside that range wraps in small
    tensors but saturates in large ones."""
    dtypes = list(ctx.keras_dtypes)
    names = "/".join(sorted({d.numpy.name if isinstance(d, DType) else "untracked" for d in dtypes}))
    if ctx.config.get("normalize"):  # Keras fails (its Rsqrt of integers)
        raise Unsupported(f"layer {ctx.name!r} (Dot) normalizing {names} integers")
    if len(dtypes) == 2 and all(d == DType.INT8 for d in dtypes):
        ctx.output_keras_dtype = DType.INT32
        size = shapes[0][a] if shapes[0][a] is not None else shapes[1][b]
        if size is not None and size <= EXACT_INT8_TERMS:
            return _batch_dot(ctx, x, y, a, b, lambda out: ctx.exact_cast(out, DType.INT32, "to_int32"))
        x, y = ctx.exact_cast(x, DType.INT32, "int8_0"), ctx.exact_cast(y, DType.INT32, "int8_1")
        return _exact_int32_dot(ctx, x, y, shapes, a, b)
    if len(dtypes) == 2 and all(d == DType.BOOL for d in dtypes):
        return _batch_dot(ctx, x, y, a, b, lambda out: ctx.op(
            "NotEqual", [out, ctx.floats(0.0, "zero")], {"incompatible_shape_error": True}, dtype=DType.BOOL,
            shape=out.shape, label="to_bool"))
    raise Unsupported(f"layer {ctx.name!r} (Dot) on {names} integers (Keras 3 casts the float32 dot back to their "
                      "dtype, and TensorFlow's cast of values outside its range depends on the tensor's size; lowered "
                      "for int32 with integers, int8 with int8, bool with bool)")


def _as_float32(ctx: LayerContext, x: Value, label: str) -> Value:
    """``x`` cast to float32, as Keras 3's matmul casts integers (8/16-bit ones reach it as float32 already)."""
    if x.dtype == DType.FLOAT32:
        return x
    return ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": DType.FLOAT32, "Truncate": False}, dtype=DType.FLOAT32,
                  shape=x.shape, label=label)


def _int32_sum(ctx: LayerContext, terms: Value, axis: int, size: int | None, shape: tuple[int | None, ...]) -> Value:
    """The int32 sum of ``terms`` along ``axis`` modulo 2^32, as TF's: TF.js's int32 Sum over up to
    :data:`EXACT_INT32_TERMS` terms; over more, or a number unknown in the config, the sums of the terms' 16-bit
    halves (:func:`int32_halves`: cpu's float64 stays exact up to 2^37 terms), then ``high · 2^16 + low`` (cpu's
    int32 Mul and AddV2 are exact below 2^53, then wrap; wasm's wrap)."""
    keep = len(shape) == 2  # rank 2: Keras keeps the summed axis as [batch, 1]

    def total(value: Value, label: str) -> Value:
        return ctx.op("Sum", [value, ctx.ints([axis], f"{label}_axis")], {"keep_dims": keep, "Tidx": DType.INT32},
                      shape=shape, label=label)

    if size is not None and size <= EXACT_INT32_TERMS:
        return total(terms, "dot")
    high, low = int32_halves(ctx.graph, terms, f"{ctx.name}/terms")
    shifted = ctx.binary("Mul", total(high, "high_sum"), ctx.const(np.asarray(1 << 16, np.int32), "half"),
                         label="high_shifted")
    return ctx.binary("AddV2", shifted, total(low, "low_sum"), label="dot")


# -- TimeDistributed ------------------------------------------------------------------------------------------
def _inner(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    inner = config.get("layer") or {}
    return str(inner.get("class_name")), dict(inner.get("config") or {})


def _time_distributed_check(config: dict[str, Any]) -> str | None:
    cls, inner = _inner(config)
    if is_model(config.get("layer") or {}):  # its layers are checked by the walk (:func:`time_distributed_model`),
        return wrapped_width_gap("TimeDistributed", config)  # a float16 wrapper rounds its input (the walk)
    lowering = LOWERINGS.get(cls)
    # keyword tensors are not passed through the wrapper (an RNN's initial_state is simply never given)
    if lowering is None or set(lowering.keywords) - OPTIONAL_KEYWORDS:
        return f"a wrapped {cls}"
    if cls == "TimeDistributed" and _makes_mask(*_inner(inner)):  # its mask is not followed out of two wrappers
        return f"a wrapped TimeDistributed over a mask-making {_inner(inner)[0]}"
    if _returns_several(cls, inner):  # Keras fails to build it (each step's list of outputs)
        return f"a wrapped {cls} that returns several tensors"
    width_gap = wrapped_width_gap("TimeDistributed", config)  # a quantized policy reads as int8_from_float32...
    if width_gap:
        return width_gap
    if inner.get("lora_rank"):  # a LoRA layer's kernel is merged when read (a .h5's in lora.py)
        from .lora import LORA_WEIGHTS

        if cls not in LORA_WEIGHTS:
            return f"a wrapped {cls} with lora_rank"
    gap = lowering.check(inner) if lowering.check else None
    return f"wrapped {cls}: {gap}" if gap else None


def _makes_mask(cls: str, config: dict[str, Any]) -> bool:
    """A layer whose output carries a mask of its own making (:func:`.masking.makes_mask`, or a TimeDistributed over
    one): inside another TimeDistributed a gap, since the walk does not follow it out, and Keras hands it to the
    layers after, as a masked LSTM showed."""
    from .masking import makes_mask

    return makes_mask(cls, config) or (cls == "TimeDistributed" and _makes_mask(*_inner(config)))


def _returns_several(cls: str, config: dict[str, Any]) -> bool:
    """Whether the layer returns a list: ``return_state``, or Bidirectional's ``merge_mode=None``."""
    if cls == "Bidirectional":
        wrapped = (config.get("layer") or {}).get("config") or {}
        return ("merge_mode" in config and config["merge_mode"] is None) or bool(wrapped.get("return_state"))
    return bool(config.get("return_state"))


@lowers("TimeDistributed", check=_time_distributed_check)
def time_distributed(ctx: LayerContext) -> Value:
    check_call_kwargs(ctx, ())
    cls, config = _inner(ctx.config)
    lowering = LOWERINGS.get(cls)
    if lowering is None:
        raise Unsupported(f"layer {ctx.name!r} (TimeDistributed) wraps {cls}")
    shape = ctx.shape()
    if len(shape) < 3:
        raise Unsupported(f"layer {ctx.name!r} (TimeDistributed) needs an input of rank 3 or more (got {list(shape)})")
    folded = merge_axes(ctx, ctx.x, 0, 2, "fold_time")
    inner_name = str(config.get("name") or cls)
    inner_ctx = LayerContext(ctx.graph, f"{ctx.name}/{inner_name}", cls, config, [folded], ctx.weights, ctx.source,
                             keras3=ctx.keras3, weight_consts=ctx.weight_consts)
    inner_ctx.keras_dtypes = list(ctx.keras_dtypes)  # each step's integer dtype (Resizing rounds back to it)
    from .masking import (GLOBAL_AVERAGE_1D, TIME_DISTRIBUTED_READERS, masked_global_average_1d,
                          nested_time_distributed_reader)

    nested_reader = cls == "TimeDistributed" and nested_time_distributed_reader(ctx.config) is not None
    if ctx.mask is not None and cls == "TimeDistributed" and not nested_reader:  # lowered unmasked
        raise Unsupported(f"layer {ctx.name!r} (TimeDistributed) over a TimeDistributed with a mask")
    if ctx.mask is not None and (cls in TIME_DISTRIBUTED_READERS or nested_reader):  # folded for the next wrapper
        inner_ctx.mask = _folded_mask(ctx, ctx.mask, shape)
        inner_ctx.masks = [inner_ctx.mask]
    if inner_ctx.mask is not None and cls in GLOBAL_AVERAGE_1D:  # the walk's masked mean, per step
        y = masked_global_average_1d(inner_ctx, inner_ctx.mask)
    else:
        y = lowering.lower(inner_ctx)
    if isinstance(y, list):
        raise Unsupported(f"layer {ctx.name!r} (TimeDistributed) wraps a {cls} that returns several tensors")
    ctx.output_keras_dtype = inner_ctx.output_keras_dtype  # an int64 RMSNormalization held as int32, for the walk
    return split_first_axis(ctx, y, ctx.x, 2, "unfold_time")


def time_distributed_model(ctx: LayerContext, run: Callable[[Value], Value], depth: int = 1) -> Value:
    """TimeDistributed over a Sequential or Functional model: time folded into the batch as :func:`time_distributed`
    folds it, the model's layers lowered on that by ``run`` (the walk's nested-model lowering, each layer with its
    own weights), and its one output unfolded. Keras computes each step's call of the model alone (Keras 3) or the
    folded batch at once (tf_keras); the layers lowered here (at inference, no mask from outside the model reaching
    them: :meth:`.layer_gaps.LayerGaps._time_distributed_model`) compute each row alone, so both are the same numbers.
    ``depth`` wrappers around the model (TimeDistributed(TimeDistributed(model))) fold that many time axes: each
    wrapper's fold of the next, and Keras 3's calls of the inner wrapper's ``call`` per step, are that one fold."""
    check_call_kwargs(ctx, ())
    shape = ctx.shape()
    if len(ctx.inputs) != 1 or len(shape) < 2 + depth:
        raise Unsupported(f"layer {ctx.name!r} (TimeDistributed) needs one input of rank {2 + depth} or more (got "
                          f"{len(ctx.inputs)} of shape {list(shape)})")
    y = run(merge_axes(ctx, ctx.x, 0, 1 + depth, "fold_time"))
    return split_first_axis(ctx, y, ctx.x, 1 + depth, "unfold_time")


def masked_model_gap(keras3: bool | None) -> str | None:
    """Why a mask into TimeDistributed(model) whose layers read it is not lowered (None: it is): only a file whose
    Keras flavour is not known (which layers read the mask depends on it: :func:`mask_reaches_model`)."""
    return "the Keras flavour that saved it is not known" if keras3 is None else None


def mask_reaches_model(config: dict[str, Any], input_dtype: str | None, keras3: bool | None,
                       integer_dtype: DType | None = None) -> bool:
    """Whether the layers of a model a masked TimeDistributed wraps read the step's mask (measured, Keras 3.15 and
    tf_keras 2.21). Keras 3 hands step ``t`` ``mask[:, t]`` to the model's ``call``, which sets it on its input after
    casting that to its Input's dtype: always. tf_keras hands the folded mask to the model's ``__call__`` with the
    values its wrapper cast to its compute dtype (floats only: ``integer_dtype`` stays); where the model's Input has
    another dtype its cast makes a new tensor without the mask, and the layers compute unmasked (a float16 wrapper,
    int32 values, a float64 Input)."""
    if keras3 is not False:
        return True
    held = integer_dtype.name.lower() if integer_dtype is not None else _compute_dtype(config)
    return held == (input_dtype or "float32")


def _compute_dtype(config: dict[str, Any]) -> str:
    """The dtype a tf_keras layer casts its float inputs to: its policy's compute dtype."""
    policy = dtype_name(config.get("dtype")) or "float32"
    return {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}.get(policy, policy)


def folded_model_mask(ctx: LayerContext, mask: Value, depth: int = 1) -> Value:
    """The mask the wrapped model's layers read per step (:func:`mask_reaches_model`), folded as its input is: the
    same per step in both flavours (Keras 3 ``mask[:, t]``, tf_keras the mask reshaped: a built-in wrapped layer, a
    model too, always takes tf_keras's reshape path, a batch size fixed in the config included), through ``depth``
    wrappers (TimeDistributed(TimeDistributed(model)): each wrapper hands its step's mask to the next, so the model
    reads the mask folded over both time axes, session 29). On integers the Input keeps, the walk's readers inside
    take it as on a nested model's integer Input (measured against ``model(x)`` and ``predict``, session 29)."""
    return _folded_mask(ctx, mask, ctx.shape(), depth)


def model_out_mask(ctx: LayerContext, mask: Value, inner: Value | None, depth: int = 1) -> Value:
    """tf_keras's mask of a masked TimeDistributed(model) whose layers read the mask: the wrapped model's
    ``compute_mask`` of the folded input and mask (the mask its output carries), reshaped back to ``[batch, steps,
    ...]``; where that is None (a pooling or an RNN without sequences last), the input's mask reduced to ``[batch,
    steps]`` with ``any``. Keras 3 hands the input's mask on (its default ``compute_mask``). Through ``depth``
    wrappers the innermost reshapes or reduces its mask and each outer one reshapes that back: the same, over
    ``depth`` time axes."""
    if ctx.keras3:
        return mask
    if inner is not None:
        return split_first_axis(ctx, inner, ctx.x, 1 + depth, "unfold_time_mask")
    return _steps_mask(ctx, mask, depth)


def _steps_mask(ctx: LayerContext, mask: Value, depth: int = 1) -> Value:
    """tf_keras's reduction of a TimeDistributed's input mask to ``[batch, steps]`` (``any`` over the later axes),
    where the wrapped layer's ``compute_mask`` gives none (``depth`` wrappers: to ``[batch, steps, inner steps]``)."""
    mask_shape = ctx.shape(mask)
    if len(mask_shape) <= 1 + depth:
        return mask
    axes = list(range(1 + depth, len(mask_shape)))
    return ctx.op("Any", [mask, ctx.ints(axes, "out_mask_axes")], {"keep_dims": False, "Tidx": DType.INT32},
                  dtype=DType.BOOL, shape=tuple(mask_shape[:1 + depth]), label="out_mask")


def _folded_mask(ctx: LayerContext, mask: Value, shape: tuple[int | None, ...], depth: int = 1) -> Value:
    """Each step's mask for the inner layer, folded as its input is: Keras 3 hands ``mask[:, t]`` to the call of
    step ``t``, tf_keras the mask reshaped to ``[batch·T, ...]``; both need one mask entry per inner step (``depth``
    wrappers: the batch and ``depth`` time axes folded into one)."""
    mask_shape = ctx.shape(mask)
    if len(mask_shape) != len(shape) - 1 or any(None not in (m, d) and m != d for m, d in zip(mask_shape, shape)):
        raise Unsupported(f"layer {ctx.name!r} (TimeDistributed): a mask of shape {list(mask_shape)} into a wrapped "
                          f"{_inner(ctx.config)[0]} on an input of shape {list(shape)}")
    return merge_axes(ctx, mask, 0, 1 + depth, "fold_time_mask")


def time_distributed_out_mask(ctx: LayerContext, mask: Value) -> Value:
    """The mask of a masked TimeDistributed's output: Keras 3 hands the input's on; tf_keras asks the inner layer's
    ``compute_mask`` and, where that gives none (GlobalAveragePooling1D, an RNN without sequences), reduces the
    input's mask to ``[batch, steps]`` with ``any``."""
    cls, config = _inner(ctx.config)
    from .masking import TIME_DISTRIBUTED_READERS, nested_time_distributed_reader

    depth = 1
    if (nested := nested_time_distributed_reader(ctx.config)) is not None:  # each wrapper's compute_mask in turn
        cls, config, depth = nested
    mask_shape = ctx.shape(mask)
    if cls == "Bidirectional":  # its compute_mask: the input's when it returns sequences (merged), else None
        config = (config.get("layer") or {}).get("config") or {}
    if ctx.keras3 or cls not in TIME_DISTRIBUTED_READERS or config.get("return_sequences") or \
            len(mask_shape) <= 1 + depth:
        return mask
    return _steps_mask(ctx, mask, depth)


def time_distributed_mask(ctx: LayerContext) -> Value:
    """tf_keras's mask of TimeDistributed(Masking) or TimeDistributed(Embedding(mask_zero=True)): the inner layer's
    ``compute_mask`` of the folded input (``any(x != mask_value, -1)``; ``ids != 0``), reshaped back to
    ``[batch, steps, ...]``, which is the same computation on the unfolded input."""
    from .masking import make_mask

    cls, config = _inner(ctx.config)
    inner_ctx = LayerContext(ctx.graph, ctx.name, cls, config, [ctx.x], [], ctx.source, keras3=ctx.keras3,
                             weight_consts=ctx.weight_consts)
    return make_mask(inner_ctx)


# -- SpectralNormalization ------------------------------------------------------------------------------------
def _spectral_normalization_check(config: dict[str, Any]) -> str | None:
    cls, inner = _inner(config)
    lowering = LOWERINGS.get(cls)
    if lowering is None or lowering.keywords:
        return f"a wrapped {cls}"
    if inner.get("lora_rank"):  # with LoRA the wrapper keeps no kernel of its own: its weights are laid out apart
        return f"a wrapped {cls} with lora_rank"
    gap = lowering.check(inner) if lowering.check else None
    return f"wrapped {cls}: {gap}" if gap else None


def _spectral_inner_weights(ctx: LayerContext, cls: str) -> list:
    """The wrapped layer's weights among a SpectralNormalization's. A ``.keras`` archive saves the wrapper's own
    reference to the kernel and ``vector_u`` first, then the wrapped layer's weights; a ``.h5`` file saves each
    variable once, the trainable ones first: the wrapped layer's (kernel first), then ``vector_u`` (``[1, units]``)."""
    weights = list(ctx.weights)
    if len(weights) >= 3 and tuple(weights[0].shape) == tuple(weights[2].shape) and \
            tuple(weights[1].shape) == (1, tuple(weights[0].shape)[-1]):
        return weights[2:]
    kernel = tuple(weights[0].shape) if weights else ()
    if ctx.source.lower().endswith((".h5", ".hdf5")) and len(weights) >= 2 and kernel and \
            tuple(weights[-1].shape) == (1, kernel[-1]):
        return weights[:-1]
    raise ctx.error(f"has {len(weights)} weights that do not fit a wrapped {cls} (its kernel, vector_u, then the "
                    "wrapped layer's; in .h5 files the wrapped layer's, then vector_u)")


@lowers("SpectralNormalization", check=_spectral_normalization_check)
def spectral_normalization(ctx: LayerContext) -> Value:
    """Keras 3's SpectralNormalization at inference: the wrapped layer as saved (the kernel is normalized, and
    ``vector_u`` updated, only when training). Its weights: its own reference to the kernel and ``vector_u``, then
    the wrapped layer's. tf_keras's wrapper (which Keras cannot rebuild from its config) is not lowered."""
    check_call_kwargs(ctx, ())
    cls, config = _inner(ctx.config)
    if not ctx.keras3:
        raise Unsupported(f"layer {ctx.name!r} (SpectralNormalization) of tf_keras")
    dtype = ctx.integer_dtype()
    if dtype is not None and dtype not in (DType.INT32, DType.INT64, DType.BOOL):
        raise Unsupported(f"layer {ctx.name!r} (SpectralNormalization) on {dtype.numpy} integers (Keras casts the "
                          f"wrapped layer's float32 result back to them; TensorFlow's cast of floats outside "
                          f"{dtype.numpy}'s range depends on the tensor's size: lowered for int32, int64 and bool)")
    inner_weights = _spectral_inner_weights(ctx, cls)
    inner_ctx = LayerContext(ctx.graph, f"{ctx.name}/{config.get('name') or cls}", cls, config, [ctx.x],
                             inner_weights, ctx.source, keras3=ctx.keras3, weight_consts=ctx.weight_consts)
    inner_ctx.keras_dtypes = list(ctx.keras_dtypes)
    y = LOWERINGS[cls].lower(inner_ctx)
    return y if dtype is None else _spectral_cast_back(ctx, y, dtype)


def _spectral_cast_back(ctx: LayerContext, y: Value, dtype: DType) -> Value:
    """Keras 3's ``ops.cast(output, inputs.dtype)`` of the wrapped layer's float32 result, as TF's CPU cast gives it:
    truncated toward zero (NaN and magnitudes past the range: the minimum), bools ``!= 0``; tracked as that dtype. An
    Embedding's result is its table's values, exactly; a computing layer's may differ from TF's by a rounding, which
    truncation can show: the conversion names the layer (:func:`.integer_layer_dtypes.warn_truncation`). A float cast
    to int64 is refused unless it picks constants inside int32's range (an Embedding's rows): past 2^31 TF.js holds
    only its low 32 bits, which later layers would read."""
    from .integer_layer_dtypes import INT64_FROM_FLOATS, constants_within_int32, warn_truncation
    from .op_layers import float_to_int32, float_to_int64_low_bits

    if y.dtype != DType.FLOAT32:
        raise Unsupported(f"layer {ctx.name!r} (SpectralNormalization) gave a {y.dtype.name.lower()} result on "
                          "integers")
    what = f"layer {ctx.name!r} (SpectralNormalization of {dtype.name.lower()})"
    if dtype == DType.BOOL:
        cast = ctx.op("NotEqual", [y, ctx.floats(0.0, "zero")], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                      shape=y.shape, label="as_bool")
    elif dtype == DType.INT64 and not constants_within_int32(y):
        raise Unsupported(INT64_FROM_FLOATS.format(what=f"{what} around {_inner(ctx.config)[0]}"))
    else:
        warn_truncation(ctx, what, y)
        cast = (float_to_int32 if dtype == DType.INT32 else float_to_int64_low_bits)(ctx, y, "as_integer")
    ctx.output_keras_dtype = dtype
    return cast
