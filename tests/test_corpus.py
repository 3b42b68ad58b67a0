"""Every input that ever crashed a reader (tests/corpus/, found by tests/fuzz) now ends cleanly."""
from __future__ import annotations

import pytest

from fuzz.replay import corpus_entries, replay

ENTRIES = list(corpus_entries())


@pytest.mark.parametrize("fmt, entry", ENTRIES, ids=[f"{fmt}/{entry.name}" for fmt, entry in ENTRIES])
def test_corpus_input_ends_cleanly(fmt, entry):
    pytest.importorskip("h5py" if fmt in ("h5", "keras") else "numpy")
    pytest.importorskip("onnx" if fmt == "onnx" else "numpy")
    replay(fmt, entry)


def test_the_corpus_is_not_empty():
    assert len(ENTRIES) >= 5


def test_savedmodel_corpus_ends_cleanly():
    """SavedModels that once crashed or aborted TensorFlow, replayed in child processes (one batch)."""
    pytest.importorskip("tensorflow")
    from fuzz.replay import replay_savedmodels, savedmodel_entries

    assert savedmodel_entries(), "tests/corpus/savedmodel/ is empty"
    replay_savedmodels()
