"""ConvLSTM1D, ConvLSTM2D and ConvLSTM3D, unrolled over a static time length like :mod:`.recurrent`'s LSTM (over
one known only at run time, the same step runs in a while loop: :mod:`.recurrent_loop_conv`).

The input convolution (all four gates, ``4·filters`` channels) runs once over ``[batch·T, ...]``;
each step slices its row, adds the recurrent convolution of the previous ``h`` (``same`` padding,
stride 1, as Keras) and splits the gates (i, f, c, o) by channel slices. The first step has
``h = c = 0``, so its recurrent terms are left out. ConvLSTM1D runs as a 2-D convolution over a height
of 1, ConvLSTM3D as ``Conv3D`` (NDHWC). ``go_backwards`` walks the steps in reverse and returns the
sequence in the order walked (Keras).

A mask (Masking's ``[batch, T, *spatial]``, ``any`` over the channels) is read per step and per position, as
Keras's ``rnn`` tiles it (``fixed_dim`` = the mask's rank): a masked position keeps its ``h`` and ``c`` (zeros
before any step), and its output is the previous one, which is that ``h`` (from a given ``initial_state``, the
previous output is tracked apart: zeros before any step, as Keras's ``rnn``). Keras fails on a mask whose positions
are not the output's (``valid`` padding that shrinks them): refused when the sizes are known; over positions known
only at run time the mask is broadcast to the output's there, as Keras's ``where`` broadcasts it, and fails
where Keras fails (see :func:`_runtime_positions_mask`). The selects run on rank-4 views (webgl has no rank-5
``SelectV2``; ConvLSTM3D's depth·height folded at run time when unknown). A ``mask=`` given in the call (a bool ``[batch, T]`` or ``[batch, T, *spatial]`` tensor, a
model input or computed) is read the same way (the walk sets it); Keras 3's ``zero_output_for_mask`` zeroes masked
outputs (tf_keras ignores it for ConvLSTMs, Bidirectional's forced one too).
Bidirectional runs each direction through :func:`run_conv_lstm`. ``initial_state`` (tf_keras's inputs after the
sequence, Keras 3's keyword tensors or ``__numpy__`` constants) starts ``h, c``, read as :mod:`.recurrent` reads it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .activations import activation_gap, apply_activation
from .context import STATE_KEYWORD, LayerContext, check_call_kwargs
from .conv import conv2d, out_size, positive_ints
from .dynamic_shape import reshape_to, runtime_sizes
from .lazy import Float32Array, ReshapedArray
from .model_plan import MASK_KEYWORD
from .registry import Unsupported, lowers

RANKS = {"ConvLSTM1D": 1, "ConvLSTM2D": 2, "ConvLSTM3D": 3}


def conv_lstm_check(config: dict[str, Any]) -> str | None:
    if config.get("data_format", "channels_last") not in (None, "channels_last", "channels_first"):
        return f"data_format={config.get('data_format')!r}"
    for option in ("stateful", "time_major", "unroll_dynamic"):
        if config.get(option):
            return f"{option}=True"
    if str(config.get("padding", "valid")).lower() not in ("valid", "same"):
        return f"padding={config.get('padding')!r}"
    for key in ("activation", "recurrent_activation"):
        gap = activation_gap(config.get(key)) if key in config else None
        if gap:
            return gap
    return None


def _conv(ctx: LayerContext, x: Value, kernel: Value, kernel_shape: tuple[int, ...], strides: list[int],
          dilations: list[int], padding: str, label: str) -> Value:
    """A 2-D (NHWC) or 3-D (NDHWC) convolution, by the kernel's rank."""
    if len(kernel_shape) == 4:
        return conv2d(ctx, x, kernel, kernel_shape, strides, dilations, padding, label=label)
    shape = ctx.shape(x)
    out = (None, *(out_size(n, k, s, d, padding) for n, k, s, d in zip(shape[1:4], kernel_shape, strides, dilations)),
           kernel_shape[-1])
    return ctx.op("Conv3D", [x, kernel], {"strides": [1, *strides, 1], "dilations": [1, *dilations, 1],
                                          "padding": padding.upper(), "data_format": "NDHWC"}, shape=out, label=label)


