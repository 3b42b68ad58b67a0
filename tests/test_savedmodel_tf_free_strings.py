"""String ops and ``tf.cond`` with strings or table lookups through the TF-free SavedModel reader.

TensorFlow builds the SavedModels and computes the expected outputs (``tf.saved_model.load`` of the
signature); each conversion runs in a subprocess where importing ``tensorflow``, ``keras`` or
``tf_keras`` fails. The converted models run in real TF.js (cpu, wasm). What TF.js cannot run is
refused in one line naming every node.
"""
from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from test_savedmodel_tf_free import convert_without_tf  # noqa: E402

import tfjsconv  # noqa: E402
from tfjsconv.dtypes import DType  # noqa: E402
from tfjsconv.ir import FuncAttr, Graph  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402

pytestmark = pytest.mark.node


def _save(module, path: Path) -> Path:
    import tensorflow as tf

    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    return path


def ngrams_model(path: Path) -> Path:
    """``tf.strings.ngrams`` of a ragged batch (``StringNGrams``: two outputs), padded, widths 1 and 2."""
    import tensorflow as tf

    class NGrams(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([None], tf.int64, name="splits")])
        def __call__(self, words, splits):
            ragged = tf.RaggedTensor.from_row_splits(words, splits, validate=False)
            grams = tf.strings.ngrams(ragged, (1, 2), separator="+", pad_values=("<", ">"), padding_width=1)
            return {"ngrams": grams.flat_values, "splits": grams.row_splits}

    return _save(NGrams(), path)


def whitespace_split_model(path: Path) -> Path:
    """``tf.strings.split(text)`` (``StringSplitV2``, empty ``sep``: three outputs) and bigrams of the words; a
    ``maxsplit`` below -1 (no limit in TF, as -1)."""
    import tensorflow as tf

    class Split(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def __call__(self, text):
            words = tf.strings.split(text)
            grams = tf.strings.ngrams(words, 2, separator=" ")
            unlimited = tf.raw_ops.StringSplitV2(input=text, sep="", maxsplit=-2)
            return {"words": words.flat_values, "word_splits": words.row_splits, "unlimited": unlimited.values,
                    "unlimited_indices": unlimited.indices,
                    "bigrams": grams.flat_values, "bigram_splits": grams.row_splits}

    return _save(Split(), path)


def separator_split_model(path: Path) -> Path:
    """``tf.strings.split`` on "," and on "ab", and on whitespace at most once: no exact TF.js equivalent."""
    import tensorflow as tf

    class Split(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def __call__(self, text):
            return {"comma": tf.strings.split(text, sep=",").flat_values,
                    "ab": tf.strings.split(text, sep="ab").flat_values,
                    "once": tf.strings.split(text, maxsplit=1).flat_values}

    return _save(Split(), path)


def cond_strings_model(path: Path) -> Path:
    """A ``tf.cond`` returning strings: ngrams of the text, or the text and two string constants."""
    import tensorflow as tf

    class CondStrings(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                      tf.TensorSpec([], tf.int32, name="n")])
        def __call__(self, text, n):
            return {"out": tf.cond(n > 0, lambda: tf.strings.ngrams(text, 2, separator="|"),
                                   lambda: tf.concat([text, tf.constant(["<pad>", "é"])], 0))}

    return _save(CondStrings(), path)


def cond_regex_model(path: Path) -> Path:
    """A ``tf.cond`` whose branches are ``StaticRegexReplace`` (cpu and webgl only in TF.js 4.22)."""
    import tensorflow as tf

    class CondRegex(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                      tf.TensorSpec([], tf.int32, name="n")])
        def __call__(self, text, n):
            return {"out": tf.cond(n > 0, lambda: tf.strings.regex_replace(text, "a", "<x>"),
                                   lambda: tf.strings.regex_replace(text, "b+", ""))}

    return _save(CondRegex(), path)


def cond_table_model(path: Path) -> Path:
    """A static hash table looked up inside both branches of a ``tf.cond``."""
    import tensorflow as tf

    class CondTable(tf.Module):
        def __init__(self):
            super().__init__()
            rng = np.random.default_rng(3)
            self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(["a", "b", "c", "héllo"]), tf.constant(rng.integers(-50, 50, 4), tf.int64)), -1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([], tf.int32, name="n")])
        def __call__(self, words, n):
            return {"out": tf.cond(n > 0, lambda: self.table.lookup(words) * 2,
                                   lambda: self.table.lookup(words) - 7)}

    return _save(CondTable(), path)


def case_table_model(path: Path) -> Path:
    """A static hash table looked up (and sized) inside the branches of a ``tf.switch_case``."""
    import tensorflow as tf

    class CaseTable(tf.Module):
        def __init__(self):
            super().__init__()
            rng = np.random.default_rng(5)
            self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(["a", "b", "c"]), tf.constant(rng.integers(-50, 50, 3), tf.int64)), -1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([], tf.int32, name="n")])
        def __call__(self, words, n):
            size = lambda: tf.identity(self.table.size()) + tf.zeros_like(self.table.lookup(words))  # noqa: E731
            return {"out": tf.switch_case(n, [lambda: self.table.lookup(words) * 2,
                                              lambda: self.table.lookup(words) - 7, size])}

    return _save(CaseTable(), path)


