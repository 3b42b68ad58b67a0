"""ConvLSTM1D/2D/3D over a time length known only at run time: :mod:`.conv_lstm`'s step in a while loop.

As :mod:`.recurrent_loop` does for the RNN layers: the input convolution of every step runs before the loop,
each iteration gathers its step (and its step of the ``[batch, T, *positions, 1]`` float mask), runs the
unrolled form's step and selects, and writes its output into a TensorList at its place in the walk (from the end
when Bidirectional flips the backward sequence, so no rank-5 ``ReverseV2`` is needed), gathered after the loop
(linear in the length). The states start from zeros of the run-time size of the input convolution's output (the
positions may be known only at run time too: Keras's zero state is that convolution of zeros). The loop starts
after both the convolutions and the mask (its counter is their two run-time lengths subtracted), and fails on zero
steps as Keras does. From given states with a mask, the previous output (which a masked step repeats; zeros before
any step) is a loop variable of its own, as :mod:`.recurrent_loop` keeps it.
"""
from __future__ import annotations

from collections.abc import Callable

from tfjsconv.dtypes import DType
from tfjsconv.graph_loops import WhileLoop, reserve_outputs, write_output
from tfjsconv.ir import Value

from .context import LayerContext
from .recurrent_loop import _concat, _entry, _slice, batch_major

I32 = DType.INT32


