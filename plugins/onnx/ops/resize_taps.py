"""ONNX Resize with sizes known at conversion time, as per-axis gathers and weights (any mode, any axes).

Resize is separable: along one axis it is a linear map ``y = M x`` whose [out, in] matrix follows from
the mode (nearest, linear, cubic), the coordinate transform, ``nearest_mode``, ``cubic_coeff_a``,
``exclude_outside`` and ``antialias``. The frontend computes M with onnxruntime's arithmetic
(coordinates in float32, the integer output length in ``align_corners``) and applies it as a few
GatherV2s along the axis, each times a weight vector: exact, on every backend, in any layout. Used
when TF.js's own ResizeBilinear / ResizeNearestNeighbor rules do not give ONNX's answer.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from .. import layout
from ..context import Laid, NodeContext

F32, I32 = DType.FLOAT32, DType.INT32


@dataclasses.dataclass(frozen=True)
class Interpolation:
    """The attributes of one Resize that decide its per-axis weights."""

    mode: str  # nearest | linear | cubic
    transform: str
    nearest_mode: str = "round_prefer_floor"
    cubic_a: float = -0.75
    exclude_outside: bool = False
    antialias: bool = False
    extrapolation: float = 0.0


def source_coords(out: int, size: int, scale: float, transform: str, roi: tuple[float, float] | None
                  ) -> np.ndarray:
    """ONNX's source coordinate of every output index along one axis, in float32 as onnxruntime computes it."""
    f = np.float32
    x = np.arange(out, dtype=f)
    s = f(scale)
    if transform == "half_pixel":
        return (x + f(0.5)) / s - f(0.5)
    if transform == "pytorch_half_pixel":
        return (x + f(0.5)) / s - f(0.5) if out > 1 else np.zeros(out, f)
    if transform == "align_corners":
        return x * f(size - 1) / f(out - 1) if out > 1 else np.zeros(out, f)
    if transform == "asymmetric":
        return x / s
    if transform == "tf_half_pixel_for_nn":
        return (x + f(0.5)) / s
    if transform == "half_pixel_symmetric":
        return _half_pixel_symmetric(x, out, size, s)
    if transform == "tf_crop_and_resize":
        start, end = (f(v) for v in roi)  # type: ignore[union-attr]
        if out > 1:
            return x * (end - start) * f(size - 1) / f(out - 1) + start * f(size - 1)
        return np.full(out, (end - start) * f(size - 1) / f(2) + start * f(size - 1), f)
    raise ValueError(transform)


def _half_pixel_symmetric(x: np.ndarray, out: int, size: int, scale: np.float32) -> np.ndarray:
    """half_pixel_symmetric's source coordinates as onnxruntime rounds them: the offset ``size / 2 * (1 - out /
    (scale * size))`` in float32, then ``offset + (x + 0.5) / scale - 0.5`` in double (its 0.5 is a double
    literal), rounded once to float32. Every float32 step gave tap weights up to 4.8e-7 off (review r4 N1); these
    give its weights bit for bit (impulse responses, probe33/h7/rs5b.py)."""
    f = np.float32
    adjustment = f(out) / (scale * f(size))
    offset = (f(size) / f(2)) * (f(1) - adjustment)
    return (np.float64(offset) + (x.astype(np.float64) + 0.5) / np.float64(scale) - 0.5).astype(f)


def round_nearest(coords: np.ndarray, mode: str) -> np.ndarray:
    """Nearest mode's index of float32 source coordinates, as onnxruntime rounds them (a tie is an exact .5)."""
    if mode == "floor":
        return np.floor(coords)
    if mode == "ceil":
        return np.ceil(coords)
    if mode == "round_prefer_floor":
        return np.ceil(coords - np.float32(0.5))
    if mode == "round_prefer_ceil":
        return np.floor(coords + np.float32(0.5))
    raise ValueError(mode)


