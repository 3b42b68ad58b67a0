"""Weight bytes and output error of every quantization scheme, and of quantized ONNX models, on three models.

    .venv/bin/python bench/quantization.py [--backends cpu,wasm] [--batch 4]

Three torch models with random weights (nothing is downloaded), exported to ONNX: a CNN (convs,
BatchNorm, depthwise, Linear), a transformer encoder block (4-head self-attention, LayerNorm,
feed-forward) and a 2-layer LSTM with a Linear head. Each is converted with float32, ``--quantize_float16``,
``--quantize_uint16``, ``--quantize_uint8`` (the official converter's per-tensor schemes) and
``--quantize_int8`` (per-channel int8 conv/matmul kernels, the rest float32), run in real TF.js and
compared with onnxruntime on the float model. Then each model is quantized by ``onnxruntime.quantization``
(``quantize_dynamic``; for the CNN also ``quantize_static`` QDQ per channel), converted with no flag
(its 8-bit weights stay 1 byte, docs/quantization.md) and compared with onnxruntime running the
*quantized* model, in quantization steps of the output (the tests' rule: ``≤ 2`` steps) and relative
to max|ref|. Results: bench/results/quantization.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SCHEMES: dict[str, dict] = {
    "float32": {},
    "float16": {"quantize_float16": True},
    "uint16": {"quantize_uint16": True},
    "uint8": {"quantize_uint8": True},
    "int8 per-channel kernels": {"quantize_int8": True},
}


def models(batch: int, rng):
    """``(name, module, example input)`` for the three models."""
    import torch

    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 32, 3, padding=1, groups=32), torch.nn.Conv2d(32, 64, 1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        for m in cnn.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.1, 3.0)
                m.running_var.uniform_(0.05, 4.0)
                m.running_mean.normal_(0, 0.2)
    class Transformer(torch.nn.Module):
        """One post-norm encoder block: 4-head self-attention and a ReLU feed-forward (written out, so
        the legacy exporter emits plain MatMul/Softmax/LayerNormalization)."""

        def __init__(self, d: int = 64, heads: int = 4, ff: int = 128) -> None:
            super().__init__()
            self.heads = heads
            self.qkv, self.out = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
            self.ff1, self.ff2 = torch.nn.Linear(d, ff), torch.nn.Linear(ff, d)
            self.norm1, self.norm2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            attention = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1)
            x = self.norm1(x + self.out((attention @ v).transpose(1, 2).reshape(b, t, d)))
            return self.norm2(x + self.ff2(torch.relu(self.ff1(x))))

    transformer = Transformer()

    class Lstm(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(16, 32, num_layers=2, batch_first=True)
            self.head = torch.nn.Linear(32, 8)

        def forward(self, x):
            return self.head(self.lstm(x)[0])

    yield "torch CNN", cnn, rng.standard_normal((batch, 3, 32, 32)).astype("float32")
    yield "transformer block", transformer, rng.standard_normal((batch, 12, 64)).astype("float32")
    yield "LSTM", Lstm(), rng.standard_normal((batch, 10, 16)).astype("float32")


def export(module, x: np.ndarray, path: Path) -> Path:
    import torch

    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, (torch.from_numpy(x),), str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"])
    return path


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    """onnxruntime with one intra-op thread: with several, its DynamicQuantizeLSTM splits the batch among the
    threads and quantizes each part's hidden state with its own range (machine-dependent results)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def run_tfjs(out: Path, x: np.ndarray, backends, shape) -> dict[str, np.ndarray]:
    from tfjsconv.verify.run import run_model

    doc = json.loads((out / "model.json").read_text())
    run = run_model(out, {next(iter(doc["signature"]["inputs"])): x}, backends=backends, quiet=True)
    return {b: next(iter(run.outputs(b).values())).reshape(shape) for b in backends}


def errors(got: dict[str, np.ndarray], expected: np.ndarray, step: float | None = None) -> dict[str, float]:
    row = {}
    for backend, y in got.items():
        err = np.abs(y.astype(np.float64) - expected)
        row[f"{backend}_max_rel"] = float(err.max() / np.abs(expected).max())
        row[f"{backend}_mean_rel"] = float(err.mean() / np.abs(expected).mean())
        if step:
            row[f"{backend}_steps"] = float(err.max() / step)
    return row


