"""Hash tables from graph constants and asset files convert without TensorFlow (issue 15), like the TF path.

TensorFlow builds the SavedModels and computes the references in this process; each conversion runs
in a subprocess where importing ``tensorflow``, ``keras`` or ``tf_keras`` fails. TF.js (cpu, wasm)
runs the converted model on keys in and out of the vocabulary and is compared with TensorFlow; the
``--loader=tensorflow`` conversion gives the same graph and ``modelInitializer``. Text files are
read as TF's own ``TextFileInitializer`` reads them, and an asset path that leaves ``assets/`` is
refused with exit code 2.
"""
from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from test_savedmodel_tf_free import convert_without_tf  # noqa: E402

import tfjsconv  # noqa: E402
from tfjsconv.dtypes import DType  # noqa: E402
from tfjsconv.errors import InputError  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402

pytestmark = pytest.mark.node

#: An asset read whole (CRLF, utf-8, no final newline) and one read by column (a final newline).
VOCAB = "héllo\r\nworld\ntf.js\nzebra".encode()
COLUMNS = b"apple\tfruit\t3\nbanana\tfruit\t5\ncarrot\tveg\t-7\n"


def _save(module, path: Path) -> Path:
    import tensorflow as tf

    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def constant_tables(path: Path) -> Path:
    """KeyValueTensorInitializer tables: string -> int64 and int64 -> float32."""
    import tensorflow as tf

    class Tables(tf.Module):
        def __init__(self):
            super().__init__()
            init = tf.lookup.KeyValueTensorInitializer
            self.word_ids = tf.lookup.StaticHashTable(
                init(tf.constant(["a", "b", "tf.js", "héllo", ""]), tf.constant([5, -3, 1000, 7, 0], tf.int64)), -1)
            self.scores = tf.lookup.StaticHashTable(
                init(tf.constant([3, -1, 40, 0], tf.int64), tf.constant([0.5, -2.25, 1e-3, 7.0], tf.float32)), -1.5)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([None], tf.int64, name="ids")])
        def __call__(self, words, ids):
            return {"word_id": self.word_ids.lookup(words), "score": self.scores.lookup(ids) * 2.0}

    return _save(Tables(), path)


def text_file_tables(path: Path, source: Path) -> Path:
    """TextFileInitializer tables from assets: whole line / line number / column, vocab_size and offset."""
    import tensorflow as tf

    source.mkdir()
    (source / "vocab.txt").write_bytes(VOCAB)
    (source / "columns.tsv").write_bytes(COLUMNS)
    vocab, columns = str(source / "vocab.txt"), str(source / "columns.tsv")
    index = tf.lookup.TextFileIndex

    class Assets(tf.Module):
        def __init__(self):
            super().__init__()
            init, table = tf.lookup.TextFileInitializer, tf.lookup.StaticHashTable
            self.line_of = table(init(vocab, tf.string, index.WHOLE_LINE, tf.int64, index.LINE_NUMBER), -1)
            self.word_of = table(init(vocab, tf.int64, index.LINE_NUMBER, tf.string, index.WHOLE_LINE), "?")
            self.column = table(init(columns, tf.string, 0, tf.int64, 2), -100)
            self.first = table(init(vocab, tf.string, index.WHOLE_LINE, tf.int64, index.LINE_NUMBER,
                                    vocab_size=2, value_index_offset=10), -1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([None], tf.int64, name="ids")])
        def __call__(self, words, ids):
            return {"line": self.line_of.lookup(words), "word": self.word_of.lookup(ids),
                    "column": self.column.lookup(words), "first": self.first.lookup(words) + self.first.size()}

    return _save(Assets(), path)


def vocabulary(path: Path) -> Path:
    """A StringLookup-style vocabulary (index 0 for out-of-vocabulary tokens) feeding an embedding."""
    import tensorflow as tf

    class Vocabulary(tf.Module):
        def __init__(self):
            super().__init__()
            words = ["the", "cat", "sat", "on", "mat"]
            self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(words), tf.range(1, len(words) + 1, dtype=tf.int64)), default_value=0)
            rng = np.random.default_rng(11)
            self.embedding = tf.Variable(rng.normal(size=(len(words) + 1, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string, name="tokens")])
        def __call__(self, tokens):
            ids = self.table.lookup(tokens)
            return {"ids": ids, "vectors": tf.reduce_mean(tf.gather(self.embedding, ids), axis=1)}

    return _save(Vocabulary(), path)


