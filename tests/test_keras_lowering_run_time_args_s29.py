"""tf_keras op-layer arguments known only at run time that the lowering refused by name where ``--loader=tensorflow``
converts (session 29, issue 16; ``/work/notes/probe29/h2/p1.py``):

- ``tf.split(x, sizes, num=n)`` with sizes of a length unknown in the graph (``tf.reshape(s, [-1])``, a vector
  Input whose batch is the length): "sizes of shape [None]". Reshaped to the ``num`` pieces (a length other than
  ``num`` fails TF.js's Reshape, as TF's SplitV raises).
- ``tf.linalg.band_part(x, lo, hi)`` with bounds from an int Input (``tf.reduce_max``, ``tf.cast`` of a float
  Input): "argument 'num_lower' is a tensor whose value is known only at run time". The band's mask at run time;
  a bound past the matrix fails TF.js (a guarded GatherV2), as TF raises.
- ``tf.transpose(x, perm)`` with ``perm`` from an int Input: "argument 'perm' is a tensor ...". The row of a table
  of every permutation that equals ``perm`` (negative entries wrapped as TF wraps them); no row for a ``perm`` that
  is no permutation, whose lookup fails in TF.js as TF raises.
- ``tf.cumsum(x, axis=tf.squeeze(a))``: "input rank unknown" (the squeeze of ``[None, 1]`` has an unknown rank).
  A squeeze without axes keeps no size-1 axis, so its one entry is a scalar exactly where TF takes it.
- ``tf.reduce_sum(x, axis=a)`` with ``a`` an int32 Input of shape ``()`` or ``batch_shape=(1,)`` (the Input's
  batch is the axis count; tf_keras checks neither): one axis, a Reshape to a scalar that fails TF.js for another
  count (TF reduces over each axis listed, a result whose rank the graph cannot follow).
- ``tf.image.rot90(x, k)`` with ``k`` from an int Input: "argument 'k' is a tensor". Flips of height and width
  and a swap picked at run time from ``k mod 4``.

Keras 3 has no counterpart: its ``rot90``/``tril`` with a symbolic ``k`` build but cannot be saved
(NotImplementedError), its ``transpose``/``split``/``cumsum`` refuse a symbolic argument when built
(``/work/notes/probe29/h2/p6.py``). One converted model per family (TensorFlow, Keras and tf_keras poisoned), run at
several argument values and sizes against tf_keras's ``model(x)`` in TF.js cpu and wasm.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

from keras_two_sizes import converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402


def split_sizes(k: Any) -> Any:
    """Sizes of a length the graph does not know, pieces counted by ``num``: a reshaped ``[1, 2]`` Input, and a
    vector Input of batch shape ``(3,)`` (traced with an unknown batch, as the lowering reads it)."""
    x = k.Input((None, 4), name="x")
    s = k.Input((2,), dtype="int32", name="s")
    b = k.Input(batch_shape=(3,), dtype="int32", name="b")
    head, tail = tf.split(x, tf.reshape(s, [-1]), num=2, axis=1)
    return k.Model([x, s, b], [head, k.layers.Dense(2)(tail), *tf.split(x, b, num=3, axis=2)])


def band_bounds(k: Any) -> Any:
    """Bounds from an int Input's maxima (negative: the whole triangle) and from a cast float Input, over matrices
    of unknown and of known sizes, floats, int32 and bools, an int64 bound."""
    x = k.Input((None, None), name="x")
    b = k.Input((2,), dtype="int32", name="b")
    f = k.Input((1,), name="f")
    lo, hi = tf.reduce_max(b[:, 0]), tf.reduce_max(b[:, 1])
    cast = tf.cast(tf.reduce_max(f), tf.int32)
    square = x[:, :3, :3]
    return k.Model([x, b, f], [
        tf.linalg.band_part(x, lo, hi), tf.linalg.band_part(x, cast, -1), tf.linalg.band_part(square, 0, hi),
        tf.linalg.band_part(tf.cast(x * 10.0, tf.int32), tf.cast(lo, tf.int64), tf.cast(cast, tf.int64)),
        tf.cast(tf.linalg.band_part(x > 0.0, lo, hi), tf.float32),
    ])


def permutations(k: Any) -> Any:
    """``perm`` from an int Input (negative entries as TF wraps them), of floats and of bools."""
    x = k.Input((3, 4, 5), name="x")
    p = k.Input((4,), dtype="int32", name="p")
    return k.Model([x, p], [tf.transpose(x, p[0]), tf.cast(tf.transpose(x > 0.0, p[0]), tf.float32)])


def squeezed_axis(k: Any) -> Any:
    """``axis=tf.squeeze(a)`` (unknown rank) of a ``[1, 1]`` Input, for cumsum, argmax, gather and a sum."""
    x = k.Input((None, 4), name="x")
    a = k.Input((1,), dtype="int32", name="a")
    axis = tf.squeeze(a)
    return k.Model([x, a], [tf.cumsum(x, axis=axis), tf.math.argmax(x, axis=axis, output_type=tf.int32),
                            tf.gather(x, [0, 1, 0], axis=axis), tf.math.cumprod(x, axis=axis, exclusive=True)])


def vector_axis(k: Any) -> Any:
    """A one-item vector axis straight from an Input: of shape ``()`` (batch 1) and of batch shape ``(1,)``."""
    x = k.Input((None, 4), name="x")
    a = k.Input((), dtype="int32", name="a")
    one = k.Input(batch_shape=(1,), dtype="int32", name="one")
    return k.Model([x, a, one], [tf.reduce_sum(x, axis=a), tf.reduce_max(x, axis=one, keepdims=True),
                                 tf.reverse(x, a), tf.expand_dims(x, one) * 2.0, tf.math.reduce_mean(x, axis=one)])


def turns(k: Any) -> Any:
    """``tf.image.rot90`` by ``k`` from an Input: images of unknown and of known non-square sizes, a single image,
    int32 and bool images."""
    x = k.Input((None, None, 2), name="x")
    kk = k.Input((), dtype="int32", name="k")
    turn = kk[0]
    wide = x[:, :2, :3, :]
    return k.Model([x, kk], [tf.image.rot90(x, turn), tf.image.rot90(wide, turn) + 1.0, tf.image.rot90(x[0], turn),
                             tf.image.rot90(tf.cast(x * 10.0, tf.int32), turn),
                             tf.cast(tf.image.rot90(x > 0.0, turn), tf.float32)])


FAMILIES = {"split_sizes": split_sizes, "band_bounds": band_bounds, "permutations": permutations,
            "squeezed_axis": squeezed_axis, "vector_axis": vector_axis, "turns": turns}

#: Each run's non-float inputs (and the float input's shape) by family.
RUNS: dict[str, list[dict[str, Any]]] = {
    "split_sizes": [{"x": (2, 6, 4), "s": [[2, 4]], "b": [1, 2, 1]}, {"x": (3, 5, 4), "s": [[-1, 0]], "b": [0, 3, 1]},
                    {"x": (1, 3, 4), "s": [[3, 0]], "b": [-1, 1, 1]}],
    "band_bounds": [{"x": (2, 5, 4), "b": [[1, 0], [-2, 2]], "f": [[0.5], [1.7]]},
                    {"x": (3, 4, 6), "b": [[-1, -3]], "f": [[-2.5]]},
                    {"x": (1, 6, 3), "b": [[6, 3], [0, 0]], "f": [[0.0]]},
                    {"x": (1, 3, 4), "b": [[-2**31, -2**31 + 1]], "f": [[-2.0]]}],  # size - bound wrapped (R2)
    "permutations": [{"x": (2, 3, 4, 5), "p": [[0, 2, 1, 3]]}, {"x": (1, 3, 4, 5), "p": [[3, 1, 2, 0]]},
                     {"x": (2, 3, 4, 5), "p": [[-4, -1, 1, -2]]}],
    "squeezed_axis": [{"x": (2, 5, 4), "a": [[1]]}, {"x": (3, 2, 4), "a": [[-1]]}, {"x": (2, 3, 4), "a": [[0]]}],
    "vector_axis": [{"x": (2, 5, 4), "a": [1], "one": [2]}, {"x": (3, 2, 4), "a": [-1], "one": [0]},
                    {"x": (2, 3, 4), "a": [0], "one": [-3]}],
    "turns": [{"x": (2, 3, 4, 2), "k": [1]}, {"x": (1, 4, 4, 2), "k": [2]}, {"x": (2, 3, 5, 2), "k": [3]},
              {"x": (1, 2, 3, 2), "k": [-1]}, {"x": (2, 3, 3, 2), "k": [0]}, {"x": (1, 3, 2, 2), "k": [-6]}],
}


def _inputs_of(model: Any, family: str, rng: np.random.Generator) -> Any:
    """Normal floats with a -0.0, NaN-free, beside each run's integer arguments and float bounds."""
    for run in RUNS[family]:
        x = rng.standard_normal(run["x"]).astype(np.float32)
        x.reshape(-1)[0] = -0.0
        yield {"x": x, **{name: np.asarray(value, np.float32 if name == "f" else np.int32)
                          for name, value in run.items() if name != "x"}}


