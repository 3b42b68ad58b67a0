"""TF's Mean of int32 is the exact mean truncated toward zero: its sum does not wrap at 2^31.

Found by the session 14 probe (tf_keras's global average pool of int32 over an unknown length, traced by
``--loader=tensorflow``): the ``truncating_division`` pass rewrote an integer ``Mean`` as an int32 ``Sum`` (wrapping)
divided by the count, so ``[2^31 - 1, 2^31 - 1, 5]`` averaged to 1 where TF gives 1431655766, silently. Over a count
known at conversion (below 2^14) the pass now builds the exact mean from the sums of the values' 16-bit halves
(``tfjsconv.narrow_ints.truncated_mean``, which the Keras lowering's integer means use too).
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


def _build(tf) -> None:
    ids = tf.compat.v1.placeholder(tf.int32, IDS.shape, name="ids")
    tf.raw_ops.Mean(input=ids, axis=tf.constant(1), keep_dims=False, name="rows")
    tf.raw_ops.Mean(input=ids, axis=tf.constant([0, 1]), keep_dims=True, name="all_kept")
    tf.raw_ops.Mean(input=ids, axis=tf.constant(0), keep_dims=False, name="columns")


def test_integer_means_match_tf_past_int32_sums(tmp_path):
    source, expected = raw_ops_graph(tmp_path / "mean.pb", _build, {"ids": IDS}, OUTPUTS)
    exact = (IDS.astype(np.int64).sum(1) / 3).astype(np.int64)  # truncated toward zero
    assert expected["rows"].tolist() == exact.tolist()  # TF's sum does not wrap
    cpu, wasm = cpu_and_wasm_outputs(source, tmp_path / "out", {"ids": IDS}, OUTPUTS)
    for name in OUTPUTS:
        assert np.array_equal(cpu[name], expected[name]), (name, cpu[name], expected[name])
        assert np.array_equal(wasm[name], expected[name]), (name, wasm[name], expected[name])
