"""Where a conversion's time goes: the CLI under cProfile with a CPU clock, grouped into phases.

    .venv/bin/python bench/profile_conversion.py MODEL OUT [convert flags...] [--top 15]

CPU time (``time.process_time``), not wall time, so that load from other jobs on a shared machine
does not smear the picture. Phases: imports (every module executed for the first time), the CLI
parser, reading the input (the frontend's ``load``), passes, writing (weights then model.json), and
the rest; then the functions with the most own time. Run it once to warm the bytecode cache first.
"""
from __future__ import annotations

import cProfile
import pstats
import sys
import time

PHASES = {  # (file suffix, function) whose cumulative time is the phase
    "CLI parser (build_parser)": ("cli/__init__.py", "build_parser"),
    "read the input (Frontend.load)": ("core/lazy.py", "load"),
    "passes (run_passes)": ("core/conversion.py", "run_passes"),
    "write (weights, model.json)": ("core/lazy.py", "write"),
}


def main() -> int:
    argv = sys.argv[1:]
    top = 15
    if "--top" in argv:
        at = argv.index("--top")
        top = int(argv[at + 1])
        del argv[at:at + 2]
    profiler = cProfile.Profile(time.process_time)
    code = 0
    profiler.enable()
    try:
        from tfjsconv.cli import main as cli

        code = cli(["convert", "--quiet", "--overwrite", *argv])
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    cumulative: dict[str, float] = {}
    imports = 0.0  # cProfile counts a recursive function's outermost calls only: all time spent importing
    for (file, _, name), (_, _, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        for phase, (suffix, function) in PHASES.items():
            if file.endswith(suffix) and name == function:
                cumulative[phase] = max(cumulative.get(phase, 0.0), cum)
        if name == "_find_and_load":
            imports = max(imports, cum)
    print(f"total CPU {total:.3f} s (exit code {code})")
    print(f"  imports (outermost _find_and_load; overlaps the phases below) {imports:.3f} s")
    for phase in PHASES:
        print(f"  {phase:45s} {cumulative.get(phase, 0.0):.3f} s")
    print(f"\nfunctions with the most own CPU time (top {top}):")
    stats.sort_stats("tottime").print_stats(top)
    return code


if __name__ == "__main__":
    sys.exit(main())
