"""Time the whole optimization pipeline on a ResNet-50-sized graph (target: <= 1 s).

    .venv/bin/python bench/passes_pipeline.py [--source ir|onnx] [--repeat 5] [--tfjs-runs 0]

``ir``   builds ResNet-50 (v1.5, 224x224) directly in the IR the way the SavedModel frontend emits
         it: Conv2D -> FusedBatchNormV3 (random statistics) -> Relu, Identity reads of every weight,
         residual AddV2, MaxPool, Mean, MatMul -> BiasAdd -> Softmax.
``onnx`` exports a torch ResNet-50-like module (random weights, nothing downloaded) to ONNX and
         loads it through tfjsconv.plugins.onnx (needs torch + onnx).

Each repeat optimizes a fresh copy; the median and the op counts before/after are printed and
written to bench/results/passes_pipeline_<source>.json. With ``--tfjs-runs N`` the model is also
converted at --optimization_level 0 and 2 and both run N times (after 2 warm-ups) on the TF.js
wasm backend, checked against each other, to show the optimized graph is not slower.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tfjsconv.dtypes import DType
from tfjsconv.ir import Graph, Value

HERE = Path(__file__).parent
F = DType.FLOAT32


class ResNetBuilder:
    """ResNet-50 in TF's own op vocabulary, with Identity reads of weights like a frozen SavedModel."""

    def __init__(self, seed: int = 0) -> None:
        self.g = Graph("resnet50")
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def weight(self, shape: tuple, name: str) -> Value:
        array = (self.rng.standard_normal(shape) * 0.05).astype(np.float32)
        const = self.g.const(array, name=f"{name}/value")
        return self.g.add_op("Identity", [const], {"T": F}, name=f"{name}/read", dtype=F, shape=shape)

    def conv_bn(self, x: Value, cin: int, cout: int, k: int, stride: int, relu: bool) -> Value:
        self.count += 1
        name = f"conv{self.count}"
        w = self.weight((k, k, cin, cout), f"{name}/kernel")
        y = self.g.add_op("Conv2D", [x, w], {"T": F, "strides": [1, stride, stride, 1], "padding": "SAME",
                                             "data_format": "NHWC", "dilations": [1, 1, 1, 1]}, name=name, dtype=F)
        stats = [self.g.const((self.rng.random(cout) + 0.5).astype(np.float32), name=f"{name}/bn/{s}")
                 for s in ("gamma", "beta", "mean", "var")]
        bn = self.g.add_node("FusedBatchNormV3", [y] + stats, {"T": F, "U": F, "epsilon": 1.001e-5,
                                                               "data_format": "NHWC", "is_training": False},
                             name=f"{name}/bn", num_outputs=6)
        out = bn.output(0)
        out.dtype = F
        if relu:
            out = self.g.add_op("Relu", [out], {"T": F}, name=f"{name}/relu", dtype=F)
        return out

    def bottleneck(self, x: Value, cin: int, width: int, stride: int) -> Value:
        cout = width * 4
        shortcut = self.conv_bn(x, cin, cout, 1, stride, relu=False) if stride != 1 or cin != cout else x
        y = self.conv_bn(x, cin, width, 1, 1, relu=True)
        y = self.conv_bn(y, width, width, 3, stride, relu=True)
        y = self.conv_bn(y, width, cout, 1, 1, relu=False)
        y = self.g.add_op("AddV2", [y, shortcut], {"T": F}, name=f"block{self.count}/add", dtype=F)
        return self.g.add_op("Relu", [y], {"T": F}, name=f"block{self.count}/relu", dtype=F)

    def build(self) -> Graph:
        g = self.g
        x = g.placeholder("input", F, (1, 224, 224, 3))
        y = self.conv_bn(x, 3, 64, 7, 2, relu=True)
        y = g.add_op("MaxPool", [y], {"T": F, "ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1], "padding": "SAME",
                                      "data_format": "NHWC"}, name="pool", dtype=F)
        cin = 64
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(blocks):
                y = self.bottleneck(y, cin, width, stride if i == 0 else 1)
                cin = width * 4
        axes = g.const(np.array([1, 2], np.int32), name="gap/axes")
        y = g.add_op("Mean", [y, axes], {"T": F, "keep_dims": False}, name="gap", dtype=F)
        w = self.weight((2048, 1000), "fc/kernel")
        b = self.weight((1000,), "fc/bias")
        y = g.add_op("MatMul", [y, w], {"T": F}, name="fc", dtype=F)
        y = g.add_op("BiasAdd", [y, b], {"T": F, "data_format": "NHWC"}, name="fc/bias_add", dtype=F)
        g.set_output("probs", g.add_op("Softmax", [y], {"T": F}, name="probs", dtype=F))
        return g


