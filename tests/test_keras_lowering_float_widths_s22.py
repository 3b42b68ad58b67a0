"""Keras layers and inputs of float64 and float16 dtypes through the lowering (session 22, helper H4).

The lowering refused them by name ("'dense' (Dense: dtype float64)", "(InputLayer: a float16 input)") while
``--loader=tensorflow`` converted them. TF.js has neither dtype (:mod:`tfjsconv.plugins.keras.lowering.float_widths`):

- float64 layers, Inputs and the global ``float64`` policy are computed in float32, the signature saying float32:
  within float32's rounding of Keras's float64 values (1e-5 of the range here, on ordinary and 1000x inputs).
- float16 (``float16``, ``mixed_float16``) layers emulate TF's float16 arithmetic in float32: inputs, weights and each
  op's result rounded to float16 as TF rounds them. Dense, Conv2D, BatchNormalization, Keras 3's LayerNormalization
  and a float16 Input give Keras's numbers (1e-5 of the range, as any model); LSTM, MultiHeadAttention, Softmax and
  tf_keras's LayerNormalization, whose TF kernels round in other steps, are as far from Keras as the traced path
  (float16's precision, accumulated) and named in a warning.
- bfloat16 stays a gap, by name.

Keras 3 (``.keras``, ``.h5``) and tf_keras (``.h5``), converted with TensorFlow, Keras and tf_keras poisoned, run in
TF.js cpu and wasm against ``model(x)``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import keras_module, randomize  # noqa: E402
from keras_two_sizes import converted_fixture, each_case, flat, verify_runs  # noqa: E402
from test_keras_lowering import case_file  # noqa: E402

ALL_FLAVORS = ["keras3.keras", "keras3.h5", "tf_keras.h5"]


def _global_policy(k: Any, name: str) -> Callable[[], None]:
    """Set Keras's global dtype policy to ``name``; returns the undo."""
    if k.__name__ == "keras":
        k.config.set_dtype_policy(name)
        return lambda: k.config.set_dtype_policy("float32")
    k.mixed_precision.set_global_policy(name)
    return lambda: k.mixed_precision.set_global_policy("float32")


def f64_layers(k: Any) -> Any:
    """float64 layers between float32 ones: Keras casts into and out of them."""
    L = k.layers
    x = k.Input((6, 6, 3), name="x")
    y = L.Conv2D(4, 3, dtype="float64", name="wide_conv")(x)
    y = L.BatchNormalization(dtype="float64", name="wide_bn")(y)
    y = L.Flatten(dtype="float64", name="wide_flat")(y)
    wide = L.Dense(3, activation="tanh", dtype="float64", name="wide_dense")(y)
    return k.Model(x, [wide, L.Dense(5, activation="softmax", name="narrow")(y)])


def f64_input(k: Any) -> Any:
    x = k.Input((5,), dtype="float64", name="x")
    return k.Model(x, k.layers.Dense(2, name="d")(x))


def f64_global(k: Any) -> Any:
    """The global float64 policy: every layer computes in float64 (Keras 3's Input too)."""
    undo = _global_policy(k, "float64")
    try:
        L = k.layers
        x = k.Input((6,), name="x")
        y = L.LayerNormalization(name="ln")(L.Dense(8, activation="relu", name="d0")(x))
        return k.Model(x, L.Dense(3, name="d1")(y))
    finally:
        undo()


def f16_dense_conv(k: Any) -> Any:
    """mixed_float16 Dense (relu between two) and Conv2D + BatchNormalization, a float16 Dense."""
    L = k.layers
    v, img = k.Input((16,), name="v"), k.Input((6, 6, 3), name="img")
    dense = L.Dense(8, dtype="mixed_float16", name="m_d1")(L.Dense(12, activation="relu", dtype="mixed_float16",
                                                                   name="m_d0")(v))
    conv = L.BatchNormalization(dtype="mixed_float16", name="m_bn")(L.Conv2D(4, 3, dtype="mixed_float16",
                                                                            name="m_conv")(img))
    return k.Model([v, img], [dense, conv, L.Dense(5, dtype="float16", name="h_d")(v)])


