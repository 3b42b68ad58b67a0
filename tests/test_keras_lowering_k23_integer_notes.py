"""Integers a layer makes from floats or widens past int32 are named in the conversion's warnings (session 22's
review R1, F6; helper H9's note on op-layer casts).

TF.js holds every int64 as its low 32 bits, the documented convention: moves, sums and products of such values read
them as Keras does, but a comparison, an id, a float layer or a model output reads another number from 2^31 on.
Integer model inputs past int32 cannot reach TF.js; a layer can make such values from small ones: a float cast to
int64 (``tf.cast(x * 1e9, tf.int64)``, ``ops.cast(x, "int64")``) or a Keras 3 ``Rescaling(dtype="int64")`` that
scales int32 ids (Keras widens them to int64 first). Both were converted without a word; the conversion now names
each such layer, and casts of integers or bools to int64, and int64 Rescalings by ±1 or 0, stay unnamed. The
converted models still match Keras in TF.js (cpu and wasm) below 2^31.

An op layer's cast to int32 of floats that other layers computed (``tf.cast(dense, tf.int32)``) truncates Keras's
own float32 value, and TF.js's may lie a rounding away on the other side of a whole number: it is named as the
integer-dtype layers' autocasts are; a cast of a model input (moved or picked only) is exact and stays quiet.
"""
from __future__ import annotations

import re
from pathlib import Path
import numpy as np
import pytest

pytest.importorskip("h5py")

from keras_models import keras_module  # noqa: E402

TRUNCATED = "Keras truncates a float computed by the layers before it to integers"
NOTE = ": from 2^31 on TF.js holds an int64 only as its low 32 bits, so where such a value arises a later comparison"


def _tf_keras_casts(folder: Path) -> Path:
    k = keras_module("tf_keras")
    import tensorflow as tf

    x, ids = k.Input((4,), name="x"), k.Input((4,), name="ids", dtype="int32")
    big = tf.cast(x * 1e9, tf.int64, name="big")
    dense = k.layers.Dense(4, name="dense")(x)
    model = k.Model([x, ids], [tf.cast(tf.cast(big, tf.int32) + 1, tf.float32),
                               tf.cast(tf.cast(ids, tf.int64) * 3, tf.int32),
                               tf.cast(tf.cast(x > 0, tf.int64), tf.float32),
                               tf.cast(dense * 4.0, tf.int32), tf.cast(x, tf.int32)])
    path = folder / "casts.h5"
    model.save(path)
    return path


def _keras3_casts_and_rescalings(folder: Path) -> Path:
    k = keras_module("keras3")
    o, L = k.ops, k.layers
    x, ids = k.Input((4,), name="x"), k.Input((4,), name="ids", dtype="int32")
    model = k.Model([x, ids], [
        o.cast(o.cast(x * 1e9, "int64"), "int32"),
        L.Rescaling(2**20, name="widened", dtype="int64")(ids),
        L.Rescaling([1, -1, 0, 1], offset=3, name="kept", dtype="int64")(ids),
        o.cast(o.cast(ids, "int64"), "int32"), o.cast(L.Dense(4, name="dense")(x) * 4.0, "int32"),
        o.cast(x, "int32")])
    path = folder / "casts.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Both models saved and converted with TensorFlow, Keras and tf_keras poisoned: path and the details printed."""
    import subprocess
    import sys

    from test_keras_lowering import LOWERED, POISONED

    folder = tmp_path_factory.mktemp("k23_int64")
    paths = {"tf_keras": _tf_keras_casts(folder), "keras3": _keras3_casts_and_rescalings(folder)}
    found = {}
    for name, path in paths.items():
        out = subprocess.run([sys.executable, "-c", POISONED, str(path)], capture_output=True, text=True)
        assert out.returncode == 0 and LOWERED in out.stdout, out.stderr[-3000:]
        found[name] = (path, " ".join(out.stdout.split()))
    return found


def test_tf_keras_float_to_int64_casts_are_named(converted):
    text = converted["tf_keras"][1]
    assert re.search(r"layer 'tf\.cast(_\d+)?' casts floats to int64" + re.escape(NOTE), text), text  # (numbered per process)
    assert text.count("casts floats to int64") == 1, text  # the ids' and the bools' casts are not named
    assert f"(cast to int32): {TRUNCATED}" in text, text
    assert text.count("(cast to int32)") == 1, text  # the model input's cast is exact: not named


def test_keras3_float_casts_and_widening_rescalings_to_int64_are_named(converted):
    text = converted["keras3"][1]
    assert "casts floats to int64" + NOTE in text, text
    assert text.count("casts floats to int64") == 1, text
    assert f"layer 'widened' (Rescaling: dtype int64) scales integers by 1048576{NOTE}" in text, text
    assert "'kept'" not in text, text
    assert f"(cast to int32): {TRUNCATED}" in text, text
    assert text.count("(cast to int32)") == 1, text


@pytest.mark.node
def test_named_int64_layers_still_match_keras_below_two_to_the_31(converted, tfjs_runtime):
    """The warning changes no number: both models against Keras in TF.js cpu and wasm (int64 outputs compared as
    the low 32 bits TF.js holds; the ids times 2^20 stay below 2^31)."""
    from keras_two_sizes import keras_outputs, verify_runs

    rng = np.random.default_rng(2301)
    for name, (path, _) in converted.items():
        k = keras_module("tf_keras" if name == "tf_keras" else "keras3")
        model = k.models.load_model(path, compile=False)
        runs = []
        for batch in (2, 3):
            inputs = {"x": rng.uniform(-2.0, 2.0, (batch, 4)).astype(np.float32),
                      "ids": rng.integers(-2000, 2000, (batch, 4)).astype(np.int32)}
            runs.append((inputs, [o.astype(np.int32) if o.dtype == np.int64 else o
                                  for o in keras_outputs(model, inputs)]))
        verify_runs(path, runs)


def test_int64_products_of_op_layers_are_named_and_keep_the_low_bits(tmp_path):
    """Review R3 (F5): ``cast(cast(ids, int64) * 3000000, float32)`` reads an int64 product past 2^31 in Keras and its
    low 32 bits in TF.js (0.9..1.0 of the range off), with no warning; the product is named now, and computed as
    TF's wrapped int32 product (TF.js's cpu Mul goes through float64, losing low bits past 2^53)."""
    import subprocess
    import sys

    from test_keras_lowering import LOWERED, POISONED

    for flavor, suffix in (("keras3", ".keras"), ("tf_keras", ".h5")):
        k = keras_module(flavor)
        ids = k.Input((4,), name="ids", dtype="int32")
        if flavor == "keras3":
            o = k.ops
            out = o.cast(o.cast(ids, "int64") * 3000000, "float32")
        else:
            import tensorflow as tf

            out = tf.cast(tf.cast(ids, tf.int64) * 3000000, tf.float32)
        path = tmp_path / f"m{suffix}"
        k.Model(ids, out).save(path)
        run = subprocess.run([sys.executable, "-c", POISONED, str(path)], capture_output=True, text=True)
        assert run.returncode == 0 and LOWERED in run.stdout, run.stderr[-2000:]
        assert "multiplies int64 values" + NOTE in " ".join(run.stdout.split()), run.stdout
