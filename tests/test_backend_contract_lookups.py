"""Hash-table lookups on empty key tensors give TF's (empty) answer instead of a TF.js error.

TF.js 4.22's ``HashTable.find`` throws "Pass at least one tensor to tf.stack" for keys with no elements (a
batch of 0, a sentence of 0 tokens); ``nonempty_lookup_keys`` (``core/passes/lookup_keys.py``) appends one padding
key exactly then and cuts the result back. A TF SavedModel with a ``StaticHashTable`` of strings and of
integers is converted (TF-free reader) and run in TF.js against TF's own outputs.
"""
from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfjsconv  # noqa: E402
from tfjsconv.options import ConvertOptions  # noqa: E402
from tfjsconv.plugin_manager import get_plugin_manager  # noqa: E402
from tfjsconv.verify.compare import format_report, verify_model  # noqa: E402

pytestmark = pytest.mark.node


class Tables(tf.Module):
    def __init__(self):
        super().__init__()
        self.words = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(["a", "b", "c"], tf.constant([1, 2, 3], tf.int64)), -1)
        self.numbers = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant([7, 8], tf.int64), tf.constant([0.5, 1.5])), -2.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="k"),
                                  tf.TensorSpec([None, None], tf.string, name="k2"),
                                  tf.TensorSpec([None], tf.int64, name="i")])
    def __call__(self, k, k2, i):
        return {"v": self.words.lookup(k), "v2": self.words.lookup(k2),
                "count": tf.reduce_sum(self.words.lookup(k2), axis=1), "f": self.numbers.lookup(i)}


FEEDS = {
    "all_empty": {"k": np.array([], object), "k2": np.zeros((0, 3), object), "i": np.zeros(0, np.int64)},
    "rows_empty": {"k": np.array([b"b"], object), "k2": np.zeros((2, 0), object), "i": np.array([8], np.int64)},
    "full": {"k": np.array([b"a", b"z"], object), "k2": np.array([[b"c", b"a"], [b"q", b""]], object),
             "i": np.array([7, 9, 8], np.int64)},
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory, tfjs_runtime):
    base = tmp_path_factory.mktemp("tables")
    tf.saved_model.save(Tables(), str(base / "saved"))
    result = tfjsconv.convert(base / "saved", base / "web")
    return base / "saved", result, base / "web"


def tf_outputs(converted, feeds):
    saved, result, out = converted
    options = ConvertOptions.from_kwargs()
    options.extra["model_dir"] = str(out)
    return get_plugin_manager().registry.frontends[result.input_format].reference(saved, feeds, options)


@pytest.mark.parametrize("case", sorted(FEEDS))
def test_lookups_of_empty_keys_match_tf(case, converted):
    _, result, out = converted
    assert {s.name: s.changes for s in result.pass_report.stats}["nonempty_lookup_keys"] >= 3
    expected = tf_outputs(converted, FEEDS[case])
    report = verify_model(out, FEEDS[case], expected, backends=("cpu", "wasm"), rtol=1e-5, atol=0.0)
    assert report.passed, format_report(report)


def test_without_the_pass_tfjs_throws_on_empty_keys(converted, tmp_path, monkeypatch):
    """What the pass fixes is real: TF.js's own lookup throws on an empty key tensor."""
    from tfjsconv.passes import lookup_keys

    monkeypatch.setattr(lookup_keys, "_may_be_empty", lambda shape: False)
    saved, _, _ = converted
    tfjsconv.convert(saved, tmp_path / "bare")
    report = verify_model(tmp_path / "bare", FEEDS["all_empty"], tf_outputs(converted, FEEDS["all_empty"]),
                          backends=("cpu",), rtol=1e-5, atol=0.0)
    assert not report.passed and "tf.stack" in (report.runs["cpu"].error or ""), format_report(report)


def test_lookups_of_empty_keys_on_webgl(converted, browser):
    _, _, out = converted
    for case in ("all_empty", "full"):
        report = verify_model(out, FEEDS[case], tf_outputs(converted, FEEDS[case]), backends=("webgl",), rtol=1e-5,
                              atol=1e-6, browser_session=browser)
        assert report.passed, format_report(report)