def run_conv_looped(ctx: LayerContext, inputs: Value, mask: Value | None,
                    step: Callable[[Value, Value | None, Value | None, str], tuple[Value, Value]],
                    state_shape: tuple[int | None, ...], prefix: str, *, backwards: bool, zero_output_for_mask: bool,
                    flipped: bool, return_sequences: bool,
                    initial: tuple[Value, Value] | None = None) -> tuple[Value, Value, Value]:
    """The output (sequence in walked order, reversed when ``flipped``, or the last output) and the final ``h, c``.

    ``inputs`` is ``[batch, T, *positions, 4·filters]``, ``mask`` ``[batch, T, *positions or 1s, 1]`` (float) or
    None, ``step(z, h, c, label)`` the unrolled form's step, ``initial`` the ``h, c`` to start from (None: zeros)."""
    from .conv_lstm import _select

    p = f"{prefix}while/"
    rank_in = len(ctx.shape(inputs))
    inner = tuple(ctx.shape(inputs)[2:])
    dims = ctx.op("Shape", [inputs], {"out_type": I32}, dtype=I32, shape=(rank_in,), label=f"{p}steps_shape")
    length = _entry(ctx, dims, 1, f"{p}length")
    all_but_time = sum(1 << axis for axis in range(rank_in) if axis != 1)
    first = ctx.op("StridedSlice", [inputs, ctx.ints([0] * rank_in, f"{p}first_begin"),
                                    ctx.ints([0, 1] + [0] * (rank_in - 2), f"{p}first_end"),
                                    ctx.ints([1] * rank_in, f"{p}first_stride")],
                   {"Index": I32, "begin_mask": all_but_time, "end_mask": all_but_time, "ellipsis_mask": 0,
                    "new_axis_mask": 0, "shrink_axis_mask": 0}, shape=(None, 1, *inner), label=f"{p}first_step")
    row_shape = _concat(ctx, [_slice(ctx, dims, 0, 1, f"{p}batch"), _slice(ctx, dims, 2, rank_in, f"{p}inner")],
                        f"{p}first_shape")
    guard = ctx.op("Reshape", [first, row_shape], {"Tshape": I32}, shape=(None, *inner),
                   label=f"{p}first_row")  # fails on zero steps, as Keras
    run_dims = ctx.op("Shape", [guard], {"out_type": I32}, dtype=I32, shape=(rank_in - 1,), label=f"{p}row_shape")
    run_batch = _slice(ctx, run_dims, 0, 1, f"{p}run_batch")

    filters = int(state_shape[-1])
    # the states' run-time shape: the batch, the input convolution's positions, the filters
    state_dims = _concat(ctx, [run_batch, _slice(ctx, run_dims, 1, rank_in - 2, f"{p}positions"), [filters]],
                         f"{p}state_shape")

    def zeros(label: str) -> Value:
        return ctx.op("Fill", [state_dims, ctx.floats(0.0, f"{label}_value")],
                      {"index_type": I32, "T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=state_shape, label=label)

    if mask is None:  # after the length the loop reads from outside, and the zero-steps check
        after = ctx.op("AddV2", [length, _entry(ctx, run_dims, 0, f"{p}batch_size")], shape=(), label=f"{p}checked")
        i0 = ctx.op("ZerosLike", [after], dtype=I32, shape=(), label=f"{p}i0")
    else:  # after the length and the mask, which the body reads from outside
        mask_rank = len(ctx.shape(mask))
        mask_dims = ctx.op("Shape", [mask], {"out_type": I32}, dtype=I32, shape=(mask_rank,), label=f"{p}mask_shape")
        # a given mask= of another length than the sequence fails here, as Keras (eager) fails on it: the counter
        # would otherwise start past 0 (a longer mask) and skip steps
        mask = ctx.op("Reshape", [mask, _concat(ctx, [_slice(ctx, mask_dims, 0, 1, f"{p}mask_batch"),
                                                      _slice(ctx, dims, 1, 2, f"{p}mask_steps"),
                                                      _slice(ctx, mask_dims, 2, mask_rank, f"{p}mask_rest")],
                                                f"{p}mask_checked_shape")],
                      {"Tshape": I32}, shape=mask.shape, label=f"{p}mask_checked")
        checked_dims = ctx.op("Shape", [mask], {"out_type": I32}, dtype=I32, shape=(mask_rank,),
                              label=f"{p}mask_checked_dims")
        i0 = ctx.op("Sub", [_entry(ctx, checked_dims, 1, f"{p}mask_length"), length], shape=(), label=f"{p}i0")
    h0, c0 = initial if initial else (zeros(f"{p}h0"), zeros(f"{p}c0"))
    inits = {"i": i0, "h": h0, "c": c0}
    zeroed = mask is not None and zero_output_for_mask
    # from given states a masked step repeats the previous output (zeros before any step), not the kept h
    repeats_output = mask is not None and not zeroed and initial is not None
    if repeats_output or (zeroed and not return_sequences):
        inits["out"] = zeros(f"{p}out0")
    if return_sequences:
        inits["acc"] = reserve_outputs(ctx.op, state_dims, length, f"{p}outputs0")
    loop = WhileLoop(ctx.graph, ctx.op, lambda label: f"{ctx.name}/{label}", f"{prefix}while")
    merged = loop.start(inits)
    body = loop.body(ctx.op("Less", [merged["i"], length], dtype=DType.BOOL, shape=(), label=f"{p}more"))
    i = body["i"]
    t = ctx.op("Sub", [ctx.op("Sub", [length, i], shape=(), label=f"{p}from_end"), ctx.ints(1, f"{p}one")],
               shape=(), label=f"{p}t") if backwards else i
    axis = ctx.ints(1, f"{p}time_axis")
    gather = {"batch_dims": 0, "Tparams": DType.FLOAT32, "Tindices": I32, "Taxis": I32}
    z = ctx.op("GatherV2", [inputs, t, axis], gather, dtype=DType.FLOAT32, shape=(None, *inner), label=f"{p}row")
    new_h, new_c = step(z, body["h"], body["c"], "loop")
    updates = {"i": ctx.op("AddV2", [i, ctx.ints(1, f"{p}step")], shape=(), label=f"{p}next_i")}
    if mask is None:
        updates["h"], updates["c"], output = new_h, new_c, new_h
    else:
        row = ctx.op("GatherV2", [mask, t, axis], gather, dtype=DType.FLOAT32, shape=(None, *ctx.shape(mask)[2:]),
                     label=f"{p}mask_row")
        keep = ctx.op("NotEqual", [row, ctx.floats(0.0, f"{p}mask_zero")], {"incompatible_shape_error": True},
                      dtype=DType.BOOL, shape=row.shape, label=f"{p}keep")
        updates["h"] = _select(ctx, keep, new_h, body["h"], f"{p}masked_h")
        updates["c"] = _select(ctx, keep, new_c, body["c"], f"{p}masked_c")
        if zeroed or repeats_output:
            output = _select(ctx, keep, new_h, body["out"] if repeats_output else None, f"{p}output")
        else:
            output = updates["h"]
        if "out" in inits:
            updates["out"] = output
    if return_sequences:
        at = ctx.op("Sub", [ctx.op("Sub", [length, i], shape=(), label=f"{p}place_from_end"), ctx.ints(1, f"{p}one_back")],
                    shape=(), label=f"{p}place") if flipped else i
        updates["acc"] = write_output(ctx.op, body["acc"], at, output, f"{p}outputs")
    done = loop.close(updates)
    if return_sequences:
        out = batch_major(ctx, done["acc"], length, state_dims, (None, None, *state_shape[1:]), p)
    else:
        out = done["out"] if "out" in done else done["h"]
    return out, done["h"], done["c"]
