"""Which unknown dims of ONNX tensors are the same size at run time, for every input the model accepts.

A legacy ``torch.onnx.export`` with dynamic axes computes attention's ``Reshape(q, [B, T, -1, 64])``
target from ``Shape`` of *another* tensor (the layer's input, or the key of the same ``Split``): the
heads dim (the ``-1``) is static only once ``B`` and ``T`` of that tensor are known to be ``q``'s own.
Whole-model ONNX inference leaves them unrelated (``unk__26`` vs ``unk__9``), and the heads axis then
stays unknown, which costs every attention matmul a run-time broadcast (``needs_broadcast``).

This is a union-find over ``(tensor name, axis)``, joined only by rules that hold for every input the
op accepts: shape-preserving ops, broadcasting where the other operands' dims are 1 or the same class,
MatMul/Gemm rows and columns, Transpose, Split, Concat's other axes, Gather, Unsqueeze/Squeeze, and
Reshape dims that are passed through (a ``0`` copy; a size read with ``Shape`` under ``allowzero``, past
the input's rank, or that the input's dim at that position already equals, so that a run-time ``0``
copying that dim gives the same). No rule trusts ONNX's symbolic dim names.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .mapping import DEFAULT_DOMAINS
from .symbolic import Dim, elements_of

Key = tuple[str, int]

#: Ops whose first output has the first input's shape.
SAME_SHAPE = frozenset({
    "Identity", "Cast", "CastLike", "Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs",
    "Reciprocal", "Softmax", "LogSoftmax", "LayerNormalization", "Dropout", "Gelu", "Not", "Sign", "Floor",
    "Ceil", "Round", "Softplus", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "HardSwish", "Clip", "IsNaN",
    "IsInf", "BatchNormalization", "InstanceNormalization", "Mish", "Celu", "ThresholdedRelu", "Sin", "Cos",
    "SimplifiedLayerNormalization", "SkipLayerNormalization", "BiasGelu", "FastGelu", "QuickGelu",
})
#: Multidirectional (numpy) broadcasting ops: every input broadcast to the output's shape.
BROADCASTING = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Where", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual",
    "And", "Or", "Xor", "Max", "Min", "Mod", "Sum", "Mean", "BitShift", "PRelu",
})


class DimClasses:
    """Classes of equal run-time dims; tensors are ONNX names, axes in ONNX's layout."""

    def __init__(self) -> None:
        self._parent: dict[Key, Key] = {}

    def find(self, key: Key) -> Key:
        root = key
        while root in self._parent:
            root = self._parent[root]
        while key != root:  # path compression
            parent = self._parent[key]
            self._parent[key] = root
            key = parent
        return root

    def same(self, a: Key, b: Key) -> bool:
        return a == b or self.find(a) == self.find(b)

    def join(self, a: Key, b: Key) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._parent[ra] = rb

    def axes_like(self, key: Key, tensor: str, rank: int) -> list[int]:
        """The axes of ``tensor`` (of ``rank``) in ``key``'s class."""
        return [a for a in range(rank) if self.same(key, (tensor, a))]

    # -- rules ------------------------------------------------------------------------------------
    def track(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any], attrs: dict) -> None:
        """Join the dims of ``node``'s outputs to those of its inputs it provably equals
        (``inputs``/``outputs``: translated tensors with ``.shape``, or None)."""
        if node.domain not in DEFAULT_DOMAINS or not outputs or outputs[0] is None:
            return
        rule = getattr(self, f"_{node.op_type.lower()}", None)
        try:
            if node.op_type in SAME_SHAPE:
                self._same_shape(node, inputs)
            elif node.op_type in BROADCASTING:
                self._broadcast(node.output[0], _rank(outputs[0]), list(zip(node.input, inputs)))
            elif rule is not None:
                rule(node, inputs, outputs, attrs)
        except (TypeError, ValueError, IndexError, KeyError, ArithmeticError):  # rank 0: ``axis % 0``
            return  # an aid only: a malformed node just teaches nothing

    def _same_shape(self, node: Any, inputs: Sequence[Any]) -> None:
        rank = _rank(inputs[0])
        for a in range(rank or 0):
            self.join((node.output[0], a), (node.input[0], a))

    def _broadcast(self, out: str, rank: int | None, operands: list[tuple[str, Any]]) -> None:
        """Output dim ``i`` equals operand ``k``'s aligned dim when every other operand's aligned dim is
        absent, a static 1, or in the same class (the broadcast result is then that dim)."""
        if rank is None or any(t is None or t.shape is None for _, t in operands):
            return
        for i in range(rank):
            aligned = [(name, i - (rank - len(t.shape)), t.shape) for name, t in operands]
            aligned = [(name, j, shape) for name, j, shape in aligned if j >= 0]
            for name, j, _ in aligned:
                if all(shape[m] == 1 or self.same((name, j), (other, m))
                       for other, m, shape in aligned if (other, m) != (name, j)):
                    self.join((out, i), (name, j))

    def _matmul(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any], attrs: dict) -> None:
        a, b = inputs[0], inputs[1]
        ra, rb, r = _rank(a), _rank(b), _rank(outputs[0])
        if ra is None or rb is None or r is None or ra < 2 or rb < 2:
            return
        out = node.output[0]
        self.join((out, r - 2), (node.input[0], ra - 2))
        self.join((out, r - 1), (node.input[1], rb - 1))
        batch_a = _Shaped(a.shape[:-2])
        batch_b = _Shaped(b.shape[:-2])
        self._broadcast(out, r - 2, [(node.input[0], batch_a), (node.input[1], batch_b)])

    def _gemm(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any], attrs: dict) -> None:
        if _rank(inputs[0]) != 2 or _rank(inputs[1]) != 2:
            return
        self.join((node.output[0], 0), (node.input[0], 1 if attrs.get("transA", 0) else 0))
        self.join((node.output[0], 1), (node.input[1], 0 if attrs.get("transB", 0) else 1))

    def _transpose(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any], attrs: dict) -> None:
        rank = _rank(inputs[0])
        if rank is None:
            return
        perm = [int(p) for p in attrs.get("perm", list(reversed(range(rank))))]
        if sorted(perm) != list(range(rank)):
            return
        for i, p in enumerate(perm):
            self.join((node.output[0], i), (node.input[0], p))

    def _split(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any], attrs: dict) -> None:
        rank = _rank(inputs[0])
        if rank is None:
            return
        axis = int(attrs.get("axis", 0)) % rank
        for out in node.output:
            for a in range(rank):
                if out and a != axis:
                    self.join((out, a), (node.input[0], a))

    def _concat(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any], attrs: dict) -> None:
        rank = _rank(outputs[0])
        if rank is None or any(_rank(t) != rank for t in inputs if t is not None):
            return
        axis = int(attrs["axis"]) % rank
        for name in node.input:
            for a in range(rank):
                if name and a != axis:
                    self.join((node.output[0], a), (name, a))

    def _gather(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any], attrs: dict) -> None:
        rank, q = _rank(inputs[0]), _rank(inputs[1])
        if rank is None or q is None:
            return
        axis = int(attrs.get("axis", 0)) % rank
        sources = [(node.input[0], a) for a in range(axis)] + [(node.input[1], a) for a in range(q)] + \
            [(node.input[0], a) for a in range(axis + 1, rank)]
        for i, key in enumerate(sources):
            self.join((node.output[0], i), key)

    def _unsqueeze(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any], attrs: dict) -> None:
        self._kept_axes(node, inputs, outputs, attrs, inserted=True)

    def _squeeze(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any], attrs: dict) -> None:
        self._kept_axes(node, inputs, outputs, attrs, inserted=False)

    def _kept_axes(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any], attrs: dict, *,
                   inserted: bool) -> None:
        rin, rout = _rank(inputs[0]), _rank(outputs[0])
        axes = attrs.get("axes")
        if axes is None and len(inputs) > 1 and inputs[1] is not None:
            axes = inputs[1].const
        if rin is None or rout is None or axes is None:
            return
        wide = rout if inserted else rin
        axes = {int(a) % wide for a in np.asarray(axes).reshape(-1)}
        kept = [a for a in range(wide) if a not in axes]
        narrow = rin if inserted else rout
        if len(kept) != narrow:
            return
        for k, a in enumerate(kept):
            self.join((node.output[0], a) if inserted else (node.output[0], k),
                      (node.input[0], k) if inserted else (node.input[0], a))

    def _reshape(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any], attrs: dict) -> None:
        rank_in, elements = _rank(inputs[0]), elements_of(inputs[1])
        if rank_in is None or elements is None or _rank(outputs[0]) != len(elements):
            return
        allowzero = bool(attrs.get("allowzero", 0))
        for p, e in enumerate(elements):
            if e == 0 and not allowzero and p < rank_in:
                self.join((node.output[0], p), (node.input[0], p))
            elif isinstance(e, Dim) and (allowzero or p >= rank_in or self.same((e.tensor, e.axis),
                                                                                 (node.input[0], p))):
                # a size read with Shape is the output's dim, unless it is 0 and copies the input's dim p:
                # not with allowzero, nor past the input's rank (rejected), nor when the two are equal
                self.join((node.output[0], p), (e.tensor, e.axis))


class _Shaped:
    """A stand-in tensor for a part of a shape (MatMul's batch dims)."""

    def __init__(self, shape: Sequence) -> None:
        self.shape = tuple(shape)


def _rank(t: Any) -> int | None:
    return None if t is None or t.shape is None else len(t.shape)
