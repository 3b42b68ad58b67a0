"""Known, documented mismatches of the TF op conformance run: one place, one reason per entry.

Keys are ``"<Op>/<case group>"``; values map an engine (``interpreter``, ``cpu``, ``wasm``) to why
that case is wrong or fails there, starting with the status (``"wrong: …"``, ``"error: …"``). Each entry is a bug to fix (a mapping to rewrite, or a kernel to
correct) or a refusal to add to the backend contract. ``tests/test_conformance_tf_ops.py`` fails on
any wrong/error outcome not listed here, and on any entry whose status changed (remove it once fixed).
"""
from __future__ import annotations

#: (case key) -> {engine: reason}
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}


def _known(key: str, *, cpu: str | None = None, wasm: str | None = None, both: str | None = None,
           interpreter: str | None = None) -> None:
    entry = {"cpu": cpu or both, "wasm": wasm or both, "interpreter": interpreter}
    EXPECTED_FAILURES[key] = {engine: why for engine, why in entry.items() if why}


# -- NaN / Inf handling in TF.js kernels ------------------------------------------------------------
_known("Sign/special", both="wrong: TF.js sign(NaN) is 0, TF gives NaN")
_known("Relu6/special", wasm="wrong: wasm relu6(NaN) is 0 (clamp drops NaN), TF gives NaN")
_known("Maximum/special", wasm="wrong: wasm maximum(x, NaN) drops the NaN, TF propagates it")
_known("Minimum/special", wasm="wrong: wasm minimum(x, NaN) drops the NaN, TF propagates it")
_known("ClipByValue/f32_scalar_bounds", wasm="wrong: wasm clipByValue(NaN) gives the lower bound, TF gives NaN")
_known("Pow/special", cpu="wrong: TF.js cpu pow(NaN, 0) is NaN, TF gives 1")
_known("FloorMod/special", both="wrong: TF.js mod(x, ±Inf) is NaN, TF gives x (or ±Inf when the signs differ)")
_known("ArgMax/nan", both="wrong: TF.js picks a leading NaN ([NaN,0,0] -> 0), TF never picks NaN (-> 1)")
_known("ArgMin/nan", both="wrong: TF.js picks a leading NaN ([NaN,0,0] -> 0), TF never picks NaN (-> 1)")
_known("Softmax/large_and_inf", both="wrong: TF.js gives NaN for a whole row with +Inf, TF gives 0 where exp underflows")
_known("MaxPool/neg_inf_nan", wasm="wrong: wasm max pool over a NaN window gives -Inf/other values, TF propagates NaN")
_known("Where/f32_2d", wasm="wrong: wasm where() treats NaN as false (TF: NaN is non-zero, so true)")
_known("Sin/special", wasm="wrong: wasm sin(±1e30) loses accuracy (argument reduction)")
_known("Cos/special", wasm="wrong: wasm cos(±1e30) loses accuracy (argument reduction)")
# -- int32 overflow and dtypes ----------------------------------------------------------------------
_known("Abs/i32", both="wrong: TF.js abs(INT32_MAX) overflows to INT32_MIN (float32 round trip)")
_known("Neg/i32", wasm="wrong: wasm neg(INT32_MAX) gives INT32_MIN (float32 round trip)")
_known("Square/i32", cpu="wrong: TF.js cpu square(int32) loses low bits past 2^24 (float32), TF wraps")
_known("Mul/i32_overflow", cpu="wrong: TF.js cpu int32 multiply goes through float32, TF wraps modulo 2^32")
_known("FloorDiv/i32_signs", wasm="wrong: wasm INT32_MAX // 1 gives INT32_MIN (float32 round trip)")
_known("TruncateDiv/i32_signs", wasm="wrong: wasm INT32_MAX / 1 gives INT32_MIN (float32 round trip)")
_known("Div/i32_signs", wasm="wrong: wasm INT32_MAX / 1 gives INT32_MIN (float32 round trip)")
_known("FloorDiv/f32_broadcast", cpu="wrong: TF.js cpu floorDiv returns int32 for float32 inputs, TF keeps float32")
_known("FloorDiv/special", cpu="wrong: TF.js cpu floorDiv returns int32 for float32 inputs, TF keeps float32")
_known("FloorDiv/empty", cpu="wrong: TF.js cpu floorDiv returns int32 for float32 inputs, TF keeps float32")
_known("Cumsum/i32_exclusive_rev", cpu="error: TF.js cpu cumsum(int32, exclusive, reverse, axis -1) returns a shape "
       "holding null", wasm="error: wasm cumsum(int32, exclusive, reverse, axis -1) crashes (memory access out of bounds)")
_known("Select/bool_branches", wasm="wrong: wasm select() with bool branches picks t where cond is false (2 of 8)")
_known("ResizeNearestNeighbor/i32_up2", wasm="wrong: wasm resizeNearestNeighbor returns float32 for int32 images")
# -- empty tensors ----------------------------------------------------------------------------------
_known("Mean/empty_reduced", cpu="wrong: TF.js cpu mean over an empty axis is 0, TF gives NaN",
       wasm="wrong: wasm mean over an empty axis returns uninitialised memory, TF gives NaN")
