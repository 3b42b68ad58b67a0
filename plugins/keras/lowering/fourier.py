"""Discrete Fourier transforms as real products with constant cos/sin matrices (no complex tensors, no FFT ops).

Keras 3 hands its Fourier ops (``fft``, ``rfft``, ``irfft``, ``stft``, ``istft``) and ``MelSpectrogram`` (real, imag)
pairs, so a DFT is a pair of real matrix products: TF.js runs MatMul, Conv2D and Conv2DBackpropInput on cpu, wasm and
webgl, where its FFT/Complex kernels exist on cpu and webgl only. The matrices are built in float64 from the exact
angle ``2π·((j·k) mod n)/n`` and rounded once to float32. A length above 64 that is not prime is factored
(``n = n1·n2``, Cooley-Tukey in two stages: a BatchMatMulV2 with the twiddles folded in, then a MatMul, with
Reshapes and Transposes between; :func:`dft_factors`): each bin is then a sum of n2 terms then of n1 (measured 2 to
4 times closer to the exact DFT than one sum of n terms on noise, n ≥ 512), and the constants shrink from ``n²`` to
``2n·n2 + 4·n1²`` floats; its short-time transform gathers the frames (GatherV2) and multiplies them by the window
as TF does. A shorter or prime length keeps one product: a short-time transform is then a VALID ``Conv2D`` whose
kernel is the windowed DFT (framing, window and DFT in one op, over any signal length). The inverse transforms keep
one product: the windowed inverse DFT run as a transposed convolution (the overlap-add). Windows (computed with
TF's float32 roundings), padding and slicing follow Keras 3's TensorFlow backend (``tf.signal.stft`` /
``inverse_stft`` with TF's window functions).

A value TF never reads is never multiplied by a zero kernel entry (an Inf or NaN there would give NaN where TF's
output is finite): the imaginary parts irfft ignores and the samples a cropped frame drops are sliced off, the
imaginary parts TF's rfft gives as +0 are padded on, and a frame's zero padding is appended after the product. A
signal whose length is known only at run time may hold no frame: the frame count is then TF's, 0 included.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .context import LayerContext
from .core import last_axis_matmul
from .dynamic_shape import reshape_to, runtime_size, runtime_sizes

I32, F32 = DType.INT32, DType.FLOAT32
#: Largest DFT size lowered: an (n/2+1)·n·2 float32 matrix (16 MiB at 2048, 64 MiB at 4096).
MAX_DFT_LENGTH = 4096


# -- constant matrices (float64) ----------------------------------------------------------------------------
def _angles(rows: int, columns: int, n: int) -> np.ndarray:
    """``2π·((j·k) mod n)/n`` for ``j < rows``, ``k < columns``: exact integer phases, then one float64 product."""
    phase = (np.arange(rows, dtype=np.int64)[:, None] * np.arange(columns, dtype=np.int64)[None, :]) % n
    return 2.0 * np.pi * phase / n


def rdft_matrices(rows: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The real-input DFT of length ``n`` on the first ``rows`` samples: ``(cos, -sin)``, each ``rows × (n//2+1)``
    (``X_k = Σ_j x_j·e^{-2πijk/n}``)."""
    angles = _angles(rows, n // 2 + 1, n)
    return np.cos(angles), -np.sin(angles)


def irdft_matrices(bins: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The inverse real DFT of length ``n`` from the first ``bins`` (≤ n//2+1) Hermitian bins, as TF's ``irfft``:
    bin 0 and (even ``n``) bin n/2 once, their imaginary parts ignored, the others twice; scaled by 1/n. Returns the
    ``bins × n`` matrices of the real and the imaginary parts."""
    angles = _angles(bins, n, n)
    count = np.full((bins, 1), 2.0)
    count[0] = 1.0
    if n % 2 == 0 and bins > n // 2:
        count[n // 2] = 1.0
    return count * np.cos(angles) / n, -count * np.sin(angles) / n


def half_dft(n: int, inverse: bool) -> np.ndarray:
    """``[cos | sin]`` of the DFT of length ``n`` for bins 0..n//2, ``n × 2(n//2+1)`` (scaled by 1/n for the
    inverse): with ``P = re @ it`` and ``Q = im @ it`` every bin of the complex DFT is a sum of two of their columns
    (:func:`complex_dft`), so the complex DFT needs this one matrix, half of the cos and sin matrices."""
    angles = _angles(n, n // 2 + 1, n)
    matrix = np.concatenate([np.cos(angles), np.sin(angles)], axis=1)
    return matrix / n if inverse else matrix


def mirrored_bins(n: int) -> np.ndarray:
    """For bins ``0..n-1``, where each sits in ``concat(low, high)`` (``low``: bins 0..n//2 as computed, ``high``:
    the same columns with the sine terms' sign flipped, which are bins n-k)."""
    half = n // 2 + 1
    k = np.arange(n)
    return np.where(k < half, k, half + (n - k)).astype(np.int32)


def tf_window(window: Any, length: int, fft_length: int) -> np.ndarray | None:
    """Keras 3's STFT window, padded with zeros to ``fft_length`` as its TensorFlow backend pads it (``(n-L)//2`` in
    front); None for ``window=None`` (no window). ``hann``/``hamming`` are TF's periodic windows, whose period is
    the length for an even length and the length − 1 for an odd one (TF's rule), computed in float32 as TF computes
    them (:func:`_tf_raised_cosine`); a list is taken as float32, as Keras converts it. Raises ValueError on anything
    else."""
    if window is None:
        return None
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(f"window={window!r}")
        values = _tf_raised_cosine(*((0.5, 0.5) if window == "hann" else (0.54, 0.46)), length)
    else:
        try:
            values = np.asarray(window, dtype=np.float32).astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError("a window that is not a list of numbers") from None
        if values.shape != (length,) or not np.isfinite(values).all():
            raise ValueError(f"a window of shape {list(values.shape)} (Keras needs [{length}], finite)")
    front = (fft_length - length) // 2
    return np.pad(values, (front, fft_length - length - front))


def _tf_raised_cosine(a: float, b: float, length: int) -> np.ndarray:
    """TF's periodic ``a − b·cos(2π·i/period)`` with its float32 roundings (``2π`` and each product and quotient in
    float32, then float32's cos): the window Keras multiplies the frames by, within an ulp of it (a window rounded
    from float64 differs from it by up to 3 ulps in most entries, which a log spectrum's quiet bins read)."""
    f32 = np.float32
    if length == 1:
        return np.ones(1)
    period = length if length % 2 == 0 else length - 1
    angle = f32(2.0 * np.pi) * np.arange(length, dtype=f32) / f32(period)
    return (f32(a) - f32(b) * np.cos(angle)).astype(np.float64)


def inverse_window(window: np.ndarray, step: int) -> np.ndarray:
    """TF's ``inverse_stft_window_fn``: the window over the sum of the squared windows overlapping each sample, 0
    where that sum is 0 (TF's ``where(denom == 0, 0, window / denom)``)."""
    n = len(window)
    overlaps = -(-n // step)
    squares = np.pad(window ** 2, (0, overlaps * step - n)).reshape(overlaps, step).sum(axis=0)
    denominator = np.tile(squares, overlaps)[:n]
    return np.where(denominator == 0, 0.0, window / np.where(denominator == 0, 1.0, denominator))


def mel_matrix(num_mel_bins: int, spectrogram_bins: int, sampling_rate: float, lower_hz: float,
               upper_hz: float) -> np.ndarray:
    """Keras 3's ``MelSpectrogram.linear_to_mel_weight_matrix`` (HTK mel scale, triangles of peak 1, the DC bin
    zeroed), ``spectrogram_bins × num_mel_bins``, with Keras's float32 roundings in its order of operations (TF's
    linspace: ``start + i·step``, the ends exact): its entries then equal Keras's but where float32 logs differ by an
    ulp (a float64 matrix differs by up to ~2e-5 where the mel differences cancel, beyond a log-mel's bar)."""
    f32 = np.float32

    def mel(hertz: Any) -> Any:
        return f32(1127.0) * np.log(f32(1.0) + np.asarray(hertz, f32) / f32(700.0))

    def linspace(start: Any, stop: Any, count: int) -> np.ndarray:
        start, stop = f32(start), f32(stop)
        step = (stop - start) / f32(max(count - 1, 1))
        inner = start + np.arange(1, count - 1, dtype=f32) * step
        return np.concatenate([[start], inner, [stop]]).astype(f32)[:count]

    bins = mel(linspace(0.0, f32(sampling_rate) / f32(2.0), spectrogram_bins)[1:])[:, None]
    edges = linspace(mel(lower_hz), mel(upper_hz), num_mel_bins + 2)
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.maximum(f32(0.0), np.minimum((bins - lower) / (center - lower), (upper - bins) / (upper - center)))
    return np.pad(weights, [(1, 0), (0, 0)]).astype(np.float64)


# -- IR helpers -----------------------------------------------------------------------------------------------
#: Said once per conversion that lowers a transform (every DFT product's matrix or kernel is made by f32_const).
SPECIAL_VALUES_NOTE = ("Fourier transforms (fft, rfft, stft, istft, MelSpectrogram, tf.signal.stft ...) computed as "
                       "DFT matrix products: an Inf or NaN sample makes every bin of its frame Inf or NaN, where TF's "
                       "FFT keeps some finite; finite inputs are within float32 round-off")


def f32_const(ctx: LayerContext, array: np.ndarray, label: str) -> Value:
    """A DFT matrix or kernel as a float32 constant (and the special-values note, once)."""
    from .core import warn_once

    warn_once(ctx, SPECIAL_VALUES_NOTE)  # once per conversion: a log warning and the conversion's notes
    return ctx.const(np.ascontiguousarray(array, dtype=np.float32), label)


def last_axis_slice(ctx: LayerContext, x: Value, begin: int, end: int | None, label: str) -> Value:
    """``x[..., begin:end]`` (``end`` None: to the end; negative: from the end), as Python slices it."""
    shape = ctx.shape(x)
    rank = len(shape)
    size = shape[-1]
    static = None if size is None else len(range(size)[begin:end])
    full = (1 << rank) - 1
    end_mask = full if end is None else full & ~(1 << (rank - 1))
    return ctx.op("StridedSlice", [x, ctx.ints([0] * (rank - 1) + [begin], f"{label}_begin"),
                                   ctx.ints([0] * (rank - 1) + [0 if end is None else end], f"{label}_end"),
                                   ctx.ints([1] * rank, f"{label}_strides")],
                  {"Index": I32, "begin_mask": full & ~(1 << (rank - 1)), "end_mask": end_mask, "ellipsis_mask": 0,
                   "new_axis_mask": 0, "shrink_axis_mask": 0}, shape=(*shape[:-1], static), label=label)


def fit_last_axis(ctx: LayerContext, x: Value, n: int, label: str) -> Value:
    """``x`` cropped or zero-padded to ``n`` along its last axis (TF's ``rfft``/``irfft`` with an ``fft_length``);
    a size known only at run time is cropped and padded at run time."""
    shape = ctx.shape(x)
    size = shape[-1]
    if size is not None and size == n:
        return x
    if size is not None and size > n:
        return last_axis_slice(ctx, x, 0, n, f"{label}_crop")
    rank = len(shape)
    head = last_axis_slice(ctx, x, 0, n, f"{label}_crop") if size is None else x
    if size is not None:
        pads = ctx.ints([[0, 0]] * (rank - 1) + [[0, n - size]], f"{label}_paddings")
    else:
        missing = ctx.binary("Sub", ctx.ints([n], f"{label}_length"),
                             ctx.reshape(runtime_size(ctx, head, rank - 1, f"{label}_size"), [1], f"{label}_size_1"),
                             label=f"{label}_missing")
        flat = ctx.op("ConcatV2", [ctx.ints([0] * (2 * rank - 1), f"{label}_zeros"), missing, ctx.ints(0, f"{label}_axis")],
                      {"N": 2, "Tidx": I32}, dtype=I32, shape=(2 * rank,), label=f"{label}_pads_flat")
        pads = ctx.reshape(flat, [rank, 2], f"{label}_paddings")
    return ctx.op("Pad", [head, pads], {"Tpaddings": I32}, shape=(*shape[:-1], n), label=f"{label}_pad")


def irdft_read(ctx: LayerContext, real: Value, imag: Value, used: int, n: int,
               label: str) -> tuple[Value, np.ndarray]:
    """What TF's ``irfft`` of length ``n`` reads from ``used`` (≤ n//2+1) bins, side by side: ``real[..., :used]``
    and ``imag[..., 1:last]``, without the imaginary parts of bin 0 and (even ``n``) bin n/2, which TF ignores: they
    are left out, not multiplied by a zero kernel row (an Inf or NaN there would give NaN). Returns those parts
    (last axis of size ``used`` or more) and the matching rows of :func:`irdft_matrices` (``rows × n``)."""
    from_real, from_imag = irdft_matrices(used, n)
    last = used - 1 if n % 2 == 0 and used == n // 2 + 1 else used
    sizes = (ctx.shape(real)[-1], ctx.shape(imag)[-1])
    parts = [real if sizes[0] == used else last_axis_slice(ctx, real, 0, used, f"{label}_real")]
    rows = [from_real]
    if last > 1:
        parts.append(last_axis_slice(ctx, imag, 1, last, f"{label}_imag"))
        rows.append(from_imag[1:last])
    both = parts[0] if len(parts) == 1 else concat_last(ctx, parts, f"{label}_parts")
    return both, np.concatenate(rows)


def matmul_last(ctx: LayerContext, x: Value, matrix: np.ndarray, label: str) -> Value:
    """``x @ matrix`` over the last axis (any rank ≥ 2, unknown outer sizes read at run time)."""
    return last_axis_matmul(ctx, x, f32_const(ctx, matrix, f"{label}_matrix"), matrix.shape[1])


def complex_dft(ctx: LayerContext, real: Value, imag: Value, n: int, inverse: bool, label: str) -> tuple[Value, Value]:
    """The complex DFT of length ``n`` (or its inverse) along the last axis of a (real, imag) pair.

    With ``C, S`` the cos and sin of bin ``k ≤ n/2``: bin k is ``(re·C + im·S) + i(im·C − re·S)`` and bin n−k is
    ``(re·C − im·S) + i(im·C + re·S)`` (the inverse swaps the two), so two products with :func:`half_dft` and a
    gather of the mirrored bins give all n. A length :func:`dft_factors` splits is computed in two stages."""
    if dft_factors(n) is not None:
        return factored_complex_dft(ctx, real, imag, n, inverse, label)
    half = n // 2 + 1
    matrix = half_dft(n, inverse)
    shared = f32_const(ctx, matrix, f"{label}_matrix")
    p = last_axis_matmul(ctx, real, shared, 2 * half)
    q = last_axis_matmul(ctx, imag, shared, 2 * half)
    re_cos, re_sin = last_axis_slice(ctx, p, 0, half, f"{label}_re_cos"), last_axis_slice(ctx, p, half, None,
                                                                                            f"{label}_re_sin")
    im_cos, im_sin = last_axis_slice(ctx, q, 0, half, f"{label}_im_cos"), last_axis_slice(ctx, q, half, None,
                                                                                            f"{label}_im_sin")
    real_sum, real_diff = (ctx.binary("AddV2", re_cos, im_sin, label=f"{label}_real_plus"),
                           ctx.binary("Sub", re_cos, im_sin, label=f"{label}_real_minus"))
    imag_diff, imag_sum = (ctx.binary("Sub", im_cos, re_sin, label=f"{label}_imag_minus"),
                           ctx.binary("AddV2", im_cos, re_sin, label=f"{label}_imag_plus"))
    if inverse:
        real_sum, real_diff, imag_diff, imag_sum = real_diff, real_sum, imag_sum, imag_diff
    order = ctx.ints(mirrored_bins(n), f"{label}_bins")
    rank = len(ctx.shape(real))
    out = []
    for part, (low, high) in (("real", (real_sum, real_diff)), ("imag", (imag_diff, imag_sum))):
        both = concat_last(ctx, [low, high], f"{label}_{part}_halves")
        out.append(ctx.op("GatherV2", [both, order, ctx.ints(rank - 1, f"{label}_{part}_axis")],
                          {"Tparams": F32, "Tindices": I32, "Taxis": I32, "batch_dims": 0},
                          shape=(*ctx.shape(real)[:-1], n), label=f"{label}_{part}"))
    return out[0], out[1]


def concat_last(ctx: LayerContext, parts: Sequence[Value], label: str) -> Value:
    shape = ctx.shape(parts[0])
    sizes = [ctx.shape(p)[-1] for p in parts]
    total = None if None in sizes else sum(sizes)
    return ctx.op("ConcatV2", [*parts, ctx.ints(-1, f"{label}_axis")], {"N": len(parts), "Tidx": I32},
                  shape=(*shape[:-1], total), label=label)


def _as_rows_of_one_channel(ctx: LayerContext, x: Value, channels: int, label: str) -> Value:
    """``x`` of shape ``(*lead, T, channels)`` viewed as NHWC ``(lead…, 1, T, channels)`` for a 1-row conv. An
    unknown T is read at run time, and then so is the lead's product: it may be 0 frames (a stft of a short signal),
    where a -1 cannot be inferred."""
    shape = ctx.shape(x)
    steps = shape[-2]
    if steps is not None:
        return reshape_to(ctx, x, [[-1, 1], [steps], [channels]], (None, 1, steps, channels), label)
    rank = len(shape)
    lead = ctx.op("Prod", [runtime_sizes(ctx, x, 0, rank - 2, f"{label}_lead"), ctx.ints([0], f"{label}_lead_axis")],
                  {"keep_dims": True, "Tidx": I32}, dtype=I32, shape=(1,), label=f"{label}_lead_product")
    middle = runtime_sizes(ctx, x, rank - 2, rank - 1, f"{label}_steps")
    return reshape_to(ctx, x, [lead, [1], middle, [channels]], (None, 1, steps, channels), label)


def _restore_lead(ctx: LayerContext, y: Value, like: Value, lead_end: int, tail: Sequence[int | None],
                  label: str) -> Value:
    """``y`` (``(B', …)``) reshaped to ``like``'s sizes before ``lead_end`` followed by ``tail`` (one None: -1)."""
    shape = ctx.shape(like)
    lead = shape[:lead_end]
    target_tail = [-1 if t is None else t for t in tail]
    if len(lead) == 1:
        return reshape_to(ctx, y, [[-1], target_tail], (None, *tail), label) if None not in tail else \
            reshape_to(ctx, y, [runtime_sizes(ctx, like, 0, 1, f"{label}_batch"), target_tail], (None, *tail), label)
    return reshape_to(ctx, y, [runtime_sizes(ctx, like, 0, lead_end, f"{label}_lead"), target_tail],
                      (*lead, *tail), label)


def framed_dft(ctx: LayerContext, x: Value, kernel: np.ndarray, step: int, label: str) -> Value:
    """``x`` (``(*lead, T)``) cut into frames of ``len(kernel)`` every ``step`` samples, each multiplied by
    ``kernel`` (``frame × outputs``): ``(*lead, frames, outputs)``, one VALID Conv2D over any T. A length known only
    at run time may be shorter than a frame, where TF gives 0 frames (a VALID conv over it has a negative size, which
    TF.js's cpu and wasm kernels overrun): see :func:`_framed_unknown`."""
    shape = ctx.shape(x)
    length, outputs = kernel.shape
    steps = shape[-1]
    if steps is None:
        return _framed_unknown(ctx, x, kernel, step, label)
    if steps < length:
        raise ValueError(f"a signal of {steps} samples, shorter than a frame of {length} (no frame)")
    columns = ctx.expand_dims(x, len(shape), f"{label}_channel")
    image = _as_rows_of_one_channel(ctx, columns, 1, f"{label}_rows")
    frames = (steps - length) // step + 1
    conv = _frames_conv(ctx, image, kernel, step, frames, label)
    return _restore_lead(ctx, conv, x, len(shape) - 1, [frames, outputs], f"{label}_frames")


def _frames_conv(ctx: LayerContext, image: Value, kernel: np.ndarray, step: int, frames: int | None,
                 label: str) -> Value:
    length, outputs = kernel.shape
    return ctx.op("Conv2D", [image, f32_const(ctx, kernel.reshape(1, length, 1, outputs), f"{label}_kernel")],
                  {"strides": [1, 1, step, 1], "dilations": [1, 1, 1, 1], "data_format": "NHWC", "padding": "VALID",
                   "explicit_paddings": [], "use_cudnn_on_gpu": True}, shape=(None, 1, frames, outputs),
                  label=f"{label}_conv")


def _framed_unknown(ctx: LayerContext, x: Value, kernel: np.ndarray, step: int, label: str) -> Value:
    """:func:`framed_dft` over a length ``T`` known at run time only: the conv runs over ``T + frame`` samples (zeros
    appended, so it always has a frame), then keeps the ``max(T − frame + step, 0) // step`` frames that lie within
    the signal (TF's count, 0 for a short signal), reshaped with that count (a -1 cannot be inferred at 0 frames)."""
    shape = ctx.shape(x)
    rank = len(shape)
    length, outputs = kernel.shape
    size = runtime_size(ctx, x, rank - 1, f"{label}_length")
    spare = ctx.binary("AddV2", size, ctx.ints(step - length, f"{label}_spare_offset"), label=f"{label}_spare")
    count = ctx.binary("FloorDiv", ctx.binary("Maximum", spare, ctx.ints(0, f"{label}_zero"), label=f"{label}_kept"),
                       ctx.ints(step, f"{label}_step"), label=f"{label}_count")
    count = ctx.reshape(count, [1], f"{label}_count_1")
    pads = ctx.ints([[0, 0]] * (rank - 1) + [[0, length]], f"{label}_paddings")
    padded = ctx.op("Pad", [x, pads], {"Tpaddings": I32}, shape=shape, label=f"{label}_padded")
    columns = ctx.expand_dims(padded, rank, f"{label}_channel")
    image = _as_rows_of_one_channel(ctx, columns, 1, f"{label}_rows")
    conv = _frames_conv(ctx, image, kernel, step, None, label)
    sizes = ctx.op("ConcatV2", [ctx.ints([-1, -1], f"{label}_all"), count, ctx.ints([-1], f"{label}_all_outputs"),
                                ctx.ints(0, f"{label}_sizes_axis")], {"N": 3, "Tidx": I32}, dtype=I32, shape=(4,),
                   label=f"{label}_sizes")
    kept = ctx.op("Slice", [conv, ctx.ints([0, 0, 0, 0], f"{label}_begin"), sizes], {"Index": I32},
                  shape=(None, 1, None, outputs), label=f"{label}_kept_frames")
    lead = runtime_sizes(ctx, x, 0, rank - 1, f"{label}_lead")
    return reshape_to(ctx, kept, [lead, count, [outputs]], (*shape[:-1], None, outputs), f"{label}_frames")


def overlap_added(ctx: LayerContext, frames: Value, kernel: np.ndarray, step: int, label: str) -> Value:
    """The transposed ``framed_dft``: ``frames`` (``(*lead, F, inputs)``) times ``kernel`` (``inputs × length``)
    per frame, the frames added at ``step`` apart: ``(*lead, (F-1)·step + length)``, one Conv2DBackpropInput. A
    frame count known only at run time may be 0 (the stft of a short signal), which TF.js's webgl kernel cannot
    take: one zero frame is appended and its ``step`` samples cut off after (it adds +0 to the last frame's tail)."""
    shape = ctx.shape(frames)
    inputs, length = kernel.shape
    count = shape[-2]
    image = _as_rows_of_one_channel(ctx, frames, inputs, f"{label}_rows")
    if count is None:
        image = ctx.op("Pad", [image, ctx.ints([[0, 0], [0, 0], [0, 1], [0, 0]], f"{label}_spare_frame")],
                       {"Tpaddings": I32}, shape=(None, 1, None, inputs), label=f"{label}_with_spare_frame")
    rank = 4
    sizes = ctx.binary("AddV2", ctx.binary("Mul", runtime_sizes(ctx, image, 0, rank, f"{label}_image"),
                                           ctx.ints([1, 1, step, 0], f"{label}_scale"), label=f"{label}_scaled"),
                       ctx.ints([0, 0, length - step, 1], f"{label}_offset"), label=f"{label}_sizes")
    total = None if count is None else (count - 1) * step + length
    filt = f32_const(ctx, kernel.T.reshape(1, length, 1, inputs), f"{label}_kernel")
    added = ctx.op("Conv2DBackpropInput", [sizes, filt, image],
                   {"T": F32, "strides": [1, 1, step, 1], "dilations": [1, 1, 1, 1], "padding": "VALID",
                    "data_format": "NHWC", "explicit_paddings": [], "use_cudnn_on_gpu": True},
                   dtype=F32, shape=(None, 1, total, 1), label=f"{label}_overlap_add")
    if count is None:
        added = ctx.op("StridedSlice", [added, ctx.ints([0, 0, 0, 0], f"{label}_cut_begin"),
                                        ctx.ints([0, 0, -step, 0], f"{label}_cut_end"),
                                        ctx.ints([1, 1, 1, 1], f"{label}_cut_strides")],
                       {"Index": I32, "begin_mask": 15, "end_mask": 11, "ellipsis_mask": 0, "new_axis_mask": 0,
                        "shrink_axis_mask": 0}, shape=(None, 1, None, 1), label=f"{label}_spare_cut")
    return _restore_lead(ctx, added, frames, len(shape) - 2, [total], f"{label}_signal")


def reflect_pad_last(ctx: LayerContext, x: Value, pad: int, label: str) -> Value:
    """``x`` reflect-padded by ``pad`` on both ends of its last axis (TF's MirrorPad REFLECT, which needs more than
    ``pad`` samples; a known shorter length raises ValueError)."""
    shape = ctx.shape(x)
    if pad == 0:
        return x
    if shape[-1] is not None and shape[-1] <= pad:
        raise ValueError(f"a signal of {shape[-1]} samples reflect-padded by {pad} (TensorFlow raises)")
    pads = [[0, 0]] * (len(shape) - 1) + [[pad, pad]]
    return ctx.op("MirrorPad", [x, ctx.ints(pads, f"{label}_paddings")], {"Tpaddings": I32, "mode": "REFLECT"},
                  shape=(*shape[:-1], None if shape[-1] is None else shape[-1] + 2 * pad), label=label)


def real_dft_kernel(rows: int, n: int) -> np.ndarray:
    """The real DFT of length ``n`` over ``rows`` samples as one ``rows × outputs`` matrix: the cos columns of bins
    0..n//2, then the −sin columns of the bins whose imaginary part TF computes. Bins 0 and (even ``n``) n/2 have
    none: TF's rfft gives them +0 whatever the samples, so they are appended by :func:`real_dft_pair`, not computed
    with a zero column (an Inf or NaN sample times it would give NaN)."""
    cos, sin = rdft_matrices(rows, n)
    return np.concatenate([cos, sin[:, 1:_sine_end(n)]], axis=1)


def _sine_end(n: int) -> int:
    """The end of the bins with an imaginary part TF computes, ``1..end-1``: n/2 for an even n, n//2+1 otherwise."""
    return n // 2 if n % 2 == 0 else n // 2 + 1


def real_dft_pair(ctx: LayerContext, product: Value, n: int, label: str) -> tuple[Value, Value]:
    """The (real, imag) pair of a product with :func:`real_dft_kernel`, the imaginary parts of bin 0 and (even
    ``n``) bin n/2 exactly +0, as TF's rfft gives them: padded on (``Pad`` reads no value; a ``ConcatV2`` of 0
    frames gives TF.js's cpu an untyped array that a later slice of one example cannot read)."""
    bins = n // 2 + 1
    real = last_axis_slice(ctx, product, 0, bins, f"{label}_real")
    if _sine_end(n) == 1:
        return real, ctx.unary("ZerosLike", real, label=f"{label}_imag")
    sine = last_axis_slice(ctx, product, bins, None, f"{label}_sine")
    shape = ctx.shape(sine)
    pads = ctx.ints([[0, 0]] * (len(shape) - 1) + [[1, 1 if n % 2 == 0 else 0]], f"{label}_imag_paddings")
    imag = ctx.op("Pad", [sine, pads], {"Tpaddings": I32}, shape=(*shape[:-1], bins), label=f"{label}_imag")
    return real, imag


def stft_pair(ctx: LayerContext, x: Value, sequence_length: int, step: int, fft_length: int, window: Any,
              center: bool, label: str = "stft") -> tuple[Value, Value]:
    """Keras 3's ``stft`` (TF backend): reflect padding by fft_length//2 with ``center``, frames of fft_length (the
    window zero-padded to it), the real DFT; the (real, imag) pair ``(*lead, frames, fft_length//2+1)``. Raises
    ValueError on what Keras refuses."""
    if fft_length < sequence_length:
        raise ValueError(f"fft_length={fft_length} below sequence_length={sequence_length} (Keras raises)")
    padded = tf_window(window, sequence_length, fft_length)
    signal = reflect_pad_last(ctx, x, fft_length // 2, f"{label}_center") if center else x
    if dft_factors(fft_length) is not None:
        return framed_rfft(ctx, signal, fft_length, fft_length, padded, step, label)
    kernel = real_dft_kernel(fft_length, fft_length)
    if padded is not None:
        kernel = kernel * padded[:, None]
    return real_dft_pair(ctx, framed_dft(ctx, signal, kernel, step, label), fft_length, label)


def check_length(name: str, value: Any, low: int = 1, high: int = MAX_DFT_LENGTH) -> int:
    """A positive int argument within the lowered range; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise ValueError(f"{name}={value!r} (lowered for integers {low} to {high})")
    return int(value)


# -- factored transforms (Cooley-Tukey in two stages) --------------------------------------------------------
#: Lengths up to this (and primes) keep the one product: each bin one sum of n terms. Longer ones are factored.
PLAIN_DFT_LENGTH = 64


def dft_factors(n: int) -> tuple[int, int] | None:
    """``(n1, n2)`` with ``n = n1·n2`` and ``n2 ≤ n1`` as close as the divisors allow (32·64 for 2048, 64·64 for
    4096), or None where the one product is kept (``n ≤ 64`` or prime): a factored bin is a sum of n2 terms then a
    sum of n1, whose float32 round-off is far below one sum of n (the quiet bins of a log spectrum read it)."""
    if n <= PLAIN_DFT_LENGTH:
        return None
    n2 = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return None if n2 == 1 else (n // n2, n2)


def _unit_roots(phase: np.ndarray, n: int, inverse: bool) -> np.ndarray:
    """``e^{∓2πi·phase/n}`` (``+`` for the inverse) in float64 from exact integer phases reduced mod n."""
    angle = 2.0 * np.pi * (phase % n) / n
    return np.cos(angle) + (1j if inverse else -1j) * np.sin(angle)


def _stacked(matrix: np.ndarray, real_input: bool) -> np.ndarray:
    """A complex ``(…, m, k)`` matrix as the real one that maps ``[re | im]`` (``2m``, or ``re`` alone for a real
    input) to ``[re | im]`` of the product (``2k``)."""
    top = np.concatenate([matrix.real, matrix.imag], axis=-1)
    if real_input:
        return top
    return np.concatenate([top, np.concatenate([-matrix.imag, matrix.real], axis=-1)], axis=-2)


def factored_matrices(n: int, factors: tuple[int, int], columns: int, inverse: bool,
                      real_input: bool) -> tuple[np.ndarray, np.ndarray]:
    """The two stages of the DFT of length ``n = n1·n2`` (sample ``j = j1 + n1·j2``, bin ``k = k2 + n2·k1``):
    per ``j1``, ``A[j1, k2] = Σ_j2 x[j]·W_n^{j·k2}`` (the length-n2 DFT with its twiddle ``W_n^{j1·k2}`` folded in,
    ``n1 × (1|2)·n2 × 2·n2``), then per ``k2``, ``X[k] = Σ_j1 A[j1, k2]·W_n1^{j1·k1}`` for ``k1 < columns``
    (``2·n1 × 2·columns``, scaled by 1/n for the inverse). Exact integer phases, one float32 rounding later."""
    n1, n2 = factors
    j = np.arange(n1)[:, None, None] + n1 * np.arange(n2)[None, :, None]
    first = _stacked(_unit_roots(j * np.arange(n2)[None, None, :], n, inverse), real_input)
    second = _unit_roots(np.arange(n1)[:, None] * np.arange(columns)[None, :], n1, inverse)
    return first, _stacked(second / n if inverse else second, False)


def _rows_of(ctx: LayerContext, x: Value, label: str) -> tuple[Value, list]:
    """``x`` (``(*lead, n)``) as ``(M, n)``, and M as a reshape part (an int, or a run-time size that may be 0,
    where a -1 cannot be inferred)."""
    shape = ctx.shape(x)
    n = shape[-1]
    lead = shape[:-1]
    if len(lead) == 1 and lead[0] is not None:
        return x, [lead[0]]
    if None not in lead:
        rows = int(np.prod(lead, dtype=np.int64))
        return ctx.reshape(x, [rows, n], f"{label}_rows"), [rows]
    rank = len(shape)
    rows = ctx.op("Prod", [runtime_sizes(ctx, x, 0, rank - 1, f"{label}_lead"), ctx.ints([0], f"{label}_lead_axis")],
                  {"keep_dims": True, "Tidx": I32}, dtype=I32, shape=(1,), label=f"{label}_row_count")
    if len(lead) == 1:
        return x, [rows]
    return reshape_to(ctx, x, [rows, [n]], (None, n), f"{label}_rows"), [rows]


def _times(ctx: LayerContext, rows: list, factor: int, label: str) -> list:
    """The reshape part ``rows · factor``."""
    if isinstance(rows[0], Value):
        return [ctx.binary("Mul", rows[0], ctx.ints([factor], f"{label}_factor"), label=label)]
    return [rows[0] * factor]


def _reshaped(ctx: LayerContext, x: Value, parts: list, label: str) -> Value:
    """``x`` reshaped to ``parts`` (ints and at most one run-time size vector)."""
    static = tuple(None if isinstance(p, Value) else p for p in parts)
    if not any(isinstance(p, Value) for p in parts):
        return ctx.reshape(x, list(static), label)
    return reshape_to(ctx, x, [p if isinstance(p, Value) else [p] for p in parts], static, label)


def _factored_rows(ctx: LayerContext, parts: Sequence[Value], rows: list, n: int, factors: tuple[int, int],
                   columns: int, inverse: bool, label: str) -> Value:
    """The two-stage DFT of the ``(M, n)`` rows ``parts`` (real, or real and imaginary): ``(M, 2·columns·n2)``,
    the real parts of bins ``0 .. columns·n2 − 1`` then their imaginary parts. Reshapes, transposes and two
    products (a BatchMatMulV2 over j1, a MatMul), which cpu, wasm and webgl all run."""
    n1, n2 = factors
    real_input = len(parts) == 1
    first, second = factored_matrices(n, factors, columns, inverse, real_input)
    if real_input:
        x = _reshaped(ctx, parts[0], [*rows, n2, n1], f"{label}_split")
        x = ctx.transpose(x, [2, 0, 1], f"{label}_by_j1")
    else:
        x = concat_last(ctx, list(parts), f"{label}_parts")
        x = _reshaped(ctx, x, [*rows, 2, n2, n1], f"{label}_split")
        x = _reshaped(ctx, ctx.transpose(x, [3, 0, 1, 2], f"{label}_by_j1"), [n1, *rows, 2 * n2], f"{label}_stack")
    a = ctx.op("BatchMatMulV2", [x, f32_const(ctx, first, f"{label}_first_matrix")], {"adj_x": False, "adj_y": False},
               shape=(n1, None, 2 * n2), label=f"{label}_first")
    a = _reshaped(ctx, a, [n1, *rows, 2, n2], f"{label}_first_parts")
    a = ctx.transpose(a, [1, 3, 2, 0], f"{label}_by_k2")
    a = _reshaped(ctx, a, [*_times(ctx, rows, n2, f"{label}_row_bins"), 2 * n1], f"{label}_second_rows")
    b = ctx.op("MatMul", [a, f32_const(ctx, second, f"{label}_second_matrix")],
               {"transpose_a": False, "transpose_b": False}, shape=(None, 2 * columns), label=f"{label}_second")
    b = _reshaped(ctx, b, [*rows, n2, 2, columns], f"{label}_second_parts")
    b = ctx.transpose(b, [0, 2, 3, 1], f"{label}_by_bin")
    return _reshaped(ctx, b, [*rows, 2 * columns * n2], f"{label}_bins")


def _restored(ctx: LayerContext, y: Value, like: Value, size: int, label: str) -> Value:
    """``y`` (``(M, size)``) reshaped to ``like``'s sizes but the last, then ``size``."""
    lead = ctx.shape(like)[:-1]
    if len(lead) == 1:
        return y
    if None not in lead:
        return ctx.reshape(y, [*lead, size], label)
    return reshape_to(ctx, y, [runtime_sizes(ctx, like, 0, len(lead), f"{label}_lead"), [size]], (*lead, size),
                      label)


def factored_rfft(ctx: LayerContext, x: Value, n: int, label: str) -> tuple[Value, Value]:
    """TF's rfft of the last axis of ``x`` (size n, which :func:`dft_factors` splits): the (real, imag) pair
    ``(*lead, n//2+1)``, the imaginary parts of bin 0 and (even n) bin n/2 padded on as +0, as TF gives them."""
    factors = dft_factors(n)
    assert factors is not None
    bins = n // 2 + 1
    columns = (bins - 1) // factors[1] + 1
    flat, rows = _rows_of(ctx, x, label)
    both = _factored_rows(ctx, [flat], rows, n, factors, columns, False, label)
    offset = columns * factors[1]
    real = last_axis_slice(ctx, both, 0, bins, f"{label}_real")
    if _sine_end(n) == 1:
        imag = ctx.unary("ZerosLike", real, label=f"{label}_imag")
    else:
        sine = last_axis_slice(ctx, both, offset + 1, offset + _sine_end(n), f"{label}_sine")
        pads = ctx.ints([[0, 0], [1, 1 if n % 2 == 0 else 0]], f"{label}_imag_paddings")
        imag = ctx.op("Pad", [sine, pads], {"Tpaddings": I32}, shape=(None, bins), label=f"{label}_imag")
    return _restored(ctx, real, x, bins, f"{label}_real_out"), _restored(ctx, imag, x, bins, f"{label}_imag_out")


def factored_complex_dft(ctx: LayerContext, real: Value, imag: Value, n: int, inverse: bool,
                         label: str) -> tuple[Value, Value]:
    """The complex DFT of length ``n`` (or its inverse, scaled by 1/n) of the last axis of a (real, imag) pair, in
    two stages (:func:`factored_matrices`)."""
    factors = dft_factors(n)
    assert factors is not None
    flat_re, rows = _rows_of(ctx, real, f"{label}_re")
    flat_im, _ = _rows_of(ctx, imag, f"{label}_im")
    both = _factored_rows(ctx, [flat_re, flat_im], rows, n, factors, factors[0], inverse, label)
    out = [last_axis_slice(ctx, both, 0, n, f"{label}_real"), last_axis_slice(ctx, both, n, None, f"{label}_imag")]
    return (_restored(ctx, out[0], real, n, f"{label}_real_out"), _restored(ctx, out[1], real, n, f"{label}_imag_out"))


def signal_frames(ctx: LayerContext, x: Value, length: int, step: int, label: str, spare: bool = False) -> Value:
    """``x`` (``(*lead, T)``) cut into frames of ``length`` every ``step`` samples, ``(*lead, frames, length)``: a
    GatherV2 of run-time indices (no arithmetic on the samples). A length known only at run time gives TF's count
    ``max(T − length + step, 0) // step``, 0 for a short signal (``spare``: ``x`` holds ``max(length, step)`` zeros
    more, and one frame more is gathered: wasm's kernels divide by zero over 0 frames); a known length shorter than
    a frame raises."""
    shape = ctx.shape(x)
    rank = len(shape)
    steps = shape[-1]
    if steps is not None:
        if steps < length:
            raise ValueError(f"a signal of {steps} samples, shorter than a frame of {length} (no frame)")
        frames: int | None = (steps - length) // step + 1
        count = ctx.ints(frames, f"{label}_count")
    else:
        frames = None
        size = runtime_size(ctx, x, rank - 1, f"{label}_length")
        offset = step - length - (max(length, step) if spare else 0)
        room = ctx.binary("AddV2", size, ctx.ints(offset, f"{label}_room_offset"), label=f"{label}_room")
        count = ctx.binary("FloorDiv", ctx.binary("Maximum", room, ctx.ints(0, f"{label}_zero"),
                                                  label=f"{label}_kept"), ctx.ints(step, f"{label}_step"),
                           label=f"{label}_count")
        if spare:
            count = ctx.binary("AddV2", count, ctx.ints(1, f"{label}_one"), label=f"{label}_with_spare")
    end = ctx.binary("Mul", count, ctx.ints(step, f"{label}_stride"), label=f"{label}_end")
    starts = ctx.op("Range", [ctx.ints(0, f"{label}_start"), end, ctx.ints(step, f"{label}_delta")], {"Tidx": I32},
                    dtype=I32, shape=(frames,), label=f"{label}_starts")
    starts = ctx.expand_dims(starts, 1, f"{label}_starts_column")
    index = ctx.binary("AddV2", starts, ctx.ints(np.arange(length)[None, :], f"{label}_offsets"),
                       label=f"{label}_index")
    return ctx.op("GatherV2", [x, index, ctx.ints(rank - 1, f"{label}_axis")],
                  {"Tparams": F32, "Tindices": I32, "Taxis": I32, "batch_dims": 0},
                  shape=(*shape[:-1], frames, length), label=f"{label}_frames")


def framed_rfft(ctx: LayerContext, x: Value, rows: int, n: int, window: np.ndarray | None, step: int,
                label: str) -> tuple[Value, Value]:
    """The rfft of length ``n`` (factored: :func:`dft_factors` must split it) of frames of ``rows ≤ n`` samples
    every ``step``, each times ``window[:rows]`` (as TF multiplies them, in float32) and zero-padded at the end to
    n (zeros appended after the product, never multiplied): the pair ``(*lead, frames, n//2+1)``."""
    spare = ctx.shape(x)[-1] is None  # maybe no frame at run time: one spare frame, cut off after
    if spare:
        pads = ctx.ints([[0, 0]] * (len(ctx.shape(x)) - 1) + [[0, max(rows, step)]], f"{label}_spare_paddings")
        x = ctx.op("Pad", [x, pads], {"Tpaddings": I32}, shape=ctx.shape(x), label=f"{label}_spare_samples")
    frames = signal_frames(ctx, x, rows, step, f"{label}_framing", spare)
    if window is not None:
        frames = ctx.binary("Mul", frames, f32_const(ctx, window[:rows], f"{label}_window"), label=f"{label}_windowed")
    if rows < n:
        shape = ctx.shape(frames)
        pads = ctx.ints([[0, 0]] * (len(shape) - 1) + [[0, n - rows]], f"{label}_frame_paddings")
        frames = ctx.op("Pad", [frames, pads], {"Tpaddings": I32}, shape=(*shape[:-1], n), label=f"{label}_padded")
    pair = factored_rfft(ctx, frames, n, label)
    return pair if not spare else tuple(_without_last_frame(ctx, part, f"{label}_{i}") for i, part in enumerate(pair))


def _without_last_frame(ctx: LayerContext, x: Value, label: str) -> Value:
    """``x[..., :-1, :]``: the spare frame cut off."""
    shape = ctx.shape(x)
    rank = len(shape)
    full = (1 << rank) - 1
    return ctx.op("StridedSlice", [x, ctx.ints([0] * rank, f"{label}_cut_begin"),
                                   ctx.ints([0] * (rank - 2) + [-1, 0], f"{label}_cut_end"),
                                   ctx.ints([1] * rank, f"{label}_cut_strides")],
                  {"Index": I32, "begin_mask": full, "end_mask": full & ~(1 << (rank - 2)), "ellipsis_mask": 0,
                   "new_axis_mask": 0, "shrink_axis_mask": 0}, shape=shape, label=f"{label}_spare_cut")
