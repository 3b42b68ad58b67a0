"""ConvLSTMs over positions known only at run time, and Bidirectional(ConvLSTM) called with ``initial_state``
(issue 16, P1), and the loops' linear-time output collection (a TensorList, not a growing ``ConcatV2``).

``positions`` (tf_keras only: Keras 3 refuses to build a ConvLSTM over unknown spatial sizes): ConvLSTM1D/2D/3D
over unknown steps and positions (``valid``/``same`` padding, strides, dilation, go_backwards, return_sequences,
return_state, Bidirectional), and over a static time length with unknown positions (the unrolled form). The zero
states take the run-time size of the input convolution's output, as Keras's state is that convolution of zeros.
``started`` (Keras 3 and tf_keras): Bidirectional ConvLSTM1D/2D with ``initial_state`` (the first half starts the
forward layer, the second the backward one), over unknown and static steps; Keras 3's saved ``__numpy__`` states
(a batch of 1, broadcast). One converted model per case, fed two
sizes, matches Keras on TF.js cpu and wasm (webgl too for the rank-5/6 collections). Converted with TensorFlow,
Keras and tf_keras poisoned.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, normal_inputs_at, two_size_saver, verify_runs  # noqa: E402


def positions(k):
    L = k.layers
    x1, x2 = k.Input((None, None, 4), name="x1"), k.Input((None, None, None, 3), name="x2")
    x3, fixed = k.Input((None, None, None, None, 2), name="x3"), k.Input((3, None, None, 2), name="fixed")
    valid = L.ConvLSTM1D(3, 3, padding="valid", return_sequences=True, name="valid1d")(x1)
    strided = L.ConvLSTM1D(2, 2, strides=2, padding="same", go_backwards=True, name="strided1d")(x1)
    dilated = L.ConvLSTM1D(2, 2, dilation_rate=2, return_state=True, name="dilated1d")(x1)
    shrunk = L.ConvLSTM2D(2, (3, 2), strides=(2, 1), return_sequences=True, name="shrunk2d")(x2)
    both = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True), name="both")(x2)
    volume = L.ConvLSTM3D(2, 2, return_sequences=True, go_backwards=True, name="volume3d")(x3)
    unrolled = L.ConvLSTM2D(2, 2, padding="same", return_sequences=True, name="unrolled")(fixed)
    return k.Model([x1, x2, x3, fixed], [valid, strided, *dilated, shrunk, both, volume, unrolled])


def started(k):
    L = k.layers
    x2, x1, fixed = k.Input((None, 6, 5, 3), name="x2"), k.Input((None, 7, 2), name="x1"), k.Input((3, 7, 2),
                                                                                                     name="fixed")
    s2 = [k.Input((6, 5, 2), name=f"s2_{i}") for i in range(4)]
    s1 = [k.Input((5, 3), name=f"s1_{i}") for i in range(4)]
    seq = L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True),
                          name="seq")(x2, initial_state=s2)
    last = L.Bidirectional(L.ConvLSTM1D(3, 3), merge_mode="sum", name="last")(x1, initial_state=s1)
    static = L.Bidirectional(L.ConvLSTM1D(3, 3, return_sequences=True), name="static")(fixed, initial_state=s1)
    return k.Model([x2, *s2, x1, *s1, fixed], [*seq, last, static])


def constants(k):
    """Keras 3 saves numpy initial states as ``__numpy__`` constants: Consts, a batch of 1 broadcast."""
    rng = np.random.default_rng(5)
    x = k.Input((None, 7, 2), name="x")
    states = [rng.standard_normal((1, 5, 3)).astype("float32") for _ in range(4)]
    out = k.layers.Bidirectional(k.layers.ConvLSTM1D(3, 3, return_sequences=True, return_state=True),
                                 name="constants")(x, initial_state=states)
    return k.Model(x, out)


FAMILIES = {"positions": positions, "started": started, "constants": constants}
CASES = [("positions", "tf_keras.h5"), ("started", "keras3.keras"), ("started", "tf_keras.h5"),
         ("constants", "keras3.keras")]
SIZES = {
    "positions": [[(2, 5, 7, 4), (2, 4, 6, 7, 3), (2, 3, 3, 4, 3, 2), (2, 3, 5, 4, 2)],
                  [(1, 3, 10, 4), (1, 2, 5, 9, 3), (1, 2, 4, 3, 4, 2), (1, 3, 3, 6, 2)]],
    "started": [[(2, 4, 6, 5, 3), *[(2, 6, 5, 2)] * 4, (2, 5, 7, 2), *[(2, 5, 3)] * 4, (2, 3, 7, 2)],
                [(3, 2, 6, 5, 3), *[(3, 6, 5, 2)] * 4, (3, 1, 7, 2), *[(3, 5, 3)] * 4, (3, 3, 7, 2)]],
    "constants": [[(2, 4, 7, 2)], [(3, 2, 7, 2)]],
}

converted = converted_fixture("p1_conv_lstm", CASES, two_size_saver(FAMILIES, normal_inputs_at(SIZES), seed=23))


def _nodes(path: Path) -> list[dict]:
    return json.loads((Path(f"{path}.out") / "model.json").read_text())["modelTopology"]["node"]


@pytest.mark.node
@each_case(CASES)
def test_conv_lstms_match_keras_at_two_sizes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_loops_collect_their_outputs_in_tensor_lists(converted):
    """Each step's output is written into a TensorList and gathered once after the loop: no ``ConcatV2`` appends
    to a loop variable (which copies the outputs so far at every step)."""
    for case in CASES:
        nodes = _nodes(converted[case][0])
        ops = [n["op"] for n in nodes]
        assert ops.count("TensorListSetItem") == ops.count("TensorListGather") >= 2, case
        grown = [n["name"] for n in nodes if n["op"] == "ConcatV2" and any("acc_body" in i for i in n["input"])]
        assert not grown, grown


@pytest.mark.node
def test_run_time_positions_run_on_webgl(converted, browser):
    """webgl too: rank-5 and rank-6 (ConvLSTM3D) gathers of the collected outputs and their transposes."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, runs, _ = converted[("positions", "tf_keras.h5")]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    inputs, outputs = runs[1]
    report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                          quiet=True, browser_session=browser)
    assert report.passed, format_report(report)


# Masks per position over run-time positions, and initial_state with a mask (Bidirectional too), were refused
# here; they now lower: tests/test_keras_lowering_k26_conv_lstm.py (K26).
