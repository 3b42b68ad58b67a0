"""int32 ``prod``/``cumprod`` over axes of sizes the config does not fix, and Keras 3's Dot of int32 (S14 H4).

The lowering refused them by name, while ``--loader=tensorflow`` converted them (the session 14 probe):

- ``keras.ops.prod`` / ``tf.math.reduce_prod`` of int32 over an axis unknown in the config, the batch axis, every axis
  or more than 256 factors, and Keras 3's ``prod`` of int8 there (cast to int32 first): TF's int32 ``Prod`` now, as
  TF computes it. Over known counts up to 256 the step-by-step products stay (exact on every backend).
- ``keras.ops.cumprod`` / ``tf.math.cumprod`` of int32 along an unknown axis, the batch (tf_keras's default), the
  flattened tensor (Keras 3's default) or more than 256 steps: TF's int32 ``Cumprod``.
- Keras 3's Dot of int32 (beside int32, an 8/16-bit integer or a float): cast to float32, a BatchMatMulV2 as Keras's
  TF backend builds it, and cast back to int32 as TF's cast does (INT_MIN from 2^31 on, where TF.js's Cast wraps).

Expected values are Keras's own ``model(x)``; the files convert with TensorFlow, Keras and tf_keras poisoned and run in
TF.js. wasm gives Keras's products over the whole int32 range (wrapped modulo 2^32), its Dot exactly while the sums
stay below 2^24 and INT_MIN where they leave int32; between, Keras's dot is a float32 sum rounded in the order of TF's
matmul kernel (which changes with TF_ENABLE_ONEDNN_OPTS), so TF.js agrees within float32's rounding of the sum, as the
traced graph does. cpu gives Keras's numbers where it is exact (products below 2^53, dot sums below 2^24); beyond, it
gives the deviations the conversion names on its special-values line, checked here value for value: "Prod (cpu)" /
"Cumprod (cpu)" (JS float64 products, stored modulo 2^32) and "Cast (cpu)" (its int32 -> float32 Cast does not round;
its matmul then sums the products in float64). Keras 3's Dot of int64 (cast back to int64) and tf_keras's int16 product
over an unknown axis stay refused by name.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import graph_model_refusal, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402

#: int32 values float32 does not hold, the extremes, negatives and small ones.
EDGES = [2**31 - 1, -2**31, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 46341, -3]


def _ids(rng: np.random.Generator, shape: tuple[int, ...], low: int = -2**31, high: int = 2**31 - 1,
         edges: bool = True) -> np.ndarray:
    """Random int32 ids in ``[low, high]`` (:data:`EDGES` first when ``edges``)."""
    out = rng.integers(low, high, shape, endpoint=True).reshape(-1)
    if edges:
        out[:len(EDGES)] = EDGES[:out.size]
    return out.reshape(shape).astype(np.int32)


# -- models -------------------------------------------------------------------------------------------------------
def keras3_products():
    """Keras 3 ``prod``/``cumprod`` of int32 over an unknown axis, the batch, every axis, 300 factors; of int8 over an
    unknown axis; the flattened ``cumprod`` (its default)."""
    o = keras.ops
    ids, long = keras.Input((None,), name="ids", dtype="int32"), keras.Input((300,), name="long", dtype="int32")
    small = keras.Input((None,), name="small", dtype="int8")
    return keras.Model([ids, long, small], [
        o.prod(ids, axis=1), o.prod(ids, axis=0), o.prod(ids), o.prod(ids, axis=-1, keepdims=True),
        o.cumprod(ids, axis=1), o.cumprod(ids), o.prod(long, axis=1), o.cumprod(long, axis=-1), o.prod(small, axis=1)])


def tf_keras_products():
    """tf_keras ``tf.math.reduce_prod``/``cumprod`` of int32 over an unknown axis and the batch (``cumprod``'s
    default axis 0)."""
    tf = pytest.importorskip("tensorflow")
    k = pytest.importorskip("tf_keras")
    ids, long = k.Input((None,), name="ids", dtype="int32"), k.Input((300,), name="long", dtype="int32")
    return k.Model([ids, long], [tf.math.reduce_prod(ids, axis=1), tf.math.reduce_prod(ids, axis=0),
                                 tf.math.cumprod(ids, axis=1), tf.math.cumprod(ids), tf.math.reduce_prod(long, axis=1)])


def keras3_dots():
    """Keras 3 Dot of int32: rank 2, rank 3 over axes (1, 2) and (2, 2), int32 with int16, int32 with float32."""
    L = keras.layers
    a, b = keras.Input((6,), name="a", dtype="int32"), keras.Input((6,), name="b", dtype="int32")
    c, d = keras.Input((4, 6), name="c", dtype="int32"), keras.Input((5, 4), name="d", dtype="int32")
    h, f = keras.Input((6,), name="h", dtype="int16"), keras.Input((6,), name="f")
    return keras.Model([a, b, c, d, h, f], [L.Dot(1)([a, b]), L.Dot((1, 2))([c, d]), L.Dot(2)([c, c]),
                                            L.Dot(1)([a, h]), L.Dot(-1)([a, f])])


# -- inputs -------------------------------------------------------------------------------------------------------
def _product_inputs(rng: np.random.Generator, wide: bool, small: bool = True) -> dict[str, np.ndarray]:
    """``wide``: ids over the whole int32 range (products wrap, and pass 2^53); else a row of ids in [-400, 400] and
    one of ±1, and a long row of ±1 with 30 threes (every product, running ones too, wraps past 2^31 or may, yet
    stays below 2^53: TF.js's cpu is exact)."""
    ids = _ids(rng, (2, 6)) if wide else np.stack([_ids(rng, (6,), -400, 400, edges=False),
                                                   rng.choice([-1, 1], 6).astype(np.int32)])
    long = _ids(rng, (2, 300)) if wide else rng.choice([-1, 1], (2, 300)).astype(np.int32)
    if not wide:
        long[:, rng.choice(300, 30, replace=False)] = 3
    out = {"ids": ids, "long": long}
    if small:
        out["small"] = rng.integers(-128, 128, (2, 7)).astype(np.int8)
    return out


def _dot_inputs(rng: np.random.Generator, wide: bool) -> dict[str, np.ndarray]:
    """``wide``: ids whose dot sums pass 2^24 and int32's range; else ids in [-1000, 1000] (sums below 2^24)."""
    bound = 2**31 - 1 if wide else 1000
    ints = {name: _ids(rng, shape, -bound, bound, edges=wide)
            for name, shape in (("a", (3, 6)), ("b", (3, 6)), ("c", (3, 4, 6)), ("d", (3, 5, 4)))}
    if wide:  # sums within int32 but past 2^24 too (TF rounds them in float32)
        for name in ("a", "b", "c"):
            ints[name][1] = rng.integers(-15000, 15000, ints[name].shape[1:])
    return {**ints, "h": rng.integers(-2**15, 2**15, (3, 6)).astype(np.int16) if wide else
            rng.integers(-1000, 1000, (3, 6)).astype(np.int16),
            "f": rng.integers(-1000, 1000, (3, 6)).astype(np.float32)}


CASES = {
    "keras3_products_small": (keras3_products, ".keras", lambda rng: _product_inputs(rng, False)),
    "keras3_products_wide": (keras3_products, ".keras", lambda rng: _product_inputs(rng, True)),
    "keras3_products_h5": (keras3_products, ".h5", lambda rng: _product_inputs(rng, True)),
    "tf_keras_products_small": (tf_keras_products, ".h5", lambda rng: _product_inputs(rng, False, False)),
    "tf_keras_products_wide": (tf_keras_products, ".h5", lambda rng: _product_inputs(rng, True, False)),
    "keras3_dots_small": (keras3_dots, ".keras", lambda rng: _dot_inputs(rng, False)),
    "keras3_dots_wide": (keras3_dots, ".keras", lambda rng: _dot_inputs(rng, True)),
}
#: The cases whose values TF.js's cpu computes as TF does (products below 2^53, dot sums below 2^24).
CPU_EXACT = ("keras3_products_small", "tf_keras_products_small", "keras3_dots_small")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s14_prod_dot")
    saved = {}
    for i, (case, (build, suffix, inputs_of)) in enumerate(CASES.items()):
        saved[case] = save_with_outputs(build(), inputs_of(np.random.default_rng(1400 + i)), folder / f"{case}{suffix}")
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


def _run(path: Path, inputs: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Each backend's outputs (in the signature's order) of the converted model."""
    from tfjsconv.verify.run import run_model

    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    runs = run_model(out, inputs, backends=["cpu", "wasm"], quiet=True)
    results = {}
    for backend in ("cpu", "wasm"):
        assert runs.backends[backend].ok, runs.backends[backend].error
        results[backend] = [np.asarray(runs.backends[backend].outputs[n]) for n in names]
    return results


# -- TF.js cpu's named deviations, modelled -------------------------------------------------------------------------
def _to_int32(value: float) -> int:
    """JS's ToInt32 (an Int32Array store): truncated, modulo 2^32; NaN and infinities give 0."""
    if not math.isfinite(value):
        return 0
    wrapped = math.trunc(value) % 2**32
    return wrapped - 2**32 if wrapped >= 2**31 else wrapped


def _cpu_prod(rows: np.ndarray) -> np.ndarray:
    """TF.js cpu's int32 Prod of each row: a float64 product, stored modulo 2^32 ("Prod (cpu)")."""
    out = []
    for row in rows.tolist():
        product = 1.0
        for value in row:
            product *= value
        out.append(_to_int32(product))
    return np.asarray(out, np.int64)


def _cpu_cumprod(rows: np.ndarray) -> np.ndarray:
    """TF.js cpu's int32 Cumprod along each row: each step a float64 product stored modulo 2^32 ("Cumprod (cpu)")."""
    out = []
    for row in rows.tolist():
        steps = [row[0]]
        for value in row[1:]:
            steps.append(_to_int32(float(steps[-1]) * value))
        out.append(steps)
    return np.asarray(out, np.int64)


def _cpu_dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """TF.js cpu's ``[B, M, K] · [B, K, N]`` of int32 cast to float32 (unrounded: "Cast (cpu)"): each sum of up to 48
    products in float64, stored as float32, then TF's cast to int32 (INT_MIN from 2^31 on)."""
    sums = np.einsum("bmk,bkn->bmn", x.astype(np.float64), y.astype(np.float64)).astype(np.float32)
    return np.where(np.abs(sums) < 2**31, np.trunc(sums), -2**31).astype(np.int64)


# -- tests --------------------------------------------------------------------------------------------------------
@pytest.mark.node
@pytest.mark.parametrize("case", CPU_EXACT)
def test_small_values_match_keras_on_cpu_and_wasm(converted, tfjs_runtime, case):
    path, inputs, outputs = converted[case]
    if case.endswith("products_small"):  # the products wrap (past 2^31) yet stay below 2^53
        assert any(np.abs(np.prod(inputs["ids"].astype(np.float64), axis=1)) > 2**31)
    _verify(Path(f"{path}.out"), inputs, outputs)


@pytest.mark.node
@pytest.mark.parametrize("case", ["keras3_products_wide", "keras3_products_h5", "tf_keras_products_wide"])
def test_wide_products_match_keras_on_wasm_and_the_named_deviation_on_cpu(converted, tfjs_runtime, case):
    path, inputs, outputs = converted[case]
    runs = _run(path, inputs)
    for i, expected in enumerate(outputs):
        assert np.array_equal(runs["wasm"][i], expected), (i, runs["wasm"][i], expected)
    ids, long = inputs["ids"].astype(np.int64), inputs["long"].astype(np.int64)
    if case.startswith("keras3"):  # prod(1), prod(0), prod(), prod(-1, keepdims), cumprod(1), cumprod(), 300 factors
        cpu = [_cpu_prod(ids), _cpu_prod(ids.T), _cpu_prod(ids.reshape(1, -1))[0], _cpu_prod(ids)[:, None],
               _cpu_cumprod(ids), _cpu_cumprod(ids.reshape(1, -1))[0], _cpu_prod(long), _cpu_cumprod(long),
               _cpu_prod(inputs["small"].astype(np.int64))]
    else:  # reduce_prod(1), reduce_prod(0), cumprod(1), cumprod(0), 300 factors
        cpu = [_cpu_prod(ids), _cpu_prod(ids.T), _cpu_cumprod(ids), _cpu_cumprod(ids.T).T, _cpu_prod(long)]
    for i, (got, modelled) in enumerate(zip(runs["cpu"], cpu, strict=True)):
        assert np.array_equal(got.astype(np.int64), modelled), (i, got, modelled)
    assert not np.array_equal(runs["cpu"][0], outputs[0])  # the deviation is real for these ids


def test_the_conversion_names_the_cpu_products(converted, tmp_path):
    import tfjsconv

    path, _, _ = converted["keras3_products_wide"]
    cpu = tfjsconv.convert(path, tmp_path / "cpu", output_format="tfjs_graph_model", target_backends=["cpu"])
    assert len(cpu.notices) == 1 and "Cumprod, Prod (cpu)" in cpu.notices[0], cpu.notices
    wasm = tfjsconv.convert(path, tmp_path / "wasm", output_format="tfjs_graph_model", target_backends=["wasm"])
    assert not any("Prod" in n for n in wasm.notices), wasm.notices


def _dot_terms(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact dots of ``[B, M, K] · [B, K, N]`` int64 ids and the sums of their terms' magnitudes."""
    return np.einsum("bmk,bkn->bmn", x, y), np.einsum("bmk,bkn->bmn", np.abs(x), np.abs(y))


@pytest.mark.node
def test_wide_dots_round_as_a_float32_matmul_and_give_int_min_beyond_int32(converted, tfjs_runtime, tmp_path):
    """Past 2^24 Keras's dot is a float32 sum, rounded in the order of TF's matmul kernel (it changes with
    TF_ENABLE_ONEDNN_OPTS): wasm agrees within float32's rounding of the sum (``K · 2^-24 · Σ|a·b|``), exactly
    INT_MIN where the sum leaves int32 (TF's cast; TF.js's Cast alone wraps); cpu gives the named deviation value for
    value."""
    import tfjsconv

    path, inputs, outputs = converted["keras3_dots_wide"]
    ints = {k: v.astype(np.int64) for k, v in inputs.items()}
    a, b, c, d = ints["a"], ints["b"], ints["c"], ints["d"]
    pairs = [(a[:, None], b[:, :, None]), (c.transpose(0, 2, 1), d.transpose(0, 2, 1)), (c, c.transpose(0, 2, 1)),
             (a[:, None], ints["h"][:, :, None])]
    runs, kinds = _run(path, inputs), []
    for i, (x, y) in enumerate(pairs):
        exact, magnitude = _dot_terms(x, y)
        exact, magnitude = (exact[:, 0], magnitude[:, 0]) if i in (0, 3) else (exact, magnitude)
        bound = x.shape[-1] * 2.0**-24 * magnitude + 1
        outside = np.abs(exact) >= 2**31 + bound
        inside = np.abs(exact) <= 2**31 - 128 - bound
        kinds += [outside.any(), (inside & (np.abs(exact) > 2**24)).any()]
        assert (outputs[i][outside] == -2**31).all() and (runs["wasm"][i][outside] == -2**31).all(), i
        assert (runs["cpu"][i][outside] == -2**31).all(), i
        error = np.abs(runs["wasm"][i].astype(np.int64) - outputs[i])[inside]
        assert (error <= bound[inside]).all(), (i, runs["wasm"][i], outputs[i])  # float32's rounding
        modelled = _cpu_dot(x, y)
        modelled = modelled[:, 0] if i in (0, 3) else modelled
        assert np.array_equal(runs["cpu"][i].astype(np.int64), modelled), (i, runs["cpu"][i], modelled)
    assert all(kinds[0::2]) and any(kinds[1::2]), kinds  # sums beyond int32 in each output, within past 2^24 too
    floats = outputs[4]  # int32 with float32: a float dot
    for backend in ("cpu", "wasm"):
        assert np.abs(runs[backend][4] - floats).max() <= 1e-6 * np.abs(floats).max(), backend
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model", target_backends=["cpu"])
    assert len(result.notices) == 1 and "Cast (cpu)" in result.notices[0], result.notices


def test_what_stays_refused_is_named(tmp_path):
    """Keras 3's Dot of int64 (cast back to int64, beyond TF.js's int32) or normalizing int32, and tf_keras's int16
    product over an unknown axis (it wraps in int16 there)."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = keras.layers
    a = keras.Input((6,), name="a", dtype="int64")
    message = graph_model_refusal(tmp_path, keras.Model(a, L.Dot(1, name="layer")([a, a])))
    assert "'layer' (Dot) on int64 integers (Keras 3 casts the float32 dot back to int64" in message, message
    assert "--loader=tensorflow" in message, message
    b = keras.Input((6,), name="b", dtype="int32")
    message = graph_model_refusal(tmp_path, keras.Model(b, L.Dot(1, normalize=True, name="layer")([b, b])))
    assert "'layer' (Dot) normalizing integers (int32, int32;" in message, message
    tf = pytest.importorskip("tensorflow")
    k = pytest.importorskip("tf_keras")
    ids = k.Input((None,), name="ids", dtype="int16")
    k.Model(ids, tf.math.reduce_prod(ids, axis=1)).save(tmp_path / "p.h5")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "p.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert "a product of int16 integers over axes of sizes [None] (tf_keras wraps in int16" in str(err.value), err.value
