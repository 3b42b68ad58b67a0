"""What the random ONNX graph hunter (``bench/onnx_random_graphs.py --seed 3231``, session 32) found, now exact in
TF.js (cpu and wasm) against onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402

F = TensorProto.FLOAT


@pytest.mark.node
@pytest.mark.parametrize("auto_pad,x_shape,w_shape,strides,output_padding,indices", [
    ("SAME_UPPER", [2, 4, 6], [4, 1, 3], [2], [1], [[0, 0, 1], [1, 0, 11]]),
    ("SAME_LOWER", [1, 2, 3, 4], [2, 3, 3, 2], [2, 3], [1, 2], [[0, 2, 5, 11], [0, 0, 0, 0]]),
    ("SAME_UPPER", [1, 2, 2, 3, 2], [2, 1, 2, 3, 2], [2, 1, 2], [1, 0, 1], [[0, 0, 3, 2, 3], [0, 0, 0, 1, 0]])])
def test_same_conv_transpose_with_output_padding_then_a_shape_reader(tmp_path, tfjs_runtime, auto_pad, x_shape,
                                                                     w_shape, strides, output_padding, indices):
    """A SAME ConvTranspose gives ``input * stride`` (onnxruntime, the spec); onnx's shape inference adds
    ``output_padding`` (13 for 6 * 2), and ScatterND built its run from that shape: TF.js threw "could not be
    broadcast together with shapes 2,1,12 and 2,1,13" (graph 3231/20). The lowering's own sizes are used."""
    rng = np.random.default_rng(3231)
    init = {"w": rng.standard_normal(w_shape).astype(np.float32), "idx": np.array(indices, np.int64),
            "upd": np.array([7.5, -3.25], np.float32)}
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["y"], auto_pad=auto_pad, strides=strides,
                              output_padding=output_padding),
             helper.make_node("ScatterND", ["y", "idx", "upd"], ["scattered"])]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, x_shape)}, ["scattered"], opset=17, initializers=init)
    feeds = {"x": rng.standard_normal(x_shape).astype(np.float32)}
    expected = matches_onnxruntime(path, feeds, tmp_path / "out")
    assert list(expected["scattered"].shape[2:]) == [i * s for i, s in zip(x_shape[2:], strides)]


def _symbolic_attention(path, reader: str | None, qk_mode: int):
    """Attention over symbolic Q/K/V sizes (scale given), its qk_matmul_output returned or read by ``reader``
    (ReduceSum over the keys of Abs(qk)); onnx 1.23 infers qk_matmul_output's last dim (the key length) as 0, and
    the file stores Abs(qk)'s shape inferred from that."""
    nodes = [helper.make_node("Attention", ["q", "k", "v"], ["y", "", "", "qk"], scale=0.3,
                              qk_matmul_output_mode=qk_mode)]
    outputs = ["y", "qk"]
    if reader == "reduce_sum":
        nodes += [helper.make_node("Abs", ["qk"], ["qk_abs"]),
                  helper.make_node("ReduceSum", ["qk_abs", "keys_axis"], ["per_query"], keepdims=1)]
        outputs = ["y", "per_query"]
    inputs = {"q": (F, ["b", "h", "sq", "d"]), "k": (F, ["b", "h", "sk", "d"]), "v": (F, ["b", "h", "sk", "dv"])}
    return onnx_model(path, nodes, inputs, outputs, opset=23, initializers={"keys_axis": np.array([-1], np.int64)})


@pytest.mark.node
@pytest.mark.parametrize("reader,qk_mode", [(None, 0), (None, 3), ("reduce_sum", 0)])
def test_symbolic_attention_keeps_the_key_length_inference_zeroes(tmp_path, tfjs_runtime, reader, qk_mode):
    """With symbolic sizes onnx's shape inference says qk_matmul_output's last dim is 0; the translator annotated
    the scores with it and a core pass took probs @ V for an empty product: Y all zeros (rel err 1.0) in TF.js,
    silently; a ReduceSum of Abs(qk) (whose stored shape came from the 0) gave zeros too. The lowering's own shapes
    are kept, and the readers' shapes are inferred again from them."""
    path = _symbolic_attention(tmp_path / "model.onnx", reader, qk_mode)
    inferred = {o.name: [d.dim_value if d.HasField("dim_value") else None for d in o.type.tensor_type.shape.dim]
                for o in onnx.load(str(path)).graph.output}
    assert inferred["y"][-1] == 0 or inferred.get("qk", [0])[-1] == 0  # onnx's inference still says 0
    rng = np.random.default_rng(32)
    feeds = {"q": rng.standard_normal([2, 3, 4, 8]).astype(np.float32),
             "k": rng.standard_normal([2, 3, 6, 8]).astype(np.float32),
             "v": rng.standard_normal([2, 3, 6, 5]).astype(np.float32)}
    expected = matches_onnxruntime(path, feeds, tmp_path / "out")
    assert min(np.abs(expected[name]).max() for name in expected) > 0.1


