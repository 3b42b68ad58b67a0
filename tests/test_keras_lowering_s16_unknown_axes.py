"""Keras 3 operations along axes whose size the config leaves unknown (issue 16, session 16): ``sparsemax`` and
``glu`` (the operations and the Activation layer's), ``trapezoid`` and ``quantile``/``percentile``/``median`` over a
run-time length (``keras.Input((None, 4))`` reduced along axis 1, several axes, ``axis=None``) and along the batch.
(An odd length, which Keras raises on in ``glu``, makes TF.js's Split raise too.)

Each model is saved once with eager Keras's outputs at several lengths (:mod:`keras_two_sizes`), converted once
where TensorFlow, Keras and tf_keras cannot be imported, and the one converted model must match ``model(x)`` at
every length on TF.js cpu and wasm. The quantile picks are computed at run time exactly as TF's float64
``(n - 1)·q`` (12-bit digits in int32): a length past 4096 takes the digits' high part, and ``q`` values such as
0.3, 1/3, 0.9 and 0.01 need all of float32's mantissa; the inputs hold ties, zeros, ±Inf and a NaN (its row of the
quantiles is NaN). What stays refused (a ``q`` with more than 30 bits after the point over an unknown length, a
``trapezoid`` with sample points along one) is named.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
from test_keras_lowering_op_layers_more import _refused  # noqa: E402

#: Quantiles whose ``(n - 1)·q`` needs float32's whole mantissa (and 0, 1, 0.5, 1/3 and a tiny one).
AWKWARD_Q = [0.0, 0.3, 1 / 3, 0.5, 0.9, 0.01, 1.0, 0.999]


def unknown_length(k):
    """Reductions along a length unknown in the config: quantiles (every method ``percentile`` hands on, several
    axes, ``axis=None``, keepdims), median, trapezoid, sparsemax and glu along axis 1 and the sparsemax and glu
    Activations over an unknown last axis."""
    o, L = k.ops, k.layers
    x = k.Input((None, 4), name="x")
    s = k.Input((None, 4), name="s")
    a = k.Input((2, None), name="a")
    g = k.Input((None, 3), name="g")
    return k.Model([x, s, a, g], [
        o.quantile(x, 0.3, axis=1), o.quantile(x, AWKWARD_Q, axis=1, keepdims=True), o.quantile(x, 0.7),
        o.percentile(x, 37.0, axis=1, method="lower"), o.percentile(x, [25.0, 50.0, 90.0], axis=1, method="nearest"),
        o.percentile(x, 60.0, axis=[1, 2], method="midpoint"), o.percentile(x, [1.0, 99.0], axis=1, method="higher"),
        o.percentile(x, [12.5, 33.0, 87.5], axis=-2, method="nearest"), o.median(x, axis=1), o.median(x),
        o.trapezoid(x, axis=1), o.trapezoid(o.transpose(x, (0, 2, 1))),
        o.sparsemax(s, axis=1), L.Activation("sparsemax")(a), o.glu(g, axis=1),
        L.Activation("glu")(o.transpose(g, (0, 2, 1)))])


def batch_axis(k):
    """The same along the batch axis (its size is never in the config)."""
    o = k.ops
    b = k.Input((4,), name="b")
    return k.Model(b, [o.sparsemax(b, axis=0), o.trapezoid(b, axis=0), o.quantile(b, [0.25, 0.3], axis=0),
                       o.median(b, axis=0), o.percentile(b, 75.0, axis=0, method="nearest"), o.glu(b, axis=0)])


FAMILIES = {"unknown_length": unknown_length, "batch_axis": batch_axis}
CASES = [("unknown_length", "keras3.keras"), ("unknown_length", "keras3.h5"), ("batch_axis", "keras3.keras")]
#: (batch, length) of each run: two short lengths, then one past 4096 (the picks' high digit); glu's lengths (the
#: batch's, and twice these along ``g``) are even.
RUNS = {"unknown_length": [(2, 6), (3, 9), (1, 4099)], "batch_axis": [(6, 4), (8, 4), (4098, 4)]}


def _edged(rng: np.random.Generator, shape: tuple[int, ...], nan: bool) -> np.ndarray:
    """Values in tenths (ties), with zeros, ±Inf and (``nan``) a NaN in the last batch row's last place."""
    x = (np.round(rng.standard_normal(shape) * 20) / 10).astype(np.float32)
    flat = x.reshape(-1)
    flat[:8] = [0.5, 0.5, -1.0, 0.0, 0.0, np.inf, -np.inf, 2.0][:flat.size]
    if nan:
        flat[-1] = np.nan
    return x


