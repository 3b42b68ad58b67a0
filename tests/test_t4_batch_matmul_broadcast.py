"""BatchMatMul over batch dims of unknown size gives the source framework's values on cpu, wasm and webgl.

TF.js 4.22's BatchMatMul reads batch ``i`` of each operand at ``i mod`` its flattened batch size: a
``(2,1,3,4,5)`` by ``(1,2,3,5,3)`` product of two ``[None]*5`` operands came back with 72 values for a
``[2,2,3,4,3]`` shape. ``batch_matmul_broadcast`` now counts an unknown size as whatever makes an
operand wrong: an operand with a dim that may be 1 after one that may be larger than 1 is broadcast to
the result's batch at run time, by adding zeros of the target shape (TF.js's ``broadcastTo`` leaves a 1
that should become 0 as it is: an empty batch against a batch of 1 went wrong that way). Rank-3 operands
and ``[B, H, T, D]`` with a static ``H`` (attention) stay untouched. Expected values are TensorFlow's for
the same SavedModel (onnxruntime's for the ONNX ``MatMul``, Keras's for ``keras.ops.matmul``), fed 1s, 0s,
equal batches and both operands broadcasting in different dims.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402
from tfjsconv.passes import batch_matmul_broadcast  # noqa: E402
from tfjsconv.plugin_manager import get_plugin_manager  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402
from tfjsconv.verify.run import TfjsRunError  # noqa: E402

pytestmark = pytest.mark.node


def _unknown(rank: int, name: str) -> tf.TensorSpec:
    return tf.TensorSpec([None] * rank, tf.float32, name=name)


class Rank5(tf.Module):
    """RT3's case: both operands ``[None]*5`` (webgl runs no rank-5 BroadcastTo: cpu and wasm only)."""

    @tf.function(input_signature=[_unknown(5, "a"), _unknown(5, "b")])
    def __call__(self, a, b):
        return {"rank5": tf.matmul(a, b)}


class Rank4(tf.Module):
    """Rank-4 operands (one transposed), rank 4 by rank 3, and an attention block ``[B, 2, T, 3]``."""

    @tf.function(input_signature=[_unknown(4, "a"), _unknown(4, "b"), _unknown(4, "c"), _unknown(3, "d"),
                                  tf.TensorSpec([None, 2, None, 3], tf.float32, name="q"),
                                  tf.TensorSpec([None, 2, None, 3], tf.float32, name="k")])
    def __call__(self, a, b, c, d, q, k):
        scores = tf.nn.softmax(tf.matmul(q, k, transpose_b=True), axis=-1)
        return {"rank4": tf.matmul(a, b, transpose_b=True), "ranks": tf.matmul(c, d),
                "attention": tf.matmul(scores, k)}


def _randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


#: Per case: the shapes fed (``a @ b`` of rank 5; ``a @ b^T``, ``c @ d`` and the attention of rank 4).
SHAPES5 = {
    "rt3": ((2, 1, 3, 4, 5), (1, 2, 3, 5, 3)),
    "equal": ((2, 3, 1, 2, 4), (2, 3, 1, 4, 2)),
    "ones": ((1, 1, 1, 3, 4), (2, 3, 2, 4, 2)),
    "empty_batch_against_1": ((0, 1, 3, 4, 5), (1, 2, 3, 5, 3)),
    "empty_inner_batch": ((3, 1, 0, 4, 5), (1, 2, 1, 5, 3)),
}
SHAPES4 = {
    "rt3": ((2, 1, 3, 4), (1, 3, 5, 4), (2, 1, 3, 4), (3, 4, 2), 2, 3),
    "equal": ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 4, 5), (3, 5, 2), 2, 2),
    "ones": ((1, 1, 3, 4), (2, 3, 5, 4), (1, 1, 2, 3), (4, 3, 2), 1, 4),
    # b's batch is empty, a's a 1 there; c's 1 meets d's empty batch
    "empty_batch_against_1": ((1, 2, 3, 4), (0, 1, 5, 4), (2, 1, 2, 3), (0, 3, 2), 0, 3),
    "empty_both": ((2, 0, 3, 4), (2, 1, 5, 4), (0, 1, 2, 3), (0, 3, 2), 3, 1),
}


def _feeds5(case: str) -> dict:
    rng = np.random.default_rng(5)
    a, b = SHAPES5[case]
    return {"a": _randn(rng, *a), "b": _randn(rng, *b)}


def _feeds4(case: str) -> dict:
    rng = np.random.default_rng(4)
    a, b, c, d, batch, steps = SHAPES4[case]
    return {"a": _randn(rng, *a), "b": _randn(rng, *b), "c": _randn(rng, *c), "d": _randn(rng, *d),
            "q": _randn(rng, batch, 2, steps, 3), "k": _randn(rng, batch, 2, steps, 3)}


def _convert(module: tf.Module, folder, backends: list[str]):
    saved = folder / "saved"
    tf.saved_model.save(module, str(saved))
    out = folder / "web"
    result = tfjsconv.convert(saved, out, target_backends=backends)
    return saved, result, out


