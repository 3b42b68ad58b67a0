"""Op layers of products, statistics and nan-aware reductions lowered with h5py (session 15, the linalg family):
Keras 3's dot/inner/outer/vdot/tensordot, average (with and without weights), trapezoid, median/quantile/percentile
(each method), nanmax/nanmin/nansum/nanmean/nanvar/nanstd/nanprod, nancumsum/nancumprod, nanargmax/nanargmin,
nanmedian/nanquantile/nanpercentile, correlate (each mode), count_nonzero, linalg.norm (its orders and
axes), bincount and searchsorted; tf_keras's tf.tensordot, tf.norm/tf.linalg.norm (``compat.v1.norm``),
tf.math.reduce_euclidean_norm, tf.math.count_nonzero, tf.searchsorted, tf.math.bincount, tf.clip_by_norm and
tf.math.zero_fraction.

As in ``test_keras_lowering_op_layers_more.py``: small functional models, tf_keras ``.h5`` and Keras 3 ``.keras``,
converted in a process where TensorFlow, Keras and tf_keras cannot be imported, run in real TF.js (cpu and wasm) and
compared with Keras's own ``model(x)``: integers exactly, floats within 1e-5. The inputs hold the edges: NaN (a slice
all NaN), ±Inf, -0.0 beside +0.0, ties for the sorts behind the quantiles, int32 extremes for the integer products
(wrapped as TF wraps), unsorted sequences and NaN for searchsorted (TF's binary search gives its own indices there).
What stays refused (SVD norms, quantiles over the batch) is named.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402

#: int32 extremes and values whose products wrap (TF's int32 products wrap modulo 2^32).
EDGES = [2**31 - 1, -2**31, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 46341, -3]


def _tf():
    pytest.importorskip("tf_keras")
    return pytest.importorskip("tensorflow")


def _inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    x.reshape(-1)[::7] = np.nan
    x[0, 0, :] = np.nan  # a slice all NaN
    x[1, 1, 1], x[1, 2, 0], x[1, 0, 2], x[0, 2, 3] = 0.0, -0.0, np.inf, -np.inf
    x[1, 2, 1:] = [0.5, 0.5, -0.0]  # ties
    y = (rng.standard_normal((2, 3, 4)) * 2).astype("float32")
    y[0, 1] = [0.0, -0.0, 1.0, 0.0]
    ids = rng.integers(-2**31, 2**31, (2, 3, 4), dtype=np.int64)
    ids.reshape(-1)[:len(EDGES)] = EDGES
    others = rng.integers(-2**31, 2**31, (2, 3, 4), dtype=np.int64)
    others.reshape(-1)[-len(EDGES):] = EDGES
    seqs = (np.round(rng.standard_normal((2, 3, 8)) * 2) / 2).astype("float32")  # ties
    seqs[0, 0] = np.sort(seqs[0, 0])
    seqs[1, 0] = [0, 0, 0, 1, 1, 2, np.nan, 3]
    seqs[0, 1] = [-np.inf, -1, -0.0, 0.0, 0.5, 0.5, 2, np.inf]
    seqs[1, 1, 3] = np.nan  # seqs[:, 2] stays unsorted
    counts = rng.integers(0, 10, (3, 6)).astype("int32")
    return {"x": x, "y": y, "i": ids.astype("int32"), "j": others.astype("int32"), "s": seqs, "b": counts,
            "bw": rng.standard_normal((3, 6)).astype("float32")}


def keras3_linalg_model():
    """The family's ``keras.ops`` on Keras 3 symbolic tensors (each saved as an operation)."""
    o = keras.ops
    x, y = keras.Input((3, 4), name="x"), keras.Input((3, 4), name="y")
    i, j = keras.Input((3, 4), name="i", dtype="int32"), keras.Input((3, 4), name="j", dtype="int32")
    s, b = keras.Input((3, 8), name="s"), keras.Input((6,), name="b", dtype="int32")
    w = keras.layers.Dense(5, name="dense")(o.transpose(y, (0, 2, 1)))  # [batch, 4, 5]
    nan_reductions = [
        o.nanmax(x, axis=1), o.nanmin(x, axis=-1, keepdims=True), o.nansum(x, axis=(1, 2)), o.nanmean(x, axis=1),
        o.nanvar(x, axis=-1), o.nanstd(x, axis=1, keepdims=True), o.nanprod(x, axis=-1), o.nanmax(x),
        o.nanmean(x, axis=(1, 2), keepdims=True), o.nanmean(i, axis=1), o.nanvar(i, axis=-1),
        o.nancumsum(x, axis=1), o.nancumprod(x, axis=-1), o.nancumsum(x), o.nanmedian(x, axis=-1),
        o.nanmedian(x, axis=(1, 2), keepdims=True), o.nanquantile(x, 0.3, axis=1),
        o.nanquantile(y, [0.2, 0.7], axis=-1, method="lower"), o.nanquantile(x, 0.3, axis=1, method="midpoint"),
        o.nanpercentile(x, 20, axis=-1), o.nanpercentile(x, 80, axis=1, method="nearest", keepdims=True)]
    norms = [
        o.linalg.norm(y, axis=-1), o.linalg.norm(y, axis=(1, 2)), o.linalg.norm(y, ord=1, axis=1),
        o.linalg.norm(y, ord=float("inf"), axis=-1), o.linalg.norm(y, ord=float("-inf"), axis=-1, keepdims=True),
        o.linalg.norm(o.round(y), ord=0, axis=-1), o.linalg.norm(y, ord=3, axis=1), o.linalg.norm(y, ord=-1, axis=1),
        o.linalg.norm(y, ord="fro", axis=(1, 2), keepdims=True), o.linalg.norm(y, ord=1, axis=(1, 2)),
        o.linalg.norm(y, ord=-1, axis=(2, 1)), o.linalg.norm(y, ord=float("inf"), axis=(1, 2), keepdims=True),
        o.linalg.norm(y, ord=float("-inf"), axis=(-1, -2)), o.linalg.norm(i % 100, axis=-1)]
    statistics = [
        o.average(y, axis=1), o.average(y, axis=2, weights=x[0][1]), o.average(y, axis=-1, weights=o.abs(w[:, :3, :4])),
        o.average(y, weights=o.abs(w[:, 1:, 1:])), o.trapezoid(y), o.trapezoid(y, axis=1, dx=0.5),
        o.trapezoid(y, x=[0.0, 0.5, 2.0, 2.25]),
        o.median(x, axis=-1), o.median(x, axis=1, keepdims=True), o.median(x, axis=(1, 2)), o.median(i, axis=-1),
        o.quantile(x, 0.3, axis=-1), o.quantile(x, [0.0, 0.25, 0.5, 1.0], axis=1),
        o.quantile(x, 0.7, axis=(1, 2), keepdims=True), o.quantile(x, [0.1, 0.9], axis=-1, keepdims=True),
        o.quantile(y, 0.3, axis=-1, method="lower"),  # the saved operation computes the linear method
        o.percentile(x, 30, axis=-1), o.percentile(x, [0, 25, 50, 100], axis=1, method="lower"),
        o.percentile(x, 70, axis=(1, 2), keepdims=True, method="higher"),
        o.percentile(x, [10, 90], axis=-1, method="nearest"), o.percentile(x, 50, axis=-1, method="midpoint")]
    products = [
        o.dot(y, w[0]), o.dot(y, w), o.dot(y, w[0][:, 0]), o.inner(y, x[0]), o.outer(y[:, 0], w[:, 0, 0]),
        o.tensordot(y, w[0], axes=([2], [0])), o.tensordot(y, y, axes=([1, 2], [1, 2])), o.vdot(y, w[:, 1:, :4]),
        o.dot(y, i[0][0]), o.correlate(w[1][1], y[0][0]), o.correlate(y[0][0], w[1][1], mode="full"),
        o.correlate(w[1][0], y[0][0], mode="same"), o.correlate(y[1][0], w[0][1], mode="same"),
        o.correlate(y[1][2], y[0][1], mode="full"), o.dot(y, np.arange(20, dtype="float32").reshape(4, 5)),
        o.tensordot(np.ones((3,), "float32"), y, axes=([0], [1])),
        o.average(y, axis=2, weights=np.array([1, 2, 3, 4], "float32"))]
    integers = [
        o.nanmax(i, axis=1), o.nansum(i, axis=-1), o.nanprod(i, axis=-1), o.nancumsum(i, axis=-1),
        o.nanargmax(x, axis=-1), o.nanargmin(x, axis=-1, keepdims=True), o.nanargmin(x, axis=1),
        o.nanargmax(i, axis=-1), o.count_nonzero(o.round(x), axis=1),
        o.count_nonzero(x, axis=(1, 2)), o.count_nonzero(i % 3, axis=-1),
        o.dot(i, j[0][0]), o.inner(i, j), o.outer(i[0], j[1][1]), o.tensordot(i, j, axes=([1, 2], [1, 2])),
        o.tensordot(i, j, axes=([2], [2])), o.bincount(b), o.bincount(b, minlength=12), o.bincount(b[0], minlength=3),
        o.searchsorted(s[0][0], s[1][1]), o.searchsorted(s[0][1], s[1][0], side="right"),
        o.searchsorted(s[1][0], s[0][1]), o.searchsorted(o.sort(s[1][2]), s[0][2], side="right"),
        o.searchsorted(s[0][2], s[1][2]), o.searchsorted(o.sort(i[0][0]), j[1][1]),
        o.searchsorted(np.array([-1.0, 0.0, 0.0, 0.5, 2.0], "float32"), s[0][1], side="right")]
    return keras.Model([x, y, i, j, s, b], nan_reductions + norms + statistics + products + integers)


