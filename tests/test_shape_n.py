"""``ShapeN`` runs as one ``Shape`` per input: TF.js's executor answers ShapeN with float32 tensors.

Found in session 15 (a Keras probe of ``tf.shape_n`` through ``--loader=tensorflow``: "dtype mismatch: got float32,
expected int32"). The conformance case ``ShapeN/two`` passed because its values are equal; the integer arithmetic a
graph builds on the shapes then ran in float32 in TF.js (wasm's truncating division gave 2.0 for TF's int32 2).
The ``shape_n`` pass writes a ``Shape`` per output, which TF.js gives as int32.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

X = np.ones((5, 3), np.float32)
OUTPUTS = ["half", "shapes"]


def _build(tf) -> None:
    x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
    shapes = tf.raw_ops.ShapeN(input=[x, x], out_type=tf.int32)
    rows = tf.raw_ops.StridedSlice(input=shapes[0], begin=[0], end=[1], strides=[1], shrink_axis_mask=1)
    tf.raw_ops.Div(x=rows, y=tf.constant(2), name="half")  # TF's int32 division: 5 / 2 = 2
    tf.raw_ops.Identity(input=shapes[1], name="shapes")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return raw_ops_graph(tmp_path_factory.mktemp("shape_n") / "shape_n.pb", _build, {"x": X}, OUTPUTS)


def test_the_graph_reads_shapes_not_shape_n(frozen, tmp_path):
    source, _ = frozen
    tfjsconv.convert(source, tmp_path / "out", output_node_names=OUTPUTS)
    ops = [n["op"] for n in json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]["node"]]
    assert "ShapeN" not in ops and "Shape" in ops, ops


@pytest.mark.node
def test_shapes_are_int32_in_tfjs_as_in_tf(frozen, tmp_path, tfjs_runtime):
    source, expected = frozen
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", {"x": X}, OUTPUTS)
    for got in (cpu, wasm):
        for name in OUTPUTS:
            assert got[name].dtype == np.int32, (name, got[name])
            np.testing.assert_array_equal(got[name], expected[name])
