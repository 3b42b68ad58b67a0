"""Small TF op cases for the conformance run: representative dtypes, attrs and awkward values.

Every case is one ``tf.raw_ops`` call (see :class:`harness_tf.Case`). Inputs are deterministic
(seeded), so a mismatch found once is found again. Shape/axis/size inputs are Consts, as in real
models; data inputs are placeholders so the converter cannot fold the op away.
"""
from __future__ import annotations

import numpy as np

from harness_tf import Case

_rng = np.random.default_rng(1234)
NAN, INF = np.float32(np.nan), np.float32(np.inf)
#: Awkward float32 values: signed zeros, halves (rounding), huge/tiny, NaN, ±Inf.
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.7, -3.7, 1e-30, -1e-30, 1e30, -1e30,
                    NAN, INF, -INF], np.float32)
I32_MAX, I32_MIN = np.iinfo(np.int32).max, np.iinfo(np.int32).min


def f32(*shape: int, scale: float = 1.0, low: float | None = None) -> np.ndarray:
    if low is not None:
        return _rng.uniform(low, scale, shape).astype(np.float32)
    return (_rng.standard_normal(shape) * scale).astype(np.float32)


def i32(*values: int) -> np.ndarray:
    return np.array(values, np.int32)


def ints(*shape: int, low: int = -9, high: int = 10) -> np.ndarray:
    return _rng.integers(low, high, shape).astype(np.int32)


def bools(*shape: int) -> np.ndarray:
    return _rng.random(shape) > 0.5


CASES: list[Case] = []


def case(op: str, group: str, inputs: list, attrs: dict | None = None, consts: tuple[int, ...] = (), **kw) -> None:
    CASES.append(Case(op, group, inputs, dict(attrs or {}), tuple(consts), **kw))


# -- elementwise unary ---------------------------------------------------------------------------
_POSITIVE = np.array([1e-30, 1e-6, 0.1, 0.5, 1, 2.5, 10, 1e4, 3e38], np.float32)
UNARY_FLOAT = {
    # op: inputs for the "domain" group (values in the op's natural range)
    "Abs": None, "Neg": None, "Sign": None, "Square": None, "Floor": None, "Ceil": None, "Round": None,
    "Rint": None, "Exp": None, "Expm1": None, "Sigmoid": None, "Tanh": None, "Relu": None, "Relu6": None,
    "Elu": None, "Selu": None, "Softplus": None, "Softsign": None, "Erf": None, "Sin": None, "Cos": None,
    "Tan": None, "Atan": None, "Sinh": None, "Cosh": None, "Asinh": None, "IsNan": None, "IsInf": None,
    "IsFinite": None, "Reciprocal": None, "Inv": None, "LeakyRelu": None,
    "Sqrt": _POSITIVE, "Rsqrt": _POSITIVE, "Log": _POSITIVE, "Log1p": np.array([-0.9, -0.5, 0, 1e-7, 1, 100], np.float32),
    "Asin": np.array([-1, -0.7, 0, 0.3, 1], np.float32), "Acos": np.array([-1, -0.7, 0, 0.3, 1], np.float32),
    "Atanh": np.array([-0.99, -0.5, 0, 0.5, 0.99], np.float32), "Acosh": np.array([1, 1.5, 3, 100], np.float32),
}
for _op, _domain in UNARY_FLOAT.items():
    _attrs = {"alpha": 0.2} if _op == "LeakyRelu" else {}
    case(_op, "f32", [f32(2, 3, 4, scale=3)], _attrs)
    case(_op, "special", [SPECIAL], _attrs)
    case(_op, "empty", [np.zeros((0, 3), np.float32)], _attrs)
    if _domain is not None:
        case(_op, "domain", [_domain], _attrs)
for _op in ("Abs", "Neg", "Sign", "Square", "Relu"):
    case(_op, "i32", [i32(-7, 0, 5, I32_MAX, I32_MIN + 1, -1)])
#: Large angles (session 32, h2b): wasm's sin/cos are 1e-5 off from ±1.5e11 (7e-5 at 1e12), webgl's from ±2e3
for _op in ("Sin", "Cos", "Tan"):
    case(_op, "large", [np.array([1e3, -3e3, 1e5, -1e8, 1e11, -3e11, 1e12, -5e15], np.float32)])
case("Relu6", "i32", [i32(-7, 0, 5, 6, 7, 100)])

# -- elementwise binary --------------------------------------------------------------------------
BINARY_FLOAT = ["Add", "AddV2", "Sub", "Mul", "Div", "RealDiv", "Maximum", "Minimum", "Pow", "SquaredDifference",
                "FloorDiv", "FloorMod", "Mod", "TruncateMod", "DivNoNan", "Atan2"]
_A = np.repeat(SPECIAL, 18)
_B = np.tile(SPECIAL, 18)
for _op in BINARY_FLOAT:
    case(_op, "f32_broadcast", [f32(2, 3, 1, scale=3), f32(4, scale=3)])
    case(_op, "special", [_A, _B])
    case(_op, "empty", [np.zeros((0, 4), np.float32), f32(4)])
for _op in ["Add", "AddV2", "Sub", "Mul", "Maximum", "Minimum", "SquaredDifference"]:
    case(_op, "i32", [ints(3, 4), ints(4)])
for _op in ["Add", "AddV2", "Sub", "Mul"]:
    case(_op, "i32_overflow", [i32(I32_MAX, I32_MIN, 65536, -65536, I32_MAX), i32(1, -1, 65536, 65536, I32_MAX)])
_NUM = i32(-7, 7, -7, 7, 0, -6, 5, I32_MIN, I32_MAX, -1)
_DEN = i32(2, -2, -2, 2, 3, 3, -7, -1, 1, 5)
for _op in ["FloorDiv", "FloorMod", "Mod", "TruncateMod", "TruncateDiv", "Div"]:
    case(_op, "i32_signs", [_NUM, _DEN])
case("DivNoNan", "zero_den", [np.float32([5, -5, 0, NAN]), np.float32([0, 0, 0, 0])])
case("TruncateDiv", "f32_signs", [np.float32([-7.5, 7.5, 0.5, -0.5]), np.float32([2, -2, -0.25, 3])])
case("Pow", "i32", [i32(2, -3, 0, 5, 1, -1), i32(3, 3, 0, 2, 9, 4)])
# int32 powers past 2^31 (TF wraps modulo 2^32: 50000^2 is -1794967296) and past 2^53 (46341^4, 3^40), and
# squared differences past 2^53 (100000001^2; (INT32_MIN - 1)^2 wraps the difference first): session 19
case("Pow", "i32_overflow", [i32(301, 3, 50000, 46341, -50000, 3, 2, -3, 7, 65536), i32(3, 5, 2, 4, 3, 40, 31, 21, 0, 2)])
case("SquaredDifference", "i32_overflow", [i32(100000001, 7, 2**30, 94906267, I32_MIN, 46341, 134217729, -65537),
                                           i32(0, 3, -2**30, 0, 1, 0, 0, 65537)])
case("Pow", "neg_base_frac", [np.float32([-8, -2, 0, 0, 4]), np.float32([1 / 3, 0.5, -1, 0, -0.5])])
for _op in ["Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual"]:
    case(_op, "f32_broadcast", [f32(2, 3, 1), f32(4)])
    case(_op, "special", [_A, _B])
    case(_op, "i32", [ints(3, 4, low=-2, high=3), ints(4, low=-2, high=3)])
case("Equal", "bool", [bools(3, 4), bools(4)])
for _op in ["LogicalAnd", "LogicalOr"]:
    case(_op, "bool_broadcast", [bools(2, 3, 1), bools(4)])
