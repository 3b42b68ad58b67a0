"""A plugin adds its own pass through the register_passes hook (the example in docs/passes.md)."""
from __future__ import annotations

import numpy as np
import pytest

import tfjsconv
from random_graphs import Builder
from tfjsconv.errors import UsageError
from tf_reference import reference as tf_reference

# --- the docs/passes.md example, verbatim -------------------------------------------------------
from tfjsconv.hookspecs import hookimpl
from tfjsconv.ir import Graph
from tfjsconv.passes import Pass, PassResult
from tfjsconv.passes.graph_edit import Uses, const_array
from tfjsconv.passes.shapes import infer_shapes


class RemoveMultiplyByOne(Pass):
    """``Mul(x, 1)`` → ``x`` when the ones do not broadcast ``x`` to a bigger shape."""

    name = "remove_multiply_by_one"
    level = 1     # runs at --optimization_level 1 and 2
    after = ("cse",)  # runs right after CSE (so after constant folding); names of passes not selected are ignored

    def run(self, graph: Graph) -> PassResult:
        uses, shapes, removed = Uses(graph), infer_shapes(graph), 0
        for node in graph.topological_order():
            if node.op != "Mul" or node.control_inputs:
                continue
            x, ones = node.inputs
            array = const_array(ones)
            out = node.output(0)
            if array is None or not np.all(array == 1) or shapes.get(x) != shapes.get(out) or out in uses.outputs:
                continue
            uses.replace(graph, out, x)  # every reader of the Mul now reads x; dead_code drops the Mul
            removed += 1
        return PassResult(removed)


class MyPlugin:
    @hookimpl
    def register_passes(self, register):
        register(RemoveMultiplyByOne())
# ------------------------------------------------------------------------------------------------


def graph() -> Builder:
    b = Builder()
    x = b.input("x", (2, 3))
    y = b.op("Mul", [x, b.const(np.ones(3, np.float32), "ones")], name="times_one")
    wider = b.op("Mul", [x, b.const(np.ones((4, 1, 3), np.float32), "ones3")], name="broadcasting")
    b.output("wider", wider)
    return b.output("y", b.op("Relu", [y], name="y")) and b


@pytest.fixture
def with_pass():
    from tfjsconv.plugin_manager import get_plugin_manager

    get_plugin_manager().register(MyPlugin(), name="my-passes")


def test_plugin_pass_runs_in_convert(with_pass, tmp_path):
    b = graph()
    result = tfjsconv.convert(b.g, tmp_path / "m")
    assert result.op_histogram["Mul"] == 1  # the broadcasting one stays
    stats = {s.name: s.changes for s in result.pass_report.stats}
    assert stats["remove_multiply_by_one"] == 1
    ran = [s.name for s in result.pass_report.stats]
    assert ran[ran.index("cse") + 1] == "remove_multiply_by_one"  # its after=("cse",)


@pytest.mark.node
def test_plugin_pass_output_runs_in_tfjs(with_pass, tmp_path, tfjs_runtime):
    from tfjsconv.verify.compare import verify_model

    b = graph()
    feeds = b.feeds()
    tfjsconv.convert(b.g, tmp_path / "m")
    report = verify_model(tmp_path / "m", feeds, tf_reference(b.g, feeds), backends=("cpu", "wasm"))
    assert report.passed, report.failures


def test_plugin_pass_can_be_skipped_by_name(with_pass, tmp_path):
    result = tfjsconv.convert(graph().g, tmp_path / "m", skip_passes=["remove_multiply_by_one"])
    assert result.op_histogram["Mul"] == 2
    with pytest.raises(UsageError, match="remove_multiply_by_onee"):
        tfjsconv.convert(graph().g, tmp_path / "m2", skip_passes=["remove_multiply_by_onee"])


def test_plugin_pass_respects_the_level(with_pass, tmp_path):
    result = tfjsconv.convert(graph().g, tmp_path / "m", optimization_level=0)
    assert result.op_histogram["Mul"] == 2
