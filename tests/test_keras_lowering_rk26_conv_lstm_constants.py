"""Review of K26 (RK26): Keras 3 ConvLSTM2D/3D started from saved ``__numpy__`` states of a batch of 1, fed a
larger batch, with a mask (ConvLSTM3D: the states selected on rank-4 views, the batch-1 state broadcast there),
over unknown and static steps, and Bidirectional given numpy states.

Saved once with Keras's own outputs at two sizes (batch 3 with a fully masked sequence, then batch 1), converted
with TensorFlow, Keras and tf_keras poisoned, and must match Keras on TF.js cpu and wasm.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
# the same two runs (no input is a Masking's "x" here)
from test_keras_lowering_rk26_conv_lstm_started import inputs_of  # noqa: E402


def constants(k):
    L = k.layers
    rng = np.random.default_rng(7)
    x2, x3, f3 = (k.Input((None, 5, 4, 3), name="x2"), k.Input((None, 2, 3, 3, 2), name="x3"),
                  k.Input((3, 2, 3, 3, 2), name="f3"))
    g2, g3, fg3 = (k.Input((None, 5, 4), dtype="bool", name="g2"), k.Input((None, 2, 3, 3), dtype="bool", name="g3"),
                   k.Input((3, 2, 3, 3), dtype="bool", name="fg3"))
    s2 = [rng.standard_normal((1, 5, 4, 2)).astype("float32") for _ in range(2)]
    s3 = [rng.standard_normal((1, 2, 3, 3, 2)).astype("float32") for _ in range(2)]
    seq2 = L.ConvLSTM2D(2, 3, padding="same", go_backwards=True, return_sequences=True, return_state=True,
                        name="seq2")(x2, initial_state=s2, mask=g2)
    seq3 = L.ConvLSTM3D(2, 2, padding="same", return_sequences=True, return_state=True, name="seq3")(
        x3, initial_state=s3, mask=g3)
    last3 = L.ConvLSTM3D(2, 2, padding="same", go_backwards=True, return_state=True, name="last3")(
        f3, initial_state=s3, mask=fg3)
    bi = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same"), name="bi")(x2, initial_state=[*s2, *s2[::-1]], mask=g2)
    return k.Model([x2, g2, x3, g3, f3, fg3], [*seq2, *seq3, *last3, bi])


FAMILIES = {"constants": constants}
CASES = [("constants", "keras3.keras"), ("constants", "keras3.h5")]


converted = converted_fixture("rk26_constants", CASES, two_size_saver(FAMILIES, inputs_of, seed=43))


@pytest.mark.node
@each_case(CASES)
def test_batch_one_constant_states_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