case("LogicalNot", "bool", [bools(3, 4)])
case("BitwiseAnd", "i32", [i32(-1, 5, 12, I32_MIN, 0), i32(7, 3, 10, -1, 9)])
case("AddN", "f32_three", [[f32(2, 3), f32(2, 3), f32(2, 3)]])
case("AddN", "i32", [[ints(4), ints(4)]])
case("ClipByValue", "f32_scalar_bounds", [SPECIAL, np.float32(-2), np.float32(3)])
case("ClipByValue", "f32_tensor_bounds", [f32(3, 4, scale=3), np.full((3, 4), -1, np.float32), np.full((3, 4), 1, np.float32)])
case("ClipByValue", "i32", [ints(6), np.int32(-2), np.int32(3)])
case("Select", "vector_cond", [bools(3), f32(3, 2), f32(3, 2)])
case("Select", "same_shape", [bools(3, 2), f32(3, 2), f32(3, 2)])
case("SelectV2", "broadcast", [bools(3, 1), f32(3, 4), f32(4)])
case("SelectV2", "i32_scalar_cond", [np.bool_(True), ints(2, 3), ints(2, 3)])
case("BiasAdd", "nhwc", [f32(2, 3, 3, 4), f32(4)], {"data_format": "NHWC"}, consts=(1,))
case("BiasAdd", "nchw", [f32(2, 4, 3, 3), f32(4)], {"data_format": "NCHW"}, consts=(1,))
case("LeakyRelu", "alpha_negative", [f32(3, 4)], {"alpha": -0.5})

# -- reductions ----------------------------------------------------------------------------------
X = f32(2, 3, 4, scale=2)
for _op in ["Sum", "Mean", "Max", "Min", "Prod", "EuclideanNorm"]:
    case(_op, "axis1_keep", [X, i32(1)], {"keep_dims": True}, consts=(1,))
    case(_op, "axes_neg", [X, i32(0, -1)], {"keep_dims": False}, consts=(1,))
    case(_op, "scalar_axis", [X, np.int32(2)], {"keep_dims": False}, consts=(1,))
    case(_op, "no_axes", [X, np.zeros(0, np.int32)], {"keep_dims": False}, consts=(1,))
    case(_op, "i32", [ints(3, 4), i32(1)], {"keep_dims": False}, consts=(1,))
    case(_op, "nan", [np.float32([[1, NAN, 3], [INF, -INF, 2]]), i32(1)], {"keep_dims": False}, consts=(1,))
    case(_op, "empty_reduced", [np.zeros((0, 3), np.float32), i32(0)], {"keep_dims": False}, consts=(1,))
case("Sum", "i32_overflow", [i32(I32_MAX, 1, 5), i32(0)], {"keep_dims": False}, consts=(1,))
case("Mean", "i32_truncates", [i32(-7, 7, -8, 3, 5, -1, 2, 9).reshape(2, 4), i32(1)], {"keep_dims": False}, consts=(1,))
for _op in ["All", "Any"]:
    case(_op, "axis1", [bools(3, 4), i32(1)], {"keep_dims": False}, consts=(1,))
    case(_op, "keep_all_axes", [bools(3, 4), i32(0, 1)], {"keep_dims": True}, consts=(1,))
for _op in ["ArgMax", "ArgMin"]:
    case(_op, "axis1", [X, np.int32(1)], {"output_type": "int32"}, consts=(1,))
    case(_op, "neg_axis_ties", [np.float32([[1, 3, 3, 0], [2, 2, 2, 2]]), np.int32(-1)], {"output_type": "int32"}, consts=(1,))
    case(_op, "nan", [np.float32([[1, NAN, 3], [NAN, 0, 0]]), np.int32(1)], {"output_type": "int32"}, consts=(1,))
    case(_op, "i32", [ints(3, 5), np.int32(0)], {"output_type": "int32"}, consts=(1,))
for _op in ["Cumsum", "Cumprod"]:
    for _ex in (False, True):
        for _rev in (False, True):
            case(_op, f"ex{int(_ex)}_rev{int(_rev)}", [f32(2, 5), np.int32(1)], {"exclusive": _ex, "reverse": _rev}, consts=(1,))
    case(_op, "axis0_i32", [ints(3, 2, low=-3, high=4), np.int32(0)], consts=(1,))
case("Softmax", "f32", [f32(3, 5, scale=3)])
case("Softmax", "large_and_inf", [np.float32([[1000, 0, -1000], [-INF, 0, 1], [INF, 1, 2]])])
case("LogSoftmax", "f32", [f32(3, 5, scale=3)])
case("LogSoftmax", "large", [np.float32([[1000, 0, -1000], [-INF, 0, 1]])])

# -- matrices ------------------------------------------------------------------------------------
for _ta in (False, True):
    for _tb in (False, True):
        a = f32(4, 3) if _ta else f32(3, 4)
        b = f32(5, 4) if _tb else f32(4, 5)
        case("MatMul", f"ta{int(_ta)}_tb{int(_tb)}", [a, b], {"transpose_a": _ta, "transpose_b": _tb})
case("MatMul", "i32", [ints(2, 3), ints(3, 2)])
# int32 sums of products past 2^53 (134217729 · 67108865, as Mul/i32_overflow), past 2^31 (46341^2 wraps in TF) and
# past 2^24 (16777217 + 46341^2 + 3)
case("MatMul", "i32_wide", [i32(134217729, 2, 0, 16777217, 46341, 3).reshape(2, 3),
                            i32(67108865, 1, 1, 46341, 7, 1).reshape(3, 2)])
case("MatMul", "empty_inner", [np.zeros((2, 0), np.float32), np.zeros((0, 3), np.float32)])
case("BatchMatMul", "adj_x", [f32(2, 4, 3), f32(2, 4, 5)], {"adj_x": True})
case("BatchMatMulV2", "broadcast", [f32(2, 1, 3, 4), f32(3, 4, 5)])
case("BatchMatMulV2", "adj_both", [f32(2, 4, 3), f32(2, 5, 4)], {"adj_x": True, "adj_y": True})
case("BatchMatMulV2", "rank5", [f32(2, 1, 2, 3, 4), f32(1, 3, 1, 4, 2)])
case("BatchMatMulV3", "f32", [f32(2, 3, 4), f32(2, 4, 5)], {"Tout": "float32"})
case("Einsum", "matmul", [[f32(2, 3), f32(3, 4)]], {"equation": "ij,jk->ik"})
case("Einsum", "batch_transpose", [[f32(2, 3, 4), f32(2, 5, 4)]], {"equation": "bij,bkj->bik"})
case("Einsum", "outer", [[f32(3), f32(4)]], {"equation": "i,j->ij"})
case("Einsum", "reduce_one", [[f32(3, 4)]], {"equation": "ij->j"})
case("MatrixBandPart", "lower1_upper0", [f32(4, 5), np.int32(1), np.int32(0)], consts=(1, 2))
case("MatrixBandPart", "all_lower", [f32(2, 4, 4), np.int32(-1), np.int32(1)], consts=(1, 2))

# -- convolutions and pooling --------------------------------------------------------------------
X4 = f32(2, 7, 6, 3)


def conv_attrs(padding: str = "SAME", stride: int = 1, dilation: int = 1, explicit=None, fmt: str = "NHWC") -> dict:
    spatial = (1, 1, stride, stride) if fmt == "NCHW" else (1, stride, stride, 1)
    dil = (1, 1, dilation, dilation) if fmt == "NCHW" else (1, dilation, dilation, 1)
    attrs = {"strides": list(spatial), "padding": padding, "data_format": fmt, "dilations": list(dil)}
    if explicit is not None:
        attrs["explicit_paddings"] = explicit
    return attrs


case("Conv2D", "same", [X4, f32(3, 3, 3, 4)], conv_attrs(), consts=(1,))
case("Conv2D", "valid_s2", [X4, f32(3, 2, 3, 4)], conv_attrs("VALID", 2), consts=(1,))
case("Conv2D", "same_s2_even", [f32(1, 8, 8, 2), f32(3, 3, 2, 2)], conv_attrs("SAME", 2), consts=(1,))
case("Conv2D", "dilated", [X4, f32(2, 2, 3, 2)], conv_attrs("SAME", 1, 2), consts=(1,))
case("Conv2D", "explicit", [X4, f32(3, 3, 3, 2)], conv_attrs("EXPLICIT", 2, 1, [0, 0, 1, 2, 0, 3, 0, 0]), consts=(1,))
case("Conv2D", "nchw", [f32(1, 3, 6, 5), f32(3, 3, 3, 2)], conv_attrs("SAME", 1, 1, None, "NCHW"), consts=(1,))
case("Conv2D", "nchw_explicit_s2", [f32(1, 2, 7, 6), f32(3, 3, 2, 3)],
     conv_attrs("EXPLICIT", 2, 1, [0, 0, 0, 0, 1, 2, 2, 0], "NCHW"), consts=(1,))
