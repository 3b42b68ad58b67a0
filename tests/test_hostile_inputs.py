"""Limits (``core/limits.py``), the function-call walk and the ``.pt2`` pickle check, below the CLI table.

The hostile files themselves (and their clean refusal) are rows of ``tests/test_bad_inputs.py``;
this file checks the mechanisms: flags are honoured, recursion and blow-ups are found without
recursing, a pickle-free ``.pt2`` converts without the flag, and the refusals are quick.
"""
from __future__ import annotations

import json
import time
import zipfile

import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import InputError, UsageError
from tfjsconv.limits import DEFAULT_LIMITS, LimitExceeded, Limits
from tfjsconv.options import ConvertOptions

import hostile_models


def test_limits_are_options_and_flags(tmp_path):
    options = ConvertOptions.from_kwargs(max_nodes=5, max_weights=7)
    assert options.limits == Limits(max_nodes=5, max_weights=7)
    assert ConvertOptions().limits == DEFAULT_LIMITS
    with pytest.raises(UsageError, match="--max_function_depth must be a positive integer"):
        ConvertOptions.from_kwargs(max_function_depth=0)
    from tfjsconv.cli import build_parser
    from tfjsconv.cli.convert_cmd import options_from_args

    args = build_parser().parse_args(["convert", "in", "out", "--max_nodes", "12"])
    assert options_from_args(args)["max_nodes"] == 12 and "max_weights" not in options_from_args(args)


def test_node_limit_flag_lets_a_trusted_large_graph_through(tmp_path):
    pytest.importorskip("onnx")
    from tfjsconv.cli import main

    path = hostile_models.huge_onnx(tmp_path / "chain.onnx", 300)
    assert main(["convert", str(path), str(tmp_path / "a"), "--max_nodes", "100", "--quiet"]) == 2
    assert not (tmp_path / "a").exists()
    assert main(["convert", str(path), str(tmp_path / "b"), "--quiet"]) == 0
    assert (tmp_path / "b" / "model.json").is_file()


def test_weight_limit_applies_to_written_models(tmp_path):
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph

    g = Graph("many_weights")
    x = g.placeholder("x", DType.FLOAT32, (None, 4))
    for i in range(12):
        x = g.add_op("AddV2", [x, g.const(np.full(4, i, np.float32), name=f"b{i}")], {"T": DType.FLOAT32},
                     name=f"add{i}", dtype=DType.FLOAT32, shape=(None, 4))
    g.set_output("y", x)
    with pytest.raises(LimitExceeded, match="--max_weights"):
        tfjsconv.convert(g, tmp_path / "out", max_weights=5, optimization_level=0)
    assert list(tmp_path.iterdir()) == []


# -- the function-call walk (plugins/savedmodel/bounds.py) on synthetic libraries ---------------------
def _library(calls: dict[str, list[str]], *, nodes_per_function: int = 1):
    """A GraphDef whose node ``main`` calls ``f0`` and where function ``f`` calls ``calls[f]``."""
    tf_framework = pytest.importorskip("tensorflow.core.framework.graph_pb2")
    graph_def = tf_framework.GraphDef()
    graph_def.node.add(name="main", op="PartitionedCall").attr["f"].func.name = "f0"
    for name, callees in calls.items():
        fdef = graph_def.library.function.add()
        fdef.signature.name = name
        for i in range(nodes_per_function):
            fdef.node_def.add(name=f"n{i}", op="Identity")
        for j, callee in enumerate(callees):
            fdef.node_def.add(name=f"call{j}", op="PartitionedCall").attr["f"].func.name = callee
    return graph_def


def test_recursion_through_other_functions_is_found():
    from tfjsconv.plugins.savedmodel.bounds import check_graph_def

    with pytest.raises(InputError, match="f1 calls itself .f1 -> f2 -> f1."):
        check_graph_def(_library({"f0": ["f1"], "f1": ["f2"], "f2": ["f1"]}), DEFAULT_LIMITS, "m")


def test_deep_nesting_is_refused_without_python_recursion():
    from tfjsconv.plugins.savedmodel.bounds import check_graph_def

    depth = 5000  # far beyond Python's recursion limit: the walk must be iterative
    chain = {f"f{i}": [f"f{i + 1}"] for i in range(depth)} | {f"f{depth}": []}
    graph_def = _library(chain)
    with pytest.raises(LimitExceeded, match="--max_function_depth"):
        check_graph_def(graph_def, DEFAULT_LIMITS, "m")
    check_graph_def(graph_def, Limits(max_function_depth=depth + 1), "m")


