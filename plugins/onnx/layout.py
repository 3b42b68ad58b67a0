"""Permutation algebra for layout tracking.

Every translated ONNX tensor carries a ``perm``: the IR value equals ``np.transpose(onnx_value, perm)``.
``None`` means "same layout as in ONNX". Keeping NHWC tensors as ``perm=(0, 2, 3, 1)`` lets ops between
convolutions run without transposes; a Transpose is emitted only when an op needs another layout.
"""
from __future__ import annotations

from collections.abc import Sequence

Perm = tuple[int, ...] | None


def normalize(perm: Sequence[int] | None) -> Perm:
    """``None`` for the identity, else a tuple."""
    if perm is None:
        return None
    perm = tuple(int(p) for p in perm)
    return None if perm == tuple(range(len(perm))) else perm


def channels_last(rank: int) -> Perm:
    """The NHWC-style perm for a rank-``rank`` NCHW-style tensor: (0, 2, ..., rank-1, 1)."""
    if rank < 3:
        return None
    return (0, *range(2, rank), 1)


def full(perm: Perm, rank: int) -> tuple[int, ...]:
    return tuple(range(rank)) if perm is None else perm


def inverse(perm: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def relative(src: Perm, dst: Perm, rank: int) -> Perm:
    """The Transpose perm that turns a tensor laid out as ``src`` into one laid out as ``dst``."""
    s, d = full(src, rank), full(dst, rank)
    return normalize([s.index(a) for a in d])


def ir_axis(perm: Perm, axis: int) -> int:
    """Where canonical (ONNX) ``axis`` lives in the IR tensor."""
    return axis if perm is None else perm.index(axis)


def after_removing(perm: Perm, rank: int, axes: Sequence[int]) -> Perm:
    """The perm of the result when canonical ``axes`` are dropped (Squeeze, reductions without keepdims)."""
    removed = set(axes)
    kept = [a for a in full(perm, rank) if a not in removed]
    order = sorted(kept)
    return normalize([order.index(a) for a in kept])


def transpose_is_free(perm: Perm, shape: Sequence[int | None] | None) -> bool:
    """True when transposing by ``perm`` only moves size-1 dims, i.e. leaves the memory order alone.

    A Reshape/Flatten of such a tensor gives the same result in either layout (e.g. NHWC [N,1,1,C]
    after a global pool), so no Transpose is needed.
    """
    if perm is None:
        return True
    if shape is None or len(shape) != len(perm):
        return False
    moved = [a for a in perm if shape[a] != 1]
    return moved == sorted(moved)


def permute(shape: Sequence[int | None] | None, perm: Perm) -> tuple[int | None, ...] | None:
    """A canonical shape as laid out by ``perm``."""
    if shape is None:
        return None
    shape = tuple(shape)
    return shape if perm is None else tuple(shape[a] for a in perm)
