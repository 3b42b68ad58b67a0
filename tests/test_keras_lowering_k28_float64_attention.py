"""Float64 attention with rows masked entirely (session 28, H11; found by H8 with the random bench's ``--policies``).

Keras computes a float64 layer's masked logits in float64 as ``logit - 1e9`` (tf_keras's Softmax mask adder in
MultiHeadAttention, Attention's and AdditiveAttention's dropped scores in both flavours), which keeps the logits'
differences: a row masked entirely is the softmax of its logits as if unmasked. Float32 rounds them all to -1e9 (a
uniform row), which the lowering did: 10.8 off in a tf_keras MHA's padded query rows, silently. Lowered now with
such rows kept (:func:`plugins.keras.lowering.attention.float64_kept_rows`); partly masked rows as before (their
masked steps weigh 0 in both widths). Keras 3's MultiHeadAttention fills masked logits with a constant (``where``):
a uniform row in either width, a control here. The rows masked entirely come from a causal mask beside a value
padded at its start (a query step before the first kept key) and from padded query rows; the logits differ there.

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

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering_k25_float64 import _refused  # noqa: E402  (saved, refused by pattern, nothing written)


def _inputs(k: Any) -> tuple[Any, Any, Any]:
    """A float64 query and a float64 value whose zero steps a float64 Masking masks."""
    query = k.Input((None, 4), dtype="float64", name="query")
    value = k.Input((None, 4), dtype="float64", name="value")
    return query, value, k.layers.Masking(0.0, dtype="float64", name="padded")(value)


def attention_f64(k: Any) -> Any:
    """Attention (dot, concat) and AdditiveAttention in float64, causal over a value padded at its start."""
    query, value, padded = _inputs(k)
    L = k.layers
    dot = L.Attention(dtype="float64", name="dot")([query, padded], use_causal_mask=True)
    concat = L.Attention(score_mode="concat", dtype="float64", name="concat")([query, padded], use_causal_mask=True)
    additive = L.AdditiveAttention(dtype="float64", name="additive")([query, padded], use_causal_mask=True)
    plain = L.Attention(dtype="float64", name="plain")([query, padded])
    return k.Model([query, value], [dot, concat, additive, plain], name="attention_f64")


def mha_f64(k: Any) -> Any:
    """Float64 MultiHeadAttention: causal over a padded value (rows masked entirely), self-attention on the padded
    value (its padded query rows masked entirely, in tf_keras), and plain cross-attention (rows partly masked)."""
    query, value, padded = _inputs(k)
    L = k.layers
    causal = L.MultiHeadAttention(2, 3, dtype="float64", name="causal")(query, padded, use_causal_mask=True)
    own = L.MultiHeadAttention(1, 2, dtype="float64", name="own")(padded, padded)
    cross = L.MultiHeadAttention(2, 2, dtype="float64", name="cross")(query, padded)
    return k.Model([query, value], [causal, own, cross], name="mha_f64")


def _runs(model: Any, family: str, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Float32-exact values (what TF.js's float32 inputs hold), the value padded with zeros at its start (2 steps,
    none, all of them), scaled so the logits of a masked row differ by several units."""
    runs = []
    for batch, length in ((3, 5), (2, 3)):
        query = (rng.standard_normal((batch, length, 4)) * 2).astype(np.float32)
        value = (rng.standard_normal((batch, length, 4)) * 2).astype(np.float32)
        for row in range(batch):
            value[row, :[2, 0, length][row % 3]] = 0.0
        runs.append({"query": query.astype(np.float64), "value": value.astype(np.float64)})
    return runs


FAMILIES = {"attention_f64": attention_f64, "mha_f64": mha_f64}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")]
converted = converted_fixture("k28_float64_attention", CASES, two_size_saver(FAMILIES, _runs, seed=2811))


@pytest.mark.node
@each_case(CASES)
def test_float64_attention_keeps_logit_differences_in_rows_masked_entirely(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_float64_mha_with_a_non_bool_attention_mask_is_refused_by_name(tmp_path):
    """tf_keras adds a non-bool mask as ``(1 - mask)·-1e9``: in float64 its fractions keep differences float32
    loses."""
    import tf_keras as k

    query = k.Input((3, 4), dtype="float64", name="query")
    weights = k.Input((3, 3), dtype="float64", name="weights")
    out = k.layers.MultiHeadAttention(1, 2, dtype="float64", name="mha")(query, query, attention_mask=weights)
    _refused(tmp_path, k.Model([query, weights], out), ".h5",
             r"'mha' \(MultiHeadAttention\): a float64 attention with a non-bool mask")
