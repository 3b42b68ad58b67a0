"""PyTorch/ONNX models to TF.js: tfjsconv's ONNX frontend against onnx2tf + tensorflowjs_converter.

    .venv/bin/python bench/onnx_vs_onnx2tf.py [--models plain_cnn,hf_bert] [--size bench|test] [--runs 10]

The models are the test builders of ``tests/torch_models.py`` (random weights, nothing downloaded),
at ``--size bench`` by default. Each is exported with ``torch.onnx.export`` (dynamo and legacy, static
shapes) and converted, each converter in its own process so that import times count:

- tfjsconv: ``python -m tfjsconv convert model.onnx out/`` (NCHW interface as exported, and ``nhwc``);
- onnx2tf (if ``bench/setup_onnx2tf.sh`` set up ``bench/.venv-onnx2tf``): ``onnx2tf -i model.onnx``, then
  the official ``tensorflowjs_converter`` (``bench/setup_official_converter.sh``) on its SavedModel. It
  is given the legacy export first (it handles opset 17 best), the dynamo export if that fails. It wants
  to download sample images from GitHub; the script gives it random ones of the same shape instead.

Columns: conversion wall time, Transpose count, compute nodes (everything but Const, Placeholder,
Identity, NoOp), TF.js wasm median latency. Results: bench/results/onnx_vs_onnx2tf.{json,md}.
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
import warnings
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
ONNX2TF = HERE / ".venv-onnx2tf" / "bin" / "onnx2tf"
TFJS_CONVERTER = HERE / ".venv-official" / "bin" / "tensorflowjs_converter"
NOT_COMPUTE = {"Const", "Placeholder", "Identity", "NoOp"}
CALIBRATION = "calibration_image_sample_data_20x128x128x3_float32.npy"
ONNX2TF_LABEL = "onnx2tf + tensorflowjs_converter"


def export(name: str, size: str, folder: Path) -> dict[str, Path]:
    import torch
    import torch_models

    module, args = torch_models.BUILDERS[name](size)
    names = torch_models.INPUT_NAMES.get(name) or [f"input_{i}" for i in range(len(args))]
    paths = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for exporter in ("dynamo", "legacy"):
            path = folder / f"{name}_{exporter}.onnx"
            try:
                if exporter == "dynamo":
                    torch.onnx.export(module, args, dynamo=True, input_names=names, verbose=False).save(str(path))
                else:
                    torch.onnx.export(module, args, str(path), dynamo=False, opset_version=17, input_names=names)
                paths[exporter] = path
            except Exception as err:  # noqa: BLE001 - a benchmark reports and goes on
                print(f"  {name}: {exporter} export failed: {type(err).__name__}: {str(err)[:200]}", file=sys.stderr)
    return paths


def run(cmd: list[str], cwd: Path | None = None) -> tuple[bool, float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return out.returncode == 0, time.perf_counter() - start, out.stderr[-1500:]


def graph_facts(model_dir: Path, runs: int) -> dict:
    from tfjsconv.verify.inputs import input_specs, random_inputs
    from tfjsconv.verify.run import run_model

    doc = json.loads((model_dir / "model.json").read_text())
    ops = [n["op"] for n in doc["modelTopology"]["node"]]
    specs = input_specs(model_dir)
    inputs = random_inputs(specs, seed=0)
    for key, (dtype, _shape) in specs.items():  # token ids / masks: small non-negative ints
        if dtype.name.startswith("INT"):
            inputs[key] = (inputs[key] % 2 if "mask" in key else inputs[key] % 50).astype(inputs[key].dtype)
    result = run_model(model_dir, inputs, backends=("wasm",), runs=runs, warmup=2, quiet=True, write_outputs=False)
    wasm = result["wasm"]
    return {"transposes": ops.count("Transpose"), "compute_nodes": sum(op not in NOT_COMPUTE for op in ops),
            "wasm_ms": wasm.median_ms if wasm.ok else None, "wasm_error": None if wasm.ok else wasm.error}


def ours(path: Path, folder: Path, runs: int, layout: str) -> dict:
    out = folder / f"{path.stem}_tfjsconv_{layout}"
    ok, seconds, err = run([sys.executable, "-m", "tfjsconv", "convert", str(path), str(out), "--input_layout", layout])
    if not ok:
        return {"error": err.strip().splitlines()[-1] if err.strip() else "failed"}
    return {"seconds": seconds, **graph_facts(out, runs)}


def onnx2tf_ready() -> bool:
    """Both tools installed, and their virtualenvs' interpreters still there."""
    return all(tool.exists() and (tool.parent / "python3").exists() for tool in (ONNX2TF, TFJS_CONVERTER))


