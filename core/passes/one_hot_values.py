"""``OneHot`` with on/off values a target writes wrongly → an int32 one-hot selecting ``on``/``off``.

TF.js 4.22's wasm ``OneHot`` writes the int32 bits of float32 (and bool) on/off values (the contract's wasm row), so
tf_keras ``tf.one_hot(ids, depth)`` (float32 1/0) models were refused on wasm on the default SavedModel path (session
23, H5). Its int32 one-hot is right, so ``OneHot(indices, depth, 1, 0)`` in int32 marks the hits and
``SelectV2(hit != 0, on, off)`` copies TF's on/off values there exactly (NaN, ±Inf and -0 too); ``select_rank``
(later) handles the select's rank on webgl and bool branches on wasm. Runs after ``one_hot`` (axis -1, depth ≥ 2);
made only when some target refuses the node and accepts the int32 one-hot.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import rewrite


class OneHotValuesAsSelect(BackendGatedPass):
    """A ``OneHot`` some target refuses for its values → ``SelectV2(OneHot(.., 1, 0) != 0, on, off)`` (int32 hits)."""

    name = "one_hot_values"
    level = 0
    # registered after ``one_hot`` (which makes the axis -1 this pass needs; an other axis is left, and refused)
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        count = 0
        for node in [n for n in graph.nodes if n.op == "OneHot" and len(n.inputs) == 4]:
            if node.attrs.get("axis", -1) != -1 or not self.refused_on(node) or self._int32_refused(node):
                continue
            indices, depth, on, off = node.inputs
            attrs = {"T": DType.INT32, "TI": node.attrs.get("TI", indices.dtype or DType.INT32), "axis": -1}
            ones = graph.const(np.ones((), np.int32), name=f"{node.name}/hit_on", dtype=DType.INT32)
            zeros = graph.const(np.zeros((), np.int32), name=f"{node.name}/hit_off", dtype=DType.INT32)
            hits = graph.add_op("OneHot", [indices, depth, ones, zeros], attrs, name=f"{node.name}/hits_int32",
                                dtype=DType.INT32, shape=node.outputs[0].shape)
            hit = graph.add_op("NotEqual", [hits, zeros], {"T": DType.INT32, "incompatible_shape_error": True},
                               name=f"{node.name}/hit", dtype=DType.BOOL, shape=node.outputs[0].shape)
            rewrite(node, "SelectV2", [hit, on, off], {"T": node.attrs.get("T", on.dtype)})
            count += 1
        return PassResult(count)

    def _int32_refused(self, node: Node) -> bool:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, BackendContract, NodeFacts

        facts = NodeFacts.of(node)
        facts.attrs["T"] = DType.INT32
        facts.input_dtypes[2:4] = ["int32", "int32"]
        facts.float_consts = {}
        contract = BackendContract.load()
        return any(b in contract.backends and contract.reasons(facts, b) for b in self.targets or DEFAULT_TARGET_BACKENDS)