case("Conv2D", "nchw_dilated_valid", [f32(2, 3, 7, 7), f32(2, 3, 3, 2)], conv_attrs("VALID", 1, 2, None, "NCHW"), consts=(1,))
case("Conv2D", "grouped", [f32(1, 5, 5, 4), f32(3, 3, 2, 4)], conv_attrs(), consts=(1,))
case("Conv2D", "nan_input", [np.where(bools(1, 4, 4, 1), NAN, 1).astype(np.float32), f32(2, 2, 1, 1)], conv_attrs("VALID"), consts=(1,))
case("Conv2DBackpropInput", "same_s2", [i32(1, 8, 8, 3), f32(3, 3, 3, 2), f32(1, 4, 4, 2)], conv_attrs("SAME", 2), consts=(0, 1))
case("Conv2DBackpropInput", "valid_s2", [i32(1, 9, 9, 3), f32(3, 3, 3, 2), f32(1, 4, 4, 2)], conv_attrs("VALID", 2), consts=(0, 1))
case("Conv2DBackpropInput", "same_s1", [i32(2, 5, 5, 2), f32(2, 2, 2, 3), f32(2, 5, 5, 3)], conv_attrs("SAME", 1), consts=(0, 1))
case("Conv3D", "same", [f32(1, 4, 5, 4, 2), f32(2, 3, 2, 2, 3)],
     {"strides": [1, 1, 1, 1, 1], "padding": "SAME", "data_format": "NDHWC", "dilations": [1, 1, 1, 1, 1]}, consts=(1,))
case("Conv3D", "valid_s2", [f32(1, 5, 5, 5, 1), f32(2, 2, 2, 1, 2)],
     {"strides": [1, 2, 2, 2, 1], "padding": "VALID", "data_format": "NDHWC", "dilations": [1, 1, 1, 1, 1]}, consts=(1,))
case("DepthwiseConv2dNative", "same_s2", [X4, f32(3, 3, 3, 2)], conv_attrs("SAME", 2), consts=(1,))
case("DepthwiseConv2dNative", "valid", [X4, f32(2, 3, 3, 1)], conv_attrs("VALID"), consts=(1,))
case("DepthwiseConv2dNative", "dilated", [X4, f32(2, 2, 3, 1)], conv_attrs("SAME", 1, 2), consts=(1,))
case("DepthwiseConv2dNative", "explicit", [X4, f32(3, 3, 3, 1)], conv_attrs("EXPLICIT", 1, 1, [0, 0, 1, 1, 2, 0, 0, 0]), consts=(1,))
case("DepthwiseConv2dNative", "nchw", [f32(1, 3, 6, 5), f32(3, 3, 3, 1)], conv_attrs("SAME", 1, 1, None, "NCHW"), consts=(1,))
for _op in ["MaxPool", "AvgPool"]:
    case(_op, "same_k3_s2", [X4], {"ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1], "padding": "SAME"})
    case(_op, "valid_k2", [X4], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"})
    case(_op, "same_k2x3_s1", [X4], {"ksize": [1, 2, 3, 1], "strides": [1, 1, 1, 1], "padding": "SAME"})
    case(_op, "nchw", [f32(1, 2, 5, 5)], {"ksize": [1, 1, 2, 2], "strides": [1, 1, 2, 2], "padding": "SAME", "data_format": "NCHW"})
    case(_op, "nchw_valid_k3", [f32(2, 3, 6, 5)], {"ksize": [1, 1, 3, 3], "strides": [1, 1, 1, 2], "padding": "VALID",
                                                   "data_format": "NCHW"})
case("MaxPool", "neg_inf_nan", [np.float32([-INF, -INF, NAN, 1, -INF, 2, 3, 4, 5]).reshape(1, 3, 3, 1)],
     {"ksize": [1, 2, 2, 1], "strides": [1, 1, 1, 1], "padding": "SAME"})
case("AvgPool", "nan_inf", [np.float32([-INF, 1, NAN, 1, INF, 2, 3, 4, 5, 6, -INF, INF]).reshape(1, 3, 4, 1)],
     {"ksize": [1, 2, 2, 1], "strides": [1, 1, 1, 1], "padding": "SAME"})
case("MaxPool", "all_negative", [-np.abs(f32(1, 4, 4, 2)) - 0.1], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "SAME"})
case("MaxPool3D", "all_negative", [-np.abs(f32(1, 2, 4, 4, 1)) - 0.1],
     {"ksize": [1, 2, 2, 2, 1], "strides": [1, 2, 2, 2, 1], "padding": "VALID"})
for _op in ["MaxPool3D", "AvgPool3D"]:
    case(_op, "same", [f32(1, 4, 5, 4, 2)], {"ksize": [1, 2, 2, 2, 1], "strides": [1, 2, 2, 2, 1], "padding": "SAME"})
    case(_op, "valid", [f32(1, 4, 5, 4, 2)], {"ksize": [1, 3, 2, 2, 1], "strides": [1, 1, 2, 1, 1], "padding": "VALID"})
case("MaxPoolWithArgmax", "same", [f32(2, 4, 5, 3)], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "SAME",
                                                       "Targmax": "int32", "include_batch_in_index": False})
case("MaxPoolWithArgmax", "batch_in_index", [f32(2, 4, 4, 2)], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                                                                 "padding": "VALID", "Targmax": "int32",
                                                                 "include_batch_in_index": True})
case("Dilation2D", "same", [f32(1, 5, 5, 2), f32(2, 2, 2)], {"strides": [1, 1, 1, 1], "rates": [1, 1, 1, 1], "padding": "SAME"}, consts=(1,))
case("Dilation2D", "valid_rate2", [f32(1, 6, 6, 1), f32(2, 2, 1)], {"strides": [1, 2, 2, 1], "rates": [1, 2, 2, 1], "padding": "VALID"}, consts=(1,))
case("LRN", "default", [f32(1, 3, 3, 8)], {"depth_radius": 2, "bias": 1.0, "alpha": 0.5, "beta": 0.75})
case("LRN", "radius5", [f32(1, 2, 2, 12)], {"depth_radius": 5, "bias": 2.0, "alpha": 1e-3, "beta": 0.5})
for _op in ["FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"]:
    case(_op, "inference", [X4, f32(3), f32(3), f32(3), f32(3, scale=1, low=0.5)],
         {"epsilon": 0.001, "is_training": False}, consts=(1, 2, 3, 4), outputs=(0,))
case("FusedBatchNormV3", "nchw", [f32(2, 3, 4, 4), f32(3), f32(3), f32(3), f32(3, scale=1, low=0.5)],
     {"epsilon": 0.001, "is_training": False, "data_format": "NCHW"}, consts=(1, 2, 3, 4), outputs=(0,))

# -- shapes, slicing, joining --------------------------------------------------------------------
case("Reshape", "infer", [X4, i32(2, -1, 3)], consts=(1,))
case("Reshape", "scalar", [np.float32([7]), np.zeros(0, np.int32)], consts=(1,))
case("Reshape", "empty", [np.zeros((0, 4), np.float32), i32(2, 0, 2)], consts=(1,))
case("Transpose", "perm", [X4, i32(0, 3, 1, 2)], consts=(1,))
case("Transpose", "i32_2d", [ints(3, 4), i32(1, 0)], consts=(1,))
case("Slice", "sizes_minus1", [X4, i32(1, 2, 0, 1), i32(-1, 3, 4, -1)], consts=(1, 2))
case("Slice", "empty", [X4, i32(0, 0, 0, 0), i32(2, 0, 6, 3)], consts=(1, 2))
SS = dict(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0)
case("StridedSlice", "basic", [X4, i32(0, 1, -4), i32(2, 6, -1), i32(1, 2, 1)], SS, consts=(1, 2, 3))
case("StridedSlice", "masks_shrink", [X4, i32(1, 0, 5), i32(2, 0, 0), i32(1, 1, -2)],
     {**SS, "begin_mask": 2, "end_mask": 6, "shrink_axis_mask": 1}, consts=(1, 2, 3))
case("StridedSlice", "ellipsis_newaxis", [X4, i32(0, 0, 1), i32(0, 0, 3), i32(1, 1, 1)],
     {**SS, "ellipsis_mask": 1, "new_axis_mask": 2}, consts=(1, 2, 3))
case("StridedSlice", "reverse_all", [f32(5, 4), i32(-1, 0), i32(0, 0), i32(-1, 1)],
     {**SS, "end_mask": 3, "begin_mask": 2}, consts=(1, 2, 3))
