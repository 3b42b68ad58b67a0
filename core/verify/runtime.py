"""The Node.js side of verification: finding ``node`` and installing the pinned TF.js runtime once.

The runtime is the npm project in ``tfjsconv/verify/node`` (``@tensorflow/tfjs`` and
``@tensorflow/tfjs-backend-wasm``, both 4.22.0, pinned by its ``package-lock.json``). On first use
:func:`ensure_runtime` installs it with ``npm ci`` into a per-user cache folder::

    $TFJSCONV_CACHE_DIR  or  $XDG_CACHE_HOME/tfjsconv  or  ~/.cache/tfjsconv
        node-runtime-<first 12 hex digits of sha256(package-lock.json)>/
            package.json  package-lock.json  node_modules/  .tfjsconv-runtime.json

A new lock file gives a new folder, so upgrading tfjsconv never mixes runtimes. The install happens
in a temporary sibling folder that is renamed into place only once ``npm ci`` succeeded; a lock file
serialises concurrent installers, and losing a rename race to another process is harmless. So an
interrupted or failed install never leaves a half-installed runtime behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from ..errors import RuntimeMissingError

#: The npm project shipped with the package (package.json, package-lock.json, runner.mjs).
NODE_PROJECT_DIR = Path(__file__).resolve().parent / "node"
#: The script :mod:`tfjsconv.verify.run` starts with ``node``.
RUNNER_SCRIPT = NODE_PROJECT_DIR / "runner.mjs"
#: Oldest Node.js major version the runner supports.
MIN_NODE_MAJOR = 18
#: Written into a runtime folder as the very last install step; its presence means "complete".
MARKER_NAME = ".tfjsconv-runtime.json"
#: How long ``npm ci`` may take before it is considered hung.
NPM_TIMEOUT_S = 900

_INSTALL_HINT = (
    "install Node.js >= 18 with npm, e.g. `apt-get install nodejs npm`, `brew install node`, "
    "or from https://nodejs.org, and make sure `node` and `npm` are on PATH"
)


def cache_root() -> Path:
    """The per-user cache folder: ``$TFJSCONV_CACHE_DIR``, ``$XDG_CACHE_HOME/tfjsconv`` or ``~/.cache/tfjsconv``."""
    explicit = os.environ.get("TFJSCONV_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "tfjsconv"
    return Path.home() / ".cache" / "tfjsconv"


def runtime_key() -> str:
    """Short hash of the shipped package-lock.json; names the runtime folder."""
    data = (NODE_PROJECT_DIR / "package-lock.json").read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]


def runtime_dir() -> Path:
    """Where the runtime for this tfjsconv version lives (installed or not)."""
    return cache_root() / f"node-runtime-{runtime_key()}"


def tfjs_version() -> str:
    """The ``@tensorflow/tfjs`` version pinned by the shipped package.json."""
    manifest = json.loads((NODE_PROJECT_DIR / "package.json").read_text(encoding="utf-8"))
    return manifest["dependencies"]["@tensorflow/tfjs"]


def find_node() -> str:
    """Path of a ``node`` executable of version >= 18, or :class:`RuntimeMissingError`."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeMissingError("Node.js (`node`) was not found on PATH; it is needed to run models in TF.js.",
                                  hint=_INSTALL_HINT)
    major = _node_major_version(node)
    if major is not None and major < MIN_NODE_MAJOR:
        raise RuntimeMissingError(f"{node} is Node.js {major}, but running TF.js 4.22 needs Node.js >= {MIN_NODE_MAJOR}.",
                                  hint=_INSTALL_HINT)
    return node


