"""Keras models for the Keras frontend's tests, built and saved once per test session.

Each builder takes the Keras module (Keras 3 or tf_keras) and returns a small model. A model is
built with random weights (fixed seeds, random BatchNorm statistics), its ``model.predict`` outputs
kept as the reference, and saved as ``.keras`` and ``.h5``; :func:`saved_model` caches that per
(builder, Keras) for the whole session, so test modules share the files instead of rebuilding.
"""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FLAVORS = ("keras3.keras", "keras3.h5", "tf_keras.h5", "tf_keras.keras")
BATCH = 3


def keras_module(flavor: str) -> Any:
    """Keras 3 for ``keras3.*`` flavors, tf_keras for ``tf_keras.*`` ones."""
    import importlib

    return importlib.import_module("keras" if flavor.startswith("keras3") else "tf_keras")


def _is_keras3(k: Any) -> bool:
    return k.__name__ == "keras"


def _leaky(k: Any, slope: float) -> Any:
    if _is_keras3(k):
        return k.layers.LeakyReLU(negative_slope=slope)
    return k.layers.LeakyReLU(alpha=slope)


def build_mlp(k: Any) -> Any:
    """Sequential without an Input: the input shape only comes from build()."""
    model = k.Sequential([k.layers.Dense(16, activation="relu"), k.layers.Dropout(0.2),
                          k.layers.Dense(8, activation="tanh"), k.layers.Dense(3, activation="softmax")])
    model.build((None, 10))
    return model


