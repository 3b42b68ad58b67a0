"""``com.microsoft:MatMulNBits``: onnxruntime's weight-only 2/4/8-bit matmul (``MatMul4BitsQuantizer``, int4
LLM exports), ``Y = A @ dequant(B)ᵀ (+ bias)``, with float32 activations.

``B`` is ``[N, k_blocks, blob]`` bytes: each of the N rows holds K integers packed ``bits`` at a time, lowest
bits first, in blocks of ``block_size`` along K (the last block padded). ``scales`` holds one float per row
and block (``[N · k_blocks]`` or ``[N, k_blocks]``); ``zero_points`` are packed like B, ``ceil(k_blocks ·
bits / 8)`` bytes per row, and default to ``2^(bits − 1)``. The weight ``(q − zp) · scale`` is computed in
float32 (each value rounded once, as a ``DequantizeLinear`` computes it) as a ``[K, N]`` constant; the
scan (:func:`.quantized.scan_quantized_weights`) records it as a blocked weight, so the writer stores its
integers one byte each with the block scales applied in the graph (``docs/quantization.md``).

Refused: a computed ``B``, scale or zero point, float zero points, ``g_idx``, ``bits`` other than 2, 4, 8.
"""
from __future__ import annotations

import numpy as np

from tfjsconv.ir import Value

from ..context import NodeContext
from ..mapping import onnx_op
from .quantized import _float_matmul

#: Bits per value onnxruntime packs (a whole number of values per byte).
BITS = (2, 4, 8)


