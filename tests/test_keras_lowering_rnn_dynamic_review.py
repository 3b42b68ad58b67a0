"""Review cases of the RNN while loop (issue 16) the main file does not cover, and one static-length regression.

A Bidirectional whose ``backward_layer=`` has other units than its forward layer concatenates ``f + b`` features
(Keras's own static shape says ``2·f``): the converted model's static shape must say ``f + b``, else a Flatten or a
``Reshape((-1,))`` after it reshapes to the wrong width (at batch 6: ``[5, 24]`` for Keras's ``[6, 20]``).
Over an unknown time length: batch 1 and a single step, stacked cells started from nested ``initial_state``
inputs, a Bidirectional with other units returning its states (merge_mode None and concat), a mask given as a
``mask=`` input, a nested model and a Bidirectional each called on two inputs (four loops, one frame each), and
an encoder-decoder whose decoder starts from the encoder's states over a sequence of another length.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, flat, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering_rnn_dynamic import FLAVORS  # noqa: E402


def other_units_flattened(k):
    """Static length: a Bidirectional concat of 3 + 2 units, flattened two ways."""
    L = k.layers
    x = k.Input((4, 3), name="steps")
    both = L.Bidirectional(L.LSTM(3, return_sequences=True), name="both",
                           backward_layer=L.LSTM(2, return_sequences=True, go_backwards=True))(x)
    return k.Model(x, [L.Flatten(name="flat")(both), L.Reshape((-1,), name="flat_reshape")(both)])


def edges(k):
    """Unknown time length: stacked cells from nested initial states, other units with return_state, mask=."""
    L = k.layers
    x, ids = k.Input((None, 3), name="steps"), k.Input((None,), dtype="int32", name="ids")
    h, c, g = k.Input((3,), name="h"), k.Input((3,), name="c"), k.Input((2,), name="g")
    flags = k.Input((None,), dtype="bool", name="flags")
    emb = L.Embedding(9, 3, mask_zero=True, name="emb")(ids)
    stacked = L.RNN([L.LSTMCell(3), L.GRUCell(2)], return_state=True, go_backwards=True, name="stacked")(
        emb, initial_state=[[h, c], g])
    pair = L.Bidirectional(L.LSTM(3, return_sequences=True, return_state=True), merge_mode=None, name="pair",
                           backward_layer=L.LSTM(2, use_bias=False, return_sequences=True, return_state=True,
                                                 go_backwards=True))(emb)
    joined = L.Bidirectional(L.GRU(3, return_state=True), name="joined",
                             backward_layer=L.GRU(2, reset_after=False, return_state=True, go_backwards=True))(x)
    flagged = L.GRU(2, go_backwards=True, return_sequences=True, name="flagged")(x, mask=flags)
    inner_in = k.Input((None, 3), name="inner_in")
    inner = k.Model(inner_in, L.SimpleRNN(2, name="inner_rnn")(inner_in), name="inner")
    shared = L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode="sum", name="shared")
    return k.Model([x, ids, h, c, g, flags], [*flat(stacked), *flat(pair), *joined, flagged, inner(x), inner(emb),
                                              shared(x), shared(emb)])


def seq2seq(k):
    """An encoder's final states start a decoder over a sequence of another length: the decoder's loop variables
    arrive from the encoder's loop, after the decoder's own counter may have started (executeAsync)."""
    L = k.layers
    src, tgt = k.Input((None,), dtype="int32", name="src"), k.Input((None, 4), name="tgt")
    enc = L.Bidirectional(L.GRU(3, return_sequences=True), name="enc_bi")(L.Embedding(9, 4, mask_zero=True,
                                                                                      name="enc_emb")(src))
    _, h, c = L.LSTM(3, return_state=True, name="enc")(enc)
    dec, dec_h, _ = L.LSTM(3, return_sequences=True, return_state=True, name="dec")(tgt, initial_state=[h, c])
    again = L.GRU(3, go_backwards=True, name="again")(dec, initial_state=[dec_h])
    return k.Model([src, tgt], [L.Dense(2, name="out")(dec), again])


FAMILIES = {"other_units_flattened": other_units_flattened, "edges": edges, "seq2seq": seq2seq}
CASES = [(family, flavor) for family in FAMILIES for flavor in FLAVORS]
#: (batch, steps) of each run; a static length keeps its own (batch 6: 120 values reshape to [5, 24] too).
RUNS = {"other_units_flattened": ((6, 4),), "edges": ((1, 1), (5, 4)), "seq2seq": ((1, 1), (5, 4))}
#: The decoder's length in seq2seq's runs, by the encoder's.
TARGET_STEPS = {1: 3, 4: 2}


def _inputs(model, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Random inputs; ids padded and flags cleared at the start of row 0, the end of row 1 and all of row 2."""
    inputs = {}
    for t in model.inputs:
        length = TARGET_STEPS[steps] if t.name.split(":")[0] == "tgt" else steps
        shape = (batch, *(length if d is None else d for d in tuple(t.shape)[1:]))
        dtype = str(getattr(t.dtype, "name", t.dtype))
        if "int" in dtype or "bool" in dtype:
            value = rng.integers(1, 9, shape).astype("int32") if "int" in dtype else rng.random(shape) > 0.3
            if batch >= 3:
                value[0, :2] = value[1, -1:] = value[2] = 0
        else:
            value = rng.standard_normal(shape).astype("float32")
        inputs[t.name.split(":")[0]] = value
    return inputs


converted = converted_fixture("rnn_dynamic_review", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=23))


@pytest.mark.node
@each_case(CASES)
def test_review_cases_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    out = Path(f"{path}.out")
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    frames = [n["attr"]["frame_name"]["s"] for n in nodes if n["op"] == "Enter"]
    assert len(set(frames)) == sum(n["op"] == "LoopCond" for n in nodes) == {"other_units_flattened": 0, "edges": 13, "seq2seq": 5}[family]
    verify_runs(path, runs)
