"""tfjsconv + real TF.js as an ONNX backend, and the batch machinery the conformance sweep uses.

* :class:`TfjsBackend` / :class:`TfjsBackendRep` implement ``onnx.backend.base.Backend``: ``prepare``
  converts the model with ``tfjsconv.convert`` and ``run`` executes it in TF.js under Node
  (``tfjsconv.verify.run_model``; one Node process per call, so one backend at a time).
* :func:`evaluate_cases` does the same for many node tests at once: every model is converted in this
  process, then all of them run in one Node process per TF.js backend (``batch_runner.mjs``), and
  each case is classified (:data:`CLASSES`) against the expected outputs shipped with the test
  (computed by ONNX's reference code) and against onnxruntime on the same inputs.

Classification rule — a case is **inexpressible** (and left out of pass rates) when TF.js cannot hold
its interface: an input or output that is a sequence, map or optional; a string tensor (TF.js has
string tensors but none of ONNX's string ops); an element type TF.js has no counterpart for (float8,
int4/uint4, float4, int2/uint2); or integer data (inputs or expected outputs, any integer width)
outside int32, since TF.js holds every integer as int32 — int64 data that fits is fine and must match
exactly. float64/float16/bfloat16 are narrowed to float32 and compared with the tolerance below
(float16/bfloat16 references: ``rtol`` raised to 2 eps of their type, as they were computed in it).

Otherwise: **refused** (``tfjsconv.convert`` raised a :class:`tfjsconv.errors.TfjsconvError` — a
clean one-line refusal), **converter bug** (it raised anything else), **tfjs error** (TF.js failed to
load or run the model, or did not finish), **wrong** (ran, but an output differs from the reference:
``tfjsconv.verify.compare`` with rtol 1e-4 × max|ref| and the per-element rule; ints/bools exact;
NaN/inf positions must match; shapes must be equal), or **pass**.
"""
from __future__ import annotations

import json
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PASS, WRONG, TFJS_ERROR, REFUSED, CONVERTER_BUG, INEXPRESSIBLE = (
    "pass", "wrong", "tfjs error", "refused", "converter bug", "inexpressible")
CLASSES = (PASS, WRONG, TFJS_ERROR, REFUSED, CONVERTER_BUG, INEXPRESSIBLE)
#: onnxruntime outcomes on the same case.
ORT_PASS, ORT_WRONG, ORT_ERROR = "pass", "wrong", "error"

BATCH_RUNNER = Path(__file__).resolve().parent / "batch_runner.mjs"
#: A Node process that prints nothing for this long is stuck in the current job.
JOB_TIMEOUT_S = 60.0
RTOL = 1e-4

_NO_TFJS_TYPE = {"FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "FLOAT8E8M0", "UINT4", "INT4",
                 "FLOAT4E2M1", "UINT2", "INT2"}
_I32 = np.iinfo(np.int32)


# ---------------------------------------------------------------------------------------------
# The onnx.backend API


def _backend_base():
    from onnx.backend.base import Backend, BackendRep

    return Backend, BackendRep


Backend, BackendRep = _backend_base()


class TfjsBackendRep(BackendRep):
    """A model converted by tfjsconv into a temporary folder, run in TF.js on one backend."""

    def __init__(self, model_dir: Path, input_names: Sequence[str], output_names: Sequence[str], tfjs_backend: str):
        self.model_dir = model_dir
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.tfjs_backend = tfjs_backend

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        from tfjsconv.verify import run_model

        if isinstance(inputs, np.ndarray) or not isinstance(inputs, (Mapping, list, tuple)):
            inputs = [inputs]
        named = dict(inputs) if isinstance(inputs, Mapping) else dict(zip(self.input_names, inputs))
        result = run_model(self.model_dir, named, backends=[self.tfjs_backend], quiet=True)
        outputs = result.outputs(self.tfjs_backend)
        return tuple(outputs[name] for name in self.output_names)

    def __del__(self) -> None:
        shutil.rmtree(self.model_dir.parent, ignore_errors=True)


