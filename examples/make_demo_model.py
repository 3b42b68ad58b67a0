"""Build the demo's bundled model, ``examples/demo_cnn.keras``: a small Keras 3 image classifier.

Run once (``.venv/bin/python examples/make_demo_model.py``) and commit the file; ``make demo``
converts it and checks the result in TF.js against Keras. The weights are random (seeded), with
random BatchNorm statistics so that every layer's weights matter; nothing is downloaded.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
MODEL_PATH = HERE / "demo_cnn.keras"


def build(keras):
    """32x32 RGB -> 10 classes: conv blocks with BatchNorm, a depthwise-separable block, a residual add."""
    L = keras.layers
    image = keras.Input((32, 32, 3), name="image")
    x = L.Rescaling(1 / 127.5, offset=-1.0, name="scale")(image)
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(6.0, name="stem_relu6")(x)
    shortcut = x
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="block_dw")(x)
    x = L.BatchNormalization(name="block_dw_bn")(x)
    x = L.ReLU(6.0, name="block_dw_relu6")(x)
    x = L.Conv2D(16, 1, use_bias=False, name="block_pw")(x)
    x = L.BatchNormalization(name="block_pw_bn")(x)
    x = L.Add(name="block_add")([shortcut, x])
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="head_conv")(x)
    x = L.MaxPooling2D(name="head_pool")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.Dropout(0.2, name="dropout")(x)
    probabilities = L.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(image, probabilities, name="demo_cnn")


def randomize(model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    values = []
    for weight in model.weights:
        shape, path = tuple(weight.shape), weight.path
        if path.endswith("moving_variance"):
            values.append(rng.uniform(0.5, 2.0, shape))
        elif path.endswith("gamma"):
            values.append(1.0 + 0.2 * rng.standard_normal(shape))
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            values.append(rng.standard_normal(shape) / np.sqrt(fan_in))
    model.set_weights([v.astype("float32") for v in values])


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(0)
    model = build(keras)
    randomize(model)
    model.save(MODEL_PATH)
    print(f"wrote {MODEL_PATH} ({MODEL_PATH.stat().st_size} bytes, {model.count_params()} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
