"""Human-readable summaries of conversions, shared by the commands that print them."""
from __future__ import annotations

from typing import Any


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain aligned text table (numbers right-aligned)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(_is_number(r[i]) for r in rows) if rows else False for i in range(len(headers))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def _is_number(value: Any) -> bool:
    """Numbers, and cells formatted from numbers ("1.25", "-" for none), are right-aligned."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value == "-"
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_conversion(result: Any, *, verbose: bool = False) -> str:
    weights = result.facts.get("weights")
    total = sum(result.seconds.values())
    lines = [f"Converted ({result.input_format} -> {result.output_format}) into {result.output_dir} in {total:.2f} s"]
    if weights is not None:
        lines.extend("  " + line for line in weights.summary().splitlines())
    if result.op_histogram is not None:
        lines.append(f"  graph: {sum(result.op_histogram.values())} nodes, {len(result.op_histogram)} op types")
    lines.extend("  " + line for line in getattr(result, "notices", []))
    if verbose:
        lines.extend("  " + line for line in getattr(result, "details", []))
    if verbose and result.pass_report is not None:
        lines.append(format_pass_report(result.pass_report))
    return "\n".join(lines)


def format_pass_report(report: Any) -> str:
    ops = sorted(set(report.ops_before) | set(report.ops_after))
    rows = [[op, report.ops_before.get(op, 0), report.ops_after.get(op, 0)] for op in ops]
    rows.append(["(total)", sum(report.ops_before.values()), sum(report.ops_after.values())])
    passes = [[s.name, s.runs, s.changes, f"{getattr(s, 'seconds', 0.0) * 1000:.1f}",
               ", ".join(f"{kind}={n}" for kind, n in sorted(getattr(s, "counts", {}).items()))]
              for s in report.stats]
    return ("\nops before/after the passes:\n" + table(["op", "before", "after"], rows) +
            f"\n\npasses ({report.sweeps} sweep(s)):\n" + table(["pass", "runs", "changes", "ms", "by kind"], passes))
