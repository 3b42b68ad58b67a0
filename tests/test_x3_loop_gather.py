"""``empty_gather`` inside a while loop: its ``Shape`` of a loop-invariant input runs outside the frame (task X3).

Keras RNN loops over a run-time length gather each step from the sequence, which the loop builder feeds into
the body without ``Enter`` (as it does for weights). ``empty_gather`` (wasm is a default target) reshapes that
gather to TF's shape with the sequence's dims read by a ``Shape`` of it: a node of the root frame feeding a
``Reshape`` in the body. TF.js schedules it before the loop; checked against Keras on cpu and wasm at two
batch sizes and lengths, and at an empty batch on wasm, the backend the rewrite is for.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import tfjsconv  # noqa: E402


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loop_gather")
    x = keras.Input((None, 3), name="x")
    model = keras.Model(x, keras.layers.SimpleRNN(2)(keras.layers.GRU(4, return_sequences=True)(x)))
    model.save(folder / "m.keras")
    tfjsconv.convert(folder / "m.keras", folder / "web", output_format="tfjs_graph_model")
    return model, folder / "web"


def test_the_shape_read_sits_outside_the_loop(converted):
    _, out = converted
    nodes = {n["name"]: n for n in json.loads((out / "model.json").read_text())["modelTopology"]["node"]}
    shapes = [n for name, n in nodes.items() if name.endswith("nonempty/before/dims")]
    assert shapes and all("while" not in n["input"][0] for n in shapes)


@pytest.mark.node
@pytest.mark.parametrize("shape, backends", [((2, 5, 3), ("cpu", "wasm")), ((1, 3, 3), ("cpu", "wasm")),
                                             ((0, 4, 3), ("wasm",))])
def test_the_loop_matches_keras(shape, backends, converted, tfjs_runtime):
    from tfjsconv.verify.compare import format_report, verify_model

    model, out = converted
    signature = json.loads((out / "model.json").read_text())["signature"]
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    expected = np.asarray(model(x))
    report = verify_model(out, {next(iter(signature["inputs"])): x}, {next(iter(signature["outputs"])): expected},
                          backends=backends, rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)
