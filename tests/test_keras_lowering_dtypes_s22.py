"""Keras 3 layers of an integer dtype, CategoryEncoding's dtypes, float ids and count_weights, Average of an integer
and a float, SpectralNormalization of integers and MaxNumBoundingBoxes on images (session 22; session 21's probe h2
found each refused by the lowering while ``--loader=tensorflow`` converted it).

Keras 3's ``Layer.__call__`` casts a layer's float inputs to its dtype (``DTypePolicy.convert_input``: floats only),
so ``Identity(dtype="int32")`` of floats truncates them as TF's cast does (NaN, ±Inf and magnitudes from 2^31 give
INT32_MIN) and merges then add and multiply in int32, wrapping; ``Rescaling(dtype="int32")`` also casts its scale and
offset to int32. CategoryEncoding's ``bincount``/``one_hot`` truncate float ids; ``count_weights`` are converted to
its dtype and summed per id. Average adds left to right in Keras's promoted dtype: with a float among the first two
inputs, in float32 from the first add (the lowering's casts, exact). SpectralNormalization casts the wrapped layer's
float32 result back to the input's integer dtype. MaxNumBoundingBoxes returns images alone as given. Converted with
TensorFlow, Keras and tf_keras poisoned; compared with Keras's ``model(x)`` in TF.js cpu and wasm at two batch sizes
(integers exact; int64 as the low 32 bits TF.js holds). What cannot be exact is refused by name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import poisoned_refusals, randomize  # noqa: E402
from keras_two_sizes import converted_fixture, each_case, keras_outputs, verify_runs  # noqa: E402
from test_keras_lowering import case_file  # noqa: E402

NAN, INF = float("nan"), float("inf")
#: Floats whose truncation Keras's cast gives at an edge: fractions of both signs, the largest float32 below 2^31,
#: 2^31 itself, beyond int32 (INT32_MIN for int32, the whole number for int64), NaN and ±Inf.
FLOAT_EDGES = [0.5, -0.5, 1.99, -1.99, 2147483520.0, -2147483648.0, 2147483648.0, 3e9, -3e9, NAN, INF, -INF,
               -7.7, 1e-30]
#: int32 extremes (products and sums wrap; a float32 cast rounds past 2^24).
INT_EDGES = [2**31 - 1, -2**31, 2**24 + 1, -(2**24 + 3), 65537, -46341, 7, -7, 0, 1, -1, 123456789]


def _integer_dtype_layers(k: Any, dtype: str) -> Any:
    """Every layer class lowered with an integer dtype, on floats (Keras casts them) and on int32 ids (kept); with
    dtype int64 on int64 inputs instead of floats (floats into int64 layers are refused, review R1 F1)."""
    L = k.layers
    x, i = k.Input((6,), name="x", dtype="int64" if dtype == "int64" else "float32"), \
        k.Input((6,), name="i", dtype="int32")
    d = {"dtype": dtype}
    grid = L.Reshape((3, 2), name="grid")(x)  # floats
    outs = [L.Identity(name="identity", **d)(x), L.Reshape((2, 3), name="reshape", **d)(x),
            L.Flatten(name="flatten", **d)(grid), L.Permute((2, 1), name="permute", **d)(grid),
            L.RepeatVector(2, name="repeat", **d)(x), L.Cropping1D((1, 0), name="crop", **d)(grid),
            L.ZeroPadding1D(1, name="pad", **d)(grid), L.UpSampling1D(2, name="upsample", **d)(grid),
            L.Dropout(0.5, name="dropout", **d)(x), L.Add(name="add", **d)([x, x]),
            L.Subtract(name="subtract", **d)([x, i]), L.Multiply(name="multiply", **d)([x, i]),
            L.Concatenate(name="concat", **d)([i, x]), L.Rescaling(2.5, offset=-1.7, name="rescale", **d)(x),
            L.Rescaling(-3.9, offset=7.2, name="rescale_ids", **d)(i),
            L.Rescaling([2.0, -1.5, 1e10, 0.5, 3.7, -2.9], name="rescale_channels", **d)(x)]
    if dtype == "int32":  # TF.js holds int64 past int32's range as its low 32 bits: comparisons of int64 are gaps,
        # and a Dense would read those bits (named in the conversion's warnings)
        outs += [L.Dense(3, name="dense")(L.Identity(name="ids_for_dense", **d)(x)), L.Maximum(name="maximum", **d)([x, i]), L.Minimum(name="minimum", **d)([i, x]),
                 L.GlobalMaxPooling1D(name="global_max", **d)(grid), L.Activation("relu", name="relu", **d)(x),
                 L.Activation("linear", name="linear", **d)(x), L.Activation("tanh", name="tanh", **d)(x),
                 L.Activation("leaky_relu", name="leaky_relu", **d)(x),
                 L.Activation("exponential", name="exponential", **d)(L.Rescaling(0.01, name="tenth")(x))]
    return k.Model([x, i], outs)


def _category_encodings(k: Any) -> Any:
    """CategoryEncoding of int32 and int64 dtype, of float ids, and with float or int32 count_weights (a float32
    layer sums them as floats, an int32 one truncates them first)."""
    L = k.layers
    ids, one = k.Input((5,), name="ids", dtype="int32"), k.Input((1,), name="one", dtype="int32")
    fids, fone = k.Input((5,), name="fids"), k.Input((1,), name="fone")
    weights, int_weights = k.Input((5,), name="weights"), k.Input((5,), name="int_weights", dtype="int32")
    return k.Model([ids, one, fids, fone, weights, int_weights], [
        L.CategoryEncoding(6, output_mode="count", dtype="int32", name="count_int32")(ids),
        L.CategoryEncoding(6, output_mode="multi_hot", dtype="int64", name="multi_hot_int64")(ids),
        L.CategoryEncoding(6, output_mode="one_hot", dtype="int64", name="one_hot_int64")(one),
        L.CategoryEncoding(6, output_mode="one_hot", dtype="int32", name="one_hot_rows_int32")(ids),
        L.CategoryEncoding(6, output_mode="count", name="count_floats")(fids),
        L.CategoryEncoding(6, output_mode="multi_hot", name="multi_hot_floats")(fids),
        L.CategoryEncoding(6, output_mode="one_hot", name="one_hot_float")(fone),
        L.CategoryEncoding(6, output_mode="count", name="weighted")(ids, count_weights=weights),
        L.CategoryEncoding(6, output_mode="count", name="int_weighted")(ids, count_weights=int_weights),
        L.CategoryEncoding(6, output_mode="count", dtype="int32", name="weighted_int32")(ids, count_weights=weights),
        L.CategoryEncoding(6, output_mode="count", dtype="int64", name="weighted_int64")(ids,
                                                                                         count_weights=int_weights)])


def _averages(k: Any) -> Any:
    """Average of an integer and a float among its first two inputs: Keras adds in float32 from the first add."""
    L = k.layers
    x, i = k.Input((6,), name="x"), k.Input((6,), name="i", dtype="int32")
    j = k.Input((6,), name="j", dtype="int64")
    return k.Model([x, i, j], [L.Average(name="int_float")([i, x]), L.Average(name="float_int_int")([x, i, i]),
                               L.Average(name="int_float_int")([i, x, i]), L.Average(name="int64_float")([j, x])])


def _spectral(k: Any) -> Any:
    """SpectralNormalization of int32/int64/bool inputs: the wrapped layer's float32 result cast back to them (an
    Embedding's rows exactly; a Dense's sums of small integers, far from a truncation's edge; a Dense on int64 is
    refused, review R1 F1)."""
    L = k.layers
    ids, small = k.Input((4,), name="ids", dtype="int32"), k.Input((4,), name="small", dtype="int32")
    wide, flags = k.Input((4,), name="wide", dtype="int64"), k.Input((4,), name="flags", dtype="bool")
    return k.Model([ids, small, wide, flags], [
        L.SpectralNormalization(L.Embedding(7, 3), name="sn_embedding")(ids),
        L.SpectralNormalization(L.Dense(3), name="sn_dense")(small),
        L.SpectralNormalization(L.Embedding(50, 2), name="sn_embedding_int64")(wide),
        L.SpectralNormalization(L.Dense(2), name="sn_dense_bool")(flags)])


def _boxes(k: Any) -> Any:
    """MaxNumBoundingBoxes on images alone (float, int32 and uint8; unknown sizes): the images as given; on dicts of
    images and bounding boxes (keys in either order; int32 boxes Keras makes float32): 5 boxes cut to 3, padded to 7
    with -1, or kept at 5; the layer's outputs picked in another order than Keras's sorted one."""
    L = k.layers
    f = k.Input((None, None, 3), name="f")
    i, u = k.Input((4, 4, 3), name="i", dtype="int32"), k.Input((3, 5, 2), name="u", dtype="uint8")
    img, boxes, labels = k.Input((4, 4, 3), name="img"), k.Input((5, 4), name="boxes"), k.Input((5,), name="labels",
                                                                                               dtype="int32")
    iboxes, flabels = k.Input((5, 4), name="iboxes", dtype="int32"), k.Input((5,), name="flabels")
    cut = L.MaxNumBoundingBoxes(3, bounding_box_format="xyxy", name="cut")(
        {"images": img, "bounding_boxes": {"boxes": boxes, "labels": labels}})
    padded = L.MaxNumBoundingBoxes(7, bounding_box_format="xyxy", name="padded")(
        {"bounding_boxes": {"labels": flabels, "boxes": iboxes}, "images": img})
    kept = L.MaxNumBoundingBoxes(5, bounding_box_format="xyxy", name="kept")(
        {"images": img, "bounding_boxes": {"boxes": boxes, "labels": labels}})
    return k.Model([f, i, u, img, boxes, labels, iboxes, flabels], [
        L.MaxNumBoundingBoxes(3, name="boxes_float")(f), L.MaxNumBoundingBoxes(2, name="boxes_int32")(i),
        L.MaxNumBoundingBoxes(4, name="boxes_uint8")(u), cut["images"], cut["bounding_boxes"]["boxes"],
        cut["bounding_boxes"]["labels"], padded["bounding_boxes"]["labels"], padded["images"],
        padded["bounding_boxes"]["boxes"], kept["bounding_boxes"]["boxes"], kept["bounding_boxes"]["labels"]])


FAMILIES = {"int32_layers": lambda k: _integer_dtype_layers(k, "int32"),
            "int64_layers": lambda k: _integer_dtype_layers(k, "int64"), "category_encoding": _category_encodings,
            "averages": _averages, "spectral": _spectral, "boxes": _boxes}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "keras3.h5")]


def _floats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal floats times 50 (fractions truncate), the edge values in the first rows."""
    out = (rng.standard_normal(shape) * 50).astype(np.float32)
    flat = out.reshape(-1)
    flat[:min(len(FLOAT_EDGES), flat.size)] = FLOAT_EDGES[:flat.size]
    return out


