"""ONNX ``Mod``: floor (``fmod=0``) or truncating (``fmod=1``) remainders, exact for ints and floats.

``fmod=0`` is TF's ``FloorMod`` (the sign of the divisor); the ``float_floor_division`` pass makes the
float case exact in TF.js. ``fmod=1`` is C's ``fmod`` (the sign of the dividend), which is TF's
``TruncateMod``: TF.js has none, and the ``truncating_division`` pass rewrites it into ops it has
(``sign(a)·floormod(|a|, |b|)`` for floats, a one-step correction of ``FloorMod`` for ints), exact
for every int32 and float32.
"""
from __future__ import annotations

from ..context import Laid, NodeContext
from ..mapping import onnx_op
from .common import binary


@onnx_op("Mod", since=10)
def mod(ctx: NodeContext) -> Laid:
    fmod = int(ctx.attr("fmod", 0))
    if fmod not in (0, 1):
        raise ctx.error(f"fmod must be 0 or 1, got {fmod}")
    return binary(ctx, "TruncateMod" if fmod else "FloorMod")
