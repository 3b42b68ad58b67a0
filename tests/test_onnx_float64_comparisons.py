"""ONNX double comparisons with constants float32 cannot hold give onnxruntime's answers (session 27, h6).

The ONNX frontend holds doubles as float32: a double constant was rounded to nearest and a double input is fed float32
values, so ``Greater(w, 0.1)`` compared float32's 0.1 with a fed ``0.1`` (``0.100000001490116``) that onnxruntime
finds greater: 0/1 off, silently. The comparison mappings now compare on float32 bounds
(``plugins/onnx/ops/double_comparisons.py``, the core pass's ``float32_bound``) when the other operand holds float32
values exactly (a double input, data movement and exact maps of it, a Cast up from float). Expected values are
onnxruntime's (float64 feeds of the float32 values TF.js gets); the models run in real TF.js on cpu and wasm.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto as TP  # noqa: E402
from onnx import helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import BACKENDS, onnx_model, onnxruntime_outputs  # noqa: E402
from tfjsconv.verify.run import run_model  # noqa: E402

pytestmark = pytest.mark.node

BIG = 2.0**30 + 1  # float32 holds neither it nor 0.1, 0.2
HUGE, TINY = 1e39, -1e-50  # past float32's range, below its smallest subnormal
CONSTANTS = (0.1, 0.2, BIG, HUGE, TINY)


def _neighbours(c: float) -> list[float]:
    """float32's rounding of ``c`` and the float32 values on either side of it."""
    with np.errstate(over="ignore"):
        nearest = np.float32(c)
    return [float(v) for v in (np.nextafter(nearest, np.float32(-np.inf)), nearest,
                               np.nextafter(nearest, np.float32(np.inf)))]


#: Fed values (float32, as TF.js gets them): each constant's float32 neighbourhood, signed zeros, ±inf, NaN.
W = np.array(sorted({v for c in CONSTANTS for v in _neighbours(c)} | {0.0, 2.0**30, 3.0}) + [-0.0, np.nan, -np.inf],
             np.float32)
VECTOR = np.array([0.1, 0.2, BIG, HUGE, TINY, 0.5], np.float64)  # 0.5: held, compared as before


def _const(name: str, value) -> object:
    return helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(np.asarray(value, np.float64)))


def _comparison_nodes() -> tuple[list, list[str]]:
    """Every comparison op with each constant on both sides, a Not of Equal, and a vector constant."""
    nodes, outputs = [], []
    ops = ("Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal")
    for k, c in enumerate(CONSTANTS):
        nodes.append(_const(f"c{k}", c))
        for op in ops:
            nodes.append(helper.make_node(op, ["w", f"c{k}"], [f"{op}_w_c{k}"]))
            nodes.append(helper.make_node(op, [f"c{k}", "w"], [f"{op}_c{k}_w"]))
            outputs += [f"{op}_w_c{k}", f"{op}_c{k}_w"]
        nodes.append(helper.make_node("Not", [f"Equal_w_c{k}"], [f"NotEqual_w_c{k}"]))
        outputs.append(f"NotEqual_w_c{k}")
    return nodes, outputs


def _vector_nodes() -> tuple[list, list[str]]:
    """Rows of ``w`` against a vector constant per column, on both sides."""
    nodes = [helper.make_node("Reshape", ["w", "rows_shape"], ["rows"]), _const("vector", VECTOR)]
    outputs = []
    for op in ("Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal"):
        nodes += [helper.make_node(op, ["rows", "vector"], [f"{op}_rows_vector"]),
                  helper.make_node(op, ["vector", "rows"], [f"{op}_vector_rows"])]
        outputs += [f"{op}_rows_vector", f"{op}_vector_rows"]
    return nodes, outputs


