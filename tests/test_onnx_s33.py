"""ONNX, session 33 (h7): control-flow bodies reading an outer tensor whose inferred shape was wrong, MaxPool's
Indices with NaN and -inf as onnxruntime, TopK's sorted=0, and Scan over a length-0 input.

Expected values come from onnxruntime 1.32 (the ONNX reference implementation where onnxruntime crashes, said
in the test); every converted model runs in real TF.js, cpu and wasm.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model, onnxruntime_outputs  # noqa: E402

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
BACKENDS = ("cpu", "wasm")
NAN, INF = np.float32(np.nan), np.float32(np.inf)


def _vi(name: str, dtype: int, shape: list | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def _run_in_tfjs(out: Path, feeds: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """The converted model's outputs per backend (each run must succeed)."""
    from tfjsconv.verify import run_model

    run = run_model(out, feeds, backends=BACKENDS, quiet=True)
    for backend in BACKENDS:
        assert run[backend].ok, run[backend].error
    return {backend: run[backend].outputs for backend in BACKENDS}


def _same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal element by element, NaN where NaN, as the same type of number (TF.js gives int64 as int32)."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return False
    if want.dtype.kind != "f":
        return bool((got.astype(np.int64) == want.astype(np.int64)).all())
    return bool(((got == want) | (np.isnan(got) & np.isnan(want))).all())


def _loop_reading_outer(producer: onnx.NodeProto, x_shape: list[int], inits: list) -> onnx.ModelProto:
    """``y = producer(x)`` outside, and a Loop whose body reads ``y`` through an Unsqueeze (which reshapes to the
    shape it is told ``y`` has): ``acc = acc + relu(unsqueeze(y))`` for ``n`` iterations. onnx's shape inference
    (stored in the file, as exporters do) types ``y`` and the body's tensors with its wrong size."""
    reader = [helper.make_node("Constant", [], ["front"], value=numpy_helper.from_array(np.array([0], np.int64))),
              helper.make_node("Unsqueeze", ["y", "front"], ["u"]), helper.make_node("Relu", ["u"], ["r"])]
    body = helper.make_graph(reader + [helper.make_node("Identity", ["cond_in"], ["go"]),
                                       helper.make_node("Add", ["acc_in", "r"], ["acc"])], "body",
                             [_vi("i", I64, []), _vi("cond_in", B, []), _vi("acc_in", F, None)],
                             [_vi("go", B, []), _vi("acc", F, None)])
    nodes = [producer, helper.make_node("Unsqueeze", ["y", "front0"], ["y0"]),
             helper.make_node("Mul", ["y0", "zero"], ["acc0"]), helper.make_node("Loop", ["n", "", "acc0"], ["out"],
                                                                                 body=body)]
    inits = [*inits, numpy_helper.from_array(np.array([0], np.int64), "front0"),
             numpy_helper.from_array(np.float32(0), "zero")]
    graph = helper.make_graph(nodes, "g", [_vi("x", F, x_shape), _vi("n", I64, [])], [_vi("out", F, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model)


@pytest.mark.node
@pytest.mark.parametrize("producer", ["ceil_mode_max_pool", "same_conv_transpose_with_output_padding"])
def test_loop_body_reading_an_outer_tensor_whose_inferred_shape_was_wrong(tmp_path, tfjs_runtime, producer):
    """Session 32 kept the lowering's shape where onnx 1.23's inference is wrong (a ceil_mode MaxPool: 3 windows
    where onnxruntime has 2; a SAME ConvTranspose with output_padding: 13 for 6 * 2), and inferred the readers'
    shapes again, in the main graph only: a Loop body's Unsqueeze of that tensor still reshaped to the wrong size
    and TF.js crashed on cpu and wasm. The body now takes the outer translation's shape for it."""
    if producer == "ceil_mode_max_pool":
        node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1], strides=[2], ceil_mode=1)
        x_shape, inits = [1, 2, 4], []
    else:
        node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2],
                                output_padding=[1])
        x_shape = [2, 4, 6]
        inits = [numpy_helper.from_array(np.random.default_rng(1).standard_normal([4, 1, 3]).astype(np.float32), "w")]
    model = _loop_reading_outer(node, x_shape, inits)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    x = np.random.default_rng(2).standard_normal(x_shape).astype(np.float32)
    tfjsconv.convert(path, tmp_path / "out")
    for n in (3, 1):
        expected = matches_onnxruntime(path, {"x": x, "n": np.array(n, np.int64)}, tmp_path / "out", convert=False)
        assert np.abs(expected["out"]).max() > 0.1


