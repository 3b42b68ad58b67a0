"""The core's own contributions, registered through the same hooks as any plugin."""
from __future__ import annotations

from typing import Callable

from .hookspecs import hookimpl


@hookimpl
def register_writers(register: Callable) -> None:
    from .writers.graph_model import GraphModelWriter
    from .writers.layers_model import LayersModelWriter

    register(GraphModelWriter())
    register(LayersModelWriter())


@hookimpl
def register_frontends(register: Callable) -> None:
    from .frontends.ir_frontend import IRFrontend

    register(IRFrontend())


@hookimpl
def register_passes(register: Callable) -> None:
    from .passes.dead_code import RemoveDeadNodes
    from .passes.strip_debug_ops import StripDebugOps

    register(StripDebugOps())
    register(RemoveDeadNodes())
