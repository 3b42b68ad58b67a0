"""`tfjsconv verify SOURCE MODEL_DIR` on Keras models whose layers return several tensors.

Keras 3 names every output of one layer after the layer (a Bidirectional or an LSTM with
``return_state=True`` gives ``output_names`` ``['b', 'b', 'b', ...]``); the converter numbers the repeats
(``b``, ``b_1``...) as tf_keras does, and the TensorFlow tracer names them ``output_0``... The verify's
Keras reference must key each Keras output by the converted model's name for that very tensor, in the
order Keras flattens the outputs (a dict of outputs by sorted key). Models saved by Keras 3 (``.keras``, ``.h5``)
and tf_keras (``.h5``), converted as the CLI converts them (lowered without TensorFlow, traced with
``--loader=tensorflow``, and a layers model), then checked by ``tfjsconv verify``: every output PASS, none
left without a reference. A converted model whose outputs were swapped must FAIL: the check can fail.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")

from keras_models import randomize  # noqa: E402
from test_keras_lowering import convert_poisoned  # noqa: E402

pytestmark = pytest.mark.node


def bidirectional_state(k):
    """Every output of one Bidirectional(LSTM(return_state=True)) over an unknown length (5 outputs)."""
    L = k.layers
    inp = k.Input((None, 3), name="x")
    return k.Model(inp, L.Bidirectional(L.LSTM(2, return_state=True), name="b")(inp))


def lstm_state_interleaved(k):
    """A layer's outputs interleaved with another layer's: ``[h, Dense(o), o, c]``."""
    L = k.layers
    inp = k.Input((5, 3), name="x")
    o, h, c = L.LSTM(2, return_state=True, name="l")(inp)
    return k.Model(inp, [h, L.Dense(4, name="d")(o), o, c])


def lstm_state_dict(k):
    """A dict of outputs whose saved order is not Keras's sorted order, over an unknown length."""
    L = k.layers
    inp = k.Input((None, 3), name="x")
    o, h, c = L.LSTM(2, return_state=True, return_sequences=True, name="l")(inp)
    return k.Model(inp, {"z_state": c, "a_seq": L.Dense(4, name="d")(o), "m_h": h})


def conv_lstm_state(k):
    """Bidirectional(ConvLSTM2D(return_state=True)): five rank-4 outputs."""
    L = k.layers
    inp = k.Input((3, 4, 4, 2), name="x")
    return k.Model(inp, L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_state=True), name="b")(inp))


MODELS = {"bidirectional_state": bidirectional_state, "lstm_state_interleaved": lstm_state_interleaved,
          "lstm_state_dict": lstm_state_dict, "conv_lstm_state": conv_lstm_state}
#: (model, saved as, converted by): lowered without TensorFlow, traced through it, or a layers model.
CASES = [("bidirectional_state", "keras3.keras", "lowered"), ("lstm_state_interleaved", "keras3.keras", "lowered"),
         ("lstm_state_dict", "keras3.keras", "lowered"), ("conv_lstm_state", "keras3.keras", "lowered"),
         ("lstm_state_interleaved", "keras3.h5", "lowered"), ("bidirectional_state", "tf_keras.h5", "lowered"), ("lstm_state_interleaved", "tf_keras.h5", "lowered"),
         ("bidirectional_state", "keras3.keras", "traced"), ("lstm_state_dict", "keras3.keras", "traced"),
         ("lstm_state_interleaved", "tf_keras.h5", "layers")]


