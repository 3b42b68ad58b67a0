"""The one place output folders are created: a temp folder beside the target, renamed on success.

A failed or interrupted run (exception, KeyboardInterrupt, full disk) leaves the previous output
untouched and no temp folder behind. The output never touches anything but itself: it may not be,
hold, or lie inside an input (symlinks resolved), and ``--overwrite`` replaces only a folder that
holds a previous output (``model.json`` and the shards its manifest lists, nothing else) and deletes
only those files - never files tfjsconv did not write.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import OutputError

log = logging.getLogger(__name__)

_STAGING_PREFIX = ".tfjsconv-staging-"
_BACKUP_PREFIX = ".tfjsconv-previous-"
#: A model.json larger than this is not one tfjsconv wrote (10^5 weights take ~10 MB).
_MAX_MODEL_JSON_BYTES = 256 * 1024 * 1024


def check_output_dir(target: Path, *, overwrite: bool, inputs: Iterable[Path | str] = ()) -> None:
    """Fail early (before any expensive work or deletion) if ``target`` cannot be written.

    ``inputs``: the paths the conversion reads; the output may not equal, contain or lie inside one.
    """
    target = Path(target)
    check_no_overlap(target, inputs)
    if target.is_symlink() and not target.exists():
        raise OutputError(f"output path {target} is a symbolic link to {os.readlink(target)}, which does not exist",
                          hint="remove the link or choose another folder")
    if target.exists() and not target.is_dir():
        raise OutputError(f"output path {target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise OutputError(f"output folder {target} already exists and is not empty",
                              hint="pass --overwrite to replace it, or choose another folder")
        previous_output_files(target)  # refuses a folder holding files tfjsconv did not write
    parent = _nearest_existing(target.resolve().parent)
    if not parent.is_dir():
        raise OutputError(f"cannot create the output folder under {parent}: it is not a folder")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write into {parent}: permission denied")


def check_no_overlap(target: Path, inputs: Iterable[Path | str]) -> None:
    """Refuse an output folder that is an input, holds one, or lies inside one (symlinks resolved)."""
    out = Path(target).resolve()
    for raw in inputs:
        source = Path(raw).resolve()
        if out == source:
            relation = "is the input"
        elif out in source.parents:
            relation = f"contains the input {raw}"
        elif source in out.parents:
            relation = f"lies inside the input {raw}"
        else:
            continue
        shown = f"{target} (-> {out})" if Path(target).absolute() != out else str(target)
        raise OutputError(f"the output folder {shown} {relation}; writing it would replace or mix with the input",
                          hint="choose an output folder outside the input and not holding it")


def previous_output_files(folder: Path) -> list[str]:
    """The names in ``folder`` (a non-empty folder to overwrite) if it holds only a previous output.

    That is ``model.json`` plus files its ``weightsManifest`` lists (plain names in the folder), all
    regular files. Anything else means the folder holds files tfjsconv did not write: OutputError.
    """
    refuse = f"--overwrite refuses to replace {folder}: "
    hint = ("only a folder holding a previous output (model.json and its weight shards) is replaced; "
            "choose another folder")
    entries = {entry.name: entry for entry in os.scandir(folder)}
    model_json = entries.get("model.json")
    if model_json is None or not model_json.is_file(follow_symlinks=False):
        raise OutputError(refuse + "it is not a TF.js model folder (no model.json) and is not empty", hint=hint)
    if model_json.stat(follow_symlinks=False).st_size > _MAX_MODEL_JSON_BYTES:
        raise OutputError(refuse + "its model.json is larger than any tfjsconv writes", hint=hint)
    try:
        with open(model_json.path, encoding="utf-8") as f:
            doc = json.load(f)
        shards = {path for group in doc["weightsManifest"] for path in group["paths"]}
    except (OSError, ValueError, RecursionError, KeyError, TypeError) as err:
        raise OutputError(refuse + f"its model.json is not a TF.js model ({type(err).__name__})", hint=hint) from None
    if not all(isinstance(p, str) and p and "/" not in p and "\\" not in p and p not in (".", "..") for p in shards):
        raise OutputError(refuse + "its model.json lists weight files outside the folder", hint=hint)
    from ..provenance import PROVENANCE_JSON  # the side file --keep_provenance writes is part of the output

    own = shards | {PROVENANCE_JSON}
    foreign = sorted(name for name, entry in entries.items()
                     if name != "model.json" and (name not in own or not entry.is_file(follow_symlinks=False)))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" … ({len(foreign) - 5} more)" if len(foreign) > 5 else "")
        raise OutputError(refuse + f"it holds files that are not part of the model: {shown}", hint=hint)
    return sorted(entries)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new empty folder ``parent/prefix<random>`` only this user can enter, as ``tempfile.mkdtemp`` makes
    one (its ``tempfile`` and ``random`` imports cost a few milliseconds on every conversion). The random
    part has mkdtemp's 8 characters, so the longest output name that fits the filesystem's limit is the
    same; a name taken (another run's folder) is skipped like mkdtemp does."""
    for _ in range(100):
        folder = parent / f"{prefix}{os.urandom(4).hex()}"
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        return folder.absolute()
    raise FileExistsError(f"no unused temporary folder name under {parent}")


