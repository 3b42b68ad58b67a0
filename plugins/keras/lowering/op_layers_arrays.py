"""Op layers: array building, stacking, flipping and slicing ops.

Registered into :mod:`.op_layers`'s tables (see :func:`.op_layers.register_op_layers`). Keras 3's ``append``,
``broadcast_to``, the ``*stack``s, ``fliplr``/``flipud``/``rot90``, ``ravel``, ``size``, ``ndim``, ``triu``/``tril``,
``diff``, ``full_like``/``empty_like``, ``select``, ``slice``, ``extract_sequences``, the ``*split``s, ``array``,
``linspace`` and ``meshgrid``; tf_keras's ``tf.broadcast_to``, ``slice``, ``strided_slice``, ``gather_nd``,
``fill``/``zeros``/``ones``, ``range``, ``rank``, ``size``, ``sequence_mask``, ``signal.frame``, ``linspace``,
``linalg.adjoint`` and ``compat.v1.zeros_like``/``ones_like``. Sizes known only at run time (``tf.shape(x)``
handed to ``tf.fill``, an axis of unknown length) are read from ``Shape`` in the graph, as TensorFlow reads them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import is_narrow

from ..op_calls import TensorArg
from .op_layers import (OpCall, OpSpec, _as_bool, _axis, _cast, _filled_like, _getitem, _holds_tensor, _int32, _ints,
                        _select, _split, constant_moved, held_int64, register_op_layers)

I32, F32, BOOL = DType.INT32, DType.FLOAT32, DType.BOOL
#: The dtypes TF.js holds as they are (an int64 result is held as int32, with its values).
_HELD = {"float32": F32, "int32": I32, "bool": BOOL, "int64": I32}
#: The most steps of ``diff`` (one subtraction each) lowered.
_MAX_DIFF_ORDER = 64
#: The most elements of a constant index table (``signal.frame``'s, ``extract_sequences``'s) lowered.
_MAX_TABLE = 1 << 22


def _int(c: OpCall, name: str, default: Any = None) -> int:
    """A constant int argument (a bool or float there is a gap)."""
    value = c.value(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise c.gap(f"{name}={value!r}")
    return int(value)


def _renamed(c: OpCall, **names: str) -> OpCall:
    """TF's own parameter names (``input_``, ``matrix``) bound by keyword, moved to the lowering's."""
    for old, new in names.items():
        if old in c.arguments:
            c.arguments.setdefault(new, c.arguments.pop(old))
    return c


def _not_narrow(c: OpCall) -> None:
    """8/16-bit integers (held as int32) compute in their own dtype in Keras, wrapping: a gap here."""
    narrow = next((d for d in c.ctx.keras_dtypes if is_narrow(d)), None)
    if narrow is not None:
        raise c.gap(f"{narrow.numpy} integers (Keras computes in that dtype)")


def _bools_as_int32(c: OpCall, x: Value, fn: Callable[[Value], Value], label: str) -> Value:
    """``fn(x)`` for an op that only moves values; bools moved as int32 and read back (``!= 0``): TF.js's wasm
    reverses and selects bools wrongly."""
    if x.dtype != BOOL:
        return fn(x)
    return _int32_to_bool(c, fn(_bool_to_int32(c, x, label)), label)


def _bool_to_int32(c: OpCall, x: Value, label: str) -> Value:
    return c.ctx.op("Cast", [x], {"SrcT": BOOL, "DstT": I32, "Truncate": False}, dtype=I32, shape=x.shape,
                    label=f"{label}_as_int32")


def _int32_to_bool(c: OpCall, x: Value, label: str) -> Value:
    return c.ctx.op("NotEqual", [x, c.ctx.ints(0, f"{label}_zero")], {"incompatible_shape_error": True},
                    dtype=BOOL, shape=x.shape, label=f"{label}_bools")


def _shape_of(c: OpCall, x: Value) -> Value:
    """``tf.shape(x)`` as int32."""
    return c.ctx.op("Shape", [x], {"out_type": I32}, dtype=I32, shape=(len(c.ctx.shape(x)),), label="shape")


def _known_sizes(value: Value) -> tuple[int | None, ...] | None:
    """The sizes an int32 shape vector is known to hold: ``tf.shape(y)``'s are ``y``'s static shape; a Const's its
    values; otherwise unknown (None each), as long as the vector's length is known."""
    shape = value.shape
    if shape is None or len(shape) != 1 or shape[0] is None:
        return None
    node = value.producer
    if node.op == "Shape" and node.inputs and node.inputs[0].shape is not None:
        return tuple(node.inputs[0].shape)
    if node.op == "Const":
        array = node.attrs.get("value")
        if isinstance(array, np.ndarray) and array.ndim == 1:
            return tuple(int(v) for v in array)
    return (None,) * shape[0]


def _shape_argument(c: OpCall, name: str) -> tuple[Value, tuple[int | None, ...]]:
    """A shape argument (``tf.fill``'s dims, ``broadcast_to``'s shape): a tensor (``tf.shape(x)``) or constant sizes;
    the int32 vector and the sizes known at conversion."""
    if isinstance(c.arguments.get(name), TensorArg):
        value = _int32(c, name)
        sizes = _known_sizes(value) if value.dtype == I32 else None
        if sizes is None:
            raise c.gap(f"argument {name!r} is a {value.dtype.numpy} tensor of shape {value.shape}")
        return value, sizes
    items = c.arguments.get(name)
    if isinstance(items, (list, tuple)) and any(isinstance(v, TensorArg) for v in items):
        return _packed_sizes(c, name, list(items))
    sizes = _ints(c, name)
    if any(s < 0 for s in sizes):
        raise c.gap(f"{name}={c.value(name)!r}")
    return c.ctx.ints(sizes, f"{name}_value"), tuple(sizes)


def _packed_sizes(c: OpCall, name: str, items: list[Any]) -> tuple[Value, tuple[int | None, ...]]:
    """A list of sizes mixing int32 scalar tensors and constants (``[tf.shape(x)[0], 4]``, which TF packs into one
    vector): the pieces concatenated."""
    parts: list[Value] = []
    for i, item in enumerate(items):
        if isinstance(item, TensorArg):
            size = c.ctx.inputs[item.index]
            if size.dtype == DType.INT64:
                size = c.ctx.op("Cast", [size], {"SrcT": DType.INT64, "DstT": I32, "Truncate": False}, dtype=I32,
                                shape=size.shape, label=f"{name}_{i}_int32")
            if size.dtype != I32 or size.shape not in ((), (1,)):
                raise c.gap(f"argument {name!r} holds a {size.dtype.numpy} tensor of shape {size.shape}")
            parts.append(c.ctx.expand_dims(size, 0, f"{name}_{i}") if size.shape == () else size)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < 2**31:
            parts.append(c.ctx.ints([int(item)], f"{name}_{i}"))
        else:
            raise c.gap(f"argument {name!r} holds {item!r}")
    sizes = tuple(None if isinstance(item, TensorArg) else int(item) for item in items)
    vector = c.ctx.op("ConcatV2", [*parts, c.ctx.ints(0, f"{name}_axis")], {"N": len(parts), "Tidx": I32},
                      dtype=I32, shape=(len(items),), label=f"{name}_packed")
    return vector, sizes


# -- joins ------------------------------------------------------------------------------------------------
def _joined(c: OpCall, values: Sequence[Value], axis: int) -> Value:
    """ConcatV2 of same-dtype, same-rank tensors along ``axis`` (Keras promotes mixed dtypes: a gap here)."""
    if len({v.dtype for v in values}) != 1:
        raise c.gap(f"tensors of dtypes {sorted(str(v.dtype.numpy) for v in values)} (Keras promotes them)")
    shapes = [c.ctx.shape(v) for v in values]
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes) or not 0 <= axis < rank:
        raise c.gap(f"tensors of ranks {[len(s) for s in shapes]} joined along axis {axis}")
    sizes = [s[axis] for s in shapes]
    out = [next((s[d] for s in shapes if s[d] is not None), None) for d in range(rank)]
    out[axis] = None if None in sizes else sum(sizes)
    return c.ctx.op("ConcatV2", [*values, c.ctx.ints(axis, "axis")], {"N": len(values), "Tidx": I32},
                    shape=tuple(out))


