"""int32/int64 ids beyond 2^24 through nearest UpSampling2D and tf_keras's Dot, exact as Keras (S13 H4).

Both were refused by name on such ids. Keras keeps nearest UpSampling2D of int32/int64 exact (Keras 3 repeats rows and
columns, tf_keras resizes with ``tf.image.resize`` nearest); TF.js's wasm ResizeNearestNeighbor returns float32 for
int32, so the lowering repeats the ids (ExpandDims, Tile, Reshape per axis). tf_keras's Dot of int32 is TF's int32
``batch_dot``, wrapping modulo 2^32; the lowering multiplies with the exact wrapped int32 product and sums with TF.js's
int32 Sum (exact on cpu and wasm for these sizes). Keras 3's Dot of int32 is a float32 matmul cast back (lowered
as that since S14: tests/test_keras_lowering_s14_prod_dot.py); refused: tf_keras's Dot of int64 and bilinear
UpSampling2D of int32 (Keras 3) over sizes unknown in the config (of static sizes it lowers since S14:
tests/test_keras_lowering_s14_int32_bilinear.py). Expected values from eager Keras 3 / tf_keras, converted with
TensorFlow poisoned, run in TF.js (cpu, wasm), compared exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import graph_model_refusal as _refusal  # noqa: E402
from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import _module, _verify, case_file, saved_and_converted  # noqa: E402

#: int32 values float32 does not hold, the extremes, negatives and small ones.
EDGES = [2**31 - 1, -2**31, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 46341, -3]


def _ids(rng: np.random.Generator, shape: tuple[int, ...], dtype: str = "int32") -> np.ndarray:
    """Random ids over the whole int32 range with :data:`EDGES` first."""
    out = rng.integers(-2**31, 2**31, shape).reshape(-1)
    out[:len(EDGES)] = EDGES[:out.size]
    return out.reshape(shape).astype(dtype)


def upsampling(k):
    """Nearest UpSampling2D of int32 ids (square, uneven and unit factors, sizes unknown in the config), of int64 ids,
    inside a TimeDistributed, and an Add after it (the int32 dtype goes on)."""
    L = k.layers
    a = k.Input((2, 3, 1), name="a", dtype="int32")
    c = k.Input((3, 2, 2), name="c", dtype="int64")
    free = k.Input((None, None, 2), name="free", dtype="int32")
    clips = k.Input((2, 2, 2, 1), name="clips", dtype="int32")
    up = L.UpSampling2D(2, name="up2")(a)
    outs = [up, L.UpSampling2D((2, 3), name="up23")(a), L.UpSampling2D((1, 2), name="up12")(a),
            L.UpSampling2D((3, 1), name="up31_c")(c), L.UpSampling2D((2, 3), name="up_free")(free),
            L.TimeDistributed(L.UpSampling2D((2, 1)), name="td_up")(clips), L.Add(name="after")([up, up])]
    return k.Model([a, c, free, clips], outs)


def dots(k):
    """tf_keras's Dot of int32 ids: rank 2 (axes 1 and -1), rank 3 over each pair of axes, an Add after it."""
    L = k.layers
    x, y = k.Input((5,), name="x", dtype="int32"), k.Input((5,), name="y", dtype="int32")
    p = k.Input((3, 4), name="p", dtype="int32")
    q, r = k.Input((4, 5), name="q", dtype="int32"), k.Input((3, 5), name="r", dtype="int32")
    s, t = k.Input((2, 4), name="s", dtype="int32"), k.Input((5, 3), name="t", dtype="int32")
    flat = L.Dot(1, name="flat")([x, y])
    outs = [flat, L.Dot(-1, name="flat_last")([y, y]), L.Dot((2, 1), name="matmul")([p, q]),
            L.Dot((1, 1), name="first_axes")([p, r]), L.Dot((2, 2), name="last_axes")([p, s]),
            L.Dot((1, 2), name="crossed")([p, t]), L.Add(name="after")([flat, flat])]
    return k.Model([x, y, p, q, r, s, t], outs)


