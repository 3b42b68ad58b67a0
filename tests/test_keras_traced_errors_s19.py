"""``--loader=tensorflow``: a model whose own Keras call fails while TensorFlow traces it over an unknown batch is a
one-line refusal (exit 2), not "an unexpected error ... a bug in tfjsconv" (exit 1) (session 19, helper H2's probe:
10 Keras 3 op layers, ``corrcoef`` and ``isin`` among them, whose calls branch on a tensor). The same file converts
through the default lowering, which does not trace it, and matches Keras in TF.js.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from test_keras_lowering import _verify  # noqa: E402


def test_a_model_keras_cannot_trace_is_refused_in_one_line_and_the_lowering_converts_it(tmp_path, tfjs_runtime):
    x = keras.Input((4,), name="x", dtype="int32")
    model = keras.Model(x, keras.ops.isin(x, [0, 1, 3, 100]))
    path = tmp_path / "isin.keras"
    model.save(path)
    traced = subprocess.run([sys.executable, "-m", "tfjsconv", "convert", str(path), str(tmp_path / "traced"),
                             "--output_format=tfjs_graph_model", "--loader=tensorflow"], capture_output=True, text=True)
    assert traced.returncode == 2, traced.stderr[-2000:]
    assert "Keras's call of the model fails when TensorFlow traces it with an unknown batch size" in traced.stderr
    assert "bug in tfjsconv" not in traced.stderr
    assert not Path(tmp_path / "traced").exists()

    lowered = subprocess.run([sys.executable, "-m", "tfjsconv", "convert", str(path), str(tmp_path / "lowered"),
                              "--output_format=tfjs_graph_model"], capture_output=True, text=True)
    assert lowered.returncode == 0, lowered.stderr[-2000:]
    data = np.random.default_rng(196).integers(-2, 5, (3, 4)).astype("int32")
    _verify(tmp_path / "lowered", {"x": data}, [np.asarray(model(data))])
