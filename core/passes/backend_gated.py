"""Rewrites needed only when a target backend cannot run a node as it is.

Such a pass rewrites a node only when the backend contract (``tfjsconv.ops.backends``) says one of
the conversion's ``--target_backends`` refuses it, so a model converted for backends that run the
op keeps the op. ``configured`` returns a copy holding the conversion's targets, so the registered
instance is never changed and two conversions in one process (threads) cannot mix targets; ``run``
on an unconfigured pass, as in a bare ``PassManager``, assumes the default targets.
"""
from __future__ import annotations

import copy
from typing import Any

from ..ir import Node
from . import Pass


class BackendGatedPass(Pass):
    """A pass whose rewrites apply to nodes some target backend refuses (see :meth:`refused_on`)."""

    #: The backends this copy's conversion targets (empty: the defaults); set on the copy :meth:`configured` makes.
    targets: tuple[str, ...] = ()

    def configured(self, options: Any) -> "BackendGatedPass":
        """A copy of this pass for one conversion, targeting its ``--target_backends``."""
        from ..ops.backends import DEFAULT_TARGET_BACKENDS

        run = copy.copy(self)
        run.targets = tuple(getattr(options, "target_backends", None) or DEFAULT_TARGET_BACKENDS)
        return run

    def refused_on(self, node: Node) -> list[str]:
        """The target backends the contract says cannot run ``node`` as it is."""
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, BackendContract, NodeFacts

        contract = BackendContract.load()
        facts = NodeFacts.of(node)
        targets = self.targets or DEFAULT_TARGET_BACKENDS
        return [b for b in targets if b in contract.backends and contract.reasons(facts, b)]
