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


def reshape_groups(src: Sequence[int | None], dst: Sequence[int | None]) -> list[tuple[range, range]] | None:
    """Split a reshape into independent groups: source axes ``a`` become target axes ``b`` per group.

    ``[2, 8, 6, 6] -> [2, 8, 36]`` is ``(0)->(0), (1)->(1), (2, 3)->(2)``. None when the sizes do not
    line up (an unknown size is only matched with an unknown size, one to one).
    """
    groups: list[tuple[range, range]] = []
    i = j = 0
    while i < len(src) or j < len(dst):
        si, sj = i, j
        if i < len(src) and j < len(dst) and (src[i] is None or dst[j] is None):
            if src[i] is not None or dst[j] is not None:
                return None
            groups.append((range(i, i + 1), range(j, j + 1)))
            i, j = i + 1, j + 1
            continue
        pi = pj = 1
        if i < len(src):
            pi, i = pi * src[i], i + 1  # type: ignore[operator]
        if j < len(dst):
            pj, j = pj * dst[j], j + 1  # type: ignore[operator]
        while pi != pj:
            if pi < pj and i < len(src) and src[i] is not None:
                pi, i = pi * src[i], i + 1  # type: ignore[operator]
            elif pj < pi and j < len(dst) and dst[j] is not None:
                pj, j = pj * dst[j], j + 1  # type: ignore[operator]
            else:
                return None
        groups.append((range(si, i), range(sj, j)))
    return groups


def reshape_in_layout(perm: Perm, src: Sequence[int | None], dst: Sequence[int | None]
                      ) -> tuple[tuple[int | None, ...], Perm] | None:
    """Do an ONNX reshape ``src -> dst`` directly on a tensor laid out as ``perm``, if possible.

    Possible when every group of merged/split axes is contiguous and in order in the layout, e.g.
    NCHW [N,C,H,W] -> [N,C,H*W] on an NHWC tensor is [N,H,W,C] -> [N,H*W,C] with perm (0, 2, 1).
    Returns the IR target shape and the result's perm, or None (a Transpose is needed first).
    """
    if perm is None:
        return tuple(dst), None
    groups = reshape_groups(src, dst)
    if groups is None:
        return None
    owner = {a: g for g, (axes, _) in enumerate(groups) for a in axes}
    order: list[int] = []
    position = 0
    for a in perm:
        g = owner[a]
        axes = groups[g][0]
        if a == axes[0]:
            if list(perm[position:position + len(axes)]) != list(axes):
                return None
            order.append(g)
        position += 1
    order += [g for g, (axes, _) in enumerate(groups) if len(axes) == 0]  # new size-1 axes: append
    out_axes = [b for g in order for b in groups[g][1]]
    return tuple(dst[b] for b in out_axes), normalize(out_axes)
