"""Layers models (the default output of a Keras file) hunted with random models (session 31, h4).

``bench/keras_random_models.py --format layers`` found, each minimized here:

- AveragePooling1D / MaxPooling1D / GlobalAveragePooling1D / GlobalMaxPooling1D with ``data_format='channels_first'``:
  TF.js 4.22's 1-D pooling layers take no data_format and pool the steps axis (another shape, silently). Refused by
  name with the graph-model hint.
- A Sequential nested in a functional model (Keras 3): Keras 3's ``output_layers`` count no building node for a
  Sequential (they do for a functional model), so TF.js failed to load the layers model ("Graph disconnected").
- (open question (a)) ``keras.ops.add`` / ``multiply`` of operands of different ranks: numpy broadcasting aligns the
  shorter operand on the last axis, TF.js's merge layers insert its missing axes after the batch axis (3.7 off at
  batch 5): refused by name. Operands of the same rank broadcast alike (converted, checked).

Expected values are Keras's ``model(x, training=False)``; converted with TensorFlow, Keras and tf_keras poisoned;
TF.js cpu and wasm.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from test_keras_layers_s30_operations import _convert  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402

HINT = "--output_format=tfjs_graph_model"
POOLS_1D = ("AveragePooling1D", "MaxPooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D")


def _flavors() -> list[tuple[str, str]]:
    """(Keras module name, file suffix): Keras 3 ``.keras`` and ``.h5``, tf_keras ``.h5`` when installed."""
    flavors = [("keras", ".keras"), ("keras", ".h5")]
    try:
        import tf_keras  # noqa: F401
        flavors.append(("tf_keras", ".h5"))
    except ImportError:
        pass
    return flavors


def _module(name: str) -> Any:
    return keras if name == "keras" else pytest.importorskip("tf_keras")


def _verify(path: Path, model: Any, inputs: dict[str, np.ndarray]) -> None:
    """The converted layers model matches Keras's ``model(x, training=False)`` in TF.js cpu and wasm."""
    values = list(inputs.values())
    expected = np.asarray(model(values if len(values) > 1 else values[0], training=False))
    report = verify_model(Path(f"{path}.tfjs_layers_model"), inputs, {"out": expected},
                          backends=("cpu", "wasm"), rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)


def _pool_channels_first(k: Any, cls: str) -> Any:
    x = k.Input((5, 4), name="x")
    args = {"pool_size": 3, "strides": 1} if not cls.startswith("Global") else {}
    return k.Model(x, getattr(k.layers, cls)(data_format="channels_first", name="out", **args)(x))


@pytest.mark.parametrize("module, suffix", _flavors())
def test_channels_first_1d_pooling_is_refused_in_layers_models(tmp_path, module, suffix):
    """Converted before and gave another shape in TF.js (e.g. [3, 3, 4] for Keras's [3, 5, 2]): refused by name."""
    k = _module(module)
    paths = {cls: tmp_path / f"{cls}{suffix}" for cls in POOLS_1D}
    for cls, path in paths.items():
        _pool_channels_first(k, cls).save(path)
    outcome = _convert(list(paths.values()), "tfjs_layers_model")
    for cls, path in paths.items():
        line = outcome[str(path)]
        assert line.startswith("REFUSED") and HINT in line, line
        assert f"layer 'out' ({cls}): data_format='channels_first'" in line, line


def _sequential_in_functional(k: Any) -> Any:
    """``f(seq(x))`` inside an outer model, beside a Dense."""
    seq = k.Sequential([k.Input((5,)), k.layers.Dense(3)], name="seq")
    inner = k.Input((5,))
    f = k.Model(inner, seq(inner), name="f")
    x = k.Input((5,), name="x")
    return k.Model(x, k.layers.Add(name="out")([f(x), k.layers.Dense(3)(x)]))


def _sequential_as_output(k: Any) -> Any:
    """The outer model's output is a nested Sequential's call."""
    x = k.Input((5,), name="x")
    return k.Model(x, k.Sequential([k.Input((5,)), k.layers.Dense(3)], name="out")(x))


@pytest.mark.node
@pytest.mark.parametrize("module, suffix", _flavors())
def test_sequential_nested_in_a_functional_model_loads_and_matches(tmp_path, module, suffix, tfjs_runtime):
    """Keras 3 files failed to load in TF.js ("Graph disconnected"); tf_keras's converted right before too."""
    k = _module(module)
    models = {"nested": _sequential_in_functional(k), "output": _sequential_as_output(k)}
    paths = {name: tmp_path / f"{name}{suffix}" for name in models}
    for name, model in models.items():
        model.save(paths[name])
    outcome = _convert(list(paths.values()), "tfjs_layers_model")
    inputs = {"x": np.random.default_rng(3).standard_normal((3, 5)).astype(np.float32)}
    for name, path in paths.items():
        assert outcome[str(path)].startswith("CONVERTED"), outcome[str(path)]
        _verify(path, models[name], inputs)


def _binary(operation: Any, x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> Any:
    x, y = keras.Input(x_shape, name="x"), keras.Input(y_shape, name="y")
    return keras.Model([x, y], operation(x, y))


#: Keras 3 operations of operands of different ranks: Keras broadcasts otherwise than TF.js's merge layer.
MIXED_RANKS = {"add": (keras.ops.add, (5, 4), (4,)), "multiply": (keras.ops.multiply, (4,), (5, 4))}
#: Operands of the same rank, broadcast along an axis of size 1: TF.js's merge layers broadcast them as Keras does.
SAME_RANK = {"add": (keras.ops.add, (5, 4), (1, 4)), "multiply": (keras.ops.multiply, (5, 4), (5, 1)),
             "maximum": (keras.ops.maximum, (1, 4), (5, 1))}


@pytest.mark.node
@pytest.mark.parametrize("suffix", (".keras", ".h5"))
def test_operations_of_mixed_rank_operands_are_refused_in_layers_models(tmp_path, suffix, tfjs_runtime):
    """``ops.add([b,5,4], [b,4])`` converted and was 3.7 off at batch 5 (Keras fails at batch 3): refused by name.
    The same-rank broadcasts still convert and match Keras."""
    refused = {}
    for name, (operation, x_shape, y_shape) in MIXED_RANKS.items():
        refused[name] = tmp_path / f"mixed_{name}{suffix}"
        _binary(operation, x_shape, y_shape).save(refused[name])
    kept = {}
    for name, (operation, x_shape, y_shape) in SAME_RANK.items():
        kept[name] = (_binary(operation, x_shape, y_shape), tmp_path / f"same_{name}{suffix}", x_shape, y_shape)
        kept[name][0].save(kept[name][1])
    outcome = _convert([*refused.values(), *(path for _, path, _, _ in kept.values())], "tfjs_layers_model")
    for name, path in refused.items():
        line = outcome[str(path)]
        assert line.startswith("REFUSED") and HINT in line, line
        assert f"the Keras 3 operation keras.ops.{name} of operands of ranks" in line, line
    rng = np.random.default_rng(5)
    for model, path, x_shape, y_shape in kept.values():
        assert outcome[str(path)].startswith("CONVERTED"), outcome[str(path)]
        inputs = {"x": rng.standard_normal((3, *x_shape)).astype(np.float32),
                  "y": rng.standard_normal((3, *y_shape)).astype(np.float32)}
        _verify(path, model, inputs)