def _append(c: OpCall) -> Value:
    """``append(x1, x2, axis)``: both joined along ``axis``; without one, both flattened (batch included) first."""
    x1, x2 = c.tensor("x1"), c.tensor("x2")
    if c.value("axis", None) is None:
        return _joined(c, [c.ctx.reshape(x1, [None], "x1_flat"), c.ctx.reshape(x2, [None], "x2_flat")], 0)
    return _joined(c, [x1, x2], _axis(c, c.value("axis"), len(c.ctx.shape(x1))))


def _stacked(kind: str) -> Callable[[OpCall], Value]:
    """``vstack``/``hstack``/``dstack``: joined along axis 0, 1 (0 for rank-1 tensors) or 2 (rank < 3 tensors
    first made 3-D as numpy does: ``(n,)`` to ``(1, n, 1)``, ``(m, n)`` to ``(m, n, 1)``)."""
    def lower(c: OpCall) -> Value:
        values = c.tensors("xs")
        if kind == "v":
            return _joined(c, values, 0)
        if kind == "h":
            return _joined(c, values, 0 if len(c.ctx.shape(values[0])) == 1 else 1)
        shaped = []
        for i, v in enumerate(values):
            rank = len(c.ctx.shape(v))
            if rank == 1:
                v = c.ctx.expand_dims(v, 0, f"row_{i}")
            if rank <= 2:
                v = c.ctx.expand_dims(v, 2, f"depth_{i}")
            shaped.append(v)
        return _joined(c, shaped, 2)
    return lower


# -- flips and rotations ----------------------------------------------------------------------------------
def _reversed(c: OpCall, x: Value, axes: Sequence[int], label: str = "ReverseV2") -> Value:
    return _bools_as_int32(c, x, lambda v: c.ctx.op("ReverseV2", [v, c.ctx.ints(list(axes), f"{label}_axes")],
                                                    {"Tidx": I32}, shape=v.shape, label=label), label)


def _flip_axis(axis: int) -> Callable[[OpCall], Value]:
    """``fliplr`` (axis 1) / ``flipud`` (axis 0, the batch: Keras reverses the batch too)."""
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        if len(c.ctx.shape(x)) <= axis:
            raise c.gap(f"a rank-{len(c.ctx.shape(x))} tensor")
        return _reversed(c, x, [axis])
    return lower


def _rot90(c: OpCall) -> Value:
    """``rot90(x, k, axes)`` as Keras's TensorFlow backend computes it: the two axes moved last, the last one
    reversed and the two swapped (``k % 4`` times), moved back: numpy's rotation for ``k`` = 1 and 3, and for 2 on
    square planes (both axes reversed). For ``k = 2`` on other planes Keras reshapes the once-rotated ``w × h`` plane
    to ``h × w`` before turning it again (not numpy's result): the same Reshapes here."""
    x = c.tensor("array")
    rank = len(c.ctx.shape(x))
    axes = _ints(c, "axes", [0, 1])
    k = _int(c, "k", 1) % 4
    if rank < 2 or len(axes) != 2:
        raise c.gap(f"axes={axes} of a rank-{rank} tensor")
    first, second = (_axis(c, a, rank) for a in axes)
    if first == second:
        raise c.gap(f"axes={axes}")
    if k == 0:
        return c.ctx.unary("Identity", x)
    shape = c.ctx.shape(x)
    if k == 2 and shape[first] is not None and shape[first] == shape[second]:
        return _reversed(c, x, [first, second])
    perm = [i for i in range(rank) if i not in (first, second)] + [first, second]
    moved = x if perm == list(range(rank)) else c.ctx.transpose(x, perm, "axes_last")
    out = _turned(c, moved, 0)
    if k == 2:
        out = _turned(c, _as_plane_of(c, out, moved, "replaned"), 1)
        out = _as_plane_of(c, out, moved, "rotated")
    elif k == 3:
        out = _turned(c, _turned(c, out, 1), 2)
    if perm == list(range(rank)):
        return out
    return c.ctx.transpose(out, [perm.index(i) for i in range(rank)], "axes_back")


def _turned(c: OpCall, x: Value, step: int) -> Value:
    """One of Keras's quarter turns of the last two axes: the last reversed, then the two swapped."""
    rank = len(c.ctx.shape(x))
    flipped = _reversed(c, x, [rank - 1], f"turn_{step}_reversed")
    return c.ctx.transpose(flipped, [*range(rank - 2), rank - 1, rank - 2], f"turn_{step}")


def _as_plane_of(c: OpCall, x: Value, like: Value, label: str) -> Value:
    """``x`` reshaped to ``like``'s shape (sizes read at run time where unknown), as Keras's ``tf.reshape``."""
    from .dynamic_shape import reshape_to, runtime_sizes

    shape = c.ctx.shape(like)
    if None not in shape:
        return c.ctx.reshape(x, list(shape), label)
    return reshape_to(c.ctx, x, [runtime_sizes(c.ctx, like, 0, len(shape), f"{label}_sizes")], shape, label)


def _adjoint(c: OpCall) -> Value:
    """``tf.linalg.adjoint``: the last two axes swapped (the conjugate of a real tensor is itself)."""
    x = _renamed(c, matrix="x").tensor("x")
    rank = len(c.ctx.shape(x))
    if rank < 2 or x.dtype not in (F32, I32):
        raise c.gap(f"a rank-{rank} {x.dtype.numpy} tensor")
    return c.ctx.transpose(x, [*range(rank - 2), rank - 1, rank - 2])


# -- shapes: ravel, size, rank, broadcast_to --------------------------------------------------------------
def _ravel(c: OpCall) -> Value:
    """``ravel``: the tensor flattened, batch included (``tf.reshape(x, [-1])``)."""
    return c.ctx.reshape(c.tensor("x"), [None], "ravel")


def _size(c: OpCall) -> Value:
    """``size``/``tf.size``: the element count, batch included, int32 or int64 (held as int32 by TF.js, an int64
    Value so the signature and later ops see Keras's dtype)."""
    x = c.tensor("x")
    out_type = str(c.value("out_type", "int32"))
    if out_type not in ("int32", "int64", "None"):
        raise c.gap(f"out_type={c.value('out_type')!r}")
    size = c.ctx.op("Size", [x], {"out_type": I32, "T": x.dtype}, dtype=I32, shape=(), label="Size")
    return held_int64(c.ctx, size) if out_type == "int64" else size


def _rank(c: OpCall) -> Value:
    """``tf.rank``: an int32 scalar."""
    x = c.tensor("x")
    return c.ctx.op("Rank", [x], {"T": x.dtype}, dtype=I32, shape=(), label="Rank")


def _broadcast_sizes(c: OpCall, x: Value, sizes: tuple[int | None, ...]) -> tuple[int | None, ...]:
    """The result's shape: ``sizes``, where unknown the input's own size if it is not 1 (it must match then)."""
    shape = c.ctx.shape(x)
    if len(shape) > len(sizes):
        raise c.gap(f"a rank-{len(shape)} tensor broadcast to {len(sizes)} sizes")
    padded = (1,) * (len(sizes) - len(shape)) + shape
    for have, want in zip(padded, sizes):
        if have is not None and want is not None and have not in (1, want):
            raise c.gap(f"shape {list(shape)} broadcast to {list(sizes)} (TensorFlow raises)")
    return tuple(want if want is not None else (have if have != 1 else None) for have, want in zip(padded, sizes))


