"""Review of K26 (RK26): a ConvLSTM over unknown steps given a ``mask=`` model input of another length than the
sequence. Keras (eager) fails on it; the converted loop's counter started at the two lengths subtracted, so a longer
mask made it skip steps and give numbers without the last output's steps (silent). It must fail, on cpu and wasm,
and still match Keras when the lengths agree.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")

import tfjsconv  # noqa: E402
from test_keras_lowering import _verify  # noqa: E402


@pytest.mark.node
def test_masks_of_another_length_fail_as_in_keras(tmp_path, tfjs_runtime):
    k = pytest.importorskip("tf_keras")
    from tfjsconv.verify.compare import verify_model

    x, m = k.Input((None, 5, 4, 3), name="x"), k.Input((None,), dtype="bool", name="m")
    last = k.layers.ConvLSTM2D(2, 3, padding="same", name="last")(x, mask=m)
    back = k.layers.ConvLSTM1D(2, 3, padding="same", go_backwards=True, name="back")(
        k.layers.Reshape((-1, 20, 3), name="rows")(x), mask=m)
    model = k.Model([x, m], [last, back])
    model.save(tmp_path / "m.h5")
    out = tmp_path / "out"
    tfjsconv.convert(tmp_path / "m.h5", out, output_format="tfjs_graph_model")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    rng = np.random.default_rng(5)
    x_value = rng.standard_normal((2, 3, 5, 4, 3)).astype("float32")
    same = rng.random((2, 3)) > 0.3
    _verify(out, {"x": x_value, "m": same}, [np.asarray(o) for o in model([x_value, same])])
    for steps in (5, 2):  # a longer mask, a shorter one
        mask = rng.random((2, steps)) > 0.3
        with pytest.raises(Exception):  # noqa: B017 (tf_keras raises ValueError or OutOfRangeError)
            model([x_value, mask])
        expected = {name: np.zeros((2, 5, 4, 2) if "last" in name else (2, 20, 2), "float32") for name in names}
        report = verify_model(out, {"x": x_value, "m": mask}, expected, backends=("cpu", "wasm"), quiet=True)
        assert set(report.crashes) == {"cpu", "wasm"}, report.to_json()


@pytest.mark.node
def test_masks_of_unknown_length_into_known_steps_fail_on_another_length(tmp_path, tfjs_runtime):
    """Known steps (3), a ``mask=`` input of steps known only at run time: a mask of 6 steps at batch 1 was read
    as a batch of 2 (an output of another batch, Keras fails); it must fail, and match Keras at 3 steps."""
    k = pytest.importorskip("tf_keras")
    from tfjsconv.verify.compare import verify_model

    x, m = k.Input((3, 5, 4, 3), name="x"), k.Input((None,), dtype="bool", name="m")
    grid = k.Input((None, None, None), dtype="bool", name="grid")
    steps = k.layers.ConvLSTM2D(2, 3, padding="same", name="steps")(x, mask=m)
    cells = k.layers.ConvLSTM2D(2, 3, padding="same", go_backwards=True, name="cells")(x, mask=grid)
    model = k.Model([x, m, grid], [steps, cells])
    model.save(tmp_path / "m.h5")
    out = tmp_path / "out"
    tfjsconv.convert(tmp_path / "m.h5", out, output_format="tfjs_graph_model")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    rng = np.random.default_rng(6)
    for batch, length in ((2, 3), (1, 6), (2, 5)):
        inputs = {"x": rng.standard_normal((batch, 3, 5, 4, 3)).astype("float32"),
                  "m": rng.random((batch, length)) > 0.3, "grid": rng.random((batch, length, 5, 4)) > 0.3}
        if length == 3:
            _verify(out, inputs, [np.asarray(o) for o in model(list(inputs.values()))])
            continue
        with pytest.raises(Exception):  # noqa: B017 (tf_keras raises ValueError)
            model(list(inputs.values()))
        report = verify_model(out, inputs, {name: np.zeros((batch, 5, 4, 2), "float32") for name in names},
                              backends=("cpu", "wasm"), quiet=True)
        assert set(report.crashes) == {"cpu", "wasm"}, report.to_json()
