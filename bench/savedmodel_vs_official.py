"""Convert Keras-application SavedModels with tfjsconv and with the official converter, side by side.

    .venv/bin/python bench/savedmodel_vs_official.py [--models ResNet50,MobileNetV2]
        [--flavours tf_keras,keras3] [--runs 10] [--rounds 4] [--tf-loader]

Needs ``bench/setup_official_converter.sh`` (tensorflowjs 4.22 in bench/.venv-official). Each model is
built here with random weights and random BatchNorm statistics (nothing is downloaded) and saved
twice: with tf_keras (``tf.saved_model.save``) and with Keras 3 (``model.export()``). Each converter
runs in its own process; the table gives wall time, peak RSS (of the converter process), graph node
count and the TF.js wasm median latency (``--rounds`` alternating rounds, the lowest median of each side),
with tfjsconv / official ratios. tfjsconv's model is checked against TensorFlow itself on the TF.js
cpu and wasm backends (max abs err / max|reference|, must be <= 1e-5). A converter that fails is
recorded with its error. ``--tf-loader`` also times tfjsconv with the TensorFlow loading path
(``tf.saved_model.load`` + freezing) instead of reading the files directly.
Results go to bench/results/savedmodel_vs_official.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
OURS = [sys.executable, "-m", "tfjsconv", "convert"]
OURS_TF_LOADER = [sys.executable, "-c",
                  "import sys; from pathlib import Path; import tfjsconv; from tfjsconv.options import ConvertOptions; "
                  "from tfjsconv.plugins.savedmodel.pipeline import graph_from_saved_model_dir; "
                  "g = graph_from_saved_model_dir(Path(sys.argv[1]), ConvertOptions(), direct=False); "
                  "tfjsconv.convert(g, sys.argv[2])"]
OFFICIAL = [str(HERE / ".venv-official" / "bin" / "tensorflowjs_converter"), "--input_format=tf_saved_model"]
MODELS = ("MobileNetV2", "ResNet50", "EfficientNetB0", "DenseNet121")
FLAVOURS = ("tf_keras", "keras3")
RTOL = 1e-5
RSS_PROBE = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(p.returncode, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "print(p.stderr[-3000:], file=sys.stderr)")
#: Builds one application with random weights and random BatchNorm statistics, and saves it.
BUILD = r"""
import sys, numpy as np
flavour, name, path = sys.argv[1:]
if flavour == "tf_keras":
    import tensorflow as tf, tf_keras as k
else:
    import keras as k
model = getattr(k.applications, name)(weights=None, classifier_activation=None)  # logits: no saturated softmax
rng = np.random.default_rng(0)
RANDOM = {"moving_variance": lambda s: rng.uniform(0.5, 2.0, s), "moving_mean": lambda s: rng.normal(0, 0.2, s),
          "gamma": lambda s: rng.uniform(0.5, 1.5, s), "beta": lambda s: rng.normal(0, 0.2, s),
          "bias": lambda s: rng.normal(0, 0.1, s)}
for layer in model.layers:
    if not layer.weights:
        continue
    values = []
    for var, value in zip(layer.weights, layer.get_weights()):
        label = (getattr(var, "path", None) or var.name).split("/")[-1].split(":")[0]
        values.append(RANDOM[label](value.shape).astype(value.dtype) if label in RANDOM else value)
    layer.set_weights(values)
if flavour == "tf_keras":
    tf.saved_model.save(model, path)
else:
    model.export(path, verbose=False)
