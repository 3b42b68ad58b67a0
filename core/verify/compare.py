"""Compare TF.js outputs with reference outputs, and report the result.

Tolerance rule (per output, per backend) for floating-point and complex outputs; every element
must meet both::

    |actual - expected|  <=  atol + rtol * max |expected|                          (scale rule)
    |actual - expected|  <=  atol + elem_rtol * |expected|   where |expected| >= floor   (element rule)
    floor = max(elem_floor, 8 * eps(dtype)) * max |expected|
    |actual - expected|  <=  max(mag_rtol, rtol) * max |expected|   where max |expected| > zero floor (magnitude rule)
    zero floor = atol * eps(dtype of expected) / eps(float32)

The scale rule is relative to the largest reference magnitude of *that output*, not to each element
(element-wise relative error explodes next to zeros, which every ReLU network has, and near zeros
float32 accumulation noise is ~1e-6 of max|expected|). Alone it lets a small but meaningful element
be entirely wrong (a softmax class of 1e-5 when the top class is ~1), hence the element rule for
elements that are not tiny. Defaults: ``rtol=1e-4``, ``atol=1e-6``, ``elem_rtol=0.25``,
``elem_floor=1e-5``; ``elem_rtol=None`` (or 0) turns the element rule off, as lossy comparisons
(quantized weights, webgl on float16 textures) do.

Both rules allow ``atol`` everywhere, so an output whose whole reference lies below ``atol`` would pass whatever
TF.js gives (float64 values of ~1e-10 computed as 0 in float32). ``atol`` is float32 rounding noise at unit scale;
the magnitude rule scales it to the precision the reference was computed in (float64: 2^-29 of it) and, for a
reference above that zero floor, forbids an error of the order of the reference's own magnitude. A float32
reference below ``atol`` (sin(pi) = -8.7e-8, a difference of equal values) is ~0 and stays with ``atol``.

Reported errors:

* ``max_abs_err``: ``max |actual - expected|``;
* ``max_rel_err``: ``max_abs_err / max |expected|`` — the quantity ``rtol`` bounds;
* ``max_elem_rel_err``: ``max |actual - expected| / |expected|`` over elements with ``expected != 0``
  (informational; the element rule bounds it only above the floor).

NaN must meet NaN and ±inf the same infinity. Integer, bool and string outputs must match exactly.
Shapes must be equal, and dtypes equal after TF.js's own narrowing (float64 -> float32,
int64 -> int32, complex128 -> complex64), so an int64 reference matches an int32 TF.js output but a
float32 output never matches an integer reference.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VerificationError
from .run import DEFAULT_BACKENDS, DEFAULT_TIMEOUT_S, BackendRun, run_model

#: Allowed max abs err relative to max |reference| of each output.
DEFAULT_RTOL = 1e-4
#: Absolute floor of the allowed error (matters for outputs whose reference is ~0).
DEFAULT_ATOL = 1e-6
#: webgl's bar when it has no float32 render targets (``WEBGL_RENDER_FLOAT32_ENABLED`` false: float16
#: textures, 11-bit significands). With float32 targets (SwiftShader, desktop GPUs) webgl is held to
#: ``rtol`` like cpu and wasm. Measured facts behind both: docs/verify.md.
WEBGL_F16_RTOL = 1e-2
#: Element rule: allowed error relative to each element's own magnitude...
DEFAULT_ELEM_RTOL = 0.25
#: ...for elements with |expected| >= this fraction of max|expected| (and >= 8 eps of the dtype).
DEFAULT_ELEM_FLOOR = 1e-5
#: Magnitude rule: a reference that is not ~0 may not be missed by more than this fraction of its largest magnitude.
MAG_RTOL = 0.5
TOLERANCE_RULE = ("per element: |a-e| <= atol + rtol * max|e|, and |a-e| <= atol + elem_rtol * |e| where "
                  "|e| >= max(elem_floor, 8 eps) * max|e|, and |a-e| <= max(0.5, rtol) * max|e| where "
                  "max|e| > atol * eps(dtype of e) / eps(float32); ints, bools, strings exact")
#: Result of a comparison: within tolerance, outside it, or no outputs because the backend failed.
PASS, FAIL, CRASH = "PASS", "FAIL", "CRASH"


@dataclass
class OutputComparison:
    """One output of one backend against its reference."""

    name: str
    backend: str | None
    passed: bool
    #: The TF.js output compared (differs from ``name`` when matched by ``:0`` suffix or as the only output).
    actual_name: str | None = None
    shape: tuple[int, ...] | None = None
    expected_shape: tuple[int, ...] | None = None
    dtype: str | None = None
    expected_dtype: str | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    max_elem_rel_err: float | None = None
    #: The largest error allowed, ``atol + rtol * max|expected|`` (0 for exact comparisons).
    allowed_abs_err: float | None = None
    #: Elements outside the tolerance (including NaN/inf disagreements), out of ``size``.
    mismatches: int = 0
    #: Of ``mismatches``, those the element rule alone rejects (within the scale rule).
    elem_mismatches: int = 0
    #: The element rule's floor, an absolute magnitude (None: rule off or not numeric).
    elem_floor_abs: float | None = None
    #: Of ``mismatches``, those only the magnitude rule rejects (a reference above its zero floor missed by
    #: more than ``max(MAG_RTOL, rtol) * max|expected|``, within ``atol``).
    mag_mismatches: int = 0
    #: The magnitude rule's zero floor: max|expected| at or below it is ~0 (None: not numeric, or exact).
    zero_floor_abs: float | None = None
    size: int = 0
    exact: bool = False
    problem: str | None = None
    #: The backend failed to load or run the model, so there was nothing to compare.
    crashed: bool = False

    @property
    def status(self) -> str:
        return CRASH if self.crashed else PASS if self.passed else FAIL

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["status"] = self.status
        for key in ("shape", "expected_shape"):
            if doc[key] is not None:
                doc[key] = list(doc[key])
        for key in ("max_abs_err", "max_rel_err", "max_elem_rel_err", "allowed_abs_err", "elem_floor_abs",
                    "zero_floor_abs"):
            value = doc[key]
            if value is not None and not math.isfinite(value):
                doc[key] = str(value)  # JSON has no inf/nan
        return doc


def compare(
    outputs: Mapping[str, Any],
    expected: Mapping[str, Any],
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    backend: str | None = None,
    elem_rtol: float | None = DEFAULT_ELEM_RTOL,
    elem_floor: float = DEFAULT_ELEM_FLOOR,
) -> list[OutputComparison]:
    """Compare ``outputs`` with ``expected``; one :class:`OutputComparison` per expected output, in order.

    Outputs are matched by name, then by name without a trailing ``:0``; when both sides hold
    exactly one output they are paired whatever their names. Outputs without a reference are
    ignored (see :func:`unmatched_outputs`).
    """
    if rtol < 0 or atol < 0 or (elem_rtol or 0) < 0 or elem_floor < 0:
        raise ValueError("rtol, atol, elem_rtol and elem_floor must be >= 0")
    pairing = _pair_names(list(outputs), list(expected))
    results = []
    for name, ref in expected.items():
        actual_name = pairing.get(name)
        if actual_name is None:
            have = ", ".join(map(repr, outputs)) or "none"
            results.append(OutputComparison(name, backend, passed=False, expected_shape=_shape_of(ref),
                                            expected_dtype=_dtype_name(ref),
                                            problem=f"TF.js has no output {name!r} (it has: {have})"))
            continue
        result = _compare_one(np.asarray(outputs[actual_name]), np.asarray(ref), rtol=rtol, atol=atol,
                              elem_rtol=elem_rtol or None, elem_floor=elem_floor)
        result.name, result.backend, result.actual_name = name, backend, actual_name
        results.append(result)
    return results


def unmatched_outputs(outputs: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """Names of ``outputs`` that :func:`compare` does not check against any reference."""
    used = set(_pair_names(list(outputs), list(expected)).values())
    return [name for name in outputs if name not in used]


def _pair_names(actual: list[str], expected: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    strip = lambda n: n[:-2] if n.endswith(":0") else n  # noqa: E731
    stripped = {}
    for name in actual:
        stripped.setdefault(strip(name), name)
    for name in expected:
        if name in actual:
            pairs[name] = name
        elif strip(name) in stripped and stripped[strip(name)] not in pairs.values():
            pairs[name] = stripped[strip(name)]
    if not pairs and len(actual) == 1 and len(expected) == 1:
        pairs[expected[0]] = actual[0]
    return pairs


def _shape_of(value: Any) -> tuple[int, ...]:
    return tuple(np.shape(value))


def _dtype_name(value: Any) -> str:
    return str(np.asarray(value).dtype)


def _tfjs_class(dtype: np.dtype) -> str:
    """The TF.js dtype an array of ``dtype`` becomes (what the converter narrows it to)."""
    kind = dtype.kind
    return {"f": "float32", "i": "int32", "u": "int32", "b": "bool", "c": "complex64",
            "U": "string", "S": "string", "O": "string"}.get(kind, str(dtype))


def _compare_one(actual: np.ndarray, ref: np.ndarray, *, rtol: float, atol: float, elem_rtol: float | None = None,
                 elem_floor: float = DEFAULT_ELEM_FLOOR) -> OutputComparison:
    out = OutputComparison("", None, passed=False, shape=actual.shape, expected_shape=ref.shape,
                           dtype=_tfjs_class(actual.dtype), expected_dtype=str(ref.dtype), size=int(ref.size))
    problems = []
    if actual.shape != ref.shape:
        out.problem = f"shape mismatch: got {list(actual.shape)}, expected {list(ref.shape)}"
        out.mismatches = out.size
        return out
    a_cls, e_cls = _tfjs_class(actual.dtype), _tfjs_class(ref.dtype)
    if a_cls != e_cls:
        note = f" ({e_cls} in TF.js)" if e_cls != str(ref.dtype) else ""
        problems.append(f"dtype mismatch: got {a_cls}, expected {ref.dtype}{note}")

    if "string" in (a_cls, e_cls):
        if a_cls == e_cls:
            a_flat = [_text(v) for v in actual.reshape(-1).tolist()]
            e_flat = [_text(v) for v in ref.reshape(-1).tolist()]
            out.mismatches = sum(x != y for x, y in zip(a_flat, e_flat))
        else:
            out.mismatches = out.size
        out.exact = True
    elif a_cls == "bool" or e_cls == "bool":
        out.exact = True
        diff = actual.astype(bool) != ref.astype(bool) if a_cls == e_cls else np.ones(ref.shape, bool)
        out.mismatches = int(np.count_nonzero(diff))
        out.max_abs_err = 1.0 if out.mismatches else 0.0
    else:
        out.exact = a_cls == e_cls == "int32"
        _numeric(out, actual, ref, rtol=rtol, atol=atol, elem_rtol=elem_rtol, elem_floor=elem_floor)
    if out.mismatches:
        problem = f"{out.mismatches} of {out.size} elements differ"
        if not out.exact:
            problem += f" ({'; '.join(_mismatch_parts(out, elem_rtol, rtol))})"
        problems.append(problem)
    out.passed = not problems
    out.problem = "; ".join(problems) or None
    return out


def _mismatch_parts(out: OutputComparison, elem_rtol: float | None, rtol: float) -> list[str]:
    """What each rule rejected, in words (the magnitude rule's part says why it applied)."""
    parts = []
    scale_bad = out.mismatches - out.elem_mismatches - out.mag_mismatches
    if scale_bad:
        parts.append(f"{scale_bad} by more than {out.allowed_abs_err:.3g}")
    if out.elem_mismatches:
        parts.append(f"{out.elem_mismatches} by more than {elem_rtol:g} x |expected| where |expected| >= "
                     f"{out.elem_floor_abs:.3g}")
    if out.mag_mismatches:
        parts.append(f"{out.mag_mismatches} by more than {max(MAG_RTOL, rtol):g} x max|expected|: the reference is "
                     f"not ~0 (max|expected| above its zero floor {out.zero_floor_abs:.3g}), yet TF.js misses it by "
                     f"its own magnitude")
    return parts


def _numeric(out: OutputComparison, actual: np.ndarray, ref: np.ndarray, *, rtol: float, atol: float,
             elem_rtol: float | None, elem_floor: float) -> None:
    complex_ = actual.dtype.kind == "c" or ref.dtype.kind == "c"
    work = np.complex128 if complex_ else np.float64
    a = actual.astype(work).reshape(-1)
    e = ref.astype(work).reshape(-1)
    if out.exact:  # integers: compare exactly, as int64 (int32 fits)
        diff_i = np.abs(actual.astype(np.int64).reshape(-1) - ref.astype(np.int64).reshape(-1))
        out.mismatches = int(np.count_nonzero(diff_i))
        out.max_abs_err = float(diff_i.max()) if diff_i.size else 0.0
        scale = float(np.abs(e).max()) if e.size else 0.0
        out.max_rel_err = _ratio(out.max_abs_err, scale)
        out.max_elem_rel_err = _elem_rel(np.abs(a - e), np.abs(e))
        out.allowed_abs_err = 0.0
        return
    a_nan, e_nan = np.isnan(a), np.isnan(e)
    a_inf, e_inf = np.isinf(a), np.isinf(e)
    finite = ~(a_nan | e_nan | a_inf | e_inf)
    nan_bad = int(np.count_nonzero(a_nan != e_nan))
    inf_bad = int(np.count_nonzero((a_inf | e_inf) & ~(a_nan | e_nan) & (a != e)))
    diff = np.abs(a[finite] - e[finite])
    e_abs = np.abs(e[np.isfinite(e)])
    scale = float(e_abs.max()) if e_abs.size else 0.0
    allowed = atol + rtol * scale
    max_abs = float(diff.max()) if diff.size else 0.0
    if nan_bad:  # a NaN where a number was expected (or the reverse): the error is undefined
        max_abs = math.nan
    elif inf_bad:
        max_abs = math.inf
    out.max_abs_err = max_abs
    out.max_rel_err = _ratio(max_abs, scale)
    out.max_elem_rel_err = _elem_rel(diff, np.abs(e[finite]))
    out.allowed_abs_err = allowed
    scale_bad = diff > allowed
    elem_bad = np.zeros_like(scale_bad)
    if elem_rtol is not None:
        out.elem_floor_abs = max(elem_floor, 8 * _resolution(ref.dtype)) * scale
        e_fin = np.abs(e[finite])
        elem_bad = (e_fin >= out.elem_floor_abs) & (diff > atol + elem_rtol * e_fin) & ~scale_bad
    out.elem_mismatches = int(np.count_nonzero(elem_bad))
    out.zero_floor_abs = atol * _own_resolution(ref, actual) / float(np.finfo(np.float32).eps)
    mag_bad = np.zeros_like(scale_bad)
    if scale > out.zero_floor_abs:  # not ~0: missing it by its own magnitude is wrong whatever atol allows
        mag_bad = (diff > max(MAG_RTOL, rtol) * scale) & ~scale_bad & ~elem_bad
    out.mag_mismatches = int(np.count_nonzero(mag_bad))
    out.mismatches = int(np.count_nonzero(scale_bad)) + out.elem_mismatches + out.mag_mismatches + nan_bad + inf_bad


def _resolution(dtype: np.dtype) -> float:
    """Machine epsilon of what the reference holds once narrowed as TF.js does (float64 -> float32)."""
    if dtype.kind == "f" and dtype.itemsize < 4:
        return float(np.finfo(dtype).eps)
    return float(np.finfo(np.float32).eps)


def _own_resolution(ref: np.ndarray, actual: np.ndarray) -> float:
    """Machine epsilon of the precision the reference was computed in. A float64 reference whose every value
    float32 holds exactly may be float32 results widened (a final cast, an ``--expected`` file saved as float64),
    whose noise is float32's: it gets float32's floor, unless TF.js gives 0 where it is not (a value lost, not
    noise: float64's ``(x + x·1e-12) - x`` holds few bits, so float32 holds it too)."""
    dtype = ref.dtype
    if dtype.kind == "f" and dtype.itemsize < 8:  # float16, float32: their own
        return float(np.finfo(dtype).eps)
    if dtype.kind not in "fc" or dtype.kind == "c" and dtype.itemsize <= 8:
        return float(np.finfo(np.float32).eps)
    lost = actual.shape == ref.shape and bool(np.any((actual == 0) & (ref != 0) & np.isfinite(ref)))
    return float(np.finfo(np.float32 if _held_by_float32(ref) and not lost else np.float64).eps)


def _held_by_float32(ref: np.ndarray) -> bool:
    """Whether every finite value of ``ref`` (float64 or complex128) is exactly a float32."""
    parts = (ref.real, ref.imag) if ref.dtype.kind == "c" else (ref,)
    for part in parts:
        finite = part[np.isfinite(part)]
        with np.errstate(over="ignore"):
            if not np.array_equal(finite.astype(np.float32).astype(part.dtype), finite):
                return False
    return True


def _ratio(err: float, scale: float) -> float:
    if math.isnan(err):
        return math.nan
    if scale > 0:
        return err / scale
    return 0.0 if err == 0 else math.inf


def _elem_rel(diff: np.ndarray, e_abs: np.ndarray) -> float | None:
    nonzero = e_abs > 0
    if not np.any(nonzero):
        return None
    return float((diff[nonzero] / e_abs[nonzero]).max())


def _text(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)
    return value


# -------------------------------------------------------------------------------------------------
# verify_model / report


@dataclass
class VerifyReport:
    """Every output of every backend against the reference, plus how each backend ran."""

    model_dir: str
    rtol: float
    atol: float
    comparisons: list[OutputComparison]
    runs: dict[str, BackendRun]
    tfjs_version: str | None = None
    #: backend -> TF.js outputs that had no reference.
    unchecked: dict[str, list[str]] = field(default_factory=dict)
    #: For quantized models: the float32 model's check (see :mod:`tfjsconv.verify.source_check`).
    quantization: Any = None
    #: Backends held to their own rtol instead of ``rtol`` (webgl).
    backend_rtol: dict[str, float] = field(default_factory=dict)
    #: The element rule (None: off); backends with a looser own rtol are compared without it.
    elem_rtol: float | None = DEFAULT_ELEM_RTOL
    elem_floor: float = DEFAULT_ELEM_FLOOR
    #: How the inputs were made, when that matters to the reader (``verify SOURCE``: the size unknown axes got).
    input_notes: list[str] = field(default_factory=list)

    @property
    def crashes(self) -> dict[str, BackendRun]:
        """Backends that failed to load or run the model (nothing of theirs was compared)."""
        return {b: run for b, run in self.runs.items() if not run.ok}

    @property
    def status(self) -> str:
        """CRASH when a backend failed to load or run the model, else PASS or FAIL."""
        return CRASH if self.crashes else PASS if self.passed else FAIL

    @property
    def passed(self) -> bool:
        own = bool(self.comparisons) and all(c.passed for c in self.comparisons)
        return own and (self.quantization is None or self.quantization.passed)

    @property
    def failures(self) -> list[OutputComparison]:
        return [c for c in self.comparisons if not c.passed]

    @property
    def backends(self) -> list[str]:
        return list(self.runs)

    @property
    def output_names(self) -> list[str]:
        return list(dict.fromkeys(c.name for c in self.comparisons))

    def raise_if_failed(self) -> None:
        """Raise :class:`VerificationError` (exit code 3) carrying :func:`format_report` when not passed."""
        if not self.passed:
            raise VerificationError(format_report(self))

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "status": self.status,
            "model_dir": self.model_dir,
            "tfjs_version": self.tfjs_version,
            "rtol": self.rtol,
            "atol": self.atol,
            "backend_rtol": dict(self.backend_rtol),
            "elem_rtol": self.elem_rtol,
            "elem_floor": self.elem_floor,
            "tolerance_rule": TOLERANCE_RULE,
            "crashes": {b: {"stage": run.stage, "op": run.failed_op, "error": run.error}
                        for b, run in self.crashes.items()},
            "comparisons": [c.to_json() for c in self.comparisons],
            "backends": {b: run.to_json() for b, run in self.runs.items()},
            "unchecked": {b: list(names) for b, names in self.unchecked.items()},
            "quantization": self.quantization.to_json() if self.quantization is not None else None,
            "input_notes": list(self.input_notes),
        }


