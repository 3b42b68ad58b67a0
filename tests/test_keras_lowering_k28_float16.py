"""float16 cases the lowering refused (or got wrong) where ``--loader=tensorflow`` converts them (session 28, issue 16).

- tf_keras op layers on a ``mixed_float16`` LSTM's or attention's result (float16 in Keras, held in float32 by the
  lowering, ``float_widths.mark_half_held``): ``tf.cast(h, tf.float16)``, ``tf.convert_to_tensor(h)`` and
  ``tf.math.add_n([h])`` hand back ``h`` itself, its mask riding on. Into a nested model's float32 Input (which casts
  the float16 tensor to a new one, dropping the mask) or into an LSTM (which reads it) they were refused: the walk read
  ``h`` as float32 and the config's ``mixed_float16`` told no dtype. ``tf.cast(h, tf.float32)`` (a new tensor, the mask
  dropped) was refused too. Worse, ``inner(h * 2.0, mask=m)`` converted silently wrong: the walk took ``h * 2.0`` for
  float32, kept the mask tf_keras's cast to the float32 Input drops, and gave NaN for an all-padding row where Keras is
  finite (0.04 off elsewhere). Op layers on such results are now recorded as float16
  (``float_widths.op_layer_keeps_held_half``), the config's ``mixed_float16`` is float16 for a ``tf.cast``
  (``call_facts.cast_dtypes``), and one-tensor arithmetic keeps its input's saved dtype
  (``call_facts._DTYPE_KEEPING_TF_FUNCTIONS``). Keras 3 keeps masks through its casts: converted before, unchanged.
- Review R7: not every op layer of float16 tensors gives float16 (``saturate_cast`` and a bilinear ``image.resize``
  give float32): recorded float16, ``inner16(saturate_cast(h, float32) * 3.0, mask=m)`` kept the mask Keras drops
  (NaN) and Keras 3's ``moments(saturate_cast(h, "float32") * 30000.0)`` was clipped to 65504. Only op layers known
  to keep float16 are recorded so (``float_widths._keeps_half``); a masked float16 tensor the config tells no dtype
  of, into a nested model, is refused by name (session 33: a bilinear resize's float32 is read from the config,
  lowered). A float16 UnitNormalization over a count known only at run time, lowered by H7, is refused again (R7:
  1.0 off at n = 256 where the sum of squares nears float16's overflow), and the float16 notice says its bounds hold
  only while a slice's sum of squares stays below 32768.

Converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm against ``model(x)``: the op-layer
models at two lengths with an all-padding row, within float16's precision (1e-2 of the largest value, as the other
float16 tests; measured up to 6.6e-4). Before: every case refused (the fixtures fail), ``mul_given_mask`` NaN;
before R7's fixes ``sat_moments`` clipped and the refusals converted (NaN).
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import keras_module  # noqa: E402
from keras_two_sizes import (at_runs, converted_fixture, each_case, two_size_saver, under_policy,  # noqa: E402
                             verify_runs_within)
from test_keras_lowering import case_file  # noqa: E402

WIDTH, VOCAB = 8, 12


def _ids(k: Any) -> tuple[Any, Any]:
    """The int32 ids Input and its mixed Embedding(mask_zero)."""
    ids = k.Input((None,), dtype="int32", name="ids")
    return ids, k.layers.Embedding(VOCAB, WIDTH, mask_zero=True, name="emb")(ids)


def _gap_model(k: Any, name: str) -> Any:
    """inner(float32 Input: Dense, GlobalAveragePooling1D): reads the mask where tf_keras hands it on."""
    L = k.layers
    i = k.Input((None, WIDTH), dtype="float32", name=f"{name}_in")
    pooled = L.GlobalAveragePooling1D(dtype="float32", name=f"{name}_pool")(L.Dense(6, name=f"{name}_dense")(i))
    return k.Model(i, pooled, name=name)


def _mixed_model(k: Any, middle: Any, attention: bool = False) -> Any:
    """ids -> mixed Embedding(mask_zero) -> mixed LSTM (or self-attention) -> ``middle(k, h, ids)`` -> float32 head."""
    def build() -> Any:
        ids, e = _ids(k)
        h = k.layers.MultiHeadAttention(2, 4, name="mha")(e, e) if attention else \
            k.layers.LSTM(WIDTH, return_sequences=True, name="lstm")(e)
        return ids, middle(k, h, ids)
    ids, y = under_policy(k, "mixed_float16", build)
    return k.Model(ids, k.layers.Dense(2, dtype="float32", name="head")(y))


def _tf() -> Any:
    import tensorflow as tf

    return tf


def cast16_nested(k: Any) -> Any:
    """``tf.cast(h, tf.float16)``: ``h`` itself, its mask; the nested float32 Input's cast drops it."""
    return _mixed_model(k, lambda k, h, ids: _gap_model(k, "c16")(_tf().cast(h, _tf().float16)))


