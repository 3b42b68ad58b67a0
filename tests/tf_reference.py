"""TensorFlow as the oracle for tests that build tfjsconv IR graphs by hand.

Pass tests used to take their expected values from tfjsconv's own numpy interpreter, which is
tfjsconv checking itself. ``tf_outputs`` runs the same IR graph in TensorFlow (the graph-model
writer's GraphDef JSON, parsed into a ``GraphDef``, constants filled from the IR, run in a Session;
TF.js's ``Prelu`` as Keras's PReLU formula, a rank-2 FusedBatchNorm as rank 4),
and ``reference`` returns TF's outputs after checking that the interpreter agrees with them — so a
test that goes on comparing interpreter runs of the rewritten graph (``close(expected, run_graph(...))``)
and real TF.js runs with ``expected`` is anchored to TF on both sides.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from tfjsconv.ir import Graph, materialize

#: TF.js op names that TF spells otherwise (grappler's fused depthwise conv).
TF_OP_NAMES = {"FusedDepthwiseConv2dNative": "_FusedDepthwiseConv2dNative"}
#: The interpreter may differ from TF by float32 rounding (reordered sums), relative to max |output|.
RTOL, ATOL = 2e-5, 1e-5


def tf_outputs(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``graph``'s outputs as TensorFlow computes them on ``feeds`` (keys: the graph's output keys)."""
    tf = pytest.importorskip("tensorflow")
    from google.protobuf import json_format

    from tfjsconv.writers.graph_model import graph_def_json

    graph_def = json_format.ParseDict(graph_def_json(graph), tf.compat.v1.GraphDef())
    _batch_norms_as_rank_4(graph, graph_def)
    _prelus_as_tf_ops(graph_def)
    constants = {node.name: node for node in graph if node.op == "Const"}
    for node in graph_def.node:
        if node.op == "Const" and node.name in constants:
            array = np.asarray(materialize(constants[node.name].attrs["value"]))
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(array))
            node.attr["dtype"].type = tf.as_dtype(array.dtype).as_datatype_enum
        node.op = TF_OP_NAMES.get(node.op, node.op)
    with tf.Graph().as_default() as tf_graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=tf_graph) as session:
        found = session.run({key: value.tensor_name for key, value in graph.outputs.items()},
                            {graph.inputs[key].tensor_name: array for key, array in feeds.items()})
    return {key: _as_text(array) for key, array in found.items()}


def _as_text(array: np.ndarray) -> np.ndarray:
    """TF's string tensors are bytes; tfjsconv (and TF.js) deal in text."""
    if array.dtype != object:
        return array
    return np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else v, otypes=[object])(array)


def _batch_norms_as_rank_4(graph: Graph, graph_def) -> None:
    """TF's FusedBatchNorm kernels take rank-4 inputs only, TF.js's (and ONNX's BatchNormalization) any rank:
    a rank-2 ``(N, C)`` one runs in TF as ``(N, 1, 1, C)`` between two Reshapes — the same arithmetic."""
    from tfjsconv.passes.shapes import infer_shapes

    shapes = infer_shapes(graph)
    nodes = {node.name: node for node in graph}
    for node_def in list(graph_def.node):
        if not node_def.op.startswith("FusedBatchNorm"):
            continue
        x = nodes[node_def.name].inputs[0]
        shape = shapes.get(x, x.shape)
        if shape is None or len(shape) != 2 or shape[1] is None:
            continue
        channels, name = int(shape[1]), node_def.name
        for suffix, dims in (("to4d", [-1, 1, 1, channels]), ("to2d", [-1, channels])):
            const = graph_def.node.add(name=f"{name}/__{suffix}_shape", op="Const")
            const.attr["dtype"].type = 3  # DT_INT32
            const.attr["value"].tensor.dtype = 3
            const.attr["value"].tensor.tensor_shape.dim.add(size=len(dims))
            const.attr["value"].tensor.int_val.extend(dims)
        to4d = graph_def.node.add(name=f"{name}/__to4d", op="Reshape", input=[node_def.input[0], f"{name}/__to4d_shape"])
        to4d.attr["T"].type = 1  # DT_FLOAT
        node_def.input[0] = to4d.name
        node_def.name = f"{name}/__rank4"
        back = graph_def.node.add(name=name, op="Reshape", input=[f"{name}/__rank4:0", f"{name}/__to2d_shape"])
        back.attr["T"].type = 1


def _prelus_as_tf_ops(graph_def) -> None:
    """TF.js's ``Prelu(x, alpha)`` (no TF op) as Keras's PReLU computes it in TF: ``relu(x) - alpha * relu(-x)``."""
    for node_def in list(graph_def.node):
        if node_def.op != "Prelu":
            continue
        x, alpha = node_def.input[:2]
        name, dtype = node_def.name, node_def.attr["T"].type or 1
        steps = [("__pos", "Relu", [x]), ("__neg", "Neg", [x]), ("__neg_relu", "Relu", [f"{name}/__neg"]),
                 ("__scaled", "Mul", [alpha, f"{name}/__neg_relu"])]
        for suffix, op, inputs in steps:
            graph_def.node.add(name=f"{name}/{suffix}", op=op, input=inputs).attr["T"].type = dtype
        node_def.op = "Sub"
        del node_def.input[:]
        node_def.input.extend([f"{name}/__pos", f"{name}/__scaled"])


def assert_close(expected: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray], what: str,
                 rtol: float = RTOL, atol: float = ATOL) -> None:
    assert expected.keys() == actual.keys(), what
    for key, want in expected.items():
        got = np.asarray(actual[key])
        assert got.shape == want.shape, f"{what}: {key} has shape {got.shape}, TF {want.shape}"
        if want.dtype.kind not in "fc":  # ints, bools, strings: exact
            assert np.array_equal(got.astype(object), want.astype(object)), f"{what}: {key} differs from TF"
            continue
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        err = float(np.max(np.abs(got.astype(np.float64) - want), initial=0.0))
        assert err <= atol + rtol * scale, f"{what}: {key} off by {err:.3g} (max |TF| {scale:.3g})"


def reference(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """TF's outputs of ``graph``, after checking that tfjsconv's numpy interpreter agrees with them."""
    from tfjsconv.interpreter import run_graph

    expected = tf_outputs(graph, feeds)
    assert_close(expected, run_graph(graph, feeds), f"interpreter vs TF on {graph.name}")
    return expected