def _act(ctx: LayerContext, config: dict[str, Any], x: Value, key: str, default: str, step: str) -> Value:
    return apply_activation(ctx, x, config.get(key, default), keras3=ctx.keras3, label=f"{key}_{step}")


def _positions_mask(ctx: LayerContext, steps: int | None, out_spatial: tuple[int | None, ...], rank: int,
                    inputs: Value, prefix: str = "") -> Value | None:
    """The mask as ``[batch, T, *positions, 1]`` (ConvLSTM1D: a height of 1; ConvLSTM3D: depth·height folded into
    one axis), or None without one. A ``[batch, T]`` mask (one flag per step) broadcasts over the positions.
    ``inputs`` is the input convolution ``[batch, T, *out_spatial, 4·filters]``, whose positions a per-position mask
    over sizes known only at run time is broadcast to, as Keras's ``where`` broadcasts it (see
    :func:`_runtime_positions_mask`)."""
    mask = ctx.mask
    if mask is None:
        return None
    shape = ctx.shape(mask)
    spatial = list(out_spatial[1:] if rank == 1 else out_spatial)
    per_position = len(shape) > 2
    if len(shape) not in (2, 2 + len(spatial)) or not _fits(shape[1], steps) or \
            (per_position and not all(_fits(a, b) or a == 1 for a, b in zip(shape[2:], spatial))):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): a mask of shape {list(shape)} for outputs of "
                          f"positions {spatial} (Keras fails on it)")
    if per_position and (ctx.config.get("unroll") or _wrapped_unroll(ctx.config)):
        # Keras's unrolled rnn tiles a per-position mask past the positions (fixed_dim 1) and fails
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): a mask of shape {list(shape)} per position with "
                          "unroll=True (Keras fails on it)")
    as_float = ctx.op("Cast", [mask], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False},
                      dtype=DType.FLOAT32, shape=mask.shape, label=f"{prefix}mask_float")
    if steps is not None and shape[1] is None:
        # a mask= of steps known only at run time into known steps: another length fails here, as Keras (eager)
        # fails on it, rather than being read as other sequences' rows
        rest = [runtime_sizes(ctx, as_float, 2, len(shape), f"{prefix}mask_rest")] if per_position else []
        as_float = reshape_to(ctx, as_float, [runtime_sizes(ctx, as_float, 0, 1, f"{prefix}mask_batch"), [steps], *rest],
                              (shape[0], steps, *shape[2:]), f"{prefix}mask_steps_checked")
    if per_position and (None in shape[2:] or None in spatial or list(shape[2:]) != spatial):
        return _runtime_positions_mask(ctx, as_float, out_spatial, rank, inputs, prefix)
    positions = [1] * len(out_spatial) if not per_position else list(out_spatial)
    if len(positions) == 3:
        positions = [positions[0] * positions[1], positions[2]]
    if steps is None:
        return reshape_to(ctx, as_float, [runtime_sizes(ctx, mask, 0, 2, f"{prefix}mask_batch_steps"), [*positions, 1]],
                          (None, None, *positions, 1), f"{prefix}mask_positions")
    return ctx.reshape(as_float, [None, steps, *positions, 1], f"{prefix}mask_positions")


def _fits(a: int | None, b: int | None) -> bool:
    """Two sizes that may be equal (either known only at run time, or both the same)."""
    return a is None or b is None or a == b


