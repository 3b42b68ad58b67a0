"""Complex tensors in op layers: tf_keras's ``tf.signal.stft`` spectrogram front ends (``tf.abs(stft(x))``).

TF.js's wasm backend has no complex kernels, so a complex64 Keras tensor is held as a pair of float32 Values (real,
imaginary): the walk sees one ``Complex(re, im)`` Value of dtype complex64 (a true TF node, which dead-code
elimination drops once nothing reads it), and this module keeps the pair behind it (:func:`complex_value`,
:func:`parts`). Only the op layers of :data:`COMPLEX_READERS` read such a tensor: ``abs`` (TF's hypot, scaled so it
neither overflows nor underflows), ``real``, ``imag``, ``angle``, ``conj``, ``square``, ``+ - ·``, a cast (to float32:
the real part, as TF does with a warning), Keras 3's ``view_as_real``, ``tf.signal.inverse_stft``, and functions that
only move values (reshape, transpose, slicing ...), run on each part. Complex tensors come from ``tf.signal.stft``,
``tf.complex`` and casts of float32 tensors to complex64. Every other reader, a Keras layer, and a complex model
output are gaps the walk names (:func:`complex_step`; ``model_walk``).

``tf.signal.stft`` follows TF: frames of ``frame_length`` every ``frame_step`` samples (``pad_end`` pads zeros at the
end: ``ceil(T/step)`` frames), TF's periodic hann window (or none), the real DFT of ``fft_length`` (the enclosing
power of 2 by default; frames cropped or zero-padded at the end), as one VALID Conv2D with the windowed cos/sin
kernel (:func:`.fourier.framed_dft`).
"""
from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..op_calls import TensorArg
from .fourier import (MAX_DFT_LENGTH, check_length, dft_factors, framed_dft, framed_rfft, irdft_read,
                      last_axis_slice, overlap_added, real_dft_kernel, real_dft_pair, tf_window)
from .op_layers import OpCall, OpSpec, _select, register_op_layers

F32, C64 = DType.FLOAT32, DType.COMPLEX64
#: Per graph, each complex64 Value held as a pair: ``id(value) -> (real, imag, value)`` (``value`` kept alive so its
#: id stays its own).
_COMPLEX: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

_ABS = frozenset({"math.abs", "abs", "Absolute", "Abs"})
_REAL = frozenset({"math.real", "real", "Real"})
_IMAG = frozenset({"math.imag", "imag", "Imag"})
_ANGLE = frozenset({"math.angle", "angle", "Angle"})
_CONJ = frozenset({"math.conj", "conj", "Conjugate", "Conj"})
_SQUARE = frozenset({"math.square", "square", "Square"})
_CAST = frozenset({"cast", "dtypes.cast", "Cast"})
_VIEW_AS_REAL = frozenset({"ViewAsReal"})
_ADD = frozenset({"math.add", "__operators__.add", "math.add_v2", "Add"})
_SUB = frozenset({"math.subtract", "__operators__.sub", "Subtract"})
_MUL = frozenset({"math.multiply", "__operators__.mul", "Multiply"})
_INVERSE_STFT = frozenset({"signal.inverse_stft"})
#: Functions that only move values (their other arguments are sizes, axes or slices): run on each part.
_MOVERS = frozenset({"reshape", "transpose", "compat.v1.transpose", "expand_dims", "squeeze", "compat.v1.squeeze",
                     "__operators__.getitem", "identity", "Reshape", "Transpose", "ExpandDims", "Squeeze", "GetItem"})
#: The op layers that read a complex tensor; any other is a gap.
COMPLEX_READERS = (_ABS | _REAL | _IMAG | _ANGLE | _CONJ | _SQUARE | _CAST | _VIEW_AS_REAL | _ADD | _SUB | _MUL |
                   _INVERSE_STFT | _MOVERS)


# -- the held pair -------------------------------------------------------------------------------------------
def complex_value(c: OpCall, real: Value, imag: Value, label: str = "complex") -> Value:
    """The complex64 Value of ``real + i·imag`` (float32 Values of one shape), the pair kept for its readers."""
    out = c.ctx.op("Complex", [real, imag], {"T": F32, "Tout": C64}, dtype=C64, shape=real.shape, label=label)
    _COMPLEX.setdefault(c.ctx.graph, {})[id(out)] = (real, imag, out)
    return out


