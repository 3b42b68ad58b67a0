"""An RNN layer over a time length known only at run time (``keras.Input((None, 5))``): a TF v1 while loop.

The steps run the unrolled lowering's formulas (:class:`.recurrent._Cell`'s ``step``, the mask's selects)
inside a :class:`tfjsconv.graph_loops.WhileLoop`: the input projections are computed before the loop, side
by side with the mask as a float column, and each iteration gathers its step's row of them. ``h`` (and
``c``) are loop variables, started from ``initial_state`` or zeros of the run-time batch; the outputs are
written into a TensorList at their place in the order walked, as Keras returns a ``go_backwards`` sequence, and
gathered after the loop (linear in the length, see :func:`tfjsconv.graph_loops.reserve_outputs`). With a mask, a
masked step keeps the states and outputs the previous output (zeros before any), or zeros with
``zero_output_for_mask``, as the unrolled form does. TF.js runs the model with ``executeAsync``.

Keras fails on a sequence of zero steps (its ``rnn`` slices the first step); so does the converted model: the
first step's row is reshaped to ``[batch, width]`` before the loop, which TF.js refuses on an empty sequence,
rather than returning the zero states.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from tfjsconv.dtypes import DType
from tfjsconv.graph_loops import WhileLoop, gathered_outputs, reserve_outputs, write_output
from tfjsconv.ir import Value

from .context import LayerContext

if TYPE_CHECKING:
    from .recurrent import _Cell

I32 = DType.INT32


def run_looped(ctx: LayerContext, cell: _Cell, prefix: str, backwards: bool, zero_output_for_mask: bool,
               initial: list[Value] | None, return_sequences: bool) -> tuple[Value, list[Value]]:
    """The layer's output (last output or sequence, in walked order) and its final states."""
    from .recurrent import _select

    p, units, masked = f"{prefix}while/", cell.units, ctx.mask is not None
    steps = _steps(ctx, cell, prefix)
    width = cell.gates * units + masked
    dims = ctx.op("Shape", [steps], {"out_type": I32}, dtype=I32, shape=(3,), label=f"{p}steps_shape")
    length = _entry(ctx, dims, 1, f"{p}length")
    # everything the loop starts from comes after ``steps`` and ``length``, which the body reads from outside
    # (see tfjsconv.graph_loops)
    first = ctx.op("StridedSlice", [steps, ctx.ints([0, 0, 0], f"{p}first_begin"), ctx.ints([0, 1, 0], f"{p}first_end"),
                                    ctx.ints([1, 1, 1], f"{p}first_stride")],
                   {"Index": I32, "begin_mask": 5, "end_mask": 5, "ellipsis_mask": 0, "new_axis_mask": 0,
                    "shrink_axis_mask": 0}, shape=(None, 1, width), label=f"{p}first_step")
    batch = _slice(ctx, dims, 0, 1, f"{p}batch")
    guard = ctx.op("Reshape", [first, _concat(ctx, [batch, [width]], f"{p}first_row_shape")], {"Tshape": I32},
                   shape=(None, width), label=f"{p}first_row")  # fails on zero steps, as Keras does
    run_dims = ctx.op("Shape", [guard], {"out_type": I32}, dtype=I32, shape=(2,), label=f"{p}row_shape")
    run_batch = _slice(ctx, run_dims, 0, 1, f"{p}run_batch")

    def zeros(dims: list[Value | list[int]], shape: tuple[int | None, ...], label: str) -> Value:
        return ctx.op("Fill", [_concat(ctx, dims, f"{label}_shape"), ctx.floats(0.0, f"{label}_value")],
                      {"index_type": I32, "T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=shape, label=label)

    h0, c0 = (initial[0], initial[1] if cell.kind == "LSTM" else None) if initial else (None, None)
    # the counter starts after the length the loop reads and the zero-steps check
    after = ctx.op("AddV2", [length, _entry(ctx, run_dims, 0, f"{p}batch_size")], shape=(), label=f"{p}checked")
    inits = {"i": ctx.op("ZerosLike", [after], dtype=I32, shape=(), label=f"{p}i0"),
             "h": h0 if h0 is not None else zeros([run_batch, [units]], (None, units), f"{p}h0")}
    if cell.kind == "LSTM":
        inits["c"] = c0 if c0 is not None else zeros([run_batch, [units]], (None, units), f"{p}c0")
    output_is_h = not masked or (not zero_output_for_mask and not initial)
    if not output_is_h:  # the previous output, which a masked step repeats (or the last, zeroed)
        inits["out"] = zeros([run_batch, [units]], (None, units), f"{p}out0")
    if return_sequences:
        element_shape = _concat(ctx, [run_batch, [units]], f"{p}output_shape")
        inits["acc"] = reserve_outputs(ctx.op, element_shape, length, f"{p}outputs0")
    loop = WhileLoop(ctx.graph, ctx.op, lambda label: f"{ctx.name}/{label}", f"{prefix}while")
    merged = loop.start(inits)
    more = ctx.op("Less", [merged["i"], length], dtype=DType.BOOL, shape=(), label=f"{p}more")
    body = loop.body(more)
    i = body["i"]
    t = ctx.op("Sub", [ctx.op("Sub", [length, i], shape=(), label=f"{p}from_end"), ctx.ints(1, f"{p}one")],
               shape=(), label=f"{p}t") if backwards else i
    row = ctx.op("GatherV2", [steps, t, ctx.ints(1, f"{p}time_axis")],
                 {"batch_dims": 0, "Tparams": DType.FLOAT32, "Tindices": I32, "Taxis": I32},
                 dtype=DType.FLOAT32, shape=(None, width), label=f"{p}row")
    xs = [row] if width == units else [_columns(ctx, row, g * units, units, f"{p}x{g}") for g in range(cell.gates)]
    new_h, new_c = cell.step(xs, body["h"], body.get("c"))
    updates = {"i": ctx.op("AddV2", [i, ctx.ints(1, f"{p}step")], shape=(), label=f"{p}next_i")}
    if not masked:
        updates["h"], output = new_h, new_h
        if new_c is not None:
            updates["c"] = new_c
    else:
        keep = ctx.op("NotEqual", [_columns(ctx, row, width - 1, 1, f"{p}mask_column"), ctx.floats(0.0, f"{p}zero")],
                      {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=(None, 1), label=f"{p}keep")
        updates["h"] = _select(ctx, keep, new_h, body["h"], f"{p}h")
        if new_c is not None:
            updates["c"] = _select(ctx, keep, new_c, body["c"], f"{p}c")
        if output_is_h:
            output = updates["h"]
        else:
            output = _select(ctx, keep, new_h, None if zero_output_for_mask else body["out"], f"{p}output")
            updates["out"] = output
    if return_sequences:
        updates["acc"] = write_output(ctx.op, body["acc"], i, output, f"{p}outputs")
    done = loop.close(updates)
    states = [done["h"]] if "c" not in done else [done["h"], done["c"]]
    if return_sequences:
        return batch_major(ctx, done["acc"], length, element_shape, (None, None, units), p), states
    return (done["h"] if output_is_h else done["out"]), states


def batch_major(ctx: LayerContext, handle: Value, length: Value, element_shape: Value,
                shape: tuple[int | None, ...], p: str) -> Value:
    """The ``length`` items of the output list after the loop as ``[batch, T, ...]`` (gathered ``[T, batch, ...]``)."""
    indices = ctx.op("Range", [ctx.ints(0, f"{p}first_index"), length, ctx.ints(1, f"{p}index_step")],
                     {"Tidx": I32}, dtype=I32, shape=(None,), label=f"{p}indices")
    stacked = gathered_outputs(ctx.op, handle, indices, element_shape, f"{p}gathered",
                               (shape[1], shape[0], *shape[2:]))
    perm = [1, 0, *range(2, len(shape))]
    return ctx.op("Transpose", [stacked, ctx.ints(perm, f"{p}batch_major_perm")], {"Tperm": I32}, shape=shape,
                  label=f"{p}sequence")


def _steps(ctx: LayerContext, cell: _Cell, prefix: str) -> Value:
    """Every step's projections (``[batch, T, gates·units]``), and the mask as one more float column."""
    parts = cell.project(ctx.x, None)
    if ctx.mask is not None:
        mask = ctx.op("Cast", [ctx.mask], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False},
                      dtype=DType.FLOAT32, shape=ctx.mask.shape, label=f"{prefix}mask_float")
        parts.append(ctx.expand_dims(mask, 2, f"{prefix}mask_column"))
    if len(parts) == 1:
        return parts[0]
    width = sum(ctx.shape(part)[-1] for part in parts)
    return ctx.op("ConcatV2", [*parts, ctx.ints(2, f"{prefix}steps_axis")], {"N": len(parts), "Tidx": I32},
                  shape=(None, None, width), label=f"{prefix}steps")


def _columns(ctx: LayerContext, row: Value, begin: int, size: int, label: str) -> Value:
    """``row[:, begin:begin + size]``."""
    return ctx.op("StridedSlice", [row, ctx.ints([0, begin], f"{label}_begin"), ctx.ints([0, begin + size], f"{label}_end"),
                                   ctx.ints([1, 1], f"{label}_stride")],
                  {"Index": I32, "begin_mask": 1, "end_mask": 1, "ellipsis_mask": 0, "new_axis_mask": 0,
                   "shrink_axis_mask": 0}, shape=(None, size), label=label)


def _slice(ctx: LayerContext, vector: Value, begin: int, end: int, label: str) -> Value:
    return ctx.op("StridedSlice", [vector, ctx.ints([begin], f"{label}_begin"), ctx.ints([end], f"{label}_end"),
                                   ctx.ints([1], f"{label}_stride")],
                  {"Index": I32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                   "shrink_axis_mask": 0}, dtype=I32, shape=(end - begin,), label=label)


def _entry(ctx: LayerContext, vector: Value, index: int, label: str) -> Value:
    return ctx.op("StridedSlice", [vector, ctx.ints([index], f"{label}_begin"), ctx.ints([index + 1], f"{label}_end"),
                                   ctx.ints([1], f"{label}_stride")],
                  {"Index": I32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                   "shrink_axis_mask": 1}, dtype=I32, shape=(), label=label)


def _concat(ctx: LayerContext, pieces: list[Value | list[int]], label: str) -> Value:
    values = [v if isinstance(v, Value) else ctx.ints(v, f"{label}_part{k}") for k, v in enumerate(pieces)]
    return ctx.op("ConcatV2", [*values, ctx.ints(0, f"{label}_axis")], {"N": len(values), "Tidx": I32},
                  dtype=I32, shape=(None,), label=label)
