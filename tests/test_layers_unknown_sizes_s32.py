"""Layers models TF.js 4.22 cannot build over sizes its own shape inference leaves unknown (session 32, h1).

TF.js builds every layer while loading a layers model, from the static shapes its ``computeOutputShape`` carries
from the Inputs. A ``Reshape`` with ``-1`` is always ``null`` there (Keras solves it), and a ``Flatten`` of unknown
sizes throws (Keras's is a valid output): such models converted, then failed to load in the user's browser
("The channel dimension of the input should be defined. Found null", "The shape of the input to "Flatten" is not
fully defined"; bench hunt s31 3104). They are refused by name with the graph-model hint; the neighbours TF.js
builds (a convolution over unknown height/width with known channels, global pooling after it, a ``-1`` that is not
the last axis before a Dense) still convert and match Keras in TF.js cpu and wasm, at two input sizes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")

from test_keras_layers_s30_operations import _convert  # noqa: E402
from test_layers_random_s31 import HINT, _flavors, _module, _verify  # noqa: E402

from tfjsconv.plugins.keras.tfjs_unknown_sizes import unknown_size_problems  # noqa: E402


def _reshape_then_conv(k: Any) -> Any:
    """tf_keras hunt 310400011: Keras knows the reshaped channels (3), TF.js leaves the ``-1`` null."""
    x = k.Input((4,), name="x")
    return k.Model(x, k.layers.Conv1D(2, 1, name="out")(k.layers.Reshape((1, -1))(k.layers.Dense(3)(x))))


def _reshape_then_dense(k: Any) -> Any:
    x = k.Input((2, 3), name="x")
    return k.Model(x, k.layers.Dense(2, name="out")(k.layers.Reshape((3, -1))(x)))


def _reshape_then_time_distributed(k: Any) -> Any:
    """The wrapped Dense gets each step's ``[batch, null]`` in TF.js."""
    x = k.Input((6,), name="x")
    return k.Model(x, k.layers.TimeDistributed(k.layers.Dense(2), name="out")(k.layers.Reshape((2, -1))(x)))


def _reshape_then_norms(k: Any) -> Any:
    """BatchNormalization, LayerNormalization and PReLU size their weights by the axis TF.js leaves null."""
    x = k.Input((6,), name="x")
    y = k.layers.Reshape((2, -1))(x)
    y = k.layers.LayerNormalization(name="ln")(k.layers.BatchNormalization(name="bn")(y))
    return k.Model(x, k.layers.PReLU(name="out")(y))


def _flatten_unknown(k: Any) -> Any:
    """tf_keras hunt 310400019: Flatten of a convolution over unknown height and width, as the output."""
    x = k.Input((None, None, 1), name="x")
    return k.Model(x, k.layers.Flatten(name="out")(k.layers.Conv2D(2, 1)(x)))


def _flatten_in_nested(k: Any) -> Any:
    """TF.js builds the nested model over its own Input of unknown steps."""
    inner_x = k.Input((None, 3), name="inner_x")
    inner = k.Model(inner_x, k.layers.Flatten(name="flat")(inner_x), name="inner")
    x = k.Input((None, 3), name="x")
    return k.Model(x, inner(k.layers.Dense(3)(x)))


def _known_nested_called_on_unknown(k: Any) -> Any:
    """review r1 #6: built over its Input (5, 3), then TF.js replays its shapes over the call's [null, null, 3]."""
    inner_x = k.Input((5, 3), name="inner_x")
    inner = k.Model(inner_x, k.layers.Dense(2)(k.layers.Flatten(name="flat")(inner_x)), name="inner")
    x = k.Input((None, 3), name="x")
    return k.Model(x, inner(x))


def _conv_reshaped(k: Any, x: Any, target: tuple[int, ...]) -> Any:
    """A Reshape of a convolution's output: the walk does not compute its sizes, so the ``-1`` stays null."""
    return k.layers.Reshape(target)(k.layers.Conv2D(2, 2)(x))


def _layer_norm_over_unknown_axis(k: Any) -> Any:
    """review r1 #5: TF.js sizes gamma by axis 1, which the ``-1`` leaves null (converted, then failed to load)."""
    x = k.Input((4, 4, 1), name="x")
    return k.Model(x, k.layers.LayerNormalization(axis=1, name="out")(_conv_reshaped(k, x, (-1, 2))))


