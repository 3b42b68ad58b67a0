"""Keras models that convert through TensorFlow but the TF-free lowering refused by name (issue 16, session 30, h8).

- Keras 3 ``keras.activations.relu(x)`` on a tensor saves a ``ReLU`` operation of ``keras.src.activations`` (the one
  Keras 3 operation outside ``keras.src.ops``): ``.keras`` names its module, ``.h5`` drops it, where it read as an
  unknown ``keras.ops.ReLU`` (refused, even of float32). Its config (the function's options alone, no ``trainable``)
  names it in both. The ``.keras`` one lowered before as the ReLU layer, silently off where the operation differs
  from the layer: it drops its input's mask (0.11 off after an LSTM), and it takes options the layer refuses (a
  negative threshold under a cap: 0.91 off; a negative cap: 1.0 off), computed as ``ReLU.static_call`` does. Of a
  float16 tensor it keeps float16 (a later ``(y + 1000) - 1000`` rounds to float16's steps); with options there
  it was refused by name (Keras rounds the threshold, the cap and the slope's products to float16): lowered in
  float16 steps since session 32, ``tests/test_issue16_gaps_b_s32.py``.
- tf_keras ``Dense(tf.image.rot90(x, k))`` with ``k`` a model input: the lowered rot90 lost every size, so the Dense
  was refused (its channels unknown); the batch and channels are kept now (height and width where equal).
- Keras 3 readers of a tensor whose run-time mask the saved graph drops (``absolute`` of masked unsigned ids, which
  TensorFlow answers with that tensor): another ``absolute`` (that tensor again) and a squeeze (a new tensor) were
  refused, and so was ``cast(Masking(int ids), "float32")`` (recorded as float32 to float32: a new tensor at run
  time). Each drops the mask before the reader, as ``model(x)`` and ``predict`` compute.
- Keras 3 nested models called with a mask list longer than their inputs: ``Functional.call`` zips the flattened
  list with the inputs, so the entries past them are not read; refused before as an untracked mask.

  Keras 3 reads a ``.h5``'s saved relu operation back as the ``keras.layers.ReLU`` layer (mask passed on, float16
  and float64 autocast to float32, negative options refused at load): ``.h5`` files lower as that layer, compared
  with ``keras.saving.load_model(h5)``; with negative options they are refused by name (session 30, h8c).

Expected values are Keras's ``model(x)`` (``load_model(h5)``'s for the ``.h5`` relu cases); converted with
TensorFlow, Keras and tf_keras poisoned; TF.js cpu and wasm.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, keras_outputs, verify_runs  # noqa: E402
from test_keras_lowering import POISONED, _module, case_file  # noqa: E402

KERAS3 = ("keras3.keras", "keras3.h5")
#: ``keras.activations.relu`` options, among them some the ReLU layer refuses (negative threshold, cap or slope).
RELU_OPTIONS = ({}, {"threshold": -1.0, "max_value": 2.0}, {"max_value": -1.0},
                {"threshold": -1.0, "max_value": 2.0, "negative_slope": 0.3}, {"negative_slope": -0.5, "max_value": 1.0},
                {"max_value": 6.0, "negative_slope": 0.1}, {"threshold": 0.5, "negative_slope": 0.3})


def relu_options(k: Any) -> Any:
    """One output per option set: the ``.h5`` file was refused whole, the ``.keras`` one off on the layer-refused
    options."""
    x = k.Input((12,), name="x")
    return k.Model(x, [k.activations.relu(x, **options) for options in RELU_OPTIONS])


def relu_layer_options(k: Any) -> Any:
    """The options a ``.h5`` file can hold: Keras loads the saved operation as the ReLU layer, which refuses
    negative ones."""
    x = k.Input((12,), name="x")
    loadable = [options for options in RELU_OPTIONS if min(options.values(), default=0) >= 0]
    return k.Model(x, [k.activations.relu(x, **options) for options in loadable])


def relu_half_options(k: Any) -> Any:
    """A float16 Input's relu with options, ``.h5``: Keras loads a float32 ReLU layer (the input autocast), so it is
    lowered in float32 (refused by name before, as the ``.keras`` operation's float16 rounding still is)."""
    x = k.Input((12,), name="x", dtype="float16")
    return k.Model(x, k.activations.relu(x, max_value=1.3, negative_slope=0.3))


def relu_masked(k: Any) -> Any:
    """``LSTM(relu(Masking(x)))``: the operation drops the mask, so the LSTM reads every step (0.11 off before)."""
    x = k.Input((4, 3), name="x")
    return k.Model(x, k.layers.LSTM(2, name="lstm")(k.activations.relu(k.layers.Masking(0.0)(x), max_value=1.5)))


def relu_half(k: Any) -> Any:
    """``relu`` of a float16 Input is float16: ``(y + 1000) - 1000`` rounds ``y`` to float16's 0.5 steps there."""
    x = k.Input((12,), name="x", dtype="float16")
    return k.Model(x, k.ops.subtract(k.ops.add(k.activations.relu(x), 1000.0), 1000.0))


def _steps() -> np.ndarray:
    return np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 12)