def _broadcast_to(c: OpCall) -> Value:
    """``broadcast_to(x, shape)``: BroadcastTo to constant sizes or a shape tensor (``tf.shape(y)``)."""
    x = _renamed(c, input="x").tensor("x")
    target, sizes = _shape_argument(c, "shape")
    if x.dtype not in (F32, I32, BOOL):
        raise c.gap(f"a {x.dtype.numpy} tensor")
    return c.ctx.op("BroadcastTo", [x, target], {"T": x.dtype, "Tidx": I32}, shape=_broadcast_sizes(c, x, sizes))


# -- constants of a shape: fill, zeros, ones, full_like ---------------------------------------------------
def _scalar_of(c: OpCall, value: Any, dtype: DType, what: str) -> np.ndarray:
    """A Python number as TF converts it to ``dtype`` (float to int truncates, as Keras 3's ``full_like`` of ints;
    a number to bool is ``!= 0``)."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if not isinstance(value, (bool, int, float)):
        raise c.gap(f"{what}={value!r}")
    if dtype == BOOL:
        return np.asarray(value != 0, np.bool_)
    if dtype == I32:
        if not np.isfinite(value) or not -2**31 <= int(value) < 2**31:
            raise c.gap(f"{what}={value!r} for an int32 tensor")
        return np.asarray(int(value), np.int32)
    return np.asarray(value, np.float32)


def _filled(c: OpCall, dims: Value, sizes: tuple[int | None, ...], fill: Value) -> Value:
    return c.ctx.op("Fill", [dims, fill], {"T": fill.dtype, "index_type": I32}, dtype=fill.dtype, shape=sizes,
                    label="Fill")


def _dtype_of(c: OpCall, name: str, default: str) -> DType:
    """A ``dtype`` argument TF.js holds (float32, int32, bool; int64 as int32), else a gap."""
    text = str(c.value(name, default) or default)
    text = text.replace("<dtype: '", "").replace("'>", "")
    if text not in _HELD:
        raise c.gap(f"{name}={text!r}")
    return _HELD[text]


def _no_layout(c: OpCall) -> None:
    if c.value("layout", None) is not None:
        raise c.gap(f"layout={c.value('layout')!r}")


def _fill(c: OpCall) -> Value:
    """``tf.fill(dims, value)``: the value's dtype (a Python float is float32, an int int32, a bool bool)."""
    _no_layout(c)
    dims, sizes = _shape_argument(c, "dims")
    if isinstance(c.arguments.get("x"), TensorArg):  # ``value`` (tf_keras's calls bind it as ``x``)
        fill = c.tensor("x")
        if c.ctx.shape(fill) != () or fill.dtype not in (F32, I32, DType.INT64, BOOL):  # int64: held as int32
            raise c.gap(f"a {fill.dtype.numpy} fill value of shape {list(c.ctx.shape(fill))}")
    else:
        value = c.value("x")
        dtype = BOOL if isinstance(value, bool) else I32 if isinstance(value, int) else F32
        fill = c.ctx.const(_scalar_of(c, value, dtype, "value"), "fill_value")
    return _filled(c, dims, sizes, fill)


def _constant_filled(number: int) -> Callable[[OpCall], Value]:
    """``tf.zeros(shape, dtype)`` / ``tf.ones(shape, dtype)``."""
    def lower(c: OpCall) -> Value:
        _no_layout(c)
        dims, sizes = _shape_argument(c, "shape")
        dtype = _dtype_of(c, "dtype", "float32")
        return _filled(c, dims, sizes, c.ctx.const(_scalar_of(c, number, dtype, "value"), "fill_value"))
    return lower


def _full_like(c: OpCall) -> Value:
    """Keras 3 ``full_like(x, fill_value, dtype)``: ``fill_value`` in ``dtype or x.dtype`` (a float truncated for
    integers, ``!= 0`` for bool) broadcast to ``tf.shape(x)``."""
    x = c.tensor("x")
    dtype = _dtype_of(c, "dtype", "float32") if c.value("dtype", None) is not None else x.dtype
    _not_narrow(c)
    if x.dtype not in (F32, I32, BOOL):
        raise c.gap(f"dtype={c.value('dtype', None)!r} like a {x.dtype.numpy} tensor")
    if isinstance(c.arguments.get("fill_value"), TensorArg):
        fill = c.tensor("fill_value")
        if fill.dtype != dtype:
            raise c.gap(f"a {fill.dtype.numpy} fill value for a {dtype.numpy} result (Keras casts it)")
        return c.ctx.op("BroadcastTo", [fill, _shape_of(c, x)], {"T": dtype, "Tidx": I32},
                        shape=_broadcast_sizes(c, fill, c.ctx.shape(x)))
    fill = c.ctx.const(_scalar_of(c, c.value("fill_value"), dtype, "fill_value"), "fill_value")
    return _filled(c, _shape_of(c, x), c.ctx.shape(x), fill)


# -- triangles, differences ----------------------------------------------------------------------------------
#: ``triu``/``tril``'s diagonal offset is clamped to this (past any matrix size, the same mask), so that ``j - k``
#: stays within int32.
_MAX_OFFSET = 1 << 30


def _triangle(lower_part: bool) -> Callable[[OpCall], Value]:
    """``tril(x, k)`` / ``triu(x, k)``: ``x`` where ``i >= j - k`` (``i <= j - k``) over the last two axes, 0
    elsewhere (NaN too), as TensorFlow's ``band_part`` and Keras's masked ``where`` give it; TF.js's MatrixBandPart
    is wrong, so a SelectV2 over the mask (constant for known sizes, from ``Range`` otherwise). Where Keras calls
    ``band_part`` (``tril`` with ``k >= 0``, ``triu`` with ``k <= 0``), TF raises on a band wider than the matrix:
    a gap."""
    def lower(c: OpCall) -> Value:
        x = c.tensor("x")
        shape = c.ctx.shape(x)
        k = max(-_MAX_OFFSET, min(_MAX_OFFSET, _int(c, "k", 0)))
        if len(shape) < 2 or x.dtype not in (F32, I32, BOOL):
            raise c.gap(f"a rank-{len(shape)} {x.dtype.numpy} tensor")
        rows, cols = shape[-2], shape[-1]
        band = (k, cols) if lower_part and k >= 0 else (-k, rows) if not lower_part and k <= 0 else None
        if band is not None and (band[1] is None and band[0] > 1 or band[1] is not None and band[0] > band[1]):
            raise c.gap(f"k={k} past a matrix of {rows}x{cols} (TensorFlow's band_part raises where the band is wider "
                        "than the matrix; lowered for |k| <= 1 where its size is known only at run time)")
        if rows is not None and cols is not None:
            i, j = np.arange(rows)[:, None], np.arange(cols)[None, :]
            mask = c.ctx.const(i >= j - k if lower_part else i <= j - k, "mask")
        else:
            from .dynamic_shape import runtime_range

            i = c.ctx.expand_dims(runtime_range(c.ctx, x, len(shape) - 2, "rows"), 1, "row_column")
            j = c.ctx.binary("Sub", runtime_range(c.ctx, x, len(shape) - 1, "cols"), c.ctx.ints(k, "k"),
                             label="cols_shifted")
            mask = c.ctx.op("GreaterEqual" if lower_part else "LessEqual", [i, j], dtype=BOOL, shape=(rows, cols),
                            label="mask")
        return _bools_as_int32(c, x, lambda v: c.ctx.op(
            "SelectV2", [mask, v, c.ctx.const(np.zeros((), v.dtype.numpy), "zero")], {"T": v.dtype}, dtype=v.dtype,
            shape=shape, label="triangle"), "triangle")
    return lower


