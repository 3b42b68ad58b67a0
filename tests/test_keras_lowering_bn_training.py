"""tf_keras BatchNormalization called with ``training=True`` (issue 16, session 24, helper h2).

tf_keras keeps a call site's ``training=True`` under ``model(x, training=False)`` and ``predict()``: a trainable
BatchNormalization there (TF 1's ``BatchNormalizationV1`` even when frozen) normalizes each batch by its own mean
and biased variance. ``--loader=tensorflow`` converted these; the lowering refused them ("called with
training=True"). Now lowered (:mod:`tfjsconv.plugins.keras.lowering.batch_norm_training`): the fused ranks 4/5
(channels last and first), the non-fused ones (rank 2, 3, a middle axis, several axes, rank 5 on a middle axis),
``center``/``scale`` off, a rank-3 mask (weighted moments), ``renorm`` with and without clipping, and the class names
TF 1.13 wrote. Converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm at two batch and
spatial sizes against tf_keras's ``model(x, training=False)``. Refused, named: a float16 policy in training, and
``virtual_batch_size`` (tf_keras's build saves the axis shifted past its ghost axis; the lowering took that axis
as the channels' or called the file corrupt).

Session 24, helper h2b (review r1's findings): masks one rank below the input on the non-fused path (rank 2, rank 4
on a middle axis, ``"fused": false`` in the config) are weighed; ``training=1``/``0`` read as tf_keras's ``bool()``;
a layer called twice with batch statistics in both (no renorm) is exact. Refused, named: a layer called more than
once where one call uses batch statistics and another reads the statistics it updates (bare, or renorm), nested
models included, and ``synchronized`` in training.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tk = pytest.importorskip("tf_keras")

from keras_models import randomize  # noqa: E402
from keras_two_sizes import converted_fixture, each_case, keras_outputs, rename_classes, verify_runs  # noqa: E402
from test_keras_lowering import _module, case_file  # noqa: E402


# -- models --------------------------------------------------------------------------------------------------
def layouts_family(k: Any) -> Any:
    """Every axis and rank, sizes unknown but the channels: fused (rank 4 last/first, rank 5 last) and not."""
    L = k.layers
    img, chw = k.Input((None, None, 3), name="img"), k.Input((3, None, None), name="chw")
    seq, vol, vec = k.Input((None, 4), name="seq"), k.Input((None, None, 2, 2), name="vol"), k.Input((4,), name="vec")
    mid = k.Input((None, 5, 2), name="mid")
    conv = L.Conv2D(4, 3, padding="same", name="conv")(img)
    return k.Model([img, chw, seq, vol, vec, mid], [
        L.BatchNormalization(name="bn_last")(conv, training=True),
        L.BatchNormalization(axis=1, name="bn_first")(chw, training=True),
        L.BatchNormalization(center=False, name="bn_seq")(L.Dense(3, name="dense_seq")(seq), training=True),
        L.BatchNormalization(name="bn_vol")(vol, training=True),
        L.BatchNormalization(axis=3, scale=False, name="bn_vol_mid")(vol, training=True),
        L.BatchNormalization(scale=False, center=False, name="bn_vec")(vec, training=True),
        L.BatchNormalization(axis=2, epsilon=1e-5, name="bn_mid")(mid, training=True),
        L.BatchNormalization(axis=[2, 3], name="bn_two_axes")(mid, training=True),
        L.BatchNormalization(name="bn_inference")(vec)])  # beside: moving statistics still


def renorm_family(k: Any) -> Any:
    """Batch renormalization in training (its r/d corrections), clipped and not, and a masked rank-3 input."""
    L = k.layers
    seq, vec = k.Input((None, 4), name="seq"), k.Input((4,), name="vec")
    masked = L.Dense(4, name="dense_masked")(L.Masking(name="masking")(seq))
    return k.Model([seq, vec], [
        L.BatchNormalization(renorm=True, name="bn_renorm")(vec, training=True),
        L.BatchNormalization(renorm=True, renorm_clipping={"rmax": 1.3, "rmin": 0.8, "dmax": 0.2}, center=False,
                             name="bn_renorm_clipped")(seq, training=True),
        L.BatchNormalization(name="bn_masked")(masked, training=True)])


def renamed_family(k: Any) -> Any:
    """Saved under TF 1.13's class names (rewritten in the file): ``BatchNormalizationV1`` frozen (batch statistics
    all the same) and ``BatchNormalizationV2`` trainable; built with the v1 class so Keras computes as it loads."""
    from tf_keras.src.layers.normalization import batch_normalization_v1 as v1

    img, vec = k.Input((None, None, 3), name="img"), k.Input((4,), name="vec")
    return k.Model([img, vec], [v1.BatchNormalization(trainable=False, name="bn_v1_frozen")(img, training=True),
                                k.layers.BatchNormalization(name="bn_v2")(vec, training=True)])


def keras3_family(k: Any) -> Any:
    """Keras 3 computes a call site's ``training=True`` only in a bare ``model(x)``: its ``model(x, training=False)``,
    ``predict()`` and the traced path use the moving statistics, as the lowering does (unchanged; a warning names
    these calls). Masked, channels first and last."""
    L = k.layers
    img, seq, chw = k.Input((None, None, 3), name="img"), k.Input((None, 4), name="seq"), k.Input((3, None), name="chw")
    masked = L.Dense(4, name="dense_masked")(L.Masking(name="masking")(seq))
    return k.Model([img, seq, chw], [L.BatchNormalization(name="bn_last")(img, training=True),
                                     L.BatchNormalization(axis=1, name="bn_first")(chw, training=True),
                                     L.BatchNormalization(name="bn_masked")(masked, training=True)])


def masks_and_keys_family(k: Any) -> Any:
    """Masks tf_keras weighs as the rank-3 one (``expand_dims(mask, -1)``): rank 2, rank 4 on a middle axis, and
    rank 4 channels last with ``"fused": false`` written in the config (tf_keras's get_config leaves it out; built
    so, the model weighs as the edited file reloads); ``training=1`` and ``0``; one layer called twice in training."""
    L = k.layers
    vec_m, img_m, vec = k.Input((4,), name="vec_m"), k.Input((None, 4, 3), name="img_m"), k.Input((4,), name="vec")
    masked_img = L.Masking(name="masking_img")(img_m)
    twice = L.BatchNormalization(name="bn_twice")
    return k.Model([vec_m, img_m, vec], [
        L.BatchNormalization(name="bn_mask_rank2")(L.Masking(name="masking_vec")(vec_m), training=True),
        L.BatchNormalization(axis=2, name="bn_mask_axis2")(masked_img, training=True),
        L.BatchNormalization(fused=False, name="bn_unfused")(masked_img, training=True),
        L.BatchNormalization(name="bn_int_training")(vec, training=1),
        L.BatchNormalization(name="bn_int_inference")(vec, training=0),
        twice(vec, training=True), twice(L.Dense(4, name="dense_twice")(vec), training=True)])


#: The class name each renamed layer is saved under.
RENAMED = {"bn_v1_frozen": "BatchNormalizationV1", "bn_v2": "BatchNormalizationV2"}

FAMILIES = {"layouts": layouts_family, "renorm": renorm_family, "renamed": renamed_family, "keras3": keras3_family,
            "masks_and_keys": masks_and_keys_family}
CASES = [("layouts", "tf_keras.h5"), ("layouts", "tf_keras.keras"), ("renorm", "tf_keras.h5"), ("renamed", "tf_keras.h5"),
         ("keras3", "keras3.keras"), ("masks_and_keys", "tf_keras.h5")]
#: Each run's batch and spatial size.
RUNS = [(5, 4), (2, 3)]


def _inputs(model: Any, rng: np.random.Generator, batch: int, size: int) -> dict[str, np.ndarray]:
    inputs = {}
    for t in model.inputs:
        name = t.name.split(":")[0]
        shape = [batch, *(size if d is None else d for d in tuple(t.shape)[1:])]
        inputs[name] = (rng.standard_normal(shape) * 2 + 0.5).astype("float32")
    if "seq" in inputs:  # masked steps (Masking): a sample's last two, another's first
        inputs["seq"][0, -2:] = 0.0
        inputs["seq"][-1, :1] = 0.0
    if "vec_m" in inputs:  # Masking: a masked sample (rank 2), masked rows and columns of pixels (rank 4)
        inputs["vec_m"][1] = 0.0
        inputs["img_m"][0, 0] = 0.0
        inputs["img_m"][1, :, 1] = 0.0
    return inputs


def _renorm_weights(model: Any, seed: int) -> None:
    """Renorm statistics as training leaves them: standard deviations positive, some below ``√ε``."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if getattr(layer, "renorm", False):
            layer.renorm_stddev.assign(rng.uniform(0.01, 2.0, layer.renorm_stddev.shape).astype("float32"))
            layer.moving_stddev.assign(rng.uniform(0.5, 2.0, layer.moving_stddev.shape).astype("float32"))


