"""What TF.js 4.22's layers API can load, so that unsupported models fail at conversion, not in the browser.

The class and activation lists were read from the ``@tensorflow/tfjs`` 4.22 runtime itself
(``tf.serialization.SerializationMap.getMap().classNameMap``); ``tests/test_keras.py`` re-checks
them against the installed runtime. The option checks name the Keras options TF.js ignores or
rejects, each of which would otherwise give wrong numbers or an obscure loader error.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .configs import plain

#: Layer classes ``tf.loadLayersModel`` can deserialize (models included).
TFJS_LAYER_CLASSES = frozenset("""
Activation Add AlphaDropout Average AveragePooling1D AveragePooling2D AveragePooling3D BatchNormalization
Bidirectional CategoryEncoding CenterCrop Concatenate Conv1D Conv2D Conv2DTranspose Conv3D Conv3DTranspose
ConvLSTM2D ConvLSTM2DCell Cropping2D Dense DepthwiseConv2D Dot Dropout ELU Embedding Flatten Functional GRU
GRUCell GaussianDropout GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D GlobalMaxPooling1D
GlobalMaxPooling2D InputLayer LSTM LSTMCell LayerNormalization LeakyReLU Masking MaxPooling1D MaxPooling2D
MaxPooling3D Maximum Minimum Model Multiply PReLU Permute RNN RandomWidth ReLU RepeatVector Rescaling Reshape
Resizing SeparableConv2D Sequential SimpleRNN SimpleRNNCell Softmax SpatialDropout1D StackedRNNCells
ThresholdedReLU TimeDistributed UpSampling2D ZeroPadding2D
""".split())

#: Initializer classes TF.js registers, keyed by the Keras class name that maps to each.
TFJS_INITIALIZERS = {
    **{name: name for name in "Constant GlorotNormal GlorotUniform HeNormal HeUniform Identity Ones Orthogonal "
                               "RandomNormal RandomUniform TruncatedNormal VarianceScaling Zeros".split()},
    "LecunNormal": "LeCunNormal", "LecunUniform": "LeCunUniform",
    "LeCunNormal": "LeCunNormal", "LeCunUniform": "LeCunUniform",
}
TFJS_CONSTRAINTS = frozenset("MaxNorm MinMaxNorm NonNeg UnitNorm".split())

#: Activation identifiers TF.js accepts (Keras snake_case; TF.js camel-cases them when loading).
TFJS_ACTIVATIONS = frozenset("elu selu relu relu6 linear sigmoid hard_sigmoid softplus softsign tanh softmax "
                             "log_softmax gelu mish swish".split())
#: Keras spellings of a TF.js activation under another name (Keras 3 saves ``swish`` as ``silu``).
ACTIVATION_ALIASES = {"silu": "swish"}
#: Activations whose Keras 3 definition differs from TF.js's (and Keras 2's) one of the same name.
KERAS3_CHANGED_ACTIVATIONS = {
    "hard_sigmoid": "Keras 3 computes relu6(x + 3) / 6, TF.js computes clip(0.2 * x + 0.5, 0, 1)",
}

#: Class names older Keras versions wrote for layers TF.js knows under their current name.
#: tf_keras's deprecated ``experimental.SyncBatchNormalization`` computes as BatchNormalization at inference (moving
#: statistics; same config keys and weights); its training statistics differ (refused: ``batch_norm_training``).
CLASS_RENAMES = {"BatchNormalizationV1": "BatchNormalization", "BatchNormalizationV2": "BatchNormalization",
                 "SyncBatchNormalization": "BatchNormalization", "UnifiedGRU": "GRU", "UnifiedLSTM": "LSTM"}
#: tf_keras-only classes of that list that Keras 3 has no class for: a Keras 3 file naming one was edited by hand,
#: and Keras 3 refuses to load it (so nothing says what it computes).
TF_KERAS_ONLY_CLASSES = frozenset({"SyncBatchNormalization"})

#: Keras built-in layers TF.js 4.22 lacks (legacy .h5 configs carry no ``module`` to tell built-ins
#: from custom classes, so these are listed; anything neither here nor in TF.js is treated as custom).
KERAS_LAYERS_MISSING_IN_TFJS = frozenset("""
ActivityRegularization AdditiveAttention Attention AutoContrast CategoryCrossing Conv1DTranspose ConvLSTM1D
ConvLSTM3D Cropping1D Cropping3D DenseFeatures DepthwiseConv1D Discretization EinsumDense Equalization
GlobalAveragePooling3D GlobalMaxPooling3D GroupNormalization GroupQueryAttention Hashing HashedCrossing Identity
IntegerLookup Lambda LocallyConnected1D LocallyConnected2D MaxNumBoundingBoxes MelSpectrogram MixUp
MultiHeadAttention Normalization Pipeline RandAugment RandomBrightness RandomColorDegeneration
RandomColorJitter RandomContrast RandomCrop RandomElasticTransform RandomErasing RandomFlip RandomGaussianBlur
RandomGrayscale RandomHue RandomInvert RandomPerspective RandomPosterization RandomRotation RandomSaturation
RandomSharpness RandomShear RandomTranslation RandomZoom ReversibleEmbedding SeparableConv1D Solarization
SpatialDropout2D SpatialDropout3D SpectralNormalization STFTSpectrogram StringLookup Subtract TextVectorization
TFOpLambda SlicingOpLambda TorchModuleWrapper UnitNormalization UpSampling1D UpSampling3D Wrapper ZeroPadding1D
ZeroPadding3D
""".split())

GRAPH_MODEL_HINT = ("use --output_format=tfjs_graph_model: a graph model runs TF ops lowered from the model config "
                    "with h5py alone (no TensorFlow or Keras needed) instead of TF.js's re-implementations of Keras "
                    "layers; a layer the lowering does not cover is named, and then needs --loader=tensorflow")


def tfjs_activation(name: str, *, keras3: bool) -> tuple[str | None, str | None]:
    """``(tfjs_name, None)`` for an activation TF.js computes the same way, else ``(None, why_not)``."""
    name = ACTIVATION_ALIASES.get(name, name)
    if keras3 and name in KERAS3_CHANGED_ACTIVATIONS:
        return None, f"activation {name!r}: {KERAS3_CHANGED_ACTIVATIONS[name]}"
    if name in TFJS_ACTIVATIONS:
        return name, None
    return None, f"activation {name!r} does not exist in TF.js"


def _truthy(key: str, why: str) -> Callable[[dict[str, Any]], str | None]:
    return lambda config: f"{key}={config[key]!r}: {why}" if config.get(key) else None


def _not_one(key: str, why: str) -> Callable[[dict[str, Any]], str | None]:
    return lambda config: f"{key}={config[key]!r}: {why}" if config.get(key, 1) not in (1, None) else None


_LORA = _truthy("lora_rank", "LoRA weights are not part of TF.js layers")
_QUANTIZED = _truthy("quantization_config", "Keras-quantized layers do not exist in TF.js")
_KEEPDIMS = _truthy("keepdims", "TF.js global pooling layers always drop the pooled axes")
_GROUPS = _not_one("groups", "TF.js convolutions have no grouped mode")
_RESET_AFTER = _truthy("reset_after", "TF.js's GRU only implements reset_after=False "
                                      "(reset_after=True is the Keras default)")

def _mirrored_backward_layer(config: dict[str, Any]) -> str | None:
    """TF.js's Bidirectional always mirrors the forward layer; a different backward layer would be lost."""
    forward, backward = config.get("layer"), config.get("backward_layer")
    if not isinstance(forward, dict) or not isinstance(backward, dict):
        return None

    def essence(entry: dict[str, Any]) -> Any:
        layer_config = {k: v for k, v in (entry.get("config") or {}).items() if k not in ("name", "go_backwards")}
        return entry.get("class_name"), plain(layer_config)

    if essence(forward) != essence(backward):
        return "backward_layer: differs from the forward layer, but TF.js always mirrors the forward layer"
    return None


