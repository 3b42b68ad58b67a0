"""CenterCrop and Resizing over unknown sizes, continued (tests/test_keras_lowering_k22_runtime_crop.py has the
main family): channels_first images, only the height unknown, NaN/±Inf/-0 through the run-time choice; Keras 3's
``pad_to_aspect_ratio`` on static sizes; and the Resizing options that stay refused by name."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize, save_with_outputs  # noqa: E402
from keras_two_sizes import converted_fixture, each_case, verify_runs  # noqa: E402
from test_keras_lowering import _verify, saved_and_converted  # noqa: E402
from test_keras_lowering_k22_runtime_crop import save_case  # noqa: E402

CASES = [("channels_first", "keras3.keras"), ("one_side_known", "keras3.keras"), ("one_side_known", "tf_keras.h5"),
         ("center_special", "keras3.keras"), ("center_special", "tf_keras.h5")]


def static_pads(k):
    """Keras 3's pad_to_aspect_ratio on known sizes: padded rows (an odd margin), padded columns, an even margin,
    nothing to pad, channels_first."""
    L = k.layers
    inp = k.Input((5, 8, 2), name="image")
    first = k.Input((2, 8, 5), name="image_first")
    return k.Model([inp, first], [
        L.Resizing(4, 4, pad_to_aspect_ratio=True, fill_value=0.25, name="rows")(inp),
        L.Resizing(2, 6, pad_to_aspect_ratio=True, interpolation="nearest", name="columns")(inp),
        L.Resizing(3, 3, pad_to_aspect_ratio=True, fill_value=-1.5, name="even_rows")(
            L.Cropping2D(((0, 0), (0, 1)), name="seven")(inp)),
        L.Resizing(10, 16, pad_to_aspect_ratio=True, name="same_aspect")(inp),
        L.Resizing(3, 7, pad_to_aspect_ratio=True, data_format="channels_first", name="first")(first)])


def _save_static(family: str, flavor: str, folder: Path):
    model = static_pads(keras)
    rng = np.random.default_rng(31)
    inputs = {t.name.split(":")[0]: rng.standard_normal((2, *tuple(t.shape)[1:])).astype("float32")
              for t in model.inputs}
    return save_with_outputs(model, inputs, folder / "static_pads.keras")


converted = converted_fixture("k22_runtime_crop_more", CASES, save_case)


@pytest.mark.node
@each_case(CASES)
def test_more_crops_over_unknown_sizes_match_eager_keras_at_every_size(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_special_values_reach_the_crop_keras_takes(converted):
    """The special-values case is one: Keras's crop passes NaN and ±Inf through (a resize would spread them)."""
    for inputs, (output,) in converted[("center_special", "keras3.keras")][1]:
        assert np.isnan(output).any() and np.isinf(output).any()


@pytest.mark.node
def test_pad_to_aspect_ratio_on_static_sizes_matches_keras(tmp_path_factory, tfjs_runtime):
    saved = saved_and_converted(tmp_path_factory, "k22_static_pads", [("static_pads", "keras3.keras")], _save_static)
    path, inputs, outputs = saved[("static_pads", "keras3.keras")]
    _verify(Path(f"{path}.out"), inputs, outputs)


def _resizing_config(**options) -> dict:
    L = keras.layers
    inp = keras.Input((None, None, 3), name="image")
    config = json.loads(keras.Model(inp, L.Resizing(3, 4, pad_to_aspect_ratio=True, name="resize")(inp)).to_json())
    layer = next(c for c in config["config"]["layers"] if c["config"]["name"] == "resize")
    layer["config"].update(options)
    return config


@pytest.mark.parametrize("options,gap", [
    ({"crop_to_aspect_ratio": True}, "crop_to_aspect_ratio and pad_to_aspect_ratio"),
    ({"fill_mode": "reflect"}, "fill_mode='reflect'"),
    ({"antialias": True}, "antialias=True"),
    ({"interpolation": "bicubic"}, "interpolation='bicubic'"),
])
def test_resizing_options_keras_refuses_or_not_lowered_stay_named_gaps(options, gap):
    from tfjsconv.plugins.keras.lowering import layer_gaps

    assert layer_gaps(_resizing_config(**options)) == [f"'resize' (Resizing: {gap})"]
    assert layer_gaps(_resizing_config()) == []


@pytest.mark.parametrize("options,needle", [
    ({"fill_value": "grey"}, "layer 'resize' (Resizing) has fill_value 'grey', expected a number"),
    ({"height": 0}, "layer 'resize' (Resizing) has height 0 and width 4, expected sizes from 1 to 2^31 - 1"),
    ({"width": 2 ** 40}, "expected sizes from 1 to 2^31 - 1"),
])
def test_hostile_resizing_configs_are_clear_errors(tmp_path, options, needle):
    import tfjsconv
    from tfjsconv.errors import InputError

    L = keras.layers
    inp = keras.Input((None, None, 3), name="image")
    model = keras.Model(inp, L.Resizing(3, 4, pad_to_aspect_ratio=True, name="resize")(inp))
    randomize(model, 1)
    path = tmp_path / "model.h5"
    model.save(path)
    import h5py

    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layer = next(c for c in config["config"]["layers"] if c["config"]["name"] == "resize")
        layer["config"].update(options)
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(InputError) as err:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert needle in str(err.value)