def _cli(*args: str) -> int:
    from tfjsconv.cli import main

    return main(list(args))


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Each (model, flavor) saved once; the lowered ones converted in one TF-free subprocess."""
    folder = tmp_path_factory.mktemp("verify multi-output")
    saved = {}
    for family, flavor, _ in CASES:
        if (family, flavor) in saved:
            continue
        model = MODELS[family](keras if flavor.startswith("keras3") else tf_keras)
        randomize(model, 11)
        path = folder / f"{family}-{flavor}"
        model.save(path)
        saved[family, flavor] = path
    convert_poisoned([saved[f, v] for f, v, how in CASES if how == "lowered"])  # writes PATH.out
    for family, flavor, how in CASES:
        if how == "traced":
            assert _cli("convert", str(saved[family, flavor]), f"{saved[family, flavor]}.traced",
                        "--output_format=tfjs_graph_model", "--loader=tensorflow", "--quiet") == 0
        elif how == "layers":
            assert _cli("convert", str(saved[family, flavor]), f"{saved[family, flavor]}.layers",
                        "--output_format=tfjs_layers_model", "--quiet") == 0
    return saved


def _model_dir(converted, family: str, flavor: str, how: str) -> Path:
    suffix = {"lowered": "out", "traced": "traced", "layers": "layers"}[how]
    return Path(f"{converted[family, flavor]}.{suffix}")


def _verify_json(capsys, source: Path, model_dir: Path) -> tuple[int, dict]:
    capsys.readouterr()
    code = _cli("verify", str(source), str(model_dir), "--json")  # 3 when the outputs differ
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("family,flavor,how", CASES, ids=["-".join(c) for c in CASES])
def test_every_output_of_a_multi_output_layer_passes(converted, capsys, tfjs_runtime, family, flavor, how):
    model_dir = _model_dir(converted, family, flavor, how)
    code, report = _verify_json(capsys, converted[family, flavor], model_dir)
    assert code == 0 and report["passed"], json.dumps(report["comparisons"], indent=1)[:3000]
    keras_count = len(MODELS[family](keras).outputs)
    checked = {(c["name"], c["backend"]) for c in report["comparisons"] if c["status"] == "PASS"}
    assert len(checked) == keras_count * 2  # every Keras output, on cpu and wasm
    assert not any(report["unchecked"].values()), report["unchecked"]  # every TF.js output has a reference
    if how != "layers":
        signature = json.loads((model_dir / "model.json").read_text())["signature"]["outputs"]
        assert {name for name, _ in checked} == set(signature)


@pytest.mark.parametrize("family,swap", [("bidirectional_state", ("b_1", "b_3")), ("lstm_state_dict", ("l", "l_1"))])
def test_swapped_outputs_fail(converted, capsys, tmp_path, tfjs_runtime, family, swap):
    """Two same-shape outputs of one layer swapped in the converted model (a wrong model): verify must FAIL."""
    source = converted[family, "keras3.keras"]
    model_dir = tmp_path / "swapped"
    shutil.copytree(_model_dir(converted, family, "keras3.keras", "lowered"), model_dir)
    doc = json.loads((model_dir / "model.json").read_text())
    outputs = doc["signature"]["outputs"]
    a, b = swap
    outputs[a]["name"], outputs[b]["name"] = outputs[b]["name"], outputs[a]["name"]
    (model_dir / "model.json").write_text(json.dumps(doc))
    code, report = _verify_json(capsys, source, model_dir)
    assert code != 0 and not report["passed"]
    failed = {c["name"] for c in report["comparisons"] if c["status"] != "PASS"}
    assert failed == {a, b}, report["comparisons"]


def test_an_unknown_length_is_checked_over_several_steps(converted, capsys, tfjs_runtime):
    """Without --inputs, an unknown time axis gets DEFAULT_INNER_DIM steps (the batch stays 1), so the
    recurrence is checked past its first step."""
    from tfjsconv.verify.inputs import DEFAULT_INNER_DIM

    code, report = _verify_json(capsys, converted["lstm_state_dict", "keras3.keras"],
                                _model_dir(converted, "lstm_state_dict", "keras3.keras", "lowered"))
    assert code == 0
    shapes = {c["name"]: c["shape"] for c in report["comparisons"]}
    assert shapes["d"] == [1, DEFAULT_INNER_DIM, 4] and DEFAULT_INNER_DIM > 1, shapes