def verify_model(
    model_dir: str | Path,
    inputs: Mapping[str, Any],
    expected: Mapping[str, Any],
    *,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    runs: int = 1,
    warmup: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    quiet: bool = False,
    backend_rtol: Mapping[str, float] | None = None,
    browser_session: Any = None,
    browser_flags: Mapping[str, Any] | None = None,
    elem_rtol: float | None = DEFAULT_ELEM_RTOL,
    elem_floor: float = DEFAULT_ELEM_FLOOR,
    check_inputs: bool = True,
) -> VerifyReport:
    """Run the TF.js model on ``inputs`` with each backend and compare with ``expected``.

    ``webgl`` in ``backends`` runs in headless Chromium (:mod:`tfjsconv.serve.browser`; reusing
    ``browser_session`` when given; ``browser_flags`` are TF.js flags for the page), the others in
    Node. ``backend_rtol`` overrides ``rtol`` per backend; by default webgl gets ``rtol`` when it
    rendered to float32 textures and ``max(rtol, WEBGL_F16_RTOL)`` when it fell back to float16.
    ``elem_rtol``/``elem_floor``: the element rule (module docstring); a backend held to a looser
    rtol than ``rtol`` is compared without it.

    A backend that fails to load or run the model yields failing rows (with its error) rather than
    an exception; errors that stop every backend (no Node.js, no model.json, runner crash) raise
    as in :func:`~tfjsconv.verify.run.run_model`. Call :meth:`VerifyReport.raise_if_failed` to turn
    a failed verification into :class:`VerificationError`.

    ``check_inputs``: refuse first (:class:`~tfjsconv.errors.InputError`) inputs the model cannot take as they are
    (names, ranks, fixed sizes, value types: :func:`~tfjsconv.verify.inputs.check_fed_inputs`), as the CLI does;
    off only for a caller that checked them already.
    """
    from ..serve.browser import BROWSER_ONLY_BACKENDS
    from .inputs import check_fed_inputs, input_node_names, input_specs

    if check_inputs:  # TF.js also takes a graph model's input by its node's name (serving_default_x)
        check_fed_inputs(dict(inputs), input_specs(model_dir), model_dir, missing_too=True,
                         aliases=input_node_names(model_dir))
    in_browser = [b for b in backends if b in BROWSER_ONLY_BACKENDS]
    in_node = [b for b in backends if b not in BROWSER_ONLY_BACKENDS]
    runs_by_backend: dict[str, BackendRun] = {}
    tfjs_version = None
    if in_node:
        result = run_model(model_dir, inputs, backends=in_node, runs=runs, warmup=warmup, timeout=timeout,
                           quiet=quiet)
        runs_by_backend.update(result.backends)
        tfjs_version = result.tfjs_version
    if in_browser:
        from ..serve.browser import run_backends_in_browser

        browser_runs, facts = run_backends_in_browser(model_dir, inputs, backends=in_browser, session=browser_session,
                                                      flags=browser_flags)
        runs_by_backend.update(browser_runs)
        tfjs_version = tfjs_version or facts.get("tfjs_version")
    runs_by_backend = {b: runs_by_backend[b] for b in backends}
    if backend_rtol is None:
        webgl = runs_by_backend.get("webgl")
        half = webgl is not None and webgl.info.get("render_float32") is False
        own_rtol = {"webgl": max(rtol, WEBGL_F16_RTOL)} if half else {}
    else:
        own_rtol = {b: r for b, r in backend_rtol.items() if b in runs_by_backend}
    comparisons: list[OutputComparison] = []
    unchecked: dict[str, list[str]] = {}
    for backend, run in runs_by_backend.items():
        if not run.ok:
            for name, ref in expected.items():
                comparisons.append(OutputComparison(name, backend, passed=False, expected_shape=_shape_of(ref),
                                                    expected_dtype=_dtype_name(ref), crashed=True,
                                                    problem=crash_text(run)))
            continue
        b_rtol = own_rtol.get(backend, rtol)
        comparisons.extend(compare(run.outputs, expected, rtol=b_rtol, atol=atol, backend=backend,
                                   elem_rtol=elem_rtol if b_rtol <= rtol else None, elem_floor=elem_floor))
        extra = unmatched_outputs(run.outputs, expected)
        if extra:
            unchecked[backend] = extra
    return VerifyReport(str(Path(model_dir)), rtol, atol, comparisons, runs_by_backend,
                        tfjs_version=tfjs_version, unchecked=unchecked, backend_rtol=own_rtol,
                        elem_rtol=elem_rtol or None, elem_floor=elem_floor)


