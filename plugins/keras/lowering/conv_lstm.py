"""ConvLSTM1D, ConvLSTM2D and ConvLSTM3D, unrolled over a static time length like :mod:`.recurrent`'s LSTM.

The input convolution (all four gates, ``4·filters`` channels) runs once over ``[batch·T, ...]``;
each step slices its row, adds the recurrent convolution of the previous ``h`` (``same`` padding,
stride 1, as Keras) and splits the gates (i, f, c, o) by channel slices. The first step has
``h = c = 0``, so its recurrent terms are left out. ConvLSTM1D runs as a 2-D convolution over a height
of 1, ConvLSTM3D as ``Conv3D`` (NDHWC). ``go_backwards`` walks the steps in reverse and returns the
sequence in the order walked (Keras).

A mask (Masking's ``[batch, T, *spatial]``, ``any`` over the channels) is read per step and per position, as
Keras's ``rnn`` tiles it (``fixed_dim`` = the mask's rank): a masked position keeps its ``h`` and ``c`` (zeros
before any step), and its output is the previous one, which is that ``h``. Keras fails on a mask whose positions
are not the output's (``valid`` padding that shrinks them): refused. The selects run on rank-4 views (webgl has no
rank-5 ``SelectV2``).
"""
from __future__ import annotations

from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .activations import activation_gap, apply_activation
from .context import LayerContext, check_call_kwargs
from .conv import conv2d, out_size, positive_ints
from .lazy import ReshapedArray
from .registry import Unsupported, channels_last_only, lowers

RANKS = {"ConvLSTM1D": 1, "ConvLSTM2D": 2, "ConvLSTM3D": 3}


def _check(config: dict[str, Any]) -> str | None:
    gap = channels_last_only(config)
    if gap:
        return gap
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


def _act(ctx: LayerContext, x: Value, key: str, default: str, t: int) -> Value:
    return apply_activation(ctx, x, ctx.config.get(key, default), keras3=ctx.keras3, label=f"{key}_{t}")


def _positions_mask(ctx: LayerContext, steps: int, out_spatial: tuple[int, ...], rank: int) -> Value | None:
    """The mask as ``[batch, T, *positions, 1]`` (ConvLSTM1D: a height of 1; ConvLSTM3D: depth·height folded into
    one axis), or None without one. A ``[batch, T]`` mask (one flag per step) broadcasts over the positions."""
    mask = ctx.mask
    if mask is None:
        return None
    shape = ctx.shape(mask)
    spatial = list(out_spatial[1:] if rank == 1 else out_spatial)
    if list(shape[1:]) not in ([steps], [steps, *spatial]):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): a mask of shape {list(shape)} for outputs of "
                          f"positions {spatial} (Keras fails on it)")
    positions = [1] * len(out_spatial) if len(shape) == 2 else list(out_spatial)
    if len(positions) == 3:
        positions = [positions[0] * positions[1], positions[2]]
    as_float = ctx.op("Cast", [mask], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False},
                      dtype=DType.FLOAT32, shape=mask.shape, label="mask_float")
    return ctx.reshape(as_float, [None, steps, *positions, 1], "mask_positions")


def _step_mask(ctx: LayerContext, mask: Value, t: int) -> Value:
    """Step ``t`` of the ``[batch, T, *positions, 1]`` float mask, as a bool ``[batch, *positions, 1]``."""
    shape = ctx.shape(mask)
    rank_in = len(shape)
    all_but_time = sum(1 << axis for axis in range(rank_in) if axis != 1)
    begin, end = [0] * rank_in, [0] * rank_in
    begin[1], end[1] = t, t + 1
    step = ctx.op("StridedSlice", [mask, ctx.ints(begin, f"mask_begin_{t}"), ctx.ints(end, f"mask_end_{t}"),
                                   ctx.ints([1] * rank_in, "mask_stride")],
                  {"Index": DType.INT32, "begin_mask": all_but_time, "end_mask": all_but_time, "ellipsis_mask": 0,
                   "new_axis_mask": 0, "shrink_axis_mask": 2}, shape=(None, *shape[2:]), label=f"mask_{t}")
    return ctx.op("NotEqual", [step, ctx.floats(0.0, "mask_zero")], {"incompatible_shape_error": True},
                  dtype=DType.BOOL, shape=step.shape, label=f"keep_{t}")


def _select(ctx: LayerContext, keep: Value, new: Value, old: Value | None, label: str) -> Value:
    """``where(keep, new, old)`` per position (``old`` None: zeros), on a rank-4 view of a rank-5 state."""
    if old is None:
        old = ctx.op("ZerosLike", [new], shape=new.shape, label=f"{label}_zeros")
    shape = ctx.shape(new)
    view = shape if len(shape) <= 4 else (None, shape[1] * shape[2], *shape[3:])
    if view != shape:
        new, old = ctx.reshape(new, view, f"{label}_new_view"), ctx.reshape(old, view, f"{label}_old_view")
    out = ctx.op("SelectV2", [keep, new, old], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=view, label=label)
    return out if view == shape else ctx.reshape(out, shape, f"{label}_state")


