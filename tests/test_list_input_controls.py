"""A control input on an op TF.js reads a run of inputs from (Pack, ConcatV2, AddN ...) must not become data.

tfjs-converter keeps ``^c`` among a node's input names, so ``Pack(a, b, ^c)`` would stack three tensors
and ``ConcatV2(a, b, axis, ^c)`` would read ``c`` as its axis. The graph-model writer moves such control
inputs onto an Identity of the first input (``tfjsconv.passes.list_input_controls``). TensorFlow's raw ops
give the expected values; the model runs in real TF.js on cpu and wasm.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import tfjsconv
from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph
from tfjsconv.passes.list_input_controls import LIST_INPUT_OPS, move_list_input_controls

F32 = {"T": DType.FLOAT32}


def _controlled_graph() -> Graph:
    """Pack, ConcatV2 and AddN of ``x`` and ``-x``, each waiting on a ``Relu`` through a control input."""
    g = Graph("list_controls")
    x = g.placeholder("x", DType.FLOAT32, (2, 3))
    gate = g.add_op("Relu", [x], F32, name="gate", dtype=DType.FLOAT32, shape=(2, 3))
    neg = g.add_op("Neg", [x], F32, name="neg", dtype=DType.FLOAT32, shape=(2, 3))
    axis = g.const(np.asarray(1, np.int32), name="axis")
    made = {
        "packed": g.add_node("Pack", [x, neg], {**F32, "N": 2, "axis": 0}, name="packed", control_inputs=[gate.producer]),
        "joined": g.add_node("ConcatV2", [x, neg, axis], {**F32, "N": 2, "Tidx": DType.INT32}, name="joined",
                             control_inputs=[gate.producer]),
        "summed": g.add_node("AddN", [x, neg, x], {**F32, "N": 3}, name="summed", control_inputs=[gate.producer]),
    }
    for key, node in made.items():
        node.output(0).dtype = DType.FLOAT32
        g.set_output(key, node.output(0))
    g.set_output("gate", gate)
    return g


def test_the_writer_leaves_no_control_input_on_a_list_input_op(tmp_path):
    tfjsconv.convert(_controlled_graph(), tmp_path / "m")
    nodes = json.loads((tmp_path / "m" / "model.json").read_text())["modelTopology"]["node"]
    by_name = {n["name"]: n for n in nodes}
    for name in ("packed", "joined", "summed"):
        inputs = by_name[name]["input"]
        assert not [i for i in inputs if i.startswith("^")], inputs
        anchor = by_name[inputs[0]]
        assert anchor["op"] == "Identity" and anchor["input"] == ["x", "^gate"]


@pytest.mark.node
def test_list_input_ops_with_control_inputs_run_in_tfjs_like_tf(tmp_path, tfjs_runtime):
    tf = pytest.importorskip("tensorflow")

    from tfjsconv.verify.compare import verify_model

    x = np.random.default_rng(5).standard_normal((2, 3)).astype(np.float32)
    expected = {"packed": tf.raw_ops.Pack(values=[x, -x], axis=0).numpy(),
                "joined": tf.raw_ops.ConcatV2(values=[x, -x], axis=1).numpy(),
                "summed": tf.raw_ops.AddN(inputs=[x, -x, x]).numpy(), "gate": tf.raw_ops.Relu(features=x).numpy()}
    tfjsconv.convert(_controlled_graph(), tmp_path / "m")
    report = verify_model(tmp_path / "m", {"x": x}, expected, backends=("cpu", "wasm"), rtol=1e-6, atol=1e-6)
    assert report.passed, report.failures


def test_ops_read_by_position_keep_their_control_inputs():
    g = _controlled_graph()
    relu = g.node("gate")
    square = g.add_node("Square", [g.inputs["x"]], F32, name="square", control_inputs=[relu])
    assert move_list_input_controls(g) == 3
    assert square.control_inputs == [relu] and move_list_input_controls(g) == 0
    assert {"Pack", "ConcatV2", "AddN", "_FusedConv2D", "_FusedMatMul"} <= LIST_INPUT_OPS
