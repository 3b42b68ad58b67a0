"""Op layers: Keras 3 calls session 19's probe (helper H2) found refused by the lowering while ``--loader=tensorflow``
converted them: ``image.map_coordinates``, ``scatter``/``scatter_update``, and the helpers that let existing
lowerings take ``einsum`` with a repeated label (a diagonal), ``nanmedian``/``nanquantile`` over the flattened
tensor (``axis=None``) and a resize of one rank-3 image.

Each is written as Keras 3's TensorFlow backend computes it, op for op in float32 and int32, so the numbers are
TensorFlow's: ``map_coordinates`` takes each coordinate's neighbours (rounded for order 0, floor and floor + 1 for
order 1) as int32, folds them into the image by the fill mode in int32 arithmetic, gathers and weighs them in the
backend's order; a diagonal is gathered (never masked by a product, which would turn an Inf elsewhere into NaN).
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .dynamic_shape import reshape_to, runtime_range, runtime_size, runtime_sizes
from .op_layers import OpCall, OpSpec, _select, _sort_keys, _top_k_all, float_to_int32, register_op_layers
from .op_layers_scatter import _scatter_nd, _tensor_scatter_nd_update

I32, F32, BOOL = DType.INT32, DType.FLOAT32, DType.BOOL
#: The fill modes of Keras 3's ``map_coordinates`` (its ``MAP_COORDINATES_FILL_MODES``).
_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
#: The highest image rank ``map_coordinates`` is lowered for (order 1 gathers 2^rank neighbours).
_MAX_MAP_RANK = 4


# -- einsum: a repeated label is the diagonal, gathered --------------------------------------------------------
def take_diagonals(c: OpCall, values: list[Value], terms: list[str]) -> tuple[list[Value], list[str]]:
    """Each operand whose term repeats a label, replaced by its diagonal over that label (the label once, last):
    the repeated axes moved last, flattened and gathered at ``k·(n^(r-1) + … + 1)``, which copies the diagonal
    exactly (TF's einsum reads it; a product with an identity mask would turn an Inf or NaN off it into NaN).
    The repeated axes must have one size known in the config (TF raises on sizes that differ)."""
    out_values, out_terms = [], []
    for i, (value, term) in enumerate(zip(values, terms)):
        for label in sorted({ch for ch in term if term.count(ch) > 1}, key=term.index):
            value, term = _diagonal(c, value, term, label, f"operand_{i}_{label}")
        out_values.append(value)
        out_terms.append(term)
    return out_values, out_terms


def _diagonal(c: OpCall, x: Value, term: str, label: str, tag: str) -> tuple[Value, str]:
    ctx = c.ctx
    shape = ctx.shape(x)
    axes = [a for a, ch in enumerate(term) if ch == label]
    sizes = {shape[a] for a in axes}
    if len(sizes) != 1 or None in sizes:
        raise c.gap(f"subscripts {c.value('subscripts')!r}: a repeated label over sizes {[shape[a] for a in axes]} "
                    "(lowered for one size known in the config; TensorFlow raises where they differ)")
    n = sizes.pop()
    others = [a for a in range(len(term)) if a not in axes]
    perm = others + axes
    moved = x if perm == list(range(len(term))) else ctx.transpose(x, perm, f"{tag}_axes_last")
    kept = [shape[a] for a in others]
    flat_shape = (*kept, n ** len(axes))
    if sum(d is None for d in kept) <= 1:
        flat = ctx.reshape(moved, flat_shape, f"{tag}_flat")
    else:
        flat = reshape_to(ctx, moved, [runtime_sizes(ctx, moved, 0, len(kept), f"{tag}_kept"), [n ** len(axes)]],
                          flat_shape, f"{tag}_flat")
    step = sum(n ** p for p in range(len(axes)))
    index = ctx.ints(np.arange(n, dtype=np.int64) * step, f"{tag}_diagonal_index")
    diagonal = ctx.op("GatherV2", [flat, index, ctx.ints(len(kept), f"{tag}_axis")],
                      {"Tparams": x.dtype, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=x.dtype,
                      shape=(*kept, n), label=f"{tag}_diagonal")
    return diagonal, "".join(term[a] for a in others) + label


# -- nanmedian / nanquantile over the flattened tensor ---------------------------------------------------------
def flattened_nan_quantile(c: OpCall, q: Any, method: str) -> Value:
    """Keras 3's ``nanquantile(x, q, axis=None)`` (``nanmedian``'s too): ``x`` flattened (batch included), its
    ``k`` non-NaN values (the first ``k`` sorted with NaN read as +Inf, as TF's sort of the masked values gives
    them) handed to ``quantile`` over a run-time length (:func:`.op_layers_linalg._runtime_picks`), NaN when
    ``k`` is 0; ``keepdims`` reshapes to ``q``'s shape and a 1 per axis of ``x``."""
    from .op_layers_linalg import _float_only, _gather_last, _keep, _mix, _probabilities, _runtime_picks

    ctx = c.ctx
    x = _float_only(c, c.tensor("x"))
    shape = ctx.shape(x)
    total = None if None in shape else math.prod(shape)
    if total == 0:
        raise c.gap("an empty tensor")
    keep = _keep(c)
    probabilities = _probabilities(c, q)
    flat = ctx.op("Reshape", [x, ctx.ints([-1], "flat_shape")], {"Tshape": I32}, shape=(total,), label="flat")
    nan = ctx.op("IsNan", [flat], dtype=BOOL, shape=flat.shape, label="is_nan")
    valid = ctx.op("Cast", [ctx.op("LogicalNot", [nan], dtype=BOOL, shape=flat.shape, label="valid")],
                   {"SrcT": BOOL, "DstT": I32, "Truncate": False}, dtype=I32, shape=flat.shape, label="valid_int32")
    count = ctx.op("Sum", [valid, ctx.ints(0, "count_axis")], {"keep_dims": False, "Tidx": I32}, dtype=I32, shape=(),
                   label="count")
    filled = _select(c, nan, ctx.floats(np.inf, "inf"), flat, "nan_last")
    ascending = _sort_keys(c, _top_k_all(c, _sort_keys(c, filled))[0], "sorted")
    length = ctx.op("Maximum", [count, ctx.ints(1, "one")], dtype=I32, shape=(), label="length")
    size = ctx.op("Reshape", [length, ctx.ints([1], "length_shape")], {"Tshape": I32}, dtype=I32, shape=(1,),
                  label="length_vector")
    values = ctx.op("Slice", [ascending, ctx.ints([0], "begin"), size], {"Index": I32}, dtype=F32, shape=(None,),
                    label="valid_values")
    indices, weights = _runtime_picks(c, values, probabilities, method)
    picked = [_gather_last(c, values, index, f"pick_{k}") for k, index in enumerate(indices)]
    mixed = _mix(c, picked, weights, method)
    empty = ctx.op("Equal", [count, ctx.ints(0, "none")], {"incompatible_shape_error": True}, dtype=BOOL, shape=(),
                   label="empty")
    out = _select(c, empty, ctx.floats(np.nan, "nan"), mixed, "quantile")
    if keep:
        out = ctx.reshape(out, [*probabilities.shape, *([1] * len(shape))], "kept")
    return out


