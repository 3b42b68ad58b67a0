"""Differential conformance of single TF ops: TensorFlow (the oracle) vs the numpy interpreter vs real TF.js.

A :class:`Case` is one ``tf.raw_ops`` call. :func:`run_cases` runs every case three ways:

* TensorFlow eager (``tf.raw_ops.<Op>``) gives the expected outputs;
* the interpreter kernel evaluates the same node (built from the same TF graph, so attrs match);
* tfjsconv converts the single-op graph (data inputs are placeholders, so nothing is folded away) as it
  converts a frozen GraphDef or SavedModel (its frontend rewrites included: :func:`converted_graph`)
  and the model runs in TF.js on cpu and wasm. All cases of one run share one model and one Node
  process; a backend that fails is bisected until the failing cases are isolated.

Each side is classified as ``pass``, ``wrong`` (numbers, shape or dtype differ), ``error`` (the
engine raised), ``refused`` (tfjsconv refused the conversion, for that backend or at all),
``unsupported``/``no kernel`` (interpreter only: the kernel declines, so folding leaves the node) or
``skipped``. ``pass``, ``refused``, ``unsupported`` and ``no kernel`` are safe outcomes; ``wrong`` and
``error`` are bugs unless listed in :mod:`expected_tf`.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # the same TF kernels on every CPU: tests/conftest.py says why

BACKENDS = ("cpu", "wasm")
#: Run only with ``webgl=True`` (headless Chromium, ``webgl_runner.py``): one model per case, one page for all.
WEBGL = "webgl"
#: Float comparison: |got - want| <= ABS_TOL * max|want| everywhere, and <= REL_TOL * |want| where
#: |want| >= TINY * max|want| (so small elements are not drowned by the scale of large ones).
ABS_TOL, REL_TOL, TINY = 1e-5, 1e-3, 1e-3


@dataclasses.dataclass
class Case:
    """One ``tf.raw_ops.<op>(**inputs, **attrs)`` call; ``inputs`` follow the op's input order.

    A list-valued input (``values`` of ConcatV2/Pack, ``inputs`` of AddN) is a Python list of
    arrays. ``consts``: input positions baked in as Const nodes (shapes, axes, sizes, as in real
    models); every other input is a placeholder. ``outputs``: which outputs to compare (default all).
    """

    op: str
    group: str
    inputs: list[Any]
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    consts: tuple[int, ...] = ()
    outputs: tuple[int, ...] | None = None
    #: Compare floats with this absolute tolerance scale instead of ABS_TOL (documented per case).
    abs_tol: float | None = None

    @property
    def key(self) -> str:
        return f"{self.op}/{self.group}"


@dataclasses.dataclass
class Outcome:
    """What one engine did with one case."""

    status: str  # pass | wrong | error | refused | unsupported | no kernel | skipped
    detail: str = ""
    #: The special-values line the conversion that made this engine's model printed ("" when none, or when the
    #: model held a batch of cases: cpu/wasm), so the table can credit what the conversion named.
    named: str = ""
    #: ``wrong`` only where special values differ (:func:`special_values_only`): what a named deviation may cover.
    special_only: bool = False

    def __str__(self) -> str:
        return self.status if not self.detail else f"{self.status}: {self.detail}"


@dataclasses.dataclass
class CaseResult:
    case: Case
    tf_error: str | None = None
    interpreter: Outcome = dataclasses.field(default_factory=lambda: Outcome("skipped"))
    tfjs: dict[str, Outcome] = dataclasses.field(default_factory=dict)
    #: The same case converted with ``--exact_special_values`` (only ops with a special-value deviation).
    exact: dict[str, Outcome] = dataclasses.field(default_factory=dict)


# -- TensorFlow ----------------------------------------------------------------------------------
def _tf():
    import tensorflow as tf

    return tf


def _op_def(op: str):
    from tensorflow.python.framework import op_def_registry

    op_def = op_def_registry.get(op)
    if op_def is None:
        raise KeyError(f"TensorFlow has no op {op}")
    return op_def


def input_names(op: str) -> list[str]:
    """The keyword names ``tf.raw_ops.<op>`` gives its inputs (they may differ from the OpDef's)."""
    import inspect

    params = list(inspect.signature(getattr(_tf().raw_ops, op)).parameters)
    return params[: len(_op_def(op).input_arg)]


def tf_attrs(case: Case) -> dict[str, Any]:
    """The case's attrs with dtype names turned into tf.DType, per the op's OpDef."""
    tf = _tf()
    kinds = {a.name: a.type for a in _op_def(case.op).attr}
    out = {}
    for key, value in case.attrs.items():
        if kinds.get(key) == "type":
            value = tf.as_dtype(value)
        elif kinds.get(key) == "list(type)":
            value = [tf.as_dtype(v) for v in value]
        out[key] = value
    return out


def _flatten(result: Any) -> list[Any]:
    if result is None or (hasattr(result, "type") and hasattr(result, "node_def")):
        return []  # an Operation: no outputs
    if isinstance(result, (list, tuple)):
        flat = []
        for item in result:
            flat.extend(item if isinstance(item, (list, tuple)) else [item])
        return flat
    return [result]


def run_tf(case: Case) -> list[np.ndarray]:
    """The expected outputs: ``tf.raw_ops.<op>`` in eager mode."""
    tf = _tf()
    names = input_names(case.op)
    kwargs = {}
    for name, value in zip(names, case.inputs):
        kwargs[name] = [tf.constant(v) for v in value] if isinstance(value, list) else tf.constant(value)
    result = getattr(tf.raw_ops, case.op)(**kwargs, **tf_attrs(case))
    return [np.asarray(t) for t in _flatten(result)]


def build_tf_graph(cases: Sequence[Case], ids: Sequence[int]):
    """One tf.Graph holding every case (``c{id}_…`` names), its signature inputs/outputs and feeds."""
    tf = _tf()
    graph = tf.Graph()
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    feeds: dict[str, np.ndarray] = {}
    with graph.as_default():
        for cid, case in zip(ids, cases):
            names = input_names(case.op)
            kwargs: dict[str, Any] = {}
            counter = 0

            def tensor(array: Any, const: bool, cid: int = cid) -> Any:
                nonlocal counter
                array = np.asarray(array)
                name = f"c{cid}_x{counter}"
                counter += 1
                if const:
                    return tf.constant(array, name=name)
                inputs[name], feeds[name] = f"{name}:0", array
                dtype = tf.string if array.dtype.kind in "OSU" else tf.as_dtype(array.dtype)
                return tf.compat.v1.placeholder(dtype, array.shape, name=name)

            for position, (name, value) in enumerate(zip(names, case.inputs)):
                const = position in case.consts
                kwargs[name] = [tensor(v, const) for v in value] if isinstance(value, list) else tensor(value, const)
            getattr(tf.raw_ops, case.op)(**kwargs, **tf_attrs(case), name=f"c{cid}_op")
            op = graph.get_operation_by_name(f"c{cid}_op")
            for index in case.outputs if case.outputs is not None else range(len(op.outputs)):
                outputs[f"c{cid}_o{index}"] = f"c{cid}_op:{index}"
    return graph, inputs, outputs, feeds


def ir_graph(cases: Sequence[Case], ids: Sequence[int]):
    """The tfjsconv IR of :func:`build_tf_graph` (attrs exactly as TensorFlow fills them) and its feeds."""
    from tfjsconv.plugins.savedmodel.translate import graph_from_tf_graph

    graph, inputs, outputs, feeds = build_tf_graph(cases, ids)
    return graph_from_tf_graph(graph, inputs, outputs, name="conformance"), feeds


def converted_graph(cases: Sequence[Case], ids: Sequence[int]):
    """The IR a real conversion of :func:`build_tf_graph` as a frozen GraphDef gives (the SavedModel plugin's
    TF-free reader, :func:`graph_from_graph_def`, with its frontend rewrites: ``tf_op_rewrites`` turns ops TF.js
    lacks, such as ``SegmentSum`` or ``Softsign``, into TF.js ops), its outputs keyed ``c{id}_o{index}``, and feeds."""
    from tfjsconv.plugins.savedmodel.graphdef_ir import NotTfFree
    from tfjsconv.plugins.savedmodel.schema import GraphDef
    from tfjsconv.plugins.savedmodel.tf_free import graph_from_graph_def

    graph, _, outputs, feeds = build_tf_graph(cases, ids)
    graph_def = GraphDef()
    graph_def.ParseFromString(graph.as_graph_def(add_shapes=True).SerializeToString())  # as a SavedModel keeps them
    try:
        ir = graph_from_graph_def(graph_def, list(outputs.values()), name="conformance")
    except NotTfFree as why:  # a real conversion refuses so, naming --loader=tensorflow
        raise why.refusal("the conformance graph") from None
    ir.outputs = {key: ir.outputs[tensor] for key, tensor in outputs.items()}
    return ir, feeds


# -- comparison ----------------------------------------------------------------------------------
def compare(want: np.ndarray, got: np.ndarray, *, tfjs: bool, abs_tol: float | None = None) -> str | None:
    """``None`` when ``got`` matches ``want``, else a short reason."""
    want, got = np.asarray(want), np.asarray(got)
    if want.shape != got.shape:
        return f"shape {list(got.shape)} != {list(want.shape)}"
    kind = want.dtype.kind
    if tfjs:  # TF.js holds float32/int32/bool only: compare in that family
        family = {"f": "f", "i": "i", "u": "i", "b": "b", "c": "c", "O": "s", "S": "s", "U": "s"}
        if family.get(kind) != family.get(got.dtype.kind):
            return f"dtype {got.dtype} != {want.dtype}"
    elif want.dtype != got.dtype:
        return f"dtype {got.dtype} != {want.dtype}"
    if want.size == 0:
        return None
    if kind in "OSU":
        text = [v.decode() if isinstance(v, bytes) else str(v) for v in want.reshape(-1)]
        have = [v.decode() if isinstance(v, bytes) else str(v) for v in got.reshape(-1)]
        return None if text == have else f"strings {have[:4]} != {text[:4]}"
    if kind in "iub":
        bad = got.astype(np.int64) != want.astype(np.int64)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            return f"{int(bad.sum())}/{want.size} differ, e.g. [{i}] {got.flat[i]} != {want.flat[i]}"
        return None
    if kind == "c":
        return compare(np.stack([want.real, want.imag]), np.stack([got.real, got.imag]), tfjs=tfjs, abs_tol=abs_tol)
    w, g = want.astype(np.float64), got.astype(np.float64)
    nan_w, nan_g = np.isnan(w), np.isnan(g)
    if (nan_w != nan_g).any():
        i = int(np.flatnonzero(nan_w != nan_g)[0])
        return f"NaN positions differ, e.g. [{i}] {g.flat[i]} != {w.flat[i]}"
    inf_w = np.isinf(w)
    if (inf_w != np.isinf(g)).any() or (w[inf_w] != g[inf_w]).any():
        i = int(np.flatnonzero((inf_w != np.isinf(g)) | (inf_w & (w != g)))[0])
        return f"Inf positions differ, e.g. [{i}] {g.flat[i]} != {w.flat[i]}"
    finite = ~(nan_w | inf_w)
    if not finite.any():
        return None
    scale = float(np.abs(w[finite]).max()) or 1.0
    with np.errstate(invalid="ignore"):
        err = np.where(finite, np.abs(g - w), 0.0)
    limit = (abs_tol or ABS_TOL) * scale
    non_tiny = finite & (np.abs(w) >= TINY * scale)
    bad = (err > limit) | (non_tiny & (err > REL_TOL * np.abs(w)))
    if bad.any():
        i = int(np.argmax(np.where(bad, err, -1)))
        return (f"{int(bad.sum())}/{want.size} differ, worst [{i}] {g.flat[i]:.7g} != {w.flat[i]:.7g} "
                f"(max|ref| {scale:.3g})")
    return None


#: Past these magnitudes a value is a special one the special-values line can name: webgl's max/min reduce starts
#: from ±1e20, and float32 (webgl's int32 textures) holds integers exactly only up to 2^24.
SPECIAL_FLOAT, SPECIAL_INT = 1e20, 2**24


def special_values_only(want: np.ndarray, got: np.ndarray, *, tfjs: bool, abs_tol: float | None = None) -> bool:
    """Whether ``got`` matches ``want`` (:func:`compare`) once the elements where either holds a special value
    (NaN, ±Inf, |x| >= 1e20; ints past 2^24) are taken as ``want``'s: a difference of the kinds a conversion names."""
    want, got = np.asarray(want), np.asarray(got)
    if want.shape != got.shape or want.dtype.kind not in "fiu" or got.dtype.kind not in "fiu":
        return False
    w, g = want.astype(np.float64), got.astype(np.float64)
    with np.errstate(invalid="ignore"):
        if want.dtype.kind == "f":
            special = ~np.isfinite(w) | ~np.isfinite(g) | (np.abs(w) >= SPECIAL_FLOAT) | (np.abs(g) >= SPECIAL_FLOAT)
        else:
            special = (np.abs(w) > SPECIAL_INT) | (np.abs(g) > SPECIAL_INT)
    return bool(special.any()) and compare(want, np.where(special, want, got).astype(got.dtype), tfjs=tfjs,
                                           abs_tol=abs_tol) is None


def _compare_all(want: list[np.ndarray], got: list[np.ndarray], *, tfjs: bool, abs_tol: float | None) -> Outcome:
    if len(want) != len(got):
        return Outcome("wrong", f"{len(got)} outputs, expected {len(want)}")
    wrong = [(index, why) for index, (w, g) in enumerate(zip(want, got))
             if (why := compare(w, g, tfjs=tfjs, abs_tol=abs_tol))]
    if not wrong:
        return Outcome("pass")
    index, why = wrong[0]
    special = all(special_values_only(want[i], got[i], tfjs=tfjs, abs_tol=abs_tol) for i, _ in wrong)
    return Outcome("wrong", why if len(want) == 1 else f"output {index}: {why}", special_only=special)


def _short(error: BaseException | str, limit: int = 160) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- interpreter ---------------------------------------------------------------------------------
def run_interpreter(case: Case, want: list[np.ndarray]) -> Outcome:
    from tfjsconv.interpreter import KERNELS, run_graph

    if case.op not in KERNELS:
        return Outcome("no kernel")
    graph, feeds = ir_graph([case], [0])
    from tfjsconv.errors import GraphError

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NaN/Inf/empty inputs are the point here
            got = run_graph(graph, feeds)
    except GraphError as exc:  # the kernel says it cannot do this: constant folding leaves the node alone
        return Outcome("unsupported", _short(str(exc).split(": ", 1)[-1]))
    except Exception as exc:  # noqa: BLE001 - any kernel failure is a finding
        return Outcome("error", _short(f"{type(exc).__name__}: {exc}"))
    return _compare_all(want, [got[k] for k in graph.outputs], tfjs=False, abs_tol=case.abs_tol)


# -- TF.js ---------------------------------------------------------------------------------------
def special_value_deviations() -> tuple[Any, ...]:
    """The contract's special-value deviations (``tfjsconv.ops.special_values``): op, backend, exact…"""
    from tfjsconv.ops.special_values import deviations

    return deviations()


def _convert(graph: Any, folder: Path, backends: Sequence[str], exact: bool = False) -> str:
    """Convert ``graph`` into ``folder``; the conversion's special-values line ("" when it printed none)."""
    import tfjsconv

    result = tfjsconv.convert(graph, folder, target_backends=list(backends), overwrite=True, exact_special_values=exact)
    return next((line for line in result.notices if line.startswith("special values:")), "")


def conversion_targets(case: Case, workdir: Path,
                       backends: Sequence[str] = BACKENDS) -> tuple[list[str], dict[str, Outcome]]:
    """The backends the single-op graph converts for, and an Outcome for each backend refused."""
    from tfjsconv.errors import BackendUnsupportedError, TfjsconvError

    refused: dict[str, Outcome] = {}
    targets = list(backends)
    while targets:
        try:
            graph, _ = converted_graph([case], [0])
            _convert(graph, workdir / "single", targets)
            return targets, refused
        except BackendUnsupportedError as exc:
            drop = sorted({p.backend for p in exc.problems}) or targets
            for backend in drop:
                why = "; ".join(sorted({p.reason for p in exc.problems if p.backend == backend}))
                refused[backend] = Outcome("refused", _short(f"on {backend}: {why or exc}"))
            targets = [b for b in targets if b not in drop]
        except TfjsconvError as exc:
            for backend in targets:
                refused[backend] = Outcome("refused", _short(exc))
            return [], refused
        except Exception as exc:  # noqa: BLE001 - a converter crash is a finding too
            for backend in targets:
                refused[backend] = Outcome("error", _short(f"tfjsconv crashed: {type(exc).__name__}: {exc}"))
            return [], refused
    return [], refused


def _run_batch(cases: Sequence[Case], ids: Sequence[int], backend: str, workdir: Path,
               exact: bool = False) -> tuple[bool, Any]:
    from tfjsconv.verify.run import run_model

    graph, feeds = converted_graph(cases, ids)
    folder = workdir / f"batch_{backend}{'_exact' if exact else ''}"
    _convert(graph, folder, [backend], exact)
    run = run_model(folder, feeds, backends=[backend], quiet=True)[backend]
    return run.ok, (run.outputs if run.ok else _short(run.error or "failed", 220))


def run_tfjs(items: list[tuple[int, Case, list[np.ndarray]]], backend: str, workdir: Path,
             isolate: Callable[[Case], bool] = lambda case: False, exact: bool = False) -> dict[int, Outcome]:
    """Run ``(id, case, expected)`` items on one backend, bisecting failed batches; Outcome per id.

    ``isolate(case)`` marks cases expected to crash the backend: they run alone, so the rest need
    no bisection.
    """
    results: dict[int, Outcome] = {}
    alone = [item for item in items if isolate(item[1])]
    queue: list[list[tuple[int, Case, list[np.ndarray]]]] = [[i] for i in alone]
    rest = [item for item in items if not isolate(item[1])]
    if rest:
        queue.append(rest)
    while queue:
        batch = queue.pop()
        try:
            ok, value = _run_batch([c for _, c, _ in batch], [i for i, _, _ in batch], backend, workdir, exact)
        except Exception as exc:  # noqa: BLE001 - the conversion of the batch or the runner failed
            ok, value = False, _short(f"{type(exc).__name__}: {exc}", 220)
        if ok:
            for cid, case, want in batch:
                got = [value[k] for k in sorted((k for k in value if k.startswith(f"c{cid}_o")),
                                                key=lambda k: int(k.rsplit("_o", 1)[1]))]
                results[cid] = _compare_all(want, got, tfjs=True, abs_tol=case.abs_tol)
        elif len(batch) == 1:
            results[batch[0][0]] = Outcome("error", value)
        else:
            half = len(batch) // 2
            queue.extend([batch[:half], batch[half:]])
    return results


def _outputs_of(cid: int, outputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Case ``cid``'s outputs (``c{cid}_o{index}``) in index order."""
    return [outputs[k] for k in sorted((k for k in outputs if k.startswith(f"c{cid}_o")),
                                       key=lambda k: int(k.rsplit("_o", 1)[1]))]


def run_webgl(items: list[tuple[int, Case, list[np.ndarray]]], workdir: Path,
              exact: bool = False) -> dict[int, Outcome]:
    """Run ``(id, case, expected)`` items on webgl: one converted model per case, all in one Chromium page
    (``webgl_runner.py``), so a case that throws or hangs costs only itself (no bisection, no browser restarts)."""
    from onnx_backend import read_outputs, write_job
    from webgl_runner import run_webgl_jobs

    root = workdir / f"{WEBGL}{'_exact' if exact else ''}"
    results: dict[int, Outcome] = {}
    named: dict[int, str] = {}
    jobs = []
    for cid, case, _ in items:
        model = root / "models" / f"c{cid}"
        try:
            graph, feeds = converted_graph([case], [cid])
            named[cid] = _convert(graph, model, [WEBGL], exact)
            jobs.append(write_job(f"c{cid}", model, root / "jobs", list(feeds.items())))
        except Exception as exc:  # noqa: BLE001 - refusals were sorted out before; anything else is a finding
            results[cid] = Outcome("error", _short(f"{type(exc).__name__}: {exc}"))
    docs, _ = run_webgl_jobs(jobs, root)
    for cid, case, want in items:
        if cid in results:
            continue
        doc = docs[f"c{cid}"]
        if not doc.get("ok"):
            results[cid] = Outcome("error", _short(doc.get("error") or f"failed at {doc.get('stage')}", 220))
            continue
        results[cid] = _compare_all(want, _outputs_of(cid, read_outputs(doc)), tfjs=True, abs_tol=case.abs_tol)
    for cid, line in named.items():
        results[cid].named = line
    return results


def run_cases(cases: Sequence[Case], *, tfjs: bool = True, isolate: Callable[[Case], bool] = lambda case: False,
              progress: Callable[[str], None] | None = None, webgl: bool = False) -> list[CaseResult]:
    """Run every case on TF, the interpreter and (``tfjs``) TF.js cpu and wasm (and, ``webgl``, webgl)."""
    results = [CaseResult(case) for case in cases]
    expected: dict[int, list[np.ndarray]] = {}
    for cid, result in enumerate(results):
        try:
            want = run_tf(result.case)
        except Exception as exc:  # noqa: BLE001 - a case TF rejects is a bad case, reported as such
            result.tf_error = _short(f"{type(exc).__name__}: {exc}")
            continue
        if result.case.outputs is not None:
            want = [want[i] for i in result.case.outputs]
        expected[cid] = want
        result.interpreter = run_interpreter(result.case, want)
    if not tfjs:
        return results
    workdir = Path(tempfile.mkdtemp(prefix="tfjsconv-conformance-"))
    try:
        backends = (*BACKENDS, WEBGL) if webgl else BACKENDS
        per_backend: dict[str, list[tuple[int, Case, list[np.ndarray]]]] = {b: [] for b in backends}
        for cid, want in expected.items():
            targets, refused = conversion_targets(results[cid].case, workdir, backends)
            results[cid].tfjs.update(refused)
            for backend in targets:
                per_backend[backend].append((cid, results[cid].case, want))
        for backend, items in per_backend.items():
            if progress:
                progress(f"TF.js {backend}: {len(items)} cases")
            run = (lambda items, exact=False: run_webgl(items, workdir, exact)) if backend == WEBGL else (
                lambda items, exact=False, backend=backend: run_tfjs(items, backend, workdir, isolate, exact))
            for cid, outcome in run(items).items():
                results[cid].tfjs[backend] = outcome
            # every case of an op with a special-value deviation on this backend, again with the rewrite
            deviating = {d.op for d in special_value_deviations() if d.backend == backend}
            flagged = [item for item in items if item[1].op in deviating]
            if progress and flagged:
                progress(f"TF.js {backend} --exact_special_values: {len(flagged)} cases")
            for cid, outcome in (run(flagged, exact=True) if flagged else {}).items():
                results[cid].exact[backend] = outcome
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results