def _then_unsqueeze(path, node, x_shape: list[int], initializers: dict | None = None):
    """``node`` (x -> y) read by an Unsqueeze, which reshapes to the shape it is told y has."""
    nodes = [node, helper.make_node("Unsqueeze", ["y", "front"], ["u"])]
    init = {"front": np.array([0], np.int64), **(initializers or {})}
    return onnx_model(path, nodes, {"x": (F, x_shape)}, ["u"], opset=19, initializers=init)


@pytest.mark.node
@pytest.mark.parametrize("op,x_shape,attrs", [
    ("MaxPool", [1, 2, 4], {"kernel_shape": [1], "strides": [2], "ceil_mode": 1}),
    ("MaxPool", [1, 2, 8, 3], {"kernel_shape": [2, 1], "strides": [2, 3], "pads": [1, 0, 1, 0], "dilations": [1, 2],
                               "ceil_mode": 1}),
    ("AveragePool", [1, 2, 5], {"kernel_shape": [2], "strides": [3], "pads": [1, 1], "ceil_mode": 1,
                                "count_include_pad": 1}),
    ("AveragePool", [1, 2, 6, 5], {"kernel_shape": [1, 1], "strides": [2, 3], "auto_pad": "SAME_UPPER",
                                   "ceil_mode": 1}),
    ("LpPool", [1, 2, 6, 9], {"kernel_shape": [1, 2], "strides": [2, 3], "ceil_mode": 1})])
def test_ceil_mode_pool_then_a_shape_reader(tmp_path, tfjs_runtime, op, x_shape, attrs):
    """With ceil_mode onnx 1.23's shape inference keeps a last window that starts in the end padding (MaxPool over 4
    with stride 2: 3), onnxruntime drops it (2), as the lowering does; an Unsqueeze reshaped to the inferred 3 and
    TF.js threw "Size(2) must match the product of shape 1,2,1,2". The pool's own shape is kept."""
    path = _then_unsqueeze(tmp_path / "model.onnx", helper.make_node(op, ["x"], ["y"], **attrs), x_shape)
    feeds = {"x": np.random.default_rng(33).standard_normal(x_shape).astype(np.float32)}
    matches_onnxruntime(path, feeds, tmp_path / "out")


@pytest.mark.node
@pytest.mark.parametrize("x_shape,kernel,attrs", [
    ([1, 2, 7, 6], [1, 3], {"strides": [2, 3], "auto_pad": "SAME_LOWER", "dilations": [2, 2], "output_padding": [0, 1]}),
    ([1, 2, 8, 5], [1, 2], {"strides": [3, 2], "auto_pad": "SAME_UPPER", "output_padding": [1, 1]}),
    ([1, 2, 5], [1], {"strides": [2], "auto_pad": "SAME_UPPER"})])
def test_same_conv_transpose_with_a_kernel_smaller_than_its_stride(tmp_path, tfjs_runtime, x_shape, kernel, attrs):
    """A SAME ConvTranspose whose full output, ``stride * (in - 1) + output_padding + kernel``, is shorter than
    ``in * stride``: onnxruntime pads by ``max(0, full - in * stride)`` and so gives the full length (13 for 7 * 2),
    the lowering gave ``in * stride`` with trailing zeros (14): a shape mismatch in TF.js."""
    w = np.random.default_rng(34).standard_normal([x_shape[1], 2, *kernel]).astype(np.float32)
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], kernel_shape=kernel, **attrs)
    path = _then_unsqueeze(tmp_path / "model.onnx", node, x_shape, {"w": w})
    feeds = {"x": np.random.default_rng(35).standard_normal(x_shape).astype(np.float32)}
    expected = matches_onnxruntime(path, feeds, tmp_path / "out")
    assert expected["u"].shape[-1] < x_shape[-1] * attrs["strides"][-1] or expected["u"].shape[-2] < (
        x_shape[-2] * attrs["strides"][0])
