"""Op-layer arguments the h5py lowering refused where ``--loader=tensorflow`` converted them (session 24, issue 16).

- tf_keras ``tf.strided_slice(x, begin, end, strides=[1, s])`` with ``s`` a tensor ("argument 'strides' is a
  tensor"): a step known only at run time is read at run time as ``x[:, ::s]`` is; one the graph fixes is a constant.
- Shape arithmetic on sizes the config gives (``tf.shape(x)[2] // 5`` of a ``[None, None, 10]`` input) in a padding,
  reshape, tile or slice size: the sizes stay static, as TF's shape inference keeps them, so a Dense after them lowers
  (it was refused: "reshape to [None, None] needs static sizes"; ``tf.slice`` with such a size or begin list:
  "argument 'size'/'begin' is a tensor").
- ``tf.expand_dims(x, axis=<tensor>)``, ``tf.reduce_sum(x, axis=tf.rank(x) - 1)``: lowered where the graph fixes the
  axis ("argument 'axis' is a tensor"); an axis known only at run time is refused by name.
- Keras 3 ``ops.concatenate`` of items Keras promotes: int32 constants among float32 tensors (float32), a float64
  ``np.array`` (float64, held as a pair of float32), int64 arrays past int32 among float32 tensors (float32).
- Review R3's findings (session 24, each refused before its fix): int32 and bool *tensors* (inputs, an ``argmax``)
  among float32 ones in a Keras 3 concatenate; a ``tf.range`` axis vector; ``reduce_logsumexp``/``argmax`` tensor
  axes (every ``axis`` reader now); ``tf.cast(c / 5, tf.int32)`` of a size the config gives (a float64 quotient);
  ``tf.size`` past int32 in an axis, refused by name instead of "the model config is malformed".

Each family converted once (TensorFlow, Keras and tf_keras poisoned), run at two lengths against Keras's
``model(x)`` in TF.js cpu and wasm. Every family was refused by name before session 24
(``/work/notes/probe24/h4/p1.py``, ``p2.py``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
keras = pytest.importorskip("keras")

import tfjsconv  # noqa: E402
from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver, verify_runs  # noqa: E402
from tfjsconv.errors import UsageError  # noqa: E402

RUNS = [(2, 7), (3, 4)]  # (batch, length) of each run


def tensor_strides(k: Any) -> Any:
    """Steps from the length ``n`` (7, 4), forwards and backwards, with a tensor bound, and a step the channels fix."""
    x = k.Input((None, 8), name="x")
    n = tf.shape(x)[1]
    up, down = n // 3 + 1, -(n // 2)
    return k.Model(x, [
        tf.strided_slice(x, [0, 0], [0, 0], strides=[1, up], begin_mask=3, end_mask=3, name="up"),
        tf.strided_slice(x, [0, 0], [0, 0], strides=[1, down], begin_mask=3, end_mask=3, name="down"),
        tf.strided_slice(x, [0, 1, 0], [2, n, 8], strides=[1, up, 3], name="bounded"),
        k.layers.Dense(2, name="dense_stepped")(
            tf.strided_slice(x, [0, 0, 1], [0, 0, 8], strides=[1, 1, tf.shape(x)[2] // 4], begin_mask=3, end_mask=3,
                             name="fixed")),
    ])


def static_arithmetic(k: Any) -> Any:
    """Sizes and axes from ``c = tf.shape(x)[2]`` (10 in the config): each padded, reshaped, tiled or sliced axis stays
    static, so a Dense reads it; tensor axes ``c // 5`` and ``tf.rank(x) - 1``."""
    x = k.Input((None, 10), name="x")
    c = tf.shape(x)[2]
    return k.Model(x, [
        k.layers.Dense(3, name="dense_padded")(tf.pad(x, [[0, 0], [0, 0], [c // 5, 0]])),
        k.layers.Dense(3, name="dense_reshaped")(tf.reshape(x, [-1, tf.shape(x)[1], 2, c // 2])),
        k.layers.Dense(3, name="dense_tiled")(tf.tile(x, [1, 1, c // 5])),
        k.layers.Dense(3, name="dense_sliced")(tf.slice(x, [0, 0, 1], [-1, -1, c - 3])),
        k.layers.Dense(2, name="dense_begun")(tf.slice(x, [0, tf.shape(x)[1] // 2, c // 5], [-1, 1, 3])),
        tf.expand_dims(x, axis=c // 5),
        tf.reduce_sum(x, axis=tf.rank(x) - 1),
        tf.reduce_max(x, axis=[c - 9, c - 10], keepdims=True),
        tf.reduce_mean(x, axis=c // 10),
    ])


def _keras3_length(k: Any, x: Any) -> Any:
    """The run's length as a float32 vector of one item, from Keras 3 ops only (``ops.shape`` is static)."""
    return k.ops.reshape(k.ops.max(k.ops.sum(k.ops.ones_like(x), axis=1)), (1,))


def promoted_concat(k: Any) -> Any:
    """Keras 3 concatenations whose items Keras promotes to float32 or float64."""
    x = k.Input((None, 8), name="x")
    n = _keras3_length(k, x)
    ints = k.ops.concatenate([k.ops.zeros((1,), "int32"), n, np.array([3, -2], "int32")])
    wide = k.ops.concatenate([n, np.array([2**40 + 1, -5])])  # int64 items: float32, 2^40 + 1 rounded
    doubles = k.ops.concatenate([n, np.array([0.1, -2.5])])  # a float64 array: float64
    return k.Model(x, [x * k.ops.sum(ints), wide, doubles, x[:, :, :3] * doubles])


def fixed_axes(k: Any) -> Any:
    """Axes and a padding the graph fixes through ops the first families lack (review R3, session 24): a
    ``tf.range`` vector (IR shape ``(None,)``), ``reduce_logsumexp`` and ``argmax`` axes, and a float64 quotient of
    a size cast back to int32 (``tf.cast(c / 5, tf.int32)``: tf_keras's ``/`` of int32 is float64)."""
    x = k.Input((None, 10), name="x")
    r, c = tf.rank(x), tf.shape(x)[2]
    return k.Model(x, [
        tf.reduce_min(x, axis=tf.range(r - 1, r)),
        tf.math.reduce_logsumexp(x, axis=r - 1),
        tf.math.argmax(x, axis=r - 2, output_type=tf.int32),
        tf.pad(x, [[0, 0], [0, 0], [0, tf.cast(c / 5, tf.int32)]]),  # TF's own shape is (None, None, None) there
    ])


def integer_concat(k: Any) -> Any:
    """Keras 3 concatenations of int32 and bool *tensors* (inputs, an ``argmax``) with float32 ones: float32, the
    integers cast (rounded past 2^24), as Keras promotes them (review R3's F1)."""
    x = k.Input((None, 3), name="x")
    i = k.Input((None, 3), dtype="int32", name="i")
    b = k.Input((None, 3), dtype="bool", name="b")
    top = k.ops.expand_dims(k.ops.argmax(x, axis=-1), -1)
    return k.Model([x, i, b], [k.ops.concatenate([x, i], axis=-1), k.ops.concatenate([b, x], axis=-1),
                               k.ops.concatenate([x, top], axis=-1), k.ops.concatenate([i, b, x], axis=1)])


FAMILIES = {"tensor_strides": tensor_strides, "static_arithmetic": static_arithmetic,
            "promoted_concat": promoted_concat, "fixed_axes": fixed_axes, "integer_concat": integer_concat}


def _inputs(model: Any, rng: np.random.Generator, batch: int, length: int) -> dict[str, np.ndarray]:
    """Each input by its dtype: normal floats, int32 over its whole range (2^24 + 1 first), bools."""
    inputs = {}
    for t in model.inputs:
        shape, dtype = (batch, length, t.shape[-1]), str(t.dtype)
        if "int32" in dtype:
            ints = rng.integers(-2**31, 2**31, shape, dtype=np.int64).astype(np.int32)
            ints.flat[0] = 2**24 + 1
            inputs[t.name.split(":")[0]] = ints
        elif "bool" in dtype:
            inputs[t.name.split(":")[0]] = rng.random(shape) < 0.5
        else:
            inputs[t.name.split(":")[0]] = rng.standard_normal(shape).astype(np.float32)
    return inputs


CASES = [("tensor_strides", "tf_keras.h5"), ("static_arithmetic", "tf_keras.h5"), ("promoted_concat", "keras3.keras"),
         ("fixed_axes", "tf_keras.h5"), ("integer_concat", "keras3.keras")]
converted = converted_fixture("k24_op_args", CASES, two_size_saver(FAMILIES, at_runs(_inputs, RUNS), seed=241))


@pytest.mark.node
@each_case(CASES)
def test_op_arguments_lower_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
def test_integer_items_are_cast_exactly(converted, tfjs_runtime):
    """int32 items past 2^24 round once, as Keras's cast rounds them: every value equal, not merely close."""
    import json
    from pathlib import Path

    from tfjsconv.verify.compare import format_report, verify_model

    path, runs, _ = converted[("integer_concat", "keras3.keras")]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    for inputs, outputs in runs:
        report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("cpu", "wasm"), rtol=0,
                              atol=0, quiet=True)
        assert report.passed, format_report(report)


def test_promotions_are_keras_own():
    """The dtypes the families rely on are Keras 3's own ``result_type`` (what the lowering follows)."""
    from keras.src.backend import result_type

    assert [result_type(*p) for p in (("float32", "int32"), ("float32", "int64"), ("float32", "float64"),
                                      ("int32", "int64"))] == ["float32", "float32", "float64", "int64"]


def test_an_axis_known_only_at_run_time_is_refused_by_name(tmp_path):
    """``tf.roll(x, 1, axis=n % 2)`` with ``n`` the run's length: refused, named. (``expand_dims``, the
    reductions, ``argmax``, ``concat``, ``gather``, ``split``... along an axis known only at run time lower since
    session 28: test_keras_lowering_k28_op_args; band_part's bounds known only at run time since session 29:
    test_keras_lowering_run_time_args_s29.)"""
    import tf_keras as k

    x = k.Input((None, 4), name="x")
    k.Model(x, tf.roll(x, 1, axis=tf.shape(x)[1] % 2, name="rolled")).save(tmp_path / "m.h5")
    with pytest.raises(UsageError, match=r"roll.*'axis' is a tensor whose value is known only at run time"):
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert not (tmp_path / "out").exists()


def test_int64_items_past_int32_among_integers_are_refused_by_name(tmp_path):
    """Keras 3 concatenates ``np.array([2**40])`` with int32 tensors in int64: past what TF.js holds, named (the traced
    path refuses the int64 weight too)."""
    x = keras.Input((None, 8), name="x")
    n = keras.ops.cast(_keras3_length(keras, x), "int32")
    keras.Model(x, keras.ops.concatenate([n, np.array([2**40])])).save(tmp_path / "m.keras")
    with pytest.raises(UsageError, match=r"concatenate.*int64 values past int32's range"):
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")


def test_a_size_past_int32_in_an_axis_is_refused_by_name(tmp_path):
    """``tf.size`` of 2^32 elements (TF raises: "larger than representable") in an axis: a named refusal, not a
    malformed-config error."""
    import tf_keras as k

    x = k.Input((65536, 65536), name="x")
    k.Model(x, tf.reduce_sum(x, axis=tf.size(x[0]) % 2 + 1)).save(tmp_path / "m.h5")
    with pytest.raises(UsageError, match=r"tf.size of a tensor of shape \[65536, 65536\]: 4294967296 is past int32"):
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
