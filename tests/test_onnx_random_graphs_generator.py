"""The random ONNX graph hunter (``bench/onnx_random_graphs.py``) draws valid graphs: checked by ONNX's checker
and run by onnxruntime, reproducibly from the seed. No TF.js: a cheap guard that the bench still works."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import onnx_random_graphs as hunter  # noqa: E402


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_drawn_graphs_are_valid_and_reproducible(index):
    graph = hunter.draw_graph(3001, index)
    model = hunter.build_model(graph, graph["nodes"], graph["inits"], graph["outputs"])
    onnx.checker.check_model(model)
    outputs = hunter.run_onnxruntime(model, graph["feeds"])
    assert 3 <= len(graph["steps"]) <= 10 and 13 <= graph["opset"] <= 18
    assert set(outputs) == set(graph["outputs"]) and all(v.size for v in outputs.values())
    again = hunter.draw_graph(3001, index)
    assert again["steps"] == graph["steps"]
    assert all(np.array_equal(again["feeds"][k], v, equal_nan=True) for k, v in graph["feeds"].items())
