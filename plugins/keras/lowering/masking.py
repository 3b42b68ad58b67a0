"""Keras masks in the lowering: which layers make one, pass it on, drop, merge or read it; the rest refuse it.

A mask is a bool ``[batch, steps]`` tensor that Keras carries beside a layer's output. ``Masking`` and
``Embedding(mask_zero=True)`` make one (replacing their input's); layers that compute the same with or without it pass it on
(Keras's ``supports_masking`` layers with the default ``compute_mask``: Dense, activations, dropout,
normalizations); RNNs, Bidirectional and GlobalAveragePooling1D read it (``ctx.mask``; an RNN that returns
sequences passes it on). Several inputs' masks (``ctx.masks``) meet in merge layers, which combine them as
the flavour that saved the file does (:func:`merged_mask`; Keras 3 ORs, tf_keras ANDs), and in attention
layers, whose output keeps the query's mask (:mod:`.attention` reads them). Layers without mask support whose
call takes no mask drop it as Keras does (:func:`drops_mask`: computed unmasked, output unmasked). Softmax reads a
``mask=`` it was given; ``RNN(cell)`` reads the mask like the RNN layers; TimeDistributed hands it on, or to the RNN or masked pool it
wraps (:func:`_time_distributed_masked`); nested models get their inputs' masks, or the ones given by ``mask=``,
and return their outputs' (the walk). A ``mask=`` computed by layers is read as the tensor they compute.
A mask reaching any other layer is a gap (``mask into X``): the model then goes through TensorFlow, so no layer
silently ignores a mask Keras would use. Where each tracked mask comes from, and the check of Keras 3's recorded
mask ops, is :mod:`.mask_origins`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Value
from tfjsconv.narrow_ints import NARROW_INTS
from tfjsconv.ops.special_values import GUARDED_SUFFIX

from ..op_calls import CALLS_KEY, OP_ARGUMENTS_KEY, is_op_layer, is_relu_operation
from .context import LayerContext
from .mask_origins import MaskOrigin
from .registry import Unsupported, lowers

#: int32's range: Masking compares int32 ids with the integers its float32 mask_value stands for.
INT32 = np.iinfo(np.int32)

#: float32's smallest normal number: TensorFlow's CPU kernels read any float32 of a smaller size as 0 (they flush
#: subnormals), so Keras on TensorFlow masks a float mask entry below it (:func:`tf_kept`).
FLT_MIN = float(np.finfo(np.float32).tiny)

#: Layers that compute the same with or without a mask and hand it on unchanged (``supports_masking`` with the
#: default ``compute_mask``, and a mask at most read in training: BatchNormalization's statistics), in both flavours.
PASSES_MASK = frozenset({"Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Dropout", "SpatialDropout1D",
                         "SpatialDropout2D", "SpatialDropout3D",
                         "GaussianNoise", "GaussianDropout", "AlphaDropout", "LayerNormalization",
                         "BatchNormalization", "BatchNormalizationV1", "BatchNormalizationV2", "SyncBatchNormalization", "UnitNormalization",
                         "ActivityRegularization", "ThresholdedReLU"})
#: Layers that pass the mask on in Keras 3 only; tf_keras's versions do not support masking (they drop it), or
#: read it (tf_keras's GroupNormalization weighs its moments by it: a gap there).
PASSES_MASK_KERAS3 = frozenset({"Identity", "Rescaling", "Normalization", "GroupNormalization"})
#: Layers without mask support whose call takes no mask, in both flavours: Keras computes them as without a mask
#: and their output carries none (Keras 3 warns; tf_keras drops it silently, ``_set_mask_metadata``). Op layers
#: (tf_keras's ``TFOpLambda``, Keras 3's operations) drop masks too.
DROPS_MASK = frozenset({
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Convolution1D",
    "Convolution2D", "Convolution3D", "Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose",
    "SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D", "DepthwiseConv1D",
    "DepthwiseConv2D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D",
    "AvgPool3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D",
    "GlobalMaxPooling1D", "GlobalMaxPool1D", "GlobalMaxPooling2D", "GlobalMaxPool2D", "GlobalMaxPooling3D",
    "GlobalMaxPool3D", "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalAveragePooling3D", "GlobalAvgPool3D",
    "Flatten", "Reshape", "Permute", "RepeatVector", "Cropping1D", "Cropping2D", "Cropping3D", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "EinsumDense", "Resizing",
    "CenterCrop", "Discretization", "CategoryEncoding", "RandomBrightness", "RandomContrast", "RandomFlip",
    "RandomRotation", "RandomTranslation", "RandomZoom", "StringLookup", "IntegerLookup", "Hashing", "RandomWidth",
    "Solarization", "CutMix", "RandomErasing", "RandomGaussianBlur", "RandomPerspective", "RandomElasticTransform",
    "AugMix", "RandAugment", "RandomInvert", "RandomColorJitter", "RandomCrop", "AutoContrast", "RandomSharpness", "RandomGrayscale", "RandomHue", "RandomSaturation",
    "RandomPosterization", "RandomColorDegeneration", "MixUp",
    "ReversibleEmbedding", "SpectralNormalization"})
#: Layers that drop a mask in tf_keras only (Keras 3 hands it on).
_DROPS_MASK_TF_KERAS = frozenset({"Identity", "Rescaling", "Normalization"})
#: Layers that drop a mask in Keras 3 only (tf_keras has none of them, or passes the mask on).
DROPS_MASK_KERAS3 = frozenset({"AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
                               "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
                               "RMSNormalization", "STFTSpectrogram", "MelSpectrogram",
                               "ContrastLimitedAdaptiveHistogramEqualization"})
#: Layers that read no mask and make their output unmasked (``compute_mask`` returns None).
ENDS_MASK = frozenset({"Dot"})
#: Recurrent layers that read the mask (``RNN`` with SimpleRNN/LSTM/GRU cells, stacked or not, too).
_RNN = frozenset({"SimpleRNN", "LSTM", "GRU", "RNN"})
#: Convolutional LSTMs, which read the mask per step and position and hand it on when they return sequences.
_CONV_LSTM = frozenset({"ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})
GLOBAL_AVERAGE_1D = frozenset({"GlobalAveragePooling1D", "GlobalAvgPool1D"})
#: Layers TimeDistributed hands each step's mask to, lowered with it (the other mask readers are gaps there).
TIME_DISTRIBUTED_READERS = _RNN | {"Bidirectional"} | _CONV_LSTM | GLOBAL_AVERAGE_1D
#: Layers whose call reads a mask (Keras passes it to ``call``): TimeDistributed cannot wrap them over a mask.
_CALL_READS_MASK = _RNN | {"Bidirectional", "GlobalAveragePooling1D", "GlobalAvgPool1D", "Softmax", "TimeDistributed",
                           *_CONV_LSTM, "GroupNormalization"} | {
    "Attention", "AdditiveAttention", "MultiHeadAttention"}


def passes_mask(class_name: str, keras3: bool | None) -> bool:
    """Whether the layer hands its input's mask on unchanged (``keras3`` None: in either flavour)."""
    return class_name in PASSES_MASK or (keras3 is True and class_name in PASSES_MASK_KERAS3)


