"""Keras 3's MultiHeadAttention deletes its inputs' masks when it runs (issue 16).

Its ``call`` sets the query's, value's and key's masks to None on the tensors it is given. Building and loading a
model never run ``call``, so the masks Keras records for later calls (``kwargs.mask``) keep them; calls without a
recorded mask (attention layers, merges) read the run-time mask: none when they run after the attention (they read
its output), the mask when they run before (the attention reads theirs). ``Dropout`` at inference returns its input
itself, so a mask deleted through it is deleted on its input too. tf_keras deletes nothing. Each model is Keras's own
(``model(x, training=False)``, the same as the saved file loaded again), converted with TensorFlow, Keras and tf_keras
poisoned, run in TF.js (cpu, wasm) on a batch with a fully masked row and on a batch of one.
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
from test_keras_lowering import _module, case_file  # noqa: E402

STEPS, WIDTH = 6, 8


def _embedded(k, ids=None, name: str = "emb"):
    ids = k.Input((STEPS,), dtype="int32", name="ids") if ids is None else ids
    return ids, k.layers.Embedding(11, WIDTH, mask_zero=True, name=name)(ids)


def _mha(k, name):
    return k.layers.MultiHeadAttention(2, 4, name=name)


def post_norm(k):
    """A post-norm Transformer block, then a second attention: the residual Add runs after the first attention, so
    (Keras 3) it sees no mask on the embedding and its output carries none; the second attention attends to every
    step. The pooling's recorded mask keeps the padding out. Beside it, a two-block encoder (feed-forward too)."""
    L = k.layers
    ids, x = _embedded(k)
    y = L.LayerNormalization(name="norm")(L.Add(name="residual")([x, _mha(k, "mha")(x, x)]))
    b = _mha(k, "mha2")(y, y)
    z = L.Add(name="residual2")([y, b])
    _, e = _embedded(k, ids, "emb_encoder")
    for block in range(2):  # an encoder: attention and feed-forward, each through a Dropout into a residual Add
        a = L.Dropout(0.1, name=f"drop_a{block}")(_mha(k, f"encoder_mha{block}")(e, e))
        e = L.LayerNormalization(name=f"norm_a{block}")(L.Add(name=f"residual_a{block}")([e, a]))
        f = L.Dense(WIDTH, name=f"ff_out{block}")(L.Dense(16, activation="relu", name=f"ff_in{block}")(e))
        e = L.LayerNormalization(name=f"norm_f{block}")(L.Add(name=f"residual_f{block}")([e, L.Dropout(
            0.1, name=f"drop_f{block}")(f)]))
    return k.Model(ids, [L.GlobalAveragePooling1D(name="pool")(z), L.Dense(3, name="head")(b),
                         L.GlobalAveragePooling1D(name="encoder_pool")(e), L.Dense(3, name="encoder_head")(e)])


def readers_of_the_attention(k):
    """Readers that run before and after the attention because one reads the other's output: a projection the
    attention reads as its query (before: masked) and its residual (after: unmasked); and an attention reading the
    embedding through a Dropout, which returns the embedding itself, so the residual of the embedding sees its mask
    deleted too; a Concatenate after the attention, whose run-time mask is another one than recorded, read by an
    LSTM whose recorded mask Keras uses."""
    L = k.layers
    ids, x = _embedded(k, name="emb_q")
    q = L.Dense(WIDTH, name="q")(x)
    s = L.Add(name="residual_q")([q, _mha(k, "mha_q")(q, x)])
    _, e = _embedded(k, ids, "emb_drop")
    d = L.Dropout(0.1, name="drop")(e)
    y = L.Add(name="residual_drop")([e, _mha(k, "mha_drop")(d, d)])
    _, c = _embedded(k, ids, "emb_cat")
    cat = L.Concatenate(name="cat")([c, _mha(k, "mha_cat")(c, c)])  # its run-time mask: all-True for the embedding
    return k.Model(ids, [_mha(k, "after_q")(s, s), L.LSTM(3, name="lstm")(s), _mha(k, "after_drop")(y, y),
                         L.LSTM(3, name="lstm_cat")(cat)])