def _rename(path: Path) -> None:
    rename_classes(path, RENAMED)


def _set_config(path: Path, layer: str, **keys: Any) -> None:
    """Write config keys tf_keras's get_config leaves out (its from_config honours them) into a saved .h5."""
    import h5py

    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        entry = next(e for e in config["config"]["layers"] if e["config"].get("name") == layer)
        assert not set(keys) & set(entry["config"]), entry["config"]
        entry["config"].update(keys)
        f.attrs["model_config"] = json.dumps(config)


def runs_from_saved_weights(model: Any, inputs_of: Any, rng: np.random.Generator, sizes: list) -> list:
    """Keras's outputs for each run size, each from the weights as saved (a call in training updates the moving and
    renorm statistics a later call would read); the model is left with those weights, ready to save."""
    weights, runs = model.get_weights(), []
    for size in sizes:
        model.set_weights(weights)
        inputs = inputs_of(model, rng, *size)
        runs.append((inputs, keras_outputs(model, inputs)))
    model.set_weights(weights)
    return runs


def _save(family: str, flavor: str, folder: Path):
    model = FAMILIES[family](_module(flavor))
    randomize(model, 241)
    _renorm_weights(model, 242)
    runs = runs_from_saved_weights(model, _inputs, np.random.default_rng(243), RUNS)
    path = case_file(folder, family, flavor)
    model.save(path)
    if family == "renamed":
        _rename(path)
    if family == "masks_and_keys":
        _set_config(path, "bn_unfused", fused=False)
    return path, runs, None


