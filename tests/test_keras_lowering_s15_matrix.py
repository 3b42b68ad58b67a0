"""Matrix-shaped op layers lowered with h5py (issue 16, session 15): Keras 3's roll (along axes and flattened, batch
included), trace, diagonal, diag, diagflat, kron, isin, signbit (integers and bools), cross, logspace and corrcoef;
tf_keras's tf.roll, linalg.band_part, diag_part, diag, tensor_diag, tensor_diag_part, trace, set_diag and cross. The traced path
(``--loader=tensorflow``) cannot convert most of them (TF.js has no Roll, MatrixDiagPartV3, MatrixDiagV3,
MatrixSetDiagV3 or Cross kernel, its MatrixBandPart is wrong; Kron, IsIn and Corrcoef do not trace at all).

As in ``test_keras_lowering_op_layers_more.py``: small functional models combining the ops as outputs, saved by
Keras 3 (``.keras``) and tf_keras (``.h5``), converted in a process where TensorFlow, Keras and tf_keras cannot be
imported, run in real TF.js (cpu and wasm) and compared with Keras's own ``model(x)``: integers and bools exactly.
The inputs hold NaN, ±Inf, -0.0 and ±3e38 (moved, masked to 0, summed, crossed), int32 extremes (traces and cross
products wrap as TF's int32 Sum and Mul), bools (moved as int32). An input of sizes unknown in the config (``(None,
None)``) is run at two sizes through one converted model: rolls, diagonals, traces and band masks read them at run
time. What stays refused is named.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402

NAN, INF = np.nan, np.inf
SPECIAL = [NAN, -INF, INF, -0.0, 0.0, 3e38, -3e38, -1.5]
INT_EDGES = [2**31 - 1, -2**31, 2**30 + 1, -(2**30) - 1, 16777217, -16777219, 0, -3, 7, 1, -1, 2**31 - 2]


def _tf():
    pytest.importorskip("tf_keras")
    return pytest.importorskip("tensorflow")


def keras3_matrix_model():
    """The new ``keras.ops`` on Keras 3 symbolic tensors (each saved as an operation)."""
    o = keras.ops
    x, v, u = keras.Input((3, 4), name="x"), keras.Input((4,), name="v"), keras.Input((None, None), name="u")
    i, j, b = keras.Input((3, 4), name="i", dtype="int32"), keras.Input((4,), name="j", dtype="int32"), \
        keras.Input((3, 3), name="b", dtype="bool")
    floats = [
        o.roll(x, 2, axis=2), o.roll(x, (1, -5), axis=(1, 2)), o.roll(x, 3), o.roll(x, -1, axis=0),
        o.roll(u, 1, axis=-1), o.roll(u, -7),
        o.trace(x), o.trace(x, offset=1, axis1=1, axis2=2), o.trace(x, -1, 2, 1), o.trace(u, 0, 1, 2),
        o.trace(u, axis1=-1, axis2=1),
        o.diagonal(x, 1, 1, 2), o.diagonal(x), o.diagonal(x, -2, 2, 1), o.diagonal(u, 0, 1, 2), o.diagonal(u, -1, 1, 2),
        o.diag(v[0], k=1), o.diag(x[0], k=-1), o.diag(x[0]), o.diag(v[:, 0]), o.diag(v[:, 2], k=-2), o.diagflat(x[0, :2]), o.diagflat(v[1], k=-2),
        o.kron(v, v), o.kron(x[0], v[0]), o.kron(v, x[0]), o.kron(v[0], v),
        o.cross(x[..., :3], x[..., 1:]), o.cross(x[..., :2], x[..., 1:4], axisc=1), o.cross(x[..., :2], x[..., 2:]),
        o.cross(x[:, :2, :], x[:, 1:, :], axisa=1, axisb=1), o.cross(x[..., :3], v[:, None, 1:]),
        o.logspace(v[:, 0], v[:, 1], 4, axis=-1), o.logspace(v, 2.0, 3, endpoint=False, base=2),
        o.corrcoef(v), o.corrcoef(x[0]), o.corrcoef(o.concatenate([v, v * 2.0], axis=0)),
    ]
    corrcoef_of_extremes = len(floats) - 2
    integers = [o.roll(i, 2, axis=2), o.roll(i, 5), o.trace(i, axis1=1, axis2=2), o.trace(b, axis1=1, axis2=2),
                o.diagonal(i, 1, 1, 2), o.diag(j[0]), o.kron(j, j), o.cross(i[..., :3], i[..., 1:]),
                o.cross(i[..., :2], i[..., 1:])]
    bools = [o.isin(i, j), o.isin(i, j, invert=True), o.isin(x, v), o.isin(i, [7, -3]), o.signbit(i), o.signbit(b), o.roll(b, 1, axis=1),
             o.diagonal(b, 0, 1, 2), o.diag(b[0][1])]
    isin_of_int_extremes = len(floats) + len(integers)
    WEBGL_SKIPPED["keras3_matrix"] = {corrcoef_of_extremes, isin_of_int_extremes, isin_of_int_extremes + 1}
    return keras.Model([x, v, u, i, j, b], floats + integers + bools)


def tf_matrix_model():
    """The new TF functions on tf_keras tensors (each a TFOpLambda)."""
    tf = _tf()
    import tf_keras as k

    x, v, u = k.Input((3, 4), name="x"), k.Input((4,), name="v"), k.Input((None, None), name="u")
    i, b = k.Input((3, 3), name="q", dtype="int32"), k.Input((3, 3), name="b", dtype="bool")
    floats = [
        tf.roll(x, 1, axis=2), tf.roll(x, [1, -2, 1], axis=[1, 2, 1]), tf.roll(x, 1, axis=0), tf.roll(u, 2, axis=2),
        tf.linalg.band_part(x, 1, -1), tf.linalg.band_part(x, 0, 0), tf.linalg.band_part(x, -1, 2),
        tf.linalg.band_part(u, 1, 0), tf.linalg.band_part(u, -1, -1), tf.compat.v1.matrix_band_part(x, 3, 4),
        tf.linalg.diag_part(x), tf.linalg.diag_part(x, k=1), tf.linalg.diag_part(x, k=-2), tf.linalg.diag_part(u),
        tf.linalg.diag(v), tf.linalg.diag(v, k=-1), tf.linalg.diag(u, k=1), tf.linalg.tensor_diag(v[0]), tf.linalg.trace(x),
        tf.linalg.trace(u), tf.linalg.set_diag(x, x[:, :, 0]), tf.linalg.set_diag(x, x[:, 0, :3] * 2.0, k=1),
        tf.linalg.set_diag(u, tf.linalg.diag_part(u) + 1.0), tf.linalg.diag(v[:, 1:], padding_value=-2.5, k=-1),
        tf.linalg.diag_part(x, padding_value=9.0),
        tf.linalg.cross(x[..., :3], x[..., 1:]), tf.linalg.tensor_diag_part(x[0, :, 1:]),
    ]
    integers = [tf.roll(i, 1, axis=1), tf.linalg.trace(i), tf.linalg.diag_part(i), tf.linalg.band_part(i, 0, 1),
                tf.linalg.cross(i, tf.reverse(i, [1])), tf.linalg.set_diag(i, i[:, 0] * 0), tf.linalg.diag(i[:, 1]),
                tf.linalg.tensor_diag_part(i[1])]
    bools = [tf.roll(b, -1, axis=2), tf.linalg.band_part(b, 1, 0), tf.linalg.diag_part(b),
             tf.linalg.set_diag(b, b[:, 0]), tf.linalg.diag(b[:, 2])]
    return k.Model([x, v, u, i, b], floats + integers + bools)


# Output positions webgl is not asked to match (by position: Keras names ops from a per-process counter, so the
# names depend on which tests ran before in the same worker).
WEBGL_SKIPPED: dict[str, set[int]] = {}
MODELS = {"keras3_matrix": (keras3_matrix_model, ".keras"), "tf_matrix": (tf_matrix_model, ".h5")}


def _inputs(seed: int, size: tuple[int, int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    x.reshape(-1)[:len(SPECIAL)] = SPECIAL
    x[1, 1, 1] = -0.0
    v = rng.standard_normal((2, 4)).astype("float32")
    i = np.asarray(INT_EDGES * 2, np.int32).reshape(2, 3, 4)
    i[1, 1, 1] = i[1, 2, 2] = 2**31 - 1  # a trace past int32: wraps
    square = np.asarray(INT_EDGES[:9] + INT_EDGES[3:], np.int32).reshape(2, 3, 3)
    square[0, 0, 0] = square[0, 1, 1] = 2**31 - 1
    j = i[:, 0, :].copy()
    j[0, 1] = i[0, 1, 1]  # present in x1 and x2 (isin)
    v[1, 2] = x[0, 2, 3]
    return {"x": x, "v": v, "u": rng.standard_normal((2, *size)).astype("float32"), "i": i, "q": square, "j": j,
            "b": rng.random((2, 3, 3)) > 0.5}


def _inputs_for(model, seed: int, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The model's inputs by name."""
    values = _inputs(seed, size)
    return {n: values[n] for n in (t.name.split(":")[0] for t in model.inputs)}