@pytest.fixture(scope="module")
def rank5(tmp_path_factory, tfjs_runtime):
    return _convert(Rank5(), tmp_path_factory.mktemp("rank5"), ["cpu", "wasm"])


@pytest.fixture(scope="module")
def rank4(tmp_path_factory, tfjs_runtime):
    return _convert(Rank4(), tmp_path_factory.mktemp("rank4"), ["cpu", "wasm", "webgl"])


def tf_outputs(saved, result, out, feeds: dict) -> dict:
    options = ConvertOptions.from_kwargs()
    options.extra["model_dir"] = str(out)
    return get_plugin_manager().registry.frontends[result.input_format].reference(saved, feeds, options)


def _check(converted, feeds: dict, backends=("cpu", "wasm"), **kwargs) -> None:
    saved, result, out = converted
    expected = tf_outputs(saved, result, out, feeds)
    report = verify_model(out, feeds, expected, backends=backends, rtol=1e-5, atol=0.0, **kwargs)
    assert report.passed, format_report(report)


@pytest.mark.parametrize("case", sorted(SHAPES5))
def test_rank5_unknown_batches_match_tf(case, rank5):
    _check(rank5, _feeds5(case))


@pytest.mark.parametrize("case", sorted(SHAPES4))
def test_rank4_unknown_batches_match_tf(case, rank4):
    _check(rank4, _feeds4(case))


def test_rank4_unknown_batches_on_webgl(rank4, browser):
    for case in ("rt3", "ones", "empty_batch_against_1"):
        _check(rank4, _feeds4(case), backends=("webgl",), browser_session=browser)


def test_only_operands_that_can_be_misread_are_broadcast(rank4, rank5):
    """a, b (rank 4) and c (against d's batch) are broadcast; d (rank 3: its batch is a suffix of the
    result's) and the attention's ``[B, 2, T, 3]`` operands are not."""
    for (_, result, out), count in ((rank5, 1), (rank4, 2)):
        stats = {s.name: s.changes for s in result.pass_report.stats}
        assert stats["batch_matmul_broadcast"] == count
    nodes = json.loads((rank4[2] / "model.json").read_text())["modelTopology"]["node"]
    broadcasts = [n for n in nodes if n["name"].rsplit("/", 1)[-1] in ("a_broadcast", "b_broadcast")]
    assert sorted(n["name"].rsplit("/", 1)[-1] for n in broadcasts) == ["a_broadcast", "a_broadcast", "b_broadcast"]
    assert {n["op"] for n in broadcasts} == {"AddV2"}  # run-time targets: zeros added, not BroadcastTo
    assert "BroadcastTo" not in {n["op"] for n in nodes}


def test_the_old_criterion_is_wrong_for_unknown_batches(tmp_path, tfjs_runtime, monkeypatch):
    """Counting unknown sizes as matching everything (the criterion before) broadcasts nothing here: cpu
    returns too few values, so the tests above can fail."""
    def unknown_matches_all(batch: list, other: list) -> bool:
        full = batch_matmul_broadcast.result_batch(batch, other)
        k = 0
        while k < len(batch) and batch[k] == 1:
            k += 1
        return any(d == 1 and f != 1 for d, f in zip(batch[k:], full[k:]))

    monkeypatch.setattr(batch_matmul_broadcast, "needs_broadcast", unknown_matches_all)
    converted = _convert(Rank5(), tmp_path, ["cpu"])
    assert {s.name: s.changes for s in converted[1].pass_report.stats}["batch_matmul_broadcast"] == 0
    with pytest.raises((AssertionError, TfjsRunError), match="72 elements, expected 144|rank5"):
        _check(converted, _feeds5("rt3"), backends=("cpu",))


@pytest.mark.parametrize(("batch", "other", "expected"), [
    ([None, None, None], [None, None, None], True),   # a 1 after a dim larger than 1 may meet a 2
    ([None], [None], False),                          # one batch dim: a suffix of the result's
    ([None, 2], [None, 2], False),                    # [B, H] with a static H
    ([1, None], [None, None], False),                 # a leading 1 then its first dim
    ([None, None], [1, 1], False),                    # against a weight: the result's batch is its own
    ([2, 1], [2, 3], True), ([None, 1], [None, None], True), ([2, 1], [2, 0], True),
    ([None, 1], [None, 1], False),                    # the result's dim is 1 too
    ([0, 1], [2, 3], False),                          # no batch at all to misread
    (["n", "h"], ["n", "h"], True),                   # symbolic names count as unknown
])
def test_criterion(batch, other, expected):
    assert batch_matmul_broadcast.needs_broadcast(batch, other) is expected


ONNX_FEEDS = {"rt3": ((2, 1, 3, 4), (1, 3, 4, 2)), "equal": ((2, 3, 3, 4), (2, 3, 4, 2)),
              "empty_batch_against_1": ((1, 2, 3, 4), (0, 1, 4, 2)), "ones": ((1, 1, 3, 4), (2, 2, 4, 2))}


