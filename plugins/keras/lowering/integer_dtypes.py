"""Which Keras layers and op layers keep, compute on or refuse integer tensors, and the dtype Keras gives their results.

The model walk (:mod:`.model_walk`) hands most layers float32 Values; these tables and rules say where it hands
integers as they are (dtype-free moves, exact int32 merges and ops), where it wraps 8/16-bit integers back into
their dtype, and where a float32 detour would lose exactness (wide integers past 2^24) so the layer is refused.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from tfjsconv.dtypes import DType
from tfjsconv.ir import Value
from tfjsconv.narrow_ints import is_narrow

from ..op_calls import KERAS_OP_PREFIX, first_argument_is_constant, is_op_layer
from .context import UNTRACKED, LayerContext
from .registry import Unsupported

#: (float64 and float16 model Inputs are held as float32: .float_widths; the first two are float32 layers' own)
FLOAT_DTYPES = (None, "float32", "mixed_float16", "mixed_bfloat16", "float64", "float16")
#: Layers that read their inputs as they are (ids, strings); every other layer gets integers cast to float32.
#: Keras 3 image augmentation layers whose inference returns the images as given, integers too (the others cast them to
#: float32 first).
KERAS3_RAW_AT_INFERENCE = ("RandomInvert", "RandomColorJitter", "RandomCrop", "RandomGrayscale", "RandomHue",
                           "RandomSaturation", "RandomPosterization", "RandomColorDegeneration", "MixUp",
                           "MaxNumBoundingBoxes")
INTEGER_INPUT_LAYERS = frozenset({"Embedding", "ReversibleEmbedding", "StringLookup", "Hashing", "TextVectorization",
                                  "Pipeline"})  # Pipeline: per inner layer
#: Layers whose saved ``dtype`` is their (integer) output's, which their lowerings produce as int32.
INTEGER_OUTPUT_LAYERS = frozenset({"StringLookup", "IntegerLookup", "Hashing", "TextVectorization"})
#: Model input dtypes a placeholder can carry (TF.js narrows the wide integers to int32 on write).
INPUT_DTYPES = (*FLOAT_DTYPES, "int32", "int64", "int16", "int8", "uint8", "uint16", "bool", "string")
#: Layers that only move, pick or drop values: on integers Keras (3 and tf_keras) returns them in their dtype, which
#: the walk tracks beside the float32 Values it hands on (a Resizing after them casts its result back to it).
INTEGER_KEEPING_LAYERS = frozenset({
    "Cropping1D", "Cropping2D", "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Reshape", "Permute",
    "Flatten", "RepeatVector", "UpSampling1D", "UpSampling3D", "Concatenate", "Maximum", "Minimum", "Add", "Subtract",
    "Multiply", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "GlobalMaxPooling3D", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity", "Masking",
    *KERAS3_RAW_AT_INFERENCE})
#: Value-moving layers whose lowerings build only dtype-free ops (Reshape, Transpose, slices, Pad with zeros, Tile):
#: they get int32/int64 tensors as they are, not as float32, which holds integers exactly only up to 2^24.
WIDE_INTEGER_MOVING_LAYERS = frozenset({
    "Cropping1D", "Cropping2D", "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Reshape", "Permute",
    "Flatten", "RepeatVector", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity", "UpSampling1D", "UpSampling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",  # the last: a Max reduction (exact on int32)
    *KERAS3_RAW_AT_INFERENCE})
#: Merges whose lowerings build ConcatV2 / Maximum / Minimum / AddV2 / Sub / Mul, exact on int32 in TF.js (cpu and
#: wasm; int32 sums and products wrap as TF's do): they get int32/int64 tensors as they are when every input is an
#: integer and one at least int32/int64 (:func:`wide_integer_merge`; Keras 3's masked Multiply / Maximum / Minimum
#: then select with int32 constants, .merging).
WIDE_INTEGER_MERGES = frozenset({"Concatenate", "Maximum", "Minimum", "Add", "Subtract", "Multiply"})
#: Layers whose lowerings compute on int32 tensors as Keras does on int32/int64 ones (int64 ones reach them as int32,
#: as TF.js holds them): MaxPooling1D/2D (a max over the window's slices: TF.js's MaxPool takes float32 only), Keras
#: 3's Masking (it compares in float32, then selects the integers), a ReLU without a negative slope and Activation
#: linear/relu (``Maximum(x, 0)``, a threshold, a clip), tf_keras's global average pools (an exact truncated mean):
#: see :func:`wide_integer_layer`. Not MaxPooling3D: Keras itself fails on integers.
WIDE_INTEGER_COMPUTING_LAYERS = frozenset({"MaxPooling1D", "MaxPooling2D", "Masking", "ReLU", "Activation"})
#: Layers that keep integers in Keras, or may, in ways the walk does not follow (averages, activations):
#: their integer results are UNTRACKED, and a layer whose result depends on the dtype refuses them.
INTEGER_UNTRACKED_LAYERS = frozenset({
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D"})
#: Comparisons: exact on the float32 Values of integers (held exactly), and their bools are Keras's.
COMPARISON_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual")),
    *(prefix + name for prefix in ("", "math.") for name in ("equal", "not_equal", "greater", "greater_equal", "less",
                                                             "less_equal"))})
#: Keras 3 operations that cast integers to float32 before computing (tf_keras's tf.math.divide gives float64,
#: tf.reduce_mean truncated integers: not these).
FLOAT_COMPUTING_OPS = frozenset(KERAS_OP_PREFIX + name for name in (
    "Divide", "TrueDivide", "Mean", "DivideNoNan", "Tan", "Arcsin", "Arccos", "Arctan", "Arctan2", "Sinh", "Cosh",
    "Arcsinh", "Arccosh", "Arctanh"))
#: Op layers that compute on 8- and 16-bit integers in their promoted dtype, lowered in int32 and wrapped back into
#: it after (TF wraps around: uint8 200 + 100 is 44), or whose result stays in range (the extrema, joins).
NARROW_WRAPPED_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Add", "Subtract", "Multiply", "Negative", "Absolute", "Square")),
    "__operators__.add", "math.add", "math.add_v2", "math.subtract", "__operators__.sub", "math.multiply",
    "__operators__.mul", "math.negative", "math.abs", "math.square"})
NARROW_IN_RANGE_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Maximum", "Minimum", "Max", "Min", "Concatenate", "Stack", "Clip", "Where",
                                          "OnesLike", "ZerosLike", "Sort")),
    "math.maximum", "math.minimum", "math.reduce_max", "math.reduce_min", "concat", "stack", "clip_by_value", "where",
    "ones_like", "zeros_like", "sort"})
#: Op layers whose int32 result indexes 8/16-bit integers (their order), not a value of their dtype.
NARROW_INDEX_OPS = frozenset({KERAS_OP_PREFIX + "Argsort", "argsort"})
#: Op layers whose first operand is a condition (bool), not a value of the result.
CONDITION_OPS = frozenset({KERAS_OP_PREFIX + "Where", "where"})
#: Op layers not lowered on 8- and 16-bit integers: their results may leave the range (wrapping in TF), or take
#: another dtype in Keras 3 (``sum``'s uint32, ``image.resize`` rounded back): refused on them by name, from a model
#: input too. Other op layers on them keep their lowering (comparisons, casts, where, clip to constants...).
NARROW_REFUSED_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Power", "FloorDivide", "Mod", "Matmul", "Einsum", "Resize")),
    "math.reduce_sum", "reduce_sum", "math.pow", "linalg.matmul", "matmul", "math.squared_difference", "nn.bias_add",
    "math.floordiv", "floordiv", "compat.v1.floor_div", "math.floormod", "floormod", "math.mod", "mod",
    "math.reduce_mean", "reduce_mean"})
#: Keras 3's ``sum``/``prod`` of int8/int16 compute in int32 (jax's rule); of uint8/uint16 in uint32: the sum lowered
#: in int32 where it provably stays below 2^24 (:func:`.op_layers._keras_sum`; its result then untracked), else
#: refused, the product refused (:func:`.op_layers._prod`).
NARROW_TO_INT32_OPS = frozenset({KERAS_OP_PREFIX + "Sum", KERAS_OP_PREFIX + "Prod"})
#: Op layers on 8/16-bit integers whose lowering wraps into their dtype itself, step by step (the products and
#: running sums Keras computes in that dtype, :func:`.op_layers._narrow_cumulative`, :func:`.op_layers._prod`).
NARROW_STEPWISE_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Cumsum", "Cumprod")), "math.reduce_prod", "reduce_prod", "math.cumsum",
    "cumsum", "math.cumprod", "cumprod"})
#: The op layers that get 8/16-bit integers back as int32 (the others refuse them where the walk holds them as float32).
NARROW_COMPUTED_OPS = NARROW_WRAPPED_OPS | NARROW_IN_RANGE_OPS | NARROW_TO_INT32_OPS | NARROW_INDEX_OPS | \
    NARROW_STEPWISE_OPS
#: Op layers that compute on integers in their integer dtype, in Keras 3 and tf_keras, as the op lowering does on a
#: model input of that dtype: they get the tracked integers back (:data:`OP_REINTEGER_DTYPES`); any other op layer
#: on tracked integers is refused (``ops.mean`` gives floats in Keras 3 but truncated integers in ``tf.reduce_mean``).
INTEGER_COMPUTING_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in (
        "Add", "Subtract", "Multiply", "Where", "Maximum", "Minimum", "Clip", "Absolute", "Negative", "Square", "Sum",
        "Min", "Max", "Concatenate", "Stack", "OnesLike", "ZerosLike", "LogicalAnd", "LogicalOr", "LogicalNot",
        "LogicalXor", "Any", "All", "FloorDivide", "Mod", "Sort", "Argsort")),
    "__operators__.add", "math.add", "math.subtract", "math.multiply", "where", "math.maximum", "math.minimum",
    "clip_by_value", "math.abs", "math.negative", "math.square", "math.reduce_sum", "math.reduce_min",
    "math.reduce_max", "concat", "stack", "ones_like", "zeros_like", "math.logical_and", "math.logical_or",
    "math.logical_not", "math.reduce_any", "math.reduce_all", "math.floordiv", "floordiv", "compat.v1.floor_div",
    "math.floormod", "floormod", "math.mod", "mod", "sort", "argsort", *NARROW_WRAPPED_OPS, *NARROW_IN_RANGE_OPS,
    *NARROW_INDEX_OPS})
#: The op layers that compute the same on an integer tensor's float32 Value as Keras on the integers: casts (to
#: float32, int32 or bool, the ones :mod:`.op_layers` lowers, all exact on these values).
DTYPE_FREE_OPS = frozenset({"keras.ops.Cast", "cast", "dtypes.cast", "shape", "compat.v1.shape",
                            *COMPARISON_OPS, *FLOAT_COMPUTING_OPS})
#: The tracked integer dtypes an op layer gets back (a Cast of the float32 Value, exact): TF.js computes these as
#: Keras does (as on a model input of that dtype); 8- and 16-bit ones wrap around in Keras, not in TF.js's int32.
OP_REINTEGER_DTYPES = (DType.INT32, DType.INT64, DType.BOOL)
#: The op layers that only move values of one tensor: their result keeps its integer dtype in Keras.
INTEGER_KEEPING_OPS = frozenset({
    *(KERAS_OP_PREFIX + name for name in ("Reshape", "Transpose", "ExpandDims", "Squeeze", "GetItem", "Tile")),
    "reshape", "transpose", "compat.v1.transpose", "expand_dims", "squeeze", "compat.v1.squeeze",
    "__operators__.getitem", "tile"})


#: The integer dtypes float32 does not hold exactly (beyond 2^24).
WIDE_INTEGERS = (DType.INT32, DType.INT64)


#: Merges that sum integers in their dtype (Average before dividing; Dot's integer result): refused on int32 ids
#: where :func:`wide_integer_merge` does not lower them (Dot never: :func:`wide_integer_layer` hands it them).
SUMMING_MERGES = frozenset({"Average", "Dot"})
#: tf_keras's global average pools of int32 are ``reduce_mean``'s exact mean truncated toward zero, lowered exactly
#: (:func:`.pooling.integer_mean`; Keras 3's cast to float32 first, as the float32 the walk hands them).
TF_KERAS_INTEGER_MEANS = frozenset({"GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
                                    "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D"})


def unwrapped_layer(cls: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The layer a TimeDistributed wraps (step by step, iterative: the nesting is untrusted), else the layer itself."""
    while cls == "TimeDistributed":
        inner = config.get("layer") if isinstance(config.get("layer"), dict) else {}
        cls, config = str(inner.get("class_name")), inner.get("config") if isinstance(inner.get("config"), dict) else {}
    return cls, config


