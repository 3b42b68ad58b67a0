"""``tf.switch_case`` from a SavedModel runs in TF.js like in TF (the ``_SwitchN`` that TF lowers ``Case``
to becomes a chain of ``Switch`` nodes: :mod:`tfjsconv.passes.switch_n`).

Before, the op check refused every ``tf.switch_case`` (TF.js has no ``_SwitchN``). Expected values
come from TensorFlow running the SavedModel's signature; the index covers every branch, and an index
out of range (TF takes the last branch).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402

pytestmark = pytest.mark.node


def switch_case_model(path: Path) -> Path:
    import tensorflow as tf

    class Cases(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x"),
                                      tf.TensorSpec([], tf.int32, name="index")])
        def picked(self, x, index):
            return {"picked": tf.switch_case(index, [lambda: tf.tanh(x), lambda: x * 3.0 - 1.0,
                                                     lambda: tf.reduce_sum(x) + x, lambda: -x])}

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x"),
                                      tf.TensorSpec([], tf.int32, name="index")])
        def looped(self, x, index):  # a switch_case inside a loop, on the loop counter plus the index
            def step(i, acc):
                return i + 1, tf.switch_case((i + index) % 3, [lambda: acc + 1.0, lambda: acc * 0.5,
                                                               lambda: tf.sin(acc)])

            return {"looped": tf.while_loop(lambda i, a: i < 5, step, [tf.constant(0), x])[1]}

    module = Cases()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.picked, "looped": module.looped})
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return switch_case_model(tmp_path_factory.mktemp("switch_case") / "saved_model")


def _reference(model: Path, signature: str, x: np.ndarray, index: int) -> dict[str, np.ndarray]:
    import tensorflow as tf

    function = tf.saved_model.load(str(model)).signatures[signature]
    return {name: value.numpy() for name, value in function(x=tf.constant(x), index=tf.constant(index)).items()}


@pytest.mark.parametrize("signature, v2", [("serving_default", False), ("looped", False), ("serving_default", True)],
                         ids=["top_level", "in_a_loop", "top_level_control_flow_v2"])
def test_switch_case_matches_tf_for_every_branch(model, tmp_path, tfjs_runtime, signature, v2):
    from tfjsconv.verify.compare import format_report, verify_model

    out = tmp_path / "web"
    tfjsconv.convert(model, out, signature_name=signature, control_flow_v2=v2)
    ops = {node["op"] for node in json.loads((out / "model.json").read_text())["modelTopology"]["node"]}
    assert "_SwitchN" not in ops and "Switch" in ops
    x = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    for index in (0, 1, 2, 3, 7, -1):  # 7 and -1 are out of range for the 4 top-level branches: the last one
        expected = _reference(model, signature, x, index)
        report = verify_model(out, {"x": x, "index": np.asarray(index, np.int32)}, expected,
                              backends=("cpu", "wasm"), rtol=1e-5, quiet=True)
        assert report.passed, f"index {index}: {format_report(report)}"


def test_switch_case_in_a_control_flow_v2_body_is_refused_by_name(model, tmp_path):
    """--control_flow_v2 keeps loop bodies as functions, which passes do not rewrite (docs/savedmodel.md)."""
    from tfjsconv.errors import UnsupportedOpsError

    # the TF path refuses Grappler's _SwitchN, the TF-free one (the default loader) the Case it would lower
    with pytest.raises(UnsupportedOpsError, match="(_SwitchN|Case): .*switch_case"):
        tfjsconv.convert(model, tmp_path / "web", signature_name="looped", control_flow_v2=True)
    assert not (tmp_path / "web").exists()


def test_chain_shape():
    """Three outputs: two Switches on index == 0 and == 1; the last false side is output 2."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph
    from tfjsconv.passes.switch_n import SwitchNToSwitches

    g = Graph()
    data = g.placeholder("data", DType.FLOAT32, (2,))
    index = g.placeholder("index", DType.INT32, ())
    node = g.add_node("_SwitchN", [data, index], {"T": DType.FLOAT32, "num_outs": 3}, name="case", num_outputs=3)
    for k in range(3):
        g.set_output(f"out{k}", g.add_op("Identity", [node.output(k)], {"T": DType.FLOAT32}, name=f"id{k}"))
    assert SwitchNToSwitches().run(g).rewrites == 1
    assert "case" not in {n.name for n in g}
    switches = [n for n in g if n.op == "Switch"]
    assert [s.name for s in switches] == ["case/switch_0", "case/switch_1"]
    assert switches[1].inputs[0] is switches[0].output(0)  # the chain goes on along the false sides
    readers = {f"id{k}": g.node(f"id{k}").inputs[0] for k in range(3)}
    assert readers == {"id0": switches[0].output(1), "id1": switches[1].output(1), "id2": switches[1].output(0)}
    assert SwitchNToSwitches().run(g).rewrites == 0
