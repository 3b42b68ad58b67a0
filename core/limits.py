"""Bounds on the work one input may ask for, so a hostile file is refused quickly instead of hanging.

Every bound is far above what real models need (ResNet50 or BERT graphs have 1-5k nodes, a few
hundred weights, a few levels of nested functions), overridable by a ``convert`` flag of the same
name (``--max_nodes``), and exceeding one is an :class:`~tfjsconv.errors.InputError` (exit 2).
Frontends read them from ``options.limits``; code without options uses :data:`DEFAULT_LIMITS`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from .errors import InputError


@dataclasses.dataclass(frozen=True)
class Limits:
    #: Nodes in the graph (main graph plus every function body, counted once per call site).
    max_nodes: int = 200_000
    #: Depth of nested function calls (a function calling itself is refused whatever this is).
    max_function_depth: int = 64
    #: Longest chain of dependent nodes (TensorFlow graphs, functions inlined): Grappler recurses
    #: along it and crashes the process (SIGSEGV) between 30,000 and 40,000.
    max_graph_depth: int = 10_000
    #: Weight entries in one weights manifest (read or written); TF.js fails to load ~10^5 and more.
    max_weights: int = 20_000
    #: Members of one archive (.keras, .pt2 zip).
    max_archive_members: int = 100_000

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def problems(self) -> list[str]:
        """Flag errors for values that are not positive integers."""
        return [f"--{name} must be a positive integer, got {value!r}"
                for name, value in dataclasses.asdict(self).items()
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0]


DEFAULT_LIMITS = Limits()


def limits_of(options: Any) -> Limits:
    """The limits of a ConvertOptions (or anything with ``limits``), else the defaults."""
    limits = getattr(options, "limits", None)
    return limits if isinstance(limits, Limits) else DEFAULT_LIMITS


class LimitExceeded(InputError):
    """The input asks for more work than a limit allows (an InputError: exit code 2)."""


def check_limit(name: str, count: int, limits: Limits, what: str) -> None:
    """Raise :class:`LimitExceeded` when ``count`` exceeds ``limits.<name>``; ``what`` names the input part."""
    bound = getattr(limits, name)
    if count > bound:
        raise LimitExceeded(f"{what}: {count:,} exceeds the limit of {bound:,} (--{name})",
                            hint=f"if the input is trusted and really this large, pass --{name}={count}")
