"""The Keras acceptance matrix: big and small models x tf_keras .h5 / Keras 3 .keras / Keras 3 .h5.

    .venv/bin/python bench/keras_matrix.py [--models MobileNetV2,gru_text] [--flavors keras3.keras]

Each model is built with random weights (nothing downloaded), saved in each flavor (cached in
``bench/.cache/matrix/``) and converted to a layers model. If tfjsconv refuses that with its
"use --output_format=tfjs_graph_model" error, the model is converted to a graph model instead.
Either way the result runs in TF.js 4.22 (cpu and wasm) and must match Keras to
1e-5 x max|reference|. Prints one line per case (PASS/FAIL, the path taken, the error) and writes
``bench/results/keras_matrix.json``. Slow (minutes per big model on 2 cores); CI does not run it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # the same TF kernels on every CPU: tests/conftest.py says why
HERE = Path(__file__).parent
CACHE = HERE / ".cache" / "matrix"
FLAVORS = ("tf_keras.h5", "keras3.keras", "keras3.h5")
APPLICATIONS = ("MobileNetV2", "ResNet50", "EfficientNetB0", "DenseNet121")
RTOL = 1e-5


def _keras(flavor: str):
    import importlib

    return importlib.import_module("keras" if flavor.startswith("keras3") else "tf_keras")


def _lstm_text(k):
    L = k.layers
    inp = k.Input((40,), dtype="int32", name="tokens")
    x = L.Embedding(1000, 32)(inp)
    x = L.Bidirectional(L.LSTM(32, return_sequences=True))(x)
    x = L.LSTM(32)(x)
    return k.Model(inp, L.Dense(5, activation="softmax")(x))


def _gru_text(k):
    """GRU with Keras's default reset_after=True, which TF.js's layers API lacks."""
    L = k.layers
    inp = k.Input((40,), dtype="int32", name="tokens")
    x = L.Embedding(1000, 32)(inp)
    x = L.GRU(32, return_sequences=True)(x)
    x = L.GRU(16)(x)
    return k.Model(inp, L.Dense(3, activation="softmax")(x))


def _multi_io(k):
    L = k.layers
    image, meta = k.Input((32, 32, 3), name="image"), k.Input((8,), name="meta")
    x = L.Conv2D(16, 3, activation="relu")(image)
    x = L.BatchNormalization()(x)
    x = L.GlobalAveragePooling2D()(x)
    y = L.Dense(16, activation="tanh")(meta)
    z = L.Concatenate()([x, y])
    return k.Model([image, meta], [L.Dense(4, activation="softmax", name="label")(z),
                                   L.Dense(1, name="score")(z)])


BUILDERS = {**{name: (lambda k, n=name: getattr(k.applications, n)(weights=None)) for name in APPLICATIONS},
            "lstm_text": _lstm_text, "gru_text": _gru_text, "multi_io": _multi_io}


def _randomize(model, seed: int) -> None:
    """Random weights with sane scales (and random BatchNorm statistics), so outputs are not degenerate."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        name, shape = getattr(w, "path", None) or w.name, tuple(w.shape)
        if not np.issubdtype(np.asarray(w).dtype, np.floating):
            values.append(np.asarray(w))  # Normalization's int64 count
        elif "variance" in name:  # BatchNorm's moving_variance, Normalization's variance
            values.append(rng.uniform(0.5, 1.5, shape))
        elif "gamma" in name:
            values.append(1.0 + 0.1 * rng.standard_normal(shape))
        elif "moving_mean" in name or "beta" in name or "bias" in name:
            values.append(0.05 * rng.standard_normal(shape))
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else max(int(np.prod(shape)), 1)
            values.append(rng.standard_normal(shape) / np.sqrt(fan_in))
    model.set_weights([v.astype(np.asarray(w).dtype if hasattr(w, "__array__") else "float32")
                       for v, w in zip(values, model.weights)])


