"""Keras 3's Pipeline holding Pipelines and models, masks through Pipelines, and a refusal that names every gap the
walk meets.

As in ``test_keras_lowering_gaps.py``: small models with random weights, saved by Keras 3 (``.keras`` and ``.h5``),
converted through the lowering with TensorFlow, Keras and tf_keras poisoned (one subprocess converts every file),
then run in real TF.js (cpu and wasm); expected values are Keras's own ``model(x, training=False)``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
import tfjsconv  # noqa: E402
from tfjsconv.errors import UsageError  # noqa: E402

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _verify, case_file, saved_and_converted  # noqa: E402


def nested_pipelines(k):
    """A Pipeline in a Pipeline, a Functional and a Sequential model in one (ids into the Sequential's Embedding),
    a model holding a Pipeline inside a Pipeline, and a Pipeline holding a model called twice."""
    L = k.layers
    x = k.Input((4,), name="x")
    y = k.Input((4,), name="y")
    image = k.Input((6, 6, 2), name="image")
    ids = k.Input((5,), dtype="int32", name="ids")
    inner_pipe = L.Pipeline([L.Dense(3, name="d_in"), L.Rescaling(2.0, name="double")], name="inner_pipe")
    func_in = k.Input((3,), name="func_in")
    func = k.Model(func_in, L.Dense(2, name="fd")(L.Dense(5, activation="relu", name="fd0")(func_in)), name="func")
    outer = L.Pipeline([inner_pipe, func, L.Dense(4, name="after")], name="outer")
    seq = k.Sequential([L.Dense(3, name="sd"), L.LayerNormalization(name="sd_norm")], name="seq")
    shared = L.Pipeline([L.Dense(3, name="pre"), seq], name="shared")
    image_pipe = L.Pipeline([L.Pipeline([L.Conv2D(3, 3, padding="same", name="conv"), L.BatchNormalization(name="bn")],
                                        name="conv_block"), L.GlobalAveragePooling2D(name="gap")], name="image_pipe")
    words = k.Sequential([k.Input((5,), dtype="int32"), L.Embedding(12, 3, name="embed"), L.Flatten(name="flat")],
                         name="words")
    id_pipe = L.Pipeline([words, L.Dense(2, name="ids_dense")], name="id_pipe")
    held_in = k.Input((4,), name="held_in")
    held = L.Pipeline([L.Dense(3, name="deep_dense"), L.Pipeline([L.Activation("tanh", name="deep_tanh")],
                                                                   name="deepest")], name="held")
    holder = k.Model(held_in, held(held_in), name="holder")
    deep = L.Pipeline([holder, L.Dense(2, name="deep_after")], name="deep")
    return k.Model([x, y, image, ids], [outer(x), shared(x), shared(y), image_pipe(image), id_pipe(ids), deep(y)])


def pipeline_masks(k):
    """Keras runs a Pipeline's layers eagerly with each output's mask (the saved graph records none of it): a mask
    made inside is used inside (``inside``) and leaves the Pipeline (``leaking`` into ``gru_after``), a mask on the
    input reaches the inner layers (``entering``), and one made by a model in a Pipeline in a Pipeline goes on too."""
    L = k.layers
    ids = k.Input((6,), dtype="int32", name="ids")
    x = k.Input((6, 2), name="x")
    inside = L.Pipeline([L.Embedding(8, 3, mask_zero=True, name="emb_a"), L.LSTM(3, name="lstm_a")], name="inside")
    leaking = L.Pipeline([L.Embedding(8, 3, mask_zero=True, name="emb_b"), L.Dense(3, name="dense_b")],
                         name="leaking")
    entering = L.Pipeline([L.Dense(3, name="dense_c"), L.LSTM(2, name="lstm_c")], name="entering")
    masked_model = k.Sequential([k.Input((6, 2)), L.Masking(0.0, name="masking_d")], name="masked_model")
    nested = L.Pipeline([L.Pipeline([masked_model], name="wrap"), L.SimpleRNN(2, name="rnn_d")], name="nested")
    return k.Model([ids, x], [inside(ids), L.GRU(2, name="gru_after")(leaking(ids)),
                              entering(L.Embedding(8, 3, mask_zero=True, name="emb_c")(ids)), nested(x)])


def shared_in_pipelines(k):
    """One Dense and one Pipeline object listed in two Pipelines and at the top: Keras saves their weights once,
    where its saving walk (depth first, in order) meets them first, here inside ``p1``."""
    L = k.layers
    x = k.Input((4,), name="x")
    dense = L.Dense(4, name="shared_dense")
    inner = L.Pipeline([L.Dense(4, name="in_dense")], name="shared_inner")
    p1 = L.Pipeline([dense, inner, L.Dense(3, name="p1_dense")], name="p1")
    p2 = L.Pipeline([inner, dense], name="p2")
    return k.Model(x, [p1(x), p2(x), dense(x)])


def shared_in_a_model(k):
    """The same without Pipelines: a layer inside a nested model and again at the top, after that model."""
    L = k.layers
    x = k.Input((4,), name="x")
    dense = L.Dense(4, name="shared_dense")
    inner_in = k.Input((4,), name="inner_in")
    inner = k.Model(inner_in, L.Dense(2, name="inner_head")(dense(inner_in)), name="inner")
    return k.Model(x, [inner(x), dense(x)])


def shared_beside_namesakes(k):
    """A shared Dense named ``d`` listed first at the top (Keras keeps its ``shared_object_id`` there), then in a
    model and a Pipeline, after two unrelated layers also named ``d`` inside other ones (no id: they are used once).
    Its weights are the top-level listing's, not a namesake's."""
    L = k.layers
    x = k.Input((4,), name="x")
    m1_in = k.Input((4,), name="m1_in")
    m1 = k.Model(m1_in, L.Dense(4, name="d")(m1_in), name="m1")
    p1 = L.Pipeline([L.Dense(4, name="d")], name="p1")
    d = L.Dense(4, name="d")
    m2_in = k.Input((4,), name="m2_in")
    m2 = k.Model(m2_in, L.Dense(3, name="h")(d(m2_in)), name="m2")
    p2 = L.Pipeline([d, L.Dense(3, name="ph")], name="p2")
    return k.Model(x, [m1(x), p1(x), d(x), m2(x), p2(x)])


def pipeline_given_masks(k):
    """``pipe(x, mask=m)``: Keras 3 hands ``m`` to the first inner layer as ``layer(x, mask=m)`` when its call takes a
    mask (an RNN, a nested model, through a Pipeline first in the Pipeline) and the mask goes on with the outputs
    (into ``gru_after``); a first layer whose call takes none (Dense) drops it. ``m`` is a bool model input, or
    computed (``ids != 0``)."""
    L = k.layers
    x1, x2, x3, x4 = (k.Input((6, 2), name=f"x{i}") for i in range(1, 5))
    m, ids = k.Input((6,), dtype="bool", name="m"), k.Input((6,), dtype="int32", name="ids")
    reading = L.Pipeline([L.LSTM(3, return_sequences=True, name="lstm_r"), L.Dense(2, name="dense_r")],
                         name="reading")
    dropping = L.Pipeline([L.Dense(3, name="dense_d"), L.LSTM(2, name="lstm_d")], name="dropping")
    computed = L.Pipeline([L.Pipeline([L.GRU(2, go_backwards=True, name="gru_c")], name="first")], name="computed")
    inner_in = k.Input((6, 2), name="inner_in")
    inner = k.Model(inner_in, L.SimpleRNN(2, return_sequences=True, name="rnn_m")(inner_in), name="inner")
    modelled = L.Pipeline([inner, L.GlobalAveragePooling1D(name="gap_m")], name="modelled")
    return k.Model([x1, x2, x3, x4, m, ids], [
        L.GRU(2, name="gru_after")(reading(x1, mask=m)), dropping(x2, mask=m),
        computed(x3, mask=k.ops.not_equal(ids, 0)), modelled(x4, mask=m)])


FAMILIES = {"nested_pipelines": nested_pipelines, "pipeline_masks": pipeline_masks,
            "shared_in_pipelines": shared_in_pipelines, "shared_in_a_model": shared_in_a_model,
            "shared_beside_namesakes": shared_beside_namesakes, "pipeline_given_masks": pipeline_given_masks}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "keras3.h5")]


def _save(family: str, flavor: str, folder: Path, seed: int = 5):
    model = FAMILIES[family](keras)
    randomize(model, seed)
    rng = np.random.default_rng(seed + 1)
    inputs = {t.name.split(":")[0]: (3 * rng.standard_normal((2, *tuple(t.shape)[1:]))).astype("float32")
              if "int" not in str(t.dtype) else rng.integers(1, 12, (2, *tuple(t.shape)[1:])).astype("int32")
              for t in model.inputs}
    if family == "pipeline_masks":  # padded sequences: masked steps at the end, and one in the middle
        inputs["ids"] = inputs["ids"] % 8
        inputs["ids"][0, 4:], inputs["ids"][1, 2] = 0, 0
        inputs["x"][0, 3:], inputs["x"][1, 1] = 0.0, 0.0
    if family == "pipeline_given_masks":  # masked steps at the start, in the middle, at the end
        inputs["m"] = np.array([[False, True, True, False, True, False], [True, False, True, True, True, True]])
        inputs["ids"] = inputs["ids"] % 4
        inputs["ids"][0, :2], inputs["ids"][1, 3] = 0, 0
    return save_with_outputs(model, inputs, case_file(folder, family, flavor))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "pipelines", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_pipelines_lower_without_tensorflow_and_match_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_a_pipeline_called_twice_reads_its_inner_model_weights_once(converted):
    """The Sequential inside the shared Pipeline is one set of weights, whichever call reads it."""
    path = converted[("nested_pipelines", "keras3.keras")][0]
    weights = json.loads((Path(f"{path}.out") / "model.json").read_text())["weightsManifest"][0]["weights"]
    kernels = [w["name"] for w in weights if w["shape"] == [3, 3] and "sd" in w["name"]]
    assert len(kernels) == 1, [w["name"] for w in weights]


def test_the_masks_in_the_saved_pipeline_case_matter():
    """The reference is not blind to masks: without them Keras's outputs differ (so the match above means the masks
    went where Keras sends them)."""
    L = keras.layers
    ids = keras.Input((6,), dtype="int32", name="ids")
    embed, lstm = L.Embedding(8, 3, mask_zero=True, name="e"), L.LSTM(3, name="l")
    masked = keras.Model(ids, L.Pipeline([embed, L.Dense(3, name="d")], name="p")(ids))
    model = keras.Model(ids, lstm(masked(ids)))
    plain = L.Embedding(8, 3, name="plain")
    plain.build((None, 6))
    plain.set_weights(embed.get_weights())
    unmasked = keras.Model(ids, lstm(masked.get_layer("p").layers[1](plain(ids))))
    padded = np.array([[1, 2, 3, 0, 0, 0], [4, 0, 5, 6, 0, 0]], dtype="int32")
    assert np.abs(np.asarray(model(padded)) - np.asarray(unmasked(padded))).max() > 1e-3


def test_a_pipeline_given_a_mask_for_a_first_layer_the_walk_does_not_know_is_named():
    """``pipe(x, mask=m)`` is lowered where the first inner layer's call takes a mask the walk reads, or none
    (``pipeline_given_masks``); another first layer (TimeDistributed, whose call takes one) stays a gap."""
    from tfjsconv.plugins.keras.lowering import layer_gaps

    L = keras.layers
    x = keras.Input((5, 2), name="x")
    m = keras.Input((5,), dtype="bool", name="m")
    pipe = L.Pipeline([L.TimeDistributed(L.Dense(2), name="td"), L.LSTM(2, name="lstm")], name="pipe")
    gaps = layer_gaps(json.loads(keras.Model([x, m], pipe(x, mask=m)).to_json()))
    assert gaps == ["'pipe' (Pipeline: a mask argument for its first layer 'td' (TimeDistributed))"], gaps


def test_a_gap_inside_a_model_inside_a_pipeline_is_named_with_its_path():
    from tfjsconv.plugins.keras.lowering import layer_gaps

    L = keras.layers

    class Cell(L.SimpleRNNCell):
        pass

    seq_in = keras.Input((5, 3), name="seq_in")
    inner = keras.Model(seq_in, L.RNN(Cell(2), name="custom")(seq_in), name="inner")
    seq = keras.Input((5, 3), name="seq")
    pipe = L.Pipeline([L.Pipeline([inner], name="mid"), L.Dense(2, name="after")], name="pipe")
    gaps = layer_gaps(json.loads(keras.Model(seq, pipe(seq)).to_json()))
    assert gaps == ["'pipe/mid/inner/custom' (RNN: a Cell cell)"], gaps


# -- every gap the walk meets, named at once -----------------------------------------------------------------------
def _refusal(model, path: Path) -> str:
    model.save(path)
    with pytest.raises(UsageError) as info:
        tfjsconv.convert(path, path.with_suffix(".out"), output_format="tfjs_graph_model")
    assert not path.with_suffix(".out").exists()
    assert "--loader=tensorflow" in str(info.value.hint)
    return str(info.value).split("\n")[0]


def test_the_refusal_names_every_gap_the_walk_meets_in_different_branches(tmp_path):
    """Three gaps only the walk finds (a string into a float layer, an initial_state mixing a tensor and a constant,
    a rank-1 constant state), one more inside a nested model: all named in one line. A layer downstream of a gap
    (``after_strings``, on the same strings) is not named again."""
    L = keras.layers
    words = keras.Input((2,), dtype="string", name="words")
    x, h = keras.Input((5, 3), name="x"), keras.Input((2,), name="h")
    after = L.Identity(name="after_strings")(L.Identity(name="passed_on")(words))
    lstm = L.LSTM(2, name="lstm")(x, initial_state=[h, np.ones((1, 2), "float32")])
    gru = L.GRU(2, name="gru")(x, initial_state=[np.ones((2,), "float32")])
    sub_words = keras.Input((2,), dtype="string", name="sub_words")
    inner = keras.Model(sub_words, L.Identity(name="inner_identity")(sub_words), name="inner")
    outputs = [L.StringLookup(vocabulary=["a"], name="fine")(words), after, L.Dense(2, name="dense_after")(lstm),
               L.Add(name="sum")([lstm, gru]), inner(words), L.Dense(2, name="unaffected")(x)]
    message = _refusal(keras.Model([words, x, h], outputs), tmp_path / "gaps.keras")
    assert "does not cover 4 layers: " in message, message
    for named in ("'passed_on' (Identity) on a string input", "'lstm' is called with initial_state mixing tensors",
                  "'gru' (GRU) called with an initial_state of shape [2]",
                  "'inner/inner_identity' (Identity) on a string input"):
        assert named in message, message
    for not_named in ("after_strings", "dense_after", "'sum'", "unaffected"):
        assert not_named not in message, message


def test_a_long_list_of_gaps_is_cut_with_a_count(tmp_path):
    L = keras.layers
    words = keras.Input((2,), dtype="string", name="words")
    outputs = [L.Identity(name=f"string_into_identity_{i}")(words) for i in range(30)]
    message = _refusal(keras.Model(words, outputs), tmp_path / "many.keras")
    assert "does not cover 30 layers: 'string_into_identity_0' (Identity)" in message, message
    shown = message.count("(Identity) on a string input")
    assert 1 < shown < 30 and message.endswith(f"(and {30 - shown} more)"), message


def test_a_shared_layer_that_could_be_one_of_several_namesakes_is_refused_by_name(tmp_path):
    """``d`` used in ``m2`` and at the top, another ``d`` in ``m1``: Keras marks only the top listing (the one in
    ``m2`` lost its id), and both nested ``d``s keep weights, so which one is the top ``d`` is unknown: refused,
    never read from the wrong one."""
    L = keras.layers
    x = keras.Input((4,), name="x")
    m1_in, m2_in = keras.Input((4,), name="m1_in"), keras.Input((4,), name="m2_in")
    m1 = keras.Model(m1_in, L.Dense(4, name="d")(m1_in), name="m1")
    d = L.Dense(4, name="d")
    m2 = keras.Model(m2_in, d(m2_in), name="m2")
    message = _refusal(keras.Model(x, [m1(x), m2(x), d(x)]), tmp_path / "namesakes.keras")
    assert "does not cover 1 layer: 'd' (Dense: a layer used in several places, whose weights Keras saved " \
           "under one of 2 layers named 'd')" in message, message


def test_walk_gaps_in_a_nested_model_are_named_with_its_path(tmp_path):
    """One gap in a nested model and one of the same layer name at the top: two gaps, each by its own path."""
    L = keras.layers
    x, h = keras.Input((5, 3), name="x"), keras.Input((2,), name="h")
    ix, ih = keras.Input((5, 3), name="ix"), keras.Input((2,), name="ih")
    state = np.ones((1, 2), "float32")
    inner = keras.Model([ix, ih], L.LSTM(2, name="lstm")(ix, initial_state=[ih, state]), name="inner")
    model = keras.Model([x, h], [inner([x, h]), L.LSTM(2, name="lstm")(x, initial_state=[h, state])])
    message = _refusal(model, tmp_path / "nested.keras")
    assert "does not cover 2 layers: 'inner/lstm' is called with initial_state mixing" in message, message
    assert ", 'lstm' is called with initial_state mixing" in message, message


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_config_gaps_do_not_hide_the_gaps_the_walk_meets(tmp_path, suffix):
    """A gap the config shows (``lora_rank``) and one only the walk finds (strings into Identity, also past a
    config gap in a nested model, and not again downstream of it): all named in one refusal."""
    L = keras.layers
    words, x = keras.Input((2,), dtype="string", name="words"), keras.Input((4,), name="x")
    sub_in = keras.Input((4,), name="sub_in")
    sub = keras.Model(sub_in, L.Dense(2, name="sub_after")(L.Dense(3, lora_rank=1, name="sub_lora")(sub_in)),
                      name="sub")
    outputs = [L.Identity(name="strings_in")(words), L.Dense(2, lora_rank=1, name="lora")(x),
               L.Dense(2, name="after_sub")(sub(x))]
    message = _refusal(keras.Model([words, x], outputs), tmp_path / f"mixed{suffix}")
    # LoRA kernels lower from a .keras archive (saved merged, session 16) and a .h5 (merged when read, session 17)
    lora: list[str] = []
    assert f"does not cover {len(lora) + 1} layer" in message, message
    for named in (*lora, "'strings_in' (Identity) on a string input"):
        assert named in message, message
    assert "after" not in message and ("lora" in message) == bool(lora), message


@pytest.mark.node
def test_a_tf_keras_h5_shared_layer_beside_namesakes_reads_its_own_group(tmp_path, tfjs_runtime):
    """tf_keras marks shared layers in ``.h5`` configs too, but every top-level group keeps its own copy of the
    weights: the top ``d`` (also inside ``m2``) reads them there, never from ``m1``'s unrelated ``d``."""
    tf_keras = pytest.importorskip("tf_keras")
    L = tf_keras.layers
    x = tf_keras.Input((4,), name="x")
    m1_in, m2_in = tf_keras.Input((4,), name="m1_in"), tf_keras.Input((4,), name="m2_in")
    m1 = tf_keras.Model(m1_in, L.Dense(4, name="d")(m1_in), name="m1")
    d = L.Dense(4, name="d")
    m2 = tf_keras.Model(m2_in, d(m2_in), name="m2")
    model = tf_keras.Model(x, [m1(x), m2(x), d(x)])
    randomize(model, 3)
    inputs = {"x": np.random.default_rng(4).standard_normal((3, 4)).astype("float32")}
    path, inputs, outputs = save_with_outputs(model, inputs, tmp_path / "namesakes.h5")
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    _verify(tmp_path / "out", inputs, outputs)


