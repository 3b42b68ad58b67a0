"""The TensorFlow frontends' rewrites as frontend passes: named, ordered, in --verbose and --skip_passes.

A frozen GraphDef with a NoOp barrier (a control edge), a ``Softsign`` (no TF.js op) and outputs read
through an ``IdentityN`` exercises every one of them; its expected values come from TF itself.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfjsconv
from tfjsconv.errors import PluginError, UsageError
from tfjsconv.hookspecs import hookimpl
from tfjsconv.passes import Pass, PassResult
from tfjsconv.plugin_manager import PluginManager

pytestmark = pytest.mark.node

#: their order (tests/test_pass_ordering.py checks the declarations give it)
FRONTEND_ORDER = ["drop_control_edges", "tf_op_rewrites", "remove_no_ops", "bypass_constant_enters",
                  "unwrap_output_identity_n"]
OUTPUTS = ["outs:0", "outs:1"]
RTOL = 1e-5


@pytest.fixture(scope="module")
def frozen_pb(tmp_path_factory) -> Path:
    tf = pytest.importorskip("tensorflow")
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (2, 3), name="x")
        barrier = tf.no_op(name="barrier")
        with tf.control_dependencies([barrier]):
            act = tf.math.softsign(x, name="act")
        doubled = tf.multiply(x, 2.0, name="doubled")
        tf.identity_n([act, doubled], name="outs")
    path = tmp_path_factory.mktemp("frontend_passes") / "frozen.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


@pytest.fixture(scope="module")
def inputs_and_expected(frozen_pb):
    from tfjsconv.plugins.savedmodel.frozen_model import run_frozen_model

    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32) * 3
    return {"x": x}, run_frozen_model(frozen_pb, {"x": x}, OUTPUTS)


def _convert(source: Path, out: Path, **options):
    return tfjsconv.convert(source, out, output_node_names=OUTPUTS, **options)


def _check_against_tf(out: Path, inputs_and_expected) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    inputs, expected = inputs_and_expected
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    assert sorted(names) == sorted(expected)
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=1e-6, quiet=True)
    assert report.passed, format_report(report)


def _stats(result) -> dict:
    return {s.name: s for s in result.pass_report.stats}


def test_verbose_lists_each_frontend_pass_and_the_model_matches_tf(frozen_pb, inputs_and_expected, tmp_path,
                                                                    tfjs_runtime):
    from tfjsconv.cli.report import format_conversion

    result = _convert(frozen_pb, tmp_path / "m", optimization_level=0)
    stats = _stats(result)
    ran = [s.name for s in result.pass_report.stats]
    assert ran[:len(FRONTEND_ORDER)] == FRONTEND_ORDER  # listed first, as they ran
    assert stats["drop_control_edges"].counts == {"dropped": 1}
    assert stats["tf_op_rewrites"].counts == {"Softsign": 1}
    assert stats["remove_no_ops"].changes == 1
    assert stats["unwrap_output_identity_n"].changes == 2
    assert not {"Softsign", "NoOp", "IdentityN"} & set(result.op_histogram)
    text = format_conversion(result, verbose=True)
    row = next(line for line in text.splitlines() if line.startswith("tf_op_rewrites"))
    assert "Softsign=1" in row
    _check_against_tf(tmp_path / "m", inputs_and_expected)


def test_skipping_an_optional_frontend_pass_really_skips_it(frozen_pb, inputs_and_expected, tmp_path,
                                                            tfjs_runtime):
    result = _convert(frozen_pb, tmp_path / "m", skip_passes=["unwrap_output_identity_n", "remove_no_ops"])
    stats = _stats(result)
    assert "unwrap_output_identity_n" not in stats and "remove_no_ops" not in stats
    assert stats["tf_op_rewrites"].changes == 1
    assert result.op_histogram.get("IdentityN") == 1  # the outputs are still read through it
    _check_against_tf(tmp_path / "m", inputs_and_expected)


def test_cli_verbose_prints_the_frontend_passes_and_refuses_skipping_a_required_one(frozen_pb, tmp_path, capsys):
    from tfjsconv.cli import main

    outputs = f"--output_node_names={','.join(OUTPUTS)}"
    code = main(["convert", str(frozen_pb), str(tmp_path / "m"), outputs, "--verbose"])
    out = capsys.readouterr().out
    assert code in (0, None), out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in FRONTEND_ORDER}
    assert "Softsign=1" in rows["tf_op_rewrites"] and "dropped=1" in rows["drop_control_edges"]
    assert rows["remove_no_ops"].split()[1:3] == ["1", "1"]  # runs, changes
    code = main(["convert", str(frozen_pb), str(tmp_path / "m2"), outputs, "--skip_passes=tf_op_rewrites"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot skip required pass(es): tf_op_rewrites" in err
    assert not (tmp_path / "m2").exists()


def test_a_required_frontend_pass_cannot_be_skipped(frozen_pb, tmp_path):
    with pytest.raises(UsageError, match="cannot skip required pass.*: bypass_constant_enters, drop_control_edges"):
        _convert(frozen_pb, tmp_path / "m", skip_passes=["drop_control_edges", "bypass_constant_enters", "cse"])
    assert not (tmp_path / "m").exists()


class CountingNoOps(Pass):
    """A third party's replacement for remove_no_ops: counts the NoOps it sees, removes nothing."""

    name, level, stage, after = "remove_no_ops", 0, "frontend", ("tf_op_rewrites",)

    def run(self, graph):
        return PassResult.from_counts(seen=sum(n.op == "NoOp" for n in graph))


