"""Op layers: scatters, ``unique``, confusion matrices, histogram bins and shape vectors (tf_keras ``TFOpLambda``).

Registered into :mod:`.op_layers`'s tables (see :func:`.op_layers.register_op_layers`): ``tf.scatter_nd``,
``tf.tensor_scatter_nd_update``, ``tf.unique``, ``tf.math.confusion_matrix``, ``tf.histogram_fixed_width_bins``,
``tf.shape_n``, ``tf.broadcast_dynamic_shape`` and ``tf.realdiv``. TensorFlow raises on an index outside the
tensor; TF.js's ScatterNd checks only the flattened index (cpu) or nothing (wasm), so scatter indices must be
constants checked here, and run-time class ids are routed through a GatherV2 of ``range(num_classes)``, which
raises on both backends where TensorFlow's assertion does.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..op_calls import TensorArg
from .op_layers import (OpCall, OpSpec, _float_op, _int32, _ints, _outputs, float_to_int32,
                        register_op_layers)

I32, F32, BOOL = DType.INT32, DType.FLOAT32, DType.BOOL
#: The integer dtypes TF.js holds as int32 (int64 with its values, as the walk holds int64 ids).
_INT_RESULTS = {"int32": I32, "int64": I32}
#: The most entries of a constant scatter index table or of a confusion matrix lowered.
_MAX_TABLE = 1 << 22


def _dtype_name(value: Any) -> str:
    """``tf.int32``, ``"int32"`` or ``"<dtype: 'int32'>"`` as saved: the plain name."""
    return str(value).replace("<dtype: '", "").replace("'>", "")


def _policy(c: OpCall) -> None:
    """``bad_indices_policy="IGNORE"`` (zeros where an index is outside) is a gap; TF's default raises."""
    if str(c.value("bad_indices_policy", "")).upper() not in ("", "DEFAULT", "ERROR"):
        raise c.gap(f"bad_indices_policy={c.value('bad_indices_policy')!r}")


def _constant_indices(c: OpCall, shape: tuple[int | None, ...]) -> np.ndarray:
    """Constant int indices ``[..., depth]`` into ``shape``, each inside the sizes known (TensorFlow raises on one
    outside; TF.js would write elsewhere): a run-time index tensor or one outside is a gap. Indices into sizes
    known only at run time are checked there (:func:`_index_table`)."""
    if isinstance(c.arguments.get("indices"), TensorArg):
        raise c.gap("indices known only at run time (TensorFlow raises on one outside the tensor; TF.js's ScatterNd "
                    "does not check them)")
    array = np.asarray(c.value("indices"))
    if array.dtype.kind not in "iu" or array.ndim < 1 or array.size == 0 or array.size > _MAX_TABLE:
        raise c.gap(f"indices {c.value('indices')!r}")
    depth = array.shape[-1]
    if not 0 < depth <= len(shape):
        raise c.gap(f"indices of shape {list(array.shape)} into shape {list(shape)}")
    bounds = np.asarray([2**31 - 1 if d is None else d for d in shape[:depth]], np.int64)
    if ((array < 0) | (array >= bounds)).any():
        raise c.gap(f"indices {c.value('indices')!r} outside shape {list(shape)} (TensorFlow raises)")
    return array.astype(np.int32)


