"""Layers models (the default output of a Keras file): narrow integers and channels-first ConvLSTM2D (session 31, h4c).

- TF.js has no int8/uint8/int16/uint16: a layers model held them as int32, so Keras's wraparound was lost, silently
  (reviewer r4: int8 100+100 is -56 in Keras, 200 in TF.js; uint8 20*20 is 144 vs 400). Refused by name with the
  graph-model hint wherever such a tensor meets arithmetic (the graph model through the h5py lowering wraps as Keras
  does: checked with ``tfjsconv verify``, cpu and wasm). Moves of an int8 tensor (Reshape, Flatten, an Embedding
  lookup) still convert and match Keras.
- A channels-first ConvLSTM2D converted, then threw on wasm (its Conv2D has no channelsFirst): refused for wasm.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from test_keras_layers_s30_operations import _convert  # noqa: E402
from test_layers_random_s31 import HINT, _flavors, _module, _verify  # noqa: E402

import tfjsconv  # noqa: E402
from tfjsconv.errors import BackendUnsupportedError  # noqa: E402

#: name -> (merge layer class, dtype): each wraps in Keras for the inputs below.
MERGES = {"add_int8": ("Add", "int8"), "multiply_uint8": ("Multiply", "uint8"), "add_int16": ("Add", "int16"),
          "multiply_uint16": ("Multiply", "uint16")}


def _merge(k: Any, cls: str, dtype: str) -> Any:
    x, y = k.Input((4,), dtype=dtype, name="x"), k.Input((4,), dtype=dtype, name="y")
    return k.Model([x, y], getattr(k.layers, cls)(name="out")([x, y]))


def _add_after_reshape(k: Any) -> Any:
    """A narrow tensor that reaches arithmetic through a move is refused too."""
    x = k.Input((4,), dtype="int8", name="x")
    return k.Model(x, k.layers.Add(name="out")([k.layers.Reshape((4,))(x), x]))


@pytest.mark.parametrize("module, suffix", _flavors())
def test_narrow_integer_arithmetic_is_refused_in_layers_models(tmp_path, module, suffix):
    """Converted before and lost Keras's wraparound (e.g. int8 Add: 256 off): refused by name, graph-model hint."""
    k = _module(module)
    models = {name: _merge(k, cls, dtype) for name, (cls, dtype) in MERGES.items()}
    models["reshaped_int8"] = _add_after_reshape(k)
    paths = {name: tmp_path / f"{name}{suffix}" for name in models}
    for name, model in models.items():
        model.save(paths[name])
    outcome = _convert(list(paths.values()), "tfjs_layers_model")
    wraps = np.asarray(models["add_int8"]([np.full((1, 4), 100, np.int8)] * 2))
    assert wraps.ravel()[0] == -56  # the Keras number TF.js's int32 would miss (200)
    for name, path in paths.items():
        line = outcome[str(path)]
        assert line.startswith("REFUSED") and HINT in line, line
        cls, dtype = MERGES.get(name, ("Add", "int8"))
        assert f"layer 'out' ({cls}): computes on {dtype} values" in line, line


@pytest.mark.parametrize("operation, dtype", [("add", "int8"), ("multiply", "uint8")])
def test_keras3_operations_on_narrow_integers_are_refused_in_layers_models(tmp_path, operation, dtype):
    """``keras.ops.add`` of int8 100+100 is -56 in Keras, was 200 in TF.js: refused by name."""
    x, y = keras.Input((4,), dtype=dtype, name="x"), keras.Input((4,), dtype=dtype, name="y")
    path = tmp_path / f"{operation}.keras"
    keras.Model([x, y], getattr(keras.ops, operation)(x, y)).save(path)
    line = _convert([path], "tfjs_layers_model")[str(path)]
    assert line.startswith("REFUSED") and HINT in line, line
    assert f"computes on {dtype} values" in line, line


def _int8_moves(k: Any) -> Any:
    """int8 ids reshaped, flattened and looked up: no value leaves the int8 range before the (float) Embedding; a
    float Dense casts them to float32 first (Keras 3 and tf_keras), so it computes no int8 either."""
    x = k.Input((2, 3), dtype="int8", name="x")
    ids = k.layers.Flatten()(k.layers.Reshape((3, 2))(x))
    looked_up = k.layers.Flatten()(k.layers.Embedding(128, 2)(ids))
    return k.Model(x, k.layers.Concatenate(name="out")([looked_up, k.layers.Dense(2)(ids)]))


@pytest.mark.node
@pytest.mark.parametrize("module, suffix", _flavors())
def test_moves_of_int8_inputs_still_convert_and_match(tmp_path, module, suffix, tfjs_runtime):
    """The control: int8 ids through Reshape, Flatten and an Embedding convert and match Keras (cpu, wasm)."""
    model = _int8_moves(_module(module))
    path = tmp_path / f"moves{suffix}"
    model.save(path)
    outcome = _convert([path], "tfjs_layers_model")
    assert outcome[str(path)].startswith("CONVERTED"), outcome[str(path)]
    ids = np.random.default_rng(4).integers(0, 7, (3, 2, 3)).astype(np.int8)
    ids[0, 0] = [100, 120, 127]  # Dense products past int8's range: Keras computes them in float32 (no wraparound)
    _verify(path, model, {"x": ids})


def _convlstm_channels_first(k: Any) -> Any:
    x = k.Input((2, 3, 5, 5), name="x")
    return k.Model(x, k.layers.ConvLSTM2D(2, 3, data_format="channels_first", name="out")(x))


@pytest.mark.parametrize("module, suffix", _flavors())
def test_channels_first_convlstm2d_is_refused_for_wasm(tmp_path, module, suffix):
    """Converted before, then threw on wasm ("Conv2D does not support dataFormat:'channelsFirst'")."""
    path = tmp_path / f"convlstm{suffix}"
    _convlstm_channels_first(_module(module)).save(path)
    with pytest.raises(BackendUnsupportedError) as error:
        tfjsconv.convert(str(path), str(tmp_path / "out"), output_format="tfjs_layers_model")
    message = str(error.value)
    assert "ConvLSTM2D (Conv2D) on wasm (wasm's Conv2D has no dataFormat 'channelsFirst'" in message, message
    assert "(it throws at run time)): out" in message, message