_STAGE_TEXT = {"init": "failed to start", "load": "failed to load the model", "run": "failed to run the model"}


def crash_text(run: BackendRun) -> str:
    """One line: which backend failed, at which stage, on which op, with TF.js's own message."""
    what = _STAGE_TEXT.get(run.stage or "", "failed")
    from .crash import known_fault

    op = run.failed_op
    fault = known_fault(run.error or "", run.backend)
    return (f"the {run.backend} backend {what}" + (f" (op {op})" if op else "") + f": {run.error}"
            + (f" ({fault})" if fault else ""))


def _fmt_err(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.2e}"


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def _table_order(report: VerifyReport) -> list[OutputComparison]:
    """Comparisons grouped by output (in reference order), then by backend (in run order)."""
    outputs = {name: i for i, name in enumerate(report.output_names)}
    backends = {name: i for i, name in enumerate(report.runs)}
    return sorted(report.comparisons, key=lambda c: (outputs.get(c.name, 0), backends.get(c.backend or "", 0)))


def format_report(report: VerifyReport) -> str:
    """A plain-text table (one row per output and backend), notes, timings and a verdict line."""
    header = ("output", "backend", "shape", "max abs err", "max rel err", "result")
    rows = []
    for c in _table_order(report):
        shape = c.shape if c.shape is not None else c.expected_shape
        rows.append((c.name, c.backend or "-", "-" if shape is None else str(list(shape)),
                     _fmt_err(c.max_abs_err), _fmt_err(c.max_rel_err), c.status))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    numeric = {3, 4}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.rjust(w) if i in numeric else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(cells, widths))).rstrip()

    version = f"TF.js {report.tfjs_version}" if report.tfjs_version else "TF.js"
    lines = [f"{version} verification of {report.model_dir}", line(header), line(["-" * w for w in widths])]
    lines += [line(r) for r in rows]

    notes = []
    for c in _table_order(report):
        if c.problem:
            notes.append(f"  {c.name} [{c.backend or '-'}]: {c.problem}")
        elif c.actual_name and c.actual_name != c.name:
            notes.append(f"  {c.name} [{c.backend or '-'}]: compared with TF.js output {c.actual_name!r}")
    for backend, names in report.unchecked.items():
        notes.append(f"  [{backend}] outputs without a reference, not compared: {', '.join(names)}")
    notes += [f"  {note}" for note in report.input_notes]
    if notes:
        lines += ["", "notes:"] + notes

    timing = []
    for backend, run in report.runs.items():
        if run.ok:
            text = f"  {backend}: load {_fmt_ms(run.load_ms)}, first run {_fmt_ms(run.first_ms)}"
            if len(run.times_ms) > 1:
                text += f", median {_fmt_ms(run.median_ms)} over {len(run.times_ms)} runs"
            if "render_float32" in run.info:  # webgl: what its numerics rest on
                text += f", float{32 if run.info['render_float32'] else 16} textures"
            timing.append(text + (f" ({run.mode})" if run.mode else ""))
    if timing:
        lines += ["", "timing:"] + timing
    if report.quantization is not None:
        lines += [""] + report.quantization.format_lines()

    n_out, n_back = len(report.output_names), len(report.runs)
    own = "".join(f", {b} rtol={r:g}" for b, r in report.backend_rtol.items())
    tol = f"rtol={report.rtol:g}{own} atol={report.atol:g} (max abs err <= atol + rtol x max|reference|)"
    if report.elem_rtol:
        tol += f", elem_rtol={report.elem_rtol:g} where |reference| >= {report.elem_floor:g} x max|reference|"
    crashes = report.crashes
    if crashes:
        said = "; ".join(crash_text(run) for run in crashes.values())
        others = [c for c in report.failures if not c.crashed]
        verdict = f"CRASH: {said}" + (f"; and {len(others)} check(s) on other backends differ" if others else "")
    elif report.quantization is not None and not report.quantization.passed and all(c.passed for c in report.comparisons):
        verdict = f"FAIL: {report.quantization.failure}"
    elif report.passed:
        verdict = (f"PASS: {n_out} output{'s' if n_out != 1 else ''} × {n_back} backend{'s' if n_back != 1 else ''} "
                   f"within {tol}")
        if report.quantization is not None:
            verdict += "; the float32 model matches the source within the float32 tolerance"
    elif not report.comparisons:
        verdict = "FAIL: nothing was compared (no reference outputs)"
    else:
        failed = report.failures
        which = ", ".join(f"{c.name} [{c.backend}]" for c in failed[:4]) + (", …" if len(failed) > 4 else "")
        verdict = f"FAIL: {len(failed)} of {len(report.comparisons)} checks failed ({which}); tolerance {tol}"
    lines += ["", verdict]
    return "\n".join(lines)
