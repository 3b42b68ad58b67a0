"""A numpy interpreter for IR graphs: the reference for tests and the engine of constant folding.

Kernels follow TensorFlow semantics (NHWC convolutions, ``SAME``/``VALID``/``EXPLICIT`` padding,
TF.js's reading of ``fused_ops``). It does not cover every op: :func:`can_evaluate` says whether a
node has a kernel, and :func:`run_graph` names the ops it cannot evaluate.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import GraphError
from ..ir import Graph, Node
from . import array_kernels, math_kernels, nn_kernels  # noqa: F401  (they fill KERNELS)
from .registry import KERNELS, Kernel, kernel

__all__ = ["KERNELS", "Kernel", "kernel", "can_evaluate", "evaluate_node", "run_graph"]


def can_evaluate(node: Node) -> bool:
    return node.op in KERNELS


def evaluate_node(node: Node, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The outputs of one node for the given input arrays."""
    return KERNELS[node.op](node, inputs)


def run_graph(graph: Graph, feeds: Mapping[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
    """Evaluate ``graph`` on ``feeds`` (keyed by signature input names) and return the outputs."""
    missing_ops = sorted({n.op for n in graph if n.op not in KERNELS})
    if missing_ops:
        raise GraphError(f"the numpy interpreter cannot evaluate: {', '.join(missing_ops)}")
    values: dict[Any, np.ndarray] = {}
    for key, value in graph.inputs.items():
        if key not in feeds:
            raise GraphError(f"no value fed for input {key!r}")
        values[value] = np.asarray(feeds[key])
    for node in graph.topological_order():
        if node.outputs and all(v in values for v in node.outputs):
            continue
        results = KERNELS[node.op](node, [values[v] for v in node.inputs])
        for index, result in enumerate(results):
            values[node.output(index)] = result
    wanted = outputs or list(graph.outputs)
    return {key: values[graph.outputs[key]] for key in wanted}
