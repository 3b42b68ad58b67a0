"""int32/int64 ids through ReLU with threshold / max_value and tf_keras's global average pools, exact as Keras (S14 H1).

Both were refused by name on int32 ids (the lowering would have computed them in float32). Keras computes a ReLU
without a negative slope in the integers' dtype: ``where(x > int(threshold), x, 0)`` then ``clip(x, 0,
int(max_value))``, the options cast through float32 (16777217.0 is 16777216) and truncated; the lowering does the same
in int32 (8/16-bit integers: float ops on the same whole numbers). tf_keras's GlobalAveragePooling1D/2D/3D of int32 is
TF's integer Mean: the exact mean (no wrap-around), truncated toward zero; the lowering sums 16-bit halves in int32.
Expected values from eager Keras 3 / tf_keras, converted with TensorFlow poisoned, run in TF.js (cpu, wasm), exactly.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import graph_model_refusal as _refusal  # noqa: E402
from keras_models import save_with_outputs  # noqa: E402
from keras_two_sizes import batched, verify_runs  # noqa: E402
from test_keras_lowering import _module, _verify, case_file, saved_and_converted  # noqa: E402

#: int32 values float32 does not hold, the extremes, negatives, small ones and the ReLU bounds below (x == threshold
#: gives 0 in Keras: ``x > threshold``).
EDGES = [2**31 - 1, -2**31, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 46341, -3, 2, 3, 6, 7, 16777216,
         16777218, 30000000, 30000001, 0, 1]


#: Below 2^23 for webgl (it holds int32 as float32), with the ReLU bounds.
SMALL_EDGES = [2**23 - 1, -2**23, 2, 3, 6, 7, 0, 1, -5, 46341]
#: Keras's outputs for ids below 2^23, by case: ``(inputs, outputs)``.
SMALL: dict[tuple[str, str], tuple[dict, list]] = {}


def _ids(rng: np.random.Generator, shape: tuple[int, ...], dtype: str = "int32", wide: bool = True) -> np.ndarray:
    """Random ids over the whole int32 range (8/16-bit dtypes: wrapped into theirs) with :data:`EDGES` first (not
    ``wide``: below 2^23, :data:`SMALL_EDGES` first)."""
    top, edges = (2**31, EDGES) if wide else (2**23, SMALL_EDGES)
    out = rng.integers(-top, top, shape).reshape(-1)
    out[:len(edges)] = edges[:out.size]
    return out.reshape(shape).astype(dtype)


def relus(k):
    """ReLU with a threshold (fractional, past 2^24), a max_value (past 2^24, fractional, 6: relu6), both; on int64
    ids (a threshold beyond int32), on uint8 and int8 (held as float32), inside a TimeDistributed, an Add after it."""
    L = k.layers
    a = k.Input((18,), name="a", dtype="int32")
    b = k.Input((18,), name="b", dtype="int64")
    u = k.Input((18,), name="u", dtype="uint8")
    s = k.Input((18,), name="s", dtype="int8")
    thresholded = L.ReLU(threshold=2.0, name="threshold")(a)
    outs = [thresholded, L.ReLU(threshold=2.5, name="threshold_frac")(a),
            L.ReLU(threshold=16777217.0, name="threshold_wide")(a), L.ReLU(max_value=3e7, name="max_wide")(a),
            L.ReLU(max_value=6.5, name="max_frac")(a), L.ReLU(max_value=6.0, name="relu6")(a),
            L.ReLU(threshold=2.0, max_value=16777217.0, name="both")(a),
            L.ReLU(threshold=3e9, name="threshold_i64")(b), L.ReLU(max_value=3e7, threshold=1.0, name="both_i64")(b),
            L.ReLU(threshold=2.0, max_value=6.5, name="both_u8")(u), L.ReLU(threshold=3.0, name="threshold_i8")(s),
            L.TimeDistributed(L.ReLU(threshold=5.0, max_value=2e9), name="td")(L.Reshape((3, 6), name="rows")(a)),
            L.Add(name="after")([thresholded, a])]
    return k.Model([a, b, u, s], outs)


def means(k):
    """tf_keras's global average pools of int32 ids (sums far past 2^31, negative inexact means): 1D, 2D with
    keepdims, 3D, the GlobalAvgPool alias, of int64 ids, an Add after it; of int16 and uint8 (held as float32: their
    float mean converted silently before), inside a TimeDistributed too."""
    L = k.layers
    a = k.Input((5, 2), name="a", dtype="int32")
    c = k.Input((3, 4, 2), name="c", dtype="int32")
    d = k.Input((2, 2, 3, 2), name="d", dtype="int32")
    e = k.Input((7, 3), name="e", dtype="int64")
    h = k.Input((5, 3), name="h", dtype="int16")
    u = k.Input((3, 4, 2), name="u", dtype="uint8")
    mean = L.GlobalAveragePooling1D(name="gap1")(a)
    outs = [mean, L.GlobalAveragePooling2D(keepdims=True, name="gap2")(c), L.GlobalAveragePooling3D(name="gap3")(d),
            L.GlobalAvgPool1D(name="alias")(a), L.GlobalAveragePooling1D(name="gap_i64")(e),
            L.Add(name="after")([mean, mean]), L.GlobalAveragePooling1D(name="gap_i16")(h),
            L.GlobalAveragePooling2D(name="gap_u8")(u), L.TimeDistributed(L.GlobalAveragePooling1D(), name="td_u8")(u)]
    return k.Model([a, c, d, e, h, u], outs)


FAMILIES = {"relu": relus, "mean": means}
CASES = [("relu", "keras3.keras"), ("relu", "tf_keras.h5"), ("mean", "tf_keras.h5")]


def _inputs(model, seed: int, wide: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for tensor in model.inputs:
        name = tensor.name.split(":")[0]
        shape = tuple(tensor.shape)[1:]
        out[name] = _ids(rng, (2, *shape), str(getattr(tensor.dtype, "name", tensor.dtype)), wide)
    return out


def _save(family: str, flavor: str, folder):
    model = FAMILIES[family](_module(flavor))
    small = _inputs(model, 6, wide=False)
    SMALL[(family, flavor)] = small, [np.asarray(o) for o in model([*small.values()], training=False)]
    return save_with_outputs(model, _inputs(model, 5), case_file(folder, family, flavor))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return batched(saved_and_converted(tmp_path_factory, "s14_int_relu_means", CASES, _save))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_wide_ids_through_relu_options_and_integer_means_match_keras_exactly(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    assert all(o.dtype.kind in "iu" for o in outputs), [o.dtype for o in outputs]
    if family == "relu":  # x == threshold gives 0; 16777217.0 is 16777216 in float32; fractional bounds truncate
        assert outputs[0][0, 8] == 0 and outputs[0][0, 9] == 3 and outputs[2][0, 4] == 16777217
        assert outputs[3][0, 0] == 30000000 and outputs[4][0, 11] == 6 and outputs[6][0, 0] == 16777216
    else:  # the exact means (no wrap-around), truncated toward zero
        wide = inputs["a"].astype(np.int64).sum(axis=1)
        assert np.abs(wide).max() > 2**31
        assert np.array_equal(outputs[0], np.trunc(wide / 5).astype(np.int32)), (outputs[0], wide)
        narrow = inputs["h"].astype(np.int64).sum(axis=1)
        assert np.array_equal(outputs[6], np.trunc(narrow / 5)) and np.any(narrow % 5), (outputs[6], narrow)
    verify_runs(path, [(inputs, outputs)])


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_relu_options_and_integer_means_run_on_webgl(converted, browser, family, flavor):
    """The same converted models on webgl with ids below 2^23 (webgl holds int32 as float32: past 2^24 its int32
    values lose low bits): the Greater/SelectV2/Minimum/Maximum of the ReLUs and the halves, Sums, FloorMods and
    exact floor divisions of the means match Keras there."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, _, _ = converted[(family, flavor)]
    inputs, outputs = SMALL[(family, flavor)]
    out = path.parent / f"{path.name}.out"
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                          browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.parametrize("option", ["threshold", "max_value"])
def test_relu_bound_beyond_int32_is_refused_by_name(tmp_path, option):
    """2147483646.0 is 2^31 in float32: Keras's cast of it into int32 is platform-dependent (x86: INT32_MIN, so a
    max_value zeroes everything and a threshold keeps negatives), refused by name beside a ReLU that lowers."""
    L = keras.layers
    a = keras.Input((4,), name="a", dtype="int32")
    message = _refusal(tmp_path, keras.Model(a, [L.ReLU(threshold=2.0)(a),
                                                 L.ReLU(**{option: 2147483646.0}, name="layer")(a)]))
    assert f"does not cover 1 layer: 'layer' (ReLU) on int32 integers with {option}=2147483646.0" in message, message
    assert "--loader=tensorflow" in message, message


