"""Session 31 (h2): small honest-output faults left by session 30's review.

* A ``Mean`` that is a graph output: ``remove_identity`` gave ``mean_as_sum``'s division (named exact by its
  ``/exact_special_values`` suffix) the output's name, so the special-values line named a false "RealDiv (webgl)".
  Names carrying a special-values marker are no longer renamed onto outputs (the output Identity stays).
* Provenance of a rewritten ``Mean``: ``graph_edit.rewrite`` listed the Mean's input producer among the rewritten
  node's sources (it no longer read it directly, only through the pass's fresh nodes), so ``verify --trace`` found no
  node for that producer.

Expected values from TF (``tf.function``); converted models run in TF.js cpu and wasm.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfjsconv.dtypes import DType  # noqa: E402
from tfjsconv.ir import Graph  # noqa: E402
from tfjsconv.ops.special_values import GUARDED_SUFFIX, carries_marker  # noqa: E402
from tfjsconv.passes.graph_edit import rewrite  # noqa: E402
from tfjsconv.passes.identity import RemoveIdentities  # noqa: E402

ROW = 7  # a count that is not a power of two: mean_as_sum rewrites it


def _saved_mean_output(folder: Path) -> Path:
    """A SavedModel whose only output is ``reduce_mean(x, -1)`` over rows of 7."""
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": tf.reduce_mean(x, axis=-1)},
                           input_signature=[tf.TensorSpec((None, ROW), tf.float32, name="x")])
    tf.saved_model.save(module, str(folder / "mean_output"), signatures=module.f)
    return folder / "mean_output"


def _nodes(model_dir: Path) -> list[dict]:
    return json.loads((model_dir / "model.json").read_text())["modelTopology"]["node"]


@pytest.mark.parametrize("level", [1, 2])
def test_a_mean_output_names_no_realdiv_and_matches_tf(tmp_path, level, tfjs_runtime):
    """The division keeps its exact name (the output is an Identity of it): no RealDiv in the line, on any target,
    and the output is TF's on cpu and wasm."""
    import tfjsconv
    from tfjsconv.verify.compare import format_report, verify_model

    source = _saved_mean_output(tmp_path)
    result = tfjsconv.convert(source, tmp_path / "out", optimization_level=level)
    line = " ".join(result.notices)
    assert "RealDiv" not in line, line
    divisions = [n for n in _nodes(tmp_path / "out") if n["op"] == "RealDiv"]
    assert len(divisions) == 1 and divisions[0]["name"].endswith(GUARDED_SUFFIX), divisions
    x = np.array([[114.0] * ROW, [0.1] * ROW, np.linspace(-3, 5, ROW)], np.float32)
    expected = {"y": module_output(source, x)}
    report = verify_model(tmp_path / "out", {"x": x}, expected, backends=("cpu", "wasm"), rtol=1e-5, atol=1e-6)
    assert report.passed, format_report(report)


def module_output(source: Path, x: np.ndarray) -> np.ndarray:
    """TF's output ``y`` of the SavedModel at ``source``."""
    return tf.saved_model.load(str(source)).signatures["serving_default"](x=tf.constant(x))["y"].numpy()


def _identity_output_graph(producer_name: str) -> Graph:
    """``y = Identity(RealDiv(x, 3))`` with the division named ``producer_name``."""
    graph = Graph()
    x = graph.placeholder("x", DType.FLOAT32, (None,))
    three = graph.const(np.float32(3.0), name="three", dtype=DType.FLOAT32)
    quotient = graph.add_op("RealDiv", [x, three], {"T": DType.FLOAT32}, name=producer_name, dtype=DType.FLOAT32)
    graph.set_output("y", graph.add_op("Identity", [quotient], {"T": DType.FLOAT32}, name="y", dtype=DType.FLOAT32))
    return graph


def test_remove_identity_keeps_marked_names_and_renames_the_rest():
    """A marked producer keeps its name (the Identity stays); an unmarked one still takes the output's name."""
    marked = _identity_output_graph(f"mean/quotient{GUARDED_SUFFIX}")
    RemoveIdentities().run(marked)
    assert sorted(n.name for n in marked.nodes if n.op != "Const") == sorted(["x", "y", f"mean/quotient{GUARDED_SUFFIX}"])
    plain = _identity_output_graph("mean/quotient")
    RemoveIdentities().run(plain)
    assert sorted(n.name for n in plain.nodes if n.op != "Const") == ["x", "y"]
    assert carries_marker(f"a{GUARDED_SUFFIX}") and not carries_marker("a/exact_special_values/b")


