"""Run a converted TF.js model in real TF.js (Node.js, pure ``@tensorflow/tfjs`` 4.22) from Python.

:func:`run_model` writes the inputs as raw files into a temporary folder, starts
``node runner.mjs REQUEST.json`` (see ``tfjsconv/verify/node/runner.mjs`` for the protocol) and
reads the outputs back as numpy arrays, one set per backend. A backend that fails is reported in
its :class:`BackendRun` (``ok=False``, ``error``) and does not hide the others.

Input arrays are converted to what TF.js tensors can hold: floats -> float32, integers -> int32
(range-checked), bool, complex -> complex64, str/bytes -> string. Outputs come back as float32,
int32, bool, complex64 or object arrays of ``str``.
"""
from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, RuntimeMissingError, TfjsconvError, UsageError
from .runtime import RUNNER_SCRIPT, ensure_runtime, find_node

#: Backends of pure @tensorflow/tfjs that work under Node.js.
DEFAULT_BACKENDS = ("cpu", "wasm")
#: Ways to call a graph model (``run_model(call_style=...)``); layers models are always ``predict``ed.
CALL_STYLES = ("execute", "executeAsync", "predict")
#: Default limit for one runner invocation (all backends), in seconds.
DEFAULT_TIMEOUT_S = 600.0

_RAW_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("u1"), "complex64": np.dtype("<c8")}
_NATIVE_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "complex64": np.complex64}
_INT32 = np.iinfo(np.int32)


class TfjsRunError(TfjsconvError):
    """The TF.js runner itself failed (crashed, timed out, or produced no result) — not one backend."""


@dataclass
class BackendRun:
    """What one TF.js backend did with the model."""

    backend: str
    ok: bool
    error: str | None = None
    #: Output name -> array, in the model's output order.
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    load_ms: float | None = None
    first_ms: float | None = None
    times_ms: list[float] = field(default_factory=list)
    #: The warm-up executions' times (the first one included), never part of ``times_ms``.
    warmup_ms: list[float] = field(default_factory=list)
    #: "execute", "executeAsync" (graph models) or "predict" (layers models).
    mode: str | None = None
    #: Backend facts from the runner (wasm: ``simd``, ``threads``).
    info: dict[str, Any] = field(default_factory=dict)
    #: Where a failed backend stopped: "init" (the backend), "load" (the model) or "run".
    stage: str | None = None

    @property
    def failed_op(self) -> str | None:
        """The op (kernel) TF.js's error names, when the backend failed and the message names one."""
        from .crash import op_named_in

        return None if self.ok else op_named_in(self.error or "")

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.times_ms) if self.times_ms else None

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "ok": self.ok,
            "error": self.error,
            "stage": self.stage,
            "failed_op": self.failed_op,
            "mode": self.mode,
            "load_ms": self.load_ms,
            "first_ms": self.first_ms,
            "times_ms": list(self.times_ms),
            "info": dict(self.info),
            "outputs": {name: {"dtype": _tfjs_dtype_name(a), "shape": list(a.shape)} for name, a in self.outputs.items()},
        }


@dataclass
class RunResult:
    """The outcome of :func:`run_model`: one :class:`BackendRun` per requested backend, in order."""

    backends: dict[str, BackendRun]
    tfjs_version: str | None = None
    #: Where it ran: Node.js version, platform, CPU.
    environment: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, backend: str) -> BackendRun:
        return self.backends[backend]

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.backends.values())

    def outputs(self, backend: str | None = None) -> dict[str, np.ndarray]:
        """The outputs of ``backend`` (default: the first backend); raises when that backend failed."""
        run = self.backends[backend] if backend is not None else next(iter(self.backends.values()))
        if not run.ok:
            raise TfjsRunError(f"TF.js ({run.backend} backend) failed to run the model: {run.error}")
        return run.outputs

    def to_json(self) -> dict[str, Any]:
        return {"tfjs_version": self.tfjs_version, "backends": {b: r.to_json() for b, r in self.backends.items()}}


