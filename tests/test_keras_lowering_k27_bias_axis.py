"""Keras 3 biases its TensorFlow backend adds on another axis than their own, lowered as its traced graph adds them.

Keras 3's TensorFlow backend takes ``ops.add(x, bias)`` for ``tf.nn.bias_add`` when the bias squeezes to one axis
as long as x's axis 1 or last axis *as known when the graph is traced* (:func:`.core.keras3_traced_bias_axis`):
a channels_first conv whose last axis is as long as its filters, an EinsumDense bias on a middle axis,
MultiHeadAttention / GroupedQueryAttention ``[heads, 1]`` biases when the steps equal the heads. The lowering
computes what ``--loader=tensorflow`` converts (the traced graph), and names each such layer in a warning.

Expected values come from Keras: over static sizes its eager call ``model(x)``, which adds these biases as the
traced graph does; over unknown sizes a ``tf.function`` trace of the model with the model's input signature (what
``--loader=tensorflow`` and ``model.export()`` trace), whose eager call differs at the sizes the test picks.
"""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import randomize
from keras_two_sizes import each_case, flat, keras_outputs, verify_runs
from test_keras_lowering import case_file, saved_and_converted

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


def static_sizes(k):
    """Every case over static sizes, one output each (the layer names what the bias is added on)."""
    L = k.layers
    cf = {"data_format": "channels_first"}
    seq, seq4, img = k.Input((3, 4), name="seq"), k.Input((4, 4), name="seq4"), k.Input((2, 5, 4), name="img")
    img3, grid = k.Input((3, 5, 4), name="img3"), k.Input((2, 2, 2), name="grid")
    vol, vol2 = k.Input((1, 3, 3, 3), name="vol"), k.Input((1, 2, 2, 2), name="vol2")
    wide, wide3 = k.Input((2, 4), name="wide"), k.Input((3, 4), name="wide3")
    seq5, grid4 = k.Input((3, 5), name="seq5"), k.Input((3, 2, 4), name="grid4")
    shared = L.Conv1D(2, 3, name="shared_conv1d", **cf)
    outputs = [
        shared(seq), shared(seq5),  # [B, 2, 2]: its last axis; [B, 2, 3]: the channels
        L.Conv1D(2, 3, activation="tanh", name="conv1d_last", **cf)(seq),  # [B, 2, 2]: its last axis
        L.Conv1D(2, 3, groups=2, name="conv1d_grouped_last", **cf)(seq4),
        L.Conv2D(3, 2, activation="softmax", name="conv2d_last", **cf)(img),  # [B, 3, 4, 3]
        L.Conv3D(2, 2, name="conv3d_last", **cf)(vol),  # [B, 2, 2, 2, 2]
        L.SeparableConv1D(2, 3, name="separable1d_last", **cf)(seq),
        L.SeparableConv2D(3, 2, name="separable2d_last", **cf)(img),
        L.DepthwiseConv1D(3, name="depthwise1d_last", **cf)(L.Reshape((2, 4))(seq4[:, :2])),
        L.DepthwiseConv2D(2, name="depthwise2d_last", **cf)(img3),
        L.Conv1DTranspose(4, 2, strides=2, name="transpose1d_last", **cf)(L.Reshape((2, 2))(grid[:, :, 0])),
        L.Conv2DTranspose(4, 2, strides=2, name="transpose2d_last", **cf)(grid),
        L.Conv3DTranspose(2, 1, name="transpose3d_last", **cf)(vol2),
        L.Conv2D(3, 2, name="conv2d_own", **cf)(L.ZeroPadding2D(((0, 0), (0, 1)), **cf)(img)),  # last 4: channels
        L.EinsumDense("abc,cde->abde", (3, 2, 2), bias_axes="d", name="einsum_last")(wide3),  # [B, 3, 2, 2]
        L.EinsumDense("abc,cde->abde", (2, 2, 3), bias_axes="d", name="einsum_axis1")(wide),  # [B, 2, 2, 3]
        L.EinsumDense("abc,cd->abd", (2, 1), bias_axes="d", name="einsum_unit_bias")(wide),  # squeezes to nothing
        L.MultiHeadAttention(2, 1, name="mha_key_dim_1")(wide, wide),  # steps 2 == heads 2
        L.MultiHeadAttention(2, 2, value_dim=1, use_gate=True, name="mha_value_dim_1")(wide, wide),
        L.MultiHeadAttention(3, 1, name="mha_own")(wide, wide),  # steps 2 != heads 3: the heads axis
        L.GroupQueryAttention(1, 2, 1, name="gqa_head_dim_1")(wide, wide),
        L.MultiHeadAttention(2, 1, name="mha_rank4_own")(grid4, grid4),  # axis 1 (3) != heads: on the heads
    ]
    return k.Model([seq, seq4, img, img3, grid, vol, vol2, wide, wide3, seq5, grid4], outputs)