def output_step(path: Path, expected: np.ndarray) -> float:
    """The scale of the DequantizeLinear producing the output, else one uint8 step of the output's range."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if "y" in node.output and node.op_type == "DequantizeLinear" and node.input[1] in inits:
            return float(np.max(numpy_helper.to_array(inits[node.input[1]])))
    return float(max(expected.max(), 0) - min(expected.min(), 0)) / 255


def quantized_variants(name: str, float_path: Path, x: np.ndarray, folder: Path):
    from onnxruntime import quantization

    dynamic = folder / f"{float_path.stem}-dynamic.onnx"
    quantization.quantize_dynamic(str(float_path), str(dynamic), op_types_to_quantize=["MatMul", "Gemm", "Conv"])
    yield "ORT quantize_dynamic (MatMul, Gemm, Conv)", dynamic
    if name == "LSTM":  # every op onnxruntime quantizes: the LSTM becomes its contrib op DynamicQuantizeLSTM
        lstm = folder / f"{float_path.stem}-dynamic-lstm.onnx"
        quantization.quantize_dynamic(str(float_path), str(lstm))
        yield "ORT quantize_dynamic (all, DynamicQuantizeLSTM)", lstm
    if name == "torch CNN":
        class Calibration(quantization.CalibrationDataReader):
            def __init__(self) -> None:
                rng = np.random.default_rng(7)
                self.items = iter([{"x": rng.standard_normal(x.shape).astype(np.float32)} for _ in range(8)])

            def get_next(self):
                return next(self.items, None)

        reader = Calibration()
        static = folder / f"{float_path.stem}-qdq.onnx"
        quantization.quantize_static(str(float_path), str(static), reader, quant_format=quantization.QuantFormat.QDQ,
                                     per_channel=True)
        yield "ORT quantize_static QDQ per-channel", static


def measure(name: str, module, x: np.ndarray, folder: Path, backends) -> list[dict]:
    import tfjsconv

    float_path = export(module, x, folder / f"{name.replace(' ', '_')}.onnx")
    expected = ort_run(float_path, x).astype(np.float64)
    rows = []
    for scheme, flags in SCHEMES.items():
        out = folder / f"{float_path.stem}-{len(rows)}"
        report = tfjsconv.convert(float_path, out, **flags).facts["weights"]
        row = {"model": name, "scheme": scheme, "source": "float ONNX", "bytes": report.total_bytes,
               "worst_weight_rel_err": max((q.max_rel_error for q in report.quantized), default=0.0),
               **errors(run_tfjs(out, x, backends, expected.shape), expected)}
        rows.append(row)
        print(row, file=sys.stderr)
    for variant, path in quantized_variants(name, float_path, x, folder):
        reference = ort_run(path, x).astype(np.float64)
        out = folder / f"{path.stem}-out"
        report = tfjsconv.convert(path, out).facts["weights"]
        one_byte = sum(q.bytes_after for q in report.quantized)
        row = {"model": name, "scheme": variant, "source": "quantized ONNX", "bytes": report.total_bytes,
               "one_byte_weight_bytes": one_byte, "notes": report.notes,
               "vs_float_model": errors({"cpu": run_tfjs(out, x, ("cpu",), reference.shape)["cpu"]}, expected),
               **errors(run_tfjs(out, x, backends, reference.shape), reference, output_step(path, reference))}
        rows.append(row)
        print(row, file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="cpu,wasm")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    backends = tuple(args.backends.split(","))
    rng = np.random.default_rng(0)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, module, x in models(args.batch, rng):
            rows += measure(name, module, x, Path(tmp), backends)
    command = "`.venv/bin/python bench/quantization.py " + " ".join(sys.argv[1:])
    command = command.strip() + "`"
    date = time.strftime("%Y-%m-%d")
    results = HERE / "results"
    (results / "quantization.json").write_text(json.dumps({"command": command, "date": date, "rows": rows}, indent=1))
    b = backends[0]
    lines = ["# Quantization: size and output error per scheme, and quantized ONNX models", "",
             f"{command} ({date}). Output error is TF.js ({', '.join(backends)}; {b} shown, the others in the JSON) "
             "over a random batch, as max abs err / max\\|ref\\|. Reference: onnxruntime on the float model for "
             "the flags; onnxruntime on the *quantized* model for the quantized-ONNX rows (also in output "
             "quantization steps: the tests allow 1 step for a quantized output, with ≥ 99 % of elements equal, "
             "and 1e-5 · max\\|y\\| for a float one; `vs float` is the same TF.js output against the float "
             "model, i.e. what onnxruntime's quantization cost). Bytes: all weight shards.", "",
             f"| model | scheme | weight bytes | worst weight rel err | {b} max err / max\\|ref\\| | "
             f"{b} mean err / mean\\|ref\\| | steps | vs float |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        quantized_source = r["source"] == "quantized ONNX"
        lines.append(f"| {r['model']} | {r['scheme']} | {r['bytes']:,} | "
                     f"{'exact' if quantized_source else format(r['worst_weight_rel_err'], '.2e')} | "
                     f"{r[f'{b}_max_rel']:.2e} | {r[f'{b}_mean_rel']:.2e} | "
                     f"{format(r[f'{b}_steps'], '.2f') if quantized_source else ''} | "
                     f"{format(r['vs_float_model']['cpu_max_rel'], '.2e') if quantized_source else ''} |")
    (results / "quantization.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
