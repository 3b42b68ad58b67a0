"""False alarms of session 23's integer warnings (review R3, F7), silenced only where the numbers are provably
Keras's, with the true warnings beside them kept.

- A float model input of ids cast to int64 before an Embedding (``Embedding(tf.cast(x, tf.int64))``) was named as an
  int64 "past 2^31" hazard. An Embedding reads ids through TensorFlow's gather, which refuses any id outside the
  table (Keras 3: outside ``[-rows, rows)``), and an id inside it is its own low 32 bits, which TF.js holds: the
  rows are Keras's wherever Keras gives any. The same cast read by anything else (a model output, a product) is
  still named; a computed float cast to int64 before an Embedding is named for its truncation, as a cast to int32
  is.
- ``cast(reduce_sum(cast(mask, float32)), int32)`` (a sequence length) was named as a truncation of computed floats.
  A sum of 0/1 values over axes of known sizes is a whole number below 2^24, which Keras's float32 and TF.js's hold
  and add exactly in any order: the truncation is exact. A sum over an axis of unknown size, or of other floats, is
  still named.

All converted with TensorFlow, Keras and tf_keras poisoned, then run in TF.js (cpu and wasm) against Keras at two
batch sizes (the warnings changed, the numbers did not).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
sys.path.insert(0, str(Path(__file__).parent))

from keras_models import keras_module  # noqa: E402
from keras_two_sizes import keras_outputs, verify_runs  # noqa: E402

INT64_NOTE = "from 2^31 on TF.js holds an int64 only as its low 32 bits"
TRUNCATED = "Keras truncates a float computed by the layers before it to integers"


def _tf():
    return pytest.importorskip("tensorflow")


def tf_keras_exact(k):
    """Only the false alarms: float ids cast to int64 into an Embedding; 0/1 sums over known sizes cast to int32
    and to int64."""
    tf, L = _tf(), k.layers
    ids, seq = k.Input((5,), name="ids"), k.Input((6, 4), name="seq")
    present = tf.cast(tf.reduce_any(tf.not_equal(seq, 0.0), axis=-1), tf.float32)
    lengths = tf.cast(tf.reduce_sum(present, axis=1), tf.int32)
    positives = tf.cast(tf.reduce_sum(tf.cast(seq > 0, tf.float32), axis=[1, 2]) - 1.0, tf.int64)
    return k.Model([ids, seq], [L.Embedding(10, 3, name="emb")(tf.cast(ids, tf.int64)),
                                tf.sequence_mask(lengths, 6), tf.cast(positives, tf.float32)])


def keras3_exact(k):
    """Keras 3's twins: its Embedding wraps negative ids (``ops.take``), read through the same gather."""
    o, L = k.ops, k.layers
    ids, seq = k.Input((5,), name="ids"), k.Input((6, 4), name="seq")
    lengths = o.cast(o.sum(o.cast(o.any(o.not_equal(seq, 0.0), axis=-1), "float32"), axis=1), "int32")
    return k.Model([ids, seq], [L.Embedding(10, 3, name="emb")(o.cast(ids, "int64")),
                                o.cast(o.expand_dims(lengths, -1) * 2, "float32")])


def tf_keras_named(k):
    """True warnings: an int64 cast of a float input that is also a model output; a computed float cast to int64
    before an Embedding; a 0/1 sum over an axis of unknown size; a sum of floats."""
    tf, L = _tf(), k.layers
    ids, seq = k.Input((5,), name="ids"), k.Input((None, 4), name="seq")
    wide = tf.cast(ids, tf.int64)
    # inside the table, away from saturation (a tanh there gives 1.0 in TF.js where Keras's 0.99999994 makes 8)
    scored = tf.cast(tf.sigmoid(L.Dense(5, name="score")(ids) * 0.1) * 9.0, tf.int64)
    counted = tf.cast(tf.reduce_sum(tf.cast(seq > 0, tf.float32), axis=1), tf.int32)
    summed = tf.cast(tf.reduce_sum(seq, axis=1), tf.int32)
    return k.Model([ids, seq], [L.Embedding(10, 3, name="emb")(wide), wide, L.Embedding(10, 2, name="emb2")(scored),
                                counted, summed])


def _inputs(rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Ids as whole and fractional floats inside the table (Keras truncates them); sequences with zero steps."""
    ids = rng.integers(0, 10, (batch, 5)).astype(np.float32) + rng.choice([0.0, 0.25, 0.75], (batch, 5))
    seq = rng.standard_normal((batch, steps, 4)).astype(np.float32)
    seq[rng.random((batch, steps)) < 0.4] = 0.0
    return {"ids": np.minimum(ids, 9.75).astype(np.float32), "seq": seq}


def _converted(path: Path) -> str:
    """The conversion's details, TensorFlow, Keras and tf_keras poisoned, on one line."""
    from test_keras_lowering import LOWERED, POISONED

    out = subprocess.run([sys.executable, "-c", POISONED, str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and LOWERED in out.stdout, out.stderr[-3000:]
    return " ".join(out.stdout.split())


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras", "keras3"])
def test_exact_integer_casts_are_not_named_and_match_keras(tmp_path, tfjs_runtime, flavor):
    k = keras_module(flavor)
    model = (tf_keras_exact if flavor == "tf_keras" else keras3_exact)(k)
    path = tmp_path / ("m.h5" if flavor == "tf_keras" else "m.keras")
    model.save(path)
    details = _converted(path)
    assert INT64_NOTE not in details and TRUNCATED not in details, details
    rng = np.random.default_rng(2401)
    runs = []
    for batch in (2, 3):
        inputs = _inputs(rng, batch, 6)
        runs.append((inputs, [o.astype(np.int32) if o.dtype == np.int64 else o for o in keras_outputs(model, inputs)]))
    verify_runs(path, runs)


@pytest.mark.node
def test_casts_that_may_differ_are_still_named(tmp_path, tfjs_runtime):
    k = keras_module("tf_keras")
    model = tf_keras_named(k)
    model.save(tmp_path / "m.h5")
    details = _converted(tmp_path / "m.h5")
    assert details.count("casts floats to int64: " + INT64_NOTE) == 1, details  # the one a model output reads
    assert details.count("(cast to int64): " + TRUNCATED) == 1, details  # the Dense's, before an Embedding
    assert details.count("(cast to int32): " + TRUNCATED) == 2, details  # over an unknown size; of floats
    rng = np.random.default_rng(2402)
    runs = []
    for batch, steps in ((2, 6), (3, 9)):
        inputs = _inputs(rng, batch, steps)
        runs.append((inputs, [o.astype(np.int32) if o.dtype == np.int64 else o for o in keras_outputs(model, inputs)]))
    verify_runs(tmp_path / "m.h5", runs)
