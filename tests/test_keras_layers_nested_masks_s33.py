"""RNNs TF.js 4.22 masks with a mask Keras does not give them, in layers models (session 33, h4b).

TF.js's ``execute`` keeps one ``kwargs`` object for a whole layers-model call: a layer whose input carries a mask sets
``kwargs.mask``, every later layer gets it, and a nested model's call passes it into its own walk. Keras carries a mask
only through layers that hand it on (``Reshape``, ``Conv1D``, pooling, ``Permute``, ``Flatten`` drop it), so an RNN
after such a layer (inside a nested model, or after one before the nested model, or at the same level) ran masked in
TF.js and unmasked in Keras: 0.01 to 0.17 off, silently, or failing to broadcast the outer mask over fewer steps (the
hunt's tf_keras_h5-334200031). TF.js's merge layers hand on a ``[1, batch, steps]`` mask an RNN fails on. Each such
RNN is now refused by name with the graph-model hint; an RNN the mask reaches through layers that keep it converts and
matches Keras in TF.js cpu and wasm.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")

from test_keras_layers_s30_operations import _convert  # noqa: E402
from test_layers_random_s31 import HINT, _module  # noqa: E402
from test_layers_unknown_sizes_s32 import _assert_converted_and_matching  # noqa: E402

STEPS, WIDTH = 4, 6


def _masked(k: Any) -> tuple[Any, Any]:
    x = k.Input((STEPS, WIDTH), name="x")
    return x, k.layers.Masking(0.0)(x)


def _nested_after(k: Any, first: Callable[[], list[Any]]) -> Any:
    """``Masking -> Sequential[first..., LSTM 'rnn'] -> Dense``: the LSTM reads the outer mask in TF.js."""
    inner = k.Sequential([k.Input((STEPS, WIDTH)), *first(), k.layers.LSTM(3, name="rnn")], name="inner")
    x, masked = _masked(k)
    return k.Model(x, k.layers.Dense(2, name="out")(inner(masked)))


def _outer_reshape(k: Any) -> Any:
    """The mask is dropped before the nested model: Keras runs the nested LSTM unmasked."""
    inner = k.Sequential([k.Input((STEPS, WIDTH)), k.layers.LSTM(3, name="rnn")], name="inner")
    x, masked = _masked(k)
    return k.Model(x, k.layers.Dense(2, name="out")(inner(k.layers.Reshape((STEPS, WIDTH))(masked))))


def _same_level_conv(k: Any) -> Any:
    x, masked = _masked(k)
    return k.Model(x, k.layers.LSTM(3, name="rnn")(k.layers.Conv1D(WIDTH, 1)(masked)))


def _merged_masks(k: Any) -> Any:
    """TF.js's Merge.computeMask gives the RNN a [1, batch, steps] mask (it fails to broadcast it)."""
    x, masked = _masked(k)
    added = k.layers.Add()([k.layers.Dense(5)(masked), k.layers.Dense(5)(masked)])
    return k.Model(x, k.layers.GRU(3, reset_after=False, name="rnn")(added))


def _hunt_334200031(k: Any) -> Any:
    """The hunt's model, smaller: a Multiply of masked tensors into a nested Reshape -> RNN over fewer steps."""
    inner = k.Sequential([k.Input((STEPS, WIDTH)), k.layers.Reshape((-1, 3)),
                          k.layers.RNN(k.layers.SimpleRNNCell(2), name="rnn")], name="inner")
    x, masked = _masked(k)
    norm = k.layers.LayerNormalization()(masked)
    return k.Model(x, k.layers.Dense(2, name="out")(inner(k.layers.Multiply()([norm, masked]))))


def _layers(k: Any) -> dict[str, Callable[[], list[Any]]]:
    return {
        "reshape_same_steps": lambda: [k.layers.Reshape((STEPS, WIDTH))],
        "reshape_fewer_steps": lambda: [k.layers.Reshape((2, 2 * WIDTH))],
        "conv1d": lambda: [k.layers.Conv1D(WIDTH, 1)],
        "max_pooling": lambda: [k.layers.MaxPooling1D(1)],
        "permute": lambda: [k.layers.Permute((1, 2))],
        "flatten_repeat": lambda: [k.layers.Flatten(), k.layers.RepeatVector(STEPS)],
    }


