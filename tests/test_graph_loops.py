"""The core while-loop builder (``tfjsconv.graph_loops``) that the ONNX RNNs and the Keras RNN lowering share."""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.graph_loops import WhileLoop
from tfjsconv.ir import Graph, Value


def _counting_loop(graph: Graph, limit: Value, label: str) -> Value:
    """``i = 0; while i < limit: i += 1`` as a v1 loop; returns the value after it."""
    def make_op(op, inputs, attrs=None, *, label=None, dtype=None):
        return graph.add_op(op, inputs, attrs, name=label or op, dtype=dtype or inputs[0].dtype)

    loop = WhileLoop(graph, make_op, lambda name: name, label)
    zero = graph.const(np.int32(0), name=f"{label}/zero")
    merged = loop.start({"i": zero})
    inside = loop.body(make_op("Less", [merged["i"], limit], label=f"{label}/more", dtype=DType.BOOL))
    one = graph.const(np.int32(1), name=f"{label}/one")
    return loop.close({"i": make_op("AddV2", [inside["i"], one], label=f"{label}/next")})["i"]


def test_loops_of_one_label_get_frames_of_their_own_and_a_valid_graph():
    """A shared Keras layer called twice builds two loops under one label: each must run in its own frame."""
    graph = Graph()
    limit = graph.placeholder("limit", DType.INT32, ())
    first = _counting_loop(graph, limit, "rnn/while")
    second = _counting_loop(graph, limit, "rnn/while")
    graph.set_output("a", first)
    graph.set_output("b", second)
    graph.validate()  # the NextIteration -> Merge back edges are the only cycles
    frames = [node.attrs["frame_name"] for node in graph if node.op == "Enter"]
    assert len(frames) == 2 and len(set(frames)) == 2, frames
    merges = [node for node in graph if node.op == "Merge"]
    assert all(node.inputs[1].producer.op == "NextIteration" for node in merges)
    assert {first.producer.op, second.producer.op} == {"Exit"}


def test_step_outputs_collected_in_a_tensor_list_have_a_known_rank():
    """A loop writing each step's ``[batch, 3]`` row into a TensorList (one list write per step, one gather after:
    linear in the length, where appending with ConcatV2 is quadratic): a valid graph, and the gathered
    ``[steps, batch, 3]`` has rank 3 for the backend contract check, without shape annotations."""
    from tfjsconv.graph_loops import gathered_outputs, reserve_outputs, write_output
    from tfjsconv.shape_rank import infer_ranks

    graph = Graph()

    def make_op(op, inputs, attrs=None, *, label=None, dtype=None):
        return graph.add_op(op, inputs, attrs, name=label or op, dtype=dtype or inputs[0].dtype)

    limit = graph.placeholder("limit", DType.INT32, ())
    row = graph.placeholder("row", DType.FLOAT32, (None, 3))
    element_shape = graph.const(np.array([-1, 3], np.int32), name="element_shape")
    loop = WhileLoop(graph, make_op, lambda name: name, "loop")
    zero = graph.const(np.int32(0), name="zero")
    merged = loop.start({"i": zero, "outputs": reserve_outputs(make_op, element_shape, limit, "reserve")})
    inside = loop.body(make_op("Less", [merged["i"], limit], label="more", dtype=DType.BOOL))
    step = make_op("Mul", [row, make_op("Cast", [inside["i"]], {"SrcT": DType.INT32, "DstT": DType.FLOAT32},
                                        label="as_float", dtype=DType.FLOAT32)], label="scaled")
    step.shape = None  # no annotation: the rank comes from the rules
    one = graph.const(np.int32(1), name="one")
    done = loop.close({"i": make_op("AddV2", [inside["i"], one], label="next"),
                       "outputs": write_output(make_op, inside["outputs"], inside["i"], step, "write")})
    indices = make_op("Range", [zero, limit, one], {"Tidx": DType.INT32}, label="indices")
    gathered = gathered_outputs(make_op, done["outputs"], indices, element_shape, "gathered", (None, None, 3))
    gathered.shape = None
    graph.set_output("y", gathered)
    graph.validate()
    assert [n.op for n in graph if n.op.startswith("TensorList")] == ["TensorListReserve", "TensorListSetItem",
                                                                      "TensorListGather"]
    assert infer_ranks(graph).get(gathered) == 3