def _index_table(c: OpCall, array: np.ndarray, x: Value | None) -> Value:
    """The constant indices as an int32 tensor; each column into an axis of ``x`` of unknown size routed through
    ``GatherV2(range(size), column)``: the same indices, and an error on both TF.js backends where one is outside
    the axis at run time, as TensorFlow raises there."""
    from .dynamic_shape import runtime_range

    shape = c.ctx.shape(x) if x is not None else ()
    unknown = [j for j in range(array.shape[-1]) if j < len(shape) and shape[j] is None]
    if not unknown:
        return c.ctx.ints(array, "indices")
    columns = []
    for j in range(array.shape[-1]):
        column = c.ctx.ints(array[..., j], f"indices_{j}")
        if j in unknown:
            column = c.ctx.op("GatherV2", [runtime_range(c.ctx, x, j, f"axis_{j}"), column, c.ctx.ints(0, f"at_{j}")],
                              {"Tparams": I32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=I32,
                              shape=column.shape, label=f"indices_{j}_checked")
        columns.append(column)
    return c.ctx.op("Pack", columns, {"T": I32, "N": len(columns), "axis": array.ndim - 1}, dtype=I32,
                    shape=array.shape, label="indices")


def _updates(c: OpCall, array: np.ndarray, shape: tuple[int | None, ...], like: Value | None) -> Value:
    """The updates (a tensor, or constants in ``like``'s dtype), of the shape TensorFlow requires:
    ``indices.shape[:-1] + shape[depth:]`` (a size known to differ is a gap: TensorFlow raises)."""
    updates = c.tensor("updates", like=like)
    want = (*array.shape[:-1], *shape[array.shape[-1]:])
    have = c.ctx.shape(updates)
    if len(have) != len(want) or any(h is not None and w is not None and h != w for h, w in zip(have, want)):
        raise c.gap(f"updates of shape {list(have)} for indices of shape {list(array.shape)} into {list(shape)}")
    if updates.dtype not in (F32, I32):
        raise c.gap(f"{updates.dtype.numpy} updates")
    return updates


def _scatter_nd(c: OpCall) -> Value:
    """``tf.scatter_nd(indices, updates, shape)``: ScatterNd of constant indices into constant sizes (duplicate
    indices sum their updates in order, in TF and TF.js alike)."""
    _policy(c)
    if isinstance(c.arguments.get("shape"), TensorArg):
        raise c.gap("a shape known only at run time")
    sizes = tuple(_ints(c, "shape"))
    if not sizes or any(s < 0 for s in sizes) or int(np.prod(sizes, dtype=np.int64)) > _MAX_TABLE:
        raise c.gap(f"shape={list(sizes)}")
    array = _constant_indices(c, sizes)
    like = next((c.ctx.inputs[v.index] for v in (c.arguments.get("updates"),) if isinstance(v, TensorArg)), None)
    updates = _updates(c, array, sizes, like)
    return c.ctx.op("ScatterNd", [c.ctx.ints(array, "indices"), updates, c.ctx.ints(list(sizes), "shape")],
                    {"T": updates.dtype, "Tindices": I32}, dtype=updates.dtype, shape=sizes, label="ScatterNd")


def _tensor_scatter_nd_update(c: OpCall) -> Value:
    """``tf.tensor_scatter_nd_update(tensor, indices, updates)`` of constant indices (checked at run time where they
    index a size known only then, the batch): the updates scattered (ScatterNd) and selected where a scattered
    one marks them, the tensor elsewhere. Not TF.js's TensorScatterUpdate, whose cpu kernel gives float32 results
    off from TensorFlow's. An index given twice is a gap: TensorFlow applies those updates in no specified order."""
    x = c.tensor("x")
    if x.dtype not in (F32, I32):
        raise c.gap(f"a {x.dtype.numpy} tensor")
    shape = c.ctx.shape(x)
    array = _constant_indices(c, shape)
    flat = array.reshape(-1, array.shape[-1])
    if len({tuple(row) for row in flat.tolist()}) != len(flat):
        raise c.gap(f"indices {c.value('indices')!r} name an element twice (TensorFlow's order is unspecified)")
    updates = _updates(c, array, shape, x)
    if updates.dtype != x.dtype:
        raise c.gap(f"{updates.dtype.numpy} updates into a {x.dtype.numpy} tensor")
    indices = _index_table(c, array, x)
    sizes = c.ctx.op("Shape", [x], {"out_type": I32}, dtype=I32, shape=(len(shape),), label="tensor_shape")
    ones = c.ctx.op("OnesLike", [updates], {"T": x.dtype}, dtype=x.dtype, shape=updates.shape, label="ones")
    attrs = {"T": x.dtype, "Tindices": I32}
    hit = c.ctx.op("ScatterNd", [indices, ones, sizes], attrs, dtype=x.dtype, shape=shape, label="updated")
    written = c.ctx.op("ScatterNd", [indices, updates, sizes], attrs, dtype=x.dtype, shape=shape, label="written")
    where = c.ctx.op("NotEqual", [hit, c.ctx.const(np.zeros((), x.dtype.numpy), "zero")],
                     {"incompatible_shape_error": True}, dtype=BOOL, shape=shape, label="is_updated")
    return c.ctx.op("SelectV2", [where, written, x], {"T": x.dtype}, dtype=x.dtype, shape=shape, label="scattered")


def _unique(c: OpCall) -> list[Value]:
    """``tf.unique(x, out_idx)`` of a 1-D int32 tensor: TF.js's Unique (values in order of first appearance, and
    each element's position among them), as TensorFlow's. Floats are a gap: TensorFlow keeps each NaN apart,
    TF.js merges them."""
    x = c.tensor("x")
    if len(c.ctx.shape(x)) != 1 or x.dtype != I32:
        raise c.gap(f"a rank-{len(c.ctx.shape(x))} {x.dtype.numpy} tensor (lowered for 1-D int32; TensorFlow keeps "
                    "each float NaN apart, TF.js merges them)")
    if _dtype_name(c.value("out_idx", "int32")) not in _INT_RESULTS:
        raise c.gap(f"out_idx={c.value('out_idx')!r}")
    return _outputs(c, "Unique", [x], {"T": I32, "out_idx": I32}, [(I32, (None,)), (I32, c.ctx.shape(x))])


def _class_ids(c: OpCall, name: str, num_classes: int) -> Value:
    """A 1-D int32 tensor of class ids, routed through ``GatherV2(range(num_classes), ids)``: the same ids, and an
    error on both TF.js backends for one outside ``[0, num_classes)``, where TensorFlow's assertion raises."""
    ids = _int32(c, name)
    if ids.dtype != I32 or len(c.ctx.shape(ids)) != 1:
        raise c.gap(f"{name} of dtype {ids.dtype.numpy} and shape {list(c.ctx.shape(ids))} (lowered for 1-D ints)")
    table = c.ctx.ints(np.arange(num_classes), f"{name}_classes")
    return c.ctx.op("GatherV2", [table, ids, c.ctx.ints(0, f"{name}_axis")],
                    {"Tparams": I32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=I32, shape=ids.shape,
                    label=f"{name}_checked")


def _confusion_matrix(c: OpCall) -> Value:
    """``tf.math.confusion_matrix(labels, predictions, num_classes, dtype=int32/float32)`` of 1-D int tensors:
    ScatterNd of ones at ``(label, prediction)`` (counts summed), as TensorFlow builds it. ``num_classes`` must be
    given (else TensorFlow reads it from the values at run time) and ``weights`` left out."""
    num = c.value("num_classes", None)
    if isinstance(num, bool) or not isinstance(num, int) or not 0 < num * num <= _MAX_TABLE:
        raise c.gap(f"num_classes={num!r} (lowered for a constant number of classes)")
    if c.has("weights"):
        raise c.gap("weights")
    name = _dtype_name(c.value("dtype", "int32"))
    dtype = {"float32": F32, **_INT_RESULTS}.get(name)
    if dtype is None:
        raise c.gap(f"dtype={name!r}")
    labels, predictions = _class_ids(c, "labels", num), _class_ids(c, "predictions", num)
    pairs = c.ctx.op("Pack", [labels, predictions], {"T": I32, "N": 2, "axis": 1}, dtype=I32,
                     shape=(c.ctx.shape(labels)[0], 2), label="pairs")
    ones = c.ctx.op("OnesLike", [labels], {"T": I32}, dtype=I32, shape=labels.shape, label="ones")
    if dtype == F32:
        ones = c.ctx.op("Cast", [ones], {"SrcT": I32, "DstT": F32, "Truncate": False}, dtype=F32, shape=ones.shape,
                        label="ones_float")
    return c.ctx.op("ScatterNd", [pairs, ones, c.ctx.ints([num, num], "shape")], {"T": dtype, "Tindices": I32},
                    dtype=dtype, shape=(num, num), label="confusion_matrix")


def _histogram_bins(c: OpCall) -> Value:
    """``tf.histogram_fixed_width_bins(values, value_range, nbins)`` of float32 values, as TensorFlow computes it in
    float32: ``floor(nbins · ((x - lo) / (hi - lo)))`` clipped to ``[0, nbins - 1]``, cast to int32 (NaN gives
    INT_MIN, as TF's cast)."""
    x = c.tensor("values")
    if x.dtype != F32:
        raise c.gap(f"{x.dtype.numpy} values (lowered for float32)")
    bounds = c.value("value_range")
    nbins = c.value("nbins", 100)
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in bounds)):
        raise c.gap(f"value_range={bounds!r}")
    if isinstance(nbins, bool) or not isinstance(nbins, int) or not 0 < nbins < 2**24:
        raise c.gap(f"nbins={nbins!r}")
    if _dtype_name(c.value("dtype", "int32")) not in _INT_RESULTS:
        raise c.gap(f"dtype={c.value('dtype')!r}")
    lo, hi = np.float32(bounds[0]), np.float32(bounds[1])
    with np.errstate(over="ignore"):
        width = np.float32(hi - lo)
    shifted = c.ctx.binary("Sub", x, c.ctx.floats(float(lo), "low"), label="shifted")
    scaled = c.ctx.binary("RealDiv", shifted, c.ctx.floats(float(width), "width"), label="scaled_values")
    bins = c.ctx.unary("Floor", c.ctx.binary("Mul", c.ctx.floats(float(nbins), "nbins"), scaled, label="positions"),
                       label="indices")
    clipped = c.ctx.binary("Minimum", c.ctx.binary("Maximum", bins, c.ctx.floats(0.0, "first"), label="above"),
                           c.ctx.floats(float(nbins - 1), "last"), label="clipped")
    nan = c.ctx.op("IsNan", [bins], dtype=BOOL, shape=bins.shape, label="is_nan")  # kept NaN whatever Max/Min do
    kept = c.ctx.op("SelectV2", [nan, bins, clipped], {"T": F32}, dtype=F32, shape=bins.shape, label="kept")
    return float_to_int32(c.ctx, kept, "bins")