def test_a_pipeline_ending_in_several_tensors_is_a_gap_not_a_corrupt_file(tmp_path):
    """A Pipeline whose last layer returns its states: the gap inside it is named, and the layers that read its other
    outputs are skipped (not an InputError about an output no call produces)."""
    L = keras.layers
    x = keras.Input((5, 3), name="x")
    out, h, c = L.Pipeline([L.Dense(3, name="dd"), L.LSTM(2, return_state=True, name="ls")], name="pipe")(x)
    message = _refusal(keras.Model(x, [L.Dense(2, name="after_h")(h), L.Add(name="add")([out, c])]),
                       tmp_path / "states.keras")
    assert "does not cover 1 layer: 'pipe/ls' of a Sequential model returns several tensors" in message, \
        message


def _shared_across_nested(k, tail: bool):
    """``shared_d`` used in models ``A`` and ``B``; in ``B`` a Dense of its class follows it (``tail``) or not."""
    L = k.layers
    shared = L.Dense(4, name="shared_d")
    a_in, b_in, x = k.Input((3,), name="a_in"), k.Input((3,), name="b_in"), k.Input((3,), name="x")
    a = k.Model(a_in, shared(a_in), name="A")
    b_out = L.Dense(2, name="b_head")(shared(b_in)) if tail else L.Activation("tanh", name="b_tanh")(shared(b_in))
    return k.Model(x, [a(x), k.Model(b_in, b_out, name="B")(x)])