def _make_parents(folder: Path) -> list[Path]:
    """Create missing ancestors of the output (like ``mkdir -p``); return them, deepest first."""
    created = []
    for ancestor in reversed([folder, *folder.parents]):
        if not ancestor.exists():
            ancestor.mkdir()
            created.append(ancestor)
    return created[::-1]


@contextlib.contextmanager
def atomic_output_dir(target: Path | str, *, overwrite: bool = False,
                      inputs: Iterable[Path | str] = ()) -> Iterator[Path]:
    """Yield an empty staging folder; on normal exit it replaces ``target`` in one rename."""
    target = Path(target)
    check_output_dir(target, overwrite=overwrite, inputs=inputs)
    parent = target.resolve().parent
    try:
        created = _make_parents(parent)
    except OSError as err:
        raise OutputError(f"cannot create {parent}: {err.strerror or err}") from err
    staging = _new_folder(parent, _STAGING_PREFIX + target.name + "-")
    try:
        yield staging
        _replace(staging, target.resolve())
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)  # our own temp folder
        for folder in created:  # a failed run leaves no trace, not even empty parents
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(err, OSError) and not isinstance(err, FileNotFoundError):
            raise OutputError(f"writing {target} failed: {err.strerror or err}; nothing was changed") from err
        raise


def _replace(staging: Path, target: Path) -> None:
    os.chmod(staging, 0o755)  # made 0700 like mkdtemp's; a model folder is meant to be served
    if not target.exists():
        with _interrupts_deferred():  # an interrupt now is told that the output is in place
            os.rename(staging, target)
        return
    # Checked again: the folder may have changed while the model was converted.
    names = previous_output_files(target) if any(target.iterdir()) else []
    # Move the old output aside first, so that at every instant one complete model is in place.
    backup = _new_folder(target.parent, _BACKUP_PREFIX + target.name + "-")
    os.rmdir(backup)
    with _interrupts_deferred():  # a Ctrl-C here would leave the old output in the backup folder
        os.rename(target, backup)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(backup, target)
            raise
        for name in names:  # exactly the files checked above; anything that appeared since stays
            with contextlib.suppress(FileNotFoundError):
                os.unlink(backup / name)
        try:
            os.rmdir(backup)
        except OSError:
            log.warning("the previous output was replaced; files that appeared in it meanwhile are kept in %s",
                        backup)


_DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done, then act as they would have (the handlers that were
    in place run): swapping the outputs and removing the old one is quick, and stopped half-way it would
    leave the old model in a hidden folder beside the new one. Only the main thread can change handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for signum in _DEFERRED_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is not None:  # None: installed outside Python, which could not be put back
            previous[signum] = signal.signal(signum, lambda number, frame: caught.append(number))
    done = False
    try:
        yield
        done = True
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            try:
                signal.raise_signal(caught[0])
            except KeyboardInterrupt as err:
                if done:
                    raise InterruptedAfterOutput from err
                raise


class InterruptedAfterOutput(KeyboardInterrupt):
    """A Ctrl-C (or SIGTERM) that arrived while the finished output was put in place: it is in place, whole."""

    output_written = True