def _shared_dense_first_call_unknown(k: Any) -> Any:
    """TF.js builds a shared layer on its first call: here the one over the null last axis."""
    a, b = k.Input((2, 9), name="a"), k.Input((4, 4, 1), name="b")
    shared = k.layers.Dense(2, name="shared")
    return k.Model([a, b], k.layers.Add(name="out")([shared(_conv_reshaped(k, b, (2, -1))), shared(a)]))


def _reshape_of_uncomputed_sizes(k: Any) -> Any:
    """The walk does not compute a convolution's output sizes, so it cannot write the ``-1`` Keras solves."""
    x = k.Input((4, 4, 1), name="x")
    y = k.layers.Reshape((1, -1))(k.layers.Conv2D(2, 2)(x))
    return k.Model(x, k.layers.Conv1D(2, 1, name="out")(y))


def _shared_reshape_solved_two_ways(k: Any) -> Any:
    """One Reshape, two solved sizes (3 and 4): one ``target_shape`` cannot hold both, the ``-1`` stays null."""
    a, b = k.Input((6,), name="a"), k.Input((8,), name="b")
    shared = k.layers.Reshape((2, -1))
    y = k.layers.Dense(2, name="da")(shared(a))
    return k.Model([a, b], k.layers.Add(name="out")([y, k.layers.Dense(2, name="db")(shared(b))]))


def _cropped_sum_flattened(k: Any) -> Any:
    """review r1 #7: TF.js crops null to a negative number, which its Add turns into null again: Flatten throws."""
    x = k.Input((None, None, 2), name="x")
    cropped = k.layers.Cropping2D(1)(x)
    return k.Model(x, k.layers.Flatten(name="out")(k.layers.Add()([cropped, cropped])))


def _dot_flattened(k: Any) -> Any:
    """review r1 #8: Dot of two unknown step counts gives [null, null, null] in TF.js."""
    a, b = k.Input((None, 4), name="a"), k.Input((None, 4), name="b")
    return k.Model([a, b], k.layers.Flatten(name="out")(k.layers.Dot(axes=2)([a, b])))


#: name -> (builder, the layer named, a piece of the reason).
REFUSED: dict[str, tuple[Callable[[Any], Any], str, str]] = {
    "reshape_uncomputed": (_reshape_of_uncomputed_sizes, "layer 'out' (Conv1D)", "unknown channel axis"),
    "shared_reshape_a": (_shared_reshape_solved_two_ways, "layer 'da' (Dense)", "unknown last axis"),
    "shared_reshape_b": (_shared_reshape_solved_two_ways, "layer 'db' (Dense)", "unknown last axis"),
    "crop_add_flatten": (_cropped_sum_flattened, "layer 'out' (Flatten)", "not fully defined"),
    "dot_flatten": (_dot_flattened, "layer 'out' (Flatten)", "not fully defined"),
    "flatten_unknown": (_flatten_unknown, "layer 'out' (Flatten)", "not fully defined"),
    "flatten_nested": (_flatten_in_nested, "layer 'inner/flat' (Flatten)", "not fully defined"),
    "nested_known_on_unknown": (_known_nested_called_on_unknown, "layer 'inner/flat' (Flatten)", "not fully defined"),
    "ln_axis1_unknown": (_layer_norm_over_unknown_axis, "layer 'out' (LayerNormalization)", "unknown axis 1"),
    "shared_first_unknown": (_shared_dense_first_call_unknown, "layer 'shared' (Dense)", "unknown last axis"),
}


@pytest.mark.parametrize("module, suffix", _flavors())
def test_layers_tfjs_cannot_build_over_unknown_sizes_are_refused(tmp_path, module, suffix):
    """Each converted before and TF.js failed to load it; now one refusal names the layer, graph-model hint."""
    k = _module(module)
    paths = {name: tmp_path / f"{name}{suffix}" for name in REFUSED}
    for name, (build, _, _) in REFUSED.items():
        build(k).save(paths[name])
    outcome = _convert(list(paths.values()), "tfjs_layers_model")
    for name, (_, layer, why) in REFUSED.items():
        line = outcome[str(paths[name])]
        assert line.startswith("REFUSED") and HINT in line, line
        assert layer in line and why in line, line


