"""Hash-table lookups never see an empty key tensor: TF.js throws for one, TF returns an empty result.

TF.js 4.22's ``HashTable.find`` stacks one result per key and throws "Pass at least one tensor to tf.stack"
for a key tensor with no elements, on every backend (measured: a SavedModel ``StaticHashTable`` fed a ``(0,)``
or ``(2, 0)`` string batch, ``tests/test_backend_contract_lookups.py``); TF gives an empty tensor shaped like
the keys. Keys whose size is not known to be non-zero at conversion time (a batch or a token count that may
be 0) get, at run time, one padding key appended exactly when they are empty (``Slice`` of a one-key constant
by ``1 - min(size, 1)``: no copy otherwise, every backend's ``Concat`` drops the empty block), and the result is
cut back to ``Size(keys)`` values and shaped like the keys. The lookup node keeps its name and output Value.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node
from . import Pass, PassResult
from .graph_edit import rewrite
from .lookup_shape import LOOKUP_OPS
from .shapes import infer_shapes

#: Name part of every node this pass adds (``<lookup>/nonempty/...``), as ``reduction_padding`` names its own.
MARK = "/nonempty"
#: Name suffix of the lookup this pass keeps inside its rewrite (not rewritten again).
SUFFIX = MARK + "/lookup"


def _may_be_empty(shape: tuple | None) -> bool:
    return shape is None or any(d is None or d == 0 for d in shape)


def _padding_key(dtype: DType) -> np.ndarray:
    return np.asarray([b""], dtype=object) if dtype == DType.STRING else np.zeros(1, dtype.numpy)


class NonEmptyLookupKeys(Pass):
    """``LookupTableFindV2``/``LookupTableFind`` on keys that may be empty: one padding key when they are."""

    name = "nonempty_lookup_keys"
    level = 0
    # no after=: it runs in its registration slot, after the required rewrites; before or after lookup_shape alike

    def run(self, graph: Graph) -> PassResult:
        lookups = [n for n in graph.nodes if n.op in LOOKUP_OPS and len(n.inputs) > 2 and not n.name.endswith(SUFFIX)]
        if not lookups:
            return PassResult(0)
        shapes = infer_shapes(graph)
        count = 0
        for node in lookups:
            keys = node.inputs[1]
            dtype = node.attrs.get("Tin") or keys.dtype
            if not _may_be_empty(shapes.get(keys)) or not isinstance(dtype, DType) \
                    or not isinstance(node.attrs.get("Tout"), DType):
                continue
            self._pad(graph, node, dtype)
            count += 1
        return PassResult(count)

    @staticmethod
    def _pad(graph: Graph, node: Node, dtype: DType) -> None:
        name, keys, i32 = node.name + MARK, node.inputs[1], {"T": DType.INT32}
        minus_one = graph.const(np.asarray([-1], np.int32), name=f"{name}/flat")
        flat = graph.add_op("Reshape", [keys, minus_one], {"T": dtype, "Tshape": DType.INT32},
                            name=f"{name}/flat_keys", dtype=dtype, shape=(None,))
        size = graph.add_op("Size", [keys], {"T": dtype, "out_type": DType.INT32}, name=f"{name}/key_count",
                            dtype=DType.INT32, shape=())
        one = graph.const(np.int32(1), name=f"{name}/one")
        capped = graph.add_op("Minimum", [size, one], i32, name=f"{name}/any_key", dtype=DType.INT32, shape=())
        empty = graph.add_op("Sub", [one, capped], i32, name=f"{name}/no_key", dtype=DType.INT32, shape=())
        vector = graph.const(np.asarray([1], np.int32), name=f"{name}/vector")
        begin = graph.const(np.asarray([0], np.int32), name=f"{name}/begin")
        pad_size = graph.add_op("Reshape", [empty, vector], {"T": DType.INT32, "Tshape": DType.INT32},
                                name=f"{name}/pad_size", dtype=DType.INT32, shape=(1,))
        pad = graph.add_op("Slice", [graph.const(_padding_key(dtype), name=f"{name}/padding_key"), begin, pad_size],
                           {"T": dtype, "Index": DType.INT32}, name=f"{name}/pad", dtype=dtype, shape=(None,))
        padded = graph.add_op("ConcatV2", [flat, pad, graph.const(np.int32(0), name=f"{name}/axis")],
                              {"T": dtype, "N": 2, "Tidx": DType.INT32}, name=f"{name}/keys", dtype=dtype,
                              shape=(None,))
        out_dtype = node.attrs.get("Tout")
        found = graph.add_op(node.op, [node.inputs[0], padded, *node.inputs[2:]], dict(node.attrs), name=node.name + SUFFIX,
                             dtype=out_dtype, shape=(None,))
        found.producer.control_inputs = list(node.control_inputs)
        count = graph.add_op("Reshape", [size, vector], {"T": DType.INT32, "Tshape": DType.INT32},
                             name=f"{name}/count", dtype=DType.INT32, shape=(1,))
        kept = graph.add_op("Slice", [found, begin, count], {"T": out_dtype, "Index": DType.INT32},
                            name=f"{name}/kept", dtype=out_dtype, shape=(None,))
        shape = graph.add_op("Shape", [keys], {"T": dtype, "out_type": DType.INT32}, name=f"{name}/keys_shape",
                             dtype=DType.INT32)
        rewrite(node, "Reshape", [kept, shape], {"T": out_dtype, "Tshape": DType.INT32})