@pytest.mark.node
def test_loop_body_reducing_symbolic_attention_scores_was_silently_wrong(tmp_path, tfjs_runtime):
    """Attention over symbolic sizes: onnx infers qk_matmul_output's last dim (the key length) as 0, and the Loop
    body's Abs/ReduceSum of it were typed from that 0: the body summed nothing and every element of ``out`` was
    wrong in TF.js cpu and wasm (no error). The body now re-infers from the scores' real shape."""
    body = helper.make_graph(
        [helper.make_node("Abs", ["qk"], ["qk_abs"]),
         helper.make_node("ReduceSum", ["qk_abs", "keys_axis"], ["per_query"], keepdims=1),
         helper.make_node("Identity", ["cond_in"], ["go"]), helper.make_node("Add", ["acc_in", "per_query"], ["acc"])],
        "body", [_vi("i", I64, []), _vi("cond_in", B, []), _vi("acc_in", F, None)],
        [_vi("go", B, []), _vi("acc", F, None)])
    nodes = [helper.make_node("Attention", ["q", "k", "v"], ["y", "", "", "qk"], scale=0.3),
             helper.make_node("ReduceSum", ["qk", "keys_axis"], ["first"], keepdims=1),
             helper.make_node("Mul", ["first", "zero"], ["acc0"]), helper.make_node("Loop", ["n", "", "acc0"], ["out"],
                                                                                     body=body)]
    inits = [numpy_helper.from_array(np.array([-1], np.int64), "keys_axis"),
             numpy_helper.from_array(np.float32(0), "zero")]
    inputs = [_vi("q", F, ["b", "h", "sq", "d"]), _vi("k", F, ["b", "h", "sk", "d"]),
              _vi("v", F, ["b", "h", "sk", "dv"]), _vi("n", I64, [])]
    graph = helper.make_graph(nodes, "g", inputs, [_vi("out", F, None), _vi("y", F, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    model.ir_version = 10
    path = tmp_path / "model.onnx"
    onnx.save(onnx.shape_inference.infer_shapes(model), str(path))
    rng = np.random.default_rng(32)
    feeds = {"q": rng.standard_normal([2, 3, 4, 8]).astype(np.float32),
             "k": rng.standard_normal([2, 3, 6, 8]).astype(np.float32),
             "v": rng.standard_normal([2, 3, 6, 5]).astype(np.float32), "n": np.array(2, np.int64)}
    expected = matches_onnxruntime(path, feeds, tmp_path / "out")
    assert np.abs(expected["out"]).min() > 0.1


def _if_or_scan_reading_a_ceil_mode_pool(kind: str) -> onnx.ModelProto:
    """A ceil_mode MaxPool (onnx infers 3 windows, there are 2) read by an Unsqueeze in an If branch, or in a
    Scan body that also scans out the result; shapes inferred and stored in the file."""
    reader = [helper.make_node("Constant", [], ["front"], value=numpy_helper.from_array(np.array([0], np.int64))),
              helper.make_node("Unsqueeze", ["y", "front"], ["u"]), helper.make_node("Relu", ["u"], ["r"])]
    pool = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1], strides=[2], ceil_mode=1)
    if kind == "if":
        then = helper.make_graph(reader, "then", [], [_vi("r", F, None)])
        other = helper.make_graph([helper.make_node("Neg", ["y"], ["n"])], "else", [], [_vi("n", F, None)])
        nodes = [pool, helper.make_node("If", ["c"], ["out"], then_branch=then, else_branch=other)]
        inputs, outputs = [_vi("x", F, [1, 2, 4]), _vi("c", B, [])], [_vi("out", F, None)]
    else:
        body = helper.make_graph(reader + [helper.make_node("ReduceSum", ["r"], ["total"], keepdims=0),
                                           helper.make_node("Mul", ["a", "total"], ["s2"])], "body",
                                 [_vi("s", F, []), _vi("a", F, [])], [_vi("s2", F, []), _vi("r", F, None)])
        nodes = [pool, helper.make_node("Scan", ["s0", "xs"], ["s_final", "out"], body=body, num_scan_inputs=1)]
        inputs = [_vi("x", F, [1, 2, 4]), _vi("s0", F, []), _vi("xs", F, ["T"])]
        outputs = [_vi("out", F, None), _vi("s_final", F, [])]
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return onnx.shape_inference.infer_shapes(model)


@pytest.mark.node
@pytest.mark.parametrize("kind", ["if", "scan"])
def test_if_and_scan_bodies_reading_an_outer_tensor_whose_inferred_shape_was_wrong(tmp_path, tfjs_runtime, kind):
    """As the Loop test above, in an If branch and a Scan body (TF.js crashed: "Size(4) must match the product of
    shape 1,1,2,3"). onnxruntime 1.32 cannot run these models (its own inference of the body's Relu says 3 windows,
    its kernel gives 2: it refuses the run), so the expected values come from the ONNX reference implementation
    (``onnx.reference.ReferenceEvaluator``), whose MaxPool gives the spec's 2 windows as onnxruntime's does."""
    from onnx.reference import ReferenceEvaluator
    from tfjsconv.verify.compare import format_report, verify_model

    model = _if_or_scan_reading_a_ceil_mode_pool(kind)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    tfjsconv.convert(path, tmp_path / "out", target_backends=list(BACKENDS))
    x = np.random.default_rng(3).standard_normal([1, 2, 4]).astype(np.float32)
    feeds = ([{"x": x, "c": np.array(True)}, {"x": x, "c": np.array(False)}] if kind == "if" else
             [{"x": x, "s0": np.array(1.5, np.float32), "xs": np.array([2.0, -1.0, 0.5], np.float32)}])
    names = [o.name for o in model.graph.output]
    for feed in feeds:
        expected = dict(zip(names, ReferenceEvaluator(model).run(None, feed), strict=True))
        assert expected["out"].shape[-1] == 2
        report = verify_model(tmp_path / "out", feed, expected, backends=BACKENDS, rtol=1e-5, quiet=True)
        assert report.passed, format_report(report)


@pytest.mark.node
def test_max_pool_indices_take_the_first_element_of_each_window_as_onnxruntime(tmp_path, tfjs_runtime):
    """onnxruntime's MaxPool with Indices takes each window's first real element whatever it is and later ones
    only when greater: a NaN first in its window sticks, a later NaN never wins, and a real -inf beats the padding.
    The taps' running max started from the padding (float32's lowest), so a leading NaN was skipped and -inf next
    to padding gave -3.4e38 with index -1 (review r4 N3/N4), with or without --exact_special_values."""
    row = np.array([[[NAN, 1, 2, NAN, 0, -1, 3, -INF, -INF, -INF]]], np.float32)
    image = np.array([[[[NAN, 1, -INF], [2, NAN, 5], [-INF, -INF, NAN]],
                       [[-INF, NAN, 0], [4, 4, NAN], [-INF, 7, -INF]]]], np.float32)
    nodes = [helper.make_node("MaxPool", ["row"], ["y1", "i1"], kernel_shape=[3], strides=[1], pads=[1, 1]),
             helper.make_node("MaxPool", ["row"], ["y2", "i2"], kernel_shape=[3], strides=[2], pads=[2, 2],
                              ceil_mode=1),
             helper.make_node("MaxPool", ["image"], ["y3", "i3"], kernel_shape=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["image"], ["y4", "i4"], kernel_shape=[2, 2], pads=[1, 0, 0, 1],
                              dilations=[1, 2], storage_order=1)]
    outputs = ["y1", "i1", "y2", "i2", "y3", "i3", "y4", "i4"]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"row": (F, [1, 1, 10]), "image": (F, [1, 2, 3, 3])},
                      outputs, opset=19)
    feeds = {"row": row, "image": image}
    expected = onnxruntime_outputs(path, feeds)
    assert np.isnan(expected["y1"][0, 0, 0]) and expected["y2"][0, 0, -1] == -INF  # the cases that were wrong
    for flag in (False, True):
        out = tmp_path / f"out_{flag}"
        tfjsconv.convert(path, out, target_backends=list(BACKENDS), exact_special_values=flag)
        for backend, got in _run_in_tfjs(out, feeds).items():
            wrong = [name for name in outputs if not _same_bits(got[name], expected[name])]
            assert not wrong, f"{backend}, flag {flag}: {wrong} differ from onnxruntime"


