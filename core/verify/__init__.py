"""Verification: run converted models in real TensorFlow.js (Node.js) and compare with a reference.

* :func:`run_model` — run a TF.js model folder on numpy inputs with the ``cpu`` and ``wasm`` backends
  of pure ``@tensorflow/tfjs`` 4.22.0 (installed once into a user cache by :func:`ensure_runtime`);
* :func:`compare` / :func:`verify_model` / :func:`format_report` — per-output error statistics,
  pass/fail against ``atol + rtol * max|reference|`` and a per-element bound
  (see :mod:`tfjsconv.verify.compare`), and a readable table.
"""
from __future__ import annotations

from .compare import (
    DEFAULT_ATOL,
    DEFAULT_ELEM_FLOOR,
    DEFAULT_ELEM_RTOL,
    DEFAULT_RTOL,
    OutputComparison,
    VerifyReport,
    compare,
    format_report,
    unmatched_outputs,
    verify_model,
)
from .run import DEFAULT_BACKENDS, BackendRun, RunResult, TfjsRunError, run_model, to_tfjs_array
from .runtime import cache_root, ensure_runtime, find_node, find_npm, runtime_dir

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_BACKENDS",
    "DEFAULT_ELEM_FLOOR",
    "DEFAULT_ELEM_RTOL",
    "DEFAULT_RTOL",
    "BackendRun",
    "OutputComparison",
    "RunResult",
    "TfjsRunError",
    "VerifyReport",
    "cache_root",
    "compare",
    "ensure_runtime",
    "find_node",
    "find_npm",
    "format_report",
    "run_model",
    "runtime_dir",
    "to_tfjs_array",
    "unmatched_outputs",
    "verify_model",
]