def plain_relu(cls: str, config: dict[str, Any]) -> bool:
    """Activation linear/relu and a ReLU without options: the integers as they are, or ``max(x, 0)``, which Keras
    computes in their dtype, exactly."""
    return cls == "Activation" and config.get("activation") in ("linear", "relu") or cls == "ReLU" and all(
        config.get(k) in (None, d) for k, d in (("max_value", None), ("negative_slope", 0), ("threshold", 0)))


def wide_integer_layer(cls: str, config: dict[str, Any], keras3: bool) -> bool:
    """Whether the lowering of a one-input layer (a TimeDistributed: of the layer it wraps) gets int32/int64 tensors as
    they are: the value-moving layers and :data:`WIDE_INTEGER_COMPUTING_LAYERS`, which compute on them exactly as
    Keras (Masking in Keras 3 only, not wrapped: tf_keras's fails on integers, comparing them with a float); nearest
    UpSampling2D (repeated, :func:`.reshaping.upsampling`); Dot (tf_keras's an int32 dot wrapping as TF's, Keras 3's
    a float32 matmul cast back; its lowering refuses the dtypes it does not compute: :func:`.wrappers.dot`); Keras 3's
    bilinear UpSampling2D and Resizing, which round the integers to float32 as Keras's cast does, then resize and
    round back (:mod:`.integer_resize`; tf_keras's return floats)."""
    wrapped = cls == "TimeDistributed"
    if cls == "Rescaling" and _integer_rescaling(config, keras3):  # int32 computed (.integer_layer_dtypes)
        return True
    cls, config = unwrapped_layer(cls, config)
    if cls in WIDE_INTEGER_MOVING_LAYERS or cls == "UpSampling2D" and config.get("interpolation", "nearest") == \
            "nearest":
        return True
    if keras3 and (cls == "UpSampling2D" and config.get("interpolation") == "bilinear" or
                   cls == "Resizing" and config.get("interpolation", "bilinear") == "bilinear"):
        return True
    if cls == "Dot":
        return not wrapped
    if cls in TF_KERAS_INTEGER_MEANS:  # tf_keras's exact truncated mean (.pooling.integer_mean), per step too
        return not keras3
    if cls not in WIDE_INTEGER_COMPUTING_LAYERS:
        return False
    if cls == "Masking":  # tf_keras's compares in the integers' dtype: an integer mask_value only (a float fails)
        return (keras3 or _integer_mask_value(config)) and not wrapped
    return cls.startswith("MaxPooling") or plain_relu(cls, config) or integer_relu(cls, config)


