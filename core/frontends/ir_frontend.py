"""In-memory IR graphs as a source: ``tfjsconv.convert(graph, "out/")``."""
from __future__ import annotations

from typing import Any

from ..frontend import Frontend
from ..ir import Graph
from ..options import ConvertOptions


class IRFrontend(Frontend):
    name = "ir"
    description = "a tfjsconv.ir.Graph built in Python"
    output_formats = ("tfjs_graph_model",)

    def detect(self, source: Any) -> bool:
        return isinstance(source, Graph)

    def load(self, source: Any, options: ConvertOptions) -> Graph:
        source.validate()
        return source.copy()  # passes rewrite the graph; the caller's object stays as it was