def _axis_slice(c: OpCall, x: Value, axis: int, start: int, stop: int | None, label: str) -> Value:
    """``x[..., start:stop, ...]`` along ``axis`` (StridedSlice, every other axis whole)."""
    shape = c.ctx.shape(x)
    rank = len(shape)
    whole = (1 << rank) - 1
    begin, end = [0] * rank, [0] * rank
    begin[axis] = start
    end[axis] = 0 if stop is None else stop
    masks = {"begin_mask": whole & ~(1 << axis), "end_mask": whole if stop is None else whole & ~(1 << axis),
             "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0}
    size = shape[axis]
    out = list(shape)
    out[axis] = None if size is None else len(range(*slice(start, stop).indices(size)))
    return c.ctx.op("StridedSlice", [x, c.ctx.ints(begin, f"{label}_begin"), c.ctx.ints(end, f"{label}_end"),
                                     c.ctx.ints([1] * rank, f"{label}_strides")], {"Index": I32, **masks},
                    shape=tuple(out), label=label)


def _diff(c: OpCall) -> Value:
    """``diff(a, n, axis)``: ``a[1:] - a[:-1]`` along ``axis``, ``n`` times (bools: ``!=``; int32 wraps as in TF)."""
    x = c.tensor("a")
    _not_narrow(c)
    shape = c.ctx.shape(x)
    n = _int(c, "n", 1)
    if not shape or not 0 <= n <= _MAX_DIFF_ORDER or x.dtype not in (F32, I32, BOOL):
        raise c.gap(f"n={n} of a rank-{len(shape)} {x.dtype.numpy} tensor")
    axis = _axis(c, c.value("axis", -1), len(shape))
    if shape[axis] is not None and shape[axis] - n < 1:
        raise c.gap(f"n={n} along an axis of size {shape[axis]} (an empty result)")
    if n == 0:
        return c.ctx.unary("Identity", x)
    for step in range(n):
        later, earlier = (_axis_slice(c, x, axis, 1, None, f"later_{step}"),
                          _axis_slice(c, x, axis, 0, -1, f"earlier_{step}"))
        if x.dtype == BOOL:
            x = c.ctx.op("NotEqual", [later, earlier], {"incompatible_shape_error": True}, dtype=BOOL,
                         shape=later.shape, label=f"diff_{step}")
        else:
            x = c.ctx.op("Sub", [later, earlier], shape=later.shape, label=f"diff_{step}")
    return x


# -- select --------------------------------------------------------------------------------------------------
def _k3_select(c: OpCall) -> Value:
    """Keras 3 ``select(condlist, choicelist, default)`` (``tnp.select``): from the default, each condition (cast
    to bool: non-zero, NaN too) from the last to the first picks its choice, so the first True one wins. Choices
    of one dtype; a default of another (``2.5`` for int32 choices gives float64 in Keras) is a gap."""
    conditions, choices = c.tensors("condlist"), c.tensors("choicelist")
    if not conditions or len(conditions) != len(choices) or len({v.dtype for v in choices}) != 1:
        dtypes = sorted({str(v.dtype.numpy) for v in choices})
        raise c.gap(f"{len(conditions)} conditions for choices of dtypes {dtypes}")
    dtype = choices[0].dtype
    if dtype not in (F32, I32, BOOL):
        raise c.gap(f"{dtype.numpy} choices")
    if isinstance(c.arguments.get("default"), TensorArg):
        out = c.tensor("default")
        if out.dtype != dtype:
            raise c.gap(f"a {out.dtype.numpy} default for {dtype.numpy} choices (Keras promotes them)")
    else:
        value = c.value("default", 0)
        if isinstance(value, float) and dtype != F32 or isinstance(value, bool) != (dtype == BOOL):
            raise c.gap(f"default={value!r} for {dtype.numpy} choices (Keras promotes them)")
        out = c.ctx.const(_scalar_of(c, value, dtype, "default"), "default")
    conditions = [_as_bool(c, v, f"condition_{i}") for i, v in enumerate(conditions)]
    if dtype == BOOL:  # TF.js's wasm selects bools wrongly: as int32, read back
        choices = [_bool_to_int32(c, v, f"choice_{i}") for i, v in enumerate(choices)]
        out = _bool_to_int32(c, out, "default")
    for i in reversed(range(len(conditions))):
        out = _select(c, conditions[i], choices[i], out, f"select_{i}")
    if dtype == BOOL:
        out = _int32_to_bool(c, out, "selected")
    return out


# -- slices -------------------------------------------------------------------------------------------------
def _slice_op(c: OpCall, x: Value, begin_key: str, sizes: list[int]) -> Value:
    """TF's ``Slice(x, begin, size)`` (TF.js's checks ``begin + size`` against the shape and raises, as TF does):
    a constant begin must be >= 0 and each size >= -1 (the rest of the axis), within the sizes known."""
    shape = c.ctx.shape(x)
    if len(sizes) != len(shape) or any(s < -1 for s in sizes):
        raise c.gap(f"sizes {sizes} for a rank-{len(shape)} tensor")
    if isinstance(c.arguments.get(begin_key), TensorArg):
        begin = _int32(c, begin_key)
        if begin.dtype != I32 or c.ctx.shape(begin) not in ((len(shape),), (None,)):  # one per axis, else TF raises
            raise c.gap(f"begin of dtype {begin.dtype.numpy} and shape {begin.shape}")
        starts: list[int | None] = [None] * len(shape)
    else:
        starts = _ints(c, begin_key)
        if len(starts) != len(shape) or any(b < 0 for b in starts):
            raise c.gap(f"begin {starts} for a rank-{len(shape)} tensor")
        for b, s, d in zip(starts, sizes, shape):
            if d is not None and (b > d or s != -1 and b + s > d):
                raise c.gap(f"begin {starts} and sizes {sizes} out of shape {list(shape)} (TensorFlow raises)")
        begin = c.ctx.ints(starts, "begin")
    out = tuple(s if s != -1 else (None if d is None or b is None else d - b) for b, s, d in zip(starts, sizes, shape))
    if x.dtype not in (F32, I32, BOOL):
        raise c.gap(f"slicing a {x.dtype.numpy} tensor")
    return c.ctx.op("Slice", [x, begin, c.ctx.ints(sizes, "size")], {"T": x.dtype, "Index": I32}, shape=out,
                    label="Slice")


def _k3_slice(c: OpCall) -> Value:
    """Keras 3 ``slice(inputs, start_indices, shape)``: ``tf.slice``."""
    return _slice_op(c, c.tensor("inputs"), "start_indices", _ints(c, "shape"))


def _tf_slice(c: OpCall) -> Value:
    """``tf.slice(input_, begin, size)``; a size tensor (``tf.shape(x) - 1``) is read at run time."""
    _renamed(c, input_="x")
    x = c.tensor("x")
    begin_list = _holds_tensor(c.arguments.get("begin")) and not isinstance(c.arguments.get("begin"), TensorArg)
    if not _holds_tensor(c.arguments.get("size")) and not begin_list:
        return _slice_op(c, x, "begin", _ints(c, "size"))
    from .op_layers import _size_vector  # ``[-1, -1, n - 2]``, ``[0, n // 2, 0]``: stacked as TF packs them

    sizes = _size_vector(c, "size") if _holds_tensor(c.arguments.get("size")) else c.ctx.ints(_ints(c, "size"), "size")
    begin = _size_vector(c, "begin") if _holds_tensor(c.arguments.get("begin")) else None
    rank = len(c.ctx.shape(x))
    if begin is None:
        starts = _ints(c, "begin")
        if len(starts) != rank or any(b < 0 for b in starts):
            raise c.gap(f"begin {starts} for a rank-{rank} tensor")
        begin = c.ctx.ints(starts, "begin")
    if x.dtype not in (F32, I32, BOOL) or any(v.dtype != I32 or c.ctx.shape(v) not in ((rank,), (None,))
                                               for v in (begin, sizes)):
        raise c.gap(f"begin and size tensors of shapes {begin.shape} and {sizes.shape} for a rank-{rank} "
                    f"{x.dtype.numpy} tensor")
    return c.ctx.op("Slice", [x, begin, sizes], {"T": x.dtype, "Index": I32}, shape=_sliced_shape(c, x, begin, sizes),
                    label="Slice")


def _sliced_shape(c: OpCall, x: Value, begin: Value, sizes: Value) -> tuple[int | None, ...]:
    """The static shape of ``Slice(x, begin, sizes)`` from the entries known when the graph is built (TF's shape
    inference reads the same); entries TF raises on, where known, are a gap."""
    from .op_layers import _known_entries

    shape = c.ctx.shape(x)
    starts = _known_entries(begin) or [None] * len(shape)
    ends = _known_entries(sizes) or [None] * len(shape)
    if len(starts) != len(shape) or len(ends) != len(shape) or any(b is not None and b < 0 for b in starts) or \
            any(s is not None and s < -1 for s in ends) or any(
            None not in (d, b, s) and b + max(s, 0) > d for d, b, s in zip(shape, starts, ends)):
        raise c.gap(f"begin {starts} and sizes {ends} for shape {list(shape)} (TensorFlow raises)")
    return tuple(s if s is not None and s >= 0 else d - b if s == -1 and None not in (d, b) else None
                 for d, b, s in zip(shape, starts, ends))


def _strided_slice(c: OpCall) -> Value:
    """``tf.strided_slice`` with constant begin/end/strides and every mask: the numpy index they stand for (as
    TensorFlow reads them), lowered as ``x[...]`` is (one StridedSlice, clamped as TF clamps)."""
    from tfjsconv.passes.strided_slice import MASKS, tf_index

    _renamed(c, input_="x")
    masks = {name: _int(c, name, 0) for name in MASKS}
    if any(_holds_tensor(c.arguments.get(name)) for name in ("begin", "end", "strides")):  # ``const[:, :n]``
        from .op_layers_tensor_slices import strided_slice_entries, tensor_strided_slice

        if c.value("var", None) is not None or any(m < 0 for m in masks.values()):
            raise c.gap(f"masks {masks}")
        if not isinstance(c.arguments.get("x"), TensorArg):  # a constant table: TF's dtype for it, ints int32
            constant_moved(c, "x")
        return tensor_strided_slice(c, c.tensor("x"), strided_slice_entries(c, masks))
    begin, end = _ints(c, "begin"), _ints(c, "end")
    strides = _ints(c, "strides", None) or [1] * len(begin)
    if c.value("var", None) is not None or not len(begin) == len(end) == len(strides) or 0 in strides or \
            any(m < 0 for m in masks.values()):
        raise c.gap(f"begin {begin}, end {end}, strides {strides}")
    if any(masks["shrink_axis_mask"] >> i & 1 and not masks["ellipsis_mask"] >> i & 1 and
           not masks["new_axis_mask"] >> i & 1 and s < 0 for i, s in enumerate(strides)):
        raise c.gap(f"strides {strides} on a shrunk axis (TensorFlow raises)")
    if bin(masks["ellipsis_mask"] & ((1 << len(begin)) - 1)).count("1") > 1:
        raise c.gap("several ellipses")
    c.arguments["key"] = list(tf_index(begin, end, strides, masks))
    if c.tensor("x").dtype == BOOL and any(s != 1 for s in strides):
        raise c.gap(f"strides {strides} on bools (TF.js's wasm reads them wrongly)")
    return _getitem(c)


def _gather_nd(c: OpCall) -> Value:
    """``tf.gather_nd(params, indices)`` (``batch_dims=0``): GatherNd. Constant indices are checked against the
    sizes known (TensorFlow raises on one outside, negative ones too; ``bad_indices_policy="IGNORE"``, zeros there,
    is a gap)."""
    x = _int32(c, "x")
    shape = c.ctx.shape(x)
    batch_dims = c.value("batch_dims", 0)
    if batch_dims not in (0, 1) or isinstance(batch_dims, bool) or x.dtype not in (F32, I32, BOOL) or \
            len(shape) <= batch_dims:
        raise c.gap(f"batch_dims={c.value('batch_dims', 0)!r} on a {x.dtype.numpy} tensor")
    if str(c.value("bad_indices_policy", "")).upper() not in ("", "DEFAULT", "ERROR"):  # IGNORE: zeros there
        raise c.gap(f"bad_indices_policy={c.value('bad_indices_policy')!r}")
    if isinstance(c.arguments.get("indices"), TensorArg):
        ids = _int32(c, "indices")
        if ids.dtype != I32:
            raise c.gap(f"{ids.dtype.numpy} indices")
    else:
        array = np.asarray(c.value("indices"))
        if array.dtype.kind not in "iu" or array.ndim < 1 or array.size == 0:
            raise c.gap(f"indices {c.value('indices')!r}")
        bounds = [2**31 if d is None else d for d in shape[batch_dims:batch_dims + array.shape[-1]]]
        if array.shape[-1] > len(shape) - batch_dims or array.ndim <= batch_dims or \
                ((array < 0) | (array >= bounds)).any():
            raise c.gap(f"indices {c.value('indices')!r} outside shape {list(shape)} (TensorFlow raises)")
        ids = c.ctx.ints(array, "indices")
    index_shape = c.ctx.shape(ids)
    depth = index_shape[-1] if index_shape else None
    if depth is None or depth > len(shape) - batch_dims or len(index_shape) <= batch_dims:
        raise c.gap(f"indices of shape {list(index_shape)} into shape {list(shape)}")
    if batch_dims:
        ids, depth = _with_batch_ids(c, ids), depth + 1
    return c.ctx.op("GatherNd", [x, ids], {"Tparams": x.dtype, "Tindices": I32}, dtype=x.dtype,
                    shape=(*index_shape[:-1], *shape[depth:]), label="GatherNd")


def _with_batch_ids(c: OpCall, ids: Value) -> Value:
    """``batch_dims=1``'s indices as plain GatherNd indices: each index of batch row ``b`` gets ``b`` in front
    (``concat([b, index])``), the batch read at run time."""
    from .dynamic_shape import runtime_size, runtime_sizes

    ctx = c.ctx
    index_shape = ctx.shape(ids)
    rank = len(index_shape)
    rows = ctx.op("Range", [ctx.ints(0, "batch_start"), runtime_size(ctx, ids, 0, "batch"),
                            ctx.ints(1, "batch_delta")], {"Tidx": I32}, dtype=I32, shape=(index_shape[0],),
                  label="batch_rows")
    rows = ctx.op("Reshape", [rows, ctx.ints([-1] + [1] * (rank - 1), "batch_rows_shape")], {"Tshape": I32},
                  dtype=I32, shape=(index_shape[0],) + (1,) * (rank - 1), label="batch_rows_column")
    target = ctx.op("ConcatV2", [runtime_sizes(ctx, ids, 0, -1, "batch_ids"), ctx.ints([1], "one"),
                                 ctx.ints(0, "target_axis")], {"N": 2, "Tidx": I32}, dtype=I32, shape=(rank,),
                    label="batch_ids_shape")
    spread = ctx.op("BroadcastTo", [rows, target], {"Tidx": I32}, dtype=I32, shape=(*index_shape[:-1], 1),
                    label="batch_ids")
    return ctx.op("ConcatV2", [spread, ids, ctx.ints(-1, "ids_axis")], {"N": 2, "Tidx": I32}, dtype=I32,
                  shape=(*index_shape[:-1], index_shape[-1] + 1), label="batched_indices")


# -- ranges, masks, frames ---------------------------------------------------------------------------------
def _range_bound(c: OpCall, name: str, default: int | None) -> Value | None:
    """One of ``tf.range``'s start/limit/delta as an int32 scalar (an int64 one held as int32), None if missing."""
    if isinstance(c.arguments.get(name), TensorArg):
        value = _int32(c, name)
        if value.dtype != I32 or c.ctx.shape(value) != ():
            raise c.gap(f"argument {name!r} is a {value.dtype.numpy} tensor of shape {value.shape} (lowered for "
                        "int32 scalars)")
        return value
    if c.value(name, default) is None:
        return None
    return c.ctx.ints(_int(c, name, default), f"{name}_value")


def _range(c: OpCall) -> Value:
    """``tf.range(start, limit, delta)`` of integers (int32; int64 held as int32) with a constant non-zero delta.
    TF raises where the range runs away from ``limit``; TF.js's Range turns ``delta = 1`` around there: the limit is
    first clamped to ``start`` (an empty range). Float ranges (TF's float32 count and ``start + i * delta``) stay a
    gap."""
    dtype = str(c.value("dtype", None))
    if dtype not in ("None", "int32", "int64"):
        raise c.gap(f"dtype={dtype!r} (lowered for integer ranges)")
    start, limit = _range_bound(c, "start", None), _range_bound(c, "limit", None)
    delta = _int(c, "delta", 1)
    if start is None or delta == 0:
        raise c.gap(f"start={c.value('start', None)!r}, delta={delta}")
    if limit is None:
        start, limit = c.ctx.ints(0, "zero"), start
    limit = c.ctx.binary("Maximum" if delta > 0 else "Minimum", limit, start, label="reachable_limit")
    counted = c.ctx.op("Range", [start, limit, c.ctx.ints(delta, "delta")], {"Tidx": I32}, dtype=I32, shape=(None,),
                       label="Range")
    return held_int64(c.ctx, counted) if _int64_range(c, dtype) else counted


def _int64_range(c: OpCall, dtype: str) -> bool:
    """Whether TF's range is int64: asked for, or inferred from an int64 bound (``tf.range(tf.shape(x, out_type=
    tf.int64)[1])``), the widest of the bounds' dtypes (Python ints are int32)."""
    bounds = [c.arguments.get(name) for name in ("start", "limit", "delta")]
    return dtype == "int64" or dtype == "None" and any(
        isinstance(b, TensorArg) and c.ctx.inputs[b.index].dtype == DType.INT64 for b in bounds)


def _sequence_mask(c: OpCall) -> Value:
    """``tf.sequence_mask(lengths, maxlen, dtype)``: ``range(maxlen) < lengths[..., None]``; without ``maxlen``,
    ``max(0, max(lengths))`` at run time, as TF computes it (a ``maxlen`` tensor read at run time too); the bools cast
    to ``dtype``."""
    lengths = _int32(c, "lengths")
    if lengths.dtype != I32:
        raise c.gap(f"{lengths.dtype.numpy} lengths (lowered for integers)")
    shape = c.ctx.shape(lengths)
    dtype = _dtype_of(c, "dtype", "bool")
    maxlen = c.arguments.get("maxlen")
    if maxlen is None or isinstance(maxlen, TensorArg):
        if maxlen is None:
            axes = c.ctx.ints(list(range(len(shape))), "all_axes")
            limit = c.ctx.op("Max", [lengths, axes], {"keep_dims": False, "Tidx": I32}, shape=(), label="longest")
        else:
            limit = _int32(c, "maxlen")
            if limit.dtype != I32 or c.ctx.shape(limit) != ():
                raise c.gap(f"maxlen is a {limit.dtype.numpy} tensor of shape {limit.shape}")
        # TF takes max(0, max(lengths)); it raises on a negative maxlen tensor, where TF.js's Range would count down
        limit = c.ctx.binary("Maximum", limit, c.ctx.ints(0, "zero"), label="maxlen")
        positions = c.ctx.op("Range", [c.ctx.ints(0, "start"), limit, c.ctx.ints(1, "delta")], {"Tidx": I32},
                             dtype=I32, shape=(None,), label="positions")
    else:
        size = _int(c, "maxlen")
        if not 0 < size < 2**24:
            raise c.gap(f"maxlen={size}")
        positions = c.ctx.ints(np.arange(size), "positions")
    mask = c.ctx.op("Less", [positions, c.ctx.expand_dims(lengths, len(shape), "lengths_column")], dtype=BOOL,
                    shape=(*shape, positions.shape[0]), label="mask")
    if dtype == BOOL:
        return mask
    return c.ctx.op("Cast", [mask], {"SrcT": BOOL, "DstT": dtype, "Truncate": False}, dtype=dtype, shape=mask.shape,
                    label="mask_cast")


def _frames(c: OpCall, x: Value, length: int, step: int, axis: int, pad_end: bool, pad_value: Any) -> Value:
    """``tf.signal.frame``: windows of ``length`` every ``step`` along ``axis``, one GatherV2 of a constant
    ``[frames, length]`` index table (built at run time over an unknown size); with ``pad_end``,
    ``ceil(size / step)`` frames over the axis padded with ``pad_value``."""
    shape = c.ctx.shape(x)
    size = shape[axis]
    if length < 1 or step < 1 or x.dtype not in (F32, I32, BOOL):
        raise c.gap(f"frames of {length} every {step} along an axis of size {size} of a {x.dtype.numpy} tensor")
    if size is None:
        return _runtime_frames(c, x, length, step, axis, (pad_value,) if pad_end else None)
    if pad_end:
        count = -(-size // step)
        padding = max(0, length + step * (count - 1) - size)
        if padding:
            pads = [[0, 0]] * len(shape)
            pads[axis] = [0, padding]
            fill = c.ctx.const(_scalar_of(c, pad_value, x.dtype, "pad_value"), "pad_value")
            x = c.ctx.op("PadV2", [x, c.ctx.ints(pads, "paddings"), fill], {"Tpaddings": I32},
                         shape=tuple(d + padding if i == axis else d for i, d in enumerate(shape)), label="padded")
    else:
        count = max(0, 1 + (size - length) // step)
    if count < 1 or count * length > _MAX_TABLE:
        raise c.gap(f"{count} frames of {length} along an axis of size {size}")
    table = np.arange(count)[:, None] * step + np.arange(length)[None, :]
    return c.ctx.op("GatherV2", [x, c.ctx.ints(table, "frame_indices"), c.ctx.ints(axis, "axis")],
                    {"Tparams": x.dtype, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=x.dtype,
                    shape=(*shape[:axis], count, length, *shape[axis + 1:]), label="frames")


def _runtime_frames(c: OpCall, x: Value, length: int, step: int, axis: int,
                    pad_end: tuple[Any] | None = None) -> Value:
    """Frames along an axis of unknown size: ``max(0, 1 + (size - length) // step)`` of them (TF's count, floored
    as TF floors), the index table ``range(count)[:, None] · step + range(length)`` built at run time. With
    ``pad_end`` (``(pad_value,)``): TF's ``ceil(size / step)`` frames, the axis first padded at its end with
    ``max(0, length + step · (count - 1) - size)`` values ``pad_value``."""
    from tfjsconv.narrow_ints import exact_floor_div

    from .dynamic_shape import runtime_size

    if length >= 2**24 or step >= 2**24:
        raise c.gap(f"frames of {length} every {step}")
    size = runtime_size(c.ctx, x, axis, "signal")
    if pad_end is not None:
        negated = c.ctx.binary("Sub", c.ctx.ints(0, "zero_size"), size, label="negated_size")
        floor = exact_floor_div(c.ctx.graph, negated, c.ctx.ints(step, "frame_step"), f"{c.ctx.name}/ceil_steps")
        count = c.ctx.binary("Sub", c.ctx.ints(0, "zero_count"), floor, label="count")
        reach = c.ctx.binary("AddV2", c.ctx.binary("Mul", c.ctx.binary("Sub", count, c.ctx.ints(1, "one"),
                                                                         label="last_frame"),
                                                   c.ctx.ints(step, "step_size"), label="last_start"),
                             c.ctx.ints(length, "reach_length"), label="reach")
        padding = c.ctx.binary("Maximum", c.ctx.binary("Sub", reach, size, label="missing"), c.ctx.ints(0, "none"),
                               label="pad_samples")
        x = _padded_at_end(c, x, axis, padding, pad_end[0])
    else:
        later = c.ctx.binary("Sub", size, c.ctx.ints(length, "frame_length"), label="room")
        steps = c.ctx.binary("FloorDiv", later, c.ctx.ints(step, "frame_step"), label="steps")
        count = c.ctx.binary("Maximum", c.ctx.binary("AddV2", steps, c.ctx.ints(1, "one"), label="count_unclipped"),
                             c.ctx.ints(0, "zero"), label="count")
    starts = c.ctx.op("Range", [c.ctx.ints(0, "start"), count, c.ctx.ints(1, "delta")], {"Tidx": I32}, dtype=I32,
                      shape=(None,), label="frame_numbers")
    offsets = c.ctx.binary("Mul", c.ctx.expand_dims(starts, 1, "frame_column"), c.ctx.ints(step, "step"),
                           label="frame_starts")
    table = c.ctx.binary("AddV2", offsets, c.ctx.ints(np.arange(length)[None, :], "frame_offsets"),
                         label="frame_indices")
    shape = c.ctx.shape(x)
    return c.ctx.op("GatherV2", [x, table, c.ctx.ints(axis, "axis")],
                    {"Tparams": x.dtype, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=x.dtype,
                    shape=(*shape[:axis], None, length, *shape[axis + 1:]), label="frames")


def _padded_at_end(c: OpCall, x: Value, axis: int, padding: Value, pad_value: Any) -> Value:
    """``x`` with ``padding`` (an int32 scalar read at run time) values ``pad_value`` after the end of ``axis``."""
    rank = len(c.ctx.shape(x))
    pair = c.ctx.op("Pack", [c.ctx.ints(0, "no_padding"), padding], {"N": 2, "axis": 0}, dtype=I32, shape=(2,),
                    label="axis_padding")
    row = c.ctx.expand_dims(pair, 0, "axis_padding_row")
    pads = c.ctx.op("Pad", [row, c.ctx.ints([[axis, rank - 1 - axis], [0, 0]], "other_axes")],
                    {"Tpaddings": I32}, dtype=I32, shape=(rank, 2), label="paddings")
    fill = c.ctx.const(_scalar_of(c, pad_value, x.dtype, "pad_value"), "pad_value")
    shape = c.ctx.shape(x)
    return c.ctx.op("PadV2", [x, pads, fill], {"Tpaddings": I32}, shape=shape, label="padded")


def _signal_frame(c: OpCall) -> Value:
    """``tf.signal.frame(signal, frame_length, frame_step, pad_end, pad_value, axis)``."""
    x = c.tensor("signal")
    pad_value = c.value("pad_value", 0)  # TF converts it to the signal's dtype (a float for integers raises)
    if isinstance(pad_value, float) and x.dtype != F32:
        raise c.gap(f"pad_value={pad_value!r} for a {x.dtype.numpy} signal")
    return _frames(c, x, _int(c, "frame_length"), _int(c, "frame_step"), _axis(c, c.value("axis", -1),
                   len(c.ctx.shape(x))), bool(c.value("pad_end", False)), pad_value)


def _extract_sequences(c: OpCall) -> Value:
    """Keras 3 ``extract_sequences(x, sequence_length, sequence_stride)``: ``tf.signal.frame`` on the last axis."""
    x = c.tensor("x")
    return _frames(c, x, _int(c, "sequence_length"), _int(c, "sequence_stride"), len(c.ctx.shape(x)) - 1, False, 0)


# -- linspace ----------------------------------------------------------------------------------------------
#: The most points of a ``linspace`` lowered (its positions are a constant).
_MAX_POINTS = 1 << 20


def _end_point(c: OpCall, name: str) -> Value:
    """``start``/``stop`` of a linspace: a float32 tensor or a number (float32)."""
    if isinstance(c.arguments.get(name), TensorArg):
        value = c.tensor(name)
        if value.dtype != F32:
            raise c.gap(f"a {value.dtype.numpy} {name} (lowered for float32)")
        return value
    number = c.value(name)
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise c.gap(f"{name}={number!r}")
    return c.ctx.floats(number, f"{name}_value")


def _linspace_points(c: OpCall, start: Value, stop: Value, num: int, axis: Any) -> Value:
    """TF's ``linspace`` (``linspace_nd``): ``delta = (stop - start) / max(num - 1, 1)``, the inner points
    ``start + delta · [1 .. num - 2]`` along ``axis``, then ``[start, inner, stop]`` (only ``start`` for one point),
    start and stop broadcast against each other first."""
    shapes = [c.ctx.shape(v) for v in (start, stop)]
    if shapes[0] != shapes[1]:
        if shapes[0] == ():
            start = c.ctx.op("BroadcastTo", [start, _shape_of(c, stop)], {"T": F32, "Tidx": I32}, shape=stop.shape,
                             label="start_broadcast")
        elif shapes[1] == ():
            stop = c.ctx.op("BroadcastTo", [stop, _shape_of(c, start)], {"T": F32, "Tidx": I32}, shape=start.shape,
                            label="stop_broadcast")
        else:
            raise c.gap(f"start and stop of shapes {list(shapes[0])} and {list(shapes[1])}")
    rank = len(c.ctx.shape(start)) + 1
    if isinstance(num, bool) or not isinstance(num, int) or not 0 < num <= _MAX_POINTS:
        raise c.gap(f"num={num!r}")
    axis = _axis(c, axis, rank)
    first = c.ctx.expand_dims(start, axis, "start_expanded")
    if num == 1:
        return first
    last = c.ctx.expand_dims(stop, axis, "stop_expanded")
    if num == 2:
        return _joined(c, [first, last], axis)
    delta = c.ctx.binary("RealDiv", c.ctx.binary("Sub", last, first, label="span"),
                         c.ctx.floats(num - 1, "steps"), label="delta")
    positions = np.arange(1, num - 1, dtype=np.float32).reshape([num - 2 if i == axis else 1 for i in range(rank)])
    inner = c.ctx.binary("AddV2", first, c.ctx.binary("Mul", delta, c.ctx.const(positions, "positions"),
                                                      label="offsets"), label="inner")
    return _joined(c, [first, inner, last], axis)


def _tf_linspace(c: OpCall) -> Value:
    """``tf.linspace(start, stop, num, axis)`` of float32 start/stop (a tensor ``num`` is a gap)."""
    return _linspace_points(c, _end_point(c, "start"), _end_point(c, "stop"), _int(c, "num"), c.value("axis", 0))


def _k3_linspace(c: OpCall) -> Value:
    """Keras 3 ``linspace(start, stop, num, endpoint, axis)`` of float32: ``tf.linspace``; without the endpoint,
    to ``stop - (stop - start) / num``, as Keras computes it. ``retstep`` and other dtypes are gaps."""
    start, stop = _end_point(c, "start"), _end_point(c, "stop")
    num = _int(c, "num", 50)
    if c.value("retstep", False) or str(c.value("dtype", None)) not in ("None", "float32"):
        raise c.gap(f"retstep={c.value('retstep', False)!r}, dtype={c.value('dtype', None)!r}")
    if not c.value("endpoint", True) and num > 1:
        step = c.ctx.binary("RealDiv", c.ctx.binary("Sub", stop, start, label="stop_minus_start"),
                            c.ctx.floats(num, "num"), label="step")
        stop = c.ctx.binary("Sub", stop, step, label="new_stop")
    return _linspace_points(c, start, stop, num, c.value("axis", 0))


#: The most tensors a ``meshgrid`` is lowered for (Keras 3 records them as positional arguments).
_MESH_ARGS = tuple(f"x{i}" for i in range(8))


def _meshgrid(c: OpCall) -> list[Value]:
    """Keras 3 ``meshgrid(*xs, indexing)`` (``tf.meshgrid``): each tensor flattened onto its own axis (the first two
    swapped for ``"xy"``) and broadcast to the grid (TF multiplies by ones: the same values), sizes read at run time
    where unknown."""
    names = [n for n in _MESH_ARGS if n in c.arguments]
    values = [c.tensor(n) for n in names]
    indexing = c.value("indexing", "xy")
    if len(values) < 1 or indexing not in ("xy", "ij") or any(v.dtype not in (F32, I32) for v in values):
        raise c.gap(f"{len(values)} tensors, indexing={indexing!r}")
    counts = []
    for v in values:
        shape = c.ctx.shape(v)
        counts.append(None if None in shape else int(np.prod(shape, dtype=np.int64)))
    order = list(range(len(values)))
    if indexing == "xy" and len(values) > 1:
        order[0], order[1] = 1, 0
    grid = [counts[order[i]] for i in range(len(values))]  # axis i holds tensor order[i]
    parts = [c.ctx.ints([n], f"size_{k}") if n is not None else c.ctx.reshape(
        c.ctx.op("Size", [values[k]], {"out_type": I32, "T": values[k].dtype}, dtype=I32, shape=(), label=f"size_{k}"),
        [1], f"size_{k}_vector") for k, n in ((order[i], grid[i]) for i in range(len(values)))]
    dims = parts[0] if len(parts) == 1 else c.ctx.op(
        "ConcatV2", [*parts, c.ctx.ints(0, "grid_axis")], {"N": len(parts), "Tidx": I32}, dtype=I32,
        shape=(len(parts),), label="grid_shape")
    outputs = []
    for k, v in enumerate(values):
        axis = order.index(k)
        line = c.ctx.op("Reshape", [v, c.ctx.ints([-1 if i == axis else 1 for i in range(len(values))],
                                                  f"line_{k}_shape")], {"Tshape": I32},
                        shape=tuple(counts[k] if i == axis else 1 for i in range(len(values))), label=f"line_{k}")
        outputs.append(c.ctx.op("BroadcastTo", [line, dims], {"T": v.dtype, "Tidx": I32}, shape=tuple(grid),
                                label=f"grid_{k}"))
    return outputs


# -- splits, copies, rank ------------------------------------------------------------------------------------
def _split_along(axis: int | None) -> Callable[[OpCall], list[Value]]:
    """Keras 3 ``vsplit``/``hsplit``/``dsplit``: ``split`` along axis 0, 1 (0 for rank-1 tensors) or 2."""
    def lower(c: OpCall) -> list[Value]:
        rank = len(c.ctx.shape(c.tensor("x")))
        c.arguments["axis"] = (0 if rank == 1 else 1) if axis is None else axis
        if c.arguments["axis"] >= rank:
            raise c.gap(f"a rank-{rank} tensor")
        return _split("indices_or_sections")(c)
    return lower


def _array_split(c: OpCall) -> list[Value]:
    """Keras 3 ``array_split(x, n, axis)``: ``n`` pieces, the first ``size % n`` one longer (along an axis of known
    size; an empty piece is a gap), as the split at those indices."""
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    axis = _axis(c, c.value("axis", 0), len(shape))
    count, size = _int(c, "indices_or_sections"), shape[axis]
    if size is None or not 0 < count <= size:
        raise c.gap(f"indices_or_sections={count} along an axis of size {size}")
    sizes = [size // count + 1] * (size % count) + [size // count] * (count - size % count)
    c.arguments["indices_or_sections"] = [int(v) for v in np.cumsum(sizes)[:-1]]
    c.arguments["axis"] = axis
    return _split("indices_or_sections")(c)


def _array(c: OpCall) -> Value:
    """Keras 3 ``array(x, dtype)`` (``convert_to_tensor``): the tensor, cast where ``dtype`` is another."""
    if c.value("dtype", None) is None:
        return c.ctx.unary("Identity", c.tensor("x"))
    return _cast(c)


def _like(value: int) -> Callable[[OpCall], Value]:
    """``tf.compat.v1.zeros_like``/``ones_like(tensor, dtype, name, optimize)`` (``optimize`` changes no value) and
    Keras 3 ``empty_like`` (``tf.zeros_like``)."""
    def lower(c: OpCall) -> Value:
        c.arguments.pop("optimize", None)
        return _filled_like(value)(c)
    return lower


_X = ("x",)
register_op_layers(
    keras_ops={
        ("Append",): OpSpec(("x1", "x2"), _append, ("axis",)),
        ("BroadcastTo",): OpSpec(_X, _broadcast_to, ("shape",)),
        ("Vstack",): OpSpec(("xs",), _stacked("v")),
        ("Hstack",): OpSpec(("xs",), _stacked("h")),
        ("Dstack",): OpSpec(("xs",), _stacked("d")),
        ("Fliplr",): OpSpec(_X, _flip_axis(1)),
        ("Flipud",): OpSpec(_X, _flip_axis(0)),
        ("Rot90",): OpSpec(("array",), _rot90, ("k", "axes")),
        ("Ravel",): OpSpec(_X, _ravel),
        ("Size",): OpSpec(_X, _size),
        ("Triu",): OpSpec(_X, _triangle(lower_part=False), ("k",)),
        ("Tril",): OpSpec(_X, _triangle(lower_part=True), ("k",)),
        ("Diff",): OpSpec(("a",), _diff, ("n", "axis")),
        ("FullLike",): OpSpec(("x", "fill_value"), _full_like, ("dtype",)),
        ("Select",): OpSpec(("condlist", "choicelist", "default"), _k3_select),
        ("Slice",): OpSpec(("inputs", "start_indices"), _k3_slice, ("shape",)),
        ("ExtractSequences",): OpSpec(_X, _extract_sequences, ("sequence_length", "sequence_stride")),
        ("Vsplit",): OpSpec(_X, _split_along(0), ("indices_or_sections",)),
        ("Hsplit",): OpSpec(_X, _split_along(None), ("indices_or_sections",)),
        ("Dsplit",): OpSpec(_X, _split_along(2), ("indices_or_sections",)),
        ("ArraySplit",): OpSpec(_X, _array_split, ("indices_or_sections", "axis")),
        ("EmptyLike",): OpSpec(_X, _like(0), ("dtype",)),
        ("Ndim",): OpSpec(_X, _rank),
        ("Array",): OpSpec(_X, _array, ("dtype",)),
        ("Meshgrid",): OpSpec(_MESH_ARGS, _meshgrid, ("indexing",)),
        ("Linspace",): OpSpec(("start", "stop"), _k3_linspace, ("num", "endpoint", "retstep", "dtype", "axis")),
    },
    tf_functions={
        ("broadcast_to",): OpSpec(("x", "shape", "name"), _broadcast_to),
        ("slice",): OpSpec(("x", "begin", "size", "name"), _tf_slice, ("input_",)),
        ("strided_slice",): OpSpec(("x", "begin", "end", "strides", "begin_mask", "end_mask", "ellipsis_mask",
                                    "new_axis_mask", "shrink_axis_mask", "var", "name"), _strided_slice, ("input_",)),
        ("compat.v1.gather_nd",): OpSpec(("x", "indices", "name", "batch_dims", "bad_indices_policy"), _gather_nd),
        ("gather_nd",): OpSpec(("x", "indices", "batch_dims", "name", "bad_indices_policy"), _gather_nd),
        ("fill",): OpSpec(("dims", "x", "name", "layout"), _fill),
        ("zeros",): OpSpec(("shape", "dtype", "name", "layout"), _constant_filled(0)),
        ("ones",): OpSpec(("shape", "dtype", "name", "layout"), _constant_filled(1)),
        ("range",): OpSpec(("start", "limit", "delta", "dtype", "name"), _range),
        ("rank",): OpSpec(("x", "name"), _rank),
        ("compat.v1.size",): OpSpec(("x", "name", "out_type"), _size),
        ("size",): OpSpec(("x", "out_type", "name"), _size),
        ("sequence_mask",): OpSpec(("lengths", "maxlen", "dtype", "name"), _sequence_mask),
        ("signal.frame",): OpSpec(("signal", "frame_length", "frame_step", "pad_end", "pad_value", "axis", "name"),
                                  _signal_frame),
        ("linalg.adjoint",): OpSpec(("x", "name"), _adjoint, ("matrix",)),
        ("linspace",): OpSpec(("start", "stop", "num", "name", "axis"), _tf_linspace),
        ("compat.v1.zeros_like",): OpSpec(("x", "dtype", "name", "optimize"), _like(0)),
        ("compat.v1.ones_like",): OpSpec(("x", "dtype", "name", "optimize"), _like(1)),
    })