# -- a resize of one image --------------------------------------------------------------------------------------
def one_image_resize(c: OpCall, resize: Callable[[OpCall], Value]) -> Value:
    """``image.resize`` of a rank-3 image: Keras's TensorFlow backend (and ``tf.image.resize``) computes it as the
    batch of that one image, so the image gets a batch axis of 1, is resized by ``resize`` and loses it again."""
    from .op_layers_linalg import _Given

    x = c.tensor("x")
    batch = c.ctx.expand_dims(x, 0, "as_batch")
    resized = resize(_Given(c, x=batch))
    if len(c.ctx.shape(resized)) != 4:
        raise c.gap(f"a resize of a rank-3 image to rank {len(c.ctx.shape(resized))}")
    return c.ctx.squeeze(resized, 0, "one_image")


# -- scatter / scatter_update -----------------------------------------------------------------------------------
def _plain_indices(c: OpCall) -> None:
    """Keras 3's saved ``__numpy__``/``__tensor__`` index constant as the plain integer array the scatter lowerings
    read (a float or unreadable one is a gap)."""
    value = c.arguments.get("indices")
    if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
        config = value.get("config") or {}
        if str(config.get("dtype")) not in ("int32", "int64"):
            raise c.gap(f"indices of dtype {config.get('dtype')!r}")
        try:
            c.arguments["indices"] = np.asarray(config.get("value"), dtype=np.int64).tolist()
        except (TypeError, ValueError, OverflowError):
            raise c.gap("indices that are not an integer array") from None


