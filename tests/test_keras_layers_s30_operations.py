"""Keras 3 operations in the layers-model output (the default) and identity models (session 30, h8b).

- A Keras 3 operation (``keras.activations.relu(x)``, ``keras.ops.add``, ``keras.ops.concatenate``...) drops its
  inputs' masks (measured, Keras 3.15: an LSTM after it computes as the unmasked LSTM), but the layers path writes it
  as the TF.js layer of its class name, which hands the mask on: ``LSTM(relu(Masking(x)))`` was 0.05 off and
  ``LSTM(concatenate([Masking(x), x]))`` 0.04 off, silently. Refused by name now where a mask reader follows; still
  converted where none does (a Dense after it) or no mask reaches it. A negative ``max_value`` (which the relu
  operation takes) made a layers model TF.js fails to run: refused.
- ``Model(x, keras.activations.linear(x))`` (its output is its input) was refused by the graph lowering as "an
  empty model": it is an identity, converted now.

- A ``.h5``'s relu operation Keras reads back as the ``keras.layers.ReLU`` layer (which hands the mask on): there
  the TF.js ReLU layer computes what ``load_model(h5)`` does, so ``LSTM(relu(Masking(x)))`` converts (session 30, h8c).

Expected values are Keras's ``model(x)`` (``load_model(h5)``'s for the relu-only ``.h5`` models); converted with
TensorFlow, Keras and tf_keras poisoned; TF.js cpu and wasm.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402

FLAVORS = (".keras", ".h5")
#: Converts each path (argv) with TensorFlow, Keras and tf_keras unimportable; prints the outcome per path.
POISONED = """
import sys
for name in ("tensorflow", "keras", "tf_keras"):
    sys.modules[name] = None
import tfjsconv
from tfjsconv.errors import InputError
output_format = sys.argv[1]
for path in sys.argv[2:]:
    try:
        tfjsconv.convert(path, path + "." + output_format, output_format=output_format)
        print("CONVERTED", path)
    except InputError as error:
        print("REFUSED", path, str(error).replace("\\n", " "), getattr(error, "hint", "") or "")
