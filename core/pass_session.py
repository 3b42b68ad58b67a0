"""What a conversion hands the frontend passes while its frontend loads: the registry, the options
(level, ``--skip_passes``) and where their statistics go (``--verbose``).

Kept apart from :mod:`tfjsconv.passes.frontend` so that a conversion that runs no pass (a layers
model) imports no pass module.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from typing import Any


@dataclasses.dataclass
class PassSession:
    registry: Any
    options: Any
    #: PassStats by pass name, in the order the passes first ran (filled by passes.frontend).
    stats: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: The selected frontend passes, in order (chosen on first use).
    passes: list[Any] | None = None


_current: contextvars.ContextVar[PassSession | None] = contextvars.ContextVar("tfjsconv_pass_session", default=None)


def current_session() -> PassSession | None:
    return _current.get()


@contextlib.contextmanager
def frontend_pass_session(options: Any, registry: Any) -> Iterator[list[Any]]:
    """While the block runs, frontend passes come from ``registry`` as ``options`` select them; yields
    the list their statistics (PassStats) are added to when the block ends, in run order."""
    session = PassSession(registry, options)
    token = _current.set(session)
    collected: list[Any] = []
    try:
        yield collected
    finally:
        _current.reset(token)
        collected.extend(session.stats.values())