def _shape_n(c: OpCall) -> list[Value]:
    """``tf.shape_n(tensors, out_type)``: each tensor's int32 shape (int64 held as int32)."""
    values = c.tensors("x")
    if _dtype_name(c.value("out_type", "int32")) not in _INT_RESULTS or not values:
        raise c.gap(f"out_type={c.value('out_type', 'int32')!r} of {len(values)} tensors")
    return [c.ctx.op("Shape", [v], {"out_type": I32}, dtype=I32, shape=(len(c.ctx.shape(v)),), label=f"shape_{i}")
            for i, v in enumerate(values)]


def _shape_vector(c: OpCall, name: str) -> Value:
    """A 1-D int32 shape vector: a tensor (``tf.shape(x)``) or constant sizes."""
    if isinstance(c.arguments.get(name), TensorArg):
        value = _int32(c, name)
        if value.dtype != I32 or len(c.ctx.shape(value)) != 1 or c.ctx.shape(value)[0] is None:
            raise c.gap(f"{name} of dtype {value.dtype.numpy} and shape {list(c.ctx.shape(value))}")
        return value
    sizes = _ints(c, name)
    if any(s < 0 for s in sizes):
        raise c.gap(f"{name}={sizes!r}")
    return c.ctx.ints(list(sizes), name)