def tf_linalg_model():
    """The family's TF functions on tf_keras tensors (each a TFOpLambda)."""
    tf = _tf()
    import tf_keras as k

    x, y = k.Input((3, 4), name="x"), k.Input((3, 4), name="y")
    i, j, s = k.Input((3, 4), name="i", dtype="int32"), k.Input((3, 4), name="j", dtype="int32"), \
        k.Input((3, 8), name="s")
    b, bw = k.Input((6,), name="b", dtype="int32"), k.Input((6,), name="bw")
    floats = [
        tf.norm(y, axis=-1), tf.linalg.norm(y, axis=[1, 2]), tf.norm(y, ord=1, axis=1),
        tf.norm(y, ord=np.inf, axis=-1, keepdims=True), tf.norm(y, ord=1, axis=[1, 2]),
        tf.norm(y, ord=np.inf, axis=[2, 1]), tf.norm(y, ord=3, axis=2), tf.norm(y, ord="fro", axis=[1, 2]),
        tf.norm(y), tf.math.reduce_euclidean_norm(y, axis=-1), tf.math.reduce_euclidean_norm(y, axis=[1, 2],
                                                                                              keepdims=True),
        tf.math.reduce_euclidean_norm(y), tf.clip_by_norm(y, 1.0, axes=[-1]), tf.clip_by_norm(y, 0.5),
        tf.clip_by_norm(y * 0.0, 1.0, axes=[2]), tf.math.zero_fraction(tf.round(x)),
        tf.math.count_nonzero(x, axis=[1, 2], keepdims=True, dtype=tf.float32),
        tf.tensordot(x, y, axes=[[1, 2], [1, 2]]), tf.tensordot(y, x[0], axes=[[2], [1]]),
        tf.tensordot(y, tf.transpose(y[0]), axes=1)]
    integers = [
        tf.math.count_nonzero(tf.round(x), axis=1), tf.math.count_nonzero(i % 3, axis=-1),
        tf.math.zero_fraction(i % 3), tf.tensordot(i, j, axes=[[1, 2], [1, 2]]),
        tf.searchsorted(s[:, 0], s[:, 1]), tf.searchsorted(s[:, 1], s[:, 2], side="right"),
        tf.searchsorted(tf.sort(s[:, 2]), s[:, 0], out_type=tf.int64), tf.searchsorted(s[:, 2], s[:, 0]),
        tf.searchsorted(tf.sort(i[:, 0]), j[:, 1], side="right"), tf.math.bincount(b, minlength=12, axis=-1),
        tf.math.bincount(b), tf.math.bincount(b, maxlength=5, axis=-1), tf.math.bincount(b, binary_output=True, axis=-1)]
    counts = [tf.math.bincount(b, weights=bw, axis=-1), tf.math.bincount(b, weights=bw, minlength=3),
              tf.math.bincount(b, dtype=tf.float32, maxlength=4)]
    return k.Model([x, y, i, j, s, b, bw], floats + integers + counts)