FAMILIES = {"upsampling": upsampling, "dot": dots}
CASES = [("upsampling", "keras3.keras"), ("upsampling", "tf_keras.h5"), ("dot", "tf_keras.h5")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for tensor in model.inputs:
        name = tensor.name.split(":")[0]
        shape = tuple(3 if d is None else d for d in tuple(tensor.shape)[1:])
        out[name] = _ids(rng, (2, *shape), str(getattr(tensor.dtype, "name", tensor.dtype)))
    return out


def _save(family: str, flavor: str, folder):
    model = FAMILIES[family](_module(flavor))
    return save_with_outputs(model, _inputs(model, 4), case_file(folder, family, flavor))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "wide_int_more", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_wide_ids_through_upsampling_and_dot_match_keras_exactly(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    assert all(o.dtype.kind == "i" for o in outputs), [o.dtype for o in outputs]
    assert all(np.abs(o.astype(np.int64)).max() > 2**24 for o in outputs)  # every output beyond float32's integers
    if family == "dot":  # the sums wrap modulo 2^32 as TF's int32 (an int64 sum gives other numbers)
        wide = np.einsum("bi,bi->b", inputs["x"].astype(np.int64), inputs["y"].astype(np.int64))[:, None]
        assert not np.array_equal(outputs[0], wide) and np.array_equal(outputs[0], wide.astype(np.int32))
    _verify(path.parent / f"{path.name}.out", inputs, outputs)


def test_keras3_dot_of_ids_lowers_beside_nearest_upsampling(tmp_path):
    """Keras 3's Dot of int32 multiplies in float32 and casts back: lowered as that since S14 (it was refused; its
    numbers are checked in ``test_keras_lowering_s14_prod_dot.py``)."""
    import tfjsconv
    from test_keras_lowering import LOWERED

    L = keras.layers
    a = keras.Input((4, 2), name="a", dtype="int32")
    model = keras.Model(a, [L.UpSampling2D(2)(L.Reshape((2, 2, 2))(a)), L.Dot(2, name="layer")([a, a])])
    model.save(tmp_path / "m.keras")
    result = tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert result.details == [LOWERED], result.details


def test_keras3_bilinear_upsampling_of_ids_stays_refused(tmp_path):
    """Beside a nearest one (lowered), bilinear UpSampling2D of int32 (Keras 3 rounds its float32 result back to int32)
    over a height unknown in the config stays refused by name."""
    L = keras.layers
    a = keras.Input((None, 3, 1), name="a", dtype="int32")
    message = _refusal(tmp_path, keras.Model(a, [L.UpSampling2D(2)(a), L.UpSampling2D(
        2, interpolation="bilinear", name="layer")(a)]))
    assert "does not cover 1 layer: 'layer' (UpSampling2D) bilinear on int32 images" in message, message


@pytest.mark.parametrize("dtype", ["int64", "int16"])
def test_tf_keras_dot_of_other_integers_is_refused_by_name(tmp_path, dtype):
    """tf_keras's Dot of int64 sums without wrapping at 2^32 (TF.js holds int64 as int32), of int16 wraps in int16:
    refused by name, beside an int32 Dot that lowers (the 8/16-bit one converted silently as a float dot before)."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    tf_keras = pytest.importorskip("tf_keras")
    L = tf_keras.layers
    a, b = tf_keras.Input((4,), name="a", dtype="int32"), tf_keras.Input((4,), name="b", dtype=dtype)
    tf_keras.Model([a, b], [L.Dot(1)([a, a]), L.Dot(1, name="layer")([b, b])]).save(tmp_path / "m.h5")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert f"does not cover 1 layer: 'layer' (Dot) on {dtype} integers (tf_keras computes the dot in their dtype" \
        in str(err.value), str(err.value)


@pytest.mark.node
def test_tf_keras_dot_of_ids_over_unknown_lengths_matches_keras(tmp_path, tfjs_runtime):
    """A contracted axis unknown in the config (sequences): the lowering sums the products' 16-bit halves, exact for
    any length; one converted model at several lengths."""
    from test_keras_lowering import convert_poisoned

    tf_keras = pytest.importorskip("tf_keras")
    L = tf_keras.layers
    x, y = tf_keras.Input((None,), name="x", dtype="int32"), tf_keras.Input((None,), name="y", dtype="int32")
    p, q = tf_keras.Input((None, 3), name="p", dtype="int32"), tf_keras.Input((None, 2), name="q", dtype="int32")
    model = tf_keras.Model([x, y, p, q], [L.Dot(1, name="flat")([x, y]), L.Dot(1, name="steps")([p, q])])
    model.save(tmp_path / "m.h5")
    convert_poisoned([tmp_path / "m.h5"])
    rng = np.random.default_rng(6)
    for length in (1, 4, 9):
        inputs = {"x": _ids(rng, (2, length)), "y": _ids(rng, (2, length)), "p": _ids(rng, (2, length, 3)),
                  "q": _ids(rng, (2, length, 2))}
        _verify(tmp_path / "m.h5.out", inputs, [np.asarray(o) for o in model([*inputs.values()])])


@pytest.mark.node
def test_upsampled_ids_run_on_webgl(converted, browser):
    """The Keras 3 UpSampling2D model on webgl with ids below 2^23 (webgl holds int32 as float32: past 2^24 any int32
    there loses low bits): the ExpandDims, Tile and Reshape of int32 run there and match Keras."""
    import json
    from pathlib import Path

    from tfjsconv.verify.compare import format_report, verify_model

    path, _, _ = converted[CASES[0]]
    model = keras.models.load_model(path)
    rng = np.random.default_rng(8)
    inputs = {t.name.split(":")[0]: rng.integers(-2**23, 2**23, (2, *(3 if d is None else d for d in t.shape[1:])))
              .astype(str(t.dtype)) for t in model.inputs}
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    expected = dict(zip(names, [np.asarray(o) for o in model([*inputs.values()])], strict=True))
    report = verify_model(out, inputs, expected, backends=("webgl",), rtol=0, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)
