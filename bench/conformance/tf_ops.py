"""TF op conformance: every TF.js-registry op TF can run alone, checked against ``tf.raw_ops``.

    python bench/conformance/tf_ops.py [--ops Conv2D,Pad] [--no-tfjs] [--webgl] [--output docs/conformance/tf_ops.md]

Runs every case of ``cases_tf.py`` in TensorFlow (the oracle), through the numpy interpreter and, converted
by tfjsconv, in real TF.js on cpu and wasm (one Node process per backend, failing batches bisected), and
writes a Markdown table: one row per op and case group. Known mismatches come from ``expected_tf.py``.
With ``--webgl`` every case is also converted for webgl and run there, one model per case, all in one
headless Chromium page (``webgl_runner.py``), which adds a webgl column.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

from cases_tf import CASES, NOT_STANDALONE  # noqa: E402
from expected_tf import EXPECTED_FAILURES, crashes_tfjs, unexpected, unexpected_exact  # noqa: E402
from harness_tf import BACKENDS, WEBGL, CaseResult, run_cases, special_value_deviations  # noqa: E402

DEFAULT_OUTPUT = REPO / "docs" / "conformance" / "tf_ops.md"
ENGINES = ("interpreter", *BACKENDS)
WEBGL_ENGINES = (*ENGINES, WEBGL)


def registry_ops(*, executable_only: bool = False) -> list[str]:
    document = json.loads((REPO / "core" / "ops" / "data" / "tfjs_ops.json").read_text(encoding="utf-8"))
    return sorted(op["name"] for op in document["ops"] if op.get("executable", True) or not executable_only)


#: Interpreter kernels TF cannot run as ``tf.raw_ops`` (TF.js-internal or grappler-fused names).
NOT_RAW_KERNELS = {"DepthwiseConv2d", "FusedDepthwiseConv2dNative", "Prelu", "_FusedConv2D", "_FusedMatMul"}


def outcome_of(result: CaseResult, engine: str):
    if engine == "interpreter":
        return result.interpreter
    from harness_tf import Outcome

    return result.tfjs.get(engine, Outcome("skipped"))


def deviations() -> dict[tuple[str, str], object]:
    """(case key, backend) -> the contract's special-value deviation shown by that case."""
    return {(case, d.backend): d for d in special_value_deviations() for case in d.cases}


def deviates(result: CaseResult, engine: str) -> bool:
    """A wrong (or throwing) TF.js answer that is a recorded special-value deviation of the case's op (named by every
    conversion), or a wrong one where only special values differ (NaN/Inf, past ±1e20, ints past 2^24) and the case's
    own conversion named an op it holds: the case's op or what a rewrite made of it (segment max/min's Max/Min on
    webgl). Never a throwing one, nor one credited only by the inputs' own line ("int32 inputs")."""
    outcome = outcome_of(result, engine)
    if (result.case.key, engine) in deviations():
        return outcome.status in ("wrong", "error")
    return outcome.status == "wrong" and outcome.special_only and bool(named_graph_ops(outcome, engine))


#: Names of the special-values line that are no op of the graph: properties of its inputs and constants.
NOT_OPS = frozenset({"int32 inputs", "int32 constants"})


def named_graph_ops(outcome, engine: str) -> list[str]:
    """The ops of the case's converted graph (its op, or what a rewrite made of it) named for ``engine``."""
    found = []
    for group in named_ops(outcome).split("; "):
        ops, _, where = group.rpartition(" (")
        if engine in where.rstrip(")").split(", "):
            found += [op for op in ops.split(", ") if op and op not in NOT_OPS]
    return found


#: The ops part of a special-values line: "… than TF for <kinds> in <ops (backends); …>; <hint>".
_NAMED_OPS = re.compile(r"than TF for .*? in (.*?); (?:--exact_special_values|see )")


def named_ops(outcome) -> str:
    """The ops (with backends) the conversion behind ``outcome`` named in its special-values line, or ""."""
    found = _NAMED_OPS.search(getattr(outcome, "named", "") or "")
    return found.group(1) if found else ""


def _cell(outcome, limit: int = 110, deviation: bool = False) -> str:
    text = str(outcome)
    if deviation:
        named = named_ops(outcome)
        text = (f"deviates (special values, named: {named})" if named else "deviates (special values)") + (
            f": {outcome.detail}" if outcome.detail else "")
    elif outcome.status in ("wrong", "error"):
        text = f"**{outcome.status}**" + (f": {outcome.detail}" if outcome.detail else "")
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|").replace("\n", " ")


def counts(results: list[CaseResult], engine: str) -> Counter:
    return Counter("deviate on special values" if deviates(r, engine) else outcome_of(r, engine).status
                   for r in results if not r.tf_error)