def _strings(*words: str) -> np.ndarray:
    return np.array([w.encode() for w in words], dtype=object)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf_free_strings")
    return {"ngrams": ngrams_model(root / "ngrams"), "whitespace_split": whitespace_split_model(root / "ws"),
            "separator_split": separator_split_model(root / "sep"), "cond_strings": cond_strings_model(root / "cs"),
            "cond_regex": cond_regex_model(root / "cr"), "cond_table": cond_table_model(root / "ct"),
            "string_variables": string_variables_model(root / "sv"), "case_table": case_table_model(root / "kt")}


def _histogram(out: Path) -> collections.Counter:
    doc = json.loads((out / "model.json").read_text())
    return collections.Counter(n["op"] for n in doc["modelTopology"]["node"])


def _matches_tf(source: Path, out: Path, inputs: dict, backends=("cpu", "wasm")) -> None:
    from tfjsconv.plugin_manager import get_plugin_manager
    from tfjsconv.verify.compare import verify_model

    options = ConvertOptions()
    options.extra["model_dir"] = str(out)
    expected = get_plugin_manager().registry.frontends["tf_saved_model"].reference(source, inputs, options)
    report = verify_model(out, inputs, expected, backends=backends, rtol=0.0, atol=0.0)
    assert report.passed, report.failures
    assert {c.backend for c in report.comparisons} == set(backends)


def _free(source: Path, out: Path, *flags: str) -> Path:
    run = convert_without_tf(str(source), str(out), *flags)
    assert run.returncode == 0, run.stderr
    return out


def test_string_ngrams_converts_without_tensorflow_like_tf(models, tmp_path, tfjs_runtime):
    out = _free(models["ngrams"], tmp_path / "free")
    inputs = {"words": _strings("the", "cat", "sat", "héllo", "x", ""), "splits": np.array([0, 3, 3, 5, 6], np.int64)}
    _matches_tf(models["ngrams"], out, inputs)
    tfjsconv.convert(models["ngrams"], tmp_path / "tf", loader="tensorflow")
    assert _histogram(out) == _histogram(tmp_path / "tf")
    assert _histogram(out)["StringNGrams"] == 1


def test_whitespace_split_becomes_string_split(models, tmp_path, tfjs_runtime):
    """``StringSplitV2`` with an empty ``sep`` is ``StringSplit`` on the ASCII whitespace bytes, empties
    skipped: every whitespace byte, runs of it, empty and blank strings, non-ASCII spaces (not split, as in TF)."""
    out = _free(models["whitespace_split"], tmp_path / "free")
    hist = _histogram(out)
    assert hist["StringSplit"] == 2 and "StringSplitV2" not in hist
    inputs = {"text": _strings("a,b c", "", "  two \t words \x0b\x0c\r\n", "é", " ", "one", "no\u00a0break here",
                       "em\u2003space", "next\u0085line", "\u3000")}
    _matches_tf(models["whitespace_split"], out, inputs)


def test_split_on_a_separator_is_refused_naming_every_node(models, tmp_path):
    """With a ``sep``, V2 gives an empty string one empty piece and ``StringSplit`` none: not exact, refused."""
    run = convert_without_tf(str(models["separator_split"]), str(tmp_path / "free"))
    assert run.returncode == 2, run.stderr
    line = next(x for x in run.stderr.splitlines() if "StringSplitV2:" in x)
    assert line.count("StringSplitV2") >= 4, run.stderr  # the op and all three of its nodes, on one line
    assert not (tmp_path / "free" / "model.json").exists()


@pytest.mark.parametrize("flags", [(), ("--control_flow_v2",)], ids=["lowered", "control_flow_v2"])
def test_cond_returning_strings(flags, models, tmp_path, tfjs_runtime):
    """Lowered, the else branch's ``Pack`` of a constant waits for its pivot through an ``Identity``: TF.js
    reads a control input of a ``Pack`` as one more tensor to stack."""
    out = _free(models["cond_strings"], tmp_path / "free", *flags)
    if not flags:
        doc = json.loads((out / "model.json").read_text())
        assert not [n["name"] for n in doc["modelTopology"]["node"] if n["op"] in ("Pack", "ConcatV2")
                    and any(i.startswith("^") for i in n.get("input", []))]
    for n in (1, 0):
        _matches_tf(models["cond_strings"], out, {"text": _strings("abba", "", "héllo", "b"),
                                                  "n": np.array(n, np.int32)})


