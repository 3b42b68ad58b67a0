"""Control flow on the TF-free path, beyond the default lowering (issue 15): ``--control_flow_v2``,
functional control flow in a frozen ``.pb``, and variable writes in loops.

TensorFlow builds the models and computes the references in this process; each conversion runs in a
subprocess where importing ``tensorflow``, ``keras`` or ``tf_keras`` fails (``convert_without_tf``). The
converted models run in real TF.js (cpu, wasm) on several loop trip counts and branch indices, and their op
histograms are compared with ``--loader=tensorflow``'s.
"""
from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from test_savedmodel_control_flow import nested_loops  # noqa: E402
from test_savedmodel_tf_free import convert_without_tf  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402

pytestmark = pytest.mark.node

RTOL, ATOL = 1e-5, 0.0
FUNCTIONAL = {"While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase"}
#: (trip count n, flag, branch index k) inputs; k = 5 and -1 are out of range: the last branch runs.
RUNS = [(0, True, 0), (1, False, 1), (4, True, 2), (3, False, 5), (2, True, -1)]


def _loops_and_branches(w, b, scale):
    """``y``: a loop run ``n`` times over a captured matrix; ``z``: a ``tf.cond`` on ``flag``; ``c``: a
    ``tf.switch_case`` on ``k`` (an index out of range takes the last branch)."""
    import tensorflow as tf

    def run(x, n, flag, k):
        _, y = tf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, tf.tanh(tf.matmul(a, w) + b)),
                             [tf.constant(0), x])
        z = tf.cond(flag, lambda: y * scale, lambda: y - b)
        c = tf.switch_case(k, [lambda: z + 1.0, lambda: tf.nn.relu(z) * scale, lambda: -z])
        return tf.identity(y, name="y"), tf.identity(z, name="z"), tf.identity(c, name="c")

    return run


def _specs():
    import tensorflow as tf

    return [tf.TensorSpec([None, 3], tf.float32, name="x"), tf.TensorSpec([], tf.int32, name="n"),
            tf.TensorSpec([], tf.bool, name="flag"), tf.TensorSpec([], tf.int32, name="k")]


def loops_model(path: Path) -> Path:
    """A SavedModel: ``serving_default`` (:func:`_loops_and_branches`), ``case_in_loop`` (a ``tf.switch_case``
    inside a loop body), ``counter`` (a variable assigned in the call, then incremented in a loop) and
    ``written`` (a loop body writing the value it computes into a TensorArray)."""
    import tensorflow as tf

    class Loops(tf.Module):
        def __init__(self):
            super().__init__()
            rng = np.random.default_rng(11)
            self.w = tf.Variable(rng.normal(size=(3, 3)).astype(np.float32) * 0.6)
            self.b = tf.Variable(rng.normal(size=(3,)).astype(np.float32))
            self.scale = tf.Variable(np.float32(1.75))
            self.total = tf.Variable(0.0)
            self.run = _loops_and_branches(self.w, self.b, self.scale)

        @tf.function(input_signature=_specs())
        def __call__(self, x, n, flag, k):
            y, z, c = self.run(x, n, flag, k)
            return {"y": y, "z": z, "c": c}

        @tf.function(input_signature=_specs()[:2] + _specs()[3:])
        def case_in_loop(self, x, n, k):
            step = lambda i, a: (i + 1, tf.switch_case(k, [lambda: a * self.scale, lambda: a - 1.0]))  # noqa: E731
            return {"y": tf.while_loop(lambda i, a: i < n, step, [tf.constant(0), x])[1]}

        @tf.function(input_signature=_specs()[:2])
        def counter(self, x, n):
            self.total.assign(0.0)

            def body(i, a):
                self.total.assign_add(1.0)
                return i + 1, a + self.total
            y = tf.while_loop(lambda i, a: i < n, body, [tf.constant(0), x])[1]
            return {"y": y, "count": self.total.read_value()}

        @tf.function(input_signature=_specs()[:2])
        def written(self, x, n):
            def body(i, t):
                return i + 1, t.write(i, tf.matmul(tf.tanh(x * tf.cast(i + 1, tf.float32)), self.w))
            empty = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None, 3])
            return {"y": tf.while_loop(lambda i, t: i < n, body, [tf.constant(0), empty])[1].stack()}

    module = Loops()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__,
                                                       "case_in_loop": module.case_in_loop,
                                                       "counter": module.counter, "written": module.written})
    return path