def keras_lookups(path: Path) -> Path:
    """Keras 3's own StringLookup and IntegerLookup layers in a tf.Module."""
    import keras
    import tensorflow as tf

    class Lookups(tf.Module):
        def __init__(self):
            super().__init__()
            self.words = keras.layers.StringLookup(vocabulary=["the", "cat", "sat"])
            self.numbers = keras.layers.IntegerLookup(vocabulary=[10, 20, 30])

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([None], tf.int64, name="ids")])
        def __call__(self, words, ids):
            return {"word": self.words(words), "number": self.numbers(ids)}

    return _save(Lookups(), path)


def _strings(*words: str) -> np.ndarray:
    return np.array([w.encode() for w in words], dtype=object)


INPUTS = {
    "constants": {"words": _strings("a", "héllo", "nope", "tf.js", "", "B"),
                  "ids": np.array([3, 40, 2, -1, 0, 7], np.int64)},
    "text_files": {"words": _strings("héllo", "world", "zebra", "apple", "carrot", "kiwi", "tf.js"),
                   "ids": np.array([0, 3, 1, 4, -1, 2, 2], np.int64)},
    "vocabulary": {"tokens": np.array([[b"the", b"cat", b"sat"], [b"on", b"dog", b"mat"]], dtype=object)},
    "keras_lookups": {"words": _strings("sat", "dog", "the", ""), "ids": np.array([20, 5, 30, 10], np.int64)},
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf_free_tables")
    return {"constants": constant_tables(root / "constants"),
            "text_files": text_file_tables(root / "text_files", root / "text_sources"),
            "vocabulary": vocabulary(root / "vocabulary"), "keras_lookups": keras_lookups(root / "keras_lookups")}


def _doc(out: Path) -> dict:
    return json.loads((out / "model.json").read_text())


def _shape(doc: dict) -> tuple:
    """What the TF path and this one must share: both graphs' op histograms and the resource wiring."""
    resources = sorted(v["resourceId"] for v in doc["signature"]["inputs"].values() if "resourceId" in v)
    initialised = sorted(v["resourceId"] for v in doc["initializerSignature"]["outputs"].values())
    return (collections.Counter(n["op"] for n in doc["modelTopology"]["node"]),
            collections.Counter(n["op"] for n in doc["modelInitializer"]["node"]), resources, initialised)


@pytest.mark.parametrize("name", ["constants", "text_files", "vocabulary", "keras_lookups"])
def test_tables_convert_without_tensorflow_like_tf(name, models, tmp_path, tfjs_runtime):
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import verify_model

    source, out = models[name], tmp_path / "free"
    run = convert_without_tf(str(source), str(out))
    assert run.returncode == 0, run.stderr
    doc = _doc(out)
    tables = sum(n["op"] == "HashTableV2" for n in doc["modelInitializer"]["node"])
    assert tables == {"constants": 2, "text_files": 4, "vocabulary": 1, "keras_lookups": 2}[name]
    options = ConvertOptions()
    options.extra["model_dir"] = str(out)
    expected = get_plugin_manager().registry.frontends["tf_saved_model"].reference(source, INPUTS[name], options)
    report = verify_model(out, INPUTS[name], expected, backends=("cpu", "wasm"), rtol=1e-6, atol=0.0)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == {"cpu", "wasm"}
    tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow")  # parity with the TF path
    assert _shape(doc) == _shape(_doc(tmp_path / "tf"))
    assert "loaded with TensorFlow" not in json.dumps(doc)


def _tf_contents(file: Path, key_dtype, key_index: int, value_dtype, value_index: int, **kwargs):
    """TensorFlow's own table from ``file``, as {key: value} (or the error TF raises)."""
    import tensorflow as tf

    try:
        table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
            str(file), key_dtype, key_index, value_dtype, value_index, **kwargs), default_value=(
                "" if value_dtype == tf.string else -1))
        keys, values = table.export()
    except (tf.errors.OpError, ValueError):
        return None
    return dict(zip(keys.numpy().tolist(), values.numpy().tolist()))


