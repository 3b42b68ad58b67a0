"""Benchmarking a converted model in real TF.js: load time, first inference, steady-state timings.

The warm-up runs are discarded: TF.js compiles kernels/shaders and allocates on the first
executions, so their times say little about the speed an app sees. Statistics are over the
``runs`` executions after the ``warmup`` ones.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from .run import BackendRun, run_model


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between closest ranks (numpy's default)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


@dataclass
class BackendBench(BackendRun):
    """Timings of one backend, in milliseconds: a :class:`BackendRun` whose outputs are not kept."""

    @classmethod
    def from_run(cls, run: BackendRun) -> "BackendBench":
        return cls(run.backend, run.ok, run.error, load_ms=run.load_ms, first_ms=run.first_ms,
                   times_ms=list(run.times_ms), warmup_ms=list(run.warmup_ms), mode=run.mode, info=dict(run.info))

    @property
    def stats(self) -> dict[str, float | None]:
        t = self.times_ms
        if not t:
            return {"median_ms": None, "min_ms": None, "p90_ms": None, "mean_ms": None, "stdev_ms": None}
        return {"median_ms": statistics.median(t), "min_ms": min(t), "p90_ms": percentile(t, 90),
                "mean_ms": statistics.fmean(t), "stdev_ms": statistics.stdev(t) if len(t) > 1 else 0.0}

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "ok": self.ok, "error": self.error, "mode": self.mode,
                "load_ms": self.load_ms, "first_ms": self.first_ms, **self.stats, "runs": len(self.times_ms),
                "times_ms": list(self.times_ms), "warmup_ms": list(self.warmup_ms), "info": dict(self.info)}


@dataclass
class BenchReport:
    model_dir: str
    where: str  # "node" or "browser"
    runs: int
    warmup: int
    backends: dict[str, BackendBench]
    inputs: dict[str, dict[str, Any]]
    tfjs_version: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.backends.values())

    def to_json(self) -> dict[str, Any]:
        return {"schema": "tfjsconv.bench/1", "model_dir": self.model_dir, "where": self.where,
                "tfjs_version": self.tfjs_version, "runs": self.runs, "warmup": self.warmup,
                "inputs": self.inputs, "environment": dict(self.environment),
                "backends": {b: r.to_json() for b, r in self.backends.items()}}


def bench_inputs(model_dir: str | Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs from the model's signature (unknown dimensions become 1)."""
    from .inputs import input_specs, random_inputs

    return random_inputs(input_specs(model_dir), seed=seed)


def describe_inputs(inputs: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    return {name: {"dtype": str(a.dtype), "shape": list(a.shape)} for name, a in inputs.items()}


def bench_node(model_dir: str | Path, *, backends: Sequence[str] = ("cpu", "wasm"), runs: int = 10, warmup: int = 2,
               inputs: Mapping[str, np.ndarray] | None = None, quiet: bool = False) -> BenchReport:
    """Benchmark in Node.js: each backend loads the model, runs ``warmup + runs`` times."""
    _check_counts(runs, warmup)
    inputs = dict(inputs) if inputs is not None else bench_inputs(model_dir)
    result = run_model(model_dir, inputs, backends=backends, runs=runs, warmup=warmup, quiet=quiet,
                       write_outputs=False)
    benches = {name: BackendBench.from_run(run) for name, run in result.backends.items()}
    return BenchReport(str(model_dir), "node", runs, warmup, benches, describe_inputs(inputs),
                       tfjs_version=result.tfjs_version, environment=dict(result.environment))


def _check_counts(runs: int, warmup: int) -> None:
    if runs < 1:
        raise UsageError("--runs must be >= 1")
    if warmup < 0:
        raise UsageError("--warmup must be >= 0")


def _ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def format_bench(report: BenchReport) -> str:
    from ..cli.report import table

    where = "Node.js" if report.where == "node" else "headless Chromium"
    version = f"TF.js {report.tfjs_version}" if report.tfjs_version else "TF.js"
    inputs = ", ".join(f"{n} {i['dtype']}{i['shape']}" for n, i in report.inputs.items())
    lines = [f"{version} benchmark of {report.model_dir} in {where}",
             f"inputs: {inputs or 'none'}; {report.warmup} warm-up run(s) discarded, then {report.runs} timed run(s)",
             ""]
    rows = []
    for name, b in report.backends.items():
        if not b.ok:
            rows.append([name, "FAILED", "-", "-", "-", "-"])
            continue
        s = b.stats
        rows.append([name, _ms(b.load_ms), _ms(b.first_ms), _ms(s["median_ms"]), _ms(s["min_ms"]), _ms(s["p90_ms"])])
    lines.append(table(["backend", "load ms", "first ms", "median ms", "min ms", "p90 ms"], rows))
    notes = []
    for name, b in report.backends.items():
        if not b.ok:
            notes.append(f"  {name}: {b.error}")
        for key, value in b.info.items():
            notes.append(f"  {name} {key}: {value}")
    for key, value in report.environment.items():
        notes.append(f"  {key}: {value}")
    if notes:
        lines += ["", "notes:"] + notes
    ok = [(n, b.stats["median_ms"]) for n, b in report.backends.items() if b.ok and b.times_ms]
    if ok:
        fastest = min(ok, key=lambda kv: kv[1])
        lines += ["", f"fastest: {fastest[0]} ({_ms(fastest[1])} ms median)"]
    return "\n".join(lines)
