"""A tf_keras lookup whose ``vocabulary`` is a path on the machine: never read unless the user vouches for it.

Keras reads such a path while building the layer, so a hostile ``.h5`` naming ``/etc/passwd`` would leak its
lines into model.json. Both paths (the h5py lowering and ``--loader=tensorflow``) refuse it by default without
opening the file (an audit hook in the converting process watches every ``open``); with
``--allow_unsafe_deserialization`` the lowering reads the file as TensorFlow's text-file table does (tf_keras
``.h5``, ``.keras`` and SavedModel; StringLookup, IntegerLookup and TextVectorization; CRLF, a leading OOV token,
signs and spaces around integers, a line holding the mask token), and TF.js (cpu, wasm) matches Keras's own
``model(x)``; a file TensorFlow fails on or TF.js would read otherwise is refused naming the layer, the path and why. Keras 3 keeps the vocabulary inside its
``.keras`` archive (an asset): no outside file is opened. Also: a path in any layer class (a tf_keras
``IndexLookup`` root) or in a ``DenseFeatures`` feature column is refused (FIFOs: TensorFlow's open would
block); a tf_keras SavedModel reads its own copies; each Keras splits its assets its own way.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
tf_keras = pytest.importorskip("tf_keras")

from test_keras_lowering import RTOL  # noqa: E402

CANARY = "canary-secret-4711"
WORDS = np.array([["alpha", CANARY, "zulu", "\u00e9t\u00e9"], ["beta", "nope", "alpha", ""]], dtype=object)

#: Converts argv[2] (options as JSON in argv[3]) with TensorFlow, Keras and tf_keras poisoned unless the
#: options name the TensorFlow loader; prints whether argv[1] was ever opened, then the outcome.
CONVERT = """
import json, sys
vocab, model, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
opened = []
sys.addaudithook(lambda event, args: opened.append(1) if event == "open" and str(args[0]) == vocab else None)
if options.get("loader") != "tensorflow":
    for name in ("tensorflow", "keras", "tf_keras"):
        sys.modules[name] = None
import tfjsconv, tfjsconv.errors
try:
    tfjsconv.convert(model, model + ".out", output_format="tfjs_graph_model", **options)
    outcome = "converted"
except tfjsconv.errors.TfjsconvError as err:
    outcome = type(err).__name__ + ": " + str(err) + " | " + str(err.hint)
print(json.dumps({"opened": bool(opened), "outcome": outcome}))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vocab_files")
    vocab = folder / "vocab.txt"
    vocab.write_text(f"alpha\nbeta\n{CANARY}\n\u00e9t\u00e9\n", encoding="utf-8")
    L = tf_keras.layers
    words = tf_keras.Input((4,), dtype="string", name="words")
    ids = L.StringLookup(vocabulary=str(vocab), name="from_file")(words)
    hot = L.StringLookup(vocabulary=str(vocab), output_mode="multi_hot", name="hot_from_file")(words)
    model = tf_keras.Model(words, [ids, hot])
    outputs = [np.asarray(o) for o in model(WORDS)]
    path = folder / "lookup.h5"
    model.save(path)
    return vocab, path, outputs