def onnx_resnet50() -> Graph:
    import torch

    from tfjsconv.options import ConvertOptions
    from tfjsconv.plugin_manager import get_plugin_manager

    torch.manual_seed(0)
    model = _torch_resnet50().eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet50.onnx"
        torch.onnx.export(model, torch.randn(1, 3, 224, 224), str(path), input_names=["input"],
                          output_names=["logits"], dynamo=False)
        registry = get_plugin_manager().registry
        options = ConvertOptions(registry=registry)
        graph = registry.frontends["onnx"].load(path, options)
    return graph


def _torch_resnet50():
    import torch.nn as nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            cout = width * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
            self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                          if stride != 1 or cin != cout else nn.Identity())
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.body(x) + self.short(x))

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    model = nn.Sequential(*layers)
    for m in model.modules():  # random BatchNorm statistics, so folding has something to do
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model


def wasm_speed(graph: Graph, runs: int) -> dict[int, float]:
    """Median wasm execution time at levels 0 and 2 (same inputs; outputs must agree)."""
    import tfjsconv
    from tfjsconv.verify.run import run_model

    feeds = {k: np.random.default_rng(1).standard_normal([d or 1 for d in v.shape]).astype(np.float32)
             for k, v in graph.inputs.items()}
    medians, outputs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for level in (0, 2):
            folder = Path(tmp) / f"level{level}"
            tfjsconv.convert(graph, folder, optimization_level=level)
            run = run_model(folder, feeds, backends=("wasm",), runs=runs, warmup=2, quiet=True)["wasm"]
            if not run.ok:
                raise SystemExit(f"level {level} failed on wasm: {run.error}")
            medians[level], outputs[level] = run.median_ms, run.outputs
    for key, want in outputs[0].items():
        got = outputs[2][key]
        assert np.max(np.abs(got - want)) <= 1e-4 * max(1.0, float(np.max(np.abs(want)))), key
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("ir", "onnx"), default="ir")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--tfjs-runs", type=int, default=0, help="also time level 0 vs 2 on TF.js wasm")
    args = parser.parse_args()

    from tfjsconv.passes import PassManager, select_passes
    from tfjsconv.plugin_manager import get_plugin_manager

    graph = ResNetBuilder().build() if args.source == "ir" else onnx_resnet50()
    passes = select_passes(get_plugin_manager().registry.passes, level=args.level)
    times, report = [], None
    for _ in range(args.repeat):
        work = graph.copy()
        start = time.perf_counter()
        report = PassManager(passes).run(work)
        times.append(time.perf_counter() - start)
    before, after = sum(report.ops_before.values()), sum(report.ops_after.values())
    result = {
        "source": args.source, "level": args.level, "repeat": args.repeat,
        "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
        "nodes_before": before, "nodes_after": after, "sweeps": report.sweeps,
        "ops_before": report.ops_before, "ops_after": report.ops_after,
        "per_pass_s": {s.name: round(s.seconds, 4) for s in report.stats},
        "per_pass_changes": {s.name: s.changes for s in report.stats},
    }
    print(f"ResNet-50 ({args.source}): {before} -> {after} nodes in {report.sweeps} sweeps; "
          f"pipeline median {result['median_s']:.3f} s (min {result['min_s']:.3f}, max {result['max_s']:.3f}, "
          f"{args.repeat} runs)")
    print("ops after:", ", ".join(f"{op} {n}" for op, n in report.ops_after.items()))
    print("slowest passes:", ", ".join(f"{k} {v:.3f}s" for k, v in
                                      sorted(result["per_pass_s"].items(), key=lambda kv: -kv[1])[:5]))
    if args.tfjs_runs:
        result["wasm_ms"] = wasm_speed(graph, args.tfjs_runs)
        print("TF.js wasm median ms:", ", ".join(f"level {k}: {v:.1f}" for k, v in result["wasm_ms"].items()))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"passes_pipeline_{args.source}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
