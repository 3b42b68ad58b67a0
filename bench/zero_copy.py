"""Zero-copy weight reading: wall time and peak RSS, mapped reads against copying reads, side by side.

    .venv/bin/python bench/zero_copy.py [--repeat 5] [--onnx-mb 200]

* ResNet50 ``.h5`` (tf_keras, random weights, ~100 MB; cached in ``bench/.cache/``) -> layers model.
* A ~200 MB ONNX MatMul chain with external data (``large_onnx_memory.generate``) -> graph model.

Each conversion runs as a fresh process under ``/usr/bin/time -v``, alternating two modes ``--repeat``
times: ``zero_copy`` (the code as it is) and ``copying``, where a generated ``sitecustomize`` puts back
the reading code before issue 17 (h5py reads every dataset into a new array; an ONNX external tensor
is read into a new buffer with positioned reads). The best wall time and the best peak RSS of each
mode are kept; results and command lines go to ``bench/results/zero_copy.json``.

``--in-process`` adds the weight phase alone for the ``.h5``: every weight written by ``write_weights``
in this process (no start-up, no topology), best seconds and the peak of Python/numpy allocations
(``tracemalloc``) for each mode, alternated.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from keras_vs_official import CACHE, build_h5  # noqa: E402
from large_onnx_memory import generate  # noqa: E402

RESULTS = HERE / "results" / "zero_copy.json"
_WALL = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)")
_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")

#: The copying readers, as they were before zero-copy reading (patched in for the ``copying`` mode).
_COPYING = '''
import numpy as np
from tfjsconv.plugins.keras import h5source
from tfjsconv.plugins.onnx import external

def read(self, path):
    return np.asarray(self.file[path][()])

def load(self):
    count = int(np.prod(self._base_shape, dtype=np.int64))
    dtype = self._base_dtype.newbyteorder("<")
    buffer = bytearray(count * dtype.itemsize)
    with open(self.path, "rb", buffering=0) as f:
        f.seek(self.offset)
        view, done = memoryview(buffer), 0
        while done < len(buffer):
            done += f.readinto(view[done:])
    array = np.frombuffer(buffer, dtype=dtype).reshape(self._base_shape)
    for op in self._ops:
        array = op(array)
    return np.ascontiguousarray(array)

h5source.H5Source.read = read
h5source.H5Array.load = lambda self: read(self.source, self.path)
external.ExternalArray.load = load
'''


def onnx_model(megabytes: int) -> Path:
    folder = CACHE / f"zero_copy_onnx_{megabytes}mb"
    if not (folder / "model.onnx").is_file():
        generate(folder, megabytes * 1_000_000, width=2048)
    return folder / "model.onnx"


def timed(command: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{proc.stderr.split('Command being timed')[0][-1500:]}")
    h, m, s = _WALL.search(proc.stderr).groups()
    return {"seconds": int(h or 0) * 3600 + int(m) * 60 + float(s),
            "peak_rss_mb": round(int(_RSS.search(proc.stderr).group(1)) / 1024, 1)}


def side_by_side(command: list[str], out: Path, repeat: int, envs: dict[str, dict[str, str]]) -> dict:
    runs: dict[str, list[dict]] = {mode: [] for mode in envs}
    for _ in range(repeat):
        for mode, env in envs.items():
            shutil.rmtree(out, ignore_errors=True)
            runs[mode].append(timed(command, env))
    result: dict = {"command": "/usr/bin/time -v " + " ".join(command)}
    for mode, mode_runs in runs.items():
        result[mode] = {"seconds": round(min(r["seconds"] for r in mode_runs), 3),
                        "peak_rss_mb": min(r["peak_rss_mb"] for r in mode_runs), "runs": mode_runs}
    return result


def weight_phase(h5: Path, repeat: int) -> dict:
    """Seconds and peak traced allocations of writing every weight of ``h5``, copying vs mapped."""
    import time
    import tracemalloc

    import h5py
    import numpy as np

    from tfjsconv.plugins.keras.h5source import H5Source
    from tfjsconv.weights import write_weights

    source = H5Source(h5)
    names: list[str] = []
    source.file.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    lazy = [(n, source.dataset(n)) for n in names if n.startswith("model_weights/")]

    class Copying:  # the h5py read every weight went through before
        def __init__(self, array: object) -> None:
            self.array, self.shape, self.dtype = array, array.shape, array.dtype

        def load(self) -> object:
            return np.asarray(source.file[self.array.path][()])

    modes = {"copying": [(n, Copying(a)) for n, a in lazy], "zero_copy": lazy}
    runs: dict[str, list[dict]] = {mode: [] for mode in modes}
    for _ in range(repeat):
        for mode, weights in modes.items():
            with tempfile.TemporaryDirectory() as out:
                tracemalloc.start()
                start = time.perf_counter()
                write_weights([weights], out)
                seconds = time.perf_counter() - start
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            runs[mode].append({"seconds": round(seconds, 3), "peak_traced_mb": round(peak / 2**20, 1)})
    return {mode: {"seconds": min(r["seconds"] for r in mode_runs),
                   "peak_traced_mb": min(r["peak_traced_mb"] for r in mode_runs), "runs": mode_runs}
            for mode, mode_runs in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--onnx-mb", type=int, default=200)
    parser.add_argument("--cases", default="h5,onnx", help="which conversions to run (h5, onnx)")
    parser.add_argument("--in-process", action="store_true", help="also time the .h5 weight phase alone")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "tfjsconv", "convert", "--quiet", "--overwrite"]
    cases = {"h5": ("resnet50_h5_to_layers", build_h5("ResNet50")),
             "onnx": ("onnx_external_to_graph", onnx_model(args.onnx_mb))}
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-bench-zero-copy-"))
    (work / "copying").mkdir()
    (work / "copying" / "sitecustomize.py").write_text(_COPYING)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    envs = {"copying": {**env, "PYTHONPATH": str(work / "copying")}, "zero_copy": env}
    record: dict = {"note": ("peak RSS counts file pages a mapping touched, so it does not drop with zero-copy "
                             "reads (the mapped pages replace the copy); the copy shows in peak_traced_mb of the "
                             "in-process weight phase. Wall times of whole runs are dominated by start-up and by "
                             "other load on the shared 2-core machine."),
                    "python": platform.python_version(), "machine": platform.machine(),
                    "bench_command": (f"python bench/zero_copy.py --repeat {args.repeat} --onnx-mb {args.onnx_mb}"
                                     + (" --in-process" if args.in_process else ""))}
    try:
        for case in args.cases.split(","):
            key, source = cases[case]
            size = sum(p.stat().st_size for p in source.parent.iterdir()) if case == "onnx" else source.stat().st_size
            try:
                record[key] = {"input_mb": round(size / 1e6, 1),
                               **side_by_side([*cli, str(source), str(work / case)], work / case, args.repeat, envs)}
            except RuntimeError as err:  # another area's breakage must not lose the other figures
                record[key] = {"error": str(err)}
        if args.in_process:
            record["resnet50_h5_weight_phase_in_process"] = weight_phase(cases["h5"][1], args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    for key, value in record.items():
        if isinstance(value, dict) and "zero_copy" in value:
            before, after = value["copying"], value["zero_copy"]
            unit = "peak_rss_mb" if "peak_rss_mb" in after else "peak_traced_mb"
            print(f"{key}: copying {before['seconds']:.2f} s {before[unit]:.1f} MB -> "
                  f"zero-copy {after['seconds']:.2f} s {after[unit]:.1f} MB ({unit})")
        elif isinstance(value, dict):
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
