"""Graph passes and the manager that runs them to a fixed point.

A pass is a small object with a ``name``, a ``level`` (the lowest ``--optimization_level`` that
runs it), its place by name (``after``/``before``: passes.ordering) and ``run(graph) -> PassResult``
(the rewrites made, optionally per kind; ``--verbose`` prints the sums). A third-party pass that
returns a bare bool or int is still accepted (``PassResult.of``). Plugins add passes through
``register_passes``; docs/passes.md lists the built-in ones. A pass with ``stage = "frontend"`` is
run by a frontend on the graphs it builds (passes.frontend), never by the PassManager.
"""
from __future__ import annotations

import dataclasses
import logging
import numbers
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from ..ir import Graph

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PassResult:
    """What one run of a pass did: the rewrites it made, optionally split by kind (e.g. folded/removed).

    Truthy when the graph changed, so ``if p.run(graph):`` reads naturally.
    """

    rewrites: int = 0
    counts: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def modified(self) -> bool:
        return self.rewrites > 0

    def __bool__(self) -> bool:
        return self.modified

    @classmethod
    def from_counts(cls, **counts: int) -> "PassResult":
        """A result whose rewrites are the sum of per-kind ``counts`` (kinds with 0 are dropped)."""
        kept = {kind: int(n) for kind, n in counts.items() if n}
        return cls(sum(kept.values()), kept)

    @classmethod
    def of(cls, value: Any) -> "PassResult":
        """A pass's return value as a result: a PassResult, or (compatibility) a bool, an int or None."""
        if isinstance(value, PassResult):
            return value
        if value is None or isinstance(value, numbers.Integral):
            return cls(int(value or 0))
        raise TypeError(f"a pass returned {type(value).__name__}; expected a PassResult (or a bool/int)")


class Pass:
    """Base class: override :meth:`run` and return a :class:`PassResult`.

    ``after``/``before`` name the passes this one must run after/before (passes.ordering). ``order``
    is deprecated (kept one release for third-party passes): it only breaks ties, lower first.
    """

    name: ClassVar[str] = ""
    level: ClassVar[int] = 1
    after: ClassVar[tuple[str, ...]] = ()
    before: ClassVar[tuple[str, ...]] = ()
    #: Deprecated: ties between passes the after/before constraints leave free run lower order first.
    order: ClassVar[int] = 100
    #: ``"pipeline"``: run by the PassManager after loading. ``"frontend"``: run once per graph by the
    #: frontend that builds it (``passes.frontend.run_frontend_passes``), e.g. before it lowers control flow.
    stage: ClassVar[str] = "pipeline"
    #: Skipping it would give a model TF.js cannot run or that computes something else: ``--skip_passes``
    #: naming it is refused.
    required: ClassVar[bool] = False

    def enabled(self, options: object) -> bool:
        """Whether this pass applies under the given conversion options (beyond its level)."""
        return True

    def configured(self, options: object) -> "Pass":
        """The pass to run for these options (a pass that reads them, e.g. the target backends, returns a copy)."""
        return self

    def run(self, graph: Graph) -> PassResult:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Pass {self.name}>"


@dataclasses.dataclass
class PassStats:
    name: str
    runs: int = 0
    #: Rewrites made, summed over sweeps (a third-party pass returning True counts one).
    changes: int = 0
    seconds: float = 0.0
    #: Rewrites per kind, summed over sweeps (for passes whose results name kinds).
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(self, result: PassResult) -> None:
        self.changes += result.rewrites
        for kind, n in result.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n


@dataclasses.dataclass
class PassReport:
    ops_before: dict[str, int]
    ops_after: dict[str, int]
    stats: list[PassStats]
    sweeps: int


class PassManager:
    """Runs passes in their declared order, sweep after sweep, until a sweep changes nothing (or ``max_sweeps``)."""

    def __init__(self, passes: Sequence[Pass], *, max_sweeps: int = 20) -> None:
        from .ordering import order_passes

        self.passes = order_passes(passes)
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
                result = PassResult.of(p.run(graph))
                stat.seconds += time.perf_counter() - start
                if result.modified:
                    stat.add(result)
                    changed = True
                    log.debug("pass %s changed the graph (sweep %d)", p.name, sweeps)
            if not changed:
                break
        return PassReport(before, graph.op_histogram(), list(stats.values()), sweeps)


def check_skip_names(available: Iterable[Pass], skip: Iterable[str]) -> None:
    """``--skip_passes`` names must be known passes (of any stage) and none may be required: a usage
    error otherwise, raised before any framework loads (``convert`` checks it first)."""
    from ..errors import UsageError

    available = list(available)
    names = {p.name for p in available}
    unknown = sorted(set(skip) - names)
    if unknown:
        raise UsageError(f"--skip_passes names unknown pass(es): {', '.join(unknown)}",
                         hint=f"known passes: {', '.join(sorted(names))}")
    required = sorted(p.name for p in available if p.name in set(skip) and getattr(p, "required", False))
    if required:
        raise UsageError(f"--skip_passes cannot skip required pass(es): {', '.join(required)}",
                         hint="without them TF.js cannot run the model or computes something else (docs/passes.md)")


def select_passes(available: Iterable[Pass], *, level: int, skip: Iterable[str] = (), options: object = None,
                  stage: str = "pipeline") -> list[Pass]:
    """The passes of ``stage`` to run at ``level``, minus ``skip`` (names of any stage; unknown names,
    and required passes, are an error, not ignored)."""
    available = list(available)
    check_skip_names(available, skip)
    skip = set(skip)
    chosen = [p for p in available if getattr(p, "stage", "pipeline") == stage and p.level <= level
              and p.name not in skip and p.enabled(options)]
    return [p.configured(options) if hasattr(p, "configured") else p for p in chosen]