@pytest.fixture(scope="module")
def onnx_matmul(tmp_path_factory, tfjs_runtime):
    pytest.importorskip("onnxruntime")
    helper = pytest.importorskip("onnx.helper")
    from onnx import TensorProto
    from onnx_models import onnx_model

    folder = tmp_path_factory.mktemp("onnx")
    inputs = {"a": (TensorProto.FLOAT, ["a0", "a1", 3, 4]), "b": (TensorProto.FLOAT, ["b0", "b1", 4, 2])}
    path = onnx_model(folder / "model.onnx", [helper.make_node("MatMul", ["a", "b"], ["y"])], inputs, ["y"],
                      opset=13, name="t4")
    result = tfjsconv.convert(path, folder / "web")
    return path, result, folder / "web"


@pytest.mark.parametrize("case", sorted(ONNX_FEEDS))
def test_onnx_matmul_over_unknown_batches_matches_onnxruntime(case, onnx_matmul):
    """The ONNX frontend's MatMul applies the same criterion and the same zero-safe run-time broadcast (the
    core pass then leaves its operands alone: no second broadcast)."""
    from onnx_models import matches_onnxruntime

    path, result, out = onnx_matmul
    assert {s.name: s.changes for s in result.pass_report.stats}["batch_matmul_broadcast"] == 0
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    assert sorted(n["name"].rsplit("/", 1)[-1] for n in nodes if n["op"] == "AddV2") == ["a_broadcast", "b_broadcast"]
    rng = np.random.default_rng(3)
    a, b = ONNX_FEEDS[case]
    matches_onnxruntime(path, {"a": _randn(rng, *a), "b": _randn(rng, *b)}, out, convert=False,
                        backends=("cpu", "wasm"))


KERAS_FEEDS = {"second_batch_dim_1": ((2, 1, 3, 4), (2, 3, 4, 5)), "equal": ((2, 2, 3, 4), (2, 2, 4, 5)),
               "empty_against_1": ((2, 0, 3, 4), (2, 1, 4, 5))}


@pytest.fixture(scope="module")
def keras_matmul(tmp_path_factory, tfjs_runtime):
    """``keras.ops.matmul`` of two inputs with an unknown second dim: the lowering's BatchMatMulV2 meets the pass."""
    keras = pytest.importorskip("keras")
    a, b = keras.Input((None, 3, 4), name="a"), keras.Input((None, 4, 5), name="b")
    model = keras.Model([a, b], keras.ops.matmul(a, b))
    folder = tmp_path_factory.mktemp("keras")
    model.save(folder / "model.keras")
    result = tfjsconv.convert(folder / "model.keras", folder / "web", output_format="tfjs_graph_model")
    return model, result, folder / "web"


@pytest.mark.parametrize("case", sorted(KERAS_FEEDS))
def test_keras_matmul_over_unknown_batches_matches_keras(case, keras_matmul):
    model, result, out = keras_matmul
    assert {s.name: s.changes for s in result.pass_report.stats}["batch_matmul_broadcast"] == 1
    rng = np.random.default_rng(6)
    feeds = {name: _randn(rng, *shape) for name, shape in zip("ab", KERAS_FEEDS[case], strict=True)}
    expected = np.asarray(model([feeds["a"], feeds["b"]]))
    signature = json.loads((out / "model.json").read_text())["signature"]
    report = verify_model(out, feeds, {next(iter(signature["outputs"])): expected}, backends=("cpu", "wasm"),
                          rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)


class Chained(tf.Module):
    """A matmul whose operand is another broadcast matmul's output, and an int32 matmul (TF has one)."""

    @tf.function(input_signature=[_unknown(4, "a"), _unknown(4, "b"), _unknown(4, "c"),
                                  tf.TensorSpec([None] * 4, tf.int32, name="i"),
                                  tf.TensorSpec([None] * 4, tf.int32, name="j")])
    def __call__(self, a, b, c, i, j):
        return {"chained": tf.matmul(tf.matmul(a, b), c), "int32": tf.matmul(i, j, adjoint_b=True)}


def test_the_output_of_a_broadcast_matmul_is_still_checked(tmp_path, tfjs_runtime):
    """The pass marked handled matmuls in the set of broadcast operands: ``(a @ b) @ c`` then skipped its
    first operand, a ``(2,1,3,5)`` product read modulo 2 against ``c``'s ``(2,3)`` batch (RT4)."""
    converted = _convert(Chained(), tmp_path, ["cpu"])  # wasm runs no int32 BatchMatMul
    rng = np.random.default_rng(7)
    feeds = {"a": _randn(rng, 2, 1, 3, 4), "b": _randn(rng, 2, 1, 4, 5), "c": _randn(rng, 2, 3, 5, 2),
             "i": rng.integers(-5, 6, (3, 1, 2, 4)).astype(np.int32),
             "j": rng.integers(-5, 6, (1, 2, 3, 4)).astype(np.int32)}
    _check(converted, feeds, backends=("cpu",))
