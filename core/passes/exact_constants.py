"""The constants some passes write that must stay exactly as written: no ``--quantize_*`` flag rounds them and no
fold merges them into weights that a flag would round.

float16's ``2/√π`` alone put 4e-4 relative error on every ``erf_small`` argument below 1/4, and ``mean_as_sum``'s
count rounds past 2048 and is Inf past 65504, a mean of 0 (review r3, session 30); its ``2^-k`` share folded into a
convolution's kernel made float16 subnormals of the weights (6.6e-2 of the range off, review r7).
"""
from __future__ import annotations

from collections.abc import Iterable


def _marks() -> tuple[str, ...]:
    from . import erf_small, mean_as_sum

    return (erf_small.MARK, mean_as_sum.MARK)


def is_exact_constant(name: str) -> bool:
    """Whether the constant named ``name`` was written by one of these passes (their ``MARK`` is in the name)."""
    return any(f"/{mark}/" in name for mark in _marks())


def exact_constants(weight_names: Iterable[str]) -> frozenset[str]:
    """The names among ``weight_names`` that :func:`is_exact_constant` keeps as written."""
    return frozenset(name for name in weight_names if is_exact_constant(name))
