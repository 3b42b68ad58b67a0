"""``Cast`` to bool of a non-bool value a target backend computes wrongly → ``NotEqual(x, 0)``.

TF casts to bool as ``x != 0`` (NaN is true). TF.js 4.22's wasm ``Cast`` kernel copies the input into the bool
(Uint8) buffer (``outVals.set(inVals)``): an int32 2 stays a "bool" 2 that a later ``Cast`` back to float reads as
2.0, -1 becomes 255, 256 and INT32_MIN become false; a float32 is truncated first (0.5, NaN, ±Inf, 1e-30 false).
cpu and webgl compute ``notEqual(x, 0)`` themselves, so the rewrite is what they run, and wasm's ``NotEqual`` is
exact (measured on cpu, wasm and webgl against ``tf.raw_ops.Cast``: tests/test_cast_to_bool_s23.py). Gated on the
contract (its ``Cast`` rows on wasm), so a conversion for backends that cast right keeps TF's graph.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import rewrite

#: The TF.js dtypes whose ``NotEqual`` to 0 is TF's cast (complex and string are left to the op check).
_NUMERIC = ("float32", "int32")


class CastToBoolAsNotEqual(BackendGatedPass):
    """A ``Cast`` to bool some target computes wrongly → ``NotEqual(x, 0)``, TF's definition of the cast."""

    name = "cast_to_bool"
    level = 0
    # after the lowerings that add casts (select_rank's bool branches through int32)
    after = ("conv3d_transpose", "cumulative_axis", "dilated_transposed_conv", "grouped_conv", "lookup_shape",
             "pool_3d", "batchnorm_global", "pad_rank", "binary_rank", "exact_special_values", "select_rank",
             "strided_gather", "transpose_rank")
    before = ("same_padding",)

    def run(self, graph: Graph) -> PassResult:
        count = 0
        for node in list(graph.nodes):
            source = self._source_dtype(node)
            if source is not None and self._refused(source):
                zero = graph.const(np.zeros((), source.numpy), name=f"{node.name}/zero")
                rewrite(node, "NotEqual", [node.inputs[0], zero], {"T": source, "incompatible_shape_error": True})
                count += 1
        return PassResult(count)

    @staticmethod
    def _source_dtype(node: Node) -> DType | None:
        """The dtype a ``Cast`` to bool reads, when it is numeric (not bool); else None."""
        from ..ops.backends import tfjs_dtype

        if node.op != "Cast" or len(node.inputs) != 1 or node.attrs.get("DstT") is None \
                or DType.from_any(node.attrs["DstT"]) != DType.BOOL:
            return None
        source = node.inputs[0].dtype or node.attrs.get("SrcT")
        if source is None:
            return None
        source = DType.from_any(source)
        return source if tfjs_dtype(source) in _NUMERIC else None

    def _refused(self, source: DType) -> bool:
        """Whether a target backend's contract says it casts ``source`` to bool wrongly (at any rank)."""
        from ..ops.backends import DEFAULT_TARGET_BACKENDS, BackendContract, NodeFacts, tfjs_dtype

        contract = BackendContract.load()
        facts = NodeFacts("Cast", {"SrcT": source, "DstT": DType.BOOL, "Truncate": False}, [tfjs_dtype(source)])
        targets = self.targets or DEFAULT_TARGET_BACKENDS
        return any(b in contract.backends and contract.reasons(facts, b) for b in targets)
