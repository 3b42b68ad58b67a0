"""Session 32 (h4): ONNX trust items, each run in real TF.js (cpu and wasm) and compared with onnxruntime.

An 8-bit integer MaxPool window that holds only padding (onnxruntime: the dtype's lowest value).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from onnx_models import matches_onnxruntime, onnx_model, onnxruntime_outputs  # noqa: E402

_INT_TYPES = {np.int8: TensorProto.INT8, np.uint8: TensorProto.UINT8}


def _all_padding_pools(tmp_path: Path, dtype: type, spatial: list) -> Path:
    """MaxPools where some window holds no real element (with 1 or 2 elements on an axis): a dilated tap past
    the end with ceil_mode, and a dilated kernel whose taps straddle two real elements; and a plain padded one (its
    pad value, float32's lowest, did not fit an int32 tensor: the cpu-only conversion failed)."""
    nodes = [helper.make_node("MaxPool", ["x"], ["ceil"], kernel_shape=[2], strides=[2], dilations=[3], pads=[1, 1],
                              ceil_mode=1),
             helper.make_node("MaxPool", ["x"], ["wide"], kernel_shape=[2], dilations=[3], pads=[1, 1]),
             helper.make_node("MaxPool", ["x2"], ["plane"], kernel_shape=[2, 2], strides=[2, 1], dilations=[3, 2],
                              pads=[1, 1, 1, 1], ceil_mode=1),
             helper.make_node("MaxPool", ["x2"], ["padded"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 2, 2])]
    inputs = {"x": (_INT_TYPES[dtype], ["n", 2, spatial[0]]), "x2": (_INT_TYPES[dtype], ["n", 1, *spatial])}
    if spatial == [1, 1]:
        inputs["x"] = (_INT_TYPES[dtype], ["n", 2, 2])
    return onnx_model(tmp_path / "pool.onnx", nodes, inputs, ["ceil", "wide", "plane", "padded"], opset=19)


@pytest.mark.node
@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
@pytest.mark.parametrize("spatial", [[1, 1], [4, 3], ["h", "w"]], ids=["one", "four", "unknown"])
@pytest.mark.parametrize("backends", [("cpu", "wasm"), ("cpu",)], ids=["wasm_target", "cpu_only"])
def test_int_maxpool_window_of_padding_gives_the_lowest_value(tmp_path, tfjs_runtime, dtype, spatial, backends):
    """onnxruntime pools 8-bit integers with the dtype's lowest value as padding (int8: -128, uint8: 0); pooled
    through float32 for wasm, float32's lowest wrapped to 0 in the Cast back."""
    path = _all_padding_pools(tmp_path, dtype, spatial)
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype)
    length, sizes = (4, [4, 3]) if spatial == [4, 3] else (2, [1, 1])
    feeds = {"x": rng.integers(info.min, info.max + 1, (2, 2, length)).astype(dtype),
             "x2": rng.integers(info.min, info.max + 1, (2, 1, *sizes)).astype(dtype)}
    expected = matches_onnxruntime(path, feeds, tmp_path / "out", target_backends=list(backends))
    if spatial != [4, 3]:
        assert all((expected[name] == info.min).any() for name in ("ceil", "wide", "plane"))


def _conv_bn_model(tmp_path: Path) -> Path:
    """Conv (with bias) -> BatchNormalization -> Relu -> Conv (no bias) -> BatchNormalization: both norms fold
    into their convs' filters."""
    rng = np.random.default_rng(4)
    inits = {"w1": rng.standard_normal((4, 3, 3, 3)), "b1": rng.standard_normal(4), "w2": rng.standard_normal((5, 4, 3, 3)),
             **{f"{p}{i}": rng.random(c) + 0.5 for i, c in ((1, 4), (2, 5)) for p in ("s", "o", "v")},
             "m1": rng.standard_normal(4), "m2": rng.standard_normal(5)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "s1", "o1", "m1", "v1"], ["n1"], name="bn1"),
             helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
             helper.make_node("BatchNormalization", ["c2", "s2", "o2", "m2", "v2"], ["y"], name="bn2")]
    return onnx_model(tmp_path / "conv_bn.onnx", nodes, {"x": (TensorProto.FLOAT, [2, 3, 7, 6])}, ["y"],
                      initializers={k: v.astype(np.float32) for k, v in inits.items()})


