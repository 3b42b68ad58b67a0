"""Masks into TimeDistributed around a nested model that session 26 left refused by name (session 28, issue 16;
``--loader=tensorflow`` converts them all).

Which mask the wrapped model's layers read, as measured on Keras 3.15 and tf_keras 2.21 (``model(x)``):

- Keras 3 hands step ``t`` ``mask[:, t]`` to the model's ``call``, which sets it on its input *after* casting that
  to its Input's dtype: the layers always read it, whatever the wrapper's policy (float16, mixed_float16), the
  values (float16, int32) or the Input's dtype (float64).
- tf_keras hands the folded mask to the model's ``__call__`` with the values its wrapper cast to its compute dtype;
  where the model's Input has another dtype, its cast makes a new tensor without the mask, and the layers compute
  as if unmasked (a float16 or mixed_float16 wrapper, int32 values, a float64 Input). The wrapper's output mask is
  then the model's ``compute_mask`` (none here) reduced with ``any``, which a pooling after it reads. float16 values
  into a float32 wrapper are cast by the wrapper to the Input's float32: the mask reaches the layers.

Also TimeDistributed(TimeDistributed(model)) over a mask, when every layer inside hands the mask on (Dense): the
values are the unmasked ones and the output carries the input's mask in both flavours, which a masked pooling after
it reads. Keras 3 ``.keras`` and tf_keras ``.h5``; one converted model at two input sizes (steps unknown), batches
with fully masked steps (a masked mean of nothing is NaN in Keras), TF.js cpu and wasm against ``model(x)``,
TensorFlow and Keras poisoned. Each case was refused by name before (the last test names the refusals).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")

from keras_models import keras_module  # noqa: E402
from keras_two_sizes import (  # noqa: E402
    at_runs,
    converted_fixture,
    each_case,
    two_size_saver,
    under_policy,
    verify_runs,
    verify_runs_within,
)


def _is_tf_keras(k: Any) -> bool:
    return k is keras_module("tf_keras.h5")


def _reader(k: Any, input_dtype: str = "float32", layer_dtype: str | None = None) -> Any:
    """The per-step model: a Dense, then a GlobalAveragePooling1D that reads the mask (a masked mean)."""
    L = k.layers
    chars = k.Input((None, 4), dtype=input_dtype, name="chars")
    dense = L.Dense(3, name="d", dtype=layer_dtype)(chars)
    return k.Model(chars, L.GlobalAveragePooling1D(name="gap", dtype=layer_dtype)(dense), name="words")


def _wrapped(k: Any, x: Any, reader: Any, policy: str | None = None) -> list[Any]:
    """``TimeDistributed(reader)`` of ``x``; with tf_keras also a GlobalAveragePooling1D after it, which reads the
    wrapper's output mask (Keras 3 hands on the input's ``[batch, steps, words]`` mask, which no pooling of its
    ``[batch, steps, 3]`` output can read)."""
    td = k.layers.TimeDistributed(reader, name="td", dtype=policy)(x)
    return [td, k.layers.GlobalAveragePooling1D(name="after")(td)] if _is_tf_keras(k) else [td]


def _half_wrapper(policy: str):
    def build(k: Any) -> Any:
        x = k.Input((None, None, 4), name="x")
        return k.Model(x, _wrapped(k, k.layers.Masking(0.0, name="masking")(x), _reader(k), policy))

    return build


def half_values(k: Any) -> Any:
    """float16 values (a float16 linear Activation) into a float32 wrapper."""
    x = k.Input((None, None, 4), name="x")
    half = k.layers.Activation("linear", dtype="float16", name="half")(k.layers.Masking(0.0, name="masking")(x))
    return k.Model(x, _wrapped(k, half, _reader(k)))


def int_values(k: Any) -> Any:
    """An int32 model input masked by Masking(0), into a wrapped model of a float32 Input."""
    x = k.Input((None, None, 4), dtype="int32", name="x")
    return k.Model(x, _wrapped(k, k.layers.Masking(0, name="masking")(x), _reader(k)))


def float64_input(k: Any) -> Any:
    """A wrapped model whose Input and layers are float64."""
    x = k.Input((None, None, 4), name="x")
    return k.Model(x, _wrapped(k, k.layers.Masking(0.0, name="masking")(x), _reader(k, "float64", "float64")))


def _global_policy(policy: str):
    """Embedding(mask_zero=True) of ``[batch, steps, words]`` ids into the wrapped model, all under the global
    ``policy``: every layer computes in float16 (tf_keras's wrapper then drops the mask, Keras 3's does not)."""
    def build(k: Any) -> Any:
        def model() -> Any:
            ids = k.Input((None, None), dtype="int32", name="ids")
            return k.Model(ids, _wrapped(k, k.layers.Embedding(12, 4, mask_zero=True, name="emb")(ids), _reader(k)))

        return under_policy(k, policy, model)

    return build


def td_td(k: Any) -> Any:
    """A mask into TimeDistributed(TimeDistributed(model)) whose Dense layers hand it on, then a masked pooling per
    outer step reading the output's mask."""
    L = k.layers
    cell = k.Input((4,), name="cell")
    inner = k.Model(cell, L.Dense(2, name="d2")(L.Dense(3, activation="tanh", name="d1")(cell)), name="cell_model")
    grid = k.Input((None, None, 4), name="x")
    both = L.TimeDistributed(L.TimeDistributed(inner, name="td_in"), name="td_out")(L.Masking(0.0, name="masking")(grid))
    return k.Model(grid, [both, L.TimeDistributed(L.GlobalAveragePooling1D(name="pool"), name="td_pool")(both)])


