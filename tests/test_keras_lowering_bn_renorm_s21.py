"""BatchNormalization(renorm=True) through the lowering (session 21; the lowering refused it, the traced path
converted it: helper H1's layer-option probe).

Batch renormalization changes training only: its ``r``/``d`` corrections and the weights it adds after the moving
statistics (``moving_stddev``, ``renorm_mean``, ``renorm_stddev``, in Keras 3 and tf_keras alike) are not read at
inference, where the layer normalizes with ``moving_mean`` and ``moving_variance``. The weights are randomized, so
``moving_stddev`` disagrees with ``sqrt(moving_variance)``: reading the wrong one would show. Against ``model(x)``
in TF.js cpu and wasm, with TensorFlow, Keras and tf_keras poisoned.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")

from keras_models import keras_module, randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, convert_poisoned  # noqa: E402


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["tf_keras.h5", "keras3.keras"])
def test_renorm_batch_normalization_reads_the_moving_statistics(tmp_path, tfjs_runtime, flavor):
    k, suffix = keras_module(flavor), flavor.split(".")[1]
    x = k.Input((5, 4), name="x")
    outputs = [k.layers.BatchNormalization(renorm=True, **options)(x)
               for options in ({}, {"center": False}, {"scale": False}, {"axis": 1, "renorm_clipping": {"rmax": 2.0}})]
    model = k.Model(x, outputs)
    randomize(model, 21)
    for layer in model.layers[1:]:  # positive variances, a moving_stddev far from their square root
        weights = layer.get_weights()
        count = len(weights) - 5
        weights[count + 1] = np.abs(weights[count + 1]) + 0.5
        weights[count + 2] = weights[count + 1] * 7.0
        layer.set_weights(weights)
    inputs = {"x": np.random.default_rng(2).standard_normal((3, 5, 4)).astype(np.float32)}
    path, inputs, outputs = save_with_outputs(model, inputs, tmp_path / f"bn.{suffix}")
    convert_poisoned([path])
    _verify(Path(f"{path}.out"), inputs, outputs)
