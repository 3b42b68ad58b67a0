"""MultiHeadAttention masks over other ``attention_axes`` and rank-4+ queries of unknown sizes (issue 16).

Keras ANDs an ``attention_mask``, the query's / value's Keras masks and the causal band with broadcasting, expands
the result at ``-2·len(attention_axes) - 1`` and lets its Softmax broadcast it against the scores: over unknown
sizes the converted model does the same at run time (``LogicalAnd``, ``ExpandDims``, ``BroadcastTo`` the scores'
run-time shape), so one model serves every size. Where Keras lines a mask axis up with a scores axis of another
meaning (a Keras mask over ``attention_axes=(1,)``), it works only when those sizes agree: such models are fed square
grids (batch 2 beside 2 heads for a per-head mask beside a Keras mask).

Each model is Keras's own ``model(x, training=False)`` at two sizes (batch 2, then batch 1 with other sizes), with
fully masked query rows, saved by Keras 3 (``.keras``) and tf_keras (``.h5``), converted once with TensorFlow, Keras
and tf_keras poisoned and the default backends' contract (cpu, wasm, webgl), then fed both sizes in real TF.js
(cpu, wasm).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import batched, each_case, two_size_saver, verify_last_run_on_webgl, verify_runs  # noqa: E402
from test_keras_lowering import saved_and_converted  # noqa: E402


def _mha(k, heads, key_dim, name, **options):
    return k.layers.MultiHeadAttention(heads, key_dim, name=name, **options)


def grids(k):
    """Rank-4 queries of unknown height and width: an ``attention_mask`` ``[B, H, W, W']`` over axis 2 (bool, and
    in Keras 3 a float one, nonzero kept; returned scores, dropout's path), a ``[B, H, W, H', W']`` one over both
    axes, a masked key, Keras masks (``Masking``) on query and value over axis 2 and over axis 1 (square grids: tf_keras lines the
    query mask's rows up with the value mask's, Keras 3 axis 1 with the heads' neighbour), a masked query
    with the causal mask over axis 2 (square), an ``attention_mask`` beside the causal mask over axis 2 and axis 1,
    Keras 3's ``sliding_window`` beside an ``attention_mask``, tf_keras's float mask beside a Keras mask (bool-cast)."""
    L = k.layers
    grid, square = k.Input((None, None, 6), name="grid"), k.Input((None, None, 4), name="square")
    mask_w = k.Input((None, None, None), dtype="bool", name="mask_w")
    mask_hw = k.Input((None, None, None, None), dtype="bool", name="mask_hw")
    mask_square = k.Input((None, None, None), dtype="bool", name="mask_square")
    padded = L.Masking(name="masking_square")(square)
    padded_query = L.Masking(name="masking_square_query")(square)
    padded_w = L.Masking(name="masking_square_w")(square)
    outputs = [
        _mha(k, 2, 3, "mask_over_w", attention_axes=(2,))(grid, grid, attention_mask=mask_w),
        *_mha(k, 2, 3, "mask_over_w_scores", attention_axes=(2,))(grid, grid, attention_mask=mask_w,
                                                                   return_attention_scores=True),
        _mha(k, 2, 2, "mask_over_hw", attention_axes=(1, 2))(grid, grid, attention_mask=mask_hw),
        _mha(k, 2, 3, "keras_masks_over_w", attention_axes=(2,))(padded_w, padded_w),
        _mha(k, 2, 3, "keras_masks_over_h", attention_axes=(1,))(padded, padded),
        _mha(k, 2, 3, "query_mask_causal_w", attention_axes=(2,))(padded_query, square, use_causal_mask=True),
        _mha(k, 2, 3, "mask_causal_w", attention_axes=(2,))(square, square, attention_mask=mask_square,
                                                            use_causal_mask=True),
        _mha(k, 1, 3, "mask_causal_h", attention_axes=(1,))(square, square, attention_mask=mask_square,
                                                            use_causal_mask=True),
        _mha(k, 2, 3, "key_masked_w", attention_axes=(2,))(square, square, key=L.Masking(name="masking_key")(square)),
    ]
    inputs = [grid, square, mask_w, mask_hw, mask_square]
    if k is keras:
        mask_float = k.Input((None, None, None), name="mask_float")
        inputs.append(mask_float)
        outputs.append(_mha(k, 2, 3, "float_mask_over_w", attention_axes=(2,), dropout=0.2)(
            grid, grid, attention_mask=mask_float))
        outputs.append(_mha(k, 2, 3, "window_mask_w", attention_axes=(2,), sliding_window=2)(
            square, square, attention_mask=mask_square))
    else:  # tf_keras bool-casts a float mask beside a Keras mask
        mask_float = k.Input((None, None, None), name="mask_float_square")
        inputs.append(mask_float)
        outputs.append(_mha(k, 2, 3, "float_mask_keras_w", attention_axes=(2,))(
            L.Masking(name="masking_float")(square), square, attention_mask=mask_float))
    return k.Model(inputs, outputs)


def sequences(k):
    """Rank-3 queries of unknown length: a per-head ``attention_mask`` ``[B, heads, T, S]`` beside a Keras mask
    (Keras lines the Keras mask's batch up with the heads: fed batch 2 beside 2 heads, then batch 1); Keras 3's
    fused attention with ``attention_axes=(1, 2)`` (it expands a mask at -5: a per-head mask needs none)."""
    L = k.layers
    seq = k.Input((None, 8), name="seq")
    per_head = k.Input((2, None, None), dtype="bool", name="mask_heads")
    outputs = [_mha(k, 2, 4, "per_head_keras_mask")(L.Masking(name="masking")(seq), seq, attention_mask=per_head)]
    if k is keras:
        outputs.append(_mha(k, 2, 4, "fused_two_axes", attention_axes=(1, 2))(seq, seq, attention_mask=per_head))
    return k.Model([seq, per_head], outputs)


def volumes(k):
    """A rank-5 query of unknown sizes attending over axes (2, 3) with an ``attention_mask`` ``[B, D, H, W, H', W']``:
    Keras's scores are rank 7 (the mask reaches them by ``BroadcastTo``, then folds to rank 4). (Over one axis of a
    rank-5 query, the Softmax of Keras's rank-6 scores fails in TensorFlow's oneDNN CPU kernel only:
    test_keras_lowering_rk25_attention_masks_rank6_scores computes Keras's outputs without oneDNN.)"""
    volume = k.Input((None, None, None, 4), name="volume")
    mask = k.Input((None, None, None, None, None), dtype="bool", name="mask_volume")
    return k.Model([volume, mask], _mha(k, 2, 2, "volume_23", attention_axes=(2, 3))(volume, volume,
                                                                                     attention_mask=mask))


def heads(k):
    """Attention over the heads axis of the projections (Keras 3's ``-1``, tf_keras's ``-2``) with an
    ``attention_mask`` over the heads: ``[B, H, W, heads, heads]`` on a grid of unknown sizes, ``[B, T, heads,
    heads]`` on a sequence of unknown length (returned scores: Keras 3's explicit path)."""
    grid, seq = k.Input((None, None, 6), name="grid"), k.Input((None, 6), name="seq")
    mask_grid = k.Input((None, None, 2, 2), dtype="bool", name="mask_grid_heads")
    mask_seq = k.Input((None, 2, 2), dtype="bool", name="mask_seq_heads")
    axis = (-1,) if k is keras else (-2,)
    outputs = [
        _mha(k, 2, 3, "grid_heads", attention_axes=axis)(grid, grid, attention_mask=mask_grid),
        *_mha(k, 2, 3, "seq_heads", attention_axes=axis)(seq, seq, attention_mask=mask_seq,
                                                          return_attention_scores=True),
    ]
    return k.Model([grid, seq, mask_grid, mask_seq], outputs)


def orders(k):
    """Masks where Keras's axes order and the fold's differ: attention over axes (2, 1) of a grid with a ``[B, W, H,
    W', H']`` mask, cross attention over axis 2 to a grid of another width with a ``[B, H, W, W']`` mask, a rank-5
    query over axes (1, 3) with a ``[B, D, W, D', W']`` mask (Keras expands it twice, at -5), the heads (axis 3)
    with axis 2 (``[B, H, W, heads, W', heads]``)."""
    grid, other = k.Input((None, None, 6), name="grid"), k.Input((None, None, 5), name="other")
    volume = k.Input((None, None, None, 4), name="volume")
    mask_wh = k.Input((None, None, None, None), dtype="bool", name="mask_wh")
    mask_cross = k.Input((None, None, None), dtype="bool", name="mask_cross")
    mask_13 = k.Input((None, None, None, None), dtype="bool", name="mask_13")
    mask_w_heads = k.Input((None, None, 2, None, 2), dtype="bool", name="mask_w_heads")
    outputs = [
        _mha(k, 2, 2, "over_wh", attention_axes=(2, 1))(grid, grid, attention_mask=mask_wh),
        _mha(k, 2, 3, "cross_w", attention_axes=(2,))(grid, other, attention_mask=mask_cross),
        _mha(k, 2, 2, "volume_13", attention_axes=(1, 3))(volume, volume, attention_mask=mask_13),
        _mha(k, 2, 3, "w_and_heads", attention_axes=(2, 3))(grid, grid, attention_mask=mask_w_heads),
    ]
    return k.Model([grid, other, volume, mask_wh, mask_cross, mask_13, mask_w_heads], outputs)


FAMILIES = {"grids": grids, "sequences": sequences, "volumes": volumes, "heads": heads, "orders": orders}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")]
#: (batch, height, width, square side) of the two runs of one converted model.
RUNS = [(2, 3, 4, 3), (1, 2, 5, 4)]


def _inputs(model, family: str, rng: np.random.Generator):
    """The inputs of each of :data:`RUNS`: zero positions for ``Masking`` (a whole row of the first sample, so
    some query rows keep no key at all), masks with fully masked query rows."""
    for batch, height, width, side in RUNS:
        sizes = {"grid": (height, width), "square": (side, side), "seq": (width,), "volume": (2, height, width),
                 "mask_volume": (2, height, width, height, width),
                 "mask_w": (height, width, width), "mask_hw": (height, width, height, width),
                 "mask_square": (side, side, side), "mask_float": (height, width, width), "mask_float_square": (side, side, side),
                 "mask_heads": (2, width, width), "mask_grid_heads": (height, width, 2, 2),
                 "mask_seq_heads": (width, 2, 2), "other": (height, width + 1),
                 "mask_wh": (width, height, width, height), "mask_cross": (height, width, width + 1),
                 "mask_13": (2, width, 2, width), "mask_w_heads": (height, width, 2, width, 2)}
        inputs = {}
        for t in model.inputs:
            name = t.name.split(":")[0]
            if name.startswith("mask"):
                value = rng.random((batch, *sizes[name])) > 0.3
                value[0, ..., 0, :] = False  # a fully masked query row
                if name.startswith("mask_float"):
                    value = (value * rng.choice([1.0, 0.3, 3.0], value.shape)).astype("float32")
            else:
                value = rng.standard_normal((batch, *sizes[name], int(t.shape[-1]))).astype("float32")
                value[0, -1] = 0.0  # positions Masking drops (a whole row or step)
                if batch > 1:
                    value[1, 0, -1] = 0.0
            inputs[name] = value
        yield inputs


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return batched(saved_and_converted(tmp_path_factory, "attention_masks_unknown_sizes", CASES,
                                       two_size_saver(FAMILIES, _inputs, seed=41)))


@pytest.mark.node
@each_case(CASES)
def test_masked_attention_over_unknown_sizes_matches_keras_at_two_sizes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    out = Path(f"{path}.out")
    ops = {n["op"] for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]}
    assert "Einsum" not in ops and "Shape" in ops, ops
    verify_runs(path, runs)


@pytest.mark.node
@pytest.mark.parametrize("family", list(FAMILIES))
def test_masked_attention_over_unknown_sizes_runs_on_webgl(converted, browser, family):
    """The masks reach the scores at rank 4 where webgl needs it (``SelectV2``), at one size."""
    path, runs, _ = converted[(family, "keras3.keras")]
    verify_last_run_on_webgl(path, runs, browser)


def _keras_masks_fused_two_axes(k):
    seq = k.Input((None, 8), name="seq")
    padded = k.layers.Masking(name="masking")(seq)
    return k.Model(seq, _mha(k, 2, 4, "fused_masked", attention_axes=(1, 2))(padded, padded))


def _per_head_volume_mask(k):
    volume = k.Input((None, None, None, 4), name="volume")
    mask = k.Input((None, 2, None, None, None, None), dtype="bool", name="mask")
    return k.Model([volume, mask], _mha(k, 2, 2, "volume_per_head", attention_axes=(2, 3))(volume, volume,
                                                                                           attention_mask=mask))


REFUSED = [
    # Keras 3's fused path expands the [B, T, S] Keras mask at -5 for two configured axes: it raises when called
    (_keras_masks_fused_two_axes, "keras3.keras", r"'fused_masked' \(MultiHeadAttention\): an attention mask of "
                                                  r"shape \[None, None, None\] that Keras expands at axis -5 for 2 "
                                                  r"attention axes \(Keras raises\)"),
    # a per-head mask over Keras's rank-7 scores: its broadcast would need rank 7 (webgl stops at 6)
    (_per_head_volume_mask, "keras3.keras", r"'volume_per_head' \(MultiHeadAttention\): an attention mask spanning "
                                            r"7 axes of Keras's scores over sizes known only at run time"),
]


@pytest.mark.parametrize("build,flavor,needle", REFUSED, ids=[b.__name__.strip("_") for b, _, _ in REFUSED])
def test_what_keras_cannot_run_stays_refused_by_name(tmp_path, build, flavor, needle):
    """Refused by name, with the TensorFlow hint, and nothing written."""
    import tfjsconv
    from tfjsconv.errors import UsageError
    from test_keras_lowering import _module

    path = tmp_path / f"model{flavor[flavor.index('.'):]}"
    build(_module(flavor)).save(path)
    with pytest.raises(UsageError, match=needle) as err:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value.hint)
    assert not (tmp_path / "out").exists()
