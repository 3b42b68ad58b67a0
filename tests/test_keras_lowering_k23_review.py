"""Review of Keras 3's deleted masks (issue 16): the run order with dict outputs, tensors a nested model passes
through, a nested model setting its recorded mask again, and casts that TensorFlow answers with their input.

Keras 3 walks a Functional graph from ``tree.flatten(outputs)``: a dict's keys sorted, not in the saved order. A nested
model whose output is its input (or a Dropout of it) hands the caller's tensor object back, so a MultiHeadAttention
deleting that output's mask deletes its input's too. A nested model called with a recorded mask sets it on the
caller's tensor (``Functional.call``), undoing a deletion for the readers after it. ``tf.cast`` to the tensor's own
dtype returns the tensor itself, so its mask reaches later layers at run time though the saved graph drops it.
Expected values are Keras's own, the converted models run in TF.js (cpu, wasm).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize  # noqa: E402
from keras_two_sizes import batched, verify_runs  # noqa: E402
from test_keras_lowering import _module, case_file, layer_gaps_of, saved_and_converted  # noqa: E402

STEPS, WIDTH = 6, 8


def _ids(seed: int) -> np.ndarray:
    """Three rows: padded at the end, padded at the start and inside, fully padded."""
    ids = np.random.default_rng(seed).integers(1, 11, (3, STEPS)).astype("int32")
    ids[0, 4:] = 0
    ids[1, :2] = ids[1, 3] = 0
    ids[2] = 0
    return ids


def _passed_through(k, kind: str):
    """A nested model hands the embedding back (a Sequential Dropout, or a Functional returning its input); the
    attention reads that, and deletes the embedding's mask for the residual Add that runs after it."""
    L = k.layers
    ids = k.Input((STEPS,), dtype="int32", name="ids")
    e = L.Embedding(11, WIDTH, mask_zero=True, name="emb")(ids)
    if kind == "sequential":
        d = k.Sequential([k.Input((STEPS, WIDTH)), L.Dropout(0.1)], name="inner")(e)
    else:
        i = k.Input((STEPS, WIDTH))
        d, _ = k.Model(i, [i, L.Dense(WIDTH)(i)], name="inner")(e)
    a = L.MultiHeadAttention(2, 4, name="mha")(d, d)
    return k.Model(ids, L.GlobalAveragePooling1D(name="pool")(L.Add(name="residual")([e, a])))


FAMILIES = {"sequential": lambda k: _passed_through(k, "sequential"),
            "functional": lambda k: _passed_through(k, "functional")}
CASES = [("sequential", "keras3.keras"), ("functional", "keras3.keras")]


