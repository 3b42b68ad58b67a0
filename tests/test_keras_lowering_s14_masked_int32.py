"""int32/int64 ids through Masking in tf_keras, and masked global average pools of them, as Keras computes them.

Masking compares the ids with an integer ``mask_value`` in their own dtype, exactly, in both flavours (a float
mask_value fails in tf_keras; Keras 3 compares it in float32, which the lowering did for integers too: a Keras 3 mask
value of 16777217 masked 16777216 before); both flavours' masked GlobalAveragePooling1D then sums ``x * m`` in int32,
wrapping modulo 2^32, and divides in float64
(the converted model's float32 quotient is a rounding away). Both were refused by name, and Keras 3's masked mean of
int32 converted through float32 sums before (wrong past 2^24). int64 ids' masked means stay refused (Keras sums them
without wrapping at 2^32). Expected values: Keras's own ``model(x)``; converted with
TensorFlow and Keras poisoned; TF.js cpu and wasm (ids exactly, the means within float32's rounding).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import save_with_outputs  # noqa: E402
from keras_two_sizes import batched, verify_runs  # noqa: E402
from test_keras_lowering import _module, case_file, saved_and_converted  # noqa: E402

#: Ids past float32's integers and the int32 extremes: sums of them wrap.
EDGES = [2**31 - 1, 2**31 - 1, -2**31, 16777217, -16777219, 46341, -3, 5]


def masked(k):
    """Masking(0) (an integer mask_value: both flavours compare in the ids' dtype) on int32 and int64 ids, the masked
    ids as outputs, the int32 ones' masked means (one row all masked: NaN), and a masked mean after a Masking of
    16777217 (exact: 16777216 is kept); in Keras 3 also of 16777217.0 (a float: compared in float32, 16777216 is
    masked too; tf_keras fails on a float mask_value)."""
    L = k.layers
    a = k.Input((4, 2), name="a", dtype="int32")
    b = k.Input((3, 2), name="b", dtype="int64")
    ma = L.Masking(0, name="mask_a")(a)
    outs = [ma, L.GlobalAveragePooling1D(name="mean_a")(ma), L.Masking(0, name="mask_b")(b),
            L.GlobalAveragePooling1D(name="mean_big")(L.Masking(16777217, name="mask_big")(a))]
    if k is keras:
        outs.append(L.GlobalAveragePooling1D(name="mean_float")(L.Masking(16777217.0, name="mask_float")(a)))
    return k.Model([a, b], outs)


CASES = [("masked", "keras3.keras"), ("masked", "tf_keras.h5")]


def _inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(-2**31, 2**31, (3, 4, 2)).astype(np.int32)
    a[0] = np.asarray(EDGES, np.int32).reshape(4, 2)
    a[1, 1] = 0  # a masked step
    a[2] = 0  # every step masked: the mean is 0 / 0
    a[1, 2] = 16777216  # masked by Keras 3's float32 comparison with 16777217, kept by tf_keras
    b = rng.integers(-2**31, 2**31, (3, 3, 2)).astype(np.int64)
    b[0, 0] = 0
    return {"a": a, "b": b}


def _save(family: str, flavor: str, folder):
    model = masked(_module(flavor))
    return save_with_outputs(model, _inputs(3), case_file(folder, family, flavor))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return batched(saved_and_converted(tmp_path_factory, "masked_int32", CASES, _save))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_masked_ids_and_their_means_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    assert outputs[0].dtype == np.int32 and np.isnan(outputs[1][2]).all()  # the ids kept; 0 / 0
    wide = inputs["a"][0].astype(np.int64).sum(0)
    assert not np.allclose(outputs[1][0], wide / 4)  # Keras's sum wraps in int32
    if flavor == "keras3.keras":  # float32's comparison: 16777216 equals 16777217.0
        assert outputs[4][1].tolist() != outputs[3][1].tolist()
    verify_runs(path, [(inputs, outputs)])


def test_a_masked_mean_of_int64_ids_stays_refused_by_name(tmp_path):
    """Keras sums int64 ids without wrapping at 2^32 (TF.js holds them as int32): refused by name."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = keras.layers
    b = keras.Input((3, 2), name="b", dtype="int64")
    keras.Model(b, L.GlobalAveragePooling1D(name="layer")(L.Masking(0)(b))).save(tmp_path / "m.keras")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "'layer' (GlobalAveragePooling1D) with a mask on int64 integers" in str(err.value), str(err.value)
    assert "--loader=tensorflow" in str(err.value), str(err.value)
