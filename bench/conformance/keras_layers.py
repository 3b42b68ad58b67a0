"""Keras layer conformance: every case of ``cases_keras.py``, converted as a layers and a graph model, in real TF.js.

    python bench/conformance/keras_layers.py [--layers LSTM,Conv2D] [--flavors keras3] [--webgl] [--output docs/conformance/keras_layers.md]

Each case's model (random seeded weights) is saved (Keras 3 as ``.keras`` and as legacy ``.h5``, tf_keras as
``.h5``), the reloaded file's ``model(x, training=False)`` outputs kept as the oracle, then converted by tfjsconv
twice — as a layers model and with ``output_format="tfjs_graph_model"`` — and run in TF.js 4.22 on cpu and wasm
(all models of one backend in one Node process, ``batch_runner.mjs``); with ``--webgl`` the conversions also
target webgl and every model runs on webgl too, all in one headless Chromium page (``webgl_batch.mjs``). Each cell is ``pass``, ``wrong`` (numbers or shape
differ: a silent-wrong bug), ``error`` (TF.js or the converter threw) or ``refused`` (a tfjsconv error class;
``refused → graph`` when the refusal points at the graph-model route). Known outcomes: ``expected_keras.py``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # the same TF kernels on every CPU: tests/conftest.py says why
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests"))

from cases_keras import CASES, FLAVORS, NOT_COVERED, KerasCase  # noqa: E402

DEFAULT_OUTPUT = REPO / "docs" / "conformance" / "keras_layers.md"
BACKENDS = ("cpu", "wasm")
WEBGL_BACKENDS = ("cpu", "wasm", "webgl")
FORMATS = ("layers", "graph")


def columns_for(backends: Sequence[str]) -> tuple[str, ...]:
    return tuple(f"{f}-{b}" for f in FORMATS for b in backends)


COLUMNS = columns_for(BACKENDS)
BATCH = 2


@dataclasses.dataclass
class Result:
    case: KerasCase
    flavor: str
    build_error: str | None = None
    #: Keras could not load the file it had just saved: the oracle is then the model that saved it.
    reload_error: str | None = None
    cells: dict[str, str] = dataclasses.field(default_factory=dict)  # column -> "status" or "status: detail"

    @property
    def key(self) -> str:
        return f"{self.flavor}:{self.case.key}"

    def status(self, column: str) -> str:
        return self.cells.get(column, "skipped").split(":", 1)[0]


def _short(text: Any, limit: int = 150) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def keras_module(flavor: str) -> Any:
    import importlib

    return importlib.import_module("tf_keras" if flavor == "tf_keras" else "keras")


def saved_name(flavor: str) -> str:
    """The file each flavor saves: Keras 3's ``.keras`` archive, or a (Keras 3 or tf_keras) legacy ``.h5``."""
    return "model.keras" if flavor == "keras3" else "model.h5"


def build(case: KerasCase, flavor: str,
          folder: Path) -> tuple[Path, list[np.ndarray], list[np.ndarray], list[str], str | None] | None:
    """Build, randomize and save the case's model: (file, inputs, expected outputs, input names, reload error),
    or None when that Keras has no such case."""
    from keras_models import randomize

    k = keras_module(flavor)
    k.utils.set_random_seed(1)
    model = case.build(k)
    if model is None:
        return None
    randomize(model, 5)
    rng = np.random.default_rng(2)
    inputs = []
    for t in model.inputs:
        shape = (BATCH, *tuple(t.shape)[1:])
        if "int" in str(t.dtype):
            inputs.append(rng.integers(0, case.int_high, shape).astype("int32"))
        else:
            x = rng.standard_normal(shape).astype("float32")
            if case.zero_tail:
                x[:, -case.zero_tail:] = 0.0
            inputs.append(x)
    path = folder / saved_name(flavor)
    model.save(path)
    # The oracle is the file reloaded, not the model that saved it (what tfjsconv converts; see docs/keras.md).
    extra = {"safe_mode": False} if flavor != "tf_keras" else {}
    # Keras 3 cannot reload some of its own legacy .h5 files; tfjsconv may still convert them, so the
    # case runs against the model that saved the file, and the table says so.
    reload_error = None
    try:
        oracle = k.models.load_model(path, compile=False, **extra)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        oracle, reload_error = model, _short(f"{type(exc).__name__}: {exc}", 110)
    got = oracle(inputs if len(inputs) > 1 else inputs[0], training=False)
    expected = [np.asarray(t) for t in (got if isinstance(got, (list, tuple)) else [got])]
    names = [t.name.split(":")[0] for t in model.inputs]
    return path, inputs, expected, names, reload_error