def _ints(rng: np.random.Generator, shape: tuple[int, ...], edges: list[int] = INT_EDGES) -> np.ndarray:
    out = rng.integers(-40, 41, shape).astype(np.int64)
    flat = out.reshape(-1)
    flat[:min(len(edges), flat.size)] = edges[:flat.size]
    return out


def _values(family: str, name: str, dtype: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Each input's values: ids in range (or just past it) for the encodings, bounded floats where Keras's bincount
    would raise, small integers into a Dense, edge values elsewhere."""
    if name in ("ids", "one"):  # an encoding's 6 and 7 count for nothing; the Embedding's table has 7 rows
        return rng.integers(0, 7 if family == "spectral" else 8 if name == "ids" else 6, shape).astype(np.int32)
    if name in ("fids", "fone"):  # bincount casts to int32 and raises on negatives: -0.99..7.99, truncated
        values = rng.uniform(-0.99, 7.99, shape).astype(np.float32)
        values.reshape(-1)[:3] = [5.99, 6.0, -0.5][:values.size]
        return values
    if name == "weights":
        return _floats(rng, shape) if shape[0] > 1 else (rng.standard_normal(shape) * 3).astype(np.float32)
    if name == "int_weights":
        return _ints(rng, shape).astype(np.int32)
    if name in ("small", "labels", "iboxes"):
        return rng.integers(-40, 41, shape).astype(np.int32)
    if name == "flags":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype == "uint8":
        return rng.integers(0, 256, shape).astype(np.uint8)
    if dtype in ("int32", "int64"):
        if name == "wide":  # int64 ids of an Embedding's 50 rows
            return rng.integers(0, 50, shape).astype(np.int64)
        return _ints(rng, shape).astype(dtype)
    return _floats(rng, shape)


def _inputs(model: Any, family: str, rng: np.random.Generator, batch: int, size: int) -> dict[str, np.ndarray]:
    """Each model input at ``batch``, its unknown sizes at ``size``."""
    out = {}
    for t in model.inputs:
        name = t.name.split(":")[0]
        shape = (batch, *(size if d is None else d for d in tuple(t.shape)[1:]))
        out[name] = _values(family, name, str(getattr(t.dtype, "name", t.dtype)), shape, rng)
    return out


def _low_bits(array: np.ndarray) -> np.ndarray:
    """An int64 result as TF.js holds it: its low 32 bits, as int32."""
    return array.astype(np.int32) if array.dtype == np.int64 else array


def _saver(seed: int):
    """Each family's Keras 3 model (random weights; SpectralNormalization's ten times larger, so truncation keeps
    values), Keras's outputs at batch 3 then 2 (unknown image sizes 5 then 3), saved as ``flavor``."""
    def save(family: str, flavor: str, folder: Path) -> tuple[Path, list, None]:
        model = FAMILIES[family](keras)
        randomize(model, seed)
        if family == "spectral":
            model.set_weights([w * 10 for w in model.get_weights()])
        rng = np.random.default_rng(seed + 1)
        runs = []
        for batch, size in ((3, 5), (2, 3)):
            inputs = _inputs(model, family, rng, batch, size)
            runs.append((inputs, [_low_bits(o) for o in keras_outputs(model, inputs)]))
        path = case_file(folder, family, flavor)
        model.save(path)
        return path, runs, None

    return save


