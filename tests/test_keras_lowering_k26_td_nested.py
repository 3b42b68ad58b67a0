"""A mask into TimeDistributed(nested model) whose layers read it (session 26, issue 16; refused before while
``--loader=tensorflow`` converted it): the hierarchical char -> word encoder, ``Embedding(mask_zero)`` of
``[batch, sentences, words]`` ids, then a wrapped model of a Dense and a GlobalAveragePooling1D or an LSTM per word.

Keras hands the wrapped model each step's mask (Keras 3 ``mask[:, t]`` to its ``call``, tf_keras the mask reshaped
to ``[batch·sentences, words]``): its pooling averages the kept characters, an all-padding word giving 0/0 = NaN in
Keras. The wrapper's output mask: Keras 3 the input's; tf_keras the wrapped model's output mask reshaped back (an
LSTM returning sequences), or the input's reduced with ``any`` where that is None (a pooling last), which a GRU or
a masked pooling after the wrapper reads (tf_keras's pooling multiplies NaN by 0: NaN for the whole sentence).
tf_keras ``.h5`` (Functional inner model, pooling after) and Keras 3 ``.keras`` (Sequential inner model too);
one converted model at two input sizes (sentences and words unknown), batches with all-padding words and an
all-padding sentence, TF.js cpu and wasm against ``model(x)``, TensorFlow and Keras poisoned. Also a Masking of
``[batch, frames, 7, 2]`` into a wrapped Sequential pooling (Keras 3), and TimeDistributed(TimeDistributed(model))
in float32 (both flavours; refused in every policy until session 26), folded once over both time axes; a mask into
those two wrappers that a layer inside reads stays a gap, and so does a float16 policy among them
(``test_keras_lowering_k25_float_wrappers``). The masks session 26 refused by name (a float16 wrapper or values,
int32 values, a float64 Input, a mask all layers inside two wrappers hand on) lower since session 28
(``test_keras_lowering_k28_td_masks``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")

from keras_models import keras_module  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def _encoder(k: Any, tail: str, sequential: bool) -> Any:
    """The per-word model: Dense then a mask reader (GlobalAveragePooling1D, LSTM, LSTM returning sequences)."""
    L = k.layers
    reader = {"gap": lambda: L.GlobalAveragePooling1D(name="gap"), "lstm": lambda: L.LSTM(3, name="lstm"),
              "lstm_seq": lambda: L.LSTM(3, return_sequences=True, name="lstm")}[tail]
    if sequential:
        return k.Sequential([k.Input((None, 8)), L.Dense(6, name="d"), reader()], name="words")
    chars = k.Input((None, 8), name="chars")
    return k.Model(chars, reader()(L.Dense(6, name="d")(chars)), name="words")


def _family(tail: str, sequential: bool = False):
    def build(k: Any) -> Any:
        L = k.layers
        ids = k.Input((None, None), dtype="int32", name="ids")
        embedded = L.Embedding(12, 8, mask_zero=True, name="emb")(ids)
        words = L.TimeDistributed(_encoder(k, tail, sequential), name="td")(embedded)
        outputs = [words]
        if tail == "gap" and keras_module("tf_keras.h5") is k:  # Keras 3 keeps [batch, s, w]: its pool fails
            outputs.append(L.GlobalAveragePooling1D(name="sentence_gap")(words))
        if tail == "lstm":  # reads the wrapper's output mask, [batch, sentences]
            outputs.append(L.GRU(2, name="gru")(words))
        if tail == "lstm_seq":  # reads [batch, sentences, words] per sentence
            outputs.append(L.TimeDistributed(L.GlobalAveragePooling1D(name="pool"), name="td_pool")(words))
        return k.Model(ids, outputs)

    return build


def masked_frames(k: Any) -> Any:
    """Masking of ``[batch, frames, 7, 2]`` (mask ``[batch, frames, 7]``) into a wrapped Sequential Dense + pooling:
    refused until session 26 (``test_keras_lowering_s17_time_distributed_models``'s refusal)."""
    L = k.layers
    img = k.Input((None, 7, 2), name="img")
    reader = k.Sequential([k.Input((7, 2)), L.Dense(3, name="d"), L.GlobalAveragePooling1D(name="gap")], name="reader")
    return k.Model(img, L.TimeDistributed(reader, name="td_reader")(L.Masking(0.0, name="masking")(img)))


def td_td(k: Any) -> Any:
    """TimeDistributed(TimeDistributed(model)), float32, over two time axes of unknown size: refused in every policy
    until session 26 (Keras 3: "keeps weights in places the lowering does not read"; tf_keras: "wraps Functional")."""
    L = k.layers
    rows = k.Input((6, 4), name="rows")
    h = L.Conv1D(3, 2, name="conv")(rows)
    inner = k.Model(rows, L.Dense(2, name="head")(L.GlobalMaxPooling1D(name="pool")(h)), name="row_model")
    frames = k.Input((None, None, 6, 4), name="frames")
    return k.Model(frames, L.TimeDistributed(L.TimeDistributed(inner, name="td_in"), name="td_out")(frames))


def _ids(model: Any, rng: np.random.Generator, batch: int, sentences: int, words: int) -> dict[str, np.ndarray]:
    if model.inputs[0].name.split(":")[0] == "frames":
        return {"frames": rng.standard_normal((batch, sentences, words - 3, 6, 4)).astype("float32")}
    if model.inputs[0].name.split(":")[0] == "img":
        img = rng.standard_normal((batch, sentences, 7, 2)).astype("float32")
        img[0, 1] = 0.0  # a fully masked frame: NaN
        img[-1, 0, 2:5] = 0.0
        return {"img": img}
    ids = rng.integers(1, 12, (batch, sentences, words)).astype("int32")
    ids[0, 1] = 0  # an all-padding word
    ids[0, 0, 2:] = 0
    ids[1, -1, 1:] = 0
    ids[-1] = 0  # an all-padding sentence
    if batch > 2:
        ids[1, :, 3:] = 0  # padded words, none all-padding
    return {"ids": ids}


FAMILIES = {"gap": _family("gap"), "lstm": _family("lstm"), "lstm_seq": _family("lstm_seq"),
            "lstm_seq_sequential": _family("lstm_seq", sequential=True), "masked_frames": masked_frames, "td_td": td_td}
CASES = [("gap", "tf_keras.h5"), ("gap", "keras3.keras"), ("lstm", "tf_keras.h5"), ("lstm_seq", "tf_keras.h5"),
         ("lstm_seq_sequential", "keras3.keras"), ("masked_frames", "keras3.keras"), ("td_td", "tf_keras.h5"),
         ("td_td", "keras3.keras")]
RUNS = [(2, 3, 5), (3, 4, 6)]
converted = converted_fixture("k26_td_nested", CASES, two_size_saver(FAMILIES, at_runs(_ids, RUNS), seed=261))


@pytest.mark.node
@each_case(CASES)
def test_masked_time_distributed_model_matches_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    assert any(np.isnan(o).any() for _, outputs in runs for o in outputs) == (family not in ("lstm", "td_td"))
    verify_runs(path, runs)


@pytest.mark.parametrize("flavor", ["tf_keras.h5", "keras3.keras"])
def test_a_mask_into_two_wrappers_around_a_model_is_no_gap(flavor):
    """A mask into TimeDistributed(TimeDistributed(model)) that a layer inside reads is followed through the two
    wrappers since session 29 (named before; numbers checked in ``test_keras_lowering_masks_s29``; one all its
    layers hand on lowers since session 28, ``test_keras_lowering_k28_td_masks``)."""
    from test_keras_lowering import layer_gaps_of

    k = keras_module(flavor)
    L = k.layers
    cells = k.Input((5, 4), name="cells")
    inner = k.Model(cells, L.GlobalAveragePooling1D(name="gap")(L.Dense(2, name="d")(cells)), name="cell_model")
    grid = k.Input((None, None, 5, 4), name="grid")
    wrapped = L.TimeDistributed(L.TimeDistributed(inner, name="td_in"), name="td_out")
    gaps = layer_gaps_of(k.Model(grid, wrapped(L.Masking(0.0, name="masking")(grid))))
    assert gaps == [], gaps