def _reshape_then_layer_norm_axis1(k: Any) -> Any:
    """The solved ``-1`` (3) sizes gamma and beta by axis 1."""
    x = k.Input((6,), name="x")
    return k.Model(x, k.layers.LayerNormalization(axis=1, name="out")(k.layers.Reshape((-1, 2))(x)))


def _conv_over_unknown_sizes(k: Any) -> Any:
    """Unknown height and width, known channels: TF.js builds the convolutions, the global pooling and the Dense."""
    x = k.Input((None, None, 2), name="x")
    y = k.layers.SeparableConv2D(3, 2, padding="same")(k.layers.Conv2D(3, 2)(x))
    y = k.layers.GlobalAveragePooling2D()(k.layers.DepthwiseConv2D(2)(y))
    return k.Model(x, k.layers.Dense(2, name="out")(y))


def _reshape_known_last_axis(k: Any) -> Any:
    """A ``-1`` off the last axis is null in TF.js too, but the Dense and the LSTM only size weights by the last."""
    x = k.Input((2, 6), name="x")
    y = k.layers.Reshape((-1, 3))(x)
    return k.Model(x, k.layers.Dense(2, name="out")(k.layers.LSTM(3, return_sequences=True)(y)))


def _static_flatten(k: Any) -> Any:
    x = k.Input((4, 4, 1), name="x")
    return k.Model(x, k.layers.Dense(2, name="out")(k.layers.Flatten()(k.layers.Conv2D(2, 2)(x))))


def _cropped_flattened(k: Any) -> Any:
    """TF.js's Flatten takes the negative sizes of a crop of unknown ones (no merge makes them null)."""
    x = k.Input((None, None, 2), name="x")
    return k.Model(x, k.layers.Flatten(name="out")(k.layers.Cropping2D(1)(x)))


#: name -> (builder, the input shapes it is run at).
CONVERTED: dict[str, tuple[Callable[[Any], Any], list[tuple[int, ...]]]] = {
    "reshape_conv": (_reshape_then_conv, [(3, 4)]),  # review r1 #9: the solved -1 is written into the config
    "reshape_dense": (_reshape_then_dense, [(3, 2, 3)]),
    "reshape_td": (_reshape_then_time_distributed, [(3, 6)]),
    "reshape_norms": (_reshape_then_norms, [(3, 6)]),
    "reshape_ln_axis1": (_reshape_then_layer_norm_axis1, [(3, 6)]),
    "conv_unknown_hw": (_conv_over_unknown_sizes, [(3, 5, 6, 2), (2, 9, 4, 2)]),
    "reshape_last_known": (_reshape_known_last_axis, [(3, 2, 6)]),
    "static_flatten": (_static_flatten, [(3, 4, 4, 1)]),
    "crop_flatten": (_cropped_flattened, [(2, 5, 5, 2)]),
}


@pytest.mark.node
@pytest.mark.parametrize("module, suffix", _flavors())
def test_neighbours_tfjs_builds_still_convert_and_match(tmp_path, module, suffix, tfjs_runtime):
    """The controls: converted and matching Keras in TF.js cpu and wasm (two sizes where the sizes are unknown)."""
    _assert_converted_and_matching(tmp_path, module, suffix, CONVERTED,
                                   lambda shapes, rng: [{"x": rng.normal(size=s).astype(np.float32)} for s in shapes])


def _assert_converted_and_matching(tmp_path: Path, module: str, suffix: str, cases: dict[str, tuple[Any, Any]],
                                   feeds: Callable[[Any, np.random.Generator], list[dict[str, np.ndarray]]]) -> None:
    """Every model of ``cases`` (name -> (builder, shapes)) converts as a layers model and matches Keras in TF.js cpu
    and wasm on each feed ``feeds(shapes, rng)`` gives."""
    k = _module(module)
    models = {name: build(k) for name, (build, _) in cases.items()}
    paths = {name: tmp_path / f"{name}{suffix}" for name in models}
    for name, model in models.items():
        model.save(paths[name])
    outcome = _convert(list(paths.values()), "tfjs_layers_model")
    rng = np.random.default_rng(32)
    for name, (_, shapes) in cases.items():
        assert outcome[str(paths[name])].startswith("CONVERTED"), outcome[str(paths[name])]
        for feed in feeds(shapes, rng):
            _verify(paths[name], models[name], feed)


