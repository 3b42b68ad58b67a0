"""Known, documented mismatches of the TF op conformance run: one place, one reason per entry.

Keys are ``"<Op>/<case group>"``; values map an engine (``interpreter``, ``cpu``, ``wasm``, ``webgl``) to why
that case is wrong or fails there, starting with the status (``"wrong: …"``, ``"error: …"``). Each entry is a bug to fix (a mapping to rewrite, or a kernel to
correct) or a refusal to add to the backend contract. ``tests/test_conformance_tf_ops.py`` fails on
any wrong/error outcome not listed here, and on any entry whose status changed (remove it once fixed).
"""
from __future__ import annotations

#: (case key) -> {engine: reason}
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}


def _known(key: str, *, cpu: str | None = None, wasm: str | None = None, both: str | None = None,
           interpreter: str | None = None, webgl: str | None = None) -> None:
    """``both``: cpu and wasm; ``webgl``: measured by ``tf_ops.py --webgl`` (headless Chromium)."""
    entry = {"cpu": cpu or both, "wasm": wasm or both, "interpreter": interpreter, "webgl": webgl}
    EXPECTED_FAILURES.setdefault(key, {}).update({engine: why for engine, why in entry.items() if why})


# -- NaN / Inf handling in TF.js kernels ------------------------------------------------------------
# wasm: sign(NaN) and sign(x) for |x| <= 1.2e-7 are 0, which the required sign_comparisons pass rewrites (session 30;
# the conversion no longer shows it)
_known("Sign/special", cpu="wrong: TF.js sign(NaN) is 0, TF gives NaN")
_known("Relu6/special", wasm="wrong: wasm relu6(NaN) is 0 (clamp drops NaN), TF gives NaN")
_known("Maximum/special", wasm="wrong: wasm maximum(x, NaN) drops the NaN, TF propagates it")
_known("Minimum/special", wasm="wrong: wasm minimum(x, NaN) drops the NaN, TF propagates it")
_known("ClipByValue/f32_scalar_bounds", wasm="wrong: wasm clipByValue(NaN) gives the lower bound, TF gives NaN")
_known("Pow/special", cpu="wrong: TF.js cpu pow(1, NaN) and pow(±1, ±Inf) are NaN (JS Math.pow), TF gives 1")
_known("ArgMax/nan", both="wrong: TF.js picks a leading NaN ([NaN,0,0] -> 0), TF never picks NaN (-> 1)")
_known("ArgMin/nan", both="wrong: TF.js picks a leading NaN ([NaN,0,0] -> 0), TF never picks NaN (-> 1)")
_known("ArgMax/nan_neg_inf_rows", both="wrong: TF.js picks a leading NaN ([NaN,5,NaN] -> 0), TF never picks NaN (-> 1)")
_known("ArgMin/nan_pos_inf_rows", both="wrong: TF.js picks a leading NaN ([NaN,5,NaN] -> 0), TF never picks NaN (-> 1)")
_known("MaxPool/nan_and_neg_inf_windows",
       both="wrong: TF.js gives -Inf/NaN for an all -Inf/NaN window, TF's window max starts at -FLT_MAX")
_known("Softmax/several_inf", both="wrong: TF.js gives NaN for a whole row with +Inf, TF gives NaN at +Inf and 0 elsewhere")
_known("ClipByValue/nan_bounds", both="error: TF.js clip throws for a NaN bound (min must be <= max), TF ignores it")
_known("DepthwiseConv2dNative/nan_inf", wasm="wrong: wasm depthwise conv of a window holding NaN gives a number "
       "(-Inf, 0…), TF gives NaN")
_known("Maximum/nan_broadcast", wasm="wrong: wasm maximum(x, NaN) drops the NaN, TF propagates it")
_known("Softmax/large_and_inf", both="wrong: TF.js gives NaN for a whole row with +Inf, TF gives 0 where exp underflows")
_known("Relu/signed_nan", wasm="wrong: wasm relu of a NaN with its sign bit set (-NaN) gives 0, TF keeps NaN")
_known("AvgPool/nan_inf", wasm="wrong: wasm avg pool of a window holding NaN, or +Inf beside -Inf, gives a number or an "
       "infinity, TF gives NaN")