def _save(family: str, flavor: str, folder: Path):
    k = _module(flavor)
    model = FAMILIES[family](k)
    randomize(model, 5)
    path = case_file(folder, family, flavor)
    model.save(path)
    loaded = k.models.load_model(path)
    ids = _ids(6)
    return path, [({"ids": run}, [np.asarray(loaded(run, training=False))]) for run in (ids, ids[1:2])], None


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return batched(saved_and_converted(tmp_path_factory, "k23_review", CASES, _save))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_a_nested_model_passing_its_input_shares_the_deletion(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_a_nested_model_setting_its_recorded_mask_again_is_followed():
    """The attention deletes the embedding's mask; the nested model, called with its recorded mask, sets it on the
    embedding again; the residual Add after both sees it or not by the run order, which the walk follows (session 14;
    a gap before). Its numbers against Keras: ``set_again_read_by_a_residual_add`` in
    ``tests/test_keras_lowering_s14_deleted_masks.py``."""
    L = keras.layers
    ids = keras.Input((STEPS,), dtype="int32", name="ids")
    e = L.Embedding(11, WIDTH, mask_zero=True, name="emb")(ids)
    a = L.Dense(WIDTH, name="deep")(L.Dense(WIDTH, name="deep0")(L.MultiHeadAttention(2, 4, name="mha")(e, e)))
    n = keras.Sequential([keras.Input((STEPS, WIDTH)), L.Dense(WIDTH)], name="inner")(e)
    model = keras.Model(ids, [L.GlobalAveragePooling1D(name="pool")(L.Add(name="res")([e, n])), a])
    assert not layer_gaps_of(model), layer_gaps_of(model)


@pytest.mark.parametrize("flavor", ["keras3", "tf_keras"])
def test_a_cast_to_the_same_dtype_of_a_masked_tensor_hands_the_mask_on(flavor):
    """``cast(x, 'float32')`` of a float32 tensor is the tensor itself: the pooling averages the unpadded steps
    only (Keras and tf_keras), though the saved graph records no mask; a cast to another dtype is a new tensor.
    Keras 3's saved config tells the input's dtype, so there the mask is handed on (session 16,
    ``test_keras_lowering_s16_unknown_axes.py``); tf_keras's names the cast's dtype and the walk tracks the input's,
    so there too (session 17, ``test_keras_lowering_s17_tf_keras_masked_ops.py``)."""
    k = _module(f"{flavor}.h5")
    L = k.layers
    ids = k.Input((STEPS,), dtype="int32", name="ids")
    e = L.Embedding(11, WIDTH, mask_zero=True, name="emb")(ids)
    if flavor == "keras3":
        same, other = keras.ops.cast(e, "float32"), keras.ops.cast(e, "int32")
    else:
        import tensorflow as tf

        same, other = tf.cast(e, tf.float32), tf.cast(e, tf.int32)
    model = k.Model(ids, [L.GlobalAveragePooling1D(name="pool")(same), other])
    randomize(model, 5)
    pooled = np.asarray(model(_ids(6), training=False)[0])
    table = np.asarray(model.get_layer("emb").embeddings)
    np.testing.assert_allclose(pooled[0], table[_ids(6)[0, :4]].mean(0), rtol=1e-5, atol=1e-6)  # Keras masks
    gaps = json.dumps(layer_gaps_of(model))
    assert "TensorFlow returns the masked input tensor itself" not in gaps, gaps


def _random_graph(k, rng: random.Random):
    """Shared layers, layers called twice, nested Functional and Sequential models, attentions (by keyword too,
    with scores), a mask made by an Embedding; outputs a list or a dict whose keys are not in sorted order."""
    L = k.layers
    ids, f = k.Input((5,), dtype="int32", name="ids"), k.Input((5, 4), name="f")
    pool = [L.Embedding(7, 4, mask_zero=True, name="emb")(ids), f]
    shared: list = []
    for n in range(rng.randint(3, 12)):
        pick = lambda: rng.choice(pool)  # noqa: E731
        kind = rng.choice(["dense", "shared", "add", "mha", "mha_kw", "drop", "lstm", "nested", "seq"])
        if kind == "dense":
            pool.append(L.Dense(4, name=f"d{n}")(pick()))
        elif kind == "shared":
            shared += [] if shared else [L.Dense(4, name=f"sh{n}")]
            pool += [shared[0](pick()), shared[0](pick())]
        elif kind == "add":
            pool.append(L.Add(name=f"m{n}")([pick(), pick()]))
        elif kind == "mha":
            pool.append(L.MultiHeadAttention(1, 2, name=f"a{n}")(pick(), pick(), return_attention_scores=True)[0])
        elif kind == "mha_kw":
            pool.append(L.MultiHeadAttention(1, 2, name=f"a{n}")(query=pick(), value=pick(), key=pick()))
        elif kind == "drop":
            pool.append(L.Dropout(0.2, name=f"dr{n}")(pick()))
        elif kind == "lstm":
            pool.append(L.LSTM(4, return_sequences=True, name=f"l{n}")(pick()))
        elif kind == "nested":
            i1, i2 = k.Input((5, 4)), k.Input((5, 4))
            a = L.Dense(4)(i1)
            pool += list(k.Model([i1, i2], [L.Add()([a, i2]), a], name=f"nest{n}")([pick(), pick()]))
        else:
            inner = k.Sequential([L.Dense(4), L.Dropout(0.1)], name=f"seq{n}")
            pool += [inner(pick()), inner(pick())]
    outputs = rng.sample(pool[2:], min(len(pool) - 2, rng.randint(1, 3))) or [pool[0]]
    if rng.random() < 0.5:
        return k.Model([ids, f], {f"{'zyx'[i]}{n}": o for i, (n, o) in enumerate(zip("cab", outputs))})
    return k.Model([ids, f], outputs)


def test_the_run_order_is_keras_3s_for_random_graphs():
    """Node by node (shared layers' calls too), the order the lowering reads from the config is the one Keras 3's
    Functional model runs (``_nodes_by_depth``, deepest first)."""
    from keras.src.ops.function import make_node_key

    from tfjsconv.plugins.keras.configs import plain
    from tfjsconv.plugins.keras.lowering.model_plan import keras3_run_order, model_plan
    from tfjsconv.plugins.keras.op_calls import with_plain_op_nodes

    for seed in range(16):
        model = _random_graph(keras, random.Random(seed))
        keys = {}
        for op in model.operations:  # the config's node numbering: calls in the model, from 0
            kept = 0
            for i, node in enumerate(op._inbound_nodes):
                if make_node_key(op, i) in model._nodes:
                    keys[id(node)], kept = (op.name, kept), kept + 1
        ran = [keys[id(node)] for depth in sorted(model._nodes_by_depth, reverse=True)
               for node in model._nodes_by_depth[depth] if not node.is_input]
        plan = model_plan(plain(with_plain_op_nodes(json.loads(model.to_json()))), source="test")
        order = keras3_run_order(plan)
        assert order is not None
        assert [key for key in sorted(order, key=order.get) if key in plan.producers] == ran, seed
        keras.backend.clear_session()
