"""Keras MultiHeadAttention masks over other ``attention_axes``, lined up with the scores as Keras does (issue 16).

Keras ANDs its mask pieces (``attention_mask``, the Keras masks of query / value / key, the causal and sliding-window
bands over axis 1) with broadcasting from the right, expands the result at axis ``-2·len(axes) - 1`` and broadcasts
it against the scores ``[B, <other axes>, heads, <query axes>, <key axes>]``: over several axes, or one axis that
is not the last, pieces land on axes that mean something else (Keras 3 and tf_keras each their own way). Whatever
Keras computes is the spec: each model is Keras's own ``model(x, training=False)`` (outputs and scores), saved by
Keras 3 (``.keras``) and tf_keras (``.h5``), converted with TensorFlow, Keras and tf_keras poisoned, run in real
TF.js (cpu, wasm; Keras 3's also on webgl). Square and cubic grids make Keras's odd alignments broadcastable.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402


def _mha(k, heads, key_dim, name, **options):
    return k.layers.MultiHeadAttention(heads, key_dim, name=name, **options)


def masks(k):
    """Keras masks over axis 1 and over axis 2 of a square grid (query and value, query only, key only), over two
    axes of a cube (scores returned; with the causal mask in Keras 3: tf_keras builds its functional model without
    the Keras masks, and its causal mask alone cannot be expanded), ``attention_mask``s of fewer axes than the scores
    ([B, T, S] over axis 1 and 2, [B, 1, T, S]; on a rank-3 query [B, 1, S] and a per-head [B, heads, T, S]),
    the causal mask with a full mask over two axes, and negative axes (Keras 3: ``rank + a``, tf_keras:
    ``rank + 1 + a``)."""
    L = k.layers
    square, padded = k.Input((4, 4, 6), name="square"), k.Input((4, 4, 6), name="padded")
    grid = k.Input((3, 4, 6), name="grid")
    cube = k.Input((3, 3, 3, 4), name="padded_cube")
    mask_ts = k.Input((4, 4), dtype="bool", name="mask_ts")
    mask_hh = k.Input((3, 3), dtype="bool", name="mask_hh")
    mask_1ts = k.Input((1, 4, 4), dtype="bool", name="mask_1ts")
    mask_full = k.Input((4, 4, 4, 4), dtype="bool", name="mask_full")

    def masked(x, name):  # one Masking per attention: Keras 3's MultiHeadAttention deletes the masks it reads
        return L.Masking(name=f"masking_{name}")(x)

    padded_key = k.Input((4, 4, 6), name="padded_key")
    seq, mask_1s = k.Input((5, 6), name="seq"), k.Input((1, 5), dtype="bool", name="mask_1s")
    mask_heads = k.Input((2, 5, 5), dtype="bool", name="mask_heads")
    inputs = [square, padded, padded_key, grid, cube, mask_ts, mask_hh, mask_1ts, mask_full, seq, mask_1s, mask_heads]
    outputs = [
        _mha(k, 2, 3, "keras_masked_h", attention_axes=(1,))(masked(padded, "h"), masked(padded, "h_value")),
        _mha(k, 2, 2, "keras_masked_w", attention_axes=(2,))(masked(padded, "w"), masked(padded, "w_value")),
        _mha(k, 2, 3, "query_masked_h", attention_axes=(1,))(masked(padded, "query"), square),
        _mha(k, 1, 3, "key_masked_h", attention_axes=(1,))(square, square, masked(padded_key, "key")),
        *_mha(k, 2, 2, "cube_causal", attention_axes=(2, 3))(masked(cube, "cube"), masked(cube, "cube_value"),
                                                               return_attention_scores=True,
                                                               use_causal_mask=k is keras),
        _mha(k, 2, 3, "partial_w", attention_axes=(2,))(grid, grid, attention_mask=mask_ts),
        _mha(k, 2, 3, "partial_h", attention_axes=(1,))(grid, grid, attention_mask=mask_hh),
        _mha(k, 2, 2, "partial_1ts", attention_axes=(2,))(square, square, attention_mask=mask_1ts),
        _mha(k, 2, 2, "causal_hw", attention_axes=(1, 2))(square, square, attention_mask=mask_full,
                                                            use_causal_mask=True),
        _mha(k, 2, 2, "negative", attention_axes=(-3,))(grid, grid),
        _mha(k, 2, 2, "negative_two", attention_axes=(-4, -3))(cube, cube),
        _mha(k, 2, 3, "seq_padding")(seq, seq, attention_mask=mask_1s),
        _mha(k, 2, 3, "seq_per_head", dropout=0.1)(seq, seq, attention_mask=mask_heads),
    ]
    if k is keras:  # Keras 3's sliding_window: a [1, T0, S0] band like the causal mask
        outputs.append(_mha(k, 2, 2, "window_hw", attention_axes=(1, 2), sliding_window=2)(
            square, square, attention_mask=mask_full))
        # fused rank-3 query: a causal mask alone goes to the kernel as is_causal (never expanded at axis -5)
        outputs.append(_mha(k, 2, 3, "seq_causal_two_axes", attention_axes=(1, 2))(seq, seq, use_causal_mask=True))
    else:  # tf_keras's where(mask, x, -1e9) before its exp(x - logsumexp(x)) over both axes
        outputs.append(_mha(k, 2, 2, "robust_hw", attention_axes=(1, 2), softmax_robust_masking=True)(
            square, square, attention_mask=mask_full))
    return k.Model(inputs, outputs)


def heads(k):
    """Attention over the heads axis (Keras 3's ``rank - 1`` or ``-1``, tf_keras's ``rank - 1`` or ``-2``): alone
    (scores returned), with another axis (and Keras 3's ``use_gate``; on a rank-5 query with scores returned), on a
    rank-3 query (Keras 3 fuses it without dropout: its fused kernel reads axis 1 as the steps whatever the axes say;
    with dropout it attends over the heads), with a ``[B, heads, heads]`` attention mask, the causal mask and Keras
    masks (as many heads as steps, where Keras's alignment broadcasts)."""
    L = k.layers
    grid, square = k.Input((3, 4, 6), name="grid"), k.Input((4, 4, 6), name="square")
    padded, seq = k.Input((4, 4, 6), name="padded"), k.Input((5, 6), name="seq")
    mask_nn = k.Input((2, 2), dtype="bool", name="mask_nn")
    volume = k.Input((2, 3, 2, 4), name="volume")  # rank 5: the projections are rank 6
    heads_axis = (-1,) if k is keras else (-2,)
    outputs = [
        *_mha(k, 2, 3, "over_heads", attention_axes=heads_axis)(grid, grid, return_attention_scores=True),
        _mha(k, 3, 2, "w_and_heads", attention_axes=(2, 3), output_shape=(5,),
                **({"use_gate": True} if k is keras else {}))(grid, grid),
        _mha(k, 2, 3, "seq_heads", attention_axes=(2,))(seq, seq),
        _mha(k, 2, 3, "seq_heads_dropout", attention_axes=(2,), dropout=0.2)(seq, seq),
        _mha(k, 2, 3, "masked_nn", attention_axes=(3,))(grid, grid, attention_mask=mask_nn),
        _mha(k, 4, 2, "causal_heads", attention_axes=(3,))(square, square, use_causal_mask=True),
        _mha(k, 4, 2, "keras_masked_heads", attention_axes=(3,))(L.Masking(name="masking_query")(padded),
                                                                 L.Masking(name="masking_value")(padded)),
        *_mha(k, 2, 2, "volume_heads", attention_axes=(1, 4))(volume, volume, return_attention_scores=True),
    ]
    return k.Model([grid, square, padded, seq, mask_nn, volume], outputs)


FAMILIES = {"masks": masks, "heads": heads}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for t in model.inputs:
        shape = (2, *tuple(t.shape)[1:])
        name = t.name.split(":")[0]
        if name.startswith("mask"):  # one position of the first sample drops every key (over two axes too)
            value = rng.random(shape) > 0.4
            value[(0,) * (len(shape) - 1)] = False
            if len(shape) >= 5:
                value[(1,) * (len(shape) - 2)] = False
        else:
            value = rng.standard_normal(shape).astype("float32")
            if name.startswith("padded"):  # Masking drops these positions
                value[:, -1, 1] = value[0, 1, 2] = value[1, 0] = 0
        inputs[name] = value
    return inputs


_save = family_saver(FAMILIES, _inputs, seed=13)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "attention_masks", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_attention_masks_over_other_axes_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


@pytest.mark.node
@pytest.mark.parametrize("family", list(FAMILIES))
def test_attention_masks_over_other_axes_run_on_webgl(converted, browser, family):
    """Every mask op stays at rank 4 (pieces spread by GatherV2, scores grouped by Reshape), so webgl runs it."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs = converted[(family, "keras3.keras")]
    out = Path(f"{path}.out")
    model = json.loads((out / "model.json").read_text())
    assert not {"Einsum", "Select"} & {n["op"] for n in model["modelTopology"]["node"]}
    names = list(model["signature"]["outputs"])
    report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                          atol=1e-6, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)
