"""Review RT5 of ``core/passes/empty_broadcast.py``: dtypes TF.js's loader does not parse, and Prelu's shape.

Expected values are TensorFlow's; the converted model runs in real TF.js (cpu and wasm).
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402
from tfjsconv.passes import empty_broadcast  # noqa: E402
from tfjsconv.plugin_manager import get_plugin_manager  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402

pytestmark = pytest.mark.node

#: int16/uint16/uint32: a ``Fill`` of ``T`` DT_INT16 is float32 in TF.js (its loader knows no such ``T``), and the
#: ``Mul`` then upcast the result to float32; the others are checked as well.
DTYPES = {"int16": tf.int16, "uint16": tf.uint16, "uint32": tf.uint32, "int64": tf.int64, "uint8": tf.uint8,
          "int8": tf.int8, "half": tf.float16, "double": tf.float64}


class Broadcasts(tf.Module):
    @tf.function(input_signature=[*(tf.TensorSpec([None, 3], d, name=n) for n, d in DTYPES.items()),
                                  tf.TensorSpec([2], tf.int32, name="s")])
    def __call__(self, *args):
        *values, s = args
        return {n: tf.broadcast_to(v, s) for n, v in zip(DTYPES, values)}


@pytest.fixture(scope="module")
def converted(tmp_path_factory, tfjs_runtime):
    folder = tmp_path_factory.mktemp("dtypes")
    tf.saved_model.save(Broadcasts(), str(folder / "saved"))
    return folder / "saved", tfjsconv.convert(folder / "saved", folder / "web", target_backends=["cpu", "wasm"]), \
        folder / "web"


@pytest.mark.parametrize(("rows", "target"), [(1, 0), (1, 2), (2, 2)])
def test_every_dtype_keeps_its_dtype(rows, target, converted):
    saved, result, out = converted
    feeds = {n: (np.arange(rows * 3).reshape(rows, 3) * 7 + 100).astype(d.as_numpy_dtype) for n, d in DTYPES.items()}
    feeds["s"] = np.array([target, 3], np.int32)
    options = ConvertOptions.from_kwargs()
    options.extra["model_dir"] = str(out)
    expected = get_plugin_manager().registry.frontends[result.input_format].reference(saved, feeds, options)
    report = verify_model(out, feeds, expected, backends=("cpu", "wasm"), rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)


def test_a_broadcast_read_as_prelus_x_is_not_absorbed():
    """wasm's Prelu has its ``x``'s shape: a kept 1 there is not broadcast to the slope's 0 (as the slope is)."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph
    from tfjsconv.passes.shapes import infer_shapes

    def broadcast(as_x: bool):
        graph = Graph()
        a = graph.placeholder("a", "float32", (1, 3))
        alpha = graph.placeholder("alpha", "float32", (None, 3))
        dims = graph.add_op("Shape", [alpha], {"out_type": DType.INT32}, name="dims", dtype=DType.INT32, shape=(2,))
        node = graph.add_node("BroadcastTo", [a, dims], {"Tidx": DType.INT32}, name="b")
        inputs = [node.output(0), alpha] if as_x else [alpha, node.output(0)]
        graph.outputs["y"] = graph.add_op("Prelu", inputs, {}, name="y", dtype=DType.FLOAT32)
        return node, infer_shapes(graph)

    assert empty_broadcast.may_keep_a_one(*broadcast(as_x=True))
    assert not empty_broadcast.may_keep_a_one(*broadcast(as_x=False))  # Prelu(alpha, slope = BroadcastTo(...))
