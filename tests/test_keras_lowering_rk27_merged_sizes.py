"""Keras 3 biases whose axis TensorFlow's trace picks from a size the lowering does not know as it does.

Keras 3's TensorFlow backend adds a channels_first conv's (an EinsumDense's, a ``key_dim`` 1 attention's) bias on
the last axis or axis 1 when that axis is *known at trace time* to be as long as the bias
(:func:`.core.keras3_traced_bias_axis`). TensorFlow's shape inference merges sizes: ``[B, 3, ?] + [B, 3, 4]`` (a
merge layer, an op layer) and the non-joined axes of a concatenation are known to be 4, where the lowering's own
sizes leave them unknown (it added these biases on their own axis once: a wrong model, silently; then refused
them). The other way round, a dilated 2-D/3-D convolution over an unknown spatial size runs through
``space_to_batch`` in TensorFlow, whose trace then knows none of its spatial sizes, where the lowering knows some
(it refused the bias it moved for them). The lowering now follows the sizes TensorFlow's trace knows
(:func:`.traced_shapes.traced_shape`) and adds each bias where the traced graph does: compared with a ``tf.function``
trace of the model (what ``--loader=tensorflow`` converts) at batch 1 and 3, TF.js cpu and wasm. What it cannot
follow stays refused by name. A merge that brings no known size in (both unknown, or the known input first), a
dilated conv over static sizes and a dilated Conv1D lower, to Keras's numbers.
"""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import randomize
from keras_two_sizes import keras_outputs
from test_keras_lowering import _verify
from test_keras_lowering_k27_bias_axis import traced_outputs

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
cf = {"data_format": "channels_first"}


def graph_outputs(model, inputs):
    """The model's ``tf.function`` trace (:func:`traced_outputs`: what ``--loader=tensorflow`` converts) run with
    TensorFlow's graph optimizer off: the traced graph's own numbers (the optimizer fuses a channels_first
    Conv1D/Conv2D's ``bias_add`` into the convolution on the channels, whatever axis the graph adds it on)."""
    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        return traced_outputs(model, inputs)
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


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


#: Per family, the lengths of the unknown axis each run gives (1: broadcast against the known one, where it can).
MERGED_LENGTHS = {"add": (4, 1), "multiply": (1, 4), "concatenate": (4,), "op_add": (4, 1), "op_where": (1, 4),
                  "op_stack": (4,), "attention": (2, 1), "einsum": (1, 2)}
#: Where each family's bias goes in the traced graph (TensorFlow knows the merged size).
MERGED_WHERE = {"attention": ("mha", "MultiHeadAttention", 2, "axis 1"),
                "einsum": ("einsum", "EinsumDense", 2, "axis 1")}


def _runs(model, lengths, rng):
    """Inputs at batch 1 and 3 for each unknown length (an input called ``b`` keeps its own sizes)."""
    names = [t.name.split(":")[0] for t in model.inputs]
    runs = []
    for length in lengths:
        for batch in (1, 3):
            run = {}
            for name, t in zip(names, model.inputs):
                shape = [length if d is None else d for d in t.shape[1:]]
                run[name] = rng.standard_normal((batch, *shape)).astype("float32")
            runs.append(run)
    return runs


@pytest.mark.node
@pytest.mark.parametrize("family", list(MERGED))
def test_a_size_tensorflow_merges_in_lowers_as_traced(tmp_path, tfjs_runtime, family):
    """The merged size is known to the lowering as to TensorFlow's trace, so the bias goes where the traced graph
    adds it: on the last axis (4 long: the conv's filters) or on axis 1 (the steps / EinsumDense's middle axis).
    It was refused by name before."""
    import tfjsconv

    model = MERGED[family](keras)
    randomize(model, 8)
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    name, cls, size, where = MERGED_WHERE.get(family, ("conv", "Conv1D", 4, "the last axis"))
    assert any(f"'{name}' ({cls}): its bias (length {size}) is added on {where}" in d for d in result.details), \
        result.details
    for run in _runs(model, MERGED_LENGTHS[family], np.random.default_rng(9)):
        _verify(tmp_path / "out", run, graph_outputs(model, run))


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


def _depthwise_dilated(k):
    x = k.Input((2, None, 6), name="x")
    return k.Model(x, k.layers.DepthwiseConv2D(3, dilation_rate=2, name="conv", **cf)(x))


def _conv3d_dilated(k):
    x = k.Input((1, 5, None, 6), name="x")
    return k.Model(x, k.layers.Conv3D(2, 3, dilation_rate=2, name="conv", **cf)(x))


def _after_dilated_conv1d(k):
    """A dilated Conv1D (lowered as a 2-D one over a height of 1, which TensorFlow's trace would not know) upstream
    of a moved bias: TensorFlow's own Conv1D loses no size, nor does the lowering once its Squeeze drops that
    height: the bias goes on the last axis (4 long), as in the traced graph. (``s`` has 5 rows: Keras 3's eager
    ``ops.add`` of a ``[3, 1, 1]`` mean takes it for a bias of axis 1 when that axis is 3 long, the batch.)"""
    x, s = k.Input((None, 3), name="x"), k.Input((5, 4), name="s")
    dilated = k.layers.Conv1D(2, 3, dilation_rate=2)(x)
    y = k.ops.add(s, k.ops.mean(dilated, axis=(1, 2), keepdims=True))
    return k.Model([x, s], k.layers.Conv1D(4, 1, name="conv", **cf)(y))


#: Per family: the runs' unknown lengths, and where the traced graph adds the bias.
DILATED = {"dilated": (_dilated, (5, 7), "Conv2D", "axis 1"),
           "after_dilated": (_after_dilated, (5, 6), "Conv2D", "axis 1"),
           "separable_dilated": (_separable_dilated, (5, 8), "SeparableConv2D", "axis 1"),
           "depthwise_dilated": (_depthwise_dilated, (5, 6), "DepthwiseConv2D", "axis 1"),
           "conv3d_dilated": (_conv3d_dilated, (5, 6), "Conv3D", "axis 1"),
           "after_dilated_conv1d": (_after_dilated_conv1d, (5, 9), "Conv1D", "the last axis")}


@pytest.mark.node
@pytest.mark.parametrize("family", list(DILATED))
def test_a_size_tensorflow_loses_in_a_dilated_convolution_lowers_as_traced(tmp_path, tfjs_runtime, family):
    """TensorFlow's trace knows no spatial size of a dilated 2-D/3-D convolution over an unknown one, so its bias
    (and a later one that reads those sizes) stays on the channels, where the eager call moves it to the last axis
    (2 long: the filters); the lowering forgets those sizes as the trace does. They were refused by name before."""
    import tfjsconv

    build, lengths, cls, where = DILATED[family]
    model = build(keras)
    randomize(model, 10)
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert any(f"'conv' ({cls}): its bias" in d and f"is added on {where}" in d for d in result.details), \
        result.details
    runs = _runs(model, lengths, np.random.default_rng(11))
    moved = []
    for run in runs:
        expected = graph_outputs(model, run)
        moved.append(not np.allclose(expected[0], keras_outputs(model, run)[0], atol=1e-5))
        _verify(tmp_path / "out", run, expected)
    assert moved == [where == "axis 1"] * len(runs), moved  # else the family would not tell the two axes apart


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