class TfjsBackend(Backend):
    """ONNX backend: tfjsconv converts, TF.js (``cpu`` by default, or ``wasm``) runs.

    ``prepare(model, device="CPU", tfjs_backend="wasm")`` picks the TF.js backend. Conversion
    refusals propagate as :class:`tfjsconv.errors.TfjsconvError`.
    """

    @classmethod
    def prepare(cls, model: Any, device: str = "CPU", tfjs_backend: str = "cpu", **kwargs: Any) -> TfjsBackendRep:
        import onnx
        import tfjsconv

        proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
        work = Path(tempfile.mkdtemp(prefix="tfjsconv-onnx-backend-"))
        source = work / "model.onnx"
        source.write_bytes(proto.SerializeToString())
        tfjsconv.convert(str(source), work / "tfjs", input_format="onnx", **kwargs)
        initializers = {t.name for t in proto.graph.initializer}
        inputs = [i.name for i in proto.graph.input if i.name not in initializers]
        return TfjsBackendRep(work / "tfjs", inputs, [o.name for o in proto.graph.output], tfjs_backend)

    @classmethod
    def run_model(cls, model: Any, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"


# ---------------------------------------------------------------------------------------------
# Batch evaluation


@dataclass
class CaseResult:
    """Everything the sweep learnt about one node test."""

    name: str
    op_type: str
    expanded: bool = False
    #: Why TF.js cannot express the case (None: expressible).
    inexpressible: str | None = None
    #: Conversion: "ok", REFUSED or CONVERTER_BUG, with the message's first line.
    convert: str = "ok"
    convert_error: str | None = None
    #: TF.js backend -> class (one of CLASSES) and a short reason.
    tfjs: dict[str, str] = field(default_factory=dict)
    tfjs_reason: dict[str, str] = field(default_factory=dict)
    #: The class before an inexpressible case is set apart (a "wrong" here is still a silent-wrong model).
    tfjs_raw: dict[str, str] = field(default_factory=dict)
    ort: str | None = None
    ort_reason: str | None = None
    #: For wrong cases: TF.js against onnxruntime's outputs ("agrees with onnxruntime" or the difference).
    tfjs_vs_ort: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Compact: empty fields, reasons of passing backends and an unchanged ``tfjs_raw`` left out."""
        doc = {k: v for k, v in self.__dict__.items() if v not in (None, "", {}, False)}
        doc["tfjs_reason"] = {b: r for b, r in self.tfjs_reason.items() if r and self.tfjs.get(b) != PASS}
        if self.tfjs_raw == self.tfjs:
            doc.pop("tfjs_raw", None)
        if len(set(doc["tfjs_reason"].values())) == 1 and len(doc["tfjs_reason"]) == len(self.tfjs) > 1:
            doc["tfjs_reason"] = {"*": next(iter(doc["tfjs_reason"].values()))}
        if not doc["tfjs_reason"]:
            del doc["tfjs_reason"]
        if self.convert_error and doc.get("tfjs_reason", {}).get("*") == self.convert_error:
            del doc["tfjs_reason"]
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "CaseResult":
        doc = dict(doc)
        reasons = doc.pop("tfjs_reason", None)
        tfjs = doc.get("tfjs", {})
        if reasons is None:
            reasons = {b: (doc.get("convert_error") or "") for b in tfjs if tfjs[b] != PASS}
        elif "*" in reasons:
            reasons = {b: reasons["*"] for b in tfjs}
        result = cls(**doc)
        result.tfjs_reason = {b: reasons.get(b, "") for b in tfjs}
        if not result.tfjs_raw:
            result.tfjs_raw = dict(tfjs)
        return result


def first_line(text: str, limit: int = 160) -> str:
    """The message's first line (with the next one when the first ends in ':', as lists do)."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    if line.endswith(":") and len(lines) > 1:
        line = f"{line} {lines[1]}"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def inexpressible_reason(model: Any, inputs: Sequence[tuple[str, Any]], outputs: Sequence[tuple[str, Any]]) -> str | None:
    """Why TF.js cannot hold this case's inputs or outputs (module docstring), or None."""
    from onnx import TensorProto

    for info in list(model.graph.input) + list(model.graph.output):
        kind = info.type.WhichOneof("value")
        if kind != "tensor_type":
            return f"{kind.replace('_type', '')} value ({info.name})"
        elem = TensorProto.DataType.Name(info.type.tensor_type.elem_type)
        if elem == "STRING":
            return f"string tensor ({info.name})"
        if elem in _NO_TFJS_TYPE:
            return f"{elem.lower()} tensor ({info.name}): TF.js has no such type"
    for name, value in list(inputs) + list(outputs):
        if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.size:
            lo, hi = int(value.min()), int(value.max())
            if lo < _I32.min or hi > _I32.max:
                return f"{value.dtype} values outside int32 ({name}: [{lo}, {hi}])"
    return None


def rtol_for(ref: np.ndarray) -> float:
    if ref.dtype.kind == "f" and ref.dtype.itemsize < 4:
        return max(RTOL, 2 * float(np.finfo(ref.dtype).eps))
    if ref.dtype.name == "bfloat16" or str(ref.dtype).startswith("bfloat16"):
        return max(RTOL, 2 * 2.0 ** -7)
    return RTOL


def compare_outputs(actual: Mapping[str, np.ndarray], expected: Sequence[tuple[str, np.ndarray]]) -> str | None:
    """None when every output matches; else a short reason (first failing output, max error)."""
    from tfjsconv.verify.compare import compare

    for name, ref in expected:
        ref = np.asarray(ref)
        if ref.dtype.kind == "V" or "bfloat16" in str(ref.dtype):
            ref = ref.astype(np.float32)
        [result] = compare(actual, {name: ref}, rtol=rtol_for(ref))
        if not result.passed:
            err = ""
            if result.max_abs_err is not None and not result.exact:
                err = f", max abs err {result.max_abs_err:.3g} (max rel {result.max_rel_err:.3g})"
            return first_line(f"{name}: {result.problem}{err}", 240)
    return None


def run_onnxruntime(model_path: Path, inputs: Sequence[tuple[str, Any]], expected: Sequence[tuple[str, Any]]
                    ) -> tuple[str, str | None, dict[str, Any] | None]:
    """onnxruntime's outcome on the case: (ORT_PASS | ORT_WRONG | ORT_ERROR, reason, its outputs)."""
    import onnxruntime as ort

    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        got = session.run(None, {name: value for name, value in inputs})
    except Exception as e:  # onnxruntime raises its own exception types
        return ORT_ERROR, first_line(str(e).replace(str(model_path), "model.onnx")), None
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, got))
    try:
        reason = _compare_any(outputs, expected)
    except Exception as e:
        return ORT_ERROR, first_line(f"cannot compare: {e}"), outputs
    return (ORT_PASS, None, outputs) if reason is None else (ORT_WRONG, reason, outputs)