def _keras_scatter(c: OpCall) -> Value:
    """``ops.scatter(indices, values, shape)``: ``tf.scatter_nd``, duplicate indices summed (ScatterNd)."""
    c.arguments["updates"] = c.arguments.pop("values", None)
    _plain_indices(c)
    return _scatter_nd(c)


def _keras_scatter_update(c: OpCall) -> Value:
    """``ops.scatter_update(inputs, indices, updates)`` without a reduction: ``tf.tensor_scatter_nd_update``
    (an element named twice stays a gap: TensorFlow's order is unspecified)."""
    if c.value("reduction", None) is not None:
        raise c.gap(f"reduction={c.value('reduction')!r}")
    c.arguments["x"] = c.arguments.pop("inputs", None)
    _plain_indices(c)
    return _tensor_scatter_nd_update(c)


# -- image.map_coordinates ----------------------------------------------------------------------------------------
class _Axis:
    """One image axis's int32 facts for the fill modes: its size, ``size - 1``, ``2·size`` (constants when known)."""

    def __init__(self, c: OpCall, x: Value, axis: int) -> None:
        ctx = c.ctx
        known = ctx.shape(x)[axis]
        self.known = known
        tag = f"axis_{axis}"
        self.size = ctx.ints(known, f"{tag}_size") if known is not None else runtime_size(ctx, x, axis, tag)
        if known is not None:
            self.last, self.double = ctx.ints(known - 1, f"{tag}_last"), ctx.ints(2 * known, f"{tag}_double")
        else:
            self.last = ctx.op("Sub", [self.size, ctx.ints(1, f"{tag}_one")], dtype=I32, shape=(), label=f"{tag}_last")
            self.double = ctx.op("AddV2", [self.size, self.size], dtype=I32, shape=(), label=f"{tag}_double")


def _int_op(c: OpCall, op: str, a: Value, b: Value, label: str) -> Value:
    from .context import broadcast_shape

    return c.ctx.op(op, [a, b], dtype=I32, shape=broadcast_shape(a.shape, b.shape), label=label)


def _compare(c: OpCall, op: str, a: Value, b: Value, label: str) -> Value:
    from .context import broadcast_shape

    return c.ctx.op(op, [a, b], dtype=BOOL, shape=broadcast_shape(a.shape, b.shape), label=label)