_known("MaxPool/neg_inf_nan", wasm="wrong: wasm max pool over a window holding NaN gives -Inf/other values, TF skips the NaN")
_known("Where/f32_2d", wasm="wrong: wasm where() treats NaN as false (TF: NaN is non-zero, so true)")
_known("Sin/special", wasm="wrong: wasm sin(±1e30) loses accuracy (argument reduction)")
_known("Cos/special", wasm="wrong: wasm cos(±1e30) loses accuracy (argument reduction)")
# session 32 (h2b): wasm's float32 argument reduction is about 7e-17 times the argument off (7e-5 at 1e12)
_known("Sin/large", wasm="wrong: wasm sin loses accuracy past ±1.5e11 (argument reduction: 7e-5 at 1e12)")
_known("Cos/large", wasm="wrong: wasm cos loses accuracy past ±1.5e11 (argument reduction: 7e-5 at 1e12)")
# -- int32 overflow and dtypes ----------------------------------------------------------------------
_known("Abs/i32", both="wrong: TF.js abs(INT32_MAX) overflows to INT32_MIN (float32 round trip)")
_known("Neg/i32", wasm="wrong: wasm neg(INT32_MAX) gives INT32_MIN (float32 round trip)")
_known("Square/i32", cpu="wrong: TF.js cpu square(int32) loses low bits past 2^24 (float32), TF wraps")
_known("Mul/i32_overflow", cpu="wrong: TF.js cpu int32 multiply is a JS float64 one: products past 2^53 lose low "
       "bits before the int32 store wraps; TF wraps modulo 2^32")
_known("Cast/f32_to_i32_out_of_range", both="wrong: TF.js wraps floats outside int32's range modulo 2^32 and casts "
       "NaN/±Inf to 0; TF (x86-64) gives INT32_MIN for each (--exact_special_values rewrites it)")
_known("Prod/i32_wide", cpu="wrong: TF.js cpu int32 product is a JS float64 one: products past 2^53 lose low bits "
       "before the int32 store wraps; TF wraps every step modulo 2^32")
_known("Cumprod/i32_wide", cpu="wrong: TF.js cpu int32 cumulative product multiplies in float64: steps past 2^53 "
       "lose low bits before the int32 store wraps; TF wraps modulo 2^32")
_known("FloorDiv/i32_signs", wasm="wrong: wasm INT32_MAX // 1 gives INT32_MIN (float32 round trip)")
# session 19: int32 Pow, SquaredDifference and matmuls past 2^31 / 2^53 (tests/test_int32_overflow_rows_s19.py);
# session 21: the int32_power pass makes Pow/i32_overflow exact on cpu and wasm (tests/test_int32_power_s21.py)
_known("SquaredDifference/i32_overflow", cpu="wrong: TF.js cpu int32 squared difference multiplies in float64: squares "
       "past 2^53 lose low bits before the int32 store wraps; TF wraps modulo 2^32")
_F64_MATMUL = ("wrong: TF.js cpu int32 matmul multiplies and adds in float64: sums of products past 2^53 lose low bits "
               "before the int32 store wraps; TF wraps modulo 2^32")
_known("MatMul/i32_wide", cpu=_F64_MATMUL)
_known("BatchMatMulV2/i32_wide", cpu=_F64_MATMUL)
_known("TruncateDiv/i32_signs", wasm="wrong: wasm INT32_MAX / 1 gives INT32_MIN (float32 round trip)")
_known("Div/i32_signs", wasm="wrong: wasm INT32_MAX / 1 gives INT32_MIN (float32 round trip)")
# -- mappings tfjsconv emits that TF.js reads differently -----------------------------------------------
# (wrong GatherV2 batch_dims, MatrixBandPart, FakeQuant, EuclideanNorm, nearest ImageProjectiveTransformV3,
# MaxPoolWithArgmax/Dilation2D on wasm, int32 Cumsum/ResizeNearestNeighbor: refused by the backend contract;
# Mean over an empty axis: rewritten to NaN by empty_reductions)
_known("TopKV2/nan_inf", both="wrong: TF.js topk ranks NaN below +Inf, TF ranks NaN first")
# session 16's NaN sweep: ops no case had fed a NaN (contract rows; tests/test_signed_nan_sweep.py)
_SAME_SIZE = "wrong: a resize to the input's own size turns ±Inf into NaN (0·Inf); TF copies the input"
_known("ResizeBilinear/nan_inf_same_size", cpu=_SAME_SIZE, webgl=_SAME_SIZE, wasm="wrong: wasm weighs every "
       "neighbour, so a NaN or ±Inf pixel makes NaN of outputs that give it weight 0 (0·Inf)")
_LRN_NAN = ("wrong: TF's CPU LRN sums squares through a band matrix, so a NaN or ±Inf makes NaN of the channels "
            "outside its window too (0·Inf); TF.js sums the window only")
_known("LRN/nan_inf", both=_LRN_NAN, webgl=_LRN_NAN)
_known("NonMaxSuppressionV3/nan_boxes", both="wrong: TF.js never selects a box with a NaN coordinate; TF may",
       webgl="wrong: TF.js never selects a box with a NaN coordinate; TF may")
_known("UpperBound/nan_values", cpu="wrong: TF.js cpu gives 0 for a NaN value, TF the row length",
       webgl="wrong: webgl gives 0 for a NaN value, TF the row length")
