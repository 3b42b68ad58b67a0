"""One entry-point group of the installed distributions, found without importing importlib.metadata.

Importing importlib.metadata (it pulls in email, zipfile, csv, ...) costs more CPU than the scan
itself, on every run of the CLI. In the usual environment (the standard path finder is the only one
that finds distributions, and every ``sys.path`` entry is a directory or missing) this module reads
what importlib.metadata reads, in the same order: each ``*.dist-info`` / ``*.egg-info`` directory,
the first of each normalized name along ``sys.path``, its ``entry_points.txt``, and for a match its
``METADATA`` (or ``PKG-INFO``) for name and version. Anything else (zip or egg entries on
``sys.path``, another distribution finder, a file importlib.metadata would choke on) is left to
importlib.metadata itself, so third-party plugins are found exactly as before.
"""
from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass
from importlib import import_module
from typing import Any

_INFO_SUFFIXES = (".dist-info", ".egg-info")
#: importlib.metadata's syntax of an entry point's value: ``module[:attr.attr] [extras]``.
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


@dataclass(frozen=True)
class EntryPoint:
    """One entry point and the distribution that declares it (``dist_name`` None when unknown)."""

    name: str
    value: str
    dist_name: str | None
    dist_version: str | None

    def load(self) -> Any:
        """The module, or the object in it, that the value names (as ``importlib.metadata`` loads it)."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"malformed entry point value {self.value!r}")
        module = import_module(match.group("module"))
        return functools.reduce(getattr, filter(None, (match.group("attr") or "").split(".")), module)


class _Unusual(Exception):
    """Something only importlib.metadata knows how to treat exactly."""


def entry_points(group: str) -> list[EntryPoint]:
    """The ``group`` entry points of every installed distribution, in importlib.metadata's order."""
    try:
        return _scan(group)
    except _Unusual:
        return _from_importlib(group)


def _from_importlib(group: str) -> list[EntryPoint]:
    import importlib.metadata

    found = []
    for ep in importlib.metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        found.append(EntryPoint(ep.name, ep.value, dist.name if dist else None, dist.version if dist else None))
    return found


def _scan(group: str) -> list[EntryPoint]:
    if any(hasattr(finder, "find_distributions") and finder is not _path_finder() for finder in sys.meta_path):
        raise _Unusual("another finder discovers distributions")
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for root in sys.path:
        for info in _info_dirs(root):
            name = _normalized(os.path.basename(info))
            if name in seen:
                continue
            seen.add(name)
            pairs = [(n, v) for section, n, v in _sections(_read(info, "entry_points.txt") or "") if section == group]
            if pairs:
                dist_name, version = _name_and_version(info)
                found += [EntryPoint(n, v, dist_name, version) for n, v in pairs]
    return found


def _path_finder() -> Any:
    import importlib.machinery

    return importlib.machinery.PathFinder


def _info_dirs(root: str) -> list[str]:
    """The metadata directories in one ``sys.path`` entry, in listing order."""
    if not isinstance(root, str):
        raise _Unusual(f"a sys.path entry that is not a string: {root!r}")
    if os.path.basename(root).lower().endswith(".egg"):
        raise _Unusual(f"an egg on sys.path: {root}")
    try:
        children = os.listdir(root or ".")
    except OSError:
        if os.path.lexists(root or "."):
            raise _Unusual(f"a sys.path entry that is not a directory: {root}") from None
        return []
    infos = []
    for child in children:
        if child.lower().endswith(_INFO_SUFFIXES):
            if not child.endswith(_INFO_SUFFIXES):  # importlib.metadata names these from their metadata
                raise _Unusual(f"an oddly cased metadata directory: {child}")
            infos.append(os.path.join(root, child))
    return infos


def _normalized(stem: str) -> str:
    """The distribution name a metadata directory's name gives, normalized as importlib.metadata does."""
    name = os.path.splitext(stem)[0].partition("-")[0]
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _read(info: str, filename: str) -> str | None:
    try:
        with open(os.path.join(info, filename), encoding="utf-8") as file:
            return file.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None
    except UnicodeDecodeError:
        raise _Unusual(f"{info}/{filename} is not UTF-8") from None


def _sections(text: str) -> list[tuple[str, str, str]]:
    """``(section, name, value)`` of every ``name = value`` line (importlib.metadata's parser)."""
    pairs = []
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section is None:
            continue
        if "=" not in line:
            raise _Unusual(f"an entry_points.txt line without '=': {line!r}")
        name, value = line.split("=", 1)
        pairs.append((section, name.strip(), value.strip()))
    return pairs


def _name_and_version(info: str) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from the metadata file's headers (the first of each)."""
    text = _read(info, "METADATA") or _read(info, "PKG-INFO")
    if not text:
        raise _Unusual(f"{info} has no metadata file")
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, colon, value = line.partition(":")
        if colon and not key[:1].isspace():
            headers.setdefault(key.strip().lower(), value.lstrip(" \t"))
    return headers.get("name"), headers.get("version")