case("StridedSlice", "out_of_range", [f32(5, 4), i32(-10, 2), i32(10, 100), i32(2, 1)], SS, consts=(1, 2, 3))
case("StridedSlice", "empty_result", [f32(5, 4), i32(3, 0), i32(1, 4), i32(1, 1)], SS, consts=(1, 2, 3))
case("StridedSlice", "shrink_last", [X4, i32(0, -1), i32(0, 0), i32(1, 1)],
     {**SS, "ellipsis_mask": 1, "shrink_axis_mask": 2}, consts=(1, 2, 3))
case("GatherV2", "axis2", [X4, i32(2, 0, 2), np.int32(2)], {"batch_dims": 0}, consts=(2,))
case("GatherV2", "neg_axis_2d_idx", [f32(4, 5), i32(0, 3, 1, 1).reshape(2, 2), np.int32(-1)], {"batch_dims": 0}, consts=(2,))
case("GatherV2", "batch_dims1", [f32(2, 5, 3), i32(0, 4, 1, 2, 2, 0).reshape(2, 3), np.int32(1)], {"batch_dims": 1}, consts=(2,))
case("GatherV2", "batch_dims1_axis2", [f32(2, 3, 5), i32(4, 0, 1, 1, 2, 3, 0, 0).reshape(2, 4), np.int32(2)],
     {"batch_dims": 1}, consts=(2,))
case("GatherV2", "i32_params", [ints(6, 2), i32(5, 0), np.int32(0)], {"batch_dims": 0}, consts=(2,))
case("Gather", "v1", [f32(5, 3), i32(4, 0, 4)])
case("GatherNd", "full_index", [f32(3, 4), i32(0, 1, 2, 3, 1, 0).reshape(3, 2)])
case("GatherNd", "slices", [f32(3, 4, 2), i32(2, 0).reshape(2, 1)])
case("GatherNd", "batched_idx", [f32(3, 4), i32(0, 0, 1, 1, 2, 2, 0, 3).reshape(2, 2, 2)])
case("ConcatV2", "axis1", [[f32(2, 3), f32(2, 1), f32(2, 4)], np.int32(1)], consts=(1,))
case("ConcatV2", "neg_axis_empty_part", [[f32(2, 3), np.zeros((2, 0), np.float32)], np.int32(-1)], consts=(1,))
case("ConcatV2", "i32_axis0", [[ints(1, 3), ints(2, 3)], np.int32(0)], consts=(1,))
case("Concat", "v1", [np.int32(0), [f32(1, 3), f32(2, 3)]], consts=(0,))
case("Pack", "axis0", [[f32(2, 3), f32(2, 3)]], {"axis": 0})
case("Pack", "neg_axis_i32", [[ints(3), ints(3), ints(3)]], {"axis": -1})
case("Pack", "scalars", [[np.float32(1), np.float32(2)]], {"axis": 0})
case("Unpack", "axis1", [f32(3, 2)], {"num": 2, "axis": 1})
case("Unpack", "neg_axis", [f32(2, 3, 2)], {"num": 2, "axis": -1})
case("Split", "axis1", [np.int32(1), f32(2, 6)], {"num_split": 3}, consts=(0,))
case("Split", "neg_axis", [np.int32(-1), ints(2, 4)], {"num_split": 2}, consts=(0,))
case("SplitV", "infer", [f32(2, 9), i32(2, -1, 3), np.int32(1)], {"num_split": 3}, consts=(1, 2))
case("SplitV", "zero_size", [f32(5, 2), i32(0, 5), np.int32(0)], {"num_split": 2}, consts=(1, 2))
case("Tile", "2d", [f32(2, 3), i32(2, 3)], consts=(1,))
case("Tile", "i32_zero_multiple", [ints(2, 3), i32(0, 2)], consts=(1,))
case("Pad", "nhwc", [X4, i32(0, 0, 1, 2, 0, 1, 0, 0).reshape(4, 2)], consts=(1,))
case("Pad", "i32", [ints(2, 3), i32(1, 0, 0, 2).reshape(2, 2)], consts=(1,))
case("PadV2", "value", [X4, i32(0, 1, 1, 0, 0, 0, 2, 0).reshape(4, 2), np.float32(-3)], consts=(1, 2))
case("MirrorPad", "reflect", [X4, i32(0, 0, 2, 1, 1, 2, 0, 0).reshape(4, 2)], {"mode": "REFLECT"}, consts=(1,))
case("MirrorPad", "symmetric", [X4, i32(0, 0, 2, 1, 1, 2, 0, 0).reshape(4, 2)], {"mode": "SYMMETRIC"}, consts=(1,))
case("ExpandDims", "neg", [f32(2, 3), np.int32(-1)], consts=(1,))
case("ExpandDims", "front", [f32(2, 3), np.int32(0)], consts=(1,))
case("Squeeze", "axis", [f32(1, 3, 1)], {"axis": [2]})
case("Squeeze", "all", [f32(1, 3, 1, 2)])
case("Squeeze", "neg_axis", [f32(1, 3, 1)], {"axis": [-3]})
case("BroadcastTo", "f32", [f32(3, 1), i32(2, 3, 4)], consts=(1,))
case("BroadcastTo", "i32_scalar", [np.int32(7), i32(2, 2)], consts=(1,))
case("BroadcastArgs", "i32", [i32(3, 1), i32(2, 1, 4)])
case("ReverseV2", "axes", [X4, i32(1, -1)], consts=(1,))
case("ReverseV2", "i32", [ints(3, 4), i32(0)], consts=(1,))
case("Reverse", "bool_dims", [f32(2, 3, 4), np.array([True, False, True])], consts=(1,))
case("Shape", "i32", [X4], {"out_type": "int32"})
case("ShapeN", "two", [[f32(2, 3), f32(4)]], {"out_type": "int32"})
case("Size", "i32", [X4], {"out_type": "int32"})
case("Rank", "f32", [X4])
case("Fill", "f32", [i32(2, 3), np.float32(1.5)], consts=(0,))
case("Fill", "i32", [i32(3), np.int32(-4)], consts=(0,))
case("Range", "i32", [np.int32(2), np.int32(11), np.int32(3)])
case("Range", "f32_neg_delta", [np.float32(5), np.float32(-1), np.float32(-1.5)])
case("Range", "f32_frac", [np.float32(0.1), np.float32(1.0), np.float32(0.3)])
case("Range", "empty", [np.int32(5), np.int32(5), np.int32(1)])
case("LinSpace", "f32", [np.float32(-1), np.float32(2), np.int32(7)], consts=(2,))
case("LinSpace", "one", [np.float32(3), np.float32(5), np.int32(1)], consts=(2,))
case("OneHot", "f32", [i32(0, 2, -1, 5, 1), np.int32(4), np.float32(1), np.float32(0)], {"axis": -1}, consts=(1,))
case("OneHot", "axis0_values", [i32(1, 0, 3), np.int32(4), np.float32(5), np.float32(-2)], {"axis": 0}, consts=(1,))
case("OneHot", "i32", [i32(1, 2).reshape(2, 1), np.int32(3), np.int32(7), np.int32(-1)], {"axis": -1}, consts=(1,))
case("ZerosLike", "f32", [f32(2, 3)])
case("ZerosLike", "i32", [ints(4)])
case("OnesLike", "f32", [f32(2, 3)])
case("OnesLike", "bool", [bools(3)])
for _op in ["Identity", "Snapshot", "StopGradient"]:
    case(_op, "f32", [f32(2, 3)])
case("IdentityN", "two", [[f32(2), ints(3)]])
case("EnsureShape", "f32", [f32(2, 3)], {"shape": [2, 3]})
case("PlaceholderWithDefault", "f32", [f32(2, 3)], {"shape": [2, 3]})
case("Where", "f32_2d", [np.float32([[0, 1, 0], [2, 0, NAN]])])
case("Where", "bool_1d", [np.array([True, False, True, True])])
case("Where", "none_true", [np.zeros((2, 2), bool)])

