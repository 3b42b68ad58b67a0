"""The ONNX op mappings beyond CNN basics, each model run in TF.js (cpu, wasm) against onnxruntime.

Several ops share one model so that TF.js starts once per model; outputs are checked one by one.
"""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import tfjsconv  # noqa: E402
from test_onnx import Builder, convert_and_verify, ops_of, save  # noqa: E402


def typed_model(b: Builder, outputs: list[str], opset: int) -> onnx.ModelProto:
    """Like ``Builder.model``, but each output's type is inferred (some here are int64 indices)."""
    outs = [helper.make_empty_tensor_value_info(o) for o in outputs]
    graph = helper.make_graph(b.nodes, "ops", b.inputs, outs, initializer=b.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8 if opset <= 17 else 10)
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    types = {v.name: v for v in inferred.graph.value_info}
    for out in model.graph.output:
        out.CopyFrom(types.get(out.name, out))
    return onnx.shape_inference.infer_shapes(model, data_prop=True)


def tensor_ops() -> onnx.ModelProto:
    b = Builder(11)
    x = b.input("x", [2, 6, 5, 4])
    i64 = lambda values, name: b.const(np.array(values, np.int64), name)  # noqa: E731
    c = b.conv(x, 6, 6, 1)  # NHWC inside: the ops below run on a channels-last tensor
    outs = [
        b.op("Slice", [c, i64([1, -1], "s0"), i64([5, -6], "s1"), i64([1, 3], "s2"), i64([2, -2], "s3")]),
        b.op("Slice", [x, i64([0], "t0"), i64([2**62], "t1"), i64([-1], "t2")]),
    ]
    split = b.op("Split", [c], outputs=3, axis=1, num_outputs=3)
    outs += [split, split + "_1", split + "_2"]
    outs.append(b.op("Expand", [b.weight(6, 1, 1), i64([2, 1, 5, 4], "shape")]))
    outs.append(b.op("Tile", [c, i64([1, 2, 1, 2], "reps")]))
    outs.append(b.op("GatherElements", [c, i64(np.random.default_rng(0).integers(-6, 6, (2, 3, 5, 4)), "ge")], axis=1))
    idx = b.op("ArgMax", [x], axis=1, keepdims=1)  # computed indices
    outs.append(b.op("GatherElements", [x, idx], axis=1))
    outs.append(b.op("GatherND", [x, i64([[0, 1], [1, -1]], "gnd")]))
    outs.append(b.op("ScatterND", [x, i64([[1, 2]], "snd"), b.weight(1, 5, 4)]))
    topv = b.op("TopK", [c, i64([3], "k")], outputs=2, axis=1)
    outs += [topv, topv + "_1"]
    low = b.op("TopK", [x, i64([2], "k2")], outputs=2, axis=-1, largest=0)
    outs += [low, low + "_1"]
    outs.append(b.op("ArgMin", [c], axis=2, keepdims=0))
    outs.append(b.op("ArgMax", [c], axis=3, keepdims=1, select_last_index=1))
    outs.append(b.op("CumSum", [c, b.const(np.int64(1), "ax1")], exclusive=1, reverse=1))
    outs.append(b.op("CumSum", [c, b.const(np.int64(-1), "axm1")]))
    outs.append(b.op("ReduceL2", [c, i64([1], "r1")], keepdims=0))
    outs.append(b.op("ReduceLogSumExp", [c, i64([2, 3], "r23")], keepdims=0))
    outs.append(b.op("ReduceSumSquare", [c, i64([1], "r1b")], keepdims=1))
    outs.append(b.op("ReduceL1", [c], keepdims=1))
    outs.append(b.op("Pad", [c, i64([0, 0, 1, 2, 0, 0, 2, 1], "edge")], mode="edge"))
    return typed_model(b, outs, 18)