def drops_mask(class_name: str, keras3: bool | None) -> bool:
    """Whether Keras computes the layer as without a mask and its output carries none (``keras3`` None: in either
    flavour)."""
    return class_name in DROPS_MASK or is_op_layer(class_name) or (keras3 is True and class_name in DROPS_MASK_KERAS3) \
        or (keras3 is False and class_name in _DROPS_MASK_TF_KERAS)


#: Op layers TensorFlow answers with their input tensor itself whatever the call (``real``/``conj`` of the real tensors
#: these models hold): the mask Keras set on that object stays on it at run time, though the saved graph drops it.
RETURNS_ITS_INPUT_OPS = frozenset({"keras.ops.Real", "keras.ops.Conjugate", "keras.ops.Conj"})
RETURNS_ITS_INPUT_TF_FUNCTIONS = frozenset({"math.real", "real", "math.conj", "conj"})


#: Keras 3 operations whose TensorFlow backend hands back the very tensor when it already has the dtype they name
#: (``tf.cast`` to its own dtype; ``convert_to_tensor`` with no dtype too).
RETURNS_ITS_INPUT_OF_ITS_DTYPE = frozenset({"keras.ops.Cast", "keras.ops.ConvertToTensor"})


def returns_its_input(class_name: str, config: dict[str, Any]) -> bool:
    return class_name in RETURNS_ITS_INPUT_OPS or (
        class_name == "TFOpLambda" and config.get("function") in RETURNS_ITS_INPUT_TF_FUNCTIONS) or (
        class_name in RETURNS_ITS_INPUT_OF_ITS_DTYPE and _reads_its_own_dtype(class_name, config)) or (
        class_name in RETURNS_ITS_INPUT_BY_ARGUMENTS and returns_it_by_arguments(class_name, config) is True)


def whole_turns(k: Any) -> bool:
    """``rot90`` by ``k`` a multiple of 4: Keras 3's TensorFlow backend (``if k % 4 == 0: return array``, eagerly and
    traced) and tf_keras's eager ``tf.image.rot90`` (its ``case`` runs ``lambda: image``) hand back the tensor itself,
    the mask Keras set on it with it (session 28)."""
    return isinstance(k, int) and not isinstance(k, bool) and k % 4 == 0


#: Keras 3 reductions whose TensorFlow backend hands back the very tensor for ``axis=()`` (``if axis == () or axis ==
#: []: return x``): lowered unmasked before (0.32 where Keras's GlobalAveragePooling1D gives 0.79, H5b session 28).
_EMPTY_AXIS_RETURNS = frozenset({"keras.ops.Nanmean", "keras.ops.Nanmedian"})


#: Keras 3 operations whose TensorFlow backend hands back the very tensor for some arguments (``rot90`` by whole
#: turns, ``diff`` with ``n=0``, ``moveaxis``/``swapaxes`` that move nothing once the axes are canonical): lowered
#: unmasked until session 28, 0.31 where Keras's GlobalAveragePooling1D after them gives 0.51, silently.
RETURNS_ITS_INPUT_BY_ARGUMENTS = frozenset({"keras.ops.Rot90", "keras.ops.Diff", "keras.ops.Moveaxis",
                                            "keras.ops.Swapaxes", *_EMPTY_AXIS_RETURNS})


def returns_it_by_arguments(class_name: str, config: dict[str, Any]) -> bool | None:
    """Whether a :data:`RETURNS_ITS_INPUT_BY_ARGUMENTS` call returns its input itself, as its saved arguments and its
    input's saved rank tell; None where they do not tell."""
    arguments = config.get(OP_ARGUMENTS_KEY) or config
    if class_name == "keras.ops.Rot90":
        k = arguments.get("k", 1)
        return whole_turns(k) if isinstance(k, int) else None
    if class_name in _EMPTY_AXIS_RETURNS:
        axis = arguments.get("axis")
        return axis == [] if axis is None or isinstance(axis, (int, list)) else None
    if class_name == "keras.ops.Diff":
        n = arguments.get("n", 1)
        return n == 0 if isinstance(n, int) and not isinstance(n, bool) else None
    pairs = (("source", "destination"),) if class_name == "keras.ops.Moveaxis" else (("axis1", "axis2"),)
    first, second = (arguments.get(key) for key in pairs[0])
    first, second = ([v] if isinstance(v, int) else v for v in (first, second))
    ranks = {_saved_rank(node) for node in config.get(CALLS_KEY) or [None]}
    if len(ranks) != 1 or None in ranks or not all(isinstance(v, list) and all(
            isinstance(i, int) and not isinstance(i, bool) for i in v) for v in (first, second)):
        return None
    rank = ranks.pop()
    return [i % rank for i in first] == [i % rank for i in second] if rank else None


def _saved_rank(node: Any) -> int | None:
    """The rank of the first tensor a Keras 3 call node records (None: not told)."""
    args = node.get("args") if isinstance(node, dict) else None
    first = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
    shape = (first.get("config") or {}).get("shape") if first.get("class_name") == "__keras_tensor__" else None
    return len(shape) if isinstance(shape, list) else None


def _reads_its_own_dtype(class_name: str, config: dict[str, Any]) -> bool:
    """Whether every recorded call of a Keras 3 ``Cast``/``ConvertToTensor`` reads a tensor of the dtype it names
    (``ConvertToTensor`` without a dtype: of any), as the saved Keras tensor's dtype says (not a mixed policy), so
    that TensorFlow hands back that tensor, its run-time mask with it (Keras's ``model(x)`` keeps it: the next
    LSTM or GlobalAveragePooling1D reads it). Anything the config does not tell, a ``sparse``/``ragged`` request
    included, is not."""
    arguments = config.get(OP_ARGUMENTS_KEY) or {}
    if arguments.get("sparse") or arguments.get("ragged"):
        return False
    target = arguments.get("dtype")
    target = (target.get("config") or {}).get("name") if isinstance(target, dict) else target
    calls = config.get(CALLS_KEY)
    if not isinstance(calls, list) or not calls or (target is None and class_name != "keras.ops.ConvertToTensor"):
        return False
    for node in calls:
        args = node.get("args") if isinstance(node, dict) else None
        first = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
        source = (first.get("config") or {}).get("dtype") if first.get("class_name") == "__keras_tensor__" else None
        if not isinstance(source, str) or source.startswith("mixed") or target not in (None, source):
            return False
    return True


