"""Op-layer arguments known only at run time: ``tf.pad`` paddings, ``tf.math.top_k``'s ``k``, ``tf.split`` sizes.

tf_keras records ``tf.pad(x, [[0, 0], [0, 12 - n], [0, 0]])`` (padding to a window multiple, ``n`` from ``tf.shape``),
``tf.math.top_k(v, k=n // 2)`` and ``tf.split(x, [2, n - 2], axis=1)`` with tensors in those arguments; TF packs them
into an int32 tensor at run time, and so does the lowering (int64 entries held as int32, as TF.js holds them).

TF.js 4.22's executor reads paddings, ``k`` and split sizes on the host at run time (measured session 23, cpu and
wasm, ``/work/notes/probe23/h7/ops.js``): TopKV2 fails for ``k`` past the axis or below 0 and SplitV for sizes that
do not sum to the axis, more than one -1, a -1 that would be negative or an entry below -1, exactly where TF raises;
MirrorPad fails for a padding below 0 or past TF's REFLECT/SYMMETRIC limits, as TF does. So those go to TF.js as
they are. Pad/PadV2 alone differ: TF raises on a negative padding, TF.js crops silently (``[2, 5, 3]`` padded by
``[0, -1]`` gives ``[2, 4, 3]``). The core pass ``pad_guard`` checks run-time paddings of every graph (the
traced one too): ``paddings + GatherV2([0], Minimum(paddings, 0))``, unchanged when every entry is at least 0, a
failed TF.js run (cpu, wasm: GatherV2 checks its indices) otherwise.
Entries known when the graph is built give the static output sizes, as TF's shape inference does.

Other arguments known only at run time (session 29): an ``axis`` (moved last by a permutation table, lowered along
-1, moved back: :func:`lower_at_run_time_axis`), ``tf.transpose``'s ``perm``, ``band_part``'s bounds and
``tf.image.rot90``'s ``k`` (:func:`lower_at_run_time`); each fails in TF.js where TF raises.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.passes.graph_edit import const_array

from ..op_calls import KERAS_OP_PREFIX, TensorArg
from .known_values import known_ints
from .op_layers import _MAX_PIECES, OpCall, _axis, _cast_int64, _holds_tensor, _int32, _known_entries, _outputs

I32 = DType.INT32


def _int_tensor(c: OpCall, item: Any, label: str) -> Value:
    """``item`` (a tensor, an int constant, or nested lists of both) as the int32 tensor TF packs it into."""
    if isinstance(item, TensorArg):
        value = _cast_int64(c, c.ctx.inputs[item.index], f"{label}_int32")
        if value.dtype != I32:
            raise c.gap(f"{label} is a {value.dtype.value} tensor (integers are lowered)")
        return value
    if not _holds_tensor(item):
        array = np.asarray(item)
        if array.dtype.kind not in "iu" or array.size and (array.min() < -2**31 or array.max() >= 2**31):
            raise c.gap(f"{label} = {item!r} is not an int32 constant")
        return c.ctx.ints(array, label)
    if not isinstance(item, (list, tuple)) or not item:
        raise c.gap(f"{label} = {item!r}")
    parts = [_int_tensor(c, v, f"{label}_{i}") for i, v in enumerate(item)]
    shapes = {c.ctx.shape(p) for p in parts}
    if len(shapes) != 1:
        raise c.gap(f"{label} packs items of shapes {sorted(map(list, shapes))}")
    return c.ctx.op("Pack", parts, {"N": len(parts), "axis": 0}, dtype=I32, shape=(len(parts), *shapes.pop()),
                    label=f"{label}_packed")


def _known_rows(value: Value, rank: int) -> list[list[int | None]]:
    """Each row of a ``[rank, 2]`` paddings tensor as far as it is known when the graph is built."""
    array = const_array(value)
    if array is not None:
        return np.asarray(array).reshape(rank, 2).tolist()
    node = value.producer
    if node.op == "Pack" and node.attrs.get("axis") == 0 and all(len(v.shape or ()) == 1 for v in node.inputs):
        return [_known_entries(v) or [None, None] for v in node.inputs]
    return [[None, None]] * rank


def pad_at_run_time(c: OpCall, key: str, mode_key: str, value_key: str) -> Value:
    """``pad(x, paddings)`` with a tensor in ``paddings``: Pad/PadV2 (the ``pad_guard`` pass checks the paddings), or
    MirrorPad (TF.js checks its paddings as TF does)."""
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    paddings = _int_tensor(c, c.arguments[key], key)
    if c.ctx.shape(paddings) != (len(shape), 2):
        raise c.gap(f"paddings of shape {list(c.ctx.shape(paddings))} for a rank-{len(shape)} tensor")
    rows = _known_rows(paddings, len(shape))
    if any(p is not None and p < 0 for row in rows for p in row):
        raise c.gap(f"paddings {rows} (TensorFlow raises on a negative padding)")
    out = tuple(None if d is None or None in row else d + row[0] + row[1] for d, row in zip(shape, rows))
    mode = str(c.value(mode_key, "constant")).upper()
    if mode in ("REFLECT", "SYMMETRIC"):
        if c.ctx.class_name.startswith(KERAS_OP_PREFIX) and c.value(value_key, None) is not None:
            raise c.gap(f"constant_values with mode={mode.lower()!r} (Keras raises)")
        return c.ctx.op("MirrorPad", [x, paddings], {"Tpaddings": I32, "mode": mode}, shape=out)
    if mode != "CONSTANT":
        raise c.gap(f"mode={c.value(mode_key)!r}")
    fill = c.arguments.get(value_key)
    if not isinstance(fill, TensorArg) and not (fill or 0):
        return c.ctx.op("Pad", [x, paddings], {"Tpaddings": I32}, shape=out)
    return c.ctx.op("PadV2", [x, paddings, c.tensor(value_key, like=x)], {"Tpaddings": I32}, shape=out)


def top_k_at_run_time(c: OpCall) -> list[Value]:
    """``top_k(x, k)`` with ``k`` a scalar tensor: TopKV2 reading it at run time (TF.js fails for ``k`` past the axis
    or below 0, as TF does), sorted, equal values by index as TF."""
    x = _int32(c, "x")
    shape = c.ctx.shape(x)
    k = _int_tensor(c, c.arguments["k"], "k")
    if not shape or c.ctx.shape(k) != () or not c.value("sorted", True) or \
            str(c.value("index_type", "int32")) not in ("int32", "int64") or x.dtype not in (DType.FLOAT32, I32):
        raise c.gap(f"k of shape {list(c.ctx.shape(k))}, sorted={c.value('sorted', True)!r} of a {x.dtype.value} "
                    f"tensor of shape {list(shape)}")
    out = (*shape[:-1], (_known_entries(k) or [None])[0])
    attrs = {"sorted": True, "T": x.dtype, "Tk": I32, "index_type": I32}
    return _outputs(c, "TopKV2", [x, k], attrs, [(x.dtype, out), (I32, out)])


def split_at_run_time(c: OpCall, key: str) -> list[Value]:
    """tf_keras ``split(x, sizes)`` with a tensor among the sizes: SplitV reading them at run time (TF.js fails where
    TF raises: sizes not summing to the axis, entries below -1, a -1 left negative); the number of pieces must be
    known when the graph is built."""
    if c.ctx.class_name.startswith(KERAS_OP_PREFIX):
        raise c.gap(f"argument {key!r} is a tensor")
    x = c.tensor("x")
    shape = c.ctx.shape(x)
    axis = _axis(c, c.value("axis", 0), len(shape))
    sizes = _sized_by_num(c, _int_tensor(c, c.arguments[key], key))
    entries = _known_entries(sizes)
    if len(c.ctx.shape(sizes)) != 1 or entries is None or not 0 < len(entries) <= _MAX_PIECES or \
            c.value("num", None) not in (None, len(entries)):
        raise c.gap(f"sizes of shape {list(c.ctx.shape(sizes))} (a vector of known length is lowered)")
    if any(e is not None and e < -1 for e in entries) or entries.count(-1) > 1:
        raise c.gap(f"sizes {entries} (TensorFlow raises)")
    pieces = list(entries)
    if None not in entries and shape[axis] is not None:  # every size known: TF's checks, when the graph is built
        if -1 in pieces:
            pieces[pieces.index(-1)] = shape[axis] - sum(p for p in pieces if p != -1)
        if min(pieces) < 0 or sum(pieces) != shape[axis]:
            raise c.gap(f"sizes {entries} along an axis of size {shape[axis]} (TensorFlow raises)")
    pieces = [None if p == -1 else p for p in pieces]
    attrs = {"num_split": len(pieces), "T": x.dtype, "Tlen": I32}  # a -1 among the sizes: the core's split_sizes
    return _outputs(c, "SplitV", [x, sizes, c.ctx.ints(axis, "axis")], attrs, [
        (x.dtype, tuple(p if i == axis else d for i, d in enumerate(shape))) for p in pieces])


def _sized_by_num(c: OpCall, sizes: Value) -> Value:
    """Sizes of a length unknown in the graph (``tf.split(x, tf.reshape(s, [-1]), num=2)``, a vector Input's batch)
    reshaped to the ``num`` pieces the call gives: TF's SplitV raises where the length differs, TF.js's Reshape
    fails there (cpu, wasm). Other sizes as they are."""
    num = c.value("num", None)
    if c.ctx.shape(sizes) != (None,) or isinstance(num, bool) or not isinstance(num, int) or \
            not 0 < num <= _MAX_PIECES:
        return sizes
    return c.ctx.reshape(sizes, [num], "sizes_of_num")


def known_argument(c: OpCall, key: str) -> None:
    """tf_keras argument ``key`` holding tensors (``axis=tf.rank(x) - 1``) replaced by the ints they hold where the
    graph fixes them when it is built (:mod:`.known_values`, as TF's graph reads them); a value known only at run time
    is a gap by name (TF.js's graph needs the axis to give the output's shape). :meth:`.op_layers.OpCall.value` calls
    it for every ``axis``/``axes`` it reads, so every lowering reading an axis takes such tensors alike."""
    c.arguments[key] = _known_item(c, c.arguments[key], key)


def _known_item(c: OpCall, item: Any, key: str) -> Any:
    if isinstance(item, list):
        return [_known_item(c, v, key) for v in item]
    if not isinstance(item, TensorArg):
        return item
    value = c.ctx.inputs[item.index]
    entries = known_ints(value)
    if entries is None or len(c.ctx.shape(value)) > 1:
        what = "axis" if key in ("axis", "axes") else "value"
        raise c.gap(f"argument {key!r} is a tensor whose value is known only at run time (a constant {what} is lowered)")
    return entries[0] if c.ctx.shape(value) == () else entries


#: tf_keras functions whose scalar ``axis`` may be known only at run time (``tf.reduce_sum(x, axis=tf.shape(y)[0] -
#: 1)``), by how the result relates to the input moved so that axis is last (:func:`lower_at_run_time_axis`).
_REDUCTIONS = ("sum", "max", "min", "mean", "prod", "any", "all", "logsumexp", "variance", "std", "euclidean_norm")
_L2_NORMALIZE = ("math.l2_normalize", "nn.l2_normalize", "linalg.l2_normalize")
RUN_TIME_AXIS_KINDS: dict[str, str] = {
    **{name: "reduce" for r in _REDUCTIONS for name in (f"math.reduce_{r}", f"reduce_{r}")},
    "math.count_nonzero": "reduce",
    **{name: "drop" for name in ("math.argmax", "argmax", "math.argmin", "argmin")},
    **{name: "keep" for name in ("math.cumsum", "cumsum", "math.cumprod", "cumprod", "reverse", "reverse_v2",
                                  *_L2_NORMALIZE)},
    "concat": "concat", "compat.v1.gather": "gather", "gather": "gather", "expand_dims": "expand", "split": "split",
}
#: The kinds whose axis may be a list of one tensor (``tf.reverse(x, [a])``, ``reduce_sum(x, [a])``).
_LISTED_AXIS = ("reduce", "keep", "expand")
#: Functions of those kinds whose TF op takes a scalar axis only (Cumsum raises "axis must be a scalar" on ``[1]``,
#: though tf_keras builds the call): their list or vector axis stays a gap by name.
_SCALAR_AXIS_ONLY = frozenset({"math.cumsum", "cumsum", "math.cumprod", "cumprod"})


def _axis_key(c: OpCall) -> str:
    """The argument holding the axis: TF 1's ``dim`` for ``l2_normalize`` (TF raises when both are given)."""
    return "dim" if c.function in _L2_NORMALIZE and c.has("dim") else "axis"


def _run_time_axis(c: OpCall) -> Value | None:
    """The call's axis as a scalar int32 tensor where it is a tensor known only at run time (a one-item list or
    vector of one too, for a reduction, ``reverse``, ``l2_normalize`` or ``expand_dims``, which TF accepts), else None
    (the static lowering reads it, or names it). Reads the arguments only.

    Two axes whose count TF reads at run time are taken as one axis, a Reshape to a scalar that fails in TF.js for
    any other count: a vector of unknown length (``axis=ax`` of an int32 ``Input(())``, whose batch is the count:
    TF reduces over each axis listed, which the rank of such a result cannot follow), and a ``tf.squeeze`` without
    axes, of unknown rank (``axis=tf.squeeze(a)``): it keeps no size-1 axis, so one entry is a scalar, exactly where
    ``cumsum``, ``argmax``, ``gather``... take it and TF raises otherwise."""
    item = c.arguments.get(_axis_key(c))
    listed = RUN_TIME_AXIS_KINDS[c.function] in _LISTED_AXIS and c.function not in _SCALAR_AXIS_ONLY
    if isinstance(item, list) and len(item) == 1 and listed:
        item = item[0]
    if not isinstance(item, TensorArg):
        return None
    given = c.ctx.inputs[item.index]
    value = _cast_int64(c, given, "axis_int32")
    if value.dtype != I32 or known_ints(value) is not None:
        return None
    if value.shape is None:
        if not _squeezed_whole(given):
            raise c.gap("argument 'axis' is a tensor of unknown rank (a scalar, a tf.squeeze without axes or a "
                        "vector of one is lowered)")
        return c.ctx.reshape(value, [], "axis_scalar")
    shape = tuple(value.shape)
    if shape in ((1,), (None,)) and listed:
        return c.ctx.reshape(value, [], "axis_scalar")
    return value if shape == () else None


def _squeezed_whole(value: Value) -> bool:
    """Whether ``value`` is a Squeeze without axes (int64 ones through their Cast): no size-1 axis is left in it."""
    node = value.producer
    while node is not None and node.op in ("Identity", "Cast") and node.inputs:
        node = node.inputs[0].producer
    return node is not None and node.op == "Squeeze" and not node.attrs.get("squeeze_dims")


def _permutations(c: OpCall, axis: Value, table: list[list[int]], label: str) -> Value:
    """Row ``axis`` of ``table`` (one permutation per axis), read at run time. An axis outside ``[-rank, rank)``
    makes TF.js's GatherV2 fail (cpu, wasm), where TensorFlow raises on it."""
    rank = len(table)
    negative = c.ctx.op("Less", [axis, c.ctx.ints(0, f"{label}_zero")], dtype=DType.BOOL, shape=(), label=f"{label}_neg")
    wrapped = c.ctx.op("SelectV2", [negative, c.ctx.binary("AddV2", axis, c.ctx.ints(rank, f"{label}_rank"),
                                                             label=f"{label}_plus_rank"), axis],
                       dtype=I32, shape=(), label=f"{label}_axis")
    return c.ctx.op("GatherV2", [c.ctx.ints(table, f"{label}_table"), wrapped, c.ctx.ints(0, f"{label}_gather_axis")],
                    {"Tparams": I32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=I32,
                    shape=(len(table[0]),), label=f"{label}_perm")


def _moved(c: OpCall, x: Value, perm: Value, label: str, kept: tuple[int | None, ...] | None = None) -> Value:
    """``x`` transposed by a permutation known only at run time: sizes kept only where every axis has one size, or
    ``kept``, the sizes the caller knows every permutation it may pick leaves (rot90's channels and batch)."""
    shape = c.ctx.shape(x)
    same = shape if len(set(shape)) == 1 else (None,) * len(shape)
    return c.ctx.op("Transpose", [x, perm], {"Tperm": I32}, shape=same if kept is None else kept, label=label)


def lower_at_run_time_axis(c: OpCall, lower: Any) -> Value | list[Value] | None:
    """tf_keras ``reduce_*``, ``count_nonzero``, ``argmax``/``argmin``, ``cumsum``/``cumprod``, ``reverse``,
    ``l2_normalize``, ``concat``, ``gather``, ``expand_dims`` and ``split`` (its pieces known in number; TF.js fails
    where the axis's size does not divide or sum up, as TF raises) along a scalar axis known only at run time: the
    operands transposed (a permutation picked at run time from the few the rank allows) so that axis is last, the
    call's own lowering ``lower`` along ``-1`` (every dtype rule and guard it has), the result moved back. Exactly
    TF's values, as a transpose only moves them. None where the axis is no such tensor."""
    kind = RUN_TIME_AXIS_KINDS.get(c.function)
    if kind is None or c.ctx.class_name.startswith(KERAS_OP_PREFIX):
        return None
    axis = _run_time_axis(c)
    if axis is None:
        return None
    keys = ["values"] if kind == "concat" else ["x"]
    items = c.arguments.get(keys[0])
    items = items if isinstance(items, list) else [items]
    if not items or not all(isinstance(v, TensorArg) for v in items):
        raise c.gap(f"argument 'axis' is a tensor known only at run time, of {keys[0]} that are not all tensors")
    rank = len(c.ctx.shape(c.ctx.inputs[items[0].index]))
    if rank == 0 or any(len(c.ctx.shape(c.ctx.inputs[v.index])) != rank for v in items):
        raise c.gap("argument 'axis' is a tensor known only at run time, over tensors of different or no rank")
    moved_indices = {v.index for v in items}
    axis_key = _axis_key(c)
    others = [v for k, v in c.arguments.items() if k not in (*keys, axis_key)]
    if any(isinstance(v, TensorArg) and v.index in moved_indices for v in others):
        raise c.gap("argument 'axis' is a tensor known only at run time, and the moved tensor is another argument too")
    inputs = list(c.ctx.inputs)
    if kind != "expand":  # expand_dims inserts its axis last, then moves it
        last = [[*(i for i in range(rank) if i != a), a] for a in range(rank)]
        perm = _permutations(c, axis, last, "axis_last")
        for v in moved_indices:
            c.ctx.inputs[v] = _moved(c, inputs[v], perm, f"axis_last_{v}")
    moved = OpCall(c.ctx, c.function, {**{k: v for k, v in c.arguments.items() if k != axis_key}, "axis": -1})
    try:
        out = lower(moved)
    finally:
        c.ctx.inputs[:] = inputs
    if kind == "split":  # each piece moved back by one permutation
        back = _permutations(c, axis, [[*range(a), rank - 1, *range(a, rank - 1)] for a in range(rank)], "axis_back")
        return [_moved(c, piece, back, f"axis_back_{i}") for i, piece in enumerate(out)]
    return _moved_back(c, kind, out, axis, rank + 1 if kind == "expand" else rank)


def _moved_back(c: OpCall, kind: str, out: Value, axis: Value, rank: int) -> Value:
    """The result along the last axis put back where TF puts it: reductions keeping dims, cumulative ops, concat and
    expand_dims (``rank`` counts its new axis) by the inverse permutation; gather with the indices' axes where the
    axis was; dropped axes need no move."""
    if kind == "drop" or kind == "reduce" and len(c.ctx.shape(out)) < rank:
        return out
    if kind == "gather":
        extra = len(c.ctx.shape(out)) - (rank - 1)
        if extra == 0:
            return out
        table = [[*range(a), *range(rank - 1, rank - 1 + extra), *range(a, rank - 1)] for a in range(rank)]
        return _moved(c, out, _permutations(c, axis, table, "indices_back"), "indices_back")
    back = [[*range(a), rank - 1, *range(a, rank - 1)] for a in range(rank)]
    return _moved(c, out, _permutations(c, axis, back, "axis_back"), "axis_back")


# -- other arguments known only at run time: transpose's perm, band_part's bounds, rot90's k ---------------------
#: The highest rank whose run-time permutations are looked up in a table of all ``rank!`` of them.
_MAX_PERMUTED_RANK = 6


def _run_time_value(c: OpCall, key: str, default: Any = None) -> Value | None:
    """Argument ``key`` as an int32 tensor where it holds a tensor whose value the graph does not fix when it is
    built; None where it is a constant or such a value (the static lowering reads it)."""
    item = c.arguments.get(key, default)
    if not _holds_tensor(item):
        return None
    value = _int_tensor(c, item, key)
    return None if known_ints(value) is not None else value


def _wrapped(c: OpCall, value: Value, size: int | Value, label: str) -> Value:
    """``value + size`` where ``value < 0``: TF's reading of a negative axis or permutation entry."""
    size = c.ctx.ints(size, f"{label}_size") if isinstance(size, int) else size
    negative = c.ctx.op("Less", [value, c.ctx.ints(0, f"{label}_zero")], dtype=DType.BOOL, shape=value.shape,
                        label=f"{label}_negative")
    return c.ctx.op("SelectV2", [negative, c.ctx.binary("AddV2", value, size, label=f"{label}_plus_size"), value],
                    dtype=I32, shape=value.shape, label=f"{label}_wrapped")


def _table_row(c: OpCall, table: list[list[int]], row: Value, label: str) -> Value:
    """``table[row]`` read at run time (GatherV2: a row outside the table fails on cpu and wasm, as TF raises)."""
    return c.ctx.op("GatherV2", [c.ctx.ints(table, f"{label}_table"), row, c.ctx.ints(0, f"{label}_gather_axis")],
                    {"Tparams": I32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=I32,
                    shape=(len(table[0]),), label=f"{label}_row")


def transpose_at_run_time(c: OpCall) -> Value | None:
    """``tf.transpose(x, perm)`` with ``perm`` known only at run time: the row of a table of every permutation of
    the rank that equals ``perm`` (negative entries wrapped, as TF does), looked up by comparing them all; a ``perm``
    that is no permutation matches no row, and the lookup of row -1 fails in TF.js (cpu, wasm) where TF raises."""
    perm = _run_time_value(c, "perm")
    if perm is None:
        return None
    x = c.tensor("x")
    rank = len(c.ctx.shape(x))
    if c.ctx.shape(perm) != (rank,) or not 0 < rank <= _MAX_PERMUTED_RANK:
        raise c.gap(f"perm of shape {list(c.ctx.shape(perm))} known only at run time, for a rank-{rank} tensor "
                    f"(a vector of the rank's length, up to rank {_MAX_PERMUTED_RANK}, is lowered)")
    table = [list(p) for p in itertools.permutations(range(rank))]
    rows = len(table)
    same = c.ctx.op("Equal", [c.ctx.ints(table, "perm_candidates"), _wrapped(c, perm, rank, "perm")],
                    {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=(rows, rank), label="perm_same")
    found = c.ctx.op("All", [same, c.ctx.ints(1, "perm_all_axis")], {"keep_dims": False, "Tidx": I32},
                     dtype=DType.BOOL, shape=(rows,), label="perm_found")
    found = c.ctx.op("Cast", [found], {"SrcT": DType.BOOL, "DstT": I32, "Truncate": False}, dtype=I32, shape=(rows,),
                     label="perm_found_int32")
    numbered = c.ctx.binary("Mul", found, c.ctx.ints(np.arange(1, rows + 1), "perm_numbers"), label="perm_numbered")
    row = c.ctx.binary("Sub", c.ctx.op("Sum", [numbered, c.ctx.ints(0, "perm_sum_axis")],
                                       {"keep_dims": False, "Tidx": I32}, dtype=I32, shape=(), label="perm_number"),
                       c.ctx.ints(1, "perm_one"), label="perm_index")  # -1: no row matches
    return _moved(c, x, _table_row(c, table, row, "perm"), "transposed")


def band_part_at_run_time(c: OpCall) -> Value | None:
    """``tf.linalg.band_part(x, num_lower, num_upper)`` with a bound known only at run time: a SelectV2 over the
    band's mask computed at run time (a negative bound keeps that whole triangle), as the constant case. TF raises
    on a bound past the matrix (``num_lower`` > rows, ``num_upper`` > cols): each bound goes through a GatherV2 of
    ``[0]`` at ``min(size - bound, 0)``, which fails on cpu and wasm exactly there."""
    if _run_time_value(c, "num_lower") is None and _run_time_value(c, "num_upper") is None:
        return None
    from .dynamic_shape import runtime_range, runtime_size
    from .op_layers_matrix import _moved as _value_moving, _on_values, _zero

    x = _value_moving(c, c.tensor("x"))
    shape = c.ctx.shape(x)
    if len(shape) < 2:
        raise c.gap(f"a rank-{len(shape)} tensor")
    rank = len(shape)
    bounds = {}
    for key, axis in (("num_lower", rank - 2), ("num_upper", rank - 1)):
        bound = _int_tensor(c, c.arguments.get(key), key)
        if c.ctx.shape(bound) != ():
            raise c.gap(f"{key} of shape {list(c.ctx.shape(bound))} (TensorFlow takes a scalar)")
        size = c.ctx.ints(shape[axis], f"{key}_size") if shape[axis] is not None else \
            runtime_size(c.ctx, x, axis, f"{key}_size")
        bounds[key] = _checked(c, bound, size, key)
    below = c.ctx.binary("Sub", c.ctx.expand_dims(runtime_range(c.ctx, x, rank - 2, "band_rows"), 1, "band_column"),
                         runtime_range(c.ctx, x, rank - 1, "band_cols"), label="band_below")  # i - j
    mask = c.ctx.op("LogicalAnd", [_within(c, below, bounds["num_lower"], "num_lower"),
                                   _within(c, c.ctx.unary("Neg", below, label="band_above"), bounds["num_upper"],
                                           "num_upper")], dtype=DType.BOOL, shape=below.shape, label="band_mask")
    return _on_values(c, x, lambda v: c.ctx.op("SelectV2", [mask, v, _zero(c, v)], {"T": v.dtype}, dtype=v.dtype,
                                               shape=shape, label="band_part"))


def _checked(c: OpCall, bound: Value, size: Value, label: str) -> Value:
    """``bound`` unchanged where it is at most ``size``; a failed TF.js run (GatherV2 of ``[0]`` at a negative index)
    where it passes it, as TF's MatrixBandPart raises. The bound is clamped at -1 first: ``size - bound`` of a bound
    near INT32_MIN wraps in int32 and failed a run TF computes (review R2 of session 29)."""
    floor = c.ctx.op("Maximum", [bound, c.ctx.ints(-1, f"{label}_minus_one")], dtype=I32, shape=(),
                     label=f"{label}_clamped")
    past = c.ctx.op("Minimum", [c.ctx.binary("Sub", size, floor, label=f"{label}_room"), c.ctx.ints(0, f"{label}_0")],
                    dtype=I32, shape=(), label=f"{label}_past")
    guard = c.ctx.op("GatherV2", [c.ctx.ints([0], f"{label}_guard_table"), past, c.ctx.ints(0, f"{label}_guard_axis")],
                     {"Tparams": I32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=I32, shape=(),
                     label=f"{label}_guard")
    return c.ctx.binary("AddV2", bound, guard, label=f"{label}_checked")


def _within(c: OpCall, distance: Value, bound: Value, label: str) -> Value:
    """``bound < 0 or distance <= bound``: inside the band on one side."""
    whole = c.ctx.op("Less", [bound, c.ctx.ints(0, f"{label}_zero")], dtype=DType.BOOL, shape=(), label=f"{label}_all")
    near = c.ctx.op("LessEqual", [distance, bound], dtype=DType.BOOL, shape=distance.shape, label=f"{label}_near")
    return c.ctx.op("LogicalOr", [whole, near], dtype=DType.BOOL, shape=distance.shape, label=f"{label}_within")


def rot90_at_run_time(c: OpCall) -> Value | None:
    """``tf.image.rot90(image, k)`` with ``k`` known only at run time: TF's ``k mod 4`` quarter turns as flips of the
    height (k mod 4 in 2, 3) and width (in 1, 2), each a GatherV2 at positions reversed or not at run time, then
    height and width swapped for an odd k by a permutation picked at run time: TF's four cases, values moved
    exactly (NaN, -0.0); bools moved as int32."""
    k = _run_time_value(c, "k", 1)
    if k is None:
        return None
    from .op_layers_image import _axes, _image
    from .op_layers_matrix import _moved as _value_moving, _on_values

    x = _value_moving(c, _image(c))
    h, w, _ = _axes(c, x)
    if c.ctx.shape(k) != ():
        raise c.gap(f"k of shape {list(c.ctx.shape(k))} (TensorFlow takes a scalar)")
    turns = c.ctx.binary("FloorMod", k, c.ctx.ints(4, "k_turns"), label="k_mod_4")
    flip_h, flip_w, odd = (c.ctx.op("GatherV2", [c.ctx.ints(flags, f"{name}_flags"), turns, c.ctx.ints(0, f"{name}_ax")],
                                    {"Tparams": I32, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=I32,
                                    shape=(), label=name)
                           for name, flags in (("flip_h", [0, 0, 1, 1]), ("flip_w", [0, 1, 1, 0]),
                                               ("odd", [0, 1, 0, 1])))
    shape = c.ctx.shape(x)
    rank = len(shape)
    swapped = list(range(rank))
    swapped[h], swapped[w] = w, h
    kept = _kept_by_swap(shape, h, w)

    def turned(v: Value) -> Value:
        v = _flipped(c, _flipped(c, v, h, flip_h, "rot90_h"), w, flip_w, "rot90_w")
        return _moved(c, v, _table_row(c, [list(range(rank)), swapped], odd, "rot90_swap"), "rot90", kept)

    return _on_values(c, x, turned)


def _kept_by_swap(shape: tuple[int | None, ...], h: int, w: int) -> tuple[int | None, ...]:
    """The sizes of ``shape`` after axes ``h`` and ``w`` are swapped or not (known only at run time): every other axis
    keeps its size (the batch, the channels a Dense after rot90 reads: refused as unknown until session 30), ``h`` and
    ``w`` theirs only where they are equal."""
    moved = shape[h] if shape[h] == shape[w] else None
    return tuple(moved if axis in (h, w) else size for axis, size in enumerate(shape))


def _flipped(c: OpCall, x: Value, axis: int, flip: Value, label: str) -> Value:
    """``x`` reversed along ``axis`` where ``flip`` is 1, as it is where 0: a GatherV2 at ``r + flip·(n - 1 - 2r)``."""
    from .dynamic_shape import runtime_range

    positions = runtime_range(c.ctx, x, axis, f"{label}_positions")
    last = c.ctx.binary("Sub", c.ctx.binary("Sub", _size_of(c, x, axis, label), c.ctx.ints(1, f"{label}_one"),
                                            label=f"{label}_last"), c.ctx.binary("AddV2", positions, positions,
                                                                                 label=f"{label}_twice"),
                        label=f"{label}_span")
    index = c.ctx.binary("AddV2", positions, c.ctx.binary("Mul", flip, last, label=f"{label}_shift"),
                         label=f"{label}_index")
    shape = c.ctx.shape(x)
    return c.ctx.op("GatherV2", [x, index, c.ctx.ints(axis, f"{label}_axis")],
                    {"Tparams": x.dtype, "Tindices": I32, "Taxis": I32, "batch_dims": 0}, dtype=x.dtype, shape=shape,
                    label=label)


def _size_of(c: OpCall, x: Value, axis: int, label: str) -> Value:
    """``tf.shape(x)[axis]``: a constant where the size is known."""
    from .dynamic_shape import runtime_size

    size = c.ctx.shape(x)[axis]
    return c.ctx.ints(size, f"{label}_size") if size is not None else runtime_size(c.ctx, x, axis, label)


#: tf_keras functions with a non-axis argument that may be a tensor known only at run time.
_RUN_TIME_ARGUMENTS = {
    "transpose": transpose_at_run_time, "compat.v1.transpose": transpose_at_run_time,
    "linalg.band_part": band_part_at_run_time,
    "image.rot90": rot90_at_run_time, "compat.v1.image.rot90": rot90_at_run_time,
}


def lower_at_run_time(c: OpCall, lower: Any) -> Value | list[Value] | None:
    """The call lowered where an argument is a tensor known only at run time (``perm``, band_part's bounds, rot90's
    ``k``, a scalar ``axis``: :func:`lower_at_run_time_axis`); None where none is (the static lowering reads them)."""
    special = _RUN_TIME_ARGUMENTS.get(c.function)
    if special is not None and not c.ctx.class_name.startswith(KERAS_OP_PREFIX):
        out = special(c)
        if out is not None:
            return out
    return lower_at_run_time_axis(c, lower)
