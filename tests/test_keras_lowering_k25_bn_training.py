"""tf_keras models called with an int ``training`` (issue 16, session 25, helper h5).

A tf_keras nested model called with ``training=1`` or ``0`` hands the int to its layers (base_layer's call
context), whose ``smart_cond``/``constant_value`` read 1 and 0 as True and False (BatchNormalization's
``_get_training_value``: ``bool()``). ``BatchNormalizationV1`` keeps the int, which its ``constant_value`` reads so.
Both were refused ("called with training=1"/"0"); ``--loader=tensorflow`` converts the ones without batch statistics
(a nested model called with 0, or holding no layer that differs in training) and matches tf_keras; with batch
statistics it cannot freeze them (the moving-average updates), as for ``training=True`` (session 24). Converted with
TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm at two batch and spatial sizes against tf_keras's
``model(x, training=False)``, which keeps the call sites' values.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tk = pytest.importorskip("tf_keras")

from keras_models import randomize  # noqa: E402
from keras_two_sizes import converted_fixture, each_case, keras_outputs, rename_classes, verify_runs  # noqa: E402
from test_keras_lowering import _module, case_file  # noqa: E402
from test_keras_lowering_bn_training import runs_from_saved_weights  # noqa: E402


def int_training_family(k: Any) -> Any:
    """Nested models called with 1 (batch statistics, fused and not; a Dense only) and 0 (moving statistics, a
    Dropout at inference; one inside a model called with 1), and TF 1's ``BatchNormalizationV1`` called with 1
    (trainable) and 0 (frozen)."""
    from tf_keras.src.layers.normalization import batch_normalization_v1 as v1

    L = k.layers
    img, vec = k.Input((None, None, 3), name="img"), k.Input((4,), name="vec")
    body_in, still_in, plain_in = k.Input((None, None, 3), name="body_in"), k.Input((4,), name="still_in"), \
        k.Input((4,), name="plain_in")
    conv = L.Conv2D(4, 3, padding="same", name="body_conv")(body_in)
    body = k.Model(body_in, L.BatchNormalization(name="body_bn")(conv), name="body")
    still = k.Model(still_in, L.Dropout(0.5, name="still_drop")(L.BatchNormalization(name="still_bn")(still_in)),
                    name="still")
    plain = k.Model(plain_in, L.Dense(3, name="plain_dense")(plain_in), name="plain")
    stack = k.Sequential([k.Input((3,), name="stack_in"), L.BatchNormalization(name="stack_bn")], name="stack")
    deep_in, outer_in = k.Input((4,), name="deep_in"), k.Input((4,), name="outer_in")
    deep = k.Model(deep_in, L.BatchNormalization(name="deep_bn")(deep_in), name="deep")
    outer = k.Model(outer_in, [deep(outer_in, training=0), L.BatchNormalization(name="outer_bn")(outer_in)],
                    name="outer")  # 0 inside 1: the inner model's layers get 0 (moving statistics)
    return k.Model([img, vec], [
        body(img, training=1), still(vec, training=0), stack(plain(vec, training=1), training=1),
        v1.BatchNormalization(name="bn_v1_one")(vec, training=1),
        v1.BatchNormalization(trainable=False, name="bn_v1_zero")(vec, training=0), *outer(vec, training=1)])


def pinned_family(k: Any) -> Any:
    """Review R5's F1 and F2 (session 25, helper h5c), each refused before: nested models called with 1 or True
    whose layers each say ``training=0``/``False`` themselves (the inner value wins: inference), and top-level call
    sites with an int ``training`` on layers other than BatchNormalization (a Dropout at 0, a rate-0 Dropout and an
    LSTM without dropout at 1)."""
    L = k.layers
    vec, seq = k.Input((4,), name="vec"), k.Input((None, 4), name="seq")
    a_in, s_in, b_in = k.Input((4,), name="a_in"), k.Input((None, 4), name="s_in"), k.Input((4,), name="b_in")
    noisy = L.GaussianNoise(1.0, name="a_noise")(L.Dropout(0.5, name="a_drop")(a_in, training=0), training=0)
    a = k.Model(a_in, noisy, name="a")
    s = k.Model(s_in, L.LSTM(3, dropout=0.3, name="s_lstm")(s_in, training=0), name="s")
    b = k.Model(b_in, L.BatchNormalization(name="b_bn")(b_in, training=False), name="b")
    return k.Model([vec, seq], [
        a(vec, training=1), s(seq, training=1), b(vec, training=True),
        L.Dropout(0.5, name="top_drop")(vec, training=0), L.Dropout(0.0, name="top_drop0")(vec, training=1),
        L.LSTM(3, name="top_lstm")(seq, training=1)])


FAMILIES = {"int_training": int_training_family, "pinned_training": pinned_family}
#: The class name each V1 layer is saved under (TF 1.13's; tf_keras saves the v1 class as "BatchNormalization").
RENAMED = {"bn_v1_one": "BatchNormalizationV1", "bn_v1_zero": "BatchNormalizationV1"}
CASES = [("int_training", "tf_keras.h5"), ("pinned_training", "tf_keras.h5")]
#: Each run's batch and spatial size.
RUNS = [(5, 4), (2, 3)]


def _inputs(model: Any, rng: np.random.Generator, batch: int, size: int) -> dict[str, np.ndarray]:
    inputs = {}
    for t in model.inputs:
        shape = [batch, *(size if d is None else d for d in tuple(t.shape)[1:])]
        inputs[t.name.split(":")[0]] = (rng.standard_normal(shape) * 2 + 0.5).astype("float32")
    return inputs


def _rename(path: Path) -> None:
    rename_classes(path, RENAMED)


def _save(family: str, flavor: str, folder: Path):
    model = FAMILIES[family](_module(flavor))
    randomize(model, 251)
    runs = runs_from_saved_weights(model, _inputs, np.random.default_rng(252), RUNS)
    path = case_file(folder, family, flavor)
    model.save(path)
    _rename(path)
    return path, runs, None


converted = converted_fixture("bn_training_k25", CASES, _save)


@pytest.mark.node
@each_case(CASES)
def test_tf_keras_int_training_is_read_as_tf_keras_reads_it(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_the_renamed_file_reloads_as_v1_and_the_ints_choose_the_statistics():
    """The check above would not tell 1 from 0 if tf_keras's outputs did not differ so: the V1 layer called with 1
    and the nested model called with 1 normalize by the batch (each channel's mean is beta), the ones called with 0
    do not."""
    model = int_training_family(tk)
    randomize(model, 251)
    outputs = keras_outputs(model, _inputs(model, np.random.default_rng(1), 5, 4))

    def beta(*names: str) -> np.ndarray:
        layer = model
        for name in names:
            layer = layer.get_layer(name)
        return layer.beta.numpy()

    assert np.allclose(outputs[0].mean(axis=(0, 1, 2)), beta("body", "body_bn"), atol=1e-4)
    assert np.allclose(outputs[3].mean(axis=0), beta("bn_v1_one"), atol=1e-4)
    assert not np.allclose(outputs[1].mean(axis=0), beta("still", "still_bn"), atol=1e-2)
    assert not np.allclose(outputs[4].mean(axis=0), beta("bn_v1_zero"), atol=1e-2)
    assert not np.allclose(outputs[5].mean(axis=0), beta("outer", "deep", "deep_bn"), atol=1e-2)
    assert np.allclose(outputs[6].mean(axis=0), beta("outer", "outer_bn"), atol=1e-4)


def test_the_v1_class_name_reloads(tmp_path):
    """tf_keras reads the rewritten class name as TF 1's layer (which keeps an int ``training``)."""
    from tf_keras.src.layers.normalization import batch_normalization_v1 as v1

    model = int_training_family(tk)
    model.save(tmp_path / "m.h5")
    _rename(tmp_path / "m.h5")
    reloaded = tk.models.load_model(tmp_path / "m.h5")
    assert type(reloaded.get_layer("bn_v1_zero")) is v1.BatchNormalization
    assert reloaded.get_layer("bn_v1_zero")._USE_V2_BEHAVIOR is False


# -- still refused, named --------------------------------------------------------------------------------------
def test_a_nested_model_called_with_1_names_an_inner_layer_that_differs_in_training(tmp_path):
    """``training=1`` is handed down as True: a nonzero Dropout inside is refused by its name, not computed at
    inference; an int other than 1 and 0 (which tf_keras's ``smart_cond`` rejects) stays refused."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = tk.layers
    vec, noisy_in, odd_in = tk.Input((4,), name="vec"), tk.Input((4,), name="noisy_in"), tk.Input((4,), name="odd_in")
    noisy = tk.Model(noisy_in, L.Dropout(0.5, name="noisy_drop")(noisy_in), name="noisy")
    odd = tk.Model(odd_in, L.Dense(2, name="odd_dense")(odd_in), name="odd")
    tk.Model(vec, [noisy(vec, training=1), odd(vec, training=2)]).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    message = str(info.value)
    assert "'noisy' (Functional) called with training=1, which tf_keras hands to its layer 'noisy/noisy_drop' " \
        "(Dropout)" in message, message  # the file's 1 (True before session 25's h5c)
    assert "'odd' (Functional) called with training=2" in message, message


@pytest.mark.node
@pytest.mark.parametrize("training", [True, 1])
def test_a_layers_model_keeps_an_inner_training_false_over_the_nested_call(tmp_path, tfjs_runtime, training):
    """Review R5's F1 on the layers path (refused before): ``inner(x, training=True)`` (or 1) whose BatchNormalization
    says ``training=False`` (or 0) itself is computed at inference by tf_keras, as by TF.js."""
    import tfjsconv
    from tfjsconv.verify.compare import format_report, verify_model

    vec, inner_in = tk.Input((4,), name="vec"), tk.Input((4,), name="inner_in")
    bn = tk.layers.BatchNormalization(name="inner_bn")
    model = tk.Model(vec, tk.Model(inner_in, bn(inner_in, training=False if training is True else 0),
                                   name="inner")(vec, training=training))
    randomize(model, 253)
    x = (np.random.default_rng(254).standard_normal((5, 4)) * 2 + 30).astype("float32")
    expected = np.asarray(model(x, training=False))
    model.save(tmp_path / "m.h5")
    assert not np.allclose(expected, np.asarray(bn(x, training=True)), atol=1e-2)  # were the batch's read
    tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_layers_model")
    report = verify_model(tmp_path / "out", {"vec": x}, {"inner": expected}, backends=("cpu", "wasm"), rtol=1e-4,
                          quiet=True)
    assert report.passed, format_report(report)
