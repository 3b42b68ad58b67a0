"""The IR's editing helpers and validator."""
from __future__ import annotations

import numpy as np
import pytest

from graphs import conv_pool_softmax, dense_relu
from tfjsconv.dtypes import DType
from tfjsconv.errors import GraphError
from tfjsconv.interpreter import run_graph
from tfjsconv.ir import Graph, Value


def test_names_are_unique_and_outputs_named_like_graphdef():
    g = Graph()
    a = g.const(np.float32(1), name="c")
    b = g.const(np.float32(2), name="c")
    assert a.producer.name == "c" and b.producer.name != "c"
    split = g.add_node("Split", [a], num_outputs=3, name="split")
    assert [v.name for v in split.outputs] == ["split", "split:1", "split:2"]
    assert split.output(1).tensor_name == "split:1"
    with pytest.raises(GraphError, match="duplicate"):
        g.add_node("Const", name="c", exact_name=True)


def test_topological_order_is_stable_and_producers_first():
    g = dense_relu()
    order = [n.name for n in g.topological_order()]
    assert order.index("dense/MatMul") < order.index("dense/BiasAdd") < order.index("dense/Relu")
    assert order == [n.name for n in g.copy().topological_order()]


def test_replace_all_uses_reaches_outputs_and_remove_dead_nodes():
    g = dense_relu()
    relu = g.node("dense/Relu")
    bias_add = relu.inputs[0]
    assert g.replace_all_uses(relu.output(0), bias_add) == 1
    assert g.outputs["y"] is bias_add
    assert g.remove_dead_nodes() == ["dense/Relu"]
    g.validate()


def test_remove_node_refuses_a_node_still_in_use():
    g = dense_relu()
    with pytest.raises(GraphError, match="still uses it"):
        g.remove_node(g.node("dense/MatMul"))


def test_validator_names_dangling_inputs_cycles_and_renames():
    g = dense_relu()
    other = Graph()
    stray = other.const(np.float32(1), name="stray")
    g.node("dense/Relu").inputs.append(stray)
    g.node("dense/BiasAdd").name = "renamed"
    with pytest.raises(GraphError) as err:
        g.validate()
    assert "dense/Relu" in str(err.value) and "'stray'" in str(err.value)
    assert "renamed" in str(err.value)

    cyc = Graph()
    x = cyc.placeholder("x", DType.FLOAT32, (2,))
    a = cyc.add_node("AddV2", [x, x], name="a")
    b = cyc.add_node("AddV2", [a.output(0), x], name="b")
    a.inputs[1] = b.output(0)
    cyc.set_output("y", b.output(0))
    with pytest.raises(GraphError, match="cycle through: a, b"):
        cyc.validate()


def test_validator_requires_outputs():
    g = Graph()
    g.placeholder("x", DType.FLOAT32, (1,))
    with pytest.raises(GraphError, match="no outputs"):
        g.validate()


def test_copy_is_structural_and_shares_weights():
    g = conv_pool_softmax()
    c = g.copy()
    assert [n.name for n in c] == [n.name for n in g]
    assert c.node("conv/filter").value is g.node("conv/filter").value
    c.replace_all_uses(c.outputs["probs"], c.node("flatten").output(0))
    c.remove_dead_nodes()
    assert "probs" in g and "probs" not in c


def test_interpreter_matches_hand_computation():
    g = dense_relu()
    x = np.random.default_rng(3).standard_normal((2, 8)).astype(np.float32)
    w, b = g.node("dense/kernel").value, g.node("dense/bias").value
    np.testing.assert_allclose(run_graph(g, {"x": x})["y"], np.maximum(x @ w + b, 0), rtol=1e-6)


def test_interpreter_conv_same_padding_matches_direct_loop():
    g = conv_pool_softmax()
    img = np.random.default_rng(4).standard_normal((1, 8, 8, 3)).astype(np.float32)
    w = g.node("conv/filter").value
    padded = np.pad(img, ((0, 0), (1, 1), (1, 1), (0, 0)))
    direct = np.zeros((1, 8, 8, 4))
    for i in range(8):
        for j in range(8):
            direct[0, i, j] = np.tensordot(padded[0, i:i + 3, j:j + 3, :], w, axes=3)
    pooled = direct.reshape(1, 4, 2, 4, 2, 4).max(axis=(2, 4)).reshape(1, 64)
    expected = np.exp(pooled - pooled.max()) / np.exp(pooled - pooled.max()).sum()
    np.testing.assert_allclose(run_graph(g, {"image": img})["probs"], expected, rtol=1e-5, atol=1e-7)


def test_value_repr_and_histogram():
    g = dense_relu()
    assert g.op_histogram() == {"BiasAdd": 1, "Const": 2, "MatMul": 1, "Placeholder": 1, "Relu": 1}
    assert isinstance(g.outputs["y"], Value) and "dense/Relu" in repr(g.outputs["y"])
