"""The results files of the random graph hunters (``tf_random_graphs.py``, ``onnx_random_graphs.py``): one writer,
so both keep the same layout (a JSON of every case, a Markdown of the counts and each non-pass case)."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

Case = dict[str, Any]


def write_results(stem: Path, title: str, results: list[Case], seed: int, command: str,
                  describe: Callable[[Case], str]) -> Path:
    """``<stem>.json`` (command, seed, counts, results) and ``<stem>.md``: the counts, then one line per non-pass
    case, ``- **index** <describe(case)> — <why>`` (``describe`` names the verdict and the graph's steps)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    counts = Counter(r["verdict"] for r in results)
    stem.with_suffix(".json").write_text(json.dumps({"command": command, "seed": seed, "counts": counts,
                                                     "results": results}, indent=1, default=str))
    lines = [f"# {title}, seed {seed}", "", f"Command: `{command}`", "",
             "| verdict | count |", "|---|---:|", *[f"| {k} | {v} |" for k, v in sorted(counts.items())], ""]
    for r in results:
        if r["verdict"] != "pass":
            why = str(r.get("why", "")).replace("|", "/").replace("\n", " ")[:500]
            lines.append(f"- **{r['index']}** {describe(r)} — {why}")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return stem


def markdown_from_json(json_path: Path, title: str, describe: Callable[[Case], str], out_stem: Path) -> Path:
    """Rewrite a saved run's files from its JSON under ``out_stem`` (to check the layout did not change)."""
    saved = json.loads(json_path.read_text())
    return write_results(out_stem, title, saved["results"], saved["seed"], saved["command"], describe)


def add_hunt_arguments(parser: argparse.ArgumentParser, *, count: int, seed: int, out: Path) -> None:
    """The flags both hunters share: how many graphs, which seed, progress chunks, ``--only``, where results go,
    where failing cases are kept, and draw-weight boosts."""
    parser.add_argument("--count", type=int, default=count)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--chunk", type=int, default=10, help="cases between progress lines and result writes")
    parser.add_argument("--only", default="", help="comma-separated indices to run instead of 0..count-1")
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--keep", type=Path, default=None, help="copy WRONG/CRASH cases' files here")
    parser.add_argument("--boost", default="", help="NAME=FACTOR,... multiplies steps' draw weights (conv=4)")


def boosts(args: argparse.Namespace) -> dict[str, float]:
    """``--boost conv=4,pool=2`` as ``{"conv": 4.0, "pool": 2.0}``."""
    return {name: float(factor) for name, factor in (item.split("=") for item in args.boost.split(",") if item)}


def hunt(args: argparse.Namespace, argv: list[str] | None, run_case: Callable[[int], Case],
         write: Callable[[list[Case], str], Path]) -> int:
    """Run ``run_case`` on each index (``--only`` or ``0..count-1``), printing a line per case and writing the
    results every ``--chunk`` cases and at the end (``write(results, command)``); prints the verdict counts."""
    command = " ".join([Path(sys.executable).name, *sys.argv]) if argv is None else " ".join(argv)
    indices = [int(v) for v in args.only.split(",") if v] or list(range(args.count))
    results: list[Case] = []
    for n, index in enumerate(indices, 1):
        results.append(run_case(index))
        r = results[-1]
        print(f"[{index}] {r['verdict']} {' '.join(r['ops'])} {str(r.get('why', ''))[:160]!r}", flush=True)
        if n % args.chunk == 0 or n == len(indices):
            write(results, command)
    print(dict(Counter(r["verdict"] for r in results)))
    return 0
