"""Op layers: convolutions, pooling and attention ops (keras.ops.nn, tf.nn).

Registered into :mod:`.op_layers`'s tables (see :func:`.op_layers.register_op_layers`).

Keras 3 (TensorFlow backend) runs ``keras.ops.{average,max}_pool``, ``conv``, ``depthwise_conv``,
``separable_conv``, ``depth_to_space``, ``image.extract_patches`` (a conv with an identity kernel) and
``dot_product_attention`` through ``tf.nn``; tf_keras records the ``tf.nn`` pool and conv functions themselves. Both
lower to the ops the layer lowerings of :mod:`.conv` and :mod:`.pooling` emit (NHWC ``Conv2D``,
``DepthwiseConv2dNative``, ``MaxPool``/``AvgPool``, ``Conv3D``, ``MaxPool3D``/``AvgPool3D``,
``Conv2DBackpropInput``, ``Conv3DBackpropInputV2``), so the backend contract and the passes (3-D pools, dilated transposed convs) treat them
alike; channels_first runs channels_last between two transposes, as Keras's TensorFlow backend runs its pools.
A kernel is a tensor argument: a Keras tensor, or a constant the file holds (Keras 3's ``__numpy__``/``__tensor__``,
tf_keras's nested lists). What TensorFlow raises on (strides with dilation in a convolution, NCHW pools on the cpu,
averages of integers) stays a gap naming the argument.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .conv import conv2d, out_size, positive_ints
from .dynamic_pool_3d import split_pool_3d
from .attention import FUSED_LARGE_NEGATIVE, _fused_fill, batch_matmul
from .op_layers import OpCall, OpSpec, register_op_layers
from .pooling import integer_max_pool

CHANNELS_FIRST, CHANNELS_LAST = "channels_first", "channels_last"


# -- shared helpers ---------------------------------------------------------------------------------------------
def _sizes(c: OpCall, name: str, n: int, default: Any = 1) -> list[int]:
    """A Keras 3 size option (one int or ``n`` of them) as ``n`` positive ints; anything else is a gap."""
    value = c.value(name, default)
    try:
        return positive_ints(value, n)
    except ValueError:
        raise c.gap(f"{name}={value!r} for {n} spatial dimension(s)") from None


def _padding(c: OpCall, name: str = "padding", default: str = "valid") -> str:
    """``"valid"`` or ``"same"`` (Keras 3 records it lowercased, tf_keras in capitals); anything else is a gap."""
    value = c.value(name, default)
    if not isinstance(value, str) or value.lower() not in ("valid", "same"):
        raise c.gap(f"{name}={value!r}")
    return value.lower()


def _channels_first(c: OpCall) -> bool:
    """Keras 3's ``data_format`` (None: the default, channels_last)."""
    value = c.value("data_format", None)
    if value not in (None, CHANNELS_LAST, CHANNELS_FIRST):
        raise c.gap(f"data_format={value!r}")
    return value == CHANNELS_FIRST


def _to_last(c: OpCall, x: Value, first: bool, label: str = "to_channels_last") -> Value:
    """``N C …`` → ``N … C`` (channels_first input), else ``x``."""
    rank = len(c.ctx.shape(x))
    return c.ctx.transpose(x, [0, *range(2, rank), 1], label) if first else x


def _to_first(c: OpCall, y: Value, first: bool) -> Value:
    """``N … C`` → ``N C …`` (back to channels_first), else ``y``."""
    rank = len(c.ctx.shape(y))
    return c.ctx.transpose(y, [0, rank - 1, *range(1, rank - 1)], "to_channels_first") if first else y


def _float_input(c: OpCall, name: str) -> Value:
    """A float32 tensor argument; integers are a gap (TensorFlow's convolutions and average pools take floats)."""
    x = c.tensor(name)
    if x.dtype != DType.FLOAT32 or _keras_integer(c, x):
        raise c.gap(f"{name} of integers (TensorFlow's op takes floats only)")
    return x


def _keras_integer(c: OpCall, x: Value) -> bool:
    """Whether Keras gives ``x`` an integer dtype that the walk holds as float32 (8/16-bit integers)."""
    return x.dtype == DType.FLOAT32 and any(v is x and d is not None for v, d in zip(c.ctx.inputs,
                                                                                     c.ctx.keras_dtypes))


def _kernel(c: OpCall, name: str, rank: int) -> Value:
    """A float32 kernel of ``rank`` and a shape known in the config: a Keras tensor, Keras 3's saved ``__numpy__`` /
    ``__tensor__`` constant or tf_keras's nested list."""
    kernel = c.tensor(name)
    shape = c.ctx.shape(kernel)
    if kernel.dtype != DType.FLOAT32 or None in shape or len(shape) != rank:
        raise c.gap(f"{name} of dtype {kernel.dtype.value} and shape {list(shape)} (a float32 kernel of rank {rank} "
                    "and a known shape is lowered)")
    return kernel


