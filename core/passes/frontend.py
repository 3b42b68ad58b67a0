"""Frontend passes: the passes (``stage = "frontend"``) a frontend runs on each graph it builds.

Some rewrites must happen while the frontend still holds the graph: the TensorFlow frontends drop
control edges before they lower loops (which places new ones) and rewrite every loop or branch
body before it is copied into the main graph. These rewrites are ordinary registered passes (named,
ordered by ``after``/``before``, overridable, in ``--skip_passes`` and ``--verbose``); the frontend
runs them through :func:`run_frontend_passes`, once per graph and in their declared order, never to
a fixed point (a second ``drop_control_edges`` would remove the anchors lowering placed).

A conversion opens a ``tfjsconv.pass_session.frontend_pass_session`` around loading: it supplies the
registry and the options (level, ``--skip_passes``) and collects the statistics ``--verbose`` prints. Outside a
conversion (a frontend helper called directly) the default plugin manager's passes all run.
"""
from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from ..ir import Graph
from ..pass_session import PassSession, current_session
from . import PassResult, PassStats

STAGE = "frontend"


def _selected(session: PassSession | None) -> list[Any]:
    from . import select_passes
    from .ordering import order_passes

    if session is not None and session.passes is not None:
        return session.passes
    if session is None:
        from ..plugin_manager import get_plugin_manager

        passes = select_passes(get_plugin_manager().registry.passes, level=2, stage=STAGE)
    else:
        options = session.options
        passes = select_passes(session.registry.passes, level=options.optimization_level,
                               skip=options.skip_passes, options=options, stage=STAGE)
    passes = order_passes(passes)
    if session is not None:
        session.passes = passes
    return passes


def run_frontend_passes(graph: Graph, *, only: Collection[str] | None = None) -> dict[str, PassResult]:
    """Run the selected frontend passes on ``graph`` once each, in order (``only``: just these names,
    e.g. the one a frontend repeats after lowering). Returns each pass's result by name."""
    session = current_session()
    results: dict[str, PassResult] = {}
    for p in _selected(session):
        if only is not None and p.name not in only:
            continue
        start = time.perf_counter()
        result = PassResult.of(p.run(graph))
        results[p.name] = result
        if session is not None:
            stat = session.stats.setdefault(p.name, PassStats(p.name))
            stat.runs += 1
            stat.seconds += time.perf_counter() - start
            stat.add(result)
    return results
