"""Progress of long conversions (load, passes, writing shards), shown only on a terminal.

A :class:`Progress` draws one live status line on stderr when it is a TTY and prints nothing
otherwise (pipes, CI logs, ``--quiet``). Deep code reports through :func:`current`, so the
weights writer needs no extra parameter: ``convert`` installs the reporter with :func:`using`.
"""
from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from .cli.report import human_bytes

#: Minimum seconds between two redraws of the live line.
REDRAW_INTERVAL_S = 0.1
_BAR_WIDTH = 24


class Progress:
    """Stage timings and a live bar; every method is a no-op when disabled."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self._stage: str | None = None
        self._started = 0.0
        self._last_draw = 0.0
        self._live = False
        self._totals: dict[str, float] = {}
        self._done: tuple[float, str] | None = None

    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None) -> Iterator[None]:
        """Time a stage; ``total`` (bytes) lets :meth:`advance` draw a percentage."""
        self._stage, self._started = name, time.perf_counter()
        if total:
            self._totals[name] = total
        self._draw(f"{name}…", force=True)
        try:
            yield
        except BaseException:
            self._clear()
            raise
        finally:
            self._stage = None
        self._clear()
        self._print(f"{name:<9} {time.perf_counter() - self._started:6.2f} s" + self._summary())

    def advance(self, done: float, *, detail: str = "") -> None:
        """Report ``done`` bytes of the current stage (drawn at most every 0.1 s)."""
        if not self.enabled or self._stage is None:
            return
        total = self._totals.get(self._stage)
        self._done = done, detail
        if total:
            fraction = min(1.0, done / total)
            filled = int(fraction * _BAR_WIDTH)
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            text = f"{self._stage:<9} [{bar}] {fraction:4.0%}  {human_bytes(done)} / {human_bytes(total)}"
        else:
            text = f"{self._stage:<9} {human_bytes(done)}"
        self._draw(text + (f"  {detail}" if detail else ""))

    def _summary(self) -> str:
        done = self._done
        if done is None:
            return ""
        self._done = None
        return f"  {human_bytes(done[0])}" + (f", {done[1]}" if done[1] else "")

    def _draw(self, text: str, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < REDRAW_INTERVAL_S:
            return
        self._last_draw = now
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._live = True

    def _clear(self) -> None:
        if self.enabled and self._live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._live = False

    def _print(self, line: str) -> None:
        if self.enabled:
            self.stream.write(line + "\n")
            self.stream.flush()


_NULL = Progress(enabled=False)
_current: contextvars.ContextVar[Progress] = contextvars.ContextVar("tfjsconv_progress", default=_NULL)


def current() -> Progress:
    """The reporter of the conversion running in this context (a silent one outside conversions)."""
    return _current.get()


@contextlib.contextmanager
def using(progress: Progress | None) -> Iterator[Progress]:
    """Make ``progress`` the :func:`current` reporter inside the block."""
    token = _current.set(progress or _NULL)
    try:
        yield current()
    finally:
        _current.reset(token)


def weight_bytes(model: object) -> int:
    """Expected weight bytes of a Graph or LayersModel (from shapes; nothing is loaded)."""
    import math

    from .ir import Graph

    if isinstance(model, Graph):
        arrays = (node.attrs.get("value") for node in model.nodes if node.op == "Const")
    else:
        arrays = (array for group in getattr(model, "weight_groups", []) for _, array in group)
    total = 0
    for array in arrays:
        try:
            total += math.prod(int(d) for d in array.shape) * min(int(array.dtype.itemsize), 4)
        except (AttributeError, TypeError, ValueError):
            continue
    return total
