"""A masked float16 tensor into a nested model's float32 Input under ``mixed_float16`` (session 25, H2's W1).

tf_keras casts each tensor a nested Functional/Sequential model is given to its Input's dtype
(``Functional._conform_to_reference_input``): a mixed Embedding(mask_zero)'s float16 result (or a mixed Dense's after
it) becomes a new float32 tensor WITHOUT the mask, so the inner layers average over every step. The walk read that
tensor as float32 (the lowering holds float16 in float32; the config's ``mixed_float16`` told no dtype) and kept the
mask: 0.23..1.34 of the output range off, NaN at an all-padding row where Keras is finite, silently. The walk now
knows a float16 layer's result is float16 (:func:`tfjsconv.plugins.keras.lowering.float_widths.is_half`) and the
config's ``mixed_float16`` gives float16 (:func:`...call_facts.nested_given_dtypes`): the cast is made, the mask
dropped. Keras 3 keeps the mask through its cast (lowered so before, unchanged).

Keras 3 (``.keras``) and tf_keras (``.h5``), converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js
cpu and wasm against ``model(x)`` at two lengths, an all-padding row in each batch, within float16's precision (1e-2
of the largest value, as the float16 tests; measured 1e-4..6e-4). Before the fix the tf_keras cases failed (NaN /
0.2..1.3 of the range off).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import keras_module, lowering_refusal  # noqa: E402
from keras_two_sizes import (at_runs, converted_fixture, each_case, two_size_saver, under_policy,  # noqa: E402
                             verify_runs_within)

WIDTH, VOCAB = 8, 12


def _ids(k: Any) -> tuple[Any, Any]:
    """The int32 ids Input and its mixed Embedding(mask_zero)."""
    ids = k.Input((None,), dtype="int32", name="ids")
    return ids, k.layers.Embedding(VOCAB, WIDTH, mask_zero=True, name="emb")(ids)


def _head(k: Any, x: Any) -> Any:
    return k.layers.Dense(2, dtype="float32", name="head")(x)


def gap(k: Any) -> Any:
    """Embedding -> inner(float32 Input: Dense, GlobalAveragePooling1D) -> float32 head (H2's repro)."""
    def build() -> Any:
        L = k.layers
        ids, e = _ids(k)
        i = k.Input((None, WIDTH), name="gap_in")
        inner = k.Model(i, L.GlobalAveragePooling1D(name="gap_pool")(L.Dense(6, name="gap_dense")(i)), name="gi")
        return k.Model(ids, _head(k, inner(e)))
    return under_policy(k, "mixed_float16", build)


def lstm(k: Any) -> Any:
    """A mixed Dense between the Embedding and the nested model, an LSTM inside (Keras's reads no mask)."""
    def build() -> Any:
        L = k.layers
        ids, e = _ids(k)
        h = L.Dense(WIDTH, activation="tanh", name="pre_dense")(e)
        i = k.Input((None, WIDTH), name="lstm_in")
        inner = k.Model(i, L.LSTM(5, name="lstm_rnn")(L.Dense(6, name="lstm_dense")(i)), name="li")
        return k.Model(ids, _head(k, inner(h)))
    return under_policy(k, "mixed_float16", build)


def list_inputs(k: Any) -> Any:
    """inner([masked Embedding, mixed Dense of float features]) with two float32 Inputs, Add, then average."""
    def build() -> Any:
        L = k.layers
        ids, e = _ids(k)
        feats = k.Input((None, 3), name="feats")
        f = L.Dense(WIDTH, name="feat_dense")(feats)
        a, b = k.Input((None, WIDTH), name="la_in"), k.Input((None, WIDTH), name="lb_in")
        inner = k.Model([a, b], L.GlobalAveragePooling1D(name="l_pool")(L.Add(name="l_add")([a, b])), name="lin")
        return k.Model([ids, feats], _head(k, inner([e, f])))
    return under_policy(k, "mixed_float16", build)


def sequential_inner(k: Any) -> Any:
    """A Sequential inner model (float32 Input) after the TimeDistributed(Dense) of the Embedding."""
    def build() -> Any:
        L = k.layers
        ids, e = _ids(k)
        h = L.TimeDistributed(L.Dense(WIDTH, name="td_inner_dense"), name="td")(e)
        inner = k.Sequential([k.Input((None, WIDTH)), L.Dense(6, activation="relu", name="s_dense"),
                              L.GlobalAveragePooling1D(name="s_pool")], name="si")
        return k.Model(ids, _head(k, inner(h)))
    return under_policy(k, "mixed_float16", build)


def half_input(k: Any) -> Any:
    """H2's R4: a mixed Embedding into a nested float16 Input: no cast, Keras's inner layers read the mask."""
    def build() -> Any:
        L = k.layers
        ids, e = _ids(k)
        i = k.Input((None, WIDTH), dtype="float16", name="h_in")
        inner = k.Model(i, L.GlobalAveragePooling1D(name="h_pool")(L.Dense(6, name="h_dense")(i)), name="hi")
        return k.Model(ids, _head(k, inner(e)))
    return under_policy(k, "mixed_float16", build)


def float16_embedding(k: Any) -> Any:
    """H2's R5: a per-layer float16 Embedding(mask_zero) into a nested float32 Input (a float32 model)."""
    L = k.layers
    ids = k.Input((None,), dtype="int32", name="ids")
    e = L.Embedding(VOCAB, WIDTH, mask_zero=True, dtype="float16", name="emb")(ids)
    i = k.Input((None, WIDTH), name="f_in")
    inner = k.Model(i, L.GlobalAveragePooling1D(name="f_pool")(L.Dense(6, name="f_dense")(i)), name="fi")
    return k.Model(ids, _head(k, inner(e)))


FAMILIES = {"gap": gap, "lstm": lstm, "list_inputs": list_inputs, "sequential_inner": sequential_inner,
            "half_input": half_input, "float16_embedding": float16_embedding}
#: Where Keras's inner layers read the mask: a float16 Input (no cast), and Keras 3 (the mask kept through its cast):
#: the masked mean of an all-padding row is NaN there, in Keras and in TF.js.
MASK_KEPT = {"half_input"}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("tf_keras.h5", "keras3.keras")]