_UNIQUE_NAN = "wrong: TF.js merges every NaN into one element (its keys are the values' text); TF keeps each NaN apart"
_known("Unique/nan", both=_UNIQUE_NAN, webgl=_UNIQUE_NAN)  # session 30 (h6, tf_random_graphs --wide); webgl s31
_known("UniqueV2/nan", both=_UNIQUE_NAN, webgl=_UNIQUE_NAN)
_LISTDIFF_NAN = "wrong: TF.js finds a NaN of x in y (a JS Set) and drops it; TF keeps it (NaN != NaN)"
_known("ListDiff/nan", both=_LISTDIFF_NAN, webgl=_LISTDIFF_NAN)
_known("MaxPoolWithArgmax/nan_first_in_window", cpu="wrong: TF.js skips a NaN first in its window; TF's max starts "
       "there and stays NaN")
_known("RFFT/nan", cpu="wrong: TF.js makes every bin of a row holding NaN NaN; TF's FFT leaves some real parts finite",
       webgl="wrong: webgl makes every bin of a row holding NaN NaN; TF's FFT leaves some real parts finite")
# session 18: float32 reductions whose partial results pass ±FLT_MAX (contract rows,
# tests/test_special_values_reductions.py); TF adds in float32, rows shorter than 8 in order, longer rows in 8 AVX lanes
_F64 = ("wrong: TF.js cpu accumulates in float64, so partial results past FLT_MAX that come back stay finite; "
        "TF's float32 ")
_INTERP = "wrong: the interpreter's numpy reduction keeps partial results past FLT_MAX (or adds in another order); TF "
_ORDER = "wrong: adds in another order than TF's 8 AVX lanes, so partial sums past FLT_MAX differ"
_known("Sum/overflow_rows", cpu=_F64 + "sum gives Inf", interpreter=_INTERP + "gives Inf")
_known("Sum/overflow_columns_keep", cpu=_F64 + "sum gives Inf", interpreter=_INTERP + "gives Inf")
_known("Sum/overflow_lanes", wasm=_ORDER, webgl=_ORDER)
_MEAN_FIRST = ("wrong: TF.js divides each value by the count before summing, so a mean whose sum passes FLT_MAX is "
               "finite; TF gives Inf")
_known("Mean/overflow_rows", cpu=_MEAN_FIRST, webgl=_MEAN_FIRST, interpreter=_INTERP + "gives Inf")
_known("Mean/overflow_columns_keep", cpu=_MEAN_FIRST, webgl=_MEAN_FIRST, interpreter=_INTERP + "gives Inf")
_known("Mean/overflow_lanes", wasm=_ORDER)
_PROD = ("wrong: TF.js multiplies in another order (cpu: in float64), so products past FLT_MAX or 0 differ "
         "(TF: Inf·0 = NaN)")
_known("Prod/overflow_rows", cpu=_PROD, webgl=_PROD, interpreter=_INTERP + "gives NaN (Inf·0)")
_known("Prod/overflow_columns_keep", cpu=_PROD, webgl=_PROD, interpreter=_INTERP + "gives NaN (Inf·0)")
_known("Prod/overflow_lanes", cpu=_PROD, wasm=_PROD, webgl=_PROD, interpreter=_INTERP + "gives NaN (Inf·0)")
_known("AvgPool/overflow_windows", cpu=_F64 + "window sum gives Inf", interpreter=_INTERP + "gives Inf")
_known("Cumsum/overflow_rows",
       webgl="wrong: webgl's parallel prefix sum adds in another order (partial sums past FLT_MAX)")
_known("Cumprod/overflow_rows",
       webgl="wrong: webgl's parallel prefix product multiplies in another order (Inf·0 = NaN)")
_known("TensorScatterUpdate/inf_overwritten", webgl="wrong: webgl's scatter shader mixes by 0·x, so an overwritten "
       "±Inf or NaN gives NaN; TF gives the update")

