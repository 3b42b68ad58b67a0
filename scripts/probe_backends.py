#!/usr/bin/env python3
"""Find the dtype and attribute limits of TF.js 4.22's backends by running ops on them.

Why a probe: the backend packages say which kernels they register, not which dtypes or attribute
values each kernel accepts, nor where one gives a wrong answer. So every case below is a one-op
model built as an IR graph, converted by tfjsconv (the backend check off: that is what we measure),
run in real TF.js on cpu and wasm under Node (and webgl in headless Chromium with ``--webgl``), and
compared with TensorFlow running the same op (``tf.raw_ops``). A case TF itself cannot run on CPU
(a dtype or attr its kernels refuse) is skipped and listed at the end; a case that calls ``tf.raw_ops`` with a
keyword the op lacks (a ``TypeError``) is a bug of the probe and stops the run (``ProbeCaseError``): such calls
once hid the low-rank dtype limits of Relu, Elu, Cumsum, ExpandDims ... as "skipped". A backend that throws, or answers differently from TF, is a limit, recorded in
``core/ops/data/tfjs_backend_probe.json`` as ``{"op", "backend", "when": {selector: [values]},
"outcome": "throws"|"wrong", "reason"}``; ``scripts/generate_backend_contract.py`` merges it into
``tfjs_backends.json``. Selectors: ``input:N`` (that input's TF.js dtype), ``rank:N`` (its rank),
``attr:NAME`` (an attr; lists comma-joined), ``nonunit:N`` (whether constant input N has a value other
than 1, e.g. StridedSlice's strides), ``nonunit:NAME``/``uniform:NAME`` (a window attr with a spatial
entry other than 1 / with all spatial entries equal), ``lessthan:ksize,strides`` (a window smaller than
its stride on some axis). A case's ``when`` is a selector class; see
``_window_when`` for how classes are probed. ``empty:N`` (constant input N holds no values), ``other:N,V``
(constant input N holds a value other than V) and ``negative:N`` (a negative value) select constant inputs;
``batch:N`` whether input N's first size is not 1 (``maybe``: unknown until run). Value-dependent differences (0/0) are ``quirks``, not limits.

Usage (slow: one TF.js run per case, a few minutes; not run in CI)::

    python scripts/probe_backends.py [--webgl] [--only OP,OP] [--output FILE]
    python scripts/probe_backends.py --webgl --high_ranks --merge --only OP,OP   # re-probe ranks 5-8 only
    python scripts/probe_backends.py --webgl --low_ranks --merge --only OP,OP    # every other case of those ops

The file's ``coverage`` (op -> backend -> the highest rank a case ran at) lets the generator refuse an op at
rank >= 7 where it never ran (``rank_coverage_cases``; the generator's ``unprobed_rank_limits``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "core" / "ops" / "data" / "tfjs_backend_probe.json"
#: A limit is a semantic failure, not float rounding: webgl's sin/exp on SwiftShader are ~3e-4 off and
#: still right. Real wrong answers (a cast to bool, an ignored layout) are off by O(1).
RTOL, ATOL = 1e-3, 1e-3
#: TF.js flags for the webgl runs: the shaders are measured. With WEBGL_CPU_FORWARD (TF.js's default) webgl runs many
#: kernels on its CPU code when every input is CPU-resident and under 128 elements (shouldExecuteOnCPU).
WEBGL_FLAGS = {"WEBGL_CPU_FORWARD": False}
#: Cases where TF itself is the odd one out: TF 2.21's CPU Round on int32 returns zeros.
TF_UNRELIABLE = {("Round", "int32"), ("Round", "bool")}
#: Graph ops whose TF op has another name (grappler's ``_FusedDepthwiseConv2dNative``; TF.js drops the ``_``).
TF_OP_NAMES = {"FusedDepthwiseConv2dNative": "_FusedDepthwiseConv2dNative"}

F32, I32, BOOL = "float32", "int32", "bool"
#: ``when`` values for "an axis other than -1" and "rank 2 or more" (TF.js tensors have rank <= 8 here).
NONNEGATIVE_AXES = [str(axis) for axis in range(8)]
HIGHER_RANKS = [str(rank) for rank in range(2, 9)]
_NP = {F32: np.float32, I32: np.int32, BOOL: np.bool_}


@dataclasses.dataclass
class Case:
    """One op run once: ``inputs`` are (TF arg name, array or list of arrays, fed as a model input?)."""

    op: str
    inputs: list[tuple[str, Any, bool]]
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    when: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: For layouts TF's CPU kernels refuse (NCHW): (the same case in NHWC, permutation of its output).
    reference: tuple[Case, tuple[int, ...]] | None = None
    #: For what TF's CPU kernels lack (dilated Conv3D, the grappler-only ``_Fused*`` ops): TF computing
    #: the same value another way (a zero-dilated filter; Conv2D + BiasAdd + activation).
    tf_equivalent: Callable[[], np.ndarray] | None = None
    #: The op's definition in numpy, used only where TF's CPU kernel refuses the case (TF broadcasts at
    #: most 5 collapsed dimensions; TF.js must still compute a rank-8 broadcast add right).
    spec: Callable[[], np.ndarray] | None = None
    #: Which output of the op is compared (TopKV2's indices show how ties are ordered).
    output: int = 0
    #: The op leaves the order along the last axis unspecified (TopKV2 with sorted=false): compare sorted.
    order_free: bool = False
    #: A value-dependent difference (0/0, int32 overflow): no dtype/attr selector can refuse it, so it
    #: is recorded under ``quirks`` and documented, not turned into a limit.
    quirk: bool = False
    #: The highest rank among the inputs and the output, set when the case runs (the probe file's ``coverage``).
    probed_rank: int = 0

    @property
    def label(self) -> str:
        return f"{self.op} " + " ".join(f"{k}={','.join(v)}" for k, v in self.when.items())


def sample(dtype: str, shape: tuple[int, ...], seed: int = 0, positive: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == BOOL:
        return rng.random(shape) > 0.5
    if dtype == I32:
        low = 1 if positive else -5
        return rng.integers(low, 6, size=shape).astype(np.int32)
    values = rng.standard_normal(shape).astype(np.float32) * 2
    # include exact halves and small fractions: casts and rounding differ there
    flat = values.reshape(-1)
    flat[: min(4, flat.size)] = [0.5, -0.25, 0.0, 2.5][: min(4, flat.size)]
    if positive:  # no zeros either: 0/0 is NaN in TF but 1 on webgl, a quirk no op-level limit can express
        values = np.abs(values) + 0.5
    return values


UNARY = ["Abs", "Neg", "Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Rsqrt",
         "Square", "Sign", "Floor", "Ceil", "Round", "Sin", "Cos", "Erf", "Softplus", "Reciprocal",
         "IsNan", "LeakyRelu", "Softmax", "LogSoftmax", "ZerosLike", "OnesLike", "Identity", "Atan", "Asinh"]
#: ``tf.raw_ops``'s name of a unary op's input where it is not ``x`` (tests/test_t8_probe_arguments.py checks
#: every case against the signatures: a wrong keyword once hid these ops' low-rank dtype limits).
UNARY_ARG = {"Softmax": "logits", "LogSoftmax": "logits", "Identity": "input",
             **{op: "features" for op in ("Relu", "Relu6", "Elu", "Selu", "Softplus", "LeakyRelu")}}
POSITIVE = {"Log", "Sqrt", "Rsqrt", "Reciprocal"}
BINARY = ["AddV2", "Sub", "Mul", "RealDiv", "FloorDiv", "FloorMod", "Maximum", "Minimum", "Pow",
          "SquaredDifference", "Equal", "NotEqual", "Less", "Greater", "LessEqual", "GreaterEqual",
          "DivNoNan", "Atan2"]
REDUCE = ["Sum", "Prod", "Max", "Min", "Mean", "ArgMax", "ArgMin", "All", "Any", "Cumsum", "Cumprod"]


def cases() -> list[Case]:
    found: list[Case] = []
    for op in UNARY:
        for dt in (F32, I32, BOOL):
            if (op, dt) in TF_UNRELIABLE:
                continue
            found.append(Case(op, [(UNARY_ARG.get(op, "x"), sample(dt, (2, 5), positive=op in POSITIVE), True)],
                              when={"input:0": [dt]}))
    for op in BINARY:
        for dt in (F32, I32, BOOL):
            found.append(Case(op, [("x", sample(dt, (2, 4), 1, positive=op == "Pow"), True),
                                   ("y", sample(dt, (2, 4), 2, positive=True), True)], when={"input:0": [dt]}))
    for op in ("LogicalAnd", "LogicalOr"):
        found.append(Case(op, [("x", sample(BOOL, (6,), 1), True), ("y", sample(BOOL, (6,), 2), True)],
                          when={"input:0": [BOOL]}))
    for src in (F32, I32, BOOL):
        for dst in (F32, I32, BOOL):
            if src != dst:
                found.append(Case("Cast", [("x", sample(src, (2, 6), 3), True)], {"DstT": dst},
                                  when={"input:0": [src], "attr:DstT": [dst]}))
    axis = np.array([1], dtype=np.int32)
    for op in REDUCE:
        for dt in (F32, I32, BOOL):
            arg = "dimension" if op.startswith("Arg") else "axis"
            scalar_axis = op.startswith("Arg") or op.startswith("Cum")  # TF's ArgMax/Cumsum take a scalar axis
            found.append(Case(op, [("x" if op.startswith("Cum") else "input", sample(dt, (3, 4), 4), True),
                                   (arg, np.array(1, np.int32) if scalar_axis else axis, False)],
                              when={"input:0": [dt]}))
    for dt in (F32, I32, BOOL):
        x = sample(dt, (2, 3, 4), 5)
        found += [
            Case("Transpose", [("x", x, True), ("perm", np.array([2, 0, 1], np.int32), False)], when={"input:0": [dt]}),
            Case("Reshape", [("tensor", x, True), ("shape", np.array([6, 4], np.int32), False)], when={"input:0": [dt]}),
            Case("ConcatV2", [("values", [x, x], True), ("axis", np.array(1, np.int32), False)], when={"input:0": [dt]}),
            Case("Pack", [("values", [x, x], True)], {"axis": 0}, when={"input:0": [dt]}),
            Case("Tile", [("input", x, True), ("multiples", np.array([1, 2, 1], np.int32), False)], when={"input:0": [dt]}),
            Case("Pad", [("input", x, True), ("paddings", np.array([[0, 0], [1, 1], [0, 2]], np.int32), False)],
                 when={"input:0": [dt]}),
            Case("GatherV2", [("params", x, True), ("indices", np.array([2, 0], np.int32), False),
                              ("axis", np.array(2, np.int32), False)], when={"input:0": [dt]}),
            Case("ReverseV2", [("tensor", x, True), ("axis", np.array([1], np.int32), False)], when={"input:0": [dt]}),
            *[Case("StridedSlice", [("input", x, True), ("begin", np.array([0, 1, 0], np.int32), False),
                                    ("end", np.array([2, 3, 4], np.int32), False),
                                    ("strides", np.array([1, 1, step], np.int32), False)],
                   when={"input:0": [dt], "nonunit:3": [json.dumps(step != 1)]}) for step in (1, 2)],
            Case("SelectV2", [("condition", sample(BOOL, (2, 3, 4), 6), True), ("t", x, True),
                              ("e", sample(dt, (2, 3, 4), 7), True)], when={"input:1": [dt]}),
            Case("ExpandDims", [("input", x, True), ("axis", np.array(1, np.int32), False)], when={"input:0": [dt]}),
            Case("Squeeze", [("input", x[:1], True)], {"squeeze_dims": [0]}, when={"input:0": [dt]}),
            Case("Split", [("axis", np.array(2, np.int32), False), ("value", x, True)], {"num_split": 2},
                 when={"input:1": [dt]}),
            Case("MirrorPad", [("input", x, True), ("paddings", np.array([[0, 0], [1, 1], [1, 1]], np.int32), False)],
                 {"mode": "REFLECT"}, when={"input:0": [dt]}),
            Case("TopKV2", [("input", x, True), ("k", np.array(2, np.int32), False)], when={"input:0": [dt]}),
            Case("ClipByValue", [("t", x, True), ("clip_value_min", np.array(-1, _NP[dt]), False),
                                 ("clip_value_max", np.array(1, _NP[dt]), False)], when={"input:0": [dt]}),
            Case("OneHot", [("indices", np.array([0, 3, 1, 4], np.int32), True), ("depth", np.array(5, np.int32), False),
                            ("on_value", np.array(1, _NP[dt]), False), ("off_value", np.array(0, _NP[dt]), False)],
                 {"axis": -1}, when={"input:2": [dt]}),
            Case("Fill", [("dims", np.array([2, 3], np.int32), True), ("value", np.array(1, _NP[dt]), False)],
                 when={"input:1": [dt]}),
        ]
    for dt in (F32, I32):
        a, b = sample(dt, (3, 4), 9), sample(dt, (4, 2), 10)
        found.append(Case("MatMul", [("a", a, True), ("b", b, True)], {"transpose_a": False, "transpose_b": False},
                          when={"input:0": [dt]}))
        found.append(Case("BatchMatMulV2", [("x", sample(dt, (2, 3, 4), 11), True), ("y", sample(dt, (2, 4, 2), 12), True)],
                          {"adj_x": False, "adj_y": False}, when={"input:0": [dt]}))
        found.append(Case("BiasAdd", [("value", sample(dt, (2, 3, 4), 13), True), ("bias", sample(dt, (4,), 14), False)],
                          {"data_format": "NHWC"}, when={"input:0": [dt]}))
        img = sample(dt, (1, 6, 6, 2), 15)
        found.append(Case("MaxPool", [("input", img, True)], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                                                             "padding": "VALID", "data_format": "NHWC"},
                          when={"input:0": [dt]}))
        found.append(Case("AvgPool", [("value", img, True)], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                                                             "padding": "VALID", "data_format": "NHWC"},
                          when={"input:0": [dt]}))
        found.append(Case("ResizeBilinear", [("images", img, True), ("size", np.array([9, 9], np.int32), False)],
                          {"align_corners": False, "half_pixel_centers": True}, when={"input:0": [dt]}))
        found.append(Case("ResizeNearestNeighbor", [("images", img, True), ("size", np.array([9, 9], np.int32), False)],
                          {"align_corners": False, "half_pixel_centers": True}, when={"input:0": [dt]}))
        found.append(Case("Conv2D", [("input", img, True), ("filter", sample(dt, (3, 3, 2, 3), 16), False)],
                          {"strides": [1, 1, 1, 1], "padding": "SAME", "data_format": "NHWC", "dilations": [1, 1, 1, 1]},
                          when={"input:0": [dt]}))
        found.append(Case("DepthwiseConv2dNative", [("input", img, True), ("filter", sample(dt, (3, 3, 2, 2), 17), False)],
                          {"strides": [1, 1, 1, 1], "padding": "SAME", "data_format": "NHWC", "dilations": [1, 1, 1, 1]},
                          when={"input:0": [dt]}))
        found.append(Case("DepthToSpace", [("input", sample(dt, (1, 2, 2, 4), 18), True)], {"block_size": 2,
                                                                                            "data_format": "NHWC"},
                          when={"input:0": [dt]}))
    found += layout_cases()
    found += variant_cases()
    return found


def layout_cases() -> list[Case]:
    """NCHW versions of the layout-sensitive ops; TF's CPU kernels refuse NCHW, so the reference is NHWC."""
    img = sample(F32, (1, 6, 6, 2), 20)
    nchw = img.transpose(0, 3, 1, 2)
    to_nchw = (0, 3, 1, 2)
    conv = {"padding": "SAME", "dilations": [1, 1, 1, 1]}
    pool = {"padding": "VALID"}
    specs = [
        ("Conv2D", [("filter", sample(F32, (3, 3, 2, 3), 21), False)], conv, "input"),
        ("DepthwiseConv2dNative", [("filter", sample(F32, (3, 3, 2, 2), 22), False)], conv, "input"),
        ("MaxPool", [], pool, "input"),
        ("AvgPool", [], pool, "value"),
    ]
    found = []
    for op, extra, attrs, arg in specs:
        window = {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1]} if "Pool" in op else {"strides": [1, 1, 1, 1]}
        nhwc_case = Case(op, [(arg, img, True), *extra], {**attrs, **window, "data_format": "NHWC"})
        window_nchw = {k: [v[0], v[3], v[1], v[2]] for k, v in window.items()}
        found.append(Case(op, [(arg, nchw, True), *extra], {**attrs, **window_nchw, "data_format": "NCHW"},
                          when={"attr:data_format": ["NCHW"]}, reference=(nhwc_case, to_nchw)))
    bias = sample(F32, (2,), 23)
    found.append(Case("BiasAdd", [("value", nchw, True), ("bias", bias, False)], {"data_format": "NCHW"},
                      when={"attr:data_format": ["NCHW"]},
                      reference=(Case("BiasAdd", [("value", img, True), ("bias", bias, False)], {"data_format": "NHWC"}),
                                 to_nchw)))
    return found


