"""``Maximum``/``Minimum`` with a constant operand holding NaN, as TF computes it, where a target drops the NaN.

TF's ``maximum(x, NaN)`` and ``minimum(x, NaN)`` are NaN; TF.js 4.22's wasm kernels give ``x`` (the contract's
deviation rows). For a NaN that comes with the input data the special-values line names the op and
``--exact_special_values`` rewrites it; a NaN in the model's own constant makes every such element wrong on every
input, which no user reads from that line (session 29, h7: Keras 3 ``ops.minimum(x, nan)``). So this required pass
spells those positions out: ``x + c`` is NaN wherever ``c`` is (``x`` ±Inf too), exactly TF's answer.

* A constant all NaN: the node becomes ``AddV2(x, c)`` (same broadcast; nothing of the kernel is left).
* Some NaN: ``op(x, c') + z`` with ``c'`` the constant with its NaN as 0 and ``z`` NaN there and ``-0.0`` elsewhere
  (adding ``-0.0`` changes no float, not even ``-0``): no select, whose broadcast TF.js gets wrong at size 0, and
  nothing left for the pass to meet again. The kept op still meets the input's own NaN, so the special-values line
  still names it.

Made only when a target's kernel deviates (a conversion for cpu alone keeps the op).
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Node, Value
from . import PassResult
from .backend_gated import BackendGatedPass
from .graph_edit import const_array, rewrite

PAIR_OPS = ("Maximum", "Minimum")
FLOAT_TYPES = (DType.FLOAT16, DType.FLOAT32, DType.FLOAT64)


class NanConstantPairs(BackendGatedPass):
    """A ``Maximum``/``Minimum`` of a NaN-holding constant → TF's NaN at those positions (module docstring)."""

    name = "nan_constant_pairs"
    level = 0
    after = ("lower_einsum",)
    before = ("nchw_to_nhwc",)

    def run(self, graph: Graph) -> PassResult:
        from ..ops.backends import DEFAULT_TARGET_BACKENDS
        from ..ops.special_values import for_op

        targets = self.targets or DEFAULT_TARGET_BACKENDS
        count = 0
        for node in list(graph.nodes):
            if node.op not in PAIR_OPS or len(node.inputs) != 2 or not for_op(node.op, targets):
                continue
            found = _nan_constant(node)
            if found is None:
                continue
            x, constant, array = found
            _propagate(graph, node, x, constant, np.isnan(array))
            count += 1
        return PassResult(count)


def _nan_constant(node: Node) -> tuple[Value, Value, np.ndarray] | None:
    """(the other operand, the constant, its array) when one operand is a float constant holding a NaN."""
    for index, value in enumerate(node.inputs):
        array = const_array(value)
        if array is None or value.dtype not in FLOAT_TYPES or not np.isnan(array).any():
            continue
        return node.inputs[1 - index], value, array
    return None


def _propagate(graph: Graph, node: Node, x: Value, constant: Value, nan: np.ndarray) -> None:
    """Rewrite ``node`` so the NaN positions of ``constant`` give NaN, the rest the op (module docstring)."""
    dtype = constant.dtype
    name, shape = node.name, node.outputs[0].shape
    if nan.all():
        rewrite(node, "AddV2", [x, constant], {"T": dtype})
        return
    numpy_type = np.dtype(dtype.numpy).type
    array = np.asarray(const_array(constant), numpy_type)
    cleaned = graph.const(np.where(nan, numpy_type(0), array).astype(numpy_type), name=f"{name}/nan_free_constant",
                          dtype=dtype)
    kept = graph.add_op(node.op, [x, cleaned], {"T": dtype}, name=f"{name}/nan_free", dtype=dtype, shape=shape)
    nan_or_minus_zero = np.where(nan, numpy_type(np.nan), numpy_type(-0.0)).astype(numpy_type)
    rewrite(node, "AddV2", [kept, graph.const(nan_or_minus_zero, name=f"{name}/nan_positions", dtype=dtype)],
            {"T": dtype})
