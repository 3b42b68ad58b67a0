"""Keras lowering of stacked RNN cells, SpatialDropout in ``.h5``, and the string layers (StringLookup, Hashing).

As in ``test_keras_lowering_gaps.py``: small models with random weights, saved by Keras 3 (``.keras``, ``.h5``)
and tf_keras (``.h5``), converted through the lowering with TensorFlow, Keras and tf_keras poisoned (one
subprocess converts every file), then run in real TF.js (cpu and wasm, strings fed as strings); expected values
are Keras's own ``model(x, training=False)``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import randomize, save_with_outputs  # noqa: E402
from test_keras_lowering import _module, _verify, case_file, saved_and_converted  # noqa: E402


# -- models (``k`` is keras or tf_keras) ---------------------------------------------------------------------
def stacked_cells(k):
    """Stacks of every cell kind, with return_state (an LSTMCell's ``[h, c]`` is nested in Keras's outputs)."""
    L = k.layers
    seq = k.Input((5, 3), name="seq")
    cells = [L.LSTMCell(3, name="c_lstm"), L.GRUCell(2, name="c_gru"), L.SimpleRNNCell(4, use_bias=False, name="c_rnn")]
    out, (h_a, c_a), h_b, h_c = L.RNN(cells, return_state=True, name="stack")(seq)
    seq2 = L.RNN([L.GRUCell(3, reset_after=False, name="g1"), L.GRUCell(3, name="g2"), L.GRUCell(2, name="g3")],
                 return_sequences=True, go_backwards=True, name="backwards")(seq)
    twin = L.RNN(L.StackedRNNCells([L.SimpleRNNCell(2, name="s1"), L.SimpleRNNCell(3, activation="relu", name="s2")]),
                 name="explicit")(seq2)
    clips = k.Input((2, 4, 3), name="clips")  # TimeDistributed keeps the stacked RNN's weights under ``layer``
    per_clip = L.TimeDistributed(L.RNN([L.GRUCell(2, name="t1"), L.LSTMCell(3, name="t2")]), name="per_clip")(clips)
    return k.Model([seq, clips], [L.Concatenate(name="last")([out, h_a, c_a, h_b, h_c, twin]), seq2,
                                  L.Flatten(name="flat")(per_clip)])


def spatial_dropout(k):
    """SpatialDropout and Discretization: Keras 3 saves their configs without ``trainable``, like an operation's."""
    L = k.layers
    seq = k.Input((6, 4), name="seq")
    image = k.Input((5, 4, 3), name="image")
    volume = k.Input((3, 4, 2, 2), name="volume")
    a = L.Dense(3, name="d1")(L.SpatialDropout1D(0.4, name="sd1")(seq))
    b = L.Conv2D(2, 2, name="c2")(L.SpatialDropout2D(0.3, name="sd2")(image))
    c = L.SpatialDropout3D(0.2, name="sd3")(volume)
    if k is not keras:  # tf_keras saves Discretization with an int64 dtype
        return k.Model([seq, image, volume], [a, b, c])
    return k.Model([seq, image, volume], [a, b, c, L.Discretization(bin_boundaries=[-1.0, 0.0, 0.5], name="bins")(seq)])


VOCABULARY = ["cat", "dog", "\u00e9meu", "bird", "fish"]
#: Fed strings: the vocabulary, the mask token "", Keras's OOV token, unknown words (also unicode).
WORDS = np.array([["cat", "", "[UNK]", "\u00e9meu"], ["zebra", "dog", "fish", "\u00e9t\u00e9"]], dtype=object)


def string_lookups(k):
    """StringLookup in every output mode with masks and OOV buckets, invert, and IntegerLookup through a table."""
    L = k.layers
    words = k.Input((4,), dtype="string", name="words")
    one = k.Input((1,), dtype="string", name="one_word")
    ids = k.Input((4,), dtype="int64", name="ids")
    masked = L.StringLookup(vocabulary=VOCABULARY, mask_token="")
    outputs = [L.StringLookup(vocabulary=VOCABULARY, name="plain")(words),
               L.StringLookup(vocabulary=VOCABULARY, mask_token="", name="masked")(words),
               L.StringLookup(vocabulary=VOCABULARY, num_oov_indices=3, name="three_oov")(words),
               L.StringLookup(vocabulary=VOCABULARY, num_oov_indices=2, mask_token="", name="masked_two_oov")(words),
               L.StringLookup(vocabulary=masked.get_vocabulary(), mask_token="", name="from_vocab")(words),
               L.StringLookup(vocabulary=VOCABULARY, output_mode="multi_hot", name="multi_hot")(words),
               L.StringLookup(vocabulary=VOCABULARY, output_mode="count", mask_token="", num_oov_indices=2,
                              name="count")(words),
               L.StringLookup(vocabulary=VOCABULARY, output_mode="one_hot", name="one_hot")(one),
               L.StringLookup(vocabulary=VOCABULARY, output_mode="multi_hot", pad_to_max_tokens=True, max_tokens=9,
                              name="padded")(words),
               L.StringLookup(vocabulary=VOCABULARY, output_mode="tf_idf", idf_weights=[0.5, 1.0, 2.0, 0.25, 3.0],
                              name="tf_idf")(words),
               L.StringLookup(vocabulary=VOCABULARY, invert=True, name="inverse")(ids),
               L.StringLookup(vocabulary=VOCABULARY, invert=True, mask_token="", name="masked_inverse")(ids),
               L.IntegerLookup(vocabulary=[5, 7, 2], num_oov_indices=2, name="int_two_oov")(ids),
               L.IntegerLookup(vocabulary=[5, 7, 2], output_mode="multi_hot", name="int_multi_hot")(ids),
               L.IntegerLookup(vocabulary=[5, 7, 2], invert=True, name="int_inverse")(ids),
               L.Hashing(5, name="hash")(words), L.Hashing(6, mask_value="", name="hash_masked")(words),
               L.Hashing(4, output_mode="multi_hot", name="hash_multi_hot")(words),
               L.Hashing(3, output_mode="one_hot", name="hash_one_hot")(one)]
    return k.Model([words, one, ids], outputs)


