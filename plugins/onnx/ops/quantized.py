"""ONNX's linear quantization ops in float32 and int32 TF.js ops, exact against onnxruntime.

TF.js holds every integer as int32, so a uint8/int8/uint16/int16 tensor is an int32 tensor of the
same values (int4, float8 and the like are refused: TF.js has no such types). The rule, as
onnxruntime computes it:

- ``QuantizeLinear``: ``clip(round_half_even(x / scale) + zero_point, lo, hi)``, in float32
  (TF.js's ``Round`` rounds half to even), then cast to int32; ``lo``/``hi`` are the saturation
  bounds of the zero point's type (uint8 when there is none). From opset 23, in float16 when ``precision``
  is FLOAT16 or (at 0) the scale is float16: x, the scale and x / scale rounded to float16 first.
- ``DequantizeLinear``: ``(x − zero_point) · scale`` in float32 (``x`` and the zero point are 16-bit
  at most, so the difference is exact).
- Scale and zero point are per tensor (a scalar), per axis (1-D along ``axis``) or blocked
  (``block_size`` along ``axis``: each value repeated ``block_size`` times).
- Integer products (``MatMulInteger``, ``ConvInteger``, ``QLinearMatMul``, ``QLinearConv``) run as
  float32 ``MatMul``/``Conv2D`` of ``x − zero_point`` (TF.js's wasm has no int32 MatMul and no
  backend an int32 Conv2D). A float32 sum is exact while every partial sum stays below 2^24: the
  bound ``K · max|a'| · max|b'|`` (with a constant weight, each output's actual ``Σ|w'|``) is checked
  at conversion time; above it the activation is split into ``16·hi + lo`` (two products, each
  exact, added as int32; not on webgl, whose int32 is float32: refused there), and beyond that the
  node is refused. ``QLinear*`` then requantize the
  int32 sum (plus the int32 bias) as onnxruntime does: ``float(acc) · (a_scale · b_scale / y_scale)``
  rounded half to even, plus ``y_zero_point``, saturated.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value, materialize

from .. import layout
from ..context import Laid, NodeContext
from ..dtypes import onnx_elem_to_numpy
from ..mapping import DEFAULT_DOMAINS, onnx_op
from .common import laid_const, norm_axis
from .filters import Filter
from .nn import NHWC, _spatial, conv2d_nhwc, conv_steps, onnx_pads

F32, I32 = DType.FLOAT32, DType.INT32
#: Saturation bounds of the quantized types TF.js can hold (as int32).
RANGES = {np.dtype(np.uint8): (0, 255), np.dtype(np.int8): (-128, 127),
          np.dtype(np.uint16): (0, 65535), np.dtype(np.int16): (-32768, 32767)}
#: The largest integer below which every float32 integer sum is exact.
EXACT = 1 << 24


# -- small pieces ---------------------------------------------------------------------------------
def _f32(ctx: NodeContext, x: Value, label: str) -> Value:
    if x.dtype == F32:
        return x
    return ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": F32, "Truncate": False}, dtype=F32, label=label)


def _i32(ctx: NodeContext, x: Value, label: str) -> Value:
    return ctx.op("Cast", [x], {"SrcT": x.dtype, "DstT": I32, "Truncate": False}, dtype=I32, label=label)


#: TensorProto.FLOAT and FLOAT16, the ``precision`` values onnxruntime's QuantizeLinear accepts besides 0.
_FLOAT, _FLOAT16 = 1, 10


def _onnx_dtype(ctx: NodeContext, i: int) -> np.dtype | None:
    t = ctx.tensor(i)
    return None if t.dtype is None else np.dtype(t.dtype)


def _bounds(ctx: NodeContext, dtype: np.dtype | None, what: str) -> tuple[int, int]:
    if dtype is None or np.dtype(dtype) not in RANGES:
        raise ctx.error(f"{what} of type {dtype} is not supported: TF.js holds integers as int32 and has no "
                        "4-bit, 2-bit or float8 types (uint8, int8, uint16 and int16 are supported)")
    return RANGES[np.dtype(dtype)]


def _quantized_type(ctx: NodeContext, zp_index: int) -> np.dtype | None:
    """The type QuantizeLinear produces: its zero point's, else ``output_dtype``, else uint8."""
    if ctx.has_input(zp_index):
        return _onnx_dtype(ctx, zp_index)
    out = int(ctx.attr("output_dtype", 0) or 0)
    return onnx_elem_to_numpy(out) if out else np.dtype(np.uint8)


def _check_scale(ctx: NodeContext, i: int) -> None:
    """A float scale; a constant one (however it was made: the up-front scan sees only initializers and
    Constant nodes) finite and non-zero."""
    if ctx.dtype(i) != F32:
        raise ctx.error(f"the scale (input {i}) must be a float, got {ctx.dtype(i)}")
    known = ctx.const(i)
    if known is not None:
        values = np.asarray(known, np.float64).reshape(-1)
        wrong = sorted({repr(float(v)) for v in values if not np.isfinite(v) or v == 0})
        if wrong:
            raise ctx.error(f"the scale (input {i}) holds {', '.join(wrong)}: it must be finite and non-zero")