def test_tf_keras_integer_means_not_lowered_exactly_are_refused_by_name(tmp_path):
    """tf_keras's integer mean over a count known in the config past 4 202 512 values (the base-256 long division of
    plugins/keras/lowering/integer_means.py would leave int32): refused by name beside one that lowers (run-time
    counts and counts of 2^14 values or more lower since session 16)."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    tf_keras = pytest.importorskip("tf_keras")
    L = tf_keras.layers
    a = tf_keras.Input((4, 1), name="a", dtype="int32")
    x = tf_keras.Input((4202513, 1), name="x", dtype="int32")
    layer = L.GlobalAveragePooling1D(name="layer")
    tf_keras.Model([a, x], [L.GlobalAveragePooling1D()(a), layer(x)]).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert "does not cover 1 layer: 'layer' (GlobalAveragePooling1D) on int32 integers over sizes [4202513]" \
        in str(err.value), str(err.value)
    assert "--loader=tensorflow" in str(err.value), str(err.value)


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_float_relu_at_its_threshold_gives_zero_as_keras(tmp_path, tfjs_runtime, flavor):
    """Keras keeps ``x > threshold`` only: a float equal to the threshold gives 0 (with a negative slope too), as the
    lowering now does (it kept ``x >= threshold`` before, giving the threshold itself)."""
    from test_keras_lowering import convert_poisoned

    k = _module(flavor)
    a = k.Input((6,), name="a")
    model = k.Model(a, [k.layers.ReLU(threshold=2.0, name="threshold")(a),
                        k.layers.ReLU(threshold=0.5, negative_slope=0.1, max_value=3.0, name="general")(a)])
    x = np.array([[2.0, 0.5, -1.0, 3.0, 2.5, 0.0]], np.float32)
    path, inputs, outputs = save_with_outputs(model, {"a": x}, case_file(tmp_path, "float_relu", flavor))
    assert outputs[0][0, 0] == 0 and outputs[1][0, 1] == 0
    convert_poisoned([path])
    _verify(path.parent / f"{path.name}.out", inputs, outputs)


@pytest.mark.parametrize("flavor,dtype", [("tf_keras.h5", "int64"), ("keras3.keras", "int64")])
def test_masked_integer_means_are_refused_by_name(tmp_path, flavor, dtype):
    """A masked GlobalAveragePooling1D sums the integers in their dtype before dividing (int64: no wrap at 2^32,
    where TF.js's int32 sum wraps): refused by name, beside an unmasked mean that lowers. int32 ones lower
    (tests/test_keras_lowering_s14_masked_int32.py), and so do tf_keras's 8/16-bit ones since S16, their sums and
    counts wrapped into their dtype (tests/test_keras_lowering_s16_reprobe2.py; uint8 was refused here before)."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    k = _module(flavor)
    L = k.layers
    x = k.Input((3, 2), name="x", dtype=dtype)
    k.Model(x, [L.GlobalAveragePooling1D()(x), L.GlobalAveragePooling1D(name="layer")(L.Masking(0)(x))]).save(
        case_file(tmp_path, "masked_mean", flavor))
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(case_file(tmp_path, "masked_mean", flavor), tmp_path / "out",
                         output_format="tfjs_graph_model")
    assert f"does not cover 1 layer: 'layer' (GlobalAveragePooling1D) with a mask on {dtype} integers (Keras sums " \
           f"them in {dtype}, wrapping" in str(err.value), str(err.value)
    assert "--loader=tensorflow" in str(err.value), str(err.value)
