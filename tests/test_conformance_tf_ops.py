"""TF op conformance (issue 13): the interpreter and TF.js against TensorFlow's own ops.

Every interpreter kernel with a case is checked on every case; TF.js (cpu and wasm) runs a sample
holding at least one case of every op (today: every case), in one Node process per backend, with
the cases known to make TF.js throw run on their own; every case of an op with a recorded special-value
deviation runs again converted with ``--exact_special_values`` and must then match, unless the
deviation is one the flag cannot rewrite. Anything but a match (or a
loud refusal) must be listed, with its reason, in ``bench/conformance/expected_tf.py``; the full run
is ``python bench/conformance/tf_ops.py`` (it writes ``docs/conformance/tf_ops.md``).
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench" / "conformance"))

from cases_tf import CASES, NOT_STANDALONE  # noqa: E402
from expected_tf import EXPECTED_FAILURES, unexpected, unexpected_exact  # noqa: E402
from expected_tf import crashes_tfjs as known_crash  # noqa: E402

tf = pytest.importorskip("tensorflow")
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
TFJS_ENGINES = ("cpu", "wasm")
#: Engines expected_tf.py may list: webgl entries come from ``tf_ops.py --webgl`` (headless Chromium).
LISTED_ENGINES = (*TFJS_ENGINES, "webgl")


def crashes_tfjs(case) -> bool:
    """Cases known to make a TF.js backend throw run alone, so the shared batch needs no bisection."""
    return known_crash(case.key)


def sample(limit: int = 800) -> list:
    """The cases TF.js runs here: all of them while they fit (~35 s for 500 cases in one Node run per
    backend); past ``limit``, one case per op (the first that does not crash TF.js) plus the known
    mismatches, so every op and every listed entry is still checked."""
    if len(CASES) <= limit:
        return list(CASES)
    chosen: dict[str, object] = {}
    for case in CASES:
        current = chosen.get(case.op)
        if current is None or (crashes_tfjs(current) and not crashes_tfjs(case)):
            chosen[case.op] = case
    return [c for c in CASES if c in chosen.values() or c.key in EXPECTED_FAILURES]


def problems(results, engines) -> list[str]:
    found = []
    for result in results:
        if result.tf_error:
            found.append(f"{result.case.key}: TensorFlow rejects the case: {result.tf_error}")
            continue
        for engine in engines:
            outcome = result.interpreter if engine == "interpreter" else result.tfjs.get(engine)
            why = unexpected(result.case.key, engine, outcome.status if outcome else "skipped")
            if why:
                found.append(f"{result.case.key} [{engine}] {why}: {outcome.detail if outcome else ''}")
        for engine, outcome in result.exact.items():  # the same case converted with --exact_special_values
            deviation = special_value_cases().get((result.case.key, engine))
            why = unexpected_exact(result.case.key, engine, outcome.status,
                                   rewritten=None if deviation is None else deviation.exact)
            if why:
                found.append(f"{result.case.key} [{engine} --exact_special_values] {why}: {outcome.detail}")
    return found


def special_value_cases() -> dict:
    """(case key, backend) -> the contract's special-value deviation that case shows."""
    from tfjsconv.ops.special_values import deviations

    return {(case, d.backend): d for d in deviations() for case in d.cases}


def test_every_tfjs_mismatch_is_a_recorded_special_value_deviation():
    """Issue 13: nothing the table shows as wrong on cpu/wasm is emitted silently. Every listed TF.js
    mismatch is a deviation of the contract (which conversions name, and --exact_special_values rewrites
    where it can), and every deviation names listed cases of its own op."""
    recorded = special_value_cases()
    listed = {(key, engine) for key, engines in EXPECTED_FAILURES.items() for engine in engines if engine in LISTED_ENGINES}
    assert listed == set(recorded), (sorted(listed - set(recorded)), sorted(set(recorded) - listed))
    for (key, _), deviation in recorded.items():
        assert key.split("/")[0] == deviation.op and deviation.reason, (key, deviation)


def test_expected_failures_name_real_cases_with_reasons():
    keys = {case.key for case in CASES}
    assert len(keys) == len(CASES), "case keys (op/group) must be unique"
    for key, engines in EXPECTED_FAILURES.items():
        assert key in keys, f"expected_tf.py lists {key}, which is no case"
        for engine, why in engines.items():
            assert engine in ("interpreter", *LISTED_ENGINES), (key, engine)
            assert why.split(":")[0] in ("wrong", "error") and len(why) > 12, (key, engine, why)


def test_every_registry_op_tf_can_run_has_a_case_or_a_reason():
    """The page lists the rest as "no case yet"; this keeps that list from growing unnoticed."""
    document = json.loads((REPO / "core" / "ops" / "data" / "tfjs_ops.json").read_text(encoding="utf-8"))
    with_cases = {case.op for case in CASES}
    missing = sorted(op["name"] for op in document["ops"] if hasattr(tf.raw_ops, op["name"]) and op["executable"]
                     and op["name"] not in with_cases and op["name"] not in NOT_STANDALONE)
    assert not missing, missing


def test_interpreter_kernels_match_tensorflow():
    """Every case, every kernel: the numpy interpreter (constant folding's engine) against tf.raw_ops."""
    from harness_tf import run_cases

    results = run_cases(CASES, tfjs=False)
    assert sum(r.interpreter.status == "pass" for r in results) > 350
    assert not problems(results, ["interpreter"])


@pytest.mark.node
@needs_node
def test_tfjs_matches_tensorflow_on_a_sample_of_every_op(tfjs_runtime):
    from harness_tf import run_cases

    cases = sample()
    assert {c.op for c in cases} == {c.op for c in CASES}
    results = run_cases(cases, isolate=crashes_tfjs)
    ran = {engine: sum(engine in r.tfjs and r.tfjs[engine].status != "refused" for r in results) for engine in TFJS_ENGINES}
    assert ran["cpu"] > 0.9 * len(cases) and ran["wasm"] > 0.85 * len(cases), ran
    exact = {(r.case.key, b) for r in results for b, o in r.exact.items() if o.status == "pass"}
    # the flag makes each of them right (webgl's only in the browser: tf_ops.py --webgl)
    assert {k for k, d in special_value_cases().items() if d.exact and k[1] in TFJS_ENGINES} <= exact
    assert not problems(results, TFJS_ENGINES)


def test_the_comparison_rule_is_tight():
    import numpy as np
    from harness_tf import compare

    ref = np.float32([1000.0, 1.0, np.nan, -np.inf, 0.0])
    assert compare(ref, ref.copy(), tfjs=False) is None
    assert compare(ref, ref + np.float32([0.005, 0, 0, 0, 0]), tfjs=False) is None  # 5e-6 of max|ref|
    assert "differ" in compare(ref, ref + np.float32([0, 0.01, 0, 0, 0]), tfjs=False)  # 1% of a non-tiny element
    assert "NaN" in compare(ref, np.float32([1000, 1, 0, -np.inf, 0]), tfjs=False)
    assert "Inf" in compare(ref, np.float32([1000, 1, np.nan, np.inf, 0]), tfjs=False)
    assert "dtype" in compare(np.int32([1]), np.float32([1]), tfjs=True)
    assert "differ" in compare(np.int32([2**31 - 1]), np.int32([-2**31]), tfjs=True)
    assert "shape" in compare(np.zeros((2, 3)), np.zeros((3, 2)), tfjs=False)