def per_step_mean_dtype(cls: str, ctx: LayerContext, keras3: bool) -> DType | None:
    """The integer dtype of tf_keras's TimeDistributed(GlobalAveragePooling) of integers without a mask: each step's
    truncated mean keeps the input's dtype, as :func:`.pooling._tf_keras_integer_mean` tracks the unwrapped pool's
    (a later merge then computes in it, or refuses; with a mask tf_keras divides into floats)."""
    dtype = ctx.keras_dtypes[0] if ctx.keras_dtypes else None
    if keras3 or cls != "TimeDistributed" or ctx.mask is not None or not isinstance(dtype, DType) or \
            dtype.numpy.kind not in "iu" or unwrapped_layer(cls, ctx.config)[0] not in TF_KERAS_INTEGER_MEANS:
        return None
    return dtype


def refuse_masked_integer_mean(layer: str, cls: str, dtype: DType | str | None, keras3: bool) -> None:
    """A masked GlobalAveragePooling1D sums the integers in their dtype before dividing (int32/int64 in both flavours,
    wrapping in int32; tf_keras 8/16-bit ones too, wrapping in their dtype, where Keras 3 sums those in int32): the
    masked mean of .masking sums int32 ones in int32 and tf_keras's 8/16-bit ones wrapped into their dtype
    (:func:`.integer_means.narrow_masked_mean`; lowered); int64 ones do not wrap at 2^32 in Keras, where TF.js's
    int32 does, and tf_keras's other integer dtypes are not followed: refused."""
    if isinstance(dtype, DType) and (dtype == DType.INT64 or not keras3 and dtype.numpy.kind in "iu"
                                     and dtype != DType.INT32 and not is_narrow(dtype)):
        raise Unsupported(f"layer {layer!r} ({cls}) with a mask on {dtype.numpy} integers (Keras sums them in "
                          f"{dtype.numpy}, wrapping, before dividing; the masked mean is lowered for floats)")


