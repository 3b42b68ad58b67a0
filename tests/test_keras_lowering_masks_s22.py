"""Explicit masks the lowering refused while the TF-traced path matched Keras (session 21's probe; session 22).

- Keras 3 Softmax given ``mask=`` an integer model input (or an 8-bit one, a broadcast row, over two axes, one computed
  by ``ops.cast``): Keras keeps ``mask > cast(0.5, dtype)``, i.e. ``> 0`` for integers (negative ids mask too);
  tf_keras's ``x + (1 - float(mask))·-1e9`` takes integers too.
- Keras 3 Attention / AdditiveAttention given int32 or float32 masks (``mask=[qm, vm]``, ``[None, vm]``, computed as
  floats): Keras casts them to bool (``!= 0``, NaN kept) in ``logical_not`` / ``where``, and hands ``qm`` on as the
  output's mask, which a later LSTM or GlobalAveragePooling1D casts to bool again. So do GlobalAveragePooling1D and
  LSTM given an int32 ``mask=``. A mask computed as floats (or a bool one the lowering holds as float32, after an
  Identity) is read the same way (it was refused: "is given a mask the lowering computes as float32").
- GlobalAveragePooling1D channels_first with a mask: Keras expands the ``[batch, T]`` mask on axis 1, lining it up
  with the last axis (``Embedding(mask_zero)`` of as many dims as steps, or a mask as long as the last axis); int32
  inputs are summed in int32 as channels_last's are, Keras 3's uint8 ones unwrapped.
  Keras 3 zeroes masked steps with ``where`` (a NaN there drops out; tf_keras's ``x · m`` keeps it).
- STFTSpectrogram and ContrastLimitedAdaptiveHistogramEqualization drop a mask in Keras 3 (no masking support, no
  mask argument); SpatialDropout2D hands it on as SpatialDropout1D does.

Converted with TensorFlow, Keras and tf_keras poisoned; compared with Keras's ``model(x)`` in TF.js cpu and wasm at
two batch sizes, ``.keras`` and ``.h5``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

KERAS3 = ["keras3.keras", "keras3.h5"]
BATCHES = [(3,), (2,)]


def softmax_family(k: Any) -> Any:
    """Softmax given integer masks (and tf_keras's adder), every way Keras broadcasts them."""
    L = k.layers
    x = k.Input((3, 4), name="x")
    ints = k.Input((3, 4), dtype="int32", name="m_int")
    row = k.Input((1, 4), dtype="int32", name="m_int_row")
    narrow = k.Input((3, 4), dtype="uint8", name="m_u8")
    outputs = [L.Softmax()(x, mask=ints), L.Softmax(axis=1)(x, mask=ints), L.Softmax()(x, mask=row),
               L.Softmax(axis=1)(x, mask=row), L.Softmax()(x, mask=narrow)]
    if hasattr(k, "ops"):  # Keras 3: over two axes, and computed by an op layer
        weights = k.Input((3, 4), name="m_float")
        outputs += [L.Softmax(axis=(1, 2))(x, mask=ints),
                    L.Softmax()(x, mask=k.ops.cast(k.ops.greater(weights, 0.0), "int32"))]
    return k.Model([x, ints, row, narrow, *([weights] if hasattr(k, "ops") else [])], outputs)


def attention_family(k: Any) -> Any:
    """Keras 3 Attention / AdditiveAttention with int32 and float32 masks, and readers of the mask handed on."""
    L, o = k.layers, k.ops
    q, v = k.Input((4, 3), name="q"), k.Input((5, 3), name="v")
    qm, vm = k.Input((4,), dtype="int32", name="m_int_q"), k.Input((5,), dtype="int32", name="m_int_v")
    qf, vf = k.Input((4,), name="m_float_q"), k.Input((5,), name="m_float_v")
    kept = k.Input((5,), dtype="bool", name="m_bool_v")
    scores_out, scores = L.Attention(use_scale=True)([q, v], mask=[qm, vm], return_attention_scores=True)
    additive_out, additive = L.AdditiveAttention()([q, v], mask=[qm, vm], return_attention_scores=True)
    outputs = [L.Attention()([q, v], mask=[qm, vm]),
               L.Attention(score_mode="concat")([q, v], mask=[None, vm]),
               scores_out, scores, additive_out, additive,
               L.Attention()([q, v], mask=[qf, vf]),
               L.Attention()([q, q], mask=[qm, qm], use_causal_mask=True),
               L.Attention()([q, v], mask=[o.cast(o.greater(qf, 0.0), "float32"), o.relu(vf)]),
               L.Attention()([q, v], mask=[None, L.Identity()(kept)]),  # bool in Keras, float32 as lowered
               L.LSTM(2)(L.Attention()([q, v], mask=[qm, vm])),  # the int32 query mask handed on
               L.GlobalAveragePooling1D()(L.Attention()([q, v], mask=[qm, vm])),
               L.MultiHeadAttention(2, 2)(q, v, attention_mask=o.cast(o.expand_dims(qm, -1) * o.expand_dims(vm, 1),
                                                                       "int32"))]
    return k.Model([q, v, qm, vm, qf, vf, kept], outputs)


def pooling_family(k: Any) -> Any:
    """GlobalAveragePooling1D channels_first with masks; a NaN at a masked step; SpatialDropout handing masks on."""
    L = k.layers
    ids = k.Input((6,), dtype="int32", name="ids")
    x, m = k.Input((3, 5), name="x"), k.Input((5,), dtype="bool", name="m_bool")
    int_x = k.Input((3, 5), dtype="int32", name="int_x")
    steps, nan_steps = k.Input((5, 3), name="steps"), k.Input((5, 3), name="nan_steps")
    kept = k.Input((5,), dtype="bool", name="m_bool_steps")
    embedded = L.Embedding(5, 6, mask_zero=True)(ids)
    first = "channels_first"
    outputs = [L.GlobalAveragePooling1D(data_format=first)(embedded),
               L.GlobalAveragePooling1D(data_format=first, keepdims=True)(embedded),
               L.GlobalAveragePooling1D(data_format=first)(x, mask=m),
               L.GlobalAveragePooling1D(data_format=first, keepdims=True)(int_x, mask=m),  # int32 sums
               L.GlobalAveragePooling1D()(nan_steps, mask=kept),
               L.LSTM(2)(L.SpatialDropout1D(0.3)(L.Masking(0.0)(steps))),
               L.Conv2D(2, 2)(L.SpatialDropout2D(0.3)(L.Masking(0.0)(L.Reshape((5, 3, 1))(steps))))]
    inputs = [ids, x, m, int_x, steps, nan_steps, kept]
    if hasattr(k, "ops"):  # Keras 3: uint8 channels_first; int32 masks given to GlobalAveragePooling1D and LSTM
        ints = k.Input((5,), dtype="int32", name="m_int")
        bytes_x = k.Input((3, 5), dtype="uint8", name="bytes_x")  # Keras 3 sums them past 255, unwrapped
        outputs += [L.GlobalAveragePooling1D(data_format=first)(bytes_x, mask=m),
                    L.GlobalAveragePooling1D()(steps, mask=ints), L.LSTM(2)(steps, mask=ints),
                    L.LSTM(2)(steps, mask=L.Identity()(kept))]  # bool in Keras, float32 as lowered
        inputs += [ints, bytes_x]
    return k.Model(inputs, outputs)


def dropped_family(k: Any) -> Any:
    """Keras 3 layers without masking support after a Masking: the mask is dropped (a later LSTM reads none)."""
    L = k.layers
    wave, image = k.Input((64, 1), name="wave"), k.Input((8, 8, 1), name="image")
    spectrum = L.STFTSpectrogram(mode="log", frame_length=16, frame_step=8)(L.Masking(0.0)(wave))
    clahe = L.ContrastLimitedAdaptiveHistogramEqualization(value_range=(0, 1), tile_grid_size=(2, 2))
    return k.Model([wave, image], [spectrum, L.LSTM(2)(spectrum), clahe(L.Masking(0.0)(image))])


def _inputs(model: Any, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """Each input by its name: masks of ints -1..2 (negative and 2 included), 8-bit 0..2, floats with NaN, 0.3, 0.5
    and 2, bools; every mask keeps a step per row (Keras's NaN of a fully masked mean is not compared)."""
    values = {}
    for tensor in model.inputs:
        name, shape = tensor.name.split(":")[0], (batch, *tuple(tensor.shape)[1:])
        if name.startswith("m_int"):
            value = rng.integers(-1, 3, shape).astype(np.int32)
        elif name == "m_u8":
            value = rng.integers(0, 3, shape).astype(np.uint8)
        elif name.startswith("m_float"):
            value = rng.choice(np.float32([0, 1, 0.3, 0.5, 2.0, -1.0, np.nan]), shape)
        elif name.startswith("m_bool"):
            value = rng.integers(0, 2, shape).astype(bool)
        elif name == "ids":
            value = rng.integers(0, 5, shape).astype(np.int32)
        elif name == "bytes_x":
            value = rng.integers(200, 256, shape).astype(np.uint8)
        elif name == "int_x":
            value = rng.integers(-3, 4, shape).astype(np.int32)
        elif name == "image":
            value = rng.uniform(0, 1, shape).astype(np.float32).round(1)
        else:
            value = rng.standard_normal(shape).astype(np.float32)
        if name.startswith("m_") or name == "ids":
            value[(slice(None), *[0] * (len(shape) - 1))] = 1  # a kept step in every row
        values[name] = value
    for data in ("steps", "wave", "image"):
        if data in values:
            values[data][:, 1] = 0  # a step the Masking drops
    if "nan_steps" in values:
        values["nan_steps"][~values["m_bool_steps"]] = np.nan  # Keras 3's where drops it, tf_keras's x·m keeps it
    return values


FAMILIES = {"softmax": softmax_family, "attention": attention_family, "pooling": pooling_family,
            "dropped": dropped_family}
CASES = [(family, flavor) for family in FAMILIES for flavor in KERAS3] + [
    ("softmax", "tf_keras.h5"), ("pooling", "tf_keras.h5")]
converted = converted_fixture("masks_s22", CASES, two_size_saver(FAMILIES, at_runs(_inputs, BATCHES), seed=223))


@pytest.mark.node
@each_case(CASES)
def test_explicit_and_dropped_masks_lower_as_keras_computes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)