def _inputs(model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    result = {}
    for t in model.inputs:
        shape, name = (2, *tuple(t.shape)[1:]), str(t.name).split(":")[0]
        result[name] = (rng.integers(0, 1000, shape).astype("int32") if "int" in str(t.dtype)
                        else rng.uniform(-1, 1, shape).astype("float32"))
    return result


def prepare(model: str, flavor: str) -> tuple[Path, dict, dict]:
    """The saved file, its inputs and Keras's outputs (cached)."""
    folder = CACHE / f"{model}.{flavor}"
    path = folder / f"model{flavor[flavor.index('.'):]}"
    if not (folder / "io.npz").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        k = _keras(flavor)
        k.utils.set_random_seed(0)
        m = BUILDERS[model](k)
        _randomize(m, 0)
        inputs = _inputs(m, 1)
        m.save(path)
        # the reference is the saved file: a Keras 3 Normalization that was never adapted keeps
        # computing with its build-time statistics after set_weights, the file has the new ones
        m = k.models.load_model(path, compile=False)
        out = m.predict(list(inputs.values()) if len(inputs) > 1 else next(iter(inputs.values())), verbose=0)
        out = out if isinstance(out, list) else [out]
        names = [str(n) for n in m.output_names] if len(out) > 1 else ["output"]
        np.savez(folder / "io.npz", **{f"in:{k}": v for k, v in inputs.items()},
                 **{f"out:{n}": np.asarray(v) for n, v in zip(names, out)})
    data = np.load(folder / "io.npz")
    inputs = {k[3:]: data[k] for k in data.files if k.startswith("in:")}
    expected = {k[4:]: data[k] for k in data.files if k.startswith("out:")}
    return path, inputs, expected


def run_case(model: str, flavor: str, work: Path) -> dict:
    import tfjsconv
    from tfjsconv.errors import TfjsconvError
    from tfjsconv.verify.compare import verify_model

    case = {"model": model, "flavor": flavor}
    try:
        path, inputs, expected = prepare(model, flavor)
        out = work / f"{model}.{flavor}"
        start = time.perf_counter()
        try:
            tfjsconv.convert(path, out, overwrite=True)
            case["path"] = "layers"
        except TfjsconvError as err:
            if "--output_format=tfjs_graph_model" not in str(err):
                raise
            case["layers_refusal"] = str(err).splitlines()[0]
            tfjsconv.convert(path, out, overwrite=True, output_format="tfjs_graph_model")
            case["path"] = "graph (layers refused)"
        case["convert_s"] = round(time.perf_counter() - start, 2)
        if case["path"].startswith("graph") and len(inputs) == 1:
            names = list(json.loads((out / "model.json").read_text())["signature"]["inputs"])
            inputs = dict(zip(names, inputs.values()))
        report = verify_model(out, inputs, expected, backends=("cpu", "wasm"), rtol=RTOL, quiet=True)
        case["passed"] = report.passed
        case["max_rel_err"] = max((c.max_rel_err or 0.0) for c in report.comparisons)
        if not report.passed:
            case["error"] = "; ".join(f"{c.name}[{c.backend}]: {c.problem or c.max_rel_err}" for c in report.comparisons
                                      if not c.passed)[:500]
    except Exception as err:  # noqa: BLE001 - the matrix reports every failure and goes on
        case["passed"] = False
        case["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:400] if str(err) else ''}"
        if not isinstance(err, TfjsconvError):
            case["traceback"] = traceback.format_exc()[-1500:]
    return case


def _merge_results(path: Path, cases: list[dict]) -> None:
    """Replace this run's (model, flavor) rows in the results file and keep the others, in matrix order."""
    rows = {(c["model"], c["flavor"]): c for c in (json.loads(path.read_text()) if path.exists() else [])}
    rows.update({(c["model"], c["flavor"]): c for c in cases})
    order = {(m, f): i for i, (m, f) in enumerate((m, f) for m in BUILDERS for f in FLAVORS)}
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(sorted(rows.values(), key=lambda c: order.get((c["model"], c["flavor"]), 1 << 30)),
                               indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(BUILDERS))
    parser.add_argument("--flavors", default=",".join(FLAVORS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-keras-matrix-"))
    cases = []
    try:
        for model in args.models.split(","):
            for flavor in args.flavors.split(","):
                case = run_case(model, flavor, work)
                cases.append(case)
                status = "PASS" if case["passed"] else "FAIL"
                detail = case.get("error") or f"max rel err {case.get('max_rel_err', 0):.1e}"
                print(f"{status}  {model:<15} {flavor:<13} {case.get('path', '-'):<22} {detail}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _merge_results(HERE / "results" / "keras_matrix.json", cases)
    print(f"\n{sum(c['passed'] for c in cases)} of {len(cases)} cases pass")
    return 0 if all(c["passed"] for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
