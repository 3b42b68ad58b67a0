"""Keras 3's ``STFTSpectrogram`` layer as Keras computes it: each channel convolved with the saved ``real_kernel`` /
``imag_kernel`` (frame, 1, bins) at ``frame_step`` (Keras's ``ops.conv``, valid or same), then per ``mode``: the
parts themselves, ``atan2(imag, real)``, both parts side by side (``stft``), the power ``re² + im²`` with its
inner bins doubled (``psd``), ``sqrt(max(power, ε))`` (``magnitude``) and ``log(max(that, ε))`` (``log``), with
ε = 1e-7, Keras's default ``backend.epsilon()`` (the file does not record it), then Keras's layout.

The window, ``periodic``, ``scaling`` and ``fft_length`` only choose the kernels' initial values, and the file
holds the kernels (trained ones too), so none of them is recomputed here: neither scipy nor TensorFlow is needed.
"""
from __future__ import annotations

import math
from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .conv import conv2d, out_size
from .dynamic_shape import reshape_to, runtime_sizes
from .float_widths import FLOAT32_COMPUTED_POLICIES
from .lazy import ReshapedArray
from .registry import Unsupported, lowers

I32, F32 = DType.INT32, DType.FLOAT32
MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
#: Keras's default ``backend.epsilon()``, the floor of ``magnitude`` and ``log``.
EPSILON = 1e-7


def _policy(config: dict[str, Any]) -> Any:
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    return dtype


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _stft_check(config: dict[str, Any]) -> str | None:
    """Options outside what the lowering computes: a dtype policy other than float32/float64/float16 (those are
    computed in float32, float16's ops each rounded: :mod:`.float_widths`), an unknown mode/padding/data_format, sizes
    that are not positive integers (Keras cannot build those)."""
    if _policy(config) not in (None, "float32", *FLOAT32_COMPUTED_POLICIES):
        return f"dtype={_policy(config)!r} (lowered for float32, float64 and float16)"
    for key, allowed in (("mode", MODES), ("padding", ("valid", "same")),
                         ("data_format", (None, "channels_last", "channels_first")), ("expand_dims", (False, True))):
        value = config.get(key, {"mode": "log", "padding": "valid", "expand_dims": False}.get(key))
        if not any(value is a or (isinstance(a, str) and value == a) for a in allowed):
            return f"{key}={value!r}"
    if not _positive_int(config.get("frame_length", 256)):
        return f"frame_length={config.get('frame_length')!r}"
    step = config.get("frame_step")
    if step is None and config.get("frame_length", 256) < 2:
        return "frame_step=None with frame_length=1 (a step of 0)"
    if step is not None and not _positive_int(step):
        return f"frame_step={step!r}"
    fft_length = config.get("fft_length")
    if fft_length is not None and not _positive_int(fft_length):
        return f"fft_length={fft_length!r}"
    fft_length = fft_length or 2 ** math.ceil(math.log2(config.get("frame_length", 256)))
    if config.get("mode", "log") == "psd" and fft_length < 2:
        return "mode='psd' with one frequency bin (Keras's run gives 2, its declared shape 1)"
    return None


def _kernels(ctx: LayerContext, mode: str, frame_length: int) -> dict[str, Any]:
    """The saved kernels the mode reads, by side, each checked to be ``(frame_length, 1, bins)``."""
    sides = [mode] if mode in ("real", "imag") else ["real", "imag"]  # Keras builds only the kernels it reads
    arrays = ctx.expect_weights(*(f"{side}_kernel" for side in sides))
    bins = arrays[0].shape[-1] if len(arrays[0].shape) == 3 else None
    for side, array in zip(sides, arrays):
        ctx.check_shape(array, [frame_length, 1, bins], f"{side}_kernel")
    return dict(zip(sides, arrays))


def _signal_rows(ctx: LayerContext, signal: Value) -> Value:
    """``(B, C, T)`` as NHWC ``(B·C, 1, T, 1)``: every channel a one-row image, as Keras folds channels into the batch."""
    _, _, steps = ctx.shape(signal)
    middle = [steps] if steps is not None else runtime_sizes(ctx, signal, 2, 3, "signal_steps")
    return reshape_to(ctx, signal, [[-1, 1], middle, [1]], (None, 1, steps, 1), "signal_rows")


def _framed(ctx: LayerContext, rows: Value, signal: Value, kernel: Any, side: str, step: int, padding: str) -> Value:
    """One side's conv over the rows, back to ``(B, C, frames, bins)``."""
    frame_length, _, bins = kernel.shape
    steps = ctx.shape(rows)[2]
    frames = out_size(steps, frame_length, step, 1, padding)
    filt = ctx.weight(ReshapedArray(kernel, (1, frame_length, 1, bins)), f"{side}_kernel")
    conv = conv2d(ctx, rows, filt, (1, frame_length, 1, bins), [1, step], [1, 1], padding, label=f"{side}_conv")
    batch, channels, _ = ctx.shape(signal)
    lead = [batch, channels] if batch is not None and channels is not None else \
        runtime_sizes(ctx, signal, 0, 2, f"{side}_lead")
    return reshape_to(ctx, conv, [lead, [-1 if frames is None else frames, bins]], (batch, channels, frames, bins),
                      f"{side}_frames")