@pytest.mark.node
def test_a_tf_keras_archive_renumbered_by_a_shared_layer_is_refused_with_what_happened(tmp_path, tfjs_runtime):
    """tf_keras's ``.keras`` saving skips a layer saved already before counting its class, so ``B/b_head`` is filed
    under the key of ``B/shared_d``: tf_keras cannot reload the file (a shape error), and the lowering says so rather
    than reading one layer's weights for another (it named a kernel of the wrong shape). Without a layer of that class
    after the shared one nothing shifts, and the model converts and matches tf_keras."""
    from tfjsconv.errors import InputError

    k = pytest.importorskip("tf_keras")
    model = _shared_across_nested(k, tail=True)
    model.save(tmp_path / "renumbered.keras")
    with pytest.raises(ValueError, match="Shape mismatch"):  # the source framework cannot read it back either
        k.models.load_model(tmp_path / "renumbered.keras")
    for output_format in ("tfjs_graph_model", "tfjs_layers_model"):
        with pytest.raises(InputError) as info:
            tfjsconv.convert(tmp_path / "renumbered.keras", tmp_path / "out", output_format=output_format)
        assert "layer 'B/shared_d' is the layer 'A/shared_d' used again; tf_keras saved its weights once and " \
               "numbered the layers of its class after it in 'B' as if it were not there" in str(info.value), info.value
        assert "kernel" not in str(info.value) and ".h5" in str(info.value.hint)
        assert not (tmp_path / "out").exists()

    model = _shared_across_nested(k, tail=False)
    randomize(model, 5)
    inputs = {"x": np.random.default_rng(6).standard_normal((3, 3)).astype("float32")}
    path, inputs, outputs = save_with_outputs(model, inputs, tmp_path / "unshifted.keras")
    tfjsconv.convert(path, tmp_path / "unshifted", output_format="tfjs_graph_model")
    _verify(tmp_path / "unshifted", inputs, outputs)


