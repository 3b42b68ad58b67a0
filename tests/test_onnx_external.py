"""Weights in external data files are read once, at write time, one tensor at a time (models > 2 GB)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


from test_onnx import Builder  # noqa: E402

LAYERS = 6
WIDTH = 1024  # 6 weights of 1024 x 1024 float32: 24 MiB on disk


def big_model(folder: Path) -> Path:
    """An MLP (MatMul and transB Gemm weights) and a conv (a transposed filter), all weights external."""
    b = Builder(21)
    x = b.input("x", [2, WIDTH])
    h = x
    for layer in range(LAYERS):
        w = (b.rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)).astype(np.float32)
        if layer % 2:
            h = b.op("Gemm", [h, b.const(np.ascontiguousarray(w.T), f"weight_gemm{layer}")], transB=1)
        else:
            h = b.op("MatMul", [h, b.const(w, f"weight_matmul{layer}")])
        h = b.op("Tanh", [h])
    image = b.input("image", [1, 16, 8, 8])
    c = b.op("Relu", [b.conv(image, 16, 32, 3, pads=[1, 1, 1, 1])])
    model = b.model([h, c])
    path = folder / "big.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="big.data",
              size_threshold=1024)
    return path


@pytest.mark.node
def test_external_weights_are_read_once_and_memory_stays_modest(tmp_path, tfjs_runtime):
    path = big_model(tmp_path)
    weights_bytes = (tmp_path / "big.data").stat().st_size
    assert weights_bytes > LAYERS * WIDTH * WIDTH * 4
    code = f"""
import json, sys
import numpy as np
import tfjsconv
from tfjsconv.plugins.onnx import external
small = {str(tmp_path / 'small.onnx')!r}
import onnx
from onnx import helper, TensorProto
g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), small)
tfjsconv.convert(small, {str(tmp_path / 'warm')!r})  # every module imported before measuring
import threading, time, psutil
process = psutil.Process()
before = process.memory_info().rss
peak = [before]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.002)
sampler = threading.Thread(target=sample)
sampler.start()
tfjsconv.convert({str(path)!r}, {str(tmp_path / 'out')!r})  # every pass runs: none may read a weight twice
done.set()
sampler.join()
print(json.dumps({{"grew_kib": (peak[0] - before) // 1024, "reads": sorted(external.READS.values())}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts["reads"] and set(facts["reads"]) == {1}, facts  # every external tensor read exactly once
    assert len(facts["reads"]) == LAYERS + 1  # the six MLP weights and the conv filter (small biases are inline)
    # peak memory grows by much less than the weights (about one tensor at a time, not the model)
    assert facts["grew_kib"] * 1024 < weights_bytes / 2, (facts, weights_bytes)

    from tfjsconv.plugins.onnx.frontend import OnnxFrontend
    from tfjsconv.options import ConvertOptions
    from tfjsconv.verify.compare import format_report, verify_model

    rng = np.random.default_rng(3)
    inputs = {"x": rng.standard_normal((2, WIDTH)).astype(np.float32),
              "image": rng.standard_normal((1, 16, 8, 8)).astype(np.float32)}
    expected = OnnxFrontend().reference(path, inputs, ConvertOptions())
    report = verify_model(tmp_path / "out", inputs, expected, backends=("cpu", "wasm"), rtol=1e-5, quiet=True)
    assert report.passed, format_report(report)


def test_lazy_array_records_transposes_without_reading(tmp_path):
    from tfjsconv.plugins.onnx import external

    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    (tmp_path / "w.bin").write_bytes(b"\0" * 16 + array.tobytes())
    lazy = external.ExternalArray(tmp_path / "w.bin", 16, np.dtype(np.float32), (2, 3, 4))
    view = lazy.transpose(2, 0, 1).reshape(4, 6).astype(np.float32)
    assert view.shape == (4, 6) and external.READS.get((str(tmp_path / "w.bin"), 16)) is None
    np.testing.assert_array_equal(view.load(), array.transpose(2, 0, 1).reshape(4, 6))
    np.testing.assert_array_equal(np.asarray(lazy) * 2, array * 2)