def find_npm() -> str:
    """Path of the ``npm`` executable, or :class:`RuntimeMissingError`."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeMissingError("npm was not found on PATH; it is needed once, to install the TF.js runtime.",
                                  hint=_INSTALL_HINT)
    return npm


@lru_cache(maxsize=8)
def _node_major_version(node: str) -> int | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeMissingError(f"could not run {node} --version: {exc}", hint=_INSTALL_HINT) from exc
    match = re.match(r"\s*v?(\d+)\.", out)
    return int(match.group(1)) if match else None


def is_installed(path: Path | None = None) -> bool:
    """Whether ``path`` (default: :func:`runtime_dir`) holds a completely installed runtime."""
    path = runtime_dir() if path is None else path
    return (path / MARKER_NAME).is_file() and (path / "node_modules" / "@tensorflow" / "tfjs" / "package.json").is_file()


def ensure_runtime(*, quiet: bool = False) -> Path:
    """Install the pinned TF.js runtime on first use; return the folder that contains ``node_modules``.

    Raises :class:`RuntimeMissingError` when node/npm are missing, the cache folder is not writable,
    or ``npm ci`` fails (the message ends with npm's last output lines).
    """
    target = runtime_dir()
    if is_installed(target):
        return target
    find_node()
    npm = find_npm()
    root = target.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RuntimeMissingError(f"cannot create the cache folder {root}: {exc}",
                                  hint="set TFJSCONV_CACHE_DIR to a writable folder") from exc
    with _install_lock(root / f"{target.name}.lock", quiet=quiet) as exclusive:
        if is_installed(target):  # another process finished while we waited for the lock
            return target
        _remove_stale_temp_dirs(root, target.name, all_of_them=exclusive)
        if not quiet:
            print(f"Installing the TF.js runtime (@tensorflow/tfjs {tfjs_version()}) into {target} (one time)…",
                  file=sys.stderr, flush=True)
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=root))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it private; the runtime itself is nothing secret
            _npm_ci(npm, tmp)
            marker = {
                "tfjs": tfjs_version(),
                "lock_sha256": hashlib.sha256((NODE_PROJECT_DIR / "package-lock.json").read_bytes()).hexdigest(),
                "install_seconds": round(time.monotonic() - started, 1),
            }
            (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
            _move_into_place(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        if not quiet:
            print(f"TF.js runtime installed in {time.monotonic() - started:.0f} s.", file=sys.stderr, flush=True)
    return target


def _npm_ci(npm: str, folder: Path) -> None:
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(NODE_PROJECT_DIR / name, folder / name)
    env = dict(os.environ)
    env.update(npm_config_update_notifier="false", npm_config_fund="false", npm_config_audit="false")
    # --ignore-scripts: nothing in the TF.js dependency tree needs an install script (core-js only
    # prints an advert), and not running third-party scripts is the safer default.
    cmd = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=warn"]
    try:
        proc = subprocess.run(cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace", timeout=NPM_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeMissingError(f"`npm ci` did not finish within {NPM_TIMEOUT_S} s while installing the TF.js runtime.",
                                  hint="check the network connection / npm registry settings and retry") from exc
    except OSError as exc:
        raise RuntimeMissingError(f"could not run {npm}: {exc}", hint=_INSTALL_HINT) from exc
    if proc.returncode != 0:
        tail = "\n".join(line for line in (proc.stdout or "").splitlines() if line.strip())
        tail = "\n".join("    " + line for line in tail.splitlines()[-15:])
        raise RuntimeMissingError(
            f"`npm ci` failed (exit code {proc.returncode}) while installing the TF.js runtime; its last output:\n{tail}",
            hint="check the network connection / npm registry settings (`npm config get registry`) and retry",
        )
    if not (folder / "node_modules" / "@tensorflow" / "tfjs" / "package.json").is_file():
        raise RuntimeMissingError("`npm ci` succeeded but @tensorflow/tfjs is not in node_modules.")


def _move_into_place(tmp: Path, target: Path) -> None:
    """Atomically rename ``tmp`` to ``target``, tolerating a concurrent installer that won the race."""
    for _ in range(3):
        try:
            os.rename(tmp, target)
            return
        except OSError:
            if not target.exists():
                raise
        if is_installed(target):  # someone else installed the same runtime: theirs is as good as ours
            return
        # A broken leftover (not made by us: ours only ever appear complete). Move it aside, then retry.
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.trash-", dir=target.parent))
        try:
            os.rename(target, trash / "old")
        except OSError:
            pass
        shutil.rmtree(trash, ignore_errors=True)
    raise RuntimeMissingError(f"could not move the TF.js runtime into {target}",
                              hint="delete that folder and retry")


def _remove_stale_temp_dirs(root: Path, name: str, *, all_of_them: bool) -> None:
    """Delete temp folders left by interrupted installs (all of them when we hold an exclusive lock)."""
    cutoff = time.time() - 3600
    for pattern in (f".{name}.tmp-*", f".{name}.trash-*"):
        for leftover in root.glob(pattern):
            try:
                if all_of_them or leftover.stat().st_mtime < cutoff:
                    shutil.rmtree(leftover, ignore_errors=True)
            except OSError:
                pass


@contextmanager
def _install_lock(path: Path, *, quiet: bool = False) -> Iterator[bool]:
    """An exclusive advisory lock on ``path``; yields whether the lock is really held.

    Where ``fcntl`` is unavailable (Windows) this yields False and the install relies on the
    rename-race tolerance of :func:`_move_into_place` instead.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield False
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RuntimeMissingError(f"cannot create the lock file {path}: {exc}",
                                  hint="set TFJSCONV_CACHE_DIR to a writable folder") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                print(f"Waiting for another process installing the TF.js runtime ({path})…", file=sys.stderr,
                      flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)  # closing releases the lock
