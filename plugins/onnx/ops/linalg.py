"""Det of 1x1, 2x2 and 3x3 matrices, by cofactor expansion (TF.js has no determinant kernel)."""
from __future__ import annotations

import itertools

import numpy as np

from tfjsconv.ir import Value

from ..context import NodeContext
from ..mapping import onnx_op
from .common import reshape_to

#: The largest matrix whose determinant is spelled out (3! = 6 products of 3 entries).
MAX_DET_SIZE = 3


def _parity(perm: tuple[int, ...]) -> int:
    inversions = sum(1 for a, b in itertools.combinations(perm, 2) if a > b)
    return -1 if inversions % 2 else 1


@onnx_op("Det", since=11)
def det(ctx: NodeContext) -> Value:
    """Leibniz's formula over the entries of [*, M, M] flattened to [B, M*M] (M <= 3, static)."""
    shape = ctx.shape(0)
    if shape is None or len(shape) < 2 or shape[-1] is None or shape[-1] != shape[-2]:
        raise ctx.error(f"Det needs square matrices of static size, got shape {list(shape) if shape else '?'}")
    size = int(shape[-1])
    if size > MAX_DET_SIZE:
        raise ctx.error(f"Det of {size}x{size} matrices is not supported (TF.js has no determinant; "
                        f"up to {MAX_DET_SIZE}x{MAX_DET_SIZE} is spelled out)")
    batch = list(shape[:-2])
    flat = reshape_to(ctx, ctx.input_for_reshape(0), [None if None in batch else int(np.prod(batch, dtype=np.int64)),
                                                      size * size], label="entries")
    one = ctx.int32(1, label="entry_axis")

    def entry(r: int, c: int) -> Value:
        return ctx.gather(flat, ctx.int32(r * size + c, label=f"e{r}{c}/index"), one, label=f"e{r}{c}")

    entries = {(r, c): entry(r, c) for r in range(size) for c in range(size)}
    total = None
    for perm in itertools.permutations(range(size)):
        term = entries[(0, perm[0])]
        for r in range(1, size):
            term = ctx.op("Mul", [term, entries[(r, perm[r])]], label=f"term{''.join(map(str, perm))}_{r}")
        if total is None:
            total = term if _parity(perm) > 0 else ctx.op("Neg", [term], label="negated")
        else:
            total = ctx.op("AddV2" if _parity(perm) > 0 else "Sub", [total, term],
                           label=f"sum{''.join(map(str, perm))}")
    return reshape_to(ctx, total, batch)
