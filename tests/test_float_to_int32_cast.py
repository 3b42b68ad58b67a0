"""A float → int32 ``Cast`` of values outside int32's range, ±Inf or NaN: TF gives INT32_MIN, TF.js wraps.

Found by the session 14 probe (a Keras 3 ``Dot`` of int32 ids, which Keras computes in float32 and casts back: its
sums past 2^31 came out of the traced model wrapped where Keras has INT32_MIN). TF's CPU kernel converts with x86-64's
instruction, INT32_MIN for anything it cannot hold; TF.js's cpu and wasm kernels wrap modulo 2^32 and give 0 for
NaN/±Inf (webgl on SwiftShader gives INT32_MIN, as the conformance table records). The contract names "Cast (cpu,
wasm)" on the special-values line and ``--exact_special_values`` guards the cast with the range test.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

pytestmark = pytest.mark.node
FLOATS = np.float32([3e9, -3e9, 2**31, -2**31, -2147483904.0, 1e20, np.inf, -np.inf, np.nan, 2147483520.0, -7.9, 0.5])


def _build(tf) -> None:
    x = tf.compat.v1.placeholder(tf.float32, FLOATS.shape, name="x")
    tf.raw_ops.Cast(x=x, DstT=tf.int32, name="ids")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return raw_ops_graph(tmp_path_factory.mktemp("cast") / "cast.pb", _build, {"x": FLOATS}, ["ids"])


def test_tf_gives_int32_min_outside_the_range(frozen):
    _, expected = frozen
    assert (expected["ids"][[0, 1, 2, 4, 5, 6, 7, 8]] == -2**31).all(), expected["ids"]
    assert expected["ids"][[3, 9, 10, 11]].tolist() == [-2**31, 2147483520, -7, 0]


def test_the_notice_names_the_cast_on_cpu_and_wasm(frozen, tmp_path):
    source, _ = frozen
    result = tfjsconv.convert(source, tmp_path / "out", output_node_names=["ids"])
    assert len(result.notices) == 1 and "Cast (cpu, wasm)" in result.notices[0], result.notices
    assert "rewrites Cast" in result.notices[0], result.notices
    webgl = tfjsconv.convert(source, tmp_path / "webgl", output_node_names=["ids"], target_backends=["webgl"])
    assert not any("Cast" in n for n in webgl.notices), webgl.notices


def test_tfjs_wraps_and_the_flag_gives_tfs_answer(frozen, tmp_path, tfjs_runtime):
    source, expected = frozen
    exact = tfjsconv.convert(source, tmp_path / "exact", output_node_names=["ids"], exact_special_values=True)
    assert exact.notices == [], exact.notices
    plain = cpu_and_wasm_outputs(source, tmp_path / "plain", {"x": FLOATS}, ["ids"])
    fixed = cpu_and_wasm_outputs(source, tmp_path / "fixed", {"x": FLOATS}, ["ids"], exact_special_values=True)
    for wrapped, got in zip(plain, fixed):
        wrapped = wrapped["ids"].astype(np.int64)
        assert wrapped[0] == 3_000_000_000 - 2**32 and wrapped[8] == 0, wrapped  # the deviation the line names
        assert np.array_equal(got["ids"].astype(np.int32), expected["ids"]), got
