"""Shard files reserved up front (``posix_fallocate``) hold exactly their bytes, whatever the reservation did.

The writer allocates each new shard file before writing it (cheaper for the kernel than allocating page
by page); the last part of a group, which holds fewer bytes than it reserved, is cut to its size. These
tests compare the shards with the weights' own bytes, so a reservation left in a file (trailing zeros), a
failed reservation or a reservation capped below the shard size shows up as wrong bytes or sizes.
"""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from tfjsconv.weights import writer
from tfjsconv.weights.writer import write_weights

RNG = np.random.default_rng(17)


@pytest.fixture(autouse=True)
def _reserving(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here reserves, whatever filesystem the temporary folder is on (except those that test that)."""
    if "filesystem" not in request.node.name:
        monkeypatch.setattr(writer, "allocates_natively", lambda directory: True)


def _weights() -> list[tuple[str, np.ndarray]]:
    return [("a", RNG.standard_normal(1000).astype("<f4")), ("b", RNG.integers(-9, 9, 333).astype("<i4")),
            ("c", RNG.standard_normal((7, 11)).astype("<f4"))]


def _shards(folder: Path, group: int = 1) -> list[bytes]:
    paths = sorted(folder.glob(f"group{group}-shard*.bin"), key=lambda p: int(p.name.split("shard")[1].split("of")[0]))
    return [p.read_bytes() for p in paths]


def _expected(weights: list[tuple[str, np.ndarray]]) -> bytes:
    return b"".join(array.tobytes() for _, array in weights)


@pytest.mark.parametrize("shard_size", [1, 100, 4096, 5000, 1 << 22])
def test_every_shard_holds_exactly_its_bytes(tmp_path: Path, shard_size: int) -> None:
    weights = _weights()
    manifest = write_weights([weights], tmp_path, shard_size=shard_size)
    shards = _shards(tmp_path)
    assert b"".join(shards) == _expected(weights)
    assert all(len(s) == shard_size for s in shards[:-1]) and 0 < len(shards[-1]) <= shard_size
    assert len(manifest[0]["paths"]) == len(shards)
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_group_per_layer_each_cut_to_its_size(tmp_path: Path) -> None:
    groups = [_weights(), [("d", RNG.standard_normal(10).astype("<f4"))]]
    write_weights(groups, tmp_path, shard_size=3000)
    for index, group in enumerate(groups, start=1):
        assert b"".join(_shards(tmp_path, index)) == _expected(group)


@pytest.mark.parametrize("failure", [errno.ENOSPC, errno.EOPNOTSUPP, errno.EINVAL])
def test_a_refused_reservation_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: int) -> None:
    """A nearly full disk or a filesystem without allocation: the writes go on as without the reservation."""
    calls = []

    def refuse(fd: int, offset: int, length: int) -> None:
        calls.append(length)
        os.ftruncate(fd, length // 2)  # as if it had allocated part of it before failing
        raise OSError(failure, os.strerror(failure))

    monkeypatch.setattr(os, "posix_fallocate", refuse, raising=False)
    weights = _weights()
    write_weights([weights], tmp_path, shard_size=4096)
    assert calls and b"".join(_shards(tmp_path)) == _expected(weights)


def test_no_reservation_where_the_platform_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "posix_fallocate", raising=False)
    weights = _weights()
    write_weights([weights], tmp_path, shard_size=4096)
    assert b"".join(_shards(tmp_path)) == _expected(weights)


def test_a_reservation_capped_below_the_shard_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A huge ``--weight_shard_size_bytes`` reserves no more than the cap; the part grows past it as before."""
    monkeypatch.setattr(writer, "_RESERVE_CAP", 1024)
    weights = _weights()
    write_weights([weights], tmp_path, shard_size=1 << 30)
    assert _shards(tmp_path) == [_expected(weights)]


def test_a_failed_write_removes_the_reserved_parts(tmp_path: Path) -> None:
    class Failing:
        shape, dtype = (64,), np.dtype("<f4")

        def load(self) -> np.ndarray:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_weights([[*_weights(), ("bad", Failing())]], tmp_path, shard_size=4096)
    assert list(tmp_path.iterdir()) == []


def test_a_refusal_whose_bytes_cannot_be_cut_at_once_is_cut_at_close(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """glibc's fallback allocation writes the file block by block and may fail half-way; if the cut right
    after fails too, the part must still end up holding exactly its bytes (not the reserved size)."""
    real_ftruncate = os.ftruncate

    def refuse(fd: int, offset: int, length: int) -> None:
        real_ftruncate(fd, length)  # grown to the full reservation before failing
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def no_cut(fd: int, length: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "posix_fallocate", refuse, raising=False)
    monkeypatch.setattr(os, "ftruncate", no_cut)
    weights = _weights()
    manifest = write_weights([weights], tmp_path, shard_size=5000)
    assert b"".join(_shards(tmp_path)) == _expected(weights) and len(manifest[0]["paths"]) == 2


def test_a_failed_cut_still_closes_and_removes_every_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cut of the last part fails (an I/O error): the error is raised and no part is left behind."""
    real_open = open

    class NoTruncate:
        def __init__(self, file) -> None:
            self._file = file

        def __getattr__(self, name: str):
            return getattr(self._file, name)

        def truncate(self, size: int) -> int:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(writer, "open", lambda *a, **k: NoTruncate(real_open(*a, **k)), raising=False)
    with pytest.raises(OSError, match=os.strerror(errno.EIO)):
        write_weights([_weights()], tmp_path, shard_size=1 << 20)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no reservation on this platform")
@pytest.mark.parametrize("options", [{}, {"weight_shard_size_bytes": 1000}, {"split_weights_by_layer": True},
                                     {"quantize_uint8": ["*"], "weight_shard_size_bytes": 333},
                                     {"quantize_float16": ["*"]}, {"output_format": "tfjs_graph_model"}],
                         ids=["default", "shards", "by_layer", "uint8", "float16", "graph"])
def test_every_writer_leaves_no_reserved_bytes(tmp_path: Path, options: dict) -> None:
    """Through the whole conversion (layers and graph writers, quantized weights, a group per layer): every
    shard holds exactly what the manifest needs, as the TF.js loader checks, and all but the last of a group
    are full."""
    import tfjsconv
    from tfjsconv.weights.reader import read_weights

    out = tmp_path / "out"
    tfjsconv.convert(str(Path(__file__).resolve().parent.parent / "examples" / "demo_cnn.keras"), out, **options)
    manifest = json.loads((out / "model.json").read_text())["weightsManifest"]
    assert sum(1 for _ in read_weights(manifest, out)) > 0  # refuses shards larger than the weights need
    shard_size = options.get("weight_shard_size_bytes", 4 << 20)
    for group in manifest:
        sizes = [(out / p).stat().st_size for p in group["paths"]]
        assert all(s == shard_size for s in sizes[:-1]) and 0 < sizes[-1] <= shard_size, sizes
    assert sorted(p.name for p in out.iterdir()) == sorted(["model.json", *(p for g in manifest for p in g["paths"])])


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:35 / /mnt/nfs rw,relatime shared:20 - nfs4 server:/export rw,vers=4.2
41 40 0:36 / /mnt/nfs/local\\040disk rw shared:21 - xfs /dev/vdb rw
42 22 0:37 / /run/user/0 rw,nosuid,nodev shared:22 master:1 - tmpfs tmpfs rw
"""


@pytest.mark.parametrize("directory,expected", [
    ("/work/out", "ext4"), ("/", "ext4"), ("/mnt/nfs", "nfs4"), ("/mnt/nfs/a/b", "nfs4"),
    ("/mnt/nfs/local disk/x", "xfs"), ("/mnt/nfs/local", "nfs4"), ("/run/user/0/t", "tmpfs"), ("/run/user/01", "ext4")])
def test_the_filesystem_of_a_directory_is_its_deepest_mount(directory: str, expected: str) -> None:
    from tfjsconv.weights.fs_allocation import NATIVE_TYPES, filesystem_type

    assert filesystem_type(directory, MOUNTINFO) == expected
    assert ("nfs4" in NATIVE_TYPES) is False


def test_no_reservation_on_a_filesystem_that_would_emulate_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """glibc emulates fallocate on NFS by writing every block: the writer must not ask there."""
    calls = []
    monkeypatch.setattr(writer, "allocates_natively", lambda directory: False)
    monkeypatch.setattr(os, "posix_fallocate", lambda *args: calls.append(args), raising=False)
    weights = _weights()
    write_weights([weights], tmp_path, shard_size=100)
    assert calls == [] and b"".join(_shards(tmp_path)) == _expected(weights)


def test_this_filesystem_is_asked_when_it_allocates_natively(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tfjsconv.weights import fs_allocation

    if not os.path.exists(fs_allocation.MOUNTINFO):
        pytest.skip("no /proc/self/mountinfo")
    calls = []
    real = getattr(os, "posix_fallocate", None)
    monkeypatch.setattr(os, "posix_fallocate", lambda *args: calls.append(args) or (real and real(*args)),
                        raising=False)
    monkeypatch.setattr(writer, "allocates_natively", fs_allocation.allocates_natively)
    write_weights([_weights()], tmp_path, shard_size=100)
    native = fs_allocation.allocates_natively(str(tmp_path))
    assert bool(calls) == native
