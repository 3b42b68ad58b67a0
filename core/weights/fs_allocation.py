"""Whether a directory's filesystem allocates file space itself, read from ``/proc/self/mountinfo``.

Why: where a filesystem has no ``fallocate`` (NFS, many FUSE mounts), glibc's ``posix_fallocate`` emulates
it by writing one byte per block: about 1,000 small writes per 4 MiB shard, which would make the shard
writer's up-front reservation (an optimization only) a slowdown. Only filesystems known to allocate
natively are asked; anywhere else, and off Linux, shards are written without a reservation.
"""
from __future__ import annotations

import functools
import os
import re

#: Filesystem types (mountinfo's spelling) whose ``fallocate`` allocates without writing.
NATIVE_TYPES = frozenset({"ext4", "xfs", "btrfs", "tmpfs", "f2fs", "bcachefs", "overlay"})
MOUNTINFO = "/proc/self/mountinfo"
_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (``\\040``)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def filesystem_type(directory: str, mountinfo: str) -> str | None:
    """The type of the filesystem mounted deepest above ``directory`` (the last such mount wins)."""
    best, found = -1, None
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if "-" not in fields[6:]:
            continue
        mount = _unescape(fields[4])
        inside = directory == mount or directory.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= best:
            best, found = len(mount), fields[fields.index("-", 6) + 1]
    return found


@functools.cache
def allocates_natively(directory: str) -> bool:
    """True when ``directory`` lies on a filesystem of :data:`NATIVE_TYPES` (False when that cannot be read)."""
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="replace") as file:
            text = file.read()
    except OSError:
        return False
    return filesystem_type(os.path.realpath(directory), text) in NATIVE_TYPES
