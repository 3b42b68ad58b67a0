"""ONNX RNNs over a dynamic sequence length (TF v1 while loops, issue 16 / P1): outputs collected in a TensorList.

Batch-first ``layout=1`` (a joint bidirectional LSTM and a reverse GRU): each loop writes its step's output at its
time step and gathers the list once after the loop (time-major, then laid out as ONNX's batch-first ``Y``). onnxruntime
refuses ``layout=1`` ("Batchwise recurrent operations (layout == 1) are not supported"), so the expected values come
from ONNX's own reference implementation; one converted model, two lengths, TF.js cpu and wasm.
"""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

import tfjsconv  # noqa: E402
from test_onnx import Builder, ops_of, save  # noqa: E402


def batch_first_rnns() -> onnx.ModelProto:
    b = Builder(17)
    x = b.input("x", [2, "time", 3])
    h = 4
    w = lambda *shape: b.weight(*shape, scale=0.4)  # noqa: E731
    lstm = b.op("LSTM", [x, w(2, 4 * h, 3), w(2, 4 * h, h), w(2, 8 * h)], outputs=3, hidden_size=h,
                direction="bidirectional", layout=1)
    gru = b.op("GRU", [x, w(1, 3 * h, 3), w(1, 3 * h, h)], outputs=2, hidden_size=h, direction="reverse", layout=1)
    return b.model([lstm, lstm + "_1", lstm + "_2", gru, gru + "_1"], opset=14)


@pytest.mark.node
def test_batch_first_loops_gather_their_outputs_and_match_onnx(tmp_path, tfjs_runtime):
    from onnx.reference import ReferenceEvaluator

    from tfjsconv.verify.compare import format_report, verify_model

    model = batch_first_rnns()
    path = save(model, tmp_path, "batch_first")
    tfjsconv.convert(path, tmp_path / "out")
    ops = ops_of(tmp_path / "out")
    assert ops.count("LoopCond") == 2 and ops.count("TensorListSetItem") == ops.count("TensorListGather") == 2
    reference = ReferenceEvaluator(model)
    names = [o.name for o in model.graph.output]
    for length in (5, 2):
        x = np.random.default_rng(length).standard_normal((2, length, 3)).astype(np.float32)
        expected = dict(zip(names, reference.run(None, {"x": x}), strict=True))
        report = verify_model(tmp_path / "out", {"x": x}, expected, backends=("cpu", "wasm"), rtol=1e-5, quiet=True)
        assert report.passed, format_report(report)
