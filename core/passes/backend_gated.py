"""Rewrites needed only when a target backend cannot run a node as it is.

Such a pass rewrites a node only when the backend contract (``tfjsconv.ops.backends``) says one of
the conversion's ``--target_backends`` refuses it, so a model converted for backends that run the
op keeps the op. ``enabled`` reads the targets from the conversion options (``run`` without
``enabled``, as in a bare ``PassManager``, assumes the default targets).
"""
from __future__ import annotations

from typing import Any

from ..ir import Node
from . import Pass


class BackendGatedPass(Pass):
    """A pass whose rewrites apply to nodes some target backend refuses (see :meth:`refused_on`)."""

    #: The backends the current conversion targets; set by :meth:`enabled`.
    targets: tuple[str, ...] = ()

    def enabled(self, options: Any) -> bool:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS

        self.targets = tuple(getattr(options, "target_backends", None) or DEFAULT_TARGET_BACKENDS)
        return True

    def refused_on(self, node: Node) -> list[str]:
        """The target backends the contract says cannot run ``node`` as it is."""
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, BackendContract, NodeFacts

        contract = BackendContract.load()
        facts = NodeFacts.of(node)
        targets = self.targets or DEFAULT_TARGET_BACKENDS
        return [b for b in targets if b in contract.backends and contract.reasons(facts, b)]