def _plugin(override: bool):
    class Plugin:
        @hookimpl
        def register_passes(self, register):
            register(CountingNoOps(), override=override)

    return Plugin()


def test_a_third_party_pass_named_like_a_frontend_pass_needs_override(frozen_pb, tmp_path):
    pm = PluginManager()
    pm.register(_plugin(override=False), name="thirdparty")
    both = r"plugins '(thirdparty|savedmodel)' and '(savedmodel|thirdparty)' both register pass 'remove_no_ops'"
    with pytest.raises(PluginError, match=both):
        pm.registry.passes
    pm = PluginManager()
    pm.register(_plugin(override=True), name="thirdparty")
    result = tfjsconv.convert(frozen_pb, tmp_path / "m", output_node_names=OUTPUTS, plugin_manager=pm)
    assert _stats(result)["remove_no_ops"].counts == {"seen": 1}  # the replacement ran, the built-in did not


def test_loop_and_branch_bodies_go_through_the_same_passes(tmp_path, tfjs_runtime):
    """The TF-free reader rewrites each While/If body with the registered passes before lowering it."""
    import tf_models
    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import format_report, verify_model
    from tfjsconv.verify.inputs import input_specs, random_inputs

    source = tf_models.control_flow(tmp_path / "loop_cond")
    result = tfjsconv.convert(source, tmp_path / "m", skip_passes=["unwrap_output_identity_n"])
    assert any("without TensorFlow" in line for line in result.details)
    stats = _stats(result)
    assert stats["drop_control_edges"].runs >= 3  # the main graph, the loop's cond and body, the branches
    assert stats["tf_op_rewrites"].runs == stats["drop_control_edges"].runs
    assert stats["bypass_constant_enters"].runs == stats["drop_control_edges"].runs + 1  # again after lowering
    assert "unwrap_output_identity_n" not in stats
    inputs = random_inputs(input_specs(tmp_path / "m"), seed=4, dim=3)
    options = ConvertOptions()
    options.extra["model_dir"] = str(tmp_path / "m")
    expected = get_plugin_manager().registry.frontends["tf_saved_model"].reference(source, inputs, options)
    report = verify_model(tmp_path / "m", inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=1e-6,
                          quiet=True)
    assert report.passed, format_report(report)


def test_a_v1_cond_with_constant_branches_takes_the_branch_tf_takes(tmp_path, tfjs_runtime):
    """TF1 ``tf.cond`` places a branch's constants by a control edge from its pivot; once
    drop_control_edges removes it, TF.js's Merge saw both constants alive and returned the first."""
    tf = pytest.importorskip("tensorflow")
    from tfjsconv.plugins.savedmodel.frozen_model import run_frozen_model
    from tfjsconv.verify.compare import format_report, verify_model

    tf.compat.v1.disable_control_flow_v2()
    try:
        graph = tf.Graph()
        with graph.as_default():
            x = tf.compat.v1.placeholder(tf.float32, (3,), name="x")
            y = tf.compat.v1.cond(tf.reduce_sum(x) > 0, lambda: tf.constant([1.0, 2.0, 3.0]),
                                  lambda: tf.constant([7.0, 8.0, 9.0]))
            tf.identity(y, name="out")
    finally:
        tf.compat.v1.enable_control_flow_v2()
    assert "Merge" in {n.op for n in graph.as_graph_def().node}
    source = tmp_path / "cond.pb"
    source.write_bytes(graph.as_graph_def().SerializeToString())
    for level in (0, 2):
        out = tmp_path / f"m{level}"
        result = tfjsconv.convert(source, out, output_node_names=["out"], optimization_level=level)
        for sign in (1.0, -1.0):
            inputs = {"x": np.array([1.0, 2.0, 3.0], np.float32) * sign}
            expected = run_frozen_model(source, inputs, ["out"])
            report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=1e-6, quiet=True)
            assert report.passed, format_report(report)
        assert _stats(result)["drop_control_edges"].counts.get("branch_constant_gates") == 2


def test_grappler_lowered_conds_with_constant_branches_match_tf(tmp_path, tfjs_runtime):
    """The same with ``--loader=tensorflow``: Grappler lowers a TF2 ``tf.cond`` (also one in a loop body)
    into Switch/Merge whose branch constants hang on the pivot by a control edge."""
    tf = pytest.importorskip("tensorflow")
    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import format_report, verify_model

    class Branches(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([3], tf.float32, name="x")])
        def __call__(self, x):
            y = tf.cond(tf.reduce_sum(x) > 0, lambda: tf.constant([1.0, 2.0, 3.0]), lambda: tf.constant([7.0, 8.0, 9.0]))

            def body(i, acc):
                return i + 1, acc + tf.cond(tf.equal(i % 2, 0), lambda: tf.constant(1.0), lambda: tf.constant(10.0))

            return {"y": y, "z": tf.while_loop(lambda i, acc: i < 3, body, [tf.constant(0), x])[1]}

    source = tmp_path / "branches"
    tf.saved_model.save(Branches(), str(source))
    result = tfjsconv.convert(source, tmp_path / "m", loader="tensorflow")
    options = ConvertOptions()
    options.extra["model_dir"] = str(tmp_path / "m")
    for sign in (1.0, -1.0):
        inputs = {"x": np.array([1.0, 2.0, 3.0], np.float32) * sign}
        expected = get_plugin_manager().registry.frontends["tf_saved_model"].reference(source, inputs, options)
        report = verify_model(tmp_path / "m", inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=1e-6,
                              quiet=True)
        assert report.passed, format_report(report)
    assert _stats(result)["drop_control_edges"].counts.get("branch_constant_gates", 0) >= 4
