"""ONNX PRelu with every slope shape ONNX allows (unidirectional broadcast to X), checked in real TF.js.

TF.js's wasm ``Prelu`` reads ``alpha[i % alpha.size]`` without broadcasting, so a slope that is neither one
value nor X's trailing axes (as laid out after the NHWC transform) paired slopes with the wrong elements there
while cpu was right. Every case is converted, run on cpu and wasm under Node and compared with onnxruntime.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import tfjsconv  # noqa: E402
from onnx_models import matches_onnxruntime, onnx_model  # noqa: E402

F = TensorProto.FLOAT
BACKENDS = ("cpu", "wasm")

#: (x input, slope shape, tiles X's trailing axes as TF.js lays X out) for constant slopes.
CONSTANT_SLOPES = {
    "nchw_c11": ("x4", (3, 1, 1), False),  # the common case, on an input kept in ONNX's layout
    "nchw_scalar": ("x4", (1,), True),
    "nchw_w": ("x4", (5,), True),
    "nchw_h1": ("x4", (4, 1), False),
    "nchw_c1w": ("x4", (1, 3, 1, 5), False),
    "nchw_chw": ("x4", (3, 4, 5), True),
    "nchw_same": ("x4", (2, 3, 4, 5), True),
    "conv_c11": ("conv", (4, 1, 1), True),  # NHWC inside: [1, 1, 1, C]
    "conv_h1": ("conv", (4, 1), False),  # NHWC: [1, H, 1, 1]
    "conv_c1w": ("conv", (4, 1, 5), True),  # NHWC: [1, 1, W, C]
    "rank2_col": ("x2", (4, 1), False),
    "rank2_row": ("x2", (6,), True),
    "rank3_c1": ("x3", (3, 1), False),
    "rank5_c111": ("x5", (3, 1, 1, 1), False),
    "rank5_dw": ("x5", (2, 1, 4), False),
    "batch_c11": ("xn", (3, 1, 1), False),  # dynamic batch: trailing axes still known
    "height_c11": ("xh", (3, 1, 1), False),  # dynamic height: broadcast to X's tail read at run time
}
SHAPES = {"x4": [2, 3, 4, 5], "x2": [4, 6], "x3": [2, 3, 5], "x5": [2, 3, 2, 3, 4], "xn": ["n", 3, 4, 5],
          "xh": [2, 3, "h", 5], "xc": [2, 3, 4, 5]}
FEED_SHAPES = {"x4": (2, 3, 4, 5), "x2": (4, 6), "x3": (2, 3, 5), "x5": (2, 3, 2, 3, 4), "xn": (3, 3, 4, 5),
               "xh": (2, 3, 6, 5), "xc": (2, 3, 4, 5)}


def _slope(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Distinct slopes, some negative, so a slope paired with the wrong element shows."""
    return rng.uniform(-2.0, 2.0, shape).astype(np.float32)


def _feeds(rng: np.random.Generator, names) -> dict[str, np.ndarray]:
    return {n: rng.standard_normal(FEED_SHAPES[n]).astype(np.float32) for n in names}


def _ops(out: Path) -> list[dict]:
    return json.loads((out / "model.json").read_text())["modelTopology"]["node"]


@pytest.fixture(scope="module")
def constant_case(tmp_path_factory) -> tuple[Path, dict]:
    rng = np.random.default_rng(11)
    tmp = tmp_path_factory.mktemp("prelu_const")
    inits = {}
    nodes = []
    for name, (x, shape, _) in CONSTANT_SLOPES.items():
        inits[f"s_{name}"] = _slope(rng, shape)
        if x == "conv":  # a Conv (with a bias) each, so a tiling slope is free to fuse into it
            inits[f"w_{name}"] = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
            inits[f"b_{name}"] = rng.standard_normal(4).astype(np.float32)
            nodes.append(helper.make_node("Conv", ["xc", f"w_{name}", f"b_{name}"], [f"{name}_x"], pads=[1, 1, 1, 1]))
            x = f"{name}_x"
        nodes.append(helper.make_node("PRelu", [x, f"s_{name}"], [name], name=name))
    inputs = {n: (F, SHAPES[n]) for n in {x for x, _, _ in CONSTANT_SLOPES.values()} - {"conv"} | {"xc"}}
    path = onnx_model(tmp / "prelu_const.onnx", nodes, inputs, list(CONSTANT_SLOPES), initializers=inits)
    return path, _feeds(rng, inputs)


@pytest.mark.node
def test_constant_slopes_of_every_shape_match_onnxruntime(constant_case, tmp_path, tfjs_runtime):
    path, feeds = constant_case
    matches_onnxruntime(path, feeds, tmp_path / "out", backends=BACKENDS)