converted = converted_fixture("s22_dtypes", CASES, _saver(seed=22))


@pytest.mark.node
@each_case(CASES)
def test_integer_dtypes_lower_as_keras_computes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    outputs = runs[0][1]
    if family.endswith("_layers"):  # Keras's truncation and INT32_MIN are in the expected values
        assert any(o.dtype == np.int32 and (o == -2**31).any() for o in outputs)
    verify_runs(path, runs)


def _one(dtype: str, layer: Any, shape: tuple[int, ...] = (4,)) -> Any:
    x = keras.Input(shape, name="x", dtype=dtype)
    return keras.Model(x, layer(x))


def test_what_cannot_be_exact_is_refused_by_name(tmp_path):
    """Refused by name: SpectralNormalization of 8/16-bit integers (TF's cast of out-of-range floats to them depends on
    the tensor's size), MaxNumBoundingBoxes on a number of boxes unknown in the config, an Average whose first two inputs are
    int32 (Keras sums them in int32, wrapping, before the float), int64 layers that compare (TF.js holds int64 as its
    low 32 bits), relu6 of int32 (the lowering's is float32) and the integer dtypes not lowered (uint8, bool)."""
    L = keras.layers
    images, boxes, labels = keras.Input((4, 4, 3), name="images"), keras.Input((None, 4), name="b"), \
        keras.Input((None,), name="l")
    dict_boxes = keras.Model([images, boxes, labels], L.MaxNumBoundingBoxes(3, bounding_box_format="xyxy",
                                                                            name="mnbb")(
        {"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}))
    i, x = keras.Input((4,), name="i", dtype="int32"), keras.Input((4,), name="x")
    messages = poisoned_refusals(tmp_path, [
        _one("uint8", L.SpectralNormalization(L.Dense(2), name="sn")), dict_boxes,
        keras.Model([i, x], L.Average(name="avg")([i, i, x])),
        keras.Model(x, L.Activation("relu", dtype="int64", name="relu64")(x)),
        keras.Model(x, L.Activation("relu6", dtype="int32", name="relu6")(x)),
        _one("float32", L.Identity(dtype="uint8", name="id_u8")), _one("float32", L.Identity(dtype="bool", name="id_b"))])
    assert "'sn' (SpectralNormalization) on uint8 integers (Keras casts the wrapped layer's float32 result back" \
        in messages[0]
    assert "'mnbb' (MaxNumBoundingBoxes) boxes of shape [None, None, 4] (lowered for [batch, boxes, 4] with a known " \
        "number of boxes)" in messages[1]
    assert "'avg' (Average) on int32 integers" in messages[2]
    assert "'relu64' (Activation: dtype int64)" in messages[3]
    assert "'relu6' (Activation: dtype int32)" in messages[4]  # Keras keeps int32, the lowering gives float32
    assert "'id_u8' (Identity: dtype uint8)" in messages[5]
    assert "'id_b' (Identity: dtype bool)" in messages[6]


def test_floats_cast_to_int64_are_refused_by_name(tmp_path):
    """Review R1 (F1): a float from 2^31 on cast to int64 is held by TF.js as its low 32 bits, so a relu, Maximum,
    GlobalMaxPooling, CategoryEncoding or Dense after it read another number than Keras's (3e9 gave relu 0 where Keras
    gives 3e9's low bits). Floats into int64-dtype layers, float count_weights into an int64 CategoryEncoding and a
    SpectralNormalization's float result cast to int64 (a Dense's, an Embedding's rows past 2^31) are refused by
    name (integer inputs and an Embedding's rows inside int32 still lower)."""
    L = keras.layers
    x, ids = keras.Input((6,), name="x"), keras.Input((6,), name="ids", dtype="int32")
    j = keras.Input((4,), name="j", dtype="int64")
    w = L.Identity(dtype="int64", name="w")(x)
    big_rows = keras.Model(j, L.SpectralNormalization(L.Embedding(5, 2), name="sn_rows64")(j))
    big_rows.set_weights([np.full(a.shape, 3e9, np.float32) for a in big_rows.get_weights()])  # rows past 2^31
    messages = poisoned_refusals(tmp_path, [
        keras.Model(x, L.Activation("relu", dtype="int32", name="relu32")(w)),
        keras.Model(x, L.Add(dtype="int64", name="add64")([x, x])),
        keras.Model([ids, x], L.CategoryEncoding(6, output_mode="count", dtype="int64", name="ce64")(
            ids, count_weights=x)),
        keras.Model(j, L.SpectralNormalization(L.Dense(2), name="sn64")(j)), big_rows])
    tail = ": Keras casts floats to int64 there, and from 2^31 on TF.js holds only an int64's low 32 bits"
    assert "'w' (Identity: dtype int64) on floats" + tail in messages[0]
    assert "'add64' (Add: dtype int64) on floats" + tail in messages[1]
    assert "'ce64' (CategoryEncoding: dtype int64) on float count_weights" + tail in messages[2]
    assert "'sn64' (SpectralNormalization of int64) around Dense" + tail in messages[3]
    assert "'sn_rows64' (SpectralNormalization of int64) around Embedding" + tail in messages[4]


def _constant_rescalings(k: Any) -> Any:
    """Review R1 (F3): Rescaling of an integer dtype casts its saved scale and offset as TF converts them: Python
    ints exactly (16777217 is no float32) or wrapped past int32 (2^40 gives 0), int lists, float64 arrays truncated
    from float64 (2.9999999999 gives 2), int64 arrays wrapped; with dtype int64 their low 32 bits."""
    L = k.layers
    x, j = k.Input((4,), name="x"), k.Input((4,), name="j", dtype="int64")
    f64 = np.array([2.9999999999, 2147483647.0, -0.99999999999, 3e9])
    return k.Model([x, j], [
        L.Rescaling(16777217, name="big_int", dtype="int32")(x),
        L.Rescaling(2**40, offset=5, name="wrapped_int", dtype="int32")(x),
        L.Rescaling([1, 2**33 + 7, 3, -2**31 - 1], offset=-16777219, name="int_list", dtype="int32")(x),
        L.Rescaling(f64, offset=np.array([0.99999999999, 16777217.0, 1e19, -2.5]), name="float64_array",
                    dtype="int32")(x),
        L.Rescaling(np.array([2**40 + 3, -5, 7, 2**31], np.int64), name="int64_array", dtype="int32")(x),
        L.Rescaling(16777217, offset=2**40 + 1, name="big_int64", dtype="int64")(j),
        L.Rescaling(np.array([3e9, 1e19, 2.9999999999, -7.5]), name="float64_int64", dtype="int64")(j)])


@pytest.mark.node
def test_integer_rescaling_casts_its_saved_constants_as_keras(tmp_path_factory, tfjs_runtime):
    """The constants above matched Keras bit for bit in TF.js cpu and wasm, ``.keras`` and ``.h5``, two batches
    (before: rounded through float32 first, 16777217 gave 16777216 and 2^40 INT32_MIN)."""
    from test_keras_lowering import saved_and_converted

    def save(family: str, flavor: str, folder: Path) -> tuple[Path, list, None]:
        model = _constant_rescalings(keras)
        rng = np.random.default_rng(23)
        runs = []
        for batch in (3, 2):
            inputs = {"x": (rng.integers(-9, 10, (batch, 4)) + rng.choice([0.0, 0.5, -0.75], (batch, 4))
                            ).astype(np.float32),
                      "j": rng.integers(-2**31, 2**31, (batch, 4)).astype(np.int64)}
            runs.append((inputs, [_low_bits(o) for o in keras_outputs(model, inputs)]))
        path = case_file(folder, family, flavor)
        model.save(path)
        return path, runs, None

    cases = [("rescaling_constants", flavor) for flavor in ("keras3.keras", "keras3.h5")]
    for path, runs, _ in saved_and_converted(tmp_path_factory, "s22_rescaling", cases, save).values():
        big = runs[0][1][0]  # Keras's 16777217·x: no float32 (the old lowering's constant was 16777216)
        assert (big.astype(np.float32).astype(np.int64) != big).any()
        verify_runs(path, runs)


def test_truncated_computed_floats_are_named_in_the_warnings(tmp_path, caplog):
    """Review R1 (F2, F4, F5): Keras truncates its own float to integers where a Dense's 4.9999995 came out 5 on
    wasm, and a float64 model input TF.js is fed as float32: the conversion names each such layer (an integer
    autocast, CategoryEncoding's float ids and count_weights, SpectralNormalization), as Layer/RMSNormalization of
    integers are named; a float32 input or an Embedding's rows truncate exactly, unnamed."""
    import tfjsconv

    L = keras.layers
    x, x64 = keras.Input((4,), name="x"), keras.Input((4,), name="x64", dtype="float64")
    i = keras.Input((4,), name="i", dtype="int32")
    dense = L.Dense(4, name="dense")(x)
    model = keras.Model([x, x64, i], [
        L.Identity(dtype="int32", name="of_dense")(dense), L.Identity(dtype="int32", name="of_input")(x),
        L.Reshape((2, 2), dtype="int32", name="of_float64")(x64),
        L.CategoryEncoding(5, output_mode="multi_hot", name="ids_of_dense")(dense),
        L.CategoryEncoding(5, output_mode="count", dtype="int32", name="weights_of_dense")(i, count_weights=dense),
        L.SpectralNormalization(L.Dense(2), name="sn_dense")(i),
        L.SpectralNormalization(L.Embedding(9, 2), name="sn_embedding")(i)])
    model.save(tmp_path / "m.keras")
    with caplog.at_level("WARNING"):
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    named = {"'of_dense' (Identity: dtype int32)", "'ids_of_dense' (CategoryEncoding: float ids)",
             "'weights_of_dense' (CategoryEncoding: dtype int32) count_weights",
             "'sn_dense' (SpectralNormalization of int32)"}
    text = " ".join(caplog.text.split())
    for what in named:
        assert f"layer {what}: Keras truncates a float computed by the layers before it to integers, so a value " \
            "within a float32 rounding of a whole number" in text, (what, text)
    assert "layer 'of_float64' (Reshape: dtype int32): Keras truncates a float64 model input to integers; TF.js is " \
        "fed float32" in text, text
    for quiet in ("'of_input'", "'sn_embedding'"):
        assert quiet not in caplog.text, caplog.text
