"""A float ``Sign`` by comparisons when wasm is a target: wasm's kernel is 0 for ``|x|`` up to about 1.2e-7.

TF.js 4.22's wasm ``Sign`` answers 0 for every ``|x| <= FLT_EPSILON`` (measured in session 30: ``sign(1.02e-7)`` is 0,
``sign(1.32e-7)`` is 1; TF's and TF.js cpu's are ±1 down to the smallest subnormal), so a sign of a small or
cancelled value (``sign(x - tanh(x))`` at ``x = 0.0036``, found by bench/keras_random_models.py, h5) was 0 where TF
gives ±1: a whole output range off, silently. The contract's special-values row named only ``sign(1e-30)``, and
only ``--exact_special_values`` rewrote it. Every float ``Sign`` (but in functions kept by
``--control_flow_v2``, which passes do not reach) becomes
``SelectV2(x > 0, 1, SelectV2(x < 0, -1, x - x))`` (``x - x``: 0 for ±0, NaN for NaN, as TF; TF's ``sign(-0)``
is +0, as here) — the rewrite ``--exact_special_values`` made, now required where wasm is a target. The node keeps
its name and output. Where webgl is also a target and the rank is unknown, the selects run over ``x`` reshaped to one axis and back
(webgl's ``where`` throws from rank 5; ``select_rank`` lowers known ranks).
"""
from __future__ import annotations

from ..dtypes import DType
from ..ir import Graph, Node
from . import PassResult
from .backend_gated import BackendGatedPass
from .flat_form import ElementwiseNodes, flatten, rewrite_as_select, sign_choices

#: The backends whose float ``Sign`` is 0 for small non-zero values.
SMALL_TO_ZERO_BACKENDS = frozenset({"wasm"})
FLOATS = frozenset({DType.FLOAT16, DType.FLOAT32, DType.FLOAT64})
#: The name part of this pass's nodes.
MARK = "sign_comparisons"


class SignByComparisons(BackendGatedPass):
    """A float ``Sign`` on a wasm target → two selects of comparisons (module docstring)."""

    name = "sign_comparisons"
    level = 0
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS

        targets = set(self.targets or DEFAULT_TARGET_BACKENDS)
        if not SMALL_TO_ZERO_BACKENDS & targets:
            return PassResult(0)
        nodes = [n for n in graph.nodes if n.op == "Sign" and len(n.inputs) == 1 and _float(n) is not None]
        ranks = None
        if nodes and "webgl" in targets:
            from ..shape_rank import infer_ranks

            ranks = infer_ranks(graph)
        for node in nodes:
            _by_comparisons(graph, node, _float(node), flat=ranks is not None and ranks.get(node.inputs[0]) is None)
        return PassResult(len(nodes))


def _float(node: Node) -> DType | None:
    dtype = node.attrs.get("T") or node.inputs[0].dtype
    dtype = DType.from_any(dtype) if dtype is not None else None
    return dtype if dtype in FLOATS else None


def _by_comparisons(graph: Graph, node: Node, dtype: DType, flat: bool) -> None:
    """Turn ``node`` into ``SelectV2(x > 0, 1, SelectV2(x < 0, -1, x - x))``, over ``x`` flattened if ``flat``."""
    x, prefix, shape = node.inputs[0], f"{node.name}/{MARK}", node.outputs[0].shape
    whole = x if flat else None
    if flat:
        x, shape = flatten(graph, whole, dtype, prefix), None
    rewrite_as_select(graph, node, sign_choices(ElementwiseNodes(graph, dtype, prefix, shape), x), dtype, whole, prefix)
