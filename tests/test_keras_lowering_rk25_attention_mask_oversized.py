"""A MultiHeadAttention mask sized only at run time that does not fit the scores fails in TF.js as it does in Keras.

Keras 3's Softmax raises for a mask axis longer than the scores' (and tf_keras's MultiHeadAttention for these too),
but ``SelectV2`` broadcasts both ways: a per-head mask ``[B, 3, T, S]`` beside one head, or a mask of batch 3 beside
a query of batch 1, grew the probabilities (GroupedQueryAttention's too), and the returned scores fetched alone (``execute(inputs, [scores])``)
came out of another shape where Keras gives nothing. The probabilities are now reshaped to the scores' run-time
shape, which fails there. (The attention output failed already: it is reshaped to the query's sizes.)

Each model: Keras's own outputs at two fitting sizes (batch 2, then batch 1 with other lengths), matched on TF.js
cpu and wasm; at a misfit Keras itself must raise, and TF.js must fail fetching the scores alone.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize  # noqa: E402
from keras_two_sizes import batched, each_case, keras_outputs, verify_runs  # noqa: E402
from test_keras_lowering import _module, case_file, saved_and_converted  # noqa: E402


def one_head(k):
    """One head, a per-head ``attention_mask`` ``[B, heads', T, S]`` (the rank-3 path over unknown lengths)."""
    seq, mask = k.Input((None, 6), name="seq"), k.Input((None, None, None), dtype="bool", name="mask")
    layer = k.layers.MultiHeadAttention(1, 3, name="one_head")
    return k.Model([seq, mask], layer(seq, seq, attention_mask=mask, return_attention_scores=True))


def batch_mask(k):
    """Two heads, an ``attention_mask`` ``[B', T, S]`` (the rank-3 path over unknown lengths)."""
    seq, mask = k.Input((None, 8), name="seq"), k.Input((None, None), dtype="bool", name="mask")
    layer = k.layers.MultiHeadAttention(2, 4, name="batch_mask")
    return k.Model([seq, mask], layer(seq, seq, attention_mask=mask, return_attention_scores=True))


def grid_batch_mask(k):
    """A grid attending over axis 2 with an ``attention_mask`` ``[B', H, W, W]`` (the folded path)."""
    grid, mask = k.Input((None, None, 6), name="grid"), k.Input((None, None, None), dtype="bool", name="mask")
    layer = k.layers.MultiHeadAttention(2, 3, name="grid_mask", attention_axes=(2,))
    return k.Model([grid, mask], layer(grid, grid, attention_mask=mask, return_attention_scores=True))


def gqa_batch_mask(k):
    """Keras 3's GroupedQueryAttention (4 query heads, 2 key/value heads), an ``attention_mask`` ``[B', T, S]``."""
    seq, mask = k.Input((None, 8), name="seq"), k.Input((None, None), dtype="bool", name="mask")
    layer = k.layers.GroupQueryAttention(3, 4, 2, name="gqa_mask")
    return k.Model([seq, mask], layer(seq, seq, attention_mask=mask, return_attention_scores=True))


FAMILIES = {"one_head": one_head, "batch_mask": batch_mask, "grid_batch_mask": grid_batch_mask,
            "gqa_batch_mask": gqa_batch_mask}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")
         if flavor.startswith("keras3") or not family.startswith("gqa")]
#: Input shapes by family: two runs that fit, then one whose mask does not fit the scores.
SHAPES = {
    "one_head": [{"seq": (2, 3, 6), "mask": (2, 1, 3, 3)}, {"seq": (1, 2, 6), "mask": (1, 1, 1, 2)},
                 {"seq": (2, 3, 6), "mask": (2, 3, 3, 3)}],
    "batch_mask": [{"seq": (2, 3, 8), "mask": (2, 3, 3)}, {"seq": (1, 4, 8), "mask": (1, 4, 4)},
                   {"seq": (1, 3, 8), "mask": (3, 3, 3)}],
    "gqa_batch_mask": [{"seq": (2, 3, 8), "mask": (2, 3, 3)}, {"seq": (1, 4, 8), "mask": (1, 4, 4)},
                       {"seq": (1, 3, 8), "mask": (3, 3, 3)}],
    "grid_batch_mask": [{"grid": (2, 3, 4, 6), "mask": (2, 3, 4, 4)}, {"grid": (1, 2, 3, 6), "mask": (1, 2, 3, 3)},
                        {"grid": (1, 1, 4, 6), "mask": (2, 1, 4, 4)}],
}


def _inputs(shapes: dict[str, tuple[int, ...]], rng: np.random.Generator) -> dict[str, np.ndarray]:
    inputs = {}
    for name, shape in shapes.items():
        if name == "mask":
            value = rng.random(shape) > 0.3
            value[0, ..., 0, :] = False  # a fully masked query row
        else:
            value = rng.standard_normal(shape).astype("float32")
        inputs[name] = value
    return inputs


def _save(family: str, flavor: str, folder: Path):
    """Keras's outputs at the fitting runs; the misfit run's inputs, after checking Keras raises on them."""
    model = FAMILIES[family](_module(flavor))
    randomize(model, 29)
    rng = np.random.default_rng(30)
    *fits, misfit = [_inputs(shapes, rng) for shapes in SHAPES[family]]
    runs = [(inputs, keras_outputs(model, inputs)) for inputs in fits]
    with pytest.raises(Exception):  # noqa: B017 (Keras 3 raises ValueError, tf_keras InvalidArgumentError)
        keras_outputs(model, misfit)
    path = case_file(folder, family, flavor)
    model.save(path)
    return path, runs, misfit


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return batched(saved_and_converted(tmp_path_factory, "attention_mask_oversized", CASES, _save))


@pytest.mark.node
@each_case(CASES)
def test_fitting_masks_match_keras_at_two_sizes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


@pytest.mark.node
@each_case(CASES)
def test_a_mask_keras_raises_on_fails_in_tfjs_even_for_the_scores_alone(converted, tfjs_runtime, family, flavor):
    from tfjsconv.verify.run import run_model

    path, _, misfit = converted[(family, flavor)]
    out = Path(f"{path}.out")
    scores = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])[1]
    result = run_model(out, misfit, backends=("cpu", "wasm"), output_names=[scores], quiet=True)
    for backend in ("cpu", "wasm"):
        run = result[backend]
        assert not run.ok and run.stage == "run", (backend, run.stage, {k: v.shape for k, v in run.outputs.items()})
