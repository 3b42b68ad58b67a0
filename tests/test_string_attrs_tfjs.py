"""String attrs whose text is data (``StaticRegexReplace``'s pattern and rewrite, ``StringNGrams``'s separator
and pads, ``Einsum``'s equation) are refused when TF.js would read them as other text: its op mapper
lower-cases string attrs and reads them as Latin-1, and runs regexes as JavaScript ``RegExp``. Before the
check, ``regex_replace(w, "A", "B")`` converted and replaced ``a`` by ``b`` in TF.js. Ones it reads as they
are convert and give TensorFlow's answers (cpu: the only backend with a ``StaticRegexReplace`` kernel).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from test_savedmodel_tf_free import convert_without_tf  # noqa: E402
from tfjsconv.errors import InputError  # noqa: E402
from tfjsconv.tfjs_string_attrs import regex_differences, why_altered  # noqa: E402

pytestmark = pytest.mark.node

CPU = ("--target_backends=cpu",)
WORDS = np.array([b"aAb", b"ab1C", "\u00e9\U0001F600".encode(), b"Z a\rb"], dtype=object)


def replacer(path: Path, pattern: str, rewrite: str, *, in_cond: bool = False) -> Path:
    """``tf.strings.regex_replace(words, pattern, rewrite)`` (inside a ``tf.cond`` branch with ``in_cond``)."""
    import tensorflow as tf

    class Replace(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([], tf.float32, name="x")])
        def __call__(self, words, x):
            def replaced():
                return tf.strings.regex_replace(words, pattern, rewrite)
            if in_cond:
                return {"y": tf.cond(x > 0, replaced, lambda: words)}
            return {"y": replaced()}

    tf.saved_model.save(Replace(), str(path))
    return path


@pytest.mark.parametrize("pattern, rewrite, reason", [
    ("A", "b", "upper case"), ("a", "B", "upper case"), ("(a)(b)", r"\2\1", "\\"), ("a.b", "x", "."),
    ("\u00e9", "e", "not ASCII"), ("[^a]", "x", "[^"), (r"b\z", "x", "\\z"),
])
def test_the_regex_attrs_tfjs_reads_otherwise_are_refused(tmp_path, pattern, rewrite, reason):
    source = replacer(tmp_path / "m", pattern, rewrite)
    run = convert_without_tf(str(source), str(tmp_path / "out"), *CPU)
    assert run.returncode == 2, run.stderr
    first = run.stderr.strip().splitlines()[0]
    assert "string attr(s) as other text" in first and "StaticRegexReplace" in first and reason in first
    assert not (tmp_path / "out").exists()


def test_every_altered_attr_in_the_library_is_named_at_once(tmp_path):
    source = replacer(tmp_path / "m", "A", "$1", in_cond=True)
    run = convert_without_tf(str(source), str(tmp_path / "out"), *CPU)  # the branch lowered into the main graph
    assert run.returncode == 2, run.stderr
    first = run.stderr.strip().splitlines()[0]
    assert "2 string attr(s)" in first and "pattern=b'A'" in first and "rewrite=b'$1'" in first
    with pytest.raises(InputError, match=r"2 string attr\(s\).*cond_true.*pattern=b'A'"):  # kept in the library
        tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow", control_flow_v2=True, target_backends=["cpu"])
    assert not (tmp_path / "tf").exists()


def test_ngram_and_einsum_attrs_are_checked_as_text():
    assert why_altered("StringNGrams", "separator", b"_X_") == "upper case"
    assert why_altered("StringNGrams", "left_pad", "\u00abs\u00bb".encode()) == "not ASCII"
    assert why_altered("StringNGrams", "separator", b". ") is None  # a regex construct only for regexes
    assert regex_differences(r"a\.b[.]|\x41") == []  # escaped and in-class dots are literal dots in both
    assert regex_differences(r"[[:alpha:]]\x{41}[]a]") == ["[:", "\\x", "[]"]
    assert why_altered("Einsum", "equation", b"aA,Ab->ab") == "upper case"


@pytest.mark.parametrize("pattern, rewrite", [("a", "b"), (r"\d+", "#"), ("ab|z", "-"), (r"b\.?", "#")])
def test_regex_attrs_tfjs_reads_as_they_are_convert_and_match_tensorflow(tmp_path, tfjs_runtime, pattern, rewrite):
    import tensorflow as tf

    from tfjsconv.verify.compare import format_report, verify_model

    source = replacer(tmp_path / "m", pattern, rewrite)
    run = convert_without_tf(str(source), str(tmp_path / "out"), *CPU)
    assert run.returncode == 0, run.stderr
    signature = tf.saved_model.load(str(source)).signatures["serving_default"]
    expected = {k: v.numpy() for k, v in signature(words=tf.constant(WORDS), x=tf.constant(np.float32(1))).items()}
    assert list(expected["y"]) != list(WORDS)  # the replacement happens
    report = verify_model(tmp_path / "out", {"words": WORDS, "x": np.float32(1)}, expected,
                          backends=("cpu",), rtol=0, atol=0, quiet=True)
    assert report.passed, format_report(report)


def test_altered_constants_and_attrs_are_named_in_one_refusal(tmp_path):
    import tensorflow as tf

    class Both(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
        def __call__(self, words):
            hit = tf.cast(tf.equal(words, tf.constant("\ufeffword".encode())), tf.int32)
            return {"hit": hit, "y": tf.strings.regex_replace(words, "A", "b")}

    tf.saved_model.save(Both(), str(tmp_path / "m"))
    run = convert_without_tf(str(tmp_path / "m"), str(tmp_path / "out"), *CPU)
    assert run.returncode == 2, run.stderr
    first = run.stderr.strip().splitlines()[0]
    assert "1 string constant(s) altered" in first and "also TF.js would read 1 string attr(s)" in first
    assert "pattern=b'A'" in first and repr("\ufeffword".encode()) in first


@pytest.mark.parametrize("separator, pads, refused", [("_X_", ("<S>", "</S>"), True), ("+", ("<s>", "</s>"), False)])
def test_ngram_separator_and_pads_are_refused_or_match_tensorflow(tmp_path, tfjs_runtime, separator, pads, refused):
    """Before the check TF.js joined ``<S>_X_aAb`` as ``<s>_x_aAb``. (TensorFlow's loader: the TF-free reader
    does not lay out ``StringNGrams``'s two outputs.)"""
    import tensorflow as tf

    from tfjsconv.verify.compare import format_report, verify_model

    class NGrams(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
        def __call__(self, words):
            return {"y": tf.strings.ngrams(words, (1, 3), separator=separator, pad_values=pads)}

    tf.saved_model.save(NGrams(), str(tmp_path / "m"))
    convert = lambda: tfjsconv.convert(tmp_path / "m", tmp_path / "out", loader="tensorflow",  # noqa: E731
                                       target_backends=["cpu"])
    if refused:
        with pytest.raises(InputError, match=r"3 string attr\(s\).*separator=b'_X_'.*left_pad=b'<S>'.*right_pad"):
            convert()
        assert not (tmp_path / "out").exists()
        return
    convert()
    words = WORDS[:3]
    expected = {k: v.numpy() for k, v in
                tf.saved_model.load(str(tmp_path / "m")).signatures["serving_default"](words=tf.constant(words)).items()}
    report = verify_model(tmp_path / "out", {"words": words}, expected, backends=("cpu",), rtol=0, atol=0, quiet=True)
    assert report.passed, format_report(report)
