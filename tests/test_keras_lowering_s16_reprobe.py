"""Session 16 H3: the session-14 refusals re-probed (issue 16; probes in /work/notes/probe16/h3_probe*.py).

tf_keras's integer mean (GlobalAveragePooling1D/2D/3D of int32/int64 ids, of 8/16-bit integers too) over counts of
2^14 values or more, or known only at run time, was refused by name; the traced path converts it with TF.js's Mean,
right for small counts and wrong from a few thousand values of int32 extremes on (TF's int32 mean is exact).
It now lowers exactly (:mod:`tfjsconv.plugins.keras.lowering.integer_means`: byte sums, then a long division by the
count in base 256) for up to 4 202 512 values; over a count known only at run time, a larger count makes TF.js fail
(a Reshape to the wrong size) rather than return a wrong mean. Expected values from tf_keras's own ``model(x)``,
converted with TensorFlow, Keras and tf_keras poisoned, run in TF.js (cpu and wasm), exactly; one converted model at
two input sizes. The cases that stay refused (the traced path refuses them too or gives other numbers) are named.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("h5py")
tf_keras = pytest.importorskip("tf_keras")

from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402

#: int32 values float32 does not hold, the extremes, negatives and small ones.
EDGES = [2**31 - 1, -2**31, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 46341, -3, 0, 1]
#: The most values the exact mean is lowered for (``integer_means.BYTE_MEAN_COUNT_LIMIT``).
LIMIT = 4202512


def _ids(rng: np.random.Generator, shape: tuple[int, ...], dtype: str = "int32") -> np.ndarray:
    """Random ids over the dtype's range with the edges first; the first channel of each row all at 2^31 - 1 or
    -2^31 (sums far past int32, the worst case of the byte sums) and one mean just below zero, not whole (truncated
    toward zero)."""
    info = np.iinfo("int32" if dtype == "int64" else dtype)  # int64 ids within int32, as TF.js holds them
    out = rng.integers(info.min, info.max, shape, endpoint=True, dtype=np.int64).reshape(-1)
    if dtype in ("int32", "int64"):
        out[:len(EDGES)] = EDGES[:out.size]
        out = out.reshape(shape)
        out[0, ..., 0], out[-1, ..., 0] = 2**31 - 1, -2**31
        out[-1, ..., -1] = -1
        out[-1].reshape(-1, shape[-1])[0, -1] = 0  # the mean of -1 and 0s: just below zero, truncated to 0
    return out.reshape(shape).astype(dtype)


def _small(rng: np.random.Generator, shape: tuple[int, ...], dtype: str = "int32") -> np.ndarray:
    """Ids below 2^23 in magnitude (webgl holds int32 as float32), their sums far past 2^24, and a negative mean."""
    top = min(2**23, np.iinfo(dtype).max)
    out = rng.integers(-top, top, shape)
    out[0, ..., 0], out[-1, ..., 0] = top - 1, -top
    return out.astype(dtype)


def means():
    """tf_keras's global average pools over sizes unknown in the config (1D, 2D keepdims, 3D, of int32, int64, int16)
    and over a known count past 2^14 (20 000 steps), with an Add after one."""
    k, L = tf_keras, tf_keras.layers
    a = k.Input((None, 3), name="a", dtype="int32")
    b = k.Input((None, None, 2), name="b", dtype="int32")
    c = k.Input((None, 2, None, 2), name="c", dtype="int32")
    e = k.Input((None, 3), name="e", dtype="int64")
    h = k.Input((None, 3), name="h", dtype="int16")
    big = k.Input((20000, 2), name="big", dtype="int32")
    mean = L.GlobalAveragePooling1D(name="gap1")(a)
    outs = [mean, L.GlobalAveragePooling2D(keepdims=True, name="gap2")(b), L.GlobalAveragePooling3D(name="gap3")(c),
            L.GlobalAveragePooling1D(name="gap_i64")(e), L.GlobalAveragePooling1D(name="gap_i16")(h),
            L.GlobalAvgPool1D(name="gap_big")(big), L.Add(name="after")([mean, mean])]
    return k.Model([a, b, c, e, h, big], outs)


def _inputs(model, seed: int, steps: int, ids=_ids) -> dict[str, np.ndarray]:
    """Ids for each input (``ids(rng, shape, dtype)``), its unknown sizes ``steps`` (and ``steps + 1``, ``steps + 2``
    after it)."""
    rng = np.random.default_rng(seed)
    out = {}
    for tensor in model.inputs:
        sizes = iter(range(steps, steps + 4))
        shape = tuple(next(sizes) if d is None else d for d in tuple(tensor.shape)[1:])
        out[tensor.name.split(":")[0]] = ids(rng, (2, *shape), tensor.dtype.name)
    return out


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s16_reprobe")
    model = means()
    path, inputs, outputs = save_with_outputs(model, _inputs(model, 3, 5), folder / "means.h5")
    runs = [(inputs, outputs)]
    for other in (_inputs(model, 4, 300), _inputs(model, 5, 9, _small)):  # the last for webgl
        runs.append((other, [np.asarray(o) for o in model([*other.values()], training=False)]))
    convert_poisoned([path])
    return path, runs


@pytest.mark.node
def test_tf_keras_integer_means_over_runtime_and_large_counts_match_keras_exactly(converted, tfjs_runtime):
    path, runs = converted
    for inputs, outputs in runs:  # one converted model at three sizes
        _verify(path.parent / (path.name + ".out"), inputs, outputs)


@pytest.mark.node
def test_tf_keras_integer_means_run_on_webgl(converted, browser):
    """The same converted model on webgl with ids below 2^23 (webgl holds int32 as float32): the byte splits, Sums,
    FloorMods, exact floor divisions and the run-time count check match Keras there."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, runs = converted
    inputs, outputs = runs[-1]
    out = path.parent / (path.name + ".out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                          browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
def test_a_runtime_count_past_the_limit_fails_in_tfjs(tmp_path, tfjs_runtime):
    """Over a count known only at run time, the exact mean is computed up to the limit (the worst case of the byte
    sums: every value 2^31 - 1) and a larger count fails in TF.js rather than giving a wrong mean."""
    from tfjsconv.verify.compare import verify_model

    x = tf_keras.Input((None, 1), name="x", dtype="int32")
    model = tf_keras.Model(x, tf_keras.layers.GlobalAveragePooling1D()(x))
    model.save(tmp_path / "m.h5")
    convert_poisoned([tmp_path / "m.h5"])
    out = tmp_path / "m.h5.out"
    for count, runs in ((LIMIT, True), (LIMIT + 1, False)):
        values = np.full((1, count, 1), 2**31 - 1, np.int32)
        values[0, :5, 0] = -2**31
        expected = np.asarray(model(values))
        report = verify_model(out, {"x": values}, {"Identity": expected}, backends=("cpu", "wasm"), rtol=0,
                              quiet=True)
        problems = [(c.backend, c.crashed, c.problem) for c in report.comparisons]
        assert report.passed == runs, (count, problems)
        if not runs:
            assert len(problems) == 2 and all(crashed and "must match the product of shape" in str(problem)
                                              for _, crashed, problem in problems), problems


def pools(k):
    """int32 MaxPooling1D/2D with padding "same" over sizes unknown in the config (windows larger than the input,
    strides larger than 1, even and odd paddings) and windows past 64 (by doubling), over known and run-time sizes."""
    L = k.layers
    a = k.Input((None, 3), name="a", dtype="int32")
    b = k.Input((None, None, 2), name="b", dtype="int32")
    c = k.Input((80, 2), name="c", dtype="int32")
    d = k.Input((None, 2), name="d", dtype="int32")
    outs = [L.MaxPooling1D(3, 2, "same")(a), L.MaxPooling1D(2, 1, "same")(a), L.MaxPooling1D(4, 3, "same")(a),
            L.MaxPooling1D(9, 2, "same")(a), L.MaxPooling2D(3, 2, "same")(b), L.MaxPooling2D((2, 3), (1, 2), "same")(b),
            L.MaxPooling1D(70, 3, "valid")(c), L.MaxPooling1D(70, 5, "same")(c), L.MaxPooling1D(65, 1, "valid")(c),
            L.MaxPooling1D(70, 4, "same")(d), L.MaxPooling1D(66, 2, "valid")(d), L.MaxPooling1D(128, 1, "same")(d)]
    return k.Model([a, b, c, d], outs)


#: Run-time sizes of the pools' inputs, two runs: ``a``'s steps, ``b``'s height and width, ``d``'s steps.
POOL_SIZES = [((7,), (5, 6), (75,)), ((4,), (3, 8), (131,))]


def _pool_inputs(seed: int, sizes) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b, d = sizes
    return {"a": _ids(rng, (2, *a, 3)), "b": _ids(rng, (2, *b, 2)), "c": _ids(rng, (2, 80, 2)),
            "d": _ids(rng, (2, *d, 2))}


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    keras = pytest.importorskip("keras")
    folder = tmp_path_factory.mktemp("s16_pools")
    saved = {}
    for flavor, k in (("keras3.keras", keras), ("tf_keras.h5", tf_keras)):
        model = pools(k)
        runs = []
        for i, sizes in enumerate(POOL_SIZES):
            inputs = _pool_inputs(10 + i, sizes)
            runs.append((inputs, [np.asarray(o) for o in model([*inputs.values()], training=False)]))
        path = folder / f"pools{flavor[flavor.index('.'):]}"
        model.save(path)
        saved[flavor] = path, runs
    convert_poisoned([p for p, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_int32_max_pools_same_over_runtime_sizes_and_wide_windows_match_keras(pooled, tfjs_runtime, flavor):
    path, runs = pooled[flavor]
    for inputs, outputs in runs:  # one converted model at two sizes
        _verify(path.parent / (path.name + ".out"), inputs, outputs)


def _tf_keras_refusal(folder, model) -> str:
    import tfjsconv
    from tfjsconv.errors import UsageError

    model.save(folder / "m.h5")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(folder / "m.h5", folder / "out", output_format="tfjs_graph_model")
    return str(err.value)


def _keras3_refusal(folder, model) -> str:
    from keras_models import graph_model_refusal

    return graph_model_refusal(folder, model)


def test_tf_keras_refusals_that_stay_are_named(tmp_path):
    """What the traced path refuses too (BatchMatMulV2 of int32/int16 on wasm) or converts to other
    numbers (a mean past the limit, a masked mean of int64 ids beyond 2^24, TimeDistributed means over large counts)
    stays refused by name, beside a mean over a known count past 2^14 that lowers now."""
    k, L = tf_keras, tf_keras.layers
    i32 = k.Input((5,), name="i32", dtype="int32")
    r3 = k.Input((2, 5), name="r3", dtype="int32")
    i64 = k.Input((5,), name="i64", dtype="int64")
    i16 = k.Input((5,), name="i16", dtype="int16")
    huge = k.Input((LIMIT + 1, 1), name="huge", dtype="int32")
    ids64 = k.Input((5, 3), name="ids64", dtype="int64")
    lowered = k.Input((20000, 1), name="lowered", dtype="int32")
    mean = L.GlobalAveragePooling1D(name="mean_lowered")(lowered)
    groups = [([i32, r3, i64, i16, lowered],
               [L.Dot(axes=1, name="dot_i64")([i64, i64]), L.Dot(axes=1, name="dot_i16")([i16, i16]),
                L.Dot(axes=(1, 2), name="dot_ranks")([i32, r3]), mean],
               ["'dot_i64' (Dot) on int64 integers", "'dot_i16' (Dot) on int16 integers",
                "'dot_ranks' (Dot) on inputs of ranks [2, 3]"]),
              ([huge, ids64, lowered],  # a TimeDistributed mean of int32 lowers since (test_..._s16_reprobe2.py)
               [L.GlobalAveragePooling1D(name="mean_huge")(huge),
                L.GlobalAveragePooling1D(name="masked_mean")(L.Masking(0)(ids64)), mean],
               [f"'mean_huge' (GlobalAveragePooling1D) on int32 integers over sizes [{LIMIT + 1}]",
                "'masked_mean' (GlobalAveragePooling1D) with a mask on int64 integers"])]
    for i, (inputs, outs, needles) in enumerate(groups):
        folder = tmp_path / str(i)
        folder.mkdir()
        message = _tf_keras_refusal(folder, k.Model(inputs, outs))
        assert f"does not cover {len(needles)} layers" in message, message
        for needle in (*needles, "--loader=tensorflow"):
            assert needle in message, (needle, message)
        assert "mean_lowered" not in message, message


def test_keras3_refusals_that_stay_are_named(tmp_path):
    """Keras 3: Dot of int64 (the traced path differs past 2^24 and beyond int32), uint32 sums and products (the
    traced path refuses), a nearest Resizing of int32 and a bilinear one over unknown sizes (the traced path rounds
    through float32), repeat without an axis (the flattened tensor, batch included). (take_along_axis over unknown
    sizes and take without an axis, named here until session 19, lower: test_keras_lowering_take_along_axis_s19.py,
    test_keras_lowering_k3_more_s19.py.)"""
    keras = pytest.importorskip("keras")
    L, ops = keras.layers, keras.ops
    i64 = keras.Input((5,), name="i64", dtype="int64")
    u8 = keras.Input((4, 3), name="u8", dtype="uint8")
    img = keras.Input((4, 5, 2), name="img", dtype="int32")
    free = keras.Input((None, None, 2), name="free", dtype="uint8")
    x = keras.Input((None, 4), name="x")
    groups = [([i64, u8], [L.Dot(axes=1, name="dot_i64")([i64, i64]), ops.sum(u8), ops.prod(u8, axis=1)],
               ["'dot_i64' (Dot) on int64 integers", "a uint32 sum of uint8 integers",
                "a uint32 product of uint8 integers"]),
              ([img, free, x], [L.Resizing(7, 3, "nearest", name="nearest_i32")(img),
                                L.Resizing(7, 3, name="bilinear_free")(free), ops.repeat(x, 2)],
               ["'nearest_i32' (Resizing) on int32 integers", "'bilinear_free' (Resizing) on uint8 images",
                "(Repeat)"])]
    for i, (inputs, outs, needles) in enumerate(groups):
        folder = tmp_path / str(i)
        folder.mkdir()
        message = _keras3_refusal(folder, keras.Model(inputs, outs))
        assert "does not cover 3 layers" in message, message
        for needle in (*needles, "--loader=tensorflow"):
            assert needle in message, (needle, message)