def unpack_rows(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """``[rows, bytes]`` uint8 -> ``[rows, count]`` int64: each byte's values lowest bits first."""
    packed = np.asarray(packed, np.uint8)
    shifts = np.arange(8 // bits, dtype=np.uint8) * bits
    values = (packed[..., None] >> shifts) & np.uint8((1 << bits) - 1)
    return values.reshape(packed.shape[0], -1)[:, :count].astype(np.int64)


def nbits_parts(b: np.ndarray, scales: np.ndarray, zero_points: np.ndarray | None, k: int, n: int, bits: int,
                block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(q [N, K], zero points [N, k_blocks], scales [N, k_blocks] float32)`` of a MatMulNBits weight.

    Raises ValueError when the tensors' sizes do not fit ``K``, ``N``, ``bits`` and ``block_size``."""
    blocks = -(-k // block)
    blob = block * bits // 8
    if b.size != n * blocks * blob:
        raise ValueError(f"B holds {b.size} bytes; K={k}, N={n}, bits={bits}, block_size={block} need "
                         f"{n * blocks * blob} ([{n}, {blocks}, {blob}])")
    zp, scale = nbits_params(scales, zero_points, k, n, bits, block)
    return unpack_rows(np.asarray(b).reshape(n, blocks * blob), bits, k), zp, scale


def nbits_params(scales: np.ndarray, zero_points: np.ndarray | None, k: int, n: int, bits: int,
                 block: int) -> tuple[np.ndarray, np.ndarray]:
    """``(zero points [N, k_blocks] int64, scales [N, k_blocks] float32)``; ValueError for a wrong size."""
    blocks = -(-k // block)
    if scales.size != n * blocks:
        raise ValueError(f"scales hold {scales.size} values, {n * blocks} ([{n}, {blocks}]) are needed")
    scale = np.asarray(scales, np.float32).reshape(n, blocks)
    if zero_points is None:
        return np.full((n, blocks), 1 << (bits - 1), np.int64), scale
    per_row = -(-blocks * bits // 8)
    if zero_points.size != n * per_row:
        raise ValueError(f"zero_points hold {zero_points.size} bytes, {n * per_row} are needed")
    return unpack_rows(np.asarray(zero_points).reshape(n, per_row), bits, blocks), scale


def nbits_weight(q: np.ndarray, zp: np.ndarray, scale: np.ndarray, block: int) -> np.ndarray:
    """The float32 ``[K, N]`` weight: ``(q − zp) · scale`` per block, each product rounded once."""
    picks = np.arange(q.shape[1]) // block
    centered = (q - zp[:, picks]).astype(np.float32)
    return np.ascontiguousarray((centered * scale[:, picks]).T)


def settings_problems(k: int, n: int, bits: int, block: int) -> list[str]:
    """What is wrong with a node's ``K``, ``N``, ``bits`` and ``block_size``, all of it (empty when nothing)."""
    problems = []
    if bits not in BITS:
        problems.append(f"bits={bits} is not supported (2, 4 and 8 are)")
    if k <= 0 or n <= 0:
        problems.append(f"K={k} and N={n} must be positive")
    if block < 16 or block & (block - 1):
        problems.append(f"block_size={block} must be a power of 2 from 16")
    return problems


def _settings(ctx: NodeContext) -> tuple[int, int, int, int]:
    k, n = int(ctx.attr("K", 0) or 0), int(ctx.attr("N", 0) or 0)
    bits, block = int(ctx.attr("bits", 4) or 4), int(ctx.attr("block_size", 0) or 0)
    problems = settings_problems(k, n, bits, block)
    if problems:
        raise ctx.error(", ".join(problems))
    return k, n, bits, block


@onnx_op("com.microsoft:MatMulNBits", since=1)
def matmul_nbits(ctx: NodeContext) -> Value:
    k, n, bits, block = _settings(ctx)
    if ctx.has_input(4):
        raise ctx.error("g_idx (input 4, act-order column groups) is not supported")
    b, scales = ctx.require_const(1, "B"), ctx.require_const(2, "scales")
    zero_points = ctx.require_const(3, "zero_points") if ctx.has_input(3) else None
    if np.asarray(b).dtype != np.uint8 or (zero_points is not None and np.asarray(zero_points).dtype != np.uint8):
        raise ctx.error("B and zero_points must be uint8 (packed); float zero points are not supported")
    try:
        q, zp, scale = nbits_parts(np.asarray(b), np.asarray(scales), zero_points, k, n, bits, block)
    except ValueError as err:
        raise ctx.error(str(err)) from None
    sa = ctx.shape(0)
    if sa is None or len(sa) < 2 or sa[-1] not in (None, k):
        raise ctx.error(f"A must have rank 2 or more and K={k} columns, got shape {sa}")
    weight = ctx.make_const(nbits_weight(q, zp, scale, block), label="weight")
    y = _float_matmul(ctx, ctx.input(0), weight, list(sa), [k, n], "")
    if ctx.has_input(5):
        y = ctx.op("AddV2", [y, ctx.input(5)], label="biased")
    if y.shape is None:  # ONNX infers no shapes after com.microsoft ops: the next node of a chain needs it
        y.shape = (*sa[:-1], n)
    return y


#: ONNX element type of B and zero_points (packed bytes).
_UINT8 = 2


def nbits_problems(node, inits: dict, value) -> list[str]:
    """Every reason, known before translation, why the MatMulNBits ``node`` cannot be converted: its settings,
    ``g_idx``, and B's and the zero points' element type and size when they are initializers (B's bytes are
    not read). The scan reports them for all nodes at once: translation stops at the first of a chain of
    nodes (those after it read an unknown value), so an LLM's refused layers would come one per run."""
    attrs = {a.name: a.i for a in node.attribute}
    k, n, bits, block = attrs.get("K", 0), attrs.get("N", 0), attrs.get("bits", 4), attrs.get("block_size", 0)
    inputs = list(node.input) + [""] * 6
    problems = settings_problems(k, n, bits, block)
    if inputs[4]:
        problems.append("g_idx (input 4, act-order column groups) is not supported")
    for i, what in ((1, "B"), (3, "zero_points")):
        tensor = inits.get(inputs[i]) if inputs[i] else None
        if tensor is not None and tensor.data_type != _UINT8:
            problems.append(f"{what} must be uint8 (packed" + ("; float zero points are not supported)" if i == 3 else ")"))
    if problems:
        return problems
    b = inits.get(inputs[1])
    blocks, blob = -(-k // block), block * bits // 8
    if b is not None and int(np.prod(b.dims, dtype=np.int64)) != n * blocks * blob:
        problems.append(f"B holds {int(np.prod(b.dims, dtype=np.int64))} bytes; K={k}, N={n}, bits={bits}, "
                        f"block_size={block} need {n * blocks * blob} ([{n}, {blocks}, {blob}])")
    scales = value(inputs[2]) if inputs[2] else None
    zero_points = value(inputs[3]) if inputs[3] else None
    if scales is not None and (zero_points is not None or not inputs[3]):
        try:
            nbits_params(scales, zero_points, k, n, bits, block)
        except ValueError as err:
            problems.append(str(err))
    return problems


def nbits_hint(node, label: str, inits: dict, value):
    """The blocked :class:`QuantizedWeight` of a MatMulNBits node's constant B (its ``[K, N]`` float32 weight,
    blocks of ``block_size`` along K), so that the writer keeps B's integers one byte each; else None."""
    from tfjsconv.weights.int8 import QuantizedWeight

    attrs = {a.name: a.i for a in node.attribute}
    k, n, bits, block = attrs.get("K", 0), attrs.get("N", 0), attrs.get("bits", 4), attrs.get("block_size", 0)
    inputs = list(node.input) + [""] * 6
    if bits not in BITS or k <= 0 or n <= 0 or block < 16 or inputs[4] or inputs[1] not in inits:
        return None
    scales = value(inputs[2]) if inputs[2] else None  # B itself is not read here (it may be large, external)
    zero_points = value(inputs[3]) if inputs[3] else None
    if scales is None or scales.dtype != np.float32 or (inputs[3] and zero_points is None):
        return None
    try:
        zp, scale = nbits_params(scales, zero_points, k, n, bits, block)
    except ValueError:
        return None
    return QuantizedWeight(label, k * n, np.ascontiguousarray(scale.T), np.ascontiguousarray(zp.T),
                           (0, (1 << bits) - 1), block=(0, block), shape=(k, n))
