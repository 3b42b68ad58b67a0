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
CLASS_RENAMES = {"BatchNormalizationV1": "BatchNormalization", "BatchNormalizationV2": "BatchNormalization",
                 "UnifiedGRU": "GRU", "UnifiedLSTM": "LSTM"}

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

GRAPH_MODEL_HINT = ("use --output_format=tfjs_graph_model: a graph model runs the model's own TF ops instead of "
                    "TF.js's re-implementations of Keras layers (needs TensorFlow and Keras installed)")


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


OPTION_CHECKS: dict[str, list[Callable[[dict[str, Any]], str | None]]] = {
    "Bidirectional": [_mirrored_backward_layer],
    "Dense": [_LORA, _QUANTIZED],
    "Embedding": [_LORA, _QUANTIZED],
    "Conv1D": [_GROUPS, _LORA], "Conv2D": [_GROUPS, _LORA], "Conv3D": [_GROUPS, _LORA],
    "GRU": [_RESET_AFTER], "GRUCell": [_RESET_AFTER],
    "BatchNormalization": [_truthy("renorm", "batch renormalization is not implemented in TF.js")],
    "LayerNormalization": [_truthy("rms_scaling", "RMS scaling is not implemented in TF.js")],
    "ReLU": [_truthy("negative_slope", "TF.js's ReLU layer only has max_value"),
             _truthy("threshold", "TF.js's ReLU layer only has max_value")],
    "InputLayer": [_truthy("sparse", "TF.js has no sparse inputs"), _truthy("ragged", "TF.js has no ragged inputs")],
    **{name: [_KEEPDIMS] for name in ("GlobalAveragePooling1D", "GlobalAveragePooling2D",
                                     "GlobalMaxPooling1D", "GlobalMaxPooling2D")},
}
#: Keras dtype policy classes that only name a dtype (quantized policies change the weights).
DTYPE_POLICY_CLASSES = frozenset({"DTypePolicy", "Policy", "FloatDTypePolicy"})
#: Config keys that hold an activation identifier.
ACTIVATION_KEYS = ("activation", "recurrent_activation")


def option_problems(class_name: str, config: dict[str, Any], *, keras3: bool) -> list[str]:
    """Options of one layer that TF.js 4.22 would ignore, reject or compute differently."""
    problems = [p for check in OPTION_CHECKS.get(class_name, []) if (p := check(config))]
    dtype = config.get("dtype")
    if isinstance(dtype, dict) and dtype.get("class_name") not in DTYPE_POLICY_CLASSES:
        problems.append(f"dtype policy {dtype.get('class_name')!r}: TF.js layers only compute in plain dtypes")
    for key in ACTIVATION_KEYS:
        if key not in config or config[key] is None:
            continue
        name = activation_name(config[key])
        why = tfjs_activation(name, keras3=keras3)[1] if name else f"{config[key]!r} is not a Keras activation"
        if why:
            problems.append(f"{key}: {why}")
    return problems


def activation_name(value: Any) -> str | None:
    """The Keras name of a built-in activation, whether saved as a string or as a function object."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("class_name") == "function" and isinstance(value.get("config"), str):
        return value["config"]
    return None
