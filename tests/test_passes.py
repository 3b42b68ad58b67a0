"""Each optimization pass on small graphs: outputs unchanged (numpy interpreter and real TF.js),
the expected ops gone or present, names of outputs kept."""
from __future__ import annotations

import json

import numpy as np
import pytest

import tfjsconv
from random_graphs import Builder, optimize
from tfjsconv.dtypes import DType
from tfjsconv.interpreter import run_graph
from tf_reference import reference

F = DType.FLOAT32
#: float32 rounding of folded weights and reordered sums, relative to the largest output.
RTOL, ATOL = 2e-5, 1e-5


def close(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    for key, want in expected.items():
        got = actual[key]
        assert got.shape == want.shape and got.dtype == want.dtype, key
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        assert np.max(np.abs(got.astype(np.float64) - want), initial=0.0) <= ATOL + RTOL * scale, key


# -- the graphs ----------------------------------------------------------------------------------
def identities() -> Builder:
    b = Builder("identities")
    x = b.input("x", (2, 5))
    y = b.op("Identity", [x], name="read")
    y = b.op("StopGradient", [b.op("Relu", [y], name="relu")], name="stop")
    y = b.op("Snapshot", [b.op("Mul", [y, b.weight((5,))], name="scale")], name="snap")
    pair = b.g.add_node("IdentityN", [y, x], {"T": [F, F]}, name="pair", num_outputs=2)
    z = b.op("AddV2", [pair.output(0), pair.output(1)], name="sum")
    b.output("y", b.op("Identity", [z], name="out"))  # an output: its name must survive
    return b


def constants() -> Builder:
    b = Builder("constants")
    x = b.input("x", (300, 300))
    w = b.weight((300, 300), "w")
    folded = b.op("Transpose", [w, b.const(np.array([1, 0], np.int32), "perm")], name="wt")
    folded = b.op("Mul", [folded, b.const(np.float32(0.5), "half")], name="wt_half")
    big = b.op("Fill", [b.const(np.array([300, 300], np.int32), "dims"), b.const(np.float32(2.0), "two")],
               name="big")  # 360 kB from 12 bytes: refused
    b.output("y", b.op("AddV2", [b.op("Mul", [x, folded], name="mul"), big], name="y"))
    return b


def shapes() -> Builder:
    b = Builder("shapes")
    x = b.input("x", (2, 4, 4, 3))
    shape = b.op("Shape", [x], {"T": F, "out_type": DType.INT32}, name="shape", dtype=DType.INT32)
    hw = b.op("StridedSlice", [shape] + [b.const(np.array([v], np.int32), n) for v, n in ((1, "b"), (3, "e"), (1, "s"))],
              {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0,
               "Index": DType.INT32}, name="hw", dtype=DType.INT32)
    area = b.op("Prod", [hw, b.const(np.int32(0), "axis")], {"keep_dims": False}, name="area", dtype=DType.INT32)
    rank = b.op("Rank", [x], {"T": F}, name="rank", dtype=DType.INT32)
    channels = b.op("Sub", [rank, b.const(np.int32(1), "one")], name="last", dtype=DType.INT32)
    target = b.op("Pack", [b.const(np.int32(-1), "minus1"), area], {"N": 2, "axis": 0}, name="target", dtype=DType.INT32)
    flat = b.op("Reshape", [x, target], name="flat")
    size = b.op("Cast", [b.op("Size", [x], {"T": F, "out_type": DType.INT32}, name="size", dtype=DType.INT32)], {"SrcT": DType.INT32, "DstT": F}, name="size_f")
    b.output("channels_axis", channels)
    return b.output("y", b.op("Mul", [flat, size], name="y")) and b


def duplicates() -> Builder:
    b = Builder("duplicates")
    x = b.input("x", (3, 4))
    r1, r2 = b.op("Relu", [x], name="relu_a"), b.op("Relu", [x], name="relu_b")
    c1 = b.const(np.array([1.5, 2, 3, 4], np.float32), "c1")
    c2 = b.const(np.array([1.5, 2, 3, 4], np.float32), "c2")
    m1, m2 = b.op("Mul", [r1, c1], name="m1"), b.op("Mul", [r2, c2], name="m2")
    b.output("y", b.op("AddV2", [m1, m2], name="y"))
    return b


def conv_bn_relu() -> Builder:
    """The SavedModel frontend's pattern: Conv2D → BiasAdd → FusedBatchNormV3 → Relu, three times."""
    b = Builder("conv_bn_relu")
    x = b.input("x", (1, 9, 9, 3))
    y = b.bias(b.conv(x, 3, 4, name="c1"), 4, name="c1/bias")
    y = b.op("Relu", [b.batchnorm(y, 4, name="bn1")], name="r1")
    y = b.op("Relu6", [b.batchnorm(b.depthwise(y, 4, mult=2, name="dw"), 8, name="bn2")], name="r2")
    y = b.op("Mean", [y, b.const(np.array([1, 2], np.int32), "axes")], {"keep_dims": False}, name="gap")
    y = b.batchnorm(b.matmul(y, 8, 5, name="fc"), 5, name="bn3", op="FusedBatchNorm")
    return b.output("y", b.op("Sigmoid", [y], name="y")) and b


def lone_batchnorm() -> Builder:
    b = Builder("lone_batchnorm")
    x = b.input("x", (2, 3, 3, 4))
    y = b.batchnorm(b.op("Relu", [x], name="relu"), 4, name="bn")
    b.output("y", b.op("Identity", [y], name="y"))
    return b


def add_bias() -> Builder:
    b = Builder("add_bias")
    x = b.input("x", (1, 5, 5, 2))
    y = b.op("AddV2", [b.conv(x, 2, 3, name="c"), b.weight((1, 1, 1, 3), "shift")], name="add")
    y = b.op("Add", [b.weight((3,), "shift2"), y], name="add2")  # constant first, and on top of a bias
    z = b.op("AddV2", [b.matmul(b.input("v", (2, 4)), 4, 6, name="mm"), b.const(np.float32(0.25), "s")],
             name="mm_add")  # a scalar becomes a length-6 bias
    b.output("z", z)
    return b.output("y", y) and b


def pads() -> Builder:
    b = Builder("pads")
    x = b.input("x", (1, 8, 8, 2))
    pad = b.op("Pad", [x, b.const(np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32), "p1")], name="pad1")
    y = b.conv(pad, 2, 3, padding="VALID", name="c1")  # becomes SAME
    pad = b.op("PadV2", [y, b.const(np.array([[0, 0], [0, 2], [1, 0], [0, 0]], np.int32), "p2"),
                         b.const(np.float32(0), "zero")], name="pad2")
    y = b.conv(pad, 3, 3, stride=2, name="c2")  # SAME on the padded size + the pad: EXPLICIT
    y = b.op("Relu", [b.bias(y, 3, name="c2/bias")], name="c2/relu")  # fused with its explicit padding
    pad = b.op("Pad", [y, b.const(np.array([[0, 0], [2, 2], [2, 2], [0, 0]], np.int32), "p3")], name="pad3")
    y = b.depthwise(pad, 3, k=5, padding="VALID", name="dw")
    kept = b.op("MirrorPad", [y, b.const(np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32), "p4")],
                {"mode": "REFLECT"}, name="mirror")
    return b.output("y", b.conv(kept, 3, 2, padding="VALID", name="c3")) and b