def _masked_steps() -> np.ndarray:
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    x[0, 1:] = 0  # masked steps: the LSTM reads them all in Keras
    x[1, 2] = 0
    return x


def rot90_dense(size: int | None) -> Any:
    """tf_keras ``Dense(rot90(x, k))``, ``k`` a model input: the channels (3) kept, sizes ``size`` (None: unknown)."""
    def build(k: Any) -> Any:
        import tensorflow as tf

        x, turns = k.Input((size, None if size is None else size + 1, 3), name="x"), k.Input((), dtype="int32", name="k")
        return k.Model([x, turns], k.layers.Dense(2, name="dense")(tf.image.rot90(x, turns[0])))
    return build


def _turns() -> list[dict[str, np.ndarray]]:
    """Each ``k`` TF reads modulo 4, negative ones too (a batch of two: ``k[0]`` turns)."""
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 3)).astype(np.float32)
    return [{"x": x, "k": np.array([turns, 0], np.int32)} for turns in (0, 1, 2, 3, -1, 6)]


def _half_steps() -> list[dict[str, np.ndarray]]:
    return [{"x": (_steps() * 0.37).astype(np.float16).astype(np.float32)}]


FAMILIES = {"relu_options": (relu_options, lambda: [{"x": _steps()}]),
            "relu_layer_options": (relu_layer_options, lambda: [{"x": _steps()}]),
            "relu_half_options": (relu_half_options, _half_steps),
            "relu_masked": (relu_masked, lambda: [{"x": _masked_steps()}]),
            "relu_half": (relu_half, _half_steps),
            "rot90_dense": (rot90_dense(4), _turns),
            "rot90_dense_unknown": (rot90_dense(None), lambda: _turns()[1:3])}


def hidden_mask(dtype: str, after: str, reader: str) -> Any:
    """``reader(after(Masking(0)(ids)))`` of ``dtype`` ids (Masking keeps them; the saved graph records float32):
    ``abs_abs_cast`` is ``cast(absolute(absolute(m)), "float32")`` (Keras 3's absolute of unsigned integers returns
    the tensor itself, its mask riding on, twice; the cast makes a new tensor), ``abs_squeeze`` a squeeze of the
    absolute (``tf.squeeze`` makes a new tensor), ``cast`` a cast of the masked ids to float32 (recorded as float32 to
    float32: a new tensor at run time). Each drops the mask: the reader computes unmasked, as ``model(x)`` and
    ``predict`` do (checked)."""
    def build(k: Any) -> Any:
        L, ops = k.layers, k.ops
        x = k.Input((None, 3, 1) if after == "abs_squeeze" else (None, 3), dtype=dtype, name="x")
        m = L.Masking(0, name="masking")(x)
        y = {"abs_abs_cast": lambda: ops.cast(ops.absolute(ops.absolute(m)), "float32"),
             "abs_squeeze": lambda: ops.squeeze(ops.absolute(m), axis=-1),
             "cast": lambda: ops.cast(m, "float32")}[after]()
        return k.Model(x, L.GlobalAveragePooling1D(name="gap")(y) if reader == "gap" else L.LSTM(2, name="lstm")(y))
    return build


