"""TimeDistributed over a wrapped model on integer inputs, lowered with h5py (session 18).

Both flavours cast the folded input to the dtype of the wrapped model's Input (Keras 3's
``Functional._standardize_inputs``, tf_keras's ``_conform_to_reference_input``): int32 ids into an int32 Input stay
ids (an Embedding per step, the common per-sentence embedding of ``[batch, sentences, words]`` ids), int32 values into
a float Input become float32 (the extremes too: Keras's cast rounds as TF.js's does), and a model that only moves its
ids returns int32. An ``Embedding(mask_zero=True)`` inside: Keras 3 makes and reads the mask within each step and the
wrapper's output carries none; tf_keras's ``compute_mask`` asks the wrapped model, whose output carries none when a
pooling or an RNN inside reads and drops it (a GRU after the wrapper shows no mask reaches it; so too for a
Masking and a GRU inside, refused for tf_keras before). Converted with
TensorFlow, Keras and tf_keras poisoned, at two sizes of unknown time (and batch), run in TF.js cpu and wasm against
Keras's own ``model(x)``. What stays refused is named: another cast at the wrapped model's Input, and tf_keras's
wrapped model whose output carries the mask it makes. (A TimeDistributed of a model with two outputs is no gap:
neither Keras builds one; nor is a ``.keras`` archive with a layer of the wrapped model used elsewhere too: Keras 3
cannot load it back.)
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import _is_keras3, lowering_refusal  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

FLAVORS = ["keras3.keras", "keras3.h5", "tf_keras.h5"]
#: ``(batch, steps)`` of each run: time (and batch) unknown in the config, read at run time.
SIZES = [(2, 3), (3, 5)]
WORDS, VOCABULARY = 5, 20


def ids_family(k: Any) -> Any:
    """Integer inputs into wrapped models: Embedding + pooling per step (with and without ``mask_zero``, a GRU after
    the masked one), Embedding + GRU, a Functional model of an Embedding branch and a Dense on the ids, a model that
    only reshapes its ids (int32 out), and int32 extremes and uint8 values into a float Input (cast by Keras). And a
    model that casts int32 values it gets as float32 back to int32 (Keras's cast rounded them past 2^24). And a
    floats into an int32 Input (TF's cast: NaN, ±Inf and 2^31 to INT_MIN, truncated toward zero). And a
    float one: a Masking inside whose mask a GRU inside reads and drops (tf_keras's output carries no mask either)."""
    L = k.layers
    ids = k.Input((None, WORDS), name="ids", dtype="int32")
    big = k.Input((None, 3), name="big", dtype="int32")
    pixels = k.Input((None, 6), name="pixels", dtype="uint8")
    img = k.Input((None, 7, 2), name="img")

    def sequential(name: str, *layers: Any, dtype: str = "int32", width: int = WORDS) -> Any:
        return k.Sequential([k.Input((width,), dtype=dtype), *layers], name=name)

    pooled = sequential("pooled", L.Embedding(VOCABULARY, 3), L.GlobalAveragePooling1D())
    masked = sequential("masked", L.Embedding(VOCABULARY, 3, mask_zero=True), L.GlobalAveragePooling1D())
    recurrent = sequential("recurrent", L.Embedding(VOCABULARY, 3, mask_zero=True), L.GRU(2))
    moved = sequential("moved", L.Reshape((WORDS, 1)), L.Flatten())
    words = k.Input((WORDS,), dtype="int32", name="words")
    branches = L.Concatenate(name="both")([L.Flatten(name="flat")(L.Embedding(VOCABULARY, 2, name="emb")(words)),
                                           L.Dense(3, name="on_ids")(words)])
    functional = k.Model(words, branches, name="functional")
    sentences = L.TimeDistributed(masked, name="td_masked")(ids)
    outputs = [L.TimeDistributed(pooled, name="td_pooled")(ids), sentences, L.GRU(3, name="gru")(sentences),
               L.TimeDistributed(recurrent, name="td_recurrent")(ids),
               L.TimeDistributed(functional, name="td_functional")(ids),
               L.TimeDistributed(moved, name="td_moved")(ids),
               L.TimeDistributed(sequential("cast", L.Dense(2), dtype="float32", width=3), name="td_cast")(big),
               L.TimeDistributed(sequential("pixel", L.Dense(2), dtype="float32", width=6), name="td_pixels")(pixels)]
    inner = k.Sequential([k.Input((7, 2)), L.Masking(0.0), L.GRU(3)], name="inner")  # a float mask made, read, dropped
    per_image = L.TimeDistributed(inner, name="td_inner")(img)
    outputs += [per_image, L.GRU(2, name="after_inner")(per_image)]
    later = L.Cropping1D((1, 0), name="later")(pixels)  # uint8 the walk holds as float32, its dtype tracked
    outputs.append(L.TimeDistributed(sequential("bytes", L.Embedding(256, 2), L.Flatten(), dtype="uint8", width=6),
                                     name="td_bytes")(later))
    wide = k.Input((None, 4), name="wide", dtype="int32")
    floats = k.Input((4,), name="floats")  # Keras casts the int32 values to float32 (rounding past 2^24), then back
    if _is_keras3(k):
        back = k.ops.cast(floats, "int32")
    else:
        import tensorflow as tf

        back = tf.cast(floats, tf.int32)
    outputs.append(L.TimeDistributed(k.Model(floats, back, name="round_trip"), name="td_round_trip")(wide))
    reals = k.Input((None, 4), name="reals")  # floats into an int32 Input: TF's cast (truncated, INT_MIN for NaN...)
    outputs.append(L.TimeDistributed(sequential("truncated", L.Reshape((2, 2)), L.Flatten(), width=4),
                                     name="td_truncated")(reals))
    outputs.append(L.TimeDistributed(sequential("moved_bytes", L.Reshape((3, 2)), L.Flatten(), dtype="uint8", width=6),
                                     name="td_moved_bytes")(later))  # uint8 out (Keras's dtype, cast back)
    return k.Model([ids, big, pixels, img, wide, reals], outputs)


def _inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Ids with padding (0, masked by ``mask_zero``): a whole zero step, a step padded at its end, one zero inside;
    int32 values with both extremes, 2^24 + 1 (rounded by the cast) and zero, and values past 2^24 at and between
    float32's steps (ties rounded to even); floats with NaN, ±Inf, ±2^31, 2^31 - 128 and negative halves; uint8
    values with 0 and 255; images
    with a whole zero step and trailing zero positions (masked by the Masking inside)."""
    ids = rng.integers(0, VOCABULARY, (batch, steps, WORDS)).astype("int32")
    ids[0, 1] = 0
    ids[1, -1, 2:] = 0
    ids[-1, 0, 1] = 0
    big = rng.integers(-2**31, 2**31, (batch, steps, 3), dtype=np.int64).astype("int32")
    big[0, 0] = [2**31 - 1, -2**31, 2**24 + 1]
    big[-1, -1] = [0, -1, 1]
    pixels = rng.integers(0, 256, (batch, steps, 6)).astype("uint8")
    pixels[0, 0] = [0, 255, 0, 255, 1, 128]
    img = rng.standard_normal((batch, steps, 7, 2)).astype("float32")
    img[0, 1] = 0.0  # a whole step masked inside
    img[1, 0, 4:] = 0.0
    wide = np.array([2**24 + 1, 2**24 + 3, -(2**25 + 2), 2**30 + 65], np.int32) + \
        rng.integers(-8, 8, (batch, steps, 1)).astype("int32")  # float32's ties and steps past 2^24
    wide[-1, -1] = [0, -1, 2**24, 2**31 - 129]
    reals = (rng.standard_normal((batch, steps, 4)) * 10).astype("float32")
    reals[0, 0] = [np.nan, np.inf, -np.inf, 2.0**31]
    reals[-1, -1] = [-0.5, -1.5, 2.0**31 - 128, -(2.0**31)]
    values = {"ids": ids, "big": big, "pixels": pixels, "img": img, "wide": wide, "reals": reals}
    return {t.name.split(":")[0]: values[t.name.split(":")[0]] for t in model.inputs}


CASES = [("ids", flavor) for flavor in FLAVORS]
converted = converted_fixture("td_ids", CASES, two_size_saver({"ids": ids_family}, at_runs(_inputs, SIZES), seed=18))


@pytest.mark.node
@each_case(CASES)
def test_time_distributed_models_on_integers_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_what_stays_refused_is_named(tmp_path):
    """Floats cast to an int16 Input (TF's cast of a float out of int16's range is undefined; the int32 -> int16 and
    float -> int64 casts lower since session 19: test_keras_lowering_nested_casts_s19.py), and tf_keras's wrapped
    model whose output carries the mask its Embedding makes (the wrapper's output would carry it)."""
    L = keras.layers
    x = keras.Input((None, 4), name="x")
    narrow = keras.Sequential([keras.Input((4,), dtype="int16"), L.Dense(2)], name="narrow")
    keras.Model(x, L.TimeDistributed(narrow, name="td_int16")(x)).save(tmp_path / "int16.keras")
    assert "does not cover 1 layer: 'td_int16' (TimeDistributed) of a model whose Input is int16, on float inputs " \
           "(Keras casts them to it; not lowered)" in lowering_refusal(tmp_path / "int16.keras")

    tf_keras = pytest.importorskip("tf_keras")
    T = tf_keras.layers
    ids2 = tf_keras.Input((None, 4), name="ids", dtype="int32")
    carried = tf_keras.Sequential([tf_keras.Input((4,), dtype="int32"), T.Embedding(10, 2, mask_zero=True, name="emb"),
                                   T.Dense(2)], name="carried")
    tf_keras.Model(ids2, T.TimeDistributed(carried, name="td_carried")(ids2)).save(tmp_path / "carried.h5")
    assert re.search(r"does not cover 1 layer: 'td_carried' \(TimeDistributed\(Sequential\): tf_keras gives its "
                     r"output the mask the wrapped model's 'emb' \(Embedding\) makes\)",
                     lowering_refusal(tmp_path / "carried.h5"))
