"""MultiHeadAttention masks over one attention axis of a rank-5 query of unknown sizes (Keras's scores of rank 6).

Keras runs the Softmax of these rank-6 scores with one axis through TensorFlow's ``Softmax`` op, which the oneDNN
build of TensorFlow on CPU refuses ("Input dims must be <= 5"): that is the kernel, not Keras's semantics (without
oneDNN, or on GPU, Keras computes them), so the converted model computes what Keras does. Keras's expected outputs
are therefore computed in a subprocess with ``TF_ENABLE_ONEDNN_OPTS=0``: an ``attention_mask`` ``[B, D, H, W, W']``
over axis 3, and Keras masks (``Masking``) over axis 1 (cubes: Keras lines the query mask's axes up with others of
the scores), saved by Keras 3 (``.keras``) and tf_keras (``.h5``), at two sizes (batch 2, then batch 1), converted
with TensorFlow poisoned and matched on TF.js cpu and wasm.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("keras")


def volume_mask_over_w(k):
    volume = k.Input((None, None, None, 4), name="volume")
    mask = k.Input((None, None, None, None), dtype="bool", name="mask")
    layer = k.layers.MultiHeadAttention(2, 2, name="mask_over_w", attention_axes=(3,))
    return k.Model([volume, mask], layer(volume, volume, attention_mask=mask))


def volume_keras_masks_over_d(k):
    volume = k.Input((None, None, None, 4), name="volume")
    padded = k.layers.Masking(name="masking")(volume)
    return k.Model(volume, k.layers.MultiHeadAttention(2, 2, name="keras_masks_over_d", attention_axes=(1,))(
        padded, padded))


FAMILIES = {"mask_over_w": volume_mask_over_w, "keras_masks_over_d": volume_keras_masks_over_d}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")]
#: (batch, depth, height, width) of the two runs (cubes for the Keras masks).
RUNS = {"mask_over_w": [(2, 2, 3, 4), (1, 3, 2, 2)], "keras_masks_over_d": [(2, 3, 3, 3), (1, 2, 2, 2)]}


def _runs_inputs(family: str, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    runs = []
    for batch, depth, height, width in RUNS[family]:
        volume = rng.standard_normal((batch, depth, height, width, 4)).astype("float32")
        volume[0, -1] = 0.0  # positions Masking drops
        if batch > 1:
            volume[1, 0, -1] = 0.0
        inputs = {"volume": volume}
        if family == "mask_over_w":
            mask = rng.random((batch, depth, height, width, width)) > 0.3
            mask[0, ..., 0, :] = False  # a fully masked query row
            inputs["mask"] = mask
        runs.append(inputs)
    return runs


def _keras_side(family: str, flavor: str, path: str) -> None:
    """(In a subprocess without oneDNN.) The model with random weights, Keras's outputs at each run, saved."""
    from keras_models import randomize
    from keras_two_sizes import keras_outputs
    from test_keras_lowering import _module

    model = FAMILIES[family](_module(flavor))
    randomize(model, 53)
    arrays = {}
    for i, inputs in enumerate(_runs_inputs(family, np.random.default_rng(54))):
        arrays.update({f"run{i}/in/{name}": value for name, value in inputs.items()})
        arrays.update({f"run{i}/out/{j}": value for j, value in enumerate(keras_outputs(model, inputs))})
    np.savez(f"{path}.npz", **arrays)
    model.save(path)


def _save(family: str, flavor: str, folder: Path):
    from test_keras_lowering import case_file

    path = case_file(folder, family, flavor)
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, __file__, family, flavor, str(path)], env=env, capture_output=True,
                          text=True, cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = np.load(f"{path}.npz")
    runs = []
    for i in range(len(RUNS[family])):
        inputs = {k.split("/")[-1]: saved[k] for k in saved.files if k.startswith(f"run{i}/in/")}
        outputs = [saved[f"run{i}/out/{j}"] for j in range(sum(k.startswith(f"run{i}/out/") for k in saved.files))]
        runs.append((inputs, outputs))
    return path, runs, None


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from keras_two_sizes import batched
    from test_keras_lowering import saved_and_converted

    return batched(saved_and_converted(tmp_path_factory, "attention_masks_rank6_scores", CASES, _save))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_masks_over_one_axis_of_a_volume_match_keras_at_two_sizes(converted, tfjs_runtime, family, flavor):
    from keras_two_sizes import verify_runs

    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@pytest.mark.parametrize("family", list(FAMILIES))
def test_masks_over_one_axis_of_a_volume_run_on_webgl(converted, browser, family):
    """The default targets' contract accepted the model: webgl runs it too (at the second size)."""
    from keras_two_sizes import verify_last_run_on_webgl

    path, runs, _ = converted[(family, "keras3.keras")]
    verify_last_run_on_webgl(path, runs, browser)


if __name__ == "__main__":
    _keras_side(*sys.argv[1:4])