def _convert(vocab: Path, path: Path, timeout: float = 600, **options) -> dict:
    out = subprocess.run([sys.executable, "-c", CONVERT, str(vocab), str(path), json.dumps(options)],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("loader", ["auto", "tensorflow"])
def test_a_vocabulary_path_is_refused_by_default_without_opening_it(saved, loader):
    vocab, path, _ = saved
    result = _convert(vocab, path, loader=loader)
    assert not result["opened"], result
    outcome = result["outcome"]
    assert outcome.startswith("UnsafeInputError: "), outcome
    for name in ("'from_file' (StringLookup)", "'hot_from_file' (StringLookup)", repr(str(vocab)),
                 "--allow_unsafe_deserialization"):
        assert name in outcome, outcome
    assert not Path(f"{path}.out").exists()


@pytest.mark.node
def test_with_permission_the_lowering_reads_it_as_keras_does(saved, tfjs_runtime):
    vocab, path, outputs = saved
    result = _convert(vocab, path, allow_unsafe_deserialization=True)  # TensorFlow and Keras poisoned
    assert result == {"opened": True, "outcome": "converted"}, result
    from tfjsconv.verify.compare import format_report, verify_model

    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    report = verify_model(out, {"words": WORDS}, dict(zip(names, outputs, strict=True)), backends=("cpu", "wasm"),
                          rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)


#: Vocabulary files with what TensorFlow's text-file table reads in its own way: CRLF endings, a leading OOV
#: token (an ordinary token to the file, stripped from a config list), a ``\r`` inside a line and one
#: of two before the newline (kept), no final newline, integers with spaces and a sign.
QUIRKS = {"crlf": b"alpha\r\nbeta\r\n\xc3\xa9t\xc3\xa9\r\n", "oov_first": b"[UNK]\nalpha\nzulu",
          "odd": b"alpha\na\rb\nbeta\r\r\n", "ints": b" 3\n+7\r\n-1\n42\n",
          "mask_line": b"alpha\na\nzulu\n", "mask_int_line": b"7\n0\n42\n"}
QUIRK_INPUTS = {"words": np.array([["alpha", "[UNK]", "a\rb", "a"], ["\u00e9t\u00e9", "beta\r", "zulu", "beta"]],
                                  dtype=object),
                "ids": np.array([[3, 7, -1, 0], [42, 5, 3, -7]], dtype="int64"),
                "index": np.array([[0, 1, 2, 3], [4, 5, 1, 2]], dtype="int64")}


def quirk_lookups(k, files: dict[str, Path], *, keras3: bool = False):
    """A lookup per quirk file, in several output modes (Keras 3 saves them as assets, without the odd file)."""
    L = k.layers
    words = k.Input((4,), dtype="string", name="words")
    ids = k.Input((4,), dtype="int64", name="ids")
    index = k.Input((4,), dtype="int64", name="index")
    outputs = [L.StringLookup(vocabulary=str(files["crlf"]), name="crlf")(words),
               L.StringLookup(vocabulary=str(files["oov_first"]), name="oov_first")(words),
               L.StringLookup(vocabulary=str(files["oov_first"]), output_mode="multi_hot", name="oov_first_hot")(words),
               L.StringLookup(vocabulary=str(files["crlf"]), invert=True, mask_token="", name="crlf_inverse")(index),
               L.IntegerLookup(vocabulary=str(files["ints"]), mask_token=0, name="ints")(ids),
               L.IntegerLookup(vocabulary=str(files["ints"]), output_mode="count", name="int_count")(ids),
               L.IntegerLookup(vocabulary=str(files["ints"]), num_oov_indices=2, name="int_two_oov")(ids)]
    if not keras3:  # Keras 3 reloads its asset with universal newlines: ``a\rb`` would be two tokens
        outputs.append(L.StringLookup(vocabulary=str(files["odd"]), name="odd")(words))
    if not keras3:  # the mask token on a line: Keras checks lists (and assets) for it, not files
        mask_line, mask_int_line = str(files["mask_line"]), str(files["mask_int_line"])
        outputs += [L.StringLookup(vocabulary=mask_line, mask_token="a", name="mask_line")(words),
                    L.StringLookup(vocabulary=mask_line, mask_token="a", output_mode="count", num_oov_indices=2,
                                   name="mask_line_count")(words),
                    L.StringLookup(vocabulary=mask_line, mask_token="a", invert=True, name="mask_line_inverse")(index),
                    L.IntegerLookup(vocabulary=mask_int_line, mask_token=0, name="mask_int_line")(ids),
                    L.IntegerLookup(vocabulary=mask_int_line, mask_token=0, output_mode="multi_hot",
                                    name="mask_int_hot")(ids),
                    # TextVectorization's StringLookup (mask_token "", which no file line can be)
                    L.TextVectorization(vocabulary=str(files["oov_first"]), standardize=None, split=None,
                                        name="tv_oov_first")(words),
                    L.TextVectorization(vocabulary=str(files["crlf"]), standardize=None, split=None, ngrams=2,
                                        output_mode="count", name="tv_crlf_count")(words)]
    return k.Model([words, ids, index], outputs)


def _quirk_files(folder: Path) -> dict[str, Path]:
    for name, text in QUIRKS.items():
        (folder / f"{name}.txt").write_bytes(text)
    return {name: folder / f"{name}.txt" for name in QUIRKS}


def _expected(model, outputs) -> dict[str, np.ndarray]:
    names = [name.split("/")[0] for name in model.output_names]
    return dict(zip(names, [np.asarray(o) for o in outputs], strict=True))


def _verify_quirks(out: Path, expected: dict[str, np.ndarray]) -> None:
    from tfjsconv.verify.compare import format_report, verify_model

    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    assert sorted(names) == sorted(expected), names
    report = verify_model(out, QUIRK_INPUTS, expected, backends=("cpu", "wasm"), rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)


@pytest.fixture(scope="module")
def tf_keras_quirks(tmp_path_factory):
    """One tf_keras model saved as ``.h5``, ``.keras`` and a SavedModel (each keeps the paths in its config)."""
    folder = tmp_path_factory.mktemp("vocab_quirks")
    files = _quirk_files(folder)
    model = quirk_lookups(tf_keras, files)
    expected = _expected(model, model([*QUIRK_INPUTS.values()]))
    paths = {suffix: folder / f"quirks{suffix}" for suffix in (".h5", ".keras", "_savedmodel")}
    for suffix, path in paths.items():
        model.save(path, **({"save_format": "tf"} if suffix == "_savedmodel" else {}))
    return files, paths, expected


@pytest.mark.node
@pytest.mark.parametrize("suffix", [".h5", ".keras", "_savedmodel"])
def test_tf_keras_files_with_quirks_are_read_as_tensorflow_reads_them(tf_keras_quirks, tfjs_runtime, suffix):
    """The SavedModel through its ``keras_metadata.pb`` config, reading its own copies (assets/) as tf_keras does."""
    files, paths, expected = tf_keras_quirks
    more = {"input_format": "keras_saved_model"} if suffix == "_savedmodel" else {}
    result = _convert(files["crlf"], paths[suffix], allow_unsafe_deserialization=True, **more)  # TF, Keras poisoned
    assert result == {"opened": suffix != "_savedmodel", "outcome": "converted"}, result
    _verify_quirks(Path(f"{paths[suffix]}.out"), expected)


@pytest.mark.node
def test_tf_keras_files_with_quirks_on_webgl(tf_keras_quirks, browser, tmp_path):
    """Tables filled from the files run on webgl too (strings with ``\\r`` fed through the page)."""
    from tfjsconv.verify.compare import format_report, verify_model

    files, paths, expected = tf_keras_quirks
    model = tmp_path / "quirks.h5"
    model.write_bytes(paths[".h5"].read_bytes())
    assert _convert(files["crlf"], model, allow_unsafe_deserialization=True)["outcome"] == "converted"
    report = verify_model(Path(f"{model}.out"), QUIRK_INPUTS, expected, backends=("webgl",), rtol=RTOL,
                          browser_session=browser, quiet=True)
    assert report.passed, format_report(report)


def test_a_tf_keras_archive_naming_files_is_refused_by_default(tf_keras_quirks, tmp_path):
    files, paths, _ = tf_keras_quirks
    archive = tmp_path / "quirks.keras"
    archive.write_bytes(paths[".keras"].read_bytes())
    result = _convert(files["ints"], archive)
    assert not result["opened"], result
    for name in ("UnsafeInputError: ", "'ints' (IntegerLookup)", "'crlf' (StringLookup)", repr(str(files["ints"])),
                 "--allow_unsafe_deserialization"):
        assert name in result["outcome"], result
    assert not Path(f"{archive}.out").exists()


@pytest.mark.node
def test_keras3_archives_carry_the_file_as_an_asset(tmp_path, tfjs_runtime):
    """Keras 3 saves a file vocabulary inside the ``.keras`` (``assets/``, config ``vocabulary: null``): no
    outside file, no permission needed; the expected values are Keras's reloaded model, the files deleted."""
    keras = pytest.importorskip("keras")
    files = _quirk_files(tmp_path)
    path = tmp_path / "quirks3.keras"
    quirk_lookups(keras, files, keras3=True).save(path)
    for file in files.values():
        file.unlink()
    reloaded = keras.saving.load_model(path)  # safe mode: the assets only
    expected = _expected(reloaded, reloaded([*QUIRK_INPUTS.values()]))
    result = _convert(files["crlf"], path)
    assert result == {"opened": False, "outcome": "converted"}, result
    _verify_quirks(Path(f"{path}.out"), expected)


def test_files_the_lowering_cannot_read_exactly_are_named_with_the_reason(tmp_path, monkeypatch):
    from tfjsconv.plugins.keras import text_file_vocabulary
    from tfjsconv.plugins.keras.lowering.registry import loaded_lowerings
    from tfjsconv.plugins.keras.vocabulary_files import FILE_GAP_KEY, with_file_vocabularies

    monkeypatch.setattr(text_file_vocabulary, "MAX_VOCABULARY_BYTES", 64)
    cases = {"repeat": ("StringLookup", b"a\nb\na\n", {}, "repeats the token 'a'"),
             "blank": ("StringLookup", b"a\n\nb\n", {}, "has an empty line 2"),
             "cr_blank": ("StringLookup", b"a\n\r\n", {}, "has an empty line 2"),
             "trailing_blank": ("StringLookup", b"a\nb\n\n", {}, "has an empty line 3"),
             "empty": ("StringLookup", b"", {}, "is empty"),
             "latin1": ("StringLookup", b"caf\xe9\n", {}, "is not UTF-8"),
             "bom": ("StringLookup", b"\xef\xbb\xbfa\n", {}, "has line 1 starting with a byte-order mark"),
             "big": ("StringLookup", b"a\n" * 40, {}, "is larger than"),
             "tf_idf": ("StringLookup", b"a\n", {"output_mode": "tf_idf"}, "output_mode='tf_idf'"),
             "latin1_encoding": ("StringLookup", b"a\n", {"encoding": "latin-1"}, "encoding='latin-1'"),
             "hex": ("IntegerLookup", b"1\n0x10\n", {}, "has line 2 b'0x10', not an integer"),
             "same_int": ("IntegerLookup", b"1\n01\n", {}, "repeats the token 1"),
             "huge_int": ("IntegerLookup", b"9223372036854775808\n", {}, "outside int64"),
             "gone": ("StringLookup", None, {}, "is not a readable file")}
    layers = []
    for name, (cls, text, options, _) in cases.items():
        if text is not None:
            (tmp_path / name).write_bytes(text)
        layers.append({"class_name": cls, "config": {"name": name, "vocabulary": str(tmp_path / name),
                                                     "oov_token": "[UNK]" if cls == "StringLookup" else -1,
                                                     "mask_token": None, **options}})
    for name, cls, text in (("fine", "StringLookup", b"[UNK]\nb\r\n"), ("fine_ints", "IntegerLookup", b"-1\n 5\n")):
        (tmp_path / name).write_bytes(text)
        layers.append({"class_name": cls, "config": {"name": name, "vocabulary": str(tmp_path / name),
                                                     "oov_token": "[UNK]" if cls == "StringLookup" else -1}})
    config = {"class_name": "Functional", "config": {"name": "m", "layers": layers}}
    read = {layer["config"]["name"]: layer["config"] for layer in with_file_vocabularies(config)["config"]["layers"]}
    # a leading OOV token is an ordinary token of the file: doubled, so the config's prefix strip leaves it
    assert read.pop("fine")["vocabulary"] == ["[UNK]", "[UNK]", "b"]
    assert read.pop("fine_ints")["vocabulary"] == [-1, -1, 5]
    for name, layer in read.items():
        assert layer["vocabulary"] == str(tmp_path / name) and cases[name][3] in layer[FILE_GAP_KEY], (name, layer)
    lowerings = loaded_lowerings()
    for name, (cls, *_, why) in cases.items():  # the lookups' checks refuse the path with the reason
        gap = lowerings[cls].check(read[name])
        assert gap == f"the vocabulary file {str(tmp_path / name)!r} {read[name][FILE_GAP_KEY]}", gap


def test_a_file_tensorflow_would_fail_on_is_refused_by_name(saved, tmp_path):
    """The saved file's vocabulary gains a repeated line: Keras could not build the layer, the lowering says why."""
    vocab, path, _ = saved
    broken = tmp_path / "lookup.h5"
    broken.write_bytes(path.read_bytes())
    original = vocab.read_bytes()
    try:
        vocab.write_bytes(original + b"alpha\n")
        outcome = _convert(vocab, broken, allow_unsafe_deserialization=True)["outcome"]
    finally:
        vocab.write_bytes(original)
    for name in ("'from_file' (StringLookup", "'hot_from_file' (StringLookup", repr(str(vocab)),
                 "repeats the token 'alpha'", "--loader=tensorflow"):
        assert name in outcome, outcome
    assert not Path(f"{broken}.out").exists()


#: Adapted tokens holding characters ``str.splitlines`` breaks at but tf_keras's asset reader does not, and the
#: empty string as the last (least frequent) token, which tf_keras keeps and Keras 3's reader drops.
ODD_TOKENS = np.array([["zz", "a\u2028b", "x\x0cy", "zz", "p\x85q", "a\u2028b", "zz", "x\x0cy", ""]], dtype=object)


@pytest.mark.node
def test_a_tf_keras_archive_asset_is_split_as_tf_keras_splits_it(tmp_path, tfjs_runtime):
    """tf_keras writes an adapted vocabulary as an asset of its ``.keras`` and reloads it splitting at ``\\n`` only
    (Keras 3 would split at ``\\u2028`` too, and drop the trailing empty token): the numbers are tf_keras's."""
    from tfjsconv.verify.compare import format_report, verify_model

    words = tf_keras.Input((9,), dtype="string", name="words")
    lookup = tf_keras.layers.StringLookup(name="adapted")
    lookup.adapt(ODD_TOKENS)
    assert lookup.get_vocabulary()[-1] == ""  # the asset ends with an empty line
    path = tmp_path / "adapted.keras"
    tf_keras.Model(words, lookup(words)).save(path)
    reloaded = tf_keras.models.load_model(path)
    expected = np.asarray(reloaded(ODD_TOKENS))
    assert len(set(expected[0].tolist())) == 5, expected  # four tokens and the empty one, none OOV
    result = _convert(tmp_path / "none.txt", path)
    assert result == {"opened": False, "outcome": "converted"}, result
    out = Path(f"{path}.out")
    name = next(iter(json.loads((out / "model.json").read_text())["signature"]["outputs"]))
    report = verify_model(out, {"words": ODD_TOKENS}, {name: expected}, backends=("cpu", "wasm"), rtol=RTOL,
                          quiet=True)
    assert report.passed, format_report(report)


@pytest.mark.node
def test_a_tf_keras_saved_model_reads_its_own_copies_not_the_paths(tmp_path, tfjs_runtime):
    """tf_keras copies each vocabulary file into the SavedModel's assets/ and reloads the tables from the copies:
    the files changed (or gone) since saving must not change the numbers (the paths are never opened)."""
    from tfjsconv.verify.compare import format_report, verify_model

    words_file, ids_file = tmp_path / "words.txt", tmp_path / "ids.txt"
    words_file.write_bytes(b"alpha\nbeta\r\nzulu\n")
    ids_file.write_bytes(b"7\n3\n42\n")
    L = tf_keras.layers
    words = tf_keras.Input((4,), dtype="string", name="words")
    ids = tf_keras.Input((4,), dtype="int64", name="ids")
    model = tf_keras.Model([words, ids], [L.StringLookup(vocabulary=str(words_file), name="w")(words),
                                          L.IntegerLookup(vocabulary=str(ids_file), num_oov_indices=2,
                                                          name="i")(ids)])
    path = tmp_path / "lookups_savedmodel"
    model.save(path, save_format="tf")
    words_file.write_bytes(b"zulu\nalpha\nbeta\n")  # changed after saving
    ids_file.unlink()  # gone
    inputs = {"words": np.array([["alpha", "beta", "zulu", "x"]], dtype=object),
              "ids": np.array([[3, 7, 42, 5]], dtype="int64")}
    reloaded = tf_keras.models.load_model(path)
    expected = _expected(reloaded, reloaded([inputs["words"], inputs["ids"]]))
    assert expected["w"].tolist() == [[1, 2, 3, 0]], expected  # the copy's order, not the changed file's
    result = _convert(words_file, path, allow_unsafe_deserialization=True, input_format="keras_saved_model")
    assert result == {"opened": False, "outcome": "converted"}, result
    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    assert sorted(names) == sorted(expected), names
    report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)