def build_cnn(k: Any) -> Any:
    L = k.layers
    inp = k.Input((16, 16, 3), name="image")
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = L.BatchNormalization()(x)
    x = L.MaxPooling2D()(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.BatchNormalization(center=False)(x)
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(5, activation="softmax")(x)
    return k.Model(inp, out)


def build_lstm(k: Any) -> Any:
    L = k.layers
    inp = k.Input((12,), dtype="int32", name="tokens")
    x = L.Embedding(50, 8)(inp)
    x = L.LSTM(16, return_sequences=True)(x)
    x = L.LSTM(8)(x)
    return k.Model(inp, L.Dense(4, activation="softmax")(x))


def build_gru(k: Any, reset_after: bool = False) -> Any:
    L = k.layers
    inp = k.Input((12,), dtype="int32", name="tokens")
    x = L.Embedding(50, 8)(inp)
    x = L.GRU(16, reset_after=reset_after, name="gru")(x)
    return k.Model(inp, L.Dense(3)(x))


def build_wrappers(k: Any) -> Any:
    """Bidirectional and TimeDistributed over recurrent and dense layers."""
    L = k.layers
    inp = k.Input((10,), dtype="int32", name="tokens")
    x = L.Embedding(50, 6)(inp)
    x = L.Bidirectional(L.LSTM(5, return_sequences=True), name="bidi_lstm")(x)
    x = L.TimeDistributed(L.Dense(4, activation="relu"), name="per_step")(x)
    x = L.Bidirectional(L.GRU(3, reset_after=False), merge_mode="sum", name="bidi_gru")(x)
    return k.Model(inp, L.Dense(2)(x))


def build_misc(k: Any) -> Any:
    """The other weighted layers of the name table, and shape-only layers."""
    L = k.layers
    inp = k.Input((8, 8, 3), name="image")
    x = L.Rescaling(1 / 4.0, offset=-0.5)(inp)
    x = L.ZeroPadding2D(1)(x)
    x = L.SeparableConv2D(6, 3, activation="relu6")(x)
    x = L.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
    x = L.AveragePooling2D(2)(x)
    x = L.UpSampling2D()(x)
    x = L.ReLU(max_value=6.0)(x)
    x = L.Conv2D(4, 3, dilation_rate=2, padding="same", use_bias=False)(x)
    x = L.PReLU()(x)
    x = L.Reshape((256, 4))(x)
    x = L.Conv1D(3, 3, strides=2)(x)
    x = L.LayerNormalization()(x)
    x = L.SimpleRNN(5, return_sequences=True)(x)
    x = L.Permute((2, 1))(x)
    x = L.Flatten()(x)
    x = L.RepeatVector(2)(L.Dense(4)(x))
    return k.Model(inp, L.Softmax()(L.Flatten()(x)))


def build_multi(k: Any) -> Any:
    """Two inputs, three outputs, and most activations TF.js has."""
    L = k.layers
    a, b = k.Input((6,), name="a"), k.Input((4,), name="b")
    x = L.Dense(8, activation="relu")(a)
    y = L.Dense(8, activation="tanh")(b)
    c = L.Concatenate()([x, y])
    d = L.Dense(8, activation="elu")(c)
    e = L.Dense(8, activation="selu")(d)
    f = L.Add()([d, e])
    g = L.Dense(8, activation="gelu")(L.Multiply()([f, d]))
    h = _leaky(k, 0.2)(g)
    probs = L.Dense(3, activation="softmax", name="probs")(h)
    score = L.Dense(1, activation="sigmoid", name="score")(h)
    emb = L.Dense(4, activation="swish", name="emb")(L.Dense(6, activation="softplus")(e))
    return k.Model([a, b], [probs, score, emb])


def build_nested(k: Any) -> Any:
    """A Sequential and a Functional model used as layers, the Functional one called twice."""
    L = k.layers
    inner = k.Sequential([k.Input((5,)), L.Dense(4, activation="relu", name="inner_dense"),
                          L.BatchNormalization(name="inner_bn")], name="inner")
    i2 = k.Input((4,))
    shared = k.Model(i2, L.Dense(3, activation="tanh", name="f_dense")(i2), name="shared")
    inp = k.Input((5,), name="x")
    first, second = shared(inner(inp)), shared(L.Dense(4, name="side")(inp))
    return k.Model(inp, [L.Dense(2, name="head")(L.Add()([first, second])), second])


def build_transfer(k: Any) -> Any:
    """The transfer-learning shape: a functional base model inside a Sequential."""
    L = k.layers
    i = k.Input((8, 8, 3))
    base = k.Model(i, L.Conv2D(4, 3, activation="relu", name="base_conv")(i), name="base")
    return k.Sequential([k.Input((8, 8, 3)), base, L.GlobalAveragePooling2D(), L.Dense(2, name="top")])


BUILDERS: dict[str, Callable[[Any], Any]] = {
    "mlp": build_mlp, "cnn": build_cnn, "lstm": build_lstm, "gru": build_gru, "multi": build_multi,
    "wrappers": build_wrappers, "misc": build_misc, "nested": build_nested, "transfer": build_transfer,
}


def randomize(model: Any, seed: int) -> None:
    """Random weights everywhere, including BatchNorm statistics (variances kept positive)."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        name = getattr(w, "path", None) or w.name
        shape = tuple(w.shape)
        if "moving_variance" in name:
            values.append(rng.uniform(0.5, 2.0, shape))
        elif "gamma" in name:
            values.append(1.0 + 0.2 * rng.standard_normal(shape))
        else:
            values.append(0.4 * rng.standard_normal(shape))
    model.set_weights([v.astype("float32") for v in values])


def make_inputs(model: Any, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for t in model.inputs:
        shape = (BATCH, *tuple(t.shape)[1:])
        name = t.name.split(":")[0]
        if "int" in str(t.dtype):
            inputs[name] = rng.integers(0, 50, shape).astype("int32")
        else:
            inputs[name] = rng.standard_normal(shape).astype("float32")
    return inputs


def save_with_outputs(model: Any, inputs: dict[str, np.ndarray], path: Path) -> tuple[Path, dict, list[np.ndarray]]:
    """Keras's outputs for ``inputs`` (the expected values), then ``model`` saved at ``path``."""
    outputs = model([*inputs.values()] if len(inputs) > 1 else next(iter(inputs.values())), training=False)
    outputs = [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
    model.save(path)
    return path, inputs, outputs


def output_names(model: Any) -> list[str]:
    return [name.split("/")[0] for name in model.output_names] if len(model.outputs) > 1 else ["output"]


class Saved:
    """One saved model file with its reference inputs and outputs."""

    def __init__(self, path: Path, inputs: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
        self.path, self.inputs, self.expected = path, inputs, expected


def _save(k: Any, builder: str, folder: Path, seed: int) -> dict[str, Saved]:
    k.utils.set_random_seed(seed)
    model = BUILDERS[builder](k)
    randomize(model, seed)
    inputs = make_inputs(model, seed + 1)
    predicted = model.predict(list(inputs.values()) if len(inputs) > 1 else next(iter(inputs.values())), verbose=0)
    predicted = predicted if isinstance(predicted, list) else [predicted]
    expected = dict(zip(output_names(model), (np.asarray(p) for p in predicted), strict=True))
    saved = {}
    flavor = "keras3" if _is_keras3(k) else "tf_keras"
    for suffix in (".keras", ".h5"):
        path = folder / f"{builder}_{flavor}{suffix}"
        model.save(path)
        saved[f"{flavor}{suffix}"] = Saved(path, inputs, expected)
    return saved


_FOLDER: Path | None = None


def _folder() -> Path:
    global _FOLDER
    if _FOLDER is None:
        _FOLDER = Path(tempfile.mkdtemp(prefix="tfjsconv-keras-tests-"))
        atexit.register(shutil.rmtree, _FOLDER, True)
    return _FOLDER


@functools.cache
def _saved_pair(builder: str, keras_name: str) -> dict[str, Saved]:
    import importlib

    k = importlib.import_module(keras_name)
    return _save(k, builder, _folder(), seed=10 * list(BUILDERS).index(builder))


def saved_model(builder: str, flavor: str) -> Saved:
    """The saved model ``builder`` in ``flavor`` (e.g. ``"keras3.keras"``), built on first use."""
    return _saved_pair(builder, "keras" if flavor.startswith("keras3") else "tf_keras")[flavor]


def edit_layer_config(path: Path, prefix: str, key: str, value: Any) -> None:
    """Set ``key`` of the config of the first top-level layer whose name starts with ``prefix`` in the ``.h5`` file
    at ``path`` (a hand-edited file, for the refusal tests)."""
    import json

    import h5py

    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        entry = next(layer for layer in config["config"]["layers"] if layer["config"].get("name", "").startswith(prefix))
        entry["config"][key] = value
        f.attrs["model_config"] = json.dumps(config)


def graph_model_refusal(folder: Path, model: Any) -> str:
    """The message with which converting ``model`` (saved as ``.keras`` in ``folder``) to a graph model is refused."""
    import pytest

    import tfjsconv
    from tfjsconv.errors import UsageError

    model.save(folder / "m.keras")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(folder / "m.keras", folder / "out", output_format="tfjs_graph_model")
    return str(err.value)


def lowering_refusal(path: Path) -> str:
    """The lowering's gap message for the Keras file ``path`` (one line), checking the refusal points to
    ``--loader=tensorflow`` and wrote nothing at ``{path}.out``."""
    import pytest

    import tfjsconv
    from tfjsconv.errors import UsageError

    with pytest.raises(UsageError) as err:
        tfjsconv.convert(path, Path(f"{path}.out"), output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value.hint)
    assert not Path(f"{path}.out").exists()
    return " ".join(str(err.value).split())


#: Converts each path with TensorFlow, Keras and tf_keras poisoned, printing each refusal's one-line message.
_POISONED_REFUSING = """
import sys
for name in ("tensorflow", "keras", "tf_keras"):
    sys.modules[name] = None
import tfjsconv
from tfjsconv.errors import UsageError
for path in sys.argv[1:]:
    try:
        tfjsconv.convert(path, path + ".out", output_format="tfjs_graph_model")
        print("CONVERTED")
    except UsageError as err:
        print("REFUSED " + " ".join(str(err).split()))
"""


def poisoned_refusals(folder: Path, models: list) -> list[str]:
    """The lowering's one-line refusal of each model, saved as ``.keras`` and ``.h5`` (checked to refuse alike) and
    converted in one subprocess with TensorFlow and Keras poisoned; each message after its ``UsageError: `` prefix."""
    import subprocess
    import sys

    paths = []
    for i, model in enumerate(models):
        for suffix in (".keras", ".h5"):
            paths.append(folder / f"m{i}{suffix}")
            model.save(paths[-1])
    out = subprocess.run([sys.executable, "-c", _POISONED_REFUSING, *map(str, paths)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith(("REFUSED", "CONVERTED"))]
    assert len(lines) == len(paths), out.stdout
    assert "CONVERTED" not in lines, out.stdout
    lines = [line.split(": ", 1)[-1] for line in lines]
    assert lines[::2] == lines[1::2]  # .keras and .h5 alike
    return lines[::2]