def test_cond_of_regex_replace(models, tmp_path, tfjs_runtime):
    """String branch results have a dtype in a kept body; wasm's missing kernel is refused, both nodes named."""
    run = convert_without_tf(str(models["cond_regex"]), str(tmp_path / "wasm"), "--control_flow_v2")
    assert run.returncode == 2, run.stderr
    assert "StaticRegexReplace on wasm" in run.stderr and "cond_true" in run.stderr and "cond_false" in run.stderr
    out = _free(models["cond_regex"], tmp_path / "cpu", "--control_flow_v2", "--target_backends=cpu")
    for n in (1, 0):
        _matches_tf(models["cond_regex"], out, {"text": _strings("abba", "", "bab"), "n": np.array(n, np.int32)},
                    backends=("cpu",))


def test_table_lookup_in_cond(models, tmp_path, tfjs_runtime):
    """The table's handle reaches both branches' lookups through the lowered ``Switch``, as Grappler's graph
    does on the TF path (same op histogram); ``--control_flow_v2`` is refused by both loaders."""
    source = models["cond_table"]
    out = _free(source, tmp_path / "free")
    for n in (3, 0):
        _matches_tf(source, out, {"words": _strings("a", "héllo", "zz", "", "c"), "n": np.array(n, np.int32)})
    tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow")
    assert _histogram(out) == _histogram(tmp_path / "tf")
    run = convert_without_tf(str(source), str(tmp_path / "v2"), "--control_flow_v2")
    assert run.returncode == 2 and "is used by If" in run.stderr, run.stderr


def test_table_lookup_in_switch_case(models, tmp_path, tfjs_runtime):
    """The same through a ``tf.switch_case`` (a chain of Switches; an index out of range takes the last
    branch), which the TF path refuses (Grappler's ``_SwitchN`` holds the handle)."""
    source = models["case_table"]
    out = _free(source, tmp_path / "free")
    hist = _histogram(out)
    assert hist["LookupTableFindV2"] == 3 and hist["LookupTableSizeV2"] == 1 and "_SwitchN" not in hist
    for n in (1, 2, 5):
        _matches_tf(source, out, {"words": _strings("a", "c", "zz", ""), "n": np.array(n, np.int32)})


def test_later_stages_name_every_node_at_once():
    """Past the pre-scan, the variable binding and the handles passed to loops name every offender, not the first."""
    from tfjsconv.plugins.savedmodel.direct import NotDirect, bind_variables
    from tfjsconv.plugins.savedmodel.graphdef_ir import NotTfFree
    from tfjsconv.plugins.savedmodel.tf_free_control_flow import pass_variable_values

    graph = Graph("g")
    missing = graph.add_op("VarHandleOp", [], {"dtype": DType.FLOAT32}, name="missing", dtype=DType.RESOURCE)
    odd = graph.add_op("VarHandleOp", [], {"dtype": DType.FLOAT32}, name="odd", dtype=DType.RESOURCE)
    graph.add_node("MysteryOp", [odd], {}, name="strange_use", num_outputs=0)
    graph.set_output("y", missing)
    with pytest.raises(NotDirect) as caught:
        bind_variables(graph, {"odd": np.zeros((2,), np.float32)})
    assert "missing" in str(caught.value) and "strange_use" in str(caught.value)

    graph = Graph("g")
    handle = graph.placeholder("handle", DType.RESOURCE, ())
    body = Graph("body")
    body.set_output("h", body.placeholder("h", DType.RESOURCE, ()))
    cond = Graph("cond")
    cond.placeholder("h", DType.RESOURCE, ())
    cond.set_output("c", cond.const(np.asarray(False)))
    graph.functions.update(body=body, cond=cond)
    for name in ("first_loop", "second_loop"):
        loop = graph.add_node("While", [handle], {"T": [DType.RESOURCE], "cond": FuncAttr("cond"),
                                                  "body": FuncAttr("body")}, name=name)
        graph.set_output(name, loop.output(0))
    with pytest.raises(NotTfFree) as caught:
        pass_variable_values(graph, {})
    assert "first_loop" in caught.value.detail and "second_loop" in caught.value.detail


def string_variables_model(path: Path) -> Path:
    """Two string variables, one read in the main graph and both inside a ``tf.cond``'s branches."""
    import tensorflow as tf

    class StringVariables(tf.Module):
        def __init__(self):
            super().__init__()
            self.prefix, self.suffix = tf.Variable(["<", "[é"]), tf.Variable([">", "]", ""])

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                      tf.TensorSpec([], tf.int32, name="n")])
        def __call__(self, text, n):
            picked = tf.cond(n > 0, lambda: tf.concat([self.prefix, text], 0), lambda: tf.concat([text, self.suffix], 0))
            return {"picked": picked, "prefix": tf.identity(self.prefix)}

    return _save(StringVariables(), path)


@pytest.mark.parametrize("flags", [(), ("--control_flow_v2",)], ids=["lowered", "control_flow_v2"])
def test_string_variables_are_read_without_tensorflow(flags, models, tmp_path, tfjs_runtime):
    source = models["string_variables"]
    out = _free(source, tmp_path / "free", *flags)
    for n in (1, 0):
        _matches_tf(source, out, {"text": _strings("a", "", "héllo"), "n": np.array(n, np.int32)})