def _moved_nodes() -> tuple[list, list[str]]:
    """Operands reached from ``w`` through data movement, exact maps and a Cast up from float32."""
    chains = {
        "relu": [helper.make_node("Relu", ["w"], ["relu"])],
        "neg_abs": [helper.make_node("Neg", ["w"], ["neg"]), helper.make_node("Abs", ["neg"], ["neg_abs"])],
        "floor": [helper.make_node("Floor", ["w"], ["floor"])],
        "ceil": [helper.make_node("Ceil", ["w"], ["ceil"])],
        "identity": [helper.make_node("Identity", ["w"], ["identity"])],
        "moved": [helper.make_node("Unsqueeze", ["w", "axis0"], ["unsqueezed"]),
                  helper.make_node("Transpose", ["unsqueezed"], ["transposed"], perm=[1, 0]),
                  helper.make_node("Squeeze", ["transposed", "axis1"], ["squeezed"]),
                  helper.make_node("Slice", ["squeezed", "start", "end"], ["sliced"]),
                  helper.make_node("Gather", ["w", "picks"], ["gathered"]),
                  helper.make_node("Concat", ["sliced", "gathered"], ["moved"], axis=0)],
        "cast": [helper.make_node("Cast", ["f"], ["cast"], to=TP.DOUBLE)],
    }
    nodes = [n for chain in chains.values() for n in chain]
    outputs = []
    for k, name in enumerate(chains):
        c = f"c{k % len(CONSTANTS)}"
        nodes += [helper.make_node("Greater", [name, c], [f"Greater_{name}"]),
                  helper.make_node("Equal", [c, name], [f"Equal_{name}"])]
        outputs += [f"Greater_{name}", f"Equal_{name}"]
    return nodes, outputs


def _double_model(path: Path) -> tuple[Path, list[str]]:
    parts = [_comparison_nodes(), _vector_nodes(), _moved_nodes()]
    nodes = [n for part_nodes, _ in parts for n in part_nodes]
    outputs = [o for _, part_outputs in parts for o in part_outputs]
    inits = {"rows_shape": np.array([-1, 6], np.int64)} if W.size % 6 == 0 else None
    assert inits is not None, W.size
    inits.update({"axis0": np.array([0], np.int64), "axis1": np.array([1], np.int64), "start": np.array([2], np.int64),
                  "end": np.array([W.size], np.int64), "picks": np.array([0, 1], np.int64)})
    inputs = {"w": (TP.DOUBLE, [W.size]), "f": (TP.FLOAT, [W.size])}
    return onnx_model(path, nodes, inputs, outputs, opset=17, initializers=inits), outputs


def _disagreements(out: Path, feeds32: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                   to_tfjs=lambda a: a) -> list[str]:
    """Outputs TF.js (cpu, wasm) computes otherwise than onnxruntime, element for element."""
    result = run_model(out, feeds32, backends=BACKENDS, quiet=True)
    wrong = []
    for backend in BACKENDS:
        outputs = result.outputs(backend)
        for name, want in expected.items():
            want, got = to_tfjs(want), np.asarray(outputs[name])
            if got.shape != want.shape or not np.array_equal(got.astype(bool), want):
                wrong.append(f"{backend} {name}: {got.ravel().tolist()} != onnxruntime's {want.ravel().tolist()}")
    return wrong


def test_double_comparisons_match_onnxruntime(tmp_path, tfjs_runtime):
    """Each op, constant on either side, Not(Equal), vector constants, moved operands, a Cast from float32."""
    path, outputs = _double_model(tmp_path / "double.onnx")
    expected = onnxruntime_outputs(path, {"w": W.astype(np.float64), "f": W})
    assert any(v.any() != v.all() for v in expected.values())  # the inputs split the comparisons
    tfjsconv.convert(path, tmp_path / "out")
    assert _disagreements(tmp_path / "out", {"w": W, "f": W}, expected) == []


def test_channels_last_double_comparisons_match_onnxruntime(tmp_path, tfjs_runtime):
    """A 4-D double input held NHWC (``input_layout="nhwc"``) against a per-channel constant, on both sides."""
    channels = np.array([0.1, 0.2, BIG, TINY], np.float64).reshape(4, 1, 1)
    nodes = [_const("per_channel", channels)]
    outputs = []
    for op in ("Greater", "LessOrEqual", "Equal"):
        nodes += [helper.make_node(op, ["x", "per_channel"], [f"{op}_x_c"]),
                  helper.make_node(op, ["per_channel", "x"], [f"{op}_c_x"])]
        outputs += [f"{op}_x_c", f"{op}_c_x"]
    path = onnx_model(tmp_path / "nchw.onnx", nodes, {"x": (TP.DOUBLE, [1, 4, 3, 4])}, outputs, opset=17)
    x = np.stack([np.resize(_neighbours(c) + [0.0, np.nan, np.inf], (3, 4)) for c in channels.ravel()])[None]
    x = x.astype(np.float32)
    expected = onnxruntime_outputs(path, {"x": x.astype(np.float64)})
    tfjsconv.convert(path, tmp_path / "out", input_layout="nhwc")
    nhwc = {"x": x.transpose(0, 2, 3, 1)}
    assert _disagreements(tmp_path / "out", nhwc, expected, lambda a: a.transpose(0, 2, 3, 1)) == []