def _compare_any(actual: Mapping[str, Any], expected: Sequence[tuple[str, Any]]) -> str | None:
    """Like :func:`compare_outputs`, for values that may be sequences or None (onnxruntime's side)."""
    for name, ref in expected:
        got = actual.get(name)
        if isinstance(ref, list) or isinstance(got, list):
            if not isinstance(ref, list) or not isinstance(got, list) or len(ref) != len(got):
                return f"{name}: sequence length/kind differs"
            for k, (g, r) in enumerate(zip(got, ref)):
                reason = compare_outputs({f"{name}[{k}]": np.asarray(g)}, [(f"{name}[{k}]", np.asarray(r))])
                if reason:
                    return reason
        elif ref is None or got is None:
            if (ref is None) != (got is None):
                return f"{name}: optional presence differs"
        elif isinstance(ref, dict):
            return None if ref == got else f"{name}: map differs"
        else:
            reason = compare_outputs({name: np.asarray(got)}, [(name, np.asarray(ref))])
            if reason:
                return reason
    return None


def constant_variant(model: Any, inputs: Sequence[tuple[str, Any]]) -> tuple[Any, list[tuple[str, Any]]] | None:
    """The case as real models look: every graph input but the first baked in as an initializer.

    Node tests feed weights, axes, pads, shapes, K... as graph inputs, which tfjsconv refuses where
    TF.js needs them at conversion time. Returns ``(model, runtime_inputs)``, or None when the case
    has fewer than two tensor inputs (nothing to bake).
    """
    import onnx
    from onnx import numpy_helper

    if len(inputs) < 2 or not all(isinstance(v, np.ndarray) for _, v in inputs[1:]):
        return None
    variant = onnx.ModelProto()
    variant.CopyFrom(model)
    baked = {name for name, _ in inputs[1:]}
    kept = [i for i in variant.graph.input if i.name not in baked]
    del variant.graph.input[:]
    variant.graph.input.extend(kept)
    for name, value in inputs[1:]:
        variant.graph.initializer.append(numpy_helper.from_array(value, name))
    if variant.ir_version < 4:  # initializers that are not graph inputs need IR >= 4
        variant.ir_version = 4
    return variant, list(inputs[:1])


def convert_case(model_path: Path, out_dir: Path) -> tuple[str, str | None]:
    """Convert one case: ("ok", None), (REFUSED, first line) or (CONVERTER_BUG, first line)."""
    import tfjsconv
    from tfjsconv.errors import TfjsconvError

    try:
        tfjsconv.convert(str(model_path), out_dir, input_format="onnx", overwrite=True)
    except TfjsconvError as e:
        return REFUSED, first_line(str(e).replace(str(model_path), "model.onnx"))
    except Exception as e:  # anything else is a tfjsconv bug
        return CONVERTER_BUG, first_line(f"{type(e).__name__}: {e}".replace(str(model_path), "model.onnx"))
    return "ok", None