def test_inlining_blow_up_is_counted_per_call_site():
    from tfjsconv.plugins.savedmodel.bounds import check_graph_def

    doubling = {f"f{i}": [f"f{i + 1}", f"f{i + 1}"] for i in range(40)} | {"f40": []}
    start = time.perf_counter()
    with pytest.raises(LimitExceeded, match="once its function calls are inlined"):  # 2^40 nodes inlined
        check_graph_def(_library(doubling), DEFAULT_LIMITS, "m")
    assert time.perf_counter() - start < 5


def test_long_dependency_chains_are_measured_through_calls():
    graph_pb2 = pytest.importorskip("tensorflow.core.framework.graph_pb2")

    from tfjsconv.plugins.savedmodel.bounds import check_graph_def

    graph_def = graph_pb2.GraphDef()
    previous = graph_def.node.add(name="x", op="Placeholder").name
    for i in range(3):  # main: x -> call0 -> call1 -> call2, each call a 400-node chain
        node = graph_def.node.add(name=f"call{i}", op="PartitionedCall", input=[previous])
        node.attr["f"].func.name = "chain"
        previous = node.name
    fdef = graph_def.library.function.add()
    fdef.signature.name = "chain"
    for i in range(400):
        fdef.node_def.add(name=f"n{i}", op="Identity", input=[f"n{i - 1}:output:0" if i else "arg"])
    loop = graph_def.node.add(name="next", op="NextIteration", input=["call2"])  # a back edge: not a chain
    graph_def.node.add(name="merge", op="Merge", input=["x", loop.name])
    with pytest.raises(LimitExceeded, match="1,205 exceeds the limit of 1,000 .--max_graph_depth"):
        check_graph_def(graph_def, Limits(max_graph_depth=1000), "m")
    check_graph_def(graph_def, Limits(max_graph_depth=1205), "m")


# -- .pt2 ---------------------------------------------------------------------------------------------
def test_pickle_free_pt2_converts_without_the_flag(tmp_path):
    torch = pytest.importorskip("torch")
    path = hostile_models.pt2_archive(tmp_path / "m.pt2", keep_sample_inputs=False)
    tfjsconv.convert(path, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    assert doc["format"] == "graph-model"
    del torch


@pytest.mark.parametrize("member", ["data/aotinductor/model/model.so", "data/weights/model.pt",
                                    "data/constants/opaque_obj_0"])
def test_pt2_members_that_torch_would_run_are_refused(tmp_path, member):
    pytest.importorskip("torch")
    from tfjsconv.errors import UnsafeInputError

    path = hostile_models.pt2_archive(tmp_path / "m.pt2", keep_sample_inputs=False)
    with zipfile.ZipFile(path) as z:
        root = z.namelist()[0].split("/", 1)[0]
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(f"{root}/{member}", b"\x80\x04N.")
    with pytest.raises(UnsafeInputError, match=member.replace(".", r"\.")):
        tfjsconv.convert(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- time: the 500,000-node graphs of the table, refused within seconds -------------------------------
HUGE = 500_000
#: The target is 10 s; CI has 2 loaded cores, so the bound is generous.
BOUND_S = 30.0


def _timed_refusal(argv: list[str], capsys) -> float:
    from tfjsconv.cli import main

    capsys.readouterr()
    start = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2 and "--max_nodes" in err, err
    return seconds


def test_huge_onnx_graph_is_refused_quickly(tmp_path, capsys):
    pytest.importorskip("onnx")
    path = hostile_models.huge_onnx(tmp_path / "chain.onnx", HUGE)
    seconds = _timed_refusal(["convert", str(path), str(tmp_path / "out")], capsys)
    assert seconds < BOUND_S, f"{seconds:.1f} s"


def test_huge_frozen_graph_and_saved_model_are_refused_quickly(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    frozen = hostile_models.huge_frozen_graph(tmp_path / "g.pb", HUGE)
    seconds = _timed_refusal(["convert", str(frozen), str(tmp_path / "a"), f"--output_node_names=chain_{HUGE - 1}"],
                             capsys)
    assert seconds < BOUND_S, f"{seconds:.1f} s"
    saved = hostile_models.huge_saved_model(tmp_path / "sm", HUGE)
    seconds = _timed_refusal(["convert", str(saved), str(tmp_path / "b")], capsys)
    assert seconds < BOUND_S, f"{seconds:.1f} s"
