"""The one place output folders are created: a temp folder beside the target, renamed on success.

A failed or interrupted run (exception, KeyboardInterrupt, full disk) leaves the previous output
untouched and no temp folder behind.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError

_STAGING_PREFIX = ".tfjsconv-staging-"
_BACKUP_PREFIX = ".tfjsconv-previous-"


def check_output_dir(target: Path, *, overwrite: bool) -> None:
    """Fail early (before any expensive work) if ``target`` cannot be written."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"output path {target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise OutputError(f"output folder {target} already exists and is not empty",
                          hint="pass --overwrite to replace it, or choose another folder")
    parent = _nearest_existing(target.resolve().parent)
    if not parent.is_dir():
        raise OutputError(f"cannot create the output folder under {parent}: it is not a folder")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write into {parent}: permission denied")


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _make_parents(folder: Path) -> list[Path]:
    """Create missing ancestors of the output (like ``mkdir -p``); return them, deepest first."""
    created = []
    for ancestor in reversed([folder, *folder.parents]):
        if not ancestor.exists():
            ancestor.mkdir()
            created.append(ancestor)
    return created[::-1]


@contextlib.contextmanager
def atomic_output_dir(target: Path | str, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder; on normal exit it replaces ``target`` in one rename."""
    target = Path(target)
    check_output_dir(target, overwrite=overwrite)
    parent = target.resolve().parent
    try:
        created = _make_parents(parent)
    except OSError as err:
        raise OutputError(f"cannot create {parent}: {err.strerror or err}") from err
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX + target.name + "-", dir=parent))
    try:
        yield staging
        _replace(staging, target.resolve())
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:  # a failed run leaves no trace, not even empty parents
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(err, OSError) and not isinstance(err, FileNotFoundError):
            raise OutputError(f"writing {target} failed: {err.strerror or err}; nothing was changed") from err
        raise


def _replace(staging: Path, target: Path) -> None:
    os.chmod(staging, 0o755)  # mkdtemp makes it 0700; a model folder is meant to be served
    if not target.exists():
        os.rename(staging, target)
        return
    # Move the old output aside first, so that at every instant one complete model is in place.
    backup = Path(tempfile.mkdtemp(prefix=_BACKUP_PREFIX + target.name + "-", dir=target.parent))
    os.rmdir(backup)
    os.rename(target, backup)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)
