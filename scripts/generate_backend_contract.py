#!/usr/bin/env python3
"""Regenerate ``core/ops/data/tfjs_backends.json``: what each TF.js 4.22 backend can run.

Why generated: a model that loads but then crashes on wasm is worse than a refusal, and the only
trustworthy list of what a backend runs is the backend package itself. Three parts, each marked in
the file by where it comes from:

1. ``backends`` (generated): the kernels each backend registers. Node imports ``@tensorflow/tfjs``
   (which registers the cpu and webgl kernels) and ``@tensorflow/tfjs-backend-wasm`` from the verify
   runtime and asks ``tf.getKernelsForBackend(name)``: exactly what the packages' own
   ``register_all_kernels`` lists put in the registry.
2. ``ops`` (generated, with a reviewed table): graph op -> kernels it dispatches to. The
   tfjs-converter executors (``dist/operations/executors/*.js``) are read statically: every
   ``case 'Op':`` block's ``ops.fn(...)`` calls are followed into ``@tensorflow/tfjs-core``'s
   ``dist/ops`` modules, through the op functions each module imports and calls, to the
   ``ENGINE.runKernel(Kernel, ...)`` calls. Kernels only gradients use (``*Grad``, ``*Backprop*``,
   unless the graph op is itself one) are dropped. ``CONDITIONAL_KERNELS`` below is the reviewed
   table of kernels a module reaches only under a dtype condition (``abs`` runs ``ComplexAbs`` only for
   complex64): those become dtype-conditioned requirements instead of unconditional ones.
3. ``limits`` (probed and curated): dtype and attribute limits no package states.
   ``scripts/probe_backends.py`` runs ops on each backend and commits its findings to
   ``core/ops/data/tfjs_backend_probe.json``; the generator copies them in. ``CURATED_LIMITS`` holds
   the few that come from reading the kernel sources, each with its reason. ``string_limits`` derives
   (``source: derived``) which graph ops tfjs-core refuses string tensors for: their op functions convert
   every tensor argument as numeric (``convertToTensor(x, 'x', 'reverse')``).
4. ``backends.webgpu`` (generated, registrations only): the kernels ``@tensorflow/tfjs-backend-webgpu``
   registers, read under Node from the package (installed once into the tfjsconv cache, or
   ``--webgpu_runtime``). It cannot run headless here, so it has no probe column; its limits
   (``source: inferred``) are those cpu, wasm and webgl all share.
5. ``limits`` with ``source: unprobed`` (derived from the probe file's ``coverage``): an op the probe never ran
   at rank 7 or more on a backend is refused there at that rank (``outcome: unprobed``). webgl's shader compiler
   stops at rank 6 ("GPU for rank 7 is not yet supported") and wasm's float32 binary kernels are wrong from rank
   7: an op not run there is not known to run, and a silent pass is how a rank-7 ``Fill``/``LogicalOr`` crashed
   webgl. ``unprobed_rank_limits`` below; the ops the executor answers without a kernel are exempt.
6. ``deviations`` (curated): special-value differences (NaN/±Inf, int32 past 2^24) the TF op conformance
   run measured, from ``_DEVIATION_ROWS`` below. Conversions name them in one line and
   ``--exact_special_values`` rewrites those marked exact (docs/backends.md, "Special values").

Usage::

    python scripts/generate_backend_contract.py            # uses the verify runtime
    python scripts/generate_backend_contract.py --check    # exit 1 if the committed file is stale
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "core" / "ops" / "data" / "tfjs_backends.json"
PROBE_FILE = REPO_ROOT / "core" / "ops" / "data" / "tfjs_backend_probe.json"
BACKENDS = ("cpu", "wasm", "webgl")
VERSION = "4.22.0"
#: A backend known only by its kernel registrations: ``@tensorflow/tfjs-backend-webgpu`` installs and
#: registers its kernels under Node, but nothing here can run it (no WebGPU adapter headless), so it has
#: no probe column. Not a default target; ``--target_backends=webgpu`` checks against this list.
WEBGPU = "webgpu"
WEBGPU_PACKAGE = "@tensorflow/tfjs-backend-webgpu"

#: Reviewed: (tfjs-core op module, kernel) pairs that run only for complex64 tensors (``abs`` runs
#: ``ComplexAbs``, ``zeros``/``ones`` build a ``Complex``, ``transpose`` splits into ``Real``/``Imag``).
#: Without this the static walk would say ``Abs``, ``Transpose``, ``MatrixBandPart`` ... need kernels wasm
#: lacks and refuse them all; with it they become ``conditional_kernels`` (needed when the node has a
#: complex64 input or dtype attr).
CONDITIONAL_KERNELS: dict[tuple[str, str], str] = {
    # (module, kernel it runs or module it calls): everything reached that way is conditional
    ("abs", "ComplexAbs"): "complex64",
    ("zeros", "complex"): "complex64",
    ("ones", "complex"): "complex64",
    ("transpose", "complex"): "complex64",
    ("transpose", "real"): "complex64",
    ("transpose", "imag"): "complex64",
}

#: Reviewed limits read from the kernel sources (the probe confirms what it can run).
CURATED_LIMITS: list[dict[str, Any]] = [
    {"op": "Conv2D", "backend": "wasm", "when": {"attr:data_format": ["NCHW"]}, "outcome": "throws",
     "reason": "the wasm Conv2D kernel supports only NHWC (tfjs-backend-wasm kernels/Conv2D.ts)"},
    {"op": "_FusedConv2D", "backend": "wasm", "when": {"attr:data_format": ["NCHW"]}, "outcome": "throws",
     "reason": "the wasm FusedConv2D kernel supports only NHWC (tfjs-backend-wasm kernels/FusedConv2D.ts)"},
    # the strided_slice pass rewrites new_axis + shrink with constant begin/end/strides; what is left
    # (computed begin/end/strides) TF.js reads wrongly on every backend (tests/test_tf_rewrites.py)
    *({"op": "StridedSlice", "backend": backend,
       "when": {"nonzero:new_axis_mask": ["true"], "nonzero:shrink_axis_mask": ["true"]}, "outcome": "wrong",
       "reason": "new_axis_mask with shrink_axis_mask reads the wrong elements (x[None, 1, ::2]); "
                 "the strided_slice pass rewrites it when begin/end/strides are constant"}
      for backend in BACKENDS),
    # measured in headless Chromium by the Keras conformance run (bench/conformance/keras_layers.py --webgl:
    # ZeroPadding3D, Keras 3's zero-stuffed Conv3DTranspose): webgl's pad and mirrorPad shaders (packed and
    # unpacked) do not compile for rank 5 and up; TF.js throws at the first predict
    *({"op": op, "backend": "webgl", "when": {"rank:0": ["5", "6", "7", "8"]}, "outcome": "throws",
       "reason": "webgl's pad shader fails to compile for rank 5 and up ('Failed to compile fragment shader')"}
      for op in ("Pad", "PadV2", "MirrorPad")),
    # measured in headless Chromium (bench/conformance/tf_ops.py --webgl, and one-op graphs at ranks 4-7):
    # webgl's Reverse program stops at rank 4; its StridedSlice program (non-unit strides; unit strides are a
    # plain slice) fails to compile from rank 5 (for some shapes only: (2,3,2,3,4) with strides (1,1,1,2,3)); its
    # MaxPoolWithArgmax returns the indices as float32; its CropAndResize gets flipped boxes and boxes reaching
    # outside the image wrong
    {"op": "ReverseV2", "backend": "webgl", "when": {"rank:0": ["5", "6", "7", "8"]}, "outcome": "throws",
     "reason": "webgl's reverse supports rank 4 at most ('Reverse of rank-5 tensor is not yet supported')"},
    {"op": "StridedSlice", "backend": "webgl", "when": {"rank:0": ["5", "6", "7", "8"], "nonunit:3": ["true"]},
     "outcome": "throws", "reason": "webgl's strided-slice shader fails to compile for rank 5 and up with "
                                   "non-unit strides ('Failed to compile fragment shader')"},
    # tfjs-backend-wasm kernels/Cast.ts copies the values into the bool (Uint8) buffer (outVals.set(inVals)):
    # measured (tests/test_cast_to_bool_s23.py) int32 2 -> a "bool" 2 (Cast back to float: 2.0), -1 -> 255,
    # 256 and INT32_MIN -> false. The probe's float32 -> bool row is the same kernel. The cast_to_bool pass
    # rewrites both as NotEqual(x, 0)
    {"op": "Cast", "backend": "wasm", "when": {"input:0": ["int32"], "attr:DstT": ["bool"]}, "outcome": "wrong",
     "reason": "wasm copies int32 values into the bool buffer without != 0 (2 stays 2, 256 becomes false); "
               "the cast_to_bool pass rewrites it as NotEqual(x, 0)"},
    {"op": "MaxPoolWithArgmax", "backend": "webgl", "when": {}, "outcome": "wrong",
     "reason": "webgl returns the argmax indices as float32, not int32"},
    {"op": "CropAndResize", "backend": "webgl", "when": {}, "outcome": "wrong",
     "reason": "webgl gives a constant for flipped boxes (y1 > y2) and wrong edge values for boxes reaching "
               "outside the image (box values are known only at run time)"},
]

_KERNEL_SNIPPET = r"""
import { createRequire } from 'node:module';
const require = createRequire(process.argv[2] + '/package.json');
console.log = console.error; console.warn = console.error; console.info = console.error;
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const out = { versions: { tfjs: tf.version.tfjs } };
for (const name of process.argv.slice(3)) {
  out[name] = tf.getKernelsForBackend(name).map(k => k.kernelName).sort();
}
process.stdout.write(JSON.stringify(out));
"""


#: Value-dependent wrong answers (NaN/±Inf, int32 past 2^24, huge trig arguments) measured by the TF op
#: conformance run (``bench/conformance/tf_ops.py``; the ``cases`` it shows them in). No dtype/attr
#: selector can refuse them, so they are not limits: a conversion names them in one line, and
#: ``--exact_special_values`` rewrites those marked ``exact`` (``core/passes/special_values.py``).
#: ``dtype``: the input dtype the deviation needs. webgl rows come from ``tf_ops.py --webgl`` (headless Chromium,
#: SwiftShader): webgl holds int32 as float32, its shaders special-case NaN/Inf their own way, and its GLSL
#: sin/cos are ~2e-4 off (a GPU-dependent precision, also in its FFTs).
#: Shared by the cpu/wasm and webgl rows of session 16's NaN sweep (the same kernels' rule on every backend).
_LRN_NAN = ("a NaN or ±Inf makes NaN of the channels outside its window in TF (its CPU kernel sums the squares "
            "through a band matrix: 0·Inf), TF.js sums the window only")
_NMS_NAN = ("a box with a NaN coordinate is never selected; TF may select it (and then suppress others or not: "
            "TF [3, 1, 2], TF.js [3, 2, 5])")
_NMS_OPS = ("NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5")
_UPPER_NAN = "a NaN value gives 0; TF gives the row length (nothing is greater than NaN)"
_UNIQUE_NAN = ("every NaN is merged into one element (TF.js keys the values by their text); TF keeps each NaN apart "
               "(NaN != NaN): [NaN, 1, NaN] gives [NaN, 1], TF [NaN, 1, NaN]")
_RESIZE_SAME_SIZE = "a resize to the input's own size turns ±Inf into NaN (0·Inf); TF copies the input"


def _nms_cases(op: str) -> str:
    """The one NMS version with a NaN conformance case (the others share its kernel)."""
    return "NonMaxSuppressionV3/nan_boxes" if op == "NonMaxSuppressionV3" else ""


_WEBGL_ROWS_F32 = [  # (op, what webgl gives vs TF, rewritten exactly, cases)
    ("ArgMax", "picks a NaN ([NaN, 0, 0] -> 0); TF never picks NaN (-> 1)", True, "ArgMax/nan ArgMax/nan_neg_inf_rows"),
    ("ArgMin", "picks a NaN ([NaN, 0, 0] -> 0); TF never picks NaN (-> 1)", True, "ArgMin/nan ArgMin/nan_pos_inf_rows"),
    ("ClipByValue", "a value sharing a packed texel with a NaN is not clipped (clip([5, NaN], -1, 1.5) gives 5, so "
     "clip(-1e30, -2, 3) beside a NaN gives -1e30); a NaN bound throws; TF clips it and ignores a NaN bound", True,
     "ClipByValue/f32_scalar_bounds ClipByValue/nan_bounds"),
    ("MaxPool", "its window max starts at -1e20: an all-NaN or all -Inf window gives -1e20; TF gives -FLT_MAX", False,
     "MaxPool/nan_and_neg_inf_windows"),
    ("Pow", "pow(±Inf, y), pow(x, NaN) and pow(-0, negative) differ from C's pow", False,
     "Pow/special Pow/neg_base_frac"),  # not exact: webgl's own pow(NaN/Inf) rules remain after the rewrite
    ("Relu6", "relu6(-Inf) is NaN; TF gives 0", False, "Relu6/special"),
    ("Sign", "sign(NaN) is 0; TF gives NaN", True, "Sign/special"),
    ("Softmax", "a row holding +Inf is all NaN; TF gives NaN at the +Inf, 0 elsewhere", True,
     "Softmax/large_and_inf Softmax/several_inf"),
    ("TopKV2", "ranks NaN below +Inf; TF ranks NaN first", False, "TopKV2/nan_inf"),
    # session 16's NaN sweep (tests/test_signed_nan_sweep.py): as on cpu/wasm, and TensorScatterUpdate
    ("LRN", _LRN_NAN, False, "LRN/nan_inf"),
    *((op, _NMS_NAN, False, _nms_cases(op)) for op in _NMS_OPS),
    ("UpperBound", _UPPER_NAN, False, "UpperBound/nan_values"),
    ("TensorScatterUpdate", "a ±Inf anywhere in the tensor, or a NaN an update overwrites, gives NaN (the shader "
     "mixes old and new as a + t·(b - a)); TF keeps the Inf or gives the update", False,
     "TensorScatterUpdate/inf_overwritten"),
    ("ResizeBilinear", _RESIZE_SAME_SIZE, False, "ResizeBilinear/nan_inf_same_size"),
    ("Relu", "relu(-Inf) is NaN; TF gives 0", False, "Relu/special"),
    ("LeakyRelu", "leaky_relu(NaN) or of ±Inf differs", False, "LeakyRelu/special"),
    ("Elu", "elu(NaN) or of ±Inf differs", False, "Elu/special"),
    ("Selu", "selu(NaN) or of ±Inf differs", False, "Selu/special"),
    ("Softplus", "softplus(NaN) or of ±Inf differs", False, "Softplus/special"),
    ("Sinh", "sinh(NaN) is Inf", False, "Sinh/special"),
    ("Cosh", "cosh(NaN) is Inf", False, "Cosh/special"),
    ("Asinh", "asinh(±1e30) overflows to ±Inf (TF: ±69.8)", False, "Asinh/special"),
    ("Acosh", "acosh(1e30) overflows to Inf (TF: 69.8)", False, "Acosh/special"),
    ("Atanh", "atanh(±1) is finite; TF gives ±Inf", False, "Atanh/special"),
    # the kernel's own row; no case shows it since the log1p pass rewrites float32 Log1p (session 33: both pass)
    ("Log1p", "log1p(x < -1) is a number; TF gives NaN", False, ""),
    # session 19 (tests/test_round_signed_zero_s19.py; one op alone cannot show it: the conformance comparison reads
    # -0 and +0 as the same number, so Round/halves passes): the shader's tie branch gives floor(x) + 1
    ("Round", "round(-0.5) is +0 (its tie branch gives floor(x) + 1 = -1 + 1), and so is round(-0.49999997) on "
     "SwiftShader (x - floor(x) comes out a tie); TF gives -0 (half to even keeps the sign), so 1 / round(x) is +Inf "
     "where TF gives -Inf", True, ""),
    # measured by tests/test_webgl_computed_zero_log.py and Log/special: GLSL log(0) is undefined; SwiftShader
    # gives log(2^-127). With TF.js's default WEBGL_CPU_FORWARD webgl runs its CPU kernel (right) for a small
    # CPU-resident input (under 128 elements); a zero a shader made (a Sum, an Exp of -Inf) or a larger input
    # reaches the shader (the conformance page turns the forwarding off, so it measures the shader)
    ("Log", "log(±0) is -88.03 (log(2^-127)) when the shader runs it: a zero made on the GPU (a Sum of "
     "Exp(-Inf), as in logsumexp of an all -Inf row; x * Log(0) in xlogy) or an input of 128 elements or more; "
     "TF gives -Inf", True, "Log/special"),
    # measured by tf_ops.py --webgl with WEBGL_CPU_FORWARD off (the shader: exp(x) - 1); small inputs still on
    # the CPU run the CPU kernel, which is right
    ("Expm1", "expm1(NaN) is +Inf when the shader runs it (TF: NaN); it computes exp(x) - 1, so expm1(-0) is +0 "
     "and tiny values lose their digits (expm1(±1e-30) is 0)", False, "Expm1/special"),
    ("Div", "x / x is 1 for NaN and ±Inf (and 0 / 0); TF gives NaN", False, "Div/special"),
    ("RealDiv", "x / x is 1 for NaN and ±Inf (and 0 / 0); TF gives NaN", False, "RealDiv/special"),
    ("FloorDiv", "x // x is 1 for NaN and ±Inf; TF gives NaN", False, "FloorDiv/special"),
    ("DivNoNan", "x / x is 1 for NaN and ±Inf; TF gives NaN", False, "DivNoNan/special"),
    ("FloorMod", "mod by ±Inf or of NaN differs", False, "FloorMod/special"),
    ("Mod", "mod by ±Inf or of NaN differs", False, "Mod/special"),
    ("TruncateMod", "mod by ±Inf or of NaN differs", False, "TruncateMod/special"),
    ("Atan2", "atan2 of ±0 and ±Inf pairs differs", False, "Atan2/special"),
    ("EuclideanNorm", "the norm of a row holding NaN is Inf; TF gives NaN", False, "EuclideanNorm/nan"),
    # session 32 (h2b, SwiftShader): the error grows with the argument from about 2e3 (1.2e-7 times it)
    ("Sin", "sin is ~2e-4 off (GLSL sin; GPU-dependent), and off past ±2e3 (about 1.2e-7 times the argument: 1e-2 "
     "at 1e5, no digit past 1e7)", False, "Sin/f32 Sin/special Sin/large"),
    ("Cos", "cos is ~2e-4 off (GLSL cos; GPU-dependent), and off past ±2e3 (about 1.2e-7 times the argument: 1e-2 "
     "at 1e5, no digit past 1e7)", False, "Cos/f32 Cos/special Cos/large"),
    ("Tan", "tan is ~1e-4 off near its poles (GLSL), and off past ±1e3 (its argument about 1.7e-7 times itself off: "
     "no digit past 3e7)", False, "Tan/f32 Tan/special Tan/large"),
    ("Acos", "acos is ~5e-5 off (GLSL; GPU-dependent)", False, "Acos/f32 Acos/special Acos/domain"),
    # measured by scripts/probe_backends.py --webgl (its quirk cases "beyond_1e20"; rows of more than 128 elements,
    # or webgl runs the CPU kernel): the max/min reduce shader starts at '-1.0 / 1e-20' / '1.0 / 1e-20'
    ("Max", "a row whose values are all below -1e20 (-1e30, -Inf, a -3.4e38 attention mask) gives -1e20: the "
     "reduce shader starts at -1e20; TF gives the row's max", False, ""),
    ("Min", "a row whose values are all above 1e20 (1e30, +Inf) gives 1e20: the reduce shader starts at 1e20; TF "
     "gives the row's min", False, ""),
    ("Softmax", "a row whose values are all below -1e20 (-1e30, -Inf, a fully masked -3.4e38 row) is all ones: its "
     "max comes out -1e20 (see Max), every exp 0, and 0/0 is 1 on webgl; TF gives the softmax (1/n for equal "
     "values, NaN for -Inf)", False, ""),
    ("FFT", "~2e-4 off (its twiddle factors use GLSL sin/cos)", False, "FFT/c64"),
    ("IFFT", "~2e-4 off (its twiddle factors use GLSL sin/cos)", False, "IFFT/c64"),
    ("RFFT", "~2e-4 off (its twiddle factors use GLSL sin/cos); a row holding NaN is NaN in every bin (TF leaves some "
     "real parts finite)", False, "RFFT/f32 RFFT/nan"),
    ("IRFFT", "~2e-4 off (its twiddle factors use GLSL sin/cos)", False, "IRFFT/c64"),
]
_WEBGL_ROWS_I32 = [  # webgl holds int32 as float32: past 2^24 low bits go, INT32_MAX rounds to 2^31
    ("Abs", "abs(INT32_MAX) gives INT32_MIN", "Abs/i32"),
    ("Relu", "relu(INT32_MAX) gives INT32_MIN", "Relu/i32"),
    ("Square", "squares past 2^24 lose low bits; TF wraps modulo 2^32", "Square/i32"),
    ("Mul", "products past 2^24 lose low bits; TF wraps modulo 2^32", "Mul/i32_overflow"),
    # these four run their CPU kernel (right) for small CPU-resident inputs (WEBGL_CPU_FORWARD); measured on the
    # shader by tf_ops.py --webgl, which turns the forwarding off
    ("Neg", "neg(INT32_MAX) and neg(INT32_MIN + 1) give INT32_MIN", "Neg/i32"),
    ("Add", "sums past 2^24 lose low bits and an overflow gives INT32_MIN or 0 (INT32_MIN + -1, INT32_MAX + "
     "INT32_MAX); TF wraps modulo 2^32", "Add/i32_overflow"),
    ("AddV2", "sums past 2^24 lose low bits and an overflow gives INT32_MIN or 0 (INT32_MIN + -1, INT32_MAX + "
     "INT32_MAX); TF wraps modulo 2^32", "AddV2/i32_overflow"),
    ("Sub", "differences past 2^24 lose low bits (INT32_MAX - 1 gives INT32_MIN); TF wraps modulo 2^32",
     "Sub/i32_overflow"),
    ("Sum", "sums past 2^24 lose low bits; TF wraps modulo 2^32", "Sum/i32_overflow"),
    ("Prod", "products past 2^24 lose low bits; TF wraps modulo 2^32", "Prod/i32_wide"),
    ("Cumprod", "products past 2^24 lose low bits; TF wraps modulo 2^32", "Cumprod/i32_wide"),
    ("Min", "the Min over nothing is INT32_MAX, which comes out INT32_MIN (measured by "
     "tests/test_backend_contract_empty_reductions.py)", ""),
    ("FloorDiv", "INT32_MIN // -1 and INT32_MAX // 1 go through float32", "FloorDiv/i32_signs"),
    ("TruncateDiv", "INT32_MIN / -1 and INT32_MAX / 1 go through float32", "TruncateDiv/i32_signs"),
    ("Div", "INT32_MIN / -1 and INT32_MAX / 1 go through float32", "Div/i32_signs"),
    # session 19 (tests/test_int32_overflow_rows_s19.py; tf_ops.py --webgl)
    ("Pow", "powers past 2^24 lose low bits and past 2^31 are garbage (301^3 gives 27270900, 50000^2 -1794968576); "
     "TF wraps modulo 2^32 (27270901, -1794967296)", "Pow/i32_overflow"),
    ("SquaredDifference", "squares past 2^24 lose low bits and some past 2^31 give INT32_MIN; TF wraps modulo 2^32",
     "SquaredDifference/i32_overflow"),
    *((op, "sums of products past 2^24 lose low bits; TF wraps modulo 2^32", cases)
      for op, cases in (("MatMul", "MatMul/i32_wide"), ("BatchMatMulV2", "BatchMatMulV2/i32_wide"), ("BatchMatMul", ""),
                        ("BatchMatMulV3", ""))),
    # sums the conformance cases keep below 2^24; measured by tests/test_int32_overflow_rows_s19.py on the shaders
    *((op, "sums past 2^24 lose low bits; TF wraps modulo 2^32", "") for op in ("AddN", "BiasAdd", "Cumsum")),
]
_WEBGL_DEVIATION_ROWS: list[tuple[Any, ...]] = [
    *((op, "webgl", "float32" if op not in ("FFT", "IFFT", "IRFFT") else "complex64", why, exact, cases)
      for op, why, exact, cases in _WEBGL_ROWS_F32),
    *((op, "webgl", "int32", f"{why} (webgl holds int32 as float32)", False, cases) for op, why, cases in _WEBGL_ROWS_I32),
]
#: float32 sums, means and products whose partial results pass ±FLT_MAX (or fall below float32's smallest value) and
#: come back, measured by the conformance cases ``*/overflow_*`` (session 18; tests/test_special_values_reductions.py).
#: TF (x86-64 pip build) adds and multiplies in float32, a row shorter than 8 in order and longer rows in 8 AVX lanes
#: then pairwise (its own order depends on the SIMD width it was built for). No rewrite gives TF's order, so none exact.
_IN_ORDER = ("adds in order in float32 where TF adds rows of 8 or more in 8 AVX lanes, so partial sums passing "
             "±FLT_MAX differ ([FLT_MAX, 1, FLT_MAX, 2, -FLT_MAX, 3, 0, 4] gives Inf; TF FLT_MAX)")
_REDUCTION_OVERFLOW_ROWS: list[tuple[Any, ...]] = [
    ("Sum", "cpu", "float32", "accumulates in float64: partial sums passing ±FLT_MAX that end in range give the finite "
     "sum ([FLT_MAX, FLT_MAX, -FLT_MAX] gives FLT_MAX); TF's float32 sum gives Inf", False,
     "Sum/overflow_rows Sum/overflow_columns_keep"),
    ("Sum", "wasm,webgl", "float32", _IN_ORDER.replace("adds in order in float32", "adds in its own order"), False,
     "Sum/overflow_lanes"),
    ("Mean", "cpu,webgl", "float32", "divides each value by the count before summing (cpu in float64): a row whose sum "
     "passes ±FLT_MAX but whose mean does not gives the finite mean ([FLT_MAX, FLT_MAX, 1, 0] gives 1.7e38); TF sums "
     "first in float32 and gives Inf", False, "Mean/overflow_rows Mean/overflow_columns_keep"),
    ("Mean", "wasm", "float32", _IN_ORDER, False, "Mean/overflow_lanes"),
    ("Prod", "cpu", "float32", "multiplies in float64: products passing FLT_MAX or below float32's smallest value that "
     "come back give a number ([FLT_MAX, FLT_MAX, 1, 0] gives 0, [1e30, 1e30, 1e-30, 1e-30] 1); TF's float32 "
     "products give NaN (Inf·0) and Inf", False, "Prod/overflow_rows Prod/overflow_columns_keep Prod/overflow_lanes"),
    ("Prod", "wasm", "float32", "multiplies in order where TF multiplies rows of 8 or more in 8 AVX lanes: products "
     "passing FLT_MAX differ ([1e30] * 4 + [1e-30] * 4 gives Inf; TF 1)", False, "Prod/overflow_lanes"),
    ("Prod", "webgl", "float32", "multiplies in its own order: products passing FLT_MAX or 0 differ ([FLT_MAX, "
     "FLT_MAX, 1, 0] gives 0; TF NaN (Inf·0))", False, "Prod/overflow_rows Prod/overflow_columns_keep "
     "Prod/overflow_lanes"),
    ("AvgPool", "cpu", "float32", "sums each window in float64: a window whose sum passes ±FLT_MAX but whose mean does "
     "not gives the finite mean ([FLT_MAX, FLT_MAX, 1, 0] gives 1.7e38); TF gives Inf", False,
     "AvgPool/overflow_windows"),
    ("Cumsum", "webgl", "float32", "its parallel prefix sum adds in another order: partial sums passing ±FLT_MAX "
     "differ ([FLT_MAX, FLT_MAX, -FLT_MAX] gives FLT_MAX last; TF Inf)", False, "Cumsum/overflow_rows"),
    # a NaN or ±Inf PReLU alpha (a weight, known at conversion: ``nonfinite``): cpu computes x < 0 ? alpha·x : x
    # (onnxruntime's PRelu), wasm relu(x) + alpha·min(x, 0) (Keras's PReLU, and the TF graph of it the prelu pass
    # fuses); so each backend deviates from one source framework. Measured in session 18
    # (tests/test_special_values_reductions.py, /work/notes/probe18/h5_prelu*.py); which rewrite is exact depends on
    # the source, so none is
    *((op, backend, "float32", why, False, "", {f"nonfinite:{alpha}": ["true"], **when})
      for op, alpha, when in (("Prelu", 1, {}), *((fused, 3, {"attr:fused_ops": ["BIASADD,PRELU"]}) for fused in
                                                 ("_FusedConv2D", "_FusedMatMul", "FusedDepthwiseConv2dNative")))
      for backend, why in (
          ("cpu", "a NaN or ±Inf alpha (a weight) gives x for x ≥ 0 (x < 0 ? alpha·x : x, as onnxruntime's PRelu); "
                  "Keras's PReLU, relu(x) - alpha·relu(-x), gives NaN there (alpha·0)"),
          ("wasm", "a NaN or ±Inf alpha (a weight) gives NaN for x ≥ 0 (relu(x) + alpha·min(x, 0), as Keras's "
                   "PReLU); onnxruntime's PRelu gives x"))),
    ("Cumprod", "webgl", "float32", "its parallel prefix product multiplies in another order: products passing "
     "FLT_MAX differ ([1e30, 1e30, 1e-30, 1e-30] gives NaN last (Inf·0); TF Inf)", False, "Cumprod/overflow_rows"),
]
_DEVIATION_ROWS: list[tuple[Any, ...]] = [
    # (op, backends, dtype, what TF.js does vs TF, rewritten exactly, conformance cases showing it[, when:
    # contract selectors, as in limits, that the node must match])
    ("ArgMax", "cpu,wasm", "float32", "picks a NaN ([NaN, 0, 0] -> 0); TF never picks NaN (-> 1)", True,
     "ArgMax/nan ArgMax/nan_neg_inf_rows"),
    ("ArgMin", "cpu,wasm", "float32", "picks a NaN ([NaN, 0, 0] -> 0); TF never picks NaN (-> 1)", True,
     "ArgMin/nan ArgMin/nan_pos_inf_rows"),
    ("ClipByValue", "wasm", "float32", "clip(NaN) gives the lower bound; TF gives NaN. A NaN bound throws; TF "
     "ignores it", True, "ClipByValue/f32_scalar_bounds ClipByValue/nan_bounds"),
    ("ClipByValue", "cpu", "float32", "a NaN bound throws (min must be <= max); TF ignores it", True,
     "ClipByValue/nan_bounds"),
    ("MaxPool", "wasm", "float32", "a window holding NaN gives -Inf or garbage; TF takes the max of the rest "
     "(-FLT_MAX for an all-NaN or all -Inf window)", True, "MaxPool/neg_inf_nan MaxPool/nan_and_neg_inf_windows"),
    ("MaxPool", "cpu", "float32", "an all-NaN or all -Inf window gives NaN/-Inf; TF gives -FLT_MAX", True,
     "MaxPool/nan_and_neg_inf_windows"),
    ("AvgPool", "wasm", "float32", "a window holding NaN, or +Inf beside -Inf, gives a number or an infinity; TF "
     "gives NaN", True, "AvgPool/nan_inf"),
    ("Maximum", "wasm", "float32", "maximum(x, NaN) drops the NaN; TF propagates it", True,
     "Maximum/special Maximum/nan_broadcast"),
    ("Minimum", "wasm", "float32", "minimum(x, NaN) drops the NaN; TF propagates it", True, "Minimum/special"),
    ("Pow", "cpu", "float32", "pow(1, NaN) and pow(±1, ±Inf) are NaN (JS Math.pow); TF gives 1", True, "Pow/special"),
    ("Relu6", "wasm", "float32", "relu6(NaN) is 0; TF gives NaN", True, "Relu6/special"),
    ("Relu", "wasm", "float32", "relu(-NaN) (a NaN with its sign bit set, as -x of a NaN gives) is 0; TF keeps NaN",
     True, "Relu/signed_nan"),
    ("Sign", "cpu", "float32", "sign(NaN) is 0; TF gives NaN", True, "Sign/special"),
    # session 19 (found by a keras.ops probe, helper H2; measured by tests/test_round_signed_zero_s19.py against
    # tf.raw_ops.Round: one op alone cannot show it, the conformance comparison reads -0 and +0 as the same number)
    ("Round", "cpu", "float32", "round(-0.5) is +0 (its tie branch gives floor(x) + 1 = -1 + 1); TF gives -0 (half "
     "to even keeps the sign), so 1 / round(x) is +Inf where TF gives -Inf", True, ""),
    # Sign on wasm (sign(NaN) and sign(x) for every |x| <= 1.2e-7 are 0): no row, the required sign_comparisons pass
    # computes every float Sign by comparisons where wasm is a target (session 30); skipping it gives no notice
    ("Softmax", "cpu,wasm", "float32", "a row holding +Inf is all NaN; TF gives NaN at the +Inf, 0 elsewhere",
     True, "Softmax/large_and_inf Softmax/several_inf"),
    ("Where", "wasm", "float32", "NaN counts as false; TF: NaN is non-zero, so true", True, "Where/f32_2d"),
    # NaN (of either sign) put into ops the conformance cases never fed one (session 16's NaN sweep,
    # /work/notes/probe16/h1_signed_nan.py --inject; measured by tests/test_signed_nan_sweep.py)
    ("ResizeBilinear", "wasm", "float32", "a NaN or ±Inf pixel makes NaN of the outputs that give it weight 0 (wasm "
     "weighs every neighbour, 0·Inf); TF gives the other neighbours' mix", False, "ResizeBilinear/nan_inf_same_size"),
    ("ResizeBilinear", "cpu", "float32", _RESIZE_SAME_SIZE, False, "ResizeBilinear/nan_inf_same_size"),
    ("LRN", "cpu,wasm", "float32", _LRN_NAN, False, "LRN/nan_inf"),
    *((op, "cpu,wasm", "float32", _NMS_NAN, False, _nms_cases(op)) for op in _NMS_OPS),
    ("UpperBound", "cpu", "float32", _UPPER_NAN, False, "UpperBound/nan_values"),
    ("MaxPoolWithArgmax", "cpu", "float32", "a NaN first in its window is skipped (the max of the rest); TF's max "
     "starts at the window's first value, so it stays NaN (with that index)", False,
     "MaxPoolWithArgmax/nan_first_in_window"),
    ("RFFT", "cpu", "float32", "a row holding NaN is NaN in every bin; TF's FFT leaves some real parts finite", False,
     "RFFT/nan"),
    ("TopKV2", "cpu,wasm", "float32", "ranks NaN below +Inf; TF ranks NaN first", False, "TopKV2/nan_inf"),
    # session 30 (h6, found by bench/tf_random_graphs.py --wide): no rewrite gives TF's one element per NaN
    # (webgl runs the same JS kernels: measured by tf_ops.py --webgl in session 31)
    *((op, "cpu,wasm,webgl", "float32", _UNIQUE_NAN, False, f"{op}/nan") for op in ("Unique", "UniqueV2")),
    ("ListDiff", "cpu,wasm,webgl", "float32", "a NaN of x is found in a y holding NaN (a JS Set) and dropped; TF keeps it "
     "(NaN != NaN): setdiff([NaN, 2], [NaN]) gives [2], TF [NaN, 2]", False, "ListDiff/nan"),
    # fused activations (fuse_ops makes them; not TF raw ops, measured by tests/test_special_values.py)
    ("_FusedConv2D", "wasm", "float32", "a fused Relu6 turns NaN into 0, a fused Relu a NaN with its sign bit set "
     "(-NaN); TF keeps NaN", True, "",
     {"attr:fused_ops": ["BIASADD,RELU", "BIASADD,RELU6"]}),
    # measured by tests/test_fused_activation_special_values.py (found in session 16; the conformance cases' convs
    # have several channels or a larger window, which compute NaN right)
    *((conv, "wasm", "float32", "a 1×1 stride-1 convolution of one channel into one gives -Inf for NaN; TF gives NaN",
       True, "", {"shape:1": ["1,1,1,1"], "nonunit:strides": ["false"]}) for conv in ("Conv2D", "_FusedConv2D")),
    ("_FusedMatMul", "wasm", "float32", "a fused Relu or Relu6 turns NaN (either sign) into 0; TF's keep NaN", True, "",
     {"attr:fused_ops": ["BIASADD,RELU", "BIASADD,RELU6"]}),
    # webgl's fused activations (measured in tests/test_fused_activation_special_values.py): the fused shaders'
    # Relu/Relu6 give NaN for -Inf, Elu gives +Inf for NaN and LeakyRelu/Prelu NaN for ±Inf, as webgl's unfused
    # kernels of those ops do (so not exact), and a fused Sigmoid gives 0 for NaN where the unfused one keeps it
    *((fused, "webgl", "float32", "a fused Relu or Relu6 gives NaN for -Inf (TF 0), Elu +Inf for NaN, LeakyRelu or "
       "Prelu NaN for ±Inf (TF ±Inf), as webgl's unfused kernels do", False, "",
       {"attr:fused_ops": ["BIASADD,RELU", "BIASADD,RELU6", "BIASADD,ELU", "BIASADD,LEAKYRELU", "BIASADD,PRELU"]})
      for fused in ("_FusedConv2D", "_FusedMatMul", "FusedDepthwiseConv2dNative")),
    *((fused, "webgl", "float32", "a fused Sigmoid turns NaN into 0; TF keeps NaN", True, "",
       {"attr:fused_ops": ["BIASADD,SIGMOID"]}) for fused in ("_FusedConv2D", "_FusedMatMul", "FusedDepthwiseConv2dNative")),
    ("Prelu", "webgl", "float32", "prelu(±Inf) is NaN; TF's relu(x) - alpha·relu(-x) gives ±Inf (Prelu is not a TF op: "
     "measured against Keras's PReLU in tests/test_fused_activation_special_values.py)", False, ""),
    # session 30 (h2; tests/test_depthwise_special_values_s30.py, against tf.nn.depthwise_conv2d): only wasm's 1×1
    # stride-1 kernel with one output per channel loses NaN (wider windows, strides and multipliers keep NaN, Inf·0
    # and Inf - Inf); until then the rows named every depthwise convolution, and no rewrite. A filter of unknown shape
    # may be one: named, not rewritten
    *((op, "wasm", "float32", "a 1×1 stride-1 depthwise convolution with one output per channel gives -Inf for NaN "
       "(a NaN input, weight or Inf·0); TF gives NaN" + ("" if exact else " (a filter whose shape is not known at "
                                                          "conversion may be one)"), exact,
       "DepthwiseConv2dNative/nan_inf" if op[0] == "D" and exact else "",
       {"pointwise:1": ["true" if exact else "maybe"], "nonunit:strides": ["false"]})
      for op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative") for exact in (True, False)),
    # a NaN or ±Inf weight in a padded window: wasm multiplies the zero padding by it (NaN), TF and cpu skip padded
    # taps (the same test); no rewrite gives TF's skipping (a Pad of zeros gives wasm's NaN), so named only. Conv2D
    # too (session 30, h2b: tests/test_depthwise_special_values_s30.py against Keras 3; Conv3D and Conv2DTranspose
    # SAME keep TF's numbers, /work/notes/probe30/h2b/conv_pad.py). A lazy weight (Keras, SavedModel) is read for
    # ``nonfinite``; one that cannot be read ("maybe") is named as well
    *((op, "wasm", "float32", "a NaN or ±Inf weight (a constant filter) makes NaN of the outputs whose window reaches "
       "the padding with it (0·NaN); TF skips padded taps, so they are finite there (a 1×1 filter reads no padding)",
       False, "", {"nonfinite:1": ["true", "maybe"], "attr:padding": ["SAME", "EXPLICIT"]})
      for op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "Conv2D", "_FusedConv2D")),
    ("FusedDepthwiseConv2dNative", "wasm", "float32", "a fused Relu6 turns NaN into 0, a fused Relu a NaN with its "
     "sign bit set (-NaN); TF keeps NaN", True, "", {"attr:fused_ops": ["BIASADD,RELU", "BIASADD,RELU6"]}),
    # session 32 (h2b): about 7e-17 times the argument off, 1e-5 from 1.5e11 (cpu within 3e-8 everywhere)
    ("Sin", "wasm", "float32", "sin is off past ±1.5e11 (float32 argument reduction: about 7e-17 times the argument, "
     "7e-5 at 1e12, no digit past 1e16)", False, "Sin/special Sin/large"),
    ("Cos", "wasm", "float32", "cos is off past ±1.5e11 (float32 argument reduction: about 7e-17 times the argument, "
     "7e-5 at 1e12, no digit past 1e16)", False, "Cos/special Cos/large"),
    # session 28 (reviewer R1, h9's sweep; tests/test_wasm_unary_accuracy.py): less precise than TF for small
    # arguments. The log1p and sin_symmetry passes rewrite float32/float64 nodes for these targets; the rows name the
    # nodes left (--skip_passes, float16). A Sin of an Abs (the pass's own) never sees a negative argument
    ("Log1p", "wasm,webgl", "float32", "less precise: computes log(1 + x) in float32, losing the bits of x below "
     "2^-24 (log1p(1e-8) is 0, TF 1e-8; x of scale 1e-3 is 4.7e-5 of the output range off)", False, ""),
    ("Sin", "wasm", "float32", "less precise: a negative argument loses its low bits, as if 2π were added in float32 "
     "(sin(-1e-10) is +1.75e-7, TF -1e-10; sin(-1e-3) is 2.3e-7 off), and sin(1e-16) is 0", False, "",
     {"signed:0": ["maybe"]}),
    # session 29 (h6; tests/test_backend_contract_s29.py): Abramowitz and Stegun's erf on cpu (and webgl's shader and
    # CPU forwarding); the erf_small pass computes float32/float64 nodes below 1/4 by their series and names the
    # kernel it keeps (special_values.PRECISE_SUFFIX), so the row names the nodes left (--skip_passes, float16)
    ("Erf", "cpu,webgl", "float32", "less precise: Abramowitz and Stegun's approximation, ~1e-9 at 0 (erf(1e-38) is "
     "1e-9; inputs below 1e-4 are more than 1e-5 of their output range off, relative error up to 7e-6 below 0.1)",
     False, ""),
    # session 30 (h3, h3c; tests/test_mean_as_sum_s30.py): cpu's x / n and webgl's x · (1/n) round each share; the
    # mean_as_sum pass computes float32 Means of constant axes as TF's Sum / n (its division named exact), so the row
    # names the nodes left (--skip_passes, float16, --control_flow_v2 bodies, run-time axes); a power-of-two count,
    # where every share is exact, is not named
    ("Mean", "cpu,webgl", "float32", "less precise: divides (cpu) or multiplies by 1/n (webgl) each value before "
     "summing, so a constant row is an ulp off where c / n is inexact (114 over 7 gives 114.00001, 0.1 over 3 "
     "0.10000001; TF sums first and divides once); a normalization subtracting that mean is up to 5e-4 of its output "
     "range off", False, "", {"powertwo:0,1": ["false", "maybe"]}),
    ("Abs", "cpu,wasm", "int32", "abs(INT32_MAX) gives INT32_MIN (float32 round trip)", False, "Abs/i32"),
    ("Neg", "wasm", "int32", "neg(INT32_MAX) gives INT32_MIN (float32 round trip)", False, "Neg/i32"),
    ("Square", "cpu", "int32", "squares past 2^24 lose low bits (float32); TF wraps modulo 2^32", False, "Square/i32"),
    ("Mul", "cpu", "int32", "products past 2^53 lose low bits (a JS float64 multiply, which wraps modulo 2^32 "
     "exactly below that); TF wraps modulo 2^32", False, "Mul/i32_overflow"),
    ("Prod", "cpu", "int32", "products past 2^53 lose low bits (a JS float64 product, wrapped modulo 2^32 only when "
     "stored); TF wraps every step modulo 2^32", False, "Prod/i32_wide"),
    ("Cumprod", "cpu", "int32", "products past 2^53 lose low bits (each step a JS float64 multiply); TF wraps modulo "
     "2^32", False, "Cumprod/i32_wide"),
    # session 19 (found by a tf_keras TFOpLambda probe of int32 tf.math.pow / squared_difference; measured by the
    # conformance cases */i32_overflow, */i32_wide and tests/test_int32_overflow_rows_s19.py). Session 21: the
    # int32_power pass rewrites every int32 Pow of a TF graph, so the conformance case no longer shows the Pow rows
    # on cpu/wasm; they stay for the Pow nodes left (the ONNX frontend's, --skip_passes int32_power), measured by
    # tests/test_int32_overflow_rows_s19.py with the pass skipped
    ("Pow", "cpu", "int32", "powers past 2^53 lose low bits (JS Math.pow in float64, wrapped modulo 2^32 only when "
     "stored: 46341^4 gives 21465088, 3^40 689956864); TF multiplies in int32, wrapping every step (21464689, "
     "689956897)", False, ""),
    ("Pow", "wasm", "int32", "powers past 2^31 give INT32_MIN (the float result saturates when cast back: 50000^2 "
     "gives -2147483648); TF wraps modulo 2^32 (-1794967296)", False, ""),
    ("SquaredDifference", "cpu", "int32", "squares past 2^53 lose low bits (a JS float64 multiply: 100000001^2 gives "
     "2074919424); TF wraps modulo 2^32 (2074919425)", False, "SquaredDifference/i32_overflow"),
    *((op, "cpu", "int32", "sums of products past 2^53 lose low bits (JS float64 products and sums, wrapped modulo "
       "2^32 only when stored: 134217729 · 67108865 + 2 gives 201326594); TF wraps modulo 2^32 (201326595)", False,
       cases) for op, cases in (("MatMul", "MatMul/i32_wide"), ("BatchMatMulV2", "BatchMatMulV2/i32_wide"),
                                ("BatchMatMul", ""), ("BatchMatMulV3", ""))),  # v1/V3: the same executor and kernel
    ("FloorDiv", "wasm", "int32", "divides in float32: INT32_MAX // 1 gives INT32_MIN and quotients of values past "
     "2^24 are off (-2147483647 // 3 gives -715827904; TF -715827883)", False, "FloorDiv/i32_signs"),
    ("TruncateDiv", "wasm", "int32", "INT32_MAX / 1 gives INT32_MIN (float32 round trip)", False,
     "TruncateDiv/i32_signs"),
    ("Div", "wasm", "int32", "INT32_MAX / 1 gives INT32_MIN (float32 round trip)", False, "Div/i32_signs"),
    ("Cast", "cpu,wasm", "float32", "float -> int32 wraps values outside [-2^31, 2^31) modulo 2^32 and gives 0 for "
     "NaN/±Inf; TF (x86-64) gives INT32_MIN for each", True, "Cast/f32_to_i32_out_of_range",
     {"attr:SrcT": ["float32"], "attr:DstT": ["int32"]}),
    # one op alone cannot show it (its output is read back as float32): measured by tests/test_cpu_int32_to_float_cast.py
    ("Cast", "cpu", "int32", "int32 -> float32 keeps integers past 2^24 unrounded (the Int32Array relabelled), so the "
     "next op sees 16777217 where TF has 16777216: comparisons and sums past 2^24 differ", False, "",
     {"attr:SrcT": ["int32"], "attr:DstT": ["float32"]}),
    *_REDUCTION_OVERFLOW_ROWS,
    *_WEBGL_DEVIATION_ROWS,
]
SPECIAL_VALUE_DEVIATIONS: list[dict[str, Any]] = sorted(
    ({"op": op, "backend": backend, "dtype": dtype, "reason": reason, "exact_special_values": exact,
      "cases": cases.split(), **({"when": when[0]} if when else {})}
     for op, backends, dtype, reason, exact, cases, *when in _DEVIATION_ROWS for backend in backends.split(",")),
    key=lambda d: (d["op"], d["backend"]))

#: The rank class the probe must have reached for an op to pass at ranks >= 7 (``maxrank:7``).
HIGH_RANK = 7
#: Ops the tfjs-converter executor answers without running a kernel on any backend (graph plumbing, shapes,
#: control flow), never refused as unprobed; and those holding a list/table handle a one-op probe cannot give a rank.
RANK_FREE_OPS = frozenset({
    "Const", "Placeholder", "PlaceholderWithDefault", "Identity", "IdentityN", "Snapshot", "StopGradient", "NoOp",
    "Print", "Shape", "ShapeN", "Size", "Rank", "EnsureShape", "Enter", "Exit", "Merge", "Switch", "LoopCond",
    "NextIteration", "If", "While", "StatelessIf", "StatelessWhile"})
RANK_FREE_PREFIXES = ("TensorList", "TensorArray", "LookupTable", "HashTable", "InitializeTable", "EmptyTensorList")


def unprobed_rank_limits(ops: dict[str, Any], probe: dict[str, Any]) -> list[dict[str, Any]]:
    """Rank >= 7 refused for every op the probe never ran at rank 7 or more on a backend (``coverage``).

    Why: a limit records only what the probe saw fail; an op it never ran at a rank passed the check there by
    default, and a rank-7 ``Fill``/``LogicalOr`` (a bool ``BroadcastTo`` rewritten) crashed webgl ("7-D output
    sampling"). So the default is reversed for the rank class where backends are known to break: no run, no pass.
    """
    coverage = probe.get("coverage", {})
    limits = []
    for op in sorted(ops):
        if op in RANK_FREE_OPS or op.startswith(RANK_FREE_PREFIXES):
            continue
        for backend in BACKENDS:
            probed = coverage.get(op, {}).get(backend, 0)
            if probed >= HIGH_RANK:
                continue
            highest = f"rank {probed} at most" if probed else "no rank recorded"
            limits.append({"op": op, "backend": backend, "when": {f"maxrank:{HIGH_RANK}": ["true"]},
                           "outcome": "unprobed",
                           "reason": f"never run at rank {HIGH_RANK} or more on {backend} by scripts/probe_backends.py "
                                     f"({highest}); refused until probed (webgl's shaders stop at rank 6, wasm's "
                                     "float32 binary kernels are wrong from rank 7)"})
    return limits


#: complex64 (session 28, h1): the graph ops TF.js 4.22 runs on complex64 tensors on cpu and webgl, measured with
#: one-op SavedModels converted for cpu and run on cpu against TF and on webgl in Chromium (probe28/h1/sweep):
#: moves that keep the elements (cpu's and webgl's Reshape/Transpose/Concat/Pack keep both parts), the complex
#: kernels themselves and the ops the executor answers without a kernel.
COMPLEX64_RUNS = frozenset({
    "Complex", "Real", "Imag", "ComplexAbs", "FFT", "IFFT", "RFFT", "IRFFT", "Cast", "Reshape", "ExpandDims",
    "Squeeze", "Transpose", "ConcatV2", "Pack", "ZerosLike", "OnesLike"})
#: complex64 ops measured to fail on cpu, with what cpu says; the complex_parts pass rewrites those marked so
#: (part by part) in the main graph, so these refuse only what it cannot reach (a function kept by
#: --control_flow_v2) or does not rewrite.
COMPLEX64_MEASURED = {
    **{op: f"throws on cpu ('{kernel} does not support complex64 tensors in the CPU backend'); "
           "the complex_parts pass writes it on the real and imaginary parts"
       for op, kernel in (("Pad", "pad"), ("PadV2", "pad"), ("MirrorPad", "mirrorPad"), ("Slice", "slice"),
                          ("StridedSlice", "stridedSlice"), ("Tile", "tile"), ("GatherV2", "gatherV2"),
                          ("ReverseV2", "reverse"), ("Neg", "neg"), ("Sum", "sum"), ("Cumsum", "cumsum"),
                          ("AddN", "addN"), ("SelectV2", "select"))},
    **{op: "throws on cpu (a slice of a complex64 tensor); the complex_parts pass writes it on the parts"
       for op in ("Split", "SplitV", "Unpack", "BroadcastTo")},
    **{op: "wrong on cpu: NaN past the first row of a broadcast operand, silently; the complex_parts pass writes it "
           "on the parts" for op in ("Mul", "AddV2", "Add", "Sub")},
    "Mean": "throws on cpu ('Cannot read properties of undefined'); the complex_parts pass writes it on the parts",
    "Exp": "throws on cpu ('Exp does not support complex64 tensors'); the complex_parts pass writes "
           "exp(a)(cos b, sin b)",
    "Square": "throws on cpu ('square does not support complex64 tensors'); the complex_parts pass writes x·x on the "
              "parts",
    **{op: "throws on cpu ('matMul does not support complex64 tensors in the CPU backend') and webgl"
       for op in ("MatMul", "BatchMatMul", "BatchMatMulV2", "Einsum")},
    "RealDiv": "throws on cpu ('RealDiv does not support complex64 tensors in the CPU backend') and webgl",
    "Prod": "throws on cpu ('prod does not support complex64 tensors in the CPU backend') and webgl",
    "Equal": "throws on cpu ('Equal does not support complex64 tensors in the CPU backend') and webgl",
    "Sqrt": "throws on cpu and webgl ('must be float32 tensor, but got complex64 tensor')",
    "Fill": "throws on cpu ('Unknown data type complex64') and webgl",
}


def complex_limits(ops: dict[str, Any]) -> list[dict[str, Any]]:
    """complex64 refused for every graph op not measured to run it (``source: derived``).

    Why: tfjs-backend-cpu asserts "not complex" in most kernels and webgl's programs take no complex64 input, so a
    complex64 ``Pad`` or ``Slice`` (``tf.signal.irfft`` pads its bins) loaded and then crashed at the first predict,
    and cpu's complex ``Mul``/``Add``/``Sub`` answer NaN for a broadcast operand. The default is reversed: an op runs
    complex64 only when measured to (``COMPLEX64_RUNS``); wasm holds no complex64 tensor at all (no Complex kernel).
    """
    limits = []
    for op in sorted(ops):
        if op in COMPLEX64_RUNS or op in RANK_FREE_OPS or op.startswith(RANK_FREE_PREFIXES):
            continue
        measured = COMPLEX64_MEASURED.get(op)
        for backend in BACKENDS:
            if backend == "wasm":
                outcome, reason = "throws", "wasm has no complex64 kernels (no Complex kernel to hold one)"
            elif measured:
                outcome, reason = ("wrong" if measured.startswith("wrong") else "throws"), measured
            else:
                outcome, reason = "unprobed", ("never run on complex64 tensors (most cpu kernels assert not complex, "
                                               "webgl programs take no complex64 input); refused until measured")
            limits.append({"op": op, "backend": backend, "when": {"anyinput:complex64": ["true"]},
                           "outcome": outcome, "reason": reason})
    return limits


class GenerateError(Exception):
    """The runtime or node is not what the generator needs; the message says what to do."""


# -- kernels per backend ------------------------------------------------------------------------
def backend_kernels(runtime: Path, node: str = "node") -> dict[str, Any]:
    """{backend: sorted kernel names, "versions": {...}} from the packages' kernel registrations."""
    node_path = shutil.which(node)
    if node_path is None:
        raise GenerateError("node not found on PATH; install Node.js (>= 18)")
    with tempfile.TemporaryDirectory(prefix="tfjsconv-kernels-") as tmp:
        script = Path(tmp) / "kernels.mjs"
        script.write_text(_KERNEL_SNIPPET, encoding="utf-8")
        proc = subprocess.run([node_path, str(script), str(runtime), *BACKENDS],
                              capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GenerateError(f"node failed to list the kernels:\n{proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


_WEBGPU_SNIPPET = r"""
import { createRequire } from 'node:module';
const require = createRequire(process.argv[2] + '/package.json');
console.log = console.error; console.warn = console.error; console.info = console.error;
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-webgpu');  // registers its kernels on import; no adapter needed for that
const version = require('@tensorflow/tfjs-backend-webgpu/package.json').version;
process.stdout.write(JSON.stringify({ core: tf.version_core, webgpu: version,
  kernels: tf.getKernelsForBackend('webgpu').map(k => k.kernelName).sort() }));
"""


def webgpu_folder(runtime: Path, npm: str = "npm") -> Path:
    """A folder whose node_modules holds ``@tensorflow/tfjs-backend-webgpu`` 4.22.0 (installed once into the cache)."""
    if (runtime / "node_modules" / "@tensorflow" / "tfjs-backend-webgpu" / "package.json").is_file():
        return runtime
    sys.path.insert(0, str(REPO_ROOT))
    from tfjsconv.verify.runtime import cache_root

    folder = cache_root() / f"webgpu-kernels-{VERSION}"
    if (folder / "node_modules" / "@tensorflow" / "tfjs-backend-webgpu" / "package.json").is_file():
        return folder
    npm_path = shutil.which(npm)
    if npm_path is None:
        raise GenerateError("npm not found on PATH; it installs @tensorflow/tfjs-backend-webgpu for its kernel list")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    (tmp / "package.json").write_text('{"private": true}\n', encoding="utf-8")
    proc = subprocess.run([npm_path, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=warn",
                           f"{WEBGPU_PACKAGE}@{VERSION}"], cwd=tmp, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise GenerateError(f"npm could not install {WEBGPU_PACKAGE}@{VERSION}:\n{proc.stderr.strip()[-2000:]}")
    try:
        tmp.rename(folder)
    except OSError:  # another process installed it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def webgpu_kernels(folder: Path, node: str = "node") -> list[str]:
    """The kernels ``@tensorflow/tfjs-backend-webgpu`` registers (read under Node; the backend itself cannot start)."""
    node_path = shutil.which(node)
    if node_path is None:
        raise GenerateError("node not found on PATH; install Node.js (>= 18)")
    with tempfile.TemporaryDirectory(prefix="tfjsconv-webgpu-") as tmp:
        script = Path(tmp) / "webgpu.mjs"
        script.write_text(_WEBGPU_SNIPPET, encoding="utf-8")
        proc = subprocess.run([node_path, str(script), str(folder)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GenerateError(f"node failed to list the webgpu kernels:\n{proc.stderr.strip()[-2000:]}")
    found = json.loads(proc.stdout)
    if found["core"] != VERSION or found["webgpu"] != VERSION:
        raise GenerateError(f"{folder}: tfjs-core {found['core']} / tfjs-backend-webgpu {found['webgpu']}, not {VERSION}")
    return found["kernels"]


def inferred_webgpu_limits(limits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Limits every probed backend shares (the converter's or tfjs-core's doing, e.g. OneHot's ignored axis),
    assumed for webgpu too; backend-specific ones cannot be, since webgpu is never run."""
    by_case: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for limit in limits:
        by_case.setdefault((limit["op"], json.dumps(limit["when"], sort_keys=True)), {})[limit["backend"]] = limit
    inferred = []
    for (op, _), per_backend in sorted(by_case.items()):
        if set(BACKENDS) <= set(per_backend):
            first = per_backend[BACKENDS[0]]
            inferred.append({"op": op, "backend": WEBGPU, "when": first["when"], "outcome": first["outcome"],
                             "reason": f"on cpu, wasm and webgl alike (tfjs-core or the converter): {first['reason']}",
                             "source": "inferred"})
    return inferred


# -- static walk of the JS modules ----------------------------------------------------------------
_IMPORT = re.compile(r"^import\s*\{([^}]*)\}\s*from\s*'([^']+)';", re.M)
_IMPORT_NS = re.compile(r"^import\s+\*\s+as\s+(\w+)\s+from\s+'([^']+)';", re.M)
_REEXPORT = re.compile(r"^export\s*\{([^}]*)\}\s*from\s*'([^']+)';", re.M)
_LOCAL_EXPORT = re.compile(r"^export\s+(?:const|function|let|class)\s+(\w+)", re.M)
_RUN_KERNEL = re.compile(r"runKernel\(\s*(\w+)")
_COMMENT = re.compile(r"/\*.*?\*/|^\s*//.*?$", re.S | re.M)


def _names(spec: str) -> list[tuple[str, str]]:
    """``a, b as c`` -> [(a, a), (b, c)] as (exported, local)."""
    pairs = []
    for part in spec.split(","):
        part = part.strip()
        if part:
            exported, _, local = part.partition(" as ")
            pairs.append((exported.strip(), (local or exported).strip()))
    return pairs


class ModuleGraph:
    """tfjs-core's ``dist/ops`` modules: which op functions call which, and which kernels they run."""

    def __init__(self, core_dir: Path) -> None:
        self.dist = core_dir / "dist"
        self._text: dict[Path, str] = {}
        self.kernel_names = dict(re.findall(r"^export const (\w+) = '([^']+)';", self._read(self.dist / "kernel_names.js"), re.M))

    def _read(self, path: Path) -> str:
        if path not in self._text:
            source = path.read_text(encoding="utf-8").split("//# sourceMappingURL")[0]
            self._text[path] = _COMMENT.sub("", source)
        return self._text[path]

    def _resolve_path(self, origin: Path, spec: str) -> Path | None:
        if not spec.startswith("."):
            return None
        target = (origin.parent / spec).resolve()
        for candidate in (target.with_suffix(".js") if target.suffix != ".js" else target, target / "index.js"):
            if candidate.is_file():
                return candidate
        return None

    def imports(self, path: Path) -> dict[str, tuple[Path, str]]:
        """local name -> (module, exported name) for the relative ``import {..}`` lines."""
        found: dict[str, tuple[Path, str]] = {}
        for spec, source in _IMPORT.findall(self._read(path)):
            module = self._resolve_path(path, source)
            if module is not None:
                for exported, local in _names(spec):
                    found[local] = (module, exported)
        return found

    def resolve(self, path: Path, name: str, depth: int = 0) -> tuple[Path, str] | None:
        """The module that defines export ``name`` of ``path`` (following re-exports)."""
        if depth > 10:
            return None
        text = self._read(path)
        if name in _LOCAL_EXPORT.findall(text):
            return path, name
        for spec, source in _REEXPORT.findall(text):
            for exported, local in _names(spec):
                if local == name:
                    module = self._resolve_path(path, source)
                    return self.resolve(module, exported, depth + 1) if module else None
        match = re.search(r"^export\s*\{([^}]*)\};", text, re.M)
        if match and name in [local for _, local in _names(match.group(1))]:
            imported = self.imports(path).get(name)
            if imported:
                return self.resolve(imported[0], imported[1], depth + 1)
            return path, name  # `function fill(...) {...} export { fill };`
        for source in re.findall(r"^export\s*\*\s*from\s*'([^']+)';", text, re.M):
            module = self._resolve_path(path, source)
            found = self.resolve(module, name, depth + 1) if module else None
            if found:
                return found
        namespace = re.search(rf"^const {re.escape(name)} = \{{([^}}]*)\}};", text, re.M)
        if namespace:  # ops.js namespaces (spectral, image ...): resolved member by member elsewhere
            return path, name
        return None

    def namespace_member(self, ops_module: Path, namespace: str, member: str) -> tuple[Path, str] | None:
        text = self._read(ops_module)
        for alias, source in _IMPORT_NS.findall(text):
            if alias == namespace:
                module = self._resolve_path(ops_module, source)
                return self.resolve(module, member) if module else None
        block = re.search(rf"^const {re.escape(namespace)} = \{{([^}}]*)\}};", text, re.M)
        if block is None:
            return None
        members = {}
        for part in block.group(1).split(","):
            key, _, value = part.strip().partition(":")
            if key:
                members[key.strip()] = (value or key).strip()
        local = members.get(member)
        imported = self.imports(ops_module).get(local) if local else None
        return self.resolve(imported[0], imported[1]) if imported else None

    def direct(self, path: Path) -> tuple[set[str], set[Path]]:
        """Kernels ``path`` runs itself, and the op modules whose functions it calls."""
        text = self._read(path)
        imports = self.imports(path)
        kernels = {self.kernel_names[name] for name in _RUN_KERNEL.findall(text) if name in self.kernel_names}
        body = re.sub(r"^import .*?;$", "", text, flags=re.M)
        callees: set[Path] = set()
        for local, (module, exported) in imports.items():
            if module.name in ("kernel_names.js", "engine.js") or "/ops/" not in module.as_posix():
                continue
            if re.search(rf"(?<![\w.$]){re.escape(local)}\s*\(", body):
                target = self.resolve(module, exported)
                if target and target[0] != path:
                    callees.add(target[0])
        return kernels, callees

    def closure(self, start: Path) -> dict[str, str | None]:
        """kernel -> None (always run) or the condition under which everything ``start`` calls runs it.

        A kernel or callee module listed in ``CONDITIONAL_KERNELS`` for its caller makes that branch
        conditional; a kernel reached unconditionally on any path is unconditional.
        """
        found: dict[str, str | None] = {}
        seen: set[tuple[Path, str | None]] = set()
        todo: list[tuple[Path, str | None]] = [(start, None)]
        while todo:
            path, condition = todo.pop()
            if (path, condition) in seen:
                continue
            seen.add((path, condition))
            kernels, callees = self.direct(path)
            for kernel in kernels:
                when = condition or CONDITIONAL_KERNELS.get((path.stem, kernel))
                if kernel not in found or when is None:
                    found[kernel] = when
            for callee in callees:
                todo.append((callee, condition or CONDITIONAL_KERNELS.get((path.stem, callee.stem))))
        return found


def executor_calls(converter_dir: Path) -> dict[str, list[str]]:
    """graph op -> the ``ops.*`` functions its executor case calls (``fused.conv2d`` for namespaces)."""
    calls: dict[str, list[str]] = {}
    executors = sorted((converter_dir / "dist" / "operations" / "executors").glob("*_executor.js"))
    if not executors:
        raise GenerateError(f"no executors in {converter_dir}; is this a built @tensorflow/tfjs-converter?")
    for path in executors:
        text = _COMMENT.sub("", path.read_text(encoding="utf-8").split("//# sourceMappingURL")[0])
        body = text[text.find("export const executeOp"):]
        pieces = re.split(r"\bcase\s+'(\w+)'\s*:", body)
        pending: list[str] = []
        for label, block in zip(pieces[1::2], pieces[2::2]):
            pending.append(label)
            block = re.split(r"\bdefault\s*:", block)[0]
            functions = sorted(set(re.findall(r"\bops\.(\w+(?:\.\w+)?)\s*\(", block)))
            if not block.strip():  # fall-through: `case 'A': case 'B': {...}`
                continue
            for op in pending:
                calls[op] = functions
            pending = []
    return calls


_CONVERT = re.compile(r"convertToTensor(?:Array)?\((.*)")
#: The expected dtypes of a tfjs-core conversion that let a string tensor through (``assertDtype``); the default
#: ``'numeric'`` and ``'int32'``/``'float32'``/``'bool'`` throw "must be numeric tensor, but got string tensor".
_STRING_PARSE = re.compile(r"'(string_or_numeric|string)'\s*\)")


def string_limits(converter_dir: Path, core_dir: Path) -> list[dict[str, Any]]:
    """Graph ops whose tfjs-core functions refuse string tensors, as limits on every backend (``source: derived``).

    tfjs-core checks each tensor argument in ``convertToTensor(x, name, fn, parseAs)``: only ``parseAs``
    ``'string_or_numeric'`` or ``'string'`` lets a string tensor through. A graph op whose executor calls op
    functions that convert their arguments, none of them that way, throws for any string input (``ReverseV2``,
    ``Transpose``, ``GatherV2``, ``SelectV2``, ``AddV2`` ...). Ops the converter handles itself (Identity,
    Const, the table and list ops) and functions that convert nothing are left alone: nothing says they fail.
    """
    graph = ModuleGraph(core_dir)
    ops_module = core_dir / "dist" / "ops" / "ops.js"
    limits = []
    for op, functions in sorted(executor_calls(converter_dir).items()):
        numeric, accepts = [], False
        for function in functions:
            target = (graph.namespace_member(ops_module, *function.split(".", 1)) if "." in function
                      else graph.resolve(ops_module, function))
            if target is None:
                raise GenerateError(f"cannot find tfjs-core's ops.{function} (used by {op}); update ModuleGraph")
            conversions = _CONVERT.findall(graph._read(target[0]))
            accepts = accepts or any(_STRING_PARSE.search(c) for c in conversions)
            numeric += [function] if conversions else []
        if numeric and not accepts:
            limits += [{"op": op, "backend": backend, "when": {"anyinput:string": ["true"]}, "outcome": "throws",
                        "reason": f"tfjs-core's {'/'.join(numeric)} take numeric tensors only "
                                  "('must be numeric tensor, but got string tensor')"} for backend in BACKENDS]
    return limits


def _is_gradient_kernel(kernel: str) -> bool:
    return kernel.endswith("Grad") or "Backprop" in kernel


def op_kernels(converter_dir: Path, core_dir: Path) -> dict[str, dict[str, Any]]:
    """graph op -> {"functions": [...], "kernels": [...], "conditional": {...}}."""
    graph = ModuleGraph(core_dir)
    ops_module = core_dir / "dist" / "ops" / "ops.js"
    result: dict[str, dict[str, Any]] = {}
    for op, functions in sorted(executor_calls(converter_dir).items()):
        kernels: set[str] = set()
        conditional: dict[str, str] = {}
        for function in functions:
            if "." in function:
                target = graph.namespace_member(ops_module, *function.split(".", 1))
            else:
                target = graph.resolve(ops_module, function)
            if target is None:
                raise GenerateError(f"cannot find tfjs-core's ops.{function} (used by {op}); update ModuleGraph")
            for kernel, when in graph.closure(target[0]).items():
                if _is_gradient_kernel(kernel) and kernel != op:
                    continue
                if when is None or kernel == op:  # ComplexAbs always runs the ComplexAbs kernel
                    kernels.add(kernel)
                else:
                    conditional[kernel] = when
        result[op] = {"functions": functions, "kernels": sorted(kernels)}
        if conditional:
            result[op]["conditional_kernels"] = {k: conditional[k] for k in sorted(conditional) if k not in kernels}
    return result


# -- assembling the document ----------------------------------------------------------------------
def find_packages(runtime: Path) -> dict[str, Path]:
    base = runtime / "node_modules" / "@tensorflow"
    packages = {name: base / name for name in ("tfjs-converter", "tfjs-core")}
    for name, path in packages.items():
        if not (path / "package.json").is_file():
            raise GenerateError(f"@tensorflow/{name} not found in {runtime}")
        version = json.loads((path / "package.json").read_text(encoding="utf-8"))["version"]
        if version != VERSION:
            raise GenerateError(f"@tensorflow/{name} is {version}, not {VERSION}")
    return packages


def load_probe(path: Path = PROBE_FILE) -> dict[str, Any]:
    if not path.is_file():
        return {"limits": []}
    return json.loads(path.read_text(encoding="utf-8"))


def generate(runtime: Path, *, probe: dict[str, Any] | None = None, node: str = "node",
             webgpu_runtime: Path | None = None) -> dict[str, Any]:
    packages = find_packages(runtime)
    kernels = backend_kernels(runtime, node=node)
    kernels[WEBGPU] = webgpu_kernels(webgpu_runtime or webgpu_folder(runtime), node=node)
    ops = op_kernels(packages["tfjs-converter"], packages["tfjs-core"])
    probe = load_probe() if probe is None else probe
    limits = [dict(limit, source="curated") for limit in CURATED_LIMITS]
    limits += [dict(limit, source="probe") for limit in probe.get("limits", [])]
    limits += [dict(limit, source="unprobed") for limit in unprobed_rank_limits(ops, probe)]
    limits += [dict(limit, source="derived") for limit in string_limits(packages["tfjs-converter"], packages["tfjs-core"])]
    limits += [dict(limit, source="derived") for limit in complex_limits(ops)]
    limits += inferred_webgpu_limits(limits)
    limits.sort(key=lambda l: (l["op"], l["backend"], json.dumps(l, sort_keys=True)))
    return {
        "header": {
            "tfjs_version": kernels["versions"]["tfjs"],
            "backends": list(BACKENDS),
            "generator": "scripts/generate_backend_contract.py",
            "note": ("generated file, do not edit. backends: kernels each backend registers (generated); "
                     "ops: graph op -> kernels, from a static walk of tfjs-converter's executors into "
                     "tfjs-core's ops (generated; conditional_kernels from a reviewed table); limits: "
                     "source=curated from the kernel sources, source=probe from scripts/probe_backends.py, "
                     "source=derived from tfjs-core's dtype checks (string tensors) and the complex64 ops "
                     "measured to run (any other op refused for a complex64 input); "
                     "source=unprobed: rank >= 7 on a backend the probe never ran the op at that rank (outcome "
                     "unprobed, refused until probed); "
                     "quirks: value-dependent differences the probe found (0/0, int32 overflow), which no "
                     "dtype/attr selector can refuse: documented, never checked; deviations: special-value "
                     "differences the TF op conformance run measured (curated), named by every conversion "
                     "and rewritten by --exact_special_values where exact"),
            "webgpu": (f"registrations only: the kernels {WEBGPU_PACKAGE}@{VERSION} registers (read under Node), "
                       "no probe column (no WebGPU adapter headless here); limits: source=inferred copies the "
                       "limits cpu, wasm and webgl all share; not a default target"),
            "probe": probe.get("header", {}),
        },
        "backends": {**{name: {"kernels": kernels[name]} for name in BACKENDS},
                     WEBGPU: {"kernels": kernels[WEBGPU], "probed": False}},
        "ops": ops,
        "limits": limits,
        "quirks": probe.get("quirks", []),
        "deviations": SPECIAL_VALUE_DEVIATIONS,
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=False) + "\n"


def default_runtime() -> Path:
    sys.path.insert(0, str(REPO_ROOT))
    from tfjsconv.verify.runtime import ensure_runtime

    return ensure_runtime(quiet=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", type=Path, help="folder with node_modules/@tensorflow (default: the verify runtime)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare with --output instead of writing it")
    parser.add_argument("--webgpu_runtime", type=Path,
                        help=f"folder with node_modules/{WEBGPU_PACKAGE} (default: installed once into the cache)")
    args = parser.parse_args(argv)
    try:
        document = generate(args.runtime or default_runtime(), webgpu_runtime=args.webgpu_runtime)
    except GenerateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = dumps(document)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if current != text:
            print(f"{args.output} is stale; run scripts/generate_backend_contract.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}: {len(document['ops'])} ops, {len(document['limits'])} limits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
