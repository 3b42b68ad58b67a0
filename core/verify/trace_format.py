"""The text of a ``verify --trace`` report: the table, the first node that differs and how its error grew."""
from __future__ import annotations

import math

from .trace import TraceReport, TraceRow

#: Tables longer than this show only the rows around the first difference (``--json`` has them all).
MAX_ROWS = 60


def _err(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.2e}" if math.isfinite(value) else str(value)


def _result(row: TraceRow) -> str:
    if row.problem:
        return "not compared"
    if not row.compared:
        return "not fetched"
    return "PASS" if row.passed else "FAIL"


def _sources(row: TraceRow) -> str:
    """The sources, each with its PyTorch module path when the export recorded one."""
    return ", ".join(f"{s} [{row.modules[s]}]" if s in row.modules else s for s in row.sources)


def _shown(report: TraceReport) -> list[TraceRow]:
    rows = report.rows
    if len(rows) <= MAX_ROWS:
        return rows
    bad = report.first_failure
    keep = {r.node for r in rows[:10]}
    if bad is not None:
        keep |= {r.node for r in report.path_to(bad)}
        index = rows.index(bad)
        keep |= {r.node for r in rows[index:index + 5]}
    return [r for r in rows if r.node in keep]


def format_trace(report: TraceReport) -> str:
    from ..cli.report import table

    backends = report.backends
    compared = report.compared
    what = "layers" if report.kind == "layers" else "source nodes"
    head = (f"{'TF.js ' + report.tfjs_version + ' ' if report.tfjs_version else ''}trace of {report.model_dir} "
            f"against {report.source} ({report.frontend}, {report.kind} model): {len(report.rows)} {what}, "
            f"{len(compared)} compared on {', '.join(backends)} in {report.rounds} run(s) of each side, "
            f"{report.seconds:.1f} s")
    shown = _shown(report)
    rows = []
    for row in shown:
        errs = [_err(row.comparisons[b].max_rel_err) if b in row.comparisons else "-" for b in backends]
        rows.append([str(row.position), row.node, row.op, _sources(row), *errs, _result(row)])
    unit = "layer" if report.kind == "layers" else "node"
    lines = [head, "", table(["#", f"TF.js {unit}", "op" if unit == "node" else "class", f"source {unit}",
                              *(f"{b} err" for b in backends), "result"], rows)]
    if len(shown) < len(report.rows):
        lines.append(f"({len(report.rows) - len(shown)} rows not shown; --json has the whole table)")
    problems = [r for r in shown if r.problem]
    if problems:
        lines += ["", "not compared:"] + [f"  {r.node}: {r.problem}" for r in problems[:10]]
    lines.append("")
    lines.append("err = max |TF.js - source| / max |source| of that tensor; "
                 f"tolerance rtol={report.rtol:g} atol={report.atol:g} as for outputs")
    bad = report.first_failure
    if bad is None and not compared:
        lines.append("FAIL: no node could be paired with the source, so nothing was compared (see above)")
        return "\n".join(lines)
    if bad is None:
        lines.append(f"PASS: every compared node matches the source on {', '.join(backends)}")
        return "\n".join(lines)
    errs = ", ".join(f"{_err(c.max_rel_err)} on {b}" for b, c in bad.comparisons.items() if not c.passed)
    lines += ["", f"first difference: TF.js {unit} {bad.node!r} ({'op' if unit == 'node' else 'class'} {bad.op}), "
                  f"from source {unit}{'s' if len(bad.sources) > 1 else ''} {_sources(bad)}: error {errs}"]
    for b, c in bad.comparisons.items():
        if c.problem and not c.passed:
            lines.append(f"  [{b}] {c.problem}")
    if bad.inputs:
        ins = ", ".join(f"{n} {_err(report.row(n).error)}" for n in bad.inputs)
        ok = all(report.row(n).passed for n in bad.inputs)
        lines.append(f"  its inputs: {ins} ({'all within tolerance' if ok else 'NOT all within tolerance'})")
    else:
        lines.append("  its inputs: the model's inputs (nothing compared upstream)")
    path = report.path_to(bad)
    lines.append("  error growth: " + " -> ".join(f"{r.node} {_err(r.error)}" for r in path))
    lines += ["", f"FAIL: TF.js {unit} {bad.node!r} ({bad.op}) is the first to differ from the source "
                  f"({', '.join(bad.sources)})"]
    return "\n".join(lines)
