"""Array op layers lowered with h5py (issue 16, session 15): Keras 3's append, broadcast_to, vstack/hstack/dstack,
fliplr/flipud/rot90, ravel, size, triu/tril, diff, full_like, select, slice, extract_sequences, vsplit/hsplit/dsplit,
array_split, empty_like, ndim and array; tf_keras's tf.broadcast_to, slice, strided_slice (every mask), gather_nd,
fill/zeros/ones, range, rank, size, sequence_mask, signal.frame, linalg.adjoint and compat.v1.zeros_like/ones_like.

As in ``test_keras_lowering_op_layers_more.py``: small functional models combining the ops as outputs, saved by
Keras 3 (``.keras``) and tf_keras (``.h5``), converted in a process where TensorFlow, Keras and tf_keras cannot be
imported, run in real TF.js (cpu and wasm) and compared with Keras's own ``model(x)``: integers and bools exactly.
The inputs hold NaN, ±Inf and -0.0 (zeroed by triu/tril, read as True by select's conditions), int32 extremes
(diff wraps as TF does) and negative lengths (sequence_mask). An input of sizes unknown in the config (``(None,
None)``) is run at two sizes through one converted model: triu/tril's masks, full_like, fill/zeros/ones of
``tf.shape(x)`` and ``tf.range`` are built at run time. What stays refused is named.
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

NAN, INF = np.nan, np.inf
INT_EDGES = [2**31 - 1, -2**31, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 0, -3, 7, 1, -1, 2**31 - 2]


def _tf():
    pytest.importorskip("tf_keras")
    return pytest.importorskip("tensorflow")


def keras3_arrays_model():
    """The new ``keras.ops`` on Keras 3 symbolic tensors (each saved as an operation)."""
    o = keras.ops
    x, y = keras.Input((3, 4), name="x"), keras.Input((3, 4), name="y")
    i, v, u = keras.Input((3, 4), name="i", dtype="int32"), keras.Input((5,), name="v"), keras.Input((None, None),
                                                                                                        name="u")
    starts = keras.Input(batch_shape=(3,), name="starts", dtype="int32")  # slice's start indices as a tensor
    cast_of_int_extremes = o.array(i, dtype="float32")  # webgl rounds it (by position: Keras's names are per process)
    floats = [
        o.append(x, y, axis=1), o.append(x, y, axis=-1), o.append(x, y),
        o.broadcast_to(x[0], (2, 3, 4)), o.broadcast_to(v[0, :1], (3, 2, 4)),
        o.vstack([x, y]), o.hstack([x, y]), o.dstack([x, y]), o.hstack([v, v]),
        o.dstack([o.ravel(x), o.ravel(y)]), o.dstack([v, v]),
        o.fliplr(x), o.flipud(x), o.rot90(x, axes=(1, 2)), o.rot90(x, k=2, axes=(1, 2)), o.rot90(x, k=-1, axes=(2, 1)),
        o.rot90(x), o.rot90(x, k=3, axes=(-1, -2)), o.rot90(x, k=4, axes=(1, 2)), o.rot90(u, k=2, axes=(1, 2)),
        o.rot90(x, k=2, axes=(0, 2)), o.rot90(u, k=-2, axes=(2, 0)), o.ravel(x),
        o.triu(x, k=1), o.tril(x), o.triu(x, -1), o.tril(x, k=-2), o.tril(x, 4), o.triu(x, -3), o.triu(x, 5),
        o.tril(x, -7), o.triu(u), o.tril(u, k=1),
        o.diff(x), o.diff(x, n=2, axis=1), o.diff(x, axis=0), o.diff(u, axis=-1),
        o.full_like(x, 3.5), o.full_like(u, -1.0), o.full_like(x, y[:, :1, :1]),
        o.select([x > 0, x < -1], [x, y], 7.0), o.select([x, y > 0], [y, x]), o.select([y > 0], [x], y),
        o.slice(x, (0, 1, 1), (2, 2, 2)), o.slice(x, (1, 0, 2), (1, -1, -1)), o.slice(x, starts, (1, 2, 2)),
        o.extract_sequences(v, 2, 1), o.extract_sequences(v, 3, 2), o.extract_sequences(x, 4, 4),
        o.extract_sequences(u, 2, 3),
        *o.vsplit(x, 2), *o.hsplit(x, 3), *o.hsplit(x, [1]), *o.dsplit(x, [1, 3]), *o.array_split(x, 3, axis=2),
        o.empty_like(x), o.array(x), cast_of_int_extremes,
        o.linspace(y[:, 0], y[:, 1], 6, endpoint=False, axis=-1),
        o.linspace(y[:, 2], 1.5, 5), o.linspace(-2.0, y[:, :, 3], 2, axis=1), o.linspace(y[:, 0], y[:, 1], 1),
        *o.meshgrid(v[0], x[1, 2, :]), *o.meshgrid(v[1, :3], o.ravel(u), y[0, 1, :], indexing="ij"),
        *o.meshgrid(v, indexing="ij"),
    ]
    integers = [o.size(x), o.size(u), o.append(i, i), o.diff(i), o.diff(i, n=3, axis=2),
                o.full_like(x, 2.7, dtype="int32"), o.full_like(x, -2.7, dtype="int32"), o.full_like(i, 3.5),
                o.tril(i), o.select([i > 0, i < -5], [i, i + 1]), o.rot90(i, axes=(1, 2)),
                o.broadcast_to(i[1], (2, 3, 4)),
                o.slice(i, (0, 0, 1), (-1, 3, 2)), o.vstack([i, i]), o.flipud(i), o.ndim(x),
                *o.array_split(i, 2, axis=-1)]
    bools = [o.diff(x > 0), o.full_like(x, 1, dtype="bool"), o.full_like(x, 0.5, dtype="bool"), o.triu(x > 0),
             o.fliplr(x > 0), o.select([x > 0], [x > 1], y > 0), o.vstack([x > 0, y > 0]),
             o.broadcast_to(x[1] > 0, (2, 3, 4)), o.rot90(x > 0, k=2, axes=(1, 2))]
    WEBGL_SKIPPED["keras3_arrays"] = {next(k for k, t in enumerate(floats) if t is cast_of_int_extremes)}
    return keras.Model([x, y, i, v, u, starts], floats + integers + bools)


def tf_arrays_model():
    """The new TF functions on tf_keras tensors (each a TFOpLambda)."""
    tf = _tf()
    import tf_keras as k

    x, y = k.Input((3, 4), name="x"), k.Input((3, 4), name="y")
    i, v, u = k.Input((3, 4), name="i", dtype="int32"), k.Input((5,), name="v"), k.Input((None, None), name="u")
    lengths, picks = k.Input((4,), name="lengths", dtype="int32"), k.Input((2, 2), name="picks", dtype="int32")
    floats = [
        tf.broadcast_to(x[:, :1, :], tf.shape(x)), tf.broadcast_to(v[:, None, :], [2, 3, 5]),
        tf.broadcast_to(u[:, :1], tf.shape(u)),
        tf.slice(x, [0, 1, 1], [-1, 2, 2]), tf.slice(x, [1, 0, 0], [1, -1, 3]),
        tf.strided_slice(x, [0, 0, 1], [2, 3, 4], [1, 2, 2]),
        tf.strided_slice(x, [0, -1, 0], [0, 0, 0], [1, 1, 1], begin_mask=5, end_mask=5, shrink_axis_mask=2),
        tf.strided_slice(x, [0, 0, 0], [0, 0, 0], [1, 1, 1], begin_mask=5, end_mask=5, new_axis_mask=2),
        tf.strided_slice(x, [0, 1], [0, 3], [1, 1], ellipsis_mask=1),
        tf.strided_slice(x, [0, 10, -1], [0, -10, 0], [1, -1, -2], begin_mask=1, end_mask=1),
        tf.strided_slice(x, [1, 0, 2], [2, 0, 0], [1, 1, 1], end_mask=6),
        tf.strided_slice(u, [0, 1], [0, -1], [1, 2], begin_mask=1, end_mask=1),
        tf.strided_slice(x, [0, 0], [0, 0], [1, 1], ellipsis_mask=1, new_axis_mask=2),
        tf.strided_slice(x, [0, -1], [0, 0], [1, 1], ellipsis_mask=1, shrink_axis_mask=2),
        tf.strided_slice(u, [0, 2, 0], [0, 0, 0], [1, -1, 1], begin_mask=5, end_mask=7),
        tf.gather_nd(x, [[0, 1], [1, 2]]), tf.gather_nd(x, picks), tf.gather_nd(x, [[1, 2, 3]]),
        tf.fill(tf.shape(x), 2.0), tf.zeros(tf.shape(x)) + x, tf.ones(tf.shape(u)) * u,
        tf.zeros([tf.shape(u)[0], 3, tf.shape(u)[2]]) + u[:, :1], tf.broadcast_to(v[:, None], [tf.shape(v)[0], 2, 5]),
        tf.signal.frame(x, 2, 1), tf.signal.frame(x, 3, 2, pad_end=True, pad_value=-1.0),
        tf.signal.frame(x, 2, 1, axis=1), tf.signal.frame(v, 4, 3, pad_end=True), tf.signal.frame(u, 2, 2),
        tf.signal.frame(u, 3, 1, axis=1), tf.slice(u, [0, 1, 0], tf.shape(u) - [0, 1, 1]),
        tf.linalg.adjoint(x), tf.compat.v1.zeros_like(x), tf.compat.v1.ones_like(x, optimize=False),
        tf.linspace(y[:, 0, 0], y[:, 0, 1], 7), tf.linspace(y[:, 1], 3.0, 4, axis=-1), tf.linspace(-1.0, y, 3, axis=2),
    ]
    integers = [tf.fill(tf.shape(i), -3), tf.ones(tf.shape(u), dtype=tf.int32), tf.range(tf.shape(x)[1]),
                tf.range(1, tf.shape(u)[2] * 3, 2), tf.range(tf.shape(u)[1], 0, -1), tf.rank(x), tf.size(x),
                tf.compat.v1.size(u), tf.gather_nd(i, picks), tf.strided_slice(i, [1], [3], [1]),
                tf.linalg.adjoint(i), tf.signal.frame(i, 2, 2, axis=1), tf.compat.v1.ones_like(i)]
    bools = [tf.sequence_mask(lengths, 5), tf.sequence_mask(lengths), tf.sequence_mask(lengths, tf.shape(u)[1]),
             tf.zeros(tf.shape(x)[1:], dtype=tf.bool),
             tf.fill(tf.shape(v), True), tf.broadcast_to(x[:, :1] > 0, tf.shape(x))]
    masks_as = [tf.sequence_mask(lengths, 3, dtype=tf.float32), tf.sequence_mask(lengths, 2, dtype=tf.int32)]
    return k.Model([x, y, i, v, u, lengths, picks], floats + integers + bools + masks_as)


#: Output positions webgl is not asked to match (by position: Keras names ops from a per-process counter, so the names
#: depend on the tests that ran before in the same worker).
WEBGL_SKIPPED: dict[str, set[int]] = {}
MODELS = {"keras3_arrays": (keras3_arrays_model, ".keras"), "tf_arrays": (tf_arrays_model, ".h5")}


def _inputs(seed: int, size: tuple[int, int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    x[0, 0, :] = [NAN, -0.0, INF, -INF]
    x[1, 2, 1:3] = [0.0, NAN]
    i = np.asarray(INT_EDGES * 2, np.int32).reshape(2, 3, 4)
    return {"x": x, "y": rng.standard_normal((2, 3, 4)).astype("float32"), "i": i,
            "v": rng.standard_normal((2, 5)).astype("float32"),
            "u": rng.standard_normal((2, *size)).astype("float32"),
            "lengths": np.array([[0, 3, -2, 5], [1, 1, 4, 2]], np.int32),
            "picks": np.array([[[0, 2], [1, 0]], [[1, 1], [0, 2]]], np.int32), "starts": np.array([1, 1, 2], np.int32)}


def _save(case: str, folder: Path):
    """The model saved with Keras's outputs for inputs of one size, and Keras's outputs for a second size."""
    build, suffix = MODELS[case]
    model = build()
    names = [t.name.split(":")[0] for t in model.inputs]
    first = {n: _inputs(8, (3, 5))[n] for n in names}
    second = {n: _inputs(9, (4, 2))[n] for n in names}
    outputs = model([*second.values()], training=False)
    later = (second, [np.asarray(o) for o in outputs])
    return (*save_with_outputs(model, first, folder / f"{case}{suffix}"), later)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("op_layers_arrays")
    saved = {case: _save(case, folder) for case in MODELS}
    convert_poisoned([entry[0] for entry in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", list(MODELS))
def test_array_op_layers_lower_and_match_keras(converted, tfjs_runtime, case):
    path, inputs, outputs, (later_inputs, later_outputs) = converted[case]
    _verify(Path(f"{path}.out"), inputs, outputs)
    _verify(Path(f"{path}.out"), later_inputs, later_outputs)  # the same graph at other run-time sizes


@pytest.mark.node
@pytest.mark.parametrize("case", list(MODELS))
def test_array_op_layers_match_keras_on_webgl(converted, browser, case):
    """The same on webgl (headless Chromium): bools moved as int32 (reversed, selected), the run-time masks and
    fills, frames and gathers; all outputs but the int32 ones holding values past 2^24, which webgl's float32
    textures round (the contract's int32 line), and the float32 cast of those int32 extremes."""
    import json

    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs, _ = converted[case]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    skipped = WEBGL_SKIPPED.get(case, set())
    expected = {n: o for k, (n, o) in enumerate(zip(names, outputs, strict=True))
                if not (o.dtype.kind in "iu" and np.abs(o.astype(np.int64)).max(initial=0) >= 2**24) and k not in skipped}
    assert len(expected) > len(names) // 2
    report = verify_model(out, inputs, expected, backends=("webgl",), rtol=1e-5, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


def _gaps(path: Path, tmp_path: Path) -> str:
    """The conversion's refusal message (a gap names each layer the lowering does not cover, and why)."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    with pytest.raises(UsageError) as err:
        tfjsconv.convert(path, tmp_path / f"{path.stem}_out", output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value)
    return " ".join(str(err.value).split())


def test_what_tensorflow_raises_on_or_keras_promotes_stays_refused_by_name(tmp_path):
    """A band wider than the matrix (TF's band_part raises), a slice past the shape, an empty diff, and mixed dtypes
    Keras promotes (float64 and all) stay gaps naming the operation; so do tf_keras's float ranges, a gather_nd
    index outside the shape and strided bools (TF.js's wasm reads them wrongly)."""
    o = keras.ops
    x, i = keras.Input((3, 4), name="x"), keras.Input((3, 4), name="i", dtype="int32")
    keras.Model([x, i], [o.tril(x, 10), o.triu(x, -4), o.slice(x, (0, 2, 0), (1, 2, 4))]).save(tmp_path / "k3.keras")
    keras.Model([x, i], [o.diff(x, n=3, axis=1), o.append(x, i), o.select([x > 0], [i], 2.5)]).save(
        tmp_path / "k3b.keras")
    message = _gaps(tmp_path / "k3.keras", tmp_path) + _gaps(tmp_path / "k3b.keras", tmp_path)
    for expected in (r"'tril\w*' \(Tril\): k=10 past a matrix of 3x4", r"'triu\w*' \(Triu\): k=-4 past a matrix",
                     r"'slice\w*' \(Slice\): begin \[0, 2, 0\] and sizes \[1, 2, 4\] out of shape \[None, 3, 4\] "
                     r"\(TensorFlow raises\)", r"'diff\w*' \(Diff\): n=3 along an axis of size 3 \(an empty result\)",
                     r"'append\w*' \(Append\): tensors of dtypes \['float32', 'int32'\] \(Keras promotes them\)",
                     r"'select\w*' \(Select\): default=2\.5 for int32 choices \(Keras promotes them\)"):
        assert re.search(expected, message), (expected, message)
    assert message.count("does not cover 3 layers") == 2, message

    tf = _tf()
    import tf_keras as k

    x = k.Input((3, 4), name="x")
    k.Model(x, [tf.range(tf.cast(tf.shape(x)[1], tf.float32)), tf.gather_nd(x, [[0, 3]]),
                tf.strided_slice(x > 0, [0, 0, 0], [0, 0, 0], [1, 2, 1], begin_mask=7, end_mask=7)]).save(
        tmp_path / "tf.h5")
    message = _gaps(tmp_path / "tf.h5", tmp_path)
    for expected in (r"'tf\.range\w*' \(range\): argument 'start' is a float32 tensor",
                     r"'tf\.compat\.v1\.gather_nd\w*' \(compat\.v1\.gather_nd\): indices \[\[0, 3\]\] outside shape "
                     r"\[None, 3, 4\] \(TensorFlow raises\)",
                     r"'tf\.strided_slice\w*' \(strided_slice\): strides \[1, 2, 1\] on bools"):
        assert re.search(expected, message), (expected, message)
