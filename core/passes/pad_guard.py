"""Run-time paddings checked as TF checks them: a negative one fails the TF.js run instead of cropping.

TF's ``Pad``/``PadV2`` raise on a negative padding ("Paddings must be non-negative") for every input. TF.js 4.22
reads a run-time ``paddings`` tensor on the host and pads by it as it is: a negative entry crops silently on cpu and
wasm (``[[0, 0], [0, -1], [0, 0]]`` of ``[2, 5, 3]`` gives ``[2, 4, 3]``; measured session 23, helper H7), so a graph
whose paddings are computed (``tf.pad(x, [[0, 0], [0, 12 - n], [0, 0]])`` traced from a tf_keras model, a lowering's
run-time paddings) returned another shape with no error for inputs where TF raises. Each such ``paddings`` becomes
``paddings + GatherV2([0], Minimum(paddings, 0))``: unchanged bit for bit where every entry is at least 0, a failed
run on cpu and wasm otherwise (``GatherV2`` asserts its indices there; webgl's only under TF.js's ``DEBUG`` flag, so
there it still crops). ``MirrorPad`` needs no guard: TF.js checks its paddings against TF's limits itself.

Left alone: constant paddings (TF.js's and TF's checks agree at conversion: the importers refuse negative ones), those
already guarded (the form above), and ``Maximum(p, c)`` with a constant ``c >= 0`` (the ONNX frontend's run-time
pads, cropped apart by a ``Slice``).
"""
from __future__ import annotations

import numpy as np

from ..dtypes import DType
from ..ir import Graph, Value
from . import Pass, PassResult
from .graph_edit import const_array
from .scatter_index_guard import is_guarded

#: op → the input holding its paddings
PADDED = {"Pad": 1, "PadV2": 1}


def _non_negative_by_construction(paddings: Value) -> bool:
    """A constant, or ``Maximum`` with a constant operand that is at least 0 everywhere."""
    if const_array(paddings) is not None:
        return True
    node = paddings.producer
    if node is None or node.op != "Maximum":
        return False
    return any((floor := const_array(v)) is not None and floor.size and (floor >= 0).all() for v in node.inputs)


def checked_paddings(graph: Graph, paddings: Value, name: str) -> Value:
    """``paddings + GatherV2([0], Minimum(paddings, 0))``: ``paddings`` where no entry is negative, else a failed run."""
    dtype = paddings.dtype if isinstance(paddings.dtype, DType) else DType.INT32
    shape = paddings.shape
    zero = graph.const(np.zeros((), dtype.numpy), name=f"{name}/paddings_zero", dtype=dtype)
    table = graph.const(np.zeros((1,), dtype.numpy), name=f"{name}/paddings_check_table", dtype=dtype)
    axis = graph.const(np.array(0, np.int32), name=f"{name}/paddings_check_axis", dtype=DType.INT32)
    negative = graph.add_op("Minimum", [paddings, zero], {"T": dtype}, name=f"{name}/paddings_negative", dtype=dtype,
                            shape=shape)
    check = graph.add_op("GatherV2", [table, negative, axis],
                         {"Tparams": dtype, "Tindices": dtype, "Taxis": DType.INT32, "batch_dims": 0},
                         name=f"{name}/paddings_check", dtype=dtype, shape=shape)
    return graph.add_op("AddV2", [paddings, check], {"T": dtype}, name=f"{name}/checked_paddings", dtype=dtype,
                        shape=shape)


class PadGuard(Pass):
    """``Pad``/``PadV2`` with run-time paddings: a negative one makes TF.js raise (cpu, wasm) as TF does, instead of
    cropping silently."""

    name = "pad_guard"
    level = 0
    after = ("lower_einsum",)

    def run(self, graph: Graph) -> PassResult:
        count = 0
        for node in list(graph.nodes):
            position = PADDED.get(node.op)
            if position is None or len(node.inputs) <= position:
                continue
            paddings = node.inputs[position]
            if _non_negative_by_construction(paddings) or is_guarded(paddings):
                continue
            node.inputs[position] = checked_paddings(graph, paddings, node.name)
            count += 1
        return PassResult(count)

