"""Hash-table lookups keep their keys' shape: ``LookupTableFindV2(t, k, d)`` → ``Reshape(find, Shape(k))``.

TF's lookup returns values shaped like the keys; TF.js's ``LookupTableFindV2`` returns them flat
(Keras's ``IntegerLookup`` on a ``[2, 4]`` input came back ``[8]``). The lookup node keeps its name
and output (it becomes the Reshape) so graph outputs and readers are untouched.
"""
from __future__ import annotations

from ..dtypes import DType
from ..ir import Graph, Node
from . import Pass, PassResult
from .graph_edit import rewrite

LOOKUP_OPS = frozenset({"LookupTableFindV2", "LookupTableFind"})
SUFFIX = "/flat_lookup"


def _needs_reshape(node: Node) -> bool:
    """Not for our own flat lookups, nor for rank-1 keys (flat already)."""
    keys = node.inputs[1] if len(node.inputs) > 1 else None
    return keys is not None and not node.name.endswith(SUFFIX) and (keys.shape is None or len(keys.shape) != 1)


class RestoreLookupShape(Pass):
    """Reshape each hash-table lookup's flat TF.js result to its keys' shape."""

    name = "lookup_shape"
    level = 0
    after = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        count = 0
        for node in [n for n in graph.nodes if n.op in LOOKUP_OPS and _needs_reshape(n)]:
            keys = node.inputs[1]
            dtype = node.attrs.get("Tout")
            flat = graph.add_op(node.op, list(node.inputs), dict(node.attrs), name=node.name + SUFFIX, dtype=dtype)
            shape = graph.add_op("Shape", [keys], {"T": keys.dtype or node.attrs.get("Tin"), "out_type": DType.INT32},
                                 name=f"{node.name}/keys_shape", dtype=DType.INT32)
            rewrite(node, "Reshape", [flat, shape], {"T": dtype, "Tshape": DType.INT32})
            count += 1
        return PassResult(count)
