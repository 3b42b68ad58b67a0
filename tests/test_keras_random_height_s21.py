"""tf_keras's ``RandomHeight`` converts: a built-in layer, the identity at inference (session 21).

The code check (``plugins/keras/checks.py``) refused a legacy ``.h5`` holding it as "a layer class 'RandomHeight'
that Keras does not have (a custom layer?)", on both paths, because it knew only TF.js's classes and TF.js's gaps;
the lowering had no entry for it either (``RandomWidth`` beside it had both). Expected values: tf_keras
``model(x, training=False)``; the lowering runs with TensorFlow, Keras and tf_keras poisoned, in TF.js cpu and wasm.
A class name Keras does not have is still refused as custom code.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keras_two_sizes import converted_fixture, each_case, normal_inputs_at, two_size_saver, verify_runs

pytest.importorskip("tf_keras")


def _random_height(k: Any) -> Any:
    x = k.Input((6, 8, 3), name="x")
    y = k.layers.RandomHeight(0.3)(x)
    return k.Model(x, k.layers.Conv2D(4, 3)(y))


def _both_random_sizes(k: Any) -> Any:
    x = k.Input((None, None, 3), name="x")
    y = k.layers.RandomWidth((-0.2, 0.4))(k.layers.RandomHeight((-0.2, 0.4), interpolation="nearest")(x))
    return k.Model(x, k.layers.Dense(2)(y))


FAMILIES = {"random_height": _random_height, "both_random_sizes": _both_random_sizes}
CASES = [("random_height", "tf_keras.h5"), ("random_height", "tf_keras.keras"), ("both_random_sizes", "tf_keras.h5")]
SIZES = {"random_height": [[(2, 6, 8, 3)], [(3, 6, 8, 3)]],
         "both_random_sizes": [[(2, 5, 7, 3)], [(1, 9, 4, 3)]]}

converted = converted_fixture("random_height", CASES, two_size_saver(FAMILIES, normal_inputs_at(SIZES), seed=8))


@pytest.mark.node
@each_case(CASES)
def test_random_height_is_the_identity_at_inference(converted: dict, tfjs_runtime: Path, family: str,
                                                     flavor: str) -> None:
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_an_unknown_class_name_is_still_refused_as_custom_code(converted: dict, tmp_path: Path) -> None:
    import h5py

    import tfjsconv
    from tfjsconv.errors import UnsafeInputError

    path, _, _ = converted[("random_height", "tf_keras.h5")]
    copy = tmp_path / "renamed.h5"
    copy.write_bytes(path.read_bytes())
    with h5py.File(copy, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layer = next(entry for entry in config["config"]["layers"] if entry["class_name"] == "RandomHeight")
        layer["class_name"] = "RandomHeights"
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(UnsafeInputError, match="'RandomHeights' that Keras does not have"):
        tfjsconv.convert(copy, tmp_path / "out", output_format="tfjs_graph_model")
