"""What Keras itself has: its layer classes and activation functions (Keras 3 and tf_keras together).

A layer or activation the lowering does not cover normally goes to the TensorFlow path; but a name
Keras does not have at all cannot load there either: the config is corrupt or hostile, so it is
refused at once, by name. ``tests/test_keras_lowering_structure.py`` checks these lists against the
installed Keras versions.
"""
from __future__ import annotations

from typing import Any

from ..configs import MODEL_CLASSES
from ..op_calls import is_op_layer
from ..tfjs_support import CLASS_RENAMES, KERAS_LAYERS_MISSING_IN_TFJS, TFJS_LAYER_CLASSES, activation_name

#: Every built-in activation function name (Keras 3's, tf_keras's, and their aliases).
KERAS_ACTIVATIONS = frozenset("""
celu elu exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh leaky_relu linear log_sigmoid
log_softmax mish relu relu6 selu sigmoid silu soft_shrink softmax softplus softsign sparse_plus sparse_sigmoid
sparsemax squareplus swish tanh tanh_shrink threshold
""".split())
#: Built-in layer classes that neither TF.js's list nor the list of its gaps names.
_OTHER_KERAS_LAYERS = frozenset("""
InputLayer Layer TFSMLayer FlaxLayer JaxLayer AdaptiveAveragePooling1D AdaptiveAveragePooling2D
AdaptiveAveragePooling3D AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D AugMix CutMix
ContrastLimitedAdaptiveHistogramEqualization RandomHeight AbstractRNNCell
LayerScale
""".split())  # LayerScale: ConvNeXt's (keras.applications; lowered in core.py)


def is_keras_layer_class(class_name: str, lowerings: dict[str, Any]) -> bool:
    return (class_name in lowerings or class_name in TFJS_LAYER_CLASSES or class_name in CLASS_RENAMES
            or class_name in KERAS_LAYERS_MISSING_IN_TFJS or class_name in MODEL_CLASSES
            or class_name in _OTHER_KERAS_LAYERS or is_op_layer(class_name))


def unknown_activations(config: dict[str, Any]) -> list[str]:
    """The activation names in a layer config that are no Keras activation function."""
    found = []
    for key in ("activation", "recurrent_activation"):
        name = activation_name(config.get(key)) if isinstance(config.get(key), str) else None
        if name is not None and name not in KERAS_ACTIVATIONS:
            found.append(f"{key} {name!r}")
    return found