def run_order(k):
    """Readers that run before or after the attention by Keras's depth order alone: two attentions over one
    embedding at one depth (the one the Add reads first runs first, the other sees no mask; both orders), and a Dense
    beside the attention feeding another attention (the deeper of the two, with more calls after it, runs first)."""
    L = k.layers
    ids, x = _embedded(k, name="emb_ab")
    ab = L.Add(name="sum_ab")([_mha(k, "mha_a")(x, x), _mha(k, "mha_b")(x, x)])
    _, x = _embedded(k, ids, "emb_dc")
    c, d = _mha(k, "mha_c")(x, x), _mha(k, "mha_d")(x, x)
    dc = L.Add(name="sum_dc")([d, c])
    outputs = [ab, dc]
    for attention_deeper in (False, True):
        tag = "after" if attention_deeper else "first"
        _, x = _embedded(k, ids, f"emb_{tag}")
        a = _mha(k, f"mha_{tag}")(x, x)
        side = L.Dense(WIDTH, name=f"side_{tag}")(x)
        if attention_deeper:
            a = L.Dense(3, name="head")(L.LayerNormalization(name="norm")(a))
        else:
            side = L.Dense(WIDTH, name="side2")(side)
        outputs += [a, _mha(k, f"late_{tag}")(side, side)]
    return k.Model(ids, outputs)


FAMILIES = {"post_norm": post_norm, "readers": readers_of_the_attention, "run_order": run_order}
CASES = [("post_norm", "keras3.keras"), ("post_norm", "keras3.h5"), ("post_norm", "tf_keras.h5"),
         ("readers", "keras3.keras"), ("run_order", "keras3.keras"), ("run_order", "tf_keras.h5")]


def _ids(seed: int) -> np.ndarray:
    """Three rows: padded at the end, padded at the start and inside, fully padded."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 11, (3, STEPS)).astype("int32")
    ids[0, 4:] = 0
    ids[1, :2] = ids[1, 3] = 0
    ids[2] = 0
    return ids


def _save(family: str, flavor: str, folder: Path):
    """The model, saved; Keras's outputs for a batch of three and a batch of one, the same for the file loaded
    again (where Keras can load it)."""
    k = _module(flavor)
    model = FAMILIES[family](k)
    randomize(model, 5)
    ids = _ids(6)
    path = case_file(folder, family, flavor)
    # Keras 3 cannot load its own .h5 of a model with mask ops (``Unknown layer``)
    load = None if flavor == "keras3.h5" else k.models.load_model
    return path, saved_runs(model, path, [{"ids": ids}, {"ids": ids[1:2]}], load), None


converted = converted_fixture("k23_mha_deleted_masks", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_masks_the_attention_deleted_match_keras(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_the_run_order_is_keras_3s():
    """The order the lowering reads from the config is the one Keras 3's Functional model runs its nodes in (its
    layers and the mask ops it records)."""
    from tfjsconv.plugins.keras.configs import plain
    from tfjsconv.plugins.keras.lowering.model_plan import keras3_run_order, model_plan
    from tfjsconv.plugins.keras.op_calls import with_plain_op_nodes

    for family in FAMILIES:
        model = FAMILIES[family](keras)
        plan = model_plan(plain(with_plain_op_nodes(json.loads(model.to_json()))), source="test")
        order = keras3_run_order(plan)
        assert order is not None
        ran = [node.operation.name for depth in sorted(model._nodes_by_depth, reverse=True)
               for node in model._nodes_by_depth[depth] if not node.is_input]
        mine = [name for name, _ in sorted(order, key=order.get) if name in ran]  # layers and mask ops
        assert mine == [n for n in ran if n in mine], family
        assert len(mine) == len(ran) >= len(model.layers) - 1, family  # every node, the mask ops too