def td_td_float64(k: Any) -> Any:
    """As :func:`td_td` around a model whose Input and Dense are float64 (tf_keras's cast drops the mask inside;
    each wrapper then reduces its one-entry-per-step mask to itself: the output still carries the input's)."""
    L = k.layers
    cell = k.Input((4,), dtype="float64", name="cell")
    inner = k.Model(cell, L.Dense(3, dtype="float64", name="d")(cell), name="cell_model")
    grid = k.Input((None, None, 4), name="x")
    both = L.TimeDistributed(L.TimeDistributed(inner, name="td_in"), name="td_out")(L.Masking(0.0, name="masking")(grid))
    return k.Model(grid, [both, L.TimeDistributed(L.GlobalAveragePooling1D(name="pool"), name="td_pool")(both)])


def _inputs(model: Any, rng: np.random.Generator, batch: int, steps: int, words: int) -> dict[str, np.ndarray]:
    if model.inputs[0].name.split(":")[0] == "ids":
        ids = rng.integers(1, 12, (batch, steps, words)).astype("int32")
        ids[0, 1] = 0
        ids[0, 0, 2:] = 0
        ids[-1, -1, 1:] = 0
        return {"ids": ids}
    x = rng.standard_normal((batch, steps, words, 4)).astype("float32")
    if "int32" in str(model.inputs[0].dtype):
        x = np.round(3 * x).astype("int32")
    x[0, 1] = 0  # a fully masked step: a masked mean of nothing
    x[0, 0, 2:] = 0
    x[-1, -1, 1:] = 0
    x[1, 0, 0] = 0
    return {"x": x}


FAMILIES = {"mixed_float16_wrapper": _half_wrapper("mixed_float16"), "float16_wrapper": _half_wrapper("float16"),
            "half_values": half_values, "int_values": int_values, "float64_input": float64_input,
            "global_mixed_float16": _global_policy("mixed_float16"), "global_float16": _global_policy("float16"),
            "td_td": td_td, "td_td_float64": td_td_float64}
#: Computed in float16 by Keras: within the float16 bound of the neighbouring tests (``verify_runs_within``).
HALF = {"global_mixed_float16", "global_float16"}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")]
RUNS = [(2, 3, 5), (3, 4, 6)]
converted = converted_fixture("k28_td_masks", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=281))


@pytest.mark.node
@each_case(CASES)
def test_masked_time_distributed_model_matches_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    masked_mean = flavor.startswith("keras3") or family in ("half_values", "td_td", "td_td_float64")
    assert any(np.isnan(o).any() for _, outputs in runs for o in outputs) == masked_mean, family  # tf_keras: a cast
    (verify_runs_within if family in HALF else verify_runs)(path, runs)