# -- attribute variants ----------------------------------------------------------------------------
def _window_when(dt: str, attrs: dict[str, Any]) -> dict[str, list[str]]:
    """The selector class of a pooling/conv case: dtype, padding, square/cubic window and whether it is smaller
    than its stride somewhere (pools), or unit/non-unit strides and dilations (convs).

    Each class is probed with several members (unit, square and non-square strides; windows that differ in
    different axes), and one failing member makes the whole class a limit: coarse classes err on the
    side of refusing (wasm's MaxPool3D is right for a 3x2x2 window yet wrong for 1x2x3 and 2x2x1).
    """
    when = {"input:0": [dt], "attr:padding": [attrs["padding"]]}
    if "ksize" in attrs:
        window, strides = attrs["ksize"][1:-1], attrs["strides"][1:-1]
        when["uniform:ksize"] = [json.dumps(len(set(window)) == 1)]
        when["lessthan:ksize,strides"] = [json.dumps(any(k < s for k, s in zip(window, strides)))]
        return when
    for name in ("strides", "dilations"):
        when[f"nonunit:{name}"] = [json.dumps(any(v != 1 for v in attrs[name][1:-1]))]
    return when


def _dilated(filt: np.ndarray, rate: int, spatial: int) -> np.ndarray:
    """``filt`` with ``rate - 1`` zeros between taps on each spatial axis: a dilated conv as a plain one."""
    for axis in range(spatial):
        size = filt.shape[axis]
        shape = list(filt.shape)
        shape[axis] = (size - 1) * rate + 1
        out = np.zeros(shape, filt.dtype)
        index = [slice(None)] * filt.ndim
        index[axis] = slice(None, None, rate)
        out[tuple(index)] = filt
        filt = out
    return filt


def pool_cases() -> list[Case]:
    """2-D and 3-D pools with square/non-square windows and strides, SAME/VALID, odd sizes."""
    found = []
    img2, img3 = sample(F32, (1, 7, 5, 3), 30), sample(F32, (1, 5, 7, 6, 2), 31)
    for op, arg, img, windows, strides in (
            ("MaxPool", "input", img2, ((2, 2), (3, 2), (2, 3), (1, 1)), ((1, 1), (2, 2), (1, 2), (3, 3))),
            ("AvgPool", "value", img2, ((2, 2), (3, 2), (2, 3), (1, 1)), ((1, 1), (2, 2), (1, 2), (3, 3))),
            ("MaxPool3D", "input", img3, ((2, 2, 2), (1, 2, 3), (2, 2, 1), (1, 1, 1)),
             ((1, 1, 1), (2, 2, 2), (2, 1, 1), (3, 3, 3))),
            ("AvgPool3D", "input", img3, ((2, 2, 2), (1, 2, 3), (2, 2, 1), (1, 1, 1)),
             ((1, 1, 1), (2, 2, 2), (2, 1, 1), (3, 3, 3)))):
        fmt = "NHWC" if img.ndim == 4 else "NDHWC"
        for window in windows:
            for stride in strides:
                for padding in ("SAME", "VALID"):
                    attrs = {"ksize": [1, *window, 1], "strides": [1, *stride, 1], "padding": padding,
                             "data_format": fmt}
                    found.append(Case(op, [(arg, img, True)], attrs, when=_window_when(F32, attrs)))
    # all-negative windows: wasm's MaxPool3D starts its running max at FLT_MIN (1.2e-38), not -inf, so any
    # window without a positive value comes out as 1.2e-38 whatever its shape (the 2-D and avg pools as controls)
    negative = -np.abs(sample(F32, (1, 4, 4, 4, 2), 32)) - 0.1
    for op, arg, img, window in (("MaxPool3D", "input", negative, [1, 2, 2, 2, 1]),
                                 ("AvgPool3D", "input", negative, [1, 2, 2, 2, 1]),
                                 ("MaxPool", "input", negative[0], [1, 2, 2, 1]),
                                 ("AvgPool", "value", negative[0], [1, 2, 2, 1])):
        found.append(Case(op, [(arg, img, True)], {"ksize": window, "strides": window, "padding": "VALID",
                                                   "data_format": "NDHWC" if img.ndim == 5 else "NHWC"},
                          when={"input:0": [F32]}))
    return found


