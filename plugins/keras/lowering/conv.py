"""Convolutions: Conv1D/2D/3D (dilation, groups, same/valid/causal), DepthwiseConv2D, SeparableConv2D and
Conv2D/3DTranspose (dilated too), NHWC as Keras's channels_last. Keras kernels are already in TF's layout (HWIO, and
HW·out·in for transposed convs), so the weights stream from the file unchanged; a Conv1D runs as a
Conv2D over a height of 1 (``ExpandDims`` / ``Squeeze``), as TF does. Grouped convs are left to the
``grouped_conv`` pass, which splits them the way TF.js can run. Transposed convs over spatial sizes the config leaves
unknown size their output at run time (``dynamic_transposed_conv``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .activations import activation_gap, apply_activation
from .context import LayerContext
from .dynamic_transposed_conv import transposed_conv_over_unknown_sizes
from .lazy import ReshapedArray
from .registry import Unsupported, channels_last_only, lowers


def positive_ints(value: Any, n: int) -> list[int]:
    """A Keras size option (one int or ``n`` of them) as ``n`` positive ints; ValueError otherwise."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise ValueError(f"expected {n} positive integers, got {value!r}")
    return [int(v) for v in values]


_ints = positive_ints  # the old private name, still used here and in pooling.py


def conv_check(config: dict[str, Any]) -> str | None:
    gap = channels_last_only(config) or activation_gap(config.get("activation"))
    if gap:
        return gap
    if config.get("padding", "valid") not in ("valid", "same", "causal"):
        return f"padding={config.get('padding')!r}"
    return None


def transpose_check(config: dict[str, Any]) -> str | None:
    gap = conv_check(config)
    if gap:
        return gap
    if config.get("padding", "valid") == "causal":
        return "padding='causal'"
    return None


def out_size(size: int | None, kernel: int, stride: int, dilation: int, padding: str) -> int | None:
    """Keras's ``conv_output_length``."""
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    return (size - ((kernel - 1) * dilation + 1)) // stride + 1


def conv2d(ctx: LayerContext, x: Value, kernel: Value, kernel_shape: Sequence[int], strides: list[int],
           dilations: list[int], padding: str, *, depthwise: bool = False, label: str = "Conv2D") -> Value:
    _, h, w, _ = ctx.shape(x)
    kh, kw = kernel_shape[:2]
    channels = kernel_shape[2] * kernel_shape[3] if depthwise else kernel_shape[3]
    shape = (None, out_size(h, kh, strides[0], dilations[0], padding),
             out_size(w, kw, strides[1], dilations[1], padding), channels)
    attrs = {"strides": [1, *strides, 1], "dilations": [1, *dilations, 1], "data_format": "NHWC",
             "padding": padding.upper(), "explicit_paddings": []}
    op = "DepthwiseConv2dNative" if depthwise else "Conv2D"
    if not depthwise:
        attrs["use_cudnn_on_gpu"] = True
    return ctx.op(op, [x, kernel], attrs, shape=shape, label=label)


_conv2d = conv2d  # the old private name, still used here


def _finish(ctx: LayerContext, y: Value, bias: Any | None) -> Value:
    if bias is not None:
        ctx.check_shape(bias, [ctx.shape(y)[-1]], "bias")
        y = ctx.op("BiasAdd", [y, ctx.weight(bias, "bias")], {"data_format": "NHWC"}, shape=y.shape)
    return apply_activation(ctx, y, ctx.config.get("activation"), keras3=ctx.keras3)


def _weights(ctx: LayerContext, *names: str) -> tuple[list[Any], Any | None]:
    use_bias = ctx.config.get("use_bias", True)
    arrays = ctx.expect_weights(*names, *(["bias"] if use_bias else []))
    return arrays[:len(names)], arrays[len(names)] if use_bias else None


def causal_padded(ctx: LayerContext, x: Value, left: int) -> Value:
    """A sequence ``[batch, steps, channels]`` padded with ``left`` zero steps in front (Keras's causal padding)."""
    shape = ctx.shape(x)
    width = None if shape[1] is None else shape[1] + left
    return ctx.op("Pad", [x, ctx.ints([[0, 0], [left, 0], [0, 0]], "causal_pads")], {"Tpaddings": DType.INT32},
                  shape=(shape[0], width, shape[2]), label="causal_pad")