@pytest.mark.node
def test_top_k_sorted_0_is_noted_and_gives_onnxruntimes_elements(tmp_path, tfjs_runtime):
    """TopK with sorted=0: ONNX leaves the order undefined, onnxruntime returns its heap's order, the converted
    model (TF.js TopKV2) sorted. The elements are the same (compared as (index, value) sets here, NaN, ±Inf and
    ties included, under --exact_special_values); the conversion now says so, since an element-wise comparison
    (tfjsconv verify) reports a difference that is only the order."""
    rows = np.array([[5, 1, 9, 3, 7, 2, 8, 6, 4], [3, 3, NAN, 1, 3, INF, NAN, 3, -INF],
                     [2, NAN, 2, INF, INF, 0, -0.0, 0, NAN], [1, 1, 1, 1, 1, 1, 1, 1, 1]], np.float32)
    nodes = [helper.make_node("TopK", ["x", "k"], ["v", "i"], sorted=0),
             helper.make_node("TopK", ["x", "k"], ["vs", "is"], sorted=0, largest=0)]
    path = onnx_model(tmp_path / "model.onnx", nodes, {"x": (F, [4, 9])}, ["v", "i", "vs", "is"], opset=17,
                      initializers={"k": np.array([4], np.int64)})
    expected = onnxruntime_outputs(path, {"x": rows})
    result = tfjsconv.convert(path, tmp_path / "out", target_backends=list(BACKENDS), exact_special_values=True)
    assert sum("sorted=0" in note for note in result.details) == 2
    sorted_first_row = np.argsort(-rows[0], kind="stable")[:4].tolist()
    assert expected["i"][0].tolist() != sorted_first_row  # not sorted: an element-wise comparison would differ

    def as_set(values: np.ndarray, indices: np.ndarray) -> list[tuple[int, str]]:
        return sorted((int(j), repr(float(v))) for j, v in zip(indices, values))

    for backend, got in _run_in_tfjs(tmp_path / "out", {"x": rows}).items():
        for values, indices in (("v", "i"), ("vs", "is")):
            for r in range(len(rows)):
                assert as_set(got[values][r], got[indices][r]) == as_set(expected[values][r], expected[indices][r]), (
                    backend, values, r)