TEXT_CASES = [  # file bytes, (key dtype, key index, value dtype, value index), keyword arguments
    (VOCAB, ("string", -2, "int64", -1), {}),
    (b"a\nb\n\n", ("string", -2, "int64", -1), {}),  # an empty last line: TF refuses
    (b"a\n\nb\n", ("string", -2, "int64", -1), {}),  # an empty line inside: TF refuses
    (b"a\r\nb\r\n\r", ("string", -2, "int64", -1), {}),  # a lone CR at the end is no line
    (b"x\x00y\n\xff\xfe\n", ("string", -2, "int64", -1), {}),  # raw bytes, not utf-8
    (COLUMNS, ("string", 0, "int64", 2), {}),
    (COLUMNS, ("int64", -1, "string", 1), {}),
    (b"7 \t a\n-8\tb\n+9\tc\n", ("int64", 0, "string", 1), {}),  # spaces and signs around numbers
    (b"1\t2.5\n2\t-1e3\n3\tinf\n", ("int64", 0, "float", 1), {}),
    (b"1\t2.5\n2\t1.0.0\n", ("int64", 0, "float", 1), {}),  # not a float: TF refuses
    (b"5\n6\n7\n", ("int64", -1, "int32", -2), {"value_index_offset": 3}),  # int32 fields get the offset
    (b"a\tb\nc\n", ("string", 0, "string", 1), {}),  # a missing column: TF refuses
    (b"a\nb\na\n", ("string", -2, "int64", -1), {}),  # a key twice with different values: TF refuses
    (b"a\t1\nb\t2\na\t1\n", ("string", 0, "int64", 1), {}),  # twice with the same value: fine
    (VOCAB, ("string", -2, "int64", -1), {"vocab_size": 3, "value_index_offset": 5}),
    (VOCAB, ("string", -2, "int64", -1), {"vocab_size": 9}),  # more than the file has: TF refuses
    (b"a;b\nc;d\n", ("string", 0, "string", 1), {"delimiter": ";"}),
    (b"1\tnan\n2\t+NaN\n", ("int64", 0, "float", 1), {}),  # NaN values load (a NaN is no second value)
    (b"1\tnan\n1\tnan\n", ("int64", 0, "float", 1), {}),  # the same key twice with NaN: NaN != NaN for TF too
    # float32 rounded once, from the decimal (not through float64): 1 ulp up, and the largest float, not inf
    (b"1\t1.00000005960464477539062500000001\n2\t3.4028235677973366e38\n", ("int64", 0, "float", 1), {}),
]


@pytest.mark.parametrize("case", range(len(TEXT_CASES)))
def test_text_files_are_read_like_tensorflow(case, tmp_path):
    import tensorflow as tf

    from tfjsconv.plugins.savedmodel.text_file_table import text_file_contents

    data, (key_type, key_index, value_type, value_index), kwargs = TEXT_CASES[case]
    file = tmp_path / "table.txt"
    file.write_bytes(data)
    tf_types = {"string": tf.string, "int64": tf.int64, "int32": tf.int32, "float": tf.float32}
    expected = _tf_contents(file, tf_types[key_type], key_index, tf_types[value_type], value_index, **kwargs)
    ours_types = {"string": DType.STRING, "int64": DType.INT64, "int32": DType.INT32, "float": DType.FLOAT32}
    try:
        keys, values = text_file_contents(
            file, key_dtype=ours_types[key_type], value_dtype=ours_types[value_type], key_index=key_index,
            value_index=value_index, vocab_size=kwargs.get("vocab_size", -1),
            delimiter=kwargs.get("delimiter", "\t").encode(), offset=kwargs.get("value_index_offset", 0))
    except InputError:
        assert expected is None, f"TF reads it: {expected}"
        return
    assert expected is not None, "TF refuses this file"
    ours = dict(zip(keys.tolist(), values.tolist()))
    nan = [k for k, v in expected.items() if isinstance(v, float) and np.isnan(v)]
    assert all(np.isnan(ours.pop(k)) for k in nan) and ours == {k: v for k, v in expected.items() if k not in nan}


