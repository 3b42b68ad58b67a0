"""Review of attention over unknown sizes (K21): the cases its tests left out, each against Keras at two sizes.

Cross attention over a rank-4 grid with a causal band whose query and value lengths differ, Keras 3's
``sliding_window`` with a query longer than the value (fully masked rows: Keras 3's Softmax zeroes them), a causal
band over axis 2 whose axis 1 is 1 at run time (Keras broadcasts the ``[1, 1, S0]`` band over the query steps);
attention over the heads axis with another axis in both orders and over three axes (returned scores in Keras's
layout, ``value_dim``, ``output_shape``, Keras 3's ``use_gate``); a query of static sizes against a value of unknown
sizes, and one layer called on a static and on an unknown-size grid. Keras 3 ``.keras`` and ``.h5``, tf_keras
``.h5``; one converted model fed batch 2 then batch 1 with other sizes, cpu and wasm.
"""
from __future__ import annotations

import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, normal_inputs_at, two_size_saver, verify_runs  # noqa: E402


def _mha(k, heads, key_dim, name, **options):
    return k.layers.MultiHeadAttention(heads, key_dim, name=name, **options)


def bands(k):
    """Causal and sliding-window bands over one attention axis of rank-4 grids of unknown sizes."""
    grid, other = k.Input((None, None, 4), name="grid"), k.Input((None, None, 4), name="other")
    thin = k.Input((None, None, 4), name="thin")  # axis 1 is 1 or as long as axis 2 (Keras lines the band up)
    outputs = [
        _mha(k, 2, 3, "cross_causal_h", attention_axes=(1,))(grid, other, use_causal_mask=True),
        _mha(k, 2, 3, "thin_causal_w", attention_axes=(2,))(thin, thin, use_causal_mask=True),
    ]
    if k is keras:  # a query longer than the value: rows past the window see no key
        outputs.append(_mha(k, 2, 3, "window_h", attention_axes=(1,), sliding_window=1)(grid, other))
        outputs.append(_mha(k, 2, 3, "window_causal_h", attention_axes=(1,), sliding_window=2)(
            grid, other, use_causal_mask=True))
    return k.Model([grid, other, thin], outputs)


def heads_orders(k):
    """Attention over the heads axis with another axis, in both orders, and over three axes; returned scores."""
    grid, other = k.Input((None, None, 6), name="grid"), k.Input((None, None, 6), name="other")
    gate = {"use_gate": True} if k is keras else {}
    return k.Model([grid, other], [
        *_mha(k, 2, 2, "heads_then_w", attention_axes=(3, 2))(grid, other, return_attention_scores=True),
        *_mha(k, 3, 2, "heads_then_h", attention_axes=(3, 1), value_dim=3, output_shape=(2, 2), **gate)(
            grid, grid, return_attention_scores=True),
        *_mha(k, 2, 2, "h_heads_w", attention_axes=(1, 3, 2), use_bias=False)(grid, other,
                                                                            return_attention_scores=True),
    ])


def static_and_unknown(k):
    """A query of static sizes against a value of unknown sizes; one layer called on a static and an unknown grid."""
    fixed, grid = k.Input((3, 4, 6), name="fixed"), k.Input((None, None, 6), name="grid")
    shared = _mha(k, 2, 3, "shared_w", attention_axes=(2,))
    return k.Model([fixed, grid], [
        *_mha(k, 2, 3, "fixed_hw", attention_axes=(1, 2))(fixed, grid, return_attention_scores=True),
        _mha(k, 2, 2, "fixed_wh", attention_axes=(2, 1), dropout=0.1)(fixed, grid),
        shared(fixed, fixed), shared(grid, grid),
    ])


FAMILIES = {"bands": bands, "heads_orders": heads_orders, "static_and_unknown": static_and_unknown}
#: Each run's input shapes (batch 2, then batch 1 with other sizes), in the model's input order.
SIZES = {
    "bands": [[(2, 3, 4, 4), (2, 5, 4, 4), (2, 1, 3, 4)], [(1, 6, 2, 4), (1, 2, 2, 4), (1, 4, 4, 4)]],
    "heads_orders": [[(2, 3, 4, 6), (2, 3, 2, 6)], [(1, 2, 1, 6), (1, 2, 3, 6)]],
    "static_and_unknown": [[(2, 3, 4, 6), (2, 2, 5, 6)], [(1, 3, 4, 6), (1, 4, 1, 6)]],
}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")] + [
    ("bands", "keras3.h5")]

converted = converted_fixture("k21_review", CASES, two_size_saver(FAMILIES, normal_inputs_at(SIZES), seed=41))


@pytest.mark.node
@each_case(CASES)
def test_attention_over_unknown_sizes_matches_keras_in_more_layouts(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def _other_rows(k):
    """Cross attention whose other (non-attention) axes are unknown in query and value: over axis 2 of a grid, and
    over the heads axis of a sequence (Keras 3's explicit path: dropout)."""
    grid, other = k.Input((None, None, 4), name="grid"), k.Input((None, None, 4), name="other")
    seq, memory = k.Input((None, 6), name="seq"), k.Input((None, 6), name="memory")
    return k.Model([grid, other, seq, memory], [
        _mha(k, 2, 3, "over_w", attention_axes=(2,))(grid, other),
        _mha(k, 2, 3, "over_heads", attention_axes=(2,), dropout=0.2)(seq, memory),
    ])


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_other_axes_of_length_1_beside_n_fail_as_in_keras(tmp_path, tfjs_runtime, flavor):
    """Keras's einsums raise when the query's other axes (merged into the batch) are 3 long and the value's 1, at
    batch 1; TF.js's BatchMatMul would broadcast the 1, so the converted model must fail too, and still match Keras
    where the sizes agree."""
    import numpy as np

    import tfjsconv
    from keras_two_sizes import keras_outputs
    from test_keras_lowering import _module, _verify
    from tfjsconv.verify.compare import crash_text, verify_model

    k = _module(flavor)
    model = _other_rows(k)
    rng = np.random.default_rng(5)
    path = tmp_path / f"model{flavor[flavor.index('.'):]}"
    model.save(path)
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    agreeing = {name: rng.standard_normal(shape).astype("float32") for name, shape in
                (("grid", (1, 3, 4, 4)), ("other", (1, 3, 5, 4)), ("seq", (1, 3, 6)), ("memory", (1, 3, 6)))}
    _verify(tmp_path / "out", agreeing, keras_outputs(model, agreeing))
    for name in ("other", "memory"):  # one input's other axis 1 long
        inputs = dict(agreeing, **{name: agreeing[name][:, :1]})
        with pytest.raises(Exception):  # noqa: B017 (TensorFlow's InvalidArgumentError)
            keras_outputs(model, inputs)
        report = verify_model(tmp_path / "out", inputs, {n: np.zeros(1, "float32") for n in ("over_w", "over_heads")},
                              backends=("cpu", "wasm"), quiet=True)
        assert set(report.crashes) == {"cpu", "wasm"}, report
        assert all("must match the product of shape" in crash_text(run) for run in report.crashes.values())
