"""Window functions, DFT, STFT and MelWeightMatrix, as arithmetic and MatMuls every backend runs.

TF.js's FFT kernels need complex64 tensors, which wasm cannot hold (no Complex kernel), so a DFT of a
length known at conversion time is a MatMul with constant cos/sin matrices instead (exact up to
float32 rounding; cheap at the lengths audio front-ends use). ONNX's complex layout (a trailing axis of
1 = real or 2 = real, imaginary) is kept as two real tensors in between. Window sizes and mel
parameters may be computed at run time: the formulas are built in the graph.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from ..dtypes import ir_dtype, onnx_elem_to_numpy
from ..mapping import onnx_op
from .common import norm_axis
from .composing import BOOL, F32, I32, Builder

_ONNX_FLOAT = 1


def _output_dtype(ctx: NodeContext) -> DType:
    dtype = ir_dtype(onnx_elem_to_numpy(int(ctx.attr("output_datatype", _ONNX_FLOAT))))
    if dtype not in (F32, I32):
        raise ctx.error(f"output_datatype {dtype} is not supported (float32 and int32 are)")
    return dtype


def _scalar_input(b: Builder, ctx: NodeContext, i: int, dtype: DType) -> Value:
    """Scalar input ``i`` (any shape holding one value) cast to ``dtype``."""
    return b.cast(b.reshape(ctx.input(i), []), dtype)


# -- windows ---------------------------------------------------------------------------------------
_WINDOWS = {  # name -> cosine-series coefficients a_k: w[n] = sum_k a_k cos(2 pi k n / N)
    "HannWindow": (0.5, -0.5),
    "HammingWindow": (25.0 / 46.0, -(1 - 25.0 / 46.0)),
    "BlackmanWindow": (0.42, -0.5, 0.08),
}


@onnx_op("HannWindow", "HammingWindow", "BlackmanWindow", since=17)
def window(ctx: NodeContext) -> Value | np.ndarray:
    coefficients = _WINDOWS[ctx.op_type]
    periodic = bool(ctx.attr("periodic", 1))
    dtype = _output_dtype(ctx)
    size = ctx.const(0)
    if size is not None:  # known length: a constant
        count = int(np.asarray(size).reshape(-1)[0])
        n = np.arange(count, dtype=np.float64)
        denominator = count if periodic else count - 1
        values = sum(a * np.cos(2 * np.pi * k * n / denominator) for k, a in enumerate(coefficients))
        return np.asarray(values).astype(dtype.numpy)
    b = Builder(ctx)
    count = _scalar_input(b, ctx, 0, I32)
    n = b.range_f32(count)
    denominator = b.cast(count, F32) if periodic else b.sub(b.cast(count, F32), b.f32(1.0))
    phase = b.div(b.mul(n, b.f32(2 * np.pi)), denominator)
    out = b.f32(coefficients[0])
    for k, a in enumerate(coefficients[1:], start=1):
        angle = phase if k == 1 else b.mul(phase, b.f32(float(k)))
        out = b.add(out, b.mul(b.f32(a), b.unary("Cos", angle)))
    return b.cast(out, dtype)


# -- DFT -------------------------------------------------------------------------------------------
def _dft_matrices(n: int, length: int, inverse: bool, onesided: bool, bins: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """(cos, sin) matrices [n, out] so that (re, im) = (xr·C - xi·S·sign, …) and the output length.

    Forward: X_k = sum_t x_t e^{-2 pi i k t / L}; inverse: x_t = 1/L sum_k X_k e^{+2 pi i k t / L}.
    Inputs past ``length`` are cut (truncation); missing ones are zeros (padding) and need no rows.
    """
    if inverse and onesided:  # irfft: n one-sided bins -> length real samples, bins mirrored
        used = min(n, length // 2 + 1)
        k = np.arange(n, dtype=np.float64)[:, None]
        t = np.arange(length, dtype=np.float64)[None, :]
        weight = np.where((k == 0) | ((length % 2 == 0) & (k == length // 2)), 1.0, 2.0)
        weight = np.where(k < used, weight, 0.0) / length
        angle = 2 * np.pi * k * t / length
        return weight * np.cos(angle), weight * np.sin(angle), length
    out = length // 2 + 1 if onesided else length
    t = np.arange(n, dtype=np.float64)[:, None]
    k = np.arange(out, dtype=np.float64)[None, :]
    keep = np.where(t < length, 1.0, 0.0) / (length if inverse else 1.0)
    angle = 2 * np.pi * k * t / length
    return keep * np.cos(angle), keep * np.sin(angle), out


def dft_last_axis(b: Builder, real: Value, imag: Value | None, n: int, length: int, *, inverse: bool,
                  onesided: bool, rank: int) -> tuple[Value, Value | None]:
    """The DFT of ``real + i·imag`` (rank ``rank``, transform axis last, ``n`` long): (real, imag) parts;
    imag is None for an inverse one-sided (real) result."""
    cos, sin, out = _dft_matrices(n, length, inverse, onesided)
    lead = b.slice_axis(b.shape(real), 1, 0, 0, rank - 1)
    flat_r = b.reshape(real, [-1, n])
    flat_i = None if imag is None else b.reshape(imag, [-1, n])
    sign = 1.0 if inverse else -1.0

    def mm(x: Value, m: np.ndarray) -> Value:
        return b.op("MatMul", [x, b.f32(m.astype(np.float32), "dft_matrix")], {"transpose_a": False,
                                                                                "transpose_b": False}, label="dft")

    if inverse and onesided:  # real output: sum Xr cos - Xi sin
        y = mm(flat_r, cos)
        if flat_i is not None:
            y = b.sub(y, mm(flat_i, sin))
        parts: list[Value | None] = [y, None]
    else:  # re = xr cos - sign' ..., with e^{sign i angle}: re = xr cos - s xi sin, im = s xr sin + xi cos
        re = mm(flat_r, cos)
        im = mm(flat_r, sin * sign)
        if flat_i is not None:
            re = b.sub(re, mm(flat_i, sin * sign))
            im = b.add(im, mm(flat_i, cos))
        parts = [re, im]
    shape = b.concat([lead, b.i32([out], "bins")], 0)
    return tuple(None if p is None else b.reshape(p, shape) for p in parts)  # type: ignore[return-value]


def _split_complex(b: Builder, x: Value, rank: int, channels: int) -> tuple[Value, Value | None]:
    real = b.take(x, 0, rank - 1)
    return real, (b.take(x, 1, rank - 1) if channels == 2 else None)


def _runtime_matrices(b: Builder, n: Value, length: Value, inverse: bool, onesided: bool
                      ) -> tuple[Value, Value, Value]:
    """:func:`_dft_matrices` built in the graph for an input length ``n`` and DFT length only known at run
    time (int32 scalars): the angle index ``t·k mod L`` is exact integer arithmetic, then one float32 scaling."""
    two = b.i32(2, "two")
    half_plus = b.op("AddV2", [b.op("FloorDiv", [length, two], dtype=I32, label="half_len"), b.i32(1, "one")],
                     dtype=I32, label="half_plus")
    rows = n
    cols = length if inverse and onesided else (half_plus if onesided else length)
    r = b.reshape(b.op("Range", [b.i32(0, "r0"), rows, b.i32(1, "r1")], {"Tidx": I32}, dtype=I32, label="rows"),
                  [-1, 1])
    c = b.reshape(b.op("Range", [b.i32(0, "c0"), cols, b.i32(1, "c1")], {"Tidx": I32}, dtype=I32, label="cols"),
                  [1, -1])
    index = b.op("FloorMod", [b.op("Mul", [r, c], dtype=I32, label="rc"), length], dtype=I32, label="angle_index")
    # fold to (-L/2, L/2]: angles within ±pi, where approximate GPU sin/cos (webgl) are most accurate
    index = b.select(b.compare("Greater", b.op("Mul", [index, two], dtype=I32, label="twice_index"), length),
                     b.op("Sub", [index, length], dtype=I32, label="index_m_len"), index)
    length_f = b.cast(length, F32)
    angle = b.div(b.mul(b.cast(index, F32), b.f32(2 * np.pi)), length_f)
    ones = b.op("OnesLike", [angle], label="ones")
    rows_f = b.cast(r, F32)
    if inverse and onesided:  # row k is a one-sided bin: weight 1 (DC, Nyquist), 2 (others), 0 past L//2
        is_edge = b.op("LogicalOr", [b.compare("Equal", r, b.i32(0, "zero")),
                                     b.op("LogicalAnd", [b.compare("Equal", b.op("FloorMod", [length, two], dtype=I32,
                                                                                  label="odd"), b.i32(0, "even")),
                                                         b.compare("Equal", b.op("Mul", [r, two], dtype=I32,
                                                                                 label="twice"), length)],
                                          dtype=BOOL, label="nyquist")], dtype=BOOL, label="edge_bin")
        weight = b.select(is_edge, ones, b.mul(ones, b.f32(2.0)))
        weight = b.mul(weight, b.cast(b.compare("Less", r, half_plus), F32))
        weight = b.div(weight, length_f)
    else:  # row t is an input sample: cut past L; 1/L for the inverse
        weight = b.mul(ones, b.cast(b.compare("Less", rows_f, length_f), F32))
        if inverse:
            weight = b.div(weight, length_f)
    return b.mul(weight, b.unary("Cos", angle)), b.mul(weight, b.unary("Sin", angle)), cols


def _dft_at_run_time(ctx: NodeContext, b: Builder, real: Value, imag: Value | None, axis: Value,
                     length: Value | None, inner: int, inverse: bool, onesided: bool) -> tuple[Value, Value | None]:
    """The DFT along a run-time ``axis`` of the rank-``inner`` parts: a run-time Transpose swaps it last."""
    axis = b.op("FloorMod", [axis, b.i32(inner + 1, "rank")], dtype=I32, label="axis_norm")
    positions = b.i32(list(range(inner)), "positions")
    last = b.i32(inner - 1, "last")
    perm = b.select(b.compare("Equal", positions, axis), b.op("AddV2", [b.op("Mul", [positions, b.i32(0, "z")],
                                                                             dtype=I32, label="zeros"), last],
                                                              dtype=I32, label="lasts"),
                    b.select(b.compare("Equal", positions, last),
                             b.op("AddV2", [b.op("Mul", [positions, b.i32(0, "z2")], dtype=I32, label="zeros2"),
                                            axis], dtype=I32, label="axes"), positions))

    def swap(v: Value | None) -> Value | None:
        return None if v is None else b.op("Transpose", [v, perm], {"Tperm": I32}, dtype=F32, label="swap")

    real, imag = swap(real), swap(imag)
    shape = b.shape(real)
    n = b.take(shape, inner - 1, 0)
    if length is None:
        length = (b.op("Mul", [b.op("Sub", [n, b.i32(1, "one")], dtype=I32, label="n_m1"), b.i32(2, "two")],
                       dtype=I32, label="irfft_len") if inverse and onesided else n)
    cos, sin, cols = _runtime_matrices(b, n, length, inverse, onesided)
    target = b.pack([b.i32(-1, "all"), n], 0)
    flat_r = b.reshape(real, target)
    flat_i = None if imag is None else b.reshape(imag, target)

    def mm(x: Value, m: Value) -> Value:
        return b.op("MatMul", [x, m], {"transpose_a": False, "transpose_b": False}, label="dft")

    sign = 1.0 if inverse else -1.0
    if inverse and onesided:
        re = mm(flat_r, cos)
        if flat_i is not None:
            re = b.sub(re, mm(flat_i, sin))
        im = None
    else:
        signed_sin = b.mul(sin, b.f32(sign))
        re, im = mm(flat_r, cos), mm(flat_r, signed_sin)
        if flat_i is not None:
            re, im = b.sub(re, mm(flat_i, signed_sin)), b.add(im, mm(flat_i, cos))
    out_shape = b.concat([b.slice_axis(shape, 1, 0, 0, inner - 1), b.reshape(cols, [1])], 0)
    re = swap(b.reshape(re, out_shape))
    return re, (None if im is None else swap(b.reshape(im, out_shape)))


@onnx_op("DFT", since=17)
def dft(ctx: NodeContext) -> Value:
    rank = ctx.rank(0)
    dims = ctx.shape(0)
    if dims is None or dims[-1] not in (1, 2):
        raise ctx.error("the DFT needs its real/complex (last) axis' size at conversion time")
    if ctx.dtype(0) != F32:
        raise ctx.error(f"DFT of {ctx.dtype(0)} data is not supported (float32 is)")
    inverse, onesided = bool(ctx.attr("inverse", 0)), bool(ctx.attr("onesided", 0))
    b = Builder(ctx)
    inner = rank - 1  # rank of each part
    axis_runtime = ctx.opset >= 20 and ctx.has_input(2) and ctx.const(2) is None
    length_runtime = ctx.has_input(1) and ctx.const(1) is None
    if ctx.opset >= 20:
        axis_value = ctx.const(2) if ctx.has_input(2) else np.asarray(-2)
        axis = None if axis_value is None else int(np.asarray(axis_value).reshape(-1)[0])
    else:
        axis = int(ctx.attr("axis", 1))
    if axis is not None:
        axis = norm_axis(ctx, axis, rank)
        if axis == rank - 1:
            raise ctx.error("the DFT axis cannot be the last (real/imaginary) axis")
    real, imag = _split_complex(b, ctx.input(0), rank, int(dims[-1]))
    if axis_runtime or length_runtime or dims[axis] is None:  # type: ignore[index]
        axis_v = (b.cast(b.reshape(ctx.input(2), []), I32) if axis_runtime else b.i32(int(axis), "axis"))
        length_v = None
        if ctx.has_input(1):
            length_v = (b.cast(b.reshape(ctx.input(1), []), I32) if length_runtime
                        else b.i32(int(np.asarray(ctx.const(1)).reshape(-1)[0]), "dft_length"))
        re, im = _dft_at_run_time(ctx, b, real, imag, axis_v, length_v, inner, inverse, onesided)
    else:
        n = int(dims[axis])  # type: ignore[index]
        if ctx.has_input(1):
            length = int(np.asarray(ctx.const(1)).reshape(-1)[0])
        else:
            length = 2 * (n - 1) if inverse and onesided else n
        if length < 1:
            raise ctx.error(f"dft_length {length} must be positive")
        order = [a for a in range(inner) if a != axis] + [axis]  # move the transformed axis last
        back = [order.index(a) for a in range(inner)]
        moved = order != list(range(inner))

        def to_last(v: Value | None) -> Value | None:
            if v is None or not moved:
                return v
            return b.op("Transpose", [v, b.i32(order, "perm")], {"Tperm": I32}, dtype=F32, label="axis_last")

        def from_last(v: Value | None) -> Value | None:
            if v is None or not moved:
                return v
            return b.op("Transpose", [v, b.i32(back, "perm")], {"Tperm": I32}, dtype=F32, label="axis_back")

        re, im = dft_last_axis(b, to_last(real), to_last(imag), n, length, inverse=inverse, onesided=onesided,
                               rank=inner)
        re, im = from_last(re), from_last(im)
    if im is None:
        return ctx.op("ExpandDims", [re, ctx.int32(-1, label="channel_axis")], dtype=F32)
    return ctx.op("Pack", [re, im], {"N": 2, "axis": -1, "T": F32}, dtype=F32)


# -- STFT ------------------------------------------------------------------------------------------
@onnx_op("STFT", since=17)
def stft(ctx: NodeContext) -> Value:
    """Frames gathered from the signal (GatherV2), weighted by the window, then a one-axis DFT. A frame
    length known only at run time builds the frame indices and the DFT matrices in the graph."""
    dims = ctx.shape(0)
    if dims is None or len(dims) != 3 or dims[1] is None or dims[2] not in (1, 2):
        raise ctx.error("STFT needs a [batch, length, 1|2] signal of static length")
    if ctx.dtype(0) != F32:
        raise ctx.error(f"STFT of {ctx.dtype(0)} signals is not supported (float32 is)")
    n, channels = int(dims[1]), int(dims[2])
    window_shape = ctx.shape(2) if ctx.has_input(2) else None
    length: int | None = None
    if window_shape is not None and window_shape[0] is not None:
        length = int(window_shape[0])
    elif ctx.has_input(3) and ctx.const(3) is not None:
        length = int(np.asarray(ctx.const(3)).reshape(-1)[0])
    elif not ctx.has_input(2) and not ctx.has_input(3):
        length = n
    onesided = bool(ctx.attr("onesided", 1))
    b = Builder(ctx)
    length_v = b.i32(length, "frame_length") if length is not None else (
        _scalar_input(b, ctx, 3, I32) if ctx.has_input(3) else b.take(b.shape(ctx.input(2)), 0, 0))
    step = ctx.const(1)
    if step is not None and length is not None:
        hop = int(np.asarray(step).reshape(-1)[0])
        frames = 1 + (n - length) // hop
        index = b.i32(np.arange(frames)[:, None] * hop + np.arange(length)[None, :], "frame_index")
    else:  # frames = 1 + (n - L) // step, starts = range(frames) * step
        hop_i = _scalar_input(b, ctx, 1, I32)
        span = b.op("Sub", [b.i32(n, "n"), length_v], dtype=I32, label="span")
        frames_i = b.op("AddV2", [b.op("FloorDiv", [span, hop_i], dtype=I32, label="steps"), b.i32(1, "one")],
                        dtype=I32, label="frames")
        starts = b.op("Mul", [b.op("Range", [b.i32(0, "start"), frames_i, b.i32(1, "delta")], {"Tidx": I32},
                                   dtype=I32, label="frame_no"), hop_i], dtype=I32, label="starts")
        offsets = b.reshape(b.op("Range", [b.i32(0, "o0"), length_v, b.i32(1, "o1")], {"Tidx": I32}, dtype=I32,
                                 label="offsets"), [1, -1])
        index = b.op("AddV2", [b.reshape(starts, [-1, 1]), offsets], dtype=I32, label="frame_index")
    signal = ctx.input(0)
    framed = b.take(signal, index, 1)  # [B, F, L, c]
    real, imag = _split_complex(b, framed, 4, channels)  # [B, F, L]
    if ctx.has_input(2):
        weights = b.reshape(b.cast(ctx.input(2), F32), [1, 1, -1])
        real = b.mul(real, weights)
        imag = None if imag is None else b.mul(imag, weights)
    if imag is not None and onesided:
        raise ctx.error("onesided=1 needs a real signal")
    if length is None:
        re, im = _dft_at_run_time(ctx, b, real, imag, b.i32(2, "frame_axis"), length_v, 3, False, onesided)
    else:
        re, im = dft_last_axis(b, real, imag, length, length, inverse=False, onesided=onesided, rank=3)
    return ctx.op("Pack", [re, im], {"N": 2, "axis": -1, "T": F32}, dtype=F32)


# -- MelWeightMatrix ---------------------------------------------------------------------------------
@onnx_op("MelWeightMatrix", since=17)
def mel_weight_matrix(ctx: NodeContext) -> Value:
    """Triangular filters over the one-sided spectrum: [dft_length // 2 + 1, num_mel_bins]."""
    dtype = _output_dtype(ctx)
    b = Builder(ctx)
    mels = _scalar_input(b, ctx, 0, I32)
    length = _scalar_input(b, ctx, 1, I32)
    rate = _scalar_input(b, ctx, 2, F32)
    low, high = _scalar_input(b, ctx, 3, F32), _scalar_input(b, ctx, 4, F32)
    log10 = float(np.log(10.0))

    def to_mel(hz: Value) -> Value:
        return b.div(b.mul(b.f32(2595.0), b.unary("Log1p", b.div(hz, b.f32(700.0)))), b.f32(log10))

    low_mel, high_mel = to_mel(low), to_mel(high)
    edges = b.op("AddV2", [mels, b.i32(2, "two")], dtype=I32, label="edges")
    step = b.div(b.sub(high_mel, low_mel), b.cast(edges, F32))
    mel = b.add(b.mul(b.range_f32(edges), step), low_mel)
    hz = b.mul(b.f32(700.0), b.unary("Expm1", b.mul(b.div(mel, b.f32(2595.0)), b.f32(log10))))
    bins = b.unary("Floor", b.div(b.mul(b.cast(b.op("AddV2", [length, b.i32(1, "one")], dtype=I32, label="len1"),
                                                    F32), hz), rate))  # [M + 2]
    count = b.op("Sub", [edges, b.i32(2, "two")], dtype=I32, label="count")
    lo = b.reshape(b.op("Slice", [bins, b.i32([0], "b0"), b.pack([count], 0)], {"Index": I32}, dtype=F32,
                        label="lo"), [1, -1])
    mid = b.reshape(b.op("Slice", [bins, b.i32([1], "b1"), b.pack([count], 0)], {"Index": I32}, dtype=F32,
                         label="mid"), [1, -1])
    hi = b.reshape(b.op("Slice", [bins, b.i32([2], "b2"), b.pack([count], 0)], {"Index": I32}, dtype=F32,
                        label="hi"), [1, -1])
    spectrum = b.op("AddV2", [b.op("FloorDiv", [length, b.i32(2, "half")], dtype=I32, label="half_len"),
                              b.i32(1, "one")], dtype=I32, label="spectrum_bins")
    j = b.reshape(b.range_f32(spectrum), [-1, 1])  # [S, 1]
    rising = b.div(b.sub(j, lo), b.sub(mid, lo))
    rising = b.select(b.compare("Equal", mid, lo), b.op("OnesLike", [rising], label="ones"), rising)
    in_rise = b.op("LogicalAnd", [b.compare("GreaterEqual", j, lo), b.compare("LessEqual", j, mid)], dtype=BOOL,
                   label="in_rise")
    in_fall = b.op("LogicalAnd", [b.compare("GreaterEqual", j, mid), b.compare("Less", j, hi)], dtype=BOOL,
                   label="in_fall")
    falling = b.div(b.sub(hi, j), b.sub(hi, mid))
    zeros = b.op("ZerosLike", [rising], label="zeros")
    out = b.select(in_fall, falling, b.select(in_rise, rising, zeros))
    return b.cast(out, dtype)
