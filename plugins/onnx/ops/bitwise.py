"""Bitwise ops, BitShift and integer BitCast on integers of up to 16 bits, by arithmetic on their bits.

TF.js has no usable bitwise kernels (its graph runtime's BitwiseAnd fails on every backend), and
webgl computes int32 in float32. So a W-bit value (W <= 16) is taken modulo 2**W, split into its W
bits along a new last axis (FloorDiv by the powers of two, FloorMod 2), combined bit by bit, summed
back and re-signed: every intermediate stays below 2**24, exact on cpu, wasm and webgl. Wider
integers (32/64-bit) are refused: their bits cannot be computed exactly on every backend.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .common import common_layout

MAX_BITS = 16
I32 = DType.INT32


def _width(ctx: NodeContext, *, any_signed: bool = False) -> tuple[int, bool]:
    """Bit width and signedness of input 0's ONNX integer type; wider than MAX_BITS is refused
    (unless ``any_signed`` and the type is signed)."""
    dtype = ctx.tensor(0).dtype
    if dtype is None or np.dtype(dtype).kind not in "iu":
        raise ctx.error(f"{ctx.op_type} needs an integer input, got {dtype}")
    bits = np.dtype(dtype).itemsize * 8
    if bits > MAX_BITS and not (any_signed and np.dtype(dtype).kind == "i"):
        raise ctx.error(f"{ctx.op_type} on {np.dtype(dtype).name} is not supported: TF.js has no bitwise kernels, "
                        f"and the arithmetic that replaces them is exact only up to {MAX_BITS}-bit integers")
    return bits, np.dtype(dtype).kind == "i"


def _unsigned(ctx: NodeContext, x: Value, bits: int, label: str) -> Value:
    """x modulo 2**bits, in [0, 2**bits): the two's complement pattern of a signed x."""
    return ctx.op("FloorMod", [x, ctx.int32(1 << bits, label=f"{label}/modulus")], dtype=I32, label=label)


def _signed(ctx: NodeContext, u: Value, bits: int, signed: bool, *, label: str | None = None) -> Value:
    """The value of the bit pattern ``u`` in [0, 2**bits) as the ONNX type (u - 2**bits above the sign bit)."""
    if not signed:
        return u
    at = "" if label is None else f"{label}/"
    high = ctx.op("GreaterEqual", [u, ctx.int32(1 << (bits - 1), label=f"{at}sign_bit")], dtype=DType.BOOL,
                  label=f"{at}negative")
    wrapped = ctx.op("Sub", [u, ctx.int32(1 << bits, label=f"{at}wrap")], dtype=I32, label=f"{at}wrapped")
    return ctx.op("SelectV2", [high, wrapped, u], {"T": I32}, dtype=I32, label=label)


def wrap_to_width(ctx: NodeContext, x: Value, dtype: np.dtype | None, label: str = "wrapped") -> Value:
    """An int32 ``x`` holding values of the ONNX integer ``dtype`` wrapped into its range, as C++'s
    conversions (and so onnxruntime) wrap them: TF.js keeps 8/16-bit integers as int32, where e.g.
    uint8 0 - 1 stays -1 instead of becoming 255. Other dtypes (and 32/64-bit ones) pass unchanged."""
    if dtype is None or np.dtype(dtype).kind not in "iu" or np.dtype(dtype).itemsize > MAX_BITS // 8:
        return x
    bits = np.dtype(dtype).itemsize * 8
    return _signed(ctx, _unsigned(ctx, x, bits, f"{label}/pattern"), bits, np.dtype(dtype).kind == "i",
                   label=label)


def _bits(ctx: NodeContext, x: Value, bits: int, label: str) -> Value:
    """[..., bits] of 0/1: bit k of x's pattern at index k of a new last axis (operands of different
    ranks still broadcast: the bit axis is last in both)."""
    u = ctx.op("ExpandDims", [_unsigned(ctx, x, bits, f"{label}/pattern"), ctx.int32(-1, label=f"{label}/axis")],
               dtype=I32, label=f"{label}/expanded")
    shifted = ctx.op("FloorDiv", [u, ctx.int32([1 << k for k in range(bits)], label=f"{label}/powers")], dtype=I32,
                     label=f"{label}/shifted")
    return ctx.op("FloorMod", [shifted, ctx.int32(2, label=f"{label}/two")], dtype=I32, label=label)