def conv_cases() -> list[Case]:
    """Convolutions: SAME/VALID/EXPLICIT, strides, dilations, non-square kernels, 3-D, transposed, depthwise."""
    import tensorflow as tf

    found = []
    img = sample(F32, (1, 7, 6, 2), 32)
    kernel = sample(F32, (3, 2, 2, 3), 33)
    explicit = [0, 0, 1, 2, 2, 0, 0, 0]
    for op, filt in (("Conv2D", kernel), ("DepthwiseConv2dNative", sample(F32, (3, 2, 2, 2), 34))):
        for padding in ("SAME", "VALID", "EXPLICIT"):
            for stride in ((1, 1), (2, 2), (2, 1)):
                for rate in (1, 2):
                    attrs = {"strides": [1, *stride, 1], "dilations": [1, rate, rate, 1], "padding": padding,
                             "data_format": "NHWC"}
                    if padding == "EXPLICIT":
                        attrs["explicit_paddings"] = explicit
                    found.append(Case(op, [("input", img, True), ("filter", filt, False)], attrs,
                                      when=_window_when(F32, attrs)))
    vol, filt3 = sample(F32, (1, 5, 6, 7, 2), 35), sample(F32, (2, 3, 2, 2, 3), 36)
    for padding in ("SAME", "VALID"):
        for stride in ((1, 1, 1), (2, 2, 2), (2, 1, 2)):
            for rate in (1, 2):
                attrs = {"strides": [1, *stride, 1], "dilations": [1, rate, rate, rate, 1], "padding": padding,
                         "data_format": "NDHWC"}
                same = dict(attrs, dilations=[1, 1, 1, 1, 1])  # TF's CPU Conv3D has no dilations
                equivalent = (lambda s=same, r=rate: tf.raw_ops.Conv3D(
                    input=vol, filter=_dilated(filt3, r, 3), **s).numpy()) if rate > 1 else None
                found.append(Case("Conv3D", [("input", vol, True), ("filter", filt3, False)], attrs,
                                  when=_window_when(F32, attrs), tf_equivalent=equivalent))
    grad = sample(F32, (1, 4, 3, 3), 37)
    for padding in ("SAME", "VALID"):
        for stride, rate in ((1, 1), (2, 1), (1, 2)):  # TF has no strides and dilations both above 1
            size = {("SAME", 1, 1): (4, 3), ("VALID", 1, 1): (6, 4), ("SAME", 2, 1): (7, 6), ("VALID", 2, 1): (9, 6),
                    ("SAME", 1, 2): (4, 3), ("VALID", 1, 2): (8, 5)}[padding, stride, rate]
            attrs = {"strides": [1, stride, stride, 1], "dilations": [1, rate, rate, 1], "padding": padding,
                     "data_format": "NHWC"}
            found.append(Case("Conv2DBackpropInput",
                              [("input_sizes", np.array([1, *size, 2], np.int32), False), ("filter", kernel, False),
                               ("out_backprop", grad, True)], attrs,
                              when={"input:2": [F32], "attr:padding": [padding],
                                    "nonunit:strides": [json.dumps(stride != 1)],
                                    "nonunit:dilations": [json.dumps(rate != 1)]}))
    return found


def resize_cases() -> list[Case]:
    found = []
    img = sample(F32, (1, 5, 4, 2), 38)
    for op in ("ResizeBilinear", "ResizeNearestNeighbor"):
        for align, half in ((False, False), (True, False), (False, True)):
            for size in ((9, 7), (3, 2)):
                found.append(Case(op, [("images", img, True), ("size", np.array(size, np.int32), False)],
                                  {"align_corners": align, "half_pixel_centers": half},
                                  when={"input:0": [F32], "attr:align_corners": [json.dumps(align)],
                                        "attr:half_pixel_centers": [json.dumps(half)]}))
    boxes = np.array([[0.1, 0.2, 0.8, 0.9], [0.5, 0.0, 1.0, 0.5]], np.float32)
    for method in ("bilinear", "nearest"):
        found.append(Case("CropAndResize", [("image", img, True), ("boxes", boxes, False),
                                            ("box_ind", np.array([0, 0], np.int32), False),
                                            ("crop_size", np.array([3, 4], np.int32), False)],
                          {"method": method, "extrapolation_value": 0.0},
                          when={"input:0": [F32], "attr:method": [method.upper()]}))
    return found


def shape_variant_cases() -> list[Case]:
    """Index, scatter, slice and split ops with the attrs and dtypes real models use."""
    found = []
    for dt in (F32, I32, BOOL):
        x = sample(dt, (2, 3, 4), 40)
        found += [
            Case("MirrorPad", [("input", x, True), ("paddings", np.array([[0, 0], [1, 1], [1, 2]], np.int32), False)],
                 {"mode": "SYMMETRIC"}, when={"input:0": [dt], "attr:mode": ["SYMMETRIC"]}),
            Case("GatherV2", [("params", x, True), ("indices", np.array([[2, 0], [1, 1]], np.int32), False),
                              ("axis", np.array(1, np.int32), False)], {"batch_dims": 1},
                 when={"input:0": [dt], "attr:batch_dims": ["1"]}),
            Case("GatherNd", [("params", x, True), ("indices", np.array([[1, 2], [0, 0], [1, 0]], np.int32), False)],
                 when={"input:0": [dt]}),
            Case("ScatterNd", [("indices", np.array([[1], [3], [0]], np.int32), False), ("updates", sample(dt, (3, 4), 41), True),
                               ("shape", np.array([5, 4], np.int32), False)], when={"input:1": [dt]}),
            # one update of a fed tensor (rows, elements, sub-rows): right everywhere. cpu's kernel writes into its
            # input, wrong only where something else reads that input: a graph matter the tensor_scatter_update pass
            # rewrites (docs/backends.md), which a one-op case cannot show
            *(Case("TensorScatterUpdate", [("tensor", x, True), ("indices", np.array(index, np.int32), False),
                                           ("updates", sample(dt, shape, 44), True)], when={"input:0": [dt]})
              for index, shape in (([[1], [0]], (2, 3, 4)), ([[0, 1, 2], [1, 2, 3]], (2,)), ([[1, 2]], (1, 4)))),
            Case("SparseToDense", [("sparse_indices", np.array([[0, 1], [2, 3]], np.int32), False),
                                   ("output_shape", np.array([3, 4], np.int32), False),
                                   ("sparse_values", sample(dt, (2,), 42), True),
                                   ("default_value", np.array(0, _NP[dt]), False)], when={"input:2": [dt]}),
            # v1 Select: a vector condition picks rows of a higher-rank t/e (TF.js broadcasts it as SelectV2 would)
            Case("Select", [("condition", np.array([True, False]), True), ("x", x, True), ("y", sample(dt, (2, 3, 4), 43), True)],
                 when={"rank:0": ["1"], "rank:1": HIGHER_RANKS}),
            Case("Select", [("condition", sample(BOOL, (2, 3, 4), 47), True), ("x", x, True),
                            ("y", sample(dt, (2, 3, 4), 43), True)], when={"input:1": [dt]}),
            Case("SelectV2", [("condition", sample(BOOL, (4,), 44), True), ("t", sample(dt, (2, 1, 4), 45), True),
                              ("e", np.array(1, _NP[dt]), False)], when={"input:1": [dt]}),
            Case("SplitV", [("value", x, True), ("size_splits", np.array([1, -1], np.int32), False),
                            ("axis", np.array(2, np.int32), False)], {"num_split": 2}, output=1,
                 when={"input:0": [dt]}),
        ]
        masks = [("begin_mask", [1, 2, 0], [2, 1, 4], [1, 1, 1], {"begin_mask": 2}),
                 ("end_mask", [0, 1, 1], [2, 0, 3], [1, 1, 1], {"end_mask": 2}),
                 ("ellipsis_mask", [0, 1], [1, 3], [1, 1], {"ellipsis_mask": 1}),
                 ("new_axis_mask", [0, 0, 1, 0], [1, 2, 3, 4], [1, 1, 1, 1], {"new_axis_mask": 2}),
                 ("shrink_axis_mask", [1, 0, 1], [2, 3, 3], [1, 1, 1], {"shrink_axis_mask": 5}),
                 ("negative_stride", [1, 2, 3], [0, 0, 0], [-1, -1, -2], {})]
        for name, begin, end, strides, attrs in masks:
            full = {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0,
                    **attrs}
            when = {"input:0": [dt], "nonunit:3": [json.dumps(any(s != 1 for s in strides))]}
            when.update({f"attr:{k}": [str(v)] for k, v in attrs.items()})
            found.append(Case("StridedSlice", [("input", x, True), ("begin", np.array(begin, np.int32), False),
                                               ("end", np.array(end, np.int32), False),
                                               ("strides", np.array(strides, np.int32), False)], full, when=when))
        for kd_op in ("Sum", "Prod", "Max", "Min", "All", "Any", "ArgMax"):
            if kd_op in ("All", "Any") and dt != BOOL:
                continue
            arg = "dimension" if kd_op == "ArgMax" else "axis"
            attrs = {} if kd_op == "ArgMax" else {"keep_dims": True}
            found.append(Case(kd_op, [("input", x, True), (arg, np.array([2] if kd_op != "ArgMax" else -1, np.int32), False)],
                              attrs, when={"input:0": [dt], **({"attr:keep_dims": ["true"]} if attrs else {})}))
    for axis in (0, 1):  # TF's axis; TF.js's oneHot has none (always last)
        found.append(Case("OneHot", [("indices", np.array([[0, 3], [1, 4]], np.int32), True),
                                     ("depth", np.array(5, np.int32), False), ("on_value", np.array(1, np.int32), False),
                                     ("off_value", np.array(0, np.int32), False)], {"axis": axis},
                          when={"attr:axis": NONNEGATIVE_AXES}))
    for dt in (F32, I32):
        x = sample(dt, (3, 4), 46)
        for op in ("Cumsum", "Cumprod"):
            for exclusive, reverse in ((True, False), (False, True), (True, True)):
                found.append(Case(op, [("x", x, True), ("axis", np.array(1, np.int32), False)],
                                  {"exclusive": exclusive, "reverse": reverse},
                                  when={"input:0": [dt], "attr:exclusive": [json.dumps(exclusive)],
                                        "attr:reverse": [json.dumps(reverse)]}))
        ties = np.array([[3, 1, 3, 2, 1, 3], [0, 0, 5, 5, 0, 1]], _NP[dt])
        for sorted_ in (True, False):  # sorted: the indices show the order of ties; unsorted: any order of the values
            found.append(Case("TopKV2", [("input", ties, True), ("k", np.array(3, np.int32), False)], {"sorted": sorted_},
                              output=1 if sorted_ else 0, order_free=not sorted_,
                              when={"input:0": [dt], "attr:sorted": [json.dumps(sorted_)]}))
    return found