CASES = [(family, "tf_keras.h5") for family in FAMILIES]
converted = converted_fixture("s29_run_time_args", CASES, two_size_saver(FAMILIES, _inputs_of, seed=291))


@pytest.mark.node
@each_case(CASES)
def test_run_time_arguments_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def _fails_where_tensorflow_raises(tmp_path, model: Any, good: list[np.ndarray], bad: list[list[np.ndarray]]):
    """The converted model runs ``good`` as tf_keras does and fails on cpu and wasm for each of ``bad``, where
    tf_keras raises."""
    import tfjsconv
    from tfjsconv.verify.run import run_model

    model.save(tmp_path / "m.h5")
    tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    names = [t.name.split(":")[0] for t in model.inputs]
    result = run_model(str(tmp_path / "out"), dict(zip(names, good, strict=True)), backends=("cpu", "wasm"),
                       quiet=True)
    outputs = model(good)
    want = [np.asarray(o) for o in (outputs if isinstance(outputs, list) else [outputs])]
    for backend in ("cpu", "wasm"):
        got = list(result[backend].outputs.values())
        assert all(np.allclose(g, w, atol=1e-6) for g, w in zip(got, want, strict=True)), backend
    for inputs in bad:
        with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
            model(inputs)
        result = run_model(str(tmp_path / "out"), dict(zip(names, inputs, strict=True)), backends=("cpu", "wasm"),
                           quiet=True)
        assert not result["cpu"].ok and not result["wasm"].ok, [i.tolist() for i in inputs[1:]]