def makes_mask(class_name: str, config: dict[str, Any]) -> bool:
    return class_name == "Masking" or (class_name == "Embedding" and bool(config.get("mask_zero")))


#: Merge layers that combine their inputs elementwise (their masks too).
ELEMENTWISE_MERGES = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"})
#: Attention layers whose output carries the query's mask (``Attention``'s ``compute_mask``; MultiHeadAttention's
#: default and Keras 3's ``set_keras_mask(output, query_mask)``).
QUERY_MASKED = frozenset({"Attention", "AdditiveAttention", "MultiHeadAttention", "GroupedQueryAttention",
                          "GroupQueryAttention"})


def masked_outputs(class_name: str, config: dict[str, Any], masked: Sequence[bool],
                   keras3: bool | None = None, *, its_input: bool = False) -> set[int] | None:
    """The output indices that carry a mask after one call whose inputs carry ``masked``, or None when the
    layer cannot take those masks. ``keras3`` None (flavour unknown) answers as if any flavour could mask.
    ``its_input``: the walk knows that this call hands back its one input tensor itself (a tf_keras ``tf.cast`` to
    the dtype that tensor has, ``add_n`` of one tensor: ``call_facts.returns_input_itself``), so the mask Keras set on
    that object rides on at run time, though op layers drop masks in the graph Keras saved."""
    if makes_mask(class_name, config):  # the new mask replaces the input's (compute_mask reads only the values)
        return {0}
    inner = config.get("layer") or {}
    if class_name == "TimeDistributed" and (time_distributed_makes_mask(config, keras3) or keras3 is None and
                                            makes_mask(str(inner.get("class_name")), inner.get("config") or {})):
        return None if keras3 is None else {0}  # tf_keras's per-step mask replaces the input's
    if not any(masked):
        return set()
    if returns_its_input(class_name, config) or its_input:  # the very tensor, its run-time mask with it
        return {0} if masked[0] else set()
    if drops_mask(class_name, keras3) or is_relu_operation(class_name, config, keras3):  # an operation: none
        return set()
    if class_name in ELEMENTWISE_MERGES:  # Keras 3: OR, only when every input is masked; tf_keras: AND of those given
        return {0} if all(masked) or keras3 is not True else set()
    if class_name == "Concatenate":
        return {0}
    if class_name in ENDS_MASK:
        return set()
    if class_name in QUERY_MASKED:
        return {0} if masked[0] else set()
    if len(masked) != 1:
        return None
    if passes_mask(class_name, keras3) or class_name == "Softmax":
        return {0}
    if class_name in _RNN or class_name in _CONV_LSTM:  # ConvLSTM reads it per position (see .conv_lstm)
        return {0} if config.get("return_sequences") else set()
    if class_name == "TimeDistributed":
        return _time_distributed_masked(config, keras3)
    if class_name == "Bidirectional":
        inner = (config.get("layer") or {}).get("config") or {}
        if not inner.get("return_sequences"):
            return set()
        return {0, 1} if config.get("merge_mode", "concat") is None else {0}
    if class_name == "GlobalAveragePooling1D":  # channels_first too (.masked_global_average_1d)
        return set()
    return None


def _time_distributed_masked(config: dict[str, Any], keras3: bool | None) -> set[int] | None:
    """A masked TimeDistributed: Keras 3 hands the mask on (its ``compute_mask`` is the default) and passes each
    step's mask to an inner call that takes one; tf_keras asks the inner layer's ``compute_mask`` (a layer
    without mask support raises, so no file has that case). Inner RNNs and GlobalAveragePooling1D read each
    step's mask (:data:`TIME_DISTRIBUTED_READERS`, the input of rank 4 or more, :func:`.wrappers.time_distributed`);
    Keras 3's Masking and Embedding take none (the mask is handed on). Other inner layers that would read the mask
    are gaps."""
    inner = config.get("layer") or {}
    cls, inner_config = str(inner.get("class_name")), inner.get("config") or {}
    if keras3 is None:
        return None
    if cls == "TimeDistributed" and nested_time_distributed_reader(config) is not None:  # (session 33)
        return {0}
    if cls in TIME_DISTRIBUTED_READERS:
        return None if cls in GLOBAL_AVERAGE_1D and inner_config.get("data_format", "channels_last") not in (
            None, "channels_last") else {0}
    if keras3 and makes_mask(cls, inner_config):
        return {0}
    if cls in _CALL_READS_MASK or makes_mask(cls, inner_config):
        return None
    if keras3 or passes_mask(cls, keras3):
        return {0}
    return None


def nested_time_distributed_reader(config: dict[str, Any]) -> tuple[str, dict[str, Any], int] | None:
    """The mask reader that TimeDistributed(TimeDistributed(...)) wraps innermost (:data:`TIME_DISTRIBUTED_READERS`,
    GlobalAveragePooling1D channels_last), with the number of wrappers: each wrapper hands the next its input's mask
    folded as that input (tf_keras reshapes it, Keras 3 hands step ``t`` ``mask[:, t]``), so the reader reads the
    mask folded over every wrapper's time axis (R23's M3, session 33). None: the innermost layer is no such reader."""
    depth, layer = 1, config.get("layer") or {}
    while isinstance(layer, dict) and layer.get("class_name") == "TimeDistributed" and depth < 64:  # (untrusted)
        depth, layer = depth + 1, (layer.get("config") or {}).get("layer") or {}
    cls = str(layer.get("class_name")) if isinstance(layer, dict) else ""
    inner = (layer.get("config") or {}) if isinstance(layer, dict) else {}
    if depth == 1 or cls not in TIME_DISTRIBUTED_READERS or cls in GLOBAL_AVERAGE_1D and inner.get(
            "data_format", "channels_last") not in (None, "channels_last"):
        return None
    return cls, inner, depth


def time_distributed_makes_mask(config: dict[str, Any], keras3: bool | None) -> bool:
    """tf_keras's TimeDistributed(Masking) and TimeDistributed(Embedding(mask_zero=True)) make their output's mask
    per step even of an unmasked input (the inner layer's ``compute_mask``)."""
    inner = config.get("layer") or {}
    return keras3 is False and makes_mask(str(inner.get("class_name")), inner.get("config") or {})