def _shared_dense_later_call_unknown(k: Any) -> Any:
    """review r1 #1: built on its first call (known last axis); TF.js accepts the later call over a null one."""
    a, b = k.Input((2, 9), name="a"), k.Input((4, 4, 1), name="b")
    shared = k.layers.Dense(2, name="shared")
    return k.Model([a, b], k.layers.Add(name="out")([shared(a), shared(_conv_reshaped(k, b, (2, -1)))]))


def _shared_conv_later_call_unknown(k: Any) -> Any:
    a, b = k.Input((1, 8), name="a"), k.Input((3, 3, 1), name="b")
    shared = k.layers.Conv1D(2, 1, name="shared")
    return k.Model([a, b], k.layers.Add(name="out")([shared(a), shared(_conv_reshaped(k, b, (1, -1)))]))


def _layer_norm_over_known_axis(k: Any) -> Any:
    """review r1 #2: gamma and beta are sized by axis 1 (3, known), not by the null last axis."""
    x = k.Input((4, 4, 1), name="x")
    return k.Model(x, k.layers.LayerNormalization(axis=1, name="out")(_conv_reshaped(k, x, (3, -1))))


def _layer_norm_without_weights(k: Any) -> Any:
    x = k.Input((4, 4, 1), name="x")
    norm = k.layers.LayerNormalization(center=False, scale=False, name="out")
    return k.Model(x, norm(_conv_reshaped(k, x, (2, -1))))


#: name -> (builder, its inputs' shapes): loaded in TF.js before the walk, refused by it, now converted again.
FALSE_REFUSALS: dict[str, tuple[Callable[[Any], Any], dict[str, tuple[int, ...]]]] = {
    "shared_dense_later": (_shared_dense_later_call_unknown, {"a": (3, 2, 9), "b": (3, 4, 4, 1)}),
    "shared_conv_later": (_shared_conv_later_call_unknown, {"a": (3, 1, 8), "b": (3, 3, 3, 1)}),
    "ln_axis1_known": (_layer_norm_over_known_axis, {"x": (3, 4, 4, 1)}),
    "ln_no_weights": (_layer_norm_without_weights, {"x": (3, 4, 4, 1)}),
}


@pytest.mark.node
@pytest.mark.parametrize("module, suffix", _flavors())
def test_models_tfjs_builds_are_not_refused(tmp_path, module, suffix, tfjs_runtime):
    """review r1 #1-#2: TF.js builds these; they convert and match Keras in TF.js cpu and wasm."""
    _assert_converted_and_matching(
        tmp_path, module, suffix, FALSE_REFUSALS,
        lambda shapes, rng: [{n: rng.normal(size=s).astype(np.float32) for n, s in shapes.items()}])


@pytest.mark.node
def test_tf_keras_embedding_input_length_fills_the_length(tmp_path, tfjs_runtime):
    """review r1 #4: TF.js's Embedding takes its length from ``input_length``, so its Flatten builds."""
    k = pytest.importorskip("tf_keras")
    x = k.Input((None,), name="x", dtype="int32")
    model = k.Model(x, k.layers.Flatten(name="out")(k.layers.Embedding(10, 3, input_length=5)(x)))
    path = tmp_path / "embedding.h5"
    model.save(path)
    outcome = _convert([path], "tfjs_layers_model")[str(path)]
    assert outcome.startswith("CONVERTED"), outcome
    _verify(path, model, {"x": np.random.default_rng(32).integers(0, 10, size=(2, 5)).astype(np.int32)})


def test_conv_lstm_channels_first_reads_the_channels_of_a_step():
    """review r1 #3: TF.js builds ConvLSTM2D's cell on one step, so channels_first channels are axis 2 of the 5-D
    input (2 here), not the unknown time axis; the same layer over unknown channels is still named."""
    k = _module("keras")
    x = k.Input((None, 2, 5, 5), name="x")
    model = k.Model(x, k.layers.ConvLSTM2D(2, 3, data_format="channels_first", name="out")(x))
    config = json.loads(model.to_json())  # the model config as the file stores it
    assert unknown_size_problems(config) == []
    config["config"]["layers"][0]["config"]["batch_shape"] = [None, None, None, 5, 5]  # Keras cannot build this
    assert [line.split(":")[0] for line in unknown_size_problems(config)] == ["layer 'out' (ConvLSTM2D)"]
