"""Keras 3 nested models around a mask MultiHeadAttention deleted, lowered in session 14 (issue 16).

Keras 3's MultiHeadAttention deletes its query's, value's and key's masks on the tensors it is given at run time
(:class:`.model_plan.MaskDeletions`). Two ways a nested model meets that were refused by name before:

* a nested model Keras recorded no mask for runs after the deletion, and its output would carry a mask with the
  mask the walk tracks: Keras runs it on its unmasked input (its ``mask=None`` reads the run-time mask), so its
  output carries no mask, and the calls after it that read its output's run-time mask (a nested model's output has no
  symbolic mask in Keras 3, so all of them) see none;
* a nested model Keras hands its recorded mask (``Functional.call`` sets it on the caller's tensor again, after the
  attention deleted it): the calls that run after it and read the run-time mask (a later MultiHeadAttention's query
  mask, through layers that propagate it) see it again, until another attention deletes it.

Expected values: Keras's eager ``model(x)`` (batch 1 and 3, a masked all-zero step, a sample with two), converted
with TensorFlow, Keras and tf_keras poisoned, run in TF.js cpu and wasm. What the walk cannot place stays refused by
name (a mask set again by a nested model whose input Keras converts to another tensor).
"""
from __future__ import annotations

import numpy as np
import pytest

from keras_models import randomize
from test_keras_lowering import _verify, convert_poisoned

keras = pytest.importorskip("keras")


def _deep(k, y, name: str, depth: int = 3):
    """``depth`` Dense layers after ``y``: the attention they follow runs earlier in Keras 3's order (deeper)."""
    for i in range(depth):
        y = k.layers.Dense(3, name=f"{name}_{i}")(y)
    return y


def _inner(k, kind: str, name: str, units: int = 4):
    """A nested model over ``(4, units)`` steps whose output carries its input's mask (Keras runs it eagerly)."""
    L = k.layers
    if kind == "sequential":
        return k.Sequential([k.Input((4, units)), L.Rescaling(2.0)], name=name)
    if kind == "passing":  # its output is its input tensor itself (Dropout at inference)
        return k.Sequential([k.Input((4, units)), L.Dropout(0.5)], name=name)
    if kind == "pipeline":  # calls its layers with the mask it reads at run time
        return L.Pipeline([L.Rescaling(2.0)], name=name)
    i = k.Input((4, units))
    return k.Model(i, L.Dense(3)(i), name=name)


def _runs_after_deletion(kind: str = "sequential", reader: str | None = None):
    """``pooled``, a nested model with no recorded mask, runs after ``mha`` deleted its input's mask (the attention
    is deeper); ``reader`` reads ``pooled``'s output and its run-time mask (none)."""
    def build(k):
        L = k.layers
        x = k.Input((4, 4), name="x")
        masked = L.Masking(0.0, name="masking")(x)
        scaled = k.Sequential([k.Input((4, 4)), L.Rescaling(0.5, 0.25)], name="scaled")(masked)
        attended = _deep(k, L.MultiHeadAttention(1, 3, name="mha")(scaled, scaled), "after", 0 if reader is None else 3)
        pooled = _inner(k, kind, "pooled")(scaled)
        readers = {None: lambda y: [y],
                   "pool": lambda y: [L.GlobalAveragePooling1D(name="read")(y)],
                   "lstm": lambda y: [L.LSTM(3, name="read")(y)],
                   "mha": lambda y: [L.MultiHeadAttention(1, 2, name="read")(y, y)],
                   "nested": lambda y: [_inner(k, "functional", "read", y.shape[-1])(y)]}
        return k.Model(x, [*readers[reader](pooled), attended])
    return build