def unknown_sizes(k):
    """The same layers over unknown sizes: the traced graph adds every bias on its own axis."""
    L = k.layers
    cf = {"data_format": "channels_first"}
    seq, img, img3 = k.Input((3, None), name="seq"), k.Input((2, None, None), name="img"), \
        k.Input((3, None, None), name="img3")
    grid, vol, wide = k.Input((2, None, None), name="grid"), k.Input((1, None, None, None), name="vol"), \
        k.Input((None, 4), name="wide")
    outputs = [
        L.Conv1D(2, 3, activation="tanh", name="conv1d", **cf)(seq),
        L.Conv2D(3, 2, name="conv2d", **cf)(img),
        L.Conv3D(2, 2, name="conv3d", **cf)(vol),
        L.SeparableConv2D(3, 2, name="separable2d", **cf)(img),
        L.DepthwiseConv2D(2, name="depthwise2d", **cf)(img3),
        L.Conv2DTranspose(4, 2, strides=2, name="transpose2d", **cf)(grid),
        L.EinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="d", name="einsum")(wide),
        L.MultiHeadAttention(2, 1, name="mha")(wide, wide),
        L.GroupQueryAttention(1, 2, 1, name="gqa")(wide, wide),
    ]
    return k.Model([seq, img, img3, grid, vol, wide], outputs)


FAMILIES = {"static_sizes": static_sizes, "unknown_sizes": unknown_sizes}
CASES = [("static_sizes", "keras3.keras"), ("unknown_sizes", "keras3.keras")]
#: Per family, each run's input shapes without the batch (unknown sizes: first where an eager call moves the biases).
RUNS = {"static_sizes": [[(3, 4), (4, 4), (2, 5, 4), (3, 5, 4), (2, 2, 2), (1, 3, 3, 3), (1, 2, 2, 2), (2, 4),
                          (3, 4), (3, 5), (3, 2, 4)]],
        "unknown_sizes": [[(3, 4), (2, 4, 4), (3, 4, 4), (2, 2, 2), (1, 3, 3, 3), (2, 4)],
                          [(3, 6), (2, 6, 6), (3, 6, 6), (2, 3, 3), (1, 4, 4, 4), (5, 4)]]}
#: What the eager calls gave (unknown sizes), beside the traced graph's outputs the runs expect.
EAGER: dict[str, list[list[np.ndarray]]] = {}