@pytest.mark.node
def test_a_perm_that_is_no_permutation_fails_in_tfjs_as_tensorflow_raises(tmp_path, tfjs_runtime):
    """A repeated entry and one past the rank: TF raises, TF.js fails (no row of the table matches)."""
    import tf_keras as k

    x = k.Input((2, 3), name="x")
    p = k.Input((3,), dtype="int32", name="p")
    model = k.Model([x, p], tf.transpose(x, p[0]))
    xs = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    _fails_where_tensorflow_raises(tmp_path, model, [xs, np.array([[2, 0, -2]], np.int32)],
                                   [[xs, np.array([[0, 1, 1]], np.int32)], [xs, np.array([[0, 3, 1]], np.int32)],
                                    [xs, np.array([[0, -4, 1]], np.int32)]])


@pytest.mark.node
def test_a_band_past_the_matrix_fails_in_tfjs_as_tensorflow_raises(tmp_path, tfjs_runtime):
    """``num_lower`` past the rows or ``num_upper`` past the columns of a run-time matrix: TF raises."""
    import tf_keras as k

    x = k.Input((None, None), name="x")
    b = k.Input((2,), dtype="int32", name="b")
    model = k.Model([x, b], tf.linalg.band_part(x, b[0, 0], b[0, 1]))
    xs = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 11.5
    _fails_where_tensorflow_raises(tmp_path, model, [xs, np.array([[3, 4]], np.int32)],
                                   [[xs, np.array([[4, 0]], np.int32)], [xs, np.array([[0, 5]], np.int32)]])


@pytest.mark.node
def test_a_split_or_axis_of_another_count_fails_in_tfjs_as_tensorflow_raises(tmp_path, tfjs_runtime):
    """Split sizes of three entries for ``num=2`` and a squeezed axis of two entries: TF raises."""
    import tf_keras as k

    x = k.Input((None, 4), name="x")
    s = k.Input((None,), dtype="int32", name="s")
    a = k.Input((1,), dtype="int32", name="a")
    model = k.Model([x, s, a], [*tf.split(x, tf.reshape(s, [-1]), num=2, axis=1), tf.cumsum(x, tf.squeeze(a))])
    xs = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    _fails_where_tensorflow_raises(tmp_path, model, [xs, np.array([[1, 2]], np.int32), np.array([[1]], np.int32)],
                                   [[xs, np.array([[1, 1, 1]], np.int32), np.array([[1]], np.int32)],
                                    [xs, np.array([[1, 2]], np.int32), np.array([[1], [2]], np.int32)]])


def test_a_listed_axis_of_cumsum_is_refused_by_name(tmp_path):
    """``tf.cumsum(x, axis=[a])`` builds in tf_keras, but TF's Cumsum raises on an axis of shape ``[1]``: refused by
    name (session 28's run-time axis lowered it as the scalar, a result where tf_keras raises)."""
    import tf_keras as k

    import tfjsconv
    from tfjsconv.errors import UsageError

    x = k.Input((None, 4), name="x")
    model = k.Model(x, tf.cumsum(x, axis=[tf.shape(x)[1] % 3], name="listed"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="axis must be a scalar"):
        model(np.ones((2, 4, 4), np.float32))
    model.save(tmp_path / "m.h5")
    with pytest.raises(UsageError, match=r"cumsum.*'axis' is a tensor whose value is known only at run time"):
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