def run_model(
    model_dir: str | Path,
    inputs: Mapping[str, Any],
    *,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    runs: int = 1,
    warmup: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    output_names: Sequence[str] | None = None,
    quiet: bool = False,
    write_outputs: bool = True,
    call_style: str | None = None,
    layer_outputs: Sequence[str] | None = None,
) -> RunResult:
    """Run the TF.js model in ``model_dir`` on ``inputs`` with each of ``backends``.

    ``inputs`` maps model input names (graph models: signature keys or node names; layers models:
    input layer names, any name for a single input) to arrays. ``runs``/``warmup``: the model
    executes ``max(1, warmup + runs)`` times per backend; ``first_ms`` times the first execution and
    ``times_ms`` the last ``runs``; the outputs are those of the first execution. ``output_names``
    overrides which graph-model outputs are fetched. ``quiet`` silences the one-time install message.
    ``write_outputs=False`` returns timings only (no outputs). ``call_style`` forces how a graph
    model is called: ``"execute"``, ``"executeAsync"`` or ``"predict"`` (default: ``execute``, falling
    back to ``executeAsync`` when TF.js asks for it). ``layer_outputs`` (layers models): return these
    layers' outputs instead, through a sub-model (``verify --trace``).

    Raises :class:`InputError` (no model.json), :class:`UsageError` (bad input arrays),
    :class:`RuntimeMissingError` (no Node.js/npm, or the runtime cannot be installed) and
    :class:`TfjsRunError` (the runner crashed or timed out).
    """
    model_dir = Path(model_dir).expanduser().resolve()
    if not (model_dir / "model.json").is_file():
        what = "does not exist" if not model_dir.exists() else "has no model.json"
        raise InputError(f"{model_dir} {what}; expected a TF.js model folder (model.json + weight shards).")
    from ..weights.reader import read_model_json

    read_model_json(model_dir)  # shard paths confined to the folder before Node reads any of them
    if not backends:
        raise UsageError("no TF.js backends given; use e.g. backends=('cpu', 'wasm')")
    if runs < 0 or warmup < 0:
        raise UsageError("runs and warmup must be >= 0")
    if call_style not in (None, *CALL_STYLES):
        raise UsageError(f"call_style must be one of {', '.join(CALL_STYLES)}, got {call_style!r}")
    converted = {str(name): to_tfjs_array(name, value) for name, value in inputs.items()}

    node = find_node()
    runtime = ensure_runtime(quiet=quiet)
    workdir = Path(tempfile.mkdtemp(prefix="tfjsconv-run-"))
    try:
        specs = []
        for i, (name, array) in enumerate(converted.items()):
            dtype = _tfjs_dtype_name(array)
            file = workdir / f"input{i}.{'json' if dtype == 'string' else 'bin'}"
            _write_array(file, array, dtype)
            specs.append({"name": name, "dtype": dtype, "shape": list(array.shape), "file": str(file)})
        request: dict[str, Any] = {
            "model_dir": str(model_dir),
            "backends": list(backends),
            "inputs": specs,
            "output_dir": str(workdir / "outputs"),
            "runs": int(runs),
            "warmup": int(warmup),
            "runtime_dir": str(runtime),
        }
        if output_names:
            request["output_names"] = list(output_names)
        if call_style is not None:
            request["call_style"] = call_style
        if layer_outputs:
            request["layer_outputs"] = list(layer_outputs)
        if not write_outputs:  # benchmarks need timings only
            request["write_outputs"] = False
        request_file = workdir / "request.json"
        request_file.write_text(json.dumps(request), encoding="utf-8")
        doc = _call_runner(node, request_file, timeout)
        return _parse_result(doc, list(backends))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def to_tfjs_array(name: str, value: Any) -> np.ndarray:
    """``value`` as an array TF.js can hold: float32, int32, bool, complex64 or an object array of str.

    Its shape is kept exactly, scalars included (``np.ascontiguousarray`` would make a ``()`` input ``[1]``).
    """
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    kind = array.dtype.kind
    if kind == "f":
        return np.asarray(array, dtype="<f4", order="C")
    if kind in "iu":
        if array.dtype.itemsize >= 4 and array.size:
            lo, hi = int(array.min()), int(array.max())
            if lo < _INT32.min or hi > _INT32.max:
                raise UsageError(f"input {name!r} has values in [{lo}, {hi}], outside TF.js int32 range",
                                 hint="TF.js has no int64; rescale or clip the values")
        return np.asarray(array, dtype="<i4", order="C")
    if kind == "b":
        return np.asarray(array, dtype=bool, order="C")
    if kind == "c":
        return np.asarray(array, dtype="<c8", order="C")
    if kind in "USO":
        flat = [_as_text(name, v) for v in array.reshape(-1).tolist()]
        return np.array(flat, dtype=object).reshape(array.shape)
    raise UsageError(f"input {name!r} has dtype {array.dtype}, which TF.js cannot take",
                     hint="use float32, int32, bool, complex64 or strings")


