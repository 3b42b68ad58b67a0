"""Small builders for mappings that compose an ONNX op from plain TF.js ops (sampling, signal, detection, sets).

Every helper adds nodes through the :class:`~..context.NodeContext` (named after the ONNX node, with a
label), with the dtype annotations the backend contract reads. No op is registered here.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value

from ..context import NodeContext
from .common import SLICE_ATTRS

F32, I32, BOOL = DType.FLOAT32, DType.INT32, DType.BOOL


class Builder:
    """Adds labelled nodes for one ONNX node; ``prefix`` keeps helper names of repeated parts apart."""

    def __init__(self, ctx: NodeContext, prefix: str = "") -> None:
        self.ctx, self.prefix = ctx, prefix
        self._count = 0

    def _label(self, label: str) -> str:
        self._count += 1
        return f"{self.prefix}{label}_{self._count}"

    def op(self, op: str, inputs: Sequence[Value], attrs: dict | None = None, *, dtype: DType | None = None,
           label: str = "t") -> Value:
        return self.ctx.op(op, list(inputs), attrs, dtype=dtype, label=self._label(label))

    def f32(self, value: float | np.ndarray, label: str = "c") -> Value:
        return self.ctx.make_const(np.asarray(value, dtype=np.float32), label=self._label(label))

    def i32(self, value: int | Sequence[int] | np.ndarray, label: str = "i") -> Value:
        return self.ctx.int32(value, label=self._label(label))

    # arithmetic (float32 unless the inputs say otherwise)
    def add(self, a: Value, b: Value) -> Value:
        return self.op("AddV2", [a, b], label="add")

    def sub(self, a: Value, b: Value) -> Value:
        return self.op("Sub", [a, b], label="sub")

    def mul(self, a: Value, b: Value) -> Value:
        return self.op("Mul", [a, b], label="mul")

    def div(self, a: Value, b: Value) -> Value:
        return self.op("RealDiv", [a, b], label="div")

    def unary(self, op: str, a: Value) -> Value:
        return self.op(op, [a], label=op.lower())

    def cast(self, a: Value, dst: DType) -> Value:
        src = a.dtype or F32
        if src == dst:
            return a
        return self.op("Cast", [a], {"SrcT": src, "DstT": dst, "Truncate": False}, dtype=dst, label="cast")

    def compare(self, op: str, a: Value, b: Value) -> Value:
        return self.op(op, [a, b], dtype=BOOL, label=op.lower())

    def select(self, cond: Value, a: Value, b: Value) -> Value:
        return self.op("SelectV2", [cond, a, b], {"T": a.dtype}, dtype=a.dtype, label="select")

    def clip(self, a: Value, low: Value, high: Value) -> Value:
        return self.op("Minimum", [self.op("Maximum", [a, low], label="max"), high], label="min")

    # shapes
    def shape(self, a: Value) -> Value:
        return self.ctx.shape_of(a, label=self._label("shape"))

    def reshape(self, a: Value, shape: Value | Sequence[int]) -> Value:
        return self.ctx.reshape(a, shape if isinstance(shape, Value) else list(shape), label=self._label("reshape"))

    def expand_dims(self, a: Value, axis: int) -> Value:
        return self.ctx.expand_dims(a, axis, label=self._label("expand"))

    def take(self, a: Value, index: int | Value, axis: int) -> Value:
        """``a`` indexed by a scalar (drops ``axis``) or a vector along ``axis`` (GatherV2, batch_dims 0)."""
        idx = self.i32(index, "index") if isinstance(index, int) else index
        return self.ctx.gather(a, idx, axis, label=self._label("take"))

    def gather_nd(self, a: Value, coords: Value) -> Value:
        return self.op("GatherNd", [a, coords], {"Tparams": a.dtype, "Tindices": I32}, dtype=a.dtype,
                       label="gather_nd")

    def pack(self, parts: Sequence[Value], axis: int) -> Value:
        return self.op("Pack", list(parts), {"N": len(parts), "axis": axis, "T": parts[0].dtype},
                       dtype=parts[0].dtype, label="pack")

    def concat(self, parts: Sequence[Value], axis: int) -> Value:
        if len(parts) == 1:
            return parts[0]
        return self.op("ConcatV2", [*parts, self.i32(axis, "axis")], {"N": len(parts), "Tidx": I32},
                       dtype=parts[0].dtype, label="concat")

    def slice_axis(self, a: Value, rank: int, axis: int, begin: int, end: int) -> Value:
        """``a[..., begin:end, ...]`` on ``axis`` (static bounds)."""
        b, e, s = [0] * rank, [0] * rank, [1] * rank
        b[axis], e[axis] = begin, end
        mask = ((1 << rank) - 1) & ~(1 << axis)
        return self.op("StridedSlice", [a, self.i32(b, "begin"), self.i32(e, "end"), self.i32(s, "strides")],
                       {**SLICE_ATTRS, "begin_mask": mask, "end_mask": mask}, dtype=a.dtype, label="slice")

    def matmul(self, a: Value, b: Value, *, transpose_b: bool = False) -> Value:
        return self.op("BatchMatMulV2", [a, b], {"adj_x": False, "adj_y": transpose_b}, dtype=a.dtype,
                       label="matmul")

    def range_f32(self, length: Value) -> Value:
        """0, 1, …, length-1 as float32, for an int32 scalar ``length``."""
        r = self.op("Range", [self.i32(0, "start"), length, self.i32(1, "delta")], {"Tidx": I32}, dtype=I32,
                    label="range")
        return self.cast(r, F32)
