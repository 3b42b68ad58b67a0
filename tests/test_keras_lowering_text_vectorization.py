"""Keras lowering of TextVectorization (``split=None`` and ``'whitespace'``), against Keras in real TF.js.

What converts through TensorFlow today (``--loader=tensorflow``) is ``split=None`` with ``standardize`` None or
``strip_punctuation``, in ``int`` mode (with or without ``output_sequence_length``, with ``ngrams``), and only for
``--target_backends`` without wasm (its ``Equal`` on strings is wrong; ``StaticRegexReplace`` has no wasm kernel);
its encoded modes fail (an int64-max mask value) and a whitespace split fails (``RaggedTensorToTensor``). The
lowering covers those, the encoded modes (multi_hot, count, tf_idf, pad_to_max_tokens), ``lower`` (ASCII, as
TensorFlow's) and the whitespace split (with n-grams), with vocabularies from the config, ``get_vocabulary()``, and
adapted ones in ``.keras`` assets (Keras 3 and tf_keras). Without ``lower``/``strip_punctuation`` the models run on
cpu, wasm and webgl; with them, on cpu and webgl (converted with ``--target_backends=cpu,webgl``). Expected values are Keras's own ``model(x)``; the
conversions run with TensorFlow, Keras and tf_keras poisoned. What TF.js cannot run is refused by name.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_models import save_with_outputs  # noqa: E402
from test_keras_lowering import LOWERED, POISONED, RTOL, _module, case_file, layer_gaps_of  # noqa: E402

VOCABULARY = ["the", "cat", "sat", "\u00e9t\u00e9", "the cat", "a\\b", "[x]", "\u00abok\u00bb", "its", "x", "ab",
              "\U0001f600", "cat sat", "abc", "\u2014"]
#: Tokens fed (three a row): vocabulary words, the mask token "", Keras's OOV token, unknown words, and what
#: ``strip_punctuation`` changes or keeps: ASCII punctuation (backslashes, brackets, quotes, ``-`` inside the
#: ``,-.`` range), unicode punctuation and symbols it keeps (guillemets, em dash, CJK full stop, emoji), a token
#: that strips to the mask token.
WORDS = np.array([["the", "cat,", "sat!"], ["", "[x]", "a\\b"], ["[UNK]", "\u00abok\u00bb", "it's"],
                  ["{|}~^_`", "\U0001f600!", "a-b.c"], ["\u2014", "\u3002", "\u00e9t\u00e9?"],
                  ["x", "(x)", "\"x\""], ["the", "cat", "sat"], ["THE", "Cat,", "\u00c9T\u00c9"]], dtype=object)
ONE = WORDS[:, 1:2].copy()
#: Sentences for ``split='whitespace'`` (also with n-grams: "the cat" and "cat sat" are in the vocabulary):
#: TensorFlow splits at the six ASCII whitespace bytes only (not at NBSP, EM SPACE, ``\x1c`` or U+2028, which
#: Python's ``str.split`` would), skipping empty tokens; an empty sentence, the OOV token, punctuation, unicode and
#: upper case (only ASCII letters are lowered) as above.
TEXT = np.array([["the cat,  sat!"], [""], ["  the\tcat\nsat\x0b\u00e9t\u00e9\x0c[x]\r a\\b "],
                 ["the\u00a0cat \u2003 x\x1cx \u2028 its"], ["[UNK] it's \u00abok\u00bb \U0001f600! a-b.c {|}~^_`"],
                 ["cat"], ["the cat sat the  cat"], ["The CAT, sAt! \u00c9T\u00c9 \u00c9t\u00e9 ABC. A\\B IT'S"]],
                dtype=object)
#: A batch without any token (TF.js's table lookup fails on no keys: the lowering looks one more token up).
NO_TOKENS = np.array([[""], [" \t "]], dtype=object)
INPUTS = {"words": WORDS, "one": ONE, "flat_words": WORDS[:, 0], "text": TEXT, "flat_text": TEXT[:, 0]}


def text_vectorization(k):
    """Every option the lowering takes, without ``strip_punctuation`` (cpu, wasm and webgl run it)."""
    L = k.layers
    words = k.Input((3,), dtype="string", name="words")
    one = k.Input((1,), dtype="string", name="one")
    flat_words = k.Input((), dtype="string", name="flat_words")  # one token a sample: the plain lookup

    def tv(name, **options):
        return L.TextVectorization(vocabulary=VOCABULARY, standardize=None, split=None, name=name, **options)

    listed = tv("listed_source", output_mode="multi_hot")
    outputs = [tv("plain")(words), tv("one_token")(one),
               tv("pad_to_5", output_sequence_length=5)(words), tv("trim_to_2", output_sequence_length=2)(words),
               tv("bigrams", ngrams=2)(words), tv("widths_2_3", ngrams=(2, 3), output_sequence_length=4)(words),
               tv("multi_hot", output_mode="multi_hot")(words), tv("count", output_mode="count")(words),
               tv("tf_idf", output_mode="tf_idf", idf_weights=list(np.linspace(0.5, 3.0, len(VOCABULARY))))(words),
               tv("padded_hot", output_mode="multi_hot", pad_to_max_tokens=True, max_tokens=20)(words),
               tv("ngram_count", output_mode="count", ngrams=2)(words),
               L.TextVectorization(vocabulary=listed.get_vocabulary(), standardize=None, split=None,
                                   name="from_get_vocabulary")(words), tv("flat")(flat_words)]
    return k.Model([words, one, flat_words], outputs)


def punctuation(k):
    """``strip_punctuation`` (Keras's ``StaticRegexReplace``) and ``lower`` (ASCII only, as TensorFlow's
    ``StringLower`` without an encoding: one ``StaticRegexReplace`` a letter), on cpu and webgl; with the defaults
    (``lower_and_strip_punctuation``, whitespace split)."""
    L = k.layers
    words = k.Input((3,), dtype="string", name="words")

    def tv(name, **options):
        return L.TextVectorization(vocabulary=VOCABULARY, name=name,
                                   **{"standardize": "strip_punctuation", "split": None, **options})

    text = k.Input((1,), dtype="string", name="text")
    ids = L.TextVectorization(vocabulary=VOCABULARY, output_sequence_length=6, name="defaults_to_6")(text)
    embedded = L.Embedding(len(VOCABULARY) + 2, 3, mask_zero=True, name="embedding")(ids)  # a text classifier
    classified = L.Dense(2, name="classes")(L.GlobalAveragePooling1D(name="mean")(embedded))
    return k.Model([words, text], [
        ids, classified, tv("stripped")(words), tv("stripped_bigrams", ngrams=2, output_sequence_length=7)(words),
        tv("stripped_count", output_mode="count")(words), tv("stripped_split", split="whitespace")(text),
        tv("stripped_split_hot", split="whitespace", output_mode="multi_hot")(text),
        tv("lowered", standardize="lower")(words), tv("lowered_split", standardize="lower", split="whitespace")(text),
        L.TextVectorization(vocabulary=VOCABULARY, name="defaults")(text),
        L.TextVectorization(vocabulary=VOCABULARY, split=None, ngrams=2, name="defaults_unsplit")(words),
        L.TextVectorization(vocabulary=VOCABULARY, ngrams=2, output_mode="tf_idf", name="defaults_bigrams",
                            idf_weights=list(np.linspace(0.25, 2.0, len(VOCABULARY))))(text)])


def adapted(k):
    """Adapted vocabularies (a ``.keras`` archive keeps them as assets; tf_idf's weights as the layer's)."""
    L = k.layers
    words = k.Input((3,), dtype="string", name="words")
    text = k.Input((1,), dtype="string", name="text")
    corpus = np.array([["the", "cat", "sat"], ["the", "x", "cat"], ["\u00e9t\u00e9", "the", "[x]"]], dtype=object)
    layers = [L.TextVectorization(standardize=None, split=None, name="adapted"),
              L.TextVectorization(standardize=None, split=None, output_mode="tf_idf", name="adapted_tf_idf"),
              L.TextVectorization(standardize=None, split=None, ngrams=2, output_sequence_length=6,
                                  name="adapted_bigrams")]
    for layer in layers:
        layer.adapt(corpus)
    sentences = L.TextVectorization(standardize=None, output_mode="tf_idf", name="adapted_sentences")
    sentences.adapt(np.array([" ".join(row) for row in corpus] + ["cat x x"], dtype=object))
    return k.Model([words, text], [*(layer(words) for layer in layers), sentences(text)])


def whitespace(k):
    """``split='whitespace'`` (Keras's default split) in every output mode, on ``[batch, 1]`` and ``[batch]``."""
    L = k.layers
    text = k.Input((1,), dtype="string", name="text")
    flat_text = k.Input((), dtype="string", name="flat_text")

    def tv(name, **options):
        return L.TextVectorization(vocabulary=VOCABULARY, standardize=None, name=name, **options)

    return k.Model([text, flat_text], [
        tv("split")(text), tv("split_to_4", output_sequence_length=4)(text),
        tv("split_to_12", output_sequence_length=12)(text), tv("split_flat", output_sequence_length=5)(flat_text),
        tv("split_multi_hot", output_mode="multi_hot")(text), tv("split_count", output_mode="count")(text),
        tv("split_tf_idf", output_mode="tf_idf", idf_weights=list(np.linspace(3.0, 0.5, len(VOCABULARY))))(text),
        tv("split_padded", output_mode="count", pad_to_max_tokens=True, max_tokens=24)(flat_text),
        tv("split_bigrams", ngrams=2)(text), tv("split_widths_2_3", ngrams=(2, 3), output_sequence_length=5)(text),
        tv("split_bigram_count", ngrams=2, output_mode="count")(flat_text)])


FAMILIES = {"text_vectorization": text_vectorization, "punctuation": punctuation, "adapted": adapted,
            "whitespace": whitespace}
CPU_WASM = [("text_vectorization", "keras3.keras"), ("text_vectorization", "keras3.h5"),
            ("text_vectorization", "tf_keras.h5"), ("whitespace", "keras3.keras"), ("whitespace", "tf_keras.h5"),
            ("whitespace", "tf_keras.keras"), ("adapted", "keras3.keras"), ("adapted", "tf_keras.keras")]
CPU_WEBGL = [("punctuation", "keras3.keras"), ("punctuation", "tf_keras.h5")]


def _save(family: str, flavor: str, folder: Path):
    model = FAMILIES[family](_module(flavor))
    inputs = {name: INPUTS[name].copy() for name in (t.name.split(":")[0] for t in model.inputs)}
    if family == "whitespace":  # Keras's outputs for a batch without tokens, beside the model's file
        empty = model([NO_TOKENS, NO_TOKENS[:, 0]])
        np.savez(case_file(folder, family, flavor).with_suffix(".no_tokens.npz"), *map(np.asarray, empty))
    return save_with_outputs(model, inputs, case_file(folder, family, flavor))


def _convert_poisoned(paths: list[Path], backends: str, *, allow_unsafe: bool = False) -> None:
    more = ", allow_unsafe_deserialization=True" if allow_unsafe else ""
    script = POISONED.replace('output_format="tfjs_graph_model")',
                              f'output_format="tfjs_graph_model", target_backends={backends!r}{more})')
    assert script != POISONED
    out = subprocess.run([sys.executable, "-c", script, *map(str, paths)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count(LOWERED) == len(paths), out.stdout
    assert out.stdout.rstrip().endswith("LOADED:"), out.stdout


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text_vectorization")
    saved = {case: _save(*case, folder) for case in CPU_WASM + CPU_WEBGL}
    _convert_poisoned([saved[case][0] for case in CPU_WASM], "cpu,wasm,webgl")
    _convert_poisoned([saved[case][0] for case in CPU_WEBGL], "cpu,webgl")
    return saved


def _verify(case, converted, backends, browser=None) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    path, inputs, outputs = converted[case]
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=backends, rtol=RTOL,
                          browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CPU_WASM, ids=[f"{f}-{v}" for f, v in CPU_WASM])
def test_text_vectorization_lowers_and_matches_keras(converted, tfjs_runtime, family, flavor):
    _verify((family, flavor), converted, ("cpu", "wasm"))


@pytest.mark.node
@pytest.mark.parametrize("flavor", ["keras3.keras", "tf_keras.h5"])
def test_a_batch_without_tokens_matches_keras(converted, tfjs_runtime, flavor):
    path = converted[("whitespace", flavor)][0]
    with np.load(path.with_suffix(".no_tokens.npz")) as saved:
        outputs = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    assert outputs[0].shape == (2, 0)
    _verify(("whitespace", flavor), {("whitespace", flavor): (path, {"text": NO_TOKENS, "flat_text": NO_TOKENS[:, 0]},
                                                                outputs)}, ("cpu", "wasm"))


@pytest.mark.node
@pytest.mark.parametrize("family,flavor", CPU_WEBGL, ids=[f"{f}-{v}" for f, v in CPU_WEBGL])
def test_strip_punctuation_matches_keras_on_cpu(converted, tfjs_runtime, family, flavor):
    _verify((family, flavor), converted, ("cpu",))


@pytest.mark.node
def test_text_vectorization_matches_keras_on_webgl(converted, browser):
    """The tables, ``StringNGrams``, ``StringSplit`` and ``StaticRegexReplace`` run on webgl too."""
    _verify(("punctuation", "keras3.keras"), converted, ("webgl",), browser)
    _verify(("text_vectorization", "keras3.keras"), converted, ("webgl",), browser)
    _verify(("whitespace", "keras3.keras"), converted, ("webgl",), browser)


@pytest.mark.node
def test_a_vocabulary_file_longer_than_max_tokens_counts_as_keras(tmp_path, tfjs_runtime):
    """tf_keras reads a vocabulary file whatever ``max_tokens``; with ``pad_to_max_tokens`` its bincount drops the
    ids past ``max_tokens``: the whitespace split's counts drop them too (they must not land in another sample's
    row, nor fail on cpu)."""
    tf_keras = pytest.importorskip("tf_keras")
    vocabulary = tmp_path / "vocabulary.txt"
    vocabulary.write_text("".join(f"w{i}\n" for i in range(8)), encoding="utf-8")
    text = tf_keras.Input((1,), dtype="string", name="text")
    model = tf_keras.Model(text, [tf_keras.layers.TextVectorization(
        vocabulary=str(vocabulary), standardize=None, max_tokens=4, pad_to_max_tokens=True, output_mode=mode,
        name=mode)(text) for mode in ("count", "multi_hot")])
    inputs = {"text": np.array([["w0 w5 w7 w1 zz w1"], ["w6"], [""]], dtype=object)}
    case = ("long_file", "tf_keras.h5")
    saved = {case: save_with_outputs(model, inputs, tmp_path / "long_file.h5")}
    _convert_poisoned([saved[case][0]], "cpu,wasm,webgl", allow_unsafe=True)
    _verify(case, saved, ("cpu", "wasm"))


def _with_entries(archive: Path, to: Path, edit) -> Path:
    """A copy of a ``.keras`` archive whose entries went through ``edit(name, data) -> data``."""
    import zipfile

    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(to, "w") as target:
        for name in source.namelist():
            target.writestr(name, edit(name, source.read(name)))
    return to


@pytest.mark.node
def test_the_asset_keras_loads_last_is_the_vocabulary(tmp_path, tfjs_runtime):
    """A ``.keras`` archive keeps an adapted TextVectorization's vocabulary twice (the layer's asset and its
    StringLookup's); Keras loads the StringLookup's last, so that copy is the vocabulary when they differ."""
    text = keras.Input((1,), dtype="string", name="text")
    layer = keras.layers.TextVectorization(standardize=None, name="adapted")
    layer.adapt(np.array(["the cat sat", "the x"], dtype=object))
    keras.Model(text, layer(text)).save(tmp_path / "saved.keras")
    swapped = _with_entries(tmp_path / "saved.keras", tmp_path / "swapped.keras", lambda name, data: data.replace(
        b"cat", b"dog") if name.endswith("_lookup_layer/vocabulary.txt") else data)
    inputs = {"text": np.array([["the dog cat"], ["sat x"]], dtype=object)}
    reloaded = keras.saving.load_model(swapped)
    case = ("swapped", "keras3.keras")
    saved = {case: (swapped, inputs, [np.asarray(reloaded(inputs["text"]))])}
    _convert_poisoned([swapped], "cpu,wasm,webgl")
    _verify(case, saved, ("cpu",))


def test_two_different_idf_copies_are_refused(tmp_path):
    """Keras 3 saves a tf_idf TextVectorization's idf weights twice and loads its StringLookup's copy last: copies
    that differ are refused (the lowering reads the layer's)."""
    import h5py
    import tfjsconv
    from tfjsconv.errors import InputError

    text = keras.Input((1,), dtype="string", name="text")
    layer = keras.layers.TextVectorization(standardize=None, output_mode="tf_idf", name="tf_idf")
    layer.adapt(np.array(["the cat sat", "the x"], dtype=object))
    keras.Model(text, layer(text)).save(tmp_path / "saved.keras")

    def edit(name: str, data: bytes) -> bytes:
        if name != "model.weights.h5":
            return data
        (tmp_path / "weights.h5").write_bytes(data)
        with h5py.File(tmp_path / "weights.h5", "r+") as weights:
            lookup = weights["layers/text_vectorization/_lookup_layer/vars"]
            lookup["idf_weights"][...] = lookup["idf_weights"][()] + 1.0
        return (tmp_path / "weights.h5").read_bytes()

    changed = _with_entries(tmp_path / "saved.keras", tmp_path / "changed.keras", edit)
    with pytest.raises(InputError, match=r"'tf_idf' keeps two different copies of its weights"):
        tfjsconv.convert(changed, tmp_path / "out", output_format="tfjs_graph_model", target_backends="cpu")


def test_strings_reach_only_string_ops_and_tables(converted):
    """Strings go to ``StaticRegexReplace`` (Keras's own pattern; ``\\x41`` -> ``a`` ...), ``StringNGrams``,
    ``StringSplit``, reshapes, one ``ConcatV2`` and table lookups: no ``Equal`` on strings (wrong on wasm) and no op
    TF.js lacks."""
    import base64

    from tfjsconv.plugins.keras.lowering.text_vectorization import LOWER_CASE, PUNCTUATION_PATTERN

    model = json.loads((Path(f"{converted[('punctuation', 'keras3.keras')][0]}.out") / "model.json").read_text())
    nodes = model["modelTopology"]["node"]
    forward = {"Reshape": "", "Squeeze": "", "StaticRegexReplace": "", "StringNGrams": "", "ConcatV2": "",
               "StringSplit": ":1"}  # the string output of each op that passes strings on
    strings, readers = {"words", "text"}, set()
    for node in nodes:  # in graph order
        if node["op"] in forward and node["input"][0] in strings:
            strings.add(node["name"] + forward[node["op"]])
    for node in nodes:
        if any(i in strings for i in node.get("input", [])):
            readers.add(node["op"])
    # Size: nonempty_lookup_keys counts the keys (one padding key when there is none: TF.js's lookup throws then)
    assert readers == {"LookupTableFindV2", *forward, "Shape", "Size"}, readers
    replaced = {(base64.b64decode(n["attr"]["pattern"]["s"]).decode(), base64.b64decode(n["attr"]["rewrite"]["s"])
                 .decode()) for n in nodes if n["op"] == "StaticRegexReplace"}
    assert replaced == {(PUNCTUATION_PATTERN, ""), *LOWER_CASE}


def test_split_ngrams_find_their_samples_in_linear_memory(converted):
    """Each split n-gram's sample comes from ``ScatterNd`` and ``Cumsum`` counts, not from a ``[tokens, samples]``
    comparison (which took 32 s on cpu for 512 sentences of 200 words, against 1 s)."""
    model = json.loads((Path(f"{converted[('whitespace', 'keras3.keras')][0]}.out") / "model.json").read_text())
    ops = {node["op"] for node in model["modelTopology"]["node"]}
    assert {"StringNGrams", "Cumsum"} <= ops and "LessEqual" not in ops, ops


def test_the_punctuation_pattern_is_keras_own():
    """The pattern is the one both Kerases use (read from their source, not retyped)."""
    import inspect

    from keras.src.layers.preprocessing import text_vectorization as keras3_tv
    from tfjsconv.plugins.keras.lowering.text_vectorization import PUNCTUATION_PATTERN

    pytest.importorskip("tf_keras")
    from tf_keras.src.layers.preprocessing import text_vectorization as tf_keras_tv

    assert f"r'{PUNCTUATION_PATTERN}'" in inspect.getsource(keras3_tv)  # a raw string: its text is the pattern
    assert tf_keras_tv.DEFAULT_STRIP_REGEX == PUNCTUATION_PATTERN


def test_what_tfjs_cannot_run_is_refused_by_name():
    L = keras.layers
    text = keras.Input((1,), dtype="string", name="text")

    def tv(name, **options):
        return L.TextVectorization(vocabulary=["a"], name=name, **options)(text)

    model = keras.Model(text, [
        tv("fine", standardize=None, split=None),
        tv("default"),
        tv("split", standardize=None),
        tv("characters", standardize=None, split="character"),
        tv("ragged", standardize=None, split=None, ragged=True),
        tv("sparse", standardize=None, split=None, output_mode="multi_hot", sparse=True)])
    assert layer_gaps_of(model) == [
        "'characters' (TextVectorization: split='character' (UnicodeDecode and RaggedTensorToTensor, which TF.js "
        "lacks))",
        "'ragged' (TextVectorization: ragged=True)", "'sparse' (TextVectorization: sparse=True)"]


def test_a_rank_1_input_is_refused_where_keras_mixes_the_batch(tmp_path):
    """On a rank-1 input Keras reads the whole batch as one sequence (n-grams across samples, one multi_hot row
    for the batch, output_sequence_length trimming the batch): refused with the hint. (Its plain ``int`` lookup is
    lowered: the ``text_vectorization`` family's ``flat``.)"""
    import tfjsconv
    from tfjsconv.errors import UsageError

    text = keras.Input((), dtype="string", name="text")
    layer = keras.layers.TextVectorization(vocabulary=["a"], standardize=None, split=None, ngrams=2, name="flat")
    keras.Model(text, layer(text)).save(tmp_path / "flat.keras")
    with pytest.raises(UsageError, match=r"'flat' \(TextVectorization\) with n-grams, .* on a rank-1 input") as err:
        tfjsconv.convert(tmp_path / "flat.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value.hint)
    assert not (tmp_path / "out").exists()
