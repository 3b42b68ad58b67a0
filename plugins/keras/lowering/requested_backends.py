"""The ``--target_backends`` a lowering is for, so that a refusal made only for one backend's limits (webgl's rank 6)
is made only when that backend is requested; the backend contract checks the lowered graph for the others.

A context variable rather than a :class:`.context.LayerContext` field: layer contexts are built in a dozen places
(wrappers, cells, the walk) and every one would have to carry it."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: Every backend, as ``ConvertOptions.target_backends`` defaults to (a lowering called without targets).
EVERY_BACKEND = ("cpu", "wasm", "webgl", "webgpu")
#: The backends whose ops stop at rank 6 (their shaders index at most 6 axes).
RANK_6_BACKENDS = ("webgl", "webgpu")

_requested: ContextVar[tuple[str, ...]] = ContextVar("requested_backends", default=EVERY_BACKEND)


@contextmanager
def lowering_for(backends: Iterable[str] | None) -> Iterator[None]:
    """Lower for ``backends`` (None: every backend) while the block runs."""
    token = _requested.set(tuple(backends) if backends is not None else EVERY_BACKEND)
    try:
        yield
    finally:
        _requested.reset(token)


def rank_6_backends_requested() -> tuple[str, ...]:
    """The requested backends that cannot run an op past rank 6 (empty: a rank-7 op is the contract's to check)."""
    return tuple(b for b in _requested.get() if b in RANK_6_BACKENDS)