@lowers("Conv1D", "Conv2D", "Convolution1D", "Convolution2D", check=conv_check, channels_first=True)
def conv(ctx: LayerContext) -> Value:
    one_d = ctx.class_name in ("Conv1D", "Convolution1D")
    n = 1 if one_d else 2
    config = ctx.config
    sizes, strides = _ints(config["kernel_size"], n), _ints(config.get("strides", 1), n)
    dilations, groups = _ints(config.get("dilation_rate", 1), n), int(config.get("groups", 1) or 1)
    padding = config.get("padding", "valid")
    shape = ctx.shape()
    if len(shape) != n + 2:
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(shape)} input")
    (kernel,), bias = _weights(ctx, "kernel")
    channels = shape[-1]
    ctx.check_shape(kernel, [*sizes, None if channels is None else channels // groups, config["filters"]], "kernel")
    if channels is not None and channels % groups:
        raise ctx.error(f"has {channels} input channels, which {groups} groups do not divide")
    if any(s > 1 for s in strides) and any(d > 1 for d in dilations):
        raise Unsupported(f"layer {ctx.name!r}: strides together with dilation")
    x = ctx.x
    if padding == "causal":
        if not one_d:
            raise ctx.error("has causal padding, which only Conv1D has")
        x = causal_padded(ctx, x, dilations[0] * (sizes[0] - 1))
        padding = "valid"
    if one_d:
        x = ctx.expand_dims(x, 1, "as_2d")
        kernel = ReshapedArray(kernel, (1, *kernel.shape))
        sizes, strides, dilations = [1, *sizes], [1, *strides], [1, *dilations]
    y = _conv2d(ctx, x, ctx.weight(kernel, "kernel"), kernel.shape, strides, dilations, padding)
    if one_d:
        y = ctx.squeeze(y, 1, "as_1d")
    return _finish(ctx, y, bias)


def _no_strides_with_dilation(ctx: LayerContext, strides: Sequence[int], dilations: Sequence[int]) -> None:
    """Keras 3 runs a depthwise conv with both at stride 1 and subsamples; TF.js's depthwise conv throws on them."""
    if any(s > 1 for s in strides) and any(d > 1 for d in dilations):
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}): strides together with dilation")


@lowers("DepthwiseConv2D", check=conv_check, channels_first=True)
def depthwise_conv(ctx: LayerContext) -> Value:
    config = ctx.config
    sizes, strides = _ints(config["kernel_size"], 2), _ints(config.get("strides", 1), 2)
    dilations = _ints(config.get("dilation_rate", 1), 2)
    shape = ctx.shape()
    if len(shape) != 4 or config.get("padding", "valid") == "causal":
        raise Unsupported(f"layer {ctx.name!r} (DepthwiseConv2D) on a rank-{len(shape)} input")
    _no_strides_with_dilation(ctx, strides, dilations)
    (kernel,), bias = _weights(ctx, "depthwise_kernel")
    ctx.check_shape(kernel, [*sizes, shape[-1], int(config.get("depth_multiplier", 1))], "depthwise kernel")
    y = _conv2d(ctx, ctx.x, ctx.weight(kernel, "depthwise_kernel"), kernel.shape, strides, dilations,
                config.get("padding", "valid"), depthwise=True, label="DepthwiseConv2dNative")
    return _finish(ctx, y, bias)


@lowers("SeparableConv2D", "SeparableConvolution2D", check=conv_check, channels_first=True)
def separable_conv(ctx: LayerContext) -> Value:
    config = ctx.config
    sizes, strides = _ints(config["kernel_size"], 2), _ints(config.get("strides", 1), 2)
    dilations = _ints(config.get("dilation_rate", 1), 2)
    shape = ctx.shape()
    if len(shape) != 4 or config.get("padding", "valid") == "causal":
        raise Unsupported(f"layer {ctx.name!r} (SeparableConv2D) on a rank-{len(shape)} input")
    _no_strides_with_dilation(ctx, strides, dilations)
    (depthwise, pointwise), bias = _weights(ctx, "depthwise_kernel", "pointwise_kernel")
    multiplier = int(config.get("depth_multiplier", 1))
    ctx.check_shape(depthwise, [*sizes, shape[-1], multiplier], "depthwise kernel")
    ctx.check_shape(pointwise, [1, 1, None if shape[-1] is None else shape[-1] * multiplier, config["filters"]],
                    "pointwise kernel")
    y = _conv2d(ctx, ctx.x, ctx.weight(depthwise, "depthwise_kernel"), depthwise.shape, strides, dilations,
                config.get("padding", "valid"), depthwise=True, label="depthwise")
    y = _conv2d(ctx, y, ctx.weight(pointwise, "pointwise_kernel"), pointwise.shape, [1, 1], [1, 1], "valid",
                label="pointwise")
    return _finish(ctx, y, bias)