def traced_outputs(model, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The model traced as ``--loader=tensorflow`` traces it (batch unknown, the rest as its inputs say), run."""
    specs = [tf.TensorSpec([None, *t.shape[1:]], tf.float32) for t in model.inputs]
    fn = tf.function(lambda *args: model(list(args), training=False), input_signature=specs, autograph=False)
    return [np.asarray(o) for o in flat(fn(*[tf.constant(v) for v in inputs.values()]))]


def save(family: str, flavor: str, folder):
    model = FAMILIES[family](keras)
    randomize(model, 5)
    rng = np.random.default_rng(6)
    names = [t.name.split(":")[0] for t in model.inputs]
    runs = []
    for shapes in RUNS[family]:
        for batch in (1, 3):
            inputs = {n: rng.standard_normal((batch, *s)).astype("float32") for n, s in zip(names, shapes, strict=True)}
            if family == "static_sizes":
                runs.append((inputs, keras_outputs(model, inputs)))
            else:
                runs.append((inputs, traced_outputs(model, inputs)))
                EAGER.setdefault(family, []).append(keras_outputs(model, inputs))
    path = case_file(folder, family, flavor)
    model.save(path)
    return path, runs, None


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "k27_bias_axis", CASES, save)


@pytest.mark.node
@each_case(CASES)
def test_biases_match_the_traced_graph(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_unknown_sizes_pick_sizes_where_the_eager_call_differs(converted):
    """At the first sizes every output but the ones a bias_add cannot reach differs between the eager call and the
    traced graph (else the family would not exercise the quirk); at the second sizes they agree."""
    _, runs, _ = converted[("unknown_sizes", "keras3.keras")]
    eager = EAGER["unknown_sizes"]
    for (_, traced), called, moved in zip(runs, eager, (True, True, False, False)):
        differs = [not np.allclose(t, e, atol=1e-5) for t, e in zip(traced, called, strict=True)]
        assert differs == [moved] * len(traced), differs


def test_each_moved_bias_is_named_in_a_warning(tmp_path, caplog):
    import tfjsconv

    model = static_sizes(keras)
    model.save(tmp_path / "m.keras")
    with caplog.at_level("WARNING"):
        result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    moved = [d.split("'")[1] for d in result.details if "Keras 3's TensorFlow backend's traced graph" in d]
    assert moved == ["shared_conv1d", "conv1d_last", "conv1d_grouped_last", "conv2d_last", "conv3d_last", "separable1d_last",
                     "separable2d_last", "depthwise1d_last", "depthwise2d_last", "transpose1d_last",
                     "transpose2d_last", "transpose3d_last", "einsum_last", "einsum_axis1", "mha_key_dim_1",
                     "mha_value_dim_1", "gqa_head_dim_1"], result.details
    assert "'conv1d_last' (Conv1D): its bias (length 2) is added on the last axis" in caplog.text
    fused = [d for d in result.details if "graph optimizer fuses" in d]
    assert [d.split("'")[1] for d in fused] == ["shared_conv1d", "conv1d_last", "conv2d_last"]


def test_unknown_sizes_warn_of_the_eager_call(tmp_path):
    import tfjsconv

    unknown_sizes(keras).save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    eager = [d for d in result.details if "eager call" in d]
    assert [d.split("'")[1] for d in eager] == ["conv1d", "conv2d", "conv3d", "separable2d", "depthwise2d",
                                                "transpose2d", "einsum", "mha", "gqa"], result.details
    assert "'einsum' (EinsumDense): its bias (length 2) is added on axis 2" in eager[6]
    assert "adds it on axis 1 instead whenever that axis is 2 long at run time" in eager[6]


@pytest.mark.node
def test_rank4_attention_with_heads_as_axis1_lowers(tmp_path, tfjs_runtime):
    """A rank-4 query whose axis 1 is as long as the heads: Keras 3's TensorFlow backend adds the ``[heads, 1]``
    biases on that axis (``bias[i]`` at the positions ``i`` of axis 1); the lowering, which projects the positions
    folded, lays the bias out over the input's positions and folds it the same way (refused by name before; it
    emitted a wrong model before that). Against Keras's eager call, which the traced graph agrees with here."""
    import tfjsconv
    from test_keras_lowering import _verify

    inp = keras.Input((2, 3, 4), name="x")
    model = keras.Model(inp, keras.layers.MultiHeadAttention(2, 1, name="mha4")(inp, inp))
    randomize(model, 5)
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert any("'mha4' (MultiHeadAttention): its bias (length 2) is added on axis 1" in d for d in result.details)
    rng = np.random.default_rng(8)
    for batch in (1, 3):
        run = {"x": rng.standard_normal((batch, 2, 3, 4)).astype("float32")}
        _verify(tmp_path / "out", run, keras_outputs(model, run))