def math_variant_cases() -> list[Case]:
    """Normalisation, softmax ranks, einsum equations, ranges, bitwise ops; and the value quirks."""
    found = []
    for shape in ((7,), (2, 3, 4, 5)):
        found.append(Case("Softmax", [("logits", sample(F32, shape, 50), True)], when={"input:0": [F32]}))
    img = sample(F32, (1, 4, 3, 5), 51)
    stats = [("scale", sample(F32, (5,), 52), False), ("offset", sample(F32, (5,), 53), False),
             ("mean", sample(F32, (5,), 54), False), ("variance", np.abs(sample(F32, (5,), 55)) + 0.5, False)]
    for op in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"):
        found.append(Case(op, [("x", img, True), *stats], {"epsilon": 1e-3, "is_training": False, "data_format": "NHWC"},
                          when={"input:0": [F32]}))
    found.append(Case("LRN", [("input", img, True)], {"depth_radius": 2, "bias": 1.0, "alpha": 0.5, "beta": 0.75},
                      when={"input:0": [F32]}))
    for equation, shapes in (("ij,jk->ik", ((3, 4), (4, 2))), ("bij,bjk->bik", ((2, 3, 4), (2, 4, 2))),
                             ("ij->ji", ((3, 4),)), ("i,i->", ((5,), (5,))), ("bhqd,bhkd->bhqk", ((1, 2, 3, 4), (1, 2, 5, 4))),
                             ("ij,j->i", ((3, 4), (4,)))):
        arrays = [sample(F32, s, 56 + i) for i, s in enumerate(shapes)]
        found.append(Case("Einsum", [("inputs", arrays, True)], {"equation": equation},
                          when={"input:0": [F32], "attr:equation": [equation.upper()]}))
    for dt, (start, limit, delta) in ((F32, (0.5, 3.0, 0.7)), (F32, (5.0, -3.0, -1.5)), (I32, (7, -2, -3))):
        found.append(Case("Range", [("start", np.array(start, _NP[dt]), False), ("limit", np.array(limit, _NP[dt]), False),
                                    ("delta", np.array(delta, _NP[dt]), False)], when={"input:0": [dt]}))
    for op in ("BitwiseAnd",):  # TF.js lists no BitwiseOr/BitwiseXor: the op registry refuses those
        found.append(Case(op, [("x", sample(I32, (2, 4), 60), True), ("y", sample(I32, (2, 4), 61), True)],
                          when={"input:0": [I32]}))
    for dt in (I32, BOOL):
        found.append(Case("Fill", [("dims", np.array([2, 3], np.int32), False), ("value", np.array(1, _NP[dt]), True)],
                          when={"input:1": [dt]}))
    # string comparisons (ONNX Equal on strings): wasm compares them wrongly
    words = np.array([[b"a", b"bc", b"", b"xyz"], [b"q", b"r", b"s", b"t"]], dtype=object)
    other = np.array([[b"a", b"b", b"", b"xyz"], [b"q", b"rr", b"s", b"u"]], dtype=object)
    for op in ("Equal", "NotEqual"):
        found.append(Case(op, [("x", words, True), ("y", other, True)], when={"input:0": ["string"]}))
    # string tensors through the ops tfjs-core lets strings into (the rest throw on every backend: the generator's
    # string_limits); wasm's kernels for these read the heap as numbers (scripts/probe_string_ops.mjs shows them)
    found.append(Case("Tile", [("input", words, True), ("multiples", np.array([1, 2], np.int32), False)],
                      when={"input:0": ["string"]}))
    found.append(Case("GatherNd", [("params", words, True), ("indices", np.array([[1, 2], [0, 0]], np.int32), False)],
                      when={"input:0": ["string"]}))
    for strides in ((1, 2), (1, 1)):
        found.append(Case("StridedSlice", [("input", words, True), ("begin", np.array([0, 0], np.int32), False),
                                           ("end", np.array([2, 4], np.int32), False),
                                           ("strides", np.array(strides, np.int32), False)],
                          when={"input:0": ["string"], "nonunit:3": [json.dumps(strides != (1, 1))]}))
    found.append(Case("Fill", [("dims", np.array([2, 3], np.int32), False), ("value", np.array(b"z", dtype=object), True)],
                      when={"input:1": ["string"]}))
    found.append(Case("SparseToDense", [("sparse_indices", np.array([1, 3], np.int32), False),
                                        ("output_shape", np.array([5], np.int32), False),
                                        ("sparse_values", np.array([b"q", b"r"], dtype=object), True),
                                        ("default_value", np.array(b"-", dtype=object), True)],
                      when={"input:2": ["string"]}))
    # value quirks: what no dtype/attr selector can refuse
    zeros = np.array([0.0, 1.0, -2.0, 0.0], np.float32)
    found.append(Case("RealDiv", [("x", np.array([0.0, 0.0, 3.0, -1.0], np.float32), True), ("y", zeros, True)],
                      when={"input:0": [F32], "divisor": ["0"]}, quirk=True))
    big = np.array([[100000, 30000], [2000000000, 2000000000]], np.int32)
    for op in ("Prod", "Sum"):
        found.append(Case(op, [("input", big, True), ("axis", np.array([1], np.int32), False)],
                          when={"input:0": [I32], "overflow": ["true"]}, quirk=True))
    # webgl's max/min reduce shader starts at -1e20/+1e20 ('-1.0 / 1e-20'), so a row whose values are all beyond
    # that (-1e30, -Inf, -3e38 attention masks) reduces to ∓1e20, and its Softmax (max-subtracted) to all ones.
    # 64 rows: more than 128 elements, or webgl hands the small CPU-resident tensor to its CPU kernels
    beyond = np.tile(np.array([[-1e30, -2e30, -3e30], [-np.inf] * 3, [-3e38] * 3, [1, 2, 3]], np.float32), (16, 1))
    for op, data in (("Max", beyond), ("Min", -beyond), ("Softmax", beyond)):
        inputs = [("logits" if op == "Softmax" else "input", data, True)]
        if op != "Softmax":
            inputs.append(("axis", np.array([1], np.int32), False))
        found.append(Case(op, inputs, when={"input:0": [F32], "beyond_1e20": ["true"]}, quirk=True))
    return found


_ACTIVATIONS = ("Relu", "Relu6", "Elu", "LeakyRelu", "Sigmoid", "Tanh")


def fused_cases() -> list[Case]:
    """The ``_Fused*`` ops tfjsconv and grappler emit, with each activation; TF's reference is the unfused chain."""
    import tensorflow as tf

    def act(name: str, y: Any) -> Any:
        return {"": lambda v: v, "Relu": tf.nn.relu, "Relu6": tf.nn.relu6, "Elu": tf.nn.elu, "Sigmoid": tf.sigmoid,
                "Tanh": tf.tanh, "LeakyRelu": lambda v: tf.nn.leaky_relu(v, 0.2)}[name](y)

    found = []
    img, bias = sample(F32, (1, 5, 5, 2), 70), sample(F32, (3,), 71)
    kernel, dkernel = sample(F32, (3, 3, 2, 3), 72), sample(F32, (3, 3, 2, 1), 73)
    dbias = sample(F32, (2,), 74)
    a, b, mbias = sample(F32, (3, 4), 75), sample(F32, (4, 5), 76), sample(F32, (5,), 77)
    conv = {"strides": [1, 1, 1, 1], "padding": "SAME", "data_format": "NHWC", "dilations": [1, 1, 1, 1]}
    for activation in ("", *_ACTIVATIONS):
        fused = ["BiasAdd", activation] if activation else ["BiasAdd"]
        extra = {"fused_ops": fused, "num_args": 1, "epsilon": 0.0001, "leakyrelu_alpha": 0.2}
        when = {"input:0": [F32], "attr:fused_ops": [",".join(fused).upper()]}
        found.append(Case("_FusedConv2D", [("input", img, True), ("filter", kernel, False), ("args", [bias], False)],
                          {**conv, **extra, "num_host_args": 0}, when=when,
                          tf_equivalent=lambda n=activation: act(n, tf.nn.bias_add(
                              tf.nn.conv2d(img, kernel, 1, "SAME"), bias))))
        found.append(Case("FusedDepthwiseConv2dNative", [("input", img, True), ("filter", dkernel, False),
                                                          ("args", [dbias], False)], {**conv, **extra}, when=when,
                          tf_equivalent=lambda n=activation: act(n, tf.nn.bias_add(
                              tf.nn.depthwise_conv2d(img, dkernel, [1, 1, 1, 1], "SAME"), dbias))))
        for ta, tb in ((False, False), (True, False), (False, True), (True, True)):
            if activation not in ("", "Relu") and (ta or tb):
                continue
            lhs, rhs = (a.T.copy() if ta else a), (b.T.copy() if tb else b)
            # two independent classes: the activation (probed untransposed) and the transposes (probed with
            # BiasAdd and BiasAdd+Relu); a node is refused if either class failed
            matmul_when = when if not (ta or tb) else {
                "input:0": [F32], "attr:transpose_a": [json.dumps(ta)], "attr:transpose_b": [json.dumps(tb)]}
            found.append(Case("_FusedMatMul", [("a", lhs, True), ("b", rhs, False), ("args", [mbias], False)],
                              {**extra, "transpose_a": ta, "transpose_b": tb}, when=matmul_when,
                              tf_equivalent=lambda n=activation: act(n, tf.nn.bias_add(tf.matmul(a, b), mbias))))
    return found