def test_rewrite_does_not_absorb_a_producer_its_fresh_nodes_still_read():
    """``Mean(x)`` → ``Identity(RealDiv(Sum(Mul(x, s)), n))``: the Mean's node keeps its own source only, and the
    fresh nodes take it; a producer no longer read at all (fusion) is still absorbed."""
    graph = Graph()
    x = graph.placeholder("x", DType.FLOAT32, (2, ROW))
    scaled_input = graph.add_op("Mul", [x, graph.const(np.float32(3), name="k")], {"T": DType.FLOAT32}, name="mul",
                                dtype=DType.FLOAT32)
    axis = graph.const(np.int32(1), name="axis")
    mean = graph.add_op("Mean", [scaled_input, axis], {"T": DType.FLOAT32}, name="pool", dtype=DType.FLOAT32)
    for node in graph.nodes:
        node.provenance = (node.name,)
    share = graph.add_op("Mul", [scaled_input, graph.const(np.float32(0.25), name="s")], {"T": DType.FLOAT32},
                         name="pool/share", dtype=DType.FLOAT32)
    total = graph.add_op("Sum", [share, axis], {"T": DType.FLOAT32}, name="pool/sum", dtype=DType.FLOAT32)
    rewrite(mean.producer, "RealDiv", [total, graph.const(np.float32(ROW / 4), name="n")], {"T": DType.FLOAT32})
    assert mean.producer.provenance == ("pool",)
    assert share.producer.provenance == total.producer.provenance == ("pool",)
    assert scaled_input.producer.provenance == ("mul",)
    fused = graph.add_op("Relu", [scaled_input], {"T": DType.FLOAT32}, name="act", dtype=DType.FLOAT32)
    fused.producer.provenance = ("act",)
    rewrite(fused.producer, "Relu", [x], {"T": DType.FLOAT32})
    assert fused.producer.provenance == ("mul", "act")


def _saved_sine(folder: Path) -> Path:
    """A SavedModel whose only output is ``sin(x)``."""
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": tf.sin(x)}, input_signature=[tf.TensorSpec((None, 3), tf.float32, name="x")])
    tf.saved_model.save(module, str(folder / "sine"), signatures=module.f)
    return folder / "sine"


def test_the_special_values_line_names_sine_arguments_not_nan(tmp_path):
    """wasm's ``sin(-1e30)`` is 1.86 where TF gives 1.87 (found by tf_random_graphs seed 3105 --wide #6, h6) and
    webgl's GLSL sine is ~2e-4 off everywhere: the line said "NaN/Inf or int32 past 2^24", which is neither."""
    import tfjsconv

    source = _saved_sine(tmp_path)
    wasm = " ".join(tfjsconv.convert(source, tmp_path / "wasm", target_backends=["wasm"]).notices)
    # session 32 (h2b): wasm's sine is already 7e-5 off at 1e12 (1e-5 from 1.5e11), not only at ±1e30
    assert "large arguments (past ±1.5e11)" in wasm and "NaN/Inf" not in wasm and "Sin (wasm)" in wasm, wasm
    webgl = " ".join(tfjsconv.convert(source, tmp_path / "webgl", target_backends=["webgl"]).notices)
    assert "any value (webgl's GLSL kernels" in webgl and "NaN/Inf" not in webgl, webgl


def test_trace_after_batchnorm_folding_pairs_the_norm_not_the_scaled_conv(tmp_path, tfjs_runtime, capsys):
    """Review r2: ``fold_batchnorm`` scales the conv's filter in place, but the conv kept naming only itself, so
    ``verify --trace`` compared the scaled conv with TF's conv (0.45 off) and failed a correct model. The conv now
    names the norm too: the norm is paired with the BiasAdd that computes it, the conv with nothing."""
    from tfjsconv.cli import main

    rng = np.random.default_rng(5)
    filt = tf.constant(rng.standard_normal((3, 3, 2, 4)).astype(np.float32))
    scale, offset = (tf.constant(rng.random(4).astype(np.float32) + 0.5) for _ in range(2))
    mean, var = tf.constant(rng.standard_normal(4).astype(np.float32)), tf.constant(rng.random(4).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((None, 6, 6, 2), tf.float32, name="x")])
    def f(x):
        conv = tf.nn.conv2d(x, filt, 1, "SAME", name="conv")
        bn, _, _ = tf.compat.v1.nn.fused_batch_norm(conv, scale, offset, mean, var + 0.5, is_training=False, name="bn")
        return {"y": tf.nn.relu6(bn, name="act") * 3.0}

    module = tf.Module()
    module.f = f
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=f)
    np.savez(tmp_path / "in.npz", x=rng.standard_normal((2, 6, 6, 2)).astype(np.float32))
    assert main(["convert", str(tmp_path / "sm"), str(tmp_path / "out"), "--optimization_level", "1",
                 "--keep_provenance", "true"]) == 0
    code = main(["verify", str(tmp_path / "sm"), str(tmp_path / "out"), "--inputs", str(tmp_path / "in.npz"),
                 "--trace", "--backend", "cpu"])
    out = capsys.readouterr().out
    assert code == 0 and "FAIL" not in out, out
    assert " BiasAdd " in out and "bn " in out, out
