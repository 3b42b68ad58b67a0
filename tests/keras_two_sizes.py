"""Save once, check at two sizes: the fixture shape of the Keras lowering tests over unknown sizes.

A model whose inputs leave sizes unknown (``keras.Input((None, None, 3))``) is lowered to one TF.js graph that reads
those sizes at run time. Checking it at a single size would not catch a size baked in at conversion, so each model
is saved once with Keras's own outputs for inputs of two (or more) sizes, converted once with TensorFlow, Keras and
tf_keras poisoned (:func:`test_keras_lowering.saved_and_converted`), and the one converted model must match Keras
at every size on TF.js cpu and wasm (:func:`verify_runs`). The fixture runs every run of every case in one Node
process (:func:`run_batched`: a process per run cost ~1 s each, most of these tests' time); ``verify_runs`` compares
those outputs as ``verify_model`` does and runs a run again alone, in the verify runner, where the batch did not run
it cleanly or it did not match, so a failure reads as before.

Use (``inputs_of(model, family, rng)`` gives the inputs of each run, a dict by input name)::

    converted = converted_fixture("label", CASES, two_size_saver(FAMILIES, inputs_of, seed=11))

    @pytest.mark.node
    @each_case(CASES)
    def test_...(converted, tfjs_runtime, family, flavor):
        path, runs, _ = converted[(family, flavor)]
        verify_runs(path, runs)
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keras_models import randomize
from test_keras_lowering import RTOL, _module, _verify, case_file, saved_and_converted
from tfjsconv.verify.compare import DEFAULT_ELEM_FLOOR

#: One run: the model's inputs by name, and Keras's outputs for them (flat, in the model's output order).
Run = tuple[dict[str, np.ndarray], list[np.ndarray]]
#: ``inputs_of(model, family, rng)``: the inputs of each run, drawn from ``rng``.
InputsOf = Callable[[Any, str, np.random.Generator], Iterable[dict[str, np.ndarray]]]


def flat(tensors: Any) -> list:
    """``tensors`` as a flat list: Keras 3 nests a stacked RNN's states per cell, a single output is no list."""
    if not isinstance(tensors, (list, tuple)):
        return [tensors]
    return [t for item in tensors for t in flat(item)]


def under_policy(k: Any, name: str, build: Callable[[], Any]) -> Any:
    """``build()`` under Keras's global dtype policy ``name`` (``mixed_float16``: Inputs stay float32, layers compute
    in float16), set back to float32 after."""
    setter = k.config.set_dtype_policy if k.__name__ == "keras" else k.mixed_precision.set_global_policy
    setter(name)
    try:
        return build()
    finally:
        setter("float32")


