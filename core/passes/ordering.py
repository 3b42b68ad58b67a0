"""The order passes run in, from the names they declare in ``after=``/``before=``.

A stable topological sort: every ``after``/``before`` constraint between two selected passes holds;
a constraint naming a pass that is not selected is ignored (it may be skipped or not installed).
Otherwise passes keep their registration order, except that a pass declaring ``after=("x",)`` is
placed right after ``x`` (and one declaring ``before=("x",)`` right before it), so a plugin's pass
lands where it asked, not after every built-in. The deprecated integer ``order`` (default 100) only
breaks ties between passes the constraints leave free: lower first.
"""
from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from ..errors import PluginError


def declared(p: Any, attr: str) -> tuple[str, ...]:
    """A pass's ``after``/``before`` as a tuple (a bare string is one name)."""
    names = getattr(p, attr, ()) or ()
    return (names,) if isinstance(names, str) else tuple(names)


def order_passes(passes: Sequence[Any]) -> list[Any]:
    """``passes`` (in registration order) sorted so that every after/before among them holds."""
    index = {p.name: i for i, p in enumerate(passes)}
    successors: list[set[int]] = [set() for _ in passes]
    for i, p in enumerate(passes):
        for name in declared(p, "after"):
            if name in index and index[name] != i:
                successors[index[name]].add(i)
        for name in declared(p, "before"):
            if name in index and index[name] != i:
                successors[i].add(index[name])
    _refuse_cycles(passes, successors)
    keys = _placement_keys(passes, index)
    indegree = [0] * len(passes)
    for targets in successors:
        for j in targets:
            indegree[j] += 1
    ready = [(_tie_breaker(passes[i]), keys[i], i) for i, d in enumerate(indegree) if d == 0]
    heapq.heapify(ready)
    result = []
    while ready:
        *_, i = heapq.heappop(ready)
        result.append(passes[i])
        for j in successors[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                heapq.heappush(ready, (_tie_breaker(passes[j]), keys[j], j))
    return result


def _tie_breaker(p: Any) -> int:
    """The deprecated integer ``order`` (third-party passes only; built-ins declare names)."""
    return int(getattr(p, "order", 100))


def _placement_keys(passes: Sequence[Any], index: dict[str, int]) -> list[tuple]:
    """Where each pass would like to run: its registration slot, or right after (before) its anchor.

    A key is a tuple of (slot, side) pairs compared lexicographically: ``after`` x appends to x's
    key (so it sorts after x and before x's next sibling); ``before`` x replaces x's last side by -1.
    """
    keys: dict[int, tuple] = {}
    computing: set[int] = set()

    def key(i: int) -> tuple:
        if i in computing:  # p before q and q after p: anchor on the registration slot
            return ((i, 0),)
        if i not in keys:
            computing.add(i)
            p = passes[i]
            after = [index[n] for n in declared(p, "after") if n in index and index[n] != i]
            before = [index[n] for n in declared(p, "before") if n in index and index[n] != i]
            if after:
                keys[i] = max(key(j) for j in after) + ((i, 1),)
            elif before:
                anchor = min(key(j) for j in before)
                keys[i] = anchor[:-1] + ((anchor[-1][0], -1), (i, 0))
            else:
                keys[i] = ((i, 0),)
            computing.discard(i)
        return keys[i]

    return [key(i) for i in range(len(passes))]


def _refuse_cycles(passes: Sequence[Any], successors: list[set[int]]) -> None:
    """A PluginError naming the passes on a cycle of after/before constraints, if there is one."""
    state = [0] * len(passes)  # 0 unseen, 1 on the current path, 2 done

    def visit(i: int, path: list[int]) -> None:
        state[i] = 1
        path.append(i)
        for j in sorted(successors[i]):
            if state[j] == 1:
                cycle = path[path.index(j):] + [j]
                raise PluginError("pass ordering has a cycle: " + " -> ".join(passes[k].name for k in cycle),
                                  hint="fix the after=/before= declarations of these passes")
            if state[j] == 0:
                visit(j, path)
        path.pop()
        state[i] = 2

    for i in range(len(passes)):
        if state[i] == 0:
            visit(i, [])
