"""Keras 3 biases whose axis TensorFlow's trace picks from a size the lowering does not know as it does.

Keras 3's TensorFlow backend adds a channels_first conv's (an EinsumDense's, a ``key_dim`` 1 attention's) bias on
the last axis or axis 1 when that axis is *known at trace time* to be as long as the bias
(:func:`.core.keras3_traced_bias_axis`). TensorFlow's shape inference merges sizes: ``[B, 3, ?] + [B, 3, 4]`` (a
merge layer, an op layer) and the non-joined axes of a concatenation are known to be 4, where the lowering left
them unknown and added these biases on their own axis: a wrong model, silently. The other way round, a dilated
2-D/3-D convolution over an unknown spatial size runs through ``space_to_batch`` in TensorFlow, whose trace then
knows none of its spatial sizes, where the lowering knew some and moved a bias for them. Such layers are refused
by name; a merge that brings no known size in (both unknown, or the known input first), a dilated conv over static
sizes and a dilated Conv1D still lower, to Keras's numbers.
"""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import randomize
from keras_two_sizes import keras_outputs
from test_keras_lowering import _verify

keras = pytest.importorskip("keras")
cf = {"data_format": "channels_first"}


def _conv_after(merge):
    def build(k):
        a, b = k.Input((3, None), name="a"), k.Input((3, 4), name="b")
        return k.Model([a, b], k.layers.Conv1D(4, 1, name="conv", **cf)(merge(k, a, b)))
    return build


def _attention_after_add(k):
    a, b = k.Input((None, 4), name="a"), k.Input((2, 4), name="b")
    return k.Model([a, b], k.layers.MultiHeadAttention(2, 1, name="mha")(k.layers.Add()([a, b]), b))


def _einsum_after_add(k):
    a, b = k.Input((None, 4), name="a"), k.Input((2, 4), name="b")
    dense = k.layers.EinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="d", name="einsum")
    return k.Model([a, b], dense(k.layers.Add()([a, b])))


MERGED = {
    "add": _conv_after(lambda k, a, b: k.layers.Add()([a, b])),
    "multiply": _conv_after(lambda k, a, b: k.layers.Multiply()([a, b])),
    "concatenate": _conv_after(lambda k, a, b: k.layers.Concatenate(axis=1)([a, b])),
    "op_add": _conv_after(lambda k, a, b: k.ops.add(a, b)),
    "op_where": _conv_after(lambda k, a, b: k.ops.where(k.ops.greater(b, 0), a, b)),
    "op_stack": _conv_after(lambda k, a, b: k.ops.stack([a, b], axis=1)[:, 0]),
    "attention": _attention_after_add,
    "einsum": _einsum_after_add,
}


@pytest.mark.parametrize("family", list(MERGED))
def test_a_size_tensorflow_merges_in_is_refused_by_name(tmp_path, family):
    import tfjsconv
    from tfjsconv.errors import UsageError

    MERGED[family](keras).save(tmp_path / "m.keras")
    with pytest.raises(UsageError, match=r"TensorFlow may know a size the lowering leaves unknown there \(merged "
                                         r"from another tensor by (AddV2|Mul|ConcatV2|SelectV2|Pack) "):
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")


def _known_first(k):
    """The known input first in a concatenation: the lowering knows the joined tensor's sizes, as TensorFlow does."""
    a, b = k.Input((3, None), name="a"), k.Input((3, 4), name="b")
    return k.Model([a, b], k.layers.Conv1D(4, 1, name="conv", **cf)(k.layers.Concatenate(axis=1)([b, a])))


def _both_unknown(k):
    """Two unknown lengths added: unknown to TensorFlow's trace too (the bias goes on the channels)."""
    a, c = k.Input((3, None), name="a"), k.Input((3, None), name="c")
    return k.Model([a, c], k.layers.Conv1D(4, 1, name="conv", **cf)(k.layers.Add()([a, c])))


@pytest.mark.node
@pytest.mark.parametrize("family,lengths,where", [(_known_first, (4,), "the last axis"),
                                                  (_both_unknown, (5, 6), "axis 1")], ids=["known_first", "unknown"])
def test_merges_without_a_known_size_still_lower(tmp_path, tfjs_runtime, family, lengths, where):
    """Compared with Keras's eager call at lengths where it adds the bias as the traced graph does (a known length;
    an unknown one other than the filters)."""
    import tfjsconv

    model = family(keras)
    randomize(model, 4)
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert any(f"'conv' (Conv1D): its bias (length 4) is added on {where}" in d for d in result.details), \
        result.details
    rng = np.random.default_rng(5)
    names = [t.name.split(":")[0] for t in model.inputs]
    for batch, length in zip((1, 3), lengths * 2):
        run = {n: rng.standard_normal((batch, 3, 4 if n == "b" else length)).astype("float32") for n in names}
        _verify(tmp_path / "out", run, keras_outputs(model, run))


