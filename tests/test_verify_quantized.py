"""``verify`` of quantized models: against the source and against the float32 twin (the same source
converted again without quantization), for --quantize_int8, a re-quantized TF.js graph model and a
quantized ONNX model; ``inspect`` lists each quantized weight with its scheme and bytes."""
from __future__ import annotations

import json

import numpy as np
import pytest

import tfjsconv
from tfjsconv.verify.compare import DEFAULT_RTOL
from tfjsconv.verify.source_check import verify_against_source

pytest.importorskip("onnxruntime")
from test_graph_model_input import _onnx_cnn  # noqa: E402

BACKENDS = ("cpu", "wasm")


def _scale_last(folder, suffix: str, factor: float) -> None:
    """Multiply the last float32 weight named ``*suffix`` by ``factor``, in place in the shards."""
    doc = json.loads((folder / "model.json").read_text())
    for group in doc["weightsManifest"]:
        paths = [folder / p for p in group["paths"]]
        sizes = [p.stat().st_size for p in paths]
        data = bytearray(b"".join(p.read_bytes() for p in paths))
        offset, target = 0, None
        for w in group["weights"]:
            n = int(np.prod(w["shape"])) * (1 if "quantization" in w else 4)  # uint8 or float32 here
            if w["name"].endswith(suffix) and "quantization" not in w:
                target = (offset, n)
            offset += n
        if target is not None:
            start, n = target
            values = np.frombuffer(bytes(data[start:start + n]), "<f4") * np.float32(factor)
            data[start:start + n] = values.astype("<f4").tobytes()
            for path, size in zip(paths, sizes):
                path.write_bytes(bytes(data[:size]))
                data = data[size:]
            return
    raise AssertionError(f"no float32 weight named *{suffix}")


def _errors(report) -> tuple[list[float], list[float]]:
    q = report.quantization
    assert q is not None and q.unavailable is None and q.passed
    assert all(c.max_rel_err < 1e-4 for c in q.float_comparisons)  # the conversion itself is right
    return [c.max_rel_err for c in report.comparisons], [c.max_rel_err for c in q.vs_float]


@pytest.mark.node
def test_int8_kernels_against_source_and_float32_twin(tmp_path, tfjs_runtime):
    source, feeds, _ = _onnx_cnn(tmp_path)
    tfjsconv.convert(source, tmp_path / "q", quantize_int8=True)
    report = verify_against_source(source, tmp_path / "q", inputs=feeds, backends=BACKENDS, quiet=True)
    assert report.passed and report.quantization.dtypes == ["int8"]
    vs_source, vs_float = _errors(report)
    assert len(vs_float) == 2 and all(0 < e < 3e-2 for e in vs_float)  # int8 costs something, not much
    assert vs_source == pytest.approx(vs_float, rel=0.2, abs=1e-5)


@pytest.mark.node
def test_requantized_graph_model_against_its_tfjs_source(tmp_path, tfjs_runtime):
    source, feeds, _ = _onnx_cnn(tmp_path)
    tfjsconv.convert(source, tmp_path / "float")
    tfjsconv.convert(tmp_path / "float", tmp_path / "q", quantize_uint16=True)
    report = verify_against_source(tmp_path / "float", tmp_path / "q", inputs=feeds, backends=BACKENDS, quiet=True)
    assert report.passed and report.quantization.dtypes == ["uint16"]
    _, vs_float = _errors(report)
    assert all(0 < e < 1e-3 for e in vs_float)


@pytest.mark.node
def test_quantized_onnx_source_costs_nothing_more(tmp_path, tfjs_runtime):
    """A QDQ model's weights are the source's own integers: the twin is the same model, and TF.js matches
    onnxruntime; inspect shows each weight as integers with the scale in the graph, at 1 byte each."""
    pytest.importorskip("onnxruntime.quantization")
    from onnx_models import quantize_static_qdq

    source, feeds, _ = _onnx_cnn(tmp_path)
    quantized = quantize_static_qdq(source, tmp_path / "qdq.onnx", {"x": (1, 3, 8, 8)})
    tfjsconv.convert(quantized, tmp_path / "q")
    report = verify_against_source(quantized, tmp_path / "q", inputs=feeds, backends=BACKENDS, quiet=True)
    assert report.passed and report.quantization.dtypes == ["int8"]
    assert report.quantization.from_source and report.quantization.rtol == DEFAULT_RTOL  # not the 10 % of uint8
    _, vs_float = _errors(report)
    assert vs_float == [0.0, 0.0]
    # A 5 % error in the converted model (one dequantization scale off) is a wrong conversion: it fails.
    _scale_last(tmp_path / "q", "/dequant_scale", 1.05)
    wrong = verify_against_source(quantized, tmp_path / "q", inputs=feeds, backends=BACKENDS, quiet=True)
    assert not wrong.passed
    assert all(1e-2 < c.max_rel_err < 1e-1 for c in wrong.comparisons)  # the old 10 % rule would have passed it
    from tfjsconv.inspect import inspect_model

    inspected = inspect_model(tmp_path / "q")
    rows = inspected["weights"]["quantized"]
    assert len(rows) == 3
    for row in rows:
        assert row["scheme"].startswith("integers: byte − 128") and row["bytes"] * 4 == row["unquantized_bytes"]
    json.dumps(inspected)  # the --json document stays serialisable
