"""The staging and backup folders of :mod:`tfjsconv.writers.atomic`: made as ``tempfile.mkdtemp`` made them,
and never left behind by an interrupted swap.

They are made without ``tempfile`` (its imports cost start-up time): same permissions (0700 until the
output is published, then 0755), an existing name skipped, and a random part as long as mkdtemp's, so an
output name that fitted the filesystem's name limit beside its staging folder still fits.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import tempfile
from pathlib import Path

import pytest
from tfjsconv.writers import atomic
from tfjsconv.writers.atomic import atomic_output_dir

_MKDTEMP_RANDOM = len(next(tempfile._get_candidate_names()))  # 8 characters


def _write_model(folder: Path) -> None:
    (folder / "model.json").write_text(json.dumps({"weightsManifest": []}))


def test_the_longest_name_mkdtemp_allowed_still_converts(tmp_path: Path) -> None:
    """An output name as long as the staging/backup prefixes and mkdtemp's random part leave room for."""
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    longest = name_max - len(atomic._BACKUP_PREFIX) - len("-") - _MKDTEMP_RANDOM
    target = tmp_path / ("m" * longest)
    with atomic_output_dir(target) as staging:
        _write_model(staging)
    with atomic_output_dir(target, overwrite=True) as staging:  # the backup folder's name is one longer
        _write_model(staging)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_staging_is_private_until_published(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        with atomic_output_dir(tmp_path / "out") as staging:
            assert stat.S_IMODE(staging.stat().st_mode) == 0o700 and staging.is_absolute()
            _write_model(staging)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755


def test_a_taken_name_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([b"\0" * 4, b"\0" * 4, b"\1" * 4])
    monkeypatch.setattr(atomic.os, "urandom", lambda n: next(draws)[:n])
    first = atomic._new_folder(tmp_path, "p-")
    second = atomic._new_folder(tmp_path, "p-")  # the same first draw: taken, so the next one
    assert first != second and first.is_dir() and second.is_dir()


def test_no_free_name_is_an_error_not_a_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic.os, "urandom", lambda n: b"\0" * n)
    atomic._new_folder(tmp_path, "p-")
    with pytest.raises(FileExistsError):
        atomic._new_folder(tmp_path, "p-")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_the_old_output_is_removed_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             signum: int) -> None:
    """Ctrl-C (or SIGTERM, which the command turns into the same) while ``--overwrite`` removes the old
    files: the removal finishes first, so no hidden folder holding the old model is left beside the new one;
    then the interrupt is raised, saying the new output is in place."""
    target = tmp_path / "out"
    target.mkdir()
    (target / "model.json").write_text(json.dumps({"weightsManifest": [{"paths": ["a.bin", "b.bin"]}]}))
    (target / "a.bin").write_bytes(b"old")
    (target / "b.bin").write_bytes(b"old")
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        signal.raise_signal(signum)  # arrives between two removals
        return real_unlink(path, *args, **kwargs)

    def as_interrupt(number, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, as_interrupt)
    try:
        monkeypatch.setattr(atomic.os, "unlink", unlink)
        with pytest.raises(atomic.InterruptedAfterOutput), atomic_output_dir(target, overwrite=True) as staging:
            _write_model(staging)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in target.iterdir()) == ["model.json"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
