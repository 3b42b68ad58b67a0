"""Session 33's random-model hunt (``bench/keras_random_models.py --seed 3305 --extra --args --dynamic``): a Keras 3
MultiHeadAttention's returned attention scores carry a mask at run time.

With ``return_attention_scores=True``, Keras 3's MultiHeadAttention computes its scores through an inner Softmax
layer called with the attention mask (its inputs' masks, ``attention_mask``, the causal mask). That call sets the
mask, ``[batch, heads, query, key]``, on the scores tensor, and a later layer reads it. The random model
``Masking -> RNN -> MultiHeadAttention scores -> Softmax(axis=[1, 2])`` was lowered as if the scores had no mask:
0.25..0.67 off on TF.js cpu and wasm, silently (a causal mask: 0.77; GroupQueryAttention's scores: 0.17).
It is refused by name now. Scores with no mask, and masked scores nothing reads (a model output), still
convert and match Keras.

Converted with TensorFlow, Keras and tf_keras poisoned. The converted models run in TF.js cpu and wasm against
Keras's ``model(x)``.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from keras_two_sizes import keras_outputs, verify_runs  # noqa: E402
from test_keras_lowering import POISONED, convert_poisoned  # noqa: E402


def _masked_sequence(name: str = "x") -> tuple[Any, Any]:
    """An Input of unknown length and its ``Masking(0.0)`` (zero steps masked)."""
    x = keras.Input((None, 4), name=name)
    return x, keras.layers.Masking(0.0, name=f"{name}_masking")(x)


def scores_into_softmax(kind: str) -> Any:
    """The hunt's model (``kind="masked"``): masked steps -> MultiHeadAttention's scores -> Softmax over
    ``[heads, query]``. ``"causal"``: an unmasked input with ``use_causal_mask=True`` (the causal mask rides on the
    scores too). ``"grouped"``: a GroupQueryAttention's scores of masked steps (the same inner Softmax)."""
    L = keras.layers
    x, masked = _masked_sequence()
    seq = L.Dense(4, name="steps")(x if kind == "causal" else masked)
    attention = L.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1, name="attention") \
        if kind == "grouped" else L.MultiHeadAttention(num_heads=1, key_dim=2, name="attention")
    causal = {"use_causal_mask": True} if kind == "causal" else {}
    scores = attention(seq, seq, return_attention_scores=True, **causal)[1]
    return keras.Model(x, L.Softmax(axis=[1, 2], name="over_queries")(scores), name=f"scores_{kind}")


def scores_as_outputs() -> Any:
    """Masked scores as a model output (no layer reads their mask), and unmasked scores into a Softmax."""
    L = keras.layers
    x, masked = _masked_sequence()
    seq = L.Dense(3, name="steps")(masked)
    _, masked_scores = L.MultiHeadAttention(num_heads=2, key_dim=2, name="mha_masked")(
        seq, seq, return_attention_scores=True)
    plain = L.Dense(3, name="plain_steps")(x)
    _, plain_scores = L.MultiHeadAttention(num_heads=1, key_dim=2, name="mha_plain")(
        plain, plain, return_attention_scores=True)
    return keras.Model(x, [masked_scores, L.Softmax(axis=[1, 2], name="over_queries")(plain_scores)],
                       name="scores_as_outputs")


def _padded(rng: np.random.Generator, batch: int, steps: int) -> np.ndarray:
    """Random steps with trailing zero steps (masked), one row fully unpadded."""
    values = rng.standard_normal((batch, steps, 4)).astype("float32")
    for row in range(1, batch):
        values[row, steps - row:] = 0.0
    return values


def _refusal(path: Path) -> str:
    code = POISONED.split("for path")[0] + \
        "tfjsconv.convert(sys.argv[1], sys.argv[1] + '.out', output_format='tfjs_graph_model')\n"
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.returncode != 0, out.stdout[-1500:]
    return out.stderr


@pytest.mark.parametrize("kind,cls", [("masked", "MultiHeadAttention"), ("causal", "MultiHeadAttention"),
                                       ("grouped", "Group(ed)?QueryAttention")])  # .h5 records the older name
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_masked_attention_scores_read_later_are_refused_by_name(tmp_path, kind, cls, suffix):
    """Keras's scores carry the attention mask and the Softmax reads it: refused, naming the attention and the
    reader (converted silently before: 0.20, 0.77 and 0.17 off on TF.js cpu and wasm)."""
    path = tmp_path / f"scores_{kind}{suffix}"
    scores_into_softmax(kind).save(path)
    assert re.search(rf"'attention' \({cls}: Keras 3 gives the attention scores it returns its attention mask as "
                     r"their mask, which the lowering does not track, and 'over_queries' takes them\)", _refusal(path))


def test_keras_masks_the_scores_it_returns():
    """What the refusal rests on: Keras 3 gives the returned scores its [batch, heads, query, key] attention mask,
    and a Softmax after them zeroes the masked places."""
    from keras.src import backend

    rng = np.random.default_rng(33)
    values = _padded(rng, 3, 4)
    masked = keras.layers.Masking(0.0)(values)
    _, scores = keras.layers.MultiHeadAttention(num_heads=1, key_dim=2)(masked, masked, return_attention_scores=True)
    mask = np.asarray(backend.get_keras_mask(scores))
    steps = np.any(values != 0.0, axis=-1)
    np.testing.assert_array_equal(mask, (steps[:, :, None] & steps[:, None, :])[:, None])
    model = scores_into_softmax("masked")
    out = keras_outputs(model, {"x": values})[0]
    assert np.all(out[2, 0, 2:, :] == 0.0) and np.all(out[2, 0, :, 2:] == 0.0)


@pytest.mark.node
def test_unread_or_unmasked_scores_still_match_keras(tmp_path, tfjs_runtime):
    """Scores nothing reads the mask of (a model output) and unmasked scores into a Softmax convert as before."""
    model = scores_as_outputs()
    path = tmp_path / "scores_as_outputs.keras"
    model.save(path)
    rng = np.random.default_rng(34)
    runs = []
    for batch, steps in ((3, 5), (2, 7)):
        inputs = {"x": _padded(rng, batch, steps)}
        runs.append((inputs, keras_outputs(model, inputs)))
    convert_poisoned([path])
    verify_runs(path, runs)
