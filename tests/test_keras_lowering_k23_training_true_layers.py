"""tf_keras MultiHeadAttention, Attention and ConvLSTM1D called with ``training=True`` and no dropout (session 23;
helper H2's report). tf_keras's ``model(x, training=False)`` keeps a saved ``training=True``, so the lowering may
compute inference only where the layer computes the same in training (``.context.differs_in_training``). The walk
decides that for every layer, but these lowerings refused any ``training`` keyword themselves
(``context.check_call_kwargs``): "'mha' (MultiHeadAttention) called with training=True", where the traced path
converted and matched Keras. With dropout they compute otherwise (Keras's own ``model(x)`` is random there) and stay
refused by name. Converted with TensorFlow, Keras and tf_keras poisoned; Keras's ``model(x)`` in TF.js cpu and wasm
at two sizes.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tf_keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def attention_family(k: Any) -> Any:
    L = k.layers
    q, v = k.Input((None, 4), name="q"), k.Input((None, 4), name="v")
    mha = L.MultiHeadAttention(2, 3, name="mha")(q, v, training=True)
    scores = L.Attention(use_scale=True, name="attn")([q, v], training=True)
    return k.Model([q, v], [mha, scores])


def conv_lstm_family(k: Any) -> Any:
    x = k.Input((None, 6, 2), name="x")
    return k.Model(x, k.layers.ConvLSTM1D(3, 3, padding="same", name="conv_lstm")(x, training=True))


def _inputs_of(model: Any, family: str, rng: np.random.Generator):
    for batch, steps in ((2, 5), (3, 3)):
        yield {t.name.split(":")[0]: rng.standard_normal((batch, steps, *tuple(t.shape)[2:])).astype("float32")
               for t in model.inputs}


FAMILIES = {"attention": attention_family, "conv_lstm": conv_lstm_family}
CASES = [("attention", "tf_keras.h5"), ("conv_lstm", "tf_keras.h5")]
converted = converted_fixture("k23_training_true_layers", CASES, two_size_saver(FAMILIES, _inputs_of, seed=2302))


@pytest.mark.node
@each_case(CASES)
def test_tf_keras_layers_without_dropout_called_with_training_true_lower(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_tf_keras_attention_with_dropout_called_with_training_true_is_refused_by_name(tmp_path):
    import tf_keras as k

    import tfjsconv
    from tfjsconv.errors import UsageError

    L = k.layers
    q = k.Input((5, 4), name="q")
    k.Model(q, [L.MultiHeadAttention(2, 3, dropout=0.2, name="mha")(q, q, training=True),
                L.Attention(dropout=0.3, name="attn")([q, q], training=True)]).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    message = str(info.value)
    assert "'mha' (MultiHeadAttention) called with training=True" in message, message
    assert "'attn' (Attention) called with training=True" in message, message
    assert not (tmp_path / "out").exists()


@pytest.mark.node
@pytest.mark.parametrize("saved_as,trainable", [("BatchNormalizationV2", True), ("BatchNormalizationV1", False)])
def test_tf_keras_batch_norms_saved_under_tf1_names_in_training_use_batch_statistics(tmp_path, tfjs_runtime,
                                                                                    saved_as, trainable):
    """Review R1 (F1): tf_keras still loads ``BatchNormalizationV1``/``V2`` (TF 1.13's class names) and computes batch
    statistics under ``training=True`` for a trainable V2 and for V1 even when frozen (its v1 behaviour); the
    training rule matched the current name only, so they were lowered as inference: 3.69 off on cpu and wasm. Then
    refused; since session 24 lowered with the batch statistics (``test_keras_lowering_bn_training.py``)."""
    import h5py
    import tf_keras as k

    import tfjsconv
    from test_keras_lowering import _verify

    x = k.Input((4,), name="x")
    k.Model(x, k.layers.BatchNormalization(trainable=trainable, name="bn")(x, training=True)).save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as saved:
        config = saved.attrs["model_config"]
        config = config.decode() if isinstance(config, bytes) else config
        saved.attrs["model_config"] = config.replace('"class_name": "BatchNormalization"',
                                                     f'"class_name": "{saved_as}"')
    loaded = k.models.load_model(tmp_path / "m.h5", compile=False)
    inputs = {"x": (np.random.default_rng(3).standard_normal((5, 4)) * 2 + 1).astype("float32")}
    expected = np.asarray(loaded(inputs["x"], training=False))
    assert np.allclose(expected.mean(axis=0), 0.0, atol=1e-5)  # the batch's statistics, not the moving ones
    tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    _verify(tmp_path / "out", inputs, [expected])