def test_an_einsum_bias_that_fits_no_output_axis_is_refused(tmp_path):
    """A file whose EinsumDense bias has more axes than the output (Keras cannot load it) is refused by name; it was
    reshaped to the bias's length and added on the last axis."""
    import h5py

    import tfjsconv
    from tfjsconv.errors import InputError

    x = keras.Input((3, 4), name="x")
    path = tmp_path / "m.h5"
    keras.Model(x, keras.layers.EinsumDense("abc,cde->abde", (3, 2, 2), bias_axes="d", name="e")(x)).save(path)
    with h5py.File(path, "r+") as f:
        names: list[str] = []
        f.visit(lambda n: names.append(n) if n.endswith("bias") or "bias:" in n else None)
        name = next(n for n in names if isinstance(f[n], h5py.Dataset))
        del f[name]
        f[name] = np.ones((2, 1, 1, 1, 1), "float32")
    with pytest.raises(InputError, match=r"'e' \(EinsumDense\) has a bias of shape \[2, 1, 1, 1, 1\] for an output "
                                         r"of shape \[None, 3, 2, 2\]"):
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")


def _dilated(k):
    """A dilated channels_first Conv2D over a partly unknown size: its last axis (6 - 4 = 2) is as long as its
    filters, but TensorFlow's ``tf.nn.convolution`` runs it through ``space_to_batch`` and its trace knows no
    spatial size: the traced graph adds the bias on the channels, the lowering (knowing 2) added it on the last
    axis."""
    x = k.Input((3, None, 6), name="x")
    return k.Model(x, k.layers.Conv2D(2, 3, dilation_rate=2, name="conv", **cf)(x))


def _after_dilated(k):
    """The same lost size, read by the next layer: the dilated conv's height (6 - 4 = 2) made its last axis."""
    x = k.Input((3, 6, None), name="x")
    y = k.layers.Permute((1, 3, 2))(k.layers.Conv2D(2, 3, dilation_rate=2, **cf)(x))
    return k.Model(x, k.layers.Conv2D(2, 1, name="conv", **cf)(y))


def _separable_dilated(k):
    x = k.Input((3, None, 6), name="x")
    return k.Model(x, k.layers.SeparableConv2D(2, 3, dilation_rate=2, name="conv", **cf)(x))


@pytest.mark.parametrize("family", [_dilated, _after_dilated, _separable_dilated],
                         ids=["dilated", "after_dilated", "separable_dilated"])
def test_a_size_tensorflow_loses_in_a_dilated_convolution_is_refused_by_name(tmp_path, family):
    import tfjsconv
    from tfjsconv.errors import UsageError

    family(keras).save(tmp_path / "m.keras")
    with pytest.raises(UsageError, match=r"'conv' \((Conv2D|SeparableConv2D)\): .* on the last axis only when .*"
                                         r"does not know the sizes of a dilated convolution over unknown sizes"):
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")


@pytest.mark.node
def test_dilated_convolutions_that_keep_their_sizes_still_lower(tmp_path, tfjs_runtime):
    """Over static sizes TensorFlow knows the dilated conv's sizes (bias on the last axis, as the eager call); a
    Conv1D over an unknown length keeps its bias on the channels (eager agrees at length 7, not 4 + 2)."""
    import tfjsconv

    a, b = keras.Input((3, 6, 6), name="a"), keras.Input((3, None), name="b")
    model = keras.Model([a, b], [keras.layers.Conv2D(2, 3, dilation_rate=2, name="static", **cf)(a),
                                 keras.layers.Conv1D(4, 2, dilation_rate=2, name="unknown", **cf)(b)])
    randomize(model, 6)
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert any("'static' (Conv2D): its bias (length 2) is added on the last axis" in d for d in result.details)
    assert any("'unknown' (Conv1D): its bias (length 4) is added on axis 1" in d for d in result.details)
    rng = np.random.default_rng(7)
    for batch in (1, 2):
        run = {"a": rng.standard_normal((batch, 3, 6, 6)).astype("float32"),
               "b": rng.standard_normal((batch, 3, 7)).astype("float32")}
        _verify(tmp_path / "out", run, keras_outputs(model, run))