def _last_axis(ctx: LayerContext, x: Value, begin: int, end: int, label: str) -> Value:
    """``x[..., begin:end]`` of a rank-4 value (Python's slice, empty when the axis is too short)."""
    shape = ctx.shape(x)
    size = None if shape[-1] is None else len(range(shape[-1])[begin:end])
    return ctx.op("StridedSlice", [x, ctx.ints([0, 0, 0, begin], f"{label}_begin"),
                                   ctx.ints([0, 0, 0, end], f"{label}_end"), ctx.ints([1, 1, 1, 1], f"{label}_strides")],
                  {"Index": I32, "begin_mask": 7, "end_mask": 7, "ellipsis_mask": 0, "new_axis_mask": 0,
                   "shrink_axis_mask": 0}, shape=(*shape[:-1], size), label=label)


def _psd(ctx: LayerContext, power: Value) -> Value:
    """Keras's ``power + pad(power[..., 1:-1], 1 each side)``: every bin but the first and last counted twice."""
    inner = _last_axis(ctx, power, 1, -1, "inner_bins")
    size = ctx.shape(inner)[-1]
    padded = ctx.op("Pad", [inner, ctx.ints([[0, 0], [0, 0], [0, 0], [1, 1]], "inner_paddings")], {"Tpaddings": I32},
                    shape=(*ctx.shape(inner)[:-1], None if size is None else size + 2), label="inner_padded")
    return ctx.binary("AddV2", power, padded, label="psd")


def _spectrum(ctx: LayerContext, mode: str, parts: dict[str, Value]) -> Value:
    """What ``mode`` makes of the (real, imag) frames, in Keras's order of float32 operations."""
    if mode in ("real", "imag"):
        return parts[mode]
    real, imag = parts["real"], parts["imag"]
    if mode == "angle":
        return ctx.binary("Atan2", imag, real, label="angle")
    if mode == "stft":
        shape = ctx.shape(real)
        return ctx.op("ConcatV2", [real, imag, ctx.ints(-1, "stft_axis")], {"N": 2, "Tidx": I32},
                      shape=(*shape[:-1], 2 * shape[-1]), label="stft")
    power = ctx.binary("AddV2", ctx.unary("Square", real, label="real_squared"),
                       ctx.unary("Square", imag, label="imag_squared"), label="power")
    if mode == "psd":
        return _psd(ctx, power)
    magnitude = ctx.unary("Sqrt", ctx.scalar_op("Maximum", power, EPSILON, "power_floor"), label="magnitude")
    if mode == "magnitude":
        return magnitude
    return ctx.unary("Log", ctx.scalar_op("Maximum", magnitude, EPSILON, "magnitude_floor"), label="log")


def _layout(ctx: LayerContext, y: Value, channels_first: bool, expand_dims: bool) -> Value:
    """``(B, C, frames, bins)`` in Keras's output layout: ``(B, frames, bins, C)`` / ``(B, C, frames, bins)``
    expanded, else the channels' bins side by side, channel-major: ``(B, frames, C·bins)`` / ``(B, C·bins, frames)``.
    The channels and bins are known (the lowering refuses unknown channels); batch and frames are read at run time
    when unknown."""
    if expand_dims:
        return y if channels_first else ctx.transpose(y, [0, 2, 3, 1], "time_bins_channels")
    moved = ctx.transpose(y, [0, 1, 3, 2] if channels_first else [0, 2, 1, 3], "channel_major")
    batch, channels, frames, bins = ctx.shape(y)
    joined = channels * bins
    if channels_first:  # (B, C, bins, frames) -> (B, C·bins, frames)
        tail = [[joined, frames]] if frames is not None else [[joined], runtime_sizes(ctx, moved, 3, 4, "frames")]
        return reshape_to(ctx, moved, [runtime_sizes(ctx, moved, 0, 1, "batch"), *tail], (batch, joined, frames),
                          "joined")
    # (B, frames, C, bins) -> (B, frames, C·bins)
    return reshape_to(ctx, moved, [runtime_sizes(ctx, moved, 0, 2, "lead"), [joined]], (batch, frames, joined),
                      "joined")


@lowers("STFTSpectrogram", check=_stft_check)
def stft_spectrogram(ctx: LayerContext) -> Value:
    config = ctx.config
    x = ctx.x
    shape = ctx.shape(x)
    if x.dtype != F32 or len(shape) != 3 or ctx.integer_dtype() is not None:
        raise Unsupported(f"layer {ctx.name!r} (STFTSpectrogram) on a {x.dtype.value} rank-{len(shape)} input")
    mode, padding = config.get("mode", "log"), config.get("padding", "valid")
    frame_length = int(config.get("frame_length", 256))
    step = int(config.get("frame_step") or frame_length // 2)
    channels_first = config.get("data_format") == "channels_first"
    kernels = _kernels(ctx, mode, frame_length)
    if (shape[1] if channels_first else shape[2]) is None:
        raise Unsupported(f"layer {ctx.name!r} (STFTSpectrogram) over an unknown number of channels")
    signal = x if channels_first else ctx.transpose(x, [0, 2, 1], "channels_first")
    rows = _signal_rows(ctx, signal)
    parts = {side: _framed(ctx, rows, signal, kernel, side, step, padding) for side, kernel in kernels.items()}
    return _layout(ctx, _spectrum(ctx, mode, parts), channels_first, bool(config.get("expand_dims", False)))