def _unsigned(dtype: str, squeezed: bool) -> list[dict[str, np.ndarray]]:
    """Two runs of ids with padding at the start, a fully masked row, a step kept by one nonzero id."""
    rng, runs = np.random.default_rng(3), []
    for batch, steps in ((2, 5), (3, 4)):
        x = rng.integers(0, 200, (batch, steps, 3)).astype(dtype)
        x[0, :2] = 0
        x[-1] = 0
        x[-1, -1, 1] = 7
        runs.append({"x": x[..., None] if squeezed else x})
    return runs


HIDDEN = {"abs_abs_cast_gap": ("uint8", "abs_abs_cast", "gap"), "abs_squeeze_gap": ("uint16", "abs_squeeze", "gap"),
          "abs_squeeze_lstm": ("uint8", "abs_squeeze", "lstm"), "cast_int32_gap": ("int32", "cast", "gap"),
          "cast_uint8_lstm": ("uint8", "cast", "lstm")}
FAMILIES.update({name: (hidden_mask(*spec), lambda spec=spec: _unsigned(spec[0], spec[1] == "abs_squeeze"))
                 for name, spec in HIDDEN.items()})


def long_mask_list(kind: str) -> Any:
    """A Keras 3 nested model called with a mask list longer than its inputs: ``Functional.call`` zips
    ``tree.flatten(mask)`` with the inputs, so the entries past them are not read (``masking_none``: a None entry
    leaves Masking's own mask on ``x``; ``dict``: a model built on ``{"b": .., "a": ..}``, its inputs in sorted key
    order; ``computed``: the extra entry a computed mask)."""
    def build(k: Any) -> Any:
        L = k.layers
        x, y = k.Input((None, 3), name="x"), k.Input((None, 3), name="y")
        m1, m2 = k.Input((None,), dtype="bool", name="m1"), k.Input((None,), dtype="bool", name="m2")
        a, b = k.Input((None, 3), name="a"), k.Input((None, 3), name="b")
        pooled = L.GlobalAveragePooling1D(name="gap")(a)
        if kind in ("one", "masking_none", "computed"):
            inner = k.Model(a, pooled, name="inner")
            given = L.Masking(0.0, name="masking")(x) if kind == "masking_none" else x
            masks = {"one": [m1, m2], "masking_none": [None, m2], "computed": [m1, k.ops.logical_not(m2)]}[kind]
            return k.Model([x, y, m1, m2], inner(given, mask=masks))
        both = L.Concatenate(name="cat")([pooled, L.LSTM(2, name="lstm")(b)])
        if kind == "two":
            return k.Model([x, y, m1, m2], k.Model([a, b], both, name="inner")([x, y], mask=[m1, m2, m1]))
        return k.Model([x, y, m1, m2], k.Model({"b": b, "a": a}, both, name="inner")({"a": x, "b": y},
                                                                                     mask=[m2, m1, m1]))
    return build


def _masked_pairs() -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 2, 4, 3)).astype(np.float32)
    x[0, 3] = 0  # a step Masking masks
    return [{"x": x, "y": y, "m1": np.array([[1, 1, 0, 0], [1, 0, 1, 1]], bool),
             "m2": np.array([[1, 0, 0, 0], [0, 1, 1, 1]], bool)}]


LONG = ("one", "masking_none", "two", "dict", "computed")
FAMILIES.update({f"long_masks_{kind}": (long_mask_list(kind), _masked_pairs) for kind in LONG})
#: ``.h5`` relu cases compare with ``load_model(h5)``, which Keras cannot build of negative options or of
#: ``ops.add(x, 1000.0)`` (relu_half): those stay ``.keras`` only.
RELU_CASES = [("relu_options", "keras3.keras"), ("relu_half", "keras3.keras"), ("relu_masked", "keras3.keras"),
              ("relu_masked", "keras3.h5"), ("relu_layer_options", "keras3.h5"), ("relu_half_options", "keras3.h5")]
