"""TF's Mean of int32 is the exact mean truncated toward zero: its sum does not wrap at 2^31.

Found by the session 14 probe (tf_keras's global average pool of int32 over an unknown length, traced by
``--loader=tensorflow``): the ``truncating_division`` pass rewrote an integer ``Mean`` as an int32 ``Sum`` (wrapping)
divided by the count, so ``[2^31 - 1, 2^31 - 1, 5]`` averaged to 1 where TF gives 1431655766, silently. For counts
below 2^14 (known at conversion, or selected at run time) the pass now builds the exact mean from the sums of the
values' 16-bit halves (``tfjsconv.narrow_ints.truncated_mean``, which the Keras lowering's integer means use too).
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tf_models import cpu_and_wasm_outputs, raw_ops_graph  # noqa: E402

pytestmark = pytest.mark.node
IDS = np.int32([[2**31 - 1, 2**31 - 1, 5], [-2**31, -2**31, -7], [16777217, 16777216, 16777219], [-7, 7, -8],
                [-2**31, 2**31 - 1, 0], [3, 3, 3]])
OUTPUTS = ["rows", "all_kept", "columns"]


def _build(tf, shape=IDS.shape) -> None:
    ids = tf.compat.v1.placeholder(tf.int32, shape, name="ids")
    tf.raw_ops.Mean(input=ids, axis=tf.constant(1), keep_dims=False, name="rows")
    tf.raw_ops.Mean(input=ids, axis=tf.constant([0, 1]), keep_dims=True, name="all_kept")
    tf.raw_ops.Mean(input=ids, axis=tf.constant(0), keep_dims=False, name="columns")


@pytest.mark.parametrize("shape", [IDS.shape, (None, None)], ids=["known", "run_time"])
def test_integer_means_match_tf_past_int32_sums(tmp_path, shape):
    """Counts known at conversion, and known only at run time (the exact form selected below 2^14)."""
    source, expected = raw_ops_graph(tmp_path / "mean.pb", lambda tf: _build(tf, shape), {"ids": IDS}, OUTPUTS)
    exact = (IDS.astype(np.int64).sum(1) / 3).astype(np.int64)  # truncated toward zero
    assert expected["rows"].tolist() == exact.tolist()  # TF's sum does not wrap
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", {"ids": IDS}, OUTPUTS)
    for name in OUTPUTS:
        assert np.array_equal(cpu[name], expected[name]), (name, cpu[name], expected[name])
        assert np.array_equal(wasm[name], expected[name]), (name, wasm[name], expected[name])


def test_a_run_time_count_past_the_exact_limit_divides_the_sum(tmp_path):
    """From 2^14 values on (known only at run time) the sum divided, right while it stays within int32: -1s and
    small values over 40000 steps, where the halves' sums would leave int32."""
    ids = np.stack([np.full(40000, -1), np.arange(40000) % 7 - 3]).astype(np.int32)

    def build(tf) -> None:
        x = tf.compat.v1.placeholder(tf.int32, (None, None), name="ids")
        tf.raw_ops.Mean(input=x, axis=tf.constant(1), keep_dims=False, name="rows")

    source, expected = raw_ops_graph(tmp_path / "mean.pb", build, {"ids": ids}, ["rows"])
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", {"ids": ids}, ["rows"])
    assert expected["rows"].tolist() == [-1, 0]
    assert cpu["rows"].tolist() == wasm["rows"].tolist() == [-1, 0], (cpu, wasm)
