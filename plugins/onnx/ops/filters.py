"""Convolution weights known now or only at run time, rearranged the same way for either.

A convolution mapping permutes ONNX's OIHW weight into TF's HWIO (HWCM, HWOI …), splits it per
group and zero-dilates or flips it. With a constant weight those steps run in numpy (lazy external
weights stay unread until written); with a weight that is a graph input or computed they become
Transpose / Reshape / StridedSlice / Pad / ReverseV2 nodes, so the model stays exact either way.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Value, materialize

from ..context import NodeContext
from .common import SLICE_ATTRS


class Filter:
    """A weight as numpy (``array``) or as an IR value of static ``shape`` (``value``)."""

    def __init__(self, ctx: NodeContext, *, array: object = None, value: Value | None = None,
                 shape: Sequence[int] | None = None) -> None:
        self.ctx = ctx
        self.array = array
        self.value = value
        self.shape: tuple[int, ...] = tuple(int(d) for d in (array.shape if array is not None else shape))  # type: ignore[union-attr]

    @classmethod
    def from_input(cls, ctx: NodeContext, i: int, what: str = "the weight") -> Filter:
        """Input ``i`` as a filter: its constant value, or its run-time value when its shape is static."""
        const = ctx.const(i)
        if const is not None:
            return cls(ctx, array=const)
        shape = ctx.shape(i)
        if shape is None or any(d is None for d in shape):
            raise ctx.error(f"{what} (input {i}) is computed at run time and its shape is not static",
                            hint="export the model with the weights as initializers, or with static shapes")
        return cls(ctx, value=ctx.input(i), shape=shape)

    @property
    def is_const(self) -> bool:
        return self.array is not None

    def _new(self, array: object = None, value: Value | None = None, shape: Sequence[int] | None = None) -> Filter:
        return Filter(self.ctx, array=array, value=value, shape=shape)

    def transpose(self, perm: Sequence[int], label: str) -> Filter:
        shape = [self.shape[p] for p in perm]
        if self.is_const:
            return self._new(array=self.array.transpose(*perm))  # type: ignore[union-attr]
        v = self.ctx.op("Transpose", [self.value, self.ctx.ints(perm, label=f"{label}_perm")],  # type: ignore[list-item]
                        {"Tperm": DType.INT32}, label=label)
        return self._new(value=v, shape=shape)

    def reshape(self, shape: Sequence[int], label: str) -> Filter:
        if self.is_const:
            return self._new(array=self.array.reshape(*shape))  # type: ignore[union-attr]
        v = self.ctx.reshape(self.value, shape, label=label)
        return self._new(value=v, shape=shape)

    def part(self, axis: int, index: int, parts: int, label: str) -> Filter:
        """The ``index``-th of ``parts`` equal slices along ``axis``."""
        size = self.shape[axis] // parts
        if self.is_const:
            whole = materialize(self.array)  # type: ignore[arg-type]
            return self._new(array=np.take(whole, range(index * size, (index + 1) * size), axis=axis))
        rank = len(self.shape)
        begin = [0] * rank
        end = [0] * rank
        begin[axis], end[axis] = index * size, (index + 1) * size
        mask = ((1 << rank) - 1) & ~(1 << axis)
        v = self.ctx.op("StridedSlice", [self.value, self.ctx.ints(begin, label=f"{label}_begin"),  # type: ignore[list-item]
                                         self.ctx.ints(end, label=f"{label}_end"),
                                         self.ctx.ints([1] * rank, label=f"{label}_strides")],
                        {**SLICE_ATTRS, "begin_mask": mask, "end_mask": mask}, label=label)
        shape = list(self.shape)
        shape[axis] = size
        return self._new(value=v, shape=shape)

    def dilate(self, axes: Sequence[int], rates: Sequence[int], label: str) -> Filter:
        """``rate - 1`` zeros between the taps along each of ``axes`` (a dilated kernel as a sparse dense one)."""
        if all(r == 1 for r in rates):
            return self
        if self.is_const:
            array = materialize(self.array)  # type: ignore[arg-type]
            shape = list(array.shape)
            index: list[object] = [slice(None)] * array.ndim
            for axis, rate in zip(axes, rates):
                shape[axis] = (shape[axis] - 1) * rate + 1
                index[axis] = slice(None, None, rate)
            dilated = np.zeros(shape, array.dtype)
            dilated[tuple(index)] = array
            return self._new(array=dilated)
        out = self
        for axis, rate in zip(axes, rates):
            if rate > 1:
                out = out._dilate_axis(axis, rate, f"{label}{axis}")
        return out

    def _dilate_axis(self, axis: int, rate: int, label: str) -> Filter:
        ctx, rank, n = self.ctx, len(self.shape), self.shape[axis]
        # [.., n, ..] as [.. * n, 1, ..] padded to [.. * n, rate, ..]: a rank-3 Pad (webgl's fails at rank 5+)
        flat = [int(np.prod(self.shape[:axis + 1])), 1, int(np.prod(self.shape[axis + 1:]))]
        v = ctx.reshape(self.value, flat, label=f"{label}_flat")
        pads = np.array([[0, 0], [0, rate - 1], [0, 0]], np.int32)
        v = ctx.pad(v, pads, label=f"{label}_pad")
        merged = list(self.shape)
        merged[axis] = n * rate
        v = ctx.reshape(v, merged, label=f"{label}_merge")
        kept = list(merged)
        kept[axis] = (n - 1) * rate + 1
        v = ctx.op("Slice", [v, ctx.ints([0] * rank, label=f"{label}_begin"), ctx.ints(kept, label=f"{label}_size")],
                   {"Index": DType.INT32}, label=label)
        return self._new(value=v, shape=kept)

    def flip(self, axes: Sequence[int], label: str) -> Filter:
        if self.is_const:
            array = materialize(self.array)  # type: ignore[arg-type]
            return self._new(array=np.flip(array, axis=tuple(axes)))
        lead = min(axes)  # webgl reverses at most rank 4: merge the unflipped leading axes first
        v = self.value
        if lead > 1 and sorted(axes) == list(range(lead, len(self.shape))):
            merged = [int(np.prod(self.shape[:lead])), *self.shape[lead:]]
            v = self.ctx.reshape(v, merged, label=f"{label}_merged")
            axes = [a - lead + 1 for a in axes]
        v = self.ctx.op("ReverseV2", [v, self.ctx.ints(axes, label=f"{label}_axes")],  # type: ignore[list-item]
                        {"Tidx": DType.INT32}, label=label if v is self.value else f"{label}_reversed")
        if v.producer.inputs[0] is not self.value:
            v = self.ctx.reshape(v, self.shape, label=label)
        return self._new(value=v, shape=self.shape)

    def emit(self, label: str) -> Value:
        """The filter as an IR value (a Const when known now)."""
        if self.is_const:
            array = self.array
            if isinstance(array, np.ndarray):
                array = np.ascontiguousarray(array)
            return self.ctx.make_const(array, label=label)
        return self.value  # type: ignore[return-value]
