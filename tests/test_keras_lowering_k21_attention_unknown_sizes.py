"""Attention over inputs of unknown sizes beyond the rank-3 default (issue 16): MultiHeadAttention with other
``attention_axes`` or a rank-4+ query, Attention / AdditiveAttention on a query whose last axis is unknown.

Each model is Keras's own ``model(x, training=False)`` at two sizes (batch 2, then batch 1 with other heights,
widths and lengths), saved by Keras 3 (``.keras``) and tf_keras (``.h5``), converted once with TensorFlow, Keras and
tf_keras poisoned and the default backends' contract (cpu, wasm, webgl), then fed both sizes in real TF.js (cpu,
wasm). Keras's causal mask over an attention axis other than 1 lines up with that axis only when it is as long as
axis 1 (Keras raises otherwise), so those models are fed square grids.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import batched, two_size_saver, verify_last_run_on_webgl, verify_runs  # noqa: E402
from test_keras_lowering import saved_and_converted  # noqa: E402


def _mha(k, heads, key_dim, name, **options):
    return k.layers.MultiHeadAttention(heads, key_dim, name=name, **options)


def grids(k):
    """Rank-4 queries of unknown height and width: attention over axis 2, axis 1, both (in both orders), the
    rank-4 default; cross attention to a grid of other sizes, a key other than the value, ``value_dim``,
    ``output_shape``, dropout, no bias, returned scores (Keras's layout); causal over axis 1 and axis 2 (square
    grids), a grid whose width is known; Keras 3's ``use_gate`` and ``sliding_window``."""
    L = k.layers
    grid, other = k.Input((None, None, 6), name="grid"), k.Input((None, None, 5), name="other")
    square = k.Input((None, None, 4), name="square")
    narrow = k.Input((None, 2, 3), name="narrow")  # [B, T, 2, 3] (random bench row tf_keras_h5-200100)
    key = L.Dense(4, name="key_features")(other)
    causal = {"use_causal_mask": True}
    outputs = [
        _mha(k, 2, 3, "over_w", attention_axes=(2,))(grid, grid),
        _mha(k, 1, 3, "over_h", value_dim=2, attention_axes=1)(grid, grid),
        _mha(k, 2, 2, "over_hw_cross", attention_axes=(1, 2), output_shape=(2, 3))(grid, other, key=key),
        *_mha(k, 2, 2, "over_wh_scores", attention_axes=(2, 1), dropout=0.3)(grid, other,
                                                                            return_attention_scores=True),
        _mha(k, 2, 2, "default_rank4", use_bias=False)(grid, other),
        *_mha(k, 2, 3, "over_w_scores", attention_axes=(2,))(grid, grid, return_attention_scores=True),
        _mha(k, 2, 3, "over_h_causal", attention_axes=(1,))(grid, grid, **causal),
        *_mha(k, 2, 3, "over_w_causal", attention_axes=(2,))(square, square, return_attention_scores=True,
                                                              **causal),
        _mha(k, 2, 2, "narrow_causal", attention_axes=[1])(narrow, narrow, **causal),
    ]
    if k is keras:
        outputs.append(_mha(k, 2, 3, "gated_window", attention_axes=(2,), use_gate=True, sliding_window=2)(
            square, square))
        outputs.append(_mha(k, 2, 3, "gated_over_hw", attention_axes=(1, 2), use_gate=True)(grid, other))
    return k.Model([grid, other, square, narrow], outputs)


def volumes(k):
    """Rank-5 queries of unknown sizes: attention over axes (1, 3) and (2, 3) (the others folded into the batch),
    the default (all three), returned scores. (A mask over rank-6 scores fails in TensorFlow's oneDNN Softmax.)"""
    volume = k.Input((None, None, None, 4), name="volume")
    outputs = [
        *_mha(k, 2, 2, "volume_13", attention_axes=(1, 3))(volume, volume, return_attention_scores=True),
        _mha(k, 1, 3, "volume_23", attention_axes=(2, 3), output_shape=(2,))(volume, volume),
        _mha(k, 2, 2, "volume_default")(volume, volume),
    ]
    return k.Model([volume], outputs)


def heads(k):
    """Attention over the heads axis of the projections (Keras 3's ``rank - 1`` or ``-1``, tf_keras's ``rank - 1``
    or ``-2``) over unknown sizes: alone (scores returned), with another axis (``output_shape``, Keras 3's
    ``use_gate``), on a rank-3 query (returned scores or dropout: Keras 3's explicit path), on a rank-5 query with
    scores, causal (Keras lines axis 1 up with the heads: fed as long as the heads)."""
    grid, seq = k.Input((None, None, 6), name="grid"), k.Input((None, 6), name="seq")
    four = k.Input((None, None, 6), name="four")  # axis 1 as long as the 4 heads
    volume = k.Input((None, None, None, 4), name="volume")
    heads_axis = (-1,) if k is keras else (-2,)
    outputs = [
        *_mha(k, 2, 3, "over_heads", attention_axes=heads_axis)(grid, grid, return_attention_scores=True),
        _mha(k, 3, 2, "w_and_heads", attention_axes=(2, 3), output_shape=(5,),
             **({"use_gate": True} if k is keras else {}))(grid, grid),
        *_mha(k, 2, 3, "seq_heads_scores", attention_axes=(2,))(seq, seq, return_attention_scores=True),
        _mha(k, 2, 3, "seq_heads_dropout", attention_axes=(2,), dropout=0.2)(seq, seq),
        _mha(k, 4, 2, "causal_heads", attention_axes=(3,))(four, four, use_causal_mask=True),
        *_mha(k, 2, 2, "volume_heads", attention_axes=(1, 4))(volume, volume, return_attention_scores=True),
    ]
    return k.Model([grid, seq, four, volume], outputs)