def _negate_weight(out: Path, suffix: str) -> None:
    """Fault injection: negate the float32 weight whose name ends with ``suffix`` in the converted shards."""
    import json

    manifest = json.loads((out / "model.json").read_text())["weightsManifest"]
    hits = 0
    for group in manifest:
        offset, shard = 0, out / group["paths"][0]
        data = bytearray(shard.read_bytes())
        for weight in group["weights"]:
            size = int(np.prod(weight["shape"])) * 4
            if weight["name"].endswith(suffix):
                data[offset:offset + size] = (-np.frombuffer(bytes(data[offset:offset + size]), np.float32)).tobytes()
                hits += 1
            offset += size
        shard.write_bytes(bytes(data))
    assert hits == 1, manifest


@pytest.mark.node
def test_trace_pairs_a_folded_batch_norm_not_the_scaled_conv(tmp_path, tfjs_runtime):
    """The ONNX frontend folds an inference BatchNormalization into the conv's filter (and bias): the conv then
    computes the norm's value, so it must name the norm too, or ``verify --trace`` compares the scaled conv with
    onnxruntime's conv and fails a correct model there (at optimization level 1, which fuses no BiasAdd into its
    conv). A negated folded filter still fails, at its norm."""
    from tfjsconv.verify.trace import trace_model

    import tfjsconv

    source = _conv_bn_model(tmp_path)
    out = tmp_path / "out"
    tfjsconv.convert(source, out, keep_provenance=True, optimization_level=1)  # no conv+bias+relu fusion
    report = trace_model(source, out, backends=["cpu", "wasm"], quiet=True)
    compared = [row.source for row in report.compared]
    assert report.passed and "bn1" in compared and "bn2" in compared, [row.to_json() for row in report.rows]
    assert "conv1" not in compared and "conv2" not in compared, compared
    _negate_weight(out, "bn2/folded_filter")
    report = trace_model(source, out, backends=["cpu", "wasm"], quiet=True)
    assert not report.passed and report.first_failure is not None and report.first_failure.source == "bn2"


def _half_resizes(tmp_path: Path) -> Path:
    """float16 linear Resizes onnxruntime computes with its 2-D bilinear kernel: 4-D over H and W, over W only,
    downscaling, sizes, three coordinate transforms, and a 2-D input."""
    h = TensorProto.FLOAT16
    consts = {"up": np.array([1, 1, 1.5, 2], np.float32), "w_only": np.array([1, 1, 1, 1.75], np.float32),
              "down": np.array([1, 1, 0.6, 0.7], np.float32), "sizes": np.array([2, 3, 9, 5], np.int64),
              "flat": np.array([2.5, 1.5], np.float32)}
    nodes = [helper.make_node("Resize", ["x", "", "up"], ["y_up"], mode="linear"),
             helper.make_node("Resize", ["x", "", "w_only"], ["y_w"], mode="linear"),
             helper.make_node("Resize", ["x", "", "down"], ["y_down"], mode="linear",
                              coordinate_transformation_mode="pytorch_half_pixel"),
             helper.make_node("Resize", ["x", "", "", "sizes"], ["y_sizes"], mode="linear",
                              coordinate_transformation_mode="align_corners"),
             helper.make_node("Resize", ["m", "", "flat"], ["y_flat"], mode="linear",
                              coordinate_transformation_mode="asymmetric")]
    return onnx_model(tmp_path / "half_resize.onnx", nodes, {"x": (h, [2, 3, 6, 8]), "m": (h, [5, 7])},
                      ["y_up", "y_w", "y_down", "y_sizes", "y_flat"], opset=18, initializers=consts)


@pytest.mark.node
@pytest.mark.parametrize("exact_special_values", [False, True])
def test_half_linear_resize_rounds_as_onnxruntime(tmp_path, tfjs_runtime, exact_special_values):
    """onnxruntime has no float16 Resize kernel: it computes in float32 and rounds. Its bilinear sum
    ``((wy0·wx0)·X11 + (wy0·wx1)·X21) + (wy1·wx0)·X12 + (wy1·wx1)·X22`` differs from TF.js's lerp and from a
    row-then-column sum by a float32 ulp at times, which the rounding turns into a whole float16 step."""
    path = _half_resizes(tmp_path)
    rng = np.random.default_rng(5)
    feeds = {"x": (rng.standard_normal((2, 3, 6, 8)) * 3).astype(np.float16),
             "m": (rng.standard_normal((5, 7)) * 3).astype(np.float16)}
    matches_onnxruntime(path, feeds, tmp_path / "out", exact_special_values=exact_special_values)


