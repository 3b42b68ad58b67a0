"""Start-up time of the CLI against the floor of starting Python with numpy (issue 17 targets).

    .venv/bin/python bench/startup.py [--repeat 15]

Commands, each a fresh process, taking turns run by run (so load from other jobs hits them alike):
``python -c "import numpy"`` (the floor), ``python -c "import tfjsconv"``, ``tfjsconv --help``,
``tfjsconv plugins`` and ``tfjsconv convert --help``. Reports the median and best of ``--repeat``
wall times, the median above the floor, and what one ``-X importtime`` run imports (helpers of
``bench/lazy_plugins.py``). Results: ``bench/results/startup.{json,md}``, with the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lazy_plugins import TFJSCONV, imports, one_run  # noqa: E402

FLOOR = "python -c 'import numpy'"
COMMANDS = {
    FLOOR: [sys.executable, "-c", "import numpy"],
    "python -c 'import tfjsconv'": [sys.executable, "-c", "import tfjsconv"],
    "tfjsconv --help": [TFJSCONV, "--help"],
    "tfjsconv plugins": [TFJSCONV, "plugins"],
    "tfjsconv convert --help": [TFJSCONV, "convert", "--help"],
}
TARGET_HELP_S, TARGET_ABOVE_FLOOR_S = 0.25, 0.1


def with_bytecode_cache(folder: Path = HERE / ".cache" / "pycache") -> str:
    """Let child processes cache bytecode (outside the tree), as an installed package does.

    The shared machine sets PYTHONDONTWRITEBYTECODE, so every process would compile every module it
    imports (seconds for a conversion); a user's pip install has .pyc files. Call before measuring,
    and give each command one unmeasured warm-up run."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(folder)
    return f"bytecode cached in {folder} (PYTHONPYCACHEPREFIX), one warm-up run per command"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "startup")
    args = parser.parse_args()
    bytecode = with_bytecode_cache()
    env = dict(os.environ)
    for argv in COMMANDS.values():
        one_run(argv, env)
    load_before = os.getloadavg()
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, argv in COMMANDS.items():
            before = _children_cpu()
            walls[name].append(one_run(argv, env))
            cpus[name].append(_children_cpu() - before)
    floor = statistics.median(walls[FLOOR])
    cpu_floor = statistics.median(cpus[FLOOR])
    results = {}
    for name, argv in COMMANDS.items():
        median = statistics.median(walls[name])
        results[name] = {"median_s": round(median, 3), "best_s": round(min(walls[name]), 3),
                         "median_cpu_s": round(statistics.median(cpus[name]), 3),
                         "median_above_floor_s": round(median - floor, 3),
                         "median_cpu_above_floor_s": round(statistics.median(cpus[name]) - cpu_floor, 3),
                         **imports(argv, env)}
        print(f"{name:32s} {results[name]}", flush=True)
    help_s = results["tfjsconv --help"]["median_s"]
    help_cpu = results["tfjsconv --help"]["median_cpu_s"]
    doc = {"command": " ".join([".venv/bin/python", "bench/startup.py", *sys.argv[1:]]),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "repeat": args.repeat,
           "machine": f"{os.cpu_count()} cores, {platform.platform()}, shared with other engineers' jobs",
           "load_average_before": [round(x, 2) for x in load_before],
           "load_average_after": [round(x, 2) for x in os.getloadavg()], "bytecode": bytecode,
           "targets": {"tfjsconv --help median_s <=": TARGET_HELP_S, "above the numpy floor <=": TARGET_ABOVE_FLOOR_S},
           "met": {"help": help_s <= TARGET_HELP_S, "above_floor": help_s - floor <= TARGET_ABOVE_FLOOR_S,
                   "help_cpu": help_cpu <= TARGET_HELP_S,
                   "above_floor_cpu": help_cpu - cpu_floor <= TARGET_ABOVE_FLOOR_S},
           "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = [f"# CLI start-up\n\n`{doc['command']}` ({doc['date']}; median of {args.repeat} fresh processes, "
             f"commands alternated; load average {doc['load_average_before'][0]:.1f} before, "
             f"{doc['load_average_after'][0]:.1f} after, on {os.cpu_count()} cores shared with other jobs; {bytecode}).\n",
             "| command | median s | best s | median CPU s | median above floor s | modules imported | numpy |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['median_s']:.3f} | {r['best_s']:.3f} | {r['median_cpu_s']:.3f} | "
                     f"{r['median_above_floor_s']:+.3f} | "
                     f"{r['modules']} | {'yes' if r['numpy'] else 'no'} |")
    lines.append(f"\nTargets: `tfjsconv --help` <= {TARGET_HELP_S} s ({'met' if doc['met']['help'] else 'not met'}) "
                 f"and <= {TARGET_ABOVE_FLOOR_S} s above the floor "
                 f"({'met' if doc['met']['above_floor'] else 'not met'}) in wall time; in CPU time, which the load "
                 f"from other jobs inflates far less: {help_cpu:.3f} s "
                 f"({'met' if doc['met']['help_cpu'] else 'not met'}), {help_cpu - cpu_floor:+.3f} s above the floor "
                 f"({'met' if doc['met']['above_floor_cpu'] else 'not met'}).")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
