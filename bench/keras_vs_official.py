"""Keras ``.h5`` -> TF.js layers model: tfjsconv side by side with the official converter.

    .venv/bin/python bench/keras_vs_official.py [--models ResNet50,MobileNetV2,...] [--repeat 3]

Each ``keras.applications`` model is built by tf_keras with random weights (``weights=None``, nothing
downloaded) and saved as ``.h5`` once (cached in ``bench/.cache/``). Each converter then runs as a
fresh process per repetition; the wall time and the peak RSS of that process are reported (best of
``--repeat``). The official converter comes from ``bench/setup_official_converter.sh`` (or
``$TFJS_OFFICIAL_CONVERTER``); without it only tfjsconv is measured. JSON goes to
``bench/results/keras_vs_official.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
CACHE = HERE / ".cache"
MODELS = ("ResNet50", "MobileNetV2", "EfficientNetB0", "DenseNet121")

#: Runs a command as the only child of a fresh interpreter, so its peak RSS is RUSAGE_CHILDREN's.
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": proc.returncode, "seconds": seconds, "rss_mb": usage.ru_maxrss / 1024,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime, "stderr": proc.stderr[-2000:]}))
"""


def build_h5(name: str) -> Path:
    """The tf_keras application ``name`` with random weights, saved once as .h5."""
    path = CACHE / f"{name}.tf_keras.h5"
    if not path.is_file():
        CACHE.mkdir(exist_ok=True)
        code = (f"import tf_keras as k; m = k.applications.{name}(weights=None); "
                f"m.save({str(path)!r})")
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                       capture_output=True)
    return path


def measure(command: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def official_converter() -> str | None:
    candidate = os.environ.get("TFJS_OFFICIAL_CONVERTER") or str(HERE / ".venv-official" / "bin" / "tensorflowjs_converter")
    return candidate if Path(candidate).is_file() else None


def best_of(command: list[str], out: Path, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        runs.append(measure(command))
        if runs[-1]["rc"] != 0:
            return runs[-1]
    return {"rc": 0, "seconds": min(r["seconds"] for r in runs), "rss_mb": min(r["rss_mb"] for r in runs),
            "stderr": ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    official = official_converter()
    tfjsconv = [sys.executable, "-m", "tfjsconv", "convert"]
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-bench-keras-"))
    rows = []
    try:
        for name in args.models.split(","):
            h5 = build_h5(name)
            row = {"model": name, "h5_mb": h5.stat().st_size / 1e6,
                   "tfjsconv": best_of([*tfjsconv, str(h5), str(work / "ours")], work / "ours", args.repeat)}
            if official:
                row["official"] = best_of([official, "--input_format=keras", str(h5), str(work / "theirs")],
                                          work / "theirs", args.repeat)
            rows.append(row)
            _print_row(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "keras_vs_official.json").write_text(json.dumps(rows, indent=2))
    return 0


def _print_row(row: dict) -> None:
    ours, theirs = row["tfjsconv"], row.get("official")

    def cell(run: dict | None) -> str:
        if run is None:
            return "(not installed)"
        if run["rc"] != 0:
            return f"FAILED rc={run['rc']}: {run['stderr'].strip().splitlines()[-1:]}"
        return f"{run['seconds']:6.2f} s {run['rss_mb']:6.0f} MB"

    speedup = (f"{theirs['seconds'] / ours['seconds']:5.1f}x" if theirs and theirs["rc"] == 0 and ours["rc"] == 0
               else "-")
    print(f"{row['model']:<15} {row['h5_mb']:6.1f} MB h5 | tfjsconv {cell(ours)} | official {cell(theirs)} | {speedup}",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
