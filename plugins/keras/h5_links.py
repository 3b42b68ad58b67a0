"""Refuse HDF5 files whose data lives outside them: external links, stray soft links, virtual and external datasets.

h5py follows an external link (or a virtual dataset's sources, or a dataset's external raw-data
files) as if the data were in the file, so a hostile ``.h5`` could copy any file the user can read
into the converted shards. Keras never writes any of these, so the whole file is checked once, when
it is opened, before anything is read: every reader (layers model, graph model, ``verify``'s
reference, ``inspect``) then only ever sees a self-contained file. The walk reads metadata only
(``H5Lvisit`` reports each link without following it; hard-link cycles are visited once).
"""
from __future__ import annotations

import contextlib
from typing import Any

from tfjsconv.errors import InputError

#: Most links walked in one file (a Keras file has a few per weight); more is refused, not walked forever.
MAX_H5_LINKS = 1_000_000
_SHOWN = 10


def check_self_contained(file: Any, display: str) -> dict[str, tuple[Any, Any]]:
    """Raise :class:`InputError` naming every link or dataset of ``file`` that reaches outside it.

    Uses h5py's low-level visits: ``Group.visititems_links`` looks every name up again (10x slower).
    Returns the datasets it opened, ``{path: (dataset id, creation property list)}``, so that readers
    need not open them again (one hard-linked name per dataset; other paths are simply not in it).
    """
    from h5py import h5d, h5l, h5o

    problems: list[str] = []
    soft: list[tuple[str, str]] = []
    datasets: list[bytes] = []
    count = 0

    def visit_link(name: bytes, info: Any) -> Any:
        nonlocal count
        count += 1
        if count > MAX_H5_LINKS:
            return True  # stops the walk
        if info.type == h5l.TYPE_SOFT:
            soft.append((_text(name), _text(file.id.links.get_val(name))))
        elif info.type == h5l.TYPE_EXTERNAL:
            filename, path = file.id.links.get_val(name)
            problems.append(f"{_text(name)!r} is an external link to {_text(filename)}:{_text(path)}")
        elif info.type != h5l.TYPE_HARD:
            problems.append(f"{_text(name)!r} is a link of an unknown kind (type {info.type})")
        return None

    def visit_object(name: bytes, info: Any) -> Any:  # hard links only: soft and external ones are not followed
        if info.type == h5o.TYPE_DATASET:
            datasets.append(name)
        return None

    file.id.links.visit(visit_link, info=True)
    if count > MAX_H5_LINKS:
        raise InputError(f"{display} holds more than {MAX_H5_LINKS} HDF5 links; a Keras file has a few per "
                         "weight, so it is refused rather than walked", hint="the file is corrupt or hostile")
    h5o.visit(file.id, visit_object, info=True)
    opened: dict[str, tuple[Any, Any]] = {}
    for name in datasets:
        dsid = h5d.open(file.id, name)
        plist = dsid.get_create_plist()
        with contextlib.suppress(UnicodeDecodeError):  # a name no reader can ask for is not kept
            opened[name.decode("utf-8")] = (dsid, plist)
        if plist.get_layout() == h5d.VIRTUAL:
            problems.append(f"{_text(name)!r} is a virtual dataset (its data comes from other files)")
        elif plist.get_external_count() > 0:
            files = [_text(plist.get_external(i)[0]) for i in range(plist.get_external_count())]
            problems.append(f"{_text(name)!r} keeps its data in external files {files}")
    if not problems:  # with no external link anywhere, resolving a soft link cannot leave the file
        problems += [f"{name!r} is a soft link to {target!r}, which is not in the file"
                     for name, target in soft if not _resolves(file, target)]
    if problems:
        shown = problems[:_SHOWN] + ([f"... and {len(problems) - _SHOWN} more"] if len(problems) > _SHOWN else [])
        raise InputError(f"{display} is refused: it points outside itself (to other files' data), which Keras "
                         f"never writes: {'; '.join(shown)}",
                         hint="save the model again with model.save(); tfjsconv only reads self-contained files")
    return opened


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _resolves(file: Any, target: str) -> bool:
    """Whether ``target`` opens an object (``in`` only asks whether its last link exists, so a soft
    link to a dangling soft link, or a loop of them, would pass)."""
    try:
        return file.get(target) is not None
    except Exception:  # a soft-link loop or an unreadable path: treat as dangling
        return False
