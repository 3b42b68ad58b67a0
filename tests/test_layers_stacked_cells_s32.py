"""Stacked RNN cells (``RNN([cell, cell])``) in layers models: weights named as TF.js names them (session 32, h1b).

TF.js 4.22's ``StackedRNNCells.build`` names each cell's weights ``<rnn>/RNNCell_<i>/<weight>``; Keras files say
``<rnn>/stacked_rnn_cells/lstm_cell_1/kernel``, which TF.js's loader cannot match (it drops one level only). tf_keras
``.h5`` files converted and then failed to load ("Provided weight data has no target variable"); Keras 3 ``.keras``
and ``.h5`` files were refused (weights tfjsconv could not place). Now all three convert and match Keras.

Where TF.js computes something else, the layers path refuses by name: states returned by a stack of two or more
cells (TF.js lists them last cell first, Keras first cell first), tf_keras's initial states for such a stack (read
in the same reversed order: 0.8 off), and a Bidirectional over stacked cells (TF.js cannot rebuild it).

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
from test_layers_random_s31 import _flavors, _module  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402


def _flat(values: Any) -> list[Any]:
    """Keras 3 nests a stack's returned states per cell, tf_keras may too: one flat list, in Keras's order."""
    if isinstance(values, (list, tuple)):
        return [leaf for value in values for leaf in _flat(value)]
    return [values]


def _lstm_pair(k: Any, x: Any) -> Any:
    return k.layers.RNN([k.layers.LSTMCell(4), k.layers.LSTMCell(3)], name="out")(x)


def _gru_pair(k: Any, x: Any) -> Any:
    """reset_after=False: TF.js's GRU has no reset_after=True (refused by name already)."""
    cells = [k.layers.GRUCell(4, reset_after=False), k.layers.GRUCell(3, reset_after=False)]
    return k.layers.RNN(cells, name="out")(x)


def _simple_pair(k: Any, x: Any) -> Any:
    """The second cell has no bias: the cells' weight counts differ."""
    cells = [k.layers.SimpleRNNCell(4), k.layers.SimpleRNNCell(3, use_bias=False)]
    return k.layers.RNN(cells, name="out")(x)


def _mixed_sequences(k: Any, x: Any) -> Any:
    cells = [k.layers.SimpleRNNCell(4), k.layers.LSTMCell(2), k.layers.GRUCell(3, reset_after=False)]
    return k.layers.RNN(cells, return_sequences=True, name="out")(x)


def _single_cell_in_a_list(k: Any, x: Any) -> Any:
    return k.layers.RNN([k.layers.LSTMCell(3)], name="out")(x)


def _single_cell_states(k: Any, x: Any) -> Any:
    """One cell in the list: its states come in the same order in TF.js and Keras, so return_state converts."""
    outputs = k.layers.RNN([k.layers.LSTMCell(3)], return_state=True)(x)
    return k.layers.Concatenate(name="out")(_flat(outputs))


def _inside_a_nested_model(k: Any, x: Any) -> Any:
    cells = [k.layers.LSTMCell(4), k.layers.SimpleRNNCell(2)]
    inner = k.Sequential([k.Input((4, 3)), k.layers.RNN(cells, name="inner_rnn")], name="inner")
    return k.layers.Dense(2, name="out")(inner(x))


def _backwards_sequences(k: Any, x: Any) -> Any:
    cells = [k.layers.LSTMCell(4), k.layers.SimpleRNNCell(3)]
    return k.layers.RNN(cells, go_backwards=True, return_sequences=True, name="out")(x)


def _time_distributed(k: Any, x: Any) -> Any:
    """TF.js adds no level for TimeDistributed (``out/RNNCell_0/kernel``); Keras 3 .h5 names the wrapped RNN too."""
    cells = [k.layers.LSTMCell(4), k.layers.SimpleRNNCell(3)]
    return k.layers.TimeDistributed(k.layers.RNN(cells), name="out")(x)


CONVERTED = {"lstm_pair": _lstm_pair, "gru_pair": _gru_pair, "simple_pair": _simple_pair,
             "mixed_sequences": _mixed_sequences, "single_cell": _single_cell_in_a_list,
             "single_cell_states": _single_cell_states, "nested": _inside_a_nested_model,
             "backwards_sequences": _backwards_sequences, "time_distributed": _time_distributed}
