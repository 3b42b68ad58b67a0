"""Regressions found by the random-model bench (``bench/keras_random_models.py``), each reduced to a few layers.

As in ``test_keras_lowering.py``: models with random weights, saved by Keras, converted through the lowering in a
process where TensorFlow, Keras and tf_keras cannot be imported, and run in real TF.js (cpu and wasm); expected
values are Keras's own ``model(x, training=False)``. The batch equals the steps (3) on purpose: a merge that
broadcast a lower-rank input from the right would pair the batch with the steps and run, silently wrong.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402

BATCH = 3


def merge_ranks(k):
    """Keras's merge layers expand a lower-rank input at axis 1 (``Merge.call``): ``[B, 4]`` with ``[B, 3, 4]``
    is ``[B, 1, 4]``, and ``[B, 4]`` with ``[B, 2, 3, 4]`` is ``[B, 1, 1, 4]``."""
    L = k.layers
    seq, vec, grid = k.Input((3, 4), name="seq"), k.Input((4,), name="vec"), k.Input((2, 3, 4), name="grid")
    outs = [L.Add(name="add")([seq, vec]), L.Subtract(name="sub")([vec, seq]), L.Multiply(name="mul")([seq, vec]),
            L.Average(name="avg")([vec, seq, seq]), L.Maximum(name="max")([seq, vec]),
            L.Minimum(name="min")([grid, vec]), L.Add(name="add3")([vec, seq, grid])]
    return k.Model([seq, vec, grid], outs)


def negative_ids(k):
    """Keras 3's Embedding takes ids with ``ops.take``, which reads ``-rows <= i < 0`` as ``i + rows``."""
    ids = k.Input((4,), dtype="int32", name="ids")
    return k.Model(ids, k.layers.Embedding(5, 3, name="table")(ids))


def prelu_shared_later_axis(k):
    """PReLU sharing a later axis has an alpha ``[steps, 1]``: fused into one ``Prelu``, TF.js's wasm kernel would
    read it as ``alpha[i % size]`` (no broadcasting) and pair it with the features."""
    L = k.layers
    seq, grid = k.Input((3, 3), name="seq"), k.Input((2, 3, 3), name="grid")
    return k.Model([seq, grid], [L.PReLU(shared_axes=[2], name="prelu_steps")(seq),
                                 L.PReLU(shared_axes=[2], name="prelu_rows")(grid),
                                 L.PReLU(shared_axes=[1, 2], name="prelu_channels")(grid)])


def channels_first_softmax(k):
    """A channels_first conv's ``softmax`` runs over the output's last axis (a spatial one), as Keras applies the
    activation to the channels_first tensor, not over the channels the channels_last lowering has last."""
    L = k.layers
    seq, image = k.Input((2, 5), name="seq"), k.Input((3, 4, 5), name="image")
    return k.Model([seq, image], [
        L.Conv1D(5, 2, strides=2, activation="softmax", data_format="channels_first", name="conv1d_cf")(seq),
        L.Conv2D(2, 3, padding="same", activation="log_softmax", data_format="channels_first", name="conv2d_cf")(image),
        L.SeparableConv2D(3, 2, activation="softmax", data_format="channels_first", name="separable_cf")(image)])


def mha_key_dim_one(k):
    """A ``key_dim`` of 1 gives ``[heads, 1]`` biases; with steps (3) other than the heads (2), Keras 3 adds them
    where they belong."""
    q = k.Input((3, 4), name="q")
    return k.Model(q, k.layers.MultiHeadAttention(2, 1, name="mha")(q, q))