def f16_input(k: Any) -> Any:
    """A float16 Input: Keras rounds what it is given, then the float32 Dense computes on those values."""
    x = k.Input((5,), dtype="float16", name="x")
    return k.Model(x, k.layers.Dense(2, name="d")(x))


def f16_nested_input(k: Any) -> Any:
    """A nested model whose Input is float16: Keras casts the caller's float32 tensor to it (rounding)."""
    inner_x = k.Input((5,), dtype="float16", name="inner_x")
    inner = k.Model(inner_x, k.layers.Dense(3, name="d")(inner_x), name="inner")
    x = k.Input((5,), name="x")
    return k.Model(x, inner(k.layers.Dense(5, name="pre")(x)))


def f16_embedding(k: Any) -> Any:
    """A mixed_float16 Embedding gathers float32 rows and casts them to float16."""
    ids = k.Input((4,), dtype="int32", name="ids")
    return k.Model(ids, k.layers.Embedding(10, 3, dtype="mixed_float16", name="m_emb")(ids))


def f16_layer_norm(k: Any) -> Any:
    """Keras 3's float16 LayerNormalization computes in float32 and casts its result."""
    x = k.Input((6,), name="x")
    return k.Model(x, k.layers.LayerNormalization(dtype="float16", name="h_ln")(x))


def f16_approximate(k: Any) -> Any:
    """Layers whose TF float16 kernels round in other steps than the lowering's ops."""
    L = k.layers
    seq, v = k.Input((4, 6), name="seq"), k.Input((6,), name="v")
    lstm = L.LSTM(3, dtype="mixed_float16", name="m_lstm")(seq)
    mha = L.MultiHeadAttention(2, 3, dtype="mixed_float16", name="m_mha")(seq, seq)
    soft = L.Softmax(dtype="mixed_float16", name="m_soft")(L.Dense(4, dtype="mixed_float16", name="m_d")(v))
    return k.Model([seq, v], [lstm, mha, soft])


def f16_global(k: Any) -> Any:
    """The global mixed_float16 policy with operations between layers (Keras 3's ``ops``, tf_keras's TFOpLambda):
    they compute in their inputs' float16, held in float32."""
    undo = _global_policy(k, "mixed_float16")
    try:
        L = k.layers
        x = k.Input((6,), name="x")
        y = L.Dense(8, activation="relu", name="m_d0")(x)
        return k.Model(x, L.Dense(3, name="m_d1")(y * 3.0 + 1.0))
    finally:
        undo()


FAMILIES = {"f64_layers": f64_layers, "f64_input": f64_input, "f64_global": f64_global,
            "f16_dense_conv": f16_dense_conv, "f16_input": f16_input, "f16_nested_input": f16_nested_input,
            "f16_embedding": f16_embedding, "f16_layer_norm": f16_layer_norm, "f16_global": f16_global,
            "f16_approximate": f16_approximate}
#: The scales of each run's standard normal inputs: float16 families stay within float16's range.
SCALES = {family: (1.0, 1000.0) if family.startswith("f64") else (1.0, 8.0) for family in FAMILIES}


def _save(family: str, flavor: str, folder: Path) -> tuple[Path, list, None]:
    """The family's model with random weights, Keras's outputs (float16 ones as float32, exactly) at each scale."""
    model = FAMILIES[family](keras_module(flavor))
    randomize(model, 221)
    rng = np.random.default_rng(222)
    runs = []
    for scale in SCALES[family]:
        inputs = {t.name.split(":")[0]: rng.integers(0, 10, (3, *tuple(t.shape)[1:])).astype("int32")
                  if "int" in str(t.dtype) else
                  (scale * rng.standard_normal((3, *tuple(t.shape)[1:]))).astype("float32") for t in model.inputs}
        values = list(inputs.values())
        outputs = flat(model(values if len(values) > 1 else values[0], training=False))
        runs.append((inputs, [np.asarray(o).astype(np.float32) if np.asarray(o).dtype == np.float16 else
                              np.asarray(o) for o in outputs]))
    path = case_file(folder, family, flavor)
    model.save(path)
    return path, runs, None