def output_origin(class_name: str, config: dict[str, Any], refs: Sequence[Any], origins: Sequence[MaskOrigin | None],
                  sequential: bool) -> MaskOrigin | None:
    """The origin (see :mod:`.mask_origins`) of the mask a call's masked outputs carry."""
    if makes_mask(class_name, config):  # the value compared with: Keras 3 records it beside the tensor
        return (class_name, refs[0], sequential, config.get("mask_value", 0.0) if class_name == "Masking" else 0)
    if class_name in ELEMENTWISE_MERGES:  # tf_keras's AND of some inputs' masks is never recorded (no Keras 3 ops)
        return ("or", tuple(origins)) if all(o is not None for o in origins) else ("and", tuple(origins))
    if class_name == "Concatenate":
        return ("concat", config.get("axis", -1), tuple(zip(origins, refs)))
    if class_name in ("Attention", "AdditiveAttention"):
        return ("convert", origins[0])
    if class_name == "TimeDistributed" and all(o is None for o in origins):  # tf_keras's TimeDistributed(Masking)
        return ("TimeDistributed", refs[0], sequential)
    return next((o for o in origins if o is not None), None)


def mask_gap(name: str, class_name: str, config: dict[str, Any] | None = None) -> str:
    """``'name' (mask into Class)``; for Softmax and TimeDistributed(Softmax), why Keras's own result is not defined
    (a propagated mask of steps equal to the width runs in Keras at some batch sizes, masking channels)."""
    inner = str(((config or {}).get("layer") or {}).get("class_name")) if class_name == "TimeDistributed" else ""
    if inner == "Softmax":
        return (f"{name!r} (mask into TimeDistributed(Softmax): Keras hands the wrapped Softmax each step's mask, one "
                "axis short of that step's input, and Softmax lines it up with the input's last axes: Keras fails "
                "unless the sizes happen to match or be 1, and then masks features by the mask of other "
                "positions)")
    if class_name == "Softmax":
        return (f"{name!r} (mask into Softmax: Keras lines the [batch, steps] mask up with the input's last axes, so "
                "it fails unless the sizes happen to match or be 1, and then masks features by the mask of other "
                "positions)")
    return f"{name!r} (mask into {class_name})"


def make_mask(ctx: LayerContext) -> Value:
    """The mask a Masking / Embedding(mask_zero) call makes of its input."""
    x = ctx.x
    if ctx.class_name == "Embedding":  # Keras: ids != 0, on the ids as given (int64 ids are int32 in TF.js)
        ids = x
        if ids.dtype not in (DType.INT32, DType.FLOAT32):
            ids = ctx.op("Cast", [ids], {"SrcT": ids.dtype, "DstT": DType.INT32, "Truncate": False},
                         dtype=DType.INT32, shape=ids.shape, label="mask_ids")
        zero = ctx.const(_zero(ids.dtype), "mask_zero")
        return ctx.op("NotEqual", [ids, zero], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                      shape=ids.shape, label="mask")
    return _any_not_equal(ctx, x, keep_dims=False, label="mask")


def any_not_equal(ctx: LayerContext, x: Value, value: float, *, keep_dims: bool, label: str) -> Value:
    """``any(x != value, axis=-1)``: Masking's mask of ``x``. TensorFlow compares subnormals as 0
    (:func:`tf_kept`): against a mask_value whose float32 is 0 or subnormal, a subnormal entry equals it."""
    if abs(np.float32(value)) < FLT_MIN:
        differs = tf_kept(ctx.graph, x, f"{ctx.name}/{label}_differs")
    else:  # a normal mask_value differs from every subnormal, flushed or not
        differs = ctx.op("NotEqual", [x, ctx.floats(value, f"{label}_value")], {"incompatible_shape_error": True},
                         dtype=DType.BOOL, shape=x.shape, label=f"{label}_differs")
    shape = ctx.shape(x)
    out_shape = (*shape[:-1], 1) if keep_dims else shape[:-1]
    return ctx.op("Any", [differs, ctx.ints(-1, f"{label}_axis")], {"keep_dims": keep_dims, "Tidx": DType.INT32},
                  dtype=DType.BOOL, shape=out_shape, label=label)


def _zero(dtype: DType) -> Any:
    import numpy as np

    return np.zeros((), dtype=np.int32 if dtype == DType.INT32 else np.float32)


def _any_not_equal(ctx: LayerContext, x: Value, *, keep_dims: bool, label: str) -> Value:
    """Masking's mask of ``x`` (of int32/int64 ids: :func:`_integer_not_equal`)."""
    raw = ctx.config.get("mask_value", 0.0)
    value = float(raw)
    if x.dtype == DType.FLOAT32 and (_float64_mask_value_unheld(ctx, value, x) or
                                     _half_mask_value_unheld(ctx, value)):  # no value equals it: every step kept
        differs = ctx.op("NotEqual", [ctx.op("OnesLike", [x], dtype=DType.FLOAT32, shape=x.shape, label=f"{label}_one"),
                                      ctx.floats(0.0, f"{label}_zero")], {"incompatible_shape_error": True},
                         dtype=DType.BOOL, shape=x.shape, label=f"{label}_differs")
        shape = ctx.shape(x)
        return ctx.op("Any", [differs, ctx.ints(-1, f"{label}_axis")], {"keep_dims": keep_dims, "Tidx": DType.INT32},
                      dtype=DType.BOOL, shape=(*shape[:-1], 1) if keep_dims else shape[:-1], label=label)
    if x.dtype == DType.FLOAT32 and _computes_in_half(ctx):  # float16(mask_value), held so by the mask too
        value = _half_mask_value(value)
    if x.dtype != DType.INT32:
        return any_not_equal(ctx, x, value, keep_dims=keep_dims, label=label)
    shape = ctx.shape(x)
    if isinstance(raw, bool) or not isinstance(raw, int):
        differs = _integer_not_equal(ctx, x, value, label)
    elif INT32.min <= raw <= INT32.max:  # an integer mask_value: ``not_equal`` in the ids' own dtype, exact
        differs = ctx.op("NotEqual", [x, ctx.const(np.int32(raw), f"{label}_value")], {"incompatible_shape_error": True},
                         dtype=DType.BOOL, shape=x.shape, label=f"{label}_differs")
    else:
        raise Unsupported(f"layer {ctx.name!r} (Masking): mask_value {raw} outside int32's range")
    return ctx.op("Any", [differs, ctx.ints(-1, f"{label}_axis")],
                  {"keep_dims": keep_dims, "Tidx": DType.INT32}, dtype=DType.BOOL,
                  shape=(*shape[:-1], 1) if keep_dims else shape[:-1], label=label)


