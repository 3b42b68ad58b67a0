"""wasm's float32 Add/Sub/Mul/Div/SquaredDifference and Pad give wrong numbers, silently, at rank 7 and up.

Found by a colleague's rank-7 graph and narrowed down by ``scripts/probe_backends.py`` (the high-rank
cases: every other probed op, and int32, is right on wasm at ranks 5-8; webgl throws on most rank-7
ops): the contract's ``maxrank:7`` limits refuse such nodes, naming op, node and backend, after the
``binary_rank``/``transpose_rank``/``pad_rank`` passes lowered what merges to rank ≤ 6. Real TF and
ONNX graphs, expected values from a TF Session / onnxruntime, the converted models run in TF.js cpu and
wasm under Node and webgl in headless Chromium.
"""
from __future__ import annotations

import numpy as np
import pytest

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph
from tfjsconv.ops.backends import BackendContract, NodeFacts

RANK7 = (2, 3, 2, 1, 2, 2, 3)


def test_maxrank_selector_reads_input_and_output_ranks():
    facts = NodeFacts("AddV2", {}, ["float32", "float32"], input_ranks=[7, 1], output_ranks=[7])
    assert facts.select("maxrank:7") == "true" and facts.select("maxrank:8") == "false"
    widened = NodeFacts("BroadcastTo", {}, ["float32", "int32"], input_ranks=[2, 1], output_ranks=[7])
    assert widened.select("maxrank:7") == "true"
    unknown = NodeFacts("AddV2", {}, ["float32", "float32"], input_ranks=[6, None], output_ranks=[None])
    assert unknown.select("maxrank:7") is None  # an unknown rank never refuses
    assert NodeFacts("AddV2", {}, ["float32"]).select("maxrank:7") is None


def test_merged_shapes_join_only_axes_that_broadcast_alike():
    from tfjsconv.passes.binary_rank import merged_shapes

    assert merged_shapes(RANK7, (3,)) == ([48, 3], [1, 3], [48, 3])
    assert merged_shapes((1, 3, 2, 3, 2, 1, 3), (2, 1, 2, 3, 2, 2, 1)) == (
        [1, 3, 12, 1, 3], [2, 1, 12, 2, 1], [2, 3, 12, 2, 3])
    assert merged_shapes((2, 3, 2, 3, 2, 2, 3), (2, 1, 2, 1, 2, 1, 3)) is None  # seven alternating runs
    assert merged_shapes((None, 3, 2, 1, 2, 2, 3), (3,)) == ([None, 3], [1, 3], [None, 3])
    assert merged_shapes((None, 3, 2, 1, 2, 2, 3), (None, 1, 1, 1, 1, 1, 3)) is None  # may or may not broadcast
    assert merged_shapes((None, 3, 2, 1, 2, 2, 3), (5, 1, 1, 1, 1, 1, 3)) is None
    # the merged op computes the same elements in the same order
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((1, 3, 2, 3, 2, 1, 3)), rng.standard_normal((2, 1, 2, 3, 2, 2, 1))
    ma, mb, _ = merged_shapes(a.shape, b.shape)
    np.testing.assert_array_equal((a.reshape(ma) * b.reshape(mb)).reshape(2, 3, 2, 3, 2, 2, 3), a * b)


def test_merged_transpose_moves_the_same_elements():
    from tfjsconv.passes.transpose_rank import merged_transpose

    assert merged_transpose(RANK7, [1, 0, 2, 3, 4, 5, 6]) == ([2, 3, 24], [1, 0, 2])  # the size-1 axis dropped
    assert merged_transpose((None, *RANK7[1:]), [0, 2, 1, 3, 4, 5, 6]) == ([None, 3, 2, 12], [0, 2, 1, 3])
    assert merged_transpose((2, 3, 2, 3, 2, 2, 3), [6, 5, 4, 3, 2, 1, 0]) is None
    rng = np.random.default_rng(0)
    for _ in range(200):
        rank = int(rng.integers(7, 9))
        shape, perm = tuple(int(d) for d in rng.integers(1, 4, rank)), [int(a) for a in rng.permutation(rank)]
        merged = merged_transpose(shape, perm)
        if merged is not None:
            x = rng.standard_normal(shape)
            sizes, small = merged
            np.testing.assert_array_equal(x.reshape(sizes).transpose(small).reshape([shape[a] for a in perm]),
                                          x.transpose(perm))