def convert_nested(k: Any) -> Any:
    return _mixed_model(k, lambda k, h, ids: _gap_model(k, "cvt")(_tf().convert_to_tensor(h)))


def add_n_nested(k: Any) -> Any:
    return _mixed_model(k, lambda k, h, ids: _gap_model(k, "addn")(_tf().math.add_n([h])))


def mha_cast16_nested(k: Any) -> Any:
    return _mixed_model(k, lambda k, h, ids: _gap_model(k, "mc16")(_tf().cast(h, _tf().float16)), attention=True)


def mul_given_mask(k: Any) -> Any:
    """``inner(h * 2.0, mask=ids != 0)``: tf_keras sets the mask on the float16 product, then its cast to the float32
    Input drops it (the lowering kept it: NaN for the all-padding row, silently)."""
    return _mixed_model(k, lambda k, h, ids: _gap_model(k, "mul")(h * 2.0, mask=_tf().not_equal(ids, 0)))


def cast16_lstm(k: Any) -> Any:
    """``tf.cast(h, tf.float16)`` into a mixed LSTM: the same tensor, so the LSTM reads the padding mask."""
    return _mixed_model(k, lambda k, h, ids: k.layers.LSTM(3, name="lstm2")(_tf().cast(h, _tf().float16)))


def cast32_lstm(k: Any) -> Any:
    """``tf.cast(h, tf.float32)``: a new tensor without the mask; the LSTM after it reads every step."""
    return _mixed_model(k, lambda k, h, ids: k.layers.LSTM(3, name="lstm2")(_tf().cast(h, _tf().float32)))


def sat_moments(k: Any) -> Any:
    """Keras 3 ``moments(saturate_cast(h, "float32") * 30000.0)``: float32, variances past 65504 (R7 F2: clipped)."""
    def build() -> Any:
        ids, e = _ids(k)
        h = k.layers.LSTM(WIDTH, return_sequences=True, name="lstm")(e)
        return ids, k.ops.moments(k.ops.saturate_cast(h, "float32") * 30000.0, axes=[1])
    ids, (mean, var) = under_policy(k, "mixed_float16", build)
    return k.Model(ids, [mean, var])


def sat_dense_product(k: Any) -> Any:
    """Keras 3 ``saturate_cast(h, "float32") * 2e5`` of a mixed Dense's ``h``: float32, past 65504 (H12: the
    product was rounded to float16 as if ``saturate_cast`` computed in float16, inf where Keras gives 85019)."""
    def build() -> Any:
        ids, e = _ids(k)
        return ids, k.ops.saturate_cast(k.layers.Dense(WIDTH, name="dense")(e), "float32") * 2e5
    ids, y = under_policy(k, "mixed_float16", build)
    return k.Model(ids, y)


def _exp(k: Any, x: Any) -> Any:
    """``exp`` as each flavour's op layer: Keras 3's ``ops.exp``, tf_keras's ``tf.math.exp``."""
    return k.ops.exp(x) if hasattr(k, "ops") else _tf().math.exp(x)


def add_sub(k: Any) -> Any:
    """``(h + 1000.0) - 1000.0`` of a mixed LSTM's ``h``: Keras rounds ``h + 1000`` to float16's 0.5 steps (R7's N1,
    H12: computed in float32, 0.298 off of an output range of 0.542, both flavours)."""
    return _mixed_model(k, lambda k, h, ids: (h + 1000.0) - 1000.0)


def mha_exp_add_sub(k: Any) -> Any:
    """``(exp(h) + 1000.0) - 1000.0`` of a mixed self-attention's ``h``: each op rounded to float16 in Keras."""
    return _mixed_model(k, lambda k, h, ids: (_exp(k, h) + 1000.0) - 1000.0, attention=True)