def _spatial(c: OpCall, x: Value, allowed: tuple[int, ...]) -> int:
    """The number of spatial axes of ``x`` (its rank less batch and channels), one of ``allowed``."""
    n = len(c.ctx.shape(x)) - 2
    if n not in allowed:
        raise c.gap(f"a rank-{n + 2} input (lowered for {', '.join(str(a + 2) for a in allowed)})")
    return n


# -- pooling ----------------------------------------------------------------------------------------------------
def _pooled_input(c: OpCall, name: str) -> Value:
    """A pool's input; 8/16-bit integers (float32 here, their Keras dtype carried beside) are a gap."""
    x = c.tensor(name)
    if _keras_integer(c, x):
        raise c.gap("a pool of 8/16-bit integers (lowered for float32, and int32 max pools)")
    return x


def _pool(c: OpCall, x: Value, op: str, kernel: list[int], strides: list[int], padding: str) -> Value:
    """``op`` (``MaxPool``/``AvgPool``) of channels_last ``x`` over its 1, 2 or 3 spatial axes, as Keras's layers
    lower it (:mod:`.pooling`): 1-D as 2-D over a height of 1; int32 max pools exact (:func:`integer_max_pool`)."""
    ctx = c.ctx
    n = len(ctx.shape(x)) - 2
    if x.dtype != DType.FLOAT32:
        if op == "AvgPool":
            raise c.gap("an average pool of integers (TensorFlow's AvgPool takes floats only)")
        if x.dtype != DType.INT32 or n == 3:
            raise c.gap(f"a max pool of {'3-D ' if n == 3 else ''}integers (lowered for int32 over 1 or 2 axes)")
    if n == 3:
        return _pool3d(c, x, op, kernel, strides, padding)
    if n == 1:
        x, kernel, strides = ctx.expand_dims(x, 1, "as_2d"), [1, *kernel], [1, *strides]
    if x.dtype == DType.INT32:
        y = integer_max_pool(ctx, x, kernel, strides, padding)
    else:
        _, h, w, channels = ctx.shape(x)
        out = (None, out_size(h, kernel[0], strides[0], 1, padding), out_size(w, kernel[1], strides[1], 1, padding),
               channels)
        y = ctx.op(op, [x], {"ksize": [1, *kernel, 1], "strides": [1, *strides, 1], "padding": padding.upper(),
                             "data_format": "NHWC"}, shape=out)
    return ctx.squeeze(y, 1, "as_1d") if n == 1 else y


def _pool3d(c: OpCall, x: Value, op: str, kernel: list[int], strides: list[int], padding: str) -> Value:
    """``MaxPool3D``/``AvgPool3D`` as :func:`.pooling.pool3d` emits them (split over unknown sizes)."""
    ctx = c.ctx
    shape = ctx.shape(x)
    out = (None, *(out_size(s, k, st, 1, padding) for s, k, st in zip(shape[1:4], kernel, strides)), shape[-1])
    if None in shape[1:4] and shape[-1] is not None:
        inputs, ctx.inputs = ctx.inputs, [x]  # split_pool_3d pools ``ctx.x``
        try:
            return split_pool_3d(ctx, op, kernel, strides, padding, out)
        finally:
            ctx.inputs = inputs
    return ctx.op(f"{op}3D", [x], {"ksize": [1, *kernel, 1], "strides": [1, *strides, 1], "padding": padding.upper(),
                                   "data_format": "NDHWC"}, shape=out)


def _k3_pool(op: str):
    """Keras 3's ``max_pool``/``average_pool``: ``pool_size``, ``strides`` (None: the pool size), ``padding``,
    ``data_format`` (channels_first through channels_last, as Keras's TensorFlow backend runs it)."""
    def lower(c: OpCall) -> Value:
        x = _pooled_input(c, "inputs")
        n = _spatial(c, x, (1, 2, 3))
        kernel = _sizes(c, "pool_size", n, None)
        strides = _sizes(c, "strides", n, None) if c.has("strides") else kernel
        first = _channels_first(c)
        y = _pool(c, _to_last(c, x, first), op, kernel, strides, _padding(c))
        return _to_first(c, y, first)
    return lower


def _tf_window(c: OpCall, name: str, n: int, default: Any = None) -> list[int]:
    """A ``tf.nn`` window option (``ksize``/``strides``/``dilations``: one int, 1, ``n`` or ``n + 2`` of them) as
    ``n`` spatial sizes; batch and channel entries other than 1 are a gap (TensorFlow pools over them, or raises)."""
    value = c.value(name, default)
    if value is None:
        value = 1
    items = value if isinstance(value, list) else [value]
    if len(items) == n + 2:
        if items[0] != 1 or items[-1] != 1:
            raise c.gap(f"{name}={value!r} (batch or channel entries other than 1)")
        items = items[1:-1]
    elif len(items) == 1:
        items = items * n
    try:
        return positive_ints(items, n)
    except ValueError:
        raise c.gap(f"{name}={value!r} for {n} spatial dimension(s)") from None


_TF_FORMATS = {1: ("NWC",), 2: ("NHWC",), 3: ("NDHWC",)}


