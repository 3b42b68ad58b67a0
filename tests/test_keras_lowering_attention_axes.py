"""Keras MultiHeadAttention over other ``attention_axes`` lowered to rank-≤4 TF.js ops with h5py (issue 16).

As in ``test_keras_lowering_attention.py``: small models with random weights, saved by Keras 3 (``.keras``) and
tf_keras (``.h5``), converted with TensorFlow, Keras and tf_keras poisoned (one subprocess), run in real TF.js
(cpu and wasm; one model also on webgl); expected values are Keras's own ``model(x, training=False)``, including
the attention scores in Keras's layout. A model Keras itself cannot call (masks it cannot broadcast against the
scores, an axis it cannot read) is refused by name. Masks Keras lines up with other axes of the scores and
attention over the heads: ``test_keras_lowering_attention_masks.py``.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize  # noqa: E402
from test_keras_lowering import _verify, family_saver, saved_and_converted  # noqa: E402


def _mha(k, heads, key_dim, name, **options):
    return k.layers.MultiHeadAttention(heads, key_dim, name=name, **options)


# -- models (``k`` is keras or tf_keras) ---------------------------------------------------------------------
def axes(k):
    """One non-default axis (either), two axes (in both orders), the rank-4 and rank-5 defaults, three axes, query /
    value / key of other lengths and widths, ``output_shape``, dropout, returned scores (Keras's shapes)."""
    grid = k.Input((3, 4, 6), name="grid")  # [B, H, W, C]
    rows = k.Input((3, 5, 4), name="rows")  # the same H, another W: attention over axis 2
    cols = k.Input((2, 4, 5), name="cols")  # another H, the same W: attention over axis 1
    cols_key = k.Input((2, 4, 3), name="cols_key")
    patches = k.Input((2, 5, 3), name="patches")  # another H and W: attention over (1, 2)
    volume = k.Input((2, 3, 2, 4), name="volume")  # rank 5
    over_w = _mha(k, 2, 3, "over_w", attention_axes=(2,))(grid, rows)
    over_h = _mha(k, 2, 3, "over_h", value_dim=2, attention_axes=1)(grid, cols, cols_key)
    over_hw, hw_scores = _mha(k, 3, 2, "over_hw", attention_axes=(1, 2), output_shape=(2, 3))(
        grid, patches, return_attention_scores=True)
    over_wh, wh_scores = _mha(k, 2, 2, "over_wh", attention_axes=(2, 1), dropout=0.3)(
        grid, patches, return_attention_scores=True)
    default4 = _mha(k, 2, 2, "default_rank4", use_bias=False)(grid, patches)
    default5 = _mha(k, 2, 3, "default_rank5")(volume, volume)
    outer, outer_scores = _mha(k, 2, 2, "volume_13", attention_axes=(1, 3))(volume, volume,
                                                                           return_attention_scores=True)
    return k.Model([grid, rows, cols, cols_key, patches, volume],
                   [over_w, over_h, over_hw, hw_scores, over_wh, wh_scores, default4, default5, outer, outer_scores])


def masks(k):
    """Full-shape ``attention_mask``s (one and two axes), ``use_causal_mask`` over one axis (alone, with a mask),
    Keras 3's Keras masks over the last axis (``Masking`` of query and value; with the causal and sliding-window
    masks) and negative axes."""
    grid = k.Input((3, 4, 6), name="grid")
    rows = k.Input((3, 5, 4), name="rows")
    patches = k.Input((2, 5, 3), name="patches")
    square = k.Input((4, 4, 6), name="square")  # Keras's causal mask is [axis 1, axis 1]: it must fit the scores
    mask_w = k.Input((3, 4, 5), dtype="bool", name="mask_w")
    mask_hw = k.Input((3, 4, 2, 5), dtype="bool", name="mask_hw")
    mask_sq = k.Input((4, 4, 4), dtype="bool", name="mask_sq")
    padded = k.Input((3, 4, 6), name="padded")
    outputs = [
        _mha(k, 2, 3, "masked_w", attention_axes=(2,))(grid, rows, attention_mask=mask_w),
        *_mha(k, 2, 2, "masked_hw", attention_axes=(1, 2))(grid, patches, attention_mask=mask_hw,
                                                           return_attention_scores=True),
        _mha(k, 2, 3, "causal_w", attention_axes=(2,))(square, square, use_causal_mask=True),
        _mha(k, 2, 3, "causal_h", attention_axes=(1,))(grid, grid, use_causal_mask=True),
        _mha(k, 1, 4, "causal_masked", attention_axes=(2,))(square, square, attention_mask=mask_sq,
                                                           use_causal_mask=True),
    ]
    inputs = [grid, rows, patches, square, mask_w, mask_hw, mask_sq]
    if k is keras:  # in tf_keras -2 is the heads axis and its Keras masks line up with other axes of the scores
        # (``mask[:, :, None]``), which these non-square shapes cannot broadcast: test_keras_lowering_attention_masks.py
        padded_rows = k.Input((3, 5, 4), name="padded_rows")
        inputs += [padded, padded_rows]
        outputs += [_mha(k, 2, 3, "keras_masked", attention_axes=(2,))(k.layers.Masking(name="masking")(padded),
                                                                        padded),
                    _mha(k, 2, 2, "keras_masked_both", attention_axes=(2,))(
                        k.layers.Masking(name="masking_query")(padded),
                        k.layers.Masking(name="masking_value")(padded_rows)),
                    _mha(k, 2, 2, "keras_masked_causal", attention_axes=(2,), sliding_window=2)(
                        k.layers.Masking(name="masking_square")(square), square, use_causal_mask=True),
                    _mha(k, 2, 2, "negative", attention_axes=(-2,))(grid, rows),
                    _mha(k, 2, 2, "negative_two", attention_axes=(-3, -2), use_gate=True)(grid, patches)]
    return k.Model(inputs, outputs)


FAMILIES = {"axes": axes, "masks": masks}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for t in model.inputs:
        shape = (2, *tuple(t.shape)[1:])
        name = t.name.split(":")[0]
        if name.startswith("mask"):  # every query position keeps its first key position, but one fully masked row
            value = rng.random(shape) > 0.4
            value[..., 0] = True
            value[(0,) * (len(shape) - 1)] = False
        else:
            value = rng.standard_normal(shape).astype("float32")
            if name.startswith("padded"):  # Masking drops these positions
                value[:, :, -1] = value[0, 1, 2] = 0
        inputs[name] = value
    return inputs


_save = family_saver(FAMILIES, _inputs, seed=11)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "attention_axes", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_attention_axes_lower_without_tensorflow_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


@pytest.mark.node
@pytest.mark.parametrize("family", list(FAMILIES))
def test_attention_over_other_axes_runs_on_webgl(converted, browser, family):
    """The folded attention stays at rank ≤ 4 (Transposes at rank 5–6, scores reshaped up to rank 7), so webgl runs
    it (Keras's traced einsum has a rank-5+ ``SelectV2`` webgl cannot run)."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs = converted[(family, "keras3.keras")]
    out = Path(f"{path}.out")
    nodes = json.loads((out / "model.json").read_text())["modelTopology"]["node"]
    assert not {"Einsum", "Select"} & {n["op"] for n in nodes}
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                          atol=1e-6, browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


def _with_attention_axes(saved: Path, edited: Path, saved_axes: list[int], axes: list[int]) -> Path:
    """A copy of a Keras 3 ``.keras`` file whose layer ``mha`` lists ``axes`` (it saved ``saved_axes``)."""
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(edited, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                layer = next(la for la in config["config"]["layers"] if la["name"] == "mha")
                assert layer["config"]["attention_axes"] == saved_axes
                layer["config"]["attention_axes"] = axes
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    return edited


def test_keras3_negative_axes_in_a_config_match_keras(tmp_path, tfjs_runtime):
    """Keras 3 saves the axes it normalised (``rank + a``); a config that lists them negative reads the same."""
    import tfjsconv

    grid, patches = keras.Input((3, 4, 6), name="grid"), keras.Input((2, 5, 3), name="patches")
    model = keras.Model([grid, patches], _mha(keras, 2, 3, "mha", attention_axes=(1, 2))(grid, patches))
    randomize(model, 3)
    model.save(tmp_path / "saved.keras")
    edited = _with_attention_axes(tmp_path / "saved.keras", tmp_path / "negative.keras", [1, 2], [-3, -2])
    reloaded = keras.models.load_model(edited)
    inputs = _inputs(model, 4)
    expected = np.asarray(reloaded(list(inputs.values()), training=False))
    np.testing.assert_allclose(expected, np.asarray(model(list(inputs.values()), training=False)), atol=1e-6)
    tfjsconv.convert(edited, tmp_path / "out", output_format="tfjs_graph_model")
    _verify(tmp_path / "out", inputs, [expected])


def _refusal(k, case: str):
    """Models Keras builds (Keras 3 from shapes alone, tf_keras without the Keras masks) but cannot call: its masks
    do not broadcast against the scores (it raises), or only for some batch sizes; and an axis Keras cannot read."""
    L = k.layers
    grid = k.Input((3, 4, 6), name="grid")
    if case == "causal_two_axes":  # Keras expands the [1, T0, S0] causal mask at axis -5
        return k.Model(grid, _mha(k, 2, 2, "mha", attention_axes=(1, 2))(grid, grid, use_causal_mask=True))
    if case.startswith("keras_mask"):  # [B, 3, 4, 4] lined up with scores [B, 4, heads, 3, 3] (axis 1)
        masked = L.Masking(name="masking")(grid)
        return k.Model(grid, _mha(k, 2, 2, "mha", attention_axes=(1 if "first" in case else 2,))(masked, masked))
    if case == "batch_dependent_mask":  # [B, 4, 3, 4] expanded to [1, 1, B, 4, 3, 4]: B meets the query's H
        mask = k.Input((4, 3, 4), dtype="bool", name="mask")
        return k.Model([grid, mask], _mha(k, 2, 2, "mha", attention_axes=(1, 2))(grid, grid, attention_mask=mask))
    if case == "fused_two_axes":  # Keras 3 fuses a rank-3 query but expands its [B, T, S] mask at axis -5
        seq, mask = k.Input((5, 6), name="seq"), k.Input((5, 5), dtype="bool", name="mask")
        return k.Model([seq, mask], _mha(k, 2, 2, "mha", attention_axes=(1, 2))(seq, seq, attention_mask=mask))
    assert case == "batch_axis", case  # written into the config: Keras cannot build it
    return k.Model(grid, _mha(k, 2, 2, "mha", attention_axes=(1,))(grid, grid))


@pytest.mark.parametrize("case,flavor,needle", [
    ("causal_two_axes", "keras3.keras", r"mask of shape \[1, 3, 3\] that Keras expands at axis -5 for 2 attention "
                                        r"axes \(Keras raises\)"),
    ("keras_mask_first_axis", "keras3.keras", r"mask of shape \[None, 3, 4, 4\] lined up as \[None, 3, 1, 4, 4\] "
                                              r"with scores of shape \[None, 4, 2, 3, 3\]"),
    ("keras_mask_last_axis", "tf_keras.h5", r"mask of shape \[None, 3, 3, 4\] lined up as \[None, 3, 1, 3, 4\]"),
    ("batch_dependent_mask", "keras3.keras", r"mask of shape \[None, 4, 3, 4\] lined up as "
                                             r"\[1, 1, None, 4, 3, 4\] .*for every batch size"),
    ("fused_two_axes", "keras3.keras", r"mask of shape \[None, 5, 5\] that Keras expands at axis -5 for 2 "
                                       r"attention axes \(Keras raises\)"),
    ("batch_axis", "keras3.keras", r"attention_axes=\[0\] on a rank-4 query \(Keras attends over the axes between"),
])
def test_layouts_keras_reads_otherwise_are_refused_by_name(tmp_path, case, flavor, needle):
    import tfjsconv
    from tfjsconv.errors import UsageError

    k = keras if flavor.startswith("keras3") else pytest.importorskip("tf_keras")
    model = _refusal(k, case)
    path = tmp_path / f"model{flavor[flavor.index('.'):]}"
    model.save(path)
    if case == "batch_axis":
        path = _with_attention_axes(path, tmp_path / "edited.keras", [1], [0])
    with pytest.raises(UsageError, match=r"'mha' \(MultiHeadAttention\)") as err:
        tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    assert re.search(needle, str(err.value)), str(err.value)
    assert "--loader=tensorflow" in str(err.value.hint)


def test_tf_keras_softmax_robust_masking_gives_uniform_fully_masked_rows(tmp_path, tfjs_runtime):
    """tf_keras's ``softmax_robust_masking=True`` masks with ``where(mask, logits, -1e9)``: a fully masked query row is
    exactly uniform. The default ``logits + (1 - mask)·-1e9`` rounds in float32, so large logits (gaps of 64 and more
    here) survive it and pick one key instead. Every row keeps no key or one key, so the expected values are well
    conditioned (uniform or one-hot probabilities) for logits this large."""
    import tfjsconv

    tf_keras = pytest.importorskip("tf_keras")
    L = tf_keras.layers
    seq, seq_mask = tf_keras.Input((4, 6), name="seq"), tf_keras.Input((4, 5), dtype="bool", name="seq_mask")
    keys = tf_keras.Input((5, 6), name="keys")
    grid, grid_mask = tf_keras.Input((3, 4, 6), name="grid"), tf_keras.Input((3, 4, 4), dtype="bool", name="grid_mask")
    rank3 = L.MultiHeadAttention(2, 3, softmax_robust_masking=True, name="robust")(seq, keys, attention_mask=seq_mask)
    rank4, scores = L.MultiHeadAttention(2, 3, attention_axes=(2,), softmax_robust_masking=True, name="robust_w")(
        grid, grid, attention_mask=grid_mask, return_attention_scores=True)
    model = tf_keras.Model([seq, keys, seq_mask, grid, grid_mask], [rank3, rank4, scores])
    randomize(model, 5)
    rng = np.random.default_rng(6)

    def none_or_one_key(shape):
        keep = np.eye(shape[-1], dtype=bool)[rng.integers(0, shape[-1], shape[:-1])]
        return keep & (rng.random(shape[:-1]) < 0.5)[..., None]

    inputs = {"seq": 30 * rng.standard_normal((3, 4, 6)).astype("float32"),
              "keys": 30 * rng.standard_normal((3, 5, 6)).astype("float32"), "seq_mask": none_or_one_key((3, 4, 5)),
              "grid": 30 * rng.standard_normal((3, 3, 4, 6)).astype("float32"),
              "grid_mask": none_or_one_key((3, 3, 4, 4))}
    expected = [np.asarray(o) for o in model(list(inputs.values()), training=False)]
    uniform = np.isclose(expected[2], 0.25, atol=1e-6).all(axis=-1)
    assert uniform.any() and (~inputs["grid_mask"].any(-1)[:, :, None] == uniform).all()  # the rows fully masked
    model.save(tmp_path / "robust.h5")
    tfjsconv.convert(tmp_path / "robust.h5", tmp_path / "out", output_format="tfjs_graph_model")
    _verify(tmp_path / "out", inputs, expected)
