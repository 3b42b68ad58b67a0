"""Replaying the corpus of inputs that once crashed a reader (tests/corpus/<format>/), and pruning it.

    .venv/bin/python tests/fuzz/replay.py --dedupe   # keep the smallest input per distinct crash site

``--dedupe`` is meant for right after a fuzzing run with ``TFJSCONV_FUZZ_SAVE=1`` (before fixing):
hypothesis saves every failing example it meets while shrinking.
"""
from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "fuzz"

from .harness import CORPUS, expect_clean  # noqa: E402


def _convert(input_format: str) -> Callable[[Path, Path], None]:
    def run(source: Path, out: Path) -> None:
        import tfjsconv

        tfjsconv.convert(source, out, input_format=input_format)
    return run


def _read_tfjs(source: Path, out: Path) -> None:
    from tfjsconv.weights import load_manifest_weights, read_model_json

    doc = read_model_json(source.parent)
    load_manifest_weights(doc.get("weightsManifest", []), source.parent)


#: format folder -> what to run each input through (all must end cleanly)
RUNNERS: dict[str, list[Callable[[Path, Path], None]]] = {
    "h5": [_convert("keras")],
    "keras": [_convert("keras_keras")],
    "onnx": [_convert("onnx")],
    "tfjs": [_read_tfjs, _convert("tfjs_layers_model")],
}


def savedmodel_entries() -> list[Path]:
    """SavedModel folders under tests/corpus/savedmodel/: replayed in child processes (TF may abort)."""
    folder = CORPUS / "savedmodel"
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def replay_savedmodels() -> None:
    from .savedmodel_runner import problem, run_batch

    entries = savedmodel_entries()
    outcomes = run_batch(entries)
    bad = [f"{Path(o['folder']).name}: {why}" for o in outcomes if (why := problem(o))]
    if bad or len(outcomes) != len(entries):
        raise AssertionError("\n".join(bad))


def corpus_entries() -> Iterator[tuple[str, Path]]:
    for fmt in sorted(RUNNERS):
        folder = CORPUS / fmt
        if folder.is_dir():
            for entry in sorted(folder.iterdir()):
                yield fmt, entry


def entry_files(entry: Path) -> tuple[dict[str, bytes], str]:
    """The files of a corpus entry and the one to convert (a folder's model.json)."""
    if entry.is_dir():
        files = {str(p.relative_to(entry)): p.read_bytes() for p in sorted(entry.rglob("*")) if p.is_file()}
        return files, "model.json"
    name = entry.name.split("-", 1)[-1]
    return {name: entry.read_bytes()}, name


def replay(fmt: str, entry: Path) -> None:
    files, main = entry_files(entry)
    for run in RUNNERS[fmt]:
        expect_clean(fmt, files, run, entry=main)


def _size(entry: Path) -> int:
    return sum(p.stat().st_size for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else entry.stat().st_size


def dedupe() -> None:
    import shutil

    best: dict[tuple[str, str, str], Path] = {}
    for fmt, entry in corpus_entries():
        try:
            replay(fmt, entry)
            continue  # fixed already: a regression case, kept
        except Exception as err:  # noqa: BLE001
            frame = traceback.extract_tb(err.__traceback__)[-1]
            key = (fmt, type(err).__name__, f"{Path(frame.filename).name}:{frame.lineno}")
        if key in best and _size(best[key]) <= _size(entry):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            continue
        if key in best:
            old = best[key]
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        best[key] = entry
    for key, entry in sorted(best.items()):
        print(*key, entry.name)


if __name__ == "__main__":
    if "--dedupe" in sys.argv:
        dedupe()
    else:
        for fmt, entry in corpus_entries():
            replay(fmt, entry)
        replay_savedmodels()
        print("corpus replayed cleanly")