def adapted_lookups(k):
    """Adapted vocabularies: a ``.keras`` archive keeps them as assets (``assets/<layer path>/vocabulary.txt``)."""
    L = k.layers
    words = k.Input((4,), dtype="string", name="words")
    ids = k.Input((4,), dtype="int64", name="ids")
    corpus = np.array([["dog", "cat", "dog", "\u00e9meu"], ["fish", "dog", "cat", "bird"]])
    lookups = [L.StringLookup(name="adapted"), L.StringLookup(mask_token="", num_oov_indices=2, name="adapted_masked"),
               L.StringLookup(output_mode="tf_idf", name="adapted_tf_idf")]
    for layer in lookups:
        layer.adapt(corpus)
    numbers = L.IntegerLookup(output_mode="count", name="adapted_ints")
    numbers.adapt(np.array([[5, 7, 7, 2], [2, 2, 9, 5]]))
    inner = k.Sequential([k.Input((4,), dtype="string"), L.StringLookup(name="inner_lookup")], name="inner")
    inner.layers[0].adapt(corpus[::-1])
    return k.Model([words, ids], [*(layer(words) for layer in lookups), numbers(ids), inner(words)])


FAMILIES = {"stacked_cells": stacked_cells, "spatial_dropout": spatial_dropout, "string_lookups": string_lookups,
            "adapted_lookups": adapted_lookups}
CASES = [("stacked_cells", "keras3.keras"), ("stacked_cells", "keras3.h5"), ("stacked_cells", "tf_keras.h5"),
         ("spatial_dropout", "keras3.h5"), ("spatial_dropout", "keras3.keras"), ("spatial_dropout", "tf_keras.h5"),
         ("string_lookups", "keras3.keras"), ("string_lookups", "keras3.h5"), ("string_lookups", "tf_keras.h5"),
         ("adapted_lookups", "keras3.keras")]


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = {}
    for t in model.inputs:
        name, shape = t.name.split(":")[0], (2, *tuple(t.shape)[1:])
        if name == "words":
            inputs[name] = WORDS.copy()
        elif name == "one_word":
            inputs[name] = WORDS[:, 2:3].copy()
        elif name == "ids":
            inputs[name] = np.array([[0, 1, 2, 5], [7, 3, 9, -1]], dtype="int64")
        else:
            inputs[name] = (2 * rng.standard_normal(shape)).astype("float32")
    return inputs


def _save(family: str, flavor: str, folder: Path, seed: int = 13):
    model = FAMILIES[family](_module(flavor))
    if family not in ("string_lookups", "adapted_lookups"):  # their only weights are idf weights
        randomize(model, seed)
    inputs = _inputs(model, seed + 1)
    return save_with_outputs(model, inputs, case_file(folder, family, flavor))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return saved_and_converted(tmp_path_factory, "lookups", CASES, _save)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CASES, ids=[f"{f}-{v}" for f, v in CASES])
def test_layer_lowers_without_tensorflow_and_matches_keras(converted, tfjs_runtime, family, flavor):
    path, inputs, outputs = converted[(family, flavor)]
    _verify(Path(f"{path}.out"), inputs, outputs)


def test_string_inputs_reach_only_ops_every_backend_runs_on_strings(converted):
    """TF.js's wasm ``Equal`` is wrong on strings: strings go only to table lookups and hashing (mask tokens are
    table entries; ``Squeeze`` and ``Shape`` only reshape or measure them), and the string inputs are declared as
    strings in the signature."""
    path = converted[("string_lookups", "keras3.keras")][0]
    model = json.loads((Path(f"{path}.out") / "model.json").read_text())
    assert {model["signature"]["inputs"][name]["dtype"] for name in ("words", "one_word")} == {"DT_STRING"}
    nodes = model["modelTopology"]["node"]
    strings, readers = {"words", "one_word"}, set()
    for node in nodes:  # string-valued nodes: the inputs and what only reshapes them
        if node["op"] in ("Squeeze", "Identity") and node["input"][0].split(":")[0] in strings:
            strings.add(node["name"])
    for node in nodes:
        if any(i.split(":")[0] in strings for i in node.get("input", [])):
            readers.add(node["op"])
    # Reshape/Size: nonempty_lookup_keys flattens and counts the keys (a padding key when there is none; run on wasm
    # by tests/test_backend_contract_lookups.py)
    assert readers <= {"LookupTableFindV2", "StringToHashBucketFast", "Squeeze", "Shape", "Reshape", "Size"}, readers
    assert "StringToHashBucketFast" in readers and {"LookupTableFindV2", "Size"} & readers, readers
    assert len(model["modelInitializer"]["node"]) > 0


