"""Replace nodes whose inputs are all constants by the constants they compute (numpy interpreter).

Skipped: ops the interpreter has no kernel for, ops whose result is not a function of the inputs
(random, stateful), results TF.js cannot store as a weight (int64 that does not fit int32, float64 is
narrowed to float32 only when the node is declared float32), and results larger than
``max(MIN_BUDGET_BYTES, total input bytes)``: folding ``Fill``/``Tile``/``BroadcastTo`` into a
huge constant would bloat the weights.
"""
from __future__ import annotations

import logging

import numpy as np

from ..dtypes import DType
from ..interpreter import KERNELS, evaluate_node
from ..ir import Graph, Node
from . import Pass, PassResult
from .graph_edit import Uses, become_const, const_array, is_const

log = logging.getLogger(__name__)

NOT_FOLDABLE = frozenset({
    "Const", "Placeholder", "PlaceholderWithDefault", "RandomUniform", "RandomStandardNormal",
    "RandomUniformInt", "TruncatedNormal", "Multinomial", "RandomShuffle", "NoOp",
    # pass-throughs: remove_identity handles them; one kept as a named output over a Const must not
    # become a second copy of that weight
    "Identity", "IdentityN", "StopGradient", "Snapshot", "PreventGradient", "CheckNumerics", "Print",
})
#: Results up to this size may always be folded, even when bigger than the inputs.
MIN_BUDGET_BYTES = 1 << 16
#: What TF.js can hold in a weight, and what numpy results are narrowed to.
_STORABLE = {np.dtype(np.float32), np.dtype(np.int32), np.dtype(np.bool_), np.dtype(np.complex64)}


def storable(array: np.ndarray, declared: DType | None) -> np.ndarray | None:
    """``array`` in a dtype TF.js stores (the declared one when known), or None if values would change.

    TF.js has no 64-bit types: float64 is float32 there anyway, and int64 must fit int32.
    """
    target: np.dtype | None = None
    if declared is not None:
        try:
            target = np.dtype(declared.numpy)
        except TypeError:
            return None
    if target is None or target not in _STORABLE:
        if array.dtype in _STORABLE or array.dtype == object:
            return array
        target = {"f": np.dtype(np.float32), "i": np.dtype(np.int32), "u": np.dtype(np.int32),
                  "c": np.dtype(np.complex64), "b": np.dtype(np.bool_)}.get(array.dtype.kind)
        if target is None:
            return None
    if array.dtype == target:
        return array
    converted = array.astype(target)
    if target.kind in "iub" and not np.array_equal(converted, array):
        return None
    return converted


class FoldConstants(Pass):
    name = "constant_folding"
    level = 1

    def run(self, graph: Graph) -> PassResult:
        uses = Uses(graph)
        folded = 0
        # TF.js cpu's TensorScatterUpdate writes into its tensor: a folded copy of it would be a stored constant,
        # written by each run and read by the next (the tensor_scatter_update pass gives each update its own copy)
        written = {n.inputs[0].producer for n in graph if n.op == "TensorScatterUpdate" and n.inputs}
        for node in graph.topological_order():
            if node.op in NOT_FOLDABLE or node.op not in KERNELS or not node.inputs or node.control_inputs:
                continue
            if node in uses.control_anchors or node in written:
                continue
            if not all(is_const(v) for v in node.inputs):  # before loading anything: weights may be lazy
                continue
            arrays = [const_array(v) for v in node.inputs]
            if any(a is None for a in arrays):
                continue
            results = self._evaluate(node, arrays)
            if results is None:
                continue
            self._replace(graph, node, results, uses)
            folded += 1
        return PassResult(folded)

    def _evaluate(self, node: Node, arrays: list[np.ndarray]) -> list[np.ndarray] | None:
        try:
            results = [np.asarray(r) for r in evaluate_node(node, arrays)]
        except Exception as err:  # an op the kernel cannot do with these inputs: leave it for TF.js
            log.debug("not folding %s (%s): %s", node.name, node.op, err)
            return None
        budget = max(MIN_BUDGET_BYTES, sum(a.nbytes for a in arrays))
        if sum(r.nbytes for r in results) > budget:
            return None
        converted = []
        for index, result in enumerate(results):
            declared = node.outputs[index].dtype if index < len(node.outputs) else None
            result = storable(result, declared)
            if result is None:
                return None
            converted.append(result)
        return converted

    def _replace(self, graph: Graph, node: Node, results: list[np.ndarray], uses: Uses) -> None:
        """Single output: the node becomes the Const (name kept). Several: one new Const each."""
        for value in node.inputs:
            uses.drop_reader(value, node)
        if len(results) == 1 and len(node.outputs) <= 1:
            become_const(node, results[0], DType.from_any(results[0].dtype))
            return
        for index, array in enumerate(results):
            value = node.output(index)
            if uses.count(value) == 0:
                continue
            const = graph.const(array, name=f"{node.name}/out{index}", dtype=DType.from_any(array.dtype))
            uses.replace(graph, value, const)