def _as_text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"input {name!r} holds bytes that are not UTF-8; TF.js strings are passed as text") from None
    raise UsageError(f"input {name!r} is an object array holding {type(value).__name__}, not str/bytes")


def _tfjs_dtype_name(array: np.ndarray) -> str:
    kind = array.dtype.kind
    if kind in "USO":
        return "string"
    if kind == "b":
        return "bool"
    if kind == "c":
        return "complex64"
    if kind in "iu":
        return "int32"
    return "float32"


def _write_array(file: Path, array: np.ndarray, dtype: str) -> None:
    if dtype == "string":
        file.write_text(json.dumps(array.reshape(-1).tolist()), encoding="utf-8")
    else:
        file.write_bytes(np.ascontiguousarray(array, dtype=_RAW_DTYPES[dtype]).tobytes())


def _read_array(file: Path, dtype: str, shape: list[int]) -> np.ndarray:
    if dtype == "string":
        values = json.loads(file.read_text(encoding="utf-8"))
        return np.array(values, dtype=object).reshape(shape)
    if dtype not in _RAW_DTYPES:
        raise TfjsRunError(f"the TF.js runner returned an output of unknown dtype {dtype!r}")
    array = np.frombuffer(file.read_bytes(), dtype=_RAW_DTYPES[dtype])
    if array.size != math.prod(shape):
        raise TfjsRunError(f"{file.name}: {array.size} elements, expected {math.prod(shape)} for shape {shape}")
    return array.reshape(shape).astype(_NATIVE_DTYPES[dtype])  # a writable, native-order copy


def _call_runner(node: str, request_file: Path, timeout: float | None) -> dict[str, Any]:
    cmd = [node, str(RUNNER_SCRIPT), str(request_file)]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TfjsRunError(f"TF.js did not finish running the model within {timeout:g} s.",
                           hint="pass a larger timeout, fewer runs, or fewer backends") from exc
    except OSError as exc:
        raise RuntimeMissingError(f"could not start {node}: {exc}") from exc
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    stderr_tail = "\n".join("    " + line for line in proc.stderr.strip().splitlines()[-10:])
    try:
        doc = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        raise TfjsRunError(f"the TF.js runner exited with code {proc.returncode} without a result"
                           + (f"; its stderr ends with:\n{stderr_tail}" if stderr_tail else "."))
    if "error" in doc and "backends" not in doc:
        kind = doc.get("kind")
        message = str(doc["error"])
        if kind == "model":
            raise InputError(f"TF.js cannot load the model: {message}")
        if kind == "runtime":
            raise RuntimeMissingError(message, hint="delete the runtime folder to reinstall it")
        raise TfjsRunError(f"the TF.js runner failed: {message}")
    return doc


def _parse_result(doc: dict[str, Any], backends: list[str]) -> RunResult:
    runs: dict[str, BackendRun] = {}
    entries = doc.get("backends") or {}
    for backend in backends:
        entry = entries.get(backend)
        if entry is None:
            runs[backend] = BackendRun(backend, ok=False, error="the runner reported nothing for this backend")
            continue
        run = BackendRun(
            backend,
            ok=bool(entry.get("ok")),
            error=entry.get("error"),
            load_ms=entry.get("load_ms"),
            first_ms=entry.get("first_ms"),
            times_ms=list(entry.get("times_ms") or []),
            warmup_ms=list(entry.get("warmup_ms") or []),
            mode=entry.get("mode"),
            info=dict(entry.get("info") or {}),
            stage=None if entry.get("ok") else entry.get("stage"),
        )
        if run.ok:
            for out in entry.get("outputs") or []:
                name = _unique_name(out["name"], run.outputs)
                run.outputs[name] = _read_array(Path(out["file"]), out["dtype"], list(out["shape"]))
        runs[backend] = run
    return RunResult(runs, tfjs_version=doc.get("tfjs_version"), environment=dict(doc.get("environment") or {}))


def _unique_name(name: str, taken: Mapping[str, Any]) -> str:
    """``name``, or ``name_1``, ``name_2``... when taken: a TF.js layers model names each output by its layer,
    so a layer with several outputs repeats its name; tf_keras (and the Keras lowering) number repeats so."""
    proposal, count = name, 1
    while proposal in taken:
        proposal, count = f"{name}_{count}", count + 1
    return proposal