FAMILIES = {"cast16_nested": cast16_nested, "convert_nested": convert_nested, "add_n_nested": add_n_nested,
            "mha_cast16_nested": mha_cast16_nested, "mul_given_mask": mul_given_mask, "cast16_lstm": cast16_lstm,
            "cast32_lstm": cast32_lstm, "sat_moments": sat_moments, "sat_dense_product": sat_dense_product,
            "add_sub": add_sub,
            "mha_exp_add_sub": mha_exp_add_sub}
ROUNDED = ("add_sub", "mha_exp_add_sub")
CASES = [(family, "keras3.keras" if family.startswith("sat_") else "tf_keras.h5") for family in FAMILIES
         if family not in ROUNDED]
ROUNDED_CASES = [(family, flavor) for family in ROUNDED for flavor in ("keras3.keras", "tf_keras.h5")]


def _inputs(model: Any, rng: np.random.Generator, steps: int) -> dict[str, np.ndarray]:
    """Ids with padding at the end of rows and one all-padding row."""
    ids = rng.integers(1, VOCAB, (3, steps)).astype("int32")
    ids[0, 2:] = 0
    ids[1, :] = 0
    ids[2, steps - 1:] = 0
    return {"ids": ids}


converted = converted_fixture("k28_float16_ops", CASES + ROUNDED_CASES, two_size_saver(FAMILIES, at_runs(_inputs, [(6,), (9,)]),
                                                                       seed=28))


@pytest.mark.node
@each_case(CASES)
def test_op_layers_on_held_float16_results_hand_masks_on_as_tf_keras_does(converted, tfjs_runtime, family, flavor):
    """Within float16's precision of Keras on cpu and wasm; where the nested Input's cast drops the mask, the
    all-padding row's unmasked average is finite (the kept mask gave NaN)."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs_within(path, runs)
    assert all(np.isfinite(o).all() for _, outputs in runs for o in outputs)


#: UnitNormalization over the steps of ``Input((None, 3))``: float16 and mixed_float16 policies.
def unit_steps(k: Any, steps: int | None = None) -> Any:
    L = k.layers
    x = k.Input((steps, 3), name="x")
    return k.Model(x, [L.UnitNormalization(axis=1, dtype="float16", name="u_half")(x),
                       L.UnitNormalization(axis=1, dtype="mixed_float16", name="u_mixed")(x)])


@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_half_unit_normalization_over_a_run_time_length_is_refused_by_name(tmp_path, flavor):
    """Review R7 (F3): over n known only at run time the float16 running sum and the float32 one fell on either side
    of float16's overflow, 1.0 off where H7's notice claimed 0.067 (n = 256): refused, as before session 28."""
    path = case_file(tmp_path, "unit", flavor)
    unit_steps(keras_module(flavor)).save(path)
    [message] = _poisoned_messages([path])
    assert message.startswith("REFUSED") and "'u_half'" in message and "an unknown number of" in message, message


@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_half_unit_normalization_notice_says_where_its_bound_holds(tmp_path, flavor):
    """The float16 notice states each layer's bound with n, and that it holds only while a normalized slice's sum of
    squares stays below 32768 (past it R7 measured 1.0 off at n = 256)."""
    import tfjsconv

    path = case_file(tmp_path, "unit", flavor)
    unit_steps(keras_module(flavor), 256).save(path)
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    units = [n for n in result.details if "float16 UnitNormalization layer(s)" in n]
    assert len(units) == 1 and units[0].endswith("u_half (n = 256: 0.067), u_mixed (n = 256: 0.067)"), units
    assert "only while a normalized slice's sum of squares stays below 32768" in units[0], units


def _half_gap_model(k: Any, name: str) -> Any:
    """inner16(float16 Input: Dense, GlobalAveragePooling1D), all float16: reads a mask tf_keras hands on."""
    L = k.layers
    i = k.Input((None, WIDTH), dtype="float16", name=f"{name}_in")
    dense = L.Dense(6, dtype="float16", name=f"{name}_dense")(i)
    return k.Model(i, L.GlobalAveragePooling1D(dtype="float16", name=f"{name}_pool")(dense), name=name)


def saturate_given_mask(k: Any) -> Any:
    """``inner16(saturate_cast(h, float32) * 3.0, mask=m)``: float32, so tf_keras's cast to the float16 Input makes a
    new tensor without the mask (R7 F1: kept, NaN; refused until session 32, when the config tells its dtype)."""
    tf = _tf()
    return _mixed_model(k, lambda k, h, ids: _half_gap_model(k, "sat")(tf.dtypes.saturate_cast(h, tf.float32) * 3.0,
                                                                       mask=tf.not_equal(ids, 0)))


def resize_given_mask(k: Any) -> Any:
    """A bilinear ``image.resize`` of float16 gives float32 too (R7 F1; refused until session 33, when its dtype is
    read: tests/test_issue16_gaps_c_s33.py)."""
    tf = _tf()
    return _mixed_model(k, lambda k, h, ids: _half_gap_model(k, "rsz")(
        tf.image.resize(tf.expand_dims(h, -1), (6, WIDTH))[..., 0] * 3.0, mask=tf.not_equal(ids, 0)))


def sum_given_mask(k: Any) -> Any:
    """``inner16(h + h, mask=m)``: float16 (refused until session 32; TF does not promote, so the config tells it)."""
    tf = _tf()
    return _mixed_model(k, lambda k, h, ids: _half_gap_model(k, "sum")(h + h, mask=tf.not_equal(ids, 0)))


def _poisoned_messages(paths: list) -> list[str]:
    """Each path converted with TensorFlow, Keras and tf_keras poisoned: ``CONVERTED`` or ``REFUSED <message>``."""
    import subprocess
    import sys

    from keras_models import _POISONED_REFUSING

    out = subprocess.run([sys.executable, "-c", _POISONED_REFUSING, *map(str, paths)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return [line for line in out.stdout.splitlines() if line.startswith(("REFUSED", "CONVERTED"))]


@pytest.mark.node
def test_float32_results_of_float16_op_layers_are_not_clipped(converted, tfjs_runtime):
    """R7 F2: Keras's float32 variances pass 65504 (before: clipped to it on cpu and wasm), and so does a float32
    product of a saturate_cast (before: inf, H12); within float16's precision of Keras."""
    for family in ("sat_moments", "sat_dense_product"):
        path, runs, _ = converted[(family, "keras3.keras")]
        assert max(np.abs(o).max() for _, outputs in runs for o in outputs) > 65504, family
        verify_runs_within(path, runs)