def test_a_tf_keras_archive_renumbered_by_a_layer_first_saved_inside_a_wrapper_is_refused_with_what_happened(
        tmp_path):
    """The shared layer is saved first where ``TimeDistributed`` wraps it (``A/td``), so ``B/b_head`` is filed under
    the key of ``B/shared_d``: refused as renumbered, not as a file with a layer missing its weights."""
    from tfjsconv.errors import InputError

    k = pytest.importorskip("tf_keras")
    L = k.layers
    shared = L.Dense(4, name="shared_d")
    x, a_in, b_in = (k.Input((3, 4), name=n) for n in ("x", "a_in", "b_in"))
    a = k.Model(a_in, L.Dense(4, name="a_head")(L.TimeDistributed(shared, name="td")(a_in)), name="A")
    b = k.Model(b_in, L.Dense(4, name="b_head")(shared(b_in)), name="B")
    k.Model(x, [a(x), b(x)]).save(tmp_path / "wrapped.keras")
    with pytest.raises(InputError, match=r"layer 'B/shared_d' is the layer 'A/td/shared_d' used again; tf_keras"):
        tfjsconv.convert(tmp_path / "wrapped.keras", tmp_path / "out", output_format="tfjs_graph_model")


@pytest.mark.node
def test_a_tf_keras_archive_with_a_shared_weightless_layer_converts(tmp_path, tfjs_runtime):
    """A shared Dropout shifts only the keys of the Dropouts after it, which hold nothing: tf_keras reloads the file,
    and the lowering converts it (it refused it as renumbered)."""
    k = pytest.importorskip("tf_keras")
    L = k.layers
    drop = L.Dropout(0.3, name="shared_drop")
    x, a_in, b_in = (k.Input((3,), name=n) for n in ("x", "a_in", "b_in"))
    a = k.Model(a_in, drop(L.Dense(4, name="a_d")(a_in)), name="A")
    b = k.Model(b_in, L.Dropout(0.2, name="b_drop")(drop(L.Dense(4, name="b_d")(b_in))), name="B")
    model = k.Model(x, [a(x), b(x)])
    randomize(model, 5)
    inputs = {"x": np.random.default_rng(6).standard_normal((3, 3)).astype("float32")}
    path, inputs, outputs = save_with_outputs(model, inputs, tmp_path / "dropout.keras")
    tfjsconv.convert(path, tmp_path / "out", output_format="tfjs_graph_model")
    _verify(tmp_path / "out", inputs, outputs)


@pytest.mark.parametrize("output_format", ["tfjs_graph_model", "tfjs_layers_model"])
def test_a_tf_keras_archive_with_an_unhashable_shared_object_id_is_refused_as_malformed(tmp_path, output_format):
    """A hand-edited ``shared_object_id`` (a list) gives an InputError on both paths, not a TypeError."""
    import zipfile

    from tfjsconv.errors import InputError

    k = pytest.importorskip("tf_keras")
    _shared_across_nested(k, tail=False).save(tmp_path / "saved.keras")
    with zipfile.ZipFile(tmp_path / "saved.keras") as src, zipfile.ZipFile(tmp_path / "edited.keras", "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                config["config"]["layers"][2]["config"]["layers"][1]["shared_object_id"] = [1]
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    with pytest.raises(InputError, match="malformed"):
        tfjsconv.convert(tmp_path / "edited.keras", tmp_path / "out", output_format=output_format)
