"""Findings of the random-model bench's session-28 runs (``bench/keras_random_models.py --policies``), reduced.

- ``top_k`` of a float64 tensor (Keras 3 ``ops.top_k``, tf_keras ``tf.math.top_k``) was refused by name even where
  the values are held exactly (a float64 model input negated, float32 values cast up), and ``x * 0.0`` of a float64
  model input was held as a pair of float32 (its top_k refused too), while ``--loader=tensorflow`` converts the model
  (seed 2803, ``keras3_keras-280300003``: an issue-16 gap). The order of values held exactly, ties by index and
  signed zeros included, is float32's: lowered as the float32 top_k, the values cast back up and held exactly; a
  product by a constant ±0 or ±1 is held exactly (float32's product is float64's); top_k of values computed on pairs
  of float32 stays a gap, as argmax of them (Keras orders its own values, which may differ in the last bits).
- A tf_keras MultiHeadAttention whose policy's float width differs from its query's (a float32 MHA on a
  mixed_float16 RNN's or Embedding's masked result, a mixed_float16 or float64 MHA on a float32 masked tensor, a
  float32 MHA on a float64 Masking's result): ``Layer.__call__`` casts the query (its first argument) to the layer's
  dtype, a new tensor without ``_keras_mask``, so MHA reads no query mask (the value's, not cast there, it reads).
  The lowering ANDed the query mask in: padded query rows attended nowhere they attend in Keras (seed 2804,
  ``tf_keras_h5-280400016``: 0.064 of the range off, silently; ``tf_keras_h5-280400043``: 0.47, hidden as float32
  noise by the bench's float64 reference, which casts nothing). Lowered now as tf_keras computes it.

Converted once (TensorFlow, Keras and tf_keras poisoned), TF.js cpu and wasm against Keras's ``model(x)`` at two
batch sizes and lengths.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
keras = pytest.importorskip("keras")

from keras_two_sizes import (converted_fixture, each_case, two_size_saver, verify_runs,  # noqa: E402
                             verify_runs_within)


def k3_top_k(k: Any) -> Any:
    """Keras 3 ``top_k`` of float64 values held exactly: signed zeros (all tied), negated and absolute values, then
    float64 arithmetic on the values found (the bench's model: a top_k of ``x * 0.0`` pooled by a float64 layer)."""
    w = k.Input((3, 6), name="w", dtype="float64")
    zeros, indices = k.ops.top_k(w * 0.0, 3)
    flipped, _ = k.ops.top_k(w * -1.0, 4)
    pooled = k.layers.GlobalMaxPooling1D(dtype="float64")(zeros)
    return k.Model(w, [zeros, indices, flipped - 1.0, k.ops.top_k(k.ops.abs(w), 2)[1], pooled], name="k3_top_k")


def tf_top_k(k: Any) -> Any:
    """tf_keras ``tf.math.top_k`` of float64 values held exactly, values and indices."""
    w = k.Input((3, 6), name="w", dtype=tf.float64)
    found = tf.math.top_k(-w, k=3)
    return k.Model(w, [found.values, found.indices, tf.math.top_k(w * 0.0, k=4).indices,
                       tf.math.top_k(w * 1.0, k=1).values + 0.5], name="tf_top_k")


def _inputs(model: Any, family: str, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """float32-representable values (what TF.js's float32 input holds exactly), with ties and signed zeros."""
    runs = []
    for batch in (2, 3):
        values = rng.standard_normal((batch, 3, 6)).astype(np.float32)
        values[0, 0] = [0.5, -0.0, 0.5, 0.0, -1.5, 0.5]
        values[-1, 1, :3] = -values[-1, 1, 3:]
        runs.append({"w": values.astype(np.float64)})
    return runs


def tf_mha_casts(k: Any) -> Any:
    """tf_keras MHAs whose query autocast drops its mask (or not: equal widths), self-attention on masked tensors.
    (A float64 MHA on a float64 masked query keeps the mask; its rows masked entirely keep the logits' differences,
    as Keras's float64 ``logit - 1e9`` does: tests/test_keras_lowering_k28_float64_attention.py.)"""
    L = k.layers
    ids = k.Input((None,), dtype="int32", name="ids")
    seq = k.Input((None, 4), name="seq")
    wide = k.Input((None, 4), dtype=tf.float64, name="wide")
    half = L.Embedding(12, 4, mask_zero=True, dtype="mixed_float16", name="emb_half")(ids)
    plain = L.Embedding(12, 4, mask_zero=True, name="emb_plain")(ids)
    masked = L.Masking(0.0, name="mask_seq")(seq)
    masked_wide = L.Masking(0.0, dtype="float64", name="mask_wide")(wide)
    rnn_half = L.SimpleRNN(4, return_sequences=True, dtype="mixed_float16", name="rnn_half")(half)

    def mha(name: str, dtype: str, x: Any) -> Any:
        return L.MultiHeadAttention(1, 2, dtype=dtype, name=name)(x, x)

    return k.Model([ids, seq, wide], [
        mha("f32_on_half", "float32", half), mha("f32_on_half_rnn", "float32", rnn_half),
        mha("half_on_f32", "mixed_float16", plain), mha("half_on_half", "mixed_float16", half),
        mha("f64_on_f32", "float64", masked), mha("f32_on_f64", "float32", masked_wide),
        mha("f32_on_f32", "float32", masked), mha("f64_on_f64", "float64", masked_wide)], name="tf_mha_casts")


def _mha_inputs(model: Any, family: str, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Ids and steps padded with zeros at the end (a row fully padded), at two batch sizes and lengths."""
    runs = []
    for batch, length in ((3, 5), (2, 3)):
        ids = rng.integers(1, 12, (batch, length)).astype(np.int32)
        seq = rng.standard_normal((batch, length, 4)).astype(np.float32)
        for row in range(batch):
            keep = [length - 2, 0, length][row % 3]
            ids[row, keep:], seq[row, keep:] = 0, 0.0
        runs.append({"ids": ids, "seq": seq, "wide": seq[::-1].astype(np.float64)})
    return runs


def _inputs_of(model: Any, family: str, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    return (_mha_inputs if family == "tf_mha_casts" else _inputs)(model, family, rng)


FAMILIES = {"k3_top_k": k3_top_k, "tf_top_k": tf_top_k, "tf_mha_casts": tf_mha_casts}
TOP_K_CASES = [("k3_top_k", "keras3.keras"), ("k3_top_k", "keras3.h5"), ("tf_top_k", "tf_keras.h5")]
CASES = [*TOP_K_CASES, ("tf_mha_casts", "tf_keras.h5")]
converted = converted_fixture("k28_random_finds", CASES, two_size_saver(FAMILIES, _inputs_of, seed=281))


@pytest.mark.node
@each_case(TOP_K_CASES)
def test_top_k_of_float64_values_held_exactly_matches_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
def test_tf_keras_mha_reads_no_mask_of_a_query_its_autocast_replaced(converted, tfjs_runtime):
    """Within float16's precision (1e-2 of the range, as the float16 tests; the mask error was 0.06..0.47)."""
    path, runs, _ = converted[("tf_mha_casts", "tf_keras.h5")]
    verify_runs_within(path, runs)


def test_top_k_of_float64_values_on_pairs_is_named_as_traced(tmp_path):
    """A float64 sum with a constant float32 cannot hold is computed on pairs: Keras orders its own float64 values,
    which may differ from the pair's in the last bits; since session 33 its top_k orders their float32 values as the
    traced path does, named in the float64 notice (numbers: tests/test_issue16_float64_rounded_s33.py)."""
    import tfjsconv

    w = keras.Input((6,), name="w", dtype="float64")
    keras.Model(w, keras.ops.top_k(w + 0.1, 2)[0]).save(tmp_path / "m.keras")
    details = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model").details
    assert any("TopKV2 " in d and "order float32 values" in d for d in details), details