def prelus() -> Builder:
    b = Builder("prelus")
    x = b.input("x", (2, 4, 4, 3))
    alpha = b.rng.uniform(0.1, 0.4, (1, 1, 3)).astype(np.float32)
    y = b.bias(b.conv(x, 3, 3, name="c"), 3, name="c/bias")
    # Keras 2: relu(x) + (-alpha) * relu(-x)
    keras = b.op("AddV2", [b.op("Relu", [y], name="pos"),
                           b.op("Mul", [b.const(-alpha, "neg_alpha"), b.op("Relu", [b.op("Neg", [y], name="negx")],
                                                                             name="relu_neg")], name="negpart")],
                 name="prelu1")
    # max(x, 0) + alpha * min(x, 0)
    z = b.op("Maximum", [x, b.const(np.float32(0), "zero")], name="max0")
    w = b.op("Mul", [b.op("Minimum", [x, b.const(np.float32(0), "zero2")], name="min0"),
                     b.const(alpha.reshape(3), "alpha2")], name="neg2")
    b.output("z", b.op("AddV2", [w, z], name="prelu2"))
    return b.output("y", keras) and b


def transposes() -> Builder:
    b = Builder("transposes")
    x = b.input("x", (2, 3, 4, 5))
    to_nchw, to_nhwc = np.array([0, 3, 1, 2], np.int32), np.array([0, 2, 3, 1], np.int32)
    y = b.op("Transpose", [x, b.const(to_nchw, "p1")], name="t1")
    y = b.op("Relu", [y], name="relu")
    y = b.op("Mul", [y, b.weight((5, 1, 1), "per_channel")], name="scale")  # NCHW per-channel constant
    y = b.op("Transpose", [y, b.const(to_nhwc, "p2")], name="t2")  # cancels with t1 once pushed down
    a = b.op("Transpose", [x, b.const(np.array([1, 0, 2, 3], np.int32), "p3")], name="t3")
    a = b.op("Transpose", [a, b.const(np.array([0, 1, 3, 2], np.int32), "p4")], name="t4")  # merged with t3
    both = b.op("Sub", [b.op("Transpose", [b.input("v", (2, 3, 4, 5)), b.const(to_nchw, "p5")], name="t5"),
                        b.op("Transpose", [y, b.const(to_nchw, "p6")], name="t6")], name="sub")
    b.output("a", a)
    b.output("both", both)
    return b.output("y", b.op("Sigmoid", [y], name="y")) and b