def test_a_path_in_any_layer_class_is_refused_before_keras_opens_it(tmp_path):
    """tf_keras builds a ``.keras`` archive's root from its ``module``: an ``IndexLookup`` (no exported name)
    reads its ``vocabulary`` path as StringLookup does. The path is a FIFO: opening it would block."""
    import os
    import zipfile

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    words = tf_keras.Input((2,), dtype="string", name="words")
    base = tmp_path / "base.keras"
    tf_keras.Model(words, tf_keras.layers.StringLookup(vocabulary=["a"], name="lk")(words)).save(base)
    root = {"module": "tf_keras.src.layers.preprocessing.index_lookup", "class_name": "IndexLookup",
            "registered_name": None, "build_config": {"input_shape": [None, 2]},
            "config": {"name": "lk", "max_tokens": None, "num_oov_indices": 1, "mask_token": None,
                       "oov_token": "[UNK]", "vocabulary_dtype": "string", "vocabulary": str(fifo)}}
    path = tmp_path / "index_lookup.keras"
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(path, "w") as archive:
        for name in source.namelist():
            archive.writestr(name, json.dumps(root) if name == "config.json" else source.read(name))
    outcome = _convert(fifo, path, loader="tensorflow", timeout=120)["outcome"]
    for name in ("UnsafeInputError: ", "'lk' (IndexLookup)", repr(str(fifo)), "--allow_unsafe_deserialization"):
        assert name in outcome, outcome


