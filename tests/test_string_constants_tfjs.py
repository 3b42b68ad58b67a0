"""String constants TF.js would decode to other strings are refused by the graph-model writer, whatever the
frontend and wherever they are (main graph, a ``--control_flow_v2`` branch in the library); ones it reads
back unchanged (valid UTF-8, no leading byte-order mark, non-ASCII included) convert and give TF's answers.

The SavedModels compare their string input with a constant (``tf.equal``): with ``"\\ufeffword"`` TensorFlow
answers ``False`` for ``"word"``, TF.js (dropping the BOM) would answer ``True``. TF.js's wasm backend
compares strings wrongly (the backend contract refuses ``Equal`` of strings there), so these models target
and run on the cpu backend only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from test_savedmodel_tf_free import convert_without_tf  # noqa: E402
from tfjsconv.errors import InputError  # noqa: E402

pytestmark = pytest.mark.node

BOM_WORD = "\ufeffword".encode()
INVALID = b"caf\xe9"  # Latin-1, not UTF-8
VALID = "héllo wörld".encode()
CPU = ("--target_backends=cpu",)


def matcher(path: Path, constant: bytes, *, in_cond: bool = False) -> Path:
    """``words == constant`` as int32 (inside one branch of a ``tf.cond`` on ``x > 0`` with ``in_cond``)."""
    import tensorflow as tf

    class Match(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([], tf.float32, name="x")])
        def __call__(self, words, x):
            def hit():
                return tf.cast(tf.equal(words, tf.constant(constant)), tf.int32)
            if in_cond:
                return {"hit": tf.cond(x > 0, hit, lambda: tf.zeros_like(words, tf.int32) - 1)}
            return {"hit": hit() + tf.cast(x, tf.int32) * 0}

    tf.saved_model.save(Match(), str(path))
    return path


def test_a_string_constant_starting_with_a_bom_is_refused_naming_it(tmp_path):
    source = matcher(tmp_path / "bom", BOM_WORD)
    run = convert_without_tf(str(source), str(tmp_path / "out"), *CPU)
    assert run.returncode == 2, run.stderr
    first = run.stderr.strip().splitlines()[0]
    assert "1 string constant(s) altered" in first and "byte-order mark" in first
    assert "Const" in first and repr(BOM_WORD) in first  # the node, and the string as TensorFlow holds it
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="string constant"):  # the TensorFlow path writes through the same check
        tfjsconv.convert(source, tmp_path / "tf", loader="tensorflow", target_backends=["cpu"])
    assert not (tmp_path / "tf").exists()


def test_an_invalid_utf8_constant_in_a_library_branch_is_refused(tmp_path):
    source = matcher(tmp_path / "latin1", INVALID, in_cond=True)
    run = convert_without_tf(str(source), str(tmp_path / "out"), "--control_flow_v2", *CPU)
    assert run.returncode == 2, run.stderr
    first = run.stderr.strip().splitlines()[0]
    assert "string constant(s) altered" in first and repr(INVALID) in first
    lowered = convert_without_tf(str(source), str(tmp_path / "lowered"), *CPU)  # the branch in the main graph
    assert lowered.returncode == 2 and repr(INVALID) in lowered.stderr


def test_valid_utf8_string_constants_convert_and_match_tensorflow(tmp_path, tfjs_runtime):
    import tensorflow as tf

    from tfjsconv.verify.compare import format_report, verify_model

    source = matcher(tmp_path / "valid", VALID, in_cond=True)
    run = convert_without_tf(str(source), str(tmp_path / "out"), *CPU)
    assert run.returncode == 0, run.stderr
    signature = tf.saved_model.load(str(source)).signatures["serving_default"]
    words = np.array([VALID, b"hello world", VALID + b" ", b""], dtype=object)
    for x in (1.0, -1.0):
        expected = {k: v.numpy() for k, v in signature(words=tf.constant(words), x=tf.constant(np.float32(x))).items()}
        assert list(expected["hit"]) == ([1, 0, 0, 0] if x > 0 else [-1] * 4)
        report = verify_model(tmp_path / "out", {"words": words, "x": np.float32(x)}, expected,
                              backends=("cpu",), rtol=0, atol=0, quiet=True)
        assert report.passed, format_report(report)