def _broadcast_dynamic_shape(c: OpCall) -> Value:
    """``tf.broadcast_dynamic_shape(shape_x, shape_y)``: BroadcastArgs, which raises on sizes that do not broadcast
    in TF.js as in TensorFlow."""
    a, b = _shape_vector(c, "shape_x"), _shape_vector(c, "shape_y")
    length = max(c.ctx.shape(a)[0], c.ctx.shape(b)[0])
    return c.ctx.op("BroadcastArgs", [a, b], {"T": I32}, dtype=I32, shape=(length,), label="BroadcastArgs")


register_op_layers(
    tf_functions={
        ("scatter_nd",): OpSpec(("indices", "updates", "shape", "bad_indices_policy", "name"), _scatter_nd),
        ("tensor_scatter_nd_update",): OpSpec(("x", "indices", "updates", "name"), _tensor_scatter_nd_update),
        ("unique",): OpSpec(("x", "out_idx", "name"), _unique),
        ("math.confusion_matrix",): OpSpec(("labels", "predictions", "num_classes", "weights", "dtype", "name"),
                                           _confusion_matrix),
        ("histogram_fixed_width_bins",): OpSpec(("values", "value_range", "nbins", "dtype", "name"), _histogram_bins),
        ("shape_n",): OpSpec(("x", "out_type", "name"), _shape_n),
        ("broadcast_dynamic_shape",): OpSpec(("shape_x", "shape_y"), _broadcast_dynamic_shape),
        ("realdiv",): OpSpec(("x", "y", "name"), _float_op("RealDiv", "x", "y")),
    })