def transformer_ops() -> onnx.ModelProto:
    b = Builder(12)
    x = b.input("x", [2, 6, 5, 4])
    seq = b.input("seq", [3, 7, 16])
    c = b.conv(x, 6, 6, 1)
    outs = [
        b.op("LayerNormalization", [seq, b.weight(16), b.weight(16)], axis=-1, epsilon=1e-5),
        b.op("LayerNormalization", [c, b.weight(6, 5, 4)], axis=1),  # over C, H, W of an NHWC tensor
        b.op("InstanceNormalization", [c, b.weight(6), b.weight(6)], epsilon=1e-4),
        b.op("Gelu", [seq]),
        b.op("Gelu", [c], approximate="tanh"),
        b.op("Mish", [seq]),
        b.op("Selu", [c]),
        b.op("Softsign", [seq]),
        b.op("ThresholdedRelu", [seq], alpha=0.3),
        b.op("Celu", [c], alpha=0.5),
        b.op("Softmax", [c], axis=2),
        b.op("LogSoftmax", [seq], axis=1),
        b.op("MatMul", [b.op("Unsqueeze", [seq, b.const(np.array([0], np.int64), "u0")]), b.weight(2, 3, 16, 5)]),
        b.op("Einsum", [seq, b.weight(16, 5)], equation="btd,de->bte"),
        b.op("Einsum", [seq, seq], equation="bqd,bkd->bqk"),  # attention scores
        b.op("Einsum", [seq, b.weight(7, 3)], equation="bid,ib->db"),  # contraction and a transposed output
        b.op("Einsum", [seq], equation="btd->db"),
        b.op("Einsum", [seq, b.weight(16, 5)], equation="...d,de->...e"),  # an ellipsis
        b.op("Einsum", [b.op("Einsum", [seq, seq], equation="bqd,bkd->bqk")], equation="bqq->bq"),  # a diagonal
    ]
    return b.model(outs, opset=20)


