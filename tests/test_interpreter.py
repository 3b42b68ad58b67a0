"""The numpy interpreter's kernels against TensorFlow's own (tf.raw_ops), op by op.

TensorFlow is only a test reference here; the interpreter itself never imports it.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from tfjsconv.dtypes import DType
from tfjsconv.errors import GraphError
from tfjsconv.interpreter import can_evaluate, evaluate_node, run_graph
from tfjsconv.ir import Graph

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
rng = np.random.default_rng(0)
F = DType.FLOAT32


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def i32(*values):
    return np.array(values, np.int32)


def conv_attrs(padding="SAME", stride=1, dilation=1, explicit=None):
    attrs = {"strides": [1, stride, stride, 1], "padding": padding, "data_format": "NHWC",
             "dilations": [1, dilation, dilation, 1]}
    if explicit is not None:
        attrs["explicit_paddings"] = explicit
    return attrs


SS = dict(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0)
X4 = randn(2, 7, 6, 3)
#: (label, op, inputs, attrs); the TF reference is tf.raw_ops.<op>(**named inputs, **attrs)
CASES = [
    ("conv_same", "Conv2D", [X4, randn(3, 3, 3, 4)], conv_attrs()),
    ("conv_valid_s2", "Conv2D", [X4, randn(3, 2, 3, 4)], conv_attrs("VALID", 2)),
    ("conv_dilated", "Conv2D", [X4, randn(2, 2, 3, 2)], conv_attrs("SAME", 1, 2)),
    ("conv_explicit", "Conv2D", [X4, randn(3, 3, 3, 2)], conv_attrs("EXPLICIT", 2, 1, [0, 0, 1, 2, 0, 3, 0, 0])),
    ("depthwise_same_s2", "DepthwiseConv2dNative", [X4, randn(3, 3, 3, 2)], conv_attrs("SAME", 2)),
    ("depthwise_valid", "DepthwiseConv2dNative", [X4, randn(2, 3, 3, 1)], conv_attrs("VALID")),
    ("batchnorm_v3", "FusedBatchNormV3", [X4, randn(3), randn(3), randn(3), np.abs(randn(3)) + 0.5],
     {"epsilon": 0.001, "is_training": False, "data_format": "NHWC"}),
    ("max_pool_same", "MaxPool", [X4], {"ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1], "padding": "SAME"}),
    ("avg_pool_same", "AvgPool", [X4], {"ksize": [1, 2, 3, 1], "strides": [1, 2, 2, 1], "padding": "SAME"}),
    ("avg_pool_nan_inf", "AvgPool",  # a NaN-skipping mean would drop the NaN TF keeps (and Inf - Inf)
     [np.float32([-np.inf, 1, np.nan, 1, np.inf, 2, 3, 4, 5, 6, -np.inf, np.inf]).reshape(1, 3, 4, 1)],
     {"ksize": [1, 2, 2, 1], "strides": [1, 1, 1, 1], "padding": "SAME"}),
    ("ss_basic", "StridedSlice", [X4, i32(0, 1, -4), i32(2, 6, -1), i32(1, 2, 1)], SS),
    ("ss_masks", "StridedSlice", [X4, i32(1, 0, 5), i32(2, 0, 0), i32(1, 1, -2)],
     {**SS, "begin_mask": 2, "end_mask": 6, "shrink_axis_mask": 1}),
    ("ss_ellipsis_newaxis", "StridedSlice", [X4, i32(0, 0, 1), i32(0, 0, 3), i32(1, 1, 1)],
     {**SS, "ellipsis_mask": 1, "new_axis_mask": 2}),
    ("gather", "GatherV2", [X4, i32(2, 0, 2), np.int32(2)], {"batch_dims": 0}),
    ("pad", "Pad", [X4, i32(0, 0, 1, 2, 0, 1, 0, 0).reshape(4, 2)], {}),
    ("pad_v2", "PadV2", [X4, i32(0, 1, 1, 0, 0, 0, 2, 0).reshape(4, 2), np.float32(-3)], {}),
    ("mirror_reflect", "MirrorPad", [X4, i32(0, 0, 2, 1, 1, 2, 0, 0).reshape(4, 2)], {"mode": "REFLECT"}),
    ("mirror_symmetric", "MirrorPad", [X4, i32(0, 0, 2, 1, 1, 2, 0, 0).reshape(4, 2)], {"mode": "SYMMETRIC"}),
    ("slice", "Slice", [X4, i32(1, 2, 0, 1), i32(-1, 3, 4, -1)], {}),
    ("tile", "Tile", [randn(2, 3), i32(2, 3)], {}),
    ("range", "Range", [np.int32(2), np.int32(11), np.int32(3)], {}),
    ("fill", "Fill", [i32(2, 3), np.float32(1.5)], {}),
    ("mean_keep", "Mean", [X4, i32(1, 2)], {"keep_dims": True}),
    ("sum_neg_axis", "Sum", [X4, np.int32(-1)], {"keep_dims": False}),
    ("prod", "Prod", [randn(3, 4), i32(0)], {"keep_dims": False}),
    ("max", "Max", [X4, i32(0, 3)], {"keep_dims": False}),
    ("selu", "Selu", [randn(5, 4)], {}),
    ("elu", "Elu", [randn(5, 4)], {}),
    ("leaky", "LeakyRelu", [randn(5, 4)], {"alpha": 0.3}),
    ("softplus", "Softplus", [randn(5, 4) * 10], {}),
    ("erf", "Erf", [randn(5, 4)], {}),
    ("relu6", "Relu6", [randn(5, 4) * 8], {}),
    ("floor_mod", "FloorMod", [i32(-7, 7, 5), i32(3, -3, 2)], {}),
    ("floor_div", "FloorDiv", [i32(-7, 7, 5), i32(3, -3, 2)], {}),
    # Mod/TruncateMod take the dividend's sign (C fmod), Div on integers truncates: not numpy's mod/floor_divide
    ("mod_int", "Mod", [i32(-7, 7, -7, 7, 0, -6, 5), i32(2, -2, -2, 2, 3, 3, -7)], {}),
    ("mod_float", "Mod", [np.float32([-7.5, 7.5, -7.5, 5.25, -1e-3]), np.float32([2, -2, -2, -7, 5])], {}),
    ("truncate_mod_int", "TruncateMod", [i32(-7, 7, -7, 3), i32(2, -2, -2, 5)], {}),
    ("truncate_mod_float", "TruncateMod", [np.float32([-7.5, 7.5, 0.5]), np.float32([2, -2, -0.25])], {}),
    ("truncate_div_int", "TruncateDiv", [i32(-7, 7, -7, 7, -6), i32(2, -2, -2, 2, 3)], {}),
    ("truncate_div_float", "TruncateDiv", [np.float32([-7.5, 7.5, 0.5]), np.float32([2, -2, -0.25])], {}),
    ("div_int", "Div", [i32(-7, 7, -7, 7, 5, -1), i32(2, -2, -2, 2, -7, 5)], {}),
    ("mean_int", "Mean", [i32(-7, 7, -8, 3, 5, -1, 2, 9).reshape(2, 4), i32(1)], {"keep_dims": False}),
    ("cast", "Cast", [randn(6) * 5], {"DstT": "int32"}),
    ("expand_dims", "ExpandDims", [randn(2, 3), np.int32(-1)], {}),
    ("squeeze", "Squeeze", [randn(1, 3, 1)], {"squeeze_dims": [2]}),
    ("split_v", "SplitV", [randn(2, 9), i32(2, -1, 3), np.int32(1)], {"num_split": 3}),
    ("unpack", "Unpack", [randn(3, 2)], {"num": 2, "axis": 1}),
    ("select_v2", "SelectV2", [randn(3, 1) > 0, randn(3, 4), randn(4)], {}),
    ("batch_matmul", "BatchMatMulV2", [randn(2, 3, 4), randn(2, 5, 4)], {"adj_y": True}),
    ("log_softmax", "LogSoftmax", [randn(3, 5)], {}),
]
TF_INPUT_NAMES = {
    "Conv2D": ["input", "filter"], "DepthwiseConv2dNative": ["input", "filter"],
    "FusedBatchNormV3": ["x", "scale", "offset", "mean", "variance"], "MaxPool": ["input"], "AvgPool": ["value"],
    "StridedSlice": ["input", "begin", "end", "strides"], "GatherV2": ["params", "indices", "axis"],
    "Pad": ["input", "paddings"], "PadV2": ["input", "paddings", "constant_values"],
    "MirrorPad": ["input", "paddings"], "Slice": ["input", "begin", "size"], "Tile": ["input", "multiples"],
    "Range": ["start", "limit", "delta"], "Fill": ["dims", "value"], "Mean": ["input", "axis"],
    "Sum": ["input", "axis"], "Prod": ["input", "axis"], "Max": ["input", "axis"], "Selu": ["features"],
    "Elu": ["features"], "LeakyRelu": ["features"], "Softplus": ["features"], "Erf": ["x"], "Relu6": ["features"],
    "FloorMod": ["x", "y"], "FloorDiv": ["x", "y"], "Mod": ["x", "y"], "TruncateMod": ["x", "y"],
    "TruncateDiv": ["x", "y"], "Div": ["x", "y"], "Cast": ["x"], "ExpandDims": ["input", "axis"],
    "Squeeze": ["input"], "SplitV": ["value", "size_splits", "axis"], "Unpack": ["value"],
    "SelectV2": ["condition", "t", "e"], "BatchMatMulV2": ["x", "y"], "LogSoftmax": ["logits"],
}


def ir_node(op: str, inputs: list, attrs: dict):
    g = Graph()
    values = [g.const(np.asarray(a), name=f"in{i}") for i, a in enumerate(inputs)]
    ir_attrs = {k: (DType.from_any(v) if k == "DstT" else v) for k, v in attrs.items()}
    return g.add_node(op, values, ir_attrs, name=op.lower())


@pytest.mark.parametrize("label", [c[0] for c in CASES])
def test_kernel_matches_tensorflow(label):
    tf = pytest.importorskip("tensorflow")
    _, op, inputs, attrs = next(c for c in CASES if c[0] == label)
    tf_attrs = dict(attrs)
    if op == "Cast":
        tf_attrs["DstT"] = tf.int32
    if op == "FusedBatchNormV3":
        tf_attrs.pop("data_format")
    if op == "Squeeze":
        tf_attrs["axis"] = tf_attrs.pop("squeeze_dims")
    expected = getattr(tf.raw_ops, op)(**dict(zip(TF_INPUT_NAMES[op], inputs)), **tf_attrs)
    expected = [np.asarray(e) for e in (expected if isinstance(expected, (list, tuple)) else [expected])]
    got = evaluate_node(ir_node(op, inputs, attrs), [np.asarray(a) for a in inputs])
    if op == "FusedBatchNormV3":
        expected, got = expected[:1], got[:1]
    assert len(got) == len(expected)
    for want, have in zip(expected, got):
        assert have.shape == want.shape and have.dtype == want.dtype, (have.shape, want.shape, have.dtype, want.dtype)
        np.testing.assert_allclose(have, want, rtol=2e-5, atol=2e-5)


def test_fused_ops_read_arguments_like_tfjs():
    """fused_ops [BiasAdd, Prelu] takes (bias, alpha); [BiasAdd] alone is bias only."""
    x, w, bias, alpha = randn(1, 4, 4, 2), randn(3, 3, 2, 3), randn(3), np.abs(randn(3))
    plain = evaluate_node(ir_node("Conv2D", [x, w], conv_attrs()), [x, w])[0] + bias
    node = ir_node("_FusedConv2D", [x, w, bias, alpha], {**conv_attrs(), "fused_ops": ["BiasAdd", "Prelu"], "num_args": 2})
    got = evaluate_node(node, [x, w, bias, alpha])[0]
    np.testing.assert_allclose(got, np.where(plain >= 0, plain, plain * alpha), rtol=1e-5, atol=1e-6)
    node = ir_node("_FusedMatMul", [x[0, 0], w[0, 0], bias], {"fused_ops": [b"BiasAdd", b"Relu6"], "num_args": 1})
    got = evaluate_node(node, [x[0, 0], w[0, 0], bias])[0]
    np.testing.assert_allclose(got, np.clip(x[0, 0] @ w[0, 0] + bias, 0, 6), rtol=1e-5, atol=1e-6)
    node = ir_node("_FusedConv2D", [x, w, bias], {**conv_attrs(), "fused_ops": ["FusedBatchNorm"], "num_args": 4})
    with pytest.raises(GraphError, match="FusedBatchNorm"):
        evaluate_node(node, [x, w, bias])


def test_unknown_ops_are_named():
    g = Graph()
    x = g.placeholder("x", F, (2,))
    g.set_output("y", g.add_op("NotAnOp", [x], name="y"))
    assert not can_evaluate(g.node("y"))
    with pytest.raises(GraphError, match="NotAnOp"):
        run_graph(g, {"x": np.zeros(2, np.float32)})


def test_interpreter_does_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys, tfjsconv.interpreter, tfjsconv.passes.constant_folding, tfjsconv.builtin;"
            "assert 'tensorflow' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
