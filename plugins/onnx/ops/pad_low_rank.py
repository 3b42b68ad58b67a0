"""Pad a tensor of rank 5 or more as rank-3 Pads, one per padded axis (webgl's pad shader fails at rank 5+)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfjsconv.ir import Value

from ..context import NodeContext


def pad(ctx: NodeContext, x: Value, shape: Sequence[int | None], pads: Sequence[tuple[int, int]], *,
        value: Value | None = None, label: str = "pad") -> Value:
    """``x`` of ``shape`` (static but for dim 0) padded by ``pads`` (one (begin, end) per dim), with
    ``value`` (PadV2) or zeros: one Pad up to rank 4, else per axis Reshape to [before, axis, after],
    a rank-3 Pad, and Reshape back."""
    rank = len(shape)
    if not any(b or e for b, e in pads):
        return x
    if rank <= 4:
        return ctx.pad(x, np.array(pads, np.int32), value=value, label=label)
    if any(d is None for d in shape[1:]):
        raise ctx.error("padding a rank-5 tensor needs static dimensions after the batch")
    dims = [-1 if shape[0] is None else int(shape[0]), *[int(d) for d in shape[1:]]]
    for axis, (b, e) in enumerate(pads):
        if not (b or e):
            continue
        if axis == 0:
            raise ctx.error("padding the batch axis of a rank-5 tensor is not supported")
        before = -1 if dims[0] == -1 else int(np.prod(dims[:axis]))
        after = int(np.prod(dims[axis + 1:]))
        flat = ctx.reshape(x, [before, dims[axis], after], label=f"{label}{axis}_flat")
        padded = ctx.pad(flat, np.array([[0, 0], [b, e], [0, 0]], np.int32), value=value, label=f"{label}{axis}")
        dims[axis] += b + e
        x = ctx.reshape(padded, dims, label=f"{label}{axis}_back")
    return x
