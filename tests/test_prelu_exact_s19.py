"""PReLU with a NaN/±Inf slope computes what the source framework computes on every backend (session 19).

TF.js's ``Prelu`` kernels disagree for a slope holding NaN or ±Inf: cpu computes ``x < 0 ? a·x : x`` (so ``x >= 0``
gives ``x``, as onnxruntime's PRelu), wasm ``relu(x) + a·min(x, 0)`` (so ``x >= 0`` gives ``a·0 = NaN``, as Keras's
PReLU ``relu(x) - a·relu(-x)``). Measured over every pair of x in {±Inf, ±FLT_MAX, ±2, ±0, NaN, -NaN} and slopes in
{NaN, ±Inf, 0, ±0.5, 2, ±FLT_MAX, 1e-30}: those are the only differences besides TF's flushed denormals
(/work/notes/probe19/h3/prelu_grid.py). So:

- the ``prelu`` pass fuses a Keras/TF PReLU into ``Prelu`` only for a finite slope, and writes a non-finite one as
  ``SelectV2(x < 0, a·x, x + a·0)`` (Keras's formula with ``a·0`` folded: NaN where the slope is not finite);
- the ONNX ``PRelu`` mapping keeps ``Prelu`` only for a float32 X with a constant, finite slope, and writes every
  other one (a NaN/±Inf or computed slope, integer X) as ``SelectV2(x < 0, x·a, x)``, onnxruntime's formula.

Expected values: Keras 3 ``model(x)`` (the lowering and ``--loader=tensorflow``) and onnxruntime; TF.js runs for
real on cpu and wasm. Inputs hold no denormals (TF flushes them to 0, TF.js keeps them: not PReLU's doing).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfjsconv

F_MAX = float(np.finfo(np.float32).max)
NEG_NAN = -np.float32(np.nan)
#: Each row meets every slope: below, at and above 0, the infinities, FLT_MAX and NaN of both signs.
X_VALUES = np.float32([-np.inf, -F_MAX, -2, -0.0, 0.0, 2, F_MAX, np.inf, np.nan, NEG_NAN, -0.5, 3])
#: Slopes: NaN, ±Inf, huge and ordinary ones (a product with FLT_MAX overflows to ±Inf in both frameworks).
SLOPES = np.float32([np.nan, np.inf, -np.inf, F_MAX, -3e38, 0.25, 1e30, 0, -0.5, 2, NEG_NAN, 1.5])
FINITE_SLOPES = np.float32([0.25, -0.5, 2, 0, 1, 0.1, 3, -2, 1e30, F_MAX, 0.5, -1])
X = np.repeat(X_VALUES[:, None], len(SLOPES), 1)  # (12, 12): row i is X_VALUES[i] against every slope
X_SEQ = X.reshape(12, 3, 4)  # the same values as 3 steps of 4 features, for a slope shared over the features
X_VOL = X.reshape(12, 1, 1, 2, 6)  # rank 5 (a Conv3D's output): the select runs flattened (webgl's stops at rank 4)
FEEDS = {"x": X, "seq": X_SEQ, "vol": X_VOL}


def _ops(out: Path) -> set[str]:
    return {n["op"] for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]}


def _verify(out: Path, feeds: dict[str, np.ndarray], expected: list[np.ndarray]) -> None:
    """Every output, on cpu and wasm, is the source's: NaN where it has NaN, the same infinities, the same numbers."""
    from tfjsconv.verify.compare import format_report, verify_model

    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    report = verify_model(out, feeds, dict(zip(names, expected, strict=True)), backends=("cpu", "wasm"), rtol=1e-6,
                          quiet=True)
    assert report.passed, format_report(report)


# -- Keras ------------------------------------------------------------------------------------------------------------

def _keras_model(path: Path, slope: np.ndarray) -> list[np.ndarray]:
    """Keras 3: PReLU of the input (a plain ``Prelu`` when fused), of a Dense (``_FusedMatMul`` when fused), and of a
    rank-3 input with the slope shared over its steps (``shared_axes=[1]``: slope (1, 4)) and over its features
    (``shared_axes=[2]``: slope (3, 1), which TF.js's wasm ``Prelu`` cannot read), and of a rank-5 input; its outputs
    for ``FEEDS``."""
    keras = pytest.importorskip("keras")
    flat, seq, vol = keras.Input((12,), name="x"), keras.Input((3, 4), name="seq"), keras.Input((1, 1, 2, 6), name="vol")
    dense = keras.layers.Dense(12)
    plain, fused, volume = keras.layers.PReLU(), keras.layers.PReLU(), keras.layers.PReLU()
    steps, features = keras.layers.PReLU(shared_axes=[1]), keras.layers.PReLU(shared_axes=[2])
    model = keras.Model([flat, seq, vol], [plain(flat), fused(dense(flat)), steps(seq), features(seq), volume(vol)])
    dense.set_weights([np.eye(12, dtype=np.float32) * 2, np.full(12, 0.5, np.float32)])
    plain.set_weights([slope]), fused.set_weights([slope]), volume.set_weights([slope.reshape(1, 1, 2, 6)])
    steps.set_weights([slope[:4].reshape(1, 4)]), features.set_weights([slope[[0, 1, 5]].reshape(3, 1)])
    expected = [np.asarray(o) for o in model([X, X_SEQ, X_VOL])]
    model.save(path)
    return expected


@pytest.fixture(scope="module")
def keras_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keras_prelu")
    return {name: (folder / f"{name}.keras", _keras_model(folder / f"{name}.keras", slope))
            for name, slope in (("nonfinite", SLOPES), ("finite", FINITE_SLOPES))}


