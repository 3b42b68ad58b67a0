"""TF.js time of a Keras LSTM over a time length known only at run time (a TF v1 while loop), issue 16 / P1.

Two models from one LSTM(64) over ``Input((None, 32))``: ``sequence`` (return_sequences=True: every step's output
is collected by the loop) and ``last`` (return_sequences=False: no collection, only the loop and the step ops).
``sequence`` minus ``last`` is what collecting the outputs costs; ``last`` alone is TF.js's per-iteration executor
cost plus the step's math. Each model is converted by this tree and by every ``--tree NAME=DIR`` (a folder holding a
``tfjsconv`` package, e.g. the last commit's ``core`` unpacked as ``DIR/tfjsconv`` and its ``plugins`` as
``DIR/tfjsconv/plugins``, put first on PYTHONPATH), then run in Node (``graph.executeAsync``) at every length and
batch, the variants alternated size by size so that they share the machine's load (one Node process per variant
and size, :func:`tfjsconv.verify.bench.bench_node`). ``--same_process`` loads every variant into one Node process
per backend and size instead and alternates them run by run (``rnn_loop_speed_node.cjs``): steadier on a loaded
machine.

    .venv/bin/python bench/rnn_loop_speed.py [--lengths 50,200,500,1000] [--batches 1,8] [--backends cpu,wasm]
        [--runs 3] [--tree before=/tmp/before] [--same_process] [--label NAME] [--output bench/results/rnn_loop_speed.json]
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

ROOT = Path(__file__).resolve().parent.parent


def build(folder: Path) -> dict[str, Path]:
    """The two Keras 3 models saved as ``.keras``."""
    import keras

    paths = {}
    for name, sequences in (("sequence", True), ("last", False)):
        x = keras.Input((None, 32), name="x")
        model = keras.Model(x, keras.layers.LSTM(64, return_sequences=sequences, name="lstm")(x))
        paths[name] = folder / f"{name}.keras"
        model.save(paths[name])
    return paths


def convert(path: Path, out: Path, tree: str | None) -> Path:
    """Converted by the CLI in a fresh process (the graph model), with ``tree`` first on PYTHONPATH."""
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree
    subprocess.run([sys.executable, "-m", "tfjsconv", "convert", str(path), str(out),
                    "--output_format=tfjs_graph_model"], check=True, capture_output=True, env=env, cwd="/")
    return out


def same_process_rows(models: dict[str, tuple[Path, list[str]]], args: argparse.Namespace) -> list[dict]:
    """Every variant loaded into one Node process per backend and size, run alternately ``args.runs`` rounds."""
    from tfjsconv.verify.runtime import ensure_runtime, find_node

    runtime, rows = ensure_runtime(quiet=True), []
    for backend in args.backends.split(","):
        for batch in map(int, args.batches.split(",")):
            for length in map(int, args.lengths.split(",")):
                out = subprocess.run([find_node(), str(Path(__file__).with_name("rnn_loop_speed_node.cjs")),
                                      str(runtime), backend, str(batch), str(length), str(args.runs),
                                      *(f"{name}={folder}" for name, (folder, _) in models.items())],
                                     capture_output=True, text=True)
                doc = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {}
                for variant, (_, collect) in models.items():
                    got = doc.get(variant) or {}
                    row = {"variant": variant, "batch": batch, "length": length, "backend": backend,
                           "ok": bool(got), "median_ms": got.get("median_ms"), "min_ms": got.get("min_ms"),
                           "collect_ops": collect, "error": None if got else out.stderr[-300:],
                           "num_tensors_after": doc.get("num_tensors_after"), "load": os.getloadavg()[0]}
                    rows.append(row)
                    print(f"{variant:17s} batch {batch} length {length:5d} {backend:5s} min {row['min_ms']} median "
                          f"{row['median_ms'] if row['ok'] else row['error']}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="50,200,500,1000")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--backends", default="cpu,wasm")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], help="NAME=DIR: another tree's conversion too")
    parser.add_argument("--same_process", action="store_true", help="alternate the variants in one Node process")
    parser.add_argument("--label", default="run", help="the key of this run in the output file")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "rnn_loop_speed.json"))
    args = parser.parse_args()
    from tfjsconv.verify.bench import bench_node

    trees = {"current": None, **dict(item.split("=", 1) for item in args.tree)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for name, path in build(Path(tmp)).items():
            for tree, where in trees.items():
                if name == "last" and tree != "current":
                    continue  # no outputs collected: the same loop in every tree
                folder = convert(path, Path(tmp) / f"{name}-{tree}", where)
                ops = [n["op"] for n in json.loads((folder / "model.json").read_text())["modelTopology"]["node"]]
                models[f"{name}@{tree}"] = (folder, sorted({op for op in ops if op.startswith("TensorList")
                                                            or op == "ConcatV2"}))
        if args.same_process:
            rows = same_process_rows(models, args)
        for batch in map(int, args.batches.split(",")) if not args.same_process else ():
            for length in map(int, args.lengths.split(",")):
                x = np.random.default_rng(0).standard_normal((batch, length, 32)).astype("float32")
                for variant, (folder, collect) in models.items():
                    report = bench_node(folder, backends=args.backends.split(","), runs=args.runs, warmup=1,
                                        inputs={"x": x}, quiet=True)
                    for backend, bench in report.backends.items():
                        row = {"variant": variant, "batch": batch, "length": length, "backend": backend,
                               "ok": bench.ok, "median_ms": bench.stats["median_ms"], "min_ms": bench.stats["min_ms"],
                               "collect_ops": collect, "error": bench.error, "load": os.getloadavg()[0]}
                        rows.append(row)
                        print(f"{variant:17s} batch {batch} length {length:5d} {backend:5s} min {row['min_ms']} median "
                              f"{row['median_ms'] if row['ok'] else row['error']}", flush=True)
    out = Path(args.output)
    doc = json.loads(out.read_text()) if out.exists() else {}
    doc[args.label] = {"command": " ".join(["python", *sys.argv]), "trees": trees,
                       "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows}
    out.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