def stacked_cell_list(rnn_config: dict[str, Any]) -> list[Any] | None:
    """The cells of an RNN config whose cell is a StackedRNNCells (``RNN([cell, cell])``), else None."""
    cell = rnn_config.get("cell")
    if not isinstance(cell, dict) or cell.get("class_name") != "StackedRNNCells":
        return None
    cells = (cell.get("config") or {}).get("cells")
    return cells if isinstance(cells, list) else None


def _stacked_state_order(config: dict[str, Any]) -> str | None:
    """TF.js's StackedRNNCells keeps the cells' states last cell first (``[h2, c2, h1, c1]``), Keras first cell
    first: returned states come in another order (measured TF.js 4.22: another output, silently)."""
    cells = stacked_cell_list(config) or []
    return f"return_state over {len(cells)} stacked cells: TF.js returns their states last cell first, Keras " \
        "first cell first" if len(cells) > 1 and config.get("return_state") else None


def _wrapped_stacked_cells(config: dict[str, Any]) -> str | None:
    """TF.js 4.22's Bidirectional rebuilds its layer from ``getConfig``, which an RNN over StackedRNNCells does not
    survive: loading fails ("Improper config format", measured)."""
    layer = config.get("layer")
    stacked = isinstance(layer, dict) and stacked_cell_list(layer.get("config") or {}) is not None
    return "an RNN over stacked cells: TF.js 4.22's Bidirectional cannot rebuild it (fails loading)" \
        if stacked else None


