"""Small ONNX graphs built with ``onnx.helper``, and the check every ONNX op test makes: convert with
tfjsconv, run in real TF.js and compare with onnxruntime on the same inputs (never with tfjsconv's own
interpreter)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("cpu", "wasm")


def onnx_model(path: Path, nodes: list, inputs: dict, outputs: list[str], *, opset: int | None = 18,
               initializers: dict | None = None, extra_opsets: tuple = (), name: str = "graph") -> Path:
    """Save a graph of ``nodes`` to ``path``: typed inputs (name -> (elem type, shape)), outputs typed by
    ONNX's shape inference, ``initializers`` from numpy arrays. ``opset=None`` imports no ai.onnx opset."""
    import onnx
    from onnx import helper, numpy_helper

    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()],
        [helper.make_empty_tensor_value_info(o) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in (initializers or {}).items()])
    opsets = [helper.make_opsetid("", opset)] if opset else []
    model = helper.make_model(graph, opset_imports=opsets + [helper.make_opsetid(d, v) for d, v in extra_opsets])
    model = onnx.shape_inference.infer_shapes(model)
    inferred = {v.name: v for v in model.graph.value_info}
    for out in model.graph.output:
        out.CopyFrom(inferred.get(out.name, out))
    onnx.save(model, str(path))
    return path


def onnxruntime_outputs(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """onnxruntime's outputs, as ``tfjsconv verify`` computes them (8-bit integer products exact on every CPU:
    ``plugins/onnx/exact_products.py``)."""
    from tfjsconv.plugins.onnx.reference import reference_session

    session = reference_session(path)
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def matches_onnxruntime(path: Path, feeds: dict[str, np.ndarray], out: Path, *, convert: bool = True,
                        backends: tuple[str, ...] | None = None, rtol: float = 1e-5, atol: float | None = None,
                        browser_session: Any = None, narrow_int64_feeds: bool = False,
                        **options: Any) -> dict[str, np.ndarray]:
    """Convert ``path`` into ``out`` (unless ``convert`` is false), run it in TF.js on ``backends`` (default:
    the conversion's ``target_backends``, else cpu and wasm) and assert every output matches onnxruntime's;
    returns onnxruntime's outputs."""
    import tfjsconv
    from tfjsconv.verify.compare import format_report, verify_model

    expected = onnxruntime_outputs(path, feeds)
    if convert:
        tfjsconv.convert(path, out, **options)
    if narrow_int64_feeds:  # TF.js holds int64 graph inputs as int32
        feeds = {k: (v.astype(np.int32) if v.dtype == np.int64 else v) for k, v in feeds.items()}
    extra: dict[str, Any] = {} if atol is None else {"atol": atol}
    if browser_session is not None:
        extra["browser_session"] = browser_session
    report = verify_model(out, feeds, expected, backends=backends or options.get("target_backends", BACKENDS),
                          rtol=rtol, quiet=True, **extra)
    assert report.passed, format_report(report)
    return expected


def quantize_static_qdq(source: Path, target: Path, feeds: dict[str, tuple[int, ...]], *, seed: int = 4,
                        batches: int = 4, per_channel: bool = True) -> Path:
    """``source`` quantized by onnxruntime (static QDQ), calibrated on ``batches`` random normal batches."""
    from onnxruntime import quantization

    rng = np.random.default_rng(seed)
    items = iter([{name: rng.standard_normal(shape).astype(np.float32) for name, shape in feeds.items()}
                  for _ in range(batches)])

    class Reader(quantization.CalibrationDataReader):
        def get_next(self):
            return next(items, None)

    quantization.quantize_static(str(source), str(target), Reader(), quant_format=quantization.QuantFormat.QDQ,
                                 per_channel=per_channel)
    return target