#: Files whose graph model the lowering does not cover: converted with ``loader="tensorflow"`` (listed in the table).
TRACED: set[str] = set()


def convert(path: Path, out: Path, fmt: str, backends: Sequence[str] = BACKENDS) -> tuple[list[str], dict[str, str]]:
    """Convert for ``backends``: the backends written, and a cell for each backend refused or crashed."""
    import tfjsconv
    from tfjsconv.errors import BackendUnsupportedError, TfjsconvError

    cells: dict[str, str] = {}
    targets = list(backends)
    extra = {"output_format": "tfjs_graph_model"} if fmt == "graph" else {}
    while targets:
        try:
            tfjsconv.convert(str(path), out, target_backends=targets, overwrite=True, **extra)
            return targets, cells
        except BackendUnsupportedError as exc:
            drop = sorted({p.backend for p in exc.problems}) or targets
            for backend in drop:
                cells[backend] = f"refused: {_short(exc)}"
            targets = [b for b in targets if b not in drop]
        except TfjsconvError as exc:
            text = f"{exc} {getattr(exc, 'hint', '') or ''}"
            if fmt == "graph" and "loader" not in extra and "--loader=tensorflow" in text:
                extra["loader"] = "tensorflow"  # the lowering's gap: refused by default, traced with the flag
                TRACED.add(path.name)
                continue
            status = "refused → graph" if fmt == "layers" and "tfjs_graph_model" in text else "refused"
            first = _refusal_detail(str(exc), path)
            return [], {b: f"{status}: {_short(first)}" for b in targets}
        except Exception as exc:  # noqa: BLE001 - a converter crash is a finding
            return [], {b: f"error: tfjsconv crashed: {_short(f'{type(exc).__name__}: {exc}')}" for b in targets}
    return [], cells


def _refusal_detail(message: str, path: Path) -> str:
    """The refusal's reasons without the boilerplate: "(Layer): why; …", or its first line."""
    import re

    bullets = [re.sub(r"^layer '[^']*' ", "", line.strip()[2:]) for line in message.splitlines()[1:]
               if line.strip().startswith("- ")]
    if bullets:
        return "; ".join(dict.fromkeys(bullets))
    return message.splitlines()[0].replace(str(path.parent) + "/", "")


def _graph_input_names(model_dir: Path, keras_names: list[str]) -> list[str]:
    signature = json.loads((model_dir / "model.json").read_text(encoding="utf-8")).get("signature") or {}
    keys = list((signature.get("inputs") or {}).keys())
    return keras_names if sorted(keys) == sorted(keras_names) else keys or keras_names


def compare_outputs(expected: list[np.ndarray], got: dict[str, np.ndarray], abs_tol: float | None) -> str:
    from harness_tf import compare

    values = list(got.values())  # the runner's order: signature order (graph), model.outputs order (layers)
    if len(values) != len(expected):
        return f"wrong: {len(values)} outputs, expected {len(expected)}"
    for index, (want, have) in enumerate(zip(expected, values)):
        why = compare(want, have, tfjs=True, abs_tol=abs_tol)
        if why:
            return f"wrong: {why}" if len(expected) == 1 else f"wrong: output {index}: {why}"
    return "pass"


def run_cases(cases: Sequence[KerasCase], flavors: Sequence[str] = FLAVORS, *, backends: Sequence[str] = BACKENDS,
              progress: Callable[[str], None] | None = None, facts: dict[str, Any] | None = None) -> list[Result]:
    """Build, convert and run every case on every flavor, format and backend."""
    return run_items([(case, flavor) for flavor in flavors for case in cases], backends=backends,
                     progress=progress, facts=facts)