def _half_mask_value_unheld(ctx: LayerContext, value: float) -> bool:
    """A Keras 3 float16 Masking whose mask_value float16 cannot hold (0.1): its ``not_equal`` of the float16 input
    and the Python float compares in float32, which no float16 value equals, so every step is kept (the lowering
    rounded the mask_value with its float16 input and masked steps of 0.1, 0.05 off, session 29). tf_keras converts
    the mask_value to float16 first: rounded with the layer's constants, it masks them, as tf_keras does. A
    mask_value whose float32 is subnormal (1e-40) is held: TensorFlow's CPU compares it as 0 (:func:`tf_kept`), and so
    masks rows of zeros (taken as kept, 0.76 off, review R5, session 29)."""
    if not ctx.keras3 or not _computes_in_half(ctx) or not math.isfinite(value) or abs(np.float32(value)) < FLT_MIN:
        return False
    with np.errstate(over="ignore"):
        return bool(np.float32(np.float16(np.float32(value))) != np.float32(value))


def _half_mask_value(value: float) -> float:
    """tf_keras's float16 Masking compares with ``float16(mask_value)``, for its output and its mask alike (until
    session 29 the lowering compared the mask with the float32 one: a tf_keras float16 ``Masking(0.1)``'s pooling
    averaged over the zeroed steps, 0.38 off). A Keras 3 mask_value reaching here is a float16 one already, or a
    float32 subnormal, which float16 rounds to the 0 TensorFlow compares it as (:func:`_half_mask_value_unheld`)."""
    with np.errstate(over="ignore"):
        return float(np.float16(value))


def _float64_mask_value_unheld(ctx: LayerContext, value: float, x: Value) -> bool:
    """A tf_keras ``dtype="float64"`` Masking whose mask_value float32 cannot hold (0.1): its ``tf.not_equal``
    converts the Python float to float64, and inputs TF.js holds exactly as float32 (a model input, a float64 one too,
    or moved from one: :func:`.float64_compare.holds_float64_exactly`) never equal it, so every step is kept (compared
    with float32(0.1), a step of float32(0.1) was masked). Values computed in float32 for Keras's float64 ones (a
    float64 Dense's, ``w + 0.1``) may stand for 0.1 itself or for a neighbour: refused by name (review R2, F1: a
    Dense whose bias gives exactly 0.1 is masked in Keras)."""
    from ..configs import dtype_name
    from .float64_compare import holds_float64_exactly

    if ctx.keras3 or dtype_name(ctx.config.get("dtype")) != "float64" or not math.isfinite(value) or \
            float(np.float32(value)) == value:
        return False
    if holds_float64_exactly(ctx.graph, x) or (x.producer is not None and x.producer.op == "Placeholder"):
        return True
    raise Unsupported(f"layer {ctx.name!r} (Masking): a float64 mask_value {value!r} that float32 does not hold, "
                      "compared with values computed in float32 (whether Keras's float64 values equal it is not "
                      "known; a float32 or float64 model input would be compared exactly)")


def _integer_not_equal(ctx: LayerContext, x: Value, value: float, label: str) -> Value:
    """``float32(x) != float32(value)`` for int32 ``x``, as Keras 3's ``not_equal`` of integers and a float mask_value
    compares them (promoted to float32: 16777217 equals 16777216.0), computed in int32 as ``x`` outside the integers
    that round to the value: TF.js's cpu Cast of int32 to float32 keeps the integers unrounded."""
    target = np.float32(value)
    matches = []
    if np.isfinite(target):
        ulp = float(np.spacing(np.abs(target)))
        low, high = max(math.ceil(float(target) - ulp), INT32.min), min(math.floor(float(target) + ulp), INT32.max)
        candidates = np.arange(low, high + 1, dtype=np.int64)
        matches = candidates[candidates.astype(np.float32) == target].tolist()
    if not matches:  # no integer equals it: every value differs
        return ctx.op("GreaterEqual", [x, ctx.const(np.int32(INT32.min), f"{label}_lowest")], dtype=DType.BOOL,
                      shape=x.shape, label=f"{label}_differs")
    if len(matches) == 1:
        return ctx.op("NotEqual", [x, ctx.const(np.int32(matches[0]), f"{label}_value")],
                      {"incompatible_shape_error": True}, dtype=DType.BOOL, shape=x.shape, label=f"{label}_differs")
    below = ctx.op("Less", [x, ctx.const(np.int32(matches[0]), f"{label}_low")], dtype=DType.BOOL, shape=x.shape,
                   label=f"{label}_below")
    above = ctx.op("Greater", [x, ctx.const(np.int32(matches[-1]), f"{label}_high")], dtype=DType.BOOL,
                   shape=x.shape, label=f"{label}_above")
    return ctx.op("LogicalOr", [below, above], dtype=DType.BOOL, shape=x.shape, label=f"{label}_differs")


def tf_kept(graph: Graph, mask: Value, name: str) -> Value:
    """A float32 or int32 mask cast to bool as Keras's readers on TensorFlow cast it: nonzero and NaN kept, and a
    float's subnormals (``|m| < FLT_MIN``) masked, since TensorFlow's CPU kernels flush them to 0 (``cast(1e-40,
    bool)`` is False) where TF.js keeps them, so ``!= 0`` alone would keep them. A backend that flushes them too
    reads them as 0 here as well. No Cast to bool: wasm's is wrong on floats."""
    if mask.dtype != DType.FLOAT32:
        zero = graph.const(np.zeros((), mask.dtype.numpy), name=f"{name}_zero")
        return graph.add_op("NotEqual", [mask, zero], {"T": mask.dtype, "incompatible_shape_error": True}, name=name,
                            dtype=DType.BOOL, shape=mask.shape)
    f32 = {"T": DType.FLOAT32}
    size = graph.add_op("Abs", [mask], f32, name=f"{name}_size", dtype=DType.FLOAT32, shape=mask.shape)
    smallest = graph.const(np.float32(FLT_MIN), name=f"{name}_smallest_normal")
    flushed = graph.add_op("Less", [size, smallest], f32, name=f"{name}_flushed", dtype=DType.BOOL,
                           shape=mask.shape)
    return graph.add_op("LogicalNot", [flushed], name=name, dtype=DType.BOOL, shape=mask.shape)


def as_float(ctx: LayerContext, mask: Value, label: str) -> Value:
    return ctx.op("Cast", [mask], {"SrcT": DType.BOOL, "DstT": DType.FLOAT32, "Truncate": False},
                  dtype=DType.FLOAT32, shape=mask.shape, label=label)