@pytest.mark.node
def test_a_keras3_asset_wins_over_a_path_in_the_config(tmp_path, tfjs_runtime):
    """Keras 3 builds a lookup from a ``vocabulary`` path, then reloads the archive's asset over it: a
    hand-edited ``.keras`` naming a file beside its asset gets the asset's numbers, as Keras gives them."""
    import zipfile

    from tfjsconv.verify.compare import format_report, verify_model

    keras = pytest.importorskip("keras")
    words = keras.Input((4,), dtype="string", name="words")
    lookup = keras.layers.StringLookup(name="adapted")
    lookup.adapt(np.array([["b", "a", "a", "c", "c", "c"]], dtype=object))
    base = tmp_path / "base.keras"
    keras.Model(words, lookup(words)).save(base)
    other = tmp_path / "other.txt"
    other.write_bytes(b"a\nb\nc\n")  # another order than the asset's (c, a, b)
    path = tmp_path / "path_and_asset.keras"
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(path, "w") as archive:
        for name in source.namelist():
            data = source.read(name)
            if name == "config.json":
                config = json.loads(data)
                layer = next(x for x in config["config"]["layers"] if x["class_name"] == "StringLookup")
                layer["config"]["vocabulary"] = str(other)
                data = json.dumps(config).encode()
            archive.writestr(name, data)
    x = np.array([["a", "b", "c", "d"]], dtype=object)
    reloaded = keras.saving.load_model(path, safe_mode=False)
    expected = np.asarray(reloaded(x))
    assert expected.tolist() == [[2, 3, 1, 0]], expected  # the asset's numbers, not the file's
    result = _convert(other, path, allow_unsafe_deserialization=True)
    assert result["outcome"] == "converted", result
    out = Path(f"{path}.out")
    name = next(iter(json.loads((out / "model.json").read_text())["signature"]["outputs"]))
    report = verify_model(out, {"words": x}, {name: expected}, backends=("cpu", "wasm"), rtol=RTOL, quiet=True)
    assert report.passed, format_report(report)