def run_items(items: Sequence[tuple[KerasCase, str]], *, backends: Sequence[str] = BACKENDS,
              progress: Callable[[str], None] | None = None, facts: dict[str, Any] | None = None) -> list[Result]:
    """Build, convert and run each (case, flavor) as a layers and a graph model on every backend.

    ``facts`` (when given) receives what the webgl page reported about its renderer."""
    from onnx_backend import read_outputs, run_jobs, write_job

    work = Path(tempfile.mkdtemp(prefix="tfjsconv-keras-conformance-"))
    results: list[Result] = []
    jobs: dict[str, list] = {c: [] for c in columns_for(backends)}
    pending: dict[str, tuple[Result, str, list[np.ndarray], float | None]] = {}
    try:
        for index, (case, flavor) in enumerate(items):
            folder = work / f"{flavor}-{index}"
            folder.mkdir(parents=True)
            result = Result(case, flavor)
            try:
                built = build(case, flavor, folder)
            except Exception as exc:  # noqa: BLE001 - a case Keras rejects is reported, not fatal
                result.build_error = _short(f"{type(exc).__name__}: {exc}")
                results.append(result)
                continue
            if built is None:
                continue
            results.append(result)
            path, inputs, expected, names, result.reload_error = built
            for fmt in FORMATS:
                out = folder / fmt
                targets, cells = convert(path, out, fmt, backends)
                if path.name in TRACED:
                    TRACED.discard(path.name)
                    TRACED.add(f"`{case.layer}/{case.option}` ({flavor})")
                result.cells.update({f"{fmt}-{b}": cell for b, cell in cells.items()})
                if not targets:
                    continue
                feed_names = names if fmt == "layers" else _graph_input_names(out, names)
                job_id = f"{flavor}-{index}-{fmt}"
                job = write_job(job_id, out, work / "jobs", list(zip(feed_names, inputs)))
                for backend in targets:
                    jobs[f"{fmt}-{backend}"].append(job)
                pending[job_id] = (result, fmt, expected, case.abs_tol)
        if progress:
            progress(f"built and converted {len(results)} models")
        for column, column_jobs in jobs.items():
            backend = column.split("-", 1)[1]
            if progress:
                progress(f"TF.js {column}: {len(column_jobs)} models")
            if not column_jobs:
                continue
            if backend == "webgl":  # one Chromium page for the column; a job that hangs or crashes costs a reload
                from webgl_runner import run_webgl_jobs

                docs, webgl_facts = run_webgl_jobs(column_jobs, work)
                if facts is not None:
                    facts.update(webgl_facts)
            else:  # one process per backend and column; a crashing job costs only a restart
                docs = run_jobs(column_jobs, backend, work)
            # A wasm fault ("memory access out of bounds") can poison the jobs after it in the same
            # process: rerun each such job alone, so only the one that really faults keeps the error.
            for job in column_jobs:
                if "memory access out of bounds" in str(docs.get(job.id, {}).get("error", "")):
                    (work / "alone").mkdir(exist_ok=True)
                    docs.update(run_jobs([job], backend, work / "alone"))
            for job_id, doc in docs.items():
                result, fmt, expected, abs_tol = pending[job_id]
                if not doc.get("ok"):
                    result.cells[column] = f"error: {doc.get('stage', '?')}: {_short(doc.get('error', '?'))}"
                    continue
                try:
                    result.cells[column] = compare_outputs(expected, read_outputs(doc), abs_tol)
                except Exception as exc:  # noqa: BLE001
                    result.cells[column] = f"error: reading outputs: {_short(exc)}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


# -- the page --------------------------------------------------------------------------------------
def _cell(text: str, limit: int = 120) -> str:
    status, _, detail = text.partition(": ")
    if status in ("wrong", "error"):
        text = f"**{status}**" + (f": {detail}" if detail else "")
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|").replace("\n", " ")


def summary_line(results: list[Result], columns: Sequence[str] = COLUMNS) -> str:
    parts = []
    for column in columns:
        c = Counter(r.status(column) for r in results if not r.build_error)
        parts.append(f"{column}: " + ", ".join(f"{n} {s}" for s, n in sorted(c.items(), key=lambda kv: -kv[1])))
    layers = {r.case.layer for r in results}
    return (f"**Summary:** {len(layers)} layers, {len({r.case.key for r in results})} layer+option cases, "
            f"{len(results)} models over {', '.join(sorted({r.flavor for r in results}))}. " + "; ".join(parts) + ".")


