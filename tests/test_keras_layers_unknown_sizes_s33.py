"""A nested model's outputs over each call's shapes, as TF.js 4.22 follows them when it loads a layers model (s33).

TF.js's symbolic ``apply`` of a nested model runs ``Container.computeOutputShape`` over the call's input shapes and
builds the layers after the call over the output shapes it gives. The unknown-sizes walk (session 32) stopped at a
nested model's call, so a layer after it that TF.js cannot build (a Dense over a last axis a ``Reshape(-1)`` inside
leaves null) converted and failed to load, and a ``Reshape(-1)`` after it stayed unsolved (null in TF.js). Now the
walk follows the outputs: the first are refused by name (graph-model hint), and the second are solved, written,
converted and matched with Keras in TF.js cpu and wasm. Functional and Sequential models nested in functional ones,
a nested model shared over calls of different shapes, and a model nested in a nested one.

Guards, unchanged this session: Keras 3's Masking saved as op layers before stacked cells is refused by name,
tf_keras's converts and matches, and stateful stacked cells convert and match.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")

from test_keras_layers_s30_operations import _convert  # noqa: E402
from test_layers_random_s31 import HINT, _flavors, _module  # noqa: E402
from test_layers_unknown_sizes_s32 import _assert_converted_and_matching  # noqa: E402


def _unsolved_reshape(k: Any, name: str, target: tuple[int, ...]) -> Any:
    """A nested model whose ``Reshape`` follows a convolution: the walk does not compute the convolution's sizes,
    so the ``-1`` stays null in TF.js (Keras solves it: 2 * 3 * 3 / 2 = 9 or / 1 = 18)."""
    x = k.Input((4, 4, 1), name=f"{name}_x")
    return k.Model(x, k.layers.Reshape(target)(k.layers.Conv2D(2, 2)(x)), name=name)


def _dense_after_nested_functional(k: Any) -> Any:
    """review r1: the outer Dense is built over the nested model's [null, 2, null]."""
    x = k.Input((4, 4, 1), name="x")
    return k.Model(x, k.layers.Dense(2, name="out")(_unsolved_reshape(k, "inner", (2, -1))(x)))


def _conv_after_nested_sequential(k: Any) -> Any:
    inner = k.Sequential([k.Input((4, 4, 1)), k.layers.Conv2D(2, 2), k.layers.Reshape((1, -1))], name="inner")
    x = k.Input((4, 4, 1), name="x")
    return k.Model(x, k.layers.Conv1D(2, 1, name="out")(inner(x)))


def _dense_after_nested_in_nested(k: Any) -> Any:
    deepest = _unsolved_reshape(k, "deepest", (2, -1))
    middle_x = k.Input((4, 4, 1), name="middle_x")
    middle = k.Model(middle_x, deepest(middle_x), name="middle")
    x = k.Input((4, 4, 1), name="x")
    return k.Model(x, k.layers.Dense(2, name="out")(middle(x)))


def _shared_nested_over_two_lengths(k: Any) -> Any:
    """One nested model of unknown length called on 6 and 8 values: Keras solves 3 and 4, TF.js leaves both null."""
    inner_x = k.Input((None,), name="inner_x")
    inner = k.Model(inner_x, k.layers.Reshape((2, -1))(inner_x), name="inner")
    a, b = k.Input((6,), name="a"), k.Input((8,), name="b")
    return k.Model([a, b], [k.layers.Dense(2, name="da")(inner(a)), k.layers.Dense(2, name="db")(inner(b))])


#: name -> (builder, the layers named, a piece of the reason).
REFUSED: dict[str, tuple[Callable[[Any], Any], tuple[str, ...], str]] = {
    "nested_functional_dense": (_dense_after_nested_functional, ("layer 'out' (Dense)",), "unknown last axis"),
    "nested_sequential_conv": (_conv_after_nested_sequential, ("layer 'out' (Conv1D)",), "unknown channel axis"),
    "nested_in_nested_dense": (_dense_after_nested_in_nested, ("layer 'out' (Dense)",), "unknown last axis"),
    "shared_nested_two_lengths": (_shared_nested_over_two_lengths, ("layer 'da' (Dense)", "layer 'db' (Dense)"),
                                  "unknown last axis"),
}


@pytest.mark.parametrize("module, suffix", _flavors())
def test_layers_after_a_nested_model_tfjs_cannot_build_are_refused(tmp_path, module, suffix):
    """Each converted before and TF.js failed to load it; now the layers after the call are named, graph-model hint."""
    k = _module(module)
    paths = {name: tmp_path / f"{name}{suffix}" for name in REFUSED}
    for name, (build, _, _) in REFUSED.items():
        build(k).save(paths[name])
    outcome = _convert(list(paths.values()), "tfjs_layers_model")
    for name, (_, layers, why) in REFUSED.items():
        line = outcome[str(paths[name])]
        assert line.startswith("REFUSED") and HINT in line, line
        assert all(layer in line for layer in layers) and why in line, line


def _dense(k: Any, units: int, name: str) -> Any:
    """A nested model of known sizes: its output's last axis is a number TF.js knows too."""
    x = k.Input((6,), name=f"{name}_x")
    return k.Model(x, k.layers.Dense(units)(x), name=name)


def _reshape_conv(k: Any, y: Any) -> Any:
    """Keras solves the ``-1`` from the nested model's output; TF.js needs it written to build the Conv1D."""
    return k.layers.Conv1D(2, 1, name="out")(k.layers.Reshape((1, -1))(y))


