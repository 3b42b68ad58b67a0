"""TimeDistributed over a wrapped Sequential or Functional model, lowered with h5py (session 17).

Keras folds time into the batch (tf_keras) or calls the model once per step (Keras 3); the lowering folds it as for a
wrapped layer and lowers the wrapped model's layers as a nested model's, each with its own weights: Keras 3's
``.keras`` keeps them under ``<wrapper>/layer/layers/<layer>``, its ``.h5`` names them ``td/inner/dense/kernel``, and
tf_keras's ``.h5`` lists them flat (every sub-layer's trainable weights, then the non-trainable ones: a frozen Dense
and BatchNormalization's moving statistics come last), each owned by the sub-layer its name names. Models of Dense,
BatchNormalization, Dropout, Conv1D, pooling, an Add branch, a TimeDistributed, a Bidirectional GRU and an LSTM
inside, a model nested in the wrapped one, and a TimeDistributed model inside a nested model, at two sizes of unknown time (and batch), converted with TensorFlow, Keras and tf_keras
poisoned and run in TF.js cpu and wasm against Keras's own ``model(x)``. Masks: a Masking before the wrapper whose
mask a GRU reads after it (both flavours hand the input's mask on when no layer inside reads it), and Keras 3's
Masking and GRU inside the wrapped model (the mask made and read within each step). A tf_keras SavedModel reads the
weights from its checkpoint. What stays refused is named.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import _is_keras3, lowering_refusal  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402

FLAVORS = ["keras3.keras", "keras3.h5", "tf_keras.h5"]
#: ``(batch, steps)`` of each run: time (and batch) unknown in the config, read at run time.
SIZES = [(2, 3), (3, 5)]


def models_family(k: Any) -> Any:
    """Wrapped Sequential and Functional models of many layer kinds, a model nested in a wrapped one, and a wrapped
    model inside a nested model; a GRU after one wrapper."""
    L = k.layers
    x, img, frames = k.Input((None, 4), name="x"), k.Input((None, 7, 2), name="img"), k.Input((None, 5, 4),
                                                                                           name="frames")
    dense = k.Sequential([k.Input((4,)), L.Dense(5, activation="relu"), L.BatchNormalization(), L.Dropout(0.3),
                          L.Dense(3)], name="dense_seq")
    fin = k.Input((4,), name="fin")
    branch = L.BatchNormalization(name="fbn")(L.Dense(3, activation="tanh", name="fdense")(fin))
    functional = k.Model(fin, L.Add(name="fadd")([branch, L.Dense(3, name="fskip")(fin)]), name="functional")
    conv = k.Sequential([k.Input((7, 2)), L.Conv1D(3, 2, padding="same"), L.BatchNormalization(),
                         L.MaxPooling1D(2), L.Flatten(), L.Dense(2, activation="sigmoid")], name="conv_seq")
    nested = k.Sequential([k.Input((4,)), L.Dense(4, activation="tanh"),
                           k.Sequential([L.BatchNormalization(), L.Dense(2)], name="innermost")], name="nested_seq")
    frozen = k.Sequential([k.Input((4,)), L.Dense(3, trainable=False), L.BatchNormalization(), L.Dense(2)],
                          name="frozen_seq")  # tf_keras lists the frozen kernel after the trainable weights
    bin_ = k.Input((None, 4), name="block_in")
    block = k.Model(bin_, L.TimeDistributed(k.Sequential([k.Input((4,)), L.Dense(3, activation="elu")],
                                                         name="block_seq"), name="block_td")(bin_), name="block")
    recurrent = k.Sequential([k.Input((5, 4)), L.TimeDistributed(L.Dense(3), name="inner_td"),
                              L.Bidirectional(L.GRU(2, return_sequences=True), name="bi"), L.LSTM(2, name="lstm")],
                             name="recurrent")  # wrappers and RNNs inside: weights under their own sub-layers
    per_step = L.TimeDistributed(dense, name="td_dense")(x)
    outputs = [per_step, L.GRU(3, name="gru")(per_step), L.TimeDistributed(functional, name="td_functional")(x),
               L.TimeDistributed(conv, name="td_conv")(img), L.TimeDistributed(nested, name="td_nested")(x),
               L.TimeDistributed(frozen, name="td_frozen")(x), block(x),
               L.TimeDistributed(recurrent, name="td_recurrent")(frames)]
    return k.Model([x, img, frames], outputs)


def saved_model_family(k: Any) -> Any:
    """Weights whose checkpoint names need the owner rule: a frozen Dense, BatchNormalization, a model nested in the
    wrapped one, a wrapped model inside a nested model (no RNNs: tf_keras traces them slowly when saving)."""
    L = k.layers
    x = k.Input((None, 4), name="x")
    frozen = k.Sequential([k.Input((4,)), L.Dense(3, trainable=False), L.BatchNormalization(), L.Dense(2)],
                          name="frozen_seq")
    nested = k.Sequential([k.Input((4,)), L.Dense(4, activation="tanh"),
                           k.Sequential([L.BatchNormalization(), L.Dense(2)], name="innermost")], name="nested_seq")
    block_in = k.Input((None, 4), name="block_in")
    block = k.Model(block_in, L.TimeDistributed(k.Sequential([k.Input((4,)), L.Dense(3)], name="block_seq"),
                                                name="block_td")(block_in), name="block")
    return k.Model(x, [L.TimeDistributed(frozen, name="td_frozen")(x), L.TimeDistributed(nested, name="td_nested")(x),
                       block(x)])


def masked_family(k: Any) -> Any:
    """A Masking's mask through TimeDistributed(Sequential) and TimeDistributed(Functional) (layers that hand it on)
    into GRUs that read it; Keras 3 also hands it on past a wrapped model whose Reshape and Conv1D drop it."""
    L = k.layers
    x = k.Input((None, 4), name="x")
    masked = L.Masking(0.0, name="masking")(x)
    seq = k.Sequential([k.Input((4,)), L.Dense(5, activation="relu"), L.BatchNormalization(), L.Dropout(0.2),
                        L.Dense(3)], name="seq")
    fin = k.Input((4,), name="fin")
    functional = k.Model(fin, L.Dense(2, name="fdense")(L.LayerNormalization(name="fln")(fin)), name="functional")
    y = L.TimeDistributed(seq, name="td_seq")(masked)
    z = L.TimeDistributed(functional, name="td_functional")(masked)
    outputs = [y, L.GRU(3, name="gru")(y), L.GRU(2, return_sequences=True, name="gru_seq")(z)]
    if _is_keras3(k):  # tf_keras cannot build a mask into a Reshape or Conv1D
        conv = k.Sequential([k.Input((4,)), L.Reshape((2, 2)), L.Conv1D(2, 2, padding="same"),
                             L.GlobalMaxPooling1D()], name="conv")
        outputs.append(L.GRU(2, name="gru_conv")(L.TimeDistributed(conv, name="td_conv")(masked)))
    return k.Model(x, outputs)


def inside_mask_family(k: Any) -> Any:
    """Keras 3: a Masking inside the wrapped model whose mask a GRU inside reads, per step (the wrapper's output
    carries no mask; tf_keras's would carry the one the model makes: refused there)."""
    L = k.layers
    img = k.Input((None, 7, 2), name="img")
    inner = k.Sequential([k.Input((7, 2)), L.Masking(0.0), L.GRU(3), L.Dense(2)], name="inner")
    per_step = L.TimeDistributed(inner, name="td_inner")(img)
    return k.Model(img, [per_step, L.SimpleRNN(2, name="rnn")(per_step)])


FAMILIES = {"models": models_family, "masked": masked_family, "inside_mask": inside_mask_family}
CASES = [(family, flavor) for family in ("models", "masked") for flavor in FLAVORS] + [
    ("inside_mask", "keras3.keras"), ("inside_mask", "keras3.h5")]


def _inputs(model: Any, rng: np.random.Generator, batch: int, steps: int) -> dict[str, np.ndarray]:
    """Standard normal values with the edges: whole zero steps (masked by Masking(0.0)) inside and at the end,
    zero positions inside an image step, and large values of both signs."""
    names = [t.name.split(":")[0] for t in model.inputs]
    values = {"x": rng.standard_normal((batch, steps, 4)).astype("float32"),
              "img": rng.standard_normal((batch, steps, 7, 2)).astype("float32"),
              "frames": rng.standard_normal((batch, steps, 5, 4)).astype("float32")}
    for value in values.values():
        value[0, 1] = 0.0
        value[1, -1] = 0.0
        value[-1, 0, ..., 0] = 300.0
        value[-1, -1, ..., -1] = -250.0
    values["img"][1, 0, 4:] = 0.0  # trailing zero positions of one step (the inner Masking's)
    return {name: values[name] for name in names}


converted = converted_fixture("td_models", CASES, two_size_saver(FAMILIES, at_runs(_inputs, SIZES), seed=17))


@pytest.mark.node
@each_case(CASES)
def test_time_distributed_models_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
def test_tf_keras_saved_model_reads_the_wrapped_models_weights_from_its_checkpoint(tmp_path, tfjs_runtime):
    """A tf_keras SavedModel lowers from its metadata and checkpoint (variables named ``dense/kernel`` inside the
    wrapper, owned by the sub-layer they name), TensorFlow poisoned, to Keras's numbers at two sizes."""
    import json
    import subprocess
    import sys

    from keras_two_sizes import keras_outputs
    from keras_models import randomize
    from test_keras_lowering import _verify
    from test_keras_lowering_structure import SAVED_MODEL_POISONED
    from tfjsconv.plugins.keras.keras_saved_model import SAVED_MODEL_LOWERED

    tf_keras = pytest.importorskip("tf_keras")
    model = saved_model_family(tf_keras)
    randomize(model, 19)
    rng = np.random.default_rng(20)
    runs = [(inputs, keras_outputs(model, inputs)) for inputs in (_inputs(model, rng, *size) for size in SIZES)]
    model.save(tmp_path / "sm", save_format="tf")
    out = subprocess.run([sys.executable, "-c", SAVED_MODEL_POISONED, str(tmp_path / "sm"), str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == [str([SAVED_MODEL_LOWERED]), "LOADED:"], out.stdout
    assert list(json.loads((tmp_path / "out" / "model.json").read_text())["signature"]["outputs"]) == \
        list(model.output_names)
    for inputs, outputs in runs:
        _verify(tmp_path / "out", inputs, outputs)


def test_what_stays_refused_is_named(tmp_path):
    """tf_keras's wrapped model whose output carries a mask it makes, float inputs into an int16 Input, a gap inside
    the wrapped model (named by its path through the wrapper), and a layer inside it also called outside it in a
    ``.keras`` archive (saved once; its ``.h5`` copies convert). (A mask into a mixed_float16 wrapped model whose
    layer reads it lowers since session 28: ``test_keras_lowering_k28_td_masks.py``.)"""
    L = keras.layers
    reals = keras.Input((None, 4), name="reals")
    inner = keras.Sequential([keras.Input((4,), dtype="int16"), L.Dense(2)], name="inner")
    keras.Model(reals, L.TimeDistributed(inner, name="td_ids")(reals)).save(tmp_path / "ids.keras")
    assert "'td_ids' (TimeDistributed) of a model whose Input is int16, on float inputs" in \
        lowering_refusal(tmp_path / "ids.keras")

    x = keras.Input((3, 6, 6, 3), name="x")
    gap = keras.Sequential([keras.Input((6, 6, 3)), L.Resizing(4, 4, interpolation="bicubic", name="bicubic")],
                           name="gap")
    keras.Model(x, L.TimeDistributed(gap, name="td_gap")(x)).save(tmp_path / "gap.keras")
    assert "does not cover 1 layer: 'td_gap/bicubic' (Resizing: interpolation='bicubic')" in \
        lowering_refusal(tmp_path / "gap.keras")

    x = keras.Input((3, 4), name="x")
    shared = L.Dense(4, name="shared_dense")
    wrapped = keras.Sequential([keras.Input((4,)), shared, L.Dense(2)], name="wrapped")
    keras.Model(x, [L.TimeDistributed(wrapped, name="td_shared")(x), shared(x)]).save(tmp_path / "shared.keras")
    assert "does not cover 1 layer: 'td_shared' (TimeDistributed: its 'shared_dense' (Dense) is used in other places " \
           "too, and a .keras archive saves its weights once" in lowering_refusal(tmp_path / "shared.keras")

    tf_keras = pytest.importorskip("tf_keras")
    T = tf_keras.layers
    img2 = tf_keras.Input((None, 7, 2), name="img")
    maker = tf_keras.Sequential([tf_keras.Input((7, 2)), T.Masking(0.0, name="inner_masking"), T.GRU(3, return_sequences=True)],
                                name="maker")
    tf_keras.Model(img2, T.TimeDistributed(maker, name="td_maker")(img2)).save(tmp_path / "maker.h5")
    assert "does not cover 1 layer: 'td_maker' (TimeDistributed(Sequential): tf_keras gives its output the mask the " \
           "wrapped model's 'inner_masking' (Masking) makes)" in lowering_refusal(tmp_path / "maker.h5")