def _equals(key: str, default: Any, allowed: tuple[Any, ...], why: str) -> Callable[[dict[str, Any]], str | None]:
    """A problem when ``config[key]`` (``default`` when absent) is not one of ``allowed``."""
    def check(config: dict[str, Any]) -> str | None:
        value = config.get(key, default)
        value = value[0] if isinstance(value, list) and len(value) == 1 else value
        return None if value in allowed else f"{key}={config.get(key, default)!r}: {why}"
    return check


def _negative_cap(config: dict[str, Any]) -> str | None:
    """Keras 3's ``activations.relu`` operation takes a negative cap (and returns it); TF.js's ReLU layer clips to
    ``[0, max_value]`` and fails at run time (measured, TF.js 4.22)."""
    cap = config.get("max_value")
    return f"max_value={cap!r}: TF.js's ReLU layer fails on a negative cap" if isinstance(cap, (int, float)) \
        and cap < 0 else None


def _always(why: str) -> Callable[[dict[str, Any]], str | None]:
    return lambda config: why


def _spatial_ones(key: str, why: str) -> Callable[[dict[str, Any]], str | None]:
    def check(config: dict[str, Any]) -> str | None:
        value = config.get(key)
        values = value if isinstance(value, (list, tuple)) else [value]
        return None if all(v in (1, None) for v in values) else f"{key}={value!r}: {why}"
    return check


# Found by differential tests against Keras in TF.js 4.22 (tests/test_silent_wrong.py): each of these
# loaded and computed something else, or loaded and then failed at run time.
_BILINEAR_UPSAMPLING = _equals("interpolation", "nearest", ("nearest",),
                               "Keras resizes with half-pixel centers, TF.js's UpSampling2D without "
                               "(outputs off by tens of percent)")
_CONV_TRANSPOSE = [_truthy("output_padding", "TF.js's transposed convolutions ignore output_padding (wrong shape)"),
                   _spatial_ones("dilation_rate", "TF.js's transposed convolutions ignore dilation_rate (wrong shape)")]
_NOT_LAST_AXIS = "TF.js computes it along the last axis only"
#: TF.js 4.22's 1-D pooling layers take no data_format: they pool the steps axis of a channels-last input (measured
#: session 31: channels_first AveragePooling1D / MaxPooling1D / GlobalAveragePooling1D / GlobalMaxPooling1D loaded
#: and gave outputs of another shape, silently).
_POOL1D_CHANNELS_LAST = _equals("data_format", "channels_last", ("channels_last", None),
                                "TF.js's 1-D pooling layers ignore it and pool the steps axis (another result)")