converted = converted_fixture("bn_training", CASES, _save)


@pytest.mark.node
@each_case(CASES)
def test_tf_keras_batch_norm_called_with_training_true_uses_batch_statistics(converted, tfjs_runtime, family,
                                                                              flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_the_batch_statistics_differ_from_the_moving_ones():
    """The check above would not tell the two apart if tf_keras's outputs were the moving statistics' (it is not)."""
    model = layouts_family(tk)
    randomize(model, 241)
    inputs = _inputs(model, np.random.default_rng(1), 5, 4)
    vec = inputs["vec"]
    normalized = keras_outputs(model, inputs)[5]
    assert np.allclose(normalized.mean(axis=0), 0.0, atol=1e-5)
    assert np.allclose(normalized.var(axis=0), vec.var(axis=0) / (vec.var(axis=0) + 1e-3), atol=1e-4)


def test_the_edited_fused_key_reloads_weighing_the_mask(tmp_path):
    """The ``"fused": false`` case checks the mask is weighed only if the edited file reloads so in tf_keras, and
    the weighed statistics differ from the fused path's (which ignores the mask)."""
    model = masks_and_keys_family(tk)
    randomize(model, 241)
    inputs = _inputs(model, np.random.default_rng(1), 5, 4)
    model.save(tmp_path / "m.h5")
    _set_config(tmp_path / "m.h5", "bn_unfused", fused=False)
    reloaded = tk.models.load_model(tmp_path / "m.h5")
    assert reloaded.get_layer("bn_unfused").fused is False
    ours, edited = keras_outputs(model, inputs), keras_outputs(reloaded, inputs)
    assert np.allclose(ours[2], edited[2], atol=1e-5)
    fused = tk.layers.BatchNormalization(name="bn_fused_check")
    fused.build(inputs["img_m"].shape)
    fused.set_weights(model.get_layer("bn_unfused").get_weights())
    assert np.abs(np.asarray(fused(inputs["img_m"], training=True)) - ours[2]).max() > 0.01


# -- still refused, named --------------------------------------------------------------------------------------
def _refusal(tmp_path: Path, model: Any) -> str:
    import tfjsconv
    from tfjsconv.errors import UsageError

    model.save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    return str(info.value)


def test_virtual_batches_are_refused_by_name(tmp_path):
    L = tk.layers
    vec, img = tk.Input((4,), name="vec"), tk.Input((3, 3, 2), name="img")
    half = L.BatchNormalization(name="bn_half", dtype="mixed_float16")
    model = tk.Model([vec, img], [L.BatchNormalization(virtual_batch_size=2, name="bn_ghost")(vec, training=True),
                                  half(vec, training=True),
                                  L.BatchNormalization(axis=1, virtual_batch_size=2, name="bn_ghost_first")(img)])
    message = _refusal(tmp_path, model)
    # saved with axis [2]: the old lowering normalized the wrong axis of this one at inference
    assert "'bn_ghost_first' (BatchNormalization) with virtual_batch_size=2" in message, message
    assert "'bn_ghost' (BatchNormalization) with virtual_batch_size=2" in message, message
    # a mixed_float16 layer in training lowers since session 29 (tests/test_keras_lowering_narrow_s29.py)
    assert "'bn_half'" not in message, message


def _refused_edited(path: Path, model: Any, **edits: dict[str, Any]) -> str:
    import tfjsconv
    from tfjsconv.errors import UsageError

    model.save(path)
    for layer, keys in edits.items():
        _set_config(path, layer, **keys)
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(path, path.parent / "out", output_format="tfjs_graph_model")
    return str(info.value)


def test_shared_layers_reading_statistics_a_training_call_updates_are_refused_by_name(tmp_path):
    """tf_keras updates the moving statistics (and renorm's) during a ``training=True`` call; a bare call of the
    same layer, or a renorm one in training, reads them after it or before it in an order that is not the call
    sites' (r1's p12: 0.134 off, p17: 4.73). ``synchronized`` (written in the config, which tf_keras's get_config
    leaves out) computes E[x²] − mean²: refused."""
    L = tk.layers
    vec = tk.Input((4,), name="vec")
    shared, renorm = L.BatchNormalization(name="bn_shared"), L.BatchNormalization(renorm=True, name="bn_renorm_twice")
    model = tk.Model(vec, [shared(vec), shared(vec, training=True), renorm(vec, training=True),
                           renorm(L.Dense(4, name="dense_renorm")(vec), training=True),
                           L.BatchNormalization(name="bn_sync")(vec, training=True)])
    message = _refused_edited(tmp_path / "m.h5", model, bn_sync={"synchronized": True})
    assert "'bn_shared' (BatchNormalization) called more than once, with training=True" in message, message
    assert "'bn_renorm_twice' (BatchNormalization) called more than once" in message, message
    assert "'bn_sync' (BatchNormalization) called with training=True and synchronized=True" in message, message


def test_nested_models_called_twice_with_a_renorm_training_call_are_refused_by_name(tmp_path):
    """The calls of a nested model are calls of its layers: a renorm BatchNormalization in training inside a model
    called twice is refused; a plain one (every call with batch statistics, no renorm) is exact and lowered."""
    L = tk.layers
    vec, inner_in, held_in = tk.Input((4,), name="vec"), tk.Input((4,), name="inner_in"), tk.Input((4,), name="held_in")
    inner = tk.Model(inner_in, L.BatchNormalization(name="bn_inner")(inner_in, training=True), name="inner")
    held = tk.Model(held_in, L.BatchNormalization(renorm=True, name="bn_held")(held_in, training=True), name="held")
    model = tk.Model(vec, [inner(vec), held(vec), held(inner(vec)), L.Dropout(0.5, name="drop")(vec, training=True)])
    message = _refused_edited(tmp_path / "m.h5", model)
    assert "'held/bn_held' (BatchNormalization) called more than once" in message, message
    assert "bn_inner" not in message and "2 layers" in message, message  # the Dropout: so the model is refused