def _runtime_positions_mask(ctx: LayerContext, as_float: Value, out_spatial: tuple[int | None, ...], rank: int,
                            inputs: Value, prefix: str) -> Value:
    """A per-position float mask ``[batch, T, *mask positions]`` whose positions or the output's are known only at
    run time, or that has a size of 1 where the output has more positions, as ``[batch, T, *positions, 1]``: Keras
    tiles it over the filters and ``tf.where`` broadcasts it against the output, so it is broadcast (rank ≤ 4: batch
    and steps folded) to the output's run-time positions.
    A mask Keras fails on fails here too, never read elsewhere: sizes that differ, neither 1, fail the broadcast; a
    mask size of 1 against more output positions is broadcast, as Keras's ``where`` does; a larger one against an
    output size of 1 (the state would grow; Keras fails) fails the reshape to the output's positions."""
    p = prefix
    mask_rank = len(ctx.shape(as_float))
    lead = runtime_sizes(ctx, as_float, 0, 2, f"{p}mask_batch_steps")
    flat = reshape_to(ctx, as_float, [[-1], runtime_sizes(ctx, as_float, 2, mask_rank, f"{p}mask_positions_in")],
                      (None, *ctx.shape(as_float)[2:]), f"{p}mask_rows")
    padded = runtime_sizes(ctx, inputs, 2, -1, f"{p}mask_out_positions")  # ConvLSTM1D: [1, width]
    keras_positions = _vector_slice(ctx, padded, 1, 2, f"{p}mask_width") if rank == 1 else padded
    rows = ctx.op("Shape", [flat], {"out_type": DType.INT32}, dtype=DType.INT32, shape=(mask_rank - 1,),
                  label=f"{p}mask_rows_shape")
    target = ctx.op("ConcatV2", [_vector_slice(ctx, rows, 0, 1, f"{p}mask_row_count"), keras_positions,
                                 ctx.ints(0, f"{p}mask_target_axis")], {"N": 2, "Tidx": DType.INT32},
                    dtype=DType.INT32, shape=(mask_rank - 1,), label=f"{p}mask_target")
    wide = ctx.op("BroadcastTo", [flat, target], {"T": DType.FLOAT32, "Tidx": DType.INT32}, dtype=DType.FLOAT32,
                  shape=(None, *(out_spatial[1:] if rank == 1 else out_spatial)), label=f"{p}mask_broadcast")
    if rank == 3:  # depth·height folded into one axis: rank-4 views of the states
        folded = ctx.op("Mul", [_vector_slice(ctx, padded, 0, 1, f"{p}mask_depth"),
                                _vector_slice(ctx, padded, 1, 2, f"{p}mask_height")], dtype=DType.INT32, shape=(1,),
                        label=f"{p}mask_depth_height")
        view = [folded, _vector_slice(ctx, padded, 2, 3, f"{p}mask_out_width")]
        static = [None if None in out_spatial[:2] else out_spatial[0] * out_spatial[1], out_spatial[2]]
    else:
        view, static = [padded], list(out_spatial)
    return reshape_to(ctx, wide, [lead, *view, [1]], (None, None, *static, 1), f"{p}mask_positions")


def _vector_slice(ctx: LayerContext, vector: Value, begin: int, end: int, label: str) -> Value:
    """``vector[begin:end]`` of an int32 size vector."""
    return ctx.op("StridedSlice", [vector, ctx.ints([begin], f"{label}_begin"), ctx.ints([end], f"{label}_end"),
                                   ctx.ints([1], f"{label}_stride")],
                  {"Index": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                   "shrink_axis_mask": 0}, dtype=DType.INT32, shape=(end - begin,), label=label)


def _initial_states(ctx: LayerContext, initial: list[Value] | None, state_shape: tuple[int | None, ...], rank: int,
                    prefix: str) -> tuple[Value, Value] | None:
    """The given ``h, c`` in the padded form (ConvLSTM1D: a height of 1 added), or None; refused by name when they
    do not fit the state (its rank, filters, positions where both are known)."""
    if not initial:
        return None
    want = state_shape[2:] if rank == 1 else state_shape[1:]
    out = []
    for k, state in enumerate(initial):
        shape = state.shape
        if (state.dtype != DType.FLOAT32 or shape is None or len(shape) != len(want) + 1
                or any(a is not None and b is not None and a != b for a, b in zip(shape[1:], want))):
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with an initial_state of shape "
                              f"{None if shape is None else list(shape)} ({state.dtype.name.lower()}) for a state "
                              f"{['batch', *want]}")
        out.append(ctx.expand_dims(state, 1, f"{prefix}initial_{k}_2d") if rank == 1 else state)
    return out[0], out[1]


def _wrapped_unroll(config: dict[str, Any]) -> bool:
    """Whether a Bidirectional's forward or backward ConvLSTM unrolls."""
    return any(((config.get(key) or {}).get("config") or {}).get("unroll") for key in ("layer", "backward_layer"))