def test_a_feature_column_vocabulary_file_is_refused_before_tensorflow_opens_it(tmp_path):
    """tf_keras's ``DenseFeatures`` nests feature columns in its config; TensorFlow fills a
    ``categorical_column_with_vocabulary_file`` table from the path while tracing (the lines would land in the
    weights). The path is refused like a lookup's; here a FIFO, which TensorFlow's open would block on."""
    import os

    import h5py

    tf = pytest.importorskip("tensorflow")
    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes(b"alpha\nbeta\n")
    column = tf.feature_column.categorical_column_with_vocabulary_file("w", str(vocab))
    inputs = {"w": tf_keras.Input((1,), dtype="string", name="w")}
    features = tf_keras.layers.DenseFeatures([tf.feature_column.indicator_column(column)], name="features")
    path = tmp_path / "features.h5"
    tf_keras.Model(inputs, features(inputs)).save(path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with h5py.File(path, "r+") as file:
        config = file.attrs["model_config"]
        config = config.decode() if isinstance(config, bytes) else config
        assert json.dumps(str(vocab)) in config
        file.attrs["model_config"] = config.replace(json.dumps(str(vocab)), json.dumps(str(fifo)))
    outcome = _convert(fifo, path, loader="tensorflow", target_backends=["cpu"], timeout=120)["outcome"]
    for name in ("UnsafeInputError: ", "'features' (DenseFeatures)", repr(str(fifo)), "(vocabulary_file)",
                 "--allow_unsafe_deserialization"):
        assert name in outcome, outcome
    assert not Path(f"{path}.out").exists()


@pytest.mark.parametrize("loader", ["auto", "tensorflow"])
def test_a_fifo_or_device_is_refused_even_with_permission(saved, tmp_path, loader):
    """With the flag the lowering skips what is no regular file, but TensorFlow would then open it: a FIFO
    blocks, ``/dev/zero`` never ends. Both are refused by name before anything opens them."""
    import os

    import h5py

    vocab, path, _ = saved
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    hostile = tmp_path / "special.h5"
    hostile.write_bytes(path.read_bytes())
    with h5py.File(hostile, "r+") as file:
        config = json.loads(file.attrs["model_config"])
        paths = iter([str(fifo), "/dev/zero"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "StringLookup":
                layer["config"]["vocabulary"] = next(paths)
        file.attrs["model_config"] = json.dumps(config)
    outcome = _convert(fifo, hostile, loader=loader, allow_unsafe_deserialization=True, timeout=120)["outcome"]
    for name in ("InputError: ", "'from_file' (StringLookup)", "'hot_from_file' (StringLookup)", repr(str(fifo)),
                 "'/dev/zero'", "is not a regular file"):
        assert name in outcome, outcome


def test_a_config_cannot_claim_its_vocabulary_came_from_a_file():
    """The marker that lets a file's mask-token line through is a value no JSON config can hold."""
    from tfjsconv.plugins.keras.lowering.lookup_tables import _from_file
    from tfjsconv.plugins.keras.vocabulary_files import FILE_READ_KEY, ReadFromFile

    assert not _from_file({FILE_READ_KEY: True, "vocabulary": ["[UNK]", "a"]})
    assert not _from_file({FILE_READ_KEY: "ReadFromFile"})
    assert _from_file({FILE_READ_KEY: ReadFromFile})