def _scan_with_states_only() -> onnx.ModelProto:
    """A Scan (opset 16) carrying a [2] state and a scalar sum over two scan inputs, with no scan output: the ONNX
    reference implementation cannot run a length-0 Scan that has one (nor other axes or directions)."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["a", "b"], ["ab"]), helper.make_node("Add", ["s", "ab"], ["s2"]),
         helper.make_node("ReduceSum", ["ab"], ["ab_sum"], keepdims=0), helper.make_node("Add", ["c", "ab_sum"], ["c2"])],
        "body", [_vi("s", F, [2]), _vi("c", F, []), _vi("a", F, [2]), _vi("b", F, [2])],
        [_vi("s2", F, [2]), _vi("c2", F, [])])
    scan = helper.make_node("Scan", ["s0", "c0", "xa", "xb"], ["s_final", "c_final"], body=body, num_scan_inputs=2)
    graph = helper.make_graph([scan], "g", [_vi("s0", F, [2]), _vi("c0", F, []), _vi("xa", F, ["T", 2]),
                                            _vi("xb", F, ["T", 2])], [_vi("s_final", F, [2]), _vi("c_final", F, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    model.ir_version = 8
    return model


@pytest.mark.node
def test_scan_over_a_length_0_input_passes_its_state_through_as_the_onnx_reference(tmp_path, tfjs_runtime):
    """onnxruntime 1.32 kills the process on a Scan over a length-0 input, so the expected values come from the
    ONNX reference implementation (``onnx.reference.ReferenceEvaluator``), which follows the spec: no iteration,
    the states come out as they went in. (This already held before session 33: a guard, not a fix.) Length 3
    is checked against the same reference."""
    from onnx.reference import ReferenceEvaluator

    model = _scan_with_states_only()
    path = tmp_path / "scan.onnx"
    onnx.save(model, str(path))
    tfjsconv.convert(path, tmp_path / "out", target_backends=list(BACKENDS))
    rng = np.random.default_rng(33)
    for length in (0, 3):
        feeds = {"s0": rng.standard_normal(2).astype(np.float32), "c0": np.float32(1.5),
                 "xa": rng.standard_normal((length, 2)).astype(np.float32),
                 "xb": rng.standard_normal((length, 2)).astype(np.float32)}
        expected = dict(zip(["s_final", "c_final"], ReferenceEvaluator(model).run(None, feeds)))
        if length == 0:
            assert _same_bits(expected["s_final"], feeds["s0"]) and expected["c_final"] == feeds["c0"]
        for backend, got in _run_in_tfjs(tmp_path / "out", feeds).items():
            for name, want in expected.items():
                np.testing.assert_allclose(got[name].reshape(want.shape), want, rtol=1e-5, atol=1e-6,
                                           err_msg=f"{backend} {name} length {length}")


#: half_pixel_symmetric Resizes (input shape, scales, sizes): down, up one axis, a single row, 2-D, sizes; float16
#: takes the first three (on the last two, float16's rounding hid the float32 difference).
_HPS_CASES = [([2, 3, 9, 11], [1, 1, 0.45, 0.6], None), ([1, 2, 6, 5], [1, 1, 2.5, 1], None),
              ([1, 1, 1, 4], [1, 1, 3, 1.5], None), ([6, 5], [1.5, 2.2], None), ([1, 2, 6, 5], None, [1, 2, 4, 13])]


@pytest.mark.node
@pytest.mark.parametrize("dtype,shape,scales,sizes", [
    *[(np.float32, *case) for case in _HPS_CASES], *[(np.float16, *case) for case in _HPS_CASES[:3]]])
def test_half_pixel_symmetric_linear_resize_is_onnxruntimes_bit_for_bit(tmp_path, tfjs_runtime, dtype, shape, scales,
                                                                       sizes):
    """onnxruntime computes half_pixel_symmetric's source coordinate partly in double (``offset + (x + 0.5) /
    scale - 0.5`` with a double 0.5); the float32 formula gave tap weights up to 4.8e-7 off, so float32 was a few
    ulps off under --exact_special_values and float16 a whole float16 step off at times (verify FAIL, review r4
    N1). Now every element is onnxruntime's (float16 with or without the flag, float32 with it)."""
    elem = TensorProto.FLOAT16 if dtype == np.float16 else F
    inputs = ["x", "", "scales"] if scales is not None else ["x", "", "", "sizes"]
    init = {"scales": np.array(scales, np.float32)} if scales is not None else {"sizes": np.array(sizes, np.int64)}
    node = helper.make_node("Resize", inputs, ["y"], mode="linear", coordinate_transformation_mode="half_pixel_symmetric")
    path = onnx_model(tmp_path / "model.onnx", [node], {"x": (elem, shape)}, ["y"], opset=19, initializers=init)
    feeds = {"x": (np.random.default_rng(7).standard_normal(shape) * 3).astype(dtype)}
    expected = onnxruntime_outputs(path, feeds)["y"]
    for flag in (False, True) if dtype == np.float16 else (True,):
        out = tmp_path / f"out_{flag}"
        tfjsconv.convert(path, out, target_backends=list(BACKENDS), exact_special_values=flag)
        for backend, got in _run_in_tfjs(out, feeds).items():
            differ = int((got["y"].astype(np.float32) != expected.astype(np.float32)).sum())
            assert differ == 0, f"{backend}, flag {flag}: {differ} of {expected.size} elements differ"


