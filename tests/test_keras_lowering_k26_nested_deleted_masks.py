"""Keras 3: a MultiHeadAttention inside a nested model deletes masks at run time (issue 16, session 26).

Keras 3's MultiHeadAttention deletes its query's, value's and key's masks (``set_keras_mask(x, None)``) on the
tensors it runs on. Inside a nested Functional model those are the nested model's own tensors (a LayerNormalization's
result: the caller never sees them, and the nested model's run order places its readers), or its Input, which is
the caller's tensor object itself when ``Functional._standardize_inputs`` keeps it (same dtype and rank): then the
caller's calls that run after the nested one and read the run-time mask (another attention) see none, those with a
recorded mask (a pooling) the recorded one. Under ``mixed_float16`` the caller's float16 tensor is cast to the float32
Input, a new tensor: the deletion stays inside. Refused by name before (``'enc/mha' (MultiHeadAttention: Keras 3
deletes the mask of 'ln', which the calling model reads too)``); the nested model's output losing its mask is
lowered since session 27 (test_keras_lowering_k27_nested_output_masks.py). A layer that casts its float input (a mixed_float16 Dropout or linear Activation on a float32 tensor, a
nested model's converted Input) returns a new tensor, not the one its mask was deleted on (review R1: wrong numbers
before). Keras 3 ``.keras`` and ``.h5``, float32 and mixed_float16, converted with TensorFlow and Keras poisoned, run in
TF.js cpu and wasm against ``model(x)`` at two lengths, each batch with a fully padded row.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import at_runs, converted_fixture, each_case, two_size_saver  # noqa: E402
from test_keras_lowering import layer_gaps_of  # noqa: E402

WIDTH, VOCAB = 8, 12


def _policy(k: Any, name: str, build: Callable[[], Any]) -> Any:
    """``build()`` under the global dtype policy ``name`` (Inputs stay float32; the poolings are float32 layers, so
    no float16 sum is involved)."""
    k.config.set_dtype_policy(name)
    try:
        return build()
    finally:
        k.config.set_dtype_policy("float32")


def _encoder(k: Any, tag: str) -> Any:
    """A pre-norm Transformer encoder as a nested model: LN -> attention -> residual Add -> average (H2's R1)."""
    L = k.layers
    i = k.Input((None, WIDTH), name=f"{tag}_in")
    h = L.LayerNormalization(name=f"{tag}_ln")(i)
    h = L.MultiHeadAttention(2, 4, name=f"{tag}_mha")(h, h)
    pooled = L.GlobalAveragePooling1D(dtype="float32", name=f"{tag}_gap")(L.Add(name=f"{tag}_res")([i, h]))
    return k.Model(i, pooled, name=tag)


def _self_attending(k: Any, tag: str) -> Any:
    """A nested model whose attention reads its Input itself: the caller's tensor, whose mask it deletes."""
    L = k.layers
    i = k.Input((None, WIDTH), name=f"{tag}_in")
    h = L.MultiHeadAttention(2, 4, name=f"{tag}_mha")(i, i)
    pooled = L.GlobalAveragePooling1D(dtype="float32", name=f"{tag}_gap")(L.Add(name=f"{tag}_res")([i, h]))
    return k.Model(i, pooled, name=tag)


def _dropout_attending(k: Any, tag: str) -> Any:
    """A nested model whose attention reads a Dropout of its Input: under mixed_float16 the Dropout's
    ``Layer.__call__`` casts the float32 Input to a new float16 tensor and returns it, so the attention deletes that
    copy's mask and the caller's tensor keeps its own (review R1, session 26: a wrong number when it was followed)."""
    L = k.layers
    i = k.Input((None, WIDTH), name=f"{tag}_in")
    d = L.Dropout(0.1, name=f"{tag}_drop")(i)
    h = L.MultiHeadAttention(2, 4, name=f"{tag}_mha")(d, d)
    return k.Model(i, L.GlobalAveragePooling1D(dtype="float32", name=f"{tag}_gap")(h), name=tag)


def _half_input_attending(k: Any, tag: str) -> Any:
    """A float16 Input and float16 attention in a float32 model: ``_standardize_inputs`` converts the caller's
    float32 tensor to a new float16 one (not kept), whose mask the attention deletes."""
    L = k.layers
    i = k.Input((None, WIDTH), dtype="float16", name=f"{tag}_in")
    h = L.MultiHeadAttention(2, 4, dtype="float16", name=f"{tag}_mha")(i, i)
    return k.Model(i, L.GlobalAveragePooling1D(dtype="float32", name=f"{tag}_gap")(L.Add(name=f"{tag}_res")([i, h])),
                   name=tag)


def _embedded(k: Any, dtype: str | None = None) -> tuple[Any, Any]:
    ids = k.Input((None,), dtype="int32", name="ids")
    return ids, k.layers.Embedding(VOCAB, WIDTH, mask_zero=True, name="emb", **({"dtype": dtype} if dtype else {}))(ids)


def encoder(k: Any) -> Any:
    """Embedding(mask_zero) -> nested encoder -> float32 head: the deletion stays inside the nested model."""
    ids, e = _embedded(k)
    return k.Model(ids, k.layers.Dense(2, dtype="float32", name="head")(_encoder(k, "enc")(e)))


def reads_after(k: Any, nested: Callable[[Any, str], Any] = _self_attending, dtype: str | None = None) -> Any:
    """The caller's attention runs after the nested one (shallower in Keras's run order) on the embedding: float32,
    it reads no mask (the nested attention deleted it on that tensor), its pooling the recorded one; mixed_float16,
    the nested model got a cast copy and the caller's attention reads the mask."""
    L = k.layers
    ids, e = _embedded(k, dtype)
    pooled = L.Dense(3, name="d2")(L.Dense(WIDTH, name="d1")(nested(k, "inner")(e)))
    after = L.GlobalAveragePooling1D(dtype="float32", name="pool")(L.MultiHeadAttention(2, 4, name="after")(e, e))
    return k.Model(ids, [L.Dense(3, dtype="float32", name="head")(pooled),
                         L.Dense(2, dtype="float32", name="head2")(after)])


def set_then_deleted(k: Any) -> Any:
    """An attention of the caller deletes the mask first (deepest), the nested model sets its recorded mask on the
    tensor again and its attention deletes it once more: the caller's later attention still reads none."""
    L = k.layers
    ids, e = _embedded(k)
    before = L.GlobalAveragePooling1D(name="pool_b")(
        L.Dense(3, name="b2")(L.Dense(3, name="b1")(L.Dense(3, name="b0")(L.MultiHeadAttention(2, 4, name="before")(
            e, e)))))
    nested = L.Dense(3, name="d2")(L.Dense(WIDTH, name="d1")(_self_attending(k, "inner")(e)))
    after = L.GlobalAveragePooling1D(dtype="float32", name="pool")(L.MultiHeadAttention(2, 4, name="after")(e, e))
    return k.Model(ids, [before, nested, after])


def linear_alias(k: Any) -> Any:
    """No nesting: a float32 Embedding, a mixed_float16 linear Activation (a new float16 copy, not the embedding
    itself), an attention on it, ``Add([e, h])``: the attention deletes the copy's mask, the Add keeps e's (review R1,
    session 26: before, the Add carried none and the pooling averaged the padding)."""
    L = k.layers
    ids, e = _embedded(k, "float32")
    a = L.Activation("linear", name="lin")(e)
    h = L.MultiHeadAttention(2, 4, name="mha")(a, a)
    pooled = L.GlobalAveragePooling1D(dtype="float32", name="gap")(L.Add(name="res")([e, h]))
    return k.Model(ids, L.Dense(3, dtype="float32", name="head")(pooled))


def converted_identity(k: Any) -> Any:
    """Nested models returning their input (a Functional's float16 Input; a Sequential's float16 Dropout, which casts
    its float32 Input; a Sequential holding a float16-Input model, review R8) on a float32 embedding: each output is a new float16 tensor, so the float16 attentions on
    them delete those ones' masks and ``Add([e, ...])`` keeps e's (the lowering followed each back to e before,
    session 26: either alone gave wrong numbers)."""
    L = k.layers
    ids, e = _embedded(k)
    i = k.Input((None, WIDTH), dtype="float16", name="id_in")
    o = k.Model(i, L.Dropout(0.1, dtype="float16", name="id_drop")(i), name="ident")(e)
    s = k.Sequential([k.Input((None, WIDTH)), L.Dropout(0.1, dtype="float16", name="sq_drop")], name="sq")(e)
    fi = k.Input((None, WIDTH), dtype="float16", name="fi_in")  # a Sequential holding a float16-Input model (R8)
    q = k.Sequential([k.Input((None, WIDTH)), k.Model(fi, L.Dropout(0.1, dtype="float16", name="fi_drop")(fi),
                                                      name="fn")], name="sq2")(e)
    h = L.MultiHeadAttention(2, 4, dtype="float16", name="mha")(o, o)
    g = L.MultiHeadAttention(2, 4, dtype="float16", name="sq_mha")(s, s)
    f = L.MultiHeadAttention(2, 4, dtype="float16", name="sq2_mha")(q, q)
    pooled = L.GlobalAveragePooling1D(name="gap")(L.Add(name="res")([e, h, g, f]))
    return k.Model(ids, L.Dense(3, name="head")(pooled))


FAMILIES = {"encoder": encoder, "reads_after": reads_after, "set_then_deleted": set_then_deleted}
POLICIES = {"f32": "float32", "mf16": "mixed_float16"}
NAMES = {f"{family}_{tag}": (lambda k, f=build, p=policy: _policy(k, p, lambda: f(k)))
         for family, build in FAMILIES.items() for tag, policy in POLICIES.items()
         if not (family == "set_then_deleted" and tag == "mf16")}
#: Cast copies (review R1): one conversion each, ``.keras`` only; the float16 numbers take float16's tolerance.
CAST = {"reads_after_dropout_mf16": lambda k: _policy(k, "mixed_float16",
                                                      lambda: reads_after(k, _dropout_attending, "float32")),
        "reads_after_half_input_f16": lambda k: reads_after(k, _half_input_attending),
        "linear_alias_mf16": lambda k: _policy(k, "mixed_float16", lambda: linear_alias(k)),
        "converted_identity_f16": converted_identity}
CASES = [(name, flavor) for name in NAMES for flavor in ("keras3.keras", "keras3.h5")] + \
    [(name, "keras3.keras") for name in CAST]
NAMES.update(CAST)


def _inputs(model: Any, rng: np.random.Generator, steps: int) -> dict[str, np.ndarray]:
    """Ids padded at the end, fully padded, padded at the start and inside."""
    ids = rng.integers(1, VOCAB, (3, steps)).astype("int32")
    ids[0, steps - 2:] = 0
    ids[1, :] = 0
    ids[2, :2] = ids[2, 3] = 0
    return {"ids": ids}


converted = converted_fixture("k26_nested_deleted_masks", CASES,
                              two_size_saver(NAMES, at_runs(_inputs, [(6,), (9,)]), seed=26))


@pytest.mark.node
@each_case(CASES)
def test_masks_an_attention_inside_a_nested_model_deletes_match_keras(converted, tfjs_runtime, family, flavor):
    """float32 within 1e-5 of the largest value; mixed_float16 and float16 layers within float16's precision (1e-2,
    as the float16 tests)."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, runs, _ = converted[(family, flavor)]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    tolerance = {"rtol": 1e-2, "elem_floor": 1e-2} if family.endswith("f16") else {"rtol": 1e-5}
    for inputs, outputs in runs:
        report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("cpu", "wasm"),
                              quiet=True, **tolerance)
        assert report.passed, format_report(report)


def test_the_caller_follows_the_nested_deletion(monkeypatch):
    """The float32 models take the new path: the caller's later attention reads the embedding unmasked (the nested
    call deleted it, :meth:`MaskDeletions.unseen`); under mixed_float16 the nested model deletes a cast copy."""
    from tfjsconv.plugins.keras.lowering.model_plan import MaskDeletions

    seen: dict[str, list[str]] = {}
    original = MaskDeletions.unseen

    def spy(self, call, refs):
        found = original(self, call, refs)
        if found:
            seen[call.name] = sorted(r[0] for r in found)
        return found

    monkeypatch.setattr(MaskDeletions, "unseen", spy)  # watches the real rule, changes nothing
    for name in ("reads_after_f32", "set_then_deleted_f32", "encoder_f32"):
        assert layer_gaps_of(NAMES[name](keras)) == [], name
    assert seen.get("after") == ["emb"], seen
    seen.clear()
    assert layer_gaps_of(NAMES["reads_after_mf16"](keras)) == []
    assert "after" not in seen, seen