def _step_mask(ctx: LayerContext, mask: Value, t: int, prefix: str = "") -> Value:
    """Step ``t`` of the ``[batch, T, *positions, 1]`` float mask, as a bool ``[batch, *positions, 1]``."""
    shape = ctx.shape(mask)
    rank_in = len(shape)
    all_but_time = sum(1 << axis for axis in range(rank_in) if axis != 1)
    begin, end = [0] * rank_in, [0] * rank_in
    begin[1], end[1] = t, t + 1
    p = prefix
    step = ctx.op("StridedSlice", [mask, ctx.ints(begin, f"{p}mask_begin_{t}"), ctx.ints(end, f"{p}mask_end_{t}"),
                                   ctx.ints([1] * rank_in, f"{p}mask_stride")],
                  {"Index": DType.INT32, "begin_mask": all_but_time, "end_mask": all_but_time, "ellipsis_mask": 0,
                   "new_axis_mask": 0, "shrink_axis_mask": 2}, shape=(None, *shape[2:]), label=f"{p}mask_{t}")
    return ctx.op("NotEqual", [step, ctx.floats(0.0, f"{p}mask_zero")], {"incompatible_shape_error": True},
                  dtype=DType.BOOL, shape=step.shape, label=f"{p}keep_{t}")


def _select(ctx: LayerContext, keep: Value, new: Value, old: Value | None, label: str) -> Value:
    """``where(keep, new, old)`` per position (``old`` None: zeros), on a rank-4 view of a rank-5 state."""
    if old is None:
        old = ctx.op("ZerosLike", [new], shape=new.shape, label=f"{label}_zeros")
    shape = ctx.shape(new)
    if len(shape) <= 4:
        return ctx.op("SelectV2", [keep, new, old], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=shape, label=label)
    view = (None, None if None in shape[1:3] else shape[1] * shape[2], *shape[3:])
    if None in view[1:]:  # depth·height folded at run time, the shape read back from the state
        dims = ctx.op("Shape", [new], {"out_type": DType.INT32}, dtype=DType.INT32, shape=(len(shape),),
                      label=f"{label}_dims")
        folded = ctx.op("Mul", [_vector_slice(ctx, dims, 1, 2, f"{label}_depth"),
                                _vector_slice(ctx, dims, 2, 3, f"{label}_height")], dtype=DType.INT32, shape=(1,),
                        label=f"{label}_depth_height")
        parts = [[-1], folded, _vector_slice(ctx, dims, 3, len(shape), f"{label}_rest")]
        new, old = (reshape_to(ctx, v, parts, view, f"{label}_{name}_view") for v, name in ((new, "new"), (old, "old")))
        out = ctx.op("SelectV2", [keep, new, old], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=view, label=label)
        return ctx.op("Reshape", [out, dims], {"Tshape": DType.INT32}, shape=shape, label=f"{label}_state")
    new, old = ctx.reshape(new, view, f"{label}_new_view"), ctx.reshape(old, view, f"{label}_old_view")
    out = ctx.op("SelectV2", [keep, new, old], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=view, label=label)
    return ctx.reshape(out, shape, f"{label}_state")


@lowers("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", check=conv_lstm_check, keywords=(STATE_KEYWORD,))
def conv_lstm(ctx: LayerContext) -> Value | list[Value]:
    """The layer over its sequence, from the call's ``initial_state`` (tf_keras's inputs after the sequence, Keras
    3's keyword tensors or constants: ``h, c``) or zeros."""
    from .recurrent import _given_states, sequence_context

    check_call_kwargs(ctx, (MASK_KEYWORD, STATE_KEYWORD))  # a mask= tensor is the walk's: it sets ctx.mask
    weights = ctx.expect_weights("kernel", "recurrent_kernel", *(["bias"] if ctx.config.get("use_bias", True) else []))
    initial = _given_states(ctx)
    if initial is not None and len(initial) != 2:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) called with {len(initial)} initial_state "
                          "tensor(s); it has 2 states")
    out, states = run_conv_lstm(sequence_context(ctx, initial), ctx.class_name, ctx.config, weights, "",
                                bool(ctx.config.get("go_backwards")),
                                zero_output_for_mask=bool(ctx.config.get("zero_output_for_mask")), flipped=False,
                                initial=initial)
    return [out, *states] if ctx.config.get("return_state") else out


