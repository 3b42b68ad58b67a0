"""The floor of copying a Keras .h5's plain weights into 4 MB shards: mapped (mmap) against pread into one buffer.

    .venv/bin/python bench/plain_read_floor.py MODEL.h5 mmap|pread|cfr

Reads every contiguous dataset's offset with h5py first (not timed), then copies the bytes into ``/tmp/wfloor_out``
with a finite-value check on the way, as the shard writer does: through a mapping per dataset (``mmap``), through
one reused 1 MiB buffer (``pread``), or with ``os.copy_file_range`` after a mapped check (``cfr``). Prints wall and
CPU seconds and minor page faults. Run each mode several times, alternated (issue17_speed.md, session 8).
"""
import mmap
import os
import shutil
import sys
import time

import h5py
import numpy as np
path = sys.argv[1]; mode = sys.argv[2]
f = h5py.File(path, "r")
items = []
def visit(name, obj):
    if isinstance(obj, h5py.Dataset):
        off = obj.id.get_offset()
        if off is not None:
            items.append((off, obj.id.get_storage_size(), obj.dtype))
f.visititems(visit)
f.close()
out = "/tmp/wfloor_out"; shutil.rmtree(out, ignore_errors=True); os.makedirs(out)
fd = os.open(path, os.O_RDONLY)
import resource
r0 = resource.getrusage(resource.RUSAGE_SELF); t = time.perf_counter()
SH = 4 << 20
o = None; room = 0; n = 0
def nxt():
    global o, room, n
    if o is not None: os.close(o)
    n += 1; o = os.open(f"{out}/s{n}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC); room = SH
if mode == "mmap":
    for off, size, dt in items:
        start = off - off % mmap.ALLOCATIONGRANULARITY
        m = mmap.mmap(fd, size + off - start, access=mmap.ACCESS_COPY, offset=start)
        a = np.frombuffer(m, dtype=np.uint8, count=size, offset=off - start)
        fa = a.view(dt) if size % dt.itemsize == 0 else a
        np.isfinite(fa).all() if fa.dtype.kind == "f" else None
        v = memoryview(a)
        while len(v):
            if room == 0: nxt()
            k = min(room, len(v)); os.write(o, v[:k]); room -= k; v = v[k:]
        del a, fa, v; m.close()
elif mode == "pread":
    buf = bytearray(1 << 20)
    for off, size, dt in items:
        done = 0
        while done < size:
            k = min(len(buf), size - done)
            mv = memoryview(buf)[:k]
            os.preadv(fd, [mv], off + done)
            if dt.kind == "f" and k % dt.itemsize == 0: np.isfinite(np.frombuffer(mv, dtype=dt)).all()
            v = mv
            while len(v):
                if room == 0: nxt()
                j = min(room, len(v)); os.write(o, v[:j]); room -= j; v = v[j:]
            done += k
elif mode == "cfr":
    for off, size, dt in items:
        start = off - off % mmap.ALLOCATIONGRANULARITY
        m = mmap.mmap(fd, size + off - start, access=mmap.ACCESS_READ, offset=start)
        a = np.frombuffer(m, dtype=np.uint8, count=size, offset=off - start)
        if dt.kind == "f" and size % dt.itemsize == 0: np.isfinite(a.view(dt)).all()
        del a; m.close()
        done = 0
        while done < size:
            if room == 0: nxt()
            k = min(room, size - done)
            w = os.copy_file_range(fd, o, k, off + done)
            room -= w; done += w
os.close(o)
r1 = resource.getrusage(resource.RUSAGE_SELF); print(mode, round(time.perf_counter() - t, 4), "cpu", round(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, 4), "minflt", r1.ru_minflt - r0.ru_minflt)
