"""Writer throughput: tfjsconv's sharded weights writer against a plain copy of the same bytes.

    .venv/bin/python bench/writer_throughput.py [--megabytes 512] [--tensors 64] [--repeat 3]

Each measurement runs in a fresh subprocess so peak RSS (ru_maxrss) is its own. Reports MB/s for:
  tfjsconv      tfjsconv.convert() of an IR graph whose Consts are lazy (read from a .npy on demand)
  write         one open().write() per tensor of the same bytes (the floor for any writer)
  copy          shutil.copyfile of a file holding the same bytes
Results go to bench/results/writer_throughput.json as well as stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


class NpyLazy:
    """A weight read from a memory-mapped .npy only when the writer asks for it."""

    def __init__(self, path: Path) -> None:
        header = np.load(path, mmap_mode="r")
        self.path, self.shape, self.dtype = path, header.shape, header.dtype

    def load(self) -> np.ndarray:
        return np.load(self.path)


def make_tensors(folder: Path, megabytes: int, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    per = megabytes * 1024 * 1024 // 4 // count
    paths = []
    for i in range(count):
        path = folder / f"w{i}.npy"
        np.save(path, rng.standard_normal(per, dtype=np.float32))
        paths.append(path)
    return paths


def run_tfjsconv(folder: Path, out: Path) -> None:
    from tfjsconv.conversion import convert
    from tfjsconv.dtypes import DType
    from tfjsconv.ir import Graph

    g = Graph("bench")
    x = g.placeholder("x", DType.FLOAT32, (None,))
    acc = x
    for i, path in enumerate(sorted(folder.glob("w*.npy"), key=lambda p: int(p.stem[1:]))):
        w = g.const(NpyLazy(path), name=f"w{i}")
        acc = g.add_op("AddV2", [acc, g.add_op("Sum", [w, g.const(np.int32(0), name=f"axis{i}")],
                                                {"keep_dims": False}, name=f"sum{i}")], name=f"add{i}")
    g.set_output("y", acc)
    convert(g, out)


def run_write(folder: Path, out: Path) -> None:
    out.mkdir()
    with open(out / "all.bin", "wb") as f:
        for path in sorted(folder.glob("w*.npy")):
            f.write(memoryview(np.load(path)).cast("B"))


def run_copy(folder: Path, out: Path) -> None:
    out.mkdir()
    shutil.copyfile(folder / "raw.bin", out / "raw.bin")


MODES = {"tfjsconv": run_tfjsconv, "write": run_write, "copy": run_copy}


def child(mode: str, folder: Path, out: Path) -> None:
    import resource

    start = time.perf_counter()
    MODES[mode](folder, out)
    os.sync()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--tensors", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-bench-"))
    try:
        src = work / "src"
        src.mkdir()
        paths = make_tensors(src, args.megabytes, args.tensors)
        with open(src / "raw.bin", "wb") as f:
            for path in paths:
                f.write(np.load(path).tobytes())
        total_mb = (src / "raw.bin").stat().st_size / 1e6
        results = {}
        for mode in MODES:
            runs = []
            for r in range(args.repeat):
                out = work / f"out-{mode}-{r}"
                done = subprocess.run([sys.executable, __file__, "--child", mode, str(src), str(out)],
                                      capture_output=True, text=True, check=True)
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
                shutil.rmtree(out)
            best = min(runs, key=lambda r: r["seconds"])
            results[mode] = {
                "median_seconds": statistics.median(r["seconds"] for r in runs),
                "mb_per_s": total_mb / statistics.median(r["seconds"] for r in runs),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
                "best_seconds": best["seconds"],
            }
        report = {"megabytes": round(total_mb, 1), "tensors": args.tensors, "repeat": args.repeat, "results": results}
        print(f"{total_mb:.0f} MB in {args.tensors} float32 tensors, median of {args.repeat} runs")
        print(f"{'mode':10} {'MB/s':>8} {'peak RSS MB':>12}")
        for mode, r in results.items():
            print(f"{mode:10} {r['mb_per_s']:8.0f} {r['peak_rss_mb']:12.0f}")
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "writer_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