def _reshape_after_nested_functional(k: Any) -> Any:
    x = k.Input((6,), name="x")
    return k.Model(x, _reshape_conv(k, _dense(k, 4, "inner")(x)))


def _reshape_after_nested_sequential(k: Any) -> Any:
    inner = k.Sequential([k.Input((2, 3)), k.layers.Flatten(), k.layers.Dense(4)], name="inner")
    x = k.Input((2, 3), name="x")
    return k.Model(x, _reshape_conv(k, inner(x)))


def _reshape_after_nested_in_nested(k: Any) -> Any:
    deepest = _dense(k, 4, "deepest")
    middle_x = k.Input((6,), name="middle_x")
    middle = k.Model(middle_x, k.layers.Dense(5)(deepest(middle_x)), name="middle")
    x = k.Input((6,), name="x")
    return k.Model(x, _reshape_conv(k, middle(x)))


def _shared_nested_over_two_lengths_known(k: Any) -> Any:
    """One nested model of unknown steps called on 4 and 5 steps: TF.js replays each call's own sizes."""
    inner_x = k.Input((None, 3), name="inner_x")
    inner = k.Model(inner_x, k.layers.Permute((2, 1))(k.layers.Dense(3)(inner_x)), name="inner")
    a, b = k.Input((4, 3), name="a"), k.Input((5, 3), name="b")
    ya = k.layers.Reshape((1, -1))(k.layers.Dense(2)(inner(a)))
    yb = k.layers.Reshape((1, -1))(k.layers.Dense(2)(inner(b)))
    return k.Model([a, b], k.layers.Conv1D(2, 1, name="out")(k.layers.Concatenate()([ya, yb])))


#: name -> (builder, its inputs' shapes).
CONVERTED: dict[str, tuple[Callable[[Any], Any], dict[str, tuple[int, ...]]]] = {
    "nested_functional_reshape": (_reshape_after_nested_functional, {"x": (3, 6)}),
    "nested_sequential_reshape": (_reshape_after_nested_sequential, {"x": (3, 2, 3)}),
    "nested_in_nested_reshape": (_reshape_after_nested_in_nested, {"x": (3, 6)}),
    "shared_nested_known": (_shared_nested_over_two_lengths_known, {"a": (3, 4, 3), "b": (3, 5, 3)}),
}


@pytest.mark.node
@pytest.mark.parametrize("module, suffix", _flavors())
def test_reshapes_after_a_nested_model_are_solved_and_match(tmp_path, module, suffix, tfjs_runtime):
    """The ``-1`` after a nested model is solved from its outputs and written: TF.js loads the model (it failed to
    before, the ``-1`` null), and it matches Keras in TF.js cpu and wasm."""
    _assert_converted_and_matching(
        tmp_path, module, suffix, CONVERTED,
        lambda shapes, rng: [{n: rng.normal(size=s).astype(np.float32) for n, s in shapes.items()}])


def _masked_stacked_cells(k: Any) -> Any:
    x = k.Input((5, 3), name="x")
    cells = [k.layers.SimpleRNNCell(4), k.layers.LSTMCell(3)]
    return k.Model(x, k.layers.RNN(cells, return_sequences=True, name="out")(k.layers.Masking(0.0)(x)))


def _stateful_stacked_cells(k: Any) -> Any:
    x = k.Input((5, 3), batch_size=2, name="x")
    cells = [k.layers.LSTMCell(4), k.layers.GRUCell(3, reset_after=False)]
    return k.Model(x, k.layers.RNN(cells, stateful=True, name="out")(x))


def _masked_rows(rng: np.random.Generator) -> np.ndarray:
    """Zero (masked) steps at the end of one sequence and in the middle of the other."""
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    x[0, 3:] = 0.0
    x[1, 1] = 0.0
    return x


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras3_masking_into_stacked_cells_is_refused_by_name(tmp_path, suffix):
    """Keras 3 saves Masking's mask as NotEqual and Any op layers, which TF.js 4.22's layers API lacks: named (a guard,
    refused on the code before this session too), never emitted without its mask."""
    path = tmp_path / f"masked{suffix}"
    _masked_stacked_cells(_module("keras")).save(path)
    line = _convert([path], "tfjs_layers_model")[str(path)]
    assert line.startswith("REFUSED") and HINT in line, line
    assert "(NotEqual): TF.js 4.22 has no NotEqual layer" in line and "(Any): TF.js 4.22 has no Any layer" in line, line


@pytest.mark.node
def test_tf_keras_masking_into_stacked_cells_converts_and_matches(tmp_path, tfjs_runtime):
    """tf_keras keeps Masking a layer: TF.js's stacked cells read its mask (a guard, converted before too)."""
    _assert_converted_and_matching(tmp_path, "tf_keras", ".h5", {"masked": (_masked_stacked_cells, None)},
                                   lambda _, rng: [{"x": _masked_rows(rng)}])


@pytest.mark.node
@pytest.mark.parametrize("module, suffix", _flavors())
def test_stateful_stacked_cells_convert_and_match(tmp_path, module, suffix, tfjs_runtime):
    """A stateful stack of cells (batch 2) converts and its first call matches Keras's, from zero states (a guard,
    converted before too)."""
    _assert_converted_and_matching(tmp_path, module, suffix, {"stateful": (_stateful_stacked_cells, None)},
                                   lambda _, rng: [{"x": rng.normal(size=(2, 5, 3)).astype(np.float32)}])