# -- casts ---------------------------------------------------------------------------------------
_CASTABLE = np.float32([-2.7, -1.5, -0.5, -0.0, 0.0, 0.3, 0.5, 1.5, 2.7, 1e9, -1e9])
case("Cast", "f32_to_i32", [_CASTABLE], {"DstT": "int32"})
case("Cast", "f32_to_bool", [_CASTABLE], {"DstT": "bool"})
case("Cast", "i32_to_f32", [i32(I32_MAX, I32_MIN, 16777217, -3, 0)], {"DstT": "float32"})
case("Cast", "i32_to_bool", [i32(-2, 0, 1, 5)], {"DstT": "bool"})
case("Cast", "bool_to_f32", [bools(5)], {"DstT": "float32"})
case("Cast", "bool_to_i32", [bools(5)], {"DstT": "int32"})
case("Cast", "nan_inf_to_bool", [np.float32([NAN, INF, -INF])], {"DstT": "bool"})

# -- images --------------------------------------------------------------------------------------
IMG = f32(1, 4, 5, 2)
for _ac, _hp in [(False, False), (True, False), (False, True)]:
    _attrs = {"align_corners": _ac, "half_pixel_centers": _hp}
    case("ResizeBilinear", f"up_ac{int(_ac)}_hp{int(_hp)}", [IMG, i32(7, 9)], _attrs, consts=(1,))
    case("ResizeBilinear", f"down_ac{int(_ac)}_hp{int(_hp)}", [IMG, i32(3, 2)], _attrs, consts=(1,))
    case("ResizeNearestNeighbor", f"up_ac{int(_ac)}_hp{int(_hp)}", [IMG, i32(7, 9)], _attrs, consts=(1,))
    case("ResizeNearestNeighbor", f"down_ac{int(_ac)}_hp{int(_hp)}", [IMG, i32(3, 2)], _attrs, consts=(1,))
case("ResizeNearestNeighbor", "i32_up2", [ints(1, 2, 3, 1), i32(4, 6)], {"half_pixel_centers": True}, consts=(1,))
_BOXES = np.float32([[0, 0, 1, 1], [0.2, 0.1, 0.8, 0.9], [1, 1, 0, 0], [-0.5, -0.5, 1.5, 1.5]])
for _method in ("bilinear", "nearest"):
    case("CropAndResize", _method, [f32(2, 6, 5, 2), _BOXES, i32(0, 1, 0, 1), i32(3, 4)],
         {"method": _method, "extrapolation_value": -1.0}, consts=(3,))
case("DepthToSpace", "nhwc", [f32(1, 2, 3, 8)], {"block_size": 2})
case("SpaceToBatchND", "pad", [f32(1, 5, 4, 2), i32(2, 2), i32(1, 0, 0, 0).reshape(2, 2)], consts=(1, 2))
case("BatchToSpaceND", "crop", [f32(4, 3, 2, 2), i32(2, 2), i32(1, 0, 0, 1).reshape(2, 2)], consts=(1, 2))
case("ImageProjectiveTransformV3", "bilinear", [f32(1, 5, 6, 1), np.float32([[1, 0.2, -1, 0.1, 1, 0.5, 0, 0]]),
                                                 i32(5, 6), np.float32(0)],
     {"interpolation": "BILINEAR", "fill_mode": "CONSTANT"}, consts=(2,))
case("ImageProjectiveTransformV3", "nearest", [f32(1, 5, 6, 1), np.float32([[0.9, 0, 0.5, 0, 1.1, -0.5, 0, 0]]),
                                                i32(5, 6), np.float32(-1)],
     {"interpolation": "NEAREST", "fill_mode": "CONSTANT"}, consts=(2,))

# -- scatter, sort, search, sets -----------------------------------------------------------------
case("TopKV2", "f32", [f32(3, 6), np.int32(3)], {"sorted": True}, consts=(1,))
case("TopKV2", "ties_i32", [i32(3, 1, 3, 2, 1, 3), np.int32(4)], {"sorted": True}, consts=(1,))
case("TopKV2", "k0", [f32(2, 4), np.int32(0)], {"sorted": True}, consts=(1,))
case("ScatterNd", "rows", [i32(0, 2).reshape(2, 1), f32(2, 3), i32(4, 3)], consts=(2,))
case("ScatterNd", "dup_indices_sum", [i32(1, 1, 3).reshape(3, 1), np.float32([1, 2, 4]), i32(5)], consts=(2,))
case("TensorScatterUpdate", "rows", [f32(4, 3), i32(3, 0).reshape(2, 1), f32(2, 3)])
case("SparseToDense", "default", [i32(0, 1, 2, 3).reshape(2, 2), i32(3, 4), np.float32([5, 6]), np.float32(-1)],
     {"validate_indices": True}, consts=(1,))
case("Unique", "f32", [np.float32([3, 1, 3, 2, 1, 7])], {"out_idx": "int32"})
case("Unique", "i32", [i32(5, 5, -1, 0, -1)], {"out_idx": "int32"})
case("UniqueV2", "axis0", [i32(1, 2, 1, 2, 3, 4).reshape(3, 2), i32(0)], {"out_idx": "int32"}, consts=(1,))
case("ListDiff", "i32", [i32(1, 2, 3, 4, 5, 6), i32(1, 3, 5)], {"out_idx": "int32"})
case("LowerBound", "f32", [np.float32([[1, 3, 5, 7]]), np.float32([[0, 3, 6, 8, 3]])], {"out_type": "int32"})
case("UpperBound", "f32", [np.float32([[1, 3, 3, 7]]), np.float32([[0, 3, 6, 8, 3]])], {"out_type": "int32"})
case("Bincount", "basic", [i32(1, 1, 3, 0, 5), np.int32(5), np.zeros(0, np.float32)], consts=(1,))
case("Bincount", "weights", [i32(1, 1, 3, 0), np.int32(4), np.float32([0.5, 1, 2, 3])], consts=(1,))
case("DenseBincount", "1d", [i32(1, 1, 3, 0), np.int32(4), np.zeros(0, np.float32)], {"binary_output": False}, consts=(1,))
case("DenseBincount", "binary_2d", [i32(1, 1, 3, 0, 2, 2).reshape(2, 3), np.int32(4), np.zeros(0, np.float32)],
     {"binary_output": True}, consts=(1,))
for _ver, _extra_in, _consts in [("NonMaxSuppressionV3", [np.float32(0.1)], (2, 3, 4)),
                                 ("NonMaxSuppressionV4", [np.float32(0.1)], (2, 3, 4)),
                                 ("NonMaxSuppressionV5", [np.float32(0.1), np.float32(0.0)], (2, 3, 4, 5)),
                                 ("NonMaxSuppressionV2", [], (2, 3))]:
    _boxes = np.float32([[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, -0.1, 1, 0.9], [0, 10, 1, 11], [0, 10.1, 1, 11.1], [0, 100, 1, 101]])
    _attrs = {"pad_to_max_output_size": True} if _ver == "NonMaxSuppressionV4" else {}
    case(_ver, "basic", [_boxes, np.float32([0.9, 0.75, 0.6, 0.95, 0.5, 0.3]), np.int32(3), np.float32(0.5), *_extra_in],
         _attrs, consts=_consts)

# -- complex, spectral, misc ---------------------------------------------------------------------
case("Complex", "f32", [f32(3), f32(3)], {"Tout": "complex64"})
case("Real", "c64", [(f32(4) + 1j * f32(4)).astype(np.complex64)], {"Tout": "float32"})
case("Imag", "c64", [(f32(4) + 1j * f32(4)).astype(np.complex64)], {"Tout": "float32"})
case("ComplexAbs", "c64", [(f32(4) + 1j * f32(4)).astype(np.complex64)], {"Tout": "float32"})
case("FFT", "c64", [(f32(2, 8) + 1j * f32(2, 8)).astype(np.complex64)])
case("IFFT", "c64", [(f32(2, 8) + 1j * f32(2, 8)).astype(np.complex64)])
case("RFFT", "f32", [f32(2, 8), i32(8)], consts=(1,))
case("IRFFT", "c64", [(f32(2, 5) + 1j * f32(2, 5)).astype(np.complex64), i32(8)], consts=(1,))
case("FakeQuantWithMinMaxVars", "8bit", [f32(3, 4, scale=2), np.float32(-1), np.float32(1.5)],
     {"num_bits": 8, "narrow_range": False}, consts=(1, 2))
case("FakeQuantWithMinMaxVars", "narrow", [f32(3, 4, scale=2), np.float32(-0.3), np.float32(2)],
     {"num_bits": 8, "narrow_range": True}, consts=(1, 2))
