"""Keras 3 models the lowering refused by name that ``--loader=tensorflow`` converts, lowered in session 13.

Keras 3 bias axes (:func:`.core.keras3_traced_bias_axis`): its TensorFlow backend adds a channels_first conv's bias on
the last axis when that axis is *known at trace time* to be as long as the filters. The lowering follows the sizes
TensorFlow's trace knows (:func:`.traced_shapes.traced_shape`): a size a broadcast merges in from another input stays known
through the layers that follow (a flip, a cumulative sum, a tile, normalizations, a softmax, padding, upsampling,
a reshape, a sort or top_k: TensorFlow evaluates their ``k = tf.shape(x)[axis]``), and a size a dilated convolution
over an unknown size forgets is known again once merged with a known tensor. Expected values: the model's ``tf.function`` trace (what ``--loader=tensorflow`` converts) with
TensorFlow's graph optimizer off (:func:`test_keras_lowering_rk27_merged_sizes.graph_outputs`), batch 1 and 3, at
an unknown length as long as the known one and at 1 (broadcast), TF.js cpu and wasm. A layer the lowering cannot
follow the sizes through (``ops.repeat``: a Reshape to run-time sizes) stays refused by name.
"""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import randomize
from test_keras_lowering import _verify
from test_keras_lowering_rk27_merged_sizes import graph_outputs

keras = pytest.importorskip("keras")
cf = {"data_format": "channels_first"}

#: Layers between ``Add([a: (3, None), b: (3, 4)])`` and a channels_first ``Conv1D(4, 1)``: TensorFlow knows the
#: merged length 4 through each, so the conv's bias goes on the last axis.
AFTER_A_MERGE = {
    "flip": lambda k, y: k.ops.flip(y, axis=1),
    "cumsum": lambda k, y: k.ops.cumsum(y, axis=2),
    "tile": lambda k, y: k.ops.tile(y, (1, 1, 1)),
    "layer_norm": lambda k, y: k.layers.LayerNormalization(axis=1)(y),
    "softmax": lambda k, y: k.layers.Softmax(axis=1)(y),
    "batch_norm": lambda k, y: k.layers.BatchNormalization(axis=1)(y),
    "gelu": lambda k, y: k.layers.Activation("gelu")(y),
    "zero_padding": lambda k, y: k.layers.Permute((2, 1))(k.layers.ZeroPadding1D(0)(k.layers.Permute((2, 1))(y))),
    "upsampling": lambda k, y: k.layers.Permute((2, 1))(k.layers.UpSampling1D(1)(k.layers.Permute((2, 1))(y))),
    "reshape": lambda k, y: k.layers.Reshape((3, 4))(y),
    # TensorFlow's sort is top_k with k = tf.shape(x)[axis], which its shape inference evaluates (session 14)
    "sort_last": lambda k, y: k.ops.sort(y, axis=-1),
    "sort_axis_1": lambda k, y: k.ops.sort(y, axis=1),
    "top_k": lambda k, y: k.ops.top_k(y, 4)[0],
}


def _after_a_merge(k):
    a, b = k.Input((3, None), name="a"), k.Input((3, 4), name="b")
    y = k.layers.Add()([a, b])
    return k.Model([a, b], [k.layers.Conv1D(4, 1, name=f"conv_{name}", **cf)(f(k, y))
                            for name, f in AFTER_A_MERGE.items()])


def _merged_after_dilated(k):
    """A dilated conv's sizes forgotten (TensorFlow: unknown; the lowering knew 2), then known again from a static
    tensor added to it: the next conv's bias goes on the last axis (2 long) in the traced graph; the dilated conv's
    own on the channels."""
    x, s = k.Input((3, None, 6), name="x"), k.Input((2, 2, 2), name="s")
    dilated = k.layers.Conv2D(2, 3, dilation_rate=2, name="dilated", **cf)(x)
    return k.Model([x, s], [dilated, k.layers.Conv2D(2, 1, name="conv", **cf)(k.layers.Add()([dilated, s]))])


