"""Op layers: more tf_keras TFOpLambda functions (tf.*, tf.math.*, tf.linalg.*, tf.signal.*).

Registered into :mod:`.op_layers`'s tables (see :func:`.op_layers.register_op_layers`). These are functions real
tf_keras models call on Keras tensors that the session-15 probe (``/work/notes/probe15/tf_more_probe.py``) found
converted by the traced path but refused here: TF1-era spellings (``tf.compat.v1.where``/``div``,
``nn.xw_plus_b``/``relu_layer``, ``nn.fused_batch_norm``, ``batch_gather``, ``boolean_mask``,
``nn.depth_to_space``), C-style division (``truncatediv``/``truncatemod``), ``convert_to_tensor`` (which
``tf.experimental.numpy`` records first), ``identity_n``, ``accumulate_n``, ``space_to_batch_nd``/``batch_to_space_nd``,
``linalg.normalize``, two losses (``nn.weighted_cross_entropy_with_logits``, ``nn.log_poisson_loss``),
``is_non_decreasing``/``is_strictly_increasing``, ``debugging.check_numerics``, ``nn.dropout`` at rate 0 and
``signal.overlap_and_add``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..op_calls import TensorArg
from .op_layers import (OpCall, OpSpec, _axis, _cast_int64, _divide, _exact_floor_div, _floats, _integer_division,
                        _ints, _outputs, _select, register_op_layers)


# -- division: Python 2's div, C's truncating division ------------------------------------------------------
def _operand_dtype(c: OpCall, *names: str) -> DType:
    """The dtype of the first tensor among the operands (a constant one takes it)."""
    for name in names:
        value = c.arguments.get(name)
        if isinstance(value, TensorArg):
            return c.ctx.inputs[value.index].dtype
    raise c.gap("no tensor operand")


def _plain_floats(c: OpCall) -> bool:
    """float32 tensors that hold floats in Keras too (not 8/16-bit integers the walk holds as float32)."""
    return _operand_dtype(c, "x", "y") == DType.FLOAT32 and all(d is None for d in c.ctx.keras_dtypes)


def _v1_div(c: OpCall) -> Value:
    """``tf.compat.v1.div(x, y)``: Python 2's ``/`` (TF's ``_div_python2``): a floor division of integers, a true
    division of floats."""
    return _divide(c) if _plain_floats(c) else _integer_division("FloorDiv")(c)


def _int_operands(c: OpCall) -> tuple[Value, Value]:
    """Integer operands in int32 (int64 model inputs cast, as TF.js holds them); other dtypes are a gap."""
    x, y = c.pair("x", "y")
    x, y = _cast_int64(c, x, "x_int32"), _cast_int64(c, y, "y_int32")
    if x.dtype != DType.INT32 or y.dtype != DType.INT32:
        raise c.gap(f"operands of dtypes {x.dtype.value} and {y.dtype.value}")
    return x, y


def _signs_differ(c: OpCall, x: Value, y: Value, zero: Value) -> Value:
    """``(x < 0) != (y < 0)``, bool."""
    shape = _shape_of(x, y)
    below = [c.ctx.op("Less", [v, zero], dtype=DType.BOOL, shape=v.shape, label=f"{label}_negative")
             for v, label in ((x, "x"), (y, "y"))]
    return c.ctx.op("NotEqual", below, {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=shape,
                    label="signs_differ")


def _shape_of(x: Value, y: Value) -> Any:
    from .context import broadcast_shape

    return broadcast_shape(x.shape, y.shape)


def _truncated(op: str) -> Callable[[OpCall], Value]:
    """``tf.truncatediv``/``tf.truncatemod``: division rounding toward zero, C's ``/`` and ``%``.

    int32: from the exact floor division and TF's FloorMod (remainder of ``y``'s sign): where the remainder is not 0
    and the signs of ``x`` and ``y`` differ, the quotient is one more and the remainder ``r - y`` (within int32:
    ``|r| < |y|`` with ``r`` of ``y``'s sign). ``INT32_MIN / -1`` wraps to INT32_MIN as TF's does. float32:
    ``truncatediv`` is TF's ``trunc(x / y)`` (RealDiv, then Ceil below 0, Floor above); ``truncatemod`` is ``fmod``,
    TF's FloorMod (which the core pass makes exact in TF.js) with ``y`` taken back where it added it, and ``x``
    itself where ``y`` is infinite (``fmod(x, ±Inf) = x``, NaN for infinite ``x``)."""
    def lower(c: OpCall) -> Value:
        if _plain_floats(c):
            return _float_truncated(c, op)
        x, y = _int_operands(c)
        ctx = c.ctx
        zero = ctx.ints(0, "zero")
        remainder = ctx.binary("FloorMod", x, y, label="floor_remainder")
        inexact = ctx.op("NotEqual", [remainder, zero], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                         shape=remainder.shape, label="inexact")
        adjust = ctx.op("LogicalAnd", [inexact, _signs_differ(c, x, y, zero)], dtype=DType.BOOL,
                        shape=remainder.shape, label="toward_zero")
        if op == "TruncateMod":
            return _select(c, adjust, ctx.binary("Sub", remainder, y, label="remainder_minus_y"), remainder,
                           "truncated_remainder")
        quotient = _exact_floor_div(ctx, x, y)
        return _select(c, adjust, ctx.binary("AddV2", quotient, ctx.ints(1, "one"), label="quotient_plus_one"),
                       quotient, "truncated_quotient")
    return lower


def _float_truncated(c: OpCall, op: str) -> Value:
    """:func:`_truncated` of float32 tensors."""
    x, y = c.pair("x", "y")
    ctx = c.ctx
    zero = ctx.floats(0.0, "zero")
    if op == "TruncateDiv":
        quotient = ctx.binary("RealDiv", x, y, label="quotient")
        negative = ctx.op("Less", [quotient, zero], dtype=DType.BOOL, shape=quotient.shape, label="negative")
        return _select(c, negative, ctx.unary("Ceil", quotient, label="ceil"), ctx.unary("Floor", quotient,
                                                                                         label="floor"), "trunc")
    remainder = ctx.binary("FloorMod", x, y, label="floor_remainder")
    inexact = ctx.op("NotEqual", [remainder, zero], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                     shape=remainder.shape, label="inexact")
    adjust = ctx.op("LogicalAnd", [inexact, _signs_differ(c, x, y, zero)], dtype=DType.BOOL, shape=remainder.shape,
                    label="toward_zero")
    fmod = _select(c, adjust, ctx.binary("Sub", remainder, y, label="remainder_minus_y"), remainder, "fmod")
    # fmod(x, ±Inf): x (NaN for an infinite x: x - x·0)
    own = ctx.binary("Sub", x, ctx.binary("Mul", x, zero, label="x_times_zero"), label="x_itself")
    infinite = ctx.op("IsInf", [y], dtype=DType.BOOL, shape=y.shape, label="y_infinite")
    return _select(c, infinite, own, fmod, "truncated_remainder")


# -- data-dependent sizes: where(condition), boolean_mask --------------------------------------------------------
def _coordinates(c: OpCall, condition: Value) -> Value:
    """``tf.compat.v1.where(condition)``: the coordinates of the True entries in row-major order, one row each (TF's
    Where, int64 in Keras, int32 in TF.js as every int64), of a count known only at run time (TF.js runs the graph
    with ``executeAsync``)."""
    if condition.dtype != DType.BOOL:
        raise c.gap(f"a {condition.dtype.value} condition (lowered for bool)")
    rank = len(c.ctx.shape(condition))
    return c.ctx.op("Where", [condition], {"T": DType.BOOL}, dtype=DType.INT32, shape=(None, rank), label="Where")


def _boolean_mask(c: OpCall) -> Value:
    """``tf.boolean_mask(tensor, mask, axis)`` as TF computes it: the ``k`` axes from ``axis`` (``k`` the mask's rank)
    merged into one, and the entries where the flattened mask is True gathered along it, in order. A constant mask
    is a constant gather; a tensor one goes through Where (a count known only at run time). Sizes after the merged
    axes must be known, and so must the merged ones unless a tensor mask starts at the batch (a constant one over the
    batch, which TF checks against the batch's size at run time, is a gap)."""
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    axis = c.value("axis", None)
    if isinstance(axis, int) and axis < 0:  # TF slices the shape from it and fails
        raise c.gap(f"axis={axis} (TensorFlow's boolean_mask fails on a negative axis)")
    axis = 0 if axis is None else _axis(c, axis, len(shape))
    tensor_mask = isinstance(c.arguments.get("mask"), TensorArg)
    if tensor_mask:
        mask = c.tensor("mask")
        mask_shape = c.ctx.shape(mask)
    else:
        array = np.asarray(c.value("mask"))
        if array.dtype != np.bool_:
            raise c.gap(f"a constant mask of dtype {array.dtype} (TF takes bools)")
        mask_shape = array.shape
    k = len(mask_shape)
    merged = shape[axis:axis + k]
    if not k or axis + k > len(shape) or (tensor_mask and mask.dtype != DType.BOOL) or any(
            a is not None and b is not None and a != b for a, b in zip(merged, mask_shape)) or \
            None in shape[axis + k:] or (axis > 0 or not tensor_mask) and None in merged or None in shape[1:axis]:
        raise c.gap(f"a mask of shape {list(mask_shape)} on axis {axis} of shape {list(shape)} (lowered for sizes "
                    "known after the batch)")
    if x.dtype not in (DType.FLOAT32, DType.INT32, DType.BOOL):
        raise c.gap(f"a {x.dtype.value} tensor")
    ctx = c.ctx
    size = None if None in merged else math.prod(merged)
    flat_x = x if k == 1 else ctx.reshape(x, [*shape[:axis], size, *shape[axis + k:]], "merged")
    if tensor_mask:
        flat_mask = mask if k == 1 else ctx.reshape(mask, [None if size is None else size], "flat_mask")
        rows = _coordinates(c, flat_mask)
        ids = ctx.op("Squeeze", [rows], {"squeeze_dims": [1]}, shape=(None,), label="indices")
    else:
        picked = np.flatnonzero(array.reshape(-1)).astype(np.int32)
        ids = ctx.ints(picked, "indices")
    out = (*shape[:axis], None if tensor_mask else len(picked), *shape[axis + k:])
    return ctx.op("GatherV2", [flat_x, ids, ctx.ints(axis, "axis")],
                  {"Tparams": x.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                  dtype=x.dtype, shape=out, label="GatherV2")


# -- TF1 spellings: where, xw_plus_b, relu_layer --------------------------------------------------------------
def _v1_where(c: OpCall) -> Value:
    """``tf.compat.v1.where(condition, x, y)`` (TF's Select): a bool condition of ``x``'s shape, or a vector picking
    whole rows; ``x`` and ``y`` of one shape (no broadcasting). Without ``x`` and ``y``: the coordinates of the True
    entries (:func:`_coordinates`)."""
    if not c.has("x") and not c.has("y"):
        return _coordinates(c, c.tensor("condition"))
    if not c.has("x") or not c.has("y"):
        raise c.gap("a condition with one branch (TF raises)")
    condition = c.tensor("condition")
    x, y = c.pair("x", "y")
    shape, other = c.ctx.shape(x), c.ctx.shape(y)
    rank = len(shape)
    if condition.dtype != DType.BOOL or x.dtype != y.dtype or len(other) != rank or \
            x.dtype not in (DType.FLOAT32, DType.INT32, DType.BOOL):
        raise c.gap(f"a {condition.dtype.value} condition with branches of dtypes {x.dtype.value}/{y.dtype.value} "
                    f"and shapes {list(shape)}/{list(other)}")
    picked = c.ctx.shape(condition)
    if any(a is not None and b is not None and a != b for a, b in zip(shape, other)):
        raise c.gap(f"branches of shapes {list(shape)} and {list(other)}")
    if len(picked) == 1 and rank > 1:  # one condition per row
        condition = c.ctx.reshape(condition, [picked[0], *([1] * (rank - 1))], "rows")
    elif len(picked) != rank or any(a is not None and b is not None and a != b for a, b in zip(picked, shape)):
        raise c.gap(f"a condition of shape {list(picked)} for branches of shape {list(shape)}")
    merged = tuple(a if a is not None else b for a, b in zip(shape, other))
    return c.ctx.op("SelectV2", [condition, x, y], {"T": x.dtype}, dtype=x.dtype, shape=merged, label="Select")


def _xw_plus_b(relu: bool) -> Callable[[OpCall], Value]:
    """``tf.compat.v1.nn.xw_plus_b(x, weights, biases)``: ``matmul(x, weights) + biases`` (BiasAdd); ``relu_layer``
    the same through Relu, of float32 (the weights and biases are often constants in the call); ``x`` may be a batch of
    matrices, as TF's matmul broadcasts the weights over it."""
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        weights, biases = c.tensor("weights", like=x), c.tensor("biases", like=x)
        _floats(c, x, weights, biases)
        sx, sw, sb = c.ctx.shape(x), c.ctx.shape(weights), c.ctx.shape(biases)
        if len(sx) < 2 or len(sw) != 2 or len(sb) != 1 or None not in (sx[-1], sw[0]) and sx[-1] != sw[0] or \
                None not in (sw[1], sb[0]) and sw[1] != sb[0]:
            raise c.gap(f"x, weights, biases of shapes {list(sx)}, {list(sw)}, {list(sb)}")
        if len(sx) == 2:
            product = c.ctx.op("MatMul", [x, weights], {"transpose_a": False, "transpose_b": False},
                               shape=(sx[0], sw[1]), label="MatMul")
        else:  # TF's matmul of a batch of matrices by one matrix: BatchMatMulV2, broadcasting it
            product = c.ctx.op("BatchMatMulV2", [x, weights], {"adj_x": False, "adj_y": False},
                               shape=(*sx[:-1], sw[1]), label="BatchMatMulV2")
        out = c.ctx.op("BiasAdd", [product, biases], {"data_format": "NHWC"}, shape=product.shape, label="BiasAdd")
        return c.ctx.unary("Relu", out) if relu else out
    return lower


# -- identities: convert_to_tensor, identity_n ---------------------------------------------------------------
def _convert_to_tensor(c: OpCall) -> Value:
    """``tf.convert_to_tensor`` of a tensor (``tf.experimental.numpy`` records it first): the tensor itself. TF raises
    on a ``dtype`` other than the tensor's; ``dtype_hint`` only matters for Python values."""
    x = c.tensor("x")
    dtype = c.value("dtype", None)
    if dtype is not None and DType.from_any(str(dtype)) != x.dtype:
        raise c.gap(f"dtype={dtype!r} for a {x.dtype.value} tensor")
    return c.ctx.unary("Identity", x)


def _identity_n(c: OpCall) -> list[Value]:
    """``tf.identity_n([a, b, ...])``: each tensor itself, one output per tensor."""
    return [c.ctx.unary("Identity", v, label=f"Identity_{i}") for i, v in enumerate(c.tensors("x"))]


def _accumulate_n(c: OpCall) -> Value:
    """``tf.math.accumulate_n(inputs)``: the sum of same-shaped float32 tensors (TF sums them with AddN); ``shape``
    and ``tensor_dtype`` only check the inputs."""
    values = c.tensors("inputs")
    _floats(c, *values)
    shapes = {c.ctx.shape(v) for v in values}
    if len(shapes) != 1 or c.value("tensor_dtype", None) not in (None, "float32"):
        raise c.gap(f"inputs of shapes {sorted(map(list, shapes))} (TF sums tensors of one shape)")
    declared = c.value("shape", None)
    shape = c.ctx.shape(values[0])
    if declared is not None and (not isinstance(declared, list) or len(declared) != len(shape) or any(
            a is not None and b is not None and a != b for a, b in zip(declared, shape))):
        raise c.gap(f"shape={declared!r} for inputs of shape {list(shape)}")
    if len(values) == 1:  # TF returns that tensor itself: its mask with it
        if any(m is not None for m in c.ctx.masks):
            raise c.gap("one masked tensor (TensorFlow returns it itself, so at run time the output keeps the mask "
                        "Keras's saved graph says it drops)")
        return c.ctx.unary("Identity", values[0])
    return c.ctx.op("AddN", values, {"N": len(values)}, shape=shape, label="AddN")


# -- blocks between space and batch ---------------------------------------------------------------------------
def _block_spec(c: OpCall, x: Value, pads_key: str) -> tuple[list[int], list[list[int]], tuple[int | None, ...]]:
    """``block_shape`` (M ints >= 1) and the M ``[before, after]`` pairs of ``pads_key`` (>= 0) for the M axes after
    the batch of ``x``; the shape of ``x``."""
    shape = c.ctx.shape(x)
    block = _ints(c, "block_shape")
    pads = c.value(pads_key)
    if not block or len(block) >= len(shape) or any(b < 1 for b in block) or not isinstance(pads, list) or \
            len(pads) != len(block) or not all(isinstance(p, list) and len(p) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in p) for p in pads):
        raise c.gap(f"block_shape={c.value('block_shape')!r}, {pads_key}={pads!r} for a rank-{len(shape)} tensor")
    return block, pads, shape


def _space_to_batch(c: OpCall) -> Value:
    """``tf.space_to_batch(x, block_shape, paddings)`` (``space_to_batch_nd``): SpaceToBatchND, the batch times the
    blocks' product (a padded size the block does not divide, which TF raises on, is a gap)."""
    x = c.tensor("x")
    block, pads, shape = _block_spec(c, x, "paddings")
    spatial = []
    for d, b, (before, after) in zip(shape[1:], block, pads):
        if d is not None and (d + before + after) % b:
            raise c.gap(f"a padded size {d + before + after} that block {b} does not divide")
        spatial.append(None if d is None else (d + before + after) // b)
    out = (None if shape[0] is None else shape[0] * math.prod(block), *spatial, *shape[1 + len(block):])
    return c.ctx.op("SpaceToBatchND", [x, c.ctx.ints(block, "block_shape"), c.ctx.ints(pads, "paddings")],
                    {"Tblock_shape": DType.INT32, "Tpaddings": DType.INT32}, shape=out)


def _batch_to_space(c: OpCall) -> Value:
    """``tf.batch_to_space(x, block_shape, crops)`` (``batch_to_space_nd``): BatchToSpaceND, the batch divided by the
    blocks' product (crops larger than a size are a gap)."""
    x = c.tensor("x")
    block, crops, shape = _block_spec(c, x, "crops")
    spatial = []
    for d, b, (before, after) in zip(shape[1:], block, crops):
        if d is not None and d * b < before + after:
            raise c.gap(f"crops {before}+{after} of a size {d * b}")
        spatial.append(None if d is None else d * b - before - after)
    count = math.prod(block)
    if shape[0] is not None and shape[0] % count:
        raise c.gap(f"a batch of {shape[0]} that the blocks' product {count} does not divide")
    out = (None if shape[0] is None else shape[0] // count, *spatial, *shape[1 + len(block):])
    return c.ctx.op("BatchToSpaceND", [x, c.ctx.ints(block, "block_shape"), c.ctx.ints(crops, "crops")],
                    {"Tblock_shape": DType.INT32, "Tcrops": DType.INT32}, shape=out)


# -- normalization: fused_batch_norm (inference), linalg.normalize ------------------------------------------
def _fused_batch_norm(c: OpCall) -> list[Value]:
    """``tf.compat.v1.nn.fused_batch_norm(x, scale, offset, mean, variance, is_training=False)``: TF's inference
    kernel, ``x · s + (offset - mean · s)`` with ``s = scale · rsqrt(variance + epsilon)`` per channel (last axis for
    NHWC/NDHWC, axis 1 for NCHW/NCDHW); the other two outputs are ``mean`` and ``variance``. Training mode (batch
    statistics) is a gap."""
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    fmt = str(c.value("data_format", "NHWC"))
    if c.value("is_training", True) or float(c.value("exponential_avg_factor", 1.0)) != 1.0 or \
            len(shape) not in (4, 5) or fmt not in ("NHWC", "NCHW", "NDHWC", "NCDHW") or len(fmt) != len(shape):
        raise c.gap(f"is_training={c.value('is_training', True)!r}, data_format={fmt!r} on a rank-{len(shape)} tensor "
                    "(lowered for inference)")
    epsilon = c.value("epsilon", 0.001)
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise c.gap(f"epsilon={epsilon!r}")
    stats = [c.tensor(name, like=x) for name in ("scale", "offset", "mean", "variance")]
    _floats(c, x, *stats)
    axis = 1 if fmt.startswith("NC") else len(shape) - 1
    if any(len(c.ctx.shape(v)) != 1 or None not in (c.ctx.shape(v)[0], shape[axis]) and
           c.ctx.shape(v)[0] != shape[axis] for v in stats):
        raise c.gap(f"statistics of shapes {[list(c.ctx.shape(v)) for v in stats]} for {shape[axis]} channels")
    scale, offset, mean, variance = stats
    if axis == 1:
        scale, offset, mean, variance = (c.ctx.reshape(v, [shape[1], *([1] * (len(shape) - 2))], f"{n}_channels")
                                         for v, n in zip(stats, ("scale", "offset", "mean", "variance")))
    ctx = c.ctx
    factor = ctx.binary("Mul", scale, ctx.unary("Rsqrt", ctx.scalar_op("AddV2", variance, float(epsilon),
                                                                      "variance_epsilon"), label="inverse_std"),
                        label="factor")
    shift = ctx.binary("Sub", offset, ctx.binary("Mul", mean, factor, label="mean_factor"), label="shift")
    y = ctx.binary("AddV2", ctx.binary("Mul", x, factor, label="scaled"), shift, label="normalized")
    return [y, ctx.unary("Identity", stats[2], label="mean_out"), ctx.unary("Identity", stats[3], label="var_out")]


def _normalize(c: OpCall) -> list[Value]:
    """``tf.linalg.normalize(x, ord, axis)``: ``(x / norm, norm)`` with TF's ``norm(keepdims=True)``: for one axis
    ``'euclidean'``/2 (``sqrt(sum(x·x))``), 1, ``inf`` and other ``p > 0`` (``sum(|x|^p)^(1/p)``); for two axes
    ``'euclidean'``/``'fro'``, 1 and ``inf``. No axis (the batch too) and the spectral norm (ord 2 of a matrix, an
    SVD) are gaps."""
    x = c.tensor("x")
    _floats(c, x)
    rank = len(c.ctx.shape(x))
    order = c.value("ord", "euclidean")
    axis = c.value("axis", None)
    axes = [_axis(c, a, rank) for a in (axis if isinstance(axis, list) else [axis])] if axis is not None else None
    matrix = axes is not None and len(axes) == 2
    vector_ok = order in ("euclidean", 1, math.inf) or isinstance(order, (int, float)) and \
        not isinstance(order, bool) and order > 0
    if axes is None or len(axes) not in (1, 2) or len(set(axes)) != len(axes) or \
            (matrix and order not in ("euclidean", "fro", 1, math.inf)) or (not matrix and not vector_ok):
        raise c.gap(f"ord={order!r}, axis={axis!r}")
    norm = _norm(c, x, order, axes)
    return [c.ctx.binary("RealDiv", x, norm, label="normalized"), c.ctx.unary("Identity", norm, label="norm")]


def _keep_reduce(c: OpCall, op: str, x: Value, axes: list[int], label: str) -> Value:
    shape = c.ctx.shape(x)
    return c.ctx.op(op, [x, c.ctx.ints(axes, f"{label}_axes")], {"keep_dims": True, "Tidx": DType.INT32},
                    shape=tuple(1 if i in axes else d for i, d in enumerate(shape)), label=label)


def _norm(c: OpCall, x: Value, order: Any, axes: list[int]) -> Value:
    """TF's ``linalg_ops.norm(x, order, axes, keepdims=True)`` for the orders :func:`_normalize` takes."""
    ctx = c.ctx
    if order in ("euclidean", "fro") or order == 2:
        squares = ctx.binary("Mul", x, x, label="squares")
        return ctx.unary("Sqrt", _keep_reduce(c, "Sum", squares, axes, "square_sum"), label="euclidean")
    magnitude = ctx.unary("Abs", x, label="magnitude")
    if order == 1:
        out = _keep_reduce(c, "Sum", magnitude, [axes[0]], "abs_sum")
        return _keep_reduce(c, "Max", out, [axes[-1]], "max_column") if len(axes) == 2 else out
    if order == math.inf:
        out = _keep_reduce(c, "Sum", magnitude, [axes[1]], "abs_row_sum") if len(axes) == 2 else magnitude
        return _keep_reduce(c, "Max", out, [axes[0]], "abs_max")
    powered = ctx.binary("Pow", magnitude, ctx.floats(float(order), "order"), label="powered")
    total = _keep_reduce(c, "Sum", powered, axes, "power_sum")
    return ctx.binary("Pow", total, ctx.floats(1.0 / float(order), "inverse_order"), label="p_norm")


# -- losses ---------------------------------------------------------------------------------------------------
def _weighted_cross_entropy(c: OpCall) -> Value:
    """``tf.nn.weighted_cross_entropy_with_logits(labels, logits, pos_weight)`` as TF writes it:
    ``(1 - z)·x + (1 + (q - 1)·z)·(log1p(exp(-|x|)) + relu(-x))`` (v1's ``targets`` is ``labels``)."""
    if not c.has("labels") and c.has("targets"):
        c.arguments["labels"] = c.arguments.pop("targets")
    logits = c.tensor("logits")
    labels, weight = c.tensor("labels", like=logits), c.tensor("pos_weight", like=logits)
    _floats(c, logits, labels, weight)
    ctx = c.ctx
    one = ctx.floats(1.0, "one")
    log_weight = ctx.binary("AddV2", one, ctx.binary("Mul", ctx.binary("Sub", weight, one, label="weight_minus_one"),
                                                     labels, label="weighted_labels"), label="log_weight")
    softplus = ctx.binary("AddV2", ctx.unary("Log1p", ctx.unary("Exp", ctx.unary(
        "Neg", ctx.unary("Abs", logits, label="abs_logits"), label="minus_abs"), label="exp"), label="log1p"),
        ctx.unary("Relu", ctx.unary("Neg", logits, label="minus_logits"), label="relu"), label="softplus")
    negative = ctx.binary("Mul", ctx.binary("Sub", one, labels, label="one_minus_labels"), logits, label="negative")
    return ctx.binary("AddV2", negative, ctx.binary("Mul", log_weight, softplus, label="positive"))


def _log_poisson_loss(c: OpCall) -> Value:
    """``tf.nn.log_poisson_loss(targets, log_input, compute_full_loss)`` as TF writes it: ``exp(c) - c·z``, plus
    Stirling's ``z·log(z) - z + 0.5·log(2π·z)`` where ``z`` is outside ``[0, 1]`` for the full loss."""
    log_input = c.tensor("log_input")
    targets = c.tensor("targets", like=log_input)
    _floats(c, log_input, targets)
    ctx = c.ctx
    loss = ctx.binary("Sub", ctx.unary("Exp", log_input, label="exp"), ctx.binary("Mul", log_input, targets,
                                                                                 label="log_input_targets"),
                      label="loss")
    if not c.value("compute_full_loss", False):
        return loss
    stirling = ctx.binary("AddV2", ctx.binary("Sub", ctx.binary("Mul", targets, ctx.unary("Log", targets, label="log"),
                                                                label="z_log_z"), targets, label="minus_z"),
                          ctx.scalar_op("Mul", ctx.unary("Log", ctx.scalar_op("Mul", targets, 2 * math.pi, "two_pi_z"),
                                                         label="log_two_pi_z"), 0.5, "half_log"), label="stirling")
    zero = ctx.floats(0.0, "zero")
    inside = ctx.op("LogicalAnd", [
        ctx.op("GreaterEqual", [targets, zero], dtype=DType.BOOL, shape=targets.shape, label="at_least_zero"),
        ctx.op("LessEqual", [targets, ctx.floats(1.0, "one")], dtype=DType.BOOL, shape=targets.shape,
               label="at_most_one")], dtype=DType.BOOL, shape=targets.shape, label="inside")
    extra = _select(c, inside, ctx.op("ZerosLike", [targets], shape=targets.shape, label="zeros"), stirling, "extra")
    return ctx.binary("AddV2", loss, extra, label="full_loss")


# -- monotonic checks ---------------------------------------------------------------------------------------
def _monotonic(op: str) -> Callable[[OpCall], Value]:
    """``tf.math.is_non_decreasing``/``is_strictly_increasing``: ``all(x[1:] >= x[:-1])`` (``>``) over the
    flattened tensor, batch included (True for fewer than two entries), a bool scalar."""
    def lower(c: OpCall) -> Value:
        x = _cast_int64(c, c.tensor("x"), "x_int32")
        if x.dtype not in (DType.FLOAT32, DType.INT32):
            raise c.gap(f"a {x.dtype.value} tensor")
        flat = c.ctx.reshape(x, [None], "flattened")
        masks = {"ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0}
        later = c.ctx.op("StridedSlice", [flat, c.ctx.ints([1], "later_begin"), c.ctx.ints([0], "later_end"),
                                          c.ctx.ints([1], "later_strides")],
                         {"Index": DType.INT32, "begin_mask": 0, "end_mask": 1, **masks}, shape=(None,), label="later")
        earlier = c.ctx.op("StridedSlice", [flat, c.ctx.ints([0], "earlier_begin"), c.ctx.ints([-1], "earlier_end"),
                                            c.ctx.ints([1], "earlier_strides")],
                           {"Index": DType.INT32, "begin_mask": 1, "end_mask": 0, **masks}, shape=(None,),
                           label="earlier")
        steps = c.ctx.op(op, [later, earlier], dtype=DType.BOOL, shape=(None,), label="steps")
        return c.ctx.op("All", [steps, c.ctx.ints([0], "axes")], {"keep_dims": False, "Tidx": DType.INT32},
                        dtype=DType.BOOL, shape=(), label="All")
    return lower


# -- batch_gather -------------------------------------------------------------------------------------------
def _batch_gather(c: OpCall) -> Value:
    """``tf.compat.v1.batch_gather(params, indices)``: TF's ``_batch_gather`` with ``batch_dims = rank(indices) - 1``,
    as TF computes it: each index plus its row's offset into the flattened leading axes (an index past its row reads
    the next row, as in TF), one GatherV2 of the flattened params. Sizes after the batch must be known; a position
    outside the flattened params (TF raises) is made -1, so that TF.js raises too."""
    from .dynamic_shape import runtime_range, runtime_size
    from .op_layers import _int32

    x, ids = _int32(c, "x"), _int32(c, "indices")
    shape, index_shape = c.ctx.shape(x), c.ctx.shape(ids)
    q = len(index_shape)
    if ids.dtype != DType.INT32 or not 1 <= q <= len(shape) or None in shape[1:] or None in index_shape[1:] or \
            any(a is not None and b is not None and a != b for a, b in zip(shape[:q - 1], index_shape[:q - 1])) or \
            x.dtype not in (DType.FLOAT32, DType.INT32, DType.BOOL):
        raise c.gap(f"{ids.dtype.value} indices of shape {list(index_shape)} into a {x.dtype.value} tensor of shape "
                    f"{list(shape)} (lowered for sizes known after the batch)")
    ctx = c.ctx
    positions = ids
    for d in range(q - 1):
        stride = math.prod(shape[d + 1:q])
        if d == 0:
            rows = ctx.binary("Mul", runtime_range(ctx, ids, 0, "row"), ctx.ints(stride, "row_stride"),
                              label="row_offsets")
            offsets = ctx.reshape(rows, [None, *([1] * (q - 1))], "row_offsets_grid")
        else:
            grid = np.arange(shape[d], dtype=np.int32).reshape([shape[d] if i == d else 1 for i in range(q)])
            offsets = ctx.ints(grid * stride, f"offsets_{d}")
        positions = ctx.binary("AddV2", positions, offsets, label=f"positions_{d}")
    rest = list(shape[q:])
    flat = ctx.reshape(x, [None, *rest], "flat_params")
    total = runtime_size(ctx, flat, 0, "total")
    inside = ctx.op("LogicalAnd", [
        ctx.op("GreaterEqual", [positions, ctx.ints(0, "first")], dtype=DType.BOOL, shape=positions.shape,
               label="from_first"),
        ctx.op("Less", [positions, total], dtype=DType.BOOL, shape=positions.shape, label="before_end")],
        dtype=DType.BOOL, shape=positions.shape, label="inside")
    positions = _select(c, inside, positions, ctx.ints(-1, "outside"), "checked_positions")
    return ctx.op("GatherV2", [flat, positions, ctx.ints(0, "axis")],
                  {"Tparams": x.dtype, "Tindices": DType.INT32, "Taxis": DType.INT32, "batch_dims": 0},
                  dtype=x.dtype, shape=(*index_shape, *rest), label="GatherV2")


# -- debugging, dropout at inference, v1 depth_to_space ----------------------------------------------------------
def _check_numerics(c: OpCall) -> Value:
    """``tf.debugging.check_numerics(x, message)``: TF's CheckNumerics node, which the conversion treats as it treats
    the traced graph's (``--strip_debug_ops``, on by default, removes it: the values pass through)."""
    x = c.tensor("x")
    _floats(c, x)
    message = c.value("message")
    if not isinstance(message, str):
        raise c.gap(f"message={message!r}")
    return c.ctx.op("CheckNumerics", [x], {"message": message}, shape=x.shape)


def _dropout(c: OpCall) -> Value:
    """``tf.nn.dropout(x, rate=0)`` (``tf.compat.v1.nn.dropout(keep_prob=1)`` records it): TF's fast path returns
    ``x`` itself (a masked ``x`` keeps its mask at run time: a gap). Any other rate drops at random at inference too
    (``tf.nn.dropout`` has no training flag): a gap."""
    x = c.tensor("x")
    rate = c.value("rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != 0:
        raise c.gap(f"rate={rate!r} (tf.nn.dropout drops at random in inference too)")
    if any(m is not None for m in c.ctx.masks):  # as the walk refuses tf.convert_to_tensor of a masked tensor
        raise c.gap("rate=0 of a masked tensor (TensorFlow returns that tensor itself, so at run time the output keeps "
                    "the mask Keras's saved graph says it drops)")
    return c.ctx.unary("Identity", x)


def _v1_depth_to_space(c: OpCall) -> Value:
    """``tf.compat.v1.nn.depth_to_space(input, block_size, data_format)``: the v2 lowering, of float32 tensors (TF.js's
    DepthToSpace is float32 only)."""
    from .op_layers import _depth_to_space

    _floats(c, c.tensor("x"))
    return _depth_to_space(c)


# -- signal.overlap_and_add -------------------------------------------------------------------------------------
#: The most frames :func:`_overlap_and_add` adds up one by one (a Pad per frame).
_MAX_FRAMES = 256


def _overlap_and_add(c: OpCall) -> Value:
    """``tf.signal.overlap_and_add(signal, frame_step)``: frame ``f`` of the last-but-one axis placed at
    ``f · frame_step`` of an output of ``frame_length + frame_step · (frames - 1)`` and the frames added (each padded
    into place, then AddN); a step equal to the frame length is TF's reshape. Known frame counts and lengths; a
    frame count unknown in the config: :func:`_runtime_overlap_and_add`."""
    x = c.tensor("x")
    _floats(c, x)
    shape = c.ctx.shape(x)
    step = c.value("frame_step")
    if len(shape) >= 2 and shape[-2] is None and shape[-1] is not None and isinstance(step, int) and \
            not isinstance(step, bool) and 0 < step and -(-shape[-1] // step) <= _MAX_FRAMES:
        return _runtime_overlap_and_add(c, x, step)
    if len(shape) < 2 or isinstance(step, bool) or not isinstance(step, int) or step < 1 or None in shape[-2:] or \
            not 0 < shape[-2] <= _MAX_FRAMES:
        raise c.gap(f"frame_step={step!r} on shape {list(shape)} (lowered for known sizes, up to {_MAX_FRAMES} "
                    "frames)")
    frames, length = shape[-2], shape[-1]
    size = length + step * (frames - 1)
    out = (*shape[:-2], size)
    if step == length:
        return c.ctx.reshape(x, list(out), "fast_path")
    rank = len(shape)
    pieces = _outputs(c, "Unpack", [x], {"num": frames, "axis": rank - 2, "T": DType.FLOAT32},
                      [(DType.FLOAT32, (*shape[:-2], length))] * frames)
    placed = []
    for f, piece in enumerate(pieces):
        pads = [[0, 0]] * (rank - 2) + [[f * step, size - length - f * step]]
        placed.append(c.ctx.op("Pad", [piece, c.ctx.ints(pads, f"frame_{f}_pads")], {"Tpaddings": DType.INT32},
                               shape=out, label=f"frame_{f}"))
    return placed[0] if frames == 1 else c.ctx.op("AddN", placed, {"N": frames}, shape=out, label="AddN")


def _runtime_overlap_and_add(c: OpCall, x: Value, step: int) -> Value:
    """``overlap_and_add`` of a frame count unknown in the config, as TensorFlow splits it: each frame of ``length``
    padded to ``segments = ceil(length / step)`` pieces of ``step``; piece ``k`` of every frame lands ``k`` pieces
    after the frame's start, so the ``segments`` piece planes, each shifted ``k`` frames down (a Pad of the frames
    axis), are added (AddN), flattened, and cut to ``length + step · (frames - 1)`` at run time."""
    from .dynamic_shape import reshape_to, runtime_size, runtime_sizes

    ctx = c.ctx
    shape = ctx.shape(x)
    rank, length = len(shape), shape[-1]
    outer = runtime_sizes(ctx, x, 0, rank - 2, "outer") if rank > 2 else []
    if step == length:
        return reshape_to(ctx, x, [outer, [-1]], (*shape[:-2], None), "fast_path")
    segments = -(-length // step)
    if segments * step != length:
        pads = [[0, 0]] * (rank - 1) + [[0, segments * step - length]]
        x = ctx.op("Pad", [x, ctx.ints(pads, "frame_pads")], {"Tpaddings": DType.INT32},
                   shape=(*shape[:-1], segments * step), label="frames_padded")
    pieces = reshape_to(ctx, x, [runtime_sizes(ctx, x, 0, rank - 1, "frames"), [segments, step]],
                        (*shape[:-1], segments, step), "pieces")
    planes = _outputs(c, "Unpack", [pieces], {"num": segments, "axis": rank - 1, "T": DType.FLOAT32},
                      [(DType.FLOAT32, (*shape[:-1], step))] * segments)
    shifted = []
    for k, plane in enumerate(planes):
        pads = [[0, 0]] * (rank - 2) + [[k, segments - 1 - k], [0, 0]]
        shifted.append(ctx.op("Pad", [plane, ctx.ints(pads, f"piece_{k}_pads")], {"Tpaddings": DType.INT32},
                              shape=(*shape[:-1], step), label=f"piece_{k}"))
    total = shifted[0] if segments == 1 else ctx.op("AddN", shifted, {"N": segments}, shape=shifted[0].shape,
                                                      label="AddN")
    flat = reshape_to(ctx, total, [outer, [-1]], (*shape[:-2], None), "flat")
    frames = runtime_size(ctx, x, rank - 2, "frame_count")
    size = ctx.binary("AddV2", ctx.binary("Mul", frames, ctx.ints(step, "step"), label="steps"),
                      ctx.ints(length - step, "last_rest"), label="output_length")
    sizes = ctx.op("ConcatV2", [ctx.ints([-1] * (rank - 2), "outer_whole"), ctx.expand_dims(size, 0, "length"),
                                ctx.ints(0, "sizes_axis")], {"N": 2, "Tidx": DType.INT32}, dtype=DType.INT32,
                   shape=(rank - 1,), label="sizes")
    return ctx.op("Slice", [flat, ctx.ints([0] * (rank - 1), "begin"), sizes], {"Index": DType.INT32},
                  shape=(*shape[:-2], None), label="overlapped")


# -- the table --------------------------------------------------------------------------------------------
register_op_layers(keras_ops={}, tf_functions={
    ("truncatediv",): OpSpec(("x", "y"), _truncated("TruncateDiv")),
    ("truncatemod",): OpSpec(("x", "y"), _truncated("TruncateMod")),
    ("compat.v1.div",): OpSpec(("x", "y"), _v1_div),
    ("compat.v1.where",): OpSpec(("condition", "x", "y"), _v1_where),
    ("compat.v1.nn.xw_plus_b",): OpSpec(("x", "weights", "biases"), _xw_plus_b(relu=False)),
    ("compat.v1.nn.relu_layer",): OpSpec(("x", "weights", "biases"), _xw_plus_b(relu=True)),
    ("convert_to_tensor",): OpSpec(("x", "dtype", "dtype_hint"), _convert_to_tensor),
    ("compat.v1.boolean_mask",): OpSpec(("x", "mask", "axis"), _boolean_mask),
    ("identity_n",): OpSpec(("x",), _identity_n),
    ("math.accumulate_n",): OpSpec(("inputs", "shape", "tensor_dtype"), _accumulate_n),
    ("space_to_batch_nd",): OpSpec(("x", "block_shape", "paddings"), _space_to_batch),
    ("compat.v1.batch_to_space_nd",): OpSpec(("x", "block_shape", "crops"), _batch_to_space),
    ("compat.v1.nn.fused_batch_norm",): OpSpec(("x", "scale", "offset", "mean", "variance", "epsilon", "data_format",
                                                "is_training", "exponential_avg_factor"), _fused_batch_norm),
    ("linalg.normalize",): OpSpec(("x", "ord", "axis"), _normalize),
    ("nn.weighted_cross_entropy_with_logits",): OpSpec(("labels", "logits", "pos_weight"), _weighted_cross_entropy),
    ("compat.v1.nn.weighted_cross_entropy_with_logits",): OpSpec(("labels", "logits", "pos_weight"),
                                                                 _weighted_cross_entropy, ("targets",)),
    ("nn.log_poisson_loss",): OpSpec(("targets", "log_input", "compute_full_loss"), _log_poisson_loss),
    ("compat.v1.batch_gather",): OpSpec(("x", "indices"), _batch_gather),
    ("debugging.check_numerics",): OpSpec(("x", "message"), _check_numerics),
    ("nn.dropout",): OpSpec(("x", "rate", "noise_shape", "seed"), _dropout),
    ("compat.v1.nn.depth_to_space",): OpSpec(("x", "block_size", "data_format"), _v1_depth_to_space),
    ("signal.overlap_and_add",): OpSpec(("x", "frame_step"), _overlap_and_add),
    ("math.is_non_decreasing",): OpSpec(("x",), _monotonic("GreaterEqual")),
    ("math.is_strictly_increasing",): OpSpec(("x",), _monotonic("Greater")),
})