def _scalar(ctx: NodeContext, i: int, label: str) -> Value:
    """Input ``i`` (one value) as a float32 scalar."""
    known = ctx.const(i)
    if known is not None:
        if known.size != 1:
            raise ctx.error(f"input {i} must hold one value here, got shape {list(known.shape)}")
        return ctx.make_const(np.float32(np.asarray(known, np.float32).reshape(())), label=label)
    shape = ctx.shape(i)
    if shape is None or any(d != 1 for d in shape):
        raise ctx.error(f"input {i} must hold one value here (per-tensor), got shape {shape}")
    x = ctx.reshape(ctx.input(i), [], label=f"{label}_1")
    return _f32(ctx, x, label)


def _requantize(ctx: NodeContext, acc: Value, multiplier: Value, zp: Value | None, bounds: tuple[int, int]) -> Value:
    """``clip(round(float(acc) · multiplier) + zp, lo, hi)`` as int32 (onnxruntime's requantization)."""
    q = ctx.op("Round", [ctx.op("Mul", [_f32(ctx, acc, "acc_float"), multiplier], label="scaled")], label="rounded")
    return _saturate(ctx, q, zp, bounds)


def _saturate(ctx: NodeContext, q: Value, zp: Value | None, bounds: tuple[int, int]) -> Value:
    if zp is not None:
        q = ctx.op("AddV2", [q, zp], label="shifted")
    lo, hi = bounds  # saturated in float32, before the cast to int32
    q = ctx.op("Minimum", [q, ctx.make_const(np.float32(hi), label="q_max")], label="below_max")
    q = ctx.op("Maximum", [q, ctx.make_const(np.float32(lo), label="q_min")], label="saturated")
    return _i32(ctx, q, "quantized")


