"""Save once, check at two sizes: the fixture shape of the Keras lowering tests over unknown sizes.

A model whose inputs leave sizes unknown (``keras.Input((None, None, 3))``) is lowered to one TF.js graph that reads
those sizes at run time. Checking it at a single size would not catch a size baked in at conversion, so each model
is saved once with Keras's own outputs for inputs of two (or more) sizes, converted once with TensorFlow, Keras and
tf_keras poisoned (:func:`test_keras_lowering.saved_and_converted`), and the one converted model must match Keras
at every size on TF.js cpu and wasm (:func:`verify_runs`).

Use (``inputs_of(model, family, rng)`` gives the inputs of each run, a dict by input name)::

    converted = converted_fixture("label", CASES, two_size_saver(FAMILIES, inputs_of, seed=11))

    @pytest.mark.node
    @each_case(CASES)
    def test_...(converted, tfjs_runtime, family, flavor):
        path, runs, _ = converted[(family, flavor)]
        verify_runs(path, runs)
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keras_models import randomize
from test_keras_lowering import _module, _verify, case_file, saved_and_converted

#: One run: the model's inputs by name, and Keras's outputs for them (flat, in the model's output order).
Run = tuple[dict[str, np.ndarray], list[np.ndarray]]
#: ``inputs_of(model, family, rng)``: the inputs of each run, drawn from ``rng``.
InputsOf = Callable[[Any, str, np.random.Generator], Iterable[dict[str, np.ndarray]]]


def flat(tensors: Any) -> list:
    """``tensors`` as a flat list: Keras 3 nests a stacked RNN's states per cell, a single output is no list."""
    if not isinstance(tensors, (list, tuple)):
        return [tensors]
    return [t for item in tensors for t in flat(item)]


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


def verify_runs(path: Path, runs: list[Run]) -> None:
    """The model converted from ``path`` (at ``{path}.out``) matches Keras at every run, on TF.js cpu and wasm."""
    for inputs, outputs in runs:
        _verify(Path(f"{path}.out"), inputs, outputs)


def verify_last_run_on_webgl(path: Path, runs: list[Run], browser_session: Any) -> None:
    """The model converted from ``path`` matches Keras's last run on webgl, in the module's headless Chromium."""
    import json

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
    def converted(tmp_path_factory: pytest.TempPathFactory) -> dict:
        return saved_and_converted(tmp_path_factory, label, cases, save)

    return converted


def each_case(cases: list[tuple[str, str]]) -> pytest.MarkDecorator:
    """Parametrizes a test over ``(family, flavor)`` cases, with ids such as ``conv-keras3.keras``."""
    return pytest.mark.parametrize("family,flavor", cases, ids=[f"{f}-{v}" for f, v in cases])