def wrong_number_cases() -> list[Case]:
    """The TF-op conformance run's silent wrong answers, each in the selector class that refuses it."""
    found = []
    params, indices = sample(F32, (2, 5, 3), 70), np.array([[0, 4, 1], [2, 2, 0]], np.int32)
    for axis in (1, 2):  # wasm's gather with batch_dims picks wrong rows (axis 2: params transposed)
        p = params if axis == 1 else params.transpose(0, 2, 1)
        idx = indices if axis == 1 else np.array([[4, 0, 1, 1], [2, 3, 0, 0]], np.int32)
        found.append(Case("GatherV2", [("params", p, True), ("indices", idx, False), ("axis", np.array(axis, np.int32), False)],
                          {"batch_dims": 1}, when={"attr:batch_dims": [str(n) for n in range(1, 8)]}))
    band = sample(F32, (2, 4, 5), 71)
    for lower, upper, when in ((1, 0, {"other:1,-1": ["true"]}), (-1, 1, {"other:2,-1": ["true"]}),
                               (-1, -1, {"other:1,-1": ["false"], "other:2,-1": ["false"]})):
        found.append(Case("MatrixBandPart", [("input", band, True), ("num_lower", np.array(lower, np.int32), False),
                                             ("num_upper", np.array(upper, np.int32), False)], when=when))
    for low, high, narrow in ((-1.0, 1.5, False), (-0.3, 2.0, True)):  # TF.js does not clamp to [min, max]
        found.append(Case("FakeQuantWithMinMaxVars", [("inputs", sample(F32, (3, 4), 72) * 2, True),
                                                      ("min", np.array(low, np.float32), False),
                                                      ("max", np.array(high, np.float32), False)],
                          {"num_bits": 8, "narrow_range": narrow}, when={"input:0": [F32]}))
    found.append(Case("Cumsum", [("x", sample(I32, (2, 4), 73), True), ("axis", np.array(-1, np.int32), False)],
                      {"exclusive": True, "reverse": True},
                      when={"negative:1": ["true"]}))
    for dt in (F32, I32):  # one class, a negative axis (the cumulative_axis pass makes a constant one non-negative)
        x = sample(dt, (2, 3, 4), 75)
        for op in ("Cumsum", "Cumprod"):
            for exclusive, reverse in ((False, False), (True, False), (False, True), (True, True)):
                for axis in (-1, -2):
                    found.append(Case(op, [("x", x, True), ("axis", np.array(axis, np.int32), False)],
                                      {"exclusive": exclusive, "reverse": reverse},
                                      when={"negative:1": ["true"]}))
    x = sample(F32, (2, 3, 4), 74)
    found.append(Case("EuclideanNorm", [("input", x, True), ("axis", np.zeros(0, np.int32), False)],
                      {"keep_dims": False}, when={"empty:1": ["true"]}))
    for dt in (F32, I32):
        found.append(Case("EuclideanNorm", [("input", sample(dt, (3, 4), 75), True), ("axis", np.array([1], np.int32), False)],
                          {"keep_dims": False}, when={"input:0": [dt]}))
    found.append(Case("ResizeNearestNeighbor", [("images", sample(I32, (1, 2, 3, 1), 76), True),
                                                ("size", np.array([4, 6], np.int32), False)],
                      {"align_corners": False, "half_pixel_centers": True}, when={"input:0": [I32]}))
    # all-negative windows: wasm starts the running max at FLT_MIN, as for MaxPool3D
    negative = -np.abs(sample(F32, (2, 4, 5, 3), 77)) - 0.1
    found.append(Case("MaxPoolWithArgmax", [("input", negative, True)], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                                                                        "padding": "SAME"}, when={"input:0": [F32]}))
    found.append(Case("Dilation2D", [("input", negative[:1], True), ("filter", -np.abs(sample(F32, (2, 2, 3), 78)), False)],
                      {"strides": [1, 1, 1, 1], "rates": [1, 1, 1, 1], "padding": "SAME"}, when={"input:0": [F32]}))
    for method, transform in (("BILINEAR", [1, 0.2, -1, 0.1, 1, 0.5, 0, 0]), ("NEAREST", [0.9, 0, 0.5, 0, 1.1, -0.5, 0, 0])):
        found.append(Case("ImageProjectiveTransformV3", [("images", sample(F32, (1, 5, 6, 1), 79), True),
                                                         ("transforms", np.array([transform], np.float32), False),
                                                         ("output_shape", np.array([5, 6], np.int32), False),
                                                         ("fill_value", np.array(-1, np.float32), False)],
                          {"interpolation": method, "fill_mode": "CONSTANT"},
                          when={"input:0": [F32], "attr:interpolation": [method]}))
    found += image_batch_cases()
    return found


def image_batch_cases() -> list[Case]:
    """``ImageProjectiveTransformV3`` of two images (``batch:0``), with one transform per image and one shared row.

    cpu's kernel returns after the first image (the rest stay the fill value), whatever the transforms' shape.
    The class lists ``maybe`` (an unknown batch: the selector's value for a size known only at run time) beside
    ``true``, as a probe cannot run an unknown size. Bilinear only: NEAREST has its own cpu/webgl class above, and a
    NEAREST member here would make webgl's rounding a batch limit, refusing webgl's right bilinear batches."""
    images = sample(F32, (2, 5, 6, 2), 80)
    per_image = np.array([[1, 0.2, -1, 0.1, 1, 0.5, 0, 0], [0.8, -0.2, 1, 0.1, 1.2, -0.4, 0.01, 0.02]], np.float32)
    return [Case("ImageProjectiveTransformV3", [("images", images, True), ("transforms", transforms, False),
                                                ("output_shape", np.array([5, 6], np.int32), False),
                                                ("fill_value", np.array(-1, np.float32), False)],
                 {"interpolation": "BILINEAR", "fill_mode": "CONSTANT"},
                 when={"input:0": [F32], "batch:0": ["true", "maybe"]})
            for transforms in (per_image, per_image[:1])]


def prelu_cases() -> list[Case]:
    """``Prelu`` (no TF op: tfjsconv's ``prelu`` pass and ONNX ``PRelu`` emit it; TF's reference is Keras's
    ``relu(x) - alpha * relu(-x)``, broadcast). wasm reads ``alpha[i % alpha.size]``: right only for an alpha that
    is one value or tiles x's trailing axes (``tiles:1,0``)."""
    import tensorflow as tf

    from tfjsconv.ops.backends import tiles_trailing

    found = []
    x = sample(F32, (2, 3, 4), 95)
    for alpha_shape in ((4,), (3, 4), (1, 1, 4), (1,), (3, 1), (2, 1, 1), (1, 3, 1)):
        alpha = np.abs(sample(F32, alpha_shape, 96)) + 0.1
        tiles = tiles_trailing(alpha_shape, x.shape)
        found.append(Case("Prelu", [("x", x, True), ("alpha", alpha, False)],
                          when={"input:0": [F32], "tiles:1,0": [json.dumps(bool(tiles))]},
                          tf_equivalent=lambda a=alpha: tf.nn.relu(x) - a * tf.nn.relu(-x)))
    return found


def variant_cases() -> list[Case]:
    """Attribute variants of the ops real models use, beyond the per-dtype cases above."""
    return [*pool_cases(), *conv_cases(), *resize_cases(), *shape_variant_cases(), *math_variant_cases(),
            *fused_cases(), *wrong_number_cases(), *prelu_cases(), *high_rank_cases(),
            *rank_coverage_cases()]


# -- high ranks ---------------------------------------------------------------------------------
#: The rank classes the high-rank cases probe: ``maxrank:7`` is "some input or output has rank ≥ 7"; all of
#: them have ``maxrank:5``, so a limit of rank 5-6 never refuses ranks below 5.
HIGH_RANK = 7
HIGH_RANK_BINARY = {"AddV2": np.add, "Sub": np.subtract, "Mul": np.multiply, "RealDiv": np.divide,
                    "Maximum": np.maximum, "Minimum": np.minimum, "Pow": np.power, "Equal": np.equal,
                    "SquaredDifference": lambda a, b: np.square(a - b), "Add": np.add, "Div": np.divide,
                    "DivNoNan": np.divide, "FloorDiv": np.floor_divide}


def _ones_at(shape: tuple[int, ...], axes: Any) -> tuple[int, ...]:
    return tuple(1 if axis in axes else size for axis, size in enumerate(shape))


def high_rank_cases() -> list[Case]:
    """Rank 5-8 shape, broadcast, reduction and matmul ops, each in the class "rank ≥ 7" or not.

    A colleague's rank-7 graph came back wrong from wasm with no error; these find which ops. TF's CPU
    broadcasting stops at 5 collapsed dimensions, so binary cases carry their numpy definition as ``spec``.
    """
    found: list[Case] = []
    for rank in (5, 6, 7, 8):
        # two classes: rank 5-6 (webgl's Where, Reverse, strided StridedSlice throw) and rank >= 7 (wasm's float
        # binary ops are wrong, webgl's element-wise shaders throw); every case here is rank 5 or more
        when = {"maxrank:5": ["true"], f"maxrank:{HIGH_RANK}": [json.dumps(rank >= HIGH_RANK)]}
        shape = (2, 3, 2, 3, 2, 2, 3, 2)[:rank]
        x = sample(F32, shape, 80 + rank)
        rng = np.random.default_rng(rank)
        perms = [list(range(rank))[::-1], rng.permutation(rank).tolist(), [1, 0, *range(2, rank)],
                 [rank - 1, *range(rank - 1)]]
        for perm in perms:
            found.append(Case("Transpose", [("x", x, True), ("perm", np.array(perm, np.int32), False)], when=when))
        found.append(Case("Transpose", [("x", sample(I32, shape, 81), True),
                                        ("perm", np.array(perms[1], np.int32), False)], when=when))
        patterns = [("same", shape, shape), ("alternate", shape, _ones_at(shape, range(1, rank, 2))),
                    ("both", _ones_at(shape, (0, rank - 2)), _ones_at(shape, (1, rank - 1))),
                    ("trailing", shape, shape[-2:])]
        for op, fn in HIGH_RANK_BINARY.items():  # float32 and int32 run different wasm kernels
            # int32 division is another matter (TF truncates; the truncating_division pass): float32 only
            int_patterns = [] if op in ("RealDiv", "Div", "DivNoNan") else patterns[2:3]
            for dt, chosen in ((F32, patterns if op in ("AddV2", "Mul") else patterns[1:3]), (I32, int_patterns)):
                for label, xs, ys in chosen:
                    a = sample(dt, xs, 82, positive=op == "Pow")
                    b = sample(dt, ys, 83, positive=op in ("Pow", "RealDiv", "Div", "DivNoNan", "FloorDiv"))
                    if op == "Equal":  # whole numbers, so that some elements are equal
                        a, b = np.round(a), np.round(b)
                    found.append(Case(op, [("x", a, True), ("y", b, True)], when={**when, "input:0": [dt]},
                                      spec=lambda f=fn, a=a, b=b: np.asarray(f(a, b))))
        cond = sample(BOOL, _ones_at(shape, (1,)), 86)
        other = sample(F32, shape[-1:], 87)
        found.append(Case("SelectV2", [("condition", cond, True), ("t", x, True), ("e", other, True)], when=when,
                          spec=lambda c=cond, t=x, e=other: np.where(c, t, e)))
        found.append(Case("Neg", [("x", x, True)], when=when))  # elementwise control
        found.append(Case("Tile", [("input", x, True), ("multiples", np.array([2, *[1] * (rank - 2), 2], np.int32),
                                                                          False)], when=when))
        for axis in (0, 3, rank - 1):
            found.append(Case("ConcatV2", [("values", [x, x[..., :1] if axis == rank - 1 else x], True),
                                           ("axis", np.array(axis, np.int32), False)], when=when))
        found.append(Case("Slice", [("input", x, True), ("begin", np.array([1, 0, 1, *[0] * (rank - 3)], np.int32), False),
                                    ("size", np.array([-1, 2, -1, *[-1] * (rank - 4), 1], np.int32), False)], when=when))
        for step in (1, 2):
            found.append(Case("StridedSlice", [("input", x, True),
                                               ("begin", np.array([0, 1, *[0] * (rank - 2)], np.int32), False),
                                               ("end", np.array(shape, np.int32), False),
                                               ("strides", np.array([1, 1, *[1] * (rank - 3), step], np.int32), False)],
                              {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                               "shrink_axis_mask": 0}, when={**when, "nonunit:3": [json.dumps(step != 1)]}))
        pads = np.zeros((rank, 2), np.int32)
        pads[1], pads[rank - 1] = (1, 0), (0, 2)
        for dt in (F32, I32):
            padded = sample(dt, shape, 93)
            found.append(Case("Pad", [("input", padded, True), ("paddings", pads, False)],
                              when={**when, "input:0": [dt]}))
            found.append(Case("PadV2", [("input", padded, True), ("paddings", pads, False),
                                        ("constant_values", np.array(2, _NP[dt]), False)], when={**when, "input:0": [dt]}))
        found.append(Case("MirrorPad", [("input", x, True), ("paddings", np.minimum(pads, 1), False)], {"mode": "REFLECT"},
                          when=when))
        found.append(Case("BiasAdd", [("value", x, True), ("bias", sample(F32, shape[-1:], 94), False)],
                          {"data_format": "NHWC"}, when=when))
        for op in ("Sum", "Max", "Mean", "Prod"):
            for axes in ([1, 3], [rank - 1], list(range(rank))):
                found.append(Case(op, [("input", x, True), ("axis", np.array(axes, np.int32), False)],
                                  {"keep_dims": False}, when=when))
        for axis in (0, rank - 2):
            found.append(Case("GatherV2", [("params", x, True), ("indices", np.array([1, 0, 1], np.int32), False),
                                           ("axis", np.array(axis, np.int32), False)], when=when))
        for axes in ([0, rank - 1], [2]):
            found.append(Case("ReverseV2", [("tensor", x, True), ("axis", np.array(axes, np.int32), False)], when=when))
        for small in (_ones_at(shape, (0, 2, rank - 1)), shape[-2:]):
            s = sample(F32, small, 88)
            found.append(Case("BroadcastTo", [("input", s, True), ("shape", np.array(shape, np.int32), False)],
                              when=when, spec=lambda s=s, shape=shape: np.broadcast_to(s, shape)))
        for src, dst in ((F32, I32), (I32, F32)):
            found.append(Case("Cast", [("x", sample(src, shape, 89), True)], {"DstT": dst}, when=when))
        indices = np.random.default_rng(90).integers(0, 2, size=shape[:-1]).astype(np.int32)
        found.append(Case("OneHot", [("indices", indices, True), ("depth", np.array(shape[-1], np.int32), False),
                                     ("on_value", np.array(3, np.int32), False),  # wasm's float32 OneHot is a
                                     ("off_value", np.array(-1, np.int32), False)],  # dtype limit of its own
                          {"axis": -1}, when=when))
        batch = shape[:-2]
        # leading 1s only: other batch broadcasts are TF.js's own limit at every rank (batch_matmul_broadcast pass)
        for lhs_batch, rhs_batch in ((batch, batch), (batch, (1, 1, *batch[2:]))):
            found.append(Case("BatchMatMulV2", [("x", sample(F32, (*lhs_batch, 3, 4), 91), True),
                                                ("y", sample(F32, (*rhs_batch, 4, 2), 92), True)],
                              {"adj_x": False, "adj_y": False}, when=when))
    return found