def _fold(c: OpCall, index: Value, axis: _Axis, x: Value, number: int, mode: str,
          tag: str) -> tuple[Value, Value | None]:
    """Keras's ``process_coordinates`` of an int32 index: the index into the image and (constant mode) whether it
    was inside. Clips are Maximum/Minimum (wasm's int32 ClipByValue is wrong); ``abs`` is a select of ``0 - i``
    (TF wraps INT_MIN to itself, as int32 Sub does). Mirror can give ``size`` itself, outside the image, where TF's
    gather raises: routed through ``GatherV2(range(size), index)``, which raises there on TF.js too."""
    ctx = c.ctx
    if mode in ("constant", "nearest"):
        low = _int_op(c, "Maximum", index, ctx.ints(0, f"{tag}_zero"), f"{tag}_above")
        safe = _int_op(c, "Minimum", low, axis.last, f"{tag}_clipped")
        if mode == "nearest":
            return safe, None
        inside = ctx.op("LogicalAnd", [_compare(c, "GreaterEqual", index, ctx.ints(0, f"{tag}_first"), f"{tag}_from"),
                                       _compare(c, "Less", index, axis.size, f"{tag}_to")],
                        dtype=BOOL, shape=index.shape, label=f"{tag}_valid")
        return safe, inside
    if mode == "wrap":
        return _int_op(c, "FloorMod", index, axis.size, f"{tag}_wrapped"), None
    negative = _compare(c, "Less", index, ctx.ints(0, f"{tag}_zero"), f"{tag}_negative")
    flipped = _int_op(c, "Sub", ctx.ints(0, f"{tag}_origin"), index, f"{tag}_negated")
    magnitude = ctx.op("SelectV2", [negative, flipped, index], {"T": I32}, dtype=I32, shape=index.shape,
                       label=f"{tag}_abs")
    mod = _int_op(c, "FloorMod", magnitude, axis.double, f"{tag}_mod")
    under = _compare(c, "Less", mod, axis.size, f"{tag}_under")
    back = _int_op(c, "Sub", axis.double, mod, f"{tag}_back")
    if mode == "reflect":
        back = _int_op(c, "Sub", back, ctx.ints(1, f"{tag}_one"), f"{tag}_back_reflected")
    folded = ctx.op("SelectV2", [under, mod, back], {"T": I32}, dtype=I32, shape=index.shape, label=f"{tag}_folded")
    if mode == "mirror":
        positions = ctx.ints(np.arange(axis.known), f"{tag}_positions") if axis.known is not None else \
            runtime_range(ctx, x, number, f"{tag}_positions")
        folded = ctx.op("GatherV2", [positions, folded, ctx.ints(0, f"{tag}_check_axis")],
                        {"Tparams": I32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=I32,
                        shape=index.shape, label=f"{tag}_checked")
    return folded, None


def _neighbours(c: OpCall, coordinate: Value, order: int, tag: str) -> list[tuple[Value, Value | None]]:
    """``_nearest_indices_and_weights`` (the rounded coordinate, weight 1: left out, an exact product) or
    ``_linear_indices_and_weights`` (floor with weight ``1 - f``, floor + 1 with ``f = x - floor(x)``), the indices
    cast to int32 as TF casts (:func:`float_to_int32`)."""
    ctx = c.ctx
    if order == 0:
        rounded = ctx.unary("Round", coordinate, label=f"{tag}_rounded")
        return [(float_to_int32(ctx, rounded, f"{tag}_index"), None)]
    lower = ctx.unary("Floor", coordinate, label=f"{tag}_floor")
    upper_weight = ctx.binary("Sub", coordinate, lower, label=f"{tag}_upper_weight")
    lower_weight = ctx.binary("Sub", ctx.floats(1.0, f"{tag}_one"), upper_weight, label=f"{tag}_lower_weight")
    index = float_to_int32(ctx, lower, f"{tag}_index")
    upper = _int_op(c, "AddV2", index, ctx.ints(1, f"{tag}_step"), f"{tag}_upper_index")
    return [(index, lower_weight), (upper, upper_weight)]


def _map_options(c: OpCall) -> tuple[int, str, float]:
    order, mode, fill = c.value("order"), c.value("fill_mode", "constant"), c.value("fill_value", 0)
    if order not in (0, 1) or isinstance(order, bool):
        raise c.gap(f"order={order!r} (Keras's TensorFlow backend computes 0 and 1)")
    if mode not in _FILL_MODES:
        raise c.gap(f"fill_mode={mode!r}")
    if isinstance(fill, bool) or not isinstance(fill, (int, float)):
        raise c.gap(f"fill_value={fill!r}")
    return order, mode, float(np.float32(fill))


def _map_coordinates(c: OpCall) -> Value:
    """``image.map_coordinates(inputs, coordinates, order, fill_mode, fill_value)`` of a float32 image of rank up
    to 4 (sizes known or read at run time) at float32 coordinates (a constant or a tensor, ``[rank, ...]``): per
    combination of the axes' neighbours a GatherNd of the folded indices, in constant mode the fill where any index
    was outside, times the product of the weights; the terms summed in Keras's order."""
    order, mode, fill = _map_options(c)
    ctx = c.ctx
    x = c.tensor("inputs")
    coordinates = c.tensor("coordinates", like=x)
    if x.dtype != F32 or coordinates.dtype != F32:
        raise c.gap(f"a {x.dtype.numpy} image at {coordinates.dtype.numpy} coordinates (lowered for float32)")
    rank, cshape = len(ctx.shape(x)), ctx.shape(coordinates)
    if len(cshape) < 2 or cshape[0] != rank or not 1 <= rank <= _MAX_MAP_RANK:
        raise c.gap(f"coordinates of shape {list(cshape)} into a rank-{rank} image (lowered for rank 1 to "
                    f"{_MAX_MAP_RANK})")
    out_shape = tuple(cshape[1:])
    if mode == "mirror":
        _check_mirror_constants(c, coordinates, ctx.shape(x), order)
    per_axis = []
    for d in range(rank):
        tag = f"axis_{d}"
        coordinate = ctx.op("GatherV2", [coordinates, ctx.ints(d, f"{tag}_row"), ctx.ints(0, f"{tag}_row_axis")],
                            {"Tparams": F32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=F32,
                            shape=out_shape, label=f"{tag}_coordinate")
        axis = _Axis(c, x, d)
        nodes = []
        for k, (index, weight) in enumerate(_neighbours(c, coordinate, order, tag)):
            safe, inside = _fold(c, index, axis, x, d, mode, f"{tag}_{k}")
            nodes.append((safe, inside, weight))
        per_axis.append(nodes)
    total = None
    for n, combination in enumerate(itertools.product(*per_axis)):
        term = _map_term(c, x, combination, out_shape, mode, fill, f"term_{n}")
        total = term if total is None else ctx.binary("AddV2", total, term, label=f"sum_{n}")
    return total


def _check_mirror_constants(c: OpCall, coordinates: Value, sizes: tuple, order: int) -> None:
    """Constant mirror-mode coordinates of which a neighbour folds onto an axis's size itself (``size`` below a
    multiple of ``2·size``): TensorFlow's gather raises on every input there, so the model has no numbers to match;
    a gap, named. (Coordinates known only at run time raise there, :func:`_fold`.)"""
    from tfjsconv.passes.graph_edit import const_array

    array = const_array(coordinates)
    if array is None:
        return
    for d, size in enumerate(sizes):
        if size is None:
            continue
        points = np.asarray(array[d], np.float32)
        base = np.round(points) if order == 0 else np.floor(points)
        with np.errstate(invalid="ignore"):
            inside = np.isfinite(base) & (np.abs(base) < 2.0**31)
        first = np.where(inside, np.nan_to_num(base), -2.0**31).astype(np.int64)
        for index in ([first] if order == 0 else [first, first + 1]):
            magnitude = np.abs(index)
            magnitude = np.where(magnitude == 2**31, -2**31, magnitude)  # int32's abs(INT_MIN)
            if np.any(np.mod(magnitude, 2 * size) == size):
                raise c.gap(f"fill_mode='mirror' at constant coordinates whose neighbour folds onto size {size} of "
                            f"axis {d} (TensorFlow's gather raises there)")


def _map_term(c: OpCall, x: Value, combination: tuple, out_shape: tuple, mode: str, fill: float, tag: str) -> Value:
    """One neighbour combination's ``prod(weights) · where(all_valid, gather_nd(x, indices), fill)``."""
    ctx = c.ctx
    indices = [safe for safe, _, _ in combination]
    stacked = ctx.op("Pack", indices, {"T": I32, "N": len(indices), "axis": len(out_shape)}, dtype=I32,
                     shape=(*out_shape, len(indices)), label=f"{tag}_indices")
    gathered = ctx.op("GatherNd", [x, stacked], {"Tparams": F32, "Tindices": I32}, dtype=F32, shape=out_shape,
                      label=f"{tag}_gathered")
    if mode == "constant":
        valid = None
        for k, (_, inside, _) in enumerate(combination):
            valid = inside if valid is None else ctx.op("LogicalAnd", [valid, inside], dtype=BOOL, shape=out_shape,
                                                        label=f"{tag}_valid_{k}")
        gathered = _select(c, valid, gathered, ctx.floats(fill, f"{tag}_fill"), f"{tag}_filled")
    weights = [w for _, _, w in combination if w is not None]
    if not weights:
        return gathered
    weight = weights[0]
    for k, w in enumerate(weights[1:]):
        weight = ctx.binary("Mul", weight, w, label=f"{tag}_weight_{k}")
    return ctx.binary("Mul", weight, gathered, label=f"{tag}_weighted")


register_op_layers(keras_ops={
    ("MapCoordinates",): OpSpec(("inputs", "coordinates"), _map_coordinates, ("order", "fill_mode", "fill_value")),
    ("Scatter",): OpSpec(("indices", "values"), _keras_scatter, ("shape",)),
    ("ScatterUpdate",): OpSpec(("inputs", "indices", "updates"), _keras_scatter_update, ("reduction",)),
})