"""


def _masked_steps(shape: tuple[int, ...] = (2, 4, 3)) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x[0, 1:] = 0  # masked steps: Keras's LSTM reads them all after an operation
    x[1, 2] = 0
    return x


def _lstm_after(operation: Any) -> Any:
    x = keras.Input((4, 3), name="x")
    return keras.Model(x, keras.layers.LSTM(2, name="out")(operation(keras.layers.Masking(0.0)(x), x)))


#: Models the layers path refuses: an operation a mask reaches, with an LSTM after it; or a negative cap.
REFUSED = {
    "relu_lstm": lambda: _lstm_after(lambda m, x: keras.activations.relu(m, max_value=1.5)),
    "add_lstm": lambda: _lstm_after(lambda m, x: keras.ops.add(m, keras.layers.Masking(0.0)(x))),
    "concatenate_lstm": lambda: _lstm_after(lambda m, x: keras.ops.concatenate([m, x], axis=-1)),
}


def _relu_dense_after_mask() -> Any:
    x = keras.Input((4, 3), name="x")
    return keras.Model(x, keras.layers.Dense(2, name="out")(keras.activations.relu(keras.layers.Masking(0.0)(x))))


def _relu_lstm_unmasked() -> Any:
    x = keras.Input((4, 3), name="x")
    return keras.Model(x, keras.layers.LSTM(2, name="out")(keras.activations.relu(x, max_value=0.5)))


def _relu_zero_cap() -> Any:
    x = keras.Input((4, 3), name="x")
    return keras.Model(x, keras.layers.Dense(2, name="out")(keras.activations.relu(x, max_value=0.0)))


#: Models the layers path still converts: no mask reader after the operation, or no mask reaching it.
CONVERTED = {"relu_dense_after_mask": _relu_dense_after_mask, "relu_lstm_unmasked": _relu_lstm_unmasked,
             "relu_zero_cap": _relu_zero_cap}


def _negative_cap() -> Any:
    x = keras.Input((4, 3), name="x")
    return keras.Model(x, keras.activations.relu(x, max_value=-1.0))


def _saved(model: Any, folder: Path, name: str, flavor: str) -> Path:
    path = folder / f"{name}{flavor}"
    model.save(path)
    return path


def _convert(paths: list[Path], output_format: str) -> dict[str, str]:
    """``str(path)`` -> ``"CONVERTED ..."`` or ``"REFUSED ... message hint"``."""
    done = subprocess.run([sys.executable, "-c", POISONED, output_format, *map(str, paths)],
                          capture_output=True, text=True, check=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(("CONVERTED", "REFUSED"))]
    return {line.split(" ", 2)[1]: line for line in lines}


def _reference(model: Any, path: Path) -> Any:
    """What the file's user runs: Keras loads a ``.h5``'s relu operation as the ReLU layer (of its other
    operations Keras cannot load the file, so the saved model is the reference)."""
    return keras.saving.load_model(path) if path.suffix == ".h5" and path.stem.startswith("relu") else model


def _verify_layers(path: Path, model: Any, inputs: np.ndarray) -> None:
    expected = np.asarray(_reference(model, path)(inputs))
    report = verify_model(Path(f"{path}.tfjs_layers_model"), {"x": inputs}, {"out": expected},
                          backends=("cpu", "wasm"), rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_operations_a_mask_reaches_before_a_reader_are_refused_in_layers_models(tmp_path, flavor):
    """Refused by name with the graph-model hint (converted before, silently off or failing in TF.js); the models
    without a mask reader after the operation still convert and match Keras."""
    layer_relu = flavor == ".h5"  # Keras loads the relu operation as the ReLU layer: the TF.js layer is right
    refused = {name: _saved(build(), tmp_path, name, flavor) for name, build in REFUSED.items()
               if not (layer_relu and name == "relu_lstm")}
    refused["negative_cap"] = _saved(_negative_cap(), tmp_path, "negative_cap", flavor)
    models = {name: build() for name, build in CONVERTED.items()}
    if layer_relu:
        models["relu_lstm"] = REFUSED["relu_lstm"]()
    kept = {name: _saved(model, tmp_path, name, flavor) for name, model in models.items()}
    outcome = _convert([*refused.values(), *kept.values()], "tfjs_layers_model")
    for name, path in refused.items():
        line = outcome[str(path)]
        assert line.startswith("REFUSED") and "--output_format=tfjs_graph_model" in line, line
        why = "negative cap" if name == "negative_cap" else "Keras drops the mask there"
        assert why in line, line
    assert "'out' (LSTM)" in outcome[str(refused["concatenate_lstm"])]
    for name, path in kept.items():
        assert outcome[str(path)].startswith("CONVERTED"), outcome[str(path)]
        _verify_layers(path, models[name], _masked_steps())


@pytest.mark.parametrize("flavor", FLAVORS)
def test_refused_operations_convert_as_graph_models(tmp_path, flavor):
    """The hint holds: the graph lowering computes the dropped masks as Keras does (``.h5`` relu: the kept mask of
    the ReLU layer Keras loads)."""
    models = {name: build() for name, build in REFUSED.items()}
    paths = {name: _saved(model, tmp_path, name, flavor) for name, model in models.items()}
    outcome = _convert(list(paths.values()), "tfjs_graph_model")
    inputs = _masked_steps()
    for name, path in paths.items():
        assert outcome[str(path)].startswith("CONVERTED"), outcome[str(path)]
        expected = np.asarray(_reference(models[name], path)(inputs))
        report = verify_model(Path(f"{path}.tfjs_graph_model"), {"x": inputs}, {"out": expected},
                              backends=("cpu", "wasm"), rtol=1e-5, quiet=True)
        assert report.passed, format_report(report)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_identity_model_converts(tmp_path, flavor):
    """``Model(x, activations.linear(x))``: the output is the input. The graph lowering refused it as "an empty
    model"; the layers model (which converted before) is checked beside it."""
    x = keras.Input((3,), name="x")
    model = keras.Model(x, keras.activations.linear(x))
    path = _saved(model, tmp_path, "identity", flavor)
    inputs = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    for output_format in ("tfjs_graph_model", "tfjs_layers_model"):
        assert _convert([path], output_format)[str(path)].startswith("CONVERTED"), output_format
        report = verify_model(Path(f"{path}.{output_format}"), {"x": inputs}, {"x": np.asarray(model(inputs))},
                              backends=("cpu", "wasm"), rtol=1e-5, quiet=True)
        assert report.passed, format_report(report)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_operations_computing_otherwise_than_their_tfjs_layer_are_refused(tmp_path, flavor):
    """``ops.reshape`` (``newshape`` counts the batch) and ``ops.average`` (a mean over an axis) were written as
    TF.js's Reshape and Average layers, which failed to run; refused by name with the graph-model hint (h8c)."""
    x = keras.Input((4, 3), name="x")
    paths = {"reshape": _saved(keras.Model(x, keras.ops.reshape(x, (-1, 12))), tmp_path, "reshape", flavor),
             "average": _saved(keras.Model(x, keras.ops.average(x, axis=1)), tmp_path, "average", flavor)}
    outcome = _convert(list(paths.values()), "tfjs_layers_model")
    for name, path in paths.items():
        line = outcome[str(path)]
        assert line.startswith("REFUSED") and "--output_format=tfjs_graph_model" in line, line
        assert f"the Keras 3 operation keras.ops.{name}, whose arguments differ" in line, line

