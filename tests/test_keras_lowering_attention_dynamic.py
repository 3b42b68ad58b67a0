"""Attention layers over lengths known only at run time (``keras.Input((None, 8))``, issue 16).

MultiHeadAttention (default axes), GroupedQueryAttention, Attention and AdditiveAttention on queries and values of
unknown, independent lengths and an unknown batch: the head reshapes read the sizes at run time, and the causal
and sliding-window masks are built from the lengths (``Range`` and comparisons). Each model is Keras's own
``model(x, training=False)`` at two lengths and batch sizes, saved by Keras 3 (``.keras``) and tf_keras (``.h5``),
converted once with TensorFlow, Keras and tf_keras poisoned and the default backends' contract (cpu, wasm, webgl),
then fed both sizes in real TF.js (cpu, wasm).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def _mha(k, heads, key_dim, name, **options):
    return k.layers.MultiHeadAttention(heads, key_dim, name=name, **options)


def multi_head(k):
    """MultiHeadAttention with the default axes: cross attention over two unknown lengths (a key other than the
    value, ``output_shape``), causal (self, cross, a query of known length), ``attention_mask``s ``[B, T, S]`` and
    ``[B, heads, T, S]`` and ``[B, 1, S]``, a masked key, returned scores,
    Keras masks of ``Embedding(mask_zero=True)`` and ``Masking`` on query and value, dropout's explicit path;
    Keras 3's ``use_gate`` and ``sliding_window``, tf_keras's ``softmax_robust_masking``."""
    L = k.layers
    seq, other = k.Input((None, 8), name="seq"), k.Input((None, 6), name="other")
    ids = k.Input((None,), dtype="int32", name="ids")
    mask = k.Input((None, None), dtype="bool", name="mask")
    mask_heads = k.Input((2, None, None), dtype="bool", name="mask_heads")
    mask_padding = k.Input((1, None), dtype="bool", name="mask_padding")
    fixed = k.Input((4, 8), name="fixed")
    key = L.Dense(5, name="key_features")(other)

    def padded(x, name):  # one Masking per attention: Keras 3's MultiHeadAttention deletes the masks it reads
        return L.Masking(name=f"masking_{name}")(x)

    def embedded(name):
        return L.Embedding(12, 8, mask_zero=True, name=f"embedding_{name}")(ids)

    outputs = [
        _mha(k, 2, 4, "cross")(seq, other),
        _mha(k, 2, 3, "cross_key", value_dim=4, output_shape=(3,))(seq, other, key=key),
        _mha(k, 2, 4, "causal_self")(seq, seq, use_causal_mask=True),
        _mha(k, 2, 4, "causal_cross")(seq, other, use_causal_mask=True),
        _mha(k, 2, 4, "attention_mask")(seq, other, attention_mask=mask),
        _mha(k, 2, 4, "per_head_mask")(seq, other, attention_mask=mask_heads),
        _mha(k, 2, 4, "padding_mask")(seq, other, attention_mask=mask_padding),
        _mha(k, 2, 4, "key_masked")(seq, other, key=padded(other, "key")),
        _mha(k, 2, 4, "fixed_query_causal")(fixed, other, use_causal_mask=True),
        *_mha(k, 2, 4, "scores")(seq, other, attention_mask=mask, return_attention_scores=True),
        _mha(k, 2, 4, "keras_masks")(embedded("query"), padded(other, "value"), use_causal_mask=True),
        _mha(k, 2, 4, "query_mask_dropout", dropout=0.2)(embedded("dropout"), other),
        *_mha(k, 2, 4, "scores_masks")(padded(seq, "scores_query"), padded(seq, "scores_value"),
                                       return_attention_scores=True),
    ]
    if k is keras:
        outputs.append(_mha(k, 2, 4, "gated_window", use_gate=True, sliding_window=2)(seq, other, attention_mask=mask))
        outputs.append(_mha(k, 2, 4, "window_causal", sliding_window=3)(seq, seq, use_causal_mask=True))
    else:
        outputs.append(_mha(k, 2, 4, "robust", softmax_robust_masking=True)(seq, other, attention_mask=mask))
    return k.Model([seq, other, ids, mask, mask_heads, mask_padding, fixed], outputs)


def luong_bahdanau(k):
    """Attention (scaled or not, ``score_mode`` dot and concat) and AdditiveAttention (scaled or not) over two unknown
    lengths: causal, returned scores, Keras masks on query and value, a key other than the value."""
    L = k.layers
    seq, other = k.Input((None, 6), name="seq"), k.Input((None, 6), name="other")
    key = L.Dense(6, name="key_features")(other)
    causal = {"use_causal_mask": True}
    outputs = [
        L.Attention(name="dot")([seq, other, key]),
        L.Attention(use_scale=True, name="dot_causal")([seq, seq], **causal),
        *L.Attention(score_mode="concat", name="concat_scores")([seq, other], return_attention_scores=True),
        L.Attention(name="masked_causal")([L.Masking(name="masking_query")(seq),
                                           L.Masking(name="masking_value")(other)], **causal),
        L.AdditiveAttention(name="additive")([seq, other]),
        L.AdditiveAttention(use_scale=False, name="additive_causal")([seq, other], **causal),
        L.AdditiveAttention(name="additive_masked")([L.Masking(name="masking_additive")(seq), other]),
    ]
    return k.Model([seq, other], outputs)


def grouped(k):
    """Keras 3's GroupedQueryAttention over two unknown lengths: heads repeated by a gather, causal with a Keras mask,
    an ``attention_mask``, returned scores, ``sliding_window`` (one past int32: every step kept); a float
    ``attention_mask`` alone, which the fused path bool-casts (nonzero kept) and the explicit path hands to the
    Softmax layer as it is (``> 0.5`` kept)."""
    L = k.layers
    seq, other = k.Input((None, 8), name="seq"), k.Input((None, 8), name="other")
    mask = k.Input((None, None), dtype="bool", name="mask")
    mask_float = k.Input((None, None), name="mask_float")

    def gqa(name, **options):
        return L.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2, name=name, **options)

    outputs = [
        gqa("cross")(seq, other),
        gqa("causal_masked")(L.Masking(name="masking_query")(seq), seq, use_causal_mask=True),
        gqa("attention_mask")(seq, other, attention_mask=mask),
        *gqa("scores", sliding_window=2)(seq, other, return_attention_scores=True),
        gqa("window_past_int32", sliding_window=2**31)(seq, other, use_causal_mask=True),
        gqa("fused_float_mask")(seq, other, attention_mask=mask_float),
        *gqa("scores_float_mask")(seq, other, attention_mask=mask_float, return_attention_scores=True),
    ]
    return k.Model([seq, other, mask, mask_float], outputs)


FAMILIES = {"multi_head": multi_head, "luong_bahdanau": luong_bahdanau, "grouped": grouped}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")
         if family != "grouped" or flavor.startswith("keras3")]
#: (batch, query steps, value steps) of the two runs fed to one converted model.
RUNS = [(2, 5, 7), (3, 4, 3)]


def _inputs(model, rng: np.random.Generator, batch: int, steps: int, other_steps: int) -> dict[str, np.ndarray]:
    """Inputs of one run: ``ids`` with zeros (masked steps; one sample's first step), masks with one query step that
    drops every value step (a float mask's kept entries 1, 0.3 or 3), padded sequences with zero steps for
    ``Masking``."""
    inputs = {}
    for t in model.inputs:
        name = t.name.split(":")[0]
        if name == "ids":
            value = rng.integers(0, 12, (batch, steps)).astype("int32")
            value[0, 0] = 0
        elif name.startswith("mask"):  # [.., T, S] with T and/or S unknown
            dims = list(t.shape)[1:]
            dims[-1] = other_steps
            dims[-2] = steps if dims[-2] is None else dims[-2]
            value = rng.random((batch, *dims)) > 0.3
            value[(0,) * (value.ndim - 2) + (dims[-2] - 1,)] = False
            if str(getattr(t.dtype, "name", t.dtype)) != "bool":
                value = (value * rng.choice([1.0, 0.3, 3.0], value.shape)).astype("float32")
        else:
            length = steps if name == "seq" else other_steps if t.shape[1] is None else t.shape[1]
            value = rng.standard_normal((batch, length, int(t.shape[-1]))).astype("float32")
            value[0, -1] = 0.0  # a step Masking drops
            value[1, 0] = 0.0
        inputs[name] = value
    return inputs


converted = converted_fixture("attention_dynamic", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=21))


@pytest.mark.node
@each_case(CASES)
def test_attention_over_unknown_lengths_matches_keras_at_two_sizes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@pytest.mark.parametrize("family", [f for f, v in CASES if v == "keras3.keras"])
def test_attention_over_unknown_lengths_runs_on_webgl(converted, browser, family):
    """The run-time shapes, ranges and masks stay at rank 4 or less, so webgl runs them (at one size: each size
    compiles its own shaders; cpu and wasm check both)."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, runs, _ = converted[(family, "keras3.keras")]
    out = Path(f"{path}.out")
    model = json.loads((out / "model.json").read_text())
    ops = {n["op"] for n in model["modelTopology"]["node"]}
    assert "Einsum" not in ops and "Shape" in ops, ops
    names = list(model["signature"]["outputs"])
    inputs, outputs = runs[-1]
    report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                          atol=1e-6, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


# (a per-head mask beside a Keras mask over unknown lengths lowers now: test_keras_lowering_k25_attention_masks_*)
