"""More op layers lowered with h5py (issue 16): argmax/argmin, one_hot, gather/take/take_along_axis,
identity/stop_gradient/ensure_shape, tan and the inverse and hyperbolic trig functions, is_nan/is_inf/is_finite,
log_sigmoid, divide_no_nan, reciprocal_no_nan, xlogy, reduce_logsumexp, atan2, and the functions with several outputs:
split, unstack, top_k.

As in ``test_keras_lowering_ops.py``: small functional models with random weights, tf_keras ``.h5`` through ``tf.*``
calls on Keras tensors and Keras 3 ``.keras`` through ``keras.ops.*``, converted to graph models in a process where
TensorFlow, Keras and tf_keras cannot be imported, run in real TF.js (cpu and wasm) and compared with Keras's own
``model(x)``: integers and bools exactly, floats within 1e-5 of each output's range. The inputs hold the special
cases: argmax/argmin rows with ties, NaN, ±Inf, ±FLT_MAX and -0.0 beside +0.0 (Keras 3 picks +0.0, TF the first),
one_hot indices negative and past the depth (rows of off values), Keras 3 ``take``/``take_along_axis`` of negative
indices (wrapped), top_k of tied values. What stays refused (a constant index outside the axis, which TF's gather
raises on; Keras 3's take from the flattened batch) is named.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import POISONED, _verify, convert_poisoned  # noqa: E402

NAN, INF, BIG = np.nan, np.inf, float(np.finfo(np.float32).max)
#: argmax/argmin rows: NaN first, ties, all -Inf, all NaN, -0.0 beside +0.0 both ways, ±FLT_MAX beside ∓Inf.
SPECIAL_ROWS = np.array([[NAN, 0, 0], [1, 1, 0], [-INF, -INF, -INF], [NAN, NAN, NAN], [0, NAN, 5], [-0.0, 0.0, -1],
                         [0.0, -0.0, 1], [-BIG, -INF, -BIG], [BIG, INF, BIG], [2, NAN, 2], [-0.0, -0.0, 0.0]],
                        np.float32)
#: one_hot indices: negative, past the depth (7), in range.
IDS = np.array([[-1, 0, 3, 7, 6], [2, 2, -7, 100, 1]], np.int32)
#: Indices into an axis of 6 (tf.gather's must be in range; Keras 3's take also gets them as -6 to -1, wrapped).
PICKS = np.array([[5, 0, 2], [1, 1, 4]], np.int32)


def _tf():
    pytest.importorskip("tf_keras")
    return pytest.importorskip("tensorflow")


def tf_more_model():
    """The new TF functions on tf_keras tensors (each a TFOpLambda)."""
    tf = _tf()
    import tf_keras as k

    x, other = k.Input((4, 6), name="x"), k.Input((4, 6), name="other")
    special, ids, picks = k.Input((11, 3), name="special"), k.Input((5,), name="ids", dtype="int64"), \
        k.Input((3,), name="picks", dtype="int32")  # int64 ids, as tokenizers give them (TF.js holds them as int32)
    h = k.layers.Dense(6, name="dense")(x)
    t = tf.math.tanh(h)
    halves = tf.split(h, 2, axis=-1)
    sized = tf.split(other, [1, -1, 2], axis=2)
    rows = tf.unstack(h, axis=1)
    tied = tf.math.round(h * 2.0) / 2.0  # ties for top_k
    top = tf.math.top_k(tied, 3)
    floats = [
        tf.math.tan(t), tf.math.asin(t * 0.9), tf.math.acos(t * 0.9), tf.math.atan(h), tf.math.sinh(t), tf.math.cosh(t),
        tf.math.asinh(h), tf.math.acosh(tf.math.abs(h) + 1.0), tf.math.atanh(t * 0.9), tf.math.log_sigmoid(h * 4.0),
        tf.math.divide_no_nan(h, tf.math.round(other)), tf.math.reciprocal_no_nan(tf.math.round(other)),
        tf.math.xlogy(tf.math.round(h), tf.math.abs(other)), tf.math.reduce_logsumexp(h * 30.0, axis=1),
        tf.math.reduce_logsumexp(special, axis=-1, keepdims=True), tf.math.reduce_logsumexp(h, axis=[1, 2]),
        tf.math.atan2(h, other), tf.identity(h) + tf.stop_gradient(other), tf.ensure_shape(h, (None, 4, 6)),
        tf.one_hot(ids, 7), tf.one_hot(ids, 7, on_value=2.5, off_value=-1.0, axis=1),
        tf.gather(h, [0, 5, 2, 2], axis=2), tf.gather(h, picks, axis=2), tf.gather(h, 3, axis=1),
        halves[0] - halves[1], sized[0], sized[1], sized[2], rows[0] * rows[3], top.values,
    ]
    integers = [tf.math.argmax(special, axis=-1), tf.math.argmin(special, axis=2), tf.argmax(h, output_type=tf.int32),
                tf.math.argmax(h, axis=1), top.indices, tf.one_hot(ids, 5, on_value=3, off_value=-2, axis=0),
                tf.gather(ids, [4, 0], axis=1)]
    bools = [tf.math.is_nan(special), tf.math.is_inf(special), tf.math.is_finite(special)]
    return k.Model([x, other, special, ids, picks], floats + integers + bools)


def keras3_more_model():
    """The new ``keras.ops`` on Keras 3 symbolic tensors (each saved as an operation)."""
    o = keras.ops
    x, other = keras.Input((4, 6), name="x"), keras.Input((4, 6), name="other")
    special, ids, picks = keras.Input((11, 3), name="special"), keras.Input((5,), name="ids", dtype="int32"), \
        keras.Input((3,), name="picks", dtype="int32")
    h = keras.layers.Dense(6, name="dense")(x)
    t = o.tanh(h)
    halves = o.split(h, 2, axis=-1)
    cut = o.split(other, [1, 4], axis=2)
    rows = o.unstack(h, axis=1)
    top_values, top_indices = o.top_k(o.round(h * 2.0) / 2.0, 3)
    floats = [
        o.tan(t), o.arcsin(t * 0.9), o.arccos(t * 0.9), o.arctan(h), o.sinh(t), o.cosh(t), o.arcsinh(h),
        o.arccosh(o.abs(h) + 1.0), o.arctanh(t * 0.9), o.log_sigmoid(h * 4.0), o.divide_no_nan(h, o.round(other)),
        o.logsumexp(h * 30.0, axis=1), o.logsumexp(special, axis=-1, keepdims=True), o.logsumexp(h, axis=[1, 2]),
        o.arctan2(h, other), o.stop_gradient(h), o.one_hot(ids, 7), o.one_hot(ids, 4, axis=1),
        o.take(h, [0, 5, -1, 2], axis=2), o.take(h, -3, axis=1), o.take(h, picks, axis=2),
        o.take(h, o.negative(picks) - 1, axis=-1), halves[0] - halves[1], cut[0], cut[1], cut[2],
        rows[0] * rows[3], top_values,
        o.take_along_axis(h, o.argmax(h, axis=-1, keepdims=True), axis=-1),
        o.take_along_axis(h, o.cast(o.floor(t * 3.99), "int32"), axis=1),  # -4 to 3 into 4 rows: negatives wrap
        o.arctan(ids), o.divide_no_nan(picks[:, :1], ids), o.arctan2(ids, 2),  # integers: Keras 3 casts to float32
    ]
    integers = [o.argmax(special, axis=-1), o.argmin(special, axis=2, keepdims=True), o.argmax(h, axis=1),
                o.argmin(ids, axis=1), top_indices, o.take(ids, [4, -5], axis=1)]
    bools = [o.isnan(special), o.isinf(special), o.isfinite(special), o.isnan(ids), o.isfinite(ids),
             o.one_hot(ids, 3, dtype="bool")]
    return keras.Model([x, other, special, ids, picks], floats + integers + bools)


MODELS = {"tf_more": (tf_more_model, ".h5"), "keras3_more": (keras3_more_model, ".keras"),
          "keras3_more_h5": (keras3_more_model, ".h5")}
#: Outputs webgl computes otherwise on these inputs, as the contract and the conversion's special-values line say:
#: tan and acos past 1e-5 (GLSL), and webgl's Log(0) is -88.03, not -Inf (xlogy by 0, logsumexp of an all -Inf row).
WEBGL_OFF = {"tf.math.tan", "tan", "tf.math.acos", "arccos", "tf.math.xlogy", "tf.math.reduce_logsumexp_1",
             "logsumexp_1"}


def _inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    other = rng.standard_normal((2, 4, 6)).astype("float32") * 1.5
    other[0, 0, :3] = 0.0  # divide_no_nan / reciprocal_no_nan / xlogy by zero
    return {"x": rng.standard_normal((2, 4, 6)).astype("float32"), "other": other,
            "special": np.stack([SPECIAL_ROWS, -SPECIAL_ROWS[::-1]]), "ids": IDS, "picks": PICKS}


def _save(case: str, folder: Path):
    build, suffix = MODELS[case]
    # Keras numbers layer names per process: cleared, the output names WEBGL_OFF lists do not depend on the tests
    # that ran before in this worker
    keras.backend.clear_session()
    if case.startswith("tf"):
        import tf_keras

        tf_keras.backend.clear_session()
    model = build()
    randomize(model, 7)
    dtypes = {t.name.split(":")[0]: getattr(t.dtype, "name", t.dtype) for t in model.inputs}  # tf.DType or str
    inputs = {name: value.astype(dtypes[name]) for name, value in _inputs(8).items()}
    return save_with_outputs(model, inputs, folder / f"{case}{suffix}")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("op_layers_more")
    saved = {case: _save(case, folder) for case in MODELS}
    convert_poisoned([path for path, _, _ in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", list(MODELS))
def test_more_op_layers_lower_and_match_keras(converted, tfjs_runtime, case):
    path, inputs, outputs = converted[case]
    _verify(Path(f"{path}.out"), inputs, outputs)


@pytest.mark.node
@pytest.mark.parametrize("case", ["tf_more", "keras3_more"])
def test_more_op_layers_match_keras_on_webgl(converted, browser, case):
    """The same on webgl (headless Chromium): argmax's guards (-0.0 read through 1/x, NaN), one_hot, the gathers and
    the outputs of split/unstack/top_k, all but the outputs :data:`WEBGL_OFF` names."""
    import json

    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs = converted[case]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    expected = {n: o for n, o in zip(names, outputs, strict=True) if n not in WEBGL_OFF}
    assert len(expected) == len(names) - (4 if case == "tf_more" else 3)
    report = verify_model(out, inputs, expected, backends=("webgl",), rtol=1e-5, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


#: The ``tfjsconv convert`` command in a process where TensorFlow, Keras and tf_keras cannot be imported.
CLI_POISONED = POISONED.split("import tfjsconv")[0] + "from tfjsconv.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def _refused(path: Path) -> str:
    """Convert ``path`` with the CLI: exit 2 (a gap), nothing written; the error message."""
    out = subprocess.run([sys.executable, "-c", CLI_POISONED, "convert", str(path), f"{path}.out",
                          "--output_format=tfjs_graph_model"], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr[-2000:]
    assert not Path(f"{path}.out").exists()
    assert "--loader=tensorflow" in out.stderr
    return " ".join(out.stderr.split())


def test_out_of_range_gathers_stay_refused_by_name(tmp_path):
    """A constant index TF's gather raises on stays a gap named by function, and so does Keras 3's take from the
    flattened tensor, batch included (``sort`` beside them lowers: tests/test_keras_lowering_sort_narrow_ops.py;
    Keras 3's argmax over the flattened tensor lowers since session 19: test_keras_lowering_k3_ops_s19.py)."""
    tf = _tf()
    import tf_keras as k

    x = k.Input((4, 6), name="x")
    k.Model(x, [tf.gather(x, [0, -1], axis=2), tf.math.argmax(x, axis=1)]).save(
        tmp_path / "tf.h5")
    message = _refused(tmp_path / "tf.h5")
    assert re.search(r"does not cover 1 layer: "
                     r"'tf\.compat\.v1\.gather(_\d+)?' \(compat\.v1\.gather\): index -1 outside \[0, 6\) "
                     r"\(TensorFlow's gather raises\)", message), message

    o = keras.ops
    x3 = keras.Input((4, 6), name="x")
    keras.Model(x3, [o.take(x3[0, :, :], [30]), o.take(x3, [1, -7], axis=2)]).save(tmp_path / "k3.keras")
    message = _refused(tmp_path / "k3.keras")  # take without an axis lowers since session 19: a constant outside
    assert re.search(r"does not cover 2 layers: 'take\w*' \(Take\): index 30 outside a tensor of 24 entries "
                     r"\(TensorFlow's gather raises\), 'take\w*' \(Take\): index -1 "
                     r"outside \[0, 6\)", message), message


@pytest.mark.parametrize("op,key,value", [
    ("one_hot", "num_classes", 2**40), ("one_hot", "axis", 5), ("split", "indices_or_sections", 10**9),
    ("split", "indices_or_sections", [4, 2]), ("top_k", "k", -1), ("top_k", "sorted", False), ("take", "axis", "a"),
    ("argmax", "axis", 99), ("unstack", "num", 5), ("logsumexp", "axis", []),
])
def test_hostile_arguments_of_the_new_ops_are_refused_by_name(tmp_path, op, key, value):
    """Edited operation configs (sizes past any model, axes out of range, wrong types) are gaps naming the operation,
    or input errors: never a crash, a huge graph or a model computing something else."""
    import tfjsconv
    from keras_models import edit_layer_config
    from tfjsconv.errors import InputError, UsageError

    o = keras.ops
    x, ids = keras.Input((4, 6), name="x"), keras.Input((5,), name="ids", dtype="int32")
    outs = {"one_hot": o.one_hot(ids, 7), "split": o.split(x, 2, axis=2)[0], "top_k": o.top_k(x, 2)[0],
            "take": o.take(x, [1], axis=1), "argmax": o.argmax(x, axis=1), "unstack": o.unstack(x, axis=1)[0],
            "logsumexp": o.logsumexp(x, axis=1)}
    keras.Model([x, ids], outs[op]).save(tmp_path / "op.h5")
    edit_layer_config(tmp_path / "op.h5", op, key, value)
    with pytest.raises((UsageError, InputError)) as err:
        tfjsconv.convert(tmp_path / "op.h5", tmp_path / "out", output_format="tfjs_graph_model")
    assert re.search(rf"does not cover 1 layer: '{op}\w*' \(", str(err.value)), err.value
