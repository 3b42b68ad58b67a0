"""The README's main job, end to end: convert the bundled example, then verify it in real TF.js.

The example is a small CNN built with tfjsconv's IR (until a frontend's real model file takes its
place). Its reference outputs come from tfjsconv's numpy interpreter; `tfjsconv verify` then runs
the converted model in @tensorflow/tfjs under Node on the cpu and wasm backends and compares.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import tfjsconv
from tfjsconv.dtypes import DType
from tfjsconv.interpreter import run_graph
from tfjsconv.ir import Graph

HERE = Path(__file__).parent


def small_cnn(seed: int = 0) -> Graph:
    """Conv2D -> BiasAdd -> Relu -> MaxPool -> Conv2D -> Relu6 -> Reshape -> MatMul -> Softmax, NHWC."""
    rng = np.random.default_rng(seed)
    g = Graph("small_cnn")
    x = g.placeholder("image", DType.FLOAT32, (None, 16, 16, 3))

    def conv(inp, cin, cout, name):
        w = g.const((rng.standard_normal((3, 3, cin, cout)) / np.sqrt(9 * cin)).astype(np.float32), name=f"{name}/kernel")
        b = g.const(rng.standard_normal(cout).astype(np.float32) * 0.1, name=f"{name}/bias")
        y = g.add_op("Conv2D", [inp, w], {"T": DType.FLOAT32, "strides": [1, 1, 1, 1], "padding": "SAME",
                                          "data_format": "NHWC", "dilations": [1, 1, 1, 1]}, name=f"{name}/Conv2D")
        return g.add_op("BiasAdd", [y, b], {"T": DType.FLOAT32, "data_format": "NHWC"}, name=f"{name}/BiasAdd")

    h = g.add_op("Relu", [conv(x, 3, 8, "conv1")], name="conv1/Relu")
    h = g.add_op("MaxPool", [h], {"T": DType.FLOAT32, "ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                                  "padding": "VALID", "data_format": "NHWC"}, name="pool1")
    h = g.add_op("Relu6", [conv(h, 8, 16, "conv2")], name="conv2/Relu6")
    h = g.add_op("Reshape", [h, g.const(np.array([-1, 8 * 8 * 16], np.int32), name="flatten/shape")],
                 name="flatten")
    w = g.const((rng.standard_normal((8 * 8 * 16, 10)) * 0.02).astype(np.float32), name="logits/kernel")
    logits = g.add_op("MatMul", [h, w], {"T": DType.FLOAT32, "transpose_a": False, "transpose_b": False},
                      name="logits/MatMul")
    g.set_output("probabilities", g.add_op("Softmax", [logits], name="probabilities",
                                           dtype=DType.FLOAT32, shape=(None, 10)))
    return g


def main() -> int:
    out = HERE / "output" / "small_cnn_tfjs"
    work = Path(tempfile.mkdtemp(prefix="tfjsconv-demo-"))
    try:
        graph = small_cnn()
        inputs = {"image": np.random.default_rng(1).standard_normal((2, 16, 16, 3)).astype(np.float32)}
        np.savez(work / "inputs.npz", **inputs)
        np.savez(work / "expected.npz", **run_graph(graph, inputs))

        print(f"== convert: IR graph -> {out}")
        result = tfjsconv.convert(graph, out, overwrite=True)
        from tfjsconv.cli.report import format_conversion
        print(format_conversion(result))

        print("\n== verify: run it in @tensorflow/tfjs (Node) on cpu and wasm, compare with numpy")
        cmd = [sys.executable, "-m", "tfjsconv", "verify", str(out),
               "--inputs", str(work / "inputs.npz"), "--expected", str(work / "expected.npz")]
        return subprocess.run(cmd).returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