def _runs(model, lengths, rng):
    names = [t.name.split(":")[0] for t in model.inputs]
    for length in lengths:
        for batch in (1, 3):
            yield {n: rng.standard_normal((batch, *[length if d is None else d for d in t.shape[1:]])).astype("float32")
                   for n, t in zip(names, model.inputs)}


@pytest.mark.node
@pytest.mark.parametrize("build,lengths,moved", [(_after_a_merge, (4, 1), [f"conv_{n}" for n in AFTER_A_MERGE]),
                                                 (_merged_after_dilated, (6, 5), ["conv"])],
                         ids=["after_a_merge", "merged_after_dilated"])
def test_sizes_tensorflow_knows_are_followed_through_other_layers(tmp_path, tfjs_runtime, build, lengths, moved):
    import tfjsconv

    model = build(keras)
    randomize(model, 12)
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    last = [d.split("'")[1] for d in result.details if "is added on the last axis" in d]
    assert last == moved, result.details
    for run in _runs(model, lengths, np.random.default_rng(13)):
        _verify(tmp_path / "out", run, graph_outputs(model, run))


def test_a_size_the_lowering_cannot_follow_stays_refused(tmp_path):
    """``ops.repeat`` lowers to a Reshape to run-time sizes: whether TensorFlow's trace keeps the merged length
    through ``tf.repeat`` is not followed, and the bias rests on it: refused by name."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    a, b = keras.Input((3, None), name="a"), keras.Input((3, 4), name="b")
    y = keras.ops.repeat(keras.layers.Add()([a, b]), 1, axis=2)
    keras.Model([a, b], keras.layers.Conv1D(4, 1, name="conv", **cf)(y)).save(tmp_path / "m.keras")
    with pytest.raises(UsageError, match=r"'conv' \(Conv1D\): .*TensorFlow may know a size the lowering leaves "
                                         r"unknown there \(merged from another tensor by AddV2 .*\), which the "
                                         r"lowering cannot follow through Reshape "):
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")


# -- MultiHeadAttention key_dim / value_dim 1 over a rank-4+ query whose axis 1 is as long as the heads ---------------
def _mha_rank4(**config):
    """Keras 3's TensorFlow backend adds the ``[heads, 1]`` biases of the projections ``[batch, A1, .., heads, 1]``
    on their axis 1 (A1 == heads), the eager call as the traced graph: ``bias[i]`` at every position ``i`` of the
    input's axis 1, whatever head. The lowering folds the positions (other ``attention_axes``) before projecting, so
    the bias is laid out over the input's positions and folded the same way."""
    def build(k):
        options = dict(config)
        shape = options.pop("shape", (2, 3, 4))
        x = k.Input(shape, name="x")
        value = k.Input((2, *shape[1:-1], 5), name="v") if options.pop("other_value", False) else x
        layer = k.layers.MultiHeadAttention(2, options.pop("key_dim", 1), name="mha", **options)
        return k.Model([x, value] if value is not x else x, layer(x, value))
    return build


MHA_RANK4 = {
    "default_axes": _mha_rank4(),
    "axis_2": _mha_rank4(attention_axes=(2,)),  # axis 1 folds into the batch
    "axis_1": _mha_rank4(attention_axes=(1,)),  # axis 2 folds into the batch
    "value_dim_1_gate": _mha_rank4(key_dim=3, value_dim=1, use_gate=True, attention_axes=(2,)),
    "other_value": _mha_rank4(other_value=True, output_shape=(2,)),
    "rank5": _mha_rank4(shape=(2, 2, 3, 4), attention_axes=(2, 3)),
    "over_heads": _mha_rank4(attention_axes=(3,)),  # Keras 3's rank - 1: the heads axis of the projections
    "unknown_length": _mha_rank4(shape=(2, None, 4), attention_axes=(2,)),
}