@dataclass
class _Job:
    id: str
    model_dir: Path
    output_dir: Path
    inputs: list[dict[str, Any]]


def write_job(job_id: str, model_dir: Path, work: Path, inputs: Sequence[tuple[str, Any]]) -> _Job:
    """Write one case's inputs as the batch runner's raw files (range-checked TF.js dtypes)."""
    from tfjsconv.verify.run import _tfjs_dtype_name, _write_array, to_tfjs_array

    folder = work / job_id
    folder.mkdir(parents=True, exist_ok=True)
    specs = []
    for i, (name, value) in enumerate(inputs):
        # Keep 0-d inputs 0-d (to_tfjs_array once returned them as [1], which TF.js rejects).
        array = to_tfjs_array(name, value).reshape(np.shape(value))
        dtype = _tfjs_dtype_name(array)
        file = folder / f"input{i}.{'json' if dtype == 'string' else 'bin'}"
        _write_array(file, array, dtype)
        specs.append({"name": name, "dtype": dtype, "shape": list(array.shape), "file": str(file)})
    return _Job(job_id, model_dir, folder / "outputs", specs)


def run_jobs(jobs: Sequence[_Job], backend: str, work: Path, *, job_timeout: float = JOB_TIMEOUT_S,
             chunk: int = 150) -> dict[str, dict[str, Any]]:
    """Run every job on one TF.js backend in as few Node processes as possible.

    A job during which the process dies or goes silent for ``job_timeout`` seconds is reported as
    failed (stage "crash"/"timeout"), and the rest continue in a fresh process.
    """
    from tfjsconv.verify.runtime import ensure_runtime, find_node

    node, runtime = find_node(), ensure_runtime(quiet=True)
    results: dict[str, dict[str, Any]] = {}
    remaining = list(jobs)
    while remaining:
        batch, remaining = remaining[:chunk], remaining[chunk:]
        while batch:
            done = _run_process(node, runtime, batch, backend, work, job_timeout)
            results.update(done["results"])
            started = done.get("stuck")
            if started is not None:
                results[started] = {"ok": False, "stage": done["why"], "error": done["error"]}
            batch = [j for j in batch if j.id not in results]
            if done.get("fatal") and batch:
                for j in batch:
                    results[j.id] = {"ok": False, "stage": "init", "error": done["fatal"]}
                batch = []
    return results


def _run_process(node: str, runtime: Path, jobs: Sequence[_Job], backend: str, work: Path,
                 job_timeout: float) -> dict[str, Any]:
    request = {
        "runtime_dir": str(runtime),
        "backends": [backend],
        "jobs": [{"id": j.id, "model_dir": str(j.model_dir), "output_dir": str(j.output_dir), "inputs": j.inputs}
                 for j in jobs],
    }
    request_file = work / f"request-{backend}-{jobs[0].id}.json"
    request_file.write_text(json.dumps(request), encoding="utf-8")
    stderr_file = work / f"stderr-{backend}.log"
    with open(stderr_file, "ab") as err:
        proc = subprocess.Popen([node, str(BATCH_RUNNER), str(request_file)], stdout=subprocess.PIPE,
                                stderr=err, text=True, bufsize=1)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    results: dict[str, dict[str, Any]] = {}
    current: str | None = None
    outcome: dict[str, Any] = {"results": results}
    while True:
        try:
            line = lines.get(timeout=job_timeout)
        except queue.Empty:
            proc.kill()
            proc.wait()
            if current is not None:
                outcome.update(stuck=current, why="timeout", error=f"no result within {job_timeout:.0f} s")
            else:
                outcome["fatal"] = "the batch runner produced nothing"
            return outcome
        if line is None:
            break
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        event = doc.get("event")
        if event == "start":
            current = doc["id"]
        elif event == "done":
            results[doc["id"]] = doc
            current = None
        elif event in ("backend", "fatal"):
            outcome["fatal"] = first_line(doc.get("error", "?"))
    code = proc.wait()
    if current is not None:
        tail = stderr_file.read_text(errors="replace").strip().splitlines()[-3:]
        outcome.update(stuck=current, why="crash",
                       error=first_line(f"Node exited with code {code} during the case: {' | '.join(tail)}", 240))
    elif "fatal" not in outcome and len(results) < len(jobs) and code != 0:
        outcome["fatal"] = f"batch runner exited with code {code}"
    return outcome