@lowers("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", check=_check)
def conv_lstm(ctx: LayerContext) -> Value | list[Value]:
    check_call_kwargs(ctx, ())
    rank, config = RANKS[ctx.class_name], ctx.config
    shape = ctx.shape()
    if len(shape) != rank + 3 or any(d is None for d in shape[1:]):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) needs a rank-{rank + 3} input of static sizes "
                          f"(a static time length; got {list(shape)})")
    steps, spatial, channels = int(shape[1]), [int(d) for d in shape[2:-1]], int(shape[-1])
    if steps < 1:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) over zero time steps")
    filters = int(config["filters"])
    try:
        kernel_size, strides, dilations = (positive_ints(config.get(k, 1), rank) for k in
                                           ("kernel_size", "strides", "dilation_rate"))
    except ValueError as exc:
        raise ctx.error(f"has {exc}") from None
    use_bias = config.get("use_bias", True)
    weights = ctx.expect_weights("kernel", "recurrent_kernel", *(["bias"] if use_bias else []))
    ctx.check_shape(weights[0], [*kernel_size, channels, 4 * filters], "kernel")
    ctx.check_shape(weights[1], [*kernel_size, filters, 4 * filters], "recurrent kernel")
    if use_bias:
        ctx.check_shape(weights[2], [4 * filters], "bias")
    kernel, recurrent = weights[0], weights[1]
    if rank == 1:  # a height of 1
        kernel = ReshapedArray(kernel, (1, *kernel.shape))
        recurrent = ReshapedArray(recurrent, (1, *recurrent.shape))
        spatial, kernel_size, strides, dilations = [1, *spatial], [1, *kernel_size], [1, *strides], [1, *dilations]
    padding = str(config.get("padding", "valid")).lower()

    folded = ctx.reshape(ctx.x, [None, *spatial, channels], "fold_time")
    inputs = _conv(ctx, folded, ctx.weight(kernel, "kernel"), kernel.shape, strides, dilations, padding,
                   "input_conv")
    if use_bias:
        inputs = ctx.op("BiasAdd", [inputs, ctx.weight(weights[2], "bias")], {"data_format": "NHWC"},
                        shape=inputs.shape, label="input_bias")
    out_spatial = tuple(ctx.shape(inputs)[1:-1])
    inputs = ctx.reshape(inputs, [None, steps, *out_spatial, 4 * filters], "unfold_time")
    recurrent_kernel = ctx.weight(recurrent, "recurrent_kernel")
    state_shape = (None, *out_spatial, filters)
    rank_in = len(out_spatial) + 3  # [batch, T, *spatial, 4·filters]
    all_but_time = sum(1 << axis for axis in range(rank_in) if axis != 1)
    ones = [1] * len(out_spatial)

    mask = _positions_mask(ctx, steps, out_spatial, rank)
    h = c = None
    sequence = []
    for t in (reversed(range(steps)) if config.get("go_backwards") else range(steps)):
        begin, end = [0] * rank_in, [0] * rank_in
        begin[1], end[1] = t, t + 1
        z = ctx.op("StridedSlice", [inputs, ctx.ints(begin, f"begin_{t}"), ctx.ints(end, f"end_{t}"),
                                    ctx.ints([1] * rank_in, "stride")],
                   {"Index": DType.INT32, "begin_mask": all_but_time, "end_mask": all_but_time, "ellipsis_mask": 0,
                    "new_axis_mask": 0, "shrink_axis_mask": 2}, shape=(None, *out_spatial, 4 * filters),
                   label=f"step_{t}")
        if h is not None:
            term = _conv(ctx, h, recurrent_kernel, recurrent.shape, ones, ones, "same", f"recurrent_conv_{t}")
            z = ctx.binary("AddV2", z, term, label=f"gates_{t}")
        i, f, g, o = (ctx.op("Slice", [z, ctx.ints([0, *[0] * len(ones), k * filters], f"gate_begin_{k}"),
                                       ctx.ints([-1, *[-1] * len(ones), filters], "gate_size")],
                             {"Index": DType.INT32}, shape=state_shape, label=f"gate_{k}_{t}") for k in range(4))
        i, f, o = (_act(ctx, v, "recurrent_activation", "sigmoid", t) for v in (i, f, o))
        new_c = ctx.binary("Mul", i, _act(ctx, g, "activation", "tanh", t), label=f"input_gate_{t}")
        if c is not None:
            new_c = ctx.binary("AddV2", ctx.binary("Mul", f, c, label=f"forget_{t}"), new_c, label=f"cell_{t}")
        new_h = ctx.binary("Mul", o, _act(ctx, new_c, "activation", "tanh", t), label=f"hidden_{t}")
        if mask is None:
            h, c = new_h, new_c
        else:
            keep = _step_mask(ctx, mask, t)
            h, c = (_select(ctx, keep, new, old, f"{label}_{t}") for new, old, label in
                    ((new_h, h, "masked_h"), (new_c, c, "masked_c")))
        sequence.append(h)

    def unpadded(v: Value, label: str) -> Value:  # ConvLSTM1D: drop the height of 1
        return ctx.squeeze(v, len(ctx.shape(v)) - 3, label) if rank == 1 else v

    if config.get("return_sequences"):
        out = ctx.op("Pack", sequence, {"N": steps, "axis": 1}, shape=(None, steps, *state_shape[1:]),
                     label="sequence")
        out = unpadded(out, "sequence_1d")
    else:
        out = unpadded(h, "output_1d")
    if config.get("return_state"):
        return [out, unpadded(h, "state_h"), unpadded(c, "state_c")]
    return out
