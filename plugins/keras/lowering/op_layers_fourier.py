"""Op layers: Keras 3's Fourier ops ``fft``, ``fft2``, ``ifft2``, ``rfft``, ``irfft``, ``stft`` and ``istft`` as real
DFT matrix products (:mod:`.fourier`), so they run on cpu, wasm and webgl (session 19's probe: the traced path
converted them for cpu only, TF.js has no FFT/Complex kernels on wasm; ``fft2``/``ifft2`` not at all).

Keras gives and takes (real, imag) pairs. Each op follows Keras 3's TensorFlow backend: ``rfft``/``irfft`` crop or
zero-pad the last axis to ``fft_length`` (``irfft`` ignores the imaginary parts of bin 0 and, for an even length, of
the last bin), ``stft``/``istft`` use TF's periodic windows, reflect padding with ``center``, and ``inverse_stft``'s
normalised window.
"""
from __future__ import annotations

from typing import Any

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .fourier import (MAX_DFT_LENGTH, check_length, complex_dft, dft_factors, factored_rfft, fit_last_axis,
                      inverse_window, irdft_read, last_axis_slice, matmul_last, overlap_added, real_dft_kernel,
                      real_dft_pair, stft_pair, tf_window)
from .op_layers import OpCall, OpSpec, _holds_tensor, register_op_layers

F32 = DType.FLOAT32


def _float(c: OpCall, x: Value, what: str = "x") -> Value:
    if x.dtype != F32:
        raise c.gap(f"a {x.dtype.value} {what} (lowered for float32)")
    if len(c.ctx.shape(x)) < 2:
        raise c.gap(f"a rank-{len(c.ctx.shape(x))} {what}")
    return x


def _pair(c: OpCall) -> tuple[Value, Value]:
    """The (real, imag) pair argument ``x``: two float32 tensors of one shape."""
    parts = c.tensors("x")
    if len(parts) != 2:
        raise c.gap(f"{len(parts)} tensors where Keras takes a (real, imag) pair")
    real, imag = (_float(c, p, name) for p, name in zip(parts, ("real part", "imaginary part")))
    if c.ctx.shape(real) != c.ctx.shape(imag):
        raise c.gap(f"real and imaginary parts of shapes {list(c.ctx.shape(real))} and {list(c.ctx.shape(imag))}")
    return real, imag


def _window(c: OpCall) -> Any:
    """The ``window`` argument: a name, a list of numbers or None (a tensor window is a gap)."""
    window = c.arguments.get("window", "hann")
    if _holds_tensor(window) or isinstance(window, dict):
        raise c.gap("a tensor window (lowered for a name, a list or None)")
    return window


def _length(c: OpCall, name: str, value: object, low: int = 1, high: int = MAX_DFT_LENGTH) -> int:
    try:
        return check_length(name, value, low, high)
    except ValueError as error:
        raise c.gap(str(error)) from None


def _known_last(c: OpCall, x: Value, why: str) -> int:
    size = c.ctx.shape(x)[-1]
    if size is None:
        raise c.gap(f"an unknown last size ({why})")
    return _length(c, "last size", size)


def _complex_dft(c: OpCall, real: Value, imag: Value, inverse: bool, label: str) -> list[Value]:
    """The DFT of length n along the last axis of a (real, imag) pair (:func:`.fourier.complex_dft`)."""
    n = _known_last(c, real, "Keras needs it")
    return list(complex_dft(c.ctx, real, imag, n, inverse, label))


def _fft(c: OpCall) -> list[Value]:
    real, imag = _pair(c)
    return _complex_dft(c, real, imag, False, "fft")


def _fft2_of(inverse: bool):
    def lower(c: OpCall) -> list[Value]:
        """Along the last axis, then (transposed) along the one before it."""
        real, imag = _pair(c)
        ctx = c.ctx
        rank = len(ctx.shape(real))
        if rank < 3:
            raise c.gap(f"a rank-{rank} pair (a batch of matrices needs rank 3)")
        swap = [*range(rank - 2), rank - 1, rank - 2]
        parts = _complex_dft(c, real, imag, inverse, "rows")
        parts = [ctx.transpose(p, swap, f"columns_{i}") for i, p in enumerate(parts)]
        parts = _complex_dft(c, *parts, inverse, "columns")
        return [ctx.transpose(p, swap, f"back_{i}") for i, p in enumerate(parts)]

    return lower


