"""TF.js's cpu ``Prod`` and ``Cumprod`` of int32 multiply in float64: products past 2^53 lose the low bits TF keeps.

Found by the session 14 probe of the Keras refusals: ``ops.prod`` of int32 ids over an unknown axis converts through
TensorFlow to a ``Prod`` node, which TF.js's cpu kernel computes as a JS number product (``Prod`` rounds the whole
product, ``Cumprod`` each step's, before the int32 store wraps): TF wraps every step modulo 2^32. wasm multiplies in
int32 as TF does. The conformance cases ``Prod/i32_overflow`` and ``Cumprod/axis0_i32`` stayed below 2^53, so the
contract had no row; now ``Prod`` and ``Cumprod`` (cpu, int32) are named on the special-values line.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

pytestmark = pytest.mark.node
#: Rows whose products pass 2^53: (2^31 - 1)^2 is 2^62 - 2^32 + 1, whose last bit a float64 drops.
IDS = np.int32([[2**31 - 1, 2**31 - 1, 3, 7], [46341, -46343, 1000003, -5], [1, 2, 3, 4]])
OUTPUTS = ["prod", "cumprod"]


def _build(tf) -> None:
    ids = tf.compat.v1.placeholder(tf.int32, IDS.shape, name="ids")
    tf.raw_ops.Prod(input=ids, axis=tf.constant(1), keep_dims=False, name="prod")
    tf.raw_ops.Cumprod(x=ids, axis=tf.constant(1), name="cumprod")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """Both products of :data:`IDS` along its rows as a GraphDef, and TF's outputs."""
    return raw_ops_graph(tmp_path_factory.mktemp("prod") / "prod.pb", _build, {"ids": IDS}, OUTPUTS)


def _wrapped_products(ids: np.ndarray) -> np.ndarray:
    """Each row's running product modulo 2^32 as int32 (Python integers: exact)."""
    out = np.zeros(ids.shape, np.int64)
    for r, row in enumerate(ids.tolist()):
        acc = 1
        for c, value in enumerate(row):
            acc = (acc * value) % 2**32
            out[r, c] = acc - 2**32 if acc >= 2**31 else acc
    return out.astype(np.int32)


def test_tf_wraps_every_step(frozen):
    _, expected = frozen
    assert np.array_equal(expected["cumprod"], _wrapped_products(IDS))
    assert np.array_equal(expected["prod"], _wrapped_products(IDS)[:, -1])


def test_the_notice_names_prod_and_cumprod_for_cpu_only(frozen, tmp_path):
    source, _ = frozen
    cpu = tfjsconv.convert(source, tmp_path / "cpu", output_node_names=OUTPUTS, target_backends=["cpu"])
    assert len(cpu.notices) == 1 and "in Cumprod, Prod (cpu)" in cpu.notices[0], cpu.notices
    wasm = tfjsconv.convert(source, tmp_path / "wasm", output_node_names=OUTPUTS, target_backends=["wasm"])
    assert not any("Prod" in n for n in wasm.notices), wasm.notices


def test_cpu_loses_the_low_bits_where_tf_and_wasm_wrap(frozen, tmp_path, tfjs_runtime):
    """The deviation the line names (fails if a TF.js update multiplies in int32 on cpu), and wasm exact."""
    source, expected = frozen
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", {"ids": IDS}, OUTPUTS)
    for name in OUTPUTS:
        assert np.array_equal(np.asarray(wasm[name]), expected[name]), (name, wasm[name], expected[name])
        got = np.asarray(cpu[name]).astype(np.int64)
        assert not np.array_equal(got[0], expected[name][0]), (name, got, expected[name])  # past 2^53
        assert np.array_equal(got[2], expected[name][2]), (name, got, expected[name])  # small: exact