MODELS = {"tf_linalg": (tf_linalg_model, ".h5"), "keras3_linalg": (keras3_linalg_model, ".keras"),
          "keras3_linalg_h5": (keras3_linalg_model, ".h5")}


def _save(case: str, folder: Path):
    build, suffix = MODELS[case]
    model = build()
    names = [t.name.split(":")[0] for t in model.inputs]
    inputs = {name: value for name, value in _inputs(8).items() if name in names}
    return save_with_outputs(model, inputs, folder / f"{case}{suffix}")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("op_layers_linalg")
    saved = {case: _save(case, folder) for case in MODELS}
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", list(MODELS))
def test_linalg_op_layers_lower_and_match_keras(converted, tfjs_runtime, case):
    path, inputs, outputs = converted[case]
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_what_stays_refused_is_named(tmp_path):
    """Norms that need an SVD (TF.js has none) stay gaps named by function (a median over the batch, a gap here
    until session 16, lowers: ``test_keras_lowering_s16_unknown_axes.py``)."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    o = keras.ops
    x = keras.Input((3, 4), name="x")
    keras.Model(x, [o.linalg.norm(x, ord="nuc", axis=(1, 2)), o.median(x)]).save(tmp_path / "k3.keras")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "k3.keras", tmp_path / "k3", output_format="tfjs_graph_model")
    message = " ".join(str(err.value).split())
    assert re.search(r"does not cover 1 layer: 'norm\w*' \(Norm\): ord='nuc' over two axes \(an SVD, which TF\.js "
                     r"does not have\)", message), message
    tf = _tf()
    import tf_keras as k

    xt = k.Input((3, 4), name="x")
    k.Model(xt, tf.norm(xt, ord=2, axis=[1, 2])).save(tmp_path / "tf.h5")
    with pytest.raises(UsageError) as err:
        tfjsconv.convert(tmp_path / "tf.h5", tmp_path / "tf", output_format="tfjs_graph_model")
    assert re.search(r"\(compat\.v1\.norm\): ord=2 over two axes \(an SVD", str(err.value)), err.value



@pytest.mark.parametrize("op,key,value", [
    ("quantile", "method", "bogus"), ("quantile", "axis", [1, 1]), ("tensordot", "axes", 7),
    ("tensordot", "axes", [[1], [2, 3]]), ("norm", "ord", "abc"), ("norm", "axis", [0, 1, 2]),
    ("search_sorted", "side", "middle"), ("bincount", "minlength", 2**40), ("bincount", "sparse", True),
    ("correlate", "mode", "wide"), ("trapezoid", "dx", "a"), ("nanmax", "keepdims", "yes"), ("average", "axis", 9),
])
def test_hostile_arguments_are_refused_by_name(tmp_path, op, key, value):
    """Edited operation configs (unknown modes, repeated or out-of-range axes, sizes past any model, wrong types) are
    gaps naming the operation, or input errors: never a crash or a model computing something else."""
    import tfjsconv
    from keras_models import edit_layer_config
    from tfjsconv.errors import InputError, UsageError

    o = keras.ops
    x, b = keras.Input((3, 4), name="x"), keras.Input((6,), name="b", dtype="int32")
    outs = {"quantile": o.quantile(x, 0.3, axis=-1), "tensordot": o.tensordot(x, x, axes=([2], [2])),
            "norm": o.linalg.norm(x, axis=-1), "search_sorted": o.searchsorted(x[0][0], x[1][1]),
            "bincount": o.bincount(b), "correlate": o.correlate(x[0][0], x[1][1]), "trapezoid": o.trapezoid(x),
            "nanmax": o.nanmax(x, axis=1), "average": o.average(x, axis=1)}
    keras.Model([x, b], outs[op]).save(tmp_path / "op.h5")
    edit_layer_config(tmp_path / "op.h5", op, key, value)
    with pytest.raises((UsageError, InputError)) as err:
        tfjsconv.convert(tmp_path / "op.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert re.search(rf"does not cover 1 layer: '{op}\w*' \(\w+\): \S", str(err.value)), err.value
