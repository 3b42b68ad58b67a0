"""TF.js's cpu ``Cast`` of int32 to float32 does not round: an id past 2^24 stays exact for the next op.

Found by the wide-integer Masking work (session 13): Keras 3 compares int32 ids with a float ``mask_value`` in float32,
where 16777217 rounds to 16777216 and equals it; on TF.js cpu the cast keeps the Int32Array's values (it marks them
float32 and finds no "encoding loss"), so the ``Equal`` after it saw 16777217 != 16777216, and a sum after it was
16777217.5 rounded to float32 where TF's is 16777216.5 rounded. wasm rounds as TF does. One op alone cannot show it
(its output is read back as float32, rounded), so the conformance table's ``Cast/i32_to_f32`` passes; the contract
names ``Cast`` (cpu) for an int32 → float32 cast on the special-values line.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

pytestmark = pytest.mark.node
IDS = np.int32([16777217, 16777216, 2**31 - 1, 33554435, 5, -16777217])
OUTPUTS = ["same", "plus_half"]


def _build(tf) -> None:
    ids = tf.compat.v1.placeholder(tf.int32, IDS.shape, name="ids")
    floats = tf.raw_ops.Cast(x=ids, DstT=tf.float32)
    tf.raw_ops.Equal(x=floats, y=tf.constant(16777216.0), name="same")
    tf.raw_ops.AddV2(x=floats, y=tf.constant(0.5), name="plus_half")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """``same = Cast(ids) == 16777216.0`` and ``plus_half = Cast(ids) + 0.5`` as a GraphDef, and TF's outputs."""
    return raw_ops_graph(tmp_path_factory.mktemp("cast") / "cast.pb", _build, {"ids": IDS}, OUTPUTS)


def test_the_notice_names_the_cast_for_cpu_only(frozen, tmp_path):
    source, expected = frozen
    assert expected["same"][:2].all()  # TF: float32(16777217) is 16777216
    cpu = tfjsconv.convert(source, tmp_path / "cpu", output_node_names=OUTPUTS, target_backends=["cpu"])
    assert len(cpu.notices) == 1 and "Cast (cpu)" in cpu.notices[0], cpu.notices
    wasm = tfjsconv.convert(source, tmp_path / "wasm", output_node_names=OUTPUTS, target_backends=["wasm"])
    assert not any("Cast" in n for n in wasm.notices), wasm.notices


def test_cpu_keeps_the_integer_where_tf_and_wasm_round_it(frozen, tmp_path, tfjs_runtime):
    """The deviation the line names (fails if a TF.js update rounds on cpu), and wasm exact."""
    source, expected = frozen
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", {"ids": IDS}, OUTPUTS)
    for name in OUTPUTS:
        assert np.array_equal(np.asarray(wasm[name]), expected[name]), (name, wasm[name], expected[name])
    assert not np.asarray(cpu["same"])[0] and np.asarray(cpu["same"])[1], cpu["same"]
    assert np.asarray(cpu["plus_half"], np.float32)[0] != expected["plus_half"][0], cpu["plus_half"]