def reshapes() -> Builder:
    b = Builder("reshapes")
    x = b.input("x", (2, 3, 4))
    y = b.op("Reshape", [x, b.const(np.array([6, 4], np.int32), "s1")], name="r1")
    y = b.op("Reshape", [y, b.const(np.array([-1], np.int32), "s2")], name="r2")
    y = b.op("Reshape", [y, b.const(np.array([4, -1], np.int32), "s3")], name="r3")
    same = b.op("Reshape", [b.op("Relu", [x], name="relu"), b.const(np.array([2, 3, 4], np.int32), "s4")], name="same")
    b.output("same", b.op("Neg", [same], name="neg"))
    return b.output("y", y) and b


def run_time_reshapes() -> Builder:
    """Reshapes back to a shape read at run time (a dynamic batch): ``Reshape(Reshape(x, [-1]), Shape(x))``
    is ``x``; ``Shape(x)`` gathered in a transpose's order fits the transpose."""
    b = Builder("run_time_reshapes")
    x = b.op("Relu", [b.input("x", (None, 3, 4))], name="relu")
    shape = b.op("Shape", [x], {"T": F, "out_type": DType.INT32}, name="shape", dtype=DType.INT32)
    flat = b.op("Reshape", [x, b.const(np.array([-1], np.int32), "flat_shape")], name="flat")
    back = b.op("Reshape", [flat, shape], name="back")
    swapped = b.op("Transpose", [x, b.const(np.array([0, 2, 1], np.int32), "perm")], name="swapped")
    order = b.op("GatherV2", [shape, b.const(np.array([0, 2, 1], np.int32), "order"), b.const(np.int32(0), "axis")],
                 {"batch_dims": 0, "Tparams": DType.INT32, "Tindices": DType.INT32, "Taxis": DType.INT32},
                 name="order", dtype=DType.INT32)
    rows = b.op("Reshape", [swapped, b.const(np.array([-1, 3], np.int32), "rows_shape")], name="rows")
    b.output("back", b.op("Neg", [back], name="neg"))
    return b.output("swapped", b.op("Neg", [b.op("Reshape", [rows, order], name="unrows")], name="neg2")) and b


