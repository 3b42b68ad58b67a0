"""Bounded memory: an ONNX model with ~200 MB of external data converts in far less than its size.

The same generator as ``bench/large_onnx_memory.py`` (which measures the ~2.5 GB version); the
conversion runs in a fresh interpreter that reports its own peak RSS, file pages mapped from the
external data included.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

BENCH = Path(__file__).resolve().parent.parent / "bench" / "large_onnx_memory.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("large_onnx_memory", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_external_data_streams_with_bounded_rss(tmp_path):
    bench = _bench_module()
    width = 2048  # 16 MiB per weight, 12 weights: ~200 MB
    model = bench.generate(tmp_path / "src", 200_000_000, width=width)
    weights_bytes = (tmp_path / "src" / bench.DATA_FILE).stat().st_size
    assert weights_bytes >= 190_000_000

    result = bench.measure(model, tmp_path / "out")
    assert result["exit_code"] == 0
    growth = result["peak_rss_bytes"] - result["baseline_rss_bytes"]
    # Streaming holds about one weight (plus its encoded chunk), never the model: allow 4 weights.
    assert growth < 4 * width * width * 4, (
        f"converting {weights_bytes / 1e6:.0f} MB of external weights raised peak RSS by {growth / 1e6:.0f} MB")

    # and the output is the model: every byte written, the first weight identical to its source
    from tfjsconv.weights import load_manifest_weights

    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    assert sum(p.stat().st_size for p in (tmp_path / "out").glob("*.bin")) == weights_bytes
    first = load_manifest_weights(doc["weightsManifest"], tmp_path / "out", names=["w0"])["w0"]
    source = np.fromfile(tmp_path / "src" / bench.DATA_FILE, dtype="<f4", count=width * width).reshape(width, width)
    np.testing.assert_array_equal(first, source)