def _inputs(model: Any, rng: np.random.Generator, steps: int) -> dict[str, np.ndarray]:
    """Ids with padding at the end of each row and one all-padding row; float features for a second input."""
    ids = rng.integers(1, VOCAB, (3, steps)).astype("int32")
    ids[0, 2:] = 0
    ids[1, :] = 0
    ids[2, steps - 1:] = 0
    found = {"ids": ids}
    if len(model.inputs) > 1:
        found["feats"] = rng.standard_normal((3, steps, 3)).astype("float32")
    return found


converted = converted_fixture("k25_mixed_nested_masks", CASES, two_size_saver(FAMILIES, at_runs(_inputs, [(6,), (9,)]),
                                                                               seed=25))


@pytest.mark.node
@each_case(CASES)
def test_masked_half_tensor_into_nested_model_is_cast_as_keras_casts_it(converted, tfjs_runtime, family, flavor):
    """tf_keras drops the mask with the cast to a float32 Input (kept into a float16 one); Keras 3 keeps it."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs_within(path, runs)
    if flavor.startswith("tf_keras") and family not in MASK_KEPT:  # the all-padding row: the unmasked mean
        assert all(np.isfinite(o).all() for _, outputs in runs for o in outputs)


def test_float64_embedding_into_nested_float32_input_names_its_dtype(tmp_path):
    """H2's R5 for float64 (the walk holds float64 as float32 and cannot tell the cast): refused, naming float64."""
    k = keras_module("tf_keras.h5")
    L = k.layers
    ids = k.Input((None,), dtype="int32", name="ids")
    e = L.Embedding(VOCAB, WIDTH, mask_zero=True, dtype="float64", name="emb")(ids)
    i = k.Input((None, WIDTH), name="w_in")
    inner = k.Model(i, L.GlobalAveragePooling1D(name="w_pool")(i), name="wi")
    path = tmp_path / "wide.h5"
    k.Model(ids, inner(e)).save(path)
    message = lowering_refusal(path)
    assert "'wi' (Functional: tf_keras casts the masked float64 tensor (held as float32)" in message, message