case("SparseSegmentSum", "basic", [f32(4, 3), i32(0, 1, 3), i32(0, 0, 1)])
case("SparseSegmentMean", "basic", [f32(4, 3), i32(0, 1, 3), i32(0, 0, 1)])
# the sorted segment ops TF.js lacks, rebuilt on SparseSegmentSum/Mean (session 31): empty segments, repeated indices
_SEG_IDS = i32(0, 0, 2, 2, 2, 5)
case("SegmentSum", "f32", [f32(6, 3, scale=3), _SEG_IDS])
case("SegmentSum", "i32", [np.array([[I32_MAX, 1], [1, -3], [I32_MIN, 4], [5, I32_MAX], [0, 2], [-1, 7]], np.int32),
                           _SEG_IDS])
case("SegmentMean", "f32", [f32(6, 3, scale=3), _SEG_IDS])
case("SegmentMean", "special", [SPECIAL.reshape(6, 3), _SEG_IDS])
case("SparseSegmentSqrtN", "f32", [f32(4, 3), i32(3, 0, 3, 1, 2), i32(0, 0, 0, 2, 3)])
for _op in ("SparseSegmentSumWithNumSegments", "SparseSegmentMeanWithNumSegments",
            "SparseSegmentSqrtNWithNumSegments"):
    case(_op, "f32", [f32(4, 3), i32(3, 0, 3, 1, 2), i32(0, 0, 0, 2, 3), np.int32(6)], consts=(3,))
case("SparseSegmentSumWithNumSegments", "i32", [ints(4, 2), i32(3, 0, 1), i32(1, 1, 2), np.int32(4)], consts=(3,))
# [Unsorted]Segment{Max,Min} as masked reductions (session 32): TF's in-order fold, a later row winning ties (±0) and
# NaN (a NaN is the result only as a segment's last row); empty segments 0 (sorted) or lowest/highest (unsorted);
# sorted over 8+ columns: the first 8·k columns of a 2+ row segment skip NaN (x86-64 Eigen packets, h6b)
_SEG_SPECIAL = np.float32([[NAN, 1], [2, NAN], [3, 4], [-INF, -INF], [-0.0, 0.0], [0.0, -0.0], [INF, -0.0], [NAN, NAN]])
_SEG_INTS = np.array([[I32_MAX, 1], [1, -3], [I32_MIN, 4], [5, I32_MAX], [0, 2], [-1, 7]], np.int32)
_SEG_WIDE = np.concatenate([_SEG_SPECIAL, -_SEG_SPECIAL, _SEG_SPECIAL[::-1], -_SEG_SPECIAL[::-1], _SEG_SPECIAL[:, :1]],
                           axis=1)  # 9 columns
for _kind in ("Max", "Min"):
    case(f"Segment{_kind}", "f32", [f32(6, 3, scale=3), _SEG_IDS])
    case(f"Segment{_kind}", "special", [_SEG_SPECIAL, i32(0, 0, 2, 3, 4, 4, 5, 5)])
    case(f"Segment{_kind}", "i32", [_SEG_INTS, _SEG_IDS])
    case(f"Segment{_kind}", "special_wide", [_SEG_WIDE, i32(0, 0, 0, 2, 2, 3, 4, 4)])
    case(f"UnsortedSegment{_kind}", "f32", [f32(5, 3), i32(2, 0, 2, -1, 3), np.int32(6)], consts=(2,))
    case(f"UnsortedSegment{_kind}", "special", [_SEG_SPECIAL, i32(1, 1, 3, 4, 0, 0, -1, 6), np.int32(7)],
         consts=(2,))
    case(f"UnsortedSegment{_kind}", "i32", [_SEG_INTS, i32(3, 0, 3, -1, 1, 3), np.int32(5)], consts=(2,))
# session 33: float32/int32 TensorScatterMax/Min (plugins/savedmodel/scatter_extremes.py), int32 DepthToSpace
_SCATTER_ROWS = np.float32([[1, NAN, 0], [-0.0, -1, -INF], [INF, 2, -0.0], [5, 5, 5]])
_SCATTER_UPDATES = np.float32([[NAN, 3, -0.0], [0, NAN, NAN], [0, -0.0, -INF], [-0.0, -2, INF], [NAN, NAN, 0],
                               [-5, 4, 0]])
for _kind in ("Max", "Min"):
    case(f"TensorScatter{_kind}", "f32", [f32(4, 3), i32(1, 3, 1).reshape(3, 1), f32(3, 3)])
    case(f"TensorScatter{_kind}", "special", [_SCATTER_ROWS, i32(0, 0, 1, 1, 2, 0).reshape(6, 1), _SCATTER_UPDATES])
    case(f"TensorScatter{_kind}", "i32", [_SEG_INTS[:4], i32(3, 0, 3, 1).reshape(4, 1), _SEG_INTS[2:]])
# |x| < 1000: webgl holds int32 as float32, so values past 2^24 hid the permutation there (review r6 M3, s33)
case("DepthToSpace", "i32", [np.arange(-24, 24, dtype=np.int32).reshape(1, 2, 3, 8) * 41], {"block_size": 2})
# still refused by name: TF's order of float adds into the tensor, prod segment reductions
case("TensorScatterAdd", "f32_refused", [f32(4, 3), i32(1, 3, 1).reshape(3, 1), f32(3, 3)])
case("UnsortedSegmentProd", "refused", [f32(5, 3), i32(2, 0, 2, -1, 3), np.int32(4)], consts=(2,))
case("SegmentProd", "refused", [f32(6, 3), _SEG_IDS])
case("StringToHashBucketFast", "basic", [np.array([b"a", b"hello", b""], object)], {"num_buckets": 10})
case("StaticRegexReplace", "basic", [np.array([b"aab", b"bab"], object)], {"pattern": "a", "rewrite": "x", "replace_global": True})
# -- more dtypes and shapes for the common array ops (bool/int32 tensors, scalars, empty batches) --------------
B34 = bools(3, 4)
case("Reshape", "bool", [B34, i32(4, 3)], consts=(1,))
case("Transpose", "bool_3d", [bools(2, 3, 4), i32(2, 0, 1)], consts=(1,))
case("ConcatV2", "bool", [[B34, bools(3, 2)], np.int32(1)], consts=(1,))
case("Pack", "bool", [[bools(2), bools(2)]], {"axis": 1})
case("Tile", "bool", [bools(2, 1), i32(1, 3)], consts=(1,))
case("GatherV2", "bool_params", [B34, i32(2, 0), np.int32(0)], {"batch_dims": 0}, consts=(2,))
case("GatherV2", "scalar_index", [f32(4, 3), np.int32(2), np.int32(0)], {"batch_dims": 0}, consts=(2,))
case("Slice", "i32", [ints(4, 5), i32(1, 1), i32(2, -1)], consts=(1, 2))
case("StridedSlice", "i32_step3", [ints(10), i32(1), i32(10), i32(3)], SS, consts=(1, 2, 3))
case("ExpandDims", "scalar", [np.float32(3), np.int32(0)], consts=(1,))
case("Squeeze", "bool", [bools(1, 3)])
_T, _F = True, False
case("Select", "bool_branches", [np.array([_T, _T, _T, _T, _F, _F, _F, _F]), np.array([_T, _T, _F, _F, _T, _T, _F, _F]),
                                 np.array([_T, _F, _T, _F, _T, _F, _T, _F])])
case("SelectV2", "i32_broadcast_all", [bools(2, 1, 1), ints(1, 3, 1), ints(1, 1, 4)])
case("Where", "i32_3d", [ints(2, 2, 3, low=-1, high=2)])
case("Cumsum", "i32_exclusive_rev", [ints(2, 4), np.int32(-1)], {"exclusive": True, "reverse": True}, consts=(1,))
case("AddV2", "scalar_and_tensor", [np.float32(2.5), f32(2, 3)])
case("Mul", "scalars", [np.float32(3), np.float32(-0.5)])
case("Maximum", "empty_broadcast", [np.zeros((2, 0), np.float32), np.float32(1)])
case("Softmax", "empty_rows", [np.zeros((0, 4), np.float32)])
case("Conv2DBackpropInput", "explicit", [i32(1, 6, 6, 2), f32(3, 3, 2, 2), f32(1, 3, 3, 2)],
     conv_attrs("EXPLICIT", 2, 1, [0, 0, 1, 1, 1, 1, 0, 0]), consts=(0, 1))