@pytest.mark.node
@pytest.mark.parametrize("loader", ["auto", "tensorflow"])
def test_keras_prelu_with_a_nonfinite_slope_matches_keras(keras_models, tmp_path, tfjs_runtime, loader):
    """The lowering's ``relu(x) + a·min(x, 0)`` and the traced ``relu(x) - a·relu(-x)`` with NaN/±Inf in the slope
    give Keras's NaN for ``x >= 0`` on cpu too (cpu's ``Prelu`` gave ``x``), and nothing is named for it."""
    path, expected = keras_models["nonfinite"]
    assert np.isnan(expected[0][4, :3]).all() and expected[0][7, 5] == np.inf  # x = 0: a·0; x = Inf, a = 0.25: Inf
    result = tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model",
                              target_backends=["cpu", "wasm"], loader=loader)
    _verify(tmp_path / "out", FEEDS, expected)
    assert "Prelu" not in _ops(tmp_path / "out") and "SelectV2" in _ops(tmp_path / "out")
    assert not any("Prelu" in n for n in result.notices), result.notices
    tfjsconv.convert(path, tmp_path / "default", output_format="tfjs_graph_model", loader=loader)  # webgl too


@pytest.mark.node
def test_keras_prelu_with_a_finite_slope_stays_one_fused_kernel(keras_models, tmp_path, tfjs_runtime):
    """A finite slope (FLT_MAX and 1e30 too) still fuses into ``Prelu`` and the Dense's ``_FusedMatMul``: those
    kernels give Keras's results for every x there, ±Inf and NaN included."""
    path, expected = keras_models["finite"]
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model", target_backends=["cpu", "wasm"])
    assert {"Prelu", "_FusedMatMul"} <= _ops(tmp_path / "out") and "SelectV2" not in _ops(tmp_path / "out")
    _verify(tmp_path / "out", FEEDS, expected)


# -- ONNX -------------------------------------------------------------------------------------------------------------

#: X as a rank-5 tensor (the select then runs over the flattened tensors: webgl's select stops at rank 4).
X5 = X.reshape(2, 3, 2, 1, 12)


def _onnx_prelu(path: Path, slope: np.ndarray | None, x: np.ndarray = X) -> Path:
    """``PRelu(x, s)``, ``s`` a constant (``slope``) or, when None, a graph input of X's row shape."""
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper
    from onnx_models import onnx_model

    inputs = {"x": (TensorProto.FLOAT, list(x.shape))}
    if slope is None:
        inputs["s"] = (TensorProto.FLOAT, [x.shape[-1]])
    return onnx_model(path, [helper.make_node("PRelu", ["x", "s"], ["y"])], inputs, ["y"],
                      initializers={} if slope is None else {"s": slope})


@pytest.mark.node
@pytest.mark.parametrize("slope", ["constant", "input", "rank5"])
def test_onnx_prelu_with_a_nonfinite_slope_matches_onnxruntime(tmp_path, tfjs_runtime, slope):
    """onnxruntime gives ``x`` for ``x >= 0`` whatever the slope (wasm's ``Prelu`` gave NaN for a NaN/±Inf one), a
    constant slope or one fed at run time (which no conversion-time check can see), of rank 2 or 5."""
    from onnx_models import matches_onnxruntime

    x = X5 if slope == "rank5" else X
    path = _onnx_prelu(tmp_path / "prelu.onnx", None if slope == "input" else SLOPES, x)
    feeds = {"x": X, "s": SLOPES} if slope == "input" else {"x": x}
    expected = matches_onnxruntime(path, feeds, tmp_path / "out", target_backends=["cpu", "wasm"])
    rows = expected["y"].reshape(X.shape)
    assert rows[4, 0] == 0 and rows[5, 1] == 2  # x = 0, slope NaN: 0; x = 2, slope Inf: 2
    assert "Prelu" not in _ops(tmp_path / "out")


@pytest.mark.node
def test_onnx_prelu_with_a_finite_constant_slope_stays_prelu(tmp_path, tfjs_runtime):
    from onnx_models import matches_onnxruntime

    path = _onnx_prelu(tmp_path / "prelu.onnx", FINITE_SLOPES)
    matches_onnxruntime(path, {"x": X}, tmp_path / "out", target_backends=["cpu", "wasm"])
    assert "Prelu" in _ops(tmp_path / "out") and "SelectV2" not in _ops(tmp_path / "out")


@pytest.mark.node
def test_onnx_integer_prelu_keeps_its_dtype_and_wraps(tmp_path, tfjs_runtime):
    """opset 16's int32 PRelu: TF.js's ``Prelu`` answers float32 (and unwrapped products); the select keeps int32 and
    wraps ``-100000 · 70000`` as onnxruntime does."""
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper
    from onnx_models import matches_onnxruntime, onnx_model

    x = np.int32([[-5, -1, 0, 3, 7, -100000]])
    slope = np.int32([2, -3, 4, 5, 6, 70000])

    path = onnx_model(tmp_path / "int.onnx", [helper.make_node("PRelu", ["x", "s"], ["y"])],
                      {"x": (TensorProto.INT32, [1, 6])}, ["y"], opset=16, initializers={"s": slope})
    expected = matches_onnxruntime(path, {"x": x}, tmp_path / "out", target_backends=["cpu", "wasm"])
    assert expected["y"].dtype == np.int32 and expected["y"][0, 5] == np.int64(-100000 * 70000).astype(np.int32)