@onnx_op("BitwiseAnd", "BitwiseOr", "BitwiseXor", since=18)
def bitwise_binary(ctx: NodeContext) -> Laid:
    bits, signed = _width(ctx)
    (a, b), perm = common_layout(ctx, [0, 1])
    abits, bbits = _bits(ctx, a, bits, "a_bits"), _bits(ctx, b, bits, "b_bits")
    both = ctx.op("Mul", [abits, bbits], dtype=I32, label="both")
    if ctx.op_type == "BitwiseAnd":
        out_bits = both
    else:
        either = ctx.op("AddV2", [abits, bbits], dtype=I32, label="sum_bits")
        twice = 1 if ctx.op_type == "BitwiseOr" else 2  # a | b = a + b - ab; a ^ b = a + b - 2ab
        scaled = both if twice == 1 else ctx.op("Mul", [both, ctx.int32(2, label="two_both")], dtype=I32, label="two_ab")
        out_bits = ctx.op("Sub", [either, scaled], dtype=I32, label="out_bits")
    weighted = ctx.op("Mul", [out_bits, ctx.int32([1 << k for k in range(bits)], label="weights")], dtype=I32,
                      label="weighted")
    u = ctx.op("Sum", [weighted, ctx.int32([-1], label="bit_axis")], {"keep_dims": False, "Tidx": I32}, dtype=I32,
               label="pattern")
    return ctx.laid(_signed(ctx, u, bits, signed), perm)


@onnx_op("BitwiseNot", since=18)
def bitwise_not(ctx: NodeContext) -> Laid:
    """~x = -x - 1 for signed types (any width: an int32 subtraction), 2**W - 1 - x for unsigned ones."""
    bits, signed = _width(ctx, any_signed=True)
    x, perm = ctx.input_laid(0)
    top = -1 if signed else (1 << bits) - 1
    return ctx.laid(ctx.op("Sub", [ctx.int32(top, label="top"), x], dtype=I32), perm)


@onnx_op("BitShift", since=11)
def bit_shift(ctx: NodeContext) -> Laid:
    """LEFT: (pattern mod 2**(W-y)) * 2**y, re-signed; RIGHT: floor(x / 2**y) (arithmetic for signed
    types). A shift below 0 or from W on gives 0 (-1 for a right shift of a negative value), as opset 28 says."""
    bits, signed = _width(ctx)
    (x, y), perm = common_layout(ctx, [0, 1])
    negative = ctx.op("Less", [y, ctx.int32(0, label="zero")], dtype=DType.BOOL, label="negative_shift")
    capped = ctx.op("Minimum", [y, ctx.int32(bits, label="width")], dtype=I32, label="capped_shift")
    shift = ctx.op("SelectV2", [negative, ctx.int32(bits, label="width_for_negative"), capped], {"T": I32}, dtype=I32,
                   label="shift")
    table = ctx.int32([1 << k for k in range(bits + 1)], label="powers")
    axis = ctx.int32(0, label="table_axis")
    power = ctx.gather(table, shift, axis, label="power")
    if str(ctx.attr("direction", "")).upper() == "RIGHT":
        return ctx.laid(ctx.op("FloorDiv", [x, power], dtype=I32), perm)
    keep = ctx.gather(ctx.int32([1 << (bits - k) for k in range(bits + 1)], label="keep_moduli"), shift, axis,
                      label="keep_modulus")
    kept = ctx.op("FloorMod", [_unsigned(ctx, x, bits, "pattern"), keep], dtype=I32, label="kept_bits")
    return ctx.laid(_signed(ctx, ctx.op("Mul", [kept, power], dtype=I32, label="shifted"), bits, signed), perm)


@onnx_op("BitCast", since=26)
def bit_cast(ctx: NodeContext) -> Laid:
    """Between integer types (and bool) of one width up to 16 bits: the bit pattern re-read with the
    target's signedness (x mod 2**W, re-signed). Floats, and 32/64-bit reinterpretations a TF.js int32
    cannot hold, are refused: TF.js has no bitcast kernel."""
    from ..dtypes import onnx_elem_to_numpy

    source, target = ctx.tensor(0).dtype, onnx_elem_to_numpy(int(ctx.attr("to")))
    kinds = "iub"
    if source is None or target is None or np.dtype(source).kind not in kinds or np.dtype(target).kind not in kinds \
            or np.dtype(source).itemsize != np.dtype(target).itemsize or np.dtype(source).itemsize * 8 > MAX_BITS:
        raise ctx.error(f"BitCast from {source} to {target} is not supported: TF.js has no bitcast kernel; only "
                        f"integers (and bool) of up to {MAX_BITS} bits are re-read exactly")
    x, perm = ctx.input_laid(0)
    bits, to_kind = np.dtype(target).itemsize * 8, np.dtype(target).kind
    if np.dtype(source).kind == "b":
        x = ctx.cast(x, I32, label="as_int")
    if to_kind == "b":  # a byte that is 0 or 1 (other patterns are not valid bools)
        return ctx.laid(ctx.op("NotEqual", [x, ctx.int32(0, label="zero")], dtype=DType.BOOL), perm)
    if np.dtype(source).kind == to_kind:
        return ctx.laid(x, perm)
    return ctx.laid(_signed(ctx, _unsigned(ctx, x, bits, "pattern"), bits, to_kind == "i"), perm)
