"""The backend contract's rank limits hold for values nobody annotated with a shape.

A pass's new node (``graph.add_op`` without ``shape``) or a frontend value without a shape used to have
an unknown rank, and a limit like "float32 AddV2 of rank >= 7 is wrong on wasm" never matched it: a
silently wrong model. ``tfjsconv.shape_rank.infer_ranks`` fills the ranks in a side map the check reads,
and a rank-limited node whose rank stays unknown is refused ("rank unknown").
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from tfjsconv.conversion import optimize_and_check
from tfjsconv.dtypes import DType
from tfjsconv.errors import BackendUnsupportedError
from tfjsconv.ir import Graph, TensorShapeAttr
from tfjsconv.ops.backends import BackendContract
from tfjsconv.options import ConvertOptions
from tfjsconv.plugin_manager import get_plugin_manager
from tfjsconv.shape_rank import infer_ranks

F32 = DType.FLOAT32


def ints(graph: Graph, values, name: str = "c"):
    return graph.const(np.asarray(values, dtype=np.int32), name=name)


def run_check(graph: Graph, targets: list[str]) -> None:
    registry = get_plugin_manager().registry
    options = ConvertOptions.from_kwargs(target_backends=targets)
    options.registry = registry
    optimize_and_check(graph, options, registry)


def unannotated_rank7_add(alternating: bool) -> Graph:
    """A float32 AddV2 of rank 7 whose inputs and output have no shape annotation (Reshapes added bare).

    ``alternating``: the operands broadcast on alternating axes, which ``binary_rank`` cannot merge.
    """
    graph = Graph()
    x = graph.placeholder("x", F32, (16,) if alternating else (128,))
    z = graph.placeholder("z", F32, (8,) if alternating else (128,))
    a = graph.add_op("Reshape", [x, ints(graph, [2, 1, 2, 1, 2, 1, 2] if alternating else [2] * 7, "a7")],
                     {"T": F32}, name="a")
    b = graph.add_op("Reshape", [z, ints(graph, [1, 2, 1, 2, 1, 2, 1] if alternating else [2] * 7, "b7")],
                     {"T": F32}, name="b")
    out = graph.add_op("AddV2", [a, b], {"T": F32}, name="add7")
    graph.set_output("y", graph.add_op("Reshape", [out, ints(graph, [-1], "flat")], {"T": F32}, name="back"))
    return graph


def test_unannotated_rank7_add_that_cannot_merge_is_refused_for_wasm_and_kept_for_cpu():
    assert unannotated_rank7_add(True).node("add7").outputs[0].shape is None
    with pytest.raises(BackendUnsupportedError) as caught:
        run_check(unannotated_rank7_add(True), ["cpu", "wasm"])
    assert [(p.op, p.node, p.backend) for p in caught.value.problems] == [("AddV2", "add7", "wasm")]
    assert "maxrank:7=true" in caught.value.problems[0].reason
    run_check(unannotated_rank7_add(True), ["cpu"])  # cpu computes rank 7 right: nothing to refuse


def test_unannotated_rank7_add_that_merges_is_rewritten_for_wasm():
    graph = unannotated_rank7_add(False)
    run_check(graph, ["cpu", "wasm"])
    ranks = infer_ranks(graph)
    adds = [n for n in graph.nodes if n.op == "AddV2"]
    assert adds and all(ranks[v] <= 6 for n in adds for v in [*n.inputs, *n.outputs])


def pass_created_rank5_pad(sizes) -> Graph:
    """What a rewrite emits: an Identity and a Pad added without shapes, on a rank-5 input."""
    graph = Graph()
    x = graph.placeholder("x", F32, sizes)
    moved = graph.add_op("Identity", [x], {"T": F32}, name="moved")
    pads = ints(graph, [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]], "pads")
    graph.set_output("y", graph.add_op("Pad", [moved, pads], {"T": F32, "Tpaddings": DType.INT32}, name="pad5"))
    return graph


def test_pass_created_unannotated_rank5_pad_is_caught_for_webgl():
    graph = pass_created_rank5_pad((None, 2, 4, 4, None))  # channels unknown after a padded axis: no merge
    assert graph.node("pad5").inputs[0].shape is None
    with pytest.raises(BackendUnsupportedError) as caught:
        run_check(graph, ["webgl"])
    assert {(p.op, p.node, p.backend) for p in caught.value.problems} == {("Pad", "pad5", "webgl")}
    assert "pad5" in str(caught.value) and "webgl" in str(caught.value)


def test_pass_created_rank5_pad_with_known_sizes_is_lowered_for_webgl_not_refused():
    graph = pass_created_rank5_pad((None, 2, 4, 4, 3))
    run_check(graph, ["webgl"])
    ranks = infer_ranks(graph)
    pads = [n for n in graph.nodes if n.op == "Pad"]
    assert pads and all(ranks[n.inputs[0]] <= 4 for n in pads)


def test_rank_that_stays_unknown_is_refused_naming_rank_unknown():
    graph = Graph()
    x = graph.placeholder("x", F32, (None,))
    y = graph.add_op("SomeOpWithoutARankRule", [x], {"T": F32}, name="opaque")  # no shape, no rule
    graph.set_output("y", graph.add_op("Mul", [y, y], {"T": F32}, name="square"))
    problems = BackendContract.load().unsupported(graph, ["cpu", "wasm"])
    assert [(p.op, p.node, p.backend) for p in problems] == [("Mul", "square", "wasm")]
    assert problems[0].reason.startswith("rank unknown")
    assert BackendContract.load().report(graph, ["wasm"])["wasm"]["runs"] is False


def test_rank_an_unknown_rank_model_input_decides_is_not_refused():
    """A TF1 ``placeholder`` without a shape: the user picks the rank when running, as with TF (documented)."""
    graph = Graph()
    x = graph.placeholder("x", F32, None)
    shape = graph.placeholder("shape", DType.INT32, (None,))  # a shape fed at run time: its length decides
    y = graph.add_op("Reshape", [x, graph.add_op("Identity", [shape], {"T": DType.INT32})], {"T": F32})
    graph.set_output("y", graph.add_op("Mul", [y, x], {"T": F32}, name="scaled"))
    ranks = infer_ranks(graph)
    assert ranks[graph.node("scaled").outputs[0]] is None
    assert BackendContract.load().unsupported(graph, ["cpu", "wasm", "webgl"]) == []


def test_annotated_low_rank_graph_has_no_rank_unknown_refusals():
    graph = Graph()
    x = graph.placeholder("x", F32, (None, 3))
    graph.set_output("y", graph.add_op("Mul", [x, x], {"T": F32}, name="square"))
    assert BackendContract.load().unsupported(graph) == []


# -- rank rules, one per op family --------------------------------------------------------------------------
def _rank_of(build) -> int | None:
    graph = Graph()
    out = build(graph)
    return infer_ranks(graph)[out]


def _x(graph: Graph, rank: int, name: str = "x"):
    return graph.placeholder(name, F32, (2,) * rank)


def _op(graph: Graph, op: str, inputs, **attrs):
    return graph.add_op(op, inputs, {"T": F32, **attrs})


RULE_CASES = {
    "broadcast is the max rank": (lambda g: _op(g, "AddV2", [_x(g, 3), _x(g, 6, "y")]), 6),
    "unary keeps rank": (lambda g: _op(g, "Relu", [_x(g, 5)]), 5),
    "Cast keeps rank": (lambda g: _op(g, "Cast", [_x(g, 4)], DstT=DType.INT32), 4),
    "Reshape: const shape length": (lambda g: _op(g, "Reshape", [_x(g, 2), ints(g, [1, 2, 2, 1, 1])]), 5),
    "Reshape: Pack'ed shape": (lambda g: _op(g, "Reshape", [_x(g, 2), g.add_op(
        "Pack", [ints(g, 1, "a"), ints(g, 4, "b"), ints(g, 1, "d")], {"N": 3})]), 3),
    "Reshape: Shape of a value": (lambda g: _op(g, "Reshape", [_x(g, 2), g.add_op("Shape", [_x(g, 6, "s")])]), 6),
    "Transpose": (lambda g: _op(g, "Transpose", [_x(g, 7), ints(g, list(range(7))[::-1])]), 7),
    "Pad": (lambda g: _op(g, "Pad", [_x(g, 6), ints(g, [[0, 1]] * 6)]), 6),
    "ReverseV2": (lambda g: _op(g, "ReverseV2", [_x(g, 5), ints(g, [0])]), 5),
    "Slice": (lambda g: _op(g, "Slice", [_x(g, 5), ints(g, [0] * 5, "b"), ints(g, [1] * 5, "s")]), 5),
    "Tile": (lambda g: _op(g, "Tile", [_x(g, 3), ints(g, [1, 2, 3])]), 3),
    "StridedSlice masks": (lambda g: _op(g, "StridedSlice", [_x(g, 4), ints(g, [0] * 4, "b"), ints(g, [1] * 4, "e"),
                                                             ints(g, [1] * 4, "s")],
                                         shrink_axis_mask=0b0101, new_axis_mask=0b0010), 3),
    "ExpandDims": (lambda g: _op(g, "ExpandDims", [_x(g, 6), ints(g, 0)]), 7),
    "Squeeze with dims": (lambda g: _op(g, "Squeeze", [_x(g, 5)], squeeze_dims=[0, -1]), 3),
    "Sum keep_dims": (lambda g: _op(g, "Sum", [_x(g, 5), ints(g, [1, 2])], keep_dims=True), 5),
    "Sum drops axes": (lambda g: _op(g, "Sum", [_x(g, 5), ints(g, [1, -1])], keep_dims=False), 3),
    "Sum over run-time axes of known length": (lambda g: _op(g, "Sum", [_x(g, 5), g.placeholder(
        "axes", DType.INT32, (2,))], keep_dims=False), 3),
    "ScatterNd into a kept-dims Prod of a shape": (lambda g: _op(g, "ScatterNd", [
        g.placeholder("idx", DType.INT32, (4, 1)), _x(g, 1, "upd"),
        _op(g, "Prod", [g.add_op("Shape", [_x(g, 3, "s")]), ints(g, [0], "p")], keep_dims=True)]), 1),
    "ConcatV2": (lambda g: _op(g, "ConcatV2", [_x(g, 5), _x(g, 5, "y"), ints(g, 0)], N=2), 5),
    "Pack": (lambda g: _op(g, "Pack", [_x(g, 6), _x(g, 6, "y")], N=2), 7),
    "MatMul": (lambda g: _op(g, "MatMul", [_x(g, 2), _x(g, 2, "y")]), 2),
    "BatchMatMulV2 broadcasts": (lambda g: _op(g, "BatchMatMulV2", [_x(g, 5), _x(g, 3, "y")]), 5),
    "Conv3D": (lambda g: _op(g, "Conv3D", [_x(g, 5), _x(g, 5, "w")]), 5),
    "GatherV2": (lambda g: g.add_op("GatherV2", [_x(g, 3), g.placeholder("i", DType.INT32, (2, 2)), ints(g, 0)],
                                    {"batch_dims": 0}), 4),
    "GatherV2 batch_dims": (lambda g: g.add_op("GatherV2", [_x(g, 3), g.placeholder("i", DType.INT32, (2, 2)),
                                                            ints(g, 1)], {"batch_dims": 1}), 3),
    "Shape": (lambda g: g.add_op("Shape", [_x(g, 6)]), 1),
    "OneHot": (lambda g: g.add_op("OneHot", [g.placeholder("i", DType.INT32, (2,) * 6), ints(g, 3, "d"),
                                             g.const(np.float32(1), name="on"), g.const(np.float32(0))]), 7),
    "Einsum": (lambda g: g.add_op("Einsum", [_x(g, 3), _x(g, 3, "y")], {"equation": "abc,acd->abd"}), 3),
    "LookupTableFindV2: one value per key": (lambda g: g.add_op("LookupTableFindV2", [
        g.placeholder("table", DType.RESOURCE, ()), g.placeholder("keys", DType.STRING, (2, 2)),
        g.const(np.int64(-1))]), 2),
    "declared _output_shapes": (lambda g: g.add_op("SomeOpWithShapes", [_x(g, 3)],
                                                   {"_output_shapes": [TensorShapeAttr((1, 2, 3, 4, 5))]}), 5),
    "GatherNd: depth from a Pack on the last axis": (lambda g: g.add_op("GatherNd", [_x(g, 4), g.add_op(
        "Pack", [g.placeholder("i", DType.INT32, (3, 5)), g.placeholder("j", DType.INT32, (3, 5))], {"axis": -1})]), 4),
    "Reshape: ConcatV2 of a sliced Shape": (lambda g: _op(g, "Reshape", [_x(g, 2), g.add_op("ConcatV2", [
        g.add_op("Slice", [g.add_op("Shape", [_x(g, 6, "s")]), ints(g, [1], "b"), ints(g, [-1], "n")]),
        ints(g, [4, 5], "tail"), ints(g, 0, "axis")], {"N": 2})]), 7),
    "UniqueV2": (lambda g: g.add_op("UniqueV2", [_x(g, 3), ints(g, [0])]), 3),
    "unknown input stays unknown": (lambda g: _op(g, "AddV2", [_x(g, 3), g.placeholder("u", F32, None)]), None),
    "unknown op stays unknown": (lambda g: g.add_op("SomeCustomOp", [_x(g, 3)]), None),
}


@pytest.mark.parametrize("case", list(RULE_CASES))
def test_rank_rule(case):
    build, expected = RULE_CASES[case]
    assert _rank_of(build) == expected


def test_inferred_ranks_do_not_change_the_graph():
    graph = unannotated_rank7_add(True)
    infer_ranks(graph)
    assert graph.node("add7").outputs[0].shape is None  # a side map: writers see only real annotations


# -- backend-gated passes are configured per conversion -----------------------------------------------------
def test_backend_gated_pass_targets_are_per_run_not_shared():
    from tfjsconv.passes import select_passes
    from tfjsconv.passes.backend_gated import BackendGatedPass

    registry = get_plugin_manager().registry

    def gated(targets):
        options = ConvertOptions.from_kwargs(target_backends=targets)
        return {p.name: p for p in select_passes(registry.passes, level=2, options=options)
                if isinstance(p, BackendGatedPass)}

    seen: dict[str, dict] = {}
    threads = [threading.Thread(target=lambda t=t: seen.__setitem__(t, gated([t]))) for t in ("cpu", "webgl")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen["cpu"] and set(seen["cpu"]) == set(seen["webgl"])
    for name in seen["cpu"]:
        assert seen["cpu"][name].targets == ("cpu",) and seen["webgl"][name].targets == ("webgl",)
        assert seen["cpu"][name] is not seen["webgl"][name]
    registered = [getattr(p, "_real", p) for p in registry.passes]
    assert all(getattr(p, "targets", ()) == () for p in registered)  # the registered instances stay unset


def _reduce_over_fed_axes(rank: int) -> Graph:
    """A Sum over axes of unknown count (fed at run time), keep_dims off: its rank is unknown, but at most
    its input's; the input is reshaped bare so its own rank is known only by inference."""
    graph = Graph()
    x = graph.placeholder("x", F32, (2 ** rank,))
    axes = graph.placeholder("axes", DType.INT32, (None,))
    shaped = graph.add_op("Reshape", [x, ints(graph, [2] * rank, "dims")], {"T": F32}, name="shaped")
    total = graph.add_op("Sum", [shaped, axes], {"T": F32, "Tidx": DType.INT32, "keep_dims": False}, name="sum")
    graph.set_output("y", graph.add_op("Relu", [total], {"T": F32}, name="relu"))
    return graph


def test_rank_bounded_by_the_input_rules_out_high_rank_limits():
    """An unknown rank bounded below a limit's rank is not refused; bounded above it, it still is."""
    graph = _reduce_over_fed_axes(4)
    ranks = infer_ranks(graph)
    total = graph.node("sum").outputs[0]
    assert ranks[total] is None and ranks.bounds[total] == 4
    run_check(_reduce_over_fed_axes(4), ["cpu", "wasm", "webgl"])  # webgl's Sum limits start at rank 5
    with pytest.raises(BackendUnsupportedError, match="Sum on webgl"):
        run_check(_reduce_over_fed_axes(7), ["cpu", "wasm", "webgl"])
