"""``tfjsconv bench MODEL_DIR``: how fast the converted model runs in TF.js, per backend.

Reports the load time, the first inference (one-time kernel/shader set-up included) and the
median, min and 90th percentile of the runs after the warm-up, which is discarded. cpu and wasm
run in Node.js; ``--browser`` runs in headless Chromium and adds webgl.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .flags import non_negative_int, positive_int

NODE_BACKENDS = ("cpu", "wasm")
BROWSER_BACKENDS = ("cpu", "wasm", "webgl")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="time a TF.js model per backend (load, first run, median/min/p90)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", help="the TF.js model folder (model.json + shards)")
    p.add_argument("--backend", choices=(*BROWSER_BACKENDS, "all"), default="all",
                   help="backend(s) to time (default all: cpu+wasm in Node, cpu+wasm+webgl with --browser)")
    p.add_argument("--runs", type=positive_int, default=10, help="timed runs after the warm-up (default 10)")
    p.add_argument("--warmup", type=non_negative_int, default=2, help="runs discarded before timing (default 2)")
    p.add_argument("--browser", action="store_true", help="run in headless Chromium (adds webgl)")
    p.add_argument("--inputs", type=Path, help=".npz of inputs (default: random from the signature)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs")
    p.add_argument("--json", action="store_true", help="print the report as JSON (schema: docs/bench.md)")


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError, VerificationError
    from ..inspect.tfjs_model import read_model_json, shard_list
    from ..verify.bench import bench_inputs, format_bench
    from ..verify.inputs import load_npz

    model_dir = Path(args.model_dir)
    if not model_dir.exists():
        from ..errors import InputError

        raise InputError(f"{model_dir} does not exist; expected a TF.js model folder (model.json + weight shards)")
    folder, doc = read_model_json(model_dir)
    shard_list(folder, doc.get("weightsManifest") or [])  # missing or truncated shards: one clear message
    if args.backend == "webgl" and not args.browser:
        raise UsageError("the webgl backend needs a browser", hint="add --browser (headless Chromium)")
    if args.browser:
        backends = BROWSER_BACKENDS if args.backend == "all" else (args.backend,)
    else:
        backends = NODE_BACKENDS if args.backend == "all" else (args.backend,)
    inputs = load_npz(args.inputs, "--inputs") if args.inputs else bench_inputs(folder, seed=args.seed)
    if args.browser:
        from ..serve.browser import bench_browser

        report = bench_browser(folder, backends=backends, runs=args.runs, warmup=args.warmup, inputs=inputs)
    else:
        from ..verify.bench import bench_node

        report = bench_node(folder, backends=backends, runs=args.runs, warmup=args.warmup, inputs=inputs,
                            quiet=args.json)
    print(json.dumps(report.to_json(), indent=2) if args.json else format_bench(report))
    sys.stdout.flush()
    if not report.ok:
        failed = ", ".join(n for n, b in report.backends.items() if not b.ok)
        raise VerificationError(f"TF.js could not run the model on: {failed}")
    return 0
