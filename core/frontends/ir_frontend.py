"""In-memory IR graphs as a source: ``tfjsconv.convert(graph, "out/")``."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

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

    def reference(self, source: Any, inputs: Mapping[str, np.ndarray], options: ConvertOptions) -> dict[str, np.ndarray]:
        """The graph run by the numpy interpreter, before any pass touched it."""
        from ..interpreter import run_graph

        return run_graph(source, dict(inputs))