def _set_again(reader: str = "mha", kind: str = "functional", through: str | None = None):
    """``inner`` is handed its recorded mask after ``mha`` deleted it and sets it on ``masking`` again; ``reader``
    runs later and reads the run-time mask: a MultiHeadAttention's query mask (``mha``), through a Dense that
    propagates it (``dense_mha``), or after a second attention deleted it again (``deleted_again``)."""
    def build(k):
        L = k.layers
        x = k.Input((4, 3), name="x")
        masked = L.Masking(0.0, name="masking")(x)
        source = L.Dropout(0.5, name="drop")(masked) if through == "dropout" else masked
        after = _deep(k, L.MultiHeadAttention(1, 3, name="mha")(masked, masked), "after",
                      7 if reader == "deleted_again" else 5)
        i = k.Input((4, 3))
        inner = (k.Model(i, L.GlobalAveragePooling1D()(i), name="inner") if kind == "functional" else
                 k.Sequential([i, L.GlobalAveragePooling1D()], name="inner"))(source)
        # the value: unmasked steps that differ (so the query mask changes the attention), read after 'inner'
        context = L.Add(name="context")([L.RepeatVector(4, name="repeat")(inner), L.Dense(3, name="steps")(x)])
        if reader in ("mha", "mha_pool_lstm"):
            read = L.MultiHeadAttention(1, 2, name="later")(masked, context)
        elif reader == "dense_mha":
            read = L.MultiHeadAttention(1, 2, name="later")(L.Dense(3, name="dense")(masked), context)
        else:  # deleted_again: 'again' runs after 'inner' (deeper than 'later') and deletes the mask once more
            again = L.MultiHeadAttention(1, 2, name="again")(masked, context)
            read = L.MultiHeadAttention(1, 2, name="later")(masked, L.Dense(3, name="late_value")(
                _deep(k, again, "d", 1)))
        recorded = [L.GlobalAveragePooling1D(name="pool")(masked), L.LSTM(2, name="lstm")(masked)] \
            if reader == "mha_pool_lstm" else []  # their recorded mask: the tracked one, whatever the order
        return k.Model(x, [inner, after, read, *recorded])
    return build


def _wrapped(build):
    """The model ``build`` makes, nested in another one: its plan's deletions and settings are walked there."""
    def wrap(k):
        inner = build(k)
        x = k.Input(inner.inputs[0].shape[1:], name="x")
        return k.Model(x, inner(x))
    return wrap


def _residual_after_set_again(k):
    """The attention deletes the embedding's mask; ``inner``, handed its recorded mask, sets it on the embedding
    again; the residual Add after both reads it (Keras 3 runs ``mha`` first here), and the pooling averages the
    unpadded steps only (a gap until session 14, ``test_keras_lowering_k23_review.py``)."""
    L = k.layers
    ids = k.Input((6,), dtype="int32", name="x")
    e = L.Embedding(11, 8, mask_zero=True, name="emb")(ids)
    a = L.Dense(8, name="deep")(L.Dense(8, name="deep0")(L.MultiHeadAttention(2, 4, name="mha")(e, e)))
    n = k.Sequential([k.Input((6, 8)), L.Dense(8)], name="inner")(e)
    return k.Model(ids, [L.GlobalAveragePooling1D(name="pool")(L.Add(name="res")([e, n])), a])


def _set_again_on_a_cleared_mask(k):
    """``res`` adds two tensors whose masks ``mha`` deleted before it runs: at run time it carries none where the walk
    tracks one (cleared); ``inner``, handed its recorded mask, sets that on ``res`` again, and ``later``'s query sees
    it (HEAD converted this silently to the query unmasked: wrong numbers)."""
    L = k.layers
    x = k.Input((4, 3), name="x")
    masked = L.Masking(0.0, name="masking")(x)
    after = _deep(k, L.MultiHeadAttention(1, 3, name="mha")(masked, masked), "after", 6)
    res = L.Add(name="res")([masked, L.Dense(3, name="d")(masked)])
    i = k.Input((4, 3))
    inner = k.Model(i, L.GlobalAveragePooling1D()(i), name="inner")(res)
    context = L.Add(name="context")([L.RepeatVector(4, name="repeat")(inner), L.Dense(3, name="steps")(x)])
    return k.Model(x, [inner, after, L.MultiHeadAttention(1, 2, name="later")(res, context)])