def keras_outputs(model: Any, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Keras's own ``model(x, training=False)`` for ``inputs`` (in the model's input order): the expected values."""
    values = list(inputs.values())
    return [np.asarray(o) for o in flat(model(values if len(values) > 1 else values[0], training=False))]


def two_size_saver(families: dict[str, Callable], inputs_of: InputsOf, seed: int):
    """A ``save`` for :func:`test_keras_lowering.saved_and_converted`: the family's model (Keras 3 or tf_keras by
    ``flavor``) with random weights (``seed``), Keras's outputs for each run ``inputs_of(model, family, rng)`` gives
    (``rng`` seeded ``seed + 1``), then saved once as ``flavor``. Returns ``(path, runs, None)``."""
    def save(family: str, flavor: str, folder: Path) -> tuple[Path, list[Run], None]:
        model = families[family](_module(flavor))
        randomize(model, seed)
        rng = np.random.default_rng(seed + 1)
        runs = [(inputs, keras_outputs(model, inputs)) for inputs in inputs_of(model, family, rng)]
        path = case_file(folder, family, flavor)
        model.save(path)
        return path, runs, None

    return save


def saved_runs(model: Any, path: Path, inputs: list[dict[str, np.ndarray]], load: Callable | None) -> list[Run]:
    """``model`` saved at ``path`` with Keras's outputs for each of ``inputs``; where ``load`` (Keras's
    ``load_model``) is given, the file loaded again must give the same outputs (1e-6): what Keras runs from the file
    is what the converted model is checked against."""
    model.save(path)
    runs = [(run, keras_outputs(model, run)) for run in inputs]
    if load is not None:
        loaded = load(path)
        for run, outputs in runs:
            for mine, theirs in zip(outputs, keras_outputs(loaded, run), strict=True):
                np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)
    return runs


def rename_classes(path: Path, renamed: dict[str, str]) -> None:
    """Give the layers named in ``renamed`` another class name in the ``.h5`` file at ``path`` (a class tf_keras
    saves under another name, e.g. ``BatchNormalizationV1``, with the same config and weights)."""
    import h5py

    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        for entry in config["config"]["layers"]:
            if entry["config"].get("name") in renamed:
                entry["class_name"] = renamed[entry["config"]["name"]]
        f.attrs["model_config"] = json.dumps(config)


def normal_inputs_at(sizes: dict[str, list[list[tuple[int, ...]]]]) -> InputsOf:
    """An ``inputs_of`` for runs given as shapes: ``sizes[family]`` lists each run's shape of every model input
    (batch included, in the model's input order); the values are standard normal float32."""
    def inputs_of(model: Any, family: str, rng: np.random.Generator) -> Iterable[dict[str, np.ndarray]]:
        names = [t.name.split(":")[0] for t in model.inputs]
        for shapes in sizes[family]:
            yield {name: rng.standard_normal(shape).astype("float32")
                   for name, shape in zip(names, shapes, strict=True)}

    return inputs_of


def at_runs(inputs: Callable[..., dict[str, np.ndarray]], runs: Sequence | dict[str, Sequence]) -> InputsOf:
    """An ``inputs_of`` for runs given as parameters: ``inputs(model, rng, *run)`` for each ``run`` of ``runs``
    (one sequence for every family, or a dict of them by family)."""
    def inputs_of(model: Any, family: str, rng: np.random.Generator) -> Iterable[dict[str, np.ndarray]]:
        return (inputs(model, rng, *run) for run in (runs[family] if isinstance(runs, dict) else runs))

    return inputs_of


#: The TF.js repository's batch runner: many converted models in one Node process (``bench/conformance``).
BATCH_RUNNER = Path(__file__).resolve().parents[1] / "bench" / "conformance" / "batch_runner.mjs"
#: What :func:`run_batched` got, by ``(model folder, id(run inputs))``: the inputs and each backend's outputs.
_BATCHED: dict[tuple[str, int], tuple[dict, dict[str, dict[str, np.ndarray]]]] = {}


def _signature(path: Path) -> dict:
    return json.loads((Path(f"{path}.out") / "model.json").read_text())["signature"]


def _named(path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``inputs`` by the names the runner is given: a single input by the signature's name (as ``_verify``)."""
    names = list(_signature(path)["inputs"])
    return dict(zip(names, inputs.values(), strict=True)) if len(inputs) == 1 else inputs


def _runs_of(value: tuple) -> tuple[Path, list[Run]]:
    """A saved case's runs: ``(path, runs, _)``, or ``(path, inputs, outputs)`` as one run; none if neither."""
    path, second, third = value
    if isinstance(second, dict) and isinstance(third, list):
        return path, [(second, third)]
    if isinstance(second, list) and all(isinstance(r, tuple) and len(r) == 2 and isinstance(r[0], dict)
                                        for r in second):
        return path, second
    return path, []


def run_batched(saved: dict) -> list[tuple[str, int]]:
    """Every run of every converted case of ``saved`` (``{case: (path, runs, _)}``, or ``(path, inputs, outputs)``
    for one run) in ONE Node process, cpu then wasm (one process per run costs ~1 s each: most of a lowering test's
    time). The outputs are kept for :func:`verify_runs`, which compares them as ``verify_model`` does; a run the
    batch did not run cleanly is run again alone there, so a failure is reported by the verify runner itself.
    Returns the keys it kept."""
    import subprocess
    import tempfile

    from tfjsconv.verify.runtime import ensure_runtime, find_node

    cases = [(path, runs) for path, runs in map(_runs_of, saved.values())
             if runs and (Path(f"{path}.out") / "model.json").is_file()]
    if not cases or not BATCH_RUNNER.is_file():
        return []
    work = Path(tempfile.mkdtemp(prefix="batch-", dir=Path(cases[0][0]).parent))
    jobs, kept = [], {}
    for path, runs in cases:
        for inputs, _ in runs:
            job = f"job{len(jobs)}"
            try:
                specs = _input_specs(work, job, _named(path, inputs))
            except Exception:  # noqa: BLE001 - e.g. int64 past int32: the verify runner reports it for this run alone
                continue
            jobs.append({"id": job, "model_dir": str(Path(f"{path}.out")), "output_dir": str(work / job),
                         "inputs": specs})
            kept[job] = (str(path), inputs)
    if not jobs:
        return []
    request = work / "request.json"
    try:
        request.write_text(json.dumps({"runtime_dir": str(ensure_runtime(quiet=True)), "backends": ["cpu", "wasm"],
                                       "jobs": jobs}))
        proc = subprocess.run([find_node(), str(BATCH_RUNNER), str(request)], capture_output=True, text=True,
                              timeout=120 + 10 * len(jobs), stdin=subprocess.DEVNULL)
    except Exception:  # noqa: BLE001 - no Node, a timeout: each run goes through the verify runner alone
        return []
    return _keep_outputs(proc.stdout, kept)


def _input_specs(work: Path, job: str, named: dict) -> list[dict]:
    """The batch runner's input files for one run, encoded as ``verify_model`` feeds them."""
    from tfjsconv.verify.run import _tfjs_dtype_name, _write_array, to_tfjs_array

    specs = []
    for i, (name, value) in enumerate(named.items()):
        array = to_tfjs_array(name, value)
        dtype = _tfjs_dtype_name(array)
        file = work / f"{job}-input{i}.{'json' if dtype == 'string' else 'bin'}"
        _write_array(file, array, dtype)
        specs.append({"name": name, "dtype": dtype, "shape": list(array.shape), "file": str(file)})
    return specs


def batched(saved: dict) -> dict:
    """``saved`` (from :func:`test_keras_lowering.saved_and_converted`) after :func:`run_batched`: for a module's own
    ``converted`` fixture."""
    run_batched(saved)
    return saved


def _keep_outputs(stdout: str, kept: dict[str, tuple[str, dict]]) -> list[tuple[str, int]]:
    from tfjsconv.verify.run import _read_array

    got: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for line in stdout.splitlines():
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        if doc.get("event") == "done" and doc.get("ok") and doc.get("id") in kept:
            got.setdefault(doc["id"], {})[doc["backend"]] = {
                out["name"]: _read_array(Path(out["file"]), out["dtype"], list(out["shape"]))
                for out in doc["outputs"]}
    keys = []
    for job, backends in got.items():
        path, inputs = kept[job]
        if set(backends) == {"cpu", "wasm"}:
            keys.append((path, id(inputs)))
            _BATCHED[keys[-1]] = (inputs, backends)
    return keys


def _batched_pass(path: Path, inputs: dict, outputs: list[np.ndarray], rtol: float, elem_floor: float) -> bool:
    """Whether the batch's outputs for this run match Keras as ``verify_model`` would judge them (cpu and wasm, the
    same tolerances and element rule); False when the batch has no clean run of it."""
    from tfjsconv.verify.compare import DEFAULT_ATOL, DEFAULT_ELEM_RTOL, compare

    entry = _BATCHED.get((str(path), id(inputs)))
    if entry is None or entry[0] is not inputs:
        return False
    names = list(_signature(path)["outputs"])
    if len(names) != len(outputs):
        return False
    expected = dict(zip(names, outputs, strict=True))
    for backend, got in entry[1].items():
        found = compare(got, expected, rtol=rtol, atol=DEFAULT_ATOL, backend=backend, elem_rtol=DEFAULT_ELEM_RTOL,
                        elem_floor=elem_floor)
        if not (found and all(c.passed for c in found)):
            return False
    return True


def verify_runs(path: Path, runs: list[Run]) -> None:
    """The model converted from ``path`` (at ``{path}.out``) matches Keras at every run, on TF.js cpu and wasm (from
    the module's batch where it ran cleanly and matched, else in the verify runner's own process)."""
    for inputs, outputs in runs:
        if not _batched_pass(path, inputs, outputs, RTOL, DEFAULT_ELEM_FLOOR):
            _verify(Path(f"{path}.out"), inputs, outputs)


def verify_runs_within(path: Path, runs: list[Run], rtol: float = 1e-2, elem_floor: float = 1e-2) -> None:
    """The model converted from ``path`` is within ``rtol`` of Keras at every run on TF.js cpu and wasm, elements
    below ``elem_floor`` of the largest value not held to the relative rule: float16 kernels TF rounds otherwise."""
    from tfjsconv.verify.compare import format_report, verify_model

    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    for inputs, outputs in runs:
        if _batched_pass(path, inputs, outputs, rtol, elem_floor):
            continue
        report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("cpu", "wasm"),
                              rtol=rtol, elem_floor=elem_floor, quiet=True)
        assert report.passed, format_report(report)


def signature_dtypes(path: Path, skip_int32_inputs: bool = False) -> set[str]:
    """The dtypes of the converted model's inputs and outputs (an Embedding's int32 ids left out on request): a
    float16/float64 Keras model is served as float32."""
    signature = json.loads((Path(f"{path}.out") / "model.json").read_text())["signature"]
    inputs = [t for t in signature["inputs"].values() if not (skip_int32_inputs and t["dtype"] == "DT_INT32")]
    return {t["dtype"] for t in [*inputs, *signature["outputs"].values()]}


def normal_at_scale(tensor: Any, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A batch of two of ``tensor``'s shape, standard normal times ``scale`` (float32)."""
    return (scale * rng.standard_normal((2, *tuple(tensor.shape)[1:]))).astype("float32")


def scaled_saver(families: dict[str, Callable], seed: int, scales: Callable[[str], Sequence[float]],
                 input_at: Callable[[Any, float, np.random.Generator], np.ndarray] = normal_at_scale):
    """A ``save`` for float-width families: the family's model with random weights (``seed``), Keras's outputs
    (float16/float64 ones as float32) for inputs ``input_at(tensor, scale, rng)`` at each of ``scales(family)``
    (``rng`` seeded ``seed + 1``), saved once as ``flavor``. Returns ``(path, runs, None)``."""
    def save(family: str, flavor: str, folder: Path) -> tuple[Path, list[Run], None]:
        model = families[family](_module(flavor))
        randomize(model, seed)
        rng = np.random.default_rng(seed + 1)
        runs = []
        for scale in scales(family):
            inputs = {t.name.split(":")[0]: input_at(t, scale, rng) for t in model.inputs}
            runs.append((inputs, [o.astype(np.float32) for o in keras_outputs(model, inputs)]))
        path = case_file(folder, family, flavor)
        model.save(path)
        return path, runs, None

    return save


def verify_last_run_on_webgl(path: Path, runs: list[Run], browser_session: Any) -> None:
    """The model converted from ``path`` matches Keras's last run on webgl, in the module's headless Chromium."""
    from tfjsconv.verify.compare import format_report, verify_model

    out = Path(f"{path}.out")
    names = list(json.loads((out / "model.json").read_text())["signature"]["outputs"])
    inputs, outputs = runs[-1]
    report = verify_model(out, inputs, dict(zip(names, outputs, strict=True)), backends=("webgl",), rtol=1e-5,
                          atol=1e-6, browser_session=browser_session, quiet=True)
    assert report.passed, format_report(report)


def converted_fixture(label: str, cases: list[tuple[str, str]], save):
    """The module-scoped fixture ``converted`` (assign it to that name): every ``(family, flavor)`` case saved once
    by ``save`` and converted once, TensorFlow poisoned (:func:`test_keras_lowering.saved_and_converted`), shared
    by the module's tests; keyed by case, each ``(path, runs, None)``."""
    @pytest.fixture(scope="module", name="converted")
    def converted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
        saved = saved_and_converted(tmp_path_factory, label, cases, save)
        kept = run_batched(saved)
        yield saved
        for key in kept:
            _BATCHED.pop(key, None)

    return converted


def each_case(cases: list[tuple[str, str]]) -> pytest.MarkDecorator:
    """Parametrizes a test over ``(family, flavor)`` cases, with ids such as ``conv-keras3.keras``."""
    return pytest.mark.parametrize("family,flavor", cases, ids=[f"{f}-{v}" for f, v in cases])