def transposed_size(size: int, kernel: int, stride: int, padding: str, output_padding: int | None,
                    dilation: int = 1) -> int:
    """Keras's ``deconv_output_length`` (tf_keras and Keras 3 agree); dilation widens the kernel."""
    kernel = (kernel - 1) * dilation + 1
    if output_padding is None:
        return size * stride if padding == "same" else size * stride + max(kernel - stride, 0)
    return (size - 1) * stride + (kernel % 2 if padding == "same" else kernel) + output_padding


@lowers("Conv2DTranspose", "Convolution2DTranspose", "Conv3DTranspose", "Convolution3DTranspose",
        check=transpose_check, channels_first=True)
def conv_transpose(ctx: LayerContext) -> Value:
    """``Conv2DBackpropInput`` / ``Conv3DBackpropInputV2``, the output size built from the batch at run time."""
    config = ctx.config
    n = 3 if ctx.class_name.startswith(("Conv3D", "Convolution3D")) else 2
    sizes, strides = _ints(config["kernel_size"], n), _ints(config.get("strides", 1), n)
    dilations = _ints(config.get("dilation_rate", 1), n)
    padding = config.get("padding", "valid")
    shape = ctx.shape()
    if len(shape) != n + 2 or padding == "causal":
        raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(shape)} input")
    if any(s > 1 for s in strides) and any(d > 1 for d in dilations):
        raise Unsupported(f"layer {ctx.name!r}: strides together with dilation")
    (kernel,), bias = _weights(ctx, "kernel")
    filters = int(config["filters"])
    ctx.check_shape(kernel, [*sizes, filters, shape[-1]], "kernel")
    extra = config.get("output_padding")
    extra = [None] * n if extra is None else [int(v) for v in (extra if isinstance(extra, list) else [extra] * n)]
    if len(extra) != n or any(e is not None and not 0 <= e < max(st, d) for e, st, d in zip(extra, strides, dilations)):
        raise ctx.error(f"has output_padding {config.get('output_padding')} for strides {strides}")
    if None in shape[1:n + 1]:
        # the output size is affine in the input's: ``size · stride + transposed_size(0, …)``
        offsets = [transposed_size(0, k, st, padding, e, d) for k, st, e, d in zip(sizes, strides, extra, dilations)]
        y = transposed_conv_over_unknown_sizes(ctx, kernel, strides, dilations, padding, offsets, filters)
        return _finish(ctx, y, bias)
    spatial = [transposed_size(s, k, st, padding, e, d)
               for s, k, st, e, d in zip(shape[1:n + 1], sizes, strides, extra, dilations)]
    batch = ctx.op("StridedSlice", [ctx.op("Shape", [ctx.x], {"out_type": DType.INT32}, dtype=DType.INT32,
                                           shape=(4,), label="input_shape"),
                                    ctx.ints([0], "batch_begin"), ctx.ints([1], "batch_end"),
                                    ctx.ints([1], "batch_stride")],
                   {"T": DType.INT32, "Index": DType.INT32, "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0,
                    "new_axis_mask": 0, "shrink_axis_mask": 0}, dtype=DType.INT32, shape=(1,), label="batch")
    sizes_value = ctx.op("ConcatV2", [batch, ctx.ints([*spatial, filters], "spatial_size"),
                                      ctx.ints(0, "concat_axis")],
                         {"N": 2, "T": DType.INT32, "Tidx": DType.INT32}, dtype=DType.INT32, shape=(n + 2,),
                         label="output_size")
    attrs = {"T": DType.FLOAT32, "strides": [1, *strides, 1], "dilations": [1, *dilations, 1],
             "padding": padding.upper()}
    if n == 2:  # dilations > 1 are undone by the ``dilated_transposed_conv`` pass
        op = "Conv2DBackpropInput"
        attrs.update(data_format="NHWC", explicit_paddings=[], use_cudnn_on_gpu=True)
    else:  # rewritten to Conv3D by the ``conv3d_transpose`` pass (TF.js has no such op)
        op = "Conv3DBackpropInputV2"
        attrs.update(data_format="NDHWC", Tshape=DType.INT32)
    y = ctx.op(op, [sizes_value, ctx.weight(kernel, "kernel"), ctx.x], attrs,
               dtype=DType.FLOAT32, shape=(None, *spatial, filters))
    return _finish(ctx, y, bias)