"""


def env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def build_saved_model(name: str, flavour: str, folder: Path) -> Path:
    """The application saved by ``flavour``, built in a subprocess (its memory is freed after)."""
    path = folder / f"{name}_{flavour}"
    extra = {"TF_USE_LEGACY_KERAS": "1"} if flavour == "tf_keras" else {}
    subprocess.run([sys.executable, "-c", BUILD, flavour, name, str(path)], check=True,
                   env={**env(), **extra}, capture_output=True)
    return path


def measure(cmd: list[str]) -> tuple[float, float] | str:
    """(wall seconds, peak RSS MB) of one converter run, or the tail of its error output."""
    out = subprocess.run([sys.executable, "-c", RSS_PROBE, *cmd], capture_output=True, text=True, env=env())
    code, seconds, rss_kb = out.stdout.split()
    if code != "0":
        lines = [ln.strip() for ln in out.stderr.strip().splitlines() if ln.strip()]
        at = next((i for i in reversed(range(len(lines))) if "Error" in lines[i] or "error" in lines[i]), None)
        if at is None:
            return lines[-1] if lines else code
        return " ".join(lines[at:at + 3])  # the official converter lists unsupported ops after the error
    return float(seconds), int(rss_kb) / 1024


def node_count(model_dir: Path) -> int:
    return len(json.loads((model_dir / "model.json").read_text())["modelTopology"]["node"])


def wasm_median(model_dir: Path, inputs: dict, runs: int) -> tuple[float, dict]:
    from tfjsconv.verify.run import run_model

    result = run_model(model_dir, inputs, backends=("wasm",), runs=runs, warmup=2, quiet=True)
    return result["wasm"].median_ms, result.outputs("wasm")


def check_against_tf(saved: Path, model_dir: Path) -> dict:
    """tfjsconv's model against TensorFlow on cpu and wasm: max abs err / max|reference| per backend."""
    from tfjsconv.verify.source_check import verify_against_source

    report = verify_against_source(saved, model_dir, backends=("cpu", "wasm"), rtol=RTOL, atol=0.0, quiet=True)
    rel = {c.backend: c.max_rel_err for c in report.comparisons}
    problems = [c.problem for c in report.comparisons if c.problem]
    return {"passed": report.passed, "rel_err": rel, "problems": problems}


def bench_one(name: str, flavour: str, folder: Path, runs: int, rounds: int, tf_loader: bool) -> dict:
    import numpy as np

    from tfjsconv.verify.inputs import input_specs, random_inputs
    from tfjsconv.verify.run import TfjsRunError

    saved = build_saved_model(name, flavour, folder)
    ours_dir, official_dir = folder / f"{saved.name}_tfjsconv", folder / f"{saved.name}_official"
    row: dict = {"model": name, "flavour": flavour}
    ours = measure([*OURS, str(saved), str(ours_dir)])
    if isinstance(ours, str):
        row["ours_error"] = ours
        return row
    row["ours_s"], row["ours_mb"] = ours
    if tf_loader:
        tf_dir = folder / f"{saved.name}_tfloader"
        loaded = measure([*OURS_TF_LOADER, str(saved), str(tf_dir)])
        if not isinstance(loaded, str):
            row["ours_tf_loader_s"], row["ours_tf_loader_mb"] = loaded
    official = measure([*OFFICIAL, str(saved), str(official_dir)])
    row["ours_nodes"] = node_count(ours_dir)
    row["check"] = check_against_tf(saved, ours_dir)
    inputs = random_inputs(input_specs(ours_dir), seed=0)
    if isinstance(official, str):
        row["official_error"] = official
        row["ours_ms"], _ = wasm_median(ours_dir, inputs, runs)
        return row
    row["official_s"], row["official_mb"] = official
    row["official_nodes"] = node_count(official_dir)
    official_inputs = dict(zip(input_specs(official_dir), inputs.values()))
    ours_ms, official_ms = [], []
    for _ in range(rounds):  # alternate, so that a busy spell on the machine hits both sides
        ms, ours_out = wasm_median(ours_dir, inputs, runs)
        ours_ms.append(ms)
        try:
            ms, official_out = wasm_median(official_dir, official_inputs, runs)
        except TfjsRunError as err:
            row["official_error"] = f"converted, but TF.js wasm cannot run it: {err}"
            row["ours_ms"] = ours_ms[0]
            return _with_ratios(row)
        official_ms.append(ms)
    row["ours_ms"], row["official_ms"] = min(ours_ms), min(official_ms)
    a, b = next(iter(ours_out.values())), next(iter(official_out.values()))
    row["max_abs_diff_vs_official"] = float(np.max(np.abs(a - b)))
    return _with_ratios(row)