CASES = {
    "keeps_mask": _runs_after_deletion(),
    "keeps_mask_functional": _runs_after_deletion("functional"),
    "keeps_mask_read_by_pooling": _runs_after_deletion(reader="pool"),
    "keeps_mask_read_by_lstm": _runs_after_deletion(reader="lstm"),
    "keeps_mask_read_by_mha": _runs_after_deletion(reader="mha"),
    "keeps_mask_read_by_nested": _runs_after_deletion(reader="nested"),
    "passing_read_by_pooling": _runs_after_deletion("passing", reader="pool"),
    "pipeline_read_by_pooling": _runs_after_deletion("pipeline", reader="pool"),
    "set_again_read_later": _set_again(),
    "set_again_sequential": _set_again(kind="sequential"),
    "set_again_through_dropout": _set_again(through="dropout"),
    "set_again_dense_then_mha": _set_again("dense_mha"),
    "set_again_deleted_again": _set_again("deleted_again"),
    "set_again_read_by_a_residual_add": _residual_after_set_again,
    "set_again_beside_pooling_and_lstm": _set_again("mha_pool_lstm"),
    "set_again_on_a_cleared_mask": _set_again_on_a_cleared_mask,
    "set_again_nested": _wrapped(_set_again()),
    "keeps_mask_nested": _wrapped(_runs_after_deletion(reader="pool")),
}


def _inputs(model, batch: int, rng) -> dict[str, np.ndarray]:
    """Random steps (ids 0..10 for an int32 input), step 2 all zero (masked), and in a batch of 3 the last sample's
    step 0 too."""
    shape = (batch, *model.inputs[0].shape[1:])
    x = rng.integers(0, 11, shape).astype("int32") if model.inputs[0].dtype == "int32" else \
        rng.standard_normal(shape).astype("float32")
    x[:, 2] = 0.0
    if batch > 1:
        x[-1, 0] = 0.0
    return {"x": x}


@pytest.mark.node
def test_nested_models_around_a_deleted_mask_lower(tmp_path, tfjs_runtime):
    """Each case (refused by name before) converts with TensorFlow and Keras poisoned, to Keras's eager numbers in
    TF.js cpu and wasm."""
    from keras_two_sizes import keras_outputs

    saved = {}
    for name, build in CASES.items():
        model = build(keras)
        randomize(model, 16)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        rng = np.random.default_rng(17)
        runs = [_inputs(model, batch, rng) for batch in (1, 3)]
        saved[name] = (path, [(run, keras_outputs(model, run)) for run in runs])
    convert_poisoned([path for path, _ in saved.values()])
    for name, (path, runs) in saved.items():
        for run, expected in runs:
            _verify(path.parent / f"{path.name}.out", run, expected)


def test_a_mask_set_again_on_a_converted_tensor_stays_refused(tmp_path):
    """A nested model whose input Keras converts to another tensor (a rank its input adds an axis to) sets its
    recorded mask on that new tensor, not on the caller's: the walk does not follow that, refused by name."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = keras.layers
    x = keras.Input((4, 3), name="x")
    masked = L.Masking(0.0, name="masking")(x)
    after = _deep(keras, L.MultiHeadAttention(1, 3, name="mha")(masked, masked), "after")
    i = keras.Input((4, 3, 1))
    inner = keras.Model(i, L.GlobalAveragePooling1D()(L.Reshape((4, 3))(i)), name="inner")(masked)
    later = L.MultiHeadAttention(1, 2, name="later")(masked, L.RepeatVector(4)(inner))
    keras.Model(x, [inner, after, later]).save(tmp_path / "m.keras")
    with pytest.raises(UsageError, match=r"'inner' \(Functional: Keras sets its recorded mask on 'masking' again"):
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