def _save(case: str, folder: Path):
    """The model saved with Keras's outputs for inputs of one size, and Keras's outputs for a second size."""
    build, suffix = MODELS[case]
    model = build()
    first, second = _inputs_for(model, 8, (3, 5)), _inputs_for(model, 9, (4, 2))
    outputs = model([*second.values()], training=False)
    later = (second, [np.asarray(o) for o in outputs])
    return (*save_with_outputs(model, first, folder / f"{case}{suffix}"), later)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("op_layers_matrix")
    saved = {case: _save(case, folder) for case in MODELS}
    convert_poisoned([entry[0] for entry in saved.values()])
    return saved


@pytest.mark.node
@pytest.mark.parametrize("case", list(MODELS))
def test_matrix_op_layers_lower_and_match_keras(converted, tfjs_runtime, case):
    path, inputs, outputs, (later_inputs, later_outputs) = converted[case]
    _verify(Path(f"{path}.out"), inputs, outputs)
    _verify(Path(f"{path}.out"), later_inputs, later_outputs)  # the same graph at other run-time sizes


@pytest.mark.node
@pytest.mark.parametrize("case", list(MODELS))
def test_matrix_op_layers_match_keras_on_webgl(converted, browser, case):
    """The same on webgl (headless Chromium): gathers, masks and bools moved as int32; all outputs but the int32
    ones holding values past 2^24 and ``isin`` of those int32 extremes, which webgl's float32 textures round (the
    contract's int32 line), and ``corrcoef`` of the row holding ±3e38 (webgl's MatMul overflows otherwise)."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs, _ = converted[case]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    skipped = WEBGL_SKIPPED.get(case, set())
    expected = {n: o for k, (n, o) in enumerate(zip(names, outputs, strict=True))
                if not (o.dtype.kind in "iu" and np.abs(o.astype(np.int64)).max(initial=0) >= 2**24)
                and k not in skipped}
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


def test_what_cannot_be_exact_stays_refused_by_name(tmp_path):
    """signbit of floats (the sign of NaN, which Keras reads with a bitcast, is not readable in TF.js), a trace
    offset on matrices where Keras's own ``eye`` fails, diagflat of a batch (its size unknown) stay gaps naming the
    operation; so do tf_keras's band wider than the matrix (TF raises), a band of diagonals, tensor_diag of a
    matrix and a roll by a tensor."""
    o = keras.ops
    x, y = keras.Input((3, 4), name="x"), keras.Input((3, 5), name="y")
    keras.Model([x, y], [o.signbit(x), o.trace(y, offset=1, axis1=1, axis2=2), o.diagflat(x)]).save(
        tmp_path / "k3.keras")
    message = _gaps(tmp_path / "k3.keras", tmp_path)
    for expected in (r"'signbit\w*' \(Signbit\): a float32 tensor \(the sign bit of NaN",
                     r"'trace\w*' \(Trace\): offset=1 of 3x5 matrices \(Keras's TF backend fails",
                     r"'diagflat\w*' \(Diagflat\): a tensor of shape \[None, 3, 4\]"):
        assert re.search(expected, message), (expected, message)

    tf = _tf()
    import tf_keras as k

    x, s = k.Input((3, 4), name="x"), k.Input((), name="s", dtype="int32")
    k.Model([x, s], [tf.linalg.band_part(x, 4, 0), tf.linalg.diag_part(x, k=(0, 1)), tf.linalg.tensor_diag(x[0]),
                     tf.roll(x, s[0], axis=1)]).save(tmp_path / "tf.h5")
    message = _gaps(tmp_path / "tf.h5", tmp_path)
    for expected in (r"'tf\.linalg\.band_part\w*' \(linalg\.band_part\): num_lower=4 for matrices of 3x4",
                     r"'tf\.linalg\.diag_part\w*' \(linalg\.diag_part\): k=\[0, 1\]",
                     r"'tf\.linalg\.tensor_diag\w*' \(linalg\.tensor_diag\): a rank-2 diagonal",
                     r"'tf\.roll\w*' \(roll\): argument 'shift' is a tensor"):
        assert re.search(expected, message), (expected, message)