@lowers("Masking")
def masking(ctx: LayerContext) -> Value:
    """Keras 3's ``where(keep, x, 0)``, tf_keras's ``x * cast(keep)`` (``keep = any(x != mask_value, axis=-1,
    keepdims=True)``): they differ on masked steps of ±inf (Keras 3 0, tf_keras NaN) and of negative values (+0,
    -0). Until session 30 both flavours multiplied: Keras 3's ``Masking(inf)`` gave NaN where Keras gives 0."""
    keep = _any_not_equal(ctx, ctx.x, keep_dims=True, label="keep")
    if ctx.x.dtype == DType.INT32 or (ctx.keras3 and ctx.x.dtype == DType.FLOAT32):  # ids: tf_keras refuses
        return ctx.op("SelectV2", [keep, ctx.x, ctx.const(_zero(ctx.x.dtype), "masked_zero")], {"T": ctx.x.dtype},
                      dtype=ctx.x.dtype, shape=ctx.x.shape, label="masked")
    return ctx.binary("Mul", ctx.x, as_float(ctx, keep, "keep_float"), label="masked")


def masked_global_average_1d(ctx: LayerContext, mask: Value) -> Value:
    """Keras's masked mean over the steps: ``sum(x * m) / sum(m)``; Keras 3 zeroes the masked steps with
    ``where(m, x, 0)`` (a NaN or Inf there drops out; tf_keras's ``x * m`` keeps it as NaN).

    channels_first: Keras expands the ``[batch, T]`` mask on axis 1 and so lines it up with the LAST axis (the
    steps), whatever axis 1 of the layer's input was, and fails unless T and the steps match (or either is 1): a
    broadcast TF.js makes the same way. A fully masked row is
    ``0 / 0``, NaN in Keras; webgl's division shader gives 1 when both sides are equal, so that row is selected as
    NaN (``count * Inf``) explicitly, and the division (now exact) is named as guarded.
    Of int32/int64 ids (int32 here) Keras sums ``x * m`` in their dtype, wrapping, and divides in float64: the sum is
    TF.js's int32 Sum of the kept ids, wrapping as TF's, divided in float32 (a float64 quotient rounded). tf_keras
    sums 8/16-bit integers and their mask in their dtype, wrapping (channels_first too):
    :func:`.integer_means.narrow_masked_mean`."""
    dtype = ctx.keras_dtypes[0] if ctx.keras_dtypes else None
    first = ctx.config.get("data_format") == "channels_first"
    if mask.dtype != DType.BOOL:  # tf_keras's weights (given directly or to a nested model): float32 inputs only
        return _weighed_global_average_1d(ctx, mask, *((2, 1) if first else (1, 2)))
    if first and not ctx.keras3 and dtype is not None and ctx.x.dtype != DType.INT32 \
            and not (isinstance(dtype, DType) and dtype in NARROW_INTS):  # (8/16-bit ones: narrow_masked_mean)
        named = np.dtype(dtype.numpy).name if isinstance(dtype, DType) else dtype
        raise Unsupported(f"layer {ctx.name!r} (GlobalAveragePooling1D: a mask into its channels_first mean of "
                          f"{named} integers)")
    if not ctx.keras3 and isinstance(dtype, DType) and dtype in NARROW_INTS:
        from .integer_means import narrow_masked_mean

        return narrow_masked_mean(ctx, mask, dtype)
    shape = ctx.shape()
    steps, mask_axis = (2, 1) if first else (1, 2)
    keepdims = bool(ctx.config.get("keepdims"))
    kept = ctx.expand_dims(mask, mask_axis, "mask_steps_kept")
    weights = ctx.expand_dims(as_float(ctx, mask, "mask_float"), mask_axis, "mask_steps")
    sum_attrs = {"keep_dims": keepdims, "Tidx": DType.INT32}
    kept_axis = 1 if first else 2  # the axis the mean keeps: channels_first's axis 1, channels_last's features
    sum_shape = tuple(shape[a] if a in (0, kept_axis) else 1 for a in range(3)) if keepdims else \
        (shape[0], shape[kept_axis])
    if ctx.x.dtype == DType.INT32:
        kept_ids = ctx.op("SelectV2", [kept, ctx.x, ctx.ints(0, "masked_zero")], {"T": DType.INT32},
                          dtype=DType.INT32, shape=ctx.x.shape, label="masked")
        wrapped = ctx.op("Sum", [kept_ids, ctx.ints(steps, "steps_axis")], sum_attrs, dtype=DType.INT32,
                         shape=sum_shape, label="integer_sum")
        total = ctx.op("Cast", [wrapped], {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False},
                       dtype=DType.FLOAT32, shape=sum_shape, label="sum")
    else:
        masked = ctx.op("SelectV2", [kept, ctx.x, ctx.floats(0.0, "masked_zero")], {"T": DType.FLOAT32},
                        dtype=DType.FLOAT32, shape=ctx.x.shape, label="masked") if ctx.keras3 else \
            ctx.binary("Mul", ctx.x, weights, label="masked")
        total = ctx.op("Sum", [masked, ctx.ints(steps, "steps_axis")], sum_attrs, shape=sum_shape, label="sum")
    count = ctx.op("Sum", [weights, ctx.ints(steps, "count_axis")], sum_attrs,
                   shape=(shape[0], 1, 1) if keepdims else (shape[0], 1), label="count")
    mean = ctx.binary("RealDiv", total, count, label="mean" + GUARDED_SUFFIX)
    empty = ctx.op("Equal", [count, ctx.floats(0.0, "no_steps")], {"incompatible_shape_error": True},
                   dtype=DType.BOOL, shape=count.shape, label="empty")
    nan = ctx.scalar_op("Mul", count, np.inf, "empty_mean")  # 0 * Inf: NaN without a NaN weight to warn about
    return ctx.op("SelectV2", [empty, nan, mean], {"T": DType.FLOAT32},
                  dtype=DType.FLOAT32, shape=mean.shape, label="mean")


#: tf_keras layers the walk hands a float32 or int32 ``mask=`` as it is, as their call reads it:
#: GlobalAveragePooling1D weighs the steps by it (``sum(x·w) / sum(w)``), Softmax adds ``(1 - w)·-1e9``
#: (:func:`.activations.softmax`). Other readers given one directly are gaps (the RNNs cast it to bool on the CPU
#: kernel but hand the weights on as their output's mask; Attention multiplies by the query's).
WEIGHED_GIVEN_READERS = GLOBAL_AVERAGE_1D | {"Softmax"}


def _computes_in_half(ctx: LayerContext) -> bool:
    """Whether the layer computes in float16 (its dtype policy: its ops then each round, ``round_each_op``)."""
    from .float_widths import computes_in_half

    return computes_in_half(ctx.class_name, ctx.config)


