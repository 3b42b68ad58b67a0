"""``Cast`` to bool of a non-bool value a target backend computes wrongly → ``NotEqual(x, 0)``.

TF casts to bool as ``x != 0`` (NaN is true). TF.js 4.22's wasm ``Cast`` kernel copies the input into the bool
(Uint8) buffer (``outVals.set(inVals)``): an int32 2 stays a "bool" 2 that a later ``Cast`` back to float reads as
2.0, -1 becomes 255, 256 and INT32_MIN become false; a float32 is truncated first (0.5, NaN, ±Inf, 1e-30 false).
cpu and webgl compute ``notEqual(x, 0)`` themselves, so the rewrite is what they run, and wasm's ``NotEqual`` is
exact (measured on cpu, wasm and webgl against ``tf.raw_ops.Cast``: tests/test_cast_to_bool_s23.py). Gated on the
contract (its ``Cast`` rows on wasm), so a conversion for backends that cast right keeps TF's graph. The functions a
``--control_flow_v2`` conversion keeps (``graph.library``, FunctionDef JSON) are rewritten alike, their dtypes read
from the signature and TF's OpDefs (``tfjsconv.ops.kept_bodies.function_input_dtypes``).
"""
from __future__ import annotations

import copy
from typing import Any

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
        for index, function in enumerate(graph.library):
            casts = self._library_casts(function)
            if casts:
                graph.library[index] = function = copy.deepcopy(function)  # the caller's dicts stay as they were
                count += sum(_not_equal_in_function(function, name, source, graph.library_weights)
                             for name, source in casts)
        return PassResult(count)

    def _library_casts(self, function: Any) -> list[tuple[str, DType]]:
        """(node name, source dtype) of each ``Cast`` to bool in a library function that a target computes wrongly."""
        from ..ops.backends import tfjs_dtype
        from ..ops.kept_bodies import function_input_dtypes

        if not isinstance(function, dict):
            return []
        dtypes = function_input_dtypes(function)
        found = []
        for node in function.get("nodeDef", []):
            attrs = node.get("attr", {}) if isinstance(node, dict) else {}
            if node.get("op") != "Cast" or attrs.get("DstT", {}).get("type") != DType.BOOL.tf_name:
                continue
            sources = dtypes.get(node.get("name")) or [None]
            if len(sources) != 1 or sources[0] is None or tfjs_dtype(sources[0]) not in _NUMERIC:
                continue
            source = DType.from_any(sources[0])
            if self._refused(source):
                found.append((node["name"], source))
        return found

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


def _not_equal_in_function(function: dict[str, Any], name: str, source: DType, weights: dict[str, Any]) -> int:
    """Rewrite the library-function ``Cast`` ``name`` as ``NotEqual(x, 0)``; its zero is a Const held in ``weights``
    (TF.js looks every Const up by name in the one weight map, so it is named ``<function>/<node>/zero``)."""
    from ..ops.backends import tfjs_dtype
    from ..writers.protojson import tensor_meta_json

    fname = function.get("signature", {}).get("name", "function")
    stored = DType.INT32 if tfjs_dtype(source) == "int32" else DType.FLOAT32
    zero_name, nodes = f"{fname}/{name}/zero", function["nodeDef"]
    node = next(n for n in nodes if n.get("name") == name)
    node["op"] = "NotEqual"
    node["input"] = [node["input"][0], zero_name, *[ref for ref in node["input"][1:] if ref.startswith("^")]]
    node["attr"] = {"T": {"type": source.tf_name}, "incompatible_shape_error": {"b": True}}
    nodes.append({"name": zero_name, "op": "Const",
                  "attr": {"dtype": {"type": stored.tf_name}, "value": {"tensor": tensor_meta_json(stored, ())}}})
    weights[zero_name] = np.zeros((), stored.numpy)
    renamed = {f"{name}:y:{i}": f"{name}:z:{i}" for i in range(1)}  # TF's FunctionDef names Cast's output y
    for other in nodes:
        if "input" in other:
            other["input"] = [renamed.get(ref, ref) for ref in other["input"]]
    if "ret" in function:
        function["ret"] = {key: renamed.get(ref, ref) for key, ref in function["ret"].items()}
    return 1
