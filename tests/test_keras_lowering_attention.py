"""Keras attention, wrappers, ConvLSTM and inference preprocessing layers lowered to TF.js ops with h5py.

As in ``test_keras_lowering.py``: small models with random weights, saved by Keras, converted through
the lowering with TensorFlow, Keras and tf_keras poisoned (one subprocess converts every file), then run
in real TF.js (cpu and wasm); expected values are Keras's own ``model(x, training=False)``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from test_keras_lowering import LOWERED, _module, _verify, family_saver, saved_and_converted  # noqa: E402


# -- models (``k`` is keras or tf_keras) ---------------------------------------------------------------------
def multi_head_attention(k):
    L = k.layers
    q = k.Input((4, 6), name="query")
    v = k.Input((5, 3), name="value")
    key = k.Input((5, 2), name="key")
    mask = k.Input((4, 5), dtype="bool", name="mask")
    cross = L.MultiHeadAttention(2, 3, value_dim=2, name="cross")(q, v, key)
    masked = L.MultiHeadAttention(3, 2, use_bias=False, name="masked")(q, v, attention_mask=mask)
    causal = L.MultiHeadAttention(2, 4, output_shape=5, name="causal")(q, q, use_causal_mask=True)
    both = L.MultiHeadAttention(1, 3, dropout=0.2, name="both")(query=q, value=v, attention_mask=mask,
                                                                use_causal_mask=True)
    scored, scores = L.MultiHeadAttention(2, 2, name="scored")(q, v, attention_mask=mask,
                                                              return_attention_scores=True)
    outputs = [L.Concatenate(name="out")([cross, masked, both, scored]), causal, scores]
    if k is not keras:  # tf_keras adds a non-bool mask as floats, which the lowering leaves to TensorFlow
        return k.Model([q, v, key, mask], outputs)
    int_mask = k.Input((4, 5), dtype="int32", name="int_mask")
    float_mask = k.Input((4, 5), name="float_mask")  # Keras 3 keeps its nonzero entries
    fused = L.MultiHeadAttention(2, 3, name="int_masked")(q, v, attention_mask=int_mask)
    explicit, explicit_scores = L.MultiHeadAttention(2, 3, name="float_masked")(q, v, attention_mask=float_mask,
                                                                               return_attention_scores=True)
    return k.Model([q, v, key, mask, int_mask, float_mask], [*outputs, fused, explicit, explicit_scores])


def dot_attention(k):
    L = k.layers
    q = k.Input((4, 3), name="query")
    v = k.Input((6, 3), name="value")
    key = k.Input((6, 3), name="key")
    plain = L.Attention(name="dot")([q, v])
    scaled = L.Attention(use_scale=True, name="dot_scaled")([q, v, key])
    concat = L.Attention(score_mode="concat", name="concat")([q, v])
    concat_scaled = L.Attention(use_scale=True, score_mode="concat", name="concat_scaled")([q, v, key])
    causal = L.Attention(use_scale=True, name="causal")([q, q], use_causal_mask=True)
    additive = L.AdditiveAttention(name="additive")([q, v, key])
    additive_raw = L.AdditiveAttention(use_scale=False, name="additive_raw")([q, v])
    additive_causal = L.AdditiveAttention(name="additive_causal")([q, q], use_causal_mask=True)
    out, scores = L.Attention(name="scored")([q, v], return_attention_scores=True)
    return k.Model([q, v, key], [L.Concatenate(name="out")([plain, scaled, concat, concat_scaled, causal, additive,
                                                           additive_raw, additive_causal, out]), scores])


def wrappers(k):
    L = k.layers
    seq = k.Input((4, 5), name="seq")
    other = k.Input((6, 5), name="other")
    frames = k.Input((3, 6, 6, 2), name="frames")
    vec = k.Input((5,), name="vec")
    per_step = L.TimeDistributed(L.Dense(3, activation="tanh"), name="td_dense")(seq)
    convs = L.TimeDistributed(L.Conv2D(3, 3, strides=2, padding="same"), name="td_conv")(frames)
    pooled = L.TimeDistributed(L.GlobalAveragePooling2D(), name="td_pool")(
        L.TimeDistributed(L.BatchNormalization(), name="td_bn")(convs))
    shared = L.TimeDistributed(L.Dense(2), name="td_shared")
    steps = L.Concatenate(axis=1, name="steps")([shared(per_step), shared(pooled)])
    dots = [L.Dot(axes=2, name="dot_last")([seq, other]),
            L.Dot(axes=(1, 1), normalize=True, name="dot_time")([seq, L.Reshape((4, 5), name="r")(L.Flatten()(seq))]),
            L.Dot(axes=(2, 2), normalize=True, name="dot_cos")([seq, other])]
    pair = L.Dot(axes=1, name="dot_vec")([vec, L.Dense(5, name="proj")(vec)])
    return k.Model([seq, other, frames, vec], [L.Concatenate(name="dots")([L.Flatten()(d) for d in dots]), steps,
                                               L.Dot(axes=-1, normalize=True, name="cos_vec")([vec, vec]), pair])


def conv_lstm(k):
    L = k.layers
    frames = k.Input((3, 7, 6, 2), name="frames")
    rows = k.Input((4, 8, 3), name="rows")
    a = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, name="clstm_seq")(frames)
    b, h, c = L.ConvLSTM2D(2, (2, 3), strides=(2, 1), return_state=True, go_backwards=True,
                           recurrent_activation="hard_sigmoid", name="clstm_state")(a)
    d = L.ConvLSTM1D(4, 3, dilation_rate=2, padding="same", return_sequences=True, go_backwards=True,
                     name="clstm1d_seq")(rows)
    e = L.ConvLSTM1D(2, 2, use_bias=False, activation="relu", name="clstm1d")(d)
    volumes = k.Input((2, 4, 4, 3, 2), name="volumes")
    f = L.ConvLSTM3D(2, 2, padding="same", return_sequences=True, name="clstm3d_seq")(volumes)
    g = L.ConvLSTM3D(3, (2, 2, 1), strides=(2, 1, 1), name="clstm3d")(f)
    return k.Model([frames, rows, volumes], [L.Concatenate(name="states")([L.Flatten()(t) for t in (b, h, c)]), d, e,
                                             g])


def lookups(k):
    L = k.layers
    ids = k.Input((3,), dtype="int32", name="ids")
    one = k.Input((1,), dtype="int32", name="one_id")
    x = k.Input((4,), name="x")
    encoded = [L.CategoryEncoding(12, output_mode="multi_hot", name="multi_hot")(ids),
               L.CategoryEncoding(12, output_mode="count", name="count")(ids),
               L.CategoryEncoding(12, output_mode="one_hot", name="one_hot")(one)]
    outputs = [L.Concatenate(name="encoded")(encoded)]
    if k is keras:  # tf_keras saves these layers with an int64 dtype, which the lowering leaves to TensorFlow
        outputs += [L.Discretization(bin_boundaries=[-1.0, -0.25, 0.0, 0.5, 1.5], name="buckets")(x),
                    L.Discretization(bin_boundaries=[0.0, 1.0], output_mode="one_hot", name="bucket_hot")(x),
                    L.IntegerLookup(vocabulary=[3, 7, 1, 11, 0], name="lookup")(ids),
                    L.IntegerLookup(vocabulary=[5, 2, 9], mask_token=0, name="masked_lookup")(ids),
                    # Keras 3 drops ids >= num_tokens (as the lowering does; negative ids make it raise)
                    L.CategoryEncoding(8, output_mode="count", name="count_in_range")(ids)]
        signed = k.Input((6,), dtype="int32", name="signed_ids")
        outputs += _lookups_from_vocabulary(k, signed)
        return k.Model([ids, one, x, signed], outputs)
    return k.Model([ids, one, x], outputs)


def _lookups_from_vocabulary(k, ids):
    """``vocabulary=other.get_vocabulary()``: Keras strips the leading mask and OOV tokens it lists."""
    L = k.layers
    dtype = {} if k is keras else {"dtype": "int32"}
    plain = L.IntegerLookup(vocabulary=[5, 7, 2], **dtype)
    masked = L.IntegerLookup(vocabulary=[5, 7, 2], mask_token=0, **dtype)
    return [L.IntegerLookup(vocabulary=plain.get_vocabulary(), name="from_vocab", **dtype)(ids),
            L.IntegerLookup(vocabulary=masked.get_vocabulary(), mask_token=0, name="masked_from_vocab", **dtype)(ids),
            # not leading, the OOV token is an ordinary token to Keras
            L.IntegerLookup(vocabulary=[5, -1, 7], name="oov_token_inside", **dtype)(ids)]


def gated_windowed_attention(k):
    """Keras 3's ``use_gate`` and ``sliding_window`` (windows 2, 4 and 6 on 4 query steps: shorter than, equal to and
    longer than the sequence), alone and with causal, attention and Keras masks, on the fused and explicit paths."""
    L = k.layers
    q = k.Input((4, 6), name="query")
    v = k.Input((5, 6), name="value")
    key = k.Input((5, 3), name="key")
    mask = k.Input((4, 5), dtype="bool", name="mask")
    self_mask = k.Input((4, 4), dtype="bool", name="self_mask")
    padded = k.Input((4, 6), name="padded")  # steps of zeros, masked by Masking
    float_mask = k.Input((4, 5), name="float_mask")  # alone, GQA's explicit path keeps its entries > 0.5
    masked_q = L.Masking(0.0, name="masking")(padded)
    mha, gqa = L.MultiHeadAttention, L.GroupQueryAttention
    outputs = [
        mha(2, 3, sliding_window=2, name="window_short")(q, q),
        mha(2, 3, sliding_window=4, name="window_equal")(q, q, use_causal_mask=True),
        mha(2, 3, sliding_window=6, name="window_long")(q, q, attention_mask=self_mask, use_causal_mask=True),
        mha(2, 3, value_dim=2, sliding_window=2, use_gate=True, name="gated_cross")(q, v, key, attention_mask=mask),
        mha(1, 2, use_gate=True, use_bias=False, output_shape=5, name="gated_plain")(q, v),
        mha(2, 2, sliding_window=3, use_gate=True, dropout=0.2, name="explicit")(q, q, attention_mask=self_mask),
        gqa(3, 4, 2, sliding_window=2, use_gate=True, name="gqa_gated_window")(q, v, attention_mask=mask),
        gqa(2, 3, 1, sliding_window=4, name="gqa_causal_window")(q, q, use_causal_mask=True),
        gqa(2, 2, 2, sliding_window=6, use_gate=True, use_bias=False, name="gqa_long")(q, q, attention_mask=self_mask,
                                                                                        use_causal_mask=True)]
    scored, scores = mha(2, 2, sliding_window=2, use_gate=True, name="scored")(q, q, attention_mask=self_mask,
                                                                              return_attention_scores=True)
    gqa_scored, gqa_scores = gqa(2, 3, 1, sliding_window=3, use_gate=True, name="gqa_scored")(
        q, v, use_causal_mask=True, return_attention_scores=True)
    keras_masked = mha(2, 3, sliding_window=2, name="keras_mask")(masked_q, masked_q)  # keeps the query's mask
    float_masked, float_scores = gqa(2, 3, 1, name="gqa_float_mask")(q, v, attention_mask=float_mask,
                                                                     return_attention_scores=True)
    flat = [L.Flatten(name=f"flat_{i}")(o) for i, o in enumerate([*outputs, scored, gqa_scored, float_masked])]
    return k.Model([q, v, key, mask, self_mask, padded, float_mask],
                   [L.Concatenate(name="out")(flat), scores, gqa_scores, keras_masked, float_scores])


FAMILIES = {"multi_head_attention": multi_head_attention, "dot_attention": dot_attention, "wrappers": wrappers,
            "conv_lstm": conv_lstm, "lookups": lookups, "gated_windowed_attention": gated_windowed_attention}
CASES = [(family, "keras3.keras") for family in FAMILIES] + [("gated_windowed_attention", "keras3.h5"),
    ("multi_head_attention", "tf_keras.h5"), ("dot_attention", "tf_keras.h5"), ("multi_head_attention", "keras3.h5"),
    ("wrappers", "tf_keras.h5"), ("conv_lstm", "tf_keras.h5"), ("lookups", "tf_keras.h5")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for t in model.inputs:
        shape = (2, *tuple(t.shape)[1:])
        dtype = str(getattr(t.dtype, "name", t.dtype))
        name = t.name.split(":")[0]
        if "mask" in name:  # attention masks (bool, int or float): every query step keeps its first key step
            value = (rng.random(shape) > 0.4) * rng.choice([1.0, 0.3, 3.0], shape)
            value[..., 0] = 1
            value[0, 1] = 0  # but one: a fully masked row, where the Keras 3 fused / explicit and tf_keras styles differ
            value = value.astype(dtype)
        elif name == "signed_ids":  # the OOV token -1, the mask token 0 and the vocabulary's ids, and others
            value = rng.integers(-2, 12, shape).astype(dtype)
            value[0, :6] = [-1, 0, 5, 7, 2, 9]
        elif "int" in dtype:
            value = rng.integers(0, 12, shape).astype(dtype)
        else:
            value = rng.standard_normal(shape).astype("float32")
            if name == "x":  # Discretization: TF's Bucketize puts NaN past the last boundary
                value[0, :3] = [np.nan, np.inf, -np.inf]
            if name == "padded":  # Masking drops these steps
                value[:, -1] = value[0, 1] = 0
        inputs[name] = value
    return inputs


_save = family_saver(FAMILIES, _inputs, seed=5)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "attention", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_layer_lowers_without_tensorflow_and_matches_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_options_the_lowering_does_not_cover_are_named():
    from tfjsconv.plugins.keras.lowering import layer_gaps

    L = keras.layers
    image = keras.Input((3, 4, 5, 2), name="frames")
    ids = keras.Input((3,), dtype="int32", name="ids")
    shared_cell = L.SimpleRNNCell(2, name="shared_cell")
    outputs = [L.TimeDistributed(L.Dense(2, activation="glu"), name="td_glu")(image),
               L.TimeDistributed(L.RNN([shared_cell, shared_cell]), name="td_rnn")(image),
               L.IntegerLookup(vocabulary=[1, 2], num_oov_indices=2, oov_method="farmhash", name="two_oov")(ids),
               L.IntegerLookup(vocabulary=[1, 2], output_mode="multi_hot", sparse=True, name="lookup_hot")(ids),
               L.IntegerLookup(name="adapted")(ids), L.Hashing(4, salt=3, name="hash")(ids)]
    gaps = layer_gaps(json.loads(keras.Model([image, ids], outputs).to_json()))
    assert gaps == ["'two_oov' (IntegerLookup: oov_method='farmhash' on integers (AsString))",
                    "'lookup_hot' (IntegerLookup: sparse=True)",
                    "'adapted' (IntegerLookup: a vocabulary outside its config (adapted or a file))",
                    "'hash' (Hashing: a salt (StringToHashBucketStrong, which TF.js lacks))"], gaps


def test_call_options_the_lowering_does_not_cover_are_refused_with_their_name(tmp_path):
    """Options seen only in a call (a mask whose positions are not the output's) are refused, named, with
    ``--loader=tensorflow`` as the way out."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = keras.layers
    frames = keras.Input((5, 4, 4, 2), name="frames")
    model = keras.Model(frames, L.ConvLSTM2D(2, 3, name="clstm")(L.Masking(name="mask")(frames)))
    model.save(tmp_path / "dynamic.keras")
    with pytest.raises(UsageError, match=r"'clstm' \(ConvLSTM2D\): a mask of shape \[None, 5, 4, 4\]") as err:
        tfjsconv.convert(tmp_path / "dynamic.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value.hint)
    assert not (tmp_path / "out").exists()


def _weights_model(k):
    L = k.layers
    q = k.Input((4, 6), name="query")
    rows = k.Input((3, 5, 2), name="rows")
    x = L.MultiHeadAttention(2, 3, name="mha")(q, q)
    y = L.ConvLSTM1D(2, 3, name="clstm")(rows)
    z = L.TimeDistributed(L.Dense(2, name="inner"), name="td")(q)
    return k.Model([q, rows], [x, y, z])


@pytest.mark.parametrize("edit,needle", [
    (lambda layers: layers["mha"].update(key_dim=4), "layer 'mha' (MultiHeadAttention) has a query kernel of shape "
                                                     "[6, 2, 3], expected [6, 2, 4]"),
    (lambda layers: layers["mha"].update(use_bias=False), "layer 'mha' (MultiHeadAttention) has 8 weights, but its "
                                                          "config needs 4"),
    (lambda layers: layers["clstm"].update(filters=3), "layer 'clstm' (ConvLSTM1D) has a kernel of shape [3, 2, 8], "
                                                       "expected [3, 2, 12]"),
    (lambda layers: layers["td"]["layer"]["config"].update(units=3), "layer 'td/inner' (Dense) has a kernel of shape "
                                                                     "[6, 2], expected [6, 3]"),
])
def test_weights_that_do_not_fit_the_config_are_refused(tmp_path, edit, needle):
    import tfjsconv
    from tfjsconv.errors import InputError
    from test_keras_lowering import _edit_config

    path = tmp_path / "model.h5"
    _weights_model(keras).save(path)
    _edit_config(path, edit)
    with pytest.raises(InputError) as err:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert needle in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.node
def test_tf_keras_lookup_of_a_vocabulary_with_its_special_tokens_matches(tmp_path, tfjs_runtime):
    """tf_keras strips ``get_vocabulary()``'s leading tokens too; its int layer dtype (which the walk leaves to
    TensorFlow) is edited to float32 so that the lowering reads tf_keras's own vocabulary config."""
    import tfjsconv
    from test_keras_lowering import _edit_config

    tf_keras = _module("tf_keras.h5")
    ids = tf_keras.Input((6,), dtype="int32", name="signed_ids")
    model = tf_keras.Model(ids, _lookups_from_vocabulary(tf_keras, ids))
    inputs = _inputs(model, 3)
    outputs = [np.asarray(o) for o in model(inputs["signed_ids"])]
    model.save(tmp_path / "lookups.h5")
    _edit_config(tmp_path / "lookups.h5",
                 lambda layers: [c.update(dtype="float32") for name, c in layers.items() if name != "signed_ids"])
    result = tfjsconv.convert(tmp_path / "lookups.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert result.details == [LOWERED]
    _verify(tmp_path / "out", inputs, outputs)


def test_lookup_vocabularies_keras_would_refuse_are_gaps():
    """A mask token past the leading special tokens makes Keras raise; only special tokens leave no vocabulary."""
    from tfjsconv.plugins.keras.lowering import layer_gaps

    ids = keras.Input((3,), dtype="int32", name="ids")
    outputs = [keras.layers.IntegerLookup(vocabulary=[5, 7], mask_token=0, name=name)(ids)
               for name in ("mask_inside", "only_special")]
    config = json.loads(keras.Model(ids, outputs).to_json())
    layers = {layer["config"]["name"]: layer["config"] for layer in config["config"]["layers"]}
    layers["mask_inside"]["vocabulary"] = [0, 5, -1, 7]  # not the [mask, oov] prefix
    layers["only_special"]["vocabulary"] = [0, -1]
    assert layer_gaps(config) == ["'mask_inside' (IntegerLookup: mask_token=0 inside its vocabulary)",
                                  "'only_special' (IntegerLookup: no vocabulary besides its mask and OOV tokens)"]


@pytest.mark.parametrize("flavor", ["tf_keras.h5"])  # Keras 3 casts it to bool: lowered (masks_s22)
def test_attention_masks_not_from_model_inputs_are_gaps(tmp_path, flavor):
    """``mask=[query_mask, value_mask]`` is lowered from bool model inputs (``test_keras_lowering_masks.py``) and bool
    tensors layers computed (``test_keras_lowering_masks_ops.py``); one the lowering computes as float32 (Identity /
    Activation cast their input) is a gap named with the layer (``--loader=tensorflow`` traces it)."""
    import h5py

    from tfjsconv.plugins.keras.lowering import Unsupported, h5_layer_weights, lower_model

    k = _module(flavor)
    q, v = k.Input((3, 2), name="query"), k.Input((4, 2), name="value")
    value_mask = k.Input((4,), dtype="bool", name="value_mask")
    kept = k.layers.Identity(name="kept")(value_mask) if k is keras else \
        k.layers.Activation("linear", name="kept")(value_mask)
    model = k.Model([q, v, value_mask], k.layers.Attention(name="att")([q, v], mask=[None, kept]))
    model.save(tmp_path / "model.h5")
    refused = r"'att' \(Attention\) is given a mask the lowering computes as float32"
    with h5py.File(tmp_path / "model.h5") as h5, pytest.raises(Unsupported, match=refused):
        lower_model(json.loads(h5.attrs["model_config"]), h5_layer_weights(h5), keras3=k is keras,
                    source="model.h5")