#: Input shapes (without the batch) other than ``(4, 3)``.
SHAPES = {"time_distributed": (2, 4, 3)}


def _stack_states(k: Any, x: Any) -> Any:
    outputs = k.layers.RNN([k.layers.LSTMCell(4), k.layers.LSTMCell(3)], return_state=True, name="stack")(x)
    return k.layers.Concatenate(name="out")(_flat(outputs)[:2])  # the output and the first cell's h


def _bidirectional_stack(k: Any, x: Any) -> Any:
    cells = [k.layers.LSTMCell(4), k.layers.GRUCell(3, reset_after=False)]
    return k.layers.Bidirectional(k.layers.RNN(cells), name="out")(x)


def _stack_initial_states(k: Any, x: Any) -> Any:
    """tf_keras only: flat states ``[h1, h2]`` given to a stack of two SimpleRNNCells."""
    h = k.layers.Dense(4, name="h1")(k.layers.Flatten()(x))
    cells = [k.layers.SimpleRNNCell(4), k.layers.SimpleRNNCell(4)]
    return k.layers.RNN(cells, name="stack")(x, initial_state=[h, k.layers.Dense(4, name="h2")(h)])


#: name -> (builder, words the refusal names)
REFUSED = {"stack_states": (_stack_states, "return_state over 2 stacked cells"),
           "bidirectional": (_bidirectional_stack, "Bidirectional cannot rebuild it"),
           "initial_states": (_stack_initial_states, "initial_state over 2 stacked cells")}


def _model(k: Any, build: Any, shape: tuple[int, ...] = (4, 3)) -> Any:
    x = k.Input(shape, name="x")
    return k.Model(x, build(k, x))


def _verify(path: Path, model: Any, x: np.ndarray) -> None:
    """The converted layers model loads and matches Keras in TF.js cpu and wasm."""
    expected = np.asarray(model(x, training=False))
    report = verify_model(Path(f"{path}.tfjs_layers_model"), {"x": x}, {"out": expected},
                          backends=("cpu", "wasm"), rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
@pytest.mark.parametrize("module, suffix", _flavors())
def test_stacked_cells_convert_and_match_keras_in_tfjs(tmp_path, module, suffix, tfjs_runtime):
    """Failed before in every flavour: tf_keras .h5 converted and TF.js failed to load it ("no target variable:
    out/stacked_rnn_cells/lstm_cell/kernel"); Keras 3 .keras and .h5 were refused (weights not placed)."""
    k = _module(module)
    models = {name: _model(k, build, SHAPES.get(name, (4, 3))) for name, build in CONVERTED.items()}
    paths = {name: tmp_path / f"{name}{suffix}" for name in models}
    for name, model in models.items():
        model.save(paths[name])
    lines = _convert(list(paths.values()), "tfjs_layers_model")
    rng = np.random.default_rng(3)
    for name, path in paths.items():
        assert lines[str(path)].startswith("CONVERTED"), lines[str(path)]
        _verify(path, models[name], rng.standard_normal((2, *SHAPES.get(name, (4, 3)))).astype(np.float32))


@pytest.mark.parametrize("module, suffix", _flavors())
def test_stacked_cells_tfjs_runs_differently_are_refused_by_name(tmp_path, module, suffix):
    """Before: tf_keras converted them all (load error; once loadable, return_state and initial states are off);
    Keras 3 refused them for the weights, not for what TF.js computes. Keras 3 refuses state tensors given as
    keyword arguments already, so initial_states is a tf_keras case."""
    k = _module(module)
    cases = {name: spec for name, spec in REFUSED.items() if module == "tf_keras" or name != "initial_states"}
    paths = {name: tmp_path / f"{name}{suffix}" for name in cases}
    for name, (build, _) in cases.items():
        _model(k, build).save(paths[name])
    lines = _convert(list(paths.values()), "tfjs_layers_model")
    for name, (_, words) in cases.items():
        line = lines[str(paths[name])]
        assert line.startswith("REFUSED") and words in line and "tfjs_graph_model" in line, line
