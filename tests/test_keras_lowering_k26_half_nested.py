"""float16 tensors the walk once refused under ``mixed_float16`` (session 26, issue 16; H2's W1 follow-up and R6).

- An LSTM, Bidirectional(GRU) or MultiHeadAttention under ``mixed_float16`` gives float16 tensors, which the lowering
  computes in float32 between rounded inputs (``float_widths.FLOAT32_BETWEEN``) and did not record as float16: a
  masked one into a tf_keras nested model (whose ``_conform_to_reference_input`` casts it to a float32 Input, the
  mask dropped; into a float16 Input kept) was refused, the config's dtype (float16) and the walk's (float32)
  disagreeing. The walk now records them (``float_widths.mark_half_held``) and makes the cast as tf_keras does.
- An op-layer cast to float16 (``tf.cast(mask, h.dtype)``, the masked-mean idiom) made a float16 tensor every reader
  but a cast refused; such tensors are now read as float16 values (``float_widths.held_half_inputs``): moves exact,
  arithmetic rounded as TF rounds it, the layers named in the float16 notice. A cast of a float16 layer's result to
  float16 (``tf.cast(h, tf.float16)``, a no-op in Keras) rounded each step of its own rounding: NaN everywhere.

Keras 3 (``.keras``) and tf_keras (``.h5``), converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js
cpu and wasm against ``model(x)`` at two lengths, an all-padding row in each batch, within float16's precision (1e-2
of the largest value, as the other float16 tests). Before: the tf_keras nested cases and every masked-mean case
refused, the cast case NaN.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import (at_runs, converted_fixture, each_case, two_size_saver, under_policy,  # noqa: E402
                             verify_runs_within)

WIDTH, VOCAB, MEAN_STEPS = 8, 12, 8


def _mixed(k: Any, build: Callable[[], Any]) -> Any:
    return under_policy(k, "mixed_float16", build)


def _ids(k: Any) -> tuple[Any, Any]:
    """The int32 ids Input and its mixed Embedding(mask_zero)."""
    ids = k.Input((None,), dtype="int32", name="ids")
    return ids, k.layers.Embedding(VOCAB, WIDTH, mask_zero=True, name="emb")(ids)


def _head(k: Any, x: Any) -> Any:
    return k.layers.Dense(2, dtype="float32", name="head")(x)


def _gap_model(k: Any, name: str, dtype: str = "float32") -> Any:
    """inner(Input of ``dtype``: Dense, a float32 GlobalAveragePooling1D, which reads the mask where Keras hands it
    on; tf_keras's float16 one over a length known at run time is refused: it sums in float16 steps)."""
    L = k.layers
    i = k.Input((None, WIDTH), dtype=dtype, name=f"{name}_in")
    pooled = L.GlobalAveragePooling1D(dtype="float32", name=f"{name}_pool")(L.Dense(6, name=f"{name}_dense")(i))
    return k.Model(i, pooled, name=name)


def lstm_nested(k: Any) -> Any:
    """Embedding -> LSTM(return_sequences) -> inner(float32 Input) (H2b's refusal: the LSTM's float16 unrecorded)."""
    def build() -> Any:
        ids, e = _ids(k)
        h = k.layers.LSTM(WIDTH, return_sequences=True, name="lstm")(e)
        return k.Model(ids, _head(k, _gap_model(k, "li")(h)))
    return _mixed(k, build)


def bigru_half_input(k: Any) -> Any:
    """Embedding -> Bidirectional(GRU) -> inner(float16 Input): no cast, the mask kept."""
    def build() -> Any:
        ids, e = _ids(k)
        h = k.layers.Bidirectional(k.layers.GRU(WIDTH // 2, return_sequences=True, name="gru"), name="bi")(e)
        return k.Model(ids, _head(k, _gap_model(k, "bi_inner", "float16")(h)))
    return _mixed(k, build)


def mha_nested(k: Any) -> Any:
    """Embedding -> self-attention (the padding mask) -> inner(float32 Input)."""
    def build() -> Any:
        ids, e = _ids(k)
        h = k.layers.MultiHeadAttention(2, 4, name="mha")(e, e)
        return k.Model(ids, _head(k, _gap_model(k, "mi")(h)))
    return _mixed(k, build)


def masked_mean(k: Any) -> Any:
    """H2's R6: ``m = cast(ids != 0, h.dtype)[:, :, None]``, ``sum(h·m, 1) / max(sum(m, 1), 1)`` of a mixed Dense's
    float16 ``h``; ``h`` cast to float16 first (a no-op in Keras: the lowering's NaN)."""
    def build() -> Any:
        L = k.layers
        ids = k.Input((MEAN_STEPS,), dtype="int32", name="ids")  # (an unknown length: refused, TF's float16 sum)
        h = L.Dense(6, name="proj")(L.Embedding(VOCAB, 6, name="emb")(ids))
        if k.__name__ == "keras":
            o = k.ops
            m = o.expand_dims(o.cast(o.not_equal(ids, 0), h.dtype), -1)
            h = o.cast(h, "float16")
            return k.Model(ids, _head(k, o.sum(h * m, axis=1) / o.maximum(o.sum(m, axis=1), 1.0)))
        import tensorflow as tf

        m = tf.cast(tf.not_equal(ids, 0), h.dtype)[:, :, None]
        h = tf.cast(h, tf.float16)
        return k.Model(ids, _head(k, tf.reduce_sum(h * m, axis=1) / tf.maximum(tf.reduce_sum(m, axis=1), 1.0)))
    return _mixed(k, build)


FAMILIES = {"lstm_nested": lstm_nested, "bigru_half_input": bigru_half_input, "mha_nested": mha_nested,
            "masked_mean": masked_mean}
#: Where Keras's inner average reads the mask (a float16 Input; Keras 3 keeps it through its cast): an all-padding
#: row averages to NaN there, in Keras and in TF.js.
MASK_KEPT = {"bigru_half_input"}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("tf_keras.h5", "keras3.keras")]


def _inputs(model: Any, rng: np.random.Generator, steps: int) -> dict[str, np.ndarray]:
    """Ids with padding at the end of each row and one all-padding row."""
    ids = rng.integers(1, VOCAB, (3, steps)).astype("int32")
    ids[0, 2:] = 0
    ids[1, :] = 0
    ids[2, steps - 1:] = 0
    return {"ids": ids}


RUNS = {family: [(MEAN_STEPS,)] * 2 if family == "masked_mean" else [(6,), (9,)] for family in FAMILIES}
converted = converted_fixture("k26_half_nested", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=26))


@pytest.mark.node
@each_case(CASES)
def test_float16_tensors_lower_as_keras_computes_them(converted, tfjs_runtime, family, flavor):
    """Within float16's precision of Keras on cpu and wasm; tf_keras's unmasked average of an all-padding row finite."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs_within(path, runs)
    if flavor.startswith("tf_keras") and family not in MASK_KEPT:
        assert all(np.isfinite(o).all() for _, outputs in runs for o in outputs)


@pytest.mark.node
def test_op_layers_on_cast_float16_tensors_lower_and_are_named_in_the_float16_notice(tmp_path, tfjs_runtime):
    """float16 tensors from op-layer casts (of a float32 Input; of a mixed Dense's result, a no-op in Keras, which
    the lowering rounded step by step into NaN) multiplied and summed in float16: Keras's numbers, the op layers
    named in the float16 notice (the sum with the float16 sums), the casts not (their results are exact). Where
    float16 shows (session 26 r4): ``z * z`` past 255 is inf as in Keras (F5: float32 unrounded gave 90000);
    ``ops.var`` computes in float32 and rounds once (F2: each step rounded gave inf for 45018); a float32 array
    constant promotes to float32 (F4: 300 · 300 gave inf for 90000), not as ``where``'s condition (cast to bool:
    the result stays float16, review R8); ``ops.std`` sums in float16 steps, named with its n (F3)."""
    import tfjsconv
    from tfjsconv.verify.run import run_model

    o = keras.ops
    x, z = keras.Input((5, 3), name="x"), keras.Input((4,), name="z")
    h = o.cast(keras.layers.Dense(3, dtype="mixed_float16", name="half_dense")(x), "float16")
    y = o.cast(o.sum(h * o.cast(x, "float16") * 2.0, axis=1), "float32") * 3.0
    hz = o.cast(z, "float16")
    big = [o.cast(hz * hz, "float32"), o.cast(o.var(hz, axis=1), "float32"),
           o.multiply(hz, np.array([300.0, 1.0001, 3.0, 0.1], "float32")), o.cast(o.std(hz, axis=1), "float32")]
    kept = o.where(np.array([1.0, 0.0, 1.0, 1.0], "float32"), hz, 0.0)  # a float32 condition: cast to bool
    big.append(o.cast(o.multiply(kept, kept), "float32"))
    big.append(o.cast(o.moments(hz, axes=[1])[1], "float32"))  # float32 inside, clipped, rounded once (review R8)
    model = keras.Model([x, z], [y, *big])
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    feed = {"x": np.random.default_rng(26).standard_normal((4, 5, 3)).astype("float32") * 4,
            "z": np.array([[300, -300, 10, 0], [255, 256, 1, 2]], "float32")}
    expected = [np.asarray(t).astype("float32") for t in model(feed)]
    assert np.isinf(expected[1][0, 0]) and np.isfinite(expected[2]).all() and expected[3][0, 0] == 90000, expected
    assert np.isinf(expected[5][0, 0]) and expected[5][0, 1] == 0, expected  # float16: 300 · 300 is inf
    assert np.isfinite(expected[6]).all() and expected[6][0] > 40000, expected  # each step rounded gave inf
    ran = run_model(tmp_path / "out", feed, backends=("cpu", "wasm"), quiet=True)
    for backend in ("cpu", "wasm"):
        for i, (want, got) in enumerate(zip(expected, ran.outputs(backend).values(), strict=True)):
            got = np.asarray(got).reshape(want.shape)
            floor = 1e-2 * np.max(np.abs(want[np.isfinite(want)]))  # (float16's precision of the largest value)
            np.testing.assert_allclose(got, want, rtol=1e-2 if i == 0 else 2e-3, atol=floor if i == 0 else 0,
                                       err_msg=f"{backend} output {i}")
    half = [n for n in result.details if "Keras computes in float16" in n]
    sums = [n for n in result.details if "float16 layer(s) whose TF kernels add up" in n]
    bounds = [n for n in result.details if "float16 layer(s) add up n values" in n]
    assert len(half) == 1 and "(keras.ops.Multiply)" in half[0] and "Cast" not in half[0], result.details
    assert len(sums) == 1 and "(keras.ops.Sum)" in sums[0] and "(keras.ops.Std)" in sums[0], sums
    assert len(bounds) == 1 and "(keras.ops.Var)" not in sums[0] and bounds[0].count("(n = ") == 2, bounds
