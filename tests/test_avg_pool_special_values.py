"""TF.js wasm's ``AvgPool`` of a window holding NaN, or +Inf beside -Inf, gives a number or an infinity; TF gives NaN.

Found in session 15 (a helper's Keras ``ops.average_pool`` test over NaN inputs): the conformance table had no case
with special values for ``AvgPool``, so the contract had no row and the conversion named nothing. Now the case
``AvgPool/nan_inf`` shows it, the contract names "AvgPool (wasm)" on the special-values line, and
``--exact_special_values`` rewrites it exactly (the pool over the finite values, and pools of NaN/±Inf masks choosing
NaN or ±Inf where TF gives them). The interpreter's AvgPool skipped NaN too (a NaN-skipping mean): it now keeps it
(``tests/test_interpreter.py``, ``avg_pool_nan_inf``).
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

INF, NAN = np.inf, np.nan
#: Windows (2x2, SAME, stride 1) holding NaN, +Inf beside -Inf, one infinity, only finite values.
IMAGES = np.float32([[-INF, 1, NAN, 1], [INF, 2, 3, 4], [5, 6, -INF, INF], [7, 8, 9, -INF]]).reshape(1, 4, 4, 1)
OUTPUTS = ["pooled"]


def _build(tf) -> None:
    images = tf.compat.v1.placeholder(tf.float32, IMAGES.shape, name="images")
    tf.raw_ops.AvgPool(value=images, ksize=[1, 2, 2, 1], strides=[1, 1, 1, 1], padding="SAME", name="pooled")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return raw_ops_graph(tmp_path_factory.mktemp("avg_pool") / "avg_pool.pb", _build, {"images": IMAGES}, OUTPUTS)


def test_tf_gives_nan_for_a_window_with_nan_or_both_infinities(frozen):
    _, expected = frozen
    pooled = expected["pooled"][0, :, :, 0]
    assert np.isnan(pooled[0, 0]) and np.isnan(pooled[0, 1]) and pooled[1, 0] == INF and np.isfinite(pooled[3, 0])


def test_the_notice_names_avg_pool_for_wasm_only(frozen, tmp_path):
    source, _ = frozen
    wasm = tfjsconv.convert(source, tmp_path / "wasm", output_node_names=OUTPUTS, target_backends=["wasm"])
    assert any("AvgPool (wasm)" in n for n in wasm.notices), wasm.notices
    cpu = tfjsconv.convert(source, tmp_path / "cpu", output_node_names=OUTPUTS, target_backends=["cpu"])
    # cpu is named for window sums past FLT_MAX only (tests/test_special_values_reductions.py), not for NaN/Inf
    assert not any("AvgPool" in n and "NaN/Inf" in n for n in cpu.notices), cpu.notices


@pytest.mark.node
def test_wasm_deviates_and_the_exact_rewrite_matches_tf(frozen, tmp_path, tfjs_runtime):
    source, expected = frozen
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "plain", {"images": IMAGES}, OUTPUTS)
    np.testing.assert_array_equal(cpu["pooled"], expected["pooled"])
    assert not np.array_equal(wasm["pooled"], expected["pooled"], equal_nan=True)  # the deviation the line names
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "exact", {"images": IMAGES}, OUTPUTS,
                                     exact_special_values=True)
    for got in (cpu["pooled"], wasm["pooled"]):
        np.testing.assert_allclose(got, expected["pooled"], rtol=1e-6)  # NaN where TF's is NaN, ±Inf alike