def _rfft(c: OpCall) -> list[Value]:
    x = _float(c, c.tensor("x"))
    given = c.value("fft_length", None)
    n = _known_last(c, x, "no fft_length") if given is None else _length(c, "fft_length", given)
    fitted = fit_last_axis(c.ctx, x, n, "fit") if given is not None else x
    if dft_factors(n) is not None:
        return list(factored_rfft(c.ctx, fitted, n, "rfft"))
    return list(real_dft_pair(c.ctx, matmul_last(c.ctx, fitted, real_dft_kernel(n, n), "rfft"), n, "rfft"))


def _irfft(c: OpCall) -> Value:
    real, imag = _pair(c)
    given = c.value("fft_length", None)
    if given is None:
        n = 2 * (_known_last(c, real, "no fft_length") - 1)
        n = _length(c, "fft_length (from the last size)", n)
    else:
        n = _length(c, "fft_length", given)
    bins = n // 2 + 1
    ctx = c.ctx
    real, imag = fit_last_axis(ctx, real, bins, "fit_real"), fit_last_axis(ctx, imag, bins, "fit_imag")
    both, kernel = irdft_read(ctx, real, imag, bins, n, "read")
    return matmul_last(ctx, both, kernel, "irfft")


def _stft(c: OpCall) -> list[Value]:
    x = _float(c, c.tensor("x"))
    length = _length(c, "sequence_length", c.value("sequence_length"))
    step = _length(c, "sequence_stride", c.value("sequence_stride"), 1, 2**31 - 1)
    n = _length(c, "fft_length", c.value("fft_length"))
    center = c.value("center", True)
    if center not in (True, False):
        raise c.gap(f"center={center!r}")
    try:
        return list(stft_pair(c.ctx, x, length, step, n, _window(c), center))
    except ValueError as error:
        raise c.gap(str(error)) from None


def _istft(c: OpCall) -> Value:
    """``irfft`` of every frame times TF's inverse window, overlap-added (a transposed conv), then Keras's slice:
    ``fft_length//2`` off each end with ``center``, or ``length`` samples."""
    real, imag = _pair(c)
    ctx = c.ctx
    if len(ctx.shape(real)) < 3:
        raise c.gap("a pair of rank below 3 (frames and bins after the batch)")
    length = _length(c, "sequence_length", c.value("sequence_length"))
    step = _length(c, "sequence_stride", c.value("sequence_stride"), 1, 2**31 - 1)
    n = _length(c, "fft_length", c.value("fft_length"))
    center = c.value("center", True)
    wanted = c.value("length", None)
    if center not in (True, False):
        raise c.gap(f"center={center!r}")
    if wanted is not None:
        wanted = _length(c, "length", wanted, 0, 2**31 - 1)
    if n < length:
        raise c.gap(f"fft_length={n} below sequence_length={length}")
    bins = _known_last(c, real, "the bins")
    try:
        window = tf_window(_window(c), length, n)
    except ValueError as error:
        raise c.gap(str(error)) from None
    scale = None if window is None else inverse_window(window, step)
    used = min(bins, n // 2 + 1)  # irfft crops the bins past n//2+1: sliced off, never multiplied
    both, kernel = irdft_read(ctx, real, imag, used, n, "read")
    if scale is not None:
        kernel = kernel * scale[None, :]
    signal = overlap_added(ctx, both, kernel, step, "istft")
    start = n // 2 if center else 0
    if wanted is not None:
        end: int | None = start + wanted
    elif center:
        end = -(n // 2)
    else:
        end = None
    if start == 0 and end is None:
        return signal
    return last_axis_slice(ctx, signal, start, end, "trimmed")


register_op_layers(keras_ops={
    ("FFT",): OpSpec(("x",), _fft),
    ("FFT2",): OpSpec(("x",), _fft2_of(False)),
    ("IFFT2",): OpSpec(("x",), _fft2_of(True)),
    ("RFFT",): OpSpec(("x", "fft_length"), _rfft),
    ("IRFFT",): OpSpec(("x", "fft_length"), _irfft),
    ("STFT",): OpSpec(("x", "sequence_length", "sequence_stride", "fft_length", "window", "center"), _stft),
    ("ISTFT",): OpSpec(("x", "sequence_length", "sequence_stride", "fft_length", "length", "window", "center"),
                       _istft),
})