def parts(c: OpCall, value: Value) -> tuple[Value, Value]:
    """The (real, imag) pair behind a complex64 Value; a complex tensor not made here (a model input) is a gap."""
    held = _COMPLEX.get(c.ctx.graph, {}).get(id(value))
    if held is None or held[2] is not value:
        raise c.gap("a complex64 tensor the lowering does not hold as (real, imag) parts (a complex model input)")
    return held[0], held[1]


def is_complex(value: Any) -> bool:
    return isinstance(value, Value) and value.dtype in (C64, DType.COMPLEX128)


# -- readers -------------------------------------------------------------------------------------------------
def complex_step(c: OpCall, spec: OpSpec) -> Value:
    """An op layer given a complex tensor: one of :data:`COMPLEX_READERS`, else a gap naming the function."""
    if any(v.dtype == DType.COMPLEX128 for v in c.ctx.inputs):
        raise c.gap("a complex128 tensor (TF.js has none)")
    if c.function not in COMPLEX_READERS:
        raise c.gap("a complex64 tensor (TF.js's wasm has no complex kernels: held as (real, imag) parts, which only "
                    "abs, real, imag, angle, conj, square, + - ·, cast, view_as_real, inverse_stft and value-moving "
                    "functions read)")
    if c.function in _MOVERS:
        return _moved(c, spec)
    if c.function in _ADD | _SUB | _MUL:
        return _arithmetic(c, spec)
    if c.function in _INVERSE_STFT:
        return _inverse_stft(c)
    real, imag = parts(c, c.tensor("x"))
    if c.function in _ABS:
        return complex_abs(c, real, imag)
    if c.function in _REAL:
        return c.ctx.unary("Identity", real, label="real")
    if c.function in _IMAG:
        return c.ctx.unary("Identity", imag, label="imag")
    if c.function in _ANGLE:
        return c.ctx.binary("Atan2", imag, real, label="angle")
    if c.function in _CONJ:
        return complex_value(c, real, c.ctx.unary("Neg", imag, label="imag_negated"), "conj")
    if c.function in _SQUARE:
        return _square(c, real, imag)
    if c.function in _VIEW_AS_REAL:
        return _stacked(c, real, imag)
    return _cast(c, real, imag)