case("ResizeBilinear", "i32_image", [ints(1, 3, 3, 1), i32(5, 4)], {"half_pixel_centers": True}, consts=(1,))
case("MaxPool", "i32", [ints(1, 4, 4, 2)], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"})
case("ArgMax", "bool_like_i32_axis0", [ints(4, 3, low=0, high=2), np.int32(0)], {"output_type": "int32"}, consts=(1,))
case("Sum", "bool_cast_free_i32_keep", [ints(2, 3, 4), i32(0, 2)], {"keep_dims": True}, consts=(1,))
case("Round", "halves", [np.float32([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 8388609.0])])
case("Cast", "f32_to_i32_big", [np.float32([2.1e9, -2.1e9, 16777217.0, -0.99])], {"DstT": "int32"})
# out of int32's range, ±Inf and NaN: TF (x86-64) gives INT32_MIN for each
case("Cast", "f32_to_i32_out_of_range", [np.float32([3e9, -3e9, 2**31, -2**31, -2147483904.0, 1e20, INF, -INF, NAN,
                                                     2147483520.0])], {"DstT": "int32"})

# -- more attrs of the common ops ---------------------------------------------------------------------
case("Einsum", "attention", [[f32(1, 2, 3, 4), f32(1, 2, 5, 4)]], {"equation": "bhqd,bhkd->bhqk"})
case("Einsum", "ellipsis", [[f32(2, 3, 4), f32(4, 5)]], {"equation": "...ij,jk->...ik"})
case("Einsum", "diag", [[f32(3, 3)]], {"equation": "ii->i"})
case("BatchMatMulV2", "i32", [ints(2, 2, 3), ints(2, 3, 2)])
case("BatchMatMulV2", "i32_wide", [i32(134217729, 2, 0, 16777217, 46341, 3, 100000001, 7, -9, 1, 2, 3).reshape(2, 2, 3),
                                    i32(67108865, 1, 1, 46341, 7, 1, 3, 1, 2, 2, 1, 5).reshape(2, 3, 2)])
case("MatMul", "empty_outer", [np.zeros((0, 3), np.float32), f32(3, 2)])
case("TopKV2", "nan_inf", [np.float32([[1, NAN, INF, -INF, 0, 2]]), np.int32(3)], {"sorted": True}, consts=(1,))
case("TopKV2", "k_all_i32", [ints(2, 5), np.int32(5)], {"sorted": True}, consts=(1,))
case("Transpose", "5d", [f32(1, 2, 3, 2, 2), i32(0, 4, 1, 3, 2)], consts=(1,))
case("Tile", "4d", [f32(1, 2, 1, 3), i32(2, 1, 3, 1)], consts=(1,))
case("Cumsum", "axis0_3d", [f32(3, 2, 2), np.int32(0)], consts=(1,))
case("LogSoftmax", "empty_rows", [np.zeros((0, 3), np.float32)])
case("Sigmoid", "large", [np.float32([-100, -88, -20, 20, 88, 100])])
case("Softplus", "thresholds", [np.float32([-100, -20, -15, 15, 20, 30, 100])])
case("AddN", "single", [[f32(3)]])
case("Prod", "i32_overflow", [i32(65536, 65536, 3), i32(0)], {"keep_dims": False}, consts=(1,))
# products past 2^53 ((2^31 - 1)^2 = 2^62 - 2^32 + 1): a float64 product drops bits TF's wrapped one keeps
case("Prod", "i32_wide", [i32(I32_MAX, I32_MAX, 3, 7, 46341, -46343, 1000003, -5).reshape(2, 4), i32(1)],
     {"keep_dims": False}, consts=(1,))
case("Cumprod", "i32_wide", [i32(I32_MAX, I32_MAX, 3, 7, 46341, -46343, 1000003, -5).reshape(2, 4), np.int32(1)],
     consts=(1,))
case("Range", "i32_neg_delta", [np.int32(10), np.int32(-3), np.int32(-4)])
case("Fill", "bool", [i32(2, 2), np.bool_(True)], consts=(0,))
case("StridedSlice", "newaxis_and_shrink", [f32(4, 5), i32(0, 1, 0), i32(0, 2, 5), i32(1, 1, 2)],
     {**SS, "new_axis_mask": 1, "shrink_axis_mask": 2}, consts=(1, 2, 3))
case("StridedSlice", "neg_stride_begin_mask", [f32(6, 3), i32(0, 0), i32(1, 3), i32(-2, 1)],
     {**SS, "begin_mask": 1}, consts=(1, 2, 3))
case("GatherNd", "i32_params", [ints(3, 3), i32(2, 2, 0, 1).reshape(2, 2)])
case("ScatterNd", "2d_indices", [i32(0, 1, 2, 0).reshape(2, 2), np.float32([3, 4]), i32(3, 2)], consts=(2,))
case("SplitV", "neg_axis", [f32(2, 3, 4), i32(1, 3), np.int32(-1)], {"num_split": 2}, consts=(1, 2))
case("ResizeBilinear", "same_size", [IMG, i32(4, 5)], {"half_pixel_centers": True}, consts=(1,))
case("ResizeBilinear", "non_uniform", [IMG, i32(9, 3)], {"align_corners": True}, consts=(1,))
case("DepthToSpace", "block3", [f32(1, 2, 2, 18)], {"block_size": 3})
case("OneHot", "depth1_neg_axis0", [i32(0, -1, 1, 0), np.int32(1), np.float32(2), np.float32(-1)], {"axis": -1}, consts=(1,))
case("Relu", "empty_scalar_mix", [np.float32(-3)])
case("Relu", "signed_nan", [-np.float32([np.nan, np.nan, 1.0, -1.0]) * np.float32([1, -1, 1, 1])])  # -NaN and NaN

case("SparseReshape", "infer", [np.array([[0, 0], [0, 1], [1, 2]], np.int64), np.array([2, 3], np.int64),
                                np.array([3, -1], np.int64)], consts=(1, 2))
case("SparseFillEmptyRows", "basic", [np.array([[0, 0], [2, 1]], np.int64), np.float32([1, 2]),
                                      np.array([4, 3], np.int64), np.float32(-1)], consts=(2,))
case("StringSplit", "skip_empty", [np.array([b"a b  c", b"", b"hello world"], object), np.array(b" ", object)],
     {"skip_empty": True}, consts=(1,))
case("StringNGrams", "bigrams", [np.array([b"a", b"b", b"c", b"d", b"e"], object), np.array([0, 2, 5], np.int64)],
     {"separator": " ", "ngram_widths": [2], "left_pad": "", "right_pad": "", "pad_width": 0,
      "preserve_short_sequences": False})
case("CheckNumerics", "finite", [f32(2, 3)], {"message": "bad"})
case("PreventGradient", "f32", [f32(2, 3)])

# -- special values: TF's exact rules, which --exact_special_values must reproduce (docs/backends.md) ---------
_F_MAX = np.finfo(np.float32).max
case("ArgMax", "nan_neg_inf_rows", [np.float32([[NAN, -INF, -INF], [-INF, NAN, -INF], [NAN, NAN, NAN], [NAN, 5, NAN],
                                                [-INF, -_F_MAX, 1]]), np.int32(1)], {"output_type": "int32"}, consts=(1,))
case("ArgMin", "nan_pos_inf_rows", [np.float32([[NAN, INF, INF], [INF, NAN, INF], [NAN, NAN, NAN], [NAN, 5, NAN],
                                                [INF, _F_MAX, -1]]), np.int32(1)], {"output_type": "int32"}, consts=(1,))
case("MaxPool", "nan_and_neg_inf_windows", [np.float32([NAN, NAN, -INF, -INF, NAN, -INF, 1, NAN, NAN, NAN, -INF, 7,
                                                        NAN, -INF, -_F_MAX, 2]).reshape(1, 4, 4, 1)],
     {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"})
case("Softmax", "several_inf", [np.float32([[INF, INF, 0, -INF], [INF, -INF, 1, 2], [-INF, -INF, 0, 1]])])
case("ClipByValue", "nan_bounds", [SPECIAL, np.float32(NAN), np.float32(3)])
case("DepthwiseConv2dNative", "nan_inf", [np.float32([NAN, 1, -2, INF, -INF, 3, 0.5, NAN]).reshape(1, 2, 2, 2),
                                          f32(1, 1, 2, 1)], conv_attrs("VALID"), consts=(1,))
case("Conv2D", "nan_inf", [np.float32([NAN, 1, -2, INF, -INF, 3, 0.5, NAN]).reshape(1, 2, 2, 2), f32(1, 1, 2, 2)],
     conv_attrs("VALID"), consts=(1,))
case("Maximum", "nan_broadcast", [np.float32([[NAN], [1], [-INF]]), np.float32([NAN, 0, 2, INF])])
# high ranks webgl stops at (refused there by the contract; cpu and wasm run them): appended last, so the
# shared generator still gives every earlier case the same inputs
case("ReverseV2", "rank5", [f32(2, 3, 2, 3, 2), i32(1, 4)], consts=(1,))
case("StridedSlice", "rank5_strided", [f32(2, 3, 2, 3, 4), i32(0, 1, 0, 0, 0), i32(2, 3, 2, 3, 4), i32(1, 1, 1, 2, 3)],
     SS, consts=(1, 2, 3))
case("StridedSlice", "rank6_strided", [f32(2, 3, 2, 3, 2, 4), i32(0, 1, 0, 0, 0, 0), i32(2, 3, 2, 3, 2, 4),
                                       i32(1, 1, 1, 2, 1, 3)], SS, consts=(1, 2, 3))
# NaN in ops no case fed one (session 16's NaN sweep; fixed values, no draw from the shared generator):
# deviations the contract records, measured again by tests/test_signed_nan_sweep.py
_IMG_NAN = (np.arange(24, dtype=np.float32).reshape(1, 3, 4, 2) / 7 - 1.5)
_IMG_NAN[0, 1, 1, 0], _IMG_NAN[0, 2, 2, 1] = NAN, -INF
case("ResizeBilinear", "nan_inf_same_size", [_IMG_NAN, i32(3, 4)], {"half_pixel_centers": True}, consts=(1,))
_LRN_NAN = np.cos(np.arange(32, dtype=np.float32)).reshape(1, 2, 2, 8)
_LRN_NAN[0, 0, 0, 7], _LRN_NAN[0, 1, 1, 0] = INF, NAN
case("LRN", "nan_inf", [_LRN_NAN], {"depth_radius": 2, "bias": 1.0, "alpha": 0.5, "beta": 0.75})
case("NonMaxSuppressionV3", "nan_boxes", [np.float32([[0, NAN, 1, 1], [0, 0.1, NAN, 1.1], [0, -0.1, 1, 0.9],
                                                       [0, 10, 1, 11], [NAN, 10.1, 1, 11.1], [0, 100, 1, 101]]),
                                          np.float32([0.9, 0.75, 0.6, 0.95, 0.5, 0.3]), np.int32(3), np.float32(0.5),
                                          np.float32(0.1)], consts=(2, 3, 4))
case("UpperBound", "nan_values", [np.float32([[1, 3, 5, 7]]), np.float32([[0, NAN, 6, 8, -INF, INF]])],
     {"out_type": "int32"})
case("MaxPoolWithArgmax", "nan_first_in_window", [np.float32([NAN, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
                                                  .reshape(1, 4, 4, 1)],
     {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID", "Targmax": "int32",
      "include_batch_in_index": False})
case("RFFT", "nan", [np.float32([[0, NAN, 2, 1, -1, 0.5, 3, -2], [1, 2, 3, 4, 5, 6, NAN, 8]]), i32(8)], consts=(1,))
# session 30 (h6): TF's Unique keeps every NaN apart (NaN != NaN); TF.js keys values by their text, one "NaN"
case("Unique", "nan", [np.float32([0, NAN, 1, NAN, -0.0, 1, NAN])], {"out_idx": "int32"})
case("UniqueV2", "nan", [np.float32([NAN, 2, NAN, 2]), i32(0)], {"out_idx": "int32"}, consts=(1,))
# TF's ListDiff never finds a NaN of x in y; TF.js's setdiff1d keeps y in a JS Set, where NaN is found
case("ListDiff", "nan", [np.float32([NAN, 1, 2, -0.0, NAN]), np.float32([NAN, 1])], {"out_idx": "int32"})
case("TensorScatterUpdate", "inf_overwritten", [np.float32([[1, 2, 3], [INF, -INF, 6], [7, NAN, 9]]),
                                                i32(1).reshape(1, 1), np.float32([[10, 11, 12]])])
# float32 reductions past FLT_MAX (session 18): TF adds and multiplies in float32, a row shorter than 8 in order and
# longer rows in 8 AVX lanes; TF.js cpu accumulates in float64 (its Mean divides each value first), wasm in float32 in
# order. Rows: partial sums past FLT_MAX that end finite, a sum past FLT_MAX whose mean is finite, products that
# overflow or underflow before coming back (fixed values, no draw from the shared generator)
_OVER_ROWS = np.float32([[_F_MAX, _F_MAX, -_F_MAX, 0], [_F_MAX, _F_MAX, 1, 0], [-_F_MAX, -_F_MAX, 1, 0],
                         [-_F_MAX, _F_MAX, _F_MAX, 0], [1e30, 1e30, 1e-30, 1e-30], [1e-30, 1e-30, 1e30, 1e30],
                         [1, 2, 3, 4]])
_OVER_LANES = np.float32([[_F_MAX, 1, _F_MAX, 2, -_F_MAX, 3, 0, 4],
                          [1e30, 1e30, 1e30, 1e30, 1e-30, 1e-30, 1e-30, 1e-30]])
for _op in ("Sum", "Mean", "Prod"):
    case(_op, "overflow_rows", [_OVER_ROWS, i32(1)], {"keep_dims": False}, consts=(1,))
    case(_op, "overflow_columns_keep", [_OVER_ROWS.T.copy(), i32(0)], {"keep_dims": True}, consts=(1,))
    case(_op, "overflow_lanes", [_OVER_LANES, i32(1)], {"keep_dims": False}, consts=(1,))
case("AvgPool", "overflow_windows", [np.float32([[_F_MAX, _F_MAX, _F_MAX, -_F_MAX], [1, 0, -_F_MAX, 0]])
                                     .reshape(1, 2, 4, 1)],
     {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"})
for _op in ("Cumsum", "Cumprod"):
    case(_op, "overflow_rows", [_OVER_ROWS, np.int32(1)], consts=(1,))
case("EuclideanNorm", "overflow_rows",
     [np.float32([[1e19, 1e19, 1e19, 1e19], [2e19, -1e19, 0, 0], [1e-30, 1e-30, 0, 0]]), i32(1)], {"keep_dims": False},
     consts=(1,))

#: Ops of the TF.js registry with no case, and why (anything not here and without a case is "no case yet").
NOT_STANDALONE = {
    **{op: "control flow: needs a graph around it (covered by the control-flow tests)" for op in (
        "Enter", "Exit", "If", "LoopCond", "Merge", "NextIteration", "StatelessIf", "StatelessWhile", "Switch",
        "While", "NoOp")},
    **{op: "resource/stateful: tensor arrays, lists and hash tables need a graph of several ops" for op in (
        "EmptyTensorList", "HashTable", "HashTableV2", "InitializeTable", "InitializeTableV2", "LookupTableFind",
        "LookupTableFindV2", "LookupTableImport", "LookupTableImportV2", "LookupTableSize", "LookupTableSizeV2",
        "TensorArrayCloseV3", "TensorArrayConcatV3", "TensorArrayGatherV3", "TensorArrayReadV3",
        "TensorArrayScatterV3", "TensorArraySizeV3", "TensorArraySplitV3", "TensorArrayV3", "TensorArrayWriteV3",
        "TensorListConcat", "TensorListConcatV2", "TensorListFromTensor", "TensorListGather", "TensorListGetItem",
        "TensorListLength", "TensorListPopBack", "TensorListPushBack", "TensorListReserve", "TensorListResize",
        "TensorListScatter", "TensorListScatterV2", "TensorListSetItem", "TensorListSplit", "TensorListStack")},
    **{op: "random: no value to compare (TF.js has its own generator)" for op in (
        "Multinomial", "RandomStandardNormal", "RandomUniform", "RandomUniformInt", "TruncatedNormal")},
    "Const": "no inputs: covered by every case's Const inputs",
    "Placeholder": "covered by every case's inputs",
    "Print": "debug op, stripped by --strip_debug_ops",
}