def previous_onnx2tf(name: str) -> dict | None:
    """onnx2tf's figures for ``name`` from the last results file (its side does not change with ours)."""
    path = HERE / "results" / "onnx_vs_onnx2tf.json"
    if not path.exists():
        return None
    for row in json.loads(path.read_text()):
        facts = row["results"].get(ONNX2TF_LABEL) or row["results"].get(f"{ONNX2TF_LABEL} (previous run)")
        if row["model"] == name and facts is not None:
            return {**facts, "reused": True}
    return None


def onnx2tf(paths: dict[str, Path], folder: Path, runs: int) -> dict:
    if not onnx2tf_ready():
        return {"error": "not set up (bench/setup_onnx2tf.sh, bench/setup_official_converter.sh)"}
    # onnx2tf checks 4-D models on sample images it downloads from GitHub unless the file is in its
    # working directory; offline, give it random images of the same shape (only its self-check reads them).
    import numpy as np

    np.save(folder / CALIBRATION, np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32))
    errors = []
    for exporter in ("legacy", "dynamo"):
        if exporter not in paths:
            continue
        saved, out = folder / f"{paths[exporter].stem}_onnx2tf_sm", folder / f"{paths[exporter].stem}_onnx2tf_tfjs"
        shutil.rmtree(saved, ignore_errors=True)
        ok, t1, err = run([str(ONNX2TF), "-i", str(paths[exporter]), "-o", str(saved), "-nuo"], cwd=folder)
        if not ok:
            errors.append(f"{exporter}: onnx2tf: {err.strip().splitlines()[-1] if err.strip() else 'failed'}")
            continue
        ok, t2, err = run([str(TFJS_CONVERTER), "--input_format=tf_saved_model", str(saved), str(out)])
        if not ok:
            errors.append(f"{exporter}: tensorflowjs_converter: {err.strip().splitlines()[-1] if err.strip() else 'failed'}")
            continue
        return {"seconds": t1 + t2, "export": exporter, **graph_facts(out, runs)}
    return {"error": "; ".join(errors)[:300]}


def table(rows: list[dict]) -> str:
    def cell(facts: dict, key: str, fmt: str) -> str:
        if "error" in facts:
            return "—"
        value = facts.get(key)
        return "n/a" if value is None else format(value, fmt)

    lines = ["| model | converter | convert s | Transposes | compute nodes | wasm ms |", "|---|---|---|---|---|---|"]
    for row in rows:
        for label, facts in row["results"].items():
            note = f" ({facts['error'][:80]})" if "error" in facts else ""
            lines.append(f"| {row['model']} | {label}{note} | {cell(facts, 'seconds', '.2f')} | "
                         f"{cell(facts, 'transposes', 'd')} | {cell(facts, 'compute_nodes', 'd')} | "
                         f"{cell(facts, 'wasm_ms', '.2f')} |")
    return "\n".join(lines)


def main() -> None:
    import torch_models

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(torch_models.BUILDERS))
    parser.add_argument("--size", choices=("bench", "test"), default="bench")
    parser.add_argument("--runs", type=int, default=10, help="timed wasm runs per model (after 2 warm-ups)")
    parser.add_argument("--reuse-onnx2tf", action="store_true",
                        help="when onnx2tf is not set up, copy its figures from the last results file")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.models.split(","):
            print(f"== {name}", file=sys.stderr)
            paths = export(name, args.size, folder)
            results = {}
            for exporter, path in paths.items():
                results[f"tfjsconv ({exporter})"] = ours(path, folder, args.runs, "nchw")
            if paths:
                first = paths.get("dynamo") or paths["legacy"]
                results[f"tfjsconv ({'dynamo' if 'dynamo' in paths else 'legacy'}, nhwc)"] = ours(first, folder,
                                                                                                  args.runs, "nhwc")
                reused = None if onnx2tf_ready() or not args.reuse_onnx2tf else previous_onnx2tf(name)
                results[ONNX2TF_LABEL + (" (previous run)" if reused else "")] = reused or onnx2tf(paths, folder,
                                                                                                 args.runs)
            rows.append({"model": name, "size": args.size, "results": results})
            print(table(rows[-1:]), file=sys.stderr)
    text = table(rows)
    print(text)
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "onnx_vs_onnx2tf.json").write_text(json.dumps(rows, indent=2))
    (results_dir / "onnx_vs_onnx2tf.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