def test_string_layers_the_lowering_leaves_to_tensorflow_are_named():
    from tfjsconv.plugins.keras.lowering import layer_gaps

    L = keras.layers
    words = keras.Input((3,), dtype="string", name="words")
    ids = keras.Input((3,), dtype="int32", name="ids")
    adapted = L.StringLookup(name="adapted")
    adapted.adapt(np.array([["a", "b", "c"]]))
    outputs = [L.StringLookup(vocabulary=["a"], name="fine")(words), adapted(words),
               L.StringLookup(vocabulary=["a", "b"], sparse=True, output_mode="multi_hot", name="sparse")(words),
               L.StringLookup(vocabulary=["a"], num_oov_indices=2, salt=5, name="salted_oov")(words),
               L.Hashing(4, salt=[1, 2], name="salted")(words), L.Hashing(4, name="fine_hash")(words),
               L.IntegerLookup(vocabulary=[1], num_oov_indices=2, oov_method="farmhash", name="farmhash")(ids)]
    gaps = layer_gaps(json.loads(keras.Model([words, ids], outputs).to_json()))
    assert gaps == ["'adapted' (StringLookup: a vocabulary outside its config (adapted or a file))",
                    "'sparse' (StringLookup: sparse=True)",
                    "'salted_oov' (StringLookup: a salt (StringToHashBucketStrong))",
                    "'salted' (Hashing: a salt (StringToHashBucketStrong, which TF.js lacks))",
                    "'farmhash' (IntegerLookup: oov_method='farmhash' on integers (AsString))"], gaps


def test_hashing_integers_is_refused_with_the_layer_named(tmp_path):
    """Keras hashes an integer's decimal text (``AsString``, not in TF.js): refused by name, never guessed."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = keras.layers
    ids = keras.Input((3,), dtype="int32", name="ids")
    keras.Model(ids, L.Hashing(4, name="int_hash")(ids)).save(tmp_path / "hash.keras")
    with pytest.raises(UsageError, match=r"'int_hash' \(Hashing\) on a int32 input .*AsString") as err:
        tfjsconv.convert(tmp_path / "hash.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value.hint)
    assert not (tmp_path / "out").exists()


@pytest.mark.node
def test_string_layers_match_keras_on_webgl(converted, browser):
    """Tables and StringToHashBucketFast run on webgl too (the backend contract lets them through)."""
    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs = converted[("string_lookups", "keras3.keras")]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                          browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


def test_an_edited_vocabulary_asset_is_refused_by_name(tmp_path):
    """A ``.keras`` asset Keras would reject (a repeated token) is a gap named with the layer, never a guess."""
    import zipfile

    import tfjsconv
    from tfjsconv.errors import UsageError

    L = keras.layers
    words = keras.Input((2,), dtype="string", name="words")
    adapted = L.StringLookup(name="adapted")
    adapted.adapt(np.array([["a", "b"], ["b", "c"]]))
    keras.Model(words, adapted(words)).save(tmp_path / "saved.keras")
    with zipfile.ZipFile(tmp_path / "saved.keras") as src, zipfile.ZipFile(tmp_path / "edited.keras", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, b"[UNK]\na\nb\na" if info.filename.endswith("/vocabulary.txt") else data)
    with pytest.raises(UsageError, match=r"'adapted' \(StringLookup: a vocabulary with repeated tokens\)"):
        tfjsconv.convert(tmp_path / "edited.keras", tmp_path / "out", output_format="tfjs_graph_model")
    tfjsconv.convert(tmp_path / "saved.keras", tmp_path / "fine", output_format="tfjs_graph_model")
    table = json.loads((tmp_path / "fine" / "model.json").read_text())["modelInitializer"]
    assert any(node["op"] == "LookupTableImportV2" for node in table["node"])


def test_a_string_reaching_a_layer_that_casts_to_float_is_refused_by_name(tmp_path):
    """Other layers get their inputs cast to float32; TF.js's ``Cast`` rejects strings, so a string into such a
    layer (here ``Identity``) would write a model that cannot run: it is refused by name instead."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = keras.layers
    words = keras.Input((2,), dtype="string", name="words")
    outputs = [L.StringLookup(vocabulary=["a"], name="fine")(words), L.Identity(name="passed_on")(words)]
    keras.Model(words, outputs).save(tmp_path / "strings.keras")
    with pytest.raises(UsageError, match=r"'passed_on' \(Identity\) on a string input") as err:
        tfjsconv.convert(tmp_path / "strings.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value.hint)
    assert not (tmp_path / "out").exists()
