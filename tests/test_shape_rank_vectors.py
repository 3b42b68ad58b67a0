"""Fill's rank from dims vectors of run-time length's parts: element-wise ops, TopKV2 and GatherV2 of them.

Since the backend contract refuses every op at rank ≥ 7 where the probe never ran it (``source: unprobed``), a Fill
whose rank inference gives up is refused on webgl ("rank unknown"): the empty-reduction padding's
``Fill(SelectV2(any_reduced, ones, input_shape))`` and ``Fill(GatherV2(input_shape, TopKV2(scores, k)))`` were
(``tests/test_onnx_runtime_params.py::test_reductions_over_an_empty_input_with_axes_at_run_time`` on webgl).
"""
from __future__ import annotations

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph
from tfjsconv.shape_rank import infer_ranks

I32, F32, BOOL = DType.INT32, DType.FLOAT32, DType.BOOL


def _mask_of_run_time_length(graph: Graph):
    """A bool vector whose length rank inference cannot know (a Placeholder of unknown length)."""
    return graph.placeholder("mask", BOOL, (None,))


def test_select_between_a_vector_of_known_length_and_one_of_unknown_length_is_that_long():
    graph = Graph()
    shape = graph.const(np.asarray([2, 0, 3], np.int32), name="shape")
    ones = graph.const(np.asarray(1, np.int32), name="one")
    dims = graph.add_op("SelectV2", [_mask_of_run_time_length(graph), ones, shape], {"T": I32}, name="dims")
    filled = graph.add_op("Fill", [dims, graph.const(np.asarray(0.0, np.float32), name="zero")], {"T": F32})
    assert infer_ranks(graph)[filled] == 3


def test_vectors_of_two_lengths_besides_one_stay_unknown():
    graph = Graph()
    a = graph.const(np.asarray([2, 3], np.int32), name="a")
    b = graph.const(np.asarray([2, 3, 4], np.int32), name="b")
    dims = graph.add_op("SelectV2", [_mask_of_run_time_length(graph), a, b], {"T": I32}, name="dims")
    filled = graph.add_op("Fill", [dims, graph.const(np.asarray(0.0, np.float32), name="zero")], {"T": F32})
    assert infer_ranks(graph)[filled] is None  # invalid at run time; never guessed


def test_broadcast_args_with_an_unknown_length_stays_unknown():
    graph = Graph()
    known = graph.const(np.asarray([2, 3], np.int32), name="known")
    other = graph.placeholder("other", I32, (None,))
    dims = graph.add_op("BroadcastArgs", [known, other], {"T": I32}, name="dims")
    filled = graph.add_op("Fill", [dims, graph.const(np.asarray(0.0, np.float32), name="zero")], {"T": F32})
    assert infer_ranks(graph)[filled] is None  # the other shape may be longer


def test_gather_of_the_top_k_positions_is_k_long():
    graph = Graph()
    shape = graph.const(np.asarray([2, 0, 3], np.int32), name="shape")
    scores = graph.placeholder("scores", I32, (None,))
    top = graph.add_node("TopKV2", [scores, graph.const(np.asarray(2, np.int32), name="k")], {"T": I32},
                         name="top", num_outputs=2)
    axis = graph.const(np.asarray(0, np.int32), name="axis")
    dims = graph.add_op("GatherV2", [shape, top.outputs[1], axis], {"Taxis": I32}, name="dims")
    filled = graph.add_op("Fill", [dims, graph.const(np.asarray(0.0, np.float32), name="zero")], {"T": F32})
    assert infer_ranks(graph)[filled] == 2
