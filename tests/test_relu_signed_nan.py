"""TF.js wasm's ``Relu`` of a NaN with its sign bit set (``-NaN``, as ``-x`` of a NaN gives) is 0; TF keeps the NaN.

Found in session 15 (a helper's ``tf.nn.crelu`` test: crelu is ``relu(concat(x, -x))``): docs/backends.md said wasm's
Relu keeps NaN, true only of a NaN without the sign bit. Now the conformance case ``Relu/signed_nan`` shows it, the
contract names "Relu (wasm)" on the special-values line and ``--exact_special_values`` keeps the NaN
(``SelectV2(IsNan(x), x, Relu(x))``, as for Relu6).
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

VALUES = np.float32([1.0, -1.0, 0.0, np.nan])
OUTPUTS = ["relu"]


def _build(tf) -> None:
    x = tf.compat.v1.placeholder(tf.float32, [4], name="x")
    tf.raw_ops.Relu(features=tf.raw_ops.Neg(x=x), name="relu")  # Neg(NaN) is -NaN


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return raw_ops_graph(tmp_path_factory.mktemp("relu") / "relu.pb", _build, {"x": VALUES}, OUTPUTS)


def test_the_notice_names_relu_for_wasm_only(frozen, tmp_path):
    source, expected = frozen
    assert np.isnan(expected["relu"][3])
    wasm = tfjsconv.convert(source, tmp_path / "wasm", output_node_names=OUTPUTS, target_backends=["wasm"])
    assert any("Relu (wasm)" in n for n in wasm.notices), wasm.notices
    cpu = tfjsconv.convert(source, tmp_path / "cpu", output_node_names=OUTPUTS, target_backends=["cpu"])
    assert not any("Relu" in n for n in cpu.notices), cpu.notices


@pytest.mark.node
def test_wasm_drops_the_signed_nan_and_the_exact_rewrite_keeps_it(frozen, tmp_path, tfjs_runtime):
    source, expected = frozen
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "plain", {"x": VALUES}, OUTPUTS)
    np.testing.assert_array_equal(cpu["relu"], expected["relu"])
    assert wasm["relu"][3] == 0.0  # the deviation the line names (fails if a TF.js update keeps the NaN)
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "exact", {"x": VALUES}, OUTPUTS, exact_special_values=True)
    np.testing.assert_array_equal(cpu["relu"], expected["relu"])
    np.testing.assert_array_equal(wasm["relu"], expected["relu"])