def _tf_channels_last(c: OpCall, n: int, key: str = "data_format") -> None:
    """``tf.nn``'s ``data_format``: channels_last only (TensorFlow's cpu kernels raise on NCHW pools and convs)."""
    value = c.value(key, None)
    if value is not None and value not in _TF_FORMATS[n]:
        raise c.gap(f"{key}={value!r} (TensorFlow's cpu kernels run {_TF_FORMATS[n][0]} only)")


def _tf_pool(op: str | None, n: int | None = None):
    """``tf.nn.{max,avg}_pool{,1d,2d,3d}`` (``n`` None: from the input's rank) and ``tf.nn.pool`` (``op`` None:
    its ``pooling_type``, without dilation)."""
    def lower(c: OpCall) -> Value:
        x = _pooled_input(c, "x")
        rank_n = _spatial(c, x, (1, 2, 3) if n is None else (n,))
        kind = op
        if kind is None:
            kind = {"MAX": "MaxPool", "AVG": "AvgPool"}.get(c.value("pooling_type"))  # TF takes these only
            if kind is None:
                raise c.gap(f"pooling_type={c.value('pooling_type')!r}")
            for key in ("dilation_rate", "dilations"):
                if _tf_window(c, key, rank_n) != [1] * rank_n:
                    raise c.gap(f"{key}={c.value(key)!r}")
        window_key = "ksize" if "ksize" in c.arguments else "window_shape"
        kernel = _tf_window(c, window_key, rank_n)
        strides = _tf_window(c, "strides", rank_n, None if window_key == "ksize" else 1)
        _tf_channels_last(c, rank_n)
        return _pool(c, x, kind, kernel, strides, _padding(c, default="VALID"))
    return lower


# -- convolutions -----------------------------------------------------------------------------------------------
def _convolve(c: OpCall, x: Value, kernel: Value, strides: list[int], dilations: list[int], padding: str) -> Value:
    """A dense convolution of channels_last ``x`` over 1, 2 or 3 spatial axes: ``Conv2D`` (1-D over a height of
    1, as :mod:`.conv` runs Conv1D) or ``Conv3D``."""
    ctx = c.ctx
    n = len(ctx.shape(x)) - 2
    _no_strides_with_dilation(c, strides, dilations)
    channels = ctx.shape(x)[-1]
    if channels is not None and ctx.shape(kernel)[-2] != channels:
        raise c.gap(f"a kernel for {ctx.shape(kernel)[-2]} input channels on {channels} (Keras 3 raises)")
    if n == 3:
        out = (None, *(out_size(s, k, st, d, padding) for s, k, st, d in
                       zip(ctx.shape(x)[1:4], ctx.shape(kernel)[:3], strides, dilations)), ctx.shape(kernel)[-1])
        return ctx.op("Conv3D", [x, kernel], {"strides": [1, *strides, 1], "dilations": [1, *dilations, 1],
                                              "padding": padding.upper(), "data_format": "NDHWC"}, shape=out)
    if n == 1:
        x, kernel = ctx.expand_dims(x, 1, "as_2d"), ctx.expand_dims(kernel, 0, "kernel_2d")
        strides, dilations = [1, *strides], [1, *dilations]
    y = conv2d(ctx, x, kernel, ctx.shape(kernel), strides, dilations, padding)
    return ctx.squeeze(y, 1, "as_1d") if n == 1 else y


def _no_strides_with_dilation(c: OpCall, strides: list[int], dilations: list[int]) -> None:
    if any(s > 1 for s in strides) and any(d > 1 for d in dilations):
        raise c.gap(f"strides {strides} together with dilation {dilations} (TensorFlow's convolution raises)")


def _depthwise(c: OpCall, x: Value, kernel: Value, strides: list[int], dilations: list[int], padding: str,
               pointwise: Value | None = None) -> Value:
    """A depthwise (then, with ``pointwise``, a 1×1) convolution of channels_last ``x`` over 1 or 2 spatial axes.
    Strides together with dilation run as Keras 3's TensorFlow backend runs them: "same" padding made explicit, the
    dilated convolution at stride 1, then every stride-th position."""
    ctx = c.ctx
    n = len(ctx.shape(x)) - 2
    channels = ctx.shape(x)[-1]
    if channels is not None and ctx.shape(kernel)[-2] != channels:
        raise c.gap(f"a depthwise kernel for {ctx.shape(kernel)[-2]} input channels on {channels} (Keras 3 raises)")
    if pointwise is not None and (any(d != 1 for d in ctx.shape(pointwise)[:-2]) or
                                  ctx.shape(pointwise)[-2] != ctx.shape(kernel)[-2] * ctx.shape(kernel)[-1]):
        raise c.gap(f"a pointwise kernel of shape {list(ctx.shape(pointwise))} after a depthwise one of shape "
                    f"{list(ctx.shape(kernel))} (TensorFlow raises)")
    if n == 1:
        x, kernel = ctx.expand_dims(x, 1, "as_2d"), ctx.expand_dims(kernel, 0, "kernel_2d")
        strides, dilations = [1, *strides], [1, *dilations]
        if pointwise is not None:
            pointwise = ctx.expand_dims(pointwise, 0, "pointwise_2d")
    decomposed = any(s > 1 for s in strides) and any(d > 1 for d in dilations)
    if decomposed:
        x = _same_padded(c, x, ctx.shape(kernel)[:2], strides, dilations) if padding == "same" else x
        y = conv2d(ctx, x, kernel, ctx.shape(kernel), [1, 1], dilations, "valid", depthwise=True,
                   label="DepthwiseConv2dNative")
        y = _subsampled(c, y, strides)
    else:
        y = conv2d(ctx, x, kernel, ctx.shape(kernel), strides, dilations, padding, depthwise=True,
                   label="DepthwiseConv2dNative")
    if pointwise is not None:
        y = conv2d(ctx, y, pointwise, ctx.shape(pointwise), [1, 1], [1, 1], "valid", label="pointwise")
    return ctx.squeeze(y, 1, "as_1d") if n == 1 else y


