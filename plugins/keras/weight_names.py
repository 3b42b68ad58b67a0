"""The names TF.js gives each layer's weights, in the order Keras 3 stores them.

TF.js matches weights by ``<layer name>/<weight name>`` (``LayerVariable.originalName``; for RNNs
it also accepts ``<layer>/<cell>/<weight>``). Wrappers add a level: ``bidi/forward_lstm/kernel``
for Bidirectional, but nothing for TimeDistributed (``td/kernel``). Keras 3 files do not carry those names: ``.keras``
archives number the variables (``layers/dense/vars/0``) and Keras 3 ``.h5`` files name them by
variable path (``sequential/dense/kernel``, ``depthwise_conv2d/kernel``). Both store a layer's
trainable variables first, then the non-trainable ones, each in creation order, which is the
order listed here.
"""
from __future__ import annotations

from typing import Any

from .configs import bidirectional_base_name, is_layer_entry
from .tfjs_support import CLASS_RENAMES

_CONV = ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose", "Dense")
_RNN = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM2D", "LSTMCell", "GRUCell", "SimpleRNNCell", "ConvLSTM2DCell")
WRAPPERS = ("Bidirectional", "TimeDistributed")
#: Keras 3 variable names that TF.js knows under another name, per layer class.
KERAS3_ALIASES = {"DepthwiseConv2D": {"kernel": "depthwise_kernel"}}


def tfjs_weight_names(class_name: str, config: dict[str, Any]) -> list[str] | None:
    """The TF.js weight names (without the layer prefix) of one layer, or None for an unknown class."""
    bias = ["bias"] if config.get("use_bias", True) else []
    if class_name in _CONV:
        return ["kernel", *bias]
    if class_name == "DepthwiseConv2D":
        return ["depthwise_kernel", *bias]
    if class_name == "SeparableConv2D":
        return ["depthwise_kernel", "pointwise_kernel", *bias]
    if class_name in _RNN:
        return ["kernel", "recurrent_kernel", *bias]
    if class_name in ("BatchNormalization", "LayerNormalization"):
        names = (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])
        return names + (["moving_mean", "moving_variance"] if class_name == "BatchNormalization" else [])
    if class_name == "Embedding":
        return ["embeddings"]
    if class_name == "PReLU":
        return ["alpha"]
    return None


def keras3_basename(class_name: str, variable_name: str) -> str:
    """The TF.js name of a Keras 3 variable named ``variable_name`` (its last path component)."""
    base = variable_name.rsplit("/", 1)[-1]
    return KERAS3_ALIASES.get(class_name, {}).get(base, base)


def layer_weight_names(entry: dict[str, Any]) -> list[str] | None:
    """TF.js weight names relative to the layer (``kernel``, ``forward_lstm/kernel``), wrappers included."""
    cls, config = entry.get("class_name"), entry.get("config") or {}
    inner = config.get("layer")
    if cls in WRAPPERS:
        names = layer_weight_names(inner) if is_layer_entry(inner) else None
        if names is None or cls == "TimeDistributed":
            return names
        base = bidirectional_base_name(config)
        return [f"forward_{base}/{n}" for n in names] + [f"backward_{base}/{n}" for n in names]
    return tfjs_weight_names(CLASS_RENAMES.get(str(cls), str(cls)), config)  # SyncBatchNormalization: BN's


def innermost_class(entry: dict[str, Any]) -> str:
    """The class of the layer a wrapper finally wraps (whose Keras 3 variable names apply)."""
    inner = (entry.get("config") or {}).get("layer")
    if entry.get("class_name") in WRAPPERS and is_layer_entry(inner):
        return innermost_class(inner)
    return str(entry.get("class_name"))