def luong_bahdanau(k):
    """Attention (``dot`` scaled or not, ``concat``) and AdditiveAttention without a scale on a query and key whose
    last axis is unknown (the scores of another attention: random bench rows keras3_h5-200059 and -200121): causal,
    returned scores, a value of known width, a Keras mask on the value."""
    L = k.layers
    seq, other = k.Input((None, 3), name="seq"), k.Input((None, 3), name="other")
    scores = L.Attention(name="first")([seq, other], return_attention_scores=True)[1]  # [B, T, S]: S unknown
    self_scores = L.Attention(name="self")([other, other], return_attention_scores=True)[1]  # [B, S, S]
    causal = {"use_causal_mask": True}
    outputs = [
        L.Attention(name="dot")([scores, self_scores]),
        L.Attention(use_scale=True, name="dot_scaled_causal")([scores, self_scores], **causal),
        *L.Attention(score_mode="concat", name="concat_scores")([scores, self_scores],
                                                                return_attention_scores=True),
        L.AdditiveAttention(use_scale=False, name="additive")([scores, self_scores]),
        *L.AdditiveAttention(use_scale=False, name="additive_causal")([scores, self_scores],
                                                                      return_attention_scores=True, **causal),
        L.AdditiveAttention(use_scale=False, name="additive_value")([scores, other, self_scores]),
        L.Attention(name="dot_masked_value")([scores, L.Masking(name="masking")(other), self_scores]),
    ]
    return k.Model([seq, other], outputs)


FAMILIES = {"grids": grids, "volumes": volumes, "heads": heads, "luong_bahdanau": luong_bahdanau}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")]
#: (batch, height or length, width, other height, other width, square side) of the two runs of one converted model.
RUNS = [(2, 3, 4, 2, 5, 3), (1, 4, 2, 3, 2, 4)]


def _inputs(model, family: str, rng: np.random.Generator):
    """The inputs of each of :data:`RUNS` (a zero step in the sequence Masking reads)."""
    for batch, height, width, other_height, other_width, side in RUNS:
        sizes = {"grid": (height, width), "other": (other_height, other_width), "square": (side, side),
                 "narrow": (height, 2), "volume": (height, width, side), "seq": (height,), "other_seq": (width,),
                 "four": (4, width)}
        inputs = {}
        for t in model.inputs:
            name = t.name.split(":")[0]
            sequence = name == "other" and len(t.shape) == 3
            value = rng.standard_normal((batch, *sizes["other_seq" if sequence else name], int(t.shape[-1])))
            if sequence:
                value[0, -1] = 0.0  # a step Masking drops
            inputs[name] = value.astype("float32")
        yield inputs


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return batched(saved_and_converted(tmp_path_factory, "attention_unknown_sizes", CASES,
                                       two_size_saver(FAMILIES, _inputs, seed=31)))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_attention_over_unknown_sizes_matches_keras_at_two_sizes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    out = Path(f"{path}.out")
    ops = {n["op"] for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]}
    assert "Einsum" not in ops and "Shape" in ops, ops
    verify_runs(path, runs)


@pytest.mark.node
@pytest.mark.parametrize("family", ["grids", "heads", "luong_bahdanau"])
def test_attention_over_unknown_sizes_runs_on_webgl(converted, browser, family):
    """The folds, run-time shapes and bands stay at rank 4 or less where webgl needs it (at one size)."""
    path, runs, _ = converted[(family, "keras3.keras")]
    verify_last_run_on_webgl(path, runs, browser)


def _grid(k):
    return k.Input((None, None, 6), name="grid")


def _causal_over_two_axes(k):
    grid = _grid(k)
    return k.Model(grid, _mha(k, 2, 3, "causal_hw", attention_axes=(1, 2))(grid, grid, use_causal_mask=True))


REFUSED = [
    # Keras 3 expands a [1, T, S] mask at -5 for two attention axes when called (out of range: tf_keras raises
    # building the model already)
    (_causal_over_two_axes, r"'causal_hw' \(MultiHeadAttention\): a causal or sliding-window mask \[1, T, S\] over "
                            r"attention_axes=\[1, 2\], which Keras expands at axis -5 \(Keras raises\)"),
    # (masks over other attention axes of unknown sizes lower now: test_keras_lowering_k25_attention_masks_*)
]
REFUSED_CASES = [(build, needle, flavor) for build, needle in REFUSED for flavor in ("keras3.keras", "tf_keras.h5")
                 if build is not _causal_over_two_axes or flavor.startswith("keras3")]


@pytest.mark.parametrize("build,needle,flavor", REFUSED_CASES,
                         ids=[f"{b.__name__.strip('_')}-{f}" for b, _, f in REFUSED_CASES])
def test_what_needs_static_sizes_stays_refused_by_name(tmp_path, flavor, build, needle):
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