# -- session 33, h7b: the review's findings (r7) --------------------------------------------------------------------
def _loop_carrying(producer: list, inputs: list, carried: str, declared: list, readers: list,
                   opset: int) -> onnx.ModelProto:
    """A Loop carrying ``carried`` (made by ``producer``) whose body input declares ``declared``, the shape onnx's
    inference gives it, as exporters store it: the body reduces the carried value (``readers`` read ``c_in`` and
    write ``red``) and scans that out, and passes its absolute value on."""
    body = helper.make_graph(
        [*readers, helper.make_node("Abs", ["c_in"], ["c_out"]), helper.make_node("Identity", ["cond_in"], ["go"])],
        "body", [_vi("i", I64, []), _vi("cond_in", B, []), _vi("c_in", F, declared)],
        [_vi("go", B, []), _vi("c_out", F, declared), _vi("red", F, None)])
    nodes = [*producer, helper.make_node("Loop", ["n", "", carried], ["final", "out"], body=body)]
    inits = [numpy_helper.from_array(np.array([-1], np.int64), "last_axis"),
             numpy_helper.from_array(np.array([0], np.int64), "front")]
    graph = helper.make_graph(nodes, "g", [*inputs, _vi("n", I64, [])], [_vi("out", F, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10 if opset >= 21 else 8
    return onnx.shape_inference.infer_shapes(model)


@pytest.mark.node
@pytest.mark.parametrize("producer", ["ceil_mode_max_pool", "symbolic_attention_scores"])
def test_loop_carried_value_whose_body_declares_onnxs_wrong_shape(tmp_path, tfjs_runtime, producer):
    """r7 F1: a Loop-carried value whose body input declares onnx's wrong shape (a ceil_mode MaxPool: 3 windows,
    onnxruntime's 2; a symbolic Attention's scores: last dim 0): the body was typed from the declared shape. TF.js
    crashed ("Size(4) must match the product of shape 1,1,2,3") for the pool and gave all zeros (no error) for the
    Attention's ReduceSum. The body input now takes the initial value's shape and its readers are inferred again."""
    rng = np.random.default_rng(33)
    reducer = helper.make_node("ReduceSum", ["c_in", "last_axis"], ["red"], keepdims=1)
    if producer == "ceil_mode_max_pool":  # the Unsqueeze reshapes to the shape it is told c_in has
        nodes = [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1], strides=[2], ceil_mode=1)]
        readers = [helper.make_node("Unsqueeze", ["c_in", "front"], ["u"]),
                   helper.make_node("ReduceSum", ["u", "last_axis"], ["red"], keepdims=1)]
        model = _loop_carrying(nodes, [_vi("x", F, [1, 2, 4])], "y", [1, 2, 3], readers, 17)
        feeds = {"x": rng.standard_normal([1, 2, 4]).astype(np.float32)}
    else:
        nodes = [helper.make_node("Attention", ["q", "k", "v"], ["y", "", "", "qk"], scale=0.3)]
        inputs = [_vi("q", F, ["b", "h", "sq", "d"]), _vi("k", F, ["b", "h", "sk", "d"]),
                  _vi("v", F, ["b", "h", "sk", "dv"])]
        model = _loop_carrying(nodes, inputs, "qk", ["b", "h", "sq", 0], [reducer], 23)
        feeds = {"q": rng.standard_normal([2, 3, 4, 8]).astype(np.float32),
                 "k": rng.standard_normal([2, 3, 6, 8]).astype(np.float32),
                 "v": rng.standard_normal([2, 3, 6, 5]).astype(np.float32)}
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    expected = matches_onnxruntime(path, {**feeds, "n": np.array(2, np.int64)}, tmp_path / "out",
                                   target_backends=list(BACKENDS))
    assert np.abs(expected["out"]).max() > 0.1


@pytest.mark.node
def test_scan_input_whose_body_declares_onnxs_wrong_shape(tmp_path, tfjs_runtime):
    """r7 F1: a Scan scanning a ceil_mode MaxPool's output (onnx infers 3 windows, there are 2) whose body input
    declares onnx's shape: TF.js crashed ("Size(4) must match the product of shape 1,2,3"). onnxruntime 1.32
    refuses to run this model (its inference of the body's Relu says 3, its kernel gives 2), so the expected
    values come from the ONNX reference implementation (``onnx.reference.ReferenceEvaluator``)."""
    from onnx.reference import ReferenceEvaluator
    from tfjsconv.verify.compare import format_report, verify_model

    front = numpy_helper.from_array(np.array([0], np.int64))
    body = helper.make_graph(
        [helper.make_node("Constant", [], ["front"], value=front), helper.make_node("Unsqueeze", ["step", "front"],
                                                                                  ["u"]),
         helper.make_node("Relu", ["u"], ["r"]), helper.make_node("ReduceSum", ["r"], ["t"], keepdims=0),
         helper.make_node("Add", ["s", "t"], ["s2"])],
        "body", [_vi("s", F, []), _vi("step", F, [2, 3])], [_vi("s2", F, []), _vi("r", F, None)])
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1], strides=[2], ceil_mode=1),
             helper.make_node("Scan", ["s0", "y"], ["s_final", "out"], body=body, num_scan_inputs=1)]
    graph = helper.make_graph(nodes, "g", [_vi("x", F, [1, 2, 4]), _vi("s0", F, [])],
                              [_vi("s_final", F, []), _vi("out", F, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model = onnx.shape_inference.infer_shapes(model)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    tfjsconv.convert(path, tmp_path / "out", target_backends=list(BACKENDS))
    feed = {"x": np.random.default_rng(4).standard_normal([1, 2, 4]).astype(np.float32),
            "s0": np.array(0.5, np.float32)}
    expected = dict(zip(["s_final", "out"], ReferenceEvaluator(model).run(None, feed), strict=True))
    assert expected["out"].shape == (1, 1, 2, 2)
    report = verify_model(tmp_path / "out", feed, {"out": expected["out"]}, backends=BACKENDS, rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)


def _same_pool_node(op: str, auto_pad: str) -> onnx.NodeProto:
    """``op`` over [1, 2, 6, 11], kernel 1x2, strides 3x6: SAME's pad totals are -2 and -3."""
    extra = {"count_include_pad": 1} if op == "AveragePool" else {}
    inputs, outputs = (["x", "w"], ["y"]) if op == "Conv" else (["x"], ["y", "i"] if op == "MaxPool" else ["y"])
    return helper.make_node(op, inputs, outputs, kernel_shape=[1, 2], strides=[3, 6], auto_pad=auto_pad, **extra)


@pytest.mark.node
@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool", "LpPool", "Conv"])
def test_same_pools_with_a_negative_pad_total_start_where_onnxruntime_does(tmp_path, tfjs_runtime, op, auto_pad):
    """r7 F3: auto_pad SAME with stride >= kernel + 2 gives a negative pad total ((out - 1) * s + k - n: -2 and
    -3 here); onnxruntime applies the negative head pad (its windows start trunc(-total / 2) elements in for
    SAME_UPPER, trunc(-(total + 1) / 2) for SAME_LOWER: 1 and 1, 0 and 1) where we clamped it to 0: windows of
    MaxPool (values and Indices), AveragePool and LpPool were one element early, silently. onnxruntime's Conv
    starts at trunc(-(total + 1) / 2) (SAME_UPPER; SAME_LOWER: trunc(-(total + 2) / 2)): 0 and 0 for SAME_LOWER,
    which the clamped pads match; 0 and 1 for SAME_UPPER, now refused by name (it was silently wrong)."""
    node = _same_pool_node(op, auto_pad)
    if op == "Conv" and auto_pad == "SAME_UPPER":
        path = onnx_model(tmp_path / "model.onnx", [node], {"x": (F, [1, 2, 6, 11])}, ["y"], opset=19,
                          initializers={"w": np.ones([3, 2, 1, 2], np.float32)})
        with pytest.raises(Exception, match=r"pad total is negative \(-3\) and onnxruntime starts its windows 1"):
            tfjsconv.convert(path, tmp_path / "out")
        return
    x = np.random.default_rng(7).standard_normal([1, 2, 6, 11]).astype(np.float32)
    inits = {"w": np.random.default_rng(8).standard_normal([3, 2, 1, 2]).astype(np.float32)} if op == "Conv" else None
    path = onnx_model(tmp_path / "model.onnx", [node], {"x": (F, [1, 2, 6, 11])}, list(node.output), opset=19,
                      initializers=inits)
    tfjsconv.convert(path, tmp_path / "out", target_backends=list(BACKENDS))
    expected = onnxruntime_outputs(path, {"x": x})
    got = _run_in_tfjs(tmp_path / "out", {"x": x})
    for backend in BACKENDS:
        for name in node.output:
            np.testing.assert_allclose(got[backend][name], expected[name], rtol=1e-6, atol=1e-6,
                                       err_msg=f"{op} {auto_pad} {name} on {backend}")


@pytest.mark.node
def test_same_max_pool_with_a_negative_pad_total_as_the_onnx_reference(tmp_path, tfjs_runtime):
    """r7 F3 for MaxPool without Indices: onnxruntime 1.32 refuses to run it ("padding values must be
    non-negative"), so the expected values come from the ONNX reference implementation, which applies the
    negative head pad as onnxruntime's MaxPool with Indices does (first window at element 1 for SAME_UPPER)."""
    from onnx.reference import ReferenceEvaluator

    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1, 2], strides=[3, 4], auto_pad="SAME_UPPER")
    path = onnx_model(tmp_path / "model.onnx", [node], {"x": (F, [1, 2, 6, 8])}, ["y"], opset=19)
    tfjsconv.convert(path, tmp_path / "out", target_backends=list(BACKENDS))
    x = np.random.default_rng(9).standard_normal([1, 2, 6, 8]).astype(np.float32)
    expected = ReferenceEvaluator(onnx.load(str(path))).run(None, {"x": x})[0]
    assert expected.shape == (1, 2, 2, 2)
    for backend, outputs in _run_in_tfjs(tmp_path / "out", {"x": x}).items():
        np.testing.assert_array_equal(outputs["y"], expected, err_msg=backend)


@pytest.mark.node
@pytest.mark.parametrize("transform,nearest_mode,size,out", [
    ("half_pixel", "round_prefer_floor", 6, 5), ("half_pixel", "round_prefer_floor", 6, 7),
    ("asymmetric", "round_prefer_ceil", 3, 4), ("half_pixel_symmetric", "round_prefer_floor", 12, 10)])
def test_nearest_resize_near_ties_pick_onnxruntimes_pixel(tmp_path, tfjs_runtime, transform, nearest_mode, size,
                                                          out):
    """r7 F2: a nearest Resize to constant sizes took TF.js's native ResizeNearestNeighbor when its pixels matched
    ONNX's coordinates computed in float64; onnxruntime computes them in float32, where a near-tie (6 -> 5
    half_pixel: 2.5000002 in float64) is an exact 2.5 and rounds the other way: one pixel per row was its
    neighbour, silently (ORT [0, 1, 2, 4, 5], TF.js [0, 1, 3, 4, 5]). The rule is now chosen on float32 ones."""
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest",
                            coordinate_transformation_mode=transform, nearest_mode=nearest_mode)
    path = onnx_model(tmp_path / "model.onnx", [node], {"x": (F, [1, 2, 3, size])}, ["y"], opset=19,
                      initializers={"sizes": np.array([1, 2, 3, out], np.int64)})
    x = np.arange(6 * size, dtype=np.float32).reshape(1, 2, 3, size)
    expected = onnxruntime_outputs(path, {"x": x})
    tfjsconv.convert(path, tmp_path / "out", target_backends=list(BACKENDS))
    for backend, outputs in _run_in_tfjs(tmp_path / "out", {"x": x}).items():
        np.testing.assert_array_equal(outputs["y"], expected["y"], err_msg=backend)