@pytest.mark.node
@each_case(ROUNDED_CASES)
def test_op_layers_on_held_float16_results_round_each_result_as_keras(converted, tfjs_runtime, family, flavor):
    """R7's N1: op layers on an LSTM's or attention's float16 results compute in float16 in Keras, each result
    rounded (``h + 1000`` to 0.5 steps); within float16's precision of Keras on cpu and wasm (before: 0.298 off of
    0.542, 55%)."""
    path, runs, _ = converted[(family, flavor)]
    verify_runs_within(path, runs)


def softmax_add_sub(k: Any) -> Any:
    """``(softmax(h) + 1000.0) - 1000.0``: softmax is not among the functions known to keep float16, so it and the
    ops after it compute in float32 (0.072 off of 0.369 measured, session 28): named in the float16 notice."""
    softmax = k.ops.softmax if hasattr(k, "ops") else _tf().nn.softmax
    return _mixed_model(k, lambda k, h, ids: (softmax(h) + 1000.0) - 1000.0)


@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_float32_op_layers_on_held_float16_results_are_named(tmp_path, flavor):
    """The float16 notice names an op layer computed in float32 on an LSTM's float16 results and says a cancellation
    after it can be far off (before: only that past 65504 it stays finite); ``(h + 1000) - 1000``, rounded as Keras
    rounds it, is not named."""
    import tfjsconv

    notices = []
    for family in (softmax_add_sub, add_sub):
        path = case_file(tmp_path, family.__name__, flavor)
        family(keras_module(flavor)).save(path)
        result = tfjsconv.convert(path, tmp_path / f"{family.__name__}_out", output_format="tfjs_graph_model")
        notices.append([n for n in result.details if "of functions not known to keep float16" in n])
    named = r"softmax(_\d+)? \(keras\.ops\.Softmax\)" if flavor == "keras3.keras" else \
        r"tf\.nn\.softmax(_\d+)? \(TFOpLambda\)"  # (Keras's auto names count what ran before)
    assert len(notices[0]) == 1 and re.search(f": {named}$", notices[0][0]), notices[0]
    assert "off by up to 0.25" in notices[0][0], notices[0]
    assert notices[1] == [], notices[1]