def _input_rank(config: dict[str, Any]) -> int | None:
    """The layer's input rank when the file records it (``build_config`` of .keras files, a batch shape)."""
    build = config.get("build_config")
    shape = (build.get("input_shape") if isinstance(build, dict) else None) or config.get("batch_input_shape") \
        or config.get("batch_shape")
    return len(shape) if isinstance(shape, list) and not any(isinstance(d, list) for d in shape) else None


def _flatten_rank(config: dict[str, Any]) -> str | None:
    rank = _input_rank(config)
    return "a rank-2 input: TF.js's Flatten refuses inputs of rank < 3 when loading" if rank == 2 else None


def _batchnorm_axis(config: dict[str, Any]) -> str | None:
    """BatchNormalization off the last axis (e.g. channels-first) is wrong in TF.js's layer.

    tf_keras saves the axis as a positive index (``[3]`` for the last of four), so the input rank is
    needed: from ``build_config`` (``.keras`` files, or the shapes :mod:`.shape_flow` carries through
    legacy ``.h5`` configs) or the layer's own batch shape. When no rank can be told, any axis but
    ``-1`` is refused: it cannot be shown to be the last one.
    """
    axis = config.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if axis == -1:
        return None
    rank = _input_rank(config)
    if not isinstance(axis, int):
        return f"axis={config.get('axis')!r}: {_NOT_LAST_AXIS}"
    if rank is None:
        return (f"axis={config.get('axis')!r} on an input whose rank the file does not tell: "
                f"{_NOT_LAST_AXIS}, and this axis cannot be shown to be the last")
    if -rank <= axis < rank and axis % rank == rank - 1:
        return None
    return f"axis={config.get('axis')!r} on a rank-{rank} input: TF.js normalizes it wrongly ({_NOT_LAST_AXIS})"

#: Classes whose checks need the layer's input rank (see ``_input_rank``).
RANK_DEPENDENT_CLASSES = frozenset({"BatchNormalization", "Flatten"})

OPTION_CHECKS: dict[str, list[Callable[[dict[str, Any]], str | None]]] = {
    "UpSampling2D": [_BILINEAR_UPSAMPLING],
    "Conv2DTranspose": _CONV_TRANSPOSE, "Conv3DTranspose": _CONV_TRANSPOSE,
    "Conv1D": [_GROUPS, _LORA, _equals("padding", "valid", ("valid", "same"),
                                       "TF.js's Conv1D fails at run time with causal padding"),
               _equals("data_format", "channels_last", ("channels_last", None),
                       "TF.js's Conv1D ignores it (channels-last output: wrong shape)")],
    "DepthwiseConv2D": [_spatial_ones("dilation_rate", "TF.js's DepthwiseConv2D layer computes it wrongly "
                                                       "(off by more than the output's range)")],
    "SeparableConv2D": [_equals("data_format", "channels_last", ("channels_last", None),
                                "TF.js's SeparableConv2D fails at run time (its bias is added channels-last)")],
    "Softmax": [_equals("axis", -1, (-1,), "TF.js's Softmax layer fails at run time on any axis but the last")],
    "ELU": [_equals("alpha", 1.0, (1.0,), "TF.js's ELU layer refuses alpha other than 1 when loading")],
    "Flatten": [_flatten_rank],
    "Resizing": [_always("TF.js 4.22's Resizing layer fails at run time ('x must be rank 3 or 4, but got rank 1')")],
    "CenterCrop": [_always("TF.js 4.22's CenterCrop layer rejects its own input shape at run time")],
    "CategoryEncoding": [_always("TF.js 4.22's CategoryEncoding layer overwrites its input's shape with its output's "
                                 "when the model is built, so TF.js rejects the real input at predict")],
    "Bidirectional": [_mirrored_backward_layer, _wrapped_stacked_cells],
    "RNN": [_stacked_state_order],
    "Dense": [_LORA, _QUANTIZED],
    "Embedding": [_LORA, _QUANTIZED],
    "Conv2D": [_GROUPS, _LORA], "Conv3D": [_GROUPS, _LORA],
    "GRU": [_RESET_AFTER], "GRUCell": [_RESET_AFTER],
    "BatchNormalization": [_truthy("renorm", "batch renormalization is not implemented in TF.js"),
                           _batchnorm_axis],
    "LayerNormalization": [_truthy("rms_scaling", "RMS scaling is not implemented in TF.js")],
    "ReLU": [_truthy("negative_slope", "TF.js's ReLU layer only has max_value"),
             _truthy("threshold", "TF.js's ReLU layer only has max_value"), _negative_cap],
    "InputLayer": [_truthy("sparse", "TF.js has no sparse inputs"), _truthy("ragged", "TF.js has no ragged inputs")],
    **{name: [_KEEPDIMS] for name in ("GlobalAveragePooling2D", "GlobalMaxPooling2D")},
    **{name: [_KEEPDIMS, _POOL1D_CHANNELS_LAST] for name in ("GlobalAveragePooling1D", "GlobalMaxPooling1D")},
    **{name: [_POOL1D_CHANNELS_LAST] for name in ("AveragePooling1D", "MaxPooling1D")},
}
#: Keras dtype policy classes that only name a dtype (quantized policies change the weights).
DTYPE_POLICY_CLASSES = frozenset({"DTypePolicy", "Policy", "FloatDTypePolicy"})
#: Dtypes and policies under which Keras computes (or an Input holds) 16-bit floats, by the width Keras rounds to.
HALF_DTYPE_NAMES = {"float16": "float16", "mixed_float16": "float16", "bfloat16": "bfloat16",
                    "mixed_bfloat16": "bfloat16"}