_known("Max/empty_reduced", cpu="wrong: TF.js cpu max over an empty axis is NaN, TF gives -Inf",
       wasm="wrong: wasm max over an empty axis returns uninitialised memory, TF gives -Inf")
_known("Min/empty_reduced", cpu="wrong: TF.js cpu min over an empty axis is NaN, TF gives +Inf",
       wasm="wrong: wasm min over an empty axis returns uninitialised memory, TF gives +Inf")
_known("Prod/empty_reduced", wasm="wrong: wasm prod over an empty axis returns uninitialised memory, TF gives 1")
# -- mappings tfjsconv emits that TF.js reads differently -----------------------------------------------
_known("BatchMatMulV2/broadcast", both="error: TF.js batchMatMul broadcasting batch dims of different rank "
                                         "(2,1,3,4)x(3,4,5) returns a tensor with too few elements")
_known("BatchMatMulV2/rank5", both="error: TF.js batchMatMul broadcasting rank-5 batch dims returns too few elements")
_known("Select/vector_cond", both="error: TF.js select() does not take TF's rank-1 condition selecting rows")
_known("TopKV2/nan_inf", both="wrong: TF.js topk ranks NaN below +Inf, TF ranks NaN first")
_known("OneHot/depth1_neg_axis0", cpu="error: TF.js oneHot refuses depth 1 (needs >= 2), TF allows it")
_known("GatherV2/batch_dims1", wasm="wrong: wasm gather with batch_dims=1 picks wrong rows")
_known("GatherV2/batch_dims1_axis2", wasm="wrong: wasm gather with batch_dims=1 picks wrong rows")
_known("OneHot/axis0_values", cpu="wrong: TF.js oneHot ignores the axis attr (always last)")
_known("MatrixBandPart/lower1_upper0", both="wrong: TF.js bandPart keeps elements outside the band")
_known("MatrixBandPart/all_lower", both="wrong: TF.js bandPart keeps elements outside the band")
_known("EuclideanNorm/no_axes", both="error: TF.js norm() rejects an empty axis list (TF: identity on |x|)")
_known("EuclideanNorm/i32", both="error: TF.js euclideanNorm on int32 calls sqrt on int32 and throws")
_known("EnsureShape/f32", both="error: TF.js reads EnsureShape's shape from a 2nd input TF's op does not have")
_known("BitwiseAnd/i32", both="error: TF.js's BitwiseAnd mapping passes no tensor (x is null)")
_known("NonMaxSuppressionV5/basic", both="error: TF.js's NonMaxSuppressionV5 returns only indices and scores, "
       "so output 2 (valid_outputs) cannot be computed; rewrite it as Size(indices)")
_known("FakeQuantWithMinMaxVars/8bit", both="wrong: TF.js fakeQuantWithMinMaxVars does not clamp to [min, max] (2.99 stays, TF gives 1.5)")
_known("FakeQuantWithMinMaxVars/narrow", both="wrong: TF.js fakeQuantWithMinMaxVars does not clamp to [min, max] (2.99 stays, TF gives 1.5)")
_known("ImageProjectiveTransformV3/nearest", cpu="wrong: TF.js nearest transform samples points TF fills with fill_value")
_known("MaxPoolWithArgmax/same", wasm="wrong: wasm maxPoolWithArgmax starts the max at FLT_MIN, so all-negative windows give 1.2e-38")
_known("MaxPoolWithArgmax/batch_in_index", wasm="wrong: wasm maxPoolWithArgmax starts the max at FLT_MIN, so all-negative windows give 1.2e-38")
_known("MaxPool3D/all_negative", wasm="wrong: wasm maxPool3d starts the max at FLT_MIN, so all-negative windows give 1.2e-38")
_known("MaxPool3D/same", wasm="wrong: wasm maxPool3d starts the max at FLT_MIN, so all-negative windows give 1.2e-38")
_known("Dilation2D/same", wasm="wrong: wasm dilation2d starts the max at FLT_MIN, so all-negative windows give 1.2e-38")

SAFE_STATUSES = frozenset({"pass", "refused", "unsupported", "no kernel", "skipped"})


def crashes_tfjs(key: str) -> bool:
    """Whether the case is known to make a TF.js backend throw (it then runs alone, saving a bisection)."""
    return any(why.startswith("error") for engine, why in EXPECTED_FAILURES.get(key, {}).items()
               if engine != "interpreter")


def unexpected(key: str, engine: str, status: str) -> str | None:
    """Why ``status`` of ``engine`` on case ``key`` disagrees with this table, or None.

    A listed reason starts with the status it expects (``"wrong: …"`` or ``"error: …"``).
    """
    listed = EXPECTED_FAILURES.get(key, {}).get(engine)
    if listed is None:
        return None if status in SAFE_STATUSES else f"{status}, and not listed in bench/conformance/expected_tf.py"
    if listed.split(":")[0] != status:
        return f"listed as {listed.split(':')[0]} but now {status}: update bench/conformance/expected_tf.py"
    return None