def exact_cell(result: CaseResult) -> str:
    """The outcome with ``--exact_special_values`` per backend ("" when the case was not run with it)."""
    if not result.exact:
        return ""
    statuses = {b: result.exact[b] for b in (*BACKENDS, WEBGL) if b in result.exact}
    if all(o.status == "pass" for o in statuses.values()):
        return "pass"
    left = {b for b in statuses if (dev := deviations().get((result.case.key, b))) is not None and not dev.exact}
    return "; ".join(f"{b}: " + ("not rewritable, still named" if b in left and o.status != "pass" else _cell(o, 70))
                     for b, o in statuses.items())


def render(results: list[CaseResult], *, tfjs: bool, seconds: float, webgl: bool = False) -> str:
    import tensorflow as tf

    engines = WEBGL_ENGINES if webgl else ENGINES
    backends = engines[1:]

    registry = registry_ops()
    loaded = set(registry_ops(executable_only=True))
    raw = [op for op in registry if hasattr(tf.raw_ops, op) and op in loaded]
    by_op: dict[str, list[CaseResult]] = {}
    by_key = {result.case.key: result for result in results}
    for result in results:
        by_op.setdefault(result.case.op, []).append(result)
    with_cases = [op for op in raw if op in by_op]
    no_case = [op for op in raw if op not in by_op and op not in NOT_STANDALONE]
    outside = sorted(op for op in by_op if op not in registry)

    def summary(engine: str) -> str:
        c = counts(results, engine)
        deviating = c.pop("deviate on special values", 0)
        text = ", ".join(f"{n} {status}" for status, n in sorted(c.items(), key=lambda kv: -kv[1]))
        if not deviating:
            return text
        fixed = sum(1 for r in results if not r.tf_error and deviates(r, engine)
                    and r.exact.get(engine) is not None and r.exact[engine].status == "pass")
        return (text + f", {deviating} deviate on special values (named by the conversion; {fixed} exact with "
                "`--exact_special_values`)")

    lines = [
        "# TF op conformance: interpreter and TF.js against TensorFlow",
        "",
        f"<!-- generated by `python bench/conformance/tf_ops.py{' --webgl' if webgl else ''}`; do not edit by hand -->",
        "",
        f"**Summary:** {len(registry)} ops in the TF.js 4.22 registry ({len(loaded)} loaded), {len(raw)} of "
        "those runnable as `tf.raw_ops`; "
        f"{len(with_cases)} with cases ({sum(len(by_op[o]) for o in with_cases)} cases), "
        f"{len(no_case)} no case yet, {len([o for o in raw if o in NOT_STANDALONE and o not in by_op])} not "
        f"standalone; plus {len(outside)} ops outside the registry with interpreter kernels. "
        f"Cases: {len(results)} ({sum(1 for r in results if r.tf_error)} rejected by TF). "
        f"Interpreter: {summary('interpreter')}."
        + ("".join(f" TF.js {b}: {summary(b)}." for b in backends) if tfjs else " TF.js: not run."),
        "",
        "Expected values come from TensorFlow 2.21 eager `tf.raw_ops`. The interpreter is tfjsconv's numpy "
        "kernel (`core/interpreter/`, used by constant folding); TF.js is the single-op graph converted by "
        "tfjsconv (data inputs are placeholders, shapes/axes are Consts) and run in `@tensorflow/tfjs` 4.22 "
        "under Node" + (
            "; webgl (with `--webgl`) is the same case converted for webgl alone and run in headless Chromium "
            "(WebGL2 on SwiftShader, float32 render targets), one model per case, all in one page "
            "(`bench/conformance/webgl_runner.py`)." if webgl else
            ". webgl is measured with `--webgl` (headless Chromium; not in this run)."),
        "",
        "Statuses: `pass`; **wrong** (numbers, shape or dtype differ); **error** (the engine raised); "
        "`deviates (special values)` (wrong for NaN/±Inf, int32 past 2^24, huge trig arguments or, on webgl, GLSL "
        "trig precision: a deviation the "
        "contract records, which every conversion names in one line; the last column runs the case again "
        "converted with `--exact_special_values`, see [backends.md](../backends.md#special-values)); "
        "`refused` (tfjsconv refuses the conversion, for that backend or at all — a loud, safe outcome); "
        "`unsupported` / `no kernel` (the interpreter declines, so constant folding leaves the node to TF.js). "
        "Floats match when |got − ref| ≤ 1e-5·max|ref| and, for |ref| ≥ 1e-3·max|ref|, ≤ 1e-3·|ref|; "
        "NaN and ±Inf positions must match; ints and bools exactly. Known mismatches (the *notes* column) "
        "are listed with their reasons in `bench/conformance/expected_tf.py`; "
        "`tests/test_conformance_tf_ops.py` checks a sample of every op against that list.",
        "",
        f"Run time: {seconds:.0f} s.",
        "",
        f"## Known mismatches ({len(EXPECTED_FAILURES)} cases)",
        "",
        "Each is a special-value deviation the conversion names (and `--exact_special_values` rewrites where it "
        "can: result after the arrow), a mapping to rewrite or a refusal to add to the backend contract "
        "(interpreter: a kernel to fix).",
        "",
        *[f"- `{key}` — " + "; ".join(f"{engine}: {why}" for engine, why in engines.items())
          + (f" → with `--exact_special_values`: {exact_cell(by_key[key])}" if key in by_key and by_key[key].exact
             else "")
          for key, engines in sorted(EXPECTED_FAILURES.items())],
        "",
        "## All cases",
        "",
        "| Op | case | interpreter vs TF | " + " | ".join(f"TF.js {b} vs TF" for b in backends)
        + " | with `--exact_special_values` | notes |",
        "|---|---|" + "---|" * len(engines) + "---|---|",
    ]
    width = len(engines)
    for op in [*with_cases, *outside]:
        for result in by_op[op]:
            known = EXPECTED_FAILURES.get(result.case.key, {})
            notes = "; ".join(f"{engine}: {why}" for engine, why in known.items())
            if op in outside:
                notes = ("not in the TF.js registry; " + notes).rstrip("; ")
            if result.tf_error:
                cells = ["TF rejects the case"] * width + [""]
                notes = (notes + "; " if notes else "") + result.tf_error
            else:
                cells = [_cell(outcome_of(result, e), deviation=e != "interpreter" and deviates(result, e))
                         for e in engines] + [exact_cell(result)]
                if not tfjs:
                    cells[1:width] = ["not run"] * (width - 1)
            lines.append(f"| {op} | {result.case.group} | {' | '.join(cells)} | {notes.replace('|', '/')} |")
    for op in no_case:
        lines.append(f"| {op} | — |{' no case yet |' * width} | |")
    for op in raw:
        if op in NOT_STANDALONE and op not in by_op:
            lines.append(f"| {op} | — |{' not standalone |' * width} | {NOT_STANDALONE[op]} |")
    for op in registry:
        if op not in raw and op not in by_op:
            why = ("TF.js 4.22 does not load this op's module" if op not in loaded
                   else f"no `tf.raw_ops.{op}` (TF.js-internal or fused op)")
            lines.append(f"| {op} | — |{' — |' * width} | {why} |")
    from tfjsconv.interpreter import KERNELS

    unchecked = sorted(op for op in KERNELS if op not in by_op and op not in ("Const", "Placeholder")
                       and op not in NOT_RAW_KERNELS)
    lines += ["", f"Interpreter kernels with no case yet ({len(unchecked)}): {', '.join(unchecked) or 'none'}. "
              f"Not runnable as `tf.raw_ops` (checked by `tests/test_interpreter.py` against TF.js's reading "
              f"instead): {', '.join(sorted(NOT_RAW_KERNELS))}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", help="comma-separated ops to run (default: all)")
    parser.add_argument("--no-tfjs", action="store_true", help="interpreter vs TF only")
    parser.add_argument("--webgl", action="store_true",
                        help="also convert every case for webgl and run it in headless Chromium (a webgl column)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.webgl:
        from webgl_runner import webgl_available

        why = webgl_available()
        if why:
            parser.error(f"--webgl: {why}")
    engines = WEBGL_ENGINES if args.webgl and not args.no_tfjs else ENGINES
    cases = CASES
    if args.ops:
        wanted = set(args.ops.split(","))
        cases = [c for c in CASES if c.op in wanted]
    start = time.perf_counter()
    results = run_cases(cases, tfjs=not args.no_tfjs, isolate=lambda case: crashes_tfjs(case.key),
                        progress=lambda m: print(m, file=sys.stderr), webgl=args.webgl)
    seconds = time.perf_counter() - start
    text = render(results, tfjs=not args.no_tfjs, seconds=seconds, webgl=engines == WEBGL_ENGINES)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text.splitlines()[4])
    problems = []
    for result in results:
        if result.tf_error:
            continue
        for engine in engines if not args.no_tfjs else ENGINES[:1]:
            outcome = outcome_of(result, engine)
            why = unexpected(result.case.key, engine, outcome.status)
            if why and not (deviates(result, engine) and named_ops(outcome)):  # named by its conversion
                problems.append(f"{result.case.key} [{engine}] {why}: {outcome.detail}")
        for engine, outcome in result.exact.items():
            deviation = deviations().get((result.case.key, engine))
            why = unexpected_exact(result.case.key, engine, outcome.status,
                                   rewritten=None if deviation is None else deviation.exact)
            if why:
                problems.append(f"{result.case.key} [{engine} --exact_special_values] {why}: {outcome.detail}")
    print(f"{len(problems)} unexpected outcome(s)")
    for line in problems:
        print("  " + line)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