# -- QuantizeLinear / DequantizeLinear ------------------------------------------------------------
def _param(ctx: NodeContext, i: int, axis: int, block: int, perm: layout.Perm, label: str) -> Value:
    """Scale or zero point (input ``i``) as float32, broadcasting against input 0 laid out as ``perm``."""
    shape = ctx.shape(0)
    rank = len(shape)
    known = ctx.const(i)
    prank = ctx.rank(i)
    size = None if ctx.shape(i) is None else int(np.prod([d if d is not None else -1 for d in ctx.shape(i)]))
    if not block and (prank == 0 or size == 1):
        return _scalar(ctx, i, label)
    axis = norm_axis(ctx, axis, rank)
    if block:
        if prank != rank:
            raise ctx.error(f"a blocked scale/zero point must have the input's rank {rank}, got rank {prank}")
        if shape[axis] is None:
            raise ctx.error("blocked quantization needs a static size along the quantization axis")
        blocks = -(-shape[axis] // block) if block > 0 else None
        param_shape = ctx.shape(i)
        if blocks is None or (param_shape is not None and param_shape[axis] not in (None, blocks)):
            raise ctx.error(f"block_size {block} along axis {axis} (size {shape[axis]}) needs {blocks} blocks, the "
                            f"scale/zero point has shape {list(param_shape or [])}")
        picks = np.arange(shape[axis]) // block
        if known is not None:
            return ctx.make_const(laid_const(np.take(np.asarray(known, np.float32), picks, axis=axis), rank, perm),
                                  label=label)
        v = ctx.gather(ctx.input(i), ctx.ints(picks, label=f"{label}_picks"), axis, label=f"{label}_blocks")
        return _f32(ctx, v, label)
    if prank != 1:
        raise ctx.error(f"the scale/zero point must be a scalar, 1-D (per axis) or blocked, got rank {prank}")
    column = [-1] + [1] * (rank - 1 - axis)
    if known is not None:
        return ctx.make_const(laid_const(np.asarray(known, np.float32).reshape(column), rank, perm), label=label)
    v = ctx.reshape(ctx.input(i), column, label=f"{label}_column")
    return _f32(ctx, v, label)


def _linear_setup(ctx: NodeContext) -> tuple[Value, layout.Perm, int, int]:
    """Input 0 (in its own layout when the parameters allow), the axis and the block size."""
    ctx.rank(0)  # refuses an input of unknown rank
    block = int(ctx.attr("block_size", 0) or 0)
    axis = int(ctx.attr("axis", 1))  # normalized by _param, where the scale is per axis or blocked
    own_layout = all(not ctx.has_input(i) or ctx.const(i) is not None or ctx.rank(i) == 0 for i in (1, 2))
    x, perm = ctx.input_laid(0) if own_layout else (ctx.input(0), None)
    return x, perm, axis, block


@onnx_op("QuantizeLinear", since=10)
def quantize_linear(ctx: NodeContext) -> Laid:
    bounds = _bounds(ctx, _quantized_type(ctx, 2), "quantizing to a type")
    _check_scale(ctx, 1)
    x, perm, axis, block = _linear_setup(ctx)
    scale = _param(ctx, 1, axis, block, perm, "scale")
    zp = _param(ctx, 2, axis, block, perm, "zero_point") if ctx.has_input(2) else None
    in_half = _quantizes_in_half(ctx)
    x = _f32(ctx, x, "x_float")
    if in_half and _onnx_dtype(ctx, 0) != np.dtype(np.float16):
        x = ctx.rounded_to_half(x, label="x_half")
    if in_half and _onnx_dtype(ctx, 1) != np.dtype(np.float16):
        scale = ctx.rounded_to_half(scale, label="scale_half")
    scaled = ctx.op("RealDiv", [x, scale], label="scaled")
    if in_half:  # x/scale of two float16 values, rounded once to float16: the float16 quotient
        scaled = ctx.rounded_to_half(scaled, label="scaled_half")
    q = ctx.op("Round", [scaled], label="rounded")
    return ctx.laid(_saturate(ctx, q, zp, bounds), perm)


def _quantizes_in_half(ctx: NodeContext) -> bool:
    """Whether onnxruntime quantizes in float16: from opset 23 by ``precision`` (FLOAT16), or by a float16 scale
    when it is 0; it then rounds x, the scale and x/scale to float16 (codes one off otherwise: measured with 1.32,
    docs/onnx.md). Before opset 23 it divides in float32 whatever the types."""
    if ctx.opset < 23:
        return False
    precision = int(ctx.attr("precision", 0) or 0)
    if precision not in (0, _FLOAT, _FLOAT16):
        raise ctx.error(f"precision {precision} is not supported (onnxruntime's CPU refuses it too: only 0, "
                        f"FLOAT ({_FLOAT}) and FLOAT16 ({_FLOAT16}))")
    if precision == 0:
        return _onnx_dtype(ctx, 1) == np.dtype(np.float16)
    return precision == _FLOAT16


@onnx_op("DequantizeLinear", since=10)
def dequantize_linear(ctx: NodeContext) -> Laid:
    source = _onnx_dtype(ctx, 0)
    if source != np.dtype(np.int32):
        _bounds(ctx, source, "dequantizing a type")
    _check_scale(ctx, 1)
    x, perm, axis, block = _linear_setup(ctx)
    x = _f32(ctx, x, "x_float")
    if ctx.has_input(2):
        x = ctx.op("Sub", [x, _param(ctx, 2, axis, block, perm, "zero_point")], label="centered")
    return ctx.laid(ctx.op("Mul", [x, _param(ctx, 1, axis, block, perm, "scale")]), perm)


@onnx_op("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(ctx: NodeContext) -> list[Value]:
    """uint8, as the spec: the range [min(x, 0), max(x, 0)] over 255 steps (scale 1 for an all-zero x,
    as onnxruntime), the zero point ``round(clip(−min / scale, 0, 255))``."""
    if ctx.dtype(0) != F32:
        raise ctx.error(f"the input must be a float tensor, got {ctx.dtype(0)}")
    x = ctx.input(0)
    every = ctx.ints(list(range(ctx.rank(0))), label="all_axes")
    zero = ctx.make_const(np.float32(0), label="zero")
    low = ctx.op("Minimum", [ctx.op("Min", [x, every], {"keep_dims": False, "Tidx": I32}, label="min"), zero],
                 label="low")
    high = ctx.op("Maximum", [ctx.op("Max", [x, every], {"keep_dims": False, "Tidx": I32}, label="max"), zero],
                  label="high")
    span = ctx.op("Sub", [high, low], label="span")
    scale = ctx.op("RealDiv", [span, ctx.make_const(np.float32(255), label="steps")], label="scale_raw")
    flat = ctx.op("Equal", [span, zero], dtype=DType.BOOL, label="flat")
    scale = ctx.op("SelectV2", [flat, ctx.make_const(np.float32(1), label="unit"), scale], {"T": F32}, dtype=F32,
                   label="scale")
    start = ctx.op("Neg", [ctx.op("RealDiv", [low, scale], label="low_steps")], label="zero_point_raw")
    start = ctx.op("Minimum", [start, ctx.make_const(np.float32(255), label="zp_max")], label="zp_below_max")
    start = ctx.op("Maximum", [start, zero], label="zp_saturated")
    zp = ctx.op("Round", [start], label="zero_point_float")
    q = ctx.op("Round", [ctx.op("RealDiv", [x, scale], label="scaled")], label="rounded")
    return [_saturate(ctx, q, zp, (0, 255)), scale, _i32(ctx, zp, "zero_point")]


# -- integer products -----------------------------------------------------------------------------
def _centered(ctx: NodeContext, x: Value, zp_index: int | None, column: list[int] | None, label: str) -> Value:
    """``float(x) − float(zero_point)`` (a scalar, or a 1-D one reshaped to ``column``)."""
    x = _f32(ctx, x, f"{label}_float")
    if zp_index is None or not ctx.has_input(zp_index):
        return x
    known = ctx.const(zp_index)
    size = known.size if known is not None else None
    if known is not None:
        zp = np.asarray(known, np.float32)
        zp = zp.reshape(()) if size == 1 else zp.reshape(column) if column else zp
        zp_value = ctx.make_const(zp, label=f"{label}_zero_point")
    elif ctx.rank(zp_index) == 0 or ctx.shape(zp_index) == (1,):
        zp_value = _scalar(ctx, zp_index, f"{label}_zero_point")
    else:
        zp_value = ctx.input(zp_index)
        if column:
            zp_value = ctx.reshape(zp_value, column, label=f"{label}_zp_column")
        zp_value = _f32(ctx, zp_value, f"{label}_zero_point")
    return ctx.op("Sub", [x, zp_value], label=f"{label}_centered")


def _span(ctx: NodeContext, i: int, what: str) -> int:
    """The largest ``|x − zero_point|`` input ``i``'s type allows."""
    lo, hi = _bounds(ctx, _onnx_dtype(ctx, i), what)
    return hi - lo


def _exact_product(ctx: NodeContext, a: Value, a_span: int, bound_per_unit: int, product) -> Value:
    """``product(a)`` as int32, exact: one float32 product when ``a_span · bound_per_unit`` stays below
    2^24, else ``16·product(hi) + product(lo)`` with ``a = 16·hi + lo`` (|hi| ≤ 16, 0 ≤ lo < 16)."""
    if a_span * bound_per_unit < EXACT:
        return _i32(ctx, product(a, ""), "acc")
    if "webgl" in (getattr(ctx.options, "target_backends", None) or ["webgl"]):
        raise ctx.error(f"the integer sums may reach {a_span * bound_per_unit}, past 2^24: webgl computes int32 in "
                        "float32, so they would not be exact there",
                        hint="convert for the other backends (--target_backends=cpu,wasm)")
    if 16 * bound_per_unit >= EXACT or a_span * bound_per_unit >= 1 << 31:
        raise ctx.error(f"the integer sums may reach {a_span * bound_per_unit}: float32 products hold integers "
                        "exactly only below 2^24, even with the activation split in two 4-bit halves")
    sixteen = ctx.make_const(np.float32(16), label="sixteen")
    hi = ctx.op("Floor", [ctx.op("RealDiv", [a, sixteen], label="a_over_16")], label="a_hi")
    lo = ctx.op("Sub", [a, ctx.op("Mul", [hi, sixteen], label="a_hi_16")], label="a_lo")
    high = _i32(ctx, product(hi, "_hi"), "acc_hi")
    low = _i32(ctx, product(lo, "_lo"), "acc_lo")
    return ctx.op("AddV2", [ctx.op("Mul", [high, ctx.int32(16, label="sixteen_int")], label="acc_hi_16"),
                            low], label="acc")


def _matmul_shapes(ctx: NodeContext, ia: int, ib: int) -> tuple[list, list]:
    sa, sb = ctx.shape(ia), ctx.shape(ib)
    if sa is None or sb is None or len(sa) < 2 or len(sb) < 2:
        raise ctx.error("both matrix operands must have rank 2 or more and known shapes")
    return list(sa), list(sb)


def _float_matmul(ctx: NodeContext, a: Value, b: Value, sa: list, sb: list, label: str) -> Value:
    """ONNX MatMul of two float32 values of rank ≥ 2; batch dims broadcast statically (TF.js's BatchMatMul
    indexes each operand modulo its own batch size)."""
    if len(sa) == len(sb) == 2:
        return ctx.op("MatMul", [a, b], {"transpose_a": False, "transpose_b": False}, label=f"matmul{label}")
    n = max(len(sa), len(sb)) - 2
    ba, bb = [1] * (n - len(sa) + 2) + sa[:-2], [1] * (n - len(sb) + 2) + sb[:-2]
    if None in ba or None in bb:
        if ba != bb:
            raise ctx.error("broadcasting batch dims of unknown size is not supported here")
    else:
        full = [max(x, y) for x, y in zip(ba, bb)]
        if ba != full:
            a = _batch_to(ctx, a, ba, sa, full, f"a{label}")
        if bb != full:
            b = _batch_to(ctx, b, bb, sb, full, f"b{label}")
    return ctx.op("BatchMatMulV2", [a, b], {"adj_x": False, "adj_y": False}, label=f"matmul{label}")


def _batch_to(ctx: NodeContext, x: Value, batch: list, shape: list, full: list, label: str) -> Value:
    """``x`` with batch dims ``full``: a batch of one only gains leading 1s (every backend reads batch
    index 0 for it; a weight is not copied per batch), any other is broadcast."""
    if all(d == 1 for d in batch):
        return x if len(shape) == len(full) + 2 else ctx.reshape(x, [1] * len(full) + shape[-2:],
                                                                  label=f"{label}_batched")
    return ctx.op("BroadcastTo", [x, ctx.ints(full + shape[-2:], label=f"{label}_full")], {"Tidx": I32},
                  label=f"{label}_broadcast")


def _integer_matmul(ctx: NodeContext, ia: int, ia_zp: int, ib: int, ib_zp: int) -> Value:
    """``(A − a_zp) @ (B − b_zp)`` as int32 (a 1-D a_zp is per row, a 1-D b_zp per column)."""
    sa, sb = _matmul_shapes(ctx, ia, ib)
    a = _centered(ctx, ctx.input(ia), ia_zp, [-1, 1], "a")
    b = _centered(ctx, ctx.input(ib), ib_zp, None, "b")
    depth = sa[-1] if sa[-1] is not None else sb[-2]
    if depth is None:
        raise ctx.error("the inner dimension of the product must be static")
    b_span = _span(ctx, ib, "the second operand")
    known = ctx.const(ib)
    if known is not None and (not ctx.has_input(ib_zp) or ctx.const(ib_zp) is not None):
        zp = np.asarray(ctx.const(ib_zp), np.int64) if ctx.has_input(ib_zp) else np.int64(0)
        centered = np.asarray(known, np.int64) - zp
        bound = int(np.abs(centered).sum(axis=-2).max()) if centered.size else 0
    else:
        bound = depth * b_span
    return _exact_product(ctx, a, _span(ctx, ia, "the first operand"), bound,
                          lambda part, label: _float_matmul(ctx, part, b, sa, sb, label))


@onnx_op("MatMulInteger", since=10)
def matmul_integer(ctx: NodeContext) -> Value:
    return _integer_matmul(ctx, 0, 2, 1, 3)


def _multiplier(ctx: NodeContext, ia_scale: int, ib_scale: int, iy_scale: int, column: list[int] | None) -> Value:
    """``a_scale · b_scale / y_scale`` in float32 (b_scale may be per output channel: shaped ``column``)."""
    for i in (ia_scale, ib_scale, iy_scale):
        _check_scale(ctx, i)
    a, b, y = (ctx.const(i) for i in (ia_scale, ib_scale, iy_scale))
    if a is not None and b is not None and y is not None:
        b = np.asarray(b, np.float32)
        b = b.reshape(()) if b.size == 1 else b.reshape(column) if column else b
        m = np.float32(np.asarray(a, np.float32).reshape(())) * b / np.float32(np.asarray(y, np.float32).reshape(()))
        return ctx.make_const(np.asarray(m, np.float32), label="multiplier")
    b_shape = ctx.shape(ib_scale)
    if b_shape is None or len(b_shape) > 1:
        raise ctx.error(f"the weight scale (input {ib_scale}) must be a scalar or 1-D, got shape {b_shape}")
    b_value = _scalar(ctx, ib_scale, "b_scale") if tuple(b_shape) in ((), (1,)) else \
        _f32(ctx, ctx.input(ib_scale), "b_scale")
    product = ctx.op("Mul", [_scalar(ctx, ia_scale, "a_scale"), b_value], label="scales")
    return ctx.op("RealDiv", [product, _scalar(ctx, iy_scale, "y_scale")], label="multiplier")


def _y_zero_point(ctx: NodeContext, i: int) -> tuple[Value | None, tuple[int, int]]:
    bounds = _bounds(ctx, _quantized_type(ctx, i), "a quantized output")
    return (_scalar(ctx, i, "y_zero_point") if ctx.has_input(i) else None), bounds


@onnx_op("QLinearMatMul", since=10)
def qlinear_matmul(ctx: NodeContext) -> Value:
    acc = _integer_matmul(ctx, 0, 2, 3, 5)
    zp, bounds = _y_zero_point(ctx, 7)
    return _requantize(ctx, acc, _multiplier(ctx, 1, 4, 6, None), zp, bounds)


# -- integer convolutions -------------------------------------------------------------------------
def _integer_conv(ctx: NodeContext, iw: int, ix_zp: int | None, iw_zp: int | None) -> Value:
    """``conv(x − x_zp, w − w_zp)`` as int32, NHWC (2-D convolutions; 1-D and 3-D are refused)."""
    if ctx.rank(0) != 4:
        raise ctx.error(f"only 2-D integer convolutions are supported, got an input of rank {ctx.rank(0)}")
    shape = ctx.shape(iw)
    if shape is None or any(d is None for d in shape):
        raise ctx.error("the weight's shape must be static")
    out_ch, in_per_group, kh, kw = (int(d) for d in shape)
    x_span = _span(ctx, 0, "the input")
    w_span = _span(ctx, iw, "the weight")
    known = ctx.const(iw)
    zp_known = None if iw_zp is None or not ctx.has_input(iw_zp) else ctx.const(iw_zp)
    if known is not None and (iw_zp is None or not ctx.has_input(iw_zp) or zp_known is not None):
        zp = np.zeros((), np.int64) if zp_known is None else np.asarray(zp_known, np.int64)
        zp = zp.reshape(()) if zp.size == 1 else zp.reshape(-1, 1, 1, 1)
        centered = np.asarray(materialize(known), np.int64) - zp
        weight = Filter(ctx, array=centered.astype(np.float32))
        bound = int(np.abs(centered).reshape(out_ch, -1).sum(axis=1).max()) if centered.size else 0
    else:
        w = _centered(ctx, ctx.input(iw), iw_zp, [-1, 1, 1, 1], "w")
        weight = Filter(ctx, value=w, shape=shape)
        bound = in_per_group * kh * kw * w_span
    group = int(ctx.attr("group", 1))
    strides, dilations = conv_steps(ctx, 2)
    sizes = _spatial(ctx)
    begin, end = onnx_pads(ctx, sizes, [kh, kw], strides, dilations)
    x = _centered(ctx, ctx.input_as(0, NHWC), ix_zp, None, "x")  # padding with 0 is padding with x's zero point
    return _exact_product(ctx, x, x_span, bound, lambda part, label: conv2d_nhwc(
        ctx, part, weight, group, strides, dilations, begin, end, sizes, label=f"conv{label}"))


@onnx_op("QLinearConv", since=10)
def qlinear_conv(ctx: NodeContext) -> Laid:
    acc = _integer_conv(ctx, 3, 2, 5)
    if ctx.has_input(8):
        bias = ctx.input(8) if ctx.dtype(8) == I32 else _i32(ctx, ctx.input(8), "bias_int")
        acc = ctx.op("AddV2", [acc, bias], label="biased")  # [M] against NHWC's last axis
    zp, bounds = _y_zero_point(ctx, 7)
    return ctx.laid(_requantize(ctx, acc, _multiplier(ctx, 1, 4, 6, None), zp, bounds), NHWC)


# -- quantized weights: checked before translation, kept 1 byte by the writer ----------------------
#: op -> (weight input, its scale input or None for integer products, its zero-point input).
_WEIGHTS = {"DequantizeLinear": (0, 1, 2), "MatMulInteger": (1, None, 3), "ConvInteger": (1, None, 3),
            "QLinearMatMul": (3, 4, 5), "QLinearConv": (3, 4, 5)}
#: op -> the inputs that are scales / zero points.
_SCALES = {"QuantizeLinear": (1,), "DequantizeLinear": (1,), "QLinearMatMul": (1, 4, 6), "QLinearConv": (1, 4, 6)}
_ZERO_POINTS = {"QuantizeLinear": (2,), "DequantizeLinear": (2,), "MatMulInteger": (2, 3), "ConvInteger": (2, 3),
                "QLinearMatMul": (2, 5, 7), "QLinearConv": (2, 5, 7)}


def scan_quantized_weights(model, base_dir=None) -> list:
    """Check the constant quantization parameters of every node of ``model``'s main graph and record its
    8- and 16-bit weights (:class:`tfjsconv.weights.int8.QuantizedWeight`) so that they stay 1 (2) bytes in
    the shards. Scales and zero points held in external data files (beside the model in ``base_dir``) are
    read here (they are small), so they count like inline ones; a missing file is an :class:`InputError`.

    Raises one :class:`InputError` naming every node with a scale of 0, NaN or infinity, a zero point
    outside its type's range, a per-axis parameter of the wrong length or an axis out of range:
    onnxruntime would compute garbage (or refuse) and a converted model must not do either silently.
    """
    from tfjsconv.errors import InputError

    from ..tensors import tensor_to_array, uses_external_data

    graph = model.graph
    inits = {**_constant_nodes(graph), **{t.name: t for t in graph.initializer}}
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in list(graph.input) + list(graph.value_info)
             if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape")}
    ranks.update({name: len(t.dims) for name, t in inits.items()})
    problems: list[str] = []
    nbits_refused: list[str] = []
    hints: list = []

    def value(name: str) -> np.ndarray | None:
        tensor = inits.get(name)
        if tensor is None:
            return None
        if uses_external_data(tensor):  # in a file (or left in the .onnx file by .wire)
            if base_dir is None or int(np.prod(tensor.dims, dtype=np.int64)) > _PARAMETER_ELEMENTS:
                return None
            from ..reading import initializer_array

            return np.asarray(initializer_array(tensor, Path(base_dir)))
        return tensor_to_array(tensor)

    for index, node in enumerate(graph.node):
        if node.domain == "com.microsoft" and node.op_type == "MatMulNBits":
            from .matmul_nbits import nbits_hint, nbits_problems

            name = node.name or f"{node.op_type}_{index}"
            nbits_refused.extend(f"{name!r}: {', '.join(found)}" for found in [nbits_problems(node, inits, value)]
                                 if found)
            hint = nbits_hint(node, f"{name!r} ({node.op_type})", inits, value)
            hints.extend([hint] if hint is not None else [])
            continue
        if node.domain == "com.microsoft" and node.op_type == "DynamicQuantizeLSTM":
            problems.extend(_lstm_zero_point_problems(node, index, value))
            hints.extend(_lstm_hints(node, index, inits, value))
            continue
        if node.domain not in DEFAULT_DOMAINS or node.op_type not in _SCALES | _ZERO_POINTS:
            continue
        label = f"{node.name or f'{node.op_type}_{index}'!r} ({node.op_type})"
        inputs = list(node.input) + [""] * 9

        def bad(message: str) -> None:
            problems.append(f"{label}: {message}")

        for i in _SCALES.get(node.op_type, ()):
            scale = value(inputs[i]) if inputs[i] else None
            if scale is not None and scale.dtype.kind == "f":
                wrong = [v for v in np.asarray(scale, np.float64).reshape(-1) if not np.isfinite(v) or v == 0]
                if wrong:
                    bad(f"scale {inputs[i]!r} holds {', '.join(sorted({repr(float(v)) for v in wrong}))}")
        for i in _ZERO_POINTS.get(node.op_type, ()):
            tensor = inits.get(inputs[i]) if inputs[i] else None
            dtype = None if tensor is None else _ZP_TYPES.get(tensor.data_type)
            if dtype is not None and tensor.int32_data:  # 8/16-bit values are held as int32: may lie
                lo, hi = RANGES[dtype]
                wrong = sorted({v for v in tensor.int32_data if not lo <= v <= hi})
                if wrong:
                    bad(f"zero point {inputs[i]!r} holds {', '.join(map(str, wrong[:5]))}, outside "
                        f"{dtype.name}'s {lo}..{hi}")
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            _check_axis(node, inputs, ranks, value, bad, inits)
        weight = _WEIGHTS.get(node.op_type)
        if weight is None:
            continue
        w_index, s_index, zp_index = weight
        hint = _weight_hint(node, label, inputs[w_index], inputs[s_index] if s_index is not None else None,
                            inputs[zp_index], inits, value)
        if hint is not None:
            hints.append(hint)
    if nbits_refused:  # one line for every node (and any bad parameters of other nodes too)
        also = f"; invalid quantization parameters: {'; '.join(problems)}" if problems else ""
        raise InputError(f"{len(nbits_refused)} com.microsoft:MatMulNBits node(s) cannot be converted: "
                         + "; ".join(nbits_refused) + also,
                         hint="tfjsconv converts 2-, 4- and 8-bit MatMulNBits with block_size a power of 2 "
                              "from 16 and no g_idx (docs/quantization.md)")
    if problems:
        raise InputError("invalid quantization parameters: " + "; ".join(problems),
                         hint="a scale must be finite and non-zero, a zero point within its type's range, "
                              "an axis within the input's rank")
    return hints


def _constant_nodes(graph) -> dict:
    """``Constant`` nodes' values as TensorProtos by output name: their scales and zero points are checked
    like initializers' (a NaN scale in a Constant is as wrong as in an initializer)."""
    from ..schema import TensorProto  # not onnx's: the conversion path imports no onnx (tests/test_onnx_light.py)

    found = {}
    for node in graph.node:
        if node.op_type != "Constant" or node.domain not in DEFAULT_DOMAINS or not node.output:
            continue
        for attr in node.attribute:
            if attr.name == "value" and attr.HasField("t"):
                found[node.output[0]] = attr.t
            elif attr.name in ("value_float", "value_floats"):
                values = [attr.f] if attr.name == "value_float" else list(attr.floats)
                dims = [] if attr.name == "value_float" else [len(values)]
                found[node.output[0]] = TensorProto(name=node.output[0], data_type=1, dims=dims, float_data=values)
    return found


#: Scales and zero points in external data files are read by the scan up to this size (they are small;
#: a weight never is read here).
_PARAMETER_ELEMENTS = 1 << 16
_ZP_TYPES = {2: np.dtype(np.uint8), 3: np.dtype(np.int8), 4: np.dtype(np.uint16), 5: np.dtype(np.int16)}
#: The range of a quantized weight's integers by ONNX element type: the 8/16-bit types', and the 4-bit ones
#: (uint4 21, int4 22), which TF.js has no type for: their integers are stored one byte each.
_WEIGHT_BOUNDS = {**{code: RANGES[dtype] for code, dtype in _ZP_TYPES.items()}, 21: (0, 15), 22: (-8, 7)}


def _check_axis(node, inputs: list[str], ranks: dict[str, int], value, bad, inits: dict | None = None) -> None:
    """A per-axis (1-D) scale needs an axis within the input's rank and one value per index along it."""
    attrs = {a.name: a for a in node.attribute}
    scale = value(inputs[1])
    rank = ranks.get(inputs[0])
    if "block_size" in attrs and attrs["block_size"].i:
        _check_blocks(attrs, inputs, rank, scale, value, bad, inits)
        return
    if scale is None or scale.size <= 1 or rank is None:
        return
    axis = attrs["axis"].i if "axis" in attrs else 1
    if not -rank <= axis < rank:
        bad(f"axis {axis} is out of range for an input of rank {rank}")
        return
    x = inits.get(inputs[0]) if inits else None  # its dims: its data may be in a file (external, or .wire's)
    if x is not None and x.dims[axis] != scale.size:
        bad(f"the scale has {scale.size} values for the {x.dims[axis]} indices along axis {axis}")
    zero_point = value(inputs[2]) if inputs[2] else None
    if zero_point is not None and zero_point.size != scale.size:
        bad(f"the zero point has {zero_point.size} values for the scale's {scale.size}")


def _check_blocks(attrs: dict, inputs: list[str], rank: int | None, scale, value, bad, inits: dict | None) -> None:
    """A blocked scale has the input's rank and shape but ``ceil(D / block_size)`` along the axis (the last
    block may be short, as onnxruntime allows); a zero point has the scale's shape."""
    block = attrs["block_size"].i
    if block < 0:
        bad(f"block_size {block} must be positive")
        return
    if scale is None or rank is None:
        return
    axis = attrs["axis"].i if "axis" in attrs else 1
    if not -rank <= axis < rank:
        bad(f"axis {axis} is out of range for an input of rank {rank}")
        return
    axis %= rank
    x = inits.get(inputs[0]) if inits else None
    if scale.ndim != rank:
        bad(f"a blocked scale must have the input's rank {rank}, got shape {list(scale.shape)}")
        return
    if x is not None:
        dims = [int(d) for d in x.dims]
        wanted = [-(-d // block) if i == axis else d for i, d in enumerate(dims)]
        if list(scale.shape) != wanted:
            bad(f"block_size {block} along axis {axis} of an input of shape {dims} needs a scale of shape "
                f"{wanted}, got {list(scale.shape)}")
            return
    zero_point = value(inputs[2]) if inputs[2] else None
    if zero_point is not None and zero_point.shape != scale.shape:
        bad(f"the zero point has shape {list(zero_point.shape)}, the scale {list(scale.shape)}")


def _weight_hint(node, label: str, w_name: str, scale_name: str | None, zp_name: str, inits, value):
    """The :class:`QuantizedWeight` of a 4-, 8- or 16-bit initializer weight with constant parameters, else None."""
    from tfjsconv.weights.int8 import QuantizedWeight

    tensor = inits.get(w_name)
    bounds = None if tensor is None else _WEIGHT_BOUNDS.get(tensor.data_type)
    if bounds is None:
        return None
    attrs = {a.name: a for a in node.attribute}
    if "block_size" in attrs and attrs["block_size"].i:
        return _blocked_hint(label, tensor, bounds, attrs, value(scale_name) if scale_name else None,
                             value(zp_name) if zp_name else None, zp_name)
    if scale_name is None:
        scale = np.ones(1, np.float32)
    else:
        scale = value(scale_name) if scale_name else None
        if scale is None or scale.dtype != np.float32:
            return None
        scale = np.ones(1, np.float32) if node.op_type.startswith("QLinear") else scale.reshape(-1)
    zero_point = np.zeros(1, np.int64)
    if zp_name:
        zp = value(zp_name)
        if zp is None:
            return None
        zero_point = np.asarray(zp, np.int64).reshape(-1)
    size = int(np.prod(tensor.dims, dtype=np.int64))
    return QuantizedWeight(label, size, scale, zero_point, bounds)


def _lstm_zero_point_problems(node, index: int, value) -> list[str]:
    """onnxruntime refuses to run a ``DynamicQuantizeLSTM`` whose per-column (``[dirs, 4·hidden]``) W or R zero
    point holds a nonzero value (``InputWeight zero point must be zero``), so such a model has no reference to
    match: refused, naming the node and the input."""
    label = f"{node.name or f'{node.op_type}_{index}'!r} ({node.op_type})"
    inputs = list(node.input) + [""] * 12
    problems = []
    for what, zp_index in (("W", 9), ("R", 11)):
        zp = value(inputs[zp_index]) if inputs[zp_index] else None
        if zp is not None and zp.ndim == 2 and zp.shape[1] > 1 and np.any(np.asarray(zp, np.int64) != 0):
            problems.append(f"{label}: {what}'s per-channel zero point {inputs[zp_index]!r} is not all zero, which "
                            "onnxruntime refuses to run (no reference to match)")
    return problems


def _lstm_hints(node, index: int, inits: dict, value) -> list:
    """``DynamicQuantizeLSTM``'s W and R (inputs 1 and 2, ``[dirs, in, 4·hidden]``): one integer-product hint
    per direction (the unrolled steps hold each direction's ``w - zp`` as its own ``[in, 4·hidden]`` matrix)."""
    from tfjsconv.weights.int8 import QuantizedWeight

    label = f"{node.name or f'{node.op_type}_{index}'!r} ({node.op_type})"
    inputs = list(node.input) + [""] * 12
    hints = []
    for w_index, zp_index in ((1, 9), (2, 11)):
        tensor = inits.get(inputs[w_index])
        dtype = None if tensor is None else _ZP_TYPES.get(tensor.data_type)
        if dtype is None or len(tensor.dims) != 3:
            continue
        dirs = int(tensor.dims[0])
        zp = value(inputs[zp_index]) if inputs[zp_index] else np.zeros(dirs, np.int64)
        if zp is None or zp.size not in (dirs, dirs * int(tensor.dims[2])):
            continue
        zp = np.asarray(zp, np.int64).reshape(dirs, -1)
        size = int(tensor.dims[1]) * int(tensor.dims[2])
        hints += [QuantizedWeight(label, size, np.ones(1, np.float32), zp[d], RANGES[dtype]) for d in range(dirs)]
    return hints


def _blocked_hint(label: str, tensor, bounds: tuple[int, int], attrs: dict, scale, zero_point, zp_name: str):
    """A blocked weight's hint (its scale and zero point kept in the source's blocked shape), else None."""
    from tfjsconv.weights.int8 import QuantizedWeight

    dims = tuple(int(d) for d in tensor.dims)
    if scale is None or scale.dtype != np.float32 or scale.ndim != len(dims) or (zp_name and zero_point is None):
        return None
    axis = (attrs["axis"].i if "axis" in attrs else 1) % len(dims)
    zero_point = np.zeros(scale.shape, np.int64) if zero_point is None else np.asarray(zero_point, np.int64)
    size = int(np.prod(dims, dtype=np.int64))
    return QuantizedWeight(label, size, scale, zero_point, bounds, block=(axis, attrs["block_size"].i),
                           shape=dims)
