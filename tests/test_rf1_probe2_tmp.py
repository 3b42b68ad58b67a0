from __future__ import annotations
import sys
import numpy as np
import pytest
sys.path.insert(0, "/work/main/tests")
keras = pytest.importorskip("keras")
from test_keras_lowering import _verify, family_saver  # noqa: E402

def td_cf(k):
    L = k.layers
    v = k.Input((2, 3, 6, 7), name="v")
    return k.Model(v, L.TimeDistributed(L.Conv2D(4, 3, data_format="channels_first", activation="softmax"), name="td")(v))

def td_cf_bad(k):
    L = k.layers
    v = k.Input((2, 3, 6, 6), name="v")
    return k.Model(v, L.TimeDistributed(L.Conv2D(4, 3, data_format="channels_first"), name="td")(v))

def einsum_ok(k):
    L = k.layers
    w = k.Input((5, 4), name="w")
    return k.Model(w, L.EinsumDense("abc,cde->abde", output_shape=(5, 2, 3), bias_axes="d", name="ed")(w))

def emb5(k):
    ids = k.Input((2, 2, 2, 3), dtype="int32", name="ids")
    return k.Model(ids, k.layers.Embedding(5, 3, name="table")(ids))

def nested_cf(k):
    L = k.layers
    inner_in = k.Input((3, 6, 6))
    inner = k.Model(inner_in, L.Conv2D(4, 3, data_format="channels_first", name="c")(inner_in), name="inner")
    x = k.Input((3, 6, 6), name="x")
    return k.Model(x, inner(x))

FAMILIES = dict(td_cf=td_cf, td_cf_bad=td_cf_bad, einsum_ok=einsum_ok, emb5=emb5, nested_cf=nested_cf)
CASES = [("td_cf", "keras3.keras"), ("td_cf_bad", "keras3.keras"), ("td_cf_bad", "tf_keras.h5"), ("einsum_ok", "keras3.keras"),
         ("emb5", "keras3.keras"), ("nested_cf", "keras3.keras"), ("td_cf", "tf_keras.h5")]

def _inputs(model, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for t in model.inputs:
        shape, name = (2, *tuple(t.shape)[1:]), t.name.split(":")[0]
        if "int" in str(getattr(t.dtype, "name", t.dtype)):
            out[name] = rng.integers(-5, 5, size=shape).astype("int32")
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