LONG_CASES = [(f"long_masks_{kind}", flavor) for kind in LONG for flavor in KERAS3]
ROT90_CASES = [(family, "tf_keras.h5") for family in ("rot90_dense", "rot90_dense_unknown")]
HIDDEN_CASES = [(family, flavor) for family in HIDDEN for flavor in KERAS3]


def _save(family: str, flavor: str, folder: Path) -> tuple[Path, list, None]:
    build, inputs_of = FAMILIES[family]
    model = build(_module(flavor))
    path = case_file(folder, family, flavor)
    model.save(path)
    if family.startswith("relu") and path.suffix == ".h5":  # what the file's user runs: Keras's ReLU layer
        model = keras.saving.load_model(path)
    runs = [(inputs, keras_outputs(model, inputs)) for inputs in inputs_of()]
    if family in HIDDEN or family.startswith("long_masks"):  # masks ride on tensors: traced, Keras computes the same
        for inputs, outputs in runs:
            model.predict_function = None
            given = list(inputs.values())
            np.testing.assert_allclose(outputs[0], model.predict(given if len(given) > 1 else given[0], verbose=0),
                                       rtol=1e-6, atol=1e-6)
    return path, runs, None


converted = converted_fixture("refused_cases_s30", RELU_CASES + ROT90_CASES + HIDDEN_CASES + LONG_CASES, _save)


@pytest.mark.node
@each_case(RELU_CASES)
def test_keras_activations_relu_lowers_as_keras_computes_it(converted, tfjs_runtime, family, flavor):
    """Before h8: every ``.h5`` refused (``keras.ops.ReLU``); ``.keras`` options, mask and float16 off, silently.
    Before h8c: ``.h5`` masked 0.07 off ``load_model(h5)`` (lowered as the operation), float16 options refused."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(ROT90_CASES)
def test_dense_after_rot90_by_a_run_time_k_keeps_the_channels(converted, tfjs_runtime, family, flavor):
    """Before: refused (the lowered rot90 lost every size, the Dense's channels among them)."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(HIDDEN_CASES)
def test_readers_that_drop_a_run_time_mask_lower_unmasked(converted, tfjs_runtime, family, flavor):
    """Before: refused by name (the second absolute, the squeeze, the cast of the masked ids)."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(LONG_CASES)
def test_mask_entries_past_a_nested_models_inputs_are_not_read(converted, tfjs_runtime, family, flavor):
    """Before: refused ("a mask the lowering does not track")."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def refusal(path: Path) -> str:
    """The error output of converting ``path`` with TensorFlow, Keras and tf_keras poisoned (it must fail)."""
    code = POISONED.split("for path")[0] + "tfjsconv.convert(sys.argv[1], sys.argv[1] + '.out', " \
                                            "output_format='tfjs_graph_model')\n"
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.returncode != 0, out.stdout[-1500:]
    return out.stderr


def test_relu_of_a_float64_input_with_a_threshold_is_refused_by_name(tmp_path):
    """Keras compares the float64 values with float32(0.1) widened; the graph holds them rounded to float32, so
    0.1000000016 gave 0 where Keras keeps it (0.1 off silently before, review F1)."""
    x = keras.Input((8,), name="x", dtype="float64")
    keras.Model(x, keras.activations.relu(x, threshold=0.1)).save(tmp_path / "m.keras")
    assert re.search(r"'re_lu\w*' \(keras.activations.relu\) of a float64 tensor with a threshold",
                     refusal(tmp_path / "m.keras"))


def test_h5_relu_operation_with_negative_options_is_refused_by_name(tmp_path):
    """Keras cannot load it (its ReLU layer refuses a negative threshold); converted before."""
    x = keras.Input((12,), name="x")
    keras.Model(x, keras.activations.relu(x, threshold=-1.0, max_value=2.0)).save(tmp_path / "m.h5")
    with pytest.raises((TypeError, ValueError), match="threshold of a ReLU layer"):
        keras.saving.load_model(tmp_path / "m.h5")
    assert re.search(r"'re_lu\w*' \(ReLU\) with a negative threshold, max_value or negative_slope: Keras cannot "
                     "load it", refusal(tmp_path / "m.h5"))