def _ir_add(dtype: DType, rank: int) -> Graph:
    g = Graph("add")
    shape = (2,) * rank
    x, y = g.placeholder("x", dtype, shape), g.placeholder("y", dtype, shape[-1:])
    g.set_output("z", g.add_op("AddV2", [x, y], {"T": dtype}, name="add", dtype=dtype, shape=shape))
    return g


def test_contract_refuses_rank7_float_add_only_on_wasm():
    contract = BackendContract.load()
    problems = contract.unsupported(_ir_add(DType.FLOAT32, 7), ("cpu", "wasm"))
    assert [(p.op, p.node, p.backend) for p in problems] == [("AddV2", "add", "wasm")]
    assert "maxrank:7=true" in problems[0].reason and "wrong answer" in problems[0].reason
    assert not contract.unsupported(_ir_add(DType.FLOAT32, 6), ("cpu", "wasm"))
    assert not contract.unsupported(_ir_add(DType.INT32, 7), ("cpu", "wasm"))


tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.errors import BackendUnsupportedError  # noqa: E402
from test_backend_rewrites_3d import frozen, randn  # noqa: E402


def _rank7_graph(x, b, n, u, v):
    """Rank-7 float ops TF itself runs (its broadcasting collapses them to at most 5 dims), an int32 add, a pad."""
    return {"scaled": (x + b) * 1.5, "product": u * v, "counts": n + n,
            "padded": tf.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 2]])}


def _feeds():
    return {"x": randn(*RANK7), "b": randn(RANK7[-1]),
            "n": np.random.default_rng(1).integers(-5, 5, RANK7).astype(np.int32),
            "u": randn(1, 3, 2, 3, 2, 1, 3), "v": randn(2, 1, 2, 3, 2, 2, 1)}


def _changes(result):
    return {s.name: s.changes for s in result.pass_report.stats}


@pytest.mark.node
def test_rank7_float_ops_are_lowered_for_wasm_and_match_tf(tmp_path, tfjs_runtime):
    from tfjsconv.verify.compare import format_report, verify_model

    feeds = _feeds()
    source, expected = frozen(tmp_path, "rank7", _rank7_graph, feeds, unknown_batch=("x",))
    result = tfjsconv.convert(source, tmp_path / "web", output_node_names=list(expected),
                              target_backends=["cpu", "wasm"])
    assert _changes(result)["binary_rank"] == 3 and _changes(result)["pad_rank"] == 1
    report = verify_model(tmp_path / "web", feeds, expected, backends=("cpu", "wasm"), rtol=1e-5, atol=1e-6)
    assert report.passed, format_report(report)
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}

    cpu_only = tfjsconv.convert(source, tmp_path / "cpu", output_node_names=list(expected), target_backends=["cpu"])
    assert _changes(cpu_only)["binary_rank"] == 0  # gated: cpu computes rank 7 right


@pytest.mark.node
def test_the_wasm_limit_is_real_without_the_rewrite(tmp_path, tfjs_runtime):
    """If TF.js fixes its rank-7 kernels this fails, and the limit and the pass can go."""
    from tfjsconv.verify.compare import verify_model

    feeds = {k: v for k, v in _feeds().items() if k in ("x", "b")}
    source, expected = frozen(tmp_path, "add", lambda x, b: {"y": x + b}, feeds)
    tfjsconv.convert(source, tmp_path / "raw", output_node_names=["y"], skip_op_check=True,
                     skip_passes=["binary_rank"])
    report = verify_model(tmp_path / "raw", feeds, expected, backends=("cpu", "wasm"), rtol=1e-5, atol=1e-6)
    assert {c.backend: c.passed for c in report.comparisons} == {"cpu": True, "wasm": False}