def conv_ops() -> onnx.ModelProto:
    b = Builder(13)
    x = b.input("x", [1, 4, 6, 5])
    s = b.input("s", [2, 3, 9])
    v = b.input("v", [1, 2, 5, 6, 4])
    w = b.weight
    outs = [
        b.op("ConvTranspose", [x, w(4, 3, 3, 3), w(3, scale=0.1)], strides=[2, 2], pads=[1, 0, 0, 1],
             output_padding=[1, 0]),
        b.op("ConvTranspose", [x, w(4, 2, 2, 3)], strides=[1, 2], group=2, dilations=[2, 1]),
        b.op("ConvTranspose", [x, w(4, 3, 3, 3)], strides=[2, 2], output_shape=[12, 10], auto_pad="SAME_UPPER"),
        b.op("Conv", [s, w(4, 3, 3), w(4, scale=0.1)], pads=[1, 2], strides=[2]),
        b.op("Conv", [s, w(6, 1, 3)], group=3, dilations=[2], pads=[2, 2]),
        b.op("ConvTranspose", [s, w(3, 2, 4)], strides=[3], pads=[1, 1]),
        b.op("Conv", [v, w(3, 2, 3, 3, 2), w(3, scale=0.1)], pads=[1, 0, 1, 1, 1, 0]),
        b.op("Conv", [v, w(3, 2, 1, 3, 3)], strides=[1, 2, 2], auto_pad="SAME_UPPER"),
        # 3-D transposed convolutions: Conv3D over the zero-upsampled input
        b.op("ConvTranspose", [v, w(2, 3, 3, 3, 2), w(3, scale=0.1)], strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1]),
        b.op("ConvTranspose", [v, w(2, 2, 2, 3, 3)], strides=[3, 2, 1], output_padding=[1, 1, 0], dilations=[1, 1, 2]),
        b.op("ConvTranspose", [v, w(2, 3, 3, 3, 3)], strides=[2, 2, 2], auto_pad="SAME_UPPER"),
        b.op("ConvTranspose", [v, w(2, 2, 3, 1, 3)], pads=[2, 0, 1, 1, 0, 2]),
    ]
    empty = b.const(np.zeros(0, np.float32), "no_roi")
    scales = lambda sy, sx, name: b.const(np.array([1, 1, sy, sx], np.float32), name)  # noqa: E731
    outs.append(b.op("Resize", [x, empty, scales(2, 2, "x2")], mode="nearest",
                     coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
    outs.append(b.op("Resize", [x, empty, scales(2, 3, "x23")], mode="linear",
                     coordinate_transformation_mode="half_pixel"))
    outs.append(b.op("Resize", [x, empty, scales(2, 2, "x2b")], mode="linear",
                     coordinate_transformation_mode="pytorch_half_pixel"))
    outs.append(b.op("Resize", [x, empty, b.const(np.zeros(0, np.float32), "no_scales"),
                                b.const(np.array([1, 4, 11, 3], np.int64), "sizes")], mode="linear",
                     coordinate_transformation_mode="align_corners"))
    outs.append(b.op("Resize", [x, empty, scales(3, 3, "x3")], mode="nearest",
                     coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil"))
    return b.model(outs, opset=18)


def rnn_ops() -> onnx.ModelProto:
    """The ONNX forms torch never emits: peepholes, initial states, clip, reverse, GRU linear_before_reset=0,
    coupled input-forget gates. (onnxruntime cannot run layout=1, so batch-first is covered by the torch tests.)"""
    b = Builder(14)
    x = b.input("x", [5, 2, 3])  # [seq, batch, features]
    h = 4
    w = lambda *shape: b.weight(*shape, scale=0.4)  # noqa: E731
    lstm = b.op("LSTM", [x, w(2, 4 * h, 3), w(2, 4 * h, h), w(2, 8 * h), "", w(2, 2, h), w(2, 2, h), w(2, 3 * h)],
                outputs=3, hidden_size=h, direction="bidirectional", clip=2.5)
    gru = b.op("GRU", [x, w(1, 3 * h, 3), w(1, 3 * h, h), w(1, 6 * h), "", w(1, 2, h)], outputs=2, hidden_size=h,
               direction="reverse", linear_before_reset=0)
    rnn = b.op("RNN", [x, w(1, h, 3), w(1, h, h), w(1, 2 * h)], outputs=2, hidden_size=h, activations=["Relu"])
    coupled = b.op("LSTM", [x, w(1, 4 * h, 3), w(1, 4 * h, h)], outputs=3, hidden_size=h, input_forget=1)
    # both directions unrolled together ([2, batch, hidden] states), with initial states and clip
    joint_lstm = b.op("LSTM", [x, w(2, 4 * h, 3), w(2, 4 * h, h), w(2, 8 * h), "", w(2, 2, h), w(2, 2, h)],
                      outputs=3, hidden_size=h, direction="bidirectional", clip=1.5)
    joint_gru = b.op("GRU", [x, w(2, 3 * h, 3), w(2, 3 * h, h), w(2, 6 * h), "", w(2, 2, h)], outputs=2,
                     hidden_size=h, direction="bidirectional", linear_before_reset=1)
    joint_gru0 = b.op("GRU", [x, w(2, 3 * h, 3), w(2, 3 * h, h), w(2, 6 * h)], outputs=2, hidden_size=h,
                      direction="bidirectional")
    mixed = b.op("RNN", [x, w(2, h, 3), w(2, h, h), w(2, 2 * h)], outputs=2, hidden_size=h,
                 direction="bidirectional", activations=["Relu", "Tanh"])  # unrolled apart
    outs = [lstm, lstm + "_1", lstm + "_2", gru, gru + "_1", rnn, rnn + "_1", coupled, coupled + "_2"]
    outs += [joint_lstm, joint_lstm + "_1", joint_lstm + "_2", joint_gru, joint_gru + "_1", joint_gru0,
             joint_gru0 + "_1", mixed, mixed + "_1"]
    return b.model(outs, opset=14)


def pool_ops() -> onnx.ModelProto:
    """1-D pools (as 2-D over a height of 1), 3-D pools (MaxPool3D/AvgPool3D) and LpPool in 1-3 D."""
    b = Builder(15)
    s = b.input("s", [2, 3, 11])
    x = b.input("x", [1, 3, 7, 6])
    v = b.input("v", [1, 2, 6, 7, 5])
    outs = [
        b.op("MaxPool", [s], kernel_shape=[3], strides=[2], pads=[1, 1]),
        b.op("AveragePool", [s], kernel_shape=[4], pads=[1, 2]),
        b.op("AveragePool", [s], kernel_shape=[3], strides=[2], ceil_mode=1, count_include_pad=1, pads=[1, 0]),
        b.op("MaxPool", [v], kernel_shape=[2, 3, 2], strides=[2, 2, 1]),
        b.op("MaxPool", [v], kernel_shape=[3, 3, 3], pads=[1, 1, 1, 1, 1, 1]),
        b.op("AveragePool", [v], kernel_shape=[2, 2, 3], pads=[1, 0, 0, 1, 1, 1]),
        b.op("AveragePool", [v], kernel_shape=[3, 3, 3], strides=[2, 2, 2], auto_pad="SAME_UPPER"),
        b.op("AveragePool", [v], kernel_shape=[2, 2, 2], strides=[2, 2, 2], ceil_mode=1),
        b.op("LpPool", [x], kernel_shape=[3, 3], pads=[1, 1, 1, 1], p=2),
        b.op("LpPool", [x], kernel_shape=[2, 3], strides=[2, 1], p=3),
        b.op("LpPool", [s], kernel_shape=[3], strides=[2], p=1),
        b.op("LpPool", [v], kernel_shape=[2, 2, 2], p=2),
        b.op("GlobalLpPool", [x], p=2),
        b.op("GlobalLpPool", [s], p=1),
    ]
    return b.model(outs, opset=18)


def attention_ops() -> onnx.ModelProto:
    """ONNX Attention (opset 23, what the dynamo exporter emits for sdpa at opset 23): masks, causal,
    grouped-query heads, 3-D inputs, softcap and a KV cache."""
    b = Builder(16)
    q = b.input("q", [2, 4, 5, 8])
    kv = b.input("kv", [2, 4, 7, 8])
    kv2 = b.input("kv2", [2, 2, 7, 8])  # two KV heads for four query heads
    s3 = b.input("s3", [2, 5, 12])  # 3-D: 3 heads of 4
    past = b.input("past", [2, 4, 3, 8])
    m = b.input("m", [2, 1, 5, 7])
    keep = b.op("Greater", [m, b.const(np.float32(-0.8), "thr")])  # a computed bool mask
    bias = b.weight(5, 7)
    y1 = b.op("Attention", [q, kv, kv, keep], outputs=4, qk_matmul_output_mode=3)
    outs = [y1, y1 + "_3"]
    outs.append(b.op("Attention", [q, q, q], is_causal=1, scale=0.3))
    outs.append(b.op("Attention", [q, kv2, kv2, bias]))
    outs.append(b.op("Attention", [s3, s3, s3], q_num_heads=3, kv_num_heads=3, softcap=2.0, is_causal=1))
    cached = b.op("Attention", [q, kv, kv, "", past, past], outputs=3, is_causal=1)
    outs += [cached, cached + "_1", cached + "_2"]
    return b.model(outs, opset=23)


MODELS = {"tensor_ops": tensor_ops, "transformer_ops": transformer_ops, "conv_ops": conv_ops, "rnn_ops": rnn_ops,
          "pool_ops": pool_ops, "attention_ops": attention_ops}


@pytest.mark.node
@pytest.mark.parametrize("name", list(MODELS))
def test_ops_match_onnxruntime_in_tfjs(name, tmp_path, tfjs_runtime):
    convert_and_verify(save(MODELS[name](), tmp_path, name), tmp_path / "out")


@pytest.mark.node
def test_dynamic_shapes_use_computed_ops(tmp_path, tfjs_runtime):
    """ConstantOfShape, Range and Expand of a computed (dynamic batch) shape become Fill/Range/Mul ops."""
    b = Builder(15)
    x = b.input("x", ["batch", 4])
    shape = b.op("Shape", [x])
    zeros = b.op("ConstantOfShape", [shape], value=numpy_helper.from_array(np.array([0.5], np.float32)))
    n = b.op("Gather", [shape, b.const(np.int64(0), "zero")], axis=0)
    steps = b.op("Cast", [b.op("Range", [b.const(np.int64(0), "r0"), n, b.const(np.int64(1), "r1")])],
                 to=TensorProto.FLOAT)
    grown = b.op("Expand", [b.weight(1, 4), shape])
    y = b.op("Add", [b.op("Add", [x, zeros]), b.op("Unsqueeze", [steps, b.const(np.array([1], np.int64), "ax")])])
    path = save(b.model([b.op("Mul", [y, grown])], opset=13, shapes={}), tmp_path, "dynamic")
    ops = convert_and_verify(path, tmp_path / "out")
    assert {"Fill", "Range"} <= set(ops)


@pytest.mark.node
def test_resize_that_tfjs_cannot_do_natively_is_composed_exactly(tmp_path, tfjs_runtime):
    """No TF.js resize rule rounds like round_prefer_ceil here: gathers with ONNX's own indices instead."""
    b = Builder()
    x = b.input("x", [1, 2, 6, 6])
    empty = b.const(np.zeros(0, np.float32), "roi")
    y = b.op("Resize", [x, empty, b.const(np.array([1, 1, 3, 3], np.float32), "x3")], mode="nearest",
             coordinate_transformation_mode="asymmetric", nearest_mode="round_prefer_ceil")
    path = save(b.model([y], opset=18), tmp_path, "resize")
    ops = convert_and_verify(path, tmp_path / "out")
    assert "ResizeNearestNeighbor" not in ops and "GatherV2" in ops


def dynamic_rnn_ops() -> onnx.ModelProto:
    """Recurrent layers over a sequence length known only at run time: While loops."""
    b = Builder(17)
    x = b.input("x", ["time", 2, 3])
    h = 4
    w = lambda *shape: b.weight(*shape, scale=0.4)  # noqa: E731
    lstm = b.op("LSTM", [x, w(1, 4 * h, 3), w(1, 4 * h, h), w(1, 8 * h), "", w(1, 2, h), w(1, 2, h)], outputs=3,
                hidden_size=h)
    bi_gru = b.op("GRU", [x, w(2, 3 * h, 3), w(2, 3 * h, h), w(2, 6 * h)], outputs=2, hidden_size=h,
                  direction="bidirectional", linear_before_reset=1)
    rnn = b.op("RNN", [x, w(1, h, 3), w(1, h, h)], outputs=2, hidden_size=h, direction="reverse")
    bi_lstm = b.op("LSTM", [x, w(2, 4 * h, 3), w(2, 4 * h, h), w(2, 8 * h)], outputs=3, hidden_size=h,
                   direction="bidirectional")
    outs = [lstm, lstm + "_1", lstm + "_2", bi_gru, bi_gru + "_1", rnn, rnn + "_1", bi_lstm, bi_lstm + "_2"]
    return b.model(outs, opset=14)


@pytest.mark.node
def test_dynamic_sequence_length_runs_a_while_loop(tmp_path, tfjs_runtime):
    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugins.onnx.frontend import OnnxFrontend
    from tfjsconv.verify.compare import format_report, verify_model

    path = save(dynamic_rnn_ops(), tmp_path, "dynamic_rnn")
    tfjsconv.convert(path, tmp_path / "out")
    ops = ops_of(tmp_path / "out")
    assert {"Enter", "Merge", "Switch", "LoopCond", "NextIteration", "Exit"} <= set(ops)
    assert ops.count("LoopCond") == 4  # one loop per node: both directions of a layer share theirs
    for length in (5, 1):
        x = np.random.default_rng(length).standard_normal((length, 2, 3)).astype(np.float32)
        expected = OnnxFrontend().reference(path, {"x": x}, ConvertOptions())
        report = verify_model(tmp_path / "out", {"x": x}, expected, backends=("cpu", "wasm"), rtol=1e-5, quiet=True)
        assert report.passed, format_report(report)


def test_rnn_is_unrolled_without_loops(tmp_path):
    path = save(rnn_ops(), tmp_path, "rnn")
    tfjsconv.convert(path, tmp_path / "out")
    ops = ops_of(tmp_path / "out")
    assert not {"While", "Enter", "Exit", "LoopCond"} & set(ops)
    assert ops.count("Unpack") >= 4  # the per-step slices of the input projections



@pytest.mark.node
def test_integer_div_truncates_like_onnx(tmp_path, tfjs_runtime):
    """ONNX's integer Div truncates (-7 / 2 = -3); TF.js floors unless the core's truncating_division rewrites it."""
    import onnxruntime as ort

    from tfjsconv.verify.compare import verify_model

    io = [helper.make_tensor_value_info(n, TensorProto.INT32, [6]) for n in ("a", "b", "y")]
    graph = helper.make_graph([helper.make_node("Div", ["a", "b"], ["y"])], "int_div", io[:2], io[2:])
    path = tmp_path / "div.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    feeds = {"a": np.array([-7, 7, -7, 7, -6, 5], np.int32), "b": np.array([2, -2, -2, 2, 3, -7], np.int32)}
    expected = {"y": ort.InferenceSession(str(path)).run(None, feeds)[0]}
    tfjsconv.convert(path, tmp_path / "out")
    report = verify_model(tmp_path / "out", feeds, expected, backends=("cpu", "wasm"), rtol=0.0, atol=0.0)
    assert report.passed, report.failures