#: Config keys that hold an activation identifier.
ACTIVATION_KEYS = ("activation", "recurrent_activation")


def option_problems(class_name: str, config: dict[str, Any], *, keras3: bool) -> list[str]:
    """Options of one layer that TF.js 4.22 would ignore, reject or compute differently."""
    problems = [p for check in OPTION_CHECKS.get(class_name, []) if (p := check(config))]
    dtype = config.get("dtype")
    if isinstance(dtype, dict) and dtype.get("class_name") not in DTYPE_POLICY_CLASSES:
        problems.append(f"dtype policy {dtype.get('class_name')!r}: TF.js layers only compute in plain dtypes")
    elif (half := half_dtype_problem(dtype)) is not None:
        problems.append(half)
    for key in ACTIVATION_KEYS:
        if key not in config or config[key] is None:
            continue
        name = activation_name(config[key])
        why = tfjs_activation(name, keras3=keras3)[1] if name else f"{config[key]!r} is not a Keras activation"
        if why:
            problems.append(f"{key}: {why}")
    return problems


def half_dtype_problem(dtype: Any) -> str | None:
    """Keras rounds a float16 layer's (or float16 Input's) values to float16; TF.js layers models have no float16
    and compute them in float32 unrounded (measured session 30: 3e-5..5e-4 of the output range off, and a value past
    65504 stays finite where Keras gives inf; a mixed_bfloat16 Dense 5.9e-3), so the layers path names them (the graph
    path emulates float16 and refuses bfloat16)."""
    name = (dtype.get("config") or {}).get("name") if isinstance(dtype, dict) else dtype
    width = HALF_DTYPE_NAMES.get(name) if isinstance(name, str) else None
    if width is None:
        return None
    graph = "a graph model rounds them as Keras does" if width == "float16" else "graph models refuse bfloat16 too"
    return f"dtype {name!r}: Keras rounds its values to {width}, TF.js layers compute them in float32 unrounded ({graph})"


def activation_name(value: Any) -> str | None:
    """The Keras name of a built-in activation, whether saved as a string or as a function object."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("class_name") == "function" and isinstance(value.get("config"), str):
        return value["config"]
    return None