def _nan_rows(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Small integers (many ties) with NaN, ±Inf, ±0 and ±FLT_MAX sprinkled in."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, shape).astype(np.float32)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, np.finfo(np.float32).max, np.finfo(np.float32).min],
                        np.float32)
    mask = rng.random(shape) < 0.45
    x[mask] = rng.choice(specials, int(mask.sum()))
    return x


@pytest.mark.node
def test_top_k_orders_nan_as_onnxruntime_under_the_flag(tmp_path, tfjs_runtime):
    """onnxruntime's TopK ranks NaN above +Inf (largest: first; smallest: last), NaNs and ties in index order;
    TF.js's TopKV2 ranks NaN below +Inf. With --exact_special_values the lowering orders them as onnxruntime:
    largest and smallest, k of 1, some and all, over the last axis and axis 0, k read at run time."""
    f = TensorProto.FLOAT
    nodes = [helper.make_node("TopK", ["x", "k3"], ["v_top", "i_top"]),
             helper.make_node("TopK", ["x", "k1"], ["v_one", "i_one"]),
             helper.make_node("TopK", ["x", "k9"], ["v_all", "i_all"]),
             helper.make_node("TopK", ["x", "k3"], ["v_low", "i_low"], largest=0),
             helper.make_node("TopK", ["x", "k9"], ["v_low_all", "i_low_all"], largest=0),
             helper.make_node("TopK", ["x", "k"], ["v_axis0", "i_axis0"], axis=0),
             helper.make_node("TopK", ["x", "k"], ["v_low0", "i_low0"], axis=0, largest=0)]
    outputs = [o for n in nodes for o in n.output]
    consts = {name: np.array([v], np.int64) for name, v in (("k1", 1), ("k3", 3), ("k9", 9))}
    path = onnx_model(tmp_path / "topk.onnx", nodes, {"x": (f, [6, 2, 9]), "k": (TensorProto.INT64, [1])}, outputs,
                      initializers=consts)
    feeds = {"x": _nan_rows((6, 2, 9), 11), "k": np.array([4], np.int64)}
    expected = matches_onnxruntime(path, feeds, tmp_path / "out", exact_special_values=True, narrow_int64_feeds=True)
    assert np.isnan(expected["v_top"][..., 0]).any() and np.isnan(expected["v_low_all"][..., -1]).any()
    import tfjsconv

    notices = tfjsconv.convert(path, tmp_path / "cpu_wasm", exact_special_values=True,
                               target_backends=["cpu", "wasm"]).notices
    assert not any("TopKV2" in notice for notice in notices), notices  # exact there: no longer named


# Session 32 (h4b): review r4's findings on the changes above, each compared element for element with onnxruntime.


def _exactly_as_onnxruntime(path: Path, feeds: dict[str, np.ndarray], out: Path, backends: tuple[str, ...],
                            **options) -> dict[str, np.ndarray]:
    """Convert ``path``, run it in TF.js on ``backends`` and assert every output equals onnxruntime's bit for bit
    (integers: a relative tolerance over a range of 2^32 would hide an INT_MIN dropped); returns onnxruntime's."""
    import tfjsconv
    from tfjsconv.verify import run_model

    expected = onnxruntime_outputs(path, feeds)
    tfjsconv.convert(path, out, **options)
    narrowed = {k: (v.astype(np.int32) if v.dtype == np.int64 else v) for k, v in feeds.items()}
    run = run_model(out, narrowed, backends=list(backends), quiet=True)
    wrong = []
    for backend in backends:
        assert run[backend].ok, run[backend].error
        for name, want in expected.items():
            got = np.asarray(run[backend].outputs[name])
            if got.shape != want.shape or not np.array_equal(got.astype(np.float64), want.astype(np.float64),
                                                             equal_nan=True):
                wrong.append(f"{name} [{backend}]: {got.ravel()[:16]} != onnxruntime {want.ravel()[:16]}")
    assert not wrong, "\n".join(wrong)
    return expected


