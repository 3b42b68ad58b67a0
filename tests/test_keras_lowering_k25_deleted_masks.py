"""Keras 3: a call without a recorded mask reads the mask Keras sets on the tensor at run time (issue 16).

Keras 3's MultiHeadAttention deletes its inputs' masks when it runs; a merge that runs after it computes its output
mask from the masks its inputs carry then (``Layer.__call__`` hands ``compute_mask`` the run-time masks), so its
output can carry another mask than the one Keras recorded at build time: ``Concatenate([attention, embedding])``
carries an all-True mask (the embedding's deleted one counts as all-True) where the recorded one is the padding.
Calls with a recorded mask (a pooling, an LSTM) read the recorded one; calls without one (merges, Dense, another
attention) read the run-time one, which the lowering derives in Keras 3's run order instead of refusing them. The
bench's ``keras3_h5-250200096`` is ``bench_case``. Each model is Keras's own ``model(x, training=False)``, the same as
the saved file loaded again, converted with TensorFlow and Keras poisoned, run in TF.js (cpu, wasm) on a batch with
a fully padded row and on a batch of one.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize  # noqa: E402
from keras_two_sizes import converted_fixture, saved_runs, verify_runs  # noqa: E402
from test_keras_lowering import case_file  # noqa: E402

STEPS, WIDTH = 5, 4


def bench_case(k):
    """The bench's model: a Concatenate after the attention (run-time mask all-True), read by a second
    Concatenate beside the embedding whose mask the attention deleted; a second embedding as another output."""
    L = k.layers
    ids = k.Input((STEPS,), dtype="int64", name="ids")
    e1 = L.Embedding(11, 3, mask_zero=True, name="emb1")(ids)
    a = L.MultiHeadAttention(2, 3, name="mha")(e1, e1)
    c2 = L.Concatenate(name="cat2")([a, e1])
    c4 = L.Concatenate(name="cat4")([e1, c2])
    return k.Model(ids, [c4, L.Embedding(11, 3, mask_zero=True, name="emb2")(ids)])


def readers(k):
    """Readers of the run-time mask whose values depend on it: an attention over the second Concatenate (it attends
    to the padded steps too: the run-time mask is all-True), a Dense handing that mask to a Multiply, and beside
    them a pooling and an LSTM whose recorded mask (the padding) Keras uses."""
    L = k.layers
    ids = k.Input((STEPS,), dtype="int32", name="ids")
    e = L.Embedding(11, WIDTH, mask_zero=True, name="emb")(ids)
    a = L.MultiHeadAttention(2, 4, name="mha")(e, e)
    c = L.Concatenate(name="cat")([a, e])
    c2 = L.Concatenate(name="cat2")([e, c])
    after = L.MultiHeadAttention(2, 3, name="mha_after")(c2, c2)
    d = L.Dense(3 * WIDTH, name="dense")(c2)
    product = L.Multiply(name="product")([c2, d])
    return k.Model(ids, [after, L.GlobalAveragePooling1D(name="pool")(product), L.LSTM(3, name="lstm")(c2),
                         L.Dense(2, name="head")(product)])


def deleted_again(k):
    """A Concatenate's run-time mask (all-True) deleted again by a second attention: a Maximum after that attention
    reads no mask on the Concatenate and the attention's output's run-time mask (its query's, all-True); a Dropout
    (the same tensor) before the second attention reads the run-time mask."""
    L = k.layers
    ids = k.Input((STEPS,), dtype="int32", name="ids")
    e = L.Embedding(11, WIDTH, mask_zero=True, name="emb")(ids)
    c = L.Concatenate(name="cat")([L.MultiHeadAttention(2, 4, name="mha")(e, e), e])
    kept = L.Dropout(0.2, name="drop")(c)
    b = L.MultiHeadAttention(2, 3, output_shape=2 * WIDTH, name="mha2")(kept, kept)
    top = L.Maximum(name="top")([c, b])
    return k.Model(ids, [top, L.GlobalAveragePooling1D(name="pool")(top)])


def late_attention(k):
    """Session 23's gap (``test_keras_lowering_k23_mask_gaps.py``): an attention over a Concatenate of the
    embedding and an attention of it reads the Concatenate's run-time mask (all-True), an LSTM its recorded one."""
    L = k.layers
    ids = k.Input((STEPS,), dtype="int32", name="ids")
    x = L.Embedding(9, 8, mask_zero=True, name="emb")(ids)
    cat = L.Concatenate(name="cat")([x, L.MultiHeadAttention(2, 4, name="mha")(x, x)])
    return k.Model(ids, [L.LSTM(3, name="lstm")(cat), L.MultiHeadAttention(2, 4, name="late")(cat, cat)])


FAMILIES = {"bench_case": bench_case, "readers": readers, "deleted_again": deleted_again,
            "late_attention": late_attention}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "keras3.h5")]


def _ids(seed: int, dtype: str = "int32") -> np.ndarray:
    """Three rows: padded at the end, padded at the start and inside, fully padded."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 11, (3, STEPS)).astype(dtype)
    ids[0, 3:] = 0
    ids[1, :2] = ids[1, 3] = 0
    ids[2] = 0
    return ids


def _save(family: str, flavor: str, folder: Path):
    """The model, saved; Keras's outputs for a batch of three and a batch of one, checked equal for the file
    loaded again by Keras (where Keras 3 can load it)."""
    model = FAMILIES[family](keras)
    randomize(model, 11)
    ids = _ids(12, "int64" if family == "bench_case" else "int32")
    ids = ids % 9 if family == "late_attention" else ids
    # Keras 3 cannot load its .h5 with mask ops (NotEqual)
    reloads = flavor != "keras3.h5" or family == "bench_case"
    path = case_file(folder, family, flavor)
    load = keras.models.load_model if reloads else None
    return path, saved_runs(model, path, [{"ids": ids}, {"ids": ids[1:2]}], load), None


converted = converted_fixture("k25_deleted_masks", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_run_time_masks_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_the_run_time_mask_differs_from_the_tracked_one(monkeypatch):
    """The models exercise the change: the lowering reads another mask than the tracked one for a call without a
    recorded mask (the attention after the Concatenates sees an all-True mask at run time)."""
    from tfjsconv.plugins.keras.configs import plain
    from tfjsconv.plugins.keras.lowering.layer_gaps import LayerGaps
    from tfjsconv.plugins.keras.lowering.model_plan import MaskDeletions
    from tfjsconv.plugins.keras.lowering.registry import loaded_lowerings
    from tfjsconv.plugins.keras.op_calls import with_plain_op_nodes

    seen = {}
    original = MaskDeletions.diverged

    def spy(self, call, refs):
        found = original(self, call, refs)
        if found:
            seen[call.name] = sorted(r[0] for r in found)
        return found

    monkeypatch.setattr(MaskDeletions, "diverged", spy)  # watches the real rule, changes nothing
    for family in FAMILIES:
        config = plain(with_plain_op_nodes(json.loads(FAMILIES[family](keras).to_json())))
        assert LayerGaps(loaded_lowerings(), True).of(config, "test") == [], family
    assert seen["cat4"] == ["cat2"] and seen["mha_after"] == ["cat2"] and seen["dense"] == ["cat2"]
    assert seen["product"] == ["cat2", "dense"] and seen["drop"] == ["cat"] and seen["late"] == ["cat"]
