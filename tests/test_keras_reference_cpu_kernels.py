"""Keras's reference outputs on any x86 CPU: channels_first and dilated transposed convolutions included.

Without oneDNN (TensorFlow enables it by itself only on some Intel CPUs) TensorFlow's CPU kernels refuse NCHW
convolutions and dilated transposed ones, so ``tfjsconv verify`` could not compute such a Keras model's outputs on
an AMD machine. ``import_keras`` asks for oneDNN before TensorFlow loads; the check runs in a fresh process
without the variable the test session sets (``conftest.py``).
"""
from __future__ import annotations

import os
import subprocess
import sys

CODE = r"""
import os
import numpy as np
from tfjsconv.plugins.keras.reference import import_keras

keras = import_keras(True)
assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
x = keras.Input((3, 9, 9))
y = keras.layers.Conv2D(4, 3, data_format="channels_first")(x)
y = keras.layers.MaxPooling2D(data_format="channels_first")(y)
z = keras.layers.Conv2DTranspose(2, 3, dilation_rate=2, data_format="channels_first")(y)
model = keras.Model(x, [y, z])
out = model(np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype("float32"), training=False)
print([tuple(o.shape) for o in out])
"""


def test_keras_computes_channels_first_and_dilated_transposed_convolutions_without_the_variable_set():
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[(2, 4, 3, 3), (2, 2, 7, 7)]" in done.stdout


def test_a_users_own_setting_wins():
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = ("import os\nfrom tfjsconv.plugins.keras.reference import import_keras\nimport_keras(True)\n"
            "print(os.environ['TF_ENABLE_ONEDNN_OPTS'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0"