def frozen_loops(path: Path) -> Path:
    """:func:`_loops_and_branches` frozen with its While/If/Case kept functional (``lower_control_flow=False``)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    rng = np.random.default_rng(12)
    w = tf.Variable(rng.normal(size=(3, 3)).astype(np.float32) * 0.6)
    b = tf.Variable(rng.normal(size=(3,)).astype(np.float32))
    scale = tf.Variable(np.float32(0.5))
    f = tf.function(_loops_and_branches(w, b, scale), input_signature=_specs())
    frozen = convert_variables_to_constants_v2(f.get_concrete_function(), lower_control_flow=False)
    graph_def = frozen.graph.as_graph_def()
    assert {n.op for n in graph_def.node} & {"While", "StatelessWhile"}, "the test needs functional control flow"
    path.write_bytes(graph_def.SerializeToString())
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf_free_control_flow_more")
    return {"loops": loops_model(root / "loops"), "frozen": frozen_loops(root / "frozen.pb"),
            "nested": nested_loops(root / "nested")}


def _doc(out: Path) -> dict:
    return json.loads((out / "model.json").read_text())


def _histogram(out: Path) -> collections.Counter:
    return collections.Counter(n["op"] for n in _doc(out)["modelTopology"]["node"])


def _library_sizes(out: Path) -> list[int]:
    return sorted(len(f.get("nodeDef", [])) for f in _doc(out)["modelTopology"].get("library", {}).get("function", []))


def _verify(source: Path, out: Path, fmt: str, options: ConvertOptions, inputs: dict) -> dict:
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import format_report, verify_model

    options.extra["model_dir"] = str(out)
    expected = get_plugin_manager().registry.frontends[fmt].reference(source, inputs, options)
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL, quiet=True)
    assert report.passed, format_report(report)
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}
    return expected


def _inputs(seed: int, n: int, flag: bool, k: int) -> dict[str, np.ndarray]:
    x = np.random.default_rng(seed).normal(size=(2, 3)).astype(np.float32)
    return {"x": x, "n": np.asarray(n, np.int32), "flag": np.asarray(flag), "k": np.asarray(k, np.int32)}


def test_control_flow_v2_keeps_while_and_if_as_functions_like_tf(models, tmp_path, tfjs_runtime):
    """While/If stay functional, their bodies in ``library``; the Case (TF.js has none) is lowered as the
    TF path does; same main-graph histogram as ``--loader=tensorflow --control_flow_v2``, no bigger functions."""
    source, out = models["loops"], tmp_path / "free"
    run = convert_without_tf(str(source), str(out), "--control_flow_v2")
    assert run.returncode == 0, run.stderr
    ops = _histogram(out)
    assert ops["While"] + ops["StatelessWhile"] == 1 and ops["If"] + ops["StatelessIf"] == 1
    assert not ops.keys() & {"Case", "StatelessCase"} and ops["Merge"] == 1
    for seed, (n, flag, k) in enumerate(RUNS):
        _verify(source, out, "tf_saved_model", ConvertOptions.from_kwargs(control_flow_v2=True),
                _inputs(seed, n, flag, k))
    tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow", control_flow_v2=True)
    assert ops == _histogram(tmp_path / "tf")
    ours, theirs = _library_sizes(out), _library_sizes(tmp_path / "tf")
    assert len(ours) == len(theirs) and sum(ours) <= sum(theirs), (ours, theirs)


def test_control_flow_v2_nested_loops_and_branches(models, tmp_path, tfjs_runtime):
    """Loops nested three deep, a loop inside a tf.cond branch inside a loop, variables read in inner bodies."""
    source, out = models["nested"], tmp_path / "free"
    run = convert_without_tf(str(source), str(out), "--control_flow_v2")
    assert run.returncode == 0, run.stderr
    x = np.random.default_rng(5).normal(size=(3, 3)).astype(np.float32)
    expected = _verify(source, out, "tf_saved_model", ConvertOptions.from_kwargs(control_flow_v2=True), {"x": x})
    assert int(expected["count"]) == sum(range(len(x) + 2))
    tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow", control_flow_v2=True)
    assert _histogram(out) == _histogram(tmp_path / "tf")
    ours, theirs = _library_sizes(out), _library_sizes(tmp_path / "tf")
    assert len(ours) == len(theirs) and sum(ours) <= sum(theirs), (ours, theirs)


def test_control_flow_v2_loop_writing_a_tensor_array(models, tmp_path, tfjs_runtime):
    """The value a top-level While body writes into a TensorList becomes one more loop variable (TF.js would
    dispose it when the body returns: :mod:`tfjsconv.plugins.savedmodel.loop_writes`), as on the TF path."""
    source, out = models["loops"], tmp_path / "free"
    run = convert_without_tf(str(source), str(out), "--control_flow_v2", "--signature_name=written")
    assert run.returncode == 0, run.stderr
    bodies = [f for f in _doc(out)["modelTopology"]["library"]["function"]
              if any(n["op"] == "TensorListSetItem" for n in f.get("nodeDef", []))]
    assert len(bodies) == 1 and any(a["name"].startswith("tfjsconv_keep_") for a in bodies[0]["signature"]["inputArg"])
    options = ConvertOptions.from_kwargs(control_flow_v2=True, signature_name="written")
    for seed, n in enumerate((1, 3)):
        inputs = _inputs(seed, n, True, 0)
        _verify(source, out, "tf_saved_model", options, {"x": inputs["x"], "n": inputs["n"]})
    tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow", control_flow_v2=True, signature_name="written")
    assert _histogram(out) == _histogram(tmp_path / "tf")


def test_control_flow_v2_refuses_a_case_inside_a_loop_body(models, tmp_path):
    """TF.js has no Case, and a lowered one cannot run inside a function: exit 2, naming the node."""
    run = convert_without_tf(str(models["loops"]), str(tmp_path / "free"), "--control_flow_v2",
                             "--signature_name=case_in_loop")
    assert run.returncode == 2, run.stderr
    assert "Case" in run.stderr and "switch_case" in run.stderr and "--control_flow_v2" in run.stderr
    assert not (tmp_path / "free").exists()


@pytest.mark.parametrize("v2", [False, True], ids=["lowered", "control_flow_v2"])
def test_frozen_graph_with_functional_control_flow(v2, models, tmp_path, tfjs_runtime):
    """A .pb frozen with ``lower_control_flow=False`` (While/If/Case nodes and a function library)."""
    source, out = models["frozen"], tmp_path / "free"
    flags = ["--output_node_names=y,z,c", *(["--control_flow_v2"] if v2 else [])]
    run = convert_without_tf(str(source), str(out), *flags)
    assert run.returncode == 0, run.stderr
    ops = _histogram(out)
    kept = ops.keys() & FUNCTIONAL
    assert (kept and kept <= FUNCTIONAL - {"Case", "StatelessCase"}) if v2 else not kept
    options = ConvertOptions.from_kwargs(output_node_names=["y", "z", "c"], control_flow_v2=v2)
    runs = RUNS if v2 else RUNS[:3]
    for seed, (n, flag, k) in enumerate(runs):
        _verify(source, out, "tf_frozen_model", options, _inputs(seed, n, flag, k))
    if not v2:  # parity with the TF path, whose core pass lowers them (bodies converted by TensorFlow)
        tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow", output_node_names=["y", "z", "c"])
        theirs = _histogram(tmp_path / "tf")
        assert sum(ops.values()) <= sum(theirs.values()) and ops["LoopCond"] == theirs["LoopCond"]
        _verify(source, tmp_path / "tf", "tf_frozen_model", options, _inputs(9, *RUNS[2]))  # it lowered them too


def test_variable_writes_in_a_loop_are_refused_naming_every_write(models, tmp_path):
    """``counter`` assigns a variable, then increments it in a loop body: a TF.js graph model has no
    variables, so exit 2 naming both writes (op and function/node) and no output; TF's path refuses too."""
    from tfjsconv.errors import TfjsconvError

    run = convert_without_tf(str(models["loops"]), str(tmp_path / "free"), "--signature_name=counter")
    assert run.returncode == 2, run.stderr
    message = run.stderr.strip().splitlines()[0]
    assert "AssignAddVariableOp at " in message and "AssignVariableOp at " in message, message
    assert "body" in message.split("AssignAddVariableOp at ")[1]  # the write inside the loop body, by node
    assert not (tmp_path / "free").exists()
    with pytest.raises(TfjsconvError):
        tfjsconv.convert(models["loops"], tmp_path / "tf", loader="tensorflow", signature_name="counter")