def _cubic(d: np.ndarray, a: float) -> np.ndarray:
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def axis_matrix(size: int, out: int, scale: float, how: Interpolation, roi: tuple[float, float] | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """The [out, size] resize matrix of one axis, and which outputs take the extrapolation value (or None)."""
    coords = source_coords(out, size, scale, how.transform, roi)
    outside = None
    if how.transform == "tf_crop_and_resize":
        outside = (coords < 0) | (coords > size - 1)
    matrix = np.zeros((out, size), dtype=np.float64)
    rows = np.arange(out)
    if how.mode == "nearest":
        index = np.clip(round_nearest(coords, how.nearest_mode), 0, size - 1).astype(np.int64)
        matrix[rows, index] = 1.0
    else:
        x = coords.astype(np.float64)
        if how.mode == "linear" and not how.antialias:
            x = np.clip(x, 0, size - 1)
        base = np.floor(x)
        t = x - base
        s = min(float(scale), 1.0) if how.antialias else 1.0
        if how.mode == "linear":
            start = int(np.floor(-1 / s) + 1)
            offsets = np.arange(start, 2 - start)
            weights = np.clip(1 - np.abs((offsets[None, :] - t[:, None]) * s), 0, 1)
        else:
            start = int(np.floor(-2 / s) + 1)
            offsets = np.arange(start, 2 - start)
            weights = _cubic((offsets[None, :] - t[:, None]) * s, how.cubic_a)
        if how.antialias:
            weights = weights / weights.sum(axis=1, keepdims=True)
        taps = base[:, None].astype(np.int64) + offsets[None, :]
        if how.exclude_outside:
            weights = np.where((taps < 0) | (taps >= size), 0.0, weights)
            weights = weights / weights.sum(axis=1, keepdims=True)
        np.add.at(matrix, (np.repeat(rows, taps.shape[1]), np.clip(taps, 0, size - 1).reshape(-1)),
                  weights.reshape(-1))
    if outside is not None:
        matrix[outside] = 0.0
    return matrix, outside


def onnxruntime_taps(size: int, out: int, scale: float, how: Interpolation) -> tuple[np.ndarray, np.ndarray] | None:
    """onnxruntime's own taps of one axis for linear and cubic (no antialias, no crop): [out, 2 or 4] edge-clamped
    indices and weights, zero weights and repeated indices kept. onnxruntime multiplies every tap, so a NaN or
    ±Inf neighbour of weight 0 makes NaN (0 · Inf), and a linear tap clamped onto its neighbour weighs 0.5 each;
    the merged matrix (:func:`_taps`) dropped those and padded short rows with column 0, whose NaN then leaked
    into outputs that never read it. None: use the matrix."""
    if how.mode not in ("linear", "cubic") or how.antialias or how.transform == "tf_crop_and_resize":
        return None
    x = source_coords(out, size, scale, how.transform, None).astype(np.float64)
    if how.mode == "linear":
        x = np.clip(x, 0, size - 1)
    base = np.floor(x)
    t = x - base
    offsets = np.arange(0, 2) if how.mode == "linear" else np.arange(-1, 3)
    taps = base[:, None].astype(np.int64) + offsets[None, :]
    if how.mode == "linear":
        weights = np.clip(1 - np.abs(offsets[None, :] - t[:, None]), 0, 1)
        same = np.minimum(taps[:, 1], size - 1) == taps[:, 0]
        weights[same] = 0.5
    else:
        weights = _cubic(offsets[None, :] - t[:, None], how.cubic_a)
        if how.exclude_outside:
            weights = np.where((taps < 0) | (taps >= size), 0.0, weights)
            weights = weights / weights.sum(axis=1, keepdims=True)
    return np.clip(taps, 0, size - 1).astype(np.int32), weights.astype(np.float32)


def _kept_axis_interpolated(how: Interpolation, rank: int, axis: int, resizing: bool) -> bool:
    """Whether onnxruntime interpolates ``axis`` at scale 1: its linear and cubic Resize of a 2- to 4-D tensor is
    bi-linear/bi-cubic over the last two axes whenever any axis changes (all scales 1: a copy), and the taps of a
    kept axis, (1, 0) or (0, 1, 0, 0), still multiply the neighbours, so a NaN or ±Inf next to a value makes NaN of
    it (0 · Inf; measured with onnxruntime 1.32). A finite tensor comes out unchanged, at the cost of 2 or 4 gathers
    (only in a Resize of one spatial axis)."""
    return resizing and how.mode in ("linear", "cubic") and not how.antialias and \
        how.transform != "tf_crop_and_resize" and 2 <= rank <= 4 and axis >= rank - 2


def _taps(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The matrix as K (index, weight) columns: [out, K] int32 indices and float32 weights."""
    nonzero = [np.flatnonzero(row) for row in matrix]
    k = max(1, max(len(n) for n in nonzero))
    index = np.zeros((matrix.shape[0], k), np.int32)
    weight = np.zeros((matrix.shape[0], k), np.float32)
    for r, cols in enumerate(nonzero):
        index[r, :len(cols)] = cols
        weight[r, :len(cols)] = matrix[r, cols]
    return index, weight


def _onnxruntime_bilinear(how: Interpolation, rank: int, dims: Sequence[int | None], axes: Sequence[int],
                          outs: Sequence[int], scales: Sequence[float]) -> bool:
    """Whether onnxruntime computes this Resize with its 2-D bilinear kernel (a 2-D input, or a 4-D one resized
    over its last two axes only): it sums four weighted corners, each weight a float32 product of the two axes'
    weights, in a fixed order, which :func:`_bilinear_in_onnxruntime_order` repeats bit for bit for float32
    (half_pixel_symmetric too since session 33: :func:`_half_pixel_symmetric`)."""
    changed = [a for a, o, f in zip(axes, outs, scales) if int(o) != dims[a] or float(f) != 1.0]
    return bool(changed) and how.mode == "linear" and not how.antialias \
        and how.transform != "tf_crop_and_resize" \
        and rank in (2, 4) and all(a >= rank - 2 for a in changed) and None not in dims[rank - 2:]


def _bilinear_in_onnxruntime_order(ctx: NodeContext, x: Value, perm: layout.Perm, sizes: Sequence[int],
                                   outs: Sequence[int], scales: Sequence[float], how: Interpolation) -> Value:
    """The bilinear Resize of the last two ONNX axes as onnxruntime's CPU kernel rounds it: with ``wy``/``wx`` the
    float32 tap weights of rows and columns, ``((wy0·wx0)·X11 + (wy0·wx1)·X21) + (wy1·wx0)·X12 + (wy1·wx1)·X22``,
    each product and sum rounded to float32 (float16 tensors are computed so and rounded once: a separable
    row-then-column sum is one float32 ulp off at times, a whole float16 step after that rounding)."""
    rank = len(perm) if perm is not None else ctx.rank(0)
    ir_axes = [layout.ir_axis(perm, a) for a in (rank - 2, rank - 1)]
    taps = [onnxruntime_taps(int(n), int(o), float(f), how) for n, o, f in zip(sizes, outs, scales)]
    gather = {"batch_dims": 0, "Tindices": I32, "Tparams": F32, "Taxis": I32}
    axis_v = [ctx.int32(a, label=f"bilinear/axis{k}") for k, a in enumerate(ir_axes)]
    shape = [1] * rank
    shape[ir_axes[0]], shape[ir_axes[1]] = int(outs[0]), int(outs[1])
    total: Value | None = None
    for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)):  # X11, X21, X12, X22: row tap i, column tap j
        row = ctx.op("GatherV2", [x, ctx.make_const(taps[0][0][:, i], label=f"bilinear/rows{i}"), axis_v[0]], gather,
                     dtype=F32, label=f"bilinear/row{i}_{j}")
        corner = ctx.op("GatherV2", [row, ctx.make_const(taps[1][0][:, j], label=f"bilinear/cols{j}"), axis_v[1]],
                        gather, dtype=F32, label=f"bilinear/corner{i}{j}")
        weight = np.multiply.outer(taps[0][1][:, i], taps[1][1][:, j]).astype(np.float32)  # float32 products
        if ir_axes[0] > ir_axes[1]:
            weight = weight.T
        term = ctx.op("Mul", [ctx.make_const(weight.reshape(shape), label=f"bilinear/weight{i}{j}"), corner],
                      label=f"bilinear/term{i}{j}")
        total = term if total is None else ctx.op("AddV2", [total, term], label=f"bilinear/sum{i}{j}")
    return total  # type: ignore[return-value]


def resize_by_taps(ctx: NodeContext, axes: Sequence[int], outs: Sequence[int], scales: Sequence[float],
                   how: Interpolation, rois: Sequence[tuple[float, float]] | None = None) -> Laid:
    """Resize input 0 along ONNX ``axes`` to ``outs`` (static) with the per-axis ``scales`` ONNX uses."""
    dims = ctx.shape(0)
    rank = ctx.rank(0)
    if dims is None or any(dims[a] is None for a in axes):
        raise ctx.error("resizing needs the resized axes' sizes at conversion time")
    x, perm = ctx.input_laid(0)
    if rank == 4 and perm is None and 1 not in axes:
        x, perm = ctx.input_as(0, layout.channels_last(4)), layout.channels_last(4)
    dtype = x.dtype or F32
    selecting = how.mode == "nearest" and how.transform != "tf_crop_and_resize"
    if not selecting and dtype != F32:
        raise ctx.error(f"{how.mode} resizing of {dtype.tf_name} tensors is not supported (float32 is)")
    outside_mask: Value | None = None
    resizing = any(int(out) != int(dims[axis]) or float(scale) != 1.0 for axis, out, scale in zip(axes, outs, scales))
    if _onnxruntime_bilinear(how, rank, dims, axes, outs, scales):
        last = {a: (int(o), float(f)) for a, o, f in zip(axes, outs, scales)}
        plan = [last.get(a, (int(dims[a]), 1.0)) for a in (rank - 2, rank - 1)]  # type: ignore[arg-type]
        return ctx.laid(_bilinear_in_onnxruntime_order(ctx, x, perm, [int(dims[rank - 2]), int(dims[rank - 1])],
                                                       [o for o, _ in plan], [f for _, f in plan], how), perm)
    for j, (axis, out, scale) in enumerate(zip(axes, outs, scales)):
        size = int(dims[axis])
        matrix, outside = axis_matrix(size, int(out), float(scale), how, rois[j] if rois else None)
        if (outside is None or not outside.any()) and matrix.shape == (size, size) and np.array_equal(
                matrix, np.eye(size)) and not _kept_axis_interpolated(how, rank, axis, resizing):
            continue  # this axis stays as it is
        ir_axis = layout.ir_axis(perm, axis)
        label = f"axis{axis}"
        axis_v = ctx.int32(ir_axis, label=f"{label}/axis")
        gather = {"batch_dims": 0, "Tindices": I32, "Tparams": dtype, "Taxis": I32}
        raw = onnxruntime_taps(size, int(out), float(scale), how)
        index, weight = raw if raw is not None else _taps(matrix)
        if selecting:
            x = ctx.op("GatherV2", [x, ctx.make_const(index[:, 0], label=f"{label}/index"), axis_v], gather,
                       dtype=dtype, label=f"{label}/gather")
            continue
        shape = [1] * rank
        shape[ir_axis] = -1
        total = None
        for k in range(index.shape[1]):
            picked = ctx.op("GatherV2", [x, ctx.make_const(index[:, k], label=f"{label}/index{k}"), axis_v], gather,
                            dtype=dtype, label=f"{label}/gather{k}")
            w = ctx.make_const(weight[:, k].reshape(shape), label=f"{label}/weight{k}")
            term = ctx.op("Mul", [picked, w], label=f"{label}/weighted{k}")
            total = term if total is None else ctx.op("AddV2", [total, term], label=f"{label}/sum{k}")
        x = total  # type: ignore[assignment]
        if outside is not None and outside.any():
            m = ctx.make_const(outside.astype(np.float32).reshape(shape), label=f"{label}/outside")
            outside_mask = m if outside_mask is None else ctx.op(
                "Maximum", [outside_mask, m], label=f"{label}/outside_any")
    if outside_mask is not None:  # tf_crop_and_resize: outputs whose source lies outside take the value
        keep = ctx.op("Sub", [ctx.make_const(np.float32(1.0), label="one"), outside_mask], label="inside")
        fill = ctx.op("Mul", [outside_mask, ctx.make_const(np.float32(how.extrapolation), label="extrapolation")],
                      label="fill")
        x = ctx.op("AddV2", [ctx.op("Mul", [x, keep], label="kept"), fill], label="extrapolated")
    return ctx.laid(x, perm)
