"""Op layers: Keras 3 ``cdist``, ``allclose`` and ``vander`` (session 19, helper H2's probe: the traced path converted
them, the lowering refused them).

Each is written in the op order of Keras 3's TensorFlow backend, in float32, so that the numbers are TensorFlow's:
``cdist`` is ``sqrt(sum(square(expand_dims(x, -2) - expand_dims(y, -3)), -1))``, ``allclose`` is
``all((isfinite(x1) & isfinite(x2) & |x1 - x2| <= atol + rtol·|x2|) | x1 == x2)`` (or both NaN with ``equal_nan``),
``vander`` is ``pow(float32(x)[..., None], float32(powers))`` cast back to ``x``'s dtype.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..op_calls import TensorArg
from .op_layers import OpCall, OpSpec, _int32, float_to_int32, register_op_layers
from .op_layers_elementwise import _bool_op, _is_nan, _operands

I32, F32, BOOL = DType.INT32, DType.FLOAT32, DType.BOOL


def _cdist(c: OpCall) -> Value:
    """``sqrt(sum((x[..., :, None, :] - y[..., None, :, :])², -1))`` of float32 tensors of rank 2 or more."""
    x, y = c.tensor("x"), c.tensor("y")
    if x.dtype != F32 or y.dtype != F32:
        raise c.gap(f"{x.dtype.value} and {y.dtype.value} tensors (lowered for float32)")
    ctx = c.ctx
    rx, ry = len(ctx.shape(x)), len(ctx.shape(y))
    if rx < 2 or ry < 2:
        raise c.gap("inputs of rank below 2")
    dx, dy = ctx.shape(x)[-1], ctx.shape(y)[-1]
    if dx is None or dy is None or dx != dy:
        raise c.gap(f"last sizes {dx} and {dy} (Keras needs them equal and known)")
    diff = ctx.binary("Sub", ctx.expand_dims(x, rx - 1, "x_rows"), ctx.expand_dims(y, ry - 2, "y_columns"),
                      label="difference")
    squares = ctx.unary("Square", diff, label="squared")
    shape = ctx.shape(squares)
    total = ctx.op("Sum", [squares, ctx.ints(-1, "sum_axis")], {"keep_dims": False, "Tidx": I32},
                   shape=tuple(shape[:-1]), label="sum")
    return ctx.unary("Sqrt", total, label="cdist")


def _allclose(c: OpCall) -> Value:
    """A scalar bool: every pair close (finite and within ``atol + rtol·|x2|``) or equal (or both NaN with
    ``equal_nan``); of integers every pair equal."""
    x1, x2 = _operands(c, "x1", "x2", floats=False)
    ctx = c.ctx
    equal_nan = c.value("equal_nan", False)
    if equal_nan not in (True, False):
        raise c.gap(f"equal_nan={equal_nan!r}")
    equal = _bool_op(c, "Equal", [x1, x2], "equal")
    if x1.dtype == F32:
        rtol, atol = (float(c.value(key, default)) for key, default in (("rtol", 1e-5), ("atol", 1e-8)))
        finite = _bool_op(c, "LogicalAnd", [_bool_op(c, "IsFinite", [x1], "x1_finite"),
                                            _bool_op(c, "IsFinite", [x2], "x2_finite")], "finite")
        distance = ctx.unary("Abs", ctx.binary("Sub", x1, x2, label="difference"), label="distance")
        bound = ctx.binary("AddV2", ctx.floats(atol, "atol"), ctx.binary(
            "Mul", ctx.floats(rtol, "rtol"), ctx.unary("Abs", x2, label="abs_x2"), label="relative"), label="bound")
        close = _bool_op(c, "LessEqual", [distance, bound], "close")
        equal = _bool_op(c, "LogicalOr", [_bool_op(c, "LogicalAnd", [finite, close], "finite_close"), equal],
                         "close_or_equal")
        if equal_nan:
            both = _bool_op(c, "LogicalAnd", [_is_nan(c, x1, "x1_nan"), _is_nan(c, x2, "x2_nan")], "both_nan")
            equal = _bool_op(c, "LogicalOr", [equal, both], "pairs")
    rank = len(ctx.shape(equal))
    return ctx.op("All", [equal, ctx.ints(list(range(rank)), "all_axes")], {"keep_dims": False, "Tidx": I32},
                  dtype=BOOL, shape=(), label="allclose")


def _vander(c: OpCall) -> Value:
    """``x[..., None] ** powers`` in float32 (``N - 1`` down to 0, or up with ``increasing``), cast back to int32
    for int32 ``x`` as TF casts (INT_MIN past int32's range)."""
    x = c.tensor("x")
    if x.dtype not in (F32, I32):
        raise c.gap(f"{x.dtype.value} tensor (lowered for float32 and int32)")
    ctx = c.ctx
    shape = ctx.shape(x)
    count = c.value("N", None)
    if count is None:
        count = shape[0] if shape else None
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 4096:
        raise c.gap(f"N={count!r} (lowered for a known count up to 4096)")
    increasing = c.value("increasing", False)
    if increasing not in (True, False):
        raise c.gap(f"increasing={increasing!r}")
    powers = np.arange(count) if increasing else np.arange(count - 1, -1, -1)
    base = x if x.dtype == F32 else ctx.op("Cast", [x], {"SrcT": I32, "DstT": F32, "Truncate": False}, dtype=F32,
                                           shape=x.shape, label="x_float")
    column = ctx.expand_dims(base, len(shape), "x_column")
    out = ctx.binary("Pow", column, ctx.floats(powers.astype(np.float32), "powers"), label="vander")
    if x.dtype == F32:
        return out
    # TF's powf is exact on integers below 2^24, webgl's GLSL pow is not (26.999 truncates to 26): rounding the
    # integer-valued powers first changes nothing where float32 holds them, and above 2^24 floats are integers
    out = ctx.op("Round", [out], {"T": F32}, dtype=F32, shape=out.shape, label="vander_rounded")
    return float_to_int32(ctx, out, "vander_int32")


def take_flattened(c: OpCall) -> Value:
    """Keras 3 ``take(x, indices)`` without an axis: ``x`` flattened (batch included), an index ``i < 0`` read as
    ``i + size`` with the run-time total size (``where(i < 0, i + size, i)``, as Keras's TensorFlow backend), then a
    GatherV2 on axis 0. A constant index outside the tensor of known size is a gap; over a size known only at run
    time TF.js's GatherV2 raises on it as TensorFlow does."""
    from .dynamic_shape import runtime_size

    x = _int32(c, "x")
    if x.dtype not in (F32, I32, BOOL):
        raise c.gap(f"a {x.dtype.value} tensor")
    ctx = c.ctx
    shape = ctx.shape(x)
    total = None if None in shape else int(np.prod(shape, dtype=np.int64))
    if total is not None and total >= 2**31:
        raise c.gap(f"{total} entries (past int32)")
    flat = ctx.op("Reshape", [x, ctx.ints([-1], "flat_shape")], {"Tshape": I32}, shape=(total,), label="flat")
    if isinstance(c.arguments.get("indices"), TensorArg):
        ids = _int32(c, "indices")
        if ids.dtype != I32:
            raise c.gap(f"{ids.dtype.value} indices")
    else:
        array = np.asarray(c.value("indices"))
        if array.dtype.kind not in "iu" or array.size == 0 or array.min() < -2**31 or array.max() >= 2**31:
            raise c.gap(f"indices {c.value('indices')!r}")
        if total is not None:
            wrapped = np.where(array < 0, array + total, array)
            outside = (wrapped < 0) | (wrapped >= total)
            if outside.any():
                raise c.gap(f"index {int(array[outside].flat[0])} outside a tensor of {total} entries "
                            "(TensorFlow's gather raises)")
        ids = ctx.ints(array, "indices")
    size = ctx.ints(total, "size") if total is not None else runtime_size(ctx, flat, 0, "flat")
    negative = ctx.op("Less", [ids, ctx.ints(0, "zero")], dtype=BOOL, shape=ids.shape, label="negative")
    wrapped = ctx.op("SelectV2", [negative, ctx.binary("AddV2", ids, size, label="from_end"), ids], {"T": I32},
                     dtype=I32, shape=ids.shape, label="wrapped")
    return ctx.op("GatherV2", [flat, wrapped, ctx.ints(0, "axis")],
                  {"Tparams": x.dtype, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=x.dtype,
                  shape=ctx.shape(ids), label="take")


register_op_layers(keras_ops={
    ("CDist",): OpSpec(("x", "y"), _cdist),
    ("AllClose",): OpSpec(("x1", "x2"), _allclose, ("rtol", "atol", "equal_nan")),
    ("Vander",): OpSpec(("x",), _vander, ("N", "increasing")),
})