#: name -> (builder, passes under test, ops that must be gone, ops that must be present)
CASES = {
    "identity": (identities, ("remove_identity",), {"Identity", "StopGradient", "Snapshot", "IdentityN"}, {"Relu"}),
    "constant_folding": (constants, ("constant_folding",), {"Transpose"}, {"Fill"}),
    "shape_folding": (shapes, ("shape_folding", "constant_folding"), {"Shape", "StridedSlice", "Rank", "Size", "Pack"}, set()),
    "cse": (duplicates, ("cse",), set(), set()),
    "fold_batchnorm": (conv_bn_relu, ("bias_add", "fold_batchnorm", "batchnorm_to_mul_add"),
                       {"FusedBatchNormV3", "FusedBatchNorm"}, {"Conv2D", "BiasAdd"}),
    "batchnorm_to_mul_add": (lone_batchnorm, ("batchnorm_to_mul_add",), {"FusedBatchNormV3"}, {"Mul", "AddV2"}),
    "bias_add": (add_bias, ("bias_add",), {"AddV2", "Add"}, {"BiasAdd"}),
    "pad_into_conv": (pads, ("pad_into_conv",), {"Pad", "PadV2"}, {"MirrorPad"}),
    "prelu": (prelus, ("prelu",), {"Neg", "Minimum"}, {"Prelu"}),
    "transpose_chains": (transposes, ("transpose_chains",), set(), {"Transpose"}),
    "reshape_chains": (reshapes, ("reshape_chains",), set(), {"Reshape"}),
    "run_time_reshapes": (run_time_reshapes, ("reshape_chains",), {"Reshape"}, {"Transpose"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_pass_keeps_outputs_and_rewrites_the_graph(case):
    build, names, gone, present = CASES[case]
    b = build()
    feeds = b.feeds()
    expected = reference(b.g, feeds)
    alone, report = optimize(b.g, only=names)
    ops = alone.op_histogram()
    assert not gone & set(ops), ops
    assert present <= set(ops), ops
    assert sum(s.changes for s in report.stats if s.name in names) > 0
    close(expected, run_graph(alone, feeds))
    assert set(alone.outputs) == set(b.g.outputs)
    full, _ = optimize(b.g)
    close(expected, run_graph(full, feeds))
    assert sum(full.op_histogram().values()) <= sum(b.g.op_histogram().values())


@pytest.mark.node
@pytest.mark.parametrize("case", sorted(CASES))
def test_optimized_graph_runs_in_tfjs_like_the_original(case, tmp_path, tfjs_runtime):
    from tfjsconv.verify.compare import verify_model

    b = CASES[case][0]()
    feeds = b.feeds()
    expected = reference(b.g, feeds)
    result = tfjsconv.convert(b.g, tmp_path / "m")
    assert result.pass_report is not None
    report = verify_model(tmp_path / "m", feeds, expected, backends=("cpu", "wasm"), rtol=1e-4, atol=1e-5)
    assert report.passed, report.failures


# -- pass-specific details -------------------------------------------------------------------------
def test_identity_removal_keeps_output_names():
    g, _ = optimize(identities().g, only=("remove_identity",))
    assert g.outputs["y"].producer.name == "out"
    assert g.outputs["y"].producer.op == "AddV2"


def test_identity_anchoring_a_control_edge_is_kept():
    b = Builder()
    x = b.input("x", (2,))
    anchor = b.op("Identity", [x], name="anchor")
    y = b.op("Relu", [anchor], name="y")
    y.producer.control_inputs.append(anchor.producer)
    g, _ = optimize(b.output("y", y), only=("remove_identity",))
    assert "anchor" in g


def test_identity_of_an_input_that_is_an_output_stays():
    b = Builder()
    x = b.input("x", (2,))
    g, _ = optimize(b.output("y", b.op("Identity", [x], name="y")))
    assert g.outputs["y"].producer.op == "Identity" and set(g.inputs) == {"x"}


def test_folding_refuses_huge_results_and_unknown_ops():
    g, _ = optimize(constants().g, only=("constant_folding",))
    assert g.node("big").op == "Fill"
    assert g.node("wt_half").op == "Const"
    b = Builder()
    x = b.input("x", (2,))
    odd = b.op("SomeCustomOp", [b.const(np.ones(2, np.float32))], name="custom")
    g, _ = optimize(b.output("y", b.op("AddV2", [x, odd], name="y")), only=("constant_folding",))
    assert g.node("custom").op == "SomeCustomOp"


def test_folding_narrows_64_bit_results_only_when_exact():
    b = Builder()
    x = b.input("x", (3,))
    big = b.g.add_op("Cast", [b.const(np.array([1, 2, 2**40], np.int64))], {"SrcT": DType.INT64, "DstT": DType.INT64},
                     name="big", dtype=DType.INT64)
    small = b.g.add_op("Cast", [b.const(np.array([1, 2, 3], np.int64))], {"SrcT": DType.INT64, "DstT": DType.INT64},
                       name="small", dtype=DType.INT64)
    b.output("a", big)
    g, _ = optimize(b.output("b", b.op("AddV2", [x, b.op("Cast", [small], {"SrcT": DType.INT64, "DstT": F},
                                                                 name="f")], name="b")), only=("constant_folding",))
    assert g.node("big").op == "Cast"
    assert g.node("f").op == "Const" and g.node("f").attrs["value"].dtype == np.float32


def test_cse_merges_duplicates_but_keeps_both_outputs():
    g, _ = optimize(duplicates().g, only=("cse",))
    assert g.op_histogram()["Relu"] == 1
    assert g.op_histogram()["Mul"] == 1
    b = Builder()
    x = b.input("x", (2,))
    b.output("a", b.op("Relu", [x], name="a"))
    g, _ = optimize(b.output("b", b.op("Relu", [x], name="b")), only=("cse",))
    assert g.op_histogram()["Relu"] == 2 and {v.producer.name for v in g.outputs.values()} == {"a", "b"}


def test_batchnorm_with_used_statistics_or_training_mode_is_left_alone():
    b = Builder()
    x = b.input("x", (1, 4, 4, 2))
    conv = b.conv(x, 2, 2)
    bn = b.batchnorm(conv, 2)
    b.output("y", bn)
    b.output("mean", bn.producer.output(1))
    g, _ = optimize(b.g, only=("fold_batchnorm", "batchnorm_to_mul_add"))
    assert "FusedBatchNormV3" in g.op_histogram()
    b2 = Builder()
    bn = b2.batchnorm(b2.conv(b2.input("x", (1, 4, 4, 2)), 2, 2), 2)
    bn.producer.attrs["is_training"] = True
    g, _ = optimize(b2.output("y", bn), only=("fold_batchnorm", "batchnorm_to_mul_add"))
    assert "FusedBatchNormV3" in g.op_histogram()


def test_conv_read_twice_is_not_folded_into():
    b = Builder()
    x = b.input("x", (1, 4, 4, 2))
    conv = b.conv(x, 2, 3)
    b.output("raw", conv)
    b.output("y", b.batchnorm(conv, 3))
    g, _ = optimize(b.g, only=("fold_batchnorm", "batchnorm_to_mul_add"))
    assert g.op_histogram().get("Conv2D") == 1 and "Mul" in g.op_histogram()


def test_pad_folding_normalises_padding():
    g, _ = optimize(pads().g, only=("pad_into_conv",))
    assert g.node("c1").attrs["padding"] == "SAME"
    assert g.node("c2").attrs["padding"] == "EXPLICIT"
    assert g.node("c2").attrs["explicit_paddings"] == [0, 0, 0, 3, 2, 1, 0, 0]  # SAME on 10x9 (0,1)x(1,1) + the pad
    assert g.node("dw").attrs["padding"] == "SAME"
    assert g.node("c3").inputs[0].producer.op == "MirrorPad"


def test_prelu_is_fused_into_the_conv_before_it():
    g, _ = optimize(prelus().g)
    fused = g.outputs["y"].producer
    assert fused.op == "_FusedConv2D" and fused.attrs["fused_ops"] == ["BiasAdd", "Prelu"]
    assert fused.attrs["num_args"] == 2 and fused.name == "prelu1"


def test_transposes_cancel_and_merge():
    g, _ = optimize(transposes().g)
    perms = sorted(tuple(int(v) for v in n.inputs[1].producer.attrs["value"]) for n in g if n.op == "Transpose")
    # t1/t2 cancelled; t3∘t4 merged into one; t5 and t6 pushed below the Sub into one
    assert perms == [(0, 3, 1, 2), (1, 0, 3, 2)]


def test_reshape_chain_collapses():
    g, _ = optimize(reshapes().g)
    assert g.op_histogram()["Reshape"] == 1
    assert g.outputs["y"].producer.inputs[0].producer.op == "Placeholder"


def test_reshape_to_its_own_shape_with_a_dynamic_batch_goes():
    """``[-1, 3, 4]`` of a ``[None, 3, 4]`` value is that value (the element count fixes -1); another
    order of the same dims, or known dims multiplying to 0 (-1 undetermined), keep their Reshape."""
    b = Builder()
    x = b.input("x", (None, 3, 4))
    z = b.input("z", (None, 0, 4))

    def reshape(v: object, target: list[int], name: str) -> object:
        return b.op("Neg", [b.op("Reshape", [b.op("Relu", [v], name=f"{name}_in"),
                                             b.const(np.array(target, np.int32), f"{name}_shape")], name=name)],
                    name=f"{name}_out")

    b.output("same", reshape(x, [-1, 3, 4], "same"))
    b.output("swapped", reshape(x, [-1, 4, 3], "swapped"))
    b.output("empty", reshape(z, [-1, 0, 4], "empty"))
    g, _ = optimize(b.g, only=("reshape_chains",))
    assert {n.name for n in g if n.op == "Reshape"} == {"swapped", "empty"}


# -- levels, --skip_passes, --verbose --------------------------------------------------------------
def test_level_0_only_cleans_up(tmp_path):
    b = conv_bn_relu()
    result = tfjsconv.convert(b.g, tmp_path / "m", optimization_level=0)
    assert "FusedBatchNormV3" in result.op_histogram
    result = tfjsconv.convert(b.g, tmp_path / "m1", optimization_level=1)
    assert "FusedBatchNormV3" not in result.op_histogram and "_FusedConv2D" not in result.op_histogram
    result = tfjsconv.convert(b.g, tmp_path / "m2")
    assert "_FusedConv2D" in result.op_histogram


def test_skip_passes_turns_a_pass_off(tmp_path):
    result = tfjsconv.convert(conv_bn_relu().g, tmp_path / "m", skip_passes=["fuse_ops"])
    assert not {"_FusedConv2D", "_FusedMatMul", "FusedDepthwiseConv2dNative"} & set(result.op_histogram)


def test_verbose_report_lists_op_counts_and_per_pass_changes(tmp_path):
    from tfjsconv.cli.report import format_conversion

    result = tfjsconv.convert(conv_bn_relu().g, tmp_path / "m")
    text = format_conversion(result, verbose=True)
    assert "ops before/after the passes" in text
    row = next(line for line in text.splitlines() if line.startswith("FusedBatchNormV3"))
    assert row.split()[1:] == ["2", "0"]
    fold = next(line for line in text.splitlines() if line.startswith("fold_batchnorm"))
    assert int(fold.split()[2]) == 3  # three batch norms folded
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    assert {n["op"] for n in doc["modelTopology"]["node"]} >= {"_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul"}


def test_cli_verbose_prints_the_tables(tmp_path, capsys):
    from tfjsconv.cli import main

    source = tmp_path / "model.onnx"
    pytest.importorskip("onnx")
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, np.float32))
    b = helper.make_tensor("b", TensorProto.FLOAT, [3], np.ones(3, np.float32))
    graph = helper.make_graph([helper.make_node("Gemm", ["x", "w", "b"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [w, b])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), source)
    code = main(["convert", str(source), str(tmp_path / "out"), "--verbose"])
    out = capsys.readouterr().out
    assert code in (0, None), out
    assert "ops before/after the passes" in out and "fuse_ops" in out and "_FusedMatMul" in out
