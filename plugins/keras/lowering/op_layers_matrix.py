"""Op layers: diagonals, traces, rolls and other matrix-shaped ops (keras.ops, tf.linalg, tf.roll).

Registered into :mod:`.op_layers`'s tables (see :func:`.op_layers.register_op_layers`). Keras 3's ``roll``,
``trace``, ``diagonal``, ``diag``, ``diagflat``, ``kron``, ``isin``, ``signbit`` (integers and bools), ``cross`` and
``logspace`` and ``corrcoef``; tf_keras's ``tf.roll``, ``linalg.band_part``, ``linalg.diag_part``, ``linalg.diag``,
``linalg.tensor_diag``, ``linalg.tensor_diag_part``, ``linalg.trace``, ``linalg.set_diag`` and ``linalg.cross``.

TF.js has no Roll, MatrixDiagPartV3, MatrixDiagV3, MatrixSetDiagV3 or Cross kernel and its MatrixBandPart is wrong, so
the traced path (``--loader=tensorflow``) cannot convert most of these: here they are gathers with index tables
computed now where the sizes are known (built with ``Range`` at run time where the lowering needs them and they are
not), SelectV2 over constant masks, and elementwise products. Bools are moved as int32 and read back (``!= 0``):
TF.js's wasm gathers and selects bools wrongly.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import int32_product, is_narrow

from ..op_calls import KERAS_OP_PREFIX
from .context import broadcast_shape
from .dynamic_shape import reshape_to, runtime_range, runtime_size, runtime_sizes
from .op_layers import OpCall, OpSpec, _axis, register_op_layers
from .runtime_fold import merge_axes

I32, F32, BOOL = DType.INT32, DType.FLOAT32, DType.BOOL
#: The most elements of a constant index table or mask (a diagonal matrix's, a band's) lowered.
_MAX_TABLE = 1 << 22


# -- shared helpers -------------------------------------------------------------------------------------------
def _keras3(c: OpCall) -> bool:
    return c.ctx.class_name.startswith(KERAS_OP_PREFIX)


def _int(c: OpCall, name: str, default: Any = None) -> int:
    """A constant int argument within int32 (a bool, float or tensor there is a gap)."""
    value = c.value(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not -2**31 <= int(value) < 2**31:
        raise c.gap(f"{name}={value!r}")
    return int(value)


def _moved(c: OpCall, x: Value, narrow_ok: bool = True) -> Value:
    """``x`` checked for an op that only moves values (float32, int32, bool): 8/16-bit integers keep their Keras
    dtype through it (tracked for the walk); where ``narrow_ok`` is False (an op that computes) they are a gap."""
    narrow = next((d for d in c.ctx.keras_dtypes if is_narrow(d)), None)
    if narrow is not None:
        if not narrow_ok:
            raise c.gap(f"{narrow.numpy} integers (Keras computes in that dtype or promotes it)")
        c.ctx.output_keras_dtype = narrow
    if x.dtype == DType.INT64:
        x = c.ctx.op("Cast", [x], {"SrcT": DType.INT64, "DstT": I32, "Truncate": False}, dtype=I32, shape=x.shape,
                     label="int64_held")
    if x.dtype not in (F32, I32, BOOL):
        raise c.gap(f"a {x.dtype.value} tensor")
    return x



def _two_axes(c: OpCall, x: Value) -> tuple[int, int]:
    """``axis1``/``axis2`` (default 0 and 1) of a tensor of rank 2 or more, two different axes."""
    rank = len(c.ctx.shape(x))
    if rank < 2:
        raise c.gap(f"a rank-{rank} tensor")
    first, second = _axis(c, c.value("axis1", 0), rank), _axis(c, c.value("axis2", 1), rank)
    if first == second:
        raise c.gap(f"axis1 = axis2 = {first}")
    return first, second

def _on_values(c: OpCall, x: Value, fn: Callable[[Value], Value]) -> Value:
    """``fn(x)`` for ops that move values; a bool ``x`` moved as int32 and read back as ``!= 0``."""
    if x.dtype != BOOL:
        return fn(x)
    as_int = c.ctx.op("Cast", [x], {"SrcT": BOOL, "DstT": I32, "Truncate": False}, dtype=I32, shape=x.shape,
                      label="bool_as_int32")
    out = fn(as_int)
    return c.ctx.op("NotEqual", [out, c.ctx.ints(0, "bool_zero")], {"incompatible_shape_error": True}, dtype=BOOL,
                    shape=out.shape, label="as_bool")


def _zero(c: OpCall, x: Value, label: str = "zero") -> Value:
    return c.ctx.const(np.zeros((), x.dtype.numpy), label)


def _gather(c: OpCall, x: Value, indices: Value, axis: int, label: str) -> Value:
    """GatherV2 of ``x`` along ``axis`` (indices known to be in range)."""
    shape = c.ctx.shape(x)
    index_shape = c.ctx.shape(indices)
    return c.ctx.op("GatherV2", [x, indices, c.ctx.ints(axis, f"{label}_axis")],
                    {"Tparams": x.dtype, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=x.dtype,
                    shape=(*shape[:axis], *index_shape, *shape[axis + 1:]), label=label)


def _to_last(c: OpCall, x: Value, axes: list[int], label: str) -> tuple[Value, list[int]]:
    """``x`` with ``axes`` moved last in that order (the other axes in order before them), and the permutation."""
    rank = len(c.ctx.shape(x))
    perm = [i for i in range(rank) if i not in axes] + list(axes)
    return (x if perm == list(range(rank)) else c.ctx.transpose(x, perm, label)), perm


def _scalar_op(c: OpCall, op: str, a: Value, b: Value, label: str) -> Value:
    return c.ctx.op(op, [a, b], dtype=I32, shape=(), label=label)


# -- roll ---------------------------------------------------------------------------------------------------
def _roll_indices(c: OpCall, x: Value, axis: int, shift: int, label: str) -> Value | None:
    """The positions ``(i - shift) mod n`` along ``axis`` that a roll reads (None: no move): constant for a known
    size, from ``Range`` at run time otherwise."""
    size = c.ctx.shape(x)[axis]
    if size is not None:
        if size == 0 or shift % size == 0:
            return None
        return c.ctx.ints((np.arange(size) - shift) % size, f"{label}_positions")
    n = runtime_size(c.ctx, x, axis, label)
    # (i + n - shift mod n) mod n: every term within [0, 2n), no int32 overflow for any shift
    back = _scalar_op(c, "Sub", n, _scalar_op(c, "FloorMod", c.ctx.ints(shift, f"{label}_shift"), n,
                                              f"{label}_shift_mod"), f"{label}_back")
    positions = c.ctx.binary("AddV2", runtime_range(c.ctx, x, axis, f"{label}_range"), back, label=f"{label}_moved")
    return c.ctx.binary("FloorMod", positions, n, label=f"{label}_positions")


def _rolled(c: OpCall, x: Value, shifts: dict[int, int]) -> Value:
    """``x`` rolled by ``shifts[axis]`` along each axis: one GatherV2 per axis that moves."""
    def roll(v: Value) -> Value:
        for axis, shift in sorted(shifts.items()):
            positions = _roll_indices(c, v, axis, shift, f"axis{axis}")
            if positions is not None:
                v = _gather(c, v, positions, axis, f"rolled_axis{axis}")
        return v if v is not x else c.ctx.unary("Identity", v, label="unrolled")
    return _on_values(c, x, roll)


def _roll(c: OpCall) -> Value:
    """``roll(x, shift, axis)`` (``tf.roll``; Keras 3's ``roll``): shifts summed per axis as TF sums them. Keras 3's
    ``axis=None`` rolls the flattened tensor (batch included) and reshapes it back: the same, positions from the
    run-time length."""
    x = _moved(c, c.tensor("x"))
    shape = c.ctx.shape(x)
    shift, axis = c.value("shift"), c.value("axis", None)
    shifts = shift if isinstance(shift, list) else [shift]
    if not all(isinstance(s, int) and not isinstance(s, bool) and -2**31 <= s < 2**31 for s in shifts):
        raise c.gap(f"shift={shift!r}")
    if axis is None:
        if not _keras3(c) or len(shifts) != 1:
            raise c.gap(f"shift={shift!r} without an axis")
        flat = c.ctx.reshape(x, [None if None in shape else int(np.prod(shape))], "flattened")
        rolled = _rolled(c, flat, {0: shifts[0]})
        if sum(d is None for d in shape) <= 1:
            return c.ctx.reshape(rolled, shape, "unflattened")
        return reshape_to(c.ctx, rolled, [runtime_sizes(c.ctx, x, 0, len(shape), "original")], shape, "unflattened")
    axes = axis if isinstance(axis, list) else [axis]
    if len(axes) != len(shifts) or isinstance(axis, list) != isinstance(shift, list):
        raise c.gap(f"shift={shift!r} along axis={axis!r}")
    total: dict[int, int] = {}
    for a, s in zip(axes, shifts):
        a = _axis(c, a, len(shape))
        total[a] = total.get(a, 0) + s
        size = shape[a]
        if size is not None:
            total[a] %= max(size, 1)
        elif not -2**31 <= total[a] < 2**31:
            raise c.gap(f"shift={shift!r} along axis={axis!r} (a total shift past int32)")
    return _rolled(c, x, total)


# -- diagonals ----------------------------------------------------------------------------------------------
def _diagonal_length(rows: int, cols: int, k: int) -> int:
    return max(0, min(rows, cols - k) if k >= 0 else min(rows + k, cols))


def _diagonal_part(c: OpCall, x: Value, k: int, label: str = "diagonal") -> Value:
    """The ``k``-th diagonal of the last two axes of ``x`` (``x[..., i, i + k]``), as a last axis: the two axes
    merged and one GatherV2 at ``i · (cols + 1) + start``; the positions constant where both sizes are known, from
    ``Range`` at run time otherwise."""
    shape = c.ctx.shape(x)
    rows, cols = shape[-2], shape[-1]
    flat = merge_axes(c.ctx, x, len(shape) - 2, len(shape), f"{label}_matrices")
    if rows is not None and cols is not None:
        length = _diagonal_length(rows, cols, k)
        if length == 0:
            raise c.gap(f"offset {k} outside a {rows}x{cols} matrix (an empty diagonal)")
        start = k if k >= 0 else -k * cols
        positions = c.ctx.ints(start + np.arange(length) * (cols + 1), f"{label}_positions")
        return _gather(c, flat, positions, len(shape) - 2, label)
    if abs(k) >= 2**15:
        raise c.gap(f"offset {k} of matrices of sizes unknown in the config")
    n_rows, n_cols = (runtime_size(c.ctx, x, a, f"{label}_{name}") for a, name in ((-2 % len(shape), "rows"),
                                                                                      (len(shape) - 1, "cols")))
    kk = c.ctx.ints(abs(k), f"{label}_offset")
    if k >= 0:
        length = _scalar_op(c, "Minimum", n_rows, _scalar_op(c, "Sub", n_cols, kk, f"{label}_cols_left"),
                            f"{label}_length_raw")
        start = kk
    else:
        length = _scalar_op(c, "Minimum", _scalar_op(c, "Sub", n_rows, kk, f"{label}_rows_left"), n_cols,
                            f"{label}_length_raw")
        start = _scalar_op(c, "Mul", kk, n_cols, f"{label}_start")
    length = _scalar_op(c, "Maximum", length, c.ctx.ints(0, f"{label}_none"), f"{label}_length")
    steps = c.ctx.op("Range", [c.ctx.ints(0, f"{label}_range_start"), length, c.ctx.ints(1, f"{label}_range_delta")],
                     {"Tidx": I32}, dtype=I32, shape=(None,), label=f"{label}_steps")
    stride = _scalar_op(c, "AddV2", n_cols, c.ctx.ints(1, f"{label}_one"), f"{label}_stride")
    positions = c.ctx.binary("AddV2", c.ctx.binary("Mul", steps, stride, label=f"{label}_strided"), start,
                             label=f"{label}_positions")
    return _gather(c, flat, positions, len(shape) - 2, label)


def _diagonal(c: OpCall) -> Value:
    """Keras 3 ``diagonal(x, offset, axis1, axis2)``: the two axes moved last (as Keras's ``moveaxis``), then the
    ``offset``-th diagonal as the last axis."""
    x = _moved(c, c.tensor("x"))
    first, second = _two_axes(c, x)
    k = _int(c, "offset", 0)
    return _on_values(c, x, lambda v: _diagonal_part(c, _to_last(c, v, [first, second], "axes_last")[0], k))


def _tf_diag_part(c: OpCall) -> Value:
    """``tf.linalg.diag_part(x, k)``: one diagonal (``padding_value`` pads only the shorter diagonals of a band: unused;
    a band ``k=(a, b)`` stays a gap, as does an offset outside the matrix, where TF raises)."""
    x = _moved(c, c.tensor("x"))
    _default_diag_options(c)
    _padding_value(c, x)
    if len(c.ctx.shape(x)) < 2:
        raise c.gap(f"a rank-{len(c.ctx.shape(x))} tensor")
    rows, cols = c.ctx.shape(x)[-2:]
    k = _int(c, "k", 0)
    if (k > 0 and cols is not None and k >= cols) or (k < 0 and rows is not None and -k >= rows) or \
            (k != 0 and (rows is None or cols is None)):
        raise c.gap(f"k={k} of a {rows}x{cols} matrix (TensorFlow raises for an offset outside it; offsets lowered "
                    "for known sizes)")
    return _on_values(c, x, lambda v: _diagonal_part(c, v, k))


def _default_diag_options(c: OpCall) -> None:
    """``align`` any (one diagonal: nothing to align), ``num_rows``/``num_cols`` -1 (square)."""
    for name in ("num_rows", "num_cols"):
        if c.value(name, -1) != -1:
            raise c.gap(f"{name}={c.value(name)!r}")
    if str(c.value("align", "RIGHT_LEFT")) not in ("RIGHT_LEFT", "LEFT_RIGHT", "LEFT_LEFT", "RIGHT_RIGHT"):
        raise c.gap(f"align={c.value('align')!r}")


def _padding_value(c: OpCall, v: Value) -> Any:
    """``padding_value``: a number ``v``'s dtype holds exactly (an int for int32, 0/False for bools)."""
    value = c.value("padding_value", 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (v.dtype != F32 and (not float(value).is_integer() or not -2**31 <= value < 2**31)) or \
            (v.dtype == BOOL and value != 0):
        raise c.gap(f"padding_value={value!r} for a {v.dtype.value} tensor")
    return value


def _diagonal_matrix(c: OpCall, v: Value, k: int, fill: Any = 0) -> Value:
    """``tf.linalg.diag(v, k)``: square matrices of side ``n + |k|`` with ``v``'s last axis on the ``k``-th
    diagonal, ``fill`` elsewhere: ``v`` with ``fill`` appended, gathered with a ``(side, side)`` table of ``min(i,
    j)`` on the diagonal and ``n`` (the fill) elsewhere: a constant for a known length, built with ``Range`` at run
    time otherwise."""
    shape = c.ctx.shape(v)
    n, rank = shape[-1], len(shape)
    padded = _padded(c, v, fill)
    if n is not None:
        side = n + abs(k)
        if side * side > _MAX_TABLE:
            raise c.gap(f"a {side}x{side} diagonal matrix")
        i, j = np.arange(side)[:, None], np.arange(side)[None, :]
        table = c.ctx.ints(np.where(j - i == k, np.minimum(i, j), n), "table")
    else:
        length = runtime_size(c.ctx, v, rank - 1, "length")
        side = _scalar_op(c, "AddV2", length, c.ctx.ints(abs(k), "offset_size"), "side")
        steps = c.ctx.op("Range", [c.ctx.ints(0, "range_start"), side, c.ctx.ints(1, "range_delta")], {"Tidx": I32},
                         dtype=I32, shape=(None,), label="steps")
        i = c.ctx.expand_dims(steps, 1, "rows")
        on = c.ctx.op("Equal", [c.ctx.binary("Sub", steps, i, label="above"), c.ctx.ints(k, "offset")],
                      {"incompatible_shape_error": True}, dtype=BOOL, shape=(None, None), label="on_diagonal")
        table = c.ctx.op("SelectV2", [on, c.ctx.binary("Minimum", i, steps, label="sources"), length], {"T": I32},
                         dtype=I32, shape=(None, None), label="table")
    return _gather(c, padded, table, rank - 1, "diagonal_matrix")


def _padded(c: OpCall, v: Value, fill: Any = 0) -> Value:
    """``v`` with ``fill`` appended to its last axis (gathered at index ``n`` for the entries off the diagonal)."""
    shape = c.ctx.shape(v)
    rank = len(shape)
    zero = c.ctx.const(np.full([1] * rank, fill, v.dtype.numpy), "padding_zero")
    return c.ctx.op("ConcatV2", [v, c.ctx.op("BroadcastTo", [zero, _leading_shape(c, v)], {"Tidx": I32},
                                             shape=(*shape[:-1], 1), label="padding"),
                                 c.ctx.ints(rank - 1, "padded_axis")], {"N": 2, "Tidx": I32},
                    shape=(*shape[:-1], None if shape[-1] is None else shape[-1] + 1), label="padded")


def _leading_shape(c: OpCall, v: Value) -> Value:
    """``v``'s shape with its last size 1 (int32), known now or read at run time."""
    shape = c.ctx.shape(v)
    if None not in shape[:-1]:
        return c.ctx.ints([*shape[:-1], 1], "padding_shape")
    head = runtime_sizes(c.ctx, v, 0, len(shape) - 1, "padding_head")
    return c.ctx.op("ConcatV2", [head, c.ctx.ints([1], "padding_tail"), c.ctx.ints(0, "padding_axis")],
                    {"N": 2, "Tidx": I32}, dtype=I32, shape=(len(shape),), label="padding_shape")


def _tf_diag(c: OpCall) -> Value:
    """``tf.linalg.diag(v, k, padding_value)`` (and ``tensor_diag`` of a vector): one diagonal, square."""
    v = _moved(c, c.tensor("diagonal"))
    _default_diag_options(c)
    k = _int(c, "k", 0)
    fill = _padding_value(c, v)
    if not c.ctx.shape(v):
        raise c.gap("a scalar diagonal")
    return _on_values(c, v, lambda w: _diagonal_matrix(c, w, k, fill))


def _tensor_diag(c: OpCall) -> Value:
    """``tf.linalg.tensor_diag(v)`` of a vector (of higher ranks its output interleaves every axis: a gap)."""
    if len(c.ctx.shape(c.tensor("diagonal"))) != 1:
        raise c.gap(f"a rank-{len(c.ctx.shape(c.tensor('diagonal')))} diagonal (lowered for vectors)")
    return _tf_diag(c)


def _tensor_diag_part(c: OpCall) -> Value:
    """``tf.linalg.tensor_diag_part(x)`` of a square matrix: its main diagonal (of higher ranks a gap)."""
    x = _moved(c, c.tensor("x"))
    shape = c.ctx.shape(x)
    if len(shape) != 2 or None in shape or shape[0] != shape[1]:
        raise c.gap(f"a tensor of shape {list(shape)} (lowered for square matrices of known sizes)")
    return _on_values(c, x, lambda v: _diagonal_part(c, v, 0))


def _k3_diag(c: OpCall) -> Value:
    """Keras 3 ``diag(x, k)``: of a vector the ``k``-th diagonal matrix, of a matrix its ``k``-th diagonal."""
    x = _moved(c, c.tensor("x"))
    k = _int(c, "k", 0)
    rank = len(c.ctx.shape(x))
    if rank == 1:
        return _on_values(c, x, lambda v: _diagonal_matrix(c, v, k))
    if rank == 2:
        return _on_values(c, x, lambda v: _diagonal_part(c, v, k))
    raise c.gap(f"a rank-{rank} tensor")


def _diagflat(c: OpCall) -> Value:
    """Keras 3 ``diagflat(x, k)``: the flattened tensor (of sizes known in the config) as a diagonal matrix."""
    x = _moved(c, c.tensor("x"))
    shape = c.ctx.shape(x)
    if None in shape:
        raise c.gap(f"a tensor of shape {list(shape)} (its flattened length, the matrix's size, must be known)")
    k = _int(c, "k", 0)
    flat = c.ctx.reshape(x, [int(np.prod(shape))], "flattened")
    return _on_values(c, flat, lambda v: _diagonal_matrix(c, v, k))


def _set_diag(c: OpCall) -> Value:
    """``tf.linalg.set_diag(x, diagonal, k)``: ``x`` with its ``k``-th diagonal replaced: the diagonal (a 0 appended)
    spread into a matrix by a table of ``min(i, j)`` on the diagonal and its length elsewhere, selected where the
    diagonal's mask is set; table and mask constant for known sizes, built with ``Range`` at run time otherwise."""
    x = _moved(c, c.tensor("x"))
    d = _moved(c, c.tensor("diagonal"))
    if str(c.value("align", "RIGHT_LEFT")) not in ("RIGHT_LEFT", "LEFT_RIGHT", "LEFT_LEFT", "RIGHT_RIGHT"):
        raise c.gap(f"align={c.value('align')!r}")
    shape, d_shape = c.ctx.shape(x), c.ctx.shape(d)
    k = _int(c, "k", 0)
    if len(shape) < 2 or x.dtype != d.dtype or len(d_shape) != len(shape) - 1 or \
            any(a is not None and b is not None and a != b for a, b in zip(d_shape[:-1], shape[:-2])):
        raise c.gap(f"a {x.dtype.value} tensor of shape {list(shape)} and a {d.dtype.value} diagonal of shape "
                    f"{list(d_shape)}")
    rows, cols = shape[-2:]
    if rows is not None and cols is not None and rows * cols <= _MAX_TABLE:
        length = _diagonal_length(rows, cols, k)
        if length == 0 or d_shape[-1] not in (None, length):
            raise c.gap(f"a diagonal of shape {list(d_shape)} for matrices of shape {list(shape)} with k={k} (TF "
                        "raises)")
        i, j = np.arange(rows)[:, None], np.arange(cols)[None, :]
        on_array = j - i == k
        on, table = c.ctx.const(on_array, "mask"), c.ctx.ints(np.where(on_array, np.minimum(i, j), length), "table")
    else:
        i = c.ctx.expand_dims(runtime_range(c.ctx, x, len(shape) - 2, "rows"), 1, "row_column")
        j = runtime_range(c.ctx, x, len(shape) - 1, "cols")
        on = c.ctx.op("Equal", [c.ctx.binary("Sub", j, i, label="above"), c.ctx.ints(k, "offset")],
                      {"incompatible_shape_error": True}, dtype=BOOL, shape=(rows, cols), label="mask")
        table = c.ctx.op("SelectV2", [on, c.ctx.binary("Minimum", i, j, label="sources"),
                                      runtime_size(c.ctx, d, len(d_shape) - 1, "length")], {"T": I32}, dtype=I32,
                         shape=(rows, cols), label="table")

    def spread(v: Value, diagonal: Value) -> Value:
        spread_out = _gather(c, _padded(c, diagonal), table, len(d_shape) - 1, "spread")
        return c.ctx.op("SelectV2", [on, spread_out, v], {"T": v.dtype}, dtype=v.dtype, shape=shape, label="set_diag")
    if x.dtype == BOOL:
        cast = [c.ctx.op("Cast", [v], {"SrcT": BOOL, "DstT": I32, "Truncate": False}, dtype=I32, shape=v.shape,
                         label=f"{label}_as_int32") for v, label in ((x, "x"), (d, "diagonal"))]
        out = spread(*cast)
        return c.ctx.op("NotEqual", [out, c.ctx.ints(0, "bool_zero")], {"incompatible_shape_error": True},
                        dtype=BOOL, shape=out.shape, label="as_bool")
    return spread(x, d)


# -- masks: band_part, trace ------------------------------------------------------------------------------------
def _band_mask(c: OpCall, x: Value, lower: int, upper: int, label: str) -> Value:
    """The bool ``(rows, cols)`` mask of ``0 <= i - j <= lower`` (any below when ``lower < 0``) and ``0 <= j - i <=
    upper`` (likewise) over ``x``'s last two axes: a constant for known sizes, from ``Range`` at run time otherwise
    (and for matrices of more than :data:`_MAX_TABLE` entries)."""
    shape = c.ctx.shape(x)
    rows, cols = shape[-2], shape[-1]
    if rows is not None and cols is not None and rows * cols <= _MAX_TABLE:
        i, j = np.arange(rows)[:, None], np.arange(cols)[None, :]
        mask = ((lower < 0) | (i - j <= lower)) & ((upper < 0) | (j - i <= upper))
        return c.ctx.const(mask, f"{label}_mask")
    i = c.ctx.expand_dims(runtime_range(c.ctx, x, len(shape) - 2, f"{label}_rows"), 1, f"{label}_row_column")
    j = runtime_range(c.ctx, x, len(shape) - 1, f"{label}_cols")
    below = c.ctx.binary("Sub", i, j, label=f"{label}_below")  # i - j
    parts = []
    if lower >= 0:
        parts.append(c.ctx.op("LessEqual", [below, c.ctx.ints(lower, f"{label}_lower")], dtype=BOOL,
                              shape=(rows, cols), label=f"{label}_within_lower"))
    if upper >= 0:
        parts.append(c.ctx.op("GreaterEqual", [below, c.ctx.ints(-upper, f"{label}_upper")], dtype=BOOL,
                              shape=(rows, cols), label=f"{label}_within_upper"))
    if not parts:
        return c.ctx.op("Equal", [below, below], {"incompatible_shape_error": True}, dtype=BOOL, shape=(rows, cols),
                        label=f"{label}_mask")
    if len(parts) == 1:
        return parts[0]
    return c.ctx.op("LogicalAnd", parts, dtype=BOOL, shape=(rows, cols), label=f"{label}_mask")


def _band_part(c: OpCall) -> Value:
    """``tf.linalg.band_part(x, num_lower, num_upper)``: ``x`` inside the band, 0 outside (NaN too), as TF's
    MatrixBandPart (TF.js's is wrong): a SelectV2 over the band's mask. TF raises where a bound passes the matrix
    (``num_lower`` > rows, ``num_upper`` > cols): a gap where the size is known, lowered for bounds up to 1 where
    it is not."""
    x = _moved(c, c.tensor("x"))
    shape = c.ctx.shape(x)
    lower, upper = _int(c, "num_lower"), _int(c, "num_upper")
    if len(shape) < 2:
        raise c.gap(f"a rank-{len(shape)} tensor")
    rows, cols = shape[-2], shape[-1]
    for bound, size, name in ((lower, rows, "num_lower"), (upper, cols, "num_upper")):
        if (size is None and bound > 1) or (size is not None and bound > size):
            raise c.gap(f"{name}={bound} for matrices of {rows}x{cols} (TensorFlow raises on a band wider than the "
                        "matrix; lowered up to 1 where the size is known only at run time)")
    mask = _band_mask(c, x, lower, upper, "band")
    return _on_values(c, x, lambda v: c.ctx.op("SelectV2", [mask, v, _zero(c, v)], {"T": v.dtype}, dtype=v.dtype,
                                               shape=shape, label="band_part"))


def _masked_trace(c: OpCall, x: Value, k: int) -> Value:
    """``Σ x[..., i, i + k]`` over the last two axes as Keras's TF backend sums it: ``x`` where the ``k``-th
    diagonal's mask is set, 0 elsewhere, summed over both axes (int32 wraps as TF's Sum)."""
    shape = c.ctx.shape(x)
    rows, cols = shape[-2], shape[-1]
    if rows is not None and cols is not None and rows * cols <= _MAX_TABLE:
        i, j = np.arange(rows)[:, None], np.arange(cols)[None, :]
        mask = c.ctx.const(j - i == k, "diagonal_mask")
    else:
        i = c.ctx.expand_dims(runtime_range(c.ctx, x, len(shape) - 2, "rows"), 1, "row_column")
        j = c.ctx.binary("Sub", runtime_range(c.ctx, x, len(shape) - 1, "cols"), c.ctx.ints(k, "offset"),
                         label="cols_shifted")
        mask = c.ctx.op("Equal", [i, j], {"incompatible_shape_error": True}, dtype=BOOL, shape=(rows, cols),
                        label="diagonal_mask")
    kept = c.ctx.op("SelectV2", [mask, x, _zero(c, x)], {"T": x.dtype}, dtype=x.dtype, shape=shape, label="diagonal")
    rank = len(shape)
    return c.ctx.op("Sum", [kept, c.ctx.ints([rank - 2, rank - 1], "axes")], {"keep_dims": False, "Tidx": I32},
                    shape=shape[:-2], label="trace")


def _k3_trace(c: OpCall) -> Value:
    """Keras 3 ``trace(x, offset, axis1, axis2)``: bools summed as int32 (Keras's cast); the axes moved last."""
    x = _moved(c, c.tensor("x"), narrow_ok=False)
    first, second = _two_axes(c, x)
    if x.dtype == BOOL:
        x = c.ctx.op("Cast", [x], {"SrcT": BOOL, "DstT": I32, "Truncate": False}, dtype=I32, shape=x.shape,
                     label="bool_as_int32")
    moved = _to_last(c, x, [first, second], "axes_last")[0]
    k = _int(c, "offset", 0)
    if k != 0:
        _check_keras_eye(c, *c.ctx.shape(moved)[-2:], k)
    return _masked_trace(c, moved, k)


def _check_keras_eye(c: OpCall, rows: int | None, cols: int | None, k: int) -> None:
    """Keras's TF backend builds ``trace``'s mask with its ``eye(rows, cols, k)``: for ``k != 0`` a square eye of
    ``min(cols - k, rows + k)`` padded, which has another shape than the matrices (Keras then fails) unless the sizes
    fit: lowered where they do, known in the config."""
    if rows is None or cols is None:
        raise c.gap(f"offset={k} of matrices of sizes unknown in the config (Keras's eye fails for some sizes)")
    side = min(cols - k, rows + k)
    shape = (side + max(-k, 0) + max(rows - cols + k, 0), side + max(k, 0) + max(cols - rows - k, 0))
    if side < 0 or shape != (rows, cols):
        raise c.gap(f"offset={k} of {rows}x{cols} matrices (Keras's TF backend fails: its eye({rows}, {cols}, k={k}) "
                    f"has shape {list(shape)})")


def _tf_trace(c: OpCall) -> Value:
    """``tf.linalg.trace(x)``: the main diagonal of the last two axes summed (bools: TF raises)."""
    x = _moved(c, c.tensor("x"), narrow_ok=False)
    if len(c.ctx.shape(x)) < 2 or x.dtype == BOOL:
        raise c.gap(f"a rank-{len(c.ctx.shape(x))} {x.dtype.value} tensor")
    return _masked_trace(c, x, 0)


# -- products: cross, kron ----------------------------------------------------------------------------------------
def _product(c: OpCall, a: Value, b: Value, label: str) -> Value:
    """``a · b``; of int32 wrapped as TF's int32 Mul (:func:`int32_product`)."""
    if a.dtype == I32:
        return int32_product(c.ctx.graph, a, b, f"{c.ctx.name}/{label}", broadcast_shape(a.shape, b.shape))
    return c.ctx.binary("Mul", a, b, label=label)


def _components(c: OpCall, v: Value, label: str) -> list[Value]:
    """The components of ``v``'s last axis (2 or 3 long; a missing third is 0, as Keras pads it)."""
    shape = c.ctx.shape(v)
    size = shape[-1]
    node = c.ctx.graph.add_node("Unpack", [v], {"num": size, "axis": len(shape) - 1, "T": v.dtype},
                                name=f"{c.ctx.name}/{label}_components", num_outputs=size)
    parts = list(node.outputs)
    for part in parts:
        part.dtype, part.shape = v.dtype, shape[:-1]
    if size == 2:
        parts.append(c.ctx.const(np.zeros((), v.dtype.numpy), f"{label}_z"))
    return parts


def _cross_of(c: OpCall, a: Value, b: Value) -> list[Value]:
    """The three components of ``a × b`` (TF's Cross: ``a1 b2 - a2 b1``, ``a2 b0 - a0 b2``, ``a0 b1 - a1 b0``)."""
    p, q = _components(c, a, "a"), _components(c, b, "b")
    out = []
    for n, (i, j) in enumerate(((1, 2), (2, 0), (0, 1))):
        out.append(c.ctx.binary("Sub", _product(c, p[i], q[j], f"c{n}_left"), _product(c, p[j], q[i], f"c{n}_right"),
                                label=f"c{n}"))
    return out


def _stack(c: OpCall, parts: list[Value], axis: int, label: str) -> Value:
    shape = broadcast_shape(broadcast_shape(parts[0].shape, parts[1].shape), parts[2].shape)
    if shape is None or None in shape and any(p.shape != shape for p in parts):
        raise c.gap("components of shapes unknown in the config")
    parts = [p if p.shape == shape else c.ctx.op("BroadcastTo", [p, c.ctx.ints(list(shape), f"{label}{i}_shape")],
                                                 {"Tidx": I32}, shape=shape, label=f"{label}{i}_broadcast")
             for i, p in enumerate(parts)]
    out = list(shape)
    out.insert(axis, 3)
    return c.ctx.op("Pack", parts, {"N": 3, "axis": axis}, shape=tuple(out), label=label)


def _tf_cross(c: OpCall) -> Value:
    """``tf.linalg.cross(a, b)``: vectors of 3 on the last axis, of the same shape."""
    a, b = (_moved(c, v, narrow_ok=False) for v in c.pair("a", "b"))
    if a.dtype != b.dtype or a.dtype not in (F32, I32) or c.ctx.shape(a) != c.ctx.shape(b) or \
            c.ctx.shape(a)[-1:] != (3,):
        raise c.gap(f"{a.dtype.value} and {b.dtype.value} vectors of shapes {list(c.ctx.shape(a))} and "
                    f"{list(c.ctx.shape(b))}")
    return _stack(c, _cross_of(c, a, b), len(c.ctx.shape(a)) - 1, "cross")


def _k3_cross(c: OpCall) -> Value:
    """Keras 3 ``cross(x1, x2, axisa, axisb, axisc)``: the vectors' axes moved last, 2-vectors padded with 0, the
    cross product broadcast; of two 2-vectors only its third component (no axis), else the result's axis moved
    to ``axisc``."""
    a, b = (_moved(c, v, narrow_ok=False) for v in c.pair("x1", "x2"))
    if a.dtype != b.dtype or a.dtype not in (F32, I32):
        raise c.gap(f"vectors of dtypes {a.dtype.value} and {b.dtype.value}")
    axis = c.value("axis", None)
    picks = [axis] * 3 if axis is not None else [c.value(n, -1) for n in ("axisa", "axisb", "axisc")]
    moved = []
    for v, pick, name in ((a, picks[0], "x1"), (b, picks[1], "x2")):
        shape = c.ctx.shape(v)
        axis_v = _axis(c, pick, len(shape))
        if shape[axis_v] not in (2, 3):
            raise c.gap(f"vectors of {shape[axis_v]} on axis {axis_v} (lowered for 2 and 3, known in the config)")
        moved.append(_to_last(c, v, [axis_v], f"{name}_axis_last")[0])
    parts = _cross_of(c, *moved)
    if c.ctx.shape(moved[0])[-1] == c.ctx.shape(moved[1])[-1] == 2:
        return parts[2]
    rank = len(broadcast_shape(parts[0].shape, broadcast_shape(parts[1].shape, parts[2].shape)) or ()) + 1
    return _stack(c, parts, _axis(c, picks[2], rank), "cross")


def _kron(c: OpCall) -> Value:
    """Keras 3 ``kron(x1, x2)``: the lower-rank operand expanded in front, ``x1`` reshaped to ``(a0, 1, a1, 1, ..)``
    and ``x2`` to ``(1, b0, 1, b1, ..)``, multiplied, merged to ``(a0 b0, a1 b1, ..)`` (sizes at run time where
    more than one is unknown), as Keras's TF backend computes it."""
    a, b = (_moved(c, v, narrow_ok=False) for v in c.pair("x1", "x2"))
    if a.dtype != b.dtype or a.dtype not in (F32, I32):
        raise c.gap(f"operands of dtypes {a.dtype.value} and {b.dtype.value}")
    rank = max(len(c.ctx.shape(a)), len(c.ctx.shape(b)))
    a, b = (c.ctx.reshape(v, [*([1] * (rank - len(c.ctx.shape(v)))), *c.ctx.shape(v)], f"{name}_expanded")
            if len(c.ctx.shape(v)) < rank else v for v, name in ((a, "x1"), (b, "x2")))
    sa, sb = c.ctx.shape(a), c.ctx.shape(b)
    if sum(d is None for d in sa) > 1 or sum(d is None for d in sb) > 1 or rank == 0:
        raise c.gap(f"operands of shapes {list(sa)} and {list(sb)} (lowered with at most one unknown size each)")
    wide_a = c.ctx.reshape(a, [d for size in sa for d in (size, 1)], "x1_interleaved")
    wide_b = c.ctx.reshape(b, [d for size in sb for d in (1, size)], "x2_interleaved")
    products = _product(c, wide_a, wide_b, "products")
    out = tuple(None if x is None or y is None else x * y for x, y in zip(sa, sb))
    if sum(d is None for d in out) <= 1:
        return c.ctx.reshape(products, out, "kron")
    sizes = c.ctx.binary("Mul", *(c.ctx.op("Shape", [v], {"out_type": I32}, dtype=I32, shape=(rank,),
                                           label=f"{name}_sizes") for v, name in ((a, "x1"), (b, "x2"))),
                         label="kron_sizes")
    return c.ctx.op("Reshape", [products, sizes], {"Tshape": I32}, shape=out, label="kron")


# -- isin, signbit, logspace -----------------------------------------------------------------------------------
def _isin(c: OpCall) -> Value:
    """Keras 3 ``isin(x1, x2, assume_unique, invert)``: each element of ``x1`` compared with every element of ``x2``
    (flattened, batch included), Any over them (``assume_unique`` changes nothing); int32 against float32 compares
    in float32, as Keras promotes them."""
    a, b = c.pair("x1", "x2")
    a, b = _moved(c, a, narrow_ok=False), _moved(c, b, narrow_ok=False)
    if a.dtype != b.dtype:
        if {a.dtype, b.dtype} != {F32, I32}:
            raise c.gap(f"operands of dtypes {a.dtype.value} and {b.dtype.value}")
        a, b = (v if v.dtype == F32 else c.ctx.op("Cast", [v], {"SrcT": I32, "DstT": F32, "Truncate": False},
                                                  dtype=F32, shape=v.shape, label=f"{name}_float")
                for v, name in ((a, "x1"), (b, "x2")))
    if not isinstance(c.value("invert", False), bool):
        raise c.gap(f"invert={c.value('invert')!r}")
    shape = c.ctx.shape(a)
    b_shape = c.ctx.shape(b)
    flat = c.ctx.reshape(b, [None if None in b_shape else int(np.prod(b_shape))], "x2_flat")
    column = c.ctx.expand_dims(a, len(shape), "x1_column")
    hits = c.ctx.op("Equal", [column, flat], {"incompatible_shape_error": True}, dtype=BOOL,
                    shape=(*shape, flat.shape[0]), label="hits")
    found = c.ctx.op("Any", [hits, c.ctx.ints(len(shape), "axis")], {"keep_dims": False, "Tidx": I32}, dtype=BOOL,
                     shape=shape, label="found")
    if c.value("invert", False):
        return c.ctx.op("LogicalNot", [found], dtype=BOOL, shape=shape, label="not_found")
    return found


def _signbit(c: OpCall) -> Value:
    """Keras 3 ``signbit(x)`` of integers (``x < 0``) and bools (all False). Of floats Keras reads the sign bit
    (``bitcast``): TF.js has no bitcast, and no TF.js op tells a NaN's sign (TF's own NaNs, from ``0 · inf`` or
    ``sqrt(-1)``, carry it), so floats are a gap."""
    x = _moved(c, c.tensor("x"))
    if x.dtype == F32:
        raise c.gap("a float32 tensor (the sign bit of NaN, which Keras reads with a bitcast, is not readable in "
                    "TF.js)")
    if x.dtype == BOOL:
        return c.ctx.op("LogicalAnd", [x, c.ctx.const(np.asarray(False), "false")], dtype=BOOL, shape=x.shape,
                        label="signbit")
    c.ctx.output_keras_dtype = None
    return c.ctx.op("Less", [x, c.ctx.ints(0, "zero")], dtype=BOOL, shape=x.shape, label="signbit")


def _logspace(c: OpCall) -> Value:
    """Keras 3 ``logspace(start, stop, num, endpoint, base, axis)`` of float32: ``base ** linspace(...)``, as Keras's
    TF backend computes it (Pow of the float32 base)."""
    from .op_layers_arrays import _k3_linspace

    base = c.value("base", 10)
    if isinstance(base, bool) or not isinstance(base, (int, float)):
        raise c.gap(f"base={base!r}")
    exponents = _k3_linspace(c)
    return c.ctx.binary("Pow", c.ctx.floats(base, "base"), exponents, label="logspace")


def _corrcoef(c: OpCall) -> Value:
    """Keras 3 ``corrcoef(x)`` of a float32 matrix (rows: variables, a known number of samples each) as its TF backend
    computes it: rows centred on their means, ``cov = xc · xcᵀ / (n - 1)``, divided by the outer product of the
    square roots of its diagonal, clipped to [-1, 1]."""
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    if x.dtype != F32 or len(shape) != 2 or shape[1] is None:
        raise c.gap(f"a {x.dtype.value} tensor of shape {list(shape)} (lowered for float32 matrices of a known "
                    "number of columns)")
    ctx = c.ctx
    means = ctx.op("Mean", [x, ctx.ints([1], "mean_axis")], {"keep_dims": True, "Tidx": I32}, shape=(shape[0], 1),
                   label="means")
    centred = ctx.binary("Sub", x, means, label="centred")
    products = ctx.op("MatMul", [centred, centred], {"transpose_a": False, "transpose_b": True},
                      shape=(shape[0], shape[0]), label="products")
    cov = ctx.binary("RealDiv", products, ctx.floats(shape[1] - 1, "samples_less_one"), label="covariance")
    std = ctx.unary("Sqrt", _diagonal_part(c, cov, 0, "variances"), label="std")
    outer = ctx.binary("Mul", ctx.expand_dims(std, 1, "std_column"), ctx.expand_dims(std, 0, "std_row"),
                       label="outer_std")
    correlation = ctx.binary("RealDiv", cov, outer, label="correlation")
    return ctx.binary("Minimum", ctx.binary("Maximum", correlation, ctx.floats(-1.0, "low"), label="clipped_low"),
                      ctx.floats(1.0, "high"), label="clipped")


_X = ("x",)
_DIAG_PART = ("x", "name", "k", "padding_value", "align")
_DIAG = ("diagonal", "name", "k", "num_rows", "num_cols", "padding_value", "align")
register_op_layers(
    keras_ops={
        ("Roll",): OpSpec(_X, _roll, ("shift", "axis")),
        ("Trace",): OpSpec(_X, _k3_trace, ("offset", "axis1", "axis2")),
        ("Diagonal",): OpSpec(_X, _diagonal, ("offset", "axis1", "axis2")),
        ("Diag",): OpSpec(_X, _k3_diag, ("k",)),
        ("Diagflat",): OpSpec(_X, _diagflat, ("k",)),
        ("Kron",): OpSpec(("x1", "x2"), _kron),
        ("IsIn",): OpSpec(("x1", "x2"), _isin, ("assume_unique", "invert")),
        ("Signbit",): OpSpec(_X, _signbit),
        ("Cross",): OpSpec(("x1", "x2"), _k3_cross, ("axisa", "axisb", "axisc", "axis")),
        ("Logspace",): OpSpec(("start", "stop"), _logspace, ("num", "endpoint", "base", "dtype", "axis")),
        ("Corrcoef",): OpSpec(_X, _corrcoef),
    },
    tf_functions={
        ("roll",): OpSpec(("x", "shift", "axis", "name"), _roll),
        ("linalg.band_part",): OpSpec(("x", "num_lower", "num_upper", "name"), _band_part),
        ("linalg.diag_part",): OpSpec(_DIAG_PART, _tf_diag_part),
        ("linalg.diag",): OpSpec(_DIAG, _tf_diag),
        ("linalg.tensor_diag",): OpSpec(("diagonal", "name"), _tensor_diag),
        ("linalg.tensor_diag_part",): OpSpec(("x", "name"), _tensor_diag_part),
        ("linalg.trace",): OpSpec(("x", "name"), _tf_trace),
        ("linalg.set_diag",): OpSpec(("x", "diagonal", "name", "k", "align"), _set_diag),
        ("linalg.cross",): OpSpec(("a", "b", "name"), _tf_cross),
    })