FAMILIES = {"mha_key_dim_one": mha_key_dim_one, "merge_ranks": merge_ranks, "channels_first_softmax": channels_first_softmax, "negative_ids": negative_ids, "prelu_shared_later_axis": prelu_shared_later_axis}
CASES = [("merge_ranks", "keras3.keras"), ("merge_ranks", "tf_keras.h5"), ("merge_ranks", "keras3.h5"),
         ("negative_ids", "keras3.keras"), ("negative_ids", "keras3.h5"),
         ("prelu_shared_later_axis", "keras3.keras"), ("prelu_shared_later_axis", "tf_keras.h5"),
         ("channels_first_softmax", "keras3.keras"), ("channels_first_softmax", "tf_keras.h5"),
         ("mha_key_dim_one", "keras3.keras")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for t in model.inputs:
        shape, name = (BATCH, *tuple(t.shape)[1:]), t.name.split(":")[0]
        if "int" in str(getattr(t.dtype, "name", t.dtype)):
            inputs[name] = np.array([[0, 1, -1, -5], [4, -2, 2, -3], [-4, 3, 0, 1]], dtype="int32")
        else:
            inputs[name] = rng.standard_normal(shape).astype("float32")
    return inputs


_save = family_saver(FAMILIES, _inputs, seed=3)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "random_regressions", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_random_model_regressions_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


@pytest.mark.node
def test_random_models_smoke(tmp_path, tfjs_runtime):
    """Three seeded models of the bench's generator (one per flavour) convert and match Keras in TF.js."""
    import keras_random_models as bench

    cases = [bench.Case(f"smoke-{flavor}", bench.draw_recipe(seed, flavor))
             for seed, flavor in ((11, "keras3.keras"), (12, "tf_keras.h5"), (13, "keras3.h5"))]
    bench.evaluate(cases, tmp_path, progress=lambda message: None, workers=1, traced_check=False)
    assert [c.status for c in cases] == ["pass"] * 3, [(c.id, c.status, c.detail) for c in cases]


def _keras3_bias_add_cases():
    """Keras 3's TensorFlow backend adds these biases on another axis than their own (``ops.add`` as ``bias_add``)."""
    L = keras.layers
    seq, grid, wide = keras.Input((3, 4), name="seq"), keras.Input((2, 2, 2), name="grid"), keras.Input((2, 4), name="wide")
    return {"conv1d_cf": keras.Model(seq, L.Conv1D(2, 3, data_format="channels_first", name="conv1d_cf")(seq)),
            "conv2d_transpose_cf": keras.Model(grid, L.Conv2DTranspose(4, 2, strides=2, data_format="channels_first",
                                                                       name="conv2d_transpose_cf")(grid)),
            "einsum_middle": keras.Model(wide, L.EinsumDense("abc,cde->abde", output_shape=(2, 2, 3), bias_axes="d",
                                                             name="einsum_middle")(wide)),
            # key_dim 1: the [heads, 1] biases squeeze to [heads], added on the steps (axis 1, as long as the heads)
            "mha_heads_as_steps": keras.Model(wide, L.MultiHeadAttention(2, 1, name="mha_heads_as_steps")(wide, wide))}


@pytest.mark.parametrize("name", ["conv1d_cf", "conv2d_transpose_cf", "einsum_middle", "mha_heads_as_steps"])
def test_a_bias_keras3_adds_on_another_axis_is_named(tmp_path, name):
    """Keras 3 (TensorFlow backend) adds a channels_first conv's bias on the last axis when that one is as long as
    the filters, and an EinsumDense bias of a middle axis on axis 1 or the last one of that length: other backends
    do not. The lowering computes what the traced graph computes (numbers: test_keras_lowering_k27_bias_axis.py)
    and names the layer in a warning."""
    import tfjsconv

    model = _keras3_bias_add_cases()[name]
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert any(d.startswith(f"layer '{name}' (") and "Keras 3's TensorFlow backend's traced graph" in d
               for d in result.details), result.details


def test_a_channels_first_bias_gap_reads_use_bias_default(tmp_path):
    """A config without ``use_bias`` has a bias (Keras's default, which Keras 3 loads and adds on the last axis):
    the lowering must read the same default as the conv lowering, not skip the bias."""
    import json
    import zipfile

    import tfjsconv

    _keras3_bias_add_cases()["conv1d_cf"].save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(parts["config.json"])
    for layer in config["config"]["layers"]:
        layer["config"].pop("use_bias", None)
    parts["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "edited.keras", "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    assert keras.models.load_model(tmp_path / "edited.keras").get_layer("conv1d_cf").use_bias
    result = tfjsconv.convert(tmp_path / "edited.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert any(d.startswith("layer 'conv1d_cf' (Conv1D): its bias (length 2) is added on the last axis")
               for d in result.details), result.details