#: Unary ops probed at ranks 5-8 (float32; the domain-limited ones on values inside their domain).
RANK_UNARY = [*[op for op in UNARY if op not in ("Softmax", "LogSoftmax")], "Acos", "Asin", "Atanh", "Acosh", "Cosh",
              "Sinh", "Tan", "Expm1", "Log1p", "IsInf", "IsFinite"]
_UNIT_DOMAIN = {"Acos", "Asin", "Atanh"}
_FEATURES = {"Relu", "Relu6", "Elu", "Selu", "Softplus", "LeakyRelu"}  # raw_ops's name of their input
#: Binary ops the high-rank cases above leave out, with their numpy definitions (TF's CPU broadcasting stops at
#: 5 collapsed dimensions, so a rank-7 broadcast needs one).
RANK_BINARY = {"FloorMod": np.mod, "NotEqual": np.not_equal, "Less": np.less, "Greater": np.greater,
               "LessEqual": np.less_equal, "GreaterEqual": np.greater_equal, "Atan2": np.arctan2, "Mod": np.fmod,
               "LogicalAnd": np.logical_and, "LogicalOr": np.logical_or}
#: Sizes of the rank-coverage cases: every rank 5-8 has more than 128 elements, or webgl hands small tensors to
#: its CPU kernels and the shader a bigger tensor runs is never tried.
RANK_SHAPE = (2, 3, 4, 3, 2, 2, 2, 2)


def rank_coverage_cases() -> list[Case]:
    """Every op a converted model commonly holds, at ranks 5-8: an op never run at a rank is not known to run there.

    ``high_rank_cases`` covers the broadcasting, shape and reduction ops a rank-7 graph first showed wrong; a rank-7
    ``Fill``/``LogicalOr`` (a bool ``BroadcastTo`` rewritten by the empty_broadcast pass) then crashed webgl with no
    limit recorded. These run the rest (unary and binary elementwise, logical, comparison, Select, Fill, Reshape-like,
    Pack/Unpack/Split, reductions, Gather/Scatter, OneHot, Cumsum, Softmax ...) in the same two rank classes; the
    probe file's ``coverage`` records the highest rank each op ran at, and the generator refuses an op at rank ≥ 7
    on a backend it never ran there (``scripts/generate_backend_contract.py``, ``unprobed_rank_limits``).
    """
    import tensorflow as tf

    found: list[Case] = []
    for rank in (5, 6, 7, 8):
        when = {"maxrank:5": ["true"], f"maxrank:{HIGH_RANK}": [json.dumps(rank >= HIGH_RANK)]}
        shape = RANK_SHAPE[:rank]
        x = sample(F32, shape, 100 + rank)
        for op in RANK_UNARY:
            if op in _UNIT_DOMAIN:
                arg = np.tanh(x) * 0.9
            elif op == "Acosh":
                arg = np.abs(x) + 1.1
            elif op == "Log1p":  # below -1 is a value quirk (webgl gives a number, TF NaN), not a rank limit
                arg = np.abs(x) - 0.5
            else:
                arg = sample(F32, shape, 100 + rank, positive=op in POSITIVE)
            name = "features" if op in _FEATURES else "input" if op == "Identity" else "x"
            found.append(Case(op, [(name, arg.astype(np.float32), True)], when={**when, "input:0": [F32]}))
        found.append(Case("LogicalNot", [("x", sample(BOOL, shape, 101), True)], when={**when, "input:0": [BOOL]}))
        for op in ("Softmax", "LogSoftmax"):  # TF's CPU (oneDNN) Softmax stops at rank 5: rows of a 2-D view
            found.append(Case(op, [("logits", x, True)], when=when, tf_equivalent=lambda op=op, x=x: tf.reshape(
                getattr(tf.raw_ops, op)(logits=tf.reshape(x, (-1, x.shape[-1]))), x.shape)))
        both = (_ones_at(shape, (0, rank - 2)), _ones_at(shape, (1, rank - 1)))
        for op, fn in RANK_BINARY.items():
            dt = BOOL if op.startswith("Logical") else F32
            for xs, ys in ((shape, shape), both):
                a = sample(dt, xs, 102)
                b = sample(dt, ys, 103, positive=op in ("FloorMod", "Mod"))
                if dt == F32 and op not in ("Atan2", "FloorMod", "Mod"):  # whole numbers: some elements equal
                    a, b = np.round(a), np.round(b)
                found.append(Case(op, [("x", a, True), ("y", b, True)], when={**when, "input:0": [dt]},
                                  spec=lambda f=fn, a=a, b=b: np.asarray(f(a, b))))
        for op in ("Maximum", "Minimum"):  # same shapes (high_rank_cases broadcasts them)
            found.append(Case(op, [("x", x, True), ("y", sample(F32, shape, 104), True)], when={**when, "input:0": [F32]}))
        for dt in (F32, BOOL, I32):
            found.append(Case("SelectV2", [("condition", sample(BOOL, shape, 105), True), ("t", sample(dt, shape, 106), True),
                                           ("e", sample(dt, shape, 107), True)], when={**when, "input:1": [dt]}))
            found.append(Case("Select", [("condition", sample(BOOL, shape, 108), True), ("x", sample(dt, shape, 109), True),
                                         ("y", sample(dt, shape, 110), True)], when={**when, "input:1": [dt]}))
            found.append(Case("Fill", [("dims", np.array(shape, np.int32), False),
                                       ("value", np.array(0 if dt != F32 else 1.5, _NP[dt]), False)],
                              when={**when, "input:1": [dt]}))
            found.append(Case("Fill", [("dims", np.array(shape, np.int32), True),
                                       ("value", np.array(1, _NP[dt]), False)], when={**when, "input:1": [dt]}))
            y = sample(dt, shape, 111)
            found += [
                Case("Reshape", [("tensor", y, True), ("shape", np.array(shape[::-1], np.int32), False)],
                     when={**when, "input:0": [dt]}),
                Case("ExpandDims", [("input", y[..., 0], True), ("axis", np.array(2, np.int32), False)],
                     when={**when, "input:0": [dt]}),
                Case("Squeeze", [("input", y[:1], True)], {"squeeze_dims": [0]}, when={**when, "input:0": [dt]}),
                Case("Pack", [("values", [y[0], y[1]], True)], {"axis": 1}, when={**when, "input:0": [dt]}),
                Case("Unpack", [("value", y, True)], {"num": shape[1], "axis": 1}, output=1,
                     when={**when, "input:0": [dt]}),
                Case("Split", [("axis", np.array(2, np.int32), False), ("value", y, True)], {"num_split": 2}, output=1,
                     when={**when, "input:1": [dt]}),
                Case("SplitV", [("value", y, True), ("size_splits", np.array([1, -1], np.int32), False),
                                ("axis", np.array(1, np.int32), False)], {"num_split": 2}, output=1,
                     when={**when, "input:0": [dt]}),
                Case("ConcatV2", [("values", [y, y], True), ("axis", np.array(rank - 1, np.int32), False)],
                     when={**when, "input:0": [dt]}),
                Case("Transpose", [("x", y, True), ("perm", np.array(list(range(rank))[::-1], np.int32), False)],
                     when={**when, "input:0": [dt]}),
                Case("Tile", [("input", y, True), ("multiples", np.array([2, *[1] * (rank - 1)], np.int32), False)],
                     when={**when, "input:0": [dt]}),
                Case("Slice", [("input", y, True), ("begin", np.array([1, *[0] * (rank - 1)], np.int32), False),
                               ("size", np.array([-1, 2, *[-1] * (rank - 2)], np.int32), False)],
                     when={**when, "input:0": [dt]}),
                Case("GatherV2", [("params", y, True), ("indices", np.array([1, 0, 2], np.int32), False),
                                  ("axis", np.array(2, np.int32), False)], when={**when, "input:0": [dt]}),
                Case("GatherNd", [("params", y, True), ("indices", np.array([[1, 2], [0, 0]], np.int32), False)],
                     when={**when, "input:0": [dt]}),
                Case("ScatterNd", [("indices", np.array([[1], [0]], np.int32), False),
                                   ("updates", sample(dt, (2, *shape[1:]), 112), True),
                                   ("shape", np.array(shape, np.int32), False)], when={**when, "input:1": [dt]}),
                Case("BroadcastTo", [("input", sample(dt, _ones_at(shape, (0, 2)), 113), True),
                                     ("shape", np.array(shape, np.int32), False)], when={**when, "input:0": [dt]}),
                Case("ZerosLike", [("x", y, True)], when={**when, "input:0": [dt]}),
                Case("OnesLike", [("x", y, True)], when={**when, "input:0": [dt]}),
            ]
        for dt in (F32, I32):
            y = sample(dt, shape, 114)
            found += [
                Case("AddN", [("inputs", [y, y, sample(dt, shape, 115)], True)], when={**when, "input:0": [dt]}),
                Case("ClipByValue", [("t", y, True), ("clip_value_min", np.array(-1, _NP[dt]), False),
                                     ("clip_value_max", np.array(1, _NP[dt]), False)], when={**when, "input:0": [dt]}),
                Case("Cast", [("x", y, True)], {"DstT": BOOL}, when={**when, "input:0": [dt], "attr:DstT": [BOOL]}),
                Case("Pad", [("input", y, True), ("paddings", np.array([[0, 0]] * (rank - 1) + [[1, 1]], np.int32),
                                                   False)], when={**when, "input:0": [dt]}),
                Case("TopKV2", [("input", y, True), ("k", np.array(1, np.int32), False)], when={**when, "input:0": [dt]}),
                Case("MatrixBandPart", [("input", y, True), ("num_lower", np.array(1, np.int32), False),
                                        ("num_upper", np.array(0, np.int32), False)], when={**when, "input:0": [dt]}),
            ]
            for op in ("Cumsum", "Cumprod"):
                found.append(Case(op, [("x", y, True), ("axis", np.array(1, np.int32), False)],
                                  when={**when, "input:0": [dt]}))
            for op in ("Min", "Sum", "Max", "Mean", "Prod", "EuclideanNorm"):
                for axes in ([1, 3], [rank - 1]):
                    found.append(Case(op, [("input", y, True), ("axis", np.array(axes, np.int32), False)],
                                      {"keep_dims": True}, when={**when, "input:0": [dt]}))
            for op in ("ArgMax", "ArgMin"):  # TF's CPU ArgMax stops at rank 7: over a 3-D view of the same axis
                for axis in (1, rank - 1):
                    view = (int(np.prod(shape[:axis])), shape[axis], -1)
                    out = shape[:axis] + shape[axis + 1:]
                    found.append(Case(op, [("input", y, True), ("dimension", np.array(axis, np.int32), False)],
                                      when={**when, "input:0": [dt]},
                                      tf_equivalent=lambda op=op, y=y, view=view, out=out: tf.reshape(getattr(
                                          tf.raw_ops, op)(input=tf.reshape(y, view), dimension=1), out)))
        flags = sample(BOOL, shape, 116)
        for op in ("All", "Any"):
            found.append(Case(op, [("input", flags, True), ("axis", np.array([1, rank - 1], np.int32), False)],
                              {"keep_dims": False}, when={**when, "input:0": [BOOL]}))
        found.append(Case("Where", [("condition", flags, True)], when={**when, "input:0": [BOOL]}))
        found.append(Case("Cast", [("x", flags, True)], {"DstT": F32}, when={**when, "input:0": [BOOL]}))
        found.append(Case("ReverseV2", [("tensor", x, True), ("axis", np.array([rank - 1], np.int32), False)], when=when))
        indices = np.random.default_rng(117).integers(0, 3, size=shape[:-1]).astype(np.int32)
        found.append(Case("OneHot", [("indices", indices, True), ("depth", np.array(3, np.int32), False),
                                     ("on_value", np.array(1.5, np.float32), False),
                                     ("off_value", np.array(-1, np.float32), False)], {"axis": -1},
                          when={**when, "input:2": [F32]}))
        found.append(Case("SparseToDense", [("sparse_indices", np.array([[0] * rank, [1] * rank], np.int32), False),
                                            ("output_shape", np.array(shape, np.int32), False),
                                            ("sparse_values", sample(F32, (2,), 118), True),
                                            ("default_value", np.array(0, np.float32), False)], when=when))
        found.append(Case("TensorScatterUpdate", [("tensor", x, True), ("indices", np.array([[1], [0]], np.int32), False),
                                                  ("updates", sample(F32, (2, *shape[1:]), 119), True)], when=when))
        found.append(Case("SquaredDifference", [("x", x, True), ("y", sample(F32, shape, 120), True)],
                          when={**when, "input:0": [F32]}))
    return found


