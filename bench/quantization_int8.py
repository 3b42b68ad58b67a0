"""Per-tensor uint8 vs per-channel int8 (``--quantize_int8``) at the same size: weight bytes and output error.

    .venv/bin/python bench/quantization_int8.py [--backends cpu,wasm] [--batch 4]

Models are built here with random weights (nothing is downloaded): a tf_keras MobileNetV2
(alpha 0.35, 96x96) and a small residual CNN, both with random BatchNorm statistics (so the folded
kernels have the per-channel spread trained nets have), converted to graph models from .h5; and a
torch CNN exported to ONNX. Each is converted six ways: float32; ``--quantize_uint8`` (every
weight per-tensor affine uint8, the official converter's scheme); ``--quantize_int8 --quantize_uint8``
(conv/matmul kernels per-channel int8, every other weight per-tensor uint8: the same bytes per
weight); the same with float16 for the rest; and, to isolate the kernels, only the conv/matmul kernels as int8 per channel or as uint8
per tensor (the rest float32, same bytes). Outputs run in real TF.js and are compared with the source framework (Keras / onnxruntime):
max abs err / max|ref| and mean abs err / mean|ref|. Results: bench/results/quantization_int8.{json,md}.
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
SCHEMES: dict[str, dict | str] = {
    "float32": {},
    "all uint8 per-tensor": {"quantize_uint8": True},
    "int8 per-channel kernels + uint8 rest": {"quantize_int8": True, "quantize_uint8": True},
    "int8 per-channel kernels + float16 rest": {"quantize_int8": True, "quantize_float16": True},
    "int8 per-channel kernels, rest float32": {"quantize_int8": True},
    "uint8 per-tensor kernels, rest float32": "kernels",
}


def _randomize(model, rng) -> None:
    for w in model.weights:
        name = w.name.lower()
        shape = w.shape
        if "moving_variance" in name:
            values = rng.uniform(0.05, 4.0, shape)
        elif "gamma" in name:
            values = rng.uniform(0.1, 3.0, shape)
        elif "beta" in name or "moving_mean" in name or "bias" in name:
            values = rng.normal(0.0, 0.2, shape)
        else:
            continue  # kernels keep Keras' random initializer
        w.assign(values.astype("float32"))


def keras_models(folder: Path, rng, batch: int):
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    mobilenet = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=100)
    inp = keras.Input((64, 64, 3))
    h = keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(inp)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
    for filters in (32, 64, 64):
        skip = h if h.shape[-1] == filters else keras.layers.Conv2D(filters, 1, use_bias=False)(h)
        r = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(h)
        r = keras.layers.ReLU()(keras.layers.BatchNormalization()(r))
        r = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(r)
        r = keras.layers.BatchNormalization()(r)
        h = keras.layers.ReLU()(keras.layers.Add()([skip, r]))
    h = keras.layers.GlobalAveragePooling2D()(h)
    resnet = keras.Model(inp, keras.layers.Dense(10)(h))
    for name, model in (("keras MobileNetV2 0.35", mobilenet), ("keras ResNet-ish", resnet)):
        _randomize(model, rng)
        path = folder / f"{name.replace(' ', '_')}.h5"
        model.save(path)
        x = rng.standard_normal((batch, *model.input_shape[1:])).astype("float32")
        yield name, path, "tfjs_graph_model", x, model(x).numpy()


def onnx_model(folder: Path, rng, batch: int):
    import onnxruntime as ort
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 32, 3, padding=1, groups=32), torch.nn.Conv2d(32, 64, 1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.1, 3.0)
                m.running_var.uniform_(0.05, 4.0)
                m.running_mean.normal_(0, 0.2)
    net.eval()
    x = rng.standard_normal((batch, 3, 32, 32)).astype("float32")
    path = folder / "torch_cnn.onnx"
    torch.onnx.export(net, (torch.from_numpy(x),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"])
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    yield "ONNX torch CNN", path, None, x, expected


def measure(name, path, output_format, x, expected, folder: Path, backends) -> list[dict]:
    import tfjsconv
    from tfjsconv.verify.run import run_model

    rows = []
    kernels: list[str] = []
    for scheme, flags in SCHEMES.items():
        if flags == "kernels":  # the kernels --quantize_int8 picked (known from the previous row's report)
            flags = {"quantize_uint8": kernels}
        out = folder / f"{path.stem}-{len(rows)}"
        kwargs = dict(flags, output_format=output_format) if output_format else dict(flags)
        report = tfjsconv.convert(path, out, **kwargs).facts["weights"]
        kernels = kernels or [q.name for q in report.quantized if q.dtype == "int8"]
        if report.notes:
            print(f"{name} {scheme}: " + "; ".join(report.notes), file=sys.stderr)
        doc = json.loads((out / "model.json").read_text())
        inputs = list(doc["signature"]["inputs"])
        run = run_model(out, {inputs[0]: x}, backends=backends, quiet=True)
        row = {"model": name, "scheme": scheme, "bytes": report.total_bytes,
               "worst_weight_rel_err": max((q.max_rel_error for q in report.quantized), default=0.0)}
        for backend in backends:
            got = next(iter(run.outputs(backend).values())).reshape(expected.shape)
            err = np.abs(got.astype(np.float64) - expected)
            row[f"{backend}_max_rel"] = float(err.max() / np.abs(expected).max())
            row[f"{backend}_mean_rel"] = float(err.mean() / np.abs(expected).mean())
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
        folder = Path(tmp)
        for model in (*keras_models(folder, rng, args.batch), *onnx_model(folder, rng, args.batch)):
            rows += measure(*model, folder, backends)
    command = "  ".join(["`.venv/bin/python bench/quantization_int8.py " + " ".join(sys.argv[1:])]).strip() + "`"
    date = time.strftime("%Y-%m-%d")
    results = HERE / "results"
    (results / "quantization_int8.json").write_text(json.dumps({"command": command, "date": date, "rows": rows},
                                                               indent=1))
    b = backends[0]
    lines = ["# Per-tensor uint8 vs per-channel int8 (--quantize_int8)", "",
             f"{command} ({date}). Output error is TF.js ({', '.join(backends)}; {b} shown, the others agree to "
             "within float32 rounding, see the JSON) against the source framework (Keras / onnxruntime), "
             "over a random batch; bytes are all weight shards.", "",
             f"| model | scheme | weight bytes | worst weight rel err | {b} max abs err / max\\|ref\\| "
             f"| {b} mean abs err / mean\\|ref\\| |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['scheme']} | {r['bytes']} | {r['worst_weight_rel_err']:.2e} "
                     f"| {r[f'{b}_max_rel']:.2e} | {r[f'{b}_mean_rel']:.2e} |")
    (results / "quantization_int8.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