EXACT_CASES = [(f, v) for f in ("f64_layers", "f64_input", "f64_global", "f16_dense_conv", "f16_input",
                                 "f16_nested_input", "f16_embedding")
               for v in ALL_FLAVORS] + [("f16_layer_norm", "keras3.keras"), ("f16_layer_norm", "keras3.h5")]
APPROXIMATE_CASES = [("f16_approximate", "keras3.keras"), ("f16_approximate", "tf_keras.h5"),
                     ("f16_global", "keras3.keras"), ("f16_global", "tf_keras.h5"),
                     ("f16_layer_norm", "tf_keras.h5")]  # tf_keras's: moments in float32, the rest in float16
converted = converted_fixture("float_widths_s22", EXACT_CASES + APPROXIMATE_CASES, _save)


@pytest.mark.node
@each_case(EXACT_CASES)
def test_float64_and_float16_models_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
    signature = json.loads((Path(f"{path}.out") / "model.json").read_text())["signature"]
    floats = [t for t in signature["inputs"].values() if t["dtype"] != "DT_INT32"]  # an Embedding's ids stay int32
    assert {t["dtype"] for t in [*floats, *signature["outputs"].values()]} == {"DT_FLOAT"}, signature


@pytest.mark.node
@each_case(APPROXIMATE_CASES)
def test_float16_layers_tf_rounds_otherwise_are_within_float16_precision(converted, tfjs_runtime, family, flavor):
    """Within 1e-2 of the largest value (float16's precision is 1e-3 a step; the traced path differs by as much:
    2.2e-3 for the LSTM, 5e-3 for the attention at 8x inputs), elements below 1e-2 of it not held to the relative
    rule (as ``verify`` holds a float16 reference's, 8 float16 epsilons)."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, runs, _ = converted[(family, flavor)]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    for inputs, outputs in runs:
        report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("cpu", "wasm"),
                              rtol=1e-2, elem_floor=1e-2, quiet=True)
        assert report.passed, format_report(report)


def test_lowering_names_the_layers_it_computes_in_float32(tmp_path, caplog):
    """One warning (and note) per width naming its layers; the float32 layers are not named."""
    import tfjsconv

    L = keras.layers
    x = keras.Input((4,), name="x")
    y = L.Dense(3, dtype="float64", name="wide")(L.Dense(3, name="plain")(x))
    keras.Model(x, [y, L.Dense(2, dtype="mixed_float16", name="half")(x)]).save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    notes = [n for n in result.details if "Keras computes in" in n]
    assert len(notes) == 2, result.details
    assert "1 layer(s) Keras computes in float64 are computed in float32" in notes[0] and notes[0].endswith(
        ": wide (Dense)"), notes[0]
    assert "1 layer(s) Keras computes in float16" in notes[1] and notes[1].endswith(": half (Dense)"), notes[1]
    assert all(n in caplog.text for n in notes)


def test_bfloat16_stays_a_gap_named_beside_lowered_widths(tmp_path):
    """bfloat16 rounds to 8 significant bits, which no lowering emulates: only it is named, float64 and float16
    layers beside it are lowered."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = keras.layers
    x, b = keras.Input((4,), name="x"), keras.Input((4,), dtype="bfloat16", name="b")
    outputs = [L.Dense(2, dtype="float64", name="wide")(x), L.Dense(2, dtype="mixed_float16", name="half")(x),
               L.Dense(2, dtype="mixed_bfloat16", name="brain")(x), L.Dense(2, name="d")(b)]
    keras.Model([x, b], outputs).save(tmp_path / "m.keras")
    with pytest.raises(UsageError) as caught:
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    message = str(caught.value)
    assert "does not cover 2 layers: 'b' (InputLayer: a bfloat16 input), 'brain' (Dense: dtype mixed_bfloat16)" \
        in message, message