def _with_ratios(row: dict) -> dict:
    for key in ("s", "mb", "nodes", "ms"):
        if f"ours_{key}" in row and f"official_{key}" in row:
            row[f"ratio_{key}"] = row[f"ours_{key}"] / row[f"official_{key}"]
    return row


def _cell(r: dict, key: str, fmt: str) -> str:
    ours = f"{r['ours_' + key]:{fmt}}" if f"ours_{key}" in r else "–"
    if f"ratio_{key}" not in r:
        return f"{ours} / –"
    return f"{ours} / {r['official_' + key]:{fmt}} = **{r['ratio_' + key]:.2f}**"


def _check(r: dict) -> str:
    check = r.get("check")
    if not check:
        return "–"
    errs = ", ".join(f"{b} {e:.1e}" if e is not None else f"{b} –" for b, e in check["rel_err"].items())
    return f"{'PASS' if check['passed'] else 'FAIL'} ({errs})"


def table(rows: list[dict]) -> str:
    head = ("| model | saved by | time s (ours / official = ratio) | peak RSS MB | nodes | wasm median ms | "
            "vs TF: max abs err / max\\|ref\\| |\n|---|---|---|---|---|---|---|")
    lines = [head]
    notes = []
    for r in rows:
        if "ours_error" in r:
            lines.append(f"| {r['model']} | {r['flavour']} | tfjsconv failed: {r['ours_error']} | | | | |")
            continue
        lines.append(f"| {r['model']} | {r['flavour']} | {_cell(r, 's', '.1f')} | {_cell(r, 'mb', '.0f')} | "
                     f"{_cell(r, 'nodes', 'd')} | {_cell(r, 'ms', '.1f')} | {_check(r)} |")
        if "official_error" in r:
            notes.append(f"- {r['model']} ({r['flavour']}): the official converter failed: `{r['official_error'][:300]}`")
        if "ours_tf_loader_s" in r:
            notes.append(f"- {r['model']} ({r['flavour']}): tfjsconv with the TensorFlow loader "
                         f"(tf.saved_model.load + freezing): {r['ours_tf_loader_s']:.1f} s, "
                         f"{r['ours_tf_loader_mb']:.0f} MB")
    return "\n".join(lines + ([""] + notes if notes else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--flavours", default=",".join(FLAVOURS))
    parser.add_argument("--runs", type=int, default=10, help="timed TF.js runs per round (after 2 warm-up runs)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternating latency rounds per converter; the lowest round median counts")
    parser.add_argument("--tf-loader", action="store_true", help="also time tfjsconv's TensorFlow loading path")
    parser.add_argument("--out", default=str(HERE / "results" / "savedmodel_vs_official"),
                        help="results path without suffix (.json and .md are written)")
    args = parser.parse_args()
    if not Path(OFFICIAL[0]).exists():
        sys.exit("run bench/setup_official_converter.sh first (installs tensorflowjs into bench/.venv-official)")
    rows = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tfjsconv-bench-") as tmp:
        for name in args.models.split(","):
            for flavour in args.flavours.split(","):
                started = time.perf_counter()
                rows.append(bench_one(name.strip(), flavour.strip(), Path(tmp), args.runs, args.rounds, args.tf_loader))
                print(f"{name} ({flavour}): done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
                out.with_suffix(".json").write_text(json.dumps(rows, indent=2))  # partial results survive
                for path in Path(tmp).iterdir():  # keep the disk small: models are rebuilt per row
                    shutil.rmtree(path, ignore_errors=True)
    text = table(rows)
    print(text)
    command = " ".join([".venv/bin/python", "bench/savedmodel_vs_official.py", *sys.argv[1:]])
    header = (f"# SavedModel: tfjsconv vs the official converter (tensorflowjs 4.22)\n\n"
              f"`{command}` ({time.strftime('%Y-%m-%d')}; ratios are tfjsconv / official, lower is better; "
              f"the error column is tfjsconv's model in TF.js against TensorFlow, limit {RTOL:g}).\n\n")
    out.with_suffix(".md").write_text(header + text + "\n")


if __name__ == "__main__":
    main()
