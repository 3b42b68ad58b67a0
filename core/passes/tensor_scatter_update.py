"""``TensorScatterUpdate`` written as two ``ScatterNd`` and a ``SelectV2``, because TF.js's cpu kernel writes in place.

tfjs-backend-cpu 4.22's ``TensorScatterUpdate`` takes its ``tensor`` input's buffer (``bufferSync`` wraps the
backend's array without copying), writes the updates into it and returns a tensor over that same array. So every
other reader of ``tensor`` (a second update of it, an ``Add`` of it, a slice or reshape sharing its storage, the
caller's input tensor) sees the updates, and two updates of one tensor return one array holding both. A single
update whose input nobody else reads is right, which is why the one-op probe saw nothing. Measured (session 19,
``tests/test_tensor_scatter_update_s19.py``): two updates of one float32 tensor off by 7.8 on cpu, an update plus a
reader of its input off by 5.2; int32 alike; wasm and webgl right.

The rewrite reads ``tensor`` and never writes it: ``SelectV2(ScatterNd(indices, ones) != 0, ScatterNd(indices,
updates), tensor)`` (the select over flat views, so any rank runs on webgl), exact for float32 and int32 (an update of
-0 comes out +0: ScatterNd adds it to 0). An index given twice is unspecified in TF (updates applied in no set
order); here its updates are summed. It runs when cpu is a ``--target_backends`` backend (wasm and webgl write a new
tensor), for float32/int32 tensors; a bool one is kept.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import Pass, PassResult
from .graph_edit import rewrite

DTYPES = (DType.FLOAT32, DType.INT32)


def _dtype(node: Node) -> DType | None:
    dtype = node.attrs.get("T") or node.inputs[0].dtype or node.output(0).dtype
    return dtype if isinstance(dtype, DType) else None


def select_scatter(graph: Graph, node: Node, dtype: DType) -> None:
    """``node`` (TensorScatterUpdate) → the updates scattered where a scattered one marks them, the tensor elsewhere.

    The select runs on flat views (``Reshape`` to ``[-1]`` and back): webgl's ``SelectV2`` throws from rank 5."""
    tensor, indices, updates = node.inputs[:3]
    index_type = node.attrs.get("Tindices") or indices.dtype or DType.INT32
    scatter = {"T": dtype, "Tindices": index_type}
    known = tensor.shape is not None and all(isinstance(d, int) and d >= 0 for d in tensor.shape)
    size = (int(np.prod(tensor.shape, dtype=np.int64)),) if known else (None,)

    def flat(value: Value, label: str, out: DType = dtype) -> Value:
        return graph.add_op("Reshape", [value, minus_one], {"T": out, "Tshape": DType.INT32},
                            name=f"{node.name}/{label}", dtype=out, shape=size)

    sizes = graph.add_op("Shape", [tensor], {"T": dtype, "out_type": index_type}, name=f"{node.name}/shape",
                         dtype=index_type, shape=None if tensor.shape is None else (len(tensor.shape),))
    minus_one = graph.const(np.array([-1], np.int32), name=f"{node.name}/flat_shape", dtype=DType.INT32)
    ones = graph.add_op("OnesLike", [updates], {"T": dtype}, name=f"{node.name}/ones", dtype=dtype,
                        shape=updates.shape)
    hits = graph.add_op("ScatterNd", [indices, ones, sizes], scatter, name=f"{node.name}/hits", dtype=dtype,
                        shape=tensor.shape)
    written = graph.add_op("ScatterNd", [indices, updates, sizes], scatter, name=f"{node.name}/written",
                           dtype=dtype, shape=tensor.shape)
    zero = graph.const(np.zeros((), dtype.numpy), name=f"{node.name}/zero", dtype=dtype)
    where = graph.add_op("NotEqual", [flat(hits, "flat_hits"), zero], {"T": dtype, "incompatible_shape_error": True},
                         name=f"{node.name}/is_updated", dtype=DType.BOOL, shape=size)
    picked = graph.add_op("SelectV2", [where, flat(written, "flat_written"), flat(tensor, "flat_tensor")],
                          {"T": dtype}, name=f"{node.name}/picked", dtype=dtype, shape=size)
    rewrite(node, "Reshape", [picked, sizes], {"T": dtype, "Tshape": index_type})


class TensorScatterUpdateAsSelect(Pass):
    """Every float32/int32 ``TensorScatterUpdate`` → ``SelectV2`` of two ``ScatterNd``, when cpu is a target."""

    name = "tensor_scatter_update"
    level = 0
    after = ("lower_einsum",)
    #: The conversion's ``--target_backends`` (empty: the defaults); set on the copy :meth:`configured` makes.
    targets: tuple[str, ...] = ()

    def configured(self, options: Any) -> "TensorScatterUpdateAsSelect":
        import copy

        from ..ops.backends import DEFAULT_TARGET_BACKENDS

        run = copy.copy(self)
        run.targets = tuple(getattr(options, "target_backends", None) or DEFAULT_TARGET_BACKENDS)
        return run

    def run(self, graph: Graph) -> PassResult:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS

        if "cpu" not in (self.targets or DEFAULT_TARGET_BACKENDS):
            return PassResult(0)
        count = 0
        for node in list(graph.nodes):
            dtype = _dtype(node) if node.op == "TensorScatterUpdate" and len(node.inputs) >= 3 else None
            if dtype in DTYPES:
                select_scatter(graph, node, dtype)
                count += 1
        return PassResult(count)