@pytest.mark.node
@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
@pytest.mark.parametrize("backends", [("cpu", "wasm"), ("cpu",)], ids=["wasm_target", "cpu_only"])
def test_int_maxpool_indices_name_a_real_lowest_not_the_padding(tmp_path, tfjs_runtime, dtype, backends):
    """Padding equal to the dtype's lowest tied a real element of that value (uint8 0, int8 -128: a ReLU's zeros)
    that comes after the padding in its window, and the first-max rule took the pad: Indices -1 where onnxruntime
    names the element. The padding now sits one below the lowest, and a window of padding only is lifted back."""
    elem = _INT_TYPES[dtype]
    nodes = [helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[3], strides=[2], pads=[2, 2], ceil_mode=1),
             helper.make_node("MaxPool", ["x2"], ["y2", "i2"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["x"], ["y_dil"], kernel_shape=[2], strides=[2], dilations=[3], pads=[1, 1],
                              ceil_mode=1)]
    path = onnx_model(tmp_path / "pool.onnx", nodes, {"x": (elem, [1, 1, 6]), "x2": (elem, [1, 4, 8, 8])},
                      ["y", "i", "y2", "i2", "y_dil"], opset=19)
    low = np.iinfo(dtype).min
    rng = np.random.default_rng(5)
    x2 = np.where(rng.random((1, 4, 8, 8)) < 0.7, low, rng.integers(low + 1, np.iinfo(dtype).max + 1, (1, 4, 8, 8)))
    feeds = {"x": np.array([[[low, low, 3, low, low, low]]], dtype), "x2": x2.astype(dtype)}
    expected = _exactly_as_onnxruntime(path, feeds, tmp_path / "out", backends, target_backends=list(backends))
    assert expected["i"].ravel()[0] == 0 and (expected["y_dil"] == low).any()  # the cases this is about


@pytest.mark.node
@pytest.mark.parametrize("shape", [[5, 0], ["a", "b"]], ids=["static", "unknown"])
def test_top_k_under_the_flag_takes_an_empty_last_axis(tmp_path, tfjs_runtime, shape):
    """The flag's TopK flattened its rows as [-1, n]: with n = 0, TF.js cannot infer the -1 and the cpu run threw.
    (wasm's TopKV2 of an empty axis divides by zero with or without the flag: cpu only.)"""
    nodes = [helper.make_node("TopK", ["x", "k"], ["v", "i"]),
             helper.make_node("TopK", ["x", "k"], ["v_low", "i_low"], largest=0)]
    path = onnx_model(tmp_path / "topk.onnx", nodes, {"x": (TensorProto.FLOAT, shape),
                                                       "k": (TensorProto.INT64, [1])}, ["v", "i", "v_low", "i_low"])
    feeds = {"x": np.zeros((5, 0), np.float32), "k": np.array([0], np.int64)}
    expected = _exactly_as_onnxruntime(path, feeds, tmp_path / "out", ("cpu",), target_backends=["cpu"],
                                       exact_special_values=True)
    assert expected["v"].shape == (5, 0)


@pytest.mark.node
@pytest.mark.parametrize("elem", [TensorProto.INT32, TensorProto.INT64], ids=["int32", "int64"])
def test_smallest_int_top_k_keeps_the_lowest_int32(tmp_path, tfjs_runtime, elem):
    """largest=0 ran TopKV2 over Neg(x): Neg wraps INT_MIN onto itself, so the smallest value came last (dropped
    for k < n). ``-1 - x`` reverses the order without wrapping; values past 2^24 keep their order on cpu and wasm."""
    nodes = [helper.make_node("TopK", ["x", "k"], ["v", "i"], largest=0),
             helper.make_node("TopK", ["x", "k_all"], ["v_all", "i_all"], largest=0),
             helper.make_node("TopK", ["x", "k"], ["v_top", "i_top"])]
    path = onnx_model(tmp_path / "topk.onnx", nodes, {"x": (elem, [2, 8]), "k": (TensorProto.INT64, [1])},
                      ["v", "i", "v_all", "i_all", "v_top", "i_top"], initializers={"k_all": np.array([8], np.int64)})
    rows = [[3, -2**31, 5, 2**30 + 1, 2**30, -7, 2**24 + 1, 2**24],
            [2**31 - 1, 2**24, 2**24 + 1, -2**24 - 1, -2**24, 2**31 - 2, -2**31 + 1, 0]]
    dtype = np.int32 if elem == TensorProto.INT32 else np.int64
    feeds = {"x": np.array(rows, dtype), "k": np.array([4], np.int64)}
    expected = _exactly_as_onnxruntime(path, feeds, tmp_path / "out", ("cpu", "wasm"))
    assert expected["v"][0, 0] == -2**31