def _inputs(model, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    """The quantiles' and glu's inputs with ±Inf and NaN; sparsemax's without (TF orders NaN by its kernel's partial
    sort)."""
    if len(model.inputs) == 1:
        return {"b": _edged(rng, (batch, length), nan=False)}
    return {"x": _edged(rng, (batch, length, 4), nan=True),
            "s": (rng.standard_normal((batch, length, 4)) * 2).astype(np.float32),
            "a": np.round(rng.standard_normal((batch, 2, length)) * 2, 1).astype(np.float32),
            "g": _edged(rng, (batch, 2 * length, 3), nan=True)}


def save_case(family: str, flavor: str, folder: Path):
    """The case saved with eager Keras's outputs at each run's size."""
    return two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=16)(family, flavor, folder)


converted = converted_fixture("s16_unknown_axes", CASES, save_case)


@pytest.mark.node
@each_case(CASES)
def test_ops_along_unknown_axes_match_keras_at_every_length(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_what_stays_refused_over_unknown_lengths_is_named(tmp_path):
    """A ``q`` of more than 30 bits after the point (0.1 percent: 0.001 in float32) over an unknown length, whose
    rest the run-time picks cannot hold in int32, and a ``trapezoid`` with sample points along an unknown axis."""
    o = keras.ops
    x = keras.Input((None, 4), name="x")
    keras.Model(x, [o.percentile(x, 0.1, axis=1), o.trapezoid(x, x=[0.0, 1.0, 3.0], axis=1)]).save(
        tmp_path / "k3.keras")
    message = _refused(tmp_path / "k3.keras")
    assert re.search(r"does not cover 2 layers: 'percentile\w*' \(Percentile\): q=\S+ over a size unknown in the "
                     r"config \(lowered for q with at most 30 bits after the point\), 'trapezoid\w*' \(Trapezoid\): "
                     r"x of shape \[3\] along axis 1 of size None", message), message


def test_keras3_casts_to_their_own_dtype_hand_the_tensor_back():
    """Keras 3's ``cast`` to the tensor's own dtype and ``convert_to_tensor`` (no dtype, or its own) hand TensorFlow's
    input tensor back, its run-time mask with it (Keras's ``model(x)`` then masks the GlobalAveragePooling1D after
    it, checked here): :func:`masking.returns_its_input` says so from the saved config, and not for a cast to another
    dtype. (The walk still refuses a masked one by name until it consults this: ``_may_return_its_input`` in
    model_walk.py.)"""
    import json

    from tfjsconv.plugins.keras.lowering.masking import masked_outputs, returns_its_input
    from tfjsconv.plugins.keras.op_calls import with_plain_op_nodes

    o = keras.ops
    x = keras.Input((None, 4), name="x")
    m = keras.layers.Masking(0.0)(x)
    outs = [o.cast(m, "float32"), o.convert_to_tensor(m), o.convert_to_tensor(m, "float32"), o.cast(m, "int32"),
            o.convert_to_tensor(m, "int32")]
    config = with_plain_op_nodes(json.loads(keras.Model(x, outs).to_json()))
    layers = [(layer["class_name"], layer["config"]) for layer in config["config"]["layers"]
              if layer["class_name"].startswith("keras.ops.")]
    assert [returns_its_input(*layer) for layer in layers] == [True, True, True, False, False]
    assert [masked_outputs(*layer, [True], keras3=True) for layer in layers] == [{0}, {0}, {0}, set(), set()]
    pool = keras.layers.GlobalAveragePooling1D()
    data = np.ones((2, 5, 4), np.float32)
    data[0, 3:] = 0.0
    kept, masked, plain = (np.asarray(keras.Model(x, pool(t))(data)) for t in (outs[0], m, x))
    assert np.array_equal(kept, masked) and not np.array_equal(kept, plain)


@pytest.mark.node
def test_glu_of_an_odd_run_time_length_raises_as_keras_does(converted, tfjs_runtime):
    """Keras's ``glu`` raises on an odd size ("axis size must be divisible by 2"); the converted model's Split raises
    on it in TF.js too, on cpu and wasm, rather than give numbers."""
    import json

    from tfjsconv.verify.compare import format_report, verify_model

    path, runs, _ = converted[("unknown_length", "keras3.keras")]
    inputs, _ = runs[0]
    odd = {**inputs, "g": np.ones((2, 7, 3), np.float32)}
    with pytest.raises(ValueError):
        keras.saving.load_model(path)(list(odd.values()))
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    report = verify_model(out, odd, {n: np.zeros((1,), np.float32) for n in names}, backends=("cpu", "wasm"),
                          quiet=True)
    text = format_report(report)
    assert not report.passed and text.count("Number of splits must evenly divide the axis") >= 2, text


@pytest.mark.node
def test_keras3_masked_casts_to_their_own_dtype_lower_with_the_mask(tmp_path, tfjs_runtime):
    """End to end (the walk now consults :func:`masking.returns_its_input`): a Masking read through ``cast`` to its own
    dtype and ``convert_to_tensor`` by an LSTM, a GRU and a GlobalAveragePooling1D masks them as Keras does, and a
    cast to int32 (a new tensor) drops the mask; ``.keras`` and Keras 3 ``.h5``, two lengths, TF poisoned."""

    from test_keras_lowering import _verify, convert_poisoned

    o, L = keras.ops, keras.layers
    x = keras.Input((None, 4), name="x")
    m = L.Masking(0.0)(x)
    model = keras.Model(x, [L.LSTM(3, seed=2)(o.cast(m, "float32")),
                            L.GlobalAveragePooling1D()(o.convert_to_tensor(m)),
                            L.GRU(2, seed=3, return_sequences=True)(o.convert_to_tensor(m, "float32")),
                            L.GlobalAveragePooling1D()(o.cast(m, "int32"))])
    rng = np.random.default_rng(5)
    runs = []
    for batch, length in ((3, 5), (2, 8)):
        data = rng.standard_normal((batch, length, 4)).astype(np.float32) * 3
        data[0, 3:] = 0.0
        data[1, 1] = 0.0
        data[-1, :2] = 0.0
        runs.append((data, [np.asarray(t) for t in model(data)]))
    paths = [tmp_path / "masked.keras", tmp_path / "masked.h5"]
    for path in paths:
        model.save(path)
    convert_poisoned(paths)
    for path in paths:
        for data, expected in runs:
            _verify(Path(f"{path}.out"), {"x": data}, expected)


@pytest.mark.node
def test_layers_own_sparsemax_activation(tmp_path, tfjs_runtime):
    """``activation="sparsemax"`` of Dense and of channels_first convolutions (with and without a bias): over the last
    axis of the layer's output as Keras applies it (``data_format.AXIS_ACTIVATIONS``), TF poisoned, cpu and wasm."""
    from test_keras_lowering import _verify, convert_poisoned

    L = keras.layers
    x, s = keras.Input((5, 6, 3), name="x"), keras.Input((7, 4), name="s")
    model = keras.Model([x, s], [
        L.Dense(5, activation="sparsemax")(s),
        L.Conv2D(4, 2, activation="sparsemax", data_format="channels_first")(x),
        L.Conv2D(4, 2, activation="sparsemax", use_bias=False, data_format="channels_first")(x),
        L.Conv1D(3, 2, activation="sparsemax", data_format="channels_first")(s),
        L.Conv2D(4, 2, activation="sparsemax")(x)])
    rng = np.random.default_rng(11)
    feeds = {"x": (rng.standard_normal((2, 5, 6, 3)) * 3).astype(np.float32),
             "s": (rng.standard_normal((2, 7, 4)) * 3).astype(np.float32)}
    expected = [np.asarray(o) for o in model([feeds["x"], feeds["s"]])]
    model.save(tmp_path / "m.keras")
    convert_poisoned([tmp_path / "m.keras"])
    _verify(Path(f"{tmp_path / 'm.keras'}.out"), feeds, expected)