def _edit_first_asset(source: Path, filename: str) -> None:
    from tfjsconv.plugins.savedmodel import schema

    model = schema.SavedModel.FromString((source / "saved_model.pb").read_bytes())
    model.meta_graphs[0].asset_file_def[0].filename = filename
    (source / "saved_model.pb").write_bytes(model.SerializeToString())


@pytest.mark.parametrize("escape", ["dotdot", "absolute", "symlink", "symlinked_assets_folder"])
def test_an_asset_path_leaving_assets_is_refused(escape, models, tmp_path):
    source = Path(shutil.copytree(models["text_files"], tmp_path / "bad"))
    outside = tmp_path / "secret.txt"
    outside.write_bytes(VOCAB)
    if escape == "dotdot":
        shutil.copy(outside, source / "secret.txt")
        _edit_first_asset(source, "../secret.txt")
    elif escape == "absolute":
        _edit_first_asset(source, str(outside))
    elif escape == "symlinked_assets_folder":  # the folder itself points out of the SavedModel
        shutil.move(source / "assets", tmp_path / "elsewhere")
        os.symlink(tmp_path / "elsewhere", source / "assets")
    else:
        for asset in (source / "assets").iterdir():
            asset.unlink()
            os.symlink(outside, asset)
    run = convert_without_tf(str(source), str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr
    message = run.stderr.strip().splitlines()[0]
    assert "outside the SavedModel's assets/ folder" in message and "table" in message, message
    assert not (tmp_path / "out").exists()


def test_a_missing_asset_is_a_clear_error(models, tmp_path):
    source = Path(shutil.copytree(models["text_files"], tmp_path / "bad"))
    (source / "assets" / "columns.tsv").unlink()
    run = convert_without_tf(str(source), str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr
    assert "columns.tsv" in run.stderr and "missing" in run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("saver", ["builder", "simple_save", "builder_no_init_op"])
def test_tf1_table_initializers_give_what_a_tf1_session_holds(saver, tmp_path):
    """main_op, legacy_init_op or the table_initializer collection; index_table_from_tensor's
    Cast(Range(Size)) values. (Wiring TF1 SavedModels to it is tf_free_tf1's part.)"""
    from test_savedmodel_control_flow import tf1_tables

    from tfjsconv.plugins.savedmodel.freeze_v1 import freeze_tf1_session
    from tfjsconv.plugins.savedmodel.source import read_saved_model
    from tfjsconv.plugins.savedmodel.tf_free_tables import TableSource

    source = tf1_tables(tmp_path / "tf1", used=True, saver=saver)
    expected = freeze_tf1_session(source, ["serve"], "serving_default").resources  # TF's own export
    tables = TableSource(source, read_saved_model(source).meta_graph(["serve"]))
    writes = tables._initializers()
    assert set(tables.tables) == set(expected) and len(expected) == 3
    for name, theirs in expected.items():
        ours = tables._contents(name, writes.get(name, []))
        assert dict(zip(ours.keys.tolist(), ours.values.tolist())) == dict(
            zip(theirs.keys.tolist(), theirs.values.tolist())), name


def test_a_mutable_table_still_leaves_with_the_feature_named(tmp_path):
    import tensorflow as tf

    from tfjsconv.plugins.savedmodel.graphdef_ir import NotTfFree
    from tfjsconv.plugins.savedmodel.tf_free import saved_model_graph

    class Mutable(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=-1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
        def __call__(self, words):
            return {"id": self.table.lookup(words)}

    source = _save(Mutable(), tmp_path / "mutable")
    with pytest.raises(NotTfFree) as why:
        saved_model_graph(source, ConvertOptions())
    assert why.value.feature == "hash_table" and "MutableHashTableV2" in why.value.detail
    # The conversion refuses in one line naming the feature and the flag; TensorFlow is never loaded unasked.
    code = ("import sys; from tfjsconv.cli import main; "
            f"rc = main(['convert', {str(source)!r}, {str(tmp_path / 'out')!r}]); "
            "print(rc, sorted(m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.split("\n")[0] == "2 []", done.stdout + done.stderr
    assert "does not cover hash table" in done.stderr and "MutableHashTableV2" in done.stderr
    assert "--loader=tensorflow" in done.stderr and not (tmp_path / "out").exists()
    tfjsconv.convert(source, tmp_path / "out", loader="tensorflow")  # the way out works
    assert (tmp_path / "out" / "model.json").is_file()


def test_an_init_function_that_calls_itself_is_refused(models, tmp_path):
    from tfjsconv.plugins.savedmodel import schema

    source = Path(shutil.copytree(models["constants"], tmp_path / "bad"))
    model = schema.SavedModel.FromString((source / "saved_model.pb").read_bytes())
    fdef = next(f for f in model.meta_graphs[0].graph_def.library.function if "_initializer_" in f.signature.name)
    call = fdef.node_def.add()
    call.name, call.op = "again", "StatefulPartitionedCall"
    call.input.extend(arg.name for arg in fdef.signature.input_arg)
    call.attr["f"].func.name = fdef.signature.name
    (source / "saved_model.pb").write_bytes(model.SerializeToString())
    run = convert_without_tf(str(source), str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr
    assert "recursive" in run.stderr and fdef.signature.name in run.stderr
    assert not (tmp_path / "out").exists()


def test_tables_whose_strings_tfjs_would_alter_are_refused(tmp_path):
    """TF.js decodes table strings as UTF-8 and drops a leading BOM: the key "\\ufeffalpha" of a vocabulary
    saved with a BOM would match "alpha" in TF.js and not in TF. Both loaders refuse, naming every table."""
    import tensorflow as tf

    source = tmp_path / "src"
    source.mkdir()
    (source / "bom.txt").write_bytes("\ufeffalpha\nbeta\n".encode())
    index = tf.lookup.TextFileIndex

    class Altered(tf.Module):
        def __init__(self):
            super().__init__()
            self.bom = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
                str(source / "bom.txt"), tf.string, index.WHOLE_LINE, tf.int64, index.LINE_NUMBER), -1)
            self.raw = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant([1, 2], tf.int64), tf.constant([b"ok", b"\xff\xfe"])), "")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([None], tf.int64, name="ids")])
        def __call__(self, words, ids):
            return {"line": self.bom.lookup(words), "word": self.raw.lookup(ids)}

    model = _save(Altered(), tmp_path / "altered")
    run = convert_without_tf(str(model), str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr
    message = run.stderr.strip().splitlines()[0]
    assert "altered" in message and "1 key(s) (b'\\xef\\xbb\\xbfalpha')" in message, message
    assert "1 value(s) (b'\\xff\\xfe')" in message and message.count("; table ") == 1, message
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="byte-order mark.*key.*value|byte-order mark.*value.*key"):
        tfjsconv.convert(model, tmp_path / "tf", loader="tensorflow")


def test_constant_tables_with_nan_values_load_as_tf_loads_them(tmp_path):
    """A NaN value is no second value of its key (NaN != NaN); the same key twice with NaN is TF's own error."""
    import tensorflow as tf

    from tfjsconv.plugins.savedmodel.tf_free_tables import _unique

    keys, values = np.array([1, 2, 3], np.int64), np.array([np.nan, 0.5, np.nan], np.float32)
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), -1.0)
    theirs = dict(zip(*(t.numpy().tolist() for t in table.export())))
    ours = dict(zip(*(a.tolist() for a in _unique(keys, values, DType.INT64, DType.FLOAT32, "t"))))
    assert ours.keys() == theirs.keys() and np.array_equal(list(ours.values()), [theirs[k] for k in ours],
                                                           equal_nan=True)
    with pytest.raises(tf.errors.OpError):
        tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys[[0, 0]], values[[0, 0]]), -1.0)
    with pytest.raises(InputError, match="two values"):
        _unique(keys[[0, 0]], values[[0, 0]], DType.INT64, DType.FLOAT32, "t")