# -- webgl (``tf_ops.py --webgl``, headless Chromium on SwiftShader): each a deviation the contract records for
# webgl (scripts/generate_backend_contract.py); its limits (rank-5+ Reverse, rank-6+ strided StridedSlice,
# MaxPoolWithArgmax, CropAndResize) refuse, and empty_reductions rewrites an empty EuclideanNorm / MatMul
_WEBGL_NAN = "wrong: webgl's shader special-cases NaN/±Inf its own way: "
for _key, _why in {
    "Sign/special": "sign(NaN) is 0", "Relu/special": "relu(-Inf) is NaN", "Relu6/special": "relu6(-Inf) is NaN",
    "Elu/special": "elu(NaN) is Inf", "Selu/special": "selu(NaN) is Inf", "Softplus/special": "softplus(NaN) is Inf",
    "Sinh/special": "sinh(NaN) is Inf", "Cosh/special": "cosh(NaN) is Inf", "LeakyRelu/special": "leaky_relu(Inf) is NaN",
    "Asinh/special": "asinh(1e30) overflows to Inf", "Acosh/special": "acosh(1e30) overflows to Inf",
    "Atanh/special": "atanh(±1) is finite",
    "Div/special": "x / x is 1 for NaN/±Inf/0", "RealDiv/special": "x / x is 1 for NaN/±Inf/0",
    "FloorDiv/special": "x // x is 1 for NaN/±Inf", "DivNoNan/special": "x / x is 1 for NaN/±Inf",
    "FloorMod/special": "mod by ±Inf differs", "Mod/special": "mod by ±Inf differs",
    "TruncateMod/special": "mod by ±Inf differs", "Atan2/special": "atan2 of ±0/±Inf pairs differs",
    "Pow/special": "pow(x, NaN) and pow(±1, ±Inf) differ", "Pow/neg_base_frac": "pow(-0, negative) is 0, TF gives Inf",
    "EuclideanNorm/nan": "the norm of a row holding NaN is Inf", "ArgMax/nan": "picks a leading NaN",
    "ArgMin/nan": "picks a leading NaN", "ArgMax/nan_neg_inf_rows": "picks a leading NaN",
    "ArgMin/nan_pos_inf_rows": "picks a leading NaN", "Softmax/large_and_inf": "a row with +Inf is all NaN",
    "Softmax/several_inf": "a row with +Inf is all NaN", "TopKV2/nan_inf": "ranks NaN below +Inf",
    "MaxPool/nan_and_neg_inf_windows": "its window max starts at -1e20, TF's at -FLT_MAX",
    "ClipByValue/f32_scalar_bounds": "clip(-1e30, -2, 3) gives -1e30",
}.items():
    _known(_key, webgl=_WEBGL_NAN + _why)
# Log1p/f32 and Log1p/special pass on webgl: the log1p pass rewrites float32 Log1p (session 33)
# measured on the shaders: the webgl page turns WEBGL_CPU_FORWARD off (with TF.js's default, webgl runs its CPU
# kernels, which are right here, for small CPU-resident inputs such as these cases')
_known("Log/special", webgl=_WEBGL_NAN + "log(±0) is -88.03 (log(2^-127) on SwiftShader), TF gives -Inf")
_known("Expm1/special", webgl=_WEBGL_NAN + "expm1(NaN) is +Inf, TF gives NaN")
_known("ClipByValue/nan_bounds", webgl="error: TF.js clip throws for a NaN bound (min must be <= max), TF ignores it")
for _key in ("Sin/f32", "Sin/special", "Sin/large", "Cos/f32", "Cos/special", "Cos/large", "Tan/f32", "Tan/special",
             "Tan/large", "Acos/f32", "Acos/special",
             "Acos/domain", "FFT/c64", "IFFT/c64", "RFFT/f32", "IRFFT/c64"):
    _known(_key, webgl="wrong: webgl's GLSL sin/cos/acos are ~1e-4 off on SwiftShader (GPU-dependent precision; "
                       "FFTs use them for their twiddle factors), sin/cos off past ±2e3 (1e-2 at 1e5), tan past ±1e3, "
                       "no digit past 1e7")
for _key in ("Abs/i32", "Square/i32", "Relu/i32", "Mul/i32_overflow", "FloorDiv/i32_signs", "TruncateDiv/i32_signs",
             "Div/i32_signs", "Sum/i32_overflow", "Neg/i32", "Add/i32_overflow", "AddV2/i32_overflow",
             "Sub/i32_overflow", "Prod/i32_wide", "Cumprod/i32_wide", "Pow/i32_overflow", "SquaredDifference/i32_overflow",
             "MatMul/i32_wide", "BatchMatMulV2/i32_wide"):
    _known(_key, webgl="wrong: webgl holds int32 as float32: INT32_MAX and results past 2^24 lose their low bits")

SAFE_STATUSES = frozenset({"pass", "refused", "unsupported", "no kernel", "skipped"})


def crashes_tfjs(key: str) -> bool:
    """Whether the case is known to make a TF.js backend throw (it then runs alone, saving a bisection)."""
    return any(why.startswith("error") for engine, why in EXPECTED_FAILURES.get(key, {}).items()
               if engine != "interpreter")


def unexpected_exact(key: str, engine: str, status: str, *, rewritten: bool | None) -> str | None:
    """Why ``status`` with ``--exact_special_values`` is not what it should be, or None.

    ``rewritten``: whether the flag rewrites the case's deviation (None: the case shows none). A case the
    flag leaves must fail as listed; every other case must pass (or be refused), as without the flag.
    """
    if rewritten is False:
        return unexpected(key, engine, status)
    return None if status in SAFE_STATUSES else f"{status} with --exact_special_values"


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