@lowers("Conv3D", "Convolution3D", check=conv_check, channels_first=True)
def conv3d(ctx: LayerContext) -> Value:
    """``Conv3D`` NDHWC (the backend contract decides where TF.js runs it)."""
    config = ctx.config
    sizes, strides = _ints(config["kernel_size"], 3), _ints(config.get("strides", 1), 3)
    dilations, groups = _ints(config.get("dilation_rate", 1), 3), int(config.get("groups", 1) or 1)
    padding = config.get("padding", "valid")
    shape = ctx.shape()
    if len(shape) != 5 or padding == "causal" or (groups > 1 and shape[-1] is None):
        raise Unsupported(f"layer {ctx.name!r} (Conv3D): rank {len(shape)}, groups {groups}, padding {padding!r}")
    if any(s > 1 for s in strides) and any(d > 1 for d in dilations):
        raise Unsupported(f"layer {ctx.name!r}: strides together with dilation")
    (kernel,), bias = _weights(ctx, "kernel")
    filters = int(config["filters"])
    if groups < 1 or (groups > 1 and (shape[-1] % groups or filters % groups)):
        raise ctx.error(f"has {shape[-1]} input channels and {filters} filters, which {groups} groups do not divide")
    ctx.check_shape(kernel, [*sizes, None if shape[-1] is None else shape[-1] // groups, filters], "kernel")
    out = (None, *(out_size(s, k, st, d, padding) for s, k, st, d in zip(shape[1:4], sizes, strides, dilations)),
           filters)
    attrs = {"strides": [1, *strides, 1], "dilations": [1, *dilations, 1], "padding": padding.upper(),
             "data_format": "NDHWC"}
    # a grouped kernel covers shape[-1] / groups input channels: TF's own Conv3D, which the core grouped_conv pass
    # splits into one Conv3D per group for TF.js
    y = ctx.op("Conv3D", [ctx.x, ctx.weight(kernel, "kernel")], attrs, shape=out)
    return _finish(ctx, y, bias)


def _one_d_as_two_d(lower: Any) -> Any:
    """A 1-D layer as its 2-D lowering over a height of 1: ExpandDims, kernels ``(1, …)``, Squeeze."""
    def lowering(ctx: LayerContext) -> Value:
        if len(ctx.shape()) != 3:
            raise Unsupported(f"layer {ctx.name!r} ({ctx.class_name}) on a rank-{len(ctx.shape())} input")
        config = dict(ctx.config)
        for key in ("kernel_size", "strides", "dilation_rate"):
            if config.get(key) is not None:
                config[key] = [1, *_ints(config[key], 1)]
        extra = config.get("output_padding")
        if extra is not None:
            config["output_padding"] = [0, int(extra[0] if isinstance(extra, (list, tuple)) else extra)]
        x = ctx.x
        if config.get("padding") == "causal":  # tf_keras's SeparableConv1D: left-padded, then valid
            if ctx.keras3:  # Keras 3 refuses to build it: nothing to compute the same as
                raise ctx.error("has causal padding, which Keras 3's SeparableConv1D does not have")
            kernel, dilation = _ints(ctx.config["kernel_size"], 1)[0], _ints(ctx.config.get("dilation_rate", 1), 1)[0]
            x = causal_padded(ctx, x, dilation * (kernel - 1))
            config["padding"] = "valid"
        ctx.config = config
        ctx.inputs = [ctx.expand_dims(x, 1, "as_2d")]
        ctx.weights = [ReshapedArray(w, (1, *w.shape)) if len(w.shape) == 3 else w for w in ctx.weights]
        return ctx.squeeze(lower(ctx), 1, "as_1d")
    return lowering


def _no_causal(config: dict[str, Any]) -> str | None:
    return conv_check(config) or ("padding='causal'" if config.get("padding") == "causal" else None)


lowers("DepthwiseConv1D", check=_no_causal, channels_first=True)(_one_d_as_two_d(depthwise_conv))
lowers("SeparableConv1D", "SeparableConvolution1D", check=conv_check, channels_first=True)(
    _one_d_as_two_d(separable_conv))
lowers("Conv1DTranspose", "Convolution1DTranspose", check=transpose_check, channels_first=True)(
    _one_d_as_two_d(conv_transpose))