# -- running ------------------------------------------------------------------------------------
class ProbeCaseError(Exception):
    """A case that calls ``tf.raw_ops`` wrongly (a keyword the op does not have): a bug of the probe, not a limit.

    It is not a ``LookupError``, so it is never counted as "TF cannot run it": the run stops, loudly."""


def tf_arguments(case: Case) -> dict[str, tuple[Any, bool]]:
    """The ``tf.raw_ops`` keywords of a case (not its NHWC reference or TF equivalent): name -> (value, is an input).

    Type attrs TF infers from the inputs (``T``, ``N``) are left out, as raw_ops refuses them."""
    from tensorflow.python.framework import op_def_registry

    op_def = op_def_registry.get(TF_OP_NAMES.get(case.op, case.op))
    inferred = {arg.type_attr for arg in op_def.input_arg if arg.type_attr} | {
        arg.number_attr for arg in op_def.input_arg if arg.number_attr} if op_def is not None else set()
    found: dict[str, tuple[Any, bool]] = {name: (array, True) for name, array, _ in case.inputs}
    for key, value in case.attrs.items():
        if case.op == "Squeeze" and key == "squeeze_dims":  # raw_ops's name of the GraphDef attr
            key = "axis"
        if key not in inferred:
            found[key] = (value, False)
    return found


def argument_errors(case: Case) -> list[str]:
    """What in the case's keywords ``tf.raw_ops.<op>``'s signature lacks or needs (empty: TF can be called)."""
    import inspect

    import tensorflow as tf

    function = getattr(tf.raw_ops, TF_OP_NAMES.get(case.op, case.op), None)
    if function is None:
        return [f"tf.raw_ops has no {case.op}"]
    parameters = inspect.signature(function).parameters
    given = tf_arguments(case)
    problems = [f"tf.raw_ops.{case.op} has no argument {name!r} (it takes {', '.join(parameters)})"
                for name in given if name not in parameters]
    problems += [f"tf.raw_ops.{case.op} needs argument {name!r}" for name, parameter in parameters.items()
                 if parameter.default is inspect.Parameter.empty and name not in given]
    return problems


def tf_reference(case: Case) -> np.ndarray:
    import tensorflow as tf

    if case.reference is not None:
        base, perm = case.reference
        return np.transpose(tf_reference(base), perm)
    if case.tf_equivalent is not None:
        with tf.device("/CPU:0"):
            return np.asarray(case.tf_equivalent())
    problems = argument_errors(case)
    if problems:
        raise ProbeCaseError(f"{case.label}: {'; '.join(problems)}")
    kwargs = {key: ([tf.constant(a) for a in value] if isinstance(value, list) else tf.constant(value))
              if is_input else (tf.as_dtype(value) if key in ("DstT", "out_type") else value)
              for key, (value, is_input) in tf_arguments(case).items()}
    with tf.device("/CPU:0"):
        out = getattr(tf.raw_ops, case.op)(**kwargs)
    if isinstance(out, (list, tuple)):
        out = out[case.output]
    return out.numpy()


def ir_graph(case: Case) -> tuple[Any, dict[str, np.ndarray]]:
    """The case as a one-op IR graph (type attrs from the inputs, as TF would set them) and its feeds."""
    from tensorflow.python.framework import op_def_registry

    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph

    op_def = op_def_registry.get(TF_OP_NAMES.get(case.op, case.op))
    if op_def is None:  # an op only tfjsconv emits (Prelu): inputs in the case's order, T from the first
        return _plain_graph(case)
    g = Graph(case.op)
    feeds: dict[str, np.ndarray] = {}
    values = []
    attrs: dict[str, Any] = {k: (DType.from_any(v) if k in ("DstT", "out_type") else v) for k, v in case.attrs.items()}
    args = {arg.name: arg for arg in op_def.input_arg}
    order = list(args)  # GraphDef order; raw_ops may rename an arg (Sum's axis is reduction_indices)
    ordered = sorted(enumerate(case.inputs), key=lambda item: order.index(item[1][0]) if item[1][0] in order else item[0])
    for position, (name, array, fed) in ordered:
        if name not in args:
            name = order[position]
        arrays = array if isinstance(array, list) else [array]
        for i, a in enumerate(arrays):
            key = f"{name}_{i}" if isinstance(array, list) else name
            if fed:
                values.append(g.placeholder(key, DType.from_any(a.dtype), tuple(a.shape)))
                feeds[key] = a
            else:
                values.append(g.const(a, name=key))
        arg = args[name]
        if arg.type_attr:
            attrs.setdefault(arg.type_attr, DType.from_any(arrays[0].dtype))
        if arg.number_attr:
            attrs[arg.number_attr] = len(arrays)
    for attr in op_def.attr:  # defaults the converter would otherwise lack (Cast's Truncate ...)
        if attr.name not in attrs and attr.HasField("default_value") and attr.type in ("bool", "int", "float", "string"):
            field = {"bool": "b", "int": "i", "float": "f", "string": "s"}[attr.type]
            value = getattr(attr.default_value, field)
            attrs[attr.name] = value.decode() if isinstance(value, bytes) else value
    outputs = sum(int(attrs.get(arg.number_attr, 1)) if arg.number_attr else 1 for arg in op_def.output_arg)
    node = g.add_node(case.op, values, attrs, name="probe", num_outputs=outputs)
    g.set_output("y", node.output(case.output))
    return g, feeds


def _plain_graph(case: Case) -> tuple[Any, dict[str, np.ndarray]]:
    """A one-op graph of an op TF has no op def for (so no arg order or type attrs to read)."""
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph

    g = Graph(case.op)
    feeds: dict[str, np.ndarray] = {}
    values = []
    for name, array, fed in case.inputs:
        if fed:
            values.append(g.placeholder(name, DType.from_any(array.dtype), tuple(array.shape)))
            feeds[name] = array
        else:
            values.append(g.const(array, name=name))
    node = g.add_node(case.op, values, {"T": DType.from_any(case.inputs[0][1].dtype), **case.attrs}, name="probe")
    g.set_output("y", node.output(0))
    return g, feeds