@pytest.mark.node
def test_verify_against_the_onnx_source_keeps_a_scalar_input_scalar(tmp_path, tfjs_runtime):
    """r7 M4: ``tfjsconv verify model.onnx out/`` failed every model with a scalar input ("shape mismatch: got [],
    expected [1]"): the reference's feeds went through ``np.ascontiguousarray``, which makes a () array [1], and
    onnxruntime then returned [1]. The model here is right; only the check was wrong."""
    from tfjsconv.verify.source_check import verify_against_source

    path = onnx_model(tmp_path / "model.onnx", [helper.make_node("Neg", ["s"], ["y"])], {"s": (F, [])}, ["y"],
                      opset=19)
    tfjsconv.convert(path, tmp_path / "out", target_backends=list(BACKENDS))
    report = verify_against_source(path, tmp_path / "out", inputs={"s": np.array(1.5, np.float32)},
                                   backends=BACKENDS, quiet=True)
    assert report.passed, report


@pytest.mark.node
@pytest.mark.parametrize("rank,storage_order", [(1, 0), (2, 0), (2, 1), (3, 0)])
def test_max_pool_indices_of_a_window_of_padding_only_are_onnxruntimes(tmp_path, tfjs_runtime, rank, storage_order):
    """r7 M1: a dilated window (kernel 2, dilation 3, pads 1 < kernel) can hold padding only. onnxruntime's index
    there is its running index never replaced: -1 on every spatial axis plus the channel's base (1-D: -1 and 1
    for two channels of 2; 2-D: c * H * W - W - 1), which we gave as -1. It is deterministic, so now matched."""
    spatial = [1] * (rank - 1) + [2]
    node = helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[1] * (rank - 1) + [2],
                            dilations=[1] * (rank - 1) + [3], pads=([0] * (rank - 1) + [1]) * 2,
                            storage_order=storage_order)
    shape = [2, 3, *spatial]
    path = onnx_model(tmp_path / "model.onnx", [node], {"x": (F, shape)}, ["y", "i"], opset=12)
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    expected = onnxruntime_outputs(path, {"x": x})
    assert (expected["i"] > 0).any() and (expected["i"] < -1).any() if rank > 1 else (expected["i"] > 0).any()
    tfjsconv.convert(path, tmp_path / "out", target_backends=list(BACKENDS))
    for backend, outputs in _run_in_tfjs(tmp_path / "out", {"x": x}).items():
        for name in ("y", "i"):
            assert _same_bits(outputs[name], expected[name]), (backend, name, outputs[name], expected[name])
