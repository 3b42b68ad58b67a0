"""Convert Keras-application SavedModels with tfjsconv and with the official converter, side by side.

    .venv/bin/python bench/savedmodel_vs_official.py [--models ResNet50,MobileNetV2] [--runs 10]

Needs ``bench/setup_official_converter.sh`` (tensorflowjs 4.22 in bench/.venv-official). Models get
random weights (nothing is downloaded) and are exported with tf_keras as SavedModels. Each converter
runs in its own process; the table gives wall time, peak RSS (of the converter process), graph node
count and the TF.js wasm median latency, with tfjsconv / official ratios, and checks both models
give the same outputs. Results go to bench/results/savedmodel_vs_official.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parent
OURS = [sys.executable, "-m", "tfjsconv", "convert"]
OFFICIAL = [str(HERE / ".venv-official" / "bin" / "tensorflowjs_converter"), "--input_format=tf_saved_model"]
MODELS = ("MobileNetV2", "ResNet50", "EfficientNetB0", "DenseNet121")
RSS_PROBE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(p.returncode, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "print(p.stderr[-2000:], file=sys.stderr)")


def build_saved_model(name: str, folder: Path) -> Path:
    """A tf_keras application with random weights, saved as a SavedModel (in a subprocess, to free memory)."""
    path = folder / name
    code = (f"import tf_keras, tensorflow as tf; m = tf_keras.applications.{name}(weights=None); "
            f"tf.saved_model.save(m, {str(path)!r})")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    return path


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one converter run."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, "-c", RSS_PROBE, *cmd], capture_output=True, text=True, env=env)
    code, seconds, rss_kb = out.stdout.split()
    if code != "0":
        raise RuntimeError(f"{cmd[0]} failed:\n{out.stderr}")
    return float(seconds), int(rss_kb) / 1024


def node_count(model_dir: Path) -> int:
    return len(json.loads((model_dir / "model.json").read_text())["modelTopology"]["node"])


def latency(model_dir: Path, inputs: dict, runs: int) -> tuple[float, dict]:
    from tfjsconv.verify.run import run_model

    result = run_model(model_dir, inputs, backends=("wasm",), runs=runs, warmup=2, quiet=True)
    return result["wasm"].median_ms, result.outputs("wasm")


def bench_one(name: str, folder: Path, runs: int) -> dict:
    from tfjsconv.verify.inputs import input_specs, random_inputs

    saved = build_saved_model(name, folder)
    ours_dir, official_dir = folder / f"{name}_tfjsconv", folder / f"{name}_official"
    row: dict = {"model": name}
    row["ours_s"], row["ours_mb"] = measure([*OURS, str(saved), str(ours_dir)])
    row["official_s"], row["official_mb"] = measure([*OFFICIAL, str(saved), str(official_dir)])
    row["ours_nodes"], row["official_nodes"] = node_count(ours_dir), node_count(official_dir)
    inputs = random_inputs(input_specs(ours_dir), seed=0)
    official_inputs = dict(zip(input_specs(official_dir), inputs.values()))
    row["ours_ms"], ours_out = latency(ours_dir, inputs, runs)
    row["official_ms"], official_out = latency(official_dir, official_inputs, runs)
    a, b = next(iter(ours_out.values())), next(iter(official_out.values()))
    row["max_abs_diff"] = float(np.max(np.abs(a - b)))
    for key in ("s", "mb", "nodes", "ms"):
        row[f"ratio_{key}"] = row[f"ours_{key}"] / row[f"official_{key}"]
    return row


def table(rows: list[dict]) -> str:
    head = ("| model | time s (ours / official = ratio) | peak RSS MB | nodes | wasm median ms | max abs diff |\n"
            "|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        cell = lambda k, fmt: f"{r['ours_' + k]:{fmt}} / {r['official_' + k]:{fmt}} = {r['ratio_' + k]:.2f}"  # noqa: E731
        lines.append(f"| {r['model']} | {cell('s', '.1f')} | {cell('mb', '.0f')} | {cell('nodes', 'd')} | "
                     f"{cell('ms', '.1f')} | {r['max_abs_diff']:.1e} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if not Path(OFFICIAL[0]).exists():
        sys.exit("run bench/setup_official_converter.sh first (installs tensorflowjs into bench/.venv-official)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="tfjsconv-bench-") as tmp:
        for name in args.models.split(","):
            started = time.perf_counter()
            rows.append(bench_one(name.strip(), Path(tmp), args.runs))
            print(f"{name}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    text = table(rows)
    print(text)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "savedmodel_vs_official.json").write_text(json.dumps(rows, indent=2))
    (results / "savedmodel_vs_official.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
