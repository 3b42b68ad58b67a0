"""What every fuzz harness shares: mutation strategies, the one rule, and the corpus.

The rule: whatever the bytes, a conversion either succeeds or raises a ``TfjsconvError`` (exit 2)
and leaves no output folder. Anything else is a crash; the input that caused it is written to
``tests/corpus/<format>/`` (with ``TFJSCONV_FUZZ_SAVE=1``) so ``test_corpus.py`` replays it forever.

Example counts are fixed and derandomized for CI; ``TFJSCONV_FUZZ_EXAMPLES=5000`` (and
``TFJSCONV_FUZZ_RANDOM=1`` for fresh randomness) fuzz for longer.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def fuzz_settings(default_examples: int) -> settings:
    examples = int(os.environ.get("TFJSCONV_FUZZ_EXAMPLES", default_examples))
    return settings(max_examples=examples, deadline=None, database=None,
                    derandomize=not os.environ.get("TFJSCONV_FUZZ_RANDOM"),
                    suppress_health_check=list(HealthCheck))


# -- mutations --------------------------------------------------------------------------------------
@st.composite
def mutated_bytes(draw: Any, seed: bytes) -> bytes:
    """``seed`` with a few bit flips, overwritten runs, insertions, deletions and maybe a truncation."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "overwrite", "insert", "delete", "truncate", "interesting"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at:at + len(chunk)] = chunk
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
        else:  # sizes and counts are where parsers trust the file
            value = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
            data[at:at + 4] = value.to_bytes(4, "little")
    return bytes(data)


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.sampled_from([-1, 0, 1, 2**31, -2**31]),
                         st.floats(allow_nan=False), st.text(max_size=8),
                         st.sampled_from(["../x", "/etc/passwd", "Lambda", "float32", "string", "", "__lambda__"]))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                 st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=6)


def _paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _paths(value, prefix + (index,))


@st.composite
def mutated_json(draw: Any, doc: Any) -> Any:
    """``doc`` with a few fields replaced, deleted or duplicated (structure-aware, unlike byte flips)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        kind = draw(st.sampled_from(["replace", "delete", "wrap"]))
        if kind == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif kind == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = [parent[path[-1]]]
    return doc


# -- the rule ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="tfjsconv-fuzz-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def save_to_corpus(fmt: str, name: str, files: dict[str, bytes]) -> Path:
    """Store a crashing input (one file, or a folder of files) under tests/corpus/<fmt>/."""
    digest = hashlib.sha1(b"".join(k.encode() + v for k, v in sorted(files.items()))).hexdigest()[:12]
    target = CORPUS / fmt / f"{digest}-{name}" if len(files) > 1 else CORPUS / fmt / f"{digest}-{next(iter(files))}"
    if len(files) > 1:
        target.mkdir(parents=True, exist_ok=True)
        for rel, data in files.items():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_bytes(data)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(next(iter(files.values())))
    return target


def expect_clean(fmt: str, files: dict[str, bytes], run: Callable[[Path, Path], Any], *, entry: str | None = None) -> None:
    """Write ``files`` into a scratch folder, ``run(input, output)``; only TfjsconvError may escape it."""
    from tfjsconv.errors import TfjsconvError

    with scratch() as folder:
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        source = folder / (entry or next(iter(files)))
        out = folder / "out"
        try:
            run(source, out)
        except TfjsconvError:
            assert not out.exists(), "a failed conversion left an output folder"
            assert not [p for p in folder.iterdir() if p.name.startswith(".tfjsconv-")], "a temp folder was left"
        except BaseException:
            if os.environ.get("TFJSCONV_FUZZ_SAVE"):
                save_to_corpus(fmt, "crash", files)
            raise
