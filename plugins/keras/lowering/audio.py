"""Keras 3's ``MelSpectrogram`` layer without complex tensors: the centred STFT as one windowed-DFT convolution
(:func:`.fourier.stft_pair`), ``sqrt(re² + im²) ** mag_exp``, the mel matrix product, and with ``power_to_db``
Keras's ``10·log10(max(x, min_power)) − 10·log10(max(|ref_power|, min_power))`` clipped at ``top_db`` below the
largest value of the whole batch (Keras takes ``max`` over every axis), then frequency before time.

The mel matrix is computed with Keras's float32 roundings (:func:`.fourier.mel_matrix`), so a log-mel's quiet bands
read the weights Keras reads.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .float_widths import HALF_POLICIES
from .fourier import check_length, matmul_last, mel_matrix, stft_pair
from .registry import Unsupported, lowers

I32, F32 = DType.INT32, DType.FLOAT32


def _policy(config: dict[str, Any]) -> str | None:
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    return dtype


def _number(config: dict[str, Any], key: str, default: float) -> float | None:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _mel_check(config: dict[str, Any]) -> str | None:
    """What the lowering does not cover: a policy other than float32/float16 (float16's computes in float32, the result
    rounded: :mod:`.float_widths`; Keras fails to run a float64 one), sizes past the DFT limit, a window other than
    hann/hamming/None/a list, options that are not finite numbers."""
    if _policy(config) not in (None, "float32", *HALF_POLICIES):
        return f"dtype={_policy(config)!r} (lowered for float32 and float16)"
    for key, default in (("fft_length", 2048), ("sequence_stride", 512), ("num_mel_bins", 128)):
        try:
            check_length(key, config.get(key, default))
        except ValueError as error:
            return str(error)
    length = config.get("sequence_length") or config.get("fft_length", 2048)
    try:
        check_length("sequence_length", length)
    except ValueError as error:
        return str(error)
    window = config.get("window", "hann")
    if not (window is None or window in ("hann", "hamming") or isinstance(window, list)):
        return f"window={window!r}"
    for key, default in (("sampling_rate", 16000), ("min_freq", 20.0), ("mag_exp", 2.0), ("min_power", 1e-10),
                         ("ref_power", 1.0)):
        if _number(config, key, default) is None:
            return f"{key}={config.get(key)!r}"
    if config.get("max_freq") is not None and _number(config, "max_freq", 0) is None:
        return f"max_freq={config.get('max_freq')!r}"
    if config.get("power_to_db", True) not in (True, False):
        return f"power_to_db={config.get('power_to_db')!r}"
    if config.get("power_to_db", True) and _number(config, "top_db", 80.0) is None:
        return f"top_db={config.get('top_db')!r} with power_to_db"
    return None


def _magnitude(ctx: LayerContext, real: Value, imag: Value, exponent: float) -> Value:
    """``sqrt(re² + im²) ** exponent``; ``re² + im²`` itself for 2 (Keras's sqrt then square, one rounding less)."""
    power = ctx.binary("AddV2", ctx.unary("Square", real, label="real_squared"),
                       ctx.unary("Square", imag, label="imag_squared"), label="power")
    if exponent == 2.0:
        return power
    magnitude = ctx.unary("Sqrt", power, label="magnitude")
    if exponent == 1.0:
        return magnitude
    return ctx.scalar_op("Pow", magnitude, exponent, "magnitude_pow")


def _decibels(ctx: LayerContext, x: Value, config: dict[str, Any]) -> Value:
    """Keras's ``_dbscale``: log10 as TF's ``log(x) / log(10)`` in float32, the reference subtracted, then the floor
    ``max(all) - top_db`` over the whole tensor."""
    min_power = float(config.get("min_power", 1e-10))
    floor = ctx.scalar_op("Maximum", x, min_power, "floored")
    log10 = ctx.binary("RealDiv", ctx.unary("Log", floor, label="log"), ctx.floats(np.log(np.float32(10.0)), "ln10"),
                       label="log10")
    decibels = ctx.scalar_op("Mul", log10, 10.0, "decibels")
    reference = 10.0 * math.log10(max(abs(float(config.get("ref_power", 1.0))), min_power))
    if reference != 0.0:
        decibels = ctx.scalar_op("Sub", decibels, reference, "referenced")
    rank = len(ctx.shape(decibels))
    peak = ctx.op("Max", [decibels, ctx.ints(list(range(rank)), "all_axes")], {"keep_dims": False, "Tidx": I32},
                  shape=(), label="peak")
    low = ctx.scalar_op("Sub", peak, float(config.get("top_db", 80.0)), "top_db_floor")
    return ctx.binary("Maximum", decibels, low, label="clipped")


@lowers("MelSpectrogram", check=_mel_check)
def mel_spectrogram(ctx: LayerContext) -> Value:
    config = ctx.config
    x = ctx.x
    shape = ctx.shape(x)
    if x.dtype != F32 or len(shape) < 2:
        raise Unsupported(f"layer {ctx.name!r} (MelSpectrogram) on a {x.dtype.value} rank-{len(shape)} input")
    fft_length = int(config.get("fft_length", 2048))
    length = int(config.get("sequence_length") or fft_length)
    step = int(config.get("sequence_stride", 512))
    rate = float(config.get("sampling_rate", 16000))
    try:
        real, imag = stft_pair(ctx, x, length, step, fft_length, config.get("window", "hann"), True)
    except ValueError as error:
        raise Unsupported(f"layer {ctx.name!r} (MelSpectrogram): {error}") from None
    spectrum = _magnitude(ctx, real, imag, float(config.get("mag_exp", 2.0)))
    upper = config.get("max_freq") or int(rate / 2)
    weights = mel_matrix(int(config.get("num_mel_bins", 128)), fft_length // 2 + 1, rate,
                         float(config.get("min_freq", 20.0)), float(upper))
    mel = matmul_last(ctx, spectrum, weights, "mel")
    if config.get("power_to_db", True):
        mel = _decibels(ctx, mel, config)
    rank = len(ctx.shape(mel))
    return ctx.transpose(mel, [*range(rank - 2), rank - 1, rank - 2], "frequency_first")