@pytest.mark.node
@pytest.mark.parametrize("family", list(MHA_RANK4))
def test_rank4_attention_biases_on_axis_1_lower(tmp_path, tfjs_runtime, family):
    """Against Keras's eager call (batch 1 and 3; over an unknown length at two lengths), which the traced graph
    (TensorFlow's graph optimizer off) agrees with. It was refused by name before."""
    import tfjsconv
    from keras_two_sizes import keras_outputs

    model = MHA_RANK4[family](keras)
    randomize(model, 14)
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert any("'mha' (MultiHeadAttention): its bias (length 2) is added on axis 1" in d for d in result.details), \
        result.details
    for run in _runs(model, (3, 5), np.random.default_rng(15)):
        expected = keras_outputs(model, run)
        np.testing.assert_allclose(graph_outputs(model, run)[0], expected[0], rtol=1e-5, atol=1e-6)
        _verify(tmp_path / "out", run, expected)


# -- Keras 3 nested models reading a mask after MultiHeadAttention deleted it ------------------------------------------
# Keras 3's MultiHeadAttention deletes its inputs' masks on the tensors it is given at run time
# (:class:`.model_plan.MaskDeletions`). Found by the random-model bench (``keras3_keras-10100105``,
# ``keras3_keras-20100027``, minimized by hand here).
def _nested_after_deletion(k, keeps_mask=False):
    """A nested Sequential called with no recorded mask after the attention: Keras runs it on its unmasked input
    (its GlobalAveragePooling1D averages every step), and its output carries no mask either way (``keeps_mask``: one
    whose output would carry the mask the walk tracks; Keras leaves it none at run time, which the calls after it
    read: lowered since session 14)."""
    L = k.layers
    x = k.Input((4, 4), name="x")
    masked = L.Masking(0.0, name="masking")(x)
    scaled = k.Sequential([k.Input((4, 4)), L.Rescaling(0.5, 0.25)], name="scaled")(masked)
    attended = L.MultiHeadAttention(1, 3, name="mha")(scaled, scaled)
    inner = [L.Rescaling(2.0)] if keeps_mask else [L.GlobalAveragePooling1D()]
    pooled = k.Sequential([k.Input((4, 4)), *inner], name="pooled")(scaled)
    return k.Model(x, [pooled, attended])


def _recorded_mask_set_again(k, read_later=False):
    """A nested Functional model Keras hands its recorded mask after the attention deleted it (it averages the
    unmasked steps); Keras sets that mask on the tensor again, which no later call reads here (``read_later``: a
    MultiHeadAttention after it does, and sees it: followed since session 14)."""
    L = k.layers
    x = k.Input((4, 3), name="x")
    masked = L.Masking(0.0, name="masking")(x)
    after = L.MultiHeadAttention(1, 3, name="mha")(masked, masked)
    for i in range(3 if read_later else 1):  # the attention runs first, deeper than the nested model
        after = L.Dense(2, name=f"after_{i}")(after)
    i = k.Input((4, 3))
    inner = k.Model(i, L.GlobalAveragePooling1D()(i), name="inner")(masked)
    outputs = [inner, after]
    if read_later:
        outputs.append(L.MultiHeadAttention(1, 2, name="later")(masked, L.RepeatVector(4)(inner)))
    return k.Model(x, outputs)


@pytest.mark.node
@pytest.mark.parametrize("build,options", [(_nested_after_deletion, {}), (_nested_after_deletion, {"keeps_mask": True}),
                                           (_recorded_mask_set_again, {}),
                                           (_recorded_mask_set_again, {"read_later": True})],
                         ids=["nested_after_deletion", "keeps_mask", "recorded_mask_set_again", "read_later"])
def test_nested_models_reading_a_deleted_mask_lower(tmp_path, tfjs_runtime, build, options):
    """Against Keras's eager call, inputs with a masked (all-zero) step, batch 1 and 3. Refused by name before
    (``keeps_mask`` and ``read_later`` until session 14: more such cases in
    ``test_keras_lowering_s14_deleted_masks.py``)."""
    import tfjsconv
    from keras_two_sizes import keras_outputs

    model = build(keras, **options)
    randomize(model, 16)
    model.save(tmp_path / "m.keras")
    tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    rng = np.random.default_rng(17)
    for batch in (1, 3):
        x = rng.standard_normal((batch, *model.inputs[0].shape[1:])).astype("float32")
        x[:, 2] = 0.0
        _verify(tmp_path / "out", {"x": x}, keras_outputs(model, {"x": x}))
