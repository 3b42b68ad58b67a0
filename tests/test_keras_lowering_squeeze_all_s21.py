"""``squeeze`` without axes of a tensor whose sizes are known only at run time (tf_keras ``tf.squeeze(first(x, 0))``,
Keras 3 ``ops.squeeze(x)``).

Which axes are of size 1, and so the result's rank, is known only at run time: TF's Squeeze without axes drops every
size-1 axis then, and TF.js's does alike, so the lowering emits that Squeeze with the rank left unknown (it refused
the model before). A layer that needs the rank after it is refused by name, never guessed. Run at batch 1 (the batch
axis goes too) and 3, against Keras's ``model(x)``, in TF.js cpu and wasm.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("h5py")
tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from test_keras_lowering import _verify  # noqa: E402
from tfjsconv.errors import UsageError  # noqa: E402


def _model(flavor: str):
    if flavor == "keras3":
        import keras as k

        squeeze, expand = k.ops.squeeze, k.ops.expand_dims
        first = k.ops.expand_dims  # Keras 3 tensors take no slice key: ``x[None]`` has an unknown axis too
    else:
        import tf_keras as k

        squeeze, expand = tf.squeeze, tf.expand_dims

        def first(x, _):
            return x[:1]  # min(1, batch): 1 at run time, unknown in the config
    x = k.Input((4,), name="x")
    seq = k.Input((None, 1), name="seq")
    return k.Model([x, seq], [squeeze(x), squeeze(first(x, 0)), squeeze(expand(x, 1) * 2.0), squeeze(seq) + 1.0])


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3", "tf_keras"])
def test_squeeze_of_every_size_one_axis_is_decided_at_run_time(tmp_path, tfjs_runtime, flavor):
    if flavor == "tf_keras":
        pytest.importorskip("tf_keras")
    model = _model(flavor)
    path = tmp_path / ("m.keras" if flavor == "keras3" else "m.h5")
    model.save(path)
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    squeezes = [n for n in json.loads((tmp_path / "out" / "model.json").read_text())["modelTopology"]["node"]
                if n["op"] == "Squeeze"]
    assert squeezes and all(not n.get("attr", {}).get("squeeze_dims", {}).get("list", {}).get("i")
                            for n in squeezes), squeezes
    rng = np.random.default_rng(5)
    for batch, steps in ((1, 5), (3, 1), (2, 1)):
        inputs = {"x": rng.standard_normal((batch, 4)).astype(np.float32),
                  "seq": rng.standard_normal((batch, steps, 1)).astype(np.float32)}
        expected = [np.asarray(y) for y in model([inputs["x"], inputs["seq"]])]
        assert expected[0].shape == ((4,) if batch == 1 else (batch, 4))  # the rank follows the run's batch
        _verify(tmp_path / "out", inputs, expected)


def test_a_layer_that_needs_the_rank_after_it_is_refused(tmp_path):
    import keras as k

    x = k.Input((4,), name="x")
    model = k.Model(x, k.layers.Dense(3)(k.ops.squeeze(x)))
    model.save(tmp_path / "m.keras")
    with pytest.raises(UsageError, match="rank unknown"):
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert not (tmp_path / "out").exists()