#: name -> (builder, the RNN named): each converted before and ran off Keras (or failed at predict) in TF.js.
def _refused(k: Any) -> dict[str, tuple[Callable[[Any], Any], str]]:
    cases = {f"nested_{name}": ((lambda kk, f=first: _nested_after(kk, f)), "layer 'inner/rnn'")
             for name, first in _layers(k).items()}
    cases.update({"outer_reshape": (_outer_reshape, "layer 'inner/rnn' (LSTM)"),
                  "same_level_conv": (_same_level_conv, "layer 'rnn' (LSTM)"),
                  "merged_masks": (_merged_masks, "layer 'rnn' (GRU)"),
                  "hunt_334200031": (_hunt_334200031, "layer 'inner/rnn' (RNN)")})
    return cases


def _assert_refused(tmp_path: Any, k: Any, suffix: str, cases: dict[str, tuple[Callable[[Any], Any], str]]) -> None:
    paths = {name: tmp_path / f"{name}{suffix}" for name in cases}
    for name, (build, _) in cases.items():
        build(k).save(paths[name])
    outcome = _convert(list(paths.values()), "tfjs_layers_model")
    for name, (_, named) in cases.items():
        line = outcome[str(paths[name])]
        assert line.startswith("REFUSED") and HINT in line, line
        assert f"{named}" in line and "TF.js hands the last mask it met to every later layer" in line, line


def test_tf_keras_rnns_after_a_layer_dropping_the_mask_are_refused(tmp_path):
    """tf_keras ``.h5``: every case converted before (and was off Keras in TF.js cpu and wasm, or failed at predict)."""
    k = _module("tf_keras")
    _assert_refused(tmp_path, k, ".h5", _refused(k))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras3_rnns_after_a_layer_dropping_the_mask_are_refused(tmp_path, suffix):
    """Keras 3 (a nested model after Masking is refused already for Keras 3's NotEqual/Any mask layers): the RNN after
    a Conv1D at the same level, and a nested one after an outer Reshape, converted before and ran off Keras."""
    k = _module("keras")
    _assert_refused(tmp_path, k, suffix, {name: case for name, case in _refused(k).items()
                                          if name in ("outer_reshape", "same_level_conv")})


def _nested_dense(k: Any) -> Any:
    return _nested_after(k, lambda: [k.layers.Dense(WIDTH)])


def _nested_first(k: Any) -> Any:
    return _nested_after(k, lambda: [])


def _time_distributed_dense(k: Any) -> Any:
    x, masked = _masked(k)
    return k.Model(x, k.layers.LSTM(3, name="out")(k.layers.TimeDistributed(k.layers.Dense(5))(masked)))