def _integer_rescaling(config: dict[str, Any], keras3: bool) -> bool:
    """A Keras 3 Rescaling of an integer dtype, computed in int32 (:func:`.integer_layer_dtypes.integer_rescaling`)."""
    from .integer_layer_dtypes import integer_layer_dtype

    return integer_layer_dtype("Rescaling", config, keras3) is not None


def integer_relu(cls: str, config: dict[str, Any]) -> bool:
    """A ReLU without a negative slope: Keras computes it in the integers' dtype, its threshold and max_value cast to
    it, and returns that dtype (:func:`.activations._integer_options_relu`); with a slope it returns float32."""
    return cls == "ReLU" and not config.get("negative_slope")


def _integer_mask_value(config: dict[str, Any]) -> bool:
    """Whether a Masking config's mask_value is an integer (tf_keras then compares int32 ids with it exactly)."""
    value = config.get("mask_value", 0.0)
    return isinstance(value, int) and not isinstance(value, bool)


def wide_integer_merge(cls: str, dtypes: list[DType | str | None], inputs: list[Value]) -> bool:
    """Whether a merge gets its inputs as int32 tensors: every input an integer (or bool) Keras keeps, one at least
    int32/int64 (held as it is, not as float32). Keras 3 promotes mixed dtypes (int8 with int32 is int32, int32 with
    int64 is int64; tf_keras cannot build such merges), adding left to right in the dtype so far: ``[int8, int8,
    int32]`` adds the int8 ones in int8 first (:func:`.merging._wrapped_arithmetic` wraps those steps)."""
    if cls not in WIDE_INTEGER_MERGES and cls != "Average" or len(inputs) < 2:
        return False
    if not all(isinstance(d, DType) and is_integer(d) for d in dtypes) or not any(d in WIDE_INTEGERS for d in dtypes):
        return False
    return not any(d in WIDE_INTEGERS and v.dtype not in WIDE_INTEGERS for d, v in zip(dtypes, inputs))  # else


    # a wide integer held as float32 (not exact beyond 2^24): refused


