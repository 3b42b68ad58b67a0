"""ConvLSTM1D/2D/3D over a time length known only at run time (issue 16): the unrolled step in a while loop.

One converted model, fed two different time lengths and batch sizes, matches Keras 3 (``.keras``) and tf_keras
(``.h5``) on cpu and wasm: masks per step and per position (Masking), go_backwards, return_sequences, return_state,
and Bidirectional (the backward sequence flipped). Converted with TensorFlow, Keras and tf_keras poisoned.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")

from test_keras_lowering import _verify, saved_and_converted  # noqa: E402
from test_keras_lowering_rnn_dynamic import FLAVORS, _save  # noqa: E402


def conv_lstm(k):
    """ConvLSTM1D/2D/3D, masked per step and position (Masking), go_backwards, return_state, and inside
    Bidirectional (the backward sequence flipped, masked or not)."""
    L = k.layers
    x1, x2, x3 = k.Input((None, 4, 2), name="x1"), k.Input((None, 3, 3, 2), name="x2"), k.Input((None, 2, 2, 3, 2),
                                                                                                  name="x3")
    seq1 = L.ConvLSTM1D(2, 3, padding="same", return_sequences=True, name="lstm1d")(L.Masking(name="mask1")(x1))
    point1 = L.ConvLSTM1D(3, 1, go_backwards=True, name="point1d")(seq1)
    masked2 = L.Masking(name="mask2")(x2)
    seq2 = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, go_backwards=True, name="lstm2d")(masked2)
    state2 = L.ConvLSTM2D(2, 2, padding="same", return_state=True, name="state2d")(seq2)
    seq3 = L.ConvLSTM3D(2, 2, padding="same", return_sequences=True, name="lstm3d")(L.Masking(name="mask3")(x3))
    plain = L.ConvLSTM2D(2, 2, name="plain")(x2)
    both = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True), name="both")(masked2)
    summed = L.Bidirectional(L.ConvLSTM1D(2, 3), merge_mode="sum", name="summed")(x1)
    return k.Model([x1, x2, x3], [seq1, point1, seq2, *state2, seq3, plain, both, summed])


FAMILIES = {"conv_lstm": conv_lstm}
CASES = [(family, flavor) for family in FAMILIES for flavor in FLAVORS]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "rnn_dynamic_conv", CASES,
                               lambda family, flavor, folder: _save(family, flavor, folder, FAMILIES))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_conv_lstms_over_unknown_steps_match_keras_at_two_lengths(converted, tfjs_runtime, family, flavor):
    import json

    path, runs, _ = converted[(family, flavor)]
    ops = {n["op"] for n in json.loads((Path(f"{path}.out") / "model.json").read_text())["modelTopology"]["node"]}
    assert {"Enter", "LoopCond", "NextIteration", "Exit"} <= ops
    for inputs, outputs in runs:
        _verify(Path(f"{path}.out"), inputs, outputs)


@pytest.mark.node
def test_conv_lstm_loops_run_on_webgl(converted, browser):
    """webgl runs the loops too: rank-5 and rank-6 gathers and accumulators, selects on rank-4 views."""
    import json

    from tfjsconv.verify.compare import format_report, verify_model

    path, runs, _ = converted[("conv_lstm", "keras3.keras")]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    inputs, outputs = runs[0]
    report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                          quiet=True, browser_session=browser)
    assert report.passed, format_report(report)


@pytest.mark.node
def test_zero_steps_fail_as_in_keras(converted, tfjs_runtime):
    """Keras fails on zero steps (its rnn slices the first step); so does the converted model (no zero states)."""
    import json

    import numpy as np
    from keras.saving import load_model

    from tfjsconv.verify.compare import verify_model

    path, runs, _ = converted[("conv_lstm", "keras3.keras")]
    inputs = {name: np.zeros((2, 0, *value.shape[2:]), np.float32) for name, value in runs[0][0].items()}
    with pytest.raises(Exception, match="out of bounds"):
        load_model(path)(list(inputs.values()), training=False)
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    report = verify_model(out, inputs, dict(zip(names, runs[0][1], strict=True)), backends=("cpu", "wasm"), quiet=True)
    assert set(report.crashes) == {"cpu", "wasm"}, report.to_json()["crashes"]
    for run in report.crashes.values():
        assert "old shape" in run.error, run.error