def _masked_feed(_: Any, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Masked steps at the end of one sequence and in the middle of another."""
    x = rng.normal(size=(3, STEPS, WIDTH)).astype(np.float32)
    x[0, 2:] = 0.0
    x[1, 1] = 0.0
    return [{"x": x}]


@pytest.mark.node
def test_tf_keras_rnns_the_mask_reaches_unchanged_convert_and_match(tmp_path, tfjs_runtime):
    """The converted side (guards, converted before too): the outer mask reaches the nested LSTM through nothing or a
    Dense, or an LSTM through TimeDistributed(Dense); TF.js cpu and wasm match Keras at 1e-5."""
    cases = {"nested_dense": (_nested_dense, None), "nested_first": (_nested_first, None),
             "time_distributed_dense": (_time_distributed_dense, None)}
    _assert_converted_and_matching(tmp_path, "tf_keras", ".h5", cases, _masked_feed)


# Session 33 (h4c): TF.js 4.22's other mask reader. Its layers' calls read ``kwargs.mask`` only in the RNN classes
# (Bidirectional and TimeDistributed hand it to the wrapped layer) and in Softmax, which adds ``(1 - mask)·-1e9``.
# After a layer Keras drops the mask in, the Softmax took the sticky ``[batch, steps]`` mask: 0.09 to 0.94 off, silently.
def _softmax_after(k: Any, drop: Callable[[Any], Any]) -> Any:
    """``Masking -> drop -> Softmax 'soft'`` over ``[batch, STEPS]``: Keras gives the Softmax no mask."""
    x, masked = _masked(k)
    return k.Model(x, k.layers.Softmax(name="soft")(drop(masked)))


def _flatten_softmax(k: Any) -> Any:
    return _softmax_after(k, lambda t: k.layers.Flatten()(k.layers.Conv1D(1, 1)(t)))


def _reshape_softmax(k: Any) -> Any:
    return _softmax_after(k, lambda t: k.layers.Reshape((STEPS,))(k.layers.Dense(1)(t)))


def _lstm_softmax(k: Any) -> Any:
    """An LSTM's last output carries no mask in Keras."""
    return _softmax_after(k, lambda t: k.layers.LSTM(STEPS)(t))


def _nested_softmax(k: Any) -> Any:
    inner = k.Sequential([k.Input((STEPS, WIDTH)), k.layers.Conv1D(1, 1), k.layers.Flatten(),
                          k.layers.Softmax(name="soft")], name="inner")
    x, masked = _masked(k)
    return k.Model(x, inner(masked))


def _dot_softmax(k: Any) -> Any:
    """Attention scores: Keras's Dot hands on no mask; TF.js fails to broadcast the mask over the scores."""
    x, masked = _masked(k)
    keys = k.layers.Dense(5)(masked)
    return k.Model(x, k.layers.Softmax(name="soft")(k.layers.Dot(axes=2)([keys, keys])))


def _other_input_softmax(k: Any) -> Any:
    """The Softmax is on another input's branch, which TF.js runs after the masked LSTM."""
    x, masked = _masked(k)
    other = k.Input((STEPS,), name="y")
    soft = k.layers.Softmax(name="soft")(k.layers.Dense(STEPS)(other))
    return k.Model([x, other], k.layers.Concatenate()([soft, k.layers.LSTM(STEPS)(masked)]))


def _time_distributed_softmax(k: Any) -> Any:
    """TF.js's TimeDistributed hands its ``kwargs`` (the sticky ``[batch, STEPS]`` mask) to the wrapped Softmax."""
    x, masked = _masked(k)
    squares = k.layers.Reshape((STEPS, STEPS))(k.layers.Flatten()(k.layers.Conv1D(STEPS, 1)(masked)))
    return k.Model(x, k.layers.TimeDistributed(k.layers.Softmax(), name="td")(squares))


def _softmax_refused() -> dict[str, tuple[Callable[[Any], Any], str]]:
    return {"flatten_softmax": (_flatten_softmax, "layer 'soft' (Softmax)"),
            "reshape_softmax": (_reshape_softmax, "layer 'soft' (Softmax)"),
            "lstm_softmax": (_lstm_softmax, "layer 'soft' (Softmax)"),
            "nested_softmax": (_nested_softmax, "layer 'inner/soft' (Softmax)"),
            "dot_softmax": (_dot_softmax, "layer 'soft' (Softmax)"),
            "other_input_softmax": (_other_input_softmax, "layer 'soft' (Softmax)"),
            "time_distributed_softmax": (_time_distributed_softmax, "layer 'td' (TimeDistributed)")}


def test_tf_keras_softmax_given_a_mask_keras_does_not_give_is_refused(tmp_path):
    """tf_keras ``.h5``: every case converted before and was off Keras in TF.js cpu and wasm (0.09 to 0.69), or
    failed at predict (``dot_softmax``)."""
    _assert_refused(tmp_path, _module("tf_keras"), ".h5", _softmax_refused())


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras3_softmax_given_a_mask_keras_does_not_give_is_refused(tmp_path, suffix):
    """Keras 3 (the other cases are refused already for Keras 3's NotEqual/Any mask layers): converted before and
    ran off Keras (0.09 to 0.94) or failed at predict."""
    _assert_refused(tmp_path, _module("keras"), suffix, {name: case for name, case in _softmax_refused().items()
                                                         if name in ("flatten_softmax", "reshape_softmax", "dot_softmax",
                                                                     "time_distributed_softmax")})


def _softmax_given_the_mask(k: Any) -> Any:
    """The Softmax Keras gives the mask (a Masking over ``[batch, WIDTH]`` masks whole rows): TF.js adds the same."""
    x = k.Input((WIDTH,), name="x")
    return k.Model(x, k.layers.Softmax(name="soft")(k.layers.Dense(1)(k.layers.Masking(0.0)(x))))


def _masked_rows(_: Any, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    x = rng.normal(size=(3, WIDTH)).astype(np.float32)
    x[1] = 0.0
    return [{"x": x}]


@pytest.mark.node
def test_tf_keras_softmax_the_mask_reaches_converts_and_matches(tmp_path, tfjs_runtime):
    """The converted side (a guard, converted before too): TF.js cpu and wasm match Keras at 1e-5."""
    _assert_converted_and_matching(tmp_path, "tf_keras", ".h5", {"softmax_given_the_mask": (_softmax_given_the_mask,
                                                                                            None)}, _masked_rows)