def _same_padded(c: OpCall, x: Value, kernel: tuple, strides: list[int], dilations: list[int]) -> Value:
    """``x`` padded as TensorFlow pads "same" (the extra row after), over spatial sizes known in the config."""
    shape = c.ctx.shape(x)
    if None in shape[1:3]:
        raise c.gap("strides together with dilation and padding 'same' over sizes unknown in the config")
    pads = [[0, 0]]
    for n, k, s, d in zip(shape[1:3], kernel, strides, dilations):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append([total // 2, total - total // 2])
    pads.append([0, 0])
    out = tuple(None if v is None else v + a + b for v, (a, b) in zip(shape, pads))
    return c.ctx.op("Pad", [x, c.ctx.ints(pads, "same_pads")], {"Tpaddings": DType.INT32}, shape=out,
                    label="same_pad")


def _subsampled(c: OpCall, y: Value, strides: list[int]) -> Value:
    """``y[:, ::s0, ::s1, :]`` (a float32 StridedSlice)."""
    shape = c.ctx.shape(y)
    out = (shape[0], *(None if v is None else -(-v // s) for v, s in zip(shape[1:3], strides)), shape[3])
    return c.ctx.op("StridedSlice", [y, c.ctx.ints([0, 0, 0, 0], "sub_begin"), c.ctx.ints([0, 0, 0, 0], "sub_end"),
                                     c.ctx.ints([1, *strides, 1], "sub_strides")],
                    {"Index": DType.INT32, "begin_mask": 15, "end_mask": 15, "ellipsis_mask": 0, "new_axis_mask": 0,
                     "shrink_axis_mask": 0}, shape=out, label="subsampled")


def _k3_conv(kind: str):
    """Keras 3's ``conv`` / ``depthwise_conv`` / ``separable_conv``: ``strides``, ``padding``, ``dilation_rate``,
    ``data_format``; the kernels are tensor arguments."""
    def lower(c: OpCall) -> Value:
        x = _float_input(c, "inputs")
        n = _spatial(c, x, (1, 2, 3) if kind == "conv" else (1, 2))
        strides, dilations, padding = _sizes(c, "strides", n), _sizes(c, "dilation_rate", n), _padding(c)
        first = _channels_first(c)
        x = _to_last(c, x, first)
        if kind == "conv":
            y = _convolve(c, x, _kernel(c, "kernel", n + 2), strides, dilations, padding)
        elif kind == "depthwise":
            y = _depthwise(c, x, _kernel(c, "kernel", n + 2), strides, dilations, padding)
        else:
            y = _depthwise(c, x, _kernel(c, "depthwise_kernel", n + 2), strides, dilations, padding,
                           _kernel(c, "pointwise_kernel", n + 2))
        return _to_first(c, y, first)
    return lower


def _tf_conv(kind: str, n: int | None):
    """``tf.nn.conv1d/conv2d/convolution`` (``kind`` "conv") and ``depthwise_conv2d``/``separable_conv2d``
    (their ``rate`` or ``dilations``), NHWC, with TensorFlow's own rule: strides with dilation raise."""
    def lower(c: OpCall) -> Value:
        x = _float_input(c, "x")
        rank_n = _spatial(c, x, (1, 2, 3) if n is None else (n,))
        _tf_channels_last(c, rank_n)
        strides = _tf_window(c, "stride" if "stride" in c.arguments else "strides", rank_n)
        dilations = _tf_window(c, "dilations", rank_n)
        for key in ("rate", "dilation_rate"):  # TF 1's names for the dilations
            if c.has(key):
                if dilations != [1] * rank_n:
                    raise c.gap(f"both {key} and dilations")
                dilations = _tf_window(c, key, rank_n)
        padding = _padding(c, default="VALID") if kind != "conv" or not isinstance(c.value("padding", None), list) \
            else "valid"
        _no_strides_with_dilation(c, strides, dilations)
        if kind == "conv":
            x = _explicitly_padded(c, x, rank_n)
            key = "filters" if c.has("filters") else "filter"
            return _convolve(c, x, _kernel(c, key, rank_n + 2), strides, dilations, padding)
        if kind == "depthwise":
            return _depthwise(c, x, _kernel(c, "filter", 4), strides, dilations, padding)
        return _depthwise(c, x, _kernel(c, "depthwise_filter", 4), strides, dilations, padding,
                          _kernel(c, "pointwise_filter", 4))
    return lower


def _explicitly_padded(c: OpCall, x: Value, n: int) -> Value:
    """``x`` zero-padded as an explicit ``padding=[[0, 0], [top, bottom], [left, right], [0, 0]]`` asks (TensorFlow's
    convolution then runs unpadded: the same sums), else ``x`` itself."""
    value = c.value("padding", None)
    if not isinstance(value, list):
        return x
    if len(value) != n + 2 or not all(isinstance(p, list) and len(p) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**31 for v in p) for p in value) or \
            value[0] != [0, 0] or value[-1] != [0, 0]:
        raise c.gap(f"padding={value!r} (explicit paddings of the spatial axes only are lowered)")
    if all(p == [0, 0] for p in value):
        return x
    out = tuple(None if d is None else d + a + b for d, (a, b) in zip(c.ctx.shape(x), value))
    return c.ctx.op("Pad", [x, c.ctx.ints(value, "explicit_paddings")], {"Tpaddings": DType.INT32}, shape=out,
                    label="explicit_pad")


def _tf_conv_transpose(n: int, atrous: bool = False):
    """``tf.nn.conv{1,2,3}d_transpose`` with a constant ``output_shape``: ``Conv2DBackpropInput`` (1-D over a height
    of 1; dilated ones undone by the ``dilated_transposed_conv`` pass) or ``Conv3DBackpropInputV2`` (which the
    ``conv3d_transpose`` pass rewrites), the output shape checked as TensorFlow checks it (it raises otherwise).
    ``atrous``: ``tf.nn.atrous_conv2d_transpose(value, filters, output_shape, rate, padding)``, the transpose of the
    convolution dilated by ``rate`` (TensorFlow's space_to_batch form computes the same sums) at stride 1."""
    def lower(c: OpCall) -> Value:
        ctx = c.ctx
        x = _float_input(c, "x")
        _spatial(c, x, (n,))
        _tf_channels_last(c, n)
        kernel = _kernel(c, "filters", n + 2)
        if atrous:
            rate = c.value("rate")
            if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate < 2**16:
                raise c.gap(f"rate={rate!r}")
            strides, dilations, padding = [1] * n, [rate] * n, _padding(c, default=None)
        else:
            strides, dilations = _tf_window(c, "strides", n), _tf_window(c, "dilations", n)
            padding = _padding(c, default="SAME")
        _no_strides_with_dilation(c, strides, dilations)
        sizes, shape, kshape = c.value("output_shape"), ctx.shape(x), ctx.shape(kernel)
        if not (isinstance(sizes, list) and len(sizes) == n + 2 and
                all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes)):
            raise c.gap(f"output_shape={sizes!r} (a constant list of {n + 2} sizes is lowered)")
        if any(size is None or out_size(given, k, s, d, padding) != size for size, given, k, s, d in
               zip(shape[1:-1], sizes[1:-1], kshape[:n], strides, dilations)) or \
                shape[-1] != kshape[-1] or sizes[-1] != kshape[-2]:
            raise c.gap(f"output_shape={sizes} for an input of shape {list(shape)} and a kernel of shape "
                        f"{list(kshape)} (TensorFlow raises)")
        attrs = {"T": DType.FLOAT32, "strides": [1, *strides, 1], "dilations": [1, *dilations, 1],
                 "padding": padding.upper()}
        if n == 3:
            return ctx.op("Conv3DBackpropInputV2", [ctx.ints(sizes, "output_shape"), kernel, x],
                          {**attrs, "data_format": "NDHWC", "Tshape": DType.INT32}, dtype=DType.FLOAT32,
                          shape=tuple(sizes))
        attrs.update(data_format="NHWC", explicit_paddings=[], use_cudnn_on_gpu=True)
        if n == 1:
            x, kernel = ctx.expand_dims(x, 1, "as_2d"), ctx.expand_dims(kernel, 0, "kernel_2d")
            sizes = [sizes[0], 1, *sizes[1:]]
            attrs.update(strides=[1, 1, *strides, 1], dilations=[1, 1, *dilations, 1])
        y = ctx.op("Conv2DBackpropInput", [ctx.ints(sizes, "output_shape"), kernel, x], attrs, dtype=DType.FLOAT32,
                   shape=tuple(sizes))
        return ctx.squeeze(y, 1, "as_1d") if n == 1 else y
    return lower


# -- rearranging ------------------------------------------------------------------------------------------------
def _moved_input(c: OpCall, first: bool) -> Value:
    """The rank-4 input of a rearranging op, channels_last; 8/16-bit integers (held as float32, their Keras dtype
    carried beside) are a gap."""
    x = c.tensor("x")
    _spatial(c, x, (2,))
    if _keras_integer(c, x):
        raise c.gap("8/16-bit integers (lowered for float32, int32 and bool)")
    return _to_last(c, x, first)


def _block(c: OpCall, divides: tuple[int | None, ...]) -> int:
    """``block_size``: an int of at least 2 that divides each of ``divides`` (None: unknown, a gap where TensorFlow
    checks it at run time)."""
    block = c.value("block_size")
    if isinstance(block, bool) or not isinstance(block, int) or block < 2 or \
            any(d is None or d % block for d in divides):
        raise c.gap(f"block_size={block!r} for sizes {list(divides)}")
    return block


def _k3_depth_to_space(c: OpCall) -> Value:
    """Keras 3's ``depth_to_space``: ``block_size``; channels_first through NHWC, as its TensorFlow backend runs it;
    of int32/bool values (TF.js's DepthToSpace is float32 only) the channels moved by Reshape/Transpose."""
    first = _channels_first(c)
    x = _moved_input(c, first)
    _, h, w, channels = c.ctx.shape(x)
    block = _block(c, ())
    if channels is None or channels % (block * block):
        raise c.gap(f"block_size={block} for {channels} channels")
    out = (None, *(None if d is None else d * block for d in (h, w)), channels // (block * block))
    if x.dtype == DType.FLOAT32:
        y = c.ctx.op("DepthToSpace", [x], {"block_size": block, "data_format": "NHWC"}, shape=out)
    else:  # TF.js's DepthToSpace throws on int32
        if None in (h, w):
            raise c.gap(f"{x.dtype.value} values over sizes unknown in the config")
        tiles = c.ctx.reshape(x, (None, h, w, block, block, out[3]), "tiles")
        spread = c.ctx.transpose(tiles, [0, 1, 3, 2, 4, 5], "tiles_spread")
        y = c.ctx.reshape(spread, out, "DepthToSpace")
    return _to_first(c, y, first)


def _space_to_depth(c: OpCall, first: bool) -> Value:
    """``space_to_depth`` (TF.js has no such op): each ``block × block`` tile's values, row by row, become channels:
    ``[N, H/b, b, W/b, b, C]`` → ``[N, H/b, W/b, b, b, C]`` → ``[N, H/b, W/b, b·b·C]``, for sizes known in the
    config (TensorFlow raises on sizes the block does not divide)."""
    x = _moved_input(c, first)
    ctx = c.ctx
    _, h, w, channels = ctx.shape(x)
    block = _block(c, (h, w))
    if channels is None:
        raise c.gap("channels unknown in the config")
    tiles = ctx.reshape(x, (None, h // block, block, w // block, block, channels), "tiles")
    moved = ctx.transpose(tiles, [0, 1, 3, 2, 4, 5], "tiles_together")
    y = ctx.reshape(moved, (None, h // block, w // block, block * block * channels), "SpaceToDepth")
    return _to_first(c, y, first)


def _tf_space_to_depth(c: OpCall) -> Value:
    """``tf.nn.space_to_depth``: NHWC (TensorFlow's cpu kernel raises on NCHW)."""
    _tf_channels_last(c, 2)
    return _space_to_depth(c, False)


def _k3_extract_patches(c: OpCall) -> Value:
    """Keras 3's ``image.extract_patches``: its convolution with an identity kernel (``size``, ``strides``,
    ``dilation_rate``, ``padding``, ``data_format``), of a batch of 2-D images or 3-D volumes."""
    x = _float_input(c, "images")
    size = c.value("size")
    n = len(size) if isinstance(size, list) else 2
    if n not in (2, 3) or len(c.ctx.shape(x)) != n + 2:
        raise c.gap(f"size={size!r} on a rank-{len(c.ctx.shape(x))} input (batched images or volumes are lowered)")
    sizes = _sizes(c, "size", n)
    strides = _sizes(c, "strides", n) if c.value("strides", None) else sizes
    dilations, padding, first = _sizes(c, "dilation_rate", n), _padding(c), _channels_first(c)
    x = _to_last(c, x, first)
    channels = c.ctx.shape(x)[-1]
    if channels is None:
        raise c.gap("channels unknown in the config")
    depth = int(np.prod(sizes)) * channels
    kernel = c.ctx.const(np.eye(depth, dtype=np.float32).reshape(*sizes, channels, depth), "identity_kernel")
    return _to_first(c, _convolve(c, x, kernel, strides, dilations, padding), first)


# -- attention --------------------------------------------------------------------------------------------------
def _k3_dot_product_attention(c: OpCall) -> Value:
    """Keras 3's ``dot_product_attention`` as its TensorFlow backend computes it: logits ``q·kᵀ`` (BatchMatMulV2 over
    ``[batch, heads]``) times ``scale`` (default ``1/√head_dim``), plus ``bias``, masked (``mask``, ``is_causal``) to
    ``-0.7 · 3.38953e38`` (0 in rows masked whole, uniform either way: :func:`.attention._fused_fill`), a softmax over the keys, times the values. Key/value heads fewer than the query's are
    repeated (grouped-query attention)."""
    for key in ("flash_attention", "attn_logits_soft_cap"):
        if c.value(key, None) not in (None, False):
            raise c.gap(f"{key}={c.value(key)!r} (Keras's TensorFlow backend raises)")
    ctx = c.ctx
    q, k, v = (_float_input(c, name) for name in ("query", "key", "value"))
    if any(len(ctx.shape(y)) != 4 for y in (q, k, v)):  # Keras raises
        raise c.gap(f"query, key and value of ranks {[len(ctx.shape(y)) for y in (q, k, v)]} (4 is lowered)")
    (_, t, heads, depth), (_, s, kv_heads, _) = ctx.shape(q), ctx.shape(k)
    if None in (heads, kv_heads, depth) or heads % kv_heads or (kv_heads == 1 and heads > 1) or \
            ctx.shape(k)[3] != depth or ctx.shape(v)[2] != kv_heads:
        raise c.gap(f"query of shape {list(ctx.shape(q))}, key {list(ctx.shape(k))}, value {list(ctx.shape(v))}")
    if heads != kv_heads:
        k, v = (_repeat_heads(c, y, heads // kv_heads, label) for y, label in ((k, "key"), (v, "value")))
    logits = batch_matmul(ctx, ctx.transpose(q, [0, 2, 1, 3], "q_heads"), ctx.transpose(k, [0, 2, 3, 1], "k_heads"),
                          (None, heads, t, s), label="logits")
    scale = c.value("scale", None)
    if scale is None:
        scale = np.float32(1.0) / np.sqrt(np.float32(depth))
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating)):
        raise c.gap(f"scale={scale!r}")
    logits = ctx.scalar_op("Mul", logits, float(np.float32(scale)), "scaled")
    if c.has("bias"):
        logits = ctx.binary("AddV2", logits, c.tensor("bias", like=logits), label="biased")
    logits = _masked(c, logits, t, s)
    probs = ctx.unary("Softmax", logits, label="probs")
    out = batch_matmul(ctx, probs, ctx.transpose(v, [0, 2, 1, 3], "v_heads"), (None, heads, t, depth),
                       label="attended")
    return ctx.transpose(out, [0, 2, 1, 3], "to_BTNH")


def _repeat_heads(c: OpCall, y: Value, groups: int, label: str) -> Value:
    """``tf.repeat(y, groups, axis=2)``: each head ``groups`` times in a row (a Tile over a new axis, reshaped)."""
    ctx = c.ctx
    b, s, heads, depth = ctx.shape(y)
    tiled = ctx.op("Tile", [ctx.expand_dims(y, 3, f"{label}_group_axis"), ctx.ints([1, 1, 1, groups, 1],
                                                                                      f"{label}_groups")],
                   {"Tmultiples": DType.INT32}, shape=(b, s, heads, groups, depth), label=f"{label}_tiled")
    if s is None:
        return ctx.op("Reshape", [tiled, ctx.ints([-1, 0, heads * groups, depth], f"{label}_repeated_shape")],
                      {"Tshape": DType.INT32}, shape=(b, s, heads * groups, depth), label=f"{label}_repeated")
    return ctx.reshape(tiled, (None, s, heads * groups, depth), f"{label}_repeated")


def _masked(c: OpCall, logits: Value, t: int | None, s: int | None) -> Value:
    """``logits`` where the mask (and the causal band, a key no later than the query) holds, the large negative
    elsewhere."""
    ctx = c.ctx
    keep = None
    if c.has("mask"):
        keep = c.tensor("mask")
        if keep.dtype != DType.BOOL:
            raise c.gap(f"mask of dtype {keep.dtype.value} (tf.logical_and takes bools)")
    causal = c.value("is_causal", False)
    if not isinstance(causal, bool):
        raise c.gap(f"is_causal={causal!r}")
    if causal:
        if t is None or s is None:
            raise c.gap("is_causal over sequence lengths unknown in the config")
        band = ctx.const(np.tril(np.ones((t, s), bool)), "causal_band")
        keep = band if keep is None else ctx.op("LogicalAnd", [keep, band], dtype=DType.BOOL,
                                                shape=_broadcast_shape(keep.shape, (t, s)), label="mask_and_causal")
    if keep is None:
        return logits
    fill = _fused_fill(ctx, keep, ctx.floats(FUSED_LARGE_NEGATIVE, "large_negative"))
    return ctx.op("SelectV2", [keep, logits, fill], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=logits.shape,
                  label="masked")


def _broadcast_shape(a: Any, b: Any) -> tuple | None:
    if a is None or b is None:
        return None
    a, b = tuple(a), tuple(b)
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    return tuple(y if x == 1 else x if y == 1 else (x if x is not None else y) for x, y in zip(a, b))


_K3_CONV_OPTIONS = ("strides", "padding", "data_format", "dilation_rate")
_POOL_OPTIONS = ("pool_size", "strides", "padding", "data_format")
_TF_POOL = ("x", "ksize", "strides", "padding", "data_format", "name", "input")
register_op_layers(
    keras_ops={
        ("AveragePool",): OpSpec(("inputs",), _k3_pool("AvgPool"), _POOL_OPTIONS),
        ("MaxPool",): OpSpec(("inputs",), _k3_pool("MaxPool"), _POOL_OPTIONS),
        ("Conv",): OpSpec(("inputs", "kernel"), _k3_conv("conv"), _K3_CONV_OPTIONS),
        ("DepthwiseConv",): OpSpec(("inputs", "kernel"), _k3_conv("depthwise"), _K3_CONV_OPTIONS),
        ("SeparableConv",): OpSpec(("inputs", "depthwise_kernel", "pointwise_kernel"), _k3_conv("separable"),
                                   _K3_CONV_OPTIONS),
        ("DepthToSpace",): OpSpec(("x",), _k3_depth_to_space, ("block_size", "data_format")),
        ("SpaceToDepth",): OpSpec(("x",), lambda c: _space_to_depth(c, _channels_first(c)),
                                  ("block_size", "data_format")),
        ("ExtractPatches",): OpSpec(("images",), _k3_extract_patches,
                                    ("size", "strides", "dilation_rate", "padding", "data_format")),
        ("DotProductAttention",): OpSpec(("query", "key", "value", "bias", "mask", "scale"), _k3_dot_product_attention,
                                         ("is_causal", "flash_attention", "attn_logits_soft_cap")),
    },
    tf_functions={
        ("nn.avg_pool2d",): OpSpec(_TF_POOL, _tf_pool("AvgPool", 2)),
        ("nn.max_pool2d",): OpSpec(_TF_POOL, _tf_pool("MaxPool", 2)),
        ("nn.avg_pool1d",): OpSpec(_TF_POOL, _tf_pool("AvgPool", 1)),
        ("nn.max_pool1d",): OpSpec(_TF_POOL, _tf_pool("MaxPool", 1)),
        ("nn.avg_pool3d",): OpSpec(_TF_POOL, _tf_pool("AvgPool", 3)),
        ("nn.max_pool3d",): OpSpec(_TF_POOL, _tf_pool("MaxPool", 3)),
        ("nn.avg_pool",): OpSpec(_TF_POOL, _tf_pool("AvgPool")),
        ("nn.max_pool",): OpSpec(_TF_POOL, _tf_pool("MaxPool")),
        ("compat.v1.nn.pool",): OpSpec(("x", "window_shape", "pooling_type", "padding", "dilation_rate",
                                                  "strides", "name", "data_format", "dilations"), _tf_pool(None)),
        ("compat.v1.nn.conv2d",): OpSpec(("x", "filter", "strides", "padding", "use_cudnn_on_gpu",
                                                      "data_format", "dilations", "name", "filters"),
                                                     _tf_conv("conv", 2)),
        ("compat.v1.nn.conv1d",): OpSpec(("x", "filters", "stride", "padding", "use_cudnn_on_gpu",
                                                      "data_format", "name", "input", "dilations"),
                                                     _tf_conv("conv", 1)),
        ("nn.convolution",): OpSpec(("x", "filters", "strides", "padding", "data_format", "dilations", "name"),
                                    _tf_conv("conv", None)),
        ("compat.v1.nn.depthwise_conv2d",): OpSpec(
            ("x", "filter", "strides", "padding", "rate", "name", "data_format", "dilations"),
            _tf_conv("depthwise", 2)),
        ("compat.v1.nn.separable_conv2d",): OpSpec(
            ("x", "depthwise_filter", "pointwise_filter", "strides", "padding", "rate", "name", "data_format",
             "dilations"), _tf_conv("separable", 2)),
        ("nn.space_to_depth",): OpSpec(("x", "block_size", "data_format", "name"), _tf_space_to_depth),
        ("nn.atrous_conv2d_transpose",): OpSpec(("x", "filters", "output_shape", "rate", "padding", "name"),
                                                _tf_conv_transpose(2, atrous=True)),
        **{(f"nn.conv{n}d_transpose",): OpSpec(("x", "filters", "output_shape", "strides", "padding", "data_format",
                                                "dilations", "name"), _tf_conv_transpose(n)) for n in (1, 2, 3)},
        ("compat.v1.nn.max_pool",): OpSpec(_TF_POOL, _tf_pool("MaxPool", 2)),
        ("compat.v1.nn.avg_pool",): OpSpec(_TF_POOL, _tf_pool("AvgPool", 2)),
        ("nn.conv3d",): OpSpec(("x", "filters", "strides", "padding", "data_format", "dilations", "name"),
                               _tf_conv("conv", 3)),
        ("compat.v1.nn.convolution",): OpSpec(("x", "filter", "padding", "strides", "dilation_rate", "name",
                                               "data_format", "filters", "dilations"), _tf_conv("conv", None)),
        ("compat.v1.nn.depthwise_conv2d_native",): OpSpec(("x", "filter", "strides", "padding", "data_format",
                                                           "dilations", "name"), _tf_conv("depthwise", 2)),
    })