def run_conv_lstm(ctx: LayerContext, kind: str, config: dict[str, Any], weights: list[Any], prefix: str,
                  backwards: bool, *, zero_output_for_mask: bool, flipped: bool,
                  initial: list[Value] | None = None) -> tuple[Value, list[Value]]:
    """:func:`_run_channels_last`; ``data_format="channels_first"`` (``[batch, T, channels, *positions]``) runs it on
    the input, mask and states transposed channels last, and transposes the outputs and states back, as Keras's
    TensorFlow backend computes its channels_first convolutions on cpu (a mask per position is a gap there)."""
    if config.get("data_format") != "channels_first":
        return _run_channels_last(ctx, kind, config, weights, prefix, backwards, zero_output_for_mask=zero_output_for_mask,
                                  flipped=flipped, initial=initial)
    rank = len(ctx.shape())
    if ctx.mask is not None and len(ctx.shape(ctx.mask)) > 2:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): a mask per position with "
                          "data_format='channels_first'")
    last = LayerContext(ctx.graph, ctx.name, ctx.class_name, ctx.config,
                        [ctx.transpose(ctx.x, [0, 1, *range(3, rank), 2], f"{prefix}channels_last")],
                        ctx.weights, ctx.source, keras3=ctx.keras3, weight_consts=ctx.weight_consts)
    last.mask = ctx.mask
    state_rank = rank - 1
    to_last, to_first = [0, *range(2, state_rank), 1], [0, state_rank - 1, *range(1, state_rank - 1)]
    if initial:
        initial = [ctx.transpose(v, to_last, f"{prefix}initial_{k}_channels_last") for k, v in enumerate(initial)]
    out, states = _run_channels_last(last, kind, config, weights, prefix, backwards,
                                     zero_output_for_mask=zero_output_for_mask, flipped=flipped, initial=initial)
    sequence = len(ctx.shape(out)) == rank
    out = ctx.transpose(out, [0, 1, rank - 1, *range(2, rank - 1)] if sequence else to_first,
                        f"{prefix}output_channels_first")
    return out, [ctx.transpose(v, to_first, f"{prefix}state_{k}_channels_first") for k, v in enumerate(states)]