def compare(expected: np.ndarray, actual: np.ndarray) -> str | None:
    """None if equal within the float32 bar (exact for ints/bools), else what differs."""
    if tuple(expected.shape) != tuple(actual.shape):
        return f"shape {tuple(actual.shape)} instead of {tuple(expected.shape)}"
    if expected.dtype.kind in "iu" and actual.dtype.kind == "f":  # an int op answering in float32
        return f"wrong answer: dtype {actual.dtype} instead of an integer dtype"
    if expected.dtype.kind in "OSU":  # string tensors: equal bytes
        as_bytes = np.vectorize(lambda x: x.encode() if isinstance(x, str) else bytes(x), otypes=[object])
        exp_b, act_b = as_bytes(expected).reshape(-1).tolist(), as_bytes(actual).reshape(-1).tolist()
        return None if exp_b == act_b else f"wrong answer: {act_b[:4]} for {exp_b[:4]}"
    exp = expected.astype(np.float64)
    act = actual.astype(np.float64)
    same_nan = np.isnan(exp) == np.isnan(act)
    exp, act = np.nan_to_num(exp, nan=0.0), np.nan_to_num(act, nan=0.0)
    if expected.dtype.kind in "fc":
        err = float(np.max(np.abs(exp - act), initial=0.0))
        ok = err <= ATOL + RTOL * float(np.max(np.abs(exp), initial=0.0)) and same_nan.all()
    else:
        ok = np.array_equal(exp, act)
        err = float(np.max(np.abs(exp - act), initial=0.0))
    if ok:
        return None
    return f"wrong answer: max |error| {err:.3g} vs TF (e.g. {act.reshape(-1)[:4].tolist()} for {exp.reshape(-1)[:4].tolist()})"


def run_case(case: Case, backends: list[str], session: Any = None) -> dict[str, str | None]:
    """backend -> None (matches TF) or a one-line failure; raises LookupError if TF cannot run it."""
    import tfjsconv
    from tfjsconv.errors import TfjsconvError

    try:
        expected = tf_reference(case)
    except ProbeCaseError:
        raise
    except TypeError as err:  # a Python call error (a keyword raw_ops lacks), not TF refusing a dtype: a probe bug
        raise ProbeCaseError(f"{case.label}: {err}") from err
    except Exception as err:  # TF has no CPU kernel for this dtype/attr: nothing to compare against
        if case.spec is not None and type(err).__name__ == "UnimplementedError":  # "Broadcast ... not supported yet"
            expected = case.spec()
        else:
            why = (str(err).strip().splitlines() or [""])[0]
            raise LookupError(f"TF cannot run {case.label}: {type(err).__name__}: {why[:160]}") from err
    arrays = [a for _, array, _ in case.inputs for a in (array if isinstance(array, list) else [array])]
    case.probed_rank = max([np.ndim(expected), *(np.ndim(a) for a in arrays)])
    graph, feeds = ir_graph(case)
    outcome: dict[str, str | None] = {}
    with tempfile.TemporaryDirectory(prefix="tfjsconv-probe-") as tmp:
        out = Path(tmp) / "model"
        # every pass off (the required NCHW/Einsum rewrites too): the kernel as the op asks for it is measured
        try:
            tfjsconv.convert(graph, out, skip_op_check=True, optimization_level=0, target_backends=["cpu"],
                             skip_passes=_all_passes())
        except TfjsconvError as err:  # not a backend's limit: the converter's own refusal
            raise LookupError(f"tfjsconv refuses {case.label}: {str(err).splitlines()[0][:120]}") from err
        node_backends = [b for b in backends if b != "webgl"]
        runs = _node_runs(out, feeds, node_backends)
        if "webgl" in backends and session is not None:
            from tfjsconv.serve.browser import run_backends_in_browser

            # deliberate: WEBGL_CPU_FORWARD off, so webgl runs its shader even for small CPU-resident inputs (on,
            # TF.js's default, it runs many kernels on its CPU code for inputs under 128 elements; in a real model
            # most tensors come from earlier shaders, so the shader is what a conversion meets)
            runs.update(run_backends_in_browser(out, feeds, backends=("webgl",), session=session,
                                                flags=WEBGL_FLAGS)[0])
        for backend in backends:
            run = runs[backend]
            if not run.ok:
                outcome[backend] = "throws: " + (run.error or "?").strip().splitlines()[0][:200]
            else:
                actual = next(iter(run.outputs.values()))
                if case.order_free:
                    expected, actual = np.sort(expected, axis=-1), np.sort(actual, axis=-1)
                outcome[backend] = compare(expected, actual)
    return outcome


def _node_runs(model: Path, feeds: dict[str, np.ndarray], backends: list[str]) -> dict[str, Any]:
    """backend -> run under Node; a kernel that crashes the runner itself (wasm's out-of-bounds access) or
    answers a shape holding null (cpu's int32 Cumsum) is retried one backend at a time, and reported as throwing."""
    from tfjsconv.verify.run import BackendRun, TfjsRunError, run_model

    if not backends:
        return {}
    try:
        return dict(run_model(model, feeds, backends=backends, quiet=True).backends)
    except (TfjsRunError, TypeError, ValueError):
        pass
    runs: dict[str, Any] = {}
    for backend in backends:
        try:
            runs.update(run_model(model, feeds, backends=[backend], quiet=True).backends)
        except (TfjsRunError, TypeError, ValueError) as err:
            runs[backend] = BackendRun(backend, ok=False, error=f"the runner failed: {str(err).splitlines()[0]}")
    return runs


def _all_passes() -> list[str]:
    from tfjsconv.plugin_manager import get_plugin_manager

    return [p.name for p in get_plugin_manager().registry.passes if not getattr(p, "required", False)]


def to_limits(results: list[tuple[Case, dict[str, str | None]]], *, quirks: bool = False) -> list[dict[str, Any]]:
    """The failures as limits (``quirks=True``: the value-dependent ones, with the case that shows them)."""
    limits = []
    for case, outcome in results:
        for backend, failure in sorted(outcome.items()):
            if failure is None or case.quirk != quirks:
                continue
            if quirks:
                limits.append({"op": case.op, "backend": backend, "case": case.label, "reason": failure})
                continue
            if any(l["op"] == case.op and l["backend"] == backend and l["when"] == case.when for l in limits):
                continue  # two cases of one selector class (two sizes): one limit
            limits.append({"op": case.op, "backend": backend, "when": case.when,
                           "outcome": "throws" if failure.startswith("throws") else "wrong",
                           "reason": failure})
    return limits


def coverage(results: list[tuple[Case, dict[str, str | None]]]) -> dict[str, dict[str, int]]:
    """op -> backend -> the highest rank a case of the op ran at there (throwing or wrong counts: it is a limit).

    The generator refuses an op at rank >= 7 on a backend where this is below 7: never run there is never known."""
    found: dict[str, dict[str, int]] = {}
    for case, outcome in results:
        for backend in outcome:
            ranks = found.setdefault(case.op, {})
            ranks[backend] = max(ranks.get(backend, 0), case.probed_rank)
    return {op: dict(sorted(found[op].items())) for op in sorted(found)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webgl", action="store_true", help="also probe webgl in headless Chromium")
    parser.add_argument("--only", help="comma-separated ops to probe (default: all)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--merge", action="store_true",
                        help="with --only: replace only those ops' limits in an existing --output")
    parser.add_argument("--high_ranks", action="store_true",
                        help="only the rank 5-8 cases (with --merge: replaces only the rank-class limits)")
    parser.add_argument("--low_ranks", action="store_true",
                        help="only the cases that are not rank 5-8 ones (with --merge: keeps the rank-class limits)")
    args = parser.parse_args(argv)
    if args.high_ranks and args.low_ranks:
        parser.error("--high_ranks and --low_ranks exclude each other")
    sys.path.insert(0, str(REPO_ROOT))
    backends = ["cpu", "wasm"] + (["webgl"] if args.webgl else [])
    selected = [c for c in cases() if (not args.only or c.op in args.only.split(","))
                and (not args.high_ranks or "maxrank:5" in c.when)
                and (not args.low_ranks or "maxrank:5" not in c.when)]
    session = None
    if args.webgl:
        from tfjsconv.serve.browser import BrowserSession

        session = BrowserSession(timeout=120)
    results, skipped = [], []
    try:
        for i, case in enumerate(selected, 1):
            try:
                outcome = run_case(case, backends, session)
            except LookupError as err:
                skipped.append(str(err))
                print(f"[{i}/{len(selected)}] skipped: {err}", flush=True)
                continue
            results.append((case, outcome))
            bad = {b: f for b, f in outcome.items() if f}
            print(f"[{i}/{len(selected)}] {case.label}: {bad or 'ok'}", flush=True)
    finally:
        if session is not None:
            session.close()
    limits, quirks, ranks = to_limits(results), to_limits(results, quirks=True), coverage(results)
    header = {"generator": "scripts/probe_backends.py", "backends": backends,
              "cases_run": len(results), "cases_skipped_tf_cannot_run": len(skipped),
              "reference": "tf.raw_ops on CPU (NCHW cases: the NHWC op, transposed)"}
    if args.merge and args.only and args.output.is_file():
        old = json.loads(args.output.read_text(encoding="utf-8"))
        only = set(args.only.split(","))
        # a backend not probed this run (webgl without --webgl) keeps its limits for those ops
        high_rank = lambda entry: "maxrank:5" in entry.get("when", {}) or "maxrank:5=" in entry.get("case", "")  # noqa: E731
        rerun = lambda entry: entry["op"] in only and entry["backend"] in backends and (  # noqa: E731
            not args.high_ranks or high_rank(entry)) and (not args.low_ranks or not high_rank(entry))
        limits = [limit for limit in old["limits"] if not rerun(limit)] + limits
        quirks = [quirk for quirk in old.get("quirks", []) if args.high_ranks or not rerun(quirk)] + quirks
        header = dict(old["header"], merged_ops=sorted(set(old["header"].get("merged_ops", [])) | only))
        for op, per_backend in old.get("coverage", {}).items():  # the same: a backend not probed keeps its ranks
            kept = {b: r for b, r in per_backend.items()
                    if op not in only or b not in backends or args.high_ranks or args.low_ranks}
            new = ranks.get(op, {})
            ranks[op] = dict(sorted({**kept, **{b: max(r, kept.get(b, 0)) for b, r in new.items()}}.items()))
        ranks = {op: ranks[op] for op in sorted(ranks)}
    limits.sort(key=lambda l: (l["op"], l["backend"], json.dumps(l["when"], sort_keys=True)))
    quirks.sort(key=lambda q: (q["op"], q["backend"], q["case"]))
    document = {"header": header, "limits": limits, "quirks": quirks, "coverage": ranks}
    args.output.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}: {len(document['limits'])} limits from {len(results)} cases "
          f"({len(skipped)} skipped: TF cannot run them)")
    for reason in skipped:  # each one a dtype/attr TF's CPU kernels refuse; a wrong call stops the run instead
        print(f"  skipped: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
