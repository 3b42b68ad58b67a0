"""SavedModels with ``tf.while_loop``/``tf.cond``/``tf.switch_case`` convert with no TensorFlow (issue 15).

The TF-free reader keeps the ``While``/``If``/``Case`` bodies as IR graphs and lowers them to TF.js v1
frames itself (:mod:`tfjsconv.plugins.savedmodel.tf_free_control_flow`). The models are
``tf_models.control_flow`` (a loop over a variable, then a ``tf.cond``), those of
``test_savedmodel_control_flow`` (nested loops over a variable, a loop variable set to a constant, an
inner loop in a ``tf.cond`` branch, a TensorArray in an inner loop) and ``test_switch_case``. TensorFlow
builds them and computes the references in this process; each conversion runs in a subprocess where
importing ``tensorflow``, ``keras`` or ``tf_keras`` fails, and the result runs in real TF.js (cpu,
wasm). The op histogram is compared with ``--loader=tensorflow`` (Grappler's lowering).
"""
from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tf_models  # noqa: E402

import tfjsconv  # noqa: E402
from test_savedmodel_control_flow import nested_loops  # noqa: E402
from test_savedmodel_tf_free import convert_without_tf  # noqa: E402
from test_switch_case import switch_case_model  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402

pytestmark = pytest.mark.node

RTOL, ATOL = 1e-5, 0.0
#: Ops of the lowered frames: what the TF path's Grappler and our lowering both build.
FRAME_OPS = ("Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf_free_control_flow")
    return {"nested": nested_loops(root / "nested"), "cases": switch_case_model(root / "cases"),
            "loop_cond": tf_models.control_flow(root / "loop_cond")}


def _doc(out: Path) -> dict:
    return json.loads((out / "model.json").read_text())


def _histogram(out: Path) -> collections.Counter:
    return collections.Counter(n["op"] for n in _doc(out)["modelTopology"]["node"])


def _verify(source: Path, out: Path, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import format_report, verify_model

    options = ConvertOptions.from_kwargs(signature_name=signature)
    options.extra["model_dir"] = str(out)
    expected = get_plugin_manager().registry.frontends["tf_saved_model"].reference(source, inputs, options)
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, atol=ATOL, quiet=True)
    assert report.passed, format_report(report)
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}
    return expected


CASES = [  # model, signature, extra inputs, seed
    ("loop_cond", "serving_default", {}, 4),
    ("nested", "serving_default", {}, 5),
    ("nested", "tensor_array", {}, 6),
    ("cases", "serving_default", {"index": (0, 1, 2, 3, 7, -1)}, 2),
    ("cases", "looped", {"index": (0, 1, 2, -4)}, 3),
]


@pytest.mark.parametrize("name, signature, extra, seed", CASES,
                         ids=["loop_then_cond", "nested_loops", "tensor_array_inner_loop", "switch_case", "switch_case_in_a_loop"])
def test_control_flow_converts_without_tensorflow_like_tf(name, signature, extra, seed, models, tmp_path,
                                                          tfjs_runtime):
    source, out = models[name], tmp_path / "free"
    run = convert_without_tf(str(source), str(out), f"--signature_name={signature}")
    assert run.returncode == 0, run.stderr
    ops = _histogram(out)
    assert not ops.keys() & {"While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase"}
    x = np.random.default_rng(seed).normal(size=(3, 4 if name == "cases" else 3)).astype(np.float32)
    for index in extra.get("index", [None]):
        inputs = {"x": x} if index is None else {"x": x, "index": np.asarray(index, np.int32)}
        expected = _verify(source, out, signature, inputs)
    if signature == "serving_default" and name == "nested":
        assert int(expected["count"]) == sum(range(len(x) + 2))  # the inner loop ran i times in outer iteration i
    # parity with the TensorFlow path (Grappler lowers there): the same frames, no more nodes
    tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow", signature_name=signature)
    theirs = _histogram(tmp_path / "tf")
    print(f"{name}/{signature}: tf-free {sum(ops.values())} nodes {dict(sorted(ops.items()))}; "
          f"tensorflow {sum(theirs.values())} nodes {dict(sorted(theirs.items()))}")
    assert sum(ops.values()) <= sum(theirs.values())
    assert ops["LoopCond"] == theirs["LoopCond"] and ops["Exit"] <= theirs["Exit"]


def test_a_variable_write_in_a_loop_body_is_refused_by_name(tmp_path):
    """A body that assigns a variable cannot become frames exactly (nor can TF's freezing do it): refused,
    naming the op and the node (tests/test_tf_free_control_flow_more.py runs the CLI: exit 2)."""
    import tensorflow as tf

    from tfjsconv.plugins.savedmodel.tf_free import saved_model_graph
    from tfjsconv.plugins.savedmodel.tf_free_control_flow import VariableWriteError

    class Counter(tf.Module):
        def __init__(self):
            super().__init__()
            self.total = tf.Variable(0.0)

        @tf.function(input_signature=[tf.TensorSpec([3], tf.float32, name="x")])
        def __call__(self, x):
            def body(i, a):
                self.total.assign_add(1.0)
                return i + 1, a * 2.0
            return {"y": tf.while_loop(lambda i, a: i < 3, body, [tf.constant(0), x])[1]}

    module = Counter()
    tf.saved_model.save(module, str(tmp_path / "counter"), signatures={"serving_default": module.__call__})
    with pytest.raises(VariableWriteError) as why:
        saved_model_graph(tmp_path / "counter", ConvertOptions())
    assert list(why.value.ops) == ["AssignAddVariableOp"] and "/AssignAddVariableOp" in str(why.value)


def test_functional_control_flow_outputs_are_one_list_arg():
    """``while:output:3`` is flat output 3: While/If/Case have one output arg, a list of their types."""
    from tfjsconv.dtypes import DType
    from tfjsconv.plugins.savedmodel.op_outputs import layout

    types = [DType.INT32, DType.INT32, DType.FLOAT32, DType.FLOAT32]
    loop = layout("StatelessWhile", {"T": types}, {}, None)
    assert loop.total == 4 and loop.flat_index("output", 3) == 3 and loop.dtypes == types
    branch = layout("StatelessIf", {"Tout": types[2:]}, {}, 2)
    assert branch.flat_index("output", 1) == 1 and branch.dtypes == types[2:]
    assert layout("Case", {"Tout": [DType.FLOAT32]}, {}, None).total == 1