def read_outputs(doc: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The arrays a successful batch-runner job wrote."""
    types = {"float32": "<f4", "int32": "<i4", "bool": "u1", "complex64": "<c8"}
    arrays = {}
    for spec in doc.get("outputs", []):
        file = Path(spec["file"])
        if spec["dtype"] == "string":
            arrays[spec["name"]] = np.array(json.loads(file.read_text(encoding="utf-8")), dtype=object).reshape(spec["shape"])
        else:
            data = np.fromfile(file, dtype=types[spec["dtype"]])
            if data.size != int(np.prod(spec["shape"])):
                raise ValueError(f"TF.js output {spec['name']} holds {data.size} elements but has shape {spec['shape']}")
            if spec["dtype"] == "bool":
                data = data.astype(bool)
            arrays[spec["name"]] = data.reshape(spec["shape"])
    return arrays


def evaluate_cases(cases: Iterable[Any], backends: Sequence[str] = ("cpu", "wasm"), *, with_ort: bool = True,
                   work: Path | None = None, progress: Any = None, constants: bool = False) -> list[CaseResult]:
    """Convert, run and classify node test cases (``onnx_node_cases.NodeCase``); see the module docstring.

    ``constants``: evaluate :func:`constant_variant` of each case instead (cases without one are left
    out); onnxruntime then runs the variant too.
    """
    import onnx

    from .onnx_node_cases import read_data_set

    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-conformance-")) if own_work else work
    try:
        results: list[CaseResult] = []
        jobs: list[_Job] = []
        expected_of: dict[str, Any] = {}
        ort_outputs: dict[str, dict[str, Any]] = {}
        for case in cases:
            model = onnx.load(str(case.model_path), load_external_data=False)
            inputs, outputs = read_data_set(case)
            model_path = case.model_path
            if constants:
                variant = constant_variant(model, inputs)
                if variant is None:
                    continue
                inexpressible = inexpressible_reason(model, inputs, outputs)
                model, inputs = variant
                model_path = work / "variants" / case.name / "model.onnx"
                model_path.parent.mkdir(parents=True, exist_ok=True)
                model_path.write_bytes(model.SerializeToString())
            else:
                inexpressible = inexpressible_reason(model, inputs, outputs)
            result = CaseResult(case.name, case.op_type, case.expanded, inexpressible)
            results.append(result)
            if with_ort:
                result.ort, result.ort_reason, got = run_onnxruntime(model_path, inputs, outputs)
                if got is not None:
                    ort_outputs[case.name] = got
            model_dir = work / "models" / case.name
            result.convert, result.convert_error = convert_case(model_path, model_dir)
            if progress:
                progress(f"converted {case.name}: {result.convert}")
            if result.convert != "ok":
                for b in backends:
                    result.tfjs[b], result.tfjs_reason[b] = result.convert, result.convert_error or ""
                continue
            try:
                jobs.append(write_job(case.name, model_dir, work / "jobs", inputs))
            except Exception as e:  # inputs TF.js cannot take (int64 beyond int32, ...)
                for b in backends:
                    result.tfjs[b], result.tfjs_reason[b] = TFJS_ERROR, first_line(f"inputs: {e}")
                continue
            expected_of[case.name] = outputs
        by_name = {r.name: r for r in results}
        for backend in backends:
            started = time.perf_counter()
            docs = run_jobs(jobs, backend, work)
            if progress:
                progress(f"ran {len(jobs)} models on {backend} in {time.perf_counter() - started:.0f} s")
            for job in jobs:
                result, doc = by_name[job.id], docs.get(job.id, {"ok": False, "error": "no result"})
                if not doc.get("ok"):
                    stage = doc.get("stage", "?")
                    result.tfjs[backend], result.tfjs_reason[backend] = TFJS_ERROR, first_line(f"{stage}: {doc.get('error')}")
                    continue
                try:
                    actual = read_outputs(doc)
                    reason = compare_outputs(actual, expected_of[job.id])
                except ValueError as e:  # an output inconsistent with its own shape
                    actual, reason = None, first_line(str(e))
                if reason is not None and actual is not None and job.id in ort_outputs:
                    try:
                        vs = _compare_any(actual, [(n, ort_outputs[job.id].get(n)) for n, _ in expected_of[job.id]])
                    except Exception as e:
                        vs = first_line(f"cannot compare: {e}")
                    result.tfjs_vs_ort[backend] = "agrees with onnxruntime" if vs is None else vs
                result.tfjs[backend] = PASS if reason is None else WRONG
                result.tfjs_reason[backend] = reason or ""
        for result in results:
            result.tfjs_raw = dict(result.tfjs)
            if result.inexpressible:
                result.tfjs = {b: INEXPRESSIBLE for b in backends}
        return results
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
