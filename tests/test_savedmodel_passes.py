"""Pass rewrites that real SavedModels need (Keras applications), on small graphs.

EfficientNet's squeeze-and-excitation block reshapes a global average back to (batch, 1, 1, C)
with a target computed from ``Shape(x)[0]``; ``reshape_chains`` turns that into a static ``-1``
target and then into ``Mean(keep_dims=True)``. Outputs are checked in the numpy interpreter and in
real TF.js (cpu, wasm).
"""
from __future__ import annotations

import numpy as np
import pytest

import tfjsconv
from random_graphs import Builder, optimize
from tfjsconv.dtypes import DType
from tfjsconv.interpreter import run_graph
from tf_reference import reference

F, I = DType.FLOAT32, DType.INT32


def se_block(*, target_dims=(1, 1, 3), shape_of_input: bool = False, mean_used_twice: bool = False) -> Builder:
    """x * sigmoid(reshape(mean(x, [1, 2]), [shape(m)[0], *target_dims])), batch size unknown."""
    b = Builder("se")
    x = b.input("x", (None, 4, 4, 3))
    squeeze = b.op("Mean", [x, b.const(np.array([1, 2], np.int32), "axes")], {"keep_dims": False, "Tidx": I},
                   name="squeeze", shape=(None, 3))
    shape = b.op("Shape", [x if shape_of_input else squeeze], {"T": F, "out_type": I}, name="shape", dtype=I)
    ints = [b.const(np.array([v], np.int32), n) for v, n in ((0, "begin"), (1, "end"), (1, "stride"))]
    batch = b.op("StridedSlice", [shape, *ints], {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0,
                                                  "new_axis_mask": 0, "shrink_axis_mask": 1, "Index": I},
                 name="batch", dtype=I, shape=())
    dims = [b.const(np.int32(d), f"dim{i}") for i, d in enumerate(target_dims)]
    target = b.op("Pack", [batch, *dims], {"N": 1 + len(dims), "axis": 0}, name="target", dtype=I)
    excite = b.op("Reshape", [squeeze, target], {"Tshape": I}, name="excite")
    gate = b.op("Sigmoid", [excite], name="gate")
    if target_dims == (1, 1, 3):
        b.output("y", b.op("Mul", [x, gate], name="y"))
    else:
        b.output("y", gate)
    if mean_used_twice:
        b.output("mean", squeeze)
    return b


def test_squeeze_excite_reshape_becomes_mean_keeping_dims():
    b = se_block()
    feeds = b.feeds()
    expected = reference(b.g, feeds)
    g, report = optimize(b.g, only=("reshape_chains",))
    ops = g.op_histogram()
    assert not {"Reshape", "Pack", "Shape", "StridedSlice"} & set(ops), ops
    (mean,) = [n for n in g if n.op == "Mean"]
    assert mean.attrs["keep_dims"] is True and mean.name == "excite"  # the last node keeps its name
    np.testing.assert_allclose(run_graph(g, feeds)["y"], expected["y"], rtol=1e-6)


def test_batch_size_target_alone_becomes_static_when_the_mean_is_also_an_output():
    b = se_block(mean_used_twice=True)
    feeds = b.feeds()
    expected = reference(b.g, feeds)
    g, _ = optimize(b.g, only=("reshape_chains",))
    ops = g.op_histogram()
    assert ops["Reshape"] == 1 and not {"Pack", "Shape", "StridedSlice"} & set(ops), ops
    assert list(g.node("excite").inputs[1].producer.attrs["value"]) == [-1, 1, 1, 3]
    for key, want in expected.items():
        np.testing.assert_allclose(run_graph(g, feeds)[key], want, rtol=1e-6)


@pytest.mark.parametrize("variant", [{"target_dims": (3, 1, 1)}, {"shape_of_input": True}],
                         ids=["other_layout", "batch_of_another_tensor"])
def test_reshapes_that_are_not_the_pattern_stay(variant):
    b = se_block(**variant)
    g, _ = optimize(b.g, only=("reshape_chains",))
    assert g.node("excite").op == "Reshape"
    assert g.node("squeeze").attrs["keep_dims"] is False
    if variant.get("shape_of_input"):  # Shape(x)[0] is the batch size too, but not of the reshaped tensor
        assert g.node("excite").inputs[1].producer.op == "Pack"


@pytest.mark.node
@pytest.mark.parametrize("variant", [{}, {"mean_used_twice": True}], ids=["se", "mean_output"])
def test_optimized_se_block_runs_in_tfjs(variant, tmp_path, tfjs_runtime):
    from tfjsconv.verify.compare import verify_model

    b = se_block(**variant)
    feeds = b.feeds()
    expected = reference(b.g, feeds)
    result = tfjsconv.convert(b.g, tmp_path / "m")
    assert "Reshape" not in result.op_histogram or variant
    report = verify_model(tmp_path / "m", feeds, expected, backends=("cpu", "wasm"), rtol=1e-5, atol=0)
    assert report.passed, report.failures
