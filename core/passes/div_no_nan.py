"""``DivNoNan(x, y)`` a target refuses → ``SelectV2(y == 0, 0, x / y)``, TF's definition of the op.

TF.js 4.22's webgl ``divNoNan`` is itself a ``where`` over the division, so it throws from rank 5 ("Where for rank 5
is not yet supported": the contract's webgl ``maxrank:5`` row). tf_keras ``GroupNormalization`` divides by its
group variance at rank 5 with ``DivNoNan`` (diffusion blocks), so such SavedModel folders were refused on webgl on
the default path (session 23, H5). TF computes ``y == 0 ? 0 : x / y`` (0 also where ``x`` is NaN or ±Inf, +0 for
``y = -0``); the rewrite spells that out with the ops TF.js runs, and ``select_rank`` (later) brings the select to
rank ≤ 4. webgl's own ``divNoNan`` at rank ≤ 4 is the same ``where`` over the same division, so nothing changes in
its numbers. Gated on the contract: made only when some target refuses the node as it is.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import rewrite


class DivNoNanAsSelect(BackendGatedPass):
    """A ``DivNoNan`` some target refuses → ``SelectV2(Equal(y, 0), 0, RealDiv(x, y))``."""

    name = "div_no_nan"
    level = 0
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        nodes = [n for n in graph.nodes if n.op == "DivNoNan" and len(n.inputs) == 2]
        if not nodes:
            return PassResult(0)
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, BackendContract, NodeFacts
        from ..shape_rank import infer_ranks

        ranks, contract, count = infer_ranks(graph), BackendContract.load(), 0
        targets = self.targets or DEFAULT_TARGET_BACKENDS
        for node in nodes:
            facts = NodeFacts.of(node, ranks)
            if not any(b in contract.backends and contract.reasons(facts, b) for b in targets):
                continue
            x, y = node.inputs
            dtype = DType.from_any(node.attrs.get("T") or x.dtype or DType.FLOAT32)
            zero = graph.const(np.zeros((), dtype.numpy), name=f"{node.name}/zero", dtype=dtype)
            is_zero = graph.add_op("Equal", [y, zero], {"T": dtype, "incompatible_shape_error": True},
                                   name=f"{node.name}/denominator_is_zero", dtype=DType.BOOL, shape=y.shape)
            quotient = graph.add_op("RealDiv", [x, y], {"T": dtype}, name=f"{node.name}/quotient", dtype=dtype,
                                    shape=node.outputs[0].shape)
            rewrite(node, "SelectV2", [is_zero, zero, quotient], {"T": dtype})
            count += 1
        return PassResult(count)
