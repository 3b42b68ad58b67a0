"""What the run-time-empty padding costs: non-constant nodes of two ONNX models with unknown sizes.

    python bench/conformance/empty_padding_cost.py [--check]

A squeeze-and-excitation block (a global average pool over unknown H, W) and a single-head attention (a
matmul over the unknown sequence length), exported by torch with dynamic axes, converted with the default
targets (cpu, wasm, webgl) and with ``--target_backends=cpu`` (where fewer paddings are needed). Prints the
count of model.json nodes that are not ``Const``/``Placeholder``. ``--check`` also runs each converted model
on cpu and wasm against onnxruntime with an empty and a full feed.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np


def _models():
    import torch

    class SqueezeExcite(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.down, self.up = torch.nn.Conv2d(8, 2, 1), torch.nn.Conv2d(2, 8, 1)

        def forward(self, x):
            s = torch.nn.functional.adaptive_avg_pool2d(x, 1)
            return x * torch.sigmoid(self.up(torch.relu(self.down(s))))

    class Attention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v = (torch.nn.Linear(16, 16) for _ in range(3))

        def forward(self, x):
            scores = self.q(x) @ self.k(x).transpose(1, 2) / 4.0
            return torch.softmax(scores, -1) @ self.v(x)

    torch.manual_seed(0)
    return {"squeeze_excite": (SqueezeExcite().eval(), torch.zeros(1, 8, 5, 5), {0: "n", 2: "h", 3: "w"},
                               [np.zeros((1, 8, 0, 5), np.float32), np.zeros((0, 8, 4, 5), np.float32), np.random.default_rng(0).standard_normal(
                                   (2, 8, 5, 3)).astype(np.float32)]),
            "attention": (Attention().eval(), torch.zeros(1, 6, 16), {0: "n", 1: "t"},
                          [np.zeros((2, 0, 16), np.float32), np.random.default_rng(1).standard_normal(
                              (2, 5, 16)).astype(np.float32)])}


def _onnx_bytes(module, example, axes) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.onnx.export(module, (example,), buffer, input_names=["x"], output_names=["y"], dynamic_axes={"x": axes},
                      opset_version=17, dynamo=False)
    return buffer.getvalue()


def count(model_dir: Path) -> int:
    nodes = json.loads((model_dir / "model.json").read_text())["modelTopology"]["node"]
    return sum(n["op"] not in ("Const", "Placeholder") for n in nodes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    import tfjsconv

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, (module, example, axes, feeds) in _models().items():
            path = Path(tmp) / f"{name}.onnx"
            path.write_bytes(_onnx_bytes(module, example, axes))
            counts = {}
            for label, targets in (("default", None), ("cpu", ["cpu"]), ("no_padding", "none")):
                out = Path(tmp) / f"{name}_{label}"
                if targets == "none":
                    from tfjsconv.passes import reduction_padding

                    saved = reduction_padding.WRONG_WHEN_EMPTY, reduction_padding.MATMUL_WRONG_WHEN_EMPTY
                    reduction_padding.WRONG_WHEN_EMPTY, reduction_padding.MATMUL_WRONG_WHEN_EMPTY = {}, frozenset()
                    try:
                        tfjsconv.convert(path, out, target_backends=["cpu"])
                    finally:
                        reduction_padding.WRONG_WHEN_EMPTY, reduction_padding.MATMUL_WRONG_WHEN_EMPTY = saved
                else:
                    tfjsconv.convert(path, out, **({"target_backends": targets} if targets else {}))
                counts[label] = count(out)
            print(f"{name}: non-constant nodes {counts}", flush=True)
            if args.check:
                import onnxruntime

                from tfjsconv.verify.compare import format_report, verify_model

                session = onnxruntime.InferenceSession(str(path))
                for feed in feeds:
                    try:
                        expected = {"y": session.run(None, {"x": feed})[0]}
                    except Exception as err:  # noqa: BLE001 - onnxruntime refuses this feed: no oracle
                        print(f"  feed {feed.shape}: onnxruntime refuses it ({str(err).splitlines()[-1][-60:]})")
                        continue
                    report = verify_model(Path(tmp) / f"{name}_default", {"x": feed}, expected,
                                          backends=("cpu", "wasm"), rtol=1e-5, atol=1e-6, quiet=True)
                    print(f"  feed {feed.shape}: {'PASS' if report.passed else 'FAIL'}")
                    if not report.passed:
                        ok = False
                        print(format_report(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
