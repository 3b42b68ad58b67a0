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
"""
from __future__ import annotations

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
    sizes = _int_tensor(c, c.arguments[key], key)
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
    attrs = {"num_split": len(entries), "T": x.dtype, "Tlen": I32}
    return _outputs(c, "SplitV", [x, sizes, c.ctx.ints(axis, "axis")], attrs, [
        (x.dtype, tuple(p if i == axis else d for i, d in enumerate(shape))) for p in pieces])


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
        raise c.gap(f"argument {key!r} is a tensor whose value is known only at run time (a constant axis is lowered)")
    return entries[0] if c.ctx.shape(value) == () else entries