@pytest.mark.node
def test_a_rank7_add_of_two_unknown_batches_is_refused_for_wasm_and_runs_on_cpu(tmp_path, tfjs_runtime):
    """Two unknown batch sizes may or may not broadcast at run time: no exact merge, so a refusal."""
    from tfjsconv.verify.compare import format_report, verify_model

    feeds = {"x": randn(*RANK7), "y": randn(2, 1, 1, 1, 1, 1, 3)}
    source, expected = frozen(tmp_path, "batch", lambda x, y: {"z": (x + y) * 1.5}, feeds, unknown_batch=("x", "y"))
    with pytest.raises(BackendUnsupportedError) as err:
        tfjsconv.convert(source, tmp_path / "refused", output_node_names=["z"], target_backends=["cpu", "wasm"])
    assert {(p.op, p.node, p.backend) for p in err.value.problems} == {("AddV2", "add", "wasm")}  # Mul: lowered
    message = str(err.value)
    assert "maxrank:7=true" in message and "wrong answer" in message and "--target_backends=cpu" in message
    assert not (tmp_path / "refused").exists()

    tfjsconv.convert(source, tmp_path / "cpu", output_node_names=["z"], target_backends=["cpu"])
    report = verify_model(tmp_path / "cpu", feeds, expected, backends=("cpu",), rtol=1e-5, atol=1e-6)
    assert report.passed, format_report(report)


@pytest.mark.node
def test_rank7_transpose_and_adds_are_lowered_for_webgl_and_match_tf_everywhere(tmp_path, browser):
    """webgl throws on rank-7 element-wise ops and transposes: by default they are lowered for all three backends."""
    from tfjsconv.verify.compare import format_report, verify_model

    def graph(x, n):
        return {"moved": tf.transpose(x, [1, 0, 2, 3, 4, 5, 6]) * 2.0, "counts": n + n}

    feeds = {k: v for k, v in _feeds().items() if k in ("x", "n")}
    source, expected = frozen(tmp_path, "webgl", graph, feeds, unknown_batch=("x",))
    result = tfjsconv.convert(source, tmp_path / "web", output_node_names=list(expected))
    assert _changes(result)["transpose_rank"] == 1 and _changes(result)["binary_rank"] == 2
    for backends, session in ((("cpu", "wasm"), None), (("webgl",), browser)):
        report = verify_model(tmp_path / "web", feeds, expected, backends=backends, rtol=1e-5, atol=1e-6,
                              browser_session=session)
        assert report.passed, format_report(report)
        assert {c.backend for c in report.comparisons} == set(backends)

    def reversed_axes(x):  # a full reversal merges nothing: refused for webgl only
        return {"y": tf.transpose(x, [6, 5, 4, 3, 2, 1, 0])}

    source, _ = frozen(tmp_path, "reversed", reversed_axes, {"x": randn(2, 3, 2, 3, 2, 2, 3)})
    with pytest.raises(BackendUnsupportedError) as err:
        tfjsconv.convert(source, tmp_path / "reversed", output_node_names=["y"])
    assert {(p.op, p.backend) for p in err.value.problems} == {("Transpose", "webgl")}
    assert "maxrank:7=true" in str(err.value)


@pytest.mark.node
def test_an_onnx_rank7_add_is_lowered_and_matches_onnxruntime_on_wasm(tmp_path, tfjs_runtime):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    from tfjsconv.verify.compare import format_report, verify_model

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["s"]), helper.make_node("Mul", ["s", "x"], ["z"])], "rank7",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(RANK7)),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [RANK7[-1]])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "rank7.onnx"
    onnx.save(model, path)
    feeds = {"x": randn(*RANK7), "y": randn(RANK7[-1])}
    expected = {"z": ort.InferenceSession(str(path)).run(None, feeds)[0]}
    result = tfjsconv.convert(path, tmp_path / "web", target_backends=["cpu", "wasm"])
    assert _changes(result)["binary_rank"] == 2
    report = verify_model(tmp_path / "web", feeds, expected, backends=("cpu", "wasm"), rtol=1e-5, atol=1e-6)
    assert report.passed, format_report(report)
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}