def test_constant_slopes_become_weights_tiling_x(constant_case, tmp_path):
    """Only the slopes that do not tile X are broadcast, the small ones folded into weights (no run-time
    BroadcastTo left but the run-time-shaped one), and the slope after a Conv that already tiles NHWC is still fused into the convolution."""
    path, _ = constant_case
    tfjsconv.convert(path, tmp_path / "out")
    nodes = _ops(tmp_path / "out")
    slopes = {n["name"]: n["input"][1] for n in nodes if n["op"] == "Prelu"}
    broadcast = {name: slopes[name].endswith("slope_broadcast") for name in CONSTANT_SLOPES if name in slopes}
    assert broadcast == {name: not tiles for name, (_, _, tiles) in CONSTANT_SLOPES.items() if name != "conv_c11"}
    broadcasts = [n for n in nodes if n["op"] == "BroadcastTo"]
    assert len(broadcasts) == 1 and broadcasts[0]["name"].startswith("height_c11"), broadcasts
    fused = {n["name"]: [base64.b64decode(op).decode() for op in n["attr"]["fused_ops"]["list"]["s"]]
             for n in nodes if n["op"] == "_FusedConv2D"}
    assert fused.get("conv_c11") == ["BiasAdd", "Prelu"], fused


@pytest.fixture(scope="module")
def computed_case(tmp_path_factory) -> tuple[Path, dict]:
    """Slopes that are graph inputs (shapes known, partly unknown, or of unknown size) and computed ones."""
    rng = np.random.default_rng(12)
    tmp = tmp_path_factory.mktemp("prelu_computed")
    cases = {"in_c11": ("x4", "s_c11", [3, 1, 1]), "in_h1": ("x4", "s_h1", [4, 1]), "in_w": ("x4", "s_w", [5]),
             "in_scalar": ("x4", "s_one", [1]), "in_unknown": ("x4", "s_any", ["c", 1, 1]),
             "in_rank5": ("x5", "s_r5", [3, 1, 1, 1]), "in_rank3": ("x3", "s_r3", [3, 1])}
    nodes = [helper.make_node("PRelu", [x, s], [name]) for name, (x, s, _) in cases.items()]
    nodes += [helper.make_node("Conv", ["xc", "w"], ["conv"], pads=[1, 1, 1, 1]),  # NHWC x, computed [C,1,1]
              helper.make_node("Abs", ["s_c4"], ["s_c4_abs"]),
              helper.make_node("PRelu", ["conv", "s_c4_abs"], ["conv_computed"])]
    inputs = {n: (F, SHAPES[n]) for n in ("x4", "x5", "x3", "xc")}
    inputs.update({s: (F, shape) for _, s, shape in cases.values()})
    inputs["s_c4"] = (F, [4, 1, 1])
    path = onnx_model(tmp / "prelu_computed.onnx", nodes, inputs, [*cases, "conv_computed"],
                      initializers={"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32)})
    feeds = _feeds(rng, ("x4", "x5", "x3", "xc"))
    feeds.update({s: _slope(rng, tuple(3 if d == "c" else d for d in shape)) for _, s, shape in cases.values()})
    feeds["s_c4"] = _slope(rng, (4, 1, 1))
    return path, feeds


@pytest.mark.node
def test_computed_slopes_match_onnxruntime(computed_case, tmp_path, tfjs_runtime):
    path, feeds = computed_case
    matches_onnxruntime(path, feeds, tmp_path / "out", backends=BACKENDS)


@pytest.mark.node
def test_special_values_keep_prelu_semantics(tmp_path, tfjs_runtime):
    """NaN stays NaN, infinities and signed zeros follow ``x > 0 ? x : slope * x`` through the broadcast slope."""
    x = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5], [-1.0, 2.0, np.nan, -3.0, 0.0, -np.inf]], np.float32)
    slope = np.array([[0.5], [-2.0]], np.float32)
    path = onnx_model(tmp_path / "special.onnx", [helper.make_node("PRelu", ["x", "s"], ["y"])],
                      {"x": (F, [2, 6])}, ["y"], initializers={"s": slope})
    matches_onnxruntime(path, {"x": x}, tmp_path / "out", backends=BACKENDS)


def test_a_slope_that_does_not_broadcast_to_x_is_refused(tmp_path):
    """ONNX broadcasts the slope to X one way only: anything else is an error, not a guessed result."""
    from tfjsconv.errors import InputError

    for k, shape in enumerate([(3,), (1, 2, 4)]):
        path = onnx_model(tmp_path / f"bad{k}.onnx", [helper.make_node("PRelu", ["x", "s"], ["y"])],
                          {"x": (F, [2, 4])}, ["y"], initializers={"s": np.ones(shape, np.float32)})
        with pytest.raises(InputError, match="slope"):
            tfjsconv.convert(path, tmp_path / f"out{k}")


@pytest.mark.node
def test_broadcast_slopes_on_webgl(constant_case, computed_case, browser, tmp_path):
    """The same models on TF.js's webgl backend (rank-5 cases included: BroadcastTo has no rank limit there)."""
    for k, (path, feeds) in enumerate((constant_case, computed_case)):
        matches_onnxruntime(path, feeds, tmp_path / f"out{k}", backends=("webgl",), browser_session=browser)
