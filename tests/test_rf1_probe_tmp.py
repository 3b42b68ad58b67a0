from __future__ import annotations
import sys
from pathlib import Path
import numpy as np
import pytest
sys.path.insert(0, "/work/main/tests")
keras = pytest.importorskip("keras")
from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402

BATCH = 3

def cf_convs(k):
    L = k.layers
    img = k.Input((3, 6, 7), name="img")
    seq = k.Input((4, 6), name="seq")
    vol = k.Input((2, 3, 4, 5), name="vol")
    return k.Model([img, seq, vol], [
        L.Conv2D(4, 3, data_format="channels_first", name="c2")(img),               # out (4,4,5)
        L.Conv2DTranspose(4, 2, data_format="channels_first", name="c2t")(img),     # out (4,7,8)
        L.DepthwiseConv2D(3, depth_multiplier=2, data_format="channels_first", name="dw")(img),  # (6,5,6)
        L.SeparableConv1D(3, 2, activation="softmax", data_format="channels_first", name="sep1")(seq),  # (3,5)
        L.Conv3D(3, 2, activation="log_softmax", data_format="channels_first", name="c3")(vol),  # (3,2,3,4)
        L.Conv3DTranspose(3, 2, activation="softmax", data_format="channels_first", name="c3t")(vol),
        L.DepthwiseConv1D(2, activation="softmax", data_format="channels_first", name="dw1")(seq),
    ])

def cf_glu(k):
    L = k.layers
    seq = k.Input((4, 6), name="seq")
    img = k.Input((3, 6, 7), name="img")
    return k.Model([seq, img], [
        L.Conv1DTranspose(3, 3, activation="glu", data_format="channels_first", name="c1t")(seq),  # (3,8)
        L.Conv2D(2, (1, 2), activation="glu", data_format="channels_first", name="c2g")(img),  # (2,6,6)
    ])

def tfk_same(k):
    L = k.layers
    img = k.Input((3, 6, 6), name="img")
    seq = k.Input((4, 6), name="seq")
    return k.Model([img, seq], [
        L.Conv2D(4, 3, data_format="channels_first", name="c2")(img),   # out (4,4,4): last == filters
        L.Conv1D(5, 2, data_format="channels_first", name="c1")(seq),   # (5,5)
    ])

def merge_mask(k):
    L = k.layers
    ids = k.Input((5,), dtype="int32", name="ids")
    vec = k.Input((4,), name="vec")
    e = L.Embedding(7, 4, mask_zero=True, name="emb")(ids)
    a = L.Add(name="add")([e, vec])
    b = L.Add(name="add2")([vec, e])
    return k.Model([ids, vec], [L.GlobalAveragePooling1D(name="gap")(a), L.LSTM(2, name="lstm")(b)])

def merge_ranks_24(k):
    L = k.layers
    vec, grid, one = k.Input((4,), name="vec"), k.Input((2, 3, 4), name="grid"), k.Input((1,), name="one")
    col = k.Input((3, 1), name="col")
    return k.Model([vec, grid, one, col], [L.Add(name="a")([grid, vec]), L.Multiply(name="m")([one, grid]),
                                      L.Average(name="av")([col, grid, vec]), L.Subtract(name="s")([grid, col])])

FAMILIES = {"cf_convs": cf_convs, "cf_glu": cf_glu, "tfk_same": tfk_same, "merge_mask": merge_mask,
            "merge_ranks_24": merge_ranks_24}
CASES = [("cf_convs", "keras3.keras"), ("cf_convs", "tf_keras.h5"), ("cf_glu", "keras3.keras"),
         ("tfk_same", "tf_keras.h5"), ("merge_mask", "keras3.keras"), ("merge_mask", "tf_keras.h5"),
         ("merge_ranks_24", "keras3.keras"), ("merge_ranks_24", "tf_keras.h5"), ("cf_convs", "keras3.h5")]

def _inputs(model, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for t in model.inputs:
        shape, name = (BATCH, *tuple(t.shape)[1:]), t.name.split(":")[0]
        if "int" in str(getattr(t.dtype, "name", t.dtype)):
            out[name] = np.array([[1, 2, 0, 0, 0], [0, 0, 0, 0, 0], [3, 0, 5, 6, 1]], dtype="int32")
        else:
            out[name] = rng.standard_normal(shape).astype("float32")
    return out

_save = family_saver(FAMILIES, _inputs, seed=3)

@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_probe(tmp_path, tfjs_runtime, family, flavor):
    import tfjsconv
    path, inputs, outputs = _save(family, flavor, tmp_path)
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    _verify(tmp_path / "out", inputs, outputs)