def refuse_wide_integers_through_float(layer: str, cls: str, config: dict[str, Any],
                                        dtypes: list[DType | str | None], keras3: bool) -> None:
    """Refuses a layer that Keras computes in int32/int64 (MaxPooling, Masking, ReLU, UpSampling2D, TimeDistributed,
    a merge of mixed dtypes... of int32 ids) when the lowering would hand it those integers as float32: exact only up
    to 2^24, so ids beyond it would silently change (TF.js's MaxPool takes float32 only)."""
    wide = next((d for d in dtypes if d in WIDE_INTEGERS), None)
    if keras3 and cls == "Average" and None in dtypes[:2]:
        return  # Keras 3 adds left to right in the promoted dtype: float32 from the first add on, as the walk's casts
    if wide is not None and (cls in SUMMING_MERGES
                             or keras_result_dtype(cls, config, dtypes, keras3) in WIDE_INTEGERS):
        # Average: Keras sums the integers in their dtype, wrapping
        raise Unsupported(f"layer {layer!r} ({cls}) on {wide.numpy} integers (Keras keeps them exact; the lowering "
                          "would compute it in float32, exact only up to 2^24)")


def narrow_operands(cls: str, op: Any, dtypes: list[DType | str | None], layer: str) -> DType | None:
    """The promoted 8/16-bit integer dtype an op layer computes in (None when it does not), for the op layers
    lowered on such integers in int32 (:data:`NARROW_WRAPPED_OPS`, :data:`NARROW_IN_RANGE_OPS`,
    :data:`NARROW_STEPWISE_OPS`); those of :data:`NARROW_REFUSED_OPS` are refused on them by name, and so is any op
    layer but casts, comparisons and moves on integers whose Keras dtype the walk does not follow."""
    if is_op_layer(cls) and UNTRACKED in dtypes and op not in DTYPE_FREE_OPS | INTEGER_KEEPING_OPS:
        # integers whose Keras dtype the walk does not follow (Keras 3's uint32 sums of uint8, held in int32, which
        # wraps otherwise; the results of average poolings and activations, held as float32)
        raise Unsupported(f"layer {layer!r} ({cls}) on integers whose Keras dtype the lowering does not follow "
                          "(Keras computes the operation in that dtype)")
    if not is_op_layer(cls) or not any(is_narrow(d) for d in dtypes):
        return None
    first = next(d for d in dtypes if is_narrow(d))
    if op in NARROW_TO_INT32_OPS | NARROW_INDEX_OPS:
        return None  # the int32 result of the tracked integers back in int32 (the walk's INTEGER_COMPUTING_OPS path)
    if op in NARROW_REFUSED_OPS:
        raise Unsupported(f"layer {layer!r} ({cls}) on {first.numpy} integers (Keras computes in that dtype, "
                          "wrapping around or changing it; not lowered)")
    if op not in NARROW_WRAPPED_OPS | NARROW_IN_RANGE_OPS | NARROW_STEPWISE_OPS:
        return None
    if op in CONDITION_OPS:
        dtypes = dtypes[1:]
    if any(d is None or d == UNTRACKED or d == DType.BOOL for d in dtypes):
        raise Unsupported(f"layer {layer!r} ({cls}) on {first.numpy} integers and a float, bool or untracked tensor")
    promoted = DType.from_any(np.result_type(*(d.numpy for d in dtypes if isinstance(d, DType))))
    if op in NEGATIONS and promoted.numpy.kind == "u":  # TF has no Neg kernel for them: Keras fails
        raise Unsupported(f"layer {layer!r} ({cls}) negates {promoted.numpy} integers (TensorFlow cannot)")
    return promoted if is_narrow(promoted) else None


