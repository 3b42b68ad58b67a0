"""RNN layers over a time length known only at run time (``keras.Input((None, 5))``, issue 16): a while loop.

SimpleRNN, LSTM, GRU (reset_after both ways), ``RNN(cell)`` over single and stacked cells, and Bidirectional (every
merge_mode) run their steps in a TF v1 while loop (ConvLSTMs: ``test_keras_lowering_rnn_dynamic_conv.py``). One converted model, fed two different time lengths and batch
sizes, matches Keras 3 (``.keras``) and tf_keras (``.h5``) on cpu and wasm: go_backwards, return_sequences,
return_state, masks (Masking and Embedding ``mask_zero``, padding at the start, in the middle, at the end and a fully
masked row) and ``initial_state``. Each model is converted with TensorFlow, Keras and tf_keras poisoned.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, flat, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering_masks import _padded_ids  # noqa: E402

FLAVORS = ("keras3.keras", "tf_keras.h5")


# -- models (``k`` is keras or tf_keras) --------------------------------------------------------------------------
def layers(k):
    """The three layers, both GRU flavours, ``RNN`` over one cell and over stacked cells, go_backwards,
    return_sequences and return_state, a layer called twice; no mask."""
    L = k.layers
    x = k.Input((None, 5), name="x")
    simple = L.SimpleRNN(3, return_sequences=True, name="simple")(x)
    lstm = L.LSTM(4, go_backwards=True, return_state=True, name="lstm")(x)
    gru = L.GRU(3, return_sequences=True, go_backwards=True, name="gru")(simple)
    gru_before = L.GRU(2, reset_after=False, return_state=True, name="gru_before")(x)
    single = L.RNN(L.GRUCell(3), return_sequences=True, name="single")(x)
    stacked = L.RNN([L.LSTMCell(3), L.GRUCell(2), L.SimpleRNNCell(2)], go_backwards=True, return_state=True,
                    name="stacked")(x)
    shared = L.LSTM(2, return_sequences=True, name="shared")  # called twice: two loops, each its own frame
    return k.Model(x, [simple, *lstm, gru, *gru_before, single, *flat(stacked), shared(x),
                       shared(L.Dense(5, name="dense")(x))])


def masked(k):
    """Masking on float steps and Embedding(mask_zero) on ids: masked steps keep the states and repeat the previous
    output; zero_output_for_mask zeroes them; the mask reaches the layer after a sequence too; stacked cells (the
    later cells read the walked mask); ``initial_state`` tensors (model inputs), unmasked and masked (the previous
    output then starts from zeros)."""
    L = k.layers
    x, ids = k.Input((None, 3), name="steps"), k.Input((None,), dtype="int32", name="ids")
    h, c, g = k.Input((3,), name="h"), k.Input((3,), name="c"), k.Input((2,), name="g")
    floats = L.Masking(name="masking")(x)
    seq = L.LSTM(3, return_sequences=True, name="seq")(floats)
    after = L.GRU(2, go_backwards=True, return_state=True, name="after")(seq)
    zeroed = L.SimpleRNN(2, return_sequences=True, zero_output_for_mask=True, name="zeroed")(floats)
    last_zeroed = L.GRU(2, reset_after=False, zero_output_for_mask=True, name="last_zeroed")(floats)
    embedded = L.Embedding(9, 3, mask_zero=True, name="emb")(ids)
    words = L.LSTM(3, go_backwards=True, return_sequences=True, name="words")(embedded)
    stack = L.RNN([L.SimpleRNNCell(2), L.LSTMCell(3)], return_sequences=True, go_backwards=True,
                  name="stack")(embedded)
    started = L.LSTM(3, return_sequences=True, name="started")(x, initial_state=[h, c])
    started_back = L.GRU(2, go_backwards=True, return_state=True, name="started_back")(x, initial_state=[g])
    started_masked = L.SimpleRNN(3, return_sequences=True, name="started_masked")(embedded, initial_state=[h])
    return k.Model([x, ids, h, c, g], [seq, *after, zeroed, last_zeroed, words, stack, started, *started_back,
                                       started_masked, L.GlobalAveragePooling1D(name="pooled")(words)])


def bidirectional(k):
    """Bidirectional over each layer and ``RNN(cells)``, every merge_mode, unmasked and masked (Keras zeroes masked
    outputs of a sequence and reverses the backward one), ``initial_state`` halves, and a ``backward_layer`` with
    other units and no bias (the two directions' weights differ in count)."""
    L = k.layers
    x, ids = k.Input((None, 3), name="steps"), k.Input((None,), dtype="int32", name="ids")
    g = k.Input((2,), name="g")
    concat = L.Bidirectional(L.LSTM(3, return_sequences=True), name="concat")(x)
    summed = L.Bidirectional(L.GRU(2, return_state=True), merge_mode="sum", name="summed")(x)
    embedded = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    ave = L.Bidirectional(L.GRU(3, reset_after=False, return_sequences=True), merge_mode="ave", name="ave")(embedded)
    mul = L.Bidirectional(L.SimpleRNN(2), merge_mode="mul", name="mul")(embedded)
    pair = L.Bidirectional(L.LSTM(2, return_sequences=True), merge_mode=None, name="pair")(L.Masking(name="mask")(x))
    cells = L.Bidirectional(L.RNN([L.GRUCell(2), L.LSTMCell(2)], return_sequences=True), name="cells")(embedded)
    started = L.Bidirectional(L.GRU(2), name="started")(x, initial_state=[g, g])
    other = L.Bidirectional(L.LSTM(3, return_sequences=True),
                            backward_layer=L.LSTM(2, use_bias=False, return_sequences=True, go_backwards=True),
                            name="other")(embedded)
    return k.Model([x, ids, g], [concat, *summed, ave, mul, *pair, cells, started, other])


FAMILIES = {"layers": layers, "masked": masked, "bidirectional": bidirectional}
CASES = [(family, flavor) for family in FAMILIES for flavor in FLAVORS]
#: (batch, steps) of the two runs of each converted model.
RUNS = ((4, 7), (5, 3))


def _inputs(model, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Sequences of ``steps`` (ids padded and float steps zeroed at the start, middle, end, and a whole row)."""
    inputs = {}
    for i, t in enumerate(model.inputs):
        dims, name = tuple(t.shape)[1:], t.name.split(":")[0]
        shape = (batch, *(steps if d is None else d for d in dims))
        if "int" in str(getattr(t.dtype, "name", t.dtype)):
            inputs[name] = _padded_ids(rng, shape, i)
            continue
        value = rng.standard_normal(shape).astype("float32")
        if len(shape) >= 3:
            value[0, :2] = 0
            value[1, 1:2] = 0
            value[2, -1:] = 0
            value[3] = 0
        if len(shape) >= 4:  # ConvLSTM: a single position masked too
            value[2, 0, 0] = 0
        inputs[name] = value
    return inputs


def _save(family: str, flavor: str, folder: Path, families: dict | None = None):
    """The model saved as ``flavor``, with Keras's outputs for inputs of each run's batch and length (``families``:
    another file's models, fed the same runs)."""
    return two_size_saver(families or FAMILIES, at_runs(_inputs, RUNS), seed=17)(family, flavor, folder)


converted = converted_fixture("rnn_dynamic", CASES, _save)


@pytest.mark.node
@each_case(CASES)
def test_rnns_over_unknown_steps_match_keras_at_two_lengths(converted, tfjs_runtime, family, flavor):
    import json

    path, runs, _ = converted[(family, flavor)]
    nodes = json.loads((Path(f"{path}.out") / "model.json").read_text())["modelTopology"]["node"]
    assert {"Enter", "LoopCond", "NextIteration", "Exit"} <= {n["op"] for n in nodes}
    frames = {n["attr"]["frame_name"]["s"] for n in nodes if n["op"] == "Enter"}
    assert len(frames) == sum(n["op"] == "LoopCond" for n in nodes)  # one frame per loop
    verify_runs(path, runs)


@pytest.mark.node
def test_zero_steps_fail_as_in_keras(converted, tfjs_runtime):
    """Keras fails on a sequence of zero steps (its rnn slices the first step); the converted model fails too
    (a reshape of the first step's row) rather than returning the zero states."""
    import json
    import re

    from tfjsconv.verify.compare import verify_model

    path, runs, _ = converted[("layers", "keras3.keras")]
    empty = np.zeros((2, 0, 5), np.float32)
    with pytest.raises(Exception, match="out of bounds"):
        keras.saving.load_model(path)(empty, training=False)
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    expected = dict(zip(names, runs[0][1], strict=True))  # any values: no backend may get as far as comparing
    report = verify_model(out, {"x": empty}, expected, backends=("cpu", "wasm"), quiet=True)
    assert set(report.crashes) == {"cpu", "wasm"}, report.to_json()["crashes"]
    for run in report.crashes.values():
        assert "old shape" in run.error and re.search(r"\b2,0,\d+\b", run.error), run.error  # [batch, 0, width]


@pytest.mark.node
def test_loops_run_on_webgl(converted, browser):
    """The loops (Enter/Merge/Switch/Exit/NextIteration, a ConcatV2 accumulator, rank-2 selects) run on webgl too:
    the masked family, at both lengths."""
    import json

    from tfjsconv.verify.compare import format_report, verify_model

    path, runs, _ = converted[("masked", "keras3.keras")]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    for inputs, outputs in runs:
        report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                              quiet=True, browser_session=browser)
        assert report.passed, format_report(report)
