"""Constant folding of ONNX nodes whose inputs are all known, with onnx's own reference evaluator.

Shape subgraphs (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) disappear this way, and the
ONNX semantics of every folded op are exactly the reference implementation's. onnx is imported only
when a model has such a node (the node's bytes go to onnx's NodeProto).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .mapping import DEFAULT_DOMAINS

#: Ops whose outputs are not a function of their inputs.
NOT_FOLDABLE = frozenset({
    "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli",
    "If", "Loop", "Scan", "SequenceConstruct", "SequenceEmpty",
})
#: Do not materialise folded results larger than this many elements (they would bloat the weights).
MAX_FOLDED_ELEMENTS = 1 << 22


def try_fold(node: Any, inputs: Sequence[np.ndarray | None], opsets: dict[str, int]) -> list[np.ndarray] | None:
    """The outputs of ``node`` computed in numpy, or None when it cannot (or should not) be folded."""
    if node.op_type in NOT_FOLDABLE or node.domain not in DEFAULT_DOMAINS:
        return None
    if any(attr.type in (5, 10) for attr in node.attribute):  # GRAPH, GRAPHS
        return None
    if _reference_differs(node, inputs, opsets):
        return None
    if node.op_type == "Identity" and len(inputs) == 1 and inputs[0] is not None:
        return [inputs[0]]  # exporters alias shared weights this way: no onnx needed, and a lazy weight stays lazy
    try:
        from onnx.reference import ReferenceEvaluator
    except ImportError:  # without onnx the op mapping computes it in the graph instead
        return None

    from .schema import to_onnx

    feeds = {name: np.asarray(value) for name, value in zip(node.input, inputs) if name}
    try:
        evaluator = ReferenceEvaluator(to_onnx(node), opsets={"": opsets.get("", 1)})
        results = evaluator.run(None, feeds)
    except Exception:  # not foldable by the reference runtime: the op mapping handles it
        return None
    arrays = [np.asarray(r) for r in results]
    if any(a.size > MAX_FOLDED_ELEMENTS or a.dtype.kind not in "fiub" for a in arrays):
        return None
    return arrays


def _reference_differs(node: Any, inputs: Sequence[np.ndarray | None], opsets: dict[str, int]) -> bool:
    """Nodes onnx's reference computes otherwise than onnxruntime (the op mapping follows onnxruntime): a
    QuantizeLinear from opset 23 of a non-float16 x with a float16 scale and ``precision`` 0 (onnxruntime rounds x
    to float16 before dividing, the reference divides in float32: 1985 of 10000 codes apart, session 31)."""
    if node.op_type != "QuantizeLinear" or opsets.get("", 1) < 23 or len(inputs) < 2:
        return False
    precision = next((int(a.i) for a in node.attribute if a.name == "precision"), 0)
    x, scale = inputs[0], inputs[1]
    return (precision == 0 and scale is not None and np.asarray(scale).dtype == np.float16
            and x is not None and np.asarray(x).dtype != np.float16)