def render(results: list[Result], seconds: float, columns: Sequence[str] = COLUMNS,
           facts: dict[str, Any] | None = None) -> str:
    from expected_keras import KNOWN

    webgl = any(c.endswith("-webgl") for c in columns)
    webgl_text = ""
    if webgl:
        facts = facts or {}
        webgl_text = (" With `--webgl` the conversions also target webgl and each model runs on webgl in headless "
                      f"Chromium {facts.get('browser_version', '?')} (all models in one page; renderer "
                      f"{facts.get('renderer', '?')}, float32 render targets: {facts.get('render_float32', '?')}), "
                      "held to the same tolerance.")

    lines = [
        "# Keras layer conformance: TF.js layers and graph models against Keras",
        "",
        "<!-- generated by `python bench/conformance/keras_layers.py`; do not edit by hand -->",
        "",
        summary_line(results, columns),
        "",
        "Each row is one small model (one layer with one set of options, random seeded weights) built in Keras 3 "
        "and saved as `.keras` (`keras3`) or as legacy `.h5` (`keras3_h5`), or built in tf_keras and saved as `.h5` "
        "(`tf_keras`); the oracle is the saved file reloaded in that Keras, `model(x, training=False)` (when Keras "
        "cannot reload its own file, the model that saved it, as the notes say). tfjsconv "
        "converts it as a **layers** model and as a **graph** model (`output_format=\"tfjs_graph_model\"`), and "
        "each runs in `@tensorflow/tfjs` 4.22 under Node on cpu and wasm." + webgl_text,
        "",
        "Statuses: `pass`; **wrong** (numbers or shape differ — a silent-wrong bug); **error** (TF.js threw, or "
        "the converter crashed); `refused` (a clear tfjsconv error); `refused → graph` (the layers-model refusal "
        "points at `--output_format=tfjs_graph_model`). Floats match when |got − ref| ≤ 1e-5·max|ref| and, for "
        "|ref| ≥ 1e-3·max|ref|, ≤ 1e-3·|ref| (`harness_tf.compare`). Every outcome other than `pass` is listed "
        "with its reason in `bench/conformance/expected_keras.py`; `tests/test_conformance_keras.py` re-runs a "
        "subset (every layer at least once) and fails when a status changes.",
        "",
        "Graph models go through the h5py-only lowering (the default); the files it does not cover are "
        "refused by default with a `--loader=tensorflow` hint, and are converted here with that flag (Keras "
        f"loads them and TensorFlow traces them): {', '.join(sorted(TRACED)) or 'none'}.",
        "",
        f"Run time: {seconds:.0f} s.",
        "",
        f"| Layer | option | Keras | {' | '.join(columns)} | notes |",
        "|---|---|---|" + "---|" * len(columns) + "---|",
    ]
    for r in sorted(results, key=lambda r: (r.case.layer, r.case.option, r.flavor)):
        note = KNOWN.get(r.key, {}).get("why", "")
        if r.reload_error:
            note = f"Keras cannot reload its own file ({r.reload_error}); oracle: the model that saved it. {note}"
        if r.build_error:
            cells = ["Keras rejects the case"] * len(columns)
            note = r.build_error
        else:
            cells = [_cell(r.cells.get(c, "skipped")) for c in columns]
        lines.append(f"| {r.case.layer} | {r.case.option} | {r.flavor} | {' | '.join(cells)} | "
                     f"{note.replace('|', '/')} |")
    lines += ["", "## Built-in layers without a case", "",
              *[f"- `{name}` — {why}" for name, why in sorted(NOT_COVERED.items())], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", help="comma-separated layers to run (default: all)")
    parser.add_argument("--flavors", default=",".join(FLAVORS))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--record", type=Path, help="write the command and wall time as JSON here")
    parser.add_argument("--webgl", action="store_true",
                        help="also target webgl and run every model on it in headless Chromium (layers-webgl, graph-webgl)")
    args = parser.parse_args(argv)
    backends = BACKENDS
    if args.webgl:
        from webgl_runner import webgl_available

        why = webgl_available()
        if why:
            parser.error(f"--webgl: {why}")
        backends = WEBGL_BACKENDS
    columns = columns_for(backends)
    facts: dict[str, Any] = {}
    cases = CASES
    if args.layers:
        wanted = set(args.layers.split(","))
        cases = [c for c in CASES if c.layer in wanted]
    start = time.perf_counter()
    results = run_cases(cases, args.flavors.split(","), backends=backends, facts=facts,
                        progress=lambda m: print(m, file=sys.stderr, flush=True))
    seconds = time.perf_counter() - start
    text = render(results, seconds, columns, facts)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text.splitlines()[4])
    from expected_keras import unexpected

    problems = [f"{r.key} [{c}] {why}: {r.cells.get(c, '')}" for r in results for c in columns
                if (why := unexpected(r.key, c, r.status(c), r.build_error))]
    print(f"{len(problems)} outcome(s) differ from expected_keras.py")
    for line in problems:
        print("  " + line)
    if args.record:
        args.record.write_text(json.dumps({
            "command": "python bench/conformance/keras_layers.py" + (f" {' '.join(argv or sys.argv[1:])}"),
            "wall_time_s": round(seconds, 1), "models": len(results),
            "summary": text.splitlines()[4], "unexpected": len(problems),
            "date_utc": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        }, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
