"""How ONNX op types map to IR builders: one decorated function per op (and opset range).

A mapping is any callable ``fn(ctx) -> outputs`` (see :class:`~.context.NodeContext`). Built-in
mappings are written with :func:`onnx_op`, which records the op types and the opset each version
starts at; :func:`collect` turns decorated functions into :class:`VersionedMapping` objects, which
are registered through the ``register_op_mappings`` hook like a third party's. The loader asks the
plugin manager's registry at load time, so a plugin that registers ``("onnx", "Conv")`` overrides ours.
"""
from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

FRONTEND = "onnx"
#: The domains of the standard ONNX operator set.
DEFAULT_DOMAINS = ("", "ai.onnx")

Mapping = Callable[[Any], Any]


def onnx_op(*op_types: str, since: int = 1) -> Callable[[Mapping], Mapping]:
    """Mark ``fn`` as the mapping of ``op_types`` for opsets ``since`` and up (until a later version's ``since``)."""

    def mark(fn: Mapping) -> Mapping:
        marks = list(getattr(fn, "_onnx_ops", ()))
        marks.extend((op, since) for op in op_types)
        fn._onnx_ops = marks  # type: ignore[attr-defined]
        return fn

    return mark


class VersionedMapping:
    """One ONNX op type's mappings by opset: calls the version with the largest ``since`` <= the model's opset."""

    def __init__(self, op_type: str) -> None:
        self.op_type = op_type
        self._since: list[int] = []
        self._fns: list[Mapping] = []

    def add(self, since: int, fn: Mapping) -> None:
        if since in self._since:
            raise ValueError(f"two mappings for ONNX {self.op_type} since opset {since}")
        at = bisect.bisect(self._since, since)
        self._since.insert(at, since)
        self._fns.insert(at, fn)

    @property
    def min_opset(self) -> int:
        return self._since[0]

    @property
    def since_versions(self) -> tuple[int, ...]:
        """The opsets at which a mapping version starts (docs/onnx.md lists them)."""
        return tuple(self._since)

    def supports(self, opset: int) -> bool:
        return bool(self._since) and opset >= self._since[0]

    def for_opset(self, opset: int) -> Mapping:
        at = bisect.bisect(self._since, opset) - 1
        if at < 0:
            raise LookupError(f"ONNX {self.op_type} is mapped from opset {self._since[0]} on, not {opset}")
        return self._fns[at]

    def __call__(self, ctx: Any) -> Any:
        return self.for_opset(ctx.opset)(ctx)

    def __repr__(self) -> str:
        return f"<VersionedMapping {self.op_type} since {self._since}>"


def collect(modules: Iterable[ModuleType]) -> dict[str, VersionedMapping]:
    """Every :func:`onnx_op`-decorated function of ``modules``, grouped by op type."""
    found: dict[str, VersionedMapping] = {}
    seen: set[int] = set()  # a function re-exported by another module is registered once, wherever found
    for module in modules:
        for fn in vars(module).values():
            if id(fn) in seen or not getattr(fn, "_onnx_ops", ()):
                continue
            seen.add(id(fn))
            for op_type, since in fn._onnx_ops:
                found.setdefault(op_type, VersionedMapping(op_type)).add(since, fn)
    return found


def builtin_mappings() -> dict[str, VersionedMapping]:
    """The mappings shipped with the ONNX plugin (imports no onnx)."""
    from .ops import MODULES

    return collect(MODULES)


def lookup(op_mappings: dict[tuple[str, str], Any], domain: str, op_type: str) -> Any | None:
    """The registered mapping (an ``OpMapping``) for an ONNX node, or None.

    A registration under ``"domain:OpType"`` wins; a plain ``"OpType"`` applies when its ``domain``
    option is unset (any domain) or names the node's domain (``""`` = the standard set).
    """
    canonical = "" if domain in DEFAULT_DOMAINS else domain
    if canonical:
        qualified = op_mappings.get((FRONTEND, f"{canonical}:{op_type}"))
        if qualified is not None:
            return qualified
    entry = op_mappings.get((FRONTEND, op_type))
    if entry is None:
        return None
    wanted = entry.options.get("domain")
    if wanted is None:
        return entry
    wanted = "" if wanted in DEFAULT_DOMAINS else wanted
    return entry if wanted == canonical else None
