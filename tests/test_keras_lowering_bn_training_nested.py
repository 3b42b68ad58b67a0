"""tf_keras nested models called with ``training=True`` that hold trainable BatchNormalizations (session 24, h2's
patch applied by h2b): tf_keras hands ``training=True`` to the inner calls that do not say ``training``, so each such
BatchNormalization uses the batch's statistics (two models deep, a Sequential too); an inner ``training=False`` is
kept, on a layer or on a deeper model. Converted with TensorFlow and tf_keras poisoned, run in TF.js cpu and wasm
against tf_keras at two sizes. Refused, named: TimeDistributed(BN) and Dropout(0.5) inside, and a nested model called
both with ``training=True`` and bare (its BatchNormalization's moving statistics are updated by one call and read by
the other in an order the lowering does not follow: r1's F1).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tk = pytest.importorskip("tf_keras")

from keras_two_sizes import converted_fixture, each_case, verify_runs  # noqa: E402
from keras_models import randomize  # noqa: E402
from test_keras_lowering import case_file  # noqa: E402
from test_keras_lowering_bn_training import runs_from_saved_weights  # noqa: E402


def nested_family(k: Any) -> Any:
    L = k.layers
    x = k.Input((None, None, 3), name="x")
    a = k.Input((None, None, 3))
    body = k.Model(a, L.BatchNormalization(name="inner_bn")(L.Conv2D(4, 3, padding="same", name="inner_conv")(a)),
                   name="body")
    b = k.Input((None, None, 3))
    deep_in = k.Input((None, None, 3))
    deep = k.Model(deep_in, L.BatchNormalization(scale=False, name="deep_bn")(deep_in), name="deep")
    middle = k.Model(b, [deep(b), L.BatchNormalization(name="kept_bn")(b, training=False)], name="middle")
    c = k.Input((None, None, 3))
    stopped_in = k.Input((None, None, 3))
    stopped = k.Model(stopped_in, L.BatchNormalization(name="stopped_bn")(stopped_in), name="stopped")
    outer = k.Model(c, [stopped(c, training=False), L.BatchNormalization(name="outer_bn")(c)], name="outer")
    seq = k.Sequential([k.Input((None, None, 3)), L.Dense(3, name="seq_dense"),
                        L.BatchNormalization(name="seq_bn"), L.Dropout(0.0, name="drop0")], name="seq")
    return k.Model(x, [body(x, training=True), *middle(x, training=True), *outer(x, training=True),
                       seq(x, training=True)])


def _inputs(model, rng, batch, size):
    return {"x": (rng.standard_normal((batch, size, size, 3)) * 2 + 0.3).astype("float32")}


CASES = [("nested", "tf_keras.h5")]


def _save(family, flavor, folder):
    """Each run from the saved weights: a call in training updates the moving statistics a later bare call reads."""
    model = nested_family(tk)
    randomize(model, 5)
    runs = runs_from_saved_weights(model, _inputs, np.random.default_rng(6), [(4, 5), (2, 3)])
    path = case_file(folder, family, flavor)
    model.save(path)
    return path, runs, None


converted = converted_fixture("bn_training_nested", CASES, _save)


@pytest.mark.node
@each_case(CASES)
def test_nested_models_called_with_training_true_use_batch_statistics(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_nested_time_distributed_bn_and_dropout_stay_refused_by_name(tmp_path):
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = tk.layers
    x, a, b = tk.Input((3, 4), name="x"), tk.Input((3, 4)), tk.Input((4,))
    wrapped = tk.Model(a, L.TimeDistributed(L.BatchNormalization(name="td_bn"), name="td")(a), name="wrapped")
    dropping = tk.Model(b, L.Dropout(0.5, name="drop")(b), name="dropping")
    tk.Model(x, [wrapped(x, training=True), dropping(L.Flatten(name="flat")(x), training=True)]).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    message = str(info.value)
    assert "to its layer 'wrapped/td' (TimeDistributed)" in message, message
    assert "to its layer 'dropping/drop' (Dropout)" in message, message


def test_a_nested_model_called_in_training_and_bare_is_refused_by_name(tmp_path):
    """``body(x, training=True)`` updates ``inner_bn``'s moving statistics that ``body(x)`` reads (r1's F1)."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = tk.layers
    x, a = tk.Input((4,), name="x"), tk.Input((4,))
    body = tk.Model(a, L.BatchNormalization(name="inner_bn")(L.Dense(4, name="inner_dense")(a)), name="body")
    tk.Model(x, [body(x, training=True), body(x)]).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    message = str(info.value)
    assert "'body/inner_bn' (BatchNormalization) called more than once, with training=True" in message, message