#: The negations: TensorFlow has no unsigned kernel for them.
NEGATIONS = frozenset({KERAS_OP_PREFIX + "Negative", "math.negative"})


def has_input_dtype(actual: Any, wanted: str | None) -> bool | None:
    """Whether a tensor of Keras dtype ``actual`` already has a nested model's Input dtype ``wanted`` (no saved dtype:
    it has), so that Keras does not cast it; None for a dtype name the lowering does not know."""
    try:
        return wanted is None or DType.from_any(wanted) == actual
    except (KeyError, TypeError, ValueError):
        return None


def is_integer(dtype: DType | None) -> bool:
    """Integers and bools: Keras keeps both through the layers that move values (the walk hands on float32)."""
    try:
        return dtype is not None and dtype.numpy.kind in "iub"
    except TypeError:  # string
        return False


def keras_result_dtype(cls: str, config: dict[str, Any], dtypes: list[DType | str | None],
                        keras3: bool) -> DType | str | None:
    """The integer dtype Keras gives the outputs of a layer (an op layer: its function) called on ``dtypes`` (None:
    floats; an op layer's Values carry their real dtype but for the ones that only move values). Layers that only
    move values keep the integers' (promoted as Keras promotes; a float among them makes floats), or the dtype of
    the constant they move when the first argument is one (``tf.tile([[1.5, -2.5]], [n, 1])``); Keras 3's Resizing
    and bilinear UpSampling2D cast their result back to it (tf_keras's return floats)."""
    cls, config = unwrapped_layer(cls, config)  # a TimeDistributed: the wrapped layer's
    if cls in INTEGER_KEEPING_OPS and first_argument_is_constant(config):
        return None  # the constant moved, made a tensor of its own dtype (.op_layers.constant_moved)
    if cls in INTEGER_KEEPING_OPS:
        dtypes = dtypes[:1]  # the tensor moved (the others, if any, are sizes or indices)
    elif cls in INTEGER_OUTPUT_LAYERS or cls in DTYPE_FREE_OPS or is_op_layer(cls):
        return None  # these Values carry their real dtype (an op layer's ``cls`` is its function)
    if all(d is None for d in dtypes):
        return None
    keeps = cls in INTEGER_KEEPING_LAYERS | INTEGER_KEEPING_OPS or (cls == "UpSampling2D" and (
        keras3 or config.get("interpolation", "nearest") == "nearest")) or (cls == "Resizing" and keras3)
    if plain_relu(cls, config) or integer_relu(cls, config):
        keeps = True  # values as they are (linear), or max(x, 0), exact on integers
    if keeps:
        if any(d is None for d in dtypes):
            return None
        if UNTRACKED in dtypes:
            return UNTRACKED
        return DType.from_any(np.result_type(*(d.numpy for d in dtypes if isinstance(d, DType))))
    return UNTRACKED if cls in INTEGER_UNTRACKED_LAYERS else None