def _flushed_products(ctx: LayerContext, products: Value) -> Value:
    """``products`` with their subnormals (``|p| < FLT_MIN``) signed zeros, as TensorFlow's CPU kernels flush
    them (``1e-38 · 0.5`` is 0 there; TF.js keeps it, which a row of tiny weights divides back up to ``x``)."""
    zeros = ctx.scalar_op("Mul", products, 0.0, "weighed_zero")  # (±0 by the product's sign; Inf·0 not selected)
    return ctx.op("SelectV2", [tf_kept(ctx.graph, products, f"{ctx.name}/weighed_normal"), products, zeros],
                  {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=products.shape, label="weighed_flushed")


def _a_dtype(dtype: DType) -> str:
    """``dtype``'s name after its indefinite article, for messages: "a float32", "an int32"."""
    name = dtype.name.lower()
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def weighed_mask_gap(name: str, class_name: str, config: dict[str, Any], dtype: DType) -> str | None:
    """Why a tf_keras layer cannot take the float or integer mask it was given as weights (``inner(x, mask=m)``:
    tf_keras sets ``m`` on the inner inputs as it is; ``GlobalAveragePooling1D()(x, mask=m)``), or None:
    GlobalAveragePooling1D weighs the steps by it (:func:`masked_global_average_1d`), Softmax by ``1 - m``;
    MultiHeadAttention casts its inputs' masks to bool (``tf.cast``: subnormals masked, :func:`tf_kept`, as
    :func:`.attention_masks.as_bool` reads them) and its output carries the query's weights on; layers that hand a
    mask on unchanged, make their own or drop it take it (a propagated mask into Softmax is a gap already); any other
    reader is a gap (merges ``all`` it into a bool output mask, Attention multiplies by the query's, the RNNs hand
    the weights on)."""
    if class_name in WEIGHED_GIVEN_READERS or class_name in PASSES_MASK or makes_mask(class_name, config) or \
            class_name == "MultiHeadAttention" or \
            class_name in DROPS_MASK | _DROPS_MASK_TF_KERAS and class_name not in _CALL_READS_MASK:
        return None
    return f"{name!r} ({class_name}: {_a_dtype(dtype)} mask given to a nested model, which tf_keras hands on " \
           "as it is)"


def _weighed_global_average_1d(ctx: LayerContext, mask: Value, steps: int, mask_axis: int) -> Value:
    """tf_keras's mean of float32 ``x`` weighed by a float32 or int32 mask (a nested model's given one):
    ``sum(x * w) / sum(w)``, ``w = cast(m, float32)`` with subnormals 0 as TensorFlow flushes them (a float16 layer's
    ``w`` rounded to float16 as its cast rounds); ``0 / 0`` is NaN (selected so: webgl's division of equal values
    gives 1), any other ``t / 0`` TF.js's own ±Inf."""
    if ctx.keras3 or ctx.x.dtype != DType.FLOAT32 or (ctx.keras_dtypes and ctx.keras_dtypes[0] not in (
            None, DType.FLOAT32)):
        raise Unsupported(f"layer {ctx.name!r} (GlobalAveragePooling1D: {_a_dtype(mask.dtype)} mask weighing "
                          "a non-float32 input)")
    if mask.dtype == DType.INT32:
        mask = ctx.op("Cast", [mask], {"SrcT": DType.INT32, "DstT": DType.FLOAT32, "Truncate": False},
                      dtype=DType.FLOAT32, shape=mask.shape, label="mask_float")
    flushed = ctx.op("SelectV2", [tf_kept(ctx.graph, mask, f"{ctx.name}/mask_normal"), mask,
                                  ctx.floats(0.0, "mask_zero")], {"T": DType.FLOAT32}, dtype=DType.FLOAT32,
                     shape=mask.shape, label="mask_flushed")
    if _computes_in_half(ctx):  # ``tf.cast(mask, float16)``: below 2.98e-8 is 0, so a row of them 0 / 0
        flushed = ctx.scalar_op("Mul", flushed, 1.0, "mask_float16")  # (a computing op: round_each_op rounds it)
    weights = ctx.expand_dims(flushed, mask_axis, "mask_steps")
    keepdims, shape = bool(ctx.config.get("keepdims")), ctx.shape()
    attrs = {"keep_dims": keepdims, "Tidx": DType.INT32}
    kept_axis = 3 - steps  # channels_first's axis 1, channels_last's features
    weighed = ctx.binary("Mul", ctx.x, weights, label="weighed")
    if not _computes_in_half(ctx):  # (float16's rounding flushes them already)
        weighed = _flushed_products(ctx, weighed)
    total = ctx.op("Sum", [weighed, ctx.ints(steps, "steps_axis")],
                   attrs, shape=tuple(shape[a] if a in (0, kept_axis) else 1 for a in range(3)) if keepdims else
                   (shape[0], shape[kept_axis]), label="sum")
    count = ctx.op("Sum", [weights, ctx.ints(steps, "count_axis")], attrs,
                   shape=(shape[0], 1, 1) if keepdims else (shape[0], 1), label="count")
    mean = ctx.binary("RealDiv", total, count, label="mean" + GUARDED_SUFFIX)
    zero = ctx.floats(0.0, "zero")
    both = ctx.op("LogicalAnd", [ctx.op("Equal", [count, zero], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                                        shape=count.shape, label="no_weight"),
                                 ctx.op("Equal", [total, zero], {"incompatible_shape_error": True}, dtype=DType.BOOL,
                                        shape=total.shape, label="no_sum")], dtype=DType.BOOL, shape=mean.shape,
                  label="zero_by_zero")
    nan = ctx.scalar_op("Mul", ctx.binary("AddV2", total, count, label="both"), np.inf, "nan_mean")  # 0 * Inf
    return ctx.op("SelectV2", [both, nan, mean], {"T": DType.FLOAT32}, dtype=DType.FLOAT32, shape=mean.shape,
                  label="mean")


def merged_mask(ctx: LayerContext, masks: Sequence[Value | None]) -> Value:
    """The mask a merge layer's output carries, as the flavour that saved the file computes it: Keras 3 ORs
    the inputs' masks (``compute_mask``), tf_keras ANDs the ones given (``all`` of them stacked)."""
    if ctx.class_name == "Concatenate":
        return _concatenated_mask(ctx, masks)
    return _chain(ctx, "LogicalOr" if ctx.keras3 else "LogicalAnd", [m for m in masks if m is not None], "out_mask")


def _chain(ctx: LayerContext, op: str, masks: Sequence[Value], label: str) -> Value:
    out = masks[0]
    for i, mask in enumerate(masks[1:]):
        out = ctx.op(op, [out, mask], dtype=DType.BOOL, shape=out.shape, label=f"{label}_{i}")
    return out


def _concatenated_mask(ctx: LayerContext, masks: Sequence[Value | None]) -> Value:
    """Keras concatenates the masks broadcast over features (all-True for an unmasked input) on the layer's axis,
    then reduces the features: ``any`` in Keras 3, ``all`` in tf_keras. Masks are ``[batch, steps]`` of rank-3
    inputs; on the steps axis that is the masks concatenated, on the features axis one OR (AND) of them."""
    shapes = [ctx.shape(x) for x in ctx.inputs]
    if any(len(s) != 3 for s in shapes) or any(m is not None and len(ctx.shape(m)) != 2 and
                                               not _per_feature(ctx, m, s) for m, s in zip(masks, shapes)):
        raise Unsupported(f"layer {ctx.name!r} (Concatenate): masks on inputs of ranks {[len(s) for s in shapes]}")
    masks = [_step_reduced(ctx, m, i) if m is not None and len(ctx.shape(m)) == 3 else m for i, m in enumerate(masks)]
    axis = int(ctx.config.get("axis", -1))
    axis = axis + 3 if axis < 0 else axis
    present = [m for m in masks if m is not None]
    if axis == 2:
        if ctx.keras3 and len(present) < len(masks):  # any() over an all-True part: every step kept
            kept = ctx.op("LogicalNot", [present[0]], dtype=DType.BOOL, shape=present[0].shape, label="out_mask_not")
            return ctx.op("LogicalOr", [present[0], kept], dtype=DType.BOOL, shape=present[0].shape,
                          label="out_mask")
        return _chain(ctx, "LogicalOr" if ctx.keras3 else "LogicalAnd", present, "out_mask")
    if axis != 1:
        raise Unsupported(f"layer {ctx.name!r} (Concatenate): masks concatenated on axis {axis}")
    parts = [m if m is not None else _all_kept(ctx, x, f"out_mask_ones_{i}") for i, (m, x) in
             enumerate(zip(masks, ctx.inputs))]
    steps = [s[1] for s in shapes]
    return ctx.op("ConcatV2", [*parts, ctx.ints(1, "out_mask_axis")], {"N": len(parts), "Tidx": DType.INT32},
                  dtype=DType.BOOL, shape=(None, None if None in steps else sum(steps)), label="out_mask")


def _per_feature(ctx: LayerContext, mask: Value, shape: tuple) -> bool:
    """A ``[batch, steps, features]`` mask of the rank-3 input of ``shape`` (a Softmax given ``mask=``), its sizes
    those of the input wherever both are known."""
    mask_shape = ctx.shape(mask)
    return len(mask_shape) == 3 and all(a is None or b is None or a == b for a, b in zip(mask_shape[1:], shape[1:]))


def _step_reduced(ctx: LayerContext, mask: Value, index: int) -> Value:
    """A per-feature mask reduced over its features as Keras reduces the concatenated masks (``any`` in Keras 3,
    ``all`` in tf_keras): reducing the concatenation equals reducing each part, a ``[batch, steps]`` mask being
    broadcast (or, in tf_keras, expanded) over the features and an unmasked input all True."""
    return ctx.op("Any" if ctx.keras3 else "All", [mask, ctx.ints(-1, f"out_mask_features_{index}")],
                  {"keep_dims": False, "Tidx": DType.INT32}, dtype=DType.BOOL, shape=tuple(ctx.shape(mask)[:2]),
                  label=f"out_mask_steps_{index}")


def _all_kept(ctx: LayerContext, x: Value, label: str) -> Value:
    """An all-True ``[batch, steps]`` mask for the rank-3 ``x`` (Keras's ``ones_like`` of an unmasked input)."""
    zeros = ctx.unary("ZerosLike", x, label=f"{label}_zeros")
    equal = ctx.op("Equal", [zeros, ctx.floats(0.0, f"{label}_zero")], {"incompatible_shape_error": True},
                   dtype=DType.BOOL, shape=x.shape, label=f"{label}_equal")
    return ctx.op("All", [equal, ctx.ints(-1, f"{label}_axis")], {"keep_dims": False, "Tidx": DType.INT32},
                  dtype=DType.BOOL, shape=tuple(ctx.shape(x)[:2]), label=label)


#: Layers that take ``mask=[query_mask, value_mask]`` as an explicit call argument the lowering reads.
EXPLICIT_MASK_LAYERS = frozenset({"Attention", "AdditiveAttention"})
#: Layers that read their mask as ``[batch, steps]`` (a mask of another rank reaching them is a gap).
STEP_MASK_READERS = _RNN | {"Bidirectional", "GlobalAveragePooling1D", "GlobalAvgPool1D"}
#: Layers that read a mask given in the call (``LSTM(x, mask=m)``; a bool model input), as the inputs' mask.
GIVEN_MASK_READERS = _RNN | {"Bidirectional", "GlobalAveragePooling1D", "Softmax"} | _CONV_LSTM


def explicit_masks(node: Any) -> list[tuple[str, int, int] | None] | None:
    """The ``mask=[...]`` list an Attention call was given (refs, None entries kept), or None without one.

    Raises ValueError for a mask argument that is not a list of model tensors and Nones."""
    if isinstance(node, list):  # Keras 2: every inbound item repeats the call's kwargs, refs as [layer, node, tensor]
        kwargs = node[0][3] if node and isinstance(node[0], list) and len(node[0]) > 3 and \
            isinstance(node[0][3], dict) else {}
        value = kwargs.get("mask")
        is_ref = lambda item: isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str)  # noqa: E731
        as_ref = lambda item: (item[0], int(item[1]), int(item[2]))  # noqa: E731
    elif isinstance(node, dict):
        value = (node.get("kwargs") or {}).get("mask")
        is_ref = lambda item: isinstance(item, dict) and item.get("class_name") == "__keras_tensor__"  # noqa: E731
        as_ref = lambda item: tuple((item.get("config") or {}).get("keras_history", ())[:3])  # noqa: E731
    else:
        return None
    if value is None:
        return None
    if not isinstance(value, list) or not all(item is None or is_ref(item) for item in value):
        raise ValueError(f"mask={value!r}"[:60])
    refs = [None if item is None else as_ref(item) for item in value]
    if any(r is not None and len(r) != 3 for r in refs):
        raise ValueError("a mask tensor without its history")
    return [None if r is None else (str(r[0]), int(r[1]), int(r[2])) for r in refs]