def complex_abs(c: OpCall, real: Value, imag: Value) -> Value:
    """``|re + i·im|`` as TF's ComplexAbs (``std::abs``, a hypot): ``m·sqrt(1 + (s/m)²)`` with ``m``, ``s`` the larger
    and smaller magnitude, so parts past 1.8e19 (whose squares overflow float32) or below 1e-19 (whose squares
    underflow) keep their magnitude (``sqrt(re² + im²)`` gives Inf or 0 there); 0 where both are 0."""
    ctx = c.ctx
    a, b = ctx.unary("Abs", real, label="real_magnitude"), ctx.unary("Abs", imag, label="imag_magnitude")
    large, small = ctx.binary("Maximum", a, b, label="larger"), ctx.binary("Minimum", a, b, label="smaller")
    zero = _equal(c, large, ctx.floats(0.0, "zero"), "both_zero")
    ratio = ctx.binary("RealDiv", small, _select(c, zero, ctx.floats(1.0, "one"), large, "divisor"), label="ratio")
    root = ctx.unary("Sqrt", ctx.scalar_op("AddV2", ctx.unary("Square", ratio, label="ratio_squared"), 1.0,
                                           "one_plus"), label="root")
    scaled = ctx.binary("Mul", large, root, label="scaled")
    # hypot's special values, whatever each backend's Maximum/Minimum does with NaN: Inf if a part is ±Inf, else
    # NaN if a part is NaN
    total = ctx.binary("AddV2", a, b, label="total")
    nan = ctx.op("NotEqual", [total, total], {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=total.shape,
                 label="has_nan")
    inf = ctx.floats(np.inf, "inf")
    infinite = ctx.op("LogicalOr", [_equal(c, a, inf, "real_infinite"), _equal(c, b, inf, "imag_infinite")],
                      dtype=DType.BOOL, shape=total.shape, label="infinite")
    return _select(c, infinite, inf, _select(c, nan, total, scaled, "nan_kept"), "abs")


def _equal(c: OpCall, x: Value, y: Value, label: str) -> Value:
    return c.ctx.op("Equal", [x, y], {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=x.shape, label=label)


def _square(c: OpCall, real: Value, imag: Value) -> Value:
    """``(re + i·im)²`` as TF's complex Square (``x·x``): ``re² − im² + i·2·re·im``."""
    ctx = c.ctx
    re_sq = ctx.binary("Mul", real, real, label="real_squared")
    im_sq = ctx.binary("Mul", imag, imag, label="imag_squared")
    cross = ctx.binary("Mul", real, imag, label="cross")
    return complex_value(c, ctx.binary("Sub", re_sq, im_sq, label="square_real"),
                         ctx.binary("AddV2", cross, cross, label="square_imag"), "square")


def _arithmetic(c: OpCall, spec: OpSpec) -> Value:
    """``x + y``, ``x - y``, ``x · y`` with a complex operand, the other complex, float32 or a number: TF makes both
    complex64 and computes ``(a + ib)·(c + id) = (ac − bd) + i(ad + bc)`` (a real operand's imaginary part 0, so
    Inf/NaN spread as TF's do); sums and differences part by part."""
    (a, b), (p, q) = (_operand(c, name) for name in spec.params[:2])
    ctx = c.ctx
    if c.function in _MUL:
        real = ctx.binary("Sub", ctx.binary("Mul", a, p, label="ac"), ctx.binary("Mul", b, q, label="bd"),
                          label="product_real")
        imag = ctx.binary("AddV2", ctx.binary("Mul", a, q, label="ad"), ctx.binary("Mul", b, p, label="bc"),
                          label="product_imag")
        return complex_value(c, real, imag, "product")
    op = "AddV2" if c.function in _ADD else "Sub"
    return complex_value(c, ctx.binary(op, a, p, label="real"), ctx.binary(op, b, q, label="imag"), "sum")


def _operand(c: OpCall, name: str) -> tuple[Value, Value]:
    """An operand of complex arithmetic as (real, imag): a complex tensor's parts, a float32 tensor and 0, a number's
    parts as float32 constants."""
    argument = c.arguments.get(name)
    if isinstance(argument, TensorArg):
        value = c.ctx.inputs[argument.index]
        if value.dtype == C64:
            return parts(c, value)
        if value.dtype != F32:
            raise c.gap(f"a complex64 tensor with a {value.dtype.value} one")
        return value, c.ctx.floats(0.0, f"{name}_imag")
    number = np.asarray(c.value(name))
    if number.dtype.kind not in "biufc":
        raise c.gap(f"argument {name!r} ({str(number)[:40]})")
    return c.ctx.floats(number.real, f"{name}_real"), c.ctx.floats(number.imag, f"{name}_imag")


def _cast(c: OpCall, real: Value, imag: Value) -> Value:
    """A cast of a complex tensor: to complex64 itself, to float32 its real part (TF's cast drops the imaginary
    part, with a warning); to other dtypes a gap."""
    try:
        dtype = DType.from_any(str(c.value("dtype")))
    except TypeError:
        raise c.gap(f"dtype {c.value('dtype')!r}") from None
    if dtype == C64:
        return complex_value(c, real, imag, "cast")
    if dtype != F32:
        raise c.gap(f"a cast of a complex64 tensor to {dtype.value}")
    return c.ctx.unary("Identity", real, label="real_part")


def _moved(c: OpCall, spec: OpSpec) -> Value:
    """A value-moving function of a complex tensor: its own lowering run on the real part, then on the imaginary
    part (nodes named ``…/real/…`` and ``…/imag/…``), the results paired; ``transpose(conjugate=True)`` negates the
    imaginary part."""
    ctx = c.ctx
    index = next(i for i, v in enumerate(ctx.inputs) if v.dtype == C64)
    real, imag = parts(c, ctx.inputs[index])
    if any(v.dtype == C64 for i, v in enumerate(ctx.inputs) if i != index):
        raise c.gap("two complex64 tensors")
    conjugate = c.arguments.get("conjugate") is True
    inputs, name, results = list(ctx.inputs), ctx.name, []
    try:
        for part, value in (("real", real), ("imag", imag)):
            ctx.inputs = [value if i == index else v for i, v in enumerate(inputs)]
            ctx.name = f"{name}/{part}"
            out = spec.lower(c)
            if not isinstance(out, Value) or out.dtype != F32:
                raise c.gap("a complex64 tensor moved into several tensors")
            results.append(out)
    finally:
        ctx.inputs, ctx.name = inputs, name
    if conjugate:
        results[1] = ctx.unary("Neg", results[1], label="imag_conjugated")
    return complex_value(c, results[0], results[1], "moved")


# -- making complex tensors ---------------------------------------------------------------------------------
def as_complex(c: OpCall, x: Value) -> Value:
    """A cast of a float32 tensor to complex64 (``x + 0i``)."""
    if x.dtype != F32:
        raise c.gap(f"a cast of a {x.dtype.value} tensor to complex64 (lowered for float32)")
    return complex_value(c, x, c.ctx.unary("ZerosLike", x, label="imag_zero"), "as_complex")


def _complex(c: OpCall) -> Value:
    """``tf.complex(real, imag)`` of float32 tensors of one shape."""
    real, imag = c.tensor("real"), c.tensor("imag", like=c.tensor("real"))
    if real.dtype != F32 or imag.dtype != F32:
        raise c.gap(f"parts of dtypes {real.dtype.value} and {imag.dtype.value} (lowered for float32)")
    if real.shape is None or real.shape != imag.shape or list(real.shape).count(None) > 1:
        raise c.gap(f"parts of shapes {real.shape} and {imag.shape} (lowered for one shape, batch aside)")
    return complex_value(c, real, imag)


def _stacked(c: OpCall, real: Value, imag: Value) -> Value:
    """Keras 3's ``view_as_real``: ``stack([real, imag], axis=-1)``."""
    shape = None if real.shape is None else (*real.shape, 2)
    rank = len(c.ctx.shape(real))
    return c.ctx.op("Pack", [real, imag], {"N": 2, "axis": rank}, shape=shape, label="view_as_real")


def _view_as_real(c: OpCall) -> Value:
    """``view_as_real`` of a real tensor: Keras stacks its real part and its zero imaginary part."""
    x = c.tensor("x")
    if x.dtype != F32:
        raise c.gap(f"a {x.dtype.value} tensor (lowered for float32 and complex64)")
    return _stacked(c, x, c.ctx.unary("ZerosLike", x, label="imag_zero"))


# -- tf.signal.stft ------------------------------------------------------------------------------------------
def _frame_lengths(c: OpCall) -> tuple[int, int, int]:
    """``frame_length``, ``frame_step`` and ``fft_length`` of a tf.signal (inverse) stft call (``fft_length`` by default
    the smallest power of 2 holding a frame, as TF's); a value out of range is a gap."""
    try:
        length = check_length("frame_length", c.value("frame_length"))
        step = check_length("frame_step", c.value("frame_step"), high=2**31 - 1)
        given = c.value("fft_length", None)
        n = check_length("fft_length", given) if given is not None else 1 << (length - 1).bit_length()
        if n > MAX_DFT_LENGTH:
            raise ValueError(f"fft_length={n} (lowered up to {MAX_DFT_LENGTH})")
    except ValueError as err:
        raise c.gap(str(err)) from None
    return length, step, n


def _stft(c: OpCall) -> Value:
    """``tf.signal.stft(signals, frame_length, frame_step, fft_length, window_fn, pad_end)`` of a float32 signal:
    the complex64 ``(*lead, frames, fft_length//2+1)`` held as parts."""
    x = c.tensor("signals")
    if x.dtype != F32:
        raise c.gap(f"a {x.dtype.value} signal (lowered for float32)")
    length, step, n = _frame_lengths(c)
    pad_end = c.value("pad_end", False)
    if not isinstance(pad_end, bool):
        raise c.gap(f"pad_end={pad_end!r}")
    window = _window(c, length)
    rows = min(length, n)  # TF's rfft crops a frame longer than fft_length, pads a shorter one with zeros at the end
    if dft_factors(n) is not None:
        return _factored_stft(c, x, rows, step, n, window, pad_end, length)
    # bins 0 and n/2 get exactly +0 imaginary parts, as TF's FFT gives whatever the samples (angle's branch cut)
    kernel = real_dft_kernel(rows, n)
    if window is not None:
        kernel *= window[:rows, None]
    # frames of ``rows`` taps over a signal without its last ``length - rows`` samples: the same frames, and the
    # samples TF's rfft crops off are never multiplied (by a zero row, an Inf there would give NaN)
    signal = _padded_end(c, x, rows) if pad_end else _cropped_end(c, x, length - rows)
    try:
        spectrum = framed_dft(c.ctx, signal, kernel, step, "stft")
    except ValueError as err:
        raise c.gap(str(err)) from None
    return complex_value(c, *real_dft_pair(c.ctx, spectrum, n, "stft"), "stft")


def _factored_stft(c: OpCall, x: Value, rows: int, step: int, n: int, window: np.ndarray | None, pad_end: bool,
                   length: int) -> Value:
    """:func:`_stft` for an ``fft_length`` :func:`.fourier.dft_factors` splits: the frames gathered, windowed and
    padded as TF does, then the two-stage rfft (:func:`.fourier.framed_rfft`)."""
    signal = _padded_end(c, x, rows) if pad_end else _cropped_end(c, x, length - rows)
    try:
        pair = framed_rfft(c.ctx, signal, rows, n, window, step, "stft")
    except ValueError as err:
        raise c.gap(str(err)) from None
    return complex_value(c, *pair, "stft")


def _window(c: OpCall, length: int) -> np.ndarray | None:
    """TF's periodic hann window of ``length`` samples (``window_fn``'s default), or None for ``window_fn=None`` (no
    window). tf_keras saves another window function as its bare name (``'hamming_window'``), which it cannot load back
    (``'str' object is not callable``) and which a user function of that name would share: a gap."""
    if "window_fn" not in c.arguments:
        return tf_window("hann", length, length)
    recorded = c.arguments["window_fn"]
    if recorded is not None:
        raise c.gap(f"window_fn={str(recorded)[:40]!r} (tf_keras saves a window function by its name only, and "
                    "cannot load it back; lowered: the default hann window, None)")
    return None


def _padded_end(c: OpCall, x: Value, length: int) -> Value:
    """``x`` with ``length − 1`` zeros after its last axis: a VALID framing then gives ``ceil(T/step)`` frames of
    the zeros TF's ``frame(pad_end=True)`` pads with (it pads fewer, never read past the last frame)."""
    return _zeros_after(c, x, length - 1, "pad_end")


def _zeros_after(c: OpCall, x: Value, count: int, label: str) -> Value:
    """``x`` with ``count`` zeros appended to its last axis."""
    ctx = c.ctx
    shape = ctx.shape(x)
    if count == 0:
        return x
    pads = ctx.ints([[0, 0]] * (len(shape) - 1) + [[0, count]], f"{label}_paddings")
    size = None if shape[-1] is None else shape[-1] + count
    return ctx.op("Pad", [x, pads], {"Tpaddings": DType.INT32}, shape=(*shape[:-1], size), label=label)


def _cropped_end(c: OpCall, x: Value, count: int) -> Value:
    """``x`` without its last ``count`` samples (all of them if it has fewer)."""
    return x if count == 0 else last_axis_slice(c.ctx, x, 0, -count, "cropped_end")


def _inverse_stft(c: OpCall) -> Value:
    """``tf.signal.inverse_stft(stfts, frame_length, frame_step, fft_length, window_fn)``: each frame's ``irfft`` of
    ``fft_length`` (the bins cropped or zero-padded to ``fft_length//2+1``), cropped or zero-padded at the end to
    ``frame_length``, times the window (hann by default, or none), overlap-added ``frame_step`` apart: one
    Conv2DBackpropInput of the frames' parts side by side with the windowed inverse DFT (:func:`.fourier.overlap_added`)."""
    real, imag = parts(c, c.tensor("stfts"))
    length, step, n = _frame_lengths(c)
    bins = c.ctx.shape(real)[-1]
    if bins is None or len(c.ctx.shape(real)) < 2:
        raise c.gap("stfts of unknown bins or rank below 2")
    used = min(bins, n // 2 + 1)  # irfft crops the bins past fft_length//2+1 (fewer are zero-padded)
    frames, kernel = irdft_read(c.ctx, real, imag, used, n, "stfts")  # the parts irfft ignores left out
    columns = min(n, length)  # the frame cropped to frame_length, or zero-padded to it at the end
    kernel = kernel[:, :columns]
    window = _window(c, length)
    if window is not None:
        kernel = kernel * window[None, :columns]
    signal = overlap_added(c.ctx, frames, kernel, step, "inverse_stft")
    # TF's zero padding of each frame to frame_length is zeros whatever the frame holds: appended, not computed
    return _zeros_after(c, signal, length - columns, "frame_padding")


def _real_inverse_stft(c: OpCall) -> Value:
    raise c.gap(f"a {c.tensor('stfts').dtype.value} stfts tensor (TensorFlow needs complex64)")


register_op_layers(
    keras_ops={("ViewAsReal",): OpSpec(("x",), _view_as_real)},
    tf_functions={
        ("dtypes.complex", "complex"): OpSpec(("real", "imag", "name"), _complex),
        ("signal.inverse_stft",): OpSpec(("stfts", "frame_length", "frame_step", "fft_length", "window_fn", "name"),
                                         _real_inverse_stft),
        ("signal.stft",): OpSpec(("signals", "frame_length", "frame_step", "fft_length", "window_fn", "pad_end",
                                  "name"), _stft),
    })

__all__ = ["COMPLEX_READERS", "as_complex", "complex_abs", "complex_step", "complex_value", "is_complex", "parts"]
