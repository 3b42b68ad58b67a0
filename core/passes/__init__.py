"""Graph passes and the manager that runs them to a fixed point.

A pass is a small object with a ``name``, a ``level`` (the lowest ``--optimization_level`` that
runs it) and ``run(graph) -> changed``. ``changed`` may be a bool or the number of rewrites made
(``--verbose`` prints the sums). Plugins add passes through ``register_passes``; docs/passes.md
lists the built-in ones.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Sequence
from typing import ClassVar

from ..ir import Graph

log = logging.getLogger(__name__)


class Pass:
    """Base class: override :meth:`run`; return True when the graph changed."""

    name: ClassVar[str] = ""
    level: ClassVar[int] = 1
    #: Passes with a lower order run first within one sweep.
    order: ClassVar[int] = 100

    def enabled(self, options: object) -> bool:
        """Whether this pass applies under the given conversion options (beyond its level)."""
        return True

    def configured(self, options: object) -> "Pass":
        """The pass to run for these options (a pass that reads them, e.g. the target backends, returns a copy)."""
        return self

    def run(self, graph: Graph) -> bool | int:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Pass {self.name}>"


@dataclasses.dataclass
class PassStats:
    name: str
    runs: int = 0
    #: Rewrites made, summed over sweeps (a pass returning True counts one).
    changes: int = 0
    seconds: float = 0.0


@dataclasses.dataclass
class PassReport:
    ops_before: dict[str, int]
    ops_after: dict[str, int]
    stats: list[PassStats]
    sweeps: int


class PassManager:
    """Runs passes in order, sweep after sweep, until a sweep changes nothing (or ``max_sweeps``)."""

    def __init__(self, passes: Sequence[Pass], *, max_sweeps: int = 20) -> None:
        self.passes = sorted(passes, key=lambda p: (p.order, p.name))
        self.max_sweeps = max_sweeps

    def run(self, graph: Graph) -> PassReport:
        before = graph.op_histogram()
        stats = {p.name: PassStats(p.name) for p in self.passes}
        sweeps = 0
        for sweeps in range(1, self.max_sweeps + 1):
            changed = False
            for p in self.passes:
                stat = stats[p.name]
                stat.runs += 1
                start = time.perf_counter()
                result = p.run(graph)
                stat.seconds += time.perf_counter() - start
                if result:
                    stat.changes += int(result)
                    changed = True
                    log.debug("pass %s changed the graph (sweep %d)", p.name, sweeps)
            if not changed:
                break
        return PassReport(before, graph.op_histogram(), list(stats.values()), sweeps)


def select_passes(available: Iterable[Pass], *, level: int, skip: Iterable[str] = (), options: object = None) -> list[Pass]:
    """The passes to run at ``level``, minus ``skip`` (unknown names are an error, not ignored)."""
    from ..errors import UsageError

    available = list(available)
    names = {p.name for p in available}
    unknown = sorted(set(skip) - names)
    if unknown:
        raise UsageError(f"--skip_passes names unknown pass(es): {', '.join(unknown)}",
                         hint=f"known passes: {', '.join(sorted(names))}")
    skip = set(skip)
    chosen = [p for p in available if p.level <= level and p.name not in skip and p.enabled(options)]
    return [p.configured(options) if hasattr(p, "configured") else p for p in chosen]