def _run_channels_last(ctx: LayerContext, kind: str, config: dict[str, Any], weights: list[Any], prefix: str,
                       backwards: bool, *, zero_output_for_mask: bool, flipped: bool,
                       initial: list[Value] | None = None) -> tuple[Value, list[Value]]:
    """One ConvLSTM layer of ``kind`` and ``config`` over ``ctx``'s input and mask: its output (the sequence or the
    last output) and its final ``h, c``. ``prefix`` names its nodes (Bidirectional runs two);
    ``zero_output_for_mask`` zeroes masked outputs instead of repeating ``h`` (Bidirectional's, when it returns
    sequences; Keras 3 only: tf_keras's ConvRNN leaves it out of its ``rnn`` call); ``flipped`` packs the returned
    sequence in the reverse of the walk's order, as Bidirectional flips its backward layer's along time whichever way
    that layer walks (packed so: no ``ReverseV2`` of rank 5, which webgl lacks); ``initial`` the ``h, c`` it starts
    from (``[batch, *positions, filters]``; None: zeros). With a mask too, a masked step outputs the previous output
    (zeros before any step, as Keras's ``rnn``), no longer the kept ``h``."""
    rank = RANKS[kind]
    shape = ctx.shape()
    if len(shape) != rank + 3 or shape[-1] is None:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) needs a rank-{rank + 3} input of a static channel "
                          f"count (got {list(shape)})")
    steps = None if shape[1] is None else int(shape[1])
    spatial, channels = [None if d is None else int(d) for d in shape[2:-1]], int(shape[-1])
    runtime_positions = None in spatial  # then read at run time, from the input and its convolution
    if steps is not None and steps < 1:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) over zero time steps")
    filters = int(config["filters"])
    try:
        kernel_size, strides, dilations = (positive_ints(config.get(k, 1), rank) for k in
                                           ("kernel_size", "strides", "dilation_rate"))
    except ValueError as exc:
        raise ctx.error(f"has {exc}") from None
    use_bias = config.get("use_bias", True)
    if len(weights) != 2 + bool(use_bias):
        raise ctx.error(f"has {len(weights)} {prefix}weights, but its config needs {2 + bool(use_bias)}")
    weights = [w if np.dtype(w.dtype) == np.float32 else Float32Array(w) for w in weights]
    ctx.check_shape(weights[0], [*kernel_size, channels, 4 * filters], f"{prefix}kernel")
    ctx.check_shape(weights[1], [*kernel_size, filters, 4 * filters], f"{prefix}recurrent kernel")
    if use_bias:
        ctx.check_shape(weights[2], [4 * filters], f"{prefix}bias")
    kernel, recurrent = weights[0], weights[1]
    if rank == 1:  # a height of 1
        kernel = ReshapedArray(kernel, (1, *kernel.shape))
        recurrent = ReshapedArray(recurrent, (1, *recurrent.shape))
        spatial, kernel_size, strides, dilations = [1, *spatial], [1, *kernel_size], [1, *strides], [1, *dilations]
    padding = str(config.get("padding", "valid")).lower()
    p = prefix
    zero_output_for_mask = zero_output_for_mask and bool(ctx.keras3)  # tf_keras's ConvRNN never passes it to rnn
    # unrolled, Keras repeats the previous output at a masked step and zeroes the stacked outputs with the mask in
    # the input's order (walked backwards: misaligned, Keras's own quirk; recurrent._run has the same)
    unrolled_zeroing = zero_output_for_mask and bool(config.get("unroll")) and bool(config.get("return_sequences"))
    zero_output_for_mask = zero_output_for_mask and not unrolled_zeroing

    if runtime_positions:
        folded = reshape_to(ctx, ctx.x, [[-1], *([[1]] if rank == 1 else []),
                                         runtime_sizes(ctx, ctx.x, 2, 2 + RANKS[kind], f"{p}positions"), [channels]],
                            (None, *spatial, channels), f"{p}fold_time")
    else:
        folded = ctx.reshape(ctx.x, [None, *spatial, channels], f"{p}fold_time")
    inputs = _conv(ctx, folded, ctx.weight(kernel, f"{p}kernel"), kernel.shape, strides, dilations, padding,
                   f"{p}input_conv")
    if use_bias:
        inputs = ctx.op("BiasAdd", [inputs, ctx.weight(weights[2], f"{p}bias")], {"data_format": "NHWC"},
                        shape=inputs.shape, label=f"{p}input_bias")
    out_spatial = tuple(ctx.shape(inputs)[1:-1])
    if steps is None or runtime_positions:
        lead = runtime_sizes(ctx, ctx.x, 0, 2, f"{p}batch_steps") if steps is None else [-1, steps]
        positions = runtime_sizes(ctx, inputs, 1, -1, f"{p}conv_positions") if runtime_positions else out_spatial
        inputs = reshape_to(ctx, inputs, [lead, positions, [4 * filters]], (None, steps, *out_spatial, 4 * filters),
                            f"{p}unfold_time")
    else:
        inputs = ctx.reshape(inputs, [None, steps, *out_spatial, 4 * filters], f"{p}unfold_time")
    recurrent_kernel = ctx.weight(recurrent, f"{p}recurrent_kernel")
    state_shape = (None, *out_spatial, filters)
    rank_in = len(out_spatial) + 3  # [batch, T, *spatial, 4·filters]
    all_but_time = sum(1 << axis for axis in range(rank_in) if axis != 1)
    ones = [1] * len(out_spatial)

    def step(z: Value, h: Value | None, c: Value | None, t: int | str) -> tuple[Value, Value]:
        """One step's ``h, c`` from its input convolution ``z`` and the previous states (None: zeros)."""
        if h is not None:
            term = _conv(ctx, h, recurrent_kernel, recurrent.shape, ones, ones, "same", f"{p}recurrent_conv_{t}")
            z = ctx.binary("AddV2", z, term, label=f"{p}gates_{t}")
        i, f, g, o = (ctx.op("Slice", [z, ctx.ints([0, *[0] * len(ones), k * filters], f"{p}gate_begin_{k}"),
                                       ctx.ints([-1, *[-1] * len(ones), filters], f"{p}gate_size")],
                             {"Index": DType.INT32}, shape=state_shape, label=f"{p}gate_{k}_{t}") for k in range(4))
        i, f, o = (_act(ctx, config, v, "recurrent_activation", "sigmoid", f"{p}{t}") for v in (i, f, o))
        new_c = ctx.binary("Mul", i, _act(ctx, config, g, "activation", "tanh", f"{p}{t}"), label=f"{p}input_gate_{t}")
        if c is not None:
            new_c = ctx.binary("AddV2", ctx.binary("Mul", f, c, label=f"{p}forget_{t}"), new_c, label=f"{p}cell_{t}")
        return ctx.binary("Mul", o, _act(ctx, config, new_c, "activation", "tanh", f"{p}{t}"),
                          label=f"{p}hidden_{t}"), new_c

    def unpadded(v: Value, label: str) -> Value:  # ConvLSTM1D: drop the height of 1
        return ctx.squeeze(v, len(ctx.shape(v)) - 3, f"{p}{label}") if rank == 1 else v

    mask = _positions_mask(ctx, steps, out_spatial, rank, inputs, p)
    given = _initial_states(ctx, initial, state_shape, rank, p)
    if steps is None:
        from .recurrent_loop_conv import run_conv_looped

        out, h, c = run_conv_looped(ctx, inputs, mask, step, state_shape, p, backwards=backwards,
                                    zero_output_for_mask=zero_output_for_mask, flipped=flipped,
                                    return_sequences=bool(config.get("return_sequences")), initial=given)
        return unpadded(out, "output_1d"), [unpadded(h, "state_h"), unpadded(c, "state_c")]
    h, c = given if given else (None, None)
    previous = None  # the previous output, which a masked step repeats (zeros before any step)
    sequence = []
    walk = list(reversed(range(steps)) if backwards else range(steps))
    for t in walk:
        begin, end = [0] * rank_in, [0] * rank_in
        begin[1], end[1] = t, t + 1
        z = ctx.op("StridedSlice", [inputs, ctx.ints(begin, f"{p}begin_{t}"), ctx.ints(end, f"{p}end_{t}"),
                                    ctx.ints([1] * rank_in, f"{p}stride")],
                   {"Index": DType.INT32, "begin_mask": all_but_time, "end_mask": all_but_time, "ellipsis_mask": 0,
                    "new_axis_mask": 0, "shrink_axis_mask": 2}, shape=(None, *out_spatial, 4 * filters),
                   label=f"{p}step_{t}")
        new_h, new_c = step(z, h, c, t)
        if mask is None:
            h, c = new_h, new_c
            sequence.append(h)
            continue
        keep = _step_mask(ctx, mask, t, p)
        h, c = (_select(ctx, keep, new, old, f"{p}{label}_{t}") for new, old, label in
                ((new_h, h, "masked_h"), (new_c, c, "masked_c")))
        if zero_output_for_mask:
            previous = _select(ctx, keep, new_h, None, f"{p}zeroed_{t}")
        elif given:  # from given states, h is not the previous output until a step is kept
            previous = _select(ctx, keep, new_h, previous, f"{p}output_{t}")
        else:
            previous = h
        sequence.append(previous)

    assert h is not None and c is not None
    if unrolled_zeroing and mask is not None:
        sequence = [_select(ctx, _step_mask(ctx, mask, i, f"{p}unrolled_"), output, None, f"{p}unrolled_zeroed_{i}")
                    for i, output in enumerate(sequence)]
    if config.get("return_sequences"):
        if flipped:
            sequence = sequence[::-1]
        out = ctx.op("Pack", sequence, {"N": steps, "axis": 1}, shape=(None, steps, *state_shape[1:]),
                     label=f"{p}sequence")
        out = unpadded(out, "sequence_1d")
    else:
        out = unpadded(sequence[-1], "output_1d")
    return out, [unpadded(h, "state_h"), unpadded(c, "state_c")]
