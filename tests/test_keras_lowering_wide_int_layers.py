"""int32/int64 ids beyond 2^24 through the layers Keras computes in their integer dtype, exact as Keras (S13 H1).

The lowering held such tensors as float32 (exact only up to 2^24) and refused them by name in MaxPooling1D/2D,
Masking, ReLU / Activation('relu'), a TimeDistributed of these, Average, and merges of mixed integer dtypes. These now
compute in int32 (int64 ids as int32, as TF.js holds them): MaxPooling as a max over the window's slices (padding
"same" with INT32_MIN), Keras 3's Masking as its float32 comparison then ``where(keep, x, 0)`` in int32, ReLU as
``Maximum(x, 0)``, Average as the wrapped int32 sum divided as a float (TF's ``truediv`` of int32 is float64), and
Keras 3's merges of bool/int8/uint16/int32/int64 promoted as Keras promotes, left to right (int32 sums and products
wrap as TF's), masked ones too. Expected values from eager Keras 3 / tf_keras, run in TF.js (cpu, wasm) after
converting with TensorFlow poisoned, compared exactly (Average's float64 to float32's precision); on webgl with ids
below 2^23 (webgl holds int32 as float32: past 2^24 any int32 op there loses low bits, a plain Reshape of an int32
input included). What stays refused is refused by name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import graph_model_refusal as _refusal  # noqa: E402
from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import _module, _verify, case_file, saved_and_converted  # noqa: E402

N = 8
#: int32 values float32 does not hold, the extremes (sums wrap), negatives and small ones.
EDGES = [2**31 - 1, -2**31, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 46341, -3]


def wide_layers(k):
    """int32 and int64 ids through MaxPooling1D/2D (valid, same, strided, over a length unknown in the config),
    ReLU, Activation relu/linear, a TimeDistributed of MaxPooling1D and ReLU, Average of two and three tensors; Keras 3
    also Masking, the merges of mixed integer dtypes (bools too) and the merges of masked ids (Multiply, Maximum,
    Minimum read the masks in Keras 3)."""
    L = k.layers
    a = k.Input((N,), name="a", dtype="int32")
    b = k.Input((N,), name="b", dtype="int32")
    c = k.Input((N,), name="c", dtype="int64")
    column, grid = L.Reshape((N, 1), name="column")(a), L.Reshape((2, 4, 1), name="grid")(b)
    outs = [L.MaxPooling1D(2, name="pool1")(column),
            L.MaxPooling1D(3, strides=2, padding="same", name="pool1_same")(column),
            L.MaxPooling1D(3, strides=3, name="pool1_strided")(L.Reshape((N, 1), name="column_c")(c)),
            L.MaxPooling2D(2, name="pool2")(grid),
            L.MaxPooling2D(3, strides=1, padding="same", name="pool2_same")(grid),
            L.MaxPooling2D((1, 3), strides=(1, 2), padding="same", name="pool2_rows")(grid),
            L.ReLU(name="relu")(a), L.Activation("relu", name="act_relu")(c), L.Activation("linear", name="linear")(b),
            L.TimeDistributed(L.MaxPooling1D(2), name="td_pool")(L.Reshape((2, 4, 1), name="steps")(a)),
            L.TimeDistributed(L.ReLU(), name="td_relu")(L.Reshape((2, 4), name="rows")(b)),
            L.Average(name="mean2")([a, b]), L.Average(name="mean3")([a, b, a]),
            L.Add(name="after_pool")([L.Flatten(name="flat")(L.MaxPooling1D(1, name="pool_one")(column)), b])]
    inputs = [a, b, c]
    if k is keras:
        d = k.Input((N,), name="d", dtype="int8")
        e = k.Input((N,), name="e", dtype="uint16")
        masked = L.Masking(16777216.0, name="masking")(L.Reshape((4, 2), name="pairs")(a))
        outs += [masked, L.Masking(-3.0, name="masking_c")(L.Reshape((N, 1), name="column_c2")(c)),
                 L.Add(name="i8_i32")([d, a]), L.Add(name="i32_i8_i8")([a, d, d]), L.Multiply(name="u16_i32")([e, b]),
                 L.Subtract(name="u16_minus_i32")([e, a]), L.Maximum(name="i64_i32")([c, b]),
                 L.Minimum(name="i8_i64")([d, c]), L.Concatenate(name="joined")([d, e, a, c]),
                 L.Average(name="mean_i8_i32")([d, a]),  # int64 sums beyond int32 wrap in TF.js, not in Keras
                 L.Add(name="i8_i8_i32")([d, d, a]), L.Multiply(name="i8_i8_i32_mul")([d, d, b]),  # int8 steps first
                 L.Average(name="mean_i8_i8_i32")([d, d, a])]
        steps_a, steps_b = L.Masking(3.0, name="mask_a")(masked), L.Masking(5.0, name="mask_b")(
            L.Reshape((4, 2), name="pairs_b")(b))
        plain_b = L.Reshape((4, 2), name="plain_b")(b)
        outs += [L.Add(name="masked_add")([steps_a, plain_b]), L.Subtract(name="masked_sub")([steps_a, steps_b]),
                 L.Average(name="masked_mean")([steps_a, steps_b]),
                 L.Concatenate(name="masked_join")([steps_a, steps_b]),
                 L.Concatenate(axis=1, name="masked_steps")([steps_a, plain_b]),
                 L.Multiply(name="masked_mul")([steps_a, plain_b]), L.Multiply(name="masked_mul2")([steps_a, steps_b]),
                 L.Maximum(name="masked_max")([steps_a, steps_b]), L.Minimum(name="masked_min")([plain_b, steps_a])]
        f = k.Input((N,), name="f", dtype="bool")
        outs += [L.Add(name="bool_i32")([f, a]), L.Maximum(name="i32_bool")([b, f]),
                 L.Concatenate(name="bool_joined")([f, c])]
        inputs += [d, e, f]
    steps = k.Input((None, 1), name="ids", dtype="int32")  # a length unknown in the config
    outs += [L.MaxPooling1D(3, strides=2, name="pool_steps")(steps), L.MaxPooling1D(2, name="pool_steps2")(steps)]
    return k.Model([*inputs, steps], outs)


CASES = [("wide", "keras3.keras"), ("wide", "tf_keras.h5"), ("wide", "keras3.h5")]
#: Each case's webgl inputs and Keras's outputs for them (ids below 2^23), set when the case is saved.
SMALL: dict[tuple[str, str], tuple[dict, list]] = {}


def _inputs(model, seed: int, wide: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    top = 2**31 if wide else 2**23
    edges = EDGES if wide else [2**23 - 1, -2**23, 5, -5, 0, 1, -1, 7]
    rows = np.concatenate([[edges], [edges[::-1]], rng.integers(-top, top, (4, N)), rng.integers(-4, 5, (2, N))])
    out = {"a": rows.astype("int32"), "b": rows[::-1].astype("int32"),
           "c": np.concatenate([rows[2:], rows[:2]]).astype("int64")}
    if wide:
        out["a"][0, :2] = 16777217, 16777216  # a pair Keras 3's Masking(16777216.0) masks (compared in float32)
    out["a"][1, :4], out["b"][1, 2:6], out["b"][2, :8] = 3, 5, 5  # steps Masking(3.0) / Masking(5.0) mask
    if len(model.inputs) == 7:
        out["d"] = rng.integers(-128, 128, (len(rows), N)).astype("int8")
        out["e"] = rng.integers(0, 65536, (len(rows), N)).astype("uint16")
        out["f"] = rng.integers(0, 2, (len(rows), N)).astype(bool)
    out["ids"] = np.roll(out["a"], 3, axis=1)[:, :7, None]
    return out


def _save(family: str, flavor: str, folder: Path):
    model = wide_layers(_module(flavor))
    small = _inputs(model, 3, wide=False)
    SMALL[(family, flavor)] = small, [np.asarray(o) for o in model([*small.values()], training=False)]
    return save_with_outputs(model, _inputs(model, 2), case_file(folder, family, flavor))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "wide_int_layers", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_wide_ids_through_integer_layers_match_keras_exactly(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    kinds = [o.dtype.kind for o in outputs]
    assert kinds.count("f") == (5 if flavor.startswith("keras3") else 2), kinds  # the Averages: float64 in Keras
    assert any(np.abs(o.astype(np.int64)).max() > 2**24 for o in outputs if o.dtype.kind == "i")
    _verify(path.parent / f"{path.name}.out", inputs, outputs)


#: The outputs that multiply ids (beyond 2^24 even for ids below 2^23: webgl's int32 Mul is a float32 one).
PRODUCTS = {"u16_i32", "masked_mul", "masked_mul2", "i8_i8_i32_mul"}


@pytest.mark.node
def test_wide_id_layers_run_on_webgl(converted, browser):
    """The keras3 model on webgl with ids below 2^23 (webgl holds int32 as float32: past 2^24 its int32 values lose
    low bits, so the products are left out): the slices, Maximum, PadV2, GatherV2, the comparisons and SelectV2 of
    Masking and the int32 merges run there and match Keras."""
    import json

    from tfjsconv.verify.compare import format_report, verify_model

    path, _, _ = converted[CASES[0]]
    inputs, outputs = SMALL[CASES[0]]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    expected = {n: o for n, o in zip(names, outputs, strict=True) if n not in PRODUCTS}
    report = verify_model(out, inputs, expected, backends=("webgl",), rtol=1e-5, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


REFUSED = {
    # beyond int32 (float32's 2147483647.0 is 2^31): Keras's cast into int32 is platform-dependent (S14: lowered within)
    "ReLU threshold": lambda L, a, d: L.ReLU(threshold=3e9, name="layer")(a),
    "ReLU max_value": lambda L, a, d: L.ReLU(max_value=2147483647.0, name="layer")(a),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_wide_ids_not_lowered_exactly_are_refused_by_name(tmp_path, case):
    """Beside the layers now lowered on the same int32 ids (MaxPooling1D, Masking, ReLU, Average, a merge of int8 and
    int32), the one layer that cannot be computed exactly is the only one refused, by name."""
    L = keras.layers
    a = keras.Input((N,), name="a", dtype="int32")
    d = keras.Input((N,), name="d", dtype="int8")
    lowered = [L.MaxPooling1D(2)(L.Reshape((N, 1))(a)), L.Masking(3.0)(L.Reshape((4, 2))(a)), L.ReLU()(a),
               L.Average()([a, a]), L.Add()([d, a])]
    x, inputs = REFUSED[case](L, a, d), [a, d]
    cls = case.split()[0]
    message = _refusal(tmp_path, keras.Model(inputs, [*lowered, x]))
    assert f"does not cover 1 layer: 'layer' ({cls}) on int" in message, message
    assert "--loader=tensorflow" in message, message


def test_tf_keras_integer_mean_is_refused_by_name(tmp_path):
    """tf_keras's GlobalAveragePooling1D of int32 is an integer mean truncated toward zero (Keras 3's casts to float32
    first, as the lowering): lowered exactly over up to 4 202 512 values, known in the config or at run time (S14,
    S16: plugins/keras/lowering/integer_means.py), refused by name over a known count past that (2050·2051 values),
    beside one over unknown steps that lowers."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    tf_keras = pytest.importorskip("tf_keras")
    L = tf_keras.layers
    a = tf_keras.Input((None, 1), name="a", dtype="int32")
    b = tf_keras.Input((2050, 2051, 1), name="b", dtype="int32")
    tf_keras.Model([a, b], [L.GlobalAveragePooling1D()(a), L.GlobalAveragePooling2D(name="layer")(b)]).save(
        tmp_path / "m.h5")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert "does not cover 1 layer: 'layer' (GlobalAveragePooling2D) on int32 integers over sizes [2050, 2051]" \
        in str(err.value), str(err.value)


@pytest.mark.node
def test_max_pooling_of_ids_over_unknown_lengths_matches_keras(tmp_path, tfjs_runtime):
    """One converted model at several lengths (shorter than two windows, odd, long): the windows end counted from the
    end and the strided positions come from the run-time length, so every length gives Keras's pool."""
    from test_keras_lowering import convert_poisoned

    L = keras.layers
    ids = keras.Input((None, 1), name="ids", dtype="int32")
    model = keras.Model(ids, [L.MaxPooling1D(3, strides=2, name="p3")(ids), L.MaxPooling1D(2, name="p2")(ids),
                              L.MaxPooling1D(4, strides=1, name="p4")(ids)])
    model.save(tmp_path / "m.keras")
    convert_poisoned([tmp_path / "m.keras"])
    rng = np.random.default_rng(5)
    for length in (4, 5, 10, 13):
        x = rng.integers(-2**31, 2**31, (2, length, 1)).astype("int32")
        _verify(tmp_path / "m.keras.out", {"ids": x}, [np.asarray(o) for o in model(x)])
