"""``ReverseV2`` of a bool tensor a target computes wrongly → the reverse of its int32 cast, read back as ``!= 0``.

TF.js 4.22's wasm reverses bool tensors wrongly (bytes 255/40 come out: the contract's ``ReverseV2`` wasm bool row).
A tf_keras ``Bidirectional`` or ``go_backwards`` RNN over a mask reverses the bool mask, so such SavedModel folders
were refused on wasm, where the Keras lowering already reverses masks as int32
(``plugins/keras/lowering/op_layers_arrays.py``). A reverse only moves elements, so ``Cast`` to int32 (0/1),
``ReverseV2``, ``NotEqual 0`` is TF's result exactly; ``NotEqual`` rather than a ``Cast`` back, since wasm's Cast to
bool is itself wrong for anything but 0/1 (``cast_to_bool``). Made only when the contract refuses the bool reverse on
some target and accepts the int32 one on every target (webgl's rank ≥ 5 reverse stays refused, naming the node).
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import rewrite


class BoolReverseAsInt32(BackendGatedPass):
    """A bool ``ReverseV2`` some target computes wrongly → ``NotEqual(ReverseV2(Cast(x, int32)), 0)``."""

    name = "bool_reverse"
    level = 0
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        count = 0
        for node in [n for n in graph.nodes if n.op == "ReverseV2" and len(n.inputs) == 2 and self._is_bool(n)]:
            if not self.refused_on(node) or self._int32_refused(node):
                continue
            x, axis = node.inputs
            as_int = graph.add_op("Cast", [x], {"SrcT": DType.BOOL, "DstT": DType.INT32, "Truncate": False},
                                  name=f"{node.name}/as_int32", dtype=DType.INT32, shape=x.shape)
            reversed_ = graph.add_op("ReverseV2", [as_int, axis], {"T": DType.INT32, "Tidx": node.attrs.get("Tidx",
                                     DType.INT32)}, name=f"{node.name}/reversed_int32", dtype=DType.INT32,
                                     shape=node.outputs[0].shape)
            zero = graph.const(np.zeros((), np.int32), name=f"{node.name}/zero", dtype=DType.INT32)
            rewrite(node, "NotEqual", [reversed_, zero], {"T": DType.INT32, "incompatible_shape_error": True})
            count += 1
        return PassResult(count)

    @staticmethod
    def _is_bool(node: Node) -> bool:
        dtype = node.inputs[0].dtype if isinstance(node.inputs[0].dtype, DType) else node.attrs.get("T")
        return dtype is not None and DType.from_any(dtype) == DType.BOOL

    def _int32_refused(self, node: Node) -> bool:
        """Whether some target refuses the same reverse of int32 (webgl at rank ≥ 5): then the rewrite gains
        nothing and the original node is refused by name."""
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, BackendContract, NodeFacts

        facts = NodeFacts.of(node)
        facts.attrs["T"] = DType.INT32
        facts.input_dtypes[0] = "int32"
        contract = BackendContract.load()
        return any(b in contract.backends and contract.reasons(facts, b) for b in self.targets or DEFAULT_TARGET_BACKENDS)